// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of the slot table's algorithm (include/tcps_slots.h), the
 * code bench/slots.bpf.c runs in BPF, here on a plain array with pthreads
 * for the CPUs: insert, lookup, delete, probing and its wrap, tombstone
 * reuse, the collector's compaction and reclaim, IPv4 against IPv6, the
 * homes' spread by family, then concurrent inserts of the same tuples
 * and lookups during deletes and collector passes. Runs in ~1 s; also
 * clean under TSan (the reads and stores of words other threads change
 * are atomics here):
 *   gcc -fsanitize=thread -Iinclude -Itests/lib tests/unit/test_slots.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <time.h>

#include "check.h"

#define TCPS_SLOTS_INLINE static inline
/* The collector's passes in loops of 100 steps (BPF: 2^23), so that every
 * pass here crosses from one loop to the next. */
#define TCPS_SLOTS_LOOP_MAX 100u
#define TCPS_SLOTS_CHUNKS 64
#define TCPS_SLOTS_READ(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define TCPS_SLOTS_WRITE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#include "tcps_slots.h"

/* A slot: the table's header, then this test's payload. */
struct tslot {
	struct tcps_slot_hdr h;
	__u32 lock;
	__u32 id;		/* the tuple's number, checked under the lock */
};

#define MAXN 4096
#define DIST_N 65536		/* the home distribution's table */
static struct tslot tbl[DIST_N];
static __u32 tn, tepoch, tcap;
static __u64 tused;
static struct tcps_slots_coll tcoll;
static const __u32 tseed = 0x9e3779b9u;

/* ---- the primitives ---- */
TCPS_SLOTS_INLINE __u32 tcps_slots_n(void)
{
	return tn;
}

TCPS_SLOTS_INLINE __u32 tcps_slots_seed(void)
{
	return tseed;
}

TCPS_SLOTS_INLINE __u32 tcps_slots_epoch(void)
{
	return __atomic_load_n(&tepoch, __ATOMIC_ACQUIRE);
}

TCPS_SLOTS_INLINE struct tcps_slot_hdr *tcps_slot_get(__u32 i)
{
	return i < tn ? &tbl[i].h : NULL;
}

TCPS_SLOTS_INLINE void tcps_slot_lock(struct tcps_slot_hdr *s)
{
	while (__atomic_exchange_n(&((struct tslot *)s)->lock, 1, __ATOMIC_ACQUIRE))
		sched_yield();	/* 3 threads on maybe 2 CPUs: let the holder run */
}

TCPS_SLOTS_INLINE void tcps_slot_unlock(struct tcps_slot_hdr *s)
{
	__atomic_store_n(&((struct tslot *)s)->lock, 0, __ATOMIC_RELEASE);
}

TCPS_SLOTS_INLINE void tcps_slot_payload_init(struct tcps_slot_hdr *s, const void *init)
{
	((struct tslot *)s)->id = *(const __u32 *)init;
}

TCPS_SLOTS_INLINE void tcps_slot_payload_copy(struct tcps_slot_hdr *dst,
					      const struct tcps_slot_hdr *src)
{
	((struct tslot *)dst)->id = ((const struct tslot *)src)->id;
}

/* Nonzero in the threaded tests: a loop yields the CPU at each step, so
 * the other threads run in the middle of a walk, as a preempted or slower
 * CPU would let them. */
static int jitter;
/* Set by a one-thread test: runs once before step `at` of the next loop,
 * as another CPU would between two steps of a walk. */
static void (*interleave)(void);
static __u32 interleave_at;

TCPS_SLOTS_INLINE void tcps_slots_loop(__u32 n, long (*step)(__u32 i, void *ctx), void *ctx)
{
	void (*other)(void);
	__u32 i;

	for (i = 0; i < n; i++) {
		if (jitter)
			sched_yield();
		if (interleave && i == interleave_at) {
			other = interleave;
			interleave = NULL;	/* its own loops run through */
			other();
		}
		if (step(i, ctx))
			break;
	}
}

TCPS_SLOTS_INLINE struct tcps_slots_coll *tcps_slots_coll(void)
{
	return &tcoll;
}

TCPS_SLOTS_INLINE __u64 *tcps_slots_used(void)
{
	return &tused;
}

