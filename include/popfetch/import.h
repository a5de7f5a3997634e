/*
 * import.h: read the seen-message state of mpop, fetchmail and getmail6
 * and mark the UIDs recorded there as seen for one popfetch account, so a
 * user who kept mail on the server can switch without downloading it all
 * again (--import-state=FORMAT:PATH, docs/contract.md §1).
 *
 * Formats, as the Debian 12 versions write them:
 *   mpop 1.4.18 (~/.mpop_uidls/USER_at_HOST; may hold several accounts):
 *     "# ..." comment lines, then per account a line " COUNT HOST USER"
 *     (leading space) followed by COUNT lines of one UID each;
 *   fetchmail 6.4.37 (~/.fetchids): one line "USER@HOST UID" per UID
 *     (the user part may hold spaces and '@'; the host is the last '@');
 *   getmail6 6.18 (oldmail-SERVER-PORT-USER in its data directory, one
 *     file per server, port and user): lines "UID\0TIME" with the
 *     first-seen time in seconds since the epoch.
 * Every file is checked completely before anything is applied: a file of
 * another format, a line without its newline, a UID that is empty, over
 * 70 characters or not printable ASCII (RFC 1939) is an error naming the
 * file and line, and then nothing is imported.
 */
#ifndef POPFETCH_IMPORT_H
#define POPFETCH_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "popfetch/config.h"
#include "popfetch/err.h"

#define IMPORT_UID_MAX	70		   /* RFC 1939: 1 to 70 characters */
#define IMPORT_FILE_MAX (64 * 1024 * 1024) /* bytes per state file */

enum import_format {
	IMPORT_MPOP,
	IMPORT_FETCHMAIL,
	IMPORT_GETMAIL,
};

/* "mpop", "fetchmail", "getmail", indexed by enum import_format. */
extern const char *const import_format_names[];

/* One recorded UID. The strings belong to the parser. */
struct import_entry {
	const char *user;
	const char *host;
	unsigned port; /* 0 when the format does not record it */
	const char *uid;
	time_t time;	    /* first seen, as recorded; 0 when not recorded */
	const char *file;   /* the file it was read from */
	unsigned long line; /* and its line */
};

/* The popfetch account to match entries against. */
struct import_account {
	const char *user; /* compared exactly */
	const char *host; /* compared without regard to case */
	unsigned port;	  /* compared only when the entry has a port */
};

/* What import_state() did. */
struct import_counts {
	unsigned long imported; /* marked as seen now */
	unsigned long skipped;	/* entries of other accounts */
	unsigned long known;	/* already in the state (or repeated) */
	char others[200];	/* some "user@host" of the skipped entries,
				   ", "-separated, printable; "" when none */
};

/*
 * The line --import-state prints: "imported N, skipped N (other accounts:
 * LIST), already known N" (the part in parentheses only when some were
 * skipped). Writes it, NUL-terminated, into buf. Returns buf.
 */
char *import_summary(const struct import_counts *c, char *buf, size_t len);

/*
 * Split "FORMAT:PATH" (the argument of --import-state) into its parts.
 * *path becomes a new string with a leading "~/" expanded. Returns 0, or
 * -1 with PF_EUSAGE (unknown format, no ':' or empty path).
 */
int import_spec_parse(
    const char *spec, enum import_format *fmt, char **path, struct pf_err *err);

/*
 * Read PATH, a file or (mpop, getmail) a directory of such files, check
 * all of it, then call fn once per entry in file order. hint (may be NULL)
 * is the account being imported: getmail's file names join server, port
 * and user with '-', which only the account can split reliably. fn returns
 * 0, or -1 to stop (its error is passed on). Returns 0, or -1: PF_EUSAGE
 * (PATH cannot be opened), PF_EIO (read error), PF_EDATA (bad content;
 * the message names the file and line; fn was not called).
 */
int import_read(enum import_format fmt, const char *path,
    const struct import_account *hint,
    int (*fn)(void *ctx, const struct import_entry *e, struct pf_err *err),
    void *ctx, struct pf_err *err);

/*
 * The same for one file already in memory: name is used in messages and,
 * for getmail, is the file's name (its base name is parsed). For tests and
 * fuzzing. Same return values, without PF_EUSAGE and PF_EIO.
 */
int import_parse_buf(enum import_format fmt, const char *name, const char *data,
    size_t len, const struct import_account *hint,
    int (*fn)(void *ctx, const struct import_entry *e, struct pf_err *err),
    void *ctx, struct pf_err *err);

/* True when e belongs to the account a (see struct import_account). */
bool import_match(const struct import_account *a, const struct import_entry *e);

/*
 * --import-state: read PATH as above, then mark every UID of the account
 * acct as delivered in the seen-state of account_id under state_dir,
 * kept on the server when keep (UIDL_KEPT, else UIDL_DELIVERED, so a
 * delete-mode run deletes those messages without downloading them). The
 * first-seen time is the recorded one, else now (never later than now).
 * UIDs already in the state are left as they are. Takes the account's
 * lock. Nothing is fetched or deleted. Returns 0 with *counts filled, or
 * -1: the errors of import_read(), and of the state store (PF_ETEMP lock
 * held, PF_EDATA corrupt state, PF_ECANTCREAT, PF_EIO).
 */
int import_state(enum import_format fmt, const char *path,
    const struct import_account *acct, const char *state_dir,
    const char *account_id, bool keep, struct import_counts *counts,
    struct pf_err *err);

/*
 * --import-state=FORMAT:PATH for account a: spec parsed
 * (import_spec_parse()), then import_state() into a's state under the
 * identity a fetch run keeps its state and lock by (fetch_account():
 * account_key()). The two must stay the same; test-migrate-state checks
 * that they use one state file. Returns 0 with *counts filled, or -1:
 * those functions' errors, and for an account without a user PF_ECONFIG
 * (from the config file) or PF_EUSAGE (a one-off --host account).
 */
int import_account_state(const struct account *a, const char *spec,
    struct import_counts *counts, struct pf_err *err);

#endif
