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
	__u8 has_wscale;
	__u8 pad[3];
};

enum tcps_verdict {
	TCPS_V_OK = 0,		/* accepted (maybe with no state change) */
	TCPS_V_OOW,		/* out of window / bad ack: ignored, counted */
	TCPS_V_INVALID,		/* flag combination the state does not take */
	TCPS_V_NOCREATE,		/* first packet of an unknown tuple that must not create an entry */
	TCPS_V_REOPEN,		/* a new SYN reused the tuple: entry restarted */
};

/* What one segment did: each side's state before and after. */
struct tcps_step {
	__u8 from[2];
	__u8 to[2];
	__u8 verdict;		/* enum tcps_verdict */
};

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
	f->ep[side].state = st;
	r->to[side] = st;
}

/* Window the receiver offers, in bytes. Unknown scaling (mid-stream pickup)
 * assumes the largest shift rather than reject a legitimate segment. */
static inline __u32 tcps_recv_window(const struct tcps_fsm *f, const struct tcps_ep *r)
{
	__u32 w = r->win;

	if ((f->flags & TCPS_C_MIDSTREAM) && w < (1U << 16))
		w <<= TCPS_MAX_WSCALE;
	return w < TCPS_MIN_WINDOW ? TCPS_MIN_WINDOW : w;
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
		__u32 w = tcps_recv_window(f, r);

		if (tcps_before(tcps_seg_end(g), r->ack_sent - w))
			return 0;
		if (tcps_after(g->seq, r->ack_sent + w))
			return 0;
	}
	if ((g->flags & TCPS_ACK) && (r->flags & TCPS_EP_SENT) && tcps_after(g->ack, r->snd_nxt))
		return 0;
	return 1;
}

/* Bookkeeping of what the sender has shown of itself. Called for every
 * accepted segment, also on the lock-free fast path: it writes only the
 * sender's own fields, which only one direction of traffic writes. */
static inline void tcps_ep_sent(struct tcps_fsm *f, int s, const struct tcps_seg *g)
{
	struct tcps_ep *e = &f->ep[s];
	__u32 end = tcps_seg_end(g);
	__u32 win = g->win;

	if (!(e->flags & TCPS_EP_SENT) || tcps_after(end, e->snd_nxt))
		e->snd_nxt = end;
	if (g->flags & TCPS_ACK) {
		if (!(e->flags & TCPS_EP_ACKED) || tcps_after(g->ack, e->ack_sent))
			e->ack_sent = g->ack;
		e->flags |= TCPS_EP_ACKED;
	}
	/* RFC 7323 §2.2: the window of a SYN segment is never scaled. */
	if (!(g->flags & TCPS_SYN) && (f->flags & TCPS_C_WSCALE))
		win <<= e->wscale;
	e->win = win;
	e->flags |= TCPS_EP_SENT;
	/* Shared byte, written lock-free here: write only when the bit is
	 * missing, so steady traffic never races another CPU's update of it. */
	if (!(f->flags & (s ? TCPS_C_SEEN1 : TCPS_C_SEEN0)))
		f->flags |= s ? TCPS_C_SEEN1 : TCPS_C_SEEN0;
}

static inline void tcps_ep_syn(struct tcps_fsm *f, int s, const struct tcps_seg *g)
{
	struct tcps_ep *e = &f->ep[s];

	e->isn = g->seq;
	e->flags |= TCPS_EP_ISN;
	if (g->has_wscale) {
		e->wscale = g->wscale > TCPS_MAX_WSCALE ? TCPS_MAX_WSCALE : g->wscale;
		e->flags |= TCPS_EP_WSCALE;
	}
	if ((f->ep[0].flags & TCPS_EP_WSCALE) && (f->ep[1].flags & TCPS_EP_WSCALE))
		f->flags |= TCPS_C_WSCALE;
}

static inline void tcps_step_init(const struct tcps_fsm *f, struct tcps_step *r)
{
	r->from[0] = r->to[0] = f->ep[0].state;
	r->from[1] = r->to[1] = f->ep[1].state;
	r->verdict = TCPS_V_OK;
}

/* Start (or restart, on tuple reuse) a connection attempt by s. */
static inline void tcps_fsm_open(struct tcps_fsm *f, int s, const struct tcps_seg *g, struct tcps_step *r)
{
	__u8 keep = f->flags & (TCPS_C_LOCAL0 | TCPS_C_LOCAL1);

	__builtin_memset(&f->ep, 0, sizeof(f->ep));
	f->flags = keep | (s ? TCPS_C_ORIG1 : 0);
	f->ep[!s].state = TCPS_CLOSE;
	r->to[!s] = TCPS_CLOSE;
	tcps_set_state(f, r, s, TCPS_SYN_SENT);
	tcps_ep_syn(f, s, g);
}

