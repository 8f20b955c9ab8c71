// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * HTTP export (--listen [ADDR:]PORT), served by libmicrohttpd in its own
 * thread: /metrics (Prometheus text 0.0.4), /v1/stat and /v1/connections
 * (the JSON of 'stat --json --by-remote' and 'list --json', made by the
 * same functions). The thread only reads: it opens the pins per request
 * and never touches the daemon's state, so it needs no lock.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "exports.h"
#include "output.h"
#include "query.h"

#define CT_JSON "application/json"
#define CT_PROM "text/plain; version=0.0.4; charset=utf-8"
#define CT_TEXT "text/plain; charset=utf-8"

static struct {
	struct MHD_Daemon *mhd;
	const char *pin_dir;
} http;

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status, const char *type,
			     char *body, size_t len, bool owned)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, body,
					    owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (!r) {
		if (owned)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply_str(struct MHD_Connection *conn, unsigned int status,
				 const char *msg)
{
	return reply(conn, status, CT_TEXT, (char *)msg, strlen(msg), false);
}

/* Runs in the MHD thread. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_len, void **con_cls)
{
	enum { EP_METRICS, EP_STAT, EP_CONNS } ep;
	struct tcps_snapshot s;
	char *body = NULL;
	size_t len = 0;
	FILE *f;
	int err;

	(void)cls, (void)version, (void)upload, (void)upload_len, (void)con_cls;
	if (!strcmp(url, "/metrics"))
		ep = EP_METRICS;
	else if (!strcmp(url, "/v1/stat"))
		ep = EP_STAT;
	else if (!strcmp(url, "/v1/connections"))
		ep = EP_CONNS;
	else
		return reply_str(conn, MHD_HTTP_NOT_FOUND,
				 "not found: try /metrics, /v1/stat or /v1/connections\n");
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply_str(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET\n");

	/* Reads are quiet: a failing scrape must not flood the log. */
	err = tcps_query_open(http.pin_dir, &s);
	if (err) {
		/* Removed under the running daemon (rm, or detach --force):
		 * say it, so a scrape error is not taken for a passing glitch. */
		if (access(http.pin_dir, F_OK) && errno == ENOENT)
			return reply_str(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
					 "the pins of this tcpscope are gone (pin directory removed)\n");
		return reply_str(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "cannot read the maps\n");
	}
	f = open_memstream(&body, &len);
	if (!f) {
		tcps_query_close(&s);
		return reply_str(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	}
	switch (ep) {
	case EP_METRICS: {
		struct tcps_metrics *m = malloc(sizeof(*m));

		err = m ? tcps_metrics_read(&s.pins, m) : -ENOMEM;
		if (!err)
			tcps_metrics_write(f, m);
		free(m);
		break;
	}
	case EP_STAT:
		tcps_json_print(f, tcps_stat_json(&s, true, false, false));
		break;
	case EP_CONNS:
		tcps_rows_sort(&s, 0);
		tcps_list_json(f, &s, NULL);
		break;
	}
	tcps_query_close(&s);
	if (fclose(f) || err) {
		free(body);
		return reply_str(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "cannot read the maps\n");
	}
	return reply(conn, MHD_HTTP_OK, ep == EP_METRICS ? CT_PROM : CT_JSON, body, len, true);
}

/* [ADDR:]PORT, ADDR an IPv4 address, [IPv6] or a host name; only a port
 * means loopback (DESIGN §4: exporting is the user's explicit choice). */
int tcps_http_parse_listen(const char *spec, char *host, size_t hlen, char *port, size_t plen)
{
	const char *colon = strrchr(spec, ':');
	const char *p = colon ? colon + 1 : spec;
	unsigned long long v;

	if (parse_u64(p, 1, 65535, &v))
		return -EINVAL;
	snprintf(port, plen, "%llu", v);
	if (!colon) {
		snprintf(host, hlen, "127.0.0.1");
		return 0;
	}
	size_t n = (size_t)(colon - spec);

	if (!n || n >= hlen)
		return -EINVAL;
	if (spec[0] == '[') {
		if (n < 3 || spec[n - 1] != ']')
			return -EINVAL;
		snprintf(host, hlen, "%.*s", (int)n - 2, spec + 1);
	} else {
		snprintf(host, hlen, "%.*s", (int)n, spec);
	}
	return 0;
}

static int listen_socket(const char *spec)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE },
			*res = NULL;
	char host[256], port[8];
	int fd, one = 1, rc;

	if (tcps_http_parse_listen(spec, host, sizeof(host), port, sizeof(port)))
		return -EINVAL;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc || !res)
		return -EADDRNOTAVAIL;
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) || listen(fd, 64)) {
		rc = -errno;
		close(fd);
		goto out;
	}
	rc = fd;
out:
	freeaddrinfo(res);
	return rc;
}

int tcps_http_start(struct tcps_daemon *d)
{
	int fd;

	if (!d->opts->listen)
		return 0;
	fd = listen_socket(d->opts->listen);
	if (fd < 0) {
		if (fd == -EINVAL)
			pr_err("--listen takes [ADDR:]PORT (9717, 0.0.0.0:9717, [::1]:9717), not '%s'",
			       d->opts->listen);
		else
			pr_err("--listen %s: %s", d->opts->listen,
			       fd == -EADDRNOTAVAIL ? "unknown address" : strerror(-fd));
		return fd == -EINVAL ? TCPS_EXIT_USAGE : TCPS_EXIT_FAIL;
	}
	http.pin_dir = d->opts->pin_dir;
	http.mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
					    MHD_USE_AUTO,
				    0, NULL, NULL, on_request, NULL, MHD_OPTION_LISTEN_SOCKET, fd,
				    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)32,
				    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10, MHD_OPTION_END);
	if (!http.mhd) {
		close(fd);
		pr_err("--listen %s: cannot start the HTTP server", d->opts->listen);
		return TCPS_EXIT_FAIL;
	}
	pr_info("HTTP on %s: /metrics /v1/stat /v1/connections", d->opts->listen);
	return 0;
}

void tcps_http_stop(struct tcps_daemon *d)
{
	(void)d;
	if (http.mhd) {
		/* Joins the thread, then closes the listening socket. */
		MHD_stop_daemon(http.mhd);
		http.mhd = NULL;
	}
}
