/*
 * oauth.c: provider presets, the device and browser authorization flows,
 * and the access token of a run: cached, or refreshed and stored first
 * (oauth.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "popfetch/http.h"
#include "popfetch/log.h"
#include "popfetch/oauth.h"
#include "popfetch/xmalloc.h"
#include "compat.h"
#include "oauth-private.h"

const char *const oauth_provider_names[] = {
    [OAUTH_GENERIC] = "generic",
    [OAUTH_GOOGLE] = "google",
    [OAUTH_MICROSOFT] = "microsoft",
    NULL,
};

#define OAUTH_GOOGLE_SCOPE "https://mail.google.com/"
#define OAUTH_MS_SCOPE	   "https://outlook.office.com/POP.AccessAsUser.All"
#define OAUTH_MS_BASE	   "https://login.microsoftonline.com/"
#define OAUTH_DEVICE_GRANT "urn:ietf:params:oauth:grant-type:device_code"

/* Consecutive temporary failures tolerated while polling. */
#define OAUTH_POLL_RETRIES 3

/* A copy of s, or NULL for NULL or "". */
static char *
oauth_dup(const char *s)
{
	return s != NULL && *s != '\0' ? xstrdup(s) : NULL;
}

/* A tenant is a GUID, a domain name, "common", "organizations", ... */
static bool
oauth_tenant_ok(const char *t)
{
	size_t i;

	for (i = 0; t[i] != '\0'; i++)
		if (!((t[i] >= 'a' && t[i] <= 'z') ||
			(t[i] >= 'A' && t[i] <= 'Z') ||
			(t[i] >= '0' && t[i] <= '9') || t[i] == '-' ||
			t[i] == '.'))
			return false;
	return i > 0 && i <= 128;
}

/* The endpoints and scope of a preset, before the user's overrides. */
static int
oauth_preset(
    struct oauth_client *c, const struct oauth_config *cfg, struct pf_err *err)
{
	const char *tenant = cfg->tenant != NULL ? cfg->tenant : "common";

	c->redirect_host = "127.0.0.1";
	c->extra_authorize = "";
	c->default_flow = OAUTH_FLOW_DEVICE;
	switch (c->provider) {
	case OAUTH_GOOGLE:
		c->authorize_url =
		    xstrdup("https://accounts.google.com/o/oauth2/v2/auth");
		c->token_url = xstrdup("https://oauth2.googleapis.com/token");
		c->device_url =
		    xstrdup("https://oauth2.googleapis.com/device/code");
		c->scope = xstrdup(OAUTH_GOOGLE_SCOPE);
		/* Google's device flow refuses the Gmail scope */
		c->default_flow = OAUTH_FLOW_BROWSER;
		c->extra_authorize = "access_type=offline";
		break;
	case OAUTH_MICROSOFT:
		if (!oauth_tenant_ok(tenant))
			return pf_err_set(err, PF_ECONFIG,
			    "invalid oauth2_tenant '%s': use a tenant id, a "
			    "domain name, 'common', 'organizations' or "
			    "'consumers'",
			    tenant);
		c->authorize_url =
		    xasprintf(OAUTH_MS_BASE "%s/oauth2/v2.0/authorize", tenant);
		c->token_url =
		    xasprintf(OAUTH_MS_BASE "%s/oauth2/v2.0/token", tenant);
		c->device_url = xasprintf(
		    OAUTH_MS_BASE "%s/oauth2/v2.0/devicecode", tenant);
		c->scope = xstrdup(OAUTH_MS_SCOPE " offline_access");
		/* the app registration lists http://localhost */
		c->redirect_host = "localhost";
		c->refresh_sends_scope = true;
		break;
	case OAUTH_GENERIC:
		c->scope = xstrdup("");
		break;
	}
	return 0;
}

/* Replace *slot with the user's value when there is one. */
static void
oauth_override(char **slot, const char *value)
{
	if (value == NULL || *value == '\0')
		return;
	free(*slot);
	*slot = xstrdup(value);
}

