// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of the pure TCP state machine (include/tcp_fsm.h) against the
 * contract of DESIGN.md §2 and RFC 9293 §3.3.2 / §3.10.7. Each test is a
 * short packet trace: pkt(side, "FA", seq, ack, len) feeds one segment and
 * the checks look at what tcps_fsm_step() reported (from/to per side and
 * the verdict), not only at where the connection ended up.
 */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "tcp_fsm.h"

/* Short names, so that traces read like netstat. */
#define ESTABLISHED TCPS_ESTABLISHED
#define SYN_SENT TCPS_SYN_SENT
#define SYN_RECV TCPS_SYN_RECV
#define FIN_WAIT1 TCPS_FIN_WAIT1
#define FIN_WAIT2 TCPS_FIN_WAIT2
#define TIME_WAIT TCPS_TIME_WAIT
#define CLOSE TCPS_CLOSE
#define CLOSE_WAIT TCPS_CLOSE_WAIT
#define LAST_ACK TCPS_LAST_ACK
#define LISTEN TCPS_LISTEN
#define CLOSING TCPS_CLOSING

/* Unless a test says otherwise side 0 is the client (high port) and side 1
 * the server (port 80), and these are their ISNs. */
#define CLI 0
#define SRV 1
#define CISN 1000u
#define SISN 5000u

static const char *st_name(int st)
{
	static const char *const names[] = {
		"(0)", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
		"TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING",
	};

	return st >= 0 && st < TCPS_STATE_MAX ? names[st] : "(bad)";
}

static struct tcps_fsm f;
static struct tcps_step r;
static __u16 port[2];
static __u16 win[2];		/* raw window field each side sends */
static int wscale[2];		/* window-scale option on its SYNs, -1: none */
static int sackok[2];		/* SACK-permitted on its SYNs (Linux's default) */

/* A tuple we have no entry for: what the data path hands the FSM. */
static void conn_new(void)
{
	memset(&f, 0, sizeof(f));
	memset(&r, 0, sizeof(r));
	f.flags = TCPS_C_NEW;
	port[CLI] = 40000;
	port[SRV] = 80;
	win[0] = win[1] = 65535;
	wscale[0] = wscale[1] = -1;
	sackok[0] = sackok[1] = 1;
}

/* Flags as tcpdump prints them: S A F R P U E C ("." or "" for none). */
static __u8 parse_flags(const char *fl)
{
	__u8 v = 0;

	for (; *fl; fl++) {
		switch (*fl) {
		case 'S': v |= TCPS_SYN; break;
		case 'A': v |= TCPS_ACK; break;
		case 'F': v |= TCPS_FIN; break;
		case 'R': v |= TCPS_RST; break;
		case 'P': v |= TCPS_PSH; break;
		case 'U': v |= TCPS_URG; break;
		case 'E': v |= TCPS_ECE; break;
		case 'C': v |= TCPS_CWR; break;
		default: break;
		}
	}
	return v;
}

static struct tcps_seg seg(int side, const char *fl, __u32 seq, __u32 ack, __u32 len)
{
	struct tcps_seg g;

	memset(&g, 0, sizeof(g));
	g.flags = parse_flags(fl);
	g.seq = seq;
	g.ack = ack;
	g.len = len;
	g.win = win[side];
	g.sport = port[side];
	g.dport = port[!side];
	g.has_sackok = (g.flags & TCPS_SYN) && sackok[side];
	if ((g.flags & TCPS_SYN) && wscale[side] >= 0) {
		g.has_wscale = 1;
		g.wscale = (__u8)wscale[side];
	}
	return g;
}

/* Every step, whatever the test: what r reports is what f now holds, and
 * a segment that was not accepted moved nothing. */
static void check_step_consistent(void)
{
	int i;

	for (i = 0; i < 2; i++) {
		if (r.to[i] != f.ep[i].state)
			CHECK_FAIL_("side %d: step says %s, fsm holds %s", i, st_name(r.to[i]),
				    st_name(f.ep[i].state));
		if (r.verdict != TCPS_V_OK && r.verdict != TCPS_V_REOPEN && r.from[i] != r.to[i])
			CHECK_FAIL_("side %d moved %s -> %s on verdict %d", i, st_name(r.from[i]),
				    st_name(r.to[i]), r.verdict);
	}
	if (f.flags & TCPS_C_NEW)
		CHECK_FAIL_("TCPS_C_NEW still set after a step");
}

static int pkt(int side, const char *fl, __u32 seq, __u32 ack, __u32 len)
{
	struct tcps_seg g = seg(side, fl, seq, ack, len);

	tcps_fsm_step(&f, side, &g, &r);
	check_step_consistent();
	return r.verdict;
}

#define CHECK_STATE(side, st)                                                          \
	do {                                                                           \
		if (f.ep[side].state != (st))                                          \
			CHECK_FAIL_("side %d is %s, expected %s", side,                \
				    st_name(f.ep[side].state), st_name(st));           \
	} while (0)

#define CHECK_STATES(s0, s1)           \
	do {                           \
		CHECK_STATE(0, s0);    \
		CHECK_STATE(1, s1);    \
	} while (0)

/* The last step moved side from a to b (a == b: reported no change). */
#define CHECK_MOVE(side, a, b)                                                          \
	do {                                                                            \
		if (r.from[side] != (a) || r.to[side] != (b))                           \
			CHECK_FAIL_("side %d went %s -> %s, expected %s -> %s", side,   \
				    st_name(r.from[side]), st_name(r.to[side]), st_name(a), \
				    st_name(b));                                        \
	} while (0)

#define CHECK_STAYS(side, a) CHECK_MOVE(side, a, a)

/* The last step changed no state at all. */
#define CHECK_NO_MOVE()                                                                 \
	do {                                                                            \
		if (r.from[0] != r.to[0] || r.from[1] != r.to[1])                       \
			CHECK_FAIL_("unexpected move %s -> %s / %s -> %s", st_name(r.from[0]), \
				    st_name(r.to[0]), st_name(r.from[1]), st_name(r.to[1])); \
	} while (0)

/* The three-way handshake, CLI -> SRV, with the given ISNs. */
static void handshake(__u32 cisn, __u32 sisn)
{
	pkt(CLI, "S", cisn, 0, 0);
	pkt(SRV, "SA", sisn, cisn + 1, 0);
	pkt(CLI, "A", cisn + 1, sisn + 1, 0);
	CHECK_STATES(ESTABLISHED, ESTABLISHED);
}

static void established(void)
{
	conn_new();
	handshake(CISN, SISN);
}

/* Client FIN, server ACK: client FIN_WAIT2, server CLOSE_WAIT. */
static void half_closed(void)
{
	established();
	pkt(CLI, "FA", CISN + 1, SISN + 1, 0);
	pkt(SRV, "A", SISN + 1, CISN + 2, 0);
	CHECK_STATES(FIN_WAIT2, CLOSE_WAIT);
}

/* ---- handshake ---------------------------------------------------------- */

TEST(test_syn_makes_sender_syn_sent_and_receiver_close)
{
	conn_new();
	CHECK_EQ(pkt(CLI, "S", CISN, 0, 0), TCPS_V_OK);
	CHECK_MOVE(CLI, CLOSE, SYN_SENT);
	CHECK_STAYS(SRV, CLOSE);
	CHECK_EQ(f.ep[CLI].isn, CISN);
	CHECK(f.ep[CLI].flags & TCPS_EP_ISN);
	CHECK(!(f.flags & (TCPS_C_MIDSTREAM | TCPS_C_ORIG1)));
	CHECK(f.flags & TCPS_C_SEEN0);
	CHECK(!(f.flags & TCPS_C_SEEN1));

	/* The side that sends the first SYN is orig, whichever side it is. */
	conn_new();
	pkt(SRV, "S", SISN, 0, 0);
	CHECK_MOVE(SRV, CLOSE, SYN_SENT);
	CHECK(f.flags & TCPS_C_ORIG1);
}

TEST(test_synack_acking_isn_plus_one_makes_sender_syn_recv_and_receiver_established)
{
	conn_new();
	pkt(CLI, "S", CISN, 0, 0);
	CHECK_EQ(pkt(SRV, "SA", SISN, CISN + 1, 0), TCPS_V_OK);
	CHECK_MOVE(SRV, CLOSE, SYN_RECV);
	CHECK_MOVE(CLI, SYN_SENT, ESTABLISHED);
	CHECK_EQ(f.ep[SRV].isn, SISN);
}

TEST(test_final_ack_makes_server_established)
{
	conn_new();
	pkt(CLI, "S", CISN, 0, 0);
	pkt(SRV, "SA", SISN, CISN + 1, 0);
	CHECK_EQ(pkt(CLI, "A", CISN + 1, SISN + 1, 0), TCPS_V_OK);
	CHECK_MOVE(SRV, SYN_RECV, ESTABLISHED);
	CHECK_STAYS(CLI, ESTABLISHED);
	CHECK(f.flags & TCPS_C_SEEN0);
	CHECK(f.flags & TCPS_C_SEEN1);
}

TEST(test_first_data_segment_completes_handshake_when_final_ack_is_missed)
{
	conn_new();
	pkt(CLI, "S", CISN, 0, 0);
	pkt(SRV, "SA", SISN, CISN + 1, 0);
	pkt(CLI, "PA", CISN + 1, SISN + 1, 100);
	CHECK_MOVE(SRV, SYN_RECV, ESTABLISHED);
}

TEST(test_synack_with_wrong_ack_is_ignored)
{
	conn_new();
	pkt(CLI, "S", CISN, 0, 0);
	CHECK_EQ(pkt(SRV, "SA", SISN, CISN, 0), TCPS_V_OOW);	/* ack = ISN */
	CHECK_NO_MOVE();
	CHECK_EQ(pkt(SRV, "SA", SISN, CISN + 2, 0), TCPS_V_OOW);	/* ack = ISN + 2 */
	CHECK_NO_MOVE();
	CHECK_EQ(pkt(SRV, "SA", SISN, 0xdeadbeef, 0), TCPS_V_OOW);
	CHECK_STATES(SYN_SENT, CLOSE);
	/* The ignored ones left no trace: the right one still works. */
	CHECK_EQ(pkt(SRV, "SA", SISN, CISN + 1, 0), TCPS_V_OK);
	CHECK_MOVE(CLI, SYN_SENT, ESTABLISHED);
	CHECK_MOVE(SRV, CLOSE, SYN_RECV);
}

