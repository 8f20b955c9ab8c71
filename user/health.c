// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "health.h"
#include "maps.h"
#include "output.h"
#include "owners.h"

static bool health_on = true;
static const struct tcps_owners *owners;

void tcps_health_set_owners(const struct tcps_owners *o)
{
	owners = o;
}

void tcps_health_set_enabled(bool on)
{
	health_on = on;
}

bool tcps_health_enabled(void)
{
	return health_on;
}

void tcps_health_view_of(const struct tcps_conn *c, __u32 mode, struct tcps_health_view *v)
{
	const struct tcps_health *h = &c->h;
	int f = tcps_first_side(c, mode), s = !f;
	int orig = !!(c->fsm.flags & TCPS_C_ORIG1);

	memset(v, 0, sizeof(*v));
	v->hs_done = h->flags & TCPS_H_HS_DONE;
	if (mode == TCPS_MODE_PASSIVE) {
		/* rtt[i] times side i's segments to the peer and back: the
		 * halves on either side of the observer add up. */
		if (h->srtt_us[0] && h->srtt_us[1]) {
			v->rtt_us = h->srtt_us[0] + h->srtt_us[1];
			v->rtt_min_us = h->rtt_min_us[0] + h->rtt_min_us[1];
			v->rtt_last_us = h->rtt_us[0] + h->rtt_us[1];
		}
		/* SYN -> SYN+ACK is the resp side's half, SYN+ACK -> ACK the orig's. */
		if (v->hs_done) {
			v->hs_remote_us = h->hs_us[0];
			v->hs_local_us = h->hs_us[1];
			v->hs_us = h->hs_us[0] + h->hs_us[1];
		}
	} else {
		v->rtt_us = h->srtt_us[f];
		v->rtt_min_us = h->rtt_min_us[f];
		v->rtt_last_us = h->rtt_us[f];
		/* A local client: SYN (out) -> SYN+ACK (in) is the network.
		 * A local server: SYN+ACK (out) -> ACK (in) is. */
		if (v->hs_done) {
			v->hs_us = h->hs_us[orig == f ? 0 : 1];
			v->hs_local_us = h->hs_us[orig == f ? 1 : 0];
		}
	}
	v->retrans_out = h->retrans[f];
	v->retrans_in = h->retrans[s];
	v->rbytes_out = h->retrans_bytes[f];
	v->rbytes_in = h->retrans_bytes[s];
	v->ooo_out = h->ooo[f];
	v->ooo_in = h->ooo[s];
	v->dup_out = h->dupacks[f];
	v->dup_in = h->dupacks[s];
	v->zwin_out = h->zwin[f];
	v->zwin_in = h->zwin[s];
	v->duration_ns = c->last_seen > c->first_seen ? c->last_seen - c->first_seen : 0;
}

static void add_u(struct tcps_jw *o, const char *k, __u64 v)
{
	tcps_jw_int(o, k, (long long)v);
}

/* 0 means "no sample": null, as a missing measurement. */
static void add_us(struct tcps_jw *o, const char *k, __u32 v, bool have)
{
	if (have && v)
		tcps_jw_int(o, k, v);
	else
		tcps_jw_null(o, k);
}

