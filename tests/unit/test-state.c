/*
 * test-state.c: the seen-message state store (journal, CRCs, torn and
 * corrupt files, compaction) and the account lock (lock.c).
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
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

#include "popfetch/err.h"
#include "popfetch/lock.h"
#include "popfetch/log.h"
#include "popfetch/state.h"
#include "popfetch/xmalloc.h"
#include "tmpdir.h"

#define ACCT  "alice@pop.example.com:995"
#define ACCT2 "bob@pop.example.com:995"

/* Per-test temp dir and its state dir. */
struct fix {
	char dir[256];
	char *state; /* DIR/state */
};

/* Make a fresh temp dir for each test. */
static int
setup(void **state)
{
	struct fix *f = xcalloc(1, sizeof(*f));

	if (tmpdir_make(f->dir, sizeof(f->dir), "state") == -1)
		return -1;
	f->state = xasprintf("%s/state", f->dir);
	if (mkdir(f->state, 0700) == -1)
		return -1;
	*state = f;
	return 0;
}

/* Remove the temp dir. */
static int
teardown(void **state)
{
	struct fix *f = *state;

	int r = tmpdir_remove(f->dir);

	free(f->state);
	free(f);
	return r;
}

/* Bitwise CRC-32, independent of the table in state.c. */
static uint32_t
crc32_slow(const char *p, size_t n)
{
	uint32_t c = 0xffffffffU;
	size_t i;
	int k;

	for (i = 0; i < n; i++) {
		c ^= (unsigned char)p[i];
		for (k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320U & (0U - (c & 1)));
	}
	return ~c;
}

/* The state file path of an account. */
static char *
state_path(const struct fix *f, const char *acct)
{
	char *name = state_account_file(acct), *p;

	p = xasprintf("%s/%s.state", f->state, name);
	free(name);
	return p;
}

/* Read a whole file into a new NUL-terminated buffer. */
static char *
slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *p;
	long n;

	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	assert_true(n >= 0);
	rewind(fp);
	p = xmalloc((size_t)n + 1);
	assert_int_equal(fread(p, 1, (size_t)n, fp), (size_t)n);
	p[n] = '\0';
	fclose(fp);
	*len = (size_t)n;
	return p;
}

/* Replace a file's contents. */
static void
spew(const char *path, const char *p, size_t n)
{
	FILE *fp = fopen(path, "wb");

	assert_non_null(fp);
	assert_int_equal(fwrite(p, 1, n, fp), n);
	assert_int_equal(fclose(fp), 0);
}

/* Append one correctly checksummed line ("text crc\n") to a buffer. */
static size_t
add_line(char *buf, size_t sz, const char *text)
{
	size_t n = strlen(buf);

	snprintf(buf + n, sz - n, "%s %08lx\n", text,
	    (unsigned long)crc32_slow(text, strlen(text)));
	return strlen(buf);
}

/* Size of a file, or -1. */
static long long
file_size(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == -1 ? -1 : (long long)sb.st_size;
}

