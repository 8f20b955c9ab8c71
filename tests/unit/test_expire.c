// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of the expiry rule (include/tcps_expire.h) that the kernel
 * scan, the daemon's delete path and the stale queries share: which state
 * governs, the mid-stream cap, "never" timeouts, the clock edge, early-drop
 * candidates, the lower bound the scan uses to skip recent entries, the
 * kernel's holds, and the defaults of the states that wait on a resent FIN.
 */
#include <string.h>

#include "check.h"
#include "../../user/gc.h"
#include "tcps_expire.h"

#define S 1000000000ULL
/* The last ns of the tick that holds x: the last packet as the rule takes
 * it (the table keeps ticks, tcpscope.h last_tick). */
#define L(x) (((((__u64)(x) >> TCPS_TICK_SHIFT) + 1) << TCPS_TICK_SHIFT) - 1)

static struct tcps_timeouts tos(__u32 mode)
{
	struct tcps_timeouts t;

	memset(&t, 0, sizeof(t));
	t.state_s[TCPS_ESTABLISHED] = 432000;
	t.state_s[TCPS_SYN_SENT] = 120;
	t.state_s[TCPS_FIN_WAIT2] = 60;
	t.state_s[TCPS_TIME_WAIT] = 60;
	t.state_s[TCPS_CLOSE] = 10;
	t.state_s[TCPS_CLOSE_WAIT] = 60;
	t.midstream_s = 300;
	t.mode = mode;
	return t;
}

static struct tcps_conn conn(__u8 s0, __u8 s1, __u8 flags, __u64 last)
{
	struct tcps_conn c;

	memset(&c, 0, sizeof(c));
	c.fsm.ep[0].state = s0;
	c.fsm.ep[1].state = s1;
	c.fsm.flags = flags;
	c.last_tick = tcps_tick(last);
	return c;
}

TEST(test_host_mode_local_side_governs)
{
	struct tcps_timeouts t = tos(TCPS_MODE_HOST);
	struct tcps_conn c = conn(TCPS_CLOSE, TCPS_TIME_WAIT, TCPS_C_LOCAL1, 1000 * S);

	CHECK_EQ(tcps_expire_timeout(&c, &t), 60);
	CHECK(!tcps_expire_due(&c, L(1000 * S) + 60 * S - 1, &t));
	CHECK(tcps_expire_due(&c, L(1000 * S) + 60 * S, &t));
	c.fsm.flags = TCPS_C_LOCAL0;	/* local side CLOSE: the linger */
	CHECK_EQ(tcps_expire_timeout(&c, &t), 10);
}

TEST(test_passive_mode_most_patient_open_endpoint_governs)
{
	struct tcps_timeouts t = tos(TCPS_MODE_PASSIVE);
	struct tcps_conn c = conn(TCPS_FIN_WAIT2, TCPS_CLOSE_WAIT, 0, 0);

	t.state_s[TCPS_CLOSE_WAIT] = 90;
	CHECK_EQ(tcps_expire_timeout(&c, &t), 90);
	c = conn(TCPS_CLOSE, TCPS_TIME_WAIT, 0, 0);	/* a CLOSE side waits for the other */
	CHECK_EQ(tcps_expire_timeout(&c, &t), 60);
	c = conn(TCPS_CLOSE, TCPS_CLOSE, 0, 0);
	CHECK_EQ(tcps_expire_timeout(&c, &t), 10);
	c = conn(TCPS_LISTEN, TCPS_ESTABLISHED, 0, 0);	/* LISTEN: never */
	CHECK_EQ(tcps_expire_timeout(&c, &t), 0);
}

TEST(test_midstream_entry_capped_until_both_directions_seen)
{
	struct tcps_timeouts t = tos(TCPS_MODE_PASSIVE);
	struct tcps_conn c = conn(TCPS_ESTABLISHED, TCPS_ESTABLISHED,
				  TCPS_C_MIDSTREAM | TCPS_C_SEEN0, 0);

	CHECK_EQ(tcps_expire_timeout(&c, &t), 300);
	c.fsm.flags |= TCPS_C_SEEN1;
	CHECK_EQ(tcps_expire_timeout(&c, &t), 432000);
}

TEST(test_never_and_clock_edges)
{
	struct tcps_timeouts t = tos(TCPS_MODE_HOST);
	struct tcps_conn c = conn(TCPS_LISTEN, TCPS_CLOSE, TCPS_C_LOCAL0, 0);

	CHECK(!tcps_expire_due(&c, ~0ULL, &t));	/* LISTEN never expires */
	c = conn(TCPS_TIME_WAIT, TCPS_CLOSE, TCPS_C_LOCAL0, 500 * S);
	CHECK(!tcps_expire_due(&c, 400 * S, &t));	/* seen after now: not idle */
	CHECK(tcps_expire_due(&c, L(500 * S) + 60 * S, &t));
}

