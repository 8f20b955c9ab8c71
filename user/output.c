// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <arpa/inet.h>
#include <net/if.h>
#include <string.h>

#include "health.h"
#include "output.h"

static const struct tcps_info *ifinfo;

void tcps_output_set_info(const struct tcps_info *info)
{
	ifinfo = info;
}

static void ifname_of(__u32 ifindex, char *buf, size_t len)
{
	unsigned int i;

	buf[0] = '\0';
	if (!ifindex)
		return;
	for (i = 0; ifinfo && i < sizeof(ifinfo->ifaces) / sizeof(ifinfo->ifaces[0]); i++) {
		if (ifinfo->ifaces[i].ifindex == ifindex) {
			snprintf(buf, len, "%.15s", ifinfo->ifaces[i].name);
			return;
		}
	}
	if (!if_indextoname(ifindex, buf))
		snprintf(buf, len, "if%u", ifindex);
}

void tcps_view_of(const struct tcps_key *k, const struct tcps_conn *c, __u32 mode,
		  struct tcps_view *v)
{
	v->first = tcps_first_side(c, mode);
	v->second = !v->first;
	tcps_addr_str(k, v->first, v->faddr, sizeof(v->faddr));
	tcps_addr_str(k, v->second, v->saddr, sizeof(v->saddr));
	v->fport = ntohs(k->port[v->first]);
	v->sport = ntohs(k->port[v->second]);
	v->fstate = tcps_state_name(c->fsm.ep[v->first].state);
	v->sstate = tcps_state_name(c->fsm.ep[v->second].state);
	v->family = k->family == TCPS_AF_INET6 ? "ipv6" : "ipv4";
	ifname_of(c->ifindex, v->ifname, sizeof(v->ifname));
}

