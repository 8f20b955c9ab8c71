// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#define _GNU_SOURCE	/* setns */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "diag.h"
#include "owners.h"
#include "tcps_key.h"

struct sock_ent {
	struct tcps_key key;
	int side;		/* the socket's own end */
	unsigned long ino;
	int owner;		/* index in owners, -1 none */
};

struct tcps_owners {
	struct sock_ent *s;	/* sorted by key, then side */
	size_t n, cap;
	struct tcps_owner *w;
	size_t nw;
};

static int ent_cmp(const void *a, const void *b)
{
	const struct sock_ent *x = a, *y = b;
	int c = memcmp(&x->key, &y->key, sizeof(x->key));

	return c ? c : x->side - y->side;
}

static int push(struct tcps_owners *o, const struct inet_diag_msg *m)
{
	__u32 src[4] = { 0 }, dst[4] = { 0 };
	__u8 fam = TCPS_AF_INET;
	struct sock_ent *e;

	if (!m->idiag_inode)
		return 0;	/* TIME_WAIT and other socket-less entries */
	if (m->idiag_family == AF_INET6) {
		memcpy(src, m->id.idiag_src, 16);
		memcpy(dst, m->id.idiag_dst, 16);
		fam = TCPS_AF_INET6;
		/* v4-mapped: the wire (and our key) carries IPv4. */
		if (!src[0] && !src[1] && src[2] == htonl(0xffff) && !dst[0] && !dst[1] &&
		    dst[2] == htonl(0xffff)) {
			src[0] = src[3];
			dst[0] = dst[3];
			src[1] = src[2] = src[3] = dst[1] = dst[2] = dst[3] = 0;
			fam = TCPS_AF_INET;
		}
	} else {
		src[0] = m->id.idiag_src[0];
		dst[0] = m->id.idiag_dst[0];
	}
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 256;
		struct sock_ent *p = realloc(o->s, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		o->s = p;
		o->cap = cap;
	}
	e = &o->s[o->n++];
	e->side = tcps_key_make(fam, src, ntohs(m->id.idiag_sport), dst, ntohs(m->id.idiag_dport),
				&e->key);
	e->ino = m->idiag_inode;
	e->owner = -1;
	return 0;
}

static int push_rec(const struct inet_diag_msg *m, void *arg)
{
	return push(arg, m);
}

static int diag_dump(struct tcps_owners *o, int af)
{
	return tcps_diag_dump(af, ~0U, push_rec, o);
}

/* The dump, in netns_pid's network namespace when it is not ours. */
static int dump_in_netns(struct tcps_owners *o, pid_t netns_pid)
{
	int self = -1, target = -1, err;
	char path[64];

	if (netns_pid > 0 && netns_pid != getpid()) {
		snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)netns_pid);
		target = open(path, O_RDONLY | O_CLOEXEC);
		self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
		if (target < 0 || self < 0 || setns(target, CLONE_NEWNET)) {
			err = -errno;
			goto out;
		}
	}
	err = diag_dump(o, AF_INET);
	if (!err)
		err = diag_dump(o, AF_INET6);
	if (self >= 0 && setns(self, CLONE_NEWNET) && !err)
		err = -errno;
out:
	if (target >= 0)
		close(target);
	if (self >= 0)
		close(self);
	return err;
}

static int ino_cmp(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a, y = ((const struct sock_ent *)b)->ino;

	return x < y ? -1 : x > y;
}

static int by_ino(const void *a, const void *b)
{
	unsigned long x = ((const struct sock_ent *)a)->ino, y = ((const struct sock_ent *)b)->ino;

	return x < y ? -1 : x > y;
}

static void read_line(const char *path, char *buf, size_t len, const char *prefix)
{
	FILE *f = fopen(path, "re");
	char line[512];

	snprintf(buf, len, "-");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (prefix && strncmp(line, prefix, strlen(prefix)))
			continue;
		const char *v = line + (prefix ? strlen(prefix) : 0);
		size_t n = strcspn(v, "\n");

		if (n >= len)
			n = len - 1;	/* a long cgroup path is cut */
		memcpy(buf, v, n);
		buf[n] = '\0';
		break;
	}
	fclose(f);
}

