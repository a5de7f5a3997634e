/*
 * test-auth.c: the APOP, CRAM-MD5 and SCRAM vectors of
 * the RFCs, the mechanism policy, and whole logins against a scripted
 * peer on a socketpair.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "popfetch/auth.h"
#include "popfetch/crypto.h"
#include "popfetch/xmalloc.h"
#include "popfetch/err.h"
#include "popfetch/pop3.h"
#include "popfetch/stream.h"
#include "auth-private.h"

#include "peer.h"

/* Base64 of s (a test helper; the codec has its own tests). */
static char *
b64s(const char *s)
{
	return crypto_b64_encode(s, strlen(s));
}

/* --auth names, case-insensitive; the table is NULL-terminated. */
static void
test_mech_parse(void **state)
{
	enum auth_mech m;
	size_t i;

	(void)state;
	for (i = 0; auth_mech_names[i] != NULL; i++) {
		assert_int_equal(auth_mech_parse(auth_mech_names[i], &m), 0);
		assert_int_equal(m, (enum auth_mech)i);
	}
	assert_int_equal(i, AUTH_OAUTHBEARER + 1);
	assert_int_equal(auth_mech_parse("SCRAM-SHA-256", &m), 0);
	assert_int_equal(m, AUTH_SCRAM_SHA256);
	assert_int_equal(auth_mech_parse("Cram-MD5", &m), 0);
	assert_int_equal(m, AUTH_CRAM_MD5);
	assert_string_equal(auth_mech_names[AUTH_XOAUTH2], "xoauth2");
	assert_int_equal(auth_mech_parse("scram", &m), -1);
	assert_int_equal(auth_mech_parse("", &m), -1);
	assert_int_equal(auth_mech_parse("plain ", &m), -1);
	assert_int_equal(auth_mech_parse("digest-md5", &m), -1);
	assert_true(auth_sends_cleartext(AUTH_USER));
	assert_true(auth_sends_cleartext(AUTH_PLAIN));
	assert_true(auth_sends_cleartext(AUTH_LOGIN));
	assert_true(auth_sends_cleartext(AUTH_XOAUTH2));
	assert_true(auth_sends_cleartext(AUTH_OAUTHBEARER));
	assert_false(auth_sends_cleartext(AUTH_APOP));
	assert_false(auth_sends_cleartext(AUTH_CRAM_MD5));
	assert_false(auth_sends_cleartext(AUTH_SCRAM_SHA1));
	assert_false(auth_sends_cleartext(AUTH_SCRAM_SHA256));
}

/* RFC 1939 section 7 example. */
static void
test_apop_vector(void **state)
{
	char ts[AUTH_APOP_TS_MAX + 1], hex[33];
	struct pf_err err;

	(void)state;
	assert_int_equal(
	    auth_apop_timestamp(
		"POP3 server ready <1896.697170952@dbc.mtview.ca.us>", ts,
		sizeof(ts)),
	    0);
	assert_string_equal(ts, "<1896.697170952@dbc.mtview.ca.us>");
	assert_int_equal(auth_apop_digest(ts, "tanstaaf", hex, &err), 0);
	assert_string_equal(hex, "c4c9334bac560ecc979e58001b3e22fb");
}

/* Timestamps that are not a short printable msg-id are refused. */
static void
test_apop_timestamp_invalid(void **state)
{
	static const char *const bad[] = {
	    "ready",
	    "ready <1896.697170952.dbc>",
	    "ready <@host>",
	    "ready <id@>",
	    "ready <a b@host>",
	    "ready <a\001@host>",
	    "ready <a@b@c>",
	    "ready <a@host",
	    "ready <a\x80@host>",
	    "ready <<a@host>",
	};
	char ts[AUTH_APOP_TS_MAX + 1], big[400];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (auth_apop_timestamp(bad[i], ts, sizeof(ts)) != -1)
			fail_msg("accepted '%s'", bad[i]);
	/* 200 bytes is the limit, brackets included */
	memset(big, 'x', sizeof(big));
	big[0] = '<';
	big[100] = '@';
	big[199] = '>';
	big[200] = '\0';
	assert_int_equal(auth_apop_timestamp(big, ts, sizeof(ts)), 0);
	big[199] = 'x';
	big[200] = '>';
	big[201] = '\0';
	assert_int_equal(auth_apop_timestamp(big, ts, sizeof(ts)), -1);
}

/* RFC 2195 section 2 example. */
static void
test_cram_md5_vector(void **state)
{
	static const char chal[] = "<1896.697170952@postoffice.reston.mci.net>";
	char *r, *b;

	(void)state;
	r = auth_cram_md5_response("tim", "tanstaaftanstaaf",
	    (const unsigned char *)chal, strlen(chal));
	assert_non_null(r);
	assert_string_equal(r, "tim b913a602c7eda7a495b4e6e7334d3890");
	b = b64s(r);
	assert_string_equal(
	    b, "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw");
	free(b);
	free(r);
}

/* One RFC SCRAM example run through the client steps. */
static void
scram_example(bool sha256, const char *nonce, const char *first,
    const char *sfirst, const char *cfinal, const char *sfinal)
{
	struct auth_scram sc;
	struct pf_err err;
	char *m, *bad;

	m = auth_scram_first(&sc, sha256, "user", nonce, &err);
	assert_non_null(m);
	assert_string_equal(m, first);
	free(m);
	m = auth_scram_final(&sc, "pencil", sfirst, strlen(sfirst), &err);
	assert_non_null(m);
	assert_string_equal(m, cfinal);
	free(m);
	assert_int_equal(
	    auth_scram_verify(&sc, sfinal, strlen(sfinal), &err), 0);
	/* one flipped character in the signature */
	bad = strdup(sfinal);
	assert_non_null(bad);
	bad[3] = bad[3] == 'A' ? 'B' : 'A';
	assert_int_equal(auth_scram_verify(&sc, bad, strlen(bad), &err), -1);
	assert_int_equal(err.code, PF_ENOPERM);
	assert_string_equal(
	    err.msg, "server signature mismatch (possible impostor)");
	free(bad);
	assert_int_equal(
	    auth_scram_verify(&sc, "e=invalid-proof", 15, &err), -1);
	assert_int_equal(err.code, PF_ENOPERM);
	assert_non_null(strstr(err.msg, "invalid-proof"));
	assert_int_equal(auth_scram_verify(&sc, "x=1", 3, &err), -1);
	assert_int_equal(err.code, PF_EPROTO);
	assert_int_equal(auth_scram_verify(&sc, "v=", 2, &err), -1);
	auth_scram_free(&sc);
}