TEST(test_simultaneous_open_goes_syn_recv_on_both_then_established)
{
	conn_new();
	pkt(CLI, "S", CISN, 0, 0);
	CHECK_EQ(pkt(SRV, "S", SISN, 0, 0), TCPS_V_OK);	/* SYN crossing SYN */
	CHECK_MOVE(SRV, CLOSE, SYN_RECV);
	CHECK_MOVE(CLI, SYN_SENT, SYN_RECV);
	/* Each side then sends SYN+ACK with its own ISN (RFC 9293 Figure 7). */
	CHECK_EQ(pkt(CLI, "SA", CISN, SISN + 1, 0), TCPS_V_OK);
	CHECK_MOVE(SRV, SYN_RECV, ESTABLISHED);
	CHECK_STAYS(CLI, SYN_RECV);
	CHECK_EQ(pkt(SRV, "SA", SISN, CISN + 1, 0), TCPS_V_OK);
	CHECK_MOVE(CLI, SYN_RECV, ESTABLISHED);
	CHECK_STAYS(SRV, ESTABLISHED);
}

TEST(test_retransmitted_syn_changes_nothing)
{
	conn_new();
	pkt(CLI, "S", CISN, 0, 0);
	CHECK_EQ(pkt(CLI, "S", CISN, 0, 0), TCPS_V_OK);
	CHECK_NO_MOVE();
	CHECK_STATES(SYN_SENT, CLOSE);
	/* Late copies after the answer, and after the handshake. */
	pkt(SRV, "SA", SISN, CISN + 1, 0);
	CHECK(pkt(CLI, "S", CISN, 0, 0) != TCPS_V_REOPEN);
	CHECK_NO_MOVE();
	CHECK_STATES(ESTABLISHED, SYN_RECV);
	pkt(CLI, "A", CISN + 1, SISN + 1, 0);
	CHECK(pkt(CLI, "S", CISN, 0, 0) != TCPS_V_REOPEN);
	CHECK_NO_MOVE();
	CHECK_STATES(ESTABLISHED, ESTABLISHED);
}

TEST(test_retransmitted_synack_changes_nothing)
{
	conn_new();
	pkt(CLI, "S", CISN, 0, 0);
	pkt(SRV, "SA", SISN, CISN + 1, 0);
	CHECK_EQ(pkt(SRV, "SA", SISN, CISN + 1, 0), TCPS_V_OK);
	CHECK_NO_MOVE();
	CHECK_STATES(ESTABLISHED, SYN_RECV);
	pkt(CLI, "A", CISN + 1, SISN + 1, 0);
	pkt(CLI, "PA", CISN + 1, SISN + 1, 500);
	/* The server lost the final ACK and tries again. */
	CHECK_EQ(pkt(SRV, "SA", SISN, CISN + 1, 0), TCPS_V_OK);
	CHECK_NO_MOVE();
	CHECK_STATES(ESTABLISHED, ESTABLISHED);
}

TEST(test_duplicate_acks_change_nothing)
{
	int i;

	established();
	pkt(SRV, "PA", SISN + 1, CISN + 1, 1000);
	for (i = 0; i < 3; i++) {
		CHECK_EQ(pkt(CLI, "A", CISN + 1, SISN + 1, 0), TCPS_V_OK);
		CHECK_NO_MOVE();
	}
	/* In FIN_WAIT1 too: only the ACK of the FIN itself moves it. */
	pkt(CLI, "FA", CISN + 1, SISN + 1001, 0);
	for (i = 0; i < 3; i++) {
		pkt(SRV, "A", SISN + 1001, CISN + 1, 0);
		CHECK_NO_MOVE();
	}
	CHECK_STATES(FIN_WAIT1, CLOSE_WAIT);
}

TEST(test_syn_in_established_changes_nothing)
{
	established();
	/* RFC 9293 §3.10.7.4 / RFC 5961 §4: a SYN in a synchronized state only
	 * draws a challenge ACK. */
	CHECK(pkt(CLI, "S", CISN + 77, 0, 0) != TCPS_V_REOPEN);
	CHECK_NO_MOVE();
	CHECK(pkt(SRV, "S", SISN + 77, 0, 0) != TCPS_V_REOPEN);
	CHECK_NO_MOVE();
	CHECK_STATES(ESTABLISHED, ESTABLISHED);
}

/* ---- close ------------------------------------------------------------- */

TEST(test_active_close_goes_fin_wait1_fin_wait2_time_wait)
{
	established();
	CHECK_EQ(pkt(CLI, "FA", CISN + 1, SISN + 1, 0), TCPS_V_OK);
	CHECK_MOVE(CLI, ESTABLISHED, FIN_WAIT1);
	CHECK_EQ(f.ep[CLI].fin_seq, CISN + 1);
	CHECK_EQ(pkt(SRV, "A", SISN + 1, CISN + 2, 0), TCPS_V_OK);
	CHECK_MOVE(CLI, FIN_WAIT1, FIN_WAIT2);
	CHECK_EQ(pkt(SRV, "FA", SISN + 1, CISN + 2, 0), TCPS_V_OK);
	CHECK_MOVE(CLI, FIN_WAIT2, TIME_WAIT);
	CHECK_EQ(pkt(CLI, "A", CISN + 2, SISN + 2, 0), TCPS_V_OK);
	CHECK_STAYS(CLI, TIME_WAIT);
}

TEST(test_passive_close_goes_close_wait_last_ack_close)
{
	established();
	pkt(CLI, "FA", CISN + 1, SISN + 1, 0);
	CHECK_MOVE(SRV, ESTABLISHED, CLOSE_WAIT);
	pkt(SRV, "A", SISN + 1, CISN + 2, 0);
	CHECK_STAYS(SRV, CLOSE_WAIT);
	pkt(SRV, "FA", SISN + 1, CISN + 2, 0);
	CHECK_MOVE(SRV, CLOSE_WAIT, LAST_ACK);
	CHECK_EQ(pkt(CLI, "A", CISN + 2, SISN + 2, 0), TCPS_V_OK);
	CHECK_MOVE(SRV, LAST_ACK, CLOSE);
	CHECK_STATES(TIME_WAIT, CLOSE);
}

TEST(test_fin_is_acked_only_by_fin_seq_plus_one)
{
	established();
	pkt(CLI, "PA", CISN + 1, SISN + 1, 100);
	pkt(CLI, "FA", CISN + 101, SISN + 1, 0);
	CHECK_EQ(f.ep[CLI].fin_seq, CISN + 101);
	/* Data-only ACK, then an ACK of everything but the FIN. */
	pkt(SRV, "A", SISN + 1, CISN + 51, 0);
	CHECK_STAYS(CLI, FIN_WAIT1);
	pkt(SRV, "A", SISN + 1, CISN + 101, 0);	/* ack = fin_seq */
	CHECK_STAYS(CLI, FIN_WAIT1);
	pkt(SRV, "A", SISN + 1, CISN + 102, 0);	/* ack = fin_seq + 1 */
	CHECK_MOVE(CLI, FIN_WAIT1, FIN_WAIT2);

	/* LAST_ACK and CLOSING wait for exactly that ack as well. */
	pkt(SRV, "FA", SISN + 1, CISN + 102, 0);
	CHECK_STATES(TIME_WAIT, LAST_ACK);
	pkt(CLI, "A", CISN + 102, SISN + 1, 0);
	CHECK_STAYS(SRV, LAST_ACK);
	pkt(CLI, "A", CISN + 102, SISN + 2, 0);
	CHECK_MOVE(SRV, LAST_ACK, CLOSE);
}

TEST(test_fin_with_payload_puts_fin_after_the_data)
{
	established();
	CHECK_EQ(pkt(CLI, "FPA", CISN + 1, SISN + 1, 300), TCPS_V_OK);
	CHECK_MOVE(CLI, ESTABLISHED, FIN_WAIT1);
	CHECK_MOVE(SRV, ESTABLISHED, CLOSE_WAIT);
	CHECK_EQ(f.ep[CLI].fin_seq, CISN + 301);
	CHECK_EQ(f.ep[CLI].snd_nxt, CISN + 302);
	pkt(SRV, "A", SISN + 1, CISN + 2, 0);	/* what seq + 1 would be */
	CHECK_STAYS(CLI, FIN_WAIT1);
	pkt(SRV, "A", SISN + 1, CISN + 301, 0);
	CHECK_STAYS(CLI, FIN_WAIT1);
	pkt(SRV, "A", SISN + 1, CISN + 302, 0);
	CHECK_MOVE(CLI, FIN_WAIT1, FIN_WAIT2);
}

TEST(test_fin_ack_piggyback_goes_to_time_wait)
{
	established();
	pkt(CLI, "FA", CISN + 1, SISN + 1, 0);
	/* The server's FIN carries the ACK of ours: no FIN_WAIT2 in between. */
	CHECK_EQ(pkt(SRV, "FA", SISN + 1, CISN + 2, 0), TCPS_V_OK);
	CHECK_MOVE(CLI, FIN_WAIT1, TIME_WAIT);
	CHECK_MOVE(SRV, CLOSE_WAIT, LAST_ACK);
	pkt(CLI, "A", CISN + 2, SISN + 2, 0);
	CHECK_MOVE(SRV, LAST_ACK, CLOSE);
	CHECK_STAYS(CLI, TIME_WAIT);
}

TEST(test_simultaneous_close_goes_closing_on_both_then_time_wait)
{
	established();
	pkt(CLI, "FA", CISN + 1, SISN + 1, 0);
	/* The server's FIN crossed ours: it does not acknowledge it. */
	CHECK_EQ(pkt(SRV, "FA", SISN + 1, CISN + 1, 0), TCPS_V_OK);
	CHECK_MOVE(CLI, FIN_WAIT1, CLOSING);
	CHECK_MOVE(SRV, CLOSE_WAIT, CLOSING);
	pkt(CLI, "A", CISN + 2, SISN + 2, 0);
	CHECK_MOVE(SRV, CLOSING, TIME_WAIT);
	CHECK_STAYS(CLI, CLOSING);
	pkt(SRV, "A", SISN + 2, CISN + 2, 0);
	CHECK_MOVE(CLI, CLOSING, TIME_WAIT);
	CHECK_STATES(TIME_WAIT, TIME_WAIT);
}

