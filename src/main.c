/*
 * main.c: the front end. It has the invocation module turn the command
 * line and the config file into accounts, has the runner run them, writes
 * what the user asked for and maps the first failure to a sysexits(3)
 * code. It is the only place that exits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "popfetch/authorize.h"
#include "popfetch/cli.h"
#include "popfetch/conn.h"
#include "popfetch/convert.h"
#include "popfetch/import.h"
#include "popfetch/invocation.h"
#include "popfetch/log.h"
#include "popfetch/process.h"
#include "popfetch/progress.h"
#include "popfetch/runner.h"
#include "popfetch/summary.h"

/* The run and its progress bar, for the output hooks. */
static struct invocation inv;
static struct progress bar;

/* The sysexits(3) code of each error class (docs/contract.md §3). */
static const struct {
	enum pf_errc code;
	int status;
} exit_codes[] = {{PF_OK, 0}, {PF_EUSAGE, 64}, {PF_EDATA, 65},
    {PF_EUNAVAIL, 69}, {PF_ESOFTWARE, 70}, {PF_ECANTCREAT, 73}, {PF_EIO, 74},
    {PF_ETEMP, 75}, {PF_EPROTO, 76}, {PF_ENOPERM, 77}, {PF_ECONFIG, 78},
    {PF_ENOHOST, 68}};

static int
exit_code(enum pf_errc code)
{
	size_t i;

	for (i = 0; i < sizeof(exit_codes) / sizeof(exit_codes[0]); i++)
		if (exit_codes[i].code == code)
			return exit_codes[i].status;
	return 70;
}

/* Log err, with a pointer to --help after a usage error when hint; its
 * exit status. */
static int
fail(const struct pf_err *err, bool hint)
{
	log_error("%s", err->msg);
	if (hint && err->code == PF_EUSAGE)
		fputs("Try 'popfetch --help'.\n", stderr);
	return exit_code(err->code);
}

/* Take the bar off the screen before a log line is written. */
static void
bar_clear(void)
{
	const char *s = progress_clear(&bar);

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
	if (inv.bar &&
	    progress_step(&bar, a->name ? a->name : a->host, p, &now, line,
		sizeof(line))) {
		fputs(line, stderr);
		fflush(stderr);
	}
}

/* Dry-run and -v lines belong on stdout, unless --json owns it. */
static void
on_report(void *ctx, const char *line)
{
	FILE *fp = inv.c->json ? stderr : stdout;

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

/* An account is over: its error, then its summary line. */
static void
on_done(void *ctx, const struct account *a, const struct runner_result *r)
{
	char line[256];
	bool error;
	int level;

	(void)ctx;
	bar_clear();
	level = invocation_done(&inv, a, r, &error);
	if (error)
		log_error("%s", r->err.msg);
	if (level >= 0) {
		summary_line(line, sizeof(line), &r->st);
		log_msg((enum log_level)level, "%s", line);
	}
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
	char *text = authorize_prompt(ctx, url, code, complete);

	fputs(text, stdout);
	fflush(stdout);
	free(text);
}

/* --authorize[=FLOW] ACCOUNT: one flow, tokens stored; the exit status. */
static int
authorize(void)
{
	struct oauth_ui oui = {on_prompt, on_warning, NULL, inv.accts};
	const struct account *a = inv.accts;
	struct pf_err err;
	char *path = NULL;

	if (authorize_account(a, inv.n, inv.c->authorize, &oui, &path, &err))
		return fail(&err, false);
	printf("Account '%s' is authorized; its tokens are stored in '%s'.\n",
	    a->name != NULL ? a->name : a->host, path);
	free(path);
	return 0;
}

/* --convert-config=SOURCE FILE: the popfetchrc on stdout; the exit status. */
static int
convert(void)
{
	const struct cli *c = inv.c;
	struct pf_err err;
	char *text = NULL;
	size_t len = 0;
	int status = 0;

	if (convert_named(
		c->convert_source, c->accounts[0], &text, &len, &err) < 0)
		return fail(&err, false);
	if (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0) {
		log_error(
		    "cannot write the converted configuration to standard output");
		status = exit_code(PF_EIO);
	}
	convert_free(text, len);
	return status;
}

/* --import-state=FORMAT:PATH: the counts on stdout; the exit status. */
static int
import(void)
{
	struct import_counts counts;
	struct pf_err err;
	char line[300];

	if (import_account_state(
		&inv.accts[0], inv.c->import_spec, &counts, &err) < 0)
		return fail(&err, true);
	printf("%s\n", import_summary(&counts, line, sizeof(line)));
	fflush(stdout);
	return 0;
}

/* Run the accounts once; the exit status. */
static int
run(void)
{
	struct runner_hooks h = {
	    on_report, on_progress, on_serverinfo, on_done, NULL};
	struct runner_result *res;
	struct pf_err err;
	int status;

	if (invocation_output(&inv, &err) < 0)
		return fail(&err, false);
	if (inv.bar)
		log_set_before_hook(bar_clear);
	status = invocation_run(&inv, &h, exit_code, &res);
	if (inv.c->json) {
		char *doc =
		    summary_json(inv.accts, res, inv.n, status, exit_code);

		fputs(doc, stdout);
		fflush(stdout);
		free(doc);
	}
	free(res);
	return status;
}

int
main(int argc, char **argv)
{
	/* a daemon draws no progress bar and probes no server */
	struct runner_hooks serve = {on_report, NULL, NULL, on_done, NULL};
	struct pf_err err;
	struct cli c;
	int status, interval;

	process_setup();
	pf_err_clear(&err);
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
	invocation_init(&inv, &c, on_warning);
	if (c.convert_source != NULL)
		status = convert();
	else if (invocation_load(&inv, &err) < 0)
		status = fail(&err, true);
	else if (c.show_config)
		status = invocation_show_config(&inv, stdout, &err) < 0
		    ? fail(&err, false)
		    : 0;
	else if (c.authorize != CLI_AUTHORIZE_NONE)
		status = authorize();
	else if (c.import_spec != NULL)
		status = import();
	else if (invocation_daemon(&inv, &interval, &err) < 0)
		status = fail(&err, false);
	else if (interval < 0)
		status = run();
	else if (invocation_serve(&inv, interval, &serve, &err) < 0)
		status = fail(&err, false);
	else
		status = 0;
	invocation_free(&inv);
	cli_free(&c);
	conn_tls_cache_free();
	log_close();
	return status;
}
