/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Userspace helpers shared by every subcommand: diagnostics, names of
 * states and counters, strict number parsing, addresses and clocks. */
#ifndef TCPS_COMMON_H
#define TCPS_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <linux/types.h>
#include <bpf/libbpf.h>

#include "tcpscope.h"

#define TCPS_PIN_DIR_DEFAULT "/sys/fs/bpf/tcpscope"
#define TCPS_VERSION "0.1.0"

/* Exit codes, documented in the README and tcpscope(8). */
enum tcps_exit {
	TCPS_EXIT_OK = 0,
	TCPS_EXIT_FAIL = 1,	/* runtime failure (load, attach, I/O) */
	TCPS_EXIT_USAGE = 2,	/* bad command line */
	TCPS_EXIT_PERM = 3,	/* not enough privilege (root / CAP_BPF) */
	TCPS_EXIT_NOTRUNNING = 4,	/* no running instance, or pins of another layout */
	/* stat/list/top answered, but no daemon runs for the pins: nothing
	 * expired since it went, the query applied the timeouts itself. */
	TCPS_EXIT_STALE = 5,
};

extern int tcps_verbose;	/* -v: libbpf debug output, pr_debug */
extern bool tcps_json_errors;	/* --json: errors as {"error": ...} (on stderr) */
extern bool tcps_use_syslog;	/* daemon mode: diagnostics go to syslog */
/* replay: event and entry times are capture (wall-clock) times already,
 * so tcps_mono_to_real() passes them through unchanged. */
extern bool tcps_times_are_real;

void pr_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void pr_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void pr_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void pr_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A usage error: one line, then the hint to --help; returns TCPS_EXIT_USAGE. */
int usage_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* After getopt_long returned '?' (with opterr = 0): names the unknown
 * option or the option missing its value (shorts: getopt's option string,
 * which tells the two apart for a short option); returns TCPS_EXIT_USAGE. */
int usage_bad_option(const char *cmd, char **argv, const char *shorts);
/* --pin-dir DIR of every command: not empty, with room for the pin names
 * after it. 0 with *out set, or TCPS_EXIT_USAGE after one line. */
int pin_dir_arg(const char *cmd, const char *arg, const char **out);

/* netstat's spelling: ESTABLISHED SYN_SENT SYN_RECV FIN_WAIT1 FIN_WAIT2
 * TIME_WAIT CLOSE CLOSE_WAIT LAST_ACK LISTEN CLOSING. */
const char *tcps_state_name(unsigned int state);
/* Accepts netstat's and RFC 9293's spellings, any case; -1 if unknown. */
int tcps_state_parse(const char *name);
/* Counter names as used in --json and /metrics (snake_case). */
const char *tcps_counter_name(unsigned int idx);
/* "SA" for SYN+ACK: letters S F R P A U E C in that order. */
void tcps_flags_str(__u8 flags, char buf[9]);

/* Strict unsigned parse of the whole string within [min, max]. */
int parse_u64(const char *s, unsigned long long min, unsigned long long max,
	      unsigned long long *out);

/* Address text of one side of a key (IPv4 dotted or RFC 5952 IPv6). */
void tcps_addr_str(const struct tcps_key *k, int side, char *buf, size_t len);

/* The BPF programs stamp CLOCK_MONOTONIC (coarse) nanoseconds. */
__u64 tcps_mono_now(void);
__u64 tcps_real_now(void);
/* This process's network namespace: the inode of /proc/self/ns/net, 0 if
 * unknown. */
__u32 tcps_netns_ino(void);
/* The name under /run/netns (ip netns) of the namespace with inode ino:
 * true with buf filled, false if none is named so. */
bool tcps_netns_name(__u32 ino, char *buf, size_t len);
__u64 tcps_mono_to_real(__u64 mono_ns);
/* RFC 3339 UTC with microseconds: 2026-11-26T09:17:39.123456Z */
void tcps_fmt_time(__u64 real_ns, char *buf, size_t len);

/* libbpf's print callback: its lines only with -v. Without -v a failure
 * is our own one line, which says to rerun with -v for the details. */
int tcps_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args);

/* Queries write results to stdout: with fd 1 closed, the next open() would
 * become "stdout". Logs one line and returns TCPS_EXIT_FAIL if it is
 * closed, else 0. */
int tcps_stdout_check(void);

/* Is path on a BPF filesystem? 1 yes, 0 no, -errno if it can't be told. */
int tcps_is_bpffs(const char *path);

#endif /* TCPS_COMMON_H */
