/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Stand-ins for the data path's tables (bpf/tcpscope.bpf.c) in the objects
 * that read them from outside the data path (expire.bpf.c, views.bpf.c):
 * the loader replaces both with the live maps (bpf_map__reuse_fd), whose
 * size and flags then apply; only the key and value layout matter here.
 * tcps_conns is the slot array (slots_prim.bpf.h, as a reader: the loader
 * sets its rodata tcps_slots_seed_cfg and tcps_slots_n_cfg here too);
 * tcps_halfopen a hash map of struct tcps_conn.
 */
#ifndef TCPS_TABLES_BPF_H
#define TCPS_TABLES_BPF_H

#include "slots_prim.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, struct tcps_key);
	__type(value, struct tcps_conn);
} tcps_halfopen SEC(".maps");

/* The tuple of slot s if it is FULL, into k: 0, or -1 (EMPTY, TOMB, BUSY,
 * or reused while its key was read). */
static __always_inline int tcps_slot_full_key(const struct tcps_slot *s, struct tcps_key *k)
{
	__u32 t = TCPS_SLOTS_READ(s->h.tag) & ~TCPS_SLOT_ILOCK;

	if ((t & TCPS_SLOT_STATE) != TCPS_SLOT_FULL)
		return -1;
	tcps_slot_key(&s->h, t, k);
	return (TCPS_SLOTS_READ(s->h.tag) & ~TCPS_SLOT_ILOCK) == t ? 0 : -1;
}

#endif /* TCPS_TABLES_BPF_H */
