// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of the ss-style filter language (user/filter.c): state names
 * and ss's groups, ports with every operator, CIDR for addresses (IPv4 and
 * IPv6, with a port), and/or/not/parentheses with ss's precedence, and
 * errors that point at the bad token's column.
 */
#include <arpa/inet.h>
#include <string.h>

#include "check.h"
#include "../../user/filter.c"

/* A connection seen from its local (src) end. */
static struct tcps_subject subj(const char *src, unsigned int sport, const char *dst,
				unsigned int dport, int state)
{
	struct tcps_subject s;

	memset(&s, 0, sizeof(s));
	if (inet_pton(AF_INET, src, s.src) == 1) {
		s.family = TCPS_AF_INET;
		inet_pton(AF_INET, dst, s.dst);
	} else {
		s.family = TCPS_AF_INET6;
		inet_pton(AF_INET6, src, s.src);
		inet_pton(AF_INET6, dst, s.dst);
	}
	s.sport = (__u16)sport;
	s.dport = (__u16)dport;
	s.state = (__u8)state;
	return s;
}

/* 1 match, 0 no match, -1 did not compile. */
static int match(const char *text, const struct tcps_subject *s)
{
	struct tcps_expr_error e;
	struct tcps_expr *x = tcps_expr_compile(text, &e);
	int r;

	if (!x) {
		printf("# '%s': column %d: %s\n", text, e.col, e.msg);
		return -1;
	}
	r = tcps_expr_eval(x, s);
	tcps_expr_free(x);
	return r;
}

/* Column of the error, 0 if it compiled. */
static int err_col(const char *text, char *msg, size_t len)
{
	struct tcps_expr_error e;
	struct tcps_expr *x = tcps_expr_compile(text, &e);

	if (x) {
		tcps_expr_free(x);
		return 0;
	}
	if (msg)
		snprintf(msg, len, "%s", e.msg);
	return e.col;
}

TEST(test_empty_filter_matches_everything)
{
	struct tcps_subject s = subj("198.18.0.1", 40000, "198.18.0.2", 80, TCPS_SYN_SENT);

	CHECK_EQ(match("", &s), 1);
	CHECK_EQ(match("   ", &s), 1);
}

TEST(test_issue_example_selects_established_https_or_port_80_in_benchmark_net)
{
	const char *f = "state established ( dport = :443 or sport = :80 ) dst 198.18.0.0/15";
	struct tcps_subject a = subj("198.18.0.1", 40000, "198.19.7.2", 443, TCPS_ESTABLISHED);
	struct tcps_subject b = subj("198.18.0.1", 80, "198.18.9.9", 51000, TCPS_ESTABLISHED);
	struct tcps_subject c = subj("198.18.0.1", 40000, "198.18.0.2", 8443, TCPS_ESTABLISHED);
	struct tcps_subject d = subj("198.18.0.1", 40000, "198.20.0.2", 443, TCPS_ESTABLISHED);
	struct tcps_subject e = subj("198.18.0.1", 40000, "198.18.0.2", 443, TCPS_TIME_WAIT);

	CHECK_EQ(match(f, &a), 1);
	CHECK_EQ(match(f, &b), 1);
	CHECK_EQ(match(f, &c), 0);	/* neither port */
	CHECK_EQ(match(f, &d), 0);	/* outside 198.18.0.0/15 */
	CHECK_EQ(match(f, &e), 0);	/* not established */
}