TCPS_SLOTS_INLINE __u32 tcps_slots_cap(void)
{
	return tcap;
}

/* ---- helpers ---- */
static void table(__u32 n)
{
	memset(tbl, 0, n * sizeof(tbl[0]));
	memset(&tcoll, 0, sizeof(tcoll));
	tn = n;
	tepoch = 0;
	tcap = n;		/* no cap but the table's size (test_cap sets one) */
	tused = 0;
}

/* Tuple number id: 198.18.x.y:port -> 198.19.0.1:443, or the same in
 * 2001:db8::/32. */
static struct tcps_key key(__u8 family, __u32 id)
{
	struct tcps_key k;

	memset(&k, 0, sizeof(k));
	k.family = family;
	if (family == TCPS_AF_INET) {
		k.addr[0][0] = 0xc6120000u | (id >> 8);
		k.addr[1][0] = 0xc6130001u;
	} else {
		k.addr[0][0] = k.addr[1][0] = 0x20010db8u;
		k.addr[0][3] = id >> 8;
		k.addr[1][3] = 1;
	}
	k.port[0] = (__u16)(1024 + (id & 0xff));
	k.port[1] = 443;
	return k;
}

static __u32 hash_of(const struct tcps_key *k)
{
	return tcps_slots_hash(k, tseed);
}

static __u32 home_of(const struct tcps_key *k)
{
	return tcps_slots_home(hash_of(k), tn);
}

static struct tcps_slot_hdr *find(const struct tcps_key *k)
{
	__u32 h = hash_of(k), walked;

	return tcps_slots_find(k, tcps_slots_home(h, tn), tcps_slots_want(h, k->family), &walked);
}

/* Insert tuple id of family; retries an insert that gave up on a held
 * ILOCK (its holder preempted: the data path fails open, a test waits). */
static int insert(__u8 family, __u32 id, struct tcps_slot_hdr **out)
{
	struct tcps_key k = key(family, id);
	__u32 h = hash_of(&k);
	int r;

	do
		r = tcps_slots_insert(&k, tcps_slots_home(h, tn), tcps_slots_want(h, family), &id, out);
	while (r == TCPS_SLOTS_ILOCKED);
	return r;
}

static int del(__u8 family, __u32 id)
{
	struct tcps_key k = key(family, id);
	struct tcps_slot_hdr *s = find(&k);

	return s && tcps_slots_delete(s, tcps_slots_want(hash_of(&k), family));
}

/* Position of tuple id's slot, -1 if not found. */
static long pos(__u8 family, __u32 id)
{
	struct tcps_key k = key(family, id);
	struct tcps_slot_hdr *s = find(&k);

	return s ? (long)((struct tslot *)s - tbl) : -1;
}

/* The first tuple number from *id on whose home is home. */
static __u32 id_at_home(__u32 home, __u32 *id)
{
	struct tcps_key k;

	for (;; (*id)++) {
		k = key(TCPS_AF_INET, *id);
		if (home_of(&k) == home)
			return (*id)++;
	}
}

/* Three tuple numbers with home home in ids, the first n of them inserted
 * (in that order: they take home, home + 1...). */
static void three_at(__u32 home, __u32 ids[3], int n)
{
	struct tcps_slot_hdr *s;
	__u32 id = 0;
	int i;

	for (i = 0; i < 3; i++)
		ids[i] = id_at_home(home, &id);
	for (i = 0; i < n; i++)
		CHECK_EQ(insert(TCPS_AF_INET, ids[i], &s), TCPS_SLOTS_INSERTED);
}

static __u32 count_state(__u32 st)
{
	__u32 i, c = 0;

	for (i = 0; i < tn; i++)
		c += (tbl[i].h.tag & TCPS_SLOT_STATE) == st;
	return c;
}

/* What every lookup relies on: no EMPTY slot between a tuple's home and
 * its slot, and each tuple in one slot. 0 if it holds. */
