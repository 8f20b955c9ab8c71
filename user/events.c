// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The transition stream for any number of readers. The ring buffer has one
 * consumer, the daemon; it fans every transition out over a root-only Unix
 * stream socket. The daemon never waits for a reader: sockets are
 * non-blocking, each reader has a bounded buffer, and a reader that falls
 * behind loses transitions (counted) and is told how many once it catches
 * up. The maps stay the source of truth; this is a live feed.
 *
 * Protocol (one line each way, then lines from the daemon):
 *   reader -> daemon:  "json\n" or "text\n"
 *   daemon -> reader:  "# tcpscope events 1\n", then one transition per
 *                      line; lines starting with '#' are notices
 *                      ("# dropped N ...").
 *
 * Also here: 'tcpscope events', the reader.
 */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "exports.h"
#include "filter.h"
#include "evjson.h"
#include "output.h"
#include "query.h"

#define EVSOCK_HELLO "# tcpscope events 1\n"
#define MAX_CLIENTS 64
/*
 * Sized for a reader that writes to a file at 100k transitions/s (a JSON
 * line is ~330 bytes: 33 MB/s). Three stages hold what a reader has not
 * read yet:
 *  - the socket: its send buffer is raised to SOCK_SNDBUF (~12k lines), so
 *    the daemon hands over a drain's worth at a time;
 *  - the reader's queue in the daemon, sized in transitions: up to
 *    QUEUE_HIGH lines (0.65 s at 100k/s) wait there while the reader is
 *    busy (a disk stall, a scheduling gap). It grows only while the reader
 *    lags; QUEUE_BYTES_MAX bounds it whatever the line length;
 *  - past the high-water mark the reader loses transitions, counted, until
 *    it has drained its queue below the low-water mark: then it is told
 *    how many ("# dropped N ...") and delivery resumes. The hysteresis
 *    makes a gap one stretch, not every other line.
 * Sends are batched: one send() per SEND_BATCH bytes, and at every tick
 * (right after each ring-buffer drain), never one per line.
 */
#define SOCK_SNDBUF (4 << 20)
#define QUEUE_HIGH 65536
#define QUEUE_LOW (QUEUE_HIGH / 2)
#define QUEUE_BYTES_MAX (32u << 20)
#define QUEUE_BYTES_INIT (256u << 10)
#define SEND_BATCH (64u << 10)
#define HELLO_TIMEOUT_NS (5ULL * 1000000000ULL)

struct client {
	int fd;
	bool ready;		/* has said which format it wants */
	bool json;
	bool dropping;		/* past the high-water mark, until below low-water */
	char hello[16];
	size_t hlen;
	__u64 accepted;		/* mono ns, to drop readers that never say hello */
	char *buf;		/* pending output, buf[off..len) of cap bytes */
	size_t off, len, cap;
	size_t queued;		/* complete lines in buf[off..len) */
	__u64 untold;		/* drops the reader has not been told of yet */
};

static struct {
	int lfd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct client c[MAX_CLIENTS];
	int n;
	__u32 mode;
	char *jbuf;		/* one JSON line with its newline */
	size_t jcap;
	/* read by the HTTP thread */
	__u64 clients, dropped;
} ev = { .lfd = -1 };

int tcps_evsock_default_path(const char *pin_dir, char *buf, size_t len)
{
	static const char bpffs[] = "/sys/fs/bpf/";
	const char *rel = pin_dir;
	char name[PATH_MAX];
	size_t i, n;
	int w;

	if (!strncmp(rel, bpffs, sizeof(bpffs) - 1))
		rel += sizeof(bpffs) - 1;
	while (*rel == '/')
		rel++;
	snprintf(name, sizeof(name), "%s", *rel ? rel : "tcpscope");
	n = strlen(name);
	while (n > 1 && name[n - 1] == '/')
		name[--n] = '\0';
	for (i = 0; i < n; i++)
		if (name[i] == '/')
			name[i] = '-';
	w = snprintf(buf, len, "%s/%s.sock", TCPS_EVSOCK_DIR, name);
	if (w < 0 || (size_t)w >= len || (size_t)w >= sizeof(ev.path))
		return -ENAMETOOLONG;
	return 0;
}

