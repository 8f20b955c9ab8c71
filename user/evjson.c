// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The events JSON line, written by output.h's field writer (evjson.h). */
#include <errno.h>
#include <string.h>

#include "common.h"
#include "evjson.h"
#include "health.h"
#include "output.h"

/* tcpstates' MS, in µs; null where unknown (leaving CLOSE, whose start
 * nobody saw; an expiry or seed with no record; --no-health). */
static void put_prev_state(struct tcps_jw *w, const struct tcps_event *e)
{
	if (tcps_health_enabled() &&
	    (e->prev_state_ns || (e->from != TCPS_CLOSE && e->reason == TCPS_REASON_PACKET)))
		tcps_jw_int(w, "prev_state_us", (long long)(e->prev_state_ns / 1000));
	else
		tcps_jw_null(w, "prev_state_us");
}

const char *tcps_event_json_line(const struct tcps_event *e, __u32 mode, size_t *len)
{
	/* Per thread, never freed: the line's memory, reused line after line. */
	static __thread struct tcps_jbuf b;
	bool passive = mode == TCPS_MODE_PASSIVE;
	struct tcps_conn c = { .fsm.flags = e->conn_flags, .ifindex = e->ifindex };
	struct tcps_jw w = { .b = &b };
	struct tcps_view v;
	char flags[9];

	tcps_jbuf_reset(&b);
	tcps_view_of(&e->key, &c, mode, &v);
	tcps_flags_str(e->tcp_flags, flags);
	tcps_jbuf_open(&b);
	tcps_jw_time(&w, "time", e->ts);
	tcps_jw_str(&w, "family", v.family);
	tcps_jw_str(&w, passive ? "orig_addr" : "local_addr", v.faddr);
	tcps_jw_int(&w, passive ? "orig_port" : "local_port", v.fport);
	tcps_jw_str(&w, passive ? "resp_addr" : "remote_addr", v.saddr);
	tcps_jw_int(&w, passive ? "resp_port" : "remote_port", v.sport);
	tcps_jw_str(&w, "side", tcps_event_side(e, mode));
	tcps_jw_str(&w, "from", tcps_state_name(e->from));
	tcps_jw_str(&w, "to", tcps_state_name(e->to));
	tcps_jw_str(&w, "reason", tcps_reason_name(e->reason));
	tcps_jw_str(&w, "flags", flags);
	tcps_jw_str(&w, "ifname", v.ifname);
	tcps_jw_int(&w, "seq", e->seq);
	put_prev_state(&w, e);
	tcps_jbuf_close(&b);
	if (b.failed) {
		errno = ENOMEM;
		return NULL;
	}
	*len = b.len;
	return b.p;
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
