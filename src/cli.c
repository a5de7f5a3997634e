/*
 * cli.c: the command line: getopt_long parsing with exact long option
 * names only, --help and --version.
 */
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/opensslv.h>

#include "popfetch/cli.h"
#include "popfetch/import.h"
#include "popfetch/num.h"
#include "popfetch/runner.h"
#include "popfetch/xmalloc.h"

/* Options that are not account settings. */
enum {
	OPT_SERVERINFO = 256,
	OPT_PROGRESS,
	OPT_JSON,
	OPT_SYSLOG,
	OPT_SHOW_CONFIG,
	OPT_AUTHORIZE,
	OPT_IMPORT_STATE,
	OPT_CONVERT_CONFIG,
	OPT_DAEMON,
	OPT_ACCOUNT_KEY = 1000, /* + index into account_opts[] */
};

/* Account options: long name and whether it takes an argument. */
static const struct {
	const char *name;
	int has_arg;
} account_opts[] = {
    {"host", required_argument},
    {"port", required_argument},
    {"user", required_argument},
    {"tls", no_argument},
    {"starttls", no_argument},
    {"no-tls", no_argument},
    {"ca-file", required_argument},
    {"fingerprint", required_argument},
    {"tls-min", required_argument},
    {"cert", required_argument},
    {"key", required_argument},
    {"insecure", no_argument},
    {"auth", required_argument},
    {"password-command", required_argument},
    {"timeout", required_argument},
    {"ipv4", no_argument},
    {"ipv6", no_argument},
    {"maildir", required_argument},
    {"mbox", required_argument},
    {"mda", required_argument},
    {"stdout", no_argument},
    {"lmtp", required_argument},
    {"smtp", required_argument},
    {"recipient", required_argument},
    {"delete-refused", no_argument},
    {"no-received", no_argument},
    {"lock-wait", required_argument},
    {"mda-timeout", required_argument},
    {"keep", no_argument},
    {"only-new", no_argument},
    {"all", no_argument},
    {"delete-after", required_argument},
    {"max-size", required_argument},
    {"kill-size", required_argument},
    {"max-message-size", required_argument},
    {"limit", required_argument},
    {"state-dir", required_argument},
    {"quiet-temporary", required_argument},
    /* reach (round two) */
    {"proxy", required_argument},
    {"proxy-password-command", required_argument},
    {"tunnel", required_argument},
    {"source-address", required_argument},
    /* OAuth 2.0 (docs/oauth.md) */
    {"oauth2-provider", required_argument},
    {"oauth2-client-id", required_argument},
    {"oauth2-client-secret-command", required_argument},
    {"oauth2-tenant", required_argument},
    {"oauth2-scope", required_argument},
    {"oauth2-authorize-url", required_argument},
    {"oauth2-token-url", required_argument},
    {"oauth2-device-url", required_argument},
};
#define N_ACCOUNT_OPTS (sizeof(account_opts) / sizeof(account_opts[0]))

static const struct option other_opts[] = {
    {"all-accounts", no_argument, NULL, 'a'},
    {"config", required_argument, NULL, 'C'},
    {"help", no_argument, NULL, 'h'},
    {"jobs", required_argument, NULL, 'j'},
    {"dry-run", no_argument, NULL, 'n'},
    {"quiet", no_argument, NULL, 'q'},
    {"verbose", no_argument, NULL, 'v'},
    {"version", no_argument, NULL, 'V'},
    {"serverinfo", no_argument, NULL, OPT_SERVERINFO},
    {"progress", required_argument, NULL, OPT_PROGRESS},
    {"json", no_argument, NULL, OPT_JSON},
    {"syslog", no_argument, NULL, OPT_SYSLOG},
    {"show-config", no_argument, NULL, OPT_SHOW_CONFIG},
    {"authorize", optional_argument, NULL, OPT_AUTHORIZE},
    {"import-state", required_argument, NULL, OPT_IMPORT_STATE},
    {"convert-config", required_argument, NULL, OPT_CONVERT_CONFIG},
    {"daemon", required_argument, NULL, OPT_DAEMON},
};
#define N_OTHER_OPTS (sizeof(other_opts) / sizeof(other_opts[0]))

