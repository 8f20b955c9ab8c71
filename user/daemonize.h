/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* --daemon: pidfile and detaching from the terminal. */
#ifndef TCPS_DAEMONIZE_H
#define TCPS_DAEMONIZE_H

#include <stddef.h>
#include <sys/types.h>

/* Runtime files of the daemons (pidfiles, event sockets). */
#define TCPS_RUN_DIR "/run/tcpscope"
#define TCPS_PIDFILE_DEFAULT "/run/tcpscope.pid"

/* The pidfile of the instance with this pin dir: /run/tcpscope.pid for the
 * default pin dir, else /run/tcpscope/NAME.pid, NAME as the event socket's
 * (/sys/fs/bpf/tcpscope-eth1 -> /run/tcpscope/tcpscope-eth1.pid). So one
 * daemon per pin dir, and instances of different pin dirs never collide. */
int tcps_pidfile_default(const char *pin_dir, char *buf, size_t len);
/* Create and lock the pidfile (O_EXCL, then flock). A pidfile held by a
 * live instance is refused with a message naming it (its command line) and
 * how to run a second one (TCPS_EXIT_FAIL); a stale one (its process gone,
 * lock free) is taken over. *fd gets the locked fd. */
int tcps_pidfile_take(const char *path, const char *pin_dir, int *fd);
/* A process's command line, arguments joined by spaces. 0 or -errno. */
int tcps_proc_cmdline(pid_t pid, char *buf, size_t len);
/* Write our PID into it (after the forks). */
int tcps_pidfile_write(int fd);
void tcps_pidfile_release(const char *path, int fd);

/*
 * Double fork + setsid, chdir /, stdio to /dev/null, diagnostics to
 * syslog. Only the daemon returns (0, *ready_fd set); the original process
 * waits until the daemon calls tcps_daemon_ready() and exits with the code
 * it reports, so that `tcpscope run --daemon` fails visibly when the start
 * fails. Returns TCPS_EXIT_FAIL if it cannot fork.
 */
int tcps_daemonize(int *ready_fd);
void tcps_daemon_ready(int *ready_fd, int code);

/* SIGHUP: reopen the syslog connection. */
void tcps_logs_reopen(void);

#endif /* TCPS_DAEMONIZE_H */
