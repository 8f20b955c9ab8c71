// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A connection table of our own against a BPF hash map of the product's
 * shape (bench/slots.bpf.c, bench/NOTES.md "A table of our own"), driven
 * with BPF_PROG_TEST_RUN only: nothing is attached anywhere.
 *
 *   slots [-n N] [-a LOAD] [-k ROUNDS] [-d DISTINCT] [-r REPEAT] [-f 4|6]
 *         [-c CHURN] [-R EVERY] [-M]
 *
 * For each family (IPv4, then IPv6; -f one only): a slot table of N / LOAD
 * slots (default 1M / 0.9) and a hash map (40-byte key, 120-byte value,
 * BPF_F_NO_PREALLOC, max_entries N), each in an object of its own, are
 * filled through their programs with N - ROUNDS * DISTINCT distinct
 * tuples; then ROUNDS rounds, the two tables alternating in each, time:
 *   hot    REPEAT runs of one tracked tuple's ACK (thread CPU time / REPEAT)
 *   cold   DISTINCT tracked tuples at random, each run once (kernel ns)
 *   insert DISTINCT new tuples, each run once (kernel ns); the rounds bring
 *          both tables to N
 *   miss   DISTINCT RSTs of unknown tuples (a walk that finds nothing)
 * Memory: the map's memlock (fdinfo) / N, and the rise of Slab + VmallocUsed
 * + Percpu in /proc/meminfo / N. Then CHURN (default N) deletes (RST of the
 * oldest) and inserts on both tables, a compaction and reclaim pass of the
 * slot table every EVERY (default 50000; 0: none; -M: reclaim only, no
 * tuple moved, as the product's collector runs), and the rounds again.
 * Checks, failing the run: table walks, every live tuple found once, a
 * delete and reinsert, two CPUs racing on the same inserts during
 * compaction.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/membarrier.h>
#include <sys/syscall.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "tcpscope.h"
#include "slots.h"
#include "pktbuild.h"
#include "slots.skel.h"

#define MAX_ROUNDS 64

struct settings {
	long n, rounds, distinct, repeat, churn, reclaim;
	int no_moves;		/* -M: the collector reclaims only (the product's first landing) */
	double load;
	int family;		/* 0: both */
};
static struct settings set = { .n = 1000000, .rounds = 11, .distinct = 10000,
			       .repeat = 200000, .load = 0.9, .churn = -1,
			       .reclaim = 50000 };

struct frame {
	__u8 buf[128];
	__u32 len;
};

/* One case's samples, a round each. */
struct sample {
	double ns[MAX_ROUNDS];
};

struct tables {
	struct slots_bpf *s, *h;	/* the slot table's object, the hash map's */
	int sprog, hprog;
	__u32 nslots;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Slab + VmallocUsed + Percpu, kB: the kernel memory a map can take. */
static long kernel_kb(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	long v, sum = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Slab: %ld", &v) == 1 || sscanf(line, "VmallocUsed: %ld", &v) == 1 ||
		    sscanf(line, "Percpu: %ld", &v) == 1)
			sum += v;
	fclose(f);
	return sum;
}

/* After a map is closed its memory goes back in deferred work (RCU,
 * vfree): wait until the figure holds still (< 1 MB over 0.6 s, 10 s at
 * most) before a reading that must not count it. */
static long kernel_kb_settled(void)
{
	long prev = kernel_kb(), cur = prev;
	int i, still = 0;

	for (i = 0; i < 50 && still < 3; i++) {
		usleep(200000);
		cur = kernel_kb();
		still = labs(cur - prev) < 1024 ? still + 1 : 0;
		prev = cur;
	}
	return cur;
}

static long long memlock(int fd)
{
	char path[64], line[256];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "memlock: %lld", &v) == 1)
			break;
	fclose(f);
	return v;
}

/* Tuple n: remote 198.19.x.y (2001:db8:ff::x:y) port 1024 + n / 65536 to
 * local 198.18.0.1:80 (2001:db8::1), as bench/connfill.c. */
