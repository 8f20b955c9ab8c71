// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Hostile frames through the real tcpscope object (BPF_PROG_TEST_RUN):
 * truncations, impossible header fields, over-long IPv6 extension chains,
 * fragments, stacked VLANs, tiny frames and 100k random mutations of valid
 * frames. Every frame must be passed (XDP_PASS / TC_ACT_UNSPEC) and counted
 * exactly once; a frame that does not parse as TCP creates no entry and
 * changes none; a mutated frame that still parses as TCP must do exactly
 * what the native state machine (include/tcp_fsm.h) does with that
 * segment, i.e. what a valid frame of that tuple would do.
 * Nothing is attached to any interface. Needs root (CAP_BPF).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "parse.h"
#include "check.h"
#include "ctable.h"

#include "pktbuild.h"
#include "tcpscope.skel.h"
#include "skel_tables.h"

#define ETH_LEN 14
#define RC_XDP_PASS 2
#define RC_TC_UNSPEC (-1)
#define N_MUTATIONS 100000

enum hook { HOOK_XDP, HOOK_TC_IN, HOOK_TC_OUT, N_HOOKS };

static struct {
	struct tcpscope_bpf *skel;
	struct ring_buffer *rb;
	__u64 events;
	int ncpu;
	char where[96];
} H;

#define CHK(cond)                                                             \
	do {                                                                  \
		if (!(cond))                                                  \
			CHECK_FAIL_("[%s] CHECK(%s) failed", H.where, #cond); \
	} while (0)

#define CHK_EQ(a, b)                                                                     \
	do {                                                                             \
		long long a_ = (long long)(a), b_ = (long long)(b);                      \
		if (a_ != b_)                                                            \
			CHECK_FAIL_("[%s] %s == %lld, expected %s == %lld", H.where, #a, a_, \
				    #b, b_);                                             \
	} while (0)

static int on_event(void *ctx, void *data, size_t size)
{
	(void)ctx;
	(void)data;
	(void)size;
	H.events++;
	return 0;
}

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static void teardown(void)
{
	ring_buffer__free(H.rb);
	tcpscope_bpf__destroy(H.skel);
	memset(&H, 0, sizeof(H));
}

static int setup(void)
{
	int err;

	teardown();
	snprintf(H.where, sizeof(H.where), "setup");
	H.ncpu = libbpf_num_possible_cpus();
	H.skel = tcpscope_bpf__open();
	if (!H.skel) {
		CHECK_FAIL_("open: %s", strerror(errno));
		return -1;
	}
	H.skel->rodata->tcps_replay_clock = 1;
	test_tables_size(H.skel, TCPS_MAX_CONNS_DEFAULT);
	err = tcpscope_bpf__load(H.skel);
	if (err) {
		CHECK_FAIL_("load: %s", strerror(-err));
		return -1;
	}
	H.rb = ring_buffer__new(bpf_map__fd(H.skel->maps.tcps_events), on_event, NULL, NULL);
	if (!H.rb) {
		CHECK_FAIL_("ring_buffer__new: %s", strerror(errno));
		return -1;
	}
	H.skel->bss->tcps_clock_ns = 1000000000ULL;
	return 0;
}

static void counters(__u64 out[TCPS_CNT_MAX])
{
	__u64 v[256 * TCPS_STATS_WORDS];
	__u32 zero = 0;
	int i, j;

	memset(out, 0, sizeof(__u64) * TCPS_CNT_MAX);
	if (H.ncpu > 256 || bpf_map_lookup_elem(bpf_map__fd(H.skel->maps.tcps_stats), &zero, v)) {
		CHECK_FAIL_("reading counters: %s", strerror(errno));
		return;
	}
	for (i = 0; i < H.ncpu; i++)
		for (j = 0; j < TCPS_CNT_MAX; j++)
			out[j] += v[i * TCPS_STATS_WORDS + j];
}

static int prog_fd(int hook)
{
	if (hook == HOOK_XDP)
		return bpf_program__fd(H.skel->progs.tcps_xdp_ingress);
	if (hook == HOOK_TC_IN)
		return bpf_program__fd(H.skel->progs.tcps_tc_ingress);
	return bpf_program__fd(H.skel->progs.tcps_tc_egress);
}

/* The kernel's test run itself refuses frames shorter than ETH_HLEN (XDP
 * and tc), and for tc an untagged IPv4/IPv6 frame cut inside its IP header
 * (net/bpf/test_run.c pulls the network header). Real hooks never see
 * those: a driver hands no sub-Ethernet frame up, and the stack drops an
 * IP packet shorter than its header before tc. */
static int refused(int hook, const __u8 *buf, size_t len)
{
	if (len < ETH_LEN)
		return 1;
	if (hook == HOOK_XDP)
		return 0;
	if (buf[12] == 0x08 && buf[13] == 0x00)
		return len < ETH_LEN + 20;
	if (buf[12] == 0x86 && buf[13] == 0xdd)
		return len < ETH_LEN + 40;
	return 0;
}

/* Run one frame: it is passed, or refused by the test run as predicted.
 * Returns 1 if the program saw it. */
static int run(int hook, const __u8 *buf, size_t len)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = buf, .data_size_in = (__u32)len, .repeat = 1);
	int err = bpf_prog_test_run_opts(prog_fd(hook), &o);

	ring_buffer__consume(H.rb);
	if (refused(hook, buf, len)) {
		CHK_EQ(err, -EINVAL);
		return 0;
	}
	CHK_EQ(err, 0);
	CHK_EQ((int)o.retval, hook == HOOK_XDP ? RC_XDP_PASS : RC_TC_UNSPEC);
	return !err;
}

