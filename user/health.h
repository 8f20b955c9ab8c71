/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Connection health (struct tcps_health) as users see it: the JSON fields,
 * the `list --info` columns, the sort keys, and the socket owners of host
 * mode. Shared by list, /v1/connections, replay and /metrics. */
#ifndef TCPS_HEALTH_VIEW_H
#define TCPS_HEALTH_VIEW_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>

#include "maps.h"

/* One connection's health, from the first side's point of view (local in
 * host mode, orig in passive mode): out = sent by it, in = by its peer. */
struct tcps_health_view {
	__u32 rtt_us, rtt_min_us, rtt_last_us;	/* host: network RTT; passive: both halves */
	__u32 hs_us;		/* handshake RTT (host: network half; passive: both) */
	__u32 hs_local_us;	/* host: local half; passive: orig half */
	__u32 hs_remote_us;	/* passive: resp half */
	bool hs_done;
	__u32 retrans_out, retrans_in, rbytes_out, rbytes_in;
	__u32 ooo_out, ooo_in, dup_out, dup_in, zwin_out, zwin_in;
	__u64 duration_ns;
};

void tcps_health_view_of(const struct tcps_conn *c, __u32 mode, struct tcps_health_view *v);

/* Queries of an instance run with --no-health show "-" and null. */
void tcps_health_set_enabled(bool on);
bool tcps_health_enabled(void);

/* list -p: the owners to add to JSON objects (pid, comm, cgroup; null
 * where none), NULL: no owner fields. */
struct tcps_owners;
void tcps_health_set_owners(const struct tcps_owners *o);

/* Adds the health fields to a list --json / replay connection object
 * (json-c or streamed: output.h). */
struct tcps_jw;
void tcps_health_emit(struct tcps_jw *o, const struct tcps_row *r, __u32 mode);

/* list --sort rtt|retrans: a < b in the listing (slowest / most first). */
int tcps_health_cmp_rtt(const struct tcps_conn *a, const struct tcps_conn *b, __u32 mode);
int tcps_health_cmp_retrans(const struct tcps_conn *a, const struct tcps_conn *b, __u32 mode);

/* list --info: netstat-like address columns (aw wide: at least
 * tcps_info_addr_width of the rows), then rtt (smoothed/min),
 * retransmissions (out/in), duration and, with owners, the owner. */
int tcps_info_addr_width(const struct tcps_row *r, __u32 mode);
void tcps_info_text_header(FILE *f, __u32 mode, bool owners, int aw);
void tcps_info_text(FILE *f, const struct tcps_row *r, __u32 mode, const char *owner, int aw);

/* The histogram slots of the tcps_trans map (after TCPS_HIST_BASE),
 * summed over CPUs; 0 or -errno. */
#define TCPS_HIST_SLOTS (TCPS_TRANS_MAP_SLOTS - TCPS_HIST_BASE)
int tcps_hist_read(int fd, __u64 out[TCPS_HIST_SLOTS]);
/* Prometheus histogram families (cumulative le buckets, _sum, _count). */
void tcps_health_metrics_write(FILE *f, const __u64 hist[TCPS_HIST_SLOTS]);

#endif /* TCPS_HEALTH_VIEW_H */
