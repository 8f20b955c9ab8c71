// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Seeding from NETLINK_SOCK_DIAG (inet_diag, linux/inet_diag.h): one dump
 * per address family, all TCP states, in the daemon's network namespace.
 *
 * What goes in, and why:
 * - Connections whose local address is on a watched interface, with the
 *   kernel's state for the local side and, for the remote side, the state
 *   the peer must be in (tcps_seed_peer_state). They are marked mid-stream
 *   (sequence numbers unknown) but seen both ways: the kernel vouches for
 *   both ends, so the short mid-stream timeout does not apply.
 * - Not seeded: connections over interfaces we do not watch (loopback):
 *   no packet would ever update them, so they would go stale; and the
 *   handshake states SYN_SENT/SYN_RECV: without the ISNs the state machine
 *   could not follow them, while their next segment (a retransmitted SYN,
 *   the final ACK) creates a correct entry within a second or so.
 * - Every LISTEN socket, as a listener entry: remote address and port
 *   zero, local state LISTEN, remote CLOSE; never expired by the GC but
 *   re-read every --seed-interval, and removed (event reason "seed") when
 *   the socket is gone. SO_REUSEPORT groups are one entry per address.
 * Inserts never overwrite: an entry made by a packet is fresher.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon.h"
#include "diag.h"
#include "gauges.h"
#include "seed.h"
#include "tcps_key.h"

#define SEED_LISTEN_MAX 65536

struct local_addr {
	__u8 family;	/* TCPS_AF_* */
	__u32 addr[4];
	int ifindex;
};

static struct seed_state {
	struct tcps_daemon *d;
	struct tcps_ctable conns;	/* the main table (seeds never go half-open) */
	bool running;
	__u64 last;
	struct tcps_key *listeners;	/* sorted, the listener entries we know of */
	size_t n_listeners;
	struct local_addr *addrs;
	size_t n_addrs;
	__u64 seeded, full;
} sd;

__u8 tcps_seed_peer_state(__u8 local)
{
	switch (local) {
	case TCPS_ESTABLISHED:
		return TCPS_ESTABLISHED;
	case TCPS_SYN_RECV:	/* it sent the SYN and got our SYN+ACK */
		return TCPS_ESTABLISHED;
	case TCPS_FIN_WAIT1:	/* our FIN reached it */
	case TCPS_FIN_WAIT2:
		return TCPS_CLOSE_WAIT;
	case TCPS_CLOSE_WAIT:	/* it sent FIN, we acked */
		return TCPS_FIN_WAIT2;
	case TCPS_LAST_ACK:	/* our FIN met its FIN_WAIT2 */
		return TCPS_TIME_WAIT;
	case TCPS_CLOSING:	/* simultaneous close */
		return TCPS_CLOSING;
	default:		/* SYN_SENT, TIME_WAIT (its LAST_ACK got our ACK), CLOSE */
		return TCPS_CLOSE;
	}
}

static int key_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct tcps_key));
}

static void emit_seed(const struct tcps_key *k, const struct tcps_conn *c, int side, __u8 from,
		      __u8 to)
{
	struct tcps_event e;

	memset(&e, 0, sizeof(e));
	e.key = *k;
	e.ts = tcps_mono_now();
	e.ifindex = c->ifindex;
	e.side = (__u8)side;
	e.from = from;
	e.to = to;
	e.reason = TCPS_REASON_SEED;
	e.conn_flags = c->fsm.flags;
	tcps_daemon_emit(sd.d, &e);
}

static int insert(const struct tcps_key *k, const struct tcps_conn *c)
{
	int err = tcps_ctable_insert_new(&sd.conns, k, c);

	if (!err) {
		tcps_gauge_note(&tcps_daemon_gauges, sd.conns.fd, c, 1);
		sd.seeded++;
		return 0;
	}
	if (err == -E2BIG || err == -ENOMEM || err == -ENOSPC) {
		if (!sd.full++)
			pr_warn("seed: connection table full; existing sockets left out (--max-conns)");
	}
	return err;
}

