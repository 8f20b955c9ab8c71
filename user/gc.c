// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Expiry. The tables are walked with BPF_MAP_LOOKUP_BATCH (a get-next-key
 * loop costs 2-3 syscalls per entry, DESIGN §1), values read under the
 * entry's spin lock (BPF_F_LOCK).
 *
 * Race with the data path, accepted knowingly: an entry found expired is
 * read again under its lock just before it is deleted and kept if its
 * last_seen or states moved. A packet arriving between that re-read and
 * the delete (a window of one syscall, after minutes of silence) updates
 * the doomed entry and is lost; the connection's next packet re-creates
 * it as a mid-stream entry, so the cost is one mislabelled entry, never
 * a dropped packet.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "gauges.h"
#include "gc.h"
#include "stale.h"

#define GC_BATCH 1024
#define GC_BUDGET 16384		/* entries per 100 ms tick: bounds the tick's run time */
#define GC_PERIOD_NS 1000000000ULL
#define GC_LOG_NS (10 * 1000000000ULL)	/* rate limit of the table-pressure log */
#define GC_EARLY_HIGH 90	/* % full: start dropping closing entries */
#define GC_EARLY_LOW 80		/* % full: stop */
#define GC_EARLY_MAX 65536	/* candidates remembered per pass */

void tcps_timeouts_default(struct tcps_timeouts *t, __u32 mode)
{
	memset(t, 0, sizeof(*t));
	t->state_s[TCPS_ESTABLISHED] = TCPS_TO_ESTABLISHED;
	t->state_s[TCPS_SYN_SENT] = TCPS_TO_SYN_SENT;
	t->state_s[TCPS_SYN_RECV] = TCPS_TO_SYN_RECV;
	t->state_s[TCPS_FIN_WAIT1] = TCPS_TO_FIN_WAIT1;
	t->state_s[TCPS_FIN_WAIT2] = TCPS_TO_FIN_WAIT2;
	t->state_s[TCPS_TIME_WAIT] = TCPS_TO_TIME_WAIT;
	t->state_s[TCPS_CLOSE] = TCPS_TO_CLOSE_LINGER;
	t->state_s[TCPS_CLOSE_WAIT] = TCPS_TO_CLOSE_WAIT;
	t->state_s[TCPS_LAST_ACK] = TCPS_TO_LAST_ACK;
	t->state_s[TCPS_CLOSING] = TCPS_TO_CLOSING;
	t->state_s[TCPS_LISTEN] = 0;	/* listeners come and go with the seed refresh */
	t->midstream_s = TCPS_TO_MIDSTREAM;
	t->mode = mode;
}

static __u32 state_timeout(const struct tcps_conn *c, __u8 st, const struct tcps_timeouts *t)
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
 * Which state's timeout applies: in host mode the local side's, as netstat
 * shows it (when the local socket is gone, so is the entry, after the
 * linger); otherwise the most patient of the endpoints still open.
 */
__u32 tcps_gc_timeout(const struct tcps_conn *c, const struct tcps_timeouts *t)
{
	__u8 s0 = c->fsm.ep[0].state, s1 = c->fsm.ep[1].state;
	__u32 t0, t1;

	if (t->mode == TCPS_MODE_HOST && (c->fsm.flags & (TCPS_C_LOCAL0 | TCPS_C_LOCAL1)))
		return state_timeout(c, c->fsm.ep[!!(c->fsm.flags & TCPS_C_LOCAL1)].state, t);
	if (s0 == TCPS_CLOSE && s1 == TCPS_CLOSE)
		return t->state_s[TCPS_CLOSE];
	t0 = s0 == TCPS_CLOSE ? 1 : state_timeout(c, s0, t);
	t1 = s1 == TCPS_CLOSE ? 1 : state_timeout(c, s1, t);
	if (!t0 || !t1)
		return 0;
	return t0 > t1 ? t0 : t1;
}

bool tcps_gc_expired(const struct tcps_conn *c, __u64 now, const struct tcps_timeouts *t)
{
	__u32 to = tcps_gc_timeout(c, t);

	if (!to || c->last_seen > now)
		return false;
	return now - c->last_seen >= (__u64)to * 1000000000ULL;
}

