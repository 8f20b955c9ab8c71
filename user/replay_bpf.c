// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Replay's kernel backend: the very XDP object the daemon runs, loaded in
 * passive mode with tcps_replay_clock set, its frames through
 * BPF_PROG_TEST_RUN (no interface, nothing attached or pinned). A test run
 * is a syscall of ~1 µs, more than the data path's own work on a frame, so
 * frames are queued and run in batches of up to TCPS_REPLAY_BATCH by the
 * replay entry, tcps_xdp_replay (tcpscope.h says the layout), each batch
 * before anything reads the tables or the events. The batch table, like
 * the ring buffer, is mmap'ed: only the test run itself is a syscall.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdlib.h>

#include "common.h"
#include "gauges.h"
#include "maps.h"
#include "parse.h"
#include "replay_backend.h"
#include "slotcfg.h"
#include "tcpscope.skel.h"

struct replay_bpf {
	struct tcpscope_bpf *skel;
	struct ring_buffer *rb;
	int prog_fd, stats_fd;
	struct tcps_ctable tab[2];	/* tcps_conns, tcps_halfopen */
	struct tcps_gauge_owner gauges;	/* for what replay's expiry deletes */
	int collect_fd;			/* tcps_sys_collect */
	__u32 takes;			/* deletes since its last pass */
	__u64 now;			/* the clock of the frames fed from now on */
	int err;			/* of a batch's run: drain() reports it */
	/* The batch: frames in feed order (their table in the .bss), then
	 * laid out last to first for the test run. */
	__u32 n, bytes;
	__u8 queue[TCPS_REPLAY_BYTES], data[TCPS_REPLAY_BYTES];
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

/* The tables' sizes and the slot array's seed, before load: the
 * daemon's for max_conns, replay's seed (replay_backend.h), health on
 * (the object's value). */
static int bpf_slots_config(struct replay_bpf *b, __u32 max_conns)
{
	__u32 n = tcps_slots_for(max_conns);
	int err;

	b->tab[0] = tcps_ctable_slots(-1, TCPS_CONN_SIZE_FULL, TCPS_REPLAY_SLOTS_SEED, n, -1, -1);
	err = bpf_map__set_max_entries(b->skel->maps.tcps_conns, n) ?:
	      bpf_map__set_max_entries(b->skel->maps.tcps_halfopen, tcps_halfopen_default(max_conns));
	return err ?: tcps_slots_rodata(b->skel->obj, TCPS_REPLAY_SLOTS_SEED, n);
}

/* A collector pass: replay's deletes leave tombstones, as the daemon's. */
static int bpf_collect(struct replay_bpf *b)
{
	int info = bpf_map__fd(b->skel->maps.tcps_info), err;
	__u64 ns;

	err = tcps_slots_collect(b->collect_fd, tcps_slots_info_epoch, &info, &ns);
	b->takes = 0;
	return err < 0 ? err : 0;
}

static int bpf_open(void **bp, __u32 max_conns, tcps_replay_event_fn on_event, void *ctx)
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
	err = bpf_slots_config(b, max_conns);
	if (err)
		goto fail;
	/* Only the replay entry runs here: verifying the others too would
	 * triple the load time. */
	bpf_program__set_autoload(b->skel->progs.tcps_xdp_ingress, false);
	bpf_program__set_autoload(b->skel->progs.tcps_tc_ingress, false);
	bpf_program__set_autoload(b->skel->progs.tcps_tc_egress, false);
	bpf_program__set_autoload(b->skel->progs.tcps_xdp_replay, true);
	err = tcpscope_bpf__load(b->skel);
	if (err)
		goto fail;
	b->prog_fd = bpf_program__fd(b->skel->progs.tcps_xdp_replay);
	if (bpf_map_update_elem(bpf_map__fd(b->skel->maps.tcps_replay_next), &(__u32){ 0 },
				&b->prog_fd, BPF_ANY)) {
		err = -errno;
		goto fail;
	}
	b->tab[0].fd = bpf_map__fd(b->skel->maps.tcps_conns);
	b->tab[0].sys_fd = tcps_slots_prog_fd(b->skel->obj, "tcps_sys");
	b->collect_fd = tcps_slots_prog_fd(b->skel->obj, "tcps_sys_collect");
	b->tab[1] = tcps_ctable_hash(bpf_map__fd(b->skel->maps.tcps_halfopen),
				     bpf_map__value_size(b->skel->maps.tcps_halfopen), true);
	if (b->tab[0].sys_fd < 0 || b->collect_fd < 0) {
		err = -ENOENT;
		goto fail;
	}
	b->stats_fd = bpf_map__fd(b->skel->maps.tcps_stats);
	err = tcps_gauge_owner_init(&b->gauges, bpf_map__fd(b->skel->maps.tcps_trans), b->tab[0].fd,
				    b->tab[1].fd, TCPS_MODE_PASSIVE);
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

