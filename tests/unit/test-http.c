/*
 * test-http.c: the URL parser, form encoding and query decoding, the
 * reply and request readers over a memory stream split at every offset,
 * their limits, and the loopback listener over real sockets.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <cmocka.h>

#include "popfetch/http.h"
#include "popfetch/lbuf.h"
#include "popfetch/stream.h"

/* A read-only stream over memory: first read of `first` bytes, then
 * `chunk` bytes per read, then EOF. */
struct mem {
	struct stream s; /* first, so a struct stream * is a struct mem * */
	const char *in;
	size_t inlen, pos, chunk, first;
};

static ssize_t
mem_read(struct stream *s, void *buf, size_t len, struct pf_err *err)
{
	struct mem *m = (struct mem *)s;
	size_t n;

	(void)err;
	if (m->pos == m->inlen)
		return 0;
	n = m->inlen - m->pos;
	if (n > m->chunk)
		n = m->chunk;
	if (m->first > 0) {
		if (n > m->first)
			n = m->first;
		m->first = 0;
	}
	if (n > len)
		n = len;
	memcpy(buf, m->in + m->pos, n);
	m->pos += n;
	return (ssize_t)n;
}

static ssize_t
mem_write(struct stream *s, const void *buf, size_t len, struct pf_err *err)
{
	(void)s;
	(void)buf;
	(void)err;
	return (ssize_t)len;
}

static const struct stream_ops mem_ops = {
    .read = mem_read,
    .write = mem_write,
    .close = NULL,
    .pending = NULL,
};

static void
mem_init(struct mem *m, const char *in, size_t len, size_t first, size_t chunk)
{
	memset(m, 0, sizeof(*m));
	m->s.ops = &mem_ops;
	m->s.fd = -1;
	m->in = in;
	m->inlen = len;
	m->first = first;
	m->chunk = chunk;
}

/* Read one reply from in, split after `first` bytes, chunk per read. */
static int
parse_reply(const char *in, size_t len, size_t first, size_t chunk,
    const struct http_limits *lim, struct http_response *rs, struct pf_err *err)
{
	struct mem m;
	struct lbuf lb;
	int rc;

	mem_init(&m, in, len, first, chunk);
	lbuf_init(&lb, 4096,
	    lim != NULL && lim->max_line ? lim->max_line : HTTP_MAX_LINE);
	rc = http_read_response(&m.s, &lb, lim, rs, err);
	lbuf_free(&lb);
	return rc;
}

/* The reply must parse to status and body at every split point. */
static void
check_every_split(const char *in, int status, const char *body)
{
	size_t len = strlen(in), k;
	struct http_response rs;
	struct pf_err err;

	for (k = 1; k <= len; k++) {
		memset(&rs, 0, sizeof(rs));
		if (parse_reply(in, len, k, len, NULL, &rs, &err) != 0)
			fail_msg("split %zu: %s", k, err.msg);
		assert_int_equal(rs.status, status);
		assert_non_null(rs.body);
		assert_int_equal(rs.body_len, strlen(body));
		assert_memory_equal(rs.body, body, rs.body_len);
		assert_int_equal(rs.body[rs.body_len], '\0');
		http_response_free(&rs);
	}
	/* and one byte per read */
	memset(&rs, 0, sizeof(rs));
	assert_int_equal(parse_reply(in, len, 0, 1, NULL, &rs, &err), 0);
	assert_string_equal(rs.body, body);
	http_response_free(&rs);
}

