// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of the packet parser (bpf/parse.h): frames built with
 * pkt_build() (tools/pktbuild.h), then patched where a test needs a field
 * the builder will not produce. Every parse runs on a heap copy of exactly
 * the frame's length, so under SANITIZE=1 ASan reports any read past
 * data_end, which is what the verifier would refuse in the BPF build.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "parse.h"
#include "pktbuild.h"

#define V4_SRC "198.18.0.1"
#define V4_DST "198.18.0.2"
#define V6_SRC "2001:db8::1"
#define V6_DST "2001:db8::2"

static uint8_t frame[PKT_MAX];

static const char *rc_name(int rc)
{
	static const char *const names[] = { "TCP", "NOT_TCP", "FRAGMENT", "TRUNCATED",
					     "MALFORMED" };

	return rc >= 0 && rc <= TCPS_P_MALFORMED ? names[rc] : "(bad)";
}

#define CHECK_RC(got, want)                                                        \
	do {                                                                       \
		int g_ = (got), w_ = (want);                                       \
		if (g_ != w_)                                                      \
			CHECK_FAIL_("%s is %s, expected %s", #got, rc_name(g_),    \
				    rc_name(w_));                                  \
	} while (0)

/* Parse the first n bytes of buf as a frame of wire_len bytes, from a heap
 * buffer of exactly n bytes, the way the native callers do it. */
static int parse_n(const uint8_t *buf, size_t n, uint32_t wire_len, struct tcps_parsed *p)
{
	uint8_t *copy = malloc(n ? n : 1);
	int rc;

	if (!copy)
		abort();
	memcpy(copy, buf, n);
	memset(p, 0xa5, sizeof(*p));	/* no field may be read unset */
	rc = tcps_parse(copy, copy + n, wire_len, p);
	if (rc == TCPS_P_TCP)
		tcps_parse_syn_opts_flat(copy, p);
	free(copy);
	return rc;
}

static int parse(const uint8_t *buf, size_t n, struct tcps_parsed *p)
{
	return parse_n(buf, n, (uint32_t)n, p);
}

static size_t build(const struct pkt_spec *s)
{
	size_t n = pkt_build(s, frame, sizeof(frame));

	if (!n)
		CHECK_FAIL_("pkt_build failed");
	return n;
}

/* Offset of the TCP header in a frame pkt_build made from s. */
static size_t l4_off(const struct pkt_spec *s)
{
	size_t off = 14 + 4 * (size_t)s->vlans;

	if (s->family == 4)
		return off + 20 + (size_t)s->ipv4_options;
	return off + 40 + 8 * (size_t)s->ipv6_ext + (s->frag_offset ? 8 : 0);
}

