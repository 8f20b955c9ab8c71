// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * user/ctable.c against real maps: a slot array (include/tcps_slots.h) of
 * struct tcps_slot made here (tcps_slot_map_create, as the daemon makes
 * it with health off) and filled from userspace with the header's layout
 * (FULL tags at the tuples' homes or down their probe chains, tombstones,
 * wrap-around at the end), then read back through ctable's lookup, find,
 * walk, count and is_empty. Writes by key (take, insert_new) go through
 * the data path's syscall program tcps_sys: the last tests load the real
 * object (build/tcpscope.bpf.o, its packet programs left out), write
 * through it, find with ctable's native probe what it placed (the same
 * hash, home and tag on both sides), and run the tombstone collector's
 * pass (user/slotcfg.c) over what they deleted. Needs root (CAP_BPF).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "check.h"
#include "ctable.h"
#include "maps.h"
#include "slotcfg.h"
#include "tcpscope.skel.h"

#define SEED 0x5eed1234u

/* A slot array and its shadow (what was written, by index). */
struct arr {
	struct tcps_ctable t;
	struct tcps_slot *shadow;
};

static int quiet(enum libbpf_print_level l, const char *f, va_list a)
{
	(void)l;
	(void)f;
	(void)a;
	return 0;
}

static bool arr_open(struct arr *a, __u32 nslots, __u32 vsize)
{
	int fd = tcps_slot_map_create("test_slots", tcps_ctable_slot_size(vsize), nslots);

	a->t = tcps_ctable_slots(fd, vsize, SEED, nslots, -1, -1);
	a->shadow = calloc(nslots, sizeof(*a->shadow));
	return fd >= 0 && a->shadow;
}

static void arr_close(struct arr *a)
{
	if (a->t.fd >= 0)
		close(a->t.fd);
	free(a->shadow);
}

static struct tcps_key key4(__u32 a, __u32 b, __u16 pa, __u16 pb)
{
	struct tcps_key k;

	memset(&k, 0, sizeof(k));
	k.family = TCPS_AF_INET;
	k.addr[0][0] = htonl(a);
	k.addr[1][0] = htonl(b);
	k.port[0] = htons(pa);
	k.port[1] = htons(pb);
	return k;
}

static struct tcps_key key6(__u32 lo, __u16 pa, __u16 pb)
{
	struct tcps_key k;

	memset(&k, 0, sizeof(k));
	k.family = TCPS_AF_INET6;
	k.addr[0][0] = htonl(0x20010db8);
	k.addr[0][3] = htonl(lo);
	k.addr[1][0] = htonl(0x20010db8);
	k.addr[1][1] = htonl(1);
	k.addr[1][3] = htonl(lo + 1);
	k.port[0] = htons(pa);
	k.port[1] = htons(pb);
	return k;
}

static __u32 home_of(const struct arr *a, const struct tcps_key *k)
{
	return tcps_slots_home(tcps_slots_hash(k, SEED), a->t.nslots);
}

/* Slot i: tag, k's tuple, a value marked with `mark` (last_tick: health off keeps it). */
static bool put_at(struct arr *a, __u32 i, __u32 tag, const struct tcps_key *k, __u64 mark)
{
	struct tcps_slot *s = &a->shadow[i];

	memset(s, 0, sizeof(*s));
	s->h.tag = tag;
	memcpy(s->h.addr, k->addr, sizeof(s->h.addr));
	memcpy(&s->h.ports, k->port, sizeof(s->h.ports));
	s->c.last_tick = mark;
	s->c.fsm.ep[0].state = TCPS_ESTABLISHED;
	s->c.h.trans_ns[0] = 77;	/* past the slim value: never read back */
	return !bpf_map_update_elem(a->t.fd, &i, s, BPF_ANY);
}

static __u32 want_of(const struct tcps_key *k)
{
	return tcps_slots_want(tcps_slots_hash(k, SEED), k->family);
}

/* k inserted as the algorithm would: the first free slot from its home.
 * Its index, or UINT32_MAX. */
