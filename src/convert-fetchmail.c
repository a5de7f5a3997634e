/*
 * convert-fetchmail.c: read a fetchmail 6.4 run control file
 * (~/.fetchmailrc) and describe each poll entry's users as popfetch
 * accounts.
 *
 * The tokenizer follows fetchmail's lexer: '#' comments, noise words (and
 * with has wants options) and the punctuation ; : , are skipped; strings
 * are "..." or '...' (no escaped quotes inside) or bare words, with
 * fetchmail's backslash escapes; the word after user, pass, is, to or '='
 * is always a string. Keywords are case-sensitive. An entry is
 * "poll|skip|server NAME" or "defaults", its server options, then user
 * descriptions and their options; an entry's settings are those of the
 * defaults entry, then its server options, then the user's options.
 */
#include <ctype.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "popfetch/conn.h"
#include "popfetch/err.h"
#include "popfetch/xmalloc.h"
#include "compat.h"
#include "convert-private.h"

#define FM_TIMEOUT_DEFAULT "300"
#define FM_TOKENS_MAX	   1000000

/* Keywords. Options have an id below K_NOPTS; values are kept per id. */
enum fm_kw {
	/* server options */
	K_VIA,
	K_AKA,
	K_LOCALDOMAINS,
	K_PROTOCOL,
	K_SERVICE,
	K_INTERVAL,
	K_AUTH,
	K_TIMEOUT,
	K_ENVELOPE,
	K_QVIRTUAL,
	K_PRINCIPAL,
	K_ESMTPNAME,
	K_ESMTPPASSWORD,
	K_INTERFACE,
	K_MONITOR,
	K_PLUGIN,
	K_PLUGOUT,
	K_DNS,
	K_CHECKALIAS,
	K_UIDL,
	K_TRACEPOLLS,
	K_BADHEADER,
	/* user options */
	K_PASS,
	K_FOLDER,
	K_SMTPHOST,
	K_FETCHDOMAINS,
	K_SMTPADDRESS,
	K_SMTPNAME,
	K_ANTISPAM,
	K_MDA,
	K_BSMTP,
	K_LMTP,
	K_PRECONNECT,
	K_POSTCONNECT,
	K_KEEP,
	K_FLUSH,
	K_LIMITFLUSH,
	K_FETCHALL,
	K_REWRITE,
	K_FORCECR,
	K_STRIPCR,
	K_PASS8BITS,
	K_DROPSTATUS,
	K_DROPDELIVERED,
	K_MIMEDECODE,
	K_IDLE,
	K_SSL,
	K_SSLKEY,
	K_SSLCERT,
	K_SSLPROTO,
	K_SSLCERTCK,
	K_SSLCERTFILE,
	K_SSLCERTPATH,
	K_SSLCOMMONNAME,
	K_SSLFINGERPRINT,
	K_LIMIT,
	K_WARNINGS,
	K_FETCHLIMIT,
	K_FETCHSIZELIMIT,
	K_FASTUIDL,
	K_BATCHLIMIT,
	K_EXPUNGE,
	K_PROPERTIES,
	K_NOPTS,
	/* structure */
	K_SET = K_NOPTS,
	K_DEFAULTS,
	K_POLL,
	K_SKIP,
	K_USER,
	K_IS,
	K_TO,
	K_HERE,
	K_THERE,
	K_NO,
	K_PORT,
	K_AUTHTYPE,
	K_PROTO,
	K_ACCEPT,
	K_REJECT,
	/* global (after set) */
	K_LOGFILE,
	K_IDFILE,
	K_PIDFILE,
	K_DAEMON,
	K_SYSLOG,
	K_INVISIBLE,
	K_SHOWDOTS,
	K_POSTMASTER,
	K_BOUNCEMAIL,
	K_SPAMBOUNCE,
	K_SOFTBOUNCE,
};

/* What follows an option. */
enum fm_arg {
	A_NONE,	   /* a flag; "no" turns it off */
	A_STR,	   /* one string */
	A_NUM,	   /* one number */
	A_LIST,	   /* one or more strings */
	A_NUMLIST, /* one or more numbers */
	A_PROTO,   /* a protocol name */
	A_SERVICE, /* a number or a service name */
	A_AUTH,	   /* an authentication type */
	A_ENV,	   /* [number] string */
	A_BADHDR,  /* accept or reject */
	A_OTHER,
};

struct fm_kwdef {
	const char *word;
	enum fm_kw id;
	enum fm_arg arg;
};

