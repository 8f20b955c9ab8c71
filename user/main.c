// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* tcpscope: subcommands as data, as in ip(8) and bpftool(8). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "common.h"

static const struct tcps_cmd *find_cmd(const char *name)
{
	const struct tcps_cmd *c;

	for (c = tcps_cmds; c->name; c++)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

/* -j or --json among args (options end at "--"): the usage error of an
 * option given before it is JSON too, as bpftool does. */
static bool wants_json(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], "-j") || !strcmp(argv[i], "--json"))
			return true;
	return false;
}

static void usage(FILE *f)
{
	const struct tcps_cmd *c;

	fprintf(f, "Usage: tcpscope [-v] COMMAND [OPTIONS]\n"
		   "       tcpscope -V | --version\n"
		   "\n"
		   "TCP connection states from the wire (XDP + tc), netstat-style.\n"
		   "\n"
		   "  -v, --verbose  debug output (libbpf's too), before the command\n"
		   "  -V, --version  the version\n"
		   "\n"
		   "Commands:\n");
	for (c = tcps_cmds; c->name; c++)
		fprintf(f, "  %-8s %s\n", c->name, c->summary);
	fprintf(f, "\n'tcpscope COMMAND --help' for a command's options.\n"
		   "\n"
		   "Examples:\n"
		   "  sudo tcpscope run -i eth0          # attach and print transitions\n"
		   "  sudo tcpscope stat                 # per-state counts, as netstat | awk\n"
		   "  sudo tcpscope list --state ESTABLISHED --json\n");
}

/* A command that succeeded but whose output could not be written (--help
 * into a full disk or a closed pipe) did not succeed. */
static int finish(int rc)
{
	if (rc == TCPS_EXIT_OK && (fflush(stdout) == EOF || ferror(stdout))) {
		pr_err("cannot write the output: %s", strerror(errno ? errno : EIO));
		return TCPS_EXIT_FAIL;
	}
	return rc;
}

int main(int argc, char **argv)
{
	const struct tcps_cmd *c;
	int i = 1;

	while (i < argc && argv[i][0] == '-') {
		if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) {
			tcps_verbose = 1;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return finish(TCPS_EXIT_OK);
		} else if (!strcmp(argv[i], "-V") || !strcmp(argv[i], "--version")) {
			printf("tcpscope %s (ABI %d)\n", TCPS_VERSION, TCPS_ABI_VERSION);
			return finish(TCPS_EXIT_OK);
		} else {
			return usage_err(NULL, "unknown option '%s'", argv[i]);
		}
		i++;
	}
	if (i >= argc) {
		usage(stderr);
		return TCPS_EXIT_USAGE;
	}
	if (!strcmp(argv[i], "help")) {
		if (i + 1 < argc && !(c = find_cmd(argv[i + 1])))
			return usage_err(NULL, "help: unknown command '%s'", argv[i + 1]);
		if (i + 1 < argc) {
			char *hargv[] = { argv[i + 1], "--help", NULL };

			return finish(c->fn(2, hargv));
		}
		usage(stdout);
		return finish(TCPS_EXIT_OK);
	}
	c = find_cmd(argv[i]);
	if (!c)
		return usage_err(NULL, "unknown command '%s'", argv[i]);
	if (c->json_errors && wants_json(argc - i, argv + i))
		tcps_json_errors = true;
	return finish(c->fn(argc - i, argv + i));
}
