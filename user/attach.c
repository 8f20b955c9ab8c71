// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tcpscope run: putting the programs on an interface and taking them off
 * again. The hook is chosen per interface (native XDP on physical NICs, tc
 * on virtual devices); what was attached is recorded in struct tcps_iface
 * so that exactly that is undone.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon.h"
#include "detach.h"
#include "ident.h"
#include "run.h"
#include "tcpscope.skel.h"

/* Virtual devices (veth, bridges, tunnels) lose GRO/GSO under native XDP:
 * measured on veth, an XDP_PASS-only program cut iperf3 to 0.39x, while tc
 * ingress kept 0.99x (DESIGN §1). Physical NICs have a bus. */
static bool iface_is_virtual(const char *name)
{
	struct ethtool_drvinfo info = { .cmd = ETHTOOL_GDRVINFO };
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool virt = true;

	if (fd < 0)
		return true;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_data = (void *)&info;
	if (!ioctl(fd, SIOCETHTOOL, &ifr))
		virt = info.bus_info[0] == '\0' || !strcmp(info.bus_info, "N/A") ||
		       !strcmp(info.driver, "veth");
	close(fd);
	return virt;
}

/* Our own program, left by a --persist run, on ifc: a new fd of it, to
 * replace it in place (REPLACE + its fd: atomic, and only if it is still
 * that one), *mode its current mode unless one was asked for; else -1.
 * *id: the program found there, if any. */
static int xdp_adopted_fd(struct tcps_daemon *d, struct tcps_iface *ifc, __u32 *mode,
			  __u32 *id)
{
	__u32 cur_mode = 0;
	int fd;

	if (!d->adopting || tcps_xdp_current(ifc->ifindex, id, &cur_mode) || !*id ||
	    !tcps_prog_is_ours(*id))
		return -1;
	fd = tcps_prog_fd_by_id(*id);
	if (fd >= 0) {
		if (!*mode)
			*mode = cur_mode;
		pr_info("%s: replacing tcpscope's XDP program %u", ifc->name, *id);
	}
	return fd;
}

/* Attached in mode (0: the kernel's choice): the hook's name for the
 * output, the kernel's choice asked for. */
static void xdp_note_mode(struct tcps_iface *ifc, __u32 mode)
{
	ifc->xdp_attached = true;
	ifc->xdp_flags = mode;
	if (!mode) {
		/* Report what the kernel chose. */
		LIBBPF_OPTS(bpf_xdp_query_opts, q);
		if (!bpf_xdp_query(ifc->ifindex, 0, &q))
			mode = q.attach_mode == XDP_ATTACHED_SKB ? XDP_FLAGS_SKB_MODE :
										XDP_FLAGS_DRV_MODE;
	}
	ifc->ingress_desc = mode == XDP_FLAGS_SKB_MODE ? "xdp (generic)" : "xdp (native)";
}

static int xdp_attach(struct tcps_daemon *d, struct tcps_iface *ifc)
{
	int fd = bpf_program__fd(d->skel->progs.tcps_xdp_ingress), err;
	__u32 mode = d->opts->xdp_mode == TCPS_XDP_NATIVE  ? XDP_FLAGS_DRV_MODE :
		     d->opts->xdp_mode == TCPS_XDP_GENERIC ? XDP_FLAGS_SKB_MODE :
							     0;
	__u32 flags = mode | (d->opts->force ? 0 : XDP_FLAGS_UPDATE_IF_NOEXIST);
	__u32 id = 0;
	LIBBPF_OPTS(bpf_xdp_attach_opts, ro);

	ro.old_prog_fd = xdp_adopted_fd(d, ifc, &mode, &id);
	if (ro.old_prog_fd >= 0)
		flags = mode | XDP_FLAGS_REPLACE;
	err = bpf_xdp_attach(ifc->ifindex, fd, flags, ro.old_prog_fd > 0 ? &ro : NULL);
	if (ro.old_prog_fd > 0)
		close(ro.old_prog_fd);
	if (err == -EBUSY || err == -EEXIST) {
		bpf_xdp_query_id(ifc->ifindex, 0, &id);
		pr_err("%s: another XDP program (id %u) is attached; tcpscope does not replace it (use --hook tc, or --force to replace it)",
		       ifc->name, id);
		return TCPS_EXIT_FAIL;
	}
	if (err) {
		pr_err("%s: cannot attach XDP%s: %s", ifc->name,
		       mode == XDP_FLAGS_DRV_MODE ? " in native mode" :
		       mode == XDP_FLAGS_SKB_MODE ? " in generic mode" : "",
		       strerror(-err));
		return TCPS_EXIT_FAIL;
	}
	xdp_note_mode(ifc, mode);
	return 0;
}