static const struct fm_kwdef kwdefs[] = {
    {"via", K_VIA, A_STR},
    {"aka", K_AKA, A_LIST},
    {"local", K_LOCALDOMAINS, A_LIST},
    {"localdomains", K_LOCALDOMAINS, A_LIST},
    {"proto", K_PROTOCOL, A_PROTO},
    {"protocol", K_PROTOCOL, A_PROTO},
    {"service", K_SERVICE, A_SERVICE},
    {"port", K_PORT, A_NUM},
    {"interval", K_INTERVAL, A_NUM},
    {"auth", K_AUTH, A_AUTH},
    {"authenticate", K_AUTH, A_AUTH},
    {"preauth", K_AUTH, A_AUTH},
    {"preauthenticate", K_AUTH, A_AUTH},
    {"timeout", K_TIMEOUT, A_NUM},
    {"envelope", K_ENVELOPE, A_ENV},
    {"qvirtual", K_QVIRTUAL, A_STR},
    {"principal", K_PRINCIPAL, A_STR},
    {"esmtpname", K_ESMTPNAME, A_STR},
    {"esmtppassword", K_ESMTPPASSWORD, A_STR},
    {"interface", K_INTERFACE, A_STR},
    {"monitor", K_MONITOR, A_STR},
    {"plugin", K_PLUGIN, A_STR},
    {"plugout", K_PLUGOUT, A_STR},
    {"dns", K_DNS, A_NONE},
    {"checkalias", K_CHECKALIAS, A_NONE},
    {"uidl", K_UIDL, A_NONE},
    {"tracepolls", K_TRACEPOLLS, A_NONE},
    {"bad-header", K_BADHEADER, A_BADHDR},
    {"pass", K_PASS, A_STR},
    {"password", K_PASS, A_STR},
    {"folder", K_FOLDER, A_LIST},
    {"folders", K_FOLDER, A_LIST},
    {"smtp", K_SMTPHOST, A_LIST},
    {"smtphost", K_SMTPHOST, A_LIST},
    {"fetchdomains", K_FETCHDOMAINS, A_LIST},
    {"smtpaddress", K_SMTPADDRESS, A_STR},
    {"smtpname", K_SMTPNAME, A_STR},
    {"antispam", K_ANTISPAM, A_NUMLIST},
    {"mda", K_MDA, A_STR},
    {"bsmtp", K_BSMTP, A_STR},
    {"lmtp", K_LMTP, A_NONE},
    {"pre", K_PRECONNECT, A_STR},
    {"preconnect", K_PRECONNECT, A_STR},
    {"post", K_POSTCONNECT, A_STR},
    {"postconnect", K_POSTCONNECT, A_STR},
    {"keep", K_KEEP, A_NONE},
    {"flush", K_FLUSH, A_NONE},
    {"limitflush", K_LIMITFLUSH, A_NONE},
    {"fetchall", K_FETCHALL, A_NONE},
    {"rewrite", K_REWRITE, A_NONE},
    {"forcecr", K_FORCECR, A_NONE},
    {"stripcr", K_STRIPCR, A_NONE},
    {"pass8", K_PASS8BITS, A_NONE},
    {"pass8bits", K_PASS8BITS, A_NONE},
    {"dropstatus", K_DROPSTATUS, A_NONE},
    {"dropdelivered", K_DROPDELIVERED, A_NONE},
    {"mimedec", K_MIMEDECODE, A_NONE},
    {"mimedecode", K_MIMEDECODE, A_NONE},
    {"idle", K_IDLE, A_NONE},
    {"forceidle", K_IDLE, A_NONE},
    {"ssl", K_SSL, A_NONE},
    {"sslkey", K_SSLKEY, A_STR},
    {"sslcert", K_SSLCERT, A_STR},
    {"sslproto", K_SSLPROTO, A_STR},
    {"sslcertck", K_SSLCERTCK, A_NONE},
    {"sslcertfile", K_SSLCERTFILE, A_STR},
    {"sslcertpath", K_SSLCERTPATH, A_STR},
    {"sslcommonname", K_SSLCOMMONNAME, A_STR},
    {"sslfingerprint", K_SSLFINGERPRINT, A_STR},
    {"limit", K_LIMIT, A_NUM},
    {"warnings", K_WARNINGS, A_NUM},
    {"fetchlimit", K_FETCHLIMIT, A_NUM},
    {"fetchsizelimit", K_FETCHSIZELIMIT, A_NUM},
    {"fastuidl", K_FASTUIDL, A_NUM},
    {"batchlimit", K_BATCHLIMIT, A_NUM},
    {"expunge", K_EXPUNGE, A_NUM},
    {"properties", K_PROPERTIES, A_STR},
    {"set", K_SET, A_OTHER},
    {"defaults", K_DEFAULTS, A_OTHER},
    {"poll", K_POLL, A_OTHER},
    {"server", K_POLL, A_OTHER},
    {"skip", K_SKIP, A_OTHER},
    {"user", K_USER, A_OTHER},
    {"username", K_USER, A_OTHER},
    {"is", K_IS, A_OTHER},
    {"to", K_TO, A_OTHER},
    {"here", K_HERE, A_OTHER},
    {"there", K_THERE, A_OTHER},
    {"no", K_NO, A_OTHER},
    {"accept", K_ACCEPT, A_OTHER},
    {"reject", K_REJECT, A_OTHER},
    {"logfile", K_LOGFILE, A_STR},
    {"idfile", K_IDFILE, A_STR},
    {"pidfile", K_PIDFILE, A_STR},
    {"daemon", K_DAEMON, A_NUM},
    {"syslog", K_SYSLOG, A_NONE},
    {"invisible", K_INVISIBLE, A_NONE},
    {"showdots", K_SHOWDOTS, A_NONE},
    {"postmaster", K_POSTMASTER, A_STR},
    {"bouncemail", K_BOUNCEMAIL, A_NONE},
    {"spambounce", K_SPAMBOUNCE, A_NONE},
    {"softbounce", K_SOFTBOUNCE, A_NONE},
    {"any", K_AUTHTYPE, A_OTHER},
    {"gssapi", K_AUTHTYPE, A_OTHER},
    {"kerberos", K_AUTHTYPE, A_OTHER},
    {"kerberos4", K_AUTHTYPE, A_OTHER},
    {"kerberos_v4", K_AUTHTYPE, A_OTHER},
    {"kerberos5", K_AUTHTYPE, A_OTHER},
    {"kerberos_v5", K_AUTHTYPE, A_OTHER},
    {"ssh", K_AUTHTYPE, A_OTHER},
    {"implicit", K_AUTHTYPE, A_OTHER},
    {"external", K_AUTHTYPE, A_OTHER},
    {"otp", K_AUTHTYPE, A_OTHER},
    {"opie", K_AUTHTYPE, A_OTHER},
    {"cram", K_AUTHTYPE, A_OTHER},
    {"cram-md5", K_AUTHTYPE, A_OTHER},
    {"msn", K_AUTHTYPE, A_OTHER},
    {"ntlm", K_AUTHTYPE, A_OTHER},
    {"auto", K_PROTO, A_OTHER},
    {"AUTO", K_PROTO, A_OTHER},
    {"pop2", K_PROTO, A_OTHER},
    {"POP2", K_PROTO, A_OTHER},
    {"pop3", K_PROTO, A_OTHER},
    {"POP3", K_PROTO, A_OTHER},
    {"imap", K_PROTO, A_OTHER},
    {"IMAP", K_PROTO, A_OTHER},
    {"apop", K_PROTO, A_OTHER},
    {"APOP", K_PROTO, A_OTHER},
    {"rpop", K_PROTO, A_OTHER},
    {"RPOP", K_PROTO, A_OTHER},
    {"etrn", K_PROTO, A_OTHER},
    {"ETRN", K_PROTO, A_OTHER},
    {"odmr", K_PROTO, A_OTHER},
    {"ODMR", K_PROTO, A_OTHER},
    {"kpop", K_PROTO, A_OTHER},
    {"KPOP", K_PROTO, A_OTHER},
    {"sdps", K_PROTO, A_OTHER},
    {"SDPS", K_PROTO, A_OTHER},
};

/* Words fetchmail also accepts glued to "no" (nokeep = no keep). */
static const char *const no_glued[] = {"bouncemail", "uidl", "checkalias",
    "dns", "envelope", "keep", "flush", "limitflush", "fetchall", "rewrite",
    "forcecr", "stripcr", "pass8", "pass8bits", "dropstatus", "dropdelivered",
    "mimedec", "mimedecode", "spambounce", "idle", "forceidle", NULL};

enum fm_tt {
	FT_END,
	FT_KW,
	FT_STR,
	FT_NUM,
	FT_MAP,
};

struct fm_tok {
	enum fm_tt t;
	int kw;	 /* FT_KW: enum fm_kw */
	char *s; /* the text (strings unescaped) */
	int line;
};

/* Options as set by one entry or user: value and line (0 = unset). */
struct fm_map {
	char *val[K_NOPTS];
	int line[K_NOPTS];
};

struct fm_user {
	struct fm_map m;
	char *remote; /* or NULL */
	int line;
	char *local; /* the local names, ' '-separated, or NULL */
	bool multidrop;
};