/* Delete k if it has not moved since `seen`; report its open endpoints. */
static int gc_remove(int fd, const struct tcps_key *k, const struct tcps_conn *seen, __u64 now,
		     tcps_gc_emit_fn emit, void *ctx)
{
	struct tcps_conn cur, gone;
	int side;

	if (bpf_map_lookup_elem_flags(fd, k, &cur, BPF_F_LOCK))
		return 0;	/* already gone */
	if (cur.last_seen != seen->last_seen || cur.fsm.ep[0].state != seen->fsm.ep[0].state ||
	    cur.fsm.ep[1].state != seen->fsm.ep[1].state)
		return 0;	/* a packet came: it lives on */
	/* The value as it left the table, for the gauges (gauges.c). */
	if (bpf_map_lookup_and_delete_elem_flags(fd, k, &gone, BPF_F_LOCK))
		return 0;
	tcps_gauge_note(&tcps_daemon_gauges, fd, &gone, -1);
	for (side = 0; side < 2 && emit; side++) {
		struct tcps_event e;

		if (cur.fsm.ep[side].state == TCPS_CLOSE)
			continue;
		memset(&e, 0, sizeof(e));
		e.key = *k;
		e.ts = now;
		e.ifindex = cur.ifindex;
		e.side = (__u8)side;
		e.from = cur.fsm.ep[side].state;
		e.to = TCPS_CLOSE;
		e.reason = TCPS_REASON_TIMEOUT;
		e.conn_flags = cur.fsm.flags;
		if (cur.h.trans_ns[side] && now > cur.h.trans_ns[side])	/* health: time in `from` */
			e.prev_state_ns = now - cur.h.trans_ns[side];
		e.seq = ++cur.fsm.evseq;	/* continues the connection's numbering */
		emit(ctx, &e);
	}
	return 1;
}

/* A resumable walk over one map (the batch cursor of a hash map is a
 * bucket index, valid across calls). */
struct gc_walk {
	int fd;
	bool active;
	bool has_cursor;
	__u8 cursor[sizeof(struct tcps_key)];
	struct tcps_key *keys;
	struct tcps_conn *vals;
	__u64 seen;		/* entries seen in this pass */
};

/* Early-drop candidates of a pass: closing entries (CLOSE, TIME_WAIT). */
struct gc_cands {
	struct tcps_key *keys;
	struct tcps_conn *vals;
	size_t n;
};

/* Process up to budget entries; returns how many, or -errno. Sets
 * w->active = false at the end of the map. */
static int gc_walk_step(struct gc_walk *w, int budget, __u64 now, const struct tcps_timeouts *t,
			tcps_gc_emit_fn emit, void *ctx, struct gc_cands *cands, __u64 *removed)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_F_LOCK);
	int done = 0;

	while (w->active && done < budget) {
		__u8 out[sizeof(struct tcps_key)];
		__u32 count = GC_BATCH, i;
		int rc = bpf_map_lookup_batch(w->fd, w->has_cursor ? w->cursor : NULL, out, w->keys,
					      w->vals, &count, &opts);

		if (rc && errno != ENOENT)
			return -errno;
		for (i = 0; i < count; i++) {
			const struct tcps_conn *c = &w->vals[i];

			if (tcps_gc_expired(c, now, t)) {
				*removed += (__u64)gc_remove(w->fd, &w->keys[i], c, now, emit, ctx);
				continue;
			}
			if (cands && cands->n < GC_EARLY_MAX) {
				__u8 l = c->fsm.ep[!!(c->fsm.flags & TCPS_C_LOCAL1)].state;

				if (t->mode != TCPS_MODE_HOST)
					l = c->fsm.ep[0].state > c->fsm.ep[1].state ?
						    c->fsm.ep[1].state : c->fsm.ep[0].state;
				if (l == TCPS_CLOSE || l == TCPS_TIME_WAIT) {
					cands->keys[cands->n] = w->keys[i];
					cands->vals[cands->n++] = *c;
				}
			}
		}
		w->seen += count;
		done += (int)count;
		if (rc) {	/* ENOENT: that was the last batch */
			w->active = false;
			break;
		}
		memcpy(w->cursor, out, sizeof(out));
		w->has_cursor = true;
	}
	return done;
}

static int gc_walk_init(struct gc_walk *w, int fd)
{
	memset(w, 0, sizeof(*w));
	w->fd = fd;
	w->keys = calloc(GC_BATCH, sizeof(*w->keys));
	w->vals = calloc(GC_BATCH, sizeof(*w->vals));
	return w->keys && w->vals ? 0 : -ENOMEM;
}

