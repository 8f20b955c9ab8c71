// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Per-packet cost with BPF_PROG_TEST_RUN: tcpscope's programs against the
 * floors of bench/floor.bpf.c, timed in one process, cases interleaved
 * round by round so that noise on a shared machine hits them all alike.
 *
 *   pktcost [-r REPEAT] [-k ROUNDS] [-n DISTINCT] [-H] [-x NAME=OBJECT]...
 *
 * Prints one JSON object on stdout: for each case the program, the frame,
 * the baseline case it is compared with, and one ns/packet sample per
 * round. Statistics are bench/report.py's job.
 *
 * Two ways of timing, named in the output:
 *   "repeat"   one run of REPEAT back-to-back executions of one frame;
 *              right for cases whose every execution takes the same path
 *              (the ESTABLISHED hot path, a non-TCP frame, a SYN or FIN
 *              retransmitted to an entry that already has it). Timed by
 *              this thread's CPU clock (CLOCK_THREAD_CPUTIME_ID) around
 *              the one syscall, divided by REPEAT: the resolution is
 *              1 ns / REPEAT (a millionth of a ns at 1M), preemption by
 *              other tasks is left out, and the syscall's own entry and
 *              frame setup (~1 us per call) add ~0.001 ns per packet.
 *              The kernel's opts.duration (whole ns, rounded down) is
 *              printed beside it as "kns" for comparison.
 *   "distinct" DISTINCT frames of DISTINCT new tuples, each run once
 *              (repeat = 1) and the durations averaged; for SYNs that
 *              really create an entry and FINs that really move two
 *              endpoints (plus ring-buffer events). The kernel's timer is
 *              read around each single run, so the baselines of these
 *              cases are floors timed the same way.
 *              The life_* cases are one new connection's whole life
 *              (SYN ... last ACK, the 7 frames of bench/ringload.c: 10
 *              endpoint transitions) per tuple, each frame run once in
 *              order, remote frames through XDP ingress and local ones
 *              through tc egress (host mode, as deployed); one case per
 *              frame, the ring buffer consumed as the daemon would.
 *
 * -x NAME=OBJECT loads another build of the data path (a variant of
 * bpf/tcpscope.bpf.c with one piece taken out, say) next to the real one
 * and times its hot path in the same rounds: cases established_ack@NAME,
 * established_ack_ipv6@NAME and non_tcp@NAME. That is how bench/NOTES.md's "where the
 * time goes" tables are measured.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "tcpscope.h"
#include "tcps_slots.h"
#include "ctable.h"
#include "slotcfg.h"
#include "parse.h"
#include "pktbuild.h"
#include "tcpscope.skel.h"
#include "floor.skel.h"

#define MAX_CASES 64
#define MAX_ROUNDS 64
#define MAX_VARIANTS 12

/* The command line. */
struct settings {
	int repeat, rounds, distinct;
	int no_health;		/* -H: the object loaded as `run --no-health` */
	char *xspec[MAX_VARIANTS];	/* -x NAME=OBJECT */
	int nx;
};
static struct settings set = { .repeat = 1000000, .rounds = 7, .distinct = 10000 };
static struct tcpscope_bpf *ts;
static struct floor_bpf *fl;
static struct ring_buffer *rb;

/* One loaded build of the data path: the real one (the skeleton) or a
 * variant object (-x). */
struct target {
	const char *name;
	struct bpf_object *obj;	/* variants only */
	int xdp, egr;
	__u32 slots_n, slots_seed;	/* tcps_conns a slot array (include/tcps_slots.h): its size, seed */
	struct tcps_ctable conns;	/* its tcps_conns */
};
/* The real object's connection capacity (tcps_slots_for: its slots). */
#define PKTCOST_CONNS (1u << 20)
static struct target main_t;
static struct target variants[MAX_VARIANTS];
static int nvariants;	/* loaded, or being loaded */
static __u32 flow_seq;	/* makes every distinct tuple new */

struct frame {
	__u8 buf[PKT_MAX];
	__u32 len;
};

struct bcase {
	const char *name, *prog, *frame, *base, *method, *what;
	int fd;
	struct frame *f;
	/* "distinct": builds frame i (and any untimed setup), returns 0 */
	int (*prep)(struct bcase *c, int i, struct frame *out);
	double ns[MAX_ROUNDS];
	double kns[MAX_ROUNDS];	/* opts.duration (whole ns) */
	int life;		/* life_* cases: 1 + the frame's index */
	int life_reuse;		/* ... on a tuple held in TIME_WAIT */
};

static struct bcase cases[MAX_CASES];
static int ncases;

static int on_event(void *ctx, void *data, size_t size)
{
	(void)ctx;
	(void)data;
	(void)size;
	return 0;
}

static double thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* ns: the kernel's opts.duration; cpu (may be NULL): this thread's CPU
 * time of the whole call per execution, in fractional ns. */
