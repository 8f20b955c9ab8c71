// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Staying attached (a daemon module). Interfaces come and go (containers
 * make and delete veths all day) and other tools or 'detach --force' may
 * take our programs off. So:
 *  - link events (RTM_NEWLINK/RTM_DELLINK, rtnetlink) tell when a watched
 *    interface goes (said and counted), when one of that name comes back
 *    (attached again), and when one matching an -i pattern appears;
 *  - every second the programs on each interface are compared with ours
 *    (bpf_xdp_query / bpf_tc_query: one netlink round trip each): one that
 *    was removed is attached again; one replaced by another tool's is not
 *    ours to take back, so the daemon says so and exits 1 rather than run
 *    blind.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fnmatch.h>
#include <net/if.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "detach.h"
#include "links.h"
#include "rtnl.h"
#include "run.h"
#include "tcpscope.skel.h"

#define CHECK_PERIOD_NS 1000000000ULL

static struct {
	int fd;
	__u32 ids[3];		/* our programs: XDP ingress, tc ingress, tc egress */
	__u64 next_check;
	unsigned long gone, back, lost;
} lk = { .fd = -1 };

static const char *plural(unsigned long n)
{
	return n == 1 ? "" : "s";
}

/* 0 for a program this run did not load (run.c): never attached, never
 * compared. */
static __u32 prog_id(struct bpf_program *p)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	if (bpf_program__fd(p) < 0)
		return 0;
	return bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len) ? 0 : info.id;
}

static struct tcps_iface *by_ifindex(struct tcps_run_opts *o, int ifindex)
{
	int i;

	for (i = 0; ifindex && i < o->n_ifaces; i++)
		if (o->ifaces[i].ifindex == ifindex)
			return &o->ifaces[i];
	return NULL;
}

static struct tcps_iface *by_name(struct tcps_run_opts *o, const char *name)
{
	int i;

	for (i = 0; i < o->n_ifaces; i++)
		if (!strcmp(o->ifaces[i].name, name))
			return &o->ifaces[i];
	return NULL;
}

static const char *matching_pattern(const struct tcps_run_opts *o, const char *name)
{
	int i;

	for (i = 0; i < o->n_patterns; i++)
		if (!fnmatch(o->patterns[i], name, 0))
			return o->patterns[i];
	return NULL;
}

static void forget(struct tcps_run_opts *o, struct tcps_iface *ifc)
{
	int i = (int)(ifc - o->ifaces);

	memmove(&o->ifaces[i], &o->ifaces[i + 1], (size_t)(o->n_ifaces - i - 1) * sizeof(*ifc));
	o->n_ifaces--;
}

/* A watched interface was deleted: its programs and qdisc went with it. */
static void link_gone(struct tcps_daemon *d, struct tcps_iface *ifc)
{
	lk.gone++;
	pr_warn("%s: interface gone (ifindex %d), and tcpscope's programs with it; %s (%lu interface%s gone so far)",
		ifc->name, ifc->ifindex,
		ifc->dynamic ? "no longer watched" : "attaching again when it comes back", lk.gone,
		plural(lk.gone));
	tcps_clsact_release(d->opts->pin_dir, ifc->ifindex, ifc->name);	/* its mark */
	ifc->xdp_attached = ifc->tc_hook_created = false;
	ifc->tc_ingress_attached = ifc->tc_egress_attached = false;
	if (ifc->dynamic)
		forget(d->opts, ifc);
	else
		ifc->ifindex = 0;
	tcps_daemon_info_update(d);
}

static void link_new(struct tcps_daemon *d, int ifindex, const char *name)
{
	struct tcps_run_opts *o = d->opts;
	struct tcps_iface *ifc = by_name(o, name);
	const char *pattern = NULL;

	if (ifc && ifc->ifindex)
		return;		/* a second of that name? ours stays */
	if (!ifc) {
		pattern = matching_pattern(o, name);
		if (!pattern)
			return;
		if (o->n_ifaces >= TCPS_MAX_IFACES) {
			pr_warn("%s matches '%s', but tcpscope already watches %d interfaces, its most; not watched",
				name, pattern, TCPS_MAX_IFACES);
			return;
		}
		ifc = &o->ifaces[o->n_ifaces++];
		memset(ifc, 0, sizeof(*ifc));
		snprintf(ifc->name, sizeof(ifc->name), "%s", name);
		ifc->dynamic = true;
	}
	ifc->ifindex = ifindex;
	if (tcps_iface_attach(d, ifc)) {
		/* Gone again already (veth made then moved), or refused (logged). */
		tcps_iface_detach(d, ifc);
		if (ifc->dynamic)
			forget(o, ifc);
		else
			ifc->ifindex = 0;
		return;
	}
	if (pattern) {
		pr_info("%s: new interface matching '%s' (ifindex %d): attached", name, pattern,
			ifindex);
	} else {
		lk.back++;
		pr_info("%s: interface back (ifindex %d): attached again (%lu time%s so far)", name,
			ifindex, lk.back, plural(lk.back));
	}
	tcps_daemon_info_update(d);
}