static void client_close(struct client *c)
{
	close(c->fd);
	free(c->buf);
	*c = ev.c[--ev.n];	/* the last one takes its slot */
	__atomic_store_n(&ev.clients, (__u64)ev.n, __ATOMIC_RELAXED);
}

/* Lines in n bytes: a line leaves the queue when its newline is sent. */
static size_t count_lines(const char *p, size_t n)
{
	const char *end = p + n;
	size_t lines = 0;

	while (p < end && (p = memchr(p, '\n', (size_t)(end - p)))) {
		lines++;
		p++;
	}
	return lines;
}

/* Returns false if the reader is gone (and closed). */
static bool client_flush(struct client *c)
{
	while (c->off < c->len) {
		ssize_t w = send(c->fd, c->buf + c->off, c->len - c->off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				break;
			client_close(c);
			return false;
		}
		c->queued -= count_lines(c->buf + c->off, (size_t)w);
		c->off += (size_t)w;
	}
	if (c->off == c->len)
		c->off = c->len = c->queued = 0;
	return true;
}

/* Room for n more bytes: compact, then grow (up to QUEUE_BYTES_MAX). */
static bool client_reserve(struct client *c, size_t n)
{
	size_t pending = c->len - c->off, ncap;
	char *nb;

	if (c->len + n <= c->cap)
		return true;
	if (pending + n > QUEUE_BYTES_MAX)
		return false;
	if (c->off) {
		memmove(c->buf, c->buf + c->off, pending);
		c->off = 0;
		c->len = pending;
		if (c->len + n <= c->cap)
			return true;
	}
	for (ncap = c->cap ? c->cap : QUEUE_BYTES_INIT; ncap < pending + n; ncap *= 2)
		;
	if (ncap > QUEUE_BYTES_MAX)
		ncap = QUEUE_BYTES_MAX;
	nb = realloc(c->buf, ncap);
	if (!nb)
		return false;
	c->buf = nb;
	c->cap = ncap;
	return true;
}

static void client_append(struct client *c, const char *s, size_t n)
{
	memcpy(c->buf + c->len, s, n);
	c->len += n;
	c->queued += count_lines(s, n);
}

/* A dropping reader that has drained below the low-water mark: queue
 * the notice of what it lost and resume delivery. At every tick as well
 * as before a line, so that a reader that catches up after the traffic
 * stops is told too. True if the notice was queued. */
static bool client_tell_drops(struct client *c)
{
	char note[128];
	int w;

	if (!c->dropping || c->queued > QUEUE_LOW)
		return false;
	w = snprintf(note, sizeof(note), "# dropped %llu transitions: reader too slow\n",
		     (unsigned long long)c->untold);
	if (!client_reserve(c, (size_t)w))
		return false;
	client_append(c, note, (size_t)w);
	c->untold = 0;
	c->dropping = false;
	return true;
}

/* Queue one line (or drop it, past the high-water mark), then send if a
 * batch is pending. Returns false if the reader is gone. */
static bool client_send(struct client *c, const char *line, size_t n)
{
	client_tell_drops(c);
	if (!c->dropping && (c->queued >= QUEUE_HIGH || !client_reserve(c, n)))
		c->dropping = true;
	if (c->dropping) {
		c->untold++;
		__atomic_add_fetch(&ev.dropped, 1, __ATOMIC_RELAXED);
		return true;
	}
	client_append(c, line, n);
	if (c->len - c->off >= SEND_BATCH)
		return client_flush(c);
	return true;
}