static __u32 put(struct arr *a, const struct tcps_key *k, __u64 mark)
{
	__u32 i = home_of(a, k), n;

	for (n = 0; n < a->t.nslots; n++, i = i + 1 < a->t.nslots ? i + 1 : 0)
		if ((a->shadow[i].h.tag & TCPS_SLOT_STATE) != TCPS_SLOT_FULL)
			return put_at(a, i, want_of(k), k, mark) ? i : UINT32_MAX;
	return UINT32_MAX;
}

/* k's mark through a lookup (locked or not), -errno if not found. */
static long long mark_of(const struct arr *a, const struct tcps_key *k, bool locked)
{
	struct tcps_conn c;
	int err = tcps_ctable_lookup(&a->t, k, &c, locked);

	return err ? err : (long long)c.last_tick;
}

TEST(test_lookup_finds_tuple_at_its_home_slot)
{
	struct arr a;
	struct tcps_key k = key4(0xc6120001, 0xc6120002, 40000, 80);

	CHECK(arr_open(&a, 1000, TCPS_CONN_SIZE_FULL));
	CHECK_EQ(put(&a, &k, 11), home_of(&a, &k));
	CHECK_EQ(mark_of(&a, &k, false), 11);
	CHECK_EQ(mark_of(&a, &k, true), 11);
	arr_close(&a);
}

/* A table of 1000 slots whose slot at k's home holds another tuple, o;
 * k's home, room slots before the end. */
static __u32 home_taken(struct arr *a, const struct tcps_key *k, const struct tcps_key *o,
			__u32 room)
{
	__u32 h;

	CHECK(arr_open(a, 1000, TCPS_CONN_SIZE_FULL));
	h = home_of(a, k);
	CHECK(h + room < 1000);
	CHECK(put_at(a, h, want_of(o), o, 1));
	return h;
}

TEST(test_lookup_walks_chain_past_full_slots_and_tombstones)
{
	struct arr a;
	struct tcps_key k = key4(0xc6120001, 0xc6120002, 40001, 80), o = key4(1, 2, 3, 4);
	__u32 h = home_taken(&a, &k, &o, 4);

	CHECK(put_at(&a, h + 1, tcps_slots_tomb(7), &k, 2));	/* k deleted once */
	CHECK(put_at(&a, h + 2, TCPS_SLOT_TOMB, &o, 3));
	CHECK(put_at(&a, h + 3, want_of(&k) | TCPS_SLOT_ILOCK, &k, 4));	/* ILOCK: still k */
	CHECK_EQ(mark_of(&a, &k, false), 4);
	CHECK_EQ(mark_of(&a, &k, true), 4);
	arr_close(&a);
}

TEST(test_lookup_stops_at_the_first_empty_slot)
{
	struct arr a;
	struct tcps_key k = key4(0xc6120003, 0xc6120004, 40002, 443), o = key4(5, 6, 7, 8);
	__u32 h = home_taken(&a, &k, &o, 3);

	/* h + 1 EMPTY: a tuple past it is not on k's chain */
	CHECK(put_at(&a, h + 2, want_of(&k), &k, 2));
	CHECK_EQ(mark_of(&a, &k, false), -ENOENT);
	CHECK_EQ(mark_of(&a, &k, true), -ENOENT);
	arr_close(&a);
}

TEST(test_lookup_wraps_round_the_end_of_the_array)
{
	struct arr a;
	struct tcps_key k, o = key4(9, 9, 9, 9);
	__u32 port, i, n = 200;

	CHECK(arr_open(&a, n, TCPS_CONN_SIZE_FULL));
	for (port = 1; port < 60000; port++) {	/* a tuple whose home is the last slot */
		k = key4(0xc6120005, 0xc6120006, (__u16)port, 22);
		if (home_of(&a, &k) == n - 1)
			break;
	}
	CHECK_EQ(home_of(&a, &k), n - 1);
	/* the last slot and the first 20 taken: k lands at 20 (a chunk's
	 * read ends at the array's end, the next starts at 0) */
	CHECK(put_at(&a, n - 1, want_of(&o), &o, 1));
	for (i = 0; i < 20; i++)
		CHECK(put_at(&a, i, want_of(&o), &o, 1));
	CHECK_EQ(put(&a, &k, 5), 20);
	CHECK_EQ(mark_of(&a, &k, false), 5);
	CHECK_EQ(mark_of(&a, &k, true), 5);
	arr_close(&a);
}

