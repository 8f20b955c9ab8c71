// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The connection table as a slot array (include/tcps_slots.h,
 * bpf/slots_prim.bpf.h) in the real BPF objects, with BPF_PROG_TEST_RUN
 * only (nothing attached): every program loads, with health on (value
 * TCPS_SLOT_SIZE_FULL) and off (a map of TCPS_SLOT_SIZE_SLIM made here,
 * as the daemon makes it); the syscall programs' INSERT and TAKE; a
 * handshake through the data path lands in the array with the gauges
 * exact; a full table fails open (TABLE_FULL); the collector reclaims
 * without moving anything, and with moves (tcps_coll_moves) the data
 * path follows a moved tuple; expiry's scan and hold and top's views read
 * the array. Root (BPF).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "check.h"
#include "tcpscope.h"
#include "tcps_slots.h"
#include "tcps_expire.h"
#include "tcps_views.h"
#include "pktbuild.h"
#include "tcpscope.skel.h"
#include "expire.skel.h"
#include "views.skel.h"

#define MAX_CONNS 64
#define SEED 0x5eed1234u

static struct {
	int health;
	__u32 n;
	int conns_fd;		/* the slim array made here (health off), else -1 */
	struct tcpscope_bpf *skel;
} T = { .conns_fd = -1 };

/* A slim slot array, as user/maps.c makes the hash maps': BTF of the
 * value's size with the bpf_spin_lock at c.lock. */
static int slim_array(__u32 n)
{
	LIBBPF_OPTS(bpf_map_create_opts, o);
	struct btf *b = btf__new_empty();
	int u32, lock, val, fd = -1;

	if (!b)
		return -1;
	u32 = btf__add_int(b, "unsigned int", 4, 0);
	lock = btf__add_struct(b, "bpf_spin_lock", 4);
	if (u32 > 0 && lock > 0 && !btf__add_field(b, "val", u32, 0, 0)) {
		val = btf__add_struct(b, "tcps_slot", TCPS_SLOT_SIZE_SLIM);
		if (val > 0 && !btf__add_field(b, "lock", lock, offsetof(struct tcps_slot, c.lock) * 8, 0) &&
		    !btf__load_into_kernel(b)) {
			o.btf_fd = btf__fd(b);
			o.btf_key_type_id = (__u32)u32;
			o.btf_value_type_id = (__u32)val;
			fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "tcps_conns", 4, TCPS_SLOT_SIZE_SLIM, n, &o);
		}
	}
	btf__free(b);
	return fd;
}

static void teardown(void)
{
	tcpscope_bpf__destroy(T.skel);
	T.skel = NULL;
	if (T.conns_fd >= 0)
		close(T.conns_fd);
	T.conns_fd = -1;
}

/* The data path's object, every program (replay's too), its table fresh. */
static int setup(int health)
{
	teardown();
	T.health = health;
	T.n = tcps_slots_for(MAX_CONNS);
	T.skel = tcpscope_bpf__open();
	if (!T.skel)
		return -1;
	T.skel->rodata->tcps_health = (__u8)health;
	T.skel->rodata->tcps_slots_n_cfg = T.n;
	T.skel->rodata->tcps_slots_seed_cfg = SEED;
	bpf_map__set_max_entries(T.skel->maps.tcps_conns, T.n);
	bpf_map__set_max_entries(T.skel->maps.tcps_halfopen, MAX_CONNS);
	bpf_program__set_autoload(T.skel->progs.tcps_xdp_replay, true);
	if (!health) {
		T.conns_fd = slim_array(T.n);
		if (T.conns_fd < 0 || bpf_map__reuse_fd(T.skel->maps.tcps_conns, T.conns_fd))
			return -1;
	}
	return tcpscope_bpf__load(T.skel);
}

static int conns_fd(void)
{
	return bpf_map__fd(T.skel->maps.tcps_conns);
}

static struct tcps_key key4(__u32 i)
{
	struct tcps_key k;

