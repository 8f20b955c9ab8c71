// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * HTTP export (--listen [ADDR:]PORT), served by libmicrohttpd in its own
 * thread: /metrics (Prometheus text 0.0.4), /v1/stat and /v1/connections
 * (the JSON of 'stat --json --by-remote' and 'list --json', made by the
 * same functions; /v1/connections takes list's filters as query
 * parameters, plus limit), and an index at /. Bodies are gzip'ed when the
 * client accepts it. The thread only reads: it opens the pins per request
 * and never touches the daemon's state, so it needs no lock.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include "exports.h"
#include "lazylib.h"
#include "filter.h"
#include "output.h"
#include "query.h"

#define CT_JSON "application/json"
#define CT_PROM "text/plain; version=0.0.4; charset=utf-8"
#define CT_TEXT "text/plain; charset=utf-8"
#define CT_HTML "text/html; charset=utf-8"

static const char index_html[] =
	"<!DOCTYPE html>\n<html><head><title>tcpscope</title></head><body>\n"
	"<h1>tcpscope</h1>\n<ul>\n"
	"<li><a href=\"/metrics\">/metrics</a>: Prometheus text format 0.0.4</li>\n"
	"<li><a href=\"/v1/stat\">/v1/stat</a>: connections per state and per remote address"
	" (JSON, as <code>tcpscope stat --json --by-remote</code>)</li>\n"
	"<li><a href=\"/v1/connections\">/v1/connections</a>: one object per connection"
	" (JSON, as <code>tcpscope list --json</code>); parameters: state=S[,S], port=P,"
	" addr=CIDR, family=4|6, sort=KEY, limit=N, filter=EXPR (ss-style, as"
	" <code>tcpscope list</code> takes), e.g."
	" <a href=\"/v1/connections?state=LISTEN\">?state=LISTEN</a></li>\n"
	"</ul>\n<p>Responses are gzip'ed for clients that send Accept-Encoding: gzip.</p>\n"
	"</body></html>\n";

static struct {
	struct MHD_Daemon *mhd;
	const char *pin_dir;
} http;

/* Does the client take gzip (RFC 9110 §12.5.3: "gzip" or "x-gzip" listed,
 * without q=0)? */
static bool accepts_gzip(struct MHD_Connection *conn)
{
	const char *ae = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_ACCEPT_ENCODING);
	char buf[256], *tok, *save = NULL;

	if (!ae || strlen(ae) >= sizeof(buf))
		return false;
	snprintf(buf, sizeof(buf), "%s", ae);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *semi = strchr(tok, ';'), *q;
		size_t n;

		while (*tok == ' ' || *tok == '\t')
			tok++;
		n = semi ? (size_t)(semi - tok) : strlen(tok);
		while (n && (tok[n - 1] == ' ' || tok[n - 1] == '\t'))
			n--;
		if (!((n == 4 && !strncasecmp(tok, "gzip", 4)) ||
		      (n == 6 && !strncasecmp(tok, "x-gzip", 6))))
			continue;
		q = semi ? strstr(semi, "q=") : NULL;
		return !q || strtod(q + 2, NULL) > 0;
	}
	return false;
}

/* gzip (zlib, RFC 1952) of len bytes; malloc'ed, NULL on failure. */
static char *gzip_body(const char *body, size_t len, size_t *out_len)
{
	z_stream z = { 0 };
	size_t cap;
	char *out;

	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return NULL;
	cap = deflateBound(&z, (uLong)len);
	out = malloc(cap);
	if (!out) {
		deflateEnd(&z);
		return NULL;
	}
	z.next_in = (Bytef *)body;
	z.avail_in = (uInt)len;
	z.next_out = (Bytef *)out;
	z.avail_out = (uInt)cap;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
		deflateEnd(&z);
		free(out);
		return NULL;
	}
	*out_len = z.total_out;
	deflateEnd(&z);
	return out;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status, const char *type,
			     char *body, size_t len, bool owned)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	bool gz = false;

	/* Small bodies are not worth it; uInt bounds what zlib takes at once. */
	if (len > 256 && len < (1UL << 31) && accepts_gzip(conn)) {
		size_t zlen;
		char *z = gzip_body(body, len, &zlen);

		if (z) {
			if (owned)
				free(body);
			body = z, len = zlen, owned = true, gz = true;
		}
	}
	r = MHD_create_response_from_buffer(len, body,
					    owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (!r) {
		if (owned)
			free(body);
		return MHD_NO;
	}
	if (gz)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
	MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, MHD_HTTP_HEADER_ACCEPT_ENCODING);
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

