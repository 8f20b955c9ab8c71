/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Stand-ins for the data path's tables (bpf/tcpscope.bpf.c) in the objects
 * that read them from outside the data path (expire.bpf.c, views.bpf.c):
 * the loader replaces both with the live maps (bpf_map__reuse_fd), whose
 * size and flags then apply; only the key and value layout matter here.
 */
#ifndef TCPS_TABLES_BPF_H
#define TCPS_TABLES_BPF_H

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1);
	__type(key, struct tcps_key);
	__type(value, struct tcps_conn);
} tcps_conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, struct tcps_key);
	__type(value, struct tcps_conn);
} tcps_halfopen SEC(".maps");

#endif /* TCPS_TABLES_BPF_H */
