// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Whose is it? Before 'detach' (or an adopting 'run') touches programs or
 * pins it asks: are these pins tcpscope's at all (a foreign map pinned as
 * "conns" is not), and does a running tcpscope own them (the pid in the
 * info map, alive and tcpscope)?
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "detach.h"
#include "ident.h"
#include "maps.h"
#include "stale.h"

bool tcps_pid_is_tcpscope(pid_t pid)
{
	char path[64], comm[32] = "";
	ssize_t n;
	int fd;

	if (pid <= 0 || pid == getpid())
		return false;
	if (kill(pid, 0) && errno != EPERM)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;	/* alive, but we cannot tell what it is: assume ours */
	n = read(fd, comm, sizeof(comm) - 1);
	close(fd);
	if (n <= 0)
		return true;
	comm[n] = '\0';
	/* A pid of a dead daemon, reused by another program, owns nothing. */
	return !strncmp(comm, "tcpscope", 8);
}

/* The info map's value (fd), read at the map's own value size (an info
 * map of another layout may be larger); a smaller one is not read. */
static int info_fd_read(int fd, struct tcps_info *info)
{
	struct bpf_map_info mi = {};
	__u32 len = sizeof(mi), zero = 0;
	void *val;
	int err;

	if (bpf_obj_get_info_by_fd(fd, &mi, &len) || mi.type != BPF_MAP_TYPE_ARRAY ||
	    mi.value_size < sizeof(*info) || mi.value_size > 65536)
		return -EPROTO;
	val = calloc(1, mi.value_size);
	if (!val)
		return -ENOMEM;
	err = bpf_map_lookup_elem(fd, &zero, val) ? -errno : 0;
	memcpy(info, val, sizeof(*info));
	free(val);
	return err;
}

bool tcps_info_owner_alive(const struct tcps_info *m)
{
	/* A recorded start names that very process, whatever it is called
	 * (under valgrind, say), and the daemon itself when its HTTP API asks;
	 * without one, a live tcpscope by name (never ourselves). */
	if (m->start_ticks)
		return tcps_pid_alive(m->pid, m->start_ticks);
	return tcps_pid_is_tcpscope((pid_t)m->pid);
}

pid_t tcps_info_fd_owner(int fd)
{
	struct tcps_info info = {};

	if (info_fd_read(fd, &info))
		return 0;
	return tcps_info_owner_alive(&info) ? (pid_t)info.pid : 0;
}

__u32 tcps_pins_netns(const char *dir)
{
	struct tcps_info info = {};
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, TCPS_PIN_INFO);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	if (info_fd_read(fd, &info))
		info.netns_ino = 0;
	close(fd);
	return info.netns_ino;
}

pid_t tcps_pins_owner(const char *dir)
{
	char path[PATH_MAX];
	pid_t pid;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, TCPS_PIN_INFO);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	pid = tcps_info_fd_owner(fd);
	close(fd);
	return pid;
}

/* Through the program's own maps: its tcps_info map names the owner.
 * Needs CAP_SYS_ADMIN (BPF_MAP_GET_FD_BY_ID); -EPERM without it. */
static int owner_by_maps(__u32 prog_id, pid_t *owner)
{
	__u32 ids[32], len, i, n;
	struct bpf_prog_info pi;
	int fd = tcps_prog_fd_by_id(prog_id), err = 0;

	*owner = 0;
	if (fd < 0)
		return -EPERM;
	memset(&pi, 0, sizeof(pi));
	pi.nr_map_ids = sizeof(ids) / sizeof(ids[0]);
	pi.map_ids = (__u64)(uintptr_t)ids;
	len = sizeof(pi);
	if (bpf_obj_get_info_by_fd(fd, &pi, &len)) {
		err = -errno;
		close(fd);
		return err;
	}
	close(fd);
	n = pi.nr_map_ids < sizeof(ids) / sizeof(ids[0]) ? pi.nr_map_ids :
							    sizeof(ids) / sizeof(ids[0]);
	for (i = 0; i < n && !*owner; i++) {
		struct bpf_map_info mi = {};
		__u32 mlen = sizeof(mi);
		int mfd = bpf_map_get_fd_by_id(ids[i]);

		if (mfd < 0) {
			err = -errno;
			continue;
		}
		if (!bpf_obj_get_info_by_fd(mfd, &mi, &mlen) && !strcmp(mi.name, "tcps_info"))
			*owner = tcps_info_fd_owner(mfd);
		close(mfd);
	}
	return *owner ? 0 : err;
}

/* Through pins: a pin dir below /sys/fs/bpf whose program pins hold this
 * program. Works with CAP_BPF alone. */
static pid_t owner_by_pins(__u32 prog_id, char *pin_dir, size_t len)
{
	static const char *const names[] = { TCPS_PIN_PROG_XDP, TCPS_PIN_PROG_TC_IN,
					     TCPS_PIN_PROG_TC_EG };
	DIR *dir = opendir("/sys/fs/bpf");
	struct dirent *e;
	pid_t owner = 0;

	if (!dir)
		return 0;
	while (!owner && (e = readdir(dir))) {
		char path[PATH_MAX];
		unsigned int i;

		if (e->d_name[0] == '.' || e->d_type != DT_DIR)
			continue;
		for (i = 0; i < 3 && !owner; i++) {
			struct bpf_prog_info pi = {};
			__u32 plen = sizeof(pi);
			int fd;

			snprintf(path, sizeof(path), "/sys/fs/bpf/%s/%s", e->d_name, names[i]);
			fd = bpf_obj_get(path);
			if (fd < 0)
				continue;
			if (!bpf_obj_get_info_by_fd(fd, &pi, &plen) && pi.id == prog_id) {
				char d[NAME_MAX + 16];

				snprintf(d, sizeof(d), "/sys/fs/bpf/%s", e->d_name);
				owner = tcps_pins_owner(d);
				if (owner && pin_dir)
					snprintf(pin_dir, len, "%s", d);
			}
			close(fd);
		}
	}
	closedir(dir);
	return owner;
}

