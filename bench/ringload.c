// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Drive a running tcpscope's ring buffer at a chosen transition rate,
 * without a network: whole connection lives (SYN, SYN+ACK, ACK, FIN, ACK,
 * FIN, ACK: 10 endpoint transitions) of new tuples are run through that
 * instance's own XDP program with BPF_PROG_TEST_RUN, paced every
 * millisecond, while its daemon consumes the events as it would live.
 *
 *   ringload PIN_DIR RATE SECONDS [DAEMON_PID]
 *
 * The program is found as the loaded XDP program that uses the conns map
 * pinned in PIN_DIR (other tcpscope instances on the host are not
 * touched). Prints one JSON object: the transitions and ring-buffer drops
 * counted by the data path over the interval, the rate reached, and the
 * daemon's CPU use from /proc/PID/stat (utime + stime).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "tcpscope.h"
#include "pktbuild.h"

#define NFRAMES 7

struct frame {
	__u8 buf[128];
	__u32 len;
	int from_client;
	__u32 l4;		/* TCP header offset */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int find_prog(int conns_fd)
{
	struct bpf_map_info mi = {};
	__u32 len = sizeof(mi), id = 0;

	if (bpf_obj_get_info_by_fd(conns_fd, &mi, &len))
		return -errno;
	while (!bpf_prog_get_next_id(id, &id)) {
		__u32 maps[64], i;
		struct bpf_prog_info pi = {};
		int fd = bpf_prog_get_fd_by_id(id);

		if (fd < 0)
			continue;
		pi.nr_map_ids = 64;
		pi.map_ids = (__u64)(unsigned long)maps;
		len = sizeof(pi);
		if (!bpf_obj_get_info_by_fd(fd, &pi, &len) && pi.type == BPF_PROG_TYPE_XDP &&
		    !strcmp(pi.name, "tcps_xdp_ingres"))	/* names are cut at 15 */
			for (i = 0; i < pi.nr_map_ids && i < 64; i++)
				if (maps[i] == mi.id)
					return fd;
		close(fd);
	}
	return -ENOENT;
}

static int counters(int fd, __u64 out[TCPS_CNT_MAX])
{
	int ncpu = libbpf_num_possible_cpus(), c, i;
	__u64 *v = calloc((size_t)ncpu, TCPS_STATS_VALUE_SIZE);
	__u32 zero = 0;

	if (!v || bpf_map_lookup_elem(fd, &zero, v)) {
		free(v);
		return -1;
	}
	memset(out, 0, sizeof(__u64) * TCPS_CNT_MAX);
	for (c = 0; c < ncpu; c++)
		for (i = 0; i < TCPS_CNT_MAX; i++)
			out[i] += v[c * TCPS_STATS_WORDS + i];
	free(v);
	return 0;
}

static double cpu_s(int pid)
{
	char path[64], buf[2048], *p;
	unsigned long ut, st;
	FILE *f;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (!p || !(p = strrchr(buf, ')')))
		return 0;
	/* fields after "comm)": state(3) ... utime(14) stime(15) */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void mk(struct frame *f, int from_client, __u8 flags, __u32 seq, __u32 ack)
{
	struct pkt_spec s = from_client ? PKT_V4("198.19.0.0", 1, "198.18.0.1", 80) :
					  PKT_V4("198.18.0.1", 80, "198.19.0.0", 1);

	s.flags = flags;
	s.seq = seq;
	s.ack = ack;
	f->len = (__u32)pkt_build(&s, f->buf, sizeof(f->buf));
	f->from_client = from_client;
	f->l4 = 14 + 20;
}

/* Client n: address 198.19.hi.lo, port 1024 + n / 65536. */
static void patch(struct frame *f, __u32 n)
{
	__u8 *ip = f->buf + 14, *th = f->buf + f->l4;
	__u8 *a = f->from_client ? ip + 12 : ip + 16;
	__u8 *p = f->from_client ? th : th + 2;
	__u16 port = (__u16)(1024 + n / 65536);

	a[2] = (__u8)(n >> 8);
	a[3] = (__u8)n;
	p[0] = (__u8)(port >> 8);
	p[1] = (__u8)port;
}

struct load {
	const char *pin_dir;
	double rate, secs;	/* transitions per second, for secs seconds */
	int pid;		/* the daemon's, 0: none */
};

/* What the run did: connections, failed test runs, seconds it took. */
struct result {
	long done, errs;
	double secs;
};

/* Returns 0, or 2 after printing the usage. */
static int parse_args(int argc, char **argv, struct load *l)
{
	if (argc < 4 || (l->rate = atof(argv[2])) <= 0 || (l->secs = atof(argv[3])) <= 0 ||
	    l->secs > 60) {
		fprintf(stderr, "usage: ringload PIN_DIR RATE SECONDS [DAEMON_PID]\n");
		return 2;
	}
	l->pin_dir = argv[1];
	l->pid = argc > 4 ? atoi(argv[4]) : 0;
	return 0;
}

/* The instance's stats map and XDP program; non-zero after printing why. */
static int open_instance(const char *pin_dir, int *stats_fd, int *prog)
{
	char path[PATH_MAX];
	int conns_fd;

	snprintf(path, sizeof(path), "%s/conns", pin_dir);
	conns_fd = bpf_obj_get(path);
	snprintf(path, sizeof(path), "%s/stats", pin_dir);
	*stats_fd = bpf_obj_get(path);
	if (conns_fd < 0 || *stats_fd < 0) {
		fprintf(stderr, "ringload: %s: %s\n", pin_dir, strerror(errno));
		return 1;
	}
	*prog = find_prog(conns_fd);
	if (*prog < 0) {
		fprintf(stderr, "ringload: no tcps_xdp_ingress program uses %s/conns (on a veth, run loads it only with --hook xdp)\n", pin_dir);
		return 1;
	}
	return 0;
}

/* One connection's life, client 198.19.0.0:1 with server 198.18.0.1:80. */
static void make_frames(struct frame fr[NFRAMES])
{
	mk(&fr[0], 1, TCPS_SYN, 1000, 0);
	mk(&fr[1], 0, TCPS_SYN | TCPS_ACK, 5000, 1001);
	mk(&fr[2], 1, TCPS_ACK, 1001, 5001);
	mk(&fr[3], 1, TCPS_FIN | TCPS_ACK, 1001, 5001);
	mk(&fr[4], 0, TCPS_ACK, 5001, 1002);
	mk(&fr[5], 0, TCPS_FIN | TCPS_ACK, 5001, 1002);
	mk(&fr[6], 1, TCPS_ACK, 1002, 5002);
}

/* Runs the frames as client n through the program; returns failed runs. */
static long run_connection(int prog, struct frame fr[NFRAMES], __u32 n)
{
	long errs = 0;
	int i;

	for (i = 0; i < NFRAMES; i++) {
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = fr[i].buf,
			    .data_size_in = fr[i].len, .repeat = 1);

		patch(&fr[i], n);
		if (bpf_prog_test_run_opts(prog, &o))
			errs++;
	}
	return errs;
}

/* Connections from client base on, paced every millisecond for l->secs. */
static struct result run_load(int prog, struct frame fr[NFRAMES], __u32 base, const struct load *l)
{
	struct result r = { 0 };
	double t0 = now_s(), t;

