/*
 * runner.h: runs the accounts of one invocation, one after the other or
 * up to -j at a time in child processes, and collects each account's
 * outcome. The secret of each account is got in this process, one
 * account at a time, so that two prompts never race for the terminal.
 * The runner prints nothing itself: what a person reads goes through the
 * hooks, and the caller maps the outcome to an exit status.
 */
#ifndef POPFETCH_RUNNER_H
#define POPFETCH_RUNNER_H

#include <stdbool.h>
#include <stddef.h>

#include "popfetch/config.h"
#include "popfetch/err.h"
#include "popfetch/fetch.h"
#include "popfetch/secret.h"

/* The outcome of one account (also sent from a -j child through a pipe,
 * so it holds no pointers). */
struct runner_result {
	int ret; /* 0, or -1 with err set */
	struct pf_err err;
	struct fetch_stats st;
	bool interrupted; /* a signal stopped it (or it never started) */
};

/*
 * What the front end does with output. Any hook may be NULL. Hooks run
 * in the process that runs the account (a child with -j), with the log
 * tagged with the account's name.
 */
struct runner_hooks {
	/* a line of the dry-run plan or of -v output meant for stdout */
	void (*report)(void *ctx, const char *line);
	/* progress of account a (at the start and after each message) */
	void (*progress)(
	    void *ctx, const struct account *a, const struct fetch_progress *p);
	/* the --serverinfo text of account a */
	void (*serverinfo)(
	    void *ctx, const struct account *a, const char *text);
	/* account a is over: called once per account, with its outcome */
	void (*done)(
	    void *ctx, const struct account *a, const struct runner_result *r);
	void *ctx;
};

/* Runs one account; fetch_account() has this shape. */
typedef int runner_fetch_fn(const struct account *a, const struct fetch_opts *o,
    struct fetch_stats *st, struct pf_err *err);
/* Gets one account's secret; secret_get() has this shape. */
typedef int runner_secret_fn(const struct account *a,
    const struct secret_opts *o, char **out, struct pf_err *err);
/* --serverinfo of one account; serverinfo_get() has this shape. */
typedef int runner_probe_fn(const struct account *a, const struct fetch_opts *o,
    char **text, struct pf_err *err);

/* The most accounts at once: -j takes 1 to this (cli.c). */
#define RUNNER_JOBS_MAX 64

struct runner_opts {
	int jobs;	 /* accounts at once; 1 runs them in this process */
	bool serverinfo; /* probe the servers instead of fetching */
	bool dry_run;
	int trace; /* >0: protocol trace */
	/* NULL: fetch_account(), secret_get(), serverinfo_get(); a test
	 * or another front end (a daemon) may put its own here */
	runner_fetch_fn *fetch;
	runner_secret_fn *secret;
	runner_probe_fn *probe;
};

/*
 * Run accts[0..n) and fill res[0..n). When runner_parallel(), up to
 * o->jobs accounts run at once in as many worker processes, each forked
 * once and given one account after another. Once a signal
 * has asked to stop (fetch_request_stop()), accounts not yet started
 * fail with PF_ETEMP and are not started. The message of an account that
 * a signal stopped says how many messages were delivered and that the
 * rest stay on the server.
 */
void runner_run(const struct account *accts, size_t n,
    const struct runner_opts *o, const struct runner_hooks *h,
    struct runner_result *res);

/*
 * Whether runner_run() would run accts[0..n) in child processes: jobs > 1,
 * more than one account, and none writing to standard output (two
 * writers on one stdout would mix their streams).
 */
bool runner_parallel(const struct account *accts, size_t n, int jobs);

/*
 * The index of the first account (in the order given, not the order they
 * ended) that failed, or -1: its error class is the run's.
 */
long runner_first_failure(const struct runner_result *res, size_t n);

#endif
