/*
 * test-proxy.c: proxy URLs, host:port splitting, the SOCKS5 and HTTP
 * CONNECT messages, and the reply parsers fed every prefix of each reply
 * (they must ask for more, never misread a part as the whole) and fed the
 * reply with the server's first bytes glued on (they must stop at the
 * reply's end).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "popfetch/err.h"
#include "popfetch/proxy.h"

/* One host:port case: in, then the host and port wanted (NULL: invalid). */
struct split_case {
	const char *in, *host, *port;
};

static void
test_split_hostport(void **state)
{
	static const struct split_case cases[] = {
	    {"pop.example.com", "pop.example.com", ""},
	    {"pop.example.com:995", "pop.example.com", "995"},
	    {"127.0.0.1:110", "127.0.0.1", "110"},
	    {"::1", "::1", ""},
	    {"2001:db8::1", "2001:db8::1", ""},
	    {"[::1]", "::1", ""},
	    {"[::1]:110", "::1", "110"},
	    {"[fe80::1%lo]:995", "fe80::1%lo", "995"},
	    {"host:00110", "host", "110"},
	    {"", NULL, NULL},
	    {"[::1", NULL, NULL},
	    {"[::1]x", NULL, NULL},
	    {"[::1]:", NULL, NULL},
	    {"[::1]:0", NULL, NULL},
	    {"[::1]:65536", NULL, NULL},
	    {"[]:1", NULL, NULL},
	    {"[host]", NULL, NULL},
	    {"host:", NULL, NULL},
	    {"host:abc", NULL, NULL},
	    {"host:123456", NULL, NULL},
	    {":110", NULL, NULL},
	    {"a b", NULL, NULL},
	    {"a/b", NULL, NULL},
	    {"user@host", NULL, NULL},
	    {"ho\"st", NULL, NULL},
	    {"ho\rst", NULL, NULL},
	};
	char host[64], port[8], big[400];
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rc = proxy_split_hostport(
		    cases[i].in, host, sizeof(host), port, sizeof(port));
		if (cases[i].host == NULL) {
			if (rc != -1)
				fail_msg("'%s' accepted", cases[i].in);
			continue;
		}
		if (rc != 0)
			fail_msg("'%s' refused", cases[i].in);
		assert_string_equal(host, cases[i].host);
		assert_string_equal(port, cases[i].port);
	}
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(
	    proxy_split_hostport(big, host, sizeof(host), port, sizeof(port)),
	    -1);
}

static void
test_parse_url(void **state)
{
	struct proxy_url u;
	struct pf_err err;

	(void)state;
	assert_int_equal(
	    proxy_parse_url("socks5://127.0.0.1:1080", &u, &err), 0);
	assert_int_equal(u.kind, PROXY_SOCKS5);
	assert_string_equal(u.host, "127.0.0.1");
	assert_string_equal(u.port, "1080");
	assert_string_equal(u.user, "");

	assert_int_equal(
	    proxy_parse_url("SOCKS5H://tor@localhost", &u, &err), 0);
	assert_int_equal(u.kind, PROXY_SOCKS5H);
	assert_string_equal(u.user, "tor");
	assert_string_equal(u.host, "localhost");
	assert_string_equal(u.port, "1080");

	assert_int_equal(
	    proxy_parse_url("http://a%40b%2Fc@[::1]:3128/", &u, &err), 0);
	assert_int_equal(u.kind, PROXY_HTTP);
	assert_string_equal(u.user, "a@b/c");
	assert_string_equal(u.host, "::1");
	assert_string_equal(u.port, "3128");

	assert_int_equal(proxy_parse_url("socks5://a%3Ab@h:1", &u, &err), 0);
	assert_string_equal(u.user, "a:b");
	assert_int_equal(proxy_parse_url("http://a%3Ab@h:1", &u, &err), -1);
	assert_non_null(strstr(err.msg, "cannot hold ':'"));
	assert_int_equal(proxy_parse_url("http://proxy", &u, &err), -1);
	assert_int_equal(err.code, PF_ECONFIG);
	assert_non_null(strstr(err.msg, "needs a port"));
	assert_int_equal(proxy_parse_url("ftp://h:1", &u, &err), -1);
	assert_non_null(strstr(err.msg, "socks5://"));
	assert_int_equal(proxy_parse_url("socks5://u:pw@h:1", &u, &err), -1);
	assert_non_null(strstr(err.msg, "proxy_password_command"));
	assert_null(strstr(err.msg, "pw"));
	assert_int_equal(proxy_parse_url("socks5://@h:1", &u, &err), -1);
	assert_int_equal(proxy_parse_url("socks5://u%zz@h:1", &u, &err), -1);
	assert_int_equal(proxy_parse_url("socks5://u%0a@h:1", &u, &err), -1);
	assert_int_equal(proxy_parse_url("socks5://u%4@h:1", &u, &err), -1);
	assert_int_equal(proxy_parse_url("socks5://h:99999", &u, &err), -1);
	assert_int_equal(proxy_parse_url("socks5://", &u, &err), -1);
	assert_int_equal(proxy_parse_url("socks5://h:1/x", &u, &err), -1);
}

