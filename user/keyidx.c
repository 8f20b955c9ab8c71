// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Key -> newest record index (keyidx.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "keyidx.h"

/* FNV-1a over the key's bytes. */
static __u64 key_hash(const struct tcps_key *k)
{
	const __u8 *p = (const __u8 *)k;
	__u64 h = 1469598103934665603ULL;
	size_t i;

	for (i = 0; i < sizeof(*k); i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

static const struct tcps_key *key_of(const struct tcps_keyidx *x, __u32 v)
{
	return (const void *)((const char *)x->recs + (size_t)(v - 1) * x->stride + x->key_off);
}

__u32 *tcps_keyidx_slot(struct tcps_keyidx *x, const struct tcps_key *k)
{
	size_t j = key_hash(k) & (x->nslots - 1);

	while (x->slots[j] && memcmp(key_of(x, x->slots[j]), k, sizeof(*k)))
		j = (j + 1) & (x->nslots - 1);
	return &x->slots[j];
}

int tcps_keyidx_reserve(struct tcps_keyidx *x, size_t n)
{
	size_t size, i;
	__u32 *s;

	if ((n + 1) * 2 <= x->nslots)
		return 0;
	size = x->nslots ? x->nslots * 2 : 4096;
	s = calloc(size, sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (i = 0; i < x->nslots; i++) {
		size_t j;

		if (!x->slots[i])
			continue;
		for (j = key_hash(key_of(x, x->slots[i])) & (size - 1); s[j]; j = (j + 1) & (size - 1))
			;
		s[j] = x->slots[i];
	}
	free(x->slots);
	x->slots = s;
	x->nslots = size;
	return 0;
}

void tcps_keyidx_free(struct tcps_keyidx *x)
{
	free(x->slots);
	x->slots = NULL;
	x->nslots = 0;
}
