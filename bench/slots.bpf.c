// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A connection table of our own, measured against a BPF hash map of the
 * product's shape (bench/slots.c drives both with BPF_PROG_TEST_RUN; never
 * attached). Layout and tag bits: bench/slots.h.
 *
 *   slots_track  parse, canonical key, find the tuple's slot; on a hit
 *                store last_tick (an RST deletes: tombstone), on a miss
 *                insert it
 *   floor_track  the same against the hash map: lookup, store last_tick,
 *                or bpf_map_update_elem(BPF_NOEXIST) of a new key
 *
 * Concurrency. Lookups read the tag, compare the key, read the tag again:
 * a key is written only while its slot is BUSY (invisible) and never
 * changes while FULL, so a key compared between two reads of the same FULL
 * tag is the published one (a torn read of a slot being reused shows as a
 * changed tag and is skipped; the remaining ABA, delete and reinsert of a
 * tuple with the same 28-bit fingerprint inside one compare, is ignored).
 * Inserts of one tuple all start at its home slot and are serialised by
 * the ILOCK bit of the home's tag: the holder walks the chain again (the
 * tuple may have been inserted meanwhile: SLOTS_RACE), claiming on the way
 * the first TOMB or EMPTY slot with a cmpxchg on its tag (inserts of other
 * tuples compete for it too: the loser walks on), writes the key and the
 * state, publishes with one atomic xor (BUSY -> FULL with the
 * fingerprint), and drops ILOCK. So two CPUs inserting one tuple never
 * make two copies. Delete is a tombstone (FULL -> TOMB under the slot's
 * lock), reused by later inserts; a backward shift cannot be done without
 * a lock over the whole chain.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "parse.h"
#include "slots.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u32 slots_n = 1;	/* slots in the table (max_entries) */
const volatile __u32 slots_seed = 0;
__u32 slots_epoch;	/* the collector's epoch (slots_collect_run), set by userspace */

/* The table: slots_n fixed slots, allocated whole at creation. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct slot);
} slots SEC(".maps");

/* The floor: tcps_conns' shape (40-byte key, 120-byte value, grows). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1);
	__type(key, struct tcps_key);
	__type(value, struct floor_val);
} floor_conns SEC(".maps");

/* enum slots_counter, per CPU: one lookup a packet, in both programs. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct slots_cnt);
} slots_stats SEC(".maps");

struct floor_val floor_zero = {};

#define SLOT_READ(x) (*(volatile __typeof__(x) *)&(x))

static __always_inline __u64 *counters(void)
{
	__u32 zero = 0;
	struct slots_cnt *c = bpf_map_lookup_elem(&slots_stats, &zero);

	return c ? c->c : NULL;
}

static __always_inline struct slot *slot_at(__u32 home, __u32 i)
{
	__u32 idx = home + i;

	if (idx >= slots_n)
		idx -= slots_n;
	return bpf_map_lookup_elem(&slots, &idx);
}

static __always_inline int key_eq(const struct slot *s, const struct tcps_key *k)
{
	const __u32 *a = &s->addr[0][0], *b = &k->addr[0][0];

	return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3] && a[4] == b[4] &&
	       a[5] == b[5] && a[6] == b[6] && a[7] == b[7] && s->port[0] == k->port[0] &&
	       s->port[1] == k->port[1];
}

/* Tag and key match, and the tag did not move while the key was read. */
static __always_inline int slot_is(struct slot *s, __u32 t, __u32 want, const struct tcps_key *k)
{
	return (t & ~SLOT_ILOCK) == want && key_eq(s, k) &&
	       (SLOT_READ(s->tag) & ~SLOT_ILOCK) == want;
}

/* One step of a lookup past the unrolled ones (bpf_loop). */
struct find_ctx {
	const struct tcps_key *k;
	struct slot *s;
	__u32 home, want, n;
};

static long find_step(__u32 i, void *arg)
{
	struct find_ctx *f = arg;
	struct slot *s = slot_at(f->home, i + SLOTS_PROBE_INLINE);
	__u32 t;

	f->n = i + 1;
	if (!s)
		return 1;
	t = SLOT_READ(s->tag);
	if ((t & SLOT_STATE) == SLOT_EMPTY)
		return 1;
	if (slot_is(s, t, f->want, f->k))
		f->s = s;
	return f->s != NULL;
}

