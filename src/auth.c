/*
 * auth.c: choosing how to log in (docs/contract.md §5), USER/PASS, APOP,
 * and the base64 codec. The SASL mechanisms live in auth-sasl.c.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "popfetch/auth.h"
#include "popfetch/crypto.h"
#include "popfetch/log.h"
#include "popfetch/xmalloc.h"
#include "auth-private.h"
#include "compat.h"

const char *const auth_mech_names[] = {
    [AUTH_AUTO] = "auto",
    [AUTH_USER] = "user",
    [AUTH_APOP] = "apop",
    [AUTH_PLAIN] = "plain",
    [AUTH_LOGIN] = "login",
    [AUTH_CRAM_MD5] = "cram-md5",
    [AUTH_SCRAM_SHA1] = "scram-sha-1",
    [AUTH_SCRAM_SHA256] = "scram-sha-256",
    [AUTH_XOAUTH2] = "xoauth2",
    [AUTH_OAUTHBEARER] = "oauthbearer",
    NULL,
};

int
auth_mech_parse(const char *s, enum auth_mech *out)
{
	size_t i;

	if (s == NULL)
		return -1;
	for (i = 0; auth_mech_names[i] != NULL; i++) {
		if (strcasecmp(s, auth_mech_names[i]) == 0) {
			*out = (enum auth_mech)i;
			return 0;
		}
	}
	return -1;
}

bool
auth_sends_cleartext(enum auth_mech mech)
{
	switch (mech) {
	case AUTH_USER:
	case AUTH_PLAIN:
	case AUTH_LOGIN:
	case AUTH_XOAUTH2:
	case AUTH_OAUTHBEARER:
		return true;
	default:
		return false;
	}
}

bool
auth_sasl_offered(const char *list, const char *name)
{
	size_t nlen = strlen(name);
	const char *s = list;

	while (*s != '\0') {
		size_t wlen;

		while (*s == ' ')
			s++;
		wlen = strcspn(s, " ");
		if (wlen == nlen && wlen > 0 && strncasecmp(s, name, nlen) == 0)
			return true;
		s += wlen;
	}
	return false;
}

int
auth_apop_timestamp(const char *greeting, char *out, size_t outsz)
{
	const char *lt, *gt, *at, *c;
	size_t len;

	if ((lt = strchr(greeting, '<')) == NULL ||
	    (gt = strchr(lt, '>')) == NULL)
		return -1;
	len = (size_t)(gt - lt) + 1;
	if (len > AUTH_APOP_TS_MAX || len + 1 > outsz)
		return -1;
	/* msg-id: "<" left "@" right ">", printable, no spaces or brackets */
	at = NULL;
	for (c = lt + 1; c < gt; c++) {
		if (*c <= 0x20 || *c >= 0x7f || *c == '<')
			return -1;
		if (*c == '@') {
			if (at != NULL)
				return -1;
			at = c;
		}
	}
	if (at == NULL || at == lt + 1 || at + 1 == gt)
		return -1;
	memcpy(out, lt, len);
	out[len] = '\0';
	return 0;
}

int
auth_apop_digest(
    const char *timestamp, const char *secret, char out[33], struct pf_err *err)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx;
	int ok;

	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return pf_err_set(
		    err, PF_ESOFTWARE, "cannot compute APOP digest");
	ok = EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, timestamp, strlen(timestamp)) == 1 &&
	    EVP_DigestUpdate(ctx, secret, strlen(secret)) == 1 &&
	    EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 16;
	EVP_MD_CTX_free(ctx);
	if (ok)
		crypto_hex(md, 16, out);
	OPENSSL_cleanse(md, sizeof(md));
	if (!ok)
		return pf_err_set(err, PF_ESOFTWARE,
		    "cannot compute APOP digest (MD5 unavailable)");
	return 0;
}

/* True when s holds CR or LF, which would end the command line early;
 * a NUL cannot occur inside a C string, so whoever reads the secret
 * (config, password command) must refuse embedded NULs. */
