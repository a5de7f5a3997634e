/*
 * main.c: the front end. It turns the command line and the config file
 * into accounts, has the runner run them, writes what the user asked for
 * and maps the first failure to a sysexits(3) code. It is the only place
 * that exits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "popfetch/cli.h"
#include "popfetch/config.h"
#include "popfetch/conn.h"
#include "popfetch/convert.h"
#include "popfetch/daemon.h"
#include "popfetch/fetch.h"
#include "popfetch/import.h"
#include "popfetch/log.h"
#include "popfetch/process.h"
#include "popfetch/progress.h"
#include "popfetch/runner.h"
#include "popfetch/secret.h"
#include "popfetch/sink.h"
#include "popfetch/summary.h"
#include "popfetch/tempcount.h"
#include "popfetch/token.h"
#include "popfetch/xmalloc.h"

/* What the output hooks need to know. */
static struct {
	const struct cli *c;
	bool syslog; /* --syslog, or "syslog on" in the config */
	bool bar_on; /* a progress bar on stderr */
	bool daemon; /* --daemon: the daemon logs each account's error */
	struct progress bar;
} ui;

/* The sysexits(3) code of each error class (docs/contract.md §3). */
static const int exit_codes[] = {
    [PF_OK] = 0,
    [PF_EUSAGE] = 64,
    [PF_EDATA] = 65,
    [PF_EUNAVAIL] = 69,
    [PF_ESOFTWARE] = 70,
    [PF_ECANTCREAT] = 73,
    [PF_EIO] = 74,
    [PF_ETEMP] = 75,
    [PF_EPROTO] = 76,
    [PF_ENOPERM] = 77,
    [PF_ECONFIG] = 78,
    [PF_ENOHOST] = 68,
};

static int
exit_code(enum pf_errc code)
{
	if ((size_t)code >= sizeof(exit_codes) / sizeof(exit_codes[0]))
		return 70;
	return exit_codes[code];
}

/* Take the bar off the screen before a log line is written. */
static void
bar_clear(void)
{
	const char *s = progress_clear(&ui.bar);

	if (s != NULL)
		fputs(s, stderr);
}

static void
on_progress(void *ctx, const struct account *a, const struct fetch_progress *p)
{
	struct timespec now;
	char line[256];

	(void)ctx;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (ui.bar_on &&
	    progress_step(&ui.bar, a->name ? a->name : a->host, p, &now, line,
		sizeof(line))) {
		fputs(line, stderr);
		fflush(stderr);
	}
}

/* Dry-run and -v lines belong on stdout, unless --json owns it. */
static void
on_report(void *ctx, const char *line)
{
	FILE *fp = ui.c->json ? stderr : stdout;

	(void)ctx;
	bar_clear();
	fprintf(fp, "%s\n", line);
	fflush(fp);
}

static void
on_serverinfo(void *ctx, const struct account *a, const char *text)
{
	(void)ctx;
	(void)a;
	fputs(text, stdout);
	fflush(stdout);
}

/* An account is over: its error, then its summary line at -v or after a
 * progress bar. */
static void
on_done(void *ctx, const struct account *a, const struct runner_result *r)
{
	char line[256];

	(void)ctx;
	bar_clear();
	/* a LOGIN-DELAY not yet over is routine for cron: silent under -q */
	if (!ui.daemon &&
	    (ui.c->serverinfo || ui.c->dry_run || !tempcount_after_run(a, r))) {
		if (r->ret < 0 && !(r->st.login_wait && ui.c->verbosity < 0))
			log_error("%s", r->err.msg);
	}
	if (ui.c->serverinfo || ui.c->dry_run ||
	    (r->ret < 0 && r->st.listed == 0))
		return;
	summary_line(line, sizeof(line), &r->st);
	if (ui.c->verbosity >= 1)
		log_info("%s", line);
	else if (ui.bar_on)
		log_notice("%s", line);
}

