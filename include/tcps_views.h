/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * top's panes, aggregated where the rows are. One pass over both
 * connection tables fills the per-state counts, connections per local port
 * and per remote address, and three short ranked lists: the slowest
 * handshakes, the most retransmitting connections, and the active
 * connections with the highest average rate (candidates whose rate over
 * the last interval userspace then measures). Pure C, no helpers, no libc:
 * shared by the kernel walk (bpf/views.bpf.c, bpf_for_each_map_elem: no
 * entry is copied out) and its userspace fallback (user/views.c), so that
 * both rank alike.
 */
#ifndef TCPS_VIEWS_H
#define TCPS_VIEWS_H

#include "tcpscope.h"

#ifndef TCPS_VIEWS_TOP
#define TCPS_VIEWS_TOP 16		/* entries per ranked list */
#endif
#ifndef TCPS_VIEWS_REMOTES
#define TCPS_VIEWS_REMOTES (1U << 17)	/* remote-address slots (a power of two) */
#endif
#define TCPS_VIEWS_PROBES 16		/* linear probes before a remote goes uncounted */
#define TCPS_VIEWS_PORTS 65536
#define TCPS_VIEWS_V6 0x80000000U	/* tcps_views_remote.count: an IPv6 address */
/* Whether entries carry tcps_conn's counters and h. The BPF walk defines
 * it as its const volatile, so with health off (tables of
 * TCPS_CONN_SIZE_SLIM) the verifier drops the reads of them, which would
 * be out of bounds there;
 * userspace reads into a zeroed struct tcps_conn and needs no guard. */
#ifndef TCPS_VIEWS_HEALTH
#define TCPS_VIEWS_HEALTH() 1
#endif
/* Inlined: BPF calls take at most five arguments. */
#define TCPS_VIEWS_INLINE static inline __attribute__((always_inline))

enum tcps_views_list {
	TCPS_VL_HANDSHAKE,	/* score: handshake RTT µs (as list's handshake_rtt_us) */
	TCPS_VL_RETRANS,	/* score: retransmitted segments, both directions */
	TCPS_VL_RATE,		/* score: bytes/s over the connection's life, active ones */
	TCPS_VL_MAX,
};

/* What the pass counts (set before each pass). */
struct tcps_views_cfg {
	__u64 active_since;	/* rate candidates: last_seen at or after (CLOCK_MONOTONIC ns) */
	__u32 mode;		/* enum tcps_mode */
	__u32 states;		/* only entries whose first side is in these states (bits); 0 all */
	__u8 family;		/* with plen: only entries with either end in addr/plen; 0 all */
	__u8 plen;
	__u8 pad[6];
	__u8 addr[16];
};

struct tcps_views_ent {
	struct tcps_key key;
	__u64 score;
	__u64 bytes;		/* both directions: rates over an interval */
	__u32 a, b;		/* handshake: network, local half; retrans: out, in (first side) */
	__u32 first;		/* the first side (local, or orig in passive mode) */
	__u32 pad;
};

struct tcps_views_remote {
	__u32 addr[4];
	__u32 count;		/* connections, | TCPS_VIEWS_V6; 0: a free slot */
};

struct tcps_views {
	__u64 counts[TCPS_STATE_MAX];	/* matching entries per first-side state */
	__u64 entries, halfopen;	/* matching entries; of them in the half-open table */
	__u64 remote_lost;	/* matching entries whose remote found no free slot */
	__u64 min[TCPS_VL_MAX];	/* the smallest score held, once a list is full */
	__u32 n[TCPS_VL_MAX];
	__u32 pad;
	struct tcps_views_ent top[TCPS_VL_MAX][TCPS_VIEWS_TOP];
};

TCPS_VIEWS_INLINE int tcps_views_first(const struct tcps_conn *c, __u32 mode)
{
	return mode == TCPS_MODE_PASSIVE ? !!(c->fsm.flags & TCPS_C_ORIG1) :
					   !!(c->fsm.flags & TCPS_C_LOCAL1);
}

TCPS_VIEWS_INLINE int tcps_views_in_prefix(const struct tcps_views_cfg *f, const __u32 *a32)
{
	const __u8 *a = (const __u8 *)a32;
	__u32 bits = f->plen, i;

	for (i = 0; i < 16; i++) {
		__u8 mask;

		if (bits == 0)
			return 1;
		mask = bits >= 8 ? 0xff : (__u8)(0xff << (8 - bits));
		if ((a[i] ^ f->addr[i]) & mask)
			return 0;
		bits = bits >= 8 ? bits - 8 : 0;
	}
	return 1;
}

TCPS_VIEWS_INLINE int tcps_views_match(const struct tcps_views_cfg *f, const struct tcps_key *k,
				   __u8 state)
{
	if (f->states && (state >= 32 || !(f->states & (1U << state))))
		return 0;
	if (f->family && (k->family != f->family ||
			  (!tcps_views_in_prefix(f, k->addr[0]) && !tcps_views_in_prefix(f, k->addr[1]))))
		return 0;
	return 1;
}

