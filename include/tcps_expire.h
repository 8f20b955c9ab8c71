/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The expiry rule: when an entry of the connection tables has been idle
 * too long. Pure C (no helpers, no libc), shared by the in-kernel scan
 * (bpf/expire.bpf.c), the daemon's delete path and
 * replay (user/gc.c) and the queries that expire by themselves while no
 * daemon runs (user/query.c through tcps_gc_expired, with the timeouts
 * user/stale.c recorded), so that the three cannot drift apart.
 *
 * Times are ns on the clock of tcps_conn.last_seen (CLOCK_MONOTONIC
 * coarse in the daemon, capture time in replay). The rule reads an entry's
 * last_tick, which both table layouts have, as the last ns of that tick:
 * an entry expires up to one tick (16.8 ms) late, never early.
 */
#ifndef TCPS_EXPIRE_H
#define TCPS_EXPIRE_H

#include "tcpscope.h"

#ifndef TCPS_EXPIRE_INLINE
#define TCPS_EXPIRE_INLINE static inline
#endif

/* The last packet of an entry whose last_tick is tick, as ns on now's
 * clock: the tick's last ns, or now for the tick now is in (or a later
 * one: another CPU's packet during a scan). Exact to a tick for an age up
 * to 2^31 ticks (1.14 years). */
TCPS_EXPIRE_INLINE __u64 tcps_tick_last_ns(__u32 tick, __u64 now)
{
	__s32 d = (__s32)(tcps_tick(now) - tick);

	if (d <= 0)
		return now;
	if ((__u64)d > now >> TCPS_TICK_SHIFT)
		return 0;
	return (((now >> TCPS_TICK_SHIFT) - (__u64)d + 1) << TCPS_TICK_SHIFT) - 1;
}

/* Keys of expired entries one scan hands to userspace; more are counted
 * and left for the next scan (bpf/expire.bpf.c, user/gc.c). */
#ifndef TCPS_EXPIRE_KEYS
#define TCPS_EXPIRE_KEYS 8192
#endif
/* Keys of closing entries one scan offers for early drop (table nearly full). */
#ifndef TCPS_EXPIRE_EARLY_KEYS
#define TCPS_EXPIRE_EARLY_KEYS 8192
#endif

struct tcps_timeouts {
	__u32 state_s[TCPS_STATE_MAX];	/* idle timeout per state; 0: never */
	__u32 midstream_s;	/* ESTABLISHED mid-stream, not yet seen both ways */
	__u32 mode;		/* enum tcps_mode: in host mode the local side governs */
};

/* Parameters and results of one in-kernel scan of both tables (the .bss
 * of bpf/expire.bpf.c: written by the daemon before a run, read after). */
struct tcps_expire_scan {
	struct tcps_timeouts to;
	__u64 now;		/* expire what has been idle its timeout at now */
	__u32 early_want;	/* collect up to this many closing entries of tcps_conns */
	__u32 early_found;	/* out: how many (keys in closing[]) */
	__u32 skip[2];		/* leave out tcps_conns, tcps_halfopen (known empty) */
	__u64 seen[2];		/* out: entries of tcps_conns, tcps_halfopen */
	__u32 found[2];		/* out: expired entries of each (keys in expired[t][]) */
	__u64 next_due;		/* out: no entry seen expires before this; ~0: none can */
};

/* Idle timeout (s) of one endpoint state of c; 0: never. */
TCPS_EXPIRE_INLINE __u32 tcps_expire_state_timeout(const struct tcps_conn *c, __u8 st,
						   const struct tcps_timeouts *t)
{
	__u32 to;

	if (st >= TCPS_STATE_MAX)
		return t->state_s[TCPS_CLOSE];
	to = t->state_s[st];
	/* netfilter caps entries picked up mid-stream until both directions
	 * were seen (nf_conntrack_tcp: tcp_timeout_unacknowledged). */
	if (st == TCPS_ESTABLISHED && (c->fsm.flags & TCPS_C_MIDSTREAM) &&
	    (c->fsm.flags & (TCPS_C_SEEN0 | TCPS_C_SEEN1)) != (TCPS_C_SEEN0 | TCPS_C_SEEN1) &&
	    t->midstream_s && (!to || t->midstream_s < to))
		to = t->midstream_s;
	return to;
}

