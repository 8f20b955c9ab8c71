/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * ss(8)-style filter expressions for list, events and /v1/connections:
 *
 *   state established '( dport = :443 or sport = :80 )' dst 198.18.0.0/15
 *
 * Leading `state S` / `exclude S` clauses select states (ss's names and
 * groups, or netstat's); then an expression of sport/dport OP PORT and
 * src/dst [=|!=] ADDR[/PLEN][:PORT], joined by and/or/not and parentheses
 * (juxtaposition is `and`). src/sport are the local end (orig in passive
 * mode), dst/dport the remote end (resp). Pure C and libc only, so that
 * tests/unit/test_filter.c compiles it on its own.
 */
#ifndef TCPS_FILTER_H
#define TCPS_FILTER_H

#include <stdbool.h>
#include <stdio.h>
#include <linux/types.h>

#include "tcpscope.h"

/* What an expression is evaluated against: one connection (or event)
 * seen from its first side. Addresses in network byte order. */
struct tcps_subject {
	__u8 family;		/* TCPS_AF_INET / TCPS_AF_INET6 */
	__u8 src[16], dst[16];
	__u16 sport, dport;	/* host byte order */
	__u8 state;		/* enum tcps_state */
};

struct tcps_expr_error {
	int col;		/* 1-based column in the text, of the bad token */
	char msg[320];		/* room for the longest: an unknown state, 63-byte name */
};

struct tcps_expr;

/* Compile text; NULL with err filled on a syntax error (or no memory). An
 * empty text compiles to an expression that matches everything. */
struct tcps_expr *tcps_expr_compile(const char *text, struct tcps_expr_error *err);
bool tcps_expr_eval(const struct tcps_expr *x, const struct tcps_subject *s);
void tcps_expr_free(struct tcps_expr *x);

/* argv[0..argc) joined by single spaces (malloc'ed), as ss takes its
 * filter from the remaining arguments. */
char *tcps_expr_join(int argc, char *const *argv);

/* The text and a caret under the bad token, two lines on f:
 *     state estab
 *           ^          */
void tcps_expr_caret(FILE *f, const char *text, const struct tcps_expr_error *err);

/* One state name or group (ss's or netstat's spelling, any case, '_' and
 * '-' alike): bit mask of states (1 << state), 0 if unknown. */
__u32 tcps_expr_states(const char *name);

#endif /* TCPS_FILTER_H */
