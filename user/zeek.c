// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Zeek's view of a TCP connection, rebuilt from its packets so that replay
 * output joins with Zeek pipelines: the endpoint state machine of Zeek's
 * TCPSessionAdapter (UpdateInactiveState, UpdateSYN_SentState,
 * UpdateEstablishedState, UpdateClosedState), its update_history and
 * update_last_seq, and conn_state() from base/protocols/conn/main.zeek.
 * Written from Zeek's documented semantics; structure and names are ours.
 */
#include <ctype.h>
#include <string.h>

#include "zeek.h"

/* Zeek's TCP_Endpoint::HIST_* bits; the responder's are shifted by 16. */
enum {
	HIST_SYN = 0x001,
	HIST_FIN = 0x002,
	HIST_RST = 0x004,
	HIST_FIN_RST = 0x008,
	HIST_DATA = 0x010,
	HIST_ACK = 0x020,
	HIST_MULTI_FLAG = 0x040,
};

/* Zeek drops sequence jumps larger than this for SYN/RST (TOO_LARGE_SEQ_DELTA). */
#define TOO_LARGE_SEQ_DELTA 1048576

/*
 * Zeek's likely_server_ports is the set of ports its analyzers register
 * (http, ssl, ssh, smtp, dns, ftp, ...). Only consulted when a connection
 * is picked up without its SYN, to decide whether to flip orig/resp.
 */
static const __u16 likely_ports[] = {
	21,   22,   23,	  25,	53,   80,   81,	  88,	110,  111,  135,  137,	139,  143,
	179,  389,  443,  445,	502,  513,  563,  585,	587,  614,  631,  636,	989,  990,
	992,  993,  995,  1080, 1883, 2049, 3128, 3268, 3306, 3389, 5222, 5223, 5269, 5432,
	6379, 6666, 6667, 6668, 6669, 8000, 8080, 8443, 8883, 8888, 20000,
};

bool tcps_zeek_likely_server_port(__u16 port)
{
	unsigned int i;

	for (i = 0; i < sizeof(likely_ports) / sizeof(likely_ports[0]); i++)
		if (likely_ports[i] == port)
			return true;
	return false;
}

static const char *const zstate_names[] = {
	"INACTIVE", "SYN_SENT", "SYN_ACK_SENT", "PARTIAL", "ESTABLISHED", "CLOSED", "RESET",
};

const char *tcps_zeek_state_name(unsigned int st)
{
	return st <= TCPS_Z_RESET ? zstate_names[st] : "?";
}

void tcps_zeek_init(struct tcps_zeek *z)
{
	memset(z, 0, sizeof(*z));
	z->ep[0].rxmt_thresh = z->ep[1].rxmt_thresh = 1;
	z->ep[0].win0_thresh = z->ep[1].win0_thresh = 1;
}

static void add_history(struct tcps_zeek *z, char c)
{
	if (z->hist_len + 1 < sizeof(z->history)) {
		z->history[z->hist_len++] = c;
		z->history[z->hist_len] = '\0';
	}
}

/* Connection::CheckHistory through TCP_Endpoint::CheckHistory: the first
 * time a letter is seen in a direction it is logged (upper case for the
 * originator); returns whether it had been seen before. */
static bool check_history(struct tcps_zeek *z, const struct tcps_zeek_ep *e, __u32 mask, char code)
{
	if (e != &z->ep[0]) {
		mask <<= 16;
		code = (char)tolower(code);
	}
	if (!(z->hist_seen & mask)) {
		z->hist_seen |= mask;
		add_history(z, code);
		return false;
	}
	return true;
}

static void ep_add_history(struct tcps_zeek *z, const struct tcps_zeek_ep *e, char code)
{
	add_history(z, e == &z->ep[0] ? code : (char)tolower(code));
}

/* Connection::ScaledHistoryEntry: logged at the 1st, 10th, 100th... time. */
static void scaled_history(struct tcps_zeek *z, const struct tcps_zeek_ep *e, char code,
			   __u32 *cnt, __u32 *thresh)
{
	if (++*cnt != *thresh)
		return;
	ep_add_history(z, e, code);
	*thresh = *thresh > 0xffffffffU / 10 ? 0xffffffffU : *thresh * 10;
}

static void set_state(struct tcps_zeek_ep *e, __u8 st)
{
	if (e->state != st) {
		e->prev_state = e->state;
		e->state = st;
	}
}