void tcps_health_emit(struct tcps_jw *o, const struct tcps_row *r, __u32 mode)
{
	const struct tcps_conn *c = &r->val;
	bool passive = mode == TCPS_MODE_PASSIVE, on = health_on;
	struct tcps_health_view v;

	tcps_health_view_of(c, mode, &v);
	if (on)
		add_u(o, "duration_us", v.duration_ns / 1000);
	else
		tcps_jw_null(o, "duration_us");	/* no start time kept */
	if (owners) {
		const struct tcps_owner *w = passive ? NULL :
					     tcps_owner_find(owners, &r->key, tcps_first_side(c, mode));

		if (w)
			tcps_jw_int(o, "pid", w->pid);
		else
			tcps_jw_null(o, "pid");
		tcps_jw_str(o, "comm", w ? w->comm : NULL);
		tcps_jw_str(o, "cgroup", w ? w->cgroup : NULL);
	}
	add_us(o, "rtt_us", v.rtt_us, on);
	add_us(o, "rtt_min_us", v.rtt_min_us, on);
	add_us(o, "rtt_last_us", v.rtt_last_us, on);
	add_us(o, "handshake_rtt_us", v.hs_us, on && v.hs_done);
	if (passive) {
		add_us(o, "handshake_orig_us", v.hs_local_us, on && v.hs_done);
		add_us(o, "handshake_resp_us", v.hs_remote_us, on && v.hs_done);
		/* Each half: side i's segments to its peer and back. */
		add_us(o, "rtt_orig_half_us", c->h.srtt_us[!tcps_first_side(c, mode)], on);
		add_us(o, "rtt_resp_half_us", c->h.srtt_us[tcps_first_side(c, mode)], on);
	} else {
		add_us(o, "handshake_local_us", v.hs_local_us, on && v.hs_done);
	}
	if (!on)
		return;
	add_u(o, passive ? "orig_retrans_segs" : "retrans_segs_out", v.retrans_out);
	add_u(o, passive ? "resp_retrans_segs" : "retrans_segs_in", v.retrans_in);
	add_u(o, passive ? "orig_retrans_bytes" : "retrans_bytes_out", v.rbytes_out);
	add_u(o, passive ? "resp_retrans_bytes" : "retrans_bytes_in", v.rbytes_in);
	add_u(o, passive ? "orig_out_of_order" : "out_of_order_out", v.ooo_out);
	add_u(o, passive ? "resp_out_of_order" : "out_of_order_in", v.ooo_in);
	add_u(o, passive ? "orig_dup_acks" : "dup_acks_out", v.dup_out);
	add_u(o, passive ? "resp_dup_acks" : "dup_acks_in", v.dup_in);
	add_u(o, passive ? "orig_zero_windows" : "zero_windows_out", v.zwin_out);
	add_u(o, passive ? "resp_zero_windows" : "zero_windows_in", v.zwin_in);
}

int tcps_health_cmp_rtt(const struct tcps_conn *a, const struct tcps_conn *b, __u32 mode)
{
	struct tcps_health_view x, y;

	tcps_health_view_of(a, mode, &x);
	tcps_health_view_of(b, mode, &y);
	/* Slowest first; no sample yet goes last. */
	return x.rtt_us > y.rtt_us ? -1 : x.rtt_us < y.rtt_us;
}

int tcps_health_cmp_retrans(const struct tcps_conn *a, const struct tcps_conn *b, __u32 mode)
{
	__u64 x = (__u64)a->h.retrans[0] + a->h.retrans[1], y = (__u64)b->h.retrans[0] + b->h.retrans[1];

	(void)mode;
	return x > y ? -1 : x < y;
}

static void ms_str(char *buf, size_t len, __u32 us)
{
	if (!us || !health_on)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.3f", us / 1000.0);
}

static void dur_str(char *buf, size_t len, __u64 ns)
{
	__u64 s = ns / 1000000000ULL;

	if (s < 60)
		snprintf(buf, len, "%.3fs", ns / 1e9);
	else if (s < 3600)
		snprintf(buf, len, "%llum%02llus", s / 60, s % 60);
	else
		snprintf(buf, len, "%lluh%02llum", s / 3600, (s / 60) % 60);
}

/* The two address cells of r, as list's table writes them. */
static void info_addrs(const struct tcps_row *r, __u32 mode, struct tcps_view *v, char a[64],
		       char b[64])
{
	bool v6 = r->key.family == TCPS_AF_INET6;

	tcps_view_of(&r->key, &r->val, mode, v);
	tcps_endpoint_str(a, 64, v->faddr, v->fport, v6);
	tcps_endpoint_str(b, 64, v->saddr, v->sport, v6);
}

int tcps_info_addr_width(const struct tcps_row *r, __u32 mode)
{
	struct tcps_view v;
	char a[64], b[64];
	size_t n;

	info_addrs(r, mode, &v, a, b);
	n = strlen(a) > strlen(b) ? strlen(a) : strlen(b);
	return (int)n;
}

void tcps_info_text_header(FILE *f, __u32 mode, bool owners, int aw)
{
	bool passive = mode == TCPS_MODE_PASSIVE;

	if (aw < (int)strlen("Foreign Address"))
		aw = (int)strlen("Foreign Address");
	fprintf(f, "%-5s %-*s %-*s %-11s %-16s %-14s %8s%s\n", "Proto", aw,
		passive ? "Orig Address" : "Local Address", aw,
		passive ? "Resp Address" : "Foreign Address", passive ? "OrigState" : "State",
		"RTT(ms) srtt/min", passive ? "Retr orig/resp" : "Retr out/in", "Duration",
		owners ? " Owner" : "");
}