struct fm_entry {
	char *pollname;
	int line;
	bool skip;
	struct fm_map server;
	struct fm_user *users;
	size_t nusers;
	struct cv_notes notes; /* about its words */
};

/* The parser's state. */
struct fm_parse {
	const char *file;
	struct fm_tok *tok;
	size_t ntok, pos;
	struct fm_entry defaults;
	bool have_defaults;
	struct fm_entry *ent;
	size_t nent;
	struct cv_doc *doc;
	struct cv_notes *notes; /* of the entry being read */
	bool invisible;
	char *idfile;
};

/* Look a word up among the keywords. */
static const struct fm_kwdef *
kw_find(const char *w)
{
	size_t i;

	for (i = 0; i < sizeof(kwdefs) / sizeof(kwdefs[0]); i++)
		if (strcmp(kwdefs[i].word, w) == 0)
			return &kwdefs[i];
	return NULL;
}

/* fetchmail's escapes(): \n \t \b \r \\, \xHH, \0ooo, \ddd, \<LF>. */
static char *
unescape(const char *s, size_t n)
{
	char *r = xmalloc(n + 1), *o = r;
	const char *end = s + n;
	int v, k;

	while (s < end) {
		if (*s != '\\' || s + 1 == end) {
			*o++ = *s++;
			continue;
		}
		s++;
		v = 0;
		k = 0;
		if (*s == 'x' || *s == 'X') {
			for (s++;
			     s < end && k < 2 && isxdigit((unsigned char)*s);
			     s++, k++)
				v = v * 16 +
				    (isdigit((unsigned char)*s)
					    ? *s - '0'
					    : (tolower((unsigned char)*s) -
						  'a' + 10));
		} else if (*s >= '0' && *s <= '9') {
			int base = *s == '0' ? 8 : 10;

			for (; s < end && k < 3 && *s >= '0' &&
			     *s <= (base == 8 ? '7' : '9');
			     s++, k++)
				v = v * base + (*s - '0');
		} else if (*s == '\n') {
			s++;
			continue;
		} else {
			v = *s == 'n'	? '\n'
			    : *s == 't' ? '\t'
			    : *s == 'b' ? '\b'
			    : *s == 'r' ? '\r'
					: (unsigned char)*s;
			s++;
		}
		if (v == 0)
			break;
		*o++ = (char)v;
	}
	*o = '\0';
	return r;
}

/* Add a token. */
static void
tok_add(struct fm_parse *p, enum fm_tt t, int kw, char *s, int line)
{
	p->tok = xreallocarray(p->tok, p->ntok + 1, sizeof(*p->tok));
	p->tok[p->ntok].t = t;
	p->tok[p->ntok].kw = kw;
	p->tok[p->ntok].s = s;
	p->tok[p->ntok].line = line;
	p->ntok++;
}

/* Is the whole word an optional '-' and digits? */
static bool
is_number(const char *w, size_t n)
{
	size_t i = w[0] == '-' ? 1 : 0;

	if (i == n)
		return false;
	for (; i < n; i++)
		if (!isdigit((unsigned char)w[i]))
			return false;
	return true;
}

/* One bare word: a keyword, a number or a string. */
static void
lex_word(struct fm_parse *p, const char *w, size_t n, int line, int *state)
{
	const struct fm_kwdef *k;
	char *s = xstrndup(w, n);
	size_t i;

	if (*state == 1) { /* after user, pass, is, to, = */
		*state = 0;
		tok_add(p, FT_STR, 0, unescape(w, n), line);
		explicit_bzero(s, n);
		free(s);
		return;
	}
	if (*state == 2 && strcmp(s, "password") == 0) { /* after auth */
		*state = 0;
		tok_add(p, FT_KW, K_AUTHTYPE, s, line);
		return;
	}
	*state = 0;
	if (is_number(w, n)) {
		tok_add(p, FT_NUM, 0, s, line);
		return;
	}
	if (strcmp(s, "with") == 0 || strcmp(s, "and") == 0 ||
	    strcmp(s, "has") == 0 || strcmp(s, "wants") == 0 ||
	    strcmp(s, "options") == 0) {
		explicit_bzero(s, n);
		free(s);
		return;
	}
	for (i = 0; n > 2 && strncmp(s, "no", 2) == 0 && no_glued[i] != NULL;
	     i++)
		if (strcmp(s + 2, no_glued[i]) == 0) {
			tok_add(p, FT_KW, K_NO, xstrdup("no"), line);
			memmove(s, s + 2, n - 1);
			break;
		}
	if ((k = kw_find(s)) == NULL) {
		explicit_bzero(s, n);
		free(s);
		tok_add(p, FT_STR, 0, unescape(w, n), line);
		return;
	}
	tok_add(p, FT_KW, (int)k->id, s, line);
	if (k->id == K_USER || k->id == K_PASS || k->id == K_IS ||
	    k->id == K_TO)
		*state = 1;
	else if (k->id == K_AUTH)
		*state = 2;
}

/* Split the file into tokens. */
static int
lex(struct fm_parse *p, const char *d, size_t len, struct pf_err *err)
{
	size_t i = 0, j;
	int line = 1, state = 0, start;

	while (i < len && p->ntok < FM_TOKENS_MAX) {
		char c = d[i];

		if (c == '\n')
			line++;
		if (strchr(" \t\r\n;:,", c) != NULL || c == '\0' ||
		    (c == '\\' && i + 1 < len && d[i + 1] == '\n')) {
			i++;
			continue;
		}
		if (c == '#') {
			while (i < len && d[i] != '\n')
				i++;
			continue;
		}
		if (c == '"' || c == '\'') {
			for (j = i + 1; j < len && d[j] != c; j++)
				;
			if (j == len)
				return pf_err_set(err, PF_ECONFIG,
				    "%s:%d: unterminated quoted string (fetchmail refuses it too)",
				    p->file, line);
			start = line;
			for (size_t k = i + 1; k < j; k++)
				line += d[k] == '\n';
			tok_add(p, FT_STR, 0, unescape(d + i + 1, j - i - 1),
			    start);
			state = 0;
			i = j + 1;
			continue;
		}
		if (c == '=') {
			tok_add(p, FT_MAP, 0, xstrdup("="), line);
			state = 1;
			i++;
			continue;
		}
		for (j = i; j < len && d[j] != '\0' &&
		     strchr("=;:, \t\r\n", d[j]) == NULL;
		     j++)
			;
		lex_word(p, d + i, j - i, line, &state);
		i = j;
	}
	if (p->ntok >= FM_TOKENS_MAX)
		return pf_err_set(
		    err, PF_ECONFIG, "%s: too many words", p->file);
	tok_add(p, FT_END, 0, xstrdup("end of file"), line);
	return 0;
}

