// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <bpf/bpf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exports.h"
#include "stale.h"

/* Start of pid in clock ticks since boot (/proc/PID/stat, field 22), 0
 * if unknown; *zombie (if not NULL) if it has exited. */
__u64 tcps_proc_start_ticks(__u32 pid, bool *zombie)
{
	char path[64], buf[1024], *p;
	unsigned long long start_ticks;
	char state;
	ssize_t n;
	int fd;

	if (zombie)
		*zombie = false;
	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* comm may hold spaces and parentheses: fields follow the last ')'. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%c", &state) != 1)
		return 0;
	if (zombie)
		*zombie = state == 'Z' || state == 'X';
	/* field 22, starttime: the 20th after the ')' */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
		   &start_ticks) != 1)
		return 0;
	return start_ticks;
}

bool tcps_pid_alive(__u32 pid, __u64 start_ticks)
{
	bool zombie;
	__u64 start;

	if (!pid || pid > INT_MAX)
		return false;
	if (kill((pid_t)pid, 0) && errno != EPERM)
		return false;
	start = tcps_proc_start_ticks(pid, &zombie);
	if (zombie)
		return false;
	/* Unknown on either side (no /proc, pins of a daemon that did not
	 * record it): the pid's existence is all there is to go on. */
	if (start && start_ticks && start != start_ticks)
		return false;	/* the pid now belongs to another process */
	return true;
}

static int map_id(int fd, __u32 *id)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	*id = info.id;
	return 0;
}

bool tcps_pins_still_there(const char *dir, int info_fd)
{
	char path[PATH_MAX];
	__u32 a = 0, b = 0;
	int fd, err;

	snprintf(path, sizeof(path), "%s/%s", dir, TCPS_PIN_INFO);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return false;
	err = map_id(fd, &a) || map_id(info_fd, &b);
	close(fd);
	return !err && a == b;
}

/* Built in buf itself: every start of stat comes here, and each 4 KiB
 * of stack it reaches is a page fault of its own (bench/NOTES.md, 'stat'). */
int tcps_timeouts_path(const char *pin_dir, char *buf, size_t len)
{
	static const char ext[] = ".timeouts";
	size_t n;
	int err = tcps_evsock_default_path(pin_dir, buf, len);

	if (err)
		return err;
	n = strlen(buf);
	if (n > 5 && !strcmp(buf + n - 5, ".sock"))
		n -= 5;
	if (n + sizeof(ext) > len)
		return -ENAMETOOLONG;
	memcpy(buf + n, ext, sizeof(ext));
	return 0;
}

int tcps_timeouts_record(const char *pin_dir, const struct tcps_info *m,
			 const struct tcps_timeouts *t)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	unsigned int st;
	FILE *f;
	int fd, err = 0;

	if (tcps_timeouts_path(pin_dir, path, sizeof(path)))
		return -ENAMETOOLONG;
	if (mkdir(TCPS_EVSOCK_DIR, 0755) && errno != EEXIST)
		return -errno;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (!f) {
		err = -errno;
		close(fd);
		unlink(tmp);
		return err;
	}
	/* Whose they are: a file left by another run of this pin dir is
	 * recognised by its start time and ignored. */
	fprintf(f, "# tcpscope: idle timeouts (s) of the daemon of %s\n", pin_dir);
	fprintf(f, "started_ns %llu\n", (unsigned long long)m->started_ns);
	fprintf(f, "midstream %u\n", t->midstream_s);
	for (st = 1; st < TCPS_STATE_MAX; st++)
		fprintf(f, "%s %u\n", tcps_state_name(st), t->state_s[st]);
	if (fflush(f) == EOF || ferror(f))
		err = -(errno ? errno : EIO);
	if (fclose(f) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

void tcps_timeouts_forget(const char *pin_dir)
{
	char path[PATH_MAX];

	if (!tcps_timeouts_path(pin_dir, path, sizeof(path)))
		unlink(path);
}

bool tcps_timeouts_of(const char *pin_dir, const struct tcps_info *m, struct tcps_timeouts *t)
{
	struct tcps_timeouts r;
	char path[PATH_MAX], line[128], name[64];
	unsigned long long v, started = 0;
	bool ok = false;
	FILE *f;

	tcps_timeouts_default(t, m->mode);
	if (tcps_timeouts_path(pin_dir, path, sizeof(path)))
		return false;
	f = fopen(path, "re");
	if (!f)
		return false;
	r = *t;
	while (fgets(line, sizeof(line), f)) {
		int st;

		if (line[0] == '#' || sscanf(line, "%63s %llu", name, &v) != 2)
			continue;
		if (!strcmp(name, "started_ns")) {
			started = v;
			continue;
		}
		if (v > UINT32_MAX)
			continue;
		if (!strcmp(name, "midstream")) {
			r.midstream_s = (__u32)v;
			continue;
		}
		st = tcps_state_parse(name);
		if (st > 0 && st < TCPS_STATE_MAX)
			r.state_s[st] = (__u32)v;
	}
	fclose(f);
	if (started && started == m->started_ns) {
		*t = r;
		ok = true;
	}
	return ok;
}
