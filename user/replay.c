// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tcpscope replay FILE: every packet of a pcap/pcapng capture, in order,
 * through the data path in passive mode, with the capture's timestamps as
 * its clock, so timeouts and TIME_WAIT follow capture time. The data path
 * is a backend (replay_backend.h): the very same XDP program with
 * BPF_PROG_TEST_RUN when it loads, else the same headers compiled in
 * (replay_native.c); nothing below depends on which. Prints the
 * transitions, the final table and the summary. Zeek's view is kept apart
 * (user/zeek.c): the same packets, parsed natively with bpf/parse.h, go to
 * Zeek's own connection records, which split a tuple where Zeek would
 * (reuse, timers). Each row of the output is one Zeek record, with the
 * tcpscope states of the entry its packets went to; the summary counts
 * tcpscope's entries.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <getopt.h>
/* libpcap's own struct bpf_insn would clash with linux/bpf.h's. */
#define PCAP_DONT_INCLUDE_PCAP_BPF_H
#include <pcap/pcap.h>
#include <pcap/dlt.h>
#include <stdlib.h>
#include <string.h>

#include "gc.h"
#include "keyidx.h"
#include "lazylib.h"
#include "evjson.h"
#include "output.h"
#include "parse.h"
#include "query.h"
#include "replay_backend.h"
#include "zeek.h"

int cmd_replay(int argc, char **argv);

/*
 * The expiry policy comes from user/gc.c when it is linked in; replay keeps
 * working on its own (TIME_WAIT only) when it is not. Replay walks its own
 * connection records rather than calling tcps_gc_sweep() because it must
 * keep the last value of every expired connection for the final report,
 * and the sweep deletes without handing the value back.
 */
#pragma weak tcps_timeouts_default
#pragma weak tcps_gc_timeout

static const char replay_usage[] =
	"Usage: tcpscope replay FILE [--json] [--time-wait S] [--max-conns N] [--bpf | --native]\n"
	"\n"
	"Feed every packet of a pcap or pcapng capture, in order, through the same\n"
	"data path the daemon runs (passive mode: orig/resp), with the capture's\n"
	"timestamps as its clock. Prints the transitions, the final table (one row\n"
	"per Zeek connection record, with its conn_state and history next to\n"
	"tcpscope's states) and the per-state summary of tcpscope's entries.\n"
	"Link types: Ethernet (VLAN, QinQ), Linux cooked (SLL, SLL2), raw IPv4/IPv6,\n"
	"BSD loopback. Attaches nothing, pins nothing.\n"
	"\n"
	"With CAP_BPF (or root) the packets go through the BPF program itself\n"
	"(BPF_PROG_TEST_RUN); without, through the same parser and state machine\n"
	"compiled into tcpscope (the native path), with byte-identical output.\n"
	"\n"
	"Options:\n"
	"  -j, --json         one JSON document: {\"events\": [...], \"connections\":\n"
	"                     [...], \"stat\": {...}}\n"
	"      --time-wait S  TIME_WAIT lifetime in capture time (default 60)\n"
	"      --max-conns N  the tables of a daemon run with --max-conns N (default\n"
	"                     262144, half-open N/16): the inserts a full one refuses\n"
	"      --bpf          the kernel path only (fails, exit 3, without CAP_BPF)\n"
	"      --native       the native path, even when privileged\n"
	"  -h, --help         this help\n"
	"\n"
	"Examples:\n"
	"  tcpscope replay trace.pcap\n"
	"  tcpscope replay --native trace.pcap   # the native path even as root\n"
	"  tcpscope replay trace.pcapng --json | jq '.connections[] | {orig_addr, conn_state, history}'\n";

/* Largest frame BPF_PROG_TEST_RUN takes for a non-frags XDP program: a page
 * less XDP headroom and skb_shared_info. Bigger TCP segments (captured
 * before GSO/after GRO) are cut into MSS-like pieces, as a NIC's TSO would
 * put them on the wire, so sequence tracking and byte counts stay exact.
 * The native backend gets the same pieces, so both count the same packets. */
#define REPLAY_MAX_FRAME TCPS_REPLAY_BYTES
#define REPLAY_BUF (65536 + 256)
#define SWEEP_NS 1000000000ULL
#define REPLAY_DRAIN_EVERY 1024

struct rec {
	struct tcps_key key;
	struct tcps_conn val;	/* last value read from the map */
	bool have_val;		/* val holds something */
	bool gone;		/* no longer in the map (expired or superseded) */
	bool halfopen;
	bool live;		/* on the live list */
	__u64 pkts[2], bytes[2], first, last;	/* own count, for untracked ones */
	int orig_side;		/* first sender, for untracked ones */
};

/* What a Zeek record shows of tcpscope: the entry its packets went to, and
 * that entry's value when a later Zeek record of the tuple took over. */
