// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * BPF tests: crafted frames through the real tcpscope object with
 * BPF_PROG_TEST_RUN, then the maps, counters and ring-buffer events read
 * back. Every test loads a fresh skeleton, so state never leaks between
 * tests. Host mode: an OUT frame is one the local host sends (tc egress),
 * an IN frame one it receives (XDP, or tc ingress where a test says so).
 * Nothing is attached to any interface. Needs root (CAP_BPF + CAP_NET_ADMIN).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "tcpscope.h"
#include "check.h"
#include "ctable.h"
#include "slotcfg.h"

#include "pktbuild.h"
#include "tcpscope.skel.h"
#include "skel_tables.h"

#define RC_XDP_PASS 2		/* XDP_PASS */
#define RC_TC_UNSPEC (-1)	/* TC_ACT_UNSPEC */
#define MAX_EVENTS 4096
#define MAX_CHAIN 1024
#define ETH_LEN 14

#define SYN TCPS_SYN
#define ACK TCPS_ACK
#define FIN TCPS_FIN
#define RST TCPS_RST
#define PSH TCPS_PSH

enum dir { IN, OUT };
enum who { L, R };	/* local / remote endpoint (passive mode: a / b of the flow) */
enum hook { HOOK_XDP, HOOK_TC_IN, HOOK_TC_OUT };

/* One connection as the tests see it: its two ends and its canonical key. */
struct flow {
	int family, vlans;
	const char *local, *remote;
	__u16 lport, rport;
	struct tcps_key key;
	int lside;		/* canonical side of the local endpoint */
};

struct encap {
	int family, vlans;
	const char *name;
};

static const struct encap encaps[] = {
	{ 4, 0, "ipv4" },	{ 6, 0, "ipv6" },	{ 4, 1, "ipv4+vlan" },
	{ 4, 2, "ipv4+qinq" },	{ 6, 1, "ipv6+vlan" },	{ 6, 2, "ipv6+qinq" },
};
#define N_ENCAPS ((int)(sizeof(encaps) / sizeof(encaps[0])))

struct chain_ent {
	struct tcps_key key;
	__u8 side, state;
};

static struct {
	struct tcpscope_bpf *skel;
	struct ring_buffer *rb;
	int passive;
	int in_hook;		/* hook IN frames go through */
	__u64 clock;		/* replay clock for the next frame */
	__u8 last_flags;	/* TCP flags of the last frame sent */
	struct tcps_event ev[MAX_EVENTS];
	int nev, mark;		/* events so far; first one of the last frame */
	struct chain_ent chain[MAX_CHAIN];
	int nchain;
	char where[64];		/* context printed with a failure */
} T;

/* CHECK with the current context (encapsulation, step) in the message. */
#define CHK(cond)                                                              \
	do {                                                                   \
		if (!(cond))                                                   \
			CHECK_FAIL_("[%s] CHECK(%s) failed", T.where, #cond);  \
	} while (0)

#define CHK_EQ(a, b)                                                                     \
	do {                                                                             \
		long long a_ = (long long)(a), b_ = (long long)(b);                      \
		if (a_ != b_)                                                            \
			CHECK_FAIL_("[%s] %s == %lld, expected %s == %lld", T.where, #a, a_, \
				    #b, b_);                                             \
	} while (0)

static void where(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(T.where, sizeof(T.where), fmt, ap);
	va_end(ap);
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && !getenv("TCPS_TEST_VERBOSE"))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* ---- event bookkeeping ---- */

/* Every event must continue its (key, side) chain: from == previous to,
 * an endpoint we have not seen yet starting at CLOSE. */
static void chain_check(const struct tcps_event *e)
{
	struct chain_ent *c = NULL;
	int i;

	for (i = 0; i < T.nchain; i++) {
		if (T.chain[i].side == e->side && !memcmp(&T.chain[i].key, &e->key, sizeof(e->key))) {
			c = &T.chain[i];
			break;
		}
	}
	if (!c) {
		if (T.nchain == MAX_CHAIN) {
			CHK(T.nchain < MAX_CHAIN);
			return;
		}
		c = &T.chain[T.nchain++];
		c->key = e->key;
		c->side = e->side;
		c->state = TCPS_CLOSE;
	}
	if (e->from != c->state)
		CHECK_FAIL_("[%s] event side %u from %u, but that side's previous event went to %u",
			    T.where, e->side, e->from, c->state);
	CHK(e->from != e->to);
	CHK(e->side <= 1);
	CHK(e->to >= TCPS_ESTABLISHED && e->to < TCPS_STATE_MAX);
	CHK_EQ(e->reason, TCPS_REASON_PACKET);
	CHK_EQ(e->ts, T.clock);
	CHK_EQ(e->tcp_flags, T.last_flags);
	c->state = e->to;
}

/* Set while a finished test's leftover events are thrown away. */
static int discarding;

static int on_event(void *ctx, void *data, size_t size)
{
	(void)ctx;
	if (discarding)
		return 0;
	CHK_EQ(size, sizeof(struct tcps_event));
	if (size != sizeof(struct tcps_event))
		return 0;
	chain_check(data);
	if (T.nev < MAX_EVENTS)
		memcpy(&T.ev[T.nev++], data, sizeof(struct tcps_event));
	return 0;
}

/* ---- object lifecycle ---- */

static int key_canonical(const struct tcps_key *k)
{
	int i;

	if (k->pad[0] || k->pad[1] || k->pad[2])
		return 0;
	if (k->family != TCPS_AF_INET && k->family != TCPS_AF_INET6)
		return 0;
	if (k->family == TCPS_AF_INET)
		for (i = 1; i < 4; i++)
			if (k->addr[0][i] || k->addr[1][i])
				return 0;
	for (i = 0; i < 4; i++)
		if (k->addr[0][i] != k->addr[1][i])
			return k->addr[0][i] < k->addr[1][i];
	return ntohs(k->port[0]) <= ntohs(k->port[1]);
}

/* The test's connection table (tcps_conns), or its half-open one. */
static struct tcps_ctable table(bool halfopen)
{
	return test_table(T.skel, halfopen);
}

static const char *table_name(bool halfopen)
{
	return halfopen ? "tcps_halfopen" : "tcps_conns";
}

/* Every key either table holds is canonical (side 0 sorts lower, IPv4
 * words 1..3 and the padding zero), whatever the test sent. */
static void check_keys(bool halfopen)
{
	struct tcps_ctable t = table(halfopen);
	struct tcps_ctable_walk w;
	int n, i;

	if (tcps_ctable_walk_open(&w, false)) {
		CHECK_FAIL_("[%s] no memory to walk %s", T.where, table_name(halfopen));
		return;
	}
	tcps_ctable_walk_start(&w, &t);
	while (!w.end && (n = tcps_ctable_walk_next(&w)) >= 0)
		for (i = 0; i < n; i++)
			if (!key_canonical(&w.keys[i]))
				CHECK_FAIL_("[%s] %s holds a non-canonical key", T.where,
					    table_name(halfopen));
	tcps_ctable_walk_close(&w);
}

/*
 * Loaded objects, one per configuration (mode, table size): loading and
 * verifying the three programs takes seconds, so a test reuses the object
 * of its configuration with every map cleared instead of loading its own.
 */
#define MAX_OBJS 4
static struct obj {
	int mode;
	__u32 max_conns;
	struct tcpscope_bpf *skel;
	struct ring_buffer *rb;
} objs[MAX_OBJS];
static int nobjs;

static void table_clear(bool halfopen)
{
	struct tcps_ctable t = table(halfopen);
	int err = tcps_ctable_clear(&t);

	if (err)
		CHECK_FAIL_("clearing %s: %s", table_name(halfopen), strerror(-err));
}

/* Every slot of a per-CPU array back to zero. */
static void percpu_zero(struct bpf_map *map)
{
	int fd = bpf_map__fd(map), ncpu = libbpf_num_possible_cpus();
	size_t vsz = (bpf_map__value_size(map) + 7) / 8 * 8;
	void *zero = calloc((size_t)(ncpu > 0 ? ncpu : 1), vsz);
	__u32 i;

	for (i = 0; zero && i < bpf_map__max_entries(map); i++)
		if (bpf_map_update_elem(fd, &i, zero, BPF_ANY))
			CHECK_FAIL_("clearing %s[%u]: %s", bpf_map__name(map), i, strerror(errno));
	free(zero);
}

/* The end of a test: its keys checked, its object left as new. */
static void teardown(void)
{
	if (T.skel && bpf_map__fd(T.skel->maps.tcps_conns) >= 0) {
		check_keys(false);
		check_keys(true);
		discarding = 1;
		ring_buffer__consume(T.rb);
		discarding = 0;
		table_clear(false);
		table_clear(true);
		percpu_zero(T.skel->maps.tcps_stats);
		percpu_zero(T.skel->maps.tcps_trans);
		T.skel->bss->tcps_clock_ns = 0;
	}
	memset(&T, 0, sizeof(T));
}

static void objs_destroy(void)
{
	int i;

	for (i = 0; i < nobjs; i++) {
		ring_buffer__free(objs[i].rb);
		tcpscope_bpf__destroy(objs[i].skel);
	}
	nobjs = 0;
}

static struct obj *obj_load(int mode, __u32 max_conns)
{
	struct obj *o;
	int i, err;

	for (i = 0; i < nobjs; i++)
		if (objs[i].mode == mode && objs[i].max_conns == max_conns)
			return &objs[i];
	if (nobjs == MAX_OBJS) {
		CHECK_FAIL_("more than %d object configurations", MAX_OBJS);
		return NULL;
	}
	o = &objs[nobjs];
	o->skel = tcpscope_bpf__open();
	if (!o->skel) {
		CHECK_FAIL_("tcpscope_bpf__open: %s", strerror(errno));
		return NULL;
	}
	o->skel->rodata->tcps_mode = mode;
	o->skel->rodata->tcps_replay_clock = 1;	/* time comes from T.clock */
	test_tables_size(o->skel, max_conns ?: TCPS_MAX_CONNS_DEFAULT);
	err = tcpscope_bpf__load(o->skel);
	if (err) {
		CHECK_FAIL_("tcpscope_bpf__load: %s", strerror(-err));
		tcpscope_bpf__destroy(o->skel);
		return NULL;
	}
	o->rb = ring_buffer__new(bpf_map__fd(o->skel->maps.tcps_events), on_event, NULL, NULL);
	if (!o->rb) {
		CHECK_FAIL_("ring_buffer__new: %s", strerror(errno));
		tcpscope_bpf__destroy(o->skel);
		return NULL;
	}
	o->mode = mode;
	o->max_conns = max_conns;
	if (!nobjs++)
		atexit(objs_destroy);
	return o;
}

/* A test's object, as new. max_conns 0 keeps the default table size. */
static int setup_mode(int mode, __u32 max_conns)
{
	struct obj *o;

	teardown();
	T.in_hook = HOOK_XDP;
	T.clock = 1000000000ULL;
	snprintf(T.where, sizeof(T.where), "%s", check_cur_name);
	o = obj_load(mode, max_conns);
	if (!o)
		return -1;
	T.skel = o->skel;
	T.rb = o->rb;
	T.passive = mode == TCPS_MODE_PASSIVE;
	return 0;
}

static int setup(void)
{
	return setup_mode(TCPS_MODE_HOST, 0);
}

/* ---- keys and flows ---- */

static void addr_words(int family, const char *s, __u32 w[4])
{
	memset(w, 0, 16);
	if (inet_pton(family == 4 ? AF_INET : AF_INET6, s, w) != 1)
		CHECK_FAIL_("bad address %s", s);
}

/*
 * The canonical key exactly as tcps_make_key() builds it: the address words
 * compared as the program loads them (network bytes read as native u32),
 * then the host-order ports. Returns the side of the sender (src).
 */
static int make_key(int family, const char *src, __u16 sport, const char *dst, __u16 dport,
		    struct tcps_key *k)
{
	__u32 sa[4], da[4];
	int s = -1, i;

	addr_words(family, src, sa);
	addr_words(family, dst, da);
	for (i = 0; i < 4 && s < 0; i++)
		if (sa[i] != da[i])
			s = sa[i] > da[i];
	if (s < 0)
		s = sport > dport;
	memset(k, 0, sizeof(*k));
	memcpy(k->addr[s], sa, 16);
	memcpy(k->addr[!s], da, 16);
	k->port[s] = htons(sport);
	k->port[!s] = htons(dport);
	k->family = family == 4 ? TCPS_AF_INET : TCPS_AF_INET6;
	return s;
}

static void flow_init(struct flow *f, int family, int vlans, const char *local, __u16 lport,
		      const char *remote, __u16 rport)
{
	memset(f, 0, sizeof(*f));
	f->family = family;
	f->vlans = vlans;
	f->local = local;
	f->remote = remote;
	f->lport = lport;
	f->rport = rport;
	f->lside = make_key(family, local, lport, remote, rport, &f->key);
}

/* Flow number n of an encapsulation; local_low puts the local end on the
 * lower address (canonical side 0), else on the higher (side 1). */
static void flow_for(struct flow *f, const struct encap *e, int n, int local_low)
{
	const char *lo = e->family == 4 ? "198.18.0.1" : "2001:db8::1";
	const char *hi = e->family == 4 ? "198.18.0.2" : "2001:db8::2";

	flow_init(f, e->family, e->vlans, local_low ? lo : hi, (__u16)(40000 + n),
		  local_low ? hi : lo, 80);
	CHK_EQ(f->lside, local_low ? 0 : 1);
}

static int side_of(const struct flow *f, int who)
{
	return who == L ? f->lside : !f->lside;
}

/* ---- frames ---- */

static struct pkt_spec spec_for(const struct flow *f, int dir)
{
	struct pkt_spec s = PKT_V4(f->local, f->lport, f->remote, f->rport);

	s.family = f->family;
	s.vlans = f->vlans;
	if (dir == IN) {
		s.src = f->remote;
		s.dst = f->local;
		s.sport = f->rport;
		s.dport = f->lport;
	}
	return s;
}

static int prog_fd(int hook)
{
	if (hook == HOOK_XDP)
		return bpf_program__fd(T.skel->progs.tcps_xdp_ingress);
	if (hook == HOOK_TC_IN)
		return bpf_program__fd(T.skel->progs.tcps_tc_ingress);
	return bpf_program__fd(T.skel->progs.tcps_tc_egress);
}

/* Run one frame; the program must pass it, whatever it is. Returns the
 * test-run error (0, or the kernel's refusal of the frame). */
static int run_hook(int hook, const void *buf, __u32 len)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = buf, .data_size_in = len, .repeat = 1);
	int err;

	T.skel->bss->tcps_clock_ns = T.clock;
	T.mark = T.nev;
	err = bpf_prog_test_run_opts(prog_fd(hook), &o);
	if (!err)
		CHK_EQ((int)o.retval, hook == HOOK_XDP ? RC_XDP_PASS : RC_TC_UNSPEC);
	ring_buffer__consume(T.rb);
	return err;
}