TEST(test_fin_from_syn_recv_goes_fin_wait1)
{
	/* RFC 9293 Figure 5: SYN-RECEIVED --CLOSE/snd FIN--> FIN-WAIT-1. */
	conn_new();
	pkt(CLI, "S", CISN, 0, 0);
	pkt(SRV, "SA", SISN, CISN + 1, 0);
	pkt(SRV, "FA", SISN + 1, CISN + 1, 0);
	CHECK_MOVE(SRV, SYN_RECV, FIN_WAIT1);
	CHECK_MOVE(CLI, ESTABLISHED, CLOSE_WAIT);
}

TEST(test_fin_received_in_syn_recv_goes_close_wait)
{
	/* The client closes at once and its first segment after the SYN is a
	 * FIN+ACK: it completes the handshake and closes (RFC 9293 §3.10.7.4,
	 * "SYN-RECEIVED STATE: Enter the CLOSE-WAIT state"). */
	conn_new();
	pkt(CLI, "S", CISN, 0, 0);
	pkt(SRV, "SA", SISN, CISN + 1, 0);
	pkt(CLI, "FA", CISN + 1, SISN + 1, 0);
	CHECK_MOVE(SRV, SYN_RECV, CLOSE_WAIT);
	CHECK_MOVE(CLI, ESTABLISHED, FIN_WAIT1);
}

TEST(test_retransmitted_fin_changes_nothing)
{
	established();
	pkt(CLI, "FA", CISN + 1, SISN + 1, 0);
	CHECK_EQ(pkt(CLI, "FA", CISN + 1, SISN + 1, 0), TCPS_V_OK);
	CHECK_NO_MOVE();
	pkt(SRV, "A", SISN + 1, CISN + 2, 0);
	pkt(CLI, "FA", CISN + 1, SISN + 1, 0);
	CHECK_NO_MOVE();
	CHECK_STATES(FIN_WAIT2, CLOSE_WAIT);
	pkt(SRV, "FA", SISN + 1, CISN + 2, 0);
	/* The server's FIN again (our last ACK was lost), twice. */
	pkt(SRV, "FA", SISN + 1, CISN + 2, 0);
	CHECK_NO_MOVE();
	pkt(CLI, "A", CISN + 2, SISN + 2, 0);
	pkt(SRV, "FA", SISN + 1, CISN + 2, 0);
	CHECK_NO_MOVE();
	CHECK_STATES(TIME_WAIT, CLOSE);
}

/* ---- RST --------------------------------------------------------------- */

TEST(test_rst_with_exact_seq_closes_both)
{
	established();
	pkt(CLI, "PA", CISN + 1, SISN + 1, 100);
	pkt(SRV, "A", SISN + 1, CISN + 101, 0);
	CHECK_EQ(pkt(CLI, "R", CISN + 101, 0, 0), TCPS_V_OK);
	CHECK_MOVE(CLI, ESTABLISHED, CLOSE);
	CHECK_MOVE(SRV, ESTABLISHED, CLOSE);

	/* From the other side, RST+ACK as Linux sends on abort. */
	established();
	CHECK_EQ(pkt(SRV, "RA", SISN + 1, CISN + 1, 0), TCPS_V_OK);
	CHECK_STATES(CLOSE, CLOSE);
}

TEST(test_rst_at_senders_snd_nxt_closes_even_if_receiver_lags)
{
	/* The server sent 1000 bytes the client has not acknowledged yet:
	 * either the client's RCV.NXT as we saw it or the server's SND.NXT
	 * may be the RST's sequence number. */
	established();
	pkt(SRV, "PA", SISN + 1, CISN + 1, 1000);
	CHECK_EQ(pkt(SRV, "R", SISN + 1001, 0, 0), TCPS_V_OK);
	CHECK_STATES(CLOSE, CLOSE);

	established();
	pkt(SRV, "PA", SISN + 1, CISN + 1, 1000);
	CHECK_EQ(pkt(SRV, "R", SISN + 1, 0, 0), TCPS_V_OK);
	CHECK_STATES(CLOSE, CLOSE);
}

TEST(test_rst_past_a_hole_is_ignored_until_the_data_arrives)
{
	/* The client's 1000 bytes are lost on the way; its next pure ACK
	 * (seq = its SND.NXT) still arrives. The server's RCV.NXT is at the
	 * hole: Linux answers an RST at the ACK's seq with a challenge ACK. */
	established();
	pkt(CLI, "A", CISN + 1001, SISN + 1, 0);
	CHECK_EQ(pkt(CLI, "R", CISN + 1001, 0, 0), TCPS_V_OOW);
	CHECK_STATES(ESTABLISHED, ESTABLISHED);
	/* The retransmission fills the hole: now the same RST is exact. */
	pkt(CLI, "PA", CISN + 1, SISN + 1, 1000);
	CHECK_EQ(pkt(CLI, "R", CISN + 1001, 0, 0), TCPS_V_OK);
	CHECK_STATES(CLOSE, CLOSE);
}

TEST(test_rst_at_the_right_edge_of_data_past_a_hole_closes)
{
	/* 1000 bytes lost, the next 500 arrive out of order: the server
	 * SACKs them and Linux takes an RST at their end (the right-most SACK
	 * block), though RCV.NXT is still at the hole. */
	established();
	pkt(CLI, "PA", CISN + 1001, SISN + 1, 500);
	CHECK_EQ(pkt(CLI, "R", CISN + 1501, 0, 0), TCPS_V_OK);
	CHECK_STATES(CLOSE, CLOSE);
}

/* As established(), with SACK-permitted on the SYN of `side` only: not
 * negotiated. */
static void established_without_sack(int side)
{
	conn_new();
	sackok[!side] = 0;
	handshake(CISN, SISN);
}

TEST(test_rst_without_sack_takes_only_rcv_nxt_past_a_gap)
{
	/* No SACK: data past a gap stays out of order, RCV.NXT stays at the
	 * gap, and Linux takes an RST only there. */
	established_without_sack(CLI);
	CHECK(!tcps_sack_on(&f));
	pkt(CLI, "PA", CISN + 1001, SISN + 1, 500);
	CHECK_EQ(pkt(CLI, "R", CISN + 1501, 0, 0), TCPS_V_OOW);
	CHECK_STATES(ESTABLISHED, ESTABLISHED);
	/* The retransmission fills the gap. Linux would take the RST now, but
	 * the observer cannot tell a filled gap from one of several: it waits
	 * for the server's ACK of all, which Linux sends at once. */
	pkt(SRV, "A", SISN + 1, CISN + 1, 0);
	pkt(CLI, "PA", CISN + 1, SISN + 1, 1000);
	CHECK_EQ(pkt(CLI, "R", CISN + 1501, 0, 0), TCPS_V_OOW);
	pkt(SRV, "A", SISN + 1, CISN + 1501, 0);
	CHECK_EQ(pkt(CLI, "R", CISN + 1501, 0, 0), TCPS_V_OK);
	CHECK_STATES(CLOSE, CLOSE);
}

TEST(test_rst_without_sack_at_unacknowledged_in_order_data_closes)
{
	/* No gap: the receiver holds the data before its delayed ACK, and
	 * new data after an acknowledged gap is in order again. */
	established_without_sack(SRV);
	pkt(CLI, "PA", CISN + 1, SISN + 1, 1000);
	CHECK_EQ(pkt(CLI, "R", CISN + 1001, 0, 0), TCPS_V_OK);
	CHECK_STATES(CLOSE, CLOSE);

	established_without_sack(SRV);
	pkt(CLI, "PA", CISN + 1001, SISN + 1, 500);
	pkt(CLI, "PA", CISN + 1, SISN + 1, 1000);
	pkt(SRV, "A", SISN + 1, CISN + 1501, 0);
	pkt(CLI, "PA", CISN + 1501, SISN + 1, 100);
	CHECK_EQ(pkt(CLI, "R", CISN + 1601, 0, 0), TCPS_V_OK);
	CHECK_STATES(CLOSE, CLOSE);
}

TEST(test_rst_at_the_fin_seq_closes_once_the_fin_is_received)
{
	/* RCV.NXT - 1 after a FIN (Linux tcp_reset_check): taken in
	 * CLOSE_WAIT, LAST_ACK and CLOSING, never before the FIN. */
	established();
	CHECK_EQ(pkt(CLI, "R", CISN, 0, 0), TCPS_V_OOW);
	pkt(CLI, "FA", CISN + 1, SISN + 1, 0);
	pkt(SRV, "A", SISN + 1, CISN + 2, 0);
	CHECK_STATES(FIN_WAIT2, CLOSE_WAIT);
	CHECK_EQ(pkt(CLI, "R", CISN + 1, 0, 0), TCPS_V_OK);
	CHECK_STATES(CLOSE, CLOSE);

	established();
	pkt(CLI, "FA", CISN + 1, SISN + 1, 0);
	pkt(SRV, "FA", SISN + 1, CISN + 2, 0);
	CHECK_STATES(TIME_WAIT, LAST_ACK);
	CHECK_EQ(pkt(CLI, "R", CISN + 1, 0, 0), TCPS_V_OK);
	CHECK_STATES(CLOSE, CLOSE);
}

TEST(test_rst_out_of_window_is_ignored)
{
	static const __u32 bad[] = {
		CISN + 2,		/* one past RCV.NXT */
		CISN,			/* one before */
		CISN + 1 + 30000,	/* in window but not exact: challenge ACK only */
		CISN + 1 + 10000000,	/* far out */
		CISN + 1 + 0x80000000u,	/* half the sequence space away */
	};
	unsigned int i;

	established();
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ(pkt(CLI, "R", bad[i], 0, 0), TCPS_V_OOW);
		CHECK_NO_MOVE();
		CHECK_EQ(pkt(CLI, "RA", bad[i], SISN + 1, 0), TCPS_V_OOW);
		CHECK_NO_MOVE();
	}
	CHECK_STATES(ESTABLISHED, ESTABLISHED);
	CHECK_EQ(pkt(CLI, "R", CISN + 1, 0, 0), TCPS_V_OK);
	CHECK_STATES(CLOSE, CLOSE);
}