struct zlink {
	__u32 rec;		/* index in recs */
	bool have_snap, snap_halfopen;
	struct tcps_conn snap;
};

struct replay {
	const struct tcps_replay_backend *be;	/* the data path: bpf or native */
	void *bk;				/* its instance */
	struct tcps_timeouts to;
	__u32 min_timeout_s;
	bool have_gc;

	struct rec *recs;
	size_t nrecs, caprecs;
	struct tcps_keyidx idx;	/* key -> newest rec */
	__u32 *live;		/* indexes of recs that may still be in the map */
	size_t nlive, caplive;

	struct tcps_event *evs;
	size_t nevs, capevs;

	struct tcps_zeek_table zt;	/* Zeek's records, apart from the above */
	struct zlink *zl;	/* one per Zeek record */
	size_t capzl;

	__u64 now, last_sweep;
	__u64 packets, frames_split, skipped;
	size_t frame_have;	/* bytes of frame that the capture holds */
	__u8 frame[REPLAY_BUF], seg[REPLAY_MAX_FRAME];
};

/* ---- connection records ---------------------------------------------- */

/* The index over recs, told where they are now (they move as they grow). */
static struct tcps_keyidx *recs_idx(struct replay *r)
{
	r->idx.recs = r->recs;
	r->idx.stride = sizeof(*r->recs);
	r->idx.key_off = offsetof(struct rec, key);
	return &r->idx;
}

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap ? *cap : 1024;
	void *q;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	q = realloc(*p, n * size);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

static struct rec *rec_new(struct replay *r, const struct tcps_key *k)
{
	struct rec *c;
	__u32 *slot;

	if (tcps_keyidx_reserve(recs_idx(r), r->nrecs) ||
	    grow((void **)&r->recs, &r->caprecs, r->nrecs + 1, sizeof(*r->recs)) ||
	    grow((void **)&r->live, &r->caplive, r->nlive + 1, sizeof(*r->live)))
		return NULL;
	c = &r->recs[r->nrecs];
	memset(c, 0, sizeof(*c));
	c->key = *k;
	c->live = true;
	slot = tcps_keyidx_slot(recs_idx(r), k);
	*slot = (__u32)(r->nrecs + 1);
	r->live[r->nlive++] = (__u32)r->nrecs;
	r->nrecs++;
	return c;
}

/* The map's value for c (read under the entry's lock); false if absent. */
static bool rec_fetch(struct replay *r, struct rec *c)
{
	struct tcps_conn v;
	bool halfopen;

	if (r->be->lookup(r->bk, &c->key, &v, &halfopen))
		return false;
	c->halfopen = halfopen;
	c->val = v;
	c->have_val = true;
	return true;
}

/* ---- events -------------------------------------------------------- */

static int push_event(struct replay *r, const struct tcps_event *e)
{
	if (grow((void **)&r->evs, &r->capevs, r->nevs + 1, sizeof(*r->evs)))
		return -ENOMEM;
	r->evs[r->nevs] = *e;
	r->evs[r->nevs].ifindex = 0;	/* test runs borrow lo's rx queue */
	r->nevs++;
	return 0;
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct tcps_event e;

	if (size < sizeof(e))
		return 0;
	memcpy(&e, data, sizeof(e));
	return push_event(ctx, &e);
}

/* ---- expiry in capture time ----------------------------------------- */

/* Without user/gc.c: TIME_WAIT only, after --time-wait. */
static __u32 own_timeout(const struct tcps_conn *c, const struct tcps_timeouts *t)
{
	if (c->fsm.ep[0].state == TCPS_TIME_WAIT || c->fsm.ep[1].state == TCPS_TIME_WAIT)
		return t->state_s[TCPS_TIME_WAIT];
	return 0;
}

static void expire(struct replay *r, struct rec *c)
{
	int side;

	for (side = 0; side < 2; side++) {
		struct tcps_event e = { .key = c->key, .ts = r->now, .side = (__u8)side,
					.reason = TCPS_REASON_TIMEOUT,
					.conn_flags = c->val.fsm.flags };

		if (c->val.fsm.ep[side].state == TCPS_CLOSE)
			continue;
		e.from = c->val.fsm.ep[side].state;
		e.to = TCPS_CLOSE;
		if (c->val.h.trans_ns[side] && r->now > c->val.h.trans_ns[side])
			e.prev_state_ns = r->now - c->val.h.trans_ns[side];
		c->val.fsm.ep[side].state = TCPS_CLOSE;
		push_event(r, &e);
	}
	r->be->remove(r->bk, &c->key, c->halfopen);
	c->gone = true;
}

/* One pass over the connections that may still be in the map and have
 * been idle long enough to expire under some timeout. */
