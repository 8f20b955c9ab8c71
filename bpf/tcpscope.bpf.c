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

#define TCPS_PATH_INLINE static __always_inline
/* The main table's entries are slots (slots_prim.bpf.h): the locked step
 * checks under the lock that its slot is still the tuple's. */
struct tcps_conn;
struct tcps_key;
static __always_inline int tcps_conn_still(const struct tcps_conn *c, const struct tcps_key *k,
					   int tbl);
#define TCPS_PATH_CONN_STILL(conn, k, tbl) tcps_conn_still(conn, k, tbl)
#include "tcps_frame.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define TC_ACT_UNSPEC (-1)

/* Load-time configuration, set by the loader before load. */
const volatile __u8 tcps_mode = TCPS_MODE_HOST;	/* enum tcps_mode */
const volatile __u8 tcps_replay_clock = 0;	/* 1: time comes from tcps_clock_ns */
const volatile __u8 tcps_health = 1;	/* 0: `run --no-health`, no tcps_conn.h tracking */
/* Wake the consumer only when this much is queued; it polls anyway
 * (a wake-up per event costs 0.3-3.6 µs, DESIGN §1). */
const volatile __u32 tcps_wakeup_bytes = TCPS_RINGBUF_BYTES / 4;

/* Whether anyone reads transition events: the daemon clears it while
 * nothing does (user/run.c events_gate), and the data path then makes none,
 * as conntrack makes no events without a listener. The counts, gauges and
 * health never depend on it. In .data, written by the daemon in place. */
volatile __u32 tcps_events_on = 1;

/* Capture time for replay: each frame's, set by tcps_xdp_replay from its batch table. */
__u64 tcps_clock_ns = 0;

/* Unanswered SYNs, in their own bounded table so a SYN flood can fill only
 * this one and never push an established connection out. When it is full a
 * real client's SYN goes untracked, but its SYN+ACK is evidence enough to
 * create the entry in tcps_conns. (LRU maps cannot hold a bpf_spin_lock.)
 * Allocated as it fills (the kernel's per-CPU element caches): a handshake
 * holds its element for a round trip, so the table is nearly empty but in
 * a flood, and its memory is then bounded by max_entries. Preallocated it
 * cost 11 B for every connection of the main table (bench/NOTES.md). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, TCPS_MAX_CONNS_DEFAULT / TCPS_HALFOPEN_DIV);
	__type(key, struct tcps_key);
	__type(value, struct tcps_conn);
} tcps_halfopen SEC(".maps");

/* One record per endpoint state change. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, TCPS_RINGBUF_BYTES);
} tcps_events SEC(".maps");

/* Per CPU: the packet/parse/table counters userspace reads, then the parse
 * of the packet at hand, off the entries' stack, which the slot table's
 * lookup took past 512 bytes in tc (bench/NOTES.md "The data path on the
 * slot array"). One lookup a packet fetches both: two took ~2 ns more
 * (bench/NOTES.md, "One per-CPU lookup"). */
struct tcps_percpu {
	struct tcps_counters cnt;	/* first: userspace reads it (tcpscope.h) */
	struct tcps_parsed p;
	__u8 pad[TCPS_STATS_VALUE_SIZE - sizeof(struct tcps_counters) - sizeof(struct tcps_parsed)];
};
_Static_assert(sizeof(struct tcps_percpu) == TCPS_STATS_VALUE_SIZE, "tcps_stats' value size");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tcps_percpu);
} tcps_stats SEC(".maps");

/* Per-CPU transition counts, index from * TCPS_STATE_MAX + to. Survives
 * ring-buffer loss, so /metrics stays exact. Then the health histograms
 * (TCPS_HIST_BASE) and the state gauges (TCPS_GAUGE_BASE, tcpscope.h). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TCPS_TRANS_MAP_ENTRIES);
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

/* Connections with evidence of both ends (or picked up mid-stream):
 * tcps_conns, an array of slots (include/tcps_slots.h), defined with its
 * primitives in slots_prim.bpf.h. Never evicted behind our back: a full
 * table refuses the insert (TCPS_CNT_TABLE_FULL). */
