// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <arpa/inet.h>
#include <net/if.h>
#include <string.h>

#include "filter.h"
#include "health.h"
#include "output.h"
#include "utf8.h"

static const struct tcps_info *ifinfo;

void tcps_output_set_info(const struct tcps_info *info)
{
	ifinfo = info;
}

/* At most len - 1 bytes of s (a name, not printf: once a row). */
static void name_copy(char *buf, size_t len, const char *s, size_t max)
{
	size_t n = strnlen(s, max < len - 1 ? max : len - 1);

	memcpy(buf, s, n);
	buf[n] = '\0';
}

static void ifname_of(__u32 ifindex, char *buf, size_t len)
{
	unsigned int i;

	buf[0] = '\0';
	if (!ifindex)
		return;
	for (i = 0; ifinfo && i < sizeof(ifinfo->ifaces) / sizeof(ifinfo->ifaces[0]); i++) {
		if (ifinfo->ifaces[i].ifindex == ifindex) {
			name_copy(buf, len, ifinfo->ifaces[i].name, 15);
			return;
		}
	}
	/* Not a watched interface (or no info): ask the kernel, but once per
	 * index in a row, not a syscall per event (per thread: HTTP renders too). */
	{
		static __thread __u32 last_index;
		static __thread char last_name[IF_NAMESIZE];

		if (ifindex != last_index) {
			if (!if_indextoname(ifindex, last_name))
				snprintf(last_name, sizeof(last_name), "if%u", ifindex);
			last_index = ifindex;
		}
		name_copy(buf, len, last_name, sizeof(last_name));
	}
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

/* ---- one field list, two back ends (json-c object or jbuf text) ---- */

void tcps_jw_str(struct tcps_jw *w, const char *k, const char *v)
{
	if (!w->b) {
		json_object_object_add(w->o, k, v ? tcps_json_string(v) : NULL);
		return;
	}
	tcps_jbuf_key(w->b, k);
	if (v)
		tcps_jbuf_str(w->b, v);
	else
		tcps_jbuf_null(w->b);
}

void tcps_jw_int(struct tcps_jw *w, const char *k, long long v)
{
	if (!w->b) {
		json_object_object_add(w->o, k, json_object_new_int64(v));
		return;
	}
	tcps_jbuf_key(w->b, k);
	tcps_jbuf_int(w->b, v);
}

void tcps_jw_bool(struct tcps_jw *w, const char *k, bool v)
{
	if (!w->b) {
		json_object_object_add(w->o, k, json_object_new_boolean(v));
		return;
	}
	tcps_jbuf_key(w->b, k);
	tcps_jbuf_bool(w->b, v);
}

void tcps_jw_null(struct tcps_jw *w, const char *k)
{
	if (!w->b) {
		json_object_object_add(w->o, k, NULL);
		return;
	}
	tcps_jbuf_key(w->b, k);
	tcps_jbuf_null(w->b);
}

void tcps_jw_time(struct tcps_jw *w, const char *k, __u64 mono_ns)
{
	char buf[40];

	tcps_fmt_time(tcps_mono_to_real(mono_ns), buf, sizeof(buf));
	tcps_jw_str(w, k, buf);
}

/* A per-connection counter, null when the entries carry none (health off). */
static void conn_count(struct tcps_jw *w, const char *k, __u64 v)
{
	if (tcps_health_enabled())
		tcps_jw_int(w, k, (long long)v);
	else
		tcps_jw_null(w, k);
}

void tcps_conn_emit(struct tcps_jw *w, const struct tcps_row *r, __u32 mode)
{
	const struct tcps_conn *c = &r->val;
	bool passive = mode == TCPS_MODE_PASSIVE;
	struct tcps_view v;

	tcps_view_of(&r->key, c, mode, &v);
	tcps_jw_str(w, "family", v.family);
	tcps_jw_str(w, passive ? "orig_addr" : "local_addr", v.faddr);
	tcps_jw_int(w, passive ? "orig_port" : "local_port", v.fport);
	tcps_jw_str(w, passive ? "resp_addr" : "remote_addr", v.saddr);
	tcps_jw_int(w, passive ? "resp_port" : "remote_port", v.sport);
	tcps_jw_str(w, passive ? "orig_state" : "state", v.fstate);
	tcps_jw_str(w, passive ? "resp_state" : "remote_state", v.sstate);
	/* Health off: the entries carry no interface and no counters (tcpscope.h
	 * TCPS_CONN_SIZE_SLIM): null, not a zero that would read as a fact. */
	if (tcps_health_enabled())
		tcps_jw_str(w, "ifname", v.ifname);
	else
		tcps_jw_null(w, "ifname");
	tcps_jw_bool(w, "midstream", !!(c->fsm.flags & TCPS_C_MIDSTREAM));
	tcps_jw_bool(w, "halfopen", r->halfopen);
	/* in = sent by the second side (remote / resp), out = by the first. */
	conn_count(w, passive ? "resp_packets" : "packets_in", c->pkts[v.second]);
	conn_count(w, passive ? "orig_packets" : "packets_out", c->pkts[v.first]);
	conn_count(w, passive ? "resp_bytes" : "bytes_in", c->bytes[v.second]);
	conn_count(w, passive ? "orig_bytes" : "bytes_out", c->bytes[v.first]);
	if (tcps_health_enabled())
		tcps_jw_time(w, "first_seen", c->first_seen);
	else
		tcps_jw_null(w, "first_seen");	/* states only: no start time kept */
	tcps_jw_time(w, "last_seen", c->last_seen);
	tcps_health_emit(w, r, mode);
}

json_object *tcps_conn_json(const struct tcps_row *r, __u32 mode)
{
	struct tcps_jw w = { .o = json_object_new_object() };

	tcps_conn_emit(&w, r, mode);
	return w.o;
}

void tcps_conn_write(struct tcps_jbuf *b, const struct tcps_row *r, __u32 mode)
{
	struct tcps_jw w = { .b = b };

	tcps_jbuf_open(b);
	tcps_conn_emit(&w, r, mode);
	tcps_jbuf_close(b);
}

const char *tcps_event_side(const struct tcps_event *e, __u32 mode)
{
	if (mode == TCPS_MODE_PASSIVE)
		return (e->side == !!(e->conn_flags & TCPS_C_ORIG1)) ? "orig" : "resp";
	return (e->side == !!(e->conn_flags & TCPS_C_LOCAL1)) ? "local" : "remote";
}

const char *tcps_reason_name(__u8 reason)
{
	static const char *const reasons[] = { "packet", "timeout", "seed" };

	return reason < 3 ? reasons[reason] : "packet";
}

/* netstat's form: a listener's missing remote port is "*". */
void tcps_endpoint_str(char *buf, size_t len, const char *addr, unsigned int port, bool v6)
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

/* Columns of the connection table; numbers are right-aligned. */
enum { COL_PROTO, COL_LOCAL, COL_REMOTE, COL_STATE, COL_RSTATE, COL_PIN, COL_POUT, COL_BIN,
       COL_BOUT, COL_AGE, COL_FIXED };

static const char *const col_host[COL_FIXED] = {
	"Proto", "Local Address", "Foreign Address", "State", "RemoteState",
	"PktIn", "PktOut", "ByteIn", "ByteOut", "Age",
};
static const char *const col_passive[COL_FIXED] = {
	"Proto", "Orig Address", "Resp Address", "OrigState", "RespState",
	"PktOrig", "PktResp", "ByteOrig", "ByteResp", "Age",
};

static bool col_right(int c)
{
	return c >= COL_PIN && c <= COL_AGE;
}

static const char *col_name(const struct tcps_table *t, int c)
{
	if (c >= COL_FIXED)
		return t->extra[c - COL_FIXED];
	return (t->mode == TCPS_MODE_PASSIVE ? col_passive : col_host)[c];
}

void tcps_table_init(struct tcps_table *t, __u32 mode, __u64 now_mono, int nextra,
		     const char *const *extra_names)
{
	int c;

	memset(t, 0, sizeof(*t));
	t->mode = mode;
	t->now = now_mono;
	t->nextra = nextra < 0 ? 0 : nextra > TCPS_TABLE_EXTRA ? TCPS_TABLE_EXTRA : nextra;
	for (c = 0; c < t->nextra; c++)
		t->extra[c] = extra_names[c];
	for (c = 0; c < COL_FIXED + t->nextra; c++)
		t->w[c] = (int)strlen(col_name(t, c));
}

/* A counter's cell: "-" when the entries carry none (health off). */
static void count_cell(char cell[64], __u64 v)
{
	if (tcps_health_enabled())
		snprintf(cell, 64, "%llu", (unsigned long long)v);
	else
		snprintf(cell, 64, "-");
}

/* The cells of one row, as text. */
static void row_cells(const struct tcps_table *t, const struct tcps_row *r,
		      char cell[COL_FIXED][64])
{
	const struct tcps_conn *c = &r->val;
	bool v6 = r->key.family == TCPS_AF_INET6, passive = t->mode == TCPS_MODE_PASSIVE;
	struct tcps_view v;
	__u64 secs;
	/* host: in = sent by the remote side; passive: orig first. */
	int a, b;

	tcps_view_of(&r->key, c, t->mode, &v);
	a = passive ? v.first : v.second;
	b = passive ? v.second : v.first;
	snprintf(cell[COL_PROTO], 64, "%s", v6 ? "tcp6" : "tcp");
	tcps_endpoint_str(cell[COL_LOCAL], 64, v.faddr, v.fport, v6);
	tcps_endpoint_str(cell[COL_REMOTE], 64, v.saddr, v.sport, v6);
	snprintf(cell[COL_STATE], 64, "%s", v.fstate);
	snprintf(cell[COL_RSTATE], 64, "%s", v.sstate);
	count_cell(cell[COL_PIN], c->pkts[a]);
	count_cell(cell[COL_POUT], c->pkts[b]);
	count_cell(cell[COL_BIN], c->bytes[a]);
	count_cell(cell[COL_BOUT], c->bytes[b]);
	secs = t->now > c->first_seen ? (t->now - c->first_seen) / 1000000000ULL : 0;
	if (!tcps_health_enabled())
		snprintf(cell[COL_AGE], 64, "-");
	else if (secs < 3600)
		snprintf(cell[COL_AGE], 64, "%llum%02llus", secs / 60, secs % 60);
	else
		snprintf(cell[COL_AGE], 64, "%lluh%02llum", secs / 3600, (secs / 60) % 60);
}

void tcps_table_measure(struct tcps_table *t, const struct tcps_row *r, const char *const *extra)
{
	char cell[COL_FIXED][64];
	int c, n;

	row_cells(t, r, cell);
	for (c = 0; c < COL_FIXED + t->nextra; c++) {
		n = (int)strlen(c < COL_FIXED ? cell[c] : extra[c - COL_FIXED]);
		if (n > t->w[c])
			t->w[c] = n;
	}
}

static void print_cells(FILE *f, const struct tcps_table *t, const char *const *cells)
{
	int c, last = COL_FIXED + t->nextra - 1;

	for (c = 0; c <= last; c++) {
		if (c)
			fputc(' ', f);
		if (col_right(c))
			fprintf(f, "%*s", t->w[c], cells[c]);
		else if (c == last)
			fputs(cells[c], f);	/* no trailing blanks */
		else
			fprintf(f, "%-*s", t->w[c], cells[c]);
	}
	fputc('\n', f);
}

void tcps_table_header(FILE *f, const struct tcps_table *t)
{
	const char *cells[COL_FIXED + TCPS_TABLE_EXTRA];
	int c;

	for (c = 0; c < COL_FIXED + t->nextra; c++)
		cells[c] = col_name(t, c);
	print_cells(f, t, cells);
}

void tcps_table_row(FILE *f, const struct tcps_table *t, const struct tcps_row *r,
		    const char *const *extra)
{
	char cell[COL_FIXED][64];
	const char *cells[COL_FIXED + TCPS_TABLE_EXTRA];
	int c;

	row_cells(t, r, cell);
	for (c = 0; c < COL_FIXED; c++)
		cells[c] = cell[c];
	for (c = 0; c < t->nextra; c++)
		cells[COL_FIXED + c] = extra[c];
	print_cells(f, t, cells);
}

void tcps_event_text(FILE *f, const struct tcps_event *e, __u32 mode)
{
	struct tcps_conn c = { .fsm.flags = e->conn_flags };
	bool v6 = e->key.family == TCPS_AF_INET6;
	char t[40], a[64], b[64], flags[9];
	struct tcps_view v;

	tcps_view_of(&e->key, &c, mode, &v);
	tcps_fmt_time(tcps_mono_to_real(e->ts), t, sizeof(t));
	tcps_endpoint_str(a, sizeof(a), v.faddr, v.fport, v6);
	tcps_endpoint_str(b, sizeof(b), v.saddr, v.sport, v6);
	tcps_flags_str(e->tcp_flags, flags);
	fprintf(f, "%s %s > %s %-6s %s -> %s (%s%s%s)\n", t, a, b, tcps_event_side(e, mode),
		tcps_state_name(e->from), tcps_state_name(e->to),
		tcps_reason_name(e->reason), *flags ? " " : "", flags);
}

void tcps_json_print(FILE *f, json_object *obj)
{
	fprintf(f, "%s\n", json_object_to_json_string_ext(obj, TCPS_JSON_FLAGS));
	json_object_put(obj);
}

/* The subject of an events --json object: its first side (local / orig)
 * is src, and its state the one the endpoint enters ("to"). */
static bool event_subject(json_object *o, struct tcps_subject *sj)
{
	bool passive = json_object_object_get_ex(o, "orig_addr", NULL);
	const char *src = NULL, *dst = NULL, *to = NULL;
	json_object *v;
	int af, st;

	memset(sj, 0, sizeof(*sj));
	if (json_object_object_get_ex(o, passive ? "orig_addr" : "local_addr", &v))
		src = json_object_get_string(v);
	if (json_object_object_get_ex(o, passive ? "resp_addr" : "remote_addr", &v))
		dst = json_object_get_string(v);
	if (json_object_object_get_ex(o, passive ? "orig_port" : "local_port", &v))
		sj->sport = (__u16)json_object_get_int(v);
	if (json_object_object_get_ex(o, passive ? "resp_port" : "remote_port", &v))
		sj->dport = (__u16)json_object_get_int(v);
	if (json_object_object_get_ex(o, "to", &v))
		to = json_object_get_string(v);
	if (!src || !dst || !to)
		return false;
	af = strchr(src, ':') ? AF_INET6 : AF_INET;
	sj->family = af == AF_INET6 ? TCPS_AF_INET6 : TCPS_AF_INET;
	if (inet_pton(af, src, sj->src) != 1 || inet_pton(af, dst, sj->dst) != 1)
		return false;
	for (st = 1; st < TCPS_STATE_MAX; st++)
		if (!strcmp(to, tcps_state_name((unsigned int)st)))
			sj->state = (__u8)st;
	return true;
}

static const char *jget(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "";
}

bool tcps_event_print_if(FILE *f, const char *line, size_t len, const struct tcps_expr *x,
			 bool json)
{
	json_object *o;
	struct tcps_subject sj;
	bool passive, v6, ok;
	char a[64], b[64];
	const char *flags;

	json_tokener *tok = json_tokener_new();

	if (!tok)
		return false;
	o = json_tokener_parse_ex(tok, line, (int)len);
	json_tokener_free(tok);
	if (!o)
		return false;
	ok = event_subject(o, &sj) && tcps_expr_eval(x, &sj);
	if (ok && json) {
		fwrite(line, 1, len, f);
	} else if (ok) {
		/* tcps_event_text's format, from the object. */
		passive = sj.family && json_object_object_get_ex(o, "orig_addr", NULL);
		v6 = sj.family == TCPS_AF_INET6;
		tcps_endpoint_str(a, sizeof(a), jget(o, passive ? "orig_addr" : "local_addr"), sj.sport, v6);
		tcps_endpoint_str(b, sizeof(b), jget(o, passive ? "resp_addr" : "remote_addr"), sj.dport, v6);
		flags = jget(o, "flags");
		fprintf(f, "%s %s > %s %-6s %s -> %s (%s%s%s)\n", jget(o, "time"), a, b,
			jget(o, "side"), jget(o, "from"), jget(o, "to"), jget(o, "reason"),
			*flags ? " " : "", flags);
	}
	json_object_put(o);
	return ok;
}
