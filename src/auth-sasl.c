/*
 * auth-sasl.c: the SASL mechanisms over POP3 AUTH (RFC 5034): PLAIN,
 * LOGIN, CRAM-MD5, SCRAM-SHA-1/-256, XOAUTH2 and OAUTHBEARER.
 *
 * Initial responses: RFC 5034 section 4 lets AUTH carry the first client
 * response, but the command line must stay within the 255 octets of
 * RFC 2449; longer ones are sent after an empty "+ " challenge. XOAUTH2
 * uses that two-step form unless the server announces SASL-IR: Office 365
 * rejects "AUTH XOAUTH2 <ir>" with "-ERR Protocol error" and closes the
 * connection (Microsoft's POP documentation shows "AUTH XOAUTH2", "+",
 * then the payload), while Gmail accepts both forms; mpop and mutt's
 * oauth2 helper do the same. A server that announces SASL-IR gets the
 * one-step form, whatever its length (a token does not fit in 255
 * octets, and such a server has said it takes initial responses).
 *
 * SASLprep (RFC 4013) is not implemented: passwords are used as given,
 * which equals SASLprep's output for printable ASCII and for most
 * NFKC-normalised UTF-8 text. User names are only escaped (',' and '=').
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "popfetch/auth.h"
#include "popfetch/crypto.h"
#include "popfetch/xmalloc.h"
#include "auth-private.h"
#include "compat.h"

/* Bytes of randomness in a SCRAM client nonce (32 base64 characters). */
#define SCRAM_NONCE_BYTES 24
/* Longest SCRAM salt we accept, decoded. */
#define SCRAM_SALT_MAX	  1024

/* The SASL names, as servers list them, of the SASL mechanisms. */
static const struct {
	enum auth_mech mech;
	const char *name;
} sasl_names[] = {
    {AUTH_PLAIN, "PLAIN"},
    {AUTH_LOGIN, "LOGIN"},
    {AUTH_CRAM_MD5, "CRAM-MD5"},
    {AUTH_SCRAM_SHA1, "SCRAM-SHA-1"},
    {AUTH_SCRAM_SHA256, "SCRAM-SHA-256"},
    {AUTH_XOAUTH2, "XOAUTH2"},
    {AUTH_OAUTHBEARER, "OAUTHBEARER"},
};

const char *
auth_sasl_name(enum auth_mech m)
{
	size_t i;

	for (i = 0; i < sizeof(sasl_names) / sizeof(sasl_names[0]); i++)
		if (sasl_names[i].mech == m)
			return sasl_names[i].name;
	return "?";
}

int
auth_fail(const struct pop3 *p, struct pf_err *err)
{
	struct pf_err e;
	char text[PF_SERVER_TEXT_MAX + 8];

	pf_err_clear(&e);
	(void)pop3_err_from_reply(p, "authentication", PF_ENOPERM, &e);
	pf_sanitize(text, sizeof(text), pop3_text(p), strlen(pop3_text(p)));
	if (text[0] == '\0')
		return pf_err_set(err, e.code, "authentication failed");
	return pf_err_set(err, e.code, "authentication failed: %s", text);
}

/* Wipe and free a NUL-terminated secret-bearing string. */
static void
wipe_str(char *s)
{
	if (s != NULL)
		crypto_wipe_free(s, strlen(s));
}

/* Send "*" to abort the exchange and read the server's answer, keeping
 * the error the caller is about to report. */
static void
sasl_cancel(struct pop3 *p)
{
	struct pf_err e;

	if (pop3_cmd(p, POP3_CMD_SASL, "*", false, &e) == 0)
		(void)pop3_reply(p, &e);
}

/* The error for a "+OK" that came before the exchange was complete. */
static int
sasl_premature(const char *mech, struct pf_err *err)
{
	return pf_err_set(err, PF_EPROTO,
	    "server accepted AUTH %s before the exchange was complete", mech);
}

