/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The TCP endpoint state machine of tcpscope, as seen from the wire.
 *
 * Pure C: no BPF helpers, no libc, so the same code runs in the XDP/tc
 * programs, in native unit tests and under libFuzzer. A segment sent by
 * side s updates s by the send rules and !s by the receive rules of
 * RFC 9293 §3.3.2 / §3.10.7, checked against sequence numbers with
 * wrap-safe comparison (the kernel's before()/after()).
 */
#ifndef TCP_FSM_H
#define TCP_FSM_H

#include "tcpscope.h"

/* One TCP segment, host byte order, as the parser hands it over. */
struct tcps_seg {
	__u32 seq;
	__u32 ack;
	__u32 len;		/* payload bytes */
	__u16 win;		/* raw window field */
	__u16 sport;		/* sender's port */
	__u16 dport;
	__u8 flags;		/* enum tcps_tcp_flag */
	__u8 wscale;		/* window-scale option, if has_wscale */
	__u8 has_wscale : 1;
	__u8 has_sackok : 1;	/* SACK-permitted option (a SYN's option walk only) */
	__u8 has_ts;		/* timestamp option present: tsval/tsecr valid */
	__u16 segs;		/* wire segments in it (GSO/GRO), 0 or 1: one */
	__u32 tsval;		/* RFC 7323 TSval / TSecr, if has_ts */
	__u32 tsecr;
};

enum tcps_verdict {
	TCPS_V_OK = 0,		/* accepted (maybe with no state change) */
	TCPS_V_OOW,		/* out of window / bad ack: ignored, counted */
	TCPS_V_INVALID,		/* flag combination the state does not take */
	TCPS_V_NOCREATE,		/* first packet of an unknown tuple that must not create an entry */
	TCPS_V_REOPEN,		/* a new SYN reused the tuple: entry restarted */
};

/* One endpoint transition, numbered in the connection's event order. */
struct tcps_arc {
	__u8 side;
	__u8 from;		/* enum tcps_state */
	__u8 to;
	__u8 pad;
	__u16 seq;		/* tcps_fsm.evseq it took */
};

/* Room for every transition one segment can cause: a refused FIN it
 * vouches for (2), the sender's receipts (2), the receiver's pending
 * receipt and its ACK (2, e.g. FIN_WAIT1 -> CLOSING -> TIME_WAIT), the
 * sender's FIN and its receipt (2). */
#define TCPS_STEP_ARCS 8

/* What one segment did: each side's state before and after, and every
 * transition in between, in the order the endpoints went through them. */
struct tcps_step {
	__u8 from[2];
	__u8 to[2];
	__u8 verdict;		/* enum tcps_verdict */
	__u8 n;			/* arcs used */
	struct tcps_arc arc[TCPS_STEP_ARCS];
	__u8 hcls;		/* the caller's (tcps_health_classify); the step leaves it */
	__u8 pad;
};

/*
 * The step and its parts, inlined into their callers whatever the
 * compiler's size heuristics say. In BPF each call of a subprogram costs
 * a call and a return, 7-8 ns on a host with return thunks (AMD's SRSO
 * "Safe RET", retpolines), and clang left six of them outlined, up to
 * four on one segment's step: inlined, a connection's packets cost 7-11 %
 * less (bench/NOTES.md, "Calls and returns"). The verifier walks a static
 * subprogram once per call anyway, so its work is the same.
 */
#define TCPS_FSM_INLINE static inline __attribute__((always_inline))

#define TCPS_MAX_WSCALE 14
#define TCPS_MIN_WINDOW 65535U

static inline int tcps_before(__u32 a, __u32 b)
{
	return (__s32)(a - b) < 0;
}

static inline int tcps_after(__u32 a, __u32 b)
{
	return tcps_before(b, a);
}

/* Sequence space a segment occupies: SYN and FIN take one number each. */
static inline __u32 tcps_seg_end(const struct tcps_seg *g)
{
	return g->seq + g->len + !!(g->flags & TCPS_SYN) + !!(g->flags & TCPS_FIN);
}

static inline void tcps_set_state(struct tcps_fsm *f, struct tcps_step *r, int side, __u8 st)
{
	__u8 old = f->ep[side].state;
	/* The arc count as a u64 the compiler cannot narrow: built for BPF
	 * v3, clang tested a 32-bit copy and indexed with the 64-bit register,
	 * whose bound the verifier never learnt (bench/NOTES.md). */
	__u64 n = r->n;

	__asm__ volatile("" : "+r"(n));
	if (old == st)
		return;
	f->ep[side].state = st;
	f->holds = 0;		/* a new state has a timeout of its own */
	r->to[side] = st;
	if (n < TCPS_STEP_ARCS) {
		r->arc[n].side = side;
		r->arc[n].from = old;
		r->arc[n].to = st;
		r->arc[n].seq = ++f->evseq;
		r->n = (__u8)(n + 1);
	}
}

/*
 * Host mode sees what the local stack sends, so a local endpoint's receipt
 * of a SYN+ACK or a FIN is taken from its own next segment, whose ACK field
 * says it processed it, and not from the segment crossing the ingress hook:
 * a firewall may still drop that one, and the order in which crossing FINs
 * were processed shows only there. Other endpoints (remote, passive mode)
 * move on receipt as the observer sees it.
 */
static inline int tcps_defers(const struct tcps_fsm *f, int side)
{
	return f->flags & (side ? TCPS_C_LOCAL1 : TCPS_C_LOCAL0);
}

/* The shift of the window g carries, sent by the endpoint e: its announced
 * scale once both SYNs offered scaling, never on a SYN (RFC 7323 §2.2). */
static inline __attribute__((always_inline)) __u8 tcps_seg_win_shift(const struct tcps_fsm *f,
								      const struct tcps_ep *e,
								      const struct tcps_seg *g)
{
	return !(g->flags & TCPS_SYN) && (f->flags & TCPS_C_WSCALE) ? e->wscale : 0;
}

/* Window the receiver (side r) offers, in bytes. Unknown scaling
 * (mid-stream pickup) assumes the largest shift rather than reject a
 * legitimate segment. */
static inline __u32 tcps_recv_window(const struct tcps_fsm *f, int r)
{
	__u32 w = tcps_ep_win(f, r);

	if ((f->flags & TCPS_C_MIDSTREAM) && w < (1U << 16))
		w <<= TCPS_MAX_WSCALE;
	return w < TCPS_MIN_WINDOW ? TCPS_MIN_WINDOW : w;
}

/* Does g acknowledge exactly a FIN of r's that we refused? The receiver's
 * own ACK is the evidence that the FIN was in its window after all. */
static inline int tcps_acks_refused_fin(const struct tcps_ep *r, const struct tcps_seg *g)
{
	return (r->flags & TCPS_EP_FINREJ) && (g->flags & TCPS_ACK) && g->ack == r->fin_seq + 1;
}

/*
 * Would the receiver take this segment? RFC 9293 §3.10.7.4 checks seq
 * against RCV.NXT..RCV.NXT+RCV.WND. An observer learns RCV.NXT only from
 * the receiver's ACKs, which lag, so a window of slack is allowed on both
 * sides; a spoofed segment far outside it is rejected. The ACK field must
 * not acknowledge data the receiver never sent (RFC 9293 §3.10.7.4 "ACK").
 */
static inline int tcps_seg_acceptable(const struct tcps_fsm *f, int s, const struct tcps_seg *g)
{
	const struct tcps_ep *r = &f->ep[!s];

	if (r->flags & TCPS_EP_ACKED) {
		__u32 w = tcps_recv_window(f, !s);

		if (tcps_before(tcps_seg_end(g), r->ack_sent - w))
			return 0;
		if (tcps_after(g->seq, r->ack_sent + w))
			return 0;
	}
	if ((g->flags & TCPS_ACK) && (r->flags & TCPS_EP_SENT) && tcps_after(g->ack, r->snd_nxt) &&
	    !tcps_acks_refused_fin(r, g))
		return 0;
	return 1;
}

/* Did both SYNs offer SACK? Unknown (picked up mid-stream, or seeded from
 * the socket table): Linux's default, yes. */
static inline __attribute__((always_inline)) int tcps_sack_on(const struct tcps_fsm *f)
{
	return (f->ep[0].flags & f->ep[1].flags & TCPS_EP_SACKOK) || (f->flags & TCPS_C_MIDSTREAM);
}

/*
 * The sender's TCPS_EP_HOLE flag once g moves its snd_nxt to end (ef: its
 * flags):
 * may the receiver lack bytes below the new snd_nxt? The RST check needs
 * it (tcps_rst_acceptable): Linux takes an RST at RCV.NXT, and with SACK at
 * the end of the data it holds past a gap, never at a seq past lost data.
 *   - A pure ACK past snd_nxt: the data below its seq went missing on the
 *     way (or is late).
 *   - Data past snd_nxt leaves a gap below it; with SACK the receiver's
 *     right edge is its end, so only without SACK is that a hole.
 *   - Data from snd_nxt on: with SACK it ends any hole (the right edge);
 *     without, only once the receiver has acknowledged up to its seq.
 * Always inlined, as tcps_ep_sent: as a BPF subprogram its call cost every
 * FIN ~25 ns (pktcost's life cases).
 */
static inline __attribute__((always_inline)) __u8 tcps_hole_after(const struct tcps_fsm *f, int s,
								   const struct tcps_seg *g, __u32 end, __u8 ef)
{
	const struct tcps_ep *e = &f->ep[s], *r = &f->ep[!s];

	if (!(ef & TCPS_EP_SENT))
		return ef & ~TCPS_EP_HOLE;
	if (end == g->seq)
		return ef | TCPS_EP_HOLE;
	if (tcps_sack_on(f))
		return ef & ~TCPS_EP_HOLE;
	if (tcps_after(g->seq, e->snd_nxt))
		return ef | TCPS_EP_HOLE;
	if ((r->flags & TCPS_EP_ACKED) && !tcps_before(r->ack_sent, g->seq))
		return ef & ~TCPS_EP_HOLE;
	return ef;
}

/* Bookkeeping of what the sender has shown of itself. Called for every
 * accepted segment, also on the lock-free fast path: it writes only the
 * sender's own fields, which only one direction of traffic writes.
 * Always inlined: left to itself clang makes it a BPF subprogram, whose
 * call (arguments spilled and reloaded around it) cost the hot path 9 ns
 * (bench/NOTES.md). */
static inline __attribute__((always_inline)) void tcps_ep_sent(struct tcps_fsm *f, int s,
							       const struct tcps_seg *g)
{
	struct tcps_ep *e = &f->ep[s];
	__u32 end = tcps_seg_end(g);
	__u8 shift = tcps_seg_win_shift(f, e, g);
	__u32 win = (__u32)g->win << shift;
	int acked = g->flags & TCPS_ACK;
	int newer_ack = !(e->flags & TCPS_EP_ACKED) || tcps_after(g->ack, e->ack_sent);
	__u8 ef = e->flags;

	if (!(ef & TCPS_EP_SENT) || tcps_after(end, e->snd_nxt)) {
		ef = tcps_hole_after(f, s, g, end, ef);
		e->snd_nxt = end;
	} else if (end != g->seq && end == e->snd_nxt && tcps_sack_on(f)) {
		ef &= ~TCPS_EP_HOLE;	/* data up to snd_nxt: the SACK blocks' right edge */
	}
	/* RFC 9293 §3.10.7.4 (SND.WL1/SND.WL2), as Linux's
	 * tcp_may_update_window: only a segment newer than the one that last
	 * set the window may set it, so a late, reordered ACK cannot shrink it
	 * and make the next FIN look out of window. */
	if (!acked || newer_ack || !(e->flags & TCPS_EP_SENT) || tcps_after(g->seq, e->wl1) ||
	    (g->seq == e->wl1 && win > tcps_ep_win(f, s))) {
		f->win[s & 1] = g->win;
		e->win_shift = shift;
		e->wl1 = g->seq;
	}
	if (acked) {
		if (newer_ack)
			e->ack_sent = g->ack;
		ef |= TCPS_EP_ACKED;
	}
	e->flags = ef | TCPS_EP_SENT;
	/* Shared byte, written lock-free here: write only when the bit is
	 * missing, so steady traffic never races another CPU's update of it. */
	if (!(f->flags & (s ? TCPS_C_SEEN1 : TCPS_C_SEEN0)))
		f->flags |= s ? TCPS_C_SEEN1 : TCPS_C_SEEN0;
}

TCPS_FSM_INLINE void tcps_ep_syn(struct tcps_fsm *f, int s, const struct tcps_seg *g)
{
	struct tcps_ep *e = &f->ep[s];

	e->isn = g->seq;
	/* A SYN starts a new sequence space: no FIN of an older one counts. */
	e->flags = (e->flags | TCPS_EP_ISN) & ~(TCPS_EP_FIN | TCPS_EP_FINREJ | TCPS_EP_SACKOK);
	if (g->has_sackok)
		e->flags |= TCPS_EP_SACKOK;
	if (g->has_wscale) {
		e->wscale = g->wscale > TCPS_MAX_WSCALE ? TCPS_MAX_WSCALE : g->wscale;
		e->flags |= TCPS_EP_WSCALE;
	}
	if ((f->ep[0].flags & TCPS_EP_WSCALE) && (f->ep[1].flags & TCPS_EP_WSCALE))
		f->flags |= TCPS_C_WSCALE;
}

TCPS_FSM_INLINE void tcps_step_init(const struct tcps_fsm *f, struct tcps_step *r)
{
	r->from[0] = r->to[0] = f->ep[0].state;
	r->from[1] = r->to[1] = f->ep[1].state;
	r->verdict = TCPS_V_OK;
	r->n = 0;
}

/* Start (or restart, on tuple reuse) a connection attempt by s. */
TCPS_FSM_INLINE void tcps_fsm_open(struct tcps_fsm *f, int s, const struct tcps_seg *g, struct tcps_step *r)
{
	__u8 keep = f->flags & (TCPS_C_LOCAL0 | TCPS_C_LOCAL1);
	__u8 old0 = f->ep[0].state, old1 = f->ep[1].state;

	__builtin_memset(&f->ep, 0, sizeof(f->ep));
	f->ep[0].state = old0;
	f->ep[1].state = old1;
	f->flags = keep | (s ? TCPS_C_ORIG1 : 0);
	tcps_set_state(f, r, !s, TCPS_CLOSE);
	tcps_set_state(f, r, s, TCPS_SYN_SENT);
	tcps_ep_syn(f, s, g);
}

/* Linux drops SYN+FIN in LISTEN and any segment without SYN, RST or ACK in
 * every state (tcp_rcv_state_process): no connection sends one, so a
 * NULL/FIN/Xmas scan, or a RST, must not take a table slot. */
static inline int tcps_fsm_may_create(__u8 fl)
{
	return !((fl & TCPS_RST) || ((fl & TCPS_SYN) && (fl & TCPS_FIN)) ||
		 !(fl & (TCPS_SYN | TCPS_ACK)));
}

/* First packet of a tuple we have no entry for (tcps_fsm zeroed, TCPS_C_NEW). */
TCPS_FSM_INLINE void tcps_fsm_first(struct tcps_fsm *f, int s, const struct tcps_seg *g, struct tcps_step *r)
{
	__u8 fl = g->flags;

	f->ep[0].state = f->ep[1].state = TCPS_CLOSE;
	r->from[0] = r->from[1] = r->to[0] = r->to[1] = TCPS_CLOSE;

	if (!tcps_fsm_may_create(fl)) {
		r->verdict = TCPS_V_NOCREATE;
		return;
	}
	if ((fl & (TCPS_SYN | TCPS_ACK)) == TCPS_SYN) {
		tcps_fsm_open(f, s, g, r);
	} else if (fl & TCPS_SYN) {
		/* SYN+ACK whose SYN we missed: the handshake is evidence enough. */
		f->flags |= s ? 0 : TCPS_C_ORIG1;
		tcps_set_state(f, r, s, TCPS_SYN_RECV);
		tcps_set_state(f, r, !s, TCPS_ESTABLISHED);
		tcps_ep_syn(f, s, g);
		f->ep[!s].isn = g->ack - 1;
		f->ep[!s].snd_nxt = g->ack;
		f->ep[!s].flags |= TCPS_EP_ISN | TCPS_EP_SENT;
	} else {
		/* Mid-stream: the lower port is taken to be the server, and a
		 * FIN implies the closing states (one arc each, from CLOSE). */
		f->flags |= TCPS_C_MIDSTREAM;
		if ((g->sport < g->dport) == !s)
			f->flags |= TCPS_C_ORIG1;
		tcps_set_state(f, r, s, (fl & TCPS_FIN) ? TCPS_FIN_WAIT1 : TCPS_ESTABLISHED);
		tcps_set_state(f, r, !s, (fl & TCPS_FIN) ? TCPS_CLOSE_WAIT : TCPS_ESTABLISHED);
		if (fl & TCPS_FIN) {
			f->ep[s].fin_seq = g->seq + g->len;
			f->ep[s].flags |= TCPS_EP_FIN;
		}
	}
	tcps_ep_sent(f, s, g);
}

/* RST (RFC 9293 §3.10.7.3, RFC 5961 §3.2): in SYN_SENT only with ack =
 * ISN+1; otherwise only when seq is exactly what the receiver takes, as
 * the observer knows it, by Linux's rules (tcp_validate_incoming):
 *   - its RCV.NXT: the highest ack it sent, or the end of the sender's
 *     highest data, which it may hold without having acknowledged it yet
 *     (delayed ACK), or hold beyond a gap (the right edge of its SACK
 *     blocks, which Linux also takes when SACK is on). Not the sender's
 *     snd_nxt when bytes below it may be missing (TCPS_EP_HOLE,
 *     tcps_hole_after);
 *   - RCV.NXT - 1 once it has the sender's FIN (CLOSE_WAIT, LAST_ACK,
 *     CLOSING: tcp_reset_check), for stacks whose RST carries the FIN's seq.
 * An in-window but inexact RST only draws a challenge ACK from the kernel
 * and changes no state, so it changes none here either. */
static inline int tcps_rst_acceptable(const struct tcps_fsm *f, int s, const struct tcps_seg *g)
{
	const struct tcps_ep *S = &f->ep[s], *R = &f->ep[!s];

	if (R->state == TCPS_SYN_SENT)
		return (g->flags & TCPS_ACK) && (R->flags & TCPS_EP_ISN) && g->ack == R->isn + 1;
	if (!(R->flags & TCPS_EP_ACKED) && !(S->flags & TCPS_EP_SENT))
		return 1;
	if ((R->flags & TCPS_EP_ACKED) && g->seq == R->ack_sent)
		return 1;
	if ((S->flags & (TCPS_EP_SENT | TCPS_EP_HOLE)) == TCPS_EP_SENT && g->seq == S->snd_nxt)
		return 1;
	return (R->state == TCPS_CLOSE_WAIT || R->state == TCPS_LAST_ACK || R->state == TCPS_CLOSING) &&
	       (S->flags & TCPS_EP_FIN) && g->seq == S->fin_seq;
}

static inline int tcps_state_reusable(__u8 st)
{
	return st == TCPS_CLOSE || st == TCPS_TIME_WAIT || st == TCPS_LISTEN;
}

/* Does g acknowledge R's FIN? Only ack = fin_seq + 1 does (RFC 9293
 * §3.10.7.4 "FIN-WAIT-1"). A FIN sent before we tracked the connection
 * (seeded from the socket table in FIN_WAIT or LAST_ACK) has no known
 * sequence: the peer's next ACK is taken as its acknowledgement. */
static inline int tcps_acks_fin(const struct tcps_ep *R, const struct tcps_seg *g)
{
	if (!(g->flags & TCPS_ACK))
		return 0;
	if (R->flags & TCPS_EP_FIN)
		return g->ack == R->fin_seq + 1;
	return R->state == TCPS_FIN_WAIT1 || R->state == TCPS_FIN_WAIT2 ||
	       R->state == TCPS_CLOSING || R->state == TCPS_LAST_ACK || R->state == TCPS_TIME_WAIT;
}

/* States in which an endpoint has not yet processed its peer's FIN. */
static inline int tcps_before_peer_fin(__u8 st)
{
	return st == TCPS_ESTABLISHED || st == TCPS_SYN_RECV || st == TCPS_FIN_WAIT1 ||
	       st == TCPS_FIN_WAIT2;
}

/* Receive rules of a FIN (RFC 9293 §3.10.7.4 "eighth"). */
TCPS_FSM_INLINE void tcps_fin_received(struct tcps_fsm *f, int side, struct tcps_step *r)
{
	__u8 st = f->ep[side].state;

	if (st == TCPS_ESTABLISHED || st == TCPS_SYN_RECV)
		tcps_set_state(f, r, side, TCPS_CLOSE_WAIT);
	else if (st == TCPS_FIN_WAIT1)
		tcps_set_state(f, r, side, TCPS_CLOSING);
	else if (st == TCPS_FIN_WAIT2)
		tcps_set_state(f, r, side, TCPS_TIME_WAIT);
}

/* A deferring endpoint d has a FIN from its peer that it has not yet
 * shown it processed. */
static inline int tcps_fin_pending(const struct tcps_fsm *f, int d)
{
	return tcps_defers(f, d) && (f->ep[!d].flags & TCPS_EP_FIN) &&
	       tcps_before_peer_fin(f->ep[d].state);
}

/*
 * Segment g of a deferring sender s shows, by its ACK field, what s had
 * received before sending it: the SYN+ACK that made it ESTABLISHED, the FIN
 * that moved it on. Those receipts happened before this segment's own send
 * rules, so they come first.
 */
TCPS_FSM_INLINE void tcps_commit_receipts(struct tcps_fsm *f, int s, const struct tcps_seg *g,
					struct tcps_step *r)
{
	const struct tcps_ep *R = &f->ep[!s];

	if (!(g->flags & TCPS_ACK) || !tcps_defers(f, s))
		return;
	if (f->ep[s].state == TCPS_SYN_SENT && (R->flags & TCPS_EP_ISN) &&
	    (R->state == TCPS_SYN_RECV || R->state == TCPS_ESTABLISHED) && g->ack == R->isn + 1)
		tcps_set_state(f, r, s, TCPS_ESTABLISHED);
	if (tcps_fin_pending(f, s) && tcps_after(g->ack, R->fin_seq))
		tcps_fin_received(f, s, r);
}

TCPS_FSM_INLINE void tcps_fsm_syn(struct tcps_fsm *f, int s, const struct tcps_seg *g, struct tcps_step *r)
{
	struct tcps_ep *S = &f->ep[s], *R = &f->ep[!s];

	if (!(g->flags & TCPS_ACK)) {
		if (S->state == TCPS_CLOSE && R->state == TCPS_SYN_SENT) {
			/* Simultaneous open: our SYN crosses theirs. */
			tcps_ep_syn(f, s, g);
			tcps_set_state(f, r, s, TCPS_SYN_RECV);
			tcps_set_state(f, r, !s, TCPS_SYN_RECV);
		} else if (!(S->state == TCPS_SYN_SENT && g->seq == S->isn)) {
			r->verdict = TCPS_V_INVALID;	/* SYN in a synchronized state */
		}
		return;
	}
	/* SYN+ACK (it acknowledges the peer's SYN: tcps_fsm_step checked). */
	if (S->state == TCPS_CLOSE || S->state == TCPS_SYN_SENT) {
		tcps_ep_syn(f, s, g);
		tcps_set_state(f, r, s, TCPS_SYN_RECV);
	}
	/* A deferring client goes ESTABLISHED with the ACK it answers with. */
	if (R->state == TCPS_SYN_RECV || (R->state == TCPS_SYN_SENT && !tcps_defers(f, !s)))
		tcps_set_state(f, r, !s, TCPS_ESTABLISHED);
}

/* Receive rules of the ACK field: the ACK of R's SYN or of R's FIN. */
TCPS_FSM_INLINE void tcps_fsm_ack(struct tcps_fsm *f, int s, const struct tcps_seg *g, struct tcps_step *r)
{
	struct tcps_ep *R = &f->ep[!s];
	int acks_fin = tcps_acks_fin(R, g);

	if (R->state == TCPS_SYN_RECV && (R->flags & TCPS_EP_ISN) && tcps_after(g->ack, R->isn)) {
		tcps_set_state(f, r, !s, TCPS_ESTABLISHED);
		return;
	}
	if (!acks_fin)
		return;
	/* s sent its FIN before this ACK: in order, R processed it first
	 * (crossing FINs: FIN_WAIT1 -> CLOSING -> TIME_WAIT). */
	if (tcps_fin_pending(f, !s))
		tcps_fin_received(f, !s, r);
	if (R->state == TCPS_FIN_WAIT1)
		tcps_set_state(f, r, !s, TCPS_FIN_WAIT2);
	else if (R->state == TCPS_CLOSING)
		tcps_set_state(f, r, !s, TCPS_TIME_WAIT);
	else if (R->state == TCPS_LAST_ACK)
		tcps_set_state(f, r, !s, TCPS_CLOSE);
}

TCPS_FSM_INLINE void tcps_fsm_fin(struct tcps_fsm *f, int s, const struct tcps_seg *g, struct tcps_step *r)
{
	struct tcps_ep *S = &f->ep[s];

	if (S->flags & TCPS_EP_FIN)
		return;			/* retransmitted FIN: already counted */
	if (S->state == TCPS_SYN_SENT || S->state == TCPS_CLOSE)
		return;			/* no FIN before the connection is synchronized */
	S->fin_seq = g->seq + g->len;
	S->flags = (S->flags | TCPS_EP_FIN) & ~TCPS_EP_FINREJ;

	/* Send rules. A FIN from CLOSE_WAIT that does not acknowledge the
	 * peer's FIN was sent before that FIN arrived: a simultaneous close
	 * that an observer who moved the sender on receipt sees late. */
	if (S->state == TCPS_ESTABLISHED || S->state == TCPS_SYN_RECV)
		tcps_set_state(f, r, s, TCPS_FIN_WAIT1);
	else if (S->state == TCPS_CLOSE_WAIT)
		tcps_set_state(f, r, s, tcps_acks_fin(&f->ep[!s], g) ? TCPS_LAST_ACK : TCPS_CLOSING);

	/* Receive rules, now or when the receiver shows it (tcps_defers). */
	if (!tcps_defers(f, !s))
		tcps_fin_received(f, !s, r);
}

/* A FIN of side d that we refused is acknowledged by its peer: it was in
 * the receiver's window after all (our view of the window was stale).
 * Take it now, so no misjudged segment can leave a connection stuck. */
TCPS_FSM_INLINE void tcps_fsm_recover_fin(struct tcps_fsm *f, int d, struct tcps_step *r)
{
	struct tcps_ep *D = &f->ep[d];
	struct tcps_seg fin = {
		.seq = D->fin_seq,
		.ack = D->ack_sent,
		.flags = TCPS_FIN | ((D->flags & TCPS_EP_ACKED) ? TCPS_ACK : 0),
	};

	D->flags &= ~TCPS_EP_FINREJ;
	tcps_fsm_fin(f, d, &fin, r);
	if (tcps_after(D->fin_seq + 1, D->snd_nxt)) {
		D->snd_nxt = D->fin_seq + 1;
		D->flags &= ~TCPS_EP_HOLE;	/* the receiver has it: it acknowledged it */
	}
}

/* RST from s: the sender gave up first, then the receiver takes it. */
TCPS_FSM_INLINE void tcps_fsm_rst(struct tcps_fsm *f, int s, const struct tcps_seg *g, struct tcps_step *r)
{
	if (!tcps_rst_acceptable(f, s, g)) {
		r->verdict = TCPS_V_OOW;
		return;
	}
	tcps_commit_receipts(f, s, g, r);
	tcps_set_state(f, r, s, TCPS_CLOSE);
	tcps_set_state(f, r, !s, TCPS_CLOSE);
}

/*
 * Apply one segment sent by side s. r says what changed: from/to per side,
 * and every transition in order in r->arc (the caller emits one event per
 * arc). Returns r->verdict. Inlined in BPF (TCPS_FSM_INLINE); when it was
 * a subprogram it had to return something: the verifier refuses one whose
 * r0 holds a stack pointer at its exit, which clang may leave there in a
 * function returning nothing.
 */
TCPS_FSM_INLINE int tcps_fsm_step(struct tcps_fsm *f, int s, const struct tcps_seg *g, struct tcps_step *r)
{
	__u8 fl = g->flags;

	s = !!s;
	tcps_step_init(f, r);
	if (f->flags & TCPS_C_NEW) {
		f->flags &= ~TCPS_C_NEW;
		tcps_fsm_first(f, s, g, r);
		return r->verdict;
	}
	if (fl & TCPS_RST) {
		tcps_fsm_rst(f, s, g, r);
		return r->verdict;
	}
	/* RFC 9293 §3.10.7.4 "fifth, if the ACK bit is off drop the segment". */
	if (!(fl & (TCPS_SYN | TCPS_ACK))) {
		r->verdict = TCPS_V_INVALID;
		return r->verdict;
	}
	/* A SYN with the ISN we know is a late copy of the old one, in TIME_WAIT
	 * as after an RST (Linux: tcp_timewait_state_process wants a new seq). */
	/* A SYN with a new ISN from a client whose attempt went unanswered is
	 * a new connect() on the same tuple: start over. */
	if ((fl & (TCPS_SYN | TCPS_ACK | TCPS_FIN)) == TCPS_SYN &&
	    !((f->ep[s].flags & TCPS_EP_ISN) && g->seq == f->ep[s].isn) &&
	    ((tcps_state_reusable(f->ep[s].state) && tcps_state_reusable(f->ep[!s].state)) ||
	     (f->ep[s].state == TCPS_SYN_SENT && f->ep[!s].state == TCPS_CLOSE))) {
		/* A new connection on a closed or TIME_WAIT tuple (RFC 9293
		 * §3.10.7.4 allows a SYN to reopen TIME_WAIT). */
		tcps_fsm_open(f, s, g, r);
		tcps_ep_sent(f, s, g);
		r->verdict = TCPS_V_REOPEN;
		return r->verdict;
	}
	if (!tcps_seg_acceptable(f, s, g)) {
		/* Remember a refused FIN: the receiver's ACK may vouch for it. */
		if ((fl & (TCPS_FIN | TCPS_SYN)) == TCPS_FIN && !(f->ep[s].flags & TCPS_EP_FIN)) {
			f->ep[s].fin_seq = g->seq + g->len;
			f->ep[s].flags |= TCPS_EP_FINREJ;
		}
		r->verdict = TCPS_V_OOW;
		return r->verdict;
	}
	/* A SYN+ACK is acceptable only if it acknowledges the peer's SYN. */
	if ((fl & (TCPS_SYN | TCPS_ACK)) == (TCPS_SYN | TCPS_ACK) &&
	    (!(f->ep[!s].flags & TCPS_EP_ISN) || g->ack != f->ep[!s].isn + 1)) {
		r->verdict = TCPS_V_OOW;
		return r->verdict;
	}
	if (!(fl & TCPS_SYN) && tcps_acks_refused_fin(&f->ep[!s], g))
		tcps_fsm_recover_fin(f, !s, r);
	tcps_commit_receipts(f, s, g, r);
	if (fl & TCPS_SYN) {
		tcps_fsm_syn(f, s, g, r);
		if (r->verdict != TCPS_V_OK)
			return r->verdict;
	} else if (fl & TCPS_ACK) {
		tcps_fsm_ack(f, s, g, r);
	}
	/* A FIN riding on a SYN is ignored: Linux handles only URG after a
	 * SYN in SYN_SENT ("step6 onward by hand") and drops any SYN in a
	 * synchronized state (RFC 5961 §4). */
	if ((fl & (TCPS_FIN | TCPS_SYN)) == TCPS_FIN)
		tcps_fsm_fin(f, s, g, r);
	tcps_ep_sent(f, s, g);
	return r->verdict;
}

/* The hot path: a segment that cannot change any state (ACK without
 * SYN/FIN/RST, both ends ESTABLISHED, no refused FIN it could vouch for). Callers may then skip the lock and use
 * tcps_fsm_track() instead of tcps_fsm_step(). */
static inline int tcps_fsm_steady(const struct tcps_fsm *f, const struct tcps_seg *g)
{
	return (g->flags & (TCPS_SYN | TCPS_FIN | TCPS_RST | TCPS_ACK)) == TCPS_ACK &&
	       f->ep[0].state == TCPS_ESTABLISHED && f->ep[1].state == TCPS_ESTABLISHED &&
	       !((f->ep[0].flags | f->ep[1].flags) & TCPS_EP_FINREJ);
}

/* Returns 0 if the segment was accepted, -1 if ignored as out of window. */
static inline int tcps_fsm_track(struct tcps_fsm *f, int s, const struct tcps_seg *g)
{
	s = !!s;
	if (!tcps_seg_acceptable(f, s, g))
		return -1;
	tcps_ep_sent(f, s, g);
	return 0;
}

#endif /* TCP_FSM_H */
