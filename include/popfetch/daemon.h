/*
 * daemon.h: --daemon: fetch the accounts, sleep, and again, until SIGTERM
 * or SIGINT (docs/contract.md §6). Each batch is one runner_run() of the
 * accounts that are due, -j as in one-shot mode. After a temporary
 * failure an account backs off (the interval doubled per failure in a
 * row, up to an hour, with jitter); a permanent one is logged when it
 * first happens and again only when its message changes. SIGUSR1 polls
 * every account at once; SIGHUP loads the config again (a broken one is
 * logged and the old one kept). A second daemon for the same account is
 * refused: each account's daemon lock is held for the daemon's life. A
 * password is never asked on the terminal (unless o->run brings its own
 * secret function).
 * Under systemd, READY=1 is sent once the locks are held and WATCHDOG=1
 * while it waits (notify.h).
 */
#ifndef POPFETCH_DAEMON_H
#define POPFETCH_DAEMON_H

#include <stddef.h>

#include "popfetch/config.h"
#include "popfetch/err.h"
#include "popfetch/runner.h"

/*
 * Load the configuration again and pick the accounts (the front end's
 * one-shot loading). On success *accts (config_accounts_free) has *n
 * accounts and *interval the seconds between polls the configuration now
 * asks for, or -1 to keep the current one. Returns 0 or -1 with err set.
 */
typedef int daemon_load_fn(void *ctx, struct account **accts, size_t *n,
    int *interval, struct pf_err *err);

struct daemon_opts {
	int interval; /* seconds between polls; 0: poll again at once */
	const struct runner_opts *run;
	/* report, progress and done as in one-shot mode; done must not log
	 * the account's error: the daemon does (see above) */
	const struct runner_hooks *hooks;
	daemon_load_fn *load;
	void *load_ctx;
};

/*
 * Serve accts[0..n) (taken over: freed here) until SIGTERM or SIGINT; a
 * batch running then ends at the next safe point, as in one-shot mode.
 * Returns 0 after such a stop, or -1 with err set when the daemon cannot
 * start: PF_ETEMP when another daemon serves one of the accounts,
 * PF_ECANTCREAT when a lock cannot be made.
 */
int daemon_run(const struct daemon_opts *o, struct account *accts, size_t n,
    struct pf_err *err);

#endif