static size_t l3_off(const struct pkt_spec *s)
{
	return 14 + 4 * (size_t)s->vlans;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* The segment fields that every test of a well-formed frame checks. */
static void check_seg(const struct tcps_parsed *p, const struct pkt_spec *s)
{
	uint32_t a[4], b[4];

	CHECK_EQ(p->seg.sport, s->sport);
	CHECK_EQ(p->seg.dport, s->dport);
	CHECK_EQ(p->seg.seq, s->seq);
	CHECK_EQ(p->seg.ack, s->ack);
	CHECK_EQ(p->seg.flags, s->flags);
	CHECK_EQ(p->seg.win, s->win);
	CHECK_EQ(p->seg.len, s->payload_len);
	CHECK_EQ(p->family, s->family == 4 ? TCPS_AF_INET : TCPS_AF_INET6);
	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	inet_pton(s->family == 4 ? AF_INET : AF_INET6, s->src, a);
	inet_pton(s->family == 4 ? AF_INET : AF_INET6, s->dst, b);
	CHECK(!memcmp(p->saddr, a, s->family == 4 ? 4 : 16));
	CHECK(!memcmp(p->daddr, b, s->family == 4 ? 4 : 16));
}

static struct pkt_spec v4_syn(void)
{
	struct pkt_spec s = PKT_V4(V4_SRC, 40000, V4_DST, 80);

	s.flags = TCPS_SYN;
	s.seq = 0xdeadbeef;
	s.win = 64240;
	s.mss = 1460;
	s.wscale = 7;
	return s;
}

static struct pkt_spec v6_data(void)
{
	struct pkt_spec s = PKT_V6(V6_SRC, 443, V6_DST, 51000);

	s.flags = TCPS_ACK | TCPS_PSH;
	s.seq = 123456789;
	s.ack = 987654321;
	s.win = 501;
	s.payload_len = 1000;
	return s;
}

/* ---- well-formed frames ------------------------------------------------ */

TEST(test_ipv4_syn_fields_and_window_scale)
{
	struct pkt_spec s = v4_syn();
	struct tcps_parsed p;
	size_t n = build(&s);

	CHECK_RC(parse(frame, n, &p), TCPS_P_TCP);
	check_seg(&p, &s);
	CHECK_EQ(p.opt_len, 8);		/* MSS 4, NOP + window scale 4 */
	CHECK_EQ(p.opt_off, l4_off(&s) + 20);
	CHECK_EQ(p.seg.has_wscale, 1);
	CHECK_EQ(p.seg.wscale, 7);
}

TEST(test_sack_permitted_is_read_on_a_syn_only)
{
	struct pkt_spec s = v4_syn();
	struct tcps_parsed p;

	CHECK_RC(parse(frame, build(&s), &p), TCPS_P_TCP);
	CHECK_EQ(p.seg.has_sackok, 0);
	s.sackok = 1;
	CHECK_RC(parse(frame, build(&s), &p), TCPS_P_TCP);
	CHECK_EQ(p.seg.has_sackok, 1);
	CHECK_EQ(p.seg.has_wscale, 1);
	CHECK_EQ(p.seg.wscale, 7);
	s.flags = TCPS_ACK;
	CHECK_RC(parse(frame, build(&s), &p), TCPS_P_TCP);
	CHECK_EQ(p.seg.has_sackok, 0);
}

/* An IPv4 key's other address words are zero, whatever was in the parse
 * buffer before: the slot table compares an IPv4 tuple on three words. */
TEST(test_ipv4_key_has_zero_upper_address_words)
{
	struct pkt_spec s = PKT_V4(V4_SRC, 40000, V4_DST, 80);
	struct tcps_parsed p;
	struct tcps_key k;
	int i, w;

	CHECK_RC(parse(frame, build(&s), &p), TCPS_P_TCP);
	memset(&k, 0xa5, sizeof(k));
	tcps_parsed_key(&p, &k);
	CHECK_EQ(k.family, TCPS_AF_INET);
	for (i = 0; i < 2; i++)
		for (w = 1; w < 4; w++)
			CHECK_EQ(k.addr[i][w], 0);
}

TEST(test_ipv4_data_segment_fields)
{
	struct pkt_spec s = PKT_V4(V4_SRC, 40000, V4_DST, 80);
	struct tcps_parsed p;
	size_t n;

	s.flags = TCPS_ACK | TCPS_PSH | TCPS_FIN;
	s.seq = 0xfffffff0;
	s.ack = 7;
	s.win = 12345;
	s.payload_len = 1448;
	n = build(&s);
	CHECK_RC(parse(frame, n, &p), TCPS_P_TCP);
	check_seg(&p, &s);
	CHECK_EQ(p.opt_len, 0);
	CHECK_EQ(p.seg.has_wscale, 0);
}

TEST(test_ipv4_options_are_skipped)
{
	static const int optlen[] = { 4, 8, 20, 40 };
	struct tcps_parsed p;
	unsigned int i;

	for (i = 0; i < sizeof(optlen) / sizeof(optlen[0]); i++) {
		struct pkt_spec s = v4_syn();
		size_t n;

		s.ipv4_options = optlen[i];
		s.payload_len = 10;
		n = build(&s);
		CHECK_RC(parse(frame, n, &p), TCPS_P_TCP);
		check_seg(&p, &s);
		CHECK_EQ(p.seg.wscale, 7);
		CHECK_EQ(p.opt_off, l4_off(&s) + 20);
	}
}

TEST(test_window_scale_is_read_only_on_syn)
{
	struct pkt_spec s = v4_syn();
	struct tcps_parsed p;
	size_t n;

	s.flags = TCPS_ACK;	/* the option is there, but not on a SYN */
	n = build(&s);
	CHECK_RC(parse(frame, n, &p), TCPS_P_TCP);
	CHECK_EQ(p.seg.has_wscale, 0);
	CHECK_EQ(p.seg.wscale, 0);

	s.flags = TCPS_SYN | TCPS_ACK;
	s.wscale = 14;
	n = build(&s);
	CHECK_RC(parse(frame, n, &p), TCPS_P_TCP);
	CHECK_EQ(p.seg.has_wscale, 1);
	CHECK_EQ(p.seg.wscale, 14);

	s.wscale = -1;		/* SYN without the option */
	n = build(&s);
	CHECK_RC(parse(frame, n, &p), TCPS_P_TCP);
	CHECK_EQ(p.seg.has_wscale, 0);
}

/* A SYN carrying raw TCP option bytes (pkt_build only writes MSS and WS):
 * built without options, then the options inserted and the lengths fixed. */
static size_t v4_syn_with_opts(const uint8_t *opts, size_t olen)
{
	struct pkt_spec s = v4_syn();
	size_t n, th;

	s.mss = 0;
	s.wscale = -1;
	n = build(&s);
	th = l4_off(&s);
	memcpy(frame + th + 20, opts, olen);
	frame[th + 12] = (uint8_t)(((20 + olen) / 4) << 4);
	put16(frame + l3_off(&s) + 2, (uint16_t)(20 + 20 + olen));
	return n + olen;
}

TEST(test_window_scale_found_among_linux_syn_options)
{
	/* Linux's SYN: MSS, SACK_PERM, TS, NOP, WS. */
	static const uint8_t linux_syn[] = {
		2, 4, 0x05, 0xb4, 4, 2, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0, 1, 3, 3, 9,
	};
	/* 40 bytes of NOPs but the last 4: more than the option bound. */
	uint8_t nops[40];
	struct tcps_parsed p;
	size_t n;

	n = v4_syn_with_opts(linux_syn, sizeof(linux_syn));
	CHECK_RC(parse(frame, n, &p), TCPS_P_TCP);
	CHECK_EQ(p.opt_len, 20);
	CHECK_EQ(p.seg.has_wscale, 1);
	CHECK_EQ(p.seg.wscale, 9);

	memset(nops, 1, sizeof(nops));
	nops[36] = 3;
	nops[37] = 3;
	nops[38] = 5;
	nops[39] = 0;
	n = v4_syn_with_opts(nops, sizeof(nops));
	CHECK_RC(parse(frame, n, &p), TCPS_P_TCP);
	CHECK_EQ(p.opt_len, 40);
	CHECK_EQ(p.seg.has_wscale, 0);	/* bounded walk: given up, no harm */
}

TEST(test_malformed_tcp_options_are_ignored)
{
	static const uint8_t zero_len[] = { 2, 0, 0, 0, 3, 3, 7, 0 };
	static const uint8_t one_len[] = { 8, 1, 0, 0, 3, 3, 7, 0 };
	static const uint8_t ws_len4[] = { 3, 4, 7, 0 };
	static const uint8_t ws_cut[] = { 1, 1, 1, 3 };	/* WS kind in the last byte */
	static const uint8_t eol_first[] = { 0, 3, 3, 7 };
	static const uint8_t huge_len[] = { 8, 255, 3, 3, 3, 7, 0, 0 };
	const struct {
		const uint8_t *o;
		size_t n;
	} cases[] = {
		{ zero_len, sizeof(zero_len) }, { one_len, sizeof(one_len) },
		{ ws_len4, sizeof(ws_len4) }, { ws_cut, sizeof(ws_cut) },
		{ eol_first, sizeof(eol_first) }, { huge_len, sizeof(huge_len) },
	};
	struct tcps_parsed p;
	unsigned int i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = v4_syn_with_opts(cases[i].o, cases[i].n);

		CHECK_RC(parse(frame, n, &p), TCPS_P_TCP);
		if (p.seg.has_wscale)
			CHECK_FAIL_("case %u: window scale read from a broken option", i);
	}
}

