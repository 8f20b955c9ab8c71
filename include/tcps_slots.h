/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A connection table of our own (bench/NOTES.md "A table of our own"): an
 * array of fixed slots, open addressing with linear probing from the
 * tuple's home slot, lock-free lookups, tombstones and a collector. Pure C
 * like tcp_fsm.h: the prototype's BPF object (bench/slots.bpf.c) and the
 * native tests (tests/unit/test_slots.c) compile the same algorithm, each
 * supplying the few primitives that differ (declared below).
 *
 * The tag, the first word of a slot, changes only by atomics:
 *
 *   bits 0-1  state: EMPTY, TOMB (deleted), BUSY (being written), FULL
 *   bit  2    ILOCK: an insert of a tuple whose home is this slot is in
 *             progress (serialises inserts of one tuple)
 *   bit  3    the tuple's family is IPv6 (FULL only)
 *   bits 4-31 fingerprint of the tuple hash (FULL), the collector's epoch
 *             when it was made (TOMB: tcps_slots_tomb)
 *
 * Slot layout: the table's part, struct tcps_slot_hdr (tag and canonical
 * tuple, 40 bytes), comes first and the includer's payload follows it at
 * offset 40, so a slot is `struct { struct tcps_slot_hdr h; PAYLOAD; }`.
 * A fixed offset rather than a payload type parameter: the algorithm then
 * needs no macro-generated types, bench/slots.c can read a copied table
 * with this header alone, and 40 is 8-aligned, so the product's struct
 * tcps_conn (u64 fields) fits after it with no hole. The slot's spin lock
 * is the payload's, not the header's: a BPF map value may hold one
 * bpf_spin_lock and tcps_conn has its own; the includer's tcps_slot_lock
 * finds it. A lock nested one struct deep is fine: kernel 6.18 loads an
 * array of `struct { hdr; struct { struct bpf_spin_lock l; ... } c; }`
 * with bpf_spin_lock(&s->c.l) (checked by hand with bpftool prog load),
 * so tcps_conn can be the payload as it is. The algorithm touches the
 * payload only through the includer's init and copy.
 *
 * Without TCPS_SLOTS_INLINE this header gives only the layout, the tags
 * and the hash (readers of a copied table). With it, the algorithm; the
 * includer defines first:
 *   TCPS_SLOTS_INLINE       static __always_inline in BPF, static inline natively
 *   TCPS_SLOTS_READ(x)      one read of a word other CPUs write (volatile in
 *                           BPF, clang 14 has no BPF atomic load; an
 *                           acquire load natively, which TSan understands)
 *   TCPS_SLOTS_WRITE(x, v)  a store of a key word lookups may read at the
 *                           same time (plain in BPF, relaxed atomic natively)
 * and defines after it the primitives declared in the second part.
 * Atomic read-modify-writes are clang's and gcc's __sync builtins, fully
 * ordered, which BPF has with -mcpu=v3.
 */
#ifndef TCPS_SLOTS_H
#define TCPS_SLOTS_H

#include "tcpscope.h"

#define TCPS_SLOT_EMPTY 0u
#define TCPS_SLOT_TOMB 1u
#define TCPS_SLOT_BUSY 2u
#define TCPS_SLOT_FULL 3u
#define TCPS_SLOT_STATE 3u
#define TCPS_SLOT_ILOCK 4u
#define TCPS_SLOT_V6 8u

#ifndef TCPS_SLOTS_PROBE_MAX
#define TCPS_SLOTS_PROBE_MAX 4096	/* slots a lookup or insert walks at most */
#endif
#ifndef TCPS_SLOTS_PROBE_INLINE
#define TCPS_SLOTS_PROBE_INLINE 16	/* of which a lookup walks unrolled */
#endif

#ifndef TCPS_SLOTS_READ
#ifdef TCPS_SLOTS_INLINE
#error "the algorithm needs TCPS_SLOTS_READ and TCPS_SLOTS_WRITE"
#endif
#define TCPS_SLOTS_READ(x) (x)		/* a table copy: nobody writes it */
#endif

/* The table's part of a slot; the payload follows at offset 40. */
struct tcps_slot_hdr {
	__u32 tag;
	__u32 addr[2][4];	/* canonical tuple as struct tcps_key (IPv4 in [i][0]) */
	__u32 ports;		/* struct tcps_key's port[2], as one word */
};
_Static_assert(sizeof(struct tcps_slot_hdr) == 40, "the payload starts at offset 40");

static inline __u32 tcps_slots_fmix(__u32 h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

/* A key's two ports as one word, laid out as in the key. */
static inline __u32 tcps_slots_ports(const struct tcps_key *k)
{
	__u32 p;

	__builtin_memcpy(&p, k->port, sizeof(p));
	return p;
}

/* One 64-bit step of the tuple hash: xor a word in, multiply by an odd
 * constant (low bits to high), fold the high bits back down. */
static inline __u64 tcps_slots_mix64(__u64 h, __u64 w)
{
	h = (h ^ w) * 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 29);
}

static inline __u64 tcps_slots_word64(__u32 hi, __u32 lo)
{
	return (__u64)hi << 32 | lo;
}

/*
 * The tuple's hash, seeded per table, its words by family: an IPv4 tuple
 * is its 12 bytes (the two addresses as one 64-bit word, then the ports),
 * an IPv6 one its four 64-bit address halves, then the ports: two
 * multiplies or five, where a 32-bit murmur of all nine words took two a
 * word (~60 BPF instructions the hot path paid, bench/NOTES.md). The last
 * product's halves are folded together, so the top bits the home takes
 * depend on every word. Not keyed against hash flooding beyond the random seed; a
 * flood ends in bounded probe walks (TCPS_SLOTS_PROBE_MAX) that fail open.
 */
