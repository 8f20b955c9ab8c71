// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tcpdrive: drives real kernel TCP for the end-to-end tests, one side of
 * many connections at once, scripted line by line from stdin (a fifo) so a
 * test can stop at any state and compare tcpscope with ss.
 *
 *	tcpdrive listen  ADDR PORT [-n N] [-e CMDS] [-t MS] [-L S]
 *	tcpdrive connect ADDR PORT [-n N] [-e CMDS] [-t MS] [-L S] [-b ADDR]
 *
 * Sockets are non-blocking and served by one epoll loop; what arrives is
 * read and discarded at once (so that close() never turns into a RST
 * because of unread data). Each command applies to every connection and
 * prints "ok CMD ..." when done; every wait is bounded by -t, the whole
 * process by -L. Any failure: one line on stderr, exit 1.
 */
#define _GNU_SOURCE	/* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "die.h"

#define MAX_CONNS 65536
#define MAX_INFLIGHT 512	/* connects in progress at once: stay under the SYN backlog */
#define LISTEN_BACKLOG 4096
#define TAG_STDIN 0xffffffffu
#define TAG_LISTENER 0xfffffffeu

enum conn_flag {
	C_OPEN = 0x01,		/* we hold the fd */
	C_PENDING = 0x02,	/* connect() in progress */
	C_ESTAB = 0x04,		/* connected / accepted */
	C_EOF = 0x08,		/* read returned 0: the peer sent FIN */
	C_REFUSED = 0x10,	/* connect failed with ECONNREFUSED */
	C_RESET = 0x20,		/* reset by the peer once connected (recv, or SO_ERROR) */
};

struct conn {
	int fd;
	unsigned int flags;
	unsigned long long rx;		/* bytes received */
	unsigned long long tx_left;	/* bytes still to send */
};

static const char usage[] =
	"Usage: tcpdrive listen  ADDR PORT [OPTIONS]\n"
	"       tcpdrive connect ADDR PORT [OPTIONS]\n"
	"\n"
	"Real kernel TCP for tests: N connections driven by commands read one per\n"
	"line from stdin (after those given with -e). Each command applies to every\n"
	"connection and prints \"ok CMD ...\" on stdout when done.\n"
	"\n"
	"Options:\n"
	"  -n, --count N        connections to open (connect) or expect (listen); default 1\n"
	"  -e, --exec CMDS      commands to run first, separated by ';' (repeatable)\n"
	"  -t, --timeout-ms MS  bound of every wait (default 5000)\n"
	"  -L, --lifetime S     exit with an error after S seconds (default 300)\n"
	"  -b, --bind ADDR      connect: local address\n"
	"  -s, --sport PORT     connect: source ports PORT, PORT+1... (SO_REUSEADDR),\n"
	"                       to reuse a 4-tuple; needs --bind\n"
	"  -h, --help           this help\n"
	"\n"
	"Commands:\n"
	"  wait-conn         wait until all N are established (connect) / accepted (listen)\n"
	"  wait-refused      connect: wait until all N attempts were refused (RST)\n"
	"  send BYTES        send BYTES on every connection\n"
	"  recv BYTES        wait until every connection received BYTES in total\n"
	"  shutdown          shutdown(SHUT_WR): FIN, keep the socket\n"
	"  close             close(): FIN (orphaned socket)\n"
	"  rst               SO_LINGER {1, 0} then close(): RST\n"
	"  wait-eof          wait until every open connection read the peer's FIN\n"
	"  wait-reset        wait until every open connection was reset by the peer\n"
	"  close-listener    listen: stop listening\n"
	"  sleep MS          keep serving sockets for MS ms\n"
	"  status            print counts\n"
	"  exit              exit 0 (open sockets are closed by the kernel)\n"
	"Without more commands (stdin at EOF) connections are held until SIGTERM.\n"
	"\n"	"Exit status: 0 after 'exit', 1 when a command or a socket call fails (or -L\n"
	"runs out), 2 for a bad command line.\n"
	"\n"
	"Example:\n"
	"  tcpdrive connect 198.18.1.2 8000 -n 1000 -e 'wait-conn; send 100; close'\n";

static struct conn *conns;
static unsigned int n_conns;	/* slots used */
static unsigned int want = 1;	/* -n */
static bool is_listen;
static int family;
static struct sockaddr_storage peer, local;
static socklen_t peer_len, local_len;
static bool have_bind;
static unsigned int sport;	/* -s: first source port, 0 = ephemeral */
static int ep = -1, lfd = -1;
static unsigned int next_connect;	/* connect mode: attempts started */
static unsigned int timeout_ms = 5000;
static volatile sig_atomic_t got_term, got_alarm;

