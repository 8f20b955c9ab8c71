// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tcpscope stat / list: read the running instance's pinned tables and show
 * them as netstat would (stat: the per-state summary; list: netstat -ant).
 */
#define _GNU_SOURCE /* qsort_r */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"
#include "gauges.h"
#include "output.h"
#include "query.h"
#include "gc.h"
#include "ident.h"
#include "stale.h"
#include "health.h"
#include "owners.h"

/* A closed stdout or a full disk: say so in one line, exit non-zero. */
static int flush_stdout(void)
{
	if (fflush(stdout) == EOF || ferror(stdout)) {
		pr_err("cannot write the output: %s", strerror(errno ? errno : EIO));
		return TCPS_EXIT_FAIL;
	}
	return TCPS_EXIT_OK;
}

static const char stat_usage[] =
	"Usage: tcpscope stat [--by-remote | --by-port] [--counters] [--walk] [--json]\n"
	"                     [--pin-dir DIR]\n"
	"\n"
	"Connections per TCP state, as\n"
	"  netstat -ant | awk '/^tcp/{++S[$NF]} END {for(k in S) print k,S[k]}'\n"
	"gives for this host (the local side's state; the originator's in passive mode),\n"
	"from gauges the data path keeps: O(1), whatever the table size.\n"
	"Connections closed within the CLOSE linger are no sockets: they are counted\n"
	"apart, on a last line 'closed (last 10s) N'. With no daemon running for the\n"
	"pins, the timeouts are applied by the query, a warning goes to stderr, and\n"
	"the exit status is 5.\n"
	"\n"
	"Options:\n"
	"  -r, --by-remote   connections per remote address, most first (counted as the\n"
	"                    rows stream by: memory is one entry per distinct remote)\n"
	"      --by-port     connections per local port, most first (one of the two at\n"
	"                    a time, except with --json)\n"
	"  -c, --counters    also the data-path counters (packets, drops, table full...)\n"
	"      --walk        count the tables entry by entry (a map iterator) instead of\n"
	"                    reading the per-state gauges the data path keeps: a check\n"
	"  -j, --json        JSON: {\"states\": {...}, \"total\": n, \"by_remote\": [...]}\n"
	"      --pin-dir DIR pins of the instance to read (default /sys/fs/bpf/tcpscope)\n"
	"  -h, --help        this help\n";

static const char list_usage[] =
	"Usage: tcpscope list [OPTIONS] [-i] [-p] [FILTER EXPRESSION]\n"
	"\n"
	"One line per tracked connection, like netstat -ant, plus the remote side's\n"
	"state, packets and bytes each way, and age. With no daemon running for the\n"
	"pins, what it would have expired is left out, a warning goes to stderr, and\n"
	"the exit status is 5.\n"
	"\n"
	"Filter expression (as ss(8)'s; src/sport are the local end, dst/dport the\n"
	"remote end; orig and resp in passive mode):\n"
	"  state established '( dport = :443 or sport = :80 )' dst 198.18.0.0/15\n"
	"  state NAME | exclude NAME   ss's or netstat's names, or a group: all,\n"
	"                              connected, synchronized, bucket, big\n"
	"  sport|dport OP [:]PORT      OP: = != < > <= >=\n"
	"  src|dst [=|!=] ADDR[/PLEN][:PORT]   198.18.0.0/15, [2001:db8::1]:443\n"
	"  and, or, not, ( )           juxtaposition is 'and'\n"
	"\n"
	"Filter options (all must match, and the expression):\n"
	"  -s, --state S[,S..] only these states of the local side (netstat names)\n"
	"      --port P        local or remote port P\n"
	"  -a, --addr CIDR     either end inside CIDR (198.18.0.0/15, 2001:db8::/32, an address)\n"
	"  -4, -6              only IPv4 / only IPv6 (both: either, as ss)\n"
	"Output (without --sort, rows stream in the tables' own order as they are read:\n"
	"memory stays one batch at any table size; the text table sizes its columns on\n"
	"the first 4096 rows. --sort must hold every row to sort them):\n"
	"      --sort KEY      state, local, remote, age, idle, packets, bytes,\n"
	"                      rtt (slowest first), retrans (most first); age and\n"
	"                      the last four need health (not run --no-health)\n"
	"  -i, --info          health columns: RTT smoothed/min, retransmissions, duration\n"
	"  -p, --processes     (host mode) the socket's owner, as ss -p: pid/command\n"
	"                      (and cgroup in JSON), from sock_diag and /proc at query\n"
	"                      time; \"-\" where none (passive, forwarded, TIME_WAIT)\n"
	"  -j, --json          JSON: {\"connections\": [...]} (fields in the README)\n"
	"      --pin-dir DIR   pins of the instance to read (default /sys/fs/bpf/tcpscope)\n"
	"  -h, --help          this help\n";

/* Address filter: family + prefix. */
struct cidr {
	int family;
	__u8 addr[16];
	int plen;
};

static int cidr_parse(const char *s, struct cidr *c)
{
	char buf[64], *slash;
	unsigned long long plen;
	int max;

	if (strlen(s) >= sizeof(buf))
		return -1;
	snprintf(buf, sizeof(buf), "%s", s);
	slash = strchr(buf, '/');
	if (slash)
		*slash++ = '\0';
	memset(c, 0, sizeof(*c));
	if (inet_pton(AF_INET, buf, c->addr) == 1)
		c->family = TCPS_AF_INET, max = 32;
	else if (inet_pton(AF_INET6, buf, c->addr) == 1)
		c->family = TCPS_AF_INET6, max = 128;
	else
		return -1;
	c->plen = max;
	if (slash) {
		if (parse_u64(slash, 0, (unsigned long long)max, &plen))
			return -1;
		c->plen = (int)plen;
	}
	return 0;
}

