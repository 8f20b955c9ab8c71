// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "ctable.h"
#include "tcps_expire.h"

/* With health off the table keeps an entry's last packet as a tick only
 * (tcpscope.h last_tick): last_seen, which every view reads, is rebuilt
 * from it on the daemon's clock as of now, to a tick (16.8 ms). */
static void ctable_fill_time(const struct tcps_ctable *t, struct tcps_conn *c, __u64 now)
{
	if (t->vsize < TCPS_CONN_SIZE_FULL)
		c->last_seen = tcps_tick_last_ns(c->last_tick, now ? now : tcps_mono_now());
}

struct tcps_ctable tcps_ctable_hash(int fd, __u32 vsize, bool halfopen)
{
	return (struct tcps_ctable){ .fd = fd, .vsize = vsize, .halfopen = halfopen,
				     .kind = TCPS_CTABLE_HASH, .sys_fd = -1, .gauge_fd = -1 };
}

struct tcps_ctable tcps_ctable_slots(int fd, __u32 vsize, __u32 seed, __u32 nslots, int sys_fd,
				     int gauge_fd)
{
	return (struct tcps_ctable){ .fd = fd, .vsize = vsize, .kind = TCPS_CTABLE_SLOTS,
				     .seed = seed, .nslots = nslots, .sys_fd = sys_fd,
				     .gauge_fd = gauge_fd };
}

/* ---- a slot array: lookups probe here, writes run tcps_sys ---- */

/* Slots a probe reads at once: the home slot alone, then batches. A hit
 * at load 7/8 walks 4.5 on average, a miss 33 (bench/NOTES.md); a read
 * costs a syscall and the copy of its slots (256 bytes each), a slot cold
 * in cache ~0.6 µs: at 1M slots a hit costs ~1.9 µs, a miss ~3 (measured
 * with 875k entries, both slot counts tried: within 5 %). */
#define SLOTS_FIRST 1
#define SLOTS_CHUNK 16

static __u32 slots_stride(const struct tcps_ctable *t)
{
	return tcps_ctable_slot_size(t->vsize);
}

/* Slots [first, first + *n) (not past the end) into idx/buf, by one
 * batch lookup of the array, each under its lock if locked; *n: how many
 * came. */
static int slots_read(const struct tcps_ctable *t, __u32 first, __u32 *idx, __u8 *buf, __u32 *n,
		      bool locked)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = locked ? BPF_F_LOCK : 0);
	__u32 prev = first - 1, out;	/* an array's batch starts after in_batch */

	if (*n > t->nslots - first)
		*n = t->nslots - first;
	if (*n == 1) {	/* one slot: the plain lookup costs half a batch of one */
		idx[0] = first;
		return bpf_map_lookup_elem_flags(t->fd, &first, buf, opts.elem_flags) ? -errno : 0;
	}
	if (bpf_map_lookup_batch(t->fd, first ? &prev : NULL, &out, idx, buf, n, &opts) &&
	    errno != ENOENT)	/* ENOENT: the array's end, *n is what came */
		return -errno;
	return 0;
}

/* A slot copy holds k: FULL with k's fingerprint, k's tuple. */
static bool slot_holds(const struct tcps_slot_hdr *s, __u32 want, const struct tcps_key *k)
{
	struct tcps_key sk;

	if ((s->tag & ~TCPS_SLOT_ILOCK) != want)
		return false;
	tcps_slot_key(s, s->tag, &sk);
	return !memcmp(sk.addr, k->addr, sizeof(sk.addr)) && sk.port[0] == k->port[0] &&
	       sk.port[1] == k->port[1] && sk.family == k->family;
}

/* The entry part of slot copy s into c (zeroed past the table's size). */
static void slot_val(const struct tcps_ctable *t, const void *s, struct tcps_conn *c)
{
	memset(c, 0, sizeof(*c));
	memcpy(c, (const __u8 *)s + sizeof(struct tcps_slot_hdr), t->vsize);
	ctable_fill_time(t, c, 0);
}

/*
 * k's entry into c: the probe walk from its home to the first EMPTY slot
 * (or TCPS_SLOTS_PROBE_MAX), in batch reads. Locked, each slot is copied
 * under its lock, so the tag, tuple and value of the match are of one
 * moment (a delete turns FULL to TOMB under the lock). A tuple that the
 * collector moves back over a tombstone the walk has passed is missed
 * (today's collector moves nothing: sys_collect's reclaim only).
 */