/* Number of entries in a directory besides . and .. */
static int
count_entries(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* Load ACCT and assert it works. */
static struct state *
load_ok(const struct fix *f, const char *acct)
{
	struct pf_err e = {PF_OK, ""};
	struct state *st = state_load(f->state, acct, &e);

	if (st == NULL)
		fail_msg("state_load: %s", e.msg);
	return st;
}

/* Load and expect PF_EDATA with a helpful message. */
static void
load_corrupt(const struct fix *f, const char *acct)
{
	struct pf_err e = {PF_OK, ""};
	struct state *st = state_load(f->state, acct, &e);

	assert_null(st);
	assert_int_equal(e.code, PF_EDATA);
	assert_non_null(strstr(e.msg, "is corrupt (line "));
	assert_non_null(strstr(e.msg, "move it away"));
}

/* Flush and assert it works. */
static void
flush_ok(struct state *st)
{
	struct pf_err e = {PF_OK, ""};

	if (state_flush(st, &e) == -1)
		fail_msg("state_flush: %s", e.msg);
}

/* Assert a record's fields. */
static void
check_rec(const struct state *st, const char *uid, unsigned long long size,
    time_t t, char kind)
{
	const struct state_rec *r = state_find(st, uid);

	assert_non_null(r);
	assert_string_equal(r->uid, uid);
	assert_true(r->size == size);
	assert_true(r->first_seen == t);
	assert_int_equal(r->kind, kind);
}

static void
test_crc_is_zlib(void **state)
{
	(void)state;
	assert_true(crc32_slow("123456789", 9) == 0xcbf43926U);
}

static void
test_missing_file_is_empty(void **state)
{
	struct fix *f = *state;
	struct state *st = load_ok(f, ACCT);
	char *p = state_path(f, ACCT);

	assert_int_equal(state_count(st), 0);
	assert_null(state_find(st, "x"));
	assert_true(state_last_login(st) == 0);
	assert_int_equal(file_size(p), -1); /* nothing written yet */
	flush_ok(st);
	assert_true(file_size(p) > 0);
	state_free(st);
	st = load_ok(f, ACCT);
	assert_int_equal(state_count(st), 0);
	state_free(st);
	free(p);
}

static void
test_roundtrip(void **state)
{
	struct fix *f = *state;
	struct state *st = load_ok(f, ACCT);
	struct stat sb;
	char *p = state_path(f, ACCT), *data;
	size_t len;

	state_set(st, "a1", 100, 1700000000, STATE_DELIVERED);
	state_set(st, "k2", 200, 1700000001, STATE_KEPT);
	state_set(st, "gone", 5, 1, STATE_DELIVERED);
	state_set_last_login(st, 1700000100);
	flush_ok(st);
	/* Appends to an existing file. */
	state_set(st, "a3", 18446744073709551615ULL, -5, STATE_DELIVERED);
	state_set(st, "a1", 101, 1700000002, STATE_KEPT);
	state_forget(st, "gone");
	state_forget(st, "never-there");
	state_set_last_login(st, 1700000200);
	flush_ok(st);
	assert_int_equal(state_count(st), 3);
	state_free(st);

	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	data = slurp(p, &len);
	assert_non_null(strstr(data, "popfetch-state 1 " ACCT " "));
	assert_non_null(strstr(data, "\nF gone "));
	free(data);

	st = load_ok(f, ACCT);
	assert_int_equal(state_count(st), 3);
	check_rec(st, "a1", 101, 1700000002, STATE_KEPT);
	check_rec(st, "k2", 200, 1700000001, STATE_KEPT);
	check_rec(st, "a3", 18446744073709551615ULL, -5, STATE_DELIVERED);
	assert_null(state_find(st, "gone"));
	assert_true(state_last_login(st) == 1700000200);
	state_free(st);
	free(p);
}

/* docs/faults.md #74: the LOGIN-DELAY of the last login survives a
 * reload and a compaction; an L line without one still loads. */
static void
test_login_delay_roundtrip(void **state)
{
	struct fix *f = *state;
	struct state *st = load_ok(f, ACCT);
	struct pf_err e;

	state_set_last_login(st, 1700000100);
	flush_ok(st);
	state_free(st);
	st = load_ok(f, ACCT);
	assert_true(state_last_login(st) == 1700000100);
	assert_int_equal(state_login_delay(st), 0);
	state_set_login(st, 1700000200, 900);
	flush_ok(st);
	state_free(st);
	st = load_ok(f, ACCT);
	assert_true(state_last_login(st) == 1700000200);
	assert_int_equal(state_login_delay(st), 900);
	assert_int_equal(state_compact(st, &e), 0);
	state_free(st);
	st = load_ok(f, ACCT);
	assert_true(state_last_login(st) == 1700000200);
	assert_int_equal(state_login_delay(st), 900);
	state_set_login(st, 1700000300, 0);
	flush_ok(st);
	state_free(st);
	st = load_ok(f, ACCT);
	assert_int_equal(state_login_delay(st), 0);
	state_free(st);
}

static void
test_records_have_crcs(void **state)
{
	struct fix *f = *state;
	struct state *st = load_ok(f, ACCT);
	char *p = state_path(f, ACCT), *data, *line, *nl, *sp;
	size_t len;
	int lines = 0;

	state_set(st, "u1", 1, 2, STATE_DELIVERED);
	flush_ok(st);
	state_set(st, "u2", 3, 4, STATE_KEPT);
	state_forget(st, "u1");
	state_set_last_login(st, 9);
	flush_ok(st);
	state_free(st);
	data = slurp(p, &len);
	for (line = data; *line != '\0'; line = nl + 1) {
		nl = strchr(line, '\n');
		assert_non_null(nl);
		*nl = '\0';
		sp = strrchr(line, ' ');
		assert_non_null(sp);
		assert_int_equal(strlen(sp + 1), 8);
		assert_true(strtoul(sp + 1, NULL, 16) ==
		    crc32_slow(line, (size_t)(sp - line)));
		lines++;
	}
	/* The header, D u1; then the second flush: its synced-length
	 * marker S, K u2, F u1, L 9. */
	assert_int_equal(lines, 1 + 5);
	free(data);
	free(p);
}

/* foreach callback: count records and sum sizes. */
static void
sum_cb(void *ctx, const struct state_rec *r)
{
	unsigned long long *sum = ctx;

	sum[0]++;
	sum[1] += r->size;
}

static void
test_compact_10000(void **state)
{
	struct fix *f = *state;
	struct pf_err e = {PF_OK, ""};
	struct state *st = load_ok(f, ACCT);
	char uid[64], *p = state_path(f, ACCT), *data, *q;
	unsigned long long sum[2] = {0, 0};
	size_t len;
	int i;

	for (i = 0; i < 10000; i++) {
		snprintf(uid, sizeof(uid), "uid-%05d", i);
		state_set(st, uid, (unsigned long long)i, 1000 + i,
		    i % 3 ? STATE_DELIVERED : STATE_KEPT);
	}
	flush_ok(st);
	for (i = 0; i < 10000; i += 2) {
		snprintf(uid, sizeof(uid), "uid-%05d", i);
		state_forget(st, uid);
	}
	flush_ok(st);
	assert_int_equal(state_compact(st, &e), 0);
	/* Only the header and the live records are left. */
	data = slurp(p, &len);
	assert_null(strstr(data, "\nF "));
	for (i = 0, q = data; (q = strchr(q, '\n')) != NULL; q++)
		i++;
	assert_int_equal(i, 1 + 5000);
	free(data);
	/* Journal appends still work after the rename. */
	state_set(st, "after-compact", 7, 8, STATE_DELIVERED);
	flush_ok(st);
	assert_int_equal(state_count(st), 5001);
	state_free(st);
	/* Only the lock-less state file is left: no temp files. */
	assert_int_equal(count_entries(f->state), 1);

	st = load_ok(f, ACCT);
	assert_int_equal(state_count(st), 5001);
	for (i = 0; i < 10000; i++) {
		snprintf(uid, sizeof(uid), "uid-%05d", i);
		if (i % 2 == 0)
			assert_null(state_find(st, uid));
		else
			check_rec(st, uid, (unsigned long long)i, 1000 + i,
			    i % 3 ? STATE_DELIVERED : STATE_KEPT);
	}
	check_rec(st, "after-compact", 7, 8, STATE_DELIVERED);
	state_foreach(st, sum_cb, sum);
	assert_true(sum[0] == 5001);
	assert_true(sum[1] == 25000000ULL + 7);
	state_free(st);
	free(p);
}

static void
test_compact_new_file_and_pending(void **state)
{
	struct fix *f = *state;
	struct pf_err e = {PF_OK, ""};
	struct state *st = load_ok(f, ACCT);

	state_set(st, "x", 1, 1, STATE_DELIVERED);
	assert_int_equal(state_compact(st, &e), 0);
	state_set(st, "y", 2, 2, STATE_DELIVERED);
	assert_int_equal(state_compact(st, &e), 0); /* flushes y first */
	state_free(st);
	st = load_ok(f, ACCT);
	assert_int_equal(state_count(st), 2);
	check_rec(st, "y", 2, 2, STATE_DELIVERED);
	state_free(st);
}

/* The inode number of path (a rewrite makes a new file). */
static ino_t
inode_of(const char *path)
{
	struct stat sb;

	assert_int_equal(stat(path, &sb), 0);
	return sb.st_ino;
}

/* A compact file is left alone by state_compact() (a cron poll that
 * changes nothing writes nothing); a change, a forgotten record or a
 * journal line makes the next state_compact() rewrite it. */
static void
test_compact_only_when_needed(void **state)
{
	struct fix *f = *state;
	struct pf_err e = {PF_OK, ""};
	char *p = state_path(f, ACCT);
	struct state *st = load_ok(f, ACCT);
	ino_t ino;

	state_set(st, "x", 1, 1, STATE_DELIVERED);
	state_set(st, "y", 2, 2, STATE_KEPT);
	assert_int_equal(state_compact(st, &e), 0);
	ino = inode_of(p);
	assert_int_equal(state_compact(st, &e), 0);
	assert_true(inode_of(p) == ino); /* nothing changed: same file */
	state_free(st);
	st = load_ok(f, ACCT);
	assert_int_equal(state_compact(st, &e), 0);
	assert_true(inode_of(p) == ino); /* loaded compact: same file */
	state_set(st, "y", 2, 2, STATE_DELIVERED); /* replaces a line */
	assert_int_equal(state_flush(st, &e), 0);
	assert_true(inode_of(p) == ino); /* a journal append */
	assert_int_equal(state_compact(st, &e), 0);
	assert_true(inode_of(p) != ino); /* the old line goes */
	ino = inode_of(p);
	state_forget(st, "x");
	assert_int_equal(state_compact(st, &e), 0);
	assert_true(inode_of(p) != ino);
	state_free(st);
	st = load_ok(f, ACCT);
	assert_int_equal(state_count(st), 1);
	check_rec(st, "y", 2, 2, STATE_DELIVERED);
	state_free(st);
	free(p);
}

static void
test_forget_reload(void **state)
{
	struct fix *f = *state;
	struct state *st = load_ok(f, ACCT);

	state_set(st, "a", 1, 1, STATE_DELIVERED);
	state_set(st, "b", 2, 2, STATE_DELIVERED);
	flush_ok(st);
	state_free(st);
	st = load_ok(f, ACCT);
	state_forget(st, "a");
	assert_null(state_find(st, "a"));
	flush_ok(st);
	state_free(st);
	st = load_ok(f, ACCT);
	assert_null(state_find(st, "a"));
	check_rec(st, "b", 2, 2, STATE_DELIVERED);
	assert_int_equal(state_count(st), 1);
	/* Forget then set again comes back. */
	state_set(st, "a", 3, 3, STATE_KEPT);
	flush_ok(st);
	state_free(st);
	st = load_ok(f, ACCT);
	check_rec(st, "a", 3, 3, STATE_KEPT);
	state_free(st);
}

static void
test_torn_last_record(void **state)
{
	struct fix *f = *state;
	struct state *st = load_ok(f, ACCT);
	char *p = state_path(f, ACCT), *full, *now;
	size_t len, good, cut, nowlen;
	const char *lastrec;
	char mark[32];

	state_set(st, "one", 1, 10, STATE_DELIVERED);
	state_set(st, "two", 2, 20, STATE_KEPT);
	flush_ok(st);
	state_set(st, "three", 3, 30, STATE_DELIVERED);
	flush_ok(st);
	state_free(st);
	full = slurp(p, &len);
	lastrec = strstr(full, "\nD three ");
	assert_non_null(lastrec);
	good = (size_t)(lastrec - full) + 1;

	for (cut = good; cut < len; cut++) {
		spew(p, full, cut);
		st = load_ok(f, ACCT);
		assert_int_equal(state_count(st), 2);
		assert_null(state_find(st, "three"));
		check_rec(st, "two", 2, 20, STATE_KEPT);
		state_set(st, "four", 4, 40, STATE_DELIVERED);
		flush_ok(st);
		state_free(st);

		/* The torn bytes are gone; the new record follows. */
		now = slurp(p, &nowlen);
		assert_true(nowlen > good);
		assert_memory_equal(now, full, good);
		/* The flush's synced-length marker, then the record. */
		snprintf(mark, sizeof(mark), "S %zu ", good);
		assert_memory_equal(now + good, mark, strlen(mark));
		assert_memory_equal(
		    strchr(now + good, '\n') + 1, "D four 4 40 ", 12);
		assert_int_equal(now[nowlen - 1], '\n');
		free(now);
		st = load_ok(f, ACCT);
		assert_int_equal(state_count(st), 3);
		check_rec(st, "one", 1, 10, STATE_DELIVERED);
		check_rec(st, "four", 4, 40, STATE_DELIVERED);
		assert_null(state_find(st, "three"));
		state_free(st);
	}
	free(full);
	free(p);
}

static void
test_bad_crc_last_line_dropped(void **state)
{
	struct fix *f = *state;
	struct state *st = load_ok(f, ACCT);
	char *p = state_path(f, ACCT), *data;
	size_t len;

	state_set(st, "one", 1, 10, STATE_DELIVERED);
	flush_ok(st);
	state_set(st, "two", 2, 20, STATE_DELIVERED);
	flush_ok(st);
	state_free(st);
	data = slurp(p, &len);
	/* "D two 2 20 xxxxxxxx\n": damage the time's first digit. */
	data[len - 12] = '7';
	spew(p, data, len);
	st = load_ok(f, ACCT);
	assert_int_equal(state_count(st), 1);
	assert_null(state_find(st, "two"));
	flush_ok(st); /* only truncates */
	state_free(st);
	free(data);
	data = slurp(p, &len);
	assert_null(strstr(data, "two"));
	free(data);
	free(p);
}

/*
 * docs/faults.md #79: a power cut during a journal append that spans
 * pages keeps a later page and loses an earlier one: good records, NUL
 * bytes, more good records, a torn one. Nothing of that append was
 * synced, so nothing of it was acted on: it is dropped, not exit 65.
 */
static void
test_torn_unsynced_tail_dropped(void **state)
{
	struct fix *f = *state;
	struct state *st = load_ok(f, ACCT);
	char *p = state_path(f, ACCT), *full, *nl, *now;
	size_t len, synced, nowlen;

	state_set(st, "one", 1, 10, STATE_DELIVERED);
	flush_ok(st);
	state_set(st, "two", 2, 20, STATE_DELIVERED);
	flush_ok(st);
	state_free(st);
	free(slurp(p, &synced));
	st = load_ok(f, ACCT);
	state_set(st, "three", 3, 30, STATE_DELIVERED);
	state_set(st, "four", 4, 40, STATE_DELIVERED);
	state_set(st, "five", 5, 50, STATE_DELIVERED);
	flush_ok(st);
	state_free(st);
	full = slurp(p, &len);
	/* The page holding the marker and "three" is lost (NUL bytes);
	 * "four" survives, "five" is torn. */
	nl = strstr(full + synced, "\nD four ");
	assert_non_null(nl);
	memset(full + synced, 0, (size_t)(nl + 1 - (full + synced)));
	spew(p, full, len - 5);
	st = load_ok(f, ACCT);
	assert_int_equal(state_count(st), 2);
	check_rec(st, "two", 2, 20, STATE_DELIVERED);
	assert_null(state_find(st, "four"));
	state_set(st, "six", 6, 60, STATE_DELIVERED);
	flush_ok(st);
	state_free(st);
	/* The tail is gone from the file too. */
	now = slurp(p, &nowlen);
	assert_memory_equal(now, full, synced);
	assert_null(memchr(now, '\0', nowlen));
	free(now);
	st = load_ok(f, ACCT);
	assert_int_equal(state_count(st), 3);
	check_rec(st, "six", 6, 60, STATE_DELIVERED);
	state_free(st);
	free(full);
	free(p);
}

/* The same NUL bytes inside what a later marker says was synced are
 * corruption: exit 65, not dropped. */
static void
test_nul_in_synced_part_is_corrupt(void **state)
{
	struct fix *f = *state;
	struct pf_err e = {PF_OK, ""};
	struct state *st = load_ok(f, ACCT);
	char *p = state_path(f, ACCT), *data, *rec;
	size_t len;

	state_set(st, "one", 1, 10, STATE_DELIVERED);
	flush_ok(st);
	state_set(st, "two", 2, 20, STATE_DELIVERED);
	flush_ok(st);
	state_set(st, "three", 3, 30, STATE_DELIVERED);
	flush_ok(st);
	state_free(st);
	data = slurp(p, &len);
	rec = strstr(data, "D two ");
	assert_non_null(rec);
	memset(rec, 0, strcspn(rec, "\n"));
	spew(p, data, len);
	st = state_load(f->state, ACCT, &e);
	assert_null(st);
	assert_int_equal(e.code, PF_EDATA);
	assert_non_null(strstr(e.msg, "re-fetches everything"));
	free(data);
	free(p);
}

/* Expect PF_ECANTCREAT (exit 73) with both parts of msg. */
static void
refused(const struct pf_err *e, const char *why, const char *fix)
{
	assert_int_equal(e->code, PF_ECANTCREAT);
	assert_non_null(strstr(e->msg, why));
	assert_non_null(strstr(e->msg, fix));
}

/* docs/faults.md #77: a state directory or file that group or others
 * can write is refused, by the load and by the account lock. */
static void
test_writable_state_refused(void **state)
{
	struct fix *f = *state;
	struct pf_err e = {PF_OK, ""};
	struct state *st = load_ok(f, ACCT);
	char *p = state_path(f, ACCT);

	state_set(st, "one", 1, 10, STATE_DELIVERED);
	flush_ok(st);
	state_free(st);
	assert_int_equal(chmod(f->state, 01777), 0);
	assert_null(state_load(f->state, ACCT, &e));
	refused(&e, "writable by group or others", "chmod go-w");
	assert_int_equal(lock_account(f->state, ACCT, &e), -1);
	refused(&e, "writable by group or others", "chmod go-w");
	assert_int_equal(chmod(f->state, 0700), 0);
	assert_int_equal(chmod(p, 0622), 0);
	assert_null(state_load(f->state, ACCT, &e));
	refused(&e, "state file '", "chmod go-w");
	assert_int_equal(chmod(p, 0600), 0);
	state_free(load_ok(f, ACCT));
	free(p);
}

/* ... and so is one that belongs to another user (as root: chown). */
static void
test_foreign_state_refused(void **state)
{
	struct fix *f = *state;
	struct pf_err e = {PF_OK, ""};
	struct state *st;
	char *p = state_path(f, ACCT);

	if (geteuid() != 0)
		skip();
	st = load_ok(f, ACCT);
	state_set(st, "one", 1, 10, STATE_DELIVERED);
	flush_ok(st);
	state_free(st);
	assert_int_equal(chown(p, 4242, 4242), 0);
	assert_null(state_load(f->state, ACCT, &e));
	refused(&e, "belongs to uid 4242", "--state-dir");
	assert_int_equal(chown(p, 0, 0), 0);
	assert_int_equal(chown(f->state, 4242, 4242), 0);
	assert_null(state_load(f->state, ACCT, &e));
	refused(&e, "state directory '", "belongs to uid 4242");
	assert_int_equal(lock_account(f->state, ACCT, &e), -1);
	refused(&e, "state directory '", "belongs to uid 4242");
	assert_int_equal(chown(f->state, 0, 0), 0);
	free(p);
}

static void
test_bad_crc_middle_is_corrupt(void **state)
{
	struct fix *f = *state;
	struct pf_err e = {PF_OK, ""};
	struct state *st = load_ok(f, ACCT);
	char *p = state_path(f, ACCT), *data, *rec;
	size_t len;

	state_set(st, "one", 1, 10, STATE_DELIVERED);
	flush_ok(st);
	state_set(st, "two", 2, 20, STATE_DELIVERED);
	flush_ok(st);
	state_free(st);
	data = slurp(p, &len);
	rec = strstr(data, "D one 1 10 ");
	assert_non_null(rec);
	rec[6] = '9'; /* size 1 -> 9, CRC now wrong */
	spew(p, data, len);
	st = state_load(f->state, ACCT, &e);
	assert_null(st);
	assert_int_equal(e.code, PF_EDATA);
	assert_non_null(strstr(e.msg, "(line 2)"));
	assert_non_null(strstr(e.msg, "re-fetches everything"));
	free(data);
	free(p);
}

static void
test_unparsable_with_good_crc_is_corrupt(void **state)
{
	struct fix *f = *state;
	char *p = state_path(f, ACCT), buf[1024] = "";
	static const char *const bad[] = {
	    "X foo",
	    "D foo 1",
	    "D foo x 1",
	    "D foo 1 1 1",
	    "D foo -1 1",
	    "D fo%0 1 1",
	    "D fo%00o 1 1",
	    "F",
	    "F a b",
	    "L",
	    "L x",
	    "D foo 99999999999999999999 1",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* Both in the middle and as the last line. */
		buf[0] = '\0';
		add_line(buf, sizeof(buf), "popfetch-state 1 " ACCT);
		add_line(buf, sizeof(buf), bad[i]);
		spew(p, buf, strlen(buf));
		load_corrupt(f, ACCT);
		add_line(buf, sizeof(buf), "D ok 1 1");
		spew(p, buf, strlen(buf));
		load_corrupt(f, ACCT);
	}
	free(p);
}

static void
test_empty_file_is_corrupt(void **state)
{
	struct fix *f = *state;
	char *p = state_path(f, ACCT);

	spew(p, "", 0);
	load_corrupt(f, ACCT);
	free(p);
}

static void
test_garbage_is_corrupt(void **state)
{
	struct fix *f = *state;
	char *p = state_path(f, ACCT), buf[512] = "", bin[300];
	size_t i;

	spew(p, "hello world\nmore lines\n", 23);
	load_corrupt(f, ACCT);
	spew(p, "garbage without newline", 23);
	load_corrupt(f, ACCT);
	for (i = 0; i < sizeof(bin); i++)
		bin[i] = (char)(i * 7 + 3);
	spew(p, bin, sizeof(bin));
	load_corrupt(f, ACCT);
	/* A valid header that is not our format's. */
	add_line(buf, sizeof(buf), "something-else 1 " ACCT);
	spew(p, buf, strlen(buf));
	load_corrupt(f, ACCT);
	/* A header torn at its end is never "torn last record". */
	buf[0] = '\0';
	add_line(buf, sizeof(buf), "popfetch-state 1 " ACCT);
	spew(p, buf, strlen(buf) - 1);
	load_corrupt(f, ACCT);
	/* Good header, then garbage lines. */
	add_line(buf, sizeof(buf), "D a 1 1");
	snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf),
	    "garbage\nD b 1 1 00000000\n");
	spew(p, buf, strlen(buf));
	load_corrupt(f, ACCT);
	free(p);
}