/* The test's connection table (tcps_conns), or its half-open one. */
static struct tcps_ctable table(bool halfopen)
{
	return test_table(H.skel, halfopen);
}

/* 0 absent, 1 in tcps_conns, 2 in tcps_halfopen. */
static int lookup(const struct tcps_key *k, struct tcps_conn *v)
{
	struct tcps_ctable tab[2] = { table(false), table(true) };
	bool halfopen;

	if (tcps_ctable_find(tab, k, v, true, &halfopen))
		return 0;
	return halfopen ? 2 : 1;
}

/* k's entry gone from both tables (where it is not, nothing happens). */
static void forget(const struct tcps_key *k)
{
	struct tcps_ctable t;
	struct tcps_conn gone;
	int h;

	for (h = 0; h < 2; h++) {
		t = table(h);
		tcps_ctable_take(&t, k, &gone);
	}
}

static int counter_for(int rc)
{
	switch (rc) {
	case TCPS_P_TCP:
		return TCPS_CNT_TCP;
	case TCPS_P_NOT_TCP:
		return TCPS_CNT_NON_TCP;
	case TCPS_P_FRAGMENT:
		return TCPS_CNT_FRAGMENTS;
	default:
		return TCPS_CNT_PARSE_ERR;
	}
}

/*
 * Send a frame and check it against the native parser + state machine:
 * counted once in the right counter, passed, and (if TCP) the entry of its
 * tuple ends in exactly the states the native FSM gives; if not TCP, no
 * entry created, no transition, and the entry of `watch` (if any) unchanged.
 * Returns the native parse result, or -1 if the test run refused it.
 */