static bool cidr_match(const struct cidr *c, const struct tcps_key *k, int side)
{
	const __u8 *a = (const __u8 *)k->addr[side];
	int full = c->plen / 8, rest = c->plen % 8;

	if (k->family != c->family)
		return false;
	if (memcmp(a, c->addr, (size_t)full))
		return false;
	if (rest && ((a[full] ^ c->addr[full]) & (0xff << (8 - rest))))
		return false;
	return true;
}

void tcps_snapshot_count(struct tcps_snapshot *s)
{
	size_t i;

	memset(s->counts, 0, sizeof(s->counts));
	for (i = 0; i < s->n; i++) {
		const struct tcps_conn *c = &s->rows[i].val;
		__u8 st = c->fsm.ep[tcps_first_side(c, s->mode)].state;

		if (st < TCPS_STATE_MAX)
			s->counts[st]++;
	}
	s->total = s->n;
}

bool tcps_totals_walk;

/* The gauges (gauges.c): 14 slots, whatever the table holds. */
static int totals_gauges(const struct tcps_pins *p, __u64 counts[TCPS_STATE_MAX], __u64 *conns,
			 __u64 *halfopen)
{
	struct tcps_gauges g;
	int err = tcps_gauges_read(p->trans, &g), i;

	if (err)
		return err;
	/* Below zero would be a bug of the bookkeeping: walk instead. */
	for (i = 0; i < TCPS_STATE_MAX; i++)
		if ((__s64)g.states[i] < 0)
			return -ERANGE;
	if ((__s64)g.conns < 0 || (__s64)g.halfopen < 0)
		return -ERANGE;
	memcpy(counts, g.states, sizeof(g.states));
	*conns = g.conns;
	*halfopen = g.halfopen;
	return 0;
}

int tcps_state_totals(const struct tcps_pins *p, __u64 counts[TCPS_STATE_MAX], __u64 *conns,
		      __u64 *halfopen)
{
	struct tcps_snapshot s = { .pins = *p, .mode = p->meta.mode };
	size_t i;
	int err;

	if (!tcps_totals_walk) {
		err = totals_gauges(p, counts, conns, halfopen);
		if (!err)
			return 0;
		pr_debug("gauges: %s; counting the table instead", strerror(-err));
	}
	err = tcps_count_states_iter(p, counts, conns, halfopen);
	if (!err)
		return 0;
	pr_debug("state iterator: %s; reading every entry instead", strerror(-err));
	err = tcps_rows_read(p, &s.rows, &s.n);
	if (err)
		return err;
	tcps_snapshot_count(&s);
	memcpy(counts, s.counts, sizeof(s.counts));
	*conns = *halfopen = 0;
	for (i = 0; i < s.n; i++)
		(*(s.rows[i].halfopen ? halfopen : conns))++;
	free(s.rows);
	return 0;
}

void tcps_snapshot_split_closed(struct tcps_snapshot *s)
{
	unsigned int st;

	s->closed = s->counts[TCPS_CLOSE];
	s->counts[TCPS_CLOSE] = 0;
	s->total = 0;
	for (st = 1; st < TCPS_STATE_MAX; st++)
		s->total += s->counts[st];
}

void tcps_snapshot_expire(struct tcps_snapshot *s, const struct tcps_timeouts *t, __u64 now)
{
	size_t i, n = 0;

	s->as_of = 0;
	s->expired = 0;
	for (i = 0; i < s->n; i++) {
		const struct tcps_conn *c = &s->rows[i].val;

		if (c->last_seen > s->as_of)
			s->as_of = c->last_seen;
		if (tcps_gc_expired(c, now, t)) {
			s->expired++;
			continue;
		}
		s->rows[n++] = s->rows[i];
	}
	s->n = n;
}

static void owner_desc(const struct tcps_snapshot *s, char *buf, size_t len)
{
	if (s->owner_pid)
		snprintf(buf, len, "pid %u gone", s->owner_pid);
	else
		snprintf(buf, len, "none since a --persist exit");
}

static void as_of_str(const struct tcps_snapshot *s, char *buf, size_t len)
{
	if (s->as_of)
		tcps_fmt_time(tcps_mono_to_real(s->as_of), buf, len);
	else
		snprintf(buf, len, "(empty table)");
}

int tcps_stale_warn(const struct tcps_snapshot *s)
{
	char who[48], when[40];

	if (!s->stale)
		return TCPS_EXIT_OK;
	owner_desc(s, who, sizeof(who));
	as_of_str(s, when, sizeof(when));
	pr_warn("no daemon is running for %s (%s): states as of %s, expired by query (%llu entries left out)",
		s->pin_dir, who, when, (unsigned long long)s->expired);
	return TCPS_EXIT_STALE;
}

json_object *tcps_daemon_json(const struct tcps_snapshot *s)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "running", json_object_new_boolean(!s->stale));
	json_object_object_add(o, "pid", json_object_new_int64(s->owner_pid));
	if (s->stale) {
		char when[40];

		if (s->as_of) {
			as_of_str(s, when, sizeof(when));
			json_object_object_add(o, "as_of", json_object_new_string(when));
		} else {
			json_object_object_add(o, "as_of", NULL);
		}
		json_object_object_add(o, "expired_by_query",
				       json_object_new_int64((int64_t)s->expired));
	}
	return o;
}

/* The pins, the owner's state and its timeouts: the part of a query
 * that reads no row. Returns 0 or tcps_pins_open's error. */
static int instance_open(const char *pin_dir, struct tcps_snapshot *s, struct tcps_timeouts *t)
{
	int err;

	memset(s, 0, sizeof(*s));
	err = tcps_pins_open(pin_dir, &s->pins);
	if (err)
		return err;
	s->mode = s->pins.meta.mode;
	s->live = true;
	s->pin_dir = pin_dir;
	s->owner_pid = s->pins.meta.pid;
	s->stale = !tcps_info_owner_alive(&s->pins.meta);
	tcps_timeouts_of(pin_dir, &s->pins.meta, t);
	s->closed_window_s = t->state_s[TCPS_CLOSE];
	return 0;
}

