// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Expiry. Finding what expired is done in the kernel: bpf/expire.bpf.c
 * visits every entry of a table where it lies and hands back only the keys
 * of the expired ones (the rule is include/tcps_expire.h, shared with the
 * queries). Copying the table out in batches to look at it here cost ~300
 * ns an entry, 7.5 % of a core for an idle daemon at 1M entries.
 *
 * Each key found goes through gc_remove: read again under the entry's spin
 * lock (BPF_F_LOCK), checked again by the same rule, in host mode looked up
 * in the kernel's socket table (a socket still held is silent, not gone:
 * gc_kernel_holds), deleted, reported.
 * Race with the data path, accepted knowingly: a packet arriving between
 * that re-read and the delete (a window of one syscall, after minutes of
 * silence) updates the doomed entry and is lost; the connection's next
 * packet re-creates it as a mid-stream entry, so the cost is one
 * mislabelled entry, never a dropped packet.
 *
 * Cadence: a scan costs ~15 ns per hash bucket (the kernel takes the RCU
 * read lock per bucket; an empty table is skipped) plus ~80-100 ns per
 * entry (cache misses): ~0.12 s at 1M entries (bench/NOTES.md). It runs
 * every GC_PERIOD_NS, or less often when that would let the scans take
 * more than 1/GC_IDLE_SHARE of a core: an entry leaves at most
 * max(1 s, GC_IDLE_SHARE x scan time) plus a tick after its timeout (1 s
 * for a small table, ~5 s at 200k entries, ~25 s at 1M), never more than
 * GC_MAX_PERIOD_NS. And no sooner than the first deadline the scan found:
 * when every entry is recent or in a state of long timeout (live
 * connections), the next scan comes a shortest timeout later (10 s by
 * default), not a second later (gc_next). The scan runs in a thread of its
 * own so that the main loop keeps draining the ring buffer meanwhile.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "daemon.h"
#include "diag.h"
#include "gauges.h"
#include "gc.h"
#include "slotcfg.h"
#include "stale.h"
#include "expire.skel.h"
#include "tcpscope.skel.h"

#define GC_PERIOD_NS 1000000000ULL	/* the shortest scan interval */
#define GC_MAX_PERIOD_NS (30 * 1000000000ULL)	/* the longest: bounds the lateness */
#define GC_IDLE_SHARE 200	/* idle: scans take at most 1/200 of a core (0.5 %) */
#define GC_BUSY_SHARE 20	/* backlog or table pressure: at most 1/20 (5 %) */
#define GC_LOG_NS (10 * 1000000000ULL)	/* rate limit of the table-pressure log */
#define GC_EARLY_HIGH 90	/* % full: start dropping closing entries */
#define GC_EARLY_LOW 80		/* % full: stop */
#define GC_SWEEP_MAX 4096	/* scans of one full sweep (each clears TCPS_EXPIRE_KEYS) */

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

__u32 tcps_gc_timeout(const struct tcps_conn *c, const struct tcps_timeouts *t)
{
	return tcps_expire_timeout(c, t);
}

bool tcps_gc_expired(const struct tcps_conn *c, __u64 now, const struct tcps_timeouts *t)
{
	return tcps_expire_due(c, now, t);
}

/* The scan program and its tables (bpf/expire.bpf.c). */
struct gc_scanner {
	struct expire_bpf *skel;
	int prog_fd;
	int hold_fd;		/* tcps_expire_hold */
	struct tcps_ctable tab[2];	/* tcps_conns, tcps_halfopen */
};

/*
 * Host mode: does the kernel still hold the local socket of c, in the
 * state c has for it? Then c is not gone, only silent: an application may
 * keep a socket in CLOSE_WAIT or ESTABLISHED for hours without a packet,
 * and netstat shows it all that time. The entry is held for one more
 * timeout (tcps_expire_hold counts it in fsm.holds), and the kernel asked
 * again when that one runs out. A socket gone, or in another state, lets
 * the entry expire. (Holds last until the next transition: an entry held
 * n times that talks again and then goes silently waits (n + 1) timeouts;
 * clearing them on every packet would cost the hot path a write.) Only for the states a socket can sit in silently:
 * TIME_WAIT is timed like the kernel's, CLOSE and LISTEN are not asked.
 */
