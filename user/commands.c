// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stddef.h>

#include "commands.h"
#include "daemon.h"
#include "detach.h"
#include "exports.h"
#include "query.h"

int cmd_replay(int argc, char **argv);	/* replay.c */

const struct tcps_cmd tcps_cmds[] = {
	{ "run", cmd_run, "attach to interfaces and track connections (the daemon)" },
	{ "stat", cmd_stat, "connections per state (netstat -ant | awk summary)" },
	{ "list", cmd_list, "one line per connection (netstat -ant)" },
	{ "top", cmd_top, "live full-screen view (ncurses), like top" },
	{ "events", cmd_events, "live transition stream from the running daemon" },
	{ "replay", cmd_replay, "run a pcap/pcapng capture through the BPF program, offline" },
	{ "detach", cmd_detach, "remove tcpscope's programs and pins (after --persist)" },
	{ NULL, NULL, NULL },
};