/* rows: read every entry (list, --by-remote); else only count states.
 * When no daemon runs, rows are always read: the iterator counts what
 * is in the table, and the table has not been expired since. */
static int query_open(const char *pin_dir, struct tcps_snapshot *s, bool rows)
{
	__u64 conns = 0, halfopen = 0;
	struct tcps_timeouts t;
	int err;

	err = instance_open(pin_dir, s, &t);
	if (err)
		return err;
	if (rows || s->stale) {
		err = tcps_rows_read(&s->pins, &s->rows, &s->n);
		if (!err && s->stale)
			tcps_snapshot_expire(s, &t, tcps_mono_now());
		if (!err)
			tcps_snapshot_count(s);
		for (size_t i = 0; !err && i < s->n; i++)
			(*(s->rows[i].halfopen ? &halfopen : &conns))++;
	} else {
		err = tcps_state_totals(&s->pins, s->counts, &conns, &halfopen);
	}
	s->conns = conns;
	s->halfopen = halfopen;
	if (!err)
		tcps_snapshot_split_closed(s);
	if (!err)
		err = tcps_counters_read(s->pins.stats, s->counters);
	if (err) {
		pr_err("reading %s: %s", pin_dir, strerror(-err));
		tcps_query_close(s);
		return TCPS_EXIT_FAIL;
	}
	s->now = tcps_mono_now();
	return 0;
}

int tcps_query_open(const char *pin_dir, struct tcps_snapshot *s)
{
	return query_open(pin_dir, s, true);
}

int tcps_query_open_counts(const char *pin_dir, struct tcps_snapshot *s)
{
	return query_open(pin_dir, s, false);
}

void tcps_query_close(struct tcps_snapshot *s)
{
	free(s->rows);
	s->rows = NULL;
	tcps_pins_close(&s->pins);
}

void tcps_state_counts(const struct tcps_snapshot *s, __u64 counts[TCPS_STATE_MAX])
{
	memcpy(counts, s->counts, sizeof(__u64) * TCPS_STATE_MAX);
}

/* Connections grouped by one end's address or port. */
struct group {
	struct tcps_key key;	/* family, addr[0] and port[0] hold the group */
	__u64 count;
};

static int group_key_cmp(const void *a, const void *b)
{
	const struct group *x = a, *y = b;

	if (x->key.family != y->key.family)
		return x->key.family - y->key.family;
	return memcmp(&x->key, &y->key, sizeof(x->key));
}

static int group_count_cmp(const void *a, const void *b)
{
	const struct group *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return group_key_cmp(a, b);
}

/* Connections per group, aggregated as rows come: an open-addressing
 * table of the distinct remotes (or an array of the 65536 ports), so the
 * memory is the distinct groups, not the rows. */
struct group_agg {
	bool by_port, live;
	__u32 mode;
	struct group *slot;	/* count 0: free */
	size_t cap, used;	/* cap: a power of two */
	int err;
};

static size_t group_hash(const struct tcps_key *k)
{
	__u64 h = 1469598103934665603ULL;	/* FNV-1a over the group's key */
	size_t i;

	for (i = 0; i < sizeof(*k); i++)
		h = (h ^ ((const __u8 *)k)[i]) * 1099511628211ULL;
	return (size_t)(h ^ (h >> 29));
}

static struct group *group_find(struct group_agg *a, const struct tcps_key *k)
{
	size_t i = group_hash(k) & (a->cap - 1);

	while (a->slot[i].count && group_key_cmp(&a->slot[i], &(struct group){ .key = *k }))
		i = (i + 1) & (a->cap - 1);
	return &a->slot[i];
}

static int group_grow(struct group_agg *a)
{
	size_t old = a->cap, i;
	struct group *prev = a->slot;

	a->cap = old ? old * 2 : (a->by_port ? 65536 * 2 : 1024);
	a->slot = calloc(a->cap, sizeof(*a->slot));
	if (!a->slot) {
		a->slot = prev;
		a->cap = old;
		return -ENOMEM;
	}
	for (i = 0; i < old; i++)
		if (prev[i].count)
			*group_find(a, &prev[i].key) = prev[i];
	free(prev);
	return 0;
}

static int group_add(struct group_agg *a, const struct tcps_row *r)
{
	int first = tcps_first_side(&r->val, a->mode), side = a->by_port ? first : !first;
	struct tcps_key k;
	struct group *e;

	/* Live views count sockets, as netstat: a closed entry is not one. */
	if (a->live && r->val.fsm.ep[first].state == TCPS_CLOSE)
		return 0;
	memset(&k, 0, sizeof(k));
	k.family = a->by_port ? 0 : r->key.family;
	if (a->by_port)
		k.port[0] = r->key.port[side];
	else
		memcpy(k.addr[0], r->key.addr[side], 16);
	if ((a->used + 1) * 2 > a->cap && group_grow(a))
		return -ENOMEM;
	e = group_find(a, &k);
	if (!e->count++) {
		e->key = k;
		a->used++;
	}
	return 0;
}

static int group_batch(const struct tcps_row *rows, size_t n, void *ctx)
{
	struct group_agg *a = ctx;
	size_t i;

	for (i = 0; i < n; i++)
		if ((a->err = group_add(a, &rows[i])))
			return a->err;
	return 0;
}