static void
on_warning(void *ctx, const char *msg)
{
	(void)ctx;
	log_notice("warning: %s", msg);
}

/* --authorize: where to go, on stdout for the person at the terminal. */
static void
on_prompt(void *ctx, const char *url, const char *code, const char *complete)
{
	const char *name = ctx;

	if (code != NULL) {
		printf("To authorize popfetch for account '%s', open on any "
		       "device\n  %s\nand enter the code\n  %s\n",
		    name, url, code);
		if (complete != NULL)
			printf(
			    "(or open %s, which holds the code)\n", complete);
		printf("Waiting for you to sign in...\n");
	} else {
		printf("To authorize popfetch for account '%s', open in a "
		       "browser on this machine\n  %s\nWaiting for the "
		       "browser to come back...\n",
		    name, url);
	}
	fflush(stdout);
}

static bool
on_stop(void *ctx)
{
	(void)ctx;
	return fetch_stop_requested();
}

/* --authorize[=FLOW] ACCOUNT: one flow, tokens stored; the exit status. */
static int
authorize(const struct cli *c, const struct account *a, size_t n)
{
	static const enum oauth_flow flows[] = {
	    [CLI_AUTHORIZE_DEFAULT] = OAUTH_FLOW_DEFAULT,
	    [CLI_AUTHORIZE_DEVICE] = OAUTH_FLOW_DEVICE,
	    [CLI_AUTHORIZE_BROWSER] = OAUTH_FLOW_BROWSER,
	};
	char name[256];
	struct oauth_ui oui = {on_prompt, on_warning, on_stop, name};
	char *secret = NULL, *path = NULL;
	struct pf_err err;
	int rc;

	if (n != 1) {
		log_error("--authorize takes one account");
		return 64;
	}
	snprintf(name, sizeof(name), "%s", a->name != NULL ? a->name : a->host);
	if (a->user == NULL) {
		log_error(
		    "account '%s' has no user: set user, then run popfetch --authorize again",
		    a->name != NULL ? a->name : a->host);
		return 78;
	}
	rc = secret_oauth_client(a, &secret, &err);
	if (rc == 0)
		rc = token_authorize(
		    a, secret, flows[c->authorize], &oui, &path, &err);
	xfree_secret(secret);
	if (rc < 0) {
		log_error("%s", err.msg);
		return exit_code(err.code);
	}
	printf("Account '%s' is authorized; its tokens are stored in '%s'.\n",
	    a->name != NULL ? a->name : a->host, path);
	free(path);
	return 0;
}

/* Load the config (unless the run is a one-off --host account) and pick
 * the accounts. */
static int
load(const struct cli *c, struct config *cfg, bool *have_cfg,
    struct account **accts, size_t *n, struct pf_err *err)
{
	enum config_need need = c->show_config ? CONFIG_NEED_NOTHING
	    : c->serverinfo || c->import_spec != NULL ||
		c->authorize != CLI_AUTHORIZE_NONE
	    ? CONFIG_NEED_HOST
	    : CONFIG_NEED_FETCH;
	char *path;
	int rc;

	*have_cfg = !(c->one_off && c->naccounts == 0 && !c->all_accounts);
	if (*have_cfg) {
		path = c->config_path != NULL ? xstrdup(c->config_path)
					      : config_default_path();
		rc = config_load(path, true, cfg, err);
		free(path);
		if (rc < 0)
			return -1;
		if (cfg->syslog && !ui.syslog)
			log_init(c->verbosity, true);
		ui.syslog |= cfg->syslog;
		config_lint(cfg, &c->settings, on_warning, NULL);
	}
	return config_select(*have_cfg ? cfg : NULL, c->accounts,
	    (size_t)c->naccounts, c->all_accounts, &c->settings, need, accts, n,
	    err);
}

/* --convert-config=SOURCE FILE: the popfetchrc on stdout. Returns the
 * exit status. */
