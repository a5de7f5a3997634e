/*
 * authorize.h: --authorize[=FLOW] ACCOUNT (docs/oauth.md): the account
 * checked, the client secret of its OAuth application got (secret.h),
 * then one authorization flow run and its tokens stored (token.h). It
 * never prints: the prompt (its text from authorize_prompt()) and warnings
 * go through the caller's oauth_ui.
 */
#ifndef POPFETCH_AUTHORIZE_H
#define POPFETCH_AUTHORIZE_H

#include <stddef.h>

#include "popfetch/cli.h"
#include "popfetch/config.h"
#include "popfetch/err.h"
#include "popfetch/oauth.h"

/*
 * Authorize the one account of accts[0..n) with the flow how asks for
 * (not CLI_AUTHORIZE_NONE). ui->stop, when NULL, is a stop request
 * (fetch_stop_requested(): a signal). *store_path gets the token file's
 * path, a new string, on success. Returns 0, or -1: PF_EUSAGE when n is
 * not 1, PF_ECONFIG when the account has no user, else
 * secret_oauth_client()'s and token_authorize()'s errors.
 */
int authorize_account(const struct account *accts, size_t n,
    enum cli_authorize how, const struct oauth_ui *ui, char **store_path,
    struct pf_err *err);

/*
 * The --authorize prompt for account a (oauth_ui.prompt's arguments:
 * with code, the device flow's URL, code and complete URL or NULL;
 * without, the browser flow's URL): where to go and what to enter, lines
 * for the person at the terminal. Returns a new string.
 */
char *authorize_prompt(const struct account *a, const char *url,
    const char *code, const char *complete);

#endif