TEST(test_lookup_walks_long_chains_in_several_reads)
{
	struct arr a;
	struct tcps_key k[300];
	__u32 i;
	bool all = true;

	/* 300 tuples in 320 slots: chains far longer than one read of 16 */
	CHECK(arr_open(&a, 320, TCPS_CONN_SIZE_FULL));
	for (i = 0; i < 300; i++) {
		k[i] = key4(0xc6120000 + i, 0xc6130000, (__u16)(1000 + i), 80);
		all &= put(&a, &k[i], 100 + i) != UINT32_MAX;
	}
	CHECK(all);
	for (i = 0; i < 300; i++)
		all &= mark_of(&a, &k[i], i & 1) == 100 + i;
	CHECK(all);
	arr_close(&a);
}

TEST(test_ipv6_tuple_found_and_ipv4_tag_never_matches_it)
{
	struct arr a;
	struct tcps_key k = key6(7, 50000, 443), k4 = k;
	struct tcps_conn c;
	bool ho = true;
	struct tcps_ctable tab[2];
	__u32 at;

	CHECK(arr_open(&a, 1000, TCPS_CONN_SIZE_FULL));
	at = put(&a, &k, 66);
	CHECK(at != UINT32_MAX);
	CHECK(a.shadow[at].h.tag & TCPS_SLOT_V6);
	CHECK_EQ(mark_of(&a, &k, false), 66);
	k4.family = TCPS_AF_INET;	/* same words, other family */
	CHECK_EQ(mark_of(&a, &k4, false), -ENOENT);
	tab[0] = a.t;
	tab[1] = tcps_ctable_hash(-1, TCPS_CONN_SIZE_FULL, true);
	CHECK_EQ(tcps_ctable_find(tab, &k, &c, true, &ho), 0);
	CHECK(!ho);
	CHECK_EQ(c.last_tick, 66);
	arr_close(&a);
}

TEST(test_same_tuple_under_another_fingerprint_is_not_it)
{
	struct arr a;
	struct tcps_key k = key4(0xc6120007, 0xc6120008, 40003, 80);

	CHECK(arr_open(&a, 1000, TCPS_CONN_SIZE_FULL));
	CHECK(put_at(&a, home_of(&a, &k), want_of(&k) ^ 0x10, &k, 1));
	CHECK_EQ(mark_of(&a, &k, false), -ENOENT);
	arr_close(&a);
}

TEST(test_slim_slots_leave_health_zero)
{
	struct arr a;
	struct tcps_key k = key4(0xc6120009, 0xc612000a, 40004, 80);
	struct tcps_ctable_walk w;
	struct tcps_conn c;

	CHECK(arr_open(&a, 100, TCPS_CONN_SIZE_SLIM));
	CHECK(put(&a, &k, 9) != UINT32_MAX);
	CHECK_EQ(tcps_ctable_lookup(&a.t, &k, &c, true), 0);
	CHECK_EQ(c.last_tick, 9);
	CHECK_EQ(c.fsm.ep[0].state, TCPS_ESTABLISHED);
	CHECK_EQ(c.h.trans_ns[0], 0);
	CHECK_EQ(tcps_ctable_walk_open(&w, true), 0);
	tcps_ctable_walk_start(&w, &a.t);
	CHECK_EQ(tcps_ctable_walk_next(&w), 1);
	tcps_ctable_walk_val(&w, 0, &c);
	CHECK_EQ(c.last_tick, 9);
	CHECK_EQ(c.h.trans_ns[0], 0);
	tcps_ctable_walk_close(&w);
	arr_close(&a);
}

