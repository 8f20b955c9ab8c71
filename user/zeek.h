/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Zeek-compatible classification of one TCP connection: conn_state (S0, S1,
 * SF, REJ, S2, S3, RSTO, RSTR, RSTOS0, RSTRH, SH, SHR, OTH) and the history
 * string, computed from the same packets replay feeds to the BPF program.
 * Follows Zeek's TCPSessionAdapter (endpoint states, update_history,
 * retransmission and zero-window counting) and conn_state() of
 * base/protocols/conn/main.zeek. Not modelled: 'C'/'c' (checksums: Zeek is
 * usually run with -C on traces), 'G'/'g' (content gaps need reassembly).
 */
#ifndef TCPS_ZEEK_H
#define TCPS_ZEEK_H

#include <stdbool.h>
#include <linux/types.h>

#include "tcp_fsm.h"

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

struct tcps_zeek_ep {
	__u8 state, prev_state;
	bool seq_init;
	__u32 start_seq;	/* ISN (or first seq - 1 when picked up mid-stream) */
	__u32 last_seq;		/* highest seq + segment length */
	__u32 hist_last_syn, hist_last_fin, hist_last_rst;
	__u32 rxmt_cnt, rxmt_thresh;
	__u32 win0_cnt, win0_thresh;
	__u64 size;		/* payload bytes by sequence space (Zeek's Size()) */
};

struct tcps_zeek {
	struct tcps_zeek_ep ep[2];	/* [0] = Zeek's originator, [1] = responder */
	int orig_side;		/* canonical key side (0/1) of Zeek's originator */
	bool started;
	__u32 hist_seen;	/* Zeek's per-direction "letter seen" bits */
	char history[TCPS_ZEEK_HIST_MAX];
	unsigned int hist_len;
};

void tcps_zeek_init(struct tcps_zeek *z);
/* A TCP segment sent by canonical side `side`; sport/dport are the sender's. */
void tcps_zeek_packet(struct tcps_zeek *z, int side, const struct tcps_seg *g);
/* Would Zeek start a new connection with this segment (tuple reuse)? */
bool tcps_zeek_is_reuse(const struct tcps_zeek *z, int side, const struct tcps_seg *g);
const char *tcps_zeek_conn_state(const struct tcps_zeek *z);
const char *tcps_zeek_state_name(unsigned int st);
/* Does Zeek's likely_server_ports (its analyzers' ports) hold port? */
bool tcps_zeek_likely_server_port(__u16 port);

#endif /* TCPS_ZEEK_H */
