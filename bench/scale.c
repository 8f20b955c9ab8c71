// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Fill a running tcpscope's pinned connection table directly, with
 * bpf_map_update_batch (much faster than a packet per entry; the entries
 * are what the data path would make of a handshake). The table is the
 * slot array (include/tcps_slots.h): the whole array is read, each entry
 * placed as an insert would (the first free slot from its home, seeded by
 * the info pin's slots_seed) and the slots written back, without the
 * tags' atomics, so an insert by the data path meanwhile may be lost: for
 * an idle table, as the gauges below:
 *
 *   scale PIN_DIR FROM TO [STATE [AGE_S]]
 *
 * Inserts entries FROM..TO-1: ESTABLISHED on both sides (or the local side
 * in STATE, a netstat name, and the remote side in what its peer would be:
 * CLOSE for TIME_WAIT, FIN_WAIT2 for CLOSE_WAIT), local 198.18.0.1:80,
 * remote 198.19.x.y:port, last seen AGE_S (default 0) seconds ago, event
 * sequence at 5. Prints {"inserted": n, "seconds": s}. The expiry test
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
#include <stdbool.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "tcps_slots.h"

#define BATCH 8192

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

/* The pinned slot array, copied: its slots (value_size bytes each), its
 * seed, the slots changed. */
struct table {
	int fd;
	__u32 nslots, value_size, seed;
	__u8 *slots;
	__u32 *dirty, ndirty;
};

static int open_map(const char *pin_dir, const char *name)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", pin_dir, name);
	fd = bpf_obj_get(path);
	if (fd < 0)
		fprintf(stderr, "scale: %s: %s\n", path, strerror(errno));
	return fd;
}

/* The table's shape and seed; -1 after printing why. */
static int open_conns(const char *pin_dir, struct table *t)
{
	struct bpf_map_info info;
	struct tcps_info meta;
	__u32 ilen = sizeof(info), zero = 0;
	int ifd = open_map(pin_dir, "info");

	t->fd = open_map(pin_dir, "conns");
	if (t->fd < 0 || ifd < 0)
		return -1;
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(t->fd, &info, &ilen) || info.type != BPF_MAP_TYPE_ARRAY ||
	    (info.value_size != TCPS_SLOT_SIZE_FULL && info.value_size != TCPS_SLOT_SIZE_SLIM) ||
	    bpf_map_lookup_elem(ifd, &zero, &meta)) {
		fprintf(stderr, "scale: %s: not a tcpscope connection table\n", pin_dir);
		return -1;
	}
	t->nslots = info.max_entries;
	t->value_size = info.value_size;
	t->seed = meta.slots_seed;
	return 0;
}

/* Slots [first, first + *n) of the array into idx/buf, or written from
 * them; 0 or -errno. */
static int slots_batch(const struct table *t, __u32 first, __u32 *idx, __u8 *buf, __u32 *n,
		       bool write)
{
	LIBBPF_OPTS(bpf_map_batch_opts, o);
	__u32 prev = first - 1, out, i;

	if (write)
		return bpf_map_update_batch(t->fd, idx, buf, n, &o) ? -errno : 0;
	for (i = 0; i < *n; i++)
		idx[i] = first + i;
	if (bpf_map_lookup_batch(t->fd, first ? &prev : NULL, &out, idx, buf, n, &o) &&
	    errno != ENOENT)
		return -errno;
	return 0;
}

