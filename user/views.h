/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * top's panes (include/tcps_views.h) at any table size, within a bounded
 * cost per refresh. When a whole pass fits TCPS_VIEWS_KERNEL_BUDGET_NS
 * (the default table of 262144 entries always does), the table is
 * aggregated whole at every refresh, in the kernel (bpf/views.bpf.c).
 * Otherwise it is swept in slices of TCPS_VIEWS_SLICE entries per refresh
 * (batched map reads, resumed where the last slice stopped), and the panes
 * show the last complete sweep: at a million entries, one that took 8
 * refreshes. Measured at 1M (--max-conns 1100000) on 2 shared cores: a
 * whole pass costs ~200 ms of CPU in the kernel (it touches every bucket
 * and every element), a slice 60-70 ms. Memory is the aggregates, never
 * the rows.
 */
#ifndef TCPS_VIEWS_VIEW_H
#define TCPS_VIEWS_VIEW_H

#include "gc.h"
#include "maps.h"
#include "query.h"
#include "tcps_views.h"

/* The kernel pass walks every bucket of both tables, then every entry:
 * measured at 1M entries in tables of 2.6M buckets on 2 shared cores,
 * ~30 ns a bucket and ~150 ns an entry. It runs when that estimate stays
 * within this budget. */
#ifndef TCPS_VIEWS_KERNEL_BUDGET_NS
#define TCPS_VIEWS_KERNEL_BUDGET_NS 50000000ULL
#endif
#define TCPS_VIEWS_BUCKET_NS 30ULL
#define TCPS_VIEWS_ENTRY_NS 150ULL
#ifndef TCPS_VIEWS_SLICE
#define TCPS_VIEWS_SLICE 131072
#endif

struct views_bpf;
struct tcps_views_set {
	struct tcps_views *v;
	__u32 *ports;
	struct tcps_views_remote *remotes;
	__u64 as_of, expired;	/* expiring by query (no daemon) */
};

struct tcps_viewer {
	struct views_bpf *skel;	/* NULL: no kernel pass (could not load) */
	__u64 buckets;		/* of both tables (the kernel pass's fixed cost) */
	struct tcps_views_set kern, acc, done;
	/* What the panes show: kern, done, or (first sweep) acc so far. */
	const struct tcps_views_set *cur;
	bool swept;		/* cur is from a sweep */
	bool partial;		/* cur is a sweep still going */
	unsigned int slices, last_slices;	/* refreshes of this / the last sweep */
	/* the sweep in progress */
	struct tcps_views_cfg cfg;
	const struct tcps_timeouts *expire;
	__u64 expire_now;
	int map;		/* 0: conns, 1: halfopen */
	bool in_map, sweeping;	/* in_map: walk is in that table */
	struct tcps_ctable_walk walk;
};

/* Loads the kernel pass against p's tables when it can (logged at debug
 * level when not). 0 or -errno (no memory). */
int tcps_viewer_open(struct tcps_viewer *w, const struct tcps_pins *p);
void tcps_viewer_close(struct tcps_viewer *w);
/* One refresh's work: a whole pass in the kernel (when it fits the budget
 * for this many entries in both tables) or the next slice of the sweep. A cfg other than the sweep's (but for active_since) restarts it.
 * expire non-NULL (no daemon runs): what the daemon would have expired is
 * left out (by a sweep: the kernel pass does not expire). 0 or -errno. */
int tcps_viewer_walk(struct tcps_viewer *w, const struct tcps_pins *p,
		     const struct tcps_views_cfg *cfg, const struct tcps_timeouts *expire,
		     __u64 entries);
/* The n biggest groups of w->cur, most first (ties: lower key). */
size_t tcps_viewer_ports(const struct tcps_viewer *w, struct tcps_group *out, size_t n);
size_t tcps_viewer_remotes(const struct tcps_viewer *w, struct tcps_group *out, size_t n);

#endif /* TCPS_VIEWS_VIEW_H */
