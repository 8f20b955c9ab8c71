// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tcpscope run: the command line. Options are rows of a table (name, short
 * letter, argument, what they set), as xdp-tools' params.h does; getopt's
 * long-option array and short-option string are built from it, so the two
 * can never disagree.
 */
#include <ctype.h>
#include <getopt.h>
#include <limits.h>
#include <net/if.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "exports.h"
#include "run.h"

static const char run_usage[] =
	"Usage: tcpscope run -i IFACE [-i IFACE...] [OPTIONS]\n"
	"\n"
	"Attach tcpscope to the interfaces and print every TCP state transition.\n"
	"Runs in the foreground until SIGINT/SIGTERM, then detaches and unpins\n"
	"(with --persist: leaves programs and pins for the next run to adopt).\n"
	"\n"
	"Options:\n"
	"  -i, --interface IFACE  interface to watch (repeat for several; one table);\n"
	"                         followed when it is deleted and comes back. A\n"
	"                         pattern (-i 'veth*', fnmatch) takes every matching\n"
	"                         interface, at start and as it appears\n"
	"  -m, --mode MODE        host (default): this host's connections, local side\n"
	"                         known; passive: a mirror/SPAN port, orig/resp sides\n"
	"      --hook HOOK        ingress hook: auto (default: native XDP on physical\n"
	"                         NICs, tc on veth and virtual devices), xdp, tc.\n"
	"                         Only the programs needed are loaded (auto: for the\n"
	"                         interfaces at start; both with a pattern)\n"
	"      --xdp-mode MODE    auto (default), native, generic\n"
	"      --max-conns N      connection table size (default 262144)\n"
	"      --max-halfopen N   the separate table of unanswered handshakes, which a\n"
	"                         SYN flood fills instead (default max-conns/16)\n"
	"      --ring-size SIZE   the transitions' ring buffer: a power of two from\n"
	"                         64K to 1G (default 4M); bigger rides out longer\n"
	"                         stalls of the reader without ringbuf_dropped\n"
	"      --pin-dir DIR      where the maps are pinned (default /sys/fs/bpf/tcpscope)\n"
	"  -j, --json             transitions as JSON lines\n"
	"  -q, --quiet            print no transitions (queries still work); with no\n"
	"                         reader and no --events-file, make no events at all\n"
	"      --force            replace an XDP program already on the interface\n"
	"      --no-health        states only: no RTT, retransmissions, time in state,\n"
	"                         per-connection packets, bytes, interface or age\n"
	"      --prealloc         accepted, changes nothing: the connection table is\n"
	"                         always allocated whole at start (~293 B a connection\n"
	"                         of --max-conns, 119 B with --no-health)\n"
	"\n"
	"Daemon:\n"
	"  -D, --daemon           detach into the background (pidfile, syslog)\n"
	"      --pidfile FILE     default /run/tcpscope.pid with the default pin dir,\n"
	"                         else /run/tcpscope/NAME.pid (NAME: the pin dir below\n"
	"                         /sys/fs/bpf, '/' as '-'): one daemon per pin dir\n"
	"      --persist          on exit leave programs attached and maps pinned;\n"
	"                         a later 'run' adopts them ('tcpscope detach' removes)\n"
	"      --no-seed          do not read existing sockets (sock_diag) at start\n"
	"      --seed-interval S  re-read listening sockets every S seconds (default 10)\n"
	"      --time-wait S      TIME_WAIT lifetime, 2MSL (default 60)\n"
	"      --timeout STATE=S  idle timeout of a state; defaults: ESTABLISHED 432000,\n"
	"                         SYN_SENT 120, SYN_RECV 60, FIN_WAIT1 150, FIN_WAIT2 60,\n"
	"                         CLOSE_WAIT 60, LAST_ACK 150, CLOSING 150, CLOSE 10 (linger);\n"
	"                         mid-stream seen one way 300; LISTEN never\n"
	"\n"
	"Exports:\n"
	"  -l, --listen [ADDR:]PORT  HTTP: /metrics, /v1/stat, /v1/connections\n"
	"                         (loopback when only a port is given)\n"
	"      --events-file FILE append transitions as JSON lines (reopened on SIGHUP)\n"
	"      --event-socket PATH  socket for 'tcpscope events' (default\n"
	"                         /run/tcpscope/NAME.sock, NAME as for the pidfile:\n"
	"                         /run/tcpscope/tcpscope.sock with the default pin dir)\n"
	"  -v, --verbose          debug output (libbpf)\n"
	"  -h, --help             this help\n"
	"\n"
	"Examples:\n"
	"  sudo tcpscope run -i eth0\n"
	"  sudo tcpscope run -i eth0 -i eth1 --json | jq .\n"
	"  sudo tcpscope run -i 'veth*' --daemon            # every container's veth\n"
	"  sudo tcpscope run -i mirror0 --mode passive --hook xdp --xdp-mode native\n"
	"  sudo tcpscope run -i eth1 --pin-dir /sys/fs/bpf/tcpscope-eth1 --daemon\n";

