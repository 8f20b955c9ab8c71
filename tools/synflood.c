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

static int parse_mac(const char *s, __u8 mac[6])
{
	unsigned int m[6];
	int i;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6)
		return -1;
	for (i = 0; i < 6; i++) {
		if (m[i] > 255)
			return -1;
		mac[i] = (__u8)m[i];
	}
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: synflood -i IF --dst-mac MAC --dst IPV4 --dport PORT "
			"[--src-net A.B.C.D/LEN] [--count N] [--seconds S] [--rate PPS]\n");
}

int main(int argc, char **argv)
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
		{},
	};
	const char *ifname = NULL, *dst = NULL, *srcnet = "198.18.128.0/17";
	unsigned long long count = 1000000, sent = 0;
	double seconds = 10, rate = 0, t0, el;
	__u8 dmac[6] = { 0 }, tmpl[128], frames[BATCH][128];
	struct iovec iov[BATCH];
	struct mmsghdr msg[BATCH];
	struct sockaddr_ll sll = { .sll_family = AF_PACKET };
	struct in_addr net;
	int dport = -1, plen = 17, c, fd, one = 1, i, have_mac = 0;
	__u32 base, mask;
	size_t n;
	char *slash;

	while ((c = getopt_long(argc, argv, "i:", lo, NULL)) != -1) {
		switch (c) {
		case 'i': ifname = optarg; break;
		case 'm': have_mac = !parse_mac(optarg, dmac); break;
		case 'd': dst = optarg; break;
		case 'p': dport = atoi(optarg); break;
		case 's': srcnet = optarg; break;
		case 'c': count = strtoull(optarg, NULL, 10); break;
		case 't': seconds = atof(optarg); break;
		case 'r': rate = atof(optarg); break;
		default: usage(); return 2;
		}
	}
	if (!ifname || !dst || dport <= 0 || dport > 65535 || !have_mac || !count ||
	    count > MAX_COUNT || seconds <= 0 || seconds > MAX_SECONDS) {
		usage();
		return 2;
	}
	{
		char buf[32];

		snprintf(buf, sizeof(buf), "%s", srcnet);
		slash = strchr(buf, '/');
		if (slash) {
			*slash = '\0';
			plen = atoi(slash + 1);
		}
		if (inet_pton(AF_INET, buf, &net) != 1 || plen < 8 || plen > 32) {
			fprintf(stderr, "synflood: bad --src-net %s\n", srcnet);
			return 2;
		}
	}
	mask = plen == 32 ? 0xffffffffU : ~(0xffffffffU >> plen);
	base = ntohl(net.s_addr) & mask;

	{
		struct pkt_spec s = PKT_V4("198.18.128.1", 1024, dst, (__u16)dport);

		s.flags = TCPS_SYN;
		s.mss = 1460;
		s.wscale = 7;
		n = pkt_build(&s, tmpl, sizeof(tmpl));
		if (!n) {
			fprintf(stderr, "synflood: bad --dst %s\n", dst);
			return 2;
		}
	}
	memcpy(tmpl, dmac, 6);

	fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0) {
		fprintf(stderr, "synflood: socket: %s\n", strerror(errno));
		return 1;
	}
	sll.sll_ifindex = (int)if_nametoindex(ifname);
	sll.sll_halen = 6;
	memcpy(sll.sll_addr, dmac, 6);
	if (!sll.sll_ifindex || bind(fd, (struct sockaddr *)&sll, sizeof(sll))) {
		fprintf(stderr, "synflood: %s: %s\n", ifname, strerror(errno ? errno : ENODEV));
		return 1;
	}
	/* Skip our own egress qdisc: the flood is for the receiver. */
	setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	rng ^= (__u64)getpid() << 32 ^ (__u64)time(NULL);

	for (i = 0; i < BATCH; i++) {
		memcpy(frames[i], tmpl, n);
		iov[i].iov_base = frames[i];
		iov[i].iov_len = n;
		memset(&msg[i], 0, sizeof(msg[i]));
		msg[i].msg_hdr.msg_iov = &iov[i];
		msg[i].msg_hdr.msg_iovlen = 1;
	}
	t0 = now_s();
	while (sent < count && (el = now_s() - t0) < seconds) {
		int b = count - sent < BATCH ? (int)(count - sent) : BATCH, r;

		if (rate > 0 && sent > rate * el) {	/* ahead of --rate: wait */
			usleep(200);
			continue;
		}

		for (i = 0; i < b; i++) {
			__u8 *f = frames[i], *ip = f + 14, *th = ip + 20;
			__u32 src = base | (rnd() & ~mask), seq = rnd(), sum;
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
		r = sendmmsg(fd, msg, (unsigned int)b, 0);
		if (r < 0) {
			if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR)
				continue;
			fprintf(stderr, "synflood: sendmmsg: %s\n", strerror(errno));
			break;
		}
		sent += (unsigned long long)r;
	}
	el = now_s() - t0;
	printf("sent %llu SYNs in %.2f s: %.0f SYN/s\n", sent, el, el > 0 ? sent / el : 0.0);
	close(fd);
	return sent ? 0 : 1;
}
