// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * /metrics in the Prometheus text format 0.0.4. Everything comes from the
 * maps: connection gauges from the per-state gauges that the data path and
 * the daemon keep (gauges.c, O(1) per scrape), transition counters from the
 * per-CPU tcps_trans map (exact even when the ring buffer drops events),
 * data-path counters from tcps_stats. No label ever carries a remote
 * address (cardinality: one series per peer would grow without bound).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "exports.h"
#include "health.h"
#include "query.h"

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static const char *const counter_help[TCPS_CNT_MAX] = {
	[TCPS_CNT_PACKETS] = "Packets seen by the tcpscope programs.",
	[TCPS_CNT_TCP] = "TCP segments parsed.",
	[TCPS_CNT_NON_TCP] = "Well-formed packets that are not TCP (or non-first fragments).",
	[TCPS_CNT_PARSE_ERR] = "Packets with truncated or malformed headers.",
	[TCPS_CNT_NEW_CONN] = "Connection entries created.",
	[TCPS_CNT_TRANSITIONS] = "Endpoint state changes.",
	[TCPS_CNT_RB_DROPS] = "Transition events lost because the ring buffer was full (the maps stay exact).",
	[TCPS_CNT_TABLE_FULL] = "Connection inserts refused because the table was full.",
	[TCPS_CNT_OOW] = "Out-of-window or unacceptable segments ignored by the state machine.",
	[TCPS_CNT_HALFOPEN_NEW] = "Entries created in the half-open (unanswered SYN) table.",
	[TCPS_CNT_PROMOTED] = "Half-open entries promoted to the connection table.",
	[TCPS_CNT_MIDSTREAM] = "Connections picked up mid-stream (first packet not a SYN).",
	[TCPS_CNT_FRAGMENTS] = "Non-first IP fragments passed without parsing.",
	[TCPS_CNT_RETRANS] = "Retransmitted TCP segments seen (GSO packets count their segments).",
};

/* What runs: version, ABI, mode and start time. */
static void write_info(FILE *f, const struct tcps_metrics *m)
{
	family(f, "tcpscope_build_info", "gauge",
	       "Version of the running tcpscope; the value is always 1.");
	fprintf(f, "tcpscope_build_info{version=\"%s\",abi=\"%u\",mode=\"%s\"} 1\n", TCPS_VERSION,
		m->info.abi, m->info.mode == TCPS_MODE_PASSIVE ? "passive" : "host");
	family(f, "tcpscope_start_time_seconds", "gauge",
	       "Start time of the daemon since the Unix epoch in seconds.");
	fprintf(f, "tcpscope_start_time_seconds %llu.%03llu\n",
		(unsigned long long)(m->info.started_ns / 1000000000ULL),
		(unsigned long long)(m->info.started_ns % 1000000000ULL) / 1000000);
}

/* The connection gauges: per state, closed, half-open, the table's fill. */
static void write_connections(FILE *f, const struct tcps_metrics *m)
{
	unsigned int i;

	family(f, "tcpscope_connections", "gauge",
	       "Tracked connections by the state of the local endpoint (originator in passive mode).");
	for (i = 1; i < TCPS_STATE_MAX; i++)
		fprintf(f, "tcpscope_connections{state=\"%s\"} %llu\n", tcps_state_name(i),
			(unsigned long long)m->states[i]);
	family(f, "tcpscope_closed_connections", "gauge",
	       "Connections closed within the CLOSE linger, kept so their end can be listed (not sockets: not in tcpscope_connections).");
	fprintf(f, "tcpscope_closed_connections %llu\n", (unsigned long long)m->closed);
	family(f, "tcpscope_halfopen_connections", "gauge",
	       "Entries in the half-open (unanswered SYN) table.");
	fprintf(f, "tcpscope_halfopen_connections %llu\n", (unsigned long long)m->halfopen);
	family(f, "tcpscope_table_entries", "gauge", "Entries in the connection table.");
	fprintf(f, "tcpscope_table_entries %llu\n", (unsigned long long)m->conns);
	family(f, "tcpscope_table_max_entries", "gauge", "Size of the connection table.");
	fprintf(f, "tcpscope_table_max_entries %u\n", m->info.max_conns);
}

/* Transitions by from and to state, sparse, as client libraries create
 * labelled children on first use: only pairs that happened (at most
 * 11 x 11). */
static void write_transitions(FILE *f, const struct tcps_metrics *m)
{
	unsigned int from, to;

	family(f, "tcpscope_transitions_total", "counter",
	       "Endpoint state transitions by from and to state.");
	for (from = 0; from < TCPS_STATE_MAX; from++)
		for (to = 0; to < TCPS_STATE_MAX; to++) {
			__u64 v = m->trans[from * TCPS_STATE_MAX + to];

			if (v)
				fprintf(f, "tcpscope_transitions_total{from=\"%s\",to=\"%s\"} %llu\n",
					tcps_state_name(from), tcps_state_name(to),
					(unsigned long long)v);
		}
}

/* The data-path counters, one family each. */
static void write_counters(FILE *f, const struct tcps_metrics *m)
{
	unsigned int i;

	for (i = 0; i < TCPS_CNT_MAX; i++) {
		char name[96];

		/* The labelled family of write_transitions has this total. */
		if (i == TCPS_CNT_TRANSITIONS)
			continue;
		snprintf(name, sizeof(name), "tcpscope_%s_total", tcps_counter_name(i));
		family(f, name, "counter", counter_help[i] ? counter_help[i] : "Data-path counter.");
		fprintf(f, "%s %llu\n", name, (unsigned long long)m->counters[i]);
	}
}

/* The readers of the event socket, and what they lost. */
static void write_event_readers(FILE *f, const struct tcps_metrics *m)
{
	family(f, "tcpscope_event_readers", "gauge",
	       "Readers connected to the event socket ('tcpscope events').");
	fprintf(f, "tcpscope_event_readers %llu\n", (unsigned long long)m->evsock_clients);
	family(f, "tcpscope_event_reader_dropped_total", "counter",
	       "Transitions not delivered to event-socket readers that fell behind.");
	fprintf(f, "tcpscope_event_reader_dropped_total %llu\n",
		(unsigned long long)m->evsock_dropped);
}

void tcps_metrics_write(FILE *f, const struct tcps_metrics *m)
{
	write_info(f, m);
	write_connections(f, m);
	write_transitions(f, m);
	write_counters(f, m);
	write_event_readers(f, m);
	tcps_health_metrics_write(f, m->hist);
}

int tcps_metrics_read(const struct tcps_pins *p, struct tcps_metrics *m)
{
	int err;

	memset(m, 0, sizeof(*m));
	m->info = p->meta;
	/* The gauges: a scrape reads 28 slots, never the table. */
	err = tcps_state_totals(p, m->states, &m->conns, &m->halfopen);
	if (err)
		return err;
	/* As stat: a closed entry is no socket (ss shows none). */
	m->closed = m->states[TCPS_CLOSE];
	m->states[TCPS_CLOSE] = 0;
	err = tcps_counters_read(p->stats, m->counters);
	if (!err)
		err = tcps_trans_read(p->trans, m->trans);
	if (!err)
		err = tcps_hist_read(p->trans, m->hist);
	tcps_evsock_stats(&m->evsock_clients, &m->evsock_dropped);
	return err;
}