/* The current token, and the one after it. */
static const struct fm_tok *
cur(const struct fm_parse *p)
{
	return &p->tok[p->pos < p->ntok ? p->pos : p->ntok - 1];
}

static const struct fm_tok *
peek(const struct fm_parse *p)
{
	return &p->tok[p->pos + 1 < p->ntok ? p->pos + 1 : p->pos];
}

/* Is the token a string (or a number used as one)? */
static bool
is_str(const struct fm_tok *t)
{
	return t->t == FT_STR || t->t == FT_NUM;
}

/* Store an option value. */
static void
map_set(struct fm_map *m, int id, const char *v, int line)
{
	cv_setting_set(&m->val[id], &m->line[id], v, line,
	    id == K_PASS || id == K_ESMTPPASSWORD);
}

/* Free a map. */
static void
map_free(struct fm_map *m)
{
	int i;

	for (i = 0; i < K_NOPTS; i++)
		map_set(m, i, NULL, 0);
}

/* Join the strings (or numbers) that follow into one value. */
static char *
take_list(struct fm_parse *p, bool numbers)
{
	char *r = NULL, *t;

	while ((numbers ? cur(p)->t == FT_NUM : cur(p)->t == FT_STR)) {
		t = r == NULL ? xstrdup(cur(p)->s)
			      : xasprintf("%s %s", r, cur(p)->s);
		free(r);
		r = t;
		p->pos++;
	}
	return r;
}

/* Note a word where fetchmail expects something else; skip what follows. */
static void
stray(struct fm_parse *p, const char *what)
{
	const struct fm_tok *t = cur(p);
	int line = t->line, more = 0;
	bool show = t->t == FT_KW;

	if (t->t == FT_END) {
		cv_note(p->notes, "line %d: %s: the file ends here (ignored)",
		    line, what);
		return;
	}
	p->pos++;
	while (
	    cur(p)->t == FT_STR || cur(p)->t == FT_NUM || cur(p)->t == FT_MAP) {
		more++;
		p->pos++;
	}
	if (show)
		cv_note(p->notes, "line %d: %s '%.40s' (ignored)", line, what,
		    t->s);
	else
		cv_note(p->notes,
		    "line %d: %s: a word that is not a fetchmail keyword%s (ignored)",
		    line, what, more > 0 ? ", and the words after it" : "");
}

/* The value of option k (the token after the keyword). NULL: missing. */
static char *
option_value(struct fm_parse *p, const struct fm_kwdef *k)
{
	const struct fm_tok *t = cur(p);

	switch (k->arg) {
	case A_NONE:
		return xstrdup("on");
	case A_NUM:
		if (t->t != FT_NUM)
			return NULL;
		p->pos++;
		return xstrdup(t->s);
	case A_STR:
	case A_SERVICE:
		if (!is_str(t))
			return NULL;
		p->pos++;
		return xstrdup(t->s);
	case A_LIST:
		return take_list(p, false);
	case A_NUMLIST:
		return take_list(p, true);
	case A_PROTO:
	case A_AUTH:
		if (t->t != FT_KW && t->t != FT_STR)
			return NULL;
		p->pos++;
		return xstrdup(t->s);
	case A_ENV:
		if (t->t == FT_NUM && peek(p)->t == FT_STR)
			p->pos++;
		if (cur(p)->t != FT_STR)
			return NULL;
		p->pos++;
		return xstrdup(p->tok[p->pos - 1].s);
	case A_BADHDR:
		if (t->t != FT_KW || (t->kw != K_ACCEPT && t->kw != K_REJECT))
			return NULL;
		p->pos++;
		return xstrdup(t->s);
	case A_OTHER:
		break;
	}
	return NULL;
}

/* The definition of option id. */
static const struct fm_kwdef *
kw_of(int id)
{
	size_t i;

	for (i = 0; i < sizeof(kwdefs) / sizeof(kwdefs[0]); i++)
		if ((int)kwdefs[i].id == id)
			return &kwdefs[i];
	return NULL;
}

/* The keyword of id, for messages. */
static const char *
kw_word(int id)
{
	const struct fm_kwdef *k = kw_of(id);

	return k != NULL ? k->word : "?";
}

/* Is option id a server option (else a user option)? */
static bool
server_option(int id)
{
	return id < K_PASS || id == K_PORT;
}

/* Read "[no] OPTION [value]" into m. The keyword is the current token. */
static void
read_option(struct fm_parse *p, struct fm_map *m, bool no)
{
	const struct fm_tok *t = cur(p);
	const struct fm_kwdef *k = kw_of(t->kw);
	int id = t->kw == K_PORT ? K_SERVICE : t->kw, line = t->line;
	char *v;

	if (k == NULL) {
		stray(p, "unexpected keyword");
		return;
	}
	if (no && k->arg != A_NONE && id != K_ENVELOPE) {
		stray(p, "'no' before");
		return;
	}
	p->pos++;
	if (no) {
		map_set(m, id, "off", line);
		return;
	}
	if ((v = option_value(p, k)) == NULL) {
		cv_note(p->notes,
		    "line %d: %s: its value is missing or of the wrong kind (ignored; fetchmail refuses it)",
		    line, k->word);
		return;
	}
	map_set(m, id, v, line);
	if (id == K_PASS || id == K_ESMTPPASSWORD)
		explicit_bzero(v, strlen(v));
	free(v);
}

/* The names after user, is or to: "NAME" or "NAME=NAME", joined. */
static size_t
take_names(struct fm_parse *p, char **joined, bool *multi)
{
	size_t n = 0;
	char *t;

	*joined = NULL;
	while (is_str(cur(p))) {
		const char *s = cur(p)->s;

		p->pos++;
		if (strcmp(s, "*") == 0)
			*multi = true;
		if (cur(p)->t == FT_MAP && is_str(peek(p))) {
			*multi = true;
			p->pos += 2;
		}
		t = *joined == NULL ? xstrdup(s)
				    : xasprintf("%s %s", *joined, s);
		free(*joined);
		*joined = t;
		n++;
	}
	if (n > 1)
		*multi = true;
	return n;
}

/* A new user of entry e; returns its index. */
static size_t
new_user(struct fm_entry *e, int line)
{
	e->users = xreallocarray(e->users, e->nusers + 1, sizeof(*e->users));
	memset(&e->users[e->nusers], 0, sizeof(e->users[0]));
	e->users[e->nusers].line = line;
	return e->nusers++;
}

/* The first name of a joined list. */
static char *
first_name(const char *joined)
{
	const char *sp = strchr(joined, ' ');

	return sp != NULL ? xstrndup(joined, (size_t)(sp - joined))
			  : xstrdup(joined);
}

/* "user NAME [there]", "user NAMES here", "is|to NAMES [here]",
 * "is NAME there": remote and local names. */
