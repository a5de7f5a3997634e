/*
 * oauth.h: OAuth 2.0 access tokens for POP3 logins (XOAUTH2, OAUTHBEARER).
 *
 * Provider presets (Google, Microsoft with a tenant, generic) give the
 * endpoints and the POP3 scope. Two ways to authorize once: the device
 * authorization grant (RFC 8628) and the authorization code grant with
 * PKCE S256 (RFC 7636) and a loopback redirect on 127.0.0.1 (RFC 8252).
 * Then every run asks oauth_access_token(): the cached access token while
 * it is valid with a margin, else a refresh; a rotated refresh token is
 * stored durably before the new access token is handed out.
 *
 * The token store is one JSON file per account (path chosen by the
 * caller, e.g. STATE_DIR/oauth/<account file>.json): mode 0600, created
 * with O_EXCL|O_NOFOLLOW in a directory of mode 0700 owned by the user,
 * replaced atomically (temp file, fsync, rename, fsync of the directory).
 * The caller holds the account's lock (uidl_lock()) around every call
 * that may write it.
 *
 * Secrets: the client secret is the caller's (it wipes it); tokens, codes
 * and the PKCE verifier are wiped after use here, never logged, never put
 * in error messages. Server text in messages goes through pf_sanitize().
 *
 * Errors (which exit status main.c gives them, docs/contract.md section 3):
 *   PF_ENOPERM  the refresh token was refused (invalid_grant and kin), the
 *               user denied access, the device code expired, the redirect
 *               carried the wrong state, no tokens stored yet: each says
 *               "run popfetch --authorize ACCOUNT";
 *   PF_ETEMP    the endpoint is unreachable, times out, answers 5xx or
 *               429, or answers something that is not the JSON it should
 *               be (malformed, oversized, missing fields): a failing
 *               endpoint is temporary, cron tries again;
 *   PF_ECONFIG  bad settings: unknown provider, missing client id or URL,
 *               a client the endpoint rejects (invalid_client), a redirect
 *               from an endpoint, a token directory others can access;
 *   PF_EDATA    the token file is corrupt;
 *   PF_EIO      the token file cannot be written;
 *   PF_ECANTCREAT  the token directory cannot be created.
 */
#ifndef POPFETCH_OAUTH_H
#define POPFETCH_OAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "popfetch/err.h"

enum oauth_provider {
	OAUTH_GENERIC,
	OAUTH_GOOGLE,
	OAUTH_MICROSOFT,
};
extern const char *const oauth_provider_names[]; /* "generic", ... NULL */

enum oauth_flow {
	OAUTH_FLOW_DEFAULT, /* the provider's: browser for Google, else device */
	OAUTH_FLOW_DEVICE,  /* RFC 8628 */
	OAUTH_FLOW_BROWSER, /* RFC 7636 + RFC 8252 */
};

/* Bounds on what we accept from a token endpoint. */
#define OAUTH_MAX_JSON	(64 * 1024) /* reply body and token file */
#define OAUTH_MAX_TOKEN 16384	    /* access or refresh token, code */

/* Defaults of struct oauth_config (0 in a field means the default). */
#define OAUTH_TIMEOUT_MS     30000 /* one HTTP exchange (http.h) */
#define OAUTH_MARGIN_S	     60	   /* refresh this long before expiry */
#define OAUTH_BROWSER_WAIT_S 300   /* how long the redirect listener waits */
#define OAUTH_WARN_BEFORE_S  (7 * 86400) /* warn in the last week */
#define OAUTH_WARN_EVERY_S   86400	 /* at most once a day */

/* The oauth2_* settings of an account, as the config file gives them. */
struct oauth_config {
	const char *provider;	   /* "google", "microsoft", "generic"; NULL:
				      generic */
	const char *client_id;	   /* required */
	const char *client_secret; /* or NULL; the caller owns and wipes it */
	const char *tenant;	   /* Microsoft; NULL: "common" */
	const char *scope;	   /* NULL: the provider's POP3 scope */
	const char *authorize_url; /* NULL: the provider's */
	const char *token_url;
	const char *device_url;
	const char *account; /* for hints: "popfetch --authorize NAME" */
	const char *ca_file; /* extra trust anchors, or NULL (system) */
	int timeout_ms;	     /* per HTTP exchange */
	int margin_s;	     /* access-token reuse margin */
	int browser_wait_s;  /* redirect listener deadline */
};

/* Settled endpoints and options; oauth_client_init() fills it. */
struct oauth_client {
	enum oauth_provider provider;
	char *client_id;
	const char *client_secret; /* the caller's, never copied */
	char *authorize_url;	   /* NULL when unknown */
	char *token_url;
	char *device_url; /* NULL when unknown */
	char *scope;	  /* may be "" for generic */
	char *account;
	const char *ca_file;
	const char *redirect_host;   /* "127.0.0.1", or "localhost" (Microsoft
				      registers http://localhost) */
	const char *extra_authorize; /* preset query fields, or "" */
	bool refresh_sends_scope;    /* Microsoft wants scope on refresh */
	enum oauth_flow default_flow;
	int timeout_ms, margin_s, browser_wait_s;
};

/*
 * Settle cfg into c: the preset, the user's overrides, checks (client id
 * given, token URL known, URLs https, tenant a plain name). For Microsoft,
 * "offline_access" is added to a scope that lacks it. Free c with
 * oauth_client_free(), also after an error. Returns 0, or -1: PF_ECONFIG.
 */
