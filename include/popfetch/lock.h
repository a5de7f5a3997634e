/*
 * lock.h: one run per account at a time (docs/faults.md I4). The lock is
 * an flock(2) on STATE_DIR/<account file name>.lock, a stable file that is
 * never renamed or removed and holds the owner's pid, taken before
 * connecting and without waiting.
 */
#ifndef POPFETCH_LOCK_H
#define POPFETCH_LOCK_H

#include "popfetch/err.h"

/*
 * Create state_dir (mode 0700, parents too) if missing, then take the
 * account's lock. Returns the lock fd (O_CLOEXEC), or -1: PF_ETEMP
 * "already being fetched (pid N)" when another process holds it,
 * PF_ECANTCREAT when the directory or file cannot be made or written.
 */
int lock_account(
    const char *state_dir, const char *account_id, struct pf_err *err);

/* Release the lock taken by lock_account(); a negative fd is fine. */
void lock_release(int fd);

#endif