static int listen_on(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old;
	int fd, err;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (!lstat(path, &st)) {
		int probe;

		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		/* A socket answering there belongs to a live daemon; a dead
		 * one's leftover is ours to replace. */
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe < 0)
			return -errno;
		err = connect(probe, (struct sockaddr *)&sa, sizeof(sa));
		close(probe);
		if (!err)
			return -EADDRINUSE;
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Root-only from the first instant, not after a chmod. */
	old = umask(0177);
	err = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (err || listen(fd, 16)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int tcps_evsock_start(struct tcps_daemon *d)
{
	const char *path = d->opts->event_socket;
	bool explicit = path != NULL;
	char def[sizeof(ev.path)];
	int fd;

	ev.mode = d->opts->mode;
	if (!explicit) {
		if (tcps_evsock_default_path(d->opts->pin_dir, def, sizeof(def))) {
			pr_warn("pin directory name too long for an event socket; 'tcpscope events' needs --event-socket");
			return 0;
		}
		if (mkdir(TCPS_EVSOCK_DIR, 0755) && errno != EEXIST) {
			pr_warn("%s: %s; no event socket ('tcpscope events' will not work)",
				TCPS_EVSOCK_DIR, strerror(errno));
			return 0;
		}
		path = def;
	}
	fd = listen_on(path);
	if (fd < 0) {
		const char *why = fd == -EADDRINUSE ? "another tcpscope is serving it" :
				  fd == -EEXIST	    ? "exists and is not a socket" :
							      strerror(-fd);

		if (explicit) {
			pr_err("event socket %s: %s", path, why);
			return fd == -EACCES || fd == -EPERM ? TCPS_EXIT_PERM : TCPS_EXIT_FAIL;
		}
		pr_warn("event socket %s: %s; 'tcpscope events' will not work", path, why);
		return 0;
	}
	ev.lfd = fd;
	snprintf(ev.path, sizeof(ev.path), "%s", path);
	pr_info("transitions for 'tcpscope events' on %s", ev.path);
	return 0;
}

static void accept_new(__u64 now)
{
	for (;;) {
		int fd = accept4(ev.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct client *c;

		if (fd < 0)
			return;
		if (ev.n >= MAX_CLIENTS) {
			static const char msg[] = "# too many readers\n";

			if (send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
				pr_debug("event socket: %s", strerror(errno));
			close(fd);
			continue;
		}
		/* SO_SNDBUFFORCE (root) passes net.core.wmem_max; else as
		 * much as SO_SNDBUF allows. */
		{
			int sz = SOCK_SNDBUF;

			if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) &&
			    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)))
				pr_debug("event socket: SO_SNDBUF: %s", strerror(errno));
		}
		c = &ev.c[ev.n++];
		memset(c, 0, sizeof(*c));
		c->fd = fd;
		c->accepted = now;
		__atomic_store_n(&ev.clients, (__u64)ev.n, __ATOMIC_RELAXED);
	}
}

/* Reads the reader's format line; false if the reader was closed. */
static bool client_hello(struct client *c, __u64 now)
{
	ssize_t r = recv(c->fd, c->hello + c->hlen, sizeof(c->hello) - 1 - c->hlen, MSG_DONTWAIT);
	char *nl;

	if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
		client_close(c);
		return false;
	}
	if (r > 0)
		c->hlen += (size_t)r;
	c->hello[c->hlen] = '\0';
	nl = strchr(c->hello, '\n');
	if (!nl) {
		if (c->hlen == sizeof(c->hello) - 1 || now - c->accepted > HELLO_TIMEOUT_NS) {
			client_close(c);
			return false;
		}
		return true;
	}
	*nl = '\0';
	if (strcmp(c->hello, "json") && strcmp(c->hello, "text")) {
		client_close(c);
		return false;
	}
	c->json = !strcmp(c->hello, "json");
	if (!client_reserve(c, sizeof(EVSOCK_HELLO))) {
		client_close(c);
		return false;
	}
	c->ready = true;
	client_append(c, EVSOCK_HELLO, sizeof(EVSOCK_HELLO) - 1);
	return client_flush(c);
}