	b->now = now_ns;
}

/* Run the queued frames, one test run, and take their events. */
static int bpf_flush(struct replay_bpf *b)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = b->data, .data_size_in = b->bytes, .repeat = 1);
	struct tcps_replay_frame *f = b->skel->bss->tcps_replay_frames;
	__u32 i, off = 0, at = b->bytes;
	int n;

	if (!b->n)
		return 0;
	for (i = 0; i < b->n; i++) {	/* the first frame last */
		at -= f[i].len;
		memcpy(b->data + at, b->queue + off, f[i].len);
		off += f[i].len;
	}
	b->skel->bss->tcps_replay_count = b->n;
	b->skel->bss->tcps_replay_bytes = b->bytes;
	b->skel->bss->tcps_replay_done = 0;
	n = (int)b->n;
	b->n = b->bytes = 0;
	if (bpf_prog_test_run_opts(b->prog_fd, &o))
		return -errno;
	if ((int)b->skel->bss->tcps_replay_done != n)
		return -EIO;	/* a frame the program could not reach: never expected */
	n = ring_buffer__consume(b->rb);
	return n < 0 ? n : 0;
}

/* Run what is queued before anything reads the tables or the events. */
static void bpf_sync(struct replay_bpf *b)
{
	if (!b->err)
		b->err = bpf_flush(b);
}

/* Bytes of the frame the data path reads: a TCP frame's headers and
 * options (its wire length goes along), any other frame whole. */
static __u32 frame_needs(const void *frame, size_t len)
{
	struct tcps_parsed p;

	memset(&p, 0, sizeof(p));
	if (tcps_parse(frame, (const __u8 *)frame + len, (__u32)len, &p) != TCPS_P_TCP)
		return (__u32)len;
	return (__u32)p.opt_off + p.opt_len;
}

/* Queue one frame; what BPF_PROG_TEST_RUN would refuse alone (shorter
 * than an Ethernet header, longer than TCPS_REPLAY_BYTES) is refused now. */
static int bpf_feed(void *bp, const void *frame, size_t len)
{
	struct replay_bpf *b = bp;
	struct tcps_replay_frame *f;
	__u32 keep;

	if (len < 14 || len > TCPS_REPLAY_BYTES)
		return -EINVAL;
	keep = frame_needs(frame, len);
	if (b->n == TCPS_REPLAY_BATCH || b->bytes + keep > TCPS_REPLAY_BYTES)
		bpf_sync(b);
	if (b->err)
		return 0;	/* the replay has failed: drain() says why */
	f = &b->skel->bss->tcps_replay_frames[b->n++];
	f->ts = b->now;
	f->len = keep;
	f->wire_len = (__u32)len;
	memcpy(b->queue + b->bytes, frame, keep);
	b->bytes += keep;
	return 0;
}

/* The events of every frame fed: running the batch takes them. */
static int bpf_drain(void *bp)
{
	struct replay_bpf *b = bp;

	bpf_sync(b);
	return b->err;
}

static int bpf_lookup(void *bp, const struct tcps_key *k, struct tcps_conn *v, bool *halfopen)
{
	struct replay_bpf *b = bp;

	bpf_sync(b);
	return tcps_ctable_find(b->tab, k, v, true, halfopen);
}

static int bpf_remove(void *bp, const struct tcps_key *k, bool halfopen)
{
	struct replay_bpf *b = bp;
	const struct tcps_ctable *t = &b->tab[halfopen];
	struct tcps_conn gone;
	int err;

	bpf_sync(b);
	err = tcps_ctable_take(t, k, &gone);
	if (!err)
		tcps_gauge_note(&b->gauges, t->fd, &gone, -1);
	if (!err && !halfopen && ++b->takes >= TCPS_REPLAY_COLLECT_TAKES)
		err = bpf_collect(b);
	return err;
}

static int bpf_counters(void *bp, __u64 out[TCPS_CNT_MAX])
{
	struct replay_bpf *b = bp;

	bpf_sync(b);
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