static bool gc_kernel_holds(struct gc_scanner *s, const struct tcps_key *k,
			    const struct tcps_conn *c, const struct tcps_timeouts *t)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts);
	int l, st;

	if (t->mode != TCPS_MODE_HOST || !(c->fsm.flags & (TCPS_C_LOCAL0 | TCPS_C_LOCAL1)))
		return false;
	l = !!(c->fsm.flags & TCPS_C_LOCAL1);
	st = c->fsm.ep[l].state;
	if (st == TCPS_CLOSE || st == TCPS_TIME_WAIT || st == TCPS_LISTEN || st >= TCPS_STATE_MAX)
		return false;
	if (tcps_diag_state(k->family == TCPS_AF_INET6 ? AF_INET6 : AF_INET, k->addr[l], k->port[l],
			    k->addr[!l], k->port[!l]) != st)
		return false;
	s->skel->bss->hold_key = *k;
	return !bpf_prog_test_run_opts(s->hold_fd, &opts) && opts.retval == 1;
}

/* Why an entry is removed: it timed out, or it is closing and the table
 * is nearly full (early drop). */
enum gc_why {
	GC_EXPIRED,
	GC_EARLY,
};

/*
 * The removal of one entry, the only place the daemon deletes from the
 * tables: read k again under its lock, keep it if it no longer qualifies
 * (a packet came), delete it, report its open endpoints as timeout
 * transitions. Returns 1 if it was removed.
 */
static int gc_remove(struct gc_scanner *s, int table, const struct tcps_key *k, enum gc_why why,
		     __u64 now, const struct tcps_timeouts *t, tcps_gc_emit_fn emit, void *ctx)
{
	const struct tcps_ctable *tab = &s->tab[table];
	struct tcps_conn cur, gone;
	int side;

	if (tcps_ctable_lookup(tab, k, &cur, true))
		return 0;	/* already gone */
	if (why == GC_EXPIRED ? !tcps_expire_due(&cur, now, t) : !tcps_expire_closing(&cur, t->mode))
		return 0;	/* a packet came: it lives on */
	if (why == GC_EXPIRED && table == 0 && gc_kernel_holds(s, k, &cur, t))
		return 0;	/* silent, not gone */
	/* The value as it left the table: the gauges (gauges.c) and the
	 * timeout events take that, not the re-read above. */
	if (tcps_ctable_take(tab, k, &gone))
		return 0;
	tcps_gauge_note(&tcps_daemon_gauges, tab->fd, &gone, -1);
	for (side = 0; side < 2 && emit; side++) {
		struct tcps_event e;

		if (gone.fsm.ep[side].state == TCPS_CLOSE)
			continue;
		memset(&e, 0, sizeof(e));
		e.key = *k;
		e.ts = now;
		e.ifindex = gone.ifindex;
		e.side = (__u8)side;
		e.from = gone.fsm.ep[side].state;
		e.to = TCPS_CLOSE;
		e.reason = TCPS_REASON_TIMEOUT;
		e.conn_flags = gone.fsm.flags;
		if (gone.h.trans_ns[side] && now > gone.h.trans_ns[side])	/* health: time in `from` */
			e.prev_state_ns = now - gone.h.trans_ns[side];
		e.seq = ++gone.fsm.evseq;	/* continues the connection's numbering */
		emit(ctx, &e);
	}
	return 1;
}

/* ---- the in-kernel scan (bpf/expire.bpf.c) ---- */

static void gc_scanner_close(struct gc_scanner *s)
{
	expire_bpf__destroy(s->skel);
	s->skel = NULL;
}

/* Load the scan program over the live tables (tab[1].fd -1: none; the
 * program then scans an empty stand-in). */
