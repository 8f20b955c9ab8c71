// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Writes the seed corpus of fuzz_track (tests/fuzz/corpus/): a few short
 * conversations (handshake, data, close, reset, simultaneous open/close,
 * IPv6 with extension headers, VLANs, fragments, truncations) in the
 * harness's record format. Run by `make -f tests/fuzz/fuzz.mk corpus`.
 */
#include <stdio.h>
#include <string.h>

#include "tcpscope.h"
#include "pktbuild.h"

static unsigned char out[1 << 16];
static size_t out_len;

/* Raw record: meta, little-endian length, frame. */
static void raw(const struct pkt_spec *s, size_t cut)
{
	unsigned char f[PKT_MAX];
	size_t n = pkt_build(s, f, sizeof(f));

	if (!n || out_len + n + 3 > sizeof(out))
		return;
	if (cut && cut < n)
		n = cut;
	out[out_len++] = 0;
	out[out_len++] = n & 0xff;
	out[out_len++] = n >> 8;
	memcpy(out + out_len, f, n);
	out_len += n;
}

/* Compact record: dir/family/encap in t, flags, seq, ack, payload, wscale. */
static void compact(int rel, unsigned char t, unsigned char flags, unsigned int seq,
		    unsigned int ack, unsigned char plen, unsigned char wscale)
{
	unsigned char *r = out + out_len;

	r[0] = 0x80 | (rel ? 0x40 : 0);
	r[1] = t;
	r[2] = flags;
	r[3] = seq >> 24; r[4] = seq >> 16; r[5] = seq >> 8; r[6] = seq;
	r[7] = ack >> 24; r[8] = ack >> 16; r[9] = ack >> 8; r[10] = ack;
	r[11] = plen;
	r[12] = wscale;
	out_len += 13;
}

static void flush(const char *dir, const char *name)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(out, 1, out_len, f) != out_len) {
		perror(path);
		return;
	}
	fclose(f);
	out_len = 0;
}

/* A whole connection c->s with raw frames; fam 4/6, vlans, ext headers. */
static void conversation(int fam, int vlans, int ext, int close_kind)
{
	const char *c = fam == 4 ? "198.18.0.1" : "2001:db8::1";
	const char *s = fam == 4 ? "198.18.0.2" : "2001:db8::2";
	struct pkt_spec a = fam == 4 ? PKT_V4(c, 40000, s, 80) : PKT_V6(c, 40000, s, 80);
	struct pkt_spec b = fam == 4 ? PKT_V4(s, 80, c, 40000) : PKT_V6(s, 80, c, 40000);

	a.vlans = b.vlans = vlans;
	a.ipv6_ext = b.ipv6_ext = ext;
	a.flags = TCPS_SYN; a.seq = 1000; a.wscale = 7; a.mss = 1460; raw(&a, 0);
	b.flags = TCPS_SYN | TCPS_ACK; b.seq = 5000; b.ack = 1001; b.wscale = 7; b.mss = 1460; raw(&b, 0);
	a.wscale = b.wscale = -1; a.mss = b.mss = 0;
	a.flags = TCPS_ACK; a.seq = 1001; a.ack = 5001; raw(&a, 0);
	a.flags = TCPS_ACK | TCPS_PSH; a.payload_len = 100; raw(&a, 0);
	a.payload_len = 0;
	b.flags = TCPS_ACK; b.seq = 5001; b.ack = 1101; raw(&b, 0);
	if (close_kind == 0) {
		a.flags = TCPS_FIN | TCPS_ACK; a.seq = 1101; raw(&a, 0);
		b.flags = TCPS_ACK; b.ack = 1102; raw(&b, 0);
		b.flags = TCPS_FIN | TCPS_ACK; raw(&b, 0);
		a.flags = TCPS_ACK; a.seq = 1102; a.ack = 5002; raw(&a, 0);
	} else if (close_kind == 1) {
		b.flags = TCPS_RST; b.seq = 5001; raw(&b, 0);
	} else {
		/* simultaneous close */
		a.flags = TCPS_FIN | TCPS_ACK; a.seq = 1101; raw(&a, 0);
		b.flags = TCPS_FIN | TCPS_ACK; b.seq = 5001; b.ack = 1101; raw(&b, 0);
		a.flags = TCPS_ACK; a.seq = 1102; a.ack = 5002; raw(&a, 0);
		b.flags = TCPS_ACK; b.seq = 5002; b.ack = 1102; raw(&b, 0);
	}
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "tests/fuzz/corpus";
	struct pkt_spec p = PKT_V4("198.18.0.1", 40000, "198.18.0.2", 80);
	size_t cut;

	conversation(4, 0, 0, 0); flush(dir, "v4-handshake-close");
	conversation(4, 0, 0, 1); flush(dir, "v4-reset");
	conversation(4, 0, 0, 2); flush(dir, "v4-simultaneous-close");
	conversation(6, 0, 2, 0); flush(dir, "v6-ext-close");
	conversation(4, 2, 0, 0); flush(dir, "v4-qinq-close");
	conversation(6, 1, 0, 1); flush(dir, "v6-vlan-reset");

	/* Malformed and odd frames. */
	p.flags = TCPS_SYN; p.wscale = 14; p.mss = 1460;
	for (cut = 1; cut < 80; cut += 7)
		raw(&p, cut);
	flush(dir, "v4-truncations");
	p.frag_offset = 10; raw(&p, 0); p.frag_offset = 0;
	p.ipv4_options = 40; raw(&p, 0);
	flush(dir, "v4-fragment-options");

	/* Compact records, relative seq/ack: handshake, data, FIN both ways. */
	compact(0, 0, TCPS_SYN, 1000, 0, 0, 7);
	compact(0, 1, TCPS_SYN | TCPS_ACK, 9000, 1001, 0, 7);
	compact(1, 0, TCPS_ACK, 0, 0, 0, 0xff);
	compact(1, 0, TCPS_ACK | TCPS_PSH, 0, 0, 50, 0xff);
	compact(1, 1, TCPS_ACK, 0, 0, 0, 0xff);
	compact(1, 1, TCPS_FIN | TCPS_ACK, 0, 0, 0, 0xff);
	compact(1, 0, TCPS_FIN | TCPS_ACK, 0, 0, 0, 0xff);
	compact(1, 1, TCPS_ACK, 0, 0, 0, 0xff);
	compact(0, 0, TCPS_SYN, 77777, 0, 0, 0xff);
	flush(dir, "compact-close-reopen");
	/* Simultaneous open on IPv6 with a VLAN. */
	compact(0, 0x0a, TCPS_SYN, 1000, 0, 0, 0xff);
	compact(0, 0x0b, TCPS_SYN, 2000, 0, 0, 0xff);
	compact(1, 0x0a, TCPS_SYN | TCPS_ACK, 0xff, 0, 0, 0xff);
	compact(1, 0x0b, TCPS_SYN | TCPS_ACK, 0xff, 0, 0, 0xff);
	compact(1, 0x0a, TCPS_RST, 0, 0, 0, 0xff);
	flush(dir, "compact-simultaneous-open-v6");
	/* Mid-stream pickup and out-of-window RST. */
	compact(0, 0x04, TCPS_ACK, 123456, 654321, 10, 0xff);
	compact(0, 0x05, TCPS_ACK, 654321, 123466, 0, 0xff);
	compact(0, 0x05, TCPS_RST, 1, 0, 0, 0xff);
	compact(1, 0x05, TCPS_RST, 0, 0, 0, 0xff);
	flush(dir, "compact-midstream-rst");
	return 0;
}