struct keyword {
	const char *name;
	int value;
};

/* The value of arg in a NULL-terminated keyword list, or -1. */
static int keyword(const struct keyword *kw, const char *arg)
{
	for (; kw->name; kw++)
		if (!strcmp(kw->name, arg))
			return kw->value;
	return -1;
}

/* -i 'veth*': interfaces matching it are attached at start and as they
 * appear (links.c). */
static int opt_pattern(struct tcps_run_opts *o, const char *arg)
{
	int i;

	if (o->n_patterns >= TCPS_MAX_IFACES)
		return usage_err("run", "at most %d interface patterns", TCPS_MAX_IFACES);
	if (strlen(arg) > 64)
		return usage_err("run", "interface pattern too long: %s", arg);
	for (i = 0; i < o->n_patterns; i++)
		if (!strcmp(o->patterns[i], arg))
			return usage_err("run", "interface pattern %s given twice", arg);
	o->patterns[o->n_patterns++] = arg;
	return 0;
}

static int opt_interface(struct tcps_run_opts *o, const char *arg)
{
	struct tcps_iface *ifc = &o->ifaces[o->n_ifaces];
	int i;

	if (strpbrk(arg, "*?["))
		return opt_pattern(o, arg);
	if (o->n_ifaces >= TCPS_MAX_IFACES)
		return usage_err("run", "at most %d interfaces", TCPS_MAX_IFACES);
	if (strlen(arg) >= IF_NAMESIZE)
		return usage_err("run", "interface name too long: %s", arg);
	for (i = 0; i < o->n_ifaces; i++)
		if (!strcmp(o->ifaces[i].name, arg))
			return usage_err("run", "interface %s given twice", arg);
	snprintf(ifc->name, sizeof(ifc->name), "%s", arg);
	ifc->ifindex = (int)if_nametoindex(arg);
	if (!ifc->ifindex) {
		pr_err("unknown interface: %s", arg);
		return TCPS_EXIT_USAGE;
	}
	o->n_ifaces++;
	return 0;
}

static int opt_mode(struct tcps_run_opts *o, const char *arg)
{
	static const struct keyword kw[] = { { "host", TCPS_MODE_HOST },
					     { "passive", TCPS_MODE_PASSIVE },
					     { NULL, 0 } };
	int v = keyword(kw, arg);

	if (v < 0)
		return usage_err("run", "--mode takes host or passive, not '%s'", arg);
	o->mode = (__u32)v;
	return 0;
}

static int opt_hook(struct tcps_run_opts *o, const char *arg)
{
	static const struct keyword kw[] = { { "auto", TCPS_HOOK_AUTO },
					     { "xdp", TCPS_HOOK_XDP },
					     { "tc", TCPS_HOOK_TC },
					     { NULL, 0 } };
	int v = keyword(kw, arg);

	if (v < 0)
		return usage_err("run", "--hook takes auto, xdp or tc, not '%s'", arg);
	o->hook = (enum tcps_hook)v;
	return 0;
}

static int opt_xdp_mode(struct tcps_run_opts *o, const char *arg)
{
	static const struct keyword kw[] = { { "auto", TCPS_XDP_AUTO },
					     { "native", TCPS_XDP_NATIVE },
					     { "generic", TCPS_XDP_GENERIC },
					     { NULL, 0 } };
	int v = keyword(kw, arg);

	if (v < 0)
		return usage_err("run", "--xdp-mode takes auto, native or generic, not '%s'", arg);
	o->xdp_mode = (enum tcps_xdp_mode)v;
	return 0;
}

/* A table size option: 16 to 2^26 entries. */
static int opt_table_size(const char *opt, const char *arg, __u32 *out)
{
	unsigned long long v;

	if (parse_u64(arg, 16, 1U << 26, &v))
		return usage_err("run", "%s takes a number from 16 to %u, not '%s'", opt, 1U << 26,
				 arg);
	*out = (__u32)v;
	return 0;
}

static int opt_max_conns(struct tcps_run_opts *o, const char *arg)
{
	return opt_table_size("--max-conns", arg, &o->max_conns);
}

static int opt_max_halfopen(struct tcps_run_opts *o, const char *arg)
{
	return opt_table_size("--max-halfopen", arg, &o->max_halfopen);
}

/* --ring-size SIZE: bytes, or a number with K, M or G (binary units); a
 * BPF ring buffer is a power of two of pages. */
