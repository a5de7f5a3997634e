/*
 * token.h: the OAuth 2.0 tokens of an account (docs/oauth.md). It turns
 * the account's oauth2_* settings into an oauth client, keeps the token
 * file beside the account's state (STATE_DIR/oauth/<account file>.json)
 * and holds the account's lock while the file may change. The client
 * secret is the caller's (secret.h runs oauth2_client_secret_command):
 * this module never runs commands and never prints.
 */
#ifndef POPFETCH_TOKEN_H
#define POPFETCH_TOKEN_H

#include <stdbool.h>

#include "popfetch/config.h"
#include "popfetch/err.h"
#include "popfetch/oauth.h"

/*
 * True when account a logs in with a token from its token file:
 * oauth2_provider is set, neither password nor password_command is (a
 * user's own token helper wins), and auth is auto, xoauth2 or
 * oauthbearer.
 */
bool token_source_of(const struct account *a);

/* The token file of a: a new string. */
char *token_store_path(const struct account *a);

/*
 * Run an authorization flow for a (which must have oauth2_provider) and
 * store its tokens, under the account's lock. client_secret may be NULL.
 * *store_path (may be NULL) gets the token file's path, a new string,
 * on success. Returns 0 or -1 (oauth.h's errors; PF_ECONFIG when a has
 * no oauth2_provider, PF_ETEMP when the account is being fetched).
 */
int token_authorize(const struct account *a, const char *client_secret,
    enum oauth_flow flow, const struct oauth_ui *ui, char **store_path,
    struct pf_err *err);

/*
 * An access token for a login of a in *out (wipe and free it with
 * xfree_secret()): the stored one while valid, else a refreshed one,
 * under the account's lock. A refresh token in its last week is
 * reported through log_warning(), once a day. Returns 0 or -1 (oauth.h's
 * errors).
 */
int token_get(const struct account *a, const char *client_secret, char **out,
    struct pf_err *err);

#endif
