// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stddef.h>

#include "commands.h"
#include "daemon.h"
#include "detach.h"
#include "exports.h"
#include "query.h"

int cmd_replay(int argc, char **argv);	/* replay.c */

const struct tcps_cmd tcps_cmds[] = {
	{ "run", cmd_run, "attach to interfaces and track connections (the daemon)", false },
	{ "stat", cmd_stat, "connections per state (netstat -ant | awk summary)", true },
	{ "list", cmd_list, "one line per connection (netstat -ant)", true },
	{ "top", cmd_top, "live full-screen view (ncurses), like top", false },
	{ "events", cmd_events, "live transition stream from the running daemon", false },
	{ "replay", cmd_replay, "run a pcap/pcapng capture through the BPF program, offline",
	  true },
	{ "detach", cmd_detach, "remove tcpscope's programs and pins (after --persist)", false },
	{ NULL, NULL, NULL, false },
};
