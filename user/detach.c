// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tcpscope detach: remove what a --persist daemon (or a killed one) left
 * behind: its XDP and tc programs on the interfaces, and its pins. Only
 * programs that are tcpscope's are touched, recognised by their names.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "daemon.h"
#include "detach.h"
#include "stale.h"
#include "maps.h"

/* BPF names as the kernel keeps them (BPF_OBJ_NAME_LEN - 1 = 15 chars). */
static const char *const our_progs[] = { "tcps_xdp_ingress", "tcps_tc_ingress", "tcps_tc_egress" };

static struct {
	__u32 id;
	int fd;
} pinned_progs[3] = { { 0, -1 }, { 0, -1 }, { 0, -1 } };

void tcps_ours_from_pins(const char *dir)
{
	static const char *const names[] = { TCPS_PIN_PROG_XDP, TCPS_PIN_PROG_TC_IN,
					     TCPS_PIN_PROG_TC_EG };
	char path[PATH_MAX];
	unsigned int i;

	for (i = 0; i < 3; i++) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);
		int fd;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
			close(fd);
			continue;
		}
		if (pinned_progs[i].fd >= 0)
			close(pinned_progs[i].fd);
		pinned_progs[i].id = info.id;
		pinned_progs[i].fd = fd;
	}
}

int tcps_prog_fd_by_id(__u32 prog_id)
{
	unsigned int i;
	int fd = bpf_prog_get_fd_by_id(prog_id);

	if (fd >= 0)
		return fd;
	for (i = 0; i < 3; i++)
		if (prog_id && pinned_progs[i].id == prog_id)
			return dup(pinned_progs[i].fd);
	return -1;
}

bool tcps_prog_is_ours(__u32 prog_id)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	unsigned int i;
	bool ours = false;
	int fd;

	if (!prog_id)
		return false;
	for (i = 0; i < 3; i++)
		if (pinned_progs[i].id == prog_id)
			return true;
	fd = bpf_prog_get_fd_by_id(prog_id);
	if (fd < 0)
		return false;
	if (!bpf_obj_get_info_by_fd(fd, &info, &len))
		for (i = 0; i < sizeof(our_progs) / sizeof(our_progs[0]); i++)
			if (!strncmp(info.name, our_progs[i], sizeof(info.name) - 1))
				ours = true;
	close(fd);
	return ours;
}

int tcps_xdp_current(int ifindex, __u32 *prog_id, __u32 *mode_flags)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	int err = bpf_xdp_query(ifindex, 0, &q);

	*prog_id = 0;
	*mode_flags = 0;
	if (err)
		return err;
	if (q.drv_prog_id) {
		*prog_id = q.drv_prog_id;
		*mode_flags = XDP_FLAGS_DRV_MODE;
	} else if (q.skb_prog_id) {
		*prog_id = q.skb_prog_id;
		*mode_flags = XDP_FLAGS_SKB_MODE;
	} else if (q.hw_prog_id) {
		*prog_id = q.hw_prog_id;
		*mode_flags = XDP_FLAGS_HW_MODE;
	}
	return 0;
}

__u32 tcps_tc_current(int ifindex, bool ingress)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TCPS_TC_HANDLE, .priority = TCPS_TC_PRIO);

	if (bpf_tc_query(&hook, &opts))
		return 0;
	return opts.prog_id;
}

int tcps_tc_slot_detach(int ifindex, const char *name, bool ingress)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TCPS_TC_HANDLE, .priority = TCPS_TC_PRIO);
	int err = bpf_tc_detach(&hook, &opts);

	if (err && err != -ENOENT && err != -ENODEV) {
		pr_warn("%s: removing tc %s: %s", name, ingress ? "ingress" : "egress",
			strerror(-err));
		return 0;
	}
	return !err;
}

static int tc_remove(int ifindex, const char *name, bool ingress)
{
	__u32 id = tcps_tc_current(ifindex, ingress);

	if (!id)
		return 0;
	if (!tcps_prog_is_ours(id)) {
		pr_warn("%s: the tc %s filter at tcpscope's handle %#x prio %d is not tcpscope's (prog id %u); left alone",
			name, ingress ? "ingress" : "egress", TCPS_TC_HANDLE, TCPS_TC_PRIO, id);
		return 0;
	}
	return tcps_tc_slot_detach(ifindex, name, ingress);
}

int tcps_iface_remove_ours(int ifindex, const char *name, bool xdp, bool tc_in, bool tc_eg)
{
	int n = 0;

	if (xdp) {
		__u32 id, mode;

		if (!tcps_xdp_current(ifindex, &id, &mode) && id && tcps_prog_is_ours(id)) {
			int fd = tcps_prog_fd_by_id(id), err;
			LIBBPF_OPTS(bpf_xdp_attach_opts, o, .old_prog_fd = fd);

			/* REPLACE with the old fd: removes it only if it is still
			 * that program (no race with another tool's attach). */
			err = fd < 0 ? -errno : bpf_xdp_detach(ifindex, mode | XDP_FLAGS_REPLACE, &o);
			if (fd >= 0)
				close(fd);
			if (err)
				pr_warn("%s: removing XDP program %u: %s", name, id, strerror(-err));
			else
				n++;
		}
	}
	if (tc_in)
		n += tc_remove(ifindex, name, true);
	if (tc_eg)
		n += tc_remove(ifindex, name, false);
	return n;
}

