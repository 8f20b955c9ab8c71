// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of connection health (include/tcps_health.h) through the data
 * path itself (include/tcps_path.h), over a one-connection store: the
 * handshake split, RTT from timestamps and from seq/ack (Karn), the RFC
 * 6298 smoothing, retransmissions (GSO segments), out-of-order segments,
 * duplicate ACKs, zero-window episodes and the time in the previous state.
 * Side 0 is the client (198.18.0.1:40000), side 1 the server (:80).
 */
#include <string.h>

#include "check.h"

#define TCPS_PATH_INLINE static inline
#include "tcps_path.h"
#include "tcps_key.h"
#include "parse.h"

static struct {
	struct tcps_key key[2];
	struct tcps_conn val[2];
	int used[2];
	struct tcps_scratch scratch;
	__u64 trans[TCPS_TRANS_MAP_SLOTS];
	struct tcps_event ev[64];
	int nev;
	__u64 now;	/* ns */
	int health;
	int clock_reads;
} T;

static inline struct tcps_conn *tcps_tbl_lookup(int tbl, const struct tcps_key *k)
{
	return T.used[tbl] && !memcmp(&T.key[tbl], k, sizeof(*k)) ? &T.val[tbl] : NULL;
}

static inline int tcps_tbl_insert(int tbl, const struct tcps_key *k, const struct tcps_conn *v)
{
	if (T.used[tbl])
		return -TCPS_EEXIST;
	T.key[tbl] = *k;
	T.val[tbl] = *v;
	T.used[tbl] = 1;
	return 0;
}

static inline void tcps_tbl_delete(int tbl, const struct tcps_key *k)
{
	(void)k;
	T.used[tbl] = 0;
}

static inline void tcps_conn_lock(struct tcps_conn *c)
{
	(void)c;
}

static inline void tcps_conn_unlock(struct tcps_conn *c)
{
	(void)c;
}

static inline struct tcps_scratch *tcps_scratch_get(void)
{
	return &T.scratch;
}

static inline __u64 *tcps_trans_slot(__u32 idx)
{
	return idx < TCPS_TRANS_MAP_SLOTS ? &T.trans[idx] : NULL;
}

static inline struct tcps_event *tcps_event_reserve(void)
{
	return T.nev < 64 ? &T.ev[T.nev++] : NULL;
}

static inline void tcps_event_submit(struct tcps_event *e)
{
	(void)e;
}

static inline __u64 tcps_clock_precise(void)
{
	T.clock_reads++;
	return T.now;
}

static inline int tcps_host_mode(void)
{
	return 0;
}

static inline int tcps_health_on(void)
{
	return T.health;
}

static inline int tcps_events_wanted(void)
{
	return 1;
}

#define MS 1000000ULL
#define US 1000ULL
#define C_ISN 1000U
#define S_ISN 5000U

static struct tcps_key K;

static void reset(int health)
{
	__u32 a[4] = { 0x010012c6 }, b[4] = { 0x020012c6 };

	memset(&T, 0, sizeof(T));
	T.health = health;
	T.now = 1000 * MS;
	tcps_key_make(TCPS_AF_INET, a, 40000, b, 80, &K);
}

static struct tcps_conn *conn(void)
{
	struct tcps_conn *c = tcps_tbl_lookup(TCPS_TBL_CONNS, &K);

	return c ? c : tcps_tbl_lookup(TCPS_TBL_HALFOPEN, &K);
}

/* Side s sends at time t_ns; ts: TSval/TSecr (0 = no option). */
static void send_ts(int s, __u64 t_ns, __u8 fl, __u32 seq, __u32 ack, __u32 len, __u32 tsval,
		    __u32 tsecr)
{
	struct tcps_counters cnt = { { 0 } };
	struct tcps_seg g;

	memset(&g, 0, sizeof(g));
	g.seq = seq;
	g.ack = ack;
	g.len = len;
	g.flags = fl;
	g.win = 1000;
	g.sport = s ? 80 : 40000;
	g.dport = s ? 40000 : 80;
	g.segs = 1;
	if (tsval) {
		g.has_ts = 1;
		g.tsval = tsval;
		g.tsecr = tsecr;
	}
	T.now = t_ns;
	tcps_path_segment(&cnt, &K, s, &g, TCPS_DIR_IN, 1, t_ns);
}

