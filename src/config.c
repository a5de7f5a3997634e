/* config.c: the config file parser and account resolution. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "popfetch/config.h"
#include "popfetch/proxy.h"
#include "popfetch/xmalloc.h"
#include "compat.h"

#define CONFIG_MAX_LINE	 4096
#define CONFIG_MAX_DEPTH 16
#ifndef S_ISVTX
#define S_ISVTX 01000 /* XSI; not declared in strict POSIX mode */
#endif

/* The kinds of value a key takes. */
enum key_type {
	KT_STR,	 /* any text */
	KT_PATH, /* text with ~/ expanded */
	KT_BOOL, /* on/off, yes/no, true/false, 1/0; flag alone = on */
	KT_SECS, /* seconds, 1 .. 86400 */
	KT_NUM,	 /* non-negative count */
	KT_SIZE, /* bytes, with an optional k/M/G suffix */
	KT_SPECIAL,
	KT_REACH, /* host, proxy, tunnel, source_address: apply_reach() */
};

struct key_def {
	const char *name;
	enum key_type type;
	size_t off; /* offset in struct account for the plain types */
};

#define F(field) offsetof(struct account, field)

/* Every account key; the CLI long options are these with '-' for '_'. */
static const struct key_def key_defs[] = {
    {"host", KT_REACH, 0},
    {"port", KT_SPECIAL, 0},
    {"user", KT_STR, F(user)},
    {"ipv4", KT_SPECIAL, 0},
    {"ipv6", KT_SPECIAL, 0},
    {"tls", KT_SPECIAL, 0},
    {"starttls", KT_SPECIAL, 0},
    {"no_tls", KT_SPECIAL, 0},
    {"ca_file", KT_PATH, F(ca_file)},
    {"fingerprint", KT_SPECIAL, 0},
    {"tls_min", KT_SPECIAL, 0},
    {"cert", KT_PATH, F(cert_file)},
    {"key", KT_PATH, F(key_file)},
    {"insecure", KT_BOOL, F(insecure)},
    {"auth", KT_SPECIAL, 0},
    {"password_command", KT_STR, F(password_command)},
    {"password", KT_SPECIAL, 0},
    {"timeout", KT_SECS, F(timeout)},
    {"maildir", KT_SPECIAL, 0},
    {"mbox", KT_SPECIAL, 0},
    {"mda", KT_SPECIAL, 0},
    {"stdout", KT_SPECIAL, 0},
    {"no_received", KT_BOOL, F(no_received)},
    {"lock_wait", KT_SECS, F(lock_wait)},
    {"mda_timeout", KT_SECS, F(mda_timeout)},
    {"keep", KT_BOOL, F(keep)},
    {"only_new", KT_SPECIAL, 0},
    {"all", KT_BOOL, F(fetch_all)},
    {"delete_after", KT_SPECIAL, 0},
    {"max_size", KT_SIZE, F(max_size)},
    {"kill_size", KT_SIZE, F(kill_size)},
    {"limit", KT_SPECIAL, 0},
    {"state_dir", KT_PATH, F(state_dir)},
    /* reach (round two) */
    {"proxy", KT_REACH, 0},
    {"proxy_password_command", KT_STR, F(proxy_password_command)},
    {"tunnel", KT_REACH, 0},
    {"source_address", KT_REACH, 0},
};

#undef F

/* Look a key up in the table. */
static const struct key_def *
key_find(const char *key)
{
	size_t i;

	for (i = 0; i < sizeof(key_defs) / sizeof(key_defs[0]); i++)
		if (strcmp(key_defs[i].name, key) == 0)
			return &key_defs[i];
	return NULL;
}

bool
config_is_key(const char *key)
{
	return key_find(key) != NULL;
}

void
config_settings_add(struct config_settings *s, const char *key,
    const char *value, const char *file, int line)
{
	struct config_setting *c;

	if (s->n == s->cap) {
		s->cap = s->cap == 0 ? 16 : s->cap * 2;
		s->v = xreallocarray(s->v, s->cap, sizeof(*s->v));
	}
	c = &s->v[s->n++];
	c->key = xstrdup(key);
	c->value = value != NULL ? xstrdup(value) : NULL;
	c->file = file != NULL ? xstrdup(file) : NULL;
	c->line = line;
}

