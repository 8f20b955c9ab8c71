/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Zeek-compatible view of TCP traffic: Zeek's connection records, each with
 * its conn_state (S0, S1, SF, REJ, S2, S3, RSTO, RSTR, RSTOS0, RSTRH, SH,
 * SHR, OTH) and history, computed from the same packets replay feeds to the
 * BPF program but kept apart from tcpscope's own state machine.
 *
 * Follows Zeek's TCPSessionAdapter (endpoint states, update_history,
 * retransmission and zero-window counting), the gap reporting of its TCP
 * reassembler (G/g: sequence space acknowledged that was never seen), its
 * session handling (a new record on tuple reuse and after the attempt,
 * close, expire and inactivity timers remove a connection), its role flips
 * (likely server ports; a SYN-ACK answered by an ACK or data) and conn_state()
 * of base/protocols/conn/main.zeek. Not modelled: 'C'/'c' (checksums: Zeek
 * is usually run with -C on traces) and anything an application-layer
 * analyzer decides (DPD, skip_further_processing).
 */
#ifndef TCPS_ZEEK_H
#define TCPS_ZEEK_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "keyidx.h"
#include "tcp_fsm.h"
#include "tcpscope.h"

/* Zeek's TCP_Endpoint states (types.bif: TCP_INACTIVE ... TCP_RESET). */
enum tcps_zeek_state {
	TCPS_Z_INACTIVE = 0,
	TCPS_Z_SYN_SENT,
	TCPS_Z_SYN_ACK_SENT,
	TCPS_Z_PARTIAL,
	TCPS_Z_ESTABLISHED,
	TCPS_Z_CLOSED,
	TCPS_Z_RESET,
};

#define TCPS_ZEEK_HIST_MAX 48
/* Out-of-order blocks a reassembler remembers above its delivery point. */
#define TCPS_ZEEK_MAX_BLOCKS 8

/* Zeek's defaults (init-bare.zeek) for what decides records in a capture. */
#define TCPS_ZEEK_SEC 1000000000ULL
#define TCPS_ZEEK_ATTEMPT_DELAY (5 * TCPS_ZEEK_SEC)	/* tcp_attempt_delay */
#define TCPS_ZEEK_CLOSE_DELAY (5 * TCPS_ZEEK_SEC)	/* tcp_close_delay */
#define TCPS_ZEEK_SYN_TIMEOUT (5 * TCPS_ZEEK_SEC)	/* tcp_SYN_timeout: first expire check */
#define TCPS_ZEEK_SESSION_TIMER (6 * TCPS_ZEEK_SEC)	/* tcp_session_timer: expire period */
#define TCPS_ZEEK_LINGER (5 * TCPS_ZEEK_SEC)		/* tcp_connection_linger */
/* Inactivity: the session starts with udp_inactivity_timeout (1 min) and
 * takes tcp_inactivity_timeout (5 min) once a handshake completes. */
#define TCPS_ZEEK_INACTIVITY_EARLY (60 * TCPS_ZEEK_SEC)
#define TCPS_ZEEK_INACTIVITY (300 * TCPS_ZEEK_SEC)

struct tcps_zeek_block {
	__s64 lo, hi;		/* [lo, hi) relative sequence space */
};

struct tcps_zeek_ep {
	__u8 state, prev_state;
	bool seq_init, did_close;
	__u32 start_seq;	/* ISN (or first seq - 1 when picked up mid-stream) */
	__u32 last_seq;		/* highest seq + segment length */
	__u32 ack_seq;		/* highest ack the peer sent for our data */
	__u32 hist_last_syn, hist_last_fin, hist_last_rst;
	__u32 rxmt_cnt, rxmt_thresh;
	__u32 win0_cnt, win0_thresh;
	__u32 gap_cnt, gap_thresh;
	__u32 fin_cnt;
	__s64 fin_seq;		/* relative sequence just past the FIN */
	__u64 size;		/* payload bytes by sequence space (Zeek's Size()) */
	/* Zeek's TCP_Reassembler for this direction (relative sequences). */
	__s64 reassem;		/* delivered up to here */
	__s64 trim;		/* acknowledged (trimmed) up to here */
	struct tcps_zeek_block blk[TCPS_ZEEK_MAX_BLOCKS];	/* above reassem, sorted */
	__u8 nblk;
};

struct tcps_zeek {
	struct tcps_zeek_ep ep[2];	/* [0] = Zeek's originator, [1] = responder */
	int orig_side;		/* canonical key side (0/1) of Zeek's originator */
	bool started;
	bool active;		/* Zeek's is_active: timers still look at it */
	bool partial;		/* Zeek's is_partial */
	bool long_idle;		/* handshake done: tcp_inactivity_timeout applies */
	bool ended;		/* Zeek removed the connection */
	bool synack_first;	/* began with the orig's SYN-ACK, not flipped yet */
	__u8 first_seen;	/* bit 0 orig, bit 1 resp: first packet seen */
	__u32 npkts;
	__u64 start_time, last_time;	/* ns; last_time stops once both closed */
	__u64 attempt_at, expire_at, delete_at;	/* pending timers, 0 = none */
	__u32 hist_seen;	/* Zeek's per-direction "letter seen" bits */
	char history[TCPS_ZEEK_HIST_MAX];
	unsigned int hist_len;
};

void tcps_zeek_init(struct tcps_zeek *z);
/* A TCP segment sent by canonical side `side` at capture time now (ns);
 * sport/dport are the sender's. captured: the whole payload is in the
 * capture (a snaplen-cut payload never reaches Zeek's reassembler). */
void tcps_zeek_packet(struct tcps_zeek *z, int side, const struct tcps_seg *g, __u64 now,
		      bool captured);
/* Run Zeek's timers up to now: true if they removed the connection (the
 * next packet of the tuple then starts a new one). */
bool tcps_zeek_advance(struct tcps_zeek *z, __u64 now);
/* Would Zeek start a new connection with this segment (IsReuse)? */
bool tcps_zeek_is_reuse(const struct tcps_zeek *z, const struct tcps_seg *g);
const char *tcps_zeek_conn_state(const struct tcps_zeek *z);
const char *tcps_zeek_state_name(unsigned int st);
/* Does Zeek's likely_server_ports (its analyzers' ports) hold port? */
bool tcps_zeek_likely_server_port(__u16 port);

/* ---- Zeek's connection records, several per tuple over time ---------- */

struct tcps_zeek_rec {
	struct tcps_key key;
	struct tcps_zeek z;
	__u64 first, last;	/* capture time of its first and last packet */
	__u64 pkts[2], bytes[2];	/* by canonical key side */
	__u32 prev;		/* index + 1 of the tuple's record before it, 0 none */
};

struct tcps_zeek_table {
	struct tcps_zeek_rec *recs;	/* in creation (capture) order */
	size_t n, cap;
	struct tcps_keyidx idx;	/* key -> newest record */
};

/* Hand one segment to the record Zeek would give it, starting a new record
 * where Zeek would. *idx: that record. 0 or -ENOMEM. */
int tcps_zeek_table_packet(struct tcps_zeek_table *t, const struct tcps_key *k, int side,
			   const struct tcps_seg *g, __u64 now, bool captured, size_t *idx);
void tcps_zeek_table_free(struct tcps_zeek_table *t);

#endif /* TCPS_ZEEK_H */
