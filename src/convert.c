/*
 * convert.c: --convert-config. The source parsers describe each account
 * as the settings it must end up with; this file chooses the popfetchrc
 * lines that give exactly those settings under popfetch's rules (defaults
 * for every account, one parent, up to 16 levels) and writes the text.
 */

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "popfetch/convert.h"
#include "popfetch/conn.h"
#include "popfetch/crypto.h"
#include "popfetch/err.h"
#include "popfetch/fileio.h"
#include "popfetch/xmalloc.h"
#include "compat.h"
#include "convert-private.h"

#define MAX_DEPTH    16	  /* popfetch's longest parent chain */
#define LINE_MAX_OUT 4000 /* keep under popfetch's 4096-byte lines */

const char *const convert_source_names[] = {"mpop", "fetchmail", NULL};

/* A read-only overlay of settings. */
struct view {
	const char *key[CV_NSLOTS];
	const char *val[CV_NSLOTS];
};

/* Overlay the lines of account i's parent chain onto v (root first). */
static bool
overlay_chain(const struct cv_doc *d, int i, struct view *v)
{
	int chain[MAX_DEPTH + 1], n = 0, k, s;

	for (k = d->acc[i].parent; k >= 0; k = d->acc[k].parent) {
		if (n == MAX_DEPTH)
			return false;
		chain[n++] = k;
	}
	while (n-- > 0) {
		const struct cv_set *l = &d->acc[chain[n]].lines;

		for (s = 0; s < CV_NSLOTS; s++)
			if (l->val[s] != NULL) {
				v->key[s] = l->key[s];
				v->val[s] = l->val[s];
			}
	}
	return true;
}

/* Do two settings agree (key and value, or both unset)? */
static bool
same(const char *k1, const char *v1, const char *k2, const char *v2)
{
	if (v1 == NULL || v2 == NULL)
		return v1 == v2;
	return strcmp(k1, k2) == 0 && strcmp(v1, v2) == 0;
}

/*
 * Choose the lines of account i on top of defs and its parent chain.
 * Returns false when a setting would have to be unset, which popfetch
 * cannot do for this key: the caller then drops the parent.
 */
static bool
choose_lines(struct cv_doc *d, int i, const struct view *defs, int *bad)
{
	struct cv_account *a = &d->acc[i];
	struct view base = *defs;
	int s;

	*bad = -1;
	if (a->parent >= 0 && !overlay_chain(d, i, &base))
		return false;
	cv_set_free(&a->lines);
	for (s = 0; s < CV_NSLOTS; s++) {
		const char *wk = a->want.key[s], *wv = a->want.val[s];

		if (same(wk, wv, base.key[s], base.val[s]))
			continue;
		if (wv == NULL && cv_slot_default[s] == NULL) {
			*bad = s;
			return false;
		}
		a->lines.key[s] = wv != NULL ? wk : cv_slot_key[s];
		a->lines.val[s] = xstrdup(wv != NULL ? wv : cv_slot_default[s]);
	}
	return true;
}

/* How many accounts are converted (not dropped); *first gets the index of
 * the first of them. */
static size_t
live_accounts(const struct cv_doc *d, size_t *first)
{
	size_t i, live = 0;

	*first = 0;
	for (i = d->nacc; i-- > 0;)
		if (!d->acc[i].dropped) {
			live++;
			*first = i;
		}
	return live;
}

/* The settings every converted account shares (two or more of them),
 * except a password. */
static void
common_defaults(const struct cv_doc *d, struct view *defs)
{
	size_t i, first;
	int s;

	memset(defs, 0, sizeof(*defs));
	if (live_accounts(d, &first) < 2)
		return;
	for (s = 0; s < CV_NSLOTS; s++) {
		const struct cv_set *w = &d->acc[first].want;

		/* a password stays with its accounts, never for all */
		if (w->val[s] == NULL || s == CV_PASSWORD)
			continue;
		for (i = 0; i < d->nacc; i++)
			if (!d->acc[i].dropped &&
			    !same(w->key[s], w->val[s], d->acc[i].want.key[s],
				d->acc[i].want.val[s]))
				break;
		if (i == d->nacc) {
			defs->key[s] = w->key[s];
			defs->val[s] = w->val[s];
		}
	}
}