int tcps_pins_remove(const char *dir)
{
	static const char *const names[] = { TCPS_PIN_CONNS,	  TCPS_PIN_HALFOPEN,
					     TCPS_PIN_EVENTS,	  TCPS_PIN_STATS,
					     TCPS_PIN_TRANS,	  TCPS_PIN_INFO,
					     TCPS_PIN_PROG_XDP,	  TCPS_PIN_PROG_TC_IN,
					     TCPS_PIN_PROG_TC_EG };
	char path[PATH_MAX];
	unsigned int i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (unlink(path) && errno != ENOENT)
			return -errno;
	}
	if (rmdir(dir) && errno != ENOENT)
		return -errno;
	tcps_timeouts_forget(dir);	/* the timeouts recorded for queries (stale.h) */
	return 0;
}

static const char detach_usage[] =
	"Usage: tcpscope detach [-i IFACE]... [--all] [--pin-dir DIR]\n"
	"\n"
	"Remove what 'tcpscope run --persist' (or a killed instance) left behind:\n"
	"tcpscope's XDP and tc programs on the interfaces and the pinned maps.\n"
	"Programs of other tools are never touched. Refused while the instance\n"
	"that owns the pins is running (stop it first).\n"
	"\n"
	"Options:\n"
	"  -i, --interface IFACE  remove tcpscope's programs from IFACE (repeat)\n"
	"  -a, --all              from every interface of this network namespace\n"
	"                         (the default when no -i is given)\n"
	"      --pin-dir DIR      pins to remove (default /sys/fs/bpf/tcpscope)\n"
	"      --keep-pins        remove programs only\n"
	"  -h, --help             this help\n"
	"\n"
	"Examples:\n"
	"  sudo tcpscope detach\n"
	"  sudo tcpscope detach -i eth0 --pin-dir /sys/fs/bpf/tcpscope-eth0\n";

/* The pid that owns the pins, if it is alive; 0 otherwise. Reads the info
 * map without the layout check: pins of another ABI must be removable. */
static pid_t pins_owner(const char *dir)
{
	char path[PATH_MAX];
	struct tcps_info info = {};
	struct bpf_map_info mi = {};
	__u32 len = sizeof(mi), zero = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, TCPS_PIN_INFO);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	if (bpf_obj_get_info_by_fd(fd, &mi, &len) || mi.value_size < sizeof(info) ||
	    bpf_map_lookup_elem(fd, &zero, &info))
		info.pid = 0;	/* value of another size: not readable, assume dead */
	close(fd);
	if (info.pid && info.pid != (__u32)getpid() && (!kill((pid_t)info.pid, 0) || errno == EPERM))
		return (pid_t)info.pid;
	return 0;
}

int cmd_detach(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "interface", required_argument, NULL, 'i' },
		{ "all", no_argument, NULL, 'a' },
		{ "pin-dir", required_argument, NULL, 'P' },
		{ "keep-pins", no_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	const char *pin_dir = TCPS_PIN_DIR_DEFAULT;
	char *names[TCPS_MAX_IFACES];
	bool all = false, keep = false;
	int n = 0, c, i, removed = 0, err;
	pid_t owner;

	optind = 1;
	opterr = 0;	/* one line of our own instead of getopt's */
	while ((c = getopt_long(argc, argv, "i:ah", longopts, NULL)) != -1) {
		switch (c) {
		case 'i':
			if (n >= TCPS_MAX_IFACES)
				return usage_err("detach", "at most %d interfaces", TCPS_MAX_IFACES);
			if (!if_nametoindex(optarg)) {
				pr_err("unknown interface: %s", optarg);
				return TCPS_EXIT_USAGE;
			}
			names[n++] = optarg;
			break;
		case 'a':
			all = true;
			break;
		case 'P':
			if (!*optarg || strlen(optarg) >= PATH_MAX - 32)
				return usage_err("detach", "--pin-dir: bad path");
			pin_dir = optarg;
			break;
		case 'K':
			keep = true;
			break;
		case 'h':
			fputs(detach_usage, stdout);
			return TCPS_EXIT_OK;
		default:
			return usage_bad_option("detach", argv);
		}
	}
	if (optind < argc)
		return usage_err("detach", "unexpected argument '%s'", argv[optind]);
	if (!n)
		all = true;
	tcps_ours_from_pins(pin_dir);
	owner = keep ? 0 : pins_owner(pin_dir);
	if (owner) {
		pr_err("tcpscope (pid %d) is running with pins in %s; stop it first (kill -TERM %d)",
		       (int)owner, pin_dir, (int)owner);
		return TCPS_EXIT_FAIL;
	}
	if (all) {
		struct if_nameindex *ifs = if_nameindex(), *p;

		if (!ifs) {
			pr_err("listing interfaces: %s", strerror(errno));
			return TCPS_EXIT_FAIL;
		}
		for (p = ifs; p->if_index; p++)
			removed += tcps_iface_remove_ours((int)p->if_index, p->if_name, true, true, true);
		if_freenameindex(ifs);
	}
	for (i = 0; i < n; i++)
		removed += tcps_iface_remove_ours((int)if_nametoindex(names[i]), names[i], true, true,
						  true);
	if (removed)
		pr_info("removed %d tcpscope program%s", removed, removed == 1 ? "" : "s");
	if (keep)
		return TCPS_EXIT_OK;
	if (access(pin_dir, F_OK)) {
		if (!removed)
			pr_info("nothing to remove: no tcpscope programs%s, no %s", all ? "" : " there",
				pin_dir);
		return TCPS_EXIT_OK;
	}
	err = tcps_pins_remove(pin_dir);
	if (err) {
		pr_err("removing the pins in %s: %s", pin_dir, strerror(-err));
		return err == -EACCES || err == -EPERM ? TCPS_EXIT_PERM : TCPS_EXIT_FAIL;
	}
	pr_info("removed the pins in %s", pin_dir);
	return TCPS_EXIT_OK;
}