static int hook_for(int dir)
{
	if (T.passive || dir == IN)
		return T.passive ? HOOK_XDP : T.in_hook;
	return HOOK_TC_OUT;
}

/*
 * Would the kernel's tc test run refuse this frame before the program
 * sees it? bpf_prog_test_run_skb() (net/bpf/test_run.c) rejects frames
 * shorter than ETH_HLEN, and on this kernel (6.18, measured) also an
 * untagged IPv4/IPv6 frame whose fixed IP header is not all there, with
 * -EINVAL; tagged frames are not looked into. XDP test runs only need
 * ETH_HLEN, so such frames are covered through XDP.
 */
static int tc_refuses(const __u8 *buf, size_t len)
{
	if (len < ETH_LEN)
		return 1;
	if (buf[12] == 0x08 && buf[13] == 0x00)
		return len < ETH_LEN + 20;
	if (buf[12] == 0x86 && buf[13] == 0xdd)
		return len < ETH_LEN + 40;
	return 0;
}

/* Returns 1 if the program ran on the frame, 0 if the test run refused it
 * as tc_refuses() predicts. */
static int send_frame(int dir, const void *buf, size_t len, __u8 tcp_flags)
{
	int hook = hook_for(dir), err;

	T.clock += 1000;
	T.last_flags = tcp_flags;
	err = run_hook(hook, buf, (__u32)len);
	if (hook != HOOK_XDP && tc_refuses(buf, len)) {
		CHK_EQ(err, -EINVAL);
		return 0;
	}
	CHK_EQ(err, 0);
	return !err;
}

static void send_spec(const struct flow *f, int dir, const struct pkt_spec *s)
{
	__u8 buf[PKT_MAX];
	size_t n = pkt_build(s, buf, sizeof(buf));

	(void)f;
	CHK(n > 0);
	if (n)
		send_frame(dir, buf, n, s->flags);
}

static void xmit(const struct flow *f, int dir, __u8 flags, __u32 seq, __u32 ack, __u32 len)
{
	struct pkt_spec s = spec_for(f, dir);

	s.flags = flags;
	s.seq = seq;
	s.ack = ack;
	s.payload_len = len;
	send_spec(f, dir, &s);
}

/* ---- reading the maps back ---- */

struct counters {
	__u64 c[TCPS_CNT_MAX];
};

static void read_counters(struct counters *out)
{
	int ncpu = libbpf_num_possible_cpus(), i, j;
	__u64 *pc = calloc(ncpu, TCPS_STATS_VALUE_SIZE);	/* the counters first */
	__u32 zero = 0;

	memset(out, 0, sizeof(*out));
	if (!pc || bpf_map_lookup_elem(bpf_map__fd(T.skel->maps.tcps_stats), &zero, pc)) {
		CHECK_FAIL_("[%s] reading tcps_stats failed", T.where);
		free(pc);
		return;
	}
	for (i = 0; i < ncpu; i++)
		for (j = 0; j < TCPS_CNT_MAX; j++)
			out->c[j] += pc[i * TCPS_STATS_WORDS + j];
	free(pc);
}

static __u64 counter(int idx)
{
	struct counters c;

	read_counters(&c);
	return c.c[idx];
}

static __u64 trans_count(int from, int to)
{
	int ncpu = libbpf_num_possible_cpus(), i;
	__u64 *v = calloc(ncpu, sizeof(*v)), sum = 0;
	__u32 idx = (__u32)from * TCPS_STATE_MAX + (__u32)to;

	if (!v || bpf_map_lookup_elem(bpf_map__fd(T.skel->maps.tcps_trans), &idx, v)) {
		CHECK_FAIL_("[%s] reading tcps_trans[%u] failed", T.where, idx);
		free(v);
		return 0;
	}
	for (i = 0; i < ncpu; i++)
		sum += v[i];
	free(v);
	return sum;
}

static int lookup(bool halfopen, const struct tcps_key *k, struct tcps_conn *c)
{
	struct tcps_ctable t = table(halfopen);

	return tcps_ctable_lookup(&t, k, c, false);
}

static int in_conns(const struct flow *f, struct tcps_conn *c)
{
	struct tcps_conn tmp;

	return !lookup(false, &f->key, c ? c : &tmp);
}

static int in_halfopen(const struct flow *f, struct tcps_conn *c)
{
	struct tcps_conn tmp;

	return !lookup(true, &f->key, c ? c : &tmp);
}

/* In either table: for checks that do not care which. */
static int in_table(const struct flow *f, struct tcps_conn *c)
{
	return in_conns(f, c) || in_halfopen(f, c);
}

/* The first key of the table's walk into *k; -ENOENT when it is empty. */
static int first_key(bool halfopen, struct tcps_key *k)
{
	struct tcps_ctable t = table(halfopen);
	struct tcps_ctable_walk w;
	int n;

	n = tcps_ctable_walk_open(&w, false);
	if (n)
		return n;
	tcps_ctable_walk_start(&w, &t);
	do
		n = tcps_ctable_walk_next(&w);
	while (!n && !w.end);
	if (n > 0)
		*k = w.keys[0];
	tcps_ctable_walk_close(&w);
	return n > 0 ? 0 : n ?: -ENOENT;
}

/* Entries in the table; -errno if they cannot be counted. */
static long entries(bool halfopen)
{
	struct tcps_ctable t = table(halfopen);

	return tcps_ctable_count(&t);
}

static long total_entries(void)
{
	long n = entries(false), h = entries(true);

	return n < 0 ? n : h < 0 ? h : n + h;
}

/* The entry of f wherever it lives; checks the local and remote states. */
static void expect_states_(const struct flow *f, int lstate, int rstate, int line)
{
	struct tcps_conn c;

	if (!in_conns(f, &c) && !in_halfopen(f, &c)) {
		CHECK_FAIL_("[%s] line %d: no entry for the flow", T.where, line);
		return;
	}
	if (c.fsm.ep[f->lside].state != lstate || c.fsm.ep[!f->lside].state != rstate)
		CHECK_FAIL_("[%s] line %d: states local %u remote %u, expected %d %d", T.where, line,
			    c.fsm.ep[f->lside].state, c.fsm.ep[!f->lside].state, lstate, rstate);
}
#define EXPECT_STATES(f, l, r) expect_states_((f), TCPS_##l, TCPS_##r, __LINE__)

/* The events of the last frame: exactly these, in this order (the order
 * the endpoints went through them), each with the flow's key. */
struct exp {
	int who;
	int from, to;
};
#define EV(w, f, t) ((struct exp){ (w), TCPS_##f, TCPS_##t })

static void expect_events_(const struct flow *f, const struct exp *x, int n, int line)
{
	int got = T.nev - T.mark, i, j;

	if (got != n) {
		CHECK_FAIL_("[%s] line %d: %d events, expected %d", T.where, line, got, n);
		return;
	}
	for (i = 0; i < n; i++) {
		const struct tcps_event *e = &T.ev[T.mark + i];

		j = e->side == side_of(f, x[i].who) && e->from == x[i].from && e->to == x[i].to;
		if (!j)
			CHECK_FAIL_("[%s] line %d: event %d is side %d %d -> %d, expected %s %d -> %d",
				    T.where, line, i, e->side, e->from, e->to,
				    x[i].who == L ? "local" : "remote", x[i].from, x[i].to);
		if (memcmp(&e->key, &f->key, sizeof(f->key)))
			CHECK_FAIL_("[%s] line %d: event key is not the flow's", T.where, line);
		if (i && (__u16)(e->seq - e[-1].seq) != 1)
			CHECK_FAIL_("[%s] line %d: event seq %u after %u", T.where, line, e->seq,
				    e[-1].seq);
	}
}
#define EXPECT_EVENTS(f, ...)                                                          \
	expect_events_((f), (const struct exp[]){ __VA_ARGS__ },                       \
		       (int)(sizeof((const struct exp[]){ __VA_ARGS__ }) / sizeof(struct exp)), \
		       __LINE__)
#define EXPECT_NO_EVENTS(f) expect_events_((f), NULL, 0, __LINE__)

/* ---- the lifecycles every encapsulation must get right ---- */

/* Local client: SYN_SENT -> ESTABLISHED -> FIN_WAIT1 -> FIN_WAIT2 ->
 * TIME_WAIT; remote server CLOSE -> SYN_RECV -> ESTABLISHED -> CLOSE_WAIT
 * -> LAST_ACK -> CLOSE. c and s are the ISNs (pick some that wrap). */
static void local_client_active_close(const struct flow *f, __u32 c, __u32 s)
{
	struct tcps_conn conn;
	/* Passive mode knows no local side. */
	__u8 local = T.passive ? 0 : f->lside ? TCPS_C_LOCAL1 : TCPS_C_LOCAL0;

	xmit(f, OUT, SYN, c, 0, 0);
	EXPECT_EVENTS(f, EV(L, CLOSE, SYN_SENT));
	CHK(in_halfopen(f, NULL) && !in_conns(f, NULL));
	EXPECT_STATES(f, SYN_SENT, CLOSE);

	xmit(f, IN, SYN | ACK, s, c + 1, 0);
	if (T.passive)
		EXPECT_EVENTS(f, EV(R, CLOSE, SYN_RECV), EV(L, SYN_SENT, ESTABLISHED));
	else	/* host mode: the local stack shows it took it by its ACK */
		EXPECT_EVENTS(f, EV(R, CLOSE, SYN_RECV));
	/* Half-open until the handshake completes. */
	CHK(in_halfopen(f, NULL) && !in_conns(f, NULL));

	xmit(f, OUT, ACK, c + 1, s + 1, 0);
	if (T.passive)
		EXPECT_EVENTS(f, EV(R, SYN_RECV, ESTABLISHED));
	else
		EXPECT_EVENTS(f, EV(L, SYN_SENT, ESTABLISHED), EV(R, SYN_RECV, ESTABLISHED));
	CHK(!in_halfopen(f, NULL) && in_conns(f, NULL));
	xmit(f, OUT, PSH | ACK, c + 1, s + 1, 100);
	EXPECT_NO_EVENTS(f);
	xmit(f, IN, PSH | ACK, s + 1, c + 101, 50);
	EXPECT_NO_EVENTS(f);
	EXPECT_STATES(f, ESTABLISHED, ESTABLISHED);

	xmit(f, OUT, FIN | ACK, c + 101, s + 51, 0);
	EXPECT_EVENTS(f, EV(L, ESTABLISHED, FIN_WAIT1), EV(R, ESTABLISHED, CLOSE_WAIT));
	xmit(f, IN, ACK, s + 51, c + 102, 0);
	EXPECT_EVENTS(f, EV(L, FIN_WAIT1, FIN_WAIT2));
	xmit(f, IN, FIN | ACK, s + 51, c + 102, 0);
	if (T.passive)
		EXPECT_EVENTS(f, EV(R, CLOSE_WAIT, LAST_ACK), EV(L, FIN_WAIT2, TIME_WAIT));
	else
		EXPECT_EVENTS(f, EV(R, CLOSE_WAIT, LAST_ACK));
	xmit(f, OUT, ACK, c + 102, s + 52, 0);
	if (T.passive)
		EXPECT_EVENTS(f, EV(R, LAST_ACK, CLOSE));
	else
		EXPECT_EVENTS(f, EV(L, FIN_WAIT2, TIME_WAIT), EV(R, LAST_ACK, CLOSE));
	EXPECT_STATES(f, TIME_WAIT, CLOSE);

	CHK(in_conns(f, &conn));
	CHK_EQ(conn.fsm.flags & (TCPS_C_LOCAL0 | TCPS_C_LOCAL1), local);
	CHK_EQ(conn.fsm.flags & (TCPS_C_MIDSTREAM | TCPS_C_NEW), 0);
	CHK_EQ(!!(conn.fsm.flags & TCPS_C_ORIG1), f->lside);
	CHK_EQ(conn.pkts[f->lside], 5);
	CHK_EQ(conn.pkts[!f->lside], 4);
	CHK_EQ(conn.bytes[f->lside], 100);
	CHK_EQ(conn.bytes[!f->lside], 50);
	CHK_EQ(conn.fsm.ep[f->lside].isn, c);
	CHK_EQ(conn.fsm.ep[!f->lside].isn, s);
	CHK_EQ(conn.last_seen, T.clock);
	/* Test runs happen on the namespace's loopback, for XDP and tc. */
	CHK_EQ(conn.ifindex, 1);
	CHK_EQ(T.ev[T.nev - 1].ifindex, conn.ifindex);
}