/* True when notes n hold the text t. */
static bool
has_note(const struct cv_notes *n, const char *t)
{
	size_t i;

	for (i = 0; i < n->n; i++)
		if (strcmp(n->v[i], t) == 0)
			return true;
	return false;
}

/* Remove the note t from n. */
static void
drop_note(struct cv_notes *n, const char *t)
{
	size_t i;

	for (i = 0; i < n->n; i++)
		if (strcmp(n->v[i], t) == 0) {
			free(n->v[i]);
			memmove(n->v + i, n->v + i + 1,
			    (n->n - i - 1) * sizeof(*n->v));
			n->n--;
			return;
		}
}

/*
 * A note every converted account has (two or more of them) comes from a
 * setting they share: write it once, in the defaults block.
 */
static void
hoist_notes(struct cv_doc *d)
{
	size_t i, k, first;
	struct cv_notes *fn;

	if (live_accounts(d, &first) < 2)
		return;
	fn = &d->acc[first].notes;
	for (k = 0; k < fn->n;) {
		char *t = fn->v[k];

		for (i = 0; i < d->nacc; i++)
			if (!d->acc[i].dropped &&
			    !has_note(&d->acc[i].notes, t))
				break;
		if (i < d->nacc) {
			k++;
			continue;
		}
		cv_note(&d->defnotes, "%s", t);
		t = xstrdup(t);
		for (i = 0; i < d->nacc; i++)
			if (!d->acc[i].dropped)
				drop_note(&d->acc[i].notes, t);
		free(t);
	}
}

/* Plan every account's lines. */
static void
plan(struct cv_doc *d, const struct view *defs)
{
	size_t i;

	for (i = 0; i < d->nacc; i++) {
		struct cv_account *a = &d->acc[i];
		int p = a->parent, bad;

		if (a->dropped)
			continue;
		if (p >= (int)i || (p >= 0 && d->acc[p].dropped)) {
			cv_note(&a->notes,
			    "written without its parent '%s', which is not converted",
			    d->acc[p].name);
			a->parent = -1;
		}
		if (choose_lines(d, (int)i, defs, &bad))
			continue;
		if (bad >= 0)
			cv_note(&a->notes,
			    "written without its parent '%s': it would inherit %s, which popfetch cannot unset",
			    d->acc[p].name,
			    bad == CV_DELIVERY ? "a delivery"
					       : cv_slot_key[bad]);
		else
			cv_note(&a->notes,
			    "written without its parent '%s': the chain of parents is longer than popfetch's %d",
			    d->acc[p].name, MAX_DEPTH);
		a->parent = -1;
		(void)choose_lines(d, (int)i, defs, &bad);
	}
}

/* Write "  key value", quoting the value when popfetch needs it to. */
static void
put_line(struct cv_out *o, const char *key, const char *val)
{
	size_t n = strlen(val);
	const char *p;

	if (strpbrk(val, "\r\n") != NULL || n > LINE_MAX_OUT) {
		cv_out_adds(o, "  # cannot write ");
		cv_out_adds(o, key);
		cv_out_adds(
		    o, ": its value holds a line break or is too long\n");
		return;
	}
	cv_out_adds(o, "  ");
	cv_out_adds(o, key);
	cv_out_adds(o, " ");
	/* popfetch trims white space around a value unless it is quoted */
	if (n > 0 && val[0] != '"' && !isspace((unsigned char)val[0]) &&
	    !isspace((unsigned char)val[n - 1])) {
		cv_out_adds(o, val);
		cv_out_adds(o, "\n");
		return;
	}
	cv_out_adds(o, "\"");
	for (p = val; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			cv_out_adds(o, "\\");
		cv_out_add(o, p, 1);
	}
	cv_out_adds(o, "\"\n");
}

