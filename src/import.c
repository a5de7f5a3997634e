/*
 * import.c: the seen-message state of mpop, fetchmail and getmail6, read
 * strictly and applied to a popfetch account (see import.h for the file
 * formats). Every input is parsed completely before anything is applied.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "popfetch/config.h"
#include "popfetch/err.h"
#include "popfetch/fileio.h"
#include "popfetch/import.h"
#include "popfetch/log.h"
#include "popfetch/lock.h"
#include "popfetch/state.h"
#include "popfetch/xmalloc.h"
#include "compat.h"

#define LINE_MAX_BYTES 4096	 /* longer lines are not state files */
#define COUNT_MAX      100000000 /* UIDs announced by one mpop list */
#define NAME_SHOWN     80	 /* bytes of a user/host name in messages */

const char *const import_format_names[] = {
    "mpop", "fetchmail", "getmail", NULL};

/* An entry, kept until the whole input has been checked. */
struct ent {
	const char *user; /* in set->names */
	const char *host;
	char *uid;
	unsigned port;
	time_t time;
	unsigned long line;
	size_t file; /* index in set->files */
};

/* Everything read so far. */
struct set {
	struct ent *v;
	size_t n, cap;
	char **names; /* user and host strings, shared by entries */
	size_t nnames, capnames;
	char **files;
	size_t nfiles;
};

/* A cursor over the lines of one file in memory. */
struct lines {
	const char *p;
	size_t len, pos;
	unsigned long no; /* number of the current line */
	const char *file;
};

static int bad(struct pf_err *err, const struct lines *l, const char *fmt, ...)
    PF_PRINTF(3, 4);

/* Fail with "FILE:LINE: message" (PF_EDATA). Returns -1. */
static int
bad(struct pf_err *err, const struct lines *l, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (l->no == 0)
		return pf_err_set(err, PF_EDATA, "%s: %s", l->file, msg);
	return pf_err_set(err, PF_EDATA, "%s:%lu: %s", l->file, l->no, msg);
}

/* A name from a file, made printable for a message. */
static const char *
shown(char *buf, size_t bufsz, const char *s)
{
	size_t n = strlen(s);

	return pf_sanitize(buf, bufsz, s, n > NAME_SHOWN ? NAME_SHOWN : n);
}

/*
 * The next line, without its '\n', in *s and *n. Returns 1, 0 at the end
 * of the data, -1 when the last line lacks its newline (a torn write) or
 * a line is too long.
 */
static int
next_line(struct lines *l, const char **s, size_t *n, struct pf_err *err)
{
	const char *nl;

	if (l->pos >= l->len)
		return 0;
	l->no++;
	*s = l->p + l->pos;
	nl = memchr(*s, '\n', l->len - l->pos);
	if (nl == NULL)
		return bad(err, l,
		    "truncated line (the file does not end with a newline)");
	*n = (size_t)(nl - *s);
	l->pos += *n + 1;
	if (*n > LINE_MAX_BYTES)
		return bad(err, l, "line longer than %d bytes", LINE_MAX_BYTES);
	return 1;
}

/* RFC 1939: a UID is 1 to 70 characters from 0x21 to 0x7e. */
static int
check_uid(const struct lines *l, const char *s, size_t n, struct pf_err *err)
{
	size_t i;

	if (n == 0)
		return bad(err, l, "empty UID");
	if (n > IMPORT_UID_MAX)
		return bad(err, l,
		    "UID of %zu characters (RFC 1939 allows 1 to %d)", n,
		    IMPORT_UID_MAX);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x21 || c > 0x7e)
			return bad(err, l,
			    "byte 0x%02x in a UID (RFC 1939 allows printable ASCII only)",
			    c);
	}
	return 0;
}

/* User and host names: no control bytes, no NUL. */
static int
check_name(const struct lines *l, const char *what, const char *s, size_t n,
    struct pf_err *err)
{
	size_t i;

	if (n == 0)
		return bad(err, l, "empty %s", what);
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return bad(err, l, "control byte in the %s", what);
	return 0;
}

