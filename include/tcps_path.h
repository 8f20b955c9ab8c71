/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The data path after the parse: find or create the connection entry, run
 * the state machine, emit one event per endpoint transition. Pure C, like
 * tcp_fsm.h: the BPF object (bpf/tcpscope.bpf.c) and the native replay
 * backend (user/replay_native.c) both compile it, each supplying the
 * storage primitives below, so the two paths cannot drift apart.
 *
 * The includer defines TCPS_PATH_INLINE (static __always_inline in BPF)
 * before including this header, and the primitives declared below after.
 */
#ifndef TCPS_PATH_H
#define TCPS_PATH_H

#include "tcp_fsm.h"

#define TCPS_EEXIST 17

enum tcps_table {
	TCPS_TBL_CONNS = 0,	/* connections with evidence of both ends */
	TCPS_TBL_HALFOPEN,	/* handshakes not yet complete */
};

enum tcps_dir {
	TCPS_DIR_IN = 0,		/* arrived on the interface */
	TCPS_DIR_OUT = 1,		/* leaving through it */
};

/* Per-CPU packet/parse/table counters: one slot, one lookup per packet. */
struct tcps_counters {
	__u64 c[TCPS_CNT_MAX];
};

/* Per-CPU scratch for the state machine's output and a new entry. Kept in
 * a map value rather than on the stack: the verifier does not track map
 * contents, so the FSM's many constant stores do not multiply its states. */
struct tcps_scratch {
	/* Raw bytes, not struct tcps_conn: a per-CPU map value may not carry
	 * a bpf_spin_lock in its BTF. */
	__u8 conn[sizeof(struct tcps_conn)] __attribute__((aligned(8)));
	struct tcps_step st;
};

/* Storage primitives, defined by the includer. */
/* Entry of k in table tbl, or NULL. */
TCPS_PATH_INLINE struct tcps_conn *tcps_tbl_lookup(int tbl, const struct tcps_key *k);
/* 0, -TCPS_EEXIST if k is there already, another negative value if full. */
TCPS_PATH_INLINE int tcps_tbl_insert(int tbl, const struct tcps_key *k, const struct tcps_conn *v);
TCPS_PATH_INLINE void tcps_tbl_delete(int tbl, const struct tcps_key *k);
TCPS_PATH_INLINE void tcps_conn_lock(struct tcps_conn *c);
TCPS_PATH_INLINE void tcps_conn_unlock(struct tcps_conn *c);
TCPS_PATH_INLINE struct tcps_scratch *tcps_scratch_get(void);
/* Per-CPU u64 slot idx of tcps_trans (transitions from * TCPS_STATE_MAX + to,
 * then histograms and gauges, tcpscope.h), or NULL. */
TCPS_PATH_INLINE __u64 *tcps_trans_slot(__u32 idx);
/* A zero-initialised-or-not event slot, NULL when the ring is full. */
TCPS_PATH_INLINE struct tcps_event *tcps_event_reserve(void);
TCPS_PATH_INLINE void tcps_event_submit(struct tcps_event *e);
/* The clock of transition events (the precise one: taken only there). */
TCPS_PATH_INLINE __u64 tcps_clock_precise(void);
/* Nonzero in host mode (ingress = remote to local). */
TCPS_PATH_INLINE int tcps_host_mode(void);
/* Nonzero when health is tracked (tcps_health.h; `run --no-health`). */
TCPS_PATH_INLINE int tcps_health_on(void);
/* Nonzero when someone reads transition events: 0 makes none (the counts,
 * gauges and health go on). */
TCPS_PATH_INLINE int tcps_events_wanted(void);

/* Under the entry's lock: nonzero while conn is still k's entry of table
 * tbl. An includer whose table can move an entry, or delete it and give
 * its place to another tuple, while a CPU holds a pointer found without
 * the lock (the BPF slot array: the collector's compaction, a delete and
 * an insert into the freed slot) defines it first; the default says yes
 * (hash maps, replay's native tables). */
#ifndef TCPS_PATH_CONN_STILL
#define TCPS_PATH_CONN_STILL(conn, k, tbl) 1
#endif

#include "tcps_health.h"

TCPS_PATH_INLINE void tcps_count(struct tcps_counters *cnt, int idx)
{
	if (cnt && idx >= 0 && idx < TCPS_CNT_MAX)
		cnt->c[idx]++;
}

/* ---- gauges (tcpscope.h TCPS_GAUGE_BASE): entries per state of the first
 * side and per table, kept by plain per-CPU adds only where an entry is
 * created, changes that state (also when passive mode's orig side flips on
 * a reopen: TCPS_C_ORIG1) or is promoted; never on a steady segment. */
