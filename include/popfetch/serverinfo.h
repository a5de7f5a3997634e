/*
 * serverinfo.h: --serverinfo: connect, and describe what the server
 * offers (greeting, TLS version and cipher, certificate subject, issuer,
 * validity and SHA-256 fingerprint, capabilities before and after login,
 * SASL mechanisms) without fetching anything.
 */
#ifndef POPFETCH_SERVERINFO_H
#define POPFETCH_SERVERINFO_H

#include "popfetch/config.h"
#include "popfetch/err.h"
#include "popfetch/fetch.h"

/*
 * Connect to account a and put the description (several lines, server
 * text sanitized) in *text (free it). Logs in, to show the capabilities
 * after login too, only when o->secret is given. The certificate is
 * checked after the handshake, so one that fails is still described (with
 * the reason); the result is then -1 (PF_ENOPERM) without a login. Returns 0, or -1 with
 * err (the connection's and login's errors); *text then holds what was
 * learnt before the failure, or NULL.
 */
int serverinfo_get(const struct account *a, const struct fetch_opts *o,
    char **text, struct pf_err *err);

#endif