size_t tcps_group(const struct tcps_snapshot *s, bool by_port, struct tcps_group **out)
{
	struct group_agg a = { .by_port = by_port, .live = s->live, .mode = s->mode };
	size_t i, n = 0;
	int err = 0;

	*out = NULL;
	/* Held rows (a stale instance's, expired by the query), else a walk. */
	if (s->rows || !s->live)
		for (i = 0; !err && i < s->n; i++)
			err = group_add(&a, &s->rows[i]);
	else
		err = tcps_rows_walk(&s->pins, group_batch, &a);
	if (!err && !a.cap)
		err = group_grow(&a);
	if (err) {
		pr_err("grouping the connections: %s", strerror(-err));
		free(a.slot);
		return 0;
	}
	for (i = 0; i < a.cap; i++)	/* compact, then most first */
		if (a.slot[i].count)
			a.slot[n++] = a.slot[i];
	qsort(a.slot, n, sizeof(*a.slot), group_count_cmp);
	*out = calloc(n ? n : 1, sizeof(**out));
	if (!*out) {
		free(a.slot);
		return 0;
	}
	for (i = 0; i < n; i++) {
		(*out)[i].count = a.slot[i].count;
		if (by_port)
			snprintf((*out)[i].label, sizeof((*out)[i].label), "%u",
				 ntohs(a.slot[i].key.port[0]));
		else
			tcps_addr_str(&a.slot[i].key, 0, (*out)[i].label, sizeof((*out)[i].label));
	}
	free(a.slot);
	return n;
}

/* "states": every state's count, by name. */
static json_object *stat_states_json(const struct tcps_snapshot *s)
{
	json_object *states = json_object_new_object();
	__u64 counts[TCPS_STATE_MAX];
	unsigned int st;

	tcps_state_counts(s, counts);
	for (st = 1; st < TCPS_STATE_MAX; st++)
		json_object_object_add(states, tcps_state_name(st),
				       json_object_new_int64((int64_t)counts[st]));
	return states;
}

/* What only a running daemon knows: the closed window, itself, the tables. */
static void stat_live_json(json_object *o, const struct tcps_snapshot *s)
{
	json_object_object_add(o, "closed", json_object_new_int64((int64_t)s->closed));
	json_object_object_add(o, "closed_window_s", json_object_new_int64(s->closed_window_s));
	json_object_object_add(o, "daemon", tcps_daemon_json(s));
	json_object_object_add(o, "conns", json_object_new_int64((int64_t)s->conns));
	json_object_object_add(o, "halfopen", json_object_new_int64((int64_t)s->halfopen));
}

/* "by_remote" (which 0) or "by_port" (which 1): counts per group. */
static json_object *stat_group_json(const struct tcps_snapshot *s, int which)
{
	json_object *arr = json_object_new_array();
	struct tcps_group *g;
	size_t n, i;

	n = tcps_group(s, which, &g);
	for (i = 0; i < n; i++) {
		json_object *e = json_object_new_object();

		if (which)
			json_object_object_add(e, "port", json_object_new_int(atoi(g[i].label)));
		else
			json_object_object_add(e, "addr", json_object_new_string(g[i].label));
		json_object_object_add(e, "count", json_object_new_int64((int64_t)g[i].count));
		json_object_array_add(arr, e);
	}
	free(g);
	return arr;
}

/* "counters": the data path's counters, by name. */
static json_object *stat_counters_json(const struct tcps_snapshot *s)
{
	json_object *c = json_object_new_object();
	unsigned int i;

	for (i = 0; i < TCPS_CNT_MAX; i++)
		json_object_object_add(c, tcps_counter_name(i),
				       json_object_new_int64((int64_t)s->counters[i]));
	return c;
}

json_object *tcps_stat_json(const struct tcps_snapshot *s, bool by_remote, bool by_port,
			    bool counters)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "states", stat_states_json(s));
	json_object_object_add(o, "total", json_object_new_int64((int64_t)s->total));
	if (s->live)
		stat_live_json(o, s);
	if (by_remote)
		json_object_object_add(o, "by_remote", stat_group_json(s, 0));
	if (by_port)
		json_object_object_add(o, "by_port", stat_group_json(s, 1));
	if (counters)
		json_object_object_add(o, "counters", stat_counters_json(s));
	return o;
}

void tcps_stat_text(FILE *f, const __u64 counts[TCPS_STATE_MAX], const __u64 *closed,
		    unsigned int closed_window_s, const __u64 *counters)
{
	unsigned int i;

	for (i = 1; i < TCPS_STATE_MAX; i++)
		fprintf(f, "%s %llu\n", tcps_state_name(i), (unsigned long long)counts[i]);
	/* Not a state: closed connections kept for listing, which ss no
	 * longer shows (its second field is not a number, so an awk sum over
	 * the states leaves it out). */
	if (closed)
		fprintf(f, "closed (last %us) %llu\n", closed_window_s, (unsigned long long)*closed);
	for (i = 0; counters && i < TCPS_CNT_MAX; i++)
		fprintf(f, "# %s %llu\n", tcps_counter_name(i), (unsigned long long)counters[i]);
}

int tcps_expr_args(const char *cmd, int argc, char **argv, struct tcps_expr **out)
{
	struct tcps_expr_error e;
	char *text;

	*out = NULL;
	if (argc <= 0)
		return 0;
	text = tcps_expr_join(argc, argv);
	if (!text) {
		pr_err("%s: out of memory", cmd);
		return TCPS_EXIT_FAIL;
	}
	*out = tcps_expr_compile(text, &e);
	if (!*out) {
		usage_err(cmd, "bad filter at column %d: %s", e.col, e.msg);
		tcps_expr_caret(stderr, text, &e);
		free(text);
		return TCPS_EXIT_USAGE;
	}
	free(text);
	return 0;
}

static const char stat_shorts[] = "rpcjh", list_shorts[] = "s:pa:46jhi";