static bool
has_ctl(const char *s)
{
	return strpbrk(s, "\r\n") != NULL;
}

/* The PF_ENOPERM refusal to send a password in clear. */
static int
refuse_cleartext(struct pf_err *err)
{
	return pf_err_set(err, PF_ENOPERM,
	    "refusing to send a password over an unencrypted connection "
	    "(use TLS, or name --auth explicitly with --no-tls)");
}

/* True when the server lets us try USER (announced, or CAPA unknown). */
static bool
user_offered(const struct pop3_capa *capa)
{
	return capa->user || !capa->valid;
}

/* AUTH_AUTO for an OAuth token: OAUTHBEARER (RFC 7628), else XOAUTH2;
 * the token is a bearer secret, so TLS only. */
static int
pick_oauth(const char *sasl, bool tls, enum auth_mech *out, struct pf_err *err)
{
	if (!tls)
		return refuse_cleartext(err);
	if (auth_sasl_offered(sasl, auth_sasl_name(AUTH_OAUTHBEARER)))
		*out = AUTH_OAUTHBEARER;
	else if (auth_sasl_offered(sasl, auth_sasl_name(AUTH_XOAUTH2)))
		*out = AUTH_XOAUTH2;
	else
		return pf_err_set(err, PF_ENOPERM,
		    "server offers neither OAUTHBEARER nor XOAUTH2 for the OAuth token of oauth2_provider (name one with --auth)");
	return 0;
}

/*
 * AUTH_AUTO for a password (docs/contract.md §1). Over TLS whose peer was
 * checked the session already keeps the password from everyone but that
 * server, so PLAIN comes first: one round trip and no key stretching on
 * either side, where SCRAM takes three and a PBKDF2 on both (about 9 ms of
 * a 37 ms poll against Dovecot). Over TLS with --insecure the peer is not
 * known: SCRAM first, which never shows it the password (one that
 * rewrites CAPA can still hide SCRAM). Without TLS only SCRAM.
 */
static int
pick_auto(const struct auth_params *a, const struct pop3_capa *capa,
    enum auth_mech *out, struct pf_err *err)
{
	static const enum auth_mech orders[2][4] = {
	    {AUTH_SCRAM_SHA256, AUTH_SCRAM_SHA1, AUTH_PLAIN, AUTH_LOGIN},
	    {AUTH_PLAIN, AUTH_SCRAM_SHA256, AUTH_SCRAM_SHA1, AUTH_LOGIN},
	};
	const enum auth_mech *order = orders[a->verified];
	const char *sasl = capa->valid ? capa->sasl : "";
	size_t i;

	for (i = 0; i < sizeof(orders[0]) / sizeof(orders[0][0]); i++) {
		if (!a->tls && auth_sends_cleartext(order[i]))
			continue;
		if (auth_sasl_offered(sasl, auth_sasl_name(order[i]))) {
			*out = order[i];
			return 0;
		}
	}
	if (!a->tls)
		return refuse_cleartext(err);
	if (user_offered(capa)) {
		*out = AUTH_USER;
		return 0;
	}
	return pf_err_set(err, PF_ENOPERM,
	    "server offers no usable authentication mechanism "
	    "(name one with --auth)");
}