/* Walk all of t: entries and the sum of their marks; -errno on error. */
static long long walk_all(const struct tcps_ctable *t, bool locked, __u64 *sum, int *batches)
{
	struct tcps_ctable_walk w;
	struct tcps_conn c;
	long long n = 0;
	int got, i;

	*sum = 0;
	*batches = 0;
	if (tcps_ctable_walk_open(&w, locked))
		return -ENOMEM;
	tcps_ctable_walk_start(&w, t);
	while (!w.end) {
		got = tcps_ctable_walk_next(&w);
		if (got < 0) {
			n = got;
			break;
		}
		for (i = 0; i < got; i++) {
			tcps_ctable_walk_val(&w, (__u32)i, &c);
			*sum += c.last_tick;
			/* the key was rebuilt from the slot: it finds it */
			if (mark_of(&(struct arr){ .t = *t }, &w.keys[i], false) != (long long)c.last_tick)
				*sum += 1000000;
		}
		n += got;
		(*batches)++;
	}
	tcps_ctable_walk_close(&w);
	return n;
}

TEST(test_walk_yields_only_full_slots_with_their_keys)
{
	struct arr a;
	struct tcps_key k;
	__u64 sum, want = 0;
	__u32 i, n = 3 * TCPS_CTABLE_BATCH + 100;
	int batches;
	bool all = true;

	CHECK(arr_open(&a, n, TCPS_CONN_SIZE_FULL));
	for (i = 0; i < 2000; i++) {
		k = (i & 3) ? key4(0xc6120000 + i, 0xc6140001, (__u16)(2000 + i), 443) :
			      key6(i, (__u16)(2000 + i), 443);
		all &= put(&a, &k, i + 1) != UINT32_MAX;
		want += i + 1;
	}
	/* a tombstone, a BUSY slot and a slot torn by a reuse (the tag of
	 * one tuple, the key of another): none is an entry */
	k = key4(1, 1, 1, 1);
	for (i = 0; i + 3 <= n && (a.shadow[i].h.tag | a.shadow[i + 1].h.tag |
				    a.shadow[i + 2].h.tag) != TCPS_SLOT_EMPTY; i++)
		;
	all &= i + 3 <= n && put_at(&a, i, tcps_slots_tomb(3), &k, 500000) &&
	       put_at(&a, i + 1, TCPS_SLOT_BUSY, &k, 500000) &&
	       put_at(&a, i + 2, want_of(&k) ^ 0x100, &k, 500000);
	CHECK(all);
	CHECK_EQ(walk_all(&a.t, false, &sum, &batches), 2000);
	CHECK_EQ(sum, want);
	CHECK_EQ(batches, 4);
	CHECK_EQ(walk_all(&a.t, true, &sum, &batches), 2000);
	CHECK_EQ(sum, want);
	CHECK_EQ(tcps_ctable_count(&a.t), 2000);
	arr_close(&a);
}

/* The gauges' map (tcps_trans) with TCPS_G_CONNS of the data path's
 * group at dp and of userspace's at us (CPU 0 each). */
static int gauges_make(__s64 dp, __s64 us)
{
	int fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "test_trans", sizeof(__u32),
				sizeof(__u64), TCPS_TRANS_MAP_ENTRIES, NULL);
	int ncpu = libbpf_num_possible_cpus();
	__u64 *v = calloc((size_t)(ncpu > 0 ? ncpu : 1), sizeof(*v));
	__u32 k[2] = { TCPS_GAUGE_BASE + TCPS_G_CONNS, TCPS_GAUGE_USER + TCPS_G_CONNS };

	if (fd >= 0 && v) {
		v[0] = (__u64)dp;
		bpf_map_update_elem(fd, &k[0], v, BPF_ANY);
		v[0] = (__u64)us;
		bpf_map_update_elem(fd, &k[1], v, BPF_ANY);
	}
	free(v);
	return fd;
}

