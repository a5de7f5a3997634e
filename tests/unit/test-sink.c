/*
 * test-sink.c: delivery. The leaf helpers with tables (shell quoting and
 * expansion, mboxrd), then Maildir, mbox (locking, repair, the pending-
 * append record and its recovery, failure injection), MDA (exit codes,
 * timeouts, hostile senders, inherited fds) and stdout.
 */
#define _GNU_SOURCE /* setrlimit, dup2 flags */

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

#include "popfetch/mboxrd.h"
#include "popfetch/pending.h"
#include "popfetch/shell.h"
#include "popfetch/sink.h"
#include "popfetch/state.h"
#include "sink-private.h" /* sink_maildir_name() */
#include "tmpdir.h"

/* Per-test scratch directory under $TMPDIR. */
static char tdir[512];

static char *
tpath(const char *name)
{
	static char buf[4][1024];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", tdir, name);
	return buf[i];
}

static int
setup(void **state)
{
	(void)state;
	return tmpdir_make(tdir, sizeof(tdir), "sink");
}

static int
teardown(void **state)
{
	(void)state;
	return tmpdir_remove(tdir);
}

/* Whole file into a new buffer (NUL added, not counted). */
static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, r;

	if (f == NULL)
		return NULL;
	do {
		if (n + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
	} while (r > 0);
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

static void
spew(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static int
count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* The single file in dir (its name into out). */
static void
only_file(const char *dir, char *out, size_t outsz)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.') {
			snprintf(out, outsz, "%s", de->d_name);
			n++;
		}
	closedir(d);
	assert_int_equal(n, 1);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct sink *
mk_sink(enum sink_kind kind, const char *path, struct pf_err *err)
{
	struct sink_params p;

	memset(&p, 0, sizeof(p));
	p.kind = kind;
	p.path = path;
	p.spool_dir = tdir;
	p.account_id = "user@example.org:995";
	p.lock_wait = 1;
	p.mda_timeout = 10;
	return sink_new(&p, err);
}

/* Deliver one message (open, write in chunks of step, commit). */
static int
deliver(struct sink *sk, const char *uid, const char *token, const char *msg,
    size_t len, size_t step, struct pf_err *err)
{
	struct sink_msg m = {uid, token, len};
	size_t off;

	if (sink_open(sk, &m, err) == -1)
		return -1;
	for (off = 0; off < len; off += step) {
		size_t n = len - off < step ? len - off : step;

		if (sink_write(sk, msg + off, n, err) == -1)
			return -1;
	}
	return sink_commit(sk, err);
}

/* --- shared helpers --- */

static void
test_shell_quote(void **state)
{
	static const char *const t[][2] = {
	    {"", "''"},
	    {"abc", "'abc'"},
	    {"it's", "'it'\\''s'"},
	    {"'", "''\\'''"},
	    {"$(id) `x` \"y\";", "'$(id) `x` \"y\";'"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char *q = shell_quote(t[i][0]);

		assert_string_equal(q, t[i][1]);
		free(q);
	}
}

static void
test_mda_words(void **state)
{
	/* plain words: run directly, same as sh -c would */
	static const char *const direct[][4] = {
	    {"procmail", "procmail", NULL, NULL},
	    {"/usr/bin/procmail -m /x/rc", "/usr/bin/procmail", "-m", "/x/rc"},
	    {"  cat  ", "cat", NULL, NULL},
	    {"maildrop -d user@example.org", "maildrop", "-d",
		"user@example.org"},
	    {"prog a=b", "prog", "a=b", NULL},
	};
	/* anything sh would treat specially keeps /bin/sh -c */
	static const char *const viash[] = {
	    "cat > /tmp/x",
	    "procmail -f 'bob@x'",
	    "a=b prog",
	    "echo hi",
	    "exit 1",
	    "true",
	    "if",
	    "cmd; other",
	    "cmd | other",
	    "$HOME/x",
	    "~/bin/x",
	    "x*",
	    "cmd\targ",
	    "cmd &",
	    "`id`",
	    "\"q\"",
	    "",
	    "   ",
	    "test -f x",
	    "prog #c",
	    "a\\b",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(direct) / sizeof(direct[0]); i++) {
		char **w = shell_words(direct[i][0]);
		size_t k;

		assert_non_null(w);
		for (k = 1; k < 4 && direct[i][k] != NULL; k++)
			assert_string_equal(w[k - 1], direct[i][k]);
		assert_null(w[k - 1]);
		shell_words_free(w);
	}
	for (i = 0; i < sizeof(viash) / sizeof(viash[0]); i++)
		assert_null(shell_words(viash[i]));
}

static void
test_mda_expand(void **state)
{
	static const char *const t[][3] = {
	    {"deliver -f %F", "a@b", "deliver -f 'a@b'"},
	    {"x %%F y", "a@b", "x %F y"},
	    {"100%", "a@b", "100%"},
	    {"%x %s %", "a@b", "%x %s %"},
	    {"%F%F", "q'", "'q'\\''''q'\\'''"},
	    {"%%%F", "s", "%'s'"},
	    {"", "s", ""},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const char *values[1] = {t[i][1]};
		char *r = shell_expand(t[i][0], "F", values);

		assert_string_equal(r, t[i][2]);
		free(r);
	}
}

static void
test_envelope_sender(void **state)
{
	static const char *const t[][2] = {
	    {"Return-Path: <a@b.example>\nX: y\n\nbody", "a@b.example"},
	    {"X: y\nreturn-PATH:   <a@b>  \n\n", "a@b"},
	    {"Return-Path: <>\n\n", "MAILER-DAEMON"},
	    {"Subject: x\n\n", "MAILER-DAEMON"},
	    {"", "MAILER-DAEMON"},
	    {"Return-Path: bare@word trailing\n\n", "bare@word"},
	    {"Return-Path:\n\t<folded@x>\n\n", "folded@x"},
	    {"Return-Path: <a@b>\r\n\r\n", "a@b"},
	    {"Return-Path: <a b@c>\n\n", "MAILER-DAEMON"},
	    {"Return-Path: <a\001b@c>\n\n", "MAILER-DAEMON"},
	    {"Return-Path: <a@b\n\n", "MAILER-DAEMON"},
	    {"Return-Path: <@r1,@r2:u@h>\n\n", "u@h"},
	    {"X: y\n\nReturn-Path: <body@x>\n", "MAILER-DAEMON"},
	    {"Return-Path: <first@x>\nReturn-Path: <second@x>\n\n", "first@x"},
	    {"Return-Path: <$(touch X)@x>\n\n", "MAILER-DAEMON"},
	    {"Return-Path: <$(id)@x>\n\n", "$(id)@x"},
	    {"Return-Path: <\303\251@x>\n\n", "MAILER-DAEMON"},
	    {"Return-Pathology: <no@x>\n\n", "MAILER-DAEMON"},
	};
	char out[512], small[6];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		mboxrd_sender(t[i][0], strlen(t[i][0]), out, sizeof(out));
		assert_string_equal(out, t[i][1]);
	}
	/* Too long for out: never a truncated address. */
	mboxrd_sender("Return-Path: <longer@x>\n", 24, small, sizeof(small));
	assert_string_equal(small, "MAILE");
	/* Only len bytes are looked at. */
	mboxrd_sender("Return-Path: <a@b>\n", 10, out, sizeof(out));
	assert_string_equal(out, "MAILER-DAEMON");
}

static void
test_from_line(void **state)
{
	char out[128], tiny[10];
	char *otz = getenv("TZ") ? strdup(getenv("TZ")) : NULL;

	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	assert_int_equal(
	    mboxrd_from_line(out, sizeof(out), "a@b", 1795720416), 0);
	assert_string_equal(out, "From a@b Thu Nov 26 19:13:36 2026\n");
	assert_int_equal(
	    mboxrd_from_line(out, sizeof(out), "MAILER-DAEMON", 1772694489), 0);
	assert_string_equal(
	    out, "From MAILER-DAEMON Thu Mar  5 07:08:09 2026\n");
	assert_int_equal(mboxrd_from_line(out, sizeof(out), "x", 0), 0);
	assert_string_equal(out, "From x Thu Jan  1 00:00:00 1970\n");
	assert_int_equal(mboxrd_from_line(tiny, sizeof(tiny), "x", 0), -1);
	if (otz != NULL)
		setenv("TZ", otz, 1);
	else
		unsetenv("TZ");
	tzset();
	free(otz);
}

/* Reference mboxrd quoting, line by line. */
static size_t
ref_quote(const char *in, size_t len, char *out)
{
	size_t i = 0, o = 0;

	while (i < len) {
		size_t e = i, k = i;

		while (e < len && in[e] != '\n')
			e++;
		while (k < e && in[k] == '>')
			k++;
		if (e - k >= 5 && memcmp(in + k, "From ", 5) == 0)
			out[o++] = '>';
		if (e < len)
			e++;
		memcpy(out + o, in + i, e - i);
		o += e - i;
		i = e;
	}
	return o;
}

/* Quote in with the filter, in chunks split at the given offsets. */
static size_t
quote_split(const char *in, size_t len, size_t a, size_t b, char *out)
{
	size_t o = 0, cuts[4] = {0, a, b, len}, i;
	int st = 0;

	for (i = 0; i < 3; i++)
		if (cuts[i + 1] > cuts[i])
			o += mboxrd_quote(
			    &st, in + cuts[i], cuts[i + 1] - cuts[i], out + o);
	o += mboxrd_quote(&st, NULL, 0, out + o);
	assert_int_equal(st, 0);
	return o;
}

static void
test_mboxrd_quote(void **state)
{
	static const char nasty[] =
	    "From a\n>From b\n>>From c\nFrom\nFro\n>>Fro\n>>>\nFrom  x\n"
	    " From d\nxFrom e\n>F\n\n\nFrom \n>>>>From f\nFFrom g\n"
	    ">>From\n>From";
	static const char *const t[][2] = {
	    {"From x\n", ">From x\n"},
	    {">From x\n", ">>From x\n"},
	    {"a\nFrom x", "a\n>From x"},
	    {"From", "From"},
	    {"From\n", "From\n"},
	    {">>Fro", ">>Fro"},
	    {"x From y\n", "x From y\n"},
	    {"FFrom y\n", "FFrom y\n"},
	    {"Fro\nFrom \n", "Fro\n>From \n"},
	};
	size_t len = sizeof(nasty) - 1, a, b, n, rn, i;
	char out[1024], ref[1024], in[1024];
	int st;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		n = quote_split(t[i][0], strlen(t[i][0]), 0, 0, out);
		assert_int_equal(n, strlen(t[i][1]));
		assert_memory_equal(out, t[i][1], n);
	}
	rn = ref_quote(nasty, len, ref);
	/* Every pair of split points (covers every single split too). */
	for (a = 0; a <= len; a++)
		for (b = a; b <= len; b++) {
			n = quote_split(nasty, len, a, b, out);
			assert_int_equal(n, rn);
			assert_memory_equal(out, ref, rn);
		}
	/* One byte at a time, with the 2 * len + 16 output bound. */
	st = 0;
	n = 0;
	for (i = 0; i < len; i++) {
		char o[2 * 1 + 16];
		size_t k = mboxrd_quote(&st, nasty + i, 1, o);

		assert_true(k <= sizeof(o));
		memcpy(in + n, o, k);
		n += k;
	}
	n += mboxrd_quote(&st, NULL, 0, in + n);
	assert_int_equal(n, rn);
	assert_memory_equal(in, ref, rn);
}

