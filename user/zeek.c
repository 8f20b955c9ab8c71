// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Zeek's view of a TCP connection, rebuilt from its packets so that replay
 * output joins with Zeek pipelines: the endpoint state machine of Zeek's
 * TCPSessionAdapter (UpdateInactiveState, UpdateSYN_SentState,
 * UpdateEstablishedState, UpdateClosedState), its update_history and
 * update_last_seq, and conn_state() from base/protocols/conn/main.zeek.
 * Written from Zeek's documented semantics; structure and names are ours.
 */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "zeek.h"

/* Zeek's TCP_Endpoint::HIST_* bits; the responder's are shifted by 16. */
enum {
	HIST_SYN = 0x001,
	HIST_FIN = 0x002,
	HIST_RST = 0x004,
	HIST_FIN_RST = 0x008,
	HIST_DATA = 0x010,
	HIST_ACK = 0x020,
	HIST_MULTI_FLAG = 0x040,
};

/* Zeek drops sequence jumps larger than this for SYN/RST (TOO_LARGE_SEQ_DELTA). */
#define TOO_LARGE_SEQ_DELTA 1048576

/*
 * Zeek's likely_server_ports is the set of ports its analyzers register
 * (http, ssl, ssh, smtp, dns, ftp, ...). Only consulted when a connection
 * is picked up without its SYN, to decide whether to flip orig/resp.
 */
static const __u16 likely_ports[] = {
	21,   22,   23,	  25,	53,   80,   81,	  88,	110,  111,  135,  137,	139,  143,
	179,  389,  443,  445,	502,  513,  563,  585,	587,  614,  631,  636,	989,  990,
	992,  993,  995,  1080, 1883, 2049, 3128, 3268, 3306, 3389, 5222, 5223, 5269, 5432,
	6379, 6666, 6667, 6668, 6669, 8000, 8080, 8443, 8883, 8888, 20000,
};

bool tcps_zeek_likely_server_port(__u16 port)
{
	unsigned int i;

	for (i = 0; i < sizeof(likely_ports) / sizeof(likely_ports[0]); i++)
		if (likely_ports[i] == port)
			return true;
	return false;
}

static const char *const zstate_names[] = {
	"INACTIVE", "SYN_SENT", "SYN_ACK_SENT", "PARTIAL", "ESTABLISHED", "CLOSED", "RESET",
};

const char *tcps_zeek_state_name(unsigned int st)
{
	return st <= TCPS_Z_RESET ? zstate_names[st] : "?";
}

void tcps_zeek_init(struct tcps_zeek *z)
{
	int i;

	memset(z, 0, sizeof(*z));
	z->active = true;
	for (i = 0; i < 2; i++) {
		struct tcps_zeek_ep *e = &z->ep[i];

		e->rxmt_thresh = e->win0_thresh = e->gap_thresh = 1;
		e->reassem = e->trim = 1;	/* relative numbering starts past the SYN */
	}
}

static void add_history(struct tcps_zeek *z, char c)
{
	if (z->hist_len + 1 < sizeof(z->history)) {
		z->history[z->hist_len++] = c;
		z->history[z->hist_len] = '\0';
	}
}

/* Connection::CheckHistory through TCP_Endpoint::CheckHistory: the first
 * time a letter is seen in a direction it is logged (upper case for the
 * originator); returns whether it had been seen before. */
static bool check_history(struct tcps_zeek *z, const struct tcps_zeek_ep *e, __u32 mask, char code)
{
	if (e != &z->ep[0]) {
		mask <<= 16;
		code = (char)tolower(code);
	}
	if (!(z->hist_seen & mask)) {
		z->hist_seen |= mask;
		add_history(z, code);
		return false;
	}
	return true;
}

static void ep_add_history(struct tcps_zeek *z, const struct tcps_zeek_ep *e, char code)
{
	add_history(z, e == &z->ep[0] ? code : (char)tolower(code));
}

/* Connection::ScaledHistoryEntry: logged at the 1st, 10th, 100th... time. */
static void scaled_history(struct tcps_zeek *z, const struct tcps_zeek_ep *e, char code,
			   __u32 *cnt, __u32 *thresh)
{
	if (++*cnt != *thresh)
		return;
	ep_add_history(z, e, code);
	*thresh = *thresh > 0xffffffffU / 10 ? 0xffffffffU : *thresh * 10;
}

static bool is_handshake(__u8 st)
{
	return st == TCPS_Z_INACTIVE || st == TCPS_Z_SYN_SENT || st == TCPS_Z_SYN_ACK_SENT;
}