/* Lock-free lookup: walk from home to the first EMPTY slot, the first
 * SLOTS_PROBE_INLINE slots unrolled, the rest (rare) in a bpf_loop. */
static __always_inline struct slot *slots_find(const struct tcps_key *k, __u32 home, __u32 want,
					       __u64 *c)
{
	struct find_ctx f = { .k = k, .home = home, .want = want };
	struct slot *s = NULL;
	__u32 i, t;

	for (i = 0; i < SLOTS_PROBE_INLINE; i++) {
		s = slot_at(home, i);
		if (!s)
			break;
		t = SLOT_READ(s->tag);
		if ((t & SLOT_STATE) == SLOT_EMPTY) {
			s = NULL;
			break;
		}
		if (slot_is(s, t, want, k))
			break;
		s = NULL;
	}
	if (i == SLOTS_PROBE_INLINE) {
		bpf_loop(SLOTS_PROBE_MAX - SLOTS_PROBE_INLINE, find_step, &f, 0);
		s = f.s;
		i += f.n;
	}
	c[SLOTS_PROBES] += i + 1;
	return s;
}

/* ILOCK of the home slot: held by another CPU for one insert at most
 * (a walk to the end of the chain, microseconds at high load), so spin in
 * a bpf_loop of up to SLOTS_ILOCK_SPINS reads, then give up (fail open). */
#define SLOTS_ILOCK_SPINS 65536

struct ilock_ctx {
	struct slot *hs;
	int got;
};

static long ilock_step(__u32 j, void *arg)
{
	struct ilock_ctx *l = arg;

	(void)j;
	l->got = !(SLOT_READ(l->hs->tag) & SLOT_ILOCK) &&
		 !(__sync_fetch_and_or(&l->hs->tag, SLOT_ILOCK) & SLOT_ILOCK);
	return l->got;
}

static __always_inline int ilock_take(struct slot *hs)
{
	struct ilock_ctx l = { .hs = hs };

	if (!(__sync_fetch_and_or(&hs->tag, SLOT_ILOCK) & SLOT_ILOCK))
		return 0;
	bpf_loop(SLOTS_ILOCK_SPINS, ilock_step, &l, 0);
	return l.got ? 0 : -1;
}

/* Free (TOMB or EMPTY) slot seen with tag t -> BUSY, keeping its ILOCK
 * bit; once more if only that bit moved meanwhile. */
static __always_inline int try_claim(struct slot *s, __u32 t)
{
	__u32 r = __sync_val_compare_and_swap(&s->tag, t, (t & SLOT_ILOCK) | SLOT_BUSY);

	if (r == t)
		return 1;
	if ((r ^ t) != SLOT_ILOCK)
		return 0;
	return __sync_val_compare_and_swap(&s->tag, r, (r & SLOT_ILOCK) | SLOT_BUSY) == r;
}

/* State of one insert's walk (bpf_loop: the verifier checks one step,
 * not 128 unrolled ones with every combination of their outcomes). */
struct walk_ctx {
	const struct tcps_key *k;
	struct slot *mine, *found;
	__u32 home, want;
	int stop;		/* insert gives up: an EMPTY slot it could not claim */
};

static long walk_step(__u32 i, void *arg)
{
	struct walk_ctx *w = arg;
	struct slot *s = slot_at(w->home, i);
	__u32 t, st;

	if (!s)
		return 1;
	t = SLOT_READ(s->tag);
	st = t & SLOT_STATE;
	if (st == SLOT_FULL && slot_is(s, t, w->want, w->k)) {
		w->found = s;
		return 1;
	}
	if (st == SLOT_FULL || st == SLOT_BUSY)
		return 0;
	if (!w->mine && try_claim(s, t)) {
		w->mine = s;
		return st == SLOT_EMPTY;
	}
	/* A failed claim: another insert took the slot, or the collector made
	 * the tombstone EMPTY, which ends the chain here: claim it as such. */
	t = SLOT_READ(s->tag);
	st = t & SLOT_STATE;
	if (st != SLOT_EMPTY)
		return 0;
	if (!w->mine && try_claim(s, t))
		w->mine = s;
	w->stop = !w->mine;
	return 1;
}

