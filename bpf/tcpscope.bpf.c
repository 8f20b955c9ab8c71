// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tcpscope data path: every hook (XDP ingress, tc ingress, tc egress) runs
 * the same parse + state machine over one shared connection table and
 * always passes the packet on (tcpscope observes, it never drops).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "parse.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define TC_ACT_UNSPEC (-1)
#define TCPS_EEXIST 17

/* Load-time configuration, set by the loader before load. */
const volatile __u8 tcps_mode = TCPS_MODE_HOST;	/* enum tcps_mode */
const volatile __u8 tcps_replay_clock = 0;	/* 1: time comes from tcps_clock_ns */
/* Wake the consumer only when this much is queued; it polls anyway
 * (a wake-up per event costs 0.3-3.6 µs, DESIGN §1). */
const volatile __u32 tcps_wakeup_bytes = TCPS_RINGBUF_BYTES / 4;

/* Capture time for replay, written by userspace through the mmap'ed .bss. */
__u64 tcps_clock_ns = 0;

/* Connections with evidence of both ends (or picked up mid-stream).
 * Plain hash, not LRU: a live connection is never evicted behind our back. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, TCPS_MAX_CONNS_DEFAULT);
	__type(key, struct tcps_key);
	__type(value, struct tcps_conn);
} tcps_conns SEC(".maps");

/* Unanswered SYNs, in their own bounded table so a SYN flood can fill only
 * this one and never push an established connection out. When it is full a
 * real client's SYN goes untracked, but its SYN+ACK is evidence enough to
 * create the entry in tcps_conns. (LRU maps cannot hold a bpf_spin_lock.) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);	/* preallocated: a flood's inserts allocate nothing */
	__uint(max_entries, TCPS_MAX_CONNS_DEFAULT / TCPS_HALFOPEN_DIV);
	__type(key, struct tcps_key);
	__type(value, struct tcps_conn);
} tcps_halfopen SEC(".maps");

/* One record per endpoint state change. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, TCPS_RINGBUF_BYTES);
} tcps_events SEC(".maps");

/* Per-CPU packet/parse/table counters: one slot, one lookup per packet. */
struct tcps_counters {
	__u64 c[TCPS_CNT_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tcps_counters);
} tcps_stats SEC(".maps");

/* Per-CPU transition counts, index from * TCPS_STATE_MAX + to. Survives
 * ring-buffer loss, so /metrics stays exact. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TCPS_STATE_MAX * TCPS_STATE_MAX);
	__type(key, __u32);
	__type(value, __u64);
} tcps_trans SEC(".maps");

/* Metadata of the instance that owns the pins (written by userspace). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tcps_info);
} tcps_info SEC(".maps");

/* Per-CPU scratch for the state machine's output and a new entry. Kept in
 * a map value rather than on the stack: the verifier does not track map
 * contents, so the FSM's many constant stores do not multiply its states. */
struct tcps_scratch {
	/* Raw bytes, not struct tcps_conn: a per-CPU map value may not carry
	 * a bpf_spin_lock in its BTF. */
	__u8 conn[sizeof(struct tcps_conn)] __attribute__((aligned(8)));
	struct tcps_step st;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tcps_scratch);
} tcps_scratch SEC(".maps");

enum tcps_dir {
	TCPS_DIR_IN = 0,		/* arrived on the interface */
	TCPS_DIR_OUT = 1,		/* leaving through it */
};

static __always_inline __u64 tcps_now(void)
{
	if (tcps_replay_clock)
		return tcps_clock_ns;
	/* The coarse clock is a few ns; bpf_ktime_get_ns() costs 26-35. */
	return bpf_ktime_get_coarse_ns();
}

static __always_inline void tcps_count(struct tcps_counters *cnt, int idx)
{
	if (cnt && idx >= 0 && idx < TCPS_CNT_MAX)
		cnt->c[idx]++;
}

