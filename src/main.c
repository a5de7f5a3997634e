/*
 * main.c: the front end. It has the invocation module turn the command
 * line and the config file into accounts, has the runner run them, writes
 * what the user asked for and maps the first failure to a sysexits(3)
 * code. It is the only place that exits.
 */
#include <stdio.h>
#include <stdlib.h>

#include "popfetch/cli.h"
#include "popfetch/invocation.h"
#include "popfetch/log.h"
#include "popfetch/process.h"
#include "popfetch/progress.h"
#include "popfetch/runner.h"

/* The run (with its progress bar), for the output hooks. */
static struct invocation inv;

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
	const char *s = progress_clear(&inv.progress);

	if (s != NULL)
		fputs(s, stderr);
}

static void
on_progress(void *ctx, const struct account *a, const struct fetch_progress *p)
{
	char line[256];

	(void)ctx;
	if (invocation_progress(&inv, a, p, line, sizeof(line))) {
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

/* Write text on stdout at once. */
static void
put(const char *text)
{
	fputs(text, stdout);
	fflush(stdout);
}

static void
on_serverinfo(void *ctx, const struct account *a, const char *text)
{
	(void)ctx;
	(void)a;
	put(text);
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
	level = invocation_done(&inv, a, r, &error, line, sizeof(line));
	if (error)
		log_error("%s", r->err.msg);
	if (level >= 0)
		log_msg((enum log_level)level, "%s", line);
}

static void
on_warning(void *ctx, const char *msg)
{
	(void)ctx;
	log_notice("warning: %s", msg);
}

/* A one-shot command (invocation_convert(), _authorize(), _import()): its
 * text on stdout, or its error (with the --help hint when hint); the exit
 * status. */
static int
one_shot(int (*cmd)(struct invocation *inv, struct invocation_text *out,
	     struct pf_err *err),
    bool hint)
{
	struct invocation_text t;
	struct pf_err err;
	int status = 0;

	if (cmd(&inv, &t, &err) < 0)
		return fail(&err, hint);
	if ((fwrite(t.text, 1, t.len, stdout) != t.len ||
		fflush(stdout) != 0) &&
	    t.config) {
		log_error(
		    "cannot write the converted configuration to standard output");
		status = exit_code(PF_EIO);
	}
	invocation_text_free(&t);
	return status;
}

/* Run the accounts once; the exit status. */
static int
run(void)
{
	struct runner_hooks h = {
	    on_report, on_progress, on_serverinfo, on_done, NULL};
	struct pf_err err;
	char *doc;
	int status;

	if (invocation_output(&inv, &err) < 0)
		return fail(&err, false);
	if (inv.bar)
		log_set_before_hook(bar_clear);
	status = invocation_run(&inv, &h, exit_code, &doc);
	if (doc != NULL)
		put(doc);
	free(doc);
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
	inv.put = put;
	if (c.convert_source != NULL)
		status = one_shot(invocation_convert, false);
	else if (invocation_load(&inv, &err) < 0)
		status = fail(&err, true);
	else if (c.show_config)
		status = invocation_show_config(&inv, stdout, &err) < 0
		    ? fail(&err, false)
		    : 0;
	else if (c.authorize != CLI_AUTHORIZE_NONE)
		status = one_shot(invocation_authorize, false);
	else if (c.import_spec != NULL)
		status = one_shot(invocation_import, true);
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
	return status;
}
