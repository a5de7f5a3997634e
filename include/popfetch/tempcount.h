/*
 * tempcount.h: how many runs of an account in a row ended in a temporary
 * failure (exit 75), so that quiet_temporary can keep short outages out
 * of cron mail (docs/contract.md §1). The count lives in a small file
 * next to the account's seen-state, STATE_DIR/<account file name>.tempfail,
 * holding the number and a newline; no file means 0.
 */
#ifndef POPFETCH_TEMPCOUNT_H
#define POPFETCH_TEMPCOUNT_H

#include <stdbool.h>

#include "popfetch/config.h"
#include "popfetch/runner.h"

/*
 * Record one run of account_id under state_dir: a temporary failure adds
 * one to the count, any other outcome removes the file (the count starts
 * again). Returns the new count (0 after a reset), or -1 with errno set
 * when the file cannot be read or written; the caller then cannot stay
 * quiet and should say what failed.
 */
long tempcount_record(
    const char *state_dir, const char *account_id, bool temporary);

/*
 * Whether a temporary failure that is the count-th in a row stays
 * unprinted under quiet_temporary quiet (0: never quiet): it does while
 * count < quiet. A count of -1 (unknown) is never quiet.
 */
bool tempcount_quiet(long count, int quiet);

/*
 * After a fetch of account a ended with r: when a sets quiet_temporary,
 * record the outcome (a run a signal stopped is not counted) and return
 * whether r's error stays unprinted. Without quiet_temporary nothing is
 * written and the answer is false.
 */
bool tempcount_after_run(
    const struct account *a, const struct runner_result *r);

#endif
