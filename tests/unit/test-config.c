/*
 * test-config.c: the config file and account resolution: the most
 * specific setting wins for every key and for each group of keys that
 * exclude each other, two of a group in one block is an error, errors
 * name the file and line, mpop and fetchmail habits get the popfetch
 * way, delete_after needs keep, --show-config's format, the warning
 * about two accounts on one mailbox, and account selection.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "popfetch/config.h"
#include "popfetch/xmalloc.h"
#include "tmpdir.h"

/* The test's temp dir (also $HOME) and its config file. */
static char dir[256];
static char path[300];

static int
setup(void **state)
{
	(void)state;
	if (tmpdir_make(dir, sizeof(dir), "config") == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/config", dir);
	setenv("HOME", dir, 1);
	unsetenv("XDG_STATE_HOME");
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	return tmpdir_remove(dir);
}

/* Write text as the config file (mode 600) and load it. */
static int
load(const char *text, struct config *cfg, struct pf_err *err)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	chmod(path, 0600);
	pf_err_clear(err);
	return config_load(path, true, cfg, err);
}

/* Load text and resolve account name; the test fails on an error. */
static void
resolve(const char *text, const char *name, const struct config_settings *cli,
    struct account *a)
{
	struct config cfg;
	struct pf_err err;

	if (load(text, &cfg, &err) < 0)
		fail_msg("load: %s", err.msg);
	if (config_resolve(&cfg, name, cli, false, a, &err) < 0)
		fail_msg("resolve: %s", err.msg);
	config_free(&cfg);
}

/* Load text; it must fail with code and a message holding "FILE:line"
 * and want. */
static void
load_fails(const char *text, int line, const char *want)
{
	struct config cfg;
	struct pf_err err;
	char where[340];

	assert_int_equal(load(text, &cfg, &err), -1);
	assert_int_equal(err.code, PF_ECONFIG);
	snprintf(where, sizeof(where), "%s:%d: ", path, line);
	if (strncmp(err.msg, where, strlen(where)) != 0 ||
	    strstr(err.msg, want) == NULL)
		fail_msg("got '%s', want '%s...%s'", err.msg, where, want);
}

#define BASE "  host pop.example.com\n  user alice\n"

/* A plain key: built-in < defaults < parent < account < command line. */
static void
test_levels(void **state)
{
	static const char text[] =
	    "defaults\n  timeout 10\n  lock_wait 5\n"
	    "  limit 7\n"
	    "account a\n" BASE "  timeout 20\n  maildir m\n"
	    "  lock_wait 6\n"
	    "account b : a\n  timeout 30\n";
	struct config_settings cli = {NULL, 0, 0};
	struct account a;

	(void)state;
	resolve(text, "b", NULL, &a);
	assert_int_equal(a.timeout, 30);
	assert_int_equal(a.lock_wait, 6);
	assert_int_equal(a.limit, 7);
	assert_int_equal(a.mda_timeout, 300);
	account_free(&a);
	resolve(text, "a", NULL, &a);
	assert_int_equal(a.timeout, 20);
	account_free(&a);
	config_settings_add(&cli, "timeout", "40", NULL, 0);
	resolve(text, "b", &cli, &a);
	assert_int_equal(a.timeout, 40);
	account_free(&a);
	config_settings_free(&cli);
}

/* mpop's "account bob : alice" with bob's own password: bob's wins over
 * alice's inherited password_command, and the other way round. */
static void
test_password_pair(void **state)
{
	struct account a;

	(void)state;
	resolve("account alice\n" BASE "  maildir m\n"
		"  password_command pass show alice\n"
		"account bob : alice\n  password bob-pass\n",
	    "bob", NULL, &a);
	assert_string_equal(a.password, "bob-pass");
	assert_null(a.password_command);
	account_free(&a);
	resolve("defaults\n  password p1\naccount alice\n" BASE
		"  maildir m\n  password_command cmd\n",
	    "alice", NULL, &a);
	assert_null(a.password);
	assert_string_equal(a.password_command, "cmd");
	account_free(&a);
}

