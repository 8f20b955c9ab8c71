/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Host mode: the kernel's own socket table (netlink sock_diag, as ss reads
 * it) seeds the connection table at start, and its listening sockets are
 * re-read every --seed-interval seconds (listeners send no packets).
 */
#ifndef TCPS_SEED_H
#define TCPS_SEED_H

#include <linux/types.h>

struct tcps_daemon;

/* What the peer of a local socket in state `local` must be in, as the
 * state machine would have it after the packets that led there. */
__u8 tcps_seed_peer_state(__u8 local);

int tcps_seed_start(struct tcps_daemon *d);
void tcps_seed_tick(struct tcps_daemon *d, __u64 now_ns);
void tcps_seed_stop(struct tcps_daemon *d);

#endif /* TCPS_SEED_H */