static inline __u32 tcps_slots_hash(const struct tcps_key *k, __u32 seed)
{
	const __u32 *a = k->addr[0], *b = k->addr[1];
	__u64 h = tcps_slots_word64(seed, seed);

	if (k->family == TCPS_AF_INET6) {
		h = tcps_slots_mix64(h, tcps_slots_word64(a[0], a[1]));
		h = tcps_slots_mix64(h, tcps_slots_word64(a[2], a[3]));
		h = tcps_slots_mix64(h, tcps_slots_word64(b[0], b[1]));
		h = tcps_slots_mix64(h, tcps_slots_word64(b[2], b[3]));
	} else {
		h = tcps_slots_mix64(h, tcps_slots_word64(a[0], b[0]));
	}
	h = (h ^ tcps_slots_ports(k)) * 0xbf58476d1ce4e5b9ull;
	return (__u32)(h >> 32) ^ (__u32)h;
}

/* Home slot: the hash's top bits scaled to n (no power of two needed). */
static inline __u32 tcps_slots_home(__u32 h, __u32 n)
{
	return (__u32)(((__u64)h * n) >> 32);
}

/* Tag of the tuple once FULL: fingerprint from a second mix (independent
 * of the home's bits), family, state. */
static inline __u32 tcps_slots_want(__u32 h, __u8 family)
{
	return (tcps_slots_fmix(h ^ 0x5bd1e995u) & ~15u) |
	       (family == TCPS_AF_INET6 ? TCPS_SLOT_V6 : 0) | TCPS_SLOT_FULL;
}

/* A tombstone's tag: the collector's epoch in the fingerprint bits. */
static inline __u32 tcps_slots_tomb(__u32 epoch)
{
	return epoch << 4 | TCPS_SLOT_TOMB;
}

/* The tuple of a FULL slot with tag t; the family is the tag's bit. */
static inline void tcps_slot_key(const struct tcps_slot_hdr *s, __u32 t, struct tcps_key *k)
{
	const __u32 *a = &s->addr[0][0];
	__u32 *b = &k->addr[0][0];
	__u32 p = TCPS_SLOTS_READ(s->ports);
	int i;

	__builtin_memset(k, 0, sizeof(*k));
	for (i = 0; i < 8; i++)
		b[i] = TCPS_SLOTS_READ(a[i]);
	__builtin_memcpy(k->port, &p, sizeof(p));
	k->family = t & TCPS_SLOT_V6 ? TCPS_AF_INET6 : TCPS_AF_INET;
}

/*
 * The product's connection table, tcps_conns: a BPF array of these (the
 * half-open table, tcps_halfopen, stays a preallocated BPF hash map of
 * struct tcps_conn, so a SYN flood fills only it). With health off the
 * array's value ends before c.ifindex (TCPS_SLOT_SIZE_SLIM): the
 * counters and the health block are not there.
 */
struct tcps_slot {
	struct tcps_slot_hdr h;
	struct tcps_conn c;
};
#define TCPS_SLOT_SIZE_FULL ((__u32)sizeof(struct tcps_slot))
#define TCPS_SLOT_SIZE_SLIM ((__u32)(sizeof(struct tcps_slot_hdr) + TCPS_CONN_SIZE_SLIM))

/* Slots for a table of max_conns connections: a load of 7/8 at most. */
static inline __u32 tcps_slots_for(__u32 max_conns)
{
	return (__u32)(((__u64)max_conns * 8 + 6) / 7);
}

/* The cap on slots not EMPTY in a table of n slots: 7/8 of them, which
 * for n = tcps_slots_for(m) is exactly m (so --max-conns holds). */
static inline __u32 tcps_slots_cap_of(__u32 n)
{
	return (__u32)((__u64)n * 7 / 8);
}

/*
 * Userspace's writes by key (seeding, expiry, replay), which need the
 * tag's atomics: BPF_PROG_TYPE_SYSCALL program tcps_sys of the data path's
 * object, run through BPF_PROG_TEST_RUN with one of these as its context
 * (ctx_in, which the kernel writes back: a syscall program takes no
 * ctx_out).
 */
enum tcps_sys_op {
	TCPS_SYS_INSERT = 1,	/* conn under key unless there: 0, -EEXIST, -E2BIG (full) */
	TCPS_SYS_TAKE,		/* delete key's entry, its value under its lock into conn: 0, -ENOENT */
};
struct tcps_sys_req {
	struct tcps_key key;
	__u32 op;		/* enum tcps_sys_op */
	__s32 ret;		/* out: 0 or -errno */
	struct tcps_conn conn;	/* in (INSERT) or out (TAKE); c.h only with health on */
};

/* The collector's state between the steps of one pass (tcps_slots_collect
 * below), and its counters for the pass. */
#define TCPS_COLL_HOLES 256	/* pending holes of one cluster */
#define TCPS_COLL_CANDS 256	/* pending reclaim candidates of one cluster */

struct tcps_slots_coll {
	/* Set by the caller, kept across passes: nonzero, reclaim only (no
	 * compaction: no tuple ever moves, so a slot found without its lock
	 * is still the tuple's when the lock is taken). */
	__u32 no_moves;
	__u32 e0;		/* the EMPTY slot the pass starts after */
	__u32 base;		/* the current loop's first step (tcps_coll_loop) */
	__s64 used0;		/* tcps_slots_used() when the pass began */
	__u32 start;		/* first slot of the current cluster */
	__u32 nh, first;	/* holes hp/ht[first..nh) (UINT32 max: used) */
	__u32 nc;		/* candidates cp/ct[0..nc) */
	__u32 hp[TCPS_COLL_HOLES], ht[TCPS_COLL_HOLES];
	__u32 cp[TCPS_COLL_CANDS], ct[TCPS_COLL_CANDS];
	__u64 moved, reclaimed, tombs, full, crossed;
	__u64 busy;		/* BUSY slots the pass met */
	__s64 recount;		/* what the pass corrected tcps_slots_used() by */
};

