/* authorize.c: --authorize ACCOUNT (authorize.h). */
#include <stdbool.h>
#include <stdlib.h>

#include "popfetch/authorize.h"
#include "popfetch/fetch.h"
#include "popfetch/secret.h"
#include "popfetch/token.h"
#include "popfetch/xmalloc.h"

static bool
stop_requested(void *ctx)
{
	(void)ctx;
	return fetch_stop_requested();
}

int
authorize_account(const struct account *accts, size_t n, enum cli_authorize how,
    const struct oauth_ui *ui, char **store_path, struct pf_err *err)
{
	static const enum oauth_flow flows[] = {
	    [CLI_AUTHORIZE_DEFAULT] = OAUTH_FLOW_DEFAULT,
	    [CLI_AUTHORIZE_DEVICE] = OAUTH_FLOW_DEVICE,
	    [CLI_AUTHORIZE_BROWSER] = OAUTH_FLOW_BROWSER,
	};
	struct oauth_ui oui = *ui;
	char *secret = NULL;
	int rc;

	if (n != 1)
		return pf_err_set(
		    err, PF_EUSAGE, "--authorize takes one account");
	if (accts->user == NULL)
		return pf_err_set(err, PF_ECONFIG,
		    "account '%s' has no user: set user, then run popfetch --authorize again",
		    accts->name != NULL ? accts->name : accts->host);
	if (oui.stop == NULL)
		oui.stop = stop_requested;
	rc = secret_oauth_client(accts, &secret, err);
	if (rc == 0)
		rc = token_authorize(
		    accts, secret, flows[how], &oui, store_path, err);
	xfree_secret(secret);
	return rc;
}

char *
authorize_prompt(const struct account *a, const char *url, const char *code,
    const char *complete)
{
	const char *name = a->name != NULL ? a->name : a->host;
	char *more, *text;

	if (code == NULL)
		return xasprintf(
		    "To authorize popfetch for account '%s', open in "
		    "a browser on this machine\n  %s\nWaiting for "
		    "the browser to come back...\n",
		    name, url);
	more = complete != NULL
	    ? xasprintf("(or open %s, which holds the code)\n", complete)
	    : xstrdup("");
	text = xasprintf("To authorize popfetch for account '%s', open on any "
			 "device\n  %s\nand enter the code\n  %s\n%s"
			 "Waiting for you to sign in...\n",
	    name, url, code, more);
	free(more);
	return text;
}
