// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tcpscope top: a live full-screen view (ncurses) of the running instance,
 * read from the pinned maps every interval: connections per state and
 * their change, transitions per second (tcps_trans deltas: exact even when
 * events drop), the half-open gauge with a SYN-flood warning, the top
 * remote addresses and local ports, and the latest transitions from the
 * daemon's event socket when it has one. Not on a terminal, it prints
 * plain snapshots instead.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <ncurses.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exports.h"
#include "output.h"
#include "query.h"
#include "ident.h"
#include "stale.h"
#include "views.h"

#define NSTATES (TCPS_STATE_MAX - 1)
#define RECENT 64
#define NTRANS (TCPS_STATE_MAX * TCPS_STATE_MAX)

#define PANE_ROWS 10	/* rows of a ranked pane (of TCPS_VIEWS_TOP candidates) */

enum sort { SORT_STATE, SORT_COUNT, SORT_CHANGE, SORT_MAX };

/* A rate candidate: its byte count at a pass, and the rate since the one before. */
struct rate_ent {
	struct tcps_key key;
	__u32 first;
	__u64 bytes, at_ns;
	double rate;		/* bytes/s; < 0: first sighting, no interval yet */
};

/* The lower panes, in the order v cycles through them. */
enum pane { PANE_RECENT, PANE_SLOW, PANE_RETRANS, PANE_FAST, PANE_MAX };
static const char *const sort_names[SORT_MAX] = { "state", "count", "change" };

struct top {
	const char *pin_dir, *sock_path;
	char sock_buf[128];
	double interval;
	__u64 syn_warn;
	unsigned long long count;
	bool tty;

	struct tcps_pins pins;
	/* The owning daemon: seen running (then its end ends top), or not
	 * running from the start (then top expires by query, as stat). */
	bool seen_running, stale;
	__u32 owner_pid;
	__u64 as_of, expired, closed;
	struct tcps_timeouts timeouts;
	bool have_prev;
	double dt;		/* seconds between the last two reads */
	__u64 t_prev;
	__u64 states[TCPS_STATE_MAX], prev_states[TCPS_STATE_MAX];
	__u64 trans[NTRANS], prev_trans[NTRANS];
	__u64 counters[TCPS_CNT_MAX], prev_counters[TCPS_CNT_MAX];
	double into_rate[TCPS_STATE_MAX];	/* transitions into a state per second */
	double trans_rate, pkt_rate;
	size_t total, halfopen;
	struct tcps_group remotes[NSTATES], ports[NSTATES];
	size_t nremotes, nports;
	__u64 remote_lost;	/* connections whose remote found no slot (views.h) */

	/* One pass over the tables per refresh, in the kernel when it can. */
	struct tcps_viewer vw;
	bool health;		/* the instance tracks health (not --no-health) */
	struct tcps_views_ent slow[PANE_ROWS], retr[PANE_ROWS];
	size_t nslow, nretr;
	/* bytes/s over the last interval: the previous byte counts of the
	 * candidates only (the walk's fastest on average, and the fastest
	 * last time), never of every connection. */
	struct rate_ent fast[PANE_ROWS], track[2 * TCPS_VIEWS_TOP], ntrack_buf[2 * TCPS_VIEWS_TOP];
	size_t nfast, ntrack;
	__u64 walk_ns;		/* CLOCK_MONOTONIC of the last pass */
	unsigned int pane;	/* lower pane shown first (v cycles) */

	/* filter (/): a state list or an address/CIDR */
	char filter[64];
	struct tcps_filter flt;
	bool filter_on;
	char msg[96];		/* one-line notice on the status line */

	enum sort sort;
	bool paused, help, input;
	char inbuf[64];
	size_t inlen;

	/* latest transitions, from the event socket */
	int evfd;
	char evbuf[16384];
	size_t evhave;
	char recent[RECENT][192];
	unsigned int rhead, nrecent, new_recent;
	__u64 last_connect;
};

static volatile sig_atomic_t stop;

static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

static const char top_usage[] =
	"Usage: tcpscope top [-d SECONDS] [-n COUNT] [--syn-warn N]\n"
	"                    [--pin-dir DIR | --socket PATH]\n"
	"\n"
	"Live view of the running instance, refreshed every interval: connections\n"
	"per state with the change since the last refresh and transitions per\n"
	"second into each state, the half-open (SYN_RECV) gauge with a SYN-flood\n"
	"warning, the top remote addresses and local ports, and the lower panes:\n"
	"the latest transitions (from the daemon's event socket), the slowest\n"
	"handshakes, the most retransmitting connections (health; 'health is off'\n"
	"with run --no-health) and the fastest connections in bytes/s over the last\n"
	"interval. A table of the default size is counted whole every refresh (in the\n"
	"kernel); a big one (--max-conns) is swept 131072 entries per refresh and\n"
	"the groups and panes show the last complete sweep (said on screen). When\n"
	"stdout is not a terminal, prints a plain-text snapshot every interval instead.\n"
	"Exits 4 when the daemon goes away or its pins are removed; with no daemon\n"
	"from the start it expires by query (as stat) and exits 5.\n"
	"\n"
	"Options:\n"
	"  -d, --delay SECONDS  refresh interval (default 1, may be fractional)\n"
	"  -n, --count N        stop after N refreshes (default: until q or Ctrl-C)\n"
	"      --syn-warn N     warn of a SYN flood above N half-open (SYN_RECV)\n"
	"                       connections (default 1000)\n"
	"      --pin-dir DIR    pins of the instance to read (default /sys/fs/bpf/tcpscope)\n"
	"      --socket PATH    the daemon's event socket (default: from --pin-dir)\n"
	"  -h, --help           this help\n"
	"\n"
	"Keys: q quit, p pause, s cycle the sort (state, count, change),\n"
	"      v which lower pane comes first (as many as fit are shown),\n"
	"      / filter by state (ESTABLISHED,SYN_RECV) or address/CIDR (empty: none),\n"
	"      h help.\n";

static __u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
}

static __u64 cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
}

/* top_read's errors beyond -errno of a map read: the instance vanished. */
#define TOP_PINS_GONE (-10001)
#define TOP_OWNER_GONE (-10002)

/* Is the instance still there? Its pins must still be these maps, and a
 * daemon once seen running must still run. */
