/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A connection table of our own (issue 11, point 4), as a measured
 * prototype: what bench/slots.bpf.c and bench/slots.c share. The table's
 * algorithm, tags and hash are include/tcps_slots.h; here the prototype's
 * slot (its payload) and counters. Nothing of the product changes.
 *
 * One BPF_MAP_TYPE_ARRAY of fixed 112-byte slots: the table's header (tag
 * and tuple, 40 bytes), then the payload, whose spin lock is the slot's.
 */
#ifndef TCPS_BENCH_SLOTS_H
#define TCPS_BENCH_SLOTS_H

#include "tcpscope.h"
#include "tcps_slots.h"

/* 112 bytes: the array rounds a value up to 8, and 112 / 0.875 = 128 B a
 * connection. No room left for pkts/bytes/ifindex (bench/NOTES.md). */
struct slot {
	struct tcps_slot_hdr h;	/* tag and canonical tuple */
	struct bpf_spin_lock lock;	/* the FSM step and delete, as tcps_conn.lock */
	struct tcps_fsm fsm;	/* as include/tcpscope.h has it: 56 bytes (60 when measured) */
	__u32 first_tick;	/* bpf_ktime_get_coarse_ns() >> 20 (~1.05 ms, wraps in 52 days) */
	__u32 last_tick;
	__u32 pad;		/* the 112 bytes it was measured at */
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
	/* SLOTS_INSERT + enum tcps_slots_ins, in its order: */
	SLOTS_INSERT,		/* tuple inserted in a free slot */
	SLOTS_RACE,		/* absent at lookup, present under ILOCK */
	SLOTS_FULLCHAIN,	/* no free slot within TCPS_SLOTS_PROBE_MAX: not tracked */
	SLOTS_CLAIMLOST,	/* an EMPTY slot's claim failed twice: not tracked */
	SLOTS_ILOCKED,		/* ILOCK held too long by another CPU: not tracked */
	SLOTS_DELETE,		/* RST of a tracked tuple: tombstone */
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

#endif /* TCPS_BENCH_SLOTS_H */
