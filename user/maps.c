// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "maps.h"

static int pin_get(const char *dir, const char *name, int *fd)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	*fd = bpf_obj_get(path);
	return *fd < 0 ? -errno : 0;
}

static bool conn_size_ok(__u64 size)
{
	return size == TCPS_CONN_SIZE_FULL || size == TCPS_CONN_SIZE_SLIM;
}

static bool slot_size_ok(__u64 size)
{
	return size == TCPS_SLOT_SIZE_FULL || size == TCPS_SLOT_SIZE_SLIM;
}

/* The kernel copies value_size bytes into our buffers, so a pin of the
 * right name but another layout (a foreign or older map) would overrun them:
 * check type and sizes before the first read. value_size CONN_SIZE_ANY: a
 * connection table, of either legal size (tcpscope.h TCPS_CONN_SIZE_*);
 * SLOT_SIZE_ANY: the slot array, of either (tcps_slots.h TCPS_SLOT_SIZE_*). */
#define CONN_SIZE_ANY 0xffffffffU
#define SLOT_SIZE_ANY 0xfffffffeU
static bool pin_size_ok(__u32 value_size, __u32 want)
{
	if (want == CONN_SIZE_ANY)
		return conn_size_ok(value_size);
	if (want == SLOT_SIZE_ANY)
		return slot_size_ok(value_size);
	return value_size == want;
}

/* The map's info into *info, checked for type and sizes. */
static int pin_check(int fd, __u32 type, __u32 key_size, __u32 value_size,
		     struct bpf_map_info *info)
{
	__u32 len = sizeof(*info);

	memset(info, 0, sizeof(*info));
	if (bpf_obj_get_info_by_fd(fd, info, &len))
		return -errno;
	if (info->type != type || info->key_size != key_size)
		return -EPROTO;
	if (!pin_size_ok(info->value_size, value_size))
		return -EPROTO;
	return 0;
}

/* tcps_conn_value_size of the map info describes. */
static int info_conn_value_size(const struct bpf_map_info *info)
{
	if (info->type == BPF_MAP_TYPE_ARRAY)	/* the slot array: its entries' part */
		return slot_size_ok(info->value_size) ?
			       (int)(info->value_size - sizeof(struct tcps_slot_hdr)) : -EPROTO;
	return conn_size_ok(info->value_size) ? (int)info->value_size : -EPROTO;
}

int tcps_conn_value_size(int fd)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	return info_conn_value_size(&info);
}

/* What a connection table's map is: type, key, value, where its lock is. */
struct table_shape {
	__u32 type, key_size, value_size, lock_off;
	const char *key_name, *val_name;
};

/* BTF for a connection table: the kernel wants the value type's size to
 * equal value_size, and the bpf_spin_lock at the offset the programs lock
 * (BPF_F_LOCK reads need it too), an array a 4-byte int key. Only the
 * lock is described; nothing else reads the map's BTF. */
static int conn_btf(const struct table_shape *sh, int *key_id, int *val_id)
{
	struct btf *b = btf__new_empty();
	int u32, lock, err;

	if (!b)
		return -errno;
	u32 = btf__add_int(b, "unsigned int", 4, 0);
	lock = btf__add_struct(b, "bpf_spin_lock", 4);
	err = u32 < 0 ? u32 : lock < 0 ? lock : btf__add_field(b, "val", u32, 0, 0);
	if (!err) {
		*key_id = sh->key_name ? btf__add_struct(b, sh->key_name, sh->key_size) : u32;
		*val_id = btf__add_struct(b, sh->val_name, sh->value_size);
		err = *key_id < 0 ? *key_id : *val_id < 0 ? *val_id :
			btf__add_field(b, "lock", lock, sh->lock_off * 8, 0);
	}
	if (!err)
		err = btf__load_into_kernel(b);
	if (!err) {	/* our own fd: btf__free closes the BTF's */
		err = fcntl(btf__fd(b), F_DUPFD_CLOEXEC, 0);
		if (err < 0)
			err = -errno;
	}
	btf__free(b);
	return err;
}

