/*
 * convert-doc.c: the document the --convert-config source parsers fill
 * (accounts, settings per slot, notes) and the small text helpers they and
 * the writer in convert.c share. A leaf below convert.c, convert-mpop.c and
 * convert-fetchmail.c.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "popfetch/conn.h"
#include "popfetch/err.h"
#include "popfetch/xmalloc.h"
#include "compat.h"
#include "convert-private.h"

/* popfetch key of each slot (the delivery slot carries its own). */
const char *const cv_slot_key[CV_NSLOTS] = {"host", "port", "source_address",
    "proxy", "tunnel", "user", "tls", "ca_file", "fingerprint", "cert", "key",
    "tls_min", "insecure", "auth", "password_command", "password", "timeout",
    NULL, "no_received", "keep", "all", "max_size", "kill_size", "limit"};

/* popfetch's built-in value of each slot that can be written back (an
 * empty source_address, proxy or tunnel removes an inherited one). */
const char *const cv_slot_default[CV_NSLOTS] = {NULL, NULL, "", "", "", NULL,
    "on", NULL, NULL, NULL, NULL, "1.2", "off", "auto", NULL, NULL, "60", NULL,
    "off", "off", "off", "0", "0", "0"};

/* Free a value, wiping it when it is a password. */
static void
free_val(enum cv_slot slot, char *v)
{
	if (slot == CV_PASSWORD)
		xfree_secret(v);
	else
		free(v);
}

void
cv_put(struct cv_set *s, enum cv_slot slot, const char *key, const char *val)
{
	free_val(slot, s->val[slot]);
	s->val[slot] = NULL;
	s->key[slot] = key != NULL ? key : cv_slot_key[slot];
	if (val != NULL &&
	    (cv_slot_default[slot] == NULL ||
		strcmp(val, cv_slot_default[slot]) != 0))
		s->val[slot] = xstrdup(val);
}

void
cv_put_host(struct cv_account *a, const char *h)
{
	char host[256], port[8];
	char shown[PF_SERVER_TEXT_MAX * 4 + 8];

	if (conn_parse_host(h, host, sizeof(host), port, sizeof(port)) == 0 &&
	    port[0] == '\0') {
		cv_put(&a->want, CV_HOST, NULL, h);
		return;
	}
	cv_note(&a->notes,
	    "host '%s': not a host name or address popfetch takes: cannot map",
	    pf_sanitize(shown, sizeof(shown), h, strlen(h)));
}

void
cv_set_free(struct cv_set *s)
{
	int i;

	for (i = 0; i < CV_NSLOTS; i++)
		free_val((enum cv_slot)i, s->val[i]);
	memset(s, 0, sizeof(*s));
}

void
cv_setting_set(char **val, int *line, const char *v, int vline, bool secret)
{
	if (secret)
		xfree_secret(*val);
	else
		free(*val);
	*val = v != NULL ? xstrdup(v) : NULL;
	*line = v != NULL ? vline : 0;
}

void
cv_note(struct cv_notes *n, const char *fmt, ...)
{
	va_list ap;
	char buf[512];

	va_start(ap, fmt);
	(void)vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	n->v = xreallocarray(n->v, n->n + 1, sizeof(*n->v));
	n->v[n->n++] = xstrdup(buf);
}

void
cv_notes_clear(struct cv_notes *n)
{
	size_t i;

	for (i = 0; i < n->n; i++)
		free(n->v[i]);
	free(n->v);
	memset(n, 0, sizeof(*n));
}

int
cv_account_find(const struct cv_doc *d, const char *name)
{
	size_t i;

	for (i = 0; i < d->nacc; i++)
		if (strcmp(d->acc[i].name, name) == 0)
			return (int)i;
	return -1;
}