static void
test_url_good(void **state)
{
	struct http_url u;
	struct pf_err err;

	(void)state;
	assert_int_equal(
	    http_url_parse("https://oauth2.googleapis.com/token", &u, &err), 0);
	assert_true(u.tls);
	assert_string_equal(u.host, "oauth2.googleapis.com");
	assert_string_equal(u.port, "443");
	assert_true(u.default_port);
	assert_string_equal(u.path, "/token");

	assert_int_equal(http_url_parse("HTTPS://Login.Example:8443/a/b?x=1&y"
					"=%20#frag",
			     &u, &err),
	    0);
	assert_string_equal(u.host, "Login.Example");
	assert_string_equal(u.port, "8443");
	assert_false(u.default_port);
	assert_string_equal(u.path, "/a/b?x=1&y=%20");

	assert_int_equal(http_url_parse("https://[::1]:9/t", &u, &err), 0);
	assert_true(u.ipv6);
	assert_string_equal(u.host, "::1");
	assert_string_equal(u.port, "9");

	assert_int_equal(http_url_parse("https://[2001:db8::7]", &u, &err), 0);
	assert_string_equal(u.host, "2001:db8::7");
	assert_string_equal(u.path, "/");

	assert_int_equal(http_url_parse("http://127.0.0.1?q=1", &u, &err), 0);
	assert_false(u.tls);
	assert_string_equal(u.port, "80");
	assert_string_equal(u.path, "/?q=1");

	assert_int_equal(http_url_parse("https://h:/p", &u, &err), 0);
	assert_string_equal(u.port, "443");
	assert_int_equal(http_url_parse("https://h:65535", &u, &err), 0);
	assert_string_equal(u.port, "65535");
}

static void
test_url_bad(void **state)
{
	static const char *const bad[] = {
	    "",
	    "ftp://h/",
	    "https:/h/",
	    "https://",
	    "https:///path",
	    "https://user@h/",
	    "https://user:pw@h/",
	    "https://h:0/",
	    "https://h:65536/",
	    "https://h:123456/",
	    "https://h:8x/",
	    "https://[::1/",
	    "https://[zz::]/",
	    "https://[]/",
	    "https://h/a b",
	    "https://h/a\r\nX: y",
	    "https://h/\x7f",
	    "https://h/\xc3\xa9",
	    "https://ho$t/",
	    "https://h\\x/",
	    "mailto:x@y",
	};
	struct http_url u;
	struct pf_err err;
	size_t i;
	char *longpath;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err.code = PF_OK;
		if (http_url_parse(bad[i], &u, &err) != -1)
			fail_msg("accepted '%s'", bad[i]);
		assert_int_equal(err.code, PF_ECONFIG);
		/* never echo control characters into a message */
		assert_null(strchr(err.msg, '\r'));
		assert_null(strchr(err.msg, '\n'));
	}
	longpath = malloc(HTTP_URL_PATH_MAX + 64);
	strcpy(longpath, "https://h/");
	memset(longpath + 10, 'a', HTTP_URL_PATH_MAX);
	longpath[10 + HTTP_URL_PATH_MAX] = '\0';
	assert_int_equal(http_url_parse(longpath, &u, &err), -1);
	longpath[HTTP_URL_PATH_MAX + 8] = '\0'; /* path of exactly max - 1 */
	assert_int_equal(http_url_parse(longpath, &u, &err), 0);
	free(longpath);
}

static void
test_form(void **state)
{
	struct http_form f = {NULL, 0, 0};
	char big[3000];

	(void)state;
	assert_string_equal(http_form_text(&f), "");
	http_form_add(&f, "grant_type", "refresh_token");
	http_form_add(&f, "scope",
	    "https://outlook.office.com/POP.AccessAsUser.All offline_access");
	http_form_add(&f, "x", "a+b&c=d/é~-._");
	http_form_add(&f, "empty", "");
	assert_string_equal(http_form_text(&f),
	    "grant_type=refresh_token"
	    "&scope=https%3A%2F%2Foutlook.office.com%2FPOP.AccessAsUser.All"
	    "%20offline_access"
	    "&x=a%2Bb%26c%3Dd%2F%C3%A9~-._"
	    "&empty=");
	assert_int_equal(f.len, strlen(f.buf));
	http_form_free(&f);
	assert_null(f.buf);
	/* growth past the first buffer keeps everything */
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	http_form_add(&f, "a", big);
	http_form_add(&f, "b", "\x01");
	assert_int_equal(f.len, 2 + 2999 + 3 + 3);
	assert_string_equal(f.buf + f.len - 6, "&b=%01");
	http_form_free(&f);
}

