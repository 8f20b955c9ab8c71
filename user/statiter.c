// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Per-state counts with a BPF map iterator (bpf/stat_iter.bpf.c): the
 * entries are counted in the kernel, none is copied out. */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "query.h"
#include "slotcfg.h"
#include "stat_iter.skel.h"

static int count_map(struct stat_iter_bpf *skel, int map_fd)
{
	union bpf_iter_link_info linfo = { .map.map_fd = (__u32)map_fd };
	LIBBPF_OPTS(bpf_iter_attach_opts, opts, .link_info = &linfo, .link_info_len = sizeof(linfo));
	struct bpf_link *link;
	char buf[64];
	int fd, err = 0;
	ssize_t n;

	link = bpf_program__attach_iter(skel->progs.tcps_count_states, &opts);
	if (!link)
		return -errno;
	fd = bpf_iter_create(bpf_link__fd(link));
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	/* The iteration runs as the iterator's file is read (it prints nothing). */
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		;
	if (n < 0)
		err = -errno;
	close(fd);
out:
	bpf_link__destroy(link);
	return err;
}

int tcps_count_states_iter(const struct tcps_pins *p, __u64 counts[TCPS_STATE_MAX], __u64 *conns,
			   __u64 *halfopen)
{
	struct stat_iter_bpf *skel;
	int err;

	/* Quiet: a failure here only means the caller reads rows instead. */
	libbpf_set_print(tcps_libbpf_print);
	skel = stat_iter_bpf__open();
	if (!skel)
		return -errno;
	skel->rodata->tcps_mode = (__u8)p->meta.mode;
	err = tcps_slots_rodata(skel->obj, p->meta.slots_seed, p->nslots);
	if (!err)
		err = stat_iter_bpf__load(skel);
	if (!err)
		err = count_map(skel, p->conns);
	if (!err) {
		*conns = skel->bss->entries;
		err = count_map(skel, p->halfopen);
	}
	if (!err) {
		*halfopen = skel->bss->entries - *conns;
		memcpy(counts, skel->bss->counts, sizeof(__u64) * TCPS_STATE_MAX);
	}
	stat_iter_bpf__destroy(skel);
	return err;
}