/* The delivery targets replace each other from level to level, and the
 * command line replaces the file's. */
static void
test_target_group(void **state)
{
	struct config_settings cli = {NULL, 0, 0};
	struct account a;

	(void)state;
	resolve("account a\n" BASE "  maildir ~/m\naccount b : a\n"
		"  mbox ~/box\n",
	    "b", NULL, &a);
	assert_int_equal(a.sink, SINK_MBOX);
	assert_non_null(strstr(a.sink_path, "/box"));
	account_free(&a);
	resolve("defaults\n  mda procmail\naccount a\n" BASE "  stdout on\n",
	    "a", NULL, &a);
	assert_int_equal(a.sink, SINK_STDOUT);
	account_free(&a);
	resolve("defaults\n  stdout on\naccount a\n" BASE "  mda procmail\n",
	    "a", NULL, &a);
	assert_int_equal(a.sink, SINK_MDA);
	assert_string_equal(a.sink_path, "procmail");
	account_free(&a);
	config_settings_add(&cli, "mda", "cat", NULL, 0);
	resolve("account a\n" BASE "  maildir m\n", "a", &cli, &a);
	assert_int_equal(a.sink, SINK_MDA);
	account_free(&a);
	config_settings_free(&cli);
	/* "stdout off" only undoes stdout: the inherited Maildir stays */
	resolve("account a\n" BASE "  maildir m\naccount b : a\n"
		"  stdout off\n",
	    "b", NULL, &a);
	assert_int_equal(a.sink, SINK_MAILDIR);
	account_free(&a);
}

/* lmtp and smtp are delivery targets like the others; their values,
 * recipient and delete_refused are checked when the config is read. */
static void
test_server_targets(void **state)
{
	struct config_settings cli = {NULL, 0, 0};
	struct account a;

	(void)state;
	resolve("defaults\n  maildir m\naccount a\n" BASE
		"  lmtp /run/dovecot/lmtp\n  recipient bob@example.org\n",
	    "a", NULL, &a);
	assert_int_equal(a.sink, SINK_LMTP);
	assert_string_equal(a.sink_path, "/run/dovecot/lmtp");
	assert_string_equal(a.recipient, "bob@example.org");
	assert_false(a.delete_refused);
	account_free(&a);
	config_settings_add(&cli, "smtp", "mx.example.org:2525", NULL, 0);
	config_settings_add(&cli, "delete_refused", NULL, NULL, 0);
	resolve("account a\n" BASE "  lmtp 127.0.0.1:24\n", "a", &cli, &a);
	assert_int_equal(a.sink, SINK_SMTP);
	assert_string_equal(a.sink_path, "mx.example.org:2525");
	assert_null(a.recipient); /* the local user's name, at delivery */
	assert_true(a.delete_refused);
	account_free(&a);
	config_settings_free(&cli);
	load_fails("account a\n" BASE "  smtp h:0\n", 4, "smtp: 'h:0'");
	load_fails("account a\n" BASE "  smtp /run/x\n", 4, "smtp");
	load_fails("account a\n" BASE "  lmtp\n", 4, "lmtp needs a value");
	load_fails("account a\n" BASE "  recipient a b\n", 4,
	    "invalid recipient 'a b'");
	load_fails("account a\n" BASE "  lmtp /s\n  maildir m\n", 5,
	    "maildir: 'lmtp' on line 4");
}

/* tls / starttls / no_tls replace each other as one. */
static void
test_tls_group(void **state)
{
	struct account a;

	(void)state;
	resolve("defaults\n  no_tls on\naccount a\n" BASE "  maildir m\n"
		"  starttls on\n",
	    "a", NULL, &a);
	assert_int_equal(a.tls, CONN_TLS_STARTTLS);
	account_free(&a);
	resolve("account a\n" BASE "  maildir m\n  starttls on\n"
		"account b : a\n  tls on\n",
	    "b", NULL, &a);
	assert_int_equal(a.tls, CONN_TLS_IMPLICIT);
	assert_string_equal(account_port(&a), "995");
	account_free(&a);
	resolve("account a\n" BASE "  maildir m\n  tls starttls\n"
		"account b : a\n  no_tls on\n",
	    "b", NULL, &a);
	assert_int_equal(a.tls, CONN_TLS_NONE);
	account_free(&a);
}

