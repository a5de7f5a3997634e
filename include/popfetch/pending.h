/*
 * pending.h: the pending-append record of an account, the crash-recovery
 * note that makes mbox delivery free of duplicates after a kill
 * (docs/contract.md §4). Before appending a batch, the mbox sink writes
 * durably what it is about to append (the mbox, its device and inode, the
 * old size, the length and SHA-256 of the batch, the UIDs in it); after
 * the caller has recorded those UIDs in the state, the record goes.
 *
 * A run killed in between leaves the record, which pending_recover()
 * resolves before the next connection: a complete append has its UIDs
 * confirmed (so they are recorded, not fetched again), a partial one is
 * truncated away, but only when every byte after the recorded offset is
 * proven its own (docs/faults.md #76); otherwise nothing is cut. The record lives next to the seen-state, in
 * STATE_DIR/<account file name>.mbox-pending; it is acted on only when
 * it names the mbox the account delivers to now.
 */
#ifndef POPFETCH_PENDING_H
#define POPFETCH_PENDING_H

#include <stdbool.h>
#include <stddef.h>

#include "popfetch/err.h"

/* What a record says. */
struct pending_rec {
	char *path; /* the mbox, as given */
	unsigned long long dev, ino;
	unsigned long long orig;   /* its size before the append */
	unsigned long long prefix; /* newlines written first (0..2) */
	unsigned long long len;	   /* the batch's length after them */
	char sha[65];		   /* SHA-256 of the batch, hex */
	char **uids;		   /* the UIDs in the batch */
	size_t nuids;
};

/*
 * Create the account's batch file, STATE_DIR/<account file name>.mbox-batch
 * (a new one, 0600, read-write): the mbox sink builds each batch in it and
 * fsyncs it before pending_write(), so that recovery can prove that bytes
 * after the recorded offset are its own. Goes with the record. Returns
 * the fd, or -1 (PF_EIO).
 */
int pending_batch_create(
    const char *state_dir, const char *account_id, struct pf_err *err);

/* Remove the batch file when no record points to it (a sync that failed
 * before writing its record), so that no batch stays behind. */
void pending_batch_remove(const char *state_dir, const char *account_id);

/*
 * Write the record of state_dir/account_id atomically: temp file, fsync,
 * rename, fsync of the directory. Returns 0 or -1 (PF_EIO).
 */
int pending_write(const char *state_dir, const char *account_id,
    const struct pending_rec *r, struct pf_err *err);

/* Returns 0 when the account has no record on disk, else -1 (PF_EIO:
 * an unresolved record, which pending_recover() must see first). */
int pending_check(
    const char *state_dir, const char *account_id, struct pf_err *err);

/* Remove the record once its UIDs are durably recorded; not made
 * durable itself (a record that comes back is harmless: its append is
 * found complete and its UIDs are recorded already). */
void pending_forget(const char *state_dir, const char *account_id);

/* Remove the record durably (unlink, fsync of the directory): nothing
 * of the append it describes is left in the mbox. */
void pending_drop(const char *state_dir, const char *account_id);

/* Called with each UID of a complete append found by pending_recover(). */
typedef int (*pending_confirm_fn)(
    void *ctx, const char *uid, struct pf_err *err);

/*
 * Resolve a record left by a run that was killed; call before
 * connecting. mbox is the mbox the account delivers to now (NULL: none); a
 * record that names another file is never acted on (PF_EIO, record
 * kept). The mbox is locked (lock_wait seconds at most) while it is
 * checked. Returns 0 when there was nothing to do or the record is
 * resolved and gone (the append was partial and is truncated away; or
 * bytes after the recorded offset are not all its own, and all of them
 * stay, with a warning; or the mbox is gone or was replaced); 1 when the
 * append was complete:
 * confirm() was called for each of its UIDs, and the record stays until
 * the caller has recorded them durably and calls pending_forget(). -1:
 * PF_EIO (unreadable or corrupt record, the mbox now shorter than the
 * recorded offset, a record for another file),
 * PF_ETEMP (the mbox lock is held), or what confirm() set.
 */
int pending_recover(const char *state_dir, const char *account_id,
    const char *mbox, int lock_wait, pending_confirm_fn confirm, void *ctx,
    struct pf_err *err);

#endif
