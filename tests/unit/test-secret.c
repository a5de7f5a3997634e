/*
 * test-secret.c: where a password comes from: the source an account
 * uses, the password command's output (first line, CRs, NUL bytes, long
 * lines, exit status, signals, output it keeps writing), the .netrc
 * parser and the mode checks of ~/.netrc. No secret appears in an error.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "popfetch/secret.h"
#include "popfetch/xmalloc.h"
#include "tmpdir.h"

static char dir[256];
static char netrc[300];

static int
setup(void **state)
{
	(void)state;
	if (tmpdir_make(dir, sizeof(dir), "secret") == -1)
		return -1;
	snprintf(netrc, sizeof(netrc), "%s/netrc", dir);
	return 0;
}

/* Remove the test's directory and all in it (the OAuth case leaves the
 * account's lock file there). */
static int
teardown(void **state)
{
	(void)state;
	return tmpdir_remove(dir);
}

/* Write text to the test's .netrc with mode. */
static void
write_netrc(const char *text, mode_t mode)
{
	FILE *fp = fopen(netrc, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	assert_int_equal(chmod(netrc, mode), 0);
}

/* Run cmd as the password command: it must give want. */
static void
command_gives(const char *cmd, const char *want)
{
	struct pf_err err;
	char *out = NULL;

	if (secret_from_command(cmd, &out, &err) < 0)
		fail_msg("'%s': %s", cmd, err.msg);
	assert_string_equal(out, want);
	xfree_secret(out);
}

/* Run cmd: it must fail with PF_ECONFIG saying want, and no "S3cret". */
static void
command_fails(const char *cmd, const char *want)
{
	struct pf_err err;
	char *out = NULL;

	assert_int_equal(secret_from_command(cmd, &out, &err), -1);
	assert_null(out);
	assert_int_equal(err.code, PF_ECONFIG);
	if (strstr(err.msg, want) == NULL)
		fail_msg("'%s': got '%s', want '%s'", cmd, err.msg, want);
	assert_null(strstr(err.msg, "S3cret"));
}

static void
test_command_output(void **state)
{
	(void)state;
	command_gives("printf 'pw\\n'", "pw");
	command_gives("printf 'pw\\r\\n'", "pw");
	command_gives("printf pw", "pw");
	command_gives("printf ' a b \\nsecond\\n'", " a b ");
	/* it keeps writing after the first line: read to the end */
	command_gives(
	    "echo first; head -c 3000000 /dev/zero | tr '\\0' x", "first");
}

static void
test_command_failures(void **state)
{
	char cmd[64];

	(void)state;
	command_fails("echo S3cret; exit 3", "failed (exit 3)");
	command_fails("echo S3cret; kill -9 $$", "killed by signal 9");
	command_fails("true", "printed nothing");
	command_fails("echo", "printed nothing");
	command_fails("printf 'S3cret\\0x\\n'", "NUL byte");
	snprintf(cmd, sizeof(cmd), "head -c %d /dev/zero | tr '\\0' S",
	    SECRET_MAX + 1);
	command_fails(cmd, "too long");
}

/* Exactly SECRET_MAX bytes pass. */
static void
test_command_longest(void **state)
{
	struct pf_err err;
	char cmd[64], *out = NULL;

	(void)state;
	snprintf(
	    cmd, sizeof(cmd), "head -c %d /dev/zero | tr '\\0' S", SECRET_MAX);
	assert_int_equal(secret_from_command(cmd, &out, &err), 0);
	assert_int_equal(strlen(out), SECRET_MAX);
	xfree_secret(out);
}

/* Parse text (a copy) for host and user. */
static void
netrc_is(const char *text, const char *host, const char *user, const char *want)
{
	char *copy = xstrdup(text);
	const char *got = secret_netrc_find(copy, host, user);

	if (want == NULL && got != NULL)
		fail_msg("%s/%s: got '%s', want none", host, user, got);
	if (want != NULL && (got == NULL || strcmp(got, want) != 0))
		fail_msg("%s/%s: got '%s', want '%s'", host, user,
		    got != NULL ? got : "(none)", want);
	free(copy);
}

static void
test_netrc_parser(void **state)
{
	static const char text[] =
	    "machine pop.example.com login alice password a1\n"
	    "machine pop.example.com\n  login bob\n  password b2\n"
	    "machine other.example.com password o3\n"
	    "macdef init\n  machine pop.example.com login carol password x\n"
	    "\n"
	    "machine mac.example.com login carol account acct password c4\n"
	    "default login dave password d5\n";

	(void)state;
	netrc_is(text, "pop.example.com", "alice", "a1");
	netrc_is(text, "POP.Example.COM", "alice", "a1");
	netrc_is(text, "pop.example.com", "bob", "b2");
	/* an entry without login fits every user */
	netrc_is(text, "other.example.com", "anyone", "o3");
	/* a macro body is not an entry */
	netrc_is(text, "pop.example.com", "carol", NULL);
	netrc_is(text, "mac.example.com", "carol", "c4");
	/* the default entry, for its login only */
	netrc_is(text, "nowhere.example.com", "dave", "d5");
	netrc_is(text, "nowhere.example.com", "erin", NULL);
	netrc_is("", "h", "u", NULL);
	netrc_is("machine", "h", "u", NULL);
	netrc_is("machine h login u password", "h", "u", NULL);
	netrc_is("macdef x\n\nmachine h password p\n", "h", "u", "p");
}

static void
test_netrc_file(void **state)
{
	struct pf_err err;
	char *out = NULL, missing[300];

	(void)state;
	write_netrc("machine h login u password S3cret\n", 0600);
	assert_int_equal(secret_from_netrc(netrc, "h", "u", &out, &err), 1);
	assert_string_equal(out, "S3cret");
	xfree_secret(out);
	assert_int_equal(secret_from_netrc(netrc, "h", "v", &out, &err), 0);
	assert_null(out);
	/* others may read it: refused, naming the file, not the secret */
	write_netrc("machine h login u password S3cret\n", 0644);
	assert_int_equal(secret_from_netrc(netrc, "h", "u", &out, &err), -1);
	assert_int_equal(err.code, PF_ECONFIG);
	assert_non_null(strstr(err.msg, netrc));
	assert_non_null(strstr(err.msg, "chmod 600"));
	assert_null(strstr(err.msg, "S3cret"));
	assert_null(out);
	write_netrc("machine h login u password S3cret\n", 0660);
	assert_int_equal(secret_from_netrc(netrc, "h", "u", &out, &err), -1);
	snprintf(missing, sizeof(missing), "%s/none", dir);
	assert_int_equal(secret_from_netrc(missing, "h", "u", &out, &err), 0);
}

/* The source an account uses, and secret_get() from each. */
static void
test_sources(void **state)
{
	struct secret_opts o = {false, netrc, false};
	struct account a;
	struct pf_err err;
	char *out;

	(void)state;
	memset(&a, 0, sizeof(a));
	a.host = xstrdup("h");
	assert_int_equal(secret_source_of(&a), SECRET_NONE);
	assert_int_equal(secret_get(&a, &o, &out, &err), 0);
	assert_null(out);
	a.user = xstrdup("u");
	assert_int_equal(secret_source_of(&a), SECRET_LOOKUP);
	/* no .netrc entry and no prompt allowed (--serverinfo): no secret */
	assert_int_equal(secret_get(&a, &o, &out, &err), 0);
	assert_null(out);
	write_netrc("machine h login u password n1\n", 0600);
	assert_int_equal(secret_get(&a, &o, &out, &err), 0);
	assert_string_equal(out, "n1");
	xfree_secret(out);
	a.password = xstrdup("p2");
	assert_int_equal(secret_source_of(&a), SECRET_CONFIG);
	assert_int_equal(secret_get(&a, &o, &out, &err), 0);
	assert_string_equal(out, "p2");
	xfree_secret(out);
	a.password_command = xstrdup("echo c3");
	assert_int_equal(secret_source_of(&a), SECRET_COMMAND);
	assert_int_equal(secret_get(&a, &o, &out, &err), 0);
	assert_string_equal(out, "c3");
	xfree_secret(out);
	assert_string_equal(
	    secret_source_names[SECRET_COMMAND], "password_command");
	/* a refused .netrc fails the lookup */
	free(a.password_command);
	a.password_command = NULL;
	xfree_secret(a.password);
	a.password = NULL;
	write_netrc("machine h login u password n1\n", 0644);
	assert_int_equal(secret_get(&a, &o, &out, &err), -1);
	assert_int_equal(err.code, PF_ECONFIG);
	account_free(&a);
}

/* The line reader: with stop_at_newline it returns at the first newline
 * (a terminal), else it reads to the end (a command's output). */
static void
test_read_line(void **state)
{
	char buf[8];
	int fds[2];

	(void)state;
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], "ab\r\n", 4), 4);
	/* the writer stays open: this returns without waiting for EOF */
	assert_int_equal(secret_read_line(fds[0], buf, sizeof(buf), true), 2);
	assert_string_equal(buf, "ab");
	assert_int_equal(write(fds[1], "cd\nef\n", 6), 6);
	close(fds[1]);
	assert_int_equal(secret_read_line(fds[0], buf, sizeof(buf), false), 2);
	assert_string_equal(buf, "cd");
	close(fds[0]);
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], "12345678\n", 9), 9);
	close(fds[1]);
	assert_int_equal(secret_read_line(fds[0], buf, sizeof(buf), false), -1);
	close(fds[0]);
}

