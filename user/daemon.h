/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The running instance (`tcpscope run`): what its parts (loader, event
 * sinks, expiry, socket seeding, exports) share. */
#ifndef TCPS_DAEMON_H
#define TCPS_DAEMON_H

#include <net/if.h>
#include <stdbool.h>

#include "common.h"
#include "evorder.h"
#include "maps.h"

#define TCPS_MAX_IFACES 16

enum tcps_hook {
	TCPS_HOOK_AUTO,
	TCPS_HOOK_XDP,
	TCPS_HOOK_TC,
};

enum tcps_xdp_mode {
	TCPS_XDP_AUTO,
	TCPS_XDP_NATIVE,
	TCPS_XDP_GENERIC,
};

struct tcps_iface {
	char name[IF_NAMESIZE];
	int ifindex;
	/* what we attached, so that we undo exactly that */
	bool xdp_attached;
	__u32 xdp_flags;
	bool tc_hook_created;
	bool tc_ingress_attached;
	bool tc_egress_attached;
	const char *ingress_desc;	/* "xdp (native)", "tc" ... */
	/* ifindex 0: a named interface (-i NAME) that is gone for now; it is
	 * attached again when a link of that name appears (links.c). */
	bool dynamic;			/* matched a pattern: forgotten when it goes */
	int refused_ifindex;		/* needed an ingress program not loaded: said once */
};

struct tcps_run_opts {
	struct tcps_iface ifaces[TCPS_MAX_IFACES];	/* the interfaces watched now */
	int n_ifaces;
	const char *patterns[TCPS_MAX_IFACES];	/* -i 'veth*': fnmatch(3) patterns */
	int n_patterns;
	__u32 mode;			/* enum tcps_mode */
	enum tcps_hook hook;
	enum tcps_xdp_mode xdp_mode;
	__u32 max_conns;
	__u32 max_halfopen;		/* --max-halfopen; 0: tcps_halfopen_default */
	__u32 ring_bytes;		/* --ring-size: the events' ring buffer, a power of two */
	const char *pin_dir;
	bool json;			/* events as JSON lines */
	bool quiet;			/* no event output on stdout */
	bool force;			/* replace another XDP program */
	bool no_health;			/* --no-health: tcps_health const volatile off */
	bool prealloc;			/* --prealloc: the whole connection table at start */

	/* daemon (issue 3) */
	bool daemonize;			/* --daemon */
	const char *pidfile;		/* --pidfile; NULL: derived from pin_dir */
	bool persist;			/* --persist: leave programs and pins on exit */
	bool no_seed;			/* --no-seed: do not read the socket table */
	__u32 seed_interval_s;		/* --seed-interval: listener refresh, seconds */
	__u32 time_wait_s;		/* --time-wait: TIME_WAIT lifetime (2MSL) */
	__u32 timeouts_s[TCPS_STATE_MAX];	/* idle timeout per state, seconds */
	__u32 close_linger_s;		/* CLOSE entries leave after this */
	/* exports (issue 4) */
	const char *listen;		/* --listen [ADDR:]PORT for HTTP */
	const char *events_file;	/* --events-file: JSON lines, reopened on SIGHUP */
	const char *event_socket;	/* --event-socket: fan-out for 'tcpscope events' */
};

struct tcpscope_bpf;

struct tcps_daemon {
	struct tcps_run_opts *opts;
	struct tcpscope_bpf *skel;	/* NULL when the maps were adopted */
	struct tcps_pins pins;		/* fds of the live maps */
	bool adopting;			/* took over the pins (and programs) of a --persist run */
	__u64 events_seen;
	__u64 own_events;		/* of them, made here (timeouts, seeds) */
	__u64 trans_at_start;		/* the data path's transitions counter then */
	bool stdout_broken;
	bool stdout_tty;		/* flush per line only for a terminal */
	bool stdout_dirty;
	volatile int reopen_logs;	/* set by SIGHUP */
	struct tcps_evbatch batch;	/* one ring-buffer drain, put in causal order */
	int exit_code;			/* set by a module that cannot go on: the loop ends */
	void *priv[8];			/* per-module state, indexed by module slot */
};

/* Every transition, from the ring buffer or made in userspace (timeout,
 * seed), goes through here to stdout and to every module's event hook. */
void tcps_daemon_emit(struct tcps_daemon *d, const struct tcps_event *e);
/* The interface list changed: rewrite it in the info map (and pins.meta). */
void tcps_daemon_info_update(struct tcps_daemon *d);
/* The collector's next epoch (tcps_info.slots_epoch + 1) into the info
 * map; a tcps_epoch_fn (slots.h) with the daemon as its context. */
int tcps_daemon_next_epoch(void *d);

/*
 * Parts of the daemon beyond the loader (expiry, socket seeding, event
 * socket, HTTP export, events file) plug in as modules: each is a row in
 * tcps_modules[] (modules.c) with optional hooks, called in table order
 * (stop in reverse). start returns 0 or a TCPS_EXIT_* code (logged); a
 * module that is not enabled by the options returns 0 and does nothing.
 * tick runs at least every 100 ms from the main loop; it must not block.
 */
struct tcps_module {
	const char *name;
	int (*start)(struct tcps_daemon *d);
	void (*tick)(struct tcps_daemon *d, __u64 now_mono_ns);
	void (*event)(struct tcps_daemon *d, const struct tcps_event *e);
	void (*stop)(struct tcps_daemon *d);
};

extern const struct tcps_module tcps_modules[];

int cmd_run(int argc, char **argv);

#endif /* TCPS_DAEMON_H */