/* First packet of a tuple we have no entry for (tcps_fsm zeroed, TCPS_C_NEW). */
static inline void tcps_fsm_first(struct tcps_fsm *f, int s, const struct tcps_seg *g, struct tcps_step *r)
{
	__u8 fl = g->flags;

	f->ep[0].state = f->ep[1].state = TCPS_CLOSE;
	r->from[0] = r->from[1] = r->to[0] = r->to[1] = TCPS_CLOSE;

	/* Linux drops SYN+FIN in LISTEN and any segment without SYN, RST or
	 * ACK in every state (tcp_rcv_state_process): no connection sends one,
	 * so a NULL/FIN/Xmas scan must not take a table slot. */
	if ((fl & TCPS_RST) || ((fl & TCPS_SYN) && (fl & TCPS_FIN)) ||
	    !(fl & (TCPS_SYN | TCPS_ACK))) {
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
		/* Mid-stream: the lower port is taken to be the server. */
		f->flags |= TCPS_C_MIDSTREAM;
		if ((g->sport < g->dport) == !s)
			f->flags |= TCPS_C_ORIG1;
		tcps_set_state(f, r, s, TCPS_ESTABLISHED);
		tcps_set_state(f, r, !s, TCPS_ESTABLISHED);
	}
	tcps_ep_sent(f, s, g);
	if (fl & TCPS_FIN) {
		f->ep[s].fin_seq = g->seq + g->len;
		f->ep[s].flags |= TCPS_EP_FIN;
		tcps_set_state(f, r, s, TCPS_FIN_WAIT1);
		tcps_set_state(f, r, !s, TCPS_CLOSE_WAIT);
	}
}

/* RST (RFC 9293 §3.10.7.3, RFC 5961 §3.2): in SYN_SENT only with ack =
 * ISN+1; otherwise only when seq is exactly the receiver's RCV.NXT, as the
 * observer knows it (the highest ack the receiver sent, or the highest seq
 * the sender sent). An in-window but inexact RST only draws a challenge ACK
 * from the kernel and changes no state, so it changes none here either. */
static inline int tcps_rst_acceptable(const struct tcps_fsm *f, int s, const struct tcps_seg *g)
{
	const struct tcps_ep *S = &f->ep[s], *R = &f->ep[!s];

	if (R->state == TCPS_SYN_SENT)
		return (g->flags & TCPS_ACK) && (R->flags & TCPS_EP_ISN) && g->ack == R->isn + 1;
	if (!(R->flags & TCPS_EP_ACKED) && !(S->flags & TCPS_EP_SENT))
		return 1;
	return ((R->flags & TCPS_EP_ACKED) && g->seq == R->ack_sent) ||
	       ((S->flags & TCPS_EP_SENT) && g->seq == S->snd_nxt);
}

static inline int tcps_state_reusable(__u8 st)
{
	return st == TCPS_CLOSE || st == TCPS_TIME_WAIT || st == TCPS_LISTEN;
}

static inline void tcps_fsm_syn(struct tcps_fsm *f, int s, const struct tcps_seg *g, struct tcps_step *r)
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
	/* SYN+ACK: acceptable only if it acknowledges the peer's SYN. */
	if (!(R->flags & TCPS_EP_ISN) || g->ack != R->isn + 1) {
		r->verdict = TCPS_V_OOW;
		return;
	}
	if (S->state == TCPS_CLOSE || S->state == TCPS_SYN_SENT) {
		tcps_ep_syn(f, s, g);
		tcps_set_state(f, r, s, TCPS_SYN_RECV);
	}
	if (R->state == TCPS_SYN_SENT || R->state == TCPS_SYN_RECV)
		tcps_set_state(f, r, !s, TCPS_ESTABLISHED);
}

/* ACK of the receiver's SYN or FIN (a FIN is acknowledged only by
 * ack = fin_seq + 1, RFC 9293 §3.10.7.4 "FIN-WAIT-1"). */
/* Does g acknowledge R's FIN? Only ack = fin_seq + 1 does. A FIN sent
 * before we tracked the connection (seeded from the socket table in
 * FIN_WAIT or LAST_ACK) has no known sequence: the peer's next ACK is
 * taken as its acknowledgement. */
static inline int tcps_acks_fin(const struct tcps_ep *R, const struct tcps_seg *g)
{
	if (!(g->flags & TCPS_ACK))
		return 0;
	if (R->flags & TCPS_EP_FIN)
		return g->ack == R->fin_seq + 1;
	return R->state == TCPS_FIN_WAIT1 || R->state == TCPS_FIN_WAIT2 ||
	       R->state == TCPS_CLOSING || R->state == TCPS_LAST_ACK || R->state == TCPS_TIME_WAIT;
}