/* Check "sec.M<usec>P<pid>Q<n>R<8hex>[h<16hex>].host". */
static void
check_name(const char *name, const char *token)
{
	const char *p = name;
	char pid[32];
	size_t n;

	n = strspn(p, "0123456789");
	assert_true(n > 0);
	p += n;
	assert_int_equal(*p++, '.');
	assert_int_equal(*p++, 'M');
	n = strspn(p, "0123456789");
	assert_true(n > 0 && n <= 6);
	p += n;
	snprintf(pid, sizeof(pid), "P%ldQ", (long)getpid());
	assert_memory_equal(p, pid, strlen(pid));
	p += strlen(pid);
	n = strspn(p, "0123456789");
	assert_true(n > 0);
	p += n;
	assert_int_equal(*p++, 'R');
	assert_int_equal(strspn(p, "0123456789abcdef"), 8);
	p += 8;
	if (token != NULL) {
		assert_int_equal(*p++, 'h');
		assert_memory_equal(p, token, 16);
		p += 16;
	}
	assert_int_equal(*p++, '.');
	assert_true(*p != '\0');
	assert_null(strchr(p, '/'));
	assert_null(strchr(p, ':'));
}

static void
test_maildir_name(void **state)
{
	char a[256], b[256];

	(void)state;
	assert_int_equal(sink_maildir_name(a, sizeof(a), NULL), 0);
	check_name(a, NULL);
	assert_int_equal(
	    sink_maildir_name(b, sizeof(b), "0123456789abcdef"), 0);
	check_name(b, "0123456789abcdef");
	assert_string_not_equal(a, b);
	/* Bad tokens never reach a file name. */
	assert_int_equal(sink_maildir_name(a, sizeof(a), "../../x"), -1);
	assert_int_equal(sink_maildir_name(a, sizeof(a), "0123"), -1);
	assert_int_equal(sink_maildir_name(a, 10, NULL), -1);
}

/* --- Maildir --- */

