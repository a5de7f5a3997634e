/*
 * auth-private.h: what auth.c and auth-sasl.c share, and the internal
 * steps the unit tests drive directly (mechanism choice, APOP, CRAM-MD5
 * and the SCRAM computations with an injected client nonce).
 */
#ifndef POPFETCH_AUTH_PRIVATE_H
#define POPFETCH_AUTH_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>

#include "popfetch/auth.h"
#include "popfetch/err.h"
#include "popfetch/pop3.h"

/* Largest decoded SASL challenge we accept. */
#define AUTH_CHALLENGE_MAX  (16 * 1024)
/* Longest APOP timestamp, brackets included. */
#define AUTH_APOP_TS_MAX    200
/* Accepted SCRAM iteration counts. */
#define AUTH_SCRAM_ITER_MIN 1
#define AUTH_SCRAM_ITER_MAX 600000
/* RFC 2449: a command line is at most 255 octets with its CRLF. */
#define AUTH_LINE_MAX	    255

/*
 * Check the credentials and pick the mechanism for a, given what the
 * server announced (capa, greeting text). Sends nothing. Returns 0 with
 * *out set, or -1: PF_ECONFIG (control character, missing user name or
 * secret), PF_ENOPERM (policy, mechanism not offered).
 */
int auth_choose(const struct auth_params *a, const struct pop3_capa *capa,
    const char *greeting, enum auth_mech *out, struct pf_err *err);

/* True when the space-separated upper-case list has mechanism name. */
bool auth_sasl_offered(const char *list, const char *name);

/*
 * Find the APOP timestamp ("<id@host>") in a greeting and copy it into
 * out (NUL-terminated). Returns 0, or -1 when there is none, it is not
 * printable msg-id syntax, or it is longer than AUTH_APOP_TS_MAX.
 */
int auth_apop_timestamp(const char *greeting, char *out, size_t outsz);

/* MD5 of timestamp then secret as 32 lower-case hex digits into out[33].
 * Returns 0 or -1 (PF_ESOFTWARE: digest unavailable). */
int auth_apop_digest(const char *timestamp, const char *secret, char out[33],
    struct pf_err *err);

/*
 * The CRAM-MD5 response "user hexdigest" (not yet base64) for a decoded
 * challenge. Returns a new string (wipe it), or NULL on a digest failure.
 */
char *auth_cram_md5_response(const char *user, const char *secret,
    const unsigned char *chal, size_t challen);

/* SCRAM client state (RFC 5802) for one exchange. */
struct auth_scram {
	bool sha256;		 /* SCRAM-SHA-256, else SCRAM-SHA-1 */
	char *client_first_bare; /* "n=user,r=nonce" */
	char *nonce;		 /* our client nonce */
	unsigned char server_sig[64];
	size_t sig_len; /* 0 until the client-final was built */
};

/*
 * Start an exchange: fills sc and returns the client-first message
 * ("n,,n=user,r=nonce") as a new string. nonce may be NULL (24 random
 * bytes, base64) or a fixed printable string for tests. Returns NULL
 * with err set (PF_ESOFTWARE: no randomness).
 */
char *auth_scram_first(struct auth_scram *sc, bool sha256, const char *user,
    const char *nonce, struct pf_err *err);

/*
 * Given the decoded server-first message, compute the client-final
 * message (a new string, wipe it) and remember the server signature.
 * Returns NULL with err: PF_EPROTO (malformed message, nonce not
 * extending ours, iteration count out of range), PF_ESOFTWARE.
 */
char *auth_scram_final(struct auth_scram *sc, const char *secret,
    const char *server_first, size_t len, struct pf_err *err);

/*
 * Check the decoded server-final message. Returns 0, or -1: PF_ENOPERM
 * ("e=" error, or signature mismatch), PF_EPROTO (malformed).
 */
int auth_scram_verify(struct auth_scram *sc, const char *server_final,
    size_t len, struct pf_err *err);

/* Wipe and free what sc holds. */
void auth_scram_free(struct auth_scram *sc);

/*
 * Find "status" in an OAuth JSON error (XOAUTH2, OAUTHBEARER) and copy
 * it, sanitized, into out. Returns 0, or -1 when absent (out gets "").
 */
int auth_oauth_status(const char *json, size_t len, char *out, size_t outsz);

/* The rest is auth-sasl.c's, which auth.c calls (never the reverse). */

/* Log in with a SASL mechanism. Returns 0 or -1. */
int auth_sasl_login(struct pop3 *p, const struct auth_params *a,
    enum auth_mech mech, struct pf_err *err);

/* The SASL name of a SASL mechanism ("SCRAM-SHA-256"), or "?". */
const char *auth_sasl_name(enum auth_mech m);

/* Map the -ERR in p to an authentication failure. Returns -1. */
int auth_fail(const struct pop3 *p, struct pf_err *err);

#endif