static int send_checked(int hook, const __u8 *buf, size_t len, const struct tcps_key *watch)
{
	__u64 c0[TCPS_CNT_MAX], c1[TCPS_CNT_MAX], ev0 = H.events;
	struct tcps_conn wb, wa, before, after;
	struct tcps_parsed p;
	struct tcps_fsm f;
	struct tcps_step st = { 0 };
	struct tcps_key k;
	int rc, s = 0, where_b = 0, where_a, wwb = 0, changes = 0, expect_entry = 0;

	memset(&p, 0, sizeof(p));
	rc = tcps_parse(buf, buf + len, (__u32)len, &p);
	if (watch)
		wwb = lookup(watch, &wb);
	if (rc == TCPS_P_TCP) {
		tcps_parse_syn_opts_flat(buf, &p);
		s = tcps_parsed_key(&p, &k);
		where_b = lookup(&k, &before);
		if (where_b) {
			f = before.fsm;
			if (tcps_fsm_steady(&f, &p.seg))
				tcps_fsm_track(&f, s, &p.seg);
			else
				tcps_fsm_step(&f, s, &p.seg, &st);
			expect_entry = 1;
		} else {
			memset(&f, 0, sizeof(f));
			f.flags = TCPS_C_NEW;
			tcps_fsm_step(&f, s, &p.seg, &st);
			expect_entry = st.verdict != TCPS_V_NOCREATE;
		}
		changes = st.n;	/* one event per arc */
	}
	counters(c0);
	if (!run(hook, buf, len))
		return -1;
	counters(c1);
	CHK_EQ(c1[TCPS_CNT_PACKETS] - c0[TCPS_CNT_PACKETS], 1);
	CHK_EQ(c1[counter_for(rc)] - c0[counter_for(rc)], 1);
	if (rc != TCPS_P_TCP) {
		CHK_EQ(c1[TCPS_CNT_TCP], c0[TCPS_CNT_TCP]);
		CHK_EQ(c1[TCPS_CNT_NEW_CONN], c0[TCPS_CNT_NEW_CONN]);
		CHK_EQ(c1[TCPS_CNT_TABLE_FULL], c0[TCPS_CNT_TABLE_FULL]);
		CHK_EQ(c1[TCPS_CNT_TRANSITIONS], c0[TCPS_CNT_TRANSITIONS]);
		CHK_EQ(H.events, ev0);
		if (watch) {
			CHK_EQ(lookup(watch, &wa), wwb);
			if (wwb)
				CHK(!memcmp(&wa.fsm, &wb.fsm, sizeof(wa.fsm)));
		}
		return rc;
	}
	where_a = lookup(&k, &after);
	if (!expect_entry) {
		CHK_EQ(where_a, 0);
		CHK_EQ(c1[TCPS_CNT_TRANSITIONS], c0[TCPS_CNT_TRANSITIONS]);
		return rc;
	}
	if (!where_a) {
		/* Only a full table may refuse it. */
		CHK(c1[TCPS_CNT_TABLE_FULL] > c0[TCPS_CNT_TABLE_FULL]);
		return rc;
	}
	if (after.fsm.ep[0].state != f.ep[0].state || after.fsm.ep[1].state != f.ep[1].state)
		CHECK_FAIL_("[%s] flags %#x side %d: states %u/%u, native FSM gives %u/%u (before %u/%u)",
			    H.where, p.seg.flags, s, after.fsm.ep[0].state, after.fsm.ep[1].state,
			    f.ep[0].state, f.ep[1].state, where_b ? before.fsm.ep[0].state : 0,
			    where_b ? before.fsm.ep[1].state : 0);
	CHK_EQ(c1[TCPS_CNT_TRANSITIONS] - c0[TCPS_CNT_TRANSITIONS], changes);
	CHK_EQ(H.events - ev0, changes);
	return rc;
}

/* ---- a connection to attack: local 198.18.0.1:40000 <-> 198.18.0.2:80 ---- */

struct conn {
	int family, vlans, ext;
	struct pkt_spec out, in;	/* local->remote, remote->local */
	struct tcps_key key;
};

static void conn_init(struct conn *c, int family, int vlans, int ext, __u16 lport)
{
	const char *l = family == 4 ? "198.18.0.1" : "2001:db8::1";
	const char *r = family == 4 ? "198.18.0.2" : "2001:db8::2";
	__u8 buf[PKT_MAX];
	struct tcps_parsed p = { 0 };	/* the key stays defined if the CHK fails */
	size_t n;

	memset(c, 0, sizeof(*c));
	c->out = family == 4 ? PKT_V4(l, lport, r, 80) : PKT_V6(l, lport, r, 80);
	c->in = family == 4 ? PKT_V4(r, 80, l, lport) : PKT_V6(r, 80, l, lport);
	c->out.vlans = c->in.vlans = vlans;
	c->out.ipv6_ext = c->in.ipv6_ext = ext;
	n = pkt_build(&c->out, buf, sizeof(buf));
	CHK(n && tcps_parse(buf, buf + n, (__u32)n, &p) == TCPS_P_TCP);
	tcps_parsed_key(&p, &c->key);
}

static size_t frame(struct pkt_spec s, __u8 flags, __u32 seq, __u32 ack, __u32 plen, __u8 *buf)
{
	s.flags = flags;
	s.seq = seq;
	s.ack = ack;
	s.payload_len = plen;
	if (flags & TCPS_SYN) {
		s.mss = 1460;
		s.wscale = 7;
	}
	return pkt_build(&s, buf, PKT_MAX);
}