static void sweep(struct replay *r)
{
	size_t i, n = 0;

	for (i = 0; i < r->nlive; i++) {
		struct rec *c = &r->recs[r->live[i]];
		__u32 t;

		if (c->gone) {
			c->live = false;
			continue;
		}
		if (r->now - c->last < (__u64)r->min_timeout_s * 1000000000ULL) {
			r->live[n++] = r->live[i];
			continue;
		}
		if (!rec_fetch(r, c)) {
			c->live = false;	/* never tracked (a stray RST...) */
			continue;
		}
		t = r->have_gc ? tcps_gc_timeout(&c->val, &r->to) : own_timeout(&c->val, &r->to);
		if (t && r->now - c->val.last_seen >= (__u64)t * 1000000000ULL) {
			expire(r, c);
			c->live = false;
			continue;
		}
		r->live[n++] = r->live[i];
	}
	r->nlive = n;
}

/* ---- frames ---------------------------------------------------------- */

/* An Ethernet frame as it is, cut to REPLAY_BUF; zeros for what the
 * snaplen cut (len: its length on the wire). Returns the frame length,
 * 0 to skip. */
static size_t copy_ethernet(struct replay *r, const __u8 *pkt, __u32 caplen, __u32 len)
{
	__u32 have;

	if (caplen < 14)
		return 0;
	have = caplen < REPLAY_BUF ? caplen : REPLAY_BUF;
	memcpy(r->frame, pkt, have);
	r->frame_have = have;
	len = len < REPLAY_BUF ? len : REPLAY_BUF;
	if (len > have)
		memset(r->frame + have, 0, len - have);	/* cut by snaplen */
	return len > have ? len : have;
}

/* The link header of dlt (not Ethernet) in front of pkt: its length *hdr
 * and the EtherType *proto of what follows; -1 if the packet is too short
 * for it or dlt is unknown. */
static int link_header(int dlt, const __u8 *pkt, __u32 caplen, __u32 *hdr, __u16 *proto)
{
	switch (dlt) {
	case DLT_LINUX_SLL:
		if (caplen < 16)
			return -1;
		*proto = (__u16)(pkt[14] << 8 | pkt[15]);
		*hdr = 16;
		return 0;
	case DLT_LINUX_SLL2:
		if (caplen < 20)
			return -1;
		*proto = (__u16)(pkt[0] << 8 | pkt[1]);
		*hdr = 20;
		return 0;
	case DLT_NULL:
	case DLT_LOOP:
		/* The AF value differs by OS; the IP version nibble does not. */
		*hdr = 4;
		__attribute__((fallthrough));
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
		if (caplen <= *hdr)
			return -1;
		*proto = (pkt[*hdr] >> 4) == 6 ? TCPS_ETH_P_IPV6 : TCPS_ETH_P_IP;
		return 0;
	default:
		return -1;
	}
}

/* An Ethernet header of type proto in front of the have bytes of l3 that
 * the capture holds, zeros up to l3len (its length on the wire), all cut
 * to REPLAY_BUF. Returns the frame length. */
static size_t add_ethernet(struct replay *r, __u16 proto, const __u8 *l3, __u32 have, __u32 l3len)
{
	static const __u8 macs[12] = { 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1 };
	__u8 *f = r->frame;

	memcpy(f, macs, 12);
	f[12] = (__u8)(proto >> 8);
	f[13] = (__u8)proto;
	if (have > REPLAY_BUF - 14)
		have = REPLAY_BUF - 14;
	if (l3len > REPLAY_BUF - 14)
		l3len = REPLAY_BUF - 14;
	memcpy(f + 14, l3, have);
	r->frame_have = 14 + have;
	if (l3len > have)
		memset(f + 14 + have, 0, l3len - have);
	return 14 + (l3len > have ? l3len : have);
}

/* Put an Ethernet header in front of L3 so that every link type goes
 * through the same parser. Returns the frame length, 0 to skip. */
static size_t to_ethernet(struct replay *r, int dlt, const __u8 *pkt, __u32 caplen, __u32 len)
{
	__u32 hdr = 0;
	__u16 proto = 0;

	if (dlt == DLT_EN10MB)
		return copy_ethernet(r, pkt, caplen, len);
	if (link_header(dlt, pkt, caplen, &hdr, &proto) || caplen <= hdr)
		return 0;
	return add_ethernet(r, proto, pkt + hdr, caplen - hdr, len > hdr ? len - hdr : caplen - hdr);
}

static void test_run(struct replay *r, const void *data, size_t n)
{
	if (r->be->feed(r->bk, data, n))
		r->skipped++;
}

static void put16(__u8 *p, __u32 v)
{
	p[0] = (__u8)(v >> 8);
	p[1] = (__u8)v;
}