static void
test_wrong_version_is_corrupt(void **state)
{
	struct fix *f = *state;
	struct pf_err e = {PF_OK, ""};
	char *p = state_path(f, ACCT), buf[512] = "";

	add_line(buf, sizeof(buf), "popfetch-state 2 " ACCT);
	add_line(buf, sizeof(buf), "D a 1 1");
	spew(p, buf, strlen(buf));
	assert_null(state_load(f->state, ACCT, &e));
	assert_int_equal(e.code, PF_EDATA);
	assert_non_null(strstr(e.msg, "version '2'"));
	free(p);
}

static void
test_other_account_is_corrupt(void **state)
{
	struct fix *f = *state;
	struct pf_err e = {PF_OK, ""};
	struct state *st = load_ok(f, ACCT2);
	char *p1 = state_path(f, ACCT), *p2 = state_path(f, ACCT2);

	state_set(st, "a", 1, 1, STATE_DELIVERED);
	flush_ok(st);
	state_free(st);
	assert_string_not_equal(p1, p2);
	assert_int_equal(rename(p2, p1), 0);
	assert_null(state_load(f->state, ACCT, &e));
	assert_int_equal(e.code, PF_EDATA);
	assert_non_null(strstr(e.msg, "belongs to account"));
	free(p1);
	free(p2);
}