static int run_timed(int fd, const struct frame *f, int rep, __u32 *ns, double *cpu)
{
	double c0, c1;
	int err;

	*ns = 0;
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f->buf, .data_size_in = f->len,
		    .repeat = rep);
	c0 = thread_cpu_ns();
	err = bpf_prog_test_run_opts(fd, &o);
	c1 = thread_cpu_ns();
	if (err)
		return -errno;
	*ns = o.duration;
	if (cpu)
		*cpu = (c1 - c0) / rep;
	return 0;
}

static int run_once(int fd, const struct frame *f, int rep, __u32 *ns)
{
	return run_timed(fd, f, rep, ns, NULL);
}

static size_t build(struct frame *f, int family, int vlans, const char *src, __u16 sport,
		    const char *dst, __u16 dport, __u8 flags, __u32 seq, __u32 ack, __u32 plen)
{
	struct pkt_spec s = family == 6 ? PKT_V6(src, sport, dst, dport) : PKT_V4(src, sport, dst, dport);

	s.flags = flags;
	s.seq = seq;
	s.ack = ack;
	s.payload_len = plen;
	s.vlans = vlans;
	if (flags & TCPS_SYN) {
		s.mss = 1460;
		s.wscale = 7;
	}
	f->len = (__u32)pkt_build(&s, f->buf, sizeof(f->buf));
	return f->len;
}

/* A handshake through the real programs: remote SYN in (XDP), local
 * SYN+ACK out (tc egress), remote ACK in (XDP). Host mode, as deployed. */
static int handshake_on(const struct target *t, int family, int vlans, const char *local,
			const char *remote, __u16 rport)
{
	int xdp = t->xdp, egr = t->egr;
	struct frame f;
	__u32 ns;
	int err;

	build(&f, family, vlans, remote, rport, local, 80, TCPS_SYN, 1000, 0, 0);
	err = run_once(xdp, &f, 1, &ns);
	build(&f, family, vlans, local, 80, remote, rport, TCPS_SYN | TCPS_ACK, 5000, 1001, 0);
	err = err ?: run_once(egr, &f, 1, &ns);
	build(&f, family, vlans, remote, rport, local, 80, TCPS_ACK, 1001, 5001, 0);
	err = err ?: run_once(xdp, &f, 1, &ns);
	return err;
}

static int handshake(int family, int vlans, const char *local, const char *remote, __u16 rport)
{
	return handshake_on(&main_t, family, vlans, local, remote, rport);
}

/* Canonical key, as bpf/tcpscope.bpf.c's tcps_make_key. */
static void canon_key(const struct frame *f, struct tcps_key *k)
{
	struct tcps_parsed p;
	int s = 0, i;

	memset(k, 0, sizeof(*k));
	memset(&p, 0, sizeof(p));
	tcps_parse(f->buf, f->buf + f->len, f->len, &p);
	for (i = 0; i < 4; i++)
		if (p.saddr[i] != p.daddr[i]) {
			s = ntohl(p.saddr[i]) > ntohl(p.daddr[i]);
			goto ordered;
		}
	s = p.seg.sport > p.seg.dport;
ordered:
	memcpy(k->addr[s], p.saddr, 16);
	memcpy(k->addr[!s], p.daddr, 16);
	k->port[s] = htons(p.seg.sport);
	k->port[!s] = htons(p.seg.dport);
	k->family = p.family;
}

/* Both endpoints of the frame's connection ESTABLISHED in tcps_conns?
 * A variant's value may be laid out otherwise after the FSM (no larger,
 * load_variant sees to that): only the FSM, where this build of
 * tcpscope.h has it, is read. */
static int established_on(const struct target *t, const struct frame *f)
{
	struct tcps_key k;
	struct tcps_conn c;

	canon_key(f, &k);
	if (tcps_ctable_lookup(&t->conns, &k, &c, false))
		return 0;
	return c.fsm.ep[0].state == TCPS_ESTABLISHED && c.fsm.ep[1].state == TCPS_ESTABLISHED;
}

static int established(const struct frame *f)
{
	return established_on(&main_t, f);
}

/* The floor's key for a frame: sender order, ports in host order (as
 * floor.bpf.c builds it), then into its map so the lookup hits. */
static int floor_add(const struct frame *f)
{
	struct tcps_parsed p;
	struct tcps_key k;
	__u64 v = 0;

	memset(&k, 0, sizeof(k));
	memset(&p, 0, sizeof(p));
	if (tcps_parse(f->buf, f->buf + f->len, f->len, &p) != TCPS_P_TCP)
		return -EINVAL;
	memcpy(k.addr[0], p.saddr, 16);
	memcpy(k.addr[1], p.daddr, 16);
	k.port[0] = p.seg.sport;
	k.port[1] = p.seg.dport;
	k.family = p.family;
	return bpf_map_update_elem(bpf_map__fd(fl->maps.floor_conns), &k, &v, BPF_ANY) ? -errno : 0;
}

static int prep_syn_new(struct bcase *c, int i, struct frame *out)
{
	char r[64];
	__u32 n = ++flow_seq;

	(void)c;
	(void)i;
	pkt_nth_addr(4, n, r, sizeof(r));
	build(out, 4, 0, r, (__u16)(20000 + n % 40000), "198.18.0.1", 80, TCPS_SYN, 1000, 0, 0);
	return 0;
}

