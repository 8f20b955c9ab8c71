// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Attach the pass-only floor programs (floor.bpf.c) to one interface, the
 * way tcpscope attaches its own, and hold them until SIGINT/SIGTERM:
 *
 *   floorctl IFACE xdp-native|xdp-generic|tc
 *
 * Ingress gets floor_xdp_pass (native or generic XDP) or floor_tc_pass
 * (tc ingress); egress always gets floor_tc_pass_egress (the same code, a
 * program of its own so that its kernel stats read apart), as tcpscope
 * always uses tc egress. Prints "ready" once attached; on exit removes
 * exactly what it attached: its XDP program only if its own attach took
 * (never one that was there before), the clsact qdisc if it made it, else
 * its own two tc filters.
 */
#include <errno.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "floor.skel.h"

static volatile sig_atomic_t stop;

static void on_sig(int sig)
{
	(void)sig;
	stop = 1;
}

static int tc_attach(int ifindex, int fd, enum bpf_tc_attach_point point)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = 0xf1, .priority = 1, .prog_fd = fd);

	return bpf_tc_attach(&hook, &opts);
}

static void tc_detach(int ifindex, enum bpf_tc_attach_point point)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = 0xf1, .priority = 1);

	bpf_tc_detach(&hook, &opts);
}

/* Where and how to attach, and what was made (to undo exactly that). */
struct floor {
	int ifindex;
	bool xdp, made_qdisc;
	bool xdp_attached, tc_in, tc_out;	/* ours to remove */
	__u32 xdp_flags;
	struct bpf_tc_hook *clsact;
};

/* Returns 0, or the exit status after printing why. */
static int parse_args(int argc, char **argv, struct floor *f)
{
	if (argc != 3) {
		fprintf(stderr, "usage: floorctl IFACE xdp-native|xdp-generic|tc\n");
		return 2;
	}
	f->ifindex = (int)if_nametoindex(argv[1]);
	if (!f->ifindex) {
		fprintf(stderr, "floorctl: %s: no such interface\n", argv[1]);
		return 1;
	}
	if (!strcmp(argv[2], "xdp-native"))
		f->xdp = true, f->xdp_flags = XDP_FLAGS_DRV_MODE;
	else if (!strcmp(argv[2], "xdp-generic"))
		f->xdp = true, f->xdp_flags = XDP_FLAGS_SKB_MODE;
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
	err = bpf_tc_hook_create(f->clsact);
	if (err && err != -EEXIST)
		return err;
	f->made_qdisc = !err;
	if (f->xdp) {
		err = bpf_xdp_attach(f->ifindex, bpf_program__fd(fl->progs.floor_xdp_pass),
				     f->xdp_flags | XDP_FLAGS_UPDATE_IF_NOEXIST, NULL);
		f->xdp_attached = !err;	/* another program's is never ours to remove */
	} else {
		err = tc_attach(f->ifindex, bpf_program__fd(fl->progs.floor_tc_pass), BPF_TC_INGRESS);
		f->tc_in = !err;
	}
	if (err)
		return err;
	/* A program of its own, so that the kernel's stats tell the two
	 * directions apart (bench/run.sh, where the time goes). */
	err = tc_attach(f->ifindex, bpf_program__fd(fl->progs.floor_tc_pass_egress), BPF_TC_EGRESS);
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
		tc_detach(f->ifindex, BPF_TC_INGRESS);
	if (f->tc_out)
		tc_detach(f->ifindex, BPF_TC_EGRESS);
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
		fprintf(stderr, "floorctl: attach to %s: %s\n", argv[1], strerror(-err));
		rc = 1;
	} else {
		printf("ready\n");
		fflush(stdout);
		while (!stop)
			pause();
	}
	detach(&f);
	floor_bpf__destroy(fl);
	return rc;
}