static void send(int s, __u64 t_ns, __u8 fl, __u32 seq, __u32 ack, __u32 len)
{
	send_ts(s, t_ns, fl, seq, ack, len, 0, 0);
}

/* Three-way handshake at t0, t0 + a, t0 + a + b (no timestamps). */
static void handshake(__u64 t0, __u64 a, __u64 b)
{
	send(0, t0, TCPS_SYN, C_ISN, 0, 0);
	send(1, t0 + a, TCPS_SYN | TCPS_ACK, S_ISN, C_ISN + 1, 0);
	send(0, t0 + a + b, TCPS_ACK, C_ISN + 1, S_ISN + 1, 0);
}

TEST(test_handshake_rtt_is_split_at_the_hook)
{
	struct tcps_conn *c;

	reset(1);
	handshake(1000 * MS, 10 * MS + 7 * US, 500 * US);
	c = conn();
	CHECK(c);
	if (!c)
		return;
	CHECK_EQ(c->fsm.ep[1].state, TCPS_ESTABLISHED);
	CHECK_EQ(c->h.hs_us[0], 10007);
	CHECK_EQ(c->h.hs_us[1], 500);
	CHECK(c->h.flags & TCPS_H_HS_DONE);
}

TEST(test_retransmitted_syn_and_synack_keep_the_first_times)
{
	struct tcps_conn *c;

	reset(1);
	send(0, 1000 * MS, TCPS_SYN, C_ISN, 0, 0);
	send(0, 2000 * MS, TCPS_SYN, C_ISN, 0, 0);	/* retransmitted: counts */
	send(1, 2020 * MS, TCPS_SYN | TCPS_ACK, S_ISN, C_ISN + 1, 0);
	send(1, 3020 * MS, TCPS_SYN | TCPS_ACK, S_ISN, C_ISN + 1, 0);
	send(0, 3040 * MS, TCPS_ACK, C_ISN + 1, S_ISN + 1, 0);
	c = conn();
	CHECK(c);
	if (!c)
		return;
	CHECK_EQ(c->h.hs_us[0], 1020000);
	CHECK_EQ(c->h.hs_us[1], 1020000);
	CHECK_EQ(c->h.retrans[0], 1);
	CHECK_EQ(c->h.retrans[1], 1);
	CHECK_EQ(c->h.retrans_bytes[0], 0);
}

TEST(test_timestamp_echo_gives_rtt_min_smoothed_and_latest)
{
	struct tcps_conn *c;
	__u64 t = 2000 * MS;

	reset(1);
	handshake(1000 * MS, 1 * MS, 1 * MS);
	/* Client data with TSval 100, first seen at t; echoed 20 ms later. */
	send_ts(0, t, TCPS_ACK | TCPS_PSH, C_ISN + 1, S_ISN + 1, 100, 100, 7);
	send_ts(0, t + 1 * MS, TCPS_ACK | TCPS_PSH, C_ISN + 101, S_ISN + 1, 100, 100, 7);
	send_ts(1, t + 20 * MS, TCPS_ACK, S_ISN + 1, C_ISN + 101, 0, 8, 100);
	c = conn();
	CHECK(c);
	if (!c)
		return;
	CHECK_EQ(c->h.rtt_us[0], 20000);
	CHECK_EQ(c->h.srtt_us[0], 20000);
	CHECK_EQ(c->h.rtt_min_us[0], 20000);
	/* Echoes of the same TSval again are no second sample. */
	send_ts(1, t + 25 * MS, TCPS_ACK, S_ISN + 1, C_ISN + 201, 0, 8, 100);
	CHECK_EQ(c->h.rtt_us[0], 20000);
	/* 101 was seen before the sample ended: only a new TSval is timed. */
	send_ts(0, t + 30 * MS, TCPS_ACK | TCPS_PSH, C_ISN + 201, S_ISN + 1, 100, 101, 8);
	send_ts(1, t + 31 * MS, TCPS_ACK, S_ISN + 1, C_ISN + 301, 0, 9, 101);
	CHECK_EQ(c->h.rtt_us[0], 20000);
	send_ts(0, t + 40 * MS, TCPS_ACK | TCPS_PSH, C_ISN + 301, S_ISN + 1, 100, 102, 9);
	send_ts(1, t + 70 * MS, TCPS_ACK, S_ISN + 1, C_ISN + 401, 0, 10, 102);
	CHECK_EQ(c->h.rtt_us[0], 30000);
	CHECK_EQ(c->h.rtt_min_us[0], 20000);
	CHECK_EQ(c->h.srtt_us[0], (20000 * 7 + 30000) / 8);
	/* The server's TSval 8 was echoed by the client's 101 at t+30 ms:
	 * first seen at t+20 ms. */
	CHECK_EQ(c->h.rtt_us[1], 10000);
}