void tcps_evsock_tick(struct tcps_daemon *d, __u64 now)
{
	struct pollfd pfd[MAX_CLIENTS];
	int i;

	(void)d;
	if (ev.lfd < 0)
		return;
	accept_new(now);
	for (i = 0; i < ev.n; i++)
		pfd[i] = (struct pollfd){ .fd = ev.c[i].fd, .events = POLLIN };
	if (ev.n && poll(pfd, (nfds_t)ev.n, 0) < 0)
		return;
	/* Backwards: closing moves the last client into slot i. */
	for (i = ev.n - 1; i >= 0; i--) {
		struct client *c = &ev.c[i];

		if (!c->ready) {
			client_hello(c, now);
			continue;
		}
		if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) {
			char junk[256];
			ssize_t r = recv(c->fd, junk, sizeof(junk), MSG_DONTWAIT);

			/* A reader has nothing more to say: EOF means it left. */
			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
				client_close(c);
				continue;
			}
		}
		if (client_flush(c) && client_tell_drops(c))
			client_flush(c);
	}
}

void tcps_evsock_event(struct tcps_daemon *d, const struct tcps_event *e)
{
	char text[512], *json = NULL;
	size_t jlen = 0, tlen = 0;
	int i;

	(void)d;
	for (i = ev.n - 1; i >= 0; i--) {
		struct client *c = &ev.c[i];

		if (!c->ready)
			continue;
		/* Each format is rendered at most once per transition, by the
		 * same functions as the daemon's stdout. */
		if (c->json && !json) {
			const char *s = tcps_event_json_line(e, ev.mode, &jlen);

			if (!s)
				break;
			/* The generator owns s: the line with its newline goes into
			 * a scratch buffer of ours, so it is queued whole or not at all. */
			if (jlen + 1 > ev.jcap) {
				char *nb = realloc(ev.jbuf, jlen + 256);

				if (!nb)
					break;
				ev.jbuf = nb;
				ev.jcap = jlen + 256;
			}
			json = ev.jbuf;
			memcpy(json, s, jlen);
			json[jlen++] = '\n';
		} else if (!c->json && !tlen) {
			FILE *f = fmemopen(text, sizeof(text), "w");

			if (!f)
				continue;
			tcps_event_text(f, e, ev.mode);
			tlen = (size_t)ftell(f);
			fclose(f);
		}
		client_send(c, c->json ? json : text, c->json ? jlen : tlen);
	}
}

void tcps_evsock_stop(struct tcps_daemon *d)
{
	(void)d;
	while (ev.n)
		client_close(&ev.c[0]);
	if (ev.lfd >= 0) {
		close(ev.lfd);
		unlink(ev.path);
		ev.lfd = -1;
	}
	free(ev.jbuf);
	ev.jbuf = NULL;
	ev.jcap = 0;
}

void tcps_evsock_stats(__u64 *clients, __u64 *dropped)
{
	*clients = __atomic_load_n(&ev.clients, __ATOMIC_RELAXED);
	*dropped = __atomic_load_n(&ev.dropped, __ATOMIC_RELAXED);
}

int tcps_evsock_connect(const char *path, bool json)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *fmt = json ? "json\n" : "text\n";
	char ack[sizeof(EVSOCK_HELLO)];
	size_t got = 0;
	int fd, err;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    send(fd, fmt, strlen(fmt), MSG_NOSIGNAL) < 0)
		goto fail;
	/* Wait for the daemon's greeting: from then on no transition is
	 * missed (it answers within one 100 ms tick). */
	while (got < sizeof(EVSOCK_HELLO) - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, 5000) <= 0) {
			errno = ETIMEDOUT;
			goto fail;
		}
		r = recv(fd, ack + got, sizeof(EVSOCK_HELLO) - 1 - got, 0);
		if (r <= 0) {
			errno = r ? errno : ECONNRESET;
			goto fail;
		}
		got += (size_t)r;
	}
	if (memcmp(ack, EVSOCK_HELLO, sizeof(EVSOCK_HELLO) - 1)) {
		errno = EPROTO;
		goto fail;
	}
	return fd;
fail:
	err = -errno;
	close(fd);
	return err;
}

