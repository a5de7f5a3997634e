/*
 * http.c: a minimal HTTP/1.1 client over the project's streams, and the
 * loopback listener of the browser flow (http.h).
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "popfetch/crypto.h"
#include "popfetch/conn.h"
#include "popfetch/http.h"
#include "popfetch/log.h"
#include "popfetch/sys.h"
#include "popfetch/xmalloc.h"
#include "compat.h"

/* Interim (1xx) replies skipped before giving up on a server. */
#define HTTP_MAX_INTERIM 8

long long
http_deadline(int timeout_ms)
{
	return sys_now_ms() + timeout_ms;
}

int
http_ms_left(long long deadline_ms)
{
	long long left = deadline_ms - http_deadline(0);

	if (left <= 0)
		return 0;
	return left > INT_MAX ? INT_MAX : (int)left;
}

/* Case-insensitive ASCII comparison of n bytes, without locales. */
static bool
http_ascii_ieq(const char *a, const char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char x = a[i], y = b[i];

		if (x >= 'A' && x <= 'Z')
			x = (char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (char)(y - 'A' + 'a');
		if (x != y)
			return false;
	}
	return true;
}

/* Host names as RFC 3986 reg-name, restricted to what DNS can hold. */
static bool
http_host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

/* The part after "scheme://": host, port and path into out. */
static int
http_url_rest(
    const char *url, const char *p, struct http_url *out, struct pf_err *err)
{
	const char *h, *hend, *end;
	size_t n;

	if (*p == '[') {
		h = p + 1;
		if ((hend = strchr(h, ']')) == NULL)
			return pf_err_set(err, PF_ECONFIG,
			    "invalid URL '%s': unclosed '['", url);
		p = hend + 1;
		out->ipv6 = true;
	} else {
		h = p;
		while (http_host_char(*p))
			p++;
		hend = p;
	}
	n = (size_t)(hend - h);
	if (n == 0 || n > HTTP_URL_HOST_MAX)
		return pf_err_set(err, PF_ECONFIG,
		    "invalid URL '%s': %s host name", url,
		    n == 0 ? "no" : "too long a");
	memcpy(out->host, h, n);
	out->host[n] = '\0';
	if (out->ipv6) {
		struct in6_addr a6;

		if (inet_pton(AF_INET6, out->host, &a6) != 1)
			return pf_err_set(err, PF_ECONFIG,
			    "invalid URL '%s': bad IPv6 address", url);
	}
	if (*p == '@')
		return pf_err_set(err, PF_ECONFIG,
		    "invalid URL '%s': user names in URLs are not supported",
		    url);
	if (*p == ':') {
		unsigned long port = 0;

		for (p++, n = 0; *p >= '0' && *p <= '9'; p++, n++)
			if (n < 6)
				port = port * 10 + (unsigned long)(*p - '0');
		if (n > 0 && (n > 5 || port == 0 || port > 65535))
			return pf_err_set(
			    err, PF_ECONFIG, "invalid URL '%s': bad port", url);
		if (n > 0) {
			snprintf(out->port, sizeof(out->port), "%lu", port);
			out->default_port = false;
		}
	}
	if (*p != '\0' && *p != '/' && *p != '?' && *p != '#')
		return pf_err_set(err, PF_ECONFIG,
		    "invalid URL '%s': unexpected character after the host",
		    url);
	end = p + strcspn(p, "#");
	for (h = p; h < end; h++)
		if ((unsigned char)*h <= 0x20 || (unsigned char)*h >= 0x7f)
			return pf_err_set(err, PF_ECONFIG,
			    "invalid URL '%s': space, control or non-ASCII "
			    "character in the path",
			    url);
	n = (size_t)(end - p);
	if (n + 1 > HTTP_URL_PATH_MAX)
		return pf_err_set(
		    err, PF_ECONFIG, "invalid URL '%s': path too long", url);
	n = 0;
	if (*p != '/')
		out->path[n++] = '/';
	memcpy(out->path + n, p, (size_t)(end - p));
	out->path[n + (size_t)(end - p)] = '\0';
	return 0;
}

