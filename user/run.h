/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The parts of 'tcpscope run' (run.c drives them): the command line
 * (runopts.c), attaching to interfaces (attach.c) and the pin directory
 * (pindir.c). */
#ifndef TCPS_RUN_H
#define TCPS_RUN_H

#include "daemon.h"
#include "maps.h"

/* Fills o from argv. 0, -1 after --help (exit 0), or TCPS_EXIT_USAGE. */
int tcps_run_parse_args(int argc, char **argv, struct tcps_run_opts *o);

/* The ingress hook an interface gets: --hook, or for auto native XDP on a
 * physical NIC (or with --xdp-mode) and tc on a virtual device. One rule
 * for attaching and for which programs a run loads. name NULL: any
 * interface (one a pattern may bring); TCPS_HOOK_AUTO if it depends on
 * the kind. */
enum tcps_hook tcps_iface_hook(const struct tcps_run_opts *o, const char *name);
/* Attach ingress (XDP or tc, by --hook) and tc egress to one interface;
 * 0 or a TCPS_EXIT_* code (logged). What was attached is recorded in ifc. */
int tcps_iface_attach(struct tcps_daemon *d, struct tcps_iface *ifc);
/* Attach again the parts that were taken off (by another tool, or
 * 'detach --force'): ingress XDP, tc ingress, tc egress. Never replaces
 * another tool's program: that is an error (logged). */
int tcps_iface_repair(struct tcps_daemon *d, struct tcps_iface *ifc, bool xdp, bool tc_in,
		      bool tc_eg);
/* Undo exactly what tcps_iface_attach recorded. */
void tcps_iface_detach(struct tcps_daemon *d, struct tcps_iface *ifc);

/* Create the pin directory (0700, on a bpffs): 0, -EEXIST if it exists
 * (adopt it), or a TCPS_EXIT_* code (logged). */
int tcps_pin_dir_prepare(const char *dir);
/* Open the pins of an earlier run for adoption, refusing a live owner or
 * another mode; o->max_conns takes the adopted table's size. */
int tcps_pins_adopt(struct tcps_run_opts *o, struct tcps_pins *old);
/* Before load: make the skeleton's maps the adopted ones. */
int tcps_maps_reuse(struct tcps_daemon *d, const struct tcps_pins *old);
/* After load: pin the maps (unless adopted) and fill d->pins' fds. */
int tcps_maps_pin(struct tcps_daemon *d);
/* After attaching: pin the loaded programs (replacing an adopted run's,
 * and removing its pin of one this run did not load). */
void tcps_progs_pin(struct tcps_daemon *d);

#endif /* TCPS_RUN_H */