/* RFC 5802 section 5. */
static void
test_scram_sha1_vector(void **state)
{
	(void)state;
	scram_example(false, "fyko+d2lbbFgONRv9qkxdawL",
	    "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
	    "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
	    "s=QSXCR+Q6sek8bf92,i=4096",
	    "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
	    "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
	    "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=");
}

/* RFC 7677 section 3. */
static void
test_scram_sha256_vector(void **state)
{
	(void)state;
	scram_example(true, "rOprNGfwEbeRWgbNEkqO",
	    "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
	    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	    "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
	    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	    "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
}

/* Hostile server-first messages are refused before any proof is made. */
static void
test_scram_bad_server_first(void **state)
{
	static const char *const bad[] = {
	    "r=XXXX+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=4096",
	    "r=fyko+d2lbbFgONRv9qkxdawL,s=QSXCR+Q6sek8bf92,i=4096",
	    "r=fyko+d2lbbFgONRv9qkxdaw,s=QSXCR+Q6sek8bf92,i=4096",
	    "r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92,i=0",
	    "r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92,i=600001",
	    "r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92,i=1000000000",
	    "r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92,i=-1",
	    "r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92,i=4096x",
	    "r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92,i=",
	    "r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf9,i=4096",
	    "r=fyko+d2lbbFgONRv9qkxdawLx,s=,i=4096",
	    "r=fyko+d2lbbFgONRv9qkxdawLx,i=4096,s=QSXCR+Q6sek8bf92",
	    "m=ext,r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92,i=4096",
	    "r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92",
	    "r=fyko+d2lbbFgONRv9qkxdawL\001x,s=QSXCR+Q6sek8bf92,i=4096",
	    "",
	};
	struct auth_scram sc;
	struct pf_err err;
	size_t i;
	char *m;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m = auth_scram_first(
		    &sc, false, "user", "fyko+d2lbbFgONRv9qkxdawL", &err);
		free(m);
		err.code = PF_OK;
		m = auth_scram_final(
		    &sc, "pencil", bad[i], strlen(bad[i]), &err);
		if (m != NULL)
			fail_msg("accepted '%s'", bad[i]);
		assert_int_equal(err.code, PF_EPROTO);
		/* no signature was computed, so nothing can be verified */
		assert_int_equal(auth_scram_verify(&sc, "v=AAAA", 6, &err), -1);
		auth_scram_free(&sc);
	}
	/* an embedded NUL (len beyond strlen) */
	m = auth_scram_first(&sc, false, "user", "abc", &err);
	free(m);
	assert_null(auth_scram_final(
	    &sc, "pencil", "r=abcd,s=QSXCR+Q6sek8bf92,i=1\0x", 32, &err));
	auth_scram_free(&sc);
	/* the limits themselves are accepted */
	m = auth_scram_first(&sc, false, "user", "abc", &err);
	free(m);
	m = auth_scram_final(
	    &sc, "pencil", "r=abcd,s=QSXCR+Q6sek8bf92,i=1", 29, &err);
	assert_non_null(m);
	free(m);
	auth_scram_free(&sc);
}

/* ',' and '=' in the user name are escaped; a random nonce is 32 chars. */
static void
test_scram_username_nonce(void **state)
{
	struct auth_scram sc, sc2;
	struct pf_err err;
	char *m, *m2;

	(void)state;
	m = auth_scram_first(&sc, true, "a,b=c", "N", &err);
	assert_string_equal(m, "n,,n=a=2Cb=3Dc,r=N");
	free(m);
	auth_scram_free(&sc);
	m = auth_scram_first(&sc, true, "user", NULL, &err);
	m2 = auth_scram_first(&sc2, true, "user", NULL, &err);
	assert_non_null(m);
	assert_non_null(m2);
	assert_int_equal(strlen(sc.nonce), 32);
	assert_null(strchr(sc.nonce, ','));
	assert_string_not_equal(sc.nonce, sc2.nonce);
	free(m);
	free(m2);
	auth_scram_free(&sc);
	auth_scram_free(&sc2);
}

/* "status" from Google- and RFC 7628-style JSON errors. */
static void
test_oauth_status(void **state)
{
	static const char j1[] = "{\"status\":\"401\",\"schemes\":\"bearer\"}";
	static const char j2[] = "{ \"scope\": \"x\", \"status\" : 400 }";
	static const char j3[] = "{\"status\":\"\033[2Jevil\"}";
	char out[64];

	(void)state;
	assert_int_equal(
	    auth_oauth_status(j1, strlen(j1), out, sizeof(out)), 0);
	assert_string_equal(out, "401");
	assert_int_equal(
	    auth_oauth_status(j2, strlen(j2), out, sizeof(out)), 0);
	assert_string_equal(out, "400");
	assert_int_equal(
	    auth_oauth_status(j3, strlen(j3), out, sizeof(out)), 0);
	assert_null(strchr(out, '\033'));
	assert_int_equal(auth_oauth_status("{}", 2, out, sizeof(out)), -1);
	assert_int_equal(
	    auth_oauth_status("\"status\"", 8, out, sizeof(out)), -1);
}

/* A capability set for the policy table. */
static struct pop3_capa
capa_of(bool valid, bool user, const char *sasl)
{
	struct pop3_capa c;

	memset(&c, 0, sizeof(c));
	c.valid = valid;
	c.user = user;
	snprintf(c.sasl, sizeof(c.sasl), "%s", sasl);
	c.login_delay = -1;
	c.expire = -1;
	return c;
}

struct choose_case {
	enum auth_mech mech;
	bool tls, allow_plain, capa_valid, capa_user;
	const char *sasl;
	const char *greeting;
	int want; /* a mechanism, or -1 - pf_errc */
};

#define NOAUTH (-1 - (int)PF_ENOPERM)
#define GREET  "ready <1.2@host>"