static inline void tcps_fsm_ack(struct tcps_fsm *f, int s, const struct tcps_seg *g, struct tcps_step *r)
{
	struct tcps_ep *R = &f->ep[!s];

	(void)s;
	if (R->state == TCPS_SYN_RECV && (R->flags & TCPS_EP_ISN) && tcps_after(g->ack, R->isn)) {
		tcps_set_state(f, r, !s, TCPS_ESTABLISHED);
		return;
	}
	if (!tcps_acks_fin(R, g))
		return;
	if (R->state == TCPS_FIN_WAIT1)
		tcps_set_state(f, r, !s, TCPS_FIN_WAIT2);
	else if (R->state == TCPS_CLOSING)
		tcps_set_state(f, r, !s, TCPS_TIME_WAIT);
	else if (R->state == TCPS_LAST_ACK)
		tcps_set_state(f, r, !s, TCPS_CLOSE);
}

static inline void tcps_fsm_fin(struct tcps_fsm *f, int s, const struct tcps_seg *g, struct tcps_step *r)
{
	struct tcps_ep *S = &f->ep[s], *R = &f->ep[!s];
	int acks_peer_fin = tcps_acks_fin(R, g);

	if (S->flags & TCPS_EP_FIN)
		return;			/* retransmitted FIN: already counted */
	if (S->state == TCPS_SYN_SENT || S->state == TCPS_CLOSE)
		return;			/* no FIN before the connection is synchronized */
	S->fin_seq = g->seq + g->len;
	S->flags |= TCPS_EP_FIN;

	/* Send rules. A FIN from CLOSE_WAIT that does not acknowledge the
	 * peer's FIN was sent before that FIN arrived: a simultaneous close,
	 * so this side really went FIN_WAIT1 and now CLOSING. */
	if (S->state == TCPS_ESTABLISHED || S->state == TCPS_SYN_RECV)
		tcps_set_state(f, r, s, TCPS_FIN_WAIT1);
	else if (S->state == TCPS_CLOSE_WAIT)
		tcps_set_state(f, r, s, acks_peer_fin ? TCPS_LAST_ACK : TCPS_CLOSING);

	/* Receive rules. */
	if (R->state == TCPS_ESTABLISHED || R->state == TCPS_SYN_RECV)
		tcps_set_state(f, r, !s, TCPS_CLOSE_WAIT);
	else if (R->state == TCPS_FIN_WAIT1)
		tcps_set_state(f, r, !s, TCPS_CLOSING);
	else if (R->state == TCPS_FIN_WAIT2)
		tcps_set_state(f, r, !s, TCPS_TIME_WAIT);
}

/*
 * Apply one segment sent by side s. r says what changed. The caller emits
 * one event per side whose r->from differs from r->to.
 */
static inline void tcps_fsm_step(struct tcps_fsm *f, int s, const struct tcps_seg *g, struct tcps_step *r)
{
	__u8 fl = g->flags;

	s = !!s;
	tcps_step_init(f, r);
	if (f->flags & TCPS_C_NEW) {
		f->flags &= ~TCPS_C_NEW;
		tcps_fsm_first(f, s, g, r);
		return;
	}
	if (fl & TCPS_RST) {
		if (!tcps_rst_acceptable(f, s, g)) {
			r->verdict = TCPS_V_OOW;
			return;
		}
		if (f->ep[0].state != TCPS_CLOSE)
			tcps_set_state(f, r, 0, TCPS_CLOSE);
		if (f->ep[1].state != TCPS_CLOSE)
			tcps_set_state(f, r, 1, TCPS_CLOSE);
		return;
	}
	/* RFC 9293 §3.10.7.4 "fifth, if the ACK bit is off drop the segment". */
	if (!(fl & (TCPS_SYN | TCPS_ACK))) {
		r->verdict = TCPS_V_INVALID;
		return;
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
		return;
	}
	if (!tcps_seg_acceptable(f, s, g)) {
		r->verdict = TCPS_V_OOW;
		return;
	}
	if (fl & TCPS_SYN) {
		tcps_fsm_syn(f, s, g, r);
		if (r->verdict != TCPS_V_OK)
			return;
	} else if (fl & TCPS_ACK) {
		tcps_fsm_ack(f, s, g, r);
	}
	/* A FIN riding on a SYN is ignored: Linux handles only URG after a
	 * SYN in SYN_SENT ("step6 onward by hand") and drops any SYN in a
	 * synchronized state (RFC 5961 §4). */
	if ((fl & (TCPS_FIN | TCPS_SYN)) == TCPS_FIN)
		tcps_fsm_fin(f, s, g, r);
	tcps_ep_sent(f, s, g);
}

/* The hot path: a segment that cannot change any state (ACK without
 * SYN/FIN/RST, both ends ESTABLISHED). Callers may then skip the lock and use
 * tcps_fsm_track() instead of tcps_fsm_step(). */
static inline int tcps_fsm_steady(const struct tcps_fsm *f, const struct tcps_seg *g)
{
	return (g->flags & (TCPS_SYN | TCPS_FIN | TCPS_RST | TCPS_ACK)) == TCPS_ACK &&
	       f->ep[0].state == TCPS_ESTABLISHED && f->ep[1].state == TCPS_ESTABLISHED;
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