TCPS_PATH_INLINE __u8 tcps_gauge_state(const struct tcps_fsm *f)
{
	int s = tcps_host_mode() ? !!(f->flags & TCPS_C_LOCAL1) : !!(f->flags & TCPS_C_ORIG1);

	return (s ? f->ep[1].state : f->ep[0].state) % TCPS_STATE_MAX;
}

TCPS_PATH_INLINE void tcps_gauge_add(__u32 slot, __u64 d)
{
	__u64 *g = tcps_trans_slot(TCPS_GAUGE_BASE + slot);

	if (g)
		*g += d;	/* d = (__u64)-1 subtracts: the sum over CPUs wraps back */
}

TCPS_PATH_INLINE void tcps_gauge_move(__u8 from, __u8 to)
{
	if (from == to)
		return;
	tcps_gauge_add(TCPS_G_STATE + from, (__u64)-1);
	tcps_gauge_add(TCPS_G_STATE + to, 1);
}
/* ---- end of gauges ---- */

/* One event per arc of the step, in order, each with its sequence number:
 * events are reserved after the lock is dropped, so two CPUs may queue one
 * connection's events out of order; seq lets the reader put them back.
 * With h (health on), each arc also records the time its endpoint spent in
 * the state it leaves, and stamps the new one; ts is the clock already
 * read for this segment, or 0. */
TCPS_PATH_INLINE void tcps_emit(struct tcps_counters *cnt, const struct tcps_key *k,
				const struct tcps_step *st, __u8 conn_flags, __u8 tcp_flags,
				__u32 ifindex, struct tcps_health *h, __u64 ts)
{
	int i;

	if (h && st->n && !ts)
		ts = tcps_clock_precise();

	for (i = 0; i < TCPS_STEP_ARCS; i++) {
		const struct tcps_arc *a = &st->arc[i];
		struct tcps_event *e;
		__u64 *tc, prev = 0;

		if (i >= st->n)
			break;
		if (h) {
			__u64 *t = &h->trans_ns[a->side & 1];

			prev = *t && ts > *t ? ts - *t : 0;
			*t = ts;
		}
		tcps_count(cnt, TCPS_CNT_TRANSITIONS);
		tc = tcps_trans_slot((__u32)(a->from % TCPS_STATE_MAX) * TCPS_STATE_MAX +
				     a->to % TCPS_STATE_MAX);
		if (tc)
			(*tc)++;
		if (!tcps_events_wanted())
			continue;	/* nobody reads them (user/run.c events_gate) */
		e = tcps_event_reserve();
		if (!e) {
			tcps_count(cnt, TCPS_CNT_RB_DROPS);
			continue;
		}
		if (!ts)	/* the precise clock, only where a transition happens */
			ts = tcps_clock_precise();
		__builtin_memcpy(&e->key, k, sizeof(*k));
		e->ts = ts;
		e->ifindex = ifindex;
		e->side = a->side;
		e->from = a->from;
		e->to = a->to;
		e->reason = TCPS_REASON_PACKET;
		e->tcp_flags = tcp_flags;
		e->conn_flags = conn_flags;
		e->seq = a->seq;
		__builtin_memset(e->pad, 0, sizeof(e->pad));
		e->prev_state_ns = prev;
		tcps_event_submit(e);
	}
}

/*
 * Entries stay in the half-open table until the three-way handshake is
 * complete (or the first packet was mid-stream): a spoofed SYN flood that
 * an open port answers with SYN+ACKs, or a port scan answered with RSTs,
 * then fills only that table and never takes room in the main one.
 */
TCPS_PATH_INLINE int tcps_handshaking(__u8 a, __u8 b)
{
	return a == TCPS_SYN_SENT || a == TCPS_SYN_RECV || b == TCPS_SYN_SENT ||
	       b == TCPS_SYN_RECV || (a == TCPS_CLOSE && b == TCPS_CLOSE);
}

/* Every segment of a tracked connection, counted for its sender. */
TCPS_PATH_INLINE void tcps_touch(struct tcps_conn *conn, int s, const struct tcps_seg *g, __u64 now)
{
	/* Plain adds, not atomics: pkts[s]/bytes[s] are written only by
	 * packets side s sends, which one CPU handles at a time (RSS, the
	 * socket lock); a lock-prefixed add cost 9 of the hot path's ~19 ns
	 * over the lookup floor. A rare concurrent send can lose a count,
	 * never a state: states change only under the lock. */
	/* Once a tick, not once a packet: both directions share this line. */
	if (conn->last_tick != tcps_tick(now))
		conn->last_tick = tcps_tick(now);
	/* The counters and the time in ns are past the slim value's end
	 * (health off). */
	if (tcps_health_on()) {
		if (conn->last_seen != now)
			conn->last_seen = now;
		conn->pkts[s & 1] += 1;
		conn->bytes[s & 1] += g->len;
	}
}