/* One auth auto choice: want is a mechanism or NOAUTH. */
static void
auto_case(
    size_t i, bool tls, bool oauth, bool verified, const char *sasl, int want)
{
	struct auth_params a = {AUTH_AUTO, "user", "secret", "h", "995", tls,
	    false, oauth, verified};
	struct pop3_capa c = capa_of(true, true, sasl);
	struct pf_err err;
	enum auth_mech m = AUTH_AUTO;
	int r;

	pf_err_clear(&err);
	r = auth_choose(&a, &c, "", &m, &err);
	if (want >= 0 ? r != 0 || (int)m != want
		      : r != -1 || (int)err.code != -1 - want)
		fail_msg("case %zu: got %d/%d code %d (%s), want %d", i, r,
		    (int)m, (int)err.code, err.msg, want);
}

/* auto over TLS whose peer was checked: PLAIN first, SCRAM next
 * (docs/contract.md §1), a "verified" flag without TLS changing nothing;
 * with an OAuth token (oauth2_provider set): OAUTHBEARER, else XOAUTH2,
 * nothing else, and never without TLS. */
static void
test_choose_auto(void **state)
{
	static const struct {
		bool tls, oauth, verified;
		const char *sasl;
		int want;
	} cs[] = {
	    {true, false, true, "PLAIN SCRAM-SHA-1 SCRAM-SHA-256", AUTH_PLAIN},
	    {true, false, true, "SCRAM-SHA-1 SCRAM-SHA-256 LOGIN",
		AUTH_SCRAM_SHA256},
	    {true, false, true, "LOGIN SCRAM-SHA-1", AUTH_SCRAM_SHA1},
	    {true, false, true, "LOGIN CRAM-MD5", AUTH_LOGIN},
	    {true, false, true, "CRAM-MD5", AUTH_USER},
	    {false, false, true, "PLAIN SCRAM-SHA-1", AUTH_SCRAM_SHA1},
	    {false, false, true, "PLAIN LOGIN", NOAUTH},
	    {true, true, false, "SCRAM-SHA-256 PLAIN XOAUTH2 OAUTHBEARER",
		AUTH_OAUTHBEARER},
	    {true, true, true, "PLAIN XOAUTH2", AUTH_XOAUTH2},
	    {true, true, false, "SCRAM-SHA-256 PLAIN", NOAUTH},
	    {false, true, false, "XOAUTH2 OAUTHBEARER", NOAUTH},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cs) / sizeof(cs[0]); i++)
		auto_case(i, cs[i].tls, cs[i].oauth, cs[i].verified, cs[i].sasl,
		    cs[i].want);
}

/* The mechanism choice of docs/contract.md §1 and §5. */
static void
test_choose_table(void **state)
{
	static const struct choose_case cs[] = {
	    /* auto: strongest first */
	    {AUTH_AUTO, true, false, true, true,
		"PLAIN SCRAM-SHA-1 SCRAM-SHA-256", "", AUTH_SCRAM_SHA256},
	    {AUTH_AUTO, false, false, true, true, "PLAIN SCRAM-SHA-1", "",
		AUTH_SCRAM_SHA1},
	    {AUTH_AUTO, true, false, true, true, "LOGIN PLAIN", "", AUTH_PLAIN},
	    {AUTH_AUTO, true, false, true, true, "LOGIN CRAM-MD5", "",
		AUTH_LOGIN},
	    {AUTH_AUTO, true, false, true, true, "CRAM-MD5", GREET, AUTH_USER},
	    {AUTH_AUTO, true, false, true, false, "CRAM-MD5", GREET, NOAUTH},
	    {AUTH_AUTO, true, false, false, false, "", "", AUTH_USER},
	    {AUTH_AUTO, true, false, true, false, "XOAUTH2", "", NOAUTH},
	    /* auto without TLS: only SCRAM */
	    {AUTH_AUTO, false, false, true, true, "PLAIN LOGIN", GREET, NOAUTH},
	    {AUTH_AUTO, false, true, true, true, "PLAIN", "", NOAUTH},
	    {AUTH_AUTO, false, false, false, false, "", GREET, NOAUTH},
	    {AUTH_AUTO, false, false, true, true, "CRAM-MD5", GREET, NOAUTH},
	    /* named: must be offered, no fallback */
	    {AUTH_SCRAM_SHA256, true, false, true, true, "SCRAM-SHA-1 PLAIN",
		"", NOAUTH},
	    {AUTH_CRAM_MD5, true, false, true, true, "PLAIN", "", NOAUTH},
	    {AUTH_CRAM_MD5, false, false, true, true, "CRAM-MD5", "",
		AUTH_CRAM_MD5},
	    {AUTH_SCRAM_SHA1, false, false, true, false, "SCRAM-SHA-1", "",
		AUTH_SCRAM_SHA1},
	    {AUTH_PLAIN, true, false, false, false, "", "", NOAUTH},
	    {AUTH_USER, true, false, true, false, "PLAIN", "", NOAUTH},
	    {AUTH_USER, true, false, false, false, "", "", AUTH_USER},
	    {AUTH_APOP, false, false, true, true, "", GREET, AUTH_APOP},
	    {AUTH_APOP, true, false, true, true, "", "ready", NOAUTH},
	    {AUTH_APOP, true, false, true, true, "", "ready <x>", NOAUTH},
	    {AUTH_XOAUTH2, true, false, true, false, "XOAUTH2", "",
		AUTH_XOAUTH2},
	    {AUTH_OAUTHBEARER, true, false, true, false, "OAUTHBEARER", "",
		AUTH_OAUTHBEARER},
	    {AUTH_OAUTHBEARER, true, false, true, false, "XOAUTH2", "", NOAUTH},
	    /* named clear-text without TLS: only with allow_plain */
	    {AUTH_PLAIN, false, false, true, true, "PLAIN", "", NOAUTH},
	    {AUTH_PLAIN, false, true, true, true, "PLAIN", "", AUTH_PLAIN},
	    {AUTH_USER, false, false, true, true, "", "", NOAUTH},
	    {AUTH_USER, false, true, true, true, "", "", AUTH_USER},
	    {AUTH_LOGIN, false, true, true, true, "LOGIN", "", AUTH_LOGIN},
	    {AUTH_XOAUTH2, false, false, true, true, "XOAUTH2", "", NOAUTH},
	    {AUTH_XOAUTH2, false, true, true, true, "XOAUTH2", "",
		AUTH_XOAUTH2},
	    /* token matching is exact */
	    {AUTH_SCRAM_SHA1, true, false, true, true, "SCRAM-SHA-1-PLUS", "",
		NOAUTH},
	    {AUTH_AUTO, true, false, true, false, "SCRAM-SHA-256-PLUS", "",
		NOAUTH},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cs) / sizeof(cs[0]); i++) {
		struct auth_params a = {cs[i].mech, "user", "secret", "h",
		    "995", cs[i].tls, cs[i].allow_plain, false, false};
		struct pop3_capa c =
		    capa_of(cs[i].capa_valid, cs[i].capa_user, cs[i].sasl);
		struct pf_err err;
		enum auth_mech m = AUTH_AUTO;
		int r;

		pf_err_clear(&err);
		r = auth_choose(&a, &c, cs[i].greeting, &m, &err);
		if (cs[i].want >= 0) {
			if (r != 0 || (int)m != cs[i].want)
				fail_msg("case %zu: got %d/%d (%s), want %d", i,
				    r, (int)m, err.msg, cs[i].want);
		} else if (r != -1 || (int)err.code != -1 - cs[i].want) {
			fail_msg("case %zu: got %d code %d, want error %d", i,
			    r, (int)err.code, -1 - cs[i].want);
		}
	}
}