static void usage_modes(FILE *fp);

/* The OAuth part of --help. */
static void
usage_oauth(FILE *fp)
{
	fputs(
	    "\n"
	    "OAuth 2.0 (see popfetchrc(5); keys oauth2_*):\n"
	    "      --authorize[=device|browser]  authorize popfetch for the account once\n"
	    "                           and store its tokens (default: the provider's flow)\n"
	    "      --oauth2-provider=NAME  google, microsoft or generic: log in with\n"
	    "                           tokens refreshed by popfetch\n"
	    "      --oauth2-client-id=ID   the application registered with the provider\n"
	    "      --oauth2-client-secret-command=CMD  the first line of CMD's output is\n"
	    "                           the client secret (Google)\n"
	    "      --oauth2-tenant=T    Microsoft tenant (default common)\n"
	    "      --oauth2-scope=S     scope instead of the provider's POP3 scope\n"
	    "      --oauth2-token-url=URL  token endpoint (generic; overrides presets)\n"
	    "      --oauth2-device-url=URL  device authorization endpoint\n"
	    "      --oauth2-authorize-url=URL  browser authorization endpoint\n",
	    fp);
}

void
cli_usage(FILE *fp)
{
	fputs(
	    "usage: popfetch [-46ahknqVv] [-C file] [-H host] [-j jobs] [-P port]\n"
	    "                [-u user] [option ...] [account ...]\n"
	    "       popfetch --import-state=FORMAT:PATH [-C file] [option ...] [account]\n"
	    "       popfetch --convert-config=mpop|fetchmail FILE\n"
	    "\n"
	    "Fetch mail from POP3 servers and deliver it to a Maildir, an mbox, an MDA,\n"
	    "standard output or a mail server (LMTP, SMTP). Without an account, the\n"
	    "config file's default account is fetched; -a fetches all; --host makes a\n"
	    "one-off account from options.\n"
	    "\n"
	    "Connection:\n"
	    "  -H, --host=HOST          server name or address ([ADDR] and HOST:PORT too)\n"
	    "  -P, --port=PORT          port (default 995 with TLS, 110 otherwise)\n"
	    "  -u, --user=NAME          user name\n"
	    "      --tls                implicit TLS (default)\n"
	    "      --starttls           plain connect, then STLS (mandatory, no fallback)\n"
	    "      --no-tls             no TLS at all\n"
	    "      --ca-file=FILE       trust the CA certificates in FILE too\n"
	    "      --fingerprint=SHA256 pin the server certificate (hex, colons optional)\n"
	    "      --tls-min=1.2|1.3    lowest TLS version accepted (default 1.2)\n"
	    "      --cert=FILE          client certificate (PEM)\n"
	    "      --key=FILE           client certificate key (PEM)\n"
	    "      --insecure           do not verify the server certificate (unsafe)\n"
	    "      --auth=MECH          auto, user, apop, plain, login, cram-md5,\n"
	    "                           scram-sha-1, scram-sha-256, xoauth2, oauthbearer\n"
	    "      --password-command=CMD  the first line of CMD's output is the password\n"
	    "                           (else ~/.netrc, else asked on the terminal;\n"
	    "                           never a password itself on the command line)\n"
	    "      --timeout=SECONDS    connect and response deadline (default 60)\n"
	    "  -4, --ipv4               IPv4 only\n"
	    "  -6, --ipv6               IPv6 only\n"
	    "      --proxy=URL          socks5://[USER@]HOST:PORT (names resolved here),\n"
	    "                           socks5h://... (names resolved by the proxy) or\n"
	    "                           http://[USER@]HOST:PORT (HTTP CONNECT)\n"
	    "      --proxy-password-command=CMD  the first line of CMD's output is the\n"
	    "                           proxy user's password\n"
	    "      --tunnel=COMMAND     speak POP3 over COMMAND's stdin and stdout\n"
	    "                           (/bin/sh -c; %h host, %p port, %% a literal %)\n"
	    "      --source-address=ADDR  connect from this local address\n",
	    fp);
	usage_oauth(fp);
	/* several strings: C11 compilers need not take one over 4095 bytes */
	fputs(
	    "\n"
	    "Delivery (exactly one):\n"
	    "      --maildir=DIR        deliver into a Maildir (created if missing)\n"
	    "      --mbox=FILE          append to an mboxrd file (created if missing)\n"
	    "      --mda=COMMAND        pipe each message to COMMAND via /bin/sh -c;\n"
	    "                           %F is the envelope sender, %% a literal %\n"
	    "      --stdout             write all messages to stdout as an mboxrd stream\n"
	    "      --lmtp=TARGET        hand each message to an LMTP server: a Unix socket\n"
	    "                           path or HOST[:PORT] (port 24)\n"
	    "      --smtp=HOST[:PORT]   hand each message to an SMTP server (port 25);\n"
	    "                           STARTTLS required unless on loopback\n"
	    "      --recipient=ADDRESS  LMTP/SMTP envelope recipient (default: your user name)\n"
	    "      --delete-refused     LMTP/SMTP: delete messages the server refuses for\n"
	    "                           good (5xx) instead of keeping them\n"
	    "      --no-received        do not add a Received: header\n"
	    "      --lock-wait=SECONDS  how long to wait for an mbox lock (default 30)\n"
	    "      --mda-timeout=SECONDS  kill an MDA that runs longer (default 300)\n"
	    "\n"
	    "Policy:\n"
	    "  -k, --keep               leave messages on the server\n"
	    "      --only-new           skip messages seen before (default)\n"
	    "      --all                fetch messages seen before too\n"
	    "      --delete-after=DAYS  with --keep (needed): delete messages first seen\n"
	    "                           DAYS ago\n"
	    "      --max-size=BYTES     leave larger messages on the server\n"
	    "      --kill-size=BYTES    delete larger messages without downloading them\n"
	    "      --max-message-size=BYTES  hard cap on one message, whatever the server\n"
	    "                           lists (default 256M); larger ones stay there\n"
	    "      --limit=N            fetch at most N messages this run\n"
	    "      --state-dir=DIR      where seen-message state lives\n",
	    fp);
	usage_modes(fp);
}