TEST(test_rst_in_syn_sent_needs_ack_of_isn_plus_one)
{
	conn_new();
	pkt(CLI, "S", CISN, 0, 0);
	/* RFC 9293 §3.10.7.3: in SYN-SENT only an RST whose ACK acknowledges
	 * the SYN is acceptable. */
	CHECK_EQ(pkt(SRV, "R", 0, 0, 0), TCPS_V_OOW);
	CHECK_EQ(pkt(SRV, "R", CISN + 1, 0, 0), TCPS_V_OOW);
	CHECK_EQ(pkt(SRV, "RA", 0, CISN, 0), TCPS_V_OOW);
	CHECK_EQ(pkt(SRV, "RA", 0, CISN + 2, 0), TCPS_V_OOW);
	CHECK_STATES(SYN_SENT, CLOSE);
	/* Connection refused: Linux answers RST+ACK, seq 0, ack ISN + 1. */
	CHECK_EQ(pkt(SRV, "RA", 0, CISN + 1, 0), TCPS_V_OK);
	CHECK_MOVE(CLI, SYN_SENT, CLOSE);
	CHECK_STAYS(SRV, CLOSE);
}

TEST(test_rst_after_synack_closes_half_open_connection)
{
	/* A SYN scan: SYN, SYN+ACK, then the scanner's RST at ISN + 1. */
	conn_new();
	pkt(CLI, "S", CISN, 0, 0);
	pkt(SRV, "SA", SISN, CISN + 1, 0);
	CHECK_EQ(pkt(CLI, "R", CISN + 5, 0, 0), TCPS_V_OOW);
	CHECK_EQ(pkt(CLI, "R", CISN + 1, 0, 0), TCPS_V_OK);
	CHECK_MOVE(SRV, SYN_RECV, CLOSE);
	CHECK_MOVE(CLI, ESTABLISHED, CLOSE);
}

TEST(test_rst_closes_every_closing_state)
{
	/* FIN_WAIT1 / CLOSE_WAIT */
	established();
	pkt(CLI, "FA", CISN + 1, SISN + 1, 0);
	CHECK_EQ(pkt(SRV, "R", SISN + 1, 0, 0), TCPS_V_OK);
	CHECK_MOVE(CLI, FIN_WAIT1, CLOSE);
	CHECK_MOVE(SRV, CLOSE_WAIT, CLOSE);

	/* FIN_WAIT2, by the client's RST after its FIN (SND.NXT = FIN + 1) */
	half_closed();
	CHECK_EQ(pkt(CLI, "R", CISN + 2, 0, 0), TCPS_V_OK);
	CHECK_MOVE(CLI, FIN_WAIT2, CLOSE);

	/* TIME_WAIT / LAST_ACK (Linux's default tcp_rfc1337 = 0 kills TIME_WAIT) */
	half_closed();
	pkt(SRV, "FA", SISN + 1, CISN + 2, 0);
	CHECK_EQ(pkt(SRV, "R", SISN + 2, 0, 0), TCPS_V_OK);
	CHECK_MOVE(CLI, TIME_WAIT, CLOSE);
	CHECK_MOVE(SRV, LAST_ACK, CLOSE);

	/* CLOSING on both */
	established();
	pkt(CLI, "FA", CISN + 1, SISN + 1, 0);
	pkt(SRV, "FA", SISN + 1, CISN + 1, 0);
	CHECK_EQ(pkt(CLI, "R", CISN + 2, 0, 0), TCPS_V_OK);
	CHECK_MOVE(CLI, CLOSING, CLOSE);
	CHECK_MOVE(SRV, CLOSING, CLOSE);
}

/* ---- out of window, reordering ----------------------------------------- */

TEST(test_out_of_window_fin_is_ignored)
{
	established();
	CHECK_EQ(pkt(CLI, "FA", CISN + 1 + 10000000, SISN + 1, 0), TCPS_V_OOW);
	CHECK_NO_MOVE();
	CHECK(!(f.ep[CLI].flags & TCPS_EP_FIN));
	CHECK_EQ(pkt(CLI, "FA", CISN + 1 - 10000000, SISN + 1, 0), TCPS_V_OOW);
	CHECK_NO_MOVE();
	/* A FIN that acknowledges data the server never sent. */
	CHECK_EQ(pkt(CLI, "FA", CISN + 1, SISN + 5000, 0), TCPS_V_OOW);
	CHECK_NO_MOVE();
	CHECK_STATES(ESTABLISHED, ESTABLISHED);
	/* The real FIN is still recognised, at its own sequence number. */
	pkt(CLI, "FA", CISN + 1, SISN + 1, 0);
	pkt(SRV, "A", SISN + 1, CISN + 2, 0);
	CHECK_MOVE(CLI, FIN_WAIT1, FIN_WAIT2);
}

TEST(test_out_of_window_ack_is_ignored)
{
	established();
	pkt(CLI, "FA", CISN + 1, SISN + 1, 0);
	/* The right ack number, but a sequence number far outside. */
	CHECK_EQ(pkt(SRV, "A", SISN + 1 + 10000000, CISN + 2, 0), TCPS_V_OOW);
	CHECK_NO_MOVE();
	/* Acknowledging more than the client ever sent. */
	CHECK_EQ(pkt(SRV, "A", SISN + 1, CISN + 3, 0), TCPS_V_OOW);
	CHECK_NO_MOVE();
	CHECK_STATES(FIN_WAIT1, CLOSE_WAIT);

	/* Nor does a bogus ACK complete a handshake. */
	conn_new();
	pkt(CLI, "S", CISN, 0, 0);
	pkt(SRV, "SA", SISN, CISN + 1, 0);
	CHECK_EQ(pkt(CLI, "A", CISN + 1, SISN + 2, 0), TCPS_V_OOW);
	CHECK_NO_MOVE();
	CHECK_STATES(ESTABLISHED, SYN_RECV);
}

TEST(test_reordered_fin_before_data_still_needs_the_ack_of_the_fin)
{
	established();
	pkt(CLI, "FA", CISN + 101, SISN + 1, 0);	/* overtook the data */
	CHECK_MOVE(CLI, ESTABLISHED, FIN_WAIT1);
	CHECK_EQ(pkt(CLI, "PA", CISN + 1, SISN + 1, 100), TCPS_V_OK);
	CHECK_NO_MOVE();
	pkt(SRV, "A", SISN + 1, CISN + 101, 0);
	CHECK_NO_MOVE();
	pkt(SRV, "A", SISN + 1, CISN + 102, 0);
	CHECK_MOVE(CLI, FIN_WAIT1, FIN_WAIT2);
}

TEST(test_reordered_segments_never_move_a_state_backwards)
{
	established();
	pkt(CLI, "FA", CISN + 1, SISN + 1, 0);
	/* The server's FIN+ACK overtakes its plain ACK of our FIN. */
	pkt(SRV, "FA", SISN + 1, CISN + 2, 0);
	CHECK_STATES(TIME_WAIT, LAST_ACK);
	CHECK_EQ(pkt(SRV, "A", SISN + 1, CISN + 2, 0), TCPS_V_OK);
	CHECK_NO_MOVE();
	/* And an old ACK of the handshake arrives last of all. */
	pkt(SRV, "A", SISN + 1, CISN + 1, 0);
	CHECK_NO_MOVE();
	pkt(CLI, "A", CISN + 1, SISN + 1, 0);
	CHECK_NO_MOVE();
	CHECK_STATES(TIME_WAIT, LAST_ACK);

	/* The client's ACK overtakes the SYN+ACK it answers (passive tap). */
	conn_new();
	pkt(CLI, "S", CISN, 0, 0);
	pkt(CLI, "A", CISN + 1, SISN + 1, 0);
	CHECK_NO_MOVE();
	pkt(SRV, "SA", SISN, CISN + 1, 0);
	CHECK_STATES(ESTABLISHED, SYN_RECV);
	pkt(CLI, "PA", CISN + 1, SISN + 1, 10);
	CHECK_STATES(ESTABLISHED, ESTABLISHED);
}

/* ---- first packet not a SYN -------------------------------------------- */

TEST(test_midstream_pickup_is_established_on_both_and_flagged)
{
	conn_new();
	CHECK_EQ(pkt(CLI, "PA", 777777, 888888, 100), TCPS_V_OK);
	CHECK_MOVE(CLI, CLOSE, ESTABLISHED);
	CHECK_MOVE(SRV, CLOSE, ESTABLISHED);
	CHECK(f.flags & TCPS_C_MIDSTREAM);
	CHECK(f.flags & TCPS_C_SEEN0);
	CHECK(!(f.flags & TCPS_C_SEEN1));
	/* The other direction joins in without a transition. */
	CHECK_EQ(pkt(SRV, "A", 888888, 777877, 0), TCPS_V_OK);
	CHECK_NO_MOVE();
	CHECK(f.flags & TCPS_C_SEEN1);
}

TEST(test_midstream_lower_port_is_server)
{
	/* Sender is the high port: it is orig. */
	conn_new();
	pkt(CLI, "A", 1, 1, 0);
	CHECK(!(f.flags & TCPS_C_ORIG1));
	/* Sender is the low port (server): the receiver is orig. */
	conn_new();
	pkt(SRV, "A", 1, 1, 0);
	CHECK(!(f.flags & TCPS_C_ORIG1));
	/* Same, with the server on side 0. */
	conn_new();
	port[0] = 443;
	port[1] = 51000;
	pkt(0, "A", 1, 1, 0);
	CHECK(f.flags & TCPS_C_ORIG1);
	conn_new();
	port[0] = 443;
	port[1] = 51000;
	pkt(1, "A", 1, 1, 0);
	CHECK(f.flags & TCPS_C_ORIG1);
}

TEST(test_midstream_fin_first_gives_fin_wait1_and_close_wait)
{
	conn_new();
	CHECK_EQ(pkt(SRV, "FA", 4242, 9999, 10), TCPS_V_OK);
	CHECK_MOVE(SRV, CLOSE, FIN_WAIT1);
	CHECK_MOVE(CLI, CLOSE, CLOSE_WAIT);
	CHECK(f.flags & TCPS_C_MIDSTREAM);
	CHECK_EQ(f.ep[SRV].fin_seq, 4252);
	/* and the rest of the close follows the normal rules */
	pkt(CLI, "A", 9999, 4253, 0);
	CHECK_MOVE(SRV, FIN_WAIT1, FIN_WAIT2);
	pkt(CLI, "FA", 9999, 4253, 0);
	CHECK_MOVE(SRV, FIN_WAIT2, TIME_WAIT);
	CHECK_MOVE(CLI, CLOSE_WAIT, LAST_ACK);
	pkt(SRV, "A", 4253, 10000, 0);
	CHECK_MOVE(CLI, LAST_ACK, CLOSE);
}