/* Append text for a comment line: control bytes (a line break would end
 * the comment) become '?'. */
static void
sadd_comment(struct cv_out *o, const char *s)
{
	for (; *s != '\0'; s++)
		cv_out_add(
		    o, (unsigned char)*s < 0x20 || *s == 0x7f ? "?" : s, 1);
}

/* Write notes as comment lines. */
static void
put_notes(struct cv_out *o, const struct cv_notes *n, const char *indent)
{
	size_t i;

	for (i = 0; i < n->n; i++) {
		cv_out_adds(o, indent);
		cv_out_adds(o, "# ");
		sadd_comment(o, n->v[i]);
		cv_out_adds(o, "\n");
	}
}

/* Write the settings of a view. */
static void
put_lines(struct cv_out *o, const struct view *v)
{
	int s;

	for (s = 0; s < CV_NSLOTS; s++)
		if (v->val[s] != NULL)
			put_line(o, v->key[s], v->val[s]);
}

/* A view of a set. */
static void
view_of(const struct cv_set *set, struct view *v)
{
	int s;

	for (s = 0; s < CV_NSLOTS; s++) {
		v->key[s] = set->key[s];
		v->val[s] = set->val[s];
	}
}

/* Write one account block. */
static void
put_account(
    struct cv_out *o, const struct cv_doc *d, const struct cv_account *a)
{
	struct view v;

	cv_out_adds(o, "\n");
	if (a->dropped) {
		cv_out_adds(o, "# account ");
		cv_out_adds(o, a->name);
		cv_out_adds(o, ": not converted\n");
		put_notes(o, &a->notes, "");
		return;
	}
	cv_out_adds(o, "account ");
	cv_out_adds(o, a->name);
	if (a->parent >= 0) {
		cv_out_adds(o, " : ");
		cv_out_adds(o, d->acc[a->parent].name);
	}
	cv_out_adds(o, "\n");
	view_of(&a->lines, &v);
	put_lines(o, &v);
	put_notes(o, &a->notes, "  ");
}

/* Whether the account called name is in the output. */
static bool
converted(const struct cv_doc *d, const char *name)
{
	size_t i;

	for (i = 0; i < d->nacc; i++)
		if (!d->acc[i].dropped && strcmp(d->acc[i].name, name) == 0)
			return true;
	return false;
}

/* Write the whole file. */
static void
render(const struct cv_doc *d, const struct view *defs, struct cv_out *o)
{
	bool secret = false, any = false;
	size_t i;
	int s;

	cv_out_adds(o, "# popfetch configuration converted from ");
	cv_out_adds(o, d->source);
	cv_out_adds(o, "'s ");
	sadd_comment(o, d->file);
	cv_out_adds(o,
	    "\n# by popfetch --convert-config. Lines starting with\n"
	    "# \"cannot map\" name what popfetch does differently or not "
	    "yet: read them.\n");
	for (i = 0; i < d->nacc; i++)
		secret |= !d->acc[i].dropped &&
		    d->acc[i].want.val[CV_PASSWORD] != NULL;
	if (secret)
		cv_out_adds(o,
		    "# It holds a password: keep it private (chmod 600), "
		    "or popfetch refuses it.\n");
	put_notes(o, &d->head, "");
	for (s = 0; s < CV_NSLOTS; s++)
		any |= defs->val[s] != NULL;
	if (any || d->syslog || d->defnotes.n > 0) {
		cv_out_adds(o, "\ndefaults\n");
		if (d->syslog)
			put_line(o, "syslog", "on");
		put_lines(o, defs);
		put_notes(o, &d->defnotes, "  ");
	}
	for (i = 0; i < d->nacc; i++)
		put_account(o, d, &d->acc[i]);
	if (d->default_name == NULL)
		return;
	if (converted(d, d->default_name)) {
		cv_out_adds(o, "\ndefault ");
		cv_out_adds(o, d->default_name);
		cv_out_adds(o, "\n");
	} else {
		/* a "default" line naming no account would not load */
		cv_out_adds(o, "\n# no default: ");
		sadd_comment(o, d->default_name);
		cv_out_adds(o, " is not converted\n");
	}
}