/* The scan's deadlines (user/gc.c waits for the first): a hold adds one
 * timeout, a state without timeout has none. */
TEST(test_deadline_is_when_due_turns_true)
{
	struct tcps_timeouts t = tos(TCPS_MODE_HOST);
	struct tcps_conn c = conn(TCPS_TIME_WAIT, TCPS_CLOSE, TCPS_C_LOCAL0, 500 * S);

	CHECK_EQ(tcps_expire_deadline(&c, 600 * S, &t), L(500 * S) + 60 * S);
	CHECK(!tcps_expire_due(&c, L(500 * S) + 60 * S - 1, &t));
	CHECK(tcps_expire_due(&c, L(500 * S) + 60 * S, &t));
	c.fsm.holds = 2;
	CHECK_EQ(tcps_expire_deadline(&c, 600 * S, &t), L(500 * S) + 180 * S);
	CHECK(!tcps_expire_due(&c, L(500 * S) + 180 * S - 1, &t));
	CHECK(tcps_expire_due(&c, L(500 * S) + 180 * S, &t));
	c = conn(TCPS_LISTEN, TCPS_CLOSE, TCPS_C_LOCAL0, 0);
	CHECK_EQ(tcps_expire_deadline(&c, 600 * S, &t), ~0ULL);
}

TEST(test_closing_entries_are_early_drop_candidates)
{
	struct tcps_conn c = conn(TCPS_TIME_WAIT, TCPS_CLOSE, TCPS_C_LOCAL0, 0);

	CHECK(tcps_expire_closing(&c, TCPS_MODE_HOST));
	c = conn(TCPS_ESTABLISHED, TCPS_CLOSE, TCPS_C_LOCAL0, 0);
	CHECK(!tcps_expire_closing(&c, TCPS_MODE_HOST));
	c = conn(TCPS_ESTABLISHED, TCPS_CLOSE, 0, 0);	/* passive: the lower-numbered state */
	CHECK(!tcps_expire_closing(&c, TCPS_MODE_PASSIVE));
	c = conn(TCPS_TIME_WAIT, TCPS_CLOSE, 0, 0);
	CHECK(tcps_expire_closing(&c, TCPS_MODE_PASSIVE));
}

/* The scan skips entries idle for less than tcps_expire_min_idle without
 * reading their states: no combination may expire sooner. */
TEST(test_min_idle_is_a_lower_bound_of_every_timeout)
{
	__u32 modes[2] = { TCPS_MODE_HOST, TCPS_MODE_PASSIVE };
	__u8 fl[4] = { TCPS_C_LOCAL0, TCPS_C_LOCAL1, 0, TCPS_C_MIDSTREAM | TCPS_C_SEEN0 };
	int m, s0, s1, f;

	for (m = 0; m < 2; m++) {
		struct tcps_timeouts t = tos(modes[m]);
		__u64 min = tcps_expire_min_idle(&t);

		CHECK_EQ(min, 10 * S);
		for (s0 = 1; s0 < TCPS_STATE_MAX; s0++)
			for (s1 = 1; s1 < TCPS_STATE_MAX; s1++)
				for (f = 0; f < 4; f++) {
					struct tcps_conn c = conn((__u8)s0, (__u8)s1, fl[f], 0);
					__u32 to = tcps_expire_timeout(&c, &t);

					CHECK(!to || (__u64)to * S >= min);
				}
	}
}

TEST(test_no_timeouts_means_nothing_expires)
{
	struct tcps_timeouts none;

	memset(&none, 0, sizeof(none));
	CHECK(tcps_expire_min_idle(&none) == ~0ULL);
}