/* TCP_Endpoint::SetState; finishing the handshake switches the session to
 * the long inactivity timeout. */
static void set_state(struct tcps_zeek *z, struct tcps_zeek_ep *e, __u8 st)
{
	const struct tcps_zeek_ep *p = e == &z->ep[0] ? &z->ep[1] : &z->ep[0];

	if (e->state == st)
		return;
	if (!is_handshake(st) && is_handshake(e->state) && is_handshake(p->state))
		z->long_idle = true;
	e->prev_state = e->state;
	e->state = st;
}

/* Relative sequence number: Zeek counts from the endpoint's start. The
 * corpus connections stay far below 2 GB, so no wrap counting. */
static __s64 rel_to(const struct tcps_zeek_ep *e, __u32 seq)
{
	return (__s32)(seq - e->start_seq);
}

/* Connection::FlipRoles: the endpoints trade places, the per-direction
 * history bits too, and '^' records it. */
static void flip_roles(struct tcps_zeek *z)
{
	struct tcps_zeek_ep tmp = z->ep[0];

	z->ep[0] = z->ep[1];
	z->ep[1] = tmp;
	z->orig_side = !z->orig_side;
	z->hist_seen = (z->hist_seen >> 16) | (z->hist_seen << 16);
	z->first_seen = (__u8)(((z->first_seen & 1) << 1) | ((z->first_seen >> 1) & 1));
	z->partial = false;
	add_history(z, '^');
}

/* TCPAnalyzer::WantConnection: a connection that does not start with a
 * plain SYN is partial; the port numbers then guess the responder. */
static bool want_flip(const struct tcps_seg *g)
{
	bool syn_only = (g->flags & TCPS_SYN) && !(g->flags & TCPS_ACK);

	if (syn_only || !tcps_zeek_likely_server_port(g->sport))
		return false;
	if (tcps_zeek_likely_server_port(g->dport))
		return !(g->flags & TCPS_SYN) && g->sport < g->dport;
	return true;
}

/*
 * Zeek 5.1+ (PR 2191): a connection that began with a SYN-ACK the port
 * heuristic did not flip is flipped when an ACK or data follows, since a
 * stealth scan never sends either. The record then reads as if the flip
 * had been made on the first packet: '^', the SYN-ACK as the responder's
 * ('h'), and the SYN-ACK's sender in the state that gives (ESTABLISHED).
 */
static void late_flip(struct tcps_zeek *z)
{
	unsigned int i;

	flip_roles(z);		/* appends '^': rewrite below */
	memmove(z->history + 1, z->history, z->hist_len - 1);
	z->history[0] = '^';
	for (i = 1; i < z->hist_len; i++) {
		char c = z->history[i];

		z->history[i] = (char)(islower(c) ? toupper(c) : tolower(c));
	}
	z->ep[1].state = TCPS_Z_ESTABLISHED;
	z->ep[1].prev_state = TCPS_Z_INACTIVE;
	z->attempt_at = 0;
	z->long_idle = true;
}

static void init_endpoint(struct tcps_zeek_ep *e, __u8 fl, __u32 seq, __u32 end)
{
	switch (e->state) {
	case TCPS_Z_INACTIVE:
		if (fl & TCPS_SYN) {
			e->start_seq = e->ack_seq = seq;
		} else {
			/* Partial: number as if a SYN had been seen. */
			e->start_seq = e->ack_seq = seq - 1;
			end = seq;
		}
		e->last_seq = end;
		e->seq_init = true;
		break;
	case TCPS_Z_SYN_SENT:
	case TCPS_Z_SYN_ACK_SENT:
	case TCPS_Z_ESTABLISHED:
	case TCPS_Z_PARTIAL:
		if ((fl & TCPS_SYN) && (seq != e->start_seq || e->state == TCPS_Z_ESTABLISHED ||
					e->state == TCPS_Z_PARTIAL)) {
			e->start_seq = e->ack_seq = seq;
			e->last_seq = end;
		}
		break;
	case TCPS_Z_RESET:
		if ((fl & TCPS_SYN) && e->prev_state == TCPS_Z_INACTIVE) {
			e->start_seq = e->ack_seq = seq;
			e->last_seq = end;
		}
		break;
	default:
		break;
	}
}