TEST(test_state_names_ss_and_netstat_spellings)
{
	static const struct {
		const char *name;
		int state;
	} cases[] = {
		{ "established", TCPS_ESTABLISHED }, { "ESTABLISHED", TCPS_ESTABLISHED },
		{ "syn-sent", TCPS_SYN_SENT },	     { "SYN_SENT", TCPS_SYN_SENT },
		{ "syn-recv", TCPS_SYN_RECV },	     { "fin-wait-1", TCPS_FIN_WAIT1 },
		{ "FIN_WAIT1", TCPS_FIN_WAIT1 },     { "fin-wait-2", TCPS_FIN_WAIT2 },
		{ "time-wait", TCPS_TIME_WAIT },     { "TIME_WAIT", TCPS_TIME_WAIT },
		{ "closed", TCPS_CLOSE },	     { "CLOSE", TCPS_CLOSE },
		{ "close-wait", TCPS_CLOSE_WAIT },   { "last-ack", TCPS_LAST_ACK },
		{ "listening", TCPS_LISTEN },	     { "LISTEN", TCPS_LISTEN },
		{ "closing", TCPS_CLOSING },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK_EQ(tcps_expr_states(cases[i].name), 1U << cases[i].state);
	CHECK_EQ(tcps_expr_states("estab"), 1U << TCPS_ESTABLISHED);
	CHECK_EQ(tcps_expr_states("nosuch"), 0);
	CHECK_EQ(tcps_expr_states(""), 0);
}

static bool group_has(const char *group, int st)
{
	return tcps_expr_states(group) & (1U << st);
}

TEST(test_ss_state_groups)
{
	int st;

	for (st = 1; st < TCPS_STATE_MAX; st++) {
		CHECK(group_has("all", st));
		CHECK_EQ(group_has("connected", st), st != TCPS_LISTEN && st != TCPS_CLOSE);
		CHECK_EQ(group_has("synchronized", st),
			 st != TCPS_LISTEN && st != TCPS_CLOSE && st != TCPS_SYN_SENT);
		CHECK_EQ(group_has("bucket", st), st == TCPS_SYN_RECV || st == TCPS_TIME_WAIT);
		CHECK_EQ(group_has("big", st), st != TCPS_SYN_RECV && st != TCPS_TIME_WAIT);
	}
	CHECK(!group_has("all", 0));
}

TEST(test_leading_state_clauses_unite_and_exclude_removes)
{
	struct tcps_subject est = subj("198.18.0.1", 1, "198.18.0.2", 2, TCPS_ESTABLISHED);
	struct tcps_subject lst = subj("198.18.0.1", 22, "0.0.0.0", 0, TCPS_LISTEN);
	struct tcps_subject tw = subj("198.18.0.1", 1, "198.18.0.2", 2, TCPS_TIME_WAIT);

	CHECK_EQ(match("state established state listening", &est), 1);
	CHECK_EQ(match("state established state listening", &lst), 1);
	CHECK_EQ(match("state established state listening", &tw), 0);
	CHECK_EQ(match("exclude listening", &lst), 0);
	CHECK_EQ(match("exclude listening", &tw), 1);
	CHECK_EQ(match("state connected exclude time-wait", &tw), 0);
	CHECK_EQ(match("state connected exclude time-wait", &est), 1);
	CHECK_EQ(match("state connected", &lst), 0);
	CHECK_EQ(match("state established and sport = :1", &est), 1);
	CHECK_EQ(match("state established and sport = :2", &est), 0);
	/* inside an expression, state is a condition like any other */
	CHECK_EQ(match("( state listening or dport = :2 )", &lst), 1);
	CHECK_EQ(match("( state listening or dport = :2 )", &est), 1);
	CHECK_EQ(match("( state listening or dport = :2 )", &tw), 1);
	CHECK_EQ(match("not state bucket", &tw), 0);
}

TEST(test_port_operators)
{
	struct tcps_subject s = subj("198.18.0.1", 1024, "198.18.0.2", 443, TCPS_ESTABLISHED);

	CHECK_EQ(match("dport = :443", &s), 1);
	CHECK_EQ(match("dport == 443", &s), 1);
	CHECK_EQ(match("dport eq :443", &s), 1);
	CHECK_EQ(match("dport :443", &s), 1);
	CHECK_EQ(match("dport=:443", &s), 1);
	CHECK_EQ(match("dport != :443", &s), 0);
	CHECK_EQ(match("dport neq :80", &s), 1);
	CHECK_EQ(match("sport < :1024", &s), 0);
	CHECK_EQ(match("sport lt 1025", &s), 1);
	CHECK_EQ(match("sport <= :1024", &s), 1);
	CHECK_EQ(match("sport le :1023", &s), 0);
	CHECK_EQ(match("sport > :1023", &s), 1);
	CHECK_EQ(match("sport gt 1024", &s), 0);
	CHECK_EQ(match("sport >= 1024", &s), 1);
	CHECK_EQ(match("sport>=1025", &s), 0);
	CHECK_EQ(match("sport ge :65535", &s), 0);
	/* sport is the local end, dport the remote one */
	CHECK_EQ(match("sport = :443", &s), 0);
}

TEST(test_addresses_cidr_and_ports)
{
	struct tcps_subject s = subj("198.18.0.1", 40000, "198.19.255.7", 443, TCPS_ESTABLISHED);
	struct tcps_subject v6 = subj("2001:db8:1::1", 40000, "2001:db8:2::7", 443, TCPS_ESTABLISHED);

	CHECK_EQ(match("dst 198.18.0.0/15", &s), 1);
	CHECK_EQ(match("dst 198.18.0.0/16", &s), 0);
	CHECK_EQ(match("dst 198.19.255.7", &s), 1);
	CHECK_EQ(match("dst = 198.19.255.7", &s), 1);
	CHECK_EQ(match("dst != 198.19.255.7", &s), 0);
	CHECK_EQ(match("dst 198.19.255.7:443", &s), 1);
	CHECK_EQ(match("dst 198.19.255.7:80", &s), 0);
	CHECK_EQ(match("dst 198.18.0.0/15:443", &s), 1);
	CHECK_EQ(match("dst *:443", &s), 1);
	CHECK_EQ(match("src 198.18.0.1", &s), 1);
	CHECK_EQ(match("src 198.18.0.2", &s), 0);
	CHECK_EQ(match("dst 0.0.0.0/0", &s), 1);
	CHECK_EQ(match("dst 198.19.255.6/31", &s), 1);
	CHECK_EQ(match("dst 198.19.255.4/31", &s), 0);
	/* family must match */
	CHECK_EQ(match("dst 2001:db8::/32", &s), 0);
	CHECK_EQ(match("dst 2001:db8::/32", &v6), 1);
	CHECK_EQ(match("dst 2001:db8:2::/48", &v6), 1);
	CHECK_EQ(match("dst 2001:db8:3::/48", &v6), 0);
	CHECK_EQ(match("dst [2001:db8:2::7]:443", &v6), 1);
	CHECK_EQ(match("dst [2001:db8:2::7]:80", &v6), 0);
	CHECK_EQ(match("dst [2001:db8::]/32", &v6), 1);
	CHECK_EQ(match("src 2001:db8:1::1", &v6), 1);
	CHECK_EQ(match("dst 198.18.0.0/15", &v6), 0);
}

TEST(test_and_or_not_parentheses_precedence)
{
	struct tcps_subject s = subj("198.18.0.1", 80, "198.18.0.2", 50000, TCPS_ESTABLISHED);

	/* and binds tighter than or */
	CHECK_EQ(match("sport = :81 and dport = :1 or sport = :80", &s), 1);
	CHECK_EQ(match("sport = :81 and ( dport = :1 or sport = :80 )", &s), 0);
	CHECK_EQ(match("sport = :80 dport = :50000", &s), 1);	/* juxtaposition is and */
	CHECK_EQ(match("sport = :80 && dport = :1", &s), 0);
	CHECK_EQ(match("sport = :1 || dport = :50000", &s), 1);
	CHECK_EQ(match("sport = :1 | dport = :50000", &s), 1);
	CHECK_EQ(match("not sport = :80", &s), 0);
	CHECK_EQ(match("! sport = :80", &s), 0);
	CHECK_EQ(match("!sport = :81", &s), 1);
	CHECK_EQ(match("not ( sport = :1 or dport = :2 )", &s), 1);
	CHECK_EQ(match("((sport = :80))", &s), 1);
	CHECK_EQ(match("not not sport = :80", &s), 1);
}

TEST(test_errors_point_at_the_bad_token)
{
	char msg[sizeof(((struct tcps_expr_error *)0)->msg)];
	char longname[64];

	CHECK_EQ(err_col("state estab1ished", msg, sizeof(msg)), 7);
	CHECK(strstr(msg, "unknown state 'estab1ished'") != NULL);
	/* The whole message, even for the longest name a token keeps. */
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	snprintf(msg, sizeof(msg), "state %s", longname);
	CHECK_EQ(err_col(msg, msg, sizeof(msg)), 7);
	CHECK(strstr(msg, "groups: all connected synchronized bucket big)") != NULL);
	CHECK_EQ(err_col("state established ( dport = :443 or sprt = :80 )", msg, sizeof(msg)), 37);
	CHECK(strstr(msg, "unknown keyword 'sprt'") != NULL);
	CHECK_EQ(err_col("dport = :99999", msg, sizeof(msg)), 9);
	CHECK(strstr(msg, "not a port") != NULL);
	CHECK_EQ(err_col("dst 300.1.2.3/8", msg, sizeof(msg)), 5);
	CHECK(strstr(msg, "not an address") != NULL);
	CHECK_EQ(err_col("dst 198.18.0.0/33", NULL, 0), 5);
	CHECK_EQ(err_col("( dport = :443", msg, sizeof(msg)), 1);
	CHECK(strstr(msg, "never closed") != NULL);
	CHECK_EQ(err_col("dport = :443 )", msg, sizeof(msg)), 14);
	CHECK(strstr(msg, "')'") != NULL);
	CHECK_EQ(err_col("dport = :443 or", msg, sizeof(msg)), 16);
	CHECK_EQ(err_col("dst < 198.18.0.1", msg, sizeof(msg)), 5);
	CHECK_EQ(err_col("dport", msg, sizeof(msg)), 6);
	CHECK_EQ(err_col("state", msg, sizeof(msg)), 6);
	CHECK_EQ(err_col("sport = :1 exclude listening", msg, sizeof(msg)), 12);
	CHECK_EQ(err_col("sport =~ :1", msg, sizeof(msg)), 8);
	CHECK_EQ(err_col("dport = :443 ; ls", msg, sizeof(msg)), 14);
}

/* Every error the parser can give, with its column. A group or an
 * expression can only be followed by the end or a ')': anything else after
 * a complete term starts another (and-ed) term, so a stray token is an
 * unknown keyword, and a '(' without its ')' is never closed. */
TEST(test_each_parser_error_points_at_its_token)
{
	static const struct {
		const char *text, *msg;
		int col;
	} cases[] = {
		{ "( )", "unexpected ')'", 3 },
		{ "not )", "unexpected ')'", 5 },
		{ "( dport = :1 ) )", "unexpected ')'", 16 },
		{ "(", "expression ends too early", 2 },
		{ "not", "expression ends too early", 4 },
		{ "dport = :1 and", "'and' needs something after it", 15 },
		{ "state established and", "'and' needs something after it", 22 },
		{ "dst", "'dst' needs an address or CIDR", 4 },
		{ "src =", "'src' needs an address or CIDR", 6 },
		{ "dport = = 80", "unknown operator", 9 },
		{ "dport =< 80", "unknown operator", 7 },
		{ "( dport = :1 dport = :2", "'(' is never closed", 1 },
		{ "( dport = :1 ; )", "unknown keyword ';'", 14 },
	};
	char msg[sizeof(((struct tcps_expr_error *)0)->msg)];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_EQ(err_col(cases[i].text, msg, sizeof(msg)), cases[i].col);
		if (!strstr(msg, cases[i].msg))
			printf("# '%s': got '%s'\n", cases[i].text, msg);
		CHECK(strstr(msg, cases[i].msg) != NULL);
	}
}

