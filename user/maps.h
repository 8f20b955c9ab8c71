/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Reading a running instance's pinned maps: the connection tables, counters
 * and transition counts. Views read the maps (the source of truth), never
 * the event log, so lost events cannot skew them. */
#ifndef TCPS_MAPS_H
#define TCPS_MAPS_H

#include <stddef.h>
#include "common.h"
#include "ctable.h"

/* Pin names under the pin directory. */
#define TCPS_PIN_CONNS "conns"
#define TCPS_PIN_HALFOPEN "halfopen"
#define TCPS_PIN_EVENTS "events"
#define TCPS_PIN_STATS "stats"
#define TCPS_PIN_TRANS "trans"
#define TCPS_PIN_INFO "info"

struct tcps_pins {
	int conns, halfopen, events, stats, trans, info;
	struct tcps_info meta;
	int sys;		/* the data path's tcps_sys program (not owned: the
				 * daemon's object holds it), -1 in a reader */
	__u32 nslots;		/* slots of the connection table (its max_entries) */
};

/* Entry size of a connection table (TCPS_CONN_SIZE_FULL, or _SLIM when
 * loaded with health off; of the slot array, what follows the slot's
 * header), -EPROTO for any other, or -errno. */
int tcps_conn_value_size(int fd);
/* A connection table of value_size bytes, with the BTF its spin lock
 * needs; libbpf's own creation would take the 216-byte struct's. Returns
 * the fd or -errno. */
int tcps_conn_map_create(const char *name, __u32 value_size, __u32 max_entries, __u32 flags);
/* The slot array (tcps_conns) of nslots slots of value_size bytes
 * (TCPS_SLOT_SIZE_FULL or _SLIM), likewise. */
int tcps_slot_map_create(const char *name, __u32 value_size, __u32 nslots);

/* Opens the pins and checks their layout. On failure logs one line saying
 * what to do and returns a TCPS_EXIT_* code (never 0). */
int tcps_pins_open(const char *dir, struct tcps_pins *p);
void tcps_pins_close(struct tcps_pins *p);
/* The pins' connection tables: tab[0] the main one, tab[1] the half-open. */
void tcps_pins_tables(const struct tcps_pins *p, struct tcps_ctable tab[2]);

struct tcps_row {
	struct tcps_key key;
	struct tcps_conn val;
	bool halfopen;		/* from the half-open (unanswered SYN) table */
};

/* Every entry of both tables (consistent per entry: read under the
 * entry's spin lock). *rows is malloc'ed; free() it. Returns 0 or -errno. */
int tcps_rows_read(const struct tcps_pins *p, struct tcps_row **rows, size_t *n);
/* Streaming: every entry of both tables (main table first, then the
 * half-open one), handed to fn a batch at a time in the tables' own
 * order, so memory is one batch (4096 rows) whatever the table size.
 * Each row is consistent (read under its spin lock); the walk as a whole
 * is not a snapshot. fn returns 0 to go on; anything else stops the walk
 * and is returned. Returns 0, -errno, or fn's value. */
typedef int (*tcps_row_fn)(const struct tcps_row *rows, size_t n, void *ctx);
int tcps_rows_walk(const struct tcps_pins *p, tcps_row_fn fn, void *ctx);
/* Entries of one table appended to *rows (*cap rows allocated). */
int tcps_rows_append(const struct tcps_ctable *t, struct tcps_row **rows, size_t *n, size_t *cap);

/* Per-CPU counters summed over CPUs. */
int tcps_counters_read(int fd, __u64 out[TCPS_CNT_MAX]);
/* Transition counts, [from * TCPS_STATE_MAX + to], summed over CPUs. */
/* Sum over CPUs of the __u64 slots first..first+n-1 of a per-CPU array. */
int tcps_percpu_sum(int fd, __u32 first, __u32 n, __u64 *out);
int tcps_trans_read(int fd, __u64 out[TCPS_STATE_MAX * TCPS_STATE_MAX]);

/* Which side a view shows first: the local endpoint in host mode (side 1
 * if TCPS_C_LOCAL1), the originator in passive mode (TCPS_C_ORIG1). */
static inline int tcps_first_side(const struct tcps_conn *c, __u32 mode)
{
	if (mode == TCPS_MODE_PASSIVE)
		return !!(c->fsm.flags & TCPS_C_ORIG1);
	return !!(c->fsm.flags & TCPS_C_LOCAL1);
}

#endif /* TCPS_MAPS_H */