/* The modes, output and exit status part of --help. */
static void
usage_modes(FILE *fp)
{
	fputs(
	    "\n"
	    "Modes and output:\n"
	    "  -C, --config=FILE        config file (default $XDG_CONFIG_HOME/popfetch/config,\n"
	    "                           else ~/.popfetchrc)\n"
	    "  -a, --all-accounts       fetch every account of the config file\n"
	    "  -j, --jobs=N             fetch N accounts at the same time\n"
	    "      --serverinfo         show what the server offers; fetch nothing\n"
	    "      --show-config        show each account's settings and where they\n"
	    "                           come from; fetch nothing\n"
	    "  -n, --dry-run            show what would be fetched and deleted; change nothing\n"
	    "      --import-state=FORMAT:PATH  mark the UIDs that mpop, fetchmail or\n"
	    "                           getmail recorded in PATH as delivered for the\n"
	    "                           account (FORMAT mpop, fetchmail or getmail);\n"
	    "                           fetch nothing\n"
	    "      --convert-config=mpop|fetchmail FILE  print FILE, an .mpoprc or\n"
	    "                           .fetchmailrc, as a popfetchrc on stdout\n"
	    "  -q, --quiet              errors only\n"
	    "      --quiet-temporary=N  print a temporary failure (exit 75) only when\n"
	    "                           it is the N-th or later in a row\n"
	    "  -v, --verbose            a line per message; twice: protocol trace\n"
	    "      --progress=WHEN      auto, always or never: a progress bar on stderr\n"
	    "      --json               print a JSON summary on stdout\n"
	    "      --syslog             log to syslog instead of stderr (key: syslog)\n"
	    "      --daemon=SECONDS     fetch, sleep SECONDS, again, until SIGTERM; SIGUSR1\n"
	    "                           polls now, SIGHUP reloads the config (key: daemon)\n"
	    "  -h, --help               show this help\n"
	    "  -V, --version            show the version and features\n"
	    "\n"
	    "Long options cannot be abbreviated.\n"
	    "\n"
	    "Exit status: 0 ok, 64 usage, 65 state corrupt, 68 no such host,\n"
	    "69 unavailable, 70 software, 73 cannot create, 74 I/O error,\n"
	    "75 temporary failure, 76 protocol error, 77 permission or\n"
	    "authentication, 78 configuration. See popfetch(1).\n",
	    fp);
}