TEST(test_caret_is_under_the_column)
{
	struct tcps_expr_error e = { .col = 7 };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	tcps_expr_caret(f, "state estab", &e);
	fclose(f);
	CHECK_STR(buf, "  state estab\n        ^\n");
	free(buf);
}

TEST(test_join_of_arguments_keeps_quoted_groups)
{
	char *argv[] = { "state", "established", "( dport = :443 or sport = :80 )", "dst",
			 "198.18.0.0/15" };
	char *s = tcps_expr_join(5, argv);

	CHECK_STR(s, "state established ( dport = :443 or sport = :80 ) dst 198.18.0.0/15");
	free(s);
}

TEST(test_nesting_and_length_are_bounded)
{
	char deep[512], longf[16384], msg[64];
	struct tcps_subject s = subj("198.18.0.1", 1, "198.18.0.2", 2, TCPS_ESTABLISHED);
	size_t i, off = 0;

	for (i = 0; i < 100; i++)
		deep[i] = '(';
	deep[100] = '\0';
	CHECK(err_col(deep, NULL, 0) > 0);
	/* Past 32 levels of "(" or "not", under the token that goes past. */
	CHECK_EQ(err_col(deep, msg, sizeof(msg)), 33);
	CHECK_STR(msg, "nested too deep");
	for (i = off = 0; i < 40; i++)
		off += (size_t)snprintf(deep + off, sizeof(deep) - off, "not ");
	snprintf(deep + off, sizeof(deep) - off, "sport = :1");
	CHECK_EQ(err_col(deep, msg, sizeof(msg)), 133);
	CHECK_STR(msg, "nested too deep");
	deep[4 * 32] = '\0';	/* 32 "not ": as deep as allowed */
	strcat(deep, "sport = :1");
	CHECK_EQ(match(deep, &s), 1);
	off = 0;
	for (i = 0; i < 600; i++)
		off += (size_t)snprintf(longf + off, sizeof(longf) - off, "%ssport = :1",
					i ? " or " : "");
	CHECK(err_col(longf, NULL, 0) > 0);
	CHECK_EQ(match("((((((((sport = :1))))))))", &s), 1);
}

int main(void)
{
	RUN(test_empty_filter_matches_everything);
	RUN(test_issue_example_selects_established_https_or_port_80_in_benchmark_net);
	RUN(test_state_names_ss_and_netstat_spellings);
	RUN(test_ss_state_groups);
	RUN(test_leading_state_clauses_unite_and_exclude_removes);
	RUN(test_port_operators);
	RUN(test_addresses_cidr_and_ports);
	RUN(test_and_or_not_parentheses_precedence);
	RUN(test_errors_point_at_the_bad_token);
	RUN(test_each_parser_error_points_at_its_token);
	RUN(test_caret_is_under_the_column);
	RUN(test_join_of_arguments_keeps_quoted_groups);
	RUN(test_nesting_and_length_are_bounded);
	return check_done();
}