static int table_create(const struct table_shape *sh, const char *name, __u32 max_entries,
			__u32 flags)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = flags);
	int key_id = 0, val_id = 0, btf_fd = conn_btf(sh, &key_id, &val_id), fd;

	if (btf_fd < 0)
		return btf_fd;
	opts.btf_fd = (__u32)btf_fd;
	opts.btf_key_type_id = (__u32)key_id;
	opts.btf_value_type_id = (__u32)val_id;
	fd = bpf_map_create(sh->type, name, sh->key_size, sh->value_size, max_entries, &opts);
	fd = fd < 0 ? -errno : fd;
	close(btf_fd);		/* the map holds its own reference */
	return fd;
}

int tcps_conn_map_create(const char *name, __u32 value_size, __u32 max_entries, __u32 flags)
{
	const struct table_shape sh = { BPF_MAP_TYPE_HASH, sizeof(struct tcps_key), value_size,
					offsetof(struct tcps_conn, lock), "tcps_key", "tcps_conn" };

	return table_create(&sh, name, max_entries, flags);
}

int tcps_slot_map_create(const char *name, __u32 value_size, __u32 nslots)
{
	const struct table_shape sh = { BPF_MAP_TYPE_ARRAY, sizeof(__u32), value_size,
					offsetof(struct tcps_slot, c.lock), NULL, "tcps_slot" };

	return table_create(&sh, name, nslots, 0);
}

/* The pin directory is there and ours to read; 0, or the exit code after
 * one line. */
static int pins_dir_check(const char *dir)
{
	if (!access(dir, F_OK))
		return 0;
	if (errno == EACCES) {
		pr_err("%s: permission denied (run as root)", dir);
		return TCPS_EXIT_PERM;
	}
	pr_err("no running tcpscope: %s does not exist (start one with 'tcpscope run -i IFACE', or give --pin-dir)",
	       dir);
	return TCPS_EXIT_NOTRUNNING;
}

/* Whether dir holds any of the n names. */
static bool pins_any(const char *dir, const char *const *names, unsigned int n)
{
	char path[PATH_MAX];
	unsigned int i;

	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (!access(path, F_OK))
			return true;
	}
	return false;
}

/* Each pinned map into *fds[i], checked for its type and sizes, the
 * tables' infos into tabs (conns, halfopen: read once, a syscall each); 0,
 * or the exit code after one line (the caller closes what was opened). */
static int pins_get_all(const char *dir, int *const fds[6], struct bpf_map_info tabs[2])
{
	static const char *const names[] = { TCPS_PIN_CONNS, TCPS_PIN_HALFOPEN, TCPS_PIN_EVENTS,
					     TCPS_PIN_STATS, TCPS_PIN_TRANS, TCPS_PIN_INFO };
	static const __u32 want[6][3] = {
		{ BPF_MAP_TYPE_ARRAY, sizeof(__u32), SLOT_SIZE_ANY },
		{ BPF_MAP_TYPE_HASH, sizeof(struct tcps_key), CONN_SIZE_ANY },
		{ BPF_MAP_TYPE_RINGBUF, 0, 0 },
		{ BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(__u32), TCPS_STATS_VALUE_SIZE },
		{ BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(__u32), sizeof(__u64) },
		{ BPF_MAP_TYPE_ARRAY, sizeof(__u32), sizeof(struct tcps_info) },
	};
	struct bpf_map_info other;
	unsigned int i;
	int err;

	for (i = 0; i < 6; i++) {
		err = pin_get(dir, names[i], fds[i]);
		if (err == -EACCES || err == -EPERM) {
			pr_err("%s/%s: %s (run as root or with CAP_BPF)", dir, names[i], strerror(-err));
			return TCPS_EXIT_PERM;
		}
		if (!err)
			err = pin_check(*fds[i], want[i][0], want[i][1], want[i][2],
					i < 2 ? &tabs[i] : &other);
		/* No pins at all: nothing to clear, so no 'detach' hint (it
		 * named /etc or /sys/fs/bpf itself). */
		if (err == -ENOENT && i == 0 && !pins_any(dir, names, 6)) {
			pr_err("no running tcpscope: %s holds no tcpscope pins (start one with 'tcpscope run -i IFACE', or give another --pin-dir)",
			       dir);
			return TCPS_EXIT_NOTRUNNING;
		}
		if (err) {
			pr_err("%s/%s: %s: not a tcpscope pin directory, or from another version (clear it with 'tcpscope detach --pin-dir %s')",
			       dir, names[i], err == -EPROTO ? "map of another layout" : strerror(-err), dir);
			return TCPS_EXIT_NOTRUNNING;
		}
	}
	return 0;
}