static void
test_odd_uids_survive(void **state)
{
	struct fix *f = *state;
	struct state *st = load_ok(f, ACCT);
	char big[1001], ctl[32], allbytes[256];
	const char *odd[] = {"with space", "100%", "%41", "tab\there",
	    "esc\x1b[0m", "../../x", "/etc/passwd", "\xff\xfe\x80", "", big,
	    ctl, allbytes};
	size_t i, n = sizeof(odd) / sizeof(odd[0]);
	int k;

	for (i = 0; i < 1000; i++)
		big[i] = (char)(i % 255 + 1);
	big[1000] = '\0';
	for (k = 0; k < 31; k++)
		ctl[k] = (char)(k + 1);
	ctl[31] = '\0';
	for (k = 0; k < 255; k++)
		allbytes[k] = (char)(255 - k);
	allbytes[255] = '\0';
	for (i = 0; i < n; i++)
		state_set(st, odd[i], i, (time_t)i, STATE_KEPT);
	flush_ok(st);
	state_forget(st, "with space");
	flush_ok(st);
	state_free(st);
	st = load_ok(f, ACCT);
	assert_int_equal(state_count(st), n - 1);
	assert_null(state_find(st, "with space"));
	for (i = 1; i < n; i++)
		check_rec(st, odd[i], i, (time_t)i, STATE_KEPT);
	state_free(st);
}

