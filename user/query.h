/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Snapshots of the running instance's tables, and the stat / list logic
 * that the CLI, the live view and the HTTP API share. */
#ifndef TCPS_QUERY_H
#define TCPS_QUERY_H

#include <json-c/json.h>
#include "gc.h"
#include "maps.h"

struct tcps_snapshot {
	struct tcps_pins pins;
	struct tcps_row *rows;
	size_t n;
	__u64 counters[TCPS_CNT_MAX];
	__u32 mode;
	__u64 now;		/* CLOCK_MONOTONIC ns when read */
	__u64 counts[TCPS_STATE_MAX];	/* per state of the first side */
	__u64 total;		/* entries in both tables; live: sum of counts */
	__u64 conns, halfopen;	/* entries per table (stat --json) */

	/* Live views (stat, list, top, HTTP) of a running instance's pins,
	 * set by tcps_query_open*: */
	bool live;
	/* Connections closed lately: first side in CLOSE, kept closed_window_s
	 * (the CLOSE linger) so their end can be listed. Not sockets: live
	 * counts[TCPS_CLOSE] is 0 and they are reported apart (issue 12.7). */
	__u64 closed;
	__u32 closed_window_s;
	/* No daemon runs for these pins (pid gone, or a --persist exit):
	 * nothing expired since; the query left out what the daemon would
	 * have expired (expired entries), by its recorded timeouts. */
	bool stale;
	__u32 owner_pid;	/* info.pid: 0 after a --persist exit */
	__u64 as_of;		/* stale: newest last_seen (CLOCK_MONOTONIC ns), 0 if empty */
	__u64 expired;
	const char *pin_dir;
};

/* Opens pin_dir and reads everything; returns 0 or a TCPS_EXIT_* code
 * (the error already logged). */
int tcps_query_open(const char *pin_dir, struct tcps_snapshot *s);
void tcps_query_close(struct tcps_snapshot *s);
/* Only the per-state counts, total and counters (no rows: s->n == 0),
 * from the gauges (tcps_state_totals); reads every row when no daemon
 * runs (they must be expired by the query). Same return values. */
int tcps_query_open_counts(const char *pin_dir, struct tcps_snapshot *s);
/* Per-state counts (first side) and entries per table: by the iterator
 * (statiter.c, 0 or -errno), or by tcps_state_totals, which falls back to
 * reading every row. */
int tcps_count_states_iter(const struct tcps_pins *p, __u64 counts[TCPS_STATE_MAX], __u64 *conns,
			   __u64 *halfopen);
int tcps_state_totals(const struct tcps_pins *p, __u64 counts[TCPS_STATE_MAX], __u64 *conns,
		      __u64 *halfopen);
/* tcps_state_totals reads the per-state gauges (gauges.c, O(1)) unless
 * this is set (stat --walk): then it counts the entries. */
extern bool tcps_totals_walk;

/* (Re)count s->counts and s->total from the rows s holds. */
void tcps_snapshot_count(struct tcps_snapshot *s);
/* Live views: move counts[TCPS_CLOSE] to s->closed (what ss would not
 * show), total = the sum of the rest. */
void tcps_snapshot_split_closed(struct tcps_snapshot *s);
/* Leave out the rows the daemon would have expired at now by t (when no
 * daemon runs): sets s->expired and s->as_of. */
void tcps_snapshot_expire(struct tcps_snapshot *s, const struct tcps_timeouts *t, __u64 now);
/* No daemon: one warning line on stderr, "no daemon is running for DIR
 * (pid N gone): states as of TIME, expired by query". Returns
 * TCPS_EXIT_STALE if s is stale, else TCPS_EXIT_OK. */
int tcps_stale_warn(const struct tcps_snapshot *s);
/* {"running": bool, "pid": n[, "as_of": time, "expired_by_query": n]} */
json_object *tcps_daemon_json(const struct tcps_snapshot *s);
/* Per-state counts of the first side (local, or orig in passive mode). */
void tcps_state_counts(const struct tcps_snapshot *s, __u64 counts[TCPS_STATE_MAX]);

struct tcps_group {
	char label[48];		/* remote address or local port */
	__u64 count;
};
/* Connections per remote address (or per local port), most first. */
size_t tcps_group(const struct tcps_snapshot *s, bool by_port, struct tcps_group **out);

/* DESIGN §4 stat --json document. */
json_object *tcps_stat_json(const struct tcps_snapshot *s, bool by_remote, bool by_port,
			    bool counters);

struct cidr;
struct tcps_expr;
struct tcps_filter {
	__u32 states;		/* bit per state; 0 = all */
	int port;		/* -1 = any */
	__u8 family;		/* 0 = any */
	bool has_cidr;
	struct cidr *cidr;
	const struct tcps_expr *expr;	/* ss-style expression (filter.h), NULL = none */
	size_t limit;		/* tcps_list_json: at most this many; 0 = all */
};
bool tcps_filter_match(const struct tcps_filter *f, const struct tcps_row *r, __u32 mode);
int tcps_filter_states(const char *arg, __u32 *mask);

/* The filter expression of a command's remaining arguments (ss-style,
 * filter.h): *out NULL when there are none. A bad one is a usage error:
 * one line naming the column, then the text with a caret under it. */
int tcps_expr_args(const char *cmd, int argc, char **argv, struct tcps_expr **out);

/* The stat summary: "STATE count" for all eleven states, then with
 * counters "# name value" per data-path counter. Shared by stat and replay. */
/* stat's text: the states, then (closed != NULL) the recently closed
 * line, then (counters != NULL) the counters as "# name value" lines. */
void tcps_stat_text(FILE *f, const __u64 counts[TCPS_STATE_MAX], const __u64 *closed,
		    unsigned int closed_window_s, const __u64 *counters);

/* list --sort KEY: index for tcps_rows_sort, -1 if unknown. Thread-safe. */
int tcps_sort_parse(const char *name);
/* The keys tcps_sort_parse knows, for messages: "state, local, ... or retrans". */
extern const char tcps_sort_keys[];
void tcps_rows_sort(struct tcps_snapshot *s, int key);
/* --addr: an address or CIDR; malloc'ed (free()), NULL if not one. */
struct cidr *tcps_cidr_parse(const char *s);
/* Its parts (family: TCPS_AF_*), for a filter evaluated elsewhere. */
void tcps_cidr_get(const struct cidr *c, __u8 *family, __u8 addr[16], __u8 *plen);
/* DESIGN §4 list --json document of the rows matching f (NULL: all),
 * streamed to out; returns the number of connections written. Shared by
 * 'list --json' and /v1/connections. */
size_t tcps_list_json(FILE *out, const struct tcps_snapshot *s, const struct tcps_filter *f);

int cmd_stat(int argc, char **argv);
int cmd_list(int argc, char **argv);

#endif /* TCPS_QUERY_H */
