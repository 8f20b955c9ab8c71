// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Hold N established TCP connections over loopback (2N sockets) so that
 * ss and netstat have a real socket table to read:
 *
 *   sockfill N BASEPORT
 *
 * Listens on 127.0.0.1:BASEPORT..BASEPORT+3 (so client ports may repeat
 * across listeners), connects N times, accepts as it goes, prints
 * "ready N" and holds everything until SIGINT/SIGTERM. Run it in a
 * network namespace of its own.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define NLISTEN 4

static void drain(int lfd)
{
	while (accept(lfd, NULL, NULL) >= 0)
		;
}

/* N and BASEPORT from the command line; 0, or -1 (usage said). */
static int parse_args(int argc, char **argv, long *n, long *base)
{
	if (argc != 3 || (*n = atol(argv[1])) < 1 || *n > 500000 || (*base = atol(argv[2])) < 1024 ||
	    *base > 65000) {
		fprintf(stderr, "usage: sockfill N BASEPORT\n");
		return -1;
	}
	return 0;
}

/* Listeners on 127.0.0.1:base..base+NLISTEN-1 into lfd; 0, or -1 (said). */
static int listen_all(int *lfd, long base)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int one = 1, i;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (i = 0; i < NLISTEN; i++) {
		lfd[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		a.sin_port = htons((unsigned short)(base + i));
		if (lfd[i] < 0 || setsockopt(lfd[i], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
		    bind(lfd[i], (struct sockaddr *)&a, sizeof(a)) || listen(lfd[i], 4096)) {
			perror("sockfill: listen");
			return -1;
		}
	}
	return 0;
}

/* n connections to the listeners in turn, accepted as they come; 0, or -1
 * (said). */
static int connect_all(const int *lfd, long base, long n)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int i;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (long k = 0; k < n; k++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		a.sin_port = htons((unsigned short)(base + k % NLISTEN));
		if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a))) {
			fprintf(stderr, "sockfill: connection %ld: %s\n", k, strerror(errno));
			return -1;
		}
		if (k % 1024 == 1023)
			for (i = 0; i < NLISTEN; i++)
				drain(lfd[i]);
	}
	for (i = 0; i < NLISTEN; i++)
		drain(lfd[i]);
	return 0;
}

int main(int argc, char **argv)
{
	int lfd[NLISTEN], sig;
	struct rlimit rl;
	sigset_t set;
	long n, base;

	if (parse_args(argc, argv, &n, &base))
		return 2;
	rl.rlim_cur = rl.rlim_max = (rlim_t)(2 * n + 256);
	if (setrlimit(RLIMIT_NOFILE, &rl)) {
		perror("sockfill: setrlimit");
		return 1;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if (listen_all(lfd, base) || connect_all(lfd, base, n))
		return 1;
	printf("ready %ld\n", n);
	fflush(stdout);
	sigwait(&set, &sig);
	return 0;
}
