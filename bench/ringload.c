// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Drive a running tcpscope's ring buffer at a chosen transition rate:
 * whole connection lives (SYN, SYN+ACK, ACK, FIN, ACK, FIN, ACK: 10
 * endpoint transitions) of new tuples go through that instance's own XDP
 * program, paced every millisecond, while its daemon consumes the events
 * as it would live.
 *
 *   ringload [-i IFNAME] PIN_DIR RATE SECONDS [DAEMON_PID]
 *
 * Without -i, each frame is one BPF_PROG_TEST_RUN of the program (no
 * network needed); the program is found as the loaded XDP program that
 * uses the conns map pinned in PIN_DIR (other tcpscope instances on the
 * host are not touched). With -i, the frames are sent as real frames on
 * IFNAME, a veth whose peer carries the instance's XDP program (run
 * ringload in IFNAME's namespace), up to 32 lives a sendmmsg(2): a test
 * run costs ~2.2 us of syscall and setup on a host with PTI in a guest,
 * 15 us of a life's ~20, where the veth path takes ~9 us a life
 * (bench/NOTES.md "A load generator that keeps up"). The frames' MAC is
 * not the peer's, so past XDP the peer's stack drops them unanswered.
 *
 * Prints one JSON object: the transitions and ring-buffer drops counted
 * by the data path over the interval, the frames sent and the TCP segments
 * the data path saw (a frame lost on the way breaks its life), the rate
 * reached, and the daemon's CPU use from /proc/PID/stat (utime + stime).
 */
#define _GNU_SOURCE		/* sendmmsg */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "tcpscope.h"
#include "pktbuild.h"

#define NFRAMES 7
#define TX_LIVES 32		/* lives a sendmmsg carries */

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

/*
 * Client numbers move on with the clock at MAX_LIVES a second, more than
 * any run makes, so a run starts past every tuple of the runs before it
 * and never meets their entries: a life on a tuple held in TIME_WAIT with
 * the same sequence numbers is an old duplicate, no transitions (a random
 * block of 60,000 did meet an earlier run's at 360k lives a run). The
 * clients (64,512 ports x 65,536 addresses) wrap after ~69 minutes, long
 * after those entries expired.
 */
#define MAX_LIVES 1000000ULL	/* a second: 10M transitions/s */
#define CLIENTS (64512ULL * 65536)

static __u32 first_client(void)
{
	/* Room for a whole run (60 s) past the start. */
	return (__u32)((__u64)(now_s() * (double)MAX_LIVES) % (CLIENTS - 60 * MAX_LIVES));
}

struct load {
	const char *pin_dir;
	const char *ifname;	/* -i: frames sent on it; NULL: test runs */
	double rate, secs;	/* transitions per second, for secs seconds */
	int pid;		/* the daemon's, 0: none */
};

/* What the run did: connections, frames handed over and those that
 * failed (test runs or sends), seconds it took. */
struct result {
	long done, sent, errs;
	double secs;
};

/* Where the frames go: the program by test runs, or the packet socket on
 * -i's veth, with TX_LIVES lives of frames and their messages ready. */
struct sender {
	int prog;		/* test runs: the program */
	int sock;		/* -i: bound to the veth; -1: test runs */
	struct frame fr[NFRAMES];	/* one life */
	struct frame tx[TX_LIVES][NFRAMES];
	struct iovec iov[TX_LIVES * NFRAMES];
	struct mmsghdr msg[TX_LIVES * NFRAMES];
};

/* Returns 0, or 2 after printing the usage. */
static int parse_args(int argc, char **argv, struct load *l)
{
	int opt;

	while ((opt = getopt(argc, argv, "i:")) != -1) {
		if (opt != 'i')
			goto usage;
		l->ifname = optarg;
	}
	argc -= optind;
	argv += optind;
	if (argc < 3 || (l->rate = atof(argv[1])) <= 0 || l->rate > MAX_LIVES * 10 ||
	    (l->secs = atof(argv[2])) <= 0 || l->secs > 60)
		goto usage;
	l->pin_dir = argv[0];
	l->pid = argc > 3 ? atoi(argv[3]) : 0;
	return 0;
usage:
	fprintf(stderr, "usage: ringload [-i IFNAME] PIN_DIR RATE SECONDS [DAEMON_PID]\n");
	return 2;
}

/* The instance's stats map and, for test runs, its XDP program; non-zero
 * after printing why. */
