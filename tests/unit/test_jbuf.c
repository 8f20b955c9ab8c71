// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of the JSON text writer (user/jbuf.c) that list --json and the
 * events lines are made with: the text is what yajl's generator writes,
 * byte for byte, for every byte value in a string (a process name or an
 * interface name may hold any), of the string repaired to UTF-8 where it
 * is not (test_utf8.c), and a parser reads back what was written.
 */
#include <json-c/json.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>

#include "check.h"
#include "../../user/jbuf.c"
#include "../../user/utf8.c"

/* The text of s as yajl's generator writes a top-level string, s made
 * UTF-8 first where it is not. */
static char *yajl_text(const char *s)
{
	yajl_gen g = yajl_gen_alloc(NULL);
	const unsigned char *buf;
	size_t len = strlen(s);
	char *out, *fixed = tcps_utf8_valid(s, len) ? NULL : tcps_utf8_repair(s, len, &len);

	yajl_gen_string(g, (const unsigned char *)(fixed ? fixed : s), len);
	yajl_gen_get_buf(g, &buf, &len);
	out = strndup((const char *)buf, len);
	yajl_gen_free(g);
	free(fixed);
	return out;
}

/* The text of s as jbuf writes it. */
static char *jbuf_text(const char *s)
{
	struct tcps_jbuf b = { 0 };
	char *out;

	tcps_jbuf_str(&b, s);
	out = b.failed ? NULL : strndup(b.p, b.len);
	tcps_jbuf_free(&b);
	return out;
}

static int same_as_yajl(const char *s)
{
	char *a = yajl_text(s), *b = jbuf_text(s);
	int ok = a && b && !strcmp(a, b);

	if (!ok)
		printf("# %s: yajl %s, jbuf %s\n", s, a ? a : "(null)", b ? b : "(null)");
	free(a);
	free(b);
	return ok;
}

TEST(test_fields_and_separators_as_yajl_writes_them)
{
	struct tcps_jbuf b = { 0 };

	tcps_jbuf_open(&b);
	tcps_jbuf_key(&b, "family");
	tcps_jbuf_str(&b, "ipv4");
	tcps_jbuf_key(&b, "local_port");
	tcps_jbuf_int(&b, 80);
	tcps_jbuf_key(&b, "midstream");
	tcps_jbuf_bool(&b, false);
	tcps_jbuf_key(&b, "halfopen");
	tcps_jbuf_bool(&b, true);
	tcps_jbuf_key(&b, "rtt_us");
	tcps_jbuf_null(&b);
	tcps_jbuf_key(&b, "ifname");
	tcps_jbuf_str(&b, "");
	tcps_jbuf_close(&b);
	tcps_jbuf_raw(&b, ",", 1);
	tcps_jbuf_open(&b);
	tcps_jbuf_close(&b);
	tcps_jbuf_raw(&b, "", 1);	/* the NUL, to compare as a string */
	CHECK(!b.failed);
	CHECK_STR(b.p, "{\"family\":\"ipv4\",\"local_port\":80,\"midstream\":false,"
		       "\"halfopen\":true,\"rtt_us\":null,\"ifname\":\"\"},{}");
	tcps_jbuf_free(&b);
}

TEST(test_every_byte_value_in_a_string_is_escaped_as_yajl_does)
{
	char s[4] = "a?b";
	int c, bad = 0;

	for (c = 1; c < 256; c++) {
		s[1] = (char)c;
		bad += !same_as_yajl(s);
		s[0] = (char)c;	/* at the start and in a run, too */
		s[2] = (char)c;
		bad += !same_as_yajl(s);
		s[0] = 'a';
		s[2] = 'b';
	}
	CHECK_EQ(bad, 0);
}

