/*
 * config-show.c: what a resolved config looks like to its user:
 * --show-config (each effective setting and where it came from) and the
 * warnings worth giving when a config is loaded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "popfetch/config.h"
#include "popfetch/xmalloc.h"
#include "config-private.h"

/* Groups whose built-in default is worth a line when nothing set them. */
static bool
group_has_default(enum key_group g)
{
	return g == KG_TLS || g == KG_FETCH;
}

/* A field of a by its table offset. */
static const void *
field(const struct account *a, const struct key_def *k)
{
	return (const char *)a + k->off;
}

/* Values of the special keys, as the file would say them. */
static const char *
special_value(const struct account *a, const char *key, char *buf, size_t sz)
{
	static const char *const tls[] = {
	    [CONN_TLS_NONE] = "off",
	    [CONN_TLS_IMPLICIT] = "on",
	    [CONN_TLS_STARTTLS] = "starttls",
	};
	size_t i;

	if (strcmp(key, "port") == 0)
		return account_port(a);
	if (strcmp(key, "ipv4") == 0 || strcmp(key, "ipv6") == 0)
		return a->family == (key[3] == '4' ? AF_INET : AF_INET6)
		    ? "on"
		    : "off";
	if (strcmp(key, "tls") == 0)
		return tls[a->tls];
	if (strcmp(key, "starttls") == 0)
		return a->tls == CONN_TLS_STARTTLS ? "on" : "off";
	if (strcmp(key, "no_tls") == 0)
		return a->tls == CONN_TLS_NONE ? "on" : "off";
	if (strcmp(key, "fingerprint") == 0)
		return a->fingerprint;
	if (strcmp(key, "tls_min") == 0)
		return a->tls_min == 13 ? "1.3" : "1.2";
	if (strcmp(key, "auth") == 0)
		return auth_mech_names[a->auth];
	if (strcmp(key, "password") == 0)
		return a->password != NULL ? "********" : NULL;
	if (strcmp(key, "stdout") == 0)
		return a->sink == SINK_STDOUT ? "on" : "off";
	if (strcmp(key, "only_new") == 0)
		return a->fetch_all ? "off" : "on";
	if (strcmp(key, "delete_after") == 0) {
		if (a->delete_after < 0)
			return "off";
		snprintf(buf, sz, "%ld", a->delete_after);
		return buf;
	}
	if (strcmp(key, "limit") == 0) {
		snprintf(buf, sz, "%lu", a->limit);
		return buf;
	}
	if (strcmp(key, "quiet_temporary") == 0) {
		snprintf(buf, sz, "%d", a->quiet_temporary);
		return buf;
	}
	if (strcmp(key, "recipient") == 0)
		return a->recipient;
	for (i = 0; i < 5; i++) {
		static const char *const tk[] = {
		    "maildir", "mbox", "mda", "lmtp", "smtp"};
		static const enum sink_kind kinds[] = {
		    SINK_MAILDIR, SINK_MBOX, SINK_MDA, SINK_LMTP, SINK_SMTP};

		if (strcmp(key, tk[i]) == 0)
			return a->sink == kinds[i] ? a->sink_path : NULL;
	}
	return NULL;
}

/* The effective value of key k in a, or NULL when it has none. */
static const char *
shown_value(
    const struct account *a, const struct key_def *k, char *buf, size_t sz)
{
	switch (k->type) {
	case KT_STR:
	case KT_PATH:
	case KT_REACH:
		return *(char *const *)field(a, k);
	case KT_BOOL:
		return *(const bool *)field(a, k) ? "on" : "off";
	case KT_SECS:
		snprintf(buf, sz, "%d", *(const int *)field(a, k));
		return buf;
	case KT_SIZE:
		snprintf(
		    buf, sz, "%llu", *(const unsigned long long *)field(a, k));
		return buf;
	case KT_SPECIAL:
		break;
	}
	return special_value(a, k->name, buf, sz);
}

/* A value the way the file would need it: quoted when it is empty, has
 * white space at an end, or holds a quote, a backslash or a '#'. */
static char *
quoted(const char *v)
{
	size_t n = strlen(v), i;
	char *q, *p;

	if (n > 0 && v[0] != ' ' && v[0] != '\t' && v[n - 1] != ' ' &&
	    v[n - 1] != '\t' && strpbrk(v, "\"\\#") == NULL)
		return xstrdup(v);
	q = p = xmalloc(2 * n + 3);
	*p++ = '"';
	for (i = 0; i < n; i++) {
		if (v[i] == '"' || v[i] == '\\')
			*p++ = '\\';
		*p++ = v[i];
	}
	*p++ = '"';
	*p = '\0';
	return q;
}

/* Append "key value  # origin" to *text. */
static void
add_line(char **text, const char *key, const char *value,
    const struct config_setting *from)
{
	char *q = quoted(value), *origin, *n;

	if (from == NULL)
		origin = xstrdup("default");
	else if (from->file == NULL)
		origin = xstrdup("command line");
	else
		origin = xasprintf("%s:%d", from->file, from->line);
	n = xasprintf("%s%s %s  # %s\n", *text, key, q, origin);
	free(*text);
	*text = n;
	free(q);
	free(origin);
}

/* Whether any key of group g has a winner. */
static bool
group_set(const struct config_winners *win, enum key_group g)
{
	size_t j;

	for (j = 0; j < config_nkeys; j++)
		if (config_keys[j].group == g && win->w[j] != NULL)
			return true;
	return false;
}