static void
test_query(void **state)
{
	char out[32];

	(void)state;
	assert_int_equal(
	    http_query_param("code=abc&state=x%2By+z", "state", out, 32), 1);
	assert_string_equal(out, "x+y z");
	assert_int_equal(
	    http_query_param("code=abc&state=x", "code", out, 32), 1);
	assert_string_equal(out, "abc");
	assert_int_equal(http_query_param("code=abc", "state", out, 32), 0);
	assert_int_equal(http_query_param("", "state", out, 32), 0);
	assert_int_equal(http_query_param("state", "state", out, 32), 1);
	assert_string_equal(out, "");
	assert_int_equal(http_query_param("&&state=&", "state", out, 32), 1);
	assert_string_equal(out, "");
	/* the name is decoded too */
	assert_int_equal(http_query_param("st%61te=1", "state", out, 32), 1);
	/* a parameter twice is refused (RFC 6749 section 3.1) */
	assert_int_equal(
	    http_query_param("state=a&code=1&state=a", "state", out, 32), -1);
	assert_int_equal(http_query_param("state=%zz", "state", out, 32), -1);
	assert_int_equal(http_query_param("state=%2", "state", out, 32), -1);
	assert_int_equal(http_query_param("state=a%", "state", out, 32), -1);
	assert_int_equal(http_query_param("state=%00", "state", out, 32), -1);
	assert_int_equal(http_query_param("state=0123456789012345678901234567"
					  "890123",
			     "state", out, 32),
	    -1);
	/* other parameters' bad escapes do not matter when skipped by name */
	assert_int_equal(
	    http_query_param("code=1&state=ok", "state", out, 32), 1);
}

static void
test_reply_length(void **state)
{
	(void)state;
	check_every_split("HTTP/1.1 200 OK\r\n"
			  "Content-Type: application/json\r\n"
			  "Content-Length: 18\r\n"
			  "\r\n"
			  "{\"access_token\":1}",
	    200, "{\"access_token\":1}");
	check_every_split("HTTP/1.0 400 Bad Request\n"
			  "content-length:2\n"
			  "\n"
			  "{}",
	    400, "{}");
	check_every_split(
	    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 200, "");
}

