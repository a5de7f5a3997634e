/*
 * convert-mpop.c: read an mpop 1.4 configuration (~/.mpoprc) the way mpop
 * does and describe each account as popfetch settings.
 *
 * mpop's rules, as mpop 1.4.18 applies them (checked with --pretend): an
 * account starts from the defaults given so far in the file, then takes
 * the settings its parents set themselves (not their defaults), then its
 * own; a line is "command argument", the argument trimmed and stripped of
 * surrounding double quotes (no escapes); "#" starts a comment line.
 */
#include <ctype.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "popfetch/conn.h"
#include "popfetch/proxy.h"
#include "popfetch/err.h"
#include "popfetch/xmalloc.h"
#include "compat.h"
#include "convert-private.h"

#define MP_LINE_MAX	   4096
#define MP_MAX_PARENTS	   64
#define MP_TIMEOUT_DEFAULT "180"

/* The mpop commands converted (or reported) one by one. */
enum mp_cmd {
	MP_HOST,
	MP_PORT,
	MP_SOURCE_IP,
	MP_PROXY_HOST,
	MP_PROXY_PORT,
	MP_SOCKET,
	MP_TIMEOUT,
	MP_PIPELINING,
	MP_AUTH,
	MP_USER,
	MP_PASSWORD,
	MP_PASSWORDEVAL,
	MP_PASSWORDFILE, /* not mpop 1.4's, but users write it */
	MP_NTLMDOMAIN,
	MP_TLS,
	MP_TLS_TRUST_FILE,
	MP_TLS_CRL_FILE,
	MP_TLS_FINGERPRINT,
	MP_TLS_KEY_FILE,
	MP_TLS_CERT_FILE,
	MP_TLS_CERTCHECK,
	MP_TLS_STARTTLS,
	MP_TLS_PRIORITIES,
	MP_TLS_HOST_OVERRIDE,
	MP_TLS_MIN_DH_PRIME_BITS,
	MP_DELIVERY,
	MP_UIDLS_FILE,
	MP_ONLY_NEW,
	MP_KEEP,
	MP_KILLSIZE,
	MP_SKIPSIZE,
	MP_FILTER,
	MP_RECEIVED_HEADER,
	MP_N
};

static const char *const mp_names[MP_N] = {"host", "port", "source_ip",
    "proxy_host", "proxy_port", "socket", "timeout", "pipelining", "auth",
    "user", "password", "passwordeval", "passwordfile", "ntlmdomain", "tls",
    "tls_trust_file", "tls_crl_file", "tls_fingerprint", "tls_key_file",
    "tls_cert_file", "tls_certcheck", "tls_starttls", "tls_priorities",
    "tls_host_override", "tls_min_dh_prime_bits", "delivery", "uidls_file",
    "only_new", "keep", "killsize", "skipsize", "filter", "received_header"};

/* Settings by command: the argument and its line (0: not set). */
struct mp_map {
	char *val[MP_N];
	int line[MP_N];
};

/* One mpop account while the file is read. */
struct mp_acc {
	char *name;
	int line;
	struct mp_map snap; /* the defaults when it was defined */
	struct mp_map mask; /* what it and its parents set themselves */
	int parents[MP_MAX_PARENTS];
	int nparents;
	bool own; /* has lines of its own */
};

struct mp_file {
	const char *name;
	struct mp_map defaults;
	struct mp_acc *acc;
	size_t nacc;
	struct cv_notes *cur_notes; /* where notes of the current block go */
};

/* A read-only view of resolved settings. */
struct mp_view {
	const char *val[MP_N];
	int line[MP_N];
};

/* Replace one setting of a map. */
static void
map_set(struct mp_map *m, int c, const char *v, int line)
{
	cv_setting_set(&m->val[c], &m->line[c], v, line, c == MP_PASSWORD);
}

/* Copy the settings of src that are set onto dst. */
static void
map_overlay(struct mp_map *dst, const struct mp_map *src)
{
	int c;

	for (c = 0; c < MP_N; c++)
		if (src->line[c] != 0)
			map_set(dst, c, src->val[c], src->line[c]);
}

/* Free a map. */
static void
map_free(struct mp_map *m)
{
	int c;

	for (c = 0; c < MP_N; c++)
		map_set(m, c, NULL, 0);
}