/* Handshake + some data: both ends ESTABLISHED. Local ISN 1000, remote 5000. */
static void establish(struct conn *c)
{
	__u8 buf[PKT_MAX];
	struct tcps_conn v;

	send_checked(HOOK_TC_OUT, buf, frame(c->out, TCPS_SYN, 1000, 0, 0, buf), NULL);
	send_checked(HOOK_XDP, buf, frame(c->in, TCPS_SYN | TCPS_ACK, 5000, 1001, 0, buf), NULL);
	send_checked(HOOK_TC_OUT, buf, frame(c->out, TCPS_ACK, 1001, 5001, 0, buf), NULL);
	send_checked(HOOK_TC_OUT, buf, frame(c->out, TCPS_ACK | TCPS_PSH, 1001, 5001, 100, buf), NULL);
	send_checked(HOOK_XDP, buf, frame(c->in, TCPS_ACK, 5001, 1101, 0, buf), NULL);
	CHK_EQ(lookup(&c->key, &v), 1);
	CHK_EQ(v.fsm.ep[0].state, TCPS_ESTABLISHED);
	CHK_EQ(v.fsm.ep[1].state, TCPS_ESTABLISHED);
}

static void expect_established(const struct conn *c)
{
	struct tcps_conn v;

	CHK_EQ(lookup(&c->key, &v), 1);
	CHK_EQ(v.fsm.ep[0].state, TCPS_ESTABLISHED);
	CHK_EQ(v.fsm.ep[1].state, TCPS_ESTABLISHED);
}

static void expect_sums(void)
{
	__u64 c[TCPS_CNT_MAX];

	counters(c);
	CHK_EQ(c[TCPS_CNT_PACKETS], c[TCPS_CNT_TCP] + c[TCPS_CNT_NON_TCP] +
					    c[TCPS_CNT_PARSE_ERR] + c[TCPS_CNT_FRAGMENTS]);
	CHK(c[TCPS_CNT_TCP] >= c[TCPS_CNT_NEW_CONN]);
	CHK_EQ(c[TCPS_CNT_RB_DROPS], 0);
}

static const struct {
	int family, vlans, ext;
	const char *name;
} encs[] = {
	{ 4, 0, 0, "ipv4" }, { 6, 0, 0, "ipv6" }, { 4, 2, 0, "ipv4+qinq" },
	{ 6, 1, 3, "ipv6+vlan+3ext" },
};
#define N_ENCS ((int)(sizeof(encs) / sizeof(encs[0])))

/* ---- tests ---- */

/* A blind spoofer on an ESTABLISHED connection: segments the state
 * machine refuses (seq 1G outside the window, an ACK of data never sent),
 * shaped as what health counts (a resend, a gap, duplicate ACKs, a zero
 * window, the ACK that would end the RTT sample in flight, a resent FIN on
 * the locked path). Health must not move; the genuine ACK then gives the
 * true RTT, and an in-window resend still counts. */