static void
test_reply_chunked(void **state)
{
	(void)state;
	check_every_split("HTTP/1.1 200 OK\r\n"
			  "Transfer-Encoding: Chunked\r\n"
			  "\r\n"
			  "5\r\nhello\r\n"
			  "1;ext=\"x\"\r\n,\r\n"
			  "0006 \r\n world\r\n"
			  "A\r\n0123456789\r\n"
			  "0\r\n"
			  "X-Trailer: 1\r\n"
			  "\r\n",
	    200, "hello, world0123456789");
	check_every_split("HTTP/1.1 500 Oops\r\n"
			  "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	    500, "");
}

static void
test_reply_eof_and_interim(void **state)
{
	(void)state;
	check_every_split("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{\"a\":"
			  "\"b\"}",
	    200, "{\"a\":\"b\"}");
	check_every_split("HTTP/1.1 100 Continue\r\n\r\n"
			  "HTTP/1.1 102 Processing\r\nX: y\r\n\r\n"
			  "HTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx",
	    201, "x");
	check_every_split("HTTP/1.1 204 No Content\r\n\r\n", 204, "");
}

static void
test_reply_fields(void **state)
{
	static const char in[] = "HTTP/1.1 302 Found \x1b[31m\r\n"
				 "Location:  https://x.test/a?b \r\n"
				 "Content-Type: text/html\r\n"
				 "Content-Length: 0\r\n\r\n";
	struct http_response rs;
	struct pf_err err;

	(void)state;
	memset(&rs, 0, sizeof(rs));
	assert_int_equal(parse_reply(in, strlen(in), 0, 7, NULL, &rs, &err), 0);
	assert_int_equal(rs.status, 302);
	assert_string_equal(rs.reason, "Found \\x1b[31m");
	assert_string_equal(rs.location, "https://x.test/a?b");
	assert_string_equal(rs.content_type, "text/html");
	http_response_free(&rs);
}

struct bad_reply {
	const char *in;
	enum pf_errc code;
};

static void
test_reply_bad(void **state)
{
	static const struct bad_reply bad[] = {
	    {"", PF_ETEMP},
	    {"HTTP/1.1 200 OK\r\n", PF_ETEMP},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc", PF_ETEMP},
	    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
		PF_ETEMP},
	    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", PF_ETEMP},
	    {"HTTP/2 200 OK\r\n\r\n", PF_EPROTO},
	    {"HTTP/1.1 99 OK\r\n\r\n", PF_EPROTO},
	    {"HTTP/1.1 600 OK\r\n\r\n", PF_EPROTO},
	    {"HTTP/1.1 2000 OK\r\n\r\n", PF_EPROTO},
	    {"HTTP/1.1 20x OK\r\n\r\n", PF_EPROTO},
	    {"http/1.1 200 OK\r\n\r\n", PF_EPROTO},
	    {"SSH-2.0-OpenSSH\r\n", PF_EPROTO},
	    {"HTTP/1.1 101 Switching\r\n\r\n", PF_EPROTO},
	    {"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n", PF_EPROTO},
	    {"HTTP/1.1 200 OK\r\n: empty name\r\n\r\n", PF_EPROTO},
	    {"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", PF_EPROTO},
	    {"HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\nx", PF_EPROTO},
	    {"HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n", PF_EPROTO},
	    {"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", PF_EPROTO},
	    {"HTTP/1.1 200 OK\r\nX: a\x01\r\n\r\n", PF_EPROTO},
	    {"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", PF_EPROTO},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n\r\n", PF_EPROTO},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\nx", PF_EPROTO},
	    {"HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", PF_EPROTO},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"
	     "xx",
		PF_EPROTO},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
		PF_EPROTO},
	    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		PF_EPROTO},
	    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	     "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		PF_EPROTO},
	    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	     "Content-Length: 5\r\n\r\n0\r\n\r\n",
		PF_EPROTO},
	    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		PF_EPROTO},
	    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n",
		PF_EPROTO},
	    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2x\r\n",
		PF_EPROTO},
	    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	     "ffffffffffffffff\r\n",
		PF_EPROTO},
	    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	     "2\r\nabc\r\n0\r\n\r\n",
		PF_EPROTO},
	    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	     "2\r\nab\r\n0\r\nTrailer without a colon\r\n\r\n",
		PF_EPROTO},
	    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	     "2\r\nab\r\n0\r\nX-Trailer: 1\r\n",
		PF_ETEMP},
	};
	struct http_response rs;
	struct pf_err err;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&rs, 0, sizeof(rs));
		err.code = PF_OK;
		if (parse_reply(bad[i].in, strlen(bad[i].in), 0, 3, NULL, &rs,
			&err) != -1)
			fail_msg("accepted case %zu", i);
		if (err.code != bad[i].code)
			fail_msg("case %zu: code %d, want %d (%s)", i,
			    (int)err.code, (int)bad[i].code, err.msg);
		http_response_free(&rs);
	}
}

static void
test_reply_nul(void **state)
{
	static const char in[] = "HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n";
	struct http_response rs;
	struct pf_err err;

	(void)state;
	memset(&rs, 0, sizeof(rs));
	assert_int_equal(
	    parse_reply(in, sizeof(in) - 1, 0, 4, NULL, &rs, &err), -1);
	assert_int_equal(err.code, PF_EPROTO);
	http_response_free(&rs);
}

/* A reply of n header fields "X-i: v" and then an empty body. */
static char *
many_headers(size_t n, size_t valuelen)
{
	size_t cap = 64 + n * (valuelen + 32), i, o;
	char *s = malloc(cap);

	o = (size_t)snprintf(s, cap, "HTTP/1.1 200 OK\r\n");
	for (i = 0; i < n; i++) {
		o += (size_t)snprintf(s + o, cap - o, "X-%zu: ", i);
		memset(s + o, 'v', valuelen);
		o += valuelen;
		o += (size_t)snprintf(s + o, cap - o, "\r\n");
	}
	snprintf(s + o, cap - o, "Content-Length: 0\r\n\r\n");
	return s;
}