/* A shared copy of s[0..n): the last name is reused when it repeats. */
static const char *
set_name(struct set *set, const char *s, size_t n)
{
	size_t i;

	for (i = set->nnames; i > 0 && i + 2 > set->nnames; i--) {
		const char *c = set->names[i - 1];

		if (strlen(c) == n && memcmp(c, s, n) == 0)
			return c;
	}
	if (set->nnames == set->capnames) {
		set->capnames = set->capnames == 0 ? 16 : set->capnames * 2;
		set->names = xreallocarray(
		    set->names, set->capnames, sizeof(*set->names));
	}
	set->names[set->nnames] = xstrndup(s, n);
	return set->names[set->nnames++];
}

/* Remember one entry of the file being parsed (the last in set->files). */
static void
add_entry(struct set *set, const char *user, const char *host, unsigned port,
    const char *uid, size_t uidlen, time_t t, unsigned long line)
{
	struct ent *e;

	if (set->n == set->cap) {
		set->cap = set->cap == 0 ? 256 : set->cap * 2;
		set->v = xreallocarray(set->v, set->cap, sizeof(*set->v));
	}
	e = &set->v[set->n++];
	e->user = user;
	e->host = host;
	e->port = port;
	e->uid = xstrndup(uid, uidlen);
	e->time = t;
	e->line = line;
	e->file = set->nfiles - 1;
}

/* Free everything the set holds. */
static void
set_free(struct set *set)
{
	size_t i;

	for (i = 0; i < set->n; i++)
		free(set->v[i].uid);
	for (i = 0; i < set->nnames; i++)
		free(set->names[i]);
	for (i = 0; i < set->nfiles; i++)
		free(set->files[i]);
	free(set->v);
	free(set->names);
	free(set->files);
	memset(set, 0, sizeof(*set));
}

/* Parse an unsigned decimal of at most maxdigits digits, whole string. */
static bool
parse_dec(const char *s, size_t n, size_t maxdigits, unsigned long long *out)
{
	unsigned long long v = 0;
	size_t i;

	if (n == 0 || n > maxdigits)
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return true;
}

/* mpop: " COUNT HOST USER" starts a list of COUNT UIDs. */
static int
mpop_header(struct set *set, const struct lines *l, const char *s, size_t n,
    unsigned long *want, const char **host, const char **user,
    struct pf_err *err)
{
	const char *p, *end = s + n, *sp;
	unsigned long long count;

	if (n == 0 || s[0] != ' ')
		return bad(err, l,
		    "expected ' COUNT HOST USER' to start a list of UIDs");
	p = s + 1;
	sp = memchr(p, ' ', (size_t)(end - p));
	if (sp == NULL || !parse_dec(p, (size_t)(sp - p), 9, &count) ||
	    count == 0 || count > COUNT_MAX)
		return bad(err, l, "invalid number of UIDs in a list header");
	p = sp + 1;
	sp = memchr(p, ' ', (size_t)(end - p));
	if (sp == NULL || sp == p)
		return bad(err, l, "missing host name in a list header");
	if (check_name(l, "host name", p, (size_t)(sp - p), err) < 0)
		return -1;
	*host = set_name(set, p, (size_t)(sp - p));
	p = sp + 1;
	if (p == end || memchr(p, ' ', (size_t)(end - p)) != NULL)
		return bad(
		    err, l, "missing or invalid user name in a list header");
	if (check_name(l, "user name", p, (size_t)(end - p), err) < 0)
		return -1;
	*user = set_name(set, p, (size_t)(end - p));
	*want = (unsigned long)count;
	return 0;
}