TEST(test_out_of_window_segments_move_no_health)
{
	const __u32 far = 0x40000000;
	__u64 c0[TCPS_CNT_MAX], c1[TCPS_CNT_MAX];
	struct tcps_conn v0, v1;
	__u8 buf[PKT_MAX];
	struct conn c;
	int e, l;

	if (setup())
		return;
	for (e = 0; e < 2; e++) {
		snprintf(H.where, sizeof(H.where), "%s", encs[e].name);
		conn_init(&c, encs[e].family, 0, 0, (__u16)(42000 + e));
		establish(&c);
		/* New local data at t: its ACK ends a sample. */
		H.skel->bss->tcps_clock_ns = 5000000000ULL;
		send_checked(HOOK_TC_OUT, buf, frame(c.out, TCPS_ACK | TCPS_PSH, 1101, 5001, 100, buf),
			     NULL);
		CHK_EQ(lookup(&c.key, &v0), 1);
		l = v0.h.mark_t[1] > 1;	/* timed (> TCPS_H_RESYNC): the local side */
		CHK(v0.h.mark_t[l] > 1);
		counters(c0);
		H.skel->bss->tcps_clock_ns = 5010000000ULL;
		send_checked(HOOK_XDP, buf, frame(c.in, TCPS_ACK, 5001 + far, 1201, 0, buf), NULL);
		send_checked(HOOK_XDP, buf, frame(c.in, TCPS_ACK, 5001, 1201 + far, 0, buf), NULL);
		send_checked(HOOK_XDP, buf, frame(c.in, TCPS_ACK, 5001 - far, 1101, 100, buf), NULL);
		send_checked(HOOK_XDP, buf, frame(c.in, TCPS_ACK, 5101 + far, 1101, 100, buf), NULL);
		send_checked(HOOK_XDP, buf, frame(c.in, TCPS_ACK, 5001 + far, 1101, 0, buf), NULL);
		send_checked(HOOK_XDP, buf, frame(c.in, TCPS_ACK, 5001 + far, 1101, 0, buf), NULL);
		c.in.win = 0;
		send_checked(HOOK_XDP, buf, frame(c.in, TCPS_ACK, 5001 - far, 1101, 0, buf), NULL);
		c.in.win = 65535;
		send_checked(HOOK_XDP, buf, frame(c.in, TCPS_ACK | TCPS_FIN, 5001 - far, 1101, 0, buf),
			     NULL);
		counters(c1);
		CHK_EQ(c1[TCPS_CNT_OOW] - c0[TCPS_CNT_OOW], 8);
		CHK_EQ(c1[TCPS_CNT_RETRANS], c0[TCPS_CNT_RETRANS]);
		CHK_EQ(lookup(&c.key, &v1), 1);
		CHK(!memcmp(&v1.h, &v0.h, sizeof(v0.h)));
		expect_established(&c);
		/* The genuine ACK, 30 ms after the data. */
		H.skel->bss->tcps_clock_ns = 5030000000ULL;
		send_checked(HOOK_XDP, buf, frame(c.in, TCPS_ACK, 5001, 1201, 0, buf), NULL);
		CHK_EQ(lookup(&c.key, &v1), 1);
		CHK_EQ(v1.h.rtt_us[l], 30000);
		/* An in-window resend of the local data: counted. */
		send_checked(HOOK_TC_OUT, buf, frame(c.out, TCPS_ACK | TCPS_PSH, 1101, 5001, 100, buf),
			     NULL);
		counters(c1);
		CHK_EQ(lookup(&c.key, &v1), 1);
		CHK_EQ(v1.h.retrans[l], v0.h.retrans[l] + 1);
		CHK_EQ(v1.h.retrans[!l], v0.h.retrans[!l]);
		CHK_EQ(v1.h.dupacks[!l] + v1.h.zwin[!l] + v1.h.ooo[!l], 0);
		CHK_EQ(c1[TCPS_CNT_RETRANS] - c0[TCPS_CNT_RETRANS], 1);
		expect_sums();
	}
}

/* A FIN (and an RST) of a live connection, cut at every length through
 * every hook: never a state change, always counted as a parse error. */
TEST(test_truncated_fin_and_rst_of_live_connection_change_nothing)
{
	__u8 buf[PKT_MAX];
	struct conn c;
	int e, h, k;

	if (setup())
		return;
	for (e = 0; e < N_ENCS; e++) {
		conn_init(&c, encs[e].family, encs[e].vlans, encs[e].ext, (__u16)(40000 + e));
		snprintf(H.where, sizeof(H.where), "%s establish", encs[e].name);
		establish(&c);
		for (k = 0; k < 2; k++) {
			size_t n = k ? frame(c.in, TCPS_RST, 5001, 0, 0, buf) :
				       frame(c.in, TCPS_FIN | TCPS_ACK, 5001, 1101, 20, buf);
			size_t len;

			for (len = 0; len < n; len++) {
				for (h = 0; h < N_HOOKS; h++) {
					int rc;

					snprintf(H.where, sizeof(H.where), "%s %s len=%zu/%zu hook=%d",
						 encs[e].name, k ? "RST" : "FIN", len, n, h);
					rc = send_checked(h, buf, len, &c.key);
					CHK(rc == -1 || rc == TCPS_P_TRUNCATED);
				}
			}
		}
		expect_established(&c);
	}
	expect_sums();
	teardown();
}