/* Local server (the remote end connects in): remote CLOSE -> SYN_SENT ->
 * ESTABLISHED -> FIN_WAIT1 -> FIN_WAIT2 -> TIME_WAIT; local CLOSE ->
 * SYN_RECV -> ESTABLISHED -> CLOSE_WAIT -> LAST_ACK -> CLOSE. */
static void local_server_passive_close(const struct flow *f, __u32 c, __u32 s)
{
	struct tcps_conn conn;
	/* Passive mode knows no local side. */
	__u8 local = T.passive ? 0 : f->lside ? TCPS_C_LOCAL1 : TCPS_C_LOCAL0;

	xmit(f, IN, SYN, c, 0, 0);
	EXPECT_EVENTS(f, EV(R, CLOSE, SYN_SENT));
	CHK(in_halfopen(f, NULL) && !in_conns(f, NULL));
	xmit(f, OUT, SYN | ACK, s, c + 1, 0);
	EXPECT_EVENTS(f, EV(L, CLOSE, SYN_RECV), EV(R, SYN_SENT, ESTABLISHED));
	/* Our SYN+ACK is no proof the client exists (spoofed SYN flood). */
	CHK(in_halfopen(f, NULL) && !in_conns(f, NULL));
	xmit(f, IN, ACK, c + 1, s + 1, 0);
	EXPECT_EVENTS(f, EV(L, SYN_RECV, ESTABLISHED));
	CHK(!in_halfopen(f, NULL) && in_conns(f, NULL));
	xmit(f, IN, PSH | ACK, c + 1, s + 1, 200);
	xmit(f, OUT, PSH | ACK, s + 1, c + 201, 20);
	EXPECT_NO_EVENTS(f);

	xmit(f, IN, FIN | ACK, c + 201, s + 21, 0);
	if (T.passive)
		EXPECT_EVENTS(f, EV(R, ESTABLISHED, FIN_WAIT1), EV(L, ESTABLISHED, CLOSE_WAIT));
	else
		EXPECT_EVENTS(f, EV(R, ESTABLISHED, FIN_WAIT1));
	xmit(f, OUT, ACK, s + 21, c + 202, 0);
	if (T.passive)
		EXPECT_EVENTS(f, EV(R, FIN_WAIT1, FIN_WAIT2));
	else
		EXPECT_EVENTS(f, EV(L, ESTABLISHED, CLOSE_WAIT), EV(R, FIN_WAIT1, FIN_WAIT2));
	xmit(f, OUT, FIN | ACK, s + 21, c + 202, 0);
	EXPECT_EVENTS(f, EV(L, CLOSE_WAIT, LAST_ACK), EV(R, FIN_WAIT2, TIME_WAIT));
	xmit(f, IN, ACK, c + 202, s + 22, 0);
	EXPECT_EVENTS(f, EV(L, LAST_ACK, CLOSE));
	EXPECT_STATES(f, CLOSE, TIME_WAIT);

	CHK(in_conns(f, &conn));
	CHK_EQ(conn.fsm.flags & (TCPS_C_LOCAL0 | TCPS_C_LOCAL1), local);
	CHK_EQ(!!(conn.fsm.flags & TCPS_C_ORIG1), !f->lside);
	CHK_EQ(conn.pkts[!f->lside], 5);
	CHK_EQ(conn.pkts[f->lside], 4);
	CHK_EQ(conn.bytes[!f->lside], 200);
	CHK_EQ(conn.bytes[f->lside], 20);
}

/* Both orientations (local end on side 0, then on side 1), one with ISNs
 * that wrap mid-connection, for one encapsulation. */
static void lifecycle(int family, int vlans, int client)
{
	const struct encap e = { family, vlans, "" };
	struct flow f;
	int low;

	if (setup())
		return;
	for (low = 1; low >= 0; low--) {
		where("ipv%d vlans=%d local %s", family, vlans, low ? "low" : "high");
		flow_for(&f, &e, low, low);
		if (client)
			local_client_active_close(&f, low ? 1000 : 0xffffffc0, low ? 0xfffffff0 : 77777);
		else
			local_server_passive_close(&f, low ? 0xffffff80 : 4242, low ? 9 : 0xffffffee);
	}
	CHK_EQ(entries(false), 2);
	CHK_EQ(entries(true), 0);
	CHK_EQ(counter(TCPS_CNT_NEW_CONN), 2);
	CHK_EQ(counter(TCPS_CNT_HALFOPEN_NEW), 2);
	CHK_EQ(counter(TCPS_CNT_PROMOTED), 2);
	CHK_EQ(counter(TCPS_CNT_OOW), 0);
	CHK_EQ(counter(TCPS_CNT_PARSE_ERR), 0);
	teardown();
}

TEST(test_ipv4_local_client_handshake_data_active_close) { lifecycle(4, 0, 1); }
TEST(test_ipv6_local_client_handshake_data_active_close) { lifecycle(6, 0, 1); }
TEST(test_ipv4_vlan_local_client_handshake_data_active_close) { lifecycle(4, 1, 1); }
TEST(test_ipv4_qinq_local_client_handshake_data_active_close) { lifecycle(4, 2, 1); }
TEST(test_ipv6_vlan_local_client_handshake_data_active_close) { lifecycle(6, 1, 1); }
TEST(test_ipv6_qinq_local_client_handshake_data_active_close) { lifecycle(6, 2, 1); }
TEST(test_ipv4_local_server_handshake_data_passive_close) { lifecycle(4, 0, 0); }
TEST(test_ipv6_local_server_handshake_data_passive_close) { lifecycle(6, 0, 0); }
TEST(test_ipv4_vlan_local_server_handshake_data_passive_close) { lifecycle(4, 1, 0); }
TEST(test_ipv4_qinq_local_server_handshake_data_passive_close) { lifecycle(4, 2, 0); }
TEST(test_ipv6_vlan_local_server_handshake_data_passive_close) { lifecycle(6, 1, 0); }
TEST(test_ipv6_qinq_local_server_handshake_data_passive_close) { lifecycle(6, 2, 0); }

/* The same hooks code behind tc ingress as behind XDP. */
TEST(test_tc_ingress_hook_tracks_like_xdp)
{
	struct flow f;
	int i;

	if (setup())
		return;
	T.in_hook = HOOK_TC_IN;
	for (i = 0; i < N_ENCAPS; i++) {
		where("%s", encaps[i].name);
		flow_for(&f, &encaps[i], i, i & 1);
		local_server_passive_close(&f, 100, 200);
	}
	teardown();
}

/* ---- the half-open table ---- */

TEST(test_syn_creates_halfopen_entry_only)
{
	struct tcps_conn c;
	struct flow f;
	int i;

	if (setup())
		return;
	for (i = 0; i < N_ENCAPS; i++) {
		where("%s", encaps[i].name);
		flow_for(&f, &encaps[i], i, i & 1);
		T.clock += 5000;
		xmit(&f, OUT, SYN, 1234, 0, 0);
		CHK(!in_conns(&f, NULL));
		CHK(in_halfopen(&f, &c));
		CHK_EQ(c.fsm.ep[f.lside].state, TCPS_SYN_SENT);
		CHK_EQ(c.fsm.ep[!f.lside].state, TCPS_CLOSE);
		CHK_EQ(c.fsm.ep[f.lside].isn, 1234);
		CHK(c.fsm.ep[f.lside].flags & TCPS_EP_ISN);
		CHK_EQ(c.pkts[f.lside], 1);
		CHK_EQ(c.pkts[!f.lside], 0);
		CHK_EQ(c.first_seen, T.clock);
		CHK_EQ(c.last_seen, T.clock);
		/* A retransmitted SYN changes nothing and stays half-open. */
		xmit(&f, OUT, SYN, 1234, 0, 0);
		EXPECT_NO_EVENTS(&f);
		CHK(!in_conns(&f, NULL));
		CHK(in_halfopen(&f, &c));
		CHK_EQ(c.pkts[f.lside], 2);
		CHK_EQ(c.first_seen, T.clock - 1000);
	}
	CHK_EQ(counter(TCPS_CNT_HALFOPEN_NEW), N_ENCAPS);
	CHK_EQ(counter(TCPS_CNT_NEW_CONN), N_ENCAPS);
	CHK_EQ(counter(TCPS_CNT_PROMOTED), 0);
	CHK_EQ(entries(false), 0);
	teardown();
}

/* Only the completed handshake (the client's ACK of our ISN+1) moves an
 * entry to tcps_conns: a SYN+ACK to a spoofed source never does. */
TEST(test_handshake_ack_promotes_halfopen_entry_to_conns)
{
	struct tcps_conn c;
	struct flow f;
	__u64 first;
	int i;

	if (setup())
		return;
	for (i = 0; i < N_ENCAPS; i++) {
		where("%s", encaps[i].name);
		flow_for(&f, &encaps[i], i, !(i & 1));
		xmit(&f, IN, SYN, 500, 0, 0);
		first = T.clock;
		CHK_EQ(counter(TCPS_CNT_PROMOTED), i);
		xmit(&f, OUT, SYN | ACK, 9000, 501, 0);
		CHK_EQ(counter(TCPS_CNT_PROMOTED), i);
		CHK(in_halfopen(&f, NULL));
		CHK(!in_conns(&f, NULL));
		xmit(&f, IN, ACK, 501, 9001, 0);
		CHK_EQ(counter(TCPS_CNT_PROMOTED), i + 1);
		CHK(!in_halfopen(&f, NULL));
		CHK(in_conns(&f, &c));
		/* The promoted entry keeps its history. */
		CHK_EQ(c.first_seen, first);
		CHK_EQ(c.last_seen, T.clock);
		CHK_EQ(c.pkts[!f.lside], 2);
		CHK_EQ(c.pkts[f.lside], 1);
		CHK_EQ(c.fsm.ep[!f.lside].state, TCPS_ESTABLISHED);
		CHK_EQ(c.fsm.ep[f.lside].state, TCPS_ESTABLISHED);
		CHK_EQ(c.fsm.ep[!f.lside].isn, 500);
		CHK_EQ(c.fsm.ep[f.lside].isn, 9000);
		CHK(c.fsm.flags & TCPS_C_SEEN0);
		CHK(c.fsm.flags & TCPS_C_SEEN1);
		CHK_EQ(c.fsm.flags & (TCPS_C_LOCAL0 | TCPS_C_LOCAL1),
		       f.lside ? TCPS_C_LOCAL1 : TCPS_C_LOCAL0);
	}
	CHK_EQ(counter(TCPS_CNT_NEW_CONN), N_ENCAPS);
	CHK_EQ(counter(TCPS_CNT_HALFOPEN_NEW), N_ENCAPS);
	CHK_EQ(entries(true), 0);
	CHK_EQ(entries(false), N_ENCAPS);
	teardown();
}

/* A SYN+ACK whose SYN we missed creates the entry, half-open until the
 * handshake's ACK. */
TEST(test_synack_first_creates_halfopen_entry_ack_promotes)
{
	struct tcps_conn c;
	struct flow f;
	int i;

	if (setup())
		return;
	for (i = 0; i < N_ENCAPS; i++) {
		where("%s", encaps[i].name);
		flow_for(&f, &encaps[i], i, i & 1);
		xmit(&f, IN, SYN | ACK, 700, 301, 0);
		EXPECT_EVENTS(&f, EV(R, CLOSE, SYN_RECV), EV(L, CLOSE, ESTABLISHED));
		CHK(in_halfopen(&f, &c));
		CHK(!in_conns(&f, NULL));
		CHK_EQ(!!(c.fsm.flags & TCPS_C_ORIG1), f.lside);
		xmit(&f, OUT, ACK, 301, 701, 0);
		EXPECT_EVENTS(&f, EV(R, SYN_RECV, ESTABLISHED));
		CHK(in_conns(&f, NULL));
		CHK(!in_halfopen(&f, NULL));
	}
	CHK_EQ(counter(TCPS_CNT_HALFOPEN_NEW), N_ENCAPS);
	CHK_EQ(counter(TCPS_CNT_PROMOTED), N_ENCAPS);
	CHK_EQ(counter(TCPS_CNT_NEW_CONN), N_ENCAPS);
	teardown();
}

/* ---- resets ---- */