TEST(test_an_echo_past_the_timed_tsval_drops_the_sample)
{
	struct tcps_conn *c;
	__u64 t = 2000 * MS;

	reset(1);
	handshake(1000 * MS, 1 * MS, 1 * MS);
	send_ts(0, t, TCPS_ACK | TCPS_PSH, C_ISN + 1, S_ISN + 1, 100, 100, 7);
	send_ts(1, t + 20 * MS, TCPS_ACK, S_ISN + 1, C_ISN + 101, 0, 8, 105);
	c = conn();
	CHECK(c);
	if (!c)
		return;
	CHECK_EQ(c->h.rtt_us[0], 0);
	CHECK_EQ(c->h.mark_t[0], TCPS_H_RESYNC);
}

TEST(test_a_retransmission_cancels_a_timestamp_sample)
{
	struct tcps_conn *c;
	__u64 t = 2000 * MS;

	reset(1);
	handshake(1000 * MS, 1 * MS, 1 * MS);
	/* FIN with TSval 100, its ACK lost; resent with 300 and 700; the peer
	 * echoes the original's 100 (its TS.Recent) 1.4 s later: no sample. */
	send_ts(0, t, TCPS_ACK | TCPS_FIN, C_ISN + 1, S_ISN + 1, 0, 100, 7);
	send_ts(0, t + 200 * MS, TCPS_ACK | TCPS_FIN, C_ISN + 1, S_ISN + 1, 0, 300, 7);
	send_ts(0, t + 600 * MS, TCPS_ACK | TCPS_FIN, C_ISN + 1, S_ISN + 1, 0, 700, 7);
	send_ts(1, t + 1400 * MS, TCPS_ACK, S_ISN + 1, C_ISN + 2, 0, 9, 100);
	c = conn();
	CHECK(c);
	if (!c)
		return;
	CHECK_EQ(c->h.rtt_us[0], 0);
	CHECK_EQ(c->h.retrans[0], 2);
}

TEST(test_seq_ack_rtt_without_timestamps_and_karn)
{
	struct tcps_conn *c;
	__u64 t = 2000 * MS;

	reset(1);
	handshake(1000 * MS, 1 * MS, 1 * MS);
	send(0, t, TCPS_ACK | TCPS_PSH, C_ISN + 1, S_ISN + 1, 1000);
	send(0, t + 1 * MS, TCPS_ACK | TCPS_PSH, C_ISN + 1001, S_ISN + 1, 1000);
	send(1, t + 15 * MS, TCPS_ACK, S_ISN + 1, C_ISN + 501, 0);	/* partial: no */
	c = conn();
	CHECK(c);
	if (!c)
		return;
	CHECK_EQ(c->h.rtt_us[0], 0);
	send(1, t + 16 * MS, TCPS_ACK, S_ISN + 1, C_ISN + 1001, 0);
	CHECK_EQ(c->h.rtt_us[0], 16000);
	/* Timed data retransmitted before its ACK: no sample (Karn). */
	send(0, t + 20 * MS, TCPS_ACK | TCPS_PSH, C_ISN + 2001, S_ISN + 1, 1000);
	send(0, t + 220 * MS, TCPS_ACK | TCPS_PSH, C_ISN + 2001, S_ISN + 1, 1000);
	send(1, t + 240 * MS, TCPS_ACK, S_ISN + 1, C_ISN + 3001, 0);
	CHECK_EQ(c->h.rtt_us[0], 16000);
	CHECK_EQ(c->h.retrans[0], 1);
	CHECK_EQ(c->h.retrans_bytes[0], 1000);
	/* The next new data is timed again. */
	send(0, t + 300 * MS, TCPS_ACK | TCPS_PSH, C_ISN + 3001, S_ISN + 1, 10);
	send(1, t + 312 * MS, TCPS_ACK, S_ISN + 1, C_ISN + 3011, 0);
	CHECK_EQ(c->h.rtt_us[0], 12000);
	CHECK_EQ(c->h.rtt_min_us[0], 12000);
}

