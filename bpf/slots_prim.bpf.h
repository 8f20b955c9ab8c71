/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The connection table tcps_conns (include/tcps_slots.h: an array of
 * struct tcps_slot, open addressing) in every BPF object that touches it:
 * the map, include/tcps_slots.h's primitives, and the lookup and insert
 * the data path and the syscall programs share. Modelled on the
 * prototype's bench/slots.bpf.c.
 *
 * What the loader sets in every object that includes this, before load:
 *   map tcps_conns           BPF_MAP_TYPE_ARRAY, key __u32, max_entries
 *                            tcps_slots_for(max_conns), value size
 *                            TCPS_SLOT_SIZE_FULL (health on) or _SLIM
 *                            (health off: the value ends before c.h; the
 *                            map's BTF then has a value type of that size
 *                            with the bpf_spin_lock at offset 40, c.lock)
 *   rodata tcps_slots_seed_cfg  the table's hash seed (tcps_info.slots_seed)
 *   rodata tcps_slots_n_cfg     the array's max_entries
 * A lookup with tcps_slots_n_cfg 0 finds nothing and an insert fails
 * (counted TABLE_FULL): a loader that forgot it sees nothing tracked.
 *
 * The includer that writes the table (the data path's object: inserts,
 * tombstones, the collector) defines TCPS_SLOTS_WRITER, its tcps_info map
 * (the collector's epoch, tcps_info.slots_epoch, is read from it at each
 * delete: deletes are rare) and TCPS_SLOTS_HEALTH() (nonzero: values
 * carry c.h) before including this. The readers (expire, views) may only
 * look up: a write primitive used there fails the build.
 */
#ifndef TCPS_SLOTS_PRIM_BPF_H
#define TCPS_SLOTS_PRIM_BPF_H

#define TCPS_SLOTS_INLINE static __always_inline
#define TCPS_SLOTS_READ(x) (*(volatile __typeof__(x) *)&(x))
#define TCPS_SLOTS_WRITE(x, v) ((x) = (v))
/* Unrolled probes of a lookup; the rest is tcps_conns_find_far, verified
 * once (bench/NOTES.md "The data path on the slot array": 16 or 4
 * unrolled at three call sites took the entries past 1M instructions and
 * 512 bytes of stack). */
#define TCPS_SLOTS_PROBE_INLINE 2
#include "tcps_slots.h"

/* The loader's: see above. */
const volatile __u32 tcps_slots_seed_cfg = 0;
const volatile __u32 tcps_slots_n_cfg = 0;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tcps_slot);
} tcps_conns SEC(".maps");

_Static_assert(__builtin_offsetof(struct tcps_slot, c.lock) == 40, "the slot's lock is c.lock");
_Static_assert(__builtin_offsetof(struct tcps_conn, fsm) == 4, "the payload after the lock");

TCPS_SLOTS_INLINE __u32 tcps_slots_n(void)
{
	return tcps_slots_n_cfg;
}

TCPS_SLOTS_INLINE __u32 tcps_slots_seed(void)
{
	return tcps_slots_seed_cfg;
}

/* The header is a slot's first member: the element is the header. */
TCPS_SLOTS_INLINE struct tcps_slot_hdr *tcps_slot_get(__u32 i)
{
	if (i >= tcps_slots_n_cfg)
		return NULL;
	return bpf_map_lookup_elem(&tcps_conns, &i);
}

/* The slot's struct tcps_conn, NULL for none. The empty asm keeps clang
 * from adding the offset before the test (a select): the verifier refuses
 * arithmetic on a pointer that may be NULL. */
TCPS_SLOTS_INLINE struct tcps_conn *tcps_slot_conn(struct tcps_slot_hdr *s)
{
	if (!s)
		return NULL;
	__asm__ volatile("" : "+r"(s));
	return &((struct tcps_slot *)s)->c;
}

TCPS_SLOTS_INLINE void tcps_slot_lock(struct tcps_slot_hdr *s)
{
	bpf_spin_lock(&((struct tcps_slot *)s)->c.lock);
}

TCPS_SLOTS_INLINE void tcps_slot_unlock(struct tcps_slot_hdr *s)
{
	bpf_spin_unlock(&((struct tcps_slot *)s)->c.lock);
}

TCPS_SLOTS_INLINE void tcps_slots_loop(__u32 n, long (*step)(__u32 i, void *ctx), void *ctx)
{
	bpf_loop(n, step, ctx, 0);
}

#ifdef TCPS_SLOTS_WRITER
/* The collector's state for one pass (tcps_sys_collect), a struct
 * tcps_slots_coll whose counters userspace reads in .bss: as bytes, so
 * that every user of the skeleton does not need tcps_slots.h. */
__u8 tcps_coll[sizeof(struct tcps_slots_coll)] __attribute__((aligned(8))) = {};

TCPS_SLOTS_INLINE struct tcps_slots_coll *tcps_slots_coll(void)
{
	return (struct tcps_slots_coll *)tcps_coll;
}

