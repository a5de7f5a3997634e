/*
 * test-runner.c: the account runner with stand-in fetch, secret and
 * probe functions: the first failure in account order is the run's,
 * whatever the order the accounts end in (also with -j, across child
 * processes), secrets are got in the parent, a secret that cannot be got
 * fails only its account, a dead worker is reported, a signal stops the
 * run and says what stays on the server, and --stdout keeps the run in
 * one process.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "popfetch/conn.h"
#include "popfetch/runner.h"
#include "popfetch/xmalloc.h"

#define NACCT 4

static struct account accts[NACCT];
static struct runner_result res[NACCT];
static pid_t test_pid;
static char donelog[64]; /* the done hook's record, one line per call */
static char pidlog[64];	 /* the pid of each fetch, one line per call */
static int fetch_calls;
static int secret_calls; /* in this process */
static bool want_prompt; /* what the secret source must be told */

/* What the stand-in fetch does for each account, by host name:
 * "ok", "eio", "temp", "noperm", "slow-noperm", "die", "stop", "bye" (ok,
 * and the process dies 100 ms later). Once a stop was asked, it stops at
 * once, as the real fetch does. */
static int
fake_fetch(const struct account *a, const struct fetch_opts *o,
    struct fetch_stats *st, struct pf_err *err)
{
	struct timespec ts = {0, 300 * 1000 * 1000};

	FILE *fp = fopen(pidlog, "a");

	assert_non_null(fp);
	fprintf(fp, "%ld\n", (long)getpid());
	fclose(fp);
	fetch_calls++;
	memset(st, 0, sizeof(*st));
	if (fetch_stop_requested())
		return pf_err_set(err, PF_ETEMP, "interrupted by a signal");
	st->fresh = 10;
	st->fetched = 3;
	st->left = 7;
	if (o->secret == NULL || strcmp(o->secret, a->user) != 0)
		return pf_err_set(err, PF_ESOFTWARE, "wrong secret");
	if (o->report != NULL)
		o->report(o->ctx, a->host);
	if (strcmp(a->host, "ok") == 0)
		return 0;
	if (strcmp(a->host, "bye") == 0) {
		struct itimerval it = {{0, 0}, {0, 100 * 1000}};

		setitimer(ITIMER_REAL, &it, NULL); /* SIGALRM kills */
		return 0;
	}
	if (strcmp(a->host, "eio") == 0)
		return pf_err_set(err, PF_EIO, "disk full");
	if (strcmp(a->host, "temp") == 0)
		return pf_err_set(err, PF_ETEMP, "timed out");
	if (strcmp(a->host, "slow-noperm") == 0) {
		nanosleep(&ts, NULL);
		return pf_err_set(err, PF_ENOPERM, "login refused");
	}
	if (strcmp(a->host, "die") == 0)
		_exit(1);
	if (strcmp(a->host, "stop") == 0) {
		fetch_request_stop();
		return pf_err_set(err, PF_ETEMP, "interrupted by a signal");
	}
	return pf_err_set(err, PF_ENOPERM, "login refused");
}

/* The open-file limit before leave_fds() or "fewfds" lowered it. */
static struct rlimit fd_limit;
static bool fd_limit_lowered;

/* The stand-in secret: the user name, unless the user is "nosecret";
 * "slowsecret" takes 300 ms; "fewfds" lowers the limit on open files to
 * one, below what poll() of two workers needs. It must be asked in the
 * test's own process, never in a child. */
static int
fake_secret(const struct account *a, const struct secret_opts *o, char **out,
    struct pf_err *err)
{
	*out = NULL;
	secret_calls++;
	if (getpid() != test_pid)
		return pf_err_set(err, PF_ESOFTWARE, "secret in a child");
	if (o->may_prompt != want_prompt)
		return pf_err_set(err, PF_ESOFTWARE, "may_prompt is wrong");
	if (a->user != NULL && strcmp(a->user, "nosecret") == 0)
		return pf_err_set(err, PF_ECONFIG, "no password for 'x'");
	if (a->user != NULL && strcmp(a->user, "slowsecret") == 0) {
		struct timespec ts = {0, 300 * 1000 * 1000};

		nanosleep(&ts, NULL);
	}
	if (a->user != NULL && strcmp(a->user, "fewfds") == 0) {
		struct rlimit one;

		assert_int_equal(getrlimit(RLIMIT_NOFILE, &fd_limit), 0);
		one = fd_limit;
		one.rlim_cur = 1;
		assert_int_equal(setrlimit(RLIMIT_NOFILE, &one), 0);
		fd_limit_lowered = true;
	}
	*out = a->user != NULL ? xstrdup(a->user) : NULL;
	return 0;
}

