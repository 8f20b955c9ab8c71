// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tcpscope run: the pin directory. Maps (and the programs, so that a later
 * run or 'detach' can recognise them without CAP_SYS_ADMIN) are pinned in
 * a new, root-only directory on a bpffs; a directory left by a --persist
 * run is adopted instead, its maps reused by the new programs.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "detach.h"
#include "ident.h"
#include "run.h"
#include "tcpscope.skel.h"

/* parent (of the pin directory) does not exist. If only a directory is
 * missing (its nearest existing ancestor is on a bpffs): said here, and
 * TCPS_EXIT_FAIL; else 0, parent now that ancestor (no bpffs at all). */
static int parent_missing(char *parent, size_t len)
{
	char up[PATH_MAX], *slash;

	snprintf(up, sizeof(up), "%s", parent);
	while (tcps_is_bpffs(up) == -ENOENT && (slash = strrchr(up, '/')) && slash != up)
		*slash = '\0';
	if (tcps_is_bpffs(up) == 1) {
		pr_err("%s does not exist: create it first (mkdir -p %s), or choose a --pin-dir whose parent exists",
		       parent, parent);
		return TCPS_EXIT_FAIL;
	}
	snprintf(parent, len, "%s", up);
	return 0;
}

/* Is dir's parent on a bpffs? 0, or TCPS_EXIT_FAIL (said here). */
static int pin_parent_check(const char *dir)
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
	if (rc == -ENOENT) {	/* only a directory missing, or no bpffs at all? */
		if (parent_missing(parent, sizeof(parent)))
			return TCPS_EXIT_FAIL;
		rc = 0;
	}
	if (rc < 0) {
		pr_err("%s: %s", parent, strerror(-rc));
		return TCPS_EXIT_FAIL;
	}
	if (rc == 0) {
		/* Never "mount bpffs over /tmp": only /sys/fs/bpf is the place. */
		if (!strncmp(parent, "/sys/fs/bpf", 11) && (!parent[11] || parent[11] == '/'))
			pr_err("%s is not on a BPF filesystem: /sys/fs/bpf is not mounted (mount -t bpf bpf /sys/fs/bpf; note: 'ip netns exec' remounts /sys, use 'nsenter --net=...')",
			       dir);
		else
			pr_err("%s is not on a BPF filesystem: choose --pin-dir under /sys/fs/bpf", dir);
		return TCPS_EXIT_FAIL;
	}
	return 0;
}

/* An existing pin directory is adopted only if it is a directory of this
 * user's: /sys/fs/bpf is world-writable (1777), so anyone may have made
 * it, and its pins would then be theirs to choose. 0, or TCPS_EXIT_FAIL
 * (said here). */
static int pin_dir_ours(const char *dir)
{
	struct stat st;

	if (lstat(dir, &st)) {
		pr_err("%s: %s", dir, strerror(errno));
		return TCPS_EXIT_FAIL;
	}
	if (!S_ISDIR(st.st_mode)) {
		pr_err("%s exists and is not a directory: remove it, or choose another --pin-dir", dir);
		return TCPS_EXIT_FAIL;
	}
	if (st.st_uid != geteuid()) {
		pr_err("%s belongs to uid %u, not to this user (uid %u): its pins are not adopted; remove it, or choose another --pin-dir",
		       dir, (unsigned int)st.st_uid, (unsigned int)geteuid());
		return TCPS_EXIT_FAIL;
	}
	return 0;
}

/* The pin directory must be new, ours, root-only and on a bpffs. */
int tcps_pin_dir_prepare(const char *dir)
{
	int rc = pin_parent_check(dir);

	if (rc)
		return rc;
	if (mkdir(dir, 0700)) {
		if (errno == EEXIST)	/* pins of an earlier run: adopt them */
			return pin_dir_ours(dir) ? TCPS_EXIT_FAIL : -EEXIST;
		pr_err("%s: %s", dir, strerror(errno));
		return errno == EACCES || errno == EPERM ? TCPS_EXIT_PERM : TCPS_EXIT_FAIL;
	}
	return 0;
}

/* An adopted map keeps its size: *want (an option's value, 0 or dflt
 * when not given) takes it, with a warning if it was given otherwise. */
static void pins_adopt_size(const struct tcps_run_opts *o, int fd, __u32 *want, __u32 dflt,
			    const char *what, const char *opt)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len) || !info.max_entries)
		return;		/* bpf_map__reuse_fd, which reads the same, then fails */
	if (info.max_entries != *want && *want && *want != dflt)
		pr_warn("%s: the adopted %s keeps its size %u (%s %u ignored; 'tcpscope detach' to start afresh)",
			o->pin_dir, what, info.max_entries, opt, *want);
	*want = info.max_entries;
}

/*
 * The pin directory exists: a --persist run left its maps (and programs)
 * behind, or one was killed. Take them over if they are of our layout and
 * nobody runs there; the new programs then share the same tables.
 */