static int prep_fin_new(struct bcase *c, int i, struct frame *out)
{
	char r[64];
	__u32 n = ++flow_seq;
	__u16 port = (__u16)(20000 + n % 40000);
	int err;

	(void)c;
	(void)i;
	pkt_nth_addr(4, n, r, sizeof(r));
	err = handshake(4, 0, "198.18.0.1", r, port);
	if (err)
		return err;
	build(out, 4, 0, r, port, "198.18.0.1", 80, TCPS_FIN | TCPS_ACK, 1001, 5001, 0);
	return 0;
}

/* One connection's life, as bench/ringload.c runs it: the remote client
 * opens, the client closes first. */
#define LIFE_FRAMES 7
static const struct {
	const char *name, *frame, *what;
	int local;		/* sent by the local server: tc egress */
	__u8 flags;
	__u32 seq, ack;
} life[LIFE_FRAMES] = {
	{ "life_syn", "ipv4 SYN in", "new connection: SYN creating a half-open entry (1 transition)",
	  0, TCPS_SYN, 1000, 0 },
	{ "life_synack", "ipv4 SYN+ACK out", "its SYN+ACK (1 transition)",
	  1, TCPS_SYN | TCPS_ACK, 5000, 1001 },
	{ "life_ack_handshake", "ipv4 ACK in",
	  "the ACK completing the handshake: promotion into the main table (insert) and "
	  "half-open delete (2 transitions)", 0, TCPS_ACK, 1001, 5001 },
	{ "life_fin1", "ipv4 FIN+ACK in", "the client's FIN (2 transitions)",
	  0, TCPS_FIN | TCPS_ACK, 1001, 5001 },
	{ "life_ack_fin1", "ipv4 ACK out", "the server's ACK of it (1 transition)",
	  1, TCPS_ACK, 5001, 1002 },
	{ "life_fin2", "ipv4 FIN+ACK out", "the server's FIN (2 transitions)",
	  1, TCPS_FIN | TCPS_ACK, 5001, 1002 },
	{ "life_ack_last", "ipv4 ACK in", "the last ACK (1 transition)",
	  0, TCPS_ACK, 1002, 5002 },
};

/* The same frames on a tuple that has just closed (TIME_WAIT), as most
 * connections of bench/run.sh's churn are. */
static const char *const reuse_what[LIFE_FRAMES] = {
	"SYN reopening a tuple held in TIME_WAIT (main table entry)",
	"its SYN+ACK", "the ACK completing the handshake (entry already in the main table)",
	"the client's FIN", "the server's ACK of it", "the server's FIN", "the last ACK",
};

static __u64 transitions(void)
{
	int ncpu = libbpf_num_possible_cpus(), c;
	__u64 *v = calloc((size_t)ncpu, TCPS_STATS_VALUE_SIZE);	/* per CPU */
	__u32 zero = 0;
	__u64 sum = 0;

	if (v && !bpf_map_lookup_elem(bpf_map__fd(ts->maps.tcps_stats), &zero, v))
		for (c = 0; c < ncpu; c++)
			sum += v[c * TCPS_STATS_WORDS + TCPS_CNT_TRANSITIONS];
	free(v);
	return sum;
}

/* One life of the tuple (remote r, port) through the programs of cases
 * c[0..LIFE_FRAMES), sequence numbers moved by off; each frame's kernel
 * ns added to sum[] (NULL: untimed). */
static int one_life(const struct bcase *c, const char *r, __u16 port, __u32 off, double *sum)
{
	struct frame f;
	int k, err;
	__u32 ns;

	for (k = 0; k < LIFE_FRAMES; k++) {
		__u32 seq = life[k].seq + off, ack = life[k].ack ? life[k].ack + off : 0;

		if (life[k].local)
			build(&f, 4, 0, "198.18.0.1", 80, r, port, life[k].flags, seq, ack, 0);
		else
			build(&f, 4, 0, r, port, "198.18.0.1", 80, life[k].flags, seq, ack, 0);
		err = run_once(c[k].fd, &f, 1, &ns);
		if (err)
			return err;
		if (sum)
			sum[k] += ns;
	}
	return 0;
}

/* DISTINCT lives; fills the round's figure of the LIFE_FRAMES cases from
 * c on. New tuples, or (c->life_reuse) tuples that have just lived one
 * untimed life and are held in TIME_WAIT, as a client's port that comes
 * back is: that life starts with later sequence numbers. The first timed
 * life of the round must make its 10 transitions (else the frames took
 * another path). */