/* The reader's copy loop: big reads, a fully buffered stdout flushed
 * whenever the socket has nothing more to give at once (so a pipe into jq
 * sees each line as it comes, and a file at 100k lines/s gets one write
 * per megabyte, not per line). A failed write is an error; so is the end
 * of the stream before COUNT lines: the daemon is gone. */
#define READ_CHUNK (1u << 20)

static int write_failed(void)
{
	pr_err("cannot write the output: %s", strerror(errno ? errno : EIO));
	return TCPS_EXIT_FAIL;
}

/* The exit code once read() found the end of the stream (err 0) or
 * failed (err: its errno), said. */
static int events_ended(const char *path, int err)
{
	if (fflush(stdout) == EOF || ferror(stdout))
		return write_failed();
	if (err) {
		pr_err("%s: %s", path, strerror(err));
		return TCPS_EXIT_FAIL;
	}
	pr_err("the daemon closed the event stream at %s: it stopped or was killed", path);
	return TCPS_EXIT_NOTRUNNING;
}

/* The whole lines of buf[0, *have) to stdout (those expr, if any, takes;
 * of the comments, the drop notices to stderr), the partial last line
 * moved to the front; -1 to go on, else the exit code once *seen reaches
 * count. */
static int copy_lines(char *buf, size_t *have, unsigned long long *seen, unsigned long long count,
		      const struct tcps_expr *expr, bool json)
{
	char *line = buf, *nl;

	while ((nl = memchr(line, '\n', *have - (size_t)(line - buf)))) {
		size_t n = (size_t)(nl - line) + 1;

		if (line[0] == '#') {
			if (!strncmp(line, "# dropped ", 10))
				pr_warn("%.*s", (int)(n - 3), line + 2);
		} else if (expr ? tcps_event_print_if(stdout, line, n, expr, json)
				: fwrite(line, 1, n, stdout) == n) {
			if (count && ++*seen >= count)
				return fflush(stdout) == EOF || ferror(stdout) ? write_failed() : TCPS_EXIT_OK;
		}
		line = nl + 1;
	}
	*have -= (size_t)(line - buf);
	memmove(buf, line, *have);
	if (*have == READ_CHUNK)	/* no line is that long */
		*have = 0;
	return -1;
}

/* Copy the stream to stdout (only the lines expr, if any, takes). */
static int events_copy(int fd, const char *path, unsigned long long count,
		       const struct tcps_expr *expr, bool json)
{
	unsigned long long seen = 0;
	char *buf = malloc(READ_CHUNK);
	size_t have = 0;
	int rc;

	if (!buf || setvbuf(stdout, NULL, _IOFBF, READ_CHUNK)) {
		pr_err("out of memory");
		rc = TCPS_EXIT_FAIL;
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, buf + have, READ_CHUNK - have);
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = events_ended(path, r < 0 ? errno : 0);
			goto out;
		}
		have += (size_t)r;
		rc = copy_lines(buf, &have, &seen, count, expr, json);	/* -1: more */
		if (rc >= 0)
			goto out;
		if (ferror(stdout) || (poll(&p, 1, 0) == 0 && fflush(stdout) == EOF)) {
			rc = write_failed();
			goto out;
		}
	}
out:
	close(fd);
	free(buf);
	return rc;
}

static const char events_usage[] =
	"Usage: tcpscope events [--json] [--pin-dir DIR | --socket PATH] [-n COUNT] [FILTER]\n"
	"\n"
	"Print the live transition stream of the running daemon ('tcpscope run'),\n"
	"one line per endpoint state change, as 'run' prints them. Any number of\n"
	"readers may run at once; a reader that cannot keep up loses transitions\n"
	"(it is told how many on stderr), the daemon never waits for it. Exits 4\n"
	"when the daemon closes the stream (stopped or killed), 1 if stdout cannot\n"
	"be written.\n"
	"\n"
	"FILTER is an ss-style expression, as 'tcpscope list' takes (see its --help):\n"
	"state is the state the endpoint enters, src/sport the local (orig) end,\n"
	"e.g.  tcpscope events state time-wait dport = :443\n"
	"\n"
	"Options:\n"
	"  -j, --json         JSON lines (fields in tcpscope(8)), flushed whenever\n"
	"                     nothing more is pending: | jq sees each line at once\n"
	"      --pin-dir DIR  the daemon's pin directory (default /sys/fs/bpf/tcpscope);\n"
	"                     its socket is /run/tcpscope/NAME.sock, NAME being DIR\n"
	"                     below /sys/fs/bpf with '/' as '-'\n"
	"      --socket PATH  the daemon's --event-socket instead\n"
	"  -n, --count N      exit after N transitions\n"
	"  -h, --help         this help\n"
	"\n"
	"Examples:\n"
	"  sudo tcpscope events\n"
	"  sudo tcpscope events --json | jq -c 'select(.to == \"ESTABLISHED\")'\n";

