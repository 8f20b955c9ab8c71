// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Fill a running tcpscope's pinned connection table directly, with
 * bpf_map_update_batch (much faster than a packet per entry; the entries
 * are what the data path would make of a handshake):
 *
 *   scale PIN_DIR FROM TO
 *
 * Inserts entries FROM..TO-1: ESTABLISHED on both sides, local
 * 198.18.0.1:80, remote 198.19.x.y:port, last seen now. Prints
 * {"inserted": n, "seconds": s}.
 *
 * The per-state gauges (tcpscope.h TCPS_GAUGE_BASE) then count the new
 * entries as the data path would have: ESTABLISHED and the connection
 * table, added to CPU 0's copy of the data path's group. Userspace can
 * only overwrite every CPU's copy, so this is exact only while no packet
 * moves the gauges meanwhile: the benchmark fills an idle table.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "tcpscope.h"

#define BATCH 8192

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Add n to gauge slot of the data path's group (see above). */
static int gauge_add(int fd, __u32 slot, __u64 n)
{
	int ncpu = libbpf_num_possible_cpus(), err = 0;
	__u32 key = TCPS_GAUGE_BASE + slot;
	__u64 *v;

	if (ncpu < 0)
		return ncpu;
	v = calloc((size_t)ncpu, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, &key, v) || (v[0] += n, bpf_map_update_elem(fd, &key, v, 0)))
		err = -errno;
	free(v);
	return err;
}

int main(int argc, char **argv)
{
	static struct tcps_key keys[BATCH];
	static struct tcps_conn vals[BATCH];
	char path[PATH_MAX];
	struct timespec mono;
	long from, to, i;
	double t0;
	int fd;

	if (argc != 4 || (from = atol(argv[2])) < 0 || (to = atol(argv[3])) < from ||
	    to > 16L << 20) {
		fprintf(stderr, "usage: scale PIN_DIR FROM TO\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/conns", argv[1]);
	fd = bpf_obj_get(path);
	if (fd < 0) {
		fprintf(stderr, "scale: %s: %s\n", path, strerror(errno));
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &mono);
	t0 = now_s();
	for (i = from; i < to;) {
		LIBBPF_OPTS(bpf_map_batch_opts, o);
		__u32 n = 0;

		for (; i < to && n < BATCH; i++, n++) {
			struct tcps_key *k = &keys[n];
			struct tcps_conn *v = &vals[n];
			__u32 idx = (__u32)i % 65536, port = 1024 + (__u32)i / 65536;
			int s;

			memset(k, 0, sizeof(*k));
			memset(v, 0, sizeof(*v));
			k->addr[0][0] = htonl(0xc6120001);	/* 198.18.0.1 */
			k->addr[1][0] = htonl(0xc6130000 | idx);	/* 198.19.x.y */
			k->port[0] = htons(80);
			k->port[1] = htons((__u16)port);
			k->family = TCPS_AF_INET;
			for (s = 0; s < 2; s++) {
				v->fsm.ep[s].state = TCPS_ESTABLISHED;
				v->fsm.ep[s].isn = s ? 1000 : 5000;
				v->fsm.ep[s].snd_nxt = v->fsm.ep[s].isn + 1;
				v->fsm.ep[s].ack_sent = v->fsm.ep[!s].isn + 1;
				v->fsm.ep[s].win = 65535;
				v->fsm.ep[s].flags = TCPS_EP_SENT | TCPS_EP_ACKED | TCPS_EP_ISN;
				v->pkts[s] = 2;
			}
			v->fsm.flags = TCPS_C_LOCAL0 | TCPS_C_SEEN0 | TCPS_C_SEEN1;
			v->first_seen = v->last_seen =
				(__u64)mono.tv_sec * 1000000000ULL + (__u64)mono.tv_nsec;
		}
		if (bpf_map_update_batch(fd, keys, vals, &n, &o)) {
			fprintf(stderr, "scale: update_batch at %ld: %s\n", i, strerror(errno));
			return 1;
		}
	}
	snprintf(path, sizeof(path), "%s/trans", argv[1]);
	fd = bpf_obj_get(path);
	if (fd < 0 || gauge_add(fd, TCPS_G_STATE + TCPS_ESTABLISHED, (__u64)(to - from)) ||
	    gauge_add(fd, TCPS_G_CONNS, (__u64)(to - from))) {
		fprintf(stderr, "scale: %s: cannot count the entries in the gauges: %s\n", path,
			strerror(errno));
		return 1;
	}
	printf("{\"inserted\": %ld, \"seconds\": %.3f}\n", to - from, now_s() - t0);
	return 0;
}
