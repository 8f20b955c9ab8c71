// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer harness over the native build of the data path: the parser
 * (bpf/parse.h) and the state machine (include/tcp_fsm.h) driven through a
 * small model of the connection table, as tcpscope.bpf.c drives them.
 *
 * Input: a sequence of records, each one frame.
 *   raw:     [meta & 0x80 == 0] [len lo] [len hi] [len bytes of frame]
 *   compact: [meta | 0x80] [tuple] [flags] [seq:4] [ack:4] [plen] [wscale]
 *            built into a valid frame with tools/pktbuild; meta bit 0x40
 *            makes seq/ack relative to what the model has seen, so the
 *            fuzzer reaches in-window segments and every closing state.
 * meta & 0x0f: extra wire bytes (x 64) beyond the buffer, as tc sees a
 * non-linear skb whose headers may lie past data_end.
 *
 * Each frame is copied into a heap buffer of exactly its size, so ASan
 * flags any read past the end. Invariants (abort on violation):
 *  - parse result in range; a TCP result's options lie inside the frame;
 *  - every state in 1..11 (LISTEN never made from packets);
 *  - per endpoint, step.from == the state the table held (no lost update);
 *  - each change follows the arcs of DESIGN.md §2 the segment's flags allow;
 *  - verdicts agree with the changes (OOW/INVALID/NOCREATE change nothing,
 *    REOPEN gives SYN_SENT/CLOSE, NOCREATE creates no entry);
 *  - the lock-free hot path (tcps_fsm_steady + tcps_fsm_track) does
 *    exactly what the full step would do for the same segment.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"
#include "pktbuild.h"

#define MAX_FRAMES 128
#define MAX_FRAME 2048
#define N_CONNS 8

#define REQUIRE(cond)                                                          \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "invariant failed: %s (%s:%d)\n", #cond, \
				__FILE__, __LINE__);                           \
			abort();                                               \
		}                                                              \
	} while (0)

struct model_conn {
	int used;
	struct tcps_key key;
	struct tcps_fsm fsm;
};

static struct model_conn table[N_CONNS];
/* Arcs taken, printed at exit with FUZZ_ARCS=1 (what the corpus reaches). */
static unsigned long hits[TCPS_STATE_MAX][TCPS_STATE_MAX];

/* ---- allowed arcs (DESIGN.md §2), built once ---- */

enum { A_SYN, A_ACK, A_FIN, A_RST, A_REOPEN, A_FIRST, A_N };
static __u8 arc[A_N][TCPS_STATE_MAX][TCPS_STATE_MAX];

static void add(int set, int from, int to)
{
	arc[set][from][to] = 1;
}

static void arcs_init(void)
{
	int s;

	/* SYN processing: simultaneous open, SYN+ACK sent and received. */
	add(A_SYN, TCPS_SYN_SENT, TCPS_SYN_RECV);
	add(A_SYN, TCPS_CLOSE, TCPS_SYN_RECV);
	add(A_SYN, TCPS_SYN_SENT, TCPS_ESTABLISHED);
	add(A_SYN, TCPS_SYN_RECV, TCPS_ESTABLISHED);
	/* ACK of a SYN or of a FIN. */
	add(A_ACK, TCPS_SYN_RECV, TCPS_ESTABLISHED);
	add(A_ACK, TCPS_FIN_WAIT1, TCPS_FIN_WAIT2);
	add(A_ACK, TCPS_CLOSING, TCPS_TIME_WAIT);
	add(A_ACK, TCPS_LAST_ACK, TCPS_CLOSE);
	/* FIN: send rules, then receive rules. */
	add(A_FIN, TCPS_ESTABLISHED, TCPS_FIN_WAIT1);
	add(A_FIN, TCPS_SYN_RECV, TCPS_FIN_WAIT1);
	add(A_FIN, TCPS_CLOSE_WAIT, TCPS_LAST_ACK);
	add(A_FIN, TCPS_CLOSE_WAIT, TCPS_CLOSING);	/* simultaneous close */
	add(A_FIN, TCPS_ESTABLISHED, TCPS_CLOSE_WAIT);
	add(A_FIN, TCPS_SYN_RECV, TCPS_CLOSE_WAIT);
	add(A_FIN, TCPS_FIN_WAIT1, TCPS_CLOSING);
	add(A_FIN, TCPS_FIN_WAIT2, TCPS_TIME_WAIT);
	/* An accepted RST closes both ends from any state. */
	for (s = TCPS_ESTABLISHED; s < TCPS_STATE_MAX; s++)
		if (s != TCPS_CLOSE)
			add(A_RST, s, TCPS_CLOSE);
	/* A SYN on a closed / TIME_WAIT tuple starts a new connection. */
	add(A_REOPEN, TCPS_CLOSE, TCPS_SYN_SENT);
	add(A_REOPEN, TCPS_TIME_WAIT, TCPS_SYN_SENT);
	add(A_REOPEN, TCPS_TIME_WAIT, TCPS_CLOSE);
	/* First packet of a tuple: SYN, SYN+ACK (missed SYN), mid-stream, FIN. */
	add(A_FIRST, TCPS_CLOSE, TCPS_SYN_SENT);
	add(A_FIRST, TCPS_CLOSE, TCPS_SYN_RECV);
	add(A_FIRST, TCPS_CLOSE, TCPS_ESTABLISHED);
	add(A_FIRST, TCPS_CLOSE, TCPS_FIN_WAIT1);
	add(A_FIRST, TCPS_CLOSE, TCPS_CLOSE_WAIT);
}