static int run_life(struct bcase *c, int round)
{
	double sum[LIFE_FRAMES] = { 0 };
	__u64 t0 = 0, t1;
	int i, k, err;

	for (i = 0; i < set.distinct; i++) {
		__u32 n = ++flow_seq;
		__u16 port = (__u16)(20000 + n % 40000);
		char r[64];

		pkt_nth_addr(4, n, r, sizeof(r));
		if (c->life_reuse && (err = one_life(c, r, port, 0, NULL)))
			return err;
		if (!i)
			t0 = transitions();
		err = one_life(c, r, port, c->life_reuse ? 1000000 : 0, sum);
		if (err)
			return err;
		if (!i && (t1 = transitions() - t0) != 10) {
			fprintf(stderr, "pktcost: %s: a life made %llu transitions, not 10\n", c->name,
				(unsigned long long)t1);
			return -EPROTO;
		}
		if (i % 64 == 63)
			ring_buffer__consume(rb);
	}
	ring_buffer__consume(rb);
	for (k = 0; k < LIFE_FRAMES; k++)
		c[k].ns[round] = c[k].kns[round] = sum[k] / set.distinct;
	return 0;
}

static int prep_floor(struct bcase *c, int i, struct frame *out)
{
	(void)i;
	*out = *c->f;
	return 0;
}

static struct bcase *add(const char *name, const char *prog, int fd, struct frame *f,
			 const char *frame, const char *base, const char *what)
{
	struct bcase *c = &cases[ncases++];

	c->name = name;
	c->prog = prog;
	c->fd = fd;
	c->f = f;
	c->frame = frame;
	c->base = base;
	c->method = "repeat";
	c->what = what;
	return c;
}

static int run_case(struct bcase *c, int round)
{
	__u32 ns = 0;
	int err, i;

	if (c->life)
		return c->life == 1 ? run_life(c, round) : 0;	/* filled by the first */
	if (!c->prep) {
		err = run_timed(c->fd, c->f, set.repeat, &ns, &c->ns[round]);
		if (err)
			return err;
		c->kns[round] = ns;
		return 0;
	}
	{
		struct frame fr;
		double sum = 0;

		for (i = 0; i < set.distinct; i++) {
			err = c->prep(c, i, &fr);
			if (err)
				return err;
			err = run_once(c->fd, &fr, 1, &ns);
			if (err)
				return err;
			sum += ns;
			/* Keep the ring below tcpscope's wake-up mark, as a
			 * running daemon would: no forced wake-ups in the timing. */
			if (i % 512 == 511)
				ring_buffer__consume(rb);
		}
		ring_buffer__consume(rb);
		c->ns[round] = c->kns[round] = sum / set.distinct;
	}
	return 0;
}

/* A tcps_conns map's connection values: a slot's, less its header. */
static __u32 conns_vsize(const struct bpf_map *m)
{
	return bpf_map__value_size(m) -
	       (bpf_map__type(m) == BPF_MAP_TYPE_ARRAY ? sizeof(struct tcps_slot_hdr) : 0);
}

/* A loaded object's connection table: the one place that makes a struct
 * tcps_ctable (read only here: no syscall program, no gauges). */
static struct tcps_ctable conns_table(const struct target *t, const struct bpf_map *m)
{
	if (bpf_map__type(m) != BPF_MAP_TYPE_ARRAY)
		return tcps_ctable_hash(bpf_map__fd(m), conns_vsize(m), false);
	return tcps_ctable_slots(bpf_map__fd(m), conns_vsize(m), t->slots_seed, t->slots_n, -1, -1);
}

/*
 * Touch every page of a slot array once, as the daemon's first expiry
 * sweep does at start (user/gc.c, tcps_gc_start), so that no case times
 * a first touch: on a VM whose memory the host backs lazily, the first
 * access to each 4 KiB page of a new map took ~17 us against ~0.3 after
 * (bench/NOTES.md, "Cold pages"). 0, or -errno.
 */
static int warm_slots(const struct bpf_map *m, __u32 n)
{
	__u32 vsize = bpf_map__value_size(m), step = 4096 / vsize ? 4096 / vsize : 1, i;
	int fd = bpf_map__fd(m);
	void *v = malloc(vsize);

	if (!v)
		return -ENOMEM;
	for (i = 0; i < n; i += step)
		if (bpf_map_lookup_elem(fd, &i, v)) {
			free(v);
			return -errno;
		}
	free(v);
	return 0;
}

/* A variant's tcps_conns as the real one: a slot array sized and seeded
 * (rodata tcps_slots_n_cfg, tcps_slots_seed_cfg), or an older build's hash
 * map as it is. */
static int variant_slots(struct target *t, struct bpf_map *conns)
{
	if (bpf_map__type(conns) != BPF_MAP_TYPE_ARRAY)
		return 0;
	t->slots_n = main_t.slots_n;
	t->slots_seed = main_t.slots_seed;
	return bpf_map__set_max_entries(conns, t->slots_n) ?:
	       tcps_slots_rodata(t->obj, t->slots_seed, t->slots_n);
}