TEST(test_ipv6_with_0_to_8_extension_headers)
{
	struct tcps_parsed p;
	int ext;

	for (ext = 0; ext <= TCPS_MAX_IPV6_EXT; ext++) {
		struct pkt_spec s = v6_data();
		size_t n;

		s.ipv6_ext = ext;
		n = build(&s);
		CHECK_RC(parse(frame, n, &p), TCPS_P_TCP);
		check_seg(&p, &s);
		CHECK_EQ(p.opt_off, l4_off(&s) + 20);

		s = v4_syn();
		s.family = 6;
		s.src = V6_SRC;
		s.dst = V6_DST;
		s.ipv6_ext = ext;
		n = build(&s);
		CHECK_RC(parse(frame, n, &p), TCPS_P_TCP);
		check_seg(&p, &s);
		CHECK_EQ(p.seg.wscale, 7);
	}
}

TEST(test_ipv6_with_9_or_more_extension_headers_is_malformed)
{
	struct tcps_parsed p;
	int ext;

	for (ext = TCPS_MAX_IPV6_EXT + 1; ext <= 16; ext++) {
		struct pkt_spec s = v6_data();
		size_t n;

		s.ipv6_ext = ext;
		n = build(&s);
		CHECK_RC(parse(frame, n, &p), TCPS_P_MALFORMED);
	}
}