#define TCPS_SLOTS_WRITER
#define TCPS_SLOTS_HEALTH() (tcps_health)
#include "slots_prim.bpf.h"

/* Per-CPU scratch of the data path (struct tcps_scratch, tcps_path.h). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tcps_scratch);
} tcps_scratch SEC(".maps");


/* The coarse clock of the last tick any CPU saw (tcps_now). Written once
 * a tick, read by every packet: a read-mostly line. */
__u64 tcps_tick_jiffies = 0;
__u64 tcps_tick_ns = 0;

/*
 * The entry clock (first_seen, last_seen): CLOCK_MONOTONIC at tick
 * resolution. The kernel's coarse clock moves only when the tick advances
 * jiffies, so it is read once a tick and cached: bpf_jiffies64() is
 * inlined by the verifier into one load, where the call to
 * bpf_ktime_get_coarse_ns() cost 12-18 of the hot path's ~120 ns
 * (bench/NOTES.md). A packet that meets the new tick before the
 * timekeeper has moved, or that races another CPU's update of the cache,
 * takes the previous tick's time: one tick older than the coarse clock at
 * most, for one tick at most.
 */
static __always_inline __u64 tcps_now(void)
{
	__u64 j;

	if (tcps_replay_clock)
		return tcps_clock_ns;
	j = bpf_jiffies64();
	if (j != tcps_tick_jiffies || !tcps_tick_ns) {
		tcps_tick_ns = bpf_ktime_get_coarse_ns();
		tcps_tick_jiffies = j;
	}
	return tcps_tick_ns;
}

/* The writes of tcps_conns (slots_prim.bpf.h), verified once each. */

/* Insert k (tag and home a) with value init, unless there: enum
 * tcps_slots_ins. */
__noinline int tcps_conns_insert(const struct tcps_key *k, __u32 home, __u32 want,
				 const struct tcps_conn *init)
{
	struct tcps_slot_hdr *s;

	if (!k || !init)
		return TCPS_SLOTS_FULLCHAIN;
	return tcps_slots_insert(k, home, want, init, &s);
}

/* Insert k with value init into tcps_conns unless there: 0, -TCPS_EEXIST
 * (there already, maybe inserted by another CPU just now), or -E2BIG: no
 * free slot within the probe limit or under the cap, or the home's insert
 * lock held too long (the packet passes untracked, counted as a full
 * table). */
static __always_inline int tcps_conns_add(const struct tcps_key *k, const struct tcps_conn *init)
{
	struct tcps_slots_at a = tcps_slots_of(k);
	int r = tcps_conns_insert(k, a.home, a.want, init);

	return r == TCPS_SLOTS_INSERTED ? 0 : r == TCPS_SLOTS_RACED ? -TCPS_EEXIST : -7 /* E2BIG */;
}

/* Delete s (k's, tag want), its value but the lock copied into out under
 * its lock (values of the map's size: see tcps_conn_tail_copy); 1 if this
 * call deleted it. The tombstone carries the collector's epoch. */
static __always_inline int tcps_slot_take(struct tcps_slot_hdr *s, __u32 want,
					  struct tcps_conn *out)
{
	__u32 tomb = tcps_slots_tomb(tcps_slots_epoch());
	int done = 0;

	tcps_slot_lock(s);
	if ((TCPS_SLOTS_READ(s->tag) & ~TCPS_SLOT_ILOCK) == want) {
		if (out)
			tcps_conn_tail_copy(out, tcps_slot_conn(s));
		__sync_fetch_and_xor(&s->tag, want ^ tomb);
		done = 1;
	}
	tcps_slot_unlock(s);
	return done;
}

/* Delete k's entry of tcps_conns, its value (but the lock) into out
 * unless NULL: 0, or -ENOENT. A slot the collector moved between the
 * lookup and the lock is looked up once more. */