static int
convert(const struct cli *c)
{
	enum convert_source src;
	struct pf_err err;
	char *text = NULL;
	size_t len = 0;
	int status = 0;

	if (convert_source_parse(c->convert_source, &src, &err) < 0 ||
	    convert_config(src, c->accounts[0], NULL, &text, &len, &err) < 0) {
		log_error("%s", err.msg);
		return exit_code(err.code);
	}
	if (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0) {
		log_error(
		    "cannot write the converted configuration to standard output");
		status = exit_code(PF_EIO);
	}
	convert_free(text, len);
	return status;
}

/*
 * --import-state=FORMAT:PATH: mark the UIDs recorded there as delivered in
 * the state of account a, under the identity a fetch run keeps its state
 * and lock by (fetch_account(): account_key()). The two must stay the
 * same; test-migrate-state checks that they use one state file. Prints
 * the counts. Returns the exit status.
 */
static int
import(const struct cli *c, const struct account *a)
{
	struct import_account ia;
	struct import_counts counts;
	enum import_format fmt;
	struct pf_err err;
	char *path = NULL, *id = NULL, line[300];
	int rc = -1;

	if (import_spec_parse(c->import_spec, &fmt, &path, &err) < 0)
		goto out;
	if (a->user == NULL || a->user[0] == '\0') {
		pf_err_set(&err, a->name != NULL ? PF_ECONFIG : PF_EUSAGE,
		    "%s: no user given (--user or 'user'): --import-state takes the entries of the account's user",
		    a->origin);
		goto out;
	}
	ia.user = a->user;
	ia.host = a->host;
	ia.port = (unsigned)strtoul(account_port(a), NULL, 10);
	id = account_key(a);
	rc = import_state(
	    fmt, path, &ia, a->state_dir, id, a->keep, &counts, &err);
out:
	free(path);
	free(id);
	if (rc < 0) {
		log_error("%s", err.msg);
		if (err.code == PF_EUSAGE)
			fputs("Try 'popfetch --help'.\n", stderr);
		return exit_code(err.code);
	}
	printf("%s\n", import_summary(&counts, line, sizeof(line)));
	fflush(stdout);
	return 0;
}

/* Run the accounts; returns the exit status. */
static int
run(const struct cli *c, const struct account *accts, size_t n)
{
	struct runner_hooks h = {
	    on_report, on_progress, on_serverinfo, on_done, NULL};
	struct runner_opts o;
	struct runner_result *res;
	size_t i;
	long first;
	int status;

	for (i = 0; c->json && !c->serverinfo && !c->dry_run && i < n; i++) {
		if ((sink_kind_flags(accts[i].sink) & SINK_USES_STDOUT)) {
			log_error(
			    "--json and --stdout both write to standard output");
			return 64;
		}
	}
	ui.bar_on = !ui.syslog && !c->serverinfo && !c->dry_run &&
	    c->verbosity >= 0 && !runner_parallel(accts, n, c->jobs) &&
	    (c->progress == CLI_PROGRESS_ALWAYS ||
		(c->progress == CLI_PROGRESS_AUTO && isatty(STDERR_FILENO)));
	if (ui.bar_on)
		log_set_before_hook(bar_clear);
	memset(&o, 0, sizeof(o));
	o.jobs = c->jobs;
	o.serverinfo = c->serverinfo;
	o.dry_run = c->dry_run;
	o.trace = c->verbosity >= 2;
	res = xcalloc(n, sizeof(*res));
	runner_run(accts, n, &o, &h, res);
	first = runner_first_failure(res, n);
	status = first < 0 ? 0 : exit_code(res[first].err.code);
	if (c->json) {
		char *doc = summary_json(accts, res, n, status, exit_code);

		fputs(doc, stdout);
		fflush(stdout);
		free(doc);
	}
	free(res);
	return status;
}

/* The daemon's SIGHUP: the config loaded again, as at the start. */
static int
reload(void *ctx, struct account **accts, size_t *n, int *interval,
    struct pf_err *err)
{
	const struct cli *c = ctx;
	struct config cfg;
	bool have_cfg;
	int rc;

