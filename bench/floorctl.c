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
 * always uses tc egress. Prints "ready" once attached; on exit removes exactly what it
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

int main(int argc, char **argv)
{
	LIBBPF_OPTS(bpf_tc_hook, clsact, .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	struct floor_bpf *fl = NULL;
	__u32 xdp_flags = 0;
	bool xdp = false, made_qdisc = false;
	int ifindex, err, rc = 1;

	if (argc != 3) {
		fprintf(stderr, "usage: floorctl IFACE xdp-native|xdp-generic|tc\n");
		return 2;
	}
	ifindex = (int)if_nametoindex(argv[1]);
	if (!ifindex) {
		fprintf(stderr, "floorctl: %s: no such interface\n", argv[1]);
		return 1;
	}
	if (!strcmp(argv[2], "xdp-native"))
		xdp = true, xdp_flags = XDP_FLAGS_DRV_MODE;
	else if (!strcmp(argv[2], "xdp-generic"))
		xdp = true, xdp_flags = XDP_FLAGS_SKB_MODE;
	else if (strcmp(argv[2], "tc")) {
		fprintf(stderr, "floorctl: unknown mode %s\n", argv[2]);
		return 2;
	}
	signal(SIGINT, on_sig);
	signal(SIGTERM, on_sig);
	fl = floor_bpf__open_and_load();
	if (!fl) {
		fprintf(stderr, "floorctl: load: %s\n", strerror(errno));
		return 1;
	}
	clsact.ifindex = ifindex;
	err = bpf_tc_hook_create(&clsact);
	if (err && err != -EEXIST)
		goto fail;
	made_qdisc = !err;
	if (xdp) {
		err = bpf_xdp_attach(ifindex, bpf_program__fd(fl->progs.floor_xdp_pass),
				     xdp_flags | XDP_FLAGS_UPDATE_IF_NOEXIST, NULL);
		if (err)
			goto fail;
	} else {
		err = tc_attach(ifindex, bpf_program__fd(fl->progs.floor_tc_pass), BPF_TC_INGRESS);
		if (err)
			goto fail;
	}
	err = tc_attach(ifindex, bpf_program__fd(fl->progs.floor_tc_pass_egress), BPF_TC_EGRESS);
	if (err)
		goto fail;
	printf("ready\n");
	fflush(stdout);
	while (!stop)
		pause();
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "floorctl: attach to %s: %s\n", argv[1], strerror(-err));
out:
	if (xdp)
		bpf_xdp_detach(ifindex, xdp_flags, NULL);
	if (made_qdisc)
		bpf_tc_hook_destroy(&clsact);	/* takes our tc filters with it */
	floor_bpf__destroy(fl);
	return rc;
}
