/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Whose are these pins and programs: tcpscope's at all, and owned by a
 * running tcpscope? (detach refuses both a foreign pin and a live owner.) */
#ifndef TCPS_IDENT_H
#define TCPS_IDENT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <linux/types.h>

/* A live process that is tcpscope (by /proc/PID/comm), not ourselves. */
bool tcps_pid_is_tcpscope(pid_t pid);
struct tcps_info;
/* The daemon that wrote m (the pins' info) is still running: its pid is
 * alive with the start it recorded (a pid reused by another process, a
 * tcpscope query or a later daemon among them, owns nothing); for pins
 * with no recorded start, a live tcpscope by name. Queries, run's
 * adoption and detach all ask this. */
bool tcps_info_owner_alive(const struct tcps_info *m);
/* The live tcpscope named by an info map (fd), or 0. */
pid_t tcps_info_fd_owner(int fd);
/* The live tcpscope that owns the pins in dir, or 0. */
pid_t tcps_pins_owner(const char *dir);
/* The network namespace (inode) the pins in dir were made in, or 0 when
 * not known (no pins, or pins of an older version). */
__u32 tcps_pins_netns(const char *dir);
/* The live tcpscope whose maps the program uses, or 0: by the program's
 * own info map (CAP_SYS_ADMIN), else by the program pins below
 * /sys/fs/bpf (pin_dir, if given, gets that directory). */
pid_t tcps_prog_owner(__u32 prog_id, char *pin_dir, size_t len);
/* Is every pin of ours by name in dir tcpscope's (kind, map type, kernel
 * name)? 0; -EPROTO with *bad the foreign pin and *why what it is; or
 * -EPERM/-EACCES when it cannot be told. Pins of an older layout pass:
 * they are tcpscope's and must stay removable. */
int tcps_pins_check_ours(const char *dir, char *bad, size_t len, char *why, size_t wlen);

#endif /* TCPS_IDENT_H */
