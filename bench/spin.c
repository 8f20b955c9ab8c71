// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A CPU kept from going idle, for bench/run.sh's placement runs:
 *
 *   spin SECONDS
 *
 * A pause loop under SCHED_IDLE for SECONDS at most (pin it with taskset):
 * any other runnable task takes the CPU from it at once, so it never
 * delays the work it stands beside, but the CPU never halts. The loop
 * touches no memory, so it leaves the caches to that work. Exits 0 at the
 * deadline or on SIGTERM.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A spin-wait hint where the CPU has one (x86's pause), else nothing. */
static inline void relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#else
	__asm__ volatile("" ::: "memory");
#endif
}

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct sched_param sp = { .sched_priority = 0 };
	double secs, deadline;
	char *end = NULL;
	unsigned int i;

	if (argc == 2)
		secs = strtod(argv[1], &end);
	if (argc != 2 || !end || *end || !(secs > 0 && secs <= 600)) {
		fprintf(stderr, "usage: spin SECONDS (more than 0, at most 600)\n");
		return 2;
	}
	if (sched_setscheduler(0, SCHED_IDLE, &sp)) {
		fprintf(stderr, "spin: cannot run under SCHED_IDLE: %s\n", strerror(errno));
		return 1;
	}
	deadline = mono_now() + secs;
	do {
		for (i = 0; i < 100000; i++)
			relax();
	} while (mono_now() < deadline);
	return 0;
}