void
config_settings_free(struct config_settings *s)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		if (s->v[i].value != NULL &&
		    strcmp(s->v[i].key, "password") == 0)
			xfree_secret(s->v[i].value);
		else
			free(s->v[i].value);
		free(s->v[i].key);
		free(s->v[i].file);
	}
	free(s->v);
	memset(s, 0, sizeof(*s));
}

char *
config_expand_tilde(const char *path)
{
	const char *home = getenv("HOME");

	if (path[0] == '~' && (path[1] == '/' || path[1] == '\0') &&
	    home != NULL && home[0] != '\0')
		return xasprintf("%s%s", home, path + 1);
	return xstrdup(path);
}

char *
config_default_path(void)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	char *p;

	if (xdg != NULL && xdg[0] == '/') {
		p = xasprintf("%s/popfetch/config", xdg);
		if (access(p, F_OK) == 0)
			return p;
		free(p);
	}
	if (home == NULL || home[0] == '\0')
		home = ".";
	p = xasprintf("%s/.config/popfetch/config", home);
	if (access(p, F_OK) == 0)
		return p;
	free(p);
	return xasprintf("%s/.popfetchrc", home);
}

char *
config_default_state_dir(void)
{
	const char *xdg = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");

	if (xdg != NULL && xdg[0] == '/')
		return xasprintf("%s/popfetch", xdg);
	if (home == NULL || home[0] == '\0')
		home = ".";
	return xasprintf("%s/.local/state/popfetch", home);
}