	memset(&k, 0, sizeof(k));
	k.family = TCPS_AF_INET;
	k.addr[0][0] = htonl(0xc6120001u);		/* 198.18.0.1 */
	k.addr[1][0] = htonl(0xc6130000u + i);	/* 198.19.x.y */
	k.port[0] = htons(80);
	k.port[1] = htons((__u16)(10000 + i));
	return k;
}

/* One tcps_sys call: its r->ret, or -1000 if the run failed. */
static int sys(__u32 op, const struct tcps_key *k, struct tcps_conn *c)
{
	LIBBPF_OPTS(bpf_test_run_opts, o);
	struct tcps_sys_req r;

	memset(&r, 0, sizeof(r));
	r.key = *k;
	r.op = op;
	if (c)
		r.conn = *c;
	o.ctx_in = &r;		/* a syscall program's context is written back to it */
	o.ctx_size_in = sizeof(r);
	if (bpf_prog_test_run_opts(bpf_program__fd(T.skel->progs.tcps_sys), &o) || o.retval)
		return -1000;
	if (c)
		*c = r.conn;
	return r.ret;
}

static __u32 slots_in(__u32 st)
{
	__u8 v[TCPS_SLOT_SIZE_FULL];
	struct tcps_slot_hdr h;
	__u32 i, c = 0;

	for (i = 0; i < T.n; i++)
		if (!bpf_map_lookup_elem(conns_fd(), &i, v)) {
			memcpy(&h, v, sizeof(h));
			c += (h.tag & TCPS_SLOT_STATE) == st;
		}
	return c;
}

static __u64 percpu_sum(int fd, __u32 idx, size_t vsize, size_t off)
{
	int ncpu = libbpf_num_possible_cpus(), i;
	__u8 buf[64 * 1024];
	__u64 s = 0, x;

	if (ncpu <= 0 || (size_t)ncpu * ((vsize + 7) & ~7ul) > sizeof(buf) ||
	    bpf_map_lookup_elem(fd, &idx, buf))
		return ~0ull;
	for (i = 0; i < ncpu; i++) {
		memcpy(&x, buf + (size_t)i * ((vsize + 7) & ~7ul) + off, sizeof(x));
		s += x;
	}
	return s;
}

static __u64 gauge(__u32 g)
{
	return percpu_sum(bpf_map__fd(T.skel->maps.tcps_trans), TCPS_GAUGE_BASE + g, 8, 0);
}

static __u64 counter(__u32 c)
{
	return percpu_sum(bpf_map__fd(T.skel->maps.tcps_stats), 0, TCPS_STATS_VALUE_SIZE, c * 8);
}

static int run_frame(int fd, const struct pkt_spec *s)
{
	LIBBPF_OPTS(bpf_test_run_opts, o);
	__u8 buf[256];

	o.data_in = buf;
	o.data_size_in = (__u32)pkt_build(s, buf, sizeof(buf));
	o.repeat = 1;
	if (!o.data_size_in || bpf_prog_test_run_opts(fd, &o))
		return -1000;
	return (int)o.retval;
}

/* Remote rport -> local :80: SYN in (XDP), SYN+ACK out (tc), ACK in, then
 * one data segment in. XDP's verdicts, PASS each, summed. */
static int handshake(int family, const char *remote, __u16 rport)
{
	int xdp = bpf_program__fd(T.skel->progs.tcps_xdp_ingress);
	int egr = bpf_program__fd(T.skel->progs.tcps_tc_egress);
	const char *local = family == 4 ? "198.18.0.1" : "2001:db8::1";
	struct pkt_spec in = family == 4 ? PKT_V4(remote, rport, local, 80) :
					  PKT_V6(remote, rport, local, 80);
	struct pkt_spec out = family == 4 ? PKT_V4(local, 80, remote, rport) :
					   PKT_V6(local, 80, remote, rport);
	int v = 0;

	in.flags = TCPS_SYN, in.seq = 1000;
	v += run_frame(xdp, &in);
	out.flags = TCPS_SYN | TCPS_ACK, out.seq = 5000, out.ack = 1001;
	v += run_frame(egr, &out) == -1 ? 100 : 0;	/* TC_ACT_UNSPEC */
	in.flags = TCPS_ACK, in.seq = 1001, in.ack = 5001;
	v += run_frame(xdp, &in);
	in.payload_len = 100;
	v += run_frame(xdp, &in);
	return v;
}

