// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Per-connection causal order of a batch of events (evorder.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "evorder.h"

int tcps_evbatch_push(struct tcps_evbatch *b, const struct tcps_event *e)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		struct tcps_event *p = realloc(b->ev, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		b->ev = p;
		b->cap = cap;
	}
	b->ev[b->n++] = *e;
	return 0;
}

static const struct tcps_event *sort_base;

/* By connection (key), then position in the batch. */
static int by_key_pos(const void *a, const void *b)
{
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	int c = memcmp(&sort_base[i].key, &sort_base[j].key, sizeof(sort_base[i].key));

	if (c)
		return c;
	return i < j ? -1 : i > j;
}

/* Within one connection's run of a batch (at most a few events), insertion
 * sort on seq distance from the run's first event: wrap-safe mod 2^16. */
static void order_run(struct tcps_event *ev, const size_t *pos, size_t n)
{
	struct tcps_event tmp[16];
	__u16 base = ev[pos[0]].seq;
	size_t i, j;

	for (i = 1; i < n; i++)
		if ((__s16)(ev[pos[i]].seq - base) < 0)
			base = ev[pos[i]].seq;
	if (n > sizeof(tmp) / sizeof(tmp[0]))
		n = sizeof(tmp) / sizeof(tmp[0]);	/* long runs are in order already */
	for (i = 0; i < n; i++) {
		struct tcps_event e = ev[pos[i]];

		for (j = i; j > 0 && (__u16)(tmp[j - 1].seq - base) > (__u16)(e.seq - base); j--)
			tmp[j] = tmp[j - 1];
		tmp[j] = e;
	}
	for (i = 0; i < n; i++)
		ev[pos[i]] = tmp[i];
}

void tcps_evbatch_order(struct tcps_evbatch *b)
{
	size_t i, start;

	if (b->n < 2)
		return;
	if (b->idx_cap < b->n) {
		size_t *p = realloc(b->idx, b->n * sizeof(*p));

		if (!p)
			return;		/* batch order, as it came */
		b->idx = p;
		b->idx_cap = b->n;
	}
	for (i = 0; i < b->n; i++)
		b->idx[i] = i;
	sort_base = b->ev;
	qsort(b->idx, b->n, sizeof(*b->idx), by_key_pos);
	for (start = 0; start < b->n; start = i) {
		for (i = start + 1; i < b->n && !memcmp(&b->ev[b->idx[i]].key,
							&b->ev[b->idx[start]].key,
							sizeof(b->ev[0].key)); i++)
			;
		if (i - start > 1)
			order_run(b->ev, b->idx + start, i - start);
	}
}

void tcps_evbatch_free(struct tcps_evbatch *b)
{
	free(b->ev);
	free(b->idx);
	memset(b, 0, sizeof(*b));
}