/* The policy messages the user sees. */
static void
test_choose_messages(void **state)
{
	struct auth_params a = {AUTH_AUTO, "user", "secret", NULL, NULL, false,
	    false, false, false};
	struct pop3_capa c = capa_of(true, true, "PLAIN");
	struct pf_err err;
	enum auth_mech m;

	(void)state;
	assert_int_equal(auth_choose(&a, &c, "", &m, &err), -1);
	assert_string_equal(err.msg,
	    "refusing to send a password over an unencrypted connection "
	    "(use TLS, or name --auth explicitly with --no-tls)");
	a.mech = AUTH_SCRAM_SHA256;
	assert_int_equal(auth_choose(&a, &c, "", &m, &err), -1);
	assert_string_equal(
	    err.msg, "server does not offer AUTH SCRAM-SHA-256");
}

/* CR, LF in the credentials: a config error naming neither. */
static void
test_choose_control_chars(void **state)
{
	static const char *const bad[] = {"a\rb", "a\nb", "\r", "x\r\n"};
	struct pop3_capa c = capa_of(true, true, "PLAIN SCRAM-SHA-256");
	struct pf_err err;
	enum auth_mech m;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct auth_params a = {AUTH_AUTO, "user", bad[i], NULL, NULL,
		    true, false, false, false};

		assert_int_equal(auth_choose(&a, &c, "", &m, &err), -1);
		assert_int_equal(err.code, PF_ECONFIG);
		assert_string_equal(err.msg,
		    "user name or password contains a control character");
		a.user = bad[i];
		a.secret = "secret";
		assert_int_equal(auth_choose(&a, &c, "", &m, &err), -1);
		assert_int_equal(err.code, PF_ECONFIG);
	}
	{
		struct auth_params a = {
		    AUTH_AUTO, "", "s", NULL, NULL, true, false, false, false};

		assert_int_equal(auth_choose(&a, &c, "", &m, &err), -1);
		assert_int_equal(err.code, PF_ECONFIG);
		a.user = "u";
		a.secret = NULL;
		assert_int_equal(auth_choose(&a, &c, "", &m, &err), -1);
		assert_int_equal(err.code, PF_ECONFIG);
	}
}

/*
 * Sessions against the scripted peer (peer.h). A script is 'S' lines the
 * server sends and 'C' lines the client must send, in order; after it the
 * client must send nothing more. The peer first sends the greeting and
 * answers CAPA with what the test announces. A dynamic peer (SCRAM)
 * answers each client line from a handler instead of a script.
 */
struct step {
	char dir;
	const char *line;
};

struct session {
	enum auth_mech mech;
	bool tls;
	const char *sasl; /* CAPA SASL line, NULL: CAPA not answered */
	const char *user, *secret;
	const char *greeting; /* the server's first line */
};

/* Whether the next run_session() announces SASL-IR in CAPA. */
static bool session_sasl_ir;

/* The peer steps of a session and the strings they point to. */
struct script {
	struct peer_step st[64];
	char *cli[64], *srv[64];
	size_t n;
};

/* s with CRLF, appended to *buf (a growing string). */
static void
add_line(char **buf, const char *s)
{
	char *n = xasprintf("%s%s\r\n", *buf != NULL ? *buf : "", s);

	free(*buf);
	*buf = n;
}

/* The peer steps of a session: greeting, CAPA, then the script (each C
 * line with the S lines after it). */
static void
session_steps(
    const struct session *ss, const struct step *script, struct script *sc)
{
	size_t k;

	memset(sc, 0, sizeof(*sc));
	add_line(&sc->srv[0],
	    ss->greeting != NULL
		? ss->greeting
		: "+OK ready <1896.697170952@dbc.mtview.ca.us>");
	add_line(&sc->cli[1], "CAPA");
	if (ss->sasl == NULL) {
		add_line(&sc->srv[1], "-ERR no CAPA here");
	} else {
		sc->srv[1] = xasprintf("+OK\r\nUSER\r\nSASL %s\r\n%s.\r\n",
		    ss->sasl, session_sasl_ir ? "SASL-IR\r\n" : "");
	}
	k = 2;
	for (; script != NULL && script->dir != '\0'; script++) {
		assert_true(k < 64);
		if (script->dir == 'C')
			add_line(&sc->cli[k++], script->line);
		else
			add_line(&sc->srv[k - 1], script->line);
	}
	sc->n = k;
	for (k = 0; k < sc->n; k++) {
		sc->st[k].client = sc->cli[k];
		sc->st[k].server = sc->srv[k];
	}
}

static void
session_steps_free(struct script *sc)
{
	size_t i;

	for (i = 0; i < sc->n; i++) {
		free(sc->cli[i]);
		free(sc->srv[i]);
	}
}

/* Run auth_login against a peer; returns its result, err and the mech
 * used, and asserts that the peer saw exactly its script. */
