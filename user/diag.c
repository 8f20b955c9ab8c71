// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* sock_diag dump of TCP sockets (diag.h), for seeding and owners. */
#include <errno.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "diag.h"

int tcps_diag_dump(int af, __u32 states, tcps_diag_fn fn, void *arg)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 r;
	} req = {
		.nlh = { .nlmsg_len = sizeof(req), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			 .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = 1 },
		.r = { .sdiag_family = (__u8)af, .sdiag_protocol = IPPROTO_TCP,
		       .idiag_states = states },
	};
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	static __u32 buf[8192];
	int fd, err = 0;

	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -errno;
	if (sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		goto out;
	}
	for (;;) {
		ssize_t len = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *h;

		if (len < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			goto out;
		}
		if (len == 0)
			goto out;
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (__u32)len); h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_type == NLMSG_DONE)
				goto out;
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(h);

				err = e->error ? e->error : -EIO;
				goto out;
			}
			if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
				continue;
			err = fn(NLMSG_DATA(h), arg);
			if (err < 0)
				goto out;
			err = 0;
		}
	}
out:
	close(fd);
	return err;
}

int tcps_diag_state(int af, const void *laddr, __u16 lport, const void *raddr, __u16 rport)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 r;
	} req = {
		.nlh = { .nlmsg_len = sizeof(req), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			 .nlmsg_flags = NLM_F_REQUEST, .nlmsg_seq = 1 },
		.r = { .sdiag_family = (__u8)af, .sdiag_protocol = IPPROTO_TCP, .idiag_states = ~0U,
		       .id = { .idiag_sport = lport, .idiag_dport = rport,
			       .idiag_cookie = { INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE } } },
	};
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	__u32 buf[1024];
	size_t alen = af == AF_INET6 ? 16 : 4;
	struct nlmsghdr *h = (struct nlmsghdr *)buf;
	ssize_t len;
	int fd, ret;

	memcpy(req.r.id.idiag_src, laddr, alen);
	memcpy(req.r.id.idiag_dst, raddr, alen);
	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -errno;
	if (sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		goto out;
	}
	do
		len = recv(fd, buf, sizeof(buf), 0);
	while (len < 0 && errno == EINTR);
	if (len < 0) {
		ret = -errno;
		goto out;
	}
	if (!NLMSG_OK(h, (__u32)len)) {
		ret = -EIO;
	} else if (h->nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = NLMSG_DATA(h);

		ret = e->error == -ENOENT ? 0 : (e->error ? e->error : -EIO);
	} else if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct inet_diag_msg))) {
		ret = ((const struct inet_diag_msg *)NLMSG_DATA(h))->idiag_state;
	} else {
		ret = -EIO;
	}
out:
	close(fd);
	return ret;
}