int tcps_pins_open(const char *dir, struct tcps_pins *p)
{
	int *const fds[] = { &p->conns, &p->halfopen, &p->events, &p->stats, &p->trans, &p->info };
	struct bpf_map_info tabs[2];
	__u32 zero = 0;
	unsigned int i;
	int rc;

	for (i = 0; i < 6; i++)
		*fds[i] = -1;
	p->sys = -1;		/* a reader: no data path program */
	p->nslots = 0;
	memset(&p->meta, 0, sizeof(p->meta));
	rc = pins_dir_check(dir);
	if (rc)
		return rc;
	rc = pins_get_all(dir, fds, tabs);
	if (rc) {
		tcps_pins_close(p);
		return rc;
	}
	if (bpf_map_lookup_elem(p->info, &zero, &p->meta) || p->meta.abi != TCPS_ABI_VERSION ||
	    !conn_size_ok(p->meta.value_size) ||
	    info_conn_value_size(&tabs[0]) != (int)p->meta.value_size ||
	    info_conn_value_size(&tabs[1]) != (int)p->meta.value_size) {
		pr_err("%s: pins of layout %u, this tcpscope reads layout %u (clear them with 'tcpscope detach --pin-dir %s')",
		       dir, p->meta.abi, TCPS_ABI_VERSION, dir);
		tcps_pins_close(p);
		return TCPS_EXIT_NOTRUNNING;
	}
	p->nslots = tabs[0].max_entries;
	return 0;
}

void tcps_pins_close(struct tcps_pins *p)
{
	int *fds[] = { &p->conns, &p->halfopen, &p->events, &p->stats, &p->trans, &p->info };
	unsigned int i;

	for (i = 0; i < 6; i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

void tcps_pins_tables(const struct tcps_pins *p, struct tcps_ctable tab[2])
{
	/* Both tables' entry size: tcps_pins_open checked it, a daemon took
	 * it from its map (run.c run_publish_info). The slot array's seed and
	 * size are the pins' too; writes by key need the daemon's tcps_sys. */
	tab[0] = tcps_ctable_slots(p->conns, (__u32)p->meta.value_size, p->meta.slots_seed,
				   p->nslots, p->sys, p->trans);
	tab[1] = tcps_ctable_hash(p->halfopen, (__u32)p->meta.value_size, true);
}

/* The walk's last batch, n entries, as rows at out. */
static void batch_rows(const struct tcps_ctable_walk *w, int n, struct tcps_row *out)
{
	int i;

	for (i = 0; i < n; i++) {
		out[i].key = w->keys[i];
		tcps_ctable_walk_val(w, (__u32)i, &out[i].val);
		out[i].halfopen = w->t.halfopen;
	}
}

/* Rows read so far: r[0..n), cap allocated. */
struct rows_buf {
	struct tcps_row *r;
	size_t n, cap;
};

/* Room in b for more rows, doubling; 0 or -ENOMEM. */
static int rows_reserve(struct rows_buf *b, size_t more)
{
	size_t ncap;
	struct tcps_row *r;

	if (b->n + more <= b->cap)
		return 0;
	ncap = b->cap ? b->cap * 2 : TCPS_CTABLE_BATCH;
	while (ncap < b->n + more)
		ncap *= 2;
	r = realloc(b->r, ncap * sizeof(*r));
	if (!r)
		return -ENOMEM;
	b->r = r;
	b->cap = ncap;
	return 0;
}

/* One table, a batch at a time, its rows appended to b; with fn, each
 * batch is handed to fn and dropped instead, so b stays one batch long.
 * fn's non-zero return stops the walk and is returned. */
static int walk_table(struct tcps_ctable_walk *w, const struct tcps_ctable *t,
		      struct rows_buf *b, tcps_row_fn fn, void *ctx)
{
	int n, err;

	tcps_ctable_walk_start(w, t);
	while (!w->end) {
		n = tcps_ctable_walk_next(w);
		err = n < 0 ? n : rows_reserve(b, (size_t)n);
		if (err)
			return err;
		if (!n)
			continue;
		batch_rows(w, n, b->r + b->n);
		if (!fn)
			b->n += (size_t)n;
		else if ((err = fn(b->r, (size_t)n, ctx)))
			return err;
	}
	return 0;
}

/* The nt tables of tab in turn through walk_table. */
static int walk_tables(const struct tcps_ctable *tab, int nt, struct rows_buf *b, tcps_row_fn fn,
		       void *ctx)
{
	struct tcps_ctable_walk w;
	int err = tcps_ctable_walk_open(&w, true), i;

	for (i = 0; !err && i < nt; i++)
		err = walk_table(&w, &tab[i], b, fn, ctx);
	tcps_ctable_walk_close(&w);
	return err;
}

int tcps_rows_walk(const struct tcps_pins *p, tcps_row_fn fn, void *ctx)
{
	struct tcps_ctable tab[2];
	struct rows_buf b = { 0 };
	int err;

	tcps_pins_tables(p, tab);
	err = walk_tables(tab, 2, &b, fn, ctx);
	free(b.r);
	return err;
}

int tcps_rows_append(const struct tcps_ctable *t, struct tcps_row **rows, size_t *n, size_t *cap)
{
	struct rows_buf b = { *rows, *n, *cap };
	int err = walk_tables(t, 1, &b, NULL, NULL);

	*rows = b.r;
	*n = b.n;
	*cap = b.cap;
	return err;
}

int tcps_rows_read(const struct tcps_pins *p, struct tcps_row **rows, size_t *n)
{
	struct tcps_ctable tab[2];
	struct rows_buf b = { 0 };
	int err;

	tcps_pins_tables(p, tab);
	err = walk_tables(tab, 2, &b, NULL, NULL);
	if (err) {
		free(b.r);
		b.r = NULL;
		b.n = 0;
	}
	*rows = b.r;
	*n = b.n;
	return err;
}

int tcps_counters_read(int fd, __u64 out[TCPS_CNT_MAX])
{
	int ncpu = libbpf_num_possible_cpus(), i, j;
	__u32 zero = 0;
	__u64 *v;

	if (ncpu < 0)
		return ncpu;
	v = calloc((size_t)ncpu, TCPS_STATS_VALUE_SIZE);
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, &zero, v)) {
		int err = -errno;

		free(v);
		return err;
	}
	memset(out, 0, sizeof(__u64) * TCPS_CNT_MAX);
	for (i = 0; i < ncpu; i++)
		for (j = 0; j < TCPS_CNT_MAX; j++)
			out[j] += v[i * TCPS_STATS_WORDS + j];
	free(v);
	return 0;
}

