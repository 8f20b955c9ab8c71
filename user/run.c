// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tcpscope run: load the BPF object, attach it to the interfaces, pin its
 * maps, and turn ring-buffer records into transition output until SIGINT
 * or SIGTERM; then undo exactly what it did. A failed start undoes
 * everything too: nothing is left attached or pinned.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "health.h"
#include "exports.h"
#include "daemonize.h"
#include "detach.h"
#include "output.h"
#include "tcpscope.skel.h"

static volatile sig_atomic_t exiting, hangup;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		hangup = 1;
	else
		exiting = 1;
}

/* Set when this run took over the pins (and programs) of a --persist one. */
static bool adopting;

static const char run_usage[] =
	"Usage: tcpscope run -i IFACE [-i IFACE...] [OPTIONS]\n"
	"\n"
	"Attach tcpscope to the interfaces and print every TCP state transition.\n"
	"Runs in the foreground until SIGINT/SIGTERM, then detaches and unpins\n"
	"(with --persist: leaves programs and pins for the next run to adopt).\n"
	"\n"
	"Options:\n"
	"  -i, --interface IFACE  interface to watch (repeat for several; one table)\n"
	"  -m, --mode MODE        host (default): this host's connections, local side\n"
	"                         known; passive: a mirror/SPAN port, orig/resp sides\n"
	"      --hook HOOK        ingress hook: auto (default: native XDP on physical\n"
	"                         NICs, tc on veth and virtual devices), xdp, tc\n"
	"      --xdp-mode MODE    auto (default), native, generic\n"
	"      --max-conns N      connection table size (default 262144); unanswered\n"
	"                         SYNs get a separate table of N/4\n"
	"      --pin-dir DIR      where the maps are pinned (default /sys/fs/bpf/tcpscope)\n"
	"  -j, --json             transitions as JSON lines\n"
	"  -q, --quiet            print no transitions (queries still work)\n"
	"      --force            replace an XDP program already on the interface\n"
	"      --no-health        do not track RTT, retransmissions and time in state\n"
	"\n"
	"Daemon:\n"
	"  -D, --daemon           detach into the background (pidfile, syslog)\n"
	"      --pidfile FILE     default /run/tcpscope.pid\n"
	"      --persist          on exit leave programs attached and maps pinned;\n"
	"                         a later 'run' adopts them ('tcpscope detach' removes)\n"
	"      --no-seed          do not read existing sockets (sock_diag) at start\n"
	"      --seed-interval S  re-read listening sockets every S seconds (default 10)\n"
	"      --time-wait S      TIME_WAIT lifetime, 2MSL (default 60)\n"
	"      --timeout STATE=S  idle timeout of a state; defaults: ESTABLISHED 432000,\n"
	"                         SYN_SENT 120, SYN_RECV 60, FIN_WAIT1 120, FIN_WAIT2 60,\n"
	"                         CLOSE_WAIT 60, LAST_ACK 30, CLOSING 10, CLOSE 10 (linger);\n"
	"                         mid-stream seen one way 300; LISTEN never\n"
	"\n"
	"Exports:\n"
	"  -l, --listen [ADDR:]PORT  HTTP: /metrics, /v1/stat, /v1/connections\n"
	"                         (loopback when only a port is given)\n"
	"      --events-file FILE append transitions as JSON lines (reopened on SIGHUP)\n"
	"      --event-socket PATH  socket for 'tcpscope events' (default PIN_DIR.sock)\n"
	"  -v, --verbose          debug output (libbpf)\n"
	"  -h, --help             this help\n"
	"\n"
	"Examples:\n"
	"  sudo tcpscope run -i eth0\n"
	"  sudo tcpscope run -i eth0 -i eth1 --json | jq .\n"
	"  sudo tcpscope run -i mirror0 --mode passive --hook xdp --xdp-mode native\n";

static void daemon_flush(struct tcps_daemon *d);

void tcps_daemon_emit(struct tcps_daemon *d, const struct tcps_event *e)
{
	const struct tcps_module *m;

	d->events_seen++;
	for (m = tcps_modules; m->name; m++)
		if (m->event)
			m->event(d, e);
	if (d->opts->quiet || d->stdout_broken)
		return;
	if (d->opts->json)
		tcps_json_print(stdout, tcps_event_json(e, d->opts->mode));
	else
		tcps_event_text(stdout, e, d->opts->mode);
	d->stdout_dirty = true;
	/* A person watching sees each line at once; a pipe or file gets one
	 * write per ring-buffer batch (a flush per event cost 4x in churn). */
	if (d->stdout_tty)
		daemon_flush(d);
}

