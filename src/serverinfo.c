/* serverinfo.c: the --serverinfo description of a server. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "popfetch/conn.h"
#include "popfetch/pop3.h"
#include "popfetch/serverinfo.h"
#include "popfetch/session.h"
#include "popfetch/xmalloc.h"

/* Append a formatted line to a growing text. */
static void text_add(char **text, const char *fmt, ...) PF_PRINTF(2, 3);
static void
text_add(char **text, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	char *n;

	va_start(ap, fmt);
	if (vsnprintf(line, sizeof(line), fmt, ap) < 0)
		line[0] = '\0';
	va_end(ap);
	n = xasprintf("%s%s\n", *text != NULL ? *text : "", line);
	free(*text);
	*text = n;
}

/* Describe the capabilities c. */
static void
text_capa(char **text, const char *title, const struct pop3_capa *c)
{
	if (!c->valid) {
		text_add(text, "%s: (CAPA not supported)", title);
		return;
	}
	text_add(text, "%s:%s%s%s%s%s%s%s%s", title, c->top ? " TOP" : "",
	    c->uidl ? " UIDL" : "", c->user ? " USER" : "",
	    c->pipelining ? " PIPELINING" : "", c->stls ? " STLS" : "",
	    c->resp_codes ? " RESP-CODES" : "",
	    c->auth_resp_code ? " AUTH-RESP-CODE" : "", c->utf8 ? " UTF8" : "");
	text_add(text, "  SASL mechanisms: %s",
	    c->sasl[0] != '\0' ? c->sasl : "(none)");
	if (c->login_delay >= 0)
		text_add(text, "  LOGIN-DELAY: %ld seconds", c->login_delay);
	if (c->expire == -2)
		text_add(text, "  EXPIRE: NEVER");
	else if (c->expire >= 0)
		text_add(text, "  EXPIRE: %ld days", c->expire);
	if (c->implementation[0] != '\0')
		text_add(text, "  IMPLEMENTATION: %s", c->implementation);
}

/* The greeting and the TLS session; whether the certificate verified
 * (or the user chose not to verify it). */
static bool
text_channel(char **text, struct pop3 *p, bool probing)
{
	char buf[PF_SERVER_TEXT_MAX * 4 + 8];
	const char *g = pop3_greeting_text(p);
	struct conn_tls_info ti;

	text_add(
	    text, "greeting: %s", pf_sanitize(buf, sizeof(buf), g, strlen(g)));
	if (conn_tls_info(pop3_stream(p), &ti) == -1) {
		text_add(text, "TLS: none");
		return true;
	}
	text_add(text, "TLS: %s, cipher %s", ti.version, ti.cipher);
	text_add(text, "certificate subject: %s", ti.subject);
	text_add(text, "certificate issuer: %s", ti.issuer);
	text_add(text, "certificate validity: %s to %s", ti.not_before,
	    ti.not_after);
	text_add(text, "certificate SHA-256 fingerprint: %s", ti.sha256);
	if (ti.verified || (probing && ti.verify_ok))
		text_add(text, "certificate verified: yes");
	else if (probing)
		text_add(text, "certificate verified: NO: %s", ti.verify_error);
	else
		text_add(text, "certificate verified: NO (--insecure)");
	return !probing || ti.verify_ok;
}

int
serverinfo_get(const struct account *a, const struct fetch_opts *o, char **text,
    struct pf_err *err)
{
	struct conn_params cp;
	struct pf_err qerr;
	struct pop3 *p = NULL;
	bool probing, verified;
	int ret = -1;

	*text = NULL;
	session_conn_params(a, &cp);
	cp.proxy_password = o->proxy_secret;
	text_add(text, "server: %s port %s (%s)", a->host, account_port(a),
	    a->tls == CONN_TLS_IMPLICIT	      ? "implicit TLS"
		: a->tls == CONN_TLS_STARTTLS ? "STARTTLS"
					      : "no TLS");
	/* Verify after the handshake, so that a certificate that fails is
	 * shown with its fingerprint and the reason; nothing secret is sent
	 * unless it passed. */
	probing =
	    cp.tls != CONN_TLS_NONE && !cp.insecure && cp.fingerprint == NULL;
	if (probing)
		cp.insecure = true;
	if (session_open(a, &cp, o->trace, o->connect, o->ctx, &p, err) < 0)
		goto out;
	verified = text_channel(text, p, probing);
	text_capa(text, "capabilities", pop3_capabilities(p));
	if (!verified) {
		(void)pop3_quit(p, &qerr);
		pf_err_set(err, PF_ENOPERM,
		    "certificate verification failed for '%s' (shown above, "
		    "not logged in); trust its CA with --ca-file, or pin the "
		    "fingerprint above with --fingerprint",
		    a->host);
		goto out;
	}
	if (o->secret != NULL && o->secret[0] != '\0') {
		if (session_login(p, a, o->secret, err) < 0 ||
		    pop3_capa(p, err) < 0)
			goto out;
		text_capa(
		    text, "capabilities after login", pop3_capabilities(p));
	}
	(void)pop3_quit(p, &qerr);
	ret = 0;
out:
	pop3_free(p);
	return ret;
}
