/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Per-connection causal order of one ring-buffer batch. The BPF side numbers
 * a connection's transitions under its lock (tcps_event.seq) but reserves
 * the ring-buffer records after the unlock, so two CPUs stepping one
 * connection can queue them the wrong way round. A batch is put back in seq
 * order per connection; the interleaving of connections is kept.
 */
#ifndef TCPS_EVORDER_H
#define TCPS_EVORDER_H

#include <stddef.h>

#include "tcpscope.h"

struct tcps_evbatch {
	struct tcps_event *ev;
	size_t n, cap;
	size_t *idx;		/* scratch for tcps_evbatch_order */
	size_t idx_cap;
};

/* Append a copy of e; -ENOMEM if it cannot grow (the caller then emits it
 * unordered rather than lose it). */
int tcps_evbatch_push(struct tcps_evbatch *b, const struct tcps_event *e);
/* Reorder the batch: events of one connection in seq order (mod 2^16),
 * each connection's events on the positions they took in the batch. */
void tcps_evbatch_order(struct tcps_evbatch *b);
void tcps_evbatch_free(struct tcps_evbatch *b);

#endif /* TCPS_EVORDER_H */