void
cli_version(FILE *fp)
{
	fprintf(fp, "popfetch %s\n", POPFETCH_VERSION);
	fprintf(fp, "TLS: %s (built with %s)\n",
	    OpenSSL_version(OPENSSL_VERSION), OPENSSL_VERSION_TEXT);
	fputs(
	    "features: implicit-tls starttls pipelining maildir mbox mda stdout"
	    " lmtp smtp"
	    " sasl-plain sasl-login cram-md5 scram-sha-1 scram-sha-256"
	    " xoauth2 oauthbearer apop"
	    " socks5 http-proxy tunnel source-address oauth2-device oauth2-browser",
	    fp);
#ifdef POPFETCH_FAULT
	fputs(" fault-injection", fp);
#endif
	fputc('\n', fp);
}

/* "no-tls" -> "no_tls": the config key of a long option. */
static char *
option_key(const char *name)
{
	char *k = xstrdup(name), *p;

	for (p = k; *p != '\0'; p++)
		if (*p == '-')
			*p = '_';
	return k;
}

/* Account options and the others in one getopt_long table. */
static struct option *
build_longopts(void)
{
	struct option *lo;
	size_t i, n = 0;

	lo = xcalloc(N_ACCOUNT_OPTS + N_OTHER_OPTS + 1, sizeof(*lo));
	for (i = 0; i < N_ACCOUNT_OPTS; i++) {
		lo[n].name = account_opts[i].name;
		lo[n].has_arg = account_opts[i].has_arg;
		lo[n].flag = NULL;
		lo[n].val = OPT_ACCOUNT_KEY + (int)i;
		n++;
	}
	for (i = 0; i < N_OTHER_OPTS; i++)
		lo[n++] = other_opts[i];
	return lo;
}

/*
 * A long option that is not one of ours, by its name alone (the value
 * after '=' may be a secret and is never shown): a password, an
 * abbreviation (getopt_long would take a unique prefix for the whole
 * name, so "--password SECRET" would have run SECRET as
 * --password-command), or unknown.
 */
static int
bad_long_option(
    const struct option *lo, const char *name, size_t len, struct pf_err *err)
{
	const char *match = NULL;
	size_t i, nmatch = 0;

	if (len >= 4 &&
	    (strncmp(name, "password", len) == 0 ||
		strncmp(name, "passwd", len) == 0))
		return pf_err_set(err, PF_EUSAGE,
		    "--%.*s is refused: a password is never taken from the command line, where other users can see it; use --password-command, ~/.netrc or the config file, or type it when asked",
		    (int)len, name);
	for (i = 0; lo[i].name != NULL; i++) {
		if (strncmp(lo[i].name, name, len) == 0) {
			match = lo[i].name;
			nmatch++;
		}
	}
	if (nmatch == 1)
		return pf_err_set(err, PF_EUSAGE,
		    "unknown option '--%.*s' (options cannot be abbreviated: did you mean '--%s'?)",
		    (int)len, name, match);
	if (nmatch > 1)
		return pf_err_set(err, PF_EUSAGE,
		    "unknown option '--%.*s' (options cannot be abbreviated)",
		    (int)len, name);
	return pf_err_set(
	    err, PF_EUSAGE, "unknown option '--%.*s'", (int)len, name);
}

/* Whether short option ch takes a value. */
static bool
short_takes_value(const char *optstring, char ch)
{
	const char *p = strchr(optstring, ch);

	return ch != ':' && p != NULL && p[1] == ':';
}

