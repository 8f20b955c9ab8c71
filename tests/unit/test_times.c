// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of the time text every output prints (user/common.c):
 * tcps_fmt_time against gmtime_r + strftime + printf, which it replaced,
 * across the whole range a __u64 of nanoseconds covers; and the
 * monotonic-to-real conversion against the clocks themselves.
 */
#include <time.h>

#include "check.h"
#include "../../user/common.c"
#include "../../user/utf8.c"

/* The text as the previous strftime/snprintf code made it. */
static void reference(__u64 real_ns, char *buf, size_t len)
{
	time_t sec = (time_t)(real_ns / 1000000000ULL);
	char base[32];
	struct tm tm;

	gmtime_r(&sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%06lluZ", base, (unsigned long long)(real_ns % 1000000000ULL) / 1000);
}

static int same_as_reference(__u64 ns, size_t len)
{
	char a[48], b[48];

	memset(a, 'x', sizeof(a));
	memset(b, 'x', sizeof(b));
	tcps_fmt_time(ns, a, len);
	reference(ns, b, len);
	if (memcmp(a, b, sizeof(a))) {
		printf("# %llu (len %zu): %s, expected %s\n", (unsigned long long)ns, len, a, b);
		return 0;
	}
	return 1;
}

TEST(test_time_text_as_strftime_at_calendar_edges)
{
	static const __u64 s[] = {
		0, 59, 60, 86399, 86400,
		951782400,	/* 2000-02-29 */
		951868799,	/* 2000-02-29T23:59:59 */
		1709164800,	/* 2024-02-29 */
		1798761599,	/* 2026-12-31T23:59:59 */
		4107542399,	/* 2100-02-28T23:59:59 (not a leap year) */
		4107542400,
		18446744073ULL,	/* the last second a __u64 of ns holds (2554) */
	};
	static const __u64 frac[] = { 0, 999, 1000, 123456789, 999999999 };
	unsigned int i, j;
	int bad = 0;

	for (i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		for (j = 0; j < sizeof(frac) / sizeof(frac[0]); j++)
			if (s[i] * 1000000000ULL + frac[j] >= s[i] * 1000000000ULL)	/* no wrap */
				bad += !same_as_reference(s[i] * 1000000000ULL + frac[j], 40);
	CHECK_EQ(bad, 0);
}

TEST(test_time_text_as_strftime_at_random_instants)
{
	int i, bad = 0;
	__u64 ns;

	srand(3339);
	for (i = 0; i < 200000; i++) {
		ns = ((__u64)rand() << 33 ^ (__u64)rand() << 2 ^ (__u64)rand()) % 18446744073709551615ULL;
		bad += !same_as_reference(ns, 40);
	}
	CHECK_EQ(bad, 0);
}

TEST(test_short_buffers_cut_the_text_as_snprintf)
{
	size_t len;
	int bad = 0;

	for (len = 0; len <= 30; len++)
		bad += !same_as_reference(1798761599123456789ULL, len);
	CHECK_EQ(bad, 0);
}

static __u64 ns_of(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
}

TEST(test_monotonic_converts_to_the_real_clock)
{
	__u64 mono = ns_of(CLOCK_MONOTONIC), real = ns_of(CLOCK_REALTIME);
	__u64 got = tcps_mono_to_real(mono - 5000000000ULL);	/* 5 s ago */
	long long err = (long long)(got - (real - 5000000000ULL));

	/* The reads above are a few µs apart; a millisecond is a wrong offset. */
	CHECK(err > -1000000 && err < 1000000);
	/* The same instant converts to the same value, and a later one later
	 * by as much (exactly, unless the offset was measured again between
	 * the two: then within that measurement's error). */
	CHECK_EQ(tcps_mono_to_real(mono - 5000000000ULL), got);
	err = (long long)(tcps_mono_to_real(mono - 4000000000ULL) - got) - 1000000000LL;
	CHECK(err > -100000 && err < 100000);
}

int main(void)
{
	RUN(test_time_text_as_strftime_at_calendar_edges);
	RUN(test_time_text_as_strftime_at_random_instants);
	RUN(test_short_buffers_cut_the_text_as_snprintf);
	RUN(test_monotonic_converts_to_the_real_clock);
	return check_done();
}