static void daemon_flush(struct tcps_daemon *d)
{
	if (!d->stdout_dirty || d->stdout_broken)
		return;
	d->stdout_dirty = false;
	if (fflush(stdout) == EOF) {
		/* A closed pipe (| head) or a full disk: stop printing, keep
		 * tracking, say it once. */
		if (errno != EPIPE)
			pr_warn("stdout: %s; transitions are no longer printed", strerror(errno));
		d->stdout_broken = true;
		if (errno == EPIPE)
			exiting = 1;
	}
}

static int on_ringbuf(void *ctx, void *data, size_t size)
{
	struct tcps_event e;

	if (size < sizeof(e))
		return 0;
	memcpy(&e, data, sizeof(e));
	if (tcps_evbatch_push(&((struct tcps_daemon *)ctx)->batch, &e))
		tcps_daemon_emit(ctx, &e);	/* no memory to order it: emit as it came */
	return 0;
}

/* Drain the ring buffer: the batch in per-connection order, then out. */
static int daemon_drain(struct tcps_daemon *d, struct ring_buffer *rb)
{
	int n = ring_buffer__consume(rb);
	size_t i;

	tcps_evbatch_order(&d->batch);
	for (i = 0; i < d->batch.n; i++)
		tcps_daemon_emit(d, &d->batch.ev[i]);
	d->batch.n = 0;
	daemon_flush(d);
	return n;
}

/* Virtual devices (veth, bridges, tunnels) lose GRO/GSO under native XDP:
 * measured on veth, an XDP_PASS-only program cut iperf3 to 0.39x, while tc
 * ingress kept 0.99x (DESIGN §1). Physical NICs have a bus. */
static bool iface_is_virtual(const char *name)
{
	struct ethtool_drvinfo info = { .cmd = ETHTOOL_GDRVINFO };
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool virt = true;

	if (fd < 0)
		return true;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_data = (void *)&info;
	if (!ioctl(fd, SIOCETHTOOL, &ifr))
		virt = info.bus_info[0] == '\0' || !strcmp(info.bus_info, "N/A") ||
		       !strcmp(info.driver, "veth");
	close(fd);
	return virt;
}

static int xdp_attach(struct tcps_daemon *d, struct tcps_iface *ifc)
{
	int fd = bpf_program__fd(d->skel->progs.tcps_xdp_ingress), err;
	__u32 mode = d->opts->xdp_mode == TCPS_XDP_NATIVE  ? XDP_FLAGS_DRV_MODE :
		     d->opts->xdp_mode == TCPS_XDP_GENERIC ? XDP_FLAGS_SKB_MODE :
							     0;
	__u32 flags = mode | (d->opts->force ? 0 : XDP_FLAGS_UPDATE_IF_NOEXIST);
	__u32 id = 0, cur_mode = 0;
	LIBBPF_OPTS(bpf_xdp_attach_opts, ro);

	/* Our own program, left by a --persist run: replace it in place
	 * (REPLACE + its fd: atomic, and only if it is still that one). */
	if (adopting && !tcps_xdp_current(ifc->ifindex, &id, &cur_mode) && id &&
	    tcps_prog_is_ours(id)) {
		ro.old_prog_fd = tcps_prog_fd_by_id(id);
		if (ro.old_prog_fd >= 0) {
			if (!mode)
				mode = cur_mode;
			flags = mode | XDP_FLAGS_REPLACE;
			pr_info("%s: replacing tcpscope's XDP program %u", ifc->name, id);
		}
	}
	err = bpf_xdp_attach(ifc->ifindex, fd, flags, ro.old_prog_fd > 0 ? &ro : NULL);
	if (ro.old_prog_fd > 0)
		close(ro.old_prog_fd);
	if (err == -EBUSY || err == -EEXIST) {
		bpf_xdp_query_id(ifc->ifindex, 0, &id);
		pr_err("%s: another XDP program (id %u) is attached; tcpscope does not replace it (use --hook tc, or --force to replace it)",
		       ifc->name, id);
		return TCPS_EXIT_FAIL;
	}
	if (err) {
		pr_err("%s: cannot attach XDP%s: %s", ifc->name,
		       mode == XDP_FLAGS_DRV_MODE ? " in native mode" :
		       mode == XDP_FLAGS_SKB_MODE ? " in generic mode" : "",
		       strerror(-err));
		return TCPS_EXIT_FAIL;
	}
	ifc->xdp_attached = true;
	ifc->xdp_flags = mode;
	if (!mode) {
		/* Report what the kernel chose. */
		LIBBPF_OPTS(bpf_xdp_query_opts, q);
		if (!bpf_xdp_query(ifc->ifindex, 0, &q))
			mode = q.attach_mode == XDP_ATTACHED_SKB ? XDP_FLAGS_SKB_MODE :
										XDP_FLAGS_DRV_MODE;
	}
	ifc->ingress_desc = mode == XDP_FLAGS_SKB_MODE ? "xdp (generic)" : "xdp (native)";
	return 0;
}

