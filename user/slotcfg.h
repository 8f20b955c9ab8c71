/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The slot array tcps_conns (include/tcps_slots.h) as the loaders and the
 * daemon's expiry see it: its seed and size, set into every object that
 * reads it before load, and the tombstone collector's pass.
 */
#ifndef TCPS_SLOTCFG_H
#define TCPS_SLOTCFG_H

#include <bpf/libbpf.h>
#include <linux/types.h>

/* A new table's hash seed (getrandom): 0 or -errno. */
int tcps_slots_new_seed(__u32 *seed);
/* Before load: the object's `const volatile` name (len bytes, checked
 * against its BTF) set to val. 0, -ENOENT (no such variable), -EPROTO (of
 * another size) or -errno. */
int tcps_rodata_set(struct bpf_object *obj, const char *name, const void *val, size_t len);
/* Before load: the object's `const volatile` tcps_slots_seed_cfg and
 * tcps_slots_n_cfg (every object that touches tcps_conns has them).
 * -ENOENT if the object lacks one (an object of another version). */
int tcps_slots_rodata(struct bpf_object *obj, __u32 seed, __u32 nslots);
/* The object's program `name`, loaded: its fd, or -ENOENT. */
int tcps_slots_prog_fd(struct bpf_object *obj, const char *name);

/* Makes the next collector epoch current (tcps_info.slots_epoch + 1, in
 * the info map): 0 or -errno. */
typedef int (*tcps_epoch_fn)(void *ctx);
/* One for an info map that only its caller writes (replay, tests): ctx
 * points to the map's fd. The daemon's has a lock (run.c). */
int tcps_slots_info_epoch(void *info_fd);

/*
 * One collector pass (reclaim of tombstones no walk can still cross,
 * compaction): three times a grace period and the next epoch, then the
 * syscall program tcps_sys_collect once (bench/slots.c compact(), the
 * proof in tcps_slots.h). The grace period is membarrier(GLOBAL), i.e.
 * synchronize_rcu, for the data path's walks, and the end of every
 * tcps_sys run of this process (ctable.c) for its own, which the kernel
 * runs under RCU tasks trace, a grace period membarrier does not wait
 * for. *cpu_ns: the pass's CPU time (this thread's). 0 or -errno.
 */
int tcps_slots_collect(int collect_fd, tcps_epoch_fn next_epoch, void *ctx, __u64 *cpu_ns);

#endif /* TCPS_SLOTCFG_H */