TEST(test_is_empty_answers_from_the_gauges)
{
	struct arr a;
	int g;

	CHECK(arr_open(&a, 100, TCPS_CONN_SIZE_FULL));
	CHECK(!tcps_ctable_is_empty(&a.t));	/* no gauges: not known, so not empty */
	g = gauges_make(5, -5);	/* 5 made by the data path, 5 deleted by userspace */
	a.t.gauge_fd = g;
	CHECK(g >= 0);
	CHECK(tcps_ctable_is_empty(&a.t));
	close(g);
	g = gauges_make(5, -4);
	a.t.gauge_fd = g;
	CHECK(!tcps_ctable_is_empty(&a.t));
	close(g);
	g = a.t.fd;
	a.t.fd = -1;
	CHECK(tcps_ctable_is_empty(&a.t));	/* no table */
	a.t.fd = g;
	arr_close(&a);
}

TEST(test_writes_by_key_need_the_syscall_program)
{
	struct arr a;
	struct tcps_key k = key4(0xc612000b, 0xc612000c, 40005, 80);
	struct tcps_conn c;

	memset(&c, 0, sizeof(c));
	CHECK(arr_open(&a, 100, TCPS_CONN_SIZE_FULL));
	CHECK(put(&a, &k, 3) != UINT32_MAX);
	CHECK_EQ(tcps_ctable_take(&a.t, &k, &c), -ENOTSUP);
	CHECK_EQ(tcps_ctable_insert_new(&a.t, &k, &c), -ENOTSUP);
	CHECK_EQ(mark_of(&a, &k, true), 3);	/* still there */
	arr_close(&a);
}

TEST(test_clear_without_program_empties_every_slot)
{
	struct arr a;
	struct tcps_key k;
	__u32 i;

	CHECK(arr_open(&a, 500, TCPS_CONN_SIZE_SLIM));
	for (i = 0; i < 100; i++) {
		k = key4(0xc6150000 + i, 0xc6150001, 80, (__u16)(3000 + i));
		CHECK(put(&a, &k, 1) != UINT32_MAX);
	}
	CHECK_EQ(tcps_ctable_count(&a.t), 100);
	CHECK_EQ(tcps_ctable_clear(&a.t), 0);
	CHECK_EQ(tcps_ctable_count(&a.t), 0);
	CHECK_EQ(mark_of(&a, &k, false), -ENOENT);
	arr_close(&a);
}

TEST(test_hash_table_count_clear_and_find_fallback)
{
	struct tcps_ctable tab[2];
	struct tcps_key k = key4(0xc6160001, 0xc6160002, 40006, 80);
	struct tcps_conn c;
	bool ho = false;
	struct arr a;
	int fd = tcps_conn_map_create("test_half", TCPS_CONN_SIZE_FULL, 64, 0);

	CHECK(fd >= 0);
	CHECK(arr_open(&a, 100, TCPS_CONN_SIZE_FULL));
	tab[0] = a.t;
	tab[1] = tcps_ctable_hash(fd, TCPS_CONN_SIZE_FULL, true);
	memset(&c, 0, sizeof(c));
	c.last_tick = 8;
	CHECK(tcps_ctable_is_empty(&tab[1]));
	CHECK_EQ(tcps_ctable_insert_new(&tab[1], &k, &c), 0);
	CHECK_EQ(tcps_ctable_insert_new(&tab[1], &k, &c), -EEXIST);
	CHECK(!tcps_ctable_is_empty(&tab[1]));
	CHECK_EQ(tcps_ctable_find(tab, &k, &c, true, &ho), 0);
	CHECK(ho);
	CHECK_EQ(c.last_tick, 8);
	CHECK_EQ(tcps_ctable_count(&tab[1]), 1);
	CHECK_EQ(tcps_ctable_clear(&tab[1]), 0);
	CHECK_EQ(tcps_ctable_count(&tab[1]), 0);
	CHECK_EQ(tcps_ctable_find(tab, &k, &c, false, NULL), -ENOENT);
	close(fd);
	arr_close(&a);
}

/* ---- writes through the data path's object ---- */

/* The object with only its syscall programs, the table of max_conns
 * connections as the daemon sizes it (slim: created here, as run.c does). */