static int frame_of(int family, long n, __u8 flags, struct frame *f)
{
	const char *local = family == 6 ? "2001:db8::1" : "198.18.0.1";
	__u16 port = (__u16)(1024 + n / 65536);
	struct pkt_spec s;
	char remote[64];

	pkt_nth_addr(family, (__u32)n, remote, sizeof(remote));
	s = family == 6 ? PKT_V6(remote, port, local, 80) : PKT_V4(remote, port, local, 80);
	s.flags = flags;
	s.seq = 1001;
	s.ack = 5001;
	f->len = (__u32)pkt_build(&s, f->buf, sizeof(f->buf));
	return f->len ? 0 : -EINVAL;
}

/* One run; *ns the kernel's duration. */
static int run1(int prog, const struct frame *f, __u32 *ns)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f->buf, .data_size_in = f->len, .repeat = 1);

	if (bpf_prog_test_run_opts(prog, &o))
		return -errno;
	*ns = o.duration;
	return 0;
}

/* REPEAT runs of one frame: this thread's CPU time per run, as
 * bench/pktcost.c's "repeat" cases. */
static int run_hot(int prog, const struct frame *f, double *ns)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f->buf, .data_size_in = f->len,
		    .repeat = (__u32)set.repeat);
	double c0 = thread_cpu_ns();

	if (bpf_prog_test_run_opts(prog, &o))
		return -errno;
	*ns = (thread_cpu_ns() - c0) / (double)set.repeat;
	return 0;
}

/* Tuples [from, to) through prog once each; mean kernel ns in *mean. */
static int fill(int prog, int family, long from, long to, double *mean)
{
	struct frame f;
	double sum = 0;
	__u32 ns;
	long i;
	int err;

	for (i = from; i < to; i++) {
		err = frame_of(family, i, TCPS_ACK, &f) ?: run1(prog, &f, &ns);
		if (err)
			return err;
		sum += ns;
	}
	*mean = to > from ? sum / (double)(to - from) : 0;
	return 0;
}

/* One object: the slot table of nslots, the hash map of nhash. */
static struct slots_bpf *load(__u32 nslots, __u32 nhash)
{
	struct slots_bpf *o = slots_bpf__open();
	int err;

	if (!o)
		return NULL;
	o->rodata->slots_n = nslots;
	o->rodata->slots_seed = (__u32)random();
	err = bpf_map__set_max_entries(o->maps.slots, nslots) ?:
	      bpf_map__set_max_entries(o->maps.floor_conns, nhash) ?: slots_bpf__load(o);
	if (err) {
		fprintf(stderr, "slots: load: %s\n", strerror(-err));
		slots_bpf__destroy(o);
		return NULL;
	}
	return o;
}

static void counters(struct slots_bpf *o, __u64 *sum)
{
	int ncpu = libbpf_num_possible_cpus(), c, i;
	struct slots_cnt *v = calloc((size_t)ncpu, sizeof(*v));
	__u32 zero = 0;

	memset(sum, 0, sizeof(__u64) * SLOTS_CNT_MAX);
	if (v && !bpf_map_lookup_elem(bpf_map__fd(o->maps.slots_stats), &zero, v))
		for (c = 0; c < ncpu; c++)
			for (i = 0; i < SLOTS_CNT_MAX; i++)
				sum[i] += v[c].c[i];
	free(v);
}

struct walk {
	long full, tomb, other;
	double mean_disp, secs;
	long max_disp;
	double miss_sum;	/* sum over all start slots of a miss's walk */
	long run, max_run;	/* non-EMPTY slots in a row */
};

/* One slot of the walk: its displacement from its home, if FULL. */
static void walk_slot(const struct slot *sl, __u32 idx, __u32 n, __u32 seed, struct walk *w,
		      double *disp_sum)
{
	__u32 st = sl->h.tag & TCPS_SLOT_STATE;
	struct tcps_key k;
	long d;

	if (st == TCPS_SLOT_EMPTY) {
		/* a miss starting d slots before this EMPTY walks d + 1 */
		w->miss_sum += (double)w->run * (double)(w->run + 1) / 2 + (double)w->run + 1;
		w->run = 0;
	} else if (++w->run > w->max_run) {
		w->max_run = w->run;
	}
	if (st != TCPS_SLOT_FULL) {
		w->tomb += st == TCPS_SLOT_TOMB;
		w->other += st == TCPS_SLOT_BUSY;
		return;
	}
	tcps_slot_key(&sl->h, sl->h.tag, &k);
	d = ((long)idx - (long)tcps_slots_home(tcps_slots_hash(&k, seed), n) + n) % n;
	w->full++;
	*disp_sum += (double)d;
	if (d > w->max_disp)
		w->max_disp = d;
}

