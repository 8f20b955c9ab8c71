/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Packet parser: Ethernet, up to two VLAN tags, IPv4, IPv6 with extension
 * headers, TCP. Cursor-based, every access bounds-checked against data_end,
 * every loop bounded by a constant. Pure C with no BPF helpers, so the
 * fuzzer and the unit tests compile it natively (tests/fuzz, tests/unit).
 */
#ifndef TCPS_PARSE_H
#define TCPS_PARSE_H

#include "tcp_fsm.h"
#include "tcps_key.h"

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#ifndef TCPS_MAX_VLAN
#define TCPS_MAX_VLAN 2
#endif
#ifndef TCPS_MAX_IPV6_EXT
#define TCPS_MAX_IPV6_EXT 8
#endif
#ifndef TCPS_MAX_TCP_OPTS
#define TCPS_MAX_TCP_OPTS 10
#endif

#define TCPS_ETH_P_IP 0x0800
#define TCPS_ETH_P_IPV6 0x86DD
#define TCPS_ETH_P_8021Q 0x8100
#define TCPS_ETH_P_8021AD 0x88A8
#define TCPS_IPPROTO_TCP 6
#define TCPS_IPPROTO_HOPOPTS 0
#define TCPS_IPPROTO_ROUTING 43
#define TCPS_IPPROTO_FRAGMENT 44
#define TCPS_IPPROTO_AH 51
#define TCPS_IPPROTO_DSTOPTS 60

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define tcps_ntohs(x) __builtin_bswap16(x)
#define tcps_ntohl(x) __builtin_bswap32(x)
#else
#define tcps_ntohs(x) (x)
#define tcps_ntohl(x) (x)
#endif

#define TCPS_OPT_BUF 64	/* >= 40 option bytes, power of two for masking */

enum tcps_parse_result {
	TCPS_P_TCP = 0,		/* a TCP segment: p is filled in */
	TCPS_P_NOT_TCP,		/* well-formed, but not TCP */
	TCPS_P_FRAGMENT,		/* a non-first fragment: carries no TCP header */
	TCPS_P_TRUNCATED,		/* headers run past data_end */
	TCPS_P_MALFORMED,		/* a header field is impossible (ihl < 5, doff < 5, ...) */
};

struct tcps_parsed {
	__u32 saddr[4];		/* network byte order; IPv4 in [0] */
	__u32 daddr[4];
	__u8 family;		/* enum tcps_family */
	__u8 opt_len;		/* TCP option bytes (doff * 4 - 20) */
	__u16 opt_off;		/* their offset from the frame start */
	struct tcps_seg seg;
	union {
		__u8 opts[TCPS_OPT_BUF];	/* a SYN's options, copied by the caller */
		/* The hot path's canonical key, made only when there are no
		 * options to walk (tcps_frame_hot): off the BPF stack, which
		 * has no 40 bytes to spare. */
		struct tcps_key key;
	};
};


/* Byte offsets of the header fields we read (no kernel struct needed, so
 * the same code builds against vmlinux.h and against libc headers). */
struct tcps_cursor {
	const __u8 *start;
	const __u8 *pos;
	const __u8 *end;
};

#define TCPS_NEED(c, n) ((c)->pos + (n) > (c)->end)

/* Big-endian reads of header fields at any alignment: one load and a
 * byte swap (BPF_END), where byte-wise assembly took 4 insns a u16 and 10
 * a u32. In BPF a plain load: clang splits a memcpy of unknown alignment
 * into bytes, and the verifier allows unaligned packet reads on CPUs that
 * do them at no cost (CONFIG_HAVE_EFFICIENT_UNALIGNED_ACCESS, x86 and
 * arm64; elsewhere it checks the alignment and would refuse the program).
 * Natively a memcpy, which compilers turn into the same load. */
#ifdef __bpf__
#define TCPS_RD(p, T) (*(const T *)(p))
#else
#define TCPS_RD(p, T) ({ T v_; __builtin_memcpy(&v_, (p), sizeof(v_)); v_; })
#endif

static __always_inline __u16 tcps_rd16(const __u8 *p)
{
	return tcps_ntohs(TCPS_RD(p, __u16));
}

static __always_inline __u32 tcps_rd32(const __u8 *p)
{
	return tcps_ntohl(TCPS_RD(p, __u32));
}

