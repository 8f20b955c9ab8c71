// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The events JSON line, by yajl's generator (evjson.h). */
#include <errno.h>
#include <string.h>
#include <yajl/yajl_gen.h>

#include "common.h"
#include "evjson.h"
#include "health.h"
#include "output.h"

static void put_str(yajl_gen g, const char *k, const char *v)
{
	yajl_gen_string(g, (const unsigned char *)k, strlen(k));
	yajl_gen_string(g, (const unsigned char *)v, strlen(v));
}

static void put_int(yajl_gen g, const char *k, long long v)
{
	yajl_gen_string(g, (const unsigned char *)k, strlen(k));
	yajl_gen_integer(g, v);
}

/* tcpstates' MS, in µs; null where unknown (leaving CLOSE, whose start
 * nobody saw; an expiry or seed with no record; --no-health). */
static void put_prev_state(yajl_gen g, const struct tcps_event *e)
{
	static const char k[] = "prev_state_us";

	yajl_gen_string(g, (const unsigned char *)k, sizeof(k) - 1);
	if (tcps_health_enabled() &&
	    (e->prev_state_ns || (e->from != TCPS_CLOSE && e->reason == TCPS_REASON_PACKET)))
		yajl_gen_integer(g, (long long)(e->prev_state_ns / 1000));
	else
		yajl_gen_null(g);
}

const char *tcps_event_json_line(const struct tcps_event *e, __u32 mode, size_t *len)
{
	static __thread yajl_gen g;
	bool passive = mode == TCPS_MODE_PASSIVE;
	struct tcps_conn c = { .fsm.flags = e->conn_flags, .ifindex = e->ifindex };
	const unsigned char *buf;
	struct tcps_view v;
	char flags[9], when[40];

	if (!g) {
		g = yajl_gen_alloc(NULL);
		if (!g) {
			errno = ENOMEM;
			return NULL;
		}
	}
	yajl_gen_reset(g, NULL);
	yajl_gen_clear(g);
	tcps_view_of(&e->key, &c, mode, &v);
	tcps_flags_str(e->tcp_flags, flags);
	tcps_fmt_time(tcps_mono_to_real(e->ts), when, sizeof(when));
	yajl_gen_map_open(g);
	put_str(g, "time", when);
	put_str(g, "family", v.family);
	put_str(g, passive ? "orig_addr" : "local_addr", v.faddr);
	put_int(g, passive ? "orig_port" : "local_port", v.fport);
	put_str(g, passive ? "resp_addr" : "remote_addr", v.saddr);
	put_int(g, passive ? "resp_port" : "remote_port", v.sport);
	put_str(g, "side", tcps_event_side(e, mode));
	put_str(g, "from", tcps_state_name(e->from));
	put_str(g, "to", tcps_state_name(e->to));
	put_str(g, "reason", tcps_reason_name(e->reason));
	put_str(g, "flags", flags);
	put_str(g, "ifname", v.ifname);
	put_int(g, "seq", e->seq);
	put_prev_state(g, e);
	yajl_gen_map_close(g);
	if (yajl_gen_get_buf(g, &buf, len) != yajl_gen_status_ok) {
		errno = ENOMEM;
		return NULL;
	}
	return (const char *)buf;
}

int tcps_event_json_write(FILE *f, const struct tcps_event *e, __u32 mode)
{
	size_t n;
	const char *s = tcps_event_json_line(e, mode, &n);

	if (!s)
		return -errno;
	if (fwrite(s, 1, n, f) != n || putc('\n', f) == EOF)
		return -EIO;
	return 0;
}
