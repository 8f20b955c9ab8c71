// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Short TCP connections as fast as they go, bounded in time:
 *
 *   churn server ADDR PORT              accept and close at once, until SIGTERM
 *   churn client ADDR PORT SECONDS THREADS [MAX]
 *
 * Each client connection is a whole life: handshake, the server closes
 * first (so TIME_WAIT lands on the server and client ports free at once),
 * the client reads EOF and closes. The client prints one JSON object:
 * {"connections": n, "errors": n, "seconds": s, "per_second": r}.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_storage dst;
static socklen_t dst_len;
static double deadline;
static long max_conns;
static long total, errors;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int parse_addr(const char *a, const char *p)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)&dst;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&dst;
	int port = atoi(p);

	memset(&dst, 0, sizeof(dst));
	if (inet_pton(AF_INET, a, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((unsigned short)port);
		dst_len = sizeof(*s4);
		return 0;
	}
	if (inet_pton(AF_INET6, a, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((unsigned short)port);
		dst_len = sizeof(*s6);
		return 0;
	}
	return -EINVAL;
}

static void *server_thread(void *arg)
{
	int lfd = (int)(long)arg;

	for (;;) {
		int fd = accept(lfd, NULL, NULL);

		if (fd >= 0)
			close(fd);
	}
	return NULL;
}

static int server(void)
{
	int one = 1, lfd = socket(dst.ss_family, SOCK_STREAM, 0);
	pthread_t t;
	sigset_t set;
	int sig;

	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, (struct sockaddr *)&dst, dst_len) || listen(lfd, 4096)) {
		perror("churn server");
		return 1;
	}
	/* SIGTERM/SIGINT are taken by sigwait below, so block them first. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	for (int i = 0; i < 2; i++)
		pthread_create(&t, NULL, server_thread, (void *)(long)lfd);
	printf("ready\n");
	fflush(stdout);
	sigwait(&set, &sig);
	return 0;
}

static void *client_thread(void *arg)
{
	long n = 0, err = 0;
	char b[64];

	(void)arg;
	while (now_s() < deadline) {
		int fd = socket(dst.ss_family, SOCK_STREAM, 0);

		if (fd < 0) {
			err++;
			break;
		}
		if (connect(fd, (struct sockaddr *)&dst, dst_len)) {
			err++;
			close(fd);
			if (err > 1000)
				break;
			continue;
		}
		while (read(fd, b, sizeof(b)) > 0)
			;
		close(fd);
		n++;
		if (max_conns) {
			pthread_mutex_lock(&mu);
			total++;
			pthread_mutex_unlock(&mu);
			if (total >= max_conns)
				break;
		}
	}
	pthread_mutex_lock(&mu);
	if (!max_conns)
		total += n;
	errors += err;
	pthread_mutex_unlock(&mu);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t[64];
	double start, secs;
	int i, nthr;

	if (argc >= 4 && !strcmp(argv[1], "server")) {
		if (parse_addr(argv[2], argv[3]))
			return 2;
		return server();
	}
	if (argc < 6 || strcmp(argv[1], "client") || parse_addr(argv[2], argv[3])) {
		fprintf(stderr, "usage: churn server ADDR PORT | churn client ADDR PORT SECONDS THREADS [MAX]\n");
		return 2;
	}
	secs = atof(argv[4]);
	nthr = atoi(argv[5]);
	max_conns = argc > 6 ? atol(argv[6]) : 0;
	if (secs <= 0 || secs > 60 || nthr < 1 || nthr > 64)
		return 2;
	start = now_s();
	deadline = start + secs;
	for (i = 0; i < nthr; i++)
		pthread_create(&t[i], NULL, client_thread, NULL);
	for (i = 0; i < nthr; i++)
		pthread_join(t[i], NULL);
	secs = now_s() - start;
	printf("{\"connections\": %ld, \"errors\": %ld, \"seconds\": %.3f, \"per_second\": %.1f}\n",
	       total, errors, secs, total / secs);
	return 0;
}