TEST(test_ipv6_every_extension_header_type_is_walked)
{
	/* hop-by-hop, routing, AH, destination options, first fragment:
	 * 8-byte headers, the AH one by its own length rule (RFC 4302 §2.2). */
	struct pkt_spec s = v6_data();
	struct tcps_parsed p;
	uint8_t *ip, *h;
	size_t n;

	s.ipv6_ext = 4;
	s.frag_offset = 1;
	n = build(&s);
	ip = frame + l3_off(&s);
	h = ip + 40;
	ip[6] = TCPS_IPPROTO_HOPOPTS;
	h[0] = TCPS_IPPROTO_ROUTING;
	h[8] = TCPS_IPPROTO_AH;
	h[16] = TCPS_IPPROTO_DSTOPTS;	/* AH: (0 + 2) * 4 = 8 bytes */
	h[24] = TCPS_IPPROTO_FRAGMENT;
	put16(h + 32 + 2, 0x0001);	/* offset 0, more fragments: the first */
	CHECK_RC(parse(frame, n, &p), TCPS_P_TCP);
	check_seg(&p, &s);
}

TEST(test_ipv6_large_extension_headers_do_not_wrap_the_offset)
{
	/* Eight destination-options headers of the largest size, 2 KiB each:
	 * the chain ends 16424 bytes into the packet. PadN content is free,
	 * so the first header is made to look like a TCP header too. */
	static uint8_t big[14 + 40 + 8 * 2048 + 20];
	struct tcps_parsed p;
	uint8_t *ip = big + 14, *h = ip + 40;
	int i;

	memset(big, 0, sizeof(big));
	put16(big + 12, TCPS_ETH_P_IPV6);
	ip[0] = 0x60;
	put16(ip + 4, 8 * 2048 + 20);
	ip[6] = TCPS_IPPROTO_DSTOPTS;
	for (i = 0; i < 8; i++, h += 2048) {
		h[0] = i < 7 ? TCPS_IPPROTO_DSTOPTS : TCPS_IPPROTO_TCP;
		h[1] = 255;
		h[2] = 1;		/* PadN over the rest */
		h[3] = 253;
	}
	ip[40 + 12] = 0x50;
	put16(h, 40000);
	put16(h + 2, 80);
	h[12] = 0x50;
	h[13] = TCPS_SYN;
	CHECK_RC(parse(big, sizeof(big), &p), TCPS_P_TCP);
	CHECK_EQ(p.seg.sport, 40000);
	CHECK_EQ(p.seg.dport, 80);
	CHECK_EQ(p.seg.flags, TCPS_SYN);
	CHECK_EQ(p.seg.len, 0);
	CHECK_EQ(p.opt_off, sizeof(big));
}