/* An endpoint URL must parse and be https. */
static int
oauth_check_url(const char *key, const char *url, struct pf_err *err)
{
	struct http_url u;

	if (url == NULL)
		return 0;
	if (http_url_parse(url, &u, err) == -1)
		return pf_err_prefix(err, "%s", key);
	if (!u.tls)
		return pf_err_set(
		    err, PF_ECONFIG, "%s must be an https:// URL", key);
	return 0;
}

/* Microsoft issues no refresh token without offline_access. */
static void
oauth_ms_offline(struct oauth_client *c)
{
	char *s;

	if (strstr(c->scope, "offline_access") != NULL)
		return;
	s = xasprintf("%s%soffline_access", c->scope, *c->scope ? " " : "");
	free(c->scope);
	c->scope = s;
}

int
oauth_client_init(
    struct oauth_client *c, const struct oauth_config *cfg, struct pf_err *err)
{
	size_t i;

	memset(c, 0, sizeof(*c));
	c->provider = OAUTH_GENERIC;
	if (cfg->provider != NULL) {
		for (i = 0; oauth_provider_names[i] != NULL; i++)
			if (strcmp(cfg->provider, oauth_provider_names[i]) == 0)
				break;
		if (oauth_provider_names[i] == NULL)
			return pf_err_set(err, PF_ECONFIG,
			    "unknown oauth2_provider '%s': use google, "
			    "microsoft or generic",
			    cfg->provider);
		c->provider = (enum oauth_provider)i;
	}
	if (cfg->client_id == NULL || *cfg->client_id == '\0')
		return pf_err_set(err, PF_ECONFIG,
		    "no oauth2_client_id: register an application with the "
		    "provider (see docs/oauth.md)");
	if (oauth_preset(c, cfg, err) == -1)
		return -1;
	c->client_id = xstrdup(cfg->client_id);
	c->client_secret = cfg->client_secret;
	c->account = oauth_dup(cfg->account);
	c->ca_file = cfg->ca_file;
	oauth_override(&c->authorize_url, cfg->authorize_url);
	oauth_override(&c->token_url, cfg->token_url);
	oauth_override(&c->device_url, cfg->device_url);
	if (cfg->scope != NULL)
		oauth_override(&c->scope, cfg->scope);
	if (c->provider == OAUTH_MICROSOFT)
		oauth_ms_offline(c);
	if (c->provider == OAUTH_GENERIC && c->device_url == NULL)
		c->default_flow = OAUTH_FLOW_BROWSER;
	c->timeout_ms =
	    cfg->timeout_ms > 0 ? cfg->timeout_ms : OAUTH_TIMEOUT_MS;
	c->margin_s = cfg->margin_s > 0 ? cfg->margin_s : OAUTH_MARGIN_S;
	c->browser_wait_s = cfg->browser_wait_s > 0 ? cfg->browser_wait_s
						    : OAUTH_BROWSER_WAIT_S;
	if (c->token_url == NULL)
		return pf_err_set(err, PF_ECONFIG,
		    "no oauth2_token_url: oauth2_provider generic needs one");
	if (oauth_check_url("oauth2_token_url", c->token_url, err) == -1 ||
	    oauth_check_url("oauth2_authorize_url", c->authorize_url, err) ==
		-1 ||
	    oauth_check_url("oauth2_device_url", c->device_url, err) == -1)
		return -1;
	return 0;
}

void
oauth_client_free(struct oauth_client *c)
{
	free(c->client_id);
	free(c->authorize_url);
	free(c->token_url);
	free(c->device_url);
	free(c->scope);
	free(c->account);
	memset(c, 0, sizeof(*c));
}