static void update_history(struct tcps_zeek *z, struct tcps_zeek_ep *e, __u8 fl, __u32 rel_seq,
			   __u32 len)
{
	int bits = !!(fl & TCPS_SYN) + !!(fl & TCPS_FIN) + !!(fl & TCPS_RST);

	if (bits > 1) {
		if ((fl & TCPS_FIN) && (fl & TCPS_RST))
			check_history(z, e, HIST_FIN_RST, 'I');
		else
			check_history(z, e, HIST_MULTI_FLAG, 'Q');
	} else if (bits == 1) {
		/* A SYN, FIN or RST is logged again only with a new sequence
		 * number: retransmissions are not repeated. */
		if (fl & TCPS_SYN) {
			char code = (fl & TCPS_ACK) ? 'H' : 'S';

			if (check_history(z, e, HIST_SYN, code) && rel_seq != e->hist_last_syn)
				ep_add_history(z, e, code);
			e->hist_last_syn = rel_seq;
		}
		if (fl & TCPS_FIN) {
			if (check_history(z, e, HIST_FIN, 'F') && rel_seq + len != e->hist_last_fin)
				ep_add_history(z, e, 'F');
			e->hist_last_fin = rel_seq + len;
		}
		if (fl & TCPS_RST) {
			if (check_history(z, e, HIST_RST, 'R') && rel_seq != e->hist_last_rst)
				ep_add_history(z, e, 'R');
			e->hist_last_rst = rel_seq;
		}
	} else if (len) {
		check_history(z, e, HIST_DATA, 'D');
	} else if (fl & TCPS_ACK) {
		check_history(z, e, HIST_ACK, 'A');
	}
}

/* update_last_seq: a payload that does not advance the sequence space is a
 * retransmission ('T', logged at 1, 10, 100...). Returns the advance. */
static __s32 update_last_seq(struct tcps_zeek *z, struct tcps_zeek_ep *e, __u32 end, __u8 fl,
			     __u32 len)
{
	__s32 delta = (__s32)(end - e->last_seq);

	if ((fl & (TCPS_SYN | TCPS_RST)) && (delta > TOO_LARGE_SEQ_DELTA || delta < -TOO_LARGE_SEQ_DELTA))
		return delta;
	if ((fl & TCPS_FIN) && e->last_seq == e->start_seq + 1)
		e->last_seq = end;
	else if (e->state == TCPS_Z_RESET)
		return delta;
	else if (delta > 0)
		e->last_seq = end;
	else if (len > 0)
		scaled_history(z, e, 'T', &e->rxmt_cnt, &e->rxmt_thresh);
	return delta;
}

/* ---- the reassembler's view: what was seen, what was acknowledged ---- */

static bool is_clean(const struct tcps_zeek_ep *a)
{
	return a->state == TCPS_Z_ESTABLISHED ||
	       (a->state == TCPS_Z_CLOSED && a->prev_state == TCPS_Z_ESTABLISHED);
}

/* TCP_Reassembler::Gap: a letter only while both sides are cleanly
 * established or closing (elsewhere gaps are artefacts of RSTs or of
 * partial connections). */
static void gap(struct tcps_zeek *z, struct tcps_zeek_ep *e)
{
	struct tcps_zeek_ep *p = e == &z->ep[0] ? &z->ep[1] : &z->ep[0];

	if (is_clean(e) && is_clean(p))
		scaled_history(z, e, 'G', &e->gap_cnt, &e->gap_thresh);
}

static void drop_block(struct tcps_zeek_ep *e, unsigned int i)
{
	memmove(&e->blk[i], &e->blk[i + 1], (e->nblk - i - 1) * sizeof(e->blk[0]));
	e->nblk--;
}

/* BlockInserted: deliver whatever now continues the delivered stream. */
static void deliver(struct tcps_zeek_ep *e)
{
	while (e->nblk && e->blk[0].lo <= e->reassem) {
		if (e->blk[0].hi > e->reassem)
			e->reassem = e->blk[0].hi;
		drop_block(e, 0);
	}
}

/* Reassembler::NewBlock for [lo, hi): remember it, merged and sorted. A
 * full list forgets the highest block (TCPS_ZEEK_MAX_BLOCKS holes in one
 * direction at once is far beyond what a capture normally shows). */