static int gc_scanner_open(struct gc_scanner *s, const struct tcps_ctable tab[2])
{
	int err;

	memset(s, 0, sizeof(*s));
	s->tab[0] = tab[0];
	s->tab[1] = tab[1];
	s->skel = expire_bpf__open();
	if (!s->skel)
		return -errno;
	err = tcps_slots_rodata(s->skel->obj, tab[0].seed, tab[0].nslots);
	if (!err)
		err = bpf_map__reuse_fd(s->skel->maps.tcps_conns, tab[0].fd);
	if (!err && tab[1].fd >= 0)
		err = bpf_map__reuse_fd(s->skel->maps.tcps_halfopen, tab[1].fd);
	if (!err)
		err = expire_bpf__load(s->skel);
	if (err) {
		gc_scanner_close(s);
		return err;
	}
	s->prog_fd = bpf_program__fd(s->skel->progs.tcps_expire_scan);
	s->hold_fd = bpf_program__fd(s->skel->progs.tcps_expire_hold);
	return 0;
}

static __u64 thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
}

/* Set what the next scan looks for (before gc_scan_run). */
static void gc_scan_set(struct gc_scanner *s, __u64 now, const struct tcps_timeouts *t,
			__u32 early_want)
{
	struct tcps_expire_scan *sc = &s->skel->bss->scan;

	sc->to = *t;
	sc->now = now;
	sc->early_want = early_want;
}

/* One scan of both tables; the result is left in the program's .bss.
 * *cpu_ns: its CPU time. Touches nothing else (runs in the gc thread). */
static int gc_scan_run(struct gc_scanner *s, __u64 *cpu_ns)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts);
	struct tcps_expire_scan *sc = &s->skel->bss->scan;
	__u64 t0 = thread_cpu_ns();
	int err;

	/* An empty table is skipped: telling costs ~1 ns a bucket, the scan's
	 * walk ~15 (ctable.c). */
	sc->skip[0] = tcps_ctable_is_empty(&s->tab[0]);
	sc->skip[1] = tcps_ctable_is_empty(&s->tab[1]);
	err = bpf_prog_test_run_opts(s->prog_fd, &opts) ? -errno : (int)opts.retval;

	*cpu_ns = thread_cpu_ns() - t0;
	return err;
}

/* Netfilter's early drop: when the table is nearly full, closing entries
 * (CLOSE, TIME_WAIT) make room first, so new connections can be tracked. */
struct gc_early {
	__u64 high, low;	/* entries: start dropping at high, stop at low */
	bool want;		/* have the scan collect candidates */
	__u64 dropped;
};

/* What one pass did. */
struct gc_result {
	__u64 removed;		/* expired entries removed */
	__u64 dropped;		/* closing entries dropped early */
	__u64 entries;		/* left in the connection table */
	bool more;		/* expired entries left over for the next scan */
	bool more_early;	/* closing entries may be left over */
	__u64 next_due;		/* no entry, seen or new since, expires before */
};

/* Act on the last scan: remove what it found expired (and, with early,
 * drop closing entries from a nearly full connection table). */
static void gc_collect(struct gc_scanner *s, __u64 now, const struct tcps_timeouts *t,
		       struct gc_early *early, tcps_gc_emit_fn emit, void *ctx, struct gc_result *r)
{
	const struct expire_bpf__bss *b = s->skel->bss;
	__u64 gone[2] = { 0, 0 };
	__u32 i, n;
	int table;

