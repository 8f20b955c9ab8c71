// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tcpscope detach: remove what a --persist daemon (or a killed one) left
 * behind: its XDP and tc programs on the interfaces, and its pins. Only
 * programs that are tcpscope's are touched, recognised by their names.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "daemon.h"
#include "daemonize.h"
#include "detach.h"
#include "ident.h"
#include "stale.h"
#include "maps.h"
#include "rtnl.h"

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

/* Is a pin below /sys/fs/bpf one of our program pins holding prog_id?
 * (What a caller without CAP_SYS_ADMIN can still tell.) */
static bool pinned_anywhere(__u32 prog_id)
{
	static const char *const names[] = { TCPS_PIN_PROG_XDP, TCPS_PIN_PROG_TC_IN,
					     TCPS_PIN_PROG_TC_EG };
	DIR *dir = opendir("/sys/fs/bpf");
	struct dirent *e;
	bool found = false;

	if (!dir)
		return false;
	while (!found && (e = readdir(dir))) {
		char path[PATH_MAX];
		unsigned int i;

		if (e->d_name[0] == '.' || e->d_type != DT_DIR)
			continue;
		for (i = 0; i < 3 && !found; i++) {
			struct bpf_prog_info info = {};
			__u32 len = sizeof(info);
			int fd;

			snprintf(path, sizeof(path), "/sys/fs/bpf/%s/%s", e->d_name, names[i]);
			fd = bpf_obj_get(path);
			if (fd < 0)
				continue;
			found = !bpf_obj_get_info_by_fd(fd, &info, &len) && info.id == prog_id;
			close(fd);
		}
	}
	closedir(dir);
	return found;
}

int tcps_prog_check_ours(__u32 prog_id)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	unsigned int i;
	int fd, ours = 0;

	if (!prog_id)
		return 0;
	for (i = 0; i < 3; i++)
		if (pinned_progs[i].id == prog_id)
			return 1;
	fd = bpf_prog_get_fd_by_id(prog_id);
	if (fd < 0) {
		int err = -errno;

		/* BPF_PROG_GET_FD_BY_ID needs CAP_SYS_ADMIN: without it, only
		 * our pins can tell, and not knowing is not "not ours". */
		if (pinned_anywhere(prog_id))
			return 1;
		return err == -EPERM || err == -EACCES ? -EPERM : 0;
	}
	if (!bpf_obj_get_info_by_fd(fd, &info, &len))
		for (i = 0; i < sizeof(our_progs) / sizeof(our_progs[0]); i++)
			if (!strncmp(info.name, our_progs[i], sizeof(info.name) - 1))
				ours = 1;
	close(fd);
	return ours;
}

bool tcps_prog_is_ours(__u32 prog_id)
{
	return tcps_prog_check_ours(prog_id) == 1;
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

/* Privilege, not ownership, stopped us: say so once per command. */
static int denied;

static void say_denied(const char *name, const char *what, __u32 id)
{
	if (!denied++)
		pr_err("%s: cannot %s (prog id %u): needs root, or CAP_BPF+CAP_NET_ADMIN (and CAP_SYS_ADMIN to recognise programs not pinned below /sys/fs/bpf)",
		       name, what, id);
}

static int tc_remove(int ifindex, const char *name, bool ingress)
{
	__u32 id = tcps_tc_current(ifindex, ingress);
	int ours = tcps_prog_check_ours(id), err;

	if (!id)
		return 0;
	if (ours < 0) {
		say_denied(name, ingress ? "tell whether the tc ingress filter is tcpscope's" :
					   "tell whether the tc egress filter is tcpscope's", id);
		return 0;
	}
	if (!ours) {
		pr_warn("%s: the tc %s filter at tcpscope's handle %#x prio %d is not tcpscope's (prog id %u); left alone",
			name, ingress ? "ingress" : "egress", TCPS_TC_HANDLE, TCPS_TC_PRIO, id);
		return 0;
	}
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TCPS_TC_HANDLE, .priority = TCPS_TC_PRIO);
	err = bpf_tc_detach(&hook, &opts);
	if (err == -EPERM || err == -EACCES) {
		say_denied(name, ingress ? "remove the tc ingress filter" : "remove the tc egress filter",
			   id);
		return 0;
	}
	if (err && err != -ENOENT && err != -ENODEV) {
		pr_warn("%s: removing tc %s: %s", name, ingress ? "ingress" : "egress", strerror(-err));
		return 0;
	}
	return !err;
}