int
http_url_parse(const char *url, struct http_url *out, struct pf_err *err)
{
	const char *p;

	memset(out, 0, sizeof(*out));
	out->default_port = true;
	if (strlen(url) > HTTP_URL_PATH_MAX + HTTP_URL_HOST_MAX + 16)
		return pf_err_set(err, PF_ECONFIG, "invalid URL: too long");
	if (strlen(url) >= 8 && http_ascii_ieq(url, "https://", 8)) {
		out->tls = true;
		strlcpy(out->port, "443", sizeof(out->port));
		p = url + 8;
	} else if (strlen(url) >= 7 && http_ascii_ieq(url, "http://", 7)) {
		strlcpy(out->port, "80", sizeof(out->port));
		p = url + 7;
	} else {
		char safe[PF_SERVER_TEXT_MAX + 8];

		pf_sanitize(safe, sizeof(safe), url, strlen(url));
		return pf_err_set(err, PF_ECONFIG,
		    "invalid URL '%s': not http:// or https://", safe);
	}
	for (const char *q = url; *q != '\0'; q++)
		if ((unsigned char)*q < 0x20 || (unsigned char)*q >= 0x7f)
			return pf_err_set(err, PF_ECONFIG,
			    "invalid URL: control or non-ASCII character");
	return http_url_rest(url, p, out, err);
}

/* Grow f so that n more bytes and a NUL fit; the old copy is wiped. */
static void
http_form_reserve(struct http_form *f, size_t n)
{
	xgrow_secret(&f->buf, &f->cap, f->len, f->len + n + 1, 256);
	f->buf[f->len] = '\0';
}

/* Append n raw bytes to f. */
static void
http_form_raw(struct http_form *f, const char *p, size_t n)
{
	http_form_reserve(f, n);
	memcpy(f->buf + f->len, p, n);
	f->len += n;
	f->buf[f->len] = '\0';
}

/* Percent-encode s onto f: RFC 3986 unreserved characters stay. */
static void
http_form_encode(struct http_form *f, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		http_form_reserve(f, 3);
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' ||
		    *p == '_' || *p == '~') {
			f->buf[f->len++] = (char)*p;
		} else {
			f->buf[f->len++] = '%';
			f->buf[f->len++] = hex[*p >> 4];
			f->buf[f->len++] = hex[*p & 15];
		}
	}
	http_form_reserve(f, 0);
	f->buf[f->len] = '\0';
}

void
http_form_add(struct http_form *f, const char *name, const char *value)
{
	if (f->len > 0) {
		http_form_reserve(f, 1);
		f->buf[f->len++] = '&';
	}
	http_form_encode(f, name);
	http_form_reserve(f, 1);
	f->buf[f->len++] = '=';
	http_form_encode(f, value);
}

const char *
http_form_text(const struct http_form *f)
{
	return f->buf != NULL ? f->buf : "";
}

void
http_form_free(struct http_form *f)
{
	if (f->buf != NULL) {
		explicit_bzero(f->buf, f->cap);
		free(f->buf);
	}
	f->buf = NULL;
	f->len = f->cap = 0;
}

int
http_query_param(const char *query, const char *name, char *out, size_t outsz)
{
	char key[256];
	const char *p = query, *amp, *eq;
	int found = 0;

	while (*p != '\0') {
		size_t n;

		amp = p + strcspn(p, "&");
		eq = memchr(p, '=', (size_t)(amp - p));
		n = (size_t)((eq != NULL ? eq : amp) - p);
		if (n > 0 && n < sizeof(key)) {
			if (crypto_pct_decode(p, n, true, key, sizeof(key)) ==
			    -1)
				return -1;
			if (strcmp(key, name) == 0) {
				const char *v = eq != NULL ? eq + 1 : amp;

				if (found)
					return -1;
				if (crypto_pct_decode(v, (size_t)(amp - v),
					true, out, outsz) == -1)
					return -1;
				found = 1;
			}
		}
		p = *amp == '&' ? amp + 1 : amp;
	}
	return found;
}

/* A decoded body under construction: bounded, wiped when it moves. */
struct http_body {
	char *buf;
	size_t len, cap, max;
};