	memset(r, 0, sizeof(*r));
	for (table = 0; table < 2; table++) {
		if (s->tab[table].fd < 0)
			continue;
		n = b->scan.found[table] < TCPS_EXPIRE_KEYS ? b->scan.found[table] : TCPS_EXPIRE_KEYS;
		for (i = 0; i < n; i++)
			gone[table] += (__u64)gc_remove(s, table, &b->expired[table][i], GC_EXPIRED,
							now, t, emit, ctx);
		r->more |= b->scan.found[table] > TCPS_EXPIRE_KEYS;
	}
	r->removed = gone[0] + gone[1];
	r->entries = b->scan.seen[0] > gone[0] ? b->scan.seen[0] - gone[0] : 0;
	/* An entry the scan did not see (new, or touched since) was last
	 * seen after it started: it lasts the shortest timeout at least. One
	 * found expired but held (the kernel still has its socket) has a new
	 * deadline the scan did not see: then no waiting past the cadence. */
	r->next_due = b->scan.now + tcps_expire_min_idle(t);
	if (b->scan.next_due < r->next_due)
		r->next_due = b->scan.next_due;
	if (b->scan.found[0] || b->scan.found[1])
		r->next_due = 0;
	if (!early || r->entries < early->high)
		return;
	n = b->scan.early_found < TCPS_EXPIRE_EARLY_KEYS ? b->scan.early_found : TCPS_EXPIRE_EARLY_KEYS;
	for (i = 0; i < n && r->entries > early->low; i++) {
		if (gc_remove(s, 0, &b->closing[i], GC_EARLY, now, t, emit, ctx)) {
			r->dropped++;
			r->entries--;
		}
	}
	early->dropped += r->dropped;
	r->more_early = i == TCPS_EXPIRE_EARLY_KEYS && r->entries > early->low;
}

/* Scan and collect until nothing expired is left (bounded): at start, and
 * for tcps_gc_sweep. *entries: what the connection table holds after. */
static int gc_sweep_all(struct gc_scanner *s, __u64 now, const struct tcps_timeouts *t,
			tcps_gc_emit_fn emit, void *ctx, __u64 *removed, __u64 *entries)
{
	struct gc_result r = { .more = true };
	__u64 cpu;
	int i, err = 0;

	for (i = 0; i < GC_SWEEP_MAX && r.more; i++) {
		gc_scan_set(s, now, t, 0);
		err = gc_scan_run(s, &cpu);
		if (err)
			break;
		gc_collect(s, now, t, NULL, emit, ctx, &r);
		*removed += r.removed;
		*entries = r.entries;
	}
	return err;
}

int tcps_gc_sweep(const struct tcps_ctable tab[2], __u64 now_ns, const struct tcps_timeouts *t,
		  tcps_gc_emit_fn emit, void *ctx)
{
	struct gc_scanner s;
	__u64 removed = 0, entries = 0;
	int err = gc_scanner_open(&s, tab);

	if (err)
		return err;
	err = gc_sweep_all(&s, now_ns, t, emit, ctx, &removed, &entries);
	gc_scanner_close(&s);
	return err ? err : (int)(removed > INT32_MAX ? INT32_MAX : removed);
}

/* ---- the daemon module ---- */

/*
 * The scan runs in a thread of its own: at 1M entries it is ~0.1 s in one
 * syscall, and the main loop must go on draining the ring buffer
 * meanwhile. The main loop's tick asks for a scan and, at a later tick,
 * acts on its result (deletes, events); the thread only runs the program.
 */
struct gc_worker {
	pthread_t tid;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool started;
	bool busy;		/* main: a scan is asked or running, not yet collected */
	bool asked;		/* main -> thread: run one scan */
	bool done;		/* thread -> main: its result is in the .bss */
	bool stop;
	int err;
	__u64 cpu_ns;
	bool collect;		/* main -> thread: a collector pass after the scan */
	int coll_err;		/* thread -> main: its outcome */
	__u64 coll_ns;		/* and CPU time (0: none ran) */
	/* The scan program, loaded by the thread first when the tables
	 * were empty at start (tcps_gc_start): the verifier's ~0.4 s then
	 * runs beside the daemon's start instead of before its ready. */
	bool load;		/* main -> thread, at start: load it from tab */
	struct tcps_ctable tab[2];
	bool loaded;		/* thread -> main: tried, load_err its outcome */
	int load_err;
};

/*
 * The tombstone collector (include/tcps_slots.h; a pass is slotcfg.c's). A
 * delete from the slot array leaves a tombstone that lookups and inserts
 * walk over until a pass makes it EMPTY again, three epochs after it was
 * made; a pass also moves tuples back over tombstones, leaving tombstones
 * of its own that the next pass reclaims. A pass costs ~18 ms of CPU at 1M
 * slots with nothing to do (bench/NOTES.md), so it runs after deletes
 * (ours: expiry and seeding take through tcps_sys), at most every
 * GC_COLL_PERIOD_NS, then once more for what that pass moved; without
 * deletes every GC_COLL_IDLE_NS (0.006 % of a core at 1M). In the scan
 * thread, after the scan.
 */