static int top_check_instance(struct top *t)
{
	struct tcps_info meta;
	__u32 zero = 0;

	if (!tcps_pins_still_there(t->pin_dir, t->pins.info))
		return TOP_PINS_GONE;
	if (!bpf_map_lookup_elem(t->pins.info, &zero, &meta))
		t->pins.meta = meta;	/* an adopting daemon writes its pid */
	t->owner_pid = t->pins.meta.pid;
	if (tcps_info_owner_alive(&t->pins.meta)) {
		if (t->stale)	/* adopted meanwhile: its timeouts now */
			tcps_timeouts_of(t->pin_dir, &t->pins.meta, &t->timeouts);
		t->seen_running = true;
		t->stale = false;
		return 0;
	}
	if (t->seen_running)
		return TOP_OWNER_GONE;
	t->stale = true;
	return 0;
}

static bool conn_now(const struct top *t, const struct tcps_key *k, struct tcps_conn *c);

/* The pass's configuration: top's filter, and "active" = seen since the
 * last pass (rate candidates). */
static void views_cfg(const struct top *t, struct tcps_views_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mode = t->pins.meta.mode;
	cfg->active_since = t->walk_ns;
	if (!t->filter_on)
		return;
	cfg->states = t->flt.states;
	if (t->flt.has_cidr)
		tcps_cidr_get(t->flt.cidr, &cfg->family, cfg->addr, &cfg->plen);
}

static int rate_cmp(const void *a, const void *b)
{
	double x = ((const struct rate_ent *)a)->rate, y = ((const struct rate_ent *)b)->rate;

	return x < y ? 1 : x > y ? -1 : 0;
}

static const struct rate_ent *rate_find(const struct rate_ent *e, size_t n, const struct tcps_key *k)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!memcmp(&e[i].key, k, sizeof(*k)))
			return &e[i];
	return NULL;
}

/* Rates over the last interval of this pass's candidates and last pass's
 * fastest: each one's byte count now (from the pass, or one lookup) less
 * its count at the previous pass. Memory: 2 * TCPS_VIEWS_TOP entries. */
static void rates_update(struct top *t, const struct tcps_views *v, __u64 now)
{
	struct rate_ent *nt = t->ntrack_buf;
	size_t n = 0, i;

	for (i = 0; i < v->n[TCPS_VL_RATE] + t->nfast && n < 2 * TCPS_VIEWS_TOP; i++) {
		const struct tcps_key *k;
		struct tcps_conn c;
		__u32 first;

		if (i < v->n[TCPS_VL_RATE] && i < TCPS_VIEWS_TOP) {
			k = &v->top[TCPS_VL_RATE][i].key;
			first = v->top[TCPS_VL_RATE][i].first;
		} else if (i >= v->n[TCPS_VL_RATE]) {
			k = &t->fast[i - v->n[TCPS_VL_RATE]].key;
			first = t->fast[i - v->n[TCPS_VL_RATE]].first;
		} else {
			continue;
		}
		/* Its count now: the pass's may be a sweep some refreshes old. */
		if (rate_find(nt, n, k) || !conn_now(t, k, &c))
			continue;
		nt[n++] = (struct rate_ent){ .key = *k, .first = first,
					     .bytes = c.bytes[0] + c.bytes[1], .at_ns = now };
	}
	for (i = 0; i < n; i++) {
		const struct rate_ent *p = rate_find(t->track, t->ntrack, &nt[i].key);

		nt[i].rate = p && now > p->at_ns && nt[i].bytes >= p->bytes ?
				     (double)(nt[i].bytes - p->bytes) * 1e9 / (double)(now - p->at_ns) : -1;
	}
	memcpy(t->track, nt, n * sizeof(*nt));
	t->ntrack = n;
	qsort(nt, n, sizeof(*nt), rate_cmp);
	for (t->nfast = 0; t->nfast < n && t->nfast < PANE_ROWS && nt[t->nfast].rate > 0; t->nfast++)
		t->fast[t->nfast] = nt[t->nfast];
}

static int ent_cmp(const void *a, const void *b)
{
	__u64 x = ((const struct tcps_views_ent *)a)->score, y = ((const struct tcps_views_ent *)b)->score;

	return x < y ? 1 : x > y ? -1 : 0;
}

static size_t take_list(const struct tcps_views *v, int l, struct tcps_views_ent *out)
{
	struct tcps_views_ent all[TCPS_VIEWS_TOP];
	size_t n = v->n[l] < TCPS_VIEWS_TOP ? v->n[l] : TCPS_VIEWS_TOP;

	memcpy(all, v->top[l], n * sizeof(*all));
	qsort(all, n, sizeof(*all), ent_cmp);
	if (n > PANE_ROWS)
		n = PANE_ROWS;
	memcpy(out, all, n * sizeof(*out));
	return n;
}

/* The current value of a listed connection (the pass may be a sweep some
 * refreshes old): false when it is gone. */
static bool conn_now(const struct top *t, const struct tcps_key *k, struct tcps_conn *c)
{
	struct tcps_ctable tab[2];

	tcps_pins_tables(&t->pins, tab);
	return !tcps_ctable_find(tab, k, c, false, NULL);
}

/* The listed rows with their current counts; the gone ones left out. */
static void refresh_list(const struct top *t, struct tcps_views_ent *e, size_t *n, bool retrans)
{
	size_t i, m = 0;
	struct tcps_conn c;

	for (i = 0; i < *n; i++) {
		if (!conn_now(t, &e[i].key, &c))
			continue;
		if (retrans) {
			e[i].a = c.h.retrans[e[i].first & 1];
			e[i].b = c.h.retrans[!(e[i].first & 1)];
		}
		e[m++] = e[i];
	}
	*n = m;
}

/* The data path's own totals (the state pane, unless filtered or expired
 * by the query, which only the pass counts, and the size that decides
 * between a whole pass and a sweep), then the pass itself; *walk_at: when
 * it started. */
static int top_walk(struct top *t, __u64 *totals, __u64 *halfopen, __u64 *walk_at)
{
	struct tcps_views_cfg cfg;
	__u64 conns = 0, cpu_at;
	int err;

	err = tcps_state_totals(&t->pins, totals, &conns, halfopen);
	if (err)
		return err;
	views_cfg(t, &cfg);
	*walk_at = tcps_mono_now();
	cpu_at = cpu_ns();
	err = tcps_viewer_walk(&t->vw, &t->pins, &cfg, t->stale ? &t->timeouts : NULL,
			       conns + *halfopen);
	if (err)
		return err;
	pr_debug("views %s: %.1f ms, %.1f ms of CPU", t->vw.swept ? "slice" : "pass",
		 (double)(tcps_mono_now() - *walk_at) / 1e6, (double)(cpu_ns() - cpu_at) / 1e6);
	return 0;
}