/* Unpadded base64url of in[0..len) into out (4 * len / 3 + 2 bytes). */
static void
oauth_b64url(const unsigned char *in, size_t len, char *out)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "abcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t i, o = 0;

	for (i = 0; i + 2 < len; i += 3) {
		out[o++] = tab[in[i] >> 2];
		out[o++] = tab[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
		out[o++] = tab[((in[i + 1] & 15) << 2) | (in[i + 2] >> 6)];
		out[o++] = tab[in[i + 2] & 63];
	}
	if (len - i == 1) {
		out[o++] = tab[in[i] >> 2];
		out[o++] = tab[(in[i] & 3) << 4];
	} else if (len - i == 2) {
		out[o++] = tab[in[i] >> 2];
		out[o++] = tab[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
		out[o++] = tab[(in[i + 1] & 15) << 2];
	}
	out[o] = '\0';
}

void
oauth_pkce_challenge(const char *verifier, char out[44])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (EVP_Digest(verifier, strlen(verifier), md, &len, EVP_sha256(),
		NULL) != 1 ||
	    len != 32)
		memset(md, 0, 32); /* cannot happen; a wrong challenge fails */
	oauth_b64url(md, 32, out);
}

/* n random bytes as base64url into out (at least 4 * n / 3 + 2). */
static int
oauth_random(size_t n, char *out, struct pf_err *err)
{
	unsigned char raw[64];

	if (n > sizeof(raw) || RAND_bytes(raw, (int)n) != 1)
		return pf_err_set(
		    err, PF_ESOFTWARE, "cannot get random bytes from OpenSSL");
	oauth_b64url(raw, n, out);
	explicit_bzero(raw, sizeof(raw));
	return 0;
}

bool
oauth_token_fresh(const struct oauth_tokens *t, time_t now, int margin_s)
{
	return t->access_token != NULL && t->expires_at > 0 &&
	    t->expires_at - margin_s > now;
}

bool
oauth_warn_due(const struct oauth_tokens *t, time_t now)
{
	return t->refresh_token != NULL && t->refresh_expires_at > 0 &&
	    now >= t->refresh_expires_at - OAUTH_WARN_BEFORE_S &&
	    (t->last_warned == 0 || now - t->last_warned >= OAUTH_WARN_EVERY_S);
}

/* POST form to url; a reply of any status is for the caller to judge. */
static int
oauth_post(const struct oauth_client *c, const char *url,
    const struct http_form *form, struct http_response *rs, struct pf_err *err)
{
	struct http_request rq;
	int rc;

	memset(&rq, 0, sizeof(rq));
	rq.method = "POST";
	rq.url = url;
	rq.content_type = "application/x-www-form-urlencoded";
	rq.body = http_form_text(form);
	rq.body_len = form->len;
	rq.accept = "application/json";
	rq.timeout_ms = c->timeout_ms;
	rq.ca_file = c->ca_file;
	rq.limits.max_body = OAUTH_MAX_JSON;
	rc = http_exchange(&rq, rs, err);
	if (rc == -1 && err != NULL && err->code == PF_EPROTO)
		err->code = PF_ETEMP; /* a broken endpoint is temporary */
	return rc;
}

/*
 * POST form to url and judge the reply as tokens; what names the step
 * for messages. Returns 0 or -1, with the OAuth error word in errcode.
 */
static int
oauth_post_token(const struct oauth_client *c, const char *url,
    const struct http_form *form, const char *what, struct oauth_tokens *t,
    char *errcode, size_t errcodesz, struct pf_err *err)
{
	struct http_response rs;
	int rc;

	errcode[0] = '\0';
	rc = oauth_post(c, url, form, &rs, err);
	if (rc == 0)
		rc = oauth_parse_token_reply(rs.status, rs.body, rs.body_len,
		    time(NULL), c->account, t, errcode, errcodesz, err);
	http_response_free(&rs);
	if (rc == -1)
		pf_err_prefix(err, "%s", what);
	return rc;
}

/* The client's credentials on a token request. */
static void
oauth_form_client(const struct oauth_client *c, struct http_form *f)
{
	http_form_add(f, "client_id", c->client_id);
	if (c->client_secret != NULL)
		http_form_add(f, "client_secret", c->client_secret);
}

/* Sleep seconds, a second at a time; -1 when ui->stop says so. */
static int
oauth_sleep(const struct oauth_ui *ui, int seconds, struct pf_err *err)
{
	struct timespec one = {1, 0};

	while (seconds-- > 0) {
		if (ui != NULL && ui->stop != NULL && ui->stop(ui->ctx))
			return pf_err_set(err, PF_ETEMP, "interrupted");
		(void)nanosleep(&one, NULL);
	}
	if (ui != NULL && ui->stop != NULL && ui->stop(ui->ctx))
		return pf_err_set(err, PF_ETEMP, "interrupted");
	return 0;
}