static int slots_lookup(const struct tcps_ctable *t, const struct tcps_key *k,
			struct tcps_conn *c, bool locked)
{
	__u32 h = tcps_slots_hash(k, t->seed), pos = tcps_slots_home(h, t->nslots);
	__u32 want = tcps_slots_want(h, k->family), idx[SLOTS_CHUNK], walked = 0, n, i;
	__u8 buf[SLOTS_CHUNK * sizeof(struct tcps_slot)];
	const __u8 *s;
	int err;

	while (walked < TCPS_SLOTS_PROBE_MAX && walked < t->nslots) {
		n = walked ? SLOTS_CHUNK : SLOTS_FIRST;
		err = slots_read(t, pos, idx, buf, &n, locked);
		if (!err && !n)
			err = -EIO;	/* short of the array's end: cannot be */
		if (err)
			return err;
		for (i = 0; i < n && walked < TCPS_SLOTS_PROBE_MAX; i++, walked++) {
			s = buf + (size_t)i * slots_stride(t);
			if ((((const struct tcps_slot_hdr *)s)->tag & TCPS_SLOT_STATE) ==
			    TCPS_SLOT_EMPTY)
				return -ENOENT;
			if (slot_holds((const struct tcps_slot_hdr *)s, want, k)) {
				slot_val(t, s, c);
				return 0;
			}
		}
		pos = pos + n < t->nslots ? pos + n : 0;	/* wrap round */
	}
	return -ENOENT;
}

/* This process's tcps_sys runs, against the collector's grace periods
 * (tcps_ctable_sys_quiesce). */
static pthread_rwlock_t sys_runs = PTHREAD_RWLOCK_INITIALIZER;

void tcps_ctable_sys_quiesce(void)
{
	pthread_rwlock_wrlock(&sys_runs);
	pthread_rwlock_unlock(&sys_runs);
}

/* One request to the data path's tcps_sys; the kernel writes the context
 * back into ctx_in (a syscall program's test run takes no ctx_out). */
static int slots_sys(const struct tcps_ctable *t, struct tcps_sys_req *req)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = req, .ctx_size_in = sizeof(*req));
	int err;

	if (t->sys_fd < 0)
		return -ENOTSUP;
	req->ret = -ENOSYS;	/* a program that did not answer */
	pthread_rwlock_rdlock(&sys_runs);
	err = bpf_prog_test_run_opts(t->sys_fd, &opts) ? -errno : 0;
	pthread_rwlock_unlock(&sys_runs);
	return err ? err : req->ret;
}

/* Deletes by key from slot arrays by this process: each leaves a
 * tombstone for the collector (gc.c). */
static __u64 slot_takes;

__u64 tcps_ctable_takes(void)
{
	return __atomic_load_n(&slot_takes, __ATOMIC_RELAXED);
}

static int slots_take(const struct tcps_ctable *t, const struct tcps_key *k, struct tcps_conn *c)
{
	struct tcps_sys_req req;
	int err;

	memset(&req, 0, sizeof(req));
	req.key = *k;
	req.op = TCPS_SYS_TAKE;
	err = slots_sys(t, &req);
	memset(c, 0, sizeof(*c));
	if (!err) {
		memcpy(c, &req.conn, t->vsize);	/* health off: `h` is not in the table */
		ctable_fill_time(t, c, 0);
		__atomic_add_fetch(&slot_takes, 1, __ATOMIC_RELAXED);
	}
	return err;
}

static int slots_insert(const struct tcps_ctable *t, const struct tcps_key *k,
			const struct tcps_conn *c)
{
	struct tcps_sys_req req;

	memset(&req, 0, sizeof(req));
	req.key = *k;
	req.op = TCPS_SYS_INSERT;
	memcpy(&req.conn, c, t->vsize);
	return slots_sys(t, &req);
}

/* The gauges of tcps_conns, both groups summed over CPUs (tcpscope.h
 * TCPS_GAUGE_BASE): 0 with nothing in the table. Exact where every
 * writer keeps them (the data path and the owning daemon, gauges.c). */
static bool slots_gauge_empty(const struct tcps_ctable *t)
{
	__u32 keys[2] = { TCPS_GAUGE_BASE + TCPS_G_CONNS, TCPS_GAUGE_USER + TCPS_G_CONNS };
	int ncpu = libbpf_num_possible_cpus(), i, j;
	__u64 *v = ncpu > 0 ? calloc((size_t)ncpu, sizeof(*v)) : NULL, sum = 0;
	bool ok = v != NULL;

	for (i = 0; ok && i < 2; i++) {
		ok = !bpf_map_lookup_elem(t->gauge_fd, &keys[i], v);
		for (j = 0; ok && j < ncpu; j++)
			sum += v[j];
	}
	free(v);
	return ok && sum == 0;
}

