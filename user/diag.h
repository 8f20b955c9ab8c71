/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The kernel's TCP socket table through netlink sock_diag, as ss reads it. */
#ifndef TCPS_DIAG_H
#define TCPS_DIAG_H

#include <linux/inet_diag.h>
#include <linux/types.h>

/* Called for each socket; a negative return stops the dump with it. */
typedef int (*tcps_diag_fn)(const struct inet_diag_msg *m, void *arg);

/* Dump the TCP sockets of family af (AF_INET/AF_INET6) in the states of
 * the mask (1 << TCP state) of this network namespace. 0 or -errno. */
int tcps_diag_dump(int af, __u32 states, tcps_diag_fn fn, void *arg);

/* The state (TCP_*) of the TCP socket of family af with this local and
 * remote address and port (network order, as in struct tcps_key:
 * addresses of 4 or 16 bytes) in this network namespace: > 0, 0 if there is none
 * (the kernel may answer with the listener of the local port), or -errno. */
int tcps_diag_state(int af, const void *laddr, __u16 lport, const void *raddr, __u16 rport);

#endif /* TCPS_DIAG_H */