TEST(test_ipv6_extension_header_past_payload_is_malformed)
{
	struct pkt_spec s = v6_data();
	struct tcps_parsed p;
	uint8_t *ip;
	size_t n;

	s.ipv6_ext = 1;
	s.payload_len = 0;
	n = build(&s);
	ip = frame + l3_off(&s);
	ip[40 + 1] = 4;		/* (4 + 1) * 8 = 40 bytes: past plen = 28 */
	CHECK_RC(parse(frame, n, &p), TCPS_P_MALFORMED);
}

TEST(test_vlan_tags_0_1_2)
{
	struct tcps_parsed p;
	int v;

	for (v = 0; v <= 2; v++) {
		struct pkt_spec s4 = v4_syn(), s6 = v6_data();
		size_t n;

		s4.vlans = v;
		n = build(&s4);
		CHECK_RC(parse(frame, n, &p), TCPS_P_TCP);
		check_seg(&p, &s4);
		CHECK_EQ(p.seg.wscale, 7);
		CHECK_EQ(p.opt_off, l4_off(&s4) + 20);

		s6.vlans = v;
		s6.ipv6_ext = 2;
		n = build(&s6);
		CHECK_RC(parse(frame, n, &p), TCPS_P_TCP);
		check_seg(&p, &s6);
	}
}

TEST(test_three_vlan_tags_are_not_parsed)
{
	struct pkt_spec s = v4_syn();
	struct tcps_parsed p;
	uint8_t f3[PKT_MAX];
	size_t n;

	s.vlans = 2;
	n = build(&s);
	/* Insert a third 802.1Q tag after the two: more than DESIGN §1 takes. */
	memcpy(f3, frame, 20);
	put16(f3 + 20, TCPS_ETH_P_8021Q);
	put16(f3 + 22, 300);
	memcpy(f3 + 24, frame + 20, n - 20);
	CHECK_RC(parse(f3, n + 4, &p), TCPS_P_NOT_TCP);
}

TEST(test_non_first_fragments_are_fragments)
{
	static const int offs[] = { 1, 185, 0x1fff };
	struct tcps_parsed p;
	unsigned int i;

	for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		struct pkt_spec s4 = v4_syn(), s6 = v6_data();
		size_t n;

		s4.frag_offset = offs[i];
		n = build(&s4);
		CHECK_RC(parse(frame, n, &p), TCPS_P_FRAGMENT);
		/* whatever the protocol: there is no L4 header in it */
		frame[l3_off(&s4) + 9] = 17;
		CHECK_RC(parse(frame, n, &p), TCPS_P_FRAGMENT);

		s6.frag_offset = offs[i];
		n = build(&s6);
		CHECK_RC(parse(frame, n, &p), TCPS_P_FRAGMENT);
		s6.ipv6_ext = 3;
		n = build(&s6);
		CHECK_RC(parse(frame, n, &p), TCPS_P_FRAGMENT);
	}
}

TEST(test_first_fragments_are_tcp)
{
	struct pkt_spec s4 = v4_syn(), s6 = v6_data();
	struct tcps_parsed p;
	uint8_t *fh;
	size_t n;

	n = build(&s4);
	frame[l3_off(&s4) + 6] = 0x20;	/* MF, offset 0 */
	CHECK_RC(parse(frame, n, &p), TCPS_P_TCP);
	check_seg(&p, &s4);

	s6.frag_offset = 1;
	n = build(&s6);
	fh = frame + l3_off(&s6) + 40;
	put16(fh + 2, 0x0001);		/* offset 0, M */
	CHECK_RC(parse(frame, n, &p), TCPS_P_TCP);
	check_seg(&p, &s6);
}