/* What the command line asks for. */
struct events_opts {
	const char *pin_dir, *path;	/* path: --socket, NULL for pin_dir's */
	unsigned long long count;	/* 0: no end */
	bool json;
};

/* The options into o; -1 to go on, else the exit code (usage error, --help). */
static int events_parse_args(int argc, char **argv, struct events_opts *o)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },	     { "pin-dir", required_argument, NULL, 'P' },
		{ "socket", required_argument, NULL, 'S' }, { "count", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },	     {},
	};
	int c;

	optind = 1;
	opterr = 0;	/* one line of our own instead of getopt's */
	while ((c = getopt_long(argc, argv, "jn:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			o->json = true;
			break;
		case 'P':
			if (pin_dir_arg("events", optarg, &o->pin_dir))
				return TCPS_EXIT_USAGE;
			break;
		case 'S':
			o->path = optarg;
			break;
		case 'n':
			if (parse_u64(optarg, 1, ~0ULL, &o->count))
				return usage_err("events", "--count takes a positive number, not '%s'",
						 optarg);
			break;
		case 'h':
			fputs(events_usage, stdout);
			return TCPS_EXIT_OK;
		default:
			return usage_bad_option("events", argv, "jn:h");
		}
	}
	return -1;
}

/* The exit code for a failed tcps_evsock_connect() (err: its -errno), said. */
static int events_connect_failed(const char *path, int err)
{
	if (err == -EACCES || err == -EPERM) {
		pr_err("%s: %s (run as root)", path, strerror(-err));
		return TCPS_EXIT_PERM;
	}
	if (err == -ENOENT || err == -ECONNREFUSED) {
		pr_err("no event socket at %s: is 'tcpscope run' running (with this --pin-dir, or give --socket)?",
		       path);
		return TCPS_EXIT_NOTRUNNING;
	}
	pr_err("%s: %s", path, strerror(-err));
	return TCPS_EXIT_FAIL;
}

int cmd_events(int argc, char **argv)
{
	struct events_opts o = { .pin_dir = TCPS_PIN_DIR_DEFAULT };
	char def[sizeof(ev.path)];
	struct tcps_expr *expr;
	int c, fd;

	c = events_parse_args(argc, argv, &o);	/* -1: run */
	if (c >= 0)
		return c;
	c = tcps_expr_args("events", argc - optind, argv + optind, &expr);
	if (c)
		return c;
	if (!o.path) {
		if (tcps_evsock_default_path(o.pin_dir, def, sizeof(def))) {
			tcps_expr_free(expr);
			return usage_err("events", "--pin-dir too long; give --socket");
		}
		o.path = def;
	}
	/* With fd 1 closed, the socket would become our stdout. */
	if (tcps_stdout_check())
		return TCPS_EXIT_FAIL;
	signal(SIGPIPE, SIG_IGN);
	/* A filter reads JSON, which carries every field it tests. */
	fd = tcps_evsock_connect(o.path, o.json || expr);
	if (fd < 0) {
		tcps_expr_free(expr);
		return events_connect_failed(o.path, fd);
	}
	pr_info("reading transitions from %s", o.path);
	c = events_copy(fd, o.path, o.count, expr, o.json);
	tcps_expr_free(expr);
	return c;
}