static void
test_socks_requests(void **state)
{
	static const unsigned char greet_auth[] = {5, 2, 0, 2};
	static const unsigned char req4[] = {5, 1, 0, 1, 127, 0, 0, 1, 0, 110};
	static const unsigned char req6[] = {5, 1, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0,
	    0, 0, 0, 0, 0, 0, 0, 1, 0x03, 0xe3};
	static const unsigned char reqn[] = {
	    5, 1, 0, 3, 8, 'a', '.', 'b', '.', 't', 'e', 's', 't', 0, 110};
	static const unsigned char auth[] = {
	    1, 3, 'b', 'o', 'b', 4, 'p', 'a', 's', 's'};
	unsigned char out[PROXY_SOCKS_AUTH_MAX];
	struct pf_err err;
	char longname[300];

	(void)state;
	assert_int_equal(proxy_socks_greeting(false, out), 3);
	assert_memory_equal(out, "\x05\x01\x00", 3);
	assert_int_equal(proxy_socks_greeting(true, out), 4);
	assert_memory_equal(out, greet_auth, 4);

	assert_int_equal(
	    proxy_socks_connect_request("127.0.0.1", "110", out, &err), 10);
	assert_memory_equal(out, req4, sizeof(req4));
	assert_int_equal(
	    proxy_socks_connect_request("::1", "995", out, &err), 22);
	assert_memory_equal(out, req6, sizeof(req6));
	assert_int_equal(
	    proxy_socks_connect_request("a.b.test", "110", out, &err), 15);
	assert_memory_equal(out, reqn, sizeof(reqn));
	memset(longname, 'a', 256);
	longname[256] = '\0';
	assert_int_equal(
	    proxy_socks_connect_request(longname, "110", out, &err), 0);
	assert_int_equal(err.code, PF_ECONFIG);
	assert_int_equal(
	    proxy_socks_connect_request("a.test", "0", out, &err), 0);

	assert_int_equal(
	    proxy_socks_auth_request("bob", "pass", out, &err), sizeof(auth));
	assert_memory_equal(out, auth, sizeof(auth));
	assert_int_equal(proxy_socks_auth_request("bob", NULL, out, &err), 6);
	assert_int_equal(out[5], 0);
	assert_int_equal(proxy_socks_auth_request("", "x", out, &err), 0);
	assert_int_equal(proxy_socks_auth_request(longname, "x", out, &err), 0);
	assert_int_equal(err.code, PF_ECONFIG);
}

/*
 * Every prefix of reply[0..len) must ask for more; the whole must measure
 * len, also with bytes glued after it.
 */
static void
check_socks_splits(enum proxy_socks_step step, bool auth,
    const unsigned char *reply, size_t len, int want_value)
{
	unsigned char buf[PROXY_SOCKS_REPLY_MAX + 16];
	struct pf_err err;
	size_t i;
	int value = -1;

	for (i = 0; i < len; i++)
		if (proxy_socks_parse(step, auth, reply, i, &value, &err) != 0)
			fail_msg(
			    "prefix of %zu bytes (of %zu) not incomplete: %s",
			    i, len, err.msg);
	assert_int_equal(
	    proxy_socks_parse(step, auth, reply, len, &value, &err), (int)len);
	assert_int_equal(value, want_value);
	memcpy(buf, reply, len);
	memcpy(buf + len, "+OK hello\r\n", 11);
	assert_int_equal(
	    proxy_socks_parse(step, auth, buf, len + 11, &value, &err),
	    (int)len);
}