/* Zero-length and tiny frames: the test run refuses < 14 bytes; from 14
 * up, whatever the bytes, the programs pass and count them. */
TEST(test_tiny_frames_pass_and_are_counted)
{
	__u8 buf[64];
	size_t len;
	int h, i;

	if (setup())
		return;
	srand(7);
	for (len = 0; len < sizeof(buf); len++) {
		for (i = 0; i < 8; i++) {
			size_t j;

			for (j = 0; j < len; j++)
				buf[j] = (__u8)rand();
			if (len >= ETH_LEN && i < 4) {	/* IP ethertypes on half */
				buf[12] = i & 1 ? 0x86 : 0x08;
				buf[13] = i & 1 ? 0xdd : 0x00;
			}
			for (h = 0; h < N_HOOKS; h++) {
				snprintf(H.where, sizeof(H.where), "len=%zu i=%d hook=%d", len, i, h);
				send_checked(h, buf, len, NULL);
			}
		}
	}
	expect_sums();
	teardown();
}

/* IPv4 IHL 0..4: impossible, a parse error; the live entry is untouched. */
TEST(test_ipv4_ihl_below_5_is_a_parse_error)
{
	__u8 buf[PKT_MAX];
	struct conn c;
	int ihl, h, vl;

	if (setup())
		return;
	for (vl = 0; vl <= 2; vl++) {
		conn_init(&c, 4, vl, 0, (__u16)(40100 + vl));
		establish(&c);
		for (ihl = 0; ihl < 5; ihl++) {
			size_t n = frame(c.in, TCPS_RST, 5001, 0, 0, buf);

			buf[ETH_LEN + 4 * vl] = (__u8)(0x40 | ihl);
			for (h = 0; h < N_HOOKS; h++) {
				snprintf(H.where, sizeof(H.where), "vlans=%d ihl=%d hook=%d", vl, ihl, h);
				CHK_EQ(send_checked(h, buf, n, &c.key), TCPS_P_MALFORMED);
			}
		}
		expect_established(&c);
	}
	expect_sums();
	teardown();
}

/* TCP data offset 0..4, or pointing past the end of the segment. */
TEST(test_tcp_data_offset_below_5_or_past_end_is_a_parse_error)
{
	__u8 buf[PKT_MAX];
	struct conn c;
	int e, doff, h;

	if (setup())
		return;
	for (e = 0; e < N_ENCS; e++) {
		size_t n, l4;

		conn_init(&c, encs[e].family, encs[e].vlans, encs[e].ext, (__u16)(40200 + e));
		establish(&c);
		n = frame(c.in, TCPS_RST, 5001, 0, 0, buf);
		l4 = n - 20;	/* a bare 20-byte TCP header ends the frame */
		for (doff = 0; doff < 16; doff++) {
			if (doff == 5)
				continue;
			buf[l4 + 12] = (__u8)(doff << 4);
			for (h = 0; h < N_HOOKS; h++) {
				snprintf(H.where, sizeof(H.where), "%s doff=%d hook=%d", encs[e].name,
					 doff, h);
				CHK_EQ(send_checked(h, buf, n, &c.key), TCPS_P_MALFORMED);
			}
		}
		expect_established(&c);
	}
	expect_sums();
	teardown();
}

/* IPv6 extension chains: up to the bound (8) parse; 9 and 16 are refused
 * as malformed; never a state change. */
TEST(test_ipv6_extension_chain_longer_than_bound_is_a_parse_error)
{
	__u8 buf[PKT_MAX];
	struct conn c;
	int ext, h;

	if (setup())
		return;
	conn_init(&c, 6, 0, 0, 40300);
	establish(&c);
	for (ext = 0; ext <= 16; ext++) {
		struct pkt_spec s = c.in;
		size_t n;

		s.ipv6_ext = ext;
		n = frame(s, TCPS_RST, 7777, 0, 0, buf);	/* out of window: no change if parsed */
		for (h = 0; h < N_HOOKS; h++) {
			int rc;

			snprintf(H.where, sizeof(H.where), "ext=%d hook=%d", ext, h);
			rc = send_checked(h, buf, n, &c.key);
			CHK_EQ(rc, ext <= TCPS_MAX_IPV6_EXT ? TCPS_P_TCP : TCPS_P_MALFORMED);
		}
	}
	expect_established(&c);
	expect_sums();
	teardown();
}