#ifdef TCPS_SLOTS_INLINE
/* ---- the algorithm ----
 *
 * Concurrency. Lookups read the tag, compare the key, read the tag again:
 * a key is written only while its slot is BUSY (invisible) and never
 * changes while FULL, so a key compared between two reads of the same FULL
 * tag is the published one (a torn read of a slot being reused shows as a
 * changed tag and is skipped; the remaining ABA, delete and reinsert of a
 * tuple with the same 28-bit fingerprint inside one compare, is ignored).
 * Inserts of one tuple all start at its home slot and are serialised by
 * the ILOCK bit of the home's tag: the holder walks the chain again (the
 * tuple may have been inserted meanwhile: TCPS_SLOTS_RACED), claiming on
 * the way the first TOMB or EMPTY slot with a cmpxchg on its tag (inserts
 * of other tuples compete for it too: the loser walks on), writes the key
 * and the payload, publishes with one atomic xor (BUSY -> FULL with the
 * fingerprint), and drops ILOCK. So two CPUs inserting one tuple never
 * make two copies. Delete is a tombstone (FULL -> TOMB under the slot's
 * lock), reused by later inserts; a backward shift cannot be done without
 * a lock over the whole chain: the collector compacts instead.
 */

/* Primitives, defined by the includer. */
/* Slots in the table, the hash seed, the collector's current epoch. */
TCPS_SLOTS_INLINE __u32 tcps_slots_n(void);
TCPS_SLOTS_INLINE __u32 tcps_slots_seed(void);
TCPS_SLOTS_INLINE __u32 tcps_slots_epoch(void);
/* Slot i, NULL if i >= tcps_slots_n(). */
TCPS_SLOTS_INLINE struct tcps_slot_hdr *tcps_slot_get(__u32 i);
/* The payload's spin lock (bpf_spin_lock in BPF: no helper call inside). */
TCPS_SLOTS_INLINE void tcps_slot_lock(struct tcps_slot_hdr *s);
TCPS_SLOTS_INLINE void tcps_slot_unlock(struct tcps_slot_hdr *s);
/* The payload of a new tuple (init: the insert's argument), and a move's
 * copy of it (under src's lock; dst is BUSY). Never the lock itself. */
TCPS_SLOTS_INLINE void tcps_slot_payload_init(struct tcps_slot_hdr *s, const void *init);
TCPS_SLOTS_INLINE void tcps_slot_payload_copy(struct tcps_slot_hdr *dst,
					      const struct tcps_slot_hdr *src);
/* step(i, ctx) for i = 0..n-1 until it returns nonzero (bpf_loop in BPF:
 * the verifier checks one step, not n unrolled ones). */
TCPS_SLOTS_INLINE void tcps_slots_loop(__u32 n, long (*step)(__u32 i, void *ctx), void *ctx);
/* The collector's state: one pass at a time. */
TCPS_SLOTS_INLINE struct tcps_slots_coll *tcps_slots_coll(void);
/* The table's count of slots that are not EMPTY (FULL, TOMB, BUSY), kept
 * by the algorithm with atomics, and its cap: an insert takes an EMPTY
 * slot only while the count is below it (a table's --max-conns), so
 * EMPTY slots always remain: a miss's walk ends, and the collector has a
 * place to start from. */
TCPS_SLOTS_INLINE __u64 *tcps_slots_used(void);
TCPS_SLOTS_INLINE __u32 tcps_slots_cap(void);

/* Loop steps: real functions in BPF (bpf_loop takes their address); not
 * every native includer uses every one. */
#define TCPS_SLOTS_STEP static long __attribute__((unused))

/* Walk index i from home as a slot index: wraps at the array's end once
 * (a walk longer than the table ends at a NULL slot). */
TCPS_SLOTS_INLINE __u32 tcps_slot_idx(__u32 home, __u32 i)
{
	__u32 idx = home + i, n = tcps_slots_n();

	return idx >= n ? idx - n : idx;
}

/* Slot i of the walk from home. */
TCPS_SLOTS_INLINE struct tcps_slot_hdr *tcps_slot_at(__u32 home, __u32 i)
{
	return tcps_slot_get(tcps_slot_idx(home, i));
}

/* s holds k, given that its tag has k's family (the tag's V6 bit, checked
 * by the caller): an IPv4 tuple is three words, its other address words
 * zero in every key (tcps_key_make), so they need no compare. */
TCPS_SLOTS_INLINE int tcps_slot_key_eq(const struct tcps_slot_hdr *s, const struct tcps_key *k)
{
	const __u32 *a = &s->addr[0][0], *b = &k->addr[0][0];
	int i;

	if (TCPS_SLOTS_READ(s->ports) != tcps_slots_ports(k))
		return 0;
	if (k->family != TCPS_AF_INET6)
		return TCPS_SLOTS_READ(a[0]) == b[0] && TCPS_SLOTS_READ(a[4]) == b[4];
	for (i = 0; i < 8; i++)
		if (TCPS_SLOTS_READ(a[i]) != b[i])
			return 0;
	return 1;
}

/* Tag and key match, and the tag did not move while the key was read. */
TCPS_SLOTS_INLINE int tcps_slot_is(const struct tcps_slot_hdr *s, __u32 t, __u32 want,
				   const struct tcps_key *k)
{
	return (t & ~TCPS_SLOT_ILOCK) == want && tcps_slot_key_eq(s, k) &&
	       (TCPS_SLOTS_READ(s->tag) & ~TCPS_SLOT_ILOCK) == want;
}

/* One step of a lookup past the unrolled ones. */
struct tcps_slots_find {
	const struct tcps_key *k;
	struct tcps_slot_hdr *s;
	__u32 home, want, n;
};

