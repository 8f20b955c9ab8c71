// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Floors for the benchmarks (bench/run.sh): the least a program on each
 * hook can cost, built with the same compiler and flags as tcpscope and
 * timed in the same harness, so that tcpscope's figures are ratios to
 * something measured in the same run, not to a number from elsewhere.
 *
 *   floor_xdp_pass / floor_tc_pass     return at once
 *   floor_tc_pass_egress               the same as floor_tc_pass, a program
 *                                      of its own so that bench/run.sh can
 *                                      read ingress and egress kernel stats
 *                                      (run_cnt, run_time_ns) apart
 *   floor_xdp_lookup / floor_tc_lookup parse to TCP with bpf/parse.h and
 *                                      do one hash lookup (a 40-byte key,
 *                                      as tcpscope's), nothing else
 *   floor_tc_gate / floor_tc_gate_egress
 *                                      the tc floor as a switch in front of
 *                                      tcpscope's filters (bench/floorctl
 *                                      gate): while gate_floor is set it
 *                                      ends the filter chain (TC_ACT_OK), so
 *                                      only the floor runs; else it hands
 *                                      the packet on (TC_ACT_UNSPEC) to
 *                                      tcpscope's. Either way it counts the
 *                                      packet and its bytes under the mode
 *                                      that decided its path.
 *   call_subprog / call_helper / call_clock / call_lock
 *                                      call probes: 16 calls of one kind
 *                                      each (pktcost's call_* cases), what a
 *                                      call costs on this host (below)
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "parse.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define TC_ACT_UNSPEC (-1)
#define TC_ACT_OK 0

/* Same key layout, map type and flags as tcpscope's connection table, so
 * the lookup costs what tcpscope's does (hash of 40 bytes, one bucket walk). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, struct tcps_key);
	__type(value, __u64);
} floor_conns SEC(".maps");

/* Key in sender order (no canonical ordering): the userspace harness fills
 * the map with the keys of the frames it sends. */
static __always_inline void floor_lookup(const void *data, const void *data_end, __u32 len)
{
	struct tcps_parsed p;
	struct tcps_key k = {};

	if (tcps_parse(data, data_end, len, &p) != TCPS_P_TCP)
		return;
	__builtin_memcpy(k.addr[0], p.saddr, 16);
	__builtin_memcpy(k.addr[1], p.daddr, 16);
	k.port[0] = p.seg.sport;
	k.port[1] = p.seg.dport;
	k.family = p.family;
	bpf_map_lookup_elem(&floor_conns, &k);
}

SEC("xdp")
int floor_xdp_pass(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_PASS;
}

SEC("xdp")
int floor_xdp_lookup(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	floor_lookup(data, data_end, (__u32)(data_end - data));
	return XDP_PASS;
}

SEC("tc")
int floor_tc_pass(struct __sk_buff *skb)
{
	(void)skb;
	return TC_ACT_UNSPEC;
}

SEC("tc")
int floor_tc_pass_egress(struct __sk_buff *skb)
{
	(void)skb;
	return TC_ACT_UNSPEC;
}

SEC("tc")
int floor_tc_lookup(struct __sk_buff *skb)
{
	floor_lookup((void *)(long)skb->data, (void *)(long)skb->data_end, skb->len);
	return TC_ACT_UNSPEC;
}

/* ---- the gate ---- */

volatile __u32 gate_floor;	/* 1: the floor alone; 0: tcpscope behind it */

/* Per CPU, [mode * 2 + direction]: mode 0 tcpscope, 1 floor; direction
 * 0 ingress, 1 egress (bench/floorctl.c reads them in this order). */
struct gate_count {
	__u64 packets, bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct gate_count);
} gate_counts SEC(".maps");

static __always_inline int gate(struct __sk_buff *skb, __u32 dir)
{
	__u32 floor = gate_floor ? 1 : 0, i = floor * 2 + dir;
	struct gate_count *c = bpf_map_lookup_elem(&gate_counts, &i);

	if (c) {
		c->packets++;
		c->bytes += skb->len;
	}
	return floor ? TC_ACT_OK : TC_ACT_UNSPEC;
}

SEC("tc")
int floor_tc_gate(struct __sk_buff *skb)
{
	return gate(skb, 0);
}

SEC("tc")
int floor_tc_gate_egress(struct __sk_buff *skb)
{
	return gate(skb, 1);
}

/* ---- call probes ----
 * What one call of each kind the data path makes costs on this host, for
 * bench/NOTES.md's "Calls and returns": with return thunks (AMD's SRSO
 * "Safe RET") and retpolines every return and indirect call is dear. Each
 * probe makes CALL_PROBES calls in a row; (its ns - floor_xdp_pass's) /
 * CALL_PROBES is one call (report.py, pktcost_calls). */
#define CALL_PROBES 16
#define CALLS_X16(s) s s s s s s s s s s s s s s s s
_Static_assert(CALL_PROBES == 16, "CALLS_X16 makes 16");

volatile __u64 call_sink;

/* A subprogram that does next to nothing: the call and return are its cost. */
static __attribute__((noinline)) __u64 call_probe_sub(__u64 x)
{
	return x * 3 + 1;
}

SEC("xdp")
int call_subprog(struct xdp_md *ctx)
{
	__u64 x = ctx->rx_queue_index;

	CALLS_X16(x = call_probe_sub(x);)
	call_sink = x;
	return XDP_PASS;
}

/* A helper that does next to nothing (numa_node_id()): a helper call. */
SEC("xdp")
int call_helper(struct xdp_md *ctx)
{
	__u64 x = 0;

	(void)ctx;
	CALLS_X16(x += bpf_get_numa_node_id();)
	call_sink = x;
	return XDP_PASS;
}

/* The precise clock the data path stamps transitions with. */
SEC("xdp")
int call_clock(struct xdp_md *ctx)
{
	__u64 x = 0;

	(void)ctx;
	CALLS_X16(x += bpf_ktime_get_ns();)
	call_sink = x;
	return XDP_PASS;
}

struct call_locked {
	struct bpf_spin_lock l;
	__u32 pad;
	__u64 v;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct call_locked);
} call_lock_map SEC(".maps");

/* A spin lock taken and dropped around one add, as the locked step's. */
SEC("xdp")
int call_lock(struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct call_locked *c = bpf_map_lookup_elem(&call_lock_map, &zero);

	(void)ctx;
	if (!c)
		return XDP_PASS;
	CALLS_X16(bpf_spin_lock(&c->l); c->v++; bpf_spin_unlock(&c->l);)
	return XDP_PASS;
}
