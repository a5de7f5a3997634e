/*
 * sink.h: local delivery, as the fetch sees it. One interface over the
 * delivery targets (the variants: Maildir, mbox, an MDA command, stdout,
 * an LMTP or SMTP server);
 * which variant an account uses is data (enum sink_kind), and what a
 * variant needs from the caller is said by its flags, never by its kind.
 *
 * Life of a message: sink_open() -> sink_write()* -> sink_commit() (or
 * sink_abort()). Group commit: sink_sync() makes every message committed
 * since the last sync durable at once; only after it returns 0 may the
 * caller record those messages as delivered (and then call
 * sink_synced_recorded()) and delete them on the server.
 *
 *   target   commit                          sync
 *   Maildir  tmp file complete (fd kept)     fsync each file, link each
 *                                            into new/, fsync new/
 *   mbox     spool complete (private temp)   lock, write the pending-
 *                                            append record, append all,
 *                                            fsync, unlock
 *   MDA      run the MDA; exit 0 required    nothing more
 *   stdout   spool complete                  write all to stdout, flush
 *   LMTP,    spool complete, then hand it to   nothing more
 *   SMTP     the server; 2xx after the final
 *            dot required (docs/delivery-smtp.md)
 *
 * The bytes written are the message as delivered: LF line ends, dots
 * already unstuffed, our Received: header first. mbox and stdout add the
 * "From " line and mboxrd quoting themselves.
 */
#ifndef POPFETCH_SINK_H
#define POPFETCH_SINK_H

#include <stdbool.h>
#include <stddef.h>

#include "popfetch/err.h"

/* The delivery targets; each is one variant in sink.c's table. */
enum sink_kind {
	SINK_NONE,
	SINK_MAILDIR,
	SINK_MBOX,
	SINK_MDA,
	SINK_STDOUT,
	SINK_LMTP,
	SINK_SMTP,
};

/* What a variant declares about itself (sink_kind_flags()). */
#define SINK_FINAL_EACH \
	0x01		      /* each delivery is final at once (an MDA
				 has run, a reader has the bytes): sync and
				 record after every message */
#define SINK_USES_STDOUT 0x02 /* writes to standard output */
#define SINK_NO_PATH	 0x04 /* takes no path or command */
#define SINK_COMMAND	 0x08 /* the path is a command line, not a file */
/* appends batches to the file at its path under a pending-append record
 * (pending.h), so crash recovery looks at that file */
#define SINK_APPENDS	 0x10

/* The variant's name ("maildir", ...; "none" for SINK_NONE). */
const char *sink_kind_name(enum sink_kind kind);

/* The variant's SINK_* flags (0 for SINK_NONE). */
unsigned sink_kind_flags(enum sink_kind kind);

struct conn_params;

struct sink_params {
	enum sink_kind kind;
	const char *path;	/* Maildir directory, mbox file, MDA command, or
			     the LMTP/SMTP target (docs/delivery-smtp.md) */
	const char *spool_dir;	/* private 0700 directory for temp files and the
				  mbox pending-append record (the state dir) */
	const char *account_id; /* "user@host:port": names the pending record */
	int lock_wait;		/* mbox: seconds to wait for the lock (30) */
	int mda_timeout; /* MDA, stdout: seconds before giving up (300) */
	/* LMTP and SMTP */
	const struct conn_params *conn; /* the account's trust settings for
					   STARTTLS (host, port, proxy and
					   tunnel are not used); NULL: none */
	const char *recipient;		/* envelope recipient; NULL or "": the
					   local user's name */
	bool delete_refused;	 /* a 5xx counts as done: the message is then
				deleted on the POP3 server (default: kept) */
	int timeout;		 /* seconds for each wait (60) */
	int trace;		 /* >0: log the LMTP/SMTP dialogue (debug) */
	bool allow_foreign_mbox; /* mbox, as root: may be another user's */
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

/* The SINK_* flags of sk's variant. */
unsigned sink_flags(const struct sink *sk);

/* Begin a message. Returns 0 or -1 (PF_ECANTCREAT, PF_EIO). */
int sink_open(struct sink *sk, const struct sink_msg *m, struct pf_err *err);

/* Append decoded message bytes. Returns 0 or -1 (PF_EIO; the message is
 * then already discarded). */
int sink_write(
    struct sink *sk, const char *buf, size_t len, struct pf_err *err);

/*
 * The message is complete: stage it as in the table above. Returns 0, or
 * -1: PF_EIO (write/fsync failed, MDA failed or did not read all input,
 * LMTP/SMTP 5xx), PF_ETEMP (MDA exited 75, LMTP/SMTP 4xx, unreachable or
 * gone before its reply), and for LMTP/SMTP also PF_EPROTO, PF_ENOPERM
 * (STARTTLS), PF_EUNAVAIL (docs/delivery-smtp.md). On -1 the message is
 * not delivered and nothing of it is left behind.
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
 * True when a message whose file name carries token was delivered before
 * (a crash between delivery and the state record). Maildir: the first
 * call scans new/ and cur/ once; later calls use the set. Variants
 * without tokens return false.
 */
bool sink_has_token(struct sink *sk, const char *token);

/* After the caller durably recorded the synced messages (mbox: the
 * pending-append record can go). */
void sink_synced_recorded(struct sink *sk);

/* Abort any open message, release everything. NULL is fine. */
void sink_free(struct sink *sk);

#endif