/* mpop's UIDLs file: comments, then lists of UIDs per host and user. */
static int
parse_mpop(struct set *set, struct lines *l, struct pf_err *err)
{
	const char *s, *user = NULL, *host = NULL;
	unsigned long want = 0, got = 0, hdr = 0;
	char b1[NAME_SHOWN * 4 + 8], b2[NAME_SHOWN * 4 + 8];
	size_t n;
	int r;

	while ((r = next_line(l, &s, &n, err)) == 1) {
		if (n > 0 && s[0] == '#')
			continue;
		if (got == want) {
			if (mpop_header(
				set, l, s, n, &want, &host, &user, err) < 0)
				return -1;
			got = 0;
			hdr = l->no;
			continue;
		}
		if (n > 0 && s[0] == ' ')
			return bad(err, l,
			    "the list of %s at %s (line %lu) ends after %lu of its %lu UIDs",
			    shown(b1, sizeof(b1), user),
			    shown(b2, sizeof(b2), host), hdr, got, want);
		if (check_uid(l, s, n, err) < 0)
			return -1;
		add_entry(set, user, host, 0, s, n, 0, l->no);
		got++;
	}
	if (r < 0)
		return -1;
	if (got < want)
		return bad(err, l,
		    "truncated: the list of %s at %s (line %lu) announces %lu UIDs, %lu follow",
		    shown(b1, sizeof(b1), user), shown(b2, sizeof(b2), host),
		    hdr, want, got);
	return 0;
}

/* The last '@' in s[0..n), or NULL. */
static const char *
last_at(const char *s, size_t n)
{
	while (n > 0)
		if (s[--n] == '@')
			return s + n;
	return NULL;
}

/* fetchmail: "USER@HOST UID"; the user part may hold spaces and '@'. */
static int
fetchmail_line(struct set *set, const struct lines *l, const char *s, size_t n,
    struct pf_err *err)
{
	const char *p = s, *end = s + n, *at, *sp, *uh_end, *id, *id_end;
	const char *user, *host;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p == end)
		return bad(err, l, "empty line");
	at = memchr(p, '@', (size_t)(end - p));
	if (at == NULL)
		return bad(err, l, "expected 'USER@HOST UID'");
	sp = memchr(at, ' ', (size_t)(end - at));
	if (sp == NULL)
		return bad(err, l, "no UID after USER@HOST");
	for (uh_end = sp; uh_end[-1] == ' ' || uh_end[-1] == '\t'; uh_end--)
		;
	for (id = sp; id < end && *id == ' '; id++)
		;
	for (id_end = id; id_end < end && *id_end != ' ' && *id_end != '\t';
	     id_end++)
		;
	for (sp = id_end; sp < end && (*sp == ' ' || *sp == '\t'); sp++)
		;
	if (sp != end)
		return bad(err, l, "unexpected text after the UID");
	at = last_at(p, (size_t)(uh_end - p));
	if (check_name(l, "user name", p, (size_t)(at - p), err) < 0 ||
	    check_name(l, "host name", at + 1, (size_t)(uh_end - at - 1), err) <
		0 ||
	    check_uid(l, id, (size_t)(id_end - id), err) < 0)
		return -1;
	if (memchr(at + 1, '\t', (size_t)(uh_end - at - 1)) != NULL)
		return bad(err, l, "tab in the host name");
	user = set_name(set, p, (size_t)(at - p));
	host = set_name(set, at + 1, (size_t)(uh_end - at - 1));
	add_entry(set, user, host, 0, id, (size_t)(id_end - id), 0, l->no);
	return 0;
}

/* fetchmail's .fetchids: one "USER@HOST UID" line per UID. */
static int
parse_fetchmail(struct set *set, struct lines *l, struct pf_err *err)
{
	const char *s;
	size_t n;
	int r;

	while ((r = next_line(l, &s, &n, err)) == 1)
		if (fetchmail_line(set, l, s, n, err) < 0)
			return -1;
	return r;
}

/*
 * getmail6 names the file 'oldmail-SERVER-PORT-USER' after replacing runs
 * of the characters / \ : ; < > | with one '-'. Write that form of s.
 */
static char *
getmail_clean(const char *s)
{
	static const char special[] = "/\\:;<>|";
	char *r = xmalloc(strlen(s) + 1), *o = r;
	bool run = false;

	for (; *s != '\0'; s++) {
		if (strchr(special, *s) == NULL) {
			*o++ = *s;
			run = false;
		} else if (!run) {
			*o++ = '-';
			run = true;
		}
	}
	*o = '\0';
	return r;
}