static void
read_names(struct fm_parse *p, struct fm_user *u)
{
	const struct fm_tok *t = cur(p);
	bool is_user = t->kw == K_USER, multi = false;
	int line = t->line;
	char *names = NULL;
	size_t n;

	p->pos++;
	n = take_names(p, &names, &multi);
	if (n == 0) {
		cv_note(p->notes, "line %d: %s without a name (ignored)", line,
		    t->s);
		return;
	}
	if (cur(p)->t == FT_KW && cur(p)->kw == K_THERE && n == 1) {
		p->pos++;
		free(u->remote);
		u->remote = names;
		return;
	}
	if (is_user && !(cur(p)->t == FT_KW && cur(p)->kw == K_HERE)) {
		if (n > 1)
			cv_note(p->notes,
			    "line %d: user: several words without 'here'; the first is the user name, the others are ignored (fetchmail refuses this)",
			    line);
		free(u->remote);
		u->remote = first_name(names);
		free(names);
		return;
	}
	if (cur(p)->t == FT_KW && cur(p)->kw == K_HERE)
		p->pos++;
	free(u->local);
	u->local = names;
	u->multidrop = multi;
}

/* The options of one entry, up to the next entry or "set". */
static int
read_entry(struct fm_parse *p, struct fm_entry *e, struct pf_err *err)
{
	size_t ui = SIZE_MAX;
	bool no;

	for (;;) {
		const struct fm_tok *t = cur(p);

		if (t->t == FT_END ||
		    (t->t == FT_KW &&
			(t->kw == K_SET || t->kw == K_DEFAULTS ||
			    t->kw == K_POLL || t->kw == K_SKIP)))
			return 0;
		if (t->t != FT_KW) {
			stray(p, "unknown word");
			continue;
		}
		no = false;
		if (t->kw == K_NO && peek(p)->t == FT_KW &&
		    (peek(p)->kw < K_NOPTS)) {
			no = true;
			p->pos++;
			t = cur(p);
		}
		if (t->kw == K_USER)
			ui = new_user(e, t->line);
		if (t->kw == K_USER || t->kw == K_IS || t->kw == K_TO) {
			if (ui == SIZE_MAX)
				ui = new_user(e, t->line);
			read_names(p, &e->users[ui]);
		} else if ((t->kw < K_NOPTS || t->kw == K_PORT) &&
		    server_option(t->kw)) {
			if (e->nusers > 0)
				return pf_err_set(err, PF_ECONFIG,
				    "%s:%d: server option '%s' after the user options (fetchmail refuses it too)",
				    p->file, t->line, t->s);
			read_option(p, &e->server, no);
		} else if (t->kw < K_NOPTS) {
			if (ui == SIZE_MAX)
				ui = new_user(e, t->line);
			read_option(p, &e->users[ui].m, no);
		} else
			stray(p, "unexpected keyword");
	}
}

/*
 * fetchmail puts the rc file's directory in front of a path that does not
 * start with '/' (a leading '~' is not expanded either).
 */
static char *
rc_path(const char *file, const char *v)
{
	const char *slash = strrchr(file, '/');
	char cwd[4096];

	if (v[0] == '/')
		return xstrdup(v);
	if (file[0] != '/' && getcwd(cwd, sizeof(cwd)) != NULL) {
		if (slash == NULL)
			return xasprintf("%s/%s", cwd, v);
		return xasprintf(
		    "%s/%.*s/%s", cwd, (int)(slash - file), file, v);
	}
	if (slash == NULL)
		return xstrdup(v);
	return xasprintf("%.*s/%s", (int)(slash - file), file, v);
}

/* "set ..." statements: global options. */
static void
read_set(struct fm_parse *p)
{
	int line = cur(p)->line, id;
	bool no = false;
	const char *v = NULL;

	p->pos++;
	if (cur(p)->t == FT_KW && cur(p)->kw == K_NO) {
		no = true;
		p->pos++;
	}
	id = cur(p)->t == FT_KW ? cur(p)->kw : -1;
	if (id < K_LOGFILE && id != K_PROPERTIES) {
		stray(p, "set");
		return;
	}
	p->pos++;
	if (cur(p)->t == FT_MAP)
		p->pos++;
	if (id == K_LOGFILE || id == K_IDFILE || id == K_PIDFILE ||
	    id == K_POSTMASTER || id == K_PROPERTIES || id == K_DAEMON) {
		if (no || !is_str(cur(p))) {
			cv_note(&p->doc->head,
			    "line %d: set: a value is missing (ignored; fetchmail refuses it)",
			    line);
			return;
		}
		v = cur(p)->s;
		p->pos++;
	}
	switch (id) {
	case K_DAEMON:
		cv_note(&p->doc->head,
		    "line %d: set daemon %.20s: cannot map: put 'daemon %.20s' in the defaults block, or run popfetch --daemon=%.20s",
		    line, v, v, v);
		break;
	case K_LOGFILE:
		cv_note(&p->doc->head,
		    "line %d: set logfile: cannot map: popfetch logs to standard error, or to syslog with --syslog",
		    line);
		break;
	case K_IDFILE:
		free(p->idfile);
		p->idfile = rc_path(p->file, v);
		break;
	case K_SYSLOG:
		p->doc->syslog = !no; /* "syslog on" in the defaults block */
		break;
	case K_INVISIBLE:
		p->invisible = !no;
		break;
	case K_SHOWDOTS:
		cv_note(&p->doc->head,
		    "line %d: set showdots: popfetch shows progress with --progress",
		    line);
		break;
	default:
		cv_note(&p->doc->head,
		    "line %d: set %s%s: no equivalent (popfetch sends no bounces and has no pid file; an undeliverable message stays on the server)",
		    line, no ? "no " : "", kw_word(id));
	}
}

/* The entries of the file. */
static int
parse_all(struct fm_parse *p, struct pf_err *err)
{
	while (cur(p)->t != FT_END) {
		const struct fm_tok *t = cur(p);
		struct fm_entry *e;

		if (t->t == FT_KW && t->kw == K_SET) {
			read_set(p);
			continue;
		}
		if (t->t == FT_KW && t->kw == K_DEFAULTS) {
			if (p->nent > 0 || p->have_defaults)
				return pf_err_set(err, PF_ECONFIG,
				    "%s:%d: 'defaults' must be the first entry (fetchmail refuses it too)",
				    p->file, t->line);
			p->have_defaults = true;
			p->pos++;
			p->notes = &p->doc->defnotes;
			if (read_entry(p, &p->defaults, err) < 0)
				return -1;
			continue;
		}
		if (t->t != FT_KW || (t->kw != K_POLL && t->kw != K_SKIP)) {
			p->notes = &p->doc->head;
			stray(p, "outside of a poll entry");
			continue;
		}
		if (!is_str(peek(p)))
			return pf_err_set(err, PF_ECONFIG,
			    "%s:%d: %s needs a server name (fetchmail refuses it too)",
			    p->file, t->line, t->s);
		p->ent = xreallocarray(p->ent, p->nent + 1, sizeof(*p->ent));
		e = &p->ent[p->nent++];
		memset(e, 0, sizeof(*e));
		e->skip = t->kw == K_SKIP;
		e->line = t->line;
		e->pollname = xstrdup(peek(p)->s);
		p->pos += 2;
		p->notes = &e->notes;
		if (read_entry(p, e, err) < 0)
			return -1;
	}
	return 0;
}