/* Parse on/off style booleans; a flag given without value means on. */
static int
parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = {"on", "yes", "true", "1"};
	static const char *const no[] = {"off", "no", "false", "0"};
	size_t i;

	if (v == NULL) {
		*out = true;
		return 0;
	}
	for (i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

/* A strict unsigned decimal with an optional size suffix. */
static int
parse_ull(
    const char *v, bool suffix, unsigned long long max, unsigned long long *out)
{
	unsigned long long n = 0, mult = 1;
	const char *p = v;

	if (v == NULL || !isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		unsigned d = (unsigned)(*p - '0');

		if (n > (ULLONG_MAX - d) / 10)
			return -1;
		n = n * 10 + d;
	}
	if (suffix && *p != '\0') {
		switch (*p) {
		case 'k':
		case 'K':
			mult = 1024ULL;
			break;
		case 'm':
		case 'M':
			mult = 1024ULL * 1024;
			break;
		case 'g':
		case 'G':
			mult = 1024ULL * 1024 * 1024;
			break;
		default:
			return -1;
		}
		p++;
		if (*p == 'b' || *p == 'B')
			p++;
	}
	if (*p != '\0')
		return -1;
	if (n > ULLONG_MAX / mult)
		return -1;
	n *= mult;
	if (n > max)
		return -1;
	*out = n;
	return 0;
}

/* Replace a string field. */
static void
set_str(char **field, const char *v)
{
	free(*field);
	*field = v != NULL ? xstrdup(v) : NULL;
}

/*
 * The reach keys (round two): host (NAME, ADDRESS, [ADDRESS], with an
 * optional :PORT), proxy, tunnel and source_address, checked by the conn
 * module's parsers. An empty value removes an inherited proxy, tunnel or
 * source address.
 */
static int
apply_reach(
    struct account *a, const char *key, const char *v, struct pf_err *err)
{
	char host[PROXY_NAME_MAX + 1], port[8];
	struct proxy_url u;
	char *cmd;

	if (strcmp(key, "host") == 0) {
		if (conn_parse_host(v, host, sizeof(host), port, sizeof(port)) <
		    0)
			return pf_err_set(err, PF_ECONFIG,
			    "invalid host '%s' (NAME, ADDRESS or [ADDRESS], optionally with :PORT)",
			    v);
		set_str(&a->host, host);
		if (port[0] != '\0')
			set_str(&a->port, port);
	} else if (strcmp(key, "proxy") == 0) {
		if (v[0] != '\0' && proxy_parse_url(v, &u, err) < 0)
			return -1;
		set_str(&a->proxy, v[0] != '\0' ? v : NULL);
	} else if (strcmp(key, "tunnel") == 0) {
		if ((cmd = conn_tunnel_command(v, "h", "1", err)) == NULL)
			return -1;
		free(cmd);
		set_str(&a->tunnel, v[0] != '\0' ? v : NULL);
	} else {
		if (v[0] != '\0' &&
		    conn_parse_address(v, host, sizeof(host)) < 0)
			return pf_err_set(err, PF_ECONFIG,
			    "invalid source address '%s' (an IPv4 or IPv6 address)",
			    v);
		set_str(&a->source_address, v[0] != '\0' ? host : NULL);
	}
	return 0;
}

/* Keys whose values need more than a table entry. */
static int
apply_special(
    struct account *a, const char *key, const char *v, struct pf_err *err)
{
	unsigned long long n;
	bool b;

	if (strcmp(key, "port") == 0) {
		if (parse_ull(v, false, 65535, &n) < 0 || n == 0)
			return pf_err_set(err, PF_ECONFIG, "invalid port '%s'",
			    v != NULL ? v : "");
		set_str(&a->port, v);
	} else if (strcmp(key, "ipv4") == 0 || strcmp(key, "ipv6") == 0) {
		if (parse_bool(v, &b) < 0)
			goto badbool;
		if (b)
			a->family = key[3] == '4' ? AF_INET : AF_INET6;
		else
			a->family = AF_UNSPEC;
	} else if (strcmp(key, "tls") == 0) {
		if (v != NULL && strcasecmp(v, "starttls") == 0)
			a->tls = CONN_TLS_STARTTLS;
		else if (v != NULL && strcasecmp(v, "implicit") == 0)
			a->tls = CONN_TLS_IMPLICIT;
		else if (parse_bool(v, &b) < 0)
			return pf_err_set(err, PF_ECONFIG,
			    "invalid value '%s' for tls (on, off or starttls)",
			    v);
		else
			a->tls = b ? CONN_TLS_IMPLICIT : CONN_TLS_NONE;
	} else if (strcmp(key, "starttls") == 0) {
		if (parse_bool(v, &b) < 0)
			goto badbool;
		a->tls = b ? CONN_TLS_STARTTLS : CONN_TLS_IMPLICIT;
	} else if (strcmp(key, "no_tls") == 0) {
		if (parse_bool(v, &b) < 0)
			goto badbool;
		a->tls = b ? CONN_TLS_NONE : CONN_TLS_IMPLICIT;
	} else if (strcmp(key, "fingerprint") == 0) {
		char hex[65];

		if (v == NULL || conn_parse_fingerprint(v, hex) < 0)
			return pf_err_set(err, PF_ECONFIG,
			    "invalid SHA-256 fingerprint '%s'",
			    v != NULL ? v : "");
		set_str(&a->fingerprint, hex);
	} else if (strcmp(key, "tls_min") == 0) {
		if (v != NULL && strcmp(v, "1.2") == 0)
			a->tls_min = 12;
		else if (v != NULL && strcmp(v, "1.3") == 0)
			a->tls_min = 13;
		else
			return pf_err_set(err, PF_ECONFIG,
			    "invalid value '%s' for tls_min (1.2 or 1.3)",
			    v != NULL ? v : "");
	} else if (strcmp(key, "auth") == 0) {
		if (v == NULL || auth_mech_parse(v, &a->auth) < 0)
			return pf_err_set(err, PF_ECONFIG,
			    "unknown authentication mechanism '%s'",
			    v != NULL ? v : "");
	} else if (strcmp(key, "password") == 0) {
		xfree_secret(a->password);
		a->password = v != NULL ? xstrdup(v) : NULL;
	} else if (strcmp(key, "maildir") == 0 || strcmp(key, "mbox") == 0 ||
	    strcmp(key, "mda") == 0) {
		if (v == NULL || v[0] == '\0')
			return pf_err_set(
			    err, PF_ECONFIG, "%s needs a value", key);
		a->sink = key[1] == 'a' ? SINK_MAILDIR
		    : key[1] == 'b'	? SINK_MBOX
					: SINK_MDA;
		free(a->sink_path);
		a->sink_path =
		    a->sink == SINK_MDA ? xstrdup(v) : config_expand_tilde(v);
	} else if (strcmp(key, "stdout") == 0) {
		if (parse_bool(v, &b) < 0)
			goto badbool;
		if (b) {
			a->sink = SINK_STDOUT;
			set_str(&a->sink_path, NULL);
		} else if (a->sink == SINK_STDOUT) {
			a->sink = SINK_NONE;
		}
	} else if (strcmp(key, "only_new") == 0) {
		if (parse_bool(v, &b) < 0)
			goto badbool;
		a->fetch_all = !b;
	} else if (strcmp(key, "delete_after") == 0) {
		if (parse_ull(v, false, 100000, &n) < 0)
			return pf_err_set(err, PF_ECONFIG,
			    "invalid number of days '%s'", v != NULL ? v : "");
		a->delete_after = (long)n;
	} else if (strcmp(key, "limit") == 0) {
		if (parse_ull(v, false, 100000000, &n) < 0)
			return pf_err_set(err, PF_ECONFIG, "invalid limit '%s'",
			    v != NULL ? v : "");
		a->limit = (unsigned long)n;
	}
	return 0;
badbool:
	return pf_err_set(err, PF_ECONFIG,
	    "invalid value '%s' for %s (on or off)", v != NULL ? v : "", key);
}

int
config_apply(
    struct account *a, const char *key, const char *value, struct pf_err *err)
{
	const struct key_def *k = key_find(key);
	char *base = (char *)a;
	unsigned long long n;
	bool b;

	if (k == NULL)
		return pf_err_set(err, PF_ECONFIG, "unknown key '%s'", key);
	if (value == NULL && k->type != KT_BOOL && k->type != KT_SPECIAL)
		return pf_err_set(err, PF_ECONFIG, "%s needs a value", key);
	switch (k->type) {
	case KT_STR:
		set_str((char **)(void *)(base + k->off), value);
		break;
	case KT_PATH:
		free(*(char **)(void *)(base + k->off));
		*(char **)(void *)(base + k->off) = config_expand_tilde(value);
		break;
	case KT_BOOL:
		if (parse_bool(value, &b) < 0)
			return pf_err_set(err, PF_ECONFIG,
			    "invalid value '%s' for %s (on or off)", value,
			    key);
		*(bool *)(void *)(base + k->off) = b;
		break;
	case KT_SECS:
		if (parse_ull(value, false, 86400, &n) < 0 || n == 0)
			return pf_err_set(err, PF_ECONFIG,
			    "invalid number of seconds '%s' for %s", value,
			    key);
		*(int *)(void *)(base + k->off) = (int)n;
		break;
	case KT_NUM:
	case KT_SIZE:
		if (parse_ull(value, k->type == KT_SIZE, ULLONG_MAX, &n) < 0)
			return pf_err_set(err, PF_ECONFIG,
			    "invalid size '%s' for %s", value, key);
		*(unsigned long long *)(void *)(base + k->off) = n;
		break;
	case KT_SPECIAL:
		return apply_special(a, key, value, err);
	case KT_REACH:
		return apply_reach(a, key, value, err);
	}
	return 0;
}

/* Built-in defaults (SPEC.md section 1). */
static void
account_defaults(struct account *a)
{
	memset(a, 0, sizeof(*a));
	a->family = AF_UNSPEC;
	a->tls = CONN_TLS_IMPLICIT;
	a->tls_min = 12;
	a->auth = AUTH_AUTO;
	a->timeout = 60;
	a->sink = SINK_NONE;
	a->lock_wait = 30;
	a->mda_timeout = 300;
	a->delete_after = -1;
}

void
account_free(struct account *a)
{
	free(a->name);
	free(a->host);
	free(a->port);
	free(a->user);
	free(a->ca_file);
	free(a->fingerprint);
	free(a->cert_file);
	free(a->key_file);
	free(a->password_command);
	xfree_secret(a->password);
	free(a->proxy);
	free(a->proxy_password_command);
	free(a->tunnel);
	free(a->source_address);
	free(a->sink_path);
	free(a->state_dir);
	free(a->origin);
	memset(a, 0, sizeof(*a));
}

/* Apply a list of settings, naming the file and line (or option) of the
 * first one that fails. */
static int
apply_settings(
    struct account *a, const struct config_settings *s, struct pf_err *err)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		const struct config_setting *c = &s->v[i];

		if (config_apply(a, c->key, c->value, err) == 0)
			continue;
		if (c->file != NULL)
			return pf_err_prefix(
			    err, "%s:%d: %s", c->file, c->line, c->key);
		err->code = PF_EUSAGE;
		return pf_err_prefix(err, "option --%s", c->key);
	}
	return 0;
}