#define RING_MIN (64ULL << 10)
#define RING_MAX (1ULL << 30)
static int opt_ring_size(struct tcps_run_opts *o, const char *arg)
{
	static const char units[] = "KMG";
	size_t n = strlen(arg);
	const char *u = n && isalpha((unsigned char)arg[n - 1]) ?
				strchr(units, toupper((unsigned char)arg[n - 1])) : NULL;
	unsigned long long v;
	char num[24];

	if (u)
		n--;
	if (!n || n >= sizeof(num))
		goto bad;
	memcpy(num, arg, n);
	num[n] = '\0';
	if (parse_u64(num, 1, RING_MAX, &v))
		goto bad;
	if (u)
		v <<= 10 * (u - units + 1);
	if (v < RING_MIN || v > RING_MAX || (v & (v - 1)))
		goto bad;
	o->ring_bytes = (__u32)v;
	return 0;
bad:
	return usage_err("run", "--ring-size takes a power of two from 64K to 1G (bytes, or with K, M, G), not '%s'",
			 arg);
}

static int opt_pin_dir(struct tcps_run_opts *o, const char *arg)
{
	return pin_dir_arg("run", arg, &o->pin_dir);
}

static int opt_seed_interval(struct tcps_run_opts *o, const char *arg)
{
	unsigned long long v;

	if (parse_u64(arg, 1, 86400, &v))
		return usage_err("run", "--seed-interval takes 1-86400 seconds, not '%s'", arg);
	o->seed_interval_s = (__u32)v;
	return 0;
}

static int opt_time_wait(struct tcps_run_opts *o, const char *arg)
{
	unsigned long long v;

	if (parse_u64(arg, 1, 86400, &v))
		return usage_err("run", "--time-wait takes 1-86400 seconds, not '%s'", arg);
	o->time_wait_s = (__u32)v;
	o->timeouts_s[TCPS_TIME_WAIT] = (__u32)v;
	return 0;
}

/* --timeout STATE=SECONDS */
static int opt_timeout(struct tcps_run_opts *o, const char *arg)
{
	char name[32];
	const char *eq = strchr(arg, '=');
	unsigned long long v;
	int st;

	if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof(name))
		return usage_err("run", "--timeout takes STATE=SECONDS, not '%s'", arg);
	snprintf(name, sizeof(name), "%.*s", (int)(eq - arg), arg);
	st = tcps_state_parse(name);
	if (st < 0 || st == TCPS_LISTEN)
		return usage_err("run", "--timeout: %s%s%s; states with a timeout: ESTABLISHED SYN_SENT SYN_RECV FIN_WAIT1 FIN_WAIT2 TIME_WAIT CLOSE CLOSE_WAIT LAST_ACK CLOSING",
				 st == TCPS_LISTEN ? "" : "no such state '",
				 st == TCPS_LISTEN ? "LISTEN never expires (a listener sends no packets)" : name,
				 st == TCPS_LISTEN ? "" : "'");
	if (parse_u64(eq + 1, 1, 30 * 86400, &v))
		return usage_err("run", "--timeout %s takes 1-%u seconds, not '%s'", name,
				 30 * 86400, eq + 1);
	o->timeouts_s[st] = (__u32)v;
	if (st == TCPS_TIME_WAIT)
		o->time_wait_s = (__u32)v;
	if (st == TCPS_CLOSE)
		o->close_linger_s = (__u32)v;
	return 0;
}

static int opt_listen(struct tcps_run_opts *o, const char *arg)
{
	char host[256], port[8];

	if (tcps_http_parse_listen(arg, host, sizeof(host), port, sizeof(port)))
		return usage_err("run", "--listen takes [ADDR:]PORT (PORT 1-65535; [ADDR] for IPv6), not '%s'",
				 arg);
	o->listen = arg;
	return 0;
}

static int opt_verbose(struct tcps_run_opts *o, const char *arg)
{
	(void)o;
	(void)arg;
	tcps_verbose = 1;
	return 0;
}

/*
 * One row per option. A row sets a bool field (flag), a string field
 * (str), or calls its parser (fn). key is the short letter, or a number
 * past the letters for a long-only option.
 */
struct run_opt {
	const char *name;
	int key;
	int has_arg;
	size_t flag;	/* offsetof a bool, or 0 */
	size_t str;	/* offsetof a const char *, or 0 */
	int (*fn)(struct tcps_run_opts *o, const char *arg);
};

#define LONG_ONLY(n) (256 + (n))
#define FLAG(f) .flag = offsetof(struct tcps_run_opts, f)
#define STR(f) .str = offsetof(struct tcps_run_opts, f)