/* Cancel and report a "+ " that came after the exchange should be over. */
static int
sasl_unexpected(struct pop3 *p, const char *mech, struct pf_err *err)
{
	sasl_cancel(p);
	return pf_err_set(err, PF_EPROTO,
	    "unexpected SASL challenge after AUTH %s was complete", mech);
}

/*
 * Turn the reply to a step into 0 or -1. An intermediate step must get
 * a challenge ("+ "; +OK then is success too early); the last step must
 * get +OK (a challenge then is one too many).
 */
static int
sasl_check(
    struct pop3 *p, int r, const char *mech, bool last, struct pf_err *err)
{
	if (r == -1)
		return -1;
	if (r == POP3_ERR)
		return auth_fail(p, err);
	if (r == POP3_OK)
		return last ? 0 : sasl_premature(mech, err);
	return last ? sasl_unexpected(p, mech, err) : 0;
}

/*
 * Decode the challenge in pop3_text(p); when it is not strict base64, is cut
 * off by the status-line buffer or exceeds AUTH_CHALLENGE_MAX, cancel the
 * exchange. Returns the decoded bytes (NUL-terminated) or NULL with err.
 */
static unsigned char *
sasl_challenge(struct pop3 *p, size_t *len, struct pf_err *err)
{
	unsigned char *c = NULL;

	if (strlen(pop3_text(p)) < POP3_TEXT_MAX - 1)
		c = crypto_b64_decode(pop3_text(p), AUTH_CHALLENGE_MAX, len);
	if (c == NULL) {
		sasl_cancel(p);
		pf_err_set(err, PF_EPROTO, "invalid SASL challenge");
	}
	return c;
}

/* Send one base64 client response and read the reply. */
static int
sasl_respond(struct pop3 *p, const char *b64, struct pf_err *err)
{
	if (pop3_cmd(p, POP3_CMD_SASL, b64, true, err) == -1)
		return -1;
	return pop3_reply(p, err);
}

/*
 * Send "AUTH mech" with the initial response ir (base64, or NULL for
 * none). When ir does not fit the 255-octet line, or two_step is set,
 * send "AUTH mech" alone and ir after the server's "+ ". Returns the
 * reply to the last line sent, or -1 with err.
 */
static int
sasl_start(struct pop3 *p, const char *mech, const char *ir, bool two_step,
    struct pf_err *err)
{
	unsigned char *c;
	size_t clen;
	char *line;
	int r;

	/* "AUTH " mech " " ir CRLF */
	if (ir == NULL || two_step ||
	    5 + strlen(mech) + 1 + strlen(ir) + 2 > AUTH_LINE_MAX) {
		if (pop3_cmd(p, POP3_CMD_AUTH, mech, false, err) == -1)
			return -1;
		r = pop3_reply(p, err);
		if (ir == NULL)
			return r;
		if (sasl_check(p, r, mech, false, err) == -1)
			return -1;
		/* the first challenge of a client-first mechanism carries
		 * nothing useful; it only has to be well-formed */
		if ((c = sasl_challenge(p, &clen, err)) == NULL)
			return -1;
		crypto_wipe_free(c, clen + 1);
		return sasl_respond(p, ir, err);
	}
	line = xasprintf("%s %s", mech, ir);
	r = pop3_cmd(p, POP3_CMD_AUTH, line, true, err);
	wipe_str(line);
	return r == -1 ? -1 : pop3_reply(p, err);
}

/* Base64 of a secret buffer, wiping the buffer. */
static char *
b64_wipe(char *buf, size_t len)
{
	char *b = crypto_b64_encode(buf, len);

	crypto_wipe_free(buf, len);
	return b;
}