/* The state counts of this read (the previous ones kept for the change
 * column): the data path's totals, or the pass's when it filters. */
static void take_states(struct top *t, const struct tcps_views *v, const __u64 *totals,
			__u64 halfopen)
{
	unsigned int st;

	memcpy(t->prev_states, t->states, sizeof(t->states));
	memcpy(t->prev_trans, t->trans, sizeof(t->trans));
	memcpy(t->prev_counters, t->counters, sizeof(t->counters));
	if (!t->filter_on && !t->stale) {
		memcpy(t->states, totals, sizeof(t->states));
		t->halfopen = halfopen;
	} else {
		memcpy(t->states, v->counts, sizeof(t->states));
		t->halfopen = v->halfopen;
	}
	t->closed = t->states[TCPS_CLOSE];
	t->states[TCPS_CLOSE] = 0;
	t->total = 0;
	for (st = 1; st < TCPS_STATE_MAX; st++)
		t->total += t->states[st];
}

/* The groups and the panes of the pass that started at walk_at. */
static void take_views(struct top *t, const struct tcps_views *v, __u64 walk_at)
{
	t->nremotes = tcps_viewer_remotes(&t->vw, t->remotes, NSTATES);
	t->nports = tcps_viewer_ports(&t->vw, t->ports, NSTATES);
	t->remote_lost = v->remote_lost;
	t->nslow = take_list(v, TCPS_VL_HANDSHAKE, t->slow);
	t->nretr = take_list(v, TCPS_VL_RETRANS, t->retr);
	if (t->vw.swept) {
		refresh_list(t, t->slow, &t->nslow, false);
		refresh_list(t, t->retr, &t->nretr, true);
	}
	rates_update(t, v, walk_at);
	t->walk_ns = walk_at;
}

/* Transitions and packets per second since the read before, at now. */
static void take_rates(struct top *t, __u64 now)
{
	size_t i;

	t->dt = t->t_prev ? (double)(now - t->t_prev) / 1e9 : 0;
	t->t_prev = now;
	memset(t->into_rate, 0, sizeof(t->into_rate));
	t->trans_rate = t->pkt_rate = 0;
	if (t->have_prev && t->dt > 0) {
		for (i = 0; i < NTRANS; i++) {
			double r = (double)(t->trans[i] - t->prev_trans[i]) / t->dt;

			t->into_rate[i % TCPS_STATE_MAX] += r;
			t->trans_rate += r;
		}
		t->pkt_rate = (double)(t->counters[TCPS_CNT_PACKETS] -
				       t->prev_counters[TCPS_CNT_PACKETS]) / t->dt;
	}
	if (!t->have_prev) {
		/* The first change column is against nothing: show 0. */
		memcpy(t->prev_states, t->states, sizeof(t->states));
		memcpy(t->prev_trans, t->trans, sizeof(t->trans));
	}
	t->have_prev = true;
}

static int top_read(struct top *t)
{
	const struct tcps_views *v;
	__u64 now = mono_ns(), halfopen = 0, walk_at;
	__u64 totals[TCPS_STATE_MAX];
	int err;

	err = top_check_instance(t);
	if (err)
		return err;
	err = top_walk(t, totals, &halfopen, &walk_at);
	if (err)
		return err;
	v = t->vw.cur->v;
	t->as_of = t->vw.cur->as_of;
	t->expired = t->vw.cur->expired;
	take_states(t, v, totals, halfopen);
	take_views(t, v, walk_at);
	err = tcps_counters_read(t->pins.stats, t->counters);
	if (!err)
		err = tcps_trans_read(t->pins.trans, t->trans);
	if (err)
		return err;
	take_rates(t, now);
	return 0;
}

/* Event filter: the states of the transition, or either address. */
static bool event_match(const struct top *t, json_object *o)
{
	json_object *v;
	struct tcps_row r = { 0 };
	const char *la, *ra;
	int from, to;

	if (!t->filter_on)
		return true;
	from = json_object_object_get_ex(o, "from", &v) ? tcps_state_parse(json_object_get_string(v)) : -1;
	to = json_object_object_get_ex(o, "to", &v) ? tcps_state_parse(json_object_get_string(v)) : -1;
	if (t->flt.states)
		return (from > 0 && (t->flt.states & (1U << from))) ||
		       (to > 0 && (t->flt.states & (1U << to)));
	la = json_object_object_get_ex(o, "local_addr", &v) || json_object_object_get_ex(o, "orig_addr", &v) ?
		     json_object_get_string(v) : "";
	ra = json_object_object_get_ex(o, "remote_addr", &v) || json_object_object_get_ex(o, "resp_addr", &v) ?
		     json_object_get_string(v) : "";
	if (inet_pton(AF_INET, la, r.key.addr[0]) == 1 && inet_pton(AF_INET, ra, r.key.addr[1]) == 1)
		r.key.family = TCPS_AF_INET;
	else if (inet_pton(AF_INET6, la, r.key.addr[0]) == 1 &&
		 inet_pton(AF_INET6, ra, r.key.addr[1]) == 1)
		r.key.family = TCPS_AF_INET6;
	else
		return false;
	return tcps_filter_match(&t->flt, &r, TCPS_MODE_HOST);
}

static const char *jstr(json_object *o, const char *a, const char *b)
{
	json_object *v;

	if (json_object_object_get_ex(o, a, &v) || (b && json_object_object_get_ex(o, b, &v)))
		return json_object_get_string(v);
	return "?";
}

static void recent_add(struct top *t, const char *line)
{
	json_object *o = json_tokener_parse(line), *v;
	const char *time, *side, *la, *ra;
	char *dst, trans[32];
	int lp = 0, rp = 0;

	if (!o)
		return;
	if (event_match(t, o)) {
		time = jstr(o, "time", NULL);
		side = jstr(o, "side", NULL);
		if (json_object_object_get_ex(o, "local_port", &v) ||
		    json_object_object_get_ex(o, "orig_port", &v))
			lp = json_object_get_int(v);
		if (json_object_object_get_ex(o, "remote_port", &v) ||
		    json_object_object_get_ex(o, "resp_port", &v))
			rp = json_object_get_int(v);
		dst = t->recent[t->rhead];
		la = jstr(o, "local_addr", "orig_addr");
		ra = jstr(o, "remote_addr", "resp_addr");
		snprintf(trans, sizeof(trans), "%s->%s", jstr(o, "from", NULL), jstr(o, "to", NULL));
		/* HH:MM:SS.mmm of the RFC 3339 time, then the transition, then
		 * the addresses (IPv6 in brackets, as everywhere): what an 80
		 * column screen cuts is the end of an address, never a state. */
		snprintf(dst, sizeof(t->recent[0]), "%.12s %-6s %-23s %s%s%s:%d %s%s%s:%d",
			 strlen(time) > 11 ? time + 11 : time, side, trans, strchr(la, ':') ? "[" : "",
			 la, strchr(la, ':') ? "]" : "", lp, strchr(ra, ':') ? "[" : "", ra,
			 strchr(ra, ':') ? "]" : "", rp);
		t->rhead = (t->rhead + 1) % RECENT;
		if (t->nrecent < RECENT)
			t->nrecent++;
		t->new_recent++;
	}
	json_object_put(o);
}