static int broken_chains(void)
{
	struct tcps_key k, o;
	__u32 i, j, bad = 0;

	for (i = 0; i < tn; i++) {
		if ((tbl[i].h.tag & TCPS_SLOT_STATE) != TCPS_SLOT_FULL)
			continue;
		tcps_slot_key(&tbl[i].h, tbl[i].h.tag, &k);
		for (j = home_of(&k); j != i; j = j + 1 < tn ? j + 1 : 0)
			bad += (tbl[j].h.tag & TCPS_SLOT_STATE) == TCPS_SLOT_EMPTY;
		for (j = i + 1; j < tn; j++) {
			if ((tbl[j].h.tag & TCPS_SLOT_STATE) != TCPS_SLOT_FULL)
				continue;
			tcps_slot_key(&tbl[j].h, tbl[j].h.tag, &o);
			bad += !memcmp(&k, &o, sizeof(k));
		}
	}
	return (int)bad;
}

/* ---- one thread ---- */
TEST(test_insert_lookup_delete)
{
	struct tcps_slot_hdr *s;
	struct tcps_key k = key(TCPS_AF_INET, 7);

	table(64);
	CHECK(!find(&k));
	CHECK_EQ(insert(TCPS_AF_INET, 7, &s), TCPS_SLOTS_INSERTED);
	CHECK_EQ(insert(TCPS_AF_INET, 8, &s), TCPS_SLOTS_INSERTED);
	CHECK(find(&k) && ((struct tslot *)find(&k))->id == 7);
	CHECK_EQ(insert(TCPS_AF_INET, 7, &s), TCPS_SLOTS_RACED);	/* there already */
	CHECK(s == find(&k));
	CHECK(del(TCPS_AF_INET, 7));
	CHECK(!find(&k));
	CHECK(!del(TCPS_AF_INET, 7));
	CHECK_EQ(pos(TCPS_AF_INET, 8) >= 0, 1);
	CHECK_EQ(count_state(TCPS_SLOT_TOMB), 1);
	CHECK_EQ(count_state(TCPS_SLOT_FULL), 1);
}

/* Three tuples at home n - 1 take n - 1, 0 and 1; the last is found past
 * the end of the array and past a tombstone at 0. */
TEST(test_probe_wraps_at_array_end)
{
	__u32 t[3];

	table(16);
	three_at(15, t, 3);
	CHECK_EQ(pos(TCPS_AF_INET, t[0]), 15);
	CHECK_EQ(pos(TCPS_AF_INET, t[1]), 0);
	CHECK_EQ(pos(TCPS_AF_INET, t[2]), 1);
	CHECK(del(TCPS_AF_INET, t[1]));
	CHECK_EQ(pos(TCPS_AF_INET, t[2]), 1);
	CHECK(!broken_chains());
}

/* A table with no free slot: the insert gives up (the packet goes
 * untracked), every tuple stays found, a miss ends. */
TEST(test_full_chain_fails_open)
{
	struct tcps_slot_hdr *s;
	__u32 id;

	table(16);
	for (id = 0; id < 16; id++)
		CHECK_EQ(insert(TCPS_AF_INET, id, &s), TCPS_SLOTS_INSERTED);
	CHECK_EQ(insert(TCPS_AF_INET, 16, &s), TCPS_SLOTS_FULLCHAIN);
	CHECK(!s);
	for (id = 0; id < 17; id++)
		CHECK_EQ(pos(TCPS_AF_INET, id) >= 0, id < 16);
	CHECK_EQ(tcps_slots_collect(), 1);	/* no EMPTY slot to start from */
}

/* The cap on slots that are not EMPTY: inserts stop at it (EMPTY slots
 * remain), tombstones are reused at the cap, the collector's reclaim
 * gives room back; the count follows every claim, and a lost count (a
 * table adopted by a new object) is recounted by a pass. */
