/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Owners of local sockets in host mode (`list -p`), taken at query time as
 * `ss -p` does: a sock_diag dump (in the daemon's network namespace) maps
 * each connection to its socket inode, and a scan of /proc/PID/fd maps the
 * inode to the processes holding it. A socket nobody holds (TIME_WAIT, an
 * orphan after close) or a connection without a local end (passive mode,
 * forwarded traffic) has no owner: "-".
 */
#ifndef TCPS_OWNERS_H
#define TCPS_OWNERS_H

#include <stdbool.h>
#include <sys/types.h>

#include "maps.h"

struct tcps_owner {
	pid_t pid;		/* the lowest PID holding the socket */
	unsigned int nprocs;	/* processes holding it (fork shares sockets) */
	char comm[16];
	char cgroup[128];	/* cgroup v2 path ("0::" line of /proc/PID/cgroup) */
};

struct tcps_owners;

/* Sockets of the network namespace of netns_pid (0: our own), and their
 * owners. NULL on failure (errno set). */
struct tcps_owners *tcps_owners_load(pid_t netns_pid);
/* An empty set: every connection's owner is "-". NULL if out of memory. */
struct tcps_owners *tcps_owners_none(void);
void tcps_owners_free(struct tcps_owners *o);
/* The owner of connection k's local endpoint (side), or NULL. */
const struct tcps_owner *tcps_owner_find(const struct tcps_owners *o, const struct tcps_key *k,
					 int side);
/* "pid/comm" (ss -p's pid and name), "-" when none. */
void tcps_owner_str(const struct tcps_owner *w, char *buf, size_t len);

#endif /* TCPS_OWNERS_H */
