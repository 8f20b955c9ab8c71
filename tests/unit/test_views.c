// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* top's one-pass aggregation (include/tcps_views.h), as the kernel walk
 * and the userspace sweep both run it: filters, groups, ranked lists. */
#include <arpa/inet.h>
#include <stdlib.h>

#include "check.h"
#include "tcps_views.h"

static struct tcps_views V;
static __u32 *ports;
static struct tcps_views_remote *remotes;
static struct tcps_views_cfg cfg;

static void reset(__u32 mode)
{
	memset(&V, 0, sizeof(V));
	memset(ports, 0, TCPS_VIEWS_PORTS * sizeof(*ports));
	memset(remotes, 0, TCPS_VIEWS_REMOTES * sizeof(*remotes));
	memset(&cfg, 0, sizeof(cfg));
	cfg.mode = mode;
}

/* 198.18.0.1:lport (side 0, local) <-> remote (side 1), ESTABLISHED. */
static void conn(const char *remote, __u16 lport, __u16 rport, struct tcps_key *k,
		 struct tcps_conn *c)
{
	memset(k, 0, sizeof(*k));
	memset(c, 0, sizeof(*c));
	k->family = TCPS_AF_INET;
	inet_pton(AF_INET, "198.18.0.1", k->addr[0]);
	inet_pton(AF_INET, remote, k->addr[1]);
	k->port[0] = htons(lport);
	k->port[1] = htons(rport);
	c->fsm.flags = TCPS_C_LOCAL0;	/* side 0 local, and the originator */
	c->fsm.ep[0].state = c->fsm.ep[1].state = TCPS_ESTABLISHED;
}

static void add(const struct tcps_key *k, const struct tcps_conn *c)
{
	tcps_views_add(&V, remotes, ports, &cfg, k, c, 0);
}

TEST(test_groups_count_sockets_per_local_port_and_remote_not_closed_ones)
{
	struct tcps_key k;
	struct tcps_conn c;
	__u32 i, n = 0;

	reset(TCPS_MODE_HOST);
	for (i = 0; i < 5; i++) {
		conn(i < 3 ? "198.19.0.7" : "198.19.0.8", 80, (__u16)(40000 + i), &k, &c);
		add(&k, &c);
	}
	conn("198.19.0.9", 443, 40000, &k, &c);
	c.fsm.ep[0].state = TCPS_CLOSE;	/* closed: in the states, not in the groups */
	add(&k, &c);
	CHECK_EQ(V.entries, 6);
	CHECK_EQ(V.counts[TCPS_ESTABLISHED], 5);
	CHECK_EQ(V.counts[TCPS_CLOSE], 1);
	CHECK_EQ(ports[80], 5);
	CHECK_EQ(ports[443], 0);
	for (i = 0; i < TCPS_VIEWS_REMOTES; i++)
		if (remotes[i].count) {
			n++;
			CHECK((remotes[i].count == 3 || remotes[i].count == 2));
		}
	CHECK_EQ(n, 2);
}

TEST(test_filter_states_and_either_end_in_prefix)
{
	struct tcps_key k;
	struct tcps_conn c;

	reset(TCPS_MODE_HOST);
	cfg.states = 1U << TCPS_SYN_RECV;
	conn("198.19.0.7", 80, 40000, &k, &c);
	add(&k, &c);
	CHECK_EQ(V.entries, 0);
	c.fsm.ep[0].state = TCPS_SYN_RECV;
	add(&k, &c);
	CHECK_EQ(V.entries, 1);

	reset(TCPS_MODE_HOST);
	cfg.family = TCPS_AF_INET;
	cfg.plen = 23;
	inet_pton(AF_INET, "198.19.0.0", cfg.addr);	/* 198.19.0.0/23 */
	conn("198.19.1.200", 80, 40000, &k, &c);
	add(&k, &c);
	conn("198.19.2.1", 80, 40001, &k, &c);
	add(&k, &c);
	CHECK_EQ(V.entries, 1);
	cfg.plen = 15;		/* 198.18.0.0/15 holds the local end too */
	inet_pton(AF_INET, "198.18.0.0", cfg.addr);
	add(&k, &c);
	CHECK_EQ(V.entries, 2);
}