/* Append n bytes, or fail when the body would pass its limit. */
static int
http_body_add(struct http_body *b, const char *p, size_t n, struct pf_err *err)
{
	if (n > b->max - b->len)
		return pf_err_set(
		    err, PF_EPROTO, "reply body longer than %zu bytes", b->max);
	xgrow_secret(&b->buf, &b->cap, b->len, b->len + n + 1, 1024);
	memcpy(b->buf + b->len, p, n);
	b->len += n;
	b->buf[b->len] = '\0';
	return 0;
}

void
http_response_free(struct http_response *rs)
{
	if (rs->body != NULL) {
		explicit_bzero(rs->body, rs->body_len);
		free(rs->body);
	}
	memset(rs, 0, sizeof(*rs));
}

/* Fill in the defaults of zero limits. */
static struct http_limits
http_limits_of(const struct http_limits *lim)
{
	struct http_limits l = {0, 0, 0, 0};

	if (lim != NULL)
		l = *lim;
	if (l.max_line == 0)
		l.max_line = HTTP_MAX_LINE;
	if (l.max_headers == 0)
		l.max_headers = HTTP_MAX_HEADERS;
	if (l.max_header_bytes == 0)
		l.max_header_bytes = HTTP_MAX_HEADER_BYTES;
	if (l.max_body == 0)
		l.max_body = HTTP_MAX_BODY;
	return l;
}

/* One line from lb; EOF before it is a temporary failure. */
static int
http_getline(struct lbuf *lb, struct stream *s, char **line, size_t *len,
    const char *what, struct pf_err *err)
{
	int r = lbuf_getline(lb, s, line, len, err);

	if (r == 0)
		return pf_err_set(err, PF_ETEMP,
		    "connection closed by the server before the %s", what);
	if (r < 0) {
		if (err != NULL && err->code == PF_EPROTO)
			pf_err_prefix(err, "bad %s", what);
		return -1;
	}
	return 0;
}

/* "HTTP/1.x NNN reason": the status code and the sanitized reason. */
static int
http_parse_status(
    const char *line, size_t len, struct http_response *rs, struct pf_err *err)
{
	const char *p = line + 9;
	char safe[64];

	if (len < 12 || memcmp(line, "HTTP/1.", 7) != 0 ||
	    (line[7] != '0' && line[7] != '1') || line[8] != ' ' ||
	    p[0] < '1' || p[0] > '5' || p[1] < '0' || p[1] > '9' ||
	    p[2] < '0' || p[2] > '9' || (len > 12 && p[3] != ' ')) {
		pf_sanitize(safe, sizeof(safe), line, len);
		return pf_err_set(
		    err, PF_EPROTO, "malformed HTTP status line '%s'", safe);
	}
	rs->status = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
	if (len > 13)
		pf_sanitize(rs->reason, sizeof(rs->reason), p + 4, len - 13);
	else
		rs->reason[0] = '\0';
	return 0;
}

/* A token character of RFC 9110 (header field names). */
static bool
http_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

/* How a reply's body is delimited. */
struct http_framing {
	bool chunked;
	bool have_length;
	unsigned long long length;
	size_t nheaders, header_bytes;
};

/* Content-Length: digits only; a repeat must agree. */
static int
http_content_length(const char *v, size_t vlen, const struct http_limits *l,
    struct http_framing *fr, struct pf_err *err)
{
	unsigned long long n = 0;
	size_t i;

	if (vlen == 0 || vlen > 19)
		return pf_err_set(err, PF_EPROTO, "bad Content-Length");
	for (i = 0; i < vlen; i++) {
		if (v[i] < '0' || v[i] > '9')
			return pf_err_set(err, PF_EPROTO, "bad Content-Length");
		n = n * 10 + (unsigned long long)(v[i] - '0');
	}
	if (fr->have_length && fr->length != n)
		return pf_err_set(
		    err, PF_EPROTO, "conflicting Content-Length fields");
	if (n > l->max_body)
		return pf_err_set(err, PF_EPROTO,
		    "reply body longer than %zu bytes", l->max_body);
	fr->have_length = true;
	fr->length = n;
	return 0;
}

