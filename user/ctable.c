// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <bpf/bpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ctable.h"

int tcps_ctable_lookup(const struct tcps_ctable *t, const struct tcps_key *k,
		       struct tcps_conn *c, bool locked)
{
	memset(c, 0, sizeof(*c));	/* health off: the value ends before `h` */
	return bpf_map_lookup_elem_flags(t->fd, k, c, locked ? BPF_F_LOCK : 0) ? -errno : 0;
}

int tcps_ctable_find(const struct tcps_ctable tab[2], const struct tcps_key *k,
		     struct tcps_conn *c, bool locked, bool *halfopen)
{
	int i;

	for (i = 0; i < 2; i++) {
		if (tcps_ctable_lookup(&tab[i], k, c, locked))
			continue;
		if (halfopen)
			*halfopen = i;
		return 0;
	}
	return -ENOENT;
}

int tcps_ctable_take(const struct tcps_ctable *t, const struct tcps_key *k, struct tcps_conn *c)
{
	memset(c, 0, sizeof(*c));
	return bpf_map_lookup_and_delete_elem_flags(t->fd, k, c, BPF_F_LOCK) ? -errno : 0;
}

int tcps_ctable_insert_new(const struct tcps_ctable *t, const struct tcps_key *k,
			   const struct tcps_conn *c)
{
	return bpf_map_update_elem(t->fd, k, c, BPF_NOEXIST) ? -errno : 0;
}

/* The kernel's first-key search skips empty buckets far faster (~1 ns
 * each) than a walk. It starts from a key that cannot be in the table
 * (family 0), which, like NULL, means "the first key" (and valgrind does
 * not take NULL for an unaddressable key). */
bool tcps_ctable_is_empty(const struct tcps_ctable *t)
{
	struct tcps_key none, k;

	memset(&none, 0, sizeof(none));
	return t->fd < 0 || (bpf_map_get_next_key(t->fd, &none, &k) && errno == ENOENT);
}

int tcps_ctable_walk_open(struct tcps_ctable_walk *w, bool locked)
{
	memset(w, 0, sizeof(*w));
	w->locked = locked;
	w->t.fd = -1;
	w->end = true;
	w->keys = calloc(TCPS_CTABLE_BATCH, sizeof(*w->keys));
	w->vals = calloc(TCPS_CTABLE_BATCH, sizeof(struct tcps_conn));	/* the larger size */
	if (w->keys && w->vals)
		return 0;
	tcps_ctable_walk_close(w);
	return -ENOMEM;
}

void tcps_ctable_walk_close(struct tcps_ctable_walk *w)
{
	free(w->keys);
	free(w->vals);
	w->keys = NULL;
	w->vals = NULL;
}

void tcps_ctable_walk_start(struct tcps_ctable_walk *w, const struct tcps_ctable *t)
{
	w->t = *t;
	w->resume = false;
	w->end = t->fd < 0;
}

int tcps_ctable_walk_next(struct tcps_ctable_walk *w)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = w->locked ? BPF_F_LOCK : 0);
	__u8 out[sizeof(w->cursor)];
	__u32 n = TCPS_CTABLE_BATCH;
	int rc;

	if (w->end)
		return 0;
	rc = bpf_map_lookup_batch(w->t.fd, w->resume ? w->cursor : NULL, out, w->keys, w->vals,
				  &n, &opts);
	if (rc && errno != ENOENT)
		return -errno;
	if (rc) {
		w->end = true;	/* ENOENT: that was the last batch */
	} else {
		memcpy(w->cursor, out, sizeof(out));
		w->resume = true;
	}
	return (int)n;
}

void tcps_ctable_walk_val(const struct tcps_ctable_walk *w, __u32 i, struct tcps_conn *c)
{
	memcpy(c, w->vals + (size_t)i * w->t.vsize, w->t.vsize);
	if (w->t.vsize < sizeof(*c))	/* health off: `h` is not in the table */
		memset((__u8 *)c + w->t.vsize, 0, sizeof(*c) - w->t.vsize);
}

long tcps_ctable_count(const struct tcps_ctable *t)
{
	struct tcps_ctable_walk w;
	long n = 0;
	int rc;

	rc = tcps_ctable_walk_open(&w, false);
	if (rc)
		return rc;
	tcps_ctable_walk_start(&w, t);
	while ((rc = tcps_ctable_walk_next(&w)) > 0)
		n += rc;
	tcps_ctable_walk_close(&w);
	return rc < 0 ? rc : n;
}

/* A batch at a time, each from the start again: the walk's position needs
 * not survive the deletes. An entry gone meanwhile is no failure. */
int tcps_ctable_clear(const struct tcps_ctable *t)
{
	struct tcps_ctable_walk w;
	int rc, i;

	rc = tcps_ctable_walk_open(&w, false);
	if (rc)
		return rc;
	do {
		tcps_ctable_walk_start(&w, t);
		rc = tcps_ctable_walk_next(&w);
		for (i = 0; i < rc; i++)
			if (bpf_map_delete_elem(t->fd, &w.keys[i]) && errno != ENOENT) {
				rc = -errno;
				break;
			}
	} while (rc > 0);
	tcps_ctable_walk_close(&w);
	return rc;
}