struct cv_account *
cv_account_new(struct cv_doc *d, const char *src_name)
{
	struct cv_account *a;
	char *name, *p;
	int k;

	name = xstrdup(src_name[0] != '\0' ? src_name : "account");
	for (p = name; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f ||
		    *p == ':' || *p == '"')
			*p = '_';
	for (k = 2; cv_account_find(d, name) >= 0; k++) {
		free(name);
		name = xasprintf(
		    "%s-%d", src_name[0] != '\0' ? src_name : "account", k);
		for (p = name; *p != '\0'; p++)
			if ((unsigned char)*p <= ' ' ||
			    (unsigned char)*p >= 0x7f || *p == ':' || *p == '"')
				*p = '_';
	}
	d->acc = xreallocarray(d->acc, d->nacc + 1, sizeof(*d->acc));
	a = &d->acc[d->nacc++];
	memset(a, 0, sizeof(*a));
	a->name = name;
	a->parent = -1;
	if (strcmp(name, src_name) != 0)
		cv_note(&a->notes, "the %s account is called '%s' there",
		    d->source, src_name);
	return a;
}

const char *
cv_num(char *buf, unsigned long long v)
{
	snprintf(buf, 32, "%llu", v);
	return buf;
}

void
cv_out_add(struct cv_out *o, const char *s, size_t n)
{
	/* the text may hold a password: no stale copy is left behind */
	xgrow_secret(&o->p, &o->cap, o->len, o->len + n + 1, 256);
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

void
cv_out_adds(struct cv_out *o, const char *s)
{
	cv_out_add(o, s, strlen(s));
}

/* Is c where %F or %T may stand without quotes of its own around it? */
static int
quote_state(const char *cmd, size_t upto)
{
	int st = 0; /* 0 none, 1 in '...', 2 in "..." */
	size_t i;

	for (i = 0; i < upto; i++) {
		if (st != 1 && cmd[i] == '\\' && i + 1 < upto) {
			i++;
			continue;
		}
		if (st == 0 && cmd[i] == '\'')
			st = 1;
		else if (st == 1 && cmd[i] == '\'')
			st = 0;
		else if (st == 0 && cmd[i] == '"')
			st = 2;
		else if (st == 2 && cmd[i] == '"')
			st = 0;
	}
	return st;
}

/* Single-quote s as fetchmail does (dropping any single quote in it),
 * doubling '%' for popfetch's expansion. */
static void
add_shell_word(struct cv_out *o, const char *s)
{
	cv_out_adds(o, "'");
	for (; *s != '\0'; s++) {
		if (*s == '%')
			cv_out_adds(o, "%%");
		else if (*s != '\'')
			cv_out_add(o, s, 1);
	}
	cv_out_adds(o, "'");
}

char *
cv_mda(const char *cmd, const char *t_repl, struct cv_notes *notes, int line)
{
	struct cv_out o = {NULL, 0, 0};
	size_t i, n = strlen(cmd);
	bool warned = false;

	cv_out_adds(&o, "");
	for (i = 0; i < n; i++) {
		bool f = cmd[i] == '%' && cmd[i + 1] == 'F';
		bool t = cmd[i] == '%' &&
		    (cmd[i + 1] == 'T' || cmd[i + 1] == 's') && t_repl != NULL;
		int st;

		if (!f && !t) {
			cv_out_add(&o, cmd[i] == '%' ? "%%" : cmd + i,
			    cmd[i] == '%' ? 2 : 1);
			continue;
		}
		st = quote_state(cmd, i);
		if (st != 0 && i > 0 && cmd[i + 2] == cmd[i - 1] &&
		    (cmd[i - 1] == '\'' || cmd[i - 1] == '"') &&
		    quote_state(cmd, i - 1) == 0) {
			o.len--; /* drop the opening quote written before */
			i += 2;	 /* and skip the closing one */
		} else {
			i++;
			if (st != 0 && !warned) {
				cv_note(notes,
				    "line %d: the MDA command has %%%c inside quotes; popfetch quotes the address itself: check the command",
				    line, cmd[i]);
				warned = true;
			}
		}
		if (f)
			cv_out_adds(&o, "%F");
		else
			add_shell_word(&o, t_repl);
	}
	return o.p;
}
