/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * An index from connection key to the newest of an append-only array of
 * records (replay's rows, Zeek's connection records): open addressing,
 * slots hold record index + 1, 0 is empty. The records stay where their
 * owner keeps them; the index only reads each record's key, at key_off.
 */
#ifndef TCPS_KEYIDX_H
#define TCPS_KEYIDX_H

#include <stddef.h>

#include "tcpscope.h"

struct tcps_keyidx {
	__u32 *slots;
	size_t nslots;		/* a power of two */
	const void *recs;	/* the owner's array, set before each call */
	size_t stride;		/* sizeof one record */
	size_t key_off;		/* offsetof its struct tcps_key */
};

/* The slot of k: holding its newest record, or the empty one it would take. */
__u32 *tcps_keyidx_slot(struct tcps_keyidx *x, const struct tcps_key *k);
/* Make room for one more record beyond n (keeps the load under 1/2). */
int tcps_keyidx_reserve(struct tcps_keyidx *x, size_t n);
void tcps_keyidx_free(struct tcps_keyidx *x);

#endif /* TCPS_KEYIDX_H */