/* The inode of the socket that /proc/PID/fd/NAME is; -1 if it is none. */
static int fd_socket(int pid, const char *name, unsigned long *ino)
{
	char path[300], link[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/fd/%s", pid, name);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return -1;
	link[n] = '\0';
	return sscanf(link, "socket:[%lu]", ino) == 1 ? 0 : -1;
}

/* pid holds e's socket: the first holder becomes its owner (with its
 * command and cgroup), the others are counted. */
static void note_owner(struct tcps_owners *o, struct sock_ent *e, int pid)
{
	char path[300];
	struct tcps_owner *w;

	if (e->owner >= 0) {
		w = &o->w[e->owner];
		if (w->pid != pid)
			w->nprocs++;	/* /proc lists PIDs ascending: the first is the lowest */
		return;
	}
	e->owner = (int)o->nw;
	w = &o->w[o->nw++];
	w->pid = pid;
	w->nprocs = 1;
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	read_line(path, w->comm, sizeof(w->comm), NULL);
	snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	read_line(path, w->cgroup, sizeof(w->cgroup), "0::");
}

/* The sockets of o that pid's open files are. */
static void scan_fds(struct tcps_owners *o, int pid)
{
	char path[300];
	struct dirent *fde;
	DIR *fds;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	fds = opendir(path);
	if (!fds)
		return;	/* gone, or a kernel thread */
	while ((fde = readdir(fds))) {
		unsigned long ino;
		struct sock_ent *e;

		if (fde->d_name[0] == '.' || fd_socket(pid, fde->d_name, &ino))
			continue;
		e = bsearch(&ino, o->s, o->n, sizeof(*o->s), ino_cmp);
		if (e)
			note_owner(o, e, pid);
	}
	closedir(fds);
}

/* Who holds which socket: /proc/PID/fd/N -> "socket:[INODE]" (as ss -p). */
static int scan_proc(struct tcps_owners *o)
{
	DIR *proc = opendir("/proc");
	struct dirent *pd;

	if (!proc)
		return -errno;
	while ((pd = readdir(proc))) {
		int pid = atoi(pd->d_name);

		if (pid > 0)
			scan_fds(o, pid);
	}
	closedir(proc);
	return 0;
}

struct tcps_owners *tcps_owners_load(pid_t netns_pid)
{
	struct tcps_owners *o = calloc(1, sizeof(*o));
	int err;

	if (!o)
		return NULL;
	err = dump_in_netns(o, netns_pid);
	if (!err && o->n) {
		o->w = calloc(o->n, sizeof(*o->w));
		if (!o->w)
			err = -ENOMEM;
	}
	/* No socket (o->s NULL): nothing to look for, and qsort's and
	 * bsearch's arguments are nonnull. */
	if (!err && o->n) {
		qsort(o->s, o->n, sizeof(*o->s), by_ino);
		err = scan_proc(o);
	}
	if (err) {
		tcps_owners_free(o);
		errno = -err;
		return NULL;
	}
	if (o->n)
		qsort(o->s, o->n, sizeof(*o->s), ent_cmp);
	return o;
}

struct tcps_owners *tcps_owners_none(void)
{
	return calloc(1, sizeof(struct tcps_owners));
}

void tcps_owners_free(struct tcps_owners *o)
{
	if (!o)
		return;
	free(o->s);
	free(o->w);
	free(o);
}

const struct tcps_owner *tcps_owner_find(const struct tcps_owners *o, const struct tcps_key *k,
					 int side)
{
	struct sock_ent want = { .key = *k, .side = side };
	const struct sock_ent *e;

	if (!o || !o->n)
		return NULL;
	e = bsearch(&want, o->s, o->n, sizeof(*o->s), ent_cmp);
	return e && e->owner >= 0 ? &o->w[e->owner] : NULL;
}

void tcps_owner_str(const struct tcps_owner *w, char *buf, size_t len)
{
	if (!w)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%d/%s", (int)w->pid, w->comm);
}
