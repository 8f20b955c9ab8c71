// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "utf8.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

int tcps_verbose;
bool tcps_json_errors;
bool tcps_use_syslog;
bool tcps_times_are_real;

static void vlog(int prio, const char *prefix, const char *fmt, va_list ap)
{
	if (tcps_use_syslog) {
		vsyslog(prio, fmt, ap);
		return;
	}
	/* --json: the error as a JSON object, but on stderr like every
	 * diagnostic, so that stdout holds only data ('stat --json 2>/dev/null'
	 * prints nothing on failure, and a pipe into jq never sees an error). */
	if (prio == LOG_ERR && tcps_json_errors) {
		char msg[1024];
		json_object *o = json_object_new_object();

		vsnprintf(msg, sizeof(msg), fmt, ap);
		json_object_object_add(o, "error", tcps_json_string(msg));
		fprintf(stderr, "%s\n",
			json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							      JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
		return;
	}
	fprintf(stderr, "tcpscope: %s", prefix);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

#define DEFINE_PR(name, prio, prefix, cond)      \
	void name(const char *fmt, ...)          \
	{                                        \
		va_list ap;                      \
		if (!(cond))                     \
			return;                  \
		va_start(ap, fmt);               \
		vlog(prio, prefix, fmt, ap);     \
		va_end(ap);                      \
	}

DEFINE_PR(pr_err, LOG_ERR, "", 1)
DEFINE_PR(pr_warn, LOG_WARNING, "warning: ", 1)
DEFINE_PR(pr_info, LOG_INFO, "", !tcps_json_errors || tcps_use_syslog)
DEFINE_PR(pr_debug, LOG_DEBUG, "debug: ", tcps_verbose)

int usage_err(const char *cmd, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pr_err("%s%s%s (see 'tcpscope %s%s--help')", cmd ? cmd : "", cmd ? ": " : "", msg,
	       cmd ? cmd : "", cmd ? " " : "");
	return TCPS_EXIT_USAGE;
}

int usage_bad_option(const char *cmd, char **argv, const char *shorts)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "?", *k;

	/* getopt_long sets optopt to the option's letter for an unknown short
	 * option and for a known one without its value: shorts tells which. */
	if (optopt && optopt < 128 && arg[0] == '-' && arg[1] != '-') {
		k = strchr(shorts, optopt);
		if (k && k[1] == ':')
			return usage_err(cmd, "option '-%c' needs a value", optopt);
		return usage_err(cmd, "unknown option '-%c'", optopt);
	}
	/* ... and to the option's value for a known long option without its
	 * value; 0 for an unknown (or ambiguous) one. */
	if (optopt)
		return usage_err(cmd, "option '%s' needs a value", arg);
	return usage_err(cmd, "unknown option '%.*s'", (int)strcspn(arg, "="), arg);
}

int pin_dir_arg(const char *cmd, const char *arg, const char **out)
{
	if (!*arg)
		return usage_err(cmd, "--pin-dir takes a directory, not ''");
	if (strlen(arg) >= PATH_MAX - 32)
		return usage_err(cmd, "--pin-dir: a path of at most %d bytes", PATH_MAX - 33);
	*out = arg;
	return 0;
}

static const char *const state_names[TCPS_STATE_MAX] = {
	[0] = "UNKNOWN",
	[TCPS_ESTABLISHED] = "ESTABLISHED",
	[TCPS_SYN_SENT] = "SYN_SENT",
	[TCPS_SYN_RECV] = "SYN_RECV",
	[TCPS_FIN_WAIT1] = "FIN_WAIT1",
	[TCPS_FIN_WAIT2] = "FIN_WAIT2",
	[TCPS_TIME_WAIT] = "TIME_WAIT",
	[TCPS_CLOSE] = "CLOSE",
	[TCPS_CLOSE_WAIT] = "CLOSE_WAIT",
	[TCPS_LAST_ACK] = "LAST_ACK",
	[TCPS_LISTEN] = "LISTEN",
	[TCPS_CLOSING] = "CLOSING",
};

const char *tcps_state_name(unsigned int state)
{
	return state < TCPS_STATE_MAX ? state_names[state] : "UNKNOWN";
}

int tcps_state_parse(const char *name)
{
	static const struct {
		const char *alias;
		int state;
	} aliases[] = {
		{ "SYN_RECEIVED", TCPS_SYN_RECV }, { "FIN_WAIT_1", TCPS_FIN_WAIT1 },
		{ "FIN_WAIT_2", TCPS_FIN_WAIT2 },  { "CLOSED", TCPS_CLOSE },
		{ "ESTAB", TCPS_ESTABLISHED },	   { "SYN-SENT", TCPS_SYN_SENT },
		{ "SYN-RECV", TCPS_SYN_RECV },	   { "FIN-WAIT-1", TCPS_FIN_WAIT1 },
		{ "FIN-WAIT-2", TCPS_FIN_WAIT2 },  { "TIME-WAIT", TCPS_TIME_WAIT },
		{ "CLOSE-WAIT", TCPS_CLOSE_WAIT }, { "LAST-ACK", TCPS_LAST_ACK },
		{ "UNCONN", TCPS_CLOSE },
	};
	unsigned int i;

	for (i = 1; i < TCPS_STATE_MAX; i++)
		if (!strcasecmp(name, state_names[i]))
			return (int)i;
	for (i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
		if (!strcasecmp(name, aliases[i].alias))
			return aliases[i].state;
	return -1;
}

static const char *const counter_names[TCPS_CNT_MAX] = {
	[TCPS_CNT_PACKETS] = "packets",
	[TCPS_CNT_TCP] = "tcp_packets",
	[TCPS_CNT_NON_TCP] = "non_tcp_packets",
	[TCPS_CNT_PARSE_ERR] = "parse_errors",
	[TCPS_CNT_NEW_CONN] = "new_connections",
	[TCPS_CNT_TRANSITIONS] = "transitions",
	[TCPS_CNT_RB_DROPS] = "ringbuf_dropped",
	[TCPS_CNT_TABLE_FULL] = "table_full",
	[TCPS_CNT_OOW] = "out_of_window",
	[TCPS_CNT_HALFOPEN_NEW] = "halfopen_new",
	[TCPS_CNT_PROMOTED] = "halfopen_promoted",
	[TCPS_CNT_MIDSTREAM] = "midstream",
	[TCPS_CNT_FRAGMENTS] = "fragments",
	[TCPS_CNT_RETRANS] = "retrans_segs",
};

const char *tcps_counter_name(unsigned int idx)
{
	return idx < TCPS_CNT_MAX && counter_names[idx] ? counter_names[idx] : "unknown";
}

void tcps_flags_str(__u8 flags, char buf[9])
{
	static const struct {
		__u8 bit;
		char c;
	} order[] = {
		{ TCPS_SYN, 'S' }, { TCPS_FIN, 'F' }, { TCPS_RST, 'R' }, { TCPS_PSH, 'P' },
		{ TCPS_ACK, 'A' }, { TCPS_URG, 'U' }, { TCPS_ECE, 'E' }, { TCPS_CWR, 'C' },
	};
	int i, n = 0;

	for (i = 0; i < 8; i++)
		if (flags & order[i].bit)
			buf[n++] = order[i].c;
	buf[n] = '\0';
}

int parse_u64(const char *s, unsigned long long min, unsigned long long max,
	      unsigned long long *out)
{
	unsigned long long v;
	char *end;

	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -errno;
	if (*end)
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

void tcps_addr_str(const struct tcps_key *k, int side, char *buf, size_t len)
{
	const __u8 *a = (const __u8 *)k->addr[side & 1];
	char *p = buf;
	int i;

	if (k->family == TCPS_AF_INET6 || len < INET_ADDRSTRLEN) {
		inet_ntop(k->family == TCPS_AF_INET6 ? AF_INET6 : AF_INET, a, buf, (socklen_t)len);
		return;
	}
	/* Dotted quad by hand: inet_ntop goes through sprintf, a tenth of
	 * list --json's time at a million rows. */
	for (i = 0; i < 4; i++) {
		if (a[i] >= 100)
			*p++ = (char)('0' + a[i] / 100);
		if (a[i] >= 10)
			*p++ = (char)('0' + a[i] / 10 % 10);
		*p++ = (char)('0' + a[i] % 10);
		*p++ = i < 3 ? '.' : '\0';
	}
}

static __u64 clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
}

__u64 tcps_mono_now(void)
{
	return clock_ns(CLOCK_MONOTONIC_COARSE);
}

__u64 tcps_real_now(void)
{
	return clock_ns(CLOCK_REALTIME);
}

/* real - mono, per thread, measured again once the coarse clock has
 * ticked (a few ms): list --json converts two times per row, a million
 * rows a second, and the offset moves only as NTP slews the real clock.
 * The real clock's read sits between two monotonic ones, taken again
 * if they are far apart: a preemption between two reads would put its
 * length (milliseconds on a loaded machine) into every time converted. */
static __s64 real_offset(void)
{
	static __thread __u64 tick;
	static __thread __s64 off;
	__u64 now = clock_ns(CLOCK_MONOTONIC_COARSE), m0, m1, r;
	int i;

	if (tick && now == tick)
		return off;
	for (i = 0;; i++) {
		m0 = clock_ns(CLOCK_MONOTONIC);
		r = clock_ns(CLOCK_REALTIME);
		m1 = clock_ns(CLOCK_MONOTONIC);
		if (m1 - m0 < 2000 || i == 3)
			break;
	}
	off = (__s64)(r - (m0 + (m1 - m0) / 2));
	tick = now;
	return off;
}

__u64 tcps_mono_to_real(__u64 mono_ns)
{
	/* One event is rendered once per sink (stdout, event socket, events
	 * file): each must print the same time, also when the offset is
	 * measured again between two of them, so the same instant converts
	 * to the same value as long as it comes in a row (per thread). */
	static __thread __u64 last_mono, last_real;

	if (tcps_times_are_real)
		return mono_ns;
	if (mono_ns && mono_ns == last_mono)
		return last_real;
	last_mono = mono_ns;
	last_real = mono_ns + (__u64)real_offset();
	return last_real;
}

/* v as n decimal digits, zero-padded, at p; returns the end. */
static char *put_digits(char *p, unsigned int v, int n)
{
	int i;

	for (i = n; i-- > 0; v /= 10)
		p[i] = (char)('0' + v % 10);
	return p + n;
}

void tcps_fmt_time(__u64 real_ns, char *buf, size_t len)
{
	/* The calendar part changes once a second (per thread, made again
	 * when it does); the rest is digits. No strftime or printf: list
	 * --json formats two times per row, a million rows. A __u64 of ns
	 * ends in 2554: the year always has 4 digits. */
	static __thread time_t last_sec = -1;
	static __thread char base[20];	/* 2026-11-26T09:17:39 */
	time_t sec = (time_t)(real_ns / 1000000000ULL);
	char out[28], *p;
	size_t n;

	if (sec != last_sec) {
		struct tm tm;

		gmtime_r(&sec, &tm);
		p = put_digits(base, (unsigned int)tm.tm_year + 1900, 4);
		*p++ = '-';
		p = put_digits(p, (unsigned int)tm.tm_mon + 1, 2);
		*p++ = '-';
		p = put_digits(p, (unsigned int)tm.tm_mday, 2);
		*p++ = 'T';
		p = put_digits(p, (unsigned int)tm.tm_hour, 2);
		*p++ = ':';
		p = put_digits(p, (unsigned int)tm.tm_min, 2);
		*p++ = ':';
		put_digits(p, (unsigned int)tm.tm_sec, 2);
		last_sec = sec;
	}
	memcpy(out, base, sizeof(base) - 1);
	p = out + sizeof(base) - 1;
	*p++ = '.';
	p = put_digits(p, (unsigned int)(real_ns % 1000000000ULL / 1000), 6);
	*p++ = 'Z';
	if (!len)
		return;
	n = (size_t)(p - out) < len - 1 ? (size_t)(p - out) : len - 1;
	memcpy(buf, out, n);
	buf[n] = '\0';
}

int tcps_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	(void)level;
	if (!tcps_verbose)
		return 0;
	return vfprintf(stderr, fmt, args);
}

int tcps_is_bpffs(const char *path)
{
	struct statfs st;

	if (statfs(path, &st))
		return -errno;
	return (unsigned long)st.f_type == BPF_FS_MAGIC;
}

int tcps_stdout_check(void)
{
	if (fcntl(STDOUT_FILENO, F_GETFD) < 0) {
		pr_err("cannot write the output: stdout is closed");
		return TCPS_EXIT_FAIL;
	}
	return 0;
}

__u32 tcps_netns_ino(void)
{
	struct stat st;

	return stat("/proc/self/ns/net", &st) ? 0 : (__u32)st.st_ino;
}

bool tcps_netns_name(__u32 ino, char *buf, size_t len)
{
	DIR *d = opendir("/run/netns");
	struct dirent *e;
	struct stat st;
	bool found = false;

	if (!d)
		return false;
	while (!found && (e = readdir(d))) {
		if (e->d_name[0] == '.' || fstatat(dirfd(d), e->d_name, &st, 0))
			continue;
		if ((__u32)st.st_ino == ino) {
			snprintf(buf, len, "%s", e->d_name);
			found = true;
		}
	}
	closedir(d);
	return found;
}