#define GC_COLL_PERIOD_NS (10 * 1000000000ULL)
#define GC_COLL_IDLE_NS (300 * 1000000000ULL)

struct gc_coll {
	int fd;			/* tcps_sys_collect; -1: none */
	__u64 last;		/* CLOCK_MONOTONIC ns of the last pass asked */
	__u64 takes;		/* tcps_ctable_takes() then */
	bool follow;		/* that pass was after deletes: one more */
	__u64 passes, cpu_ns;	/* since start */
	int last_err;
};

/* Is a pass due with the scan asked now? */
static bool gc_coll_due(struct gc_coll *c, __u64 now)
{
	__u64 takes = tcps_ctable_takes();
	bool dirty = takes != c->takes;

	if (c->fd < 0 || (c->last && now - c->last < GC_COLL_PERIOD_NS))
		return false;
	if (!dirty && !c->follow && c->last && now - c->last < GC_COLL_IDLE_NS)
		return false;
	c->follow = dirty;
	c->takes = takes;
	c->last = now;
	return true;
}

/* A pass ran (cpu_ns > 0): count it, say what went wrong once. */
static void gc_coll_done(struct gc_coll *c, int err, __u64 cpu_ns)
{
	if (!cpu_ns && !err)
		return;
	c->passes++;
	c->cpu_ns += cpu_ns;
	if (err < 0 && err != c->last_err)
		pr_warn("gc: the tombstone collector: %s", strerror(-err));
	c->last_err = err < 0 ? err : 0;
	pr_debug("gc: collector pass %.1f ms of CPU (returned %d)", (double)cpu_ns / 1e6, err);
}

static struct gc_state {
	struct tcps_daemon *d;
	struct tcps_timeouts t;
	struct gc_scanner sc;
	struct gc_worker w;
	struct gc_early early;
	__u32 max_conns;
	__u64 next_scan;	/* CLOCK_MONOTONIC ns */
	__u64 scan_ns;		/* CPU time of the last scan (gc_pace) */
	__u64 entries;		/* in the connection table after the last pass */
	__u64 removed;
	__u64 table_full;	/* the data path's refused inserts at the last pass */
	__u64 early_logged;
	__u64 table_full_logged;
	__u64 last_log;
	int last_err;
	bool running;
	bool deferred;		/* the gc thread loads the scan program (gc_loaded) */
	struct gc_coll coll;
} gc;

static void *gc_worker_main(void *arg)
{
	struct gc_worker *w = arg;
	__u64 cpu = 0, coll_ns;
	int err, coll_err;
	bool coll;

	if (w->load) {
		err = gc_scanner_open(&gc.sc, w->tab);
		pthread_mutex_lock(&w->mu);
		w->load_err = err;
		w->loaded = true;
		pthread_mutex_unlock(&w->mu);
		if (err)
			return NULL;
	}
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->asked && !w->stop)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->stop)
			break;
		w->asked = false;
		coll = w->collect;
		pthread_mutex_unlock(&w->mu);
		err = gc_scan_run(&gc.sc, &cpu);
		coll_ns = 0;
		coll_err = coll ? tcps_slots_collect(gc.coll.fd, tcps_daemon_next_epoch, gc.d,
						     &coll_ns) : 0;
		pthread_mutex_lock(&w->mu);
		w->err = err;
		w->cpu_ns = cpu;
		w->coll_err = coll_err;
		w->coll_ns = coll_ns;
		w->done = true;
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* tab: the tables whose scan program the thread loads first; NULL: it
 * is loaded already. */