/* True when base is the oldmail file getmail6 writes for the account a. */
static bool
getmail_is_account(const char *base, const struct import_account *a)
{
	char *h = getmail_clean(a->host), *u = getmail_clean(a->user);
	char port[16];
	size_t hl = strlen(h), pl;
	bool ok = false;

	snprintf(port, sizeof(port), "-%u-", a->port);
	pl = strlen(port);
	if (a->port != 0 && strncasecmp(base, h, hl) == 0 &&
	    strncmp(base + hl, port, pl) == 0 && strcmp(base + hl + pl, u) == 0)
		ok = true;
	free(h);
	free(u);
	return ok;
}

/*
 * Split the name of a getmail oldmail file into server, port and user:
 * the account's own name when it matches, else at the last "-PORT-".
 */
static int
getmail_name(struct set *set, const struct lines *l, const char *base,
    const struct import_account *hint, const char **user, const char **host,
    unsigned *port, struct pf_err *err)
{
	const char *p, *q, *cut = NULL;
	unsigned long long v = 0, cutv = 0;

	if (strncmp(base, "oldmail-", 8) != 0)
		return bad(err, l,
		    "not named like a getmail file (oldmail-SERVER-PORT-USER)");
	base += 8;
	if (*base == '\0') /* "oldmail-": nothing to split */
		return bad(err, l,
		    "not named like a getmail file (oldmail-SERVER-PORT-USER)");
	if (hint != NULL && getmail_is_account(base, hint)) {
		*user = set_name(set, hint->user, strlen(hint->user));
		*host = set_name(set, hint->host, strlen(hint->host));
		*port = hint->port;
		return 0;
	}
	for (p = strchr(base + 1, '-'); p != NULL; p = strchr(p + 1, '-')) {
		q = strchr(p + 1, '-');
		if (q != NULL && q[1] != '\0' &&
		    parse_dec(p + 1, (size_t)(q - p - 1), 5, &v) && v > 0 &&
		    v <= 65535) {
			cut = p;
			cutv = v;
		}
	}
	if (cut == NULL)
		return bad(err, l,
		    "not named like a getmail file (oldmail-SERVER-PORT-USER)");
	*host = set_name(set, base, (size_t)(cut - base));
	*user = set_name(
	    set, strchr(cut + 1, '-') + 1, strlen(strchr(cut + 1, '-') + 1));
	*port = (unsigned)cutv;
	return 0;
}

/* getmail6's oldmail file: "UID\0TIME" lines. */
static int
parse_getmail(struct set *set, struct lines *l, const char *base,
    const struct import_account *hint, struct pf_err *err)
{
	const char *s, *nul, *user = NULL, *host = NULL;
	unsigned long long t;
	unsigned port = 0;
	size_t n;
	int r;

	if (getmail_name(set, l, base, hint, &user, &host, &port, err) < 0)
		return -1;
	while ((r = next_line(l, &s, &n, err)) == 1) {
		nul = memchr(s, '\0', n);
		if (nul == NULL)
			return bad(err, l, "expected 'UID<NUL>TIME'");
		if (check_uid(l, s, (size_t)(nul - s), err) < 0)
			return -1;
		if (!parse_dec(nul + 1, (size_t)(s + n - nul - 1), 18, &t))
			return bad(err, l, "invalid time after the UID");
		add_entry(set, user, host, port, s, (size_t)(nul - s),
		    (time_t)t, l->no);
	}
	return r;
}

/* Which format the data looks like, for a hint in errors; -1: unknown. */
static int
sniff(const char *d, size_t n)
{
	static const char mpop_sig[] = "# This file was generated by mpop";
	const char *nl, *at;

	if (memchr(d, '\0', n) != NULL)
		return IMPORT_GETMAIL;
	if (n >= sizeof(mpop_sig) - 1 &&
	    memcmp(d, mpop_sig, sizeof(mpop_sig) - 1) == 0)
		return IMPORT_MPOP;
	while (n > 0 && d[0] == '#' && (nl = memchr(d, '\n', n)) != NULL) {
		n -= (size_t)(nl + 1 - d);
		d = nl + 1;
	}
	if (n >= 2 && d[0] == ' ' && d[1] >= '1' && d[1] <= '9')
		return IMPORT_MPOP;
	nl = memchr(d, '\n', n);
	if (nl == NULL)
		nl = d + n;
	at = memchr(d, '@', (size_t)(nl - d));
	if (at != NULL && memchr(at, ' ', (size_t)(nl - at)) != NULL)
		return IMPORT_FETCHMAIL;
	return -1;
}