/* The syntax of a "Name: value" field; the colon or NULL. */
static char *
http_field_syntax(char *line, size_t len, struct pf_err *err)
{
	char *colon = memchr(line, ':', len), *v, *end = line + len;

	if (colon == NULL || colon == line) {
		pf_err_set(err, PF_EPROTO, "malformed header field");
		return NULL;
	}
	for (v = line; v < colon; v++)
		if (!http_tchar(*v)) {
			pf_err_set(
			    err, PF_EPROTO, "malformed header field name");
			return NULL;
		}
	for (v = colon + 1; v < end; v++)
		if ((unsigned char)*v == 0x7f ||
		    ((unsigned char)*v < 0x20 && *v != '\t')) {
			pf_err_set(err, PF_EPROTO,
			    "control character in a header field");
			return NULL;
		}
	return colon;
}

/* One "Name: value" field: the framing fields and what we keep. */
static int
http_header(char *line, size_t len, const struct http_limits *l,
    struct http_framing *fr, struct http_response *rs, struct pf_err *err)
{
	char *colon, *v, *end = line + len;
	size_t n;

	if ((colon = http_field_syntax(line, len, err)) == NULL)
		return -1;
	for (v = colon + 1; v < end && (*v == ' ' || *v == '\t'); v++)
		;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	n = (size_t)(colon - line);
#define HTTP_IS(name) (n == sizeof(name) - 1 && http_ascii_ieq(line, name, n))
	if (HTTP_IS("content-length"))
		return http_content_length(v, (size_t)(end - v), l, fr, err);
	if (HTTP_IS("transfer-encoding")) {
		if (fr->chunked || (size_t)(end - v) != 7 ||
		    !http_ascii_ieq(v, "chunked", 7)) {
			char safe[64];

			pf_sanitize(safe, sizeof(safe), v, (size_t)(end - v));
			return pf_err_set(err, PF_EPROTO,
			    "unsupported transfer coding '%s'", safe);
		}
		fr->chunked = true;
	} else if (HTTP_IS("content-type")) {
		pf_sanitize(rs->content_type, sizeof(rs->content_type), v,
		    (size_t)(end - v));
	} else if (HTTP_IS("location")) {
		pf_sanitize(
		    rs->location, sizeof(rs->location), v, (size_t)(end - v));
	}
#undef HTTP_IS
	return 0;
}

/* Header lines up to the empty one, counted against the limits. */
static int
http_read_fields(struct stream *s, struct lbuf *lb, const struct http_limits *l,
    struct http_framing *fr, struct http_response *rs, struct pf_err *err)
{
	char *line;
	size_t len;

	for (;;) {
		if (http_getline(lb, s, &line, &len, "header", err) == -1)
			return -1;
		if (len == 0)
			return 0;
		fr->header_bytes += len + 2;
		if (++fr->nheaders > l->max_headers ||
		    fr->header_bytes > l->max_header_bytes)
			return pf_err_set(err, PF_EPROTO,
			    "too many or too long header fields");
		if (line[0] == ' ' || line[0] == '\t')
			return pf_err_set(err, PF_EPROTO,
			    "folded header field (obsolete line folding)");
		if (rs == NULL && http_field_syntax(line, len, err) == NULL)
			return -1;
		if (rs != NULL && http_header(line, len, l, fr, rs, err) == -1)
			return -1;
	}
}

/* Exactly n raw body bytes from lb (n == ~0: until EOF). */
static int
http_read_raw(struct stream *s, struct lbuf *lb, unsigned long long n,
    struct http_body *b, struct pf_err *err)
{
	bool to_eof = n == ~0ULL;

	while (n > 0) {
		size_t take;

		if (lb->len == 0) {
			ssize_t r = lbuf_fill(lb, s, err);

			if (r < 0)
				return -1;
			if (r == 0) {
				if (to_eof)
					return 0;
				return pf_err_set(err, PF_ETEMP,
				    "connection closed by the server "
				    "in the middle of the reply body");
			}
		}
		take = lb->len;
		if (!to_eof && take > n)
			take = (size_t)n;
		if (http_body_add(b, lbuf_data(lb), take, err) == -1)
			return -1;
		lbuf_consume(lb, take);
		if (!to_eof)
			n -= take;
	}
	return 0;
}

