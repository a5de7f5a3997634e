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
#include "popfetch/num.h"
#include "popfetch/oauth.h"
#include "popfetch/proxy.h"
#include "popfetch/smtp.h"
#include "popfetch/xmalloc.h"
#include "compat.h"
#include "config-private.h"

#define CONFIG_MAX_LINE	 4096
#define CONFIG_MAX_DEPTH 16
#ifndef S_ISVTX
#define S_ISVTX 01000 /* XSI; not declared in strict POSIX mode */
#endif

#define F(field) offsetof(struct account, field)

/*
 * Every account key, in the order --show-config prints them; the CLI long
 * options are these with '-' for '_'. Keys of one group exclude each other
 * (config-private.h).
 */
const struct key_def config_keys[] = {
    {"host", KT_REACH, F(host), KG_NONE},
    {"port", KT_SPECIAL, 0, KG_NONE},
    {"user", KT_STR, F(user), KG_NONE},
    {"ipv4", KT_SPECIAL, 0, KG_FAMILY},
    {"ipv6", KT_SPECIAL, 0, KG_FAMILY},
    {"tls", KT_SPECIAL, 0, KG_TLS},
    {"starttls", KT_SPECIAL, 0, KG_TLS},
    {"no_tls", KT_SPECIAL, 0, KG_TLS},
    {"ca_file", KT_PATH, F(ca_file), KG_NONE},
    {"fingerprint", KT_SPECIAL, 0, KG_NONE},
    {"tls_min", KT_SPECIAL, 0, KG_NONE},
    {"cert", KT_PATH, F(cert_file), KG_NONE},
    {"key", KT_PATH, F(key_file), KG_NONE},
    {"insecure", KT_BOOL, F(insecure), KG_NONE},
    {"auth", KT_SPECIAL, 0, KG_NONE},
    {"password_command", KT_STR, F(password_command), KG_SECRET},
    {"password", KT_SPECIAL, 0, KG_SECRET},
    {"timeout", KT_SECS, F(timeout), KG_NONE},
    {"maildir", KT_SPECIAL, 0, KG_TARGET},
    {"mbox", KT_SPECIAL, 0, KG_TARGET},
    {"mda", KT_SPECIAL, 0, KG_TARGET},
    {"stdout", KT_SPECIAL, 0, KG_TARGET},
    {"lmtp", KT_SPECIAL, 0, KG_TARGET},
    {"smtp", KT_SPECIAL, 0, KG_TARGET},
    {"recipient", KT_SPECIAL, 0, KG_NONE},
    {"delete_refused", KT_BOOL, F(delete_refused), KG_NONE},
    {"no_received", KT_BOOL, F(no_received), KG_NONE},
    {"lock_wait", KT_SECS, F(lock_wait), KG_NONE},
    {"mda_timeout", KT_SECS, F(mda_timeout), KG_NONE},
    {"allow_foreign_mbox", KT_BOOL, F(allow_foreign_mbox), KG_NONE},
    {"keep", KT_BOOL, F(keep), KG_NONE},
    {"only_new", KT_SPECIAL, 0, KG_FETCH},
    {"all", KT_BOOL, F(fetch_all), KG_FETCH},
    {"delete_after", KT_SPECIAL, 0, KG_NONE},
    {"max_size", KT_SIZE, F(max_size), KG_NONE},
    {"kill_size", KT_SIZE, F(kill_size), KG_NONE},
    {"max_message_size", KT_SIZE, F(max_message_size), KG_NONE},
    {"limit", KT_SPECIAL, 0, KG_NONE},
    {"state_dir", KT_PATH, F(state_dir), KG_NONE},
    {"quiet_temporary", KT_SPECIAL, 0, KG_NONE},
    {"proxy", KT_REACH, F(proxy), KG_NONE},
    {"proxy_password_command", KT_STR, F(proxy_password_command), KG_NONE},
    {"tunnel", KT_REACH, F(tunnel), KG_NONE},
    {"source_address", KT_REACH, F(source_address), KG_NONE},
    {"oauth2_provider", KT_SPECIAL, 0, KG_NONE},
    {"oauth2_client_id", KT_STR, F(oauth2_client_id), KG_NONE},
    {"oauth2_client_secret_command", KT_STR, F(oauth2_client_secret_command),
	KG_NONE},
    {"oauth2_tenant", KT_STR, F(oauth2_tenant), KG_NONE},
    {"oauth2_scope", KT_STR, F(oauth2_scope), KG_NONE},
    {"oauth2_authorize_url", KT_STR, F(oauth2_authorize_url), KG_NONE},
    {"oauth2_token_url", KT_STR, F(oauth2_token_url), KG_NONE},
    {"oauth2_device_url", KT_STR, F(oauth2_device_url), KG_NONE},
};
const size_t config_nkeys = sizeof(config_keys) / sizeof(config_keys[0]);
_Static_assert(sizeof(config_keys) / sizeof(config_keys[0]) <= CONFIG_MAX_KEYS,
    "struct config_winners is too small for the key table");

