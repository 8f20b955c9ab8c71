/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Connection health from the wire: handshake RTT, a running RTT from TCP
 * timestamps (or from data and its ACK), retransmissions, out-of-order
 * segments, duplicate ACKs, zero-window episodes and the time of each
 * endpoint's last transition. Pure C like tcp_fsm.h; included by
 * tcps_path.h, whose includer supplies tcps_clock_precise().
 *
 * Health counts only segments the state machine accepts (a blind spoofer
 * must not move it), judged against the sender as it was *before* the
 * segment (tcps_ep_sent moves snd_nxt, ack_sent, win): tcps_health_classify
 * reads that view before the step, tcps_health_apply counts after it.
 *
 * Timing (as ePPing): side s's segment carrying a TSval seen for the first
 * time starts a sample; the peer's first segment echoing it in TSecr ends
 * it. One sample in flight per side, so the precise clock is read about
 * twice per RTT per direction, never per segment. Without timestamps the
 * first segment whose end passes the sender's highest sequence is timed
 * until the first ACK covering it. A retransmission by the sender cancels
 * its sample in flight, in both modes (Karn; with timestamps the peer may
 * echo the original's TSval once its lost ACKs are repeated). A sample
 * measures the hook -> peer -> hook round trip: in host mode, for segments
 * the local side sends, the network RTT.
 */
#ifndef TCPS_HEALTH_H
#define TCPS_HEALTH_H

#include "tcp_fsm.h"

#ifndef TCPS_PATH_INLINE
#define TCPS_PATH_INLINE static inline
#endif

/* Microsecond stamp in 32 bits (wraps after 71 min: only differences of
 * short intervals are taken). 0 and 1 are the idle/resync markers of
 * mark_t, so a stamp is never either. */
static inline __u32 tcps_h_stamp(__u64 ns)
{
	__u32 t = (__u32)(ns / 1000);

	return t < 2 ? t + 2 : t;
}

#define TCPS_H_IDLE 0		/* mark_t: nothing timed */
#define TCPS_H_RESYNC 1		/* mark_t: sample taken; next TSval is not a first sighting */

/* Plain stores in this order: the echoing direction reads mark_t first,
 * then mark, so mark must be in place before mark_t says it is timed. */
#define tcps_h_barrier() __asm__ __volatile__("" ::: "memory")

static inline void tcps_h_inc16(__u16 *v)
{
	if (*v != 0xffff)
		*v += 1;
}

/* Bucket of v (µs, or ms for durations) among the histogram bounds:
 * Prometheus' habit of 1-2.5-5 steps, 100 µs to 10 s (durations: 1 ms to
 * a day). */
static inline __u32 tcps_hist_bucket(int kind, __u64 v)
{
	if (kind == TCPS_HIST_DURATION)
		return v <= 1 ? 0 : v <= 10 ? 1 : v <= 100 ? 2 : v <= 500 ? 3 : v <= 1000 ? 4 :
		       v <= 5000 ? 5 : v <= 10000 ? 6 : v <= 30000 ? 7 : v <= 60000 ? 8 :
		       v <= 300000 ? 9 : v <= 600000 ? 10 : v <= 1800000 ? 11 : v <= 3600000 ? 12 :
		       v <= 21600000 ? 13 : v <= 43200000 ? 14 : v <= 86400000 ? 15 : 16;
	return v <= 100 ? 0 : v <= 250 ? 1 : v <= 500 ? 2 : v <= 1000 ? 3 : v <= 2500 ? 4 :
	       v <= 5000 ? 5 : v <= 10000 ? 6 : v <= 25000 ? 7 : v <= 50000 ? 8 :
	       v <= 100000 ? 9 : v <= 250000 ? 10 : v <= 500000 ? 11 : v <= 1000000 ? 12 :
	       v <= 2500000 ? 13 : v <= 5000000 ? 14 : v <= 10000000 ? 15 : 16;
}

/* The class of the connection's local port (passive: the responder's). */
static inline int tcps_port_class(const struct tcps_conn *c, const struct tcps_key *k)
{
	int side = tcps_host_mode() ? !!(c->fsm.flags & TCPS_C_LOCAL1) :
				      !(c->fsm.flags & TCPS_C_ORIG1);
	__u16 p = side ? k->port[1] : k->port[0];

	p = (__u16)(p << 8 | p >> 8);	/* network order */
	return p < 1024 ? TCPS_PORTS_SYSTEM : p < 49152 ? TCPS_PORTS_USER : TCPS_PORTS_DYNAMIC;
}

/* Rare (a sample, a handshake, a close): two per-CPU slot updates. */
static inline void tcps_hist_observe(int kind, int pclass, __u64 v)
{
	__u32 base = TCPS_HIST_BASE +
		     ((__u32)kind % TCPS_HIST_MAX * TCPS_PORTS_MAX + (__u32)pclass % TCPS_PORTS_MAX) *
			     TCPS_HIST_STRIDE;
	__u64 *b = tcps_trans_slot(base + tcps_hist_bucket(kind, v));

	if (b)
		*b += 1;
	b = tcps_trans_slot(base + TCPS_HIST_STRIDE - 1);
	if (b)
		*b += v;
}

/* One RTT sample of side s's segments: latest, min, RFC 6298 smoothed. A
 * sample is at least 1 µs so that 0 can mean "none yet". */
static inline void tcps_h_sample(struct tcps_health *h, int s, __u32 us)
{
	__u32 srtt = h->srtt_us[s];

	if (!us)
		us = 1;
	h->rtt_us[s] = us;
	if (!h->rtt_min_us[s] || us < h->rtt_min_us[s])
		h->rtt_min_us[s] = us;
	h->srtt_us[s] = srtt ? (__u32)(((__u64)srtt * 7 + us) >> 3) : us;
}

/* Window g advertises, in bytes (as tcps_ep_win). */
static inline __u32 tcps_h_win(const struct tcps_fsm *f, const struct tcps_ep *S,
			       const struct tcps_seg *g)
{
	return (__u32)g->win << tcps_seg_win_shift(f, S, g);
}

/* What the sender's bookkeeping before a segment says of it
 * (tcps_health_classify): the facts health takes from the state machine. */
enum tcps_health_class {
	TCPS_HC_RETRANS = 0x01,	/* occupies sequence space, nothing new in it */
	TCPS_HC_OOO = 0x02,	/* starts beyond the sender's highest sequence */
	TCPS_HC_DUPACK = 0x04,	/* RFC 5681 duplicate ACK */
	TCPS_HC_NEWDATA = 0x08,	/* ends beyond the sender's highest sequence */
};

/* Classify g, sent by side s, against f as it was before g. Pure reads of
 * f: the locked path takes it under the lock before the step, the steady
 * path before tcps_ep_sent; health then counts only what the state
 * machine accepted (tcps_health_apply). */
static inline __attribute__((always_inline)) int
tcps_health_classify(const struct tcps_fsm *f, int s, const struct tcps_seg *g)
{
	const struct tcps_ep *S, *R;
	__u32 end = tcps_seg_end(g);
	int sent, newdata, cls = 0;

	s &= 1;
	S = &f->ep[s];
	R = &f->ep[!s];
	sent = S->flags & TCPS_EP_SENT;
	newdata = !sent || tcps_after(end, S->snd_nxt);
	if (newdata)
		cls |= TCPS_HC_NEWDATA;
	/* Loss and reordering, against the sender's own highest sequence: a
	 * segment that occupies sequence space and ends at or below it was
	 * sent before (a SYN with a new ISN is a new connection instead). */
	if (sent && end != g->seq) {
		if (!newdata && !((g->flags & TCPS_SYN) && g->seq != S->isn))
			cls |= TCPS_HC_RETRANS;
		else if (tcps_after(g->seq, S->snd_nxt))
			cls |= TCPS_HC_OOO;	/* a gap before it: lost or reordered upstream */
	}
	/* RFC 5681 §2: a pure ACK, same ack and window, data outstanding. */
	if ((g->flags & (TCPS_SYN | TCPS_FIN | TCPS_ACK)) == TCPS_ACK && !g->len &&
	    (S->flags & TCPS_EP_ACKED) && g->ack == S->ack_sent && (R->flags & TCPS_EP_SENT) &&
	    tcps_after(R->snd_nxt, g->ack) && tcps_h_win(f, S, g) == tcps_ep_win(f, s))
		cls |= TCPS_HC_DUPACK;
	return cls;
}

/* The counts of a segment of side s: retransmission, out of order,
 * duplicate ACK, zero-window episode. */
TCPS_PATH_INLINE void tcps_health_count(struct tcps_counters *cnt, struct tcps_health *h, int s,
					const struct tcps_seg *g, int cls)
{
	if (cls & TCPS_HC_RETRANS) {
		h->retrans[s] += g->segs ? g->segs : 1;
		if (cnt)
			cnt->c[TCPS_CNT_RETRANS] += g->segs ? g->segs : 1;
		h->retrans_bytes[s] += g->len;
		/* Karn, in both modes: the peer may echo a TSval (or ACK
		 * data) sent before the loss, long after, when its ACKs
		 * were lost: no sample spans a retransmission. */
		if (h->mark_t[s] > TCPS_H_RESYNC)
			h->mark_t[s] = TCPS_H_RESYNC;
	}
	if (cls & TCPS_HC_OOO)
		tcps_h_inc16(&h->ooo[s]);
	if (cls & TCPS_HC_DUPACK)
		tcps_h_inc16(&h->dupacks[s]);
	/* A zero window after a non-zero one starts an episode (tcps_ep.win
	 * follows SND.WL1 rules, so the episode's state is kept here). */
	if (!(g->flags & TCPS_SYN) && (g->flags & TCPS_ACK)) {
		if (!g->win && !(h->sflags[s] & TCPS_HS_ZWIN)) {
			h->sflags[s] |= TCPS_HS_ZWIN;
			tcps_h_inc16(&h->zwin[s]);
		} else if (g->win && (h->sflags[s] & TCPS_HS_ZWIN)) {
			h->sflags[s] &= ~TCPS_HS_ZWIN;
		}
	}
}

/* End of a sample of the peer's (side !s) segments, when this segment of
 * side s echoes it: the RTT sample and its histogram. */
TCPS_PATH_INLINE void tcps_health_sample_end(struct tcps_conn *c, const struct tcps_key *k, int s,
					     const struct tcps_seg *g, __u64 *now)
{
	struct tcps_health *h = &c->h;
	__u32 mt = h->mark_t[!s];
	int hit = 0, skip = 0;

	if (mt <= TCPS_H_RESYNC)
		return;
	if ((h->sflags[!s] & TCPS_HS_TSMARK)) {
		if (g->has_ts) {
			hit = g->tsecr == h->mark[!s];
			skip = tcps_after(g->tsecr, h->mark[!s]);
		} else {
			skip = 1;	/* the peer does not echo: timestamps are off */
		}
	} else if (g->flags & TCPS_ACK) {
		hit = !tcps_before(g->ack, h->mark[!s]);
	}
	if (hit) {
		if (!*now)
			*now = tcps_clock_precise();
		tcps_h_sample(h, !s, tcps_h_stamp(*now) - mt);
		if (!tcps_host_mode()) {
			if (h->rtt_us[0] && h->rtt_us[1])
				tcps_hist_observe(TCPS_HIST_RTT, tcps_port_class(c, k),
						  (__u64)h->rtt_us[0] + h->rtt_us[1]);
		} else if (tcps_defers(&c->fsm, !s)) {	/* the local side's segments */
			tcps_hist_observe(TCPS_HIST_RTT, tcps_port_class(c, k), h->rtt_us[!s]);
		}
	}
	if (hit || skip)
		h->mark_t[!s] = TCPS_H_RESYNC;
}

/* Start of a sample of this side's segments: its TSval, or the end of its
 * new data, and when it was first seen. */
TCPS_PATH_INLINE void tcps_health_sample_start(struct tcps_health *h, int s, const struct tcps_seg *g,
					       int cls, __u64 *now)
{
	__u32 mt = h->mark_t[s];

	if (g->has_ts) {
		if (mt == TCPS_H_RESYNC || (mt > TCPS_H_RESYNC && !(h->sflags[s] & TCPS_HS_TSMARK))) {
			/* Track the current TSval: it was seen before now. */
			h->sflags[s] |= TCPS_HS_TSMARK;
			h->mark[s] = g->tsval;
			h->mark_t[s] = TCPS_H_IDLE;
		} else if (mt == TCPS_H_IDLE && (g->tsval != h->mark[s] || !(h->sflags[s] & TCPS_HS_TSMARK))) {
			if (!*now)
				*now = tcps_clock_precise();
			h->sflags[s] |= TCPS_HS_TSMARK;
			h->mark[s] = g->tsval;
			tcps_h_barrier();
			h->mark_t[s] = tcps_h_stamp(*now);
		}
	} else if (g->len && (cls & TCPS_HC_NEWDATA) && (mt <= TCPS_H_RESYNC || (h->sflags[s] & TCPS_HS_TSMARK))) {
		if (!*now)
			*now = tcps_clock_precise();
		h->sflags[s] &= ~TCPS_HS_TSMARK;
		h->mark[s] = tcps_seg_end(g);
		tcps_h_barrier();
		h->mark_t[s] = tcps_h_stamp(*now);
	}
}

/* Segment g sent by side s, accepted by the state machine; cls is its
 * class against the sender as it was before g (tcps_health_classify). *now
 * is the precise clock, read here at most once and only if a sample
 * starts or ends (0: not read yet). Reads of c->fsm here are of flags no
 * accepted segment changes (ORIG1, LOCAL*). */
TCPS_PATH_INLINE void tcps_health_apply(struct tcps_counters *cnt, struct tcps_conn *c,
					const struct tcps_key *k, int s, const struct tcps_seg *g,
					int cls, __u64 *now)
{
	s &= 1;
	if (g->flags & TCPS_RST)
		return;
	tcps_health_count(cnt, &c->h, s, g, cls);
	tcps_health_sample_end(c, k, s, g, now);
	tcps_health_sample_start(&c->h, s, g, cls, now);
}

/* Segment g of side s of an entry being created (tcps_create): the state
 * machine takes every segment that creates one, so health runs before it. */
TCPS_PATH_INLINE void tcps_health_seg(struct tcps_counters *cnt, struct tcps_conn *c,
				      const struct tcps_key *k, int s, const struct tcps_seg *g,
				      __u64 *now)
{
	tcps_health_apply(cnt, c, k, s, g, tcps_health_classify(&c->fsm, s, g), now);
}

/* The handshake at the hook, after the state machine took g (sent by s):
 * [0] SYN -> SYN+ACK, [1] SYN+ACK -> the ACK of it. A SYN starts over
 * (tcps_health_open). */
TCPS_PATH_INLINE void tcps_health_handshake(struct tcps_conn *c, const struct tcps_key *k, int s,
					 const struct tcps_seg *g, __u64 *now)
{
	struct tcps_health *h = &c->h;
	__u8 fl = g->flags & (TCPS_SYN | TCPS_ACK);
	__u32 t;

	int orig = !!(c->fsm.flags & TCPS_C_ORIG1);

	if (!(h->flags & (TCPS_H_HS_SYN | TCPS_H_HS_SYNACK)))
		return;
	if (h->flags & TCPS_H_HS_SYN) {
		if (fl != (TCPS_SYN | TCPS_ACK) || s == orig)
			return;
	} else if (fl != TCPS_ACK || s != orig || !(c->fsm.ep[!s].flags & TCPS_EP_ISN) ||
		   !tcps_after(g->ack, c->fsm.ep[!s].isn)) {
		return;
	}
	if (!*now)
		*now = tcps_clock_precise();
	t = tcps_h_stamp(*now);
	if (h->flags & TCPS_H_HS_SYN) {
		h->hs_us[0] = t - c->hs_t;
		h->flags = (h->flags & ~TCPS_H_HS_SYN) | TCPS_H_HS_SYNACK;
	} else {
		h->hs_us[1] = t - c->hs_t;
		h->flags = (h->flags & ~TCPS_H_HS_SYNACK) | TCPS_H_HS_DONE;
		/* Host mode: the half the network took (a local client's SYN
		 * out -> SYN+ACK in; a local server's SYN+ACK out -> ACK in). */
		tcps_hist_observe(TCPS_HIST_HANDSHAKE, tcps_port_class(c, k),
				  !tcps_host_mode() ? (__u64)h->hs_us[0] + h->hs_us[1] :
				  tcps_defers(&c->fsm, orig) ? h->hs_us[0] : h->hs_us[1]);
	}
	c->hs_t = t;
}

/* A segment of the locked path that the state machine accepted (sent by
 * side sc & 1, of class sc >> 1): health's per-segment work, then the
 * handshake's. Returns the precise clock if it was read, else 0. Inlined
 * like the state machine's step (tcp_fsm.h TCPS_FSM_INLINE): as a BPF
 * subprogram its call and return cost every locked segment 7-8 ns. (It
 * was one when a second copy of tcps_health_apply took tcps_track's
 * stack past 512 bytes; the stack has since shrunk.) */
static inline __attribute__((always_inline)) __u64
tcps_health_accepted(struct tcps_counters *cnt, struct tcps_conn *c, const struct tcps_key *k,
		     const struct tcps_seg *g, int sc)
{
	__u64 now = 0;

	tcps_health_apply(cnt, c, k, sc & 1, g, sc >> 1, &now);
	tcps_health_handshake(c, k, sc & 1, g, &now);
	return now;
}

/* A SYN opened (or reopened) the connection: health starts over (but for
 * the endpoints' transition times), the handshake clock runs from now. */
static inline void tcps_health_open(struct tcps_conn *c, __u64 *now)
{
	__u64 t0 = c->h.trans_ns[0], t1 = c->h.trans_ns[1];

	if (!*now)
		*now = tcps_clock_precise();
	__builtin_memset(&c->h, 0, sizeof(c->h));
	c->h.trans_ns[0] = t0;
	c->h.trans_ns[1] = t1;
	c->h.flags = TCPS_H_HS_SYN;
	c->hs_t = tcps_h_stamp(*now);
}

static inline int tcps_h_closed(__u8 st)
{
	return st == TCPS_CLOSE || st == TCPS_TIME_WAIT;
}

/* After a step: both ends now closed (CLOSE or TIME_WAIT), one was not
 * before. now is the entry's clock (first_seen's). */
static inline void tcps_health_closed(const struct tcps_conn *c, const struct tcps_key *k,
				      const struct tcps_step *st, __u64 now)
{
	if (!st->n || !tcps_h_closed(st->to[0]) || !tcps_h_closed(st->to[1]) ||
	    (tcps_h_closed(st->from[0]) && tcps_h_closed(st->from[1])))
		return;
	tcps_hist_observe(TCPS_HIST_DURATION, tcps_port_class(c, k),
			  now > c->first_seen ? (now - c->first_seen) / 1000000 : 0);
}

#endif /* TCPS_HEALTH_H */