const struct config_account *
config_find(const struct config *cfg, const char *name)
{
	size_t i;

	for (i = 0; cfg != NULL && i < cfg->naccounts; i++)
		if (strcmp(cfg->accounts[i].name, name) == 0)
			return &cfg->accounts[i];
	return NULL;
}

/* Apply an account block after its parents, root first. */
static int
apply_chain(const struct config *cfg, const struct config_account *ca,
    struct account *a, int depth, struct pf_err *err)
{
	if (depth > CONFIG_MAX_DEPTH)
		return pf_err_set(err, PF_ECONFIG,
		    "%s:%d: account '%s': inheritance too deep (a loop?)",
		    cfg->path, ca->line, ca->name);
	if (ca->parent != NULL) {
		const struct config_account *p = config_find(cfg, ca->parent);

		if (p == NULL)
			return pf_err_set(err, PF_ECONFIG,
			    "%s:%d: account '%s': unknown parent account '%s'",
			    cfg->path, ca->line, ca->name, ca->parent);
		if (apply_chain(cfg, p, a, depth + 1, err) < 0)
			return -1;
	}
	return apply_settings(a, &ca->settings, err);
}

int
config_resolve(const struct config *cfg, const char *name,
    const struct config_settings *cli, bool probe_only, struct account *out,
    struct pf_err *err)
{
	const struct config_account *ca = NULL;
	enum pf_errc code = PF_EUSAGE;