/*
 * Seconds c may stay idle; 0: never expires. In host mode the local side's
 * state governs, as netstat shows it (when the local socket is gone, so is
 * the entry, after the linger); otherwise the most patient of the
 * endpoints still open.
 */
TCPS_EXPIRE_INLINE __u32 tcps_expire_timeout(const struct tcps_conn *c,
					     const struct tcps_timeouts *t)
{
	__u8 s0 = c->fsm.ep[0].state, s1 = c->fsm.ep[1].state;
	__u32 t0, t1;

	if (t->mode == TCPS_MODE_HOST && (c->fsm.flags & (TCPS_C_LOCAL0 | TCPS_C_LOCAL1)))
		return tcps_expire_state_timeout(c, c->fsm.flags & TCPS_C_LOCAL1 ? s1 : s0, t);
	if (s0 == TCPS_CLOSE && s1 == TCPS_CLOSE)
		return t->state_s[TCPS_CLOSE];
	t0 = s0 == TCPS_CLOSE ? 1 : tcps_expire_state_timeout(c, s0, t);
	t1 = s1 == TCPS_CLOSE ? 1 : tcps_expire_state_timeout(c, s1, t);
	if (!t0 || !t1)
		return 0;
	return t0 > t1 ? t0 : t1;
}

/* When c times out (ns, last_seen's clock; ~0: never), and has it at
 * now? Each hold (host mode: the kernel still had the
 * local socket in that state when it timed out, user/gc.c) gives it one
 * more timeout of silence, up to TCPS_EXPIRE_IDLE_MAX in all: 2^30 ticks
 * (208 days), half the ages last_tick tells exactly, so an entry due is
 * still seen due for as long again (the kernel is asked again at each
 * scan after that). */
#define TCPS_EXPIRE_IDLE_MAX (1ULL << (30 + TCPS_TICK_SHIFT))
TCPS_EXPIRE_INLINE __u64 tcps_expire_deadline(const struct tcps_conn *c, __u64 now,
					      const struct tcps_timeouts *t)
{
	__u32 to = tcps_expire_timeout(c, t);
	__u64 allow;

	if (!to)
		return ~0ULL;
	allow = (__u64)to * 1000000000ULL * (1 + (__u64)c->fsm.holds);
	if (allow > TCPS_EXPIRE_IDLE_MAX)
		allow = TCPS_EXPIRE_IDLE_MAX;
	return tcps_tick_last_ns(c->last_tick, now) + allow;
}

TCPS_EXPIRE_INLINE int tcps_expire_due(const struct tcps_conn *c, __u64 now,
				       const struct tcps_timeouts *t)
{
	__u64 due = tcps_expire_deadline(c, now, t);

	return due != ~0ULL && due <= now;
}

/* No entry expires before it has been idle this long (ns): the shortest
 * timeout there is (a cheap first test: last_seen alone decides most). */
TCPS_EXPIRE_INLINE __u64 tcps_expire_min_idle(const struct tcps_timeouts *t)
{
	__u32 m = t->midstream_s;
	int st;

	for (st = 1; st < TCPS_STATE_MAX; st++)
		if (t->state_s[st] && (!m || t->state_s[st] < m))
			m = t->state_s[st];
	/* (tcps_expire_timeout's 1 s for a passive side in CLOSE only ever
	 * stands against the other side's timeout, the larger one wins.) */
	return m ? (__u64)m * 1000000000ULL : ~0ULL;
}

/* May c make room early when the table is nearly full (netfilter's early
 * drop)? Closing entries: the local side (host mode) or the less advanced
 * endpoint (passive) in CLOSE or TIME_WAIT. */
TCPS_EXPIRE_INLINE int tcps_expire_closing(const struct tcps_conn *c, __u32 mode)
{
	__u8 s0 = c->fsm.ep[0].state, s1 = c->fsm.ep[1].state, l;

	if (mode == TCPS_MODE_HOST)
		l = c->fsm.flags & TCPS_C_LOCAL1 ? s1 : s0;
	else
		l = s0 > s1 ? s1 : s0;
	return l == TCPS_CLOSE || l == TCPS_TIME_WAIT;
}

#endif /* TCPS_EXPIRE_H */