static int
fake_probe(const struct account *a, const struct fetch_opts *o, char **text,
    struct pf_err *err)
{
	(void)o;
	(void)err;
	*text = xasprintf("probed %s\n", a->host);
	return 0;
}

/* Records each done call as "NAME RET CODE" in donelog (appending, so
 * that -j children record theirs too). */
static void
on_done(void *ctx, const struct account *a, const struct runner_result *r)
{
	FILE *fp = fopen(donelog, "a");

	(void)ctx;
	assert_non_null(fp);
	fprintf(fp, "%s %d %s\n", a->name, r->ret, pf_errc_name(r->err.code));
	fclose(fp);
}

static char probed[256];

static void
on_serverinfo(void *ctx, const struct account *a, const char *text)
{
	(void)ctx;
	(void)a;
	strncat(probed, text, sizeof(probed) - strlen(probed) - 1);
}

static const struct runner_hooks hooks = {
    NULL, NULL, on_serverinfo, on_done, NULL};

/* Set up accounts named a, b, c, d with these hosts (NULL: fewer). */
static size_t
make(const char *h0, const char *h1, const char *h2, const char *h3)
{
	const char *hosts[NACCT] = {h0, h1, h2, h3};
	size_t i;

	for (i = 0; i < NACCT && hosts[i] != NULL; i++) {
		memset(&accts[i], 0, sizeof(accts[i]));
		accts[i].name = xasprintf("%c", (char)('a' + i));
		accts[i].host = xstrdup(hosts[i]);
		accts[i].user = xasprintf("user%zu", i);
		accts[i].sink = SINK_MAILDIR;
	}
	memset(res, 0, sizeof(res));
	fetch_calls = secret_calls = 0;
	probed[0] = '\0';
	unlink(donelog);
	unlink(pidlog);
	return i;
}

static void
drop(size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		account_free(&accts[i]);
}

/* What the shell command cmd prints (at most 511 bytes). */
static char *
command_output(const char *cmd)
{
	char buf[512];
	FILE *fp = popen(cmd, "r");
	size_t n;

	assert_non_null(fp);
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	pclose(fp);
	return xstrdup(buf);
}

/* The done log, sorted (children end in any order). */
static char *
done_lines(void)
{
	char *cmd = xasprintf("sort %s", donelog), *out;

	out = command_output(cmd);
	free(cmd);
	return out;
}

/* How many processes ran a fetch (distinct pids in pidlog). */
static int
fetch_processes(void)
{
	char *cmd = xasprintf("sort -u %s | wc -l", pidlog), *out;
	int n;

	out = command_output(cmd);
	n = atoi(out);
	free(cmd);
	free(out);
	return n;
}

/* The done log must be want, once sorted. */
static void
expect_done(const char *want)
{
	char *d = done_lines();

	assert_string_equal(d, want);
	free(d);
}

static void
run(size_t n, int jobs, bool serverinfo)
{
	struct runner_opts o;

	memset(&o, 0, sizeof(o));
	o.jobs = jobs;
	o.serverinfo = serverinfo;
	o.fetch = fake_fetch;
	o.secret = fake_secret;
	o.probe = fake_probe;
	want_prompt = !serverinfo;
	runner_run(accts, n, &o, &hooks, res);
}

static int
setup(void **state)
{
	(void)state;
	test_pid = getpid();
	signal(SIGPIPE, SIG_IGN); /* as process_setup() does */
	snprintf(donelog, sizeof(donelog), "/tmp/pf-test-runner.%ld",
	    (long)test_pid);
	snprintf(pidlog, sizeof(pidlog), "/tmp/pf-test-runner-pids.%ld",
	    (long)test_pid);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(donelog);
	unlink(pidlog);
	return 0;
}