static const struct run_opt run_opts[] = {
	{ "interface", 'i', required_argument, .fn = opt_interface },
	{ "mode", 'm', required_argument, .fn = opt_mode },
	{ "hook", LONG_ONLY(1), required_argument, .fn = opt_hook },
	{ "xdp-mode", LONG_ONLY(2), required_argument, .fn = opt_xdp_mode },
	{ "max-conns", LONG_ONLY(3), required_argument, .fn = opt_max_conns },
	{ "pin-dir", LONG_ONLY(4), required_argument, .fn = opt_pin_dir },
	{ "json", 'j', no_argument, FLAG(json) },
	{ "quiet", 'q', no_argument, FLAG(quiet) },
	{ "force", LONG_ONLY(5), no_argument, FLAG(force) },
	{ "daemon", 'D', no_argument, FLAG(daemonize) },
	{ "pidfile", LONG_ONLY(6), required_argument, STR(pidfile) },
	{ "persist", LONG_ONLY(7), no_argument, FLAG(persist) },
	{ "no-seed", LONG_ONLY(8), no_argument, FLAG(no_seed) },
	{ "seed-interval", LONG_ONLY(9), required_argument, .fn = opt_seed_interval },
	{ "time-wait", LONG_ONLY(10), required_argument, .fn = opt_time_wait },
	{ "timeout", LONG_ONLY(11), required_argument, .fn = opt_timeout },
	{ "listen", 'l', required_argument, .fn = opt_listen },
	{ "events-file", LONG_ONLY(12), required_argument, STR(events_file) },
	{ "event-socket", LONG_ONLY(13), required_argument, STR(event_socket) },
	{ "no-health", LONG_ONLY(14), no_argument, FLAG(no_health) },
	{ "ring-size", LONG_ONLY(15), required_argument, .fn = opt_ring_size },
	{ "prealloc", LONG_ONLY(16), no_argument, FLAG(prealloc) },
	{ "max-halfopen", LONG_ONLY(17), required_argument, .fn = opt_max_halfopen },
	{ "verbose", 'v', no_argument, .fn = opt_verbose },
	{ "help", 'h', no_argument, .fn = NULL },
};

#define N_RUN_OPTS (sizeof(run_opts) / sizeof(run_opts[0]))

static const struct run_opt *opt_by_key(int key)
{
	unsigned int i;

	for (i = 0; i < N_RUN_OPTS; i++)
		if (run_opts[i].key == key)
			return &run_opts[i];
	return NULL;
}

static int opt_apply(const struct run_opt *r, struct tcps_run_opts *o, const char *arg)
{
	if (r->fn)
		return r->fn(o, arg);
	if (r->flag)
		*(bool *)((char *)o + r->flag) = true;
	else if (r->str)
		*(const char **)((char *)o + r->str) = arg;
	return 0;
}

/* getopt's long options and short-option string, from the table. */
static void getopt_tables(struct option *lo, char *shorts)
{
	unsigned int i, n = 0;

	for (i = 0; i < N_RUN_OPTS; i++) {
		lo[i] = (struct option){ run_opts[i].name, run_opts[i].has_arg, NULL, run_opts[i].key };
		if (run_opts[i].key < 256) {
			shorts[n++] = (char)run_opts[i].key;
			if (run_opts[i].has_arg == required_argument)
				shorts[n++] = ':';
		}
	}
	lo[N_RUN_OPTS] = (struct option){ 0 };
	shorts[n] = '\0';
}

int tcps_run_parse_args(int argc, char **argv, struct tcps_run_opts *o)
{
	struct option longopts[N_RUN_OPTS + 1];
	char shorts[2 * N_RUN_OPTS + 1];
	const struct run_opt *r;
	int c, err;

	getopt_tables(longopts, shorts);
	optind = 1;
	opterr = 0;	/* one line of our own instead of getopt's */
	while ((c = getopt_long(argc, argv, shorts, longopts, NULL)) != -1) {
		r = c == '?' ? NULL : opt_by_key(c);
		if (!r)
			return usage_bad_option("run", argv, shorts);
		if (c == 'h') {
			fputs(run_usage, stdout);
			return -1;
		}
		err = opt_apply(r, o, optarg);
		if (err)
			return err;
	}
	if (optind < argc)
		return usage_err("run", "unexpected argument '%s'", argv[optind]);
	if (!o->n_ifaces && !o->n_patterns)
		return usage_err("run", "give at least one interface with -i IFACE (or a pattern: -i 'veth*')");
	if (o->hook == TCPS_HOOK_TC && o->xdp_mode != TCPS_XDP_AUTO)
		return usage_err("run", "--xdp-mode makes no sense with --hook tc");
	return 0;
}