/*
 * Under ILOCK, one walk of the chain: claims its first free slot on the
 * way and goes on to the first EMPTY, since the tuple may sit past a
 * tombstone. Returns the tuple's slot if another CPU inserted it meanwhile
 * (*found; a claimed tombstone is given back), else the claimed BUSY slot,
 * else NULL. An EMPTY slot is never passed unclaimed (that would cut the
 * chain): if its claim fails and it is still EMPTY, the insert gives up.
 */
static __always_inline struct slot *chain_claim(const struct tcps_key *k, __u32 home, __u32 want,
						int *found)
{
	struct walk_ctx w = { .k = k, .home = home, .want = want };

	bpf_loop(SLOTS_PROBE_MAX, walk_step, &w, 0);
	if (w.found) {
		if (w.mine)
			__sync_fetch_and_xor(&w.mine->tag, SLOT_BUSY ^ SLOT_TOMB);
		*found = 1;
		return w.found;
	}
	if (w.stop)
		*found = -1;
	return w.stop ? NULL : w.mine;
}

static __always_inline void slot_fill(struct slot *s, const struct tcps_key *k, __u32 now)
{
	__builtin_memcpy(s->addr, k->addr, sizeof(s->addr));
	s->port[0] = k->port[0];
	s->port[1] = k->port[1];
	__builtin_memset(&s->fsm, 0, sizeof(s->fsm));
	s->fsm.flags = TCPS_C_NEW;
	s->first_tick = now;
	s->last_tick = now;
}

/* Insert under the home's ILOCK; publish BUSY -> FULL with one xor
 * (fully ordered: the key and state are visible before the tag). */
static __always_inline struct slot *slots_insert(const struct tcps_key *k, __u32 home, __u32 want,
						 __u32 now, __u64 *c)
{
	struct slot *hs = slot_at(home, 0), *s;
	int found = 0;

	if (!hs)
		return NULL;
	if (ilock_take(hs)) {
		c[SLOTS_ILOCKED]++;
		return NULL;
	}
	s = chain_claim(k, home, want, &found);
	if (found < 0) {
		c[SLOTS_CLAIMLOST]++;
	} else if (found) {
		c[SLOTS_RACE]++;
	} else if (s) {
		slot_fill(s, k, now);
		if ((__sync_fetch_and_xor(&s->tag, (want & ~SLOT_STATE) | (SLOT_BUSY ^ SLOT_FULL)) &
		     SLOT_STATE) == SLOT_BUSY)
			c[SLOTS_INSERT]++;
	} else {
		c[SLOTS_FULLCHAIN]++;
	}
	__sync_fetch_and_and(&hs->tag, ~SLOT_ILOCK);
	return s;
}

/* Tombstone under the slot's lock, so no FSM step runs on a slot going
 * away (an FSM step takes the lock and checks the tag first). The
 * tombstone carries the collector's epoch in the fingerprint bits: its
 * age, and what makes the collector's cmpxchg fail on a slot reused and
 * deleted again since it looked (ABA). */
static __always_inline void slot_delete(struct slot *s, __u32 want, __u64 *c)
{
	__u32 tomb = slots_tomb(SLOT_READ(slots_epoch)), t;

	bpf_spin_lock(&s->lock);
	t = SLOT_READ(s->tag);
	if ((t & ~SLOT_ILOCK) == want)
		__sync_fetch_and_xor(&s->tag, want ^ tomb);
	bpf_spin_unlock(&s->lock);
	c[SLOTS_DELETE]++;
}

static __always_inline int parse_key(void *data, void *data_end, struct tcps_key *k, __u8 *flags)
{
	struct tcps_parsed p;

	if (tcps_parse(data, data_end, (__u32)(data_end - data), &p) != TCPS_P_TCP)
		return -1;
	tcps_parsed_key(&p, k);
	*flags = p.seg.flags;
	return 0;
}

SEC("xdp")
int slots_track(struct xdp_md *ctx)
{
	__u32 h, home, want, now;
	struct tcps_key k;
	struct slot *s;
	__u64 *c = counters();
	__u8 flags;

	if (!c || parse_key((void *)(long)ctx->data, (void *)(long)ctx->data_end, &k, &flags))
		return XDP_PASS;
	h = slots_hash(&k, slots_seed);
	home = slots_home(h, slots_n);
	want = slots_want(h, k.family);
	now = (__u32)(bpf_ktime_get_coarse_ns() >> 20);
	s = slots_find(&k, home, want, c);
	if (s) {
		c[SLOTS_HIT]++;
		if (flags & TCPS_RST)
			slot_delete(s, want, c);
		else
			s->last_tick = now;
	} else if (!(flags & TCPS_RST)) {
		slots_insert(&k, home, want, now, c);
	}
	return XDP_PASS;
}