static void
test_reply_limits(void **state)
{
	struct http_limits lim = {0, 0, 0, 0};
	struct http_response rs;
	struct pf_err err;
	const char *body;
	char *s;
	size_t n, hl;

	(void)state;
	/* header count: the default allows 100 fields, Content-Length too */
	s = many_headers(HTTP_MAX_HEADERS - 1, 4);
	memset(&rs, 0, sizeof(rs));
	assert_int_equal(parse_reply(s, strlen(s), 0, 999, NULL, &rs, &err), 0);
	http_response_free(&rs);
	free(s);
	s = many_headers(HTTP_MAX_HEADERS, 4);
	assert_int_equal(
	    parse_reply(s, strlen(s), 0, 999, NULL, &rs, &err), -1);
	assert_int_equal(err.code, PF_EPROTO);
	http_response_free(&rs);
	free(s);

	/* total header bytes */
	lim.max_header_bytes = 1000;
	s = many_headers(9, 100);
	assert_int_equal(parse_reply(s, strlen(s), 0, 999, &lim, &rs, &err), 0);
	http_response_free(&rs);
	free(s);
	s = many_headers(10, 100);
	assert_int_equal(
	    parse_reply(s, strlen(s), 0, 999, &lim, &rs, &err), -1);
	assert_int_equal(err.code, PF_EPROTO);
	http_response_free(&rs);
	free(s);

	/* one line over max_line */
	lim.max_header_bytes = 0;
	lim.max_line = 100;
	s = many_headers(1, 100);
	assert_int_equal(
	    parse_reply(s, strlen(s), 0, 999, &lim, &rs, &err), -1);
	assert_int_equal(err.code, PF_EPROTO);
	http_response_free(&rs);
	free(s);

	/* body limit, for each way of delimiting the body */
	lim.max_line = 0;
	lim.max_body = 10;
	body = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789";
	assert_int_equal(
	    parse_reply(body, strlen(body), 0, 3, &lim, &rs, &err), 0);
	http_response_free(&rs);
	body = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n0123456789a";
	assert_int_equal(
	    parse_reply(body, strlen(body), 0, 3, &lim, &rs, &err), -1);
	assert_int_equal(err.code, PF_EPROTO);
	http_response_free(&rs);
	body = "HTTP/1.1 200 OK\r\n\r\n0123456789a";
	assert_int_equal(
	    parse_reply(body, strlen(body), 0, 3, &lim, &rs, &err), -1);
	assert_int_equal(err.code, PF_EPROTO);
	http_response_free(&rs);
	body = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	       "6\r\n012345\r\n5\r\n6789a\r\n0\r\n\r\n";
	assert_int_equal(
	    parse_reply(body, strlen(body), 0, 3, &lim, &rs, &err), -1);
	assert_int_equal(err.code, PF_EPROTO);
	http_response_free(&rs);

	/* a large body in the default limit arrives whole */
	n = 200000;
	s = malloc(n + 100);
	snprintf(s, 100, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", n);
	hl = strlen(s);
	memset(s + hl, 'q', n);
	n += hl;
	assert_int_equal(parse_reply(s, n, 0, 4096, NULL, &rs, &err), 0);
	assert_int_equal(rs.body_len, 200000);
	http_response_free(&rs);
	free(s);
}

/* Read one request from in, split after first bytes. */
static int
parse_request(const char *in, size_t first, struct http_request_in *rq,
    struct pf_err *err)
{
	struct mem m;
	struct lbuf lb;
	int rc;

	mem_init(&m, in, strlen(in), first, strlen(in) + 1);
	lbuf_init(&lb, 4096, HTTP_MAX_LINE);
	rc = http_read_request(&m.s, &lb, NULL, rq, err);
	lbuf_free(&lb);
	return rc;
}

static void
test_request(void **state)
{
	static const char good[] = "GET /?code=a%2Fb&state=xyz HTTP/1.1\r\n"
				   "Host: 127.0.0.1:5000\r\n"
				   "User-Agent: test\r\n\r\n";
	static const char *const bad[] = {
	    "GET / HTTP/2\r\n\r\n",
	    "GET http://x/ HTTP/1.1\r\n\r\n",
	    "GET  / HTTP/1.1\r\n\r\n",
	    "GET /\x01 HTTP/1.1\r\n\r\n",
	    "GET /\r\n\r\n",
	    "GARBAGEGARBAGEGARBAGE /x HTTP/1.1\r\n\r\n",
	    "GET / HTTP/1.1\r\nno colon\r\n\r\n",
	    "G\x01T / HTTP/1.1\r\n\r\n",
	    "GET / HTTP/1.1\r\n",
	    "",
	};
	struct http_request_in rq;
	struct pf_err err;
	size_t k, i;

	(void)state;
	for (k = 1; k <= strlen(good); k++) {
		if (parse_request(good, k, &rq, &err) != 0)
			fail_msg("split %zu: %s", k, err.msg);
		assert_string_equal(rq.method, "GET");
		assert_string_equal(rq.target, "/?code=a%2Fb&state=xyz");
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse_request(bad[i], 0, &rq, &err) != -1)
			fail_msg("accepted request %zu", i);
}

/* Connect to 127.0.0.1:port; the fd, blocking. */
static int
connect_local(const char *port)
{
	struct sockaddr_in sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((unsigned short)atoi(port));
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

static void
test_listener(void **state)
{
	static const char req[] =
	    "GET /cb?state=s1 HTTP/1.1\r\nHost: x\r\n\r\n";
	struct http_listener l;
	struct http_request_in rq;
	struct pf_err err;
	struct stream *s;
	char reply[512];
	ssize_t n;
	int silent, junk, good;

	(void)state;
	assert_int_equal(http_listen_loopback(&l, &err), 0);
	assert_true(atoi(l.port) > 0);
	/* a speculative connection that says nothing, one that sends
	 * garbage, then the real one: the real one is returned */
	silent = connect_local(l.port);
	junk = connect_local(l.port);
	assert_int_equal(write(junk, "\x16\x03\x01junk\r\n\r\n", 10), 10);
	good = connect_local(l.port);
	assert_int_equal(write(good, req, strlen(req)), (ssize_t)strlen(req));
	s = http_accept(&l, http_deadline(10000), 300, &rq, &err);
	assert_non_null(s);
	assert_string_equal(rq.target, "/cb?state=s1");
	assert_int_equal(http_reply(s, 200, "OK", "<p>done</p>", &err), 0);
	stream_close(s);
	n = read(good, reply, sizeof(reply) - 1);
	assert_true(n > 0);
	reply[n] = '\0';
	assert_non_null(strstr(reply, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(reply, "Content-Length: 11\r\n"));
	assert_non_null(strstr(reply, "\r\n\r\n<p>done</p>"));
	close(silent);
	close(junk);
	close(good);

	/* nobody comes: the deadline ends the wait */
	s = http_accept(&l, http_deadline(200), 100, &rq, &err);
	assert_null(s);
	assert_int_equal(err.code, PF_ETEMP);
	http_listener_close(&l);
	http_listener_close(&l);
}

static void
test_exchange_refuses_http(void **state)
{
	struct http_request rq;
	struct http_response rs;
	struct pf_err err;

	(void)state;
	memset(&rq, 0, sizeof(rq));
	rq.method = "POST";
	rq.url = "http://127.0.0.1:9/token";
	rq.timeout_ms = 1000;
	assert_int_equal(http_exchange(&rq, &rs, &err), -1);
	assert_int_equal(err.code, PF_ECONFIG);
	assert_non_null(strstr(err.msg, "https"));
	http_response_free(&rs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_url_good),
	    cmocka_unit_test(test_url_bad),
	    cmocka_unit_test(test_form),
	    cmocka_unit_test(test_query),
	    cmocka_unit_test(test_reply_length),
	    cmocka_unit_test(test_reply_chunked),
	    cmocka_unit_test(test_reply_eof_and_interim),
	    cmocka_unit_test(test_reply_fields),
	    cmocka_unit_test(test_reply_bad),
	    cmocka_unit_test(test_reply_nul),
	    cmocka_unit_test(test_reply_limits),
	    cmocka_unit_test(test_request),
	    cmocka_unit_test(test_listener),
	    cmocka_unit_test(test_exchange_refuses_http),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