TEST(test_retransmissions_count_gso_segments_and_partial_resends)
{
	struct tcps_counters cnt = { { 0 } };
	struct tcps_conn *c;
	struct tcps_seg g;

	reset(1);
	handshake(1000 * MS, 1 * MS, 1 * MS);
	send(0, 2000 * MS, TCPS_ACK, C_ISN + 1, S_ISN + 1, 4000);
	/* The same 4000 bytes again as one GSO packet of 3 segments. */
	memset(&g, 0, sizeof(g));
	g.seq = C_ISN + 1;
	g.ack = S_ISN + 1;
	g.len = 4000;
	g.flags = TCPS_ACK;
	g.win = 1000;
	g.sport = 40000;
	g.dport = 80;
	g.segs = 3;
	tcps_path_segment(&cnt, &K, 0, &g, TCPS_DIR_IN, 1, 2001 * MS);
	/* A tail resend inside the sent range, and new data: 1 + 0. */
	send(0, 2002 * MS, TCPS_ACK, C_ISN + 3001, S_ISN + 1, 1000);
	send(0, 2003 * MS, TCPS_ACK, C_ISN + 4001, S_ISN + 1, 1000);
	/* A FIN resent. */
	send(0, 2004 * MS, TCPS_ACK | TCPS_FIN, C_ISN + 5001, S_ISN + 1, 0);
	send(0, 2005 * MS, TCPS_ACK | TCPS_FIN, C_ISN + 5001, S_ISN + 1, 0);
	c = conn();
	CHECK(c);
	if (!c)
		return;
	CHECK_EQ(c->h.retrans[0], 5);
	CHECK_EQ(c->h.retrans_bytes[0], 5000);
	CHECK_EQ(c->h.retrans[1], 0);
	CHECK_EQ(c->h.ooo[0], 0);
}

TEST(test_a_segment_past_a_gap_is_out_of_order)
{
	struct tcps_conn *c;

	reset(1);
	handshake(1000 * MS, 1 * MS, 1 * MS);
	send(0, 2000 * MS, TCPS_ACK, C_ISN + 1, S_ISN + 1, 100);
	send(0, 2001 * MS, TCPS_ACK, C_ISN + 201, S_ISN + 1, 100);	/* 101..200 missing */
	send(0, 2002 * MS, TCPS_ACK, C_ISN + 101, S_ISN + 1, 100);	/* the hole, late */
	c = conn();
	CHECK(c);
	if (!c)
		return;
	CHECK_EQ(c->h.ooo[0], 1);
	CHECK_EQ(c->h.retrans[0], 1);
}

TEST(test_duplicate_acks_need_outstanding_data_and_the_same_window)
{
	struct tcps_conn *c;
	int i;

	reset(1);
	handshake(1000 * MS, 1 * MS, 1 * MS);
	/* Idle pure ACKs: not duplicates (nothing outstanding). */
	send(1, 1500 * MS, TCPS_ACK, S_ISN + 1, C_ISN + 1, 0);
	send(1, 1501 * MS, TCPS_ACK, S_ISN + 1, C_ISN + 1, 0);
	send(0, 2000 * MS, TCPS_ACK, C_ISN + 1, S_ISN + 1, 1000);
	send(0, 2001 * MS, TCPS_ACK, C_ISN + 1001, S_ISN + 1, 1000);
	send(0, 2002 * MS, TCPS_ACK, C_ISN + 2001, S_ISN + 1, 1000);
	for (i = 0; i < 3; i++)
		send(1, (2010 + i) * MS, TCPS_ACK, S_ISN + 1, C_ISN + 1, 0);
	c = conn();
	CHECK(c);
	if (!c)
		return;
	CHECK_EQ(c->h.dupacks[1], 3);
	CHECK_EQ(c->h.dupacks[0], 0);
}

/* Side s sends g with window win at t_ns, counted into cnt. */
static void send_cnt(struct tcps_counters *cnt, int s, __u64 t_ns, __u8 fl, __u32 seq, __u32 ack,
		     __u32 len, __u32 tsval, __u32 tsecr, __u16 win)
{
	struct tcps_seg g;

	memset(&g, 0, sizeof(g));
	g.seq = seq;
	g.ack = ack;
	g.len = len;
	g.flags = fl;
	g.win = win;
	g.sport = s ? 80 : 40000;
	g.dport = s ? 40000 : 80;
	g.segs = 1;
	if (tsval) {
		g.has_ts = 1;
		g.tsval = tsval;
		g.tsecr = tsecr;
	}
	T.now = t_ns;
	tcps_path_segment(cnt, &K, s, &g, TCPS_DIR_IN, 1, t_ns);
}