static int tc_attach_one(struct tcps_iface *ifc, int prog_fd, enum bpf_tc_attach_point point,
			 bool *done)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifc->ifindex, .attach_point = point);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TCPS_TC_HANDLE, .priority = TCPS_TC_PRIO,
		    .prog_fd = prog_fd);
	__u32 cur = tcps_tc_current(ifc->ifindex, point == BPF_TC_INGRESS);
	int err;

	/* Our slot holds tcpscope's program of a --persist run: replace. */
	if (adopting && cur && tcps_prog_is_ours(cur))
		opts.flags = BPF_TC_F_REPLACE;
	err = bpf_tc_attach(&hook, &opts);

	if (err == -EEXIST) {
		pr_err("%s: a tc filter with tcpscope's handle %#x and priority %d is already on %s (another tcpscope? 'tcpscope detach')",
		       ifc->name, TCPS_TC_HANDLE, TCPS_TC_PRIO,
		       point == BPF_TC_INGRESS ? "ingress" : "egress");
		return TCPS_EXIT_FAIL;
	}
	if (err) {
		pr_err("%s: cannot attach tc %s: %s", ifc->name,
		       point == BPF_TC_INGRESS ? "ingress" : "egress", strerror(-err));
		return TCPS_EXIT_FAIL;
	}
	*done = true;
	return 0;
}

static int tc_hook_ensure(struct tcps_iface *ifc)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifc->ifindex,
		    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	int err = bpf_tc_hook_create(&hook);

	if (err && err != -EEXIST) {
		pr_err("%s: cannot create the clsact qdisc: %s", ifc->name, strerror(-err));
		return TCPS_EXIT_FAIL;
	}
	ifc->tc_hook_created = !err;
	return 0;
}

static void iface_detach(struct tcps_daemon *d, struct tcps_iface *ifc)
{
	if (ifc->xdp_attached) {
		LIBBPF_OPTS(bpf_xdp_attach_opts, o,
			    .old_prog_fd = bpf_program__fd(d->skel->progs.tcps_xdp_ingress));
		/* Only if it is still ours (REPLACE with old_prog_fd). */
		int err = bpf_xdp_detach(ifc->ifindex, ifc->xdp_flags | XDP_FLAGS_REPLACE, &o);

		if (err && err != -ENODEV && err != -EEXIST)
			pr_warn("%s: detaching XDP: %s", ifc->name, strerror(-err));
		ifc->xdp_attached = false;
	}
	if (ifc->tc_ingress_attached)
		tcps_tc_slot_detach(ifc->ifindex, ifc->name, true);
	if (ifc->tc_egress_attached)
		tcps_tc_slot_detach(ifc->ifindex, ifc->name, false);
	ifc->tc_ingress_attached = ifc->tc_egress_attached = false;
	if (ifc->tc_hook_created) {
		/* We made the clsact qdisc, so it goes too (as libbpf-bootstrap's
		 * tc example: only the hook we created). */
		LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifc->ifindex,
			    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
		bpf_tc_hook_destroy(&hook);
		ifc->tc_hook_created = false;
	}
}

static int iface_attach(struct tcps_daemon *d, struct tcps_iface *ifc)
{
	enum tcps_hook hook = d->opts->hook;
	int err;

	if (hook == TCPS_HOOK_AUTO)
		hook = (d->opts->xdp_mode != TCPS_XDP_AUTO || !iface_is_virtual(ifc->name)) ?
			       TCPS_HOOK_XDP :
			       TCPS_HOOK_TC;
	err = tc_hook_ensure(ifc);
	if (err)
		return err;
	/* A --persist run may have used the other ingress hook: take ours
	 * off it, or both would count every packet. */
	if (adopting)
		tcps_iface_remove_ours(ifc->ifindex, ifc->name, hook != TCPS_HOOK_XDP,
				       hook != TCPS_HOOK_TC, false);
	if (hook == TCPS_HOOK_XDP) {
		/* xdp-mode auto lets the kernel take native where the driver
		 * has it and generic elsewhere. */
		err = xdp_attach(d, ifc);
		if (err)
			return err;
	} else {
		err = tc_attach_one(ifc, bpf_program__fd(d->skel->progs.tcps_tc_ingress),
				    BPF_TC_INGRESS, &ifc->tc_ingress_attached);
		if (err)
			return err;
		ifc->ingress_desc = "tc";
	}
	err = tc_attach_one(ifc, bpf_program__fd(d->skel->progs.tcps_tc_egress), BPF_TC_EGRESS,
			    &ifc->tc_egress_attached);
	if (err)
		return err;
	pr_info("%s: ingress %s, egress tc, mode %s", ifc->name, ifc->ingress_desc,
		d->opts->mode == TCPS_MODE_PASSIVE ? "passive" : "host");
	return 0;
}