static struct tcps_key key_of(int family, const char *remote, __u16 rport)
{
	struct tcps_key k;

	memset(&k, 0, sizeof(k));
	k.family = family == 4 ? TCPS_AF_INET : TCPS_AF_INET6;
	if (family == 4) {
		inet_pton(AF_INET, "198.18.0.1", &k.addr[0][0]);
		inet_pton(AF_INET, remote, &k.addr[1][0]);
	} else {
		inet_pton(AF_INET6, "2001:db8::1", k.addr[0]);
		inet_pton(AF_INET6, remote, k.addr[1]);
	}
	k.port[0] = htons(80);		/* the lower (address, port) first: the local end */
	k.port[1] = htons(rport);
	return k;
}

TEST(test_sys_insert_take)
{
	struct tcps_key k = key4(1);
	struct tcps_conn c, out;

	memset(&c, 0, sizeof(c));
	c.fsm.ep[0].state = c.fsm.ep[1].state = TCPS_ESTABLISHED;
	c.ifindex = 7;
	c.pkts[0] = 11;
	c.bytes[1] = 12345;
	c.first_seen = 98;
	c.last_seen = 99;
	c.last_tick = 97;
	c.h.srtt_us[0] = 777;
	out = c;
	CHECK_EQ(sys(TCPS_SYS_INSERT, &k, &out), 0);
	CHECK_EQ(sys(TCPS_SYS_INSERT, &k, &out), -EEXIST);
	CHECK_EQ(slots_in(TCPS_SLOT_FULL), 1);
	memset(&out, 0xff, sizeof(out));
	CHECK_EQ(sys(TCPS_SYS_TAKE, &k, &out), 0);
	CHECK_EQ(out.fsm.ep[1].state, TCPS_ESTABLISHED);
	CHECK_EQ(out.first_seen, T.health ? 98 : 0);	/* slim: no start time */
	CHECK_EQ(out.last_tick, 97);
	CHECK_EQ(out.last_seen, T.health ? 99 : 0);	/* slim: ticks only */
	/* Slim (health off): states only, the rest zeroed. */
	CHECK_EQ(out.ifindex, T.health ? 7 : 0);
	CHECK_EQ(out.pkts[0], T.health ? 11 : 0);
	CHECK_EQ(out.bytes[1], T.health ? 12345 : 0);
	CHECK_EQ(out.h.srtt_us[0], T.health ? 777 : 0);
	CHECK_EQ(sys(TCPS_SYS_TAKE, &k, &out), -ENOENT);
	CHECK_EQ(slots_in(TCPS_SLOT_FULL), 0);
	CHECK_EQ(slots_in(TCPS_SLOT_TOMB), 1);
	CHECK_EQ(sys(99, &k, &out), -EINVAL);
}

/* A handshake promoted into the array; the gauges and counters exact; the
 * hot path finds the entry (its packets counted); IPv6 alike. */