static __always_inline int tcps_conns_take(const struct tcps_key *k, struct tcps_conn *out)
{
	struct tcps_slots_at a = tcps_slots_of(k);
	struct tcps_slot_hdr *s = tcps_conns_find(k, a);

	if (!s)
		return -2;	/* ENOENT */
	if (tcps_slot_take(s, a.want, out))
		return 0;
	s = tcps_conns_find(k, a);
	return s && tcps_slot_take(s, a.want, out) ? 0 : -2;
}

/* Under c's lock: c is still k's entry (tcps_path.h TCPS_PATH_CONN_STILL).
 * A slot of the main table found without the lock may since have been
 * moved by the collector (tcps_coll_moves) or deleted, and maybe given to
 * another tuple: FULL, k's family and k's tuple. The hash maps' entries
 * stay put. */
static __always_inline int tcps_conn_still(const struct tcps_conn *c, const struct tcps_key *k,
					   int tbl)
{
	const struct tcps_slot_hdr *s;
	__u32 t;

	if (tbl == TCPS_TBL_HALFOPEN)
		return 1;
	s = (const struct tcps_slot_hdr *)((const __u8 *)c - __builtin_offsetof(struct tcps_slot, c));
	t = TCPS_SLOTS_READ(s->tag);
	return (t & TCPS_SLOT_STATE) == TCPS_SLOT_FULL &&
	       !(t & TCPS_SLOT_V6) == (k->family != TCPS_AF_INET6) && tcps_slot_key_eq(s, k);
}

/* The storage primitives tcps_path.h runs on. */
static __always_inline struct tcps_conn *tcps_tbl_lookup(int tbl, const struct tcps_key *k)
{
	if (tbl == TCPS_TBL_HALFOPEN)
		return bpf_map_lookup_elem(&tcps_halfopen, k);
	return tcps_slot_conn(tcps_conns_find(k, tcps_slots_of(k)));
}

static __always_inline int tcps_tbl_insert(int tbl, const struct tcps_key *k, const struct tcps_conn *v)
{
	if (tbl == TCPS_TBL_HALFOPEN)
		return bpf_map_update_elem(&tcps_halfopen, k, v, BPF_NOEXIST);
	return tcps_conns_add(k, v);
}

static __always_inline void tcps_tbl_delete(int tbl, const struct tcps_key *k)
{
	if (tbl == TCPS_TBL_HALFOPEN)
		bpf_map_delete_elem(&tcps_halfopen, k);
	else
		tcps_conns_take(k, NULL);
}

static __always_inline void tcps_conn_lock(struct tcps_conn *c)
{
	bpf_spin_lock(&c->lock);
}

static __always_inline void tcps_conn_unlock(struct tcps_conn *c)
{
	bpf_spin_unlock(&c->lock);
}

static __always_inline struct tcps_scratch *tcps_scratch_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&tcps_scratch, &zero);
}

static __always_inline __u64 *tcps_trans_slot(__u32 idx)
{
	return bpf_map_lookup_elem(&tcps_trans, &idx);
}

static __always_inline struct tcps_event *tcps_event_reserve(void)
{
	return bpf_ringbuf_reserve(&tcps_events, sizeof(struct tcps_event), 0);
}

/* The tick (tcps_tick_jiffies) of the last forced wake-up of the consumer. */
__u64 tcps_woken_jiffies = 0;

/* Once tcps_wakeup_bytes are queued, wake the consumer, at most once a
 * tick: waking it on every event past the mark, as before, queued an
 * irq_work (a self-interrupt) per event until the daemon got a CPU, ~11 %
 * of the programs' samples in churn (bench/NOTES.md). A tick is 4 ms at
 * HZ=250, in which 500k transitions/s (80-byte records) fill 0.16 MB of
 * the 3 MB left past the mark; the daemon also polls every 100 ms. */
static __always_inline void tcps_event_submit(struct tcps_event *e)
{
	__u64 flags = BPF_RB_NO_WAKEUP, tick;

	if (bpf_ringbuf_query(&tcps_events, BPF_RB_AVAIL_DATA) >= tcps_wakeup_bytes) {
		tick = tcps_tick_jiffies;
		if (tick != tcps_woken_jiffies) {
			tcps_woken_jiffies = tick;
			flags = BPF_RB_FORCE_WAKEUP;
		}
	}
	bpf_ringbuf_submit(e, flags);
}

