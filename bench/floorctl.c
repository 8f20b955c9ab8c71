// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Attach the pass-only floor programs (floor.bpf.c) to one interface, the
 * way tcpscope attaches its own, and hold them until SIGINT/SIGTERM:
 *
 *   floorctl IFACE xdp-native|xdp-generic|tc
 *   floorctl IFACE gate
 *
 * Ingress gets floor_xdp_pass (native or generic XDP) or floor_tc_pass
 * (tc ingress); egress always gets floor_tc_pass_egress (the same code, a
 * program of its own so that its kernel stats read apart), as tcpscope
 * always uses tc egress. Prints "ready" once attached; on exit removes
 * exactly what it attached: its XDP program only if its own attach took
 * (never one that was there before), the clsact qdisc if it made it, else
 * its own two tc filters.
 *
 * gate: floor_tc_gate (tc ingress and egress) in front of tcpscope's tc
 * filters, already on IFACE, in tcpscope mode at first; then commands on
 * stdin, a line each, an answer line each: "floor" (the floor alone from
 * now), "tcpscope" (tcpscope's filters behind it again): "ok"; "read":
 * {"ns": CLOCK_MONOTONIC, "tcpscope": {"in_packets", "in_bytes",
 * "out_packets", "out_bytes"}, "floor": {...}}, the packets and bytes each
 * mode decided since the start. EOF detaches and exits. Switching is a
 * store, so bench/run.sh can alternate the two within seconds, under the
 * same machine load, instead of two processes started apart.
 */
#include <errno.h>
#include <linux/if_link.h>
#include <stdlib.h>
#include <time.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "floor.skel.h"
#include "../user/detach.h"	/* TCPS_TC_PRIO: tcpscope's filters' priority */

static volatile sig_atomic_t stop;

static void on_sig(int sig)
{
	(void)sig;
	stop = 1;
}

/* Same priority as tcpscope's filters (TCPS_TC_PRIO); a handle of its
 * own. cls_bpf runs the filters of one priority newest first, so the
 * gate, attached after tcpscope, runs before it (bench/run.sh checks). */
#define FLOOR_HANDLE 0xf1
#define GATE_HANDLE 0xf2

static int tc_attach(int ifindex, int fd, enum bpf_tc_attach_point point, __u32 handle)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = handle, .priority = TCPS_TC_PRIO,
		    .prog_fd = fd);

	return bpf_tc_attach(&hook, &opts);
}

static void tc_detach(int ifindex, enum bpf_tc_attach_point point, __u32 handle)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = handle, .priority = TCPS_TC_PRIO);

	bpf_tc_detach(&hook, &opts);
}

/* Where and how to attach, and what was made (to undo exactly that). */
struct floor {
	int ifindex;
	bool xdp, gate, made_qdisc;
	__u32 handle;
	bool xdp_attached, tc_in, tc_out;	/* ours to remove */
	__u32 xdp_flags;
	struct bpf_tc_hook *clsact;
};

/* Returns 0, or the exit status after printing why. */
static int parse_args(int argc, char **argv, struct floor *f)
{
	if (argc != 3) {
		fprintf(stderr, "usage: floorctl IFACE xdp-native|xdp-generic|tc|gate\n");
		return 2;
	}
	f->handle = FLOOR_HANDLE;
	f->ifindex = (int)if_nametoindex(argv[1]);
	if (!f->ifindex) {
		fprintf(stderr, "floorctl: %s: no such interface\n", argv[1]);
		return 1;
	}
	if (!strcmp(argv[2], "xdp-native"))
		f->xdp = true, f->xdp_flags = XDP_FLAGS_DRV_MODE;
	else if (!strcmp(argv[2], "xdp-generic"))
		f->xdp = true, f->xdp_flags = XDP_FLAGS_SKB_MODE;
	else if (!strcmp(argv[2], "gate"))
		f->gate = true, f->handle = GATE_HANDLE;
	else if (strcmp(argv[2], "tc")) {
		fprintf(stderr, "floorctl: unknown mode %s\n", argv[2]);
		return 2;
	}
	return 0;
}

/* Ingress (XDP or tc) and tc egress, as tcpscope does; a negative errno on
 * failure, with what was made recorded in f for detach(). */
static int attach(struct floor_bpf *fl, struct floor *f)
{
	int err;

	f->clsact->ifindex = f->ifindex;
	/* The gate goes on the qdisc of tcpscope's filters (and without them
	 * has nothing to be in front of). */
	if (!f->gate) {
		err = bpf_tc_hook_create(f->clsact);
		if (err && err != -EEXIST)
			return err;
		f->made_qdisc = !err;
	}
	if (f->xdp) {
		err = bpf_xdp_attach(f->ifindex, bpf_program__fd(fl->progs.floor_xdp_pass),
				     f->xdp_flags | XDP_FLAGS_UPDATE_IF_NOEXIST, NULL);
		f->xdp_attached = !err;	/* another program's is never ours to remove */
	} else {
		err = tc_attach(f->ifindex, bpf_program__fd(f->gate ? fl->progs.floor_tc_gate :
							    fl->progs.floor_tc_pass),
				BPF_TC_INGRESS, f->handle);
		f->tc_in = !err;
	}
	if (err)
		return err;
	/* A program of its own, so that the kernel's stats tell the two
	 * directions apart (bench/run.sh, where the time goes). */
	err = tc_attach(f->ifindex, bpf_program__fd(f->gate ? fl->progs.floor_tc_gate_egress :
						    fl->progs.floor_tc_pass_egress),
			BPF_TC_EGRESS, f->handle);
	f->tc_out = !err;
	return err;
}

