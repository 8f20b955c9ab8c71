// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Time one command, spawned directly (no shell or python in between):
 *
 *   rus CMD [ARG...]
 *
 * Runs CMD (PATH searched) with stdout and stderr on /dev/null and prints
 * "wall_ms cpu_ms maxrss_kb exit user_ms sys_ms": wall from just before the
 * spawn to the child's end, CPU and peak RSS from the child's own rusage
 * (wait4); exit is the exit code, or minus the signal that ended it.
 *
 * Why a small static C program, and not the python3 fork + exec that did
 * this before: on a guest whose page tables are shadowed by the hypervisor
 * (the AMD host of bench/NOTES.md), forking the ~10 MB python copied its
 * page tables and the child's python code before the exec touched its
 * pages copy-on-write, all of it inside the child's wall and CPU: /bin/true
 * measured 15-47 ms there against 4-9 ms spawned. And a child's ru_maxrss
 * includes the address space its exec replaced (the kernel keeps the old
 * mm's high-water mark), so every command read at least python's ~6 MB.
 * posix_spawn copies no page tables (CLONE_VM | CLONE_VFORK), and the
 * address space it replaces is this program's, a few hundred KB (built
 * -static: no loader).
 */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static double tv_ms(const struct timeval *t)
{
	return (double)t->tv_sec * 1e3 + (double)t->tv_usec / 1e3;
}

static double ts_ms(const struct timespec *t)
{
	return (double)t->tv_sec * 1e3 + (double)t->tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	posix_spawn_file_actions_t fa;
	struct timespec t0, t1;
	struct rusage ru;
	int st, err;
	pid_t pid;

	if (argc < 2) {
		fprintf(stderr, "usage: rus CMD [ARG...]\n");
		return 2;
	}
	if (posix_spawn_file_actions_init(&fa) ||
	    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0) ||
	    posix_spawn_file_actions_adddup2(&fa, 1, 2)) {
		fprintf(stderr, "rus: out of memory\n");
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	err = posix_spawnp(&pid, argv[1], &fa, NULL, argv + 1, environ);
	if (err) {
		fprintf(stderr, "rus: %s: %s\n", argv[1], strerror(err));
		return 1;
	}
	if (wait4(pid, &st, 0, &ru) < 0) {
		perror("rus: wait4");
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%.2f %.2f %ld %d %.2f %.2f\n", ts_ms(&t1) - ts_ms(&t0),
	       tv_ms(&ru.ru_utime) + tv_ms(&ru.ru_stime), ru.ru_maxrss,
	       WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st), tv_ms(&ru.ru_utime),
	       tv_ms(&ru.ru_stime));
	posix_spawn_file_actions_destroy(&fa);
	return 0;
}