/* -x NAME=OBJECT: open, configure as the real object, load. */
static int load_variant(struct target *t, char *spec)
{
	char *eq = strchr(spec, '=');
	struct bpf_program *px, *pe;
	struct bpf_map *conns;
	int err;

	if (!eq || eq == spec || !eq[1]) {
		fprintf(stderr, "pktcost: -x wants NAME=OBJECT, not '%s'\n", spec);
		return -EINVAL;
	}
	*eq = 0;
	t->name = spec;
	t->obj = bpf_object__open_file(eq + 1, NULL);
	if (!t->obj) {
		fprintf(stderr, "pktcost: open %s: %s\n", eq + 1, strerror(errno));
		return -errno;
	}
	conns = bpf_object__find_map_by_name(t->obj, "tcps_conns");
	px = bpf_object__find_program_by_name(t->obj, "tcps_xdp_ingress");
	pe = bpf_object__find_program_by_name(t->obj, "tcps_tc_egress");
	if (!conns || !px || !pe || tcps_rodata_set(t->obj, "tcps_health", &(__u8){ !set.no_health }, 1) ||
	    variant_slots(t, conns)) {
		fprintf(stderr, "pktcost: %s is not a tcpscope data path object\n", eq + 1);
		return -EINVAL;
	}
	if (conns_vsize(conns) > sizeof(struct tcps_conn)) {
		fprintf(stderr, "pktcost: %s: its connection values (%u bytes) are larger than this "
			"build's (%zu)\n", eq + 1, conns_vsize(conns), sizeof(struct tcps_conn));
		return -EINVAL;
	}
	err = bpf_object__load(t->obj);
	if (err) {
		fprintf(stderr, "pktcost: load %s: %s\n", eq + 1, strerror(-err));
		return err;
	}
	t->xdp = bpf_program__fd(px);
	t->egr = bpf_program__fd(pe);
	t->conns = conns_table(t, conns);
	return bpf_map__type(conns) == BPF_MAP_TYPE_ARRAY ? warm_slots(conns, t->slots_n) : 0;
}

/* The variant's entry for frame f: a handshake through the variant
 * itself (the real object's table is a slot array: its entries are not
 * copied into a variant's). */
static int variant_setup(const struct target *t, int family, const char *local,
			 const char *remote, __u16 rport)
{
	return handshake_on(t, family, 0, local, remote, rport);
}

static void usage(void)
{
	fprintf(stderr, "usage: pktcost [-r REPEAT] [-k ROUNDS] [-n DISTINCT] [-H (health off)] "
		"[-x NAME=OBJECT]...\n");
}

/* -1: go on; else the exit code. */
static int parse_args(int argc, char **argv, struct settings *s)
{
	int opt;

	while ((opt = getopt(argc, argv, "r:k:n:Hx:h")) != -1) {
		switch (opt) {
		case 'x':
			if (s->nx == MAX_VARIANTS) {
				fprintf(stderr, "pktcost: at most %d -x\n", MAX_VARIANTS);
				return 2;
			}
			s->xspec[s->nx++] = optarg;
			break;
		case 'H':
			s->no_health = 1;
			break;
		case 'r':
			s->repeat = atoi(optarg);
			break;
		case 'k':
			s->rounds = atoi(optarg);
			break;
		case 'n':
			s->distinct = atoi(optarg);
			break;
		default:
			usage();
			return opt == 'h' ? 0 : 2;
		}
	}
	if (s->repeat < 1 || s->rounds < 1 || s->rounds > MAX_ROUNDS || s->distinct < 1) {
		usage();
		return 2;
	}
	return -1;
}

/* The real object (its tables sized for every round's tuples), the
 * floors, the ring buffer, the -x variants. 0, or the exit code. */
static int load(void)
{
	int err, i;

	ts = tcpscope_bpf__open();
	if (!ts) {
		fprintf(stderr, "pktcost: open tcpscope: %s\n", strerror(errno));
		return 1;
	}
	/* Room for every distinct tuple of every round: tcps_conns a slot
	 * array for PKTCOST_CONNS (as the daemon sizes it), seeded. */
	main_t.slots_n = tcps_slots_for(PKTCOST_CONNS);
	main_t.slots_seed = (__u32)random() ^ (__u32)getpid();
	bpf_map__set_max_entries(ts->maps.tcps_conns, main_t.slots_n);
	bpf_map__set_max_entries(ts->maps.tcps_halfopen, 1 << 20);
	ts->rodata->tcps_slots_n_cfg = main_t.slots_n;
	ts->rodata->tcps_slots_seed_cfg = main_t.slots_seed;
	ts->rodata->tcps_health = !set.no_health;
	err = tcpscope_bpf__load(ts);
	fl = floor_bpf__open_and_load();
	if (err || !fl) {
		fprintf(stderr, "pktcost: load: %s\n", strerror(errno));
		return 1;
	}
	rb = ring_buffer__new(bpf_map__fd(ts->maps.tcps_events), on_event, NULL, NULL);
	if (!rb) {
		fprintf(stderr, "pktcost: ring buffer: %s\n", strerror(errno));
		return 1;
	}
	main_t.xdp = bpf_program__fd(ts->progs.tcps_xdp_ingress);
	main_t.egr = bpf_program__fd(ts->progs.tcps_tc_egress);
	main_t.conns = conns_table(&main_t, ts->maps.tcps_conns);
	err = warm_slots(ts->maps.tcps_conns, main_t.slots_n);
	if (err) {
		fprintf(stderr, "pktcost: warming tcps_conns: %s\n", strerror(-err));
		return 1;
	}
	for (i = 0; i < set.nx; i++) {
		nvariants = i + 1;	/* cleanup() closes this one even if it fails */
		if (load_variant(&variants[i], set.xspec[i]))
			return 1;
	}
	return 0;
}

