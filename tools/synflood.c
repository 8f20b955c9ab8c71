// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * synflood: a bounded flood of spoofed TCP SYNs for tests, sent through an
 * AF_PACKET socket on one interface (test namespaces only). Sources are
 * random addresses of a prefix (default 198.18.128.0/17) and random ports.
 * Stops at --count packets or --seconds, whichever comes first, and prints
 * what it sent and the rate achieved.
 *
 *   synflood -i IF --dst-mac MAC --dst 198.18.1.2 --dport 80 \
 *            [--src-net 198.18.128.0/17] [--count N] [--seconds S] [--rate PPS]
 */
#define _GNU_SOURCE	/* sendmmsg */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tcpscope.h"
#include "pktbuild.h"

#define BATCH 256
#define MAX_COUNT 100000000ULL
#define MAX_SECONDS 600

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static __u64 rng = 0x9e3779b97f4a7c15ULL;

static __u32 rnd(void)
{
	/* xorshift64*: fast, good enough for addresses and ports */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (__u32)((rng * 0x2545F4914F6CDD1DULL) >> 32);
}

static __u16 csum(const __u8 *p, size_t n, __u32 sum)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		sum += (__u32)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		sum += (__u32)p[n - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* --dst-mac; -1 after one line on stderr. */
static int parse_mac(const char *s, __u8 mac[6])
{
	unsigned int m[6];
	int i, n = -1;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x%n", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5], &n) != 6 ||
	    n < 0 || s[n])
		goto bad;
	for (i = 0; i < 6; i++) {
		if (m[i] > 255)
			goto bad;
		mac[i] = (__u8)m[i];
	}
	return 0;
bad:
	fprintf(stderr, "synflood: --dst-mac: expected aa:bb:cc:dd:ee:ff, not '%s'\n", s);
	return -1;
}

static const char usage[] =
	"Usage: synflood -i IF --dst-mac MAC --dst IPV4 --dport PORT [OPTIONS]\n"
	"\n"
	"A bounded flood of spoofed TCP SYNs for tests, sent through an AF_PACKET\n"
	"socket on IF (test namespaces only), from random addresses of a prefix and\n"
	"random ports. Stops at --count frames or --seconds, whichever comes first.\n"
	"\n"
	"Options:\n"
	"  -i, --interface IF      interface to send on\n"
	"      --dst-mac MAC       destination MAC, aa:bb:cc:dd:ee:ff\n"
	"      --dst IPV4          destination address\n"
	"      --dport PORT        destination port (1..65535)\n"
	"      --src-net A.B.C.D/LEN  source prefix, LEN 8..32 (default 198.18.128.0/17)\n"
	"      --count N           frames to send, 1..100000000 (default 1000000)\n"
	"      --seconds S         time bound, more than 0 and at most 600 (default 10)\n"
	"      --rate PPS          frames per second at most, 0 = unpaced (default 0)\n"
	"  -h, --help              this help\n"
	"\n"
	"On exit it prints: sent N SYNs in S s: R SYN/s (exit 1 if none was sent).\n"
	"\n"
	"Example:\n"
	"  synflood -i veth0 --dst-mac 02:00:00:00:00:02 --dst 198.18.1.2 --dport 80 \\\n"
	"           --count 20000 --seconds 5 --rate 50000\n";

/* A bad number is a usage error: one line, exit 2. */
static void bad_number(const char *what, const char *s, const char *range)
	__attribute__((noreturn));

static void bad_number(const char *what, const char *s, const char *range)
{
	fprintf(stderr, "synflood: %s: expected %s, not '%s'\n", what, range, s);
	exit(2);
}

/* A decimal integer from min to max, the whole string. */
static unsigned long parse_ulong(const char *s, unsigned long min, unsigned long max,
				 const char *what)
{
	char range[64], *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (!isdigit((unsigned char)*s) || errno || *end || v < min || v > max) {
		snprintf(range, sizeof(range), "a number from %lu to %lu", min, max);
		bad_number(what, s, range);
	}
	return v;
}

/* A decimal number (fractions allowed), the whole string, in (lo, max] or
 * [lo, max] when lo_incl. */
static double parse_real(const char *s, double lo, int lo_incl, double max, const char *what)
{
	char range[64], *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (!(isdigit((unsigned char)*s) || *s == '.') || errno || end == s || *end ||
	    !(lo_incl ? v >= lo : v > lo) || !(v <= max)) {
		snprintf(range, sizeof(range),
			 lo_incl ? "a number from %.0f to %.0f" : "a number above %.0f and at most %.0f",
			 lo, max);
		bad_number(what, s, range);
	}
	return v;
}