/* The whole array into t->slots; -1 after printing why. */
static int load_slots(struct table *t)
{
	static __u32 idx[BATCH];
	__u32 first, n;

	t->slots = malloc((size_t)t->nslots * t->value_size);
	t->dirty = malloc((size_t)t->nslots * sizeof(*t->dirty));
	if (!t->slots || !t->dirty)
		return -1;
	for (first = 0; first < t->nslots; first += n) {
		n = t->nslots - first < BATCH ? t->nslots - first : BATCH;
		if (slots_batch(t, first, idx, t->slots + (size_t)first * t->value_size, &n, false) ||
		    !n) {
			fprintf(stderr, "scale: reading the table: %s\n", strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* k with value v in the first free slot from its home, as an insert;
 * -1 if no slot within TCPS_SLOTS_PROBE_MAX is free. */
static int place(struct table *t, const struct tcps_key *k, const struct tcps_conn *v)
{
	__u32 h = tcps_slots_hash(k, t->seed), i = tcps_slots_home(h, t->nslots), walked;
	struct tcps_slot *s;

	for (walked = 0; walked < TCPS_SLOTS_PROBE_MAX; walked++, i = i + 1 < t->nslots ? i + 1 : 0) {
		s = (struct tcps_slot *)(t->slots + (size_t)i * t->value_size);
		if ((s->h.tag & TCPS_SLOT_STATE) == TCPS_SLOT_FULL)
			continue;
		s->h.tag = tcps_slots_want(h, k->family);
		memcpy(s->h.addr, k->addr, sizeof(s->h.addr));
		memcpy(&s->h.ports, k->port, sizeof(s->h.ports));
		memcpy(&s->c, v, t->value_size - sizeof(s->h));
		t->dirty[t->ndirty++] = i;
		return 0;
	}
	return -1;
}

/* The placed slots back into the array; -1 after printing why. */
static int store_slots(struct table *t)
{
	static __u32 idx[BATCH];
	static __u8 buf[BATCH * sizeof(struct tcps_slot)];
	__u32 d, n, j;

	for (d = 0; d < t->ndirty; d += n) {
		n = t->ndirty - d < BATCH ? t->ndirty - d : BATCH;
		for (j = 0; j < n; j++) {
			idx[j] = t->dirty[d + j];
			memcpy(buf + (size_t)j * t->value_size,
			       t->slots + (size_t)idx[j] * t->value_size, t->value_size);
		}
		if (slots_batch(t, 0, idx, buf, &n, true)) {
			fprintf(stderr, "scale: writing the table: %s\n", strerror(errno));
			return -1;
		}
	}
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
		v->fsm.ep[s].win = 65535;
		v->fsm.ep[s].flags = TCPS_EP_SENT | TCPS_EP_ACKED | TCPS_EP_ISN;
		v->pkts[s] = 2;
	}
	v->fsm.flags = TCPS_C_LOCAL0 | TCPS_C_SEEN0 | TCPS_C_SEEN1;
	v->fsm.evseq = 5;
	v->first_seen = v->last_seen = last;
}

/* Entries from..to-1 placed in the copy, then written; -1 after printing why. */
static int insert(struct table *t, const struct fill *f, __u64 last)
{
	struct tcps_conn v;
	struct tcps_key k;
	long i;

	if (load_slots(t))
		return -1;
	for (i = f->from; i < f->to; i++) {
		make_entry(i, f->state, last, &k, &v);
		if (place(t, &k, &v)) {
			fprintf(stderr, "scale: no free slot for entry %ld\n", i);
			return -1;
		}
	}
	return store_slots(t);
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
	struct timespec mono;
	struct table t = { 0 };
	struct fill f;
	__u64 last;
	double t0;
	int err;

	if (parse_args(argc, argv, &f))
		return 2;
	if (open_conns(f.pin_dir, &t))
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &mono);
	last = (__u64)mono.tv_sec * 1000000000ULL + (__u64)mono.tv_nsec;
	if ((__u64)f.age * 1000000000ULL >= last) {
		fprintf(stderr, "scale: AGE_S %ld is before boot\n", f.age);
		return 2;
	}
	last -= (__u64)f.age * 1000000000ULL;
	t0 = now_s();
	err = insert(&t, &f, last) || count_in_gauges(&f);
	free(t.slots);
	free(t.dirty);
	if (err)
		return 1;
	printf("{\"inserted\": %ld, \"seconds\": %.3f}\n", f.to - f.from, now_s() - t0);
	return 0;
}