static void
test_escape(void **state)
{
	char *s, *u;
	static const char *const bad[] = {
	    "%", "%4", "%G0", "%00", "a b", "a\tb", "\x01", "\xff"};
	size_t i;

	(void)state;
	s = state_escape("a b%c\x01\x7f\xff~!", 10);
	assert_string_equal(s, "a%20b%25c%01%7F%FF~!");
	u = state_unescape(s);
	assert_non_null(u);
	assert_string_equal(u, "a b%c\x01\x7f\xff~!");
	free(u);
	free(s);
	s = state_escape("a\0b", 3);
	assert_string_equal(s, "a%00b");
	free(s);
	s = state_escape("", 0);
	assert_string_equal(s, "");
	free(s);
	u = state_unescape("%7e%7E");
	assert_string_equal(u, "~~");
	free(u);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_null(state_unescape(bad[i]));
}

static void
test_account_file(void **state)
{
	char id[501], id2[501], *a, *b;

	(void)state;
	a = state_account_file("alice@pop.example.com:995");
	assert_string_equal(a, "alice@pop.example.com%3A995");
	free(a);
	a = state_account_file("../../etc");
	assert_null(strchr(a, '/'));
	assert_string_equal(a, "..%2F..%2Fetc");
	free(a);
	a = state_account_file("a b\n_-.@Z9");
	assert_string_equal(a, "a%20b%0A_-.@Z9");
	free(a);

	memset(id, '/', 500);
	id[500] = '\0';
	memcpy(id2, id, sizeof(id2));
	id2[499] = 'x';
	a = state_account_file(id);
	b = state_account_file(id2);
	assert_null(strchr(a, '/'));
	assert_true(strlen(a) <= 100);
	assert_true(strlen(b) <= 100);
	assert_string_not_equal(a, b); /* same prefix, different hash */
	/* A prefix, '-', 16 hex, and never half an escape. */
	assert_int_equal(a[strlen(a) - 17], '-');
	assert_int_equal(strspn(a + strlen(a) - 16, "0123456789abcdef"), 16);
	assert_int_equal(strlen(a) - 17 > 0 ? (strlen(a) - 17) % 3 : 0, 0);
	free(b);
	b = state_account_file(id);
	assert_string_equal(a, b); /* stable */
	free(a);
	free(b);
	memset(id, 'q', 500);
	a = state_account_file(id);
	assert_int_equal(strlen(a), 100);
	assert_memory_equal(a, id, 83);
	free(a);
}