/* AUTH PLAIN (RFC 4616) with an empty authorization identity. */
static int
login_plain(struct pop3 *p, const struct auth_params *a, struct pf_err *err)
{
	size_t ulen = strlen(a->user), slen = strlen(a->secret);
	size_t len = ulen + slen + 2;
	char *buf = xmalloc(len), *ir;
	int r;

	buf[0] = '\0';
	memcpy(buf + 1, a->user, ulen);
	buf[ulen + 1] = '\0';
	memcpy(buf + ulen + 2, a->secret, slen);
	ir = b64_wipe(buf, len);
	r = sasl_start(p, "PLAIN", ir, false, err);
	wipe_str(ir);
	return sasl_check(p, r, "PLAIN", true, err);
}

/* AUTH LOGIN: the user name and the password, each after a challenge
 * whose text ("Username:") we check for form only. */
static int
login_login(struct pop3 *p, const struct auth_params *a, struct pf_err *err)
{
	const char *field[2] = {a->user, a->secret};
	unsigned char *c;
	size_t clen;
	char *b;
	int r, i;

	r = sasl_start(p, "LOGIN", NULL, false, err);
	for (i = 0; i < 2; i++) {
		if (sasl_check(p, r, "LOGIN", false, err) == -1)
			return -1;
		if ((c = sasl_challenge(p, &clen, err)) == NULL)
			return -1;
		crypto_wipe_free(c, clen + 1);
		b = crypto_b64_encode(field[i], strlen(field[i]));
		r = sasl_respond(p, b, err);
		wipe_str(b);
	}
	return sasl_check(p, r, "LOGIN", true, err);
}

char *
auth_cram_md5_response(const char *user, const char *secret,
    const unsigned char *chal, size_t challen)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char digest[33];
	char *out;

	if (HMAC(EVP_md5(), secret, (int)strlen(secret), chal, challen, md,
		&mdlen) == NULL ||
	    mdlen != 16) {
		OPENSSL_cleanse(md, sizeof(md));
		return NULL;
	}
	crypto_hex(md, 16, digest);
	out = xasprintf("%s %s", user, digest);
	OPENSSL_cleanse(md, sizeof(md));
	OPENSSL_cleanse(digest, sizeof(digest));
	return out;
}

/* AUTH CRAM-MD5 (RFC 2195): one challenge, one keyed digest. */
static int
login_cram(struct pop3 *p, const struct auth_params *a, struct pf_err *err)
{
	unsigned char *c;
	size_t clen;
	char *resp, *b;
	int r;

	r = sasl_start(p, "CRAM-MD5", NULL, false, err);
	if (sasl_check(p, r, "CRAM-MD5", false, err) == -1)
		return -1;
	if ((c = sasl_challenge(p, &clen, err)) == NULL)
		return -1;
	if (clen == 0) {
		crypto_wipe_free(c, clen + 1);
		sasl_cancel(p);
		return pf_err_set(err, PF_EPROTO, "invalid SASL challenge");
	}
	resp = auth_cram_md5_response(a->user, a->secret, c, clen);
	crypto_wipe_free(c, clen + 1);
	if (resp == NULL) {
		sasl_cancel(p);
		return pf_err_set(err, PF_ESOFTWARE,
		    "cannot compute CRAM-MD5 digest (MD5 unavailable)");
	}
	b = b64_wipe(resp, strlen(resp));
	r = sasl_respond(p, b, err);
	wipe_str(b);
	return sasl_check(p, r, "CRAM-MD5", true, err);
}

/* The user name as a SCRAM/GS2 saslname: ',' and '=' escaped. */
static char *
saslname(const char *user)
{
	size_t n = 0;
	const char *s;
	char *out, *o;

	for (s = user; *s != '\0'; s++)
		n += (*s == ',' || *s == '=') ? 3 : 1;
	out = o = xmalloc(n + 1);
	for (s = user; *s != '\0'; s++) {
		if (*s == ',' || *s == '=') {
			memcpy(o, *s == ',' ? "=2C" : "=3D", 3);
			o += 3;
		} else
			*o++ = *s;
	}
	*o = '\0';
	return out;
}

