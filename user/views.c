// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "slotcfg.h"
#include "views.h"
#include "views.skel.h"

#define PORTS_SIZE (TCPS_VIEWS_PORTS * sizeof(__u32))
#define REMOTES_SIZE (TCPS_VIEWS_REMOTES * sizeof(struct tcps_views_remote))

/* A hash map's buckets: its max_entries rounded up to a power of two (as
 * kernel/bpf/hashtab.c sizes them). */
static __u64 buckets_of(int fd)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);
	__u64 n = 1;

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return 1ULL << 32;	/* unknown: assume it is big */
	while (n < info.max_entries)
		n <<= 1;
	return n;
}

static int kernel_open(struct tcps_viewer *w, const struct tcps_pins *p)
{
	struct views_bpf *skel;
	void *ports, *remotes;
	int err;

	libbpf_set_print(tcps_libbpf_print);	/* quiet: a failure means sweeps only */
	skel = views_bpf__open();
	if (!skel)
		return -errno;
	skel->rodata->tcps_views_health = p->meta.value_size == TCPS_CONN_SIZE_FULL;
	err = tcps_slots_rodata(skel->obj, p->meta.slots_seed, p->nslots);
	if (!err)
		err = bpf_map__reuse_fd(skel->maps.tcps_conns, p->conns);
	if (!err)
		err = bpf_map__reuse_fd(skel->maps.tcps_halfopen, p->halfopen);
	if (!err)
		err = views_bpf__load(skel);
	if (err) {
		views_bpf__destroy(skel);
		return err;
	}
	ports = mmap(NULL, PORTS_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		     bpf_map__fd(skel->maps.views_ports), 0);
	remotes = mmap(NULL, REMOTES_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		       bpf_map__fd(skel->maps.views_remotes), 0);
	if (ports == MAP_FAILED || remotes == MAP_FAILED) {
		err = -errno;
		if (ports != MAP_FAILED)
			munmap(ports, PORTS_SIZE);
		if (remotes != MAP_FAILED)
			munmap(remotes, REMOTES_SIZE);
		views_bpf__destroy(skel);
		return err;
	}
	w->skel = skel;
	w->buckets = buckets_of(p->conns) + buckets_of(p->halfopen);
	w->kern.v = &skel->bss->views;
	w->kern.ports = ports;
	w->kern.remotes = remotes;
	return 0;
}

static int set_alloc(struct tcps_views_set *s)
{
	s->v = calloc(1, sizeof(*s->v));
	s->ports = calloc(TCPS_VIEWS_PORTS, sizeof(*s->ports));
	s->remotes = calloc(TCPS_VIEWS_REMOTES, sizeof(*s->remotes));
	return s->v && s->ports && s->remotes ? 0 : -ENOMEM;
}

static void set_free(struct tcps_views_set *s)
{
	free(s->v);
	free(s->ports);
	free(s->remotes);
}

static void set_clear(struct tcps_views_set *s)
{
	memset(s->v, 0, sizeof(*s->v));
	memset(s->ports, 0, PORTS_SIZE);
	memset(s->remotes, 0, REMOTES_SIZE);
	s->as_of = s->expired = 0;
}

int tcps_viewer_open(struct tcps_viewer *w, const struct tcps_pins *p)
{
	int err;

	memset(w, 0, sizeof(*w));
	err = kernel_open(w, p);
	if (err)
		pr_debug("views in the kernel: %s; sweeping the rows instead", strerror(-err));
	/* No BPF_F_LOCK: a torn counter may rank a row a little off, and the
	 * lock costs every entry. */
	if (tcps_ctable_walk_open(&w->walk, false) || set_alloc(&w->acc) || set_alloc(&w->done)) {
		tcps_viewer_close(w);
		return -ENOMEM;
	}
	w->cur = &w->acc;
	return 0;
}

void tcps_viewer_close(struct tcps_viewer *w)
{
	if (w->skel) {
		munmap(w->kern.ports, PORTS_SIZE);
		munmap(w->kern.remotes, REMOTES_SIZE);
		views_bpf__destroy(w->skel);
	}
	set_free(&w->acc);
	set_free(&w->done);
	tcps_ctable_walk_close(&w->walk);
	memset(w, 0, sizeof(*w));
}

static int kernel_pass(struct tcps_viewer *w, const struct tcps_views_cfg *cfg)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts);

	memset(w->kern.v, 0, sizeof(*w->kern.v));
	memset(w->kern.ports, 0, PORTS_SIZE);
	memset(w->kern.remotes, 0, REMOTES_SIZE);
	w->skel->bss->cfg = *cfg;
	if (bpf_prog_test_run_opts(bpf_program__fd(w->skel->progs.tcps_views_walk), &opts))
		return -errno;
	w->cur = &w->kern;
	w->swept = w->partial = false;
	w->sweeping = false;	/* a later sweep starts afresh */
	return 0;
}

static void sweep_start(struct tcps_viewer *w, const struct tcps_views_cfg *cfg,
			const struct tcps_timeouts *expire)
{
	set_clear(&w->acc);
	w->cfg = *cfg;
	w->expire = expire;
	w->expire_now = tcps_mono_now();
	w->map = 0;
	w->in_map = false;
	w->slices = 0;
	w->sweeping = true;
}