TEST(test_hostile_process_names_match_yajl_and_read_back)
{
	static const char *const names[] = {
		"nginx", "\"}],\"pid\":1,{\"", "a\\b\\\\", "tab\there", "nl\nx\r",
		"\x01\x1f\x7f", "/usr/bin/x", "caf\xc3\xa9", "\xe2\x80\xa8sep",
		"</script>", "{}[]:,",
	};
	unsigned int i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct tcps_jbuf b = { 0 };
		json_object *o, *v;

		CHECK(same_as_yajl(names[i]));
		tcps_jbuf_open(&b);
		tcps_jbuf_key(&b, "comm");
		tcps_jbuf_str(&b, names[i]);
		tcps_jbuf_close(&b);
		tcps_jbuf_raw(&b, "", 1);
		o = json_tokener_parse(b.p);
		CHECK(o && json_object_object_get_ex(o, "comm", &v));
		if (o && json_object_object_get_ex(o, "comm", &v))
			CHECK_STR(json_object_get_string(v), names[i]);
		CHECK_EQ(o ? json_object_object_length(o) : 0, 1);
		json_object_put(o);
		tcps_jbuf_free(&b);
	}
}

TEST(test_long_random_strings_match_yajl)
{
	char s[301];
	int i, k, bad = 0;

	srand(11);
	for (k = 0; k < 200; k++) {
		int n = rand() % 300;

		for (i = 0; i < n; i++)	/* mostly plain, some of everything */
			s[i] = (char)(rand() % 8 ? 'a' + rand() % 26 : 1 + rand() % 255);
		s[n] = '\0';
		bad += !same_as_yajl(s);
	}
	CHECK_EQ(bad, 0);
}

TEST(test_integers_at_the_limits)
{
	static const long long v[] = { 0, 1, -1, 9, 10, 99, 100, 65535, LLONG_MAX, LLONG_MIN };
	static const char *const want[] = { "0", "1", "-1", "9", "10", "99", "100", "65535",
					    "9223372036854775807", "-9223372036854775808" };
	unsigned int i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct tcps_jbuf b = { 0 };

		tcps_jbuf_int(&b, v[i]);
		tcps_jbuf_raw(&b, "", 1);
		CHECK_STR(b.p, want[i]);
		tcps_jbuf_free(&b);
	}
}

TEST(test_a_long_text_grows_flushes_and_starts_again)
{
	struct tcps_jbuf b = { 0 };
	char *out = NULL, want[32];
	size_t len = 0, off = 0;
	FILE *f = open_memstream(&out, &len);
	int i, bad = 0;

	CHECK(f != NULL);
	if (!f)
		return;
	/* Past the first allocation many times over, an escaped string now
	 * and then (yajl writes into the buffer while it grows). */
	for (i = 0; i < 20000; i++) {
		tcps_jbuf_open(&b);
		tcps_jbuf_key(&b, "n");
		tcps_jbuf_int(&b, i);
		tcps_jbuf_key(&b, "s");
		tcps_jbuf_str(&b, i % 7 ? "x" : "\"");
		tcps_jbuf_close(&b);
		if (i == 10000)
			CHECK_EQ(tcps_jbuf_flush(&b, f), 0);
	}
	CHECK_EQ(tcps_jbuf_flush(&b, f), 0);
	CHECK_EQ(b.len, 0);
	fclose(f);
	for (i = 0; i < 20000 && !bad; i++) {
		int n = snprintf(want, sizeof(want), "{\"n\":%d,\"s\":\"%s\"}", i,
				 i % 7 ? "x" : "\\\"");

		bad = off + (size_t)n > len || memcmp(out + off, want, (size_t)n);
		off += (size_t)n;
	}
	CHECK(!bad);
	CHECK_EQ(off, len);
	free(out);
	tcps_jbuf_free(&b);
}

int main(void)
{
	RUN(test_fields_and_separators_as_yajl_writes_them);
	RUN(test_every_byte_value_in_a_string_is_escaped_as_yajl_does);
	RUN(test_hostile_process_names_match_yajl_and_read_back);
	RUN(test_long_random_strings_match_yajl);
	RUN(test_integers_at_the_limits);
	RUN(test_a_long_text_grows_flushes_and_starts_again);
	return check_done();
}