/*
 * Check every long option's name before getopt_long sees argv: only
 * exact names pass, and nothing is run or echoed for one that does not.
 * Values are skipped the way getopt_long would take them.
 */
static int
check_long_options(int argc, char **argv, const char *optstring,
    const struct option *lo, struct pf_err *err)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *w = argv[i], *eq;
		size_t len, k;

		if (strcmp(w, "--") == 0)
			break;
		if (w[0] != '-' || w[1] == '\0')
			continue; /* an operand */
		if (w[1] != '-') {
			/* a cluster of short options: skip a separate value */
			for (k = 1; w[k] != '\0'; k++)
				if (short_takes_value(optstring, w[k])) {
					i += w[k + 1] == '\0';
					break;
				}
			continue;
		}
		eq = strchr(w + 2, '=');
		len = eq != NULL ? (size_t)(eq - w - 2) : strlen(w + 2);
		for (k = 0; lo[k].name != NULL; k++)
			if (strlen(lo[k].name) == len &&
			    strncmp(lo[k].name, w + 2, len) == 0)
				break;
		if (lo[k].name == NULL)
			return bad_long_option(lo, w + 2, len, err);
		if (lo[k].has_arg == no_argument && eq != NULL)
			return pf_err_set(err, PF_EUSAGE,
			    "option '--%s' takes no value", lo[k].name);
		if (lo[k].has_arg == required_argument && eq == NULL) {
			if (i + 1 >= argc)
				return pf_err_set(err, PF_EUSAGE,
				    "option '--%s' needs a value", lo[k].name);
			i++;
		}
	}
	return 0;
}

/* Turn an account option into a setting, checking its value now so that
 * the error names the option. */
static int
add_account_option(
    struct cli *c, const char *name, const char *val, struct pf_err *err)
{
	struct account probe;
	char *k = option_key(name);
	int ret = -1;

	memset(&probe, 0, sizeof(probe));
	if (config_apply(&probe, k, val, err) < 0) {
		err->code = PF_EUSAGE;
		pf_err_prefix(err, "option --%s", name);
		goto out;
	}
	if (strcmp(k, "host") == 0)
		c->one_off = true;
	config_settings_add(&c->settings, k, val, NULL, 0);
	ret = 0;
out:
	account_free(&probe);
	free(k);
	return ret;
}

static int account_option(
    int ch, const char **key, const char **val, struct pf_err *err);

/*
 * The value of the first of words[] that v is (the rest in the same order
 * as values[]), or -1 with a usage error naming --opt and what it takes.
 */
static int
option_word(const char *opt, const char *v, const char *const words[],
    const int values[], const char *takes, struct pf_err *err)
{
	size_t i;

	for (i = 0; words[i] != NULL; i++)
		if (strcmp(v, words[i]) == 0)
			return values[i];
	return pf_err_set(
	    err, PF_EUSAGE, "invalid value '%s' for --%s (%s)", v, opt, takes);
}

/* --authorize[=device|browser]. */
static int
authorize_option(struct cli *c, const char *v, struct pf_err *err)
{
	static const char *const words[] = {"device", "browser", NULL};
	static const int values[] = {
	    CLI_AUTHORIZE_DEVICE, CLI_AUTHORIZE_BROWSER};
	int r;

	if (v == NULL)
		r = CLI_AUTHORIZE_DEFAULT;
	else if ((r = option_word("authorize", v, words, values,
		      "device or browser", err)) < 0)
		return -1;
	c->authorize = (enum cli_authorize)r;
	return 0;
}

/* --progress=auto|always|never. */
static int
progress_option(struct cli *c, const char *v, struct pf_err *err)
{
	static const char *const words[] = {"auto", "always", "never", NULL};
	static const int values[] = {
	    CLI_PROGRESS_AUTO, CLI_PROGRESS_ALWAYS, CLI_PROGRESS_NEVER};
	int r = option_word(
	    "progress", v, words, values, "auto, always or never", err);

	if (r < 0)
		return -1;
	c->progress = (enum cli_progress)r;
	return 0;
}