TEST(test_data_path_handshake_lands_in_array)
{
	struct tcps_key k4 = key_of(4, "198.18.0.2", 40000), k6 = key_of(6, "2001:db8::2", 40001);
	__u64 conns0 = gauge(TCPS_G_CONNS), ho0 = gauge(TCPS_G_HALFOPEN);
	__u64 est0 = gauge(TCPS_G_STATE + TCPS_ESTABLISHED), prom0 = counter(TCPS_CNT_PROMOTED);
	struct tcps_conn c;

	CHECK_EQ(handshake(4, "198.18.0.2", 40000), 3 * XDP_PASS + 100);
	CHECK_EQ(handshake(6, "2001:db8::2", 40001), 3 * XDP_PASS + 100);
	CHECK_EQ(gauge(TCPS_G_CONNS) - conns0, 2);
	CHECK_EQ(gauge(TCPS_G_HALFOPEN) - ho0, 0);
	CHECK_EQ(gauge(TCPS_G_STATE + TCPS_ESTABLISHED) - est0, 2);
	CHECK_EQ(counter(TCPS_CNT_PROMOTED) - prom0, 2);
	CHECK_EQ(counter(TCPS_CNT_TABLE_FULL), 0);
	CHECK_EQ(slots_in(TCPS_SLOT_FULL), 2);
	CHECK_EQ(sys(TCPS_SYS_TAKE, &k4, &c), 0);
	CHECK_EQ(c.fsm.ep[0].state, TCPS_ESTABLISHED);
	CHECK_EQ(c.fsm.ep[1].state, TCPS_ESTABLISHED);
	/* SYN, SYN+ACK, ACK, data (hot path); slim: no counters */
	CHECK_EQ(c.pkts[0] + c.pkts[1], T.health ? 4 : 0);
	CHECK_EQ(c.bytes[1], T.health ? 100 : 0);
	CHECK(c.last_tick > 0 && (T.health ? c.last_seen >= c.first_seen && c.first_seen > 0 &&
					      tcps_tick(c.last_seen) == c.last_tick :
				       c.first_seen == 0 && c.last_seen == 0));
	CHECK_EQ(sys(TCPS_SYS_TAKE, &k6, &c), 0);
	CHECK_EQ(c.pkts[0] + c.pkts[1], T.health ? 4 : 0);
}

/* A full table (its slots not EMPTY at the cap, 7/8 of them: the
 * connections it was sized for): the syscall refuses with -E2BIG, the
 * data path's promotion fails open (TABLE_FULL counted, the packet
 * passes, the entry stays half-open); EMPTY slots remain. */
TEST(test_full_table_fails_open)
{
	__u32 i, in = 0, cap = tcps_slots_cap_of(T.n);
	__u64 full0 = counter(TCPS_CNT_TABLE_FULL), used0 = T.skel->bss->tcps_slots_used_n;
	struct tcps_conn c;
	struct tcps_key k;

	CHECK_EQ(used0, slots_in(TCPS_SLOT_FULL) + slots_in(TCPS_SLOT_TOMB));
	CHECK(cap >= MAX_CONNS);
	memset(&c, 0, sizeof(c));
	for (i = 0; i < T.n + 4; i++) {
		k = key4(100 + i);
		in += sys(TCPS_SYS_INSERT, &k, &c) == 0;
	}
	CHECK(in >= cap - used0);	/* the EMPTY slots up to the cap, tombstones */
	CHECK_EQ(T.skel->bss->tcps_slots_used_n, cap);
	CHECK_EQ(slots_in(TCPS_SLOT_EMPTY), T.n - cap);
	k = key4(100 + T.n + 4);
	CHECK_EQ(sys(TCPS_SYS_INSERT, &k, &c), -E2BIG);
	CHECK_EQ(handshake(4, "198.18.0.3", 40002), 3 * XDP_PASS + 100);
	CHECK(counter(TCPS_CNT_TABLE_FULL) > full0);
	CHECK_EQ(gauge(TCPS_G_HALFOPEN), 1);
	for (i = 0; i < T.n + 4; i++) {
		k = key4(100 + i);
		in -= sys(TCPS_SYS_TAKE, &k, &c) == 0;
	}
	CHECK_EQ(in, 0);
}

static int collect(__u64 *reclaimed, __u64 *moved)
{
	LIBBPF_OPTS(bpf_test_run_opts, o);
	struct tcps_slots_coll c;

	if (bpf_prog_test_run_opts(bpf_program__fd(T.skel->progs.tcps_sys_collect), &o))
		return -1;
	memcpy(&c, T.skel->bss->tcps_coll, sizeof(c));
	*reclaimed = c.reclaimed;
	*moved = c.moved;
	return (int)o.retval;
}

static void epoch_add(__u32 d)
{
	struct tcps_info info;
	__u32 zero = 0;
	int fd = bpf_map__fd(T.skel->maps.tcps_info);

	CHECK(!bpf_map_lookup_elem(fd, &zero, &info));
	info.slots_epoch += d;
	CHECK(!bpf_map_update_elem(fd, &zero, &info, 0));
}