/* The settings of one account: defaults, server, user (later wins). */
struct fm_view {
	const char *val[K_NOPTS];
	int line[K_NOPTS];
};

/* Overlay the options set in m onto v. */
static void
view_add(struct fm_view *v, const struct fm_map *m)
{
	int i;

	for (i = 0; i < K_NOPTS; i++)
		if (m->line[i] != 0) {
			v->val[i] = m->val[i];
			v->line[i] = m->line[i];
		}
}

/* Is option id set to on? */
static bool
on(const struct fm_view *v, int id)
{
	return v->val[id] != NULL && strcmp(v->val[id], "on") == 0;
}

/* Note an option popfetch cannot map; secret values are not shown. */
static void
cannot(struct cv_account *a, const struct fm_view *v, int id, const char *why)
{
	bool hide = id == K_PASS || id == K_ESMTPPASSWORD ||
	    strcmp(v->val[id], "on") == 0;
	bool off = strcmp(v->val[id], "off") == 0;

	cv_note(&a->notes, "line %d: %s%s%s%.60s: %s%s", v->line[id],
	    off ? "no " : "", kw_word(id), hide || off ? "" : " ",
	    hide || off ? "" : v->val[id],
	    strncmp(why, "cannot map yet", 14) == 0 ? "" : "cannot map: ", why);
}

/* Protocol: POP3 or APOP only. Returns false when not converted. */
static bool
tr_proto(struct cv_account *a, const struct fm_view *v, bool *apop)
{
	const char *pr = v->val[K_PROTOCOL];

	*apop = false;
	if (pr == NULL || strcasecmp(pr, "auto") == 0) {
		cv_note(&a->notes,
		    "protocol auto: fetchmail tries IMAP first; converted as POP3");
		return true;
	}
	if (strcasecmp(pr, "pop3") == 0)
		return true;
	if (strcasecmp(pr, "apop") == 0) {
		*apop = true;
		return true;
	}
	cv_note(&a->notes,
	    "line %d: protocol %.10s: cannot map: popfetch speaks POP3 (with APOP) only",
	    v->line[K_PROTOCOL], pr);
	a->dropped = true;
	return false;
}

/* sslproto: the lowest TLS version. */
static void
tr_sslproto(struct cv_account *a, const struct fm_view *v)
{
	const char *sp = v->val[K_SSLPROTO];

	if (sp == NULL || sp[0] == '\0' || strcasecmp(sp, "tls1.2+") == 0)
		return;
	if (strcasecmp(sp, "tls1.3+") == 0 || strcasecmp(sp, "tls1.3") == 0)
		cv_put(&a->want, CV_TLS_MIN, NULL, "1.3");
	if (strcasecmp(sp, "tls1.3") == 0 || strcasecmp(sp, "tls1.2") == 0)
		cannot(a, v, K_SSLPROTO,
		    "popfetch sets the lowest TLS version only; that version or newer is allowed");
	else if (strcasecmp(sp, "tls1.3+") != 0)
		cannot(a, v, K_SSLPROTO, "popfetch requires TLS 1.2 or newer");
}

/* Host, port, TLS and certificates. */
static void
tr_connection(struct cv_account *a, const struct fm_view *v,
    const struct fm_entry *e, const char *file)
{
	const char *svc = v->val[K_SERVICE], *sp = v->val[K_SSLPROTO];
	bool ssl = on(v, K_SSL),
	     certck = !(v->val[K_SSLCERTCK] != NULL &&
		 strcmp(v->val[K_SSLCERTCK], "off") == 0);
	char *path;

	cv_put_host(a, v->val[K_VIA] != NULL ? v->val[K_VIA] : e->pollname);
	if (svc != NULL && is_number(svc, strlen(svc)) && atoi(svc) > 0 &&
	    atoi(svc) <= 65535 && strlen(svc) <= 5)
		cv_put(&a->want, CV_PORT, NULL, svc);
	else if (svc != NULL && strcmp(svc, "pop3") == 0)
		cv_put(&a->want, CV_PORT, NULL, "110");
	else if (svc != NULL && strcmp(svc, "pop3s") == 0)
		cv_put(&a->want, CV_PORT, NULL, "995");
	else if (svc != NULL)
		cannot(a, v, K_SERVICE, "give the port number");
	if (!ssl && sp != NULL && sp[0] == '\0')
		cv_put(&a->want, CV_TLS, NULL, "off");
	else
		cv_put(&a->want, CV_TLS, NULL, ssl ? "on" : "starttls");
	if (!ssl && sp == NULL && !certck)
		cv_note(&a->notes,
		    "without ssl, sslproto and sslcertck fetchmail falls back to plain text when the server offers no STLS; popfetch's starttls never does");
	if (!certck)
		cv_put(&a->want, CV_INSECURE, NULL, "on");
	tr_sslproto(a, v);
	if (v->val[K_SSLCERTFILE] != NULL) {
		path = rc_path(file, v->val[K_SSLCERTFILE]);
		cv_put(&a->want, CV_CA_FILE, NULL, path);
		free(path);
	}
	if (v->val[K_SSLCERT] != NULL) {
		path = rc_path(file, v->val[K_SSLCERT]);
		cv_put(&a->want, CV_CERT, NULL, path);
		free(path);
	}
	if (v->val[K_SSLKEY] != NULL) {
		path = rc_path(file, v->val[K_SSLKEY]);
		cv_put(&a->want, CV_KEY, NULL, path);
		free(path);
	}
	if (v->val[K_SSLFINGERPRINT] != NULL)
		cannot(a, v, K_SSLFINGERPRINT,
		    "fetchmail's is an MD5 fingerprint; popfetch pins SHA-256 (popfetch --serverinfo shows it)");
	if (v->val[K_SSLCERTPATH] != NULL)
		cannot(a, v, K_SSLCERTPATH,
		    "popfetch takes a CA file (ca_file), not a directory");
	if (v->val[K_SSLCOMMONNAME] != NULL)
		cannot(a, v, K_SSLCOMMONNAME,
		    "popfetch checks the certificate against the host name it connects to");
}

/*
 * plugin CMD becomes tunnel CMD: %h and %p work the same, every other '%'
 * is doubled (popfetch reads %% as %). fetchmail splits the command at
 * blanks and runs it without a shell; popfetch runs it with /bin/sh -c.
 */