TEST(test_ranked_lists_keep_the_highest_scores)
{
	struct tcps_key k;
	struct tcps_conn c;
	__u32 i, seen = 0;

	reset(TCPS_MODE_HOST);
	for (i = 0; i < 3 * TCPS_VIEWS_TOP; i++) {
		conn("198.19.0.7", 80, (__u16)(40000 + i), &k, &c);
		c.h.retrans[0] = (i * 7) % 50 + 1;	/* local side's */
		c.h.retrans[1] = 1;
		add(&k, &c);
	}
	CHECK_EQ(V.n[TCPS_VL_RETRANS], TCPS_VIEWS_TOP);
	/* (i*7)%50 takes 48 distinct values of 0-49 (not 36, 43): the 16
	 * highest totals are 51 down to 34. */
	for (i = 0; i < TCPS_VIEWS_TOP; i++) {
		const struct tcps_views_ent *e = &V.top[TCPS_VL_RETRANS][i];

		CHECK(e->score >= 34);
		CHECK_EQ(e->score, e->a + e->b);
		CHECK_EQ(e->b, 1);	/* in = the remote's */
		seen |= e->score == 51;
	}
	CHECK(seen);
	CHECK_EQ(V.n[TCPS_VL_HANDSHAKE], 0);	/* no handshake seen */
}

TEST(test_handshake_is_the_network_half_in_host_mode_and_both_in_passive)
{
	struct tcps_key k;
	struct tcps_conn c;

	reset(TCPS_MODE_HOST);
	conn("198.19.0.7", 40000, 80, &k, &c);	/* local client (orig) */
	c.h.flags = TCPS_H_HS_DONE;
	c.h.hs_us[0] = 60000;	/* SYN -> SYN+ACK: the network */
	c.h.hs_us[1] = 50;	/* SYN+ACK -> ACK: local */
	add(&k, &c);
	CHECK_EQ(V.top[TCPS_VL_HANDSHAKE][0].a, 60000);
	CHECK_EQ(V.top[TCPS_VL_HANDSHAKE][0].b, 50);
	CHECK_EQ(V.top[TCPS_VL_HANDSHAKE][0].first, 0);

	c.fsm.flags = TCPS_C_LOCAL0 | TCPS_C_ORIG1;	/* local server: the other way round */
	reset(TCPS_MODE_HOST);
	add(&k, &c);
	CHECK_EQ(V.top[TCPS_VL_HANDSHAKE][0].a, 50);

	reset(TCPS_MODE_PASSIVE);
	c.fsm.flags = 0;	/* side 0 the originator */
	add(&k, &c);
	CHECK_EQ(V.top[TCPS_VL_HANDSHAKE][0].a, 60050);
}

TEST(test_rate_candidates_are_active_connections_with_bytes)
{
	struct tcps_key k;
	struct tcps_conn c;

	reset(TCPS_MODE_HOST);
	cfg.active_since = 5000000000ULL;
	conn("198.19.0.7", 80, 40000, &k, &c);
	c.first_seen = 1000000000ULL;
	c.last_seen = 3000000000ULL;	/* idle since before the last pass */
	c.bytes[0] = 1000000;
	add(&k, &c);
	CHECK_EQ(V.n[TCPS_VL_RATE], 0);
	c.last_seen = 6000000000ULL;	/* 5 s old, 2 MB: ~400 kB/s */
	c.bytes[1] = 1000000;
	add(&k, &c);
	CHECK_EQ(V.n[TCPS_VL_RATE], 1);
	CHECK_EQ(V.top[TCPS_VL_RATE][0].bytes, 2000000);
	CHECK(V.top[TCPS_VL_RATE][0].score > 399000 && V.top[TCPS_VL_RATE][0].score <= 400000);
}

TEST(test_remotes_beyond_the_probes_are_counted_as_lost)
{
	struct tcps_key k;
	struct tcps_conn c;
	__u32 i;

	reset(TCPS_MODE_HOST);
	/* Fill every slot, then one more distinct remote has nowhere to go. */
	for (i = 0; i < TCPS_VIEWS_REMOTES; i++)
		remotes[i].count = 1, remotes[i].addr[0] = 0xffffffff;
	conn("198.19.0.7", 80, 40000, &k, &c);
	add(&k, &c);
	CHECK_EQ(V.remote_lost, 1);
	CHECK_EQ(V.entries, 1);
}

int main(void)
{
	ports = calloc(TCPS_VIEWS_PORTS, sizeof(*ports));
	remotes = calloc(TCPS_VIEWS_REMOTES, sizeof(*remotes));
	if (!ports || !remotes)
		return 1;
	RUN(test_groups_count_sockets_per_local_port_and_remote_not_closed_ones);
	RUN(test_filter_states_and_either_end_in_prefix);
	RUN(test_ranked_lists_keep_the_highest_scores);
	RUN(test_handshake_is_the_network_half_in_host_mode_and_both_in_passive);
	RUN(test_rate_candidates_are_active_connections_with_bytes);
	RUN(test_remotes_beyond_the_probes_are_counted_as_lost);
	free(ports);
	free(remotes);
	return check_done();
}