/* Index of an mpop account, or -1. */
static int
acc_find(const struct mp_file *f, const char *name)
{
	size_t i;

	for (i = 0; i < f->nacc; i++)
		if (strcmp(f->acc[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* mpop's trim_string(): strip blanks, then one pair of double quotes. */
static char *
trim(const char *s, size_t n)
{
	while (n > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
		s++;
		n -= 2;
	}
	return xstrndup(s, n);
}

/* "account NAME [: PARENT[,PARENT...]]". Returns 0 or -1. */
static int
start_account(struct mp_file *f, struct cv_doc *d, char *arg, int line,
    struct pf_err *err)
{
	struct mp_acc *a;
	char *colon = strchr(arg, ':'), *name, *p, *comma;
	int parents[MP_MAX_PARENTS], np = 0, k;

	name = trim(arg, colon != NULL ? (size_t)(colon - arg) : strlen(arg));
	if (name[0] == '\0' || strpbrk(name, ":,") != NULL) {
		free(name);
		return pf_err_set(err, PF_ECONFIG,
		    "%s:%d: account: missing or invalid account name (mpop refuses it too)",
		    f->name, line);
	}
	if (acc_find(f, name) >= 0) {
		pf_err_set(err, PF_ECONFIG,
		    "%s:%d: account '%s' defined twice (mpop refuses it too)",
		    f->name, line, name);
		free(name);
		return -1;
	}
	for (p = colon; p != NULL; p = comma) {
		char *pn;

		comma = strchr(p + 1, ',');
		pn = trim(p + 1,
		    comma != NULL ? (size_t)(comma - p - 1) : strlen(p + 1));
		k = acc_find(f, pn);
		if (k < 0 || np == MP_MAX_PARENTS) {
			pf_err_set(err, PF_ECONFIG,
			    "%s:%d: account '%s': parent '%s' is not defined before it (mpop refuses it too)",
			    f->name, line, name, pn);
			free(pn);
			free(name);
			return -1;
		}
		free(pn);
		parents[np++] = k;
	}
	f->acc = xreallocarray(f->acc, f->nacc + 1, sizeof(*f->acc));
	a = &f->acc[f->nacc++];
	memset(a, 0, sizeof(*a));
	a->name = name;
	a->line = line;
	memcpy(a->parents, parents, sizeof(parents[0]) * (size_t)np);
	a->nparents = np;
	map_overlay(&a->snap, &f->defaults);
	for (k = 0; k < np; k++)
		map_overlay(&a->mask, &f->acc[parents[k]].mask);
	(void)cv_account_new(d, name);
	f->cur_notes = &d->acc[d->nacc - 1].notes;
	return 0;
}

/* Look a command up. */
static int
cmd_find(const char *cmd)
{
	int c;

	for (c = 0; c < MP_N; c++)
		if (strcmp(mp_names[c], cmd) == 0)
			return c;
	return -1;
}

/* One non-comment line "command argument". */
static int
do_line(struct mp_file *f, struct cv_doc *d, struct mp_map **cur, char *cmd,
    char *arg, int line, struct pf_err *err)
{
	int c;

	if (strcmp(cmd, "defaults") == 0) {
		if (arg[0] != '\0')
			return pf_err_set(err, PF_ECONFIG,
			    "%s:%d: defaults takes no argument (mpop refuses it too)",
			    f->name, line);
		*cur = &f->defaults;
		f->cur_notes = &d->defnotes;
		return 0;
	}
	if (strcmp(cmd, "account") == 0) {
		if (start_account(f, d, arg, line, err) < 0)
			return -1;
		*cur = &f->acc[f->nacc - 1].mask;
		return 0;
	}
	if (*cur == NULL)
		return pf_err_set(err, PF_ECONFIG,
		    "%s:%d: '%s' before the first account or defaults (mpop refuses it too)",
		    f->name, line, cmd);
	if (strcmp(cmd, "eval") == 0) {
		cv_note(f->cur_notes,
		    "line %d: eval: cannot map: mpop runs the command when it reads the file; run it and write the line it prints here",
		    line);
		return 0;
	}
	if ((c = cmd_find(cmd)) < 0) {
		cv_note(f->cur_notes,
		    "line %d: unknown mpop command '%.40s' (ignored)", line,
		    cmd);
		return 0;
	}
	map_set(*cur, c, arg, line);
	if (*cur != &f->defaults)
		f->acc[f->nacc - 1].own = true;
	return 0;
}

/* Read all lines. */
static int
read_lines(struct mp_file *f, struct cv_doc *d, const char *data, size_t len,
    struct pf_err *err)
{
	struct mp_map *cur = NULL;
	size_t pos = 0, n, k;
	int line = 0, r = 0;

	while (r == 0 && pos < len) {
		const char *s = data + pos, *nl = memchr(s, '\n', len - pos);
		char *cmd, *arg;

		n = nl != NULL ? (size_t)(nl - s) : len - pos;
		pos += n + 1;
		line++;
		if (n > MP_LINE_MAX || memchr(s, '\0', n) != NULL)
			return pf_err_set(err, PF_ECONFIG,
			    "%s:%d: line too long or holds a NUL byte", f->name,
			    line);
		if (n > 0 && s[n - 1] == '\r')
			n--;
		while (n > 0 && (*s == ' ' || *s == '\t')) {
			s++;
			n--;
		}
		if (n == 0 || *s == '#')
			continue;
		for (k = 0; k < n && s[k] != ' ' && s[k] != '\t'; k++)
			;
		cmd = xstrndup(s, k);
		arg = trim(s + k, n - k);
		r = do_line(f, d, &cur, cmd, arg, line, err);
		free(cmd);
		explicit_bzero(arg, strlen(arg));
		free(arg);
	}
	return r;
}

/* The settings mpop uses for account i. */
static void
resolve(const struct mp_file *f, size_t i, struct mp_view *v)
{
	const struct mp_acc *a = &f->acc[i];
	int c;

	for (c = 0; c < MP_N; c++) {
		const struct mp_map *m =
		    a->mask.line[c] != 0 ? &a->mask : &a->snap;

		v->val[c] = m->val[c];
		v->line[c] = m->line[c];
	}
}

/* mpop's on/off: "on" or empty is on. -1 when neither. */
static int
onoff(const char *v)
{
	if (v == NULL)
		return -1;
	if (v[0] == '\0' || strcmp(v, "on") == 0)
		return 1;
	if (strcmp(v, "off") == 0)
		return 0;
	return -1;
}

/* mpop's numbers: strtol base 0 (so 0x10 and 010 work), non-negative. */
static bool
mp_number(const char *v, unsigned long long max, unsigned long long *out,
    const char **rest)
{
	char *end;
	long long x;

	if (v == NULL || !isdigit((unsigned char)v[0]))
		return false;
	x = strtoll(v, &end, 0);
	if (x < 0 || (unsigned long long)x > max)
		return false;
	*out = (unsigned long long)x;
	*rest = end;
	return true;
}

/* mpop's sizes: a number, optionally followed by "k" or "m". */
static bool
mp_size(const char *v, unsigned long long *out)
{
	const char *rest;
	unsigned long long x;

	if (!mp_number(v, LLONG_MAX / 1048576, &x, &rest))
		return false;
	if (strcmp(rest, "k") == 0)
		x *= 1024;
	else if (strcmp(rest, "m") == 0)
		x *= 1048576;
	else if (rest[0] != '\0')
		return false;
	*out = x;
	return true;
}

/* Note a setting that popfetch cannot map; secret values are not shown. */
static void
cannot(struct cv_account *a, const struct mp_view *v, int c, const char *why)
{
	bool hide = c == MP_PASSWORD || c == MP_PASSWORDEVAL;

	cv_note(&a->notes, "line %d: %s%s%.60s: cannot map: %s", v->line[c],
	    mp_names[c], hide ? "" : " ", hide ? "" : v->val[c], why);
}

/* Connection: host, port, TLS, certificates. */
static void
tr_connection(struct cv_account *a, const struct mp_view *v)
{
	const char *rest;
	unsigned long long port;
	int tls = onoff(v->val[MP_TLS]), stls = onoff(v->val[MP_TLS_STARTTLS]);
	size_t hex;
	const char *p;
	char fp[65];

	if (v->val[MP_HOST] != NULL && v->val[MP_HOST][0] != '\0')
		cv_put_host(a, v->val[MP_HOST]);
	else
		cv_note(&a->notes, "no host: mpop refuses this account too");
	if (v->val[MP_PORT] != NULL && v->val[MP_PORT][0] != '\0') {
		char b[32];

		if (mp_number(v->val[MP_PORT], 65535, &port, &rest) &&
		    rest[0] == '\0' && port > 0)
			cv_put(&a->want, CV_PORT, NULL, cv_num(b, port));
		else
			cannot(a, v, MP_PORT, "not a port number");
	}
	if (tls != 1)
		cv_put(&a->want, CV_TLS, NULL, "off"); /* mpop's default */
	else if (stls != 0)
		cv_put(&a->want, CV_TLS, NULL, "starttls");
	else
		cv_put(&a->want, CV_TLS, NULL, "on");
	p = v->val[MP_TLS_TRUST_FILE];
	if (p != NULL && p[0] == '\0')
		cannot(a, v, MP_TLS_TRUST_FILE,
		    "popfetch always trusts the system CAs (pin the server with fingerprint instead)");
	else if (p != NULL && strcmp(p, "system") != 0)
		cv_put(&a->want, CV_CA_FILE, NULL, p);
	p = v->val[MP_TLS_FINGERPRINT];
	for (hex = 0; p != NULL && *p != '\0'; p++)
		hex += isxdigit((unsigned char)*p) ? 1 : 0;
	if (hex > 0 &&
	    conn_parse_fingerprint(v->val[MP_TLS_FINGERPRINT], fp) == 0)
		cv_put(&a->want, CV_FINGERPRINT, NULL, fp);
	else if (hex > 0)
		cannot(a, v, MP_TLS_FINGERPRINT,
		    "popfetch pins SHA-256 fingerprints only (popfetch --serverinfo shows it)");
	if (v->val[MP_TLS_KEY_FILE] != NULL && v->val[MP_TLS_KEY_FILE][0])
		cv_put(&a->want, CV_KEY, NULL, v->val[MP_TLS_KEY_FILE]);
	if (v->val[MP_TLS_CERT_FILE] != NULL && v->val[MP_TLS_CERT_FILE][0])
		cv_put(&a->want, CV_CERT, NULL, v->val[MP_TLS_CERT_FILE]);
	if (onoff(v->val[MP_TLS_CERTCHECK]) == 0)
		cv_put(&a->want, CV_INSECURE, NULL, "on");
}

/*
 * source_ip becomes source_address; proxy_host and proxy_port (mpop's
 * default 1080) become a socks5h:// proxy, since mpop lets the proxy
 * resolve the server's name.
 */
static void
tr_reach(struct cv_account *a, const struct mp_view *v)
{
	const char *h = v->val[MP_PROXY_HOST], *p = v->val[MP_PROXY_PORT];
	const char *rest;
	unsigned long long port = 1080;
	struct proxy_url u;
	struct pf_err err;
	char addr[256], *url;

	if (v->val[MP_SOURCE_IP] != NULL && v->val[MP_SOURCE_IP][0] != '\0') {
		if (conn_parse_address(
			v->val[MP_SOURCE_IP], addr, sizeof(addr)) == 0)
			cv_put(&a->want, CV_SOURCE_ADDRESS, NULL, addr);
		else
			cannot(a, v, MP_SOURCE_IP,
			    "popfetch binds an IPv4 or IPv6 address only");
	}
	if (h == NULL || h[0] == '\0')
		return;
	if (p != NULL && p[0] != '\0' &&
	    (!mp_number(p, 65535, &port, &rest) || rest[0] != '\0' ||
		port == 0)) {
		cannot(a, v, MP_PROXY_PORT,
		    "not a port number; the account is not converted, so that popfetch does not connect without the proxy");
		a->dropped = true;
		return;
	}
	url = xasprintf("socks5h://%s%s%s:%llu", strchr(h, ':') ? "[" : "", h,
	    strchr(h, ':') ? "]" : "", port);
	if (proxy_parse_url(url, &u, &err) == 0)
		cv_put(&a->want, CV_PROXY, NULL, url);
	else {
		cannot(a, v, MP_PROXY_HOST,
		    "not a proxy host popfetch takes (a name or an address); the account is not converted, so that popfetch does not connect without the proxy");
		a->dropped = true;
	}
	free(url);
}

/* What popfetch does not have: notes only. */
static void
tr_unmapped(struct cv_account *a, const struct mp_view *v)
{
	static const struct cv_unmapped t[] = {
	    {MP_SOCKET, "popfetch connects over TCP only"},
	    {MP_NTLMDOMAIN, "popfetch has no NTLM"},
	    {MP_TLS_CRL_FILE, "popfetch has no CRL files"},
	    {MP_TLS_PRIORITIES,
		"GnuTLS priority strings; popfetch sets only tls_min 1.2 or 1.3"},
	    {MP_TLS_HOST_OVERRIDE,
		"popfetch checks the host name it connects to"},
	    {MP_TLS_MIN_DH_PRIME_BITS, "OpenSSL chooses the DH parameters"},
	    {MP_FILTER, "popfetch has no header filter"},
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const char *val = v->val[t[i].key];

		if (val != NULL && val[0] != '\0')
			cannot(a, v, t[i].key, t[i].why);
	}
	if (v->val[MP_PIPELINING] != NULL &&
	    strcmp(v->val[MP_PIPELINING], "auto") != 0)
		cannot(a, v, MP_PIPELINING,
		    "popfetch pipelines whenever the server offers PIPELINING");
}

/*
 * "cat -- 'FILE'" (popfetch takes the first line a command prints); a
 * leading "~/" becomes "$HOME", as mpop expands it.
 */
static char *
password_file_command(const char *file)
{
	bool home = strncmp(file, "~/", 2) == 0;
	size_t n = 0, i;
	char *r, *o;

	if (home)
		file++;
	for (i = 0; file[i] != '\0'; i++)
		n += file[i] == '\'' ? 4 : 1;
	r = o = xmalloc(n + 20);
	o += snprintf(o, 20, "cat -- %s'", home ? "\"$HOME\"" : "");
	for (i = 0; file[i] != '\0'; i++) {
		if (file[i] == '\'') {
			memcpy(o, "'\\''", 4);
			o += 4;
		} else
			*o++ = file[i];
	}
	memcpy(o, "'", 2);
	return r;
}

/* Authentication and the password. */
static void
tr_auth(struct cv_account *a, const struct mp_view *v)
{
	static const char *const same[] = {"user", "plain", "login", "apop",
	    "cram-md5", "scram-sha-1", "scram-sha-256", "xoauth2",
	    "oauthbearer", NULL};
	const char *m = v->val[MP_AUTH];
	size_t i;

	if (v->val[MP_USER] != NULL && v->val[MP_USER][0] != '\0')
		cv_put(&a->want, CV_USER, NULL, v->val[MP_USER]);
	if (m != NULL && m[0] != '\0' && strcmp(m, "on") != 0) {
		for (i = 0; same[i] != NULL && strcasecmp(m, same[i]) != 0; i++)
			;
		if (same[i] != NULL)
			cv_put(&a->want, CV_AUTH, NULL, same[i]);
		else
			cannot(a, v, MP_AUTH,
			    "popfetch offers user, plain, login, apop, cram-md5, scram-sha-1, scram-sha-256, xoauth2, oauthbearer; auto is used");
	}
	if (v->val[MP_PASSWORD] != NULL && v->val[MP_PASSWORD][0] != '\0') {
		cv_put(&a->want, CV_PASSWORD, NULL, v->val[MP_PASSWORD]);
		if (v->val[MP_PASSWORDEVAL] != NULL &&
		    v->val[MP_PASSWORDEVAL][0] != '\0')
			cannot(a, v, MP_PASSWORDEVAL,
			    "password is set too and mpop uses that one");
	} else if (v->val[MP_PASSWORDEVAL] != NULL &&
	    v->val[MP_PASSWORDEVAL][0] != '\0')
		cv_put(&a->want, CV_PASSWORD_COMMAND, NULL,
		    v->val[MP_PASSWORDEVAL]);
	else if (v->val[MP_PASSWORDFILE] != NULL &&
	    v->val[MP_PASSWORDFILE][0] != '\0') {
		char *cmd = password_file_command(v->val[MP_PASSWORDFILE]);

		cv_put(&a->want, CV_PASSWORD_COMMAND, NULL, cmd);
		free(cmd);
		cv_note(&a->notes,
		    "line %d: passwordfile is not an mpop 1.4 command (mpop refuses it); written as a command that prints the file",
		    v->line[MP_PASSWORDFILE]);
	}
}

/* The delivery method. */
static void
tr_delivery(struct cv_account *a, const struct mp_view *v)
{
	const char *dv = v->val[MP_DELIVERY];
	size_t k;
	char *cmd, *arg;

	if (dv == NULL) {
		cv_note(&a->notes,
		    "no delivery: mpop refuses to fetch without one; add maildir, mbox or mda");
		return;
	}
	/* mpop trims the method's argument like any other (quotes too) */
	for (k = 0; dv[k] != '\0' && dv[k] != ' ' && dv[k] != '\t'; k++)
		;
	arg = trim(dv + k, strlen(dv + k));
	if (k == 3 && strncmp(dv, "mda", 3) == 0 && arg[0] != '\0') {
		cmd = cv_mda(arg, NULL, &a->notes, v->line[MP_DELIVERY]);
		cv_put(&a->want, CV_DELIVERY, "mda", cmd);
		free(cmd);
	} else if (k == 7 && strncmp(dv, "maildir", 7) == 0 && arg[0] != '\0')
		cv_put(&a->want, CV_DELIVERY, "maildir", arg);
	else if (k == 4 && strncmp(dv, "mbox", 4) == 0 && arg[0] != '\0')
		cv_put(&a->want, CV_DELIVERY, "mbox", arg);
	else if (k == 8 && strncmp(dv, "exchange", 8) == 0)
		cannot(a, v, MP_DELIVERY,
		    "popfetch has no Exchange pickup directory; use maildir, mbox or mda");
	else
		cannot(a, v, MP_DELIVERY, "unknown delivery method");
	free(arg);
}

/* Timeout, policy and size limits. */
static void
tr_policy(struct cv_account *a, const struct mp_view *v)
{
	const char *t = v->val[MP_TIMEOUT], *rest;
	unsigned long long x, kill = 0, skip = 0;
	bool keep = onoff(v->val[MP_KEEP]) == 1, hk, hs;
	char b[32];

	if (t == NULL)
		cv_put(&a->want, CV_TIMEOUT, NULL, MP_TIMEOUT_DEFAULT);
	else if (strcmp(t, "off") == 0 ||
	    (mp_number(t, ULLONG_MAX / 2, &x, &rest) && rest[0] == '\0' &&
		(x == 0 || x > 86400))) {
		cv_put(&a->want, CV_TIMEOUT, NULL, "86400");
		cannot(a, v, MP_TIMEOUT,
		    "popfetch always has a timeout; its longest, 86400 s, is used");
	} else if (mp_number(t, 86400, &x, &rest) && rest[0] == '\0')
		cv_put(&a->want, CV_TIMEOUT, NULL, cv_num(b, x));
	else
		cannot(a, v, MP_TIMEOUT, "not a number of seconds");
	cv_put(&a->want, CV_KEEP, NULL, keep ? "on" : "off");
	if (onoff(v->val[MP_ONLY_NEW]) == 0)
		cv_put(&a->want, CV_ALL, NULL, "on");
	if (onoff(v->val[MP_RECEIVED_HEADER]) == 0)
		cv_put(&a->want, CV_NO_RECEIVED, NULL, "on");
	hk = v->val[MP_KILLSIZE] != NULL &&
	    strcmp(v->val[MP_KILLSIZE], "off") != 0;
	hs = v->val[MP_SKIPSIZE] != NULL &&
	    strcmp(v->val[MP_SKIPSIZE], "off") != 0;
	if (hk && !mp_size(v->val[MP_KILLSIZE], &kill)) {
		cannot(a, v, MP_KILLSIZE, "not a size");
		hk = false;
	}
	if (hs && !mp_size(v->val[MP_SKIPSIZE], &skip)) {
		cannot(a, v, MP_SKIPSIZE, "not a size");
		hs = false;
	}
	if (hk && keep && kill == 0) {
		cannot(a, v, MP_KILLSIZE,
		    "with keep it marks every message as seen; popfetch --import-state does that");
		hk = false;
	} else if (hk && keep) {
		cv_note(&a->notes,
		    "line %d: killsize with keep only skips in mpop: written as max_size (popfetch's kill_size deletes even with keep)",
		    v->line[MP_KILLSIZE]);
		if (!hs || kill < skip)
			skip = kill;
		hs = true;
		hk = false;
	}
	if (hk)
		cv_put(&a->want, CV_KILL_SIZE, NULL, cv_num(b, kill));
	if (hs)
		cv_put(&a->want, CV_MAX_SIZE, NULL, cv_num(b, skip));
}

/* Where mpop keeps this account's UIDs, for the import hint. */
static void
import_hint(struct cv_account *a, const struct mp_view *v)
{
	const char *f = v->val[MP_UIDLS_FILE], *u = v->val[MP_USER];
	const char *h = v->val[MP_HOST];
	char out[600];
	size_t o = 0;

	if (f == NULL)
		f = "~/.mpop_uidls/%U_at_%H";
	for (; *f != '\0' && o + 1 < sizeof(out); f++) {
		const char *s = NULL;

		if (f[0] == '%' && f[1] == 'U')
			s = u != NULL ? u : "";
		else if (f[0] == '%' && f[1] == 'H')
			s = h != NULL ? h : "";
		if (s == NULL) {
			out[o++] = *f;
			continue;
		}
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%.200s", s);
		if (o >= sizeof(out))
			o = sizeof(out) - 1;
		f++;
	}
	out[o] = '\0';
	cv_note(&a->notes,
	    "mpop's seen messages: popfetch --import-state=mpop:%s %s", out,
	    a->name);
}

/* Describe mpop account i as popfetch settings. */
static void
translate(const struct mp_file *f, size_t i, struct cv_account *a)
{
	struct mp_view v;

	resolve(f, i, &v);
	tr_connection(a, &v);
	tr_reach(a, &v);
	tr_auth(a, &v);
	tr_delivery(a, &v);
	tr_policy(a, &v);
	tr_unmapped(a, &v);
	import_hint(a, &v);
}

/* Are two resolved mpop accounts the same? */
static bool
same_settings(const struct mp_file *f, size_t i, size_t j)
{
	struct mp_view a, b;
	int c;

	resolve(f, i, &a);
	resolve(f, j, &b);
	for (c = 0; c < MP_N; c++)
		if ((a.val[c] == NULL) != (b.val[c] == NULL) ||
		    (a.val[c] != NULL && strcmp(a.val[c], b.val[c]) != 0))
			return false;
	return true;
}

/*
 * mpop fetches the account named "default" when run without one. Made
 * only of "account default : X", it becomes "default X"; otherwise it
 * stays an account, and the default.
 */
static void
set_default(struct mp_file *f, struct cv_doc *d)
{
	int i = acc_find(f, "default");
	const struct mp_acc *a;

	if (i < 0) {
		cv_note(&d->head,
		    "mpop has no account 'default'; popfetch fetches the first account when none is named");
		return;
	}
	a = &f->acc[i];
	if (a->nparents == 1 && !a->own &&
	    same_settings(f, (size_t)i, (size_t)a->parents[0])) {
		d->acc[i].dropped = true;
		cv_notes_clear(&d->acc[i].notes);
		cv_note(&d->acc[i].notes,
		    "line %d: mpop's 'account default : %s' is written as 'default %s' below",
		    a->line, f->acc[a->parents[0]].name,
		    d->acc[a->parents[0]].name);
		d->default_name = xstrdup(d->acc[a->parents[0]].name);
	} else {
		/* popfetch keeps the name "default" for the "default NAME"
		 * line, so the account gets another one */
		char *name = xstrdup("mpop-default");
		size_t k, n = 1;

		for (k = 0; k < d->nacc; k++)
			if (strcmp(d->acc[k].name, name) == 0) {
				free(name);
				name = xasprintf("mpop-default-%zu", ++n);
				k = (size_t)-1;
			}
		cv_note(&d->acc[i].notes,
		    "line %d: mpop's account 'default' is named '%s' here, since popfetch keeps 'default' for the line that names the default account",
		    a->line, name);
		free(d->acc[i].name);
		d->acc[i].name = name;
		d->default_name = xstrdup(name);
	}
}

int
cv_mpop(struct cv_doc *d, const char *data, size_t len, struct pf_err *err)
{
	struct mp_file f;
	size_t i;
	int r;

	memset(&f, 0, sizeof(f));
	f.name = d->file;
	f.cur_notes = &d->head;
	r = read_lines(&f, d, data, len, err);
	if (r == 0) {
		for (i = 0; i < f.nacc; i++) {
			struct cv_account *a = &d->acc[i];

			translate(&f, i, a);
			if (f.acc[i].nparents > 0)
				a->parent = f.acc[i].parents[0];
			if (f.acc[i].nparents > 1) {
				cv_note(&a->notes,
				    "mpop inherits from %d accounts; popfetch takes one parent, so what the others give is written out here",
				    f.acc[i].nparents);
			}
		}
		set_default(&f, d);
	}
	for (i = 0; i < f.nacc; i++) {
		free(f.acc[i].name);
		map_free(&f.acc[i].snap);
		map_free(&f.acc[i].mask);
	}
	free(f.acc);
	map_free(&f.defaults);
	return r;
}