/* Commands: those from -e first, then stdin lines. */
static char pending_cmds[8192];
static size_t pending_len;
static bool stdin_eof;

const char tool_name[] = "tcpdrive";

static unsigned long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000;
}

static void on_signal(int sig)
{
	if (sig == SIGALRM)
		got_alarm = 1;
	else
		got_term = 1;
}

/* s as a number up to max; 0, or -1 if it is not one. */
static int num_of(const char *s, unsigned long long max, unsigned long long *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno || end == s || *end || *s == '-' || *v > max ? -1 : 0;
}

/* A command's number (send, recv, sleep). */
static unsigned long long parse_num(const char *s, unsigned long long max, const char *what)
{
	unsigned long long v;

	if (num_of(s, max, &v))
		die("%s: expected a number up to %llu, not '%s'", what, max, s);
	return v;
}

/* An option's or operand's number. */
static unsigned long long arg_num(const char *s, unsigned long long max, const char *what)
{
	unsigned long long v;

	if (num_of(s, max, &v))
		bad_arg("%s: expected a number up to %llu, not '%s'", what, max, s);
	return v;
}

static void parse_addr(const char *s, unsigned int port, struct sockaddr_storage *ss,
		       socklen_t *len)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((unsigned short)port);
		*len = sizeof(*a4);
	} else if (inet_pton(AF_INET6, s, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((unsigned short)port);
		*len = sizeof(*a6);
	} else {
		bad_arg("not an IPv4 or IPv6 address: '%s'", s);
	}
}

/* 1,000+ sockets need more than the usual soft limit of 1024 fds. */
static void raise_nofile(unsigned int need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		die("getrlimit: %s", strerror(errno));
	if (rl.rlim_cur >= need)
		return;
	rl.rlim_cur = need;
	if (rl.rlim_max < need)
		rl.rlim_max = need;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		die("cannot raise RLIMIT_NOFILE to %u: %s", need, strerror(errno));
}

static void ep_add(int fd, unsigned int tag, unsigned int events)
{
	struct epoll_event ev = { .events = events, .data.u32 = tag };

	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev))
		die("epoll_ctl: %s", strerror(errno));
}

static void ep_mod(struct conn *c, unsigned int events)
{
	struct epoll_event ev = { .events = events, .data.u32 = (unsigned int)(c - conns) };

	if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev))
		die("epoll_ctl: %s", strerror(errno));
}

static void conn_drop(struct conn *c)
{
	close(c->fd);
	c->fd = -1;
	c->flags &= ~(C_OPEN | C_PENDING);
}

static struct conn *conn_new(int fd)
{
	struct conn *c;

	if (n_conns >= MAX_CONNS)
		die("more than %d connections", MAX_CONNS);
	c = &conns[n_conns++];
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->flags = C_OPEN;
	return c;
}

static void start_connects(void)
{
	unsigned int inflight = 0, i;

	for (i = 0; i < n_conns; i++)
		inflight += !!(conns[i].flags & C_PENDING);
	while (next_connect < want && inflight < MAX_INFLIGHT) {
		int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		struct conn *c;

		if (fd < 0)
			die("socket: %s", strerror(errno));
		if (sport) {
			int one = 1;
			unsigned short p = htons((unsigned short)(sport + next_connect));

			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			if (family == AF_INET)
				((struct sockaddr_in *)&local)->sin_port = p;
			else
				((struct sockaddr_in6 *)&local)->sin6_port = p;
		}
		if (have_bind && bind(fd, (struct sockaddr *)&local, local_len))
			die("bind: %s", strerror(errno));
		c = conn_new(fd);
		next_connect++;
		if (!connect(fd, (struct sockaddr *)&peer, peer_len)) {
			c->flags |= C_ESTAB;
			ep_add(fd, (unsigned int)(c - conns), EPOLLIN | EPOLLRDHUP);
			continue;
		}
		if (errno == ECONNREFUSED) {
			c->flags |= C_REFUSED;
			conn_drop(c);
			continue;
		}
		if (errno != EINPROGRESS)
			die("connect: %s", strerror(errno));
		c->flags |= C_PENDING;
		inflight++;
		ep_add(fd, (unsigned int)(c - conns), EPOLLOUT);
	}
}

