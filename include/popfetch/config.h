/*
 * config.h: accounts. Every setting of an account comes from the most
 * specific place that sets it: the command line, then the account's own
 * block, then its parent chain ("account NAME : PARENT"), then the
 * config file's "defaults" block, then the built-in default. Keys that
 * set one thing in different ways (password and password_command, the
 * delivery targets, the TLS modes, only_new and all, ipv4 and ipv6)
 * replace each other as one; two of them in one block is an error. The
 * command line and the file use the same keys: the long option names
 * with '_' for '-' (docs/contract.md §2).
 */
#ifndef POPFETCH_CONFIG_H
#define POPFETCH_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "popfetch/auth.h"
#include "popfetch/conn.h"
#include "popfetch/err.h"
#include "popfetch/sink.h"

/* The default hard cap on one message (max_message_size): 256 MiB. */
#define ACCOUNT_MESSAGE_MAX (256ULL * 1024 * 1024)

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
	/* OAuth 2.0 (docs/oauth.md): NULL when not set */
	char *oauth2_provider; /* "google", "microsoft" or "generic" */
	char *oauth2_client_id;
	char *oauth2_client_secret_command; /* prints the client secret */
	char *oauth2_tenant;		    /* Microsoft; NULL: "common" */
	char *oauth2_scope;
	char *oauth2_authorize_url;
	char *oauth2_token_url;
	char *oauth2_device_url;
	/* delivery */
	enum sink_kind sink;
	char *sink_path; /* Maildir, mbox file, MDA command, LMTP/SMTP target */
	char *recipient; /* LMTP/SMTP envelope recipient; NULL: local user */
	bool delete_refused; /* LMTP/SMTP: delete messages refused with 5xx */
	bool no_received;
	int lock_wait;		 /* seconds */
	int mda_timeout;	 /* seconds */
	bool allow_foreign_mbox; /* as root, append to another user's mbox */
	/* policy */
	bool keep;
	bool fetch_all;
	long delete_after;	      /* days; -1: never */
	unsigned long long max_size;  /* 0: no limit */
	unsigned long long kill_size; /* 0: no limit */
	/* the hard cap on one message, whatever LIST says (docs/faults.md
	 * #71); 0 only in accounts not made by config.c: the default */
	unsigned long long max_message_size;
	unsigned long limit; /* 0: no limit */
	char *state_dir;
	/* another account of the config file reads the same mailbox (user,
	 * host without case, port): popfetch 0.1.0 kept one state for all of
	 * them, so none of them takes it over (state-carry.c) */
	bool shares_mailbox;
	/* output: a temporary failure stays unprinted until it is the
	 * quiet_temporary-th in a row (0: always printed) */
	int quiet_temporary;
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
	/* run-wide keys, allowed in the defaults block only */
	bool syslog;	 /* "syslog on": log to syslog(3) */
	int syslog_line; /* 0: not set in the file */
	int daemon;	 /* "daemon SECONDS": poll interval */
	int daemon_line; /* 0: not set in the file (no daemon mode) */
};

/* How complete a resolved account must be. */
enum config_need {
	CONFIG_NEED_FETCH,   /* host, user and a delivery target */
	CONFIG_NEED_HOST,    /* --serverinfo: a host */
	CONFIG_NEED_NOTHING, /* --show-config and config checks */
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
 * a delivery target; delete_after needs keep. Returns 0 or -1 (PF_ECONFIG
 * for file settings, PF_EUSAGE for command-line ones).
 */
int config_resolve(const struct config *cfg, const char *name,
    const struct config_settings *cli, bool probe_only, struct account *out,
    struct pf_err *err);
void account_free(struct account *a);

/*
 * The accounts a run covers: every account of cfg (all), the named ones,
 * or the default account (cfg's "default NAME", else its first). With
 * cfg NULL, one account from cli alone (--host). *out (free with
 * config_accounts_free) gets *n accounts. Returns 0 or -1 (PF_ECONFIG,
 * PF_EUSAGE).
 */
int config_select(const struct config *cfg, char *const *names, size_t nnames,
    bool all, const struct config_settings *cli, enum config_need need,
    struct account **out, size_t *n, struct pf_err *err);
void config_accounts_free(struct account *accts, size_t n);

/*
 * Check one level of settings (a block, or the command line) for keys
 * that exclude each other. Returns 0, or -1: PF_ECONFIG naming the file
 * and both lines, or PF_EUSAGE naming both options.
 */
int config_settings_check(const struct config_settings *s, struct pf_err *err);

/*
 * --show-config: the effective settings of account 'name' (NULL: the
 * one-off account of cli), one "key value  # origin" line per key in
 * key-table order, after a "# account NAME (origin)" line. The origin is
 * FILE:LINE, "command line" or "default"; a password shows as "********".
 * Of keys that exclude each other only the one in effect is shown.
 * *text is a new string. Returns 0 or -1 (as config_resolve, without the
 * completeness checks).
 */
int config_show(const struct config *cfg, const char *name,
    const struct config_settings *cli, char **text, struct pf_err *err);

/*
 * The run-wide part of --show-config: "# run", then "syslog on|off  #
 * origin", where --syslog (cli_syslog) beats the file, then "daemon N  #
 * origin" when the file sets it. cfg may be NULL.
 * Returns a new string.
 */
char *config_show_run(const struct config *cfg, bool cli_syslog);

/*
 * Write the whole --show-config to fp: config_show_run(), then
 * config_show() of each of accts[0..n) after an empty line. Returns 0, or
 * -1 (PF_EIO when fp cannot be written).
 */
int config_show_all(const struct config *cfg, const struct account *accts,
    size_t n, const struct config_settings *cli, bool cli_syslog, FILE *fp,
    struct pf_err *err);

/*
 * Checks of a loaded config that are worth a warning, not an error:
 * accounts that read the same mailbox (user, host compared without case,
 * port) while one of them deletes. Calls warn once per finding with a
 * one-line message naming both accounts.
 */
void config_lint(const struct config *cfg, const struct config_settings *cli,
    void (*warn)(void *ctx, const char *msg), void *ctx);

/* Apply one setting to a; exposed for the CLI's immediate checks. */
int config_apply(
    struct account *a, const char *key, const char *value, struct pf_err *err);

/* True when key names an account setting (so the CLI can pass it on). */
bool config_is_key(const char *key);

/* "user@host:port": the mailbox an account reads (docs/contract.md §4),
 * the host as written; also the identity popfetch 0.1.0 kept state by. */
char *account_id(const struct account *a);

/* The hard cap on one message: max_message_size, or the default. */
static inline unsigned long long
account_message_max(const struct account *a)
{
	return a->max_message_size > 0 ? a->max_message_size
				       : ACCOUNT_MESSAGE_MAX;
}

/*
 * What the seen-state and the run lock belong to: the account's name, or
 * for a one-off account from --host "user@host:port" with the host in
 * lower case. Names cannot hold ':', so the two never meet. New string.
 */
char *account_key(const struct account *a);

/* The port to use: a->port, or 995 / 110 by TLS mode. */
const char *account_port(const struct account *a);

/* Default state directory: $XDG_STATE_HOME/popfetch or
 * ~/.local/state/popfetch. Returns a new string. */
char *config_default_state_dir(void);

/* Expand a leading "~/" with $HOME. Returns a new string. */
char *config_expand_tilde(const char *path);

#endif