/* Our tc slot is taken: by a running instance (one per interface: it is
 * named), or by programs a --persist or killed one left (its pin dir
 * adopts or removes them; without pins, detach -i --keep-pins, which
 * spares the default pin dir). */
static void tc_slot_taken(const struct tcps_iface *ifc, bool ingress)
{
	__u32 id = tcps_tc_current(ifc->ifindex, ingress);
	char dir[256] = "";
	pid_t owner = id ? tcps_prog_owner(id, dir, sizeof(dir)) : 0;

	if (owner)
		pr_err("%s: tcpscope pid %d%s%s already watches it (one instance per interface; stop it first, kill -TERM %d)",
		       ifc->name, (int)owner, *dir ? ", pins in " : "", dir, (int)owner);
	else if (*dir)
		pr_err("%s: tcpscope's programs of the stopped instance with pins in %s are on it ('tcpscope run -i %s --pin-dir %s' adopts them, 'tcpscope detach --pin-dir %s' removes them)",
		       ifc->name, dir, ifc->name, dir, dir);
	else
		pr_err("%s: a tc filter with tcpscope's handle %#x and priority %d is already on %s, and no running tcpscope owns it ('tcpscope detach -i %s --keep-pins' removes it)",
		       ifc->name, TCPS_TC_HANDLE, TCPS_TC_PRIO, ingress ? "ingress" : "egress",
		       ifc->name);
}

static int tc_attach_one(struct tcps_daemon *d, struct tcps_iface *ifc, int prog_fd,
			 enum bpf_tc_attach_point point, bool *done)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifc->ifindex, .attach_point = point);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TCPS_TC_HANDLE, .priority = TCPS_TC_PRIO,
		    .prog_fd = prog_fd);
	__u32 cur = tcps_tc_current(ifc->ifindex, point == BPF_TC_INGRESS);
	int err;

	/* Our slot holds tcpscope's program of a --persist run: replace. */
	if (d->adopting && cur && tcps_prog_is_ours(cur))
		opts.flags = BPF_TC_F_REPLACE;
	err = bpf_tc_attach(&hook, &opts);

	if (err == -EEXIST) {
		tc_slot_taken(ifc, point == BPF_TC_INGRESS);
		return TCPS_EXIT_FAIL;
	}
	if (err) {
		pr_err("%s: cannot attach tc %s: %s", ifc->name,
		       point == BPF_TC_INGRESS ? "ingress" : "egress", strerror(-err));
		return TCPS_EXIT_FAIL;
	}
	*done = true;
	return 0;
}

static int tc_hook_ensure(struct tcps_daemon *d, struct tcps_iface *ifc)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifc->ifindex,
		    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	int err = bpf_tc_hook_create(&hook);

	if (err && err != -EEXIST) {
		pr_err("%s: cannot create the clsact qdisc: %s", ifc->name, strerror(-err));
		return TCPS_EXIT_FAIL;
	}
	/* Ours if we made it now, or a --persist run of these pins did. */
	ifc->tc_hook_created = !err || tcps_clsact_marked(d->opts->pin_dir, ifc->ifindex);
	if (!err)
		tcps_clsact_mark(d->opts->pin_dir, ifc->ifindex);
	return 0;
}

void tcps_iface_detach(struct tcps_daemon *d, struct tcps_iface *ifc)
{
	if (ifc->xdp_attached) {
		LIBBPF_OPTS(bpf_xdp_attach_opts, o,
			    .old_prog_fd = bpf_program__fd(d->skel->progs.tcps_xdp_ingress));
		/* Only if it is still ours (REPLACE with old_prog_fd). */
		int err = bpf_xdp_detach(ifc->ifindex, ifc->xdp_flags | XDP_FLAGS_REPLACE, &o);

		if (err && err != -ENODEV && err != -EEXIST)
			pr_warn("%s: detaching XDP: %s", ifc->name, strerror(-err));
		ifc->xdp_attached = false;
	}
	if (ifc->tc_ingress_attached)
		tcps_tc_slot_detach(ifc->ifindex, ifc->name, true);
	if (ifc->tc_egress_attached)
		tcps_tc_slot_detach(ifc->ifindex, ifc->name, false);
	ifc->tc_ingress_attached = ifc->tc_egress_attached = false;
	if (ifc->tc_hook_created) {
		/* We made the clsact qdisc, so it goes too (as libbpf-bootstrap's
		 * tc example: only the hook we created), unless another tool put
		 * a filter on it meanwhile. */
		tcps_clsact_release(d->opts->pin_dir, ifc->ifindex, ifc->name);
		ifc->tc_hook_created = false;
	}
}