char *
auth_scram_first(struct auth_scram *sc, bool sha256, const char *user,
    const char *nonce, struct pf_err *err)
{
	unsigned char rnd[SCRAM_NONCE_BYTES];
	char *name;

	memset(sc, 0, sizeof(*sc));
	sc->sha256 = sha256;
	if (nonce != NULL)
		sc->nonce = xstrdup(nonce);
	else {
		if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
			pf_err_set(err, PF_ESOFTWARE,
			    "cannot make a SCRAM nonce: no randomness");
			return NULL;
		}
		sc->nonce = crypto_b64_encode(rnd, sizeof(rnd));
		OPENSSL_cleanse(rnd, sizeof(rnd));
	}
	name = saslname(user);
	sc->client_first_bare = xasprintf("n=%s,r=%s", name, sc->nonce);
	free(name);
	return xasprintf("n,,%s", sc->client_first_bare);
}

/* Find attribute "x=" at *pos in msg[0..len); point *val at its value of
 * *vlen bytes and move *pos past the following ','. Returns 0 or -1. */
static int
scram_attr(const char *msg, size_t len, size_t *pos, char name,
    const char **val, size_t *vlen)
{
	size_t i = *pos, start;

	if (i + 2 > len || msg[i] != name || msg[i + 1] != '=')
		return -1;
	start = i + 2;
	for (i = start; i < len && msg[i] != ','; i++)
		;
	*val = msg + start;
	*vlen = i - start;
	*pos = i < len ? i + 1 : i;
	return 0;
}

/* True when buf[0..len) is printable ASCII without NUL. */
static bool
printable(const char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (buf[i] < 0x20 || buf[i] >= 0x7f)
			return false;
	return true;
}

/* HMAC(key, data) with the exchange's hash into out; 0 or -1. */
static int
scram_hmac(const EVP_MD *md, const unsigned char *key, size_t keylen,
    const void *data, size_t len, unsigned char *out)
{
	unsigned int outlen = 0;

	return HMAC(md, key, (int)keylen, data, len, out, &outlen) == NULL ? -1
									   : 0;
}

