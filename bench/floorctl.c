// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Attach the pass-only floor programs (floor.bpf.c) to one interface, the
 * way tcpscope attaches its own, and hold them until SIGINT/SIGTERM:
 *
 *   floorctl IFACE xdp-native|xdp-generic|tc
 *
 * Ingress gets floor_xdp_pass (native or generic XDP) or floor_tc_pass
 * (tc ingress); egress always gets floor_tc_pass, as tcpscope always uses
 * tc egress. Prints "ready" once attached; on exit removes exactly what it
 * attached (and the clsact qdisc if it made it).
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

/* Where and how to attach, and what was made (to undo exactly that). */
struct floor {
	int ifindex;
	bool xdp, made_qdisc;
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
	int tc_fd = bpf_program__fd(fl->progs.floor_tc_pass), err;

	f->clsact->ifindex = f->ifindex;
	err = bpf_tc_hook_create(f->clsact);
	if (err && err != -EEXIST)
		return err;
	f->made_qdisc = !err;
	if (f->xdp)
		err = bpf_xdp_attach(f->ifindex, bpf_program__fd(fl->progs.floor_xdp_pass),
				     f->xdp_flags | XDP_FLAGS_UPDATE_IF_NOEXIST, NULL);
	else
		err = tc_attach(f->ifindex, tc_fd, BPF_TC_INGRESS);
	if (err)
		return err;
	return tc_attach(f->ifindex, tc_fd, BPF_TC_EGRESS);
}

static void detach(const struct floor *f)
{
	if (f->xdp)
		bpf_xdp_detach(f->ifindex, f->xdp_flags, NULL);
	if (f->made_qdisc)
		bpf_tc_hook_destroy(f->clsact);	/* takes our tc filters with it */
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
