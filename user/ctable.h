/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The connection tables (tcps_conns, and tcps_halfopen for unanswered
 * SYNs) as userspace reads and writes them: by key, or by walking them a
 * batch at a time. The only file in user/ that touches their entries, so
 * that what the tables are is known here alone: tcps_halfopen is a BPF
 * hash map; tcps_conns a table of our own (bench/NOTES.md "A table of our
 * own", include/tcps_slots.h), a BPF array of struct tcps_slot in which
 * lookups probe from the tuple's home slot (done here, natively, slot
 * copies read by index) and writes by key run the data path's syscall
 * program tcps_sys (they need the tags' atomics).
 *
 * Values are read at the table's value size into a zeroed struct
 * tcps_conn: a table loaded with health off (TCPS_CONN_SIZE_SLIM) leaves
 * the counters, the interface and `h` zero. Functions return 0 or -errno
 * unless said otherwise.
 */
#ifndef TCPS_CTABLE_H
#define TCPS_CTABLE_H

#include <stdbool.h>
#include <linux/types.h>
#include "tcpscope.h"
#include "tcps_slots.h"

/* What a table is; 0 is the hash map, so `{ fd, vsize, halfopen }` is one. */
enum tcps_ctable_kind {
	TCPS_CTABLE_HASH = 0,	/* BPF hash map of struct tcps_key -> struct tcps_conn */
	TCPS_CTABLE_SLOTS,	/* BPF array of struct tcps_slot (tcps_slots.h) */
};

struct tcps_ctable {
	int fd;			/* the BPF map; -1: no such table (empty) */
	__u32 vsize;		/* its entries' size: TCPS_CONN_SIZE_FULL or _SLIM (a
				 * slot is the 40-byte header and this) */
	bool halfopen;		/* tcps_halfopen */
	enum tcps_ctable_kind kind;
	/* A slot array's (tcps_ctable_slots): */
	__u32 seed;		/* its hash seed (tcps_info.slots_seed) */
	__u32 nslots;		/* its max_entries */
	int sys_fd;		/* the data path's tcps_sys program; -1: none
				 * (readers: take and insert_new fail with -ENOTSUP) */
	int gauge_fd;		/* tcps_trans (the gauges), for is_empty; -1: none */
};

/* A table of either kind, every field set. */
struct tcps_ctable tcps_ctable_hash(int fd, __u32 vsize, bool halfopen);
struct tcps_ctable tcps_ctable_slots(int fd, __u32 vsize, __u32 seed, __u32 nslots, int sys_fd,
				     int gauge_fd);
/* A slot array's value size for entries of vsize bytes. */
static inline __u32 tcps_ctable_slot_size(__u32 vsize)
{
	return (__u32)sizeof(struct tcps_slot_hdr) + vsize;
}

/* k's entry into *c; locked: read under the entry's spin lock (consistent),
 * else possibly torn but cheaper. -ENOENT when k is not there. */
int tcps_ctable_lookup(const struct tcps_ctable *t, const struct tcps_key *k,
		       struct tcps_conn *c, bool locked);
/* k's entry in tab[0] (the main table), else in tab[1]; *halfopen (may be
 * NULL) says which. -ENOENT when in neither. */
int tcps_ctable_find(const struct tcps_ctable tab[2], const struct tcps_key *k,
		     struct tcps_conn *c, bool locked, bool *halfopen);
/* Remove k's entry, its value as it left (read under its lock) into *c. */
int tcps_ctable_take(const struct tcps_ctable *t, const struct tcps_key *k, struct tcps_conn *c);
/* Insert c under k unless k is there already (-EEXIST); a full table
 * fails with -E2BIG (or -ENOMEM, -ENOSPC). */
int tcps_ctable_insert_new(const struct tcps_ctable *t, const struct tcps_key *k,
			   const struct tcps_conn *c);
/* Waits for this process's writes by key in progress (tcps_sys runs,
 * which the kernel runs under RCU tasks trace): part of the collector's
 * grace period (slotcfg.c). */
void tcps_ctable_sys_quiesce(void);
/* Entries this process has deleted from slot arrays so far (each left a
 * tombstone): the collector's cue. */
__u64 tcps_ctable_takes(void);
/* Nothing in t (or no table)? An error answers false: then look. A slot
 * array answers from the gauges (TCPS_G_CONNS, both groups: O(1), where a
 * look would copy the whole array), false without them. */
bool tcps_ctable_is_empty(const struct tcps_ctable *t);

/*
 * A walk over one table, TCPS_CTABLE_BATCH entries a call, in the table's
 * own order; resumable across calls (the position lives here). Each entry
 * is consistent when locked; the walk as a whole is no snapshot.
 */
#define TCPS_CTABLE_BATCH 4096
struct tcps_ctable_walk {
	struct tcps_ctable t;
	bool locked;
	bool resume;		/* cursor is where the last batch ended */
	bool end;		/* the last batch was the table's last */
	__u8 cursor[sizeof(struct tcps_key)];
	struct tcps_key *keys;	/* the last batch's keys */
	__u8 *vals;		/* and values, t.vsize bytes each */
	__u32 visited;		/* what the last batch read: entries, or slots of
				 * an array (of which only the FULL ones are entries) */
	__u32 *idx;		/* an array's batch: its slots' indexes */
	__u8 *slots;		/* and the slots */
	__u64 now;		/* when the last batch was read (its last_seen, health off) */
};

/* Buffers for walks of any table. */
int tcps_ctable_walk_open(struct tcps_ctable_walk *w, bool locked);
void tcps_ctable_walk_close(struct tcps_ctable_walk *w);
/* (Re)start w at the beginning of t. */
void tcps_ctable_walk_start(struct tcps_ctable_walk *w, const struct tcps_ctable *t);
/* The next batch into w->keys and w->vals: its entries, or -errno (w
 * unchanged: the call can be repeated). A slot array's batch of empty
 * slots has none: walk while !w->end, not while entries come. */
int tcps_ctable_walk_next(struct tcps_ctable_walk *w);
/* The value of the last batch's entry i. */
void tcps_ctable_walk_val(const struct tcps_ctable_walk *w, __u32 i, struct tcps_conn *c);

/* Its entries, counted by a walk (no snapshot either); -errno. */
long tcps_ctable_count(const struct tcps_ctable *t);
/* Remove every entry; entries the data path adds meanwhile may stay. A
 * slot array without its syscall program (a table nobody else writes,
 * e.g. a test's) has its slots zeroed directly. */
int tcps_ctable_clear(const struct tcps_ctable *t);

#endif /* TCPS_CTABLE_H */