TEST(test_refused_connection_rst_ack_closes_client)
{
	struct tcps_conn c;
	struct flow f;
	int i;

	if (setup())
		return;
	for (i = 0; i < N_ENCAPS; i++) {
		where("%s", encaps[i].name);
		flow_for(&f, &encaps[i], i, i & 1);
		xmit(&f, OUT, SYN, 0xfffffffe, 0, 0);
		xmit(&f, IN, RST | ACK, 0, 0xffffffff, 0);
		EXPECT_EVENTS(&f, EV(L, SYN_SENT, CLOSE));
		EXPECT_STATES(&f, CLOSE, CLOSE);
		/* Refused is not answered: it never reaches the main table. */
		CHK(!in_conns(&f, NULL));
		CHK(in_halfopen(&f, &c));
		CHK_EQ(c.pkts[!f.lside], 1);
	}
	CHK_EQ(counter(TCPS_CNT_PROMOTED), 0);
	CHK_EQ(counter(TCPS_CNT_OOW), 0);
	CHK_EQ(trans_count(TCPS_SYN_SENT, TCPS_CLOSE), N_ENCAPS);
	teardown();
}

/* RFC 9293 §3.10.7.3: in SYN_SENT a RST is accepted only with ack = ISN+1. */
TEST(test_rst_with_wrong_ack_in_syn_sent_is_ignored)
{
	struct flow f;
	int i;

	if (setup())
		return;
	for (i = 0; i < N_ENCAPS; i++) {
		where("%s", encaps[i].name);
		flow_for(&f, &encaps[i], i, i & 1);
		xmit(&f, OUT, SYN, 1000, 0, 0);
		xmit(&f, IN, RST | ACK, 0, 1000, 0);
		EXPECT_NO_EVENTS(&f);
		xmit(&f, IN, RST, 1001, 0, 0);
		EXPECT_NO_EVENTS(&f);
		EXPECT_STATES(&f, SYN_SENT, CLOSE);
		CHK_EQ(counter(TCPS_CNT_OOW), 2 * (i + 1));
	}
	teardown();
}

/* Set up an established connection, local client; ISNs 1000 / 5000. */
static void establish(const struct flow *f)
{
	xmit(f, OUT, SYN, 1000, 0, 0);
	xmit(f, IN, SYN | ACK, 5000, 1001, 0);
	xmit(f, OUT, ACK, 1001, 5001, 0);
	EXPECT_STATES(f, ESTABLISHED, ESTABLISHED);
}

TEST(test_out_of_window_rst_changes_nothing_and_counts_oow)
{
	struct tcps_conn before, after;
	struct flow f;
	/* In the remote's sequence space, where only 5001 (RCV.NXT) is exact. */
	__u32 bad[] = { 5001 + 10000000, 5001 - 10000000, 5002, 5000 };
	int i, j;

	if (setup())
		return;
	for (i = 0; i < N_ENCAPS; i++) {
		where("%s", encaps[i].name);
		flow_for(&f, &encaps[i], i, i & 1);
		establish(&f);
		for (j = 0; j < (int)(sizeof(bad) / sizeof(bad[0])); j++) {
			__u64 oow = counter(TCPS_CNT_OOW);

			CHK(in_conns(&f, &before));
			xmit(&f, IN, RST, bad[j], 0, 0);
			EXPECT_NO_EVENTS(&f);
			CHK_EQ(counter(TCPS_CNT_OOW), oow + 1);
			CHK(in_conns(&f, &after));
			CHK(!memcmp(&before.fsm, &after.fsm, sizeof(before.fsm)));
		}
		/* Only the exact RCV.NXT closes (RFC 5961 §3.2). */
		xmit(&f, IN, RST, 5001, 0, 0);	/* the sender gave up first */
		EXPECT_EVENTS(&f, EV(R, ESTABLISHED, CLOSE), EV(L, ESTABLISHED, CLOSE));
	}
	teardown();
}

/* Simultaneous open (RFC 9293 fig. 8): SYNs cross, both SYN_RECV; the
 * entry is promoted once both ends are ESTABLISHED. */
TEST(test_simultaneous_open_goes_syn_recv_both)
{
	struct flow f;
	int i;

	if (setup())
		return;
	for (i = 0; i < N_ENCAPS; i++) {
		where("%s", encaps[i].name);
		flow_for(&f, &encaps[i], i, i & 1);
		f.rport = f.lport;	/* peers both bound to their port */
		make_key(f.family, f.local, f.lport, f.remote, f.rport, &f.key);
		xmit(&f, OUT, SYN, 100, 0, 0);
		xmit(&f, IN, SYN, 900, 0, 0);
		EXPECT_EVENTS(&f, EV(R, CLOSE, SYN_RECV), EV(L, SYN_SENT, SYN_RECV));
		CHK(!in_conns(&f, NULL));
		CHK(in_halfopen(&f, NULL));
		xmit(&f, OUT, SYN | ACK, 100, 901, 0);
		EXPECT_EVENTS(&f, EV(R, SYN_RECV, ESTABLISHED));
		CHK(in_halfopen(&f, NULL));
		xmit(&f, IN, SYN | ACK, 900, 101, 0);
		EXPECT_EVENTS(&f, EV(L, SYN_RECV, ESTABLISHED));
		CHK(in_conns(&f, NULL));
		CHK(!in_halfopen(&f, NULL));
	}
	CHK_EQ(counter(TCPS_CNT_PROMOTED), N_ENCAPS);
	teardown();
}

/* On the lock-free hot path too, a segment far outside the window or
 * acknowledging data never sent is ignored and counted (RFC 9293 §3.10.7.4). */
TEST(test_out_of_window_data_and_ack_are_ignored_and_counted)
{
	struct tcps_conn before, after;
	struct flow f;
	int i;

	if (setup())
		return;
	for (i = 0; i < N_ENCAPS; i++) {
		where("%s", encaps[i].name);
		flow_for(&f, &encaps[i], i, i & 1);
		establish(&f);
		CHK(in_conns(&f, &before));
		xmit(&f, IN, ACK, 5001 + 10000000, 1001, 100);	/* seq far ahead */
		xmit(&f, IN, ACK, 5001 - 10000000, 1001, 100);	/* far behind */
		xmit(&f, IN, ACK, 5001, 1001 + 1000000, 0);	/* acks unsent data */
		xmit(&f, OUT, FIN | ACK, 1001 + 10000000, 5001, 0);	/* FIN out of window */
		EXPECT_NO_EVENTS(&f);
		CHK_EQ(counter(TCPS_CNT_OOW), 4 * (i + 1));
		CHK(in_conns(&f, &after));
		/* The refused FIN is only remembered, should the peer's ACK
		 * vouch for it later (tcps_fsm_recover_fin). */
		CHK(after.fsm.ep[f.lside].flags & TCPS_EP_FINREJ);
		CHK_EQ(after.fsm.ep[f.lside].fin_seq, 1001 + 10000000);
		after.fsm.ep[f.lside].flags &= ~TCPS_EP_FINREJ;
		after.fsm.ep[f.lside].fin_seq = before.fsm.ep[f.lside].fin_seq;
		CHK(!memcmp(&before.fsm, &after.fsm, sizeof(before.fsm)));
		/* Counted as seen, though: they were on the wire. */
		CHK_EQ(after.pkts[!f.lside], before.pkts[!f.lside] + 3);
	}
	teardown();
}

/* A RST or a SYN+FIN never creates an entry. */
TEST(test_rst_or_synfin_first_creates_no_entry)
{
	__u8 flags[] = { RST, RST | ACK, SYN | FIN, SYN | FIN | ACK };
	struct flow f;
	int i, j;

	if (setup())
		return;
	for (i = 0; i < N_ENCAPS; i++) {
		where("%s", encaps[i].name);
		flow_for(&f, &encaps[i], i, i & 1);
		for (j = 0; j < 4; j++) {
			xmit(&f, j & 1 ? IN : OUT, flags[j], 1, 1, 0);
			EXPECT_NO_EVENTS(&f);
		}
	}
	CHK_EQ(total_entries(), 0);
	CHK_EQ(counter(TCPS_CNT_NEW_CONN), 0);
	CHK_EQ(counter(TCPS_CNT_TCP), 4 * N_ENCAPS);
	teardown();
}

/* ---- mid-stream pickup and the local side ---- */

TEST(test_midstream_ack_is_established_both_and_flagged)
{
	struct tcps_conn c;
	struct flow f;
	int i;

	if (setup())
		return;
	for (i = 0; i < N_ENCAPS; i++) {
		where("%s", encaps[i].name);
		flow_for(&f, &encaps[i], i, i & 1);
		xmit(&f, i & 2 ? IN : OUT, ACK, 777, 888, 10);
		if (i & 2)	/* the sender's state first */
			EXPECT_EVENTS(&f, EV(R, CLOSE, ESTABLISHED), EV(L, CLOSE, ESTABLISHED));
		else
			EXPECT_EVENTS(&f, EV(L, CLOSE, ESTABLISHED), EV(R, CLOSE, ESTABLISHED));
		CHK(in_conns(&f, &c));
		CHK(!in_halfopen(&f, NULL));
		CHK(c.fsm.flags & TCPS_C_MIDSTREAM);
		/* The lower port (80, remote here) is taken to be the server. */
		CHK_EQ(!!(c.fsm.flags & TCPS_C_ORIG1), f.lside);
		for (int j = T.mark; j < T.nev; j++)
			CHK(T.ev[j].conn_flags & TCPS_C_MIDSTREAM);
		/* Traffic both ways then takes the hot path: no more events. */
		xmit(&f, i & 2 ? OUT : IN, ACK, 888, 787, 0);
		EXPECT_NO_EVENTS(&f);
		CHK_EQ(counter(TCPS_CNT_OOW), 0);
	}
	CHK_EQ(counter(TCPS_CNT_MIDSTREAM), N_ENCAPS);
	CHK_EQ(counter(TCPS_CNT_NEW_CONN), N_ENCAPS);
	CHK_EQ(counter(TCPS_CNT_HALFOPEN_NEW), 0);
	teardown();
}

/* A mid-stream FIN implies its closing states. */
TEST(test_midstream_fin_picks_up_closing_states)
{
	struct flow f;
	int i;

	if (setup())
		return;
	for (i = 0; i < N_ENCAPS; i++) {
		where("%s", encaps[i].name);
		flow_for(&f, &encaps[i], i, i & 1);
		xmit(&f, OUT, FIN | ACK, 100, 200, 0);
		EXPECT_EVENTS(&f, EV(L, CLOSE, FIN_WAIT1), EV(R, CLOSE, CLOSE_WAIT));
		CHK_EQ(counter(TCPS_CNT_MIDSTREAM), i + 1);
	}
	teardown();
}

/* The local side comes from the direction of the first frame, whichever
 * canonical side the local end is and whatever that frame is. */
TEST(test_local_side_flag_follows_direction)
{
	struct {
		int dir;
		__u8 flags;
	} first[] = { { OUT, SYN }, { IN, SYN }, { OUT, ACK }, { IN, ACK }, { IN, SYN | ACK } };
	struct tcps_conn c;
	struct flow f;
	int i, j, low, n = 0;

	if (setup())
		return;
	for (i = 0; i < N_ENCAPS; i++) {
		for (j = 0; j < (int)(sizeof(first) / sizeof(first[0])); j++) {
			for (low = 0; low < 2; low++) {
				__u8 want;

				where("%s first=%s/%#x local %s", encaps[i].name,
				      first[j].dir == OUT ? "out" : "in", first[j].flags,
				      low ? "low" : "high");
				flow_for(&f, &encaps[i], n++, low);
				want = f.lside ? TCPS_C_LOCAL1 : TCPS_C_LOCAL0;
				xmit(&f, first[j].dir, first[j].flags, 10, 20, 0);
				CHK(in_conns(&f, &c) || in_halfopen(&f, &c));
				CHK_EQ(c.fsm.flags & (TCPS_C_LOCAL0 | TCPS_C_LOCAL1), want);
				CHK(T.nev > T.mark);
				for (int k = T.mark; k < T.nev; k++)
					CHK_EQ(T.ev[k].conn_flags & (TCPS_C_LOCAL0 | TCPS_C_LOCAL1), want);
			}
		}
	}
	teardown();
}

/* Both directions of one connection find one entry, under the key built
 * as tcps_make_key builds it. */
TEST(test_both_directions_map_to_one_entry)
{
	struct tcps_key k, other;
	struct flow f;
	int i, s;

	if (setup())
		return;
	for (i = 0; i < N_ENCAPS; i++) {
		where("%s", encaps[i].name);
		flow_for(&f, &encaps[i], i, i & 1);
		s = make_key(f.family, f.remote, f.rport, f.local, f.lport, &other);
		CHK_EQ(s, !f.lside);
		CHK(!memcmp(&other, &f.key, sizeof(other)));
		xmit(&f, OUT, ACK, 1, 1, 0);
		xmit(&f, IN, ACK, 1, 1, 0);
		xmit(&f, OUT, ACK, 1, 1, 0);
		CHK_EQ(entries(false), i + 1);
	}
	/* Same addresses, ports decide the order. */
	where("same address");
	flow_init(&f, 4, 0, "198.18.0.5", 8080, "198.18.0.5", 5000);
	CHK_EQ(f.lside, 1);
	xmit(&f, OUT, ACK, 1, 1, 0);
	xmit(&f, IN, ACK, 1, 1, 0);
	CHK(in_conns(&f, NULL));
	CHK_EQ(entries(false), N_ENCAPS + 1);

	/* Every key in the map is one the helper builds. */
	if (!first_key(false, &k)) {
		for (i = 1; i < 4; i++)
			if (k.family == TCPS_AF_INET)
				CHK(!k.addr[0][i] && !k.addr[1][i]);
		CHK(!k.pad[0] && !k.pad[1] && !k.pad[2]);
	}
	teardown();
}