/* Slots not EMPTY (include/tcps_slots.h tcps_slots_use), and the cap on
 * them: 7/8 of the slots, the connections the loader sized the table for
 * (tcps_slots_for(max_conns) slots hold at least max_conns). */
__u64 tcps_slots_used_n = 0;

TCPS_SLOTS_INLINE __u64 *tcps_slots_used(void)
{
	return &tcps_slots_used_n;
}

TCPS_SLOTS_INLINE __u32 tcps_slots_cap(void)
{
	return tcps_slots_cap_of(tcps_slots_n_cfg);
}

TCPS_SLOTS_INLINE __u32 tcps_slots_epoch(void)
{
	__u32 zero = 0;
	struct tcps_info *info = bpf_map_lookup_elem(&tcps_info, &zero);

	return info ? TCPS_SLOTS_READ(info->slots_epoch) : 0;
}

/* What a value holds of struct tcps_conn after its lock: all of it with
 * health on, up to c.ifindex with it off (the map's value ends there). Two
 * constant copies, one pruned by the verifier on the const volatile. */
#define TCPS_CONN_TAIL_FULL (TCPS_CONN_SIZE_FULL - 4)
#define TCPS_CONN_TAIL_SLIM (TCPS_CONN_SIZE_SLIM - 4)

TCPS_SLOTS_INLINE void tcps_conn_tail_copy(struct tcps_conn *d, const struct tcps_conn *s)
{
	if (TCPS_SLOTS_HEALTH())
		__builtin_memcpy(&d->fsm, &s->fsm, TCPS_CONN_TAIL_FULL);
	else
		__builtin_memcpy(&d->fsm, &s->fsm, TCPS_CONN_TAIL_SLIM);
}

/* A new tuple's payload: the struct tcps_conn at init, but its lock. */
TCPS_SLOTS_INLINE void tcps_slot_payload_init(struct tcps_slot_hdr *s, const void *init)
{
	tcps_conn_tail_copy(&((struct tcps_slot *)s)->c, init);
}

TCPS_SLOTS_INLINE void tcps_slot_payload_copy(struct tcps_slot_hdr *dst,
					      const struct tcps_slot_hdr *src)
{
	tcps_conn_tail_copy(&((struct tcps_slot *)dst)->c, &((const struct tcps_slot *)src)->c);
}
#else
/* Readers: no write primitive (a use is a build error, not a silent one). */
extern __u32 tcps_slots_no_writes(void)
	__attribute__((error("a reader of tcps_conns may not write it")));

TCPS_SLOTS_INLINE struct tcps_slots_coll *tcps_slots_coll(void)
{
	return (struct tcps_slots_coll *)(long)tcps_slots_no_writes();
}

TCPS_SLOTS_INLINE __u32 tcps_slots_epoch(void)
{
	return tcps_slots_no_writes();
}

TCPS_SLOTS_INLINE __u64 *tcps_slots_used(void)
{
	return (__u64 *)(long)tcps_slots_no_writes();
}

TCPS_SLOTS_INLINE __u32 tcps_slots_cap(void)
{
	return tcps_slots_no_writes();
}

TCPS_SLOTS_INLINE void tcps_slot_payload_init(struct tcps_slot_hdr *s, const void *init)
{
	(void)s;
	(void)init;
	tcps_slots_no_writes();
}

TCPS_SLOTS_INLINE void tcps_slot_payload_copy(struct tcps_slot_hdr *dst,
					      const struct tcps_slot_hdr *src)
{
	(void)dst;
	(void)src;
	tcps_slots_no_writes();
}
#endif /* TCPS_SLOTS_WRITER */

/* k's home and fingerprint tag. */
struct tcps_slots_at {
	__u32 home, want;
};

TCPS_SLOTS_INLINE struct tcps_slots_at tcps_slots_of(const struct tcps_key *k)
{
	__u32 h = tcps_slots_hash(k, tcps_slots_seed_cfg);

	return (struct tcps_slots_at){ tcps_slots_home(h, tcps_slots_n_cfg),
				       tcps_slots_want(h, k->family) };
}

/* The lookup's walk past its unrolled probes, verified once: the index of
 * k's slot, or TCPS_SLOTS_NONE. */
__noinline __u32 tcps_conns_find_far(const struct tcps_key *k, __u32 home, __u32 want)
{
	__u32 n;

	if (!k)
		return TCPS_SLOTS_NONE;
	return tcps_slots_find_far(k, home, want, &n);
}

/* Lock-free lookup of k: its slot, or NULL. */
TCPS_SLOTS_INLINE struct tcps_slot_hdr *tcps_conns_find(const struct tcps_key *k,
							struct tcps_slots_at a)
{
	struct tcps_slot_hdr *s;
	__u32 i;

	s = tcps_slots_find_near(k, a.home, a.want, &i);
	if (!s && i == TCPS_SLOTS_PROBE_INLINE)
		s = tcps_slot_get(tcps_conns_find_far(k, a.home, a.want));
	return s;
}

#endif /* TCPS_SLOTS_PRIM_BPF_H */
