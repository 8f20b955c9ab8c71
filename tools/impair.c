// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * impair: a small userspace netem for the test namespaces (this kernel has
 * no sch_netem). It sits in a middle network namespace between two veth
 * pairs, reads every frame that arrives on one interface with an AF_PACKET
 * socket and writes it out of the other, both ways, applying loss, a
 * one-way delay, reordering and duplication.
 *
 *	impair -a IF -b IF --duration S [--loss P] [--delay MS] [--reorder P]
 *	       [--reorder-gap MS] [--dup P] [--seed N] [--tcp-only]
 *
 * The middle namespace must have no addresses and no forwarding, so that
 * only this relay moves frames; offloads must be off on the veths (frames
 * are copied verbatim: a GSO super-frame or a CHECKSUM_PARTIAL frame would
 * arrive broken), see tests/oracle/test_oracle.sh. One poll loop; frames
 * wait in a min-heap ordered by due time, then arrival. Ends on SIGTERM,
 * SIGINT or after --duration, and prints per-direction counters.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "die.h"

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23	/* Linux 4.20 */
#endif

#define FRAME_MAX (65536 + 64)	/* a GSO frame slipped through still fits */
#define RX_BATCH 64		/* frames read per socket per wake-up: fairness */
#define QUEUE_MAX_DEFAULT 65536
#define SOCK_BUF (8 << 20)

struct frame {
	uint64_t due_ns;
	uint64_t order;		/* arrival number: equal due times keep their order */
	unsigned int dir;	/* 0: a -> b, 1: b -> a */
	unsigned int len;
	unsigned char data[];
};

struct dir_stats {
	unsigned long long received, relayed, lost, dup, reordered, txerr, oversize, overflow;
};

static const char usage[] =
	"Usage: impair -a IFACE -b IFACE --duration S [OPTIONS]\n"
	"\n"
	"Relays every frame between IFACE a and IFACE b (AF_PACKET, both ways) and\n"
	"impairs it as netem would. Run it in a namespace of its own whose two veths\n"
	"have no addresses, no forwarding and offloads off (tso gso gro tx).\n"
	"\n"
	"Options:\n"
	"  -a, --iface-a IF       first interface\n"
	"  -b, --iface-b IF       second interface\n"
	"  -T, --duration S       exit after S seconds (mandatory, 1..86400)\n"
	"  -l, --loss PCT         drop PCT % of the frames (default 0)\n"
	"  -d, --delay MS         one-way delay of every frame, ms (default 0)\n"
	"  -r, --reorder PCT      PCT % of the frames wait --reorder-gap ms more, so\n"
	"                         later frames overtake them (default 0)\n"
	"  -g, --reorder-gap MS   extra delay of a reordered frame (default 5)\n"
	"  -u, --dup PCT          send PCT % of the frames twice (default 0)\n"
	"  -s, --seed N           PRNG seed (default 1): same seed, same decisions\n"
	"  -t, --tcp-only         impair only IPv4/IPv6 TCP frames; the rest (ARP,\n"
	"                         neighbour discovery) are only delayed\n"
	"  -q, --queue-max N      frames held at most (default 65536); more are dropped\n"
	"                         and counted as overflow\n"
	"  -h, --help             this help\n"
	"\n"
	"On exit it prints one line of counters per direction:\n"
	"  impair a>b received N relayed N lost N dup N reordered N txerr N oversize N\n"
	"         overflow N pending N sockdrop N\n"
	"\n"	"Exit status: 0 after --duration or a signal, 1 when an interface or a\n"
	"socket call fails, 2 for a bad command line.\n"
	"\n"
	"Example:\n"
	"  impair -a r1 -b r2 -T 60 --loss 5 --delay 2 --reorder 10 --dup 2 --seed 7\n";

static int fds[2] = { -1, -1 };
static const char *ifnames[2];
static struct dir_stats st[2];
static double loss_p, reorder_p, dup_p;
static uint64_t delay_ns, gap_ns = 5000000;
static uint64_t rng_state = 1;
static bool tcp_only;
static unsigned int queue_max = QUEUE_MAX_DEFAULT;

static struct frame **heap;
static unsigned int heap_len;
static uint64_t arrivals;