	account_defaults(out);
	if (name != NULL) {
		ca = config_find(cfg, name);
		if (ca == NULL)
			return pf_err_set(err,
			    cfg != NULL && cfg->path != NULL ? PF_ECONFIG
							     : PF_EUSAGE,
			    "no account '%s' in %s", name,
			    cfg != NULL && cfg->path != NULL
				? cfg->path
				: "the configuration");
		out->name = xstrdup(name);
		out->origin = xasprintf("%s:%d", cfg->path, ca->line);
		code = PF_ECONFIG;
		if (apply_settings(out, &cfg->defaults, err) < 0 ||
		    apply_chain(cfg, ca, out, 0, err) < 0)
			goto fail;
	} else {
		out->origin = xstrdup("command line");
	}
	if (cli != NULL && apply_settings(out, cli, err) < 0)
		goto fail;

	if (out->host == NULL || out->host[0] == '\0') {
		pf_err_set(err, code, "%s: no host given (--host or 'host')",
		    out->origin);
		goto fail;
	}
	if (probe_only)
		goto done;
	if (out->user == NULL || out->user[0] == '\0') {
		pf_err_set(err, code, "%s: no user given (--user or 'user')",
		    out->origin);
		goto fail;
	}
	if (out->sink == SINK_NONE) {
		pf_err_set(err, code,
		    "%s: no delivery target (--maildir, --mbox, --mda or --stdout)",
		    out->origin);
		goto fail;
	}
done:
	if (out->state_dir == NULL)
		out->state_dir = config_default_state_dir();
	return 0;
fail:
	account_free(out);
	return -1;
}

char *
account_id(const struct account *a)
{
	return xasprintf("%s@%s:%s", a->user, a->host, account_port(a));
}

const char *
account_port(const struct account *a)
{
	if (a->port != NULL)
		return a->port;
	return a->tls == CONN_TLS_IMPLICIT ? "995" : "110";
}

/* Split "key value" into its parts: value is the rest of the line, with
 * optional double quotes (\" and \\ inside). Returns 0 or -1. */
static int
split_line(char *line, char **key, char **value)
{
	char *p = line, *v, *o;

	*key = p;
	while (*p != '\0' && !isspace((unsigned char)*p))
		p++;
	if (*p == '\0') {
		*value = NULL;
		return 0;
	}
	*p++ = '\0';
	while (isspace((unsigned char)*p))
		p++;
	if (*p != '"') {
		char *end = p + strlen(p);

		while (end > p && isspace((unsigned char)end[-1]))
			*--end = '\0';
		*value = *p != '\0' ? p : NULL;
		return 0;
	}
	v = o = ++p;
	for (; *p != '"'; p++) {
		if (*p == '\0')
			return -1;
		if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
			p++;
		*o++ = *p;
	}
	p++;
	while (isspace((unsigned char)*p))
		p++;
	if (*p != '\0')
		return -1;
	*o = '\0';
	*value = v;
	return 0;
}