static void sweep_rows(struct tcps_viewer *w, __u32 n)
{
	struct tcps_views_set *a = &w->acc;
	struct tcps_conn val, *c = &val;
	__u32 i;

	for (i = 0; i < n; i++) {
		tcps_ctable_walk_val(&w->walk, i, &val);
		if (w->expire) {
			if (c->last_seen > a->as_of)
				a->as_of = c->last_seen;
			if (tcps_gc_expired(c, w->expire_now, w->expire)) {
				a->expired++;
				continue;
			}
		}
		tcps_views_add(a->v, a->remotes, a->ports, &w->cfg, &w->walk.keys[i], c, w->map);
	}
}

/* The sweep is complete: it is the one shown, and the next one starts. */
static void sweep_done(struct tcps_viewer *w)
{
	struct tcps_views_set t = w->done;

	w->done = w->acc;
	w->acc = t;
	w->last_slices = w->slices;
	w->cur = &w->done;
	w->partial = false;
	sweep_start(w, &w->cfg, w->expire);
}

/* The next TCPS_VIEWS_SLICE entries; at the end of both tables the sweep
 * becomes the one shown. */
static int sweep_slice(struct tcps_viewer *w, const struct tcps_pins *p)
{
	struct tcps_ctable tab[2];
	__u64 done = 0;
	int n;

	w->slices++;
	while (done < TCPS_VIEWS_SLICE) {
		if (!w->in_map) {
			tcps_pins_tables(p, tab);
			tcps_ctable_walk_start(&w->walk, &tab[w->map]);
			w->in_map = true;
		}
		n = tcps_ctable_walk_next(&w->walk);
		if (n < 0)
			return n;
		sweep_rows(w, (__u32)n);
		done += w->walk.visited;	/* the slot array's empty slots count too */
		if (!w->walk.end)
			continue;
		w->in_map = false;	/* that table is done */
		if (++w->map < 2)
			continue;
		sweep_done(w);
		return 0;
	}
	if (w->cur != &w->done)
		w->cur = &w->acc, w->partial = true;
	return 0;
}

int tcps_viewer_walk(struct tcps_viewer *w, const struct tcps_pins *p,
		     const struct tcps_views_cfg *cfg, const struct tcps_timeouts *expire,
		     __u64 entries)
{
	struct tcps_views_cfg a = *cfg, b = w->cfg;

	if (w->skel && !expire &&
	    w->buckets * TCPS_VIEWS_BUCKET_NS + entries * TCPS_VIEWS_ENTRY_NS <=
		    TCPS_VIEWS_KERNEL_BUDGET_NS)
		return kernel_pass(w, cfg);
	a.active_since = b.active_since = 0;
	if (!w->sweeping || memcmp(&a, &b, sizeof(a)) || expire != w->expire) {
		sweep_start(w, cfg, expire);
		w->cur = &w->acc;	/* nothing complete for this view yet */
	}
	w->swept = true;
	return sweep_slice(w, p);
}

/* Keep the n biggest (count, then lower key) in out[0..n), sorted. */
static size_t keep_top(struct tcps_group *out, __u64 *keys, size_t have, size_t n, __u64 count,
		       __u64 key, const char *label)
{
	size_t i;

	if (have == n && (count < out[n - 1].count ||
			  (count == out[n - 1].count && key > keys[n - 1])))
		return have;
	i = have < n ? have++ : n - 1;
	while (i > 0 && (out[i - 1].count < count || (out[i - 1].count == count && keys[i - 1] > key))) {
		out[i] = out[i - 1];
		keys[i] = keys[i - 1];
		i--;
	}
	out[i].count = count;
	keys[i] = key;
	snprintf(out[i].label, sizeof(out[i].label), "%s", label);
	return have;
}

size_t tcps_viewer_ports(const struct tcps_viewer *w, struct tcps_group *out, size_t n)
{
	__u64 keys[64];
	size_t have = 0;
	char label[8];
	__u32 p;

	if (n > 64)
		n = 64;
	for (p = 0; n && p < TCPS_VIEWS_PORTS; p++) {
		if (!w->cur->ports[p])
			continue;
		snprintf(label, sizeof(label), "%u", p);
		have = keep_top(out, keys, have, n, w->cur->ports[p], p, label);
	}
	return have;
}

size_t tcps_viewer_remotes(const struct tcps_viewer *w, struct tcps_group *out, size_t n)
{
	struct tcps_group best[64];
	char label[sizeof(best[0].label)];
	__u64 keys[64];
	size_t have = 0, i;
	__u32 s;

	if (n > 64)
		n = 64;
	/* By count, then family and address, as tcps_group orders them: the
	 * key for ties is the slot's rank in that order, found below. */
	for (s = 0; n && s < TCPS_VIEWS_REMOTES; s++) {
		const struct tcps_views_remote *r = &w->cur->remotes[s];
		__u64 count = r->count & ~TCPS_VIEWS_V6, key;
		struct tcps_key k = { .family = r->count & TCPS_VIEWS_V6 ? TCPS_AF_INET6 : TCPS_AF_INET };

		if (!count)
			continue;
		if (have == n && count < best[n - 1].count)
			continue;
		memcpy(k.addr[0], r->addr, 16);
		/* family, then the address's first 7 bytes: enough to order IPv4 */
		key = (__u64)k.family << 56;
		for (i = 0; i < 7; i++)
			key |= (__u64)((const __u8 *)r->addr)[i] << (48 - 8 * i);
		tcps_addr_str(&k, 0, label, sizeof(label));
		have = keep_top(best, keys, have, n, count, key, label);
	}
	memcpy(out, best, have * sizeof(*out));
	return have;
}