int
auth_choose(const struct auth_params *a, const struct pop3_capa *capa,
    const char *greeting, enum auth_mech *out, struct pf_err *err)
{
	const char *sasl = capa->valid ? capa->sasl : "";
	char ts[AUTH_APOP_TS_MAX + 1];
	enum auth_mech m = a->mech;

	if (a->user == NULL || a->user[0] == '\0')
		return pf_err_set(err, PF_ECONFIG, "no user name given");
	if (a->secret == NULL)
		return pf_err_set(err, PF_ECONFIG, "no password given");
	if (has_ctl(a->user) || has_ctl(a->secret))
		return pf_err_set(err, PF_ECONFIG,
		    "user name or password contains a control character");
	if ((unsigned)m > AUTH_OAUTHBEARER)
		return pf_err_set(
		    err, PF_ESOFTWARE, "unknown mechanism %d", (int)m);

	if (m == AUTH_AUTO && a->oauth)
		return pick_oauth(sasl, a->tls, out, err);
	if (m == AUTH_AUTO)
		return pick_auto(a, capa, out, err);

	switch (m) {
	case AUTH_USER:
		if (!user_offered(capa))
			return pf_err_set(
			    err, PF_ENOPERM, "server does not offer USER");
		break;
	case AUTH_APOP:
		if (auth_apop_timestamp(greeting, ts, sizeof(ts)) == -1)
			return pf_err_set(err, PF_ENOPERM,
			    "server does not offer APOP (no valid timestamp "
			    "in its greeting)");
		break;
	default:
		if (!auth_sasl_offered(sasl, auth_sasl_name(m)))
			return pf_err_set(err, PF_ENOPERM,
			    "server does not offer AUTH %s", auth_sasl_name(m));
		break;
	}
	if (auth_sends_cleartext(m) && !a->tls && !a->allow_plain)
		return refuse_cleartext(err);
	*out = m;
	return 0;
}

/* USER then PASS (RFC 1939 section 7). */
static int
login_user(struct pop3 *p, const struct auth_params *a, struct pf_err *err)
{
	int r;

	if (pop3_cmd(p, POP3_CMD_USER, a->user, false, err) == -1 ||
	    (r = pop3_reply(p, err)) == -1)
		return -1;
	if (r != POP3_OK)
		return auth_fail(p, err);
	if (pop3_cmd(p, POP3_CMD_PASS, a->secret, true, err) == -1 ||
	    (r = pop3_reply(p, err)) == -1)
		return -1;
	if (r != POP3_OK)
		return auth_fail(p, err);
	return 0;
}

/* APOP user digest (RFC 1939 section 7); the digest is hidden in traces
 * because it allows an offline guess of the password. */
static int
login_apop(struct pop3 *p, const struct auth_params *a, struct pf_err *err)
{
	char ts[AUTH_APOP_TS_MAX + 1], hex[33];
	char *arg;
	size_t arglen;
	int r;

	if (auth_apop_timestamp(pop3_greeting_text(p), ts, sizeof(ts)) == -1)
		return pf_err_set(err, PF_ENOPERM,
		    "server does not offer APOP (no valid timestamp in its "
		    "greeting)");
	if (auth_apop_digest(ts, a->secret, hex, err) == -1)
		return -1;
	arg = xasprintf("%s %s", a->user, hex);
	arglen = strlen(arg);
	OPENSSL_cleanse(hex, sizeof(hex));
	r = pop3_cmd(p, POP3_CMD_APOP, arg, true, err);
	crypto_wipe_free(arg, arglen);
	if (r == -1 || (r = pop3_reply(p, err)) == -1)
		return -1;
	if (r != POP3_OK)
		return auth_fail(p, err);
	return 0;
}

int
auth_login(struct pop3 *p, const struct auth_params *a, enum auth_mech *used,
    struct pf_err *err)
{
	enum auth_mech m;
	int r;

	if (auth_choose(
		a, pop3_capabilities(p), pop3_greeting_text(p), &m, err) == -1)
		return -1;
	log_debug("logging in as '%s' with %s", a->user,
	    m == AUTH_USER	 ? "USER/PASS"
		: m == AUTH_APOP ? "APOP"
				 : auth_sasl_name(m));
	switch (m) {
	case AUTH_USER:
		r = login_user(p, a, err);
		break;
	case AUTH_APOP:
		r = login_apop(p, a, err);
		break;
	default:
		r = auth_sasl_login(p, a, m, err);
		break;
	}
	if (r == -1)
		return -1;
	if (used != NULL)
		*used = m;
	return 0;
}