/* The whole table copied out in batches, as a view or expiry would. */
static int walk(struct slots_bpf *o, __u32 n, struct walk *w)
{
	const __u32 batch = 65536;
	__u32 *keys = calloc(batch, sizeof(*keys)), out = 0, cnt, i, base = 0;
	struct slot *vals = calloc(batch, sizeof(*vals));
	double t0 = now_s(), disp = 0;
	void *in = NULL;
	int err = 0;

	memset(w, 0, sizeof(*w));
	while (keys && vals && !err) {
		cnt = batch;
		err = bpf_map_lookup_batch(bpf_map__fd(o->maps.slots), in, &out, keys, vals, &cnt, NULL);
		err = err && errno == ENOENT ? 1 : err ? -errno : 0;
		for (i = 0; i < cnt; i++)
			walk_slot(&vals[i], base + i, n, o->rodata->slots_seed, w, &disp);
		base += cnt;
		in = &out;
	}
	w->secs = now_s() - t0;
	w->mean_disp = w->full ? disp / (double)w->full : 0;
	free(keys);
	free(vals);
	return !keys || !vals ? -ENOMEM : err < 0 ? err : base == n ? 0 : -EIO;
}

enum { HOT_S, HOT_H, COLD_S, COLD_H, INS_S, INS_H, MISS_S, MISS_H, NCASES };
static const char *const case_name[NCASES] = {
	"hit, one tuple (hot)", "", "hit, random tuples (cold)", "", "insert, new tuple", "",
	"miss, unknown tuple's RST", "",
};
static struct sample res[2][NCASES];	/* before churn, after */
static struct frame *cold, *fresh, *miss;

/* The tracked tuples are ids [lo, hi): new ones are appended at hi, churn
 * deletes from lo. Ids from MISS_BASE on are never inserted. */
#define MISS_BASE (14L << 20)
static long lo, hi;

/* Each frame once through prog: mean kernel ns. */
static int mean_runs(int prog, const struct frame *f, long n, double *ns)
{
	double sum = 0;
	__u32 d;
	long i;
	int err;

	for (i = 0; i < n; i++) {
		if ((err = run1(prog, &f[i], &d)))
			return err;
		sum += d;
	}
	*ns = sum / (double)n;
	return 0;
}

/* Case c (slot table) and c + 1 (hash map) of round r, in the given order. */
static int time_pair(const struct tables *t, int ph, int c, int r, const struct frame *f,
		     int hash_first)
{
	int k, err = 0;

	for (k = 0; k < 2 && !err; k++) {
		int h = k ^ !hash_first, prog = h ? t->hprog : t->sprog;
		double *ns = &res[ph][c + h].ns[r];

		err = c == HOT_S ? run_hot(prog, f, ns) : mean_runs(prog, f, set.distinct, ns);
	}
	return err;
}

/* Round r of phase ph: frames of tracked tuples at random, of new ones
 * and of unknown ones, then the pairs, the hash map first in odd rounds. */
static int round_run(const struct tables *t, int family, int ph, int r)
{
	long i, miss0 = MISS_BASE + (ph * set.rounds + r) * set.distinct;
	struct frame hot;
	int err;

	err = frame_of(family, lo + random() % (hi - lo), TCPS_ACK, &hot);
	for (i = 0; i < set.distinct && !err; i++)
		err = frame_of(family, lo + random() % (hi - lo), TCPS_ACK, &cold[i]) ?:
		      frame_of(family, hi + i, TCPS_ACK, &fresh[i]) ?:
		      frame_of(family, miss0 + i, TCPS_RST | TCPS_ACK, &miss[i]);
	err = err ?: time_pair(t, ph, HOT_S, r, &hot, r & 1) ?:
	      time_pair(t, ph, COLD_S, r, cold, r & 1) ?: time_pair(t, ph, INS_S, r, fresh, r & 1) ?:
	      time_pair(t, ph, MISS_S, r, miss, r & 1);
	hi += set.distinct;
	return err;
}

/*
 * One collector pass (slots_collect_run: compaction and reclaim), as the
 * daemon's expiry would run it: three epochs, each after an RCU grace
 * period (membarrier GLOBAL is synchronize_rcu), then the pass. A data
 * path tombstone is reclaimed three epochs after it was made (the proof
 * is in slots.bpf.c), so every one made before this call can be. *moved:
 * tuples moved back over tombstones; returns the tombstones made EMPTY.
 */