/* Ask the device endpoint for a user code. */
static int
oauth_device_start(
    const struct oauth_client *c, struct oauth_device *d, struct pf_err *err)
{
	struct http_form f = {NULL, 0, 0};
	struct http_response rs;
	int rc;

	oauth_form_client(c, &f);
	if (*c->scope != '\0')
		http_form_add(&f, "scope", c->scope);
	rc = oauth_post(c, c->device_url, &f, &rs, err);
	http_form_free(&f);
	if (rc == 0)
		rc = oauth_parse_device_reply(
		    rs.status, rs.body, rs.body_len, d, err);
	http_response_free(&rs);
	if (rc == -1)
		pf_err_prefix(err, "device authorization");
	return rc;
}

/* Poll the token endpoint until the user has answered (RFC 8628 3.5). */
static int
oauth_device_poll(const struct oauth_client *c, const struct oauth_ui *ui,
    const struct oauth_device *d, struct oauth_tokens *t, struct pf_err *err)
{
	time_t until = time(NULL) + d->expires_in;
	int interval = d->interval, fails = 0, rc;
	struct http_form f = {NULL, 0, 0};
	char code[64];

	http_form_add(&f, "grant_type", OAUTH_DEVICE_GRANT);
	http_form_add(&f, "device_code", d->device_code);
	oauth_form_client(c, &f);
	for (;;) {
		if (oauth_sleep(ui, interval, err) == -1)
			break;
		if (time(NULL) > until) {
			pf_err_set(err, PF_ENOPERM,
			    "the code expired before it was entered: run "
			    "popfetch --authorize %s again",
			    oauth_account_name(c->account));
			break;
		}
		rc = oauth_post_token(c, c->token_url, &f,
		    "device authorization", t, code, sizeof(code), err);
		if (rc == 0) {
			http_form_free(&f);
			return 0;
		}
		if (strcmp(code, "authorization_pending") == 0) {
			fails = 0;
			continue;
		}
		if (strcmp(code, "slow_down") == 0) {
			interval += 5;
			log_debug("device flow: slow_down, polling every %d s",
			    interval);
			fails = 0;
			continue;
		}
		if (err == NULL || err->code != PF_ETEMP ||
		    ++fails > OAUTH_POLL_RETRIES)
			break;
		log_debug("device flow: %s; polling on", err->msg);
	}
	http_form_free(&f);
	return -1;
}

/* The device authorization grant, to tokens in t. */
static int
oauth_device_flow(const struct oauth_client *c, const struct oauth_ui *ui,
    struct oauth_tokens *t, struct pf_err *err)
{
	struct oauth_device d;
	int rc;

	if (oauth_device_start(c, &d, err) == -1)
		return -1;
	ui->prompt(ui->ctx, d.verification_uri, d.user_code,
	    d.verification_uri_complete);
	rc = oauth_device_poll(c, ui, &d, t, err);
	oauth_device_clear(&d);
	return rc;
}

/* The URL the user opens in the browser. */
static char *
oauth_authorize_url(const struct oauth_client *c, const char *redirect,
    const char *state, const char *challenge)
{
	struct http_form f = {NULL, 0, 0};
	char *url;

	http_form_add(&f, "response_type", "code");
	http_form_add(&f, "client_id", c->client_id);
	http_form_add(&f, "redirect_uri", redirect);
	if (*c->scope != '\0')
		http_form_add(&f, "scope", c->scope);
	http_form_add(&f, "state", state);
	http_form_add(&f, "code_challenge", challenge);
	http_form_add(&f, "code_challenge_method", "S256");
	url = xasprintf("%s%c%s%s%s", c->authorize_url,
	    strchr(c->authorize_url, '?') != NULL ? '&' : '?',
	    http_form_text(&f), *c->extra_authorize ? "&" : "",
	    c->extra_authorize);
	http_form_free(&f);
	return url;
}