/* A TCP frame too big for a test run: cut its payload into pieces. */
static void run_split(struct replay *r, size_t n, const struct tcps_parsed *p)
{
	__u32 tcp_off = p->opt_off - 20u, hdr = p->opt_off + p->opt_len, l3 = 14, off;
	__u32 chunk = REPLAY_MAX_FRAME - hdr, seq0 = p->seg.seq + !!(p->seg.flags & TCPS_SYN);
	__u16 proto = (__u16)(r->frame[12] << 8 | r->frame[13]);
	int i;

	for (i = 0; i < TCPS_MAX_VLAN && (proto == TCPS_ETH_P_8021Q || proto == TCPS_ETH_P_8021AD); i++) {
		proto = (__u16)(r->frame[l3 + 2] << 8 | r->frame[l3 + 3]);
		l3 += 4;
	}
	if (hdr >= REPLAY_MAX_FRAME || hdr + p->seg.len > n) {
		test_run(r, r->frame, REPLAY_MAX_FRAME);	/* counted as truncated */
		return;
	}
	r->frames_split++;
	for (off = 0; off < p->seg.len; off += chunk) {
		__u32 len = p->seg.len - off < chunk ? p->seg.len - off : chunk;
		__u8 fl = p->seg.flags;
		__u32 seq = off ? seq0 + off : p->seg.seq;

		memcpy(r->seg, r->frame, hdr);
		memcpy(r->seg + hdr, r->frame + hdr + off, len);
		if (proto == TCPS_ETH_P_IP)
			put16(r->seg + l3 + 2, hdr - l3 + len);
		else
			put16(r->seg + l3 + 4, hdr - l3 - 40 + len);
		r->seg[tcp_off + 4] = (__u8)(seq >> 24);
		r->seg[tcp_off + 5] = (__u8)(seq >> 16);
		r->seg[tcp_off + 6] = (__u8)(seq >> 8);
		r->seg[tcp_off + 7] = (__u8)seq;
		if (off)
			fl &= (__u8)~TCPS_SYN;
		if (off + len < p->seg.len)
			fl &= (__u8)~(TCPS_FIN | TCPS_PSH);
		r->seg[tcp_off + 13] = fl;
		test_run(r, r->seg, hdr + len);
	}
}

/* The packet goes to Zeek's record zi, on BPF record ci. A Zeek record
 * that takes over from an earlier one on the same tcpscope entry keeps that
 * entry's value as it was before this packet, for the earlier one's row. */
static int zeek_link(struct replay *r, size_t zi, __u32 ci)
{
	const struct tcps_zeek_rec *z = &r->zt.recs[zi];
	struct zlink *l;

	if (grow((void **)&r->zl, &r->capzl, zi + 1, sizeof(*r->zl)))
		return -ENOMEM;
	l = &r->zl[zi];
	if (z->pkts[0] + z->pkts[1] == 1) {
		memset(l, 0, sizeof(*l));
		if (z->prev) {
			struct zlink *pl = &r->zl[z->prev - 1];
			struct rec *c = &r->recs[ci];

			if (pl->rec == ci && !c->gone && rec_fetch(r, c)) {
				pl->snap = c->val;
				pl->snap_halfopen = c->halfopen;
				pl->have_snap = true;
			}
		}
	}
	l->rec = ci;
	return 0;
}

static int replay_packet(struct replay *r, size_t n)
{
	struct tcps_parsed p;
	struct tcps_key k;
	struct rec *c = NULL;
	__u32 *slot;
	size_t zi;
	int rc, s = 0;

	memset(&p, 0, sizeof(p));
	rc = tcps_parse(r->frame, r->frame + n, (__u32)n, &p);
	if (rc == TCPS_P_TCP) {
		tcps_parse_syn_opts_flat(r->frame, &p);
		s = tcps_parsed_key(&p, &k);
		slot = tcps_keyidx_slot(recs_idx(r), &k);
		if (*slot)
			c = &r->recs[*slot - 1];
		if (!c || c->gone) {
			c = rec_new(r, &k);
			if (!c)
				return -ENOMEM;
			c->first = r->now;
			c->orig_side = s;
		}
		c->last = r->now;
		c->pkts[s]++;
		c->bytes[s] += p.seg.len;
		/* Zeek's side: its own records; a payload cut by the snaplen
		 * never reaches its reassembler. */
		if (tcps_zeek_table_packet(&r->zt, &k, s, &p.seg, r->now,
					   (size_t)p.opt_off + p.opt_len + p.seg.len <= r->frame_have, &zi) ||
		    zeek_link(r, zi, (__u32)(c - r->recs)))
			return -ENOMEM;
	}
	if (n <= REPLAY_MAX_FRAME)
		test_run(r, r->frame, n);
	else if (rc == TCPS_P_TCP)
		run_split(r, n, &p);
	else
		test_run(r, r->frame, REPLAY_MAX_FRAME);
	return 0;
}

