/*
 * convert-private.h: what the source parsers (convert-mpop.c,
 * convert-fetchmail.c) share with the writer (convert.c).
 *
 * A parser resolves each account of the source file the way the source
 * program would, and describes the result as the popfetch settings the
 * account must end up with ("want"), plus notes for what cannot be
 * mapped. The writer then chooses the lines: a defaults block with what
 * all accounts share, each account's differences from its defaults and
 * parent, checked against popfetch's own inheritance rules.
 */
#ifndef POPFETCH_CONVERT_PRIVATE_H
#define POPFETCH_CONVERT_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>

#include "popfetch/convert.h"
#include "popfetch/err.h"

/* One slot per popfetch setting; the delivery keys share a slot. */
enum cv_slot {
	CV_HOST,
	CV_PORT,
	CV_SOURCE_ADDRESS,
	CV_PROXY,
	CV_TUNNEL,
	CV_USER,
	CV_TLS,
	CV_CA_FILE,
	CV_FINGERPRINT,
	CV_CERT,
	CV_KEY,
	CV_TLS_MIN,
	CV_INSECURE,
	CV_AUTH,
	CV_PASSWORD_COMMAND,
	CV_PASSWORD,
	CV_TIMEOUT,
	CV_DELIVERY, /* key maildir, mbox or mda */
	CV_NO_RECEIVED,
	CV_KEEP,
	CV_ALL,
	CV_MAX_SIZE,
	CV_KILL_SIZE,
	CV_LIMIT,
	CV_NSLOTS
};

/* Settings: a key and a value per slot; val NULL = popfetch's default. */
struct cv_set {
	const char *key[CV_NSLOTS];
	char *val[CV_NSLOTS];
};

struct cv_notes {
	char **v;
	size_t n;
};

/* A source key with no popfetch equivalent, and the note that says why. */
struct cv_unmapped {
	int key;
	const char *why;
};

struct cv_account {
	char *name;	     /* popfetch account name */
	int parent;	     /* index of the parent account, or -1 */
	struct cv_set want;  /* the effective settings it must get */
	struct cv_set lines; /* the lines written (chosen by the writer) */
	struct cv_notes notes;
	bool dropped; /* not converted; the notes say why */
};

struct cv_doc {
	const char *source; /* "mpop" or "fetchmail" */
	const char *file;
	struct cv_notes head;	  /* about the whole file */
	struct cv_notes defnotes; /* about the source's defaults */
	struct cv_account *acc;
	size_t nacc;
	char *default_name; /* or NULL */
	bool syslog;	    /* "syslog on" in the defaults block */
};

/* popfetch key of each slot (the delivery slot carries its own), and the
 * built-in value of each slot that can be written back (NULL: none). */
extern const char *const cv_slot_key[CV_NSLOTS];
extern const char *const cv_slot_default[CV_NSLOTS];

/* A growing text buffer; p is NUL-terminated once anything is added. */
struct cv_out {
	char *p;
	size_t len, cap;
};

/* Append n bytes of s, or the C string s. The old buffer is wiped when it
 * grows, since the text may hold a password. */
void cv_out_add(struct cv_out *o, const char *s, size_t n);
void cv_out_adds(struct cv_out *o, const char *s);

/* Free every value of s (wiping passwords). */
void cv_set_free(struct cv_set *s);

/* Set a slot of s to key/val (copied); val NULL or the default clears. */
void cv_put(
    struct cv_set *s, enum cv_slot slot, const char *key, const char *val);

/*
 * Put host h into the account's wanted settings when popfetch's config
 * takes it as a host (conn_parse_host()); otherwise add a note saying it
 * cannot be mapped.
 */
void cv_put_host(struct cv_account *a, const char *h);

/*
 * Replace one source setting: *val (wiped first when secret) becomes a
 * copy of v and *line becomes line; v NULL clears both.
 */
void cv_setting_set(
    char **val, int *line, const char *v, int vline, bool secret);

/* Add a note (one comment line, without the "# "). */
void cv_note(struct cv_notes *n, const char *fmt, ...) PF_PRINTF(2, 3);

/* Remove every note. */
void cv_notes_clear(struct cv_notes *n);

/*
 * A new account for the source account src_name: the name is made valid
 * for popfetch (no white space, ':' or '#') and unique; a note says so
 * when it changes.
 */
struct cv_account *cv_account_new(struct cv_doc *d, const char *src_name);

/* Index of the account converted from src_name, or -1. */
int cv_account_find(const struct cv_doc *d, const char *name);

/*
 * An MDA command for popfetch: %F stays (quotes the user put around it
 * are removed, since popfetch quotes the address itself), %T and %s become
 * t_repl single-quoted when t_repl is not NULL (fetchmail's recipient),
 * and every other '%' is doubled. Adds a note when %F or %T sits inside a longer quoted
 * word. Returns a new string.
 */
char *cv_mda(
    const char *cmd, const char *t_repl, struct cv_notes *notes, int line);

/* Size in bytes as a decimal string (buf of 32 bytes). */
const char *cv_num(char *buf, unsigned long long v);

/* The parsers: fill d from the file text. Return 0 or -1 (err set). */
int cv_mpop(struct cv_doc *d, const char *data, size_t len, struct pf_err *err);
int cv_fetchmail(struct cv_doc *d, const char *data, size_t len,
    const char *local_user, struct pf_err *err);

#endif