/* oauth2_provider makes the token file the source, unless the user keeps
 * a password_command (their own token helper) or names a password
 * mechanism; the client secret comes from its command. */
static void
test_oauth_source(void **state)
{
	struct secret_opts o = {false, netrc, false};
	struct account a;
	struct pf_err err;
	char *out;

	(void)state;
	memset(&a, 0, sizeof(a));
	a.host = xstrdup("h");
	a.user = xstrdup("u");
	a.oauth2_provider = xstrdup("generic");
	a.oauth2_client_id = xstrdup("cid");
	a.oauth2_token_url = xstrdup("https://id.example/token");
	a.state_dir = xstrdup(dir);
	a.timeout = 5;
	assert_int_equal(secret_source_of(&a), SECRET_OAUTH);
	/* nothing stored yet: 77 with the hint, nothing asked */
	assert_int_equal(secret_get(&a, &o, &out, &err), -1);
	assert_int_equal(err.code, PF_ENOPERM);
	assert_non_null(strstr(err.msg, "popfetch --authorize"));
	assert_null(out);
	/* --serverinfo: no token needed, none stored is no error */
	o.before_login = true;
	assert_int_equal(secret_get(&a, &o, &out, &err), 0);
	assert_null(out);
	o.before_login = false;
	a.auth = AUTH_USER;
	assert_int_equal(secret_source_of(&a), SECRET_LOOKUP);
	a.auth = AUTH_XOAUTH2;
	assert_int_equal(secret_source_of(&a), SECRET_OAUTH);
	a.password_command = xstrdup("echo tok");
	assert_int_equal(secret_source_of(&a), SECRET_COMMAND);
	assert_int_equal(secret_get(&a, &o, &out, &err), 0);
	assert_string_equal(out, "tok");
	xfree_secret(out);
	assert_int_equal(secret_oauth_client(&a, &out, &err), 0);
	assert_null(out);
	a.oauth2_client_secret_command = xstrdup("echo s3cret");
	assert_int_equal(secret_oauth_client(&a, &out, &err), 0);
	assert_string_equal(out, "s3cret");
	xfree_secret(out);
	free(a.oauth2_client_secret_command);
	a.oauth2_client_secret_command = xstrdup("exit 3");
	assert_int_equal(secret_oauth_client(&a, &out, &err), -1);
	assert_non_null(strstr(err.msg, "oauth2_client_secret_command"));
	account_free(&a);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_command_output),
	    T(test_command_failures),
	    T(test_command_longest),
	    T(test_netrc_parser),
	    T(test_netrc_file),
	    T(test_sources),
	    T(test_read_line),
	    T(test_oauth_source),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
