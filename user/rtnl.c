// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The rtnetlink that libbpf does not offer: counting the filters on a
 * clsact qdisc (is anyone else's filter on it?), and the link events
 * (RTM_NEWLINK / RTM_DELLINK) the daemon follows interfaces with.
 */
#include <errno.h>
#include <linux/netlink.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rtnl.h"

/* A filter, as `tc filter show` lists them, is one priority and protocol
 * (tcmsg.tcm_info); its dump has a message for that and one per node (a
 * bpf filter 2, u32 3): each distinct tcm_info counts once. */
#define RTNL_MAX_FILTERS 64

static void count_filter(__u32 info, __u32 *seen, int *count)
{
	int i;

	for (i = 0; i < *count && i < RTNL_MAX_FILTERS; i++)
		if (seen[i] == info)
			return;
	if (*count < RTNL_MAX_FILTERS)
		seen[*count] = info;
	(*count)++;
}

/* The filters in the replies to a dump request sent on fd, or -errno. */
static int count_filters(int fd)
{
	char buf[16384] __attribute__((aligned(4)));
	__u32 seen[RTNL_MAX_FILTERS];
	int count = 0;

	for (;;) {
		struct nlmsghdr *h;
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		int len;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return count;
		len = (int)n;
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_type == NLMSG_DONE)
				return count;
			if (h->nlmsg_type == NLMSG_ERROR) {
				int err = ((struct nlmsgerr *)NLMSG_DATA(h))->error;

				return err ? err : count;	/* an ACK ends the dump too */
			}
			if (h->nlmsg_type == RTM_NEWTFILTER &&
			    h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct tcmsg)))
				count_filter(((struct tcmsg *)NLMSG_DATA(h))->tcm_info, seen, &count);
		}
	}
}

/* Filters under one clsact parent, or -errno (no clsact there). */
static int filters_under(int ifindex, __u32 parent)
{
	struct {
		struct nlmsghdr n;
		struct tcmsg t;
	} req = {
		.n = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct tcmsg)),
		       .nlmsg_type = RTM_GETTFILTER,
		       .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
		       .nlmsg_seq = 1 },
		.t = { .tcm_family = AF_UNSPEC, .tcm_ifindex = ifindex, .tcm_parent = parent },
	};
	int fd, ret;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	ret = send(fd, &req, req.n.nlmsg_len, 0) < 0 ? -errno : count_filters(fd);
	close(fd);
	return ret;
}

int tcps_clsact_filters(int ifindex)
{
	int in = filters_under(ifindex, TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS));
	int eg = filters_under(ifindex, TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS));

	if (in < 0)
		return in;
	if (eg < 0)
		return eg;
	return in + eg;
}

int tcps_rtnl_link_socket(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* The IFLA_IFNAME of a link message, or "" */
static void link_name(struct nlmsghdr *h, char name[IF_NAMESIZE])
{
	struct ifinfomsg *ifi = NLMSG_DATA(h);
	int len = (int)h->nlmsg_len - (int)NLMSG_LENGTH(sizeof(*ifi));
	struct rtattr *a;

	name[0] = '\0';
	for (a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == IFLA_IFNAME) {
			size_t n = RTA_PAYLOAD(a);

			if (n >= IF_NAMESIZE)
				n = IF_NAMESIZE - 1;
			memcpy(name, RTA_DATA(a), n);
			name[n] = '\0';
			return;
		}
	}
}

int tcps_rtnl_link_read(int fd, tcps_link_fn fn, void *arg)
{
	char buf[32768] __attribute__((aligned(4)));

	for (;;) {
		struct nlmsghdr *h;
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		int len;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -errno;	/* -ENOBUFS: events were lost */
		}
		len = (int)n;
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
			char name[IF_NAMESIZE];
			struct ifinfomsg *ifi;

			if (h->nlmsg_type != RTM_NEWLINK && h->nlmsg_type != RTM_DELLINK)
				continue;
			if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
				continue;
			ifi = NLMSG_DATA(h);
			link_name(h, name);
			fn(h->nlmsg_type == RTM_NEWLINK, ifi->ifi_index, name, arg);
		}
	}
}