TCPS_SLOTS_STEP tcps_slots_find_step(__u32 i, void *arg)
{
	struct tcps_slots_find *f = arg;
	struct tcps_slot_hdr *s = tcps_slot_at(f->home, i + TCPS_SLOTS_PROBE_INLINE);
	__u32 t;

	f->n = i + 1;
	if (!s)
		return 1;
	t = TCPS_SLOTS_READ(s->tag);
	if ((t & TCPS_SLOT_STATE) == TCPS_SLOT_EMPTY)
		return 1;
	if (tcps_slot_is(s, t, f->want, f->k))
		f->s = s;
	return f->s != NULL;
}

/* The first TCPS_SLOTS_PROBE_INLINE slots of a lookup of k, unrolled: k's
 * slot, or NULL with *i the slots read; *i == TCPS_SLOTS_PROBE_INLINE
 * then says the walk goes on (tcps_slots_find_far). */
TCPS_SLOTS_INLINE struct tcps_slot_hdr *tcps_slots_find_near(const struct tcps_key *k, __u32 home,
							     __u32 want, __u32 *i)
{
	struct tcps_slot_hdr *s;
	__u32 j, t;

	for (j = 0; j < TCPS_SLOTS_PROBE_INLINE; j++) {
		s = tcps_slot_at(home, j);
		if (!s)
			break;
		t = TCPS_SLOTS_READ(s->tag);
		if ((t & TCPS_SLOT_STATE) == TCPS_SLOT_EMPTY)
			break;
		if (tcps_slot_is(s, t, want, k)) {
			*i = j;
			return s;
		}
	}
	*i = j;
	return NULL;
}

#define TCPS_SLOTS_NONE 0xffffffffu	/* no slot (an index) */

/* The rest of a lookup, past the unrolled slots, in a loop: the index of
 * k's slot or TCPS_SLOTS_NONE; *n: the loop's steps. The includer may
 * wrap it in a function of its own (in BPF a global one, verified once:
 * it returns an index because a global function returns a scalar). */
TCPS_SLOTS_INLINE __u32 tcps_slots_find_far(const struct tcps_key *k, __u32 home, __u32 want,
					    __u32 *n)
{
	struct tcps_slots_find f = { .k = k, .home = home, .want = want };

	tcps_slots_loop(TCPS_SLOTS_PROBE_MAX - TCPS_SLOTS_PROBE_INLINE, tcps_slots_find_step, &f);
	*n = f.n;
	return f.s ? tcps_slot_idx(home, TCPS_SLOTS_PROBE_INLINE + f.n - 1) : TCPS_SLOTS_NONE;
}

/* Lock-free lookup of k (home and want from its hash): walk from home to
 * the first EMPTY slot, the first TCPS_SLOTS_PROBE_INLINE slots unrolled,
 * the rest (rare) in a loop. *walked: the slots it read. */
TCPS_SLOTS_INLINE struct tcps_slot_hdr *tcps_slots_find(const struct tcps_key *k, __u32 home,
							__u32 want, __u32 *walked)
{
	struct tcps_slot_hdr *s;
	__u32 i, n, idx;

	s = tcps_slots_find_near(k, home, want, &i);
	if (!s && i == TCPS_SLOTS_PROBE_INLINE) {
		idx = tcps_slots_find_far(k, home, want, &n);
		s = idx == TCPS_SLOTS_NONE ? NULL : tcps_slot_get(idx);
		i += n;
	}
	*walked = i + 1;
	return s;
}

/* ILOCK of the home slot: held by another CPU for one insert at most (a
 * walk to the end of the chain, microseconds at high load), so spin up to
 * TCPS_SLOTS_ILOCK_SPINS reads, then give up (fail open). */
#define TCPS_SLOTS_ILOCK_SPINS 65536

struct tcps_slots_ilock {
	struct tcps_slot_hdr *hs;
	int got;
};

TCPS_SLOTS_STEP tcps_slots_ilock_step(__u32 j, void *arg)
{
	struct tcps_slots_ilock *l = arg;

	(void)j;
	l->got = !(TCPS_SLOTS_READ(l->hs->tag) & TCPS_SLOT_ILOCK) &&
		 !(__sync_fetch_and_or(&l->hs->tag, TCPS_SLOT_ILOCK) & TCPS_SLOT_ILOCK);
	return l->got;
}

/* 0 with ILOCK held, -1 if another holder kept it too long. */
TCPS_SLOTS_INLINE int tcps_slots_ilock_take(struct tcps_slot_hdr *hs)
{
	struct tcps_slots_ilock l = { .hs = hs };

	if (!(__sync_fetch_and_or(&hs->tag, TCPS_SLOT_ILOCK) & TCPS_SLOT_ILOCK))
		return 0;
	tcps_slots_loop(TCPS_SLOTS_ILOCK_SPINS, tcps_slots_ilock_step, &l);
	return l.got ? 0 : -1;
}

/* Free (TOMB or EMPTY) slot seen with tag t -> BUSY, keeping its ILOCK
 * bit; once more if only that bit moved meanwhile. */
TCPS_SLOTS_INLINE int tcps_slot_claim(struct tcps_slot_hdr *s, __u32 t)
{
	__u32 r = __sync_val_compare_and_swap(&s->tag, t, (t & TCPS_SLOT_ILOCK) | TCPS_SLOT_BUSY);

	if (r == t)
		return 1;
	if ((r ^ t) != TCPS_SLOT_ILOCK)
		return 0;
	return __sync_val_compare_and_swap(&s->tag, r, (r & TCPS_SLOT_ILOCK) | TCPS_SLOT_BUSY) == r;
}

/* One more slot leaves EMPTY (d = 1: nonzero if the cap allows, counted)
 * or comes back to it (d = -1). The count is signed: a table adopted by a
 * new object starts it at 0, below the truth, until the collector's
 * recount (tcps_slots_collect). */