static void do_accept(void)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c;

		if (fd < 0) {
			if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
				return;
			die("accept: %s", strerror(errno));
		}
		c = conn_new(fd);
		c->flags |= C_ESTAB;
		ep_add(fd, (unsigned int)(c - conns), EPOLLIN | EPOLLRDHUP);
	}
}

static void conn_read(struct conn *c)
{
	static char buf[65536];

	while (c->flags & C_OPEN && !(c->flags & C_EOF)) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), 0);

		if (n > 0) {
			c->rx += (unsigned long long)n;
			continue;
		}
		if (n == 0) {
			c->flags |= C_EOF;
			/* Stop polling: EOF stays readable and would spin. */
			ep_mod(c, 0);
			return;
		}
		if (errno == EAGAIN || errno == EINTR)
			return;
		if (errno == ECONNRESET || errno == EPIPE) {
			c->flags |= C_RESET;
			conn_drop(c);
			return;
		}
		die("recv: %s", strerror(errno));
	}
}

static void conn_event(struct conn *c, unsigned int events)
{
	if (!(c->flags & C_OPEN))
		return;
	if (c->flags & C_PENDING) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len))
			err = errno;
		if (!err && !(events & (EPOLLERR | EPOLLHUP))) {
			c->flags = (c->flags & ~C_PENDING) | C_ESTAB;
			ep_mod(c, EPOLLIN | EPOLLRDHUP);
			return;
		}
		if (!err)
			return;
		if (err == ECONNREFUSED) {
			c->flags |= C_REFUSED;
			conn_drop(c);
			return;
		}
		/* The handshake completed and an RST came before this event was
		 * served: tcp_reset() gives ECONNREFUSED only in SYN_SENT, and
		 * ECONNRESET (EPIPE after the peer's FIN) once connected. It was
		 * established, then reset, as a reset seen by recv() would be. */
		if (err == ECONNRESET || err == EPIPE) {
			c->flags = (c->flags & ~C_PENDING) | C_ESTAB | C_RESET;
			conn_drop(c);
			return;
		}
		die("connect: %s", strerror(err));
	}
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))
		conn_read(c);
}

static void read_stdin(void)
{
	ssize_t n;

	if (pending_len >= sizeof(pending_cmds) - 1)
		die("command line too long");
	n = read(STDIN_FILENO, pending_cmds + pending_len, sizeof(pending_cmds) - 1 - pending_len);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		die("stdin: %s", strerror(errno));
	}
	if (n == 0) {
		stdin_eof = true;
		epoll_ctl(ep, EPOLL_CTL_DEL, STDIN_FILENO, NULL);
		return;
	}
	pending_len += (size_t)n;
}

/* Serve every socket for up to ms milliseconds. */
static void serve(int ms)
{
	struct epoll_event evs[256];
	int n, i;

	if (!is_listen)
		start_connects();
	n = epoll_wait(ep, evs, 256, ms);
	if (n < 0 && errno != EINTR)
		die("epoll_wait: %s", strerror(errno));
	for (i = 0; i < n; i++) {
		unsigned int tag = evs[i].data.u32;

		if (tag == TAG_STDIN)
			read_stdin();
		else if (tag == TAG_LISTENER)
			do_accept();
		else if (tag < n_conns)
			conn_event(&conns[tag], evs[i].events);
	}
	if (got_alarm)
		die("lifetime exceeded");
	if (got_term) {
		fflush(stdout);
		exit(0);
	}
}

struct counts {
	unsigned int open, pending, estab, eof, refused, reset, closed;
};

static struct counts count_conns(void)
{
	struct counts k = { 0 };
	unsigned int i;

	for (i = 0; i < n_conns; i++) {
		unsigned int f = conns[i].flags;

		k.open += !!(f & C_OPEN);
		k.pending += !!(f & C_PENDING);
		k.estab += !!(f & C_ESTAB);
		k.eof += (f & C_OPEN) && (f & C_EOF);
		k.refused += !!(f & C_REFUSED);
		k.reset += !!(f & C_RESET);
		k.closed += !(f & C_OPEN);
	}
	return k;
}

/* Progress of a wait command: 1 done, 0 not yet; dies when it cannot be. */
typedef int (*wait_fn)(unsigned long long arg);

static int wait_conn(unsigned long long arg)
{
	struct counts k = count_conns();

	(void)arg;
	if (k.refused)
		die("wait-conn: %u connection(s) refused", k.refused);
	return k.estab >= want;
}

static int wait_refused(unsigned long long arg)
{
	struct counts k = count_conns();

	(void)arg;
	if (k.estab)
		die("wait-refused: %u connection(s) were accepted", k.estab);
	return k.refused >= want;
}