/* One after the other: each outcome, and the first failure wins. */
static void
test_sequential(void **state)
{
	size_t n = make("ok", "eio", "temp", "ok");
	(void)state;
	run(n, 1, false);
	assert_int_equal(fetch_calls, 4);
	assert_int_equal(res[0].ret, 0);
	assert_int_equal(res[1].err.code, PF_EIO);
	assert_int_equal(res[2].err.code, PF_ETEMP);
	assert_int_equal(res[3].ret, 0);
	assert_int_equal(res[0].st.fetched, 3);
	assert_int_equal(runner_first_failure(res, n), 1);
	assert_int_equal(runner_first_failure(res, 1), -1);
	expect_done("a 0 ok\nb -1 ioerr\nc -1 tempfail\nd 0 ok\n");
	drop(n);
}

/* -j 2: the first account ends last, but its failure is the run's;
 * outcomes and stats come back from the children. */
static void
test_parallel_first_failure(void **state)
{
	size_t n = make("slow-noperm", "temp", "ok", "eio");
	(void)state;
	run(n, 2, false);
	assert_int_equal(fetch_calls, 0); /* all in children */
	assert_int_equal(res[0].err.code, PF_ENOPERM);
	assert_string_equal(res[0].err.msg, "login refused");
	assert_int_equal(res[1].err.code, PF_ETEMP);
	assert_int_equal(res[2].ret, 0);
	assert_int_equal(res[2].st.fresh, 10);
	assert_int_equal(res[2].st.left, 7);
	assert_int_equal(res[3].err.code, PF_EIO);
	assert_int_equal(runner_first_failure(res, n), 0);
	expect_done("a -1 noperm\nb -1 tempfail\nc 0 ok\nd -1 ioerr\n");
	drop(n);
}

/* -j builds each distinct TLS context before the workers fork, so that
 * they share it; a TLS-free account needs none, and one run alone needs
 * none built in advance. */
static void
test_parallel_prepares_tls(void **state)
{
	size_t n = make("ok", "ok", "ok", "ok");

	(void)state;
	accts[1].tls_min = 13;
	accts[2].tls = CONN_TLS_NONE;
	accts[3].tls_min = 13;
	conn_tls_cache_free();
	run(n, 1, false);
	assert_int_equal(conn_tls_contexts(), 0);
	run(n, 2, false);
	assert_int_equal(res[0].ret, 0);
	assert_int_equal(res[3].ret, 0);
	assert_int_equal(conn_tls_contexts(), 2);
	conn_tls_cache_free();
	drop(n);
}

/* A secret that cannot be got fails its account only, without a fetch;
 * with -j the secrets are got in this process (fake_secret checks). */
static void
test_secret_failure(void **state)
{
	size_t n = make("ok", "ok", "ok", NULL);

	(void)state;
	free(accts[1].user);
	accts[1].user = xstrdup("nosecret");
	run(n, 1, false);
	assert_int_equal(fetch_calls, 2);
	assert_int_equal(res[0].ret, 0);
	assert_int_equal(res[1].err.code, PF_ECONFIG);
	assert_string_equal(res[1].err.msg, "no password for 'x'");
	assert_int_equal(res[2].ret, 0);
	run(n, 3, false);
	assert_int_equal(res[0].ret, 0);
	assert_int_equal(res[1].err.code, PF_ECONFIG);
	assert_int_equal(res[2].ret, 0);
	drop(n);
}

/* -j2 with four accounts: two workers, each given one account after
 * another, not a process per account; none of them is this process. */
static void
test_workers_reused(void **state)
{
	size_t n = make("ok", "ok", "ok", "ok");
	(void)state;
	run(n, 2, false);
	assert_int_equal(fetch_calls, 0);
	assert_int_equal(fetch_processes(), 2);
	assert_int_equal(runner_first_failure(res, n), -1);
	expect_done("a 0 ok\nb 0 ok\nc 0 ok\nd 0 ok\n");
	/* -j larger than the accounts: one worker each, no more */
	unlink(pidlog);
	run(n, 8, false);
	assert_int_equal(fetch_processes(), 4);
	drop(n);
}