TCPS_SLOTS_INLINE int tcps_slots_use(int d)
{
	__u64 *u = tcps_slots_used();

	if (d < 0) {
		__sync_fetch_and_add(u, (__u64)-1);
		return 1;
	}
	if ((__s64)__sync_fetch_and_add(u, 1) < (__s64)tcps_slots_cap())
		return 1;
	__sync_fetch_and_add(u, (__u64)-1);
	return 0;
}

/* State of one insert's walk under ILOCK. */
struct tcps_slots_walk {
	const struct tcps_key *k;
	struct tcps_slot_hdr *mine, *found;
	__u32 home, want;
	int stop;		/* insert gives up: an EMPTY slot it could not claim */
	int capped;		/* ... because the table is at its cap */
};

/* Claim free slot s seen with tag t; an EMPTY one only within the cap. */
TCPS_SLOTS_INLINE int tcps_slot_claim_free(struct tcps_slots_walk *w, struct tcps_slot_hdr *s,
					   __u32 t)
{
	if ((t & TCPS_SLOT_STATE) != TCPS_SLOT_EMPTY)
		return tcps_slot_claim(s, t);
	if (!tcps_slots_use(1)) {
		w->capped = 1;
		return 0;
	}
	if (tcps_slot_claim(s, t))
		return 1;
	tcps_slots_use(-1);
	return 0;
}

TCPS_SLOTS_STEP tcps_slots_walk_step(__u32 i, void *arg)
{
	struct tcps_slots_walk *w = arg;
	struct tcps_slot_hdr *s = tcps_slot_at(w->home, i);
	__u32 t, st;

	if (!s)
		return 1;
	t = TCPS_SLOTS_READ(s->tag);
	st = t & TCPS_SLOT_STATE;
	if (st == TCPS_SLOT_FULL && tcps_slot_is(s, t, w->want, w->k)) {
		w->found = s;
		return 1;
	}
	if (st == TCPS_SLOT_FULL || st == TCPS_SLOT_BUSY)
		return 0;
	if (!w->mine && tcps_slot_claim_free(w, s, t)) {
		w->mine = s;
		return st == TCPS_SLOT_EMPTY;
	}
	if (w->capped) {	/* an EMPTY slot, the chain's end, not ours to take */
		w->stop = 1;
		return 1;
	}
	/* A failed claim: another insert took the slot, or the collector made
	 * the tombstone EMPTY, which ends the chain here: claim it as such. */
	t = TCPS_SLOTS_READ(s->tag);
	st = t & TCPS_SLOT_STATE;
	if (st != TCPS_SLOT_EMPTY)
		return 0;
	if (!w->mine && tcps_slot_claim_free(w, s, t))
		w->mine = s;
	w->stop = !w->mine;
	return 1;
}

/* What an insert did; TCPS_SLOTS_INSERTED and _RACED give a slot. */
enum tcps_slots_ins {
	TCPS_SLOTS_INSERTED = 0,	/* in a free slot */
	TCPS_SLOTS_RACED,	/* absent at lookup, present under ILOCK */
	TCPS_SLOTS_FULLCHAIN,	/* no free slot within TCPS_SLOTS_PROBE_MAX, or the
				 * table at its cap (tcps_slots_cap): not tracked */
	TCPS_SLOTS_CLAIMLOST,	/* an EMPTY slot's claim failed twice: not tracked */
	TCPS_SLOTS_ILOCKED,	/* ILOCK held too long by another CPU: not tracked */
};

/*
 * Under ILOCK, one walk of the chain: claims its first free slot on the
 * way and goes on to the first EMPTY, since the tuple may sit past a
 * tombstone. The tuple's slot if another CPU inserted it meanwhile (a
 * claimed tombstone is given back), else the claimed BUSY slot, else
 * NULL. An EMPTY slot is never passed unclaimed (that would cut the
 * chain): if its claim fails and it is still EMPTY, the insert gives up.
 */
TCPS_SLOTS_INLINE struct tcps_slot_hdr *tcps_slots_chain_claim(const struct tcps_key *k,
							       __u32 home, __u32 want, int *res)
{
	struct tcps_slots_walk w = { .k = k, .home = home, .want = want };

	tcps_slots_loop(TCPS_SLOTS_PROBE_MAX, tcps_slots_walk_step, &w);
	if (w.found) {
		if (w.mine)
			__sync_fetch_and_xor(&w.mine->tag, TCPS_SLOT_BUSY ^ TCPS_SLOT_TOMB);
		*res = TCPS_SLOTS_RACED;
		return w.found;
	}
	if (w.stop) {
		*res = w.capped ? TCPS_SLOTS_FULLCHAIN : TCPS_SLOTS_CLAIMLOST;
		return NULL;
	}
	*res = w.mine ? TCPS_SLOTS_INSERTED : TCPS_SLOTS_FULLCHAIN;
	return w.mine;
}

TCPS_SLOTS_INLINE void tcps_slot_key_set(struct tcps_slot_hdr *s, const struct tcps_key *k)
{
	__u32 *a = &s->addr[0][0];
	const __u32 *b = &k->addr[0][0];
	int i;

	for (i = 0; i < 8; i++)
		TCPS_SLOTS_WRITE(a[i], b[i]);
	TCPS_SLOTS_WRITE(s->ports, tcps_slots_ports(k));
}

/* Insert k (absent at its lookup) under its home's ILOCK; the payload
 * from init. Publish BUSY -> FULL with one xor (fully ordered: the key
 * and payload are visible before the tag). enum tcps_slots_ins; *out is
 * the tuple's slot for _INSERTED and _RACED. */
