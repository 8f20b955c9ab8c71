/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* One place that turns connections and events into JSON (json-c) and text,
 * for every subcommand and export, so the outputs never drift apart. */
#ifndef TCPS_OUTPUT_H
#define TCPS_OUTPUT_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>

#include "jbuf.h"
#include "maps.h"

#define TCPS_JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* A connection seen from its first side (local, or orig in passive mode). */
struct tcps_view {
	int first, second;	/* canonical sides */
	char faddr[48], saddr[48];
	unsigned int fport, sport;
	const char *fstate, *sstate;
	const char *family;	/* "ipv4" / "ipv6" */
	char ifname[16];
};

/* Interface names come from the owning daemon's info (its namespace may
 * not be ours); the pointer must stay valid while output is made. */
void tcps_output_set_info(const struct tcps_info *info);

void tcps_view_of(const struct tcps_key *k, const struct tcps_conn *c, __u32 mode,
		  struct tcps_view *v);
/* ADDR:PORT, [ADDR]:PORT for IPv6, and a listener's port 0 as "*". */
void tcps_endpoint_str(char *buf, size_t len, const char *addr, unsigned int port, bool v6);

/* A JSON object being written: into a json-c object (o), or appended as
 * text to b (jbuf.h, an open object), which builds no tree: list --json
 * writes a million rows with it. One field list serves both, so the
 * stream and the objects never drift apart. */
struct tcps_jw {
	struct tcps_jbuf *b;	/* non-NULL: stream */
	json_object *o;
};
/* One field; a NULL string is JSON null. */
void tcps_jw_str(struct tcps_jw *w, const char *k, const char *v);
void tcps_jw_int(struct tcps_jw *w, const char *k, long long v);
void tcps_jw_bool(struct tcps_jw *w, const char *k, bool v);
void tcps_jw_null(struct tcps_jw *w, const char *k);
/* A CLOCK_MONOTONIC time as tcps_fmt_time's UTC text. */
void tcps_jw_time(struct tcps_jw *w, const char *k, __u64 mono_ns);

/* DESIGN §4 list --json object (host: local_ and remote_ fields; passive: orig_ and resp_). */
void tcps_conn_emit(struct tcps_jw *w, const struct tcps_row *r, __u32 mode);
json_object *tcps_conn_json(const struct tcps_row *r, __u32 mode);
/* The same object, appended to b as text. */
void tcps_conn_write(struct tcps_jbuf *b, const struct tcps_row *r, __u32 mode);
/* An event's side as seen from the first one ("local"/"remote", passive
 * "orig"/"resp"), and its reason's name ("packet", "timeout", "seed").
 * The events JSON itself is evjson.h's. */
const char *tcps_event_side(const struct tcps_event *e, __u32 mode);
const char *tcps_reason_name(__u8 reason);
/* The connection table (list, replay): netstat -ant's columns plus ours,
 * each as wide as its widest cell (as netstat sizes its address columns),
 * so an IPv4 table stays within 100 columns. Measure every row that will
 * be printed, then print the header and the rows. Up to TCPS_TABLE_EXTRA
 * more columns (replay: Zeek's conn_state and history) go at the end. */
#define TCPS_TABLE_EXTRA 2
struct tcps_table {
	__u32 mode;
	__u64 now;		/* CLOCK_MONOTONIC ns, for the Age column */
	int nextra;
	const char *extra[TCPS_TABLE_EXTRA];
	int w[10 + TCPS_TABLE_EXTRA];
};
void tcps_table_init(struct tcps_table *t, __u32 mode, __u64 now_mono, int nextra,
		     const char *const *extra_names);
void tcps_table_measure(struct tcps_table *t, const struct tcps_row *r, const char *const *extra);
void tcps_table_header(FILE *f, const struct tcps_table *t);
void tcps_table_row(FILE *f, const struct tcps_table *t, const struct tcps_row *r,
		    const char *const *extra);
/* "2026-11-26T09:17:39.123456Z 198.18.0.1:40000 > 198.18.0.2:80 local SYN_SENT -> ESTABLISHED (SA)" */
void tcps_event_text(FILE *f, const struct tcps_event *e, __u32 mode);

/* events with a filter expression (filter.h): line is one events --json
 * object (len bytes); when it matches, print it as is (json) or in
 * tcps_event_text's form. Returns whether it matched. */
struct tcps_expr;
bool tcps_event_print_if(FILE *f, const char *line, size_t len, const struct tcps_expr *x,
			 bool json);

/* Print obj as one line on f and release it. */
void tcps_json_print(FILE *f, json_object *obj);

#endif /* TCPS_OUTPUT_H */