/* The repeat cases' frames: remote 198.18.0.2 / 2001:db8::2 -> local :80. */
static struct frame udp4, ack4, ack6, ackvlan, syn4, fin4, syn_new_f;

static void build_frames(void)
{
	build(&ack4, 4, 0, "198.18.0.2", 40000, "198.18.0.1", 80, TCPS_ACK | TCPS_PSH, 1001, 5001, 1000);
	build(&ack6, 6, 0, "2001:db8::2", 40001, "2001:db8::1", 80, TCPS_ACK | TCPS_PSH, 1001, 5001, 1000);
	build(&ackvlan, 4, 1, "198.18.0.3", 40002, "198.18.0.1", 80, TCPS_ACK | TCPS_PSH, 1001, 5001, 1000);
	build(&syn4, 4, 0, "198.18.0.4", 40003, "198.18.0.1", 80, TCPS_SYN, 1000, 0, 0);
	build(&fin4, 4, 0, "198.18.0.5", 40004, "198.18.0.1", 80, TCPS_FIN | TCPS_ACK, 1001, 5001, 0);
	build(&syn_new_f, 4, 0, "198.19.0.1", 40005, "198.18.0.1", 80, TCPS_SYN, 1000, 0, 0);
	/* Non-TCP: the same IPv4 frame with protocol UDP (checksums are not
	 * the parser's business). */
	udp4 = ack4;
	udp4.buf[14 + 9] = 17;
}

/* Each frame's state as its case wants it: the ESTABLISHED entries, the
 * half-open SYN, the FIN already seen once, the floor map's entries.
 * 0, or the exit code. */
static int prime_frames(void)
{
	int xdp = main_t.xdp, err;
	__u32 ns;

	err = handshake(4, 0, "198.18.0.1", "198.18.0.2", 40000);
	err = err ?: handshake(6, 0, "2001:db8::1", "2001:db8::2", 40001);
	err = err ?: handshake(4, 1, "198.18.0.1", "198.18.0.3", 40002);
	err = err ?: handshake(4, 0, "198.18.0.1", "198.18.0.5", 40004);
	err = err ?: run_once(xdp, &syn4, 1, &ns);	/* the half-open entry */
	if (err || !established(&ack4) || !established(&ack6) || !established(&ackvlan)) {
		fprintf(stderr, "pktcost: setup handshakes failed (%s)\n", err ? strerror(-err) : "state");
		return 1;
	}
	/* The FIN case: the first run moves ESTABLISHED -> FIN_WAIT1 /
	 * CLOSE_WAIT, every repeat after is a retransmitted FIN. Do that first
	 * run now so every timed run takes the same path. */
	err = run_once(xdp, &fin4, 1, &ns);
	err = err ?: floor_add(&ack4) ?: floor_add(&ack6) ?: floor_add(&ackvlan) ?:
		floor_add(&syn4) ?: floor_add(&fin4) ?: floor_add(&syn_new_f);
	if (err) {
		fprintf(stderr, "pktcost: setup: %s\n", strerror(-err));
		return 1;
	}
	ring_buffer__consume(rb);
	return 0;
}

/* The call probes of bench/floor.bpf.c, each 16 calls of one kind against
 * the XDP_PASS floor (report.py pktcost_calls: what one call costs). */
static void add_call_cases(void)
{
	add("call_subprog_x16", "call_subprog", bpf_program__fd(fl->progs.call_subprog), &ack4,
	    "ipv4 ACK+data", "floor_xdp_pass", "16 calls of a BPF subprogram that does next to nothing");
	add("call_helper_x16", "call_helper", bpf_program__fd(fl->progs.call_helper), &ack4,
	    "ipv4 ACK+data", "floor_xdp_pass", "16 calls of a helper that does next to nothing "
	    "(bpf_get_numa_node_id)");
	add("call_clock_x16", "call_clock", bpf_program__fd(fl->progs.call_clock), &ack4,
	    "ipv4 ACK+data", "floor_xdp_pass", "16 reads of the precise clock (bpf_ktime_get_ns)");
	add("call_lock_x16", "call_lock", bpf_program__fd(fl->progs.call_lock), &ack4,
	    "ipv4 ACK+data", "floor_xdp_pass", "16 spin locks taken and dropped around an add "
	    "(bpf_spin_lock, bpf_spin_unlock)");
}