static void ev_connect(struct top *t)
{
	__u64 now = mono_ns();

	if (t->evfd >= 0 || (t->last_connect && now - t->last_connect < 5000000000ULL))
		return;
	t->last_connect = now;
	t->evfd = tcps_evsock_connect(t->sock_path, true);
	if (t->evfd < 0)
		t->evfd = -1;
	t->evhave = 0;
}

static void ev_read(struct top *t)
{
	ssize_t r = read(t->evfd, t->evbuf + t->evhave, sizeof(t->evbuf) - 1 - t->evhave);
	char *line, *nl;

	if (r <= 0) {
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			return;
		close(t->evfd);
		t->evfd = -1;
		return;
	}
	t->evhave += (size_t)r;
	t->evbuf[t->evhave] = '\0';
	line = t->evbuf;
	while ((nl = strchr(line, '\n'))) {
		*nl = '\0';
		if (line[0] == '{')
			recent_add(t, line);
		line = nl + 1;
	}
	t->evhave -= (size_t)(line - t->evbuf);
	memmove(t->evbuf, line, t->evhave);
	if (t->evhave == sizeof(t->evbuf) - 1)
		t->evhave = 0;
}

static int state_order[NSTATES];
static const struct top *sort_top;

static int order_cmp(const void *pa, const void *pb)
{
	int a = *(const int *)pa, b = *(const int *)pb;
	const struct top *t = sort_top;
	long long ca, cb;

	switch (t->sort) {
	case SORT_COUNT:
		if (t->states[a] != t->states[b])
			return t->states[a] > t->states[b] ? -1 : 1;
		break;
	case SORT_CHANGE:
		ca = llabs((long long)(t->states[a] - t->prev_states[a]));
		cb = llabs((long long)(t->states[b] - t->prev_states[b]));
		if (ca != cb)
			return ca > cb ? -1 : 1;
		break;
	default:
		break;
	}
	return a - b;
}

static void sort_states(const struct top *t)
{
	int i;

	for (i = 0; i < NSTATES; i++)
		state_order[i] = i + 1;
	sort_top = t;
	qsort(state_order, NSTATES, sizeof(int), order_cmp);
}

static void fmt_change(char *buf, size_t len, __u64 now, __u64 prev)
{
	long long d = (long long)(now - prev);

	if (d)
		snprintf(buf, len, "%+lld", d);
	else
		snprintf(buf, len, "0");
}

/* The text lines of a snapshot, shared by the screen and the plain mode.
 * Left: the state table; right: top ports and remotes. */
static void state_line(const struct top *t, int st, char *buf, size_t len)
{
	char ch[24];

	fmt_change(ch, sizeof(ch), t->states[st], t->prev_states[st]);
	snprintf(buf, len, "%-11s %7llu %7s %6.1f", tcps_state_name((unsigned int)st),
		 (unsigned long long)t->states[st], ch, t->into_rate[st]);
}

static void summary_line(const struct top *t, char *buf, size_t len)
{
	snprintf(buf, len, "conns %zu  half-open %zu  trans/s %.1f  pkts/s %.0f  rb-drops %llu  table-full %llu",
		 t->total, t->halfopen, t->trans_rate, t->pkt_rate,
		 (unsigned long long)t->counters[TCPS_CNT_RB_DROPS],
		 (unsigned long long)t->counters[TCPS_CNT_TABLE_FULL]);
}

/* Closed connections are not sockets: apart from the state counts. */
static void closed_line(const struct top *t, char *buf, size_t len)
{
	snprintf(buf, len, "closed (last %us) %llu", t->timeouts.state_s[TCPS_CLOSE],
		 (unsigned long long)t->closed);
}

/* When no daemon runs: what the view is. Short: the time of day only
 * (HH:MM:SS.mmm UTC), so that the line fits 80 columns on the screen. */
static void stale_line(const struct top *t, char *buf, size_t len, bool shortly)
{
	char when[40];

	if (t->as_of)
		tcps_fmt_time(tcps_mono_to_real(t->as_of), when, sizeof(when));
	else
		snprintf(when, sizeof(when), "(empty table)");
	if (shortly && t->as_of && strlen(when) > 23)
		memmove(when, when + 11, 13), when[12] = 'Z', when[13] = '\0';
	if (t->owner_pid)
		snprintf(buf, len, "NO DAEMON (pid %u gone): states as of %s, expired by query",
			 t->owner_pid, when);
	else
		snprintf(buf, len, "NO DAEMON (--persist exit): states as of %s, expired by query", when);
}

static bool syn_flood(const struct top *t)
{
	return t->states[TCPS_SYN_RECV] > t->syn_warn;
}

/* ---- the ranked panes ---- */

static void endpoints(const struct tcps_key *k, __u32 first, char *buf, size_t len)
{
	char a[48], b[48];
	bool v6 = k->family == TCPS_AF_INET6;
	int f = !!first;

	tcps_addr_str(k, f, a, sizeof(a));
	tcps_addr_str(k, !f, b, sizeof(b));
	snprintf(buf, len, "%s%s%s:%u %s%s%s:%u", v6 ? "[" : "", a, v6 ? "]" : "",
		 ntohs(k->port[f]), v6 ? "[" : "", b, v6 ? "]" : "", ntohs(k->port[!f]));
}

static void fmt_us(char *buf, size_t len, __u32 us)
{
	if (us >= 1000000)
		snprintf(buf, len, "%.2fs", us / 1e6);
	else if (us >= 1000)
		snprintf(buf, len, "%.2fms", us / 1e3);
	else
		snprintf(buf, len, "%uus", us);
}

static void fmt_rate(char *buf, size_t len, double r)
{
	static const char *const unit[] = { "B/s", "kB/s", "MB/s", "GB/s" };
	int u = 0;

	while (r >= 1000 && u < 3)
		r /= 1000, u++;
	snprintf(buf, len, "%.1f%s", r, unit[u]);
}

