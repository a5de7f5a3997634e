/*
 * fuzz-sasl.c: the SASL codecs and challenge parsers on hostile input.
 *
 * Byte 0 picks the mode, the rest is the payload:
 *   0  crypto_b64_decode (bound from byte 1): a decoded string must encode
 *      back to exactly the input (strict base64), and any payload must
 *      survive encode then decode unchanged;
 *   1  SCRAM: the payload up to the first LF is the server-first message
 *      for auth_scram_final, the rest the server-final for
 *      auth_scram_verify (SHA-1 or SHA-256 by byte 1);
 *   2  auth_scram_verify alone, with a server signature taken from the
 *      payload, so its parser is reached without a valid proof;
 *   3  auth_oauth_status, auth_apop_timestamp, auth_sasl_offered.
 * High SCRAM iteration counts are skipped: they are slow, not wrong.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "popfetch/auth.h"
#include "popfetch/crypto.h"
#include "popfetch/err.h"
#include "auth-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NONCE    "fyko+d2lbbFgONRv9qkxdawL"
#define FUZZ_ITER_MAX 4096

/* Stop with a message the crash report will show. */
static void
fail(const char *what)
{
	fprintf(stderr, "fuzz-sasl: %s\n", what);
	abort();
}

/* A NUL-terminated copy of buf[0..len) of exactly len + 1 bytes. */
static char *
cstr(const uint8_t *buf, size_t len)
{
	char *s = malloc(len + 1);

	if (s == NULL)
		abort();
	memcpy(s, buf, len);
	s[len] = '\0';
	return s;
}

/* Base64 both ways: strict decoding means decode is encode's inverse. */
static void
mode_b64(const uint8_t *p, size_t len)
{
	static const size_t maxes[] = {0, 1, 2, 3, 16, 64, 16384, SIZE_MAX};
	size_t maxlen, outlen = 0;
	unsigned char *dec, *back;
	char *in, *enc;

	if (len < 1)
		return;
	maxlen = maxes[p[0] % (sizeof(maxes) / sizeof(maxes[0]))];
	in = cstr(p + 1, len - 1);
	dec = crypto_b64_decode(in, maxlen, &outlen);
	if (dec != NULL) {
		if (outlen > maxlen)
			fail("decoded more than maxlen");
		if (dec[outlen] != '\0')
			fail("decoded buffer not NUL-terminated");
		enc = crypto_b64_encode(dec, outlen);
		if (enc == NULL || strcmp(enc, in) != 0)
			fail("accepted base64 that does not re-encode");
		free(enc);
		free(dec);
	}
	enc = crypto_b64_encode(p + 1, len - 1);
	if (enc == NULL)
		fail("encode failed");
	back = crypto_b64_decode(enc, SIZE_MAX, &outlen);
	if (back == NULL || outlen != len - 1 ||
	    memcmp(back, p + 1, outlen) != 0)
		fail("decode(encode(x)) != x");
	free(back);
	free(enc);
	free(in);
}

/* True when msg has an "i=" value that would make PBKDF2 slow. */
static bool
slow_iterations(const char *msg)
{
	const char *s = msg;
	unsigned long v;
	int k;

	while ((s = strstr(s, "i=")) != NULL) {
		s += 2;
		v = 0;
		for (k = 0; k < 8 && s[k] >= '0' && s[k] <= '9'; k++)
			v = v * 10 + (unsigned long)(s[k] - '0');
		if (v > FUZZ_ITER_MAX)
			return true;
	}
	return false;
}

/* SCRAM server-first then server-final, as the exchange runs them. */
static void
mode_scram(const uint8_t *p, size_t len)
{
	struct auth_scram sc;
	struct pf_err err;
	const uint8_t *nl;
	size_t flen;
	char *first, *fin, *cf, *out;

	if (len < 1)
		return;
	nl = memchr(p + 1, '\n', len - 1);
	flen = nl != NULL ? (size_t)(nl - (p + 1)) : len - 1;
	first = cstr(p + 1, flen);
	fin = nl != NULL ? cstr(nl + 1, len - 1 - flen - 1) : cstr(p, 0);
	if (slow_iterations(first))
		goto out;
	cf = auth_scram_first(&sc, p[0] & 1, "user,=name", FUZZ_NONCE, &err);
	if (cf == NULL)
		fail("auth_scram_first failed with a fixed nonce");
	free(cf);
	out = auth_scram_final(&sc, "pencil", first, flen, &err);
	if (out == NULL) {
		if (err.code != PF_EPROTO && err.code != PF_ESOFTWARE)
			fail("auth_scram_final: unexpected error class");
	} else {
		if (strncmp(out, "c=biws,r=" FUZZ_NONCE,
			9 + strlen(FUZZ_NONCE)) != 0 ||
		    strstr(out, ",p=") == NULL)
			fail("auth_scram_final: malformed client-final");
		if (sc.sig_len == 0)
			fail("auth_scram_final: no server signature kept");
		free(out);
		if (auth_scram_verify(&sc, fin, strlen(fin), &err) == 0 &&
		    strlen(fin) < 3)
			fail("auth_scram_verify accepted a tiny message");
	}
	auth_scram_free(&sc);
out:
	free(first);
	free(fin);
}

/* The server-final parser with an arbitrary expected signature. */
static void
mode_verify(const uint8_t *p, size_t len)
{
	struct auth_scram sc;
	struct pf_err err;
	char *fin;
	size_t siglen;

	if (len < 1)
		return;
	memset(&sc, 0, sizeof(sc));
	siglen = (p[0] & 1) ? 32 : 20;
	sc.sha256 = siglen == 32;
	sc.sig_len = siglen;
	if (len - 1 >= siglen)
		memcpy(sc.server_sig, p + 1, siglen);
	fin = cstr(p + 1, len - 1);
	if (auth_scram_verify(&sc, fin, len - 1, &err) == 0 &&
	    strncmp(fin, "v=", 2) != 0)
		fail("auth_scram_verify accepted a message without v=");
	free(fin);
}

/* The small text scanners: results bounded and well-formed. */
static void
mode_misc(const uint8_t *p, size_t len)
{
	char status[32], ts[AUTH_APOP_TS_MAX + 1], *s;
	size_t n;

	s = cstr(p, len);
	memset(status, 'x', sizeof(status));
	(void)auth_oauth_status(s, len, status, sizeof(status));
	if (strnlen(status, sizeof(status)) == sizeof(status))
		fail("oauth status not terminated");
	if (auth_apop_timestamp(s, ts, sizeof(ts)) == 0) {
		n = strnlen(ts, sizeof(ts));
		if (n == sizeof(ts) || n < 3 || ts[0] != '<' ||
		    ts[n - 1] != '>' || n > AUTH_APOP_TS_MAX)
			fail("bad APOP timestamp");
	}
	(void)auth_sasl_offered(s, "PLAIN");
	(void)auth_sasl_offered(s, "SCRAM-SHA-256");
	free(s);
}

/* The libFuzzer entry point: one input, checked as described above. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 4) {
	case 0:
		mode_b64(data + 1, size - 1);
		break;
	case 1:
		mode_scram(data + 1, size - 1);
		break;
	case 2:
		mode_verify(data + 1, size - 1);
		break;
	default:
		mode_misc(data + 1, size - 1);
		break;
	}
	return 0;
}