static long compact(const struct tables *t, long *moved)
{
	LIBBPF_OPTS(bpf_test_run_opts, o);
	struct slots_bpf *s = t->s;
	int i;

	for (i = 0; i < 3; i++) {
		if (syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0))
			return -errno;
		__atomic_add_fetch(&s->bss->slots_epoch, 1, __ATOMIC_SEQ_CST);
	}
	s->bss->coll.no_moves = (__u32)set.no_moves;
	if (bpf_prog_test_run_opts(bpf_program__fd(s->progs.slots_collect_run), &o))
		return -errno;
	*moved = (long)s->bss->coll.moved;
	return (long)s->bss->coll.reclaimed;
}

/* The collector's pass over a table without tombstones (what an idle
 * daemon's would cost): thread CPU time of the call, membarrier included. */
static int idle_pass(const struct tables *t)
{
	double t0 = thread_cpu_ns();
	long moved, got = compact(t, &moved);

	if (got < 0)
		return (int)got;
	printf("  collector pass, no tombstones: %.1f ms of CPU, %ld moved, %ld made EMPTY\n",
	       (thread_cpu_ns() - t0) / 1e6, moved, got);
	return 0;
}

/* Churn: x times, the oldest tuple's RST (delete) and, while the tables
 * are to stay below N after the next rounds, a new tuple's ACK (insert);
 * a reclaim pass every set.reclaim of them (0: never). */