/* A big table is swept over several refreshes (views.h): say so. */
static bool sweep_note(const struct top *t, char *buf, size_t len)
{
	if (!t->vw.swept)
		return false;
	if (t->vw.partial)
		snprintf(buf, len, "(groups and panes: first sweep of the table, %u refreshes so far)",
			 t->vw.slices);
	else
		snprintf(buf, len, "(groups and panes: a sweep of the table over %u refreshes)",
			 t->vw.last_slices);
	return true;
}

static const char *pane_title(const struct top *t, int p)
{
	static const char *const titles[PANE_MAX] = {
		"RECENT TRANSITIONS", "SLOWEST HANDSHAKES (network, local half)",
		"MOST RETRANSMISSIONS (segments out/in)", "FASTEST (bytes/s over the last interval)",
	};

	if (p == PANE_RECENT && t->evfd < 0)
		return "RECENT TRANSITIONS (no event socket: is the daemon running?)";
	if ((p == PANE_SLOW || p == PANE_RETRANS) && !t->health)
		return p == PANE_SLOW ? "SLOWEST HANDSHAKES: health is off (run --no-health)" :
					"MOST RETRANSMISSIONS: health is off (run --no-health)";
	return titles[p];
}

/* Rows of a ranked pane (0 when it has only its title). */
static size_t pane_rows(const struct top *t, int p)
{
	switch (p) {
	case PANE_SLOW:
		return t->health ? t->nslow : 0;
	case PANE_RETRANS:
		return t->health ? t->nretr : 0;
	case PANE_FAST:
		return t->nfast;
	}
	return 0;
}

static void pane_line(const struct top *t, int p, size_t i, char *buf, size_t len)
{
	char ep[128], x[24], y[24];

	switch (p) {
	case PANE_SLOW:
		fmt_us(x, sizeof(x), t->slow[i].a);
		fmt_us(y, sizeof(y), t->slow[i].b);
		endpoints(&t->slow[i].key, t->slow[i].first, ep, sizeof(ep));
		snprintf(buf, len, "%9s %9s  %s", x, y, ep);
		break;
	case PANE_RETRANS:
		snprintf(x, sizeof(x), "%u/%u", t->retr[i].a, t->retr[i].b);
		endpoints(&t->retr[i].key, t->retr[i].first, ep, sizeof(ep));
		snprintf(buf, len, "%19s  %s", x, ep);
		break;
	case PANE_FAST:
		fmt_rate(x, sizeof(x), t->fast[i].rate);
		endpoints(&t->fast[i].key, t->fast[i].first, ep, sizeof(ep));
		snprintf(buf, len, "%19s  %s", x, ep);
		break;
	default:
		buf[0] = '\0';
	}
}

/* ---- plain text (not a terminal) ---- */

/* The header, the state table, CLOSED and the SYN_RECV warning. */
static void print_states(struct top *t)
{
	char line[256], ts[40];
	unsigned int i;

	tcps_fmt_time(tcps_real_now(), ts, sizeof(ts));
	summary_line(t, line, sizeof(line));
	printf("--- %s %s%s%s\n%s\n", ts, t->pin_dir, t->filter_on ? " filter " : "",
	       t->filter_on ? t->filter : "", line);
	if (t->stale) {
		stale_line(t, line, sizeof(line), false);
		printf("%s\n", line);
	}
	printf("%-11s %7s %7s %6s\n", "STATE", "COUNT", "CHANGE", "IN/s");
	sort_states(t);
	for (i = 0; i < NSTATES; i++) {
		state_line(t, state_order[i], line, sizeof(line));
		printf("%s\n", line);
	}
	closed_line(t, line, sizeof(line));
	printf("%s\n", line);
	printf("SYN_RECV %llu (warn above %llu)%s\n",
	       (unsigned long long)t->states[TCPS_SYN_RECV], (unsigned long long)t->syn_warn,
	       syn_flood(t) ? " SYN FLOOD?" : "");
}

/* The top remotes and local ports, then the health panes, 5 rows each. */
static void print_panes(struct top *t)
{
	char line[256];
	unsigned int i, k;

	printf("TOP REMOTE\n");
	for (i = 0; i < t->nremotes && i < 5; i++)
		printf("  %-39s %7llu\n", t->remotes[i].label, (unsigned long long)t->remotes[i].count);
	printf("TOP LOCAL PORT\n");
	for (i = 0; i < t->nports && i < 5; i++)
		printf("  %-39s %7llu\n", t->ports[i].label, (unsigned long long)t->ports[i].count);
	if (t->remote_lost)
		printf("(%llu connections of remotes beyond %u distinct not counted)\n",
		       (unsigned long long)t->remote_lost, TCPS_VIEWS_REMOTES);
	if (sweep_note(t, line, sizeof(line)))
		printf("%s\n", line);
	for (k = PANE_SLOW; k < PANE_MAX; k++) {
		printf("%s\n", pane_title(t, (int)k));
		for (i = 0; i < pane_rows(t, (int)k) && i < 5; i++) {
			pane_line(t, (int)k, i, line, sizeof(line));
			printf("  %s\n", line);
		}
	}
}

/* The last 10 transitions since the previous snapshot, oldest first. */
static void print_recent(struct top *t)
{
	unsigned int n = t->new_recent < t->nrecent ? t->new_recent : t->nrecent, k;

	printf("RECENT TRANSITIONS (%u)\n", t->new_recent);
	if (n > 10)
		n = 10;
	for (k = n; k > 0; k--)
		printf("  %s\n", t->recent[(t->rhead + RECENT - k) % RECENT]);
}

static void print_snapshot(struct top *t)
{
	print_states(t);
	print_panes(t);
	if (t->evfd >= 0)
		print_recent(t);
	t->new_recent = 0;
}

/* ---- ncurses ---- */

static bool curses_on;

static void curses_end(void)
{
	if (curses_on) {
		endwin();
		curses_on = false;
	}
}

static void put(int y, int x, int w, const char *s)
{
	if (w > 0 && y < LINES)
		mvaddnstr(y, x, s, w);
}

/* The lower panes from y to end (exclusive), the one v selected first:
 * each shows its title and up to 5 rows (the recent transitions up to 8),
 * as many panes as fit. */