/* What the redirect brought: the code, or an error already replied to. */
struct oauth_redirect {
	char code[OAUTH_MAX_TOKEN + 1];
	char state[128];
	char error[64];
	char desc[256];
};

/*
 * Judge one request on the listener: 1 with r->code filled (the browser
 * got a success page), 0 when it was not the redirect (answered 404),
 * -1 with err when it was a bad or refused redirect (answered too).
 */
static int
oauth_redirect_judge(struct stream *s, const struct http_request_in *rq,
    const char *state, const char *account, struct oauth_redirect *r,
    struct pf_err *err)
{
	const char *q = strchr(rq->target, '?');
	char safe[120];
	int rc;

	if (strcmp(rq->method, "GET") != 0 || q == NULL ||
	    q - rq->target != 1) {
		(void)http_reply(
		    s, 404, "Not Found", "<p>Not found.</p>", NULL);
		return 0;
	}
	q++;
	if (http_query_param(q, "error", r->error, sizeof(r->error)) == 1) {
		if (http_query_param(
			q, "error_description", r->desc, sizeof(r->desc)) != 1)
			r->desc[0] = '\0';
		(void)http_reply(s, 200, "OK",
		    "<p>popfetch: authorization was refused.</p>", NULL);
		pf_sanitize(safe, sizeof(safe), r->desc, strlen(r->desc));
		return pf_err_set(err, PF_ENOPERM,
		    "authorization was denied (%.60s%s%s)", r->error,
		    *safe ? ": " : "", safe);
	}
	rc = http_query_param(q, "state", r->state, sizeof(r->state));
	if (rc != 1 || strlen(r->state) != strlen(state) ||
	    CRYPTO_memcmp(r->state, state, strlen(state)) != 0) {
		(void)http_reply(s, 400, "Bad Request",
		    "<p>popfetch: this answer does not belong to the "
		    "authorization that is waiting; nothing was stored.</p>",
		    NULL);
		return pf_err_set(err, PF_ENOPERM,
		    "the redirect carried a wrong or no state (it answers "
		    "another request): nothing stored; run popfetch "
		    "--authorize %s again",
		    oauth_account_name(account));
	}
	if (http_query_param(q, "code", r->code, sizeof(r->code)) != 1 ||
	    r->code[0] == '\0') {
		(void)http_reply(s, 400, "Bad Request",
		    "<p>popfetch: the answer has no code.</p>", NULL);
		return pf_err_set(err, PF_ENOPERM,
		    "the redirect carried no authorization code");
	}
	(void)http_reply(s, 200, "OK",
	    "<p>popfetch: authorization received. You can close this page "
	    "and go back to the terminal.</p>",
	    NULL);
	return 1;
}

/* Wait for the redirect; 0 with r->code, or -1. */
static int
oauth_redirect_wait(const struct oauth_client *c, const struct oauth_ui *ui,
    struct http_listener *l, const char *state, struct oauth_redirect *r,
    struct pf_err *err)
{
	long long deadline = http_deadline(c->browser_wait_s * 1000);
	struct http_request_in rq;
	struct stream *s;
	int rc;

	for (;;) {
		long long slice = http_deadline(1000);

		if (ui->stop != NULL && ui->stop(ui->ctx))
			return pf_err_set(err, PF_ETEMP, "interrupted");
		if (http_ms_left(deadline) == 0)
			return pf_err_set(err, PF_ETEMP,
			    "no answer from the browser within %d seconds: "
			    "run popfetch --authorize %s again",
			    c->browser_wait_s, oauth_account_name(c->account));
		s = http_accept(
		    l, slice < deadline ? slice : deadline, 10000, &rq, err);
		if (s == NULL)
			continue;
		rc = oauth_redirect_judge(s, &rq, state, c->account, r, err);
		stream_close(s);
		explicit_bzero(&rq, sizeof(rq));
		if (rc != 0)
			return rc == 1 ? 0 : -1;
	}
}