/* Connection::FlipRoles: the endpoints trade places, the per-direction
 * history bits too, and '^' records it. */
static void flip_roles(struct tcps_zeek *z)
{
	struct tcps_zeek_ep tmp = z->ep[0];

	z->ep[0] = z->ep[1];
	z->ep[1] = tmp;
	z->orig_side = !z->orig_side;
	z->hist_seen = (z->hist_seen >> 16) | (z->hist_seen << 16);
	add_history(z, '^');
}

/* TCPAnalyzer::WantConnection: a connection that does not start with a
 * plain SYN is partial; the port numbers then guess the responder. */
static bool want_flip(const struct tcps_seg *g)
{
	bool syn_only = (g->flags & TCPS_SYN) && !(g->flags & TCPS_ACK);

	if (syn_only || !tcps_zeek_likely_server_port(g->sport))
		return false;
	if (tcps_zeek_likely_server_port(g->dport))
		return !(g->flags & TCPS_SYN) && g->sport < g->dport;
	return true;
}

static void init_endpoint(struct tcps_zeek_ep *e, __u8 fl, __u32 seq, __u32 end)
{
	switch (e->state) {
	case TCPS_Z_INACTIVE:
		if (fl & TCPS_SYN) {
			e->start_seq = seq;
		} else {
			/* Partial: number as if a SYN had been seen. */
			e->start_seq = seq - 1;
			end = seq;
		}
		e->last_seq = end;
		e->seq_init = true;
		break;
	case TCPS_Z_SYN_SENT:
	case TCPS_Z_SYN_ACK_SENT:
	case TCPS_Z_ESTABLISHED:
	case TCPS_Z_PARTIAL:
		if ((fl & TCPS_SYN) && seq != e->start_seq) {
			e->start_seq = seq;
			e->last_seq = end;
		}
		break;
	case TCPS_Z_RESET:
		if ((fl & TCPS_SYN) && e->prev_state == TCPS_Z_INACTIVE) {
			e->start_seq = seq;
			e->last_seq = end;
		}
		break;
	default:
		break;
	}
}

static void update_history(struct tcps_zeek *z, struct tcps_zeek_ep *e, __u8 fl, __u32 rel_seq,
			   __u32 len)
{
	int bits = !!(fl & TCPS_SYN) + !!(fl & TCPS_FIN) + !!(fl & TCPS_RST);

	if (bits > 1) {
		if ((fl & TCPS_FIN) && (fl & TCPS_RST))
			check_history(z, e, HIST_FIN_RST, 'I');
		else
			check_history(z, e, HIST_MULTI_FLAG, 'Q');
	} else if (bits == 1) {
		/* A SYN, FIN or RST is logged again only with a new sequence
		 * number: retransmissions are not repeated. */
		if (fl & TCPS_SYN) {
			char code = (fl & TCPS_ACK) ? 'H' : 'S';

			if (check_history(z, e, HIST_SYN, code) && rel_seq != e->hist_last_syn)
				ep_add_history(z, e, code);
			e->hist_last_syn = rel_seq;
		}
		if (fl & TCPS_FIN) {
			if (check_history(z, e, HIST_FIN, 'F') && rel_seq + len != e->hist_last_fin)
				ep_add_history(z, e, 'F');
			e->hist_last_fin = rel_seq + len;
		}
		if (fl & TCPS_RST) {
			if (check_history(z, e, HIST_RST, 'R') && rel_seq != e->hist_last_rst)
				ep_add_history(z, e, 'R');
			e->hist_last_rst = rel_seq;
		}
	} else if (len) {
		check_history(z, e, HIST_DATA, 'D');
	} else if (fl & TCPS_ACK) {
		check_history(z, e, HIST_ACK, 'A');
	}
}

/* update_last_seq: a payload that does not advance the sequence space is a
 * retransmission ('T', logged at 1, 10, 100...). */
static void update_last_seq(struct tcps_zeek *z, struct tcps_zeek_ep *e, __u32 end, __u8 fl,
			    __u32 len)
{
	__s32 delta = (__s32)(end - e->last_seq);

	if ((fl & (TCPS_SYN | TCPS_RST)) && (delta > TOO_LARGE_SEQ_DELTA || delta < -TOO_LARGE_SEQ_DELTA))
		return;
	if ((fl & TCPS_FIN) && e->last_seq == e->start_seq + 1)
		e->last_seq = end;
	else if (e->state == TCPS_Z_RESET)
		return;
	else if (delta > 0)
		e->last_seq = end;
	else if (len > 0)
		scaled_history(z, e, 'T', &e->rxmt_cnt, &e->rxmt_thresh);
}

