/*
 * fetch.h: one account's run, end to end: lock, state, connect, log in,
 * list, plan, retrieve, deliver, record, delete, quit, in the order that
 * keeps docs/contract.md §4: a message is deleted on the server only after
 * it is durably delivered and durably recorded as delivered.
 */
#ifndef POPFETCH_FETCH_H
#define POPFETCH_FETCH_H

#include <stdbool.h>
#include <stddef.h>

#include "popfetch/config.h"
#include "popfetch/err.h"

struct fetch_stats {
	unsigned long listed;	  /* messages on the server at login */
	unsigned long fresh;	  /* planned for fetching: new (or --all) */
	unsigned long fetched;	  /* delivered this run */
	unsigned long long bytes; /* octets delivered */
	unsigned long deleted;	  /* DELE committed by QUIT +OK */
	unsigned long skipped;	  /* seen before, too big, or over --limit */
	unsigned long errors;	  /* messages that failed */
	unsigned long left;	  /* on the server after the last session */
	double seconds;
	/* not connected: the server's LOGIN-DELAY is not over (the error
	 * line is left out under -q) */
	bool login_wait;
};

/* Progress, for the bar main.c draws. */
struct fetch_progress {
	unsigned long done, total;
	unsigned long long bytes, total_bytes;
};

struct fetch_opts {
	int trace;    /* >0: protocol trace at LOGL_DEBUG */
	bool dry_run; /* list what would happen; change nothing */
	/* Called with a line of the dry-run plan or of -v output that belongs
	 * on stdout (may be NULL). */
	void (*report)(void *ctx, const char *line);
	/* Called after each message and at the start (may be NULL). */
	void (*progress)(void *ctx, const struct fetch_progress *p);
	void *ctx;
	/* Password or token, obtained by the caller; wiped by the caller. */
	const char *secret;
	/* Opens the connection instead of conn_open() (tests); NULL: normal. */
	struct stream *(*connect)(
	    void *ctx, const struct conn_params *cp, struct pf_err *err);
	/* The proxy user's password (proxy_password_command), or NULL; the
	 * caller's, like secret. */
	const char *proxy_secret;
};

/*
 * Run account a. Returns 0, or -1 with err set to the first failure (see
 * docs/contract.md §3 for the classes). stats is filled in either case.
 */
int fetch_account(const struct account *a, const struct fetch_opts *o,
    struct fetch_stats *stats, struct pf_err *err);

/* Set from signal handlers (SIGTERM, SIGINT, SIGHUP): stop at the next
 * safe point, commit what is durable, QUIT, fail with PF_ETEMP. */
void fetch_request_stop(void);
bool fetch_stop_requested(void);

#endif