/* A blind spoofer's segments, each one the state machine refuses (bad
 * seq: 1M past a 64K window, or an ACK of data never sent), shaped as
 * what health would count: a resend, a gap, a duplicate ACK, a zero
 * window, the echo that ends the sample in flight, a resent FIN (locked
 * path). None may move health, read the clock or count a retransmission;
 * the genuine echo after them still gives the true RTT. */
TEST(test_out_of_window_segments_move_no_health)
{
	struct tcps_counters cnt = { { 0 } };
	struct tcps_conn *c;
	struct tcps_health h0;
	__u64 t = 2000 * MS;
	__u32 far = 1000000;
	int reads;

	reset(1);
	handshake(1000 * MS, 1 * MS, 1 * MS);
	send_ts(0, t, TCPS_ACK | TCPS_PSH, C_ISN + 1, S_ISN + 1, 1000, 100, 7);
	send_ts(0, t + 1 * MS, TCPS_ACK | TCPS_PSH, C_ISN + 1001, S_ISN + 1, 1000, 101, 7);
	c = conn();
	CHECK(c);
	if (!c)
		return;
	CHECK(c->h.mark_t[0] > TCPS_H_RESYNC);	/* TSval 100 is timed */
	h0 = c->h;
	reads = T.clock_reads;
	/* Client "resends" below the window, "skips" far past it. */
	send_cnt(&cnt, 0, t + 2 * MS, TCPS_ACK, C_ISN + 1 - far, S_ISN + 1, 1000, 100, 7, 1000);
	send_cnt(&cnt, 0, t + 3 * MS, TCPS_ACK, C_ISN + 1 + far, S_ISN + 1, 1000, 102, 7, 1000);
	/* Server: duplicate ACKs and a zero window with a bad seq... */
	send_cnt(&cnt, 1, t + 4 * MS, TCPS_ACK, S_ISN + 1 + far, C_ISN + 1, 0, 0, 0, 1000);
	send_cnt(&cnt, 1, t + 5 * MS, TCPS_ACK, S_ISN + 1 + far, C_ISN + 1, 0, 0, 0, 1000);
	send_cnt(&cnt, 1, t + 6 * MS, TCPS_ACK, S_ISN + 1 - far, C_ISN + 1, 0, 0, 0, 0);
	/* ...the echo of TSval 100, in window but acking data never sent... */
	send_cnt(&cnt, 1, t + 7 * MS, TCPS_ACK, S_ISN + 1, C_ISN + 1 + far, 0, 8, 100, 1000);
	/* ...and a FIN "resent" far below (the locked path). */
	send_cnt(&cnt, 1, t + 8 * MS, TCPS_ACK | TCPS_FIN, S_ISN - far, C_ISN + 2001, 0, 0, 0, 1000);
	CHECK(!memcmp(&c->h, &h0, sizeof(h0)));
	CHECK_EQ(T.clock_reads, reads);
	CHECK_EQ(cnt.c[TCPS_CNT_RETRANS], 0);
	CHECK_EQ(cnt.c[TCPS_CNT_OOW], 7);
	CHECK_EQ(c->fsm.ep[1].state, TCPS_ESTABLISHED);
	/* The genuine echo, 20 ms after TSval 100 was first seen. */
	send_cnt(&cnt, 1, t + 20 * MS, TCPS_ACK, S_ISN + 1, C_ISN + 2001, 0, 8, 100, 1000);
	CHECK_EQ(c->h.rtt_us[0], 20000);
	CHECK_EQ(c->h.dupacks[1], 0);
	CHECK_EQ(c->h.zwin[1], 0);
}

/* An in-window resend still counts, on the steady path and the locked
 * one (a resent FIN), and ends no sample with a stale echo. */