/* Parse one file in memory into set. */
static int
parse_one(struct set *set, enum import_format fmt, const char *name,
    const char *data, size_t len, const struct import_account *hint,
    struct pf_err *err)
{
	struct lines l = {data, len, 0, 0, NULL};
	const char *base = strrchr(name, '/');
	size_t used;
	int r, other;

	set->files =
	    xreallocarray(set->files, set->nfiles + 1, sizeof(*set->files));
	set->files[set->nfiles++] = xstrdup(name);
	l.file = set->files[set->nfiles - 1];
	if (fmt == IMPORT_MPOP)
		r = parse_mpop(set, &l, err);
	else if (fmt == IMPORT_FETCHMAIL)
		r = parse_fetchmail(set, &l, err);
	else
		r = parse_getmail(
		    set, &l, base != NULL ? base + 1 : name, hint, err);
	if (r == 0)
		return 0;
	other = sniff(data, len);
	used = strlen(err->msg);
	if (other >= 0 && other != (int)fmt && used < sizeof(err->msg))
		snprintf(err->msg + used, sizeof(err->msg) - used,
		    " (this looks like %s state: use %s:PATH)",
		    import_format_names[other], import_format_names[other]);
	return -1;
}

/* Read a whole regular file of at most IMPORT_FILE_MAX bytes. */
static int
read_file(const char *path, char **data, size_t *len, struct pf_err *err)
{
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return pf_err_sys(err, PF_EUSAGE, "cannot open '%s'", path);
	r = fileio_read_regular(fd, IMPORT_FILE_MAX, data, len);
	if (r == -1 && (errno == EINVAL || errno == EFBIG))
		pf_err_set(err, PF_EUSAGE,
		    "'%s' is not a regular file of at most %d MiB", path,
		    IMPORT_FILE_MAX / (1024 * 1024));
	else if (r == -1)
		pf_err_sys(err, PF_EIO, "cannot read '%s'", path);
	close(fd);
	return r;
}

/* Read and parse one file into set. */
static int
read_one(struct set *set, enum import_format fmt, const char *path,
    const struct import_account *hint, struct pf_err *err)
{
	char *data = NULL;
	size_t len = 0;
	int r;

	if (read_file(path, &data, &len, err) < 0)
		return -1;
	r = parse_one(set, fmt, path, data, len, hint, err);
	free(data);
	return r;
}

/* Sort directory entries so the order of entries is reproducible. */
static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * True for the files of a directory that hold state: getmail's
 * oldmail-* (not its ".tmp.PID" files being written), mpop's every file.
 */
static bool
dir_wants(enum import_format fmt, const char *name)
{
	const char *t;

	if (name[0] == '.')
		return false;
	if (fmt != IMPORT_GETMAIL)
		return true;
	if (strncmp(name, "oldmail-", 8) != 0)
		return false;
	t = strstr(name, ".tmp.");
	return t == NULL || t[5 + strspn(t + 5, "0123456789")] != '\0';
}

/* Read every state file of a directory (mpop, getmail). */
static int
read_dir(struct set *set, enum import_format fmt, const char *dir,
    const struct import_account *hint, struct pf_err *err)
{
	struct dirent *de;
	struct stat sb;
	char **names = NULL, *path;
	size_t n = 0, i, used = 0;
	int ret = 0;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return pf_err_sys(err, PF_EUSAGE, "cannot open '%s'", dir);
	while ((de = readdir(d)) != NULL)
		if (dir_wants(fmt, de->d_name)) {
			names = xreallocarray(names, n + 1, sizeof(*names));
			names[n++] = xstrdup(de->d_name);
		}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), cmp_names);
	for (i = 0; i < n; i++) {
		path = xasprintf("%s/%s", dir, names[i]);
		if (ret == 0 && stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
			ret = read_one(set, fmt, path, hint, err);
			used++;
		}
		free(path);
		free(names[i]);
	}
	free(names);
	if (ret == 0 && used == 0)
		return pf_err_set(err, PF_EUSAGE, "no %s state files in '%s'",
		    import_format_names[fmt], dir);
	return ret;
}