/* The hot path: a segment that can change no state (tcps_fsm_steady),
 * handled without the lock. Returns 0, having written nothing, when the
 * segment needs the locked step instead. */
TCPS_PATH_INLINE int tcps_update_steady(struct tcps_counters *cnt, struct tcps_conn *conn,
					const struct tcps_key *k, int s, const struct tcps_seg *g,
					__u64 now)
{
	__u64 pnow = 0;		/* the precise clock, once read */

	if (!tcps_fsm_steady(&conn->fsm, g))
		return 0;
	tcps_touch(conn, s, g, now);
	if (!tcps_seg_acceptable(&conn->fsm, s & 1, g)) {
		tcps_count(cnt, TCPS_CNT_OOW);
		return 1;
	}
	/* Health counts only segments the state machine accepts (a blind
	 * spoofer must not move it), classified against the sender as it
	 * was before this segment (tcps_health_classify). */
	if (tcps_health_on())
		tcps_health_apply(cnt, conn, k, s, g, tcps_health_classify(&conn->fsm, s, g),
				  &pnow);
	tcps_ep_sent(&conn->fsm, s & 1, g);
	return 1;
}

/* The locked step's entry k of the main table, locked, once the one found
 * without the lock turned out no longer to be k's (TCPS_PATH_CONN_STILL:
 * moved by the collector, or deleted): looked up again, once. NULL, with
 * no lock held, if k is gone or moved again (the segment is then not
 * tracked: it fails open). */
TCPS_PATH_INLINE struct tcps_conn *tcps_conn_relock(const struct tcps_key *k)
{
	struct tcps_conn *conn = tcps_tbl_lookup(TCPS_TBL_CONNS, k);

	if (!conn)
		return NULL;
	tcps_conn_lock(conn);
	if (TCPS_PATH_CONN_STILL(conn, k, TCPS_TBL_CONNS))
		return conn;
	tcps_conn_unlock(conn);
	return NULL;
}

/* tcps_update's locked step, for a segment tcps_update_steady has just
 * turned down. Returns what tcps_update does. */
TCPS_PATH_INLINE int tcps_update_locked(struct tcps_counters *cnt, struct tcps_conn *conn,
					const struct tcps_key *k, int s, const struct tcps_seg *g,
					__u32 ifindex, __u64 now, int halfopen)
{
	struct tcps_scratch *sc;
	__u64 pnow = 0;		/* the precise clock, once read */
	int health = tcps_health_on();
	__u8 cflags, g0, g1;	/* g0/g1: gauge state before/after the step */
	__u8 verdict;

	tcps_touch(conn, s, g, now);

	sc = tcps_scratch_get();
	if (!sc)
		return 0;
	tcps_conn_lock(conn);
	if (!TCPS_PATH_CONN_STILL(conn, k, halfopen ? TCPS_TBL_HALFOPEN : TCPS_TBL_CONNS)) {
		tcps_conn_unlock(conn);
		conn = halfopen ? NULL : tcps_conn_relock(k);
		if (!conn)
			return 0;
	}
	g0 = tcps_gauge_state(&conn->fsm);
	/* In the scratch, not a local: one more live value here took the
	 * BPF stack past 512 bytes. */
	sc->st.hcls = health ? tcps_health_classify(&conn->fsm, s, g) : 0;
	verdict = tcps_fsm_step(&conn->fsm, s, g, &sc->st);
	g1 = tcps_gauge_state(&conn->fsm);
	cflags = conn->fsm.flags;
	if (halfopen)		/* for tcps_promote */
		((struct tcps_conn *)sc->conn)->fsm = conn->fsm;
	tcps_conn_unlock(conn);
	tcps_gauge_move(g0, g1);

	if (verdict == TCPS_V_OOW || verdict == TCPS_V_INVALID)
		tcps_count(cnt, TCPS_CNT_OOW);
	/* After the unlock: the precise clock is no helper to call under it. */
	if (health && verdict == TCPS_V_REOPEN) {
		conn->first_seen = now;	/* a reused tuple starts a new life */
		tcps_health_open(conn, &pnow);
	} else if (health && (verdict == TCPS_V_OK || (verdict == TCPS_V_INVALID &&
							(g->flags & TCPS_SYN)))) {
		/* A SYN refused as INVALID passed the window check (a resent SYN
		 * after its SYN+ACK was lost): health counts it, as before. */
		pnow = tcps_health_accepted(cnt, conn, k, g, (s & 1) | sc->st.hcls << 1);
	}
	if (health)
		tcps_health_closed(conn, k, &sc->st, now);
	tcps_emit(cnt, k, &sc->st, cflags, g->flags, ifindex, health ? &conn->h : 0, pnow);
	return halfopen && !tcps_handshaking(sc->st.to[0], sc->st.to[1]);
}