/* Ethernet and 0..TCPS_MAX_VLAN 802.1Q/802.1ad tags; returns the ethertype. */
static __always_inline int tcps_parse_eth(struct tcps_cursor *c, __u16 *proto)
{
	int i;

	if (TCPS_NEED(c, 14))
		return TCPS_P_TRUNCATED;
	*proto = tcps_rd16(c->pos + 12);
	c->pos += 14;
	for (i = 0; i < TCPS_MAX_VLAN; i++) {
		if (*proto != TCPS_ETH_P_8021Q && *proto != TCPS_ETH_P_8021AD)
			break;
		if (TCPS_NEED(c, 4))
			return TCPS_P_TRUNCATED;
		*proto = tcps_rd16(c->pos + 2);
		c->pos += 4;
	}
	return TCPS_P_TCP;
}

/* Bytes of the frame (wire_len in all) from the cursor on. */
static __always_inline __u32 tcps_wire_left(const struct tcps_cursor *c, __u32 wire_len)
{
	__u32 at = (__u32)(c->pos - c->start);

	return wire_len > at ? wire_len - at : 0;
}

/* IPv4: non-first fragments carry no TCP, whatever the protocol; a
 * packet of another protocol is counted as such without its header's
 * lengths checked (every frame that is not TCP pays only for this much:
 * pktcost's non_tcp); a TCP one's ihl >= 5 and within the packet. */
static __always_inline int tcps_parse_ipv4(struct tcps_cursor *c, __u32 *l4_len, __u32 wire_len)
{
	const __u8 *ip = c->pos;
	__u32 ihl, tot, left;

	if (TCPS_NEED(c, 20))
		return TCPS_P_TRUNCATED;
	if ((ip[0] >> 4) != 4)
		return TCPS_P_MALFORMED;
	if (tcps_rd16(ip + 6) & 0x1fff)
		return TCPS_P_FRAGMENT;
	if (ip[9] != TCPS_IPPROTO_TCP)
		return TCPS_P_NOT_TCP;
	ihl = (ip[0] & 0x0f) * 4;
	if (ihl < 20)
		return TCPS_P_MALFORMED;
	if (TCPS_NEED(c, ihl))
		return TCPS_P_TRUNCATED;
	left = tcps_wire_left(c, wire_len);
	tot = tcps_rd16(ip + 2);
	if (tot == 0)		/* TSO / BIG TCP: length is the skb's */
		tot = left;
	if (tot < ihl)
		return TCPS_P_MALFORMED;
	if (tot > left)
		return TCPS_P_TRUNCATED;
	*l4_len = tot - ihl;
	c->pos += ihl;
	return TCPS_P_TCP;
}

/* IPv6 and a bounded chain of hop-by-hop, routing, fragment, AH and
 * destination-options headers (RFC 8200 §4). The walk keeps a masked
 * scalar offset rather than a moving pointer so that the verifier sees the
 * same ranges on every iteration and prunes its states. */
/* 40 + 8 headers of at most 2 KiB (dest-opts (255 + 1) * 8) = 16424 bytes:
 * the mask must exceed that, or the offset wraps and a header inside the
 * chain is read as TCP. */
#define TCPS_EXT_OFF_MASK 0x7fff

static __always_inline int tcps_ipv6_ext(__u8 nh)
{
	return nh == TCPS_IPPROTO_HOPOPTS || nh == TCPS_IPPROTO_ROUTING ||
	       nh == TCPS_IPPROTO_DSTOPTS || nh == TCPS_IPPROTO_FRAGMENT || nh == TCPS_IPPROTO_AH;
}

static __always_inline int tcps_parse_ipv6(struct tcps_cursor *c, __u32 *l4_len, __u32 wire_len)
{
	const __u8 *ip = c->pos, *h;
	__u32 plen, hlen, off = 40, wire_left;
	__u8 nh;
	int i;

	if (TCPS_NEED(c, 40))
		return TCPS_P_TRUNCATED;
	if ((ip[0] >> 4) != 6)
		return TCPS_P_MALFORMED;
	wire_left = tcps_wire_left(c, wire_len);
	plen = tcps_rd16(ip + 4);
	if (plen == 0)		/* jumbogram / BIG TCP */
		plen = wire_left > 40 ? wire_left - 40 : 0;
	if (plen + 40 > wire_left)
		return TCPS_P_TRUNCATED;
	nh = ip[6];

	for (i = 0; i < TCPS_MAX_IPV6_EXT; i++) {
		if (nh == TCPS_IPPROTO_TCP)
			break;
		if (!tcps_ipv6_ext(nh))
			return TCPS_P_NOT_TCP;
		off &= TCPS_EXT_OFF_MASK;
		h = ip + off;
		if (h + 8 > c->end)
			return TCPS_P_TRUNCATED;
		if (nh == TCPS_IPPROTO_FRAGMENT) {
			if (tcps_rd16(h + 2) & 0xfff8)
				return TCPS_P_FRAGMENT;
			hlen = 8;
		} else if (nh == TCPS_IPPROTO_AH) {
			hlen = ((__u32)h[1] + 2) * 4;
		} else {
			hlen = ((__u32)h[1] + 1) * 8;
		}
		nh = h[0];
		off += hlen;
	}
	/* Still an extension header: a chain longer than the bound. Anything
	 * else after a full-length chain (UDP, ICMPv6...) is simply not TCP. */
	if (nh != TCPS_IPPROTO_TCP)
		return tcps_ipv6_ext(nh) ? TCPS_P_MALFORMED : TCPS_P_NOT_TCP;
	if (off > plen + 40)
		return TCPS_P_MALFORMED;	/* extension headers overrun the payload */
	off &= TCPS_EXT_OFF_MASK;
	if (ip + off > c->end)
		return TCPS_P_TRUNCATED;
	*l4_len = plen + 40 - off;
	c->pos = ip + off;
	return TCPS_P_TCP;
}