/* A worker that dies takes only its account with it: new workers run
 * the accounts after it. */
static void
test_worker_replaced(void **state)
{
	size_t n = make("die", "die", "ok", "ok");

	(void)state;
	run(n, 2, false);
	assert_int_equal(res[0].err.code, PF_ESOFTWARE);
	assert_string_equal(res[0].err.msg, "account 'a': worker died");
	assert_int_equal(res[1].err.code, PF_ESOFTWARE);
	assert_int_equal(res[2].ret, 0);
	assert_int_equal(res[3].ret, 0);
	assert_int_equal(res[3].st.fresh, 10);
	assert_true(fetch_processes() >= 3);
	expect_done("a -1 software\nb -1 software\nc 0 ok\nd 0 ok\n");
	drop(n);
}

/* A worker that dies while idle (between accounts) costs no account: the
 * next one goes to a new worker. Account a's worker dies 100 ms after a;
 * c's secret takes 300 ms, so c is handed over after that. */
static void
test_idle_worker_gone(void **state)
{
	size_t n = make("bye", "slow-noperm", "ok", NULL);

	(void)state;
	free(accts[2].user);
	accts[2].user = xstrdup("slowsecret");
	run(n, 2, false);
	assert_int_equal(res[0].ret, 0);
	assert_int_equal(res[1].err.code, PF_ENOPERM);
	assert_int_equal(res[2].ret, 0);
	expect_done("a 0 ok\nb -1 noperm\nc 0 ok\n");
	drop(n);
}

/* A signal to one worker stops its account; that worker then ends, so
 * the accounts after it run in full on a new one. */
static void
test_worker_stopped(void **state)
{
	size_t n = make("stop", "slow-noperm", "ok", "ok");

	(void)state;
	run(n, 2, false);
	assert_int_equal(res[0].err.code, PF_ETEMP);
	assert_true(res[0].interrupted);
	assert_int_equal(res[1].err.code, PF_ENOPERM);
	assert_int_equal(res[2].ret, 0);
	assert_int_equal(res[3].ret, 0);
	assert_false(fetch_stop_requested()); /* only the worker was told */
	expect_done("a -1 tempfail\nb -1 noperm\nc 0 ok\nd 0 ok\n");
	drop(n);
}

/* A child that dies without a word is reported by the parent. */
static void
test_worker_died(void **state)
{
	size_t n = make("ok", "die", NULL, NULL);
	(void)state;
	run(n, 2, false);
	assert_int_equal(res[0].ret, 0);
	assert_int_equal(res[1].err.code, PF_ESOFTWARE);
	assert_string_equal(res[1].err.msg, "account 'b': worker died");
	expect_done("a 0 ok\nb -1 software\n");
	drop(n);
}

/* Lower the soft limit on open files so that only k more can be opened;
 * restore_fds() puts it back. */
static void
leave_fds(int k)
{
	struct rlimit lim;
	int fd;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &fd_limit), 0);
	for (fd = 0; k > 0; fd++)
		if (fcntl(fd, F_GETFD) == -1)
			k--;
	lim = fd_limit;
	lim.rlim_cur = (rlim_t)fd;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &lim), 0);
	fd_limit_lowered = true;
}

/* Put back the limit leave_fds() or "fewfds" lowered; also the teardown
 * of the tests that lower it, so a failed one leaves no limit behind. */
static int
restore_fds(void **state)
{
	(void)state;
	if (fd_limit_lowered)
		assert_int_equal(setrlimit(RLIMIT_NOFILE, &fd_limit), 0);
	fd_limit_lowered = false;
	return 0;
}

/* A worker that cannot be started costs no account: with one worker
 * running, the others wait for it; with none, they run in this process.
 * Four free descriptors make one worker's two pipes; one makes none. */