/* ---- events ---- */

/* Every event continues its chain (checked in on_event for every test);
 * here a long mixed sequence, and the tcp_flags/conn_flags it carries. */
TEST(test_events_chain_from_previous_to)
{
	struct tcps_conn c;
	struct flow f;
	int i, j;

	if (setup())
		return;
	for (i = 0; i < N_ENCAPS; i++) {
		where("%s", encaps[i].name);
		flow_for(&f, &encaps[i], i, i & 1);
		local_client_active_close(&f, 10, 20);
		/* TIME_WAIT reopened by a new SYN (RFC 9293 §3.10.7.4). */
		xmit(&f, OUT, SYN, 100000, 0, 0);
		EXPECT_EVENTS(&f, EV(L, TIME_WAIT, SYN_SENT));
		xmit(&f, IN, SYN | ACK, 300000, 100001, 0);
		EXPECT_EVENTS(&f, EV(R, CLOSE, SYN_RECV));
		xmit(&f, OUT, ACK, 100001, 300001, 0);
		EXPECT_EVENTS(&f, EV(L, SYN_SENT, ESTABLISHED), EV(R, SYN_RECV, ESTABLISHED));
		/* Retransmissions and duplicates: no second or backwards move. */
		xmit(&f, IN, SYN | ACK, 300000, 100001, 0);
		EXPECT_NO_EVENTS(&f);
		xmit(&f, IN, FIN | ACK, 300001, 100001, 0);
		EXPECT_EVENTS(&f, EV(R, ESTABLISHED, FIN_WAIT1));
		for (j = T.mark; j < T.nev; j++) {
			CHK_EQ(T.ev[j].tcp_flags, FIN | ACK);
			CHK(in_conns(&f, &c));
			CHK_EQ(T.ev[j].conn_flags, c.fsm.flags);
		}
		xmit(&f, OUT, ACK, 100001, 300002, 0);	/* the local stack took it */
		EXPECT_EVENTS(&f, EV(L, ESTABLISHED, CLOSE_WAIT), EV(R, FIN_WAIT1, FIN_WAIT2));
		xmit(&f, IN, FIN | ACK, 300001, 100001, 0);
		EXPECT_NO_EVENTS(&f);
		xmit(&f, OUT, RST | ACK, 100001, 300002, 0);
		EXPECT_EVENTS(&f, EV(L, CLOSE_WAIT, CLOSE), EV(R, FIN_WAIT2, CLOSE));
		xmit(&f, OUT, RST | ACK, 100001, 300002, 0);
		EXPECT_NO_EVENTS(&f);
	}
	CHK(T.nchain == 2 * N_ENCAPS);
	teardown();
}

/* ---- counters ---- */

static void check_counter_identities(void)
{
	struct counters c;
	__u64 trans = 0;
	int i, j;

	read_counters(&c);
	CHK_EQ(c.c[TCPS_CNT_PACKETS], c.c[TCPS_CNT_TCP] + c.c[TCPS_CNT_NON_TCP] +
					    c.c[TCPS_CNT_PARSE_ERR] + c.c[TCPS_CNT_FRAGMENTS]);
	for (i = 0; i < TCPS_STATE_MAX; i++)
		for (j = 0; j < TCPS_STATE_MAX; j++)
			trans += trans_count(i, j);
	CHK_EQ(c.c[TCPS_CNT_RB_DROPS], 0);
	CHK_EQ(c.c[TCPS_CNT_TRANSITIONS], T.nev);
	CHK_EQ(trans, T.nev);
}

/* A small raw frame with the given ethertype and body bytes. */
static size_t raw_frame(__u8 *buf, __u16 ethertype, size_t body)
{
	memset(buf, 0, ETH_LEN + body);
	memcpy(buf, "\xff\xff\xff\xff\xff\xff\x02\x00\x00\x00\x00\x01", 12);
	buf[12] = ethertype >> 8;
	buf[13] = ethertype & 0xff;
	return ETH_LEN + body;
}

/* Offset of the IP header in a frame of flow f. */
static size_t ip_off(const struct flow *f)
{
	return ETH_LEN + 4 * (size_t)f->vlans;
}

static size_t build(const struct flow *f, int dir, __u8 flags, __u32 len, __u8 *buf)
{
	struct pkt_spec s = spec_for(f, dir);
	size_t n;

	s.flags = flags;
	s.seq = 1;
	s.ack = flags & ACK ? 1 : 0;
	s.payload_len = len;
	n = pkt_build(&s, buf, PKT_MAX);
	CHK(n > 0);
	return n;
}

TEST(test_counters_add_up)
{
	__u8 buf[PKT_MAX];
	struct counters c;
	struct flow f;
	size_t n;
	int i;

	if (setup())
		return;
	for (i = 0; i < N_ENCAPS; i++) {
		where("%s", encaps[i].name);
		flow_for(&f, &encaps[i], i, i & 1);
		local_client_active_close(&f, 1, 2);	/* 9 TCP, 1 conn, 10 transitions */
		n = build(&f, OUT, SYN, 0, buf);	/* as UDP: not TCP */
		buf[ip_off(&f) + (f.family == 4 ? 9 : 6)] = 17;
		send_frame(OUT, buf, n, 0);
		n = build(&f, IN, SYN, 0, buf);	/* ihl 4: parse error */
		if (f.family == 4)
			buf[ip_off(&f)] = 0x44;
		else
			buf[ip_off(&f)] = 0x50;	/* version 5 */
		send_frame(IN, buf, n, 0);
	}
	where("totals");
	send_frame(IN, buf, raw_frame(buf, 0x0806, 28), 0);	/* ARP */
	read_counters(&c);
	CHK_EQ(c.c[TCPS_CNT_PACKETS], N_ENCAPS * 11 + 1);
	CHK_EQ(c.c[TCPS_CNT_TCP], N_ENCAPS * 9);
	CHK_EQ(c.c[TCPS_CNT_NON_TCP], N_ENCAPS + 1);
	CHK_EQ(c.c[TCPS_CNT_PARSE_ERR], N_ENCAPS);
	CHK_EQ(c.c[TCPS_CNT_FRAGMENTS], 0);
	CHK_EQ(c.c[TCPS_CNT_NEW_CONN], N_ENCAPS);
	CHK_EQ(c.c[TCPS_CNT_HALFOPEN_NEW], N_ENCAPS);
	CHK_EQ(c.c[TCPS_CNT_PROMOTED], N_ENCAPS);
	CHK_EQ(c.c[TCPS_CNT_TRANSITIONS], N_ENCAPS * 10);
	CHK_EQ(c.c[TCPS_CNT_TABLE_FULL], 0);
	CHK_EQ(c.c[TCPS_CNT_MIDSTREAM], 0);
	check_counter_identities();
	teardown();
}

TEST(test_trans_array_counts_from_times_max_plus_to)
{
	struct flow f;
	int i;

	if (setup())
		return;
	for (i = 0; i < N_ENCAPS; i++) {
		flow_for(&f, &encaps[i], i, i & 1);
		local_client_active_close(&f, 1, 2);
	}
	CHK_EQ(trans_count(TCPS_CLOSE, TCPS_SYN_SENT), N_ENCAPS);
	CHK_EQ(trans_count(TCPS_CLOSE, TCPS_SYN_RECV), N_ENCAPS);
	CHK_EQ(trans_count(TCPS_SYN_SENT, TCPS_ESTABLISHED), N_ENCAPS);
	CHK_EQ(trans_count(TCPS_SYN_RECV, TCPS_ESTABLISHED), N_ENCAPS);
	CHK_EQ(trans_count(TCPS_ESTABLISHED, TCPS_FIN_WAIT1), N_ENCAPS);
	CHK_EQ(trans_count(TCPS_ESTABLISHED, TCPS_CLOSE_WAIT), N_ENCAPS);
	CHK_EQ(trans_count(TCPS_FIN_WAIT1, TCPS_FIN_WAIT2), N_ENCAPS);
	CHK_EQ(trans_count(TCPS_FIN_WAIT2, TCPS_TIME_WAIT), N_ENCAPS);
	CHK_EQ(trans_count(TCPS_CLOSE_WAIT, TCPS_LAST_ACK), N_ENCAPS);
	CHK_EQ(trans_count(TCPS_LAST_ACK, TCPS_CLOSE), N_ENCAPS);
	CHK_EQ(trans_count(TCPS_ESTABLISHED, TCPS_CLOSE), 0);
	CHK_EQ(trans_count(0, 0), 0);
	check_counter_identities();
	teardown();
}

TEST(test_per_connection_packets_and_bytes_per_side)
{
	struct tcps_conn c;
	struct flow f;
	int i, k;

	if (setup())
		return;
	for (i = 0; i < N_ENCAPS; i++) {
		where("%s", encaps[i].name);
		flow_for(&f, &encaps[i], i, i & 1);
		establish(&f);	/* local 2 packets, remote 1 */
		for (k = 0; k < 10; k++)
			xmit(&f, OUT, ACK, 1001 + k * 1000, 5001, 1000);
		for (k = 0; k < 3; k++)
			xmit(&f, IN, ACK, 5001 + k * 7, 1001 + 10000, 7);
		CHK(in_conns(&f, &c));
		CHK_EQ(c.pkts[f.lside], 12);
		CHK_EQ(c.pkts[!f.lside], 4);
		CHK_EQ(c.bytes[f.lside], 10000);
		CHK_EQ(c.bytes[!f.lside], 21);
		CHK_EQ(c.fsm.ep[f.lside].snd_nxt, 1001 + 10000);
		CHK_EQ(c.fsm.ep[!f.lside].snd_nxt, 5001 + 21);
		CHK_EQ(c.fsm.ep[!f.lside].ack_sent, 11001);
	}
	teardown();
}

/* Ethernet pads short frames to 60 bytes: the padding is no payload. */
TEST(test_ethernet_padding_is_not_payload)
{
	__u8 buf[PKT_MAX];
	struct tcps_conn c;
	struct flow f;
	size_t n;
	int i;

	if (setup())
		return;
	for (i = 0; i < N_ENCAPS; i++) {
		where("%s", encaps[i].name);
		flow_for(&f, &encaps[i], i, i & 1);
		n = build(&f, OUT, ACK, 3, buf);
		memset(buf + n, 0xaa, 32);
		send_frame(OUT, buf, n + 32, ACK);
		CHK(in_conns(&f, &c));
		CHK_EQ(c.bytes[f.lside], 3);
	}
	teardown();
}

TEST(test_timestamps_come_from_replay_clock)
{
	struct tcps_conn c;
	struct flow f;
	__u64 t0;

	if (setup())
		return;
	flow_for(&f, &encaps[0], 0, 1);
	T.clock = 5ULL << 40;
	xmit(&f, OUT, SYN, 1, 0, 0);
	t0 = T.clock;
	CHK_EQ(T.ev[T.mark].ts, t0);
	T.clock += 123456789;
	xmit(&f, IN, SYN | ACK, 1, 2, 0);
	CHK(in_table(&f, &c));
	CHK_EQ(c.first_seen, t0);
	CHK_EQ(c.last_seen, T.clock);
	teardown();
}

/* ---- fail open on hostile frames ---- */

/* A SYN with options, cut at every length, through every hook. Frames
 * shorter than an Ethernet header are refused by the kernel's test run
 * itself (-EINVAL, net/bpf/test_run.c: size < ETH_HLEN) for XDP and tc
 * alike, and tc also refuses untagged IP frames cut inside the IP header
 * (see tc_refuses), so the program never sees those; every other length
 * it must pass, count as a parse error and remember nothing. */
TEST(test_truncated_syn_at_every_length_passes_and_counts_parse_error)
{
	static const int hooks[] = { HOOK_XDP, HOOK_TC_IN, HOOK_TC_OUT };
	__u8 buf[PKT_MAX];
	struct flow f;
	__u64 frames = 0;
	int i, h;

	if (setup())
		return;
	for (i = 0; i < N_ENCAPS; i++) {
		struct pkt_spec s;
		size_t n, len;

		flow_for(&f, &encaps[i], i, i & 1);
		s = spec_for(&f, OUT);
		s.flags = SYN;
		s.seq = 1;
		s.mss = 1460;
		s.wscale = 7;
		n = pkt_build(&s, buf, sizeof(buf));
		CHK(n > 0);
		for (len = 0; len < n; len++) {
			for (h = 0; h < 3; h++) {
				int err;

				where("%s len=%zu hook=%d", encaps[i].name, len, h);
				T.last_flags = 0;
				err = run_hook(hooks[h], buf, (__u32)len);
				if (len < ETH_LEN || (hooks[h] != HOOK_XDP && tc_refuses(buf, len))) {
					CHK_EQ(err, -EINVAL);
					continue;
				}
				CHK_EQ(err, 0);
				frames++;
				CHK_EQ(counter(TCPS_CNT_PARSE_ERR), frames);
				EXPECT_NO_EVENTS(&f);
			}
		}
		/* And whole, it is a SYN like any other. */
		where("%s whole", encaps[i].name);
		send_frame(OUT, buf, n, SYN);
		EXPECT_EVENTS(&f, EV(L, CLOSE, SYN_SENT));
	}
	where("totals");
	CHK_EQ(counter(TCPS_CNT_TCP), N_ENCAPS);
	CHK_EQ(counter(TCPS_CNT_PACKETS), frames + N_ENCAPS);
	CHK_EQ(total_entries(), N_ENCAPS);
	teardown();
}

