// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Fill a running tcpscope's pinned connection table directly, an insert
 * per entry through user/ctable.c and the data path's tcps_sys (much
 * faster than a packet per entry; the entries are what the data path
 * would make of a handshake):
 *
 *   scale PIN_DIR FROM TO [STATE [AGE_S]]
 *
 * Inserts entries FROM..TO-1: ESTABLISHED on both sides (or the local side
 * in STATE, a netstat name, and the remote side in what its peer would be:
 * CLOSE for TIME_WAIT, FIN_WAIT2 for CLOSE_WAIT), local 198.18.0.1:80,
 * remote 198.19.x.y:port, last seen AGE_S (default 0) seconds ago, event
 * sequence at 5. An entry already there is an error (its gauges would be
 * counted twice). Prints {"inserted": n, "seconds": s}. The expiry test
 * (tests/daemon/test_expire.sh) makes large tables with a few idle entries
 * this way.
 *
 * The per-state gauges (tcpscope.h TCPS_GAUGE_BASE) then count the new
 * entries as the data path would have: the local side's state and the
 * connection table, added to CPU 0's copy of the data path's group.
 * Userspace can only overwrite every CPU's copy, so this is exact only
 * while no packet moves the gauges meanwhile: the benchmark fills an idle
 * table.
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
#include "ctable.h"
#include "slotcfg.h"
#include "tcpscope.skel.h"

static const char *const state_names[TCPS_STATE_MAX] = {
	[TCPS_ESTABLISHED] = "ESTABLISHED", [TCPS_SYN_SENT] = "SYN_SENT",
	[TCPS_SYN_RECV] = "SYN_RECV", [TCPS_FIN_WAIT1] = "FIN_WAIT1",
	[TCPS_FIN_WAIT2] = "FIN_WAIT2", [TCPS_TIME_WAIT] = "TIME_WAIT",
	[TCPS_CLOSE] = "CLOSE", [TCPS_CLOSE_WAIT] = "CLOSE_WAIT",
	[TCPS_LAST_ACK] = "LAST_ACK", [TCPS_LISTEN] = "LISTEN", [TCPS_CLOSING] = "CLOSING",
};

static int state_parse(const char *name)
{
	int i;

	for (i = 1; i < TCPS_STATE_MAX; i++)
		if (!strcmp(name, state_names[i]))
			return i;
	return -1;
}

/* What the peer of a local endpoint in st would be in. */
static int peer_state(int st)
{
	if (st == TCPS_TIME_WAIT)
		return TCPS_CLOSE;
	if (st == TCPS_CLOSE_WAIT)
		return TCPS_FIN_WAIT2;
	return st;
}

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

struct fill {
	const char *pin_dir;
	long from, to, age;
	int state;
};

/* Returns 0, or 2 after printing the usage. */
static int parse_args(int argc, char **argv, struct fill *f)
{
	f->pin_dir = argv[1];
	f->age = 0;
	f->state = TCPS_ESTABLISHED;
	if (argc < 4 || argc > 6 || (f->from = atol(argv[2])) < 0 || (f->to = atol(argv[3])) < f->from ||
	    f->to > 16L << 20 || (argc > 4 && (f->state = state_parse(argv[4])) < 0) ||
	    (argc > 5 && (f->age = atol(argv[5])) < 0)) {
		fprintf(stderr, "usage: scale PIN_DIR FROM TO [STATE [AGE_S]]\n");
		return 2;
	}
	return 0;
}

static int open_pin(const char *pin_dir, const char *name)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", pin_dir, name);
	fd = bpf_obj_get(path);
	if (fd < 0)
		fprintf(stderr, "scale: %s: %s\n", path, strerror(errno));
	return fd;
}

/*
 * The pinned connection table into *t (the one place that makes a struct
 * tcps_ctable), writable: the slot array's inserts run the data path's
 * syscall program tcps_sys (the tags' atomics), so the object is loaded
 * here with that program alone over the pinned table and info (its seed,
 * the collector's epoch). -1 after printing why.
 */
