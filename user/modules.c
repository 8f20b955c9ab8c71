// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The daemon's modules, in start order (see struct tcps_module). */
#include <stddef.h>

#include "daemon.h"
#include "exports.h"
#include "gc.h"
#include "links.h"
#include "seed.h"

const struct tcps_module tcps_modules[] = {
	{ "event-socket", tcps_evsock_start, tcps_evsock_tick, tcps_evsock_event, tcps_evsock_stop },
	{ "events-file", tcps_evfile_start, tcps_evfile_tick, tcps_evfile_event, tcps_evfile_stop },
	/* After the event sinks: expiry and seeding emit events at start.
	 * Expiry first: an adopted table loses what timed out while no daemon
	 * ran before HTTP serves it. HTTP before seeding, so that its own
	 * listener is in the first seed. Interfaces matching -i patterns are
	 * attached at the start of links, so before seeding, which reads the
	 * watched interfaces' addresses. */
	{ "gc", tcps_gc_start, tcps_gc_tick, NULL, tcps_gc_stop },
	{ "http", tcps_http_start, NULL, NULL, tcps_http_stop },
	{ "links", tcps_links_start, tcps_links_tick, NULL, tcps_links_stop },
	{ "seed", tcps_seed_start, tcps_seed_tick, NULL, tcps_seed_stop },
	{ NULL, NULL, NULL, NULL, NULL },
};
