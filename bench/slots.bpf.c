// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A connection table of our own, measured against a BPF hash map of the
 * product's shape (bench/slots.c drives both with BPF_PROG_TEST_RUN; never
 * attached). The table's algorithm and its concurrency argument are
 * include/tcps_slots.h; this object supplies its primitives (the array,
 * bpf_loop, the slot's bpf_spin_lock) and the programs:
 *
 *   slots_track        parse, canonical key, find the tuple's slot; on a
 *                      hit store last_tick (an RST deletes: tombstone), on
 *                      a miss insert it
 *   floor_track        the same against the hash map: lookup, store
 *                      last_tick, or bpf_map_update_elem(BPF_NOEXIST)
 *   slots_collect_run  one tombstone collector pass (compaction, reclaim)
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "parse.h"

#define TCPS_SLOTS_INLINE static __always_inline
#define TCPS_SLOTS_READ(x) (*(volatile __typeof__(x) *)&(x))
#define TCPS_SLOTS_WRITE(x, v) ((x) = (v))
#include "slots.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u32 slots_n = 1;	/* slots in the table (max_entries) */
const volatile __u32 slots_seed = 0;
__u32 slots_epoch;	/* the collector's epoch (tcps_slots_collect), set by userspace */

/* The table: slots_n fixed slots, allocated whole at creation. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct slot);
} slots SEC(".maps");

/* The floor: tcps_conns' shape (40-byte key, 120-byte value, grows). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1);
	__type(key, struct tcps_key);
	__type(value, struct floor_val);
} floor_conns SEC(".maps");

/* enum slots_counter, per CPU: one lookup a packet, in both programs. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct slots_cnt);
} slots_stats SEC(".maps");

struct floor_val floor_zero = {};

/* The collector's state for one pass: userspace reads the counters. */
struct tcps_slots_coll coll;
__u64 slots_used;	/* slots not EMPTY (tcps_slots_use); no cap but the table's size */

static __always_inline __u64 *counters(void)
{
	__u32 zero = 0;
	struct slots_cnt *c = bpf_map_lookup_elem(&slots_stats, &zero);

	return c ? c->c : NULL;
}

/* ---- include/tcps_slots.h's primitives ---- */
TCPS_SLOTS_INLINE __u32 tcps_slots_n(void)
{
	return slots_n;
}

TCPS_SLOTS_INLINE __u32 tcps_slots_seed(void)
{
	return slots_seed;
}

TCPS_SLOTS_INLINE __u32 tcps_slots_epoch(void)
{
	return TCPS_SLOTS_READ(slots_epoch);
}

/* The header is a slot's first member: the element is the header. */
TCPS_SLOTS_INLINE struct tcps_slot_hdr *tcps_slot_get(__u32 i)
{
	return bpf_map_lookup_elem(&slots, &i);
}

TCPS_SLOTS_INLINE void tcps_slot_lock(struct tcps_slot_hdr *s)
{
	bpf_spin_lock(&((struct slot *)s)->lock);
}

TCPS_SLOTS_INLINE void tcps_slot_unlock(struct tcps_slot_hdr *s)
{
	bpf_spin_unlock(&((struct slot *)s)->lock);
}

/* A new tuple's payload: a fresh FSM, both ticks *init. */
TCPS_SLOTS_INLINE void tcps_slot_payload_init(struct tcps_slot_hdr *h, const void *init)
{
	struct slot *s = (struct slot *)h;
	__u32 now = *(const __u32 *)init;

	__builtin_memset(&s->fsm, 0, sizeof(s->fsm));
	s->fsm.flags = TCPS_C_NEW;
	s->first_tick = now;
	s->last_tick = now;
}

TCPS_SLOTS_INLINE void tcps_slot_payload_copy(struct tcps_slot_hdr *dst,
					      const struct tcps_slot_hdr *src)
{
	struct slot *d = (struct slot *)dst;
	const struct slot *s = (const struct slot *)src;

	d->fsm = s->fsm;
	d->first_tick = s->first_tick;
	d->last_tick = s->last_tick;
}

TCPS_SLOTS_INLINE void tcps_slots_loop(__u32 n, long (*step)(__u32 i, void *ctx), void *ctx)
{
	bpf_loop(n, step, ctx, 0);
}

TCPS_SLOTS_INLINE struct tcps_slots_coll *tcps_slots_coll(void)
{
	return &coll;
}

TCPS_SLOTS_INLINE __u64 *tcps_slots_used(void)
{
	return &slots_used;
}

TCPS_SLOTS_INLINE __u32 tcps_slots_cap(void)
{
	return slots_n;
}

static __always_inline int parse_key(void *data, void *data_end, struct tcps_key *k, __u8 *flags)
{
	struct tcps_parsed p;

	if (tcps_parse(data, data_end, (__u32)(data_end - data), &p) != TCPS_P_TCP)
		return -1;
	tcps_parsed_key(&p, k);
	*flags = p.seg.flags;
	return 0;
}

SEC("xdp")
int slots_track(struct xdp_md *ctx)
{
	struct tcps_slot_hdr *s;
	__u32 h, home, want, now, walked;
	struct tcps_key k;
	__u64 *c = counters();
	__u8 flags;

	if (!c || parse_key((void *)(long)ctx->data, (void *)(long)ctx->data_end, &k, &flags))
		return XDP_PASS;
	h = tcps_slots_hash(&k, slots_seed);
	home = tcps_slots_home(h, slots_n);
	want = tcps_slots_want(h, k.family);
	now = (__u32)(bpf_ktime_get_coarse_ns() >> 20);
	s = tcps_slots_find(&k, home, want, &walked);
	c[SLOTS_PROBES] += walked;
	if (s) {
		c[SLOTS_HIT]++;
		if (!(flags & TCPS_RST)) {
			((struct slot *)s)->last_tick = now;
		} else {
			tcps_slots_delete(s, want);
			c[SLOTS_DELETE]++;
		}
	} else if (!(flags & TCPS_RST)) {
		c[SLOTS_INSERT + tcps_slots_insert(&k, home, want, &now, &s)]++;
	}
	return XDP_PASS;
}

SEC("xdp")
int floor_track(struct xdp_md *ctx)
{
	struct floor_val *v;
	struct tcps_key k;
	__u64 *c = counters();
	__u8 flags;
	__u32 now;

	if (!c || parse_key((void *)(long)ctx->data, (void *)(long)ctx->data_end, &k, &flags))
		return XDP_PASS;
	now = (__u32)(bpf_ktime_get_coarse_ns() >> 20);
	v = bpf_map_lookup_elem(&floor_conns, &k);
	if (v) {
		c[SLOTS_FLOOR_HIT]++;
		if (!(flags & TCPS_RST))
			v->last_tick = now;
		else if (!bpf_map_delete_elem(&floor_conns, &k))
			c[SLOTS_FLOOR_DELETE]++;
	} else if (!(flags & TCPS_RST)) {	/* as slots_track: an RST creates nothing */
		if (bpf_map_update_elem(&floor_conns, &k, &floor_zero, BPF_NOEXIST))
			c[SLOTS_FLOOR_FAIL]++;
		else
			c[SLOTS_FLOOR_INSERT]++;
	}
	return XDP_PASS;
}

SEC("syscall")
int slots_collect_run(void *ctx)
{
	(void)ctx;
	return tcps_slots_collect();
}