static void new_block(struct tcps_zeek_ep *e, __s64 lo, __s64 hi)
{
	unsigned int i = 0;

	if (hi <= e->trim)
		return;
	if (lo < e->trim)
		lo = e->trim;
	if (hi <= e->reassem)
		return;		/* already delivered */
	while (i < e->nblk && e->blk[i].hi < lo)
		i++;
	/* Merge with every block it touches. */
	while (i < e->nblk && e->blk[i].lo <= hi) {
		if (e->blk[i].lo < lo)
			lo = e->blk[i].lo;
		if (e->blk[i].hi > hi)
			hi = e->blk[i].hi;
		drop_block(e, i);
	}
	if (e->nblk == TCPS_ZEEK_MAX_BLOCKS) {
		if (i == e->nblk)
			return;
		e->nblk--;
	}
	memmove(&e->blk[i + 1], &e->blk[i], (e->nblk - i) * sizeof(e->blk[0]));
	e->blk[i].lo = lo;
	e->blk[i].hi = hi;
	e->nblk++;
	deliver(e);
}

/* TCP_Reassembler::DataSent: payload at relative seq (already acknowledged
 * bytes are not kept). */
static void data_sent(struct tcps_zeek_ep *e, __s64 seq, __u32 len)
{
	__s64 ack = rel_to(e, e->ack_seq), upper = seq + len;

	if (seq < ack) {
		if (upper <= ack)
			return;
		seq = ack;
	}
	new_block(e, seq, upper);
}

/* TCP_Reassembler::Undelivered: the peer acknowledged up to up_to what was
 * never seen. Every hole below up_to is a content gap. */
static void undelivered(struct tcps_zeek *z, struct tcps_zeek_ep *e, __s64 up_to)
{
	/* A partial connection's faked ISN: the first ack may point one or
	 * two octets past what was seen; Zeek ignores that. */
	if (up_to <= 2 && z->partial)
		return;
	while (e->nblk && e->blk[0].lo < up_to) {
		if (e->blk[0].lo > e->reassem)
			gap(z, e);
		e->reassem = e->blk[0].lo;
		deliver(e);
	}
	if (up_to > e->reassem) {
		gap(z, e);
		e->reassem = up_to;
	}
}

/* TCP_Reassembler::AckReceived for e's data, at relative ack seq. */
static void ack_received(struct tcps_zeek *z, struct tcps_zeek_ep *e, __s64 seq)
{
	if (e->fin_cnt && seq >= e->fin_seq)
		seq = e->fin_seq - 1;	/* the FIN's own octet is no data */
	if (seq <= e->trim)
		return;
	if (seq > e->reassem)
		undelivered(z, e, seq);
	e->trim = seq;
	while (e->nblk && e->blk[0].hi <= seq)
		drop_block(e, 0);
}

/* ---- state machine --------------------------------------------------- */

struct zstep {
	bool do_close;
};

static void inactive_state(struct tcps_zeek *z, struct tcps_zeek_ep **ep, struct tcps_zeek_ep **pp,
			   const struct tcps_seg *g, bool is_orig, __u64 now, struct zstep *r)
{
	struct tcps_zeek_ep *e = *ep, *p = *pp;
	__u8 fl = g->flags;

	if (fl & TCPS_SYN) {
		if (is_orig) {
			set_state(z, e, (fl & TCPS_ACK) ? TCPS_Z_SYN_ACK_SENT : TCPS_Z_SYN_SENT);
			z->attempt_at = now + TCPS_ZEEK_ATTEMPT_DELAY;
		} else {
			if (!(fl & TCPS_ACK) && p->state == TCPS_Z_SYN_ACK_SENT &&
			    g->seq == e->start_seq) {
				/* SYN/SYN-ACK reversal: the "originator" answered. */
				flip_roles(z);
				e = *ep = &z->ep[0];
				p = *pp = &z->ep[1];
				set_state(z, p, TCPS_Z_ESTABLISHED);
				z->first_seen |= 1;
			}
			if (p->state == TCPS_Z_SYN_SENT)
				set_state(z, p, TCPS_Z_ESTABLISHED);
			set_state(z, e, TCPS_Z_ESTABLISHED);
		}
	}
	if (fl & TCPS_FIN) {
		set_state(z, e, TCPS_Z_CLOSED);
		r->do_close = true;
	}
	if (fl & TCPS_RST) {
		set_state(z, e, TCPS_Z_RESET);
		r->do_close = true;
	}
	if (e->state == TCPS_Z_INACTIVE) {
		/* No control flag moved it. An ACK of the SYN before the
		 * SYN-ACK (some stacks do) does not make it partial. */
		if (!is_orig && g->len == 0 && z->ep[0].state == TCPS_Z_SYN_SENT) {
			;
		} else if ((fl & TCPS_ACK) && p->state == TCPS_Z_ESTABLISHED) {
			set_state(z, e, TCPS_Z_ESTABLISHED);	/* SYN missed, SYN-ACK seen */
			z->partial = false;
			z->first_seen |= is_orig ? 1 : 2;
		} else {
			set_state(z, e, TCPS_Z_PARTIAL);
		}
	}
}