static int open_instance(const char *pin_dir, int want_prog, int *stats_fd, int *prog)
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
	*prog = want_prog ? find_prog(conns_fd) : -1;
	if (want_prog && *prog < 0) {
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

/* -i: a packet socket on the veth (protocol 0: it receives nothing), and
 * every frame of the batch pointed at once; non-zero after printing why. */
static int open_tx(const char *ifname, struct sender *s)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_halen = 6 };
	int one = 1, i, j, k;

	sll.sll_ifindex = (int)if_nametoindex(ifname);
	s->sock = sll.sll_ifindex ? socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0) : -1;
	if (s->sock < 0 || bind(s->sock, (struct sockaddr *)&sll, sizeof(sll))) {
		fprintf(stderr, "ringload: %s: %s\n", ifname, strerror(errno));
		return 1;
	}
	/* Straight to the driver: a veth has no queue worth passing. */
	setsockopt(s->sock, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	for (i = 0; i < TX_LIVES; i++)
		for (j = 0; j < NFRAMES; j++) {
			k = i * NFRAMES + j;
			s->tx[i][j] = s->fr[j];
			s->iov[k] = (struct iovec){ .iov_base = s->tx[i][j].buf, .iov_len = s->fr[j].len };
			s->msg[k].msg_hdr = (struct msghdr){ .msg_iov = &s->iov[k], .msg_iovlen = 1 };
		}
	return 0;
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

/* Sends clients n .. n + count - 1 (count <= TX_LIVES), life after life,
 * in as few sendmmsg calls as the socket takes; returns frames not sent. */
static long send_lives(struct sender *s, __u32 n, int count)
{
	int total = count * NFRAMES, sent = 0, i, j, r;

	for (i = 0; i < count; i++)
		for (j = 0; j < NFRAMES; j++)
			patch(&s->tx[i][j], n + (__u32)i);
	while (sent < total) {
		r = sendmmsg(s->sock, s->msg + sent, (unsigned int)(total - sent), 0);
		if (r <= 0)
			return total - sent;
		sent += r;
	}
	return 0;
}

/* Clients n .. n + count - 1 (count <= TX_LIVES); returns failed frames. */
static long run_lives(struct sender *s, __u32 n, int count)
{
	long errs = 0;
	int i;

	if (s->sock >= 0)
		return send_lives(s, n, count);
	for (i = 0; i < count; i++)
		errs += run_connection(s->prog, s->fr, n + (__u32)i);
	return errs;
}

/* Connections from client base on, paced every millisecond for l->secs. */
static struct result run_load(struct sender *s, __u32 base, const struct load *l)
{
	struct result r = { 0 };
	double t0 = now_s(), t;
	long n, errs;

	/* 10 transitions per connection: pace connections at rate / 10. */
	while ((t = now_s() - t0) < l->secs) {
		long want = (long)(t * l->rate / 10);

		/* Behind: catch up, TX_LIVES at most between looks at the clock,
		 * never past the deadline (a machine too busy for the rate must
		 * not stretch the interval). */
		while (r.done < want && now_s() - t0 < l->secs) {
			n = want - r.done < TX_LIVES ? want - r.done : TX_LIVES;
			errs = run_lives(s, base + (__u32)r.done, (int)n);
			r.errs += errs;
			r.sent += n * NFRAMES - errs;
			r.done += n;
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

	printf("{\"method\": \"%s\", \"target_per_second\": %.0f, \"seconds\": %.3f, "
	       "\"connections\": %ld, \"frames_sent\": %ld, \"frames_seen\": %llu, "
	       "\"transitions\": %llu, \"per_second\": %.1f, \"rb_drops\": %llu, "
	       "\"run_errors\": %ld, \"daemon_cpu_pct\": %.2f}\n",
	       l->ifname ? "veth" : "test_run", l->rate, r->secs, r->done, r->sent,
	       (unsigned long long)(c1[TCPS_CNT_TCP] - c0[TCPS_CNT_TCP]),
	       (unsigned long long)trans, (double)trans / r->secs,
	       (unsigned long long)(c1[TCPS_CNT_RB_DROPS] - c0[TCPS_CNT_RB_DROPS]), r->errs,
	       l->pid ? 100.0 * cpu / (r->secs + 0.3) : 0.0);
}

int main(int argc, char **argv)
{
	__u64 c0[TCPS_CNT_MAX], c1[TCPS_CNT_MAX];
	struct load l = { 0 };
	struct sender *s;
	struct result r;
	double cpu0, cpu1;
	int stats_fd;
	__u32 base;

	if (parse_args(argc, argv, &l))
		return 2;
	s = calloc(1, sizeof(*s));
	if (!s)
		return 1;
	s->sock = -1;
	if (open_instance(l.pin_dir, !l.ifname, &stats_fd, &s->prog))
		goto fail;
	make_frames(s->fr);
	if (l.ifname && open_tx(l.ifname, s))
		goto fail;
	base = first_client();

	if (counters(stats_fd, c0))
		goto fail;
	cpu0 = cpu_s(l.pid);
	r = run_load(s, base, &l);
	/* Let the daemon catch up (it polls every 100 ms) before its CPU is read. */
	usleep(300000);
	cpu1 = cpu_s(l.pid);
	if (counters(stats_fd, c1))
		goto fail;
	print_result(&l, &r, c0, c1, cpu1 - cpu0);
	if (r.sent && c1[TCPS_CNT_TCP] == c0[TCPS_CNT_TCP]) {
		fprintf(stderr, "ringload: no frame reached the program of %s\n", l.pin_dir);
		goto fail;
	}
	free(s);
	return 0;
fail:
	free(s);
	return 1;
}