/* The size of the next chunk from its "hex[;ext]" line. */
static int
http_chunk_size(
    const char *line, size_t len, unsigned long long *size, struct pf_err *err)
{
	unsigned long long n = 0;
	size_t i;
	int d;

	for (i = 0; i < len && (d = crypto_hexval(line[i])) >= 0; i++) {
		if (i >= 15)
			return pf_err_set(err, PF_EPROTO, "chunk too large");
		n = n * 16 + (unsigned long long)d;
	}
	if (i == 0)
		return pf_err_set(err, PF_EPROTO, "malformed chunk size");
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (i < len && line[i] != ';')
		return pf_err_set(err, PF_EPROTO, "malformed chunk size");
	*size = n;
	return 0;
}

/* Chunked transfer coding: chunks, the last one, trailer fields. */
static int
http_read_chunked(struct stream *s, struct lbuf *lb,
    const struct http_limits *l, struct http_framing *fr, struct http_body *b,
    struct pf_err *err)
{
	unsigned long long size = 0;
	char *line;
	size_t len;

	for (;;) {
		if (http_getline(lb, s, &line, &len, "chunk size", err) == -1)
			return -1;
		if (http_chunk_size(line, len, &size, err) == -1)
			return -1;
		if (size == 0)
			break;
		if (size > b->max - b->len)
			return pf_err_set(err, PF_EPROTO,
			    "reply body longer than %zu bytes", b->max);
		if (http_read_raw(s, lb, size, b, err) == -1)
			return -1;
		if (http_getline(lb, s, &line, &len, "chunk end", err) == -1)
			return -1;
		if (len != 0)
			return pf_err_set(
			    err, PF_EPROTO, "chunk longer than its size");
	}
	return http_read_fields(s, lb, l, fr, NULL, err);
}

/* Status line and fields of the final reply, skipping 1xx ones. */
static int
http_read_head(struct stream *s, struct lbuf *lb, const struct http_limits *l,
    struct http_framing *fr, struct http_response *rs, struct pf_err *err)
{
	int interim;
	char *line;
	size_t len;

	for (interim = 0;; interim++) {
		memset(fr, 0, sizeof(*fr));
		if (http_getline(lb, s, &line, &len, "status line", err) == -1)
			return -1;
		if (http_parse_status(line, len, rs, err) == -1)
			return -1;
		if (rs->status >= 200)
			break;
		if (rs->status == 101 || interim >= HTTP_MAX_INTERIM)
			return pf_err_set(err, PF_EPROTO,
			    "unexpected interim reply %d", rs->status);
		if (http_read_fields(s, lb, l, fr, NULL, err) == -1)
			return -1;
	}
	if (http_read_fields(s, lb, l, fr, rs, err) == -1)
		return -1;
	if (fr->chunked && fr->have_length)
		return pf_err_set(err, PF_EPROTO,
		    "reply has both Content-Length and Transfer-Encoding");
	return 0;
}

int
http_read_response(struct stream *s, struct lbuf *lb,
    const struct http_limits *lim, struct http_response *rs, struct pf_err *err)
{
	struct http_limits l = http_limits_of(lim);
	struct http_body b = {NULL, 0, 0, l.max_body};
	struct http_framing fr;
	int rc;

	memset(rs, 0, sizeof(*rs));
	if (http_read_head(s, lb, &l, &fr, rs, err) == -1)
		return -1;
	if (rs->status == 204 || rs->status == 304)
		rc = 0;
	else if (fr.chunked)
		rc = http_read_chunked(s, lb, &l, &fr, &b, err);
	else if (fr.have_length)
		rc = http_read_raw(s, lb, fr.length, &b, err);
	else
		rc = http_read_raw(s, lb, ~0ULL, &b, err);
	if (rc == 0 && b.buf == NULL)
		http_body_add(&b, "", 0, err);
	rs->body = b.buf;
	rs->body_len = b.len;
	return rc;
}

/* The request head: request line and header fields. */
static void
http_request_head(const struct http_request *rq, const struct http_url *u,
    struct http_form *out)
{
	char *head;