/* Hide a value's known range from clang so a mask it would drop as
 * redundant stays in place for the verifier. */
#ifdef __bpf__
#define tcps_opaque(v) asm volatile("" : "+r"(v))
#else
#define tcps_opaque(v) ((void)0)
#endif

static __always_inline __u8 tcps_opt_byte(const __u8 *buf, __u32 i)
{
	tcps_opaque(i);
	return buf[i & (TCPS_OPT_BUF - 1)];
}

static __always_inline void tcps_parse_tcp_opts(const __u8 *buf, __u32 len, struct tcps_seg *g)
{
	__u32 off = 0;
	int i;

	for (i = 0; i < TCPS_MAX_TCP_OPTS; i++) {
		__u8 kind, olen;

		if (off >= len || off >= 40)
			return;
		kind = tcps_opt_byte(buf, off);
		if (kind == 0)
			return;
		if (kind == 1) {
			off++;
			continue;
		}
		if (off + 1 >= len)
			return;
		olen = tcps_opt_byte(buf, off + 1);
		if (olen < 2)
			return;
		if (kind == 3 && olen == 3 && off + 2 < len && (g->flags & TCPS_SYN)) {
			g->wscale = tcps_opt_byte(buf, off + 2);
			g->has_wscale = 1;
		} else if (kind == 8 && olen == 10 && off + 10 <= len && !g->has_ts) {
			g->tsval = (__u32)tcps_opt_byte(buf, off + 2) << 24 |
				   (__u32)tcps_opt_byte(buf, off + 3) << 16 |
				   (__u32)tcps_opt_byte(buf, off + 4) << 8 | tcps_opt_byte(buf, off + 5);
			g->tsecr = (__u32)tcps_opt_byte(buf, off + 6) << 24 |
				   (__u32)tcps_opt_byte(buf, off + 7) << 16 |
				   (__u32)tcps_opt_byte(buf, off + 8) << 8 | tcps_opt_byte(buf, off + 9);
			g->has_ts = 1;
		} else if (kind == 4 && olen == 2 && (g->flags & TCPS_SYN)) {
			g->has_sackok = 1;
		}
		off += olen;
	}
}

static __always_inline int tcps_parse_tcp(struct tcps_cursor *c, struct tcps_parsed *p, __u32 l4_len)
{
	const __u8 *th = c->pos;
	struct tcps_seg *g = &p->seg;
	__u32 doff;

	if (TCPS_NEED(c, 20))
		return TCPS_P_TRUNCATED;
	doff = (th[12] >> 4) * 4;
	if (doff < 20 || doff > l4_len)
		return TCPS_P_MALFORMED;
	if (TCPS_NEED(c, doff))
		return TCPS_P_TRUNCATED;
	g->sport = tcps_rd16(th);
	g->dport = tcps_rd16(th + 2);
	g->seq = tcps_rd32(th + 4);
	g->ack = tcps_rd32(th + 8);
	g->flags = th[13];
	g->win = tcps_rd16(th + 14);
	g->len = l4_len - doff;
	g->wscale = 0;
	g->has_wscale = 0;
	g->has_sackok = 0;
	g->segs = 1;
	/* RFC 7323 Appendix A layout (NOP, NOP, TS), what Linux and the BSDs
	 * send on every segment: read in place, no copy, no loop. Any other
	 * layout is left to the option walk (tcps_frame_opts). */
	if (doff >= 32 && th + 32 <= c->end && TCPS_RD(th + 20, __u32) == tcps_ntohl(0x0101080au)) {
		g->tsval = tcps_rd32(th + 24);
		g->tsecr = tcps_rd32(th + 28);
		g->has_ts = 1;
	} else {
		g->tsval = 0;
		g->tsecr = 0;
		g->has_ts = 0;
	}
	p->opt_len = doff - 20;
	p->opt_off = (__u16)(th + 20 - c->start);
	return TCPS_P_TCP;
}

