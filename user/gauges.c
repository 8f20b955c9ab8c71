// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Per-state gauges: stat, /metrics and top read 2 x 14 per-CPU slots of
 * tcps_trans instead of walking a million entries (issue 11.3).
 *
 * The data path counts what it does (tcps_path.h: create, state change of
 * the first side, promotion) with plain per-CPU adds into one group. What
 * userspace does itself (expiry and early drop in gc.c, seeding and
 * listener removal in seed.c, replay's expiry) goes into a second group
 * that only the owning process writes, for this reason: userspace cannot
 * add to a per-CPU slot, it can only overwrite every CPU's copy, so
 * writing the data path's group would lose the adds that a CPU makes
 * between our read and our write. With a group of its own and a single
 * writer, the owner keeps the totals in memory and overwrites them
 * (CPU 0's copy holds the total, the others 0): no read, no race, one
 * syscall per change. The alternative, a BPF syscall program doing the
 * delete and an atomic add, would make every userspace writer load a
 * program, and buy nothing more: either way a data-path CPU that looked
 * the entry up just before the delete may still step it (a window of one
 * syscall after minutes of silence, as gc.c describes).
 *
 * A delete reads the value it removes (BPF_MAP_LOOKUP_AND_DELETE_ELEM,
 * under the entry's lock), so the gauges lose exactly the state that
 * leaves the table, even if a segment moved it after the expiry check.
 * The group lives in the pinned tcps_trans map: a restarted daemon that
 * adopts the pins reads its totals back; a new map starts at zero.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gauges.h"

struct tcps_gauge_owner tcps_daemon_gauges = { .trans_fd = -1, .conns_fd = -1, .halfopen_fd = -1 };

int tcps_gauges_read(int trans_fd, struct tcps_gauges *g)
{
	__u64 v[2 * TCPS_G_GROUP];
	int err, i;

	_Static_assert(TCPS_GAUGE_USER == TCPS_GAUGE_BASE + TCPS_G_GROUP, "groups are adjacent");
	err = tcps_percpu_sum(trans_fd, TCPS_GAUGE_BASE, 2 * TCPS_G_GROUP, v);
	if (err)
		return err;
	for (i = 0; i < TCPS_G_GROUP; i++)
		v[i] += v[TCPS_G_GROUP + i];	/* wraps back where a group went below 0 */
	for (i = 0; i < TCPS_STATE_MAX; i++)
		g->states[i] = v[TCPS_G_STATE + i];
	g->conns = v[TCPS_G_CONNS];
	g->halfopen = v[TCPS_G_HALFOPEN];
	return 0;
}

int tcps_gauge_owner_init(struct tcps_gauge_owner *o, int trans_fd, int conns_fd, int halfopen_fd,
			  __u32 mode)
{
	int err;

	memset(o, 0, sizeof(*o));
	o->trans_fd = o->conns_fd = o->halfopen_fd = -1;
	o->ncpu = libbpf_num_possible_cpus();
	if (o->ncpu < 0)
		return o->ncpu;
	o->buf = calloc(2 * (size_t)o->ncpu, sizeof(__u64));
	if (!o->buf)
		return -ENOMEM;
	err = tcps_percpu_sum(trans_fd, TCPS_GAUGE_USER, TCPS_G_GROUP, o->v);
	if (err) {
		tcps_gauge_owner_fini(o);
		return err;
	}
	o->trans_fd = trans_fd;
	o->conns_fd = conns_fd;
	o->halfopen_fd = halfopen_fd;
	o->mode = mode;
	return 0;
}

void tcps_gauge_owner_fini(struct tcps_gauge_owner *o)
{
	free(o->buf);
	memset(o, 0, sizeof(*o));
	o->trans_fd = o->conns_fd = o->halfopen_fd = -1;
}

void tcps_gauge_note(struct tcps_gauge_owner *o, int tbl_fd, const struct tcps_conn *c, int delta)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u32 keys[2], n = 2, i;
	__u8 st;

	if (o->trans_fd < 0 || tbl_fd < 0 || (tbl_fd != o->conns_fd && tbl_fd != o->halfopen_fd))
		return;
	st = c->fsm.ep[tcps_first_side(c, o->mode)].state;
	keys[0] = TCPS_G_STATE + (st < TCPS_STATE_MAX ? st : 0);
	keys[1] = tbl_fd == o->conns_fd ? TCPS_G_CONNS : TCPS_G_HALFOPEN;
	memset(o->buf, 0, 2 * (size_t)o->ncpu * sizeof(__u64));
	for (i = 0; i < 2; i++) {
		o->v[keys[i]] += (__u64)(__s64)delta;
		o->buf[i * (size_t)o->ncpu] = o->v[keys[i]];	/* CPU 0 holds the total */
		keys[i] += TCPS_GAUGE_USER;
	}
	if (bpf_map_update_batch(o->trans_fd, keys, o->buf, &n, &opts) && !o->warned) {
		o->warned = true;
		pr_warn("gauges: cannot update the userspace group: %s; stat counts may drift (stat --walk counts the table)",
			strerror(errno));
	}
}
