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

int tcps_pidfile_take(const char *path, int *fd)
{
	pid_t pid;

	*fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (*fd < 0 && errno == EEXIST)
		*fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (*fd < 0) {
		pr_err("pidfile %s: %s", path, strerror(errno));
		return errno == EACCES ? TCPS_EXIT_PERM : TCPS_EXIT_FAIL;
	}
	if (flock(*fd, LOCK_EX | LOCK_NB)) {
		pid = pidfile_read(*fd);
		pr_err("tcpscope is already running (pid %d, pidfile %s); stop it first (kill -TERM %d)",
		       (int)pid, path, (int)pid);
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

void tcps_pidfile_release(const char *path, int fd)
{
	if (fd < 0)
		return;
	/* Unlink while still holding the lock: a new instance then either
	 * sees no file or a locked one, never ours half-removed. */
	unlink(path);
	close(fd);
}

int tcps_daemonize(int *ready_fd)
{
	int pfd[2], code = TCPS_EXIT_FAIL, null;
	unsigned char c;
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
	if (pid > 0) {
		/* The original process: wait for the daemon's verdict. */
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