static void
tr_plugin(struct cv_account *a, const struct fm_view *v)
{
	const char *cmd = v->val[K_PLUGIN], *c;
	struct cv_out o = {NULL, 0, 0};
	struct pf_err err;
	char *x;

	if (cmd == NULL || cmd[0] == '\0')
		return;
	for (c = cmd; *c != '\0'; c++) {
		cv_out_add(&o, c, 1);
		if (*c == '%' && c[1] != 'h' && c[1] != 'p')
			cv_out_adds(&o, "%");
		else if (*c == '%')
			cv_out_add(&o, ++c, 1);
	}
	if ((x = conn_tunnel_command(o.p, "h", "1", &err)) == NULL) {
		cannot(a, v, K_PLUGIN, "not a command popfetch can run");
	} else {
		cv_put(&a->want, CV_TUNNEL, NULL, o.p);
		if (strpbrk(cmd, "'\"\\$`;|&<>()*?[]#~{}") != NULL)
			cv_note(&a->notes,
			    "line %d: plugin: fetchmail runs it without a shell; popfetch's tunnel runs it with /bin/sh -c: check its quotes and special characters",
			    v->line[K_PLUGIN]);
	}
	free(x);
	free(o.p);
}

/* User, password and the authentication type. */
static void
tr_auth(struct cv_account *a, const struct fm_view *v, const char *remote,
    bool apop)
{
	const char *au = v->val[K_AUTH];

	cv_put(&a->want, CV_USER, NULL, remote);
	if (v->val[K_PASS] != NULL)
		cv_put(&a->want, CV_PASSWORD, NULL, v->val[K_PASS]);
	if (au == NULL || strcmp(au, "any") == 0 || strcmp(au, "password") == 0)
		cv_put(&a->want, CV_AUTH, NULL,
		    apop			     ? "apop"
			: au != NULL && au[0] == 'p' ? "user"
						     : "auto");
	else if (strncmp(au, "cram", 4) == 0)
		cv_put(&a->want, CV_AUTH, NULL, "cram-md5");
	else
		cannot(a, v, K_AUTH,
		    "popfetch offers user, apop, plain, login, cram-md5, scram and OAuth; auto is used");
}

/* Delivery: the MDA, or a note for what popfetch cannot do yet. */
static void
tr_delivery(struct cv_account *a, const struct fm_view *v, const char *local,
    bool multidrop)
{
	const char *smtp = v->val[K_SMTPHOST];
	char *cmd;

	if (multidrop)
		cv_note(&a->notes,
		    "cannot map: multidrop (several local names, '*' or NAME=NAME after is/to): popfetch delivers a mailbox to one target");
	if (v->val[K_MDA] != NULL && v->val[K_MDA][0] != '\0') {
		cmd = cv_mda(v->val[K_MDA], local, &a->notes, v->line[K_MDA]);
		cv_put(&a->want, CV_DELIVERY, "mda", cmd);
		free(cmd);
		if (smtp != NULL)
			cannot(a, v, K_SMTPHOST,
			    "fetchmail ignores it too when mda is given");
	} else if (v->val[K_BSMTP] != NULL)
		cannot(a, v, K_BSMTP, "popfetch writes no BSMTP batches");
	else if (on(v, K_LMTP))
		cv_note(&a->notes,
		    "line %d: lmtp to %.60s: cannot map yet: LMTP delivery; write 'lmtp SOCKET' (or 'lmtp HOST:PORT') and 'recipient NAME' yourself",
		    v->line[K_LMTP], smtp != NULL ? smtp : "(no host)");
	else if (smtp != NULL)
		cannot(a, v, K_SMTPHOST,
		    "cannot map yet: SMTP forwarding; write 'smtp HOST[:PORT]' and 'recipient NAME' yourself");
	else
		cv_note(&a->notes,
		    "cannot map yet: fetchmail's default delivery, SMTP to localhost for %.40s; add: smtp localhost, recipient %.40s",
		    local, local);
}

/* A number fetchmail read; false when negative or over max. */
static bool
fm_num(const char *s, unsigned long long max, unsigned long long *out)
{
	unsigned long long v = 0;

	if (s == NULL || s[0] == '\0' || s[0] == '-')
		return false;
	for (; *s != '\0'; s++) {
		if (!isdigit((unsigned char)*s) ||
		    v > (max - (unsigned)(*s - '0')) / 10)
			return false;
		v = v * 10 + (unsigned)(*s - '0');
	}
	*out = v;
	return true;
}

/* Timeout, keep, fetchall, limits. */
static void
tr_policy(struct cv_account *a, const struct fm_view *v, bool invisible)
{
	unsigned long long x;
	char b[32];

	if (v->val[K_TIMEOUT] == NULL)
		cv_put(&a->want, CV_TIMEOUT, NULL, FM_TIMEOUT_DEFAULT);
	else if (!fm_num(v->val[K_TIMEOUT], 86400, &x) || x == 0) {
		cv_put(&a->want, CV_TIMEOUT, NULL, "86400");
		cannot(a, v, K_TIMEOUT,
		    "popfetch always has a timeout of 1 to 86400 s; 86400 is used");
	} else
		cv_put(&a->want, CV_TIMEOUT, NULL, cv_num(b, x));
	cv_put(&a->want, CV_KEEP, NULL, on(v, K_KEEP) ? "on" : "off");
	cv_put(&a->want, CV_ALL, NULL, on(v, K_FETCHALL) ? "on" : "off");
	if (invisible)
		cv_put(&a->want, CV_NO_RECEIVED, NULL, "on");
	if (v->val[K_LIMIT] != NULL &&
	    fm_num(v->val[K_LIMIT], ULLONG_MAX / 2, &x) && x > 0)
		cv_put(&a->want,
		    on(v, K_LIMITFLUSH) ? CV_KILL_SIZE : CV_MAX_SIZE, NULL,
		    cv_num(b, x));
	else if (v->val[K_LIMIT] != NULL && strcmp(v->val[K_LIMIT], "0") != 0)
		cannot(a, v, K_LIMIT, "not a size");
	else if (on(v, K_LIMITFLUSH))
		cannot(a, v, K_LIMITFLUSH, "it has no effect without limit");
	if (v->val[K_FETCHLIMIT] != NULL &&
	    fm_num(v->val[K_FETCHLIMIT], 100000000, &x) && x > 0)
		cv_put(&a->want, CV_LIMIT, NULL, cv_num(b, x));
	else if (v->val[K_FETCHLIMIT] != NULL &&
	    strcmp(v->val[K_FETCHLIMIT], "0") != 0)
		cannot(
		    a, v, K_FETCHLIMIT, "popfetch's limit is 1 to 100000000");
	if (on(v, K_FLUSH))
		cannot(a, v, K_FLUSH,
		    "popfetch deletes only messages it delivered (or, with keep, after delete_after days)");
}