/* SYN_SENT and SYN_ACK_SENT: a FIN closes, a RST resets. */
static void opening_state(struct tcps_zeek *z, struct tcps_zeek_ep *e, __u8 fl, struct zstep *r)
{
	if (fl & TCPS_FIN) {
		set_state(z, e, TCPS_Z_CLOSED);
		r->do_close = true;
	}
	if (fl & TCPS_RST) {
		set_state(z, e, TCPS_Z_RESET);
		z->active = false;	/* ConnectionReset */
		r->do_close = true;
	}
}

/* ESTABLISHED and PARTIAL (p: the peer). */
static void open_state(struct tcps_zeek *z, struct tcps_zeek_ep *e, struct tcps_zeek_ep *p,
		       __u8 fl, struct zstep *r)
{
	if ((fl & TCPS_SYN) && !(fl & TCPS_ACK) && e->state == TCPS_Z_PARTIAL &&
	    p->state == TCPS_Z_INACTIVE)
		set_state(z, e, TCPS_Z_SYN_SENT);
	if ((fl & TCPS_FIN) && !(fl & TCPS_RST)) {
		set_state(z, e, TCPS_Z_CLOSED);
		/* FIN after the peer's FIN+RST: a normal close after all. */
		if (p->state == TCPS_Z_RESET && p->prev_state == TCPS_Z_CLOSED)
			set_state(z, p, TCPS_Z_CLOSED);
		r->do_close = true;
	}
	if (fl & TCPS_RST) {
		set_state(z, e, TCPS_Z_RESET);
		r->do_close = true;
		if (p->state != TCPS_Z_RESET || p->prev_state != TCPS_Z_ESTABLISHED)
			z->active = false;	/* ConnectionReset */
	}
}

static void state_machine(struct tcps_zeek *z, struct tcps_zeek_ep **ep, struct tcps_zeek_ep **pp,
			  const struct tcps_seg *g, bool is_orig, __u64 now, struct zstep *r)
{
	struct tcps_zeek_ep *e = *ep, *p = *pp;
	__u8 fl = g->flags;

	switch (e->state) {
	case TCPS_Z_INACTIVE:
		inactive_state(z, ep, pp, g, is_orig, now, r);
		break;
	case TCPS_Z_SYN_SENT:
	case TCPS_Z_SYN_ACK_SENT:
		opening_state(z, e, fl, r);
		break;
	case TCPS_Z_ESTABLISHED:
	case TCPS_Z_PARTIAL:
		open_state(z, e, p, fl, r);
		break;
	case TCPS_Z_CLOSED:
		/* A RST after both FINs does not undo the FIN exchange. */
		if ((fl & TCPS_RST) && p->state != TCPS_Z_CLOSED) {
			set_state(z, e, TCPS_Z_RESET);
			if (!e->did_close)
				r->do_close = true;
		}
		break;
	default:
		break;
	}
}

/* TCPSessionAdapter::ConnectionClosed: once complete (a RST, both FINs, or
 * a silent peer) every timer is cancelled and the connection is deleted
 * tcp_close_delay after its last activity. */
static void connection_closed(struct tcps_zeek *z, struct tcps_zeek_ep *e,
			      const struct tcps_zeek_ep *p)
{
	if (e->did_close)
		return;
	e->did_close = true;
	if (e->state == TCPS_Z_RESET || p->did_close || p->state == TCPS_Z_INACTIVE) {
		if (e->prev_state != TCPS_Z_INACTIVE || p->state != TCPS_Z_INACTIVE)
			z->active = false;	/* ConnectionFinished */
		z->attempt_at = z->expire_at = 0;
		z->delete_at = z->last_time + TCPS_ZEEK_CLOSE_DELAY;
	}
}

/* The first packet of the record starts it (and picks its originator);
 * a SYN-ACK first may still flip it on the packet after. */