/* Where a frame's parse stands after its IP header(s), when they carry
 * TCP: the cursor at the TCP header and what tcps_parse_l4 needs. */
struct tcps_l3 {
	struct tcps_cursor c;
	const __u8 *ip;		/* the IP header */
	__u32 l4_len;
	__u8 family;		/* enum tcps_family */
};

/*
 * The first half of a frame's parse: Ethernet, VLANs, IP. TCPS_P_TCP when
 * the frame carries a TCP header for tcps_parse_l4, else its verdict.
 * Writes nothing but l: a frame that carries no TCP leaves the parse
 * untouched. wire_len is the frame's full length (it can exceed data_end -
 * data on tc, where only the linear part is directly readable).
 */
static __always_inline int tcps_parse_l3(const void *data, const void *data_end, __u32 wire_len,
					 struct tcps_l3 *l)
{
	__u16 proto = 0;
	int rc;

	l->c.start = (const __u8 *)data;
	l->c.pos = (const __u8 *)data;
	l->c.end = (const __u8 *)data_end;
	l->l4_len = 0;
	rc = tcps_parse_eth(&l->c, &proto);
	if (rc != TCPS_P_TCP)
		return rc;
	l->ip = l->c.pos;
	if (proto == TCPS_ETH_P_IP) {
		l->family = TCPS_AF_INET;
		return tcps_parse_ipv4(&l->c, &l->l4_len, wire_len);
	}
	if (proto == TCPS_ETH_P_IPV6) {
		l->family = TCPS_AF_INET6;
		return tcps_parse_ipv6(&l->c, &l->l4_len, wire_len);
	}
	return TCPS_P_NOT_TCP;
}

/* An IPv6 address from the frame, as four words in network byte order.
 * Word loads: a memcpy from the packet, whose alignment clang cannot
 * know, became 16 byte loads and 16 byte stores. */
static __always_inline void tcps_copy_addr6(__u32 *dst, const __u8 *src)
{
	dst[0] = TCPS_RD(src, __u32);
	dst[1] = TCPS_RD(src + 4, __u32);
	dst[2] = TCPS_RD(src + 8, __u32);
	dst[3] = TCPS_RD(src + 12, __u32);
}

/* The second half, after tcps_parse_l3 said TCPS_P_TCP: the addresses and
 * the TCP header into p. */
static __always_inline int tcps_parse_l4(struct tcps_l3 *l, struct tcps_parsed *p)
{
	if (l->family == TCPS_AF_INET) {
		/* The key holds 16 bytes per address: the rest must be zero. */
		__builtin_memset(p->saddr, 0, sizeof(p->saddr));
		__builtin_memset(p->daddr, 0, sizeof(p->daddr));
		p->saddr[0] = TCPS_RD(l->ip + 12, __u32);
		p->daddr[0] = TCPS_RD(l->ip + 16, __u32);
	} else {
		tcps_copy_addr6(p->saddr, l->ip + 8);
		tcps_copy_addr6(p->daddr, l->ip + 24);
	}
	p->family = l->family;
	return tcps_parse_tcp(&l->c, p, l->l4_len);
}

/* Parse one frame: both halves. */
static __always_inline int tcps_parse(const void *data, const void *data_end, __u32 wire_len,
				    struct tcps_parsed *p)
{
	struct tcps_l3 l;
	int rc = tcps_parse_l3(data, data_end, wire_len, &l);

	return rc != TCPS_P_TCP ? rc : tcps_parse_l4(&l, p);
}

/* Native callers (tests, fuzzer, replay) have the whole frame in memory:
 * copy a SYN's options (or any segment's whose timestamp the fast path did
 * not find) and read its window scale and timestamp. */
static inline void tcps_parse_syn_opts_flat(const void *data, struct tcps_parsed *p)
{
	__u32 i;

	if (!p->opt_len || p->opt_len > 40 || (!(p->seg.flags & TCPS_SYN) && p->seg.has_ts))
		return;
	for (i = 0; i < p->opt_len; i++)
		p->opts[i] = ((const __u8 *)data)[p->opt_off + i];
	tcps_parse_tcp_opts(p->opts, p->opt_len, &p->seg);
}

/* The canonical key of a parsed segment; returns the sender's side. */
static __always_inline int tcps_parsed_key(const struct tcps_parsed *p, struct tcps_key *k)
{
	return tcps_key_make(p->family, p->saddr, p->seg.sport, p->daddr, p->seg.dport, k);
}

#endif /* TCPS_PARSE_H */