TEST(test_cap_keeps_empty_slots)
{
	struct tcps_slot_hdr *s;
	__u32 id, in = 0;

	table(64);
	tcap = 56;
	for (id = 0; id < 64; id++)
		in += insert(TCPS_AF_INET, id, &s) == TCPS_SLOTS_INSERTED;
	CHECK_EQ(in, 56);
	CHECK_EQ(insert(TCPS_AF_INET, 100, &s), TCPS_SLOTS_FULLCHAIN);
	CHECK_EQ(count_state(TCPS_SLOT_EMPTY), 8);
	CHECK_EQ(tused, 56);
	for (id = 0; id < 10; id++)
		CHECK(del(TCPS_AF_INET, id));
	CHECK_EQ(tused, 56);			/* a tombstone is not EMPTY */
	tepoch += 3;
	CHECK_EQ(tcps_slots_collect(), 0);
	CHECK_EQ(tused, 56 - tcoll.reclaimed);
	CHECK_EQ(count_state(TCPS_SLOT_EMPTY), 64 - tused);
	CHECK_EQ(tcoll.recount, 0);
	for (id = 200, in = 0; id < 264; id++)
		in += insert(TCPS_AF_INET, id, &s) == TCPS_SLOTS_INSERTED;
	CHECK_EQ(in, 10);			/* the tombstones and the reclaimed */
	CHECK_EQ(tused, 56);
	CHECK_EQ(count_state(TCPS_SLOT_EMPTY), 8);
	tused = 0;				/* adopted: the count lost */
	CHECK_EQ(tcps_slots_collect(), 0);
	CHECK_EQ(tcoll.recount, 56);
	CHECK_EQ(tused, 56);
}

/* A later insert through a tombstone claims it, but still walks on: the
 * same tuple past the tombstone is found, not inserted twice. */
TEST(test_tombstone_claimed_by_later_insert)
{
	struct tcps_slot_hdr *s;
	__u32 t[3];

	table(16);
	three_at(4, t, 2);
	CHECK(del(TCPS_AF_INET, t[0]));
	CHECK_EQ(insert(TCPS_AF_INET, t[1], &s), TCPS_SLOTS_RACED);
	CHECK_EQ((tbl[4].h.tag & TCPS_SLOT_STATE), TCPS_SLOT_TOMB);	/* given back */
	CHECK_EQ(insert(TCPS_AF_INET, t[2], &s), TCPS_SLOTS_INSERTED);
	CHECK_EQ(pos(TCPS_AF_INET, t[2]), 4);
	CHECK_EQ(pos(TCPS_AF_INET, t[1]), 5);
	CHECK_EQ(count_state(TCPS_SLOT_TOMB), 0);
	CHECK(!broken_chains());
}

/* Tombstones younger than three epochs stay (a walk may still see the
 * slot FULL); compaction moves tuples back into holes regardless; two
 * passes three epochs apart leave no tombstone, every tuple found. */
TEST(test_collector_compacts_and_reclaims)
{
	struct tcps_slot_hdr *s;
	__u32 id, moved = 0;

	table(256);
	for (id = 0; id < 220; id++)
		CHECK_EQ(insert(TCPS_AF_INET, id, &s), TCPS_SLOTS_INSERTED);
	for (id = 0; id < 220; id += 3)
		CHECK(del(TCPS_AF_INET, id));
	CHECK_EQ(tcps_slots_collect(), 0);
	CHECK_EQ(tcoll.reclaimed, 0);
	moved += (__u32)tcoll.moved;
	tepoch += 3;
	CHECK_EQ(tcps_slots_collect(), 0);
	CHECK(tcoll.reclaimed > 0);
	moved += (__u32)tcoll.moved;
	tepoch += 3;
	CHECK_EQ(tcps_slots_collect(), 0);
	CHECK(moved > 0);
	CHECK_EQ(count_state(TCPS_SLOT_TOMB), 0);
	CHECK_EQ(count_state(TCPS_SLOT_FULL), 220 - 74);
	for (id = 0; id < 220; id++)
		CHECK_EQ(pos(TCPS_AF_INET, id) >= 0, id % 3 != 0);
	CHECK(!broken_chains());
	for (id = 1; id < 220; id += 3) {	/* the payload moved with its tuple */
		struct tcps_key k = key(TCPS_AF_INET, id);

		s = find(&k);
		CHECK(s && ((struct tslot *)s)->id == id);
	}
}

/* A tombstone at p stays in a reclaim-only pass only if a chain crosses
 * it: a FULL slot after p, before the next EMPTY one, whose home is at or
 * before p (walking from the home, p comes first). */
static int crossed(__u32 p)
{
	struct tcps_key k;
	__u32 q, j;

	for (q = p + 1 < tn ? p + 1 : 0; q != p; q = q + 1 < tn ? q + 1 : 0) {
		if ((tbl[q].h.tag & TCPS_SLOT_STATE) == TCPS_SLOT_EMPTY)
			return 0;
		if ((tbl[q].h.tag & TCPS_SLOT_STATE) != TCPS_SLOT_FULL)
			continue;
		tcps_slot_key(&tbl[q].h, tbl[q].h.tag, &k);
		for (j = home_of(&k); j != q; j = j + 1 < tn ? j + 1 : 0)
			if (j == p)
				return 1;
	}
	return 0;
}