/* Non-first fragments carry no TCP header: counted, never parsed, even
 * when the bytes where a TCP header would be form an acceptable RST. */
TEST(test_non_first_fragments_are_counted_and_not_parsed)
{
	__u8 buf[PKT_MAX];
	struct conn c4, c6;
	int h, off;

	if (setup())
		return;
	conn_init(&c4, 4, 0, 0, 40400);
	conn_init(&c6, 6, 1, 1, 40401);
	establish(&c4);
	establish(&c6);
	for (off = 1; off < 8192; off = off * 3 + 1) {
		struct pkt_spec s4 = c4.in, s6 = c6.in;
		size_t n4, n6;

		s4.frag_offset = s6.frag_offset = off;
		n4 = frame(s4, TCPS_RST, 5001, 0, 0, buf);
		for (h = 0; h < N_HOOKS; h++) {
			snprintf(H.where, sizeof(H.where), "v4 off=%d hook=%d", off, h);
			CHK_EQ(send_checked(h, buf, n4, &c4.key), TCPS_P_FRAGMENT);
		}
		n6 = frame(s6, TCPS_RST, 5001, 0, 0, buf);
		for (h = 0; h < N_HOOKS; h++) {
			snprintf(H.where, sizeof(H.where), "v6 off=%d hook=%d", off, h);
			CHK_EQ(send_checked(h, buf, n6, &c6.key), TCPS_P_FRAGMENT);
		}
	}
	expect_established(&c4);
	expect_established(&c6);
	expect_sums();
	teardown();
}

/* Three stacked VLAN tags: beyond the bound of two, passed as non-TCP. */
TEST(test_three_stacked_vlans_pass_as_non_tcp)
{
	__u8 buf[PKT_MAX], buf3[PKT_MAX];
	struct conn c;
	int h;
	size_t n;

	if (setup())
		return;
	conn_init(&c, 4, 2, 0, 40500);
	establish(&c);
	n = frame(c.in, TCPS_RST, 5001, 0, 0, buf);
	/* Insert a third 802.1Q tag after the two that are there. */
	memcpy(buf3, buf, 12 + 8);
	buf3[20] = 0x81;
	buf3[21] = 0x00;
	buf3[22] = 0x00;
	buf3[23] = 0x66;
	memcpy(buf3 + 24, buf + 20, n - 20);
	for (h = 0; h < N_HOOKS; h++) {
		snprintf(H.where, sizeof(H.where), "3 tags hook=%d", h);
		CHK_EQ(send_checked(h, buf3, n + 4, &c.key), TCPS_P_NOT_TCP);
	}
	expect_established(&c);
	expect_sums();
	teardown();
}

/* 100k random mutations of valid frames of live connections, through all
 * hooks: all passed and counted; each that still parses as TCP does what
 * the native FSM does with it (a valid frame of that tuple); each that
 * does not parse changes nothing. */
