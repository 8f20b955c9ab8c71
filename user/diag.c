// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* sock_diag requests for TCP sockets (diag.h), for seeding, owners and
 * expiry. */
#include <errno.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "diag.h"

/* fn for each socket of one datagram of the answer; *done at its end
 * (NLMSG_DONE, or the kernel's error, returned). 0 or -errno. */
static int diag_answer(__u32 *buf, ssize_t len, tcps_diag_fn fn, void *arg, bool *done)
{
	struct nlmsghdr *h;
	int err;

	for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (__u32)len); h = NLMSG_NEXT(h, len)) {
		if (h->nlmsg_type == NLMSG_DONE) {
			*done = true;
			return 0;
		}
		if (h->nlmsg_type == NLMSG_ERROR) {
			struct nlmsgerr *e = NLMSG_DATA(h);

			*done = true;
			return e->error ? e->error : -EIO;
		}
		if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
			continue;
		err = fn(NLMSG_DATA(h), arg);
		if (err < 0)
			return err;
	}
	return 0;
}

/* Send r (a dump with NLM_F_DUMP, else one socket) and call fn for each
 * socket of the answer. 0 or -errno (the kernel's: -ENOENT, no socket). */
static int diag_request(const struct inet_diag_req_v2 *r, __u16 flags, tcps_diag_fn fn, void *arg)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 r;
	} req = {
		.nlh = { .nlmsg_len = sizeof(req), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			 .nlmsg_flags = NLM_F_REQUEST | flags, .nlmsg_seq = 1 },
		.r = *r,
	};
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	__u32 buf[8192];	/* 32 KiB: callers on several threads (gc, HTTP) */
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
		bool done = false;

		if (len < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			goto out;
		}
		if (len == 0)
			goto out;
		err = diag_answer(buf, len, fn, arg, &done);
		if (err < 0 || done)
			goto out;
		if (!(flags & NLM_F_DUMP))
			goto out;	/* one socket: one answer, no NLMSG_DONE */
	}
out:
	close(fd);
	return err;
}

int tcps_diag_dump(int af, __u32 states, tcps_diag_fn fn, void *arg)
{
	struct inet_diag_req_v2 r = { .sdiag_family = (__u8)af, .sdiag_protocol = IPPROTO_TCP,
				      .idiag_states = states };

	return diag_request(&r, NLM_F_DUMP, fn, arg);
}

static int take_state(const struct inet_diag_msg *m, void *arg)
{
	*(int *)arg = m->idiag_state;
	return 0;
}

int tcps_diag_state(int af, const void *laddr, __u16 lport, const void *raddr, __u16 rport)
{
	struct inet_diag_req_v2 r = {
		.sdiag_family = (__u8)af, .sdiag_protocol = IPPROTO_TCP, .idiag_states = ~0U,
		.id = { .idiag_sport = lport, .idiag_dport = rport,
			.idiag_cookie = { INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE } },
	};
	size_t alen = af == AF_INET6 ? 16 : 4;
	int st = 0, err;

	memcpy(r.id.idiag_src, laddr, alen);
	memcpy(r.id.idiag_dst, raddr, alen);
	err = diag_request(&r, 0, take_state, &st);
	if (err == -ENOENT)
		return 0;
	return err ? err : st;
}
