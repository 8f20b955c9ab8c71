// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tcpscope stat, in the kernel: a map iterator that counts connections per
 * state of the first side (local, or orig in passive mode). Copying a
 * million 152-byte entries to userspace to read one byte of each took
 * ~0.5 s; counting where they are does not copy them at all. One program
 * for both tables (user/statiter.c attaches it to each): it tells the
 * slot array from the hash map by the map's type.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "tcpscope.h"
#include "tcps_slots.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u8 tcps_mode = TCPS_MODE_HOST;	/* of the instance that owns the map */

__u64 counts[TCPS_STATE_MAX] = {};
__u64 entries = 0;

/* The entry of an element: tcps_conns is an array of slots (only FULL
 * ones are entries, include/tcps_slots.h), tcps_halfopen a hash map of
 * struct tcps_conn. NULL: no entry. */
static __always_inline const struct tcps_conn *entry_of(struct bpf_iter__bpf_map_elem *ctx)
{
	const struct tcps_slot *s = ctx->value;
	struct bpf_map *map = ctx->map;
	__u32 t;

	if (!s || !map)
		return NULL;
	if (map->map_type != BPF_MAP_TYPE_ARRAY)
		return ctx->value;
	t = *(volatile const __u32 *)&s->h.tag;
	return (t & TCPS_SLOT_STATE) == TCPS_SLOT_FULL ? &s->c : NULL;
}

SEC("iter/bpf_map_elem")
int tcps_count_states(struct bpf_iter__bpf_map_elem *ctx)
{
	const struct tcps_conn *c = entry_of(ctx);
	__u8 flags, st;
	int first;

	if (!c)
		return 0;
	flags = c->fsm.flags;
	first = tcps_mode == TCPS_MODE_PASSIVE ? !!(flags & TCPS_C_ORIG1) : !!(flags & TCPS_C_LOCAL1);
	st = first ? c->fsm.ep[1].state : c->fsm.ep[0].state;
	if (st < TCPS_STATE_MAX)
		counts[st]++;
	entries++;
	return 0;
}