static void draw_panes(const struct top *t, int y, int end, int W)
{
	char line[256];
	int k, i;

	for (k = 0; k < PANE_MAX && end - y >= 2; k++) {
		int p = (int)((t->pane + (unsigned int)k) % PANE_MAX), rows;

		int want = p == PANE_RECENT ? (int)t->nrecent : (int)pane_rows(t, p);
		int cap = p == PANE_RECENT ? 8 : 5, avail = end - y - 1;

		if (k + 1 == PANE_MAX)	/* the last one takes what is left */
			cap = avail;
		rows = want < cap ? want : cap;
		if (rows > avail)
			rows = avail;
		attron(A_BOLD);
		put(y++, 0, W, pane_title(t, p));
		attroff(A_BOLD);
		for (i = 0; i < rows && y < end; i++, y++) {
			if (p == PANE_RECENT) {
				put(y, 0, W, t->recent[(t->rhead + RECENT - 1 - (unsigned int)i) % RECENT]);
			} else {
				pane_line(t, p, (size_t)i, line, sizeof(line));
				put(y, 2, W - 2, line);
			}
		}
	}
}

/* The title bar and the line under it (the summary, or the stale notice). */
static void draw_title(const struct top *t, int W)
{
	char line[256], ts[16];
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
	attron(A_REVERSE);
	mvhline(0, 0, ' ', W);
	snprintf(line, sizeof(line), "tcpscope top  %s  %s  every %gs%s", t->pin_dir,
		 t->pins.meta.mode == TCPS_MODE_PASSIVE ? "passive" : "host", t->interval,
		 t->paused ? "  [PAUSED]" : "");
	put(0, 0, W, line);
	if (W > (int)strlen(line) + 10)
		put(0, W - 9, 8, ts);
	attroff(A_REVERSE);
	if (t->stale) {
		stale_line(t, line, sizeof(line), true);
		attron(A_BOLD);
		put(1, 0, W, line);
		attroff(A_BOLD);
	} else {
		summary_line(t, line, sizeof(line));
		put(1, 0, W, line);
	}
}

/* The state table, from row 2: its header, then one row per state. */
static void draw_states(const struct top *t, int W)
{
	char line[256];
	int i;

	attron(A_BOLD);
	snprintf(line, sizeof(line), "%-11s %7s %7s %6s", "STATE", "COUNT", "CHANGE", "IN/s");
	put(2, 0, W, line);
	attroff(A_BOLD);
	sort_states(t);
	for (i = 0; i < NSTATES; i++) {
		state_line(t, state_order[i], line, sizeof(line));
		put(3 + i, 0, W, line);
	}
}

/* One row of the remote column, rw wide: long IPv6 addresses keep their
 * tail, marked with '~'. */
static void remote_cell(const struct tcps_group *g, int rw, char *line, size_t len)
{
	const char *a = g->label;
	int aw = rw - 7;

	if ((int)strlen(a) > aw)
		snprintf(line, len, "~%s %6llu", a + strlen(a) - (size_t)(aw - 1),
			 (unsigned long long)g->count);
	else
		snprintf(line, len, "%-*s %6llu", aw, a, (unsigned long long)g->count);
}

/* Right of the states: local ports, then remotes, as wide as the screen
 * allows (from column right, the ports pw wide). */
static void draw_groups(const struct top *t, int W, int right, int pw)
{
	int rw = W - right - pw - 3, i;
	char line[256];

	if (rw < 12)
		return;
	attron(A_BOLD);
	snprintf(line, sizeof(line), "%-6s %7s", "PORT", "CONNS");
	put(2, right, pw, line);
	snprintf(line, sizeof(line), "%-*s %6s", rw - 7, "REMOTE", "CONNS");
	put(2, right + pw + 3, rw, line);
	attroff(A_BOLD);
	for (i = 0; i < NSTATES; i++) {
		mvaddch(2 + i, right - 2, '|');
		mvaddch(2 + i, right + pw + 1, '|');
		mvaddch(3 + i, right - 2, '|');
		mvaddch(3 + i, right + pw + 1, '|');
		if ((size_t)i < t->nports) {
			snprintf(line, sizeof(line), "%-6s %7llu", t->ports[i].label,
				 (unsigned long long)t->ports[i].count);
			put(3 + i, right, pw, line);
		}
		if ((size_t)i < t->nremotes) {
			remote_cell(&t->remotes[i], rw, line, sizeof(line));
			put(3 + i, right + pw + 3, rw, line);
		}
	}
}

/* The half-open gauge at row y: its count, a bar up to --syn-warn and
 * the flood warning. */
static void draw_syn_gauge(const struct top *t, int y, int W)
{
	int bar = W - 50 > 30 ? 30 : W - 50, i;
	__u64 v = t->states[TCPS_SYN_RECV];
	char line[256];

	snprintf(line, sizeof(line), "SYN_RECV %-7llu warn >%llu ", (unsigned long long)v,
		 (unsigned long long)t->syn_warn);
	put(y, 0, W, line);
	if (bar > 4) {
		int fill = t->syn_warn ? (int)((double)v / (double)t->syn_warn * bar) : bar;

		if (fill > bar)
			fill = bar;
		mvaddch(y, (int)strlen(line), '[');
		for (i = 0; i < bar; i++)
			addch(i < fill ? '#' : '.');
		addch(']');
	}
	if (syn_flood(t)) {
		attron(A_BOLD | A_BLINK | (has_colors() ? COLOR_PAIR(1) : 0));
		addstr(" SYN FLOOD?");
		attroff(A_BOLD | A_BLINK | (has_colors() ? COLOR_PAIR(1) : 0));
	}
}

/* The bottom line: the filter being typed, a notice, or the keys. */
static void draw_status(const struct top *t, int H, int W)
{
	char line[256];

	attron(A_REVERSE);
	mvhline(H - 1, 0, ' ', W);
	if (t->input)
		snprintf(line, sizeof(line), "filter (state or address/CIDR, empty: none): %s",
			 t->inbuf);
	else if (t->msg[0])
		snprintf(line, sizeof(line), "%s", t->msg);
	else
		snprintf(line, sizeof(line), "q quit  p pause  s sort:%s  v pane  / filter%s%s  h help",
			 sort_names[t->sort], t->filter_on ? ":" : "", t->filter_on ? t->filter : "");
	put(H - 1, 0, W, line);
	attroff(A_REVERSE);
}

static const char *const help_lines[] = {
	"tcpscope top - keys",
	"",
	"q      quit",
	"p      pause / resume refreshing",
	"s      sort states: state, count, change",
	"v      next lower pane first: transitions, slowest",
	"       handshakes, retransmissions, fastest",
	"/      filter: ESTABLISHED,SYN_RECV or 198.18.0.0/15",
	"       (empty input clears it; Esc cancels)",
	"h      this help (any key closes)",
	"",
	"CHANGE: since the last refresh; IN/s: transitions",
	"into the state per second (all connections).",
};