/* Take the events of every frame fed so far (the kernel backend runs its
 * queued batch first): before the sweep adds its own, and often enough
 * that the ring buffer never fills (REPLAY_DRAIN_EVERY frames put at most
 * a few thousand events in its 52k records). */
static int drain(struct replay *r)
{
	int err = r->be->drain(r->bk);

	if (err)
		pr_err("replay: %s", strerror(-err));
	return err;
}

/* ---- output ----------------------------------------------------------- */

struct out_row {
	struct tcps_row row;
	const struct tcps_zeek *z;	/* NULL: a tcpscope entry (summary only) */
	bool tracked;
};

/* A tcpscope entry as a row. One that never made an entry in the map
 * (e.g. a lone RST) shows what its packets were, with no endpoint state. */
static void bpf_row(const struct rec *c, struct out_row *w)
{
	w->row.key = c->key;
	w->tracked = c->have_val;
	if (c->have_val) {
		w->row.val = c->val;
		w->row.halfopen = c->halfopen && !c->gone;
	} else {
		struct tcps_conn *v = &w->row.val;

		v->fsm.ep[0].state = v->fsm.ep[1].state = TCPS_CLOSE;
		v->fsm.flags = c->orig_side ? TCPS_C_ORIG1 : 0;
		v->first_seen = c->first;
		v->last_seen = c->last;
		v->last_tick = tcps_tick(c->last);
		memcpy(v->pkts, c->pkts, sizeof(v->pkts));
		memcpy(v->bytes, c->bytes, sizeof(v->bytes));
	}
	w->row.val.ifindex = 0;
}

/* tcpscope's entries, with their final values, for the summary. */
static struct out_row *bpf_rows(struct replay *r)
{
	struct out_row *o = calloc(r->nrecs ? r->nrecs : 1, sizeof(*o));
	size_t i;

	if (!o)
		return NULL;
	for (i = 0; i < r->nrecs; i++) {
		struct rec *c = &r->recs[i];

		if (!c->gone && !rec_fetch(r, c))
			c->have_val = false;
		bpf_row(c, &o[i]);
	}
	return o;
}

/* One row per Zeek record, in capture order: its own times and counts,
 * and the states of the tcpscope entry its packets went to (as that entry
 * was when a later record of the tuple took over, else as it ended).
 * bpf_rows() must have refreshed the entries first. */
static struct out_row *zeek_rows(struct replay *r)
{
	struct out_row *o = calloc(r->zt.n ? r->zt.n : 1, sizeof(*o));
	size_t i;

	if (!o)
		return NULL;
	for (i = 0; i < r->zt.n; i++) {
		const struct tcps_zeek_rec *z = &r->zt.recs[i];
		const struct zlink *l = &r->zl[i];
		struct out_row *w = &o[i];
		struct tcps_conn *v = &w->row.val;

		bpf_row(&r->recs[l->rec], w);
		if (l->have_snap) {
			*v = l->snap;
			v->ifindex = 0;
			w->row.halfopen = l->snap_halfopen;
			w->tracked = true;
		}
		if (!w->tracked)
			v->fsm.flags = z->z.orig_side ? TCPS_C_ORIG1 : 0;
		v->first_seen = z->first;
		v->last_seen = z->last;
		v->last_tick = tcps_tick(z->last);
		memcpy(v->pkts, z->pkts, sizeof(v->pkts));
		memcpy(v->bytes, z->bytes, sizeof(v->bytes));
		w->z = &z->z;
	}
	return o;
}

static json_object *row_json(const struct out_row *w)
{
	json_object *o = tcps_conn_json(&w->row, TCPS_MODE_PASSIVE);
	int orig = tcps_first_side(&w->row.val, TCPS_MODE_PASSIVE);

	json_object_object_add(o, "conn_state", json_object_new_string(tcps_zeek_conn_state(w->z)));
	json_object_object_add(o, "history", json_object_new_string(w->z->history));
	/* Zeek's originator is ours except where its port heuristic for
	 * connections picked up without a SYN decides otherwise. */
	json_object_object_add(o, "zeek_flipped", json_object_new_boolean(w->z->orig_side != orig));
	json_object_object_add(o, "tracked", json_object_new_boolean(w->tracked));
	return o;
}

/* The list table (same printer), with Zeek's verdict as two more columns. */
static void print_table_text(const struct out_row *rows, size_t n, __u64 now)
{
	static const char *const names[] = { "ConnState", "History" };
	struct tcps_table t;
	size_t i;

	tcps_table_init(&t, TCPS_MODE_PASSIVE, now, 2, names);
	for (i = 0; i < n; i++) {
		const char *x[] = { tcps_zeek_conn_state(rows[i].z), rows[i].z->history };

		tcps_table_measure(&t, &rows[i].row, x);
	}
	tcps_table_header(stdout, &t);
	for (i = 0; i < n; i++) {
		const char *x[] = { tcps_zeek_conn_state(rows[i].z), rows[i].z->history };

		tcps_table_row(stdout, &t, &rows[i].row, x);
	}
}