struct pin_spec {
	const char *name;
	struct bpf_map *map;
};

/* The pin directory must be new, ours, root-only and on a bpffs. */
static int pin_dir_prepare(const char *dir)
{
	char parent[PATH_MAX], *slash;
	int rc;

	snprintf(parent, sizeof(parent), "%s", dir);
	slash = strrchr(parent, '/');
	if (slash && slash != parent)
		*slash = '\0';
	else
		snprintf(parent, sizeof(parent), "%s", slash ? "/" : ".");
	rc = tcps_is_bpffs(parent);
	if (rc < 0) {
		pr_err("%s: %s (is the BPF filesystem mounted? mount -t bpf bpf /sys/fs/bpf)", parent,
		       strerror(-rc));
		return TCPS_EXIT_FAIL;
	}
	if (rc == 0) {
		pr_err("%s is not on a BPF filesystem: mount one (mount -t bpf bpf %s) or choose --pin-dir on one (note: 'ip netns exec' remounts /sys; use 'nsenter --net=...')",
		       parent, strcmp(parent, "/sys/fs/bpf") ? parent : "/sys/fs/bpf");
		return TCPS_EXIT_FAIL;
	}
	if (mkdir(dir, 0700)) {
		if (errno == EEXIST)
			return -EEXIST;	/* pins of an earlier run: adopt them */
		pr_err("%s: %s", dir, strerror(errno));
		return errno == EACCES || errno == EPERM ? TCPS_EXIT_PERM : TCPS_EXIT_FAIL;
	}
	return 0;
}

/*
 * The pin directory exists: a --persist run left its maps (and programs)
 * behind, or one was killed. Take them over if they are of our layout and
 * nobody runs there; the new programs then share the same tables.
 */
static int pins_adopt(struct tcps_run_opts *o, struct tcps_pins *old)
{
	int err = tcps_pins_open(o->pin_dir, old);	/* checks ABI and value size */

	if (err)
		return err;
	if (old->meta.pid && old->meta.pid != (__u32)getpid() &&
	    (!kill((pid_t)old->meta.pid, 0) || errno == EPERM)) {
		pr_err("tcpscope (pid %u) is already running with pins in %s; stop it first, or give another --pin-dir",
		       old->meta.pid, o->pin_dir);
		tcps_pins_close(old);
		return TCPS_EXIT_FAIL;
	}
	if (old->meta.mode != o->mode) {
		pr_err("the pins in %s were made in %s mode, not %s; clear them with 'tcpscope detach --pin-dir %s'",
		       o->pin_dir, old->meta.mode == TCPS_MODE_PASSIVE ? "passive" : "host",
		       o->mode == TCPS_MODE_PASSIVE ? "passive" : "host", o->pin_dir);
		tcps_pins_close(old);
		return TCPS_EXIT_FAIL;
	}
	if (old->meta.max_conns != o->max_conns && o->max_conns != TCPS_MAX_CONNS_DEFAULT)
		pr_warn("%s: the adopted table keeps its size %u (--max-conns %u ignored; 'tcpscope detach' to start afresh)",
			o->pin_dir, old->meta.max_conns, o->max_conns);
	o->max_conns = old->meta.max_conns;
	return 0;
}