static int gc_worker_start(struct gc_worker *w, const struct tcps_ctable tab[2])
{
	sigset_t all, old;
	int err;

	memset(w, 0, sizeof(*w));
	w->load = tab != NULL;
	if (tab) {
		w->tab[0] = tab[0];
		w->tab[1] = tab[1];
	}
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	/* Signals are the main loop's: the thread blocks them all. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = pthread_create(&w->tid, NULL, gc_worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	w->started = !err;
	return -err;
}

static void gc_worker_stop(struct gc_worker *w)
{
	if (!w->started)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->tid, NULL);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	w->started = false;
}

static void gc_worker_ask(struct gc_worker *w, bool collect)
{
	pthread_mutex_lock(&w->mu);
	w->asked = true;
	w->collect = collect;
	w->busy = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* Has the asked scan finished? Then *err, *cpu_ns are its outcome (and
 * its collector pass's is counted). */
static bool gc_worker_done(struct gc_worker *w, int *err, __u64 *cpu_ns)
{
	bool done;

	pthread_mutex_lock(&w->mu);
	done = w->done;
	if (done) {
		w->done = false;
		w->busy = false;
		*err = w->err;
		*cpu_ns = w->cpu_ns;
		gc_coll_done(&gc.coll, w->coll_err, w->coll_ns);
	}
	pthread_mutex_unlock(&w->mu);
	return done;
}

static void gc_emit(void *ctx, const struct tcps_event *e)
{
	tcps_daemon_emit(ctx, e);
}

static void gc_options(struct tcps_daemon *d)
{
	struct tcps_run_opts *o = d->opts;
	int st;

	tcps_timeouts_default(&gc.t, o->mode);
	for (st = 1; st < TCPS_STATE_MAX; st++)
		if (o->timeouts_s[st] && st != TCPS_LISTEN)
			gc.t.state_s[st] = o->timeouts_s[st];
	if (o->time_wait_s)
		gc.t.state_s[TCPS_TIME_WAIT] = o->time_wait_s;
	if (o->close_linger_s)
		gc.t.state_s[TCPS_CLOSE] = o->close_linger_s;
	gc.max_conns = o->max_conns;	/* an adopted table's (tcps_pins_adopt) */
	gc.early.high = (__u64)gc.max_conns * GC_EARLY_HIGH / 100;
	gc.early.low = (__u64)gc.max_conns * GC_EARLY_LOW / 100;
}

static void gc_load_failed(int err)
{
	pr_err("gc: cannot load the expiry scan: %s (run with -v for the verifier log)",
	       strerror(-err));
}

/* Whether the scan program is loaded (a deferred load may still run); a
 * failed load stops the daemon (logged). */
static bool gc_loaded(struct tcps_daemon *d)
{
	bool loaded;
	int err;

	if (!gc.deferred)
		return true;
	pthread_mutex_lock(&gc.w.mu);
	loaded = gc.w.loaded;
	err = gc.w.load_err;
	pthread_mutex_unlock(&gc.w.mu);
	if (!loaded)
		return false;
	gc.deferred = false;
	if (err) {
		gc_load_failed(err);
		gc.running = false;
		d->exit_code = TCPS_EXIT_FAIL;
		return false;
	}
	return true;
}

int tcps_gc_start(struct tcps_daemon *d)
{
	struct tcps_ctable tab[2];
	__u64 removed = 0;
	int rc;

	memset(&gc, 0, sizeof(gc));
	gc.d = d;
	gc_options(d);
	/* Before the first sweep deletes: gc and seed adjust the gauges. */
	rc = tcps_gauge_owner_init(&tcps_daemon_gauges, d->pins.trans, d->pins.conns,
				   d->pins.halfopen, d->opts->mode);
	if (rc)
		pr_warn("gauges: %s; stat counts will drift (stat --walk counts the table)",
			strerror(-rc));
	tcps_pins_tables(&d->pins, tab);
	gc.coll.fd = d->skel ? tcps_slots_prog_fd(d->skel->obj, "tcps_sys_collect") : -ENOENT;
	if (gc.coll.fd < 0)
		pr_warn("gc: no tombstone collector (tcps_sys_collect) in the BPF object: deletes will lengthen the table's probes");
	/* Tables with entries (adopted) are swept before the daemon serves
	 * them, so the scan program is loaded now; empty ones have nothing to
	 * sweep, and the gc thread loads it beside the rest of the start. */
	gc.deferred = tcps_ctable_is_empty(&tab[0]) &&
		      (tab[1].fd < 0 || tcps_ctable_is_empty(&tab[1]));
	if (!gc.deferred && (rc = gc_scanner_open(&gc.sc, tab))) {
		gc_load_failed(rc);
		return TCPS_EXIT_FAIL;
	}
	pr_debug("gc: TIME_WAIT %us, CLOSE linger %us, ESTABLISHED %us, mid-stream %us",
		 gc.t.state_s[TCPS_TIME_WAIT], gc.t.state_s[TCPS_CLOSE],
		 gc.t.state_s[TCPS_ESTABLISHED], gc.t.midstream_s);
	/* For queries while no daemon runs (a --persist gap, a crash): they
	 * expire by these, not by the defaults. */
	rc = tcps_timeouts_record(d->opts->pin_dir, &d->pins.meta, &gc.t);
	if (rc)
		pr_warn("cannot record the timeouts for queries: %s", strerror(-rc));
	/* Expire on adoption: what timed out while no daemon ran leaves now,
	 * as timeout transitions, before the first query is served (the
	 * HTTP module starts after this one). A new table is empty. */
	if (!gc.deferred) {
		rc = gc_sweep_all(&gc.sc, tcps_mono_now(), &gc.t, gc_emit, d, &removed,
				  &gc.entries);
		if (removed)
			pr_info("expired %llu entries that timed out while no daemon ran",
				(unsigned long long)removed);
		if (rc < 0)
			pr_warn("gc: first sweep: %s", strerror(-rc));
		gc.removed += removed;
	}
	gc.running = true;
	rc = gc_worker_start(&gc.w, gc.deferred ? tab : NULL);
	if (rc) {
		pr_err("gc: cannot start its thread: %s", strerror(-rc));
		tcps_gc_stop(d);
		return TCPS_EXIT_FAIL;
	}
	gc.next_scan = tcps_mono_now() + GC_PERIOD_NS;
	return 0;
}

static void gc_log_pressure(__u64 now)
{
	if (now - gc.last_log < GC_LOG_NS && gc.last_log)
		return;
	if (gc.table_full == gc.table_full_logged && gc.early.dropped == gc.early_logged)
		return;
	pr_warn("connection table %llu/%u: %llu inserts refused (table full), %llu closing entries dropped early, since start",
		(unsigned long long)gc.entries, gc.max_conns, (unsigned long long)gc.table_full,
		(unsigned long long)gc.early.dropped);
	gc.table_full_logged = gc.table_full;
	gc.early_logged = gc.early.dropped;
	gc.last_log = now;
}

/* How long until the next scan: its cost bounds the share of a core the
 * scans take. Busy (expired entries left over, or a full table with
 * closing entries to drop or inserts refused) allows a larger share and
 * no floor but the tick. */
static __u64 gc_interval(__u64 scan_ns, bool busy)
{
	__u64 iv = scan_ns * (busy ? GC_BUSY_SHARE : GC_IDLE_SHARE);

	if (busy)
		return iv;
	if (iv < GC_PERIOD_NS)
		return GC_PERIOD_NS;
	return iv > GC_MAX_PERIOD_NS ? GC_MAX_PERIOD_NS : iv;
}

/* An idle pass waits for the first deadline it found (r->next_due), if
 * that comes later than gc_interval allows, up to GC_MAX_PERIOD_NS: with
 * live connections only (recent, or in states of long timeouts), a scan
 * every shortest timeout (10 s, CLOSE's linger, by default) instead of
 * every second. No entry leaves later for it. */
static __u64 gc_next(__u64 now, __u64 iv, __u64 due)
{
	__u64 wait = due > now ? due - now : 0;

	if (wait > GC_MAX_PERIOD_NS)
		wait = GC_MAX_PERIOD_NS;
	return now + (wait > iv ? wait : iv);
}

/* The scan cost the cadence is planned by: the lesser of the last two
 * scans'. One slow scan alone stretches nothing: the first walk of a new
 * table in a VM whose host backs guest memory lazily took 174 ms of CPU
 * where the next took 4 (page faults on the host's side, counted as the
 * guest thread's time), and planned the next scan 30 s away, so every
 * timeout of a 2-second setting came 30 s late. Two slow scans in a row
 * are the table's real cost. */
static __u64 gc_pace(__u64 scan_ns)
{
	__u64 prev = gc.scan_ns;

	gc.scan_ns = scan_ns;
	return prev < scan_ns ? prev : scan_ns;
}

/* A scan has finished: act on it and plan the next. */
static void gc_finish(struct tcps_daemon *d, __u64 now, int err, __u64 scan_ns)
{
	__u64 cnt[TCPS_CNT_MAX], full = gc.table_full, pace;
	struct gc_result r = { 0 };
	bool busy;

	if (err) {
		if (err != gc.last_err)
			pr_warn("gc: scanning the tables: %s", strerror(-err));
	} else {
		gc_collect(&gc.sc, now, &gc.t, &gc.early, gc_emit, d, &r);
		gc.removed += r.removed;
		gc.entries = r.entries;
	}
	gc.last_err = err;
	if (!tcps_counters_read(d->pins.stats, cnt))
		gc.table_full = cnt[TCPS_CNT_TABLE_FULL];
	busy = r.more || (gc.entries >= gc.early.high && (r.more_early || gc.table_full > full));
	/* Near full (early drop wanted, by this scan or, the table having
	 * grown past the mark since it began, by the next) or behind, the
	 * scans keep the cadence: a table filled between two idle scans
	 * waited for the next deadline, up to 30 s, before its early drop.
	 * After an error r.next_due is 0, which waits for nothing. */
	pace = gc_pace(scan_ns);
	gc.next_scan = busy || gc.early.want || gc.entries >= gc.early.low ?
			       now + gc_interval(pace, busy) :
			       gc_next(now, gc_interval(pace, busy), r.next_due);
	pr_debug("gc: %llu entries, %llu expired, %llu dropped early; scan %.1f ms of CPU, next in %.1f s",
		 (unsigned long long)gc.entries, (unsigned long long)r.removed,
		 (unsigned long long)r.dropped, (double)scan_ns / 1e6,
		 (double)(gc.next_scan - now) / 1e9);
	gc_log_pressure(now);
}

void tcps_gc_tick(struct tcps_daemon *d, __u64 now)
{
	__u64 scan_ns;
	int err;

	if (!gc.running || !gc_loaded(d))
		return;
	if (gc_worker_done(&gc.w, &err, &scan_ns))
		gc_finish(d, now, err, scan_ns);
	if (gc.w.busy || now < gc.next_scan)
		return;
	/* Collect early-drop candidates once the table nears the mark. */
	gc.early.want = gc.entries >= gc.early.low;
	gc_scan_set(&gc.sc, now, &gc.t, gc.early.want ? TCPS_EXPIRE_EARLY_KEYS : 0);
	gc_worker_ask(&gc.w, gc_coll_due(&gc.coll, now));
}

void tcps_gc_stop(struct tcps_daemon *d)
{
	gc_worker_stop(&gc.w);
	/* A --persist exit leaves the table to queries: they need these. */
	if (gc.running && !d->opts->persist)
		tcps_timeouts_forget(d->opts->pin_dir);
	if (gc.removed || gc.early.dropped)
		pr_info("gc: %llu entries expired, %llu dropped early", (unsigned long long)gc.removed,
			(unsigned long long)gc.early.dropped);
	if (gc.coll.passes)
		pr_debug("gc: %llu collector passes, %.1f ms of CPU", (unsigned long long)gc.coll.passes,
			 (double)gc.coll.cpu_ns / 1e6);
	gc_scanner_close(&gc.sc);
	tcps_gauge_owner_fini(&tcps_daemon_gauges);
	gc.running = false;
}