/* One arc of a step: a first packet's arcs come only from A_FIRST, an
 * RST's from A_RST, a reopen's from A_REOPEN; otherwise a step chains SYN,
 * ACK and FIN processing (and receipts a local endpoint shows later), so
 * each of its arcs is one of those. */
static int arc_allowed(__u8 flags, int verdict, int first, int from, int to)
{
	if (first)
		return arc[A_FIRST][from][to];
	if (flags & TCPS_RST)
		return arc[A_RST][from][to];
	if (verdict == TCPS_V_REOPEN)
		return arc[A_REOPEN][from][to];
	return arc[A_SYN][from][to] || arc[A_ACK][from][to] || arc[A_FIN][from][to];
}

/* ---- the table model ---- */

static void check_states(const struct tcps_fsm *f)
{
	int i;

	for (i = 0; i < 2; i++)
		REQUIRE(f->ep[i].state >= TCPS_ESTABLISHED && f->ep[i].state < TCPS_STATE_MAX &&
			f->ep[i].state != TCPS_LISTEN);
}

static void check_step(const struct tcps_fsm *before, const struct tcps_fsm *after,
		       const struct tcps_step *r, __u8 flags, int first)
{
	int i;

	REQUIRE(r->verdict <= TCPS_V_REOPEN);
	__u8 cur[2];
	unsigned int k;

	for (i = 0; i < 2; i++) {
		REQUIRE(r->to[i] == after->ep[i].state);
		if (first)
			REQUIRE(r->from[i] == TCPS_CLOSE);
		else
			REQUIRE(r->from[i] == before->ep[i].state);
		if (r->verdict == TCPS_V_OOW || r->verdict == TCPS_V_INVALID ||
		    r->verdict == TCPS_V_NOCREATE)
			REQUIRE(r->from[i] == r->to[i]);
		cur[i] = r->from[i];
	}
	/* Every arc is documented, continues its side's chain, and the arcs
	 * end where the step says; seq numbers follow one another. */
	REQUIRE(r->n <= TCPS_STEP_ARCS);
	for (k = 0; k < r->n; k++) {
		const struct tcps_arc *a = &r->arc[k];

		REQUIRE(a->side < 2 && a->from == cur[a->side] && a->from != a->to);
		if (!arc_allowed(flags, r->verdict, first, a->from, a->to)) {
			fprintf(stderr, "side %d: %u -> %u not an arc for flags %#x verdict %u%s\n",
				a->side, a->from, a->to, flags, r->verdict, first ? " (first)" : "");
			REQUIRE(!"transition off the documented arcs");
		}
		if (k)
			REQUIRE((__u16)(a->seq - r->arc[k - 1].seq) == 1);
		hits[a->from][a->to]++;
		cur[a->side] = a->to;
	}
	REQUIRE(cur[0] == r->to[0] && cur[1] == r->to[1]);
	if (r->verdict == TCPS_V_NOCREATE)
		REQUIRE(first);
	if (r->verdict == TCPS_V_NOCREATE || r->verdict == TCPS_V_OOW)
		return;
	check_states(after);
}

