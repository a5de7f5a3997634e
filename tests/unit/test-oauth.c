/*
 * test-oauth.c: provider presets, PKCE (RFC 7636 appendix B), token and
 * device reply handling, the freshness and warning rules, the token file
 * (modes, atomic replacement, rotation) and the cached-token path of
 * oauth_access_token() without any network.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "popfetch/oauth.h"
#include "popfetch/xmalloc.h"
#include "tmpdir.h"

static char tmpdir[256];

static int
setup_dir(void **state)
{
	(void)state;
	return tmpdir_make(tmpdir, sizeof(tmpdir), "oauth");
}

static int
teardown_dir(void **state)
{
	(void)state;
	return tmpdir_remove(tmpdir);
}

/* Path of name inside the test dir. */
static char *
tpath(const char *name)
{
	return xasprintf("%s/%s", tmpdir, name);
}

static void
test_presets(void **state)
{
	struct oauth_config cfg;
	struct oauth_client c;
	struct pf_err err;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.provider = "google";
	cfg.client_id = "id.apps.googleusercontent.com";
	assert_int_equal(oauth_client_init(&c, &cfg, &err), 0);
	assert_string_equal(c.scope, "https://mail.google.com/");
	assert_string_equal(c.token_url, "https://oauth2.googleapis.com/token");
	assert_string_equal(
	    c.authorize_url, "https://accounts.google.com/o/oauth2/v2/auth");
	assert_int_equal(c.default_flow, OAUTH_FLOW_BROWSER);
	assert_false(c.refresh_sends_scope);
	assert_int_equal(c.margin_s, OAUTH_MARGIN_S);
	oauth_client_free(&c);

	cfg.provider = "microsoft";
	assert_int_equal(oauth_client_init(&c, &cfg, &err), 0);
	assert_string_equal(c.token_url,
	    "https://login.microsoftonline.com/common/oauth2/v2.0/token");
	assert_string_equal(c.device_url,
	    "https://login.microsoftonline.com/common/oauth2/v2.0/devicecode");
	assert_string_equal(c.scope,
	    "https://outlook.office.com/POP.AccessAsUser.All offline_access");
	assert_int_equal(c.default_flow, OAUTH_FLOW_DEVICE);
	assert_string_equal(c.redirect_host, "localhost");
	assert_true(c.refresh_sends_scope);
	oauth_client_free(&c);

	cfg.tenant = "contoso.onmicrosoft.com";
	cfg.scope = "https://outlook.office.com/POP.AccessAsUser.All";
	assert_int_equal(oauth_client_init(&c, &cfg, &err), 0);
	assert_string_equal(c.authorize_url,
	    "https://login.microsoftonline.com/contoso.onmicrosoft.com/"
	    "oauth2/v2.0/authorize");
	assert_string_equal(c.scope,
	    "https://outlook.office.com/POP.AccessAsUser.All offline_access");
	oauth_client_free(&c);

	cfg.tenant = "../evil";
	assert_int_equal(oauth_client_init(&c, &cfg, &err), -1);
	assert_int_equal(err.code, PF_ECONFIG);
	oauth_client_free(&c);
	cfg.tenant = NULL;
	cfg.scope = NULL;

	/* overrides win over the preset */
	cfg.token_url = "https://127.0.0.1:8443/token";
	assert_int_equal(oauth_client_init(&c, &cfg, &err), 0);
	assert_string_equal(c.token_url, "https://127.0.0.1:8443/token");
	oauth_client_free(&c);
}

