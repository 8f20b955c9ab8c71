// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Well-formed UTF-8 for JSON output (utf8.h). */
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

/*
 * The sequence at p (n > 0 bytes left): its length, and whether it is well
 * formed (Unicode table 3-7). When it is not, the length is that of its
 * maximal ill-formed subpart: the lead byte and the continuation bytes that
 * could still have begun a valid sequence, at least 1.
 */
static size_t seq(const unsigned char *p, size_t n, bool *ok)
{
	unsigned char lo = 0x80, hi = 0xbf;	/* range of the second byte */
	size_t need, i;

	*ok = false;
	if (p[0] < 0x80) {
		*ok = true;
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		need = 2;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		need = 3;
		if (p[0] == 0xe0)
			lo = 0xa0;	/* no overlong forms */
		else if (p[0] == 0xed)
			hi = 0x9f;	/* no surrogates */
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		need = 4;
		if (p[0] == 0xf0)
			lo = 0x90;
		else if (p[0] == 0xf4)
			hi = 0x8f;	/* nothing above U+10FFFF */
	} else {
		return 1;	/* a continuation byte, C0, C1, F5..FF */
	}
	for (i = 1; i < need; i++) {
		if (i >= n || p[i] < lo || p[i] > hi)
			return i;
		lo = 0x80;
		hi = 0xbf;
	}
	*ok = true;
	return need;
}

bool tcps_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	bool ok;

	while (i < n) {
		if (p[i] < 0x80) {	/* the common case, without the call */
			i++;
			continue;
		}
		i += seq(p + i, n - i, &ok);
		if (!ok)
			return false;
	}
	return true;
}

char *tcps_utf8_repair(const char *s, size_t n, size_t *len)
{
	const unsigned char *p = (const unsigned char *)s;
	char *out = malloc(n * 3 + 1);	/* a byte becomes at most 3 */
	size_t i = 0, o = 0, k;
	bool ok;

	if (!out)
		return NULL;
	while (i < n) {
		k = seq(p + i, n - i, &ok);
		if (ok) {
			memcpy(out + o, s + i, k);
			o += k;
		} else {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
		}
		i += k;
	}
	out[o] = '\0';
	*len = o;
	return out;
}

json_object *tcps_json_string(const char *s)
{
	size_t n = strlen(s), len;
	json_object *o;
	char *fixed;

	if (tcps_utf8_valid(s, n))
		return json_object_new_string(s);
	fixed = tcps_utf8_repair(s, n, &len);
	if (!fixed)
		return NULL;
	o = json_object_new_string_len(fixed, (int)len);
	free(fixed);
	return o;
}