/* Options with no popfetch equivalent: one note each. */
static void
tr_unmapped(struct cv_account *a, const struct fm_view *v)
{
	static const struct cv_unmapped t[] = {
	    {K_AKA, "multidrop only"},
	    {K_LOCALDOMAINS, "multidrop only"},
	    {K_ENVELOPE, "multidrop only"},
	    {K_QVIRTUAL, "multidrop only"},
	    {K_DNS, "multidrop only"},
	    {K_CHECKALIAS, "multidrop only"},
	    {K_INTERVAL, "every run polls every account it is given"},
	    {K_PRINCIPAL, "popfetch has no Kerberos"},
	    {K_ESMTPNAME, "popfetch sends no mail"},
	    {K_ESMTPPASSWORD, "popfetch sends no mail"},
	    {K_INTERFACE, "no equivalent"},
	    {K_MONITOR, "no equivalent"},
	    {K_PLUGOUT, "popfetch sends no mail"},
	    {K_TRACEPOLLS, "no equivalent"},
	    {K_BADHEADER, "popfetch delivers every message as received"},
	    {K_FOLDER, "POP3 has no folders"},
	    {K_FETCHDOMAINS, "multidrop only"},
	    {K_SMTPADDRESS, "popfetch sends no mail"},
	    {K_SMTPNAME, "popfetch sends no mail"},
	    {K_ANTISPAM, "popfetch sends no mail"},
	    {K_PRECONNECT, "run the command before popfetch"},
	    {K_POSTCONNECT, "run the command after popfetch"},
	    {K_REWRITE, "popfetch never rewrites headers"},
	    {K_FORCECR, "popfetch delivers with LF line ends"},
	    {K_STRIPCR, "popfetch delivers with LF line ends"},
	    {K_PASS8BITS, "popfetch sends no mail"},
	    {K_DROPSTATUS, "popfetch delivers every message as received"},
	    {K_DROPDELIVERED, "popfetch delivers every message as received"},
	    {K_MIMEDECODE, "popfetch delivers every message as received"},
	    {K_IDLE, "IMAP only"},
	    {K_WARNINGS, "popfetch skips large messages without warning mail"},
	    {K_FETCHSIZELIMIT, "popfetch lists every size at once"},
	    {K_FASTUIDL, "popfetch reads the whole UID list"},
	    {K_BATCHLIMIT, "popfetch sends no mail"},
	    {K_EXPUNGE, "popfetch commits its deletions in batches itself"},
	    {K_PROPERTIES, "ignored by fetchmail too"},
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (v->val[t[i].key] != NULL)
			cannot(a, v, t[i].key, t[i].why);
	if (v->val[K_UIDL] != NULL && strcmp(v->val[K_UIDL], "off") == 0)
		cannot(a, v, K_UIDL, "popfetch always uses UIDL");
}

/* Make the account for user ui of entry e (ui: SIZE_MAX for none). */
static void
build_one(
    struct fm_parse *p, const struct fm_entry *e, size_t ui, const char *login)
{
	const struct fm_user *u = ui != SIZE_MAX ? &e->users[ui] : NULL;
	const struct fm_user *du =
	    p->defaults.nusers > 0 ? &p->defaults.users[0] : NULL;
	const char *remote = NULL, *local = NULL;
	struct cv_account *a;
	struct fm_view v;
	char *name;
	bool apop, multi = false;
	size_t i;

	if (u != NULL && u->remote != NULL)
		remote = u->remote;
	else if (du != NULL && du->remote != NULL)
		remote = du->remote;
	if (u != NULL && u->local != NULL) {
		local = u->local;
		multi = u->multidrop;
	} else if (du != NULL && du->local != NULL) {
		local = du->local;
		multi = du->multidrop;
	}
	name = e->nusers > 1
	    ? xasprintf("%s-%s", e->pollname, remote != NULL ? remote : login)
	    : xstrdup(e->pollname);
	a = cv_account_new(p->doc, name);
	free(name);
	for (i = 0; i < e->notes.n; i++)
		cv_note(&a->notes, "%s", e->notes.v[i]);
	memset(&v, 0, sizeof(v));
	view_add(&v, &p->defaults.server);
	if (du != NULL)
		view_add(&v, &du->m);
	view_add(&v, &e->server);
	if (u != NULL)
		view_add(&v, &u->m);
	if (!tr_proto(a, &v, &apop))
		return;
	if (remote == NULL) {
		remote = login;
		cv_note(&a->notes,
		    "no user given: fetchmail logs in with your login name, %.40s",
		    login);
	}
	if (local == NULL)
		local = login;
	tr_connection(a, &v, e, p->file);
	tr_plugin(a, &v);
	tr_auth(a, &v, remote, apop);
	tr_delivery(a, &v, local, multi);
	tr_policy(a, &v, p->invisible);
	tr_unmapped(a, &v);
	if (e->skip)
		cv_note(&a->notes,
		    "line %d: skip: fetchmail polls it only when named; popfetch -a fetches it too",
		    e->line);
	cv_note(&a->notes,
	    "fetchmail's seen messages: popfetch --import-state=fetchmail:%.200s %s",
	    p->idfile != NULL ? p->idfile : "~/.fetchids", a->name);
}

/* Free the parser's data. */
static void
parse_free(struct fm_parse *p)
{
	size_t i, k;

	for (i = 0; i < p->ntok; i++) {
		explicit_bzero(p->tok[i].s, strlen(p->tok[i].s));
		free(p->tok[i].s);
	}
	free(p->tok);
	for (i = 0; i <= p->nent; i++) {
		struct fm_entry *e = i < p->nent ? &p->ent[i] : &p->defaults;

		for (k = 0; k < e->nusers; k++) {
			map_free(&e->users[k].m);
			free(e->users[k].remote);
			free(e->users[k].local);
		}
		free(e->users);
		map_free(&e->server);
		free(e->pollname);
		cv_notes_clear(&e->notes);
	}
	free(p->ent);
	free(p->idfile);
}

int
cv_fetchmail(struct cv_doc *d, const char *data, size_t len,
    const char *local_user, struct pf_err *err)
{
	struct fm_parse p;
	size_t i, k;
	int r;

	memset(&p, 0, sizeof(p));
	p.file = d->file;
	p.doc = d;
	p.notes = &d->head;
	r = lex(&p, data, len, err);
	if (r == 0)
		r = parse_all(&p, err);
	for (i = 0; r == 0 && i < p.nent; i++) {
		const struct fm_entry *e = &p.ent[i];

		if (e->nusers == 0)
			build_one(&p, e, SIZE_MAX, local_user);
		for (k = 0; k < e->nusers; k++)
			build_one(&p, e, k, local_user);
	}
	if (r == 0 && p.nent > 0)
		cv_note(&d->head,
		    "fetchmail polls every entry; popfetch fetches the first account, or all with -a");
	parse_free(&p);
	return r;
}
