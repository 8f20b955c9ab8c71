/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A connection table of our own (issue 11, point 4), as a measured
 * prototype: what bench/slots.bpf.c and bench/slots.c share. Plain data
 * and the tuple hash (pure C, no helpers), nothing of the product changes.
 *
 * One BPF_MAP_TYPE_ARRAY of fixed 112-byte slots, open addressing with
 * linear probing from the tuple's home slot. The first word of a slot is
 * its tag, changed only by atomics:
 *
 *   bits 0-1  state: EMPTY, TOMB (deleted), BUSY (being written), FULL
 *   bit  2    ILOCK: an insert of a tuple whose home is this slot is in
 *             progress (serialises inserts of one tuple, see slots.bpf.c)
 *   bit  3    the tuple's family is IPv6 (FULL only)
 *   bits 4-31 fingerprint of the tuple hash (FULL), the collector's epoch
 *             when it was made (TOMB: slots_tomb)
 */
#ifndef TCPS_BENCH_SLOTS_H
#define TCPS_BENCH_SLOTS_H

#include "tcpscope.h"

#define SLOT_EMPTY 0u
#define SLOT_TOMB 1u
#define SLOT_BUSY 2u
#define SLOT_FULL 3u
#define SLOT_STATE 3u
#define SLOT_ILOCK 4u
#define SLOT_V6 8u

#ifndef SLOTS_PROBE_MAX
#define SLOTS_PROBE_MAX 4096	/* slots a lookup or insert walks at most */
#endif
#ifndef SLOTS_PROBE_INLINE
#define SLOTS_PROBE_INLINE 16	/* of which a lookup walks unrolled */
#endif

/* 112 bytes: the array rounds a value up to 8, and 112 / 0.875 = 128 B a
 * connection. No room left for pkts/bytes/ifindex (bench/NOTES.md). */
struct slot {
	__u32 tag;
	struct bpf_spin_lock lock;	/* the FSM step and delete, as tcps_conn.lock */
	__u32 addr[2][4];	/* canonical tuple as struct tcps_key (IPv4 in [i][0]) */
	__u16 port[2];
	struct tcps_fsm fsm;	/* as include/tcpscope.h has it: 60 bytes */
	__u32 first_tick;	/* bpf_ktime_get_coarse_ns() >> 20 (~1.05 ms, wraps in 52 days) */
	__u32 last_tick;
};
_Static_assert(sizeof(struct slot) == 112, "a slot is 112 bytes");

/* The hash map floor's value: the product's slim value size (120 B). */
struct floor_val {
	__u32 tag;
	__u32 last_tick;
	__u8 rest[112];
};

enum slots_counter {
	SLOTS_HIT = 0,		/* tuple found */
	SLOTS_INSERT,		/* tuple inserted in a free slot */
	SLOTS_RACE,		/* absent at lookup, present under ILOCK */
	SLOTS_DELETE,		/* RST of a tracked tuple: tombstone */
	SLOTS_FULLCHAIN,	/* no free slot within SLOTS_PROBE_MAX: not tracked */
	SLOTS_CLAIMLOST,	/* an EMPTY slot's claim failed twice: not tracked */
	SLOTS_ILOCKED,		/* ILOCK held too long by another CPU: not tracked */
	SLOTS_PROBES,		/* slots walked, all operations */
	SLOTS_FLOOR_HIT,
	SLOTS_FLOOR_INSERT,
	SLOTS_FLOOR_FAIL,
	SLOTS_FLOOR_DELETE,
	SLOTS_CNT_MAX,
};

struct slots_cnt {
	__u64 c[SLOTS_CNT_MAX];
};

static inline __u32 slots_rotl(__u32 x, int r)
{
	return (x << r) | (x >> (32 - r));
}

static inline __u32 slots_fmix(__u32 h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

/*
 * Murmur3-style mix of the nine words of the tuple (two 16-byte addresses,
 * the two ports), seeded per table and by family: one multiply-rotate-
 * multiply per word and a final avalanche, ~60 instructions. Not keyed
 * against hash flooding beyond the random seed; a flood ends in bounded
 * probe walks (SLOTS_PROBE_MAX) that fail open, not in long ones.
 */
static inline __u32 slots_hash(const struct tcps_key *k, __u32 seed)
{
	const __u32 *w = &k->addr[0][0];
	__u32 h = seed ^ k->family, x;
	int i;

	for (i = 0; i < 9; i++) {
		x = i < 8 ? w[i] : ((__u32)k->port[0] | (__u32)k->port[1] << 16);
		x *= 0xcc9e2d51u;
		x = slots_rotl(x, 15) * 0x1b873593u;
		h = slots_rotl(h ^ x, 13) * 5 + 0xe6546b64u;
	}
	return slots_fmix(h ^ 36);
}

/* Home slot: the hash's top bits scaled to n (no power of two needed). */
static inline __u32 slots_home(__u32 h, __u32 n)
{
	return (__u32)(((__u64)h * n) >> 32);
}

/* Tag of the tuple once FULL: fingerprint from a second mix (independent
 * of the home's bits), family, state. */
static inline __u32 slots_want(__u32 h, __u8 family)
{
	return (slots_fmix(h ^ 0x5bd1e995u) & ~15u) | (family == TCPS_AF_INET6 ? SLOT_V6 : 0) |
	       SLOT_FULL;
}

/* A tombstone's tag: the collector's epoch in the fingerprint bits. */
static inline __u32 slots_tomb(__u32 epoch)
{
	return epoch << 4 | SLOT_TOMB;
}

/* The collector's state and its counters for one pass (slots_collect_run,
 * slots.bpf.c): userspace reads the counters from .bss. */
#define COLL_HOLES 256		/* pending holes of one cluster */
#define COLL_CANDS 256		/* pending reclaim candidates of one cluster */

struct collector {
	__u32 e0;		/* the EMPTY slot the pass starts after */
	__u32 start;		/* first slot of the current cluster */
	__u32 nh, first;	/* holes hp/ht[first..nh) (UINT32 max: used) */
	__u32 nc;		/* candidates cp/ct[0..nc) */
	__u32 hp[COLL_HOLES], ht[COLL_HOLES];
	__u32 cp[COLL_CANDS], ct[COLL_CANDS];
	__u64 moved, reclaimed, tombs, full, crossed;
};

#endif /* TCPS_BENCH_SLOTS_H */