int tcps_pins_adopt(struct tcps_run_opts *o, struct tcps_pins *old)
{
	int err = tcps_pins_open(o->pin_dir, old);	/* checks ABI and value size */

	if (err)
		return err;
	/* A pid alive but not the daemon's (reused after a kill -9) owns nothing. */
	if (tcps_info_owner_alive(&old->meta)) {
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
	/* Health off made the tables without the health block (tcpscope.h
	 * TCPS_CONN_SIZE_SLIM): the setting goes with the pins. */
	if (!(old->meta.flags & TCPS_INFO_HEALTH) != o->no_health) {
		pr_err("the pins in %s were made with health %s; run %s--no-health, or clear them with 'tcpscope detach --pin-dir %s'",
		       o->pin_dir, o->no_health ? "on" : "off", o->no_health ? "without " : "with ",
		       o->pin_dir);
		tcps_pins_close(old);
		return TCPS_EXIT_FAIL;
	}
	if (old->meta.max_conns != o->max_conns && o->max_conns != TCPS_MAX_CONNS_DEFAULT)
		pr_warn("%s: the adopted table keeps its size %u (--max-conns %u ignored; 'tcpscope detach' to start afresh)",
			o->pin_dir, old->meta.max_conns, o->max_conns);
	o->max_conns = old->meta.max_conns;
	pins_adopt_size(o, old->events, &o->ring_bytes, TCPS_RINGBUF_BYTES, "ring buffer",
			"--ring-size");
	pins_adopt_size(o, old->halfopen, &o->max_halfopen, 0, "half-open table", "--max-halfopen");
	return 0;
}

/* Pin the programs next to the maps (replacing an adopted run's): a later
 * run or 'detach' recognises them by these pins, without CAP_SYS_ADMIN. A
 * program this run did not load leaves no pin (an adopted run's goes).
 * With them the tc programs' prog array (tcps_tc_again): the kernel empties
 * a prog array when its last fd and pin are gone, and the programs stay on
 * their hooks after --persist or a kill. */
void tcps_progs_pin(struct tcps_daemon *d)
{
	struct { const char *name; int fd; } pp[] = {
		{ TCPS_PIN_PROG_XDP, bpf_program__fd(d->skel->progs.tcps_xdp_ingress) },
		{ TCPS_PIN_PROG_TC_IN, bpf_program__fd(d->skel->progs.tcps_tc_ingress) },
		{ TCPS_PIN_PROG_TC_EG, bpf_program__fd(d->skel->progs.tcps_tc_egress) },
		{ TCPS_PIN_TC_AGAIN, bpf_map__fd(d->skel->maps.tcps_tc_again) },
	};
	char path[PATH_MAX];
	unsigned int i;

	for (i = 0; i < sizeof(pp) / sizeof(pp[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", d->opts->pin_dir, pp[i].name);
		unlink(path);
		if (pp[i].fd < 0)
			continue;
		if (bpf_obj_pin(pp[i].fd, path))
			pr_warn("cannot pin %s: %s", path, strerror(errno));
		else
			chmod(path, 0600);
	}
}


/* The maps of the skeleton with their pin names, in tcps_pins order. */
static void map_table(struct tcpscope_bpf *skel, struct bpf_map *maps[6], const char *names[6])
{
	struct bpf_map *m[6] = { skel->maps.tcps_conns, skel->maps.tcps_halfopen,
				 skel->maps.tcps_events, skel->maps.tcps_stats,
				 skel->maps.tcps_trans,	 skel->maps.tcps_info };
	static const char *const n[6] = { TCPS_PIN_CONNS, TCPS_PIN_HALFOPEN, TCPS_PIN_EVENTS,
					   TCPS_PIN_STATS, TCPS_PIN_TRANS,    TCPS_PIN_INFO };
	int i;

	for (i = 0; i < 6; i++) {
		maps[i] = m[i];
		names[i] = n[i];
	}
}

int tcps_maps_reuse(struct tcps_daemon *d, const struct tcps_pins *old)
{
	const int fds[6] = { old->conns, old->halfopen, old->events,
			     old->stats, old->trans,	old->info };
	struct bpf_map *maps[6];
	const char *names[6];
	int i, err;

	map_table(d->skel, maps, names);
	/* Same maps for the new programs: reuse_fd takes the pinned map's
	 * definition (size included) and skips creating it. */
	for (i = 0; i < 6; i++) {
		err = bpf_map__reuse_fd(maps[i], fds[i]);
		if (err) {
			pr_err("cannot reuse the pinned map %s: %s (clear the pins with 'tcpscope detach --pin-dir %s')",
			       bpf_map__name(maps[i]), strerror(-err), d->opts->pin_dir);
			return TCPS_EXIT_FAIL;
		}
	}
	return 0;
}

int tcps_maps_pin(struct tcps_daemon *d)
{
	struct bpf_map *maps[6];
	const char *names[6];
	char path[PATH_MAX];
	int i;

	map_table(d->skel, maps, names);
	for (i = 0; i < 6 && !d->adopting; i++) {
		snprintf(path, sizeof(path), "%s/%s", d->opts->pin_dir, names[i]);
		if (bpf_obj_pin(bpf_map__fd(maps[i]), path)) {
			pr_err("cannot pin %s: %s", path, strerror(errno));
			return TCPS_EXIT_FAIL;
		}
		chmod(path, 0600);
	}
	d->pins.conns = bpf_map__fd(d->skel->maps.tcps_conns);
	d->pins.halfopen = bpf_map__fd(d->skel->maps.tcps_halfopen);
	d->pins.events = bpf_map__fd(d->skel->maps.tcps_events);
	d->pins.stats = bpf_map__fd(d->skel->maps.tcps_stats);
	d->pins.trans = bpf_map__fd(d->skel->maps.tcps_trans);
	d->pins.info = bpf_map__fd(d->skel->maps.tcps_info);
	return 0;
}