TEST(test_non_tcp_is_not_tcp)
{
	struct pkt_spec s4 = v4_syn(), s6 = v6_data();
	struct tcps_parsed p;
	size_t n;

	n = build(&s4);
	frame[l3_off(&s4) + 9] = 17;	/* UDP */
	CHECK_RC(parse(frame, n, &p), TCPS_P_NOT_TCP);
	frame[l3_off(&s4) + 9] = 1;	/* ICMP */
	CHECK_RC(parse(frame, n, &p), TCPS_P_NOT_TCP);
	/* Another protocol's header lengths are not ours to judge: a bad ihl
	 * or total length still makes it non-TCP, not a parse error (and the
	 * path every non-TCP frame takes stops at the protocol byte). */
	frame[l3_off(&s4)] = 0x43;
	CHECK_RC(parse(frame, n, &p), TCPS_P_NOT_TCP);
	frame[l3_off(&s4)] = 0x45;
	put16(frame + l3_off(&s4) + 2, 9000);
	CHECK_RC(parse(frame, n, &p), TCPS_P_NOT_TCP);
	frame[l3_off(&s4) + 9] = 6;	/* the same header as TCP: judged */
	CHECK_RC(parse(frame, n, &p), TCPS_P_TRUNCATED);

	n = build(&s4);
	put16(frame + 12, 0x0806);	/* ARP */
	CHECK_RC(parse(frame, n, &p), TCPS_P_NOT_TCP);
	s4.vlans = 1;
	n = build(&s4);
	put16(frame + 16, 0x0806);	/* ARP behind a tag */
	CHECK_RC(parse(frame, n, &p), TCPS_P_NOT_TCP);

	n = build(&s6);
	frame[l3_off(&s6) + 6] = 58;	/* ICMPv6 */
	CHECK_RC(parse(frame, n, &p), TCPS_P_NOT_TCP);
	frame[l3_off(&s6) + 6] = 59;	/* No Next Header */
	CHECK_RC(parse(frame, n, &p), TCPS_P_NOT_TCP);
}

TEST(test_non_tcp_after_ipv6_extension_headers_is_not_tcp)
{
	struct tcps_parsed p;
	int ext;

	/* Up to the bound, including a full-length chain, UDP after the
	 * chain is a well-formed non-TCP packet, not a parse error. */
	for (ext = 1; ext <= TCPS_MAX_IPV6_EXT; ext++) {
		struct pkt_spec s = v6_data();
		size_t n;

		s.ipv6_ext = ext;
		n = build(&s);
		frame[l3_off(&s) + 40 + 8 * (ext - 1)] = 17;
		CHECK_RC(parse(frame, n, &p), TCPS_P_NOT_TCP);
	}
}

/* ---- broken frames ----------------------------------------------------- */

TEST(test_zero_length_frame_is_truncated)
{
	struct tcps_parsed p;

	CHECK_RC(parse(frame, 0, &p), TCPS_P_TRUNCATED);
	CHECK_RC(parse_n(frame, 0, 1500, &p), TCPS_P_TRUNCATED);
}

/* Cut a frame at every length. wire_len = n: the frame really is that
 * short (XDP, pcap). wire_len = full: only the first n bytes are linear
 * (tc), so TCP is fine as soon as the headers are in. */
