/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Fatal errors of the test tools: one "NAME: message" line on stderr (after
 * what stdout holds), then exit 1 for a failure while running (die) or 2
 * for a bad command line (bad_arg), as tcpscope itself does. A tool that
 * includes this defines tool_name.
 */
#ifndef TOOLS_DIE_H
#define TOOLS_DIE_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

extern const char tool_name[];

static inline void tool_vdie(int status, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0), noreturn));

static inline void tool_vdie(int status, const char *fmt, va_list ap)
{
	fflush(stdout);
	fprintf(stderr, "%s: ", tool_name);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	exit(status);
}

static inline void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static inline void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tool_vdie(1, fmt, ap);
}

static inline void bad_arg(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static inline void bad_arg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tool_vdie(2, fmt, ap);
}

#endif /* TOOLS_DIE_H */