struct flood_opts {
	const char *ifname, *dst, *srcnet;
	unsigned long long count;
	double seconds, rate;
	__u8 dmac[6];
	int dport;
};

/* The source prefix: addresses are base | (random & ~mask). */
struct src_net {
	__u32 base, mask;
};

/* One sendmmsg batch: BATCH copies of the template, re-randomized each round. */
struct batch {
	__u8 frames[BATCH][128];
	struct iovec iov[BATCH];
	struct mmsghdr msg[BATCH];
};

/* Returns -1 to go on, else the exit status (0 after --help, 2 on a usage
 * error, after one line on stderr). */
static int parse_args(int argc, char **argv, struct flood_opts *o)
{
	static const struct option lo[] = {
		{ "interface", required_argument, NULL, 'i' },
		{ "dst-mac", required_argument, NULL, 'm' },
		{ "dst", required_argument, NULL, 'd' },
		{ "dport", required_argument, NULL, 'p' },
		{ "src-net", required_argument, NULL, 's' },
		{ "count", required_argument, NULL, 'c' },
		{ "seconds", required_argument, NULL, 't' },
		{ "rate", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	int c, have_mac = 0;

	*o = (struct flood_opts){ .srcnet = "198.18.128.0/17", .count = 1000000, .seconds = 10,
				  .dport = -1 };
	while ((c = getopt_long(argc, argv, "i:h", lo, NULL)) != -1) {
		switch (c) {
		case 'i': o->ifname = optarg; break;
		case 'm':
			if (parse_mac(optarg, o->dmac))
				return 2;
			have_mac = 1;
			break;
		case 'd': o->dst = optarg; break;
		case 'p': o->dport = (int)parse_ulong(optarg, 1, 65535, "--dport"); break;
		case 's': o->srcnet = optarg; break;
		case 'c': o->count = parse_ulong(optarg, 1, MAX_COUNT, "--count"); break;
		case 't': o->seconds = parse_real(optarg, 0, 0, MAX_SECONDS, "--seconds"); break;
		case 'r': o->rate = parse_real(optarg, 0, 1, 1e8, "--rate"); break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs("synflood: bad option (see --help)\n", stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "synflood: unexpected argument '%s' (see --help)\n", argv[optind]);
		return 2;
	}
	if (!o->ifname || !o->dst || o->dport < 0 || !have_mac) {
		fputs("synflood: needs -i IF, --dst-mac MAC, --dst IPV4 and --dport PORT "
		      "(see --help)\n", stderr);
		return 2;
	}
	return -1;
}

/* "A.B.C.D[/LEN]", LEN 8..32 (default 17). */
static int parse_src_net(const char *srcnet, struct src_net *sn)
{
	struct in_addr net;
	char buf[32], *slash;
	int plen = 17;

	snprintf(buf, sizeof(buf), "%s", srcnet);
	slash = strchr(buf, '/');
	if (slash) {
		*slash = '\0';
		plen = (int)parse_ulong(slash + 1, 8, 32, "--src-net prefix length");
	}
	if (strlen(srcnet) >= sizeof(buf) || inet_pton(AF_INET, buf, &net) != 1) {
		fprintf(stderr, "synflood: bad --src-net %s\n", srcnet);
		return -1;
	}
	sn->mask = plen == 32 ? 0xffffffffU : ~(0xffffffffU >> plen);
	sn->base = ntohl(net.s_addr) & sn->mask;
	return 0;
}

/* The SYN every frame starts from; returns its length, 0 if dst is bad. */
static size_t build_template(const struct flood_opts *o, __u8 tmpl[128])
{
	struct pkt_spec s = PKT_V4("198.18.128.1", 1024, o->dst, (__u16)o->dport);
	size_t n;

	s.flags = TCPS_SYN;
	s.mss = 1460;
	s.wscale = 7;
	n = pkt_build(&s, tmpl, 128);
	if (!n) {
		fprintf(stderr, "synflood: bad --dst %s\n", o->dst);
		return 0;
	}
	memcpy(tmpl, o->dmac, 6);
	return n;
}

/* An AF_PACKET socket bound to the interface; -1 after printing why. */
static int open_socket(const struct flood_opts *o)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET };
	int fd, one = 1;

	fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0) {
		fprintf(stderr, "synflood: socket: %s\n", strerror(errno));
		return -1;
	}
	sll.sll_ifindex = (int)if_nametoindex(o->ifname);
	sll.sll_halen = 6;
	memcpy(sll.sll_addr, o->dmac, 6);
	if (!sll.sll_ifindex || bind(fd, (struct sockaddr *)&sll, sizeof(sll))) {
		fprintf(stderr, "synflood: %s: %s\n", o->ifname, strerror(errno ? errno : ENODEV));
		return -1;
	}
	/* Skip our own egress qdisc: the flood is for the receiver. */
	setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	return fd;
}

