// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Replay's native backend: the data path's own code, compiled into
 * tcpscope, so that replay needs no privilege. bpf/parse.h,
 * include/tcps_frame.h and include/tcps_path.h are the code the XDP
 * program runs; this file only supplies the storage primitives that
 * bpf/tcpscope.bpf.c gives them, with the BPF maps' semantics:
 *  - tcps_conns: the slot array of include/tcps_slots.h, its algorithm
 *    compiled here (one thread: plain reads, no-op locks), as large and
 *    seeded as the BPF backend's (replay_backend.h), so inserts land in
 *    the same slots and the same ones find no free slot (-E2BIG); the
 *    tombstones replay's expiry leaves reclaimed by the same collector
 *    passes at the same points;
 *  - tcps_halfopen: a hash table that refuses an insert when it holds
 *    max_entries (tcps_halfopen_default of --max-conns) as the
 *    kernel's htab does (-E2BIG), and an existing key with -EEXIST
 *    (BPF_NOEXIST) before that;
 *  - the per-CPU arrays (stats, trans, scratch) as plain arrays: one CPU;
 *  - the ring buffer as a queue of the ring's byte size: a record takes
 *    8 bytes of header + the event rounded up to 8, a reservation fails
 *    once the ring would be full, and drain() hands the records over as
 *    ring_buffer__consume() does;
 *  - the capture time as both clocks (tcps_replay_clock = 1);
 *  - passive mode (tcps_mode), locks as no-ops (one thread).
 * No logic of the data path is repeated here, so it follows every change
 * of those headers.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "replay_backend.h"

#define TCPS_PATH_INLINE static inline
#include "tcps_frame.h"
#define TCPS_SLOTS_INLINE static inline
#define TCPS_SLOTS_READ(x) (x)
#define TCPS_SLOTS_WRITE(x, v) ((x) = (v))
#include "tcps_slots.h"

/* What the XDP test run gives: ingress on lo's rx queue (replay prints no
 * interface either way). */
#define NATIVE_IFINDEX 1
/* BPF_PROG_TEST_RUN refuses a frame shorter than an Ethernet header. */
#define NATIVE_MIN_FRAME 14
/* A ring-buffer record: BPF_RINGBUF_HDR_SZ + the sample, 8-byte aligned. */
#define NATIVE_RB_REC ((8 + sizeof(struct tcps_event) + 7) & ~(size_t)7)
/* __bpf_ringbuf_reserve: the producer may run at most size - 1 bytes
 * ahead of the consumer. */
#define NATIVE_RB_RECS ((TCPS_RINGBUF_BYTES - 1) / NATIVE_RB_REC)

struct native_node {
	struct native_node *next;
	struct tcps_key key;
	struct tcps_conn val;
};

struct native_table {
	struct native_node **bucket;
	size_t mask;		/* buckets - 1: max_entries rounded up to a power of two, as htab */
	__u32 count, max;
};

/* tcps_conns: the slot array, its collector's epoch and state. */
struct native_slots {
	struct tcps_slot *slot;
	__u32 n, epoch, takes;	/* takes: replay's deletes since the last pass */
	__u64 used;		/* slots not EMPTY (tcps_slots_used) */
	struct tcps_slots_coll coll;
};

struct replay_native {
	struct native_slots conns;
	struct native_table half;	/* tcps_halfopen */
	struct tcps_counters cnt;
	__u64 trans[TCPS_TRANS_MAP_ENTRIES];	/* transitions, health histograms, gauges */
	struct tcps_scratch scratch;
	struct tcps_event *ring;	/* NATIVE_RB_RECS records */
	size_t queued;
	__u64 now;
	tcps_replay_event_fn on_event;
	void *ctx;
};

/* The primitives take no context (they are BPF map calls on the other
 * side): the one open instance. */
static struct replay_native *nat;

/* ---- tables ----------------------------------------------------------- */

