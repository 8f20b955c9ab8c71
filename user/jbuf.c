// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* JSON text in a growing buffer (jbuf.h). A generator per field, as yajl
 * is, cost list --json most of its user time at a million rows: a key
 * check and a state machine per call. Here only the strings that need
 * escaping go through yajl. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "jbuf.h"
#include "utf8.h"

static __attribute__((noinline)) char *grow(struct tcps_jbuf *b, size_t n)
{
	size_t cap = b->cap ? b->cap : 4096;
	char *p;

	if (b->failed)
		return NULL;
	while (cap - b->len < n)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p) {
		b->failed = true;
		return NULL;
	}
	b->p = p;
	b->cap = cap;
	return p + b->len;
}

/* Room for n more bytes at the end, or NULL once out of memory. */
static inline char *room(struct tcps_jbuf *b, size_t n)
{
	if (b->cap - b->len >= n && !b->failed)
		return b->p + b->len;
	return grow(b, n);
}

void tcps_jbuf_raw(struct tcps_jbuf *b, const char *s, size_t n)
{
	char *p = n ? room(b, n) : NULL;

	if (!p)
		return;
	memcpy(p, s, n);
	b->len += n;
}

/* The bytes a string may not be copied with: those yajl's string encoder
 * changes (below 0x20, NUL among them, which also ends a C string; '"' and
 * '\\'; it escapes '/' only with yajl_gen_escape_solidus, never set here),
 * and every byte above 0x7f, so that the text is checked for UTF-8 first
 * (yajl_gen_validate_utf8 would refuse the whole string instead). */
static const bool special[256] = { [0 ... 0x1f] = true, ['"'] = true, ['\\'] = true,
				   [0x80 ... 0xff] = true };

/* The length of s; *plain: whether yajl would leave it as it is. One
 * pass for both: a key and a value per field, 30 fields a row. */
static size_t scan(const char *s, bool *plain)
{
	const unsigned char *p = (const unsigned char *)s;

	while (!special[*p])
		p++;
	*plain = !*p;
	return (size_t)((const char *)p - s) + (*p ? strlen((const char *)p) : 0);
}

static void esc_print(void *ctx, const char *s, size_t n)
{
	tcps_jbuf_raw(ctx, s, n);
}

/* yajl writes the string, quotes and escapes, into b: each string is a
 * document of its own (a top-level string, then a reset). Text that is
 * not UTF-8 is repaired first (utf8.h): JSON readers reject it. */
static void str_escaped(struct tcps_jbuf *b, const char *s, size_t n)
{
	char *fixed = NULL;

	if (b->failed)
		return;
	if (!b->esc) {
		b->esc = yajl_gen_alloc(NULL);
		if (!b->esc || !yajl_gen_config(b->esc, yajl_gen_print_callback, esc_print, b)) {
			b->failed = true;
			return;
		}
	}
	if (!tcps_utf8_valid(s, n)) {
		fixed = tcps_utf8_repair(s, n, &n);
		if (!fixed) {
			b->failed = true;
			return;
		}
		s = fixed;
	}
	yajl_gen_reset(b->esc, NULL);
	if (yajl_gen_string(b->esc, (const unsigned char *)s, n) != yajl_gen_status_ok)
		b->failed = true;
	free(fixed);
}

void tcps_jbuf_str(struct tcps_jbuf *b, const char *s)
{
	bool plain;
	size_t n = scan(s, &plain);
	char *p;

	if (!plain) {
		str_escaped(b, s, n);
		return;
	}
	p = room(b, n + 2);
	if (!p)
		return;
	p[0] = '"';
	memcpy(p + 1, s, n);
	p[n + 1] = '"';
	b->len += n + 2;
}

void tcps_jbuf_key(struct tcps_jbuf *b, const char *k)
{
	bool plain;
	size_t n = scan(k, &plain), m = n + 3 + !b->first;
	char *p;

	if (!plain) {
		if (!b->first)
			tcps_jbuf_raw(b, ",", 1);
		b->first = false;
		str_escaped(b, k, n);
		tcps_jbuf_raw(b, ":", 1);
		return;
	}
	/* The common case in one reservation: ,"name": */
	p = room(b, m);
	if (!p)
		return;
	if (!b->first)
		*p++ = ',';
	*p++ = '"';
	memcpy(p, k, n);
	p[n] = '"';
	p[n + 1] = ':';
	b->len += m;
	b->first = false;
}

void tcps_jbuf_open(struct tcps_jbuf *b)
{
	tcps_jbuf_raw(b, "{", 1);
	b->first = true;
}

void tcps_jbuf_close(struct tcps_jbuf *b)
{
	tcps_jbuf_raw(b, "}", 1);
	b->first = false;
}

void tcps_jbuf_int(struct tcps_jbuf *b, long long v)
{
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v, t;
	size_t n = 1 + (v < 0);
	char *p;

	/* By hand, not through sprintf as yajl_gen_integer does: that alone
	 * was a third of list --json's time at a million rows. */
	for (t = u; t >= 10; t /= 10)
		n++;
	p = room(b, n);
	if (!p)
		return;
	b->len += n;
	p += n;
	do
		*--p = (char)('0' + u % 10);
	while ((u /= 10));
	if (v < 0)
		*--p = '-';
}

void tcps_jbuf_bool(struct tcps_jbuf *b, bool v)
{
	if (v)
		tcps_jbuf_raw(b, "true", 4);
	else
		tcps_jbuf_raw(b, "false", 5);
}

void tcps_jbuf_null(struct tcps_jbuf *b)
{
	tcps_jbuf_raw(b, "null", 4);
}

void tcps_jbuf_reset(struct tcps_jbuf *b)
{
	b->len = 0;
	b->first = false;
	b->failed = false;
}

int tcps_jbuf_flush(struct tcps_jbuf *b, FILE *f)
{
	int err = b->failed ? -ENOMEM : 0;

	/* A write error stays in f's error flag, as with any fwrite. */
	if (!err && b->len)
		fwrite(b->p, 1, b->len, f);
	tcps_jbuf_reset(b);
	return err;
}

void tcps_jbuf_free(struct tcps_jbuf *b)
{
	if (b->esc)
		yajl_gen_free(b->esc);
	free(b->p);
	memset(b, 0, sizeof(*b));
}
