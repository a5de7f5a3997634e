/*
 * oauth-reply.c: JSON through jansson with a wiping allocator, and the
 * judgement of token and device authorization replies (oauth.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "popfetch/oauth.h"
#include "popfetch/xmalloc.h"
#include "compat.h"
#include "oauth-private.h"

/* Longest error_description we quote; the rest is cut. */
#define OAUTH_DESC_MAX 90

/* Each block remembers its size so that free can wipe it. */
union oauth_json_hdr {
	size_t n;
	long double align_ld;
	long long align_ll;
	void *align_p;
};

/* jansson's malloc: a size header in front of the block. */
static void *
oauth_json_malloc(size_t n)
{
	union oauth_json_hdr *h;

	if (n > SIZE_MAX - sizeof(*h))
		return NULL;
	if ((h = malloc(sizeof(*h) + n)) == NULL)
		return NULL;
	h->n = n;
	return h + 1;
}

/* jansson's free: wipe the whole block first. */
static void
oauth_json_free(void *p)
{
	union oauth_json_hdr *h;

	if (p == NULL)
		return;
	h = (union oauth_json_hdr *)p - 1;
	explicit_bzero(p, h->n);
	free(h);
}

#if defined(__GNUC__) || defined(__clang__)
/* Before main(), so no jansson block is ever made by another allocator. */
static void oauth_json_ctor(void) __attribute__((constructor));
static void
oauth_json_ctor(void)
{
	oauth_json_init();
}
#endif

void
oauth_json_init(void)
{
	static bool done;

	if (!done) {
		json_set_alloc_funcs(oauth_json_malloc, oauth_json_free);
		done = true;
	}
}

json_t *
oauth_json_object(const char *buf, size_t len, char *why, size_t whysz)
{
	json_error_t jerr;
	json_t *o;

	oauth_json_init();
	if (len > OAUTH_MAX_JSON) {
		snprintf(why, whysz, "over %d bytes", OAUTH_MAX_JSON);
		return NULL;
	}
	o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (o == NULL) {
		/* jerr.text may quote the input: give the place only */
		snprintf(why, whysz, "not valid JSON (line %d, column %d)",
		    jerr.line, jerr.column);
		explicit_bzero(&jerr, sizeof(jerr));
		return NULL;
	}
	if (!json_is_object(o)) {
		json_decref(o);
		snprintf(why, whysz, "not a JSON object");
		return NULL;
	}
	return o;
}

int
oauth_json_str(
    json_t *o, const char *key, size_t max, bool token_chars, char **out)
{
	json_t *v = json_object_get(o, key);
	const char *s;
	size_t n, i;

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -1;
	s = json_string_value(v);
	n = json_string_length(v);
	if (n == 0 || n > max || strlen(s) != n)
		return -1;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f || (token_chars && c <= 0x20) ||
		    (token_chars && c >= 0x7f))
			return -1;
	}
	*out = xstrndup(s, n);
	return 1;
}

int
oauth_json_int(json_t *o, const char *key, long long max, long long *out)
{
	json_t *v = json_object_get(o, key);
	long long n = 0;
	const char *s;

	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_integer(v)) {
		n = (long long)json_integer_value(v);
	} else if (json_is_string(v)) {
		s = json_string_value(v);
		if (*s == '\0' || strlen(s) > 18)
			return -1;
		for (; *s != '\0'; s++) {
			if (*s < '0' || *s > '9')
				return -1;
			n = n * 10 + (*s - '0');
		}
	} else {
		return -1;
	}
	if (n < 0 || n > max)
		return -1;
	*out = n;
	return 1;
}

const char *
oauth_account_name(const char *account)
{
	return account != NULL && *account != '\0' ? account : "ACCOUNT";
}

void
oauth_tokens_clear(struct oauth_tokens *t)
{
	xfree_secret(t->access_token);
	xfree_secret(t->refresh_token);
	free(t->scope);
	memset(t, 0, sizeof(*t));
}

void
oauth_device_clear(struct oauth_device *d)
{
	xfree_secret(d->device_code);
	free(d->user_code);
	free(d->verification_uri);
	free(d->verification_uri_complete);
	memset(d, 0, sizeof(*d));
}