TEST(test_synack_first_gives_syn_recv_and_established)
{
	conn_new();
	CHECK_EQ(pkt(SRV, "SA", SISN, CISN + 1, 0), TCPS_V_OK);
	CHECK_MOVE(SRV, CLOSE, SYN_RECV);
	CHECK_MOVE(CLI, CLOSE, ESTABLISHED);
	CHECK(!(f.flags & TCPS_C_MIDSTREAM));
	CHECK(!(f.flags & TCPS_C_ORIG1));	/* the SYN+ACK's receiver is orig */
	CHECK_EQ(pkt(CLI, "A", CISN + 1, SISN + 1, 0), TCPS_V_OK);
	CHECK_MOVE(SRV, SYN_RECV, ESTABLISHED);

	conn_new();
	pkt(CLI, "SA", SISN, CISN + 1, 0);	/* the server is side 0 here */
	CHECK(f.flags & TCPS_C_ORIG1);
}

TEST(test_rst_first_is_not_created)
{
	static const char *const fl[] = { "R", "RA", "SR", "SAR", "FR" };
	unsigned int i;

	for (i = 0; i < sizeof(fl) / sizeof(fl[0]); i++) {
		conn_new();
		CHECK_EQ(pkt(CLI, fl[i], 1, 1, 0), TCPS_V_NOCREATE);
		CHECK_NO_MOVE();
	}
}

TEST(test_syn_fin_first_is_not_created)
{
	/* Linux drops SYN+FIN in LISTEN (tcp_rcv_state_process). */
	conn_new();
	CHECK_EQ(pkt(CLI, "SF", CISN, 0, 0), TCPS_V_NOCREATE);
	conn_new();
	CHECK_EQ(pkt(SRV, "SAF", SISN, CISN + 1, 0), TCPS_V_NOCREATE);
}

TEST(test_ackless_first_segment_is_not_created)
{
	/* nmap -sN/-sF/-sX: no connection sends a non-SYN segment without
	 * ACK (RFC 9293 §3.10.7.4 drops it), so it is no evidence of one and
	 * must not take a slot in the connection table. */
	static const char *const fl[] = { "", "F", "FPU", "P", "U" };
	unsigned int i;

	for (i = 0; i < sizeof(fl) / sizeof(fl[0]); i++) {
		conn_new();
		CHECK_EQ(pkt(CLI, fl[i], 1, 0, 0), TCPS_V_NOCREATE);
		CHECK_NO_MOVE();
	}
}

TEST(test_ackless_segment_is_ignored)
{
	established();
	CHECK_EQ(pkt(CLI, "F", CISN + 1, 0, 0), TCPS_V_INVALID);
	CHECK_NO_MOVE();
	CHECK(!(f.ep[CLI].flags & TCPS_EP_FIN));
	CHECK_EQ(pkt(CLI, "P", CISN + 1, 0, 100), TCPS_V_INVALID);
	CHECK_EQ(f.ep[CLI].snd_nxt, CISN + 1);
	CHECK_STATES(ESTABLISHED, ESTABLISHED);
}

/* ---- tuple reuse ------------------------------------------------------- */

TEST(test_syn_reuses_time_wait_tuple)
{
	half_closed();
	pkt(SRV, "FA", SISN + 1, CISN + 2, 0);
	pkt(CLI, "A", CISN + 2, SISN + 2, 0);
	CHECK_STATES(TIME_WAIT, CLOSE);
	/* tcp_tw_reuse: the client reconnects from its TIME_WAIT port. */
	CHECK_EQ(pkt(CLI, "S", 90000, 0, 0), TCPS_V_REOPEN);
	CHECK_MOVE(CLI, TIME_WAIT, SYN_SENT);
	CHECK_STAYS(SRV, CLOSE);
	CHECK_EQ(f.ep[CLI].isn, 90000);
	CHECK(!(f.ep[CLI].flags & TCPS_EP_FIN));
	CHECK(!(f.ep[SRV].flags & (TCPS_EP_FIN | TCPS_EP_ISN)));
	pkt(SRV, "SA", 70000, 90001, 0);
	pkt(CLI, "A", 90001, 70001, 0);
	CHECK_STATES(ESTABLISHED, ESTABLISHED);

	/* The server closed first and holds TIME_WAIT; a new SYN takes it over
	 * (RFC 9293 §3.10.7.4, Linux tcp_timewait_state_process). */
	established();
	pkt(SRV, "FA", SISN + 1, CISN + 1, 0);
	pkt(CLI, "FA", CISN + 1, SISN + 2, 0);
	pkt(SRV, "A", SISN + 2, CISN + 2, 0);
	CHECK_STATES(CLOSE, TIME_WAIT);
	CHECK_EQ(pkt(CLI, "S", CISN + 100000, 0, 0), TCPS_V_REOPEN);
	CHECK_MOVE(CLI, CLOSE, SYN_SENT);
	CHECK_MOVE(SRV, TIME_WAIT, CLOSE);
	CHECK(!(f.flags & TCPS_C_ORIG1));
}

TEST(test_old_syn_does_not_reopen_time_wait)
{
	half_closed();
	pkt(SRV, "FA", SISN + 1, CISN + 2, 0);
	pkt(CLI, "A", CISN + 2, SISN + 2, 0);
	CHECK_STATES(TIME_WAIT, CLOSE);
	/* A copy of the original SYN (same ISN) is a duplicate, not a new
	 * connection, and so is anything that is not a bare SYN. */
	CHECK(pkt(CLI, "S", CISN, 0, 0) != TCPS_V_REOPEN);
	CHECK_NO_MOVE();
	CHECK(pkt(CLI, "SA", CISN, SISN + 1, 0) != TCPS_V_REOPEN);
	CHECK_NO_MOVE();
	CHECK(pkt(CLI, "A", CISN + 2, SISN + 2, 0) != TCPS_V_REOPEN);
	CHECK_STATES(TIME_WAIT, CLOSE);
}

TEST(test_syn_after_refused_connection_reopens_only_with_new_isn)
{
	conn_new();
	pkt(CLI, "S", CISN, 0, 0);
	pkt(SRV, "RA", 0, CISN + 1, 0);
	CHECK_STATES(CLOSE, CLOSE);
	CHECK(pkt(CLI, "S", CISN, 0, 0) != TCPS_V_REOPEN);	/* late retransmission */
	CHECK_NO_MOVE();
	CHECK_EQ(pkt(CLI, "S", CISN + 64000, 0, 0), TCPS_V_REOPEN);
	CHECK_MOVE(CLI, CLOSE, SYN_SENT);
}

/* ---- window scaling ---------------------------------------------------- */

static void scaled_connection(int ws_cli, int ws_srv)
{
	conn_new();
	wscale[CLI] = ws_cli;
	wscale[SRV] = ws_srv;
	handshake(CISN, SISN);
	/* Both now advertise 1024 << 7 = 128 KiB if scaling is on. */
	win[CLI] = win[SRV] = 1024;
	pkt(SRV, "A", SISN + 1, CISN + 1, 0);
	pkt(CLI, "A", CISN + 1, SISN + 1, 0);
}

TEST(test_window_scale_accepts_data_beyond_64k)
{
	struct tcps_seg g;

	scaled_connection(7, 7);
	CHECK(f.flags & TCPS_C_WSCALE);
	CHECK_EQ(tcps_ep_win(&f, SRV), 1024 << 7);
	/* 100000 bytes ahead of what the server acknowledged. */
	g = seg(CLI, "A", CISN + 1 + 100000, SISN + 1, 1000);
	CHECK(tcps_fsm_steady(&f, &g));
	CHECK_EQ(tcps_fsm_track(&f, CLI, &g), 0);
	CHECK_EQ(pkt(CLI, "FA", CISN + 1 + 101000, SISN + 1, 0), TCPS_V_OK);
	CHECK_MOVE(CLI, ESTABLISHED, FIN_WAIT1);
	/* but not beyond the scaled window */
	g = seg(SRV, "A", SISN + 1 + 200000, CISN + 1, 0);
	CHECK_EQ(tcps_fsm_track(&f, SRV, &g), -1);
}

TEST(test_window_scale_needs_both_syns)
{
	struct tcps_seg g;

	/* RFC 7323 §2.2: one-sided offers mean no scaling: the window is the
	 * 64 KiB floor and 100000 bytes ahead is out of it. */
	scaled_connection(7, -1);
	CHECK(!(f.flags & TCPS_C_WSCALE));
	g = seg(CLI, "A", CISN + 1 + 100000, SISN + 1, 1000);
	CHECK_EQ(tcps_fsm_track(&f, CLI, &g), -1);
	CHECK_EQ(pkt(CLI, "FA", CISN + 1 + 101000, SISN + 1, 0), TCPS_V_OOW);
	CHECK_NO_MOVE();
}

TEST(test_syn_window_is_never_scaled)
{
	conn_new();
	wscale[CLI] = wscale[SRV] = 7;
	win[SRV] = 29200;
	pkt(CLI, "S", CISN, 0, 0);
	pkt(SRV, "SA", SISN, CISN + 1, 0);
	CHECK(f.flags & TCPS_C_WSCALE);
	CHECK_EQ(tcps_ep_win(&f, SRV), 29200);
	CHECK_EQ(f.ep[SRV].wscale, 7);
}

TEST(test_window_scale_is_capped_at_14)
{
	conn_new();
	wscale[CLI] = wscale[SRV] = 200;	/* RFC 7323 §2.3: use 14 */
	handshake(CISN, SISN);
	CHECK_EQ(f.ep[CLI].wscale, TCPS_MAX_WSCALE);
	CHECK_EQ(f.ep[SRV].wscale, TCPS_MAX_WSCALE);
}

TEST(test_midstream_assumes_largest_window_scale)
{
	struct tcps_seg g;

	conn_new();
	win[SRV] = 100;
	pkt(SRV, "A", 50000, 10000, 0);	/* the server has acked up to 10000 */
	/* 1 MB ahead: within 100 << 14. */
	g = seg(CLI, "A", 10000 + 1000000, 50000, 1000);
	CHECK_EQ(tcps_fsm_track(&f, CLI, &g), 0);
	g = seg(CLI, "A", 10000 + 100000000, 50000, 1000);
	CHECK_EQ(tcps_fsm_track(&f, CLI, &g), -1);
}