int oauth_client_init(
    struct oauth_client *c, const struct oauth_config *cfg, struct pf_err *err);

/* Free what oauth_client_init() allocated; safe on a zeroed struct. */
void oauth_client_free(struct oauth_client *c);

/* What the flows need from the user interface (main.c supplies it). */
struct oauth_ui {
	/*
	 * Show where to go: the device flow passes the verification URL,
	 * the user code and the complete URL (or NULL); the browser flow
	 * passes the URL to open, code and complete NULL. The strings are
	 * printable ASCII without spaces, already checked.
	 */
	void (*prompt)(void *ctx, const char *url, const char *user_code,
	    const char *url_complete);
	/* A warning line for the user (refresh token about to expire). */
	void (*warn)(void *ctx, const char *msg);
	/* Polled about once a second while waiting: true stops the flow. */
	bool (*stop)(void *ctx);
	void *ctx;
};

/*
 * Run an authorization flow (OAUTH_FLOW_DEFAULT: the provider's) and
 * store the tokens at store_path. Google's POP3 scope is not allowed in
 * its device flow, so that combination is refused up front. ui->prompt
 * is required. Returns 0, or -1 (see the list at the top; a stop by
 * ui->stop is PF_ETEMP "interrupted").
 */
int oauth_authorize(const struct oauth_client *c, enum oauth_flow flow,
    const struct oauth_ui *ui, const char *store_path, struct pf_err *err);

/*
 * An access token for a login, in *token (the caller wipes and frees it
 * with xfree_secret()): the stored one while it is valid for margin_s
 * more seconds, else a refreshed one, stored first. Warns through
 * ui->warn (ui may be NULL) once a day in the last week of a refresh
 * token lifetime the provider stated. Returns 0, or -1 (see the top).
 */
int oauth_access_token(const struct oauth_client *c, const struct oauth_ui *ui,
    const char *store_path, char **token, struct pf_err *err);

/* The pieces below are exposed for the tests and fuzzers. */

/* What a token file holds; strings are owned and wiped on clear. */
struct oauth_tokens {
	char *access_token;	   /* secret, or NULL */
	char *refresh_token;	   /* secret, or NULL */
	char *scope;		   /* as granted, or NULL */
	time_t expires_at;	   /* of the access token; 0: unknown */
	time_t refresh_expires_at; /* stated by the provider; 0: unknown */
	time_t obtained_at;	   /* when the refresh token was issued */
	time_t last_warned;	   /* last expiry warning; 0: never */
};

/* Wipe and free the strings; the struct is zeroed. */
void oauth_tokens_clear(struct oauth_tokens *t);

/*
 * Judge a token endpoint's reply (HTTP status and body). A 200 with a
 * JSON object holding a usable access_token fills t (expires_at from
 * expires_in, refresh_expires_at from refresh_token_expires_in, both
 * relative to now) and returns 0. Otherwise returns -1 with err set as
 * listed at the top, and the reply's "error" value (or "") in
 * errcode[errcodesz], so the device flow can tell authorization_pending
 * and slow_down apart. hint names the account for "--authorize" hints.
 */
int oauth_parse_token_reply(int status, const char *body, size_t len,
    time_t now, const char *account, struct oauth_tokens *t, char *errcode,
    size_t errcodesz, struct pf_err *err);

/* A device authorization reply (RFC 8628 section 3.2). */
struct oauth_device {
	char *device_code; /* secret */
	char *user_code;
	char *verification_uri;
	char *verification_uri_complete; /* or NULL */
	int expires_in;			 /* seconds */
	int interval;			 /* seconds, 5 when not given */
};

/*
 * Judge a device authorization reply: 200 with the required fields
 * (verification_url is accepted for verification_uri, as Google sends
 * it). Returns 0, or -1 like oauth_parse_token_reply().
 */
int oauth_parse_device_reply(int status, const char *body, size_t len,
    struct oauth_device *d, struct pf_err *err);

/* Wipe and free the strings of d. */
void oauth_device_clear(struct oauth_device *d);

/*
 * The PKCE S256 challenge of verifier: BASE64URL(SHA256(verifier))
 * without padding, 43 characters plus NUL in out.
 */
void oauth_pkce_challenge(const char *verifier, char out[44]);

/* True when t has an access token valid until now + margin_s or later. */
bool oauth_token_fresh(const struct oauth_tokens *t, time_t now, int margin_s);

/* True when a refresh-token expiry warning is due at now. */
bool oauth_warn_due(const struct oauth_tokens *t, time_t now);

/*
 * Load the token file at path: a regular file (not a symlink) owned by
 * us with no access for group or others, at most OAUTH_MAX_JSON bytes,
 * version 1. Returns 0, or -1: PF_ENOPERM when there is none (with the
 * "--authorize" hint for account), PF_EDATA (corrupt), PF_ECONFIG
 * (mode or owner wrong).
 */
int oauth_store_load(const char *path, const char *account,
    struct oauth_tokens *t, struct pf_err *err);

/*
 * Replace the token file at path atomically and durably with t. Creates
 * the directory (mode 0700) when it is missing; refuses one not owned by
 * us or open to group or others. Returns 0, or -1: PF_EIO, PF_ECONFIG,
 * PF_ECANTCREAT.
 */
int oauth_store_save(
    const char *path, const struct oauth_tokens *t, struct pf_err *err);

#endif