static void
test_presets_bad(void **state)
{
	struct oauth_config cfg;
	struct oauth_client c;
	struct pf_err err;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.client_id = "x";
	/* generic needs a token URL */
	assert_int_equal(oauth_client_init(&c, &cfg, &err), -1);
	assert_int_equal(err.code, PF_ECONFIG);
	assert_non_null(strstr(err.msg, "oauth2_token_url"));
	oauth_client_free(&c);
	cfg.token_url = "https://a.test/token";
	assert_int_equal(oauth_client_init(&c, &cfg, &err), 0);
	assert_int_equal(c.default_flow, OAUTH_FLOW_BROWSER);
	assert_string_equal(c.scope, "");
	oauth_client_free(&c);
	cfg.device_url = "https://a.test/device";
	assert_int_equal(oauth_client_init(&c, &cfg, &err), 0);
	assert_int_equal(c.default_flow, OAUTH_FLOW_DEVICE);
	oauth_client_free(&c);
	/* https only */
	cfg.token_url = "http://a.test/token";
	assert_int_equal(oauth_client_init(&c, &cfg, &err), -1);
	assert_int_equal(err.code, PF_ECONFIG);
	oauth_client_free(&c);
	cfg.token_url = "https://a.test/token";
	cfg.authorize_url = "https://user@a.test/";
	assert_int_equal(oauth_client_init(&c, &cfg, &err), -1);
	oauth_client_free(&c);
	cfg.authorize_url = NULL;
	cfg.provider = "yahoo";
	assert_int_equal(oauth_client_init(&c, &cfg, &err), -1);
	assert_non_null(strstr(err.msg, "yahoo"));
	oauth_client_free(&c);
	cfg.provider = "google";
	cfg.client_id = "";
	assert_int_equal(oauth_client_init(&c, &cfg, &err), -1);
	assert_non_null(strstr(err.msg, "oauth2_client_id"));
	oauth_client_free(&c);
}

static void
test_google_device_refused(void **state)
{
	struct oauth_config cfg;
	struct oauth_client c;
	struct pf_err err;
	struct oauth_ui ui;
	char *path = tpath("g/t.json"), *dir = tpath("g");

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	memset(&ui, 0, sizeof(ui));
	cfg.provider = "google";
	cfg.client_id = "x";
	cfg.account = "gmail";
	assert_int_equal(oauth_client_init(&c, &cfg, &err), 0);
	assert_int_equal(
	    oauth_authorize(&c, OAUTH_FLOW_DEVICE, &ui, path, &err), -1);
	assert_int_equal(err.code, PF_ECONFIG);
	assert_non_null(strstr(err.msg, "--authorize=browser gmail"));
	/* refused before anything was created */
	assert_int_equal(access(dir, F_OK), -1);
	oauth_client_free(&c);
	free(path);
	free(dir);
}

