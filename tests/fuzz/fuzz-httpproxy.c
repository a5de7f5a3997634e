/*
 * fuzz-httpproxy.c: the HTTP CONNECT reply parser, and the request
 * builder, on hostile bytes.
 *
 * Input: what the proxy sent. Checked against what proxy.h promises:
 * - a complete header measures at most the input and
 *   PROXY_HTTP_REPLY_MAX bytes and ends in an empty line; its shorter
 *   prefixes ask for more (all of them for short headers, the last few
 *   otherwise), so no part is taken for the whole and no byte after the
 *   header (the server's greeting) is consumed;
 * - the status is 100..599, the reason printable and terminated, and
 *   proxy_http_errc() gives a class the conn module maps;
 * - "more, please" only below PROXY_HTTP_REPLY_MAX bytes; an error is
 *   PF_EPROTO with a printable message.
 * The input is also split into host, user and password for
 * proxy_http_request(): whatever they hold, the request is "CONNECT ..."
 * with exactly its own line ends (no header injection).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "popfetch/err.h"
#include "popfetch/proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stop with a message the crash report will show. */
static void
fail(const char *what)
{
	fprintf(stderr, "fuzz-httpproxy: %s\n", what);
	abort();
}

/* True when s[0..n) is printable ASCII. */
static bool
printable(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

/* The reply parser on buf[0..len). */
static void
check_reply(const char *buf, size_t len)
{
	struct proxy_http_reply r, r2;
	struct pf_err err;
	enum pf_errc c;
	size_t i, n;
	int k;

	memset(&err, 0, sizeof(err));
	k = proxy_http_parse(buf, len, &r, &err);
	if (k < 0) {
		n = strnlen(err.msg, sizeof(err.msg));
		if (err.code != PF_EPROTO || n == 0 || n == sizeof(err.msg) ||
		    !printable(err.msg, n))
			fail("bad error");
		return;
	}
	if (k == 0) {
		if (len >= PROXY_HTTP_REPLY_MAX)
			fail("asks for more beyond the header limit");
		return;
	}
	if ((size_t)k > len || k > PROXY_HTTP_REPLY_MAX || buf[k - 1] != '\n')
		fail("complete header of an impossible length");
	if (k < 2 ||
	    (buf[k - 2] != '\n' &&
		!(k >= 3 && buf[k - 2] == '\r' && buf[k - 3] == '\n')))
		fail("header does not end in an empty line");
	if (r.status < 100 || r.status > 599)
		fail("status out of range");
	n = strnlen(r.reason, sizeof(r.reason));
	if (n == sizeof(r.reason) || !printable(r.reason, n))
		fail("reason not printable or not terminated");
	c = proxy_http_errc(r.status);
	if (c != PF_OK && c != PF_ENOPERM && c != PF_EUNAVAIL &&
	    c != PF_ETEMP && c != PF_EPROTO)
		fail("unexpected class for a status");
	for (i = (size_t)k > 512 ? (size_t)k - 4 : 0; i < (size_t)k; i++)
		if (proxy_http_parse(buf, i, &r2, &err) != 0)
			fail("a prefix of a complete header is not incomplete");
	if (proxy_http_parse(buf, (size_t)k, &r2, &err) != k ||
	    r2.status != r.status)
		fail("the header alone measures differently");
}

/* The request from host, user and password cut out of the input. */
static void
check_request(const char *buf, size_t len)
{
	char host[300], user[300], pass[300], out[PROXY_HTTP_REQUEST_MAX];
	size_t a = len / 3, b = 2 * len / 3, n, i, crlf = 0, lines;
	struct pf_err err;

	if (a >= sizeof(host) || b - a >= sizeof(user) ||
	    len - b >= sizeof(pass))
		return;
	memcpy(host, buf, a);
	host[a] = '\0';
	memcpy(user, buf + a, b - a);
	user[b - a] = '\0';
	memcpy(pass, buf + b, len - b);
	pass[len - b] = '\0';
	n = proxy_http_request(host, "110", user, pass, out, &err);
	if (n == 0) {
		if (err.code != PF_ECONFIG)
			fail("request error not PF_ECONFIG");
		return;
	}
	if (n >= sizeof(out) || out[n] != '\0' || strlen(out) != n ||
	    strncmp(out, "CONNECT ", 8) != 0)
		fail("malformed request");
	for (i = 0; i < n; i++) {
		if (out[i] == '\n' && (i == 0 || out[i - 1] != '\r'))
			fail("bare LF in the request");
		if (out[i] == '\r' && out[i + 1] != '\n')
			fail("bare CR in the request");
		if (out[i] == '\n')
			crlf++;
	}
	/* CONNECT, Host, User-Agent, [Proxy-Authorization,] empty line */
	lines = user[0] != '\0' ? 5 : 4;
	if (crlf != lines || strcmp(out + n - 4, "\r\n\r\n") != 0)
		fail("the request has lines of someone else's making");
}

/* The libFuzzer entry point: one input, checked as described above. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf;

	/* an exact-size copy lets ASan see any read past the end */
	if ((buf = malloc(size > 0 ? size : 1)) == NULL)
		abort();
	memcpy(buf, data, size);
	check_reply(buf, size);
	check_request(buf, size);
	free(buf);
	return 0;
}