static const struct local_addr *local_find(__u8 family, const __u32 *a)
{
	size_t i;

	for (i = 0; i < sd.n_addrs; i++)
		if (sd.addrs[i].family == family && !memcmp(sd.addrs[i].addr, a, 16))
			return &sd.addrs[i];
	return NULL;
}

static void load_local_addrs(void)
{
	struct ifaddrs *ifa, *p;
	size_t n = 0;
	int i;

	free(sd.addrs);
	sd.addrs = NULL;
	sd.n_addrs = 0;
	if (getifaddrs(&ifa))
		return;
	for (p = ifa; p; p = p->ifa_next)
		n++;
	sd.addrs = calloc(n ? n : 1, sizeof(*sd.addrs));
	for (p = ifa; p && sd.addrs; p = p->ifa_next) {
		struct local_addr *l = &sd.addrs[sd.n_addrs];

		if (!p->ifa_addr)
			continue;
		for (i = 0; i < sd.d->opts->n_ifaces; i++)
			if (!strcmp(sd.d->opts->ifaces[i].name, p->ifa_name))
				break;
		if (i == sd.d->opts->n_ifaces)
			continue;
		memset(l, 0, sizeof(*l));
		if (p->ifa_addr->sa_family == AF_INET) {
			l->family = TCPS_AF_INET;
			memcpy(l->addr, &((struct sockaddr_in *)p->ifa_addr)->sin_addr, 4);
		} else if (p->ifa_addr->sa_family == AF_INET6) {
			l->family = TCPS_AF_INET6;
			memcpy(l->addr, &((struct sockaddr_in6 *)p->ifa_addr)->sin6_addr, 16);
		} else {
			continue;
		}
		l->ifindex = sd.d->opts->ifaces[i].ifindex;
		sd.n_addrs++;
	}
	freeifaddrs(ifa);
}

/* A socket the dump found. */
struct sock_rec {
	__u8 family;
	__u8 state;
	__u32 src[4], dst[4];
	__u16 sport, dport;	/* host order */
	__u32 expires_ms;
};

typedef void (*sock_fn)(const struct sock_rec *r, void *arg);

struct diag_ctx {
	sock_fn fn;
	void *arg;
};

/* One sock_diag record as a sock_rec for the seeding callbacks. */
static int diag_rec(const struct inet_diag_msg *m, void *arg)
{
	const struct diag_ctx *c = arg;
	struct sock_rec r = { 0 };

	r.family = m->idiag_family == AF_INET6 ? TCPS_AF_INET6 : TCPS_AF_INET;
	r.state = m->idiag_state;
	if (r.family == TCPS_AF_INET) {
		r.src[0] = m->id.idiag_src[0];
		r.dst[0] = m->id.idiag_dst[0];
	} else {
		memcpy(r.src, m->id.idiag_src, 16);
		memcpy(r.dst, m->id.idiag_dst, 16);
	}
	r.sport = ntohs(m->id.idiag_sport);
	r.dport = ntohs(m->id.idiag_dport);
	r.expires_ms = m->idiag_expires;
	c->fn(&r, c->arg);
	return 0;
}

static int diag_dump(int af, __u32 states, sock_fn fn, void *arg)
{
	struct diag_ctx c = { fn, arg };

	return tcps_diag_dump(af, states, diag_rec, &c);
}

static bool v4mapped(const __u32 *a)
{
	return !a[0] && !a[1] && a[2] == htonl(0xffff);
}