TEST(test_in_window_retransmissions_still_count)
{
	struct tcps_counters cnt = { { 0 } };
	struct tcps_conn *c;

	reset(1);
	handshake(1000 * MS, 1 * MS, 1 * MS);
	send_cnt(&cnt, 0, 2000 * MS, TCPS_ACK, C_ISN + 1, S_ISN + 1, 1000, 0, 0, 1000);
	send_cnt(&cnt, 0, 2001 * MS, TCPS_ACK, C_ISN + 1001, S_ISN + 1, 1000, 0, 0, 1000);
	send_cnt(&cnt, 0, 2002 * MS, TCPS_ACK, C_ISN + 1, S_ISN + 1, 1000, 0, 0, 1000);
	send_cnt(&cnt, 0, 2003 * MS, TCPS_ACK | TCPS_FIN, C_ISN + 2001, S_ISN + 1, 0, 0, 0, 1000);
	send_cnt(&cnt, 0, 2004 * MS, TCPS_ACK | TCPS_FIN, C_ISN + 2001, S_ISN + 1, 0, 0, 0, 1000);
	c = conn();
	CHECK(c);
	if (!c)
		return;
	CHECK_EQ(c->h.retrans[0], 2);
	CHECK_EQ(c->h.retrans_bytes[0], 1000);
	CHECK_EQ(cnt.c[TCPS_CNT_RETRANS], 2);
	CHECK_EQ(cnt.c[TCPS_CNT_OOW], 0);
	/* The server's duplicate ACKs, in window: counted. */
	send_cnt(&cnt, 1, 2010 * MS, TCPS_ACK, S_ISN + 1, C_ISN + 1001, 0, 0, 0, 1000);
	send_cnt(&cnt, 1, 2011 * MS, TCPS_ACK, S_ISN + 1, C_ISN + 1001, 0, 0, 0, 1000);
	CHECK_EQ(c->h.dupacks[1], 1);
}

/* A SYN resent because its SYN+ACK was lost: the observer already moved
 * the client on (the state machine refuses the SYN as INVALID), but it
 * passed the window check and is a retransmission. */
TEST(test_a_syn_resent_after_a_lost_synack_counts)
{
	struct tcps_counters cnt = { { 0 } };
	struct tcps_conn *c;

	reset(1);
	send_cnt(&cnt, 0, 1000 * MS, TCPS_SYN, C_ISN, 0, 0, 0, 0, 1000);
	send_cnt(&cnt, 1, 1001 * MS, TCPS_SYN | TCPS_ACK, S_ISN, C_ISN + 1, 0, 0, 0, 1000);
	send_cnt(&cnt, 0, 2000 * MS, TCPS_SYN, C_ISN, 0, 0, 0, 0, 1000);
	c = conn();
	CHECK(c);
	if (!c)
		return;
	CHECK_EQ(c->h.retrans[0], 1);
	CHECK_EQ(cnt.c[TCPS_CNT_RETRANS], 1);
}

TEST(test_zero_window_episodes)
{
	struct tcps_counters cnt = { { 0 } };
	struct tcps_conn *c;
	__u16 wins[] = { 0, 0, 500, 0, 0, 0, 100 };
	unsigned int i;

	reset(1);
	handshake(1000 * MS, 1 * MS, 1 * MS);
	for (i = 0; i < sizeof(wins) / sizeof(wins[0]); i++) {
		struct tcps_seg g;

		memset(&g, 0, sizeof(g));
		g.seq = S_ISN + 1;
		g.ack = C_ISN + 1;
		g.flags = TCPS_ACK;
		g.win = wins[i];
		g.sport = 80;
		g.dport = 40000;
		tcps_path_segment(&cnt, &K, 1, &g, TCPS_DIR_IN, 1, (2000 + i) * MS);
	}
	c = conn();
	CHECK(c);
	if (!c)
		return;
	CHECK_EQ(c->h.zwin[1], 2);
	CHECK_EQ(c->h.zwin[0], 0);
}

TEST(test_events_carry_the_time_in_the_previous_state)
{
	int i, seen = 0;

	reset(1);
	handshake(1000 * MS, 10 * MS, 1 * MS);	/* client ESTABLISHED at 1010 ms */
	send(0, 6010 * MS + 3 * US, TCPS_ACK | TCPS_FIN, C_ISN + 1, S_ISN + 1, 0);
	for (i = 0; i < T.nev; i++) {
		const struct tcps_event *e = &T.ev[i];

		if (e->from == TCPS_CLOSE)
			CHECK_EQ(e->prev_state_ns, 0);
		if (e->side == 0 && e->from == TCPS_SYN_SENT) {
			CHECK_EQ(e->prev_state_ns, 10 * MS);
			seen++;
		}
		if (e->side == 0 && e->from == TCPS_ESTABLISHED) {
			CHECK_EQ(e->to, TCPS_FIN_WAIT1);
			CHECK_EQ(e->prev_state_ns, 5000 * MS + 3 * US);
			seen++;
		}
		if (e->side == 1 && e->from == TCPS_ESTABLISHED) {
			/* server ESTABLISHED at 1011 ms, CLOSE_WAIT at 6010.003 */
			CHECK_EQ(e->prev_state_ns, 4999 * MS + 3 * US);
			seen++;
		}
	}
	CHECK_EQ(seen, 3);
}