enum tcps_hook tcps_iface_hook(const struct tcps_run_opts *o, const char *name)
{
	if (o->hook != TCPS_HOOK_AUTO)
		return o->hook;
	if (o->xdp_mode != TCPS_XDP_AUTO)
		return TCPS_HOOK_XDP;	/* an XDP mode asked for: XDP everywhere */
	if (!name)
		return TCPS_HOOK_AUTO;	/* depends on the kind */
	return iface_is_virtual(name) ? TCPS_HOOK_TC : TCPS_HOOK_XDP;
}

/* The ingress program hook needs, or NULL if this run did not load it
 * (run.c loads those its interfaces at start need): said here with the way
 * out, once per ifindex (every link event of it would try again). Only
 * --hook auto meets this, when a watched name comes back as another kind
 * of device. */
static struct bpf_program *ingress_prog(struct tcps_daemon *d, struct tcps_iface *ifc,
					enum tcps_hook hook)
{
	struct bpf_program *p = hook == TCPS_HOOK_XDP ? d->skel->progs.tcps_xdp_ingress :
							d->skel->progs.tcps_tc_ingress;

	if (bpf_program__fd(p) >= 0)
		return p;
	if (ifc->refused_ifindex != ifc->ifindex)
		pr_err("%s: needs %s ingress (--hook auto on %s), a program this run did not load (it loads what its interfaces need at start); not watched: restart tcpscope, or run with --hook tc or --hook xdp",
		       ifc->name, hook == TCPS_HOOK_XDP ? "XDP" : "tc",
		       hook == TCPS_HOOK_XDP ? "a physical NIC" : "a virtual device");
	ifc->refused_ifindex = ifc->ifindex;
	return NULL;
}

int tcps_iface_attach(struct tcps_daemon *d, struct tcps_iface *ifc)
{
	enum tcps_hook hook = tcps_iface_hook(d->opts, ifc->name);
	struct bpf_program *in = ingress_prog(d, ifc, hook);
	int err;

	if (!in)
		return TCPS_EXIT_FAIL;	/* before anything is created */
	err = tc_hook_ensure(d, ifc);
	if (err)
		return err;
	/* A --persist run may have used the other ingress hook: take ours
	 * off it, or both would count every packet. */
	if (d->adopting)
		tcps_iface_remove_ours(ifc->ifindex, ifc->name, hook != TCPS_HOOK_XDP,
				       hook != TCPS_HOOK_TC, false);
	if (hook == TCPS_HOOK_XDP) {
		/* xdp-mode auto lets the kernel take native where the driver
		 * has it and generic elsewhere. */
		err = xdp_attach(d, ifc);
		if (err)
			return err;
	} else {
		err = tc_attach_one(d, ifc, bpf_program__fd(in), BPF_TC_INGRESS,
				    &ifc->tc_ingress_attached);
		if (err)
			return err;
		ifc->ingress_desc = "tc";
	}
	err = tc_attach_one(d, ifc, bpf_program__fd(d->skel->progs.tcps_tc_egress), BPF_TC_EGRESS,
			    &ifc->tc_egress_attached);
	if (err)
		return err;
	pr_info("%s: ingress %s, egress tc, mode %s", ifc->name, ifc->ingress_desc,
		d->opts->mode == TCPS_MODE_PASSIVE ? "passive" : "host");
	return 0;
}


int tcps_iface_repair(struct tcps_daemon *d, struct tcps_iface *ifc, bool xdp, bool tc_in,
		      bool tc_eg)
{
	int err = 0;

	if ((tc_in || tc_eg) && (err = tc_hook_ensure(d, ifc)))
		return err;	/* the clsact qdisc itself may have been deleted */
	/* Only what was attached is repaired, so loaded; checked all the same:
	 * bpf_xdp_attach with fd -1 would detach. */
	if ((xdp && !ingress_prog(d, ifc, TCPS_HOOK_XDP)) ||
	    (tc_in && !ingress_prog(d, ifc, TCPS_HOOK_TC)))
		return TCPS_EXIT_FAIL;
	if (xdp && (err = xdp_attach(d, ifc)))
		return err;
	if (tc_in && (err = tc_attach_one(d, ifc, bpf_program__fd(d->skel->progs.tcps_tc_ingress),
					   BPF_TC_INGRESS, &ifc->tc_ingress_attached)))
		return err;
	if (tc_eg)
		err = tc_attach_one(d, ifc, bpf_program__fd(d->skel->progs.tcps_tc_egress),
				    BPF_TC_EGRESS, &ifc->tc_egress_attached);
	return err;
}