static void
test_socks_parse_ok(void **state)
{
	static const unsigned char r4[] = {5, 0, 0, 1, 10, 0, 0, 1, 4, 0};
	static const unsigned char r6[] = {
	    5, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 4, 0};
	static const unsigned char rn[] = {
	    5, 0, 0, 3, 5, 'p', 'r', 'o', 'x', 'y', 4, 0};
	static const unsigned char rn255[4 + 1 + 255 + 2] = {5, 0, 0, 3, 255};

	(void)state;
	check_socks_splits(
	    PROXY_SOCKS_METHOD, false, (const unsigned char *)"\x05\x00", 2, 0);
	check_socks_splits(
	    PROXY_SOCKS_METHOD, true, (const unsigned char *)"\x05\x02", 2, 2);
	check_socks_splits(
	    PROXY_SOCKS_AUTH, true, (const unsigned char *)"\x01\x00", 2, 0);
	check_socks_splits(
	    PROXY_SOCKS_AUTH, true, (const unsigned char *)"\x05\x00", 2, 0);
	check_socks_splits(PROXY_SOCKS_CONNECT, false, r4, sizeof(r4), 0);
	check_socks_splits(PROXY_SOCKS_CONNECT, false, r6, sizeof(r6), 0);
	check_socks_splits(PROXY_SOCKS_CONNECT, false, rn, sizeof(rn), 0);
	check_socks_splits(PROXY_SOCKS_CONNECT, false, rn255, sizeof(rn255), 0);
	assert_int_equal(sizeof(rn255), PROXY_SOCKS_REPLY_MAX);
}

/* A reply that must fail with code and a message holding want. */
static void
check_socks_fail(enum proxy_socks_step step, bool auth, const char *reply,
    size_t len, enum pf_errc code, const char *want)
{
	struct pf_err err;
	int value;

	memset(&err, 0, sizeof(err));
	assert_int_equal(proxy_socks_parse(step, auth,
			     (const unsigned char *)reply, len, &value, &err),
	    -1);
	if (err.code != code || strstr(err.msg, want) == NULL)
		fail_msg("got %s '%s', expected %s '%s'",
		    pf_errc_name(err.code), err.msg, pf_errc_name(code), want);
}

static void
test_socks_parse_fail(void **state)
{
	static const struct {
		int rep;
		enum pf_errc code;
		const char *text;
	} reps[] = {
	    {1, PF_ETEMP, "general SOCKS server failure (SOCKS reply 1)"},
	    {2, PF_ENOPERM, "connection not allowed by ruleset"},
	    {3, PF_ETEMP, "network unreachable"},
	    {4, PF_ETEMP, "host unreachable"},
	    {5, PF_ETEMP, "connection refused"},
	    {6, PF_ETEMP, "TTL expired"},
	    {7, PF_EUNAVAIL, "command not supported"},
	    {8, PF_EUNAVAIL, "address type not supported"},
	    {9, PF_EPROTO, "unknown reply code (SOCKS reply 9)"},
	    {0xf0, PF_ETEMP, "onion service descriptor not found"},
	    {0xf5, PF_ENOPERM, "client authorization is wrong"},
	    {0xff, PF_EPROTO, "unknown reply code"},
	};
	char reply[10] = {5, 0, 0, 1, 0, 0, 0, 0, 0, 0};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(reps) / sizeof(reps[0]); i++) {
		reply[1] = (char)reps[i].rep;
		/* known from the second octet on, before the address */
		check_socks_fail(PROXY_SOCKS_CONNECT, false, reply, 2,
		    reps[i].code, reps[i].text);
	}
	check_socks_fail(PROXY_SOCKS_METHOD, false, "\x05\xff", 2, PF_ENOPERM,
	    "requires authentication");
	check_socks_fail(PROXY_SOCKS_METHOD, true, "\x05\xff", 2, PF_ENOPERM,
	    "accepts none of our authentication methods");
	check_socks_fail(PROXY_SOCKS_METHOD, false, "\x05\x02", 2, PF_EPROTO,
	    "method 2, which was not offered");
	check_socks_fail(
	    PROXY_SOCKS_METHOD, false, "\x05\x01", 2, PF_EPROTO, "method 1");
	check_socks_fail(PROXY_SOCKS_METHOD, false, "H", 1, PF_EPROTO,
	    "does not speak SOCKS5 (its reply starts with 0x48)");
	check_socks_fail(PROXY_SOCKS_AUTH, true, "\x01\x01", 2, PF_ENOPERM,
	    "rejected the user name or password (status 1)");
	check_socks_fail(
	    PROXY_SOCKS_AUTH, true, "\x02\x00", 2, PF_EPROTO, "version 2");
	check_socks_fail(PROXY_SOCKS_CONNECT, false, "\x04\x5a", 2, PF_EPROTO,
	    "does not speak SOCKS5");
	check_socks_fail(PROXY_SOCKS_CONNECT, false, "\x05\x00\x01\x01", 4,
	    PF_EPROTO, "reserved octet");
	check_socks_fail(PROXY_SOCKS_CONNECT, false, "\x05\x00\x00\x02", 4,
	    PF_EPROTO, "address type 2");
	check_socks_fail(PROXY_SOCKS_CONNECT, false, "\x05\x00\x00\x03\x00", 5,
	    PF_EPROTO, "empty bound name");
}

