/*
 * config.h: accounts. An account is resolved by applying "key value"
 * settings in order: built-in defaults, the config file's "defaults"
 * block, the parent chain ("account NAME : PARENT"), the account's own
 * lines, then the command-line options. The command line and the file use
 * the same keys: the long option names with '_' for '-'.
 */
#ifndef POPFETCH_CONFIG_H
#define POPFETCH_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "popfetch/auth.h"
#include "popfetch/conn.h"
#include "popfetch/err.h"
#include "popfetch/sink.h"

struct account {
	char *name; /* NULL for a one-off account built from options */
	/* connection */
	char *host;
	char *port; /* NULL: 995 with implicit TLS, else 110 */
	char *user;
	int family; /* AF_UNSPEC, AF_INET, AF_INET6 */
	enum conn_tls_mode tls;
	char *ca_file;
	char *fingerprint;
	char *cert_file;
	char *key_file;
	int tls_min; /* 12 or 13 */
	bool insecure;
	enum auth_mech auth;
	char *password_command;
	char *password; /* from the config file only; a secret */
	int timeout;	/* seconds */
	/* reach (round two): NULL when not set */
	char *proxy;		      /* proxy URL (conn.h) */
	char *proxy_password_command; /* prints the proxy password */
	char *tunnel;		      /* tunnel command (conn.h) */
	char *source_address;	      /* numeric, without brackets */
	/* delivery */
	enum sink_kind sink;
	char *sink_path; /* Maildir, mbox file or MDA command */
	bool no_received;
	int lock_wait;	 /* seconds */
	int mda_timeout; /* seconds */
	/* policy */
	bool keep;
	bool fetch_all;
	long delete_after;	      /* days; -1: never */
	unsigned long long max_size;  /* 0: no limit */
	unsigned long long kill_size; /* 0: no limit */
	unsigned long limit;	      /* 0: no limit */
	char *state_dir;
	/* where the settings came from, for error messages */
	char *origin; /* "config 'FILE'" or "command line" */
};

/* One "key value" setting with where it came from. */
struct config_setting {
	char *key;
	char *value; /* NULL for a flag given without value (CLI) */
	char *file;  /* NULL for the command line */
	int line;
};

struct config_settings {
	struct config_setting *v;
	size_t n, cap;
};

struct config_account {
	char *name;
	char *parent; /* or NULL */
	int line;
	struct config_settings settings;
};

struct config {
	char *path; /* NULL when no file was read */
	struct config_settings defaults;
	struct config_account *accounts;
	size_t naccounts;
	char *default_name; /* "default NAME", or NULL */
	int default_line;   /* its line */
	bool has_password;  /* some account holds a "password" key */
};

/* Append a setting (strings copied). */
void config_settings_add(struct config_settings *s, const char *key,
    const char *value, const char *file, int line);
void config_settings_free(struct config_settings *s);

/*
 * The config file to read when -C is not given:
 * $XDG_CONFIG_HOME/popfetch/config, else ~/.config/popfetch/config if it
 * exists, else ~/.popfetchrc. Returns a new string (the file may not
 * exist).
 */
char *config_default_path(void);

/*
 * Parse the file at path. Checks: a file holding a "password" key must not
 * be readable or writable by group or others and must be owned by us.
 * Returns 0, or -1 with PF_ECONFIG naming file, line and key. A missing
 * file is PF_ECONFIG only when must_exist.
 */
int config_load(
    const char *path, bool must_exist, struct config *cfg, struct pf_err *err);
void config_free(struct config *cfg);

/* Find an account block by name, or NULL. */
const struct config_account *config_find(
    const struct config *cfg, const char *name);

/*
 * Build account 'name' (NULL: a one-off account from cli alone) from cfg
 * (may be NULL) and the command-line settings cli. Validates the result:
 * a host is required, and unless probe_only (--serverinfo) also a user and
 * a delivery target. Returns 0 or -1 (PF_ECONFIG for file settings,
 * PF_EUSAGE for command-line ones).
 */
int config_resolve(const struct config *cfg, const char *name,
    const struct config_settings *cli, bool probe_only, struct account *out,
    struct pf_err *err);
void account_free(struct account *a);

/* Apply one setting to a; exposed for the CLI's immediate checks. */
int config_apply(
    struct account *a, const char *key, const char *value, struct pf_err *err);

/* True when key names an account setting (so the CLI can pass it on). */
bool config_is_key(const char *key);

/* "user@host:port", the account identity of SPEC.md section 4. */
char *account_id(const struct account *a);

/* The port to use: a->port, or 995 / 110 by TLS mode. */
const char *account_port(const struct account *a);

/* Default state directory: $XDG_STATE_HOME/popfetch or
 * ~/.local/state/popfetch. Returns a new string. */
char *config_default_state_dir(void);

/* Expand a leading "~/" with $HOME. Returns a new string. */
char *config_expand_tilde(const char *path);

#endif