	head = xasprintf("%s %s HTTP/1.1\r\n"
			 "Host: %s%s%s%s%s\r\n"
			 "User-Agent: popfetch/%s\r\n"
			 "%s%s%s"
			 "Connection: close\r\n",
	    rq->method, u->path, u->ipv6 ? "[" : "", u->host,
	    u->ipv6 ? "]" : "", u->default_port ? "" : ":",
	    u->default_port ? "" : u->port, POPFETCH_VERSION,
	    rq->accept != NULL ? "Accept: " : "",
	    rq->accept != NULL ? rq->accept : "",
	    rq->accept != NULL ? "\r\n" : "");
	http_form_raw(out, head, strlen(head));
	free(head);
	if (rq->content_type != NULL) {
		head = xasprintf("Content-Type: %s\r\nContent-Length: %zu\r\n",
		    rq->content_type, rq->body_len);
		http_form_raw(out, head, strlen(head));
		free(head);
	}
	http_form_raw(out, "\r\n", 2);
}

/* Send the request (head and body in one write) and read the reply. */
static int
http_send_and_read(struct stream *s, const struct http_request *rq,
    const struct http_url *u, struct http_response *rs, struct pf_err *err)
{
	struct http_limits l = http_limits_of(&rq->limits);
	struct http_form req = {NULL, 0, 0};
	struct lbuf lb;
	int rc;

	http_request_head(rq, u, &req);
	if (rq->body_len > 0)
		http_form_raw(&req, rq->body, rq->body_len);
	rc = stream_write_all(s, req.buf, req.len, err);
	http_form_free(&req);
	if (rc == -1)
		return -1;
	lbuf_init(&lb, 16384, l.max_line);
	rc = http_read_response(s, &lb, &l, rs, err);
	explicit_bzero(lb.buf, lb.cap);
	lbuf_free(&lb);
	return rc;
}

int
http_exchange(
    const struct http_request *rq, struct http_response *rs, struct pf_err *err)
{
	long long deadline = http_deadline(rq->timeout_ms);
	struct conn_params cp;
	struct stream *s;
	struct http_url u;
	int rc;

	memset(rs, 0, sizeof(*rs));
	if (http_url_parse(rq->url, &u, err) == -1)
		return -1;
	if (!u.tls)
		return pf_err_set(err, PF_ECONFIG,
		    "refusing '%s': only https:// is allowed", rq->url);
	memset(&cp, 0, sizeof(cp));
	cp.host = u.host;
	cp.port = u.port;
	cp.family = AF_UNSPEC;
	cp.timeout_ms = rq->timeout_ms;
	cp.tls = CONN_TLS_IMPLICIT;
	cp.ca_file = rq->ca_file;
	cp.tls_min = 12;
	log_debug("HTTP %s https://%s%s%s%s%s%s", rq->method, u.ipv6 ? "[" : "",
	    u.host, u.ipv6 ? "]" : "", u.default_port ? "" : ":",
	    u.default_port ? "" : u.port, u.path);
	if ((s = conn_open(&cp, err)) == NULL)
		return -1;
	/* one deadline for all of it, whatever connect has used up */
	s->resp_deadline = deadline;
	if (http_ms_left(deadline) == 0)
		rc = pf_err_set(
		    err, PF_ETEMP, "timed out connecting to '%s'", u.host);
	else if ((rc = http_send_and_read(s, rq, &u, rs, err)) == -1)
		pf_err_prefix(err, "'%s'", u.host);
	stream_close(s);
	if (rc == -1)
		return -1;
	log_debug("HTTP reply %d %s", rs->status, rs->reason);
	if (rs->status >= 300 && rs->status < 400)
		return pf_err_set(err, PF_ECONFIG,
		    "'%s' answered %d with a redirect to '%s': redirects are "
		    "not followed; use the final address",
		    u.host, rs->status, rs->location);
	return 0;
}

int
http_listen_loopback(struct http_listener *l, struct pf_err *err)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd;

	l->fd = -1;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1)
		return pf_err_sys(err, PF_ETEMP, "cannot create a socket");
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = 0;
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fd, 8) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1) {
		pf_err_sys(err, PF_ETEMP, "cannot listen on 127.0.0.1");
		close(fd);
		return -1;
	}
	l->fd = fd;
	snprintf(l->port, sizeof(l->port), "%u", ntohs(sin.sin_port));
	return 0;
}

int
http_read_request(struct stream *s, struct lbuf *lb,
    const struct http_limits *lim, struct http_request_in *rq,
    struct pf_err *err)
{
	struct http_limits l = http_limits_of(lim);
	struct http_framing fr;
	char *line, *sp1, *sp2;
	size_t len;

