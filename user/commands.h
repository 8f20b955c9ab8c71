/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The subcommand table (commands.c): one row per command. */
#ifndef TCPS_COMMANDS_H
#define TCPS_COMMANDS_H

struct tcps_cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

extern const struct tcps_cmd tcps_cmds[];

#endif /* TCPS_COMMANDS_H */