const char tool_name[] = "impair";

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* splitmix64: small, seedable, good enough for test decisions. */
static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* true with probability pct %. */
static bool chance(double pct)
{
	if (pct <= 0)
		return false;
	return (double)(rng_next() >> 11) * (1.0 / 9007199254740992.0) * 100.0 < pct;
}

static double parse_double(const char *s, double max, const char *what)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0) || v > max)
		bad_arg("%s: expected a number from 0 to %g, not '%s'", what, max, s);
	return v;
}

static unsigned long long parse_ull(const char *s, unsigned long long max, const char *what)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v > max)
		bad_arg("%s: expected a number up to %llu, not '%s'", what, max, s);
	return v;
}

/* Min-heap on (due_ns, order). */
static bool frame_before(const struct frame *x, const struct frame *y)
{
	return x->due_ns != y->due_ns ? x->due_ns < y->due_ns : x->order < y->order;
}

static void heap_push(struct frame *f)
{
	unsigned int i = heap_len++;

	while (i) {
		unsigned int p = (i - 1) / 2;

		if (!frame_before(f, heap[p]))
			break;
		heap[i] = heap[p];
		i = p;
	}
	heap[i] = f;
}

static struct frame *heap_pop(void)
{
	struct frame *top = heap[0], *last = heap[--heap_len];
	unsigned int i = 0;

	for (;;) {
		unsigned int c = 2 * i + 1;

		if (c >= heap_len)
			break;
		if (c + 1 < heap_len && frame_before(heap[c + 1], heap[c]))
			c++;
		if (!frame_before(heap[c], last))
			break;
		heap[i] = heap[c];
		i = c;
	}
	if (heap_len)
		heap[i] = last;
	return top;
}

static int open_iface(const char *name)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	struct packet_mreq mr = { .mr_type = PACKET_MR_PROMISC };
	int one = 1, buf = SOCK_BUF, fd;
	unsigned int ifindex = if_nametoindex(name);

	if (!ifindex)
		die("%s: no such interface", name);
	/* Protocol 0 until bound: no frame of another interface is queued in
	 * the meantime. */
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket(AF_PACKET): %s", strerror(errno));
	/* Our own writes out of this interface are not input. */
	if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)))
		die("%s: PACKET_IGNORE_OUTGOING: %s", name, strerror(errno));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)) &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf)))
		die("%s: SO_RCVBUF: %s", name, strerror(errno));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf)) &&
	    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf)))
		die("%s: SO_SNDBUF: %s", name, strerror(errno));
	sll.sll_ifindex = (int)ifindex;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)))
		die("%s: bind: %s", name, strerror(errno));
	/* Frames carry the endpoints' MAC addresses, not ours. */
	mr.mr_ifindex = (int)ifindex;
	if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)))
		die("%s: promiscuous mode: %s", name, strerror(errno));
	return fd;
}

/* IPv4 or IPv6 TCP (no VLAN, no extension headers: enough for the tests). */
static bool is_tcp(const unsigned char *p, unsigned int len)
{
	if (len < ETH_HLEN + 40)
		return false;
	if (p[12] == 0x08 && p[13] == 0x00)
		return p[ETH_HLEN + 9] == 6;
	if (p[12] == 0x86 && p[13] == 0xdd)
		return p[ETH_HLEN + 6] == 6;
	return false;
}

static void transmit(const struct frame *f)
{
	int fd = fds[!f->dir];

	if (send(fd, f->data, f->len, MSG_DONTWAIT) == (ssize_t)f->len) {
		st[f->dir].relayed++;
		return;
	}
	if (errno == EMSGSIZE)
		st[f->dir].oversize++;
	else
		st[f->dir].txerr++;
}

static void enqueue(unsigned int dir, const unsigned char *data, unsigned int len, uint64_t due)
{
	struct frame *f;

	if (heap_len >= queue_max) {
		st[dir].overflow++;
		return;
	}
	f = malloc(sizeof(*f) + len);
	if (!f)
		die("out of memory");
	f->due_ns = due;
	f->order = arrivals++;
	f->dir = dir;
	f->len = len;
	memcpy(f->data, data, len);
	heap_push(f);
}