/* Each hold (the kernel still had the local socket) is one more timeout. */
TEST(test_holds_give_one_more_timeout_each)
{
	struct tcps_timeouts t = tos(TCPS_MODE_HOST);
	struct tcps_conn c = conn(TCPS_CLOSE_WAIT, TCPS_FIN_WAIT2, TCPS_C_LOCAL0, 1000 * S);

	CHECK(tcps_expire_due(&c, L(1000 * S) + 60 * S, &t));
	c.fsm.holds = 1;
	CHECK(!tcps_expire_due(&c, L(1000 * S) + 120 * S - 1, &t));
	CHECK(tcps_expire_due(&c, L(1000 * S) + 120 * S, &t));
	c.fsm.holds = 255;	/* saturated: 256 timeouts, no overflow */
	CHECK(!tcps_expire_due(&c, L(1000 * S) + 256ULL * 60 * S - 1, &t));
	CHECK(tcps_expire_due(&c, L(1000 * S) + 256ULL * 60 * S, &t));
	/* The longest --timeout (30 days), held 255 times, is capped at 2^30
	 * ticks (208 days) of silence: the table's 32-bit ticks tell an age
	 * exactly up to twice that, so the entry is still seen due there. */
	t.state_s[TCPS_ESTABLISHED] = 30 * 86400;
	c = conn(TCPS_ESTABLISHED, TCPS_ESTABLISHED, TCPS_C_LOCAL0, 0);
	c.fsm.holds = 6;	/* 7 x 30 days: over the cap */
	CHECK(!tcps_expire_due(&c, L(0) + TCPS_EXPIRE_IDLE_MAX - 1, &t));
	CHECK(tcps_expire_due(&c, L(0) + TCPS_EXPIRE_IDLE_MAX, &t));
	CHECK(tcps_expire_due(&c, 2 * TCPS_EXPIRE_IDLE_MAX - 1, &t));
	c.fsm.holds = 5;	/* 6 x 30 days: under it */
	CHECK(!tcps_expire_due(&c, L(0) + 180ULL * 86400 * S - 1, &t));
	CHECK(tcps_expire_due(&c, L(0) + 180ULL * 86400 * S, &t));
}

/* last_tick read back as ns: the tick's last ns, never after now, exact
 * across the u32's wrap, and a tick later than now's (another CPU's
 * packet during a scan) is now. */
TEST(test_tick_reads_back_as_its_last_ns)
{
	__u64 T = 1ULL << TCPS_TICK_SHIFT, now = 1000 * S;

	CHECK_EQ(tcps_tick_last_ns(tcps_tick(now), now), now);
	CHECK_EQ(tcps_tick_last_ns(tcps_tick(now) + 1, now), now);
	CHECK_EQ(tcps_tick_last_ns(tcps_tick(now - T), now), L(now - T));
	CHECK_EQ(tcps_tick_last_ns(tcps_tick(now - 100 * S), now), L(now - 100 * S));
	/* Capture time (replay): ns since 1970, far past the u32 of ticks. */
	now = 1700000000ULL * S;
	CHECK(tcps_tick(now) != now >> TCPS_TICK_SHIFT);
	CHECK_EQ(tcps_tick_last_ns(tcps_tick(now - 3600 * S), now), L(now - 3600 * S));
	CHECK_EQ(tcps_tick_last_ns(tcps_tick(now - 300ULL * 86400 * S), now),
		 L(now - 300ULL * 86400 * S));
	/* A tick from before the clock's start cannot be: 0, idle since ever. */
	CHECK_EQ(tcps_tick_last_ns((__u32)-10, 5 * T), 0);
}

/* FIN_WAIT1, CLOSING and LAST_ACK wait on a resent FIN: the kernel may
 * leave TCP_RTO_MAX (120 s) between two tries and keeps the state. */
TEST(test_fin_waiting_states_outlive_the_longest_resend_gap)
{
	struct tcps_timeouts t = tos(TCPS_MODE_PASSIVE);
	__u8 st[] = { TCPS_FIN_WAIT1, TCPS_CLOSING, TCPS_LAST_ACK };
	unsigned int i;

	/* The defaults user/gc.c's tcps_timeouts_default() sets. */
	t.state_s[TCPS_FIN_WAIT1] = TCPS_TO_FIN_WAIT1;
	t.state_s[TCPS_CLOSING] = TCPS_TO_CLOSING;
	t.state_s[TCPS_LAST_ACK] = TCPS_TO_LAST_ACK;
	for (i = 0; i < sizeof(st); i++) {
		struct tcps_conn c = conn(st[i], TCPS_TIME_WAIT, 0, 1000 * S);

		CHECK(t.state_s[st[i]] > 120);
		CHECK(!tcps_expire_due(&c, L(1000 * S) + 120 * S, &t));
	}
}

int main(void)
{
	RUN(test_host_mode_local_side_governs);
	RUN(test_passive_mode_most_patient_open_endpoint_governs);
	RUN(test_midstream_entry_capped_until_both_directions_seen);
	RUN(test_never_and_clock_edges);
	RUN(test_deadline_is_when_due_turns_true);
	RUN(test_closing_entries_are_early_drop_candidates);
	RUN(test_min_idle_is_a_lower_bound_of_every_timeout);
	RUN(test_no_timeouts_means_nothing_expires);
	RUN(test_holds_give_one_more_timeout_each);
	RUN(test_tick_reads_back_as_its_last_ns);
	RUN(test_fin_waiting_states_outlive_the_longest_resend_gap);
	return check_done();
}
