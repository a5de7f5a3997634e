/*
 * fuzz-oauth-json.c: what a token endpoint (or a token file) can say, on
 * hostile JSON.
 *
 * Byte 0 picks the mode and the HTTP status, the rest is the body:
 *   byte 0 % 3 == 0: oauth_parse_token_reply(), 1: the device reply,
 *   2: oauth_store_load() of the body written to a private file;
 *   (byte 0 / 3) % 6 picks the status: 200, 400, 401, 404, 429, 500.
 * A success must hold what oauth.h promises (a usable access token of
 * printable ASCII without spaces, bounded; a verification URI and user
 * code; sane intervals); a failure must carry a documented code, a plain
 * word as the OAuth error, and a message without control bytes and
 * without the access token the input carried (see check_msg).
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "popfetch/err.h"
#include "popfetch/oauth.h"

#include "scratch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stop with a message the crash report will show. */
static void
fail(const char *what)
{
	fprintf(stderr, "fuzz-oauth-json: %s\n", what);
	abort();
}

/* A token: 1..OAUTH_MAX_TOKEN bytes of printable ASCII, no space. */
static void
check_token(const char *t, const char *what)
{
	size_t i;

	if (t == NULL || t[0] == '\0')
		fail(what);
	for (i = 0; t[i] != '\0'; i++)
		if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f)
			fail(what);
	if (i > OAUTH_MAX_TOKEN)
		fail(what);
}

/*
 * A message: no control bytes; never the access token the input carried
 * (tested for tokens starting "SECRET", which no message of ours holds,
 * in replies without an error member, whose text may be quoted).
 */
static void
check_msg(const struct pf_err *err, const char *body)
{
	const char *at = strstr(body, "\"access_token\":\"SECRET");
	size_t i;

	for (i = 0; err->msg[i] != '\0'; i++)
		if ((unsigned char)err->msg[i] < 0x20)
			fail("control byte in a message");
	if (at != NULL && strstr(body, "error") == NULL) {
		char tok[32];
		size_t n;

		at += 16;
		n = strcspn(at, "\"\\");
		if (n >= 8 && n < sizeof(tok)) {
			memcpy(tok, at, n);
			tok[n] = '\0';
			if (strstr(err->msg, tok) != NULL)
				fail("a token in a message");
		}
	}
}

static void
check_code(enum pf_errc code)
{
	if (code != PF_ENOPERM && code != PF_ETEMP && code != PF_ECONFIG &&
	    code != PF_EDATA)
		fail("undocumented error code");
}

static void
mode_token(int status, const char *body, size_t len)
{
	struct oauth_tokens t;
	struct pf_err err;
	char code[64];
	size_t i;

	if (oauth_parse_token_reply(status, body, len, 1000000, "acct", &t,
		code, sizeof(code), &err) == 0) {
		if (status != 200)
			fail("tokens from a non-200 reply");
		check_token(t.access_token, "bad access token");
		if (t.refresh_token != NULL)
			check_token(t.refresh_token, "bad refresh token");
		if (t.expires_at != 0 && t.expires_at < 1000000)
			fail("expiry in the past");
		oauth_tokens_clear(&t);
		return;
	}
	if (t.access_token != NULL || t.refresh_token != NULL)
		fail("tokens left after a failure");
	check_code(err.code);
	for (i = 0; code[i] != '\0'; i++)
		if (!((code[i] >= 'a' && code[i] <= 'z') ||
			(code[i] >= 'A' && code[i] <= 'Z') ||
			(code[i] >= '0' && code[i] <= '9') || code[i] == '_'))
			fail("OAuth error is not a plain word");
	check_msg(&err, body);
}

static void
mode_device(int status, const char *body, size_t len)
{
	struct oauth_device d;
	struct pf_err err;

	if (oauth_parse_device_reply(status, body, len, &d, &err) == 0) {
		check_token(d.device_code, "bad device code");
		check_token(d.user_code, "bad user code");
		check_token(d.verification_uri, "bad verification URI");
		if (d.interval < 1 || d.expires_in < 1)
			fail("bad timing");
		oauth_device_clear(&d);
		return;
	}
	check_code(err.code);
	check_msg(&err, body);
}

static char store_path[300];

/* The token file: written to the private 0700 scratch directory, then
 * loaded. */
static void
mode_store(const char *body, size_t len)
{
	struct oauth_tokens t;
	struct pf_err err;

	fuzz_scratch_write(store_path, body, len);
	if (oauth_store_load(store_path, "acct", &t, &err) == 0) {
		if (t.access_token == NULL && t.refresh_token == NULL)
			fail("a token file without tokens");
		if (t.access_token != NULL)
			check_token(t.access_token, "bad stored access token");
		if (t.refresh_token != NULL)
			check_token(
			    t.refresh_token, "bad stored refresh token");
		oauth_tokens_clear(&t);
	} else {
		check_code(err.code);
		check_msg(&err, body);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int statuses[] = {200, 400, 401, 404, 429, 500};
	char *body;
	int status;

	if (store_path[0] == '\0')
		snprintf(store_path, sizeof(store_path), "%s/t.json",
		    fuzz_scratch("oauth-json"));
	if (size < 1)
		return 0;
	body = malloc(size);
	if (body == NULL)
		abort();
	memcpy(body, data + 1, size - 1);
	body[size - 1] = '\0';
	status = statuses[(data[0] / 3) % 6];
	switch (data[0] % 3) {
	case 0:
		mode_token(status, body, size - 1);
		break;
	case 1:
		mode_device(status, body, size - 1);
		break;
	default:
		mode_store(body, size - 1);
		break;
	}
	free(body);
	return 0;
}