/* only_new / all, and ipv4 / ipv6. */
static void
test_fetch_and_family_groups(void **state)
{
	struct account a;

	(void)state;
	resolve("defaults\n  all on\naccount a\n" BASE "  maildir m\n"
		"  only_new on\n",
	    "a", NULL, &a);
	assert_false(a.fetch_all);
	account_free(&a);
	resolve("defaults\n  only_new on\naccount a\n" BASE "  maildir m\n"
		"  all on\n",
	    "a", NULL, &a);
	assert_true(a.fetch_all);
	account_free(&a);
	resolve("account a\n" BASE "  maildir m\n  ipv6 on\naccount b : a\n"
		"  ipv4 on\n",
	    "b", NULL, &a);
	assert_int_equal(a.family, AF_INET);
	account_free(&a);
	resolve("defaults\n  ipv4 on\naccount a\n" BASE "  maildir m\n"
		"  ipv6 off\n",
	    "a", NULL, &a);
	assert_int_equal(a.family, AF_UNSPEC);
	account_free(&a);
}

/* Two keys of one group in one block: an error naming both lines. */
static void
test_same_block_conflicts(void **state)
{
	(void)state;
	load_fails("account a\n" BASE "  password x\n  password_command y\n", 5,
	    "password_command: 'password' on line 4");
	load_fails("account a\n" BASE "  maildir m\n  mbox b\n", 5,
	    "mbox: 'maildir' on line 4");
	load_fails(
	    "defaults\n  mda cat\n  stdout on\n", 3, "stdout: 'mda' on line 2");
	load_fails("account a\n  tls on\n  starttls on\n", 3,
	    "starttls: 'tls' on line 2");
	load_fails("account a\n  no_tls on\n  tls starttls\n", 3,
	    "tls: 'no_tls' on line 2");
	load_fails("account a\n  all on\n  only_new on\n", 3,
	    "only_new: 'all' on line 2");
	load_fails(
	    "account a\n  ipv4 on\n  ipv6 on\n", 3, "ipv6: 'ipv4' on line 2");
}

/* The same key twice in a block: the later line wins. */
static void
test_same_key_twice(void **state)
{
	struct account a;

	(void)state;
	resolve(
	    "account a\n" BASE "  maildir m1\n  maildir m2\n", "a", NULL, &a);
	assert_string_equal(a.sink_path, "m2");
	account_free(&a);
}

/* On the command line the same groups exclude each other. */
static void
test_cli_conflicts(void **state)
{
	struct config_settings cli = {NULL, 0, 0};
	struct pf_err err;

	(void)state;
	config_settings_add(&cli, "maildir", "m", NULL, 0);
	config_settings_add(&cli, "keep", NULL, NULL, 0);
	assert_int_equal(config_settings_check(&cli, &err), 0);
	config_settings_add(&cli, "stdout", NULL, NULL, 0);
	assert_int_equal(config_settings_check(&cli, &err), -1);
	assert_int_equal(err.code, PF_EUSAGE);
	assert_string_equal(err.msg,
	    "options --maildir and --stdout exclude each other; give one");
	config_settings_free(&cli);
	config_settings_add(&cli, "starttls", NULL, NULL, 0);
	config_settings_add(&cli, "no_tls", NULL, NULL, 0);
	assert_int_equal(config_settings_check(&cli, &err), -1);
	assert_non_null(strstr(err.msg, "--starttls and --no-tls"));
	config_settings_free(&cli);
}