static void add_str(json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

static void add_int(json_object *o, const char *k, long long v)
{
	json_object_object_add(o, k, json_object_new_int64(v));
}

static void add_time(json_object *o, const char *k, __u64 mono_ns)
{
	char buf[40];

	tcps_fmt_time(tcps_mono_to_real(mono_ns), buf, sizeof(buf));
	add_str(o, k, buf);
}

json_object *tcps_conn_json(const struct tcps_row *r, __u32 mode)
{
	const struct tcps_conn *c = &r->val;
	bool passive = mode == TCPS_MODE_PASSIVE;
	json_object *o = json_object_new_object();
	struct tcps_view v;

	tcps_view_of(&r->key, c, mode, &v);
	add_str(o, "family", v.family);
	add_str(o, passive ? "orig_addr" : "local_addr", v.faddr);
	add_int(o, passive ? "orig_port" : "local_port", v.fport);
	add_str(o, passive ? "resp_addr" : "remote_addr", v.saddr);
	add_int(o, passive ? "resp_port" : "remote_port", v.sport);
	add_str(o, passive ? "orig_state" : "state", v.fstate);
	add_str(o, passive ? "resp_state" : "remote_state", v.sstate);
	add_str(o, "ifname", v.ifname);
	json_object_object_add(o, "midstream",
			       json_object_new_boolean(!!(c->fsm.flags & TCPS_C_MIDSTREAM)));
	json_object_object_add(o, "halfopen", json_object_new_boolean(r->halfopen));
	/* in = sent by the second side (remote / resp), out = by the first. */
	add_int(o, passive ? "resp_packets" : "packets_in", (long long)c->pkts[v.second]);
	add_int(o, passive ? "orig_packets" : "packets_out", (long long)c->pkts[v.first]);
	add_int(o, passive ? "resp_bytes" : "bytes_in", (long long)c->bytes[v.second]);
	add_int(o, passive ? "orig_bytes" : "bytes_out", (long long)c->bytes[v.first]);
	add_time(o, "first_seen", c->first_seen);
	add_time(o, "last_seen", c->last_seen);
	tcps_health_json(o, r, mode);
	return o;
}

static const char *event_side(const struct tcps_event *e, __u32 mode)
{
	if (mode == TCPS_MODE_PASSIVE)
		return (e->side == !!(e->conn_flags & TCPS_C_ORIG1)) ? "orig" : "resp";
	return (e->side == !!(e->conn_flags & TCPS_C_LOCAL1)) ? "local" : "remote";
}

static const char *const reasons[] = { "packet", "timeout", "seed" };

json_object *tcps_event_json(const struct tcps_event *e, __u32 mode)
{
	bool passive = mode == TCPS_MODE_PASSIVE;
	json_object *o = json_object_new_object();
	struct tcps_conn c = { .fsm.flags = e->conn_flags, .ifindex = e->ifindex };
	struct tcps_view v;
	char flags[9];

	tcps_view_of(&e->key, &c, mode, &v);
	tcps_flags_str(e->tcp_flags, flags);
	add_time(o, "time", e->ts);
	add_str(o, "family", v.family);
	add_str(o, passive ? "orig_addr" : "local_addr", v.faddr);
	add_int(o, passive ? "orig_port" : "local_port", v.fport);
	add_str(o, passive ? "resp_addr" : "remote_addr", v.saddr);
	add_int(o, passive ? "resp_port" : "remote_port", v.sport);
	add_str(o, "side", event_side(e, mode));
	add_str(o, "from", tcps_state_name(e->from));
	add_str(o, "to", tcps_state_name(e->to));
	add_str(o, "reason", e->reason < 3 ? reasons[e->reason] : "packet");
	add_str(o, "flags", flags);
	add_str(o, "ifname", v.ifname);
	add_int(o, "seq", e->seq);
	/* tcpstates' MS, in µs; null where unknown (leaving CLOSE, whose
	 * start nobody saw; an expiry or seed with no record; --no-health). */
	json_object_object_add(o, "prev_state_us",
			       tcps_health_enabled() && (e->prev_state_ns || (e->from != TCPS_CLOSE &&
									      e->reason == TCPS_REASON_PACKET)) ?
			       json_object_new_int64((int64_t)(e->prev_state_ns / 1000)) : NULL);
	return o;
}

/* netstat's form: a listener's missing remote port is "*". */
static void endpoint(char *buf, size_t len, const char *addr, unsigned int port, bool v6)
{
	char p[12];

	if (port)
		snprintf(p, sizeof(p), "%u", port);
	else
		snprintf(p, sizeof(p), "*");
	if (v6)
		snprintf(buf, len, "[%s]:%s", addr, p);
	else
		snprintf(buf, len, "%s:%s", addr, p);
}

void tcps_conn_text_header(FILE *f, __u32 mode)
{
	bool passive = mode == TCPS_MODE_PASSIVE;

	fprintf(f, "%-5s %-46s %-46s %-12s %-12s %10s %10s %12s %12s %8s\n", "Proto",
		passive ? "Orig Address" : "Local Address",
		passive ? "Resp Address" : "Foreign Address", passive ? "OrigState" : "State",
		passive ? "RespState" : "RemoteState", passive ? "PktsOrig" : "PktsIn",
		passive ? "PktsResp" : "PktsOut", passive ? "BytesOrig" : "BytesIn",
		passive ? "BytesResp" : "BytesOut", "Age");
}

void tcps_conn_text(FILE *f, const struct tcps_row *r, __u32 mode, __u64 now_mono)
{
	const struct tcps_conn *c = &r->val;
	bool v6 = r->key.family == TCPS_AF_INET6, passive = mode == TCPS_MODE_PASSIVE;
	char a[64], b[64], age[16];
	struct tcps_view v;
	__u64 secs;

	tcps_view_of(&r->key, c, mode, &v);
	endpoint(a, sizeof(a), v.faddr, v.fport, v6);
	endpoint(b, sizeof(b), v.saddr, v.sport, v6);
	secs = now_mono > c->first_seen ? (now_mono - c->first_seen) / 1000000000ULL : 0;
	if (secs < 3600)
		snprintf(age, sizeof(age), "%llum%02llus", secs / 60, secs % 60);
	else
		snprintf(age, sizeof(age), "%lluh%02llum", secs / 3600, (secs / 60) % 60);
	fprintf(f, "%-5s %-46s %-46s %-12s %-12s %10llu %10llu %12llu %12llu %8s\n",
		v6 ? "tcp6" : "tcp", a, b, v.fstate, v.sstate,
		(unsigned long long)c->pkts[passive ? v.first : v.second],
		(unsigned long long)c->pkts[passive ? v.second : v.first],
		(unsigned long long)c->bytes[passive ? v.first : v.second],
		(unsigned long long)c->bytes[passive ? v.second : v.first], age);
}

void tcps_event_text(FILE *f, const struct tcps_event *e, __u32 mode)
{
	struct tcps_conn c = { .fsm.flags = e->conn_flags };
	bool v6 = e->key.family == TCPS_AF_INET6;
	char t[40], a[64], b[64], flags[9];
	struct tcps_view v;

	tcps_view_of(&e->key, &c, mode, &v);
	tcps_fmt_time(tcps_mono_to_real(e->ts), t, sizeof(t));
	endpoint(a, sizeof(a), v.faddr, v.fport, v6);
	endpoint(b, sizeof(b), v.saddr, v.sport, v6);
	tcps_flags_str(e->tcp_flags, flags);
	fprintf(f, "%s %s > %s %-6s %s -> %s (%s%s%s)\n", t, a, b, event_side(e, mode),
		tcps_state_name(e->from), tcps_state_name(e->to),
		e->reason < 3 ? reasons[e->reason] : "packet", *flags ? " " : "", flags);
}

void tcps_json_print(FILE *f, json_object *obj)
{
	fprintf(f, "%s\n", json_object_to_json_string_ext(obj, TCPS_JSON_FLAGS));
	json_object_put(obj);
}