/* A 400 with a message of our own (malloc'ed copy). */
static enum MHD_Result reply_bad(struct MHD_Connection *conn, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static enum MHD_Result reply_bad(struct MHD_Connection *conn, const char *fmt, ...)
{
	char *msg = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		return reply_str(conn, MHD_HTTP_BAD_REQUEST, "bad request\n");
	return reply(conn, MHD_HTTP_BAD_REQUEST, CT_TEXT, msg, (size_t)n, true);
}

/* /v1/connections' parameters: list's filters (state, port, addr, family,
 * filter), sort and limit. */
struct conn_query {
	struct tcps_filter f;
	struct cidr *cidr;
	struct tcps_expr *expr;
	int sort;
};

static void conn_query_free(struct conn_query *q)
{
	free(q->cidr);
	tcps_expr_free(q->expr);
}

/* Which connections: state, port, addr, family. false after replying 400
 * (*r: the reply's result). */
static bool conn_query_select(struct MHD_Connection *conn, struct conn_query *q,
			      enum MHD_Result *r)
{
	const char *v;
	unsigned long long n;

	v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "state");
	if (v && tcps_filter_states(v, &q->f.states)) {
		*r = reply_bad(conn, "state: unknown state in '%s' (netstat names: ESTABLISHED, LISTEN, ...)\n", v);
		return false;
	}
	v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "port");
	if (v) {
		if (parse_u64(v, 0, 65535, &n)) {
			*r = reply_bad(conn, "port takes 0-65535, not '%s'\n", v);
			return false;
		}
		q->f.port = (int)n;
	}
	v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "addr");
	if (v) {
		q->cidr = tcps_cidr_parse(v);
		if (!q->cidr) {
			*r = reply_bad(conn, "addr takes an address or CIDR, not '%s'\n", v);
			return false;
		}
		q->f.cidr = q->cidr;
		q->f.has_cidr = true;
	}
	v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "family");
	if (v) {
		if (!strcmp(v, "4") || !strcmp(v, "ipv4"))
			q->f.family = TCPS_AF_INET;
		else if (!strcmp(v, "6") || !strcmp(v, "ipv6"))
			q->f.family = TCPS_AF_INET6;
		else {
			*r = reply_bad(conn, "family takes 4 or 6, not '%s'\n", v);
			return false;
		}
	}
	return true;
}

/* How many, in which order, and the ss-style filter: sort, limit, filter.
 * false after replying 400 (*r: the reply's result). */
static bool conn_query_view(struct MHD_Connection *conn, struct conn_query *q,
			    enum MHD_Result *r)
{
	const char *v;
	unsigned long long n;

	v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "sort");
	if (v && (q->sort = tcps_sort_parse(v)) < 0) {
		*r = reply_bad(conn, "sort takes %s, not '%s'\n", tcps_sort_keys, v);
		return false;
	}
	v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "limit");
	if (v) {
		if (parse_u64(v, 1, ~0ULL >> 1, &n)) {
			*r = reply_bad(conn, "limit takes a positive number, not '%s'\n", v);
			return false;
		}
		q->f.limit = (size_t)n;
	}
	v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "filter");
	if (v) {
		struct tcps_expr_error e;

		q->expr = tcps_expr_compile(v, &e);
		if (!q->expr) {
			*r = reply_bad(conn, "filter: bad filter at column %d: %s\n  %s\n  %*s^\n",
				       e.col, e.msg, v, e.col > 0 ? e.col - 1 : 0, "");
			return false;
		}
		q->f.expr = q->expr;
	}
	return true;
}

static enum MHD_Result conn_query_parse(struct MHD_Connection *conn, struct conn_query *q,
					bool *ok)
{
	enum MHD_Result r = MHD_NO;

	memset(q, 0, sizeof(*q));
	q->f.port = -1;
	*ok = false;
	if (!conn_query_select(conn, q, &r) || !conn_query_view(conn, q, &r))
		return r;
	*ok = true;
	return MHD_YES;
}

/* Runs in the MHD thread. */
enum endpoint { EP_NONE = -1, EP_METRICS, EP_STAT, EP_CONNS };

static enum endpoint endpoint_of(const char *url)
{
	if (!strcmp(url, "/metrics"))
		return EP_METRICS;
	if (!strcmp(url, "/v1/stat"))
		return EP_STAT;
	if (!strcmp(url, "/v1/connections"))
		return EP_CONNS;
	return EP_NONE;
}

static bool is_get(const char *method)
{
	return !strcmp(method, MHD_HTTP_METHOD_GET) || !strcmp(method, MHD_HTTP_METHOD_HEAD);
}

/* The reply when the maps cannot be opened. */
static enum MHD_Result reply_unreadable(struct MHD_Connection *conn)
{
	/* Removed under the running daemon (rm, or detach --force): say it,
	 * so a scrape error is not taken for a passing glitch. */
	if (access(http.pin_dir, F_OK) && errno == ENOENT)
		return reply_str(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
				 "the pins of this tcpscope are gone (pin directory removed)\n");
	return reply_str(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "cannot read the maps\n");
}