static void gc_walk_free(struct gc_walk *w)
{
	free(w->keys);
	free(w->vals);
	w->keys = NULL;
	w->vals = NULL;
}

static void gc_walk_begin(struct gc_walk *w)
{
	w->active = w->fd >= 0;
	w->has_cursor = false;
	w->seen = 0;
}

int tcps_gc_sweep(int conns_fd, int halfopen_fd, __u64 now_ns, const struct tcps_timeouts *t,
		  tcps_gc_emit_fn emit, void *ctx)
{
	int fds[2] = { conns_fd, halfopen_fd }, i, err = 0;
	__u64 removed = 0;
	struct gc_walk w;

	for (i = 0; i < 2 && !err; i++) {
		if (fds[i] < 0)
			continue;
		err = gc_walk_init(&w, fds[i]);
		if (!err) {
			gc_walk_begin(&w);
			while (w.active) {
				int rc = gc_walk_step(&w, GC_BUDGET, now_ns, t, emit, ctx, NULL, &removed);

				if (rc < 0) {
					err = rc;
					break;
				}
			}
		}
		gc_walk_free(&w);
	}
	return err ? err : (int)(removed > INT32_MAX ? INT32_MAX : removed);
}

/* ---- the daemon module ---- */

static struct gc_state {
	struct tcps_daemon *d;
	struct tcps_timeouts t;
	struct gc_walk walk[2];	/* conns, halfopen */
	struct gc_cands cands;
	__u32 max_conns;
	__u64 pass_start;
	__u64 removed;
	__u64 early_drops, early_logged;
	__u64 table_full_logged;
	__u64 last_log;
	bool running;
} gc;

static void gc_emit(void *ctx, const struct tcps_event *e)
{
	tcps_daemon_emit(ctx, e);
}

int tcps_gc_start(struct tcps_daemon *d)
{
	struct tcps_run_opts *o = d->opts;
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	int st, rc;

	memset(&gc, 0, sizeof(gc));
	gc.d = d;
	/* Before the first sweep deletes: gc and seed adjust the gauges. */
	rc = tcps_gauge_owner_init(&tcps_daemon_gauges, d->pins.trans, d->pins.conns,
				   d->pins.halfopen, o->mode);
	if (rc)
		pr_warn("gauges: %s; stat counts will drift (stat --walk counts the table)",
			strerror(-rc));
	tcps_timeouts_default(&gc.t, o->mode);
	for (st = 1; st < TCPS_STATE_MAX; st++)
		if (o->timeouts_s[st] && st != TCPS_LISTEN)
			gc.t.state_s[st] = o->timeouts_s[st];
	if (o->time_wait_s)
		gc.t.state_s[TCPS_TIME_WAIT] = o->time_wait_s;
	if (o->close_linger_s)
		gc.t.state_s[TCPS_CLOSE] = o->close_linger_s;
	gc.max_conns = o->max_conns;
	if (!bpf_obj_get_info_by_fd(d->pins.conns, &info, &len))
		gc.max_conns = info.max_entries;	/* an adopted table keeps its size */
	if (gc_walk_init(&gc.walk[0], d->pins.conns) || gc_walk_init(&gc.walk[1], d->pins.halfopen))
		goto nomem;
	gc.cands.keys = calloc(GC_EARLY_MAX, sizeof(*gc.cands.keys));
	gc.cands.vals = calloc(GC_EARLY_MAX, sizeof(*gc.cands.vals));
	if (!gc.cands.keys || !gc.cands.vals)
		goto nomem;
	gc.running = true;
	pr_debug("gc: TIME_WAIT %us, CLOSE linger %us, ESTABLISHED %us, mid-stream %us",
		 gc.t.state_s[TCPS_TIME_WAIT], gc.t.state_s[TCPS_CLOSE],
		 gc.t.state_s[TCPS_ESTABLISHED], gc.t.midstream_s);
	/* For queries while no daemon runs (a --persist gap, a crash): they
	 * expire by these, not by the defaults. */
	rc = tcps_timeouts_record(o->pin_dir, &d->pins.meta, &gc.t);
	if (rc)
		pr_warn("cannot record the timeouts for queries: %s", strerror(-rc));
	/* Expire on adoption: what timed out while no daemon ran leaves now,
	 * as timeout transitions, before the first query is served (the
	 * HTTP module starts after this one). A new table is empty. */
	rc = tcps_gc_sweep(d->pins.conns, d->pins.halfopen, tcps_mono_now(), &gc.t, gc_emit, d);
	if (rc > 0)
		pr_info("expired %d entries that timed out while no daemon ran", rc);
	else if (rc < 0)
		pr_warn("gc: first sweep: %s", strerror(-rc));
	if (rc > 0)
		gc.removed += (__u64)rc;
	return 0;
nomem:
	pr_err("gc: out of memory");
	tcps_gc_stop(d);
	return TCPS_EXIT_FAIL;
}

