/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The events JSON line (DESIGN §4: run --json, --events-file, the events
 * stream, replay), written as text into a reused buffer (jbuf.h): no
 * object tree and no allocation per event, which is what the daemon pays
 * per transition (json-c's tree was ~60 % of its time).
 */
#ifndef TCPS_EVJSON_H
#define TCPS_EVJSON_H

#include <stddef.h>
#include <stdio.h>

#include "tcpscope.h"

/* e as one JSON object without a newline; the text stays valid until the
 * next call from the same thread. NULL (errno ENOMEM) if it cannot. */
const char *tcps_event_json_line(const struct tcps_event *e, __u32 mode, size_t *len);

/* The same, with its newline, on f. Returns 0 or -errno. */
int tcps_event_json_write(FILE *f, const struct tcps_event *e, __u32 mode);

#endif /* TCPS_EVJSON_H */