	memset(rq, 0, sizeof(*rq));
	memset(&fr, 0, sizeof(fr));
	if (http_getline(lb, s, &line, &len, "request line", err) == -1)
		return -1;
	sp1 = memchr(line, ' ', len);
	sp2 = sp1 != NULL ? memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - line))
			  : NULL;
	if (sp1 == NULL || sp2 == NULL || sp1 == line ||
	    (size_t)(sp1 - line) >= sizeof(rq->method) || sp1[1] != '/' ||
	    (size_t)(sp2 - sp1 - 1) > HTTP_URL_PATH_MAX ||
	    (strcmp(sp2 + 1, "HTTP/1.1") != 0 &&
		strcmp(sp2 + 1, "HTTP/1.0") != 0))
		return pf_err_set(err, PF_EPROTO, "malformed request line");
	for (char *m = line; m < sp1; m++)
		if (!http_tchar(*m))
			return pf_err_set(
			    err, PF_EPROTO, "malformed request method");
	memcpy(rq->method, line, (size_t)(sp1 - line));
	memcpy(rq->target, sp1 + 1, (size_t)(sp2 - sp1 - 1));
	for (line = rq->target; *line != '\0'; line++)
		if ((unsigned char)*line <= 0x20 ||
		    (unsigned char)*line >= 0x7f)
			return pf_err_set(
			    err, PF_EPROTO, "malformed request target");
	return http_read_fields(s, lb, &l, &fr, NULL, err);
}

/* Accept one connection before the deadline; -1 when none came. */
static int
http_accept_fd(
    struct http_listener *l, long long deadline_ms, struct pf_err *err)
{
	struct pollfd pfd;
	int fd, n;

	for (;;) {
		int left = http_ms_left(deadline_ms);

		if (left == 0)
			return pf_err_set(err, PF_ETEMP,
			    "timed out waiting for the browser to come back");
		pfd.fd = l->fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		n = poll(&pfd, 1, left);
		if (n == -1 && errno != EINTR)
			return pf_err_sys(err, PF_ETEMP, "cannot wait");
		if (n <= 0)
			continue;
		/* stream_tcp_new() makes it non-blocking and close-on-exec */
		fd = accept(l->fd, NULL, NULL);
		if (fd >= 0)
			return fd;
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
		    errno != ECONNABORTED)
			return pf_err_sys(
			    err, PF_ETEMP, "cannot accept a connection");
	}
}

struct stream *
http_accept(struct http_listener *l, long long deadline_ms, int conn_timeout_ms,
    struct http_request_in *rq, struct pf_err *err)
{
	struct pf_err cerr;
	struct stream *s;
	struct lbuf lb;
	int fd, rc;

	for (;;) {
		if ((fd = http_accept_fd(l, deadline_ms, err)) == -1)
			return NULL;
		s = stream_tcp_new(fd, conn_timeout_ms);
		stream_set_response_deadline(s, 0);
		lbuf_init(&lb, 16384, HTTP_MAX_LINE);
		rc = http_read_request(s, &lb, NULL, rq, &cerr);
		explicit_bzero(lb.buf, lb.cap);
		lbuf_free(&lb);
		if (rc == 0) {
			s->resp_deadline = 0;
			return s;
		}
		log_debug(
		    "loopback listener: dropped a connection: %s", cerr.msg);
		if (cerr.code == PF_EPROTO)
			(void)http_reply(s, 400, "Bad Request",
			    "<p>Bad request.</p>", &cerr);
		stream_close(s);
	}
}

int
http_reply(struct stream *s, int status, const char *reason, const char *html,
    struct pf_err *err)
{
	char *msg;
	int rc;

	msg = xasprintf("HTTP/1.1 %d %s\r\n"
			"Content-Type: text/html; charset=utf-8\r\n"
			"Content-Length: %zu\r\n"
			"Cache-Control: no-store\r\n"
			"Connection: close\r\n\r\n%s",
	    status, reason, strlen(html), html);
	rc = stream_write_all(s, msg, strlen(msg), err);
	free(msg);
	return rc;
}

void
http_listener_close(struct http_listener *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
}