/* The "repeat" cases: one frame run REPEAT times. */
static void add_repeat_cases(void)
{
	int xdp = main_t.xdp, tc_in = bpf_program__fd(ts->progs.tcps_tc_ingress);
	int xdp_pass = bpf_program__fd(fl->progs.floor_xdp_pass);
	int xdp_lookup = bpf_program__fd(fl->progs.floor_xdp_lookup);

	add("floor_xdp_pass", "floor_xdp_pass", xdp_pass, &ack4, "ipv4 ACK+data", NULL,
	    "XDP program that only returns XDP_PASS");
	add("floor_xdp_lookup", "floor_xdp_lookup", xdp_lookup, &ack4, "ipv4 ACK+data", NULL,
	    "parse to TCP (bpf/parse.h) + one hash lookup (hit)");
	add("non_tcp", "tcps_xdp_ingress", xdp, &udp4, "ipv4 UDP", "floor_xdp_pass_udp",
	    "non-TCP IPv4 frame: parsed, counted, passed");
	add("floor_xdp_pass_udp", "floor_xdp_pass", xdp_pass, &udp4, "ipv4 UDP", NULL,
	    "XDP_PASS floor on the same UDP frame");
	add("established_ack", "tcps_xdp_ingress", xdp, &ack4, "ipv4 ACK+data", "floor_xdp_lookup",
	    "hot path: data/ACK of an ESTABLISHED connection (handshake made first)");
	add("established_ack_ipv6", "tcps_xdp_ingress", xdp, &ack6, "ipv6 ACK+data",
	    "floor_xdp_lookup_ipv6", "hot path over IPv6");
	add("floor_xdp_lookup_ipv6", "floor_xdp_lookup", xdp_lookup, &ack6, "ipv6 ACK+data", NULL,
	    "lookup floor on the IPv6 frame");
	add("established_ack_vlan", "tcps_xdp_ingress", xdp, &ackvlan, "ipv4+802.1Q ACK+data",
	    "floor_xdp_lookup_vlan", "hot path behind one VLAN tag");
	add("floor_xdp_lookup_vlan", "floor_xdp_lookup", xdp_lookup, &ackvlan, "ipv4+802.1Q ACK+data",
	    NULL, "lookup floor on the VLAN frame");
	add("syn_halfopen_retrans", "tcps_xdp_ingress", xdp, &syn4, "ipv4 SYN", "floor_xdp_lookup_syn",
	    "SYN of an existing half-open entry (retransmission: no new entry, no event)");
	add("floor_xdp_lookup_syn", "floor_xdp_lookup", xdp_lookup, &syn4, "ipv4 SYN", NULL,
	    "lookup floor on the SYN frame");
	add("fin_retrans", "tcps_xdp_ingress", xdp, &fin4, "ipv4 FIN+ACK", "floor_xdp_lookup_fin",
	    "FIN of a connection already in FIN_WAIT1/CLOSE_WAIT (retransmission: locked FSM step, no event)");
	add("floor_xdp_lookup_fin", "floor_xdp_lookup", xdp_lookup, &fin4, "ipv4 FIN+ACK", NULL,
	    "lookup floor on the FIN frame");
	add("tc_established_ack", "tcps_tc_ingress", tc_in, &ack4, "ipv4 ACK+data", "floor_tc_lookup",
	    "hot path on tc ingress");
	add("floor_tc_pass", "floor_tc_pass", bpf_program__fd(fl->progs.floor_tc_pass), &ack4,
	    "ipv4 ACK+data", NULL, "tc program that only returns TC_ACT_UNSPEC");
	add("floor_tc_lookup", "floor_tc_lookup", bpf_program__fd(fl->progs.floor_tc_lookup), &ack4,
	    "ipv4 ACK+data", NULL, "tc: parse to TCP + one hash lookup");
	add_call_cases();
}

/* The "distinct" cases: a new tuple per run, and the lives (new tuples,
 * then tuples in TIME_WAIT). 0, or the exit code. */
static int add_distinct_cases(void)
{
	int xdp = main_t.xdp, egr = main_t.egr, first = ncases, i, j;
	int xdp_lookup = bpf_program__fd(fl->progs.floor_xdp_lookup);
	int tc_lookup = bpf_program__fd(fl->progs.floor_tc_lookup);

	add("syn_new", "tcps_xdp_ingress", xdp, NULL, "ipv4 SYN, new tuple each", "floor_xdp_lookup_1x",
	    "SYN creating a half-open entry + one ring-buffer event")->prep = prep_syn_new;
	add("fin_new", "tcps_xdp_ingress", xdp, NULL, "ipv4 FIN+ACK, new connection each",
	    "floor_xdp_lookup_1x", "FIN moving an ESTABLISHED connection (2 transitions, 2 events)")
		->prep = prep_fin_new;
	add("floor_xdp_lookup_1x", "floor_xdp_lookup", xdp_lookup, &syn_new_f, "ipv4 SYN", NULL,
	    "lookup floor timed one run at a time")->prep = prep_floor;
	add("floor_xdp_pass_1x", "floor_xdp_pass", bpf_program__fd(fl->progs.floor_xdp_pass),
	    &syn_new_f, "ipv4 SYN", NULL, "XDP_PASS floor timed one run at a time")->prep = prep_floor;
	add("floor_tc_lookup_1x", "floor_tc_lookup", tc_lookup, &syn_new_f, "ipv4 SYN", NULL,
	    "tc lookup floor timed one run at a time")->prep = prep_floor;
	for (j = 0; j < 2; j++)
		for (i = 0; i < LIFE_FRAMES; i++) {
			struct bcase *c;
			char *n = malloc(64);

			if (!n)
				return 1;
			snprintf(n, 64, "%s%s", j ? "reuse_" : "", life[i].name);
			c = add(n, life[i].local ? "tcps_tc_egress" : "tcps_xdp_ingress",
				life[i].local ? egr : xdp, NULL, life[i].frame,
				life[i].local ? "floor_tc_lookup_1x" : "floor_xdp_lookup_1x",
				j ? reuse_what[i] : life[i].what);
			c->life = i + 1;
			c->life_reuse = j;
		}
	for (i = first; i < ncases; i++)
		cases[i].method = "distinct";
	return 0;
}

