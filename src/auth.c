/*
 * auth.c: choosing how to log in (SPEC.md section 5), USER/PASS, APOP,
 * and the base64 codec. The SASL mechanisms live in auth-sasl.c.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "popfetch/auth.h"
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

/* The SASL names, as servers list them, for the SASL mechanisms. */
static const char *const sasl_names[] = {
    [AUTH_PLAIN] = "PLAIN",
    [AUTH_LOGIN] = "LOGIN",
    [AUTH_CRAM_MD5] = "CRAM-MD5",
    [AUTH_SCRAM_SHA1] = "SCRAM-SHA-1",
    [AUTH_SCRAM_SHA256] = "SCRAM-SHA-256",
    [AUTH_XOAUTH2] = "XOAUTH2",
    [AUTH_OAUTHBEARER] = "OAUTHBEARER",
};

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

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

void
auth_wipe_free(void *buf, size_t len)
{
	if (buf == NULL)
		return;
	OPENSSL_cleanse(buf, len);
	free(buf);
}

char *
auth_b64_encode(const void *in, size_t len)
{
	const unsigned char *s = in;
	char *out, *o;
	size_t i;

	if (len > (SIZE_MAX - 1) / 4 * 3 - 3)
		return NULL;
	out = o = xmalloc((len + 2) / 3 * 4 + 1);
	for (i = 0; i + 2 < len; i += 3) {
		*o++ = b64_alphabet[s[i] >> 2];
		*o++ = b64_alphabet[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
		*o++ = b64_alphabet[((s[i + 1] & 15) << 2) | (s[i + 2] >> 6)];
		*o++ = b64_alphabet[s[i + 2] & 63];
	}
	if (len - i == 1) {
		*o++ = b64_alphabet[s[i] >> 2];
		*o++ = b64_alphabet[(s[i] & 3) << 4];
		*o++ = '=';
		*o++ = '=';
	} else if (len - i == 2) {
		*o++ = b64_alphabet[s[i] >> 2];
		*o++ = b64_alphabet[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
		*o++ = b64_alphabet[(s[i + 1] & 15) << 2];
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

/* The 6-bit value of a base64 character, or -1; a table-free lookup
 * keeps the decoder obviously bounded. */
static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

unsigned char *
auth_b64_decode(const char *in, size_t maxlen, size_t *outlen)
{
	size_t len, pad = 0, n, i, o = 0;
	unsigned char *out;

	len = strlen(in);
	if (len % 4 != 0)
		return NULL;
	if (len > 0 && in[len - 1] == '=')
		pad++;
	if (len > 1 && in[len - 2] == '=')
		pad++;
	n = len / 4 * 3 - pad;
	if (n > maxlen)
		return NULL;
	out = xmalloc(n + 1);
	for (i = 0; i < len; i += 4) {
		int v[4], k;
		uint32_t w;

		for (k = 0; k < 4; k++) {
			unsigned char c = (unsigned char)in[i + (size_t)k];

			/* '=' only as the final one or two characters */
			if (c == '=' && i + 4 == len && k >= 2 &&
			    (k == 3 || in[i + 3] == '=')) {
				v[k] = 0;
				continue;
			}
			if ((v[k] = b64_value(c)) < 0)
				goto bad;
		}
		w = ((uint32_t)v[0] << 18) | ((uint32_t)v[1] << 12) |
		    ((uint32_t)v[2] << 6) | (uint32_t)v[3];
		/* reject non-zero bits hidden under the padding */
		if (i + 4 == len &&
		    ((pad == 1 && (w & 0xff) != 0) ||
			(pad == 2 && (w & 0xffff) != 0)))
			goto bad;
		out[o++] = (unsigned char)(w >> 16);
		if (o < n)
			out[o++] = (unsigned char)(w >> 8);
		if (o < n)
			out[o++] = (unsigned char)w;
	}
	out[n] = '\0';
	*outlen = n;
	return out;
bad:
	auth_wipe_free(out, n + 1);
	return NULL;
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
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
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
	if (!ok) {
		OPENSSL_cleanse(md, sizeof(md));
		return pf_err_set(err, PF_ESOFTWARE,
		    "cannot compute APOP digest (MD5 unavailable)");
	}
	for (i = 0; i < 16; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[32] = '\0';
	OPENSSL_cleanse(md, sizeof(md));
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

int
auth_choose(const struct auth_params *a, const struct pop3_capa *capa,
    const char *greeting, enum auth_mech *out, struct pf_err *err)
{
	static const enum auth_mech strong[] = {
	    AUTH_SCRAM_SHA256,
	    AUTH_SCRAM_SHA1,
	};
	static const enum auth_mech tls_only[] = {AUTH_PLAIN, AUTH_LOGIN};
	const char *sasl = capa->valid ? capa->sasl : "";
	char ts[AUTH_APOP_TS_MAX + 1];
	enum auth_mech m = a->mech;
	size_t i;

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

	if (m == AUTH_AUTO) {
		for (i = 0; i < sizeof(strong) / sizeof(strong[0]); i++) {
			if (auth_sasl_offered(sasl, sasl_names[strong[i]])) {
				*out = strong[i];
				return 0;
			}
		}
		if (!a->tls)
			return refuse_cleartext(err);
		for (i = 0; i < sizeof(tls_only) / sizeof(tls_only[0]); i++) {
			if (auth_sasl_offered(sasl, sasl_names[tls_only[i]])) {
				*out = tls_only[i];
				return 0;
			}
		}
		if (user_offered(capa)) {
			*out = AUTH_USER;
			return 0;
		}
		return pf_err_set(err, PF_ENOPERM,
		    "server offers no usable authentication mechanism "
		    "(name one with --auth)");
	}

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
		if (!auth_sasl_offered(sasl, sasl_names[m]))
			return pf_err_set(err, PF_ENOPERM,
			    "server does not offer AUTH %s", sasl_names[m]);
		break;
	}
	if (auth_sends_cleartext(m) && !a->tls && !a->allow_plain)
		return refuse_cleartext(err);
	*out = m;
	return 0;
}

int
auth_fail(const struct pop3 *p, struct pf_err *err)
{
	struct pf_err e;
	char text[PF_SERVER_TEXT_MAX + 8];

	pf_err_clear(&e);
	(void)pop3_err_from_reply(p, "authentication", PF_ENOPERM, &e);
	pf_sanitize(text, sizeof(text), p->text, strlen(p->text));
	if (text[0] == '\0')
		return pf_err_set(err, e.code, "authentication failed");
	return pf_err_set(err, e.code, "authentication failed: %s", text);
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

	if (auth_apop_timestamp(p->greeting, ts, sizeof(ts)) == -1)
		return pf_err_set(err, PF_ENOPERM,
		    "server does not offer APOP (no valid timestamp in its "
		    "greeting)");
	if (auth_apop_digest(ts, a->secret, hex, err) == -1)
		return -1;
	arg = xasprintf("%s %s", a->user, hex);
	arglen = strlen(arg);
	OPENSSL_cleanse(hex, sizeof(hex));
	r = pop3_cmd(p, POP3_CMD_APOP, arg, true, err);
	auth_wipe_free(arg, arglen);
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

	if (auth_choose(a, &p->capa, p->greeting, &m, err) == -1)
		return -1;
	log_debug("logging in as '%s' with %s", a->user,
	    m == AUTH_USER	 ? "USER/PASS"
		: m == AUTH_APOP ? "APOP"
				 : sasl_names[m]);
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
	p->state = POP3_ST_TRANSACTION;
	if (used != NULL)
		*used = m;
	return 0;
}

const char *
auth_sasl_name(enum auth_mech m)
{
	if (m < AUTH_PLAIN || m > AUTH_OAUTHBEARER)
		return "?";
	return sasl_names[m];
}