/*
 * Someone who can write the directory of a file holding a password can
 * replace the file: refuse a directory writable by group or others unless
 * it is sticky (like /tmp), or one owned by another user but root.
 */
static int
check_secret_dir(const char *path, struct pf_err *err)
{
	const char *slash = strrchr(path, '/');
	struct stat sb;
	char *dir;
	int ret = 0;

	dir = slash == NULL ? xstrdup(".")
	    : slash == path ? xstrdup("/")
			    : xstrndup(path, (size_t)(slash - path));
	if (stat(dir, &sb) < 0)
		ret = pf_err_sys(err, PF_ECONFIG, "cannot stat '%s'", dir);
	else if ((sb.st_mode & 022) != 0 && (sb.st_mode & S_ISVTX) == 0)
		ret = pf_err_set(err, PF_ECONFIG,
		    "'%s' holds a password but its directory '%s' is writable by others",
		    path, dir);
	else if (sb.st_uid != geteuid() && sb.st_uid != 0)
		ret = pf_err_set(err, PF_ECONFIG,
		    "'%s' holds a password but its directory '%s' belongs to another user",
		    path, dir);
	free(dir);
	return ret;
}

/* Refuse a file holding passwords that others could read or change. */
static int
check_secret_file(const char *path, int fd, struct pf_err *err)
{
	struct stat sb;

	if (fstat(fd, &sb) < 0)
		return pf_err_sys(err, PF_ECONFIG, "cannot stat '%s'", path);
	if (sb.st_uid != geteuid())
		return pf_err_set(err, PF_ECONFIG,
		    "'%s' holds a password but is owned by another user", path);
	if ((sb.st_mode & 077) != 0)
		return pf_err_set(err, PF_ECONFIG,
		    "'%s' holds a password but is accessible by group or others (chmod 600 it)",
		    path);
	return check_secret_dir(path, err);
}