static void seed_conn(const struct sock_rec *r0, void *arg)
{
	struct sock_rec r = *r0;
	const struct local_addr *l;
	struct tcps_conn c;
	struct tcps_key k;
	__u64 now = tcps_mono_now();
	int ls;

	(void)arg;
	if (r.state == TCPS_LISTEN || r.state == TCPS_CLOSE || r.state == TCPS_SYN_SENT ||
	    r.state == TCPS_SYN_RECV || r.state >= TCPS_STATE_MAX)
		return;
	/* A v6 socket talking to a v4 peer: the wire carries IPv4. */
	if (r.family == TCPS_AF_INET6 && v4mapped(r.src) && v4mapped(r.dst)) {
		r.family = TCPS_AF_INET;
		r.src[0] = r.src[3];
		r.dst[0] = r.dst[3];
		r.src[1] = r.src[2] = r.src[3] = r.dst[1] = r.dst[2] = r.dst[3] = 0;
	}
	l = local_find(r.family, r.src);
	if (!l)
		return;
	ls = tcps_key_make(r.family, r.src, r.sport, r.dst, r.dport, &k);
	memset(&c, 0, sizeof(c));
	c.ifindex = (__u32)l->ifindex;
	c.fsm.ep[ls].state = r.state;
	c.fsm.ep[!ls].state = tcps_seed_peer_state(r.state);
	c.fsm.flags = TCPS_C_MIDSTREAM | TCPS_C_SEEN0 | TCPS_C_SEEN1 |
		      (ls ? TCPS_C_LOCAL1 : TCPS_C_LOCAL0);
	c.first_seen = c.last_seen = now;
	/* A TIME_WAIT socket leaves the kernel when its timer runs out: make
	 * ours run out at the same moment (idiag_expires: ms left). */
	if (r.state == TCPS_TIME_WAIT && sd.d->opts->time_wait_s &&
	    r.expires_ms < sd.d->opts->time_wait_s * 1000ULL) {
		__u64 back = (sd.d->opts->time_wait_s * 1000ULL - r.expires_ms) * 1000000ULL;

		c.last_seen = back < now ? now - back : 0;
		c.first_seen = c.last_seen;	/* never after last_seen */
	}
	c.last_tick = tcps_tick(c.last_seen);
	if (insert(&k, &c))
		return;
	emit_seed(&k, &c, ls, TCPS_CLOSE, c.fsm.ep[ls].state);
	if (c.fsm.ep[!ls].state != TCPS_CLOSE)
		emit_seed(&k, &c, !ls, TCPS_CLOSE, c.fsm.ep[!ls].state);
}

struct lset {
	struct tcps_key *k;
	size_t n, cap;
};

static void collect_listener(const struct sock_rec *r, void *arg)
{
	static const __u32 zero[4];
	struct lset *s = arg;

	if (r->state != TCPS_LISTEN || s->n >= SEED_LISTEN_MAX)
		return;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct tcps_key *k = realloc(s->k, cap * sizeof(*k));

		if (!k)
			return;
		s->k = k;
		s->cap = cap;
	}
	tcps_key_make(r->family, r->src, r->sport, zero, 0, &s->k[s->n++]);
}

static void listener_conn(const struct tcps_key *k, struct tcps_conn *c, int *ls)
{
	/* The remote end is all zeros, so the listener is side 1 (or side 0
	 * for an all-zero local address, port still > 0: side 1 too). */
	*ls = k->port[1] != 0;
	memset(c, 0, sizeof(*c));
	c->fsm.ep[*ls].state = TCPS_LISTEN;
	c->fsm.ep[!*ls].state = TCPS_CLOSE;
	c->fsm.flags = *ls ? TCPS_C_LOCAL1 : TCPS_C_LOCAL0;
	c->first_seen = c->last_seen = tcps_mono_now();
	c->last_tick = tcps_tick(c->last_seen);
}

/* The listening sockets now, sorted, one entry per address and port; 0 or
 * -errno (said here). */
static int listeners_now(struct lset *now)
{
	size_t i, j;
	int err;

	err = diag_dump(AF_INET, 1U << TCPS_LISTEN, collect_listener, now);
	if (!err)
		err = diag_dump(AF_INET6, 1U << TCPS_LISTEN, collect_listener, now);
	if (err) {
		pr_warn("seed: reading listening sockets: %s", strerror(-err));
		return err;
	}
	if (now->n)
		qsort(now->k, now->n, sizeof(*now->k), key_cmp);
	for (i = j = 0; i < now->n; i++)	/* SO_REUSEPORT: one entry */
		if (!j || key_cmp(&now->k[j - 1], &now->k[i]))
			now->k[j++] = now->k[i];
	now->n = j;
	return 0;
}