/* Read PATH (a file, or a directory for mpop and getmail) into set. */
static int
collect(struct set *set, enum import_format fmt, const char *path,
    const struct import_account *hint, struct pf_err *err)
{
	struct stat sb;

	if (stat(path, &sb) < 0)
		return pf_err_sys(err, PF_EUSAGE, "cannot open '%s'", path);
	if (!S_ISDIR(sb.st_mode))
		return read_one(set, fmt, path, hint, err);
	if (fmt == IMPORT_FETCHMAIL)
		return pf_err_set(err, PF_EUSAGE,
		    "'%s' is a directory; fetchmail keeps its UIDs in one file (~/.fetchids)",
		    path);
	return read_dir(set, fmt, path, hint, err);
}

/* Fill the public view of entry i. */
static void
ent_view(const struct set *set, size_t i, struct import_entry *e)
{
	const struct ent *s = &set->v[i];

	e->user = s->user;
	e->host = s->host;
	e->port = s->port;
	e->uid = s->uid;
	e->time = s->time;
	e->file = set->files[s->file];
	e->line = s->line;
}

/* Hand every entry to fn, in order. */
static int
deliver(const struct set *set,
    int (*fn)(void *ctx, const struct import_entry *e, struct pf_err *err),
    void *ctx, struct pf_err *err)
{
	struct import_entry e;
	size_t i;

	for (i = 0; i < set->n; i++) {
		ent_view(set, i, &e);
		if (fn(ctx, &e, err) < 0)
			return -1;
	}
	return 0;
}

char *
import_summary(const struct import_counts *c, char *buf, size_t len)
{
	snprintf(buf, len, "imported %lu, skipped %lu%s%s%s, already known %lu",
	    c->imported, c->skipped,
	    c->others[0] != '\0' ? " (other accounts: " : "", c->others,
	    c->others[0] != '\0' ? ")" : "", c->known);
	return buf;
}

int
import_spec_parse(
    const char *spec, enum import_format *fmt, char **path, struct pf_err *err)
{
	const char *colon = strchr(spec, ':');
	size_t i;

	if (colon == NULL || colon[1] == '\0')
		return pf_err_set(err, PF_EUSAGE,
		    "--import-state needs FORMAT:PATH (mpop, fetchmail or getmail)");
	for (i = 0; import_format_names[i] != NULL; i++)
		if (strlen(import_format_names[i]) == (size_t)(colon - spec) &&
		    strncmp(spec, import_format_names[i],
			(size_t)(colon - spec)) == 0) {
			*fmt = (enum import_format)i;
			*path = config_expand_tilde(colon + 1);
			return 0;
		}
	return pf_err_set(err, PF_EUSAGE,
	    "unknown state format in --import-state (mpop, fetchmail or getmail)");
}

int
import_read(enum import_format fmt, const char *path,
    const struct import_account *hint,
    int (*fn)(void *ctx, const struct import_entry *e, struct pf_err *err),
    void *ctx, struct pf_err *err)
{
	struct set set;
	int r;

	memset(&set, 0, sizeof(set));
	r = collect(&set, fmt, path, hint, err);
	if (r == 0)
		r = deliver(&set, fn, ctx, err);
	set_free(&set);
	return r;
}

int
import_parse_buf(enum import_format fmt, const char *name, const char *data,
    size_t len, const struct import_account *hint,
    int (*fn)(void *ctx, const struct import_entry *e, struct pf_err *err),
    void *ctx, struct pf_err *err)
{
	struct set set;
	int r;

	memset(&set, 0, sizeof(set));
	r = parse_one(&set, fmt, name, data, len, hint, err);
	if (r == 0)
		r = deliver(&set, fn, ctx, err);
	set_free(&set);
	return r;
}