/* Errors name the file and the line. */
static void
test_errors_name_line(void **state)
{
	(void)state;
	load_fails("# c\ndefaults\n  keep on\n  frobnicate yes\n", 4,
	    "unknown key 'frobnicate'");
	load_fails("account a\n  host x\n  timeout soon\n", 3, "timeout");
	load_fails(
	    "account a\n  password_command \"cat /x\n", 2, "unterminated");
	load_fails("  keep on\n", 1, "outside of");
	load_fails("account a\naccount a\n", 2, "defined twice");
	load_fails("account a\ndefault nosuch\n", 2, "nosuch");
	load_fails("account b : nosuch\n", 1, "nosuch");
}

/* A value glued to its key ("password=...", or a non-breaking space in
 * place of the space) is refused without showing the value. */
static void
test_glued_value_hidden(void **state)
{
	static const char *const lines[] = {
	    "  password=hunter2\n",
	    "  password:hunter2\n",
	    "  password\xc2\xa0hunter2\n",
	    "  pass=hunter2\n",
	    "  pw\xc2\xa0hunter2 x\n",
	};
	struct config cfg;
	struct pf_err err;
	char text[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		snprintf(
		    text, sizeof(text), "account a\n  host h\n%s", lines[i]);
		assert_int_equal(load(text, &cfg, &err), -1);
		assert_int_equal(err.code, PF_ECONFIG);
		assert_non_null(strstr(err.msg, ":3: "));
		if (strstr(err.msg, "hunter2") != NULL)
			fail_msg("the value shows: %s", err.msg);
	}
	load_fails("account a\n  password=x\n", 2,
	    "a space must come between 'password' and its value");
	load_fails("account a\n  pass=x\n", 2, "unknown key 'pass...'");
}

/* mpop and fetchmail habits get the popfetch way, at load time. */
static void
test_foreign_habits(void **state)
{
	(void)state;
	load_fails(
	    "account a\n  host x\naccount default : a\n", 3, "'default a'");
	load_fails("account a\n  tls_starttls on\n", 2, "'tls starttls'");
	load_fails("account a\n  tls_starttls off\n", 2, "'tls on'");
	load_fails(
	    "account a\n  tls_trust_file /ca.pem\n", 2, "'ca_file /ca.pem'");
	load_fails("account a\n  tls_fingerprint AB:CD\n", 2, "fingerprint");
	load_fails(
	    "account a\n  delivery maildir ~/Mail\n", 2, "'maildir ~/Mail'");
	load_fails("account a\n  delivery mda procmail -f %F\n", 2,
	    "'mda procmail -f %F'");
	load_fails("account a\n  passwordeval pass mail\n", 2,
	    "'password_command pass mail'");
	load_fails("account a\n  uidls_file ~/.mpop_uidls\n", 2, "state_dir");
	load_fails("account a\n  killsize 100\n", 2, "'kill_size 100'");
	load_fails("account a\n  skipsize 100\n", 2, "'max_size 100'");
	load_fails("account a\n  tls_certcheck off\n", 2, "'insecure on'");
	load_fails("account a\n  received_header off\n", 2, "'no_received on'");
	load_fails("account a\n  auth on\n", 2, "'auth auto'");
	load_fails("poll pop.example.com\n", 1, ".fetchmailrc");
	load_fails("account a\n  mda procmail -d %T\n", 2, "fetchmail's");
	load_fails("account a\n  mda deliver %s\n", 2, "'%s'");
	load_fails("account a\n  mda procmail -d '%T' -f %F\n", 2, "'%T'");
	load_fails("account a\n  mda deliver \"%s\"; true\n", 2, "'%s'");
	load_fails("account a\n  mda deliver %s;true\n", 2, "'%s'");
}

/* Secrets stay out of hints and errors. */
static void
test_no_secret_in_errors(void **state)
{
	struct config cfg;
	struct pf_err err;

	(void)state;
	assert_int_equal(load("account a\n  pass S3cretpw\n", &cfg, &err), -1);
	assert_null(strstr(err.msg, "S3cretpw"));
	assert_int_equal(
	    load("account a\n  passwd S3cretpw\n", &cfg, &err), -1);
	assert_null(strstr(err.msg, "S3cretpw"));
}