int
config_load(
    const char *path, bool must_exist, struct config *cfg, struct pf_err *err)
{
	struct config_settings *cur = NULL;
	char line[CONFIG_MAX_LINE + 2];
	char iobuf[BUFSIZ]; /* ours, so the password in it can be wiped */
	FILE *fp;
	int lineno = 0, fd;

	memset(cfg, 0, sizeof(*cfg));
	fp = fopen(path, "re");
	if (fp == NULL) {
		if (errno == ENOENT && !must_exist)
			return 0;
		return pf_err_sys(
		    err, PF_ECONFIG, "cannot open config '%s'", path);
	}
	setvbuf(fp, iobuf, _IOFBF, sizeof(iobuf));
	cfg->path = xstrdup(path);
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *p = line, *key, *value;
		size_t len = strlen(line);

		lineno++;
		if (len > CONFIG_MAX_LINE) {
			pf_err_set(err, PF_ECONFIG, "%s:%d: line too long",
			    path, lineno);
			goto fail;
		}
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\0' || *p == '#')
			continue;
		if (split_line(p, &key, &value) < 0) {
			pf_err_set(err, PF_ECONFIG,
			    "%s:%d: unterminated quoted value", path, lineno);
			goto fail;
		}
		if (strcmp(key, "defaults") == 0) {
			if (value != NULL) {
				pf_err_set(err, PF_ECONFIG,
				    "%s:%d: defaults takes no value", path,
				    lineno);
				goto fail;
			}
			cur = &cfg->defaults;
		} else if (strcmp(key, "account") == 0) {
			struct config_account *ca;
			char *name = value, *parent = NULL, *colon;

			if (name == NULL) {
				pf_err_set(err, PF_ECONFIG,
				    "%s:%d: account needs a name", path,
				    lineno);
				goto fail;
			}
			colon = strchr(name, ':');
			if (colon != NULL) {
				char *e = colon;

				while (
				    e > name && isspace((unsigned char)e[-1]))
					e--;
				*e = '\0';
				parent = colon + 1;
				while (isspace((unsigned char)*parent))
					parent++;
				if (*parent == '\0' ||
				    strpbrk(parent, " \t") != NULL) {
					pf_err_set(err, PF_ECONFIG,
					    "%s:%d: account: invalid parent name",
					    path, lineno);
					goto fail;
				}
			}
			if (*name == '\0' || strpbrk(name, " \t") != NULL) {
				pf_err_set(err, PF_ECONFIG,
				    "%s:%d: account: invalid name", path,
				    lineno);
				goto fail;
			}
			if (config_find(cfg, name) != NULL) {
				pf_err_set(err, PF_ECONFIG,
				    "%s:%d: account '%s' defined twice", path,
				    lineno, name);
				goto fail;
			}
			cfg->accounts = xreallocarray(cfg->accounts,
			    cfg->naccounts + 1, sizeof(*cfg->accounts));
			ca = &cfg->accounts[cfg->naccounts++];
			memset(ca, 0, sizeof(*ca));
			ca->name = xstrdup(name);
			ca->parent = parent != NULL ? xstrdup(parent) : NULL;
			ca->line = lineno;
			cur = &ca->settings;
		} else if (strcmp(key, "default") == 0) {
			if (value == NULL) {
				pf_err_set(err, PF_ECONFIG,
				    "%s:%d: default needs an account name",
				    path, lineno);
				goto fail;
			}
			free(cfg->default_name);
			cfg->default_name = xstrdup(value);
			cfg->default_line = lineno;
		} else {
			struct account probe;

			if (!config_is_key(key)) {
				pf_err_set(err, PF_ECONFIG,
				    "%s:%d: unknown key '%s'", path, lineno,
				    key);
				goto fail;
			}
			if (cur == NULL) {
				pf_err_set(err, PF_ECONFIG,
				    "%s:%d: %s: outside of 'defaults' or an 'account'",
				    path, lineno, key);
				goto fail;
			}
			/* Check the value now so the error names this line. */
			account_defaults(&probe);
			if (config_apply(&probe, key, value, err) < 0) {
				account_free(&probe);
				pf_err_prefix(
				    err, "%s:%d: %s", path, lineno, key);
				goto fail;
			}
			account_free(&probe);
			if (strcmp(key, "password") == 0)
				cfg->has_password = true;
			config_settings_add(cur, key, value, path, lineno);
		}
		explicit_bzero(line, sizeof(line));
	}
	explicit_bzero(line, sizeof(line));
	if (ferror(fp)) {
		pf_err_sys(err, PF_ECONFIG, "cannot read config '%s'", path);
		goto fail;
	}
	fd = fileno(fp);
	if (cfg->has_password && check_secret_file(path, fd, err) < 0)
		goto fail;
	for (size_t i = 0; i < cfg->naccounts; i++) {
		const struct config_account *ca = &cfg->accounts[i];

		if (ca->parent != NULL &&
		    config_find(cfg, ca->parent) == NULL) {
			pf_err_set(err, PF_ECONFIG,
			    "%s:%d: account '%s': unknown parent account '%s'",
			    path, ca->line, ca->name, ca->parent);
			goto fail;
		}
	}
	if (cfg->default_name != NULL &&
	    config_find(cfg, cfg->default_name) == NULL) {
		pf_err_set(err, PF_ECONFIG,
		    "%s:%d: default: account '%s' is not defined", path,
		    cfg->default_line, cfg->default_name);
		goto fail;
	}
	fclose(fp);
	explicit_bzero(iobuf, sizeof(iobuf));
	return 0;
fail:
	explicit_bzero(line, sizeof(line));
	fclose(fp);
	explicit_bzero(iobuf, sizeof(iobuf));
	config_free(cfg);
	return -1;
}

void
config_free(struct config *cfg)
{
	size_t i;

	free(cfg->path);
	config_settings_free(&cfg->defaults);
	for (i = 0; i < cfg->naccounts; i++) {
		free(cfg->accounts[i].name);
		free(cfg->accounts[i].parent);
		config_settings_free(&cfg->accounts[i].settings);
	}
	free(cfg->accounts);
	free(cfg->default_name);
	memset(cfg, 0, sizeof(*cfg));
}
