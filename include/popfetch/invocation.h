/*
 * invocation.h: what one run of popfetch does, decided from its command
 * line and config file: the config loaded (unless the run is a one-off
 * --host account) and the accounts picked, again on the daemon's SIGHUP;
 * whether the run is a daemon; the runner's options; who writes where
 * (--json, --stdout, the progress bar); and what is said when an account
 * is over. It sets up logging (log_init()) as the config asks, but never
 * prints: main.c does, through the runner's hooks (docs/internals.md).
 */
#ifndef POPFETCH_INVOCATION_H
#define POPFETCH_INVOCATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "popfetch/cli.h"
#include "popfetch/config.h"
#include "popfetch/err.h"
#include "popfetch/oauth.h"
#include "popfetch/progress.h"
#include "popfetch/runner.h"

struct invocation {
	const struct cli *c;
	struct config cfg;     /* the config file, when have_cfg */
	bool have_cfg;	       /* false: a one-off --host run */
	struct account *accts; /* the accounts picked */
	size_t n;
	bool syslog;		  /* --syslog, or "syslog on" in the config */
	bool bar;		  /* a progress bar on stderr */
	struct progress progress; /* the bar's state */
	bool daemon; /* --daemon: the daemon logs each account's error */
	/* the config's warnings (config_lint()), and --authorize's */
	void (*warn)(void *ctx, const char *msg);
	/* where --authorize's prompt goes (authorize_prompt()); main.c sets
	 * it: text for the person at the terminal, at once */
	void (*put)(const char *text);
};

/* What a one-shot command (--convert-config, --authorize, --import-state)
 * has main.c write on standard output. The three take a non-const inv, so
 * that main.c can call them through one pointer type. */
struct invocation_text {
	char *text; /* len bytes, NUL-terminated */
	size_t len;
	/* the converted configuration: it may hold passwords, so it is wiped
	 * (convert_free()), and a failed write of it fails the run */
	bool config;
};

/* Start inv for the command line c (kept, not copied) and set up logging
 * as c asks. */
void invocation_init(struct invocation *inv, const struct cli *c,
    void (*warn)(void *ctx, const char *msg));

/* Free the accounts and the config of inv, and what running them left:
 * the TLS contexts (conn_tls_cache_free()); close logging (log_close()). */
void invocation_free(struct invocation *inv);

/*
 * Load the config (unless the run is a one-off --host account: inv->c has
 * --host and no ACCOUNT operand nor -a), switch logging to syslog when it
 * says "syslog on", warn about what config_lint() finds, and pick the
 * accounts of the run, complete as the mode needs them (config_select()).
 * Returns 0 or -1 with err set (config_load(), config_select()).
 */
int invocation_load(struct invocation *inv, struct pf_err *err);

/*
 * The daemon's SIGHUP (a daemon_load_fn, ctx the struct invocation): the
 * config loaded again as invocation_load() does, into a config of its
 * own; *interval is --daemon, else the config's "daemon", else -1.
 */
int invocation_reload(void *ctx, struct account **accts, size_t *n,
    int *interval, struct pf_err *err);

/*
 * Whether the run is a daemon: *interval (and inv->daemon) gets the poll
 * interval from --daemon, or from the config's "daemon" unless the run
 * only looks (-n, --serverinfo, --show-config, --json); else -1. Returns
 * 0, or -1 with PF_EUSAGE when --daemon is combined with one of those.
 */
int invocation_daemon(
    struct invocation *inv, int *interval, struct pf_err *err);

/*
 * Who writes where in a one-shot run: refuses --json with an account that
 * delivers to standard output (PF_EUSAGE), then decides inv->bar: a
 * progress bar on stderr unless logging goes to syslog, the run probes,
 * plans or is quiet, the accounts run in parallel, or --progress and
 * stderr say no. Returns 0 or -1 with err set.
 */
int invocation_output(struct invocation *inv, struct pf_err *err);

/*
 * Run the accounts of inv once (-j, --serverinfo, -n, the protocol trace
 * at -vv) with hooks h. *json gets the --json document of their outcomes
 * (summary_json(), a new string), or NULL without --json. Returns the
 * run's exit status: exit_of() of the error class of the first account
 * that failed (runner_first_failure()), or 0.
 */
int invocation_run(const struct invocation *inv, const struct runner_hooks *h,
    int (*exit_of)(enum pf_errc code), char **json);

/*
 * Serve the accounts of inv as a daemon polling every interval seconds
 * (daemon_run(), with invocation_reload() for SIGHUP); they are taken
 * over (inv->accts becomes NULL). Returns 0 or -1 as daemon_run().
 */
int invocation_serve(struct invocation *inv, int interval,
    const struct runner_hooks *h, struct pf_err *err);

/* --show-config of the run on fp: config_show_all(). */
int invocation_show_config(
    const struct invocation *inv, FILE *fp, struct pf_err *err);

/*
 * --convert-config=SOURCE FILE: *out gets the popfetchrc convert_named()
 * makes (out->config). Returns 0, or -1 with convert_named()'s errors.
 */
int invocation_convert(
    struct invocation *inv, struct invocation_text *out, struct pf_err *err);

/*
 * --authorize[=FLOW] ACCOUNT for the accounts of inv (authorize_account(),
 * its prompt through inv->put, its warnings through inv->warn): *out gets
 * the line that says where the tokens are stored. Returns 0, or -1 with
 * authorize_account()'s errors.
 */
int invocation_authorize(
    struct invocation *inv, struct invocation_text *out, struct pf_err *err);

/*
 * --import-state=FORMAT:PATH into the first account of inv
 * (import_account_state()): *out gets the counts line (import_summary()).
 * Returns 0, or -1 with import_account_state()'s errors.
 */
int invocation_import(
    struct invocation *inv, struct invocation_text *out, struct pf_err *err);

/* Free (and for a config, wipe) the text of t; an empty t is fine. */
void invocation_text_free(struct invocation_text *t);

/*
 * What to say when account a is over with r (runner_hooks.done). *error:
 * whether r's error is logged: not by a daemon (it logs errors itself),
 * not when quiet_temporary keeps it quiet (tempcount_after_run(), which
 * this calls and which records the outcome, except for --serverinfo and
 * -n), and not for a LOGIN-DELAY not yet over under -q, routine for cron.
 * Returns the level of a's summary line (summary_line(), written into
 * line[0..len)): LOGL_INFO at -v, LOGL_NOTICE after a progress bar, or -1
 * for none (--serverinfo, -n, or a failure before the listing).
 */
int invocation_done(const struct invocation *inv, const struct account *a,
    const struct runner_result *r, bool *error, char *line, size_t len);

/*
 * Account a's progress p (runner_hooks.progress): whether the bar is
 * redrawn now (progress_step() at this time), with the line to write in
 * line[0..len). Always false when inv draws no bar (inv->bar).
 */
bool invocation_progress(struct invocation *inv, const struct account *a,
    const struct fetch_progress *p, char *line, size_t len);

#endif