/* The "error" of a reply into errcode when it is a plain word. */
static void
oauth_error_code(json_t *o, char *errcode, size_t errcodesz)
{
	json_t *v = json_object_get(o, "error");
	const char *s;
	size_t i;

	errcode[0] = '\0';
	if (!json_is_string(v))
		return;
	s = json_string_value(v);
	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_' ||
			(s[i] >= 'A' && s[i] <= 'Z') ||
			(s[i] >= '0' && s[i] <= '9')))
			return;
	if (i > 0 && i < errcodesz)
		memcpy(errcode, s, i + 1);
}

/* True when code is one of the NULL-terminated list. */
static bool
oauth_code_in(const char *code, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(code, *list) == 0)
			return true;
	return false;
}

/* Turn an OAuth error reply into a pf_err that says what to do. */
static int
oauth_reply_error(int status, const char *code, json_t *o, const char *account,
    struct pf_err *err)
{
	static const char *const reauth[] = {"invalid_grant",
	    "interaction_required", "consent_required", "login_required", NULL};
	static const char *const denied[] = {
	    "access_denied", "authorization_declined", NULL};
	static const char *const client[] = {
	    "invalid_client", "unauthorized_client", "invalid_scope", NULL};
	static const char *const temp[] = {"temporarily_unavailable",
	    "server_error", "authorization_pending", "slow_down", NULL};
	const char *acct = oauth_account_name(account);
	char desc[OAUTH_DESC_MAX + 8] = "", what[OAUTH_DESC_MAX + 80];
	json_t *v = json_object_get(o, "error_description");

	if (json_is_string(v))
		pf_sanitize(desc, sizeof(desc), json_string_value(v),
		    json_string_length(v));
	snprintf(what, sizeof(what), "%s%s%s", code, *desc ? ": " : "", desc);
	if (oauth_code_in(code, reauth))
		return pf_err_set(err, PF_ENOPERM,
		    "the provider refused the grant (%s): run popfetch "
		    "--authorize %s",
		    what, acct);
	if (oauth_code_in(code, denied))
		return pf_err_set(err, PF_ENOPERM,
		    "authorization was denied (%s): run popfetch --authorize "
		    "%s to try again",
		    what, acct);
	if (strcmp(code, "expired_token") == 0)
		return pf_err_set(err, PF_ENOPERM,
		    "the code expired before it was entered: run popfetch "
		    "--authorize %s again",
		    acct);
	if (oauth_code_in(code, client))
		return pf_err_set(err, PF_ECONFIG,
		    "the provider refused the client (%s): check "
		    "oauth2_client_id, oauth2_client_secret_command and "
		    "oauth2_scope",
		    what);
	if (oauth_code_in(code, temp) || status >= 500)
		return pf_err_set(err, PF_ETEMP,
		    "the token endpoint failed (%s): try again later", what);
	return pf_err_set(err, PF_ECONFIG,
	    "the token endpoint refused the request (%s): check the oauth2 "
	    "settings",
	    what);
}

/*
 * The part of judging a reply that does not depend on what it should
 * hold: HTTP status, JSON, an OAuth error. Returns the object to read,
 * or NULL with err set.
 */
static json_t *
oauth_reply_object(int status, const char *body, size_t len,
    const char *account, char *errcode, size_t errcodesz, struct pf_err *err)
{
	char why[80];
	json_t *o;

	errcode[0] = '\0';
	if (status == 404 || status == 405 || status == 410) {
		pf_err_set(err, PF_ECONFIG,
		    "the endpoint answered HTTP %d: check its URL", status);
		return NULL;
	}
	o = oauth_json_object(body, len, why, sizeof(why));
	if (o == NULL) {
		if (status != 200)
			pf_err_set(err, PF_ETEMP,
			    "the endpoint answered HTTP %d: try again later",
			    status);
		else
			pf_err_set(err, PF_ETEMP,
			    "the endpoint's reply is %s: try again later", why);
		return NULL;
	}
	oauth_error_code(o, errcode, errcodesz);
	if (errcode[0] != '\0' || json_object_get(o, "error") != NULL) {
		oauth_reply_error(
		    status, errcode[0] ? errcode : "unknown", o, account, err);
		json_decref(o);
		return NULL;
	}
	if (status != 200) {
		pf_err_set(err, PF_ETEMP,
		    "the endpoint answered HTTP %d: try again later", status);
		json_decref(o);
		return NULL;
	}
	return o;
}

