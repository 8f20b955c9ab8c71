// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tcpscope run: load the BPF object, attach it to the interfaces, pin its
 * maps, and turn ring-buffer records into transition output until SIGINT
 * or SIGTERM; then undo exactly what it did. A failed start undoes
 * everything too: nothing is left attached or pinned.
 *
 * This file drives the phases (start, loop, cleanup); the command line is
 * in runopts.c, attaching in attach.c, the pin directory in pindir.c.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "health.h"
#include "daemonize.h"
#include "detach.h"
#include "evjson.h"
#include "exports.h"
#include "maps.h"
#include "output.h"
#include "run.h"
#include "slotcfg.h"
#include "stale.h"
#include "tcpscope.skel.h"

static volatile sig_atomic_t exiting, hangup;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		hangup = 1;
	else
		exiting = 1;
}

static void daemon_flush(struct tcps_daemon *d);

void tcps_daemon_emit(struct tcps_daemon *d, const struct tcps_event *e)
{
	const struct tcps_module *m;

	d->events_seen++;
	if (e->reason != TCPS_REASON_PACKET)
		d->own_events++;
	for (m = tcps_modules; m->name; m++)
		if (m->event)
			m->event(d, e);
	if (d->opts->quiet || d->stdout_broken)
		return;
	if (d->opts->json)
		tcps_event_json_write(stdout, e, d->opts->mode);
	else
		tcps_event_text(stdout, e, d->opts->mode);
	d->stdout_dirty = true;
	/* A person watching sees each line at once; a pipe or file gets one
	 * write per ring-buffer batch (a flush per event cost 4x in churn). */
	if (d->stdout_tty)
		daemon_flush(d);
}

static void daemon_flush(struct tcps_daemon *d)
{
	if (!d->stdout_dirty || d->stdout_broken)
		return;
	d->stdout_dirty = false;
	if (fflush(stdout) == EOF) {
		/* A closed pipe (| head) or a full disk: stop printing, keep
		 * tracking, say it once. */
		if (errno != EPIPE)
			pr_warn("stdout: %s; transitions are no longer printed", strerror(errno));
		d->stdout_broken = true;
		if (errno == EPIPE)
			exiting = 1;
	}
}

static int on_ringbuf(void *ctx, void *data, size_t size)
{
	struct tcps_event e;

	if (size < sizeof(e))
		return 0;
	memcpy(&e, data, sizeof(e));
	if (tcps_evbatch_push(&((struct tcps_daemon *)ctx)->batch, &e))
		tcps_daemon_emit(ctx, &e);	/* no memory to order it: emit as it came */
	return 0;
}

/* Drain the ring buffer: the batch in per-connection order, then out. */
static int daemon_drain(struct tcps_daemon *d, struct ring_buffer *rb)
{
	int n = ring_buffer__consume(rb);
	size_t i;

	tcps_evbatch_order(&d->batch);
	for (i = 0; i < d->batch.n; i++)
		tcps_daemon_emit(d, &d->batch.ev[i]);
	d->batch.n = 0;
	daemon_flush(d);
	return n;
}

/* Counters at adoption: what the ring buffer could not hold while no
 * daemon was reading is counted there. */
static void adopt_report(struct tcps_daemon *d, struct ring_buffer *rb)
{
	__u64 cnt[TCPS_CNT_MAX] = { 0 };
	int n = daemon_drain(d, rb);

	tcps_counters_read(d->pins.stats, cnt);
	pr_info("adopted the pins in %s: %d transitions queued while no daemon ran%s; %llu lost to a full ring buffer since the first start",
		d->opts->pin_dir, n < 0 ? 0 : n, n < 0 ? " (read error)" : "",
		(unsigned long long)cnt[TCPS_CNT_RB_DROPS]);
}

/* One run: the daemon and what must be undone at its end. */
struct run_ctx {
	struct tcps_run_opts opts;
	struct tcps_daemon d;
	struct ring_buffer *rb;
	struct tcps_pins old;		/* adopted pins, until the load took their maps */
	bool pinned, made_dir;
	int pidfd, ready_fd;
	char pidfile[PATH_MAX];		/* derived from the pin dir without --pidfile */
	int started;			/* modules started, to stop in reverse */
};