/* The help box (h), centred over the rest. */
static void draw_help(int H, int W)
{
	int n = (int)(sizeof(help_lines) / sizeof(help_lines[0])), bw = 0, bx, by = (H - n - 2) / 2;
	int i;

	/* As wide as its longest line plus the margins, so it never
	 * cuts its own text (the screen permitting). */
	for (i = 0; i < n; i++)
		if ((int)strlen(help_lines[i]) + 4 > bw)
			bw = (int)strlen(help_lines[i]) + 4;
	if (bw > W)
		bw = W;
	bx = (W - bw) / 2;
	if (bx < 0)
		bx = 0;
	if (by < 0)
		by = 0;
	for (i = 0; i < n + 2; i++) {
		mvhline(by + i, bx, ' ', bw);
		if (i > 0 && i <= n)
			put(by + i, bx + 2, bw - 4, help_lines[i - 1]);
	}
	attron(A_REVERSE);
	put(by, bx, bw, " help ");
	attroff(A_REVERSE);
}

static void draw(struct top *t)
{
	int W = COLS, H = LINES, y, right = 34 + 3;
	char line[256];

	erase();
	draw_title(t, W);
	draw_states(t, W);
	draw_groups(t, W, right, 14);
	y = 3 + NSTATES;
	closed_line(t, line, sizeof(line));
	put(y++, 0, right - 3, line);
	draw_syn_gauge(t, y, W);
	y++;
	draw_panes(t, y, H - 1, W);
	draw_status(t, H, W);
	if (t->help)
		draw_help(H, W);
	refresh();
}

static void apply_filter(struct top *t, const char *text)
{
	struct tcps_filter f = { .port = -1 };
	struct cidr *c = NULL;

	t->msg[0] = '\0';
	if (!*text) {
		free(t->flt.cidr);
		memset(&t->flt, 0, sizeof(t->flt));
		t->flt.port = -1;
		t->filter_on = false;
		t->filter[0] = '\0';
		return;
	}
	if (tcps_filter_states(text, &f.states)) {
		f.states = 0;
		c = tcps_cidr_parse(text);
		if (!c) {
			snprintf(t->msg, sizeof(t->msg), "not a state or address: %.60s", text);
			return;
		}
		f.has_cidr = true;
		f.cidr = c;
	}
	free(t->flt.cidr);
	t->flt = f;
	t->filter_on = true;
	snprintf(t->filter, sizeof(t->filter), "%s", text);
	t->nrecent = t->new_recent = 0;
}

/* A key while the filter line ('/') is being typed: Enter applies it,
 * Escape drops it. */
static void on_input_key(struct top *t, int ch)
{
	if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
		t->input = false;
		t->inbuf[t->inlen] = '\0';
		apply_filter(t, t->inbuf);
		if (top_read(t))
			snprintf(t->msg, sizeof(t->msg), "cannot read the maps");
	} else if (ch == 27) {
		t->input = false;
	} else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
		if (t->inlen)
			t->inbuf[--t->inlen] = '\0';
	} else if (ch >= 32 && ch < 127 && t->inlen < sizeof(t->inbuf) - 1) {
		t->inbuf[t->inlen++] = (char)ch;
		t->inbuf[t->inlen] = '\0';
	}
}

/* Returns true to quit. */
static bool on_key(struct top *t, int ch, bool *redraw)
{
	*redraw = true;
	if (t->input) {
		on_input_key(t, ch);
		return false;
	}
	if (t->help && ch != KEY_RESIZE) {
		t->help = false;
		return false;
	}
	t->msg[0] = '\0';
	switch (ch) {
	case 'q':
	case 'Q':
		return true;
	case 'p':
	case ' ':
		t->paused = !t->paused;
		break;
	case 's':
		t->sort = (enum sort)((t->sort + 1) % SORT_MAX);
		break;
	case 'v':
		t->pane = (t->pane + 1) % PANE_MAX;
		break;
	case '/':
		t->input = true;
		t->inlen = 0;
		t->inbuf[0] = '\0';
		break;
	case 'h':
	case '?':
		t->help = true;
		break;
	case KEY_RESIZE:
		break;
	default:
		*redraw = false;
	}
	return false;
}

/* One line for a failed refresh; the exit code that goes with it. */
static int read_failed(const struct top *t, int err)
{
	if (err == TOP_PINS_GONE) {
		pr_err("the pins in %s are gone: the instance was removed", t->pin_dir);
		return TCPS_EXIT_NOTRUNNING;
	}
	if (err == TOP_OWNER_GONE) {
		pr_err("the daemon of %s (pid %u) is gone: nothing updates or expires the table any more",
		       t->pin_dir, t->owner_pid);
		return TCPS_EXIT_NOTRUNNING;
	}
	pr_err("reading %s: %s", t->pin_dir, strerror(-err));
	return TCPS_EXIT_FAIL;
}

static int write_failed(void)
{
	pr_err("cannot write the output: %s", strerror(errno ? errno : EIO));
	return TCPS_EXIT_FAIL;
}

/* No daemon from the start: say it once on stderr too (after the screen
 * is gone, in curses mode), and exit with TCPS_EXIT_STALE. */
static int stale_end(const struct top *t)
{
	char line[160];

	if (!t->stale)
		return TCPS_EXIT_OK;
	/* The words of stat and list. */
	stale_line(t, line, sizeof(line), false);
	if (t->owner_pid)
		pr_warn("no daemon is running for %s (pid %u gone): %s", t->pin_dir, t->owner_pid,
			strstr(line, "states as of"));
	else
		pr_warn("no daemon is running for %s (none since a --persist exit): %s", t->pin_dir,
			strstr(line, "states as of"));
	return TCPS_EXIT_STALE;
}

/* The terminal in curses mode, keys unbuffered and not waited for. */
static int curses_begin(void)
{
	if (!initscr()) {
		pr_err("cannot initialise the terminal");
		return TCPS_EXIT_FAIL;
	}
	curses_on = true;
	atexit(curses_end);
	cbreak();
	noecho();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);
	if (has_colors()) {
		start_color();
		use_default_colors();
		init_pair(1, COLOR_RED, -1);
	}
	return 0;
}

/* A refresh is due: read the maps (the last of -n stops), or, paused,
 * only check the instance; 0 or the error. */
static int curses_refresh(struct top *t)
{
	int err;

	if (t->paused)
		return top_check_instance(t);	/* paused, but not blind to the instance's end */
	err = top_read(t);
	if (err)
		return err;
	if (t->count && !--t->count)
		stop = 1;
	return 0;
}

