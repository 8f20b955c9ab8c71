// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of the per-connection causal order of a ring-buffer batch
 * (user/evorder.c): events one connection queued from two CPUs the wrong
 * way round come out in seq order, on the positions that connection took;
 * other connections keep theirs.
 */
#include <string.h>

#include "check.h"
#include "../../user/evorder.c"

static struct tcps_event ev(int conn, __u16 seq, __u8 from, __u8 to)
{
	struct tcps_event e;

	memset(&e, 0, sizeof(e));
	e.key.family = TCPS_AF_INET;
	e.key.addr[0][0] = 0x010012c6;	/* 198.18.0.1 */
	e.key.addr[1][0] = 0x020012c6;
	e.key.port[0] = (__u16)(40000 + conn);
	e.key.port[1] = 80;
	e.seq = seq;
	e.from = from;
	e.to = to;
	return e;
}

static int conn_of(const struct tcps_event *e)
{
	return e->key.port[0] - 40000;
}

TEST(test_swapped_events_of_one_connection_come_out_in_seq_order)
{
	struct tcps_evbatch b = { 0 };
	struct tcps_event in[] = {
		ev(1, 7, TCPS_FIN_WAIT2, TCPS_TIME_WAIT),	/* queued first by CPU 1 */
		ev(2, 3, TCPS_SYN_SENT, TCPS_ESTABLISHED),
		ev(1, 6, TCPS_FIN_WAIT1, TCPS_FIN_WAIT2),	/* CPU 0, numbered first */
		ev(2, 4, TCPS_ESTABLISHED, TCPS_FIN_WAIT1),
	};
	size_t i;

	for (i = 0; i < 4; i++)
		CHECK_EQ(tcps_evbatch_push(&b, &in[i]), 0);
	tcps_evbatch_order(&b);
	CHECK_EQ(b.n, 4);
	/* Connection 1 keeps positions 0 and 2, now in seq order. */
	CHECK_EQ(conn_of(&b.ev[0]), 1);
	CHECK_EQ(b.ev[0].seq, 6);
	CHECK_EQ(conn_of(&b.ev[2]), 1);
	CHECK_EQ(b.ev[2].seq, 7);
	CHECK_EQ(b.ev[0].to, b.ev[2].from);
	CHECK_EQ(conn_of(&b.ev[1]), 2);
	CHECK_EQ(b.ev[1].seq, 3);
	CHECK_EQ(b.ev[3].seq, 4);
	tcps_evbatch_free(&b);
}

TEST(test_order_is_wrap_safe)
{
	struct tcps_evbatch b = { 0 };
	struct tcps_event a = ev(5, 0, TCPS_CLOSE_WAIT, TCPS_LAST_ACK);
	struct tcps_event c = ev(5, 65535, TCPS_ESTABLISHED, TCPS_CLOSE_WAIT);

	tcps_evbatch_push(&b, &a);
	tcps_evbatch_push(&b, &c);
	tcps_evbatch_order(&b);
	CHECK_EQ(b.ev[0].seq, 65535);
	CHECK_EQ(b.ev[1].seq, 0);
	tcps_evbatch_free(&b);
}

TEST(test_ordered_batch_is_left_alone)
{
	struct tcps_evbatch b = { 0 };
	size_t i;

	for (i = 0; i < 1000; i++) {
		struct tcps_event e = ev((int)(i % 7), (__u16)(i / 7 + 1), TCPS_CLOSE, TCPS_SYN_SENT);

		tcps_evbatch_push(&b, &e);
	}
	tcps_evbatch_order(&b);
	for (i = 0; i < 1000; i++) {
		CHECK_EQ(conn_of(&b.ev[i]), (int)(i % 7));
		CHECK_EQ(b.ev[i].seq, i / 7 + 1);
	}
	tcps_evbatch_free(&b);
}

int main(void)
{
	RUN(test_swapped_events_of_one_connection_come_out_in_seq_order);
	RUN(test_order_is_wrap_safe);
	RUN(test_ordered_batch_is_left_alone);
	return check_done();
}