/* The summary counts tcpscope's entries (rows); conn_states Zeek's records. */
static json_object *stat_json(struct replay *r, const struct out_row *rows, size_t n,
			      const struct out_row *zrows, size_t nz)
{
	struct tcps_snapshot s = { .mode = TCPS_MODE_PASSIVE, .n = n };
	json_object *o, *zs = json_object_new_object();
	struct tcps_row *tr = calloc(n ? n : 1, sizeof(*tr));
	size_t i;

	for (i = 0; tr && i < n; i++)
		tr[i] = rows[i].row;
	s.rows = tr;
	tcps_snapshot_count(&s);
	r->be->counters(r->bk, s.counters);
	o = tcps_stat_json(&s, false, false, true);
	for (i = 0; i < nz; i++) {
		const char *cs = tcps_zeek_conn_state(zrows[i].z);
		json_object *v;

		if (json_object_object_get_ex(zs, cs, &v))
			json_object_set_int64(v, json_object_get_int64(v) + 1);
		else
			json_object_object_add(zs, cs, json_object_new_int64(1));
	}
	json_object_object_add(o, "conn_states", zs);
	json_object_object_add(o, "replay_packets", json_object_new_int64((int64_t)r->packets));
	free(tr);
	return o;
}

/* stat's summary and counters (same printer), then Zeek's conn_states
 * in the same "# name value" form. */
static void print_stat_text(json_object *st)
{
	struct tcps_snapshot s = { .mode = TCPS_MODE_PASSIVE };
	json_object *o, *v;
	unsigned int i;

	if (json_object_object_get_ex(st, "states", &o))
		for (i = 1; i < TCPS_STATE_MAX; i++)
			if (json_object_object_get_ex(o, tcps_state_name(i), &v))
				s.counts[i] = (__u64)json_object_get_int64(v);
	if (json_object_object_get_ex(st, "counters", &o))
		for (i = 0; i < TCPS_CNT_MAX; i++)
			if (json_object_object_get_ex(o, tcps_counter_name(i), &v))
				s.counters[i] = (__u64)json_object_get_int64(v);
	tcps_stat_text(stdout, s.counts, NULL, 0, s.counters);
	if (json_object_object_get_ex(st, "conn_states", &o)) {
		json_object_object_foreach(o, name, cnt)
			printf("# conn_state_%s %lld\n", name, (long long)json_object_get_int64(cnt));
	}
}

static int print_all(struct replay *r, bool json)
{
	struct out_row *brows = bpf_rows(r), *rows = brows ? zeek_rows(r) : NULL;
	json_object *st;
	size_t i;

	if (!rows) {
		free(brows);
		return -ENOMEM;
	}
	st = stat_json(r, brows, r->nrecs, rows, r->zt.n);
	if (json) {
		/* Streamed, one object at a time (list does the same). */
		fputs("{\"events\":[", stdout);
		for (i = 0; i < r->nevs; i++) {
			size_t n;
			const char *line = tcps_event_json_line(&r->evs[i], TCPS_MODE_PASSIVE, &n);

			if (!line)
				return -ENOMEM;
			fputs(i ? "," : "", stdout);
			fwrite(line, 1, n, stdout);
		}
		fputs("],\"connections\":[", stdout);
		for (i = 0; i < r->zt.n; i++) {
			json_object *o = row_json(&rows[i]);

			fputs(i ? "," : "", stdout);
			fputs(json_object_to_json_string_ext(o, TCPS_JSON_FLAGS), stdout);
			json_object_put(o);
		}
		printf("],\"stat\":%s}\n", json_object_to_json_string_ext(st, TCPS_JSON_FLAGS));
	} else {
		for (i = 0; i < r->nevs; i++)
			tcps_event_text(stdout, &r->evs[i], TCPS_MODE_PASSIVE);
		putchar('\n');
		print_table_text(rows, r->zt.n, r->now);
		putchar('\n');
		print_stat_text(st);
	}
	json_object_put(st);
	free(rows);
	free(brows);
	return fflush(stdout) ? -errno : 0;
}

/* ---- setup ------------------------------------------------------------ */

enum replay_path {
	PATH_AUTO = 0,		/* bpf when it loads, else native */
	PATH_BPF,		/* --bpf */
	PATH_NATIVE,		/* --native */
};

/* The kernel's data path when it loads (privileged), else the native
 * build of the same code: the output is the same either way. */
