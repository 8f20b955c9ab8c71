/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The per-state gauges (tcpscope.h TCPS_GAUGE_BASE): reading them, and
 * keeping them exact where userspace inserts or deletes entries itself. */
#ifndef TCPS_GAUGES_H
#define TCPS_GAUGES_H

#include "maps.h"

struct tcps_gauges {
	__u64 states[TCPS_STATE_MAX];	/* entries per state of the first side */
	__u64 conns, halfopen;		/* entries per table */
};

/* Both groups summed over CPUs: 0 or -errno. O(1) in the table size. */
int tcps_gauges_read(int trans_fd, struct tcps_gauges *g);

/* The one process that writes the userspace group of a set of tables. */
struct tcps_gauge_owner {
	int trans_fd, conns_fd, halfopen_fd;	/* -1: not owning (notes are no-ops) */
	__u32 mode;		/* enum tcps_mode: which side is first */
	int ncpu;
	__u64 v[TCPS_G_GROUP];	/* the group's totals, as last written */
	__u64 *buf;		/* values of two slots for one update */
	bool warned;
};

/* Take over the userspace group of these tables, keeping what it holds
 * (an adopted table's deletes so far). 0 or -errno. */
int tcps_gauge_owner_init(struct tcps_gauge_owner *o, int trans_fd, int conns_fd, int halfopen_fd,
			  __u32 mode);
void tcps_gauge_owner_fini(struct tcps_gauge_owner *o);
/* Userspace inserted (delta +1) or deleted (-1) entry c in the table of
 * tbl_fd: the gauges follow, in one syscall. */
void tcps_gauge_note(struct tcps_gauge_owner *o, int tbl_fd, const struct tcps_conn *c, int delta);

/* The daemon's (gc.c, seed.c): set up by the gc module's start. */
extern struct tcps_gauge_owner tcps_daemon_gauges;

#endif /* TCPS_GAUGES_H */