char *
auth_scram_final(struct auth_scram *sc, const char *secret, const char *sf,
    size_t len, struct pf_err *err)
{
	const EVP_MD *md = sc->sha256 ? EVP_sha256() : EVP_sha1();
	size_t dlen = (size_t)EVP_MD_size(md), pos = 0, rlen, slen, ilen;
	size_t nlen = strlen(sc->nonce), saltlen = 0, i;
	unsigned char salted[EVP_MAX_MD_SIZE], ckey[EVP_MAX_MD_SIZE];
	unsigned char stored[EVP_MAX_MD_SIZE], csig[EVP_MAX_MD_SIZE];
	unsigned char skey[EVP_MAX_MD_SIZE];
	const char *r, *s, *it;
	unsigned char *salt = NULL;
	char *noproof = NULL, *authmsg = NULL, *saltb64, *proof = NULL;
	char *out = NULL;
	unsigned long iter = 0;

	if (!printable(sf, len) || strlen(sf) != len) {
		pf_err_set(
		    err, PF_EPROTO, "invalid SCRAM server-first message");
		return NULL;
	}
	if (len >= 2 && sf[0] == 'm' && sf[1] == '=') {
		pf_err_set(err, PF_EPROTO,
		    "server requires an unknown SCRAM extension");
		return NULL;
	}
	if (scram_attr(sf, len, &pos, 'r', &r, &rlen) == -1 ||
	    scram_attr(sf, len, &pos, 's', &s, &slen) == -1 ||
	    scram_attr(sf, len, &pos, 'i', &it, &ilen) == -1) {
		pf_err_set(
		    err, PF_EPROTO, "invalid SCRAM server-first message");
		return NULL;
	}
	if (rlen <= nlen || memcmp(r, sc->nonce, nlen) != 0) {
		pf_err_set(
		    err, PF_EPROTO, "SCRAM server nonce does not extend ours");
		return NULL;
	}
	for (i = 0; i < ilen && i < 7; i++) {
		if (it[i] < '0' || it[i] > '9')
			break;
		iter = iter * 10 + (unsigned long)(it[i] - '0');
	}
	if (ilen == 0 || i != ilen || iter < AUTH_SCRAM_ITER_MIN ||
	    iter > AUTH_SCRAM_ITER_MAX) {
		pf_err_set(err, PF_EPROTO,
		    "SCRAM iteration count out of range (%d..%d)",
		    AUTH_SCRAM_ITER_MIN, AUTH_SCRAM_ITER_MAX);
		return NULL;
	}
	saltb64 = xstrndup(s, slen);
	salt = crypto_b64_decode(saltb64, SCRAM_SALT_MAX, &saltlen);
	free(saltb64);
	if (salt == NULL || saltlen == 0) {
		free(salt);
		pf_err_set(err, PF_EPROTO, "invalid SCRAM salt");
		return NULL;
	}

	noproof = xasprintf("c=biws,r=%.*s", (int)rlen, r);
	authmsg = xasprintf(
	    "%s,%.*s,%s", sc->client_first_bare, (int)len, sf, noproof);
	if (PKCS5_PBKDF2_HMAC(secret, (int)strlen(secret), salt, (int)saltlen,
		(int)iter, md, (int)dlen, salted) != 1 ||
	    scram_hmac(md, salted, dlen, "Client Key", 10, ckey) == -1 ||
	    EVP_Digest(ckey, dlen, stored, NULL, md, NULL) != 1 ||
	    scram_hmac(md, stored, dlen, authmsg, strlen(authmsg), csig) ==
		-1 ||
	    scram_hmac(md, salted, dlen, "Server Key", 10, skey) == -1 ||
	    scram_hmac(md, skey, dlen, authmsg, strlen(authmsg),
		sc->server_sig) == -1) {
		pf_err_set(err, PF_ESOFTWARE, "cannot compute SCRAM proof");
		goto out;
	}
	sc->sig_len = dlen;
	for (i = 0; i < dlen; i++)
		ckey[i] ^= csig[i];
	proof = crypto_b64_encode(ckey, dlen);
	out = xasprintf("%s,p=%s", noproof, proof);
out:
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(ckey, sizeof(ckey));
	OPENSSL_cleanse(stored, sizeof(stored));
	OPENSSL_cleanse(csig, sizeof(csig));
	OPENSSL_cleanse(skey, sizeof(skey));
	wipe_str(proof);
	free(noproof);
	free(authmsg);
	free(salt);
	return out;
}

int
auth_scram_verify(
    struct auth_scram *sc, const char *sfin, size_t len, struct pf_err *err)
{
	char text[PF_SERVER_TEXT_MAX + 8];
	unsigned char *sig;
	const char *v;
	size_t pos = 0, vlen, siglen = 0;
	char *vb64;
	int ok;

	if (sc->sig_len == 0)
		return pf_err_set(err, PF_ESOFTWARE,
		    "SCRAM server-final before client-final");
	if (strlen(sfin) != len)
		return pf_err_set(
		    err, PF_EPROTO, "invalid SCRAM server-final message");
	if (scram_attr(sfin, len, &pos, 'e', &v, &vlen) == 0) {
		pf_sanitize(text, sizeof(text), v, vlen);
		return pf_err_set(err, PF_ENOPERM,
		    "authentication failed: SCRAM error '%s'", text);
	}
	if (scram_attr(sfin, len, &pos, 'v', &v, &vlen) == -1)
		return pf_err_set(
		    err, PF_EPROTO, "invalid SCRAM server-final message");
	vb64 = xstrndup(v, vlen);
	sig = crypto_b64_decode(vb64, 64, &siglen);
	free(vb64);
	if (sig == NULL)
		return pf_err_set(
		    err, PF_EPROTO, "invalid SCRAM server-final message");
	ok = siglen == sc->sig_len &&
	    CRYPTO_memcmp(sig, sc->server_sig, siglen) == 0;
	free(sig);
	if (!ok)
		return pf_err_set(err, PF_ENOPERM,
		    "server signature mismatch (possible impostor)");
	return 0;
}

