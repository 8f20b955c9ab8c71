/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Staying attached while interfaces come and go and programs are taken
 * off (links.c): a daemon module. */
#ifndef TCPS_LINKS_H
#define TCPS_LINKS_H

#include "daemon.h"

int tcps_links_start(struct tcps_daemon *d);
void tcps_links_tick(struct tcps_daemon *d, __u64 now);
void tcps_links_stop(struct tcps_daemon *d);

#endif /* TCPS_LINKS_H */