static void on_frame(unsigned int dir, const unsigned char *data, unsigned int len, uint64_t now)
{
	bool impair = !tcp_only || is_tcp(data, len);
	uint64_t due = now + delay_ns;
	int copies = 1, i;

	st[dir].received++;
	if (impair && chance(loss_p)) {
		st[dir].lost++;
		return;
	}
	if (impair && chance(reorder_p)) {
		st[dir].reordered++;
		due += gap_ns;
	}
	if (impair && chance(dup_p)) {
		st[dir].dup++;
		copies = 2;
	}
	for (i = 0; i < copies; i++)
		enqueue(dir, data, len, due);
}

static void drain(unsigned int dir, unsigned char *buf)
{
	struct sockaddr_ll from;
	int i;

	for (i = 0; i < RX_BATCH; i++) {
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fds[dir], buf, FRAME_MAX, MSG_DONTWAIT | MSG_TRUNC,
				     (struct sockaddr *)&from, &fl);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			die("%s: recv: %s", ifnames[dir], strerror(errno));
		}
		/* PACKET_IGNORE_OUTGOING covers this; a second guard is cheap. */
		if (from.sll_pkttype == PACKET_OUTGOING)
			continue;
		if (n > FRAME_MAX) {
			st[dir].received++;
			st[dir].oversize++;
			continue;
		}
		on_frame(dir, buf, (unsigned int)n, now_ns());
	}
}

static unsigned int sock_drops(int fd)
{
	struct tpacket_stats ts;
	socklen_t l = sizeof(ts);

	if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &ts, &l))
		return 0;
	return ts.tp_drops;
}

/* getopt's '?': one line of our own; the exit status. */
static int bad_option(char **argv)
{
	fprintf(stderr, "impair: unknown option or missing value: '%s' (see --help)\n", argv[optind - 1]);
	return 2;
}

/* The options into the globals above; -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, unsigned long long *duration)
{
	static const struct option opts[] = {
		{ "iface-a", required_argument, NULL, 'a' },
		{ "iface-b", required_argument, NULL, 'b' },
		{ "duration", required_argument, NULL, 'T' },
		{ "loss", required_argument, NULL, 'l' },
		{ "delay", required_argument, NULL, 'd' },
		{ "reorder", required_argument, NULL, 'r' },
		{ "reorder-gap", required_argument, NULL, 'g' },
		{ "dup", required_argument, NULL, 'u' },
		{ "seed", required_argument, NULL, 's' },
		{ "tcp-only", no_argument, NULL, 't' },
		{ "queue-max", required_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opterr = 0;	/* one line of our own instead of getopt's */
	while ((c = getopt_long(argc, argv, "a:b:T:l:d:r:g:u:s:tq:h", opts, NULL)) != -1) {
		switch (c) {
		case 'a': ifnames[0] = optarg; break;
		case 'b': ifnames[1] = optarg; break;
		case 'T': *duration = parse_ull(optarg, 86400, "--duration"); break;
		case 'l': loss_p = parse_double(optarg, 100, "--loss"); break;
		case 'd': delay_ns = (uint64_t)(parse_double(optarg, 10000, "--delay") * 1e6); break;
		case 'r': reorder_p = parse_double(optarg, 100, "--reorder"); break;
		case 'g': gap_ns = (uint64_t)(parse_double(optarg, 10000, "--reorder-gap") * 1e6); break;
		case 'u': dup_p = parse_double(optarg, 100, "--dup"); break;
		case 's': rng_state = parse_ull(optarg, UINT64_MAX, "--seed"); break;
		case 't': tcp_only = true; break;
		case 'q': queue_max = (unsigned int)parse_ull(optarg, 1 << 22, "--queue-max"); break;
		case 'h': fputs(usage, stdout); return 0;
		default: return bad_option(argv);
		}
	}
	if (optind != argc || !ifnames[0] || !ifnames[1] || !*duration || !queue_max) {
		fputs("impair: needs -a IFACE, -b IFACE and --duration S (1..86400)\n", stderr);
		fputs(usage, stderr);
		return 2;
	}
	if (!strcmp(ifnames[0], ifnames[1]))
		bad_arg("-a and -b name the same interface");
	return -1;
}

/* SIGTERM, SIGINT and SIGHUP arrive on the returned signalfd. */
static int signal_fd(void)
{
	sigset_t mask;
	int sfd;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL))
		die("sigprocmask: %s", strerror(errno));
	sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0)
		die("signalfd: %s", strerror(errno));
	return sfd;
}