static int load(struct replay *r, enum replay_path want, __u32 max_conns)
{
	int err;

	if (want != PATH_NATIVE) {
		err = tcps_replay_bpf.open(&r->bk, max_conns, on_event, r);
		if (!err) {
			r->be = &tcps_replay_bpf;
			return 0;
		}
		if (want == PATH_BPF) {
			if (err == -EPERM || err == -EACCES) {
				pr_err("replay --bpf needs CAP_BPF (or root): loading the BPF program was refused (%s)",
				       strerror(-err));
				return TCPS_EXIT_PERM;
			}
			pr_err("cannot load the BPF program: %s", strerror(-err));
			return TCPS_EXIT_FAIL;
		}
		if (err == -EPERM || err == -EACCES)
			pr_debug("no CAP_BPF (%s): replaying with the native data path", strerror(-err));
		else
			pr_warn("cannot load the BPF program (%s): replaying with the native data path",
				strerror(-err));
	}
	err = tcps_replay_native.open(&r->bk, max_conns, on_event, r);
	if (err) {
		pr_err("native data path: %s", strerror(-err));
		return TCPS_EXIT_FAIL;
	}
	r->be = &tcps_replay_native;
	return 0;
}

static void replay_free(struct replay *r)
{
	if (r->be)
		r->be->close(r->bk);
	free(r->recs);
	tcps_keyidx_free(&r->idx);
	free(r->live);
	free(r->evs);
	tcps_zeek_table_free(&r->zt);
	free(r->zl);
	free(r);
}

/* What the command line asks for. */
struct replay_opts {
	const char *file;
	enum replay_path path;
	unsigned long long tw;	/* --time-wait, seconds */
	unsigned long long max_conns;	/* --max-conns */
	bool json;
};

/* The options into o; -1 to go on, else the exit code (usage error, --help). */
static int replay_parse_args(int argc, char **argv, struct replay_opts *o)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "time-wait", required_argument, NULL, 'T' },
		{ "max-conns", required_argument, NULL, 'M' },
		{ "bpf", no_argument, NULL, 'B' },
		{ "native", no_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	int c;

	optind = 1;
	opterr = 0;	/* one line of our own instead of getopt's */
	while ((c = getopt_long(argc, argv, "jh", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(replay_usage, stdout);
			return TCPS_EXIT_OK;
		case 'j':
			o->json = true;
			tcps_json_errors = true;
			break;
		case 'B':
		case 'N':
			if (o->path != PATH_AUTO && o->path != (c == 'B' ? PATH_BPF : PATH_NATIVE))
				return usage_err("replay", "--bpf and --native exclude each other");
			o->path = c == 'B' ? PATH_BPF : PATH_NATIVE;
			break;
		case 'T':
			if (parse_u64(optarg, 1, 86400, &o->tw))
				return usage_err("replay", "--time-wait takes 1-86400 seconds, not '%s'",
						 optarg);
			break;
		case 'M':
			/* run's bounds (runopts.c) */
			if (parse_u64(optarg, 16, 1U << 26, &o->max_conns))
				return usage_err("replay", "--max-conns takes a number from 16 to %u, not '%s'",
						 1U << 26, optarg);
			break;
		default:
			return usage_bad_option("replay", argv, "jh");
		}
	}
	if (optind + 1 != argc)
		return usage_err("replay", optind < argc ? "one capture file only" : "which capture file?");
	o->file = argv[optind];
	return -1;
}

/* The capture, with nanosecond timestamps, if its link type is one
 * to_ethernet() knows; NULL (said) if not. */
static pcap_t *open_capture(const char *file, int *dlt)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	pcap_t *pc;

	if (tcps_pcap_load())
		return NULL;
	pc = pcap_open_offline_with_tstamp_precision(file, PCAP_TSTAMP_PRECISION_NANO, errbuf);
	if (!pc) {
		/* libpcap names the file only when it cannot open it. */
		if (strncmp(errbuf, file, strlen(file)))
			pr_err("%s: %s", file, errbuf);
		else
			pr_err("%s", errbuf);
		return NULL;
	}
	*dlt = pcap_datalink(pc);
	if (*dlt != DLT_EN10MB && *dlt != DLT_LINUX_SLL && *dlt != DLT_LINUX_SLL2 && *dlt != DLT_RAW &&
	    *dlt != DLT_IPV4 && *dlt != DLT_IPV6 && *dlt != DLT_NULL && *dlt != DLT_LOOP) {
		pr_err("%s: link type %s is not supported (Ethernet, Linux cooked, raw IP, loopback are)",
		       file, pcap_datalink_val_to_name(*dlt) ?: "?");
		pcap_close(pc);
		return NULL;
	}
	return pc;
}

/* The timeouts of passive mode (TIME_WAIT's from --time-wait), and the
 * least of them, which bounds how often expiry is worth a look. */