static int wait_eof(unsigned long long arg)
{
	struct counts k = count_conns();

	(void)arg;
	return k.eof == k.open;
}

static int wait_reset(unsigned long long arg)
{
	struct counts k = count_conns();

	(void)arg;
	return k.open == 0;
}

static int wait_recv(unsigned long long arg)
{
	unsigned int i;

	for (i = 0; i < n_conns; i++) {
		if (!(conns[i].flags & C_ESTAB) || conns[i].rx >= arg)
			continue;
		if (!(conns[i].flags & C_OPEN) || (conns[i].flags & C_EOF))
			die("recv: a connection ended after %llu of %llu bytes", conns[i].rx, arg);
		return 0;
	}
	return 1;
}

static int send_some(unsigned long long arg)
{
	static const char zeros[65536];
	unsigned int i;
	int done = 1;

	(void)arg;
	for (i = 0; i < n_conns; i++) {
		struct conn *c = &conns[i];

		while ((c->flags & C_OPEN) && c->tx_left) {
			size_t len = c->tx_left < sizeof(zeros) ? (size_t)c->tx_left : sizeof(zeros);
			ssize_t n = send(c->fd, zeros, len, MSG_NOSIGNAL);

			if (n > 0) {
				c->tx_left -= (unsigned long long)n;
				continue;
			}
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				break;
			die("send: %s", n < 0 ? strerror(errno) : "sent nothing");
		}
		if ((c->flags & C_OPEN) && c->tx_left)
			done = 0;
	}
	return done;
}

static void run_wait(const char *cmd, wait_fn fn, unsigned long long arg)
{
	unsigned long long deadline = now_ms() + timeout_ms;

	while (!fn(arg)) {
		if (now_ms() >= deadline) {
			struct counts k = count_conns();

			die("%s: timed out after %u ms (open %u, pending %u, established %u, eof %u, refused %u, reset %u)",
			    cmd, timeout_ms, k.open, k.pending, k.estab, k.eof, k.refused, k.reset);
		}
		serve(10);
	}
}

static void each_open(void (*fn)(struct conn *c))
{
	unsigned int i;

	for (i = 0; i < n_conns; i++)
		if ((conns[i].flags & (C_OPEN | C_PENDING)) == C_OPEN)
			fn(&conns[i]);
}

static void do_shutdown(struct conn *c)
{
	if (shutdown(c->fd, SHUT_WR) && errno != ENOTCONN)
		die("shutdown: %s", strerror(errno));
}

static void do_close(struct conn *c)
{
	/* Unread data at close() makes the kernel send RST (RFC 2525 §2.17):
	 * read what is there first. */
	conn_read(c);
	if (c->flags & C_OPEN)
		conn_drop(c);
}

static void do_rst(struct conn *c)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	if (setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)))
		die("SO_LINGER: %s", strerror(errno));
	conn_drop(c);
}

/* The argument of a command that needs one. */
static const char *need_arg(const char *cmd, const char *arg, const char *what)
{
	if (!arg)
		die("%s: needs %s", cmd, what);
	return arg;
}

static void cmd_wait_conn(const char *cmd, const char *arg)
{
	(void)arg;
	run_wait(cmd, wait_conn, 0);
	printf("ok wait-conn %u\n", count_conns().estab);
}

static void cmd_wait_refused(const char *cmd, const char *arg)
{
	(void)arg;
	if (is_listen)
		die("wait-refused: only for connect");
	run_wait(cmd, wait_refused, 0);
	printf("ok wait-refused %u\n", count_conns().refused);
}

static void cmd_send(const char *cmd, const char *arg)
{
	unsigned long long n = parse_num(need_arg(cmd, arg, "BYTES"), 1ULL << 40, "send");
	unsigned int i;

	for (i = 0; i < n_conns; i++)
		if ((conns[i].flags & (C_OPEN | C_ESTAB)) == (C_OPEN | C_ESTAB))
			conns[i].tx_left += n;
	run_wait(cmd, send_some, 0);
	printf("ok send %llu\n", n);
}

static void cmd_recv(const char *cmd, const char *arg)
{
	unsigned long long n = parse_num(need_arg(cmd, arg, "BYTES"), 1ULL << 40, "recv");

	run_wait(cmd, wait_recv, n);
	printf("ok recv %llu\n", n);
}

static void cmd_shutdown(const char *cmd, const char *arg)
{
	(void)cmd, (void)arg;
	each_open(do_shutdown);
	printf("ok shutdown\n");
}