static void track(const struct tcps_parsed *p)
{
	struct tcps_step r;
	struct tcps_key k;
	struct tcps_fsm before;
	struct model_conn *c = NULL, *free_slot = NULL;
	int s = tcps_parsed_key(p, &k), i;

	for (i = 0; i < N_CONNS; i++) {
		if (table[i].used && !memcmp(&table[i].key, &k, sizeof(k)))
			c = &table[i];
		else if (!table[i].used && !free_slot)
			free_slot = &table[i];
	}
	if (!c) {
		/* Host mode with either end local (their receipts deferred to
		 * their own ACKs), or passive: chosen by the tuple's ports. */
		static const __u8 local[4] = { 0, TCPS_C_LOCAL0, TCPS_C_LOCAL1, 0 };
		struct tcps_fsm f = { .flags = TCPS_C_NEW | local[(k.port[0] ^ k.port[1]) & 3] };

		tcps_fsm_step(&f, s, &p->seg, &r);
		check_step(&f, &f, &r, p->seg.flags, 1);
		REQUIRE(!(f.flags & TCPS_C_NEW));
		if (r.verdict == TCPS_V_NOCREATE)
			return;
		check_states(&f);
		/* A new entry always has its sender seen. */
		REQUIRE(f.flags & (s ? TCPS_C_SEEN1 : TCPS_C_SEEN0));
		if (!free_slot)		/* table full: refused, as the BPF side */
			return;
		free_slot->used = 1;
		free_slot->key = k;
		free_slot->fsm = f;
		return;
	}
	before = c->fsm;
	if (tcps_fsm_steady(&c->fsm, &p->seg)) {
		/* The hot path must be indistinguishable from the full step. */
		struct tcps_fsm full = c->fsm;

		tcps_fsm_step(&full, s, &p->seg, &r);
		check_step(&before, &full, &r, p->seg.flags, 0);
		REQUIRE(r.from[0] == r.to[0] && r.from[1] == r.to[1]);
		if (tcps_fsm_track(&c->fsm, s, &p->seg) == 0)
			REQUIRE(!memcmp(&full, &c->fsm, sizeof(full)));
		else
			REQUIRE(!memcmp(&before, &c->fsm, sizeof(before)));
		return;
	}
	tcps_fsm_step(&c->fsm, s, &p->seg, &r);
	check_step(&before, &c->fsm, &r, p->seg.flags, 0);
	if (r.verdict == TCPS_V_OOW || r.verdict == TCPS_V_INVALID)
		REQUIRE(before.ep[0].state == c->fsm.ep[0].state &&
			before.ep[1].state == c->fsm.ep[1].state);
	if (r.verdict == TCPS_V_REOPEN)
		REQUIRE(c->fsm.ep[s].state == TCPS_SYN_SENT && c->fsm.ep[!s].state == TCPS_CLOSE);
}

static void parse_one(const __u8 *frame, size_t len, __u32 extra_wire)
{
	/* Exact-size heap copy: one byte past the frame is an ASan report. */
	__u8 *buf = malloc(len ? len : 1);
	struct tcps_parsed p;
	int rc;

	REQUIRE(buf);
	memcpy(buf, frame, len);
	memset(&p, 0xa5, sizeof(p));	/* nothing may rely on a zeroed p */
	rc = tcps_parse(buf, buf + len, (__u32)len + extra_wire, &p);
	REQUIRE(rc >= TCPS_P_TCP && rc <= TCPS_P_MALFORMED);
	if (rc == TCPS_P_TCP) {
		REQUIRE(p.family == TCPS_AF_INET || p.family == TCPS_AF_INET6);
		REQUIRE(p.opt_len <= 40);
		REQUIRE((size_t)p.opt_off + p.opt_len <= len);
		REQUIRE(p.seg.len <= len + extra_wire);
		REQUIRE(!p.seg.has_wscale);
		tcps_parse_syn_opts_flat(buf, &p);
		if (p.seg.has_wscale)
			REQUIRE(p.seg.flags & TCPS_SYN);
		track(&p);
	}
	free(buf);
}