static int churn(const struct tables *t, int family, long x)
{
	long j, add = x - set.rounds * set.distinct, got, reclaimed = 0, passes = 0, mv, moved = 0;
	double secs = 0, t0;
	struct frame f;
	__u32 ns;
	int err = 0;

	for (j = 0; j < x && !err; j++) {
		err = frame_of(family, lo++, TCPS_RST | TCPS_ACK, &f) ?: run1(t->sprog, &f, &ns) ?:
		      run1(t->hprog, &f, &ns);
		if (!err && j < add)
			err = frame_of(family, hi++, TCPS_ACK, &f) ?: run1(t->sprog, &f, &ns) ?:
			      run1(t->hprog, &f, &ns);
		if (err || !set.reclaim || (j + 1) % set.reclaim)
			continue;
		t0 = thread_cpu_ns();
		got = compact(t, &mv);
		secs += (thread_cpu_ns() - t0) / 1e9;
		err = got < 0 ? (int)got : 0;
		reclaimed += got;
		moved += mv;
		passes++;
	}
	printf("  churn: %ld deletes (RST, oldest first) and as many inserts, both tables; "
	       "compaction every %ld: %ld passes, %ld tuples moved, %ld tombstones made EMPTY, "
	       "%.1f ms of CPU a pass\n", x, set.reclaim, passes, moved, reclaimed,
	       passes ? secs * 1e3 / (double)passes : 0);
	return err;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(const double *v, int n)
{
	double s[MAX_ROUNDS];

	memcpy(s, v, sizeof(double) * (size_t)n);
	qsort(s, (size_t)n, sizeof(double), cmp_d);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static void print_times(int ph)
{
	double ratio[MAX_ROUNDS];
	int c, r, n = (int)set.rounds;

	printf("  %-28s %10s %10s %8s   (medians of %d rounds; ratio: median of per-round ratios)\n",
	       "per packet", "slots ns", "hash ns", "ratio", n);
	for (c = 0; c < NCASES; c += 2) {
		for (r = 0; r < n; r++)
			ratio[r] = res[ph][c].ns[r] / res[ph][c + 1].ns[r];
		printf("  %-28s %10.1f %10.1f %8.3f\n", case_name[c], median(res[ph][c].ns, n),
		       median(res[ph][c + 1].ns, n), median(ratio, n));
	}
}

/* kB of Slab + VmallocUsed + Percpu at the steps of one family's run. */
struct mem {
	long before, slots_loaded, slots_filled, end, freed;
};

static void print_memory(const struct tables *t, const struct mem *m, const double *fills)
{
	double n = (double)set.n;

	printf("  slot %u B, %u slots for %ld connections (load %.3f)\n",
	       bpf_map__value_size(t->s->maps.slots), t->nslots, set.n, n / t->nslots);
	printf("  %-10s %18s %28s %20s\n", "table", "memlock B/conn", "kernel rise B/conn",
	       "fill insert ns");
	printf("  %-10s %18.1f %13.1f (created %.1f) %20.1f\n", "slots",
	       (double)memlock(bpf_map__fd(t->s->maps.slots)) / n,
	       (double)(m->slots_filled - m->before) * 1024 / n,
	       (double)(m->slots_loaded - m->before) * 1024 / n, fills[0]);
	printf("  %-10s %18.1f %28.1f %20.1f\n", "hash",
	       (double)memlock(bpf_map__fd(t->h->maps.floor_conns)) / n,
	       (double)(m->end - m->slots_filled) * 1024 / n, fills[1]);
}

static void print_walk(const struct tables *t, const struct walk *w, const char *when)
{
	printf("  walk %s: %ld FULL, %ld TOMB, %ld BUSY (%.3f s); slots a hit walks: mean %.2f, "
	       "max %ld; a miss: mean %.1f (longest run %ld)\n", when, w->full, w->tomb, w->other,
	       w->secs, w->mean_disp + 1, w->max_disp + 1, w->miss_sum / (double)t->nslots,
	       w->max_run);
}

/* Every tuple inserted once and deleted at most once, nothing refused,
 * and the last walk finds the N live ones. */
static int check(const struct tables *t, const struct walk *w, long x)
{
	__u64 s[SLOTS_CNT_MAX], h[SLOTS_CNT_MAX];

	counters(t->s, s);
	counters(t->h, h);
	if ((long)s[SLOTS_INSERT] != set.n + x || (long)s[SLOTS_DELETE] != x || s[SLOTS_RACE] ||
	    s[SLOTS_FULLCHAIN] || s[SLOTS_ILOCKED] || w->full != set.n ||
	    (long)h[SLOTS_FLOOR_INSERT] != set.n + x || (long)h[SLOTS_FLOOR_DELETE] != x ||
	    h[SLOTS_FLOOR_FAIL]) {
		fprintf(stderr, "slots: check failed: inserts %llu/%llu of %ld, deletes %llu/%llu, "
			"race %llu, full chain %llu, ilocked %llu, walk %ld\n",
			(unsigned long long)s[SLOTS_INSERT], (unsigned long long)h[SLOTS_FLOOR_INSERT],
			set.n + x, (unsigned long long)s[SLOTS_DELETE],
			(unsigned long long)h[SLOTS_FLOOR_DELETE], (unsigned long long)s[SLOTS_RACE],
			(unsigned long long)s[SLOTS_FULLCHAIN], (unsigned long long)s[SLOTS_ILOCKED],
			w->full);
		return -EPROTO;
	}
	return 0;
}

/* Every live tuple, [lo, hi), is found: none lost by moves or reclaim. */
static int check_found(const struct tables *t, int family)
{
	__u64 a[SLOTS_CNT_MAX], b[SLOTS_CNT_MAX];
	struct frame f;
	long i;
	__u32 ns;
	int err = 0;

	counters(t->s, a);
	for (i = lo; i < hi && !err; i++)
		err = frame_of(family, i, TCPS_ACK, &f) ?: run1(t->sprog, &f, &ns);
	counters(t->s, b);
	if (err || (long)(b[SLOTS_HIT] - a[SLOTS_HIT]) != hi - lo || b[SLOTS_INSERT] != a[SLOTS_INSERT]) {
		fprintf(stderr, "slots: %llu of %ld live tuples found\n",
			(unsigned long long)(b[SLOTS_HIT] - a[SLOTS_HIT]), hi - lo);
		return err ?: -EPROTO;
	}
	printf("  all %ld live tuples found, none inserted twice\n", hi - lo);
	return 0;
}

/* Delete by RST leaves a tombstone; the tuple's next packet inserts it
 * again (into the tombstone) and finds it after that. */
static int check_delete(const struct tables *t, int family)
{
	__u64 a[SLOTS_CNT_MAX], b[SLOTS_CNT_MAX];
	struct frame rst, ack;
	__u32 ns;
	int err;

	counters(t->s, a);
	err = frame_of(family, lo, TCPS_RST | TCPS_ACK, &rst) ?: frame_of(family, lo, TCPS_ACK, &ack) ?:
	      run1(t->sprog, &rst, &ns) ?: run1(t->sprog, &ack, &ns) ?: run1(t->sprog, &ack, &ns);
	counters(t->s, b);
	if (err || b[SLOTS_DELETE] - a[SLOTS_DELETE] != 1 || b[SLOTS_INSERT] - a[SLOTS_INSERT] != 1 ||
	    b[SLOTS_HIT] - a[SLOTS_HIT] != 2) {
		fprintf(stderr, "slots: delete then reinsert did not behave\n");
		return err ?: -EPROTO;
	}
	printf("  delete: RST tombstones the slot, the next ACK inserts again, the one after hits\n");
	return 0;
}

/* Two threads on two CPUs send the same new tuples' ACKs in the same
 * order, so that inserts race with inserts of the same tuple, until the
 * compactor is done; *sent: how far each got. */
struct racer {
	const struct tables *t;
	int family, cpu, err;
	long from, to, sent;
	volatile int *stop;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	cpu_set_t set1;
	struct frame f;
	__u32 ns;
	long i;

	CPU_ZERO(&set1);
	CPU_SET(r->cpu, &set1);
	sched_setaffinity(0, sizeof(set1), &set1);
	for (i = r->from; i < r->to && !r->err && !*r->stop; i++)
		r->err = frame_of(r->family, i, TCPS_ACK, &f) ?: run1(r->t->sprog, &f, &ns);
	r->sent = i - r->from;
	return NULL;
}

/* 2m oldest tuples deleted, then up to 2m racing inserts while this
 * thread runs three compaction passes (moves tuples over the tombstones):
 * each tuple sent by either thread inserted exactly once, and every live
 * tuple found once (check_found). */
static int race_check(const struct tables *t, int family, long m)
{
	volatile int stop = 0;
	struct racer r[2] = { { t, family, 0, 0, hi, hi + 2 * m, 0, &stop },
			      { t, family, 1, 0, hi, hi + 2 * m, 0, &stop } };
	__u64 a[SLOTS_CNT_MAX], b[SLOTS_CNT_MAX];
	long i, mv, moved = 0, got = 0, sent;
	pthread_t th[2];
	struct frame f;
	__u32 ns;
	int err = 0;

	for (i = 0; i < 2 * m && !err; i++)
		err = frame_of(family, lo + i, TCPS_RST | TCPS_ACK, &f) ?: run1(t->sprog, &f, &ns);
	counters(t->s, a);
	for (i = 0; i < 2 && !err; i++)
		if (pthread_create(&th[i], NULL, race, &r[i]))
			return -EAGAIN;
	for (i = 0; i < 3 && got >= 0 && !err; i++, moved += mv)
		got = compact(t, &mv);
	stop = 1;
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	counters(t->s, b);
	sent = r[0].sent > r[1].sent ? r[0].sent : r[1].sent;
	lo += 2 * m;
	hi += sent;
	printf("  race: 2 CPUs inserting the same new tuples (%ld, %ld sent) during 3 compaction "
	       "passes that move %ld: %llu inserts, %llu found under ILOCK, %llu gave up on ILOCK, "
	       "%llu on a full chain, %llu on a lost claim\n", r[0].sent, r[1].sent, moved,
	       (unsigned long long)(b[SLOTS_INSERT] - a[SLOTS_INSERT]),
	       (unsigned long long)(b[SLOTS_RACE] - a[SLOTS_RACE]),
	       (unsigned long long)(b[SLOTS_ILOCKED] - a[SLOTS_ILOCKED]),
	       (unsigned long long)(b[SLOTS_FULLCHAIN] - a[SLOTS_FULLCHAIN]),
	       (unsigned long long)(b[SLOTS_CLAIMLOST] - a[SLOTS_CLAIMLOST]));
	if (err || got < 0 || r[0].err || r[1].err || (long)(b[SLOTS_INSERT] - a[SLOTS_INSERT]) != sent)
		return err ?: got < 0 ? (int)got : -EPROTO;
	return check_found(t, family);
}

/* Both tables loaded and the slot table filled: fill the hash map, time
 * the rounds, churn, time them again; walks in between. */
static int run_tables(struct tables *t, int family, struct mem *m, double *fills)
{
	struct walk w;
	int err, r;

	err = fill(t->hprog, family, lo, hi, &fills[1]);
	for (r = 0; r < set.rounds && !err; r++)
		err = round_run(t, family, 0, r);
	m->end = kernel_kb();
	if (err || (err = walk(t->s, t->nslots, &w)))
		return err;
	print_memory(t, m, fills);
	print_walk(t, &w, "full");
	print_times(0);
	if ((err = idle_pass(t)))
		return err;
	if (!set.churn)
		return check(t, &w, 0);
	if ((err = churn(t, family, set.churn)) || (err = walk(t->s, t->nslots, &w)))
		return err;
	print_walk(t, &w, "after churn");
	for (r = 0; r < set.rounds && !err; r++)
		err = round_run(t, family, 1, r);
	if (err || (err = walk(t->s, t->nslots, &w)))
		return err;
	print_times(1);
	return check(t, &w, set.churn);
}

static int run_family(int family)
{
	struct tables t = { .nslots = (__u32)((double)set.n / set.load + 0.5) };
	double fills[2] = { 0, 0 };
	struct mem m = { .before = kernel_kb_settled() };
	int err;

	printf("IPv%d\n", family);
	lo = 0;
	hi = set.n - set.rounds * set.distinct;
	if (!(t.s = load(t.nslots, 1)))
		return -EINVAL;
	m.slots_loaded = kernel_kb();
	t.sprog = bpf_program__fd(t.s->progs.slots_track);
	if ((err = fill(t.sprog, family, lo, hi, &fills[0])))
		goto out;
	m.slots_filled = kernel_kb();
	err = -EINVAL;
	if (!(t.h = load(1, (__u32)set.n)))
		goto out;
	t.hprog = bpf_program__fd(t.h->progs.floor_track);
	err = run_tables(&t, family, &m, fills) ?: check_found(&t, family) ?:
	      check_delete(&t, family) ?: race_check(&t, family, set.n / 10);
out:
	slots_bpf__destroy(t.h);
	slots_bpf__destroy(t.s);
	m.freed = kernel_kb_settled();
	if (!err)
		printf("  kernel memory given back at close: %.1f B/conn\n",
		       (double)(m.end - m.freed) * 1024 / (double)set.n);
	return err;
}

static int usage(void)
{
	fprintf(stderr, "usage: slots [-n N] [-a LOAD] [-k ROUNDS] [-d DISTINCT] [-r REPEAT] [-f 4|6] [-c CHURN] [-R EVERY] [-M (reclaim only)]\n");
	return 2;
}

static int parse_args(int argc, char **argv)
{
	int o;

	while ((o = getopt(argc, argv, "n:a:k:d:r:f:c:R:M")) != -1) {
		switch (o) {
		case 'n': set.n = atol(optarg); break;
		case 'a': set.load = atof(optarg); break;
		case 'k': set.rounds = atol(optarg); break;
		case 'd': set.distinct = atol(optarg); break;
		case 'r': set.repeat = atol(optarg); break;
		case 'f': set.family = atoi(optarg); break;
		case 'c': set.churn = atol(optarg); break;
		case 'R': set.reclaim = atol(optarg); break;
		case 'M': set.no_moves = 1; break;
		default: return -1;
		}
	}
	if (set.churn < 0)
		set.churn = set.n;
	if (optind != argc || set.load <= 0.1 || set.load > 1 || set.rounds < 1 ||
	    set.rounds > MAX_ROUNDS || set.distinct < 1 || set.repeat < 1 ||
	    (set.family && set.family != 4 && set.family != 6) || set.n > (4L << 20) ||
	    set.n <= set.rounds * set.distinct || set.churn > set.n ||
	    (set.churn && set.churn < set.rounds * set.distinct) || set.reclaim < 0)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	int err = 0;

	if (parse_args(argc, argv))
		return usage();
	srandom((unsigned)time(NULL));
	cold = calloc((size_t)set.distinct, sizeof(*cold));
	fresh = calloc((size_t)set.distinct, sizeof(*fresh));
	miss = calloc((size_t)set.distinct, sizeof(*miss));
	if (!cold || !fresh || !miss)
		return 1;
	if (set.family != 6)
		err = run_family(4);
	if (!err && set.family != 4)
		err = run_family(6);
	free(cold);
	free(fresh);
	free(miss);
	if (err)
		fprintf(stderr, "slots: %s\n", strerror(-err));
	return err ? 1 : 0;
}