/* Until the next refresh is due, a key is typed or a transition arrives
 * (drawn at once). */
static void curses_wait(struct top *t, __u64 next)
{
	struct pollfd p[2] = { { .fd = STDIN_FILENO, .events = POLLIN },
			       { .fd = t->paused ? -1 : t->evfd, .events = POLLIN } };
	__u64 now = mono_ns();
	int wait = next > now ? (int)((next - now) / 1000000) + 1 : 0;

	if (poll(p, 2, wait) > 0 && p[1].revents) {
		unsigned int before = t->new_recent;

		ev_read(t);
		if (t->new_recent != before)
			draw(t);
	}
}

static int run_curses(struct top *t)
{
	__u64 next = mono_ns();
	int err = curses_begin();

	if (err)
		return err;
	while (!stop) {
		__u64 now = mono_ns();
		bool redraw = false;
		int ch;

		if (now >= next) {
			err = curses_refresh(t);
			if (err)
				break;
			ev_connect(t);
			next = now + (__u64)(t->interval * 1e9);
			redraw = true;
		}
		while ((ch = getch()) != ERR)
			if (on_key(t, ch, &redraw))
				stop = 1;
		if (redraw && !stop)
			draw(t);
		curses_wait(t, next);
	}
	curses_end();
	if (err)
		return read_failed(t, err);
	return stale_end(t);
}

static int run_plain(struct top *t)
{
	__u64 next = mono_ns();
	int err;

	while (!stop) {
		__u64 now = mono_ns();
		struct pollfd p = { .fd = t->evfd, .events = POLLIN };

		if (now >= next) {
			err = top_read(t);
			if (err)
				return read_failed(t, err);
			print_snapshot(t);
			/* A full disk, a closed pipe (| head): one line, exit 1. */
			if (fflush(stdout) == EOF || ferror(stdout))
				return write_failed();
			if (t->count && !--t->count)
				break;
			ev_connect(t);
			next = now + (__u64)(t->interval * 1e9);
			continue;
		}
		p.fd = t->evfd;
		if (poll(&p, 1, (int)((next - now) / 1000000) + 1) > 0 && p.revents)
			ev_read(t);
	}
	return stale_end(t);
}

/* -d, -n or --syn-warn's value into t; -1 to go on, else the exit code of
 * the usage error. */
static int top_number_arg(struct top *t, int c, const char *arg)
{
	unsigned long long v;
	char *end;

	switch (c) {
	case 'd':
		errno = 0;
		t->interval = strtod(arg, &end);
		if (errno || *end || end == arg || !isfinite(t->interval) || t->interval < 0.1 ||
		    t->interval > 3600)
			return usage_err("top", "-d takes 0.1-3600 seconds, not '%s'", arg);
		break;
	case 'n':
		if (parse_u64(arg, 1, ~0ULL, &t->count))
			return usage_err("top", "-n takes a positive count, not '%s'", arg);
		break;
	default:
		if (parse_u64(arg, 0, ~0ULL, &v))
			return usage_err("top", "--syn-warn takes a number, not '%s'", arg);
		t->syn_warn = v;
	}
	return -1;
}

/* The options into t; -1 to go on, else the exit code (usage error, --help). */
static int top_parse_args(struct top *t, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "delay", required_argument, NULL, 'd' },  { "count", required_argument, NULL, 'n' },
		{ "syn-warn", required_argument, NULL, 'W' }, { "pin-dir", required_argument, NULL, 'P' },
		{ "socket", required_argument, NULL, 'S' }, { "help", no_argument, NULL, 'h' },
		{},
	};
	int c, rc;

	optind = 1;
	opterr = 0;	/* one line of our own instead of getopt's */
	while ((c = getopt_long(argc, argv, "d:n:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
		case 'n':
		case 'W':
			rc = top_number_arg(t, c, optarg);
			if (rc >= 0)
				return rc;
			break;
		case 'P':
			if (pin_dir_arg("top", optarg, &t->pin_dir))
				return TCPS_EXIT_USAGE;
			break;
		case 'S':
			t->sock_path = optarg;
			break;
		case 'h':
			fputs(top_usage, stdout);
			return TCPS_EXIT_OK;
		default:
			return usage_bad_option("top", argv, "d:n:h");
		}
	}
	if (optind < argc)
		return usage_err("top", "unexpected argument '%s'", argv[optind]);
	return -1;
}

/* The instance's pins and the viewer over them; 0 or the exit code. */
static int top_open(struct top *t)
{
	int rc;

	if (!t->sock_path) {
		if (tcps_evsock_default_path(t->pin_dir, t->sock_buf, sizeof(t->sock_buf)))
			t->sock_buf[0] = '\0';
		t->sock_path = t->sock_buf;
	}
	if (tcps_stdout_check())
		return TCPS_EXIT_FAIL;
	rc = tcps_pins_open(t->pin_dir, &t->pins);
	if (rc)
		return rc;
	tcps_timeouts_of(t->pin_dir, &t->pins.meta, &t->timeouts);
	tcps_output_set_info(&t->pins.meta);
	t->health = t->pins.meta.flags & TCPS_INFO_HEALTH;
	rc = tcps_viewer_open(&t->vw, &t->pins);
	if (rc) {
		pr_err("top: %s", strerror(-rc));
		tcps_pins_close(&t->pins);
		return TCPS_EXIT_FAIL;
	}
	return 0;
}

int cmd_top(int argc, char **argv)
{
	struct top *t = calloc(1, sizeof(*t));
	struct sigaction sa = { .sa_handler = on_stop };
	int rc;

	if (!t)
		return TCPS_EXIT_FAIL;
	t->pin_dir = TCPS_PIN_DIR_DEFAULT;
	t->interval = 1;
	t->syn_warn = 1000;
	t->evfd = -1;
	t->flt.port = -1;
	rc = top_parse_args(t, argc, argv);	/* -1: run */
	if (rc >= 0 || (rc = top_open(t))) {
		free(t);
		return rc;
	}
	/* Before initscr, so that ncurses leaves them to us and a signal
	 * ends the loop, which restores the terminal. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	ev_connect(t);
	t->tty = isatty(STDOUT_FILENO) && isatty(STDIN_FILENO);
	rc = t->tty ? run_curses(t) : run_plain(t);
	if (t->evfd >= 0)
		close(t->evfd);
	tcps_viewer_close(&t->vw);
	tcps_pins_close(&t->pins);
	free(t->flt.cidr);
	free(t);
	return rc;
}