void
auth_scram_free(struct auth_scram *sc)
{
	free(sc->nonce);
	free(sc->client_first_bare);
	OPENSSL_cleanse(sc, sizeof(*sc));
}

/* AUTH SCRAM-SHA-1 / SCRAM-SHA-256 (RFC 5802, 7677) with mutual
 * authentication: the server's signature arrives as a last challenge,
 * which we answer with an empty line (RFC 5034 has no data with +OK). */
static int
login_scram(struct pop3 *p, const struct auth_params *a, bool sha256,
    struct pf_err *err)
{
	const char *mech = sha256 ? "SCRAM-SHA-256" : "SCRAM-SHA-1";
	struct auth_scram sc;
	unsigned char *c = NULL;
	size_t clen = 0;
	char *first, *final = NULL, *b = NULL;
	int r, ret = -1;

	if ((first = auth_scram_first(&sc, sha256, a->user, NULL, err)) == NULL)
		goto out;
	b = crypto_b64_encode(first, strlen(first));
	free(first);
	r = sasl_start(p, mech, b, false, err);
	free(b);
	b = NULL;
	if (sasl_check(p, r, mech, false, err) == -1)
		goto out;
	if ((c = sasl_challenge(p, &clen, err)) == NULL)
		goto out;
	final = auth_scram_final(&sc, a->secret, (char *)c, clen, err);
	if (final == NULL) {
		sasl_cancel(p);
		goto out;
	}
	b = crypto_b64_encode(final, strlen(final));
	r = sasl_respond(p, b, err);
	if (r == POP3_OK) {
		pf_err_set(err, PF_EPROTO,
		    "server ended AUTH %s without proving it knows the "
		    "password",
		    mech);
		goto out;
	}
	if (sasl_check(p, r, mech, false, err) == -1)
		goto out;
	free(c);
	if ((c = sasl_challenge(p, &clen, err)) == NULL)
		goto out;
	if (auth_scram_verify(&sc, (char *)c, clen, err) == -1) {
		sasl_cancel(p);
		goto out;
	}
	r = sasl_respond(p, "", err);
	ret = sasl_check(p, r, mech, true, err);
out:
	free(c);
	wipe_str(final);
	wipe_str(b);
	auth_scram_free(&sc);
	return ret;
}

int
auth_oauth_status(const char *json, size_t len, char *out, size_t outsz)
{
	static const char key[] = "\"status\"";
	size_t klen = sizeof(key) - 1, i, j;

	if (outsz > 0)
		out[0] = '\0';
	for (i = 0; i + klen <= len; i++) {
		if (memcmp(json + i, key, klen) != 0)
			continue;
		j = i + klen;
		while (j < len && (json[j] == ' ' || json[j] == '\t'))
			j++;
		if (j >= len || json[j++] != ':')
			continue;
		while (j < len && (json[j] == ' ' || json[j] == '\t'))
			j++;
		if (j < len && json[j] == '"') {
			size_t s = ++j;

			while (j < len && json[j] != '"')
				j++;
			pf_sanitize(out, outsz, json + s, j - s);
		} else {
			size_t s = j;

			while (j < len &&
			    ((json[j] >= '0' && json[j] <= '9') ||
				(json[j] >= 'a' && json[j] <= 'z') ||
				(json[j] >= 'A' && json[j] <= 'Z')))
				j++;
			pf_sanitize(out, outsz, json + s, j - s);
		}
		return out[0] == '\0' ? -1 : 0;
	}
	return -1;
}

/*
 * The server answered an OAuth payload with an error challenge: send the
 * dummy response (empty for XOAUTH2, 0x01 for OAUTHBEARER), read the
 * -ERR and report the JSON "status".
 */
static int
oauth_error(
    struct pop3 *p, const char *mech, const char *dummy, struct pf_err *err)
{
	char status[64], text[PF_SERVER_TEXT_MAX + 8];
	struct pf_err e;
	unsigned char *json;
	size_t jlen = 0;
	int r;