struct obj {
	struct tcpscope_bpf *skel;
	struct tcps_ctable t;
	int collect_fd;
};

static bool obj_open(struct obj *o, __u32 max_conns, bool slim)
{
	static const char *const packet_progs[] = { "tcps_xdp_ingress", "tcps_tc_ingress",
						   "tcps_tc_egress", "tcps_xdp_replay" };
	__u32 n = tcps_slots_for(max_conns), vsize = slim ? TCPS_CONN_SIZE_SLIM : TCPS_CONN_SIZE_FULL;
	struct bpf_program *p;
	unsigned int i;
	int fd, err;

	memset(o, 0, sizeof(*o));
	o->skel = tcpscope_bpf__open();
	if (!o->skel)
		return false;
	for (i = 0; i < sizeof(packet_progs) / sizeof(packet_progs[0]); i++)
		if ((p = bpf_object__find_program_by_name(o->skel->obj, packet_progs[i])))
			bpf_program__set_autoload(p, false);
	o->skel->rodata->tcps_health = !slim;
	bpf_map__set_max_entries(o->skel->maps.tcps_conns, n);
	err = tcps_slots_rodata(o->skel->obj, SEED, n);
	if (!err && slim) {
		fd = tcps_slot_map_create("tcps_conns", TCPS_SLOT_SIZE_SLIM, n);
		err = fd < 0 ? fd : bpf_map__reuse_fd(o->skel->maps.tcps_conns, fd);
		if (fd >= 0)
			close(fd);
	}
	err = err ?: tcpscope_bpf__load(o->skel);
	if (err)
		return false;
	o->collect_fd = tcps_slots_prog_fd(o->skel->obj, "tcps_sys_collect");
	o->t = tcps_ctable_slots(bpf_map__fd(o->skel->maps.tcps_conns), vsize, SEED, n,
				 tcps_slots_prog_fd(o->skel->obj, "tcps_sys"), -1);
	return o->t.sys_fd >= 0 && o->collect_fd >= 0;
}

static void obj_close(struct obj *o)
{
	tcpscope_bpf__destroy(o->skel);
}

/* Slots of t in state st, read raw. */
static long slots_in(const struct tcps_ctable *t, __u32 st)
{
	struct tcps_slot s;
	long n = 0;
	__u32 i;

	for (i = 0; i < t->nslots; i++) {
		if (bpf_map_lookup_elem(t->fd, &i, &s))
			return -errno;
		n += (s.h.tag & TCPS_SLOT_STATE) == st;
	}
	return n;
}

static struct tcps_key key_n(__u32 i)
{
	return (i & 1) ? key6(i, (__u16)(10000 + i), 443) :
			 key4(0xc6120000 + i, 0xc6130001, (__u16)(10000 + i), 80);
}

/* n tuples inserted through tcps_sys, each marked i + 1, h.trans_ns[0] 7. */
static bool insert_n(const struct tcps_ctable *t, __u32 n)
{
	struct tcps_conn c;
	struct tcps_key k;
	bool all = true;
	__u32 i;

	for (i = 0; i < n; i++) {
		memset(&c, 0, sizeof(c));
		c.last_tick = i + 1;
		c.fsm.ep[0].state = TCPS_ESTABLISHED;
		c.h.trans_ns[0] = 7;
		k = key_n(i);
		all &= !tcps_ctable_insert_new(t, &k, &c);
	}
	return all;
}

TEST(test_sys_inserts_are_found_by_the_native_probe)
{
	struct tcps_key k = key_n(3);
	struct tcps_conn c;
	struct obj o;
	bool all = true;
	__u32 i;

	if (!obj_open(&o, 1000, false)) {
		CHECK_FAIL_("cannot load the data path's syscall programs");
		obj_close(&o);
		return;
	}
	CHECK(insert_n(&o.t, 1000));	/* load 7/8: long chains */
	CHECK_EQ(tcps_ctable_insert_new(&o.t, &k, &c), -EEXIST);
	for (i = 0; i < 1000; i++) {
		k = key_n(i);
		all &= mark_of(&(struct arr){ .t = o.t }, &k, i & 1) == i + 1;
	}
	CHECK(all);
	CHECK_EQ(tcps_ctable_lookup(&o.t, &k, &c, true), 0);
	CHECK_EQ(c.h.trans_ns[0], 7);	/* health on: the whole entry */
	CHECK_EQ(tcps_ctable_count(&o.t), 1000);
	obj_close(&o);
}