/* A literal percent: %% is fine, and so is %F; %s and %T that are not
 * a word of their own belong to the user (a printf or date format). */
static void
test_mda_percent(void **state)
{
	static const char *const ok[] = {
	    "date +%%s; procmail -f %F",
	    "printf \"%s\\n\" %F >>log; cat >/dev/null",
	    "date +%T >>log; procmail",
	    "deliver -a%s",
	    "echo 100%",
	};
	struct account a;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char *text = xasprintf("account a\n" BASE "  mda %s\n", ok[i]);

		resolve(text, "a", NULL, &a);
		assert_string_equal(a.sink_path, ok[i]);
		account_free(&a);
		free(text);
	}
}

/* delete_after needs keep: in the file (78, file:line) and on the
 * command line (64); "delete_after off" undoes an inherited one. */
static void
test_delete_after_needs_keep(void **state)
{
	static const char text[] =
	    "defaults\n  delete_after 30\naccount a\n" BASE "  maildir m\n"
	    "account k : a\n  keep on\n"
	    "account o : a\n  delete_after off\n";
	struct config_settings cli = {NULL, 0, 0};
	struct config cfg;
	struct account a;
	struct pf_err err;

	(void)state;
	assert_int_equal(load(text, &cfg, &err), 0);
	assert_int_equal(config_resolve(&cfg, "a", NULL, false, &a, &err), -1);
	assert_int_equal(err.code, PF_ECONFIG);
	assert_non_null(strstr(err.msg, ":2: delete_after"));
	assert_non_null(strstr(err.msg, "keep on"));
	assert_int_equal(config_resolve(&cfg, "k", NULL, false, &a, &err), 0);
	assert_int_equal(a.delete_after, 30);
	account_free(&a);
	assert_int_equal(config_resolve(&cfg, "o", NULL, false, &a, &err), 0);
	assert_int_equal(a.delete_after, -1);
	account_free(&a);
	config_settings_add(&cli, "delete_after", "5", NULL, 0);
	assert_int_equal(config_resolve(&cfg, "o", &cli, false, &a, &err), -1);
	assert_int_equal(err.code, PF_EUSAGE);
	assert_non_null(strstr(err.msg, "--delete-after"));
	config_settings_add(&cli, "keep", NULL, NULL, 0);
	assert_int_equal(config_resolve(&cfg, "o", &cli, false, &a, &err), 0);
	account_free(&a);
	config_settings_free(&cli);
	config_free(&cfg);
}

/* syslog: a key of the defaults block only. */
static void
test_syslog_key(void **state)
{
	struct config cfg;
	struct pf_err err;

	(void)state;
	assert_int_equal(load("defaults\n  syslog on\n", &cfg, &err), 0);
	assert_true(cfg.syslog);
	assert_int_equal(cfg.syslog_line, 2);
	config_free(&cfg);
	assert_int_equal(load("defaults\n  syslog\n", &cfg, &err), 0);
	assert_true(cfg.syslog);
	config_free(&cfg);
	assert_int_equal(load("defaults\n  syslog off\n", &cfg, &err), 0);
	assert_false(cfg.syslog);
	config_free(&cfg);
	load_fails("account a\n  syslog on\n", 2, "defaults block");
	load_fails("defaults\n  syslog maybe\n", 2, "syslog");
}

/* A password in a file others can read is refused. */
static void
test_password_file_mode(void **state)
{
	struct config cfg;
	struct pf_err err;
	FILE *fp;

	(void)state;
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("account a\n  password S3cretpw\n", fp);
	fclose(fp);
	chmod(path, 0640);
	assert_int_equal(config_load(path, true, &cfg, &err), -1);
	assert_int_equal(err.code, PF_ECONFIG);
	assert_non_null(strstr(err.msg, "chmod 600"));
	assert_null(strstr(err.msg, "S3cretpw"));
	chmod(path, 0600);
	assert_int_equal(config_load(path, true, &cfg, &err), 0);
	config_free(&cfg);
}