	/* 10 transitions per connection: pace connections at rate / 10. */
	while ((t = now_s() - t0) < l->secs) {
		long want = (long)(t * l->rate / 10);

		/* Behind: catch up, but never past the deadline (a machine too
		 * busy for the rate must not stretch the interval). */
		while (r.done < want && (r.done % 64 || now_s() - t0 < l->secs)) {
			r.errs += run_connection(prog, fr, base + (__u32)r.done);
			r.done++;
		}
		usleep(1000);
	}
	r.secs = now_s() - t0;
	return r;
}

static void print_result(const struct load *l, const struct result *r, const __u64 *c0,
			 const __u64 *c1, double cpu)
{
	__u64 trans = c1[TCPS_CNT_TRANSITIONS] - c0[TCPS_CNT_TRANSITIONS];

	printf("{\"target_per_second\": %.0f, \"seconds\": %.3f, \"connections\": %ld, "
	       "\"transitions\": %llu, \"per_second\": %.1f, \"rb_drops\": %llu, "
	       "\"run_errors\": %ld, \"daemon_cpu_pct\": %.2f}\n",
	       l->rate, r->secs, r->done, (unsigned long long)trans, (double)trans / r->secs,
	       (unsigned long long)(c1[TCPS_CNT_RB_DROPS] - c0[TCPS_CNT_RB_DROPS]), r->errs,
	       l->pid ? 100.0 * cpu / (r->secs + 0.3) : 0.0);
}

int main(int argc, char **argv)
{
	struct frame fr[NFRAMES];
	__u64 c0[TCPS_CNT_MAX], c1[TCPS_CNT_MAX];
	struct result r;
	struct load l;
	int stats_fd, prog;
	double cpu0, cpu1;
	__u32 base;

	if (parse_args(argc, argv, &l))
		return 2;
	if (open_instance(l.pin_dir, &stats_fd, &prog))
		return 1;
	make_frames(fr);
	/* A different block of tuples on every call, so runs never meet old
	 * entries (a reused tuple would take another path). */
	srand((unsigned int)time(NULL) ^ (unsigned int)getpid());
	base = (__u32)rand() % 1000 * 60000;

	if (counters(stats_fd, c0))
		return 1;
	cpu0 = cpu_s(l.pid);
	r = run_load(prog, fr, base, &l);
	/* Let the daemon catch up (it polls every 100 ms) before its CPU is read. */
	usleep(300000);
	cpu1 = cpu_s(l.pid);
	if (counters(stats_fd, c1))
		return 1;
	print_result(&l, &r, c0, c1, cpu1 - cpu0);
	return 0;
}