static int open_conns(const char *pin_dir, struct tcps_ctable *t, struct tcpscope_bpf **skel)
{
	struct bpf_map_info info;
	struct tcps_info meta;
	struct bpf_program *p;
	__u32 ilen = sizeof(info), zero = 0;
	int fd = open_pin(pin_dir, "conns"), ifd = open_pin(pin_dir, "info"), err;

	memset(&info, 0, sizeof(info));
	if (fd < 0 || ifd < 0 || bpf_obj_get_info_by_fd(fd, &info, &ilen) ||
	    info.type != BPF_MAP_TYPE_ARRAY ||
	    (info.value_size != TCPS_SLOT_SIZE_FULL && info.value_size != TCPS_SLOT_SIZE_SLIM) ||
	    bpf_map_lookup_elem(ifd, &zero, &meta)) {
		fprintf(stderr, "scale: %s: not a tcpscope connection table\n", pin_dir);
		return -1;
	}
	*skel = tcpscope_bpf__open();
	if (!*skel)
		return -1;
	bpf_object__for_each_program(p, (*skel)->obj)
		bpf_program__set_autoload(p, !strcmp(bpf_program__name(p), "tcps_sys"));
	(*skel)->rodata->tcps_health = info.value_size == TCPS_SLOT_SIZE_FULL;
	err = tcps_slots_rodata((*skel)->obj, meta.slots_seed, info.max_entries) ?:
	      bpf_map__reuse_fd((*skel)->maps.tcps_conns, fd) ?:
	      bpf_map__reuse_fd((*skel)->maps.tcps_info, ifd) ?: tcpscope_bpf__load(*skel);
	if (err) {
		fprintf(stderr, "scale: cannot load tcps_sys over %s: %s\n", pin_dir, strerror(-err));
		return -1;
	}
	*t = tcps_ctable_slots(fd, info.value_size - (__u32)sizeof(struct tcps_slot_hdr),
			       meta.slots_seed, info.max_entries,
			       bpf_program__fd((*skel)->progs.tcps_sys), -1);
	return 0;
}

/* Entry i: 198.18.0.1:80 with 198.19.x.y:port, handshake done, the local side
 * in state and the remote in its peer state, last seen at last. */
static void make_entry(long i, int state, __u64 last, struct tcps_key *k, struct tcps_conn *v)
{
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
		v->fsm.ep[s].state = (__u8)(s ? peer_state(state) : state);
		v->fsm.ep[s].isn = s ? 1000 : 5000;
		v->fsm.ep[s].snd_nxt = v->fsm.ep[s].isn + 1;
		v->fsm.ep[s].ack_sent = v->fsm.ep[!s].isn + 1;
		v->fsm.win[s] = 65535;
		v->fsm.ep[s].flags = TCPS_EP_SENT | TCPS_EP_ACKED | TCPS_EP_ISN;
		v->pkts[s] = 2;
	}
	v->fsm.flags = TCPS_C_LOCAL0 | TCPS_C_SEEN0 | TCPS_C_SEEN1;
	v->fsm.evseq = 5;
	v->first_seen = v->last_seen = last;
	v->last_tick = tcps_tick(last);
}

/* Entries from..to-1; -1 after printing why. */
static int insert(const struct tcps_ctable *t, const struct fill *f, __u64 last)
{
	struct tcps_key k;
	struct tcps_conn v;
	long i;
	int err;

	for (i = f->from; i < f->to; i++) {
		make_entry(i, f->state, last, &k, &v);
		err = tcps_ctable_insert_new(t, &k, &v);
		if (err) {
			fprintf(stderr, "scale: insert of entry %ld: %s\n", i, strerror(-err));
			return -1;
		}
	}
	return 0;
}

/* The gauges count the new entries (see the top of this file). */
static int count_in_gauges(const struct fill *f)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/trans", f->pin_dir);
	fd = bpf_obj_get(path);
	if (fd < 0 || gauge_add(fd, TCPS_G_STATE + (__u32)f->state, (__u64)(f->to - f->from)) ||
	    gauge_add(fd, TCPS_G_CONNS, (__u64)(f->to - f->from))) {
		fprintf(stderr, "scale: %s: cannot count the entries in the gauges: %s\n", path,
			strerror(errno));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct tcpscope_bpf *skel = NULL;
	struct tcps_ctable t;
	struct timespec mono;
	struct fill f;
	__u64 last;
	double t0;
	int err;

	if (parse_args(argc, argv, &f))
		return 2;
	if (open_conns(f.pin_dir, &t, &skel)) {
		tcpscope_bpf__destroy(skel);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &mono);
	last = (__u64)mono.tv_sec * 1000000000ULL + (__u64)mono.tv_nsec;
	if ((__u64)f.age * 1000000000ULL >= last) {
		fprintf(stderr, "scale: AGE_S %ld is before boot\n", f.age);
		tcpscope_bpf__destroy(skel);
		return 2;
	}
	last -= (__u64)f.age * 1000000000ULL;
	t0 = now_s();
	err = insert(&t, &f, last) || count_in_gauges(&f);
	tcpscope_bpf__destroy(skel);
	if (err)
		return 1;
	printf("{\"inserted\": %ld, \"seconds\": %.3f}\n", f.to - f.from, now_s() - t0);
	return 0;
}
