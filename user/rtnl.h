/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* rtnetlink beyond libbpf: filters on a clsact qdisc, link events. */
#ifndef TCPS_RTNL_H
#define TCPS_RTNL_H

#include <stdbool.h>

/* How many filters (any owner) sit on ifindex's clsact qdisc, ingress and
 * egress together; -errno if it has none (or it cannot be read). */
int tcps_clsact_filters(int ifindex);

/* A non-blocking rtnetlink socket joined to RTMGRP_LINK; fd or -errno. */
int tcps_rtnl_link_socket(void);

/* One link event: up = RTM_NEWLINK (created or changed), else RTM_DELLINK. */
typedef void (*tcps_link_fn)(bool up, int ifindex, const char *name, void *arg);
/* Hand every pending link event to fn. 0 when drained; -ENOBUFS when the
 * kernel dropped events (resynchronise from the link table); -errno. */
int tcps_rtnl_link_read(int fd, tcps_link_fn fn, void *arg);

#endif /* TCPS_RTNL_H */