int tcps_ctable_lookup(const struct tcps_ctable *t, const struct tcps_key *k,
		       struct tcps_conn *c, bool locked)
{
	if (t->kind == TCPS_CTABLE_SLOTS)
		return slots_lookup(t, k, c, locked);
	memset(c, 0, sizeof(*c));	/* health off: the value ends before `h` */
	if (bpf_map_lookup_elem_flags(t->fd, k, c, locked ? BPF_F_LOCK : 0))
		return -errno;
	ctable_fill_time(t, c, 0);
	return 0;
}

int tcps_ctable_find(const struct tcps_ctable tab[2], const struct tcps_key *k,
		     struct tcps_conn *c, bool locked, bool *halfopen)
{
	int i;

	for (i = 0; i < 2; i++) {
		if (tcps_ctable_lookup(&tab[i], k, c, locked))
			continue;
		if (halfopen)
			*halfopen = i;
		return 0;
	}
	return -ENOENT;
}

int tcps_ctable_take(const struct tcps_ctable *t, const struct tcps_key *k, struct tcps_conn *c)
{
	if (t->kind == TCPS_CTABLE_SLOTS)
		return slots_take(t, k, c);
	memset(c, 0, sizeof(*c));
	if (bpf_map_lookup_and_delete_elem_flags(t->fd, k, c, BPF_F_LOCK))
		return -errno;
	ctable_fill_time(t, c, 0);
	return 0;
}

int tcps_ctable_insert_new(const struct tcps_ctable *t, const struct tcps_key *k,
			   const struct tcps_conn *c)
{
	if (t->kind == TCPS_CTABLE_SLOTS)
		return slots_insert(t, k, c);
	return bpf_map_update_elem(t->fd, k, c, BPF_NOEXIST) ? -errno : 0;
}

/* The kernel's first-key search skips empty buckets far faster (~1 ns
 * each) than a walk. It starts from a key that cannot be in the table
 * (family 0), which, like NULL, means "the first key" (and valgrind does
 * not take NULL for an unaddressable key). */
bool tcps_ctable_is_empty(const struct tcps_ctable *t)
{
	struct tcps_key none, k;

	if (t->fd >= 0 && t->kind == TCPS_CTABLE_SLOTS)
		return t->gauge_fd >= 0 && slots_gauge_empty(t);
	memset(&none, 0, sizeof(none));
	return t->fd < 0 || (bpf_map_get_next_key(t->fd, &none, &k) && errno == ENOENT);
}

int tcps_ctable_walk_open(struct tcps_ctable_walk *w, bool locked)
{
	memset(w, 0, sizeof(*w));
	w->locked = locked;
	w->t.fd = -1;
	w->end = true;
	w->keys = calloc(TCPS_CTABLE_BATCH, sizeof(*w->keys));
	w->vals = calloc(TCPS_CTABLE_BATCH, sizeof(struct tcps_conn));	/* the larger size */
	w->idx = calloc(TCPS_CTABLE_BATCH, sizeof(*w->idx));
	w->slots = calloc(TCPS_CTABLE_BATCH, sizeof(struct tcps_slot));
	if (w->keys && w->vals && w->idx && w->slots)
		return 0;
	tcps_ctable_walk_close(w);
	return -ENOMEM;
}

void tcps_ctable_walk_close(struct tcps_ctable_walk *w)
{
	free(w->keys);
	free(w->vals);
	free(w->idx);
	free(w->slots);
	w->keys = NULL;
	w->vals = NULL;
	w->idx = NULL;
	w->slots = NULL;
}

void tcps_ctable_walk_start(struct tcps_ctable_walk *w, const struct tcps_ctable *t)
{
	w->t = *t;
	w->resume = false;
	w->end = t->fd < 0;
}

/* A FULL slot copy as the walk's entry j; false for any other, or for a
 * copy torn by a concurrent reuse (its key is not the tag's). */
static bool slots_walk_entry(struct tcps_ctable_walk *w, const struct tcps_slot_hdr *s, __u32 j)
{
	struct tcps_key *k = &w->keys[j];
	__u32 t = s->tag;

	if ((t & TCPS_SLOT_STATE) != TCPS_SLOT_FULL)
		return false;
	tcps_slot_key(s, t, k);
	if ((t & ~TCPS_SLOT_ILOCK) != tcps_slots_want(tcps_slots_hash(k, w->t.seed), k->family))
		return false;
	memcpy(w->vals + (size_t)j * w->t.vsize, s + 1, w->t.vsize);
	return true;
}

