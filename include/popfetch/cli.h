/*
 * cli.h: the command line (docs/contract.md §1). Account options become
 * "key value" settings applied on top of the config file; the rest steer
 * the run. The CLI and main.c are the only code that prints.
 */
#ifndef POPFETCH_CLI_H
#define POPFETCH_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "popfetch/config.h"
#include "popfetch/err.h"

enum cli_progress {
	CLI_PROGRESS_AUTO,
	CLI_PROGRESS_ALWAYS,
	CLI_PROGRESS_NEVER,
};

/* --authorize and its flow. */
enum cli_authorize {
	CLI_AUTHORIZE_NONE,
	CLI_AUTHORIZE_DEFAULT, /* the provider's flow */
	CLI_AUTHORIZE_DEVICE,
	CLI_AUTHORIZE_BROWSER,
};

struct cli {
	struct config_settings settings; /* account options, in order */
	char *config_path;		 /* -C, or NULL */
	bool all_accounts;		 /* -a */
	int jobs;			 /* -j, default 1 */
	bool serverinfo;
	bool show_config; /* --show-config */
	enum cli_authorize authorize;
	char *import_spec;    /* --import-state=FORMAT:PATH, or NULL */
	char *convert_source; /* --convert-config=mpop|fetchmail, or NULL */
	bool dry_run;
	bool json;
	bool use_syslog;
	int daemon;    /* --daemon=SECONDS, or -1 */
	int verbosity; /* -1 (-q), 0, 1 (-v), 2 (-vv) */
	enum cli_progress progress;
	bool help;
	bool version;
	bool one_off;	 /* --host was given */
	char **accounts; /* ACCOUNT operands (FILE with --convert-config) */
	int naccounts;
};

/*
 * Parse argv into c. Long options must be spelled out (no abbreviations),
 * --password and --passwd are refused without looking at their value, and
 * options that exclude each other (--maildir and --mbox, --tls and
 * --starttls, ...) may not both be given. --import-state takes at most one
 * account and --convert-config exactly one FILE operand; neither goes with
 * another mode (--serverinfo, --show-config, --dry-run, --json, -a) or
 * with the other. Returns 0, or -1 with PF_EUSAGE
 * and a message such as "unknown option '--foo'" that never holds an
 * option's value.
 */
int cli_parse(int argc, char **argv, struct cli *c, struct pf_err *err);

void cli_free(struct cli *c);

/* The --help text. */
void cli_usage(FILE *fp);

/* The --version text: version, OpenSSL version, compiled features. */
void cli_version(FILE *fp);

#endif