TCPS_SLOTS_INLINE int tcps_slots_insert(const struct tcps_key *k, __u32 home, __u32 want,
					const void *init, struct tcps_slot_hdr **out)
{
	struct tcps_slot_hdr *hs = tcps_slot_at(home, 0), *s;
	int res;

	*out = NULL;
	if (!hs)
		return TCPS_SLOTS_FULLCHAIN;
	if (tcps_slots_ilock_take(hs))
		return TCPS_SLOTS_ILOCKED;
	s = tcps_slots_chain_claim(k, home, want, &res);
	if (res == TCPS_SLOTS_INSERTED) {
		tcps_slot_key_set(s, k);
		tcps_slot_payload_init(s, init);
		__sync_fetch_and_xor(&s->tag,
				     (want & ~TCPS_SLOT_STATE) | (TCPS_SLOT_BUSY ^ TCPS_SLOT_FULL));
	}
	__sync_fetch_and_and(&hs->tag, ~TCPS_SLOT_ILOCK);
	*out = s;
	return res;
}

/* Tombstone under the slot's lock, so no payload update (which takes the
 * lock and checks the tag first) runs on a slot going away. The tombstone
 * carries the collector's epoch in the fingerprint bits: its age, and
 * what makes the collector's cmpxchg fail on a slot reused and deleted
 * again since it looked (ABA). 1 if this call deleted it. */
TCPS_SLOTS_INLINE int tcps_slots_delete(struct tcps_slot_hdr *s, __u32 want)
{
	__u32 tomb = tcps_slots_tomb(tcps_slots_epoch());
	int done = 0;

	tcps_slot_lock(s);
	if ((TCPS_SLOTS_READ(s->tag) & ~TCPS_SLOT_ILOCK) == want) {
		__sync_fetch_and_xor(&s->tag, want ^ tomb);
		done = 1;
	}
	tcps_slot_unlock(s);
	return done;
}

/*
 * The tombstone collector: one pass over the whole table (a syscall
 * program in BPF, run as the daemon's expiry would), from the slot after
 * an EMPTY one, cluster by cluster (the slots between two EMPTY ones). It
 * does two things:
 *
 * Compaction. The cluster's tombstones, in order, are holes (up to
 * TCPS_COLL_HOLES of them at once). A FULL slot whose home is at or before
 * a hole moves into the first such hole and leaves a tombstone of its
 * own, which is a hole for the tuples after it. A move holds the tuple's
 * home ILOCK (no insert of that tuple walks its chain in the middle of the
 * move, which would miss both copies; if an insert holds it, the tuple
 * stays), claims the hole, and under the source's lock copies the slot,
 * publishes the copy and tombstones the source: lookups meet the copy
 * first. A lookup that passed the hole while it was BUSY and reaches the
 * source once it is a tombstone misses; its insert then waits on the home
 * ILOCK and finds the copy under it (TCPS_SLOTS_RACED), as for any racing
 * insert.
 *
 * Reclaim. A tombstone goes back to EMPTY when no chain crosses it (no
 * later slot of its cluster holds a tuple whose home is at or before it;
 * a BUSY slot, whose home is unknown, counts as crossing) and it is at
 * least three epochs old. The includer waits an RCU grace period G(e)
 * before it makes epoch e current (in BPF: membarrier GLOBAL, i.e.
 * synchronize_rcu). A run P that made a tombstone of epoch e read e
 * before e + 1 was stored, so G(e + 2) waits for P; a walk W that saw the
 * slot FULL began before P's store, hence before P ended, hence before
 * G(e + 2) ended and G(e + 3) began: G(e + 3) waits for W. So at epoch
 * e + 3 every walk that could have seen the slot FULL has ended. The
 * collector's own tombstones (a move's source) are made inside a pass,
 * which has ended before the next G begins: one epoch is enough, so they
 * are dated two epochs back (never reused within the pass that made
 * them). A walk that began later sees the tombstone: an insert through it
 * claims it (or an earlier slot) and never goes past it unclaimed, so no
 * new chain can cross it while its tag holds; the cmpxchg to EMPTY fails
 * if the tag moved (the epoch makes every tombstone's tag new).
 * Candidates are kept in position order; a crossing tuple with home h
 * takes back every candidate at or after h, so what is left when the
 * cluster's EMPTY end is reached is reclaimed.
 *
 * The home of a tuple (a hash of its key) is computed only when a hole or
 * a candidate is pending: a tidy cluster costs a tag read a slot.
 *
 * With tcps_slots_coll.no_moves the pass only reclaims: no tuple moves,
 * a tombstone stays until no chain crosses it, and the slot a lookup
 * found stays the tuple's until it is deleted (the product's first
 * landing: its locked steps need no re-check of the tag under the lock).
 */
#define TCPS_COLL_USED 0xffffffffu

/* Position relative to the current cluster's start. */
TCPS_SLOTS_INLINE __u32 tcps_coll_rel(const struct tcps_slots_coll *c, __u32 pos)
{
	return pos >= c->start ? pos - c->start : pos + tcps_slots_n() - c->start;
}

TCPS_SLOTS_INLINE __u32 tcps_slot_home_of(const struct tcps_slot_hdr *s, __u32 t)
{
	struct tcps_key k;

	tcps_slot_key(s, t, &k);
	return tcps_slots_home(tcps_slots_hash(&k, tcps_slots_seed()), tcps_slots_n());
}

/* The cluster ended at an EMPTY slot: its remaining candidates go EMPTY
 * (keeping a home ILOCK bit that may have been set meanwhile). */
TCPS_SLOTS_STEP tcps_coll_reclaim_step(__u32 j, void *arg)
{
	struct tcps_slots_coll *c = tcps_slots_coll();
	struct tcps_slot_hdr *s;
	__u32 t, r;

	(void)arg;
	if (j >= TCPS_COLL_CANDS || j >= c->nc)
		return 1;
	s = tcps_slot_get(c->cp[j]);
	if (!s)
		return 0;
	t = c->ct[j];
	r = __sync_val_compare_and_swap(&s->tag, t, t & TCPS_SLOT_ILOCK);
	if (r != t && (r ^ t) == TCPS_SLOT_ILOCK)
		r = __sync_val_compare_and_swap(&s->tag, r, r & TCPS_SLOT_ILOCK) == r ? t : r;
	if (r == t) {
		c->reclaimed++;
		tcps_slots_use(-1);
	}
	return 0;
}