static void print_ready(void)
{
	printf("impair: ready %s <-> %s loss %g%% delay %gms reorder %g%% (+%gms) dup %g%% seed %llu%s\n",
	       ifnames[0], ifnames[1], loss_p, (double)delay_ns / 1e6, reorder_p,
	       (double)gap_ns / 1e6, dup_p, (unsigned long long)rng_state,
	       tcp_only ? " tcp-only" : "");
	fflush(stdout);
}

/* Send every frame due by now. */
static void transmit_due(uint64_t now)
{
	while (heap_len && heap[0]->due_ns <= now) {
		struct frame *f = heap_pop();

		transmit(f);
		free(f);
	}
}

/* Wait until the next frame is due, the deadline, input or a signal. */
static void wait_events(struct pollfd pfd[3], uint64_t now, uint64_t deadline)
{
	uint64_t wake = deadline;
	struct timespec ts;

	if (heap_len && heap[0]->due_ns < wake)
		wake = heap[0]->due_ns;
	ts.tv_sec = (time_t)((wake - now) / 1000000000ull);
	ts.tv_nsec = (long)((wake - now) % 1000000000ull);
	if (ppoll(pfd, 3, &ts, NULL) < 0) {
		if (errno == EINTR) {
			pfd[0].revents = pfd[1].revents = pfd[2].revents = 0;
			return;
		}
		die("poll: %s", strerror(errno));
	}
}

/* Relays until the deadline or a signal; returns why it stopped. */
static const char *relay(int sfd, unsigned char *buf, uint64_t deadline)
{
	struct pollfd pfd[3] = {
		{ .fd = fds[0], .events = POLLIN },
		{ .fd = fds[1], .events = POLLIN },
		{ .fd = sfd, .events = POLLIN },
	};
	const char *why = "duration reached";

	for (;;) {
		uint64_t now = now_ns();
		struct signalfd_siginfo si;
		bool stop = false;

		transmit_due(now);
		if (now >= deadline)
			return why;
		wait_events(pfd, now, deadline);
		if (pfd[2].revents & POLLIN && read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
			why = strsignal((int)si.ssi_signo);
			stop = true;
		}
		if (pfd[0].revents & (POLLERR | POLLNVAL) || pfd[1].revents & (POLLERR | POLLNVAL))
			die("interface error (gone?)");
		if (pfd[0].revents & POLLIN)
			drain(0, buf);
		if (pfd[1].revents & POLLIN)
			drain(1, buf);
		if (stop)
			return why;
	}
}

/* Frames still waiting are dropped, as a netem qdisc deleted mid-flight;
 * then one line of counters per direction. */
static void report(const char *why)
{
	unsigned long long pending[2] = { 0, 0 };
	unsigned int drops[2];
	int c;

	while (heap_len) {
		struct frame *f = heap_pop();

		pending[f->dir]++;
		free(f);
	}
	drops[0] = sock_drops(fds[0]);
	drops[1] = sock_drops(fds[1]);
	printf("impair: stopping: %s\n", why);
	for (c = 0; c < 2; c++)
		printf("impair %s received %llu relayed %llu lost %llu dup %llu reordered %llu txerr %llu "
		       "oversize %llu overflow %llu pending %llu sockdrop %u\n",
		       c ? "b>a" : "a>b", st[c].received, st[c].relayed, st[c].lost, st[c].dup,
		       st[c].reordered, st[c].txerr, st[c].oversize, st[c].overflow, pending[c], drops[c]);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	unsigned long long duration = 0;
	unsigned char *buf;
	uint64_t deadline;
	const char *why;
	int rc, sfd;

	rc = parse_args(argc, argv, &duration);
	if (rc >= 0)
		return rc;
	sfd = signal_fd();
	heap = calloc(queue_max, sizeof(*heap));
	buf = malloc(FRAME_MAX);
	if (!heap || !buf)
		die("out of memory");
	fds[0] = open_iface(ifnames[0]);
	fds[1] = open_iface(ifnames[1]);

	deadline = now_ns() + duration * 1000000000ull;
	print_ready();
	why = relay(sfd, buf, deadline);
	report(why);
	close(fds[0]);
	close(fds[1]);
	close(sfd);
	free(heap);
	free(buf);
	return 0;
}