TEST(test_frames_shorter_than_ethernet_are_refused_by_test_run)
{
	__u8 buf[ETH_LEN] = { 0 };
	int len;

	if (setup())
		return;
	for (len = 0; len < ETH_LEN; len++) {
		where("len=%d", len);
		CHK_EQ(run_hook(HOOK_XDP, buf, len), -EINVAL);
		CHK_EQ(run_hook(HOOK_TC_OUT, buf, len), -EINVAL);
	}
	CHK_EQ(counter(TCPS_CNT_PACKETS), 0);
	teardown();
}

TEST(test_ethernet_only_frames_pass)
{
	__u8 buf[64];

	if (setup())
		return;
	where("14-byte IPv4");
	send_frame(IN, buf, raw_frame(buf, 0x0800, 0), 0);
	CHK_EQ(counter(TCPS_CNT_PARSE_ERR), 1);
	where("14-byte IPv6");
	send_frame(IN, buf, raw_frame(buf, 0x86dd, 0), 0);
	CHK_EQ(counter(TCPS_CNT_PARSE_ERR), 2);
	where("14-byte IPv6 through tc");	/* refused by the test run itself */
	CHK_EQ(send_frame(OUT, buf, raw_frame(buf, 0x86dd, 0), 0), 0);
	where("14-byte VLAN");
	send_frame(IN, buf, raw_frame(buf, 0x8100, 0), 0);
	CHK_EQ(counter(TCPS_CNT_PARSE_ERR), 3);
	where("14-byte VLAN through tc");
	CHK_EQ(send_frame(OUT, buf, raw_frame(buf, 0x8100, 0), 0), 1);
	CHK_EQ(counter(TCPS_CNT_PARSE_ERR), 4);
	where("14-byte ethertype 0");
	send_frame(IN, buf, raw_frame(buf, 0, 0), 0);
	CHK_EQ(counter(TCPS_CNT_NON_TCP), 1);
	CHK_EQ(counter(TCPS_CNT_PACKETS), 5);
	CHK_EQ(total_entries(), 0);
	teardown();
}

TEST(test_non_tcp_frames_are_counted_and_passed)
{
	__u8 buf[PKT_MAX];
	struct flow f;
	size_t n;
	int i;

	if (setup())
		return;
	where("arp");
	send_frame(IN, buf, raw_frame(buf, 0x0806, 28), 0);
	send_frame(OUT, buf, raw_frame(buf, 0x0806, 28), 0);
	where("lldp");
	send_frame(IN, buf, raw_frame(buf, 0x88cc, 46), 0);
	for (i = 0; i < N_ENCAPS; i++) {
		where("%s udp", encaps[i].name);
		flow_for(&f, &encaps[i], i, i & 1);
		n = build(&f, IN, SYN, 8, buf);
		buf[ip_off(&f) + (f.family == 4 ? 9 : 6)] = 17;
		send_frame(IN, buf, n, 0);
		send_frame(OUT, buf, n, 0);
		if (f.family == 6) {
			/* UDP behind extension headers is still UDP. */
			struct pkt_spec s = spec_for(&f, IN);

			s.ipv6_ext = 2;
			n = pkt_build(&s, buf, sizeof(buf));
			buf[ip_off(&f) + 40 + 8] = 17;	/* the second header's next */
			send_frame(IN, buf, n, 0);
		}
	}
	where("totals");
	CHK_EQ(counter(TCPS_CNT_NON_TCP), 3 + 2 * N_ENCAPS + 3);
	CHK_EQ(counter(TCPS_CNT_TCP), 0);
	CHK_EQ(counter(TCPS_CNT_PARSE_ERR), 0);
	CHK_EQ(total_entries(), 0);
	check_counter_identities();
	teardown();
}

/* Only two tags are looked into (TCPS_MAX_VLAN): a third is passed on
 * as not TCP. */
TEST(test_three_vlan_tags_are_not_parsed)
{
	__u8 buf[PKT_MAX], three[PKT_MAX];
	struct flow f;
	size_t n;
	int i;

	if (setup())
		return;
	for (i = 0; i < N_ENCAPS; i++) {
		if (encaps[i].vlans != 2)
			continue;
		where("%s", encaps[i].name);
		flow_for(&f, &encaps[i], i, 1);
		n = build(&f, IN, SYN, 0, buf);
		/* insert a third 802.1Q tag after the second */
		memcpy(three, buf, 20);
		three[20] = 0x81;
		three[21] = 0x00;
		three[22] = 0x00;
		three[23] = 0x66;
		memcpy(three + 24, buf + 20, n - 20);
		CHK_EQ(send_frame(IN, three, n + 4, 0), 1);
		CHK_EQ(send_frame(OUT, three, n + 4, 0), 1);
	}
	CHK_EQ(counter(TCPS_CNT_NON_TCP), 4);
	CHK_EQ(total_entries(), 0);
	teardown();
}

/* Hop-by-hop, routing, destination options, AH and a first fragment
 * (offset 0) in one chain: walked, each by its own length rule. */
TEST(test_ipv6_extension_header_kinds_are_walked)
{
	static const __u8 kinds[] = { 0, 43, 60, 51, 44 };
	__u8 buf[PKT_MAX];
	struct tcps_conn c;
	struct flow f;
	int i, j;

	if (setup())
		return;
	for (i = 0; i < N_ENCAPS; i++) {
		struct pkt_spec s;
		size_t n, ip;

		if (encaps[i].family != 6)
			continue;
		where("%s", encaps[i].name);
		flow_for(&f, &encaps[i], i, i & 1);
		s = spec_for(&f, OUT);
		s.flags = SYN;
		s.seq = 77;
		s.wscale = 6;
		s.ipv6_ext = 5;
		n = pkt_build(&s, buf, sizeof(buf));
		ip = ip_off(&f);
		buf[ip + 6] = kinds[0];
		for (j = 0; j < 5; j++) {
			__u8 *h = buf + ip + 40 + 8 * j;

			h[0] = j < 4 ? kinds[j + 1] : 6;
			h[1] = 0;	/* 8 bytes under every rule: (0+1)*8, AH (0+2)*4 */
			if (kinds[j] == 44) {
				h[2] = 0;	/* offset 0, more fragments */
				h[3] = 1;
			}
		}
		send_frame(OUT, buf, n, SYN);
		EXPECT_EVENTS(&f, EV(L, CLOSE, SYN_SENT));
		CHK(in_halfopen(&f, &c));
		CHK_EQ(c.fsm.ep[f.lside].wscale, 6);
	}
	CHK_EQ(counter(TCPS_CNT_FRAGMENTS), 0);
	teardown();
}

/* A first fragment (offset 0, more-fragments set) carries the TCP header. */
TEST(test_ipv4_first_fragment_is_parsed)
{
	__u8 buf[PKT_MAX];
	struct flow f;
	size_t n;
	int i;

	if (setup())
		return;
	for (i = 0; i < N_ENCAPS; i++) {
		if (encaps[i].family != 4)
			continue;
		where("%s", encaps[i].name);
		flow_for(&f, &encaps[i], i, i & 1);
		n = build(&f, OUT, SYN, 0, buf);
		buf[ip_off(&f) + 6] = 0x20;	/* MF */
		send_frame(OUT, buf, n, SYN);
		EXPECT_EVENTS(&f, EV(L, CLOSE, SYN_SENT));
	}
	CHK_EQ(counter(TCPS_CNT_FRAGMENTS), 0);
	teardown();
}

TEST(test_non_first_fragments_are_counted_not_parsed)
{
	struct flow f;
	int i;

	if (setup())
		return;
	for (i = 0; i < N_ENCAPS; i++) {
		struct pkt_spec s;

		where("%s", encaps[i].name);
		flow_for(&f, &encaps[i], i, i & 1);
		/* What follows the IP header looks like a SYN; it is not one. */
		s = spec_for(&f, OUT);
		s.flags = SYN;
		s.frag_offset = 185;
		send_spec(&f, OUT, &s);
		EXPECT_NO_EVENTS(&f);
		CHK_EQ(counter(TCPS_CNT_FRAGMENTS), i + 1);
	}
	CHK_EQ(counter(TCPS_CNT_TCP), 0);
	CHK_EQ(total_entries(), 0);
	check_counter_identities();
	teardown();
}

TEST(test_ipv4_options_are_skipped)
{
	struct tcps_conn c;
	struct flow f;
	int i, opt;

	if (setup())
		return;
	for (i = 0; i < N_ENCAPS; i++) {
		if (encaps[i].family != 4)
			continue;
		for (opt = 4; opt <= 40; opt += 36) {
			struct pkt_spec s;

			where("%s options=%d", encaps[i].name, opt);
			flow_for(&f, &encaps[i], i * 100 + opt, 1);
			s = spec_for(&f, OUT);
			s.flags = SYN;
			s.seq = 42;
			s.wscale = 3;
			s.ipv4_options = opt;
			send_spec(&f, OUT, &s);
			EXPECT_EVENTS(&f, EV(L, CLOSE, SYN_SENT));
			CHK(in_halfopen(&f, &c));
			CHK_EQ(c.fsm.ep[f.lside].isn, 42);
			CHK_EQ(c.fsm.ep[f.lside].wscale, 3);
		}
	}
	teardown();
}

TEST(test_ipv6_eight_extension_headers_parse_nine_do_not)
{
	struct tcps_conn c;
	struct flow f;
	int i;

	if (setup())
		return;
	for (i = 0; i < N_ENCAPS; i++) {
		struct pkt_spec s;

		if (encaps[i].family != 6)
			continue;
		where("%s 8 headers", encaps[i].name);
		flow_for(&f, &encaps[i], i, 1);
		s = spec_for(&f, OUT);
		s.flags = SYN;
		s.seq = 9;
		s.wscale = 5;
		s.ipv6_ext = 8;
		send_spec(&f, OUT, &s);
		EXPECT_EVENTS(&f, EV(L, CLOSE, SYN_SENT));
		CHK(in_halfopen(&f, &c));
		CHK_EQ(c.fsm.ep[f.lside].wscale, 5);

		where("%s 9 headers", encaps[i].name);
		flow_for(&f, &encaps[i], i + 50, 1);
		s = spec_for(&f, OUT);
		s.flags = SYN;
		s.ipv6_ext = 9;
		send_spec(&f, OUT, &s);
		EXPECT_NO_EVENTS(&f);
		CHK(!in_halfopen(&f, NULL) && !in_conns(&f, NULL));
	}
	CHK_EQ(counter(TCPS_CNT_PARSE_ERR), 3);
	CHK_EQ(total_entries(), 3);
	teardown();
}

/*
 * Malformed variants of frame buf (a segment of f): each must pass and
 * count a parse error. Returns how many were sent.
 */
static int send_malformed(const struct flow *f, int dir, const __u8 *orig, size_t n)
{
	__u8 buf[PKT_MAX];
	size_t ip = ip_off(f), th = ip + (f->family == 4 ? 20 : 40), len;
	int sent = 0, v;

	/* Cut anywhere from the end of the Ethernet header on. */
	for (len = ETH_LEN; len < n; len++) {
		where("%s truncated to %zu", f->family == 4 ? "ipv4" : "ipv6", len);
		sent += send_frame(dir, orig, len, 0);
	}
	/* IP version wrong. */
	memcpy(buf, orig, n);
	buf[ip] = (__u8)((f->family == 4 ? 0x60 : 0x40) | (buf[ip] & 0x0f));
	where("bad version");
	sent += send_frame(dir, buf, n, 0);
	if (f->family == 4) {
		/* ihl < 5, and ihl past the packet. */
		for (v = 0; v < 5; v++) {
			memcpy(buf, orig, n);
			buf[ip] = (__u8)(0x40 | v);
			/* Bait: with ihl 4 taken at its word, ip + 16 would be
			 * a plausible SYN header (doff 5 and SYN fall in our ack). */
			buf[th + 8] = 0x50;
			buf[th + 9] = SYN;
			where("ihl=%d", v);
			sent += send_frame(dir, buf, n, 0);
		}
		memcpy(buf, orig, n);
		buf[ip] = 0x4f;
		where("ihl=15");
		sent += send_frame(dir, buf, n, 0);
		/* total length below the header, and beyond the frame. */
		memcpy(buf, orig, n);
		buf[ip + 2] = 0;
		buf[ip + 3] = 19;
		where("tot_len=19");
		sent += send_frame(dir, buf, n, 0);
		memcpy(buf, orig, n);
		buf[ip + 2] = 0x05;
		where("tot_len=1280");
		sent += send_frame(dir, buf, n, 0);
	} else {
		/* payload length beyond the frame. */
		memcpy(buf, orig, n);
		buf[ip + 4] = 0x05;
		where("plen=1280");
		sent += send_frame(dir, buf, n, 0);
	}
	/* doff < 5, and doff past the segment. */
	for (v = 0; v < 5; v++) {
		memcpy(buf, orig, n);
		buf[th + 12] = (__u8)(v << 4);
		where("doff=%d", v);
		sent += send_frame(dir, buf, n, 0);
	}
	memcpy(buf, orig, n);
	buf[th + 12] = 0xf0;
	where("doff=15");
	sent += send_frame(dir, buf, n, 0);
	return sent;
}