/* A packet of a connection we already track (in either table). Returns
 * nonzero when a half-open entry has now been answered and belongs in the
 * main table; sc->conn then holds its new value. */
TCPS_PATH_INLINE int tcps_update(struct tcps_counters *cnt, struct tcps_conn *conn,
				 const struct tcps_key *k, int s, const struct tcps_seg *g,
				 __u32 ifindex, __u64 now, int halfopen)
{
	if (tcps_update_steady(cnt, conn, k, s, g, now))
		return 0;
	return tcps_update_locked(cnt, conn, k, s, g, ifindex, now, halfopen);
}

TCPS_PATH_INLINE void tcps_promote(struct tcps_counters *cnt, const struct tcps_key *k,
				   struct tcps_conn *old)
{
	struct tcps_scratch *sc;
	struct tcps_conn *nc;
	__u8 was;

	sc = tcps_scratch_get();
	if (!sc)
		return;
	nc = (struct tcps_conn *)sc->conn;
	nc->last_tick = old->last_tick;
	/* Health off: the tables end before first_seen (tcpscope.h
	 * TCPS_CONN_SIZE_SLIM), so old's are out of bounds; the insert copies
	 * only the table's value size of the scratch. */
	if (tcps_health_on()) {
		nc->first_seen = old->first_seen;
		nc->last_seen = old->last_seen;
		nc->ifindex = old->ifindex;
		nc->hs_t = old->hs_t;
		nc->pkts[0] = old->pkts[0];
		nc->pkts[1] = old->pkts[1];
		nc->bytes[0] = old->bytes[0];
		nc->bytes[1] = old->bytes[1];
		nc->h = old->h;
	}
	if (tcps_tbl_insert(TCPS_TBL_CONNS, k, nc)) {
		tcps_count(cnt, TCPS_CNT_TABLE_FULL);
		return;		/* stays half-open; tracking goes on there */
	}
	/* Gauges: the entry moves table. They counted the half-open entry in
	 * the state it holds now (another CPU may have stepped it since our
	 * copy); the main table holds our copy's state. */
	was = tcps_gauge_state(&old->fsm);
	tcps_tbl_delete(TCPS_TBL_HALFOPEN, k);
	tcps_gauge_add(TCPS_G_HALFOPEN, (__u64)-1);
	tcps_gauge_add(TCPS_G_CONNS, 1);
	tcps_gauge_move(was, tcps_gauge_state(&nc->fsm));
	tcps_count(cnt, TCPS_CNT_PROMOTED);
}

/* The value of a new entry, made in sc->conn from segment g of side s and
 * stepped through the state machine (sc->st: its arcs). Nonzero when the
 * segment creates nothing (a scan). *pnow: the precise clock, once read. */
TCPS_PATH_INLINE int tcps_new_entry(struct tcps_counters *cnt, struct tcps_scratch *sc,
				    const struct tcps_key *k, int s, const struct tcps_seg *g, int dir,
				    __u32 ifindex, __u64 now, __u64 *pnow)
{
	struct tcps_conn *nc = (struct tcps_conn *)sc->conn;
	int i;

	__builtin_memset(nc, 0, sizeof(*nc));
	nc->fsm.flags = TCPS_C_NEW;
	if (tcps_host_mode())
		nc->fsm.flags |= ((dir == TCPS_DIR_OUT) == (s == 0)) ? TCPS_C_LOCAL0 : TCPS_C_LOCAL1;
	/* Before the step, which fills in the sender (health reads it as it
	 * was); not for a segment that creates nothing (a scan). */
	if (tcps_health_on() && tcps_fsm_may_create(g->flags)) {
		if ((g->flags & (TCPS_SYN | TCPS_ACK | TCPS_RST | TCPS_FIN)) == TCPS_SYN)
			tcps_health_open(nc, pnow);
		tcps_health_seg(cnt, nc, k, s, g, pnow);
	}
	if (tcps_fsm_step(&nc->fsm, s, g, &sc->st) == TCPS_V_NOCREATE)
		return 1;
	if (tcps_health_on() && sc->st.n) {
		/* The creating arcs leave CLOSE, whose time is unknown (0). */
		if (!*pnow)
			*pnow = tcps_clock_precise();
		for (i = 0; i < TCPS_STEP_ARCS; i++) {
			if (i >= sc->st.n)
				break;
			nc->h.trans_ns[sc->st.arc[i].side & 1] = *pnow;
		}
	}
	nc->ifindex = ifindex;
	nc->first_seen = now;
	nc->last_seen = now;
	nc->last_tick = tcps_tick(now);
	if (s) {
		nc->pkts[1] = 1;
		nc->bytes[1] = g->len;
	} else {
		nc->pkts[0] = 1;
		nc->bytes[0] = g->len;
	}
	return 0;
}

