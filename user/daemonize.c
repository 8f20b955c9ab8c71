// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "common.h"
#include "daemonize.h"
#include "exports.h"

static pid_t pidfile_read(int fd)
{
	char buf[32] = { 0 };
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	unsigned long long v;

	if (n <= 0)
		return 0;
	buf[strcspn(buf, "\n")] = '\0';
	return parse_u64(buf, 1, 4194304, &v) ? 0 : (pid_t)v;
}

int tcps_proc_cmdline(pid_t pid, char *buf, size_t len)
{
	char path[64];
	ssize_t n, i;
	int fd;

	if (!len)
		return -EINVAL;
	buf[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -ENOENT;
	while (n > 0 && buf[n - 1] == '\0')
		n--;
	for (i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[n] = '\0';
	return 0;
}

/* "(pid 123: tcpscope run -i cv0 --daemon)": which instance it is. */
static void describe_holder(pid_t pid, char *buf, size_t len)
{
	char cmd[256];

	if (pid > 0 && !tcps_proc_cmdline(pid, cmd, sizeof(cmd)))
		snprintf(buf, len, "pid %d: %s", (int)pid, cmd);
	else
		snprintf(buf, len, "pid %d", (int)pid);
}

int tcps_pidfile_take(const char *path, const char *pin_dir, int *fd)
{
	char who[300];
	pid_t pid;

	/* /run/tcpscope/NAME.pid: the directory is made on first use. */
	if (!strncmp(path, TCPS_RUN_DIR "/", sizeof(TCPS_RUN_DIR)) && mkdir(TCPS_RUN_DIR, 0755) &&
	    errno != EEXIST)
		pr_debug("%s: %s", TCPS_RUN_DIR, strerror(errno));
	*fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (*fd < 0 && errno == EEXIST)
		*fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (*fd < 0) {
		pr_err("pidfile %s: %s", path, strerror(errno));
		return errno == EACCES ? TCPS_EXIT_PERM : TCPS_EXIT_FAIL;
	}
	if (flock(*fd, LOCK_EX | LOCK_NB)) {
		pid = pidfile_read(*fd);
		describe_holder(pid, who, sizeof(who));
		pr_err("tcpscope is already running (%s) with pidfile %s; stop it first (kill -TERM %d), or run a second instance with a pin dir of its own, which gives it its own pidfile and event socket: tcpscope run -i IFACE --pin-dir %s-IFACE --daemon",
		       who, path, (int)pid, pin_dir);
		close(*fd);
		*fd = -1;
		return TCPS_EXIT_FAIL;
	}
	pid = pidfile_read(*fd);
	if (pid && pid != getpid() && (!kill(pid, 0) || errno == EPERM)) {
		/* Unlocked but the PID lives: a pidfile of some other program,
		 * or of a tcpscope whose lock we cannot see. Do not guess. */
		pr_err("pidfile %s names a live process (pid %d); if that is not tcpscope, remove the file",
		       path, (int)pid);
		close(*fd);
		*fd = -1;
		return TCPS_EXIT_FAIL;
	}
	if (pid)
		pr_info("pidfile %s: pid %d is gone; taking it over", path, (int)pid);
	return 0;
}

int tcps_pidfile_write(int fd)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());

	if (ftruncate(fd, 0) || pwrite(fd, buf, (size_t)n, 0) != n)
		return -errno;
	return 0;
}

/* Same directory, trailing slashes aside. */
static bool same_dir(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	while (la > 1 && a[la - 1] == '/')
		la--;
	while (lb > 1 && b[lb - 1] == '/')
		lb--;
	return la == lb && !strncmp(a, b, la);
}

int tcps_pidfile_default(const char *pin_dir, char *buf, size_t len)
{
	size_t n;
	int err;

	if (same_dir(pin_dir, TCPS_PIN_DIR_DEFAULT)) {
		snprintf(buf, len, "%s", TCPS_PIDFILE_DEFAULT);
		return 0;
	}
	/* The event socket's name, with .pid for .sock. */
	err = tcps_evsock_default_path(pin_dir, buf, len);
	if (err)
		return err;
	n = strlen(buf);
	if (n < 5 || strcmp(buf + n - 5, ".sock"))
		return -EINVAL;
	snprintf(buf + n - 5, len - (n - 5), ".pid");
	return 0;
}

void tcps_pidfile_release(const char *path, int fd)
{
	if (fd < 0)
		return;
	/* Unlink while still holding the lock: a new instance then either
	 * sees no file or a locked one, never ours half-removed. */
	unlink(path);
	close(fd);
}

/* The original process: wait for the daemon's verdict on pfd[0] (the
 * child pid is the session leader, which exits at once) and exit with it. */
static void __attribute__((noreturn)) await_verdict(pid_t pid, int pfd[2])
{
	int code = TCPS_EXIT_FAIL;
	unsigned char c;
	ssize_t n;

	close(pfd[1]);
	waitpid(pid, NULL, 0);
	do
		n = read(pfd[0], &c, 1);
	while (n < 0 && errno == EINTR);
	if (n == 1)	/* EOF: the daemon died before it was ready */
		code = c;
	_exit(code);
}

int tcps_daemonize(int *ready_fd)
{
	int pfd[2], null;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC)) {
		pr_err("daemon: pipe: %s", strerror(errno));
		return TCPS_EXIT_FAIL;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		pr_err("daemon: fork: %s", strerror(errno));
		return TCPS_EXIT_FAIL;
	}
	if (pid > 0)
		await_verdict(pid, pfd);
	close(pfd[0]);
	if (setsid() < 0)
		_exit(TCPS_EXIT_FAIL);
	signal(SIGHUP, SIG_IGN);
	pid = fork();
	if (pid < 0)
		_exit(TCPS_EXIT_FAIL);
	if (pid > 0)
		_exit(0);	/* the session leader goes; the daemon can never regain a tty */
	signal(SIGHUP, SIG_DFL);
	umask(022);
	if (chdir("/"))
		_exit(TCPS_EXIT_FAIL);
	null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		/* stderr stays until ready: start errors still reach the
		 * user's terminal; after that, syslog. */
		if (null > STDERR_FILENO)
			close(null);
	}
	openlog("tcpscope", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	*ready_fd = pfd[1];
	return 0;
}

void tcps_daemon_ready(int *ready_fd, int code)
{
	unsigned char c = (unsigned char)code;
	int null;

	if (*ready_fd < 0)
		return;
	while (write(*ready_fd, &c, 1) < 0 && errno == EINTR)
		;
	close(*ready_fd);
	*ready_fd = -1;
	if (code)
		return;
	tcps_use_syslog = true;
	null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, STDERR_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	}
}

void tcps_logs_reopen(void)
{
	if (!tcps_use_syslog)
		return;
	closelog();
	openlog("tcpscope", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}
