// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tcpscope stat, in the kernel: a map iterator that counts connections per
 * state of the first side (local, or orig in passive mode). Copying a
 * million 152-byte entries to userspace to read one byte of each took
 * ~0.5 s; counting where they are does not copy them at all. A program
 * per table layout: tcps_count_slots for tcps_conns (an array of slots),
 * tcps_count_states for tcps_halfopen (a hash map). (One program telling
 * them apart by ctx->map->map_type is refused on this kernel: EPERM.)
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "tcpscope.h"
#include "tcps_slots.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u8 tcps_mode = TCPS_MODE_HOST;	/* of the instance that owns the map */

__u64 counts[TCPS_STATE_MAX] = {};
__u64 entries = 0;

static __always_inline void count(const struct tcps_conn *c)
{
	__u8 flags = c->fsm.flags, st;
	int first;

	first = tcps_mode == TCPS_MODE_PASSIVE ? !!(flags & TCPS_C_ORIG1) : !!(flags & TCPS_C_LOCAL1);
	st = first ? c->fsm.ep[1].state : c->fsm.ep[0].state;
	if (st < TCPS_STATE_MAX)
		counts[st]++;
	entries++;
}

/* A hash map of struct tcps_conn: tcps_halfopen. */
SEC("iter/bpf_map_elem")
int tcps_count_states(struct bpf_iter__bpf_map_elem *ctx)
{
	const struct tcps_conn *c = ctx->value;

	if (c)
		count(c);
	return 0;
}

/* The slot array tcps_conns (include/tcps_slots.h): FULL slots are the
 * entries. */
SEC("iter/bpf_map_elem")
int tcps_count_slots(struct bpf_iter__bpf_map_elem *ctx)
{
	const struct tcps_slot *s = ctx->value;

	if (s && (*(volatile const __u32 *)&s->h.tag & TCPS_SLOT_STATE) == TCPS_SLOT_FULL)
		count(&s->c);
	return 0;
}