/* The body of endpoint ep from snapshot s into f; 0 or -errno. */
static int write_body(FILE *f, enum endpoint ep, struct tcps_snapshot *s,
		      const struct conn_query *q)
{
	struct tcps_metrics *m;
	int err = 0;

	switch (ep) {
	case EP_METRICS:
		m = malloc(sizeof(*m));
		err = m ? tcps_metrics_read(&s->pins, m) : -ENOMEM;
		if (!err)
			tcps_metrics_write(f, m);
		free(m);
		break;
	case EP_STAT:
		tcps_json_print(f, tcps_stat_json(s, true, false, false));
		break;
	case EP_CONNS:
		tcps_rows_sort(s, q->sort);
		tcps_list_json(f, s, &q->f);
		break;
	case EP_NONE:
		break;
	}
	return err;
}

/* The answer to a GET of ep (q its parsed query, freed here): the maps
 * read into a body. */
static enum MHD_Result reply_maps(struct MHD_Connection *conn, enum endpoint ep,
				  struct conn_query *q)
{
	struct tcps_snapshot s;
	char *body = NULL;
	size_t len = 0;
	FILE *f;
	int err;

	/* Reads are quiet: a failing scrape must not flood the log. */
	err = tcps_query_open(http.pin_dir, &s);
	if (err) {
		conn_query_free(q);
		return reply_unreadable(conn);
	}
	f = open_memstream(&body, &len);
	if (!f) {
		tcps_query_close(&s);
		conn_query_free(q);
		return reply_str(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	}
	err = write_body(f, ep, &s, q);
	tcps_query_close(&s);
	conn_query_free(q);
	if (fclose(f) || err) {
		free(body);
		return reply_str(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "cannot read the maps\n");
	}
	return reply(conn, MHD_HTTP_OK, ep == EP_METRICS ? CT_PROM : CT_JSON, body, len, true);
}

/* Routing: the URL, the method and the query are checked here, the maps
 * read by reply_maps. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_len, void **con_cls)
{
	struct conn_query q = { .sort = 0 };
	enum endpoint ep;

	(void)cls, (void)version, (void)upload, (void)upload_len, (void)con_cls;
	ep = endpoint_of(url);
	if (ep == EP_NONE && strcmp(url, "/"))
		return reply_str(conn, MHD_HTTP_NOT_FOUND,
				 "not found: try /, /metrics, /v1/stat or /v1/connections\n");
	if (!is_get(method))
		return reply_str(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET\n");
	if (ep == EP_NONE)	/* "/" */
		return reply(conn, MHD_HTTP_OK, CT_HTML, (char *)index_html, sizeof(index_html) - 1,
			     false);
	if (ep == EP_CONNS) {
		bool ok;
		enum MHD_Result ret = conn_query_parse(conn, &q, &ok);

		if (!ok) {
			conn_query_free(&q);
			return ret;
		}
	}
	return reply_maps(conn, ep, &q);
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
		/* An IPv6 address needs its brackets: "::1:9717" is ambiguous. */
		if (memchr(spec, ':', n))
			return -EINVAL;
		snprintf(host, hlen, "%.*s", (int)n, spec);
	}
	return 0;
}

/* The listening socket, or -errno with why (a message) filled in. */
static int listen_socket(const char *spec, char *why, size_t wlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE },
			*res = NULL;
	char host[256], port[8];
	int fd, one = 1, rc;

	if (tcps_http_parse_listen(spec, host, sizeof(host), port, sizeof(port)))
		return -EINVAL;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc || !res) {
		snprintf(why, wlen, "cannot resolve '%s' (%s)", host, rc ? gai_strerror(rc) : "no address");
		return -EADDRNOTAVAIL;
	}
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
	if (rc == -EADDRNOTAVAIL)
		snprintf(why, wlen, "%s is not an address of this host (in this network namespace)", host);
	else if (rc < 0)
		snprintf(why, wlen, "%s", strerror(-rc));
	return rc;
}

int tcps_http_start(struct tcps_daemon *d)
{
	char why[320];
	int fd;

	if (!d->opts->listen)
		return 0;
	fd = listen_socket(d->opts->listen, why, sizeof(why));
	if (fd < 0) {
		if (fd == -EINVAL)
			pr_err("--listen takes [ADDR:]PORT (9717, 0.0.0.0:9717, [::1]:9717), not '%s'",
			       d->opts->listen);
		else
			pr_err("--listen %s: %s", d->opts->listen, why);
		return fd == -EINVAL ? TCPS_EXIT_USAGE : TCPS_EXIT_FAIL;
	}
	http.pin_dir = d->opts->pin_dir;
	if (tcps_mhd_load()) {
		close(fd);
		return TCPS_EXIT_FAIL;
	}
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
	pr_info("HTTP on %s: / /metrics /v1/stat /v1/connections", d->opts->listen);
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