static void set_timeouts(struct replay *r, unsigned long long tw)
{
	unsigned int st;

	r->have_gc = tcps_timeouts_default && tcps_gc_timeout;
	if (r->have_gc)
		tcps_timeouts_default(&r->to, TCPS_MODE_PASSIVE);
	r->to.state_s[TCPS_TIME_WAIT] = (__u32)tw;
	r->min_timeout_s = (__u32)tw;
	for (st = 0; st < TCPS_STATE_MAX; st++)
		if (r->to.state_s[st] && r->to.state_s[st] < r->min_timeout_s)
			r->min_timeout_s = r->to.state_s[st];
	if (r->have_gc && r->to.midstream_s && r->to.midstream_s < r->min_timeout_s)
		r->min_timeout_s = r->to.midstream_s;
}

/* Every packet of the capture through the data path, the clock following
 * the capture's; 0, or the exit code (out of memory, said). */
static int replay_capture(struct replay *r, pcap_t *pc, int dlt, const char *file)
{
	struct pcap_pkthdr *hdr;
	const u_char *pkt;
	int err;

	while ((err = pcap_next_ex(pc, &hdr, &pkt)) == 1) {
		__u64 ts = (__u64)hdr->ts.tv_sec * 1000000000ULL + (__u64)hdr->ts.tv_usec;
		size_t n;

		/* Time never runs backwards for the program, even if the
		 * capture's does (merged captures). */
		if (ts > r->now)
			r->now = ts;
		if (!r->last_sweep)
			r->last_sweep = r->now;
		r->be->set_clock(r->bk, r->now);
		if (r->now - r->last_sweep >= SWEEP_NS) {
			if (drain(r))
				return TCPS_EXIT_FAIL;
			sweep(r);
			r->last_sweep = r->now;
		}
		r->packets++;
		n = to_ethernet(r, dlt, pkt, hdr->caplen, hdr->len);
		if (!n) {
			r->skipped++;
			continue;
		}
		if (replay_packet(r, n)) {
			pr_err("out of memory");
			return TCPS_EXIT_FAIL;
		}
		if (!(r->packets % REPLAY_DRAIN_EVERY) && drain(r))
			return TCPS_EXIT_FAIL;
	}
	if (drain(r))
		return TCPS_EXIT_FAIL;
	if (err == PCAP_ERROR) {
		/* A capture cut short (tcpdump killed): report what we have. */
		pr_warn("%s: %s (replayed the %llu packets before it)", file, pcap_geterr(pc),
			(unsigned long long)r->packets);
	}
	return 0;
}

/* The last expiry, then the output; t0: when the replay started. */
static int replay_report(struct replay *r, bool json, __u64 t0)
{
	int err;

	sweep(r);
	t0 = tcps_mono_now() - t0;
	/* Throughput goes to stderr only with -v: the output itself must not
	 * depend on the wall clock. */
	pr_debug("replayed %llu packets (%llu split) through the %s data path in %.3f s: %.0f packets/s",
		 (unsigned long long)r->packets, (unsigned long long)r->frames_split, r->be->name, t0 / 1e9,
		 t0 ? r->packets * 1e9 / t0 : 0.0);
	if (r->skipped)
		pr_warn("%llu packets could not be replayed (link header too short or refused by the test run)",
			(unsigned long long)r->skipped);
	err = print_all(r, json);
	if (err) {
		pr_err("stdout: %s", strerror(-err));
		return TCPS_EXIT_FAIL;
	}
	return TCPS_EXIT_OK;
}

int cmd_replay(int argc, char **argv)
{
	struct replay_opts o = { .path = PATH_AUTO, .tw = TCPS_TO_TIME_WAIT,
				 .max_conns = TCPS_MAX_CONNS_DEFAULT };
	struct replay *r;
	pcap_t *pc;
	int dlt, rc;
	__u64 t0;

	rc = replay_parse_args(argc, argv, &o);	/* -1: run */
	if (rc >= 0)
		return rc;
	pc = open_capture(o.file, &dlt);
	if (!pc)
		return TCPS_EXIT_FAIL;
	r = calloc(1, sizeof(*r));
	if (!r) {
		pcap_close(pc);
		return TCPS_EXIT_FAIL;
	}
	/* Capture timestamps are wall-clock times already. */
	tcps_times_are_real = true;
	rc = load(r, o.path, (__u32)o.max_conns);
	if (rc)
		goto out;
	set_timeouts(r, o.tw);
	if (tcps_keyidx_reserve(recs_idx(r), 0)) {
		rc = TCPS_EXIT_FAIL;
		goto out;
	}
	t0 = tcps_mono_now();
	rc = replay_capture(r, pc, dlt, o.file);
	if (!rc)
		rc = replay_report(r, o.json, t0);
out:
	pcap_close(pc);
	replay_free(r);
	return rc;
}
