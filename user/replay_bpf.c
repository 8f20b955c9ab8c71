// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Replay's kernel backend: the very XDP object the daemon runs, loaded in
 * passive mode with tcps_replay_clock set, each frame through
 * BPF_PROG_TEST_RUN (no interface, nothing attached or pinned). The
 * capture clock is a plain store into the mmap'ed .bss and the ring buffer
 * is mmap'ed too, so only the test run itself is a syscall.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdlib.h>

#include "common.h"
#include "gauges.h"
#include "maps.h"
#include "replay_backend.h"
#include "tcpscope.skel.h"

struct replay_bpf {
	struct tcpscope_bpf *skel;
	struct ring_buffer *rb;
	int prog_fd, conns_fd, halfopen_fd, stats_fd;
	struct tcps_gauge_owner gauges;	/* for what replay's expiry deletes */
};

static void bpf_close(void *bp)
{
	struct replay_bpf *b = bp;

	if (!b)
		return;
	ring_buffer__free(b->rb);
	tcps_gauge_owner_fini(&b->gauges);
	tcpscope_bpf__destroy(b->skel);
	free(b);
}

static int bpf_open(void **bp, tcps_replay_event_fn on_event, void *ctx)
{
	struct replay_bpf *b = calloc(1, sizeof(*b));
	int err;

	if (!b)
		return -ENOMEM;
	b->gauges.trans_fd = b->gauges.conns_fd = b->gauges.halfopen_fd = -1;
	libbpf_set_print(tcps_libbpf_print);
	b->skel = tcpscope_bpf__open();
	if (!b->skel) {
		err = -errno;
		goto fail;
	}
	b->skel->rodata->tcps_mode = TCPS_MODE_PASSIVE;
	b->skel->rodata->tcps_replay_clock = 1;
	/* Only the XDP entry runs here: verifying the tc ones too would
	 * triple the load time. */
	bpf_program__set_autoload(b->skel->progs.tcps_tc_ingress, false);
	bpf_program__set_autoload(b->skel->progs.tcps_tc_egress, false);
	err = tcpscope_bpf__load(b->skel);
	if (err)
		goto fail;
	b->prog_fd = bpf_program__fd(b->skel->progs.tcps_xdp_ingress);
	b->conns_fd = bpf_map__fd(b->skel->maps.tcps_conns);
	b->halfopen_fd = bpf_map__fd(b->skel->maps.tcps_halfopen);
	b->stats_fd = bpf_map__fd(b->skel->maps.tcps_stats);
	err = tcps_gauge_owner_init(&b->gauges, bpf_map__fd(b->skel->maps.tcps_trans), b->conns_fd,
				    b->halfopen_fd, TCPS_MODE_PASSIVE);
	if (err)
		goto fail;
	b->rb = ring_buffer__new(bpf_map__fd(b->skel->maps.tcps_events), on_event, ctx, NULL);
	if (!b->rb) {
		err = -errno;
		goto fail;
	}
	*bp = b;
	return 0;
fail:
	bpf_close(b);
	return err ? err : -EINVAL;
}

static void bpf_set_clock(void *bp, __u64 now_ns)
{
	struct replay_bpf *b = bp;

	b->skel->bss->tcps_clock_ns = now_ns;
}

static int bpf_feed(void *bp, const void *frame, size_t len)
{
	struct replay_bpf *b = bp;
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = (__u32)len, .repeat = 1);

	return bpf_prog_test_run_opts(b->prog_fd, &o) ? -errno : 0;
}

static int bpf_drain(void *bp)
{
	struct replay_bpf *b = bp;
	int n = ring_buffer__consume(b->rb);

	return n < 0 ? n : 0;
}

static int bpf_lookup(void *bp, const struct tcps_key *k, struct tcps_conn *v, bool *halfopen)
{
	struct replay_bpf *b = bp;

	memset(v, 0, sizeof(*v));	/* health off: the tables' values end before `h` */
	if (!bpf_map_lookup_elem_flags(b->conns_fd, k, v, BPF_F_LOCK)) {
		*halfopen = false;
		return 0;
	}
	if (!bpf_map_lookup_elem_flags(b->halfopen_fd, k, v, BPF_F_LOCK)) {
		*halfopen = true;
		return 0;
	}
	return -ENOENT;
}

static int bpf_remove(void *bp, const struct tcps_key *k, bool halfopen)
{
	struct replay_bpf *b = bp;
	int fd = halfopen ? b->halfopen_fd : b->conns_fd;
	struct tcps_conn gone;

	memset(&gone, 0, sizeof(gone));
	if (bpf_map_lookup_and_delete_elem_flags(fd, k, &gone, BPF_F_LOCK))
		return -errno;
	tcps_gauge_note(&b->gauges, fd, &gone, -1);
	return 0;
}

static int bpf_counters(void *bp, __u64 out[TCPS_CNT_MAX])
{
	struct replay_bpf *b = bp;

	return tcps_counters_read(b->stats_fd, out);
}

const struct tcps_replay_backend tcps_replay_bpf = {
	.name = "bpf",
	.open = bpf_open,
	.close = bpf_close,
	.set_clock = bpf_set_clock,
	.feed = bpf_feed,
	.drain = bpf_drain,
	.lookup = bpf_lookup,
	.remove = bpf_remove,
	.counters = bpf_counters,
};