/* Tombstones three epochs old go EMPTY unless a chain crosses them; no
 * tuple moves; every live one is still found. */
TEST(test_collector_reclaims_without_moves)
{
	__u64 rec, mv, rec_all = 0;
	struct tcps_conn c;
	struct tcps_key k;
	__u32 i, tombs;

	memset(&c, 0, sizeof(c));
	for (i = 0; i < 40; i++) {
		k = key4(1000 + i);
		CHECK_EQ(sys(TCPS_SYS_INSERT, &k, &c), 0);
	}
	for (i = 0; i < 40; i += 2) {
		k = key4(1000 + i);
		CHECK_EQ(sys(TCPS_SYS_TAKE, &k, &c), 0);
	}
	tombs = slots_in(TCPS_SLOT_TOMB);
	CHECK(tombs >= 20);
	CHECK_EQ(collect(&rec, &mv), 0);
	CHECK_EQ(rec, 0);	/* too young */
	CHECK_EQ(mv, 0);
	epoch_add(3);
	CHECK_EQ(collect(&rec, &mv), 0);
	rec_all += rec;
	CHECK(rec > 0);
	CHECK_EQ(mv, 0);
	CHECK_EQ(slots_in(TCPS_SLOT_TOMB), tombs - rec_all);
	CHECK_EQ(slots_in(TCPS_SLOT_FULL), 20);
	for (i = 1; i < 40; i += 2) {
		k = key4(1000 + i);
		CHECK_EQ(sys(TCPS_SYS_TAKE, &k, &c), 0);
	}
	epoch_add(3);
	CHECK_EQ(collect(&rec, &mv), 0);
	CHECK_EQ(slots_in(TCPS_SLOT_TOMB), 0);	/* nothing left to cross them */
	CHECK_EQ(slots_in(TCPS_SLOT_FULL), 0);
}

/* The slot index of k, -1 if no FULL slot holds it. */
static long slot_of(const struct tcps_key *k)
{
	__u8 v[TCPS_SLOT_SIZE_FULL];
	struct tcps_slot_hdr h;
	struct tcps_key sk;
	__u32 i;

	for (i = 0; i < T.n; i++) {
		if (bpf_map_lookup_elem(conns_fd(), &i, v))
			return -1;
		memcpy(&h, v, sizeof(h));
		if ((h.tag & TCPS_SLOT_STATE) != TCPS_SLOT_FULL)
			continue;
		tcps_slot_key(&h, h.tag, &sk);
		if (!memcmp(&sk, k, sizeof(sk)))
			return i;
	}
	return -1;
}

/* With moves (tcps_coll_moves): a tuple of the data path moves back over a
 * tombstone in its chain, payload and all, and the next segment's locked
 * step finds and steps the moved copy. */
TEST(test_collector_moves_and_the_data_path_follows)
{
	struct tcps_key k = key_of(4, "198.18.0.9", 40009), x;
	__u32 home = tcps_slots_home(tcps_slots_hash(&k, SEED), T.n), i;
	int xdp = bpf_program__fd(T.skel->progs.tcps_xdp_ingress);
	struct pkt_spec fin = PKT_V4("198.18.0.9", 40009, "198.18.0.1", 80);
	__u64 rec, mv, conns0;
	long before, after;
	struct tcps_conn c;

	for (i = 0; i < 1000000; i++) {
		x = key4(3000 + i);
		if (tcps_slots_home(tcps_slots_hash(&x, SEED), T.n) == home)
			break;
	}
	memset(&c, 0, sizeof(c));
	CHECK_EQ(sys(TCPS_SYS_INSERT, &x, &c), 0);	/* first in the chain */
	CHECK_EQ(handshake(4, "198.18.0.9", 40009), 3 * XDP_PASS + 100);
	conns0 = gauge(TCPS_G_CONNS);
	before = slot_of(&k);
	CHECK(before >= 0);
	CHECK_EQ(sys(TCPS_SYS_TAKE, &x, &c), 0);	/* a tombstone before it */
	T.skel->bss->tcps_coll_moves = 1;
	epoch_add(3);
	CHECK_EQ(collect(&rec, &mv), 0);
	T.skel->bss->tcps_coll_moves = 0;
	CHECK(mv >= 1);
	after = slot_of(&k);
	CHECK(after >= 0 && after != before);
	CHECK_EQ(gauge(TCPS_G_CONNS), conns0);		/* a move is no insert */
	fin.flags = TCPS_FIN | TCPS_ACK, fin.seq = 1101, fin.ack = 5001;
	CHECK_EQ(run_frame(xdp, &fin), XDP_PASS);
	CHECK_EQ(slot_of(&k), after);
	CHECK_EQ(sys(TCPS_SYS_TAKE, &k, &c), 0);
	CHECK_EQ(c.fsm.ep[1].state, TCPS_FIN_WAIT1);	/* the remote, side 1, closed */
	CHECK_EQ(c.pkts[0] + c.pkts[1], T.health ? 5 : 0);	/* 4 before the move, the FIN after */
	CHECK_EQ(c.bytes[1], T.health ? 100 : 0);
}

