// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ss(8)-style filter expressions (filter.h): a tokenizer that remembers
 * columns, a recursive-descent parser into a small node array, and an
 * evaluator. Grammar (ss's, lower case keywords):
 *
 *   filter := { ("state" | "exclude") STATE } [ [ "and" ] expr ]
 *   expr   := and { ("or" | "|" | "||") and }
 *   and    := unary { [ "and" | "&" | "&&" ] unary }
 *   unary  := ("not" | "!") unary | "(" expr ")" | cond
 *   cond   := "state" STATE
 *           | ("sport" | "dport") [ OP ] [":"]PORT
 *           | ("src" | "dst") [ "=" | "==" | "!=" ] ADDR[/PLEN][:PORT]
 *   OP     := = == eq != ne neq < lt > gt <= le >= ge
 *
 * Nesting and size are bounded (MAX_NODES, MAX_DEPTH): the HTTP API
 * compiles what any client sends.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"

#define MAX_NODES 256
#define MAX_DEPTH 32
#define ALL_STATES (((1U << TCPS_STATE_MAX) - 1) & ~1U)

enum kind { K_TRUE, K_AND, K_OR, K_NOT, K_STATE, K_PORT, K_ADDR };
enum op { OP_EQ, OP_NE, OP_LT, OP_GT, OP_LE, OP_GE };

struct node {
	enum kind kind;
	int a, b;		/* children (K_AND, K_OR: both; K_NOT: a) */
	__u32 states;		/* K_STATE */
	bool dst;		/* K_PORT, K_ADDR: the remote / resp end */
	enum op op;
	__u16 port;		/* K_PORT; K_ADDR when has_port */
	bool has_port, any_addr;
	__u8 family, addr[16];
	int plen;
};

struct tcps_expr {
	struct node n[MAX_NODES];
	int nn, root;
};

struct tok {
	int start, len;		/* in the text; start is 0-based */
};

struct parser {
	const char *text;
	struct tok *t;
	int nt, i, depth;
	struct tcps_expr *x;
	struct tcps_expr_error *err;
};

static const struct {
	const char *name;
	__u32 mask;
} state_names[] = {
	/* ss's names */
	{ "established", 1U << TCPS_ESTABLISHED },
	{ "estab", 1U << TCPS_ESTABLISHED },
	{ "syn-sent", 1U << TCPS_SYN_SENT },
	{ "syn-recv", 1U << TCPS_SYN_RECV },
	{ "syn-received", 1U << TCPS_SYN_RECV },
	{ "fin-wait-1", 1U << TCPS_FIN_WAIT1 },
	{ "fin-wait1", 1U << TCPS_FIN_WAIT1 },
	{ "fin-wait-2", 1U << TCPS_FIN_WAIT2 },
	{ "fin-wait2", 1U << TCPS_FIN_WAIT2 },
	{ "time-wait", 1U << TCPS_TIME_WAIT },
	{ "closed", 1U << TCPS_CLOSE },
	{ "close", 1U << TCPS_CLOSE },
	{ "close-wait", 1U << TCPS_CLOSE_WAIT },
	{ "last-ack", 1U << TCPS_LAST_ACK },
	{ "listening", 1U << TCPS_LISTEN },
	{ "listen", 1U << TCPS_LISTEN },
	{ "closing", 1U << TCPS_CLOSING },
	/* ss's groups */
	{ "all", ALL_STATES },
	{ "connected", ALL_STATES & ~((1U << TCPS_LISTEN) | (1U << TCPS_CLOSE)) },
	{ "synchronized",
	  ALL_STATES & ~((1U << TCPS_LISTEN) | (1U << TCPS_CLOSE) | (1U << TCPS_SYN_SENT)) },
	{ "bucket", (1U << TCPS_SYN_RECV) | (1U << TCPS_TIME_WAIT) },
	{ "big", ALL_STATES & ~((1U << TCPS_SYN_RECV) | (1U << TCPS_TIME_WAIT)) },
};

__u32 tcps_expr_states(const char *name)
{
	char buf[32];
	size_t i, n = strlen(name);

	if (!n || n >= sizeof(buf))
		return 0;
	for (i = 0; i < n; i++)
		buf[i] = name[i] == '_' ? '-' : (char)tolower((unsigned char)name[i]);
	buf[n] = '\0';
	for (i = 0; i < sizeof(state_names) / sizeof(state_names[0]); i++)
		if (!strcmp(buf, state_names[i].name))
			return state_names[i].mask;
	return 0;
}

/* ---- tokens ---- */

static bool word_char(char c)
{
	return isalnum((unsigned char)c) || strchr("_.:/-[]*%", c);
}

static bool op_char(char c)
{
	return c && strchr("=!<>&|", c);
}

static int tokenize(struct parser *p)
{
	const char *s = p->text;
	int i = 0, n = (int)strlen(s);

	p->t = calloc((size_t)n + 1, sizeof(*p->t));
	if (!p->t)
		return -1;
	while (i < n) {
		int start = i;

		if (isspace((unsigned char)s[i])) {
			i++;
			continue;
		}
		if (s[i] == '(' || s[i] == ')')
			i++;
		else if (op_char(s[i]))
			while (i < n && op_char(s[i]))
				i++;
		else if (word_char(s[i]))
			while (i < n && word_char(s[i]))
				i++;
		else
			i++;	/* one stray character: the parser names it */
		p->t[p->nt].start = start;
		p->t[p->nt].len = i - start;
		p->nt++;
	}
	return 0;
}

static bool at_end(const struct parser *p)
{
	return p->i >= p->nt;
}

/* Does the current token equal word (case-insensitive)? */
static bool is(const struct parser *p, const char *word)
{
	const struct tok *t;

	if (at_end(p))
		return false;
	t = &p->t[p->i];
	return (size_t)t->len == strlen(word) && !strncasecmp(p->text + t->start, word, (size_t)t->len);
}

static void tok_copy(const struct parser *p, int i, char *buf, size_t len)
{
	snprintf(buf, len, "%.*s", p->t[i].len, p->text + p->t[i].start);
}

static int error_at(struct parser *p, int tok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int error_at(struct parser *p, int tok, const char *fmt, ...)
{
	va_list ap;

	if (p->err->msg[0])
		return -1;	/* the first error is the one to show */
	p->err->col = tok < p->nt ? p->t[tok].start + 1 : (int)strlen(p->text) + 1;
	va_start(ap, fmt);
	vsnprintf(p->err->msg, sizeof(p->err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

static int new_node(struct parser *p, enum kind k)
{
	struct node *n;

	if (p->x->nn >= MAX_NODES)
		return error_at(p, p->i, "expression too long (at most %d terms)", MAX_NODES);
	n = &p->x->n[p->x->nn];
	memset(n, 0, sizeof(*n));
	n->kind = k;
	return p->x->nn++;
}

static int binary(struct parser *p, enum kind k, int a, int b)
{
	int n = new_node(p, k);

	if (n < 0)
		return -1;
	p->x->n[n].a = a;
	p->x->n[n].b = b;
	return n;
}

/* ---- values ---- */

static int parse_state_arg(struct parser *p, const char *kw, __u32 *mask)
{
	char name[64];

	p->i++;
	if (at_end(p))
		return error_at(p, p->i, "'%s' needs a state name (established, listening, connected...)", kw);
	tok_copy(p, p->i, name, sizeof(name));
	*mask = tcps_expr_states(name);
	if (!*mask)
		return error_at(p, p->i,
				"unknown state '%s' (ss's names: established syn-sent syn-recv fin-wait-1 fin-wait-2 time-wait closed close-wait last-ack listening closing; groups: all connected synchronized bucket big)",
				name);
	p->i++;
	return 0;
}

static int parse_port(const char *s, __u16 *port)
{
	char *end;
	unsigned long v;

	if (*s == ':')
		s++;
	if (!*s)
		return -1;
	if (isdigit((unsigned char)*s)) {
		v = strtoul(s, &end, 10);
		if (*end || v > 65535)
			return -1;
		*port = (__u16)v;
		return 0;
	}
	{
		struct servent *se = getservbyname(s, "tcp");

		if (!se)
			return -1;
		*port = ntohs((__u16)se->s_port);
	}
	return 0;
}

static bool parse_op(struct parser *p, enum op *op)
{
	static const struct {
		const char *s;
		enum op op;
	} ops[] = {
		{ "=", OP_EQ },	 { "==", OP_EQ }, { "eq", OP_EQ }, { "!=", OP_NE }, { "ne", OP_NE },
		{ "neq", OP_NE }, { "<", OP_LT },  { "lt", OP_LT }, { ">", OP_GT },  { "gt", OP_GT },
		{ "<=", OP_LE }, { "le", OP_LE }, { ">=", OP_GE }, { "ge", OP_GE },
	};
	size_t k;

	for (k = 0; k < sizeof(ops) / sizeof(ops[0]); k++)
		if (is(p, ops[k].s)) {
			*op = ops[k].op;
			p->i++;
			return true;
		}
	return false;
}

static int parse_port_cond(struct parser *p, bool dst)
{
	const char *kw = dst ? "dport" : "sport";
	char val[64];
	int n;

	p->i++;
	n = new_node(p, K_PORT);
	if (n < 0)
		return -1;
	p->x->n[n].dst = dst;
	if (!parse_op(p, &p->x->n[n].op))
		p->x->n[n].op = OP_EQ;
	if (at_end(p))
		return error_at(p, p->i, "'%s' needs a port (%s = :443)", kw, kw);
	if (op_char(p->text[p->t[p->i].start]))
		return error_at(p, p->i, "unknown operator (= != < > <= >=)");
	tok_copy(p, p->i, val, sizeof(val));
	if (parse_port(val, &p->x->n[n].port))
		return error_at(p, p->i, "'%s' is not a port (0-65535, :443 or a service name)", val);
	p->i++;
	return n;
}

/* ADDR[/PLEN][:PORT], [V6ADDR][/PLEN][:PORT], or *[:PORT] / :PORT. */
/* "[addr]", "[addr]:port", "[addr/plen]", "[addr]/plen:port", cut in
 * place: *a, *plen and *port point into buf (NULL: not given). */
static int split_bracketed(char *buf, char **a, char **plen, char **port)
{
	char *close = strchr(buf, ']');

	if (!close)
		return -1;
	*close = '\0';
	*a = buf + 1;
	if ((*plen = strchr(*a, '/')))
		*(*plen)++ = '\0';
	if (close[1] == '/' && !*plen) {
		*plen = close + 2;
		if ((*port = strchr(*plen, ':')))
			*(*port)++ = '\0';
	} else if (close[1] == ':') {
		*port = close + 2;
	} else if (close[1]) {
		return -1;
	}
	return 0;
}

/* "addr", "addr/plen", "addr:port", "addr/plen:port", cut in place; an
 * unbracketed IPv6 address takes no port: "2001:db8::/32". */
static void split_plain(char *buf, char **plen, char **port)
{
	struct in6_addr tmp;
	char *colon, *slash;

	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET6, buf, &tmp) != 1) {
		if (slash)
			*slash = '/';
		colon = strrchr(buf, ':');
		if (colon) {
			*colon = '\0';
			*port = colon + 1;
		}
		slash = strchr(buf, '/');
		if (slash)
			*slash = '\0';
	}
	if (slash)
		*plen = slash + 1;
}

/* The address a into n ("" or "*": any, which needs a port and takes no
 * prefix length). */
static int set_addr(struct node *n, const char *a, bool has_plen, bool has_port)
{
	n->any_addr = !*a || !strcmp(a, "*");
	if (n->any_addr)
		return has_plen || !has_port ? -1 : 0;
	if (inet_pton(AF_INET, a, n->addr) == 1)
		n->family = TCPS_AF_INET;
	else if (inet_pton(AF_INET6, a, n->addr) == 1)
		n->family = TCPS_AF_INET6;
	else
		return -1;
	return 0;
}

static int parse_addr(const char *s, struct node *n)
{
	char buf[80], *a = buf, *plen = NULL, *port = NULL;
	int max;

	if (strlen(s) >= sizeof(buf))
		return -1;
	snprintf(buf, sizeof(buf), "%s", s);
	if (buf[0] == '[') {
		if (split_bracketed(buf, &a, &plen, &port))
			return -1;
	} else {
		split_plain(buf, &plen, &port);
	}
	if (set_addr(n, a, plen, port))
		return -1;
	max = n->family == TCPS_AF_INET ? 32 : 128;
	n->plen = max;
	if (plen) {
		char *end;
		long v = strtol(plen, &end, 10);

		if (!*plen || *end || v < 0 || v > max)
			return -1;
		n->plen = (int)v;
	}
	if (port) {
		if (!strcmp(port, "*"))
			return n->any_addr ? -1 : 0;
		if (parse_port(port, &n->port))
			return -1;
		n->has_port = true;
	}
	return 0;
}

static int parse_addr_cond(struct parser *p, bool dst)
{
	const char *kw = dst ? "dst" : "src";
	char val[96];
	enum op op = OP_EQ;
	int n, not;

	int at;

	p->i++;
	at = p->i;
	if (parse_op(p, &op) ? op != OP_EQ && op != OP_NE
			     : !at_end(p) && op_char(p->text[p->t[p->i].start]))
		return error_at(p, at, "'%s' takes = or != (addresses are not ordered)", kw);
	if (at_end(p))
		return error_at(p, p->i, "'%s' needs an address or CIDR (%s 198.18.0.0/15)", kw, kw);
	tok_copy(p, p->i, val, sizeof(val));
	n = new_node(p, K_ADDR);
	if (n < 0)
		return -1;
	p->x->n[n].dst = dst;
	if (parse_addr(val, &p->x->n[n]))
		return error_at(p, p->i,
				"'%s' is not an address (198.18.0.1, 198.18.0.0/15, 198.18.0.1:80, [2001:db8::1]:443, 2001:db8::/32)",
				val);
	p->i++;
	if (op != OP_NE)
		return n;
	not = new_node(p, K_NOT);
	if (not < 0)
		return -1;
	p->x->n[not].a = n;
	return not;
}

/* ---- grammar ---- */

static int parse_or(struct parser *p);

static int parse_unary(struct parser *p);

/* parse(p) one level deeper: "nested too deep" at token at past
 * MAX_DEPTH levels of "not" and "(". */
static int parse_nested(struct parser *p, int at, int (*parse)(struct parser *))
{
	int a;

	if (++p->depth > MAX_DEPTH)
		return error_at(p, at, "nested too deep");
	a = parse(p);
	p->depth--;
	return a;
}

/* ("not" | "!") unary, p at the "not". */
static int parse_not(struct parser *p)
{
	int n, a;

	p->i++;
	a = parse_nested(p, p->i, parse_unary);
	if (a < 0)
		return -1;
	n = new_node(p, K_NOT);
	if (n >= 0)
		p->x->n[n].a = a;
	return n;
}

/* "(" expr ")", p at the "(". */
static int parse_group(struct parser *p)
{
	int open = p->i++, a;

	a = parse_nested(p, open, parse_or);
	if (a < 0)
		return -1;
	/* parse_or stops only at the end or at a ')'. */
	if (at_end(p))
		return error_at(p, open, "'(' is never closed");
	p->i++;
	return a;
}

/* "state" STATE, p at the "state". */
static int parse_state_cond(struct parser *p)
{
	__u32 mask;
	int n;

	if (parse_state_arg(p, "state", &mask))
		return -1;
	n = new_node(p, K_STATE);
	if (n >= 0)
		p->x->n[n].states = mask;
	return n;
}

/* The error for a token that starts no unary. */
static int bad_unary(struct parser *p)
{
	char word[64];

	tok_copy(p, p->i, word, sizeof(word));
	if (is(p, ")"))
		return error_at(p, p->i, "unexpected ')'");
	if (is(p, "exclude"))
		return error_at(p, p->i, "'exclude' goes before the expression, with the 'state' clauses");
	return error_at(p, p->i, "unknown keyword '%s' (state, sport, dport, src, dst, and, or, not, parentheses)",
			word);
}

static int parse_unary(struct parser *p)
{
	if (at_end(p))
		return error_at(p, p->i, "expression ends too early");
	if (is(p, "not") || is(p, "!"))
		return parse_not(p);
	if (is(p, "("))
		return parse_group(p);
	if (is(p, "state"))
		return parse_state_cond(p);
	if (is(p, "sport") || is(p, "dport"))
		return parse_port_cond(p, is(p, "dport"));
	if (is(p, "src") || is(p, "dst"))
		return parse_addr_cond(p, is(p, "dst"));
	return bad_unary(p);
}

static bool starts_unary(const struct parser *p)
{
	return !at_end(p) && !is(p, ")") && !is(p, "or") && !is(p, "|") && !is(p, "||");
}

static int parse_and(struct parser *p)
{
	int l = parse_unary(p), r;

	while (l >= 0) {
		if (is(p, "and") || is(p, "&") || is(p, "&&")) {
			p->i++;
			if (at_end(p))
				return error_at(p, p->i, "'and' needs something after it");
		} else if (!starts_unary(p)) {
			break;
		}
		r = parse_unary(p);
		if (r < 0)
			return -1;
		l = binary(p, K_AND, l, r);
	}
	return l;
}

static int parse_or(struct parser *p)
{
	int l = parse_and(p), r;

	while (l >= 0 && (is(p, "or") || is(p, "|") || is(p, "||"))) {
		p->i++;
		if (at_end(p))
			return error_at(p, p->i, "'or' needs something after it");
		r = parse_and(p);
		if (r < 0)
			return -1;
		l = binary(p, K_OR, l, r);
	}
	return l;
}

/* ss's state filter: the leading "state" and "exclude" clauses, united
 * (exclude removes), as one K_STATE node *root (left -1 if none), and the
 * "and" that may follow them; 0, or -1 on error. */
static int parse_state_clauses(struct parser *p, int *root)
{
	__u32 mask = 0;
	bool any_state = false;

	while (is(p, "state") || is(p, "exclude")) {
		bool excl = is(p, "exclude");
		__u32 m;

		if (parse_state_arg(p, excl ? "exclude" : "state", &m))
			return -1;
		if (excl)
			mask = (any_state ? mask : ALL_STATES) & ~m;
		else
			mask |= m;
		any_state = true;
	}
	if (!any_state)
		return 0;
	*root = new_node(p, K_STATE);
	if (*root < 0)
		return -1;
	p->x->n[*root].states = mask;
	/* "state established and dport = :443" reads naturally too. */
	if (is(p, "and") || is(p, "&") || is(p, "&&")) {
		p->i++;
		if (at_end(p))
			return error_at(p, p->i, "'and' needs something after it");
	}
	return 0;
}

/* The expression after the state clauses, to the end of the text, ANDed
 * with their node root (-1: none); the node of the whole, or -1. */
static int parse_expr_rest(struct parser *p, int root)
{
	int e = parse_or(p);

	if (e < 0)
		return -1;
	/* parse_or stops only at the end or at a ')'. */
	if (!at_end(p))
		return error_at(p, p->i, "unexpected ')'");
	return root < 0 ? e : binary(p, K_AND, root, e);
}

struct tcps_expr *tcps_expr_compile(const char *text, struct tcps_expr_error *err)
{
	struct parser p = { .text = text ? text : "", .err = err };
	int root = -1;

	memset(err, 0, sizeof(*err));
	p.x = calloc(1, sizeof(*p.x));
	if (!p.x || tokenize(&p)) {
		snprintf(err->msg, sizeof(err->msg), "out of memory");
		err->col = 1;
		goto fail;
	}
	if (parse_state_clauses(&p, &root))
		goto fail;
	if (!at_end(&p)) {
		root = parse_expr_rest(&p, root);
		if (root < 0)
			goto fail;
	}
	if (root < 0)
		root = new_node(&p, K_TRUE);
	p.x->root = root;
	free(p.t);
	return p.x;
fail:
	free(p.t);
	free(p.x);
	return NULL;
}

static bool prefix_match(const __u8 *a, const __u8 *pfx, int plen)
{
	int full = plen / 8, rest = plen % 8;

	if (memcmp(a, pfx, (size_t)full))
		return false;
	return !rest || !((a[full] ^ pfx[full]) & (0xff << (8 - rest)));
}

static bool cmp(enum op op, unsigned int a, unsigned int b)
{
	switch (op) {
	case OP_EQ: return a == b;
	case OP_NE: return a != b;
	case OP_LT: return a < b;
	case OP_GT: return a > b;
	case OP_LE: return a <= b;
	case OP_GE: return a >= b;
	}
	return false;
}

static bool eval(const struct tcps_expr *x, int i, const struct tcps_subject *s)
{
	const struct node *n = &x->n[i];

	switch (n->kind) {
	case K_TRUE:
		return true;
	case K_AND:
		return eval(x, n->a, s) && eval(x, n->b, s);
	case K_OR:
		return eval(x, n->a, s) || eval(x, n->b, s);
	case K_NOT:
		return !eval(x, n->a, s);
	case K_STATE:
		return s->state < TCPS_STATE_MAX && (n->states & (1U << s->state));
	case K_PORT:
		return cmp(n->op, n->dst ? s->dport : s->sport, n->port);
	case K_ADDR:
		if (n->has_port && (n->dst ? s->dport : s->sport) != n->port)
			return false;
		if (n->any_addr)
			return true;
		return s->family == n->family && prefix_match(n->dst ? s->dst : s->src, n->addr, n->plen);
	}
	return false;
}

bool tcps_expr_eval(const struct tcps_expr *x, const struct tcps_subject *s)
{
	return !x || eval(x, x->root, s);
}

void tcps_expr_free(struct tcps_expr *x)
{
	free(x);
}

char *tcps_expr_join(int argc, char *const *argv)
{
	size_t len = 1, off = 0;
	char *s;
	int i;

	for (i = 0; i < argc; i++)
		len += strlen(argv[i]) + 1;
	s = malloc(len);
	if (!s)
		return NULL;
	s[0] = '\0';
	for (i = 0; i < argc; i++)
		off += (size_t)snprintf(s + off, len - off, "%s%s", i ? " " : "", argv[i]);
	return s;
}

void tcps_expr_caret(FILE *f, const char *text, const struct tcps_expr_error *err)
{
	int col = err->col > 0 ? err->col : 1;

	fprintf(f, "  %s\n  %*s^\n", text, col - 1, "");
}