static int xdp_remove(int ifindex, const char *name)
{
	__u32 id, mode;
	int ours, fd, err;

	if (tcps_xdp_current(ifindex, &id, &mode) || !id)
		return 0;
	ours = tcps_prog_check_ours(id);
	if (ours < 0)
		say_denied(name, "tell whether the XDP program is tcpscope's", id);
	if (ours <= 0)
		return 0;
	fd = tcps_prog_fd_by_id(id);
	LIBBPF_OPTS(bpf_xdp_attach_opts, o, .old_prog_fd = fd);
	/* REPLACE with the old fd: removes it only if it is still that
	 * program (no race with another tool's attach). */
	err = fd < 0 ? -errno : bpf_xdp_detach(ifindex, mode | XDP_FLAGS_REPLACE, &o);
	if (fd >= 0)
		close(fd);
	if (err == -EPERM || err == -EACCES)
		say_denied(name, "remove the XDP program", id);
	else if (err)
		pr_warn("%s: removing XDP program %u: %s", name, id, strerror(-err));
	return !err;
}

int tcps_iface_remove_ours(int ifindex, const char *name, bool xdp, bool tc_in, bool tc_eg)
{
	int n = 0;

	if (xdp)
		n += xdp_remove(ifindex, name);
	if (tc_in)
		n += tc_remove(ifindex, name, true);
	if (tc_eg)
		n += tc_remove(ifindex, name, false);
	return n;
}

/*
 * The clsact qdiscs tcpscope created are remembered in a small map pinned
 * beside the others (TCPS_PIN_CLSACT: ifindex -> 1), so that whoever ends
 * the instance (the daemon, or 'detach' after --persist) knows it may go.
 */
static int clsact_map(const char *pin_dir, bool create)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", pin_dir, TCPS_PIN_CLSACT);
	fd = bpf_obj_get(path);
	if (fd >= 0 || !create || errno != ENOENT)
		return fd;
	fd = bpf_map_create(BPF_MAP_TYPE_HASH, "tcps_clsact", sizeof(__u32), sizeof(__u32),
			    TCPS_MAX_IFACES * 4, NULL);
	if (fd < 0)
		return fd;
	if (bpf_obj_pin(fd, path)) {
		close(fd);
		return -1;
	}
	chmod(path, 0600);
	return fd;
}

void tcps_clsact_mark(const char *pin_dir, int ifindex)
{
	__u32 k = (__u32)ifindex, one = 1;
	int fd = clsact_map(pin_dir, true);

	if (fd < 0 || bpf_map_update_elem(fd, &k, &one, BPF_ANY))
		pr_debug("%s/%s: %s", pin_dir, TCPS_PIN_CLSACT, strerror(errno));
	if (fd >= 0)
		close(fd);
}

bool tcps_clsact_marked(const char *pin_dir, int ifindex)
{
	__u32 k = (__u32)ifindex, v;
	int fd = clsact_map(pin_dir, false);
	bool marked;

	if (fd < 0)
		return false;
	marked = !bpf_map_lookup_elem(fd, &k, &v);
	close(fd);
	return marked;
}

static void clsact_unmark(const char *pin_dir, int ifindex)
{
	__u32 k = (__u32)ifindex;
	int fd = clsact_map(pin_dir, false);

	if (fd < 0)
		return;
	bpf_map_delete_elem(fd, &k);
	close(fd);
}

bool tcps_clsact_release(const char *pin_dir, int ifindex, const char *name)
{
	int others = tcps_clsact_filters(ifindex);
	bool removed = false;

	if (others == 0) {
		LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
			    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);

		removed = !bpf_tc_hook_destroy(&hook);
	} else if (others > 0) {
		pr_info("%s: the clsact qdisc tcpscope made stays: %d filter%s of other tools on it",
			name, others, others == 1 ? "" : "s");
	}
	clsact_unmark(pin_dir, ifindex);
	return removed;
}