#define C(field) offsetof(struct cli, field)

/* The run options that only switch something on. */
static const struct {
	int ch;
	size_t off; /* of a bool in struct cli */
} run_flags[] = {
    {'a', C(all_accounts)},
    {'h', C(help)},
    {'n', C(dry_run)},
    {'V', C(version)},
    {OPT_SERVERINFO, C(serverinfo)},
    {OPT_JSON, C(json)},
    {OPT_SYSLOG, C(use_syslog)},
    {OPT_SHOW_CONFIG, C(show_config)},
};

/* The run options whose value is kept as given (the last one wins). */
static const struct {
	int ch;
	size_t off; /* of a char * in struct cli */
} run_strings[] = {
    {'C', C(config_path)},
    {OPT_IMPORT_STATE, C(import_spec)},
    {OPT_CONVERT_CONFIG, C(convert_source)},
};

#undef C

/* Set the flag or the string of ch from run_flags or run_strings; false
 * when ch is neither. */
static bool
run_table_option(struct cli *c, int ch)
{
	size_t i;

	for (i = 0; i < sizeof(run_flags) / sizeof(run_flags[0]); i++)
		if (run_flags[i].ch == ch) {
			*(bool *)((char *)c + run_flags[i].off) = true;
			return true;
		}
	for (i = 0; i < sizeof(run_strings) / sizeof(run_strings[0]); i++)
		if (run_strings[i].ch == ch) {
			char **p = (char **)((char *)c + run_strings[i].off);

			free(*p);
			*p = xstrdup(optarg);
			return true;
		}
	return false;
}

/* The options that steer the run rather than an account. Returns 1 when
 * ch is an account option (*key set), 0 done, -1 error. */
static int
run_option(struct cli *c, int ch, const char **key, const char **val,
    struct pf_err *err)
{
	if (run_table_option(c, ch))
		return 0;
	switch (ch) {
	case 'j': {
		char *end;
		long v = strtol(optarg, &end, 10);

		if (*optarg == '\0' || *end != '\0' || v < 1 ||
		    v > RUNNER_JOBS_MAX)
			return pf_err_set(err, PF_EUSAGE,
			    "invalid number of jobs '%s' (1-%d)", optarg,
			    RUNNER_JOBS_MAX);
		c->jobs = (int)v;
		break;
	}
	case 'q':
		c->verbosity = -1;
		break;
	case 'v':
		if (c->verbosity < 2)
			c->verbosity = c->verbosity < 0 ? 1 : c->verbosity + 1;
		break;
	case OPT_PROGRESS:
		return progress_option(c, optarg, err);
	case OPT_AUTHORIZE:
		return authorize_option(c, optarg, err);
	case OPT_DAEMON: {
		unsigned long long v;

		if (num_parse_all(optarg, 86400, &v) < 0)
			return pf_err_set(err, PF_EUSAGE,
			    "invalid number of seconds '%s' for --daemon (0 to 86400)",
			    optarg);
		c->daemon = (int)v;
		break;
	}
	default:
		return account_option(ch, key, val, err);
	}
	return 0;
}

/* The account options, short and long. Returns 1 with *key set, or -1. */
static int
account_option(int ch, const char **key, const char **val, struct pf_err *err)
{
	switch (ch) {
	case '4':
		*key = "ipv4";
		return 1;
	case '6':
		*key = "ipv6";
		return 1;
	case 'H':
		*key = "host";
		break;
	case 'k':
		*key = "keep";
		return 1;
	case 'P':
		*key = "port";
		break;
	case 'u':
		*key = "user";
		break;
	default:
		if (ch < OPT_ACCOUNT_KEY ||
		    ch >= OPT_ACCOUNT_KEY + (int)N_ACCOUNT_OPTS)
			return pf_err_set(
			    err, PF_ESOFTWARE, "unhandled option %d", ch);
		*key = account_opts[ch - OPT_ACCOUNT_KEY].name;
		if (account_opts[ch - OPT_ACCOUNT_KEY].has_arg !=
		    required_argument)
			return 1;
	}
	*val = optarg;
	return 1;
}

