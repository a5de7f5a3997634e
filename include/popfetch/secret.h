/*
 * secret.h: where an account's password comes from. Each account has one
 * source, chosen from its settings by secret_source_of(); secret_get()
 * reads it. A secret is read with read(2) into buffers that are wiped,
 * never through stdio, and never appears in an error message
 * (docs/contract.md §5). The caller wipes and frees it with
 * xfree_secret() once it is used.
 */
#ifndef POPFETCH_SECRET_H
#define POPFETCH_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "popfetch/config.h"
#include "popfetch/err.h"

/* The longest secret accepted, in bytes. */
#define SECRET_MAX 4096

/* Where a secret comes from; a new source is one more entry. */
enum secret_source {
	SECRET_NONE,	/* no user: nothing to log in with (--serverinfo) */
	SECRET_COMMAND, /* password_command: the first line it prints */
	SECRET_CONFIG,	/* the config file's password key */
	SECRET_LOOKUP,	/* ~/.netrc, else asked on the terminal */
	SECRET_OAUTH,	/* an OAuth access token from the token file
			   (token.h), refreshed when due */
};

/* "none", "password_command", "password", "netrc or terminal",
 * "oauth2 token file". */
extern const char *const secret_source_names[];

/* The source account a uses: at most one of password_command and
 * password is set once the config is resolved; SECRET_OAUTH when
 * token_source_of(a). */
enum secret_source secret_source_of(const struct account *a);

struct secret_opts {
	bool may_prompt;	/* ask on the terminal as the last resort */
	const char *netrc_path; /* NULL: $HOME/.netrc */
	/* --serverinfo: nothing is sent that needs a secret, so an OAuth
	 * account gets no token (none stored yet is no error) */
	bool before_login;
};

/*
 * Get the secret of account a from its source. *out is a new string, or
 * NULL for SECRET_NONE. Returns 0, or -1 with PF_ECONFIG (the command
 * failed or printed nothing usable, ~/.netrc is readable by others, no
 * password anywhere and no terminal to ask on).
 */
int secret_get(const struct account *a, const struct secret_opts *o, char **out,
    struct pf_err *err);

/*
 * The client secret of a's OAuth application: the first line of
 * oauth2_client_secret_command, or NULL in *out when it is not set.
 * Returns 0 or -1 (as secret_from_command(), the message prefixed with
 * the key).
 */
int secret_oauth_client(
    const struct account *a, char **out, struct pf_err *err);

/*
 * The sources, one by one. secret_from_command() runs cmd with /bin/sh
 * and keeps the first line of its output (reading to the end, so the
 * command never dies of SIGPIPE; a trailing CR is dropped): 0 or -1
 * (PF_ECONFIG: exit status not 0, killed, nothing printed, a line over
 * SECRET_MAX bytes or with a NUL byte).
 */
int secret_from_command(const char *cmd, char **out, struct pf_err *err);

/*
 * The password for host (compared without case) and user from the .netrc
 * file at path: 1 found, 0 not found (or no such file), -1 PF_ECONFIG
 * (the file is not ours or others can read it, too big, unreadable).
 */
int secret_from_netrc(const char *path, const char *host, const char *user,
    char **out, struct pf_err *err);

/*
 * The .netrc parser: the password of the first "machine" entry for host
 * whose login is user (or that has no login), else of a "default" entry.
 * "macdef" bodies are skipped. text is cut into words in place; the
 * result points into it, or is NULL.
 */
const char *secret_netrc_find(char *text, const char *host, const char *user);

/*
 * Ask for the password of id ("user@host:port") on /dev/tty with echo
 * off: 1 read, 0 no terminal, -1 PF_ECONFIG (empty or too long).
 */
int secret_from_tty(const char *id, char **out, struct pf_err *err);

/*
 * Read fd to its end (or to the first newline when stop_at_newline) and
 * keep the first line in buf, without CRs at its end. Returns its length,
 * or -1 when it does not fit in bufsz - 1 bytes or holds a NUL byte.
 */
ssize_t secret_read_line(int fd, char *buf, size_t bufsz, bool stop_at_newline);

#endif