/* ---- sequence wrap-around ---------------------------------------------- */

TEST(test_before_after_are_wrap_safe)
{
	CHECK(tcps_before(1, 2));
	CHECK(!tcps_before(2, 1));
	CHECK(!tcps_before(5, 5));
	CHECK(!tcps_after(5, 5));
	CHECK(tcps_before(0xffffffffu, 0));
	CHECK(tcps_after(0, 0xffffffffu));
	CHECK(tcps_before(0xfffffff0u, 0x10));
	CHECK(tcps_after(0x10, 0xfffffff0u));
	CHECK(tcps_before(0x7fffffffu, 0x80000000u));
	CHECK(tcps_after(0x80000000u, 0x7fffffffu));
	/* Exactly half the space apart the kernel's before() holds both ways;
	 * the FSM must not rely on either answer there. */
	CHECK(tcps_before(0x80000000u, 0) && tcps_before(0, 0x80000000u));
	CHECK(tcps_after(0x7fffffffu, 0));
	CHECK(tcps_before(0, 0x7fffffffu));
}

TEST(test_sequence_wraparound_through_a_whole_connection)
{
	const __u32 cisn = 0xfffffff0u, sisn = 0xffffffffu;	/* sisn + 1 == 0 */
	__u32 c = cisn + 1, s = 0;

	conn_new();
	pkt(CLI, "S", cisn, 0, 0);
	CHECK_EQ(pkt(SRV, "SA", sisn, c, 0), TCPS_V_OK);
	CHECK_STATES(ESTABLISHED, SYN_RECV);
	CHECK_EQ(pkt(CLI, "A", c, s, 0), TCPS_V_OK);
	CHECK_MOVE(SRV, SYN_RECV, ESTABLISHED);
	/* Client data crossing zero, server data from zero. */
	CHECK_EQ(pkt(CLI, "PA", c, s, 100), TCPS_V_OK);
	c += 100;
	CHECK_EQ(c, 0x55);
	CHECK_EQ(pkt(SRV, "PA", s, c, 1400), TCPS_V_OK);
	s += 1400;
	CHECK_EQ(pkt(CLI, "A", c, s, 0), TCPS_V_OK);
	/* An ack from before zero is old, not "far ahead" */
	CHECK_EQ(pkt(SRV, "A", s, cisn + 1, 0), TCPS_V_OK);
	CHECK_NO_MOVE();
	/* Out-of-window on the far side of zero is still rejected. */
	CHECK_EQ(pkt(CLI, "FA", c + 0x40000000u, s, 0), TCPS_V_OOW);
	CHECK_EQ(pkt(SRV, "A", s, c + 1, 0), TCPS_V_OOW);	/* acks unsent data */
	CHECK_STATES(ESTABLISHED, ESTABLISHED);
	/* Close: client FIN at 0x55, acked by 0x56. */
	pkt(CLI, "FA", c, s, 0);
	CHECK_MOVE(CLI, ESTABLISHED, FIN_WAIT1);
	pkt(SRV, "A", s, c, 0);
	CHECK_STAYS(CLI, FIN_WAIT1);
	pkt(SRV, "A", s, c + 1, 0);
	CHECK_MOVE(CLI, FIN_WAIT1, FIN_WAIT2);
	pkt(SRV, "FA", s, c + 1, 0);
	CHECK_MOVE(CLI, FIN_WAIT2, TIME_WAIT);
	CHECK_MOVE(SRV, CLOSE_WAIT, LAST_ACK);
	pkt(CLI, "A", c + 1, s + 1, 0);
	CHECK_MOVE(SRV, LAST_ACK, CLOSE);
}

TEST(test_fin_at_the_last_sequence_number_is_acked_by_zero)
{
	/* fin_seq = 0xffffffff: its ACK is 0. */
	established();
	pkt(CLI, "PA", CISN + 1, SISN + 1, 0xffffffffu - (CISN + 1));
	pkt(SRV, "A", SISN + 1, 0xffffffffu, 0);
	pkt(CLI, "FA", 0xffffffffu, SISN + 1, 0);
	CHECK_EQ(f.ep[CLI].fin_seq, 0xffffffffu);
	pkt(SRV, "A", SISN + 1, 0, 0);
	CHECK_MOVE(CLI, FIN_WAIT1, FIN_WAIT2);
}

TEST(test_rst_across_zero_is_accepted_at_exact_seq)
{
	const __u32 cisn = 0xffffff00u;

	conn_new();
	handshake(cisn, SISN);
	pkt(CLI, "PA", cisn + 1, SISN + 1, 0x200);
	pkt(SRV, "A", SISN + 1, cisn + 1 + 0x200, 0);
	/* ISN 0xffffff00 + 1 + 0x200 bytes: RCV.NXT is 0x101. */
	CHECK_EQ(pkt(CLI, "R", 0x102, 0, 0), TCPS_V_OOW);
	CHECK_EQ(pkt(CLI, "R", 0xffffff01u, 0, 0), TCPS_V_OOW);
	CHECK_EQ(pkt(CLI, "R", 0x101, 0, 0), TCPS_V_OK);
	CHECK_STATES(CLOSE, CLOSE);
}

/* ---- the lock-free hot path -------------------------------------------- */

TEST(test_steady_only_for_flagless_segments_when_both_established)
{
	static const char *const yes[] = { "A", "PA", "UA", "EA", "CA", "PUECA" };
	static const char *const no[] = { "S", "SA", "F", "FA", "R", "RA", "" };
	struct tcps_seg g;
	unsigned int i;

	established();
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		g = seg(CLI, yes[i], CISN + 1, SISN + 1, 10);
		if (!tcps_fsm_steady(&f, &g))
			CHECK_FAIL_("\"%s\" not steady in ESTABLISHED", yes[i]);
	}
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		g = seg(CLI, no[i], CISN + 1, SISN + 1, 10);
		if (tcps_fsm_steady(&f, &g))
			CHECK_FAIL_("\"%s\" steady in ESTABLISHED", no[i]);
	}

	/* Any other state on either side takes the locked path. */
	conn_new();
	pkt(CLI, "S", CISN, 0, 0);
	pkt(SRV, "SA", SISN, CISN + 1, 0);
	g = seg(CLI, "A", CISN + 1, SISN + 1, 0);
	CHECK(!tcps_fsm_steady(&f, &g));	/* SYN_RECV: this ACK changes it */
	half_closed();
	g = seg(SRV, "A", SISN + 1, CISN + 2, 0);
	CHECK(!tcps_fsm_steady(&f, &g));
}

TEST(test_track_rejects_out_of_window_and_leaves_fsm_alone)
{
	struct tcps_fsm before;
	struct tcps_seg g;

	established();
	before = f;
	g = seg(CLI, "PA", CISN + 1 + 10000000, SISN + 1, 100);
	CHECK_EQ(tcps_fsm_track(&f, CLI, &g), -1);
	g = seg(CLI, "A", CISN + 1, SISN + 2, 0);	/* acks unsent data */
	CHECK_EQ(tcps_fsm_track(&f, CLI, &g), -1);
	CHECK(!memcmp(&before, &f, sizeof(f)));

	g = seg(CLI, "PA", CISN + 1, SISN + 1, 100);
	CHECK_EQ(tcps_fsm_track(&f, CLI, &g), 0);
	CHECK_EQ(f.ep[CLI].snd_nxt, CISN + 101);
	g = seg(SRV, "A", SISN + 1, CISN + 101, 0);
	CHECK_EQ(tcps_fsm_track(&f, SRV, &g), 0);
	CHECK_EQ(f.ep[SRV].ack_sent, CISN + 101);
	/* an old ack does not move ack_sent back */
	g = seg(SRV, "A", SISN + 1, CISN + 51, 0);
	CHECK_EQ(tcps_fsm_track(&f, SRV, &g), 0);
	CHECK_EQ(f.ep[SRV].ack_sent, CISN + 101);
	CHECK_STATES(ESTABLISHED, ESTABLISHED);
}


/* ---- exactness: what the kernel does, segment by segment ---------------- */

/* The path side went through in the last step: its states in order. */
static void check_path_(int side, const int *want, int n, int line)
{
	int got[TCPS_STEP_ARCS + 1], k, m = 0;

	got[m++] = r.from[side];
	for (k = 0; k < r.n; k++)
		if (r.arc[k].side == side)
			got[m++] = r.arc[k].to;
	if (m != n || memcmp(got, want, sizeof(int) * (size_t)n)) {
		char buf[256];
		int len = 0;

		for (k = 0; k < m; k++)
			len += snprintf(buf + len, sizeof(buf) - (size_t)len, "%s%s", k ? ">" : "",
					st_name(got[k]));
		CHECK_FAIL_("line %d: side %d went %s", line, side, buf);
	}
}
#define CHECK_PATH(side, ...)                                                      \
	check_path_((side), (const int[]){ __VA_ARGS__ },                          \
		    (int)(sizeof((const int[]){ __VA_ARGS__ }) / sizeof(int)), __LINE__)

/* Host mode with the client's end local (it shows its receipts). */
static void local_client(void)
{
	conn_new();
	f.flags |= TCPS_C_LOCAL0;
}

TEST(test_fin_ack_in_fin_wait1_goes_through_fin_wait2)
{
	established();
	pkt(CLI, "FA", CISN + 1, SISN + 1, 0);
	/* One segment, two transitions, as the kernel makes them
	 * (tcp_rcv_state_process: the ACK, then the FIN). */
	pkt(SRV, "FA", SISN + 1, CISN + 2, 0);
	CHECK_PATH(CLI, FIN_WAIT1, FIN_WAIT2, TIME_WAIT);
	CHECK_PATH(SRV, CLOSE_WAIT, LAST_ACK);
	CHECK_EQ(r.n, 3);
	CHECK_EQ((__u16)(r.arc[2].seq - r.arc[0].seq), 2);
}

