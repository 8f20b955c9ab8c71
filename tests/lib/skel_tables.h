/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The data path object's connection tables as the BPF tests make and read
 * them (tests/bpf/test_bpf.c, test_hostile.c): the slot array sized and
 * seeded before load as the daemon does, and the struct tcps_ctable of
 * each table. Include after tcpscope.skel.h and ctable.h.
 */
#ifndef TCPS_SKEL_TABLES_H
#define TCPS_SKEL_TABLES_H

/* The slot array's hash seed in the tests (the daemon draws one). */
#define TEST_SLOTS_SEED 0x7e57c0deu

/* Before load: tcps_conns a slot array for max_conns connections. */
static inline void test_tables_size(struct tcpscope_bpf *skel, __u32 max_conns)
{
	skel->rodata->tcps_slots_n_cfg = tcps_slots_for(max_conns);
	skel->rodata->tcps_slots_seed_cfg = TEST_SLOTS_SEED;
	bpf_map__set_max_entries(skel->maps.tcps_conns, skel->rodata->tcps_slots_n_cfg);
}

/* The loaded object's connection table (tcps_conns), or its half-open
 * one: the one place that makes a struct tcps_ctable. */
static inline struct tcps_ctable test_table(struct tcpscope_bpf *skel, bool halfopen)
{
	struct bpf_map *m = halfopen ? skel->maps.tcps_halfopen : skel->maps.tcps_conns;

	if (halfopen)
		return tcps_ctable_hash(bpf_map__fd(m), bpf_map__value_size(m), true);
	return tcps_ctable_slots(bpf_map__fd(m), bpf_map__value_size(m) - sizeof(struct tcps_slot_hdr),
				 TEST_SLOTS_SEED, bpf_map__max_entries(m),
				 bpf_program__fd(skel->progs.tcps_sys),
				 bpf_map__fd(skel->maps.tcps_trans));
}

#endif /* TCPS_SKEL_TABLES_H */
