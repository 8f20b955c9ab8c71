// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tcpscope top's panes, in the kernel: a BPF_PROG_TYPE_SYSCALL program,
 * run on demand with BPF_PROG_TEST_RUN, walks the running instance's
 * pinned tables with bpf_for_each_map_elem and aggregates them
 * (include/tcps_views.h) into its own global data, which userspace reads
 * through the skeleton's mmap. Copying a million entries out took ~1 s
 * and 225 MB per refresh; this copies none. The two tables are
 * placeholders (tables.bpf.h): user/views.c points them at the pins
 * (bpf_map__reuse_fd) before loading.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

/* Whether the tables carry tcps_conn.h (value size TCPS_CONN_SIZE_FULL), set
 * before load: the verifier checks reads against the real value size. */
const volatile __u8 tcps_views_health = 1;
#define TCPS_VIEWS_HEALTH() (tcps_views_health)

#include "tcps_views.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#include "tables.bpf.h"

/* Set by userspace before each run. */
struct tcps_views_cfg cfg = {};
/* The results; userspace zeroes them before each run. */
struct tcps_views views = {};

/* The big aggregates: one-element arrays that userspace maps
 * (BPF_F_MMAPABLE), too big for .bss's one value with libbpf 1.1. */
struct tcps_views_ports {
	__u32 n[TCPS_VIEWS_PORTS];
};
struct tcps_views_remotes {
	struct tcps_views_remote r[TCPS_VIEWS_REMOTES];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tcps_views_ports);
} views_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tcps_views_remotes);
} views_remotes SEC(".maps");

struct walk_ctx {
	__u32 *ports;
	struct tcps_views_remote *remotes;
	int halfopen;
};

/* An entry of tcps_halfopen (a hash map). */
static long walk_one(struct bpf_map *map __attribute__((unused)), struct tcps_key *key,
		     struct tcps_conn *val, struct walk_ctx *w)
{
	tcps_views_add(&views, w->remotes, w->ports, &cfg, key, val, w->halfopen);
	return 0;
}

/* A slot of tcps_conns (an array: every slot, FULL ones counted, the key
 * rebuilt from the slot). */
static long walk_slot(struct bpf_map *map __attribute__((unused)), __u32 *idx __attribute__((unused)),
		      struct tcps_slot *s, struct walk_ctx *w)
{
	struct tcps_key k;

	if (!tcps_slot_full_key(s, &k))
		tcps_views_add(&views, w->remotes, w->ports, &cfg, &k, &s->c, 0);
	return 0;
}

SEC("syscall")
int tcps_views_walk(void *ctx __attribute__((unused)))
{
	struct tcps_views_remotes *r;
	struct tcps_views_ports *p;
	struct walk_ctx w = {};
	__u32 zero = 0;

	p = bpf_map_lookup_elem(&views_ports, &zero);
	r = bpf_map_lookup_elem(&views_remotes, &zero);
	if (!p || !r)
		return 1;
	w.ports = p->n;
	w.remotes = r->r;
	bpf_for_each_map_elem(&tcps_conns, walk_slot, &w, 0);
	w.halfopen = 1;
	bpf_for_each_map_elem(&tcps_halfopen, walk_one, &w, 0);
	return 0;
}