/* Free the document. */
static void
doc_free(struct cv_doc *d)
{
	size_t i;

	for (i = 0; i < d->nacc; i++) {
		free(d->acc[i].name);
		cv_set_free(&d->acc[i].want);
		cv_set_free(&d->acc[i].lines);
		cv_notes_clear(&d->acc[i].notes);
	}
	free(d->acc);
	cv_notes_clear(&d->head);
	cv_notes_clear(&d->defnotes);
	free(d->default_name);
	memset(d, 0, sizeof(*d));
}

/* The login name fetchmail would use. */
static const char *
login_name(const struct convert_opts *opts)
{
	const char *u;
	struct passwd *pw;

	if (opts != NULL && opts->local_user != NULL)
		return opts->local_user;
	if ((u = getenv("USER")) != NULL && u[0] != '\0')
		return u;
	if ((u = getenv("LOGNAME")) != NULL && u[0] != '\0')
		return u;
	pw = getpwuid(getuid());
	return pw != NULL ? pw->pw_name : "user";
}

int
convert_source_parse(
    const char *name, enum convert_source *src, struct pf_err *err)
{
	size_t i;

	for (i = 0; convert_source_names[i] != NULL; i++)
		if (strcmp(name, convert_source_names[i]) == 0) {
			*src = (enum convert_source)i;
			return 0;
		}
	return pf_err_set(err, PF_EUSAGE,
	    "unknown configuration format for --convert-config (mpop or fetchmail)");
}

int
convert_buf(enum convert_source src, const char *name, const char *data,
    size_t len, const struct convert_opts *opts, char **text, size_t *textlen,
    struct pf_err *err)
{
	struct cv_doc d;
	struct view defs;
	struct cv_out o = {NULL, 0, 0};
	int r;

	memset(&d, 0, sizeof(d));
	d.source = convert_source_names[src];
	d.file = name;
	if (src == CONVERT_MPOP)
		r = cv_mpop(&d, data, len, err);
	else
		r = cv_fetchmail(&d, data, len, login_name(opts), err);
	if (r == 0) {
		hoist_notes(&d);
		common_defaults(&d, &defs);
		plan(&d, &defs);
		render(&d, &defs, &o);
		*text = o.p;
		*textlen = o.len;
	}
	doc_free(&d);
	return r;
}

int
convert_config(enum convert_source src, const char *path,
    const struct convert_opts *opts, char **text, size_t *len,
    struct pf_err *err)
{
	char *data = NULL;
	size_t n = 0;
	int fd, ret = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return pf_err_sys(err, PF_EUSAGE, "cannot open '%s'", path);
	if (fileio_read_regular(fd, CONVERT_FILE_MAX, &data, &n) == -1) {
		if (errno == EINVAL || errno == EFBIG)
			pf_err_set(err, PF_EUSAGE,
			    "'%s' is not a regular file of at most %d MiB",
			    path, CONVERT_FILE_MAX / (1024 * 1024));
		else
			pf_err_sys(err, PF_EUSAGE, "cannot read '%s'", path);
	} else {
		/* A source file may hold passwords: wiped after use. */
		ret = convert_buf(src, path, data, n, opts, text, len, err);
		crypto_wipe_free(data, n);
	}
	close(fd);
	return ret;
}

void
convert_free(char *text, size_t len)
{
	crypto_wipe_free(text, len);
}

int
convert_named(const char *source, const char *path, char **text, size_t *len,
    struct pf_err *err)
{
	enum convert_source src = CONVERT_MPOP;

	if (convert_source_parse(source, &src, err) < 0)
		return -1;
	return convert_config(src, path, NULL, text, len, err);
}