static void
test_http_request(void **state)
{
	static const char plain[] =
	    "CONNECT pop.example.com:995 HTTP/1.1\r\n"
	    "Host: pop.example.com:995\r\n"
	    "User-Agent: popfetch/" POPFETCH_VERSION "\r\n\r\n";
	char out[PROXY_HTTP_REQUEST_MAX];
	struct pf_err err;

	(void)state;
	assert_int_equal(
	    proxy_http_request("pop.example.com", "995", NULL, NULL, out, &err),
	    strlen(plain));
	assert_string_equal(out, plain);
	assert_int_equal(
	    proxy_http_request("pop.example.com", "995", "", "x", out, &err),
	    strlen(plain));
	assert_true(
	    proxy_http_request("::1", "110", "bob", "s3cret", out, &err) > 0);
	assert_non_null(strstr(out, "CONNECT [::1]:110 HTTP/1.1\r\n"));
	assert_non_null(strstr(out, "Host: [::1]:110\r\n"));
	/* base64("bob:s3cret") */
	assert_non_null(
	    strstr(out, "\r\nProxy-Authorization: Basic Ym9iOnMzY3JldA==\r\n"));
	assert_non_null(strstr(out, "\r\n\r\n"));
	assert_int_equal(strlen(strstr(out, "\r\n\r\n")), 4);
	assert_true(proxy_http_request("h", "1", "bob", NULL, out, &err) > 0);
	assert_non_null(strstr(out, "Basic Ym9iOg==\r\n")); /* "bob:" */

	assert_int_equal(
	    proxy_http_request("h", "1", "b:ob", "x", out, &err), 0);
	assert_int_equal(err.code, PF_ECONFIG);
	assert_int_equal(
	    proxy_http_request("h\r\nX: y", "1", NULL, NULL, out, &err), 0);
	assert_int_equal(
	    proxy_http_request("h", "1", "b\nob", "x", out, &err), 0);
	assert_int_equal(
	    proxy_http_request("a b", "1", NULL, NULL, out, &err), 0);
}

/* Every prefix asks for more; the whole (plus glued bytes) measures hlen. */
static void
check_http_splits(const char *reply, size_t hlen, int status, const char *why)
{
	struct proxy_http_reply r;
	struct pf_err err;
	size_t i, len = strlen(reply);

	for (i = 0; i < hlen; i++)
		if (proxy_http_parse(reply, i, &r, &err) != 0)
			fail_msg("prefix of %zu bytes not incomplete: %s", i,
			    err.msg);
	assert_int_equal(proxy_http_parse(reply, hlen, &r, &err), (int)hlen);
	assert_int_equal(proxy_http_parse(reply, len, &r, &err), (int)hlen);
	assert_int_equal(r.status, status);
	assert_string_equal(r.reason, why);
}