/* no_moves: the pass reclaims the tombstones no chain crosses (once three
 * epochs old) and moves nothing: every tuple stays in its slot. */
TEST(test_collector_reclaim_only_moves_nothing)
{
	struct tcps_slot_hdr *s;
	long at[220];
	__u32 id, i, reclaimed = 0;

	table(256);
	tcoll.no_moves = 1;
	for (id = 0; id < 220; id++)
		CHECK_EQ(insert(TCPS_AF_INET, id, &s), TCPS_SLOTS_INSERTED);
	for (id = 0; id < 220; id++)
		at[id] = pos(TCPS_AF_INET, id);
	for (id = 0; id < 220; id += 3)
		CHECK(del(TCPS_AF_INET, id));
	CHECK_EQ(tcps_slots_collect(), 0);
	CHECK_EQ(tcoll.reclaimed, 0);	/* too young */
	tepoch += 3;
	CHECK_EQ(tcps_slots_collect(), 0);
	CHECK_EQ(tcoll.moved, 0);
	reclaimed = (__u32)tcoll.reclaimed;
	CHECK(reclaimed > 0);
	CHECK_EQ(count_state(TCPS_SLOT_TOMB), 74 - reclaimed);
	for (i = 0; i < tn; i++)
		if ((tbl[i].h.tag & TCPS_SLOT_STATE) == TCPS_SLOT_TOMB)
			CHECK(crossed(i));
	for (id = 0; id < 220; id++)
		CHECK_EQ(pos(TCPS_AF_INET, id), id % 3 ? at[id] : -1);
	CHECK(!broken_chains());
	tepoch += 3;
	CHECK_EQ(tcps_slots_collect(), 0);	/* nothing more to do */
	CHECK_EQ(tcoll.reclaimed, 0);
	CHECK_EQ(tcoll.moved, 0);
	CHECK_EQ(tcoll.no_moves, 1);		/* the caller's, kept */
}

/* Another CPU deletes the tuple an insert's walk has just passed and runs
 * a collector pass before the walk reaches the chain's end: the tombstone
 * is too young to go EMPTY (the walk began before it was made, in the
 * same epoch), so the tuple inserted past it stays reachable. */
static __u32 passed_id;

static void delete_passed_and_collect(void)
{
	CHECK(del(TCPS_AF_INET, passed_id));
	CHECK_EQ(tcps_slots_collect(), 0);
	CHECK_EQ(tcoll.reclaimed, 0);
}

TEST(test_tombstone_passed_by_a_walk_stays_until_its_epoch_ends)
{
	struct tcps_slot_hdr *s;
	__u32 id = 0, a, t;

	table(16);
	a = id_at_home(3, &id);
	passed_id = id_at_home(4, &id);
	t = id_at_home(3, &id);
	CHECK_EQ(insert(TCPS_AF_INET, a, &s), TCPS_SLOTS_INSERTED);		/* at 3 */
	CHECK_EQ(insert(TCPS_AF_INET, passed_id, &s), TCPS_SLOTS_INSERTED);	/* at 4 */
	interleave = delete_passed_and_collect;
	interleave_at = 2;	/* the walk of t read 3 and 4, both FULL */
	CHECK_EQ(insert(TCPS_AF_INET, t, &s), TCPS_SLOTS_INSERTED);
	CHECK(!interleave);
	CHECK_EQ(pos(TCPS_AF_INET, t), 5);
	CHECK(!broken_chains());
	tepoch += 3;		/* now it may go: t moves back into it */
	CHECK_EQ(tcps_slots_collect(), 0);
	CHECK_EQ(tcoll.moved, 1);
	CHECK_EQ(pos(TCPS_AF_INET, t), 4);
	CHECK(!broken_chains());
}

/* The same nine words as IPv4 and as IPv6 are two tuples: the family picks
 * the hash and is in the tag. */