/* Keep the TCPS_VIEWS_TOP highest scores (ties: the first seen stays). */
TCPS_VIEWS_INLINE void tcps_views_rank(struct tcps_views *v, int l, const struct tcps_key *k,
				   int first, __u64 score, __u64 bytes, __u32 a, __u32 b)
{
	struct tcps_views_ent *top = v->top[l], *e;
	__u32 n = v->n[l], i, m = 0;

	if (n >= TCPS_VIEWS_TOP) {
		if (score <= v->min[l])
			return;
		for (i = 1; i < TCPS_VIEWS_TOP; i++)
			if (top[i].score < top[m].score)
				m = i;
		e = &top[m];
	} else {
		e = &top[n];
		v->n[l] = ++n;
	}
	__builtin_memcpy(&e->key, k, sizeof(*k));
	e->score = score;
	e->bytes = bytes;
	e->a = a;
	e->b = b;
	e->first = (__u32)first;
	if (n >= TCPS_VIEWS_TOP) {
		__u64 min = top[0].score;

		for (i = 1; i < TCPS_VIEWS_TOP; i++)
			if (top[i].score < min)
				min = top[i].score;
		v->min[l] = min;
	}
}

TCPS_VIEWS_INLINE void tcps_views_remote_add(struct tcps_views *v, struct tcps_views_remote *rem,
					 const struct tcps_key *k, int side)
{
	const __u32 *a = side ? k->addr[1] : k->addr[0];
	__u32 fam = k->family == TCPS_AF_INET6 ? TCPS_VIEWS_V6 : 0, h, i;

	h = (a[0] * 0x9e3779b1U) ^ (a[1] * 0x85ebca77U) ^ (a[2] * 0xc2b2ae3dU) ^ (a[3] * 0x27d4eb2fU);
	h ^= h >> 15;
	for (i = 0; i < TCPS_VIEWS_PROBES; i++) {
		struct tcps_views_remote *r = &rem[(h + i) & (TCPS_VIEWS_REMOTES - 1)];

		if (!r->count) {
			r->addr[0] = a[0];
			r->addr[1] = a[1];
			r->addr[2] = a[2];
			r->addr[3] = a[3];
			r->count = fam | 1;
			return;
		}
		if ((r->count & TCPS_VIEWS_V6) == fam && r->addr[0] == a[0] && r->addr[1] == a[1] &&
		    r->addr[2] == a[2] && r->addr[3] == a[3]) {
			r->count++;
			return;
		}
	}
	v->remote_lost++;
}

/* One entry of a table (halfopen: of the half-open one). */
TCPS_VIEWS_INLINE void tcps_views_add(struct tcps_views *v, struct tcps_views_remote *rem, __u32 *ports,
				  const struct tcps_views_cfg *f, const struct tcps_key *k,
				  const struct tcps_conn *c, int halfopen)
{
	const struct tcps_health *h = &c->h;	/* only read when TCPS_VIEWS_HEALTH() */
	int first = tcps_views_first(c, f->mode), orig = !!(c->fsm.flags & TCPS_C_ORIG1);
	__u8 st = first ? c->fsm.ep[1].state : c->fsm.ep[0].state;
	__u16 port = first ? k->port[1] : k->port[0];
	/* Health off: the value ends before the counters. */
	__u64 bytes = TCPS_VIEWS_HEALTH() ? c->bytes[0] + c->bytes[1] : 0, score;

	if (!tcps_views_match(f, k, st))
		return;
	v->entries++;
	v->halfopen += !!halfopen;
	if (st < TCPS_STATE_MAX)
		v->counts[st]++;
	/* Groups count sockets, as netstat: a closed entry is not one. */
	if (st != TCPS_CLOSE) {
		ports[(__u16)(port << 8 | port >> 8)]++;
		tcps_views_remote_add(v, rem, k, !first);
	}
	if (TCPS_VIEWS_HEALTH() && (h->flags & TCPS_H_HS_DONE)) {
		/* As list's handshake_rtt_us: host mode the network half, passive both. */
		__u32 net = f->mode == TCPS_MODE_PASSIVE ? h->hs_us[0] + h->hs_us[1] :
							   orig == first ? h->hs_us[0] : h->hs_us[1];
		__u32 loc = orig == first ? h->hs_us[1] : h->hs_us[0];

		if (net)
			tcps_views_rank(v, TCPS_VL_HANDSHAKE, k, first, net, bytes, net, loc);
	}
	score = TCPS_VIEWS_HEALTH() ? (__u64)h->retrans[0] + h->retrans[1] : 0;
	if (score)
		tcps_views_rank(v, TCPS_VL_RETRANS, k, first, score, bytes,
				first ? h->retrans[1] : h->retrans[0], first ? h->retrans[0] : h->retrans[1]);
	if (bytes && c->last_seen >= f->active_since && c->last_seen > c->first_seen) {
		score = bytes * 1000000 / ((c->last_seen - c->first_seen) / 1000 + 1);
		tcps_views_rank(v, TCPS_VL_RATE, k, first, score, bytes, 0, 0);
	}
}

#endif /* TCPS_VIEWS_H */
