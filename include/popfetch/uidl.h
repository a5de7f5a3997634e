/*
 * uidl.h: the seen-message state of one account and the account lock.
 *
 * The state lives in STATE_DIR/<account file name>.state: a header line,
 * then records, each one line ending in a CRC-32 so a torn or damaged
 * record is found. Changes are appended as a journal and made durable with
 * uidl_flush() (write, fdatasync); uidl_compact() rewrites the whole file
 * atomically (temp file, fsync, rename, fsync of the directory). Only the
 * last record of the journal may be torn; it is dropped with a warning.
 * Anything else that does not parse is corruption (PF_EDATA): never taken
 * as "nothing seen".
 */
#ifndef POPFETCH_UIDL_H
#define POPFETCH_UIDL_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "popfetch/err.h"

/* Record kinds. */
#define UIDL_DELIVERED 'D' /* delivered; delete on the server */
#define UIDL_KEPT      'K' /* delivered and kept on the server */

struct uidl_rec {
	const char *uid;	 /* the server's UID (printable ASCII) */
	unsigned long long size; /* LIST size when it was delivered */
	time_t first_seen;	 /* when it was first delivered */
	char kind;		 /* UIDL_DELIVERED or UIDL_KEPT */
};

struct uidl_state;

/*
 * File-system-safe base name for an account id ("user@host:port"):
 * letters, digits, '.', '-', '_', '@' kept, others as %XX, long ids
 * shortened with a hash. Returns a new string.
 */
char *uidl_account_file(const char *account_id);

/*
 * Create state_dir (mode 0700, parents too) if missing, then take the
 * account's lock: flock(LOCK_EX|LOCK_NB) on STATE_DIR/<file>.lock, a
 * stable file that holds the owner's pid. Returns the lock fd (O_CLOEXEC),
 * or -1: PF_ETEMP "already running (pid N)" when held, PF_ECANTCREAT when
 * the directory or file cannot be made or written.
 */
int uidl_lock(
    const char *state_dir, const char *account_id, struct pf_err *err);

/* Release the lock taken by uidl_lock(). */
void uidl_unlock(int fd);

/*
 * Load the account's state (a missing file is an empty state). Checks
 * that the directory is writable. Returns the state, or NULL: PF_EDATA
 * (corrupt, wrong version, another account's file), PF_ECANTCREAT
 * (unreadable, directory not writable).
 */
struct uidl_state *uidl_load(
    const char *state_dir, const char *account_id, struct pf_err *err);

/* The record for uid, or NULL. */
const struct uidl_rec *uidl_find(const struct uidl_state *st, const char *uid);

/* Add or replace the record for uid (in memory, journalled on flush). */
void uidl_set(struct uidl_state *st, const char *uid, unsigned long long size,
    time_t first_seen, char kind);

/* Remove the record for uid (journalled on flush). */
void uidl_forget(struct uidl_state *st, const char *uid);

/* Number of records. */
size_t uidl_count(const struct uidl_state *st);

/* Call fn for every record, in no particular order. fn must not change st. */
void uidl_foreach(const struct uidl_state *st,
    void (*fn)(void *ctx, const struct uidl_rec *r), void *ctx);

/*
 * Append every change since the last flush to the journal and fdatasync
 * it. After it returns 0 the changes survive a crash. Returns 0 or -1
 * (PF_EIO; the state file is then unchanged or has a torn last record).
 */
int uidl_flush(struct uidl_state *st, struct pf_err *err);

/*
 * Rewrite the state file atomically with only the live records (flushes
 * first). Returns 0 or -1 (PF_EIO).
 */
int uidl_compact(struct uidl_state *st, struct pf_err *err);

/* Last successful login time (for LOGIN-DELAY), 0 when unknown. */
time_t uidl_last_login(const struct uidl_state *st);
void uidl_set_last_login(struct uidl_state *st, time_t t);

/* Free the state (without flushing). NULL is fine. */
void uidl_free(struct uidl_state *st);

/*
 * Escape a UID for the state file / logs: bytes outside 0x21-0x7e and '%'
 * become %XX. Returns a new string. uidl_unescape() reverses it into a new
 * string, or NULL when the text is not a valid escape.
 */
char *uidl_escape(const char *uid, size_t len);
char *uidl_unescape(const char *s);

#endif