static void
test_maildir_deliver(void **state)
{
	static const char msg[] = "Received: x\nSubject: \377\200 8-bit\n\n"
				  "a NUL \0 here\nno final newline";
	const size_t len = sizeof(msg) - 1;
	struct pf_err err;
	struct sink *sk;
	char name[256], *buf, *big, path[1024];
	size_t n;
	struct stat st;

	(void)state;
	/* Missing parents are created (mkdir -p), 0700. */
	sk = mk_sink(SINK_MAILDIR, tpath("a/b/Maildir"), &err);
	assert_non_null(sk);
	assert_int_equal(stat(tpath("a/b/Maildir/cur"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(
	    deliver(sk, "u1", "00112233aabbccdd", msg, len, 7, &err), 0);
	assert_int_equal(sink_staged(sk), 1);
	/* Committed is not yet delivered: new/ only after the sync, which
	 * fsyncs the file before linking it. */
	assert_int_equal(count_dir(tpath("a/b/Maildir/tmp")), 1);
	assert_int_equal(count_dir(tpath("a/b/Maildir/new")), 0);
	assert_int_equal(sink_sync(sk, &err), 0);
	assert_int_equal(sink_staged(sk), 0);
	assert_int_equal(count_dir(tpath("a/b/Maildir/tmp")), 0);
	only_file(tpath("a/b/Maildir/new"), name, sizeof(name));
	check_name(name, "00112233aabbccdd");
	snprintf(path, sizeof(path), "%s/%s", tpath("a/b/Maildir/new"), name);
	assert_non_null(strstr(sink_last_where(sk), name));
	buf = slurp(path, &n);
	assert_non_null(buf);
	assert_int_equal(n, len);
	assert_memory_equal(buf, msg, len);
	free(buf);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(sink_sync(sk, &err), 0);
	assert_int_equal(sink_staged(sk), 0);

	/* A message bigger than the 64 KiB buffer, in odd chunks. */
	n = 300000;
	big = malloc(n);
	assert_non_null(big);
	for (size_t i = 0; i < n; i++)
		big[i] = (char)(i * 7 + i / 251);
	assert_int_equal(deliver(sk, NULL, NULL, big, n, 70001, &err), 0);
	assert_int_equal(sink_sync(sk, &err), 0);
	assert_int_equal(count_dir(tpath("a/b/Maildir/new")), 2);
	buf = slurp(sink_last_where(sk), &n);
	assert_non_null(buf);
	assert_int_equal(n, 300000);
	assert_memory_equal(buf, big, n);
	free(buf);
	free(big);
	sink_free(sk);
}

static void
test_maildir_abort(void **state)
{
	struct sink_msg m = {"u", NULL, 3};
	struct pf_err err;
	struct sink *sk;

	(void)state;
	sk = mk_sink(SINK_MAILDIR, tpath("Maildir"), &err);
	assert_non_null(sk);
	assert_int_equal(sink_open(sk, &m, &err), 0);
	assert_int_equal(sink_write(sk, "abc", 3, &err), 0);
	assert_int_equal(count_dir(tpath("Maildir/tmp")), 1);
	sink_abort(sk);
	assert_int_equal(count_dir(tpath("Maildir/tmp")), 0);
	assert_int_equal(count_dir(tpath("Maildir/new")), 0);
	assert_int_equal(sink_staged(sk), 0);
	/* sink_free also aborts an open message. */
	assert_int_equal(sink_open(sk, &m, &err), 0);
	assert_int_equal(sink_write(sk, "abc", 3, &err), 0);
	sink_free(sk);
	assert_int_equal(count_dir(tpath("Maildir/tmp")), 0);
}

static void
test_maildir_concurrent(void **state)
{
	struct sink_msg m = {NULL, NULL, 1};
	struct pf_err err;
	struct sink *a, *b;
	pid_t pid;
	int i, status;

	(void)state;
	a = mk_sink(SINK_MAILDIR, tpath("Maildir"), &err);
	b = mk_sink(SINK_MAILDIR, tpath("Maildir"), &err);
	assert_non_null(a);
	assert_non_null(b);
	/* Interleaved in one process. */
	for (i = 0; i < 20; i++) {
		assert_int_equal(sink_open(a, &m, &err), 0);
		assert_int_equal(sink_open(b, &m, &err), 0);
		assert_int_equal(sink_write(a, "a", 1, &err), 0);
		assert_int_equal(sink_write(b, "b", 1, &err), 0);
		assert_int_equal(sink_commit(b, &err), 0);
		assert_int_equal(sink_commit(a, &err), 0);
	}
	assert_int_equal(sink_sync(a, &err), 0);
	assert_int_equal(sink_sync(b, &err), 0);
	assert_int_equal(count_dir(tpath("Maildir/new")), 40);
	/* Two processes at once (same counter values, other pid). */
	pid = fork();
	assert_true(pid >= 0);
	for (i = 0; i < 50; i++)
		if (deliver(pid == 0 ? b : a, NULL, NULL, "x", 1, 1, &err) ==
			-1 &&
		    pid == 0)
			_exit(1);
	if (pid == 0)
		_exit(sink_sync(b, &err) == 0 ? 0 : 1);
	assert_int_equal(sink_sync(a, &err), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(count_dir(tpath("Maildir/new")), 140);
	assert_int_equal(count_dir(tpath("Maildir/tmp")), 0);
	assert_int_equal(sink_sync(a, &err), 0);
	sink_free(a);
	sink_free(b);
}

static void
test_maildir_has_token(void **state)
{
	const char *t1 = "0123456789abcdef", *t2 = "fedcba9876543210";
	char name[256], from[1024], to[1024];
	struct pf_err err;
	struct sink *a, *b, *c;

	(void)state;
	a = mk_sink(SINK_MAILDIR, tpath("Maildir"), &err);
	assert_non_null(a);
	assert_false(sink_has_token(a, t1)); /* scans an empty Maildir */
	assert_int_equal(deliver(a, "u1", t1, "m\n", 2, 2, &err), 0);
	assert_false(sink_has_token(a, t1)); /* committed, not yet synced */
	assert_int_equal(sink_sync(a, &err), 0);
	assert_true(sink_has_token(a, t1)); /* added once delivered */
	assert_false(sink_has_token(a, t2));
	assert_false(sink_has_token(a, "not-a-token"));
	assert_int_equal(sink_sync(a, &err), 0);

	b = mk_sink(SINK_MAILDIR, tpath("Maildir"), &err);
	assert_non_null(b);
	assert_true(sink_has_token(b, t1)); /* found in new/ */
	assert_true(sink_has_token(b, "0123456789ABCDEF"));
	assert_false(sink_has_token(b, t2));
	sink_free(b);

	/* A MUA moved it to cur/ with flags. */
	only_file(tpath("Maildir/new"), name, sizeof(name));
	snprintf(from, sizeof(from), "%s/%s", tpath("Maildir/new"), name);
	snprintf(to, sizeof(to), "%s/%s:2,S", tpath("Maildir/cur"), name);
	assert_int_equal(rename(from, to), 0);
	/* Foreign names must not confuse the scan. */
	spew(tpath("Maildir/cur/1234.M1P2.host,S=99:2,"), "", 0);
	spew(tpath("Maildir/cur/junk"), "", 0);
	spew(tpath("Maildir/cur/1.hfedcba9876543210.x"), "", 0);
	c = mk_sink(SINK_MAILDIR, tpath("Maildir"), &err);
	assert_non_null(c);
	assert_true(sink_has_token(c, t1));
	assert_true(sink_has_token(c, t2)); /* the bare 'h' + 16 hex name */
	assert_false(sink_has_token(c, "1111111111111111"));
	sink_free(c);
	sink_free(a);

	/* Other sinks: always false. */
	a = mk_sink(SINK_MBOX, tpath("mbox"), &err);
	assert_non_null(a);
	assert_false(sink_has_token(a, t1));
	sink_free(a);
}

static void
test_maildir_clean_tmp(void **state)
{
	struct timespec old[2];
	struct pf_err err;
	struct sink *sk;

	(void)state;
	sk = mk_sink(SINK_MAILDIR, tpath("Maildir"), &err);
	assert_non_null(sk);
	sink_free(sk);
	spew(tpath("Maildir/tmp/old"), "x", 1);
	spew(tpath("Maildir/tmp/fresh"), "x", 1);
	old[0].tv_sec = old[1].tv_sec = time(NULL) - 37 * 3600;
	old[0].tv_nsec = old[1].tv_nsec = 0;
	assert_int_equal(
	    utimensat(AT_FDCWD, tpath("Maildir/tmp/old"), old, 0), 0);
	/* Opening the Maildir removes what is older than 36 hours only. */
	sk = mk_sink(SINK_MAILDIR, tpath("Maildir"), &err);
	assert_non_null(sk);
	assert_int_equal(access(tpath("Maildir/tmp/old"), F_OK), -1);
	assert_int_equal(access(tpath("Maildir/tmp/fresh"), F_OK), 0);
	sink_free(sk);
}

static void
test_maildir_refused(void **state)
{
	struct pf_err err;
	struct sink *sk;

	(void)state;
	/* new/ is a symlink. */
	assert_int_equal(mkdir(tpath("M1"), 0700), 0);
	assert_int_equal(mkdir(tpath("M1/tmp"), 0700), 0);
	assert_int_equal(mkdir(tpath("M1/cur"), 0700), 0);
	assert_int_equal(mkdir(tpath("elsewhere"), 0700), 0);
	assert_int_equal(symlink(tpath("elsewhere"), tpath("M1/new")), 0);
	sk = mk_sink(SINK_MAILDIR, tpath("M1"), &err);
	assert_null(sk);
	assert_int_equal(err.code, PF_ECANTCREAT);
	assert_non_null(strstr(err.msg, "cannot use Maildir '"));
	assert_non_null(strstr(err.msg, "symbolic link"));
	/* The Maildir itself is a symlink. */
	assert_int_equal(symlink(tpath("elsewhere"), tpath("M2")), 0);
	assert_null(mk_sink(SINK_MAILDIR, tpath("M2"), &err));
	assert_int_equal(err.code, PF_ECANTCREAT);
	/* cur is a regular file. */
	assert_int_equal(mkdir(tpath("M3"), 0700), 0);
	spew(tpath("M3/cur"), "x", 1);
	assert_null(mk_sink(SINK_MAILDIR, tpath("M3"), &err));
	assert_int_equal(err.code, PF_ECANTCREAT);
	assert_non_null(strstr(err.msg, "not a directory"));
	/* tmp/ not writable (root may write anyway). */
	if (geteuid() != 0) {
		assert_int_equal(mkdir(tpath("M4"), 0700), 0);
		assert_int_equal(mkdir(tpath("M4/tmp"), 0500), 0);
		assert_null(mk_sink(SINK_MAILDIR, tpath("M4"), &err));
		assert_int_equal(err.code, PF_ECANTCREAT);
		assert_non_null(strstr(err.msg, "Permission denied"));
	}
}

/* --- mbox --- */

struct parsed {
	char *from[16];
	char *body[16];
	size_t blen[16];
	int n;
};

/*
 * A small mboxrd reader: messages start at "From " lines at line starts,
 * each ends with the blank separator line, and one '>' is removed from
 * ^>+From lines.
 */
static void
parse_mbox(const char *buf, size_t len, struct parsed *p)
{
	size_t i = 0;

	memset(p, 0, sizeof(*p));
	while (i < len) {
		size_t e = i, o = 0;
		char *body;

		assert_true(len - i >= 5 && memcmp(buf + i, "From ", 5) == 0);
		while (e < len && buf[e] != '\n')
			e++;
		p->from[p->n] = strndup(buf + i, e - i);
		i = e + 1;
		body = malloc(len + 1);
		assert_non_null(body);
		while (i < len &&
		    !(len - i >= 5 && memcmp(buf + i, "From ", 5) == 0)) {
			size_t k = i;

			e = i;
			while (e < len && buf[e] != '\n')
				e++;
			if (e < len)
				e++;
			while (k < e && buf[k] == '>')
				k++;
			if (k > i && e - k >= 5 &&
			    memcmp(buf + k, "From ", 5) == 0)
				i++; /* unquote one level */
			memcpy(body + o, buf + i, e - i);
			o += e - i;
			i = e;
		}
		/* Drop the blank separator line. */
		assert_true(o >= 1 && body[o - 1] == '\n');
		o--;
		p->body[p->n] = body;
		p->blen[p->n] = o;
		p->n++;
	}
}

static void
parsed_free(struct parsed *p)
{
	int i;

	for (i = 0; i < p->n; i++) {
		free(p->from[i]);
		free(p->body[i]);
	}
}

static const char *const mbox_msgs[] = {
    "Return-Path: <alice@example.org>\nSubject: one\n\nFrom here\n"
    ">From there\n>>From everywhere\n",
    "Subject: two\n\nno final newline, NUL-free, 8-bit \351\n"
    "From the end",
    "Return-Path: <>\n\n\n\nFrom \n>\n",
    "Subject: four\n\n>>>>From x\nFrom",
};

/* The bytes a reader gets back: the message plus a final "\n". */
static void
expect_body(const struct parsed *p, int i, const char *msg)
{
	size_t n = strlen(msg);
	int add = n > 0 && msg[n - 1] != '\n';

	assert_int_equal(p->blen[i], n + (size_t)add);
	assert_memory_equal(p->body[i], msg, n);
	if (add)
		assert_int_equal(p->body[i][n], '\n');
}

static void
test_mbox_two_batches(void **state)
{
	struct pf_err err;
	struct parsed p;
	struct sink *sk;
	struct stat st;
	char *buf;
	size_t n;

	(void)state;
	sk = mk_sink(SINK_MBOX, tpath("mbox"), &err);
	assert_non_null(sk);
	assert_int_equal(stat(tpath("mbox"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(deliver(sk, "u1", NULL, mbox_msgs[0],
			     strlen(mbox_msgs[0]), 3, &err),
	    0);
	assert_int_equal(deliver(sk, "u2", NULL, mbox_msgs[1],
			     strlen(mbox_msgs[1]), 1000, &err),
	    0);
	assert_int_equal(sink_staged(sk), 2);
	/* Nothing reaches the mbox before the sync. */
	assert_int_equal(stat(tpath("mbox"), &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(sink_sync(sk, &err), 0);
	assert_int_equal(sink_staged(sk), 0);
	sink_synced_recorded(sk);
	assert_int_equal(deliver(sk, "u3", NULL, mbox_msgs[2],
			     strlen(mbox_msgs[2]), 2, &err),
	    0);
	assert_int_equal(deliver(sk, "u4", NULL, mbox_msgs[3],
			     strlen(mbox_msgs[3]), 5, &err),
	    0);
	assert_int_equal(sink_sync(sk, &err), 0);
	sink_synced_recorded(sk);
	sink_free(sk);

	buf = slurp(tpath("mbox"), &n);
	assert_non_null(buf);
	assert_true(n >= 2 && buf[n - 1] == '\n' && buf[n - 2] == '\n');
	parse_mbox(buf, n, &p);
	assert_int_equal(p.n, 4);
	assert_true(strncmp(p.from[0], "From alice@example.org ", 23) == 0);
	assert_true(strncmp(p.from[1], "From MAILER-DAEMON ", 19) == 0);
	assert_true(strncmp(p.from[2], "From MAILER-DAEMON ", 19) == 0);
	expect_body(&p, 0, mbox_msgs[0]);
	expect_body(&p, 1, mbox_msgs[1]);
	expect_body(&p, 2, mbox_msgs[2]);
	expect_body(&p, 3, mbox_msgs[3]);
	/* And the quoting really happened in the file. */
	assert_non_null(strstr(buf, "\n>From here\n>>From there\n"));
	parsed_free(&p);
	free(buf);
}

static void
test_mbox_repair_tail(void **state)
{
	static const char *const old[][2] = {
	    {"From x Thu Jan  1 00:00:00 1970\n\nbody", "\n\n"},
	    {"From x Thu Jan  1 00:00:00 1970\n\nbody\n", "\n"},
	    {"From x Thu Jan  1 00:00:00 1970\n\nbody\n\n", ""},
	    {"x", "\n\n"},
	    {"\n", ""},
	};
	struct pf_err err;
	struct sink *sk;
	size_t i, n, ol;
	char *buf;

	(void)state;
	for (i = 0; i < sizeof(old) / sizeof(old[0]); i++) {
		ol = strlen(old[i][0]);
		spew(tpath("mbox"), old[i][0], ol);
		sk = mk_sink(SINK_MBOX, tpath("mbox"), &err);
		assert_non_null(sk);
		assert_int_equal(
		    deliver(sk, "u", NULL, "S: s\n\nb\n", 8, 8, &err), 0);
		assert_int_equal(sink_sync(sk, &err), 0);
		sink_synced_recorded(sk);
		sink_free(sk);
		buf = slurp(tpath("mbox"), &n);
		assert_memory_equal(buf, old[i][0], ol);
		assert_memory_equal(buf + ol, old[i][1], strlen(old[i][1]));
		assert_memory_equal(buf + ol + strlen(old[i][1]), "From ", 5);
		free(buf);
	}
}

static void
test_mbox_refused(void **state)
{
	struct pf_err err;

	(void)state;
	spew(tpath("target"), "", 0);
	assert_int_equal(symlink(tpath("target"), tpath("link")), 0);
	assert_null(mk_sink(SINK_MBOX, tpath("link"), &err));
	assert_int_equal(err.code, PF_ECANTCREAT);
	assert_non_null(strstr(err.msg, "symbolic link"));
	/* A dangling symlink is not "missing": never created through. */
	assert_int_equal(symlink(tpath("nowhere"), tpath("dangling")), 0);
	assert_null(mk_sink(SINK_MBOX, tpath("dangling"), &err));
	assert_int_equal(err.code, PF_ECANTCREAT);
	assert_int_equal(access(tpath("nowhere"), F_OK), -1);
	assert_int_equal(mkfifo(tpath("fifo"), 0600), 0);
	assert_null(mk_sink(SINK_MBOX, tpath("fifo"), &err));
	assert_int_equal(err.code, PF_ECANTCREAT);
	assert_int_equal(mkdir(tpath("dir"), 0700), 0);
	assert_null(mk_sink(SINK_MBOX, tpath("dir"), &err));
	assert_int_equal(err.code, PF_ECANTCREAT);
	assert_null(mk_sink(SINK_MBOX, "/dev/null", &err));
	assert_int_equal(err.code, PF_ECANTCREAT);
	assert_int_equal(link(tpath("target"), tpath("hardlink")), 0);
	assert_null(mk_sink(SINK_MBOX, tpath("target"), &err));
	assert_int_equal(err.code, PF_ECANTCREAT);
}

/* Fork a child holding an fcntl lock on path for hold_ms, then exit. */
static pid_t
hold_fcntl(const char *path, int hold_ms)
{
	int p[2], fd;
	pid_t pid;
	char c;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct flock fl;

		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		fd = open(path, O_RDWR);
		if (fd == -1 || fcntl(fd, F_SETLK, &fl) == -1)
			_exit(1);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		usleep((useconds_t)hold_ms * 1000);
		_exit(0);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	return pid;
}

static struct sink *
staged_mbox(struct pf_err *err)
{
	struct sink *sk = mk_sink(SINK_MBOX, tpath("mbox"), err);

	assert_non_null(sk);
	assert_int_equal(deliver(sk, "u1", NULL, "S: x\n\nhi\n", 9, 9, err), 0);
	return sk;
}

static void
test_mbox_fcntl_busy(void **state)
{
	struct pf_err err;
	struct sink *sk;
	struct stat st;
	double t0, dt;
	pid_t pid;
	int status;

	(void)state;
	sk = staged_mbox(&err);
	pid = hold_fcntl(tpath("mbox"), 10000);
	t0 = now_s();
	assert_int_equal(sink_sync(sk, &err), -1);
	dt = now_s() - t0;
	assert_int_equal(err.code, PF_ETEMP);
	assert_non_null(strstr(err.msg, "locked by another process"));
	assert_true(dt >= 0.9 && dt < 3.0);
	assert_int_equal(stat(tpath("mbox"), &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(access(tpath("mbox.lock"), F_OK), -1);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	sink_free(sk);
}

static void
test_mbox_lock_released(void **state)
{
	struct sink_params p;
	struct pf_err err;
	struct sink *sk;
	struct stat st;
	double t0, dt;
	pid_t pid;
	int status;

	(void)state;
	memset(&p, 0, sizeof(p));
	p.kind = SINK_MBOX;
	p.path = tpath("mbox");
	p.spool_dir = tdir;
	p.account_id = "a@b:110";
	p.lock_wait = 10;
	sk = sink_new(&p, &err);
	assert_non_null(sk);
	assert_int_equal(deliver(sk, "u", NULL, "x\n", 2, 2, &err), 0);
	pid = hold_fcntl(tpath("mbox"), 600);
	t0 = now_s();
	assert_int_equal(sink_sync(sk, &err), 0);
	dt = now_s() - t0;
	assert_true(dt >= 0.4 && dt < 5.0);
	assert_int_equal(stat(tpath("mbox"), &st), 0);
	assert_true(st.st_size > 0);
	waitpid(pid, &status, 0);
	sink_free(sk);
}

static void
write_dotlock(long pid)
{
	char host[256], line[300];

	assert_int_equal(gethostname(host, sizeof(host)), 0);
	snprintf(line, sizeof(line), "%ld %s\n", pid, host);
	spew(tpath("mbox.lock"), line, strlen(line));
}

static void
test_mbox_dotlock_fresh(void **state)
{
	struct pf_err err;
	struct sink *sk;
	struct stat st;
	char *buf;
	size_t n;

	(void)state;
	sk = staged_mbox(&err);
	write_dotlock((long)getppid()); /* alive, this host */
	assert_int_equal(sink_sync(sk, &err), -1);
	assert_int_equal(err.code, PF_ETEMP);
	assert_non_null(strstr(err.msg, "cannot lock mbox '"));
	/* The other process's lock is untouched, the mbox too. */
	buf = slurp(tpath("mbox.lock"), &n);
	assert_non_null(buf);
	free(buf);
	assert_int_equal(stat(tpath("mbox"), &st), 0);
	assert_int_equal(st.st_size, 0);
	sink_free(sk);
}

static void
test_mbox_dotlock_stale(void **state)
{
	struct timespec ts[2];
	struct pf_err err;
	struct sink *sk;
	struct stat st;
	pid_t pid;
	int status;

	(void)state;
	/* A dead pid on this host. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	waitpid(pid, &status, 0);
	sk = staged_mbox(&err);
	write_dotlock((long)pid);
	assert_int_equal(sink_sync(sk, &err), 0);
	assert_int_equal(access(tpath("mbox.lock"), F_OK), -1);
	assert_int_equal(stat(tpath("mbox"), &st), 0);
	assert_true(st.st_size > 0);
	sink_synced_recorded(sk);

	/* A live pid, but 20 minutes old. */
	assert_int_equal(deliver(sk, "u2", NULL, "y\n", 2, 2, &err), 0);
	write_dotlock((long)getppid());
	ts[0].tv_sec = ts[1].tv_sec = time(NULL) - 1200;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	assert_int_equal(utimensat(AT_FDCWD, tpath("mbox.lock"), ts, 0), 0);
	assert_int_equal(sink_sync(sk, &err), 0);
	assert_int_equal(access(tpath("mbox.lock"), F_OK), -1);
	sink_free(sk);
}

/* Set both times of path to `ago` seconds in the past. */
static void
age_file(const char *path, time_t ago)
{
	struct timespec ts[2];

	ts[0].tv_sec = ts[1].tv_sec = time(NULL) - ago;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

/* docs/faults.md #80: an empty dotlock (a power cut took its content)
 * is stale once it is a few seconds old, not after 10 minutes. */
static void
test_mbox_dotlock_empty(void **state)
{
	char batch[200], *f;
	struct pf_err err;
	struct sink *sk;
	struct stat st;

	(void)state;
	sk = staged_mbox(&err);
	/* Just made: its owner may be about to write it; held. */
	spew(tpath("mbox.lock"), "", 0);
	assert_int_equal(sink_sync(sk, &err), -1);
	assert_int_equal(err.code, PF_ETEMP);
	assert_int_equal(access(tpath("mbox.lock"), F_OK), 0);
	/* The failed sync leaves no batch file behind. */
	f = state_account_file("user@example.org:995");
	snprintf(batch, sizeof(batch), "%s.mbox-batch", f);
	free(f);
	assert_int_equal(access(tpath(batch), F_OK), -1);
	/* Ten seconds old and still empty: stale. */
	assert_int_equal(deliver(sk, "u2", NULL, "y\n", 2, 2, &err), 0);
	age_file(tpath("mbox.lock"), 10);
	assert_int_equal(sink_sync(sk, &err), 0);
	assert_int_equal(access(tpath("mbox.lock"), F_OK), -1);
	assert_int_equal(stat(tpath("mbox"), &st), 0);
	assert_true(st.st_size > 0);
	sink_free(sk);
}

/* The pending-append record of mk_sink()'s account. */
static char *
record_file(void)
{
	char *f = state_account_file("user@example.org:995"), *p;
	size_t n = strlen(tdir) + strlen(f) + 32;

	p = malloc(n);
	assert_non_null(p);
	snprintf(p, n, "%s/%s.mbox-pending", tdir, f);
	free(f);
	return p;
}

struct confirmed {
	char uids[8][64];
	int n;
	int fail;
};

static int
confirm_cb(void *ctx, const char *uid, struct pf_err *err)
{
	struct confirmed *c = ctx;

	if (c->fail)
		return pf_err_set(err, PF_EIO, "confirm failed");
	snprintf(c->uids[c->n++], sizeof(c->uids[0]), "%s", uid);
	return 0;
}

/* Resolve mk_sink()'s account's record, as the fetch does first. */
static int
recover(struct confirmed *c, struct pf_err *err)
{
	return pending_recover(
	    tdir, "user@example.org:995", tpath("mbox"), 1, confirm_cb, c, err);
}

static const char pre_mbox[] = "From old Thu Jan  1 00:00:00 1970\n\nold\n";

/* Sync two messages into an mbox holding pre_mbox, keep the record. */
static void
synced_with_record(char **rec)
{
	struct pf_err err;
	struct sink *sk;

	spew(tpath("mbox"), pre_mbox, strlen(pre_mbox));
	sk = mk_sink(SINK_MBOX, tpath("mbox"), &err);
	assert_non_null(sk);
	assert_int_equal(deliver(sk, "uid one%", NULL, "a\n", 2, 2, &err), 0);
	assert_int_equal(deliver(sk, NULL, NULL, "nouid\n", 6, 6, &err), 0);
	assert_int_equal(deliver(sk, "u2", NULL, "b", 1, 1, &err), 0);
	assert_int_equal(sink_sync(sk, &err), 0);
	*rec = record_file();
	assert_int_equal(access(*rec, F_OK), 0);
	sink_free(sk); /* killed before the state was recorded */
}

static void
test_mbox_recover_complete(void **state)
{
	struct confirmed c;
	struct pf_err err;
	struct sink *sk;
	char *rec, *before, *after;
	size_t nb, na;

	(void)state;
	memset(&c, 0, sizeof(c));
	synced_with_record(&rec);
	before = slurp(tpath("mbox"), &nb);
	sk = mk_sink(SINK_MBOX, tpath("mbox"), &err);
	assert_non_null(sk);
	/* A delivery before recovery would be refused. */
	assert_int_equal(deliver(sk, "u9", NULL, "z\n", 2, 2, &err), 0);
	assert_int_equal(sink_sync(sk, &err), -1);
	assert_int_equal(err.code, PF_EIO);
	/* A failing confirm keeps the record. */
	c.fail = 1;
	assert_int_equal(recover(&c, &err), -1);
	assert_int_equal(access(rec, F_OK), 0);
	c.fail = 0;
	c.n = 0;
	assert_int_equal(recover(&c, &err), 1);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.uids[0], "uid one%");
	assert_string_equal(c.uids[1], "u2");
	/* Kept until the caller has recorded the confirmed UIDs. */
	assert_int_equal(access(rec, F_OK), 0);
	after = slurp(tpath("mbox"), &na);
	assert_int_equal(na, nb);
	assert_memory_equal(after, before, nb);
	/* A crash before that: the next recovery confirms them again. */
	c.n = 0;
	assert_int_equal(recover(&c, &err), 1);
	assert_int_equal(c.n, 2);
	pending_forget(tdir, "user@example.org:995");
	assert_int_equal(access(rec, F_OK), -1);
	/* Nothing left: a further recovery is a no-op. */
	c.n = 0;
	assert_int_equal(recover(&c, &err), 0);
	assert_int_equal(c.n, 0);
	/* And deliveries go on. */
	assert_int_equal(deliver(sk, "u9", NULL, "z\n", 2, 2, &err), 0);
	assert_int_equal(sink_sync(sk, &err), 0);
	sink_synced_recorded(sk);
	sink_free(sk);
	free(before);
	free(after);
	free(rec);
}

static void
test_mbox_recover_partial(void **state)
{
	struct confirmed c;
	struct pf_err err;
	struct sink *sk;
	struct stat st;
	char *rec, *buf;
	size_t n;

	(void)state;
	memset(&c, 0, sizeof(c));
	synced_with_record(&rec);
	/* Simulate a kill in the middle of the append. */
	assert_int_equal(stat(tpath("mbox"), &st), 0);
	assert_int_equal(
	    truncate(tpath("mbox"), (off_t)strlen(pre_mbox) + 7), 0);
	sk = mk_sink(SINK_MBOX, tpath("mbox"), &err);
	assert_non_null(sk);
	assert_int_equal(recover(&c, &err), 0);
	assert_int_equal(c.n, 0);
	assert_int_equal(access(rec, F_OK), -1);
	buf = slurp(tpath("mbox"), &n);
	assert_int_equal(n, strlen(pre_mbox));
	assert_memory_equal(buf, pre_mbox, n);
	free(buf);
	/* Deliveries work again afterwards. */
	assert_int_equal(deliver(sk, "u9", NULL, "z\n", 2, 2, &err), 0);
	assert_int_equal(sink_sync(sk, &err), 0);
	sink_synced_recorded(sk);
	assert_int_equal(access(rec, F_OK), -1);
	sink_free(sk);
	free(rec);
}

static const char foreign[] = "From other Thu Jan  1 00:00:00 1970\n"
			      "Subject: not ours\n\nforeign\n\n";

/*
 * docs/faults.md #76: after a killed append, another program appends its
 * own message (and deletes it on its server). Recovery cuts nothing that
 * is not proven its own: the partial append and that message stay, and
 * the record goes (its messages are fetched again).
 */
static void
test_mbox_recover_foreign_after(void **state)
{
	size_t cuts[2] = {7, 0}, n, i, at;
	struct confirmed c;
	struct pf_err err;
	char *rec, *buf, *ours;
	FILE *fp;

	(void)state;
	for (i = 0; i < 2; i++) {
		memset(&c, 0, sizeof(c));
		synced_with_record(&rec);
		ours = slurp(tpath("mbox"), &n);
		at = strlen(pre_mbox) + cuts[i];
		assert_int_equal(truncate(tpath("mbox"), (off_t)at), 0);
		fp = fopen(tpath("mbox"), "ab");
		assert_non_null(fp);
		assert_int_equal(
		    fwrite(foreign, 1, strlen(foreign), fp), strlen(foreign));
		assert_int_equal(fclose(fp), 0);
		assert_int_equal(recover(&c, &err), 0);
		assert_int_equal(c.n, 0);
		assert_int_equal(access(rec, F_OK), -1);
		buf = slurp(tpath("mbox"), &n);
		assert_int_equal(n, at + strlen(foreign));
		assert_memory_equal(buf, ours, at);
		assert_memory_equal(buf + at, foreign, strlen(foreign));
		free(buf);
		free(ours);
		free(rec);
		assert_int_equal(unlink(tpath("mbox")), 0);
	}
}

/* A page of our append that a power cut lost comes back as NUL bytes:
 * still ours, so the partial append is cut back. */
static void
test_mbox_recover_lost_page(void **state)
{
	struct confirmed c;
	struct pf_err err;
	struct sink *sk;
	char *big, *rec, *buf;
	size_t n, bn = 12000;
	int fd;

	(void)state;
	memset(&c, 0, sizeof(c));
	big = malloc(bn);
	assert_non_null(big);
	for (n = 0; n < bn; n++)
		big[n] = n % 70 == 69 ? '\n' : 'x';
	spew(tpath("mbox"), pre_mbox, strlen(pre_mbox));
	sk = mk_sink(SINK_MBOX, tpath("mbox"), &err);
	assert_non_null(sk);
	assert_int_equal(deliver(sk, "u1", NULL, big, bn, bn, &err), 0);
	assert_int_equal(sink_sync(sk, &err), 0);
	sink_free(sk);
	rec = record_file();
	memset(big, 0, 4096);
	fd = open(tpath("mbox"), O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, big, 4096, 4096), 4096);
	assert_int_equal(ftruncate(fd, 8192 + 100), 0);
	close(fd);
	assert_int_equal(recover(&c, &err), 0);
	assert_int_equal(access(rec, F_OK), -1);
	buf = slurp(tpath("mbox"), &n);
	assert_int_equal(n, strlen(pre_mbox));
	free(buf);
	free(big);
	free(rec);
}

static void
test_mbox_recover_changed(void **state)
{
	struct confirmed c;
	struct pf_err err;
	struct sink *sk;
	char *rec;

	(void)state;
	memset(&c, 0, sizeof(c));
	synced_with_record(&rec);
	/* Someone cut the mbox below where our append started. */
	assert_int_equal(truncate(tpath("mbox"), 5), 0);
	sk = mk_sink(SINK_MBOX, tpath("mbox"), &err);
	assert_non_null(sk);
	assert_int_equal(recover(&c, &err), -1);
	assert_int_equal(err.code, PF_EIO);
	assert_non_null(strstr(err.msg, "check it by hand"));
	assert_int_equal(access(rec, F_OK), 0);
	assert_int_equal(c.n, 0);
	sink_free(sk);
	/* A corrupt record is an error too, never ignored. */
	spew(rec, "garbage\n", 8);
	sk = mk_sink(SINK_MBOX, tpath("mbox"), &err);
	assert_non_null(sk);
	assert_int_equal(recover(&c, &err), -1);
	assert_int_equal(err.code, PF_EIO);
	sink_free(sk);
	free(rec);
}

/* docs/faults.md #77: a record naming any file but the configured mbox
 * is never acted on: that file is not cut, the record stays. */
static void
test_mbox_recover_other_path(void **state)
{
	struct confirmed c;
	struct pf_err err;
	char *rec, *buf;
	size_t n;
	int i;

	(void)state;
	memset(&c, 0, sizeof(c));
	/* The record names tpath("mbox"), left partial: a run configured
	 * for it would cut it back. */
	synced_with_record(&rec);
	assert_int_equal(
	    truncate(tpath("mbox"), (off_t)strlen(pre_mbox) + 7), 0);
	spew(tpath("other"), "", 0);
	for (i = 0; i < 2; i++) {
		assert_int_equal(pending_recover(tdir, "user@example.org:995",
				     i == 0 ? tpath("other") : NULL, 1,
				     confirm_cb, &c, &err),
		    -1);
		assert_int_equal(err.code, PF_EIO);
		assert_non_null(strstr(err.msg, "not this account's mbox"));
		assert_int_equal(access(rec, F_OK), 0);
		buf = slurp(tpath("mbox"), &n);
		assert_int_equal(n, strlen(pre_mbox) + 7);
		free(buf);
	}
	assert_int_equal(c.n, 0);
	/* The configured mbox: acted on. */
	assert_int_equal(recover(&c, &err), 0);
	assert_int_equal(access(rec, F_OK), -1);
	free(rec);
}

/* docs/faults.md #78: root does not append to another user's mbox
 * unless the account says allow_foreign_mbox. */
static void
test_mbox_root_foreign_refused(void **state)
{
	struct sink_params p;
	struct pf_err err;
	struct sink *sk;
	struct stat st;

	(void)state;
	if (geteuid() != 0)
		skip();
	spew(tpath("mbox"), pre_mbox, strlen(pre_mbox));
	assert_int_equal(chown(tpath("mbox"), 4242, 4242), 0);
	sk = mk_sink(SINK_MBOX, tpath("mbox"), &err);
	assert_null(sk);
	assert_int_equal(err.code, PF_ECANTCREAT);
	assert_non_null(strstr(err.msg, "belongs to uid 4242"));
	assert_non_null(strstr(err.msg, "allow_foreign_mbox on"));
	/* Checked again under the lock: a file swapped in after the
	 * start is refused too. */
	assert_int_equal(chown(tpath("mbox"), 0, 0), 0);
	sk = staged_mbox(&err);
	assert_int_equal(chown(tpath("mbox"), 4242, 4242), 0);
	assert_int_equal(sink_sync(sk, &err), -1);
	assert_int_equal(err.code, PF_ECANTCREAT);
	sink_free(sk);
	assert_int_equal(stat(tpath("mbox"), &st), 0);
	assert_int_equal(st.st_size, strlen(pre_mbox));
	/* Allowed by the account: delivered. */
	memset(&p, 0, sizeof(p));
	p.kind = SINK_MBOX;
	p.path = tpath("mbox");
	p.spool_dir = tdir;
	p.account_id = "user@example.org:995";
	p.lock_wait = 1;
	p.allow_foreign_mbox = true;
	sk = sink_new(&p, &err);
	assert_non_null(sk);
	assert_int_equal(deliver(sk, "u1", NULL, "x\n", 2, 2, &err), 0);
	assert_int_equal(sink_sync(sk, &err), 0);
	sink_synced_recorded(sk);
	sink_free(sk);
	assert_int_equal(stat(tpath("mbox"), &st), 0);
	assert_true(st.st_size > (off_t)strlen(pre_mbox));
	assert_int_equal(st.st_uid, 4242);
}

static void
test_mbox_synced_recorded(void **state)
{
	struct pf_err err;
	struct sink *sk;
	char *rec = record_file();

	(void)state;
	sk = staged_mbox(&err);
	assert_int_equal(sink_sync(sk, &err), 0);
	assert_int_equal(access(rec, F_OK), 0);
	sink_synced_recorded(sk);
	assert_int_equal(access(rec, F_OK), -1);
	sink_free(sk);
	free(rec);
}

static void
test_mbox_append_fails(void **state)
{
	struct rlimit orl, rl;
	struct pf_err err;
	struct sink *sk;
	char *old, *buf, *msg, *rec;
	size_t n, i, on = 100000, mn = 20000;
	int r;

	(void)state;
	old = malloc(on);
	msg = malloc(mn);
	assert_non_null(old);
	assert_non_null(msg);
	for (i = 0; i < on; i++)
		old[i] = (char)('a' + i % 26);
	old[on - 1] = '\n';
	old[on - 2] = '\n';
	memcpy(old, "From x Thu Jan  1 00:00:00 1970\n", 32);
	for (i = 0; i < mn; i++)
		msg[i] = i % 80 == 79 ? '\n' : 'm';
	spew(tpath("mbox"), old, on);
	sk = mk_sink(SINK_MBOX, tpath("mbox"), &err);
	assert_non_null(sk);
	assert_int_equal(deliver(sk, "u1", NULL, msg, mn, 4096, &err), 0);
	/* The file may grow by 1000 bytes only: EFBIG mid-append. */
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &orl), 0);
	rl = orl;
	rl.rlim_cur = on + 1000;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
	r = sink_sync(sk, &err);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &orl), 0);
	signal(SIGXFSZ, SIG_DFL);
	assert_int_equal(r, -1);
	assert_int_equal(err.code, PF_EIO);
	assert_non_null(strstr(err.msg, "File too large"));
	buf = slurp(tpath("mbox"), &n);
	assert_int_equal(n, on);
	assert_memory_equal(buf, old, on);
	rec = record_file();
	assert_int_equal(access(rec, F_OK), -1);
	assert_int_equal(access(tpath("mbox.lock"), F_OK), -1);
	assert_int_equal(sink_staged(sk), 0);
	free(rec);
	free(buf);
	free(old);
	free(msg);
	sink_free(sk);
}

/* --- MDA --- */

static struct sink *
mk_mda(const char *cmd, int timeout, struct pf_err *err)
{
	struct sink_params p;

	memset(&p, 0, sizeof(p));
	p.kind = SINK_MDA;
	p.path = cmd;
	p.spool_dir = tdir;
	p.account_id = "user@example.org:995";
	p.mda_timeout = timeout;
	return sink_new(&p, err);
}

/* Run cmd on msg; returns what sink_commit returned. */
static int
mda_run(const char *cmd, int timeout, const char *msg, size_t len,
    struct pf_err *err)
{
	struct sink *sk = mk_mda(cmd, timeout, err);
	int r;

	assert_non_null(sk);
	r = deliver(sk, "u", NULL, msg, len, 4096, err);
	if (r == 0) {
		assert_string_equal(sink_last_where(sk), "mda");
		assert_int_equal(sink_sync(sk, err), 0);
	}
	sink_free(sk);
	return r;
}

static void
test_mda_deliver(void **state)
{
	static const char msg[] = "Return-Path: <s@x>\n\nNUL \0 8bit \377"
				  "\nFrom x\nno newline";
	char cmd[1200], *buf, **words;
	struct pf_err err;
	size_t n;

	(void)state;
	snprintf(cmd, sizeof(cmd), "cat > '%s'", tpath("out"));
	assert_int_equal(mda_run(cmd, 10, msg, sizeof(msg) - 1, &err), 0);
	buf = slurp(tpath("out"), &n);
	assert_int_equal(n, sizeof(msg) - 1);
	assert_memory_equal(buf, msg, n);
	free(buf);
	/* Plain words run without a shell, byte for byte the same. */
	snprintf(cmd, sizeof(cmd), "tee %s", tpath("out2"));
	words = shell_words(cmd);
	assert_non_null(words);
	shell_words_free(words);
	assert_int_equal(mda_run(cmd, 10, msg, sizeof(msg) - 1, &err), 0);
	buf = slurp(tpath("out2"), &n);
	assert_int_equal(n, sizeof(msg) - 1);
	assert_memory_equal(buf, msg, n);
	free(buf);
	/* A program that is not there: sh reports it, exit 127. */
	assert_int_equal(
	    mda_run("no-such-mda-program-here", 10, msg, sizeof(msg) - 1, &err),
	    -1);
	assert_int_equal(err.code, PF_EIO);
	assert_non_null(strstr(err.msg, "exited 127"));
	/* An empty command is a config error. */
	assert_null(mk_mda("", 10, &err));
	assert_int_equal(err.code, PF_ECONFIG);
	assert_null(mk_mda("  \t", 10, &err));
	assert_int_equal(err.code, PF_ECONFIG);
}

static void
test_mda_exit_codes(void **state)
{
	static const char msg[] = "Subject: x\n\nbody\n";
	struct pf_err err;
	double t0;

	(void)state;
	assert_int_equal(mda_run("cat >/dev/null; echo 'oops: \001bad' >&2; "
				 "exit 1",
			     10, msg, sizeof(msg) - 1, &err),
	    -1);
	assert_int_equal(err.code, PF_EIO);
	assert_non_null(strstr(err.msg, "exited 1: oops: \\x01bad"));
	assert_int_equal(
	    mda_run("cat >/dev/null; exit 75", 10, msg, sizeof(msg) - 1, &err),
	    -1);
	assert_int_equal(err.code, PF_ETEMP);
	assert_non_null(strstr(err.msg, "exited 75 (try again later)"));
	assert_int_equal(
	    mda_run("kill -9 $$", 10, msg, sizeof(msg) - 1, &err), -1);
	assert_int_equal(err.code, PF_EIO);
	assert_non_null(strstr(err.msg, "killed by signal 9"));
	assert_int_equal(mda_run("exit 0", 10, msg, sizeof(msg) - 1, &err), -1);
	assert_int_equal(err.code, PF_EIO);
	assert_non_null(strstr(err.msg, "without reading the whole message"));
	assert_int_equal(mda_run("no-such-command-popfetch-test", 10, msg,
			     sizeof(msg) - 1, &err),
	    -1);
	assert_int_equal(err.code, PF_EIO);
	assert_non_null(strstr(err.msg, "exited 127"));
	/* SIGPIPE is back to default in the MDA even though we ignore it. */
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(mda_run("cat >/dev/null; kill -PIPE $$; exit 0", 10,
			     msg, sizeof(msg) - 1, &err),
	    -1);
	assert_non_null(strstr(err.msg, "killed by signal 13"));
	signal(SIGPIPE, SIG_DFL);
	/* Hung MDA: killed at the timeout. */
	t0 = now_s();
	assert_int_equal(
	    mda_run("sleep 30", 1, msg, sizeof(msg) - 1, &err), -1);
	assert_true(now_s() - t0 < 3.5);
	assert_int_equal(err.code, PF_EIO);
	assert_non_null(strstr(err.msg, "timed out"));
	/* A backgrounded child holding the pipes does not hang us either. */
	t0 = now_s();
	assert_int_equal(mda_run("cat >/dev/null; sleep 30 & exit 0", 10, msg,
			     sizeof(msg) - 1, &err),
	    0);
	assert_true(now_s() - t0 < 3.0);
}

static void
test_mda_chatty(void **state)
{
	static const char msg[] = "Subject: x\n\nbody\n";
	struct pf_err err;

	(void)state;
	assert_int_equal(mda_run("head -c 5000000 /dev/zero >&2; "
				 "cat >/dev/null",
			     20, msg, sizeof(msg) - 1, &err),
	    0);
	assert_int_equal(mda_run("head -c 5000000 /dev/zero; "
				 "cat >/dev/null",
			     20, msg, sizeof(msg) - 1, &err),
	    0);
	/* A big message through a reader that reads it all. */
	{
		size_t n = 3000000, i;
		char *big = malloc(n);

		assert_non_null(big);
		for (i = 0; i < n; i++)
			big[i] = (char)i;
		assert_int_equal(
		    mda_run("cat >/dev/null", 20, big, n, &err), 0);
		free(big);
	}
}

static void
test_mda_hostile_sender(void **state)
{
	/* Return-Path value, and the sender the MDA must see literally. */
	static const char *const senders[][2] = {
	    {"<$(touch${IFS}X)@x>", "$(touch${IFS}X)@x"},
	    {"<';touch${IFS}X;'@x>", "';touch${IFS}X;'@x"},
	    {"<`touch${IFS}X`@x>", "`touch${IFS}X`@x"},
	    {"<\";touch${IFS}X;\"@x>", "\";touch${IFS}X;\"@x"},
	    {"<a'b@x>", "a'b@x"},
	    /* Spaces or newlines are never passed on at all. */
	    {"<$(touch X)@x>", "MAILER-DAEMON"},
	    {"<`touch X`@x>", "MAILER-DAEMON"},
	    {"<x@x\n;touch X>", "MAILER-DAEMON"},
	};
	char cmd[1200], msg[256], *buf;
	struct pf_err err;
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(senders) / sizeof(senders[0]); i++) {
		snprintf(msg, sizeof(msg), "Return-Path: %s\n\nbody\n",
		    senders[i][0]);
		snprintf(cmd, sizeof(cmd),
		    "cd '%s' && cat >/dev/null && "
		    "printf %%s %%F > out && printf %%s \"$SENDER\" > env",
		    tdir);
		assert_int_equal(mda_run(cmd, 10, msg, strlen(msg), &err), 0);
		assert_int_equal(access(tpath("X"), F_OK), -1);
		buf = slurp(tpath("out"), &n);
		assert_non_null(buf);
		assert_string_equal(buf, senders[i][1]);
		free(buf);
		buf = slurp(tpath("env"), &n);
		assert_non_null(buf);
		assert_string_equal(buf, senders[i][1]);
		free(buf);
	}
}

static void
test_mda_fds(void **state)
{
	char cmd[1200], *buf;
	struct pf_err err;
	size_t n;
	int leak;

	(void)state;
	/* Even a descriptor opened without O_CLOEXEC is not inherited. */
	leak = open("/dev/null", O_RDONLY);
	assert_true(leak > 2);
	snprintf(cmd, sizeof(cmd), "cat >/dev/null; ls /proc/self/fd > '%s'",
	    tpath("fds"));
	assert_int_equal(mda_run(cmd, 10, "x\n", 2, &err), 0);
	close(leak);
	buf = slurp(tpath("fds"), &n);
	assert_non_null(buf);
	/* 0 1 2 and the directory ls itself opened. */
	assert_string_equal(buf, "0\n1\n2\n3\n");
	free(buf);
}

/* --- stdout --- */

static void
test_stdout(void **state)
{
	struct pf_err err;
	struct parsed p;
	struct sink *sk;
	int saved, fd, pp[2], r;
	char *buf;
	size_t n;

	(void)state;
	sk = mk_sink(SINK_STDOUT, NULL, &err);
	assert_non_null(sk);
	assert_int_equal(deliver(sk, "u1", NULL, mbox_msgs[0],
			     strlen(mbox_msgs[0]), 5, &err),
	    0);
	assert_int_equal(deliver(sk, "u2", NULL, mbox_msgs[1],
			     strlen(mbox_msgs[1]), 5, &err),
	    0);
	assert_string_equal(sink_last_where(sk), "stdout");
	fflush(stdout);
	saved = dup(1);
	fd = open(tpath("stdout"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	dup2(fd, 1);
	close(fd);
	r = sink_sync(sk, &err);
	dup2(saved, 1);
	assert_int_equal(r, 0);
	buf = slurp(tpath("stdout"), &n);
	parse_mbox(buf, n, &p);
	assert_int_equal(p.n, 2);
	expect_body(&p, 0, mbox_msgs[0]);
	expect_body(&p, 1, mbox_msgs[1]);
	parsed_free(&p);
	free(buf);

	/* A reader that went away: EPIPE, not death by SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(deliver(sk, "u3", NULL, "x\n", 2, 2, &err), 0);
	assert_int_equal(pipe(pp), 0);
	close(pp[0]);
	dup2(pp[1], 1);
	close(pp[1]);
	r = sink_sync(sk, &err);
	dup2(saved, 1);
	close(saved);
	signal(SIGPIPE, SIG_DFL);
	assert_int_equal(r, -1);
	assert_int_equal(err.code, PF_EIO);
	assert_string_equal(
	    err.msg, "cannot write to standard output: Broken pipe");
	sink_free(sk);
}

/* Sync into a pipe whose reader (a child) reads want bytes, then exits. */
static int
sync_into_reader(struct sink *sk, size_t want, struct pf_err *err)
{
	int saved, pp[2], r, status;
	pid_t pid;

	assert_int_equal(pipe(pp), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char buf[4096];
		size_t got = 0;
		ssize_t k;

		close(pp[1]);
		while (got < want &&
		    (k = read(pp[0], buf,
			 want - got < sizeof(buf) ? want - got : sizeof(buf))) >
			0)
			got += (size_t)k;
		usleep(100000);
		_exit(0);
	}
	close(pp[0]);
	fflush(stdout);
	saved = dup(1);
	dup2(pp[1], 1);
	close(pp[1]);
	r = sink_sync(sk, err);
	dup2(saved, 1);
	close(saved);
	waitpid(pid, &status, 0);
	return r;
}

static void
test_stdout_pipe_consumed(void **state)
{
	static const char msg[] = "Subject: s\n\nbody\n";
	struct pf_err err;
	struct sink *sk;

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	sk = mk_sink(SINK_STDOUT, NULL, &err);
	assert_non_null(sk);
	/* The reader takes everything: delivered. */
	assert_int_equal(deliver(sk, "u1", NULL, msg, strlen(msg), 3, &err), 0);
	assert_int_equal(sync_into_reader(sk, 1 << 20, &err), 0);
	/* The reader takes 10 bytes and exits: the rest sat in the pipe
	 * buffer, so the message was not delivered even though every
	 * write succeeded. */
	assert_int_equal(deliver(sk, "u2", NULL, msg, strlen(msg), 3, &err), 0);
	assert_int_equal(sync_into_reader(sk, 10, &err), -1);
	assert_int_equal(err.code, PF_EIO);
	assert_non_null(strstr(err.msg, "reader exited"));
	signal(SIGPIPE, SIG_DFL);
	sink_free(sk);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_shell_quote),
	    T(test_stdout_pipe_consumed),
	    T(test_mda_words),
	    T(test_mda_expand),
	    T(test_envelope_sender),
	    T(test_from_line),
	    T(test_mboxrd_quote),
	    T(test_maildir_name),
	    T(test_maildir_deliver),
	    T(test_maildir_abort),
	    T(test_maildir_concurrent),
	    T(test_maildir_has_token),
	    T(test_maildir_clean_tmp),
	    T(test_maildir_refused),
	    T(test_mbox_two_batches),
	    T(test_mbox_repair_tail),
	    T(test_mbox_refused),
	    T(test_mbox_fcntl_busy),
	    T(test_mbox_lock_released),
	    T(test_mbox_dotlock_fresh),
	    T(test_mbox_dotlock_stale),
	    T(test_mbox_dotlock_empty),
	    T(test_mbox_recover_complete),
	    T(test_mbox_recover_partial),
	    T(test_mbox_recover_changed),
	    T(test_mbox_recover_other_path),
	    T(test_mbox_recover_foreign_after),
	    T(test_mbox_recover_lost_page),
	    T(test_mbox_root_foreign_refused),
	    T(test_mbox_synced_recorded),
	    T(test_mbox_append_fails),
	    T(test_mda_deliver),
	    T(test_mda_exit_codes),
	    T(test_mda_chatty),
	    T(test_mda_hostile_sender),
	    T(test_mda_fds),
	    T(test_stdout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