SEC("xdp")
int floor_track(struct xdp_md *ctx)
{
	struct floor_val *v;
	struct tcps_key k;
	__u64 *c = counters();
	__u8 flags;
	__u32 now;

	if (!c || parse_key((void *)(long)ctx->data, (void *)(long)ctx->data_end, &k, &flags))
		return XDP_PASS;
	now = (__u32)(bpf_ktime_get_coarse_ns() >> 20);
	v = bpf_map_lookup_elem(&floor_conns, &k);
	if (v) {
		c[SLOTS_FLOOR_HIT]++;
		if (!(flags & TCPS_RST))
			v->last_tick = now;
		else if (!bpf_map_delete_elem(&floor_conns, &k))
			c[SLOTS_FLOOR_DELETE]++;
	} else if (!(flags & TCPS_RST)) {	/* as slots_track: an RST creates nothing */
		if (bpf_map_update_elem(&floor_conns, &k, &floor_zero, BPF_NOEXIST))
			c[SLOTS_FLOOR_FAIL]++;
		else
			c[SLOTS_FLOOR_INSERT]++;
	}
	return XDP_PASS;
}


/*
 * The tombstone collector: one pass over the whole table in a syscall
 * program (userspace runs it as the daemon's expiry would), from the slot
 * after an EMPTY one, cluster by cluster (the slots between two EMPTY
 * ones). It does two things:
 *
 * Compaction. The cluster's tombstones, in order, are holes (up to
 * COLL_HOLES of them at once). A FULL slot whose home is at or before a
 * hole moves into the first such hole and leaves a tombstone of its own,
 * which is a hole for the tuples after it. A move holds the tuple's home
 * ILOCK (no insert of that tuple walks its chain in the middle of the
 * move, which would miss both copies; if an insert holds it, the tuple
 * stays), claims the hole, and under the source's lock copies the slot,
 * publishes the copy and tombstones the source: lookups meet the copy
 * first. A lookup that passed the hole while it was BUSY and reaches the
 * source once it is a tombstone misses; its insert then waits on the home
 * ILOCK and finds the copy under it (SLOTS_RACE), as for any racing insert.
 *
 * Reclaim. A tombstone goes back to EMPTY when no chain crosses it (no
 * later slot of its cluster holds a tuple whose home is at or before it;
 * a BUSY slot, whose home is unknown, counts as crossing) and it is at
 * least three epochs old. Userspace waits an RCU grace period G(e) before
 * it makes epoch e current (membarrier GLOBAL: synchronize_rcu). A data
 * path run P that made a tombstone of epoch e read e before e + 1 was
 * stored, so G(e + 2) waits for P; a walk W that saw the slot FULL began
 * before P's store, hence before P ended, hence before G(e + 2) ended and
 * G(e + 3) began: G(e + 3) waits for W. So at epoch e + 3 every walk that
 * could have seen the slot FULL has ended. The collector's own tombstones
 * (a move's source) are made inside a pass, which has ended before the
 * next G begins: one epoch is enough, so they are dated two epochs back
 * (never reused within the pass that made them). A walk that began
 * later sees the tombstone: an insert through it claims it (or an earlier
 * slot) and never goes past it unclaimed, so no new chain can cross it
 * while its tag holds; the cmpxchg to EMPTY fails if the tag moved (the
 * epoch makes every tombstone's tag new). Candidates are kept in position
 * order; a crossing tuple with home h takes back every candidate at or
 * after h, so what is left when the cluster's EMPTY end is reached is
 * reclaimed.
 *
 * The home of a tuple (a hash of its key) is computed only when a hole or
 * a candidate is pending: a tidy cluster costs a tag read a slot.
 */
struct collector coll;

#define COLL_USED 0xffffffffu

static __always_inline __u32 coll_rel(__u32 pos)
{
	return pos >= coll.start ? pos - coll.start : pos + slots_n - coll.start;
}