/* The optional members of a token reply; -1 when one is malformed. */
static int
oauth_token_extras(json_t *o, time_t now, struct oauth_tokens *t)
{
	const long long tenyears = 10LL * 366 * 86400;
	long long n;
	char *type = NULL;
	int r;

	if ((r = oauth_json_str(o, "token_type", 64, true, &type)) == -1)
		return -1;
	if (r == 1) {
		r = strcasecmp(type, "bearer") == 0;
		free(type);
		if (!r)
			return -1;
	}
	if ((r = oauth_json_int(o, "expires_in", tenyears, &n)) == -1)
		return -1;
	t->expires_at = r == 1 ? now + (time_t)n : 0;
	if (oauth_json_str(o, "refresh_token", OAUTH_MAX_TOKEN, true,
		&t->refresh_token) == -1)
		return -1;
	if ((r = oauth_json_int(o, "refresh_token_expires_in", tenyears, &n)) ==
	    -1)
		return -1;
	t->refresh_expires_at = r == 1 ? now + (time_t)n : 0;
	if (oauth_json_str(o, "scope", 4096, false, &t->scope) == -1)
		return -1;
	t->obtained_at = now;
	return 0;
}

int
oauth_parse_token_reply(int status, const char *body, size_t len, time_t now,
    const char *account, struct oauth_tokens *t, char *errcode,
    size_t errcodesz, struct pf_err *err)
{
	json_t *o;
	int r;

	memset(t, 0, sizeof(*t));
	o = oauth_reply_object(
	    status, body, len, account, errcode, errcodesz, err);
	if (o == NULL)
		return -1;
	r = oauth_json_str(
	    o, "access_token", OAUTH_MAX_TOKEN, true, &t->access_token);
	if (r != 1) {
		json_decref(o);
		oauth_tokens_clear(t);
		return pf_err_set(err, PF_ETEMP,
		    "the token endpoint's reply has %s access_token: try "
		    "again later",
		    r == 0 ? "no" : "an unusable");
	}
	if (oauth_token_extras(o, now, t) == -1) {
		json_decref(o);
		oauth_tokens_clear(t);
		return pf_err_set(err, PF_ETEMP,
		    "the token endpoint's reply has a malformed token_type, "
		    "expires_in, refresh_token or scope: try again later");
	}
	json_decref(o);
	return 0;
}

int
oauth_parse_device_reply(int status, const char *body, size_t len,
    struct oauth_device *d, struct pf_err *err)
{
	char errcode[64];
	long long n = 5, exp = 0;
	json_t *o;
	int bad = 0;

	memset(d, 0, sizeof(*d));
	o = oauth_reply_object(
	    status, body, len, NULL, errcode, sizeof(errcode), err);
	if (o == NULL)
		return -1;
	bad |= oauth_json_str(o, "device_code", OAUTH_MAX_TOKEN, true,
		   &d->device_code) != 1;
	bad |= oauth_json_str(o, "user_code", 64, true, &d->user_code) != 1;
	if (oauth_json_str(
		o, "verification_uri", 2048, true, &d->verification_uri) != 1)
		bad |= oauth_json_str(o, "verification_url", 2048, true,
			   &d->verification_uri) != 1;
	bad |= oauth_json_str(o, "verification_uri_complete", 4096, true,
		   &d->verification_uri_complete) == -1;
	bad |= oauth_json_int(o, "expires_in", 86400, &exp) != 1 || exp == 0;
	bad |= oauth_json_int(o, "interval", 3600, &n) == -1;
	json_decref(o);
	if (bad) {
		oauth_device_clear(d);
		return pf_err_set(err, PF_ETEMP,
		    "the device endpoint's reply lacks or garbles device_code, "
		    "user_code, verification_uri or expires_in: try again "
		    "later");
	}
	d->expires_in = (int)exp;
	d->interval = n > 0 ? (int)n : 5;
	return 0;
}