static __always_inline __u64 tcps_clock_precise(void)
{
	return tcps_replay_clock ? tcps_clock_ns : bpf_ktime_get_ns();
}

static __always_inline int tcps_host_mode(void)
{
	return tcps_mode == TCPS_MODE_HOST;
}

static __always_inline int tcps_events_wanted(void)
{
	return tcps_events_on;
}

static __always_inline int tcps_health_on(void)
{
	return tcps_health;
}

/*
 * Everything after the parse but the hot path (tcps_frame_hot, inlined in
 * tcps_handle_parsed). A global function, so the verifier checks it once, on its
 * own, instead of once per way the parser can end (VLANs, IPv6 extension
 * headers, options): inlined, the product exceeds 1M insns.
 */
__noinline int tcps_track(struct tcps_parsed *p, struct tcps_counters *cnt, __u32 dir,
			  __u32 ifindex, __u32 hint)
{
	if (!p || !cnt)
		return 0;
	tcps_frame_track(p, cnt, (int)dir, ifindex, tcps_now(), (int)hint);
	return 0;
}

/* Copy a SYN's options for tcps_track to read its window scale (see
 * tcps_parse_tcp_opts for why not in place). */
static __always_inline void tcps_copy_syn_opts(void *ctx, int is_xdp, struct tcps_parsed *p)
{
	__u32 len = tcps_frame_syn_opts(p), n;
	int err;

	if (!len)
		return;
	/* Equal to len for 1..40, but provably within 1..sizeof(p->opts) for
	 * the verifier, whatever clang does to tcps_frame_syn_opts's check. */
	n = ((len - 1) & (TCPS_OPT_BUF - 1)) + 1;
	if (is_xdp)
		err = bpf_xdp_load_bytes(ctx, p->opt_off, p->opts, n);
	else
		err = bpf_skb_load_bytes(ctx, p->opt_off, p->opts, n);
	if (err)
		p->opt_len = 0;
}

static __always_inline struct tcps_percpu *tcps_percpu_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&tcps_stats, &zero);
}

/* Everything after the parse (rc, p): count, then track a TCP segment.
 * Inlined once per entry point: the verifier walks it once per way the
 * parser can end, so tc's parse after a pull comes back here too rather
 * than into a second copy. */
static __always_inline void tcps_handle_parsed(void *ctx, int is_xdp, struct tcps_counters *cnt,
					       struct tcps_parsed *p, int rc, int dir,
					       __u32 ifindex, __u32 segs)
{
	int hint;

	if (!tcps_frame_count(cnt, rc))
		return;
	/* A GSO/GRO packet stands for this many wire segments (the kernel
	 * counts retransmissions in them: tcp_skb_pcount). */
	p->seg.segs = segs > 1 ? (segs > 0xffff ? 0xffff : (__u16)segs) : 1;
	tcps_copy_syn_opts(ctx, is_xdp, p);
	hint = tcps_frame_hot(p, cnt, tcps_now(), ifindex);
	if (hint != TCPS_HOT_DONE)
		tcps_track(p, cnt, dir, ifindex, hint);
}

static __always_inline void tcps_handle_xdp(struct xdp_md *ctx, __u32 wire_len)
{
	struct tcps_percpu *pc = tcps_percpu_get();
	int rc;

	if (!pc)
		return;
	rc = tcps_parse((void *)(long)ctx->data, (void *)(long)ctx->data_end, wire_len, &pc->p);
	tcps_handle_parsed(ctx, 1, &pc->cnt, &pc->p, rc, TCPS_DIR_IN, ctx->ingress_ifindex, 1);
}

SEC("xdp")
int tcps_xdp_ingress(struct xdp_md *ctx)
{
	tcps_handle_xdp(ctx, (__u32)(ctx->data_end - ctx->data));
	return XDP_PASS;
}