TEST(test_health_off_tracks_nothing_and_reads_no_clock_on_data)
{
	struct tcps_conn *c;
	int reads, i;

	reset(0);
	handshake(1000 * MS, 10 * MS, 1 * MS);
	reads = T.clock_reads;
	for (i = 0; i < 10; i++)
		send_ts(0, (2000 + i) * MS, TCPS_ACK, C_ISN + 1 + 100 * (unsigned)i, S_ISN + 1, 100,
			100 + (unsigned)i, 7);
	send(0, 3000 * MS, TCPS_ACK, C_ISN + 1, S_ISN + 1, 100);
	c = conn();
	CHECK(c);
	if (!c)
		return;
	CHECK_EQ(T.clock_reads, reads);
	CHECK_EQ(c->h.hs_us[0], 0);
	CHECK_EQ(c->h.retrans[0], 0);
	CHECK_EQ(c->h.srtt_us[0], 0);
	for (i = 0; i < T.nev; i++)
		CHECK_EQ(T.ev[i].prev_state_ns, 0);
}

TEST(test_the_precise_clock_is_read_only_where_a_sample_starts_or_ends)
{
	int reads, i;

	reset(1);
	handshake(1000 * MS, 10 * MS, 1 * MS);
	reads = T.clock_reads;
	/* 50 segments sharing one TSval, then its echo: start + end. */
	for (i = 0; i < 50; i++)
		send_ts(0, 2000 * MS + (unsigned)i * US, TCPS_ACK, C_ISN + 1 + 100 * (unsigned)i,
			S_ISN + 1, 100, 500, 7);
	send_ts(1, 2020 * MS, TCPS_ACK, S_ISN + 1, C_ISN + 5001, 0, 9, 500);
	/* start(client 500), end(client 500) + start(server 9) in one segment: 2 reads. */
	CHECK(T.clock_reads - reads <= 3);
}

/* An IPv4 TCP frame with these option bytes (a multiple of 4). */
static size_t frame_with_opts(__u8 *f, __u8 fl, const __u8 *opts, size_t olen)
{
	size_t doff = 20 + olen, tot = 20 + doff;

	memset(f, 0, 14 + tot);
	f[12] = 0x08;
	f[14] = 0x45;
	f[16] = (__u8)(tot >> 8);
	f[17] = (__u8)tot;
	f[14 + 9] = 6;
	f[14 + 12] = 198, f[14 + 13] = 18, f[14 + 15] = 1;
	f[14 + 16] = 198, f[14 + 17] = 18, f[14 + 19] = 2;
	f[34 + 0] = 0x9c, f[34 + 1] = 0x40;	/* 40000 -> 80 */
	f[34 + 3] = 80;
	f[34 + 12] = (__u8)((doff / 4) << 4);
	f[34 + 13] = fl;
	f[34 + 14] = 0xff;
	memcpy(f + 54, opts, olen);
	return 14 + tot;
}

static int parse_flat(const __u8 *f, size_t n, struct tcps_parsed *p)
{
	int rc;

	memset(p, 0, sizeof(*p));
	rc = tcps_parse(f, f + n, (__u32)n, p);
	if (rc == TCPS_P_TCP)
		tcps_parse_syn_opts_flat(f, p);
	return rc;
}