/* ---- the data path's locked steps while the collector moves tuples ---- */
#define RACE_LIVES 16		/* tuples a round takes through a whole life */
#define RACE_OTHERS 12		/* tuples the other thread inserts and deletes */
#define RACE_ROUNDS 12		/* at least; then until RACE_PASSES passes or ~10 s */
#define RACE_PASSES 40

/* One connection's life, remote 198.18.1.x:port -> 198.18.0.1:80 (host
 * mode: remote in by XDP, local out by tc): handshake, data, the remote's
 * FIN first. 0 if every run passed the packet. */
static int life(__u32 x, __u16 port)
{
	static const struct { __u8 out, flags; __u32 seq, ack, len; } fr[] = {
		{ 0, TCPS_SYN, 1000, 0, 0 }, { 1, TCPS_SYN | TCPS_ACK, 5000, 1001, 0 },
		{ 0, TCPS_ACK, 1001, 5001, 0 }, { 0, TCPS_ACK, 1001, 5001, 100 },
		{ 0, TCPS_FIN | TCPS_ACK, 1101, 5001, 0 }, { 1, TCPS_ACK, 5001, 1102, 0 },
		{ 1, TCPS_FIN | TCPS_ACK, 5001, 1102, 0 }, { 0, TCPS_ACK, 1102, 5002, 0 },
	};
	int xdp = bpf_program__fd(T.skel->progs.tcps_xdp_ingress);
	int egr = bpf_program__fd(T.skel->progs.tcps_tc_egress);
	char remote[32];
	__u32 i;
	int bad = 0;

	snprintf(remote, sizeof(remote), "198.18.1.%u", x);
	for (i = 0; i < sizeof(fr) / sizeof(fr[0]); i++) {
		struct pkt_spec sp = fr[i].out ? PKT_V4("198.18.0.1", 80, remote, port) :
						 PKT_V4(remote, port, "198.18.0.1", 80);

		sp.flags = fr[i].flags, sp.seq = fr[i].seq, sp.ack = fr[i].ack;
		sp.payload_len = fr[i].len;
		bad += run_frame(fr[i].out ? egr : xdp, &sp) != (fr[i].out ? -1 : XDP_PASS);
	}
	return bad;
}

static volatile int race_done;
static volatile __u64 race_passes, race_moved;

static void grace_epoch(void)
{
	syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0);
	epoch_add(1);
}

/* The other CPU: inserts and deletes its own tuples (tombstones in the
 * chains) and runs collector passes with moves, three grace periods
 * apart, until the lives are done. */
static void *race_other(void *arg)
{
	struct tcps_conn c;
	struct tcps_key k;
	__u64 rec, mv;
	__u32 i, r = 0;

	(void)arg;
	memset(&c, 0, sizeof(c));
	while (!race_done) {
		for (i = 0; i < RACE_OTHERS; i++) {
			k = key4(5000 + i);
			if ((i + r) % 2)
				sys(TCPS_SYS_TAKE, &k, &c);
			else
				sys(TCPS_SYS_INSERT, &k, &c);
		}
		grace_epoch();
		grace_epoch();
		grace_epoch();
		if (!collect(&rec, &mv)) {
			race_passes++;
			race_moved += mv;
		}
		r++;
	}
	return NULL;
}