/* Each -x variant's hot path, on its own ESTABLISHED entries. 0, or the
 * exit code. */
static int add_variant_cases(void)
{
	int i, err;

	for (i = 0; i < nvariants; i++) {
		struct target *t = &variants[i];
		char *n4 = malloc(64), *n6 = malloc(64), *nu = malloc(64);

		err = variant_setup(t, 4, "198.18.0.1", "198.18.0.2", 40000);
		err = err ?: variant_setup(t, 6, "2001:db8::1", "2001:db8::2", 40001);
		if (err || !n4 || !n6 || !nu || !established_on(t, &ack4) || !established_on(t, &ack6)) {
			fprintf(stderr, "pktcost: %s: setup handshakes failed\n", t->name);
			return 1;
		}
		snprintf(n4, 64, "established_ack@%s", t->name);
		snprintf(n6, 64, "established_ack_ipv6@%s", t->name);
		snprintf(nu, 64, "non_tcp@%s", t->name);
		add(n4, "tcps_xdp_ingress", t->xdp, &ack4, "ipv4 ACK+data", "floor_xdp_lookup",
		    "hot path of a variant object (-x)");
		add(n6, "tcps_xdp_ingress", t->xdp, &ack6, "ipv6 ACK+data", "floor_xdp_lookup_ipv6",
		    "hot path over IPv6 of a variant object (-x)");
		add(nu, "tcps_xdp_ingress", t->xdp, &udp4, "ipv4 UDP", "floor_xdp_pass_udp",
		    "non-TCP frame through a variant object (-x)");
	}
	return 0;
}

/* Every case once per round, then a check that the hot path stayed on
 * the hot path. 0, or the exit code. */
static int run_rounds(void)
{
	int err, i, j;

	for (j = 0; j < set.rounds; j++) {
		for (i = 0; i < ncases; i++) {
			err = run_case(&cases[i], j);
			if (err) {
				fprintf(stderr, "pktcost: %s: %s\n", cases[i].name, strerror(-err));
				return 1;
			}
		}
	}
	if (!established(&ack4) || !established(&ack6) || !established(&ackvlan)) {
		fprintf(stderr, "pktcost: the ESTABLISHED connections moved during the runs\n");
		return 1;
	}
	for (i = 0; i < nvariants; i++) {
		if (!established_on(&variants[i], &ack4) || !established_on(&variants[i], &ack6)) {
			fprintf(stderr, "pktcost: %s: the ESTABLISHED connections moved\n",
				variants[i].name);
			return 1;
		}
	}
	return 0;
}

static void print_json(void)
{
	int i, j;

	printf("{\"repeat\": %d, \"rounds\": %d, \"distinct\": %d, \"cases\": [", set.repeat,
	       set.rounds, set.distinct);
	for (i = 0; i < ncases; i++) {
		struct bcase *c = &cases[i];

		printf("%s\n  {\"name\": \"%s\", \"prog\": \"%s\", \"frame\": \"%s\", \"method\": \"%s\", "
		       "\"what\": \"%s\", \"baseline\": %s%s%s, \"ns\": [",
		       i ? "," : "", c->name, c->prog, c->frame, c->method, c->what,
		       c->base ? "\"" : "", c->base ? c->base : "null", c->base ? "\"" : "");
		for (j = 0; j < set.rounds; j++)
			printf("%s%.4f", j ? ", " : "", c->ns[j]);
		printf("], \"kns\": [");
		for (j = 0; j < set.rounds; j++)
			printf("%s%.2f", j ? ", " : "", c->kns[j]);
		printf("]}");
	}
	printf("\n]}\n");
}

static void cleanup(void)
{
	int i;

	ring_buffer__free(rb);
	floor_bpf__destroy(fl);
	tcpscope_bpf__destroy(ts);
	for (i = 0; i < nvariants; i++)
		bpf_object__close(variants[i].obj);
}

int main(int argc, char **argv)
{
	int code = parse_args(argc, argv, &set);	/* -1: run */

	if (code >= 0)
		return code;
	build_frames();
	code = load() ?: prime_frames();
	if (!code) {
		add_repeat_cases();
		code = add_distinct_cases() ?: add_variant_cases() ?: run_rounds();
	}
	if (!code)
		print_json();
	cleanup();
	return code;
}