static int parse_run_args(int argc, char **argv, struct tcps_run_opts *o)
{
	static const struct option longopts[] = {
		{ "interface", required_argument, NULL, 'i' },
		{ "mode", required_argument, NULL, 'm' },
		{ "hook", required_argument, NULL, 'H' },
		{ "xdp-mode", required_argument, NULL, 'X' },
		{ "max-conns", required_argument, NULL, 'M' },
		{ "pin-dir", required_argument, NULL, 'P' },
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "force", no_argument, NULL, 'F' },
		{ "daemon", no_argument, NULL, 'D' },
		{ "pidfile", required_argument, NULL, 1001 },
		{ "persist", no_argument, NULL, 1002 },
		{ "no-seed", no_argument, NULL, 1003 },
		{ "seed-interval", required_argument, NULL, 1004 },
		{ "time-wait", required_argument, NULL, 1005 },
		{ "timeout", required_argument, NULL, 1006 },
		{ "listen", required_argument, NULL, 'l' },
		{ "events-file", required_argument, NULL, 1007 },
		{ "event-socket", required_argument, NULL, 1008 },
		{ "no-health", no_argument, NULL, 1090 },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	unsigned long long v;
	int c, i;

	optind = 1;
	opterr = 0;	/* one line of our own instead of getopt's */
	while ((c = getopt_long(argc, argv, "i:m:l:jqvDh", longopts, NULL)) != -1) {
		switch (c) {
		case 'i': {
			struct tcps_iface *ifc = &o->ifaces[o->n_ifaces];

			if (o->n_ifaces >= TCPS_MAX_IFACES)
				return usage_err("run", "at most %d interfaces", TCPS_MAX_IFACES);
			if (strlen(optarg) >= IF_NAMESIZE)
				return usage_err("run", "interface name too long: %s", optarg);
			for (i = 0; i < o->n_ifaces; i++)
				if (!strcmp(o->ifaces[i].name, optarg))
					return usage_err("run", "interface %s given twice", optarg);
			snprintf(ifc->name, sizeof(ifc->name), "%s", optarg);
			ifc->ifindex = (int)if_nametoindex(optarg);
			if (!ifc->ifindex) {
				pr_err("unknown interface: %s", optarg);
				return TCPS_EXIT_USAGE;
			}
			o->n_ifaces++;
			break;
		}
		case 'm':
			if (!strcmp(optarg, "host"))
				o->mode = TCPS_MODE_HOST;
			else if (!strcmp(optarg, "passive"))
				o->mode = TCPS_MODE_PASSIVE;
			else
				return usage_err("run", "--mode takes host or passive, not '%s'", optarg);
			break;
		case 'H':
			if (!strcmp(optarg, "auto"))
				o->hook = TCPS_HOOK_AUTO;
			else if (!strcmp(optarg, "xdp"))
				o->hook = TCPS_HOOK_XDP;
			else if (!strcmp(optarg, "tc"))
				o->hook = TCPS_HOOK_TC;
			else
				return usage_err("run", "--hook takes auto, xdp or tc, not '%s'", optarg);
			break;
		case 'X':
			if (!strcmp(optarg, "auto"))
				o->xdp_mode = TCPS_XDP_AUTO;
			else if (!strcmp(optarg, "native"))
				o->xdp_mode = TCPS_XDP_NATIVE;
			else if (!strcmp(optarg, "generic"))
				o->xdp_mode = TCPS_XDP_GENERIC;
			else
				return usage_err("run", "--xdp-mode takes auto, native or generic, not '%s'",
						 optarg);
			break;
		case 'M':
			if (parse_u64(optarg, 16, 1U << 26, &v))
				return usage_err("run", "--max-conns takes a number from 16 to %u, not '%s'",
						 1U << 26, optarg);
			o->max_conns = (__u32)v;
			break;
		case 'P':
			if (!*optarg || strlen(optarg) >= PATH_MAX - 32)
				return usage_err("run", "--pin-dir: bad path");
			o->pin_dir = optarg;
			break;
		case 'j':
			o->json = true;
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'F':
			o->force = true;
			break;
		case 'D':
			o->daemonize = true;
			break;
		case 1001:
			o->pidfile = optarg;
			break;
		case 1002:
			o->persist = true;
			break;
		case 1003:
			o->no_seed = true;
			break;
		case 1004:
			if (parse_u64(optarg, 1, 86400, &v))
				return usage_err("run", "--seed-interval takes 1-86400 seconds, not '%s'", optarg);
			o->seed_interval_s = (__u32)v;
			break;
		case 1005:
			if (parse_u64(optarg, 1, 86400, &v))
				return usage_err("run", "--time-wait takes 1-86400 seconds, not '%s'", optarg);
			o->time_wait_s = (__u32)v;
			o->timeouts_s[TCPS_TIME_WAIT] = (__u32)v;
			break;
		case 1006: {
			/* --timeout STATE=SECONDS */
			char name[32], *eq = strchr(optarg, '=');
			int st;

			if (!eq || eq == optarg || (size_t)(eq - optarg) >= sizeof(name))
				return usage_err("run", "--timeout takes STATE=SECONDS, not '%s'", optarg);
			snprintf(name, sizeof(name), "%.*s", (int)(eq - optarg), optarg);
			st = tcps_state_parse(name);
			if (st < 0 || st == TCPS_LISTEN)
				return usage_err("run", "--timeout: no such state '%s'", name);
			if (parse_u64(eq + 1, 1, 30 * 86400, &v))
				return usage_err("run", "--timeout %s takes 1-%u seconds, not '%s'", name,
						 30 * 86400, eq + 1);
			o->timeouts_s[st] = (__u32)v;
			if (st == TCPS_TIME_WAIT)
				o->time_wait_s = (__u32)v;
			if (st == TCPS_CLOSE)
				o->close_linger_s = (__u32)v;
			break;
		}
		case 'l': {
			char host[256], port[8];

			if (tcps_http_parse_listen(optarg, host, sizeof(host), port, sizeof(port)))
				return usage_err("run", "--listen takes [ADDR:]PORT (PORT 1-65535; [ADDR] for IPv6), not '%s'",
						 optarg);
			o->listen = optarg;
			break;
		}
		case 1007:
			o->events_file = optarg;
			break;
		case 1008:
			o->event_socket = optarg;
			break;
		case 1090:
			o->no_health = true;
			break;
		case 'v':
			tcps_verbose = 1;
			break;
		case 'h':
			fputs(run_usage, stdout);
			return -1;
		default:
			return usage_bad_option("run", argv);
		}
	}
	if (optind < argc)
		return usage_err("run", "unexpected argument '%s'", argv[optind]);
	if (!o->n_ifaces)
		return usage_err("run", "give at least one interface with -i IFACE");
	if (o->hook == TCPS_HOOK_TC && o->xdp_mode != TCPS_XDP_AUTO)
		return usage_err("run", "--xdp-mode makes no sense with --hook tc");
	return 0;
}

