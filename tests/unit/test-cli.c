/*
 * test-cli.c: the command line: options become settings in order, the
 * run options, no abbreviation of any long option, --password and
 * --passwd refused without their value showing, options that exclude
 * each other, values that look like options, and the operands of
 * --import-state and --convert-config.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "popfetch/cli.h"
#include "popfetch/xmalloc.h"

#define MAXARGS 16

/* Parse the words of args (split at single spaces) after "popfetch". */
static int
parse(const char *args, struct cli *c, struct pf_err *err)
{
	static char buf[1024];
	static char *argv[MAXARGS + 2];
	int argc = 0;
	char *p;

	snprintf(buf, sizeof(buf), "%s", args);
	argv[argc++] = (char *)(uintptr_t) "popfetch";
	for (p = strtok(buf, " "); p != NULL && argc <= MAXARGS;
	     p = strtok(NULL, " "))
		argv[argc++] = p;
	argv[argc] = NULL;
	pf_err_clear(err);
	return cli_parse(argc, argv, c, err);
}

/* Parse args; it must fail with PF_EUSAGE and a message holding want,
 * and not holding the word "S3cret". */
static void
refused(const char *args, const char *want)
{
	struct cli c;
	struct pf_err err;

	if (parse(args, &c, &err) == 0)
		fail_msg("'%s' was accepted", args);
	assert_int_equal(err.code, PF_EUSAGE);
	if (strstr(err.msg, want) == NULL)
		fail_msg("'%s': got '%s', want '%s'", args, err.msg, want);
	if (strstr(err.msg, "S3cret") != NULL)
		fail_msg("'%s': the value shows in '%s'", args, err.msg);
	cli_free(&c);
}

/* The setting at i is key (with value, NULL for a flag). */
static void
setting_is(const struct cli *c, size_t i, const char *key, const char *value)
{
	assert_true(i < c->settings.n);
	assert_string_equal(c->settings.v[i].key, key);
	if (value == NULL)
		assert_null(c->settings.v[i].value);
	else
		assert_string_equal(c->settings.v[i].value, value);
	assert_null(c->settings.v[i].file);
}

/* Account options, long and short, become settings in order. */
static void
test_account_options(void **state)
{
	struct cli c;
	struct pf_err err;

	(void)state;
	assert_int_equal(parse("-H pop.example.com --port=1995 -u alice "
			       "--no-tls -k --mda cat -4 --max-size 10k",
			     &c, &err),
	    0);
	assert_int_equal(c.settings.n, 8);
	setting_is(&c, 0, "host", "pop.example.com");
	setting_is(&c, 1, "port", "1995");
	setting_is(&c, 2, "user", "alice");
	setting_is(&c, 3, "no_tls", NULL);
	setting_is(&c, 4, "keep", NULL);
	setting_is(&c, 5, "mda", "cat");
	setting_is(&c, 6, "ipv4", NULL);
	setting_is(&c, 7, "max_size", "10k");
	assert_true(c.one_off);
	assert_int_equal(c.naccounts, 0);
	cli_free(&c);
}

/* The options that steer the run, and the operands. */
static void
test_run_options(void **state)
{
	struct cli c;
	struct pf_err err;

	(void)state;
	assert_int_equal(parse("-a -C /etc/pf -j 3 -n -vv --serverinfo "
			       "--progress=never --json --syslog "
			       "--show-config work home",
			     &c, &err),
	    0);
	assert_true(c.all_accounts);
	assert_string_equal(c.config_path, "/etc/pf");
	assert_int_equal(c.jobs, 3);
	assert_true(c.dry_run);
	assert_int_equal(c.verbosity, 2);
	assert_true(c.serverinfo);
	assert_int_equal(c.progress, CLI_PROGRESS_NEVER);
	assert_true(c.json);
	assert_true(c.use_syslog);
	assert_true(c.show_config);
	assert_false(c.one_off);
	assert_int_equal(c.naccounts, 2);
	assert_string_equal(c.accounts[0], "work");
	assert_string_equal(c.accounts[1], "home");
	cli_free(&c);
	assert_int_equal(parse("-q", &c, &err), 0);
	assert_int_equal(c.verbosity, -1);
	cli_free(&c);
	assert_int_equal(parse("-h", &c, &err), 0);
	assert_true(c.help);
	cli_free(&c);
	refused("-j 0", "invalid number of jobs");
	refused("-j 65", "invalid number of jobs");
	refused("--progress=sometimes", "--progress");
	refused("--port 0", "option --port");
	refused("--tls-min 1.1", "option --tls-min");
}

