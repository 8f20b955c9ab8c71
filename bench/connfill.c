// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Fill a running tcpscope's connection table through its own data path:
 * for each connection a handshake (remote SYN in, local SYN+ACK out,
 * remote ACK in) is run through the instance's pinned programs
 * (prog_xdp_ingress, prog_tc_egress) with BPF_PROG_TEST_RUN, so that the
 * entries, the half-open table, the per-state gauges and the events are
 * exactly what live packets would leave (a map update from user space
 * would bypass all but the first). As fast as it goes, no network.
 *
 *   connfill PIN_DIR FROM TO [4|6]
 *
 * Connections FROM..TO-1: local 198.18.0.1:80 (2001:db8::1), remote
 * 198.19.x.y (2001:db8:ff::x:y) port 1024 + n / 65536. Prints
 * {"connections": n, "failed": n, "seconds": s, "per_second": r}.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>

#include "tcpscope.h"
#include "pktbuild.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int prog(const char *dir, const char *name)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = bpf_obj_get(path);
	if (fd < 0)
		fprintf(stderr, "connfill: %s: %s%s\n", path, strerror(errno),
			errno == ENOENT ? " (run pins only the programs it loaded: on a veth, XDP only with --hook xdp)" : "");
	return fd;
}

static int run(int fd, const struct pkt_spec *s)
{
	__u8 buf[256];
	size_t n = pkt_build(s, buf, sizeof(buf));
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = buf, .data_size_in = (__u32)n, .repeat = 1);

	return n ? bpf_prog_test_run_opts(fd, &o) : -EINVAL;
}

/* One handshake: remote -> local SYN (ingress), SYN+ACK back (egress),
 * ACK (ingress). */
static int handshake(int in, int out, int family, __u32 n)
{
	const char *local = family == 6 ? "2001:db8::1" : "198.18.0.1";
	__u16 port = (__u16)(1024 + n / 65536);
	struct pkt_spec s;
	char remote[64];

	pkt_nth_addr(family, n, remote, sizeof(remote));
	s = family == 6 ? PKT_V6(remote, port, local, 80) : PKT_V4(remote, port, local, 80);
	s.flags = TCPS_SYN;
	s.seq = 1000;
	s.mss = 1460;
	s.wscale = 7;
	if (run(in, &s))
		return -1;
	s = family == 6 ? PKT_V6(local, 80, remote, port) : PKT_V4(local, 80, remote, port);
	s.flags = TCPS_SYN | TCPS_ACK;
	s.seq = 5000;
	s.ack = 1001;
	s.mss = 1460;
	s.wscale = 7;
	if (run(out, &s))
		return -1;
	s = family == 6 ? PKT_V6(remote, port, local, 80) : PKT_V4(remote, port, local, 80);
	s.flags = TCPS_ACK;
	s.seq = 1001;
	s.ack = 5001;
	return run(in, &s) ? -1 : 0;
}

int main(int argc, char **argv)
{
	long from, to, i, failed = 0;
	int family = 4, in, out;
	double t0, t;

	if (argc < 4 || argc > 5 || (from = atol(argv[2])) < 0 || (to = atol(argv[3])) < from ||
	    to > 16L << 20 || (argc == 5 && (family = atoi(argv[4])) != 4 && family != 6)) {
		fprintf(stderr, "usage: connfill PIN_DIR FROM TO [4|6]\n");
		return 2;
	}
	in = prog(argv[1], "prog_xdp_ingress");
	out = prog(argv[1], "prog_tc_egress");
	if (in < 0 || out < 0)
		return 1;
	t0 = now_s();
	for (i = from; i < to; i++)
		if (handshake(in, out, family, (__u32)i))
			failed++;
	t = now_s() - t0;
	printf("{\"connections\": %ld, \"failed\": %ld, \"seconds\": %.3f, \"per_second\": %.0f}\n",
	       to - from, failed, t, (double)(to - from) / t);
	return failed ? 1 : 0;
}
