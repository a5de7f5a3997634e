/*
 * convert.h: turn an mpop or fetchmail configuration into an equivalent
 * popfetchrc (--convert-config=mpop|fetchmail FILE, docs/contract.md §1).
 *
 * The result keeps the accounts, their inheritance (mpop "account X : Y"),
 * a "defaults" block with what every account shares, and the "default"
 * account. Each account gets exactly the effective settings the original
 * program would use, including where its built-in defaults differ from
 * popfetch's (mpop: no TLS and a 180 s timeout; fetchmail: STARTTLS and
 * 300 s). What popfetch cannot do, or not yet, becomes a "#" comment line
 * that names the original line and says why; nothing is dropped silently.
 * Commands in the file are never run (mpop's eval, passwordeval).
 */
#ifndef POPFETCH_CONVERT_H
#define POPFETCH_CONVERT_H

#include <stddef.h>

#include "popfetch/err.h"

#define CONVERT_FILE_MAX (4 * 1024 * 1024) /* bytes of a source file */

enum convert_source {
	CONVERT_MPOP,
	CONVERT_FETCHMAIL,
};

/* "mpop", "fetchmail", indexed by enum convert_source. */
extern const char *const convert_source_names[];

struct convert_opts {
	/*
	 * The login name fetchmail uses when a poll entry names no user,
	 * and for %T in an MDA command without a local name. NULL: $USER,
	 * else $LOGNAME, else the password database.
	 */
	const char *local_user;
};

/* Parse "mpop" or "fetchmail". Returns 0, or -1 with PF_EUSAGE. */
int convert_source_parse(
    const char *name, enum convert_source *src, struct pf_err *err);

/*
 * Convert the file at path. opts may be NULL. On success *text holds the
 * popfetchrc (NUL-terminated, *len bytes); it may hold passwords, so free
 * it with convert_free(). Returns 0, or -1: PF_EUSAGE (cannot open or
 * read the file, too large), PF_ECONFIG ("FILE:LINE: ..." for a file the
 * original program refuses too: a setting outside an account, an unknown
 * parent, an account defined twice, an unterminated quoted string).
 */
int convert_config(enum convert_source src, const char *path,
    const struct convert_opts *opts, char **text, size_t *len,
    struct pf_err *err);

/* The same for a file already in memory; name is used in messages. */
int convert_buf(enum convert_source src, const char *name, const char *data,
    size_t len, const struct convert_opts *opts, char **text, size_t *textlen,
    struct pf_err *err);

/* --convert-config=SOURCE PATH: convert_source_parse() of source, then
 * convert_config() with the default options. Same return values. */
int convert_named(const char *source, const char *path, char **text,
    size_t *len, struct pf_err *err);

/* Wipe and free a converted text. NULL is fine. */
void convert_free(char *text, size_t len);

#endif