static void detach(const struct floor *f)
{
	if (f->xdp_attached)
		bpf_xdp_detach(f->ifindex, f->xdp_flags, NULL);
	if (f->made_qdisc) {
		bpf_tc_hook_destroy(f->clsact);	/* takes our tc filters with it */
		return;
	}
	if (f->tc_in)
		tc_detach(f->ifindex, BPF_TC_INGRESS, f->handle);
	if (f->tc_out)
		tc_detach(f->ifindex, BPF_TC_EGRESS, f->handle);
}

/* ---- gate ---- */

struct gate_count {	/* floor.bpf.c's */
	__u64 packets, bytes;
};

/* The gate's counters, summed over CPUs: [mode * 2 + direction]. */
static int gate_read(const struct floor_bpf *fl, struct gate_count sum[4])
{
	int ncpu = libbpf_num_possible_cpus(), fd = bpf_map__fd(fl->maps.gate_counts);
	struct gate_count *v;
	__u32 i;
	int c;

	if (ncpu <= 0)
		return -1;
	v = calloc((size_t)ncpu, sizeof(*v));
	if (!v)
		return -1;
	for (i = 0; i < 4; i++) {
		sum[i].packets = sum[i].bytes = 0;
		if (bpf_map_lookup_elem(fd, &i, v)) {
			free(v);
			return -1;
		}
		for (c = 0; c < ncpu; c++) {
			sum[i].packets += v[c].packets;
			sum[i].bytes += v[c].bytes;
		}
	}
	free(v);
	return 0;
}

static __u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
}

/* The gate's counters as one JSON line: cumulative, per mode. */
static int gate_print(const struct floor_bpf *fl)
{
	struct gate_count s[4];

	if (gate_read(fl, s))
		return -1;
	printf("{\"ns\": %llu, \"tcpscope\": {\"in_packets\": %llu, \"in_bytes\": %llu, \"out_packets\": %llu, \"out_bytes\": %llu}, \"floor\": {\"in_packets\": %llu, \"in_bytes\": %llu, \"out_packets\": %llu, \"out_bytes\": %llu}}\n",
	       (unsigned long long)mono_ns(),
	       (unsigned long long)s[0].packets, (unsigned long long)s[0].bytes,
	       (unsigned long long)s[1].packets, (unsigned long long)s[1].bytes,
	       (unsigned long long)s[2].packets, (unsigned long long)s[2].bytes,
	       (unsigned long long)s[3].packets, (unsigned long long)s[3].bytes);
	return 0;
}

/* Commands on stdin, a line each, until EOF (or a signal). */
static int gate_serve(struct floor_bpf *fl)
{
	char line[64];
	int err = 0;

	while (!err && !stop && fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\n")] = 0;
		if (!strcmp(line, "floor") || !strcmp(line, "tcpscope")) {
			fl->bss->gate_floor = line[0] == 'f';
			printf("ok\n");
		} else if (!strcmp(line, "read")) {
			err = gate_print(fl);
		} else {
			printf("error: unknown command '%s' (floor, tcpscope, read)\n", line);
		}
		fflush(stdout);
	}
	return err;
}

int main(int argc, char **argv)
{
	LIBBPF_OPTS(bpf_tc_hook, clsact, .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	struct floor f = { .clsact = &clsact };
	struct floor_bpf *fl;
	int err, rc;

	rc = parse_args(argc, argv, &f);
	if (rc)
		return rc;
	signal(SIGINT, on_sig);
	signal(SIGTERM, on_sig);
	fl = floor_bpf__open_and_load();
	if (!fl) {
		fprintf(stderr, "floorctl: load: %s\n", strerror(errno));
		return 1;
	}
	err = attach(fl, &f);
	if (err) {
		fprintf(stderr, "floorctl: attach to %s: %s%s\n", argv[1], strerror(-err),
			f.gate ? " (the gate goes in front of tcpscope's tc filters: start 'tcpscope run --hook tc' on it first)" : "");
		rc = 1;
	} else {
		printf("ready\n");
		fflush(stdout);
		if (f.gate) {
			if (gate_serve(fl)) {
				fprintf(stderr, "floorctl: gate: cannot read its counters: %s\n",
					strerror(errno));
				rc = 1;
			}
		} else {
			while (!stop)
				pause();
		}
	}
	detach(&f);
	floor_bpf__destroy(fl);
	return rc;
}