/* Pin the programs next to the maps (replacing an adopted run's): a later
 * run or 'detach' recognises them by these pins, without CAP_SYS_ADMIN. */
static void progs_pin(struct tcps_daemon *d)
{
	struct { const char *name; struct bpf_program *p; } pp[] = {
		{ TCPS_PIN_PROG_XDP, d->skel->progs.tcps_xdp_ingress },
		{ TCPS_PIN_PROG_TC_IN, d->skel->progs.tcps_tc_ingress },
		{ TCPS_PIN_PROG_TC_EG, d->skel->progs.tcps_tc_egress },
	};
	char path[PATH_MAX];
	unsigned int i;

	for (i = 0; i < sizeof(pp) / sizeof(pp[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", d->opts->pin_dir, pp[i].name);
		unlink(path);
		if (bpf_obj_pin(bpf_program__fd(pp[i].p), path))
			pr_warn("cannot pin %s: %s", path, strerror(errno));
		else
			chmod(path, 0600);
	}
}

/* Counters at adoption: what the ring buffer could not hold while no
 * daemon was reading is counted there. */
static void adopt_report(struct tcps_daemon *d, struct ring_buffer *rb)
{
	__u64 cnt[TCPS_CNT_MAX] = { 0 };
	int n = daemon_drain(d, rb);

	tcps_counters_read(d->pins.stats, cnt);
	pr_info("adopted the pins in %s: %d transitions queued while no daemon ran%s; %llu lost to a full ring buffer since the first start",
		d->opts->pin_dir, n < 0 ? 0 : n, n < 0 ? " (read error)" : "",
		(unsigned long long)cnt[TCPS_CNT_RB_DROPS]);
}

int cmd_run(int argc, char **argv)
{
	struct tcps_run_opts opts = {
		.mode = TCPS_MODE_HOST,
		.max_conns = TCPS_MAX_CONNS_DEFAULT,
		.pin_dir = TCPS_PIN_DIR_DEFAULT,
		.pidfile = "/run/tcpscope.pid",
		.seed_interval_s = 10,
		.time_wait_s = 60,
	};
	struct tcps_daemon d = { .opts = &opts, .stdout_tty = isatty(STDOUT_FILENO) };
	struct ring_buffer *rb = NULL;
	struct pin_spec pins[6];
	struct tcps_pins old = { .conns = -1, .halfopen = -1, .events = -1,
				 .stats = -1, .trans = -1, .info = -1 };
	struct tcps_info info = { 0 };
	struct sigaction sa = { .sa_handler = on_signal };
	const struct tcps_module *m;
	bool pinned = false, made_dir = false;
	int pidfd = -1, ready_fd = -1;
	__u32 zero = 0;
	int err, i, n_pins = 0, started = 0;

	err = parse_run_args(argc, argv, &opts);
	if (err)
		return err < 0 ? TCPS_EXIT_OK : err;
	if (opts.json)
		tcps_json_errors = false;	/* JSON lines are data; errors stay on stderr */
	if (opts.daemonize)
		opts.quiet = true;	/* stdout is /dev/null; --events-file carries events */
	if (geteuid() != 0)
		pr_debug("not root: relying on capabilities (CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON)");
	if (!opts.quiet && fcntl(STDOUT_FILENO, F_GETFD) < 0) {
		pr_err("stdout is closed; use --quiet to run without printing transitions");
		return TCPS_EXIT_USAGE;
	}
	libbpf_set_print(tcps_libbpf_print);
	signal(SIGPIPE, SIG_IGN);

	if (opts.daemonize) {
		/* The lock is taken before forking (the children inherit it), so
		 * a second start is refused on the user's terminal. */
		err = tcps_pidfile_take(opts.pidfile, &pidfd);
		if (err)
			return err;
		err = tcps_daemonize(&ready_fd);
		if (err) {
			tcps_pidfile_release(opts.pidfile, pidfd);
			return err;
		}
		if (tcps_pidfile_write(pidfd))
			pr_warn("pidfile %s: %s", opts.pidfile, strerror(errno));
	}

	err = pin_dir_prepare(opts.pin_dir);
	if (err == -EEXIST) {
		err = pins_adopt(&opts, &old);
		if (err)
			goto out;
		adopting = true;
		tcps_ours_from_pins(opts.pin_dir);
	} else if (err) {
		goto out;
	} else {
		made_dir = true;
	}

	d.skel = tcpscope_bpf__open();
	if (!d.skel) {
		pr_err("cannot open the BPF object: %s", strerror(errno));
		err = TCPS_EXIT_FAIL;
		goto cleanup;
	}
	d.skel->rodata->tcps_mode = (__u8)opts.mode;
	d.skel->rodata->tcps_health = !opts.no_health;
	tcps_health_set_enabled(!opts.no_health);	/* /v1/connections */
	if (adopting) {
		/* Same maps for the new programs: reuse_fd takes the pinned
		 * map's definition (size included) and skips creating it. */
		struct { struct bpf_map *map; int fd; } r[] = {
			{ d.skel->maps.tcps_conns, old.conns },	{ d.skel->maps.tcps_halfopen, old.halfopen },
			{ d.skel->maps.tcps_events, old.events }, { d.skel->maps.tcps_stats, old.stats },
			{ d.skel->maps.tcps_trans, old.trans },	{ d.skel->maps.tcps_info, old.info },
		};

		for (i = 0; i < (int)(sizeof(r) / sizeof(r[0])); i++) {
			err = bpf_map__reuse_fd(r[i].map, r[i].fd);
			if (err) {
				pr_err("cannot reuse the pinned map %s: %s (clear the pins with 'tcpscope detach --pin-dir %s')",
				       bpf_map__name(r[i].map), strerror(-err), opts.pin_dir);
				err = TCPS_EXIT_FAIL;
				goto cleanup;
			}
		}
	} else {
		bpf_map__set_max_entries(d.skel->maps.tcps_conns, opts.max_conns);
		bpf_map__set_max_entries(d.skel->maps.tcps_halfopen,
					 opts.max_conns / TCPS_HALFOPEN_DIV < 16 ?
						 16 : opts.max_conns / TCPS_HALFOPEN_DIV);
	}
	err = tcpscope_bpf__load(d.skel);
	if (err) {
		if (err == -EPERM || err == -EACCES) {
			pr_err("cannot load the BPF programs: %s (run as root, or with CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON)",
			       strerror(-err));
			err = TCPS_EXIT_PERM;
		} else {
			pr_err("cannot load the BPF programs: %s (run with -v for the verifier log)",
			       strerror(-err));
			err = TCPS_EXIT_FAIL;
		}
		goto cleanup;
	}
	tcps_pins_close(&old);

	info.abi = TCPS_ABI_VERSION;
	info.mode = opts.mode;
	info.max_conns = opts.max_conns;
	info.pid = (__u32)getpid();
	info.started_ns = tcps_real_now();
	info.value_size = sizeof(struct tcps_conn);
	info.flags = opts.no_health ? 0 : TCPS_INFO_HEALTH;
	for (i = 0; i < opts.n_ifaces && i < (int)(sizeof(info.ifaces) / sizeof(info.ifaces[0])); i++) {
		info.ifaces[i].ifindex = (__u32)opts.ifaces[i].ifindex;
		snprintf(info.ifaces[i].name, sizeof(info.ifaces[i].name), "%s", opts.ifaces[i].name);
	}
	tcps_output_set_info(&d.pins.meta);
	bpf_map_update_elem(bpf_map__fd(d.skel->maps.tcps_info), &zero, &info, BPF_ANY);

	pins[n_pins++] = (struct pin_spec){ TCPS_PIN_CONNS, d.skel->maps.tcps_conns };
	pins[n_pins++] = (struct pin_spec){ TCPS_PIN_HALFOPEN, d.skel->maps.tcps_halfopen };
	pins[n_pins++] = (struct pin_spec){ TCPS_PIN_EVENTS, d.skel->maps.tcps_events };
	pins[n_pins++] = (struct pin_spec){ TCPS_PIN_STATS, d.skel->maps.tcps_stats };
	pins[n_pins++] = (struct pin_spec){ TCPS_PIN_TRANS, d.skel->maps.tcps_trans };
	pins[n_pins++] = (struct pin_spec){ TCPS_PIN_INFO, d.skel->maps.tcps_info };
	pinned = true;
	for (i = 0; i < n_pins && !adopting; i++) {
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/%s", opts.pin_dir, pins[i].name);
		err = bpf_obj_pin(bpf_map__fd(pins[i].map), path);
		if (err) {
			pr_err("cannot pin %s: %s", path, strerror(errno));
			err = TCPS_EXIT_FAIL;
			goto cleanup;
		}
		chmod(path, 0600);
	}
	d.pins.conns = bpf_map__fd(d.skel->maps.tcps_conns);
	d.pins.halfopen = bpf_map__fd(d.skel->maps.tcps_halfopen);
	d.pins.events = bpf_map__fd(d.skel->maps.tcps_events);
	d.pins.stats = bpf_map__fd(d.skel->maps.tcps_stats);
	d.pins.trans = bpf_map__fd(d.skel->maps.tcps_trans);
	d.pins.info = bpf_map__fd(d.skel->maps.tcps_info);
	d.pins.meta = info;

	rb = ring_buffer__new(d.pins.events, on_ringbuf, &d, NULL);
	if (!rb) {
		pr_err("cannot open the ring buffer: %s", strerror(errno));
		err = TCPS_EXIT_FAIL;
		goto cleanup;
	}
	/* An adopted ring buffer keeps its consumer position: what the old
	 * programs recorded while no daemon ran is delivered now. */
	if (adopting)
		adopt_report(&d, rb);

	/* Signals before attaching, so that a signal in between still
	 * leads to a clean detach. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	for (i = 0; i < opts.n_ifaces; i++) {
		err = iface_attach(&d, &opts.ifaces[i]);
		if (err)
			goto cleanup;
	}
	progs_pin(&d);
	for (m = tcps_modules; m->name; m++, started++) {
		if (m->start && (err = m->start(&d)))
			goto cleanup;
	}
	daemon_flush(&d);	/* seed transitions, before the first poll */
	pr_info("tracking on %d interface%s; maps pinned in %s%s", opts.n_ifaces,
		opts.n_ifaces == 1 ? "" : "s", opts.pin_dir,
		opts.daemonize ? "" : "; Ctrl-C to stop");
	tcps_daemon_ready(&ready_fd, TCPS_EXIT_OK);

	while (!exiting) {
		__u64 now = tcps_mono_now();

		if (hangup) {
			/* Log rotation: syslog here; modules see reopen_logs for
			 * exactly one round of ticks. */
			hangup = 0;
			d.reopen_logs = 1;
			tcps_logs_reopen();
			pr_info("SIGHUP: reopening logs");
		}
		for (m = tcps_modules; m->name; m++)
			if (m->tick)
				m->tick(&d, now);
		d.reopen_logs = 0;
		daemon_flush(&d);	/* timeouts and seed changes of the ticks */
		/* The BPF side wakes us only when the ring fills past a mark
		 * (per-event wake-ups cost µs); so poll, then always drain. */
		err = ring_buffer__poll(rb, 100);
		if (err < 0 && err != -EINTR) {
			pr_err("ring buffer: %s", strerror(-err));
			err = TCPS_EXIT_FAIL;
			goto cleanup;
		}
		daemon_drain(&d, rb);
	}
	daemon_drain(&d, rb);
	err = TCPS_EXIT_OK;

cleanup:
	while (started-- > 0)
		if (tcps_modules[started].stop)
			tcps_modules[started].stop(&d);
	tcps_pins_close(&old);
	if (err == TCPS_EXIT_OK && opts.persist && d.skel) {
		/* Leave programs attached (XDP and tc attachments hold their own
		 * references) and the maps pinned; the ring buffer accumulates
		 * until the next run adopts it. pid 0: nobody owns the pins. */
		info.pid = 0;
		bpf_map_update_elem(d.pins.info, &zero, &info, BPF_ANY);
		ring_buffer__free(rb);
		tcpscope_bpf__destroy(d.skel);
		pr_info("--persist: programs stay attached and maps pinned in %s (%llu transitions seen); 'tcpscope run' adopts them, 'tcpscope detach --pin-dir %s' removes them",
			opts.pin_dir, (unsigned long long)d.events_seen, opts.pin_dir);
		goto out;
	}
	if (adopting && err != TCPS_EXIT_OK && !exiting) {
		/* A failed takeover leaves what it found (and any program it
		 * already replaced, which feeds the same maps) for the next try. */
		ring_buffer__free(rb);
		tcpscope_bpf__destroy(d.skel);
		goto out;
	}
	for (i = opts.n_ifaces - 1; i >= 0; i--)
		if (d.skel)
			iface_detach(&d, &opts.ifaces[i]);
	ring_buffer__free(rb);
	if (pinned)
		tcps_pins_remove(opts.pin_dir);	/* maps and programs */
	else if (made_dir || adopting)
		rmdir(opts.pin_dir);
	tcpscope_bpf__destroy(d.skel);
	if (err == TCPS_EXIT_OK)
		pr_info("detached; %llu transitions seen", (unsigned long long)d.events_seen);
out:
	tcps_evbatch_free(&d.batch);
	tcps_daemon_ready(&ready_fd, err);
	if (pidfd >= 0)
		tcps_pidfile_release(opts.pidfile, pidfd);
	return err;
}
