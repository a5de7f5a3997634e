/*
 * session.h: opening a POP3 session for an account: how to connect (the
 * account's connection settings as conn_params), connect, TLS (implicit,
 * or STARTTLS, which is then mandatory), greeting, capabilities, and
 * logging in with the account's mechanism policy. The fetch and
 * --serverinfo both start this way.
 */
#ifndef POPFETCH_SESSION_H
#define POPFETCH_SESSION_H

#include "popfetch/config.h"
#include "popfetch/conn.h"
#include "popfetch/err.h"
#include "popfetch/pop3.h"
#include "popfetch/stream.h"

/* Opens the connection; conn_open() unless a test puts in its own. */
typedef struct stream *(*session_connect_fn)(
    void *ctx, const struct conn_params *cp, struct pf_err *err);

/* How to connect for account a (pointers into a). */
void session_conn_params(const struct account *a, struct conn_params *cp);

/*
 * Connect (with connect, or conn_open() when it is NULL), read the
 * greeting and the capabilities, and with STARTTLS upgrade the channel
 * and read the capabilities again. Returns 0, or -1 with err
 * (conn_open()'s errors, pop3_greeting()'s, PF_ENOPERM when STLS is not
 * offered). *p is set as soon as there is a session, so the caller can
 * free it on failure too.
 */
int session_open(const struct account *a, const struct conn_params *cp,
    int trace, session_connect_fn connect, void *ctx, struct pop3 **p,
    struct pf_err *err);

/*
 * Log in as a->user with secret (may be NULL: then ""), following the
 * account's mechanism policy; warns when a password goes in clear text by
 * the user's explicit choice. Returns 0 or -1 (auth_login()'s errors).
 */
int session_login(struct pop3 *p, const struct account *a, const char *secret,
    struct pf_err *err);

#endif