/*
 * --import-state and --convert-config are modes of their own: one account
 * (or the default) and exactly one FILE respectively, no other mode.
 */
static int
check_migration(const struct cli *c, struct pf_err *err)
{
	const char *opt =
	    c->import_spec != NULL ? "--import-state" : "--convert-config";
	const char *other = c->serverinfo ? "--serverinfo"
	    : c->show_config		  ? "--show-config"
	    : c->dry_run		  ? "--dry-run"
	    : c->json			  ? "--json"
	    : c->all_accounts		  ? "--all-accounts"
					  : NULL;

	if (c->import_spec == NULL && c->convert_source == NULL)
		return 0;
	if (c->import_spec != NULL && c->convert_source != NULL)
		other = "--convert-config";
	if (other != NULL)
		return pf_err_set(err, PF_EUSAGE,
		    "%s and %s cannot be used together", opt, other);
	if (c->import_spec != NULL) {
		enum import_format fmt;
		char *path = NULL;

		if (import_spec_parse(c->import_spec, &fmt, &path, err) < 0)
			return -1;
		free(path);
	}
	if (c->import_spec != NULL && c->naccounts > 1)
		return pf_err_set(err, PF_EUSAGE,
		    "--import-state imports into one account: name at most one");
	if (c->convert_source != NULL && c->naccounts != 1)
		return pf_err_set(err, PF_EUSAGE,
		    "--convert-config needs exactly one FILE: popfetch --convert-config=mpop|fetchmail FILE");
	if (c->convert_source != NULL && c->settings.n > 0)
		return pf_err_set(err, PF_EUSAGE,
		    "--convert-config takes no account options");
	return 0;
}

int
cli_parse(int argc, char **argv, struct cli *c, struct pf_err *err)
{
	static const char optstring[] = "46aC:hH:j:knP:qu:vV";
	struct option *longopts;
	int ch, ret = -1;

	memset(c, 0, sizeof(*c));
	c->jobs = 1;
	c->daemon = -1;
	longopts = build_longopts();
	if (check_long_options(argc, argv, optstring, longopts, err) < 0)
		goto out;
	opterr = 0;
#ifdef __GLIBC__
	optind = 0; /* a full reset: nothing left of an earlier parse */
#else
	optind = 1;
#endif
	while (
	    (ch = getopt_long(argc, argv, optstring, longopts, NULL)) != -1) {
		const char *key = NULL, *val = NULL;
		int rc;

		if (ch == '?') {
			if (short_takes_value(optstring, (char)optopt))
				pf_err_set(err, PF_EUSAGE,
				    "option '-%c' needs a value", optopt);
			else
				pf_err_set(err, PF_EUSAGE,
				    "unknown option '-%c'", optopt);
			goto out;
		}
		rc = run_option(c, ch, &key, &val, err);
		if (rc < 0 ||
		    (rc > 0 && add_account_option(c, key, val, err) < 0))
			goto out;
	}
	if (optind < argc) {
		c->naccounts = argc - optind;
		c->accounts = argv + optind;
	}
	if (check_migration(c, err) < 0)
		goto out;
	ret = config_settings_check(&c->settings, err);
	if (ret == 0 && c->authorize != CLI_AUTHORIZE_NONE &&
	    (c->serverinfo || c->show_config || c->dry_run || c->json ||
		c->all_accounts || c->import_spec != NULL ||
		c->convert_source != NULL))
		ret = pf_err_set(err, PF_EUSAGE,
		    "--authorize runs alone: not with --serverinfo, --show-config, --dry-run, --json, --all-accounts, --import-state or --convert-config");
out:
	free(longopts);
	return ret;
}

void
cli_free(struct cli *c)
{
	config_settings_free(&c->settings);
	free(c->config_path);
	free(c->import_spec);
	free(c->convert_source);
	memset(c, 0, sizeof(*c));
}