pid_t tcps_prog_owner(__u32 prog_id, char *pin_dir, size_t len)
{
	pid_t owner = 0;

	if (pin_dir && len)
		pin_dir[0] = '\0';
	if (!prog_id)
		return 0;
	if (!owner_by_maps(prog_id, &owner) && owner)
		return owner;
	return owner_by_pins(prog_id, pin_dir, len);
}

/* What a pin of each name must be: BPF object kind, map type, and the name
 * the kernel keeps (BPF_OBJ_NAME_LEN - 1 characters of the skeleton's).
 * A missing pin is fine: a run pins only the ingress programs it loaded. */
static const struct {
	const char *pin;
	bool prog;
	__u32 map_type;
	const char *kname;
} pin_ids[] = {
	{ TCPS_PIN_CONNS, false, BPF_MAP_TYPE_ARRAY, "tcps_conns" },
	{ TCPS_PIN_HALFOPEN, false, BPF_MAP_TYPE_HASH, "tcps_halfopen" },
	{ TCPS_PIN_EVENTS, false, BPF_MAP_TYPE_RINGBUF, "tcps_events" },
	{ TCPS_PIN_STATS, false, BPF_MAP_TYPE_PERCPU_ARRAY, "tcps_stats" },
	{ TCPS_PIN_TRANS, false, BPF_MAP_TYPE_PERCPU_ARRAY, "tcps_trans" },
	{ TCPS_PIN_INFO, false, BPF_MAP_TYPE_ARRAY, "tcps_info" },
	{ TCPS_PIN_PROG_XDP, true, 0, "tcps_xdp_ingress" },
	{ TCPS_PIN_PROG_TC_IN, true, 0, "tcps_tc_ingress" },
	{ TCPS_PIN_PROG_TC_EG, true, 0, "tcps_tc_egress" },
	{ TCPS_PIN_CLSACT, false, BPF_MAP_TYPE_HASH, "tcps_clsact" },
	{ TCPS_PIN_TC_AGAIN, false, BPF_MAP_TYPE_PROG_ARRAY, "tcps_tc_again" },
};

/* Is fd a map or a program? Its anon inode says ("anon_inode:bpf-map"). */
static int fd_kind(int fd)
{
	char link[64], target[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	if (n <= 0)
		return -1;
	target[n] = '\0';
	if (!strcmp(target, "anon_inode:bpf-map"))
		return 0;
	if (!strcmp(target, "anon_inode:bpf-prog"))
		return 1;
	return -1;
}

/* Is fd (a pin of pin_ids[i]) the object tcpscope pins there? What it is
 * goes into why. */
static bool pin_fd_is_ours(int fd, unsigned int i, char *why, size_t wlen)
{
	int kind = fd_kind(fd);
	bool ours = false;

	if (kind == 1 && pin_ids[i].prog) {
		struct bpf_prog_info pi = {};
		__u32 plen = sizeof(pi);

		ours = !bpf_obj_get_info_by_fd(fd, &pi, &plen) &&
		       !strncmp(pi.name, pin_ids[i].kname, sizeof(pi.name) - 1);
		snprintf(why, wlen, "a program named '%s'", pi.name);
	} else if (kind == 0 && !pin_ids[i].prog) {
		struct bpf_map_info mi = {};
		__u32 mlen = sizeof(mi);

		ours = !bpf_obj_get_info_by_fd(fd, &mi, &mlen) &&
		       mi.type == pin_ids[i].map_type &&
		       !strncmp(mi.name, pin_ids[i].kname, sizeof(mi.name) - 1);
		snprintf(why, wlen, "a map named '%s' of type %s", mi.name,
			 libbpf_bpf_map_type_str((enum bpf_map_type)mi.type) ?: "?");
	} else {
		snprintf(why, wlen, "a BPF %s", kind == 1 ? "program" : "map");
	}
	return ours;
}

int tcps_pins_check_ours(const char *dir, char *bad, size_t len, char *why, size_t wlen)
{
	char path[PATH_MAX];
	unsigned int i;

	for (i = 0; i < sizeof(pin_ids) / sizeof(pin_ids[0]); i++) {
		bool ours;
		int fd;

		snprintf(path, sizeof(path), "%s/%s", dir, pin_ids[i].pin);
		if (access(path, F_OK)) {
			if (errno == ENOENT)
				continue;
			snprintf(bad, len, "%s", pin_ids[i].pin);
			snprintf(why, wlen, "%s", strerror(errno));
			return errno == EACCES || errno == EPERM ? -EACCES : -EPROTO;
		}
		fd = bpf_obj_get(path);
		if (fd < 0) {
			int err = -errno;

			snprintf(bad, len, "%s", pin_ids[i].pin);
			snprintf(why, wlen, "%s", strerror(-err));
			return err == -EPERM || err == -EACCES ? err : -EPROTO;
		}
		ours = pin_fd_is_ours(fd, i, why, wlen);
		close(fd);
		if (!ours) {
			snprintf(bad, len, "%s", pin_ids[i].pin);
			return -EPROTO;
		}
	}
	return 0;
}