static void
test_workers_scarce(void **state)
{
	size_t n = make("ok", "ok", "ok", "ok");

	leave_fds(4);
	run(n, 4, false);
	restore_fds(state);
	assert_int_equal(secret_calls, 4); /* none asked for twice */
	assert_int_equal(fetch_calls, 0);
	assert_int_equal(fetch_processes(), 1);
	expect_done("a 0 ok\nb 0 ok\nc 0 ok\nd 0 ok\n");
	unlink(donelog);
	unlink(pidlog);
	leave_fds(1);
	run(n, 4, false);
	restore_fds(state);
	assert_int_equal(fetch_calls, 4);
	assert_int_equal(runner_first_failure(res, n), -1);
	expect_done("a 0 ok\nb 0 ok\nc 0 ok\nd 0 ok\n");
	drop(n);
}

/* When the parent cannot poll its workers (here EINVAL: two descriptors
 * over a limit of one), it reads their results one at a time: each
 * account is reported once, with its own outcome. */
static void
test_cannot_wait(void **state)
{
	size_t n = make("ok", "ok", NULL, NULL);

	(void)state;
	free(accts[1].user);
	accts[1].user = xstrdup("fewfds");
	run(n, 2, false);
	assert_true(fd_limit_lowered);
	restore_fds(state);
	assert_int_equal(runner_first_failure(res, n), -1);
	assert_int_equal(res[1].st.fresh, 10);
	expect_done("a 0 ok\nb 0 ok\n");
	drop(n);
}

/* --serverinfo: the probe's text goes to the hook; no prompt allowed. */
static void
test_serverinfo(void **state)
{
	size_t n = make("h1", "h2", NULL, NULL);

	(void)state;
	free(accts[1].user);
	accts[1].user = NULL; /* no login at all */
	run(n, 1, true);
	assert_int_equal(fetch_calls, 0);
	assert_int_equal(res[0].ret, 0);
	assert_int_equal(res[1].ret, 0);
	assert_string_equal(probed, "probed h1\nprobed h2\n");
	drop(n);
}

/* An account on standard output keeps the run in one process. */
static void
test_parallel_only_without_stdout(void **state)
{
	size_t n = make("ok", "ok", NULL, NULL);

	(void)state;
	assert_true(runner_parallel(accts, n, 2));
	assert_false(runner_parallel(accts, n, 1));
	assert_false(runner_parallel(accts, 1, 4));
	accts[1].sink = SINK_STDOUT;
	assert_false(runner_parallel(accts, n, 2));
	run(n, 2, false);
	assert_int_equal(fetch_calls, 2); /* here, not in children */
	drop(n);
}

/* A signal: the account it stopped says what was delivered and that the
 * rest stays; the accounts after it are not started. Run in a child, as
 * the stop request cannot be taken back. */
static void
test_interrupted(void **state)
{
	int status;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		size_t n = make("ok", "stop", "ok", NULL);

		test_pid = getpid();
		run(n, 1, false);
		if (fetch_calls != 2 || res[0].ret != 0 ||
		    !res[1].interrupted || res[1].err.code != PF_ETEMP ||
		    strcmp(res[1].err.msg,
			"interrupted: 3 of 10 new messages delivered; the "
			"other 7 stay on the server for the next run") != 0 ||
		    !res[2].interrupted || res[2].err.code != PF_ETEMP ||
		    strstr(res[2].err.msg, "not fetched") == NULL ||
		    runner_first_failure(res, n) != 1)
			_exit(1);
		/* -j: nothing more is started either */
		n = make("ok", "ok", NULL, NULL);
		run(n, 2, false);
		_exit(res[0].interrupted && res[1].interrupted ? 0 : 2);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_sequential),
	    T(test_parallel_first_failure),
	    T(test_parallel_prepares_tls),
	    T(test_secret_failure),
	    T(test_worker_died),
	    T(test_workers_reused),
	    T(test_worker_replaced),
	    T(test_idle_worker_gone),
	    T(test_worker_stopped),
	    cmocka_unit_test_teardown(test_workers_scarce, restore_fds),
	    cmocka_unit_test_teardown(test_cannot_wait, restore_fds),
	    T(test_serverinfo),
	    T(test_parallel_only_without_stdout),
	    T(test_interrupted),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
