/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The data path under `tcpscope replay`, behind one set of operations:
 *  - bpf (user/replay_bpf.c): the real XDP object, one BPF_PROG_TEST_RUN
 *    per frame; needs CAP_BPF (or root);
 *  - native (user/replay_native.c): the same pure headers (bpf/parse.h,
 *    include/tcps_frame.h, tcps_path.h, tcp_fsm.h) compiled into tcpscope
 *    over userspace tables; needs no privilege.
 * Both run in passive mode with the capture's time as their clock. replay.c
 * sees only these operations, so its output cannot tell them apart.
 */
#ifndef TCPS_REPLAY_BACKEND_H
#define TCPS_REPLAY_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "tcpscope.h"

/* Both backends' slot array (include/tcps_slots.h): sized as the
 * daemon's for the same --max-conns (its default unless replay is given
 * one), one fixed seed, so that both place every tuple alike and refuse
 * the same inserts; a collector pass (reclaim only) after every
 * TCPS_REPLAY_COLLECT_TAKES deletes from it by replay's expiry. The
 * half-open table is the daemon's default for that size too. */
#define TCPS_REPLAY_SLOTS_SEED 0x7c53a11du
#define TCPS_REPLAY_COLLECT_TAKES 50000

/* Receives each transition event, as libbpf's ring_buffer_sample_fn does;
 * a negative return stops the drain and is passed on. */
typedef int (*tcps_replay_event_fn)(void *ctx, void *data, size_t size);

struct tcps_replay_backend {
	const char *name;	/* "bpf", "native" */
	/* Make the instance *bp, its tables sized for max_conns connections.
	 * 0 or -errno; -EPERM/-EACCES: not privileged enough (the only
	 * failure a caller may answer with another backend). */
	int (*open)(void **bp, __u32 max_conns, tcps_replay_event_fn on_event, void *ctx);
	void (*close)(void *b);
	/* Time of the frames fed from now on (capture ns, never decreasing). */
	void (*set_clock)(void *b, __u64 now_ns);
	/* One Ethernet frame through the XDP entry point. 0, or -errno if the
	 * frame was refused (BPF_PROG_TEST_RUN's size limits). */
	int (*feed)(void *b, const void *frame, size_t len);
	/* Hand every queued event to on_event, oldest first (ring-buffer
	 * order). 0 or on_event's negative return. */
	int (*drain)(void *b);
	/* The entry of k, from whichever table holds it, read as under its
	 * lock (the lock word reads 0). 0, or -ENOENT. */
	int (*lookup)(void *b, const struct tcps_key *k, struct tcps_conn *v, bool *halfopen);
	/* Delete k from the main or the half-open table. */
	int (*remove)(void *b, const struct tcps_key *k, bool halfopen);
	/* The data-path counters, summed over CPUs. */
	int (*counters)(void *b, __u64 out[TCPS_CNT_MAX]);
};

extern const struct tcps_replay_backend tcps_replay_bpf;
extern const struct tcps_replay_backend tcps_replay_native;

#endif /* TCPS_REPLAY_BACKEND_H */
