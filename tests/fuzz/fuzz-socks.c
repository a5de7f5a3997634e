/*
 * fuzz-socks.c: the SOCKS5 reply parser and the proxy URL and host:port
 * parsers on hostile bytes.
 *
 * Input: the first byte picks what to fuzz (low two bits: the SOCKS5
 * step METHOD, AUTH or CONNECT, or 3 for the URL parser; bit 2: user name
 * authentication was offered); the rest is what the proxy sent (or the
 * URL). Checked against what proxy.h promises:
 * - a complete reply measures at least 2 and at most the input and
 *   PROXY_SOCKS_REPLY_MAX bytes, and every shorter prefix of it asks for
 *   more (so no part is taken for the whole and nothing after the reply
 *   would be consumed); the value is set; only methods 0 and offered 2
 *   pass;
 * - "more, please" only below PROXY_SOCKS_REPLY_MAX bytes;
 * - a failure has a class the conn module maps and a printable message;
 * - an accepted URL has a non-empty host without brackets, a port of 1 to
 *   65535, and splitting its host:port again gives the same parts.
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
	fprintf(stderr, "fuzz-socks: %s\n", what);
	abort();
}

/* An error must carry a class the caller maps and a printable line. */
static void
check_err(const struct pf_err *err)
{
	size_t i, n = strnlen(err->msg, sizeof(err->msg));

	if (err->code != PF_ETEMP && err->code != PF_ENOPERM &&
	    err->code != PF_EUNAVAIL && err->code != PF_EPROTO)
		fail("unexpected error class");
	if (n == 0 || n == sizeof(err->msg))
		fail("empty or unterminated message");
	for (i = 0; i < n; i++)
		if ((unsigned char)err->msg[i] < 0x20 ||
		    (unsigned char)err->msg[i] > 0x7e)
			fail("message not printable");
}

/* The reply parser on buf[0..len) for one step. */
static void
check_reply(
    enum proxy_socks_step step, bool auth, const unsigned char *buf, size_t len)
{
	struct pf_err err;
	int r, value = -1, v2;
	size_t i;

	memset(&err, 0, sizeof(err));
	r = proxy_socks_parse(step, auth, buf, len, &value, &err);
	if (r < 0) {
		check_err(&err);
		return;
	}
	if (r == 0) {
		if (len >= PROXY_SOCKS_REPLY_MAX)
			fail("asks for more beyond the longest reply");
		return;
	}
	if (r < 2 || (size_t)r > len || r > PROXY_SOCKS_REPLY_MAX)
		fail("complete reply of an impossible length");
	if (value < 0 || value > 255)
		fail("value not set");
	if (step == PROXY_SOCKS_METHOD && value != 0 && !(auth && value == 2))
		fail("a method we did not offer passed");
	if (step != PROXY_SOCKS_METHOD && value != 0)
		fail("a refusal passed");
	for (i = 0; i < (size_t)r; i++)
		if (proxy_socks_parse(step, auth, buf, i, &v2, &err) != 0)
			fail("a prefix of a complete reply is not incomplete");
	if (proxy_socks_parse(step, auth, buf, (size_t)r, &v2, &err) != r)
		fail("the reply alone measures differently");
}

/* The URL parser, and host:port splitting of what it accepted. */
static void
check_url(const uint8_t *data, size_t size)
{
	char url[600], again[600], host[PROXY_NAME_MAX + 1], port[8];
	struct proxy_url u;
	struct pf_err err;
	long p;

	if (size >= sizeof(url))
		size = sizeof(url) - 1;
	memcpy(url, data, size);
	url[size] = '\0';
	if (proxy_parse_url(url, &u, &err) < 0) {
		if (err.code != PF_ECONFIG)
			fail("URL error not PF_ECONFIG");
		return;
	}
	if (u.host[0] == '\0' || strpbrk(u.host, "[]@/ ") != NULL)
		fail("accepted host is empty or holds a delimiter");
	p = strtol(u.port, NULL, 10);
	if (p < 1 || p > 65535)
		fail("accepted port out of range");
	if ((unsigned)u.kind > PROXY_HTTP)
		fail("unknown kind");
	snprintf(again, sizeof(again),
	    strchr(u.host, ':') != NULL ? "[%s]:%s" : "%s:%s", u.host, u.port);
	if (proxy_split_hostport(
		again, host, sizeof(host), port, sizeof(port)) != 0 ||
	    strcmp(host, u.host) != 0 || strcmp(port, u.port) != 0)
		fail("host:port does not split back into its parts");
}

/* The libFuzzer entry point: one input, checked as described above. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *buf;
	unsigned sel;

	if (size < 1)
		return 0;
	sel = data[0];
	if ((sel & 3) == 3) {
		check_url(data + 1, size - 1);
		return 0;
	}
	/* an exact-size copy lets ASan see any read past the end */
	if ((buf = malloc(size - 1 + 1)) == NULL)
		abort();
	memcpy(buf, data + 1, size - 1);
	check_reply(
	    (enum proxy_socks_step)(sel & 3), (sel & 4) != 0, buf, size - 1);
	free(buf);
	return 0;
}