static void cmd_close(const char *cmd, const char *arg)
{
	(void)cmd, (void)arg;
	each_open(do_close);
	printf("ok close\n");
}

static void cmd_rst(const char *cmd, const char *arg)
{
	(void)cmd, (void)arg;
	each_open(do_rst);
	printf("ok rst\n");
}

static void cmd_wait_eof(const char *cmd, const char *arg)
{
	(void)arg;
	run_wait(cmd, wait_eof, 0);
	printf("ok wait-eof %u\n", count_conns().eof);
}

static void cmd_wait_reset(const char *cmd, const char *arg)
{
	(void)arg;
	run_wait(cmd, wait_reset, 0);
	printf("ok wait-reset %u\n", count_conns().reset);
}

static void cmd_close_listener(const char *cmd, const char *arg)
{
	(void)cmd, (void)arg;
	if (lfd >= 0)
		close(lfd);
	lfd = -1;
	printf("ok close-listener\n");
}

static void cmd_sleep(const char *cmd, const char *arg)
{
	unsigned long long end = now_ms() + parse_num(need_arg(cmd, arg, "MS"), 3600000, "sleep");

	while (now_ms() < end)
		serve((int)(end - now_ms()));
	printf("ok sleep\n");
}

static void cmd_status(const char *cmd, const char *arg)
{
	struct counts k = count_conns();

	(void)cmd, (void)arg;
	printf("ok status open=%u pending=%u established=%u eof=%u refused=%u reset=%u closed=%u\n",
	       k.open, k.pending, k.estab, k.eof, k.refused, k.reset, k.closed);
}

static void cmd_exit(const char *cmd, const char *arg)
{
	(void)cmd, (void)arg;
	printf("ok exit\n");
	fflush(stdout);
	exit(0);
}

/* The commands (see usage); each gets its name and its argument or NULL. */
static const struct command {
	const char *name;
	void (*run)(const char *cmd, const char *arg);
} commands[] = {
	{ "wait-conn", cmd_wait_conn },
	{ "wait-refused", cmd_wait_refused },
	{ "send", cmd_send },
	{ "recv", cmd_recv },
	{ "shutdown", cmd_shutdown },
	{ "close", cmd_close },
	{ "rst", cmd_rst },
	{ "wait-eof", cmd_wait_eof },
	{ "wait-reset", cmd_wait_reset },
	{ "close-listener", cmd_close_listener },
	{ "sleep", cmd_sleep },
	{ "status", cmd_status },
	{ "exit", cmd_exit },
};

static void run_command(char *line)
{
	char *argv[4], *save = NULL, *tok;
	size_t i;
	int argc = 0;

	for (tok = strtok_r(line, " \t\r", &save); tok && argc < 4; tok = strtok_r(NULL, " \t\r", &save))
		argv[argc++] = tok;
	if (!argc)
		return;
	if (argc > 2)
		die("%s: too many arguments", argv[0]);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (!strcmp(argv[0], commands[i].name)) {
			commands[i].run(argv[0], argc == 2 ? argv[1] : NULL);
			return;
		}
	}
	die("unknown command '%s' (see --help)", argv[0]);
}

/* Take the next complete command (up to ';' or newline) off the queue. */
static bool next_command(char *out, size_t len)
{
	size_t i;

	for (i = 0; i < pending_len; i++) {
		if (pending_cmds[i] != '\n' && pending_cmds[i] != ';')
			continue;
		if (i >= len)
			die("command too long");
		memcpy(out, pending_cmds, i);
		out[i] = '\0';
		memmove(pending_cmds, pending_cmds + i + 1, pending_len - i - 1);
		pending_len -= i + 1;
		return true;
	}
	/* The last line of a file need not end in a newline. */
	if (stdin_eof && pending_len) {
		if (pending_len >= len)
			die("command too long");
		memcpy(out, pending_cmds, pending_len);
		out[pending_len] = '\0';
		pending_len = 0;
		return true;
	}
	return false;
}

static void queue_commands(const char *s)
{
	size_t n = strlen(s);

	if (pending_len + n + 1 >= sizeof(pending_cmds))
		bad_arg("-e: commands too long");
	memcpy(pending_cmds + pending_len, s, n);
	pending_len += n;
	pending_cmds[pending_len++] = ';';
}

static void setup_listener(void)
{
	int one = 1;

	lfd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6)
		setsockopt(lfd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&peer, peer_len))
		die("bind: %s", strerror(errno));
	if (listen(lfd, LISTEN_BACKLOG))
		die("listen: %s", strerror(errno));
	ep_add(lfd, TAG_LISTENER, EPOLLIN);
}