/* Copy fmt to buf with @F as the config path and @H as $HOME. */
static void
expand(char *buf, size_t sz, const char *fmt)
{
	size_t o = 0;

	for (; *fmt != '\0' && o + 1 < sz; fmt++) {
		const char *with = NULL;

		if (fmt[0] == '@' && (fmt[1] == 'F' || fmt[1] == 'H'))
			with = fmt[1] == 'F' ? path : dir;
		if (with == NULL) {
			buf[o++] = *fmt;
			continue;
		}
		o += (size_t)snprintf(buf + o, sz - o, "%s", with);
		fmt++;
	}
	buf[o < sz ? o : sz - 1] = '\0';
}

/* --show-config: one "key value  # origin" line per key, in table order,
 * only the winning key of a group, the password masked. */
static void
test_show(void **state)
{
	static const char text[] =
	    "defaults\n  keep on\n"
	    "account a\n  host pop.example.com\n  user alice\n"
	    "  password_command pass show a\n  maildir /m\n  starttls on\n"
	    "account b : a\n  password \"S3 cret\"\n  mda deliver #x\n";
	static const char want_fmt[] =
	    "# account b (@F:9)\n"
	    "host pop.example.com  # @F:4\n"
	    "port 110  # default\n"
	    "user alice  # @F:5\n"
	    "starttls on  # @F:8\n"
	    "tls_min 1.2  # default\n"
	    "insecure off  # default\n"
	    "auth auto  # default\n"
	    "password ********  # @F:10\n"
	    "timeout 45  # command line\n"
	    "mda \"deliver #x\"  # @F:11\n"
	    "delete_refused off  # default\n"
	    "no_received off  # default\n"
	    "lock_wait 30  # default\n"
	    "mda_timeout 300  # default\n"
	    "allow_foreign_mbox off  # default\n"
	    "keep on  # @F:2\n"
	    "only_new on  # default\n"
	    "delete_after off  # default\n"
	    "max_size 0  # default\n"
	    "kill_size 0  # default\n"
	    "max_message_size 268435456  # default\n"
	    "limit 0  # default\n"
	    "state_dir @H/.local/state/popfetch  # default\n"
	    "quiet_temporary 0  # default\n";
	struct config_settings cli = {NULL, 0, 0};
	struct config cfg;
	struct pf_err err;
	char *text_out, want[4096];

	(void)state;
	assert_int_equal(load(text, &cfg, &err), 0);
	config_settings_add(&cli, "timeout", "45", NULL, 0);
	assert_int_equal(config_show(&cfg, "b", &cli, &text_out, &err), 0);
	expand(want, sizeof(want), want_fmt);
	assert_string_equal(text_out, want);
	/* the whole secret: "S3" alone also turns up, one run in a few
	 * hundred, in the random name of the temp directory (@F, @H) */
	assert_null(strstr(text_out, "S3 cret"));
	free(text_out);
	text_out = config_show_run(&cfg, false);
	assert_string_equal(text_out, "# run\nsyslog off  # default\n");
	free(text_out);
	text_out = config_show_run(&cfg, true);
	assert_string_equal(text_out, "# run\nsyslog on  # command line\n");
	free(text_out);
	config_settings_free(&cli);
	config_free(&cfg);
}

/* --show-config needs no complete account, but keeps real errors. */
static void
test_show_incomplete(void **state)
{
	struct config cfg;
	struct pf_err err;
	char *t;

	(void)state;
	assert_int_equal(load("account a\n  host x\n", &cfg, &err), 0);
	assert_int_equal(config_show(&cfg, "a", NULL, &t, &err), 0);
	assert_non_null(strstr(t, "tls on  # default\n"));
	assert_null(strstr(t, "\nuser "));
	free(t);
	assert_int_equal(config_show(&cfg, "zz", NULL, &t, &err), -1);
	config_free(&cfg);
}

