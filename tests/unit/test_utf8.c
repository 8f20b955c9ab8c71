// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of user/utf8.c: text from outside (process names, interface
 * names, paths) made well-formed UTF-8 for JSON. The repaired forms below
 * are Python's bytes.decode("utf-8", "replace") of each input (Unicode's
 * "maximal subpart" practice; the first is the example of the Unicode
 * standard, section 3.9).
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "../../user/jbuf.c"
#include "../../user/utf8.c"

static const struct {
	const char *in, *want;
} vec[] = {
	{ "\x61\xf1\x80\x80\xe1\x80\xc2\x62\x80\x63\x80\xbf\x64",
	  "\x61\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\x62\xef\xbf\xbd\x63\xef\xbf\xbd\xef\xbf\xbd\x64" },
	{ "\xc0\xaf",
	  "\xef\xbf\xbd\xef\xbf\xbd" },
	{ "\xe0\x80\xaf",
	  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
	{ "\xed\xa0\x80",
	  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
	{ "\xf4\x90\x80\x80",
	  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
	{ "\xf0\x9f\x98",
	  "\xef\xbf\xbd" },
	{ "\x63\x61\x66\xc3",
	  "\x63\x61\x66\xef\xbf\xbd" },
	{ "\xff\xfe",
	  "\xef\xbf\xbd\xef\xbf\xbd" },
	{ "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
	  "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" },
	{ "\xef\xbf\xbd",
	  "\xef\xbf\xbd" },
	{ "\xf5\x80",
	  "\xef\xbf\xbd\xef\xbf\xbd" },
	{ "\xe1\x80\x41",
	  "\xef\xbf\xbd\x41" },
	{ "\xf4\x8f\xbf\xbf",
	  "\xf4\x8f\xbf\xbf" },
	{ "\xed\x9f\xbf",
	  "\xed\x9f\xbf" },
	{ "\xee\x80\x80",
	  "\xee\x80\x80" },
	{ "\x9f\xf0\xf0\x60\x80\x28",
	  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\x60\xef\xbf\xbd\x28" },
	{ "\xf0\x9f",
	  "\xef\xbf\xbd" },
	{ "\xf0\x26\x67\x55\xe2\xf0\xb0\x90\x9f\x80\xe2",
	  "\xef\xbf\xbd\x26\x67\x55\xef\xbf\xbd\xf0\xb0\x90\x9f\xef\xbf\xbd\xef\xbf\xbd" },
	{ "\x79\xe2\x9f\xf0",
	  "\x79\xef\xbf\xbd\xef\xbf\xbd" },
	{ "\x80\x4b",
	  "\xef\xbf\xbd\x4b" },
	{ "\x9f\xf0\x9f\x80\xf4\x9f\x9f\xf0",
	  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
	{ "\x9f\xe2\xe2\xab\x27\x9f\x80\x2a\xf0\x80\x80",
	  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\x27\xef\xbf\xbd\xef\xbf\xbd\x2a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
	{ "\x3d\x36\x74\xf0\xe2\x80",
	  "\x3d\x36\x74\xef\xbf\xbd\xef\xbf\xbd" },
	{ "\xf0\x9f\x9f\x80\x80\x27\x80\xe2\x8d",
	  "\xf0\x9f\x9f\x80\xef\xbf\xbd\x27\xef\xbf\xbd\xef\xbf\xbd" },
	{ "\xa6\xdd\xf0\x9f\xf0\xdd\x80\xe2\x95\xe2",
	  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xdd\x80\xef\xbf\xbd\xef\xbf\xbd" },
	{ "\xa9\xe2\xf0\xe2\xe2\xe2\xf0\x71",
	  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\x71" },
	{ "\x80\xf0\x9f\xe2\x41\x9f\xd9\x2d\xe2\xf0",
	  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\x41\xef\xbf\xbd\xef\xbf\xbd\x2d\xef\xbf\xbd\xef\xbf\xbd" },
};

TEST(test_ill_formed_subparts_become_one_replacement_each)
{
	unsigned int i;

	for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		size_t len;
		char *out = tcps_utf8_repair(vec[i].in, strlen(vec[i].in), &len);

		CHECK(out != NULL);
		if (!out)
			continue;
		CHECK_EQ(len, strlen(vec[i].want));
		CHECK(!strcmp(out, vec[i].want));
		CHECK_EQ(tcps_utf8_valid(vec[i].in, strlen(vec[i].in)), !strcmp(vec[i].in, vec[i].want));
		CHECK(tcps_utf8_valid(out, len));
		free(out);
	}
}

/* c as UTF-8 into p: its length. */
static size_t encode(unsigned int c, char *p)
{
	if (c < 0x80) {
		p[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		p[0] = (char)(0xc0 | c >> 6);
		p[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		p[0] = (char)(0xe0 | c >> 12);
		p[1] = (char)(0x80 | (c >> 6 & 0x3f));
		p[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	p[0] = (char)(0xf0 | c >> 18);
	p[1] = (char)(0x80 | (c >> 12 & 0x3f));
	p[2] = (char)(0x80 | (c >> 6 & 0x3f));
	p[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

TEST(test_every_code_point_is_valid_and_kept_and_no_surrogate_is)
{
	unsigned int c, bad = 0;
	char s[4];

	for (c = 1; c <= 0x10ffff; c++) {
		size_t n = encode(c, s), len;
		bool surrogate = c >= 0xd800 && c <= 0xdfff;
		char *out;

		if (tcps_utf8_valid(s, n) == surrogate) {
			bad++;
			continue;
		}
		if (surrogate)
			continue;
		out = tcps_utf8_repair(s, n, &len);
		bad += !out || len != n || memcmp(out, s, n);
		free(out);
	}
	CHECK_EQ(bad, 0);
	/* Overlong forms of '/' and of NUL, and what lies above U+10FFFF. */
	CHECK(!tcps_utf8_valid("\xc0\xaf", 2));
	CHECK(!tcps_utf8_valid("\xe0\x80\x80", 3));
	CHECK(!tcps_utf8_valid("\xf4\x90\x80\x80", 4));
	CHECK(tcps_utf8_valid("", 0));
}

TEST(test_random_bytes_always_repair_to_valid_text)
{
	char s[64];
	int k, i, bad = 0;

	srand(5);
	for (k = 0; k < 20000; k++) {
		size_t n = (size_t)(rand() % 64), len;
		char *out;

		for (i = 0; i < (int)n; i++)
			s[i] = (char)(rand() % 2 ? 0x80 + rand() % 128 : 1 + rand() % 255);
		out = tcps_utf8_repair(s, n, &len);
		bad += !out || !tcps_utf8_valid(out, len) || len > 3 * n;
		free(out);
	}
	CHECK_EQ(bad, 0);
}

/* What list --json and the events lines write for a name that is not
 * UTF-8, and the --json error path (json-c). */
TEST(test_json_writers_repair_what_is_not_utf8)
{
	struct tcps_jbuf b = { 0 };
	json_object *o = tcps_json_string("nginx\xff\"w\xc3\xa9");

	tcps_jbuf_str(&b, "nginx\xff\"w\xc3\xa9");
	tcps_jbuf_raw(&b, "", 1);
	CHECK(!b.failed);
	CHECK_STR(b.p, "\"nginx\xef\xbf\xbd\\\"w\xc3\xa9\"");
	tcps_jbuf_free(&b);
	CHECK(o != NULL);
	if (o)
		CHECK_STR(json_object_get_string(o), "nginx\xef\xbf\xbd\"w\xc3\xa9");
	json_object_put(o);
	o = tcps_json_string("plain");
	CHECK(o && !strcmp(json_object_get_string(o), "plain"));
	json_object_put(o);
}

int main(void)
{
	RUN(test_ill_formed_subparts_become_one_replacement_each);
	RUN(test_every_code_point_is_valid_and_kept_and_no_surrogate_is);
	RUN(test_random_bytes_always_repair_to_valid_text);
	RUN(test_json_writers_repair_what_is_not_utf8);
	return check_done();
}