static void inactive_state(struct tcps_zeek *z, struct tcps_zeek_ep **ep, struct tcps_zeek_ep **pp,
			   const struct tcps_seg *g, bool is_orig)
{
	struct tcps_zeek_ep *e = *ep, *p = *pp;
	__u8 fl = g->flags;

	if (fl & TCPS_SYN) {
		if (is_orig) {
			set_state(e, (fl & TCPS_ACK) ? TCPS_Z_SYN_ACK_SENT : TCPS_Z_SYN_SENT);
		} else {
			if (!(fl & TCPS_ACK) && p->state == TCPS_Z_SYN_ACK_SENT &&
			    g->seq == e->start_seq) {
				/* SYN/SYN-ACK reversal: the "originator" answered. */
				flip_roles(z);
				e = *ep = &z->ep[0];
				p = *pp = &z->ep[1];
				set_state(p, TCPS_Z_ESTABLISHED);
			}
			if (p->state == TCPS_Z_SYN_SENT)
				set_state(p, TCPS_Z_ESTABLISHED);
			set_state(e, TCPS_Z_ESTABLISHED);
		}
	}
	if (fl & TCPS_FIN)
		set_state(e, TCPS_Z_CLOSED);
	if (fl & TCPS_RST)
		set_state(e, TCPS_Z_RESET);
	if (e->state == TCPS_Z_INACTIVE) {
		/* No control flag moved it. An ACK of the SYN before the
		 * SYN-ACK (some stacks do) does not make it partial. */
		if (!is_orig && g->len == 0 && z->ep[0].state == TCPS_Z_SYN_SENT)
			;
		else if ((fl & TCPS_ACK) && p->state == TCPS_Z_ESTABLISHED)
			set_state(e, TCPS_Z_ESTABLISHED);	/* SYN missed, SYN-ACK seen */
		else
			set_state(e, TCPS_Z_PARTIAL);
	}
}

static void state_machine(struct tcps_zeek *z, struct tcps_zeek_ep **ep, struct tcps_zeek_ep **pp,
			  const struct tcps_seg *g, bool is_orig)
{
	struct tcps_zeek_ep *e = *ep, *p = *pp;
	__u8 fl = g->flags;

	switch (e->state) {
	case TCPS_Z_INACTIVE:
		inactive_state(z, ep, pp, g, is_orig);
		break;
	case TCPS_Z_SYN_SENT:
	case TCPS_Z_SYN_ACK_SENT:
		if (fl & TCPS_FIN)
			set_state(e, TCPS_Z_CLOSED);
		if (fl & TCPS_RST)
			set_state(e, TCPS_Z_RESET);
		break;
	case TCPS_Z_ESTABLISHED:
	case TCPS_Z_PARTIAL:
		if ((fl & TCPS_SYN) && !(fl & TCPS_ACK) && e->state == TCPS_Z_PARTIAL &&
		    p->state == TCPS_Z_INACTIVE)
			set_state(e, TCPS_Z_SYN_SENT);
		if ((fl & TCPS_FIN) && !(fl & TCPS_RST)) {
			set_state(e, TCPS_Z_CLOSED);
			/* FIN after the peer's FIN+RST: a normal close after all. */
			if (p->state == TCPS_Z_RESET && p->prev_state == TCPS_Z_CLOSED)
				set_state(p, TCPS_Z_CLOSED);
		}
		if (fl & TCPS_RST)
			set_state(e, TCPS_Z_RESET);
		break;
	case TCPS_Z_CLOSED:
		/* A RST after both FINs does not undo the FIN exchange. */
		if ((fl & TCPS_RST) && p->state != TCPS_Z_CLOSED)
			set_state(e, TCPS_Z_RESET);
		break;
	default:
		break;
	}
}