static void check_every_truncation(const struct pkt_spec *s)
{
	uint8_t full[PKT_MAX];
	struct tcps_parsed ref, p;
	size_t n, len = pkt_build(s, full, sizeof(full)), hdr_end;

	if (!len) {
		CHECK_FAIL_("pkt_build failed");
		return;
	}
	CHECK_RC(parse(full, len, &ref), TCPS_P_TCP);
	hdr_end = l4_off(s) + 20 + ref.opt_len;
	for (n = 0; n <= len; n++) {
		int rc = parse_n(full, n, (uint32_t)n, &p);

		if (rc != (n == len ? TCPS_P_TCP : TCPS_P_TRUNCATED))
			CHECK_FAIL_("family %d: %zu of %zu bytes (wire %zu): %s", s->family, n,
				    len, n, rc_name(rc));
		rc = parse_n(full, n, (uint32_t)len, &p);
		if (rc != (n >= hdr_end ? TCPS_P_TCP : TCPS_P_TRUNCATED)) {
			CHECK_FAIL_("family %d: %zu of %zu bytes (wire %zu): %s", s->family, n,
				    len, len, rc_name(rc));
		} else if (rc == TCPS_P_TCP &&
			   (memcmp(&p.seg, &ref.seg, sizeof(p.seg)) || p.opt_len != ref.opt_len ||
			    p.opt_off != ref.opt_off)) {
			CHECK_FAIL_("family %d: %zu of %zu bytes: fields differ", s->family, n, len);
		}
	}
}

TEST(test_truncation_at_every_length)
{
	struct pkt_spec s;

	s = v4_syn();
	check_every_truncation(&s);
	s.ipv4_options = 12;
	s.vlans = 2;
	s.payload_len = 30;
	check_every_truncation(&s);
	s = v6_data();
	s.payload_len = 40;
	check_every_truncation(&s);
	s.ipv6_ext = 3;
	s.vlans = 1;
	check_every_truncation(&s);
	s = v4_syn();
	s.family = 6;
	s.src = V6_SRC;
	s.dst = V6_DST;
	s.ipv6_ext = TCPS_MAX_IPV6_EXT;
	s.vlans = 2;
	check_every_truncation(&s);
}

TEST(test_ihl_below_5_is_malformed)
{
	struct pkt_spec s = v4_syn();
	struct tcps_parsed p;
	size_t n = build(&s);
	int ihl;

	for (ihl = 0; ihl < 5; ihl++) {
		frame[l3_off(&s)] = (uint8_t)(0x40 | ihl);
		CHECK_RC(parse(frame, n, &p), TCPS_P_MALFORMED);
	}
	frame[l3_off(&s)] = 0x45;
	CHECK_RC(parse(frame, n, &p), TCPS_P_TCP);
	frame[l3_off(&s)] = 0x4f;	/* 60-byte header, past the 48 bytes we have */
	CHECK_RC(parse(frame, n, &p), TCPS_P_TRUNCATED);
	frame[l3_off(&s)] = 0x65;	/* version 6 behind ethertype IPv4 */
	CHECK_RC(parse(frame, n, &p), TCPS_P_MALFORMED);
}

TEST(test_ipv4_total_length)
{
	struct pkt_spec s = v4_syn();
	struct tcps_parsed p;
	uint8_t *ip;
	size_t n;

	s.flags = TCPS_ACK;
	s.payload_len = 100;
	n = build(&s);
	ip = frame + l3_off(&s);
	put16(ip + 2, 19);		/* shorter than the header */
	CHECK_RC(parse(frame, n, &p), TCPS_P_MALFORMED);
	put16(ip + 2, 20 + 10);		/* shorter than the TCP header */
	CHECK_RC(parse(frame, n, &p), TCPS_P_MALFORMED);
	put16(ip + 2, (uint16_t)(n - 14 + 1));	/* longer than the frame */
	CHECK_RC(parse(frame, n, &p), TCPS_P_TRUNCATED);
	put16(ip + 2, 0);		/* TSO / BIG TCP: the wire length rules */
	CHECK_RC(parse(frame, n, &p), TCPS_P_TCP);
	CHECK_EQ(p.seg.len, 100);
	/* Ethernet padding of a 54-byte bare ACK is not payload. */
	s.payload_len = 0;
	s.mss = 0;
	s.wscale = -1;
	n = build(&s);
	CHECK_EQ(n, 54);
	memset(frame + n, 0, 60 - 54);
	CHECK_RC(parse(frame, 60, &p), TCPS_P_TCP);
	CHECK_EQ(p.seg.len, 0);
}

