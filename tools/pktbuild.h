/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Packet builder for tests, benchmarks and fuzz seeds: one call builds an
 * Ethernet frame (optional VLAN tags, IPv4 or IPv6 with optional extension
 * headers) carrying a TCP segment, with valid checksums.
 *
 *	struct pkt_spec s = PKT_V4("198.18.0.1", 40000, "198.18.0.2", 80);
 *	s.flags = TCPS_SYN; s.seq = 1000; s.wscale = 7;
 *	size_t n = pkt_build(&s, buf, sizeof(buf));
 */
#ifndef TCPS_PKTBUILD_H
#define TCPS_PKTBUILD_H

#include <stddef.h>
#include <stdint.h>

struct pkt_spec {
	int family;		/* 4 or 6 */
	const char *src, *dst;	/* textual addresses */
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;		/* TCPS_SYN | TCPS_ACK ... (include/tcpscope.h) */
	uint16_t win;
	int wscale;		/* -1: no window-scale option; else its value */
	int mss;		/* 0: no MSS option */
	int sackok;		/* nonzero: a SACK-permitted option (NOP, NOP, 4, 2) */
	uint32_t payload_len;	/* zero-filled payload bytes */
	int vlans;		/* 0..2 VLAN tags (802.1ad outer when 2) */
	int ipv6_ext;		/* number of IPv6 destination-options headers */
	int ipv4_options;	/* IPv4 option bytes (multiple of 4, <= 40) */
	int frag_offset;	/* nonzero: a non-first fragment (8-byte units) */
};

#define PKT_V4(s, sp, d, dp) \
	((struct pkt_spec){ .family = 4, .src = (s), .dst = (d), .sport = (sp), .dport = (dp), \
			    .win = 65535, .wscale = -1 })
#define PKT_V6(s, sp, d, dp) \
	((struct pkt_spec){ .family = 6, .src = (s), .dst = (d), .sport = (sp), .dport = (dp), \
			    .win = 65535, .wscale = -1 })

#define PKT_MAX 9216

/* Returns the frame length, or 0 if it does not fit in cap or an address
 * does not parse. */
size_t pkt_build(const struct pkt_spec *s, uint8_t *buf, size_t cap);

/* The n-th of the benchmarks' remote addresses, into buf: 198.19.0.0/16
 * (n's low 16 bits) or 2001:db8:ff::/64 (its low 32). */
void pkt_nth_addr(int family, uint32_t n, char *buf, size_t cap);

#endif /* TCPS_PKTBUILD_H */
