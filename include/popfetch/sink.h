/*
 * sink.h: local delivery. One interface, four targets: Maildir, mbox
 * (mboxrd), an MDA command, and stdout (an mboxrd stream).
 *
 * Life of a message: sink_open() -> sink_write()* -> sink_commit() (or
 * sink_abort()). Group commit: sink_sync() makes every message committed
 * since the last sync durable at once; only after it returns 0 may the
 * caller record those messages as delivered and delete them on the server.
 *
 *   target   commit                          sync
 *   Maildir  tmp file complete (fd kept)     fsync each file, link each
 *                                            into new/, fsync new/
 *   mbox     spool complete (private temp)   lock, append all, fsync, unlock
 *   MDA      run the MDA; exit 0 required    nothing more
 *   stdout   spool complete                  write all to stdout, flush
 *
 * The bytes written are the message as delivered: LF line ends, dots
 * already unstuffed, our Received: header first. mbox and stdout add the
 * "From " line and mboxrd quoting themselves.
 */
#ifndef POPFETCH_SINK_H
#define POPFETCH_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "popfetch/err.h"

enum sink_kind {
	SINK_NONE,
	SINK_MAILDIR,
	SINK_MBOX,
	SINK_MDA,
	SINK_STDOUT,
};
extern const char *const sink_kind_names[];

struct sink_params {
	enum sink_kind kind;
	const char *path;      /* Maildir directory, mbox file or MDA command */
	const char *spool_dir; /* private 0700 directory for temp files and the
				  mbox pending-append record (the state dir) */
	const char *account_id; /* "user@host:port": names the pending record */
	int lock_wait;		/* mbox: seconds to wait for the lock (30) */
	int mda_timeout;	/* MDA: seconds before it is killed (300) */
};

struct sink_msg {
	const char *uid;   /* server UID, or NULL; for logs only */
	const char *token; /* Maildir: 16 hex digits derived from the account
			      and UID, put in the file name so a delivery can
			      be found again after a crash; or NULL */
	unsigned long long size_hint; /* LIST size */
};

struct sink;

/*
 * Validate and prepare the target before any network I/O: create a missing
 * Maildir (with tmp/ new/ cur/) or mbox (0600), refuse a symlink, FIFO or
 * device for an mbox, check an MDA command is non-empty. Returns the sink,
 * or NULL with PF_ECANTCREAT (or PF_ECONFIG for a bad MDA command).
 */
struct sink *sink_new(const struct sink_params *p, struct pf_err *err);

/* Begin a message. Returns 0 or -1 (PF_ECANTCREAT, PF_EIO). */
int sink_open(struct sink *sk, const struct sink_msg *m, struct pf_err *err);

/* Append decoded message bytes. Returns 0 or -1 (PF_EIO). */
int sink_write(
    struct sink *sk, const char *buf, size_t len, struct pf_err *err);

/*
 * The message is complete: stage it as in the table above. Returns 0, or
 * -1: PF_EIO (write/fsync failed, MDA failed or did not read all input),
 * PF_ETEMP (MDA exited 75). On -1 the message is not delivered and
 * nothing of it is left behind.
 */
int sink_commit(struct sink *sk, struct pf_err *err);

/* Discard the message being written (removes its temp file). */
void sink_abort(struct sink *sk);

/*
 * Make all committed messages durable. Returns 0, or -1: PF_EIO,
 * PF_ETEMP (mbox lock not obtained within lock_wait). On -1 none of the
 * messages staged since the last sync count as delivered (mbox is
 * truncated back); for Maildir the linked files stay, which is safe since
 * their names carry the token.
 */
int sink_sync(struct sink *sk, struct pf_err *err);

/* Messages committed but not yet synced. */
unsigned sink_staged(const struct sink *sk);

/* Where the last committed message went ("Maildir/new/...", "mbox", ...),
 * for -v lines. Valid until the next call on sk. */
const char *sink_last_where(const struct sink *sk);

/*
 * Maildir only: true when a message whose file name carries token is
 * already in new/ or cur/ (a crash between delivery and the state record).
 * The first call scans both directories once; later calls use the set.
 * Other sinks return false.
 */
bool sink_has_token(struct sink *sk, const char *token);

/*
 * mbox records: resolve a pending-append record left by a run that was
 * killed. For each UID it lists, confirm(ctx, uid) is called when the
 * append is complete; a partial append is truncated away. Call before
 * connecting. Works for every kind (the record names its own mbox). After
 * confirms, the record stays until sink_synced_recorded(), so record the
 * confirmed UIDs durably first. Returns 0 or -1 (PF_EIO, PF_ETEMP for a
 * held lock).
 */
typedef int (*sink_confirm_fn)(void *ctx, const char *uid, struct pf_err *err);
int sink_recover(
    struct sink *sk, sink_confirm_fn confirm, void *ctx, struct pf_err *err);

/* After the caller durably recorded the synced messages: forget the
 * mbox pending-append record. Other sinks: no-op. */
void sink_synced_recorded(struct sink *sk);

/* Abort any open message, release everything. NULL is fine. */
void sink_free(struct sink *sk);

/* Helpers shared by the sinks, exposed for the unit tests. */

/*
 * Envelope sender from the Return-Path header in hdr[0..len) (the bare
 * address without <>), or "MAILER-DAEMON" when there is none or it is
 * empty ("<>"). Writes at most outsz - 1 bytes plus NUL into out.
 */
void sink_envelope_sender(const char *hdr, size_t len, char *out, size_t outsz);

/* "From sender Thu Nov 26 19:13:36 2026\n" (asctime, local time).
 * Returns 0, or -1 when it does not fit in outsz. */
int sink_from_line(char *out, size_t outsz, const char *sender, time_t t);

/*
 * mboxrd quoting as a streaming filter: copies in[0..len) to out (which
 * must hold 2 * len + 16 bytes), adding one '>' to each line that matches
 * ^>*From . st (start at 0) carries the line state between calls. Returns
 * bytes written. Up to 4 bytes of a possible "From" may be held back
 * until the next call; a call with len 0 flushes them (at most 4 bytes
 * to out) and resets *st to 0, for input that does not end in "\n".
 */
size_t sink_mboxrd_quote(int *st, const char *in, size_t len, char *out);

/*
 * Shell-quote s as one single-quoted word ('it'\''s') into a new string.
 */
char *sink_shell_quote(const char *s);

/*
 * Expand %F (the quoted sender) and %% in an MDA command; a lone % or an
 * unknown %x is left as is. Returns a new string.
 */
char *sink_mda_expand(const char *cmd, const char *sender);

/*
 * The argument vector of an MDA command that is only plain words
 * (letters, digits and _./,:+@%=- separated by spaces, not starting with
 * an assignment, a reserved word or a shell builtin), which sh -c would
 * run as that program unchanged; NULL when the command needs the shell.
 * Free with sink_mda_words_free().
 */
char **sink_mda_words(const char *cmd);
void sink_mda_words_free(char **argv);

/* A unique Maildir base name: "time.M<usec>P<pid>Q<n>R<rand>[h<token>].host" */
int sink_maildir_name(char *out, size_t outsz, const char *token);

#endif