/* Every state change runs under the slot's lock after a lock-free find:
 * with the collector moving tuples meanwhile, the locked step checks that
 * its slot is still the tuple's and finds the moved copy if not. Every
 * life ends in the same states as one run alone, each tuple in one slot,
 * the gauge exact. */
TEST(test_lives_while_the_collector_moves)
{
	struct tcps_conn ref, c;
	struct tcps_key k;
	__u64 conns0 = gauge(TCPS_G_CONNS), full0 = counter(TCPS_CNT_TABLE_FULL);
	__u32 r, i, lives = 0;
	pthread_t th;
	__u64 p;
	time_t t0;
	long at;

	CHECK_EQ(life(250, 9999), 0);		/* the reference, alone */
	k = key_of(4, "198.18.1.250", 9999);
	CHECK_EQ(sys(TCPS_SYS_TAKE, &k, &ref), 0);
	race_done = 0;
	T.skel->bss->tcps_coll_moves = 1;
	CHECK(!pthread_create(&th, NULL, race_other, NULL));
	t0 = time(NULL);
	for (r = 0; r < 30000 && (r < RACE_ROUNDS || race_passes < RACE_PASSES) &&
		    time(NULL) - t0 < 10; r++) {
		/* A round per collector pass at most: the table (its cap
		 * counts tombstones) gets its room back in between. */
		for (p = race_passes; p == race_passes && time(NULL) - t0 < 10;)
			usleep(100);
		for (i = 0; i < RACE_LIVES; i++)
			CHECK_EQ(life(i + 1, (__u16)(20000 + r)), 0);
		for (i = 0; i < RACE_LIVES; i++, lives++) {
			char remote[32];

			snprintf(remote, sizeof(remote), "198.18.1.%u", i + 1);
			k = key_of(4, remote, (__u16)(20000 + r));
			at = slot_of(&k);
			CHECK(at >= 0);
			CHECK_EQ(sys(TCPS_SYS_TAKE, &k, &c), 0);
			CHECK_EQ(slot_of(&k), -1);	/* it was in one slot only */
			CHECK_EQ(c.fsm.ep[0].state, ref.fsm.ep[0].state);
			CHECK_EQ(c.fsm.ep[1].state, ref.fsm.ep[1].state);
		}
	}
	race_done = 1;
	pthread_join(th, NULL);
	T.skel->bss->tcps_coll_moves = 0;
	printf("# %u lives, %llu collector passes moved %llu tuples\n", lives,
	       (unsigned long long)race_passes, (unsigned long long)race_moved);
	CHECK(race_passes > 0 && race_moved > 0);
	CHECK_EQ(gauge(TCPS_G_CONNS) - conns0, lives + 1);	/* promotions; TAKE is userspace's */
	CHECK_EQ(counter(TCPS_CNT_TABLE_FULL), full0);
	for (i = 0; i < RACE_OTHERS; i++) {
		k = key4(5000 + i);
		sys(TCPS_SYS_TAKE, &k, &c);
	}
}

/* The readers' objects on the live array: expiry's scan sees the FULL
 * slots and holds by key, the views count them, the iterator too. */
static int run_syscall(int fd)
{
	LIBBPF_OPTS(bpf_test_run_opts, o);

	return bpf_prog_test_run_opts(fd, &o) ? -1 : (int)o.retval;
}

