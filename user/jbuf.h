/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* JSON text written into a growing buffer: what list --json's million rows
 * and each events line are made with (through output.h's field writer).
 * Braces, separators and numbers are written directly; a string is copied
 * as it is when it is plain ASCII that yajl would leave so (no byte below
 * 0x20, no '"' or '\\'), else yajl's generator writes it, so the escaping
 * is yajl's, byte for byte; text that is not UTF-8 is repaired first
 * (utf8.h: U+FFFD for each ill-formed subpart). One level of object; an
 * array around objects is the caller's raw text. Zero-initialised is empty and ready; once a string has been
 * escaped, yajl holds the struct's address: don't copy or move it. */
#ifndef TCPS_JBUF_H
#define TCPS_JBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <yajl/yajl_gen.h>

struct tcps_jbuf {
	char *p;
	size_t len, cap;
	bool first;	/* in an object with no member yet */
	bool failed;	/* out of memory: the text is incomplete */
	yajl_gen esc;	/* made for the first string that needs escaping */
};

void tcps_jbuf_free(struct tcps_jbuf *b);
/* Empties the text (keeps the memory). */
void tcps_jbuf_reset(struct tcps_jbuf *b);
void tcps_jbuf_raw(struct tcps_jbuf *b, const char *s, size_t n);
void tcps_jbuf_open(struct tcps_jbuf *b);	/* '{' */
void tcps_jbuf_close(struct tcps_jbuf *b);	/* '}' */
/* A member's name, with the ',' before it when it is not the first. */
void tcps_jbuf_key(struct tcps_jbuf *b, const char *k);
/* s: a C string, quoted (and escaped where yajl would). */
void tcps_jbuf_str(struct tcps_jbuf *b, const char *s);
void tcps_jbuf_int(struct tcps_jbuf *b, long long v);
void tcps_jbuf_bool(struct tcps_jbuf *b, bool v);
void tcps_jbuf_null(struct tcps_jbuf *b);
/* Writes the text to f and empties it: 0, -ENOMEM (the text was cut
 * short; nothing written) or -EIO. */
int tcps_jbuf_flush(struct tcps_jbuf *b, FILE *f);

#endif /* TCPS_JBUF_H */