/* shorts: the command's getopt string, for usage_bad_option. */
static int parse_common(int c, const char *cmd, const char *shorts, char **argv,
			const char **pin_dir, bool *json)
{
	switch (c) {
	case 'P':
		return pin_dir_arg(cmd, optarg, pin_dir);
	case 'j':
		*json = true;
		tcps_json_errors = true;
		return 0;
	default:
		return usage_bad_option(cmd, argv, shorts);
	}
}

/* What the command line asks for. */
struct stat_opts {
	const char *pin_dir;
	bool json, by_remote, by_port, counters;
};

/* The options into o; -1 to go on, else the exit code (usage error, --help). */
static int stat_parse_args(int argc, char **argv, struct stat_opts *o)
{
	static const struct option longopts[] = {
		{ "by-remote", no_argument, NULL, 'r' }, { "by-port", no_argument, NULL, 'p' },
		{ "counters", no_argument, NULL, 'c' },	 { "json", no_argument, NULL, 'j' },
		{ "pin-dir", required_argument, NULL, 'P' }, { "help", no_argument, NULL, 'h' },
		{ "walk", no_argument, NULL, 'W' },
		{},
	};
	int c, err;

	optind = 1;
	opterr = 0;	/* one line of our own instead of getopt's */
	while ((c = getopt_long(argc, argv, stat_shorts, longopts, NULL)) != -1) {
		if (c == 'h') {
			fputs(stat_usage, stdout);
			return TCPS_EXIT_OK;
		} else if (c == 'r') {
			o->by_remote = true;
		} else if (c == 'p') {
			o->by_port = true;
		} else if (c == 'c') {
			o->counters = true;
		} else if (c == 'W') {
			tcps_totals_walk = true;
		} else if ((err = parse_common(c, "stat", stat_shorts, argv, &o->pin_dir, &o->json))) {
			return err;
		}
	}
	if (optind < argc)
		return usage_err("stat", "unexpected argument '%s'", argv[optind]);
	/* Two groupings in one "count label" list would mix ports and
	 * addresses; JSON keeps them apart. */
	if (o->by_remote && o->by_port && !o->json)
		return usage_err("stat", "--by-remote or --by-port, one at a time (--json gives both)");
	return -1;
}

/* The counts of s as o asks: JSON, per remote address or port, or per
 * state; the data-path counters too with --counters. */
static void stat_print(const struct tcps_snapshot *s, const struct stat_opts *o)
{
	if (o->json) {
		tcps_json_print(stdout, tcps_stat_json(s, o->by_remote, o->by_port, o->counters));
	} else if (o->by_remote || o->by_port) {
		struct tcps_group *g;
		size_t n = tcps_group(s, o->by_port, &g), i;

		for (i = 0; i < n; i++)
			printf("%7llu %s\n", (unsigned long long)g[i].count, g[i].label);
		free(g);
	} else {
		__u64 counts[TCPS_STATE_MAX];

		tcps_state_counts(s, counts);
		tcps_stat_text(stdout, counts, &s->closed, s->closed_window_s,
			       o->counters ? s->counters : NULL);
	}
	if (o->counters && !o->json && (o->by_remote || o->by_port)) {
		unsigned int i;

		for (i = 0; i < TCPS_CNT_MAX; i++)
			printf("# %s %llu\n", tcps_counter_name(i), (unsigned long long)s->counters[i]);
	}
}

int cmd_stat(int argc, char **argv)
{
	struct stat_opts o = { .pin_dir = TCPS_PIN_DIR_DEFAULT };
	struct tcps_snapshot s;
	int err, stale;

	err = stat_parse_args(argc, argv, &o);	/* -1: run */
	if (err >= 0)
		return err;
	if (tcps_stdout_check())
		return TCPS_EXIT_FAIL;
	/* The plain summary needs only counts: the gauges (or with --walk a
	 * count in the kernel), without copying a row (0.5 s at a million
	 * entries otherwise); groups: tcps_group streams the rows. */
	err = tcps_query_open_counts(o.pin_dir, &s);
	if (err)
		return err;
	tcps_output_set_info(&s.pins.meta);
	stat_print(&s, &o);
	stale = tcps_stale_warn(&s);
	tcps_query_close(&s);
	err = flush_stdout();
	return err ? err : stale;
}

/* list --sort */
enum sort_key { SORT_STATE, SORT_LOCAL, SORT_REMOTE, SORT_AGE, SORT_IDLE, SORT_PACKETS, SORT_BYTES,
		SORT_RTT, SORT_RETRANS };
/* qsort_r context: no globals, the HTTP thread sorts too. */
struct sort_ctx {
	enum sort_key key;
	__u32 mode;
};

static int cmp_side(const struct tcps_row *a, int sa, const struct tcps_row *b, int sb)
{
	int c;

	if (a->key.family != b->key.family)
		return a->key.family - b->key.family;
	c = memcmp(a->key.addr[sa], b->key.addr[sb], 16);
	if (c)
		return c;
	return (int)ntohs(a->key.port[sa]) - (int)ntohs(b->key.port[sb]);
}

static int row_cmp(const void *pa, const void *pb, void *pctx)
{
	const struct tcps_row *a = pa, *b = pb;
	const struct sort_ctx *ctx = pctx;
	int fa = tcps_first_side(&a->val, ctx->mode), fb = tcps_first_side(&b->val, ctx->mode);
	__u64 x, y;

	switch (ctx->key) {
	case SORT_STATE:
		if (a->val.fsm.ep[fa].state != b->val.fsm.ep[fb].state)
			return a->val.fsm.ep[fa].state - b->val.fsm.ep[fb].state;
		return cmp_side(a, fa, b, fb);
	case SORT_LOCAL:
		return cmp_side(a, fa, b, fb);
	case SORT_REMOTE:
		return cmp_side(a, !fa, b, !fb);
	case SORT_AGE:		/* oldest first */
		x = a->val.first_seen, y = b->val.first_seen;
		return x < y ? -1 : x > y;
	case SORT_IDLE:		/* longest idle first */
		x = a->val.last_seen, y = b->val.last_seen;
		return x < y ? -1 : x > y;
	case SORT_PACKETS:	/* most first */
		x = a->val.pkts[0] + a->val.pkts[1], y = b->val.pkts[0] + b->val.pkts[1];
		return x > y ? -1 : x < y;
	case SORT_BYTES:
		x = a->val.bytes[0] + a->val.bytes[1], y = b->val.bytes[0] + b->val.bytes[1];
		return x > y ? -1 : x < y;
	case SORT_RTT:		/* slowest first */
		return tcps_health_cmp_rtt(&a->val, &b->val, ctx->mode);
	case SORT_RETRANS:	/* most first */
		return tcps_health_cmp_retrans(&a->val, &b->val, ctx->mode);
	}
	return 0;
}