	status[0] = '\0';
	if (strlen(pop3_text(p)) < POP3_TEXT_MAX - 1 &&
	    (json = crypto_b64_decode(
		 pop3_text(p), AUTH_CHALLENGE_MAX, &jlen)) != NULL) {
		(void)auth_oauth_status(
		    (char *)json, jlen, status, sizeof(status));
		free(json);
	}
	r = sasl_respond(p, dummy, err);
	if (r == -1)
		return -1;
	if (r == POP3_CONT)
		return sasl_unexpected(p, mech, err);
	if (r == POP3_OK)
		return sasl_premature(mech, err);
	pf_err_clear(&e);
	(void)pop3_err_from_reply(p, "authentication", PF_ENOPERM, &e);
	pf_sanitize(text, sizeof(text), pop3_text(p), strlen(pop3_text(p)));
	return pf_err_set(err, e.code,
	    "authentication failed: OAuth token rejected (status %s): %s",
	    status[0] != '\0' ? status : "unknown", text);
}

/* AUTH XOAUTH2 (Google's and Microsoft's format): one step with SASL-IR,
 * else two. */
static int
login_xoauth2(struct pop3 *p, const struct auth_params *a, struct pf_err *err)
{
	char *payload, *b, *line;
	int r;

	payload =
	    xasprintf("user=%s\001auth=Bearer %s\001\001", a->user, a->secret);
	b = b64_wipe(payload, strlen(payload));
	if (pop3_capabilities(p)->sasl_ir) {
		line = xasprintf("XOAUTH2 %s", b);
		r = pop3_cmd(p, POP3_CMD_AUTH, line, true, err);
		wipe_str(line);
		if (r != -1)
			r = pop3_reply(p, err);
	} else {
		r = sasl_start(p, "XOAUTH2", b, true, err);
	}
	wipe_str(b);
	if (r == POP3_CONT)
		return oauth_error(p, "XOAUTH2", "", err);
	return sasl_check(p, r, "XOAUTH2", true, err);
}

/* AUTH OAUTHBEARER (RFC 7628). */
static int
login_oauthbearer(
    struct pop3 *p, const struct auth_params *a, struct pf_err *err)
{
	char *name = saslname(a->user), *payload, *b;
	int r;

	payload = xasprintf("n,a=%s,\001%s%s%s%s%s%sauth=Bearer %s\001\001",
	    name, a->host != NULL ? "host=" : "",
	    a->host != NULL ? a->host : "", a->host != NULL ? "\001" : "",
	    a->port != NULL ? "port=" : "", a->port != NULL ? a->port : "",
	    a->port != NULL ? "\001" : "", a->secret);
	free(name);
	b = b64_wipe(payload, strlen(payload));
	r = sasl_start(p, "OAUTHBEARER", b, false, err);
	wipe_str(b);
	if (r == POP3_CONT)
		return oauth_error(p, "OAUTHBEARER", "AQ==", err);
	return sasl_check(p, r, "OAUTHBEARER", true, err);
}

int
auth_sasl_login(struct pop3 *p, const struct auth_params *a,
    enum auth_mech mech, struct pf_err *err)
{
	switch (mech) {
	case AUTH_PLAIN:
		return login_plain(p, a, err);
	case AUTH_LOGIN:
		return login_login(p, a, err);
	case AUTH_CRAM_MD5:
		return login_cram(p, a, err);
	case AUTH_SCRAM_SHA1:
		return login_scram(p, a, false, err);
	case AUTH_SCRAM_SHA256:
		return login_scram(p, a, true, err);
	case AUTH_XOAUTH2:
		return login_xoauth2(p, a, err);
	case AUTH_OAUTHBEARER:
		return login_oauthbearer(p, a, err);
	default:
		return pf_err_set(
		    err, PF_ESOFTWARE, "not a SASL mechanism: %d", (int)mech);
	}
}