/* Collects lint warnings. */
struct warnings {
	int n;
	char last[512];
};

static void
collect(void *ctx, const char *msg)
{
	struct warnings *w = ctx;

	w->n++;
	snprintf(w->last, sizeof(w->last), "%s", msg);
}

/* Lint text; returns the number of warnings (the last in *w). */
static int
lint(const char *text, struct warnings *w)
{
	struct config cfg;
	struct pf_err err;

	memset(w, 0, sizeof(*w));
	if (load(text, &cfg, &err) < 0)
		fail_msg("load: %s", err.msg);
	config_lint(&cfg, NULL, collect, w);
	config_free(&cfg);
	return w->n;
}

/* Two accounts on one mailbox, one of which deletes: a warning naming
 * both; host names compare without case. */
static void
test_lint_shared_mailbox(void **state)
{
	struct warnings w;

	(void)state;
	assert_int_equal(lint("account work\n" BASE "  maildir m\n"
			      "account archive : work\n  keep on\n"
			      "  mbox b\n",
			     &w),
	    1);
	assert_string_equal(w.last,
	    "accounts 'work' and 'archive' read the same mailbox "
	    "(alice@pop.example.com:995) and 'work' deletes: 'archive' gets "
	    "only what 'work' leaves on the server");
	assert_int_equal(lint("account a\n" BASE "  maildir m\n"
			      "account b\n  host POP.Example.COM\n"
			      "  user alice\n  maildir n\n",
			     &w),
	    1);
	assert_non_null(strstr(w.last, "both delete"));
	/* both keep: no warning */
	assert_int_equal(lint("defaults\n  keep on\naccount a\n" BASE
			      "  maildir m\naccount b : a\n  mbox x\n",
			     &w),
	    0);
	/* keep with delete_after deletes too */
	assert_int_equal(lint("defaults\n  keep on\naccount a\n" BASE
			      "  maildir m\naccount b : a\n  mbox x\n"
			      "  delete_after 3\n",
			     &w),
	    1);
	/* another port or user is another mailbox */
	assert_int_equal(lint("account a\n" BASE "  maildir m\n"
			      "account b : a\n  port 1995\n"
			      "account c : a\n  user bob\n",
			     &w),
	    0);
}

/* Which accounts a run covers. */
static void
test_select(void **state)
{
	static const char text[] = "account a\n" BASE "  maildir m\n"
				   "account b : a\naccount c : a\n";
	struct config cfg;
	struct pf_err err;
	struct account *accts;
	char n0[] = "c", n1[] = "a", n2[] = "zz";
	char *names[] = {n0, n1};
	size_t n;

	(void)state;
	assert_int_equal(load(text, &cfg, &err), 0);
	assert_int_equal(config_select(&cfg, NULL, 0, false, NULL,
			     CONFIG_NEED_FETCH, &accts, &n, &err),
	    0);
	assert_int_equal(n, 1);
	assert_string_equal(accts[0].name, "a");
	config_accounts_free(accts, n);
	assert_int_equal(config_select(&cfg, NULL, 0, true, NULL,
			     CONFIG_NEED_FETCH, &accts, &n, &err),
	    0);
	assert_int_equal(n, 3);
	assert_string_equal(accts[2].name, "c");
	config_accounts_free(accts, n);
	assert_int_equal(config_select(&cfg, names, 2, false, NULL,
			     CONFIG_NEED_FETCH, &accts, &n, &err),
	    0);
	assert_int_equal(n, 2);
	assert_string_equal(accts[0].name, "c");
	assert_string_equal(accts[1].name, "a");
	config_accounts_free(accts, n);
	names[1] = n2;
	assert_int_equal(config_select(&cfg, names, 2, false, NULL,
			     CONFIG_NEED_FETCH, &accts, &n, &err),
	    -1);
	assert_int_equal(err.code, PF_ECONFIG);
	assert_non_null(strstr(err.msg, "no account 'zz'"));
	config_free(&cfg);
	assert_int_equal(load("account a\n" BASE "  maildir m\n"
			      "account b : a\ndefault b\n",
			     &cfg, &err),
	    0);
	assert_int_equal(config_select(&cfg, NULL, 0, false, NULL,
			     CONFIG_NEED_FETCH, &accts, &n, &err),
	    0);
	assert_string_equal(accts[0].name, "b");
	config_accounts_free(accts, n);
	config_free(&cfg);
}