/* The n slots from first, each ncpu values, into v (slot k's at v[k * ncpu]):
 * one batch lookup (a lookup each cost stat 28 syscalls); a kernel without
 * batches on per-CPU arrays (before 5.6) gets a lookup a slot. */
static int percpu_read(int fd, __u32 first, __u32 n, int ncpu, __u64 *v)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u32 prev = first - 1, out, got = n, *keys = calloc(n, sizeof(*keys)), k;
	int err = 0;

	if (!keys)
		return -ENOMEM;
	/* An array's batch starts after in_batch; ENOENT: the array's end. */
	if (bpf_map_lookup_batch(fd, first ? &prev : NULL, &out, keys, v, &got, &opts) &&
	    (errno != ENOENT || got != n)) {
		for (k = 0; !err && k < n; k++) {
			__u32 key = first + k;

			if (bpf_map_lookup_elem(fd, &key, v + (size_t)k * (size_t)ncpu))
				err = -errno;
		}
	}
	free(keys);
	return err;
}

int tcps_percpu_sum(int fd, __u32 first, __u32 n, __u64 *out)
{
	int ncpu = libbpf_num_possible_cpus(), i, err;
	__u64 *v;
	__u32 k;

	if (ncpu < 0)
		return ncpu;
	if (!n)
		return 0;
	v = calloc((size_t)ncpu * n, sizeof(__u64));
	if (!v)
		return -ENOMEM;
	err = percpu_read(fd, first, n, ncpu, v);
	for (k = 0; !err && k < n; k++) {
		out[k] = 0;
		for (i = 0; i < ncpu; i++)
			out[k] += v[(size_t)k * (size_t)ncpu + (size_t)i];
	}
	free(v);
	return err;
}

int tcps_trans_read(int fd, __u64 out[TCPS_STATE_MAX * TCPS_STATE_MAX])
{
	return tcps_percpu_sum(fd, 0, TCPS_STATE_MAX * TCPS_STATE_MAX, out);
}