TEST(test_timestamps_are_read_in_the_usual_layout_and_any_other)
{
	static const __u8 usual[] = { 1, 1, 8, 10, 0, 0, 1, 2, 0xde, 0xad, 0xbe, 0xef };
	/* SACK block first, TS last: the bounded walk finds it. */
	static const __u8 other[] = { 5, 10, 0, 0, 0, 1, 0, 0, 0, 2, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9, 0, 0 };
	static const __u8 syn[] = { 2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 5, 0, 0, 0, 0, 1, 3, 3, 7 };
	static const __u8 none[] = { 1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2 };
	struct tcps_parsed p;
	__u8 f[128];
	size_t n;

	n = frame_with_opts(f, TCPS_ACK, usual, sizeof(usual));
	CHECK_EQ(parse_flat(f, n, &p), TCPS_P_TCP);
	CHECK_EQ(p.seg.has_ts, 1);
	CHECK_EQ(p.seg.tsval, 0x102);
	CHECK_EQ(p.seg.tsecr, 0xdeadbeef);
	n = frame_with_opts(f, TCPS_ACK, other, sizeof(other));
	CHECK_EQ(parse_flat(f, n, &p), TCPS_P_TCP);
	CHECK_EQ(p.seg.has_ts, 1);
	CHECK_EQ(p.seg.tsval, 7);
	CHECK_EQ(p.seg.tsecr, 9);
	CHECK_EQ(p.seg.has_wscale, 0);
	n = frame_with_opts(f, TCPS_SYN, syn, sizeof(syn));
	CHECK_EQ(parse_flat(f, n, &p), TCPS_P_TCP);
	CHECK_EQ(p.seg.has_ts, 1);
	CHECK_EQ(p.seg.tsval, 5);
	CHECK_EQ(p.seg.has_wscale, 1);
	CHECK_EQ(p.seg.wscale, 7);
	n = frame_with_opts(f, TCPS_ACK, none, sizeof(none));
	CHECK_EQ(parse_flat(f, n, &p), TCPS_P_TCP);
	CHECK_EQ(p.seg.has_ts, 0);
	CHECK_EQ(p.seg.segs, 1);
}

TEST(test_histograms_count_handshake_rtt_and_duration_by_port_range)
{
	__u32 hs = TCPS_HIST_BASE + (TCPS_HIST_HANDSHAKE * TCPS_PORTS_MAX + TCPS_PORTS_SYSTEM) *
				    TCPS_HIST_STRIDE;
	__u32 du = TCPS_HIST_BASE + (TCPS_HIST_DURATION * TCPS_PORTS_MAX + TCPS_PORTS_SYSTEM) *
				    TCPS_HIST_STRIDE;

	reset(1);
	/* 10.007 ms + 0.5 ms: passive mode observes both halves, in the
	 * bucket <= 25 ms (index 7), responder port 80: 0-1023. */
	handshake(1000 * MS, 10 * MS + 7 * US, 500 * US);
	CHECK_EQ(T.trans[hs + 7], 1);
	CHECK_EQ(T.trans[hs + TCPS_HIST_STRIDE - 1], 10507);
	send(0, 3000 * MS, TCPS_ACK | TCPS_RST, C_ISN + 1, S_ISN + 1, 0);
	/* 2 s from SYN to RST: bucket <= 5000 ms (index 5), sum in ms. */
	CHECK_EQ(T.trans[du + 5], 1);
	CHECK_EQ(T.trans[du + TCPS_HIST_STRIDE - 1], 2000);
}

int main(void)
{
	RUN(test_handshake_rtt_is_split_at_the_hook);
	RUN(test_retransmitted_syn_and_synack_keep_the_first_times);
	RUN(test_timestamp_echo_gives_rtt_min_smoothed_and_latest);
	RUN(test_an_echo_past_the_timed_tsval_drops_the_sample);
	RUN(test_a_retransmission_cancels_a_timestamp_sample);
	RUN(test_seq_ack_rtt_without_timestamps_and_karn);
	RUN(test_retransmissions_count_gso_segments_and_partial_resends);
	RUN(test_a_segment_past_a_gap_is_out_of_order);
	RUN(test_duplicate_acks_need_outstanding_data_and_the_same_window);
	RUN(test_out_of_window_segments_move_no_health);
	RUN(test_in_window_retransmissions_still_count);
	RUN(test_a_syn_resent_after_a_lost_synack_counts);
	RUN(test_zero_window_episodes);
	RUN(test_events_carry_the_time_in_the_previous_state);
	RUN(test_health_off_tracks_nothing_and_reads_no_clock_on_data);
	RUN(test_the_precise_clock_is_read_only_where_a_sample_starts_or_ends);
	RUN(test_timestamps_are_read_in_the_usual_layout_and_any_other);
	RUN(test_histograms_count_handshake_rtt_and_duration_by_port_range);
	return check_done();
}