TEST(test_100k_random_mutations_are_passed_counted_and_never_misapplied)
{
	enum { N_CONNS = 8 };
	struct conn c[N_CONNS];
	__u8 base[PKT_MAX], buf[PKT_MAX + 64];
	unsigned int seed = getenv("TCPS_HOSTILE_SEED") ? (unsigned)atoi(getenv("TCPS_HOSTILE_SEED")) :
							  (unsigned)time(NULL);
	int i, rcs[TCPS_P_MALFORMED + 2] = { 0 };
	__u64 cnt[TCPS_CNT_MAX];

	if (setup())
		return;
	srand(seed);
	printf("# seed %u (TCPS_HOSTILE_SEED to repeat)\n", seed);
	for (i = 0; i < N_CONNS; i++) {
		conn_init(&c[i], encs[i % N_ENCS].family, encs[i % N_ENCS].vlans,
			  encs[i % N_ENCS].ext, (__u16)(41000 + i));
		establish(&c[i]);
	}
	for (i = 0; i < N_MUTATIONS && !check_cur_failed; i++) {
		struct conn *cc = &c[rand() % N_CONNS];
		int out = rand() & 1, kind = rand() % 6, m, nm, rc, hook;
		static const __u8 fl[] = { TCPS_ACK, TCPS_ACK | TCPS_PSH, TCPS_FIN | TCPS_ACK,
					   TCPS_RST, TCPS_RST | TCPS_ACK, TCPS_SYN };
		__u32 seq = out ? 1101 : 5001, ack = out ? 5001 : 1101;
		size_t n, len;

		n = frame(out ? cc->out : cc->in, fl[kind], seq + (rand() % 3 ? 0 : (__u32)rand()),
			  ack, (__u32)(rand() % 3 ? 0 : rand() % 200), base);
		memcpy(buf, base, n);
		len = n;
		nm = 1 + rand() % 4;
		for (m = 0; m < nm; m++) {
			switch (rand() % 5) {
			case 0:	/* flip a bit in the headers */
			case 1:
				buf[rand() % (len < 90 ? len : 90)] ^= (__u8)(1 << (rand() % 8));
				break;
			case 2:	/* random byte anywhere */
				buf[rand() % len] = (__u8)rand();
				break;
			case 3:	/* truncate */
				len = (size_t)rand() % (len + 1);
				if (len < 1)
					len = 1;
				break;
			case 4:	/* trailing garbage */
				if (len + 64 <= sizeof(buf)) {
					int j, k = 1 + rand() % 64;

					for (j = 0; j < k; j++)
						buf[len++] = (__u8)rand();
				}
				break;
			}
		}
		hook = out ? HOOK_TC_OUT : (rand() & 1 ? HOOK_XDP : HOOK_TC_IN);
		snprintf(H.where, sizeof(H.where), "mutation %d (seed %u) hook=%d len=%zu", i, seed, hook,
			 len);
		rc = send_checked(hook, buf, len, &cc->key);
		rcs[rc + 1]++;
		/* Connections reset or closed by a still-valid mutant start over. */
		if (rand() % 512 == 0) {
			struct tcps_conn v;

			if (lookup(&cc->key, &v) &&
			    (v.fsm.ep[0].state != TCPS_ESTABLISHED || v.fsm.ep[1].state != TCPS_ESTABLISHED)) {
				forget(&cc->key);
				snprintf(H.where, sizeof(H.where), "re-establish after mutation %d", i);
				establish(cc);
			}
		}
	}
	counters(cnt);
	printf("# %d mutations: refused by test_run %d, tcp %d, non-tcp %d, fragment %d, truncated %d, malformed %d; "
	       "counters: packets %llu tcp %llu parse_errors %llu new %llu table_full %llu oow %llu\n",
	       i, rcs[0], rcs[1], rcs[2], rcs[3], rcs[4], rcs[5],
	       (unsigned long long)cnt[TCPS_CNT_PACKETS], (unsigned long long)cnt[TCPS_CNT_TCP],
	       (unsigned long long)cnt[TCPS_CNT_PARSE_ERR], (unsigned long long)cnt[TCPS_CNT_NEW_CONN],
	       (unsigned long long)cnt[TCPS_CNT_TABLE_FULL], (unsigned long long)cnt[TCPS_CNT_OOW]);
	CHK_EQ(i, N_MUTATIONS);
	CHK(rcs[1] > 1000 && rcs[4] + rcs[5] > 1000);	/* both kinds really exercised */
	expect_sums();
	teardown();
}

int main(void)
{
	libbpf_set_print(quiet);
	if (geteuid() != 0) {
		printf("skip test_hostile: needs root\n");
		return 0;
	}
	RUN(test_tiny_frames_pass_and_are_counted);
	RUN(test_truncated_fin_and_rst_of_live_connection_change_nothing);
	RUN(test_ipv4_ihl_below_5_is_a_parse_error);
	RUN(test_tcp_data_offset_below_5_or_past_end_is_a_parse_error);
	RUN(test_ipv6_extension_chain_longer_than_bound_is_a_parse_error);
	RUN(test_non_first_fragments_are_counted_and_not_parsed);
	RUN(test_three_stacked_vlans_pass_as_non_tcp);
	RUN(test_out_of_window_segments_move_no_health);
	RUN(test_100k_random_mutations_are_passed_counted_and_never_misapplied);
	return check_done();
}
