/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The subcommand table (commands.c): one row per command. */
#ifndef TCPS_COMMANDS_H
#define TCPS_COMMANDS_H

#include <stdbool.h>

struct tcps_cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
	/* With -j/--json anywhere among its options, its errors are JSON
	 * objects from the first one on (also one found before --json). */
	bool json_errors;
};

extern const struct tcps_cmd tcps_cmds[];

#endif /* TCPS_COMMANDS_H */