/* Counters and gauges of an entry just created in table tbl. */
TCPS_PATH_INLINE void tcps_created(struct tcps_counters *cnt, const struct tcps_fsm *f, int tbl)
{
	tcps_count(cnt, TCPS_CNT_NEW_CONN);
	tcps_gauge_add(TCPS_G_STATE + tcps_gauge_state(f), 1);
	tcps_gauge_add(tbl == TCPS_TBL_HALFOPEN ? TCPS_G_HALFOPEN : TCPS_G_CONNS, 1);
	if (tbl == TCPS_TBL_HALFOPEN)
		tcps_count(cnt, TCPS_CNT_HALFOPEN_NEW);
	if (f->flags & TCPS_C_MIDSTREAM)
		tcps_count(cnt, TCPS_CNT_MIDSTREAM);
}

TCPS_PATH_INLINE void tcps_create(struct tcps_counters *cnt, const struct tcps_key *k, int s,
				  const struct tcps_seg *g, int dir, __u32 ifindex, __u64 now)
{
	struct tcps_scratch *sc;
	struct tcps_conn *nc;
	__u64 pnow = 0;
	int tbl, err;

	sc = tcps_scratch_get();
	if (!sc || tcps_new_entry(cnt, sc, k, s, g, dir, ifindex, now, &pnow))
		return;
	nc = (struct tcps_conn *)sc->conn;
	tbl = tcps_handshaking(nc->fsm.ep[0].state, nc->fsm.ep[1].state) ? TCPS_TBL_HALFOPEN :
									   TCPS_TBL_CONNS;
	err = tcps_tbl_insert(tbl, k, nc);
	if (err == -TCPS_EEXIST) {
		/* Another CPU created it first: this packet is its second. The
		 * entry's table told (TCPS_PATH_CONN_STILL); a promotion it
		 * may ask for is left to the next segment, as before. */
		struct tcps_conn *conn = tcps_tbl_lookup(tbl, k);

		if (conn)
			tcps_update(cnt, conn, k, s, g, ifindex, now, tbl == TCPS_TBL_HALFOPEN);
		return;
	}
	if (err) {
		tcps_count(cnt, TCPS_CNT_TABLE_FULL);
		return;
	}
	tcps_created(cnt, &nc->fsm, tbl);
	tcps_emit(cnt, k, &sc->st, nc->fsm.flags, g->flags, ifindex, 0, pnow);
}

/* One parsed segment sent by side s of connection k. conns_missed: the
 * caller has just looked k up in the main table and found nothing
 * (tcps_frame_hot), so the search goes on from the half-open table, as it
 * would have after its own miss. */
TCPS_PATH_INLINE void tcps_path_segment_from(struct tcps_counters *cnt, const struct tcps_key *k,
					     int s, const struct tcps_seg *g, int dir, __u32 ifindex,
					     __u64 now, int conns_missed)
{
	struct tcps_conn *conn;

	if (!conns_missed) {
		conn = tcps_tbl_lookup(TCPS_TBL_CONNS, k);
		if (conn) {
			tcps_update(cnt, conn, k, s, g, ifindex, now, 0);
			return;
		}
	}
	conn = tcps_tbl_lookup(TCPS_TBL_HALFOPEN, k);
	if (conn) {
		if (tcps_update(cnt, conn, k, s, g, ifindex, now, 1))
			tcps_promote(cnt, k, conn);
		return;
	}
	tcps_create(cnt, k, s, g, dir, ifindex, now);
}

TCPS_PATH_INLINE void tcps_path_segment(struct tcps_counters *cnt, const struct tcps_key *k, int s,
					const struct tcps_seg *g, int dir, __u32 ifindex, __u64 now)
{
	tcps_path_segment_from(cnt, k, s, g, dir, ifindex, now, 0);
}

#endif /* TCPS_PATH_H */