static int
run_session(const struct session *ss, const struct step *script,
    peer_line_fn fn, void *arg, struct pf_err *err, enum auth_mech *used)
{
	struct pop3_params par = {0};
	struct auth_params a;
	struct script sc;
	struct peer *pe;
	struct pop3 *p;
	const char *why;
	int r;

	session_steps(ss, script, &sc);
	pe = peer_new(sc.st, sc.n, 70000);
	if (fn != NULL)
		peer_set_handler(pe, fn, arg);
	p = pop3_new(peer_stream(pe), &par);
	assert_int_equal(pop3_greeting(p, err), 0);
	assert_int_equal(pop3_capa(p, err), 0);
	memset(&a, 0, sizeof(a));
	a.mech = ss->mech;
	a.user = ss->user != NULL ? ss->user : "user";
	a.secret = ss->secret != NULL ? ss->secret : "pencil";
	a.host = "h.example";
	a.port = "995";
	a.tls = ss->tls;
	pf_err_clear(err);
	r = auth_login(p, &a, used, err);
	if (r == 0)
		assert_int_equal(pop3_state(p), POP3_ST_TRANSACTION);
	pop3_free(p);
	if (!peer_done(pe, &why))
		fail_msg("peer: %s; client said: %s", why, err->msg);
	peer_free(pe);
	session_steps_free(&sc);
	return r;
}

/* AUTH PLAIN with an initial response (user, pencil). */
static void
test_session_plain(void **state)
{
	static const struct step s[] = {
	    {'C', "AUTH PLAIN AHVzZXIAcGVuY2ls"},
	    {'S', "+OK logged in"},
	    {0, NULL},
	};
	struct session ss = {AUTH_AUTO, true, "PLAIN LOGIN", NULL, NULL, NULL};
	struct pf_err err;
	enum auth_mech used;

	(void)state;
	assert_int_equal(run_session(&ss, s, NULL, NULL, &err, &used), 0);
	assert_int_equal(used, AUTH_PLAIN);
}

/* Credentials too long for one 255-octet line: AUTH PLAIN, "+ ", data. */
static void
test_session_plain_long(void **state)
{
	static char user[200], expect[300], *ir;
	struct step s[] = {
	    {'C', "AUTH PLAIN"},
	    {'S', "+ "},
	    {'C', expect},
	    {'S', "+OK logged in"},
	    {0, NULL},
	};
	struct session ss = {AUTH_PLAIN, true, "PLAIN", user, NULL, NULL};
	struct pf_err err;
	char raw[300];

	(void)state;
	memset(user, 'u', sizeof(user) - 1);
	raw[0] = '\0';
	memcpy(raw + 1, user, sizeof(user) - 1);
	raw[sizeof(user)] = '\0';
	memcpy(raw + sizeof(user) + 1, "pencil", 6);
	ir = crypto_b64_encode(raw, sizeof(user) + 7);
	snprintf(expect, sizeof(expect), "%s", ir);
	free(ir);
	assert_int_equal(run_session(&ss, s, NULL, NULL, &err, NULL), 0);
}

/* AUTH LOGIN: two challenges. */
static void
test_session_login(void **state)
{
	static const struct step s[] = {
	    {'C', "AUTH LOGIN"},
	    {'S', "+ VXNlcm5hbWU6"},
	    {'C', "dXNlcg=="},
	    {'S', "+ UGFzc3dvcmQ6"},
	    {'C', "cGVuY2ls"},
	    {'S', "+OK logged in"},
	    {0, NULL},
	};
	struct session ss = {AUTH_LOGIN, true, "LOGIN", NULL, NULL, NULL};
	struct pf_err err;

	(void)state;
	assert_int_equal(run_session(&ss, s, NULL, NULL, &err, NULL), 0);
}

/* +OK to AUTH LOGIN before the password was sent. */
static void
test_session_login_premature(void **state)
{
	static const struct step s[] = {
	    {'C', "AUTH LOGIN"},
	    {'S', "+ VXNlcm5hbWU6"},
	    {'C', "dXNlcg=="},
	    {'S', "+OK welcome"},
	    {0, NULL},
	};
	struct session ss = {AUTH_LOGIN, true, "LOGIN", NULL, NULL, NULL};
	struct pf_err err;

	(void)state;
	assert_int_equal(run_session(&ss, s, NULL, NULL, &err, NULL), -1);
	assert_int_equal(err.code, PF_EPROTO);
}

/* A "+ " after PLAIN should be over is cancelled. */
static void
test_session_plain_extra_challenge(void **state)
{
	static const struct step s[] = {
	    {'C', "AUTH PLAIN AHVzZXIAcGVuY2ls"},
	    {'S', "+ "},
	    {'C', "*"},
	    {'S', "-ERR cancelled"},
	    {0, NULL},
	};
	struct session ss = {AUTH_PLAIN, true, "PLAIN", NULL, NULL, NULL};
	struct pf_err err;

	(void)state;
	assert_int_equal(run_session(&ss, s, NULL, NULL, &err, NULL), -1);
	assert_int_equal(err.code, PF_EPROTO);
}

/* USER/PASS with CAPA not answered. */
static void
test_session_user(void **state)
{
	static const struct step s[] = {
	    {'C', "USER user"},
	    {'S', "+OK"},
	    {'C', "PASS pencil"},
	    {'S', "+OK maildrop has 0 messages"},
	    {0, NULL},
	};
	struct session ss = {AUTH_AUTO, true, NULL, NULL, NULL, NULL};
	struct pf_err err;
	enum auth_mech used;

	(void)state;
	assert_int_equal(run_session(&ss, s, NULL, NULL, &err, &used), 0);
	assert_int_equal(used, AUTH_USER);
}

/* The response codes of a failed PASS map to error classes. */
static void
test_session_pass_codes(void **state)
{
	static const struct {
		const char *reply;
		enum pf_errc code;
	} c[] = {
	    {"-ERR [AUTH] invalid password", PF_ENOPERM},
	    {"-ERR invalid password", PF_ENOPERM},
	    {"-ERR [IN-USE] mailbox locked", PF_ETEMP},
	    {"-ERR [LOGIN-DELAY] wait", PF_ETEMP},
	    {"-ERR [SYS/TEMP] try later", PF_ETEMP},
	    {"-ERR [SYS/PERM] account disabled", PF_EUNAVAIL},
	    {"-ERR [FOO] odd", PF_ENOPERM},
	};
	struct session ss = {AUTH_USER, true, "", NULL, NULL, NULL};
	struct pf_err err;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct step s[] = {
		    {'C', "USER user"},
		    {'S', "+OK"},
		    {'C', "PASS pencil"},
		    {'S', c[i].reply},
		    {0, NULL},
		};

		assert_int_equal(
		    run_session(&ss, s, NULL, NULL, &err, NULL), -1);
		if (err.code != c[i].code)
			fail_msg("'%s': got %d (%s)", c[i].reply, (int)err.code,
			    err.msg);
		assert_non_null(strstr(err.msg, "authentication failed: "));
		assert_null(strstr(err.msg, "pencil"));
	}
}

