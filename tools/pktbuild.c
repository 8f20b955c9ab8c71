// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Packet builder: see pktbuild.h. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "pktbuild.h"

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static size_t tcp_header(const struct pkt_spec *s, uint8_t *t)
{
	size_t olen = 0;
	uint8_t *o = t + 20;

	if (s->mss) {
		o[olen++] = 2;
		o[olen++] = 4;
		put16(o + olen, (uint16_t)s->mss);
		olen += 2;
	}
	if (s->sackok) {
		o[olen++] = 1;
		o[olen++] = 1;
		o[olen++] = 4;
		o[olen++] = 2;
	}
	if (s->wscale >= 0) {
		o[olen++] = 1;		/* NOP, as Linux aligns it */
		o[olen++] = 3;
		o[olen++] = 3;
		o[olen++] = (uint8_t)s->wscale;
	}
	while (olen % 4)
		o[olen++] = 0;
	put16(t, s->sport);
	put16(t + 2, s->dport);
	put32(t + 4, s->seq);
	put32(t + 8, s->ack);
	t[12] = (uint8_t)(((20 + olen) / 4) << 4);
	t[13] = s->flags;
	put16(t + 14, s->win);
	put16(t + 16, 0);
	put16(t + 18, 0);
	return 20 + olen;
}

/* The addresses of s, in network order (4 or 16 bytes each); -1 if the
 * family is unknown or an address does not parse. */
static int parse_addrs(const struct pkt_spec *s, uint8_t src[16], uint8_t dst[16])
{
	int af;

	if (s->family == 4)
		af = AF_INET;
	else if (s->family == 6)
		af = AF_INET6;
	else
		return -1;
	if (inet_pton(af, s->src, src) != 1 || inet_pton(af, s->dst, dst) != 1)
		return -1;
	return 0;
}

/* Ethernet: locally administered MACs, then VLAN tags (802.1ad outer when
 * two). Returns the offset of the IP header. */
static size_t eth_header(const struct pkt_spec *s, uint8_t *buf)
{
	size_t off = 12;
	int i;

	memcpy(buf, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12);
	for (i = 0; i < s->vlans; i++) {
		put16(buf + off, (s->vlans == 2 && i == 0) ? 0x88a8 : 0x8100);
		put16(buf + off + 2, (uint16_t)(100 + i));
		off += 4;
	}
	put16(buf + off, s->family == 4 ? 0x0800 : 0x86dd);
	return off + 2;
}

static void ipv4_header(const struct pkt_spec *s, uint8_t *ip, size_t iphl, size_t l4len,
			const uint8_t *src, const uint8_t *dst)
{
	int i;

	ip[0] = (uint8_t)(0x40 | (iphl / 4));
	put16(ip + 2, (uint16_t)(iphl + l4len));
	put16(ip + 4, 1);
	put16(ip + 6, (uint16_t)(s->frag_offset & 0x1fff));
	ip[8] = 64;
	ip[9] = 6;
	memcpy(ip + 12, src, 4);
	memcpy(ip + 16, dst, 4);
	for (i = 0; i < s->ipv4_options; i++)
		ip[20 + i] = 1;	/* NOP options */
	put16(ip + 10, csum_fold(csum_add(0, ip, iphl)));
}

static void ipv6_header(const struct pkt_spec *s, uint8_t *ip, size_t ext, size_t l4len,
			const uint8_t *src, const uint8_t *dst)
{
	uint8_t *h = ip + 40, nh = 6;
	int i;

	ip[0] = 0x60;
	put16(ip + 4, (uint16_t)(ext + l4len));
	ip[7] = 64;
	memcpy(ip + 8, src, 16);
	memcpy(ip + 24, dst, 16);
	/* Chain: dest-opts x ipv6_ext, then a fragment header if asked. */
	ip[6] = s->ipv6_ext ? 60 : (s->frag_offset ? 44 : 6);
	for (i = 0; i < s->ipv6_ext; i++, h += 8) {
		h[0] = (i + 1 < s->ipv6_ext) ? 60 : (s->frag_offset ? 44 : 6);
		h[1] = 0;	/* (0 + 1) * 8 bytes, PadN filling */
		h[2] = 1;
		h[3] = 4;
	}
	if (s->frag_offset) {
		h[0] = nh;
		put16(h + 2, (uint16_t)(s->frag_offset << 3));
		put32(h + 4, 1);
	}
}

/* TCP checksum over the pseudo-header and the segment. */
static void tcp_checksum(int family, const uint8_t *src, const uint8_t *dst, uint8_t *l4,
			 size_t l4len)
{
	size_t alen = family == 4 ? 4 : 16;
	uint32_t sum = 0;

	sum = csum_add(sum, src, alen);
	sum = csum_add(sum, dst, alen);
	sum += 6 + (uint32_t)l4len;
	sum = csum_add(sum, l4, l4len);
	put16(l4 + 16, csum_fold(sum));
}

size_t pkt_build(const struct pkt_spec *s, uint8_t *buf, size_t cap)
{
	uint8_t src[16], dst[16], *ip, *l4;
	size_t iphl, l4len, ext, total;

	if (parse_addrs(s, src, dst))
		return 0;
	if (s->ipv4_options % 4 || s->ipv4_options > 40 || s->vlans > 2 || s->ipv6_ext > 16)
		return 0;
	iphl = s->family == 4 ? 20 + (size_t)s->ipv4_options : 40;
	ext = s->family == 6 ? (size_t)s->ipv6_ext * 8 + (s->frag_offset ? 8 : 0) : 0;
	total = 14 + 4 * (size_t)s->vlans + iphl + ext + 60 + s->payload_len;
	if (total > cap)
		return 0;
	memset(buf, 0, total);

	ip = buf + eth_header(s, buf);
	l4 = ip + iphl + ext;
	l4len = tcp_header(s, l4) + s->payload_len;
	if (s->family == 4)
		ipv4_header(s, ip, iphl, l4len, src, dst);
	else
		ipv6_header(s, ip, ext, l4len, src, dst);
	tcp_checksum(s->family, src, dst, l4, l4len);
	return (size_t)(l4 - buf) + l4len;
}

void pkt_nth_addr(int family, uint32_t n, char *buf, size_t cap)
{
	if (family == 6)
		snprintf(buf, cap, "2001:db8:ff::%x:%x", (n >> 16) & 0xffff, n & 0xffff);
	else
		snprintf(buf, cap, "198.19.%u.%u", (n >> 8) & 0xff, n & 0xff);
}
