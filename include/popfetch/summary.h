/*
 * summary.h: what a run reports when it is over: one line per account
 * for people (-v, or after a progress bar) and one JSON document for
 * programs (--json).
 */
#ifndef POPFETCH_SUMMARY_H
#define POPFETCH_SUMMARY_H

#include <stddef.h>

#include "popfetch/config.h"
#include "popfetch/err.h"
#include "popfetch/fetch.h"
#include "popfetch/runner.h"

/*
 * "3 new, 3 delivered, 3 deleted, 0 left, 12.3 KiB, 1.2 s": messages
 * planned for fetching, delivered, deleted on the server, left on it,
 * the bytes delivered and the seconds the account took.
 */
void summary_line(char *buf, size_t sz, const struct fetch_stats *st);

/*
 * The --json document (one line, ending in a newline) for accounts
 * accts[0..n) with outcomes res[0..n): the version, exit_code (status,
 * the exit status of the run), and per account its name (null for a one-off
 * account), host, user, listed, new, fetched, bytes, deleted, left,
 * skipped, errors, seconds, exit_code (exit_of() of its error class, or
 * 0) and error (its message, or null). Text that is not valid UTF-8 is
 * written with U+FFFD in place of the bad bytes. Returns a new string.
 */
char *summary_json(const struct account *accts, const struct runner_result *res,
    size_t n, int status, int (*exit_of)(enum pf_errc code));

#endif
