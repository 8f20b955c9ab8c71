// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Keep the kernel's BPF run-time stats (run_cnt, run_time_ns) on while this
 * process lives, without touching kernel.bpf_stats_enabled:
 *
 *   statsfd
 *
 * BPF_ENABLE_STATS hands back a file descriptor; the stats stay on while
 * any such descriptor is open (the kernel counts them, and the sysctl is
 * one more reason on top). So a benchmark that holds one can never switch
 * off the stats of another tool (bpftop, a second benchmark) by setting
 * the sysctl back, and nothing is left on if it dies: the kernel closes
 * the descriptor. Prints "ready" once the stats are on; exits 0 on
 * SIGINT/SIGTERM, or when the process that started it ends.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <bpf/bpf.h>

static volatile sig_atomic_t stop;

static void on_sig(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_sig };
	pid_t parent = getppid();
	sigset_t block, wait_mask;
	int fd;

	(void)argv;
	if (argc != 1) {
		fprintf(stderr, "usage: statsfd (holds BPF run-time stats on until SIGTERM)\n");
		return 2;
	}
	fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (fd < 0) {
		fprintf(stderr, "statsfd: BPF_ENABLE_STATS: %s\n", strerror(errno));
		return 1;
	}
	/* Blocked but while waiting: a signal between the test of stop and
	 * the wait cannot be missed. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &wait_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* A benchmark killed outright must not leave the stats on. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) || getppid() != parent)
		stop = 1;
	printf("ready\n");
	fflush(stdout);
	while (!stop)
		sigsuspend(&wait_mask);
	close(fd);
	return 0;
}