static void on_link(bool up, int ifindex, const char *name, void *arg)
{
	struct tcps_daemon *d = arg;
	struct tcps_iface *ifc = by_ifindex(d->opts, ifindex);

	if (!up) {
		if (ifc)
			link_gone(d, ifc);
		return;
	}
	if (ifc) {
		if (*name && strcmp(name, ifc->name)) {
			pr_info("%s: renamed %s (ifindex %d); still watched", ifc->name, name, ifindex);
			snprintf(ifc->name, sizeof(ifc->name), "%s", name);
			tcps_daemon_info_update(d);
		}
		return;
	}
	if (*name)
		link_new(d, ifindex, name);
}

/* From the link table itself: at start (patterns), and after the kernel
 * dropped link events (ENOBUFS). */
static void links_resync(struct tcps_daemon *d)
{
	struct if_nameindex *all = if_nameindex(), *p;
	char name[IF_NAMESIZE];
	int i;

	for (i = d->opts->n_ifaces - 1; i >= 0; i--) {
		struct tcps_iface *ifc = &d->opts->ifaces[i];

		if (ifc->ifindex && !if_indextoname((unsigned int)ifc->ifindex, name))
			link_gone(d, ifc);
	}
	for (p = all; p && p->if_index; p++)
		on_link(true, (int)p->if_index, p->if_name, d);
	if (all)
		if_freenameindex(all);
}

/* Are our programs still where we put them? */
static void check_programs(struct tcps_daemon *d)
{
	char name[IF_NAMESIZE];
	int i;

	for (i = 0; i < d->opts->n_ifaces && !d->exit_code; i++) {
		struct tcps_iface *ifc = &d->opts->ifaces[i];
		__u32 cur[3] = { 0 }, mode;
		bool lost[3] = { false };
		const char *what[3] = { "XDP ingress", "tc ingress", "tc egress" };
		int k;

		/* Gone interfaces are the link events' business. */
		if (!ifc->ifindex || !if_indextoname((unsigned int)ifc->ifindex, name))
			continue;
		if (ifc->xdp_attached && !tcps_xdp_current(ifc->ifindex, &cur[0], &mode))
			lost[0] = cur[0] != lk.ids[0];
		if (ifc->tc_ingress_attached)
			lost[1] = (cur[1] = tcps_tc_current(ifc->ifindex, true)) != lk.ids[1];
		if (ifc->tc_egress_attached)
			lost[2] = (cur[2] = tcps_tc_current(ifc->ifindex, false)) != lk.ids[2];
		if (!lost[0] && !lost[1] && !lost[2])
			continue;
		for (k = 0; k < 3; k++) {
			if (!lost[k])
				continue;
			lk.lost++;
			if (cur[k])
				pr_warn("%s: tcpscope's %s program was replaced by another (prog id %u)",
					ifc->name, what[k], cur[k]);
			else
				pr_warn("%s: tcpscope's %s program was removed (%lu program%s lost so far); attaching it again",
					ifc->name, what[k], lk.lost, plural(lk.lost));
		}
		ifc->xdp_attached &= !lost[0];
		ifc->tc_ingress_attached &= !lost[1];
		ifc->tc_egress_attached &= !lost[2];
		if (tcps_iface_repair(d, ifc, lost[0], lost[1], lost[2])) {
			pr_err("%s: cannot attach tcpscope's programs again; exiting rather than run blind",
			       ifc->name);
			d->exit_code = TCPS_EXIT_FAIL;
			return;
		}
		pr_info("%s: attached again: ingress %s, egress tc", ifc->name, ifc->ingress_desc);
	}
}

int tcps_links_start(struct tcps_daemon *d)
{
	lk.ids[0] = prog_id(d->skel->progs.tcps_xdp_ingress);
	lk.ids[1] = prog_id(d->skel->progs.tcps_tc_ingress);
	lk.ids[2] = prog_id(d->skel->progs.tcps_tc_egress);
	lk.fd = tcps_rtnl_link_socket();
	if (lk.fd < 0)
		pr_warn("link events: %s; interfaces that go and come back are not followed",
			strerror(-lk.fd));
	/* Subscribed first, then the table: no interface slips in between. */
	links_resync(d);
	if (d->opts->n_patterns && !d->opts->n_ifaces)
		pr_info("no interface matches '%s' yet; waiting for one", d->opts->patterns[0]);
	return 0;
}

void tcps_links_tick(struct tcps_daemon *d, __u64 now)
{
	if (lk.fd >= 0) {
		int err = tcps_rtnl_link_read(lk.fd, on_link, d);

		if (err == -ENOBUFS) {
			pr_warn("link events: the kernel dropped some; re-reading the interfaces");
			links_resync(d);
		} else if (err) {
			pr_warn("link events: %s", strerror(-err));
		}
	}
	if (now >= lk.next_check) {
		lk.next_check = now + CHECK_PERIOD_NS;
		check_programs(d);
	}
}

void tcps_links_stop(struct tcps_daemon *d)
{
	(void)d;
	if (lk.fd >= 0)
		close(lk.fd);
	lk.fd = -1;
	if (lk.gone || lk.back || lk.lost)
		pr_info("interfaces gone %lu, come back %lu; programs taken off and attached again %lu",
			lk.gone, lk.back, lk.lost);
}