static __always_inline __u32 slot_home(const struct slot *s)
{
	struct tcps_key k = {};

	__builtin_memcpy(k.addr, s->addr, sizeof(k.addr));
	k.port[0] = s->port[0];
	k.port[1] = s->port[1];
	k.family = s->tag & SLOT_V6 ? TCPS_AF_INET6 : TCPS_AF_INET;
	return slots_home(slots_hash(&k, slots_seed), slots_n);
}

/* The cluster ended at an EMPTY slot: its remaining candidates go EMPTY
 * (keeping a home ILOCK bit that may have been set meanwhile). */
static long coll_reclaim_step(__u32 j, void *arg)
{
	struct slot *s;
	__u32 t, r;

	(void)arg;
	if (j >= COLL_CANDS || j >= coll.nc)
		return 1;
	s = slot_at(coll.cp[j], 0);
	if (!s)
		return 0;
	t = coll.ct[j];
	r = __sync_val_compare_and_swap(&s->tag, t, t & SLOT_ILOCK);
	if (r != t && (r ^ t) == SLOT_ILOCK)
		r = __sync_val_compare_and_swap(&s->tag, r, r & SLOT_ILOCK) == r ? t : r;
	coll.reclaimed += r == t;
	return 0;
}

static __always_inline void coll_cluster_end(__u32 pos)
{
	bpf_loop(COLL_CANDS, coll_reclaim_step, NULL, 0);
	coll.nc = coll.nh = coll.first = 0;
	coll.start = pos + 1 < slots_n ? pos + 1 : 0;
}

/* A tuple whose home is at rel h crosses every candidate at or after h:
 * pop them (candidates are in position order). */
static long coll_cross_step(__u32 j, void *arg)
{
	__u32 h = *(__u32 *)arg;

	(void)j;
	if (!coll.nc || coll.nc > COLL_CANDS ||
	    coll_rel(coll.cp[(coll.nc - 1) & (COLL_CANDS - 1)]) < h)
		return 1;
	coll.nc--;
	coll.crossed++;
	return 0;
}

static __always_inline void coll_crossed(__u32 h)
{
	bpf_loop(COLL_CANDS, coll_cross_step, &h, 0);
}

/* The first unused hole at or after rel h: its index, or -1. */
struct hole_ctx {
	__u32 h;
	int j;
};

static long coll_hole_step(__u32 i, void *arg)
{
	struct hole_ctx *c = arg;
	__u32 j = coll.first + i, p;

	if (j >= coll.nh || j >= COLL_HOLES)
		return 1;
	p = coll.hp[j];
	if (p == COLL_USED || coll_rel(p) < c->h)
		return 0;
	c->j = (int)j;
	return 1;
}

static __always_inline int coll_hole(__u32 h)
{
	struct hole_ctx c = { .h = h, .j = -1 };

	bpf_loop(COLL_HOLES, coll_hole_step, &c, 0);
	return c.j;
}

static __always_inline void coll_add_hole(__u32 pos, __u32 tag)
{
	if (coll.nh < COLL_HOLES) {
		coll.hp[coll.nh & (COLL_HOLES - 1)] = pos;
		coll.ht[coll.nh & (COLL_HOLES - 1)] = tag;
		coll.nh++;
	}
}

/* Copy the tuple at sq into the claimed (BUSY) hole sp, publish the
 * copy, tombstone the source: lookups meet the copy first. */
static __always_inline void slot_copy(struct slot *sp, struct slot *sq, __u32 want, __u32 tomb)
{
	__builtin_memcpy(sp->addr, sq->addr, sizeof(sp->addr));
	sp->port[0] = sq->port[0];
	sp->port[1] = sq->port[1];
	sp->fsm = sq->fsm;
	sp->first_tick = sq->first_tick;
	sp->last_tick = sq->last_tick;
	__sync_fetch_and_xor(&sp->tag, SLOT_BUSY ^ want);
	__sync_fetch_and_xor(&sq->tag, want ^ tomb);
}

static __always_inline void coll_hole_used(int j)
{
	coll.hp[j & (COLL_HOLES - 1)] = COLL_USED;
	while (coll.first < coll.nh && coll.first < COLL_HOLES &&
	       coll.hp[coll.first & (COLL_HOLES - 1)] == COLL_USED)
		coll.first++;
}

/*
 * Move the tuple at q (tag want, home home) into hole j; 1 if moved. All
 * under the source's lock (no FSM step runs on it; interrupts off, so the
 * home ILOCK taken inside is never held across a preemption): the home
 * ILOCK if free, the hole's claim if it is still the tombstone it was,
 * the copy. A tuple whose slot or home changed stays where it is.
 */