int tcps_pins_remove(const char *dir)
{
	static const char *const names[] = { TCPS_PIN_CONNS,	  TCPS_PIN_HALFOPEN,
					     TCPS_PIN_EVENTS,	  TCPS_PIN_STATS,
					     TCPS_PIN_TRANS,	  TCPS_PIN_INFO,
					     TCPS_PIN_PROG_XDP,	  TCPS_PIN_PROG_TC_IN,
					     TCPS_PIN_PROG_TC_EG, TCPS_PIN_CLSACT,
					     TCPS_PIN_TC_AGAIN };
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
	"Usage: tcpscope detach [-i IFACE]... [--all] [--pin-dir DIR] [--keep-pins]\n"
	"                       [--force]\n"
	"\n"
	"Remove what 'tcpscope run --persist' (or a killed instance) left behind:\n"
	"tcpscope's XDP and tc programs on the interfaces, the clsact qdisc it\n"
	"created (when no other filter is on it) and the pinned maps. Programs of\n"
	"other tools are never touched, nor pins that are not tcpscope's or were\n"
	"made in another network namespace (detach there). Refused while a\n"
	"running tcpscope owns the programs or the pins (stop it first).\n"
	"\n"
	"Options:\n"
	"  -i, --interface IFACE  remove tcpscope's programs from IFACE (repeat)\n"
	"  -a, --all              from every interface of this network namespace\n"
	"                         (the default when no -i is given)\n"
	"      --pin-dir DIR      pins to remove (default /sys/fs/bpf/tcpscope)\n"
	"      --keep-pins        remove programs only\n"
	"      --force            also when a running tcpscope owns them (it notices,\n"
	"                         and attaches again)\n"
	"  -v, --verbose          libbpf's messages\n"
	"  -h, --help             this help\n"
	"\n"
	"Examples:\n"
	"  sudo tcpscope detach\n"
	"  sudo tcpscope detach -i eth0 --pin-dir /sys/fs/bpf/tcpscope-eth0\n";

struct detach_args {
	const char *pin_dir;
	struct if_nameindex ifs[TCPS_MAX_IFACES];
	int n;
	bool all, keep, force;
};

/* -i NAME: one more interface to detach from; 0, or the exit code. */
static int add_iface(struct detach_args *a, char *name)
{
	if (a->n >= TCPS_MAX_IFACES)
		return usage_err("detach", "at most %d interfaces", TCPS_MAX_IFACES);
	a->ifs[a->n].if_index = if_nametoindex(name);
	if (!a->ifs[a->n].if_index) {
		pr_err("unknown interface: %s", name);
		return TCPS_EXIT_USAGE;
	}
	a->ifs[a->n++].if_name = name;
	return 0;
}

/* Option c (getopt's) into a; 0 to go on, -1 after --help, else the
 * exit code. */
static int detach_option(int c, char **argv, struct detach_args *a)
{
	switch (c) {
	case 'i':
		return add_iface(a, optarg);
	case 'a':
		a->all = true;
		return 0;
	case 'P':
		return pin_dir_arg("detach", optarg, &a->pin_dir);
	case 'K':
		a->keep = true;
		return 0;
	case 'F':
		a->force = true;
		return 0;
	case 'v':
		tcps_verbose = 1;
		return 0;
	case 'h':
		fputs(detach_usage, stdout);
		return -1;
	default:
		return usage_bad_option("detach", argv, "i:avh");
	}
}

static int parse_detach_args(int argc, char **argv, struct detach_args *a)
{
	static const struct option longopts[] = {
		{ "interface", required_argument, NULL, 'i' },
		{ "all", no_argument, NULL, 'a' },
		{ "pin-dir", required_argument, NULL, 'P' },
		{ "keep-pins", no_argument, NULL, 'K' },
		{ "force", no_argument, NULL, 'F' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	int c, err;

	optind = 1;
	opterr = 0;	/* one line of our own instead of getopt's */
	while ((c = getopt_long(argc, argv, "i:avh", longopts, NULL)) != -1) {
		err = detach_option(c, argv, a);
		if (err)
			return err;
	}
	if (optind < argc)
		return usage_err("detach", "unexpected argument '%s'", argv[optind]);
	if (!a->n)
		a->all = true;
	return 0;
}

/* "pid 123: tcpscope run -i eth0 ..." */
static void describe(pid_t pid, char *buf, size_t len)
{
	char cmd[256];

	if (!tcps_proc_cmdline(pid, cmd, sizeof(cmd)))
		snprintf(buf, len, "pid %d: %s", (int)pid, cmd);
	else
		snprintf(buf, len, "pid %d", (int)pid);
}

/* The pins must be tcpscope's, and not a running instance's. */
/*
 * Pins made in another network namespace: their interfaces, and the record
 * of the clsact qdiscs tcpscope made there, are out of sight here. Removing
 * the pins would leave the programs on those interfaces and lose that
 * record, so that a detach in the right namespace could no longer remove
 * the qdiscs. 0, or the exit code after one line.
 */
static int check_pins_netns(const char *dir)
{
	__u32 theirs = tcps_pins_netns(dir), ours = tcps_netns_ino();
	char name[NAME_MAX + 1], where[NAME_MAX + 64];

	if (!theirs || !ours || theirs == ours)
		return 0;
	if (tcps_netns_name(theirs, name, sizeof(name)))
		snprintf(where, sizeof(where), "nsenter --net=/run/netns/%s tcpscope detach", name);
	else
		snprintf(where, sizeof(where), "nsenter --net=/proc/PID/ns/net tcpscope detach");
	pr_err("the pins in %s were made in another network namespace (net:[%u]), whose interfaces this one cannot see: nothing removed; detach there ('%s --pin-dir %s'), or use --force to remove the pins only",
	       dir, theirs, where, dir);
	return TCPS_EXIT_FAIL;
}

static int check_pins(const struct detach_args *a)
{
	char bad[64], why[128], who[300];
	pid_t owner;
	int err;

	if (access(a->pin_dir, F_OK))
		return 0;
	err = tcps_pins_check_ours(a->pin_dir, bad, sizeof(bad), why, sizeof(why));
	if (err == -EPERM || err == -EACCES) {
		pr_err("%s/%s: %s: needs root, or CAP_BPF+CAP_NET_ADMIN", a->pin_dir, bad, why);
		return TCPS_EXIT_PERM;
	}
	if (err) {
		pr_err("%s/%s is not tcpscope's (%s): nothing removed; if it is no longer wanted, remove it yourself (rm %s/%s)",
		       a->pin_dir, bad, why, a->pin_dir, bad);
		return TCPS_EXIT_FAIL;
	}
	if (!a->keep && !a->force && (err = check_pins_netns(a->pin_dir)))
		return err;
	owner = a->keep ? 0 : tcps_pins_owner(a->pin_dir);
	if (owner && !a->force) {
		describe(owner, who, sizeof(who));
		pr_err("tcpscope (%s) is running with pins in %s; stop it first (kill -TERM %d), or use --force",
		       who, a->pin_dir, (int)owner);
		return TCPS_EXIT_FAIL;
	}
	return 0;
}

/* None of the programs to remove may belong to a running instance. */
static int check_prog_owners(const struct if_nameindex *ifs, const struct detach_args *a)
{
	const struct if_nameindex *p;
	char who[300];

	for (p = ifs; p->if_index; p++) {
		__u32 ids[3] = { 0 }, mode;
		unsigned int k;

		tcps_xdp_current((int)p->if_index, &ids[0], &mode);
		ids[1] = tcps_tc_current((int)p->if_index, true);
		ids[2] = tcps_tc_current((int)p->if_index, false);
		for (k = 0; k < 3; k++) {
			pid_t owner;

			if (!ids[k] || tcps_prog_check_ours(ids[k]) != 1)
				continue;
			owner = tcps_prog_owner(ids[k], NULL, 0);
			if (!owner)
				continue;
			if (a->force) {
				pr_warn("%s: removing the programs of running tcpscope pid %d (--force)",
					p->if_name, (int)owner);
				break;
			}
			describe(owner, who, sizeof(who));
			pr_err("%s: tcpscope's programs there belong to a running instance (%s); stop it first (kill -TERM %d), or use --force",
			       p->if_name, who, (int)owner);
			return TCPS_EXIT_FAIL;
		}
	}
	return 0;
}

/* Programs off every target interface, and the clsact qdiscs we made. */
static int remove_programs(const struct if_nameindex *ifs, const struct detach_args *a)
{
	const struct if_nameindex *p;
	int removed = 0, n;

	for (p = ifs; p->if_index; p++) {
		n = tcps_iface_remove_ours((int)p->if_index, p->if_name, true, true, true);
		removed += n;
		if (tcps_clsact_marked(a->pin_dir, (int)p->if_index) &&
		    tcps_clsact_release(a->pin_dir, (int)p->if_index, p->if_name))
			pr_info("%s: removed the clsact qdisc tcpscope had created", p->if_name);
	}
	return removed;
}

/* The programs: on the -i interfaces, or with --all on every one, after
 * checking that no running instance owns them; *removed: how many went.
 * 0, or the exit code. */
static int detach_programs(const struct detach_args *a, int *removed)
{
	struct if_nameindex *all = NULL;
	const struct if_nameindex *ifs;
	int err;

	if (a->all) {
		all = if_nameindex();
		if (!all) {
			pr_err("listing interfaces: %s", strerror(errno));
			return TCPS_EXIT_FAIL;
		}
	}
	ifs = all ? all : a->ifs;
	err = check_prog_owners(ifs, a);
	if (!err) {
		*removed = remove_programs(ifs, a);
		if (*removed)
			pr_info("removed %d tcpscope program%s", *removed, *removed == 1 ? "" : "s");
	}
	if (all)
		if_freenameindex(all);
	return err;
}

/* The pins and their directory (removed: programs that went before); the
 * exit code. */
static int detach_pins(const struct detach_args *a, int removed)
{
	int err;

	if (access(a->pin_dir, F_OK)) {
		if (!removed)
			pr_info("nothing to remove: no tcpscope programs%s, no %s",
				a->all ? "" : " there", a->pin_dir);
		return TCPS_EXIT_OK;
	}
	err = tcps_pins_remove(a->pin_dir);
	if (err == -ENOTEMPTY) {
		pr_err("%s holds files that are not tcpscope's: tcpscope's pins removed, the directory left",
		       a->pin_dir);
		return TCPS_EXIT_FAIL;
	}
	if (err) {
		pr_err("removing the pins in %s: %s%s", a->pin_dir, strerror(-err),
		       err == -EACCES || err == -EPERM ? " (needs root, or CAP_BPF+CAP_NET_ADMIN)" : "");
		return err == -EACCES || err == -EPERM ? TCPS_EXIT_PERM : TCPS_EXIT_FAIL;
	}
	pr_info("removed the pins in %s", a->pin_dir);
	return TCPS_EXIT_OK;
}

int cmd_detach(int argc, char **argv)
{
	struct detach_args a = { .pin_dir = TCPS_PIN_DIR_DEFAULT };
	int removed = 0, err;

	err = parse_detach_args(argc, argv, &a);
	if (err)
		return err < 0 ? TCPS_EXIT_OK : err;
	/* libbpf's own lines ("Parent Qdisc doesn't exists" for every
	 * interface without clsact) only with -v. */
	libbpf_set_print(tcps_libbpf_print);
	err = check_pins(&a);
	if (err)
		return err;
	tcps_ours_from_pins(a.pin_dir);	/* checked above: really ours */
	err = detach_programs(&a, &removed);
	if (err)
		return err;
	if (denied)
		return TCPS_EXIT_PERM;
	if (a.keep)
		return TCPS_EXIT_OK;
	return detach_pins(&a, removed);
}
