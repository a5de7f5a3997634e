/*
 * state.h: the seen-message state of one account: which UIDs were
 * delivered (and when), and the last login. The account lock is lock.h's;
 * the mbox pending-append record, the other crash-recovery file of the
 * state directory, is pending.h's.
 *
 * The state lives in STATE_DIR/<account file name>.state: a header line,
 * then records, each one line ending in a CRC-32 so a torn or damaged
 * record is found. Changes are appended as a journal and made durable with
 * state_flush() (write, fdatasync); state_compact() rewrites the whole file
 * atomically (temp file, fsync, rename, fsync of the directory). Only the
 * last record of the journal may be torn; it is dropped with a warning.
 * Anything else that does not parse is corruption (PF_EDATA): never taken
 * as "nothing seen".
 */
#ifndef POPFETCH_STATE_H
#define POPFETCH_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "popfetch/err.h"

/* Record kinds. */
#define STATE_DELIVERED 'D' /* delivered; delete on the server */
#define STATE_KEPT	'K' /* delivered and kept on the server */

struct state_rec {
	const char *uid;	 /* the server's UID (printable ASCII) */
	unsigned long long size; /* LIST size when it was delivered */
	time_t first_seen;	 /* when it was first delivered */
	char kind;		 /* STATE_DELIVERED or STATE_KEPT */
};

struct state;

/*
 * File-system-safe base name for an account id ("user@host:port"):
 * letters, digits, '.', '-', '_', '@' kept, others as %XX, long ids
 * shortened with a hash. Returns a new string.
 */
char *state_account_file(const char *account_id);

/* "DIR/FILE.SUFFIX" with FILE from state_account_file(): where the state
 * directory keeps the account's journal, lock and records. New string. */
char *state_account_path(
    const char *dir, const char *account_id, const char *suffix);

struct stat;

/*
 * Trust a state directory or state file only when it is ours, as ssh
 * trusts ~/.ssh (docs/faults.md #77): owned by the effective user (or
 * root) and not writable by group or others. sb is its stat(2); what
 * names it in the message ("directory", "file"). 0, or -1 with
 * PF_ECANTCREAT and a line saying why and how to fix it.
 */
int state_check_owner(const char *path, const struct stat *sb, const char *what,
    struct pf_err *err);

/*
 * Load the account's state (a missing file is an empty state). Checks
 * that the directory is writable. Returns the state, or NULL: PF_EDATA
 * (corrupt, wrong version, another account's file), PF_ECANTCREAT
 * (unreadable, directory not writable).
 */
struct state *state_load(
    const char *state_dir, const char *account_id, struct pf_err *err);

/* The record for uid, or NULL. */
const struct state_rec *state_find(const struct state *st, const char *uid);

/* Add or replace the record for uid (in memory, journalled on flush). */
void state_set(struct state *st, const char *uid, unsigned long long size,
    time_t first_seen, char kind);

/* Remove the record for uid (journalled on flush). */
void state_forget(struct state *st, const char *uid);

/* Number of records. */
size_t state_count(const struct state *st);

/* Call fn for every record, in no particular order. fn must not change st. */
void state_foreach(const struct state *st,
    void (*fn)(void *ctx, const struct state_rec *r), void *ctx);

/*
 * Append every change since the last flush to the journal and fdatasync
 * it. After it returns 0 the changes survive a crash. Returns 0 or -1
 * (PF_EIO; the state file is then unchanged or has a torn last record).
 */
int state_flush(struct state *st, struct pf_err *err);

/*
 * Rewrite the state file atomically with only the live records (flushes
 * first); nothing when the file holds only those already. Returns 0 or -1
 * (PF_EIO).
 */
int state_compact(struct state *st, struct pf_err *err);

/* Last successful login time (for LOGIN-DELAY), 0 when unknown, and
 * the LOGIN-DELAY in seconds the server announced then (0: none; at most
 * STATE_LOGIN_DELAY_MAX). Journalled on flush as "L TIME [DELAY]". */
#define STATE_LOGIN_DELAY_MAX 86400UL
time_t state_last_login(const struct state *st);
unsigned long state_login_delay(const struct state *st);
void state_set_last_login(struct state *st, time_t t);
void state_set_login(struct state *st, time_t t, unsigned long delay);

/* Free the state (without flushing). NULL is fine. */
void state_free(struct state *st);

/*
 * Escape a UID for the state file / logs: bytes outside 0x21-0x7e and '%'
 * become %XX. Returns a new string. state_unescape() reverses it into a new
 * string, or NULL when the text is not a valid escape.
 */
char *state_escape(const char *uid, size_t len);
char *state_unescape(const char *s);

/* Whether id has a state file in state_dir (state-carry.c). */
bool state_exists(const char *state_dir, const char *id);

/*
 * popfetch 0.1.0 kept the state by mailbox ("user@host:port"), now by
 * account: when to_id has no state file yet and from_id has one, write
 * a copy of from_id's records as to_id's state (under from_id's lock; the
 * caller holds to_id's). from_id's file is left as it is. Returns 1 when
 * copied, 0 when there was nothing to do, -1 (state_load()'s and
 * state_compact()'s errors, lock_account()'s PF_ETEMP).
 */
int state_carry_over(const char *state_dir, const char *from_id,
    const char *to_id, struct pf_err *err);

#endif