bool
import_match(const struct import_account *a, const struct import_entry *e)
{
	if (strcmp(a->user, e->user) != 0 || strcasecmp(a->host, e->host) != 0)
		return false;
	return e->port == 0 || a->port == 0 || e->port == a->port;
}

/* One UID to mark, with the first-seen time to record. */
struct mark {
	const char *uid;
	time_t time;
};

/*
 * The one place that writes popfetch's seen-state: record each UID of
 * marks that the state does not hold yet, as kept or delivered, durably.
 */
static int
state_mark(const char *state_dir, const char *account_id,
    const struct mark *marks, size_t n, bool keep, struct import_counts *c,
    struct pf_err *err)
{
	struct state *st = NULL;
	struct pf_err cerr;
	int lock, ret = -1;
	size_t i;

	if ((lock = lock_account(state_dir, account_id, err)) < 0)
		return -1;
	if ((st = state_load(state_dir, account_id, err)) == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		if (state_find(st, marks[i].uid) != NULL) {
			c->known++;
			continue;
		}
		state_set(st, marks[i].uid, 0, marks[i].time,
		    keep ? STATE_KEPT : STATE_DELIVERED);
		c->imported++;
	}
	if (c->imported > 0 && state_flush(st, err) < 0)
		goto out;
	if (c->imported > 0 && state_compact(st, &cerr) < 0)
		log_warning("%s", cerr.msg); /* the journal is durable */
	ret = 0;
out:
	state_free(st);
	lock_release(lock);
	return ret;
}

/* Add "user@host" to the list of other accounts, once, while it fits. */
static void
note_other(struct import_counts *c, const struct import_entry *e)
{
	char u[64], h[64], item[140];
	size_t used = strlen(c->others);

	pf_sanitize(u, sizeof(u), e->user, strlen(e->user));
	pf_sanitize(h, sizeof(h), e->host, strlen(e->host));
	snprintf(item, sizeof(item), "%s@%s", u, h);
	if (strstr(c->others, item) != NULL ||
	    used + strlen(item) + 3 >= sizeof(c->others))
		return;
	snprintf(c->others + used, sizeof(c->others) - used, "%s%s",
	    used > 0 ? ", " : "", item);
}

int
import_state(enum import_format fmt, const char *path,
    const struct import_account *acct, const char *state_dir,
    const char *account_id, bool keep, struct import_counts *counts,
    struct pf_err *err)
{
	struct import_entry e;
	struct mark *marks;
	struct set set;
	time_t now = time(NULL);
	size_t i, n = 0;
	int r;

	memset(counts, 0, sizeof(*counts));
	memset(&set, 0, sizeof(set));
	if (collect(&set, fmt, path, acct, err) < 0) {
		set_free(&set);
		return -1;
	}
	marks = xcalloc(set.n + 1, sizeof(*marks));
	for (i = 0; i < set.n; i++) {
		ent_view(&set, i, &e);
		if (!import_match(acct, &e)) {
			counts->skipped++;
			note_other(counts, &e);
			continue;
		}
		marks[n].uid = e.uid;
		marks[n++].time = e.time > 0 && e.time <= now ? e.time : now;
	}
	r = state_mark(state_dir, account_id, marks, n, keep, counts, err);
	free(marks);
	set_free(&set);
	return r;
}

int
import_account_state(const struct account *a, const char *spec,
    struct import_counts *counts, struct pf_err *err)
{
	struct import_account ia;
	enum import_format fmt;
	char *path = NULL, *id;
	int rc;

	if (import_spec_parse(spec, &fmt, &path, err) < 0)
		return -1;
	if (a->user == NULL || a->user[0] == '\0') {
		free(path);
		return pf_err_set(err, a->name != NULL ? PF_ECONFIG : PF_EUSAGE,
		    "%s: no user given (--user or 'user'): --import-state takes the entries of the account's user",
		    a->origin);
	}
	ia.user = a->user;
	ia.host = a->host;
	ia.port = (unsigned)strtoul(account_port(a), NULL, 10);
	id = account_key(a);
	rc = import_state(
	    fmt, path, &ia, a->state_dir, id, a->keep, counts, err);
	free(path);
	free(id);
	return rc;
}
