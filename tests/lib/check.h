/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Minimal test protocol shared by every suite (C and shell): one line per
 * test, "ok NAME", "not ok NAME: why" or "skip NAME: why"; tests/run.sh
 * counts them. A suite exits non-zero if any test failed.
 *
 *	TEST(name) { CHECK(x == 1); CHECK_EQ(a, b); }
 *	int main(void) { RUN(name); return check_done(); }
 */
#ifndef TCPS_CHECK_H
#define TCPS_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failed_tests, check_cur_failed;
static const char *check_cur_name;

#define TEST(name) static void name(void)

#define CHECK_FAIL_(fmt, ...)                                                        \
	do {                                                                         \
		if (!check_cur_failed)                                               \
			printf("not ok %s: %s:%d: " fmt "\n", check_cur_name, __FILE__, \
			       __LINE__, ##__VA_ARGS__);                             \
		check_cur_failed = 1;                                                \
	} while (0)

#define CHECK(cond)                                        \
	do {                                               \
		if (!(cond))                               \
			CHECK_FAIL_("CHECK(%s) failed", #cond); \
	} while (0)

#define CHECK_EQ(a, b)                                                                 \
	do {                                                                           \
		long long a_ = (long long)(a), b_ = (long long)(b);                    \
		if (a_ != b_)                                                          \
			CHECK_FAIL_("%s == %lld, expected %s == %lld", #a, a_, #b, b_); \
	} while (0)

#define CHECK_STR(a, b)                                                          \
	do {                                                                     \
		const char *a_ = (a), *b_ = (b);                                 \
		if (!a_ || !b_ || strcmp(a_, b_))                                \
			CHECK_FAIL_("%s == \"%s\", expected \"%s\"", #a, a_ ? a_ : "(null)", \
				    b_ ? b_ : "(null)");                         \
	} while (0)

#define RUN(name)                                            \
	do {                                                 \
		check_cur_name = #name;                      \
		check_cur_failed = 0;                        \
		name();                                      \
		if (check_cur_failed)                        \
			check_failed_tests++;                \
		else                                         \
			printf("ok %s\n", #name);            \
		fflush(stdout);                              \
	} while (0)

static inline int check_done(void)
{
	return check_failed_tests ? 1 : 0;
}

#endif /* TCPS_CHECK_H */