/* --authorize[=device|browser] and the --oauth2-* account options. */
static void
test_authorize(void **state)
{
	struct cli c;
	struct pf_err err;

	(void)state;
	assert_int_equal(parse("--authorize work", &c, &err), 0);
	assert_int_equal(c.authorize, CLI_AUTHORIZE_DEFAULT);
	assert_int_equal(c.naccounts, 1);
	assert_string_equal(c.accounts[0], "work");
	cli_free(&c);
	assert_int_equal(parse("--authorize=device", &c, &err), 0);
	assert_int_equal(c.authorize, CLI_AUTHORIZE_DEVICE);
	cli_free(&c);
	assert_int_equal(parse("--authorize=browser --oauth2-provider google "
			       "--oauth2-client-id=cid",
			     &c, &err),
	    0);
	assert_int_equal(c.authorize, CLI_AUTHORIZE_BROWSER);
	assert_int_equal(c.settings.n, 2);
	assert_string_equal(c.settings.v[0].key, "oauth2_provider");
	assert_string_equal(c.settings.v[0].value, "google");
	assert_string_equal(c.settings.v[1].key, "oauth2_client_id");
	cli_free(&c);
	assert_int_equal(parse("", &c, &err), 0);
	assert_int_equal(c.authorize, CLI_AUTHORIZE_NONE);
	cli_free(&c);
	refused("--authorize=tv", "--authorize");
	refused("--authorize -n work", "--authorize runs alone");
	refused("--authorize -a", "--authorize runs alone");
	refused("--oauth2-provider yahoo", "option --oauth2-provider");
}

/* Short options in a cluster, a value in the same word, and "--". */
static void
test_clusters_and_operands(void **state)
{
	struct cli c;
	struct pf_err err;

	(void)state;
	assert_int_equal(parse("-kvC/x/y -- --weird", &c, &err), 0);
	assert_string_equal(c.config_path, "/x/y");
	assert_int_equal(c.verbosity, 1);
	setting_is(&c, 0, "keep", NULL);
	assert_int_equal(c.naccounts, 1);
	assert_string_equal(c.accounts[0], "--weird");
	cli_free(&c);
	/* a value that looks like an option is still the value */
	assert_int_equal(parse("--mda --keep -C --json", &c, &err), 0);
	setting_is(&c, 0, "mda", "--keep");
	assert_string_equal(c.config_path, "--json");
	assert_false(c.json);
	cli_free(&c);
}

/* The long options --help lists, each once; returns how many. */
static size_t
help_options(char names[][32], size_t max)
{
	char *help = NULL, *p;
	size_t len = 0, n = 0, i;
	FILE *fp = open_memstream(&help, &len);
	regmatch_t m;
	regex_t re;

	assert_non_null(fp);
	cli_usage(fp);
	fclose(fp);
	assert_int_equal(regcomp(&re, "--[a-z0-9][a-z0-9-]*", REG_EXTENDED), 0);
	for (p = help; n < max && regexec(&re, p, 1, &m, 0) == 0;
	     p += m.rm_eo) {
		snprintf(names[n], sizeof(names[n]), "%.*s",
		    (int)(m.rm_eo - m.rm_so), p + m.rm_so);
		for (i = 0; i < n && strcmp(names[i], names[n]) != 0; i++)
			;
		n += i == n;
	}
	regfree(&re);
	free(help);
	return n;
}

/* Every long option that --help lists is an option, and each of its
 * prefixes (down to "--x") is refused, unless it is an option itself
 * ("--all" of "--all-accounts"): getopt_long alone would take a unique
 * prefix. */
static void
test_no_abbreviations(void **state)
{
	static char names[128][32];
	size_t n = help_options(names, 128), i, j;

	(void)state;
	assert_true(n >= 40);
	for (i = 0; i < n; i++) {
		char args[80];
		struct cli c;
		struct pf_err err;
		int len = (int)strlen(names[i]);

		snprintf(args, sizeof(args), "%s x", names[i]);
		if (parse(args, &c, &err) < 0 &&
		    strstr(err.msg, "unknown option") != NULL)
			fail_msg("%s: %s", names[i], err.msg);
		cli_free(&c);
		for (len--; len > 2; len--) {
			snprintf(args, sizeof(args), "%.*s x", len, names[i]);
			for (j = 0; j < n; j++)
				if ((int)strlen(names[j]) == len &&
				    strncmp(names[j], names[i], (size_t)len) ==
					0)
					break;
			if (j < n)
				continue; /* an option of its own */
			if (parse(args, &c, &err) == 0)
				fail_msg("'%s' was taken", args);
			assert_int_equal(err.code, PF_EUSAGE);
			cli_free(&c);
		}
	}
	refused("--kee", "cannot be abbreviated: did you mean '--keep'");
	refused("--star", "did you mean '--starttls'");
	refused("--password-comm=S3cret", "did you mean '--password-command'");
	refused("--frobnicate", "unknown option '--frobnicate'");
}