static __always_inline void tcps_emit(struct tcps_counters *cnt, const struct tcps_key *k,
				    const struct tcps_step *st, __u8 conn_flags, __u8 tcp_flags,
				    __u32 ifindex, __u64 now)
{
	int side;

	for (side = 0; side < 2; side++) {
		struct tcps_event *e;
		__u32 idx;
		__u64 *tc;

		if (st->from[side] == st->to[side])
			continue;
		tcps_count(cnt, TCPS_CNT_TRANSITIONS);
		idx = (__u32)st->from[side] * TCPS_STATE_MAX + st->to[side];
		tc = bpf_map_lookup_elem(&tcps_trans, &idx);
		if (tc)
			(*tc)++;
		e = bpf_ringbuf_reserve(&tcps_events, sizeof(*e), 0);
		if (!e) {
			tcps_count(cnt, TCPS_CNT_RB_DROPS);
			continue;
		}
		__builtin_memcpy(&e->key, k, sizeof(*k));
		e->ts = now;
		e->ifindex = ifindex;
		e->side = side;
		e->from = st->from[side];
		e->to = st->to[side];
		e->reason = TCPS_REASON_PACKET;
		e->tcp_flags = tcp_flags;
		e->conn_flags = conn_flags;
		__builtin_memset(e->pad, 0, sizeof(e->pad));
		bpf_ringbuf_submit(e, bpf_ringbuf_query(&tcps_events, BPF_RB_AVAIL_DATA) >= tcps_wakeup_bytes ?
				   BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
	}
}

/*
 * Entries stay in the half-open table until the three-way handshake is
 * complete (or the first packet was mid-stream): a spoofed SYN flood that
 * an open port answers with SYN+ACKs, or a port scan answered with RSTs,
 * then fills only that table and never takes room in the main one.
 */
static __always_inline int tcps_handshaking(__u8 a, __u8 b)
{
	return a == TCPS_SYN_SENT || a == TCPS_SYN_RECV || b == TCPS_SYN_SENT ||
	       b == TCPS_SYN_RECV || (a == TCPS_CLOSE && b == TCPS_CLOSE);
}

/* A packet of a connection we already track (in either table). Returns
 * nonzero when a half-open entry has now been answered and belongs in the
 * main table; sc->conn then holds its new value. */
static __always_inline int tcps_update(struct tcps_counters *cnt, struct tcps_conn *conn,
				       const struct tcps_key *k, int s, const struct tcps_seg *g,
				       __u32 ifindex, __u64 now, int halfopen)
{
	struct tcps_scratch *sc;
	__u32 zero = 0;
	__u8 cflags;
	__u8 verdict;

	/* Plain adds, not atomics: pkts[s]/bytes[s] are written only by
	 * packets side s sends, which one CPU handles at a time (RSS, the
	 * socket lock); a lock-prefixed add cost 9 of the hot path's ~19 ns
	 * over the lookup floor. A rare concurrent send can lose a count,
	 * never a state: states change only under the lock. */
	conn->last_seen = now;
	conn->pkts[s & 1] += 1;
	conn->bytes[s & 1] += g->len;

	/* Hot path: nothing in this segment can change a state. */
	if (tcps_fsm_steady(&conn->fsm, g)) {
		if (tcps_fsm_track(&conn->fsm, s, g))
			tcps_count(cnt, TCPS_CNT_OOW);
		return 0;
	}

	sc = bpf_map_lookup_elem(&tcps_scratch, &zero);
	if (!sc)
		return 0;
	bpf_spin_lock(&conn->lock);
	tcps_fsm_step(&conn->fsm, s, g, &sc->st);
	cflags = conn->fsm.flags;
	if (halfopen)		/* for tcps_promote */
		((struct tcps_conn *)sc->conn)->fsm = conn->fsm;
	bpf_spin_unlock(&conn->lock);

	verdict = sc->st.verdict;
	if (verdict == TCPS_V_OOW || verdict == TCPS_V_INVALID)
		tcps_count(cnt, TCPS_CNT_OOW);
	if (verdict == TCPS_V_REOPEN)
		conn->first_seen = now;	/* a reused tuple starts a new life */
	tcps_emit(cnt, k, &sc->st, cflags, g->flags, ifindex, now);
	return halfopen && !tcps_handshaking(sc->st.to[0], sc->st.to[1]);
}

static __always_inline void tcps_promote(struct tcps_counters *cnt, const struct tcps_key *k,
					 struct tcps_conn *old)
{
	struct tcps_scratch *sc;
	struct tcps_conn *nc;
	__u32 zero = 0;

	sc = bpf_map_lookup_elem(&tcps_scratch, &zero);
	if (!sc)
		return;
	nc = (struct tcps_conn *)sc->conn;
	nc->ifindex = old->ifindex;
	nc->first_seen = old->first_seen;
	nc->last_seen = old->last_seen;
	nc->pkts[0] = old->pkts[0];
	nc->pkts[1] = old->pkts[1];
	nc->bytes[0] = old->bytes[0];
	nc->bytes[1] = old->bytes[1];
	if (bpf_map_update_elem(&tcps_conns, k, nc, BPF_NOEXIST)) {
		tcps_count(cnt, TCPS_CNT_TABLE_FULL);
		return;		/* stays half-open; tracking goes on there */
	}
	bpf_map_delete_elem(&tcps_halfopen, k);
	tcps_count(cnt, TCPS_CNT_PROMOTED);
}

static __always_inline void tcps_create(struct tcps_counters *cnt, const struct tcps_key *k, int s,
					const struct tcps_seg *g, int dir, __u32 ifindex, __u64 now)
{
	struct tcps_scratch *sc;
	struct tcps_conn *nc;
	__u32 zero = 0;
	void *map;
	int err;

	sc = bpf_map_lookup_elem(&tcps_scratch, &zero);
	if (!sc)
		return;
	nc = (struct tcps_conn *)sc->conn;
	__builtin_memset(nc, 0, sizeof(*nc));
	nc->fsm.flags = TCPS_C_NEW;
	if (tcps_mode == TCPS_MODE_HOST)
		nc->fsm.flags |= ((dir == TCPS_DIR_OUT) == (s == 0)) ? TCPS_C_LOCAL0 : TCPS_C_LOCAL1;
	tcps_fsm_step(&nc->fsm, s, g, &sc->st);
	if (sc->st.verdict == TCPS_V_NOCREATE)
		return;
	nc->ifindex = ifindex;
	nc->first_seen = now;
	nc->last_seen = now;
	if (s) {
		nc->pkts[1] = 1;
		nc->bytes[1] = g->len;
	} else {
		nc->pkts[0] = 1;
		nc->bytes[0] = g->len;
	}

	map = tcps_handshaking(nc->fsm.ep[0].state, nc->fsm.ep[1].state) ? (void *)&tcps_halfopen :
									      (void *)&tcps_conns;
	err = bpf_map_update_elem(map, k, nc, BPF_NOEXIST);
	if (err == -TCPS_EEXIST) {
		/* Another CPU created it first: this packet is its second. */
		struct tcps_conn *conn = bpf_map_lookup_elem(map, k);

		if (conn)
			tcps_update(cnt, conn, k, s, g, ifindex, now, 0);
		return;
	}
	if (err) {
		tcps_count(cnt, TCPS_CNT_TABLE_FULL);
		return;
	}
	tcps_count(cnt, TCPS_CNT_NEW_CONN);
	if (map == (void *)&tcps_halfopen)
		tcps_count(cnt, TCPS_CNT_HALFOPEN_NEW);
	if (nc->fsm.flags & TCPS_C_MIDSTREAM)
		tcps_count(cnt, TCPS_CNT_MIDSTREAM);
	tcps_emit(cnt, k, &sc->st, nc->fsm.flags, g->flags, ifindex, now);
}

/*
 * Everything after the parse. A global function, so the verifier checks it
 * once, on its own, instead of once per way the parser can end (VLANs, IPv6
 * extension headers, options): inlined, the product exceeds 1M insns.
 */
__noinline int tcps_track(struct tcps_parsed *p, struct tcps_counters *cnt, __u32 dir,
			  __u32 ifindex)
{
	struct tcps_conn *conn;
	struct tcps_key k;	/* tcps_key_make writes every byte */
	__u64 now;
	int s;

	if (!p || !cnt)
		return 0;
	if (p->opt_len)
		tcps_parse_tcp_opts(p->opts, p->opt_len, &p->seg);
	s = tcps_parsed_key(p, &k);
	now = tcps_now();

	conn = bpf_map_lookup_elem(&tcps_conns, &k);
	if (conn) {
		tcps_update(cnt, conn, &k, s, &p->seg, ifindex, now, 0);
		return 0;
	}
	conn = bpf_map_lookup_elem(&tcps_halfopen, &k);
	if (conn) {
		if (tcps_update(cnt, conn, &k, s, &p->seg, ifindex, now, 1))
			tcps_promote(cnt, &k, conn);
		return 0;
	}
	tcps_create(cnt, &k, s, &p->seg, dir, ifindex, now);
	return 0;
}

/* Copy a SYN's options for tcps_track to read its window scale (see
 * tcps_parse_tcp_opts for why not in place). */
static __always_inline void tcps_copy_syn_opts(void *ctx, int is_xdp, struct tcps_parsed *p)
{
	__u32 len = p->opt_len, n;
	int err;

	if (!(p->seg.flags & TCPS_SYN) || len == 0 || len > 40) {
		p->opt_len = 0;
		return;
	}
	/* Equal to len for 1..40, but provably within 1..sizeof(p->opts) for
	 * the verifier, whatever clang does to the range check above. */
	n = ((len - 1) & (TCPS_OPT_BUF - 1)) + 1;
	if (is_xdp)
		err = bpf_xdp_load_bytes(ctx, p->opt_off, p->opts, n);
	else
		err = bpf_skb_load_bytes(ctx, p->opt_off, p->opts, n);
	if (err)
		p->opt_len = 0;
}

/* count = 0 on a first try that may be repeated after a pull: a short
 * parse then counts nothing. */
static __always_inline int tcps_handle(void *ctx, int is_xdp, const void *data,
				       const void *data_end, __u32 wire_len, int dir,
				       __u32 ifindex, int count)
{
	__u32 zero = 0;
	struct tcps_counters *cnt = bpf_map_lookup_elem(&tcps_stats, &zero);
	struct tcps_parsed p;
	int rc;

	if (!cnt)
		return TCPS_P_NOT_TCP;
	rc = tcps_parse(data, data_end, wire_len, &p);
	if (rc == TCPS_P_TRUNCATED && !count)
		return rc;
	cnt->c[TCPS_CNT_PACKETS]++;
	if (rc != TCPS_P_TCP) {
		tcps_count(cnt, rc == TCPS_P_NOT_TCP ? TCPS_CNT_NON_TCP :
				rc == TCPS_P_FRAGMENT ? TCPS_CNT_FRAGMENTS : TCPS_CNT_PARSE_ERR);
		return rc;
	}
	cnt->c[TCPS_CNT_TCP]++;
	tcps_copy_syn_opts(ctx, is_xdp, &p);
	tcps_track(&p, cnt, dir, ifindex);
	return TCPS_P_TCP;
}

SEC("xdp")
int tcps_xdp_ingress(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	tcps_handle(ctx, 1, data, data_end, (__u32)(data_end - data), TCPS_DIR_IN,
		    ctx->ingress_ifindex, 1);
	return XDP_PASS;
}

/* tc reads only the linear part directly; if the headers are not all in
 * it (rare: stacks and drivers keep headers linear), pull them in and parse
 * once more. */
static __always_inline void tcps_handle_skb(struct __sk_buff *skb, int dir)
{
	int pullable = skb->data_end - skb->data < skb->len;
	int rc = tcps_handle(skb, 0, (void *)(long)skb->data, (void *)(long)skb->data_end,
			     skb->len, dir, skb->ifindex, !pullable);

	if (rc == TCPS_P_TRUNCATED && pullable) {
		bpf_skb_pull_data(skb, skb->len < 256 ? skb->len : 256);
		tcps_handle(skb, 0, (void *)(long)skb->data, (void *)(long)skb->data_end, skb->len,
			    dir, skb->ifindex, 1);
	}
}

SEC("tc")
int tcps_tc_ingress(struct __sk_buff *skb)
{
	tcps_handle_skb(skb, TCPS_DIR_IN);
	return TC_ACT_UNSPEC;	/* let the next filter decide; default is pass */
}

SEC("tc")
int tcps_tc_egress(struct __sk_buff *skb)
{
	tcps_handle_skb(skb, TCPS_DIR_OUT);
	return TC_ACT_UNSPEC;
}