/* Netfilter's early drop: when the table is nearly full, closing entries
 * (CLOSE, TIME_WAIT) make room first, so new connections can be tracked. */
static void gc_early_drop(__u64 now)
{
	__u64 used = gc.walk[0].seen, high = (__u64)gc.max_conns * GC_EARLY_HIGH / 100;
	__u64 low = (__u64)gc.max_conns * GC_EARLY_LOW / 100;
	size_t i;

	if (used < high || !gc.cands.n)
		return;
	for (i = 0; i < gc.cands.n && used > low; i++) {
		if (gc_remove(gc.d->pins.conns, &gc.cands.keys[i], &gc.cands.vals[i], now, gc_emit,
			      gc.d)) {
			gc.early_drops++;
			used--;
		}
	}
}

static void gc_log_pressure(__u64 now)
{
	__u64 cnt[TCPS_CNT_MAX];

	if (now - gc.last_log < GC_LOG_NS && gc.last_log)
		return;
	if (tcps_counters_read(gc.d->pins.stats, cnt))
		return;
	if (cnt[TCPS_CNT_TABLE_FULL] == gc.table_full_logged && gc.early_drops == gc.early_logged)
		return;
	pr_warn("connection table %llu/%u: %llu inserts refused (table full), %llu closing entries dropped early, since start",
		(unsigned long long)gc.walk[0].seen, gc.max_conns,
		(unsigned long long)cnt[TCPS_CNT_TABLE_FULL], (unsigned long long)gc.early_drops);
	gc.table_full_logged = cnt[TCPS_CNT_TABLE_FULL];
	gc.early_logged = gc.early_drops;
	gc.last_log = now;
}

void tcps_gc_tick(struct tcps_daemon *d, __u64 now)
{
	int budget = GC_BUDGET, i, rc;

	(void)d;
	if (!gc.running)
		return;
	if (!gc.walk[0].active && !gc.walk[1].active) {
		if (gc.pass_start && now - gc.pass_start < GC_PERIOD_NS)
			return;
		gc.pass_start = now;
		gc.cands.n = 0;
		gc_walk_begin(&gc.walk[0]);
		gc_walk_begin(&gc.walk[1]);
	}
	for (i = 0; i < 2 && budget > 0; i++) {
		bool was = gc.walk[i].active;

		rc = gc_walk_step(&gc.walk[i], budget, now, &gc.t, gc_emit, d,
				  i == 0 ? &gc.cands : NULL, &gc.removed);
		if (rc < 0) {
			pr_warn("gc: walking the %s table: %s", i ? "half-open" : "connection",
				strerror(-rc));
			gc.walk[i].active = false;
			continue;
		}
		budget -= rc;
		if (i == 0 && was && !gc.walk[0].active) {
			gc_early_drop(now);
			gc_log_pressure(now);
		}
	}
}

void tcps_gc_stop(struct tcps_daemon *d)
{
	/* A --persist exit leaves the table to queries: they need these. */
	if (gc.running && !d->opts->persist)
		tcps_timeouts_forget(d->opts->pin_dir);
	if (gc.removed || gc.early_drops)
		pr_info("gc: %llu entries expired, %llu dropped early", (unsigned long long)gc.removed,
			(unsigned long long)gc.early_drops);
	gc_walk_free(&gc.walk[0]);
	gc_walk_free(&gc.walk[1]);
	tcps_gauge_owner_fini(&tcps_daemon_gauges);
	free(gc.cands.keys);
	free(gc.cands.vals);
	gc.cands.keys = NULL;
	gc.cands.vals = NULL;
	gc.running = false;
}