/* A one-off account: the command line alone; what it lacks is a usage
 * error. */
static void
test_one_off(void **state)
{
	struct config_settings cli = {NULL, 0, 0};
	struct account *accts;
	struct pf_err err;
	size_t n;

	(void)state;
	config_settings_add(&cli, "host", "h", NULL, 0);
	assert_int_equal(config_select(NULL, NULL, 0, false, &cli,
			     CONFIG_NEED_FETCH, &accts, &n, &err),
	    -1);
	assert_int_equal(err.code, PF_EUSAGE);
	assert_non_null(strstr(err.msg, "no user"));
	assert_int_equal(config_select(NULL, NULL, 0, false, &cli,
			     CONFIG_NEED_HOST, &accts, &n, &err),
	    0);
	assert_int_equal(n, 1);
	assert_null(accts[0].name);
	assert_string_equal(accts[0].origin, "command line");
	config_accounts_free(accts, n);
	config_settings_free(&cli);
}

/* The oauth2_* keys: plain strings that inherit like any key; the
 * provider must be one of the presets. */
static void
test_oauth_keys(void **state)
{
	static const char text[] =
	    "defaults\n  oauth2_client_id cid\n  oauth2_tenant contoso.com\n"
	    "account a\n" BASE "  maildir m\n  oauth2_provider microsoft\n"
	    "  oauth2_scope \"s1 s2\"\n"
	    "  oauth2_client_secret_command pass show x\n"
	    "  oauth2_token_url https://id.example/token\n"
	    "  oauth2_device_url https://id.example/device\n"
	    "  oauth2_authorize_url https://id.example/auth\n";
	struct config_settings cli = {NULL, 0, 0};
	struct account a;

	(void)state;
	config_settings_add(&cli, "oauth2_provider", "generic", NULL, 0);
	resolve(text, "a", NULL, &a);
	assert_string_equal(a.oauth2_provider, "microsoft");
	assert_string_equal(a.oauth2_client_id, "cid");
	assert_string_equal(a.oauth2_tenant, "contoso.com");
	assert_string_equal(a.oauth2_scope, "s1 s2");
	assert_string_equal(a.oauth2_client_secret_command, "pass show x");
	assert_string_equal(a.oauth2_token_url, "https://id.example/token");
	assert_string_equal(a.oauth2_device_url, "https://id.example/device");
	assert_string_equal(a.oauth2_authorize_url, "https://id.example/auth");
	account_free(&a);
	resolve(text, "a", &cli, &a);
	assert_string_equal(a.oauth2_provider, "generic");
	account_free(&a);
	config_settings_free(&cli);
	load_fails("account a\n  oauth2_provider yahoo\n", 2,
	    "unknown oauth2_provider 'yahoo'");
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_levels),
	    T(test_password_pair),
	    T(test_target_group),
	    T(test_tls_group),
	    T(test_fetch_and_family_groups),
	    T(test_same_block_conflicts),
	    T(test_server_targets),
	    T(test_same_key_twice),
	    T(test_cli_conflicts),
	    T(test_errors_name_line),
	    T(test_foreign_habits),
	    T(test_glued_value_hidden),
	    T(test_no_secret_in_errors),
	    T(test_mda_percent),
	    T(test_delete_after_needs_keep),
	    T(test_syslog_key),
	    T(test_password_file_mode),
	    T(test_show),
	    T(test_show_incomplete),
	    T(test_lint_shared_mailbox),
	    T(test_select),
	    T(test_one_off),
	    T(test_oauth_keys),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