void tcps_info_text(FILE *f, const struct tcps_row *r, __u32 mode, const char *owner, int aw)
{
	bool v6 = r->key.family == TCPS_AF_INET6;
	char a[64], b[64], rtt[24], s1[12], s2[12], retr[24], dur[16];
	struct tcps_health_view h;
	struct tcps_view v;

	if (aw < (int)strlen("Foreign Address"))
		aw = (int)strlen("Foreign Address");
	info_addrs(r, mode, &v, a, b);
	tcps_health_view_of(&r->val, mode, &h);
	ms_str(s1, sizeof(s1), h.rtt_us);
	ms_str(s2, sizeof(s2), h.rtt_min_us);
	snprintf(rtt, sizeof(rtt), "%s/%s", s1, s2);
	if (health_on)
		snprintf(retr, sizeof(retr), "%u/%u", h.retrans_out, h.retrans_in);
	else
		snprintf(retr, sizeof(retr), "-");
	if (health_on)
		dur_str(dur, sizeof(dur), h.duration_ns);
	else
		snprintf(dur, sizeof(dur), "-");
	fprintf(f, "%-5s %-*s %-*s %-11s %-16s %-14s %8s%s%s\n", v6 ? "tcp6" : "tcp", aw, a, aw, b,
		v.fstate, rtt, retr, dur, owner ? " " : "", owner ? owner : "");
}

/* ---- /metrics --------------------------------------------------------- */

int tcps_hist_read(int fd, __u64 out[TCPS_HIST_SLOTS])
{
	return tcps_percpu_sum(fd, TCPS_HIST_BASE, TCPS_HIST_SLOTS, out);
}

static const char *const port_ranges[TCPS_PORTS_MAX] = { "0-1023", "1024-49151", "49152-65535" };

/* The bounds of tcps_hist_bucket(), in seconds. */
static const char *const le_us[TCPS_HIST_BOUNDS] = {
	"0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
	"0.05",	  "0.1",     "0.25",   "0.5",	"1",	  "2.5",   "5",	   "10",
};
static const char *const le_ms[TCPS_HIST_BOUNDS] = {
	"0.001", "0.01", "0.1",	 "0.5",	 "1",	 "5",	  "10",	   "30",
	"60",	 "300",	 "600",	 "1800", "3600", "21600", "43200", "86400",
};

static void hist_family(FILE *f, const __u64 *hist, int kind, const char *name, const char *help)
{
	const char *const *le = kind == TCPS_HIST_DURATION ? le_ms : le_us;
	double unit = kind == TCPS_HIST_DURATION ? 1e3 : 1e6;
	int pc, b;

	fprintf(f, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (pc = 0; pc < TCPS_PORTS_MAX; pc++) {
		const __u64 *h = hist + (kind * TCPS_PORTS_MAX + pc) * TCPS_HIST_STRIDE;
		__u64 cum = 0;

		for (b = 0; b < TCPS_HIST_BOUNDS; b++) {
			cum += h[b];
			fprintf(f, "%s_bucket{port_range=\"%s\",le=\"%s\"} %llu\n", name,
				port_ranges[pc], le[b], (unsigned long long)cum);
		}
		cum += h[TCPS_HIST_BOUNDS];
		fprintf(f, "%s_bucket{port_range=\"%s\",le=\"+Inf\"} %llu\n", name, port_ranges[pc],
			(unsigned long long)cum);
		fprintf(f, "%s_sum{port_range=\"%s\"} %.6f\n", name, port_ranges[pc],
			(double)h[TCPS_HIST_BOUNDS + 1] / unit);
		fprintf(f, "%s_count{port_range=\"%s\"} %llu\n", name, port_ranges[pc],
			(unsigned long long)cum);
	}
}

void tcps_health_metrics_write(FILE *f, const __u64 hist[TCPS_HIST_SLOTS])
{
	hist_family(f, hist, TCPS_HIST_HANDSHAKE, "tcpscope_handshake_rtt_seconds",
		    "Handshake RTT at the hook (host mode: the network half; passive: both "
		    "halves), by local port range.");
	hist_family(f, hist, TCPS_HIST_RTT, "tcpscope_rtt_seconds",
		    "RTT samples from TCP timestamps or data/ACK (host mode: the local side's "
		    "segments; passive: both halves), by local port range.");
	hist_family(f, hist, TCPS_HIST_DURATION, "tcpscope_connection_duration_seconds",
		    "Connection duration, first packet to the one that closed both ends, by local port range.");
}
