/*
 * config-hint.c: what mpop and fetchmail users write, and the popfetch
 * way of saying it, so that a converted config gets a pointer instead of
 * a bare "unknown key" (docs/migration.md has the full tables).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config-private.h"

/*
 * Keys of mpop(1) (and a few fetchmail keywords written in our syntax).
 * A hint with "%s" gets the value (or "VALUE" when there is none); NULL
 * hints are worked out in key_hint_by_value().
 */
static const struct {
	const char *key;
	const char *from;
	const char *hint;
} foreign_keys[] = {
    /* mpop */
    {"passwordeval", "mpop", "write 'password_command %s'"},
    {"tls_starttls", "mpop", NULL},
    {"tls_trust_file", "mpop", NULL},
    {"tls_fingerprint", "mpop",
	"write 'fingerprint SHA256' (SHA-256 only; --serverinfo shows it)"},
    {"tls_key_file", "mpop", "write 'key %s'"},
    {"tls_cert_file", "mpop", "write 'cert %s'"},
    {"tls_certcheck", "mpop", NULL},
    {"tls_nocertcheck", "mpop", "write 'insecure on'"},
    {"tls_priorities", "mpop", "write 'tls_min 1.2' or 'tls_min 1.3'"},
    {"tls_crl_file", "mpop", "there is no CRL support; drop the line"},
    {"tls_host_override", "mpop", "there is no equivalent; drop the line"},
    {"tls_min_dh_prime_bits", "mpop",
	"OpenSSL chooses the key exchange; drop the line"},
    {"delivery", "mpop", NULL},
    {"uidls_file", "mpop",
	"write 'state_dir DIR' (a directory: one state file per account)"},
    {"killsize", "mpop", "write 'kill_size %s' (it deletes even with keep on)"},
    {"skipsize", "mpop", "write 'max_size %s'"},
    {"received_header", "mpop", NULL},
    {"pipelining", "mpop",
	"pipelining is used whenever the server announces it; drop the line"},
    {"source_ip", "mpop", "there is no equivalent yet; drop the line"},
    {"proxy_host", "mpop", "there is no proxy support yet; drop the line"},
    {"proxy_port", "mpop", "there is no proxy support yet; drop the line"},
    {"socket", "mpop", "connections are TCP only; drop the line"},
    {"ntlmdomain", "mpop", "there is no NTLM; drop the line"},
    {"eval", "mpop", "write the keys themselves"},
    {"filter", "mpop", "filter in the MDA (mda procmail -f %%F, for example)"},
    /* fetchmail keywords, as they look in our syntax */
    {"poll", "fetchmail",
	"this is .fetchmailrc syntax: write 'account NAME', then 'host HOST' on a line of its own"},
    {"server", "fetchmail",
	"this is .fetchmailrc syntax: write 'account NAME', then 'host HOST' on a line of its own"},
    {"skip", "fetchmail",
	"this is .fetchmailrc syntax: write an account and leave it out of the accounts you fetch"},
    {"set", "fetchmail",
	"this is .fetchmailrc syntax: run-wide keys go in the defaults block ('syslog on', for example)"},
    {"fetchall", "fetchmail", "write 'all on'"},
    {"nokeep", "fetchmail", "write 'keep off'"},
    {"fetchlimit", "fetchmail", "write 'limit %s'"},
    {"sslcertfile", "fetchmail", "write 'ca_file %s'"},
    {"sslfingerprint", "fetchmail",
	"write 'fingerprint SHA256' (SHA-256, not MD5)"},
    {"sslcert", "fetchmail", "write 'cert %s'"},
    {"sslkey", "fetchmail", "write 'key %s'"},
    {"sslproto", "fetchmail", "write 'tls_min 1.2' or 'tls_min 1.3'"},
    {"sslcertck", "fetchmail",
	"certificates are always checked; drop the line"},
    {"ssl", "fetchmail", "implicit TLS ('tls on') is the default"},
    {"username", "fetchmail", "write 'user %s'"},
    {"pass", "fetchmail",
	"write 'password' (in a file of mode 600) or 'password_command'"},
    {"proto", "fetchmail", "POP3 is the only protocol; drop the line"},
    {"protocol", "fetchmail", "POP3 is the only protocol; drop the line"},
    {"idfile", "fetchmail", "write 'state_dir DIR'"},
    {"invisible", "fetchmail", "write 'no_received on'"},
};