	memset(&cfg, 0, sizeof(cfg));
	rc = load(c, &cfg, &have_cfg, accts, n, err);
	*interval = c->daemon >= 0 ? c->daemon
	    : cfg.daemon_line > 0  ? cfg.daemon
				   : -1;
	config_free(&cfg);
	return rc;
}

/* The poll interval when this run is a daemon, else -1: --daemon, or the
 * config's "daemon" unless the run only looks (-n, --serverinfo,
 * --show-config, --json), which --daemon itself may not be combined
 * with (*bad set). */
static int
daemon_interval(const struct cli *c, const struct config *cfg, bool *bad)
{
	bool looks = c->dry_run || c->serverinfo || c->show_config || c->json;

	*bad = c->daemon >= 0 && looks;
	if (c->daemon >= 0)
		return looks ? -1 : c->daemon;
	return cfg->daemon_line > 0 && !looks ? cfg->daemon : -1;
}

/* Serve the accounts as a daemon (taken over); returns the exit status. */
static int
serve(struct cli *c, struct account *accts, size_t n, int interval)
{
	struct runner_hooks h = {on_report, NULL, NULL, on_done, NULL};
	struct runner_opts o;
	struct daemon_opts d;
	struct pf_err err;

	memset(&o, 0, sizeof(o));
	o.jobs = c->jobs;
	o.trace = c->verbosity >= 2;
	memset(&d, 0, sizeof(d));
	d.interval = interval;
	d.run = &o;
	d.hooks = &h;
	d.load = reload;
	d.load_ctx = c;
	ui.daemon = true;
	pf_err_clear(&err);
	if (daemon_run(&d, accts, n, &err) < 0) {
		log_error("%s", err.msg);
		return exit_code(err.code);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct account *accts = NULL;
	struct config cfg;
	struct pf_err err;
	struct cli c;
	size_t n = 0;
	bool have_cfg = false, bad;
	int status, interval;

	process_setup();
	pf_err_clear(&err);
	memset(&cfg, 0, sizeof(cfg));
	if (cli_parse(argc, argv, &c, &err) < 0) {
		fprintf(
		    stderr, "popfetch: %s\nTry 'popfetch --help'.\n", err.msg);
		cli_free(&c);
		return 64;
	}
	if (c.help || c.version) {
		(c.help ? cli_usage : cli_version)(stdout);
		cli_free(&c);
		return 0;
	}
	ui.c = &c;
	ui.syslog = c.use_syslog;
	log_init(c.verbosity, c.use_syslog);
	if (c.convert_source != NULL) {
		status = convert(&c);
	} else if (load(&c, &cfg, &have_cfg, &accts, &n, &err) < 0) {
		log_error("%s", err.msg);
		status = exit_code(err.code);
		if (err.code == PF_EUSAGE)
			fputs("Try 'popfetch --help'.\n", stderr);
	} else if (c.show_config) {
		status = 0;
		if (config_show_all(have_cfg ? &cfg : NULL, accts, n,
			&c.settings, c.use_syslog, stdout, &err) < 0) {
			log_error("%s", err.msg);
			status = exit_code(err.code);
		}
	} else if (c.authorize != CLI_AUTHORIZE_NONE) {
		status = authorize(&c, accts, n);
	} else if (c.import_spec != NULL) {
		status = import(&c, &accts[0]);
	} else if ((interval = daemon_interval(&c, &cfg, &bad)) >= 0) {
		status = serve(&c, accts, n, interval);
		accts = NULL;
		n = 0;
	} else if (bad) {
		log_error("--daemon cannot be combined with -n, --serverinfo, "
			  "--show-config or --json");
		status = 64;
	} else {
		status = run(&c, accts, n);
	}
	config_accounts_free(accts, n);
	config_free(&cfg);
	cli_free(&c);
	conn_tls_cache_free();
	log_close();
	return status;
}
