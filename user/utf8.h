/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Text from outside (process names, interface names, paths in error
 * messages) made valid UTF-8 before it goes into JSON: the kernel allows
 * any bytes in a process name, and a strict JSON reader rejects a document
 * with a byte sequence that is not UTF-8 (RFC 8259 section 8.1). Valid
 * text passes unchanged; each maximal ill-formed subpart becomes U+FFFD,
 * as Unicode recommends (and as Python's errors="replace" does). */
#ifndef TCPS_UTF8_H
#define TCPS_UTF8_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

/* Whether the n bytes at s are well-formed UTF-8 (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF). */
bool tcps_utf8_valid(const char *s, size_t n);
/* The n bytes at s with each ill-formed subpart replaced by U+FFFD, NUL
 * terminated, its length in *len (malloc'd; NULL when out of memory). */
char *tcps_utf8_repair(const char *s, size_t n, size_t *len);
/* json_object_new_string(s), repaired first when s is not UTF-8. */
json_object *tcps_json_string(const char *s);

#endif /* TCPS_UTF8_H */
