/*
 * test-stream.c: the tunnel stream (stream_tunnel_new): bytes both ways
 * over the command's stdin and stdout; its failure told with its status
 * and last stderr line; its stderr drained while we wait (a command that
 * writes more than a pipe holds before answering must not hang us) and
 * kept bounded; only fds 0, 1 and 2 inherited; and at close the command
 * and what it started ended and reaped, SIGKILL when SIGTERM is ignored.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "popfetch/stream.h"
#include "stream-private.h"
#include "tmpdir.h"

static char tmpdir[512];

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct stream *
tunnel(const char *cmd)
{
	struct pf_err err;
	struct stream *s = stream_tunnel_new(cmd, 5000, &err);

	if (s == NULL)
		fail_msg("stream_tunnel_new: %s", err.msg);
	assert_non_null(s->child);
	return s;
}

/* Read until n bytes or EOF/error; returns the count, -1 on error. */
static ssize_t
read_all(struct stream *s, char *buf, size_t n, struct pf_err *err)
{
	size_t got = 0;
	ssize_t r;

	while (got < n) {
		r = stream_read(s, buf + got, n - got, err);
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* True when pid is gone or a zombie that is no longer ours. */
static bool
gone(pid_t pid)
{
	char path[64], buf[256], *p;
	FILE *fp;

	if (kill(pid, 0) == -1 && errno == ESRCH)
		return true;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return true;
	p = fgets(buf, sizeof(buf), fp);
	fclose(fp);
	/* "pid (comm) S ...": the state follows the last ')' */
	return p != NULL && (p = strrchr(buf, ')')) != NULL && p[2] == 'Z';
}

/* The command was reaped by stream_close() and is not running. */
static void
assert_reaped(pid_t pid)
{
	assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	assert_true(gone(pid));
}

static void
test_echo(void **state)
{
	struct pf_err err;
	struct stream *s;
	char buf[16];
	pid_t pid;

	(void)state;
	s = tunnel("cat");
	pid = s->child->pid;
	assert_int_equal(stream_write_all(s, "hello\r\n", 7, &err), 0);
	assert_int_equal(read_all(s, buf, 7, &err), 7);
	assert_memory_equal(buf, "hello\r\n", 7);
	assert_false(stream_is_tls(s));
	stream_close(s);
	assert_reaped(pid);
}

/* A failure to read is told as the command's exit and last stderr line. */
static void
expect_read_fail(const char *cmd, const char *want)
{
	struct pf_err err;
	struct stream *s;
	char buf[16];
	pid_t pid;

	s = tunnel(cmd);
	pid = s->child->pid;
	memset(&err, 0, sizeof(err));
	assert_int_equal(read_all(s, buf, sizeof(buf), &err), -1);
	assert_int_equal(err.code, PF_ETEMP);
	if (strcmp(err.msg, want) != 0)
		fail_msg("got '%s', want '%s'", err.msg, want);
	stream_close(s);
	assert_reaped(pid);
}

static void
test_exit_status(void **state)
{
	(void)state;
	expect_read_fail("echo 'first line' >&2; echo 'no route to gw' >&2; "
			 "exit 4",
	    "tunnel command exited with status 4: no route to gw");
	expect_read_fail("exit 3", "tunnel command exited with status 3");
	expect_read_fail("printf 'gw\\033[2Jdown\\n\\n' >&2; exit 0",
	    "tunnel command exited with status 0: gw\\x1b[2Jdown");
	expect_read_fail("kill -9 $$", "tunnel command was killed by signal 9");
	expect_read_fail("no-such-command-popfetch-test",
	    "tunnel command exited with status 127: sh: 1: "
	    "no-such-command-popfetch-test: not found");
}

static void
test_clean_eof(void **state)
{
	struct pf_err err;
	struct stream *s;
	char buf[16];

	(void)state;
	s = tunnel("printf 'bye'; exit 0");
	assert_int_equal(read_all(s, buf, sizeof(buf), &err), 3);
	assert_memory_equal(buf, "bye", 3);
	stream_close(s);
}

static void
test_write_after_exit(void **state)
{
	struct pf_err err;
	struct stream *s;
	char big[65536];
	int i, rc = 0;

	(void)state;
	s = tunnel("echo 'gone' >&2; exit 5");
	memset(big, 'x', sizeof(big));
	memset(&err, 0, sizeof(err));
	for (i = 0; i < 50 && rc == 0; i++) {
		rc = stream_write_all(s, big, sizeof(big), &err);
		nanosleep(&(struct timespec){0, 20000000}, NULL);
	}
	assert_int_equal(rc, -1);
	assert_string_equal(
	    err.msg, "tunnel command exited with status 5: gone");
	stream_close(s);
}

static void
test_stderr_flood(void **state)
{
	struct pf_err err;
	struct stream *s;
	char buf[8];
	pid_t pid;

	(void)state;
	/* four pipes' worth before the answer: without draining, a deadlock */
	s = tunnel("head -c 300000 /dev/zero | tr '\\0' e >&2; echo done; "
		   "exec cat");
	pid = s->child->pid;
	assert_int_equal(read_all(s, buf, 5, &err), 5);
	assert_memory_equal(buf, "done\n", 5);
	assert_true(s->child->errlen <= STREAM_CHILD_ERR_MAX);
	assert_true(s->child->errcut);
	stream_close(s);
	assert_reaped(pid);
}

static void
test_only_stdio_inherited(void **state)
{
	struct pf_err err;
	struct stream *s;
	char buf[64];
	ssize_t n;
	int leak;

	(void)state;
	/* as if inherited from whoever started us: not close-on-exec */
	leak = open("/dev/null", O_RDONLY);
	assert_true(leak > 2);
	s = tunnel("ls /proc/$$/fd");
	n = read_all(s, buf, sizeof(buf) - 1, &err);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "0\n1\n2\n");
	stream_close(s);
	close(leak);
}

/* SIGTERM ignored by the command and its child: SIGKILL for the group. */
static void
test_term_ignored(void **state)
{
	char path[600], cmd[800], buf[16];
	struct pf_err err;
	struct stream *s;
	long long t0, ms;
	long gpid = 0;
	FILE *fp;
	pid_t pid;

	(void)state;
	snprintf(path, sizeof(path), "%s/grandchild", tmpdir);
	snprintf(cmd, sizeof(cmd),
	    "trap '' TERM; sleep 1000 & echo $! >'%s'; echo ready; wait", path);
	s = tunnel(cmd);
	pid = s->child->pid;
	assert_int_equal(read_all(s, buf, 6, &err), 6);
	assert_memory_equal(buf, "ready\n", 6);
	assert_non_null(fp = fopen(path, "r"));
	assert_int_equal(fscanf(fp, "%ld", &gpid), 1);
	fclose(fp);
	t0 = now_ms();
	stream_close(s);
	ms = now_ms() - t0;
	assert_true(ms >= STREAM_CHILD_GRACE_MS - 100);
	assert_true(ms < STREAM_CHILD_GRACE_MS + 3000);
	assert_reaped(pid);
	for (int i = 0; i < 100 && !gone((pid_t)gpid); i++)
		nanosleep(&(struct timespec){0, 10000000}, NULL);
	assert_true(gone((pid_t)gpid));
}

/* A command that stops at SIGTERM ends at once, its children with it. */
static void
test_term_ends_group(void **state)
{
	char path[600], cmd[800], buf[16];
	struct pf_err err;
	struct stream *s;
	long long t0;
	long gpid = 0;
	FILE *fp;
	pid_t pid;

	(void)state;
	snprintf(path, sizeof(path), "%s/grandchild2", tmpdir);
	snprintf(cmd, sizeof(cmd),
	    "sleep 1000 & echo $! >'%s'; echo ready; exec sleep 999", path);
	s = tunnel(cmd);
	pid = s->child->pid;
	assert_int_equal(read_all(s, buf, 6, &err), 6);
	assert_non_null(fp = fopen(path, "r"));
	assert_int_equal(fscanf(fp, "%ld", &gpid), 1);
	fclose(fp);
	t0 = now_ms();
	stream_close(s);
	assert_true(now_ms() - t0 < 1500);
	assert_reaped(pid);
	for (int i = 0; i < 100 && !gone((pid_t)gpid); i++)
		nanosleep(&(struct timespec){0, 10000000}, NULL);
	assert_true(gone((pid_t)gpid));
}

/* The command obeys SIGTERM but its child ignores it: SIGKILL for the
 * group once the command is gone. */
static void
test_term_ignored_by_child(void **state)
{
	char path[600], cmd[800], buf[16];
	struct pf_err err;
	struct stream *s;
	long long t0;
	long gpid = 0;
	FILE *fp;
	pid_t pid;

	(void)state;
	snprintf(path, sizeof(path), "%s/grandchild3", tmpdir);
	snprintf(cmd, sizeof(cmd),
	    "(trap '' TERM; exec sleep 1000) & echo $! >'%s'; echo ready; "
	    "exec sleep 999",
	    path);
	s = tunnel(cmd);
	pid = s->child->pid;
	assert_int_equal(read_all(s, buf, 6, &err), 6);
	assert_non_null(fp = fopen(path, "r"));
	assert_int_equal(fscanf(fp, "%ld", &gpid), 1);
	fclose(fp);
	t0 = now_ms();
	stream_close(s);
	assert_true(now_ms() - t0 < 1500);
	assert_reaped(pid);
	for (int i = 0; i < 100 && !gone((pid_t)gpid); i++)
		nanosleep(&(struct timespec){0, 10000000}, NULL);
	assert_true(gone((pid_t)gpid));
}

/* A silent command: reads time out under the stream's timeout. */
static void
test_silent_timeout(void **state)
{
	struct pf_err err;
	struct stream *s;
	char buf[4];
	long long t0;
	pid_t pid;

	(void)state;
	s = stream_tunnel_new("exec sleep 1000", 300, &err);
	assert_non_null(s);
	pid = s->child->pid;
	t0 = now_ms();
	assert_int_equal(stream_read(s, buf, sizeof(buf), &err), -1);
	assert_true(now_ms() - t0 < 2000);
	assert_non_null(strstr(err.msg, "timed out"));
	stream_close(s);
	assert_reaped(pid);
}

/* A wait whose deadline has passed fails, even with the socket ready:
 * otherwise a peer that keeps it ready with records that carry nothing
 * for the caller would never be timed out. Before the deadline a ready
 * socket is ready. */
static void
test_wait_past_deadline(void **state)
{
	struct pf_err err;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write(sv[1], "x", 1), 1);
	assert_int_equal(
	    stream_wait(sv[0], POLLIN, now_ms() + 5000, 300, &err), 0);
	assert_int_equal(
	    stream_wait(sv[0], POLLIN, now_ms() - 1, 300, &err), -1);
	assert_int_equal(err.code, PF_ETEMP);
	assert_non_null(strstr(err.msg, "timed out after 0.3 seconds"));
	/* No deadline: ready is ready. */
	assert_int_equal(stream_wait(sv[0], POLLIN, -1, 0, &err), 0);
	close(sv[0]);
	close(sv[1]);
}

static int
group_setup(void **state)
{
	(void)state;
	return tmpdir_make(tmpdir, sizeof(tmpdir), "stream");
}

static int
group_teardown(void **state)
{
	(void)state;
	return tmpdir_remove(tmpdir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_echo),
	    cmocka_unit_test(test_exit_status),
	    cmocka_unit_test(test_clean_eof),
	    cmocka_unit_test(test_write_after_exit),
	    cmocka_unit_test(test_stderr_flood),
	    cmocka_unit_test(test_only_stdio_inherited),
	    cmocka_unit_test(test_term_ignored),
	    cmocka_unit_test(test_term_ends_group),
	    cmocka_unit_test(test_term_ignored_by_child),
	    cmocka_unit_test(test_silent_timeout),
	    cmocka_unit_test(test_wait_past_deadline),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