/* The next TCPS_CTABLE_BATCH slots of an array: its FULL ones, keys
 * rebuilt from the slots. */
static int slots_walk_next(struct tcps_ctable_walk *w)
{
	__u32 first = 0, n = TCPS_CTABLE_BATCH, i, j = 0;
	int err;

	if (w->resume) {
		memcpy(&first, w->cursor, sizeof(first));
		first++;
	}
	if (first >= w->t.nslots)
		n = 0;
	else if ((err = slots_read(&w->t, first, w->idx, w->slots, &n, w->locked)))
		return err;
	for (i = 0; i < n; i++)
		j += slots_walk_entry(w, (const struct tcps_slot_hdr *)(w->slots + (size_t)i *
								       slots_stride(&w->t)), j);
	w->visited = n;
	w->end = !n || first + n >= w->t.nslots;
	if (n) {
		memcpy(w->cursor, &w->idx[n - 1], sizeof(__u32));
		w->resume = true;
	}
	return (int)j;
}

int tcps_ctable_walk_next(struct tcps_ctable_walk *w)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = w->locked ? BPF_F_LOCK : 0);
	__u8 out[sizeof(w->cursor)];
	__u32 n = TCPS_CTABLE_BATCH;
	int rc;

	if (w->end)
		return 0;
	if (w->t.vsize < TCPS_CONN_SIZE_FULL)
		w->now = tcps_mono_now();	/* a packet during the read: its tick is now's */
	if (w->t.kind == TCPS_CTABLE_SLOTS)
		return slots_walk_next(w);
	rc = bpf_map_lookup_batch(w->t.fd, w->resume ? w->cursor : NULL, out, w->keys, w->vals,
				  &n, &opts);
	if (rc && errno != ENOENT)
		return -errno;
	if (rc) {
		w->end = true;	/* ENOENT: that was the last batch */
	} else {
		memcpy(w->cursor, out, sizeof(out));
		w->resume = true;
	}
	w->visited = n;
	return (int)n;
}

void tcps_ctable_walk_val(const struct tcps_ctable_walk *w, __u32 i, struct tcps_conn *c)
{
	memcpy(c, w->vals + (size_t)i * w->t.vsize, w->t.vsize);
	if (w->t.vsize < sizeof(*c))	/* health off: `h` is not in the table */
		memset((__u8 *)c + w->t.vsize, 0, sizeof(*c) - w->t.vsize);
	ctable_fill_time(&w->t, c, w->now);
}

/* Every entry of t through its walk: counted, or (clear) deleted. */
static long ctable_each(const struct tcps_ctable *t, bool clear)
{
	struct tcps_ctable_walk w;
	struct tcps_conn c;
	int err = tcps_ctable_walk_open(&w, false), n = 0, i;
	long total = 0;

	if (err)
		return err;
	tcps_ctable_walk_start(&w, t);
	while (!w.end && n >= 0) {
		n = tcps_ctable_walk_next(&w);
		for (i = 0; clear && i < n; i++) {
			err = tcps_ctable_take(t, &w.keys[i], &c);
			if (err && err != -ENOENT)
				n = err;
		}
		total += n > 0 ? n : 0;
	}
	tcps_ctable_walk_close(&w);
	return n < 0 ? n : total;
}

long tcps_ctable_count(const struct tcps_ctable *t)
{
	return ctable_each(t, false);
}

/* A slot array nobody else writes: every slot zeroed (EMPTY). */
static int slots_zero(const struct tcps_ctable *t)
{
	struct tcps_slot zero;
	__u32 i;

	memset(&zero, 0, sizeof(zero));
	for (i = 0; i < t->nslots; i++)
		if (bpf_map_update_elem(t->fd, &i, &zero, BPF_ANY))
			return -errno;
	return 0;
}

int tcps_ctable_clear(const struct tcps_ctable *t)
{
	struct tcps_key none, k;
	long err;

	if (t->fd < 0)
		return 0;
	if (t->kind == TCPS_CTABLE_SLOTS)
		return t->sys_fd < 0 ? slots_zero(t) : (err = ctable_each(t, true)) < 0 ? (int)err : 0;
	/* A hash map: the first key again and again (a walk's cursor may be
	 * a deleted key). */
	memset(&none, 0, sizeof(none));
	while (!bpf_map_get_next_key(t->fd, &none, &k))
		if (bpf_map_delete_elem(t->fd, &k) && errno != ENOENT)
			return -errno;
	return errno == ENOENT ? 0 : -errno;
}
