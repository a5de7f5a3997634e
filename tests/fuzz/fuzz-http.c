/*
 * fuzz-http.c: the HTTP reply and request readers, the URL parser and
 * the query decoder on hostile bytes.
 *
 * Byte 0 picks the mode and the split, the rest is the peer's bytes:
 *   bits 0-1  0, 1: http_read_response() over a memory stream that hands
 *             out (byte 0 >> 2) + 1 bytes per read, with small limits so
 *             they are reached; 2: http_read_request(); 3: the first line
 *             to http_url_parse() and the rest to http_query_param().
 * Every success is checked against what http.h promises: a status in
 * range, a NUL-terminated body within the limit, printable sanitized
 * fields; every failure must carry one of the documented codes.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "popfetch/err.h"
#include "popfetch/http.h"
#include "popfetch/lbuf.h"
#include "popfetch/stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stop with a message the crash report will show. */
static void
fail(const char *what)
{
	fprintf(stderr, "fuzz-http: %s\n", what);
	abort();
}

/* A read-only stream over memory, chunk bytes per read. */
struct mem {
	struct stream s; /* first, so a struct stream * is a struct mem * */
	const uint8_t *in;
	size_t len, pos, chunk;
};

static ssize_t
mem_read(struct stream *s, void *buf, size_t len, struct pf_err *err)
{
	struct mem *m = (struct mem *)s;
	size_t n = m->len - m->pos;

	(void)err;
	if (n > m->chunk)
		n = m->chunk;
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

/* A field we show users: NUL-terminated, no control bytes. */
static void
check_text(const char *s, size_t cap, const char *what)
{
	size_t i;

	if (memchr(s, '\0', cap) == NULL)
		fail(what);
	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			fail(what);
}

/* An error must carry a code the header lists for the reader. */
static void
check_err(const struct pf_err *err)
{
	if (err->code != PF_EPROTO && err->code != PF_ETEMP)
		fail("undocumented error code");
	check_text(err->msg, sizeof(err->msg), "control byte in a message");
}

static void
mode_response(struct mem *m)
{
	struct http_limits lim = {256, 16, 2048, 4096};
	struct http_response rs;
	struct pf_err err;
	struct lbuf lb;

	memset(&rs, 0, sizeof(rs));
	lbuf_init(&lb, 1024, lim.max_line);
	if (http_read_response(&m->s, &lb, &lim, &rs, &err) == 0) {
		if (rs.status < 200 || rs.status > 599)
			fail("status out of range");
		if (rs.body == NULL || rs.body_len > lim.max_body ||
		    rs.body[rs.body_len] != '\0')
			fail("bad body");
		check_text(rs.reason, sizeof(rs.reason), "bad reason");
		check_text(rs.location, sizeof(rs.location), "bad location");
		check_text(rs.content_type, sizeof(rs.content_type),
		    "bad content type");
	} else {
		check_err(&err);
	}
	http_response_free(&rs);
	if (rs.body != NULL)
		fail("free left a body");
	lbuf_free(&lb);
}

static void
mode_request(struct mem *m)
{
	struct http_request_in rq;
	struct pf_err err;
	struct lbuf lb;

	lbuf_init(&lb, 1024, 512);
	if (http_read_request(&m->s, &lb, NULL, &rq, &err) == 0) {
		check_text(rq.method, sizeof(rq.method), "bad method");
		check_text(rq.target, sizeof(rq.target), "bad target");
		if (rq.target[0] != '/' || strchr(rq.target, ' ') != NULL)
			fail("bad target");
	} else {
		check_err(&err);
	}
	lbuf_free(&lb);
}

static void
mode_url(const uint8_t *p, size_t len)
{
	const uint8_t *nl = memchr(p, '\n', len);
	size_t n = nl != NULL ? (size_t)(nl - p) : len;
	char *url = malloc(n + 1), *q, out[64];
	struct http_url u;
	struct pf_err err;
	int r;

	if (url == NULL)
		abort();
	memcpy(url, p, n);
	url[n] = '\0';
	if (http_url_parse(url, &u, &err) == 0) {
		if (u.host[0] == '\0' || u.path[0] != '/' || atoi(u.port) < 1 ||
		    atoi(u.port) > 65535)
			fail("accepted URL with a bad part");
		check_text(u.path, sizeof(u.path), "control byte in a path");
		if (strchr(u.path, ' ') != NULL)
			fail("space in a path");
	} else if (err.code != PF_ECONFIG) {
		fail("undocumented URL error code");
	}
	free(url);
	if (nl == NULL)
		return;
	q = malloc(len - n);
	if (q == NULL)
		abort();
	memcpy(q, nl + 1, len - n - 1);
	q[len - n - 1] = '\0';
	r = http_query_param(q, "state", out, sizeof(out));
	if (r == 1 && strlen(out) >= sizeof(out))
		fail("query value overran");
	if (r < -1 || r > 1)
		fail("query result out of range");
	free(q);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mem m;

	if (size < 1)
		return 0;
	memset(&m, 0, sizeof(m));
	m.s.ops = &mem_ops;
	m.s.fd = -1;
	m.in = data + 1;
	m.len = size - 1;
	m.chunk = (size_t)(data[0] >> 2) + 1;
	switch (data[0] & 3) {
	case 0:
	case 1:
		mode_response(&m);
		break;
	case 2:
		mode_request(&m);
		break;
	default:
		mode_url(data + 1, size - 1);
		break;
	}
	return 0;
}
