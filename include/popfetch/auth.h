/*
 * auth.h: logging in. USER/PASS, APOP and the SASL mechanisms PLAIN,
 * LOGIN, CRAM-MD5, SCRAM-SHA-1, SCRAM-SHA-256, XOAUTH2 and OAUTHBEARER
 * (RFC 1939, 5034, 4616, 2195, 5802, 7677, 7628), with the policy of
 * docs/contract.md §5 about clear-text passwords.
 */
#ifndef POPFETCH_AUTH_H
#define POPFETCH_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "popfetch/err.h"
#include "popfetch/pop3.h"

enum auth_mech {
	AUTH_AUTO,
	AUTH_USER,
	AUTH_APOP,
	AUTH_PLAIN,
	AUTH_LOGIN,
	AUTH_CRAM_MD5,
	AUTH_SCRAM_SHA1,
	AUTH_SCRAM_SHA256,
	AUTH_XOAUTH2,
	AUTH_OAUTHBEARER,
};
extern const char *const auth_mech_names[]; /* "auto", "user", ..., NULL */

/* Parse a --auth value (case-insensitive). Returns 0 or -1. */
int auth_mech_parse(const char *s, enum auth_mech *out);

struct auth_params {
	enum auth_mech mech; /* AUTH_AUTO or the one the user named */
	const char *user;
	const char *secret; /* password or OAuth token; never logged */
	const char *host;   /* for OAUTHBEARER's host= */
	const char *port;
	bool tls;	  /* the channel is TLS-protected now */
	bool allow_plain; /* the user named --auth and --no-tls: clear-text
				passwords allowed (with a warning by caller) */
	bool oauth;	  /* the secret is an OAuth token (oauth2_provider
			     set): AUTH_AUTO picks OAUTHBEARER or XOAUTH2 */
	bool verified;	  /* tls, and the peer was checked (CA or pinned
			     fingerprint): conn_tls_verified() */
};

/*
 * Log in on p (state AUTHORIZATION, capabilities read). AUTH_AUTO picks
 * by the channel (docs/contract.md §1): over verified TLS PLAIN, then
 * SCRAM-SHA-256, SCRAM-SHA-1, LOGIN, USER; over unverified TLS SCRAM
 * first, then PLAIN, LOGIN, USER; without TLS SCRAM only. With a->oauth
 * it picks OAUTHBEARER, else XOAUTH2, and nothing else. A named mechanism the
 * server does not offer fails; there is no fallback. Returns 0 (state
 * TRANSACTION), or -1: PF_ENOPERM (rejected, policy, mechanism missing,
 * server signature wrong), PF_ETEMP ([IN-USE], [SYS/TEMP], [LOGIN-DELAY]),
 * PF_EUNAVAIL ([SYS/PERM]), PF_EPROTO, PF_ECONFIG (CR, LF or NUL in the
 * user name or secret). *used (may be NULL) gets the mechanism used.
 */
int auth_login(struct pop3 *p, const struct auth_params *a,
    enum auth_mech *used, struct pf_err *err);

/* True when mech sends the secret itself (PASS, PLAIN, LOGIN, OAuth). */
bool auth_sends_cleartext(enum auth_mech mech);

#endif