/* Child: try the lock; exit 0 when taken, 3 when busy with want_pid. */
static int
child_try_lock(const char *dir, pid_t want_pid)
{
	struct pf_err e = {PF_OK, ""};
	char pidtext[64];
	pid_t pid;
	int st, fd;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		fd = lock_account(dir, ACCT, &e);
		if (fd >= 0)
			_exit(0);
		snprintf(pidtext, sizeof(pidtext), "(pid %ld)", (long)want_pid);
		if (e.code == PF_ETEMP && strstr(e.msg, pidtext) != NULL &&
		    strstr(e.msg, "already being fetched") != NULL)
			_exit(3);
		_exit(4);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static void
test_lock(void **state)
{
	struct fix *f = *state;
	struct pf_err e = {PF_OK, ""};
	char *dir = xasprintf("%s/a/b/c", f->dir), *name, *lp, *data;
	char want[32];
	struct stat sb;
	size_t len;
	int fd;

	fd = lock_account(dir, ACCT, &e);
	assert_true(fd >= 0);
	assert_int_equal(stat(dir, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	name = state_account_file(ACCT);
	lp = xasprintf("%s/%s.lock", dir, name);
	data = slurp(lp, &len);
	snprintf(want, sizeof(want), "%ld\n", (long)getpid());
	assert_string_equal(data, want);
	free(data);
	assert_int_equal(stat(lp, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);

	assert_int_equal(child_try_lock(dir, getpid()), 3);
	lock_release(fd);
	assert_int_equal(child_try_lock(dir, getpid()), 0);
	/* The lock file stays (a stable inode for flock). */
	assert_int_equal(stat(lp, &sb), 0);
	/* Relocking in the same process after release works. */
	fd = lock_account(dir, ACCT, &e);
	assert_true(fd >= 0);
	lock_release(fd);
	lock_release(-1);
	free(lp);
	free(name);
	free(dir);
}

static void
test_lock_readonly_parent(void **state)
{
	struct fix *f = *state;
	struct pf_err e = {PF_OK, ""};
	char *ro = xasprintf("%s/ro", f->dir);
	char *dir = xasprintf("%s/ro/state", f->dir);
	int fd;

	assert_int_equal(mkdir(ro, 0700), 0);
	assert_int_equal(chmod(ro, 0500), 0);
	fd = lock_account(dir, ACCT, &e);
	if (geteuid() != 0) {
		assert_int_equal(fd, -1);
		assert_int_equal(e.code, PF_ECANTCREAT);
		assert_non_null(strstr(e.msg, "cannot create state directory"));
		/* An existing but read-only state dir: load refuses. */
		assert_int_equal(chmod(ro, 0700), 0);
		assert_int_equal(mkdir(dir, 0500), 0);
		assert_null(state_load(dir, ACCT, &e));
		assert_int_equal(e.code, PF_ECANTCREAT);
		assert_non_null(strstr(e.msg, "is not writable"));
	} else if (fd >= 0)
		lock_release(fd); /* root: permissions do not bind */
	chmod(ro, 0700);
	free(ro);
	free(dir);
}

static void
test_lock_dir_is_file(void **state)
{
	struct fix *f = *state;
	struct pf_err e = {PF_OK, ""};
	char *file = xasprintf("%s/plain", f->dir);
	char *under = xasprintf("%s/plain/sub", f->dir);

	spew(file, "x", 1);
	assert_int_equal(lock_account(file, ACCT, &e), -1);
	assert_int_equal(e.code, PF_ECANTCREAT);
	assert_non_null(strstr(e.msg, "Not a directory"));
	e.code = PF_OK;
	assert_int_equal(lock_account(under, ACCT, &e), -1);
	assert_int_equal(e.code, PF_ECANTCREAT);
	e.code = PF_OK;
	assert_int_equal(lock_account("", ACCT, &e), -1);
	assert_int_equal(e.code, PF_ECANTCREAT);
	e.code = PF_OK;
	assert_null(state_load(under, ACCT, &e));
	assert_int_equal(e.code, PF_ECANTCREAT);
	free(file);
	free(under);
}

static void
test_state_file_symlink_refused(void **state)
{
	struct fix *f = *state;
	struct pf_err e = {PF_OK, ""};
	char *p = state_path(f, ACCT), *target = xasprintf("%s/t", f->dir);
	char buf[256] = "";

	add_line(buf, sizeof(buf), "popfetch-state 1 " ACCT);
	spew(target, buf, strlen(buf));
	assert_int_equal(symlink(target, p), 0);
	assert_null(state_load(f->state, ACCT, &e));
	assert_int_equal(e.code, PF_ECANTCREAT);
	free(p);
	free(target);
}

/* Seconds between two monotonic times. */
static double
elapsed(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) +
	    (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

/* Load the state and look each of the first n records up, plus a missing
 * UID per record. Returns the seconds taken. */
static double
time_lookups(struct fix *f, int n)
{
	struct state *st;
	struct timespec t0, t1;
	char uid[64];
	int i, found = 0, count;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	st = load_ok(f, ACCT);
	for (i = 0; i < n; i++) {
		snprintf(uid, sizeof(uid), "%08X%08X", (unsigned)i,
		    (unsigned)i * 2654435761U);
		if (state_find(st, uid) != NULL)
			found++;
		snprintf(uid, sizeof(uid), "missing-%d", i);
		if (state_find(st, uid) != NULL)
			found += 1000000;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	count = (int)state_count(st);
	state_free(st);
	assert_int_equal(found, n);
	assert_int_equal(count, n);
	return elapsed(&t0, &t1);
}

/* Add records from..to-1 and flush; then time a fresh load and the
 * lookups, best of three so that a busy machine does not decide. */
static double
fill_and_time(struct fix *f, int from, int to)
{
	struct state *st = load_ok(f, ACCT);
	char uid[64];
	double best = 0;
	int i;

	for (i = from; i < to; i++) {
		snprintf(uid, sizeof(uid), "%08X%08X", (unsigned)i,
		    (unsigned)i * 2654435761U);
		state_set(st, uid, (unsigned long long)i, i, STATE_DELIVERED);
	}
	flush_ok(st);
	state_free(st);
	for (i = 0; i < 3; i++) {
		double t = time_lookups(f, to);

		if (i == 0 || t < best)
			best = t;
	}
	return best;
}

/*
 * Loading and looking up scale linearly: ten times the records may take at
 * most 50 times as long (cache misses alone make it 10 to 20 times;
 * quadratic work would take about 100 times). A ratio, not a wall-clock
 * bound, so a slow or sanitizer build still passes and a quadratic one
 * still fails.
 */
static void
test_200k_fast(void **state)
{
	struct fix *f = *state;
	double t20, t200;

	t20 = fill_and_time(f, 0, 20000);
	t200 = fill_and_time(f, 20000, 200000);
	print_message("20k: %.3f s, 200k: %.3f s (ratio %.1f)\n", t20, t200,
	    t200 / (t20 > 0.001 ? t20 : 0.001));
	assert_true(t200 < 50.0 * (t20 > 0.001 ? t20 : 0.001));
}

static void
test_auto_compaction(void **state)
{
	struct fix *f = *state;
	struct state *st = load_ok(f, ACCT);
	char uid[64], *p = state_path(f, ACCT);
	long long sz, max = 0;
	int round, i;

	state_set(st, "keeper", 1, 1, STATE_KEPT);
	for (round = 0; round < 300; round++) {
		for (i = 0; i < 50; i++) {
			snprintf(uid, sizeof(uid), "churn-%d-%d", round, i);
			state_set(st, uid, 12345, 1700000000, STATE_DELIVERED);
			state_forget(st, uid);
		}
		flush_ok(st);
		sz = file_size(p);
		if (sz > max)
			max = sz;
	}
	state_free(st);
	/* Without compaction this would be about 1.3 MB. */
	assert_true(max < 2 * 64 * 1024);
	assert_int_equal(count_entries(f->state), 1);
	st = load_ok(f, ACCT);
	assert_int_equal(state_count(st), 1);
	check_rec(st, "keeper", 1, 1, STATE_KEPT);
	state_free(st);
	free(p);
}

/* Child body for the write-failure test; exits with a step number. */
static int
failing_flush_child(const struct fix *f, const char *p)
{
	struct pf_err e = {PF_OK, ""};
	struct state *st;
	struct rlimit rl, lim;
	char uid[64];
	long long before;
	int i;

	if ((st = state_load(f->state, ACCT, &e)) == NULL)
		return 1;
	before = file_size(p);
	for (i = 0; i < 2000; i++) {
		snprintf(uid, sizeof(uid), "big-%d", i);
		state_set(st, uid, 1, 1, STATE_DELIVERED);
	}
	signal(SIGXFSZ, SIG_IGN);
	if (getrlimit(RLIMIT_FSIZE, &rl) == -1)
		return 2;
	lim = rl;
	lim.rlim_cur = (rlim_t)before + 100;
	if (setrlimit(RLIMIT_FSIZE, &lim) == -1)
		return 3;
	if (state_flush(st, &e) != -1 || e.code != PF_EIO ||
	    strstr(e.msg, "cannot write state file") == NULL)
		return 4;
	if (file_size(p) != before)
		return 5; /* the torn append was truncated away */
	if (setrlimit(RLIMIT_FSIZE, &rl) == -1)
		return 6;
	if (state_flush(st, &e) == -1) /* the records are still queued */
		return 7;
	state_free(st);
	return 0;
}

static void
test_flush_failure(void **state)
{
	struct fix *f = *state;
	struct state *st = load_ok(f, ACCT);
	char *p = state_path(f, ACCT);
	pid_t pid;
	int status;

	state_set(st, "first", 1, 1, STATE_DELIVERED);
	flush_ok(st);
	state_free(st);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(failing_flush_child(f, p));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	st = load_ok(f, ACCT);
	assert_int_equal(state_count(st), 2001);
	check_rec(st, "big-1999", 1, 1, STATE_DELIVERED);
	state_free(st);
	free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_crc_is_zlib),
	    cmocka_unit_test(test_escape),
	    cmocka_unit_test(test_account_file),
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	    T(test_missing_file_is_empty),
	    T(test_roundtrip),
	    T(test_records_have_crcs),
	    T(test_login_delay_roundtrip),
	    T(test_compact_10000),
	    T(test_compact_new_file_and_pending),
	    T(test_compact_only_when_needed),
	    T(test_forget_reload),
	    T(test_torn_last_record),
	    T(test_bad_crc_last_line_dropped),
	    T(test_bad_crc_middle_is_corrupt),
	    T(test_writable_state_refused),
	    T(test_foreign_state_refused),
	    T(test_torn_unsynced_tail_dropped),
	    T(test_nul_in_synced_part_is_corrupt),
	    T(test_unparsable_with_good_crc_is_corrupt),
	    T(test_empty_file_is_corrupt),
	    T(test_garbage_is_corrupt),
	    T(test_wrong_version_is_corrupt),
	    T(test_other_account_is_corrupt),
	    T(test_odd_uids_survive),
	    T(test_lock),
	    T(test_lock_readonly_parent),
	    T(test_lock_dir_is_file),
	    T(test_state_file_symlink_refused),
	    T(test_200k_fast),
	    T(test_auto_compaction),
	    T(test_flush_failure),
#undef T
	};

	log_init(-1, false); /* the torn-record warnings are expected */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