static void count_packet(struct tcps_zeek *z, int side, const struct tcps_seg *g, __u64 now)
{
	__u8 fl = g->flags;

	if (!z->started) {
		z->started = true;
		z->orig_side = side;
		z->start_time = now;
		z->expire_at = now + TCPS_ZEEK_SYN_TIMEOUT;
		if (want_flip(g)) {
			z->orig_side = !side;
			add_history(z, '^');
		} else if ((fl & (TCPS_SYN | TCPS_ACK)) == (TCPS_SYN | TCPS_ACK)) {
			z->synack_first = true;
		}
	} else if (z->synack_first && z->npkts == 1 && !(fl & (TCPS_SYN | TCPS_FIN | TCPS_RST)) &&
		   ((fl & TCPS_ACK) || g->len) && z->ep[0].state == TCPS_Z_SYN_ACK_SENT) {
		late_flip(z);
	}
	if (z->npkts >= 1)
		z->synack_first = false;
	z->npkts++;
}

/* SetPartialStatus: a side's first packet without a plain SYN means Zeek
 * saw the connection from its middle. */
static void set_partial(struct tcps_zeek *z, bool is_orig, __u8 fl)
{
	if (is_orig && !(z->first_seen & 1))
		z->partial = !(fl & TCPS_SYN) || (fl & TCPS_ACK);
	else if (!is_orig && !(z->first_seen & 2) && !z->partial)
		z->partial = !(fl & TCPS_SYN);
}

/* The ack of g against the peer p's numbering (numbering p from it when
 * p has sent nothing yet); p's highest ack moves forward. */
static __s64 peer_ack(struct tcps_zeek_ep *p, const struct tcps_seg *g)
{
	__s64 rel_ack;
	__s32 d;

	if (p->state == TCPS_Z_INACTIVE) {
		/* init_peer: number the peer's bytes from this ack. */
		p->start_seq = p->last_seq = p->ack_seq = g->ack - 1;
		p->seq_init = true;
		return 1;
	}
	rel_ack = rel_to(p, g->ack);
	if (rel_ack < 0)
		return 0;
	if (g->flags & TCPS_RST)
		return rel_ack;
	/* update_ack_seq (an ack of 0 far ahead is broken) */
	d = (__s32)(g->ack - p->ack_seq);
	if (!(g->ack == 0 && d > TOO_LARGE_SEQ_DELTA) && d > 0)
		p->ack_seq = g->ack;
	return rel_ack;
}

/* The highest data byte e has sent, counted from its ISN. */
static void update_size(struct tcps_zeek_ep *e, const struct tcps_seg *g)
{
	__u32 data_end;

	if ((g->flags & TCPS_RST) || !g->len)
		return;
	data_end = g->seq + !!(g->flags & TCPS_SYN) + g->len - (e->start_seq + 1);
	if ((__s32)data_end > 0 && data_end > e->size)
		e->size = data_end;
}

/* get_segment_len: SYN and FIN take a number; a RST's data does not. */
static __u32 segment_len(const struct tcps_seg *g)
{
	__u32 seg_len = g->len + !!(g->flags & TCPS_SYN) + !!(g->flags & TCPS_FIN);

	if (g->flags & TCPS_RST)
		seg_len -= g->len;
	return seg_len;
}

/* update_window, the record's last activity, and e's FIN, which ends at
 * fin_end (relative). */
static void note_window_time_fin(struct tcps_zeek *z, struct tcps_zeek_ep *e,
				 const struct tcps_zeek_ep *p, const struct tcps_seg *g, __u64 now,
				 __s64 fin_end)
{
	/* A zero window is news unless it comes with or after a RST, or
	 * after the peer's FIN. */
	if (g->win == 0 && !(g->flags & TCPS_RST) && p->state != TCPS_Z_CLOSED &&
	    e->state != TCPS_Z_RESET)
		scaled_history(z, e, 'W', &e->win0_cnt, &e->win0_thresh);
	if (!z->ep[0].did_close || !z->ep[1].did_close)
		z->last_time = now;
	if (g->flags & TCPS_FIN) {
		e->fin_cnt++;
		e->fin_seq = fin_end;
	}
}

