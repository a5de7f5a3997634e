/*
 * test-invocation.c: what one run does, from its command line and config
 * file: the config loaded or not (--host), its warnings and "syslog on",
 * the daemon's interval (--daemon beats the config, a run that only looks
 * is no daemon, --daemon with one is a usage error), the reload on
 * SIGHUP, --json against --stdout, the progress bar, and what is said
 * when an account is over.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "popfetch/cli.h"
#include "popfetch/invocation.h"
#include "popfetch/log.h"
#include "tmpdir.h"

#define MAXARGS 16

static char dir[256];
static char rcpath[300], none[300]; /* the config file; no file */
static int warnings;

static void
warn(void *ctx, const char *msg)
{
	(void)ctx;
	(void)msg;
	warnings++;
}

/* Write the config file the runs below read with -C. */
static void
write_rc(const char *text)
{
	FILE *fp = fopen(rcpath, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	chmod(rcpath, 0600);
}

/* The argv of a run: "popfetch" and the words given. */
#define ARGS(...) ((const char *const[]){"popfetch", __VA_ARGS__, NULL})
/* A one-off account, and one that delivers to a Maildir. */
#define HOST	  "--host", "h", "-u", "u"
#define HOST_M	  HOST, "--maildir", "/m"

/* Parse args (ARGS()) into c, then start inv for it. */
static void
start(const char *const *args, struct cli *c, struct invocation *inv)
{
	static char *argv[MAXARGS + 1];
	struct pf_err err;
	int argc;

	for (argc = 0; args[argc] != NULL && argc < MAXARGS; argc++)
		argv[argc] = (char *)(uintptr_t)args[argc];
	argv[argc] = NULL;
	pf_err_clear(&err);
	if (cli_parse(argc, argv, c, &err) < 0)
		fail_msg("cli_parse: %s", err.msg);
	invocation_init(inv, c, warn);
}

static void
finish(struct cli *c, struct invocation *inv)
{
	invocation_free(inv);
	cli_free(c);
}

/* Start and load; the test fails on an error. */
static void
load(const char *const *args, struct cli *c, struct invocation *inv)
{
	struct pf_err err;

	start(args, c, inv);
	if (invocation_load(inv, &err) < 0)
		fail_msg("invocation_load: %s", err.msg);
}

/* The run's daemon interval, or -2 after a usage error. */
static int
interval_of(const char *const *args)
{
	struct invocation inv;
	struct pf_err err;
	struct cli c;
	int interval, rc;

	load(args, &c, &inv);
	pf_err_clear(&err);
	rc = invocation_daemon(&inv, &interval, &err);
	assert_int_equal(inv.daemon, rc == 0 && interval >= 0);
	finish(&c, &inv);
	if (rc == 0)
		return interval;
	assert_int_equal(err.code, PF_EUSAGE);
	assert_string_equal(err.msg,
	    "--daemon cannot be combined with -n, --serverinfo, --show-config "
	    "or --json");
	return -2;
}

/* A one-off --host run reads no config; a named account does. */
static void
test_load(void **state)
{
	struct invocation inv;
	struct cli c;

	(void)state;
	load(ARGS(HOST_M), &c, &inv);
	assert_false(inv.have_cfg);
	assert_int_equal(inv.n, 1);
	assert_string_equal(inv.accts[0].host, "h");
	assert_null(inv.accts[0].name);
	finish(&c, &inv);

	write_rc("account a\n  host h\n  user u\n  maildir /m\n");
	load(ARGS("-C", rcpath, "--host", "other", "a"), &c, &inv);
	assert_true(inv.have_cfg);
	assert_int_equal(inv.n, 1);
	assert_string_equal(inv.accts[0].name, "a");
	assert_string_equal(inv.accts[0].host, "other");
	finish(&c, &inv);
}

/* A config that cannot be loaded or an account it lacks: the error. */
static void
test_load_errors(void **state)
{
	struct invocation inv;
	struct pf_err err;
	struct cli c;

	(void)state;
	write_rc("account a\n  host h\n  user u\n  maildir /m\n");
	start(ARGS("-C", rcpath, "b"), &c, &inv);
	assert_int_equal(invocation_load(&inv, &err), -1);
	assert_non_null(strstr(err.msg, "'b'"));
	finish(&c, &inv);

	start(ARGS("-C", none), &c, &inv);
	assert_int_equal(invocation_load(&inv, &err), -1);
	assert_int_equal(err.code, PF_ECONFIG);
	finish(&c, &inv);
}

/* The config's warnings reach the caller; "syslog on" switches logging. */
static void
test_warn_syslog(void **state)
{
	struct invocation inv;
	struct cli c;

	(void)state;
	write_rc("defaults\n  syslog on\n  host h\n  user u\n  maildir /m\n"
		 "account a\naccount b\n");
	warnings = 0;
	load(ARGS("-C", rcpath, "-a"), &c, &inv);
	assert_int_equal(inv.n, 2);
	assert_int_equal(warnings, 1); /* a and b read one mailbox, delete */
	assert_true(inv.syslog);
	finish(&c, &inv);
	log_init(0, false);
}

/* --daemon, the config's "daemon", runs that only look. */
static void
test_daemon(void **state)
{
	(void)state;
	assert_int_equal(interval_of(ARGS(HOST_M)), -1);
	assert_int_equal(interval_of(ARGS(HOST_M, "--daemon=30")), 30);
	assert_int_equal(interval_of(ARGS(HOST_M, "--daemon=0")), 0);
	assert_int_equal(interval_of(ARGS(HOST_M, "--daemon=30", "-n")), -2);
	assert_int_equal(
	    interval_of(ARGS(HOST_M, "--daemon=30", "--json")), -2);
	assert_int_equal(
	    interval_of(ARGS(HOST_M, "--daemon=30", "--serverinfo")), -2);

	write_rc("defaults\n  daemon 60\naccount a\n  host h\n  user u\n"
		 "  maildir /m\n");
	assert_int_equal(interval_of(ARGS("-C", rcpath)), 60);
	assert_int_equal(interval_of(ARGS("-C", rcpath, "--daemon=5")), 5);
	/* only looking: no daemon, and no error */
	assert_int_equal(interval_of(ARGS("-C", rcpath, "--json")), -1);
	assert_int_equal(interval_of(ARGS("-C", rcpath, "-n")), -1);
	assert_int_equal(interval_of(ARGS("-C", rcpath, "--show-config")), -1);
}

/* SIGHUP: the config read again; the interval it now asks for. */
static void
test_reload(void **state)
{
	struct invocation inv;
	struct account *accts;
	struct pf_err err;
	struct cli c;
	int interval;
	size_t n;

	(void)state;
	write_rc("account a\n  host h\n  user u\n  maildir /m\n");
	load(ARGS("-C", rcpath), &c, &inv);
	write_rc("defaults\n  daemon 7\naccount a\n  host h2\n  user u\n"
		 "  maildir /m\n");
	assert_int_equal(
	    invocation_reload(&inv, &accts, &n, &interval, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(accts[0].host, "h2");
	assert_int_equal(interval, 7);
	config_accounts_free(accts, n);
	assert_string_equal(inv.accts[0].host, "h"); /* the run's own */

	write_rc("defaults\n  nonsense 1\n");
	assert_int_equal(
	    invocation_reload(&inv, &accts, &n, &interval, &err), -1);
	assert_int_equal(err.code, PF_ECONFIG);
	finish(&c, &inv);

	write_rc("defaults\n  daemon 7\naccount a\n  host h\n  user u\n"
		 "  maildir /m\n");
	load(ARGS("-C", rcpath, "--daemon=3"), &c, &inv);
	assert_int_equal(
	    invocation_reload(&inv, &accts, &n, &interval, &err), 0);
	assert_int_equal(interval, 3); /* --daemon beats the file */
	config_accounts_free(accts, n);
	finish(&c, &inv);
}

/* --json and --stdout; when a progress bar is drawn. */
static void
test_output(void **state)
{
	struct invocation inv;
	struct pf_err err;
	struct cli c;

	(void)state;
	load(ARGS(HOST, "--stdout", "--json"), &c, &inv);
	assert_int_equal(invocation_output(&inv, &err), -1);
	assert_int_equal(err.code, PF_EUSAGE);
	assert_string_equal(
	    err.msg, "--json and --stdout both write to standard output");
	finish(&c, &inv);

	load(ARGS(HOST, "--stdout", "--json", "-n"), &c, &inv);
	assert_int_equal(invocation_output(&inv, &err), 0);
	finish(&c, &inv);

	load(ARGS(HOST_M, "--progress=always"), &c, &inv);
	assert_int_equal(invocation_output(&inv, &err), 0);
	assert_true(inv.bar);
	finish(&c, &inv);

	load(ARGS(HOST_M, "--progress=never"), &c, &inv);
	assert_int_equal(invocation_output(&inv, &err), 0);
	assert_false(inv.bar);
	finish(&c, &inv);

	load(ARGS(HOST_M, "--progress=always", "-q"), &c, &inv);
	assert_int_equal(invocation_output(&inv, &err), 0);
	assert_false(inv.bar);
	finish(&c, &inv);
	log_init(0, false);

	load(ARGS(HOST_M, "--progress=always", "--syslog"), &c, &inv);
	assert_int_equal(invocation_output(&inv, &err), 0);
	assert_false(inv.bar);
	finish(&c, &inv);
	log_init(0, false);
}

/* What is said for one outcome: the level returned, *error. */
static int
done(const char *const *args, bool daemon, bool bar,
    const struct runner_result *r, bool *error)
{
	struct invocation inv;
	char line[256];
	struct cli c;
	int level;

	load(args, &c, &inv);
	inv.daemon = daemon;
	inv.bar = bar;
	level =
	    invocation_done(&inv, &inv.accts[0], r, error, line, sizeof(line));
	finish(&c, &inv);
	log_init(0, false);
	return level;
}

static void
test_done(void **state)
{
	struct runner_result ok, bad, early, wait;
	bool error;

	(void)state;
	memset(&ok, 0, sizeof(ok));
	ok.st.listed = 3;
	bad = ok;
	bad.ret = -1;
	bad.err.code = PF_EPROTO;
	early = bad;
	early.st.listed = 0;
	wait = early;
	wait.err.code = PF_ETEMP;
	wait.st.login_wait = true;

	assert_int_equal(done(ARGS(HOST_M), false, false, &ok, &error), -1);
	assert_false(error);
	assert_int_equal(
	    done(ARGS(HOST_M), false, true, &ok, &error), LOGL_NOTICE);
	assert_int_equal(
	    done(ARGS(HOST_M, "-v"), false, false, &ok, &error), LOGL_INFO);
	assert_int_equal(
	    done(ARGS(HOST_M), false, true, &bad, &error), LOGL_NOTICE);
	assert_true(error);
	assert_int_equal(done(ARGS(HOST_M), true, false, &bad, &error), -1);
	assert_false(error); /* the daemon logs it */
	assert_int_equal(done(ARGS(HOST_M), false, true, &early, &error), -1);
	assert_true(error);
	assert_int_equal(
	    done(ARGS(HOST_M, "-n", "-v"), false, false, &bad, &error), -1);
	assert_true(error);
	assert_int_equal(done(ARGS(HOST_M), false, false, &wait, &error), -1);
	assert_true(error);
	done(ARGS(HOST_M, "-q"), false, false, &wait, &error);
	assert_false(error); /* LOGIN-DELAY under -q: routine for cron */
}

static int
setup(void **state)
{
	(void)state;
	if (tmpdir_make(dir, sizeof(dir), "invocation") == -1)
		return -1;
	snprintf(rcpath, sizeof(rcpath), "%s/rc", dir);
	snprintf(none, sizeof(none), "%s/none", dir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	return tmpdir_remove(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_load),
	    cmocka_unit_test(test_load_errors),
	    cmocka_unit_test(test_warn_syslog),
	    cmocka_unit_test(test_daemon),
	    cmocka_unit_test(test_reload),
	    cmocka_unit_test(test_output),
	    cmocka_unit_test(test_done),
	};

	log_init(0, false);
	return cmocka_run_group_tests(tests, setup, teardown);
}