/* A control character in the password: nothing at all is sent. */
static void
test_session_ctl_nothing_sent(void **state)
{
	static const struct step s[] = {{0, NULL}};
	struct session ss = {
	    AUTH_AUTO, true, "PLAIN", NULL, "pen\r\ncil", NULL};
	struct pf_err err;

	(void)state;
	assert_int_equal(run_session(&ss, s, NULL, NULL, &err, NULL), -1);
	assert_int_equal(err.code, PF_ECONFIG);
	assert_null(strstr(err.msg, "pen"));
}

/* Without TLS and without SCRAM nothing is sent. */
static void
test_session_no_tls_refused(void **state)
{
	static const struct step s[] = {{0, NULL}};
	struct session ss = {AUTH_AUTO, false, "PLAIN LOGIN", NULL, NULL, NULL};
	struct pf_err err;

	(void)state;
	assert_int_equal(run_session(&ss, s, NULL, NULL, &err, NULL), -1);
	assert_int_equal(err.code, PF_ENOPERM);
}

/* APOP with the RFC 1939 greeting. */
static void
test_session_apop(void **state)
{
	static const struct step s[] = {
	    {'C', "APOP mrose c4c9334bac560ecc979e58001b3e22fb"},
	    {'S', "+OK maildrop has 1 message (369 octets)"},
	    {0, NULL},
	};
	struct session ss = {AUTH_APOP, false, NULL, "mrose", "tanstaaf", NULL};
	struct pf_err err;

	(void)state;
	assert_int_equal(run_session(&ss, s, NULL, NULL, &err, NULL), 0);
}

/* CRAM-MD5 with the RFC 2195 exchange. */
static void
test_session_cram(void **state)
{
	static const struct step s[] = {
	    {'C', "AUTH CRAM-MD5"},
	    {'S',
		"+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1j"
		"aS5uZXQ+"},
	    {'C', "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw"},
	    {'S', "+OK"},
	    {0, NULL},
	};
	struct session ss = {
	    AUTH_CRAM_MD5, false, "CRAM-MD5", "tim", "tanstaaftanstaaf", NULL};
	struct pf_err err;

	(void)state;
	assert_int_equal(run_session(&ss, s, NULL, NULL, &err, NULL), 0);
}

/* Invalid and empty challenges: "*" is sent, the reply read. */
static void
test_session_bad_challenges(void **state)
{
	const char *chal[] = {
	    "+ not base64!", "+ Zg=", "+ ", "+", "+ Zm9v YmFy", "+ Zm9v\tYmFy"};
	struct session ss = {AUTH_CRAM_MD5, true, "CRAM-MD5", NULL, NULL, NULL};
	struct pf_err err;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(chal) / sizeof(chal[0]); i++) {
		struct step s[] = {
		    {'C', "AUTH CRAM-MD5"},
		    {'S', chal[i]},
		    {'C', "*"},
		    {'S', "-ERR cancelled"},
		    {0, NULL},
		};

		assert_int_equal(
		    run_session(&ss, s, NULL, NULL, &err, NULL), -1);
		assert_int_equal(err.code, PF_EPROTO);
		assert_string_equal(err.msg, "invalid SASL challenge");
	}
}

/*
 * Challenges longer than the status-line buffer (valid base64, 600 and
 * 6000 characters): pop3.c drops the session as a protocol error, so
 * nothing more is sent, no "*" and above all no response.
 */
static void
test_session_oversized_challenge(void **state)
{
	static char big[6003];
	static const size_t sizes[] = {600, 6000};
	struct session ss = {AUTH_CRAM_MD5, true, "CRAM-MD5", NULL, NULL, NULL};
	struct pf_err err;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct step s[] = {
		    {'C', "AUTH CRAM-MD5"},
		    {'S', big},
		    {0, NULL},
		};

		memcpy(big, "+ ", 2);
		memset(big + 2, 'A', sizes[i]);
		big[2 + sizes[i]] = '\0';
		assert_int_equal(
		    run_session(&ss, s, NULL, NULL, &err, NULL), -1);
		assert_int_equal(err.code, PF_EPROTO);
	}
}

/* XOAUTH2 without SASL-IR: the two-step form (Office 365). */
static void
test_session_xoauth2(void **state)
{
	static const struct step s[] = {
	    {'C', "AUTH XOAUTH2"},
	    {'S', "+ "},
	    {'C', "dXNlcj11c2VyAWF1dGg9QmVhcmVyIHNFY1JlVAEB"},
	    {'S', "+OK welcome"},
	    {0, NULL},
	};
	struct session ss = {
	    AUTH_XOAUTH2, true, "XOAUTH2", NULL, "sEcReT", NULL};
	struct pf_err err;

	(void)state;
	assert_int_equal(run_session(&ss, s, NULL, NULL, &err, NULL), 0);
}

/* XOAUTH2 in one step when the server announces SASL-IR, even past the
 * 255 octets of a plain command line (a real token is that long). */
static void
test_session_xoauth2_one_step(void **state)
{
	static char token[400], line[1200], *b64;
	struct step s[] = {
	    {'C', line},
	    {'S', "+OK welcome"},
	    {0, NULL},
	};
	struct session ss = {AUTH_XOAUTH2, true, "XOAUTH2", NULL, token, NULL};
	struct pf_err err;
	char *payload;
	int r;

	(void)state;
	memset(token, 'T', sizeof(token) - 1);
	payload = xasprintf("user=user\001auth=Bearer %s\001\001", token);
	b64 = crypto_b64_encode(payload, strlen(payload));
	snprintf(line, sizeof(line), "AUTH XOAUTH2 %s", b64);
	assert_true(strlen(line) > 255);
	session_sasl_ir = true;
	r = run_session(&ss, s, NULL, NULL, &err, NULL);
	session_sasl_ir = false;
	assert_int_equal(r, 0);
	free(payload);
	free(b64);
}