void tcps_zeek_packet(struct tcps_zeek *z, int side, const struct tcps_seg *g, __u64 now,
		      bool captured)
{
	struct tcps_zeek_ep *e, *p;
	struct zstep r = { 0 };
	__u8 fl = g->flags;
	__u32 seg_len, end;
	__s64 rel_seq, rel_ack = 0;
	bool is_orig, underflow;

	count_packet(z, side, g, now);
	is_orig = side == z->orig_side;
	e = &z->ep[!is_orig];
	p = &z->ep[is_orig];
	set_partial(z, is_orig, fl);

	seg_len = segment_len(g);
	end = g->seq + seg_len;
	init_endpoint(e, fl, g->seq, end);
	rel_seq = rel_to(e, g->seq);
	underflow = rel_seq < 0;

	update_history(z, e, fl, (__u32)rel_seq, g->len);
	note_window_time_fin(z, e, p, g, now, rel_seq + seg_len);
	if (fl & TCPS_ACK)
		rel_ack = peer_ack(p, g);
	update_last_seq(z, e, end, fl, g->len);
	update_size(e, g);
	state_machine(z, &e, &p, g, is_orig, now, &r);
	/* After the state machine, so that a gap revealed by the ack of a
	 * FIN or RST is judged with the closing states. */
	if (fl & TCPS_ACK)
		ack_received(z, p, rel_ack);
	z->first_seen |= is_orig ? 1 : 2;
	if (g->len && captured && !(fl & TCPS_RST) && !underflow)
		data_sent(e, (fl & TCPS_SYN) ? rel_seq + 1 : rel_seq, g->len);
	if (r.do_close)
		connection_closed(z, e, p);
}

/* Where the expire timer chain (start + tcp_SYN_timeout, then every
 * tcp_session_timer) next fires at or after t. */
static __u64 expire_slot(const struct tcps_zeek *z, __u64 t)
{
	__u64 first = z->start_time + TCPS_ZEEK_SYN_TIMEOUT, k;

	if (t <= first)
		return first;
	k = (t - first + TCPS_ZEEK_SESSION_TIMER - 1) / TCPS_ZEEK_SESSION_TIMER;
	return first + k * TCPS_ZEEK_SESSION_TIMER;
}

bool tcps_zeek_advance(struct tcps_zeek *z, __u64 now)
{
	const struct tcps_zeek_ep *o = &z->ep[0], *r = &z->ep[1];
	__u64 idle;

	if (!z->started || z->ended)
		return z->ended;
	/* Nothing changes between packets, so each timer due by now sees the
	 * state the last packet left. */
	if (z->delete_at && now >= z->delete_at)
		goto removed;
	if (z->attempt_at && now >= z->attempt_at) {
		/* AttemptTimer: an attempt nobody answered is given up. */
		z->attempt_at = 0;
		if (z->active && (o->state == TCPS_Z_SYN_SENT || o->state == TCPS_Z_SYN_ACK_SENT) &&
		    r->state == TCPS_Z_INACTIVE)
			goto removed;
	}
	if (z->expire_at && now >= z->expire_at) {
		/* ExpireTimer: idle for tcp_connection_linger and closed (or
		 * reset, or one side never spoke), or nothing ever happened. */
		__u64 t = expire_slot(z, z->last_time + TCPS_ZEEK_LINGER + 1);
		bool closing = (o->did_close || r->did_close) &&
			       ((o->did_close && r->did_close) || o->state == TCPS_Z_RESET ||
				r->state == TCPS_Z_RESET || o->state == TCPS_Z_INACTIVE ||
				r->state == TCPS_Z_INACTIVE);
		bool empty = o->state == TCPS_Z_INACTIVE && r->state == TCPS_Z_INACTIVE;

		if (!z->active) {
			z->expire_at = 0;	/* the chain stops at its next run */
		} else {
			if (t < z->expire_at)
				t = z->expire_at;
			if (t <= now && (closing || empty))
				goto removed;
			z->expire_at = expire_slot(z, now + 1);
		}
	}
	/* The connection's inactivity timer. */
	idle = z->long_idle ? TCPS_ZEEK_INACTIVITY : TCPS_ZEEK_INACTIVITY_EARLY;
	if (now - z->last_time >= idle)
		goto removed;
	return false;
removed:
	z->ended = true;
	return true;
}

/* TCPSessionAdapter::IsReuse: only a SYN (a SYN-ACK for a connection whose
 * originator never spoke) starts a new connection on a live tuple: any one
 * once either side has closed, else one with a new sequence number. */
bool tcps_zeek_is_reuse(const struct tcps_zeek *z, const struct tcps_seg *g)
{
	const struct tcps_zeek_ep *conn_orig = &z->ep[0];

	if (!z->started || !(g->flags & TCPS_SYN))
		return false;
	if (g->flags & TCPS_ACK) {
		if (z->ep[0].state != TCPS_Z_INACTIVE)
			return false;
		conn_orig = &z->ep[1];
	}
	if (z->ep[0].did_close || z->ep[1].did_close)
		return true;
	if (g->seq == conn_orig->start_seq)
		return false;
	/* A SYN matching a SYN-ACK seen first: the two were swapped in the
	 * capture, not a new connection. */
	if (!(g->flags & TCPS_ACK) && conn_orig->state == TCPS_Z_SYN_ACK_SENT &&
	    z->ep[1].state == TCPS_Z_INACTIVE && g->seq == z->ep[1].start_seq)
		return false;
	return true;
}