static size_t key_hash(const struct tcps_key *k)
{
	__u64 w[sizeof(*k) / 8], h = 0x9e3779b97f4a7c15ULL;
	size_t i;

	_Static_assert(sizeof(*k) % 8 == 0, "key is whole words");
	memcpy(w, k, sizeof(w));
	for (i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		h = (h ^ w[i]) * 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	return (size_t)h;
}

static int table_init(struct native_table *t, __u32 max)
{
	size_t n = 1;

	while (n < max)
		n <<= 1;
	t->bucket = calloc(n, sizeof(*t->bucket));
	if (!t->bucket)
		return -ENOMEM;
	t->mask = n - 1;
	t->max = max;
	return 0;
}

static void table_free(struct native_table *t)
{
	size_t i;

	for (i = 0; t->bucket && i <= t->mask; i++) {
		struct native_node *n = t->bucket[i], *next;

		for (; n; n = next) {
			next = n->next;
			free(n);
		}
	}
	free(t->bucket);
}

/* The link that points at k's node, or at the NULL that ends its chain. */
static struct native_node **table_find(struct native_table *t, const struct tcps_key *k)
{
	struct native_node **l = &t->bucket[key_hash(k) & t->mask];

	while (*l && memcmp(&(*l)->key, k, sizeof(*k)))
		l = &(*l)->next;
	return l;
}

/* The slot array's primitives (tcps_slots.h). */
TCPS_SLOTS_INLINE __u32 tcps_slots_n(void)
{
	return nat->conns.n;
}

TCPS_SLOTS_INLINE __u32 tcps_slots_seed(void)
{
	return TCPS_REPLAY_SLOTS_SEED;
}

TCPS_SLOTS_INLINE __u32 tcps_slots_epoch(void)
{
	return nat->conns.epoch;
}

TCPS_SLOTS_INLINE struct tcps_slot_hdr *tcps_slot_get(__u32 i)
{
	return i < nat->conns.n ? &nat->conns.slot[i].h : NULL;
}

TCPS_SLOTS_INLINE void tcps_slot_lock(struct tcps_slot_hdr *s)
{
	(void)s;
}

TCPS_SLOTS_INLINE void tcps_slot_unlock(struct tcps_slot_hdr *s)
{
	(void)s;
}

/* The value around its lock, which stays as the array made it (zero). */
static void conn_tail_copy(struct tcps_conn *d, const struct tcps_conn *s)
{
	memcpy(&d->fsm, &s->fsm, sizeof(*d) - offsetof(struct tcps_conn, fsm));
}

TCPS_SLOTS_INLINE void tcps_slot_payload_init(struct tcps_slot_hdr *s, const void *init)
{
	conn_tail_copy(&((struct tcps_slot *)s)->c, init);
}

TCPS_SLOTS_INLINE void tcps_slot_payload_copy(struct tcps_slot_hdr *dst,
					      const struct tcps_slot_hdr *src)
{
	conn_tail_copy(&((struct tcps_slot *)dst)->c, &((const struct tcps_slot *)src)->c);
}

TCPS_SLOTS_INLINE void tcps_slots_loop(__u32 n, long (*step)(__u32 i, void *ctx), void *ctx)
{
	__u32 i;

	for (i = 0; i < n; i++)
		if (step(i, ctx))
			break;
}

TCPS_SLOTS_INLINE struct tcps_slots_coll *tcps_slots_coll(void)
{
	return &nat->conns.coll;
}

TCPS_SLOTS_INLINE __u64 *tcps_slots_used(void)
{
	return &nat->conns.used;
}

/* As bpf/slots_prim.bpf.h's: 7/8 of the slots, the connections the table
 * was sized for. */
TCPS_SLOTS_INLINE __u32 tcps_slots_cap(void)
{
	return tcps_slots_cap_of(nat->conns.n);
}

/* k's slot in tcps_conns and its tag, or NULL. */
static struct tcps_slot *conns_find(const struct tcps_key *k, __u32 *want)
{
	__u32 h = tcps_slots_hash(k, TCPS_REPLAY_SLOTS_SEED), walked;

	*want = tcps_slots_want(h, k->family);
	return (struct tcps_slot *)tcps_slots_find(k, tcps_slots_home(h, nat->conns.n), *want,
						   &walked);
}

/* ---- the primitives of tcps_path.h ------------------------------------ */

static inline struct tcps_conn *tcps_tbl_lookup(int tbl, const struct tcps_key *k)
{
	struct native_node *n;
	struct tcps_slot *s;
	__u32 want;

	if (tbl == TCPS_TBL_CONNS)
		return (s = conns_find(k, &want)) ? &s->c : NULL;
	n = *table_find(&nat->half, k);
	return n ? &n->val : NULL;
}

/* As bpf/tcpscope.bpf.c's: 0, -TCPS_EEXIST, or -E2BIG (no free slot). */
static int conns_insert(const struct tcps_key *k, const struct tcps_conn *v)
{
	__u32 h = tcps_slots_hash(k, TCPS_REPLAY_SLOTS_SEED);
	struct tcps_slot_hdr *s;
	int r = tcps_slots_insert(k, tcps_slots_home(h, nat->conns.n),
				  tcps_slots_want(h, k->family), v, &s);

	return r == TCPS_SLOTS_INSERTED ? 0 : r == TCPS_SLOTS_RACED ? -TCPS_EEXIST : -E2BIG;
}

static inline int tcps_tbl_insert(int tbl, const struct tcps_key *k, const struct tcps_conn *v)
{
	struct native_table *t = &nat->half;
	struct native_node **l, *n;

	if (tbl == TCPS_TBL_CONNS)
		return conns_insert(k, v);
	l = table_find(t, k);
	if (*l)
		return -TCPS_EEXIST;
	if (t->count >= t->max)
		return -E2BIG;
	n = malloc(sizeof(*n));
	if (!n)
		return -ENOMEM;	/* as a non-preallocated htab: refused, counted */
	n->next = NULL;
	n->key = *k;
	n->val = *v;
	/* The map copies the value around its bpf_spin_lock, which starts
	 * zeroed. */
	memset(&n->val.lock, 0, sizeof(n->val.lock));
	*l = n;
	t->count++;
	return 0;
}

static inline void tcps_tbl_delete(int tbl, const struct tcps_key *k)
{
	struct native_table *t = &nat->half;
	struct native_node **l, *n;
	struct tcps_slot *s;
	__u32 want;

	if (tbl == TCPS_TBL_CONNS) {
		if ((s = conns_find(k, &want)))
			tcps_slots_delete(&s->h, want);	/* a tombstone of this epoch */
		return;
	}
	l = table_find(t, k);
	n = *l;
	if (!n)
		return;
	*l = n->next;
	free(n);
	t->count--;
}

/* One thread: nothing runs between a lock and its unlock. */
static inline void tcps_conn_lock(struct tcps_conn *c)
{
	(void)c;
}

static inline void tcps_conn_unlock(struct tcps_conn *c)
{
	(void)c;
}

static inline struct tcps_scratch *tcps_scratch_get(void)
{
	return &nat->scratch;
}

static inline __u64 *tcps_trans_slot(__u32 idx)
{
	return idx < TCPS_TRANS_MAP_ENTRIES ? &nat->trans[idx] : NULL;
}

static inline struct tcps_event *tcps_event_reserve(void)
{
	if (nat->queued >= NATIVE_RB_RECS)
		return NULL;	/* the ring is full: counted as a drop */
	return &nat->ring[nat->queued++];
}

static inline void tcps_event_submit(struct tcps_event *e)
{
	(void)e;	/* queued at reserve; drain() hands it over */
}

static inline __u64 tcps_clock_precise(void)
{
	return nat->now;
}

static inline int tcps_host_mode(void)
{
	return 0;	/* replay is passive: orig/resp */
}

static inline int tcps_health_on(void)
{
	return 1;	/* as the BPF object's default */
}

static inline int tcps_events_wanted(void)
{
	return 1;	/* replay reads every one */
}

/* ---- backend operations ------------------------------------------------ */

static void native_close(void *bp)
{
	struct replay_native *b = bp;

	if (!b)
		return;
	free(b->conns.slot);
	table_free(&b->half);
	free(b->ring);
	if (nat == b)
		nat = NULL;
	free(b);
}

static int native_open(void **bp, __u32 max_conns, tcps_replay_event_fn on_event, void *ctx)
{
	struct replay_native *b;

	if (nat)
		return -EBUSY;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	/* calloc'd: only the pages a burst of events touches are ever used. */
	b->ring = calloc(NATIVE_RB_RECS, sizeof(*b->ring));
	b->conns.n = tcps_slots_for(max_conns);
	b->conns.slot = calloc(b->conns.n, sizeof(*b->conns.slot));	/* EMPTY */
	b->conns.coll.no_moves = 1;	/* as tcps_sys_collect */
	if (!b->ring || !b->conns.slot ||
	    table_init(&b->half, tcps_halfopen_default(max_conns))) {
		native_close(b);
		return -ENOMEM;
	}
	b->on_event = on_event;
	b->ctx = ctx;
	nat = b;
	*bp = b;
	return 0;
}

static void native_set_clock(void *bp, __u64 now_ns)
{
	struct replay_native *b = bp;

	b->now = now_ns;
}

/* What tcps_xdp_ingress does with one frame (tcps_handle_xdp). */
static int native_feed(void *bp, const void *frame, size_t len)
{
	struct replay_native *b = bp;
	const __u8 *data = frame;
	struct tcps_parsed p;
	__u32 n;

	if (len < NATIVE_MIN_FRAME || len > 0xffffffffU)
		return -EINVAL;
	memset(&p, 0, sizeof(p));
	if (!tcps_frame_count(&b->cnt, tcps_parse(data, data + len, (__u32)len, &p)))
		return 0;
	n = tcps_frame_syn_opts(&p);	/* bpf_xdp_load_bytes() there */
	memcpy(p.opts, data + p.opt_off, n);
	tcps_frame_track(&p, &b->cnt, TCPS_DIR_IN, NATIVE_IFINDEX, b->now,
			 tcps_frame_hot(&p, &b->cnt, b->now, NATIVE_IFINDEX));
	return 0;
}

static int native_drain(void *bp)
{
	struct replay_native *b = bp;
	size_t i;
	int err = 0;

	for (i = 0; i < b->queued && !err; i++)
		err = b->on_event(b->ctx, &b->ring[i], sizeof(b->ring[i]));
	b->queued = 0;
	return err < 0 ? err : 0;
}

static int native_lookup(void *bp, const struct tcps_key *k, struct tcps_conn *v, bool *halfopen)
{
	struct replay_native *b = bp;
	struct native_node *n = *table_find(&b->half, k);
	struct tcps_slot *s;
	__u32 want;

	if ((s = conns_find(k, &want))) {
		*v = s->c;
		*halfopen = false;
		return 0;
	}
	if (n) {
		*v = n->val;
		*halfopen = true;
		return 0;
	}
	return -ENOENT;
}

/* A collector pass as the BPF backend's (slotcfg.c): three epochs, then
 * the pass (no walk runs meanwhile here: no grace periods to wait). */
static void native_collect(struct replay_native *b)
{
	b->conns.epoch += 3;
	tcps_slots_collect();
	b->conns.takes = 0;
}

static int native_remove(void *bp, const struct tcps_key *k, bool halfopen)
{
	struct replay_native *b = bp;
	struct native_node *n = halfopen ? *table_find(&b->half, k) : NULL;
	struct tcps_slot *s = halfopen ? NULL : conns_find(k, &(__u32){ 0 });
	const struct tcps_conn *c = s ? &s->c : n ? &n->val : NULL;

	if (!c)
		return -ENOENT;
	/* Userspace's delete: the gauges' userspace group (gauges.c), as the
	 * BPF backend keeps it. */
	b->trans[TCPS_GAUGE_USER + TCPS_G_STATE + tcps_gauge_state(&c->fsm)]--;
	b->trans[TCPS_GAUGE_USER + (halfopen ? TCPS_G_HALFOPEN : TCPS_G_CONNS)]--;
	tcps_tbl_delete(halfopen ? TCPS_TBL_HALFOPEN : TCPS_TBL_CONNS, k);
	if (!halfopen && ++b->conns.takes >= TCPS_REPLAY_COLLECT_TAKES)
		native_collect(b);
	return 0;
}

static int native_counters(void *bp, __u64 out[TCPS_CNT_MAX])
{
	struct replay_native *b = bp;

	memcpy(out, b->cnt.c, sizeof(b->cnt.c));
	return 0;
}

const struct tcps_replay_backend tcps_replay_native = {
	.name = "native",
	.open = native_open,
	.close = native_close,
	.set_clock = native_set_clock,
	.feed = native_feed,
	.drain = native_drain,
	.lookup = native_lookup,
	.remove = native_remove,
	.counters = native_counters,
};