TCPS_SLOTS_INLINE void tcps_coll_cluster_end(struct tcps_slots_coll *c, __u32 pos)
{
	tcps_slots_loop(TCPS_COLL_CANDS, tcps_coll_reclaim_step, NULL);
	c->nc = c->nh = c->first = 0;
	c->start = pos + 1 < tcps_slots_n() ? pos + 1 : 0;
}

/* A tuple whose home is at rel h crosses every candidate at or after h:
 * pop them (candidates are in position order). */
TCPS_SLOTS_STEP tcps_coll_cross_step(__u32 j, void *arg)
{
	struct tcps_slots_coll *c = tcps_slots_coll();
	__u32 h = *(__u32 *)arg;

	(void)j;
	if (!c->nc || c->nc > TCPS_COLL_CANDS ||
	    tcps_coll_rel(c, c->cp[(c->nc - 1) & (TCPS_COLL_CANDS - 1)]) < h)
		return 1;
	c->nc--;
	c->crossed++;
	return 0;
}

/* The first unused hole at or after rel h: its index, or -1. */
struct tcps_coll_hole {
	__u32 h;
	int j;
};

TCPS_SLOTS_STEP tcps_coll_hole_step(__u32 i, void *arg)
{
	struct tcps_slots_coll *c = tcps_slots_coll();
	struct tcps_coll_hole *x = arg;
	__u32 j = c->first + i, p;

	if (j >= c->nh || j >= TCPS_COLL_HOLES)
		return 1;
	p = c->hp[j];
	if (p == TCPS_COLL_USED || tcps_coll_rel(c, p) < x->h)
		return 0;
	x->j = (int)j;
	return 1;
}

TCPS_SLOTS_INLINE int tcps_coll_hole(__u32 h)
{
	struct tcps_coll_hole x = { .h = h, .j = -1 };

	tcps_slots_loop(TCPS_COLL_HOLES, tcps_coll_hole_step, &x);
	return x.j;
}

TCPS_SLOTS_INLINE void tcps_coll_add_hole(struct tcps_slots_coll *c, __u32 pos, __u32 tag)
{
	if (c->nh < TCPS_COLL_HOLES) {
		c->hp[c->nh & (TCPS_COLL_HOLES - 1)] = pos;
		c->ht[c->nh & (TCPS_COLL_HOLES - 1)] = tag;
		c->nh++;
	}
}

TCPS_SLOTS_INLINE void tcps_coll_hole_used(struct tcps_slots_coll *c, int j)
{
	c->hp[j & (TCPS_COLL_HOLES - 1)] = TCPS_COLL_USED;
	while (c->first < c->nh && c->first < TCPS_COLL_HOLES &&
	       c->hp[c->first & (TCPS_COLL_HOLES - 1)] == TCPS_COLL_USED)
		c->first++;
}

/* Copy the tuple at sq into the claimed (BUSY) hole sp, publish the
 * copy, tombstone the source: lookups meet the copy first. */
TCPS_SLOTS_INLINE void tcps_slot_move(struct tcps_slot_hdr *sp, struct tcps_slot_hdr *sq,
				      __u32 want, __u32 tomb)
{
	struct tcps_key k;

	tcps_slot_key(sq, want, &k);
	tcps_slot_key_set(sp, &k);
	tcps_slot_payload_copy(sp, sq);
	__sync_fetch_and_xor(&sp->tag, TCPS_SLOT_BUSY ^ want);
	__sync_fetch_and_xor(&sq->tag, want ^ tomb);
}

/*
 * Move the tuple at q (tag want, home home) into hole j; 1 if moved. All
 * under the source's lock (no payload update runs on it; in BPF interrupts
 * are off, so the home ILOCK taken inside is never held across a
 * preemption): the home ILOCK if free, the hole's claim if it is still
 * the tombstone it was, the copy. A tuple whose slot or home changed stays
 * where it is.
 */
TCPS_SLOTS_INLINE int tcps_coll_move(struct tcps_slots_coll *c, struct tcps_slot_hdr *sq,
				     __u32 q, __u32 want, __u32 home, int j)
{
	/* dated two epochs back: see "Reclaim" above */
	__u32 tomb = tcps_slots_tomb(tcps_slots_epoch() - 2), tp;
	struct tcps_slot_hdr *hs = tcps_slot_get(home), *sp;
	int claimed = 0;

	if (j < 0 || j >= TCPS_COLL_HOLES)
		return 0;
	tp = c->ht[j];
	sp = tcps_slot_get(c->hp[j]);
	if (!hs || !sp)
		return 0;
	tcps_slot_lock(sq);
	if ((TCPS_SLOTS_READ(sq->tag) & ~TCPS_SLOT_ILOCK) == want &&
	    !(__sync_fetch_and_or(&hs->tag, TCPS_SLOT_ILOCK) & TCPS_SLOT_ILOCK)) {
		claimed = tcps_slot_claim(sp, tp);
		if (claimed)
			tcps_slot_move(sp, sq, want, tomb);
		__sync_fetch_and_and(&hs->tag, ~TCPS_SLOT_ILOCK);
	}
	tcps_slot_unlock(sq);
	if (claimed) {
		tcps_coll_hole_used(c, j);
		tcps_coll_add_hole(c, q, tomb);
	}
	return claimed;
}

/* A FULL slot: move it back if a hole at or after its home is pending;
 * then it crosses the candidates at or after its home. */