/* XOAUTH2 with Google's JSON error: empty response, then -ERR. */
static void
test_session_xoauth2_error(void **state)
{
	static const struct step s[] = {
	    {'C', "AUTH XOAUTH2"},
	    {'S', "+ "},
	    {'C', "dXNlcj11c2VyAWF1dGg9QmVhcmVyIHNFY1JlVAEB"},
	    {'S',
		"+ eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIiwi"
		"c2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNvbS8ifQ=="},
	    {'C', ""},
	    {'S', "-ERR [AUTH] Invalid credentials"},
	    {0, NULL},
	};
	struct session ss = {
	    AUTH_XOAUTH2, true, "XOAUTH2", NULL, "sEcReT", NULL};
	struct pf_err err;

	(void)state;
	assert_int_equal(run_session(&ss, s, NULL, NULL, &err, NULL), -1);
	assert_int_equal(err.code, PF_ENOPERM);
	assert_non_null(strstr(err.msg, "status 401"));
	assert_null(strstr(err.msg, "sEcReT"));
}

/* OAUTHBEARER error: the dummy response is base64 of 0x01. */
static void
test_session_oauthbearer_error(void **state)
{
	static const struct step s[] = {
	    {'C',
		"AUTH OAUTHBEARER bixhPXVzZXIsAWhvc3Q9aC5leGFtcGxl"
		"AXBvcnQ9OTk1AWF1dGg9QmVhcmVyIHNFY1JlVAEB"},
	    {'S',
		"+ eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NvcGUiOiJ4"
		"In0="},
	    {'C', "AQ=="},
	    {'S', "-ERR authentication failed"},
	    {0, NULL},
	};
	struct session ss = {
	    AUTH_OAUTHBEARER, true, "OAUTHBEARER", NULL, "sEcReT", NULL};
	struct pf_err err;

	(void)state;
	assert_int_equal(run_session(&ss, s, NULL, NULL, &err, NULL), -1);
	assert_int_equal(err.code, PF_ENOPERM);
	assert_non_null(strstr(err.msg, "invalid_token"));
}

/* What the SCRAM peer should do, and how far it got. */
struct scram_peer {
	bool sha256;
	int mode;  /* 0 honest, 1 wrong signature, 2 nonce not ours */
	int stage; /* 0 AUTH, 1 client-final, 2 "", 3 "*", 4 done */
	char cfirst[512], sfirst[512];
	unsigned char salted[64];
};

/* Decode a base64 line from the client; NULL when it is not. */
static char *
peer_b64(const char *line)
{
	size_t len;
	char *d = (char *)crypto_b64_decode(line, 4096, &len);

	if (d != NULL && strlen(d) != len) {
		free(d);
		d = NULL;
	}
	return d;
}

/* Send "+ " and the base64 of text. */
static void
send_challenge(struct peer *pe, const char *text)
{
	char *b = b64s(text), *line = xasprintf("+ %s", b);

	peer_line(pe, line);
	free(line);
	free(b);
}

/* SCRAM stage 0: "AUTH SCRAM-... client-first": send server-first. */
static int
scram_first(struct peer *pe, struct scram_peer *sp, const char *line)
{
	static const unsigned char salt[] = "NaCl-salt-16byte";
	const char *mech = sp->sha256 ? "SCRAM-SHA-256" : "SCRAM-SHA-1";
	size_t mlen = strlen(mech);
	char *cf, *saltb;

	if (strncmp(line, "AUTH ", 5) != 0 ||
	    strncmp(line + 5, mech, mlen) != 0 || line[5 + mlen] != ' ' ||
	    (cf = peer_b64(line + 6 + mlen)) == NULL)
		return -1;
	if (strncmp(cf, "n,,n=user,r=", 12) != 0 || strlen(cf + 12) != 32) {
		free(cf);
		return -1;
	}
	snprintf(sp->cfirst, sizeof(sp->cfirst), "%s", cf + 3);
	saltb = crypto_b64_encode(salt, 16);
	snprintf(sp->sfirst, sizeof(sp->sfirst), "r=%s%s,s=%s,i=4096",
	    sp->mode == 2 ? "X" : cf + 12, "srvNONCE", saltb);
	PKCS5_PBKDF2_HMAC("pencil", 6, salt, 16, 4096,
	    sp->sha256 ? EVP_sha256() : EVP_sha1(), sp->sha256 ? 32 : 20,
	    sp->salted);
	free(saltb);
	free(cf);
	send_challenge(pe, sp->sfirst);
	sp->stage = sp->mode == 2 ? 3 : 1;
	return 0;
}

/* SCRAM stage 1: check the client proof (RFC 5802 section 3), send the
 * server signature (spoilt in mode 1). */
static int
scram_final(struct peer *pe, struct scram_peer *sp, const char *line)
{
	const EVP_MD *md = sp->sha256 ? EVP_sha256() : EVP_sha1();
	size_t dlen = (size_t)EVP_MD_size(md), plen, i;
	unsigned char ckey[64], stored[64], csig[64], skey[64], ssig[64];
	unsigned char *proof;
	char authmsg[2048], *cfin, *p, *b, *v;
	unsigned int ol;
	int ok = 0;

	if ((cfin = peer_b64(line)) == NULL)
		return -1;
	if ((p = strstr(cfin, ",p=")) == NULL) {
		free(cfin);
		return -1;
	}
	*p = '\0';
	snprintf(
	    authmsg, sizeof(authmsg), "%s,%s,%s", sp->cfirst, sp->sfirst, cfin);
	HMAC(md, sp->salted, (int)dlen, (const unsigned char *)"Client Key", 10,
	    ckey, &ol);
	EVP_Digest(ckey, dlen, stored, NULL, md, NULL);
	HMAC(md, stored, (int)dlen, (const unsigned char *)authmsg,
	    strlen(authmsg), csig, &ol);
	proof = crypto_b64_decode(p + 3, 64, &plen);
	if (proof != NULL && plen == dlen) {
		ok = 1;
		for (i = 0; i < dlen; i++)
			if ((proof[i] ^ csig[i]) != ckey[i])
				ok = 0; /* wrong proof */
	}
	free(proof);
	free(cfin);
	if (!ok)
		return -1;
	HMAC(md, sp->salted, (int)dlen, (const unsigned char *)"Server Key", 10,
	    skey, &ol);
	HMAC(md, skey, (int)dlen, (const unsigned char *)authmsg,
	    strlen(authmsg), ssig, &ol);
	if (sp->mode == 1)
		ssig[0] ^= 1;
	b = crypto_b64_encode(ssig, dlen);
	v = xasprintf("v=%s", b);
	send_challenge(pe, v);
	free(v);
	free(b);
	sp->stage = sp->mode == 1 ? 3 : 2;
	return 0;
}