/* The model's view of a tuple, for relative sequence numbers. */
static const struct tcps_fsm *model_lookup(const struct pkt_spec *sp, int *side)
{
	__u8 frame[256];
	struct tcps_parsed p;
	struct tcps_key k;
	size_t n;
	int i;

	n = pkt_build(sp, frame, sizeof(frame));
	if (!n || tcps_parse(frame, frame + n, (__u32)n, &p) != TCPS_P_TCP)
		return NULL;
	*side = tcps_parsed_key(&p, &k);
	for (i = 0; i < N_CONNS; i++)
		if (table[i].used && !memcmp(&table[i].key, &k, sizeof(k)))
			return &table[i].fsm;
	return NULL;
}

/* Compact record -> a valid frame of one of four tuples, both directions. */
static size_t build_compact(const __u8 *r, __u8 meta, __u8 *out, size_t cap)
{
	static const char *const a4[] = { "198.18.0.1", "198.18.0.2" };
	static const char *const a6[] = { "2001:db8::1", "2001:db8::2" };
	__u8 t = r[0];
	int dir = t & 1, v6 = (t >> 1) & 1, port = (t >> 2) & 1;
	struct pkt_spec sp = {
		.family = v6 ? 6 : 4,
		.src = v6 ? a6[dir] : a4[dir],
		.dst = v6 ? a6[!dir] : a4[!dir],
		.sport = dir ? 80 : (__u16)(40000 + port),
		.dport = dir ? (__u16)(40000 + port) : 80,
		.flags = r[1],
		.seq = tcps_rd32(r + 2),
		.ack = tcps_rd32(r + 6),
		.payload_len = r[10] & 0x7f,
		.win = 65535,
		.wscale = r[11] < 16 ? r[11] : -1,
		.vlans = (t >> 3) & 3,
		.ipv6_ext = v6 ? (t >> 5) & 1 : 0,
		.ipv4_options = v6 ? 0 : ((t >> 5) & 1) * 8,
	};

	if (meta & 0x40) {
		const struct tcps_fsm *f;
		int s;

		f = model_lookup(&sp, &s);
		if (f) {
			/* Small signed offsets from what each side has sent. */
			sp.seq = f->ep[s].snd_nxt + (__u32)(__s32)(__s8)r[2];
			sp.ack = f->ep[!s].snd_nxt + (__u32)(__s32)(__s8)r[6];
		}
	}
	if (sp.vlans > 2)
		sp.vlans = 2;
	return pkt_build(&sp, out, cap);
}

static void print_arcs(void)
{
	int f, t, n = 0, want = 0;

	for (f = 1; f < TCPS_STATE_MAX; f++) {
		for (t = 1; t < TCPS_STATE_MAX; t++) {
			int a, doc = 0;

			for (a = 0; a < A_N; a++)
				doc |= arc[a][f][t];
			want += doc;
			n += doc && hits[f][t];
			if (hits[f][t] || doc)
				fprintf(stderr, "arc %2d -> %2d %s %lu\n", f, t, doc ? "doc" : "   ",
					hits[f][t]);
		}
	}
	fprintf(stderr, "arcs covered: %d of %d documented\n", n, want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	__u8 frame[PKT_MAX];
	size_t off = 0;
	int n;

	if (!init) {
		arcs_init();
		if (getenv("FUZZ_ARCS"))
			atexit(print_arcs);
		init = 1;
	}
	memset(table, 0, sizeof(table));
	for (n = 0; n < MAX_FRAMES && off < size; n++) {
		__u8 meta = data[off++];
		__u32 extra = (meta & 0x0f) * 64U;

		if (meta & 0x80) {
			size_t len;

			if (size - off < 12)
				break;
			len = build_compact(data + off, meta, frame, sizeof(frame));
			off += 12;
			if (len)
				parse_one(frame, len, 0);
		} else {
			size_t len;

			if (size - off < 2)
				break;
			len = (size_t)data[off] | (size_t)data[off + 1] << 8;
			off += 2;
			len %= MAX_FRAME + 1;
			if (len > size - off)
				len = size - off;
			parse_one(data + off, len, extra);
			off += len;
		}
	}
	return 0;
}
