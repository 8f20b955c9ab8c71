// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tcpscope expiry scan, in the kernel. The daemon (user/gc.c) runs it with
 * BPF_PROG_TEST_RUN over the live tables (its maps are the daemon's, reused
 * by fd): every entry is visited where it lies, and only the keys of the
 * expired ones (and, when asked, of closing ones for early drop) come back.
 * Copying the tables out to find them cost ~0.3-0.5 µs an entry; this
 * ~80-100 ns (cache misses) plus ~15 ns a hash bucket (tcps_halfopen) or
 * a slot (tcps_conns, an array: every slot, FULL or not).
 * Userspace deletes the few found, after reading each again under its
 * lock. The reads here are unlocked: a torn read can only make an entry a
 * candidate or miss it for one scan, and the delete path decides with the
 * same rule (include/tcps_expire.h).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define TCPS_EXPIRE_INLINE static __always_inline
#include "tcps_expire.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#include "tables.bpf.h"

struct tcps_expire_scan scan = {};
struct tcps_key expired[2][TCPS_EXPIRE_KEYS] = {};	/* per table */
struct tcps_key closing[TCPS_EXPIRE_EARLY_KEYS] = {};	/* of tcps_conns */

struct visit_ctx {
	__u64 min_idle;		/* ns: nothing idle for less expires */
	__u32 table;
	__u32 early;		/* collect closing entries */
};

/* One entry: expired (its key kept), closing (kept for early drop), or
 * neither (when the next one is due). */
static __always_inline void visit(const struct tcps_key *key, const struct tcps_conn *c,
				  struct visit_ctx *v)
{
	__u64 now = scan.now, last = tcps_tick_last_ns(c->last_tick, now), due;
	__u32 n, t = v->table & 1;

	/* Most entries are recent: last_tick alone clears them (none expires
	 * before the shortest timeout), and the rest of the entry is not read. */
	if (now - last < v->min_idle && !v->early) {
		due = last + v->min_idle;
		if (due < scan.next_due)
			scan.next_due = due;
		return;
	}
	due = tcps_expire_deadline(c, now, &scan.to);
	if (due > now && due < scan.next_due)
		scan.next_due = due;
	if (due != ~0ULL && due <= now) {	/* tcps_expire_due, deadline once */
		n = scan.found[t]++;
		if (n < TCPS_EXPIRE_KEYS)
			expired[t][n] = *key;
		return;	/* a full buffer: counted, the next scan takes the rest */
	}
	n = scan.early_found;
	if (v->early && n < scan.early_want && n < TCPS_EXPIRE_EARLY_KEYS &&
	    tcps_expire_closing(c, scan.to.mode)) {
		closing[n] = *key;
		scan.early_found = n + 1;
	}
}

/* A FULL slot of tcps_conns: its key rebuilt from the slot. */
static __noinline void visit_slot(struct tcps_slot *s, struct visit_ctx *v)
{
	struct tcps_key k;

	if (!s || tcps_slot_full_key(s, &k))
		return;
	scan.seen[0]++;
	visit(&k, &s->c, v);
}

/*
 * tcps_conns is an array: every slot is looked at, FULL or not, so the
 * walk is over slot indexes in a bpf_loop, SCAN_CHUNK slots a step, and
 * only a slot's tag is read before it is known FULL. bpf_for_each_map_elem
 * made one call through a pointer per slot: ~77 ns a slot, 23 ms a scan
 * of the default table (300k slots) however few it held, which the scan
 * cadence (user/gc.c: at most 1/200 of a core) turned into expiry 1.2 s
 * late there. The verifier inlines bpf_loop with a known callback.
 */
#define SCAN_CHUNK 32

static long visit_chunk(__u32 i, struct visit_ctx *v)
{
	__u32 j, idx, base = i * SCAN_CHUNK;
	struct tcps_slot *s;

	for (j = 0; j < SCAN_CHUNK; j++) {
		idx = base + j;
		s = bpf_map_lookup_elem(&tcps_conns, &idx);
		if (!s)
			return 1;	/* past the end */
		if ((TCPS_SLOTS_READ(s->h.tag) & TCPS_SLOT_STATE) == TCPS_SLOT_FULL)
			visit_slot(s, v);
	}
	return 0;
}

/* An entry of tcps_halfopen (a hash map). */
static long visit_entry(struct bpf_map *map __attribute__((unused)), const struct tcps_key *key,
			struct tcps_conn *c, struct visit_ctx *v)
{
	visit(key, c, v);
	return 0;
}

SEC("syscall")
int tcps_expire_scan(void *ctx __attribute__((unused)))
{
	struct visit_ctx v = { .min_idle = tcps_expire_min_idle(&scan.to) };
	long n;

	scan.found[0] = scan.found[1] = 0;
	scan.seen[0] = scan.seen[1] = 0;
	scan.early_found = 0;
	scan.next_due = ~0ULL;
	/* A table known to be empty is left out: the walk costs ~15 ns per
	 * hash bucket even when there is nothing in it. */
	if (!scan.skip[0]) {
		v.early = scan.early_want > 0;
		n = bpf_loop((tcps_slots_n_cfg + SCAN_CHUNK - 1) / SCAN_CHUNK, visit_chunk, &v, 0);
		if (n < 0)
			return (int)n;
	}
	if (!scan.skip[1]) {
		v.table = 1;
		v.early = 0;
		n = bpf_for_each_map_elem(&tcps_halfopen, visit_entry, &v, 0);
		if (n < 0)
			return (int)n;
		scan.seen[1] = (__u64)n;
	}
	return 0;
}

/* The key of the entry tcps_expire_hold is to hold (set by the daemon). */
struct tcps_key hold_key = {};

/*
 * The kernel still holds the local socket of an entry that timed out
 * (user/gc.c asked sock_diag): count one hold, under the entry's lock, so
 * that the scans leave it for one more timeout of silence. last_tick and
 * last_seen are left alone: they are what `list` shows. Returns 1 if held, 0 if the entry
 * is gone (the tag is read again under the lock: a slot deleted, or
 * moved by the collector, since the lookup is not the entry's).
 */
static __always_inline int hold(struct tcps_slot_hdr *s, __u32 want)
{
	struct tcps_conn *c = tcps_slot_conn(s);
	int held = 0;

	if (!s || !c)
		return 0;
	bpf_spin_lock(&c->lock);
	if ((TCPS_SLOTS_READ(s->tag) & ~TCPS_SLOT_ILOCK) == want) {
		if (c->fsm.holds < 255)
			c->fsm.holds++;
		held = 1;
	}
	bpf_spin_unlock(&c->lock);
	return held;
}

SEC("syscall")
int tcps_expire_hold(void *ctx __attribute__((unused)))
{
	struct tcps_slots_at a = tcps_slots_of(&hold_key);
	struct tcps_slot_hdr *s = tcps_conns_find(&hold_key, a);

	if (!s)
		return 0;
	/* A slot the collector moved meanwhile: look once more. */
	return hold(s, a.want) || hold(tcps_conns_find(&hold_key, a), a.want);
}