static void check_expire(void)
{
	struct expire_bpf *e = expire_bpf__open();
	struct tcps_key k = key4(2000), gone = key4(2999);

	CHECK(e);
	if (!e)
		return;
	e->rodata->tcps_slots_n_cfg = T.n;
	e->rodata->tcps_slots_seed_cfg = SEED;
	CHECK(!bpf_map__reuse_fd(e->maps.tcps_conns, conns_fd()));
	CHECK(!bpf_map__reuse_fd(e->maps.tcps_halfopen, bpf_map__fd(T.skel->maps.tcps_halfopen)));
	CHECK(!expire_bpf__load(e));
	e->bss->hold_key = k;
	CHECK_EQ(run_syscall(bpf_program__fd(e->progs.tcps_expire_hold)), 1);
	e->bss->hold_key = gone;
	CHECK_EQ(run_syscall(bpf_program__fd(e->progs.tcps_expire_hold)), 0);
	e->bss->scan.to.state_s[TCPS_ESTABLISHED] = 1;
	e->bss->scan.now = 10ull * 1000000000ull;	/* last_tick 1 s: expired (2 s with the hold) */
	CHECK_EQ(run_syscall(bpf_program__fd(e->progs.tcps_expire_scan)), 0);
	CHECK_EQ(e->bss->scan.seen[0], 3);
	CHECK_EQ(e->bss->scan.found[0], 3);
	CHECK(!memcmp(&e->bss->expired[0][0], &k, sizeof(k)) ||
	      !memcmp(&e->bss->expired[0][1], &k, sizeof(k)) ||
	      !memcmp(&e->bss->expired[0][2], &k, sizeof(k)));
	expire_bpf__destroy(e);
}

static void check_views(void)
{
	struct views_bpf *v = views_bpf__open();

	CHECK(v);
	if (!v)
		return;
	v->rodata->tcps_views_health = (__u8)T.health;
	v->rodata->tcps_slots_n_cfg = T.n;
	v->rodata->tcps_slots_seed_cfg = SEED;
	CHECK(!bpf_map__reuse_fd(v->maps.tcps_conns, conns_fd()));
	CHECK(!bpf_map__reuse_fd(v->maps.tcps_halfopen, bpf_map__fd(T.skel->maps.tcps_halfopen)));
	CHECK(!views_bpf__load(v));
	CHECK_EQ(run_syscall(bpf_program__fd(v->progs.tcps_views_walk)), 0);
	CHECK_EQ(v->bss->views.entries, 3);
	CHECK_EQ(v->bss->views.halfopen, 0);
	CHECK_EQ(v->bss->views.counts[TCPS_ESTABLISHED], 3);
	views_bpf__destroy(v);
}

TEST(test_readers_on_the_array)
{
	struct tcps_conn c;
	struct tcps_key k;
	__u32 i;

	memset(&c, 0, sizeof(c));
	c.fsm.ep[0].state = c.fsm.ep[1].state = TCPS_ESTABLISHED;
	c.last_tick = tcps_tick(1000000000ull);
	for (i = 0; i < 3; i++) {
		k = key4(2000 + i);
		CHECK_EQ(sys(TCPS_SYS_INSERT, &k, &c), 0);
	}
	k = key4(2001);		/* a tombstone and an EMPTY slot are no entries */
	CHECK_EQ(sys(TCPS_SYS_TAKE, &k, &c), 0);
	k = key4(2003);
	CHECK_EQ(sys(TCPS_SYS_INSERT, &k, &c), 0);
	check_expire();
	check_views();
	/* (The stat iterator, tcps_count_slots, is not checked here: iter
	 * programs, main's too, do not load on the test kernel: EPERM.) */
}

static void suite(int health)
{
	int err = setup(health);

	printf("# health %s: %u slots for %u connections\n", health ? "on" : "off", T.n, MAX_CONNS);
	if (err) {
		printf("not ok test_setup_health_%d: the objects do not load (%d)\n", health, err);
		check_failed_tests++;
		return;
	}
	RUN(test_sys_insert_take);
	RUN(test_data_path_handshake_lands_in_array);
	RUN(test_collector_reclaims_without_moves);
	RUN(test_readers_on_the_array);
	RUN(test_collector_moves_and_the_data_path_follows);
	RUN(test_lives_while_the_collector_moves);
	RUN(test_full_table_fails_open);	/* last: leaves no EMPTY slot */
}

int main(void)
{
	suite(1);
	suite(0);
	teardown();
	return check_done();
}