static void batch_init(struct batch *b, const __u8 *tmpl, size_t n)
{
	int i;

	for (i = 0; i < BATCH; i++) {
		memcpy(b->frames[i], tmpl, n);
		b->iov[i].iov_base = b->frames[i];
		b->iov[i].iov_len = n;
		memset(&b->msg[i], 0, sizeof(b->msg[i]));
		b->msg[i].msg_hdr.msg_iov = &b->iov[i];
		b->msg[i].msg_hdr.msg_iovlen = 1;
	}
}

/* A new random source address, port and sequence number, checksums redone. */
static void randomize(__u8 *f, size_t n, const struct src_net *sn)
{
	__u8 *ip = f + 14, *th = ip + 20;
	__u32 src = sn->base | (rnd() & ~sn->mask), seq = rnd(), sum;
	__u16 sport = (__u16)(1024 + rnd() % 64512);
	size_t tl = n - 34;

	src = htonl(src);
	memcpy(ip + 12, &src, 4);
	ip[10] = ip[11] = 0;
	sum = csum(ip, 20, 0);
	ip[10] = (__u8)(sum >> 8);
	ip[11] = (__u8)sum;
	th[0] = (__u8)(sport >> 8);
	th[1] = (__u8)sport;
	th[4] = (__u8)(seq >> 24);
	th[5] = (__u8)(seq >> 16);
	th[6] = (__u8)(seq >> 8);
	th[7] = (__u8)seq;
	th[16] = th[17] = 0;
	sum = csum(ip + 12, 8, 6 + (__u32)tl);
	sum = csum(th, tl, (__u16)~sum);
	th[16] = (__u8)(sum >> 8);
	th[17] = (__u8)sum;
}

/* Send until --count or --seconds, paced at --rate; returns the frames sent. */
static unsigned long long flood(int fd, struct batch *b, size_t n, const struct src_net *sn,
				const struct flood_opts *o, double t0)
{
	unsigned long long sent = 0;
	double el;
	int i;

	while (sent < o->count && (el = now_s() - t0) < o->seconds) {
		int nb = o->count - sent < BATCH ? (int)(o->count - sent) : BATCH, r;

		if (o->rate > 0 && sent > o->rate * el) {	/* ahead of --rate: wait */
			usleep(200);
			continue;
		}
		for (i = 0; i < nb; i++)
			randomize(b->frames[i], n, sn);
		r = sendmmsg(fd, b->msg, (unsigned int)nb, 0);
		if (r < 0) {
			if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR)
				continue;
			fprintf(stderr, "synflood: sendmmsg: %s\n", strerror(errno));
			break;
		}
		sent += (unsigned long long)r;
	}
	return sent;
}

int main(int argc, char **argv)
{
	struct flood_opts o;
	struct src_net sn;
	static struct batch b;
	unsigned long long sent;
	__u8 tmpl[128];
	double t0, el;
	size_t n;
	int fd, rc;

	rc = parse_args(argc, argv, &o);
	if (rc >= 0)
		return rc;
	if (parse_src_net(o.srcnet, &sn))
		return 2;
	n = build_template(&o, tmpl);
	if (!n)
		return 2;
	fd = open_socket(&o);
	if (fd < 0)
		return 1;
	rng ^= (__u64)getpid() << 32 ^ (__u64)time(NULL);
	batch_init(&b, tmpl, n);

	t0 = now_s();
	sent = flood(fd, &b, n, &sn, &o, t0);
	el = now_s() - t0;
	printf("sent %llu SYNs in %.2f s: %.0f SYN/s\n", sent, el, el > 0 ? sent / el : 0.0);
	close(fd);
	return sent ? 0 : 1;
}