/*
 * `tcpscope replay`'s entry (user/replay_bpf.c; tcpscope.h says the
 * layout): one frame of the batch per run, the same tcps_handle_xdp as
 * tcps_xdp_ingress with the frame's own capture time and wire length,
 * then a tail call into itself for the next. Each run narrows the test
 * run's data to its frame: the first moves the start up to the last
 * frame in the data (the first in replay order); each next one moves the
 * start back over its own frame, which lies just before, and cuts the
 * previous frame off the end. One syscall then carries up to
 * TCPS_REPLAY_BATCH frames. Not loaded by `run` ("?xdp").
 */
_Static_assert(!(TCPS_REPLAY_BATCH & (TCPS_REPLAY_BATCH - 1)), "a power of 2: the index masks");
struct tcps_replay_frame tcps_replay_frames[TCPS_REPLAY_BATCH] = {};
__u32 tcps_replay_count = 0;	/* frames in the batch, set by userspace */
__u32 tcps_replay_bytes = 0;	/* their bytes in the data */
__u32 tcps_replay_done = 0;	/* frames handled so far: userspace sets 0 */

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} tcps_replay_next SEC(".maps");	/* [0]: tcps_xdp_replay itself */

static __always_inline int tcps_replay_narrow(struct xdp_md *ctx, __u32 i)
{
	int len = (int)tcps_replay_frames[i & (TCPS_REPLAY_BATCH - 1)].len;

	if (i == 0)
		return bpf_xdp_adjust_head(ctx, (int)tcps_replay_bytes - len);
	if (bpf_xdp_adjust_head(ctx, -len))
		return -1;
	return bpf_xdp_adjust_tail(ctx, -(int)tcps_replay_frames[(i - 1) & (TCPS_REPLAY_BATCH - 1)].len);
}

SEC("?xdp")
int tcps_xdp_replay(struct xdp_md *ctx)
{
	__u32 i = tcps_replay_done;

	if (i >= TCPS_REPLAY_BATCH || i >= tcps_replay_count || tcps_replay_narrow(ctx, i))
		return XDP_PASS;
	tcps_replay_done = i + 1;
	tcps_clock_ns = tcps_replay_frames[i].ts;
	tcps_handle_xdp(ctx, tcps_replay_frames[i].wire_len);
	bpf_tail_call(ctx, &tcps_replay_next, 0);
	return XDP_PASS;
}

/* The tc programs by direction ([TCPS_DIR_IN] tcps_tc_ingress,
 * [TCPS_DIR_OUT] tcps_tc_egress), put in by the loader (user/run.c): a
 * packet whose headers were pulled into the linear part runs its program
 * once more. Pinned: the kernel empties a prog array when its last fd and
 * pin are gone, and programs left on their hooks (--persist, a killed
 * daemon) still pull. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} tcps_tc_again SEC(".maps");

/*
 * tc reads only the linear part directly; if the headers are not all in
 * it (rare: stacks and drivers keep headers linear), pull them in and run
 * the program again on the pulled skb. Only the last parse is counted.
 * A tail call, not a second parse here: the verifier walked the second
 * parse and everything after it from every way the first one can end
 * (~810k instructions a tc program against XDP's ~500k, 0.3 s each at
 * start; bench/NOTES.md), and a call to a global function instead costs
 * the hot path ~8 ns. Again only when the pull made the linear part
 * longer: a second run that still finds its headers cut (past 256 bytes)
 * does not go round again, it counts a parse error. With no program in
 * the slot (another loader) rc stays TCPS_P_TRUNCATED: a parse error,
 * passed. gso_segs is read last (a pull keeps it).
 */
static __always_inline void tcps_handle_skb(struct __sk_buff *skb, int dir)
{
	struct tcps_percpu *pc = tcps_percpu_get();
	__u32 linear;
	int rc;

	if (!pc)
		return;
	rc = tcps_parse((void *)(long)skb->data, (void *)(long)skb->data_end, skb->len, &pc->p);
	linear = (__u32)(skb->data_end - skb->data);
	if (rc == TCPS_P_TRUNCATED && linear < skb->len) {
		bpf_skb_pull_data(skb, skb->len < 256 ? skb->len : 256);
		if (skb->data_end - skb->data > linear)
			bpf_tail_call(skb, &tcps_tc_again, (__u32)dir);
	}
	tcps_handle_parsed(skb, 0, &pc->cnt, &pc->p, rc, dir, skb->ifindex, skb->gso_segs);
}

