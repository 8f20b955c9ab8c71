// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/membarrier.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ctable.h"
#include "slotcfg.h"

int tcps_slots_new_seed(__u32 *seed)
{
	ssize_t n = getrandom(seed, sizeof(*seed), 0);

	return n == (ssize_t)sizeof(*seed) ? 0 : n < 0 ? -errno : -EIO;
}

/* Where the variable `name` of len bytes in the object's .rodata is: its
 * offset, or -errno. */
static long rodata_off(struct bpf_object *obj, const char *name, size_t len)
{
	const struct btf *btf = bpf_object__btf(obj);
	const struct btf_var_secinfo *vs;
	const struct btf_type *sec;
	int id = btf ? btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC) : -ENOENT, i;

	if (id < 0)
		return -ENOENT;
	sec = btf__type_by_id(btf, (__u32)id);
	vs = btf_var_secinfos(sec);
	for (i = 0; i < btf_vlen(sec); i++, vs++) {
		const struct btf_type *var = btf__type_by_id(btf, vs->type);

		if (!strcmp(btf__name_by_offset(btf, var->name_off), name))
			return vs->size == len ? (long)vs->offset : -EPROTO;
	}
	return -ENOENT;
}

/* The object's .rodata map, or NULL. */
static struct bpf_map *rodata_map(struct bpf_object *obj)
{
	struct bpf_map *m, *ro = NULL;
	const char *n;

	bpf_object__for_each_map(m, obj) {
		n = bpf_map__name(m);
		if (bpf_map__is_internal(m) && strlen(n) >= 7 && !strcmp(n + strlen(n) - 7, ".rodata"))
			ro = m;
	}
	return ro;
}

/* The .rodata's initial value with val at name's offset (this libbpf
 * hands out the value read-only: a copy, changed, set back). */
int tcps_rodata_set(struct bpf_object *obj, const char *name, const void *val, size_t len)
{
	struct bpf_map *ro = rodata_map(obj);
	size_t size = 0;
	const void *cur = ro ? bpf_map__initial_value(ro, &size) : NULL;
	__u8 *data = cur && size ? malloc(size) : NULL;
	long off = rodata_off(obj, name, len);
	int err;

	if (!ro || !cur)
		err = -ENOENT;
	else if (!data)
		err = -ENOMEM;
	else if (off < 0 || (size_t)off + len > size)
		err = off < 0 ? (int)off : -EPROTO;
	else
		err = 0;
	if (!err) {
		memcpy(data, cur, size);
		memcpy(data + off, val, len);
		err = bpf_map__set_initial_value(ro, data, size);
	}
	free(data);
	return err;
}

int tcps_slots_rodata(struct bpf_object *obj, __u32 seed, __u32 nslots)
{
	return tcps_rodata_set(obj, "tcps_slots_seed_cfg", &seed, sizeof(seed)) ?:
	       tcps_rodata_set(obj, "tcps_slots_n_cfg", &nslots, sizeof(nslots));
}

int tcps_slots_prog_fd(struct bpf_object *obj, const char *name)
{
	struct bpf_program *p = bpf_object__find_program_by_name(obj, name);
	int fd = p ? bpf_program__fd(p) : -ENOENT;

	return fd < 0 ? -ENOENT : fd;
}

int tcps_slots_info_epoch(void *info_fd)
{
	int fd = *(const int *)info_fd;
	struct tcps_info info;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(fd, &zero, &info))
		return -errno;
	info.slots_epoch++;
	return bpf_map_update_elem(fd, &zero, &info, BPF_ANY) ? -errno : 0;
}

static __u64 thread_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
}

int tcps_slots_collect(int collect_fd, tcps_epoch_fn next_epoch, void *ctx, __u64 *cpu_ns)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts);
	__u64 t0 = thread_ns();
	int i, err = 0;

	for (i = 0; i < 3 && !err; i++) {
		if (syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0))
			err = -errno;
		else
			tcps_ctable_sys_quiesce();
		err = err ?: next_epoch(ctx);
	}
	if (!err && bpf_prog_test_run_opts(collect_fd, &opts))
		err = -errno;
	*cpu_ns = thread_ns() - t0;
	return err ? err : (int)opts.retval;
}
