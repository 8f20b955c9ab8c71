/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * One frame, from the parser's result to tcps_path_segment(): what every
 * entry point does per frame. Pure C like tcps_path.h, shared by the BPF
 * hooks (bpf/tcpscope.bpf.c) and the native replay backend
 * (user/replay_native.c). The two differ only in how a SYN's options are
 * copied out of the frame (bpf_xdp/skb_load_bytes, memcpy).
 *
 * Uses bpf/parse.h (pure as well); the includer defines TCPS_PATH_INLINE
 * first, as for tcps_path.h.
 */
#ifndef TCPS_FRAME_H
#define TCPS_FRAME_H

#include "parse.h"
#include "tcps_path.h"

/* Count a parse result: every frame, then TCP or why not. Nonzero when p
 * holds a TCP segment to track. */
TCPS_PATH_INLINE int tcps_frame_count(struct tcps_counters *cnt, int rc)
{
	cnt->c[TCPS_CNT_PACKETS]++;
	if (rc != TCPS_P_TCP) {
		tcps_count(cnt, rc == TCPS_P_NOT_TCP ? TCPS_CNT_NON_TCP :
				rc == TCPS_P_FRAGMENT ? TCPS_CNT_FRAGMENTS : TCPS_CNT_PARSE_ERR);
		return 0;
	}
	cnt->c[TCPS_CNT_TCP]++;
	return 1;
}

/* Bytes of options the caller copies from the frame at p->opt_off into
 * p->opts, for tcps_frame_track to walk: a SYN's (the window scale,
 * RFC 7323 §2.2: sent only in SYNs), and, with health on, those of a
 * segment whose timestamp the parser's fixed-layout fast path missed. 0,
 * with p->opt_len cleared, for any other segment. */
TCPS_PATH_INLINE __u32 tcps_frame_syn_opts(struct tcps_parsed *p)
{
	__u32 len = p->opt_len;

	if ((!(p->seg.flags & TCPS_SYN) && (p->seg.has_ts || !tcps_health_on())) || len == 0 ||
	    len > 40) {
		p->opt_len = 0;
		return 0;
	}
	return len;
}

/* What tcps_frame_hot left to do (tcps_frame_track's hint). */
enum tcps_frame_hint {
	TCPS_HOT_DONE = 0,	/* an ACK of an entry in the main table, handled */
	TCPS_HOT_TRACK,		/* all of tcps_frame_track still to do */
	TCPS_HOT_MISSED,	/* not in the main table: the search goes on from the half-open one */
};

/* An ACK tcps_frame_hot found in the main table but could not take as
 * steady (the ACK completing a handshake on a reused tuple, or one of a
 * FIN): the locked step tcps_path_segment would take after its own lookup
 * and a second tcps_update_steady, on the entry already found. (That
 * second test could pass only if another CPU stepped the entry in
 * between; the locked step then steps it from there.) Not a global
 * function: the verifier types a global function's arguments from BTF,
 * so the entry would reach it as plain memory, whose bpf_spin_lock it may
 * not take. Not inlined: tcps_update's locals in the entry points' frame
 * took the deepest call chain past the 512-byte BPF stack. Five arguments
 * at most: the sender's side is worked out again with the key (the same
 * bytes). */
static __attribute__((noinline)) void tcps_frame_step(struct tcps_counters *cnt,
						      struct tcps_conn *conn,
						      struct tcps_parsed *p, __u32 ifindex,
						      __u64 now)
{
	int s = tcps_parsed_key(p, &p->key);

	tcps_update_locked(cnt, conn, &p->key, s, &p->seg, ifindex, now, 0);
}

/* The hot path, after the copy: an ACK with no options left to walk
 * (p->opt_len 0), looked up once in the main table. One that can change
 * no state (tcps_update_steady) is handled here, without the lock; any
 * other found there goes through tcps_frame_step with the same entry. The
 * BPF hooks inline this ahead of their call into tcps_track, which costs
 * ~7 ns on this CPU (bench/NOTES.md). */
TCPS_PATH_INLINE int tcps_frame_hot(struct tcps_parsed *p, struct tcps_counters *cnt,
				    __u64 now, __u32 ifindex)
{
	struct tcps_conn *conn;
	int s;

	/* A SYN, FIN or RST is never steady: straight to tcps_track, which
	 * would otherwise look the entry up a second time. */
	if (p->opt_len || (p->seg.flags & (TCPS_SYN | TCPS_FIN | TCPS_RST | TCPS_ACK)) != TCPS_ACK)
		return TCPS_HOT_TRACK;
	s = tcps_parsed_key(p, &p->key);	/* tcps_key_make writes every byte */
	conn = tcps_tbl_lookup(TCPS_TBL_CONNS, &p->key);
	if (!conn)
		return TCPS_HOT_MISSED;
	if (!tcps_update_steady(cnt, conn, &p->key, s, &p->seg, now))
		tcps_frame_step(cnt, conn, p, ifindex, now);
	return TCPS_HOT_DONE;
}

/* After the copy and tcps_frame_hot (hint, enum tcps_frame_hint): the
 * window scale, the canonical key, the data path. */
TCPS_PATH_INLINE void tcps_frame_track(struct tcps_parsed *p, struct tcps_counters *cnt, int dir,
				       __u32 ifindex, __u64 now, int hint)
{
	struct tcps_key k;	/* tcps_key_make writes every byte */
	int s;

	if (hint == TCPS_HOT_DONE)
		return;
	if (p->opt_len)
		tcps_parse_tcp_opts(p->opts, p->opt_len, &p->seg);
	s = tcps_parsed_key(p, &k);
	tcps_path_segment_from(cnt, &k, s, &p->seg, dir, ifindex, now, hint == TCPS_HOT_MISSED);
}

#endif /* TCPS_FRAME_H */
