/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The canonical connection key, in one place for everything that must find
 * the same entry: the data path, socket seeding and replay. Pure C, no
 * helpers, no libc.
 */
#ifndef TCPS_KEY_H
#define TCPS_KEY_H

#include "tcpscope.h"

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define tcps_key_htons(x) __builtin_bswap16(x)
#else
#define tcps_key_htons(x) (x)
#endif

/*
 * Side 0 is the endpoint that sorts lower: its address as four __u32 words
 * (network-order bytes, compared as integers), then its host-order port.
 * Both directions of a connection so find one key. Addresses are 16 bytes,
 * IPv4 in word 0 and the rest zero (every caller's are so: the slot table
 * compares an IPv4 key on three words, the two word 0s and the ports,
 * include/tcps_slots.h). Every byte of *k is written (the pad too), so k
 * needs no clearing first. Returns the side of (saddr, sport).
 */
static inline int tcps_key_make(__u8 family, const __u32 *saddr, __u16 sport, const __u32 *daddr,
				__u16 dport, struct tcps_key *k)
{
	int s = 0, i;

	for (i = 0; i < 4; i++) {
		if (saddr[i] != daddr[i]) {
			s = saddr[i] > daddr[i];
			goto ordered;
		}
	}
	s = sport > dport;
ordered:
	/* Explicit branches: clang turns a computed k->port[s] into a pointer
	 * OR, which the verifier rejects on stack pointers. */
	if (s) {
		__builtin_memcpy(k->addr[1], saddr, 16);
		__builtin_memcpy(k->addr[0], daddr, 16);
		k->port[1] = tcps_key_htons(sport);
		k->port[0] = tcps_key_htons(dport);
	} else {
		__builtin_memcpy(k->addr[0], saddr, 16);
		__builtin_memcpy(k->addr[1], daddr, 16);
		k->port[0] = tcps_key_htons(sport);
		k->port[1] = tcps_key_htons(dport);
	}
	k->family = family;
	k->pad[0] = k->pad[1] = k->pad[2] = 0;
	return s;
}

#endif /* TCPS_KEY_H */