/* mpop's "delivery KIND ARG": our key is KIND. */
static void
delivery_hint(const char *v, char *buf, size_t sz)
{
	static const char *const kinds[] = {"mda", "maildir", "mbox"};
	const char *arg = v != NULL ? strchr(v, ' ') : NULL;
	size_t i, len = arg != NULL ? (size_t)(arg - v) : 0;

	while (arg != NULL && *arg == ' ')
		arg++;
	for (i = 0; arg != NULL && *arg != '\0' && i < 3; i++) {
		if (strlen(kinds[i]) == len && strncmp(v, kinds[i], len) == 0) {
			snprintf(buf, sz, "write '%s %s'", kinds[i], arg);
			return;
		}
	}
	snprintf(buf, sz, "write 'maildir DIR', 'mbox FILE' or 'mda COMMAND'");
}

/* The hints of mpop keys whose popfetch form depends on the value. */
static const char *
key_hint_by_value(const char *key, const char *v, char *buf, size_t sz)
{
	bool off = v != NULL &&
	    (strcasecmp(v, "off") == 0 || strcasecmp(v, "no") == 0);
	bool system = v != NULL && strcmp(v, "system") == 0;

	if (strcmp(key, "tls_starttls") == 0)
		snprintf(buf, sz, "%s",
		    off ? "write 'tls on' (implicit TLS, port 995)"
			: "write 'tls starttls' (port 110)");
	else if (strcmp(key, "tls_trust_file") == 0 && system)
		snprintf(
		    buf, sz, "the system's CAs are the default; drop the line");
	else if (strcmp(key, "tls_trust_file") == 0)
		snprintf(buf, sz, "write 'ca_file %s'", v != NULL ? v : "FILE");
	else if (strcmp(key, "tls_certcheck") == 0)
		snprintf(buf, sz, "%s",
		    off ? "write 'insecure on'"
			: "certificates are always checked; drop the line");
	else if (strcmp(key, "received_header") == 0)
		snprintf(buf, sz, "%s",
		    off ? "write 'no_received on'"
			: "it is the default; drop the line");
	else if (strcmp(key, "delivery") == 0)
		delivery_hint(v, buf, sz);
	else
		return NULL;
	return buf;
}

const char *
config_hint_key(const char *key, const char *value, char *buf, size_t sz)
{
	char what[192];
	size_t i;

	for (i = 0; i < sizeof(foreign_keys) / sizeof(foreign_keys[0]); i++) {
		const char *h = foreign_keys[i].hint;

		if (strcmp(foreign_keys[i].key, key) != 0)
			continue;
		if (h == NULL) {
			if (key_hint_by_value(key, value, what, sizeof(what)) ==
			    NULL)
				return NULL;
		} else if (strstr(h, "%s") != NULL) {
			/* the table holds one %s at most */
			const char *s = strstr(h, "%s");

			snprintf(what, sizeof(what), "%.*s%s%s", (int)(s - h),
			    h, value != NULL ? value : "VALUE", s + 2);
		} else {
			snprintf(what, sizeof(what), "%s", h);
		}
		/* a literal %% in the table stands for one % */
		for (char *p = what; (p = strstr(p, "%%")) != NULL; p++)
			memmove(p, p + 1, strlen(p + 1) + 1);
		snprintf(buf, sz, "(%s): in popfetch, %s", foreign_keys[i].from,
		    what);
		return buf;
	}
	return NULL;
}

const char *
config_hint_value(const char *key, const char *value)
{
	if (value == NULL)
		return NULL;
	if (strcmp(key, "auth") == 0 &&
	    (strcasecmp(value, "on") == 0 || strcasecmp(value, "off") == 0))
		return "mpop's 'auth on' is popfetch's 'auth auto'";
	if (strcmp(key, "timeout") == 0 && strcasecmp(value, "off") == 0)
		return "popfetch always bounds each wait; give seconds";
	return NULL;
}

/* Whether the two bytes at p stand as a shell word of their own, maybe
 * in quotes: fetchmail replaced such a word by the recipient, while
 * "%s" in a printf format or %T in a date format is the user's own. */
static bool
whole_word(const char *cmd, const char *p)
{
	const char *b = p, *e = p + 2;

	if (b > cmd && (b[-1] == '\'' || b[-1] == '"') && *e == b[-1]) {
		b--;
		e++;
	}
	return (b == cmd || b[-1] == ' ' || b[-1] == '\t') &&
	    (*e == '\0' || *e == ' ' || *e == '\t' || *e == ';');
}

int
config_check_mda(const char *cmd, struct pf_err *err)
{
	const char *p;

	for (p = cmd; (p = strchr(p, '%')) != NULL; p += 2) {
		if ((p[1] == 'T' || p[1] == 's') && whole_word(cmd, p))
			return pf_err_set(err, PF_ECONFIG,
			    "'%%%c' is fetchmail's recipient, which popfetch does not expand: write the recipient itself (one account delivers to one target); '%%%%' is a literal '%%'",
			    p[1]);
		if (p[1] == '\0')
			break;
	}
	return 0;
}