static const char *const sort_names[] = { "state", "local", "remote", "age",
					  "idle",  "packets", "bytes", "rtt", "retrans" };

const char tcps_sort_keys[] = "state, local, remote, age, idle, packets, bytes, rtt or retrans";

int tcps_sort_parse(const char *name)
{
	unsigned int k;

	for (k = 0; k < sizeof(sort_names) / sizeof(sort_names[0]); k++)
		if (!strcmp(name, sort_names[k]))
			return (int)k;
	return -1;
}

void tcps_rows_sort(struct tcps_snapshot *s, int key)
{
	struct sort_ctx ctx = { .key = (enum sort_key)key, .mode = s->mode };

	if (s->n < 2)
		return;		/* rows may be NULL: qsort_r's argument is nonnull */
	qsort_r(s->rows, s->n, sizeof(*s->rows), row_cmp, &ctx);
}

void tcps_cidr_get(const struct cidr *c, __u8 *family, __u8 addr[16], __u8 *plen)
{
	*family = (__u8)c->family;
	memcpy(addr, c->addr, 16);
	*plen = (__u8)c->plen;
}

struct cidr *tcps_cidr_parse(const char *s)
{
	struct cidr *c = malloc(sizeof(*c));

	if (c && cidr_parse(s, c)) {
		free(c);
		c = NULL;
	}
	return c;
}

/* ---- list output, one row at a time ----
 * The same sink serves the streamed walk (no --sort: table order, memory
 * one batch) and held, sorted rows (--sort, and /v1/connections). */
enum list_form { FORM_JSON, FORM_INFO, FORM_TABLE };
#define TABLE_SIZING_ROWS 4096	/* the text table's widths: the first rows */
/* JSON rows go to the FILE in writes of this size or a row more: 16 times
 * fewer write(2)s than stdio's 4 KiB buffer on a pipe or /dev/null. */
#define JSON_FLUSH_BYTES (64 * 1024)

struct list_out {
	FILE *f;
	enum list_form form;
	const struct tcps_filter *flt;
	__u32 mode;
	__u64 now;		/* CLOCK_MONOTONIC ns: ages */
	size_t shown;
	struct tcps_jbuf jb;	/* FORM_JSON: rows not yet written to f */
	const struct tcps_owners *ow;	/* FORM_INFO with -p */
	bool owners;
	/* FORM_TABLE, FORM_INFO: rows held until the widths are known. */
	struct tcps_table tab;
	int aw;			/* FORM_INFO: the address columns' width */
	struct tcps_row *held;
	size_t nheld;
	bool sized;
	/* Streamed from a stale instance: expired by the query here. */
	const struct tcps_timeouts *expire;
	__u64 expire_now, as_of, expired;
	int err;
};

/* One row of list -i (and -p: its owner). */
static void info_row(struct list_out *o, const struct tcps_row *r)
{
	char who[64];

	tcps_owner_str(o->mode == TCPS_MODE_HOST ?
			       tcps_owner_find(o->ow, &r->key, tcps_first_side(&r->val, o->mode)) :
			       NULL,
		       who, sizeof(who));
	tcps_info_text(o->f, r, o->mode, o->owners ? who : NULL, o->aw);
}

/* The held rows, under a header sized to them. */
static void table_flush(struct list_out *o)
{
	size_t i;

	if (o->form == FORM_INFO) {
		for (i = 0; i < o->nheld; i++)
			if (tcps_info_addr_width(&o->held[i], o->mode) > o->aw)
				o->aw = tcps_info_addr_width(&o->held[i], o->mode);
		tcps_info_text_header(o->f, o->mode, o->owners, o->aw);
		for (i = 0; i < o->nheld; i++)
			info_row(o, &o->held[i]);
	} else {
		tcps_table_init(&o->tab, o->mode, o->now, 0, NULL);
		for (i = 0; i < o->nheld; i++)
			tcps_table_measure(&o->tab, &o->held[i], NULL);
		tcps_table_header(o->f, &o->tab);
		for (i = 0; i < o->nheld; i++)
			tcps_table_row(o->f, &o->tab, &o->held[i], NULL);
	}
	free(o->held);
	o->held = NULL;
	o->nheld = 0;
	o->sized = true;
}

/* 0, or 1 when the limit is reached (stop). */
static int list_row(struct list_out *o, const struct tcps_row *r)
{
	if (o->flt && !tcps_filter_match(o->flt, r, o->mode))
		return 0;
	if (o->flt && o->flt->limit && o->shown >= o->flt->limit)
		return 1;
	o->shown++;
	switch (o->form) {
	case FORM_JSON:
		if (o->shown > 1)
			tcps_jbuf_raw(&o->jb, ",", 1);
		tcps_conn_write(&o->jb, r, o->mode);
		if (o->jb.len >= JSON_FLUSH_BYTES && (o->err = tcps_jbuf_flush(&o->jb, o->f)))
			return 1;
		break;
	case FORM_INFO:
	case FORM_TABLE:
		if (o->sized) {
			if (o->form == FORM_INFO)
				info_row(o, r);
			else
				tcps_table_row(o->f, &o->tab, r, NULL);
			break;
		}
		if (!o->held)
			o->held = malloc(TABLE_SIZING_ROWS * sizeof(*o->held));
		if (!o->held) {
			o->err = -ENOMEM;
			return 1;
		}
		o->held[o->nheld++] = *r;
		if (o->nheld == TABLE_SIZING_ROWS)
			table_flush(o);
		break;
	}
	return 0;
}