/* The server half of SCRAM for user "user" and password "pencil". */
static int
peer_scram(struct peer *pe, const char *line, size_t len, void *arg)
{
	struct scram_peer *sp = arg;

	(void)len;
	switch (sp->stage) {
	case 0:
		return scram_first(pe, sp, line);
	case 1:
		return scram_final(pe, sp, line);
	case 2: /* the empty answer to the server signature */
		if (line[0] != '\0')
			return -1;
		peer_line(pe, "+OK logged in");
		break;
	case 3: /* the client cancelled */
		if (strcmp(line, "*") != 0)
			return -1;
		peer_line(pe, "-ERR cancelled");
		break;
	default:
		return -1;
	}
	sp->stage = 4;
	return 0;
}

/* Full SCRAM-SHA-256 and SCRAM-SHA-1 exchanges with an honest server. */
static void
test_session_scram(void **state)
{
	struct scram_peer sp256 = {.sha256 = true}, sp1 = {.sha256 = false};
	struct session ss = {AUTH_AUTO, false,
	    "PLAIN SCRAM-SHA-1 "
	    "SCRAM-SHA-256",
	    NULL, NULL, NULL};
	struct pf_err err;
	enum auth_mech used;

	(void)state;
	assert_int_equal(
	    run_session(&ss, NULL, peer_scram, &sp256, &err, &used), 0);
	assert_int_equal(used, AUTH_SCRAM_SHA256);
	assert_int_equal(sp256.stage, 4);
	ss.sasl = "SCRAM-SHA-1";
	assert_int_equal(
	    run_session(&ss, NULL, peer_scram, &sp1, &err, &used), 0);
	assert_int_equal(used, AUTH_SCRAM_SHA1);
	assert_int_equal(sp1.stage, 4);
}

/* A server that cannot prove it knows the password is refused. */
static void
test_session_scram_bad_signature(void **state)
{
	struct scram_peer sp = {.sha256 = true, .mode = 1};
	struct session ss = {
	    AUTH_SCRAM_SHA256, false, "SCRAM-SHA-256", NULL, NULL, NULL};
	struct pf_err err;

	(void)state;
	assert_int_equal(
	    run_session(&ss, NULL, peer_scram, &sp, &err, NULL), -1);
	assert_int_equal(err.code, PF_ENOPERM);
	assert_string_equal(
	    err.msg, "server signature mismatch (possible impostor)");
	assert_int_equal(sp.stage, 4); /* cancelled with "*" */
}

/* A server nonce that does not extend ours: cancelled. */
static void
test_session_scram_bad_nonce(void **state)
{
	struct scram_peer sp = {.sha256 = true, .mode = 2};
	struct session ss = {
	    AUTH_SCRAM_SHA256, false, "SCRAM-SHA-256", NULL, NULL, NULL};
	struct pf_err err;

	(void)state;
	assert_int_equal(
	    run_session(&ss, NULL, peer_scram, &sp, &err, NULL), -1);
	assert_int_equal(err.code, PF_EPROTO);
	assert_int_equal(sp.stage, 4); /* cancelled with "*" */
}

/* +OK right after the client proof, without the server signature. */
static int
peer_scram_no_final(struct peer *pe, const char *line, size_t len, void *arg)
{
	struct scram_peer *sp = arg;
	char sfirst[256], *cf;

	(void)len;
	if (sp->stage == 1) {
		peer_line(pe, "+OK logged in");
		sp->stage = 4;
		return 0;
	}
	if (sp->stage != 0 || strncmp(line, "AUTH SCRAM-SHA-256 ", 19) != 0 ||
	    (cf = peer_b64(line + 19)) == NULL)
		return -1;
	snprintf(
	    sfirst, sizeof(sfirst), "r=%sX,s=QSXCR+Q6sek8bf92,i=4096", cf + 12);
	free(cf);
	send_challenge(pe, sfirst);
	sp->stage = 1;
	return 0;
}

/* Success without the server-final message is not accepted. */
static void
test_session_scram_no_final(void **state)
{
	struct session ss = {
	    AUTH_SCRAM_SHA256, true, "SCRAM-SHA-256", NULL, NULL, NULL};
	struct scram_peer sp = {.sha256 = true};
	struct pf_err err;

	(void)state;
	assert_int_equal(
	    run_session(&ss, NULL, peer_scram_no_final, &sp, &err, NULL), -1);
	assert_int_equal(err.code, PF_EPROTO);
	assert_int_equal(sp.stage, 4);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mech_parse),
	    cmocka_unit_test(test_apop_vector),
	    cmocka_unit_test(test_apop_timestamp_invalid),
	    cmocka_unit_test(test_cram_md5_vector),
	    cmocka_unit_test(test_scram_sha1_vector),
	    cmocka_unit_test(test_scram_sha256_vector),
	    cmocka_unit_test(test_scram_bad_server_first),
	    cmocka_unit_test(test_scram_username_nonce),
	    cmocka_unit_test(test_oauth_status),
	    cmocka_unit_test(test_choose_table),
	    cmocka_unit_test(test_choose_auto),
	    cmocka_unit_test(test_choose_messages),
	    cmocka_unit_test(test_choose_control_chars),
	    cmocka_unit_test(test_session_plain),
	    cmocka_unit_test(test_session_plain_long),
	    cmocka_unit_test(test_session_plain_extra_challenge),
	    cmocka_unit_test(test_session_login),
	    cmocka_unit_test(test_session_login_premature),
	    cmocka_unit_test(test_session_user),
	    cmocka_unit_test(test_session_pass_codes),
	    cmocka_unit_test(test_session_ctl_nothing_sent),
	    cmocka_unit_test(test_session_no_tls_refused),
	    cmocka_unit_test(test_session_apop),
	    cmocka_unit_test(test_session_cram),
	    cmocka_unit_test(test_session_bad_challenges),
	    cmocka_unit_test(test_session_oversized_challenge),
	    cmocka_unit_test(test_session_xoauth2),
	    cmocka_unit_test(test_session_xoauth2_one_step),
	    cmocka_unit_test(test_session_xoauth2_error),
	    cmocka_unit_test(test_session_oauthbearer_error),
	    cmocka_unit_test(test_session_scram),
	    cmocka_unit_test(test_session_scram_bad_signature),
	    cmocka_unit_test(test_session_scram_bad_nonce),
	    cmocka_unit_test(test_session_scram_no_final),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