TEST(test_sys_take_returns_the_entry_and_collector_reclaims)
{
	struct arr a;
	struct tcps_key k;
	struct tcps_conn c;
	struct obj o;
	long tombs, tombs_after;
	__u64 ns;
	bool all = true;
	__u32 i;
	int pass, info;

	if (!obj_open(&o, 2000, true)) {
		CHECK_FAIL_("cannot load the data path's syscall programs");
		obj_close(&o);
		return;
	}
	a.t = o.t;
	CHECK(insert_n(&o.t, 1800));
	for (i = 0; i < 1800; i += 2) {	/* every IPv4 one */
		k = key_n(i);
		memset(&c, 0xff, sizeof(c));
		all &= !tcps_ctable_take(&o.t, &k, &c) && c.last_tick == i + 1 &&
		       c.h.trans_ns[0] == 0;	/* slim: no health */
	}
	CHECK(all);
	k = key_n(0);
	CHECK_EQ(tcps_ctable_take(&o.t, &k, &c), -ENOENT);
	tombs = slots_in(&o.t, TCPS_SLOT_TOMB);
	CHECK_EQ(tombs, 900);
	info = bpf_map__fd(o.skel->maps.tcps_info);
	for (pass = 0; pass < 2; pass++)	/* the second reclaims what the first crossed */
		CHECK(tcps_slots_collect(o.collect_fd, tcps_slots_info_epoch, &info, &ns) >= 0);
	tombs_after = slots_in(&o.t, TCPS_SLOT_TOMB);
	CHECK(tombs_after < tombs / 2);
	printf("# collector: %ld tombstones -> %ld, last pass %.2f ms of CPU (%u slots)\n", tombs,
	       tombs_after, (double)ns / 1e6, o.t.nslots);
	for (i = 0; i < 1800; i++) {
		k = key_n(i);
		all &= mark_of(&a, &k, true) == ((i & 1) ? (long long)i + 1 : -ENOENT);
	}
	CHECK(all);
	CHECK_EQ(tcps_ctable_count(&o.t), 900);
	CHECK_EQ(tcps_ctable_clear(&o.t), 0);	/* through tcps_sys */
	CHECK_EQ(tcps_ctable_count(&o.t), 0);
	obj_close(&o);
}

int main(void)
{
	libbpf_set_print(quiet);
	if (geteuid() != 0) {
		printf("skip test_ctable: needs root for BPF maps\n");
		return 0;
	}
	RUN(test_lookup_finds_tuple_at_its_home_slot);
	RUN(test_lookup_walks_chain_past_full_slots_and_tombstones);
	RUN(test_lookup_stops_at_the_first_empty_slot);
	RUN(test_lookup_wraps_round_the_end_of_the_array);
	RUN(test_lookup_walks_long_chains_in_several_reads);
	RUN(test_ipv6_tuple_found_and_ipv4_tag_never_matches_it);
	RUN(test_same_tuple_under_another_fingerprint_is_not_it);
	RUN(test_slim_slots_leave_health_zero);
	RUN(test_walk_yields_only_full_slots_with_their_keys);
	RUN(test_is_empty_answers_from_the_gauges);
	RUN(test_writes_by_key_need_the_syscall_program);
	RUN(test_clear_without_program_empties_every_slot);
	RUN(test_hash_table_count_clear_and_find_fallback);
	RUN(test_sys_inserts_are_found_by_the_native_probe);
	RUN(test_sys_take_returns_the_entry_and_collector_reclaims);
	return check_done();
}