/* --password and --passwd, with or without a value, and their prefixes:
 * refused, the value never shown. */
static void
test_password_refused(void **state)
{
	static const char *const cases[] = {
	    "--password S3cret",
	    "--password=S3cret",
	    "--password",
	    "--passwd S3cret",
	    "--passwd=S3cret",
	    "--passwd",
	    "--pass=S3cret",
	    "--passw S3cret",
	    "--host h --user u --maildir m --password S3cret",
	    "-k --password=S3cret work",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		refused(cases[i], "is refused: a password is never taken");
}

/* Flags that take no value, values that are missing. */
static void
test_values(void **state)
{
	(void)state;
	refused("--keep=yes", "option '--keep' takes no value");
	refused("--mda", "option '--mda' needs a value");
	refused("-C", "option '-C' needs a value");
	refused("-x", "unknown option '-x'");
}

/* Options that exclude each other may not both be given. */
static void
test_exclusive(void **state)
{
	(void)state;
	refused("--maildir a --mbox b", "--maildir and --mbox exclude");
	refused("--mda a --stdout", "--mda and --stdout exclude");
	refused("--tls --starttls", "--tls and --starttls exclude");
	refused("--no-tls --tls", "--no-tls and --tls exclude");
	refused("-4 -6", "--ipv4 and --ipv6 exclude");
	refused("--all --only-new", "--all and --only-new exclude");
	refused("--password-command a --maildir m --password-command b "
		"--mbox x",
	    "--maildir and --mbox exclude");
}

/* --import-state and --convert-config: their operands, and no other mode. */
static void
test_migration(void **state)
{
	struct cli c;
	struct pf_err err;

	(void)state;
	assert_int_equal(
	    parse("--import-state=mpop:/x/u -C rc work", &c, &err), 0);
	assert_string_equal(c.import_spec, "mpop:/x/u");
	assert_int_equal(c.naccounts, 1);
	assert_string_equal(c.accounts[0], "work");
	cli_free(&c);
	assert_int_equal(parse("--import-state getmail:/g", &c, &err), 0);
	assert_string_equal(c.import_spec, "getmail:/g");
	assert_int_equal(c.naccounts, 0);
	cli_free(&c);
	assert_int_equal(
	    parse("--convert-config=fetchmail /h/.fetchmailrc", &c, &err), 0);
	assert_string_equal(c.convert_source, "fetchmail");
	assert_int_equal(c.naccounts, 1);
	assert_string_equal(c.accounts[0], "/h/.fetchmailrc");
	cli_free(&c);
	refused("--import-state=mpop:/u a b", "one account");
	refused("--import-state=mbox:/u", "unknown state format");
	refused("--import-state=mpop", "FORMAT:PATH");
	refused(
	    "--import-state=mpop:/u -a", "--import-state and --all-accounts");
	refused("--import-state=mpop:/u -n", "--import-state and --dry-run");
	refused("--import-state=mpop:/u --show-config",
	    "--import-state and --show-config");
	refused("--import-state=mpop:/u --convert-config=mpop f",
	    "--import-state and --convert-config");
	refused("--convert-config=mpop", "exactly one FILE");
	refused("--convert-config=mpop a b", "exactly one FILE");
	refused("--convert-config=mpop f --keep", "no account options");
	refused("--convert-config=mpop f --serverinfo",
	    "--convert-config and --serverinfo");
	refused(
	    "--convert-config=mpop f --json", "--convert-config and --json");
	refused("--import-st=mpop:/u", "did you mean '--import-state'");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_account_options),
	    cmocka_unit_test(test_run_options),
	    cmocka_unit_test(test_clusters_and_operands),
	    cmocka_unit_test(test_no_abbreviations),
	    cmocka_unit_test(test_password_refused),
	    cmocka_unit_test(test_values),
	    cmocka_unit_test(test_exclusive),
	    cmocka_unit_test(test_authorize),
	    cmocka_unit_test(test_migration),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