TEST(test_ipv4_ipv6_same_words_are_different_tuples)
{
	struct tcps_key k4 = key(TCPS_AF_INET, 9), k6 = k4;
	struct tcps_slot_hdr *s4, *s6;
	__u32 h4, h6, w4, w6;

	table(64);
	k6.family = TCPS_AF_INET6;
	h4 = hash_of(&k4);
	h6 = hash_of(&k6);
	w4 = tcps_slots_want(h4, TCPS_AF_INET);
	w6 = tcps_slots_want(h6, TCPS_AF_INET6);
	CHECK(h4 != h6);
	CHECK_EQ(w6 & TCPS_SLOT_V6, TCPS_SLOT_V6);
	CHECK_EQ(w4 & TCPS_SLOT_V6, 0);
	CHECK_EQ(tcps_slots_insert(&k4, tcps_slots_home(h4, tn), w4, &(__u32){ 4 }, &s4),
		 TCPS_SLOTS_INSERTED);
	/* at the IPv4 tuple's home too: only the tag tells them apart */
	CHECK_EQ(tcps_slots_insert(&k6, tcps_slots_home(h4, tn), w6, &(__u32){ 6 }, &s6),
		 TCPS_SLOTS_INSERTED);
	CHECK(s4 != s6);
	CHECK(find(&k4) == s4);
	CHECK(tcps_slots_find(&k6, tcps_slots_home(h4, tn), w6, &h6) == s6);
	CHECK(tcps_slots_delete(s4, w4));
	CHECK(!find(&k4));
	CHECK(tcps_slots_find(&k6, tcps_slots_home(h4, tn), w6, &h6) == s6);
	CHECK(!tcps_slots_delete(s6, w4 | TCPS_SLOT_V6));	/* v4 fingerprint: not it */
}

/* ---- the home distribution ---- */
static __u64 rng = 0x2545f4914f6cdd1dull;

static __u32 rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (__u32)(rng >> 32);
}

/* Tuple i of a distribution test: random, or one client's ports counting
 * up to one server port (198.18.0.1 -> 198.19.0.1:443, or 2001:db8::1 ->
 * 2001:db8::2:443), in network order as the parser gives them. */
static struct tcps_key dist_key(__u8 family, int random, __u32 i)
{
	struct tcps_key k;
	int w;

	memset(&k, 0, sizeof(k));
	k.family = family;
	if (random) {
		for (w = 0; w < (family == TCPS_AF_INET6 ? 4 : 1); w++) {
			k.addr[0][w] = rnd();
			k.addr[1][w] = rnd();
		}
		k.port[0] = (__u16)rnd();
		k.port[1] = (__u16)rnd();
		return k;
	}
	if (family == TCPS_AF_INET) {
		k.addr[0][0] = htonl(0xc6120001u);
		k.addr[1][0] = htonl(0xc6130001u);
	} else {
		k.addr[0][0] = k.addr[1][0] = htonl(0x20010db8u);
		k.addr[0][3] = htonl(1);
		k.addr[1][3] = htonl(2);
	}
	k.port[0] = htons((__u16)(1024 + i));
	k.port[1] = htons(443);
	return k;
}

/* Mean slots walked by a hit and by a miss at load 0.875, against linear
 * probing's ½(1 + 1/(1 − α)) and ½(1 + 1/(1 − α)²) for a uniform hash: a
 * hash that clusters the family's tuples shows as longer walks. */
