/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Finding and removing tcpscope's own programs on interfaces, and its
 * pins (tcpscope detach; also used by run to adopt and replace). */
#ifndef TCPS_DETACH_H
#define TCPS_DETACH_H

#include <stdbool.h>
#include <linux/types.h>

/* Our tc filters: a handle and priority of their own, so other tools'
 * filters are never touched, and priority 1 so that we see packets before
 * a filter that ends classification. */
#define TCPS_TC_HANDLE 0x7c53
#define TCPS_TC_PRIO 1

/* Pins of the programs, beside the maps: they let a process without
 * CAP_SYS_ADMIN (which BPF_PROG_GET_FD_BY_ID needs) recognise them. */
#define TCPS_PIN_PROG_XDP "prog_xdp_ingress"
#define TCPS_PIN_PROG_TC_IN "prog_tc_ingress"
#define TCPS_PIN_PROG_TC_EG "prog_tc_egress"
/* The tc programs' prog array (tcps_tc_again: a packet runs again after a
 * pull), pinned so that it keeps them while they stay attached. */
#define TCPS_PIN_TC_AGAIN "tc_again"

/* Remember the programs pinned in dir as ours (ids and fds). */
void tcps_ours_from_pins(const char *dir);
/* An fd of a program we know as ours by id (-1 if none); caller closes. */
int tcps_prog_fd_by_id(__u32 prog_id);
/* Is the program with this id one of tcpscope's (pinned by us, or by its
 * BPF name when CAP_SYS_ADMIN allows looking it up)? */
bool tcps_prog_is_ours(__u32 prog_id);
/* The same, telling privilege apart: 1 ours, 0 not ours, -EPERM cannot
 * tell (no CAP_SYS_ADMIN, and no pin below /sys/fs/bpf holds it). */
int tcps_prog_check_ours(__u32 prog_id);
/* The XDP program on ifindex: id (0: none) and XDP_FLAGS_SKB_MODE or
 * XDP_FLAGS_DRV_MODE. Returns 0 or -errno. */
int tcps_xdp_current(int ifindex, __u32 *prog_id, __u32 *mode_flags);
/* id of the program in our tc slot (handle/prio) on ingress or egress, 0 if none. */
__u32 tcps_tc_current(int ifindex, bool ingress);
/* Remove the filter in our tc slot (handle/prio) on ingress or egress,
 * whoever's it is: for a caller that attached it itself. 1 if removed. */
int tcps_tc_slot_detach(int ifindex, const char *name, bool ingress);
/* Remove whichever of our programs are on ifindex (XDP only if it is
 * ours; tc only at our handle/prio and only if ours). Returns how many. */
int tcps_iface_remove_ours(int ifindex, const char *name, bool xdp, bool tc_in, bool tc_eg);
/* The clsact qdiscs tcpscope created: a map pinned beside the others
 * (ifindex -> 1), so that one goes with the last of our filters, also
 * after --persist, and never when it was someone else's. */
#define TCPS_PIN_CLSACT "clsact"
void tcps_clsact_mark(const char *pin_dir, int ifindex);
bool tcps_clsact_marked(const char *pin_dir, int ifindex);
/* Remove the clsact qdisc if no filter (of anyone) is left on it, and the
 * mark. true if the qdisc was removed. */
bool tcps_clsact_release(const char *pin_dir, int ifindex, const char *name);
/* Unlink the pins in dir and the dir itself. 0 or -errno. */
int tcps_pins_remove(const char *dir);

int cmd_detach(int argc, char **argv);

#endif /* TCPS_DETACH_H */