void tcps_zeek_packet(struct tcps_zeek *z, int side, const struct tcps_seg *g)
{
	struct tcps_zeek_ep *e, *p;
	__u8 fl = g->flags;
	__u32 seg_len, end, rel_seq;
	bool is_orig;

	if (!z->started) {
		z->started = true;
		z->orig_side = side;
		if (want_flip(g)) {
			z->orig_side = !side;
			add_history(z, '^');
		}
	}
	is_orig = side == z->orig_side;
	e = &z->ep[!is_orig];
	p = &z->ep[is_orig];

	/* get_segment_len: SYN and FIN take a number; a RST's data does not. */
	seg_len = g->len + !!(fl & TCPS_SYN) + !!(fl & TCPS_FIN);
	if (fl & TCPS_RST)
		seg_len -= g->len;
	end = g->seq + seg_len;
	init_endpoint(e, fl, g->seq, end);
	rel_seq = g->seq - e->start_seq;

	update_history(z, e, fl, rel_seq, g->len);
	/* update_window: a zero window is news unless it comes with or after
	 * a RST, or after the peer's FIN. */
	if (g->win == 0 && !(fl & TCPS_RST) && p->state != TCPS_Z_CLOSED && e->state != TCPS_Z_RESET)
		scaled_history(z, e, 'W', &e->win0_cnt, &e->win0_thresh);

	if ((fl & TCPS_ACK) && p->state == TCPS_Z_INACTIVE) {
		/* init_peer: number the peer's bytes from this ack. */
		p->start_seq = p->last_seq = g->ack - 1;
		p->seq_init = true;
	}
	update_last_seq(z, e, end, fl, g->len);
	if (!(fl & TCPS_RST) && g->len) {
		__u32 data_end = g->seq + !!(fl & TCPS_SYN) + g->len - (e->start_seq + 1);

		if ((__s32)data_end > 0 && data_end > e->size)
			e->size = data_end;
	}
	state_machine(z, &e, &p, g, is_orig);
}

bool tcps_zeek_is_reuse(const struct tcps_zeek *z, int side, const struct tcps_seg *g)
{
	const struct tcps_zeek_ep *o = &z->ep[0], *r = &z->ep[1];
	bool closed = (o->state == TCPS_Z_CLOSED || o->state == TCPS_Z_RESET) &&
		      (r->state == TCPS_Z_CLOSED || r->state == TCPS_Z_RESET || r->state == TCPS_Z_INACTIVE);

	if (!z->started || !(g->flags & TCPS_SYN) || (g->flags & (TCPS_ACK | TCPS_RST | TCPS_FIN)))
		return false;
	if (closed)
		return !(side == z->orig_side && g->seq == o->start_seq);
	/* A fresh SYN from the originator with another ISN: a new attempt. */
	return side == z->orig_side && o->seq_init && g->seq != o->start_seq &&
	       (o->state == TCPS_Z_SYN_SENT || o->state == TCPS_Z_RESET);
}

/* /\^?S[^HAFGIQ]*R.* / == history (Zeek's RSTOS0 test). */
static bool history_syn_then_rst(const char *h)
{
	if (*h == '^')
		h++;
	if (*h++ != 'S')
		return false;
	for (; *h; h++) {
		if (*h == 'R')
			return true;
		if (strchr("HAFGIQ", *h))
			return false;
	}
	return false;
}

const char *tcps_zeek_conn_state(const struct tcps_zeek *z)
{
	__u8 os = z->ep[0].state, rs = z->ep[1].state;
	bool o_inactive = os == TCPS_Z_INACTIVE || os == TCPS_Z_PARTIAL;
	bool r_inactive = rs == TCPS_Z_INACTIVE || rs == TCPS_Z_PARTIAL;

	if (rs == TCPS_Z_RESET) {
		if (os == TCPS_Z_SYN_SENT || os == TCPS_Z_SYN_ACK_SENT ||
		    (os == TCPS_Z_RESET && z->ep[0].size == 0 && z->ep[1].size == 0))
			return "REJ";
		return o_inactive ? "RSTRH" : "RSTR";
	}
	if (os == TCPS_Z_RESET) {
		if (r_inactive)
			return history_syn_then_rst(z->history) ? "RSTOS0" : "OTH";
		return "RSTO";
	}
	if (rs == TCPS_Z_CLOSED && os == TCPS_Z_CLOSED)
		return "SF";
	if (os == TCPS_Z_CLOSED)
		return r_inactive ? "SH" : "S2";
	if (rs == TCPS_Z_CLOSED)
		return o_inactive ? "SHR" : "S3";
	if (os == TCPS_Z_SYN_SENT && rs == TCPS_Z_INACTIVE)
		return "S0";
	if (os == TCPS_Z_ESTABLISHED && rs == TCPS_Z_ESTABLISHED)
		return "S1";
	return "OTH";
}
