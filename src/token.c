/* token.c: the OAuth 2.0 tokens of an account (token.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "popfetch/lock.h"
#include "popfetch/log.h"
#include "popfetch/state.h"
#include "popfetch/token.h"
#include "popfetch/xmalloc.h"

bool
token_source_of(const struct account *a)
{
	if (a->oauth2_provider == NULL || a->password != NULL ||
	    a->password_command != NULL)
		return false;
	return a->auth == AUTH_AUTO || a->auth == AUTH_XOAUTH2 ||
	    a->auth == AUTH_OAUTHBEARER;
}

char *
token_store_path(const struct account *a)
{
	char *id = account_key(a);
	char *file = state_account_file(id);
	char *path = xasprintf("%s/oauth/%s.json", a->state_dir, file);

	free(file);
	free(id);
	return path;
}

/* The oauth client of a; free it with oauth_client_free(). */
static int
client_of(const struct account *a, const char *client_secret,
    struct oauth_client *c, struct pf_err *err)
{
	const char *name = a->name != NULL ? a->name : a->host;
	struct oauth_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	if (a->oauth2_provider == NULL) {
		memset(c, 0, sizeof(*c));
		return pf_err_set(err, PF_ECONFIG,
		    "account '%s' has no oauth2_provider: set it (google, microsoft or generic) and oauth2_client_id",
		    name);
	}
	cfg.provider = a->oauth2_provider;
	cfg.client_id = a->oauth2_client_id;
	cfg.client_secret = client_secret;
	cfg.tenant = a->oauth2_tenant;
	cfg.scope = a->oauth2_scope;
	cfg.authorize_url = a->oauth2_authorize_url;
	cfg.token_url = a->oauth2_token_url;
	cfg.device_url = a->oauth2_device_url;
	cfg.account = name;
	cfg.timeout_ms = a->timeout > 0 ? a->timeout * 1000 : 0;
	return oauth_client_init(c, &cfg, err);
}

/* Take the account's lock (creating the state directory). */
static int
lock_of(const struct account *a, struct pf_err *err)
{
	char *id = account_key(a);
	int fd = lock_account(a->state_dir, id, err);

	free(id);
	return fd;
}

int
token_authorize(const struct account *a, const char *client_secret,
    enum oauth_flow flow, const struct oauth_ui *ui, char **store_path,
    struct pf_err *err)
{
	struct oauth_client c;
	char *path = NULL;
	int fd = -1, rc = -1;

	if (store_path != NULL)
		*store_path = NULL;
	if (client_of(a, client_secret, &c, err) < 0)
		goto out;
	if ((fd = lock_of(a, err)) < 0)
		goto out;
	path = token_store_path(a);
	rc = oauth_authorize(&c, flow, ui, path, err);
	if (rc == 0 && store_path != NULL) {
		*store_path = path;
		path = NULL;
	}
out:
	lock_release(fd);
	free(path);
	oauth_client_free(&c);
	return rc;
}

/* The refresh-token expiry warning of a normal run. */
static void
warn_hook(void *ctx, const char *msg)
{
	(void)ctx;
	log_warning("%s", msg);
}

int
token_get(const struct account *a, const char *client_secret, char **out,
    struct pf_err *err)
{
	struct oauth_ui ui = {NULL, warn_hook, NULL, NULL};
	struct oauth_client c;
	char *path = NULL;
	int fd = -1, rc = -1;

	*out = NULL;
	if (client_of(a, client_secret, &c, err) < 0)
		goto out;
	if ((fd = lock_of(a, err)) < 0)
		goto out;
	path = token_store_path(a);
	rc = oauth_access_token(&c, &ui, path, out, err);
out:
	lock_release(fd);
	free(path);
	oauth_client_free(&c);
	return rc;
}
