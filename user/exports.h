/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Exports of the running daemon (issue 4): the event fan-out socket that
 * 'tcpscope events' and 'tcpscope top' read, the --events-file sink, the
 * HTTP endpoint (/metrics, /v1/stat, /v1/connections), and the Prometheus
 * text rendering they share. */
#ifndef TCPS_EXPORTS_H
#define TCPS_EXPORTS_H

#include <stdio.h>

#include "daemon.h"

/* Where the event socket lives when --event-socket is not given: bpffs
 * cannot hold sockets, so under /run/tcpscope/, named after the pin
 * directory (its path below /sys/fs/bpf with '/' turned into '-'):
 * /sys/fs/bpf/tcpscope -> /run/tcpscope/tcpscope.sock. */
#define TCPS_EVSOCK_DIR "/run/tcpscope"
int tcps_evsock_default_path(const char *pin_dir, char *buf, size_t len);

/* Client side: connect to the daemon's event socket and ask for JSON lines
 * or text lines. Returns the fd (reads then yield lines; lines starting
 * with '#' are notices from the daemon, not transitions) or -errno. */
int tcps_evsock_connect(const char *path, bool json);

/* Event socket module (events.c). */
int tcps_evsock_start(struct tcps_daemon *d);
void tcps_evsock_tick(struct tcps_daemon *d, __u64 now);
void tcps_evsock_event(struct tcps_daemon *d, const struct tcps_event *e);
void tcps_evsock_stop(struct tcps_daemon *d);
/* Readers connected now and transitions dropped for slow readers so far;
 * safe to call from any thread (the HTTP thread reads them). */
void tcps_evsock_stats(__u64 *clients, __u64 *dropped);

/* --events-file module (evfile.c). */
int tcps_evfile_start(struct tcps_daemon *d);
void tcps_evfile_tick(struct tcps_daemon *d, __u64 now);
void tcps_evfile_event(struct tcps_daemon *d, const struct tcps_event *e);
void tcps_evfile_stop(struct tcps_daemon *d);

/* HTTP module (http.c). */
/* Syntax of --listen [ADDR:]PORT (host 127.0.0.1 when only a port). */
int tcps_http_parse_listen(const char *spec, char *host, size_t hlen, char *port, size_t plen);
int tcps_http_start(struct tcps_daemon *d);
void tcps_http_stop(struct tcps_daemon *d);

/* Prometheus text format 0.0.4 (metrics.c), from what the maps hold. */
struct tcps_metrics {
	__u64 states[TCPS_STATE_MAX];	/* connections per state (first side); CLOSE is 0 */
	__u64 closed;			/* first side CLOSE: closed lately, not sockets */
	__u64 halfopen;			/* entries in the half-open table */
	__u64 conns;			/* entries in the main table */
	__u64 counters[TCPS_CNT_MAX];
	__u64 trans[TCPS_STATE_MAX * TCPS_STATE_MAX];
	struct tcps_info info;
	__u64 evsock_clients, evsock_dropped;
	__u64 hist[TCPS_TRANS_MAP_SLOTS - TCPS_HIST_BASE];	/* health.h */
};
void tcps_metrics_write(FILE *f, const struct tcps_metrics *m);
/* Fills m from open pins; 0 or -errno. */
int tcps_metrics_read(const struct tcps_pins *p, struct tcps_metrics *m);

int cmd_top(int argc, char **argv);
int cmd_events(int argc, char **argv);

#endif /* TCPS_EXPORTS_H */