static __always_inline int coll_move(struct slot *sq, __u32 q, __u32 want, __u32 home, int j)
{
	/* dated two epochs back: see "Reclaim" above */
	__u32 tomb = slots_tomb(SLOT_READ(slots_epoch) - 2), tp;
	struct slot *hs = slot_at(home, 0), *sp;
	int ok = 0, claimed = 0;

	if (j < 0 || j >= COLL_HOLES)
		return 0;
	tp = coll.ht[j];
	sp = slot_at(coll.hp[j], 0);
	if (!hs || !sp)
		return 0;
	bpf_spin_lock(&sq->lock);
	if ((SLOT_READ(sq->tag) & ~SLOT_ILOCK) == want &&
	    !(__sync_fetch_and_or(&hs->tag, SLOT_ILOCK) & SLOT_ILOCK)) {
		claimed = try_claim(sp, tp);
		if (claimed)
			slot_copy(sp, sq, want, tomb);
		__sync_fetch_and_and(&hs->tag, ~SLOT_ILOCK);
		ok = claimed;
	}
	bpf_spin_unlock(&sq->lock);
	if (claimed)
		coll_hole_used(j);
	if (ok)
		coll_add_hole(q, tomb);
	return ok;
}

/* A FULL slot: move it back if a hole at or after its home is pending;
 * then it crosses the candidates at or after its home. */
static __always_inline void coll_full(struct slot *s, __u32 pos, __u32 t)
{
	__u32 home, h;

	coll.full++;
	if (coll.first >= coll.nh && !coll.nc)
		return;
	home = slot_home(s);
	h = coll_rel(home);
	if (h > coll_rel(pos))	/* home outside the cluster: cannot be; leave it */
		h = 0;
	else if (coll_move(s, pos, t & ~SLOT_ILOCK, home, coll_hole(h)))
		coll.moved++;
	coll_crossed(h);
}

static __always_inline void coll_tomb(__u32 pos, __u32 t)
{
	__u32 epoch = SLOT_READ(slots_epoch);

	coll.tombs++;
	coll_add_hole(pos, t);
	/* three epochs old (28-bit generations), and room to keep it */
	if (((epoch - (t >> 4)) & 0x0fffffffu) >= 3 && coll.nc < COLL_CANDS) {
		coll.cp[coll.nc & (COLL_CANDS - 1)] = pos;
		coll.ct[coll.nc & (COLL_CANDS - 1)] = t;
		coll.nc++;
	}
}

static long coll_step(__u32 i, void *arg)
{
	__u32 pos = coll.e0 + 1 + i, t, st;
	struct slot *s;

	(void)arg;
	if (pos >= slots_n)
		pos -= slots_n;
	s = slot_at(pos, 0);
	if (!s)
		return 1;
	t = SLOT_READ(s->tag);
	st = t & SLOT_STATE;
	if (st == SLOT_EMPTY)
		coll_cluster_end(pos);
	else if (st == SLOT_TOMB)
		coll_tomb(pos, t);
	else if (st == SLOT_FULL)
		coll_full(s, pos, t);
	else
		coll.nc = 0;	/* BUSY: home unknown, crosses everything */
	return 0;
}

static long coll_find_empty(__u32 i, void *arg)
{
	struct slot *s = slot_at(i, 0);

	(void)arg;
	if (s && (SLOT_READ(s->tag) & SLOT_STATE) == SLOT_EMPTY) {
		coll.e0 = i;
		return 1;
	}
	return 0;
}

/* One pass: from after the first EMPTY slot all the way round to it. A
 * table with no EMPTY slot is left alone (returns 1). */
SEC("syscall")
int slots_collect_run(void *ctx)
{
	(void)ctx;
	coll.e0 = COLL_USED;
	coll.moved = coll.reclaimed = coll.tombs = coll.full = coll.crossed = 0;
	bpf_loop(slots_n, coll_find_empty, NULL, 0);
	if (coll.e0 == COLL_USED)
		return 1;
	coll.nc = coll.nh = coll.first = 0;
	coll.start = coll.e0 + 1 < slots_n ? coll.e0 + 1 : 0;
	bpf_loop(slots_n, coll_step, NULL, 0);
	return 0;
}