TCPS_SLOTS_INLINE void tcps_coll_full(struct tcps_slots_coll *c, struct tcps_slot_hdr *s,
				      __u32 pos, __u32 t)
{
	__u32 home, h;

	c->full++;
	if (c->first >= c->nh && !c->nc)
		return;
	home = tcps_slot_home_of(s, t);
	h = tcps_coll_rel(c, home);
	if (h > tcps_coll_rel(c, pos))	/* home outside the cluster: cannot be; leave it */
		h = 0;
	else if (!c->no_moves &&
		 tcps_coll_move(c, s, pos, t & ~TCPS_SLOT_ILOCK, home, tcps_coll_hole(h)))
		c->moved++;
	tcps_slots_loop(TCPS_COLL_CANDS, tcps_coll_cross_step, &h);
}

TCPS_SLOTS_INLINE void tcps_coll_tomb(struct tcps_slots_coll *c, __u32 pos, __u32 t)
{
	__u32 epoch = tcps_slots_epoch();

	c->tombs++;
	if (!c->no_moves)
		tcps_coll_add_hole(c, pos, t);
	/* three epochs old (28-bit generations), and room to keep it */
	if (((epoch - (t >> 4)) & 0x0fffffffu) >= 3 && c->nc < TCPS_COLL_CANDS) {
		c->cp[c->nc & (TCPS_COLL_CANDS - 1)] = pos;
		c->ct[c->nc & (TCPS_COLL_CANDS - 1)] = t;
		c->nc++;
	}
}

TCPS_SLOTS_STEP tcps_coll_step(__u32 i, void *arg)
{
	struct tcps_slots_coll *c = tcps_slots_coll();
	__u32 pos = c->e0 + 1 + c->base + i, t, st;
	struct tcps_slot_hdr *s;

	(void)arg;
	if (pos >= tcps_slots_n())
		pos -= tcps_slots_n();
	s = tcps_slot_get(pos);
	if (!s)
		return 1;
	t = TCPS_SLOTS_READ(s->tag);
	st = t & TCPS_SLOT_STATE;
	if (st == TCPS_SLOT_EMPTY)
		tcps_coll_cluster_end(c, pos);
	else if (st == TCPS_SLOT_TOMB)
		tcps_coll_tomb(c, pos, t);
	else if (st == TCPS_SLOT_FULL)
		tcps_coll_full(c, s, pos, t);
	else {
		c->nc = 0;	/* BUSY: home unknown, crosses everything */
		c->busy++;
	}
	return 0;
}

TCPS_SLOTS_STEP tcps_coll_find_empty(__u32 i, void *arg)
{
	struct tcps_slots_coll *c = tcps_slots_coll();
	struct tcps_slot_hdr *s = tcps_slot_get(c->base + i);

	(void)arg;
	if (s && (TCPS_SLOTS_READ(s->tag) & TCPS_SLOT_STATE) == TCPS_SLOT_EMPTY) {
		c->e0 = c->base + i;
		return 1;
	}
	return 0;
}

/* A loop takes TCPS_SLOTS_LOOP_MAX steps at most (bpf_loop's limit, 2^23),
 * so a pass walks the table in up to TCPS_SLOTS_CHUNKS loops: tables of
 * up to 2^27 slots (`--max-conns` takes 2^26 at most). */
#ifndef TCPS_SLOTS_LOOP_MAX
#define TCPS_SLOTS_LOOP_MAX (1u << 23)
#endif
#ifndef TCPS_SLOTS_CHUNKS
#define TCPS_SLOTS_CHUNKS 16
#endif

/* step(c->base + i) for every slot, loop by loop; the search for an EMPTY
 * slot (find) ends at the first. */
TCPS_SLOTS_INLINE void tcps_coll_loop(struct tcps_slots_coll *c,
				      long (*step)(__u32 i, void *ctx), int find)
{
	__u32 n = tcps_slots_n(), k;

	for (k = 0; k < TCPS_SLOTS_CHUNKS; k++) {
		c->base = k * TCPS_SLOTS_LOOP_MAX;
		if (c->base >= n || (find && c->e0 != TCPS_COLL_USED))
			break;
		tcps_slots_loop(n - c->base < TCPS_SLOTS_LOOP_MAX ? n - c->base : TCPS_SLOTS_LOOP_MAX,
				step, NULL);
	}
}

/* The count of non-EMPTY slots when the pass began against what the pass
 * met (before its own reclaims, which the count follows by itself):
 * inserts and deletes during the pass make the two differ a little, so
 * only a larger gap is corrected (a table adopted by a new object, whose
 * count starts at 0). */
TCPS_SLOTS_INLINE void tcps_coll_recount(struct tcps_slots_coll *c)
{
	__s64 met = (__s64)(c->full + c->tombs + c->busy);
	__s64 d = met - c->used0, slack = (__s64)(tcps_slots_n() / 64) + 16;

	if (d > slack || d < -slack) {
		__sync_fetch_and_add(tcps_slots_used(), (__u64)d);
		c->recount = d;
	}
}

/* One pass: from after the first EMPTY slot all the way round to it. A
 * table with no EMPTY slot is left alone (returns 1). Counters of the
 * pass in tcps_slots_coll() (no_moves is the caller's). One pass at a
 * time. */
TCPS_SLOTS_INLINE int tcps_slots_collect(void)
{
	struct tcps_slots_coll *c = tcps_slots_coll();

	c->e0 = TCPS_COLL_USED;
	c->moved = c->reclaimed = c->tombs = c->full = c->crossed = c->busy = 0;
	c->recount = 0;
	c->used0 = (__s64)TCPS_SLOTS_READ(*tcps_slots_used());
	tcps_coll_loop(c, tcps_coll_find_empty, 1);
	if (c->e0 == TCPS_COLL_USED)
		return 1;
	c->nc = c->nh = c->first = 0;
	c->start = c->e0 + 1 < tcps_slots_n() ? c->e0 + 1 : 0;
	tcps_coll_loop(c, tcps_coll_step, 0);
	tcps_coll_recount(c);
	return 0;
}
#endif /* TCPS_SLOTS_INLINE */

#endif /* TCPS_SLOTS_H */