static void
test_http_parse_ok(void **state)
{
	static const char crlf[] = "HTTP/1.1 200 Connection established\r\n"
				   "Proxy-Agent: test\r\n\r\n";
	static const char lf[] = "HTTP/1.0 200 OK\nVia: x\n\n";
	static const char bare[] = "HTTP/1.1 407\r\n\r\n";
	static const char odd[] = "HTTP/1.1 502 Bad\x1b[31m Gateway\r\n"
				  "Content-Length: 3\r\n\r\nabc";
	char buf[256];

	(void)state;
	snprintf(buf, sizeof(buf), "%s+OK greeting\r\n", crlf);
	check_http_splits(buf, strlen(crlf), 200, "Connection established");
	snprintf(buf, sizeof(buf), "%s+OK", lf);
	check_http_splits(buf, strlen(lf), 200, "OK");
	check_http_splits(bare, strlen(bare), 407, "");
	check_http_splits(odd, strlen(odd) - 3, 502, "Bad\\x1b[31m Gateway");
}

static void
test_http_parse_fail(void **state)
{
	static const char *const bad[] = {
	    "SSH-2.0-OpenSSH\r\n",
	    "\x05\x00",
	    "HTTP/2 200 OK\r\n\r\n",
	    "HTTP/1.1 20x OK\r\n\r\n",
	    "HTTP/1.1 099 Low\r\n\r\n",
	    "HTTP/1.1 600 High\r\n\r\n",
	    "HTTP/1.1 2000 Long\r\n\r\n",
	    "HTTP/1.1  200 Space\r\n\r\n",
	    "HTTP/1.1 200OK\r\n\r\n",
	};
	static char huge[PROXY_HTTP_REPLY_MAX + 64];
	struct proxy_http_reply r;
	struct pf_err err;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (proxy_http_parse(bad[i], strlen(bad[i]), &r, &err) != -1)
			fail_msg("accepted '%s'", bad[i]);
		assert_int_equal(err.code, PF_EPROTO);
	}
	assert_int_equal(proxy_http_parse("HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n",
			     27, &r, &err),
	    -1);
	assert_non_null(strstr(err.msg, "NUL"));
	memcpy(huge, "HTTP/1.1 200 OK\r\n", 17);
	for (i = 17; i < sizeof(huge); i++)
		huge[i] = i % 80 == 0 ? '\n' : 'a';
	assert_int_equal(
	    proxy_http_parse(huge, PROXY_HTTP_REPLY_MAX - 1, &r, &err), 0);
	assert_int_equal(
	    proxy_http_parse(huge, PROXY_HTTP_REPLY_MAX, &r, &err), -1);
	assert_non_null(strstr(err.msg, "longer than 16384 bytes"));
	assert_int_equal(proxy_http_parse(huge, sizeof(huge), &r, &err), -1);
}

static void
test_http_errc(void **state)
{
	static const struct {
		int status;
		enum pf_errc code;
	} map[] = {
	    {200, PF_OK},
	    {204, PF_OK},
	    {299, PF_OK},
	    {100, PF_EPROTO},
	    {301, PF_EPROTO},
	    {400, PF_EUNAVAIL},
	    {401, PF_ENOPERM},
	    {403, PF_ENOPERM},
	    {404, PF_EUNAVAIL},
	    {405, PF_EUNAVAIL},
	    {407, PF_ENOPERM},
	    {408, PF_ETEMP},
	    {429, PF_ETEMP},
	    {500, PF_ETEMP},
	    {501, PF_EUNAVAIL},
	    {502, PF_ETEMP},
	    {503, PF_ETEMP},
	    {504, PF_ETEMP},
	    {599, PF_ETEMP},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (proxy_http_errc(map[i].status) != map[i].code)
			fail_msg("status %d: got %s, want %s", map[i].status,
			    pf_errc_name(proxy_http_errc(map[i].status)),
			    pf_errc_name(map[i].code));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_split_hostport),
	    cmocka_unit_test(test_parse_url),
	    cmocka_unit_test(test_socks_requests),
	    cmocka_unit_test(test_socks_parse_ok),
	    cmocka_unit_test(test_socks_parse_fail),
	    cmocka_unit_test(test_http_request),
	    cmocka_unit_test(test_http_parse_ok),
	    cmocka_unit_test(test_http_parse_fail),
	    cmocka_unit_test(test_http_errc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