TEST(test_local_client_stays_syn_sent_when_its_synack_is_dropped)
{
	local_client();
	pkt(CLI, "S", CISN, 0, 0);
	/* The SYN+ACK crosses the ingress hook, then a local firewall drops
	 * it: the kernel stays SYN_SENT and retransmits its SYN. */
	pkt(SRV, "SA", SISN, CISN + 1, 0);
	CHECK_PATH(CLI, SYN_SENT);
	CHECK_PATH(SRV, CLOSE, SYN_RECV);
	pkt(CLI, "S", CISN, 0, 0);
	CHECK_NO_MOVE();
	CHECK_STATES(SYN_SENT, SYN_RECV);
	/* The next SYN+ACK gets through: the local ACK shows it. */
	pkt(SRV, "SA", SISN, CISN + 1, 0);
	CHECK_NO_MOVE();
	pkt(CLI, "A", CISN + 1, SISN + 1, 0);
	CHECK_PATH(CLI, SYN_SENT, ESTABLISHED);
	CHECK_PATH(SRV, SYN_RECV, ESTABLISHED);
	CHECK_EQ(r.arc[0].side, CLI);	/* the client took the SYN+ACK first */
}

TEST(test_crossing_fins_told_apart_by_the_local_ack_field)
{
	/* The remote FIN reaches the ingress hook first, but the local FIN
	 * does not acknowledge it: the local stack sent its FIN before it
	 * processed the remote one, so it went FIN_WAIT1 -> CLOSING, never
	 * CLOSE_WAIT. */
	local_client();
	handshake(CISN, SISN);
	pkt(SRV, "FA", SISN + 1, CISN + 1, 0);
	CHECK_PATH(SRV, ESTABLISHED, FIN_WAIT1);
	CHECK_PATH(CLI, ESTABLISHED);
	pkt(CLI, "FA", CISN + 1, SISN + 1, 0);
	CHECK_PATH(CLI, ESTABLISHED, FIN_WAIT1);
	CHECK_PATH(SRV, FIN_WAIT1, CLOSING);
	pkt(CLI, "A", CISN + 2, SISN + 2, 0);
	CHECK_PATH(CLI, FIN_WAIT1, CLOSING);
	CHECK_PATH(SRV, CLOSING, TIME_WAIT);
	pkt(SRV, "A", SISN + 2, CISN + 2, 0);
	CHECK_PATH(CLI, CLOSING, TIME_WAIT);

	/* Same wire order, but the local FIN acknowledges the remote one:
	 * CLOSE_WAIT first, then LAST_ACK. */
	local_client();
	handshake(CISN, SISN);
	pkt(SRV, "FA", SISN + 1, CISN + 1, 0);
	pkt(CLI, "FA", CISN + 1, SISN + 2, 0);
	CHECK_PATH(CLI, ESTABLISHED, CLOSE_WAIT, LAST_ACK);
	CHECK_PATH(SRV, FIN_WAIT1, FIN_WAIT2, TIME_WAIT);
	pkt(SRV, "A", SISN + 2, CISN + 2, 0);
	CHECK_PATH(CLI, LAST_ACK, CLOSE);
}

TEST(test_crossing_ack_in_order_takes_the_pending_fin_first)
{
	/* The local FIN went first and the remote FIN crossed it; the remote
	 * ACK of the local FIN arrives before the local stack has shown (by
	 * its ACK) that it took the remote FIN. In order, it did. */
	local_client();
	handshake(CISN, SISN);
	pkt(CLI, "FA", CISN + 1, SISN + 1, 0);
	pkt(SRV, "FA", SISN + 1, CISN + 1, 0);
	CHECK_PATH(CLI, FIN_WAIT1);
	pkt(SRV, "A", SISN + 2, CISN + 2, 0);
	CHECK_PATH(CLI, FIN_WAIT1, CLOSING, TIME_WAIT);
}

TEST(test_local_passive_close_waits_for_the_local_ack_of_the_fin)
{
	local_client();
	handshake(CISN, SISN);
	pkt(SRV, "FA", SISN + 1, CISN + 1, 0);
	CHECK_PATH(CLI, ESTABLISHED);
	/* Delayed ACK (pingpong mode): the ACK comes with data, later. */
	pkt(CLI, "PA", CISN + 1, SISN + 2, 100);
	CHECK_PATH(CLI, ESTABLISHED, CLOSE_WAIT);
	CHECK_PATH(SRV, FIN_WAIT1, FIN_WAIT2);
	CHECK_EQ(r.arc[0].side, CLI);
}

TEST(test_reordered_stale_ack_does_not_shrink_the_window)
{
	int i;

	conn_new();
	wscale[CLI] = wscale[SRV] = 7;
	handshake(CISN, SISN);
	pkt(CLI, "PA", CISN + 1, SISN + 1, 100000);
	/* The server opens its window to 4000 << 7 = 512000 bytes... */
	win[SRV] = 4000;
	pkt(SRV, "A", SISN + 1, CISN + 100001, 0);
	/* ...and a late copy of an older ACK with a small window arrives. */
	win[SRV] = 10;
	CHECK_EQ(pkt(SRV, "A", SISN + 1, CISN + 11, 0), TCPS_V_OK);
	CHECK_EQ(tcps_ep_win(&f, SRV), 4000u << 7);
	/* The client fills the window it really has, then closes. */
	for (i = 0; i < 4; i++)
		CHECK_EQ(pkt(CLI, "PA", CISN + 100001 + (__u32)i * 100000, SISN + 1, 100000),
			 TCPS_V_OK);
	CHECK_EQ(pkt(CLI, "FA", CISN + 500001, SISN + 1, 0), TCPS_V_OK);
	CHECK_PATH(CLI, ESTABLISHED, FIN_WAIT1);
	CHECK_PATH(SRV, ESTABLISHED, CLOSE_WAIT);
	/* A window the receiver really shrank (newer ACK) is taken. */
	win[SRV] = 20;
	pkt(SRV, "A", SISN + 1, CISN + 500002, 0);
	CHECK_EQ(tcps_ep_win(&f, SRV), 20u << 7);
}

TEST(test_refused_fin_acknowledged_by_the_receiver_is_taken)
{
	established();
	/* Segments we never saw took the client far past what we know: its
	 * FIN looks out of window, and is refused... */
	CHECK_EQ(pkt(CLI, "FA", CISN + 1 + 200000, SISN + 1, 0), TCPS_V_OOW);
	CHECK_NO_MOVE();
	/* ...until the server acknowledges exactly that FIN: it was in its
	 * window. The FIN is taken, then the ACK: nothing stays stuck. */
	CHECK_EQ(pkt(SRV, "A", SISN + 1, CISN + 1 + 200001, 0), TCPS_V_OK);
	CHECK_PATH(CLI, ESTABLISHED, FIN_WAIT1, FIN_WAIT2);
	CHECK_PATH(SRV, ESTABLISHED, CLOSE_WAIT);
	CHECK(!(f.ep[CLI].flags & TCPS_EP_FINREJ));
	/* Any other ack of unsent data is still refused. */
	CHECK_EQ(pkt(SRV, "A", SISN + 1, CISN + 1 + 300000, 0), TCPS_V_OOW);
}

TEST(test_syn_after_rst_reopens_the_tuple)
{
	established();
	pkt(SRV, "R", SISN + 1, 0, 0);
	CHECK_PATH(SRV, ESTABLISHED, CLOSE);
	CHECK_PATH(CLI, ESTABLISHED, CLOSE);
	CHECK_EQ(r.arc[0].side, SRV);	/* the sender gave up first */
	CHECK_EQ(pkt(CLI, "S", CISN + 99999, 0, 0), TCPS_V_REOPEN);
	CHECK_PATH(CLI, CLOSE, SYN_SENT);
	pkt(SRV, "SA", SISN + 5555, CISN + 100000, 0);
	CHECK_PATH(SRV, CLOSE, SYN_RECV);
	CHECK_PATH(CLI, SYN_SENT, ESTABLISHED);
}

/* ---- invariant: random traffic only takes documented arcs -------------- */

/* The arcs of DESIGN.md §2 as an observer can see them; RST (any state ->
 * CLOSE) is added in allowed_init(). */
static const __u8 doc_arcs[][2] = {
	/* first packet: SYN, SYN+ACK, mid-stream, mid-stream FIN */
	{ CLOSE, SYN_SENT }, { CLOSE, SYN_RECV }, { CLOSE, ESTABLISHED },
	{ CLOSE, FIN_WAIT1 }, { CLOSE, CLOSE_WAIT },
	/* handshake, simultaneous open */
	{ SYN_SENT, ESTABLISHED }, { SYN_SENT, SYN_RECV }, { SYN_RECV, ESTABLISHED },
	/* FIN sent: from ESTABLISHED (or SYN_RECV, RFC 9293 Figure 5) / CLOSE_WAIT */
	{ ESTABLISHED, FIN_WAIT1 }, { SYN_RECV, FIN_WAIT1 }, { CLOSE_WAIT, LAST_ACK },
	/* FIN received */
	{ ESTABLISHED, CLOSE_WAIT }, { SYN_RECV, CLOSE_WAIT },
	{ FIN_WAIT1, CLOSING }, { FIN_WAIT2, TIME_WAIT },
	/* the second FIN of a simultaneous close, whose sender we took for
	 * CLOSE_WAIT because we saw the first FIN before it could */
	{ CLOSE_WAIT, CLOSING },
	/* ACK of a FIN */
	{ FIN_WAIT1, FIN_WAIT2 }, { CLOSING, TIME_WAIT }, { LAST_ACK, CLOSE },
	/* a new SYN on a TIME_WAIT (or listener) tuple */
	{ TIME_WAIT, SYN_SENT }, { LISTEN, SYN_SENT },
};

static unsigned char allowed[TCPS_STATE_MAX][TCPS_STATE_MAX];
static unsigned long seen_arc[TCPS_STATE_MAX][TCPS_STATE_MAX];

static void allowed_init(void)
{
	unsigned int i;

	memset(allowed, 0, sizeof(allowed));
	for (i = 0; i < sizeof(doc_arcs) / sizeof(doc_arcs[0]); i++)
		allowed[doc_arcs[i][0]][doc_arcs[i][1]] = 1;
	for (i = 1; i < TCPS_STATE_MAX; i++)
		allowed[i][CLOSE] = 1;
}

/* xorshift64*: fixed seed, so a failure reproduces. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32);
}

static uint32_t rnd_pick(const uint32_t *v, unsigned int n)
{
	return v[rnd() % n];
}

/* A segment that is plausible often enough to walk the whole machine:
 * sequence and ack numbers mostly taken from what the FSM knows. */