/* Known listeners not in now: gone since the last look, removed. */
static void listeners_remove_gone(const struct lset *now)
{
	size_t i;

	for (i = 0; i < sd.n_listeners; i++) {
		const struct tcps_key *k = &sd.listeners[i];
		struct tcps_conn c, gone;
		int ls;

		if (now->n && bsearch(k, now->k, now->n, sizeof(*k), key_cmp))
			continue;
		listener_conn(k, &c, &ls);
		/* The value as it left, for the gauges (gauges.c). */
		if (!tcps_ctable_take(&sd.conns, k, &gone)) {
			tcps_gauge_note(&tcps_daemon_gauges, sd.conns.fd, &gone, -1);
			emit_seed(k, &c, ls, TCPS_LISTEN, TCPS_CLOSE);
		}
	}
}

/* Listeners in now not known yet: inserted (an existing entry, e.g.
 * adopted, is just kept). */
static void listeners_insert_new(const struct lset *now)
{
	size_t i;

	for (i = 0; i < now->n; i++) {
		const struct tcps_key *k = &now->k[i];
		struct tcps_conn c;
		int ls;

		if (sd.n_listeners && bsearch(k, sd.listeners, sd.n_listeners, sizeof(*k), key_cmp))
			continue;
		listener_conn(k, &c, &ls);
		if (!insert(k, &c))
			emit_seed(k, &c, ls, TCPS_CLOSE, TCPS_LISTEN);
	}
}

static void refresh_listeners(void)
{
	struct lset now = { 0 };

	if (listeners_now(&now)) {
		free(now.k);
		return;
	}
	listeners_remove_gone(&now);
	listeners_insert_new(&now);
	free(sd.listeners);
	sd.listeners = now.k;
	sd.n_listeners = now.n;
}

/* Listener entries already in an adopted table: known, so that those
 * closed while no daemon ran are removed by the first refresh. */
static void adopt_listeners(void)
{
	struct tcps_row *rows = NULL;
	size_t n = 0, cap = 0, i, j = 0;

	if (tcps_rows_append(&sd.conns, &rows, &n, &cap))
		n = 0;
	for (i = 0; i < n; i++) {
		const struct tcps_conn *c = &rows[i].val;

		if (c->fsm.ep[tcps_first_side(c, TCPS_MODE_HOST)].state == TCPS_LISTEN)
			j++;
	}
	sd.listeners = calloc(j ? j : 1, sizeof(*sd.listeners));
	for (i = 0; i < n && sd.listeners; i++) {
		const struct tcps_conn *c = &rows[i].val;

		if (c->fsm.ep[tcps_first_side(c, TCPS_MODE_HOST)].state == TCPS_LISTEN)
			sd.listeners[sd.n_listeners++] = rows[i].key;
	}
	if (sd.n_listeners)
		qsort(sd.listeners, sd.n_listeners, sizeof(*sd.listeners), key_cmp);
	free(rows);
}

int tcps_seed_start(struct tcps_daemon *d)
{
	struct tcps_ctable tab[2];
	int err;

	memset(&sd, 0, sizeof(sd));
	if (d->opts->no_seed || d->opts->mode != TCPS_MODE_HOST)
		return 0;
	sd.d = d;
	tcps_pins_tables(&d->pins, tab);
	sd.conns = tab[0];
	load_local_addrs();
	adopt_listeners();
	err = diag_dump(AF_INET, ~0U, seed_conn, NULL);
	if (!err)
		err = diag_dump(AF_INET6, ~0U, seed_conn, NULL);
	if (err) {
		/* Tracking works without it; say what is missing. */
		pr_warn("seed: cannot read the socket table (sock_diag): %s; existing connections appear when they next send",
			strerror(-err));
	}
	refresh_listeners();
	sd.last = tcps_mono_now();
	sd.running = true;
	pr_info("seed: %llu sockets from the kernel's table (%zu listening)",
		(unsigned long long)sd.seeded, sd.n_listeners);
	return 0;
}

void tcps_seed_tick(struct tcps_daemon *d, __u64 now)
{
	if (!sd.running || now - sd.last < d->opts->seed_interval_s * 1000000000ULL)
		return;
	sd.last = now;
	refresh_listeners();
}

void tcps_seed_stop(struct tcps_daemon *d)
{
	(void)d;
	free(sd.listeners);
	free(sd.addrs);
	memset(&sd, 0, sizeof(sd));
}