TEST(test_ipv6_payload_length)
{
	struct pkt_spec s = v6_data();
	struct tcps_parsed p;
	uint8_t *ip;
	size_t n = build(&s);

	ip = frame + l3_off(&s);
	put16(ip + 4, 0);		/* jumbogram / BIG TCP */
	CHECK_RC(parse(frame, n, &p), TCPS_P_TCP);
	CHECK_EQ(p.seg.len, s.payload_len);
	put16(ip + 4, (uint16_t)(n - 14 - 40 + 1));
	CHECK_RC(parse(frame, n, &p), TCPS_P_TRUNCATED);
	put16(ip + 4, 10);		/* shorter than the TCP header */
	CHECK_RC(parse(frame, n, &p), TCPS_P_MALFORMED);
	ip[0] = 0x40;			/* version 4 behind ethertype IPv6 */
	CHECK_RC(parse(frame, n, &p), TCPS_P_MALFORMED);
}

TEST(test_tcp_doff_below_5_or_past_the_end)
{
	struct pkt_spec s = v4_syn();
	struct tcps_parsed p;
	size_t n = build(&s), th = l4_off(&s);
	int doff;

	for (doff = 0; doff < 5; doff++) {
		frame[th + 12] = (uint8_t)(doff << 4);
		CHECK_RC(parse(frame, n, &p), TCPS_P_MALFORMED);
	}
	/* doff 15 = 60 bytes, but the IP packet holds only 28 of TCP. */
	frame[th + 12] = 0xf0;
	CHECK_RC(parse(frame, n, &p), TCPS_P_MALFORMED);
	/* Within the IP length but past what is linear (tc): truncated. */
	frame[th + 12] = 0x70;		/* 28 bytes: exactly the header */
	CHECK_RC(parse_n(frame, th + 27, (uint32_t)n, &p), TCPS_P_TRUNCATED);
	CHECK_RC(parse_n(frame, th + 28, (uint32_t)n, &p), TCPS_P_TCP);

	/* IPv6, same rules. */
	s = v6_data();
	n = build(&s);
	th = l4_off(&s);
	frame[th + 12] = 0x40;
	CHECK_RC(parse(frame, n, &p), TCPS_P_MALFORMED);
	frame[th + 12] = 0xf0;
	CHECK_RC(parse(frame, n, &p), TCPS_P_TCP);	/* 1000 bytes of payload hold it */
	CHECK_EQ(p.seg.len, 1000 - 40);
	CHECK_RC(parse_n(frame, th + 59, (uint32_t)n, &p), TCPS_P_TRUNCATED);
}

int main(void)
{
	RUN(test_ipv4_syn_fields_and_window_scale);
	RUN(test_sack_permitted_is_read_on_a_syn_only);
	RUN(test_ipv4_data_segment_fields);
	RUN(test_ipv4_key_has_zero_upper_address_words);
	RUN(test_ipv4_options_are_skipped);
	RUN(test_window_scale_is_read_only_on_syn);
	RUN(test_window_scale_found_among_linux_syn_options);
	RUN(test_malformed_tcp_options_are_ignored);
	RUN(test_ipv6_with_0_to_8_extension_headers);
	RUN(test_ipv6_with_9_or_more_extension_headers_is_malformed);
	RUN(test_ipv6_every_extension_header_type_is_walked);
	RUN(test_ipv6_large_extension_headers_do_not_wrap_the_offset);
	RUN(test_ipv6_extension_header_past_payload_is_malformed);
	RUN(test_vlan_tags_0_1_2);
	RUN(test_three_vlan_tags_are_not_parsed);
	RUN(test_non_first_fragments_are_fragments);
	RUN(test_first_fragments_are_tcp);
	RUN(test_non_tcp_is_not_tcp);
	RUN(test_non_tcp_after_ipv6_extension_headers_is_not_tcp);
	RUN(test_zero_length_frame_is_truncated);
	RUN(test_truncation_at_every_length);
	RUN(test_ihl_below_5_is_malformed);
	RUN(test_ipv4_total_length);
	RUN(test_ipv6_payload_length);
	RUN(test_tcp_doff_below_5_or_past_the_end);
	return check_done();
}
