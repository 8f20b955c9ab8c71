/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Expiry of connection-table entries (DESIGN §1 "Expiry / GC"): idle
 * timeouts per state, TIME_WAIT after 2MSL, a short linger for CLOSE, and
 * early drop of closing entries when the table is nearly full. The sweep
 * is shared by the daemon (monotonic time) and replay (capture time).
 */
#ifndef TCPS_GC_H
#define TCPS_GC_H

#include <linux/types.h>
#include <stdbool.h>
#include "tcpscope.h"
#include "tcps_expire.h"	/* struct tcps_timeouts, the rule */
#include "ctable.h"

/* Defaults (seconds), after netfilter's nf_conntrack_proto_tcp.c, but for
 * the states that wait on the ACK of their own FIN (FIN_WAIT1, CLOSING,
 * LAST_ACK): the kernel resends that FIN with exponential backoff, up to
 * TCP_RTO_MAX (120 s) between two tries, and keeps the state meanwhile, so
 * an idle timeout shorter than that reports CLOSE while the kernel still
 * holds the socket (netfilter's 10 s CLOSE and 30 s LAST_ACK are a
 * firewall's, not the kernel's). Two lost tries after a handshake
 * retransmission (RTO 3 s) already leave 12 s of silence. */
#define TCPS_TO_RETRANSMIT 150		/* > TCP_RTO_MAX, with a margin */
#define TCPS_TO_ESTABLISHED 432000	/* 5 days */
#define TCPS_TO_SYN_SENT 120
#define TCPS_TO_SYN_RECV 60
#define TCPS_TO_FIN_WAIT1 TCPS_TO_RETRANSMIT
#define TCPS_TO_FIN_WAIT2 60		/* Linux tcp_fin_timeout: an orphan goes silently */
#define TCPS_TO_CLOSE_WAIT 60
#define TCPS_TO_LAST_ACK TCPS_TO_RETRANSMIT
#define TCPS_TO_CLOSING TCPS_TO_RETRANSMIT
#define TCPS_TO_TIME_WAIT 60		/* 2MSL as Linux (TCP_TIMEWAIT_LEN) */
#define TCPS_TO_CLOSE_LINGER 10
#define TCPS_TO_MIDSTREAM 300		/* picked up mid-stream, one direction seen */

typedef void (*tcps_gc_emit_fn)(void *ctx, const struct tcps_event *e);

/* Fill t with the defaults above (state_s[TCPS_CLOSE] is the linger,
 * state_s[TCPS_TIME_WAIT] the 2MSL, LISTEN never expires). */
void tcps_timeouts_default(struct tcps_timeouts *t, __u32 mode);

/* Seconds an entry may stay idle (since last_seen); 0: never expires. */
__u32 tcps_gc_timeout(const struct tcps_conn *c, const struct tcps_timeouts *t);
/* Has the entry timed out at now (same clock as last_seen)? The rule of
 * the sweep, shared with queries that expire when no daemon runs. */
bool tcps_gc_expired(const struct tcps_conn *c, __u64 now, const struct tcps_timeouts *t);

/*
 * One full sweep over both tables at time now_ns (same clock as
 * tcps_conn.last_seen). Every expired entry is deleted, and every endpoint
 * of it not already CLOSE is reported through emit (may be NULL) as a
 * transition to CLOSE with reason TCPS_REASON_TIMEOUT, ts = now_ns.
 * tab[1].fd may be -1. Returns the number of entries removed or -errno.
 */
int tcps_gc_sweep(const struct tcps_ctable tab[2], __u64 now_ns, const struct tcps_timeouts *t,
		  tcps_gc_emit_fn emit, void *ctx);

/* The daemon module (modules.c): a pass (an in-kernel scan of each table,
 * then the removal of what it found) every second, or less often on a
 * table so large that the scans would take more than 0.5 % of a core. */
struct tcps_daemon;
int tcps_gc_start(struct tcps_daemon *d);
void tcps_gc_tick(struct tcps_daemon *d, __u64 now_ns);
void tcps_gc_stop(struct tcps_daemon *d);

#endif /* TCPS_GC_H */