TEST(test_malformed_frames_pass_and_never_create_an_entry)
{
	__u8 buf[PKT_MAX];
	struct flow f;
	__u64 expect = 0;
	int i;

	if (setup())
		return;
	for (i = 0; i < N_ENCAPS; i++) {
		size_t n;

		flow_for(&f, &encaps[i], i, i & 1);
		n = build(&f, OUT, SYN, 0, buf);
		expect += send_malformed(&f, OUT, buf, n);
		n = build(&f, IN, ACK, 16, buf);
		expect += send_malformed(&f, IN, buf, n);
		where("%s", encaps[i].name);
		CHK_EQ(counter(TCPS_CNT_PARSE_ERR), expect);
	}
	where("totals");
	CHK_EQ(T.nev, 0);
	CHK_EQ(total_entries(), 0);
	CHK_EQ(counter(TCPS_CNT_TCP), 0);
	CHK_EQ(counter(TCPS_CNT_NEW_CONN), 0);
	check_counter_identities();
	teardown();
}

/* Malformed FIN/RST frames of a live connection change nothing in it. */
TEST(test_malformed_frames_never_change_an_entry)
{
	__u8 flags[] = { FIN | ACK, RST, RST | ACK, SYN };
	struct tcps_conn before, after;
	__u8 buf[PKT_MAX];
	struct flow f;
	int i, j;

	if (setup())
		return;
	for (i = 0; i < N_ENCAPS; i++) {
		flow_for(&f, &encaps[i], i, i & 1);
		establish(&f);
		CHK(in_conns(&f, &before));
		for (j = 0; j < 4; j++) {
			struct pkt_spec s = spec_for(&f, j & 1 ? IN : OUT);
			size_t n;

			s.flags = flags[j];
			/* in window, exact: whole, each would close or move */
			s.seq = j & 1 ? 5001 : 1001;
			s.ack = j & 1 ? 1001 : 5001;
			n = pkt_build(&s, buf, sizeof(buf));
			send_malformed(&f, j & 1 ? IN : OUT, buf, n);
		}
		where("%s", encaps[i].name);
		CHK(in_conns(&f, &after));
		CHK(!memcmp(&before, &after, sizeof(before)));
		CHK_EQ(T.nev, 4 * (i + 1));	/* the handshake's only */
	}
	CHK_EQ(total_entries(), N_ENCAPS);
	teardown();
}

/* ---- table full ---- */

TEST(test_table_full_counts_and_passes)
{
	struct flow f;
	int i;

	if (setup_mode(TCPS_MODE_HOST, 2))
		return;
	/* Two mid-stream connections fill tcps_conns. */
	for (i = 0; i < 2; i++) {
		where("fill %d", i);
		flow_for(&f, &encaps[0], i, 1);
		xmit(&f, OUT, ACK, 1, 1, 0);
		CHK(in_conns(&f, NULL));
	}
	CHK_EQ(counter(TCPS_CNT_TABLE_FULL), 0);
	/* A third: refused, counted, no event, packet passed. */
	for (i = 0; i < N_ENCAPS; i++) {
		where("%s refused", encaps[i].name);
		flow_for(&f, &encaps[i], 10 + i, i & 1);
		xmit(&f, OUT, ACK, 1, 1, 0);
		EXPECT_NO_EVENTS(&f);
		CHK(!in_conns(&f, NULL));
		CHK_EQ(counter(TCPS_CNT_TABLE_FULL), i + 1);
	}
	/* A handshake: the SYN goes half-open (a table of its own), the
	 * promotion is refused and counted; tracking goes on there. */
	where("promotion refused");
	flow_for(&f, &encaps[1], 99, 1);
	xmit(&f, OUT, SYN, 1, 0, 0);
	CHK(in_halfopen(&f, NULL));
	xmit(&f, IN, SYN | ACK, 1, 2, 0);
	EXPECT_EVENTS(&f, EV(R, CLOSE, SYN_RECV));
	CHK_EQ(counter(TCPS_CNT_TABLE_FULL), N_ENCAPS);
	xmit(&f, OUT, ACK, 2, 2, 0);
	EXPECT_EVENTS(&f, EV(L, SYN_SENT, ESTABLISHED), EV(R, SYN_RECV, ESTABLISHED));
	CHK_EQ(counter(TCPS_CNT_TABLE_FULL), N_ENCAPS + 1);
	CHK_EQ(counter(TCPS_CNT_PROMOTED), 0);
	CHK(in_halfopen(&f, NULL));
	CHK(!in_conns(&f, NULL));
	EXPECT_STATES(&f, ESTABLISHED, ESTABLISHED);

	/* Room again once an entry is deleted and its tombstone collected,
	 * as the daemon's expiry does (user/gc.c): the next non-steady
	 * packet promotes it. */
	where("room again");
	{
		struct tcps_ctable t = table(false);
		int info = bpf_map__fd(T.skel->maps.tcps_info);
		struct tcps_conn gone;
		struct flow g;
		__u64 ns;

		flow_for(&g, &encaps[0], 0, 1);
		CHK_EQ(tcps_ctable_take(&t, &g.key, &gone), 0);
		CHK_EQ(tcps_slots_collect(bpf_program__fd(T.skel->progs.tcps_sys_collect),
					  tcps_slots_info_epoch, &info, &ns), 0);
	}
	xmit(&f, OUT, FIN | ACK, 2, 2, 0);
	CHK(in_conns(&f, NULL));
	CHK(!in_halfopen(&f, NULL));
	CHK_EQ(counter(TCPS_CNT_PROMOTED), 1);
	EXPECT_STATES(&f, FIN_WAIT1, CLOSE_WAIT);
	teardown();
}

/* ---- passive mode ---- */

TEST(test_passive_mode_orig_flag_follows_first_syn)
{
	struct tcps_conn c;
	struct flow f;
	int i, low;

	if (setup_mode(TCPS_MODE_PASSIVE, 0))
		return;
	for (i = 0; i < N_ENCAPS; i++) {
		for (low = 0; low < 2; low++) {
			where("%s a %s", encaps[i].name, low ? "low" : "high");
			/* "local" here is just end a, the one that connects. */
			flow_for(&f, &encaps[i], 2 * i + low, low);
			local_client_active_close(&f, 100, 200);
			CHK(in_conns(&f, &c));
			CHK_EQ(!!(c.fsm.flags & TCPS_C_ORIG1), f.lside);
			CHK_EQ(c.fsm.flags & (TCPS_C_LOCAL0 | TCPS_C_LOCAL1), 0);
		}
	}
	teardown();
}

/* ---- gauges (tcpscope.h TCPS_GAUGE_BASE) ---- */

/* Slot of both gauge groups, summed over CPUs (as user/gauges.c does). */
static __u64 gauge(__u32 slot)
{
	int ncpu = libbpf_num_possible_cpus(), i, g;
	__u64 *v = calloc(ncpu, sizeof(*v)), sum = 0;

	for (g = 0; v && g < 2; g++) {
		__u32 idx = (g ? TCPS_GAUGE_USER : TCPS_GAUGE_BASE) + slot;

		if (bpf_map_lookup_elem(bpf_map__fd(T.skel->maps.tcps_trans), &idx, v)) {
			CHECK_FAIL_("[%s] reading tcps_trans[%u] failed", T.where, idx);
			break;
		}
		for (i = 0; i < ncpu; i++)
			sum += v[i];
	}
	free(v);
	return sum;
}

/* Every gauge equals a walk of both tables: entries per table, and per
 * state of the first side (local; orig in passive mode). */
static void expect_gauges_walk_(int line)
{
	__u64 want[TCPS_G_GROUP] = { 0 };
	struct tcps_ctable_walk w;
	int m, st, n, i;

	if (tcps_ctable_walk_open(&w, false)) {
		CHECK_FAIL_("[%s] line %d: no memory to walk the tables", T.where, line);
		return;
	}
	for (m = 0; m < 2; m++) {
		struct tcps_ctable t = table(m);

		tcps_ctable_walk_start(&w, &t);
		while (!w.end && (n = tcps_ctable_walk_next(&w)) >= 0)
			for (i = 0; i < n; i++) {
				struct tcps_conn c;
				int first;

				tcps_ctable_walk_val(&w, (__u32)i, &c);
				first = T.passive ? !!(c.fsm.flags & TCPS_C_ORIG1) :
						    !!(c.fsm.flags & TCPS_C_LOCAL1);
				want[TCPS_G_STATE + c.fsm.ep[first].state % TCPS_STATE_MAX]++;
				want[m ? TCPS_G_HALFOPEN : TCPS_G_CONNS]++;
			}
	}
	tcps_ctable_walk_close(&w);
	for (st = 0; st < TCPS_G_GROUP; st++)
		if (gauge(st) != want[st])
			CHECK_FAIL_("[%s] line %d: gauge slot %d is %lld, the tables hold %lld",
				    T.where, line, st, (long long)gauge(st), (long long)want[st]);
}
#define EXPECT_GAUGES_WALK() expect_gauges_walk_(__LINE__)

/* A create, each transition of the local side and the promotion move the
 * gauges exactly; a steady segment moves nothing. */
TEST(test_gauges_follow_create_transitions_and_promotion)
{
	struct flow f;
	int i;

	if (setup())
		return;
	for (i = 0; i < N_ENCAPS; i++) {
		where("%s", encaps[i].name);
		flow_for(&f, &encaps[i], i, i & 1);
		/* A remote client: the local side is CLOSE until it answers. */
		xmit(&f, IN, SYN, 500, 0, 0);
		CHK_EQ(gauge(TCPS_G_HALFOPEN), 1);
		CHK_EQ(gauge(TCPS_G_STATE + TCPS_CLOSE), (__u64)i + 1);	/* + the closed ones */
		xmit(&f, OUT, SYN | ACK, 9000, 501, 0);
		CHK_EQ(gauge(TCPS_G_STATE + TCPS_CLOSE), (__u64)i);
		CHK_EQ(gauge(TCPS_G_STATE + TCPS_SYN_RECV), 1);
		EXPECT_GAUGES_WALK();
		xmit(&f, IN, ACK, 501, 9001, 0);	/* promotion */
		CHK_EQ(gauge(TCPS_G_HALFOPEN), 0);
		CHK_EQ(gauge(TCPS_G_CONNS), (__u64)i + 1);
		CHK_EQ(gauge(TCPS_G_STATE + TCPS_SYN_RECV), 0);
		CHK_EQ(gauge(TCPS_G_STATE + TCPS_ESTABLISHED), 1);
		xmit(&f, IN, PSH | ACK, 501, 9001, 10);	/* steady */
		CHK_EQ(gauge(TCPS_G_STATE + TCPS_ESTABLISHED), 1);
		EXPECT_GAUGES_WALK();
		/* The remote side's FIN moves no gauge: the local side takes it
		 * when its own next segment shows it did (tcps_defers). */
		xmit(&f, IN, FIN | ACK, 511, 9001, 0);
		CHK_EQ(gauge(TCPS_G_STATE + TCPS_ESTABLISHED), 1);
		xmit(&f, OUT, FIN | ACK, 9001, 512, 0);	/* via CLOSE_WAIT */
		CHK_EQ(gauge(TCPS_G_STATE + TCPS_ESTABLISHED), 0);
		CHK_EQ(gauge(TCPS_G_STATE + TCPS_CLOSE_WAIT), 0);
		CHK_EQ(gauge(TCPS_G_STATE + TCPS_LAST_ACK), 1);
		xmit(&f, IN, ACK, 512, 9002, 0);
		CHK_EQ(gauge(TCPS_G_STATE + TCPS_LAST_ACK), 0);
		CHK_EQ(gauge(TCPS_G_STATE + TCPS_CLOSE), (__u64)i + 1);
		EXPECT_GAUGES_WALK();
	}
	/* Mid-stream: created straight into the main table. */
	flow_for(&f, &encaps[0], 100, 1);
	xmit(&f, OUT, ACK, 7, 8, 0);
	CHK_EQ(gauge(TCPS_G_CONNS), N_ENCAPS + 1);
	CHK_EQ(gauge(TCPS_G_STATE + TCPS_ESTABLISHED), 1);
	EXPECT_GAUGES_WALK();
	teardown();
}

/* Passive mode counts the originator's state; a new SYN from the other
 * end on a closed tuple makes that end the originator (TCPS_C_ORIG1
 * flips): the gauge moves from the old first side's state to the new. */
TEST(test_gauges_follow_the_originator_when_a_reopen_swaps_it)
{
	struct tcps_conn c;
	struct flow f;
	int i;

	if (setup_mode(TCPS_MODE_PASSIVE, 0))
		return;
	for (i = 0; i < N_ENCAPS; i++) {
		where("%s", encaps[i].name);
		flow_for(&f, &encaps[i], i, i & 1);
		local_client_active_close(&f, 100, 200);	/* a: TIME_WAIT, b: CLOSE */
		CHK_EQ(gauge(TCPS_G_STATE + TCPS_TIME_WAIT), 1);
		EXPECT_GAUGES_WALK();
		xmit(&f, IN, SYN, 90000, 0, 0);		/* b opens anew */
		CHK(in_conns(&f, &c));
		CHK_EQ(!!(c.fsm.flags & TCPS_C_ORIG1), !f.lside);
		CHK_EQ(gauge(TCPS_G_STATE + TCPS_TIME_WAIT), 0);
		CHK_EQ(gauge(TCPS_G_STATE + TCPS_SYN_SENT), 1);
		EXPECT_GAUGES_WALK();
		xmit(&f, OUT, RST | ACK, 0, 90001, 0);
		CHK_EQ(gauge(TCPS_G_STATE + TCPS_SYN_SENT), 0);
		CHK_EQ(gauge(TCPS_G_STATE + TCPS_CLOSE), (__u64)i + 1);
		EXPECT_GAUGES_WALK();
	}
	CHK_EQ(gauge(TCPS_G_CONNS), N_ENCAPS);
	CHK_EQ(gauge(TCPS_G_HALFOPEN), 0);
	teardown();
}