/* What main needs of the command line beyond the globals above. */
struct opts {
	const char *addr, *bind_addr;
	unsigned int port, lifetime;
};

/* getopt's '?': one line of our own; the exit status. */
static int bad_option(char **argv)
{
	fprintf(stderr, "tcpdrive: unknown option or missing value: '%s' (see --help)\n", argv[optind - 1]);
	return 2;
}

/* Options into the globals and o; -1 to go on, else the exit status. */
static int parse_options(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "count", required_argument, NULL, 'n' },
		{ "exec", required_argument, NULL, 'e' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "lifetime", required_argument, NULL, 'L' },
		{ "bind", required_argument, NULL, 'b' },
		{ "sport", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	int c;

	opterr = 0;	/* one line of our own instead of getopt's */
	while ((c = getopt_long(argc, argv, "n:e:t:L:b:s:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			want = (unsigned int)arg_num(optarg, MAX_CONNS, "--count");
			break;
		case 'e':
			queue_commands(optarg);
			break;
		case 't':
			timeout_ms = (unsigned int)arg_num(optarg, 3600000, "--timeout-ms");
			break;
		case 'L':
			o->lifetime = (unsigned int)arg_num(optarg, 86400, "--lifetime");
			break;
		case 'b':
			o->bind_addr = optarg;
			break;
		case 's':
			sport = (unsigned int)arg_num(optarg, 65535, "--sport");
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			return bad_option(argv);
		}
	}
	return -1;
}

/* listen|connect ADDR PORT, then --bind and --sport against them; -1 to go
 * on, else the exit status. */
static int parse_target(int argc, char **argv, struct opts *o)
{
	if (argc - optind != 3 || (strcmp(argv[optind], "listen") && strcmp(argv[optind], "connect"))) {
		fputs("tcpdrive: usage: tcpdrive listen|connect ADDR PORT [OPTIONS] (see --help)\n", stderr);
		return 2;
	}
	is_listen = !strcmp(argv[optind], "listen");
	o->addr = argv[optind + 1];
	o->port = (unsigned int)arg_num(argv[optind + 2], 65535, "PORT");
	parse_addr(o->addr, o->port, &peer, &peer_len);
	family = peer.ss_family;
	if (o->bind_addr) {
		if (is_listen)
			bad_arg("--bind is for connect");
		parse_addr(o->bind_addr, 0, &local, &local_len);
		if (local.ss_family != family)
			bad_arg("--bind address family differs from ADDR's");
		have_bind = true;
	}
	if (sport && (!have_bind || sport + want - 1 > 65535))
		bad_arg("--sport needs --bind, and PORT + N - 1 <= 65535");
	return -1;
}

static void install_signals(unsigned int lifetime)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	alarm(lifetime);	/* never hang, whatever the test does */
}

/* Commands come from stdin when it can be polled; a regular file or
 * /dev/null cannot: read it whole. */
static void watch_stdin(void)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = TAG_STDIN };

	fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);
	if (epoll_ctl(ep, EPOLL_CTL_ADD, STDIN_FILENO, &ev)) {
		if (errno == EBADF)
			stdin_eof = true;
		else if (errno != EPERM)
			die("epoll_ctl(stdin): %s", strerror(errno));
		while (!stdin_eof)
			read_stdin();
	}
}

static void setup(const struct opts *o)
{
	raise_nofile(want * (is_listen ? 2 : 1) + 64);
	conns = calloc(MAX_CONNS, sizeof(*conns));
	if (!conns)
		die("out of memory");
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1: %s", strerror(errno));
	watch_stdin();
	if (is_listen) {
		setup_listener();
		printf("ready listen %s %u\n", o->addr, o->port);
	} else {
		start_connects();
		printf("ready connect %s %u\n", o->addr, o->port);
	}
}

int main(int argc, char **argv)
{
	struct opts o = { .lifetime = 300 };
	char cmd[1024];
	int rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	rc = parse_options(argc, argv, &o);
	if (rc >= 0)
		return rc;
	rc = parse_target(argc, argv, &o);
	if (rc >= 0)
		return rc;
	install_signals(o.lifetime);
	setup(&o);
	for (;;) {
		if (next_command(cmd, sizeof(cmd))) {
			run_command(cmd);
			continue;
		}
		/* Holding: serve sockets until a command, a signal or -L. */
		serve(100);
	}
}