#undef F

/* The delivery keys that name a place, and the sink kind of each. */
static const struct {
	const char *key;
	enum sink_kind kind;
	bool path; /* ~/ expanded */
} targets[] = {
    {"maildir", SINK_MAILDIR, true},
    {"mbox", SINK_MBOX, true},
    {"mda", SINK_MDA, false},
    {"lmtp", SINK_LMTP, true},
    {"smtp", SINK_SMTP, false},
};

int
config_key_index(const char *key)
{
	size_t i;

	for (i = 0; i < config_nkeys; i++)
		if (strcmp(config_keys[i].name, key) == 0)
			return (int)i;
	return -1;
}

/* Look a key up in the table. */
static const struct key_def *
key_find(const char *key)
{
	int i = config_key_index(key);

	return i < 0 ? NULL : &config_keys[i];
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

/* A strict unsigned decimal (num_parse) with an optional size suffix. */
static int
parse_ull(
    const char *v, bool suffix, unsigned long long max, unsigned long long *out)
{
	unsigned long long n, mult = 1;
	const char *p;

	if (num_parse(v, &p, ULLONG_MAX, &n) == -1)
		return -1;
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

/* The special keys of the connection: address family and TLS. Returns
 * 1 when key is not one of them. */
static int
apply_connection(
    struct account *a, const char *key, const char *v, struct pf_err *err)
{
	bool b;

	if (strcmp(key, "ipv4") == 0 || strcmp(key, "ipv6") == 0) {
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
	} else {
		return 1;
	}
	return 0;
badbool:
	return pf_err_set(err, PF_ECONFIG,
	    "invalid value '%s' for %s (on or off)", v != NULL ? v : "", key);
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

	if (strcmp(key, "host") == 0 && v[0] == '\0') {
		set_str(&a->host, NULL); /* "host required" when resolved */
	} else if (strcmp(key, "host") == 0) {
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

/* An LMTP or SMTP target must parse (docs/delivery-smtp.md). */
static int
check_server_target(enum sink_kind kind, const char *v, struct pf_err *err)
{
	struct smtp_target t;

	if (kind != SINK_LMTP && kind != SINK_SMTP)
		return 0;
	if (smtp_parse_target(v,
		kind == SINK_LMTP ? SMTP_PROTO_LMTP : SMTP_PROTO_SMTP, &t,
		err) < 0) {
		err->code = PF_ECONFIG;
		return pf_err_prefix(err, "%s", sink_kind_name(kind));
	}
	return 0;
}

/* Keys whose values need more than a table entry. */
/* oauth2_provider: one of the presets (oauth.h). */
static int
apply_provider(struct account *a, const char *v, struct pf_err *err)
{
	size_t i;

	for (i = 0; v != NULL && oauth_provider_names[i] != NULL; i++) {
		if (strcmp(v, oauth_provider_names[i]) == 0) {
			set_str(&a->oauth2_provider, v);
			return 0;
		}
	}
	return pf_err_set(err, PF_ECONFIG,
	    "unknown oauth2_provider '%s' (google, microsoft or generic)",
	    v != NULL ? v : "");
}

static int
apply_special(
    struct account *a, const char *key, const char *v, struct pf_err *err)
{
	unsigned long long n;
	bool b;
	size_t i;
	int rc;

	rc = apply_connection(a, key, v, err);
	if (rc <= 0)
		return rc;
	for (i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		if (strcmp(key, targets[i].key) != 0)
			continue;
		if (v == NULL || v[0] == '\0')
			return pf_err_set(
			    err, PF_ECONFIG, "%s needs a value", key);
		if (targets[i].kind == SINK_MDA && config_check_mda(v, err) < 0)
			return -1;
		if (check_server_target(targets[i].kind, v, err) < 0)
			return -1;
		a->sink = targets[i].kind;
		free(a->sink_path);
		a->sink_path =
		    targets[i].path ? config_expand_tilde(v) : xstrdup(v);
		return 0;
	}
	if (strcmp(key, "port") == 0) {
		if (parse_ull(v, false, 65535, &n) < 0 || n == 0)
			return pf_err_set(err, PF_ECONFIG, "invalid port '%s'",
			    v != NULL ? v : "");
		set_str(&a->port, v);
	} else if (strcmp(key, "auth") == 0) {
		if (v == NULL || auth_mech_parse(v, &a->auth) < 0)
			return pf_err_set(err, PF_ECONFIG,
			    "unknown authentication mechanism '%s'",
			    v != NULL ? v : "");
	} else if (strcmp(key, "recipient") == 0) {
		if (v == NULL || (v[0] != '\0' && !smtp_address_ok(v)))
			return pf_err_set(err, PF_ECONFIG,
			    "invalid recipient '%s' (an address such as alice or alice@example.org)",
			    v != NULL ? v : "");
		set_str(&a->recipient, v[0] != '\0' ? v : NULL);
	} else if (strcmp(key, "password") == 0) {
		xfree_secret(a->password);
		a->password = v != NULL ? xstrdup(v) : NULL;
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
		if (v != NULL &&
		    (strcasecmp(v, "off") == 0 || strcasecmp(v, "never") == 0))
			a->delete_after = -1;
		else if (parse_ull(v, false, 100000, &n) < 0)
			return pf_err_set(err, PF_ECONFIG,
			    "invalid number of days '%s' (0 to 100000, or off)",
			    v != NULL ? v : "");
		else
			a->delete_after = (long)n;
	} else if (strcmp(key, "oauth2_provider") == 0) {
		return apply_provider(a, v, err);
	} else if (strcmp(key, "limit") == 0) {
		if (parse_ull(v, false, 100000000, &n) < 0)
			return pf_err_set(err, PF_ECONFIG, "invalid limit '%s'",
			    v != NULL ? v : "");
		a->limit = (unsigned long)n;
	} else if (strcmp(key, "quiet_temporary") == 0) {
		if (parse_ull(v, false, 100000, &n) < 0)
			return pf_err_set(err, PF_ECONFIG,
			    "invalid count '%s' for quiet_temporary (0 to 100000)",
			    v != NULL ? v : "");
		a->quiet_temporary = (int)n;
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
	case KT_SIZE:
		if (parse_ull(value, k->type == KT_SIZE, ULLONG_MAX, &n) < 0 ||
		    (n == 0 &&
			k->off == offsetof(struct account, max_message_size)))
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

/* Built-in defaults (docs/contract.md §1). */
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
	a->max_message_size = ACCOUNT_MESSAGE_MAX;
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
	free(a->proxy);
	free(a->proxy_password_command);
	free(a->tunnel);
	free(a->source_address);
	free(a->oauth2_provider);
	free(a->oauth2_client_id);
	free(a->oauth2_client_secret_command);
	free(a->oauth2_tenant);
	free(a->oauth2_scope);
	free(a->oauth2_authorize_url);
	free(a->oauth2_token_url);
	free(a->oauth2_device_url);
	xfree_secret(a->password);
	free(a->sink_path);
	free(a->recipient);
	free(a->state_dir);
	free(a->origin);
	memset(a, 0, sizeof(*a));
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

/* "no-tls" for the command line's "no_tls". */
static void
option_name(const char *key, char *buf, size_t sz)
{
	size_t i;

	for (i = 0; key[i] != '\0' && i + 1 < sz; i++)
		buf[i] = key[i] == '_' ? '-' : key[i];
	buf[i] = '\0';
}

/*
 * Whether setting c takes its whole group. "stdout off" only undoes a
 * standard-output target: it says nothing about the other targets.
 */
static bool
claims_group(const struct config_setting *c, const struct key_def *k)
{
	bool b;

	if (k->group == KG_NONE)
		return false;
	if (strcmp(k->name, "stdout") == 0 && parse_bool(c->value, &b) == 0)
		return b;
	return true;
}

int
config_settings_check(const struct config_settings *s, struct pf_err *err)
{
	const struct config_setting *here[CONFIG_MAX_KEYS] = {NULL};
	size_t i, j;

	for (i = 0; i < s->n; i++) {
		const struct config_setting *c = &s->v[i];
		int k = config_key_index(c->key);

		if (k < 0 || !claims_group(c, &config_keys[k]))
			continue;
		for (j = 0; j < config_nkeys; j++) {
			const struct config_setting *o = here[j];
			char o1[32], o2[32];

			if (o == NULL || (int)j == k ||
			    config_keys[j].group != config_keys[k].group)
				continue;
			if (c->file != NULL)
				return pf_err_set(err, PF_ECONFIG,
				    "%s:%d: %s: '%s' on line %d already says this; keep one of the two",
				    c->file, c->line, c->key, o->key, o->line);
			option_name(o->key, o1, sizeof(o1));
			option_name(c->key, o2, sizeof(o2));
			return pf_err_set(err, PF_EUSAGE,
			    "options --%s and --%s exclude each other; give one",
			    o1, o2);
		}
		here[k] = c;
	}
	return 0;
}

/* Let the settings of one level replace what the levels below set. */
static void
take_level(const struct config_settings *s, struct config_winners *win)
{
	size_t i, j;

	for (i = 0; i < s->n; i++) {
		const struct config_setting *c = &s->v[i];
		int k = config_key_index(c->key);

		if (k < 0)
			continue;
		if (config_keys[k].group != KG_NONE &&
		    !claims_group(c, &config_keys[k])) {
			win->w[k] = NULL; /* "stdout off" */
			continue;
		}
		for (j = 0;
		     claims_group(c, &config_keys[k]) && j < config_nkeys; j++)
			if (config_keys[j].group == config_keys[k].group)
				win->w[j] = NULL;
		win->w[k] = c;
	}
}

/* Take an account block after its parents, the oldest first. */
static int
take_chain(const struct config *cfg, const struct config_account *ca,
    struct config_winners *win, int depth, struct pf_err *err)
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
		if (take_chain(cfg, p, win, depth + 1, err) < 0)
			return -1;
	}
	take_level(&ca->settings, win);
	return 0;
}

/* Apply the winning settings in key-table order, naming the file and
 * line (or option) of one that fails. */
static int
apply_winners(
    struct account *a, const struct config_winners *win, struct pf_err *err)
{
	size_t k;

	for (k = 0; k < config_nkeys; k++) {
		const struct config_setting *c = win->w[k];
		char opt[32];

		if (c == NULL || config_apply(a, c->key, c->value, err) == 0)
			continue;
		if (c->file != NULL)
			return pf_err_prefix(
			    err, "%s:%d: %s", c->file, c->line, c->key);
		err->code = PF_EUSAGE;
		option_name(c->key, opt, sizeof(opt));
		return pf_err_prefix(err, "option --%s", opt);
	}
	return 0;
}

/* Checks across keys, and that the account has what the run needs. */
static int
check_account(const struct account *a, const struct config_winners *win,
    enum config_need need, enum pf_errc code, struct pf_err *err)
{
	const struct config_setting *da =
	    win->w[config_key_index("delete_after")];

	if (a->delete_after >= 0 && !a->keep && da != NULL) {
		if (da->file != NULL)
			return pf_err_set(err, PF_ECONFIG,
			    "%s:%d: delete_after: works only with keep on (without keep every message is deleted once delivered); add 'keep on' or remove it",
			    da->file, da->line);
		return pf_err_set(err, PF_EUSAGE,
		    "--delete-after works only with --keep (without it every message is deleted once delivered); add --keep");
	}
	if (need == CONFIG_NEED_NOTHING)
		return 0;
	if (a->host == NULL || a->host[0] == '\0')
		return pf_err_set(err, code,
		    "%s: no host given (--host or 'host')", a->origin);
	if (need == CONFIG_NEED_HOST)
		return 0;
	if (a->user == NULL || a->user[0] == '\0')
		return pf_err_set(err, code,
		    "%s: no user given (--user or 'user')", a->origin);
	if (a->sink == SINK_NONE)
		return pf_err_set(err, code,
		    "%s: no delivery target (--maildir, --mbox, --mda, --stdout, --lmtp or --smtp)",
		    a->origin);
	return 0;
}

int
config_resolve_winners(const struct config *cfg, const char *name,
    const struct config_settings *cli, enum config_need need,
    struct account *out, struct config_winners *win, struct pf_err *err)
{
	const struct config_account *ca = NULL;
	enum pf_errc code = PF_EUSAGE;

	memset(win, 0, sizeof(*win));
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
		take_level(&cfg->defaults, win);
		if (take_chain(cfg, ca, win, 0, err) < 0)
			goto fail;
	} else {
		out->origin = xstrdup("command line");
	}
	if (cli != NULL) {
		if (config_settings_check(cli, err) < 0)
			goto fail;
		take_level(cli, win);
	}
	if (apply_winners(out, win, err) < 0 ||
	    check_account(out, win, need, code, err) < 0)
		goto fail;
	if (out->state_dir == NULL)
		out->state_dir = config_default_state_dir();
	return 0;
fail:
	account_free(out);
	return -1;
}

int
config_resolve(const struct config *cfg, const char *name,
    const struct config_settings *cli, bool probe_only, struct account *out,
    struct pf_err *err)
{
	struct config_winners win;

	return config_resolve_winners(cfg, name, cli,
	    probe_only ? CONFIG_NEED_HOST : CONFIG_NEED_FETCH, out, &win, err);
}

void
config_accounts_free(struct account *accts, size_t n)
{
	size_t i;

	for (i = 0; accts != NULL && i < n; i++)
		account_free(&accts[i]);
	free(accts);
}

/* Set shares_mailbox on the n accounts in sel: another account of cfg
 * reads the same mailbox (user, host without case, port). */
static void
mark_shared(const struct config *cfg, const struct config_settings *cli,
    struct account *sel, size_t n)
{
	struct config_winners win;
	struct pf_err ignored;
	struct account o;
	size_t i, j;

	for (j = 0; cfg->naccounts > 1 && j < cfg->naccounts; j++) {
		/* an account with errors gets them when it is run */
		if (config_resolve_winners(cfg, cfg->accounts[j].name, cli,
			CONFIG_NEED_NOTHING, &o, &win, &ignored) < 0)
			continue;
		for (i = 0; i < n; i++)
			if (sel[i].name != NULL && o.user != NULL &&
			    o.host != NULL && sel[i].user != NULL &&
			    sel[i].host != NULL &&
			    strcmp(sel[i].name, o.name) != 0 &&
			    strcmp(sel[i].user, o.user) == 0 &&
			    strcasecmp(sel[i].host, o.host) == 0 &&
			    strcmp(account_port(&sel[i]), account_port(&o)) ==
				0)
				sel[i].shares_mailbox = true;
		account_free(&o);
	}
}

int
config_select(const struct config *cfg, char *const *names, size_t nnames,
    bool all, const struct config_settings *cli, enum config_need need,
    struct account **out, size_t *n, struct pf_err *err)
{
	struct config_winners win;
	const char *dflt = NULL;
	size_t i, want;

	*out = NULL;
	*n = 0;
	if (cfg == NULL) {
		*out = xcalloc(1, sizeof(**out));
		if (config_resolve_winners(
			NULL, NULL, cli, need, &(*out)[0], &win, err) < 0) {
			config_accounts_free(*out, 0);
			*out = NULL;
			return -1;
		}
		*n = 1;
		return 0;
	}
	if (!all && nnames == 0) {
		dflt = cfg->default_name;
		if (dflt == NULL && cfg->naccounts > 0)
			dflt = cfg->accounts[0].name;
		if (dflt == NULL)
			return pf_err_set(err, PF_ECONFIG,
			    "%s: no accounts defined (or use --host)",
			    cfg->path);
	}
	if (all && cfg->naccounts == 0)
		return pf_err_set(
		    err, PF_ECONFIG, "%s: no accounts defined", cfg->path);
	want = all ? cfg->naccounts : nnames > 0 ? nnames : 1;
	*out = xcalloc(want, sizeof(**out));
	for (i = 0; i < want; i++) {
		const char *name = all ? cfg->accounts[i].name
		    : nnames > 0       ? names[i]
				       : dflt;

		if (config_resolve_winners(
			cfg, name, cli, need, &(*out)[i], &win, err) < 0) {
			config_accounts_free(*out, i);
			*out = NULL;
			return -1;
		}
	}
	mark_shared(cfg, cli, *out, want);
	*n = want;
	return 0;
}

char *
account_id(const struct account *a)
{
	return xasprintf("%s@%s:%s", a->user, a->host, account_port(a));
}

char *
account_key(const struct account *a)
{
	char *key, *p;

	if (a->name != NULL)
		return xstrdup(a->name);
	key = account_id(a);
	/* user@host:port: the host is between the last '@' and the last ':' */
	for (p = strrchr(key, '@'); p != NULL && *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return key;
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

/* Add "; hint" to the message in err. */
static void
err_hint(struct pf_err *err, const char *hint)
{
	size_t n = strlen(err->msg);

	if (hint != NULL && n < sizeof(err->msg))
		snprintf(err->msg + n, sizeof(err->msg) - n, "; %s", hint);
}

/* "account NAME [: PARENT]": a new block. Returns its settings or NULL. */
static struct config_settings *
parse_account(struct config *cfg, char *name, const char *path, int lineno,
    struct pf_err *err)
{
	struct config_account *ca;
	char *parent = NULL, *colon;

	if (name == NULL) {
		pf_err_set(err, PF_ECONFIG, "%s:%d: account needs a name", path,
		    lineno);
		return NULL;
	}
	colon = strchr(name, ':');
	if (colon != NULL) {
		char *e = colon;

		while (e > name && isspace((unsigned char)e[-1]))
			e--;
		*e = '\0';
		parent = colon + 1;
		while (isspace((unsigned char)*parent))
			parent++;
		if (*parent == '\0' || strpbrk(parent, " \t") != NULL) {
			pf_err_set(err, PF_ECONFIG,
			    "%s:%d: account: invalid parent name", path,
			    lineno);
			return NULL;
		}
	}
	if (*name == '\0' || strpbrk(name, " \t") != NULL) {
		pf_err_set(err, PF_ECONFIG, "%s:%d: account: invalid name",
		    path, lineno);
		return NULL;
	}
	if (strcmp(name, "default") == 0) {
		/* mpop's "account default : NAME" picks the default account */
		pf_err_set(err, PF_ECONFIG,
		    "%s:%d: account 'default': mpop's way of choosing the default account; popfetch writes 'default %s' on a line of its own",
		    path, lineno, parent != NULL ? parent : "NAME");
		return NULL;
	}
	if (config_find(cfg, name) != NULL) {
		pf_err_set(err, PF_ECONFIG, "%s:%d: account '%s' defined twice",
		    path, lineno, name);
		return NULL;
	}
	cfg->accounts = xreallocarray(
	    cfg->accounts, cfg->naccounts + 1, sizeof(*cfg->accounts));
	ca = &cfg->accounts[cfg->naccounts++];
	memset(ca, 0, sizeof(*ca));
	ca->name = xstrdup(name);
	ca->parent = parent != NULL ? xstrdup(parent) : NULL;
	ca->line = lineno;
	return &ca->settings;
}

/* "syslog on": a key for the whole run, so only in the defaults block. */
static int
parse_syslog(struct config *cfg, bool in_defaults, const char *value,
    const char *path, int lineno, struct pf_err *err)
{
	if (!in_defaults)
		return pf_err_set(err, PF_ECONFIG,
		    "%s:%d: syslog: belongs in the defaults block (it is for the whole run)",
		    path, lineno);
	if (parse_bool(value, &cfg->syslog) < 0)
		return pf_err_set(err, PF_ECONFIG,
		    "%s:%d: syslog: invalid value '%s' (on or off)", path,
		    lineno, value);
	cfg->syslog_line = lineno;
	return 0;
}

/* "daemon SECONDS": run-wide too, so only in the defaults block. */
static int
parse_daemon(struct config *cfg, bool in_defaults, const char *value,
    const char *path, int lineno, struct pf_err *err)
{
	unsigned long long n;

	if (!in_defaults)
		return pf_err_set(err, PF_ECONFIG,
		    "%s:%d: daemon: belongs in the defaults block (it is for the whole run)",
		    path, lineno);
	if (value == NULL || parse_ull(value, false, 86400, &n) < 0)
		return pf_err_set(err, PF_ECONFIG,
		    "%s:%d: daemon: invalid number of seconds '%s' (0 to 86400)",
		    path, lineno, value != NULL ? value : "");
	cfg->daemon = (int)n;
	cfg->daemon_line = lineno;
	return 0;
}

/* The characters every key is made of. */
static const char key_chars[] = "abcdefghijklmnopqrstuvwxyz"
				"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";

/*
 * The error for a first word with a character no key has. It is named
 * only up to there (its first n bytes): "password=SECRET" (a key=value
 * habit, or a non-breaking space) must not show the value
 * (docs/faults.md #96).
 */
static int
glued_key(
    const char *key, size_t n, const char *path, int lineno, struct pf_err *err)
{
	char shown[64];

	if (n >= sizeof(shown))
		n = sizeof(shown) - 1;
	memcpy(shown, key, n);
	shown[n] = '\0';
	if (n > 0 && config_is_key(shown))
		return pf_err_set(err, PF_ECONFIG,
		    "%s:%d: a space must come between '%s' and its value "
		    "(not '=', ':' or another character)",
		    path, lineno, shown);
	return pf_err_set(err, PF_ECONFIG,
	    "%s:%d: unknown key '%s...' (popfetchrc(5) lists the keys)", path,
	    lineno, shown);
}

/* A "key value" line inside a block: checked now, so the error names
 * this line. */
static int
parse_key(struct config *cfg, struct config_settings *cur, const char *key,
    const char *value, const char *path, int lineno, struct pf_err *err)
{
	struct account probe;
	size_t n = strspn(key, key_chars);
	char hint[256];

	if (key[n] != '\0')
		return glued_key(key, n, path, lineno, err);
	if (!config_is_key(key)) {
		if (config_hint_key(key, value, hint, sizeof(hint)) != NULL)
			return pf_err_set(err, PF_ECONFIG,
			    "%s:%d: unknown key '%s' %s", path, lineno, key,
			    hint);
		return pf_err_set(err, PF_ECONFIG,
		    "%s:%d: unknown key '%s' (popfetchrc(5) lists the keys)",
		    path, lineno, key);
	}
	if (cur == NULL)
		return pf_err_set(err, PF_ECONFIG,
		    "%s:%d: %s: outside of 'defaults' or an 'account'", path,
		    lineno, key);
	account_defaults(&probe);
	if (config_apply(&probe, key, value, err) < 0) {
		account_free(&probe);
		err_hint(err, config_hint_value(key, value));
		return pf_err_prefix(err, "%s:%d: %s", path, lineno, key);
	}
	account_free(&probe);
	if (strcmp(key, "password") == 0)
		cfg->has_password = true;
	config_settings_add(cur, key, value, path, lineno);
	return 0;
}

/* One non-comment line, in place: a block keyword or a key. */
static int
parse_line(struct config *cfg, struct config_settings **cur, char *p,
    const char *path, int lineno, struct pf_err *err)
{
	char *key, *value;

	if (split_line(p, &key, &value) < 0)
		return pf_err_set(err, PF_ECONFIG,
		    "%s:%d: unterminated quoted value", path, lineno);
	if (strcmp(key, "defaults") == 0) {
		if (value != NULL)
			return pf_err_set(err, PF_ECONFIG,
			    "%s:%d: defaults takes no value", path, lineno);
		*cur = &cfg->defaults;
	} else if (strcmp(key, "account") == 0) {
		*cur = parse_account(cfg, value, path, lineno, err);
		if (*cur == NULL)
			return -1;
	} else if (strcmp(key, "default") == 0) {
		if (value == NULL)
			return pf_err_set(err, PF_ECONFIG,
			    "%s:%d: default needs an account name", path,
			    lineno);
		free(cfg->default_name);
		cfg->default_name = xstrdup(value);
		cfg->default_line = lineno;
	} else if (strcmp(key, "syslog") == 0) {
		return parse_syslog(
		    cfg, *cur == &cfg->defaults, value, path, lineno, err);
	} else if (strcmp(key, "daemon") == 0) {
		return parse_daemon(
		    cfg, *cur == &cfg->defaults, value, path, lineno, err);
	} else {
		return parse_key(cfg, *cur, key, value, path, lineno, err);
	}
	return 0;
}

/* Checks once the whole file is read: permissions, keys that exclude
 * each other, parents and the default account. */
static int
finish_load(struct config *cfg, int fd, struct pf_err *err)
{
	const char *path = cfg->path;
	size_t i;

	if (cfg->has_password && check_secret_file(path, fd, err) < 0)
		return -1;
	if (config_settings_check(&cfg->defaults, err) < 0)
		return -1;
	for (i = 0; i < cfg->naccounts; i++) {
		const struct config_account *ca = &cfg->accounts[i];

		if (config_settings_check(&ca->settings, err) < 0)
			return -1;
		if (ca->parent != NULL && config_find(cfg, ca->parent) == NULL)
			return pf_err_set(err, PF_ECONFIG,
			    "%s:%d: account '%s': unknown parent account '%s'",
			    path, ca->line, ca->name, ca->parent);
	}
	if (cfg->default_name != NULL &&
	    config_find(cfg, cfg->default_name) == NULL)
		return pf_err_set(err, PF_ECONFIG,
		    "%s:%d: default: account '%s' is not defined", path,
		    cfg->default_line, cfg->default_name);
	return 0;
}

int
config_load(
    const char *path, bool must_exist, struct config *cfg, struct pf_err *err)
{
	struct config_settings *cur = NULL;
	char line[CONFIG_MAX_LINE + 2];
	char iobuf[BUFSIZ]; /* ours, so the password in it can be wiped */
	FILE *fp;
	int lineno = 0, ret = -1;

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
		char *p = line;
		size_t len = strlen(line);

		lineno++;
		if (len > CONFIG_MAX_LINE) {
			pf_err_set(err, PF_ECONFIG, "%s:%d: line too long",
			    path, lineno);
			goto out;
		}
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		while (isspace((unsigned char)*p))
			p++;
		if (*p != '\0' && *p != '#' &&
		    parse_line(cfg, &cur, p, path, lineno, err) < 0)
			goto out;
		explicit_bzero(line, sizeof(line));
	}
	if (ferror(fp)) {
		pf_err_sys(err, PF_ECONFIG, "cannot read config '%s'", path);
		goto out;
	}
	ret = finish_load(cfg, fileno(fp), err);
out:
	explicit_bzero(line, sizeof(line));
	fclose(fp);
	explicit_bzero(iobuf, sizeof(iobuf));
	if (ret < 0)
		config_free(cfg);
	return ret;
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