/* A SYN flood fills only the half-open table, and only its gauges;
 * retransmitted SYNs count nothing. */
TEST(test_gauges_count_a_syn_flood_once)
{
	struct flow f;
	int i, rep;

	if (setup())
		return;
	for (rep = 0; rep < 2; rep++)
		for (i = 0; i < 200; i++) {
			where("SYN %d rep %d", i, rep);
			flow_for(&f, &encaps[i & 1], i, 1);
			xmit(&f, IN, SYN, 1000 + (__u32)i, 0, 0);
		}
	CHK_EQ(gauge(TCPS_G_HALFOPEN), 200);
	CHK_EQ(gauge(TCPS_G_STATE + TCPS_CLOSE), 200);
	CHK_EQ(gauge(TCPS_G_CONNS), 0);
	EXPECT_GAUGES_WALK();
	teardown();
}

/* In passive mode also the first packet's direction is no evidence: a
 * mid-stream pickup takes the lower port as the server. */
TEST(test_passive_mode_midstream_lower_port_is_server)
{
	struct tcps_conn c;
	struct flow f;
	int i;

	if (setup_mode(TCPS_MODE_PASSIVE, 0))
		return;
	for (i = 0; i < N_ENCAPS; i++) {
		where("%s", encaps[i].name);
		flow_for(&f, &encaps[i], i, i & 1);	/* a: port 40000+i, b: port 80 */
		xmit(&f, i & 2 ? IN : OUT, ACK, 1, 1, 0);
		CHK(in_conns(&f, &c));
		CHK(c.fsm.flags & TCPS_C_MIDSTREAM);
		CHK_EQ(!!(c.fsm.flags & TCPS_C_ORIG1), f.lside);
		CHK_EQ(c.fsm.flags & (TCPS_C_LOCAL0 | TCPS_C_LOCAL1), 0);
	}
	teardown();
}

/* ---- window scale ---- */

TEST(test_window_scale_parsed_from_syn_options)
{
	struct tcps_conn c;
	struct flow f;
	int i;

	if (setup())
		return;
	for (i = 0; i < N_ENCAPS; i++) {
		struct pkt_spec s;
		int ls = 7 + (i & 1), rs = 9;

		where("%s", encaps[i].name);
		flow_for(&f, &encaps[i], i, i & 1);
		s = spec_for(&f, OUT);	/* through tc: bpf_skb_load_bytes */
		s.flags = SYN;
		s.seq = 1;
		s.mss = i & 2 ? 1460 : 0;
		s.wscale = ls;
		s.win = 64240;
		send_spec(&f, OUT, &s);
		CHK(in_halfopen(&f, &c));
		CHK_EQ(c.fsm.ep[f.lside].wscale, ls);
		CHK(c.fsm.ep[f.lside].flags & TCPS_EP_WSCALE);
		CHK(!(c.fsm.flags & TCPS_C_WSCALE));
		CHK_EQ(tcps_ep_win(&c.fsm, f.lside), 64240);	/* a SYN's window is never scaled */

		s = spec_for(&f, IN);	/* through XDP: bpf_xdp_load_bytes */
		s.flags = SYN | ACK;
		s.seq = 100;
		s.ack = 2;
		s.mss = 1400;
		s.wscale = rs;
		send_spec(&f, IN, &s);
		CHK(in_table(&f, &c));
		CHK_EQ(c.fsm.ep[!f.lside].wscale, rs);
		CHK(c.fsm.ep[!f.lside].flags & TCPS_EP_WSCALE);
		CHK(c.fsm.flags & TCPS_C_WSCALE);

		/* RFC 7323: after the handshake windows are shifted. */
		s = spec_for(&f, OUT);
		s.flags = ACK;
		s.seq = 2;
		s.ack = 101;
		s.win = 1000;
		send_spec(&f, OUT, &s);
		CHK(in_conns(&f, &c));
		CHK_EQ(tcps_ep_win(&c.fsm, f.lside), 1000u << ls);
	}
	teardown();
}

TEST(test_window_scale_absent_or_too_large)
{
	struct tcps_conn c;
	struct flow f;
	int i;

	if (setup())
		return;
	for (i = 0; i < N_ENCAPS; i++) {
		struct pkt_spec s;

		where("%s", encaps[i].name);
		flow_for(&f, &encaps[i], i, i & 1);
		s = spec_for(&f, IN);
		s.flags = SYN;
		s.seq = 1;
		s.mss = 1460;
		s.wscale = 15;	/* RFC 7323 §2.3: treated as 14 */
		send_spec(&f, IN, &s);
		CHK(in_halfopen(&f, &c));
		CHK_EQ(c.fsm.ep[!f.lside].wscale, 14);
		CHK(c.fsm.ep[!f.lside].flags & TCPS_EP_WSCALE);

		s = spec_for(&f, OUT);	/* no option: no scaling either way */
		s.flags = SYN | ACK;
		s.seq = 50;
		s.ack = 2;
		s.mss = 1460;
		send_spec(&f, OUT, &s);
		CHK(in_table(&f, &c));
		CHK_EQ(c.fsm.ep[f.lside].wscale, 0);
		CHK(!(c.fsm.ep[f.lside].flags & TCPS_EP_WSCALE));
		CHK(!(c.fsm.flags & TCPS_C_WSCALE));
		s = spec_for(&f, IN);
		s.flags = ACK;
		s.seq = 2;
		s.ack = 51;
		s.win = 1000;
		send_spec(&f, IN, &s);
		CHK(in_conns(&f, &c));
		CHK_EQ(tcps_ep_win(&c.fsm, !f.lside), 1000);
	}
	teardown();
}

/*
 * A SYN whose options are the given bytes (a multiple of 4, <= 40):
 * built with enough zero payload, which then becomes the option area.
 */
static size_t syn_with_opts(const struct flow *f, int dir, const __u8 *o, size_t olen, __u8 *buf)
{
	struct pkt_spec s = spec_for(f, dir);
	size_t n, th;

	s.flags = SYN;
	s.seq = 3000;
	s.payload_len = (__u32)olen;
	n = pkt_build(&s, buf, PKT_MAX);
	th = ip_off(f) + (f->family == 4 ? 20 : 40);
	memcpy(buf + th + 20, o, olen);
	buf[th + 12] = (__u8)((20 + olen) / 4) << 4;
	return n;
}

/* The layouts real stacks send, through XDP and through tc. */
TEST(test_window_scale_found_in_real_stack_option_layouts)
{
	static const struct {
		const char *name;
		__u8 o[40];
		size_t len;
		int ws;
	} layouts[] = {
		/* MSS, SACK_PERM, TS, NOP, WS */
		{ "linux", { 2, 4, 5, 0xb4, 4, 2, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0, 1, 3, 3, 7 }, 20, 7 },
		/* MSS, NOP, WS, NOP, NOP, SACK_PERM */
		{ "windows", { 2, 4, 5, 0xb4, 1, 3, 3, 8, 1, 1, 4, 2 }, 12, 8 },
		/* MSS, NOP, WS, NOP, NOP, TS, SACK_PERM, EOL */
		{ "macos", { 2, 4, 5, 0xb4, 1, 3, 3, 6, 1, 1, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0, 4, 2, 0, 0 },
		  24, 6 },
		/* nine NOPs then WS: the tenth option, the last one looked at */
		{ "nops", { 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 5 }, 12, 5 },
		/* a zero-length option ends the walk (and must not loop) */
		{ "zero-len", { 2, 0, 3, 3, 3, 9, 0, 0 }, 8, -1 },
		/* option running past the header */
		{ "overrun", { 1, 1, 1, 3, 3 }, 4, -1 },
		/* EOL before WS */
		{ "eol", { 0, 3, 3, 9 }, 4, -1 },
		/* WS with a wrong length is no WS */
		{ "ws-len4", { 3, 4, 9, 0, 1, 1, 1, 1 }, 8, -1 },
	};
	__u8 buf[PKT_MAX];
	struct tcps_conn c;
	struct flow f;
	int i, j, n = 0;

	if (setup())
		return;
	for (i = 0; i < N_ENCAPS; i++) {
		for (j = 0; j < (int)(sizeof(layouts) / sizeof(layouts[0])); j++) {
			int dir = (i + j) & 1 ? IN : OUT, side;
			size_t len;

			where("%s %s via %s", encaps[i].name, layouts[j].name, dir == IN ? "xdp" : "tc");
			flow_for(&f, &encaps[i], n++, i & 1);
			len = syn_with_opts(&f, dir, layouts[j].o, layouts[j].len, buf);
			CHK_EQ(send_frame(dir, buf, len, SYN), 1);
			side = dir == OUT ? f.lside : !f.lside;
			CHK(in_halfopen(&f, &c));
			CHK_EQ(c.fsm.ep[side].state, TCPS_SYN_SENT);
			if (layouts[j].ws >= 0) {
				CHK(c.fsm.ep[side].flags & TCPS_EP_WSCALE);
				CHK_EQ(c.fsm.ep[side].wscale, layouts[j].ws);
			} else {
				CHK(!(c.fsm.ep[side].flags & TCPS_EP_WSCALE));
			}
		}
	}
	teardown();
}

int main(void)
{
	libbpf_set_print(libbpf_quiet);
	if (geteuid() != 0) {
		printf("skip test_bpf: needs root for BPF_PROG_TEST_RUN\n");
		return 0;
	}
	RUN(test_ipv4_local_client_handshake_data_active_close);
	RUN(test_ipv6_local_client_handshake_data_active_close);
	RUN(test_ipv4_vlan_local_client_handshake_data_active_close);
	RUN(test_ipv4_qinq_local_client_handshake_data_active_close);
	RUN(test_ipv6_vlan_local_client_handshake_data_active_close);
	RUN(test_ipv6_qinq_local_client_handshake_data_active_close);
	RUN(test_ipv4_local_server_handshake_data_passive_close);
	RUN(test_ipv6_local_server_handshake_data_passive_close);
	RUN(test_ipv4_vlan_local_server_handshake_data_passive_close);
	RUN(test_ipv4_qinq_local_server_handshake_data_passive_close);
	RUN(test_ipv6_vlan_local_server_handshake_data_passive_close);
	RUN(test_ipv6_qinq_local_server_handshake_data_passive_close);
	RUN(test_tc_ingress_hook_tracks_like_xdp);
	RUN(test_syn_creates_halfopen_entry_only);
	RUN(test_handshake_ack_promotes_halfopen_entry_to_conns);
	RUN(test_synack_first_creates_halfopen_entry_ack_promotes);
	RUN(test_refused_connection_rst_ack_closes_client);
	RUN(test_rst_with_wrong_ack_in_syn_sent_is_ignored);
	RUN(test_out_of_window_rst_changes_nothing_and_counts_oow);
	RUN(test_simultaneous_open_goes_syn_recv_both);
	RUN(test_out_of_window_data_and_ack_are_ignored_and_counted);
	RUN(test_rst_or_synfin_first_creates_no_entry);
	RUN(test_midstream_ack_is_established_both_and_flagged);
	RUN(test_midstream_fin_picks_up_closing_states);
	RUN(test_local_side_flag_follows_direction);
	RUN(test_both_directions_map_to_one_entry);
	RUN(test_events_chain_from_previous_to);
	RUN(test_counters_add_up);
	RUN(test_trans_array_counts_from_times_max_plus_to);
	RUN(test_per_connection_packets_and_bytes_per_side);
	RUN(test_ethernet_padding_is_not_payload);
	RUN(test_timestamps_come_from_replay_clock);
	RUN(test_truncated_syn_at_every_length_passes_and_counts_parse_error);
	RUN(test_frames_shorter_than_ethernet_are_refused_by_test_run);
	RUN(test_ethernet_only_frames_pass);
	RUN(test_non_tcp_frames_are_counted_and_passed);
	RUN(test_three_vlan_tags_are_not_parsed);
	RUN(test_ipv6_extension_header_kinds_are_walked);
	RUN(test_ipv4_first_fragment_is_parsed);
	RUN(test_non_first_fragments_are_counted_not_parsed);
	RUN(test_ipv4_options_are_skipped);
	RUN(test_ipv6_eight_extension_headers_parse_nine_do_not);
	RUN(test_malformed_frames_pass_and_never_create_an_entry);
	RUN(test_malformed_frames_never_change_an_entry);
	RUN(test_table_full_counts_and_passes);
	RUN(test_passive_mode_orig_flag_follows_first_syn);
	RUN(test_gauges_follow_create_transitions_and_promotion);
	RUN(test_gauges_follow_the_originator_when_a_reopen_swaps_it);
	RUN(test_gauges_count_a_syn_flood_once);
	RUN(test_passive_mode_midstream_lower_port_is_server);
	RUN(test_window_scale_parsed_from_syn_options);
	RUN(test_window_scale_absent_or_too_large);
	RUN(test_window_scale_found_in_real_stack_option_layouts);
	teardown();
	return check_done();
}