static struct tcps_seg random_seg(int s, const uint32_t isn[2])
{
	static const char *const fl[] = {
		"S", "S", "SA", "SA", "A", "A", "A", "PA", "FA", "FA", "FA", "R", "RA",
		"F", "", "SF", "SAF", "SR", "FPU", "UA", "EA",
	};
	const struct tcps_ep *S = &f.ep[s], *R = &f.ep[!s];
	struct tcps_seg g;
	uint32_t seqs[] = {
		isn[s], isn[s] + 1, S->snd_nxt, S->snd_nxt - 1, R->ack_sent, R->ack_sent + 1,
		S->fin_seq, S->snd_nxt + 1000, rnd(), isn[s] + rnd() % 4000,
	};
	uint32_t acks[] = {
		R->snd_nxt, R->snd_nxt, R->isn + 1, R->fin_seq + 1, R->fin_seq, isn[!s] + 1,
		R->snd_nxt + 1, R->snd_nxt - 500, rnd(), 0,
	};

	g = seg(s, rnd() % 16 ? fl[rnd() % (sizeof(fl) / sizeof(fl[0]))] : "", 0, 0, 0);
	if (rnd() % 16 == 0)
		g.flags = (__u8)rnd();
	g.seq = rnd_pick(seqs, sizeof(seqs) / sizeof(seqs[0]));
	g.ack = rnd_pick(acks, sizeof(acks) / sizeof(acks[0]));
	g.len = rnd() % 3 ? 0 : rnd() % (rnd() % 8 ? 1500 : 200000);
	g.win = rnd() % 4 ? 65535 : (__u16)rnd();
	if ((g.flags & TCPS_SYN) && rnd() % 2) {
		g.has_wscale = 1;
		g.wscale = (__u8)(rnd() % 16);
	}
	return g;
}

TEST(test_random_segments_only_take_documented_arcs)
{
	const unsigned long steps = 200000;
	unsigned long i, bad = 0;
	uint32_t isn[2] = { 0, 0 };
	int a, b, side, distinct = 0;

	allowed_init();
	memset(seen_arc, 0, sizeof(seen_arc));
	for (i = 0; i < steps && bad < 5; i++) {
		struct tcps_seg g;
		struct tcps_fsm copy;
		int steady, tracked;

		if (i == 0 || rnd() % 64 == 0) {
			conn_new();
			if (rnd() % 2) {
				port[0] = 80;
				port[1] = 40000;
			}
			/* Host mode (a local end that shows its receipts) or passive. */
			f.flags |= (__u8[]){ 0, TCPS_C_LOCAL0, TCPS_C_LOCAL1 }[rnd() % 3];
			/* Often near the top of the space, so sequences wrap. */
			isn[0] = rnd() % 2 ? rnd() : 0xffffffffu - rnd() % 3000;
			isn[1] = rnd() % 2 ? rnd() : 0xffffffffu - rnd() % 3000;
		}
		side = (int)(rnd() % 2);
		g = random_seg(side, isn);

		/* The lock-free path must do exactly what the locked one does. */
		steady = tcps_fsm_steady(&f, &g);
		copy = f;
		if (steady)
			tracked = tcps_fsm_track(&copy, side, &g);
		tcps_fsm_step(&f, side, &g, &r);
		check_step_consistent();
		if (steady && (memcmp(&copy, &f, sizeof(f)) ||
			       (tracked == -1) != (r.verdict == TCPS_V_OOW) ||
			       r.from[0] != r.to[0] || r.from[1] != r.to[1])) {
			CHECK_FAIL_("step %lu: track and step disagree", i);
			bad++;
		}
		for (a = 0; a < 2; a++) {
			if (f.ep[a].state < TCPS_ESTABLISHED || f.ep[a].state >= TCPS_STATE_MAX ||
			    f.ep[a].state == LISTEN) {
				CHECK_FAIL_("step %lu: side %d in state %d", i, a, f.ep[a].state);
				bad++;
				continue;
			}
		}
		/* Every arc is documented and continues its side's chain. */
		{
			__u8 cur[2] = { r.from[0], r.from[1] };
			unsigned int k;

			for (k = 0; k < r.n; k++) {
				const struct tcps_arc *x = &r.arc[k];

				seen_arc[x->from][x->to]++;
				if (x->from != cur[x->side] || x->from == x->to ||
				    !allowed[x->from][x->to]) {
					CHECK_FAIL_("step %lu: side %d %s -> %s (at %s) on flags 0x%02x "
						    "seq %u ack %u (sender side %d)", i, x->side,
						    st_name(x->from), st_name(x->to),
						    st_name(cur[x->side]), g.flags, g.seq, g.ack, side);
					bad++;
				}
				cur[x->side] = x->to;
			}
			if (cur[0] != r.to[0] || cur[1] != r.to[1]) {
				CHECK_FAIL_("step %lu: arcs end at %s/%s, step says %s/%s", i,
					    st_name(cur[0]), st_name(cur[1]), st_name(r.to[0]),
					    st_name(r.to[1]));
				bad++;
			}
		}
		if (r.verdict == TCPS_V_REOPEN && r.to[side] != SYN_SENT) {
			CHECK_FAIL_("step %lu: REOPEN left the sender %s", i, st_name(r.to[side]));
			bad++;
		}
	}

	/* The walk must actually reach the machine: every documented arc but
	 * the LISTEN one (no packet creates a listener) was taken. */
	for (a = 1; a < TCPS_STATE_MAX; a++) {
		for (b = 1; b < TCPS_STATE_MAX; b++) {
			if (seen_arc[a][b])
				distinct++;
			if (allowed[a][b] && a != b && a != LISTEN && b != LISTEN && !seen_arc[a][b])
				CHECK_FAIL_("arc %s -> %s never taken in %lu steps", st_name(a),
					    st_name(b), steps);
		}
	}
	printf("# %lu random segments, %d distinct arcs taken\n", i, distinct);
}

int main(void)
{
	RUN(test_syn_makes_sender_syn_sent_and_receiver_close);
	RUN(test_synack_acking_isn_plus_one_makes_sender_syn_recv_and_receiver_established);
	RUN(test_final_ack_makes_server_established);
	RUN(test_first_data_segment_completes_handshake_when_final_ack_is_missed);
	RUN(test_synack_with_wrong_ack_is_ignored);
	RUN(test_simultaneous_open_goes_syn_recv_on_both_then_established);
	RUN(test_retransmitted_syn_changes_nothing);
	RUN(test_retransmitted_synack_changes_nothing);
	RUN(test_duplicate_acks_change_nothing);
	RUN(test_syn_in_established_changes_nothing);

	RUN(test_active_close_goes_fin_wait1_fin_wait2_time_wait);
	RUN(test_passive_close_goes_close_wait_last_ack_close);
	RUN(test_fin_is_acked_only_by_fin_seq_plus_one);
	RUN(test_fin_with_payload_puts_fin_after_the_data);
	RUN(test_fin_ack_piggyback_goes_to_time_wait);
	RUN(test_simultaneous_close_goes_closing_on_both_then_time_wait);
	RUN(test_fin_from_syn_recv_goes_fin_wait1);
	RUN(test_fin_received_in_syn_recv_goes_close_wait);
	RUN(test_retransmitted_fin_changes_nothing);

	RUN(test_rst_with_exact_seq_closes_both);
	RUN(test_rst_at_senders_snd_nxt_closes_even_if_receiver_lags);
	RUN(test_rst_past_a_hole_is_ignored_until_the_data_arrives);
	RUN(test_rst_at_the_right_edge_of_data_past_a_hole_closes);
	RUN(test_rst_at_the_fin_seq_closes_once_the_fin_is_received);
	RUN(test_rst_without_sack_takes_only_rcv_nxt_past_a_gap);
	RUN(test_rst_without_sack_at_unacknowledged_in_order_data_closes);
	RUN(test_rst_out_of_window_is_ignored);
	RUN(test_rst_in_syn_sent_needs_ack_of_isn_plus_one);
	RUN(test_rst_after_synack_closes_half_open_connection);
	RUN(test_rst_closes_every_closing_state);

	RUN(test_out_of_window_fin_is_ignored);
	RUN(test_out_of_window_ack_is_ignored);
	RUN(test_reordered_fin_before_data_still_needs_the_ack_of_the_fin);
	RUN(test_reordered_segments_never_move_a_state_backwards);

	RUN(test_midstream_pickup_is_established_on_both_and_flagged);
	RUN(test_midstream_lower_port_is_server);
	RUN(test_midstream_fin_first_gives_fin_wait1_and_close_wait);
	RUN(test_synack_first_gives_syn_recv_and_established);
	RUN(test_rst_first_is_not_created);
	RUN(test_syn_fin_first_is_not_created);
	RUN(test_ackless_first_segment_is_not_created);
	RUN(test_ackless_segment_is_ignored);

	RUN(test_syn_reuses_time_wait_tuple);
	RUN(test_old_syn_does_not_reopen_time_wait);
	RUN(test_syn_after_refused_connection_reopens_only_with_new_isn);

	RUN(test_window_scale_accepts_data_beyond_64k);
	RUN(test_window_scale_needs_both_syns);
	RUN(test_syn_window_is_never_scaled);
	RUN(test_window_scale_is_capped_at_14);
	RUN(test_midstream_assumes_largest_window_scale);

	RUN(test_before_after_are_wrap_safe);
	RUN(test_sequence_wraparound_through_a_whole_connection);
	RUN(test_fin_at_the_last_sequence_number_is_acked_by_zero);
	RUN(test_rst_across_zero_is_accepted_at_exact_seq);

	RUN(test_steady_only_for_flagless_segments_when_both_established);
	RUN(test_track_rejects_out_of_window_and_leaves_fsm_alone);

	RUN(test_fin_ack_in_fin_wait1_goes_through_fin_wait2);
	RUN(test_local_client_stays_syn_sent_when_its_synack_is_dropped);
	RUN(test_crossing_fins_told_apart_by_the_local_ack_field);
	RUN(test_crossing_ack_in_order_takes_the_pending_fin_first);
	RUN(test_local_passive_close_waits_for_the_local_ack_of_the_fin);
	RUN(test_reordered_stale_ack_does_not_shrink_the_window);
	RUN(test_refused_fin_acknowledged_by_the_receiver_is_taken);
	RUN(test_syn_after_rst_reopens_the_tuple);
	RUN(test_random_segments_only_take_documented_arcs);
	return check_done();
}