static void dist_check(__u8 family, int random)
{
	__u32 n = DIST_N / 8 * 7, i, h, walked, id = 0;
	double hit = 0, miss = 0, a = 0.875;
	struct tcps_slot_hdr *s;
	struct tcps_key k;

	table(DIST_N);
	rng = 0x2545f4914f6cdd1dull;
	for (i = 0; i < n; i++) {
		k = dist_key(family, random, i);
		h = hash_of(&k);
		CHECK_EQ(tcps_slots_insert(&k, tcps_slots_home(h, tn), tcps_slots_want(h, family),
					   &id, &s), TCPS_SLOTS_INSERTED);
	}
	rng = 0x2545f4914f6cdd1dull;
	for (i = 0; i < n; i++) {
		k = dist_key(family, random, i);
		h = hash_of(&k);
		CHECK(tcps_slots_find(&k, tcps_slots_home(h, tn), tcps_slots_want(h, family), &walked));
		hit += walked;
	}
	for (i = 0; i < n; i++) {	/* as many absent ones */
		k = dist_key(family, random, i);
		k.port[1] = htons(444);
		h = hash_of(&k);
		CHECK(!tcps_slots_find(&k, tcps_slots_home(h, tn), tcps_slots_want(h, family), &walked));
		miss += walked;
	}
	hit /= n;
	miss /= n;
	printf("# IPv%d %s: mean walk of a hit %.2f (theory %.2f), a miss %.1f (%.1f)\n",
	       family == TCPS_AF_INET6 ? 6 : 4, random ? "random" : "sequential ports", hit,
	       (1 + 1 / (1 - a)) / 2, miss, (1 + 1 / ((1 - a) * (1 - a))) / 2);
	CHECK(hit < 1.5 * (1 + 1 / (1 - a)) / 2);
	CHECK(miss < 1.5 * (1 + 1 / ((1 - a) * (1 - a))) / 2);
}

TEST(test_homes_spread_sequential_and_random_tuples)
{
	dist_check(TCPS_AF_INET, 0);
	dist_check(TCPS_AF_INET, 1);
	dist_check(TCPS_AF_INET6, 0);
	dist_check(TCPS_AF_INET6, 1);
}

/* ---- threads ---- */
#define THREADS 3
#define SAME 2000		/* tuples all threads insert */

static __u32 results[THREADS][TCPS_SLOTS_ILOCKED + 1];

/* Thread t inserts all SAME tuples, starting at its own offset so the
 * threads meet on the same tuples at the same time. */
static void *insert_all(void *arg)
{
	long t = (long)arg;
	struct tcps_slot_hdr *s;
	__u32 i;

	for (i = 0; i < SAME; i++)
		results[t][insert(TCPS_AF_INET6, (i + (__u32)t * 7) % SAME, &s)]++;
	return NULL;
}

