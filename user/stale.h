/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Is the instance behind a pin directory alive, and what a query shows
 * when it is not. Expiry lives in the daemon (gc.c): while none runs (a
 * --persist gap, a kill -9) nothing leaves the table, so a query applies
 * the timeouts itself, filtering out what the daemon would have expired,
 * and says so (issue 12, point 3). The daemon records the timeouts it
 * applies in a file beside its event socket for such queries.
 */
#ifndef TCPS_STALE_H
#define TCPS_STALE_H

#include <stdbool.h>
#include <stddef.h>

#include "gc.h"
#include "maps.h"

/* Start of pid in clock ticks since boot (/proc/PID/stat field 22), 0 if
 * unknown; *zombie (if not NULL) if it has exited. */
__u64 tcps_proc_start_ticks(__u32 pid, bool *zombie);
/* Is pid the daemon that wrote info (started at start_ticks, 0 if
 * unknown)? False for pid 0, a pid that does not exist or is a zombie,
 * and a pid reused by another process (another start). */
bool tcps_pid_alive(__u32 pid, __u64 start_ticks);
/* Are the pins in dir still the maps behind info_fd (not removed, not
 * replaced by another instance's)? */
bool tcps_pins_still_there(const char *dir, int info_fd);

/* Where the daemon of pin_dir records its timeouts:
 * /run/tcpscope/<pin-dir name>.timeouts (bpffs holds no regular files). */
int tcps_timeouts_path(const char *pin_dir, char *buf, size_t len);
/* Written by the daemon at start (0 or -errno), removed at a clean exit
 * (kept on --persist: the next queries need it). */
int tcps_timeouts_record(const char *pin_dir, const struct tcps_info *m,
			 const struct tcps_timeouts *t);
void tcps_timeouts_forget(const char *pin_dir);
/* The timeouts of the daemon that made these pins: the recorded ones if
 * the file belongs to that daemon (same start time), else the defaults.
 * Returns true if recorded ones were found. */
bool tcps_timeouts_of(const char *pin_dir, const struct tcps_info *m, struct tcps_timeouts *t);

#endif /* TCPS_STALE_H */