/* Trade the code for tokens (RFC 6749 4.1.3 with the PKCE verifier). */
static int
oauth_code_exchange(const struct oauth_client *c, const char *code,
    const char *redirect, const char *verifier, struct oauth_tokens *t,
    struct pf_err *err)
{
	struct http_form f = {NULL, 0, 0};
	char errcode[64];
	int rc;

	http_form_add(&f, "grant_type", "authorization_code");
	http_form_add(&f, "code", code);
	http_form_add(&f, "redirect_uri", redirect);
	http_form_add(&f, "code_verifier", verifier);
	oauth_form_client(c, &f);
	rc = oauth_post_token(c, c->token_url, &f, "authorization code", t,
	    errcode, sizeof(errcode), err);
	http_form_free(&f);
	return rc;
}

/* The authorization code grant with PKCE and a loopback redirect. */
static int
oauth_browser_flow(const struct oauth_client *c, const struct oauth_ui *ui,
    struct oauth_tokens *t, struct pf_err *err)
{
	struct http_listener l = {-1, ""};
	struct oauth_redirect *r = xcalloc(1, sizeof(*r));
	char verifier[64], challenge[44], state[32], *redirect = NULL;
	char *url = NULL;
	int rc = -1;

	if (oauth_random(32, verifier, err) == -1 ||
	    oauth_random(16, state, err) == -1 ||
	    http_listen_loopback(&l, err) == -1)
		goto out;
	oauth_pkce_challenge(verifier, challenge);
	redirect = xasprintf("http://%s:%s/", c->redirect_host, l.port);
	url = oauth_authorize_url(c, redirect, state, challenge);
	ui->prompt(ui->ctx, url, NULL, NULL);
	rc = oauth_redirect_wait(c, ui, &l, state, r, err);
	http_listener_close(&l);
	if (rc == 0)
		rc =
		    oauth_code_exchange(c, r->code, redirect, verifier, t, err);
out:
	http_listener_close(&l);
	explicit_bzero(verifier, sizeof(verifier));
	explicit_bzero(r, sizeof(*r));
	free(r);
	free(redirect);
	free(url);
	return rc;
}

/* What rules a flow out before anything is asked or written. */
static int
oauth_flow_check(
    const struct oauth_client *c, enum oauth_flow flow, struct pf_err *err)
{
	if (flow == OAUTH_FLOW_DEVICE && c->device_url == NULL)
		return pf_err_set(err, PF_ECONFIG,
		    "no oauth2_device_url: use --authorize=browser or set it");
	if (flow == OAUTH_FLOW_DEVICE && c->provider == OAUTH_GOOGLE &&
	    strstr(c->scope, OAUTH_GOOGLE_SCOPE) != NULL)
		return pf_err_set(err, PF_ECONFIG,
		    "Google does not allow the Gmail scope in its device "
		    "flow: use popfetch --authorize=browser %s",
		    oauth_account_name(c->account));
	if (flow == OAUTH_FLOW_BROWSER && c->authorize_url == NULL)
		return pf_err_set(err, PF_ECONFIG,
		    "no oauth2_authorize_url: use --authorize=device or set "
		    "it");
	return 0;
}

int
oauth_authorize(const struct oauth_client *c, enum oauth_flow flow,
    const struct oauth_ui *ui, const char *store_path, struct pf_err *err)
{
	struct oauth_tokens t;
	int rc;

	memset(&t, 0, sizeof(t));
	if (flow == OAUTH_FLOW_DEFAULT)
		flow = c->default_flow;
	/* fail before the user signs in, not after */
	if (oauth_flow_check(c, flow, err) == -1 ||
	    oauth_store_prepare(store_path, err) == -1)
		return -1;
	if (flow == OAUTH_FLOW_DEVICE)
		rc = oauth_device_flow(c, ui, &t, err);
	else
		rc = oauth_browser_flow(c, ui, &t, err);
	if (rc == 0) {
		if (t.refresh_token == NULL && ui->warn != NULL)
			ui->warn(ui->ctx,
			    "the provider gave no refresh token: popfetch "
			    "--authorize will be needed again when the access "
			    "token expires");
		rc = oauth_store_save(store_path, &t, err);
	}
	oauth_tokens_clear(&t);
	return rc;
}