static void
test_pkce(void **state)
{
	char out[44];

	(void)state;
	/* RFC 7636 appendix B */
	oauth_pkce_challenge(
	    "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", out);
	assert_string_equal(out, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

/* Judge body as a 200 token reply at time 1000. */
static int
token_reply(int status, const char *body, struct oauth_tokens *t, char *code,
    struct pf_err *err)
{
	return oauth_parse_token_reply(
	    status, body, strlen(body), 1000, "work", t, code, 64, err);
}

static void
test_token_reply_good(void **state)
{
	struct oauth_tokens t;
	struct pf_err err;
	char code[64];

	(void)state;
	assert_int_equal(token_reply(200,
			     "{\"access_token\":\"at-1\",\"token_type\":"
			     "\"Bearer\",\"expires_in\":3599,"
			     "\"refresh_token\":\"rt-1\",\"scope\":\"a b\","
			     "\"refresh_token_expires_in\":604800,"
			     "\"id_token\":{\"nested\":[1,2]}}",
			     &t, code, &err),
	    0);
	assert_string_equal(t.access_token, "at-1");
	assert_string_equal(t.refresh_token, "rt-1");
	assert_string_equal(t.scope, "a b");
	assert_int_equal(t.expires_at, 1000 + 3599);
	assert_int_equal(t.refresh_expires_at, 1000 + 604800);
	assert_int_equal(t.obtained_at, 1000);
	oauth_tokens_clear(&t);
	assert_null(t.access_token);

	/* expires_in as a string (older Microsoft endpoints), lower-case
	 * token type, no refresh token, no expiry */
	assert_int_equal(token_reply(200,
			     "{\"access_token\":\"x\",\"token_type\":"
			     "\"bearer\",\"expires_in\":\"60\"}",
			     &t, code, &err),
	    0);
	assert_int_equal(t.expires_at, 1060);
	assert_null(t.refresh_token);
	assert_int_equal(t.refresh_expires_at, 0);
	oauth_tokens_clear(&t);
	assert_int_equal(
	    token_reply(200, "{\"access_token\":\"x\"}", &t, code, &err), 0);
	assert_int_equal(t.expires_at, 0);
	oauth_tokens_clear(&t);
}

struct bad_token {
	int status;
	const char *body;
	enum pf_errc code;
	const char *errcode;
	const char *in_msg;
};

static void
test_token_reply_bad(void **state)
{
	static const struct bad_token bad[] = {
	    {400,
		"{\"error\":\"invalid_grant\",\"error_description\":"
		"\"Token has been expired or revoked.\"}",
		PF_ENOPERM, "invalid_grant", "--authorize work"},
	    {400, "{\"error\":\"interaction_required\"}", PF_ENOPERM,
		"interaction_required", "--authorize work"},
	    {401, "{\"error\":\"invalid_client\"}", PF_ECONFIG,
		"invalid_client", "oauth2_client_id"},
	    {400, "{\"error\":\"invalid_scope\"}", PF_ECONFIG, "invalid_scope",
		"oauth2_scope"},
	    {400, "{\"error\":\"authorization_pending\"}", PF_ETEMP,
		"authorization_pending", NULL},
	    {400, "{\"error\":\"slow_down\"}", PF_ETEMP, "slow_down", NULL},
	    {400, "{\"error\":\"expired_token\"}", PF_ENOPERM, "expired_token",
		"--authorize work"},
	    {400, "{\"error\":\"access_denied\"}", PF_ENOPERM, "access_denied",
		"denied"},
	    {400, "{\"error\":\"authorization_declined\"}", PF_ENOPERM,
		"authorization_declined", "denied"},
	    {503, "{\"error\":\"temporarily_unavailable\"}", PF_ETEMP,
		"temporarily_unavailable", NULL},
	    {400, "{\"error\":\"invalid_request\"}", PF_ECONFIG,
		"invalid_request", NULL},
	    {200, "{\"error\":\"invalid_grant\"}", PF_ENOPERM, "invalid_grant",
		NULL},
	    {400, "{\"error\":\"bad word\"}", PF_ECONFIG, "", "unknown"},
	    {400, "{\"error\":42}", PF_ECONFIG, "", "unknown"},
	    {500, "<html>Internal Server Error</html>", PF_ETEMP, "", "500"},
	    {502, "", PF_ETEMP, "", "502"},
	    {429, "{}", PF_ETEMP, "", "429"},
	    {404, "<html>not found</html>", PF_ECONFIG, "", "404"},
	    {400, "{}", PF_ETEMP, "", "400"},
	    {200, "", PF_ETEMP, "", "JSON"},
	    {200, "{\"access_token\":\"x\"", PF_ETEMP, "", "JSON"},
	    {200, "{\"access_token\":\"x\"} trailing", PF_ETEMP, "", "JSON"},
	    {200, "[\"access_token\"]", PF_ETEMP, "", "object"},
	    {200, "\"x\"", PF_ETEMP, "", NULL},
	    {200, "{\"access_token\":\"a\",\"access_token\":\"b\"}", PF_ETEMP,
		"", "JSON"},
	    {200, "{\"token_type\":\"Bearer\"}", PF_ETEMP, "", "no access"},
	    {200, "{\"access_token\":\"\"}", PF_ETEMP, "", "unusable"},
	    {200, "{\"access_token\":\"a b\"}", PF_ETEMP, "", "unusable"},
	    {200, "{\"access_token\":\"a\\u0001b\"}", PF_ETEMP, "", "unusable"},
	    {200, "{\"access_token\":\"a\\u0000b\"}", PF_ETEMP, "", NULL},
	    {200, "{\"access_token\":\"\xc3\xa9\"}", PF_ETEMP, "", "unusable"},
	    {200, "{\"access_token\":7}", PF_ETEMP, "", "unusable"},
	    {200, "{\"access_token\":\"SECRET-AT\",\"token_type\":\"mac\"}",
		PF_ETEMP, "", "token_type"},
	    {200, "{\"access_token\":\"SECRET-AT\",\"expires_in\":-5}",
		PF_ETEMP, "", "expires_in"},
	    {200, "{\"access_token\":\"SECRET-AT\",\"expires_in\":1.5}",
		PF_ETEMP, "", "expires_in"},
	    {200, "{\"access_token\":\"SECRET-AT\",\"expires_in\":\"1e3\"}",
		PF_ETEMP, "", "expires_in"},
	    {200, "{\"access_token\":\"SECRET-AT\",\"refresh_token\":\" \"}",
		PF_ETEMP, "", "refresh_token"},
	};
	struct oauth_tokens t;
	struct pf_err err;
	char code[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err.code = PF_OK;
		if (token_reply(bad[i].status, bad[i].body, &t, code, &err) !=
		    -1)
			fail_msg("accepted case %zu", i);
		if (err.code != bad[i].code)
			fail_msg("case %zu: code %d, want %d: %s", i,
			    (int)err.code, (int)bad[i].code, err.msg);
		assert_string_equal(code, bad[i].errcode);
		if (bad[i].in_msg != NULL &&
		    strstr(err.msg, bad[i].in_msg) == NULL)
			fail_msg("case %zu: '%s' not in '%s'", i, bad[i].in_msg,
			    err.msg);
		/* no token ever reaches a message */
		assert_null(strstr(err.msg, "SECRET"));
		assert_null(t.access_token);
		assert_null(t.refresh_token);
	}
}

static void
test_token_reply_limits(void **state)
{
	struct oauth_tokens t;
	struct pf_err err;
	char code[64], *body;
	size_t n = OAUTH_MAX_JSON + 10;

	(void)state;
	/* oversized JSON */
	body = malloc(n + 1);
	memset(body, ' ', n);
	memcpy(body, "{\"access_token\":\"x\"}", 20);
	body[n] = '\0';
	assert_int_equal(token_reply(200, body, &t, code, &err), -1);
	assert_int_equal(err.code, PF_ETEMP);
	free(body);
	/* a token over OAUTH_MAX_TOKEN */
	n = OAUTH_MAX_TOKEN + 40;
	body = malloc(n + 1);
	memset(body, 'a', n);
	memcpy(body, "{\"access_token\":\"", 17);
	memcpy(body + n - 2, "\"}", 2);
	body[n] = '\0';
	assert_int_equal(token_reply(200, body, &t, code, &err), -1);
	free(body);
	/* deep nesting is refused, not a stack overflow */
	n = 100000;
	body = malloc(n + 1);
	memset(body, '[', n);
	body[0] = '{';
	body[n] = '\0';
	assert_int_equal(token_reply(200, body, &t, code, &err), -1);
	free(body);
	/* control characters in error_description are escaped */
	assert_int_equal(token_reply(400,
			     "{\"error\":\"invalid_grant\",\"error_"
			     "description\":\"\\u001b[2Jgone\"}",
			     &t, code, &err),
	    -1);
	assert_null(strchr(err.msg, 0x1b));
	assert_non_null(strstr(err.msg, "\\x1b[2Jgone"));
}

static void
test_device_reply(void **state)
{
	struct oauth_device d;
	struct pf_err err;
	const char *ms = "{\"device_code\":\"dc\",\"user_code\":\"WDJB-MJHT\","
			 "\"verification_uri\":\"https://microsoft.com/"
			 "devicelogin\",\"expires_in\":900,\"interval\":5,"
			 "\"message\":\"To sign in...\"}";
	const char *gg = "{\"device_code\":\"dc\",\"user_code\":\"GQVQ-JKEC\","
			 "\"verification_url\":\"https://www.google.com/"
			 "device\",\"expires_in\":1800}";

	(void)state;
	assert_int_equal(
	    oauth_parse_device_reply(200, ms, strlen(ms), &d, &err), 0);
	assert_string_equal(d.user_code, "WDJB-MJHT");
	assert_string_equal(
	    d.verification_uri, "https://microsoft.com/devicelogin");
	assert_null(d.verification_uri_complete);
	assert_int_equal(d.expires_in, 900);
	assert_int_equal(d.interval, 5);
	oauth_device_clear(&d);
	assert_int_equal(
	    oauth_parse_device_reply(200, gg, strlen(gg), &d, &err), 0);
	assert_string_equal(
	    d.verification_uri, "https://www.google.com/device");
	assert_int_equal(d.interval, 5);
	oauth_device_clear(&d);

	gg = "{\"device_code\":\"dc\",\"user_code\":\"U\","
	     "\"verification_uri\":\"https://x/\"}";
	assert_int_equal(
	    oauth_parse_device_reply(200, gg, strlen(gg), &d, &err), -1);
	assert_int_equal(err.code, PF_ETEMP);
	gg = "{\"device_code\":\"dc\",\"user_code\":\"U\",\"expires_in\":9,"
	     "\"verification_uri\":\"https://x/\\u001b]0;\"}";
	assert_int_equal(
	    oauth_parse_device_reply(200, gg, strlen(gg), &d, &err), -1);
	gg = "{\"device_code\":\"dc\",\"expires_in\":9,"
	     "\"verification_uri\":\"https://x/\"}";
	assert_int_equal(
	    oauth_parse_device_reply(200, gg, strlen(gg), &d, &err), -1);
	gg = "{\"error\":\"invalid_client\"}";
	assert_int_equal(
	    oauth_parse_device_reply(401, gg, strlen(gg), &d, &err), -1);
	assert_int_equal(err.code, PF_ECONFIG);
}

static void
test_fresh_and_warn(void **state)
{
	struct oauth_tokens t;
	char at[] = "a", rt[] = "r";

	(void)state;
	memset(&t, 0, sizeof(t));
	t.access_token = at;
	t.expires_at = 1000;
	assert_true(oauth_token_fresh(&t, 900, 60));
	assert_true(oauth_token_fresh(&t, 939, 60));
	assert_false(oauth_token_fresh(&t, 940, 60));
	assert_false(oauth_token_fresh(&t, 2000, 60));
	t.expires_at = 0; /* unknown expiry: never reused */
	assert_false(oauth_token_fresh(&t, 0, 60));
	t.access_token = NULL;
	t.expires_at = 1000;
	assert_false(oauth_token_fresh(&t, 0, 60));
	t.access_token = at;

	t.refresh_token = rt;
	assert_false(oauth_warn_due(&t, 5000)); /* no stated lifetime */
	t.refresh_expires_at = 100 * 86400;
	assert_false(oauth_warn_due(&t, 93 * 86400 - 1));
	assert_true(oauth_warn_due(&t, 93 * 86400));
	t.last_warned = 93 * 86400;
	assert_false(oauth_warn_due(&t, 94 * 86400 - 1));
	assert_true(oauth_warn_due(&t, 94 * 86400));
	assert_true(oauth_warn_due(&t, 101 * 86400)); /* past it: still */
	t.refresh_token = NULL;
	assert_false(oauth_warn_due(&t, 94 * 86400));
}

static void
test_store_roundtrip(void **state)
{
	struct oauth_tokens t, u;
	struct pf_err err;
	struct stat sb;
	char *dir = tpath("oauth"), *path = tpath("oauth/acct.json");
	char *tmp = xasprintf("%s.tmp", path);
	ino_t first;

	(void)state;
	memset(&t, 0, sizeof(t));
	t.access_token = xstrdup("AT-one");
	t.refresh_token = xstrdup("RT-one");
	t.scope = xstrdup("s p");
	t.expires_at = 1700000000;
	t.refresh_expires_at = 1800000000;
	t.obtained_at = 1690000000;
	t.last_warned = 5;
	assert_int_equal(oauth_store_save(path, &t, &err), 0);
	assert_int_equal(stat(dir, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	assert_int_equal(lstat(path, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(sb.st_mode & 0777, 0600);
	first = sb.st_ino;
	assert_int_equal(access(tmp, F_OK), -1);

	assert_int_equal(oauth_store_load(path, "acct", &u, &err), 0);
	assert_string_equal(u.access_token, "AT-one");
	assert_string_equal(u.refresh_token, "RT-one");
	assert_string_equal(u.scope, "s p");
	assert_int_equal(u.expires_at, 1700000000);
	assert_int_equal(u.refresh_expires_at, 1800000000);
	assert_int_equal(u.obtained_at, 1690000000);
	assert_int_equal(u.last_warned, 5);
	oauth_tokens_clear(&u);

	/* rotation: a new refresh token replaces the file, not edits it;
	 * a temp file left by a crash is no obstacle */
	assert_int_equal(symlink("/nonexistent", tmp), 0);
	xfree_secret(t.refresh_token);
	t.refresh_token = xstrdup("RT-two");
	assert_int_equal(oauth_store_save(path, &t, &err), 0);
	assert_int_equal(lstat(path, &sb), 0);
	assert_true(sb.st_ino != first);
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(oauth_store_load(path, "acct", &u, &err), 0);
	assert_string_equal(u.refresh_token, "RT-two");
	oauth_tokens_clear(&u);
	oauth_tokens_clear(&t);
	free(dir);
	free(path);
	free(tmp);
}

/* Write text to path with mode. */
static void
put_file(const char *path, const char *text, mode_t mode)
{
	FILE *fp;

	unlink(path);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	assert_int_equal(chmod(path, mode), 0);
}

static void
test_store_refusals(void **state)
{
	struct oauth_tokens t;
	struct pf_err err;
	char *dir = tpath("s2"), *path = tpath("s2/a.json");
	char *open_dir = tpath("open"), *p2 = tpath("open/a.json");
	const char *good = "{\"version\":1,\"refresh_token\":\"r\"}";
	char rt[] = "r";

	(void)state;
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(mkdir(open_dir, 0700), 0);
	/* none yet: the hint to authorize */
	assert_int_equal(oauth_store_load(path, "work", &t, &err), -1);
	assert_int_equal(err.code, PF_ENOPERM);
	assert_non_null(strstr(err.msg, "popfetch --authorize work"));

	put_file(path, good, 0600);
	assert_int_equal(oauth_store_load(path, "work", &t, &err), 0);
	oauth_tokens_clear(&t);
	put_file(path, good, 0640);
	assert_int_equal(oauth_store_load(path, "work", &t, &err), -1);
	assert_int_equal(err.code, PF_ECONFIG);
	/* a symlink to a good file is still refused */
	put_file(p2, good, 0600);
	unlink(path);
	assert_int_equal(symlink(p2, path), 0);
	assert_int_equal(oauth_store_load(path, "work", &t, &err), -1);
	assert_int_equal(err.code, PF_ECONFIG);
	unlink(path);

	put_file(path, "{\"version\":1}", 0600);
	assert_int_equal(oauth_store_load(path, "work", &t, &err), -1);
	assert_int_equal(err.code, PF_EDATA);
	put_file(path, "{\"version\":2,\"refresh_token\":\"r\"}", 0600);
	assert_int_equal(oauth_store_load(path, "work", &t, &err), -1);
	assert_int_equal(err.code, PF_EDATA);
	put_file(path, "{\"version\":1,\"refresh_token\":\"r\"", 0600);
	assert_int_equal(oauth_store_load(path, "work", &t, &err), -1);
	assert_int_equal(err.code, PF_EDATA);
	assert_non_null(strstr(err.msg, "--authorize work"));
	put_file(path,
	    "{\"version\":1,\"refresh_token\":\"r\",\"expires_at\":\"x\"}",
	    0600);
	assert_int_equal(oauth_store_load(path, "work", &t, &err), -1);
	assert_int_equal(err.code, PF_EDATA);
	put_file(path, "", 0600);
	assert_int_equal(oauth_store_load(path, "work", &t, &err), -1);
	assert_int_equal(err.code, PF_EDATA);

	/* a directory open to others is refused on save */
	assert_int_equal(chmod(open_dir, 0755), 0);
	memset(&t, 0, sizeof(t));
	t.refresh_token = rt;
	assert_int_equal(oauth_store_save(p2, &t, &err), -1);
	assert_int_equal(err.code, PF_ECONFIG);
	assert_non_null(strstr(err.msg, "chmod 700"));
	free(dir);
	free(path);
	free(open_dir);
	free(p2);
}

/* Record warnings. */
static void
warn_cb(void *ctx, const char *msg)
{
	int *n = ctx;

	(*n)++;
	assert_null(strstr(msg, "RT-"));
}

static void
test_access_token_cached(void **state)
{
	struct oauth_config cfg;
	struct oauth_client c;
	struct oauth_tokens t, u;
	struct oauth_ui ui;
	struct pf_err err;
	char *path = tpath("c/acct.json"), *tok = NULL;
	int warned = 0;
	time_t now = time(NULL);

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	memset(&ui, 0, sizeof(ui));
	ui.warn = warn_cb;
	ui.ctx = &warned;
	cfg.client_id = "id";
	cfg.account = "acct";
	/* nothing listens there: any network use fails the test */
	cfg.token_url = "https://127.0.0.1:1/token";
	cfg.timeout_ms = 2000;
	assert_int_equal(oauth_client_init(&c, &cfg, &err), 0);

	memset(&t, 0, sizeof(t));
	t.access_token = xstrdup("AT-cached");
	t.refresh_token = xstrdup("RT-x");
	t.expires_at = now + 3600;
	t.refresh_expires_at = now + 3 * 86400; /* in the last week */
	assert_int_equal(oauth_store_save(path, &t, &err), 0);
	assert_int_equal(oauth_access_token(&c, &ui, path, &tok, &err), 0);
	assert_string_equal(tok, "AT-cached");
	xfree_secret(tok);
	assert_int_equal(warned, 1);
	assert_int_equal(oauth_store_load(path, "acct", &u, &err), 0);
	assert_true(u.last_warned >= now);
	oauth_tokens_clear(&u);
	/* once a day only */
	assert_int_equal(oauth_access_token(&c, &ui, path, &tok, &err), 0);
	xfree_secret(tok);
	assert_int_equal(warned, 1);

	/* expired: a refresh is needed and the endpoint is down */
	t.expires_at = now + 30; /* inside the 60 s margin */
	assert_int_equal(oauth_store_save(path, &t, &err), 0);
	assert_int_equal(oauth_access_token(&c, &ui, path, &tok, &err), -1);
	assert_null(tok);
	assert_int_equal(err.code, PF_ETEMP);
	assert_null(strstr(err.msg, "RT-x"));

	/* expired and no refresh token */
	xfree_secret(t.refresh_token);
	t.refresh_token = NULL;
	assert_int_equal(oauth_store_save(path, &t, &err), 0);
	assert_int_equal(oauth_access_token(&c, &ui, path, &tok, &err), -1);
	assert_int_equal(err.code, PF_ENOPERM);
	assert_non_null(strstr(err.msg, "--authorize acct"));
	oauth_tokens_clear(&t);
	oauth_client_free(&c);
	free(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_presets),
	    cmocka_unit_test(test_presets_bad),
	    cmocka_unit_test(test_google_device_refused),
	    cmocka_unit_test(test_pkce),
	    cmocka_unit_test(test_token_reply_good),
	    cmocka_unit_test(test_token_reply_bad),
	    cmocka_unit_test(test_token_reply_limits),
	    cmocka_unit_test(test_device_reply),
	    cmocka_unit_test(test_fresh_and_warn),
	    cmocka_unit_test(test_store_roundtrip),
	    cmocka_unit_test(test_store_refusals),
	    cmocka_unit_test(test_access_token_cached),
	};

	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
