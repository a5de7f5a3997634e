/* session.c: connect, TLS, greeting, capabilities, login. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "popfetch/auth.h"
#include "popfetch/conn.h"
#include "popfetch/log.h"
#include "popfetch/pop3.h"
#include "popfetch/session.h"

void
session_conn_params(const struct account *a, struct conn_params *cp)
{
	memset(cp, 0, sizeof(*cp));
	cp->host = a->host;
	cp->port = account_port(a);
	cp->family = a->family;
	cp->timeout_ms = a->timeout * 1000;
	cp->tls = a->tls;
	cp->ca_file = a->ca_file;
	cp->fingerprint = a->fingerprint;
	cp->tls_min = a->tls_min;
	cp->cert_file = a->cert_file;
	cp->key_file = a->key_file;
	cp->insecure = a->insecure;
	cp->proxy = a->proxy;
	cp->tunnel = a->tunnel;
	cp->source_address = a->source_address;
}

/* Not a byte of greeting on a plain connection: the port may expect TLS
 * from the start (a TLS server waits for the client to speak first). */
static void
greeting_hint(
    const struct conn_params *cp, const struct stream *s, struct pf_err *err)
{
	size_t n;

	if (err == NULL || err->code != PF_ETEMP || s->bytes_in != 0 ||
	    cp->tls == CONN_TLS_IMPLICIT ||
	    strstr(err->msg, "timed out") == NULL)
		return;
	n = strlen(err->msg);
	snprintf(err->msg + n, sizeof(err->msg) - n,
	    "; no greeting: if port %s expects TLS from the start, drop "
	    "--starttls/--no-tls",
	    cp->port);
}

int
session_open(const struct account *a, const struct conn_params *cp, int trace,
    session_connect_fn connect, void *ctx, struct pop3 **p, struct pf_err *err)
{
	struct pop3_params par = {trace};
	struct stream *s;

	*p = NULL;
	s = connect != NULL ? connect(ctx, cp, err) : conn_open(cp, err);
	if (s == NULL)
		return -1;
	*p = pop3_new(s, &par);
	if (pop3_greeting(*p, err) < 0) {
		greeting_hint(cp, s, err);
		return -1;
	}
	if (pop3_capa(*p, err) < 0)
		return -1;
	if (cp->tls != CONN_TLS_STARTTLS)
		return 0;
	if (!pop3_capabilities(*p)->stls)
		return pf_err_set(err, PF_ENOPERM,
		    "server '%s' does not offer STLS; refusing to continue "
		    "without TLS",
		    a->host);
	if (pop3_stls(*p, err) < 0 ||
	    conn_starttls(pop3_stream(*p), cp, err) < 0 ||
	    pop3_capa(*p, err) < 0)
		return -1;
	return 0;
}

/* RFC 6856: the server announced UTF8, so ask for messages as they are
 * (8-bit headers) instead of a downgrade; popfetch delivers 8-bit clean.
 * A refusal changes nothing. */
static int
session_utf8(struct pop3 *p, struct pf_err *err)
{
	int r = pop3_simple(p, POP3_CMD_UTF8, NULL, err);

	if (r == -1)
		return -1;
	if (r == POP3_ERR)
		log_debug(
		    "server refused UTF8; messages come as it stores them");
	return 0;
}

int
session_login(struct pop3 *p, const struct account *a, const char *secret,
    struct pf_err *err)
{
	struct auth_params ap;
	bool utf8;

	memset(&ap, 0, sizeof(ap));
	ap.mech = a->auth;
	ap.user = a->user;
	ap.secret = secret != NULL ? secret : "";
	ap.host = a->host;
	ap.port = account_port(a);
	ap.tls = stream_is_tls(pop3_stream(p));
	ap.verified = conn_tls_verified(pop3_stream(p));
	ap.allow_plain = a->tls == CONN_TLS_NONE && a->auth != AUTH_AUTO;
	ap.oauth = a->oauth2_provider != NULL;
	if (!ap.tls && ap.allow_plain && auth_sends_cleartext(a->auth))
		log_warning("sending the password in clear text to '%s' "
			    "(--no-tls with --auth=%s)",
		    a->host, auth_mech_names[a->auth]);
	utf8 = pop3_capabilities(p)->utf8;
	if (auth_login(p, &ap, NULL, err) < 0)
		return -1;
	return utf8 || pop3_capabilities(p)->utf8 ? session_utf8(p, err) : 0;
}