/* /\^?S[^HAFGIQ]*R.* / == history (Zeek's RSTOS0 test). */
static bool history_syn_then_rst(const char *h)
{
	if (*h == '^')
		h++;
	if (*h++ != 'S')
		return false;
	for (; *h; h++) {
		if (*h == 'R')
			return true;
		if (strchr("HAFGIQ", *h))
			return false;
	}
	return false;
}

const char *tcps_zeek_conn_state(const struct tcps_zeek *z)
{
	__u8 os = z->ep[0].state, rs = z->ep[1].state;
	bool o_inactive = os == TCPS_Z_INACTIVE || os == TCPS_Z_PARTIAL;
	bool r_inactive = rs == TCPS_Z_INACTIVE || rs == TCPS_Z_PARTIAL;

	if (rs == TCPS_Z_RESET) {
		if (os == TCPS_Z_SYN_SENT || os == TCPS_Z_SYN_ACK_SENT ||
		    (os == TCPS_Z_RESET && z->ep[0].size == 0 && z->ep[1].size == 0))
			return "REJ";
		return o_inactive ? "RSTRH" : "RSTR";
	}
	if (os == TCPS_Z_RESET) {
		if (r_inactive)
			return history_syn_then_rst(z->history) ? "RSTOS0" : "OTH";
		return "RSTO";
	}
	if (rs == TCPS_Z_CLOSED && os == TCPS_Z_CLOSED)
		return "SF";
	if (os == TCPS_Z_CLOSED)
		return r_inactive ? "SH" : "S2";
	if (rs == TCPS_Z_CLOSED)
		return o_inactive ? "SHR" : "S3";
	if (os == TCPS_Z_SYN_SENT && rs == TCPS_Z_INACTIVE)
		return "S0";
	if (os == TCPS_Z_ESTABLISHED && rs == TCPS_Z_ESTABLISHED)
		return "S1";
	return "OTH";
}

/* ---- Zeek's connection records -------------------------------------- */

static int table_grow(struct tcps_zeek_table *t)
{
	if (t->n + 1 > t->cap) {
		size_t c = t->cap ? t->cap * 2 : 1024;
		struct tcps_zeek_rec *r = realloc(t->recs, c * sizeof(*r));

		if (!r)
			return -ENOMEM;
		t->recs = r;
		t->cap = c;
	}
	t->idx.recs = t->recs;
	t->idx.stride = sizeof(*t->recs);
	t->idx.key_off = offsetof(struct tcps_zeek_rec, key);
	return tcps_keyidx_reserve(&t->idx, t->n);
}

int tcps_zeek_table_packet(struct tcps_zeek_table *t, const struct tcps_key *k, int side,
			   const struct tcps_seg *g, __u64 now, bool captured, size_t *idx)
{
	struct tcps_zeek_rec *c = NULL;
	__u32 *slot, prev = 0;

	if (table_grow(t))
		return -ENOMEM;
	slot = tcps_keyidx_slot(&t->idx, k);
	if (*slot) {
		c = &t->recs[*slot - 1];
		/* Timers first (Zeek runs them as network time passes), then
		 * the new packet may still start a new connection. */
		if (tcps_zeek_advance(&c->z, now) || tcps_zeek_is_reuse(&c->z, g)) {
			c->z.ended = true;
			prev = *slot;
			c = NULL;
		}
	}
	if (!c) {
		c = &t->recs[t->n];
		memset(c, 0, sizeof(*c));
		c->key = *k;
		c->first = now;
		c->prev = prev;
		tcps_zeek_init(&c->z);
		*slot = (__u32)(++t->n);
	}
	c->last = now;
	c->pkts[side & 1]++;
	c->bytes[side & 1] += g->len;
	tcps_zeek_packet(&c->z, side, g, now, captured);
	*idx = (size_t)(c - t->recs);
	return 0;
}

void tcps_zeek_table_free(struct tcps_zeek_table *t)
{
	free(t->recs);
	tcps_keyidx_free(&t->idx);
	memset(t, 0, sizeof(*t));
}