/* Checks and settings before anything is created. */
static int run_preflight(struct run_ctx *r)
{
	struct tcps_run_opts *o = &r->opts;

	if (o->json)
		tcps_json_errors = false;	/* JSON lines are data; errors stay on stderr */
	if (o->daemonize)
		o->quiet = true;	/* stdout is /dev/null; --events-file carries events */
	if (geteuid() != 0)
		pr_debug("not root: relying on capabilities (CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON)");
	if (!o->quiet && fcntl(STDOUT_FILENO, F_GETFD) < 0) {
		pr_err("stdout is closed; use --quiet to run without printing transitions");
		return TCPS_EXIT_USAGE;
	}
	libbpf_set_print(tcps_libbpf_print);
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

/* --daemon: the lock is taken before forking (the children inherit it),
 * so a second start is refused on the user's terminal. */
static int run_daemonize(struct run_ctx *r)
{
	int err;

	if (!r->opts.daemonize)
		return 0;
	if (!r->opts.pidfile) {
		if (tcps_pidfile_default(r->opts.pin_dir, r->pidfile, sizeof(r->pidfile))) {
			pr_err("--pin-dir %s: name too long for a pidfile; give --pidfile",
			       r->opts.pin_dir);
			return TCPS_EXIT_USAGE;
		}
		r->opts.pidfile = r->pidfile;
	}
	err = tcps_pidfile_take(r->opts.pidfile, r->opts.pin_dir, &r->pidfd);
	if (err)
		return err;
	err = tcps_daemonize(&r->ready_fd);
	if (err) {
		tcps_pidfile_release(r->opts.pidfile, r->pidfd);
		r->pidfd = -1;
		return err;
	}
	if (tcps_pidfile_write(r->pidfd))
		pr_warn("pidfile %s: %s", r->opts.pidfile, strerror(errno));
	return 0;
}

/* A new pin directory, or the one a --persist run left (adopted). */
static int run_take_pin_dir(struct run_ctx *r)
{
	int err = tcps_pin_dir_prepare(r->opts.pin_dir);

	if (err == -EEXIST) {
		err = tcps_pins_adopt(&r->opts, &r->old);
		if (err)
			return err;
		r->d.adopting = true;
		tcps_ours_from_pins(r->opts.pin_dir);
		return 0;
	}
	if (!err)
		r->made_dir = true;
	return err;
}

/* The tc programs into their slots of tcps_tc_again, where the data path
 * runs a packet again after pulling its headers in (bpf/tcpscope.bpf.c,
 * tcps_handle_skb). The slot is the direction (TCPS_DIR_IN 0, TCPS_DIR_OUT
 * 1); a program not loaded leaves its slot empty. */
static int run_fill_tc_again(struct tcps_daemon *d)
{
	struct bpf_program *p[2] = { d->skel->progs.tcps_tc_ingress, d->skel->progs.tcps_tc_egress };
	int map = bpf_map__fd(d->skel->maps.tcps_tc_again), fd;
	__u32 i;

	for (i = 0; i < 2; i++) {
		fd = bpf_program__fd(p[i]);
		if (fd >= 0 && bpf_map_update_elem(map, &i, &fd, BPF_ANY)) {
			pr_err("cannot fill the map %s: %s", bpf_map__name(d->skel->maps.tcps_tc_again),
			       strerror(errno));
			return TCPS_EXIT_FAIL;
		}
	}
	return 0;
}

/* Health off: the tables without the counters and the health block
 * (tcpscope.h TCPS_CONN_SIZE_SLIM, tcps_slots.h TCPS_SLOT_SIZE_SLIM):
 * 104-byte slots instead of 256. We create them, the programs then reuse
 * them. */
static int run_slim_tables(struct tcps_daemon *d)
{
	struct bpf_map *m[2] = { d->skel->maps.tcps_conns, d->skel->maps.tcps_halfopen };
	int i, fd, err;

	for (i = 0; i < 2; i++) {
		fd = i ? tcps_conn_map_create(bpf_map__name(m[i]), TCPS_CONN_SIZE_SLIM,
					      bpf_map__max_entries(m[i]), bpf_map__map_flags(m[i])) :
			 tcps_slot_map_create(bpf_map__name(m[i]), TCPS_SLOT_SIZE_SLIM,
					      bpf_map__max_entries(m[i]));
		err = fd < 0 ? fd : bpf_map__reuse_fd(m[i], fd);
		if (fd >= 0)
			close(fd);	/* reuse_fd keeps a duplicate */
		if (err) {
			pr_err("cannot create the map %s: %s", bpf_map__name(m[i]), strerror(-err));
			return err == -EPERM || err == -EACCES ? TCPS_EXIT_PERM : TCPS_EXIT_FAIL;
		}
	}
	return 0;
}

/* The maps of a fresh start (not adopted), as the options size them: the
 * slot array at load 7/8 when full (tcps_slots_for), always allocated
 * whole, and its hash seed drawn now. */
static int run_new_maps(struct run_ctx *r)
{
	struct tcps_daemon *d = &r->d;
	__u32 max = r->opts.max_conns;
	int err = tcps_slots_new_seed(&d->pins.meta.slots_seed);

	if (err) {
		pr_err("cannot draw the connection table's seed: %s", strerror(-err));
		return TCPS_EXIT_FAIL;
	}
	d->pins.meta.slots_epoch = 0;
	d->pins.nslots = tcps_slots_for(max);
	bpf_map__set_max_entries(d->skel->maps.tcps_conns, d->pins.nslots);
	bpf_map__set_max_entries(d->skel->maps.tcps_halfopen,
				 r->opts.max_halfopen ? r->opts.max_halfopen : tcps_halfopen_default(max));
	bpf_map__set_max_entries(d->skel->maps.tcps_events, r->opts.ring_bytes);
	return r->opts.no_health ? run_slim_tables(d) : 0;
}

/* The slot array's seed and size into the object before load (an adopted
 * table's come with its pins). */
static int run_slots_config(struct run_ctx *r)
{
	struct tcps_daemon *d = &r->d;
	int err;

	if (r->opts.prealloc)
		pr_warn("--prealloc changes nothing: the connection table is always allocated whole at start now");
	if (d->adopting) {
		d->pins.meta.slots_seed = r->old.meta.slots_seed;
		d->pins.meta.slots_epoch = r->old.meta.slots_epoch;
		d->pins.nslots = r->old.nslots;
	}
	err = tcps_slots_rodata(d->skel->obj, d->pins.meta.slots_seed, d->pins.nslots);
	if (err)
		pr_err("the BPF object has no connection table configuration: %s", strerror(-err));
	return err ? TCPS_EXIT_FAIL : 0;
}

static void need_ingress(enum tcps_hook h, bool *xdp, bool *tc)
{
	*xdp |= h != TCPS_HOOK_TC;	/* TCPS_HOOK_AUTO: either, so both */
	*tc |= h != TCPS_HOOK_XDP;
}

/*
 * Load only the ingress programs this run's interfaces will use: the
 * verifier takes ~0.5 s for each (bench/NOTES.md), and an interface uses
 * one. The rule is tcps_iface_hook's: under --hook
 * auto, by the named interfaces' kinds now, and both when a pattern may
 * bring either kind later. tc egress is always loaded.
 */
static void run_pick_programs(struct run_ctx *r)
{
	const struct tcps_run_opts *o = &r->opts;
	bool xdp = false, tc = false;
	int i;

	if (o->n_patterns)	/* interfaces they bring, now or later */
		need_ingress(tcps_iface_hook(o, NULL), &xdp, &tc);
	for (i = 0; i < o->n_ifaces; i++)
		need_ingress(tcps_iface_hook(o, o->ifaces[i].name), &xdp, &tc);
	bpf_program__set_autoload(r->d.skel->progs.tcps_xdp_ingress, xdp);
	bpf_program__set_autoload(r->d.skel->progs.tcps_tc_ingress, tc);
	pr_debug("ingress programs loaded: %s%s%s", xdp ? "XDP" : "", xdp && tc ? ", " : "",
		 tc ? "tc" : "");
}

static int run_load(struct run_ctx *r)
{
	struct tcps_daemon *d = &r->d;
	int err;

	d->skel = tcpscope_bpf__open();
	if (!d->skel) {
		pr_err("cannot open the BPF object: %s", strerror(errno));
		return TCPS_EXIT_FAIL;
	}
	d->skel->rodata->tcps_mode = (__u8)r->opts.mode;
	d->skel->rodata->tcps_health = !r->opts.no_health;
	/* The wake-up mark (tcps_event_submit): a quarter of the ring, the
	 * adopted one's too (tcps_pins_adopt took its size). */
	d->skel->rodata->tcps_wakeup_bytes = r->opts.ring_bytes / 4;
	tcps_health_set_enabled(!r->opts.no_health);	/* /v1/connections */
	run_pick_programs(r);
	if (d->adopting) {
		err = tcps_maps_reuse(d, &r->old);
		if (err)
			return err;
	} else if ((err = run_new_maps(r))) {
		return err;
	}
	if ((err = run_slots_config(r)))
		return err;
	err = tcpscope_bpf__load(d->skel);
	if (err == -EPERM || err == -EACCES) {
		pr_err("cannot load the BPF programs: %s (run as root, or with CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON)",
		       strerror(-err));
		return TCPS_EXIT_PERM;
	}
	if (err) {
		pr_err("cannot load the BPF programs: %s (run with -v for the verifier log)",
		       strerror(-err));
		return TCPS_EXIT_FAIL;
	}
	tcps_pins_close(&r->old);
	d->pins.sys = tcps_slots_prog_fd(d->skel->obj, "tcps_sys");
	if (d->pins.sys < 0) {
		pr_err("the BPF object has no program tcps_sys (writes to the connection table)");
		return TCPS_EXIT_FAIL;
	}
	return run_fill_tc_again(d);
}

/* Writers of the info map: the main loop (interfaces) and the expiry
 * thread (the collector's epoch), each writing it whole. */
static pthread_mutex_t info_mu = PTHREAD_MUTEX_INITIALIZER;

int tcps_daemon_next_epoch(void *dp)
{
	struct tcps_daemon *d = dp;
	__u32 zero = 0;
	int err = 0;

	pthread_mutex_lock(&info_mu);
	d->pins.meta.slots_epoch++;
	if (bpf_map_update_elem(d->pins.info, &zero, &d->pins.meta, BPF_ANY)) {
		err = -errno;
		d->pins.meta.slots_epoch--;
	}
	pthread_mutex_unlock(&info_mu);
	return err;
}

void tcps_daemon_info_update(struct tcps_daemon *d)
{
	struct tcps_info *info = &d->pins.meta;
	const int max = (int)(sizeof(info->ifaces) / sizeof(info->ifaces[0]));
	__u32 zero = 0;
	int i;

	pthread_mutex_lock(&info_mu);
	memset(info->ifaces, 0, sizeof(info->ifaces));
	for (i = 0; i < d->opts->n_ifaces && i < max; i++) {
		info->ifaces[i].ifindex = (__u32)d->opts->ifaces[i].ifindex;
		snprintf(info->ifaces[i].name, sizeof(info->ifaces[i].name), "%s",
			 d->opts->ifaces[i].name);
	}
	if (d->pins.info >= 0)
		bpf_map_update_elem(d->pins.info, &zero, info, BPF_ANY);
	pthread_mutex_unlock(&info_mu);
}

/* The info map: who owns the pins, their layout, the interfaces. */
static void run_publish_info(struct run_ctx *r)
{
	struct tcps_info *info = &r->d.pins.meta;

	info->abi = TCPS_ABI_VERSION;
	info->mode = r->opts.mode;
	info->flags = (r->opts.no_health ? 0 : TCPS_INFO_HEALTH) |
		      TCPS_INFO_PREALLOC;	/* the slot array: always whole */
	info->netns_ino = tcps_netns_ino();
	info->max_conns = r->opts.max_conns;
	info->pid = (__u32)getpid();
	info->started_ns = tcps_real_now();
	info->start_ticks = tcps_proc_start_ticks(info->pid, NULL);
	/* The entries' size, as the half-open table's values (the slot
	 * array's are the slot header and this). */
	info->value_size = (__u64)bpf_map__value_size(r->d.skel->maps.tcps_halfopen);
	tcps_output_set_info(info);
	r->d.pins.info = bpf_map__fd(r->d.skel->maps.tcps_info);
	tcps_daemon_info_update(&r->d);
}

/* The programs onto the interfaces (signals first, so that a signal in
 * between still leads to a clean detach), their pins, the modules. */
static int run_attach(struct run_ctx *r)
{
	struct tcps_daemon *d = &r->d;
	struct sigaction sa = { .sa_handler = on_signal };
	const struct tcps_module *m;
	int err, i;

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	for (i = 0; i < r->opts.n_ifaces; i++) {
		err = tcps_iface_attach(d, &r->opts.ifaces[i]);
		if (err)
			return err;
	}
	tcps_progs_pin(d);
	for (m = tcps_modules; m->name; m++, r->started++) {
		if (m->start && (err = m->start(d)))
			return err;
	}
	return 0;
}

/*
 * Transition events only while something reads them: stdout, the events
 * file, a reader on the event socket. With none (run -q, nobody attached)
 * the data path makes none, as conntrack makes no events without a
 * listener: ~100 ns a packet of churn (bench/NOTES.md). The counters,
 * gauges and health go on. Called after the modules' ticks, in which a
 * reader is accepted; --persist turns them on for the gap (the next run
 * prints what queued).
 */
static void events_gate(struct tcps_daemon *d, bool force_on)
{
	__u64 clients = 0, dropped;
	bool on;

	tcps_evsock_stats(&clients, &dropped);
	on = force_on || (!d->opts->quiet && !d->stdout_broken) || d->opts->events_file ||
	     clients > 0;
	if (!d->skel || !d->skel->data || on == !!d->skel->data->tcps_events_on)
		return;
	d->skel->data->tcps_events_on = on;
	pr_debug("transition events %s", on ? "on" : "off: nobody reads them");
}

/* The data path's transitions counter (summed over CPUs), 0 if unread. */
static __u64 data_path_transitions(struct tcps_daemon *d)
{
	__u64 c[TCPS_CNT_MAX];

	return tcps_counters_read(d->pins.stats, c) ? 0 : c[TCPS_CNT_TRANSITIONS];
}

/* The transitions of this run: the data path's since it started, and those
 * made here; right also while events are off. */
static __u64 run_transitions(struct tcps_daemon *d)
{
	__u64 now = data_path_transitions(d);

	if (now < d->trans_at_start)
		return d->events_seen;
	return now - d->trans_at_start + d->own_events;
}

/* Everything between the pin directory and the first poll. */
static int run_setup(struct run_ctx *r)
{
	struct tcps_daemon *d = &r->d;
	int err;

	err = run_load(r);
	if (err)
		return err;
	run_publish_info(r);
	r->pinned = true;
	err = tcps_maps_pin(d);
	if (err)
		return err;
	d->trans_at_start = data_path_transitions(d);

	r->rb = ring_buffer__new(d->pins.events, on_ringbuf, d, NULL);
	if (!r->rb) {
		pr_err("cannot open the ring buffer: %s", strerror(errno));
		return TCPS_EXIT_FAIL;
	}
	/* An adopted ring buffer keeps its consumer position: what the old
	 * programs recorded while no daemon ran is delivered now. */
	if (d->adopting)
		adopt_report(d, r->rb);
	err = run_attach(r);
	if (err)
		return err;
	daemon_flush(d);	/* seed transitions, before the first poll */
	events_gate(d, false);
	pr_info("tracking on %d interface%s%s%s%s; maps pinned in %s%s", r->opts.n_ifaces,
		r->opts.n_ifaces == 1 ? "" : "s",
		r->opts.n_patterns ? " (and any matching '" : "",
		r->opts.n_patterns ? r->opts.patterns[0] : "",
		r->opts.n_patterns > 1 ? "'...)" : r->opts.n_patterns ? "')" : "",
		r->opts.pin_dir, r->opts.daemonize ? "" : "; Ctrl-C to stop");
	tcps_daemon_ready(&r->ready_fd, TCPS_EXIT_OK);
	/* Taken over: from now on a failure is ours to clean up, and an XDP
	 * program of tcpscope found later is not to be replaced. */
	d->adopting = false;
	return 0;
}

static int run_loop(struct run_ctx *r)
{
	struct tcps_daemon *d = &r->d;
	const struct tcps_module *m;
	int err;

	while (!exiting) {
		__u64 now = tcps_mono_now();

		if (hangup) {
			/* Log rotation: syslog here; modules see reopen_logs for
			 * exactly one round of ticks. */
			hangup = 0;
			d->reopen_logs = 1;
			tcps_logs_reopen();
			pr_info("SIGHUP: reopening logs");
		}
		for (m = tcps_modules; m->name; m++)
			if (m->tick)
				m->tick(d, now);
		events_gate(d, false);
		d->reopen_logs = 0;
		if (d->exit_code)
			return d->exit_code;	/* a module cannot go on (logged) */
		daemon_flush(d);	/* timeouts and seed changes of the ticks */
		/* The BPF side wakes us only when the ring fills past a mark
		 * (per-event wake-ups cost µs); so poll, then always drain. */
		err = ring_buffer__poll(r->rb, 100);
		if (err < 0 && err != -EINTR) {
			pr_err("ring buffer: %s", strerror(-err));
			return TCPS_EXIT_FAIL;
		}
		daemon_drain(d, r->rb);
	}
	daemon_drain(d, r->rb);
	return TCPS_EXIT_OK;
}

/* --persist: leave programs attached (XDP and tc attachments hold their
 * own references) and the maps pinned; the ring buffer accumulates until
 * the next run adopts it. pid 0: nobody owns the pins. */
static void run_leave_persisted(struct run_ctx *r)
{
	__u32 zero = 0;

	r->d.pins.meta.pid = 0;
	bpf_map_update_elem(r->d.pins.info, &zero, &r->d.pins.meta, BPF_ANY);
	events_gate(&r->d, true);	/* the gap's transitions queue for the next run */
	pr_info("--persist: programs stay attached and maps pinned in %s (%llu transitions seen); 'tcpscope run' adopts them, 'tcpscope detach --pin-dir %s' removes them",
		r->opts.pin_dir, (unsigned long long)run_transitions(&r->d), r->opts.pin_dir);
}

/* Undo what the run did (or keep it, with --persist); returns err. */
static int run_cleanup(struct run_ctx *r, int err)
{
	struct tcps_daemon *d = &r->d;
	int i;

	while (r->started-- > 0)
		if (tcps_modules[r->started].stop)
			tcps_modules[r->started].stop(d);
	tcps_pins_close(&r->old);
	if (err == TCPS_EXIT_OK && r->opts.persist && d->skel) {
		run_leave_persisted(r);
	} else if (d->adopting && err != TCPS_EXIT_OK && !exiting) {
		/* A failed takeover leaves what it found (and any program it
		 * already replaced, which feeds the same maps) for the next try. */
	} else {
		for (i = r->opts.n_ifaces - 1; i >= 0; i--)
			if (d->skel)
				tcps_iface_detach(d, &r->opts.ifaces[i]);
		if (r->pinned)
			tcps_pins_remove(r->opts.pin_dir);	/* maps and programs */
		else if (r->made_dir || d->adopting)
			rmdir(r->opts.pin_dir);
		if (err == TCPS_EXIT_OK)
			pr_info("detached; %llu transitions seen",
				(unsigned long long)run_transitions(d));
	}
	ring_buffer__free(r->rb);
	tcpscope_bpf__destroy(d->skel);
	tcps_evbatch_free(&d->batch);
	tcps_daemon_ready(&r->ready_fd, err);
	if (r->pidfd >= 0)
		tcps_pidfile_release(r->opts.pidfile, r->pidfd);
	return err;
}

int cmd_run(int argc, char **argv)
{
	struct run_ctx r = {
		.opts = {
			.mode = TCPS_MODE_HOST,
			.max_conns = TCPS_MAX_CONNS_DEFAULT,
			.ring_bytes = TCPS_RINGBUF_BYTES,
			.pin_dir = TCPS_PIN_DIR_DEFAULT,
			.seed_interval_s = 10,
			.time_wait_s = 60,
		},
		.old = { .conns = -1, .halfopen = -1, .events = -1,
			 .stats = -1, .trans = -1, .info = -1, .sys = -1 },
		.d = { .pins = { .conns = -1, .halfopen = -1, .events = -1,
				 .stats = -1, .trans = -1, .info = -1, .sys = -1 } },
		.pidfd = -1,
		.ready_fd = -1,
	};
	int err;

	r.d.opts = &r.opts;
	r.d.stdout_tty = isatty(STDOUT_FILENO);
	err = tcps_run_parse_args(argc, argv, &r.opts);
	if (err)
		return err < 0 ? TCPS_EXIT_OK : err;
	err = run_preflight(&r);
	if (!err)
		err = run_daemonize(&r);
	if (err)
		return err;
	err = run_take_pin_dir(&r);
	if (!err)
		err = run_setup(&r);
	if (!err)
		err = run_loop(&r);
	return run_cleanup(&r, err);
}