TEST(test_threads_insert_same_tuples_once)
{
	pthread_t th[THREADS];
	__u32 inserted = 0, raced = 0, id;
	long t;

	table(MAXN);
	memset(results, 0, sizeof(results));
	jitter = 1;
	for (t = 0; t < THREADS; t++)
		CHECK(!pthread_create(&th[t], NULL, insert_all, (void *)t));
	for (t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	jitter = 0;
	for (t = 0; t < THREADS; t++) {
		inserted += results[t][TCPS_SLOTS_INSERTED];
		raced += results[t][TCPS_SLOTS_RACED];
	}
	CHECK_EQ(inserted, SAME);
	CHECK_EQ(raced, (THREADS - 1) * SAME);
	CHECK_EQ(count_state(TCPS_SLOT_FULL), SAME);
	for (id = 0; id < SAME; id++)
		CHECK(pos(TCPS_AF_INET6, id) >= 0);
	CHECK(!broken_chains());
}

/*
 * Two churning threads look up tuples of the first CHURN, check what they
 * find under the slot's lock, delete it or insert it again (both on the
 * same tuples: they race on inserts and deletes), and look up and check a
 * never-deleted one; a collector makes epochs and passes. The epochs'
 * grace periods are an RCU of the two: a sequence number each, odd inside
 * an operation.
 */
#define LIVE 3300		/* load 0.8 */
#define CHURN 800
#define CHURN_OPS 50000		/* each, at least, and over at least MIN_PASSES */
#define MIN_PASSES 20
#define RUN_NS 3000000000LL	/* the churn stops early past 3 s */

static __u32 rd_seq[2];
static int stop;
static __u32 wrong, passes, moved, reclaimed;

static void rd_enter(int r)
{
	__atomic_add_fetch(&rd_seq[r], 1, __ATOMIC_SEQ_CST);
}

static void rd_exit(int r)
{
	__atomic_add_fetch(&rd_seq[r], 1, __ATOMIC_RELEASE);
}

static void grace_period(void)
{
	__u32 r, s;

	for (r = 0; r < 2; r++) {
		s = __atomic_load_n(&rd_seq[r], __ATOMIC_SEQ_CST);
		while ((s & 1) && __atomic_load_n(&rd_seq[r], __ATOMIC_ACQUIRE) == s)
			sched_yield();
	}
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Tuple id looked up; if found, checked as the product's FSM step would:
 * under its lock, if its tag is still the tuple's, key and payload must
 * be the tuple's. The slot, or NULL. */
static struct tcps_slot_hdr *find_checked(__u32 id)
{
	struct tcps_key k = key(TCPS_AF_INET, id), got;
	__u32 want = tcps_slots_want(hash_of(&k), TCPS_AF_INET);
	struct tcps_slot_hdr *s = find(&k);

	if (!s)
		return NULL;
	tcps_slot_lock(s);
	if ((TCPS_SLOTS_READ(s->tag) & ~TCPS_SLOT_ILOCK) == want) {
		tcps_slot_key(s, want, &got);
		if (memcmp(&got, &k, sizeof(got)) || ((struct tslot *)s)->id != id)
			__atomic_add_fetch(&wrong, 1, __ATOMIC_RELAXED);
	}
	tcps_slot_unlock(s);
	return s;
}

static void *churn(void *arg)
{
	long long end = now_ns() + RUN_NS;
	int r = (int)(long)arg;
	struct tcps_slot_hdr *s;
	__u32 i, id;

	for (i = 0; (i < CHURN_OPS || __atomic_load_n(&passes, __ATOMIC_ACQUIRE) < MIN_PASSES) &&
		    now_ns() < end;
	     i++) {
		id = (i * 7919u + (__u32)r * 13) % CHURN;
		rd_enter(r);
		if (find_checked(id))
			del(TCPS_AF_INET, id);
		else
			insert(TCPS_AF_INET, id, &s);
		find_checked(CHURN + (i * 31u) % (LIVE - CHURN));
		rd_exit(r);
	}
	return NULL;
}

/* Three epochs, each after a grace period, then a pass: as bench/slots.c. */
static void *collector(void *arg)
{
	int e;

	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		for (e = 0; e < 3; e++) {
			grace_period();
			__atomic_add_fetch(&tepoch, 1, __ATOMIC_RELEASE);
		}
		tcps_slots_collect();
		__atomic_add_fetch(&passes, 1, __ATOMIC_RELEASE);
		moved += (__u32)tcoll.moved;
		reclaimed += (__u32)tcoll.reclaimed;
	}
	return NULL;
}

TEST(test_threads_lookups_during_deletes_and_collect)
{
	struct tcps_slot_hdr *s;
	pthread_t th[3];
	__u32 id;
	long t;

	table(MAXN);
	for (id = 0; id < LIVE; id++)
		CHECK_EQ(insert(TCPS_AF_INET, id, &s), TCPS_SLOTS_INSERTED);
	jitter = 1;
	stop = 0;
	wrong = passes = moved = reclaimed = 0;
	for (t = 0; t < 2; t++)
		CHECK(!pthread_create(&th[t], NULL, churn, (void *)t));
	CHECK(!pthread_create(&th[2], NULL, collector, NULL));
	for (t = 0; t < 2; t++)
		pthread_join(th[t], NULL);
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	pthread_join(th[2], NULL);
	jitter = 0;
	CHECK_EQ(wrong, 0);
	CHECK(passes > 0 && moved > 0 && reclaimed > 0);
	for (id = CHURN; id < LIVE; id++)	/* never deleted: all still there */
		CHECK(pos(TCPS_AF_INET, id) >= 0);
	CHECK(!broken_chains());
	printf("# %u collector passes: %u moved, %u made EMPTY\n", passes, moved, reclaimed);
}

int main(void)
{
	RUN(test_insert_lookup_delete);
	RUN(test_probe_wraps_at_array_end);
	RUN(test_full_chain_fails_open);
	RUN(test_cap_keeps_empty_slots);
	RUN(test_tombstone_claimed_by_later_insert);
	RUN(test_collector_compacts_and_reclaims);
	RUN(test_collector_reclaim_only_moves_nothing);
	RUN(test_tombstone_passed_by_a_walk_stays_until_its_epoch_ends);
	RUN(test_ipv4_ipv6_same_words_are_different_tuples);
	RUN(test_homes_spread_sequential_and_random_tuples);
	RUN(test_threads_insert_same_tuples_once);
	RUN(test_threads_lookups_during_deletes_and_collect);
	return check_done();
}