int
config_show(const struct config *cfg, const char *name,
    const struct config_settings *cli, char **text, struct pf_err *err)
{
	struct config_winners win;
	struct account a;
	bool group_done[KG_COUNT] = {false};
	size_t k;

	*text = NULL;
	if (config_resolve_winners(
		cfg, name, cli, CONFIG_NEED_NOTHING, &a, &win, err) < 0)
		return -1;
	*text = xasprintf(
	    "# account %s (%s)\n", name != NULL ? name : "-", a.origin);
	for (k = 0; k < config_nkeys; k++) {
		const struct key_def *kd = &config_keys[k];
		const char *v;
		char buf[32];

		if (kd->group != KG_NONE && win.w[k] == NULL) {
			/* a group nothing set: its default, once */
			if (!group_has_default(kd->group) ||
			    group_done[kd->group] || group_set(&win, kd->group))
				continue;
		}
		if (kd->group != KG_NONE)
			group_done[kd->group] = true;
		v = shown_value(&a, kd, buf, sizeof(buf));
		if (v != NULL)
			add_line(text, kd->name, v, win.w[k]);
	}
	account_free(&a);
	return 0;
}

/* The syslog line of the run block. */
static char *
show_syslog(const struct config *cfg, bool cli_syslog)
{
	if (cli_syslog)
		return xstrdup("# run\nsyslog on  # command line\n");
	if (cfg != NULL && cfg->syslog_line > 0)
		return xasprintf("# run\nsyslog %s  # %s:%d\n",
		    cfg->syslog ? "on" : "off", cfg->path, cfg->syslog_line);
	return xstrdup("# run\nsyslog off  # default\n");
}

char *
config_show_run(const struct config *cfg, bool cli_syslog)
{
	char *s = show_syslog(cfg, cli_syslog), *out;

	if (cfg == NULL || cfg->daemon_line == 0)
		return s;
	out = xasprintf("%sdaemon %d  # %s:%d\n", s, cfg->daemon, cfg->path,
	    cfg->daemon_line);
	free(s);
	return out;
}

int
config_show_all(const struct config *cfg, const struct account *accts, size_t n,
    const struct config_settings *cli, bool cli_syslog, FILE *fp,
    struct pf_err *err)
{
	char *text = config_show_run(cfg, cli_syslog);
	size_t i;

	fputs(text, fp);
	free(text);
	for (i = 0; i < n; i++) {
		if (config_show(cfg, accts[i].name, cli, &text, err) < 0)
			return -1;
		fprintf(fp, "\n%s", text);
		free(text);
	}
	if (fflush(fp) != 0 || ferror(fp))
		return pf_err_sys(err, PF_EIO, "cannot write the settings");
	return 0;
}

/* Whether an account deletes messages on the server. */
static bool
deletes(const struct account *a)
{
	return !a->keep || a->delete_after >= 0;
}

/* Whether a and b read one mailbox: user, host without case, port. */
static bool
same_mailbox(const struct account *a, const struct account *b)
{
	return a->user != NULL && b->user != NULL && a->host != NULL &&
	    b->host != NULL && strcmp(a->user, b->user) == 0 &&
	    strcasecmp(a->host, b->host) == 0 &&
	    strcmp(account_port(a), account_port(b)) == 0;
}

/* The warning about two accounts on one mailbox. */
static void
warn_shared(const struct account *a, const struct account *b,
    void (*warn)(void *ctx, const char *msg), void *ctx)
{
	char *id = account_id(a), *msg;

	if (deletes(a) && deletes(b))
		msg = xasprintf(
		    "accounts '%s' and '%s' read the same mailbox (%s) and both delete: each gets only what the other leaves on the server",
		    a->name, b->name, id);
	else
		msg = xasprintf(
		    "accounts '%s' and '%s' read the same mailbox (%s) and '%s' deletes: '%s' gets only what '%s' leaves on the server",
		    a->name, b->name, id, deletes(a) ? a->name : b->name,
		    deletes(a) ? b->name : a->name,
		    deletes(a) ? a->name : b->name);
	warn(ctx, msg);
	free(msg);
	free(id);
}

void
config_lint(const struct config *cfg, const struct config_settings *cli,
    void (*warn)(void *ctx, const char *msg), void *ctx)
{
	struct config_winners win;
	struct account *accts;
	bool *ok;
	size_t i, j;

	if (cfg == NULL || cfg->naccounts < 2)
		return;
	accts = xcalloc(cfg->naccounts, sizeof(*accts));
	ok = xcalloc(cfg->naccounts, sizeof(*ok));
	for (i = 0; i < cfg->naccounts; i++) {
		struct pf_err ignored;

		/* an account with errors gets them when it is run */
		ok[i] =
		    config_resolve_winners(cfg, cfg->accounts[i].name, cli,
			CONFIG_NEED_NOTHING, &accts[i], &win, &ignored) == 0;
	}
	for (i = 0; i < cfg->naccounts; i++)
		for (j = i + 1; ok[i] && j < cfg->naccounts; j++)
			if (ok[j] && same_mailbox(&accts[i], &accts[j]) &&
			    (deletes(&accts[i]) || deletes(&accts[j])))
				warn_shared(&accts[i], &accts[j], warn, ctx);
	for (i = 0; i < cfg->naccounts; i++)
		if (ok[i])
			account_free(&accts[i]);
	free(accts);
	free(ok);
}