static int list_begin(struct list_out *o)
{
	if (o->form == FORM_JSON)
		fputs("{\"connections\":[", o->f);
	return 0;
}

/* s: the instance (its daemon object ends the JSON document). */
static int list_end(struct list_out *o, const struct tcps_snapshot *s)
{
	if (o->form != FORM_JSON && !o->sized)
		table_flush(o);
	if (o->form == FORM_JSON) {
		int err = tcps_jbuf_flush(&o->jb, o->f);

		tcps_jbuf_free(&o->jb);
		if (err)
			return err;
		if (s->live) {
			json_object *d = tcps_daemon_json(s);

			fprintf(o->f, "],\"daemon\":%s}\n",
				json_object_to_json_string_ext(d, TCPS_JSON_FLAGS));
			json_object_put(d);
		} else {
			fputs("]}\n", o->f);
		}
	}
	return o->err;
}

size_t tcps_list_json(FILE *out, const struct tcps_snapshot *s, const struct tcps_filter *f)
{
	struct list_out o = { .f = out, .form = FORM_JSON, .flt = f, .mode = s->mode };
	size_t i;

	if (list_begin(&o))
		return 0;
	for (i = 0; i < s->n && !list_row(&o, &s->rows[i]); i++)
		;
	list_end(&o, s);
	return o.shown;
}

static int list_batch(const struct tcps_row *rows, size_t n, void *ctx)
{
	struct list_out *o = ctx;
	size_t i;

	for (i = 0; i < n; i++) {
		const struct tcps_conn *c = &rows[i].val;

		if (o->expire) {
			if (c->last_seen > o->as_of)
				o->as_of = c->last_seen;
			if (tcps_gc_expired(c, o->expire_now, o->expire)) {
				o->expired++;
				continue;
			}
		}
		if (list_row(o, &rows[i]))
			return 1;
	}
	return o->err;
}

/* The instance, without reading a row: what a streamed listing needs
 * (mode, daemon state, timeouts). Same return values as tcps_query_open. */
static int list_open(const char *pin_dir, struct tcps_snapshot *s, struct tcps_timeouts *t)
{
	int err = instance_open(pin_dir, s, t);

	if (err)
		return err;
	s->now = tcps_mono_now();
	return 0;
}

/* list without --sort: the tables' own order, streamed. */
static int list_stream(struct list_out *o, struct tcps_snapshot *s, const struct tcps_timeouts *t)
{
	int err;

	if (s->stale) {
		o->expire = t;
		o->expire_now = tcps_mono_now();
	}
	err = list_begin(o);
	if (!err) {
		err = tcps_rows_walk(&s->pins, list_batch, o);
		if (err == 1)
			err = 0;
	}
	s->as_of = o->as_of;
	s->expired = o->expired;
	if (!err) {
		err = list_end(o, s);
	} else {
		free(o->held);
		tcps_jbuf_free(&o->jb);
	}
	if (err)
		pr_err("reading %s: %s", s->pin_dir, strerror(-err));
	return err ? TCPS_EXIT_FAIL : 0;
}

bool tcps_filter_match(const struct tcps_filter *f, const struct tcps_row *r, __u32 mode)
{
	int first = tcps_first_side(&r->val, mode);

	if (f->expr) {
		struct tcps_subject sj = {
			.family = r->key.family,
			.sport = ntohs(r->key.port[first]),
			.dport = ntohs(r->key.port[!first]),
			.state = r->val.fsm.ep[first].state,
		};

		memcpy(sj.src, r->key.addr[first], 16);
		memcpy(sj.dst, r->key.addr[!first], 16);
		if (!tcps_expr_eval(f->expr, &sj))
			return false;
	}

	if (f->family && r->key.family != f->family)
		return false;
	if (f->states && !(f->states & (1U << r->val.fsm.ep[first].state)))
		return false;
	if (f->port >= 0 && ntohs(r->key.port[0]) != f->port && ntohs(r->key.port[1]) != f->port)
		return false;
	if (f->has_cidr && !cidr_match(f->cidr, &r->key, 0) && !cidr_match(f->cidr, &r->key, 1))
		return false;
	return true;
}

int tcps_filter_states(const char *arg, __u32 *mask)
{
	char buf[256], *tok, *save = NULL;

	if (strlen(arg) >= sizeof(buf))
		return -1;
	snprintf(buf, sizeof(buf), "%s", arg);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int st = tcps_state_parse(tok);

		if (st < 0)
			return -1;
		*mask |= 1U << st;
	}
	return *mask ? 0 : -1;
}

/* What list's command line asks for. */
struct list_args {
	const char *pin_dir;
	bool info, owners, json;
	int sort_key;		/* -1, none: the tables' order, streamed */
	struct cidr cidr;	/* f.cidr with --addr */
	struct tcps_filter f;
	unsigned int families;	/* -4: bit 0, -6: bit 1; both: any, as ss -4 -6 */
};

/* A filter option (--state, --port N, --addr, -4, -6) into a->f; 0, or
 * the exit code of its usage error. */