SEC("tc")
int tcps_tc_ingress(struct __sk_buff *skb)
{
	tcps_handle_skb(skb, TCPS_DIR_IN);
	return TC_ACT_UNSPEC;	/* let the next filter decide; default is pass */
}

/* Passive mode on a router: a forwarded packet crosses the ingress of one
 * watched interface and the egress of another. It counts once, where it
 * came in; egress takes only what no watched ingress saw (local traffic,
 * or traffic from an interface we do not watch). */
static __always_inline int tcps_seen_at_ingress(const struct __sk_buff *skb)
{
	__u32 zero = 0, in = skb->ingress_ifindex;
	struct tcps_info *info;
	int i;

	if (tcps_mode != TCPS_MODE_PASSIVE || !in)
		return 0;
	info = bpf_map_lookup_elem(&tcps_info, &zero);
	if (!info)
		return 0;
	for (i = 0; i < (int)(sizeof(info->ifaces) / sizeof(info->ifaces[0])); i++)
		if (info->ifaces[i].ifindex == in)
			return 1;
	return 0;
}

SEC("tc")
int tcps_tc_egress(struct __sk_buff *skb)
{
	if (!tcps_seen_at_ingress(skb))
		tcps_handle_skb(skb, TCPS_DIR_OUT);
	return TC_ACT_UNSPEC;
}

/*
 * Userspace's writes of tcps_conns by key (seeding, expiry, replay: they
 * need the tags' atomics), run with BPF_PROG_TEST_RUN, a struct
 * tcps_sys_req as the context (in and out; tcps_slots.h). INSERT: r->conn
 * under r->key unless there (0, -EEXIST, -E2BIG: no free slot); TAKE:
 * delete r->key's entry, its value (but the lock) into r->conn (0,
 * -ENOENT). With health off the value ends before conn.h: TAKE gives it
 * zeroed, INSERT ignores it. The gauges are userspace's to keep
 * (TCPS_GAUGE_USER), as for its writes of the hash maps.
 */
/* The value goes through this program's stack (a global function takes
 * no pointer into the context) and to the context, not through the data
 * path's per-CPU scratch: a syscall program runs preemptible, and the data
 * path in a softirq on the same CPU would overwrite the scratch under it. */
SEC("syscall")
int tcps_sys(struct tcps_sys_req *r)
{
	struct tcps_conn c;
	struct tcps_key k;

	__builtin_memcpy(&k, &r->key, sizeof(k));
	if (r->op == TCPS_SYS_INSERT) {
		__builtin_memcpy(&c, &r->conn, sizeof(c));
		r->ret = tcps_conns_add(&k, &c);
	} else if (r->op == TCPS_SYS_TAKE) {
		__builtin_memset(&c, 0, sizeof(c));
		r->ret = tcps_conns_take(&k, &c);
		__builtin_memcpy(&r->conn, &c, sizeof(c));
	} else {
		r->ret = -22;	/* EINVAL */
	}
	return 0;
}

/* Whether the collector compacts (moves tuples back over tombstones): 0,
 * this landing, reclaim only; nonzero, with moves (the locked steps look
 * again under the lock: tcps_conn_still). Set by userspace, in place
 * (.bss). */
volatile __u32 tcps_coll_moves = 0;

/* One tombstone collector pass over tcps_conns (tcps_slots_collect). The
 * daemon makes the epochs (tcps_info.slots_epoch, each after an RCU grace
 * period) and reads the pass's counters in tcps_coll (.bss, a struct
 * tcps_slots_coll). Returns 1 if the table had no EMPTY slot to start
 * from (nothing done). */
SEC("syscall")
int tcps_sys_collect(void *ctx __attribute__((unused)))
{
	tcps_slots_coll()->no_moves = !tcps_coll_moves;
	return tcps_slots_collect();
}
