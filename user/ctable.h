/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The connection tables (tcps_conns, and tcps_halfopen for unanswered
 * SYNs) as userspace reads and writes them: by key, or by walking them a
 * batch at a time. The only file in user/ that touches their entries, so
 * that what the tables are (BPF hash maps today; a table of our own,
 * bench/NOTES.md "A table of our own", later) is known here alone.
 *
 * Values are read at the table's value size into a zeroed struct
 * tcps_conn: a table loaded with health off (TCPS_CONN_SIZE_SLIM) leaves
 * `h` zero. Functions return 0 or -errno unless said otherwise.
 */
#ifndef TCPS_CTABLE_H
#define TCPS_CTABLE_H

#include <stdbool.h>
#include <linux/types.h>
#include "tcpscope.h"

struct tcps_ctable {
	int fd;			/* the BPF hash map; -1: no such table (empty) */
	__u32 vsize;		/* its values' size: TCPS_CONN_SIZE_FULL or _SLIM */
	bool halfopen;		/* tcps_halfopen */
};

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
/* Nothing in t (or no table)? An error answers false: then look. */
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
};

/* Buffers for walks of any table. */
int tcps_ctable_walk_open(struct tcps_ctable_walk *w, bool locked);
void tcps_ctable_walk_close(struct tcps_ctable_walk *w);
/* (Re)start w at the beginning of t. */
void tcps_ctable_walk_start(struct tcps_ctable_walk *w, const struct tcps_ctable *t);
/* The next batch into w->keys and w->vals: its entries (0 once w->end),
 * or -errno (w unchanged: the call can be repeated). */
int tcps_ctable_walk_next(struct tcps_ctable_walk *w);
/* The value of the last batch's entry i. */
void tcps_ctable_walk_val(const struct tcps_ctable_walk *w, __u32 i, struct tcps_conn *c);

/* Its entries, counted by a walk (no snapshot either); -errno. */
long tcps_ctable_count(const struct tcps_ctable *t);
/* Remove every entry; entries the data path adds meanwhile may stay. */
int tcps_ctable_clear(const struct tcps_ctable *t);

#endif /* TCPS_CTABLE_H */