static int list_filter_opt(int c, struct list_args *a)
{
	unsigned long long v;

	switch (c) {
	case 's':
		if (tcps_filter_states(optarg, &a->f.states))
			return usage_err("list", "--state: unknown state in '%s' (netstat names: ESTABLISHED, SYN_SENT, ...)",
					 optarg);
		break;
	case 'p':
		if (parse_u64(optarg, 0, 65535, &v))
			return usage_err("list", "--port takes 0-65535, not '%s'", optarg);
		a->f.port = (int)v;
		break;
	case 'a':
		if (cidr_parse(optarg, &a->cidr))
			return usage_err("list", "--addr takes an address or CIDR, not '%s'", optarg);
		a->f.has_cidr = true;
		break;
	case '4':
	case '6':
		a->families |= c == '4' ? 1 : 2;
		a->f.family = a->families == 1 ? TCPS_AF_INET : a->families == 2 ? TCPS_AF_INET6 : 0;
		break;
	}
	return 0;
}

/* One option of list's into a; -1 to go on, else the exit code (usage
 * error, --help). */
static int list_opt(int c, char **argv, struct list_args *a)
{
	int err = 0;

	switch (c) {
	case 'h':
		fputs(list_usage, stdout);
		return TCPS_EXIT_OK;
	case 'i':
		a->info = true;
		break;
	case 'o':
		a->owners = true;
		break;
	case 'p':
		if (!optarg) {
			a->owners = true;
			break;
		}
		__attribute__((fallthrough));	/* --port N */
	case 's':
	case 'a':
	case '4':
	case '6':
		err = list_filter_opt(c, a);
		break;
	case 'S':
		a->sort_key = tcps_sort_parse(optarg);
		if (a->sort_key < 0)
			return usage_err("list", "--sort takes %s, not '%s'", tcps_sort_keys, optarg);
		break;
	default:
		err = parse_common(c, "list", list_shorts, argv, &a->pin_dir, &a->json);
	}
	return err ? err : -1;
}

/* The options into a (a->f.cidr points at a->cidr); -1 to go on, else the
 * exit code (usage error, --help). */
static int list_parse_args(int argc, char **argv, struct list_args *a)
{
	static const struct option longopts[] = {
		{ "state", required_argument, NULL, 's' }, { "port", required_argument, NULL, 'p' },
		{ "addr", required_argument, NULL, 'a' },  { "sort", required_argument, NULL, 'S' },
		{ "json", no_argument, NULL, 'j' },	   { "pin-dir", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },	   { "info", no_argument, NULL, 'i' },
		{ "processes", no_argument, NULL, 'o' }, {},
	};
	int c, err;

	optind = 1;
	opterr = 0;	/* one line of our own instead of getopt's */
	/* -p is ss's and netstat's --processes; the port filter is --port. */
	while ((c = getopt_long(argc, argv, list_shorts, longopts, NULL)) != -1) {
		err = list_opt(c, argv, a);
		if (err != -1)
			return err;
	}
	return -1;
}

/* The owners of the local sockets for -p: the daemon's host's (host mode),
 * nobody's (passive mode: "-"); NULL without -p. */
static struct tcps_owners *list_owners(const struct tcps_snapshot *s, bool owners)
{
	struct tcps_owners *ow = NULL;

	if (owners && s->mode == TCPS_MODE_HOST) {
		ow = tcps_owners_load((pid_t)s->pins.meta.pid);
		if (!ow)
			pr_warn("cannot read the socket owners: %s", strerror(errno));
	}
	if (owners && !ow)
		ow = tcps_owners_none();	/* passive mode: nobody local, "-" */
	return ow;
}

/* Every row of s, sorted by key; 0 or TCPS_EXIT_FAIL. */
static int list_sorted(struct list_out *o, struct tcps_snapshot *s, int key)
{
	size_t i;
	int err;

	tcps_rows_sort(s, key);
	err = list_begin(o);
	for (i = 0; !err && i < s->n && !list_row(o, &s->rows[i]); i++)
		;
	if (!err)
		err = list_end(o, s);
	return err ? TCPS_EXIT_FAIL : 0;
}

/* The rows a asks for, from the pins to stdout; the exit code. */
static int list_show(struct list_args *a)
{
	struct list_out o = { .f = stdout, .flt = &a->f };
	struct tcps_owners *ow;
	struct tcps_timeouts t;
	struct tcps_snapshot s;
	int err, stale;

	/* --sort holds every row (to sort them); without it, rows stream. */
	err = a->sort_key >= 0 ? tcps_query_open(a->pin_dir, &s) : list_open(a->pin_dir, &s, &t);
	if (err)
		return err;
	tcps_output_set_info(&s.pins.meta);
	tcps_health_set_enabled(s.pins.meta.flags & TCPS_INFO_HEALTH);
	ow = list_owners(&s, a->owners);
	tcps_health_set_owners(ow);
	o.form = a->json ? FORM_JSON : a->info || a->owners ? FORM_INFO : FORM_TABLE;
	o.mode = s.mode;
	o.now = s.now;
	o.ow = ow;
	o.owners = a->owners;
	err = a->sort_key >= 0 ? list_sorted(&o, &s, a->sort_key) : list_stream(&o, &s, &t);
	stale = tcps_stale_warn(&s);
	tcps_health_set_owners(NULL);
	tcps_owners_free(ow);
	tcps_query_close(&s);
	if (err)
		return err;
	err = flush_stdout();
	return err ? err : stale;
}

int cmd_list(int argc, char **argv)
{
	struct list_args a = { .pin_dir = TCPS_PIN_DIR_DEFAULT, .sort_key = -1,
			       .f = { .port = -1 } };
	struct tcps_expr *expr;
	int err;

	a.f.cidr = &a.cidr;
	err = list_parse_args(argc, argv, &a);	/* -1: run */
	if (err >= 0)
		return err;
	err = tcps_expr_args("list", argc - optind, argv + optind, &expr);
	if (err)
		return err;
	a.f.expr = expr;
	err = tcps_stdout_check() ? TCPS_EXIT_FAIL : list_show(&a);
	tcps_expr_free(expr);
	return err;
}