/* Keep the old refresh token (and its stated expiry) unless rotated. */
static void
oauth_merge(struct oauth_tokens *fresh, struct oauth_tokens *old)
{
	/* a rotated token may well end when the old one did: still daily */
	fresh->last_warned = old->last_warned;
	if (fresh->refresh_token == NULL) {
		fresh->refresh_token = old->refresh_token;
		old->refresh_token = NULL;
		fresh->refresh_expires_at = old->refresh_expires_at;
		fresh->obtained_at = old->obtained_at;
	}
	if (fresh->scope == NULL) {
		fresh->scope = old->scope;
		old->scope = NULL;
	}
}

/* The refresh grant; fresh tokens merged with the old in t. */
static int
oauth_refresh(
    const struct oauth_client *c, struct oauth_tokens *t, struct pf_err *err)
{
	struct http_form f = {NULL, 0, 0};
	struct oauth_tokens fresh;
	char errcode[64];
	int rc;

	memset(&fresh, 0, sizeof(fresh));
	http_form_add(&f, "grant_type", "refresh_token");
	http_form_add(&f, "refresh_token", t->refresh_token);
	if (c->refresh_sends_scope && *c->scope != '\0')
		http_form_add(&f, "scope", c->scope);
	oauth_form_client(c, &f);
	rc = oauth_post_token(c, c->token_url, &f, "token refresh", &fresh,
	    errcode, sizeof(errcode), err);
	http_form_free(&f);
	if (rc == -1)
		return -1;
	oauth_merge(&fresh, t);
	oauth_tokens_clear(t);
	*t = fresh;
	return 0;
}

/* Warn in the last week of a stated refresh-token lifetime, daily. */
static bool
oauth_maybe_warn(const struct oauth_client *c, const struct oauth_ui *ui,
    struct oauth_tokens *t, time_t now)
{
	char msg[200], day[32];
	struct tm tm;

	if (!oauth_warn_due(t, now) || ui == NULL || ui->warn == NULL)
		return false;
	if (localtime_r(&t->refresh_expires_at, &tm) == NULL ||
	    strftime(day, sizeof(day), "%Y-%m-%d %H:%M", &tm) == 0)
		strlcpy(day, "soon", sizeof(day));
	snprintf(msg, sizeof(msg),
	    "the OAuth refresh token of account '%s' expires %s%s: run "
	    "popfetch --authorize %s before then",
	    oauth_account_name(c->account),
	    t->refresh_expires_at > now ? "on " : "", day,
	    oauth_account_name(c->account));
	ui->warn(ui->ctx, msg);
	t->last_warned = now;
	return true;
}

int
oauth_access_token(const struct oauth_client *c, const struct oauth_ui *ui,
    const char *store_path, char **token, struct pf_err *err)
{
	struct oauth_tokens t;
	time_t now = time(NULL);
	bool dirty = false;
	int rc = -1;

	*token = NULL;
	if (oauth_store_load(store_path, c->account, &t, err) == -1)
		return -1;
	if (!oauth_token_fresh(&t, now, c->margin_s)) {
		if (t.refresh_token == NULL) {
			pf_err_set(err, PF_ENOPERM,
			    "the access token expired and no refresh token "
			    "is stored: run popfetch --authorize %s",
			    oauth_account_name(c->account));
			goto out;
		}
		log_debug("refreshing the OAuth access token");
		if (oauth_refresh(c, &t, err) == -1)
			goto out;
		PF_FAULT("oauth-refreshed");
		dirty = true;
	}
	dirty |= oauth_maybe_warn(c, ui, &t, now);
	/* a rotated refresh token is durable before its access token
	 * is used: otherwise a crash now would lose both */
	if (dirty && oauth_store_save(store_path, &t, err) == -1)
		goto out;
	PF_FAULT("oauth-saved");
	*token = xstrdup(t.access_token);
	rc = 0;
out:
	oauth_tokens_clear(&t);
	return rc;
}
