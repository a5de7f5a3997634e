/*
 * test-fetch.c: whole runs of fetch_account() against the scripted peer
 * (peer.h), with a real Maildir, mbox or MDA and a real state directory.
 * The scripts fix the exact commands on the wire, so each test checks the
 * order the contract promises: RETR, durable delivery, durable record,
 * only then DELE, and QUIT commits.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>

#include "popfetch/config.h"
#include "popfetch/fetch.h"
#include "popfetch/log.h"
#include "popfetch/state.h"

#include "peer.h"
#include "tmpdir.h"

#define GREET                            \
	{                                \
		NULL, "+OK ready\r\n", 0 \
	}
#define CAPA                                                  \
	{                                                     \
		"CAPA\r\n", "+OK\r\nUSER\r\nUIDL\r\n.\r\n", 0 \
	}
#define CAPA_PIPE                                                           \
	{                                                                   \
		"CAPA\r\n", "+OK\r\nUSER\r\nUIDL\r\nPIPELINING\r\n.\r\n", 0 \
	}
#define LOGIN                                  \
	{"USER u\r\n", "+OK\r\n", 0},          \
	{                                      \
		"PASS pw\r\n", "+OK in\r\n", 0 \
	}
#define SCAN2                                                      \
	{"STAT\r\n", "+OK 2 40\r\n", 0},                           \
	    {"UIDL\r\n", "+OK\r\n1 uid-a\r\n2 uid-b\r\n.\r\n", 0}, \
	{                                                          \
		"LIST\r\n", "+OK\r\n1 20\r\n2 20\r\n.\r\n", 0      \
	}
#define RETR1                                                               \
	{                                                                   \
		"RETR 1\r\n", "+OK\r\nSubject: a\r\n\r\nbody a\r\n.\r\n", 0 \
	}
#define RETR2                                                            \
	{                                                                \
		"RETR 2\r\n", "+OK\r\nSubject: b\r\n\r\n..b\r\n.\r\n", 0 \
	}
#define NSTEPS(a) (sizeof(a) / sizeof((a)[0]))

static char tdir[256], maildir[300], statedir[300];

/* The connection of the run: the peer of the current test. */
static struct peer *cur;

static struct stream *
connect_peer(void *ctx, const struct conn_params *cp, struct pf_err *err)
{
	(void)ctx;
	(void)err;
	assert_true(strcasecmp(cp->host, "pop.test") == 0);
	return peer_stream(cur);
}

static int
setup(void **state)
{
	(void)state;
	if (tmpdir_make(tdir, sizeof(tdir), "fetch") == -1)
		return -1;
	snprintf(maildir, sizeof(maildir), "%s/Maildir", tdir);
	snprintf(statedir, sizeof(statedir), "%s/state", tdir);
	log_init(-1, false);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	return tmpdir_remove(tdir);
}

/* The account of the tests: plain POP3 to pop.test, USER/PASS. */
static void
account(struct account *a, enum sink_kind kind, const char *path)
{
	memset(a, 0, sizeof(*a));
	a->name = (char *)(uintptr_t) "t";
	a->host = (char *)(uintptr_t) "pop.test";
	a->port = (char *)(uintptr_t) "110";
	a->user = (char *)(uintptr_t) "u";
	a->tls = CONN_TLS_NONE;
	a->auth = AUTH_USER;
	a->timeout = 10;
	a->sink = kind;
	a->sink_path = (char *)(uintptr_t)path;
	a->no_received = true;
	a->lock_wait = 1;
	a->mda_timeout = 10;
	a->delete_after = -1;
	a->state_dir = statedir;
}

/* Run a over steps; the peer must have played its script exactly. */
static int
run(const struct account *a, const struct peer_step *steps, size_t n,
    struct fetch_stats *st, struct pf_err *err)
{
	struct fetch_opts o;
	const char *why;
	int r;

	memset(&o, 0, sizeof(o));
	o.secret = "pw";
	o.connect = connect_peer;
	cur = peer_new(steps, n, 7);
	r = fetch_account(a, &o, st, err);
	if (!peer_done(cur, &why))
		fail_msg(
		    "peer: %s (run said: %s)", why, r < 0 ? err->msg : "ok");
	peer_free(cur);
	cur = NULL;
	return r;
}

/* Files in dir, and the concatenation of their contents in name order. */
static int
dir_files(const char *dir, char *all, size_t allsz)
{
	struct dirent **names;
	char path[700];
	int n, i;
	size_t o = 0;

	n = scandir(dir, &names, NULL, alphasort);
	assert_true(n >= 0);
	all[0] = '\0';
	for (i = 0; i < n; i++) {
		FILE *f;

		if (names[i]->d_name[0] != '.') {
			snprintf(
			    path, sizeof(path), "%s/%s", dir, names[i]->d_name);
			f = fopen(path, "rb");
			assert_non_null(f);
			o += fread(all + o, 1, allsz - o - 1, f);
			fclose(f);
		}
		free(names[i]);
	}
	free(names);
	all[o] = '\0';
	return n - 2;
}

/* The state's record of uid, or 0 when there is none. */
static char
state_kind(const struct account *a, const char *uid)
{
	const struct state_rec *r;
	struct pf_err err;
	struct state *st;
	char kind = 0;
	char *id = account_key(a);

	st = state_load(statedir, id, &err);
	free(id);
	assert_non_null(st);
	if ((r = state_find(st, uid)) != NULL)
		kind = r->kind;
	state_free(st);
	return kind;
}

/* Delete mode without PIPELINING: RETR each, then DELE each (in
 * lock-step), QUIT; the Maildir has both; QUIT +OK forgets the UIDs. */
static void
test_delete_mode(void **state)
{
	static const struct peer_step s[] = {GREET, CAPA, LOGIN, SCAN2, RETR1,
	    RETR2, {"DELE 1\r\n", "+OK\r\n", 0}, {"DELE 2\r\n", "+OK\r\n", 0},
	    {"QUIT\r\n", "+OK bye\r\n", 0}};
	char all[4096], dir[400];
	struct fetch_stats st;
	struct pf_err err;
	struct account a;

	(void)state;
	account(&a, SINK_MAILDIR, maildir);
	assert_int_equal(run(&a, s, NSTEPS(s), &st, &err), 0);
	snprintf(dir, sizeof(dir), "%s/new", maildir);
	assert_int_equal(dir_files(dir, all, sizeof(all)), 2);
	assert_non_null(strstr(all, "Subject: a\n\nbody a\n"));
	assert_non_null(strstr(all, "Subject: b\n\n.b\n"));
	assert_int_equal(st.listed, 2);
	assert_int_equal(st.fetched, 2);
	assert_int_equal(st.deleted, 2);
	assert_int_equal(state_kind(&a, "uid-a"), 0);
	assert_int_equal(state_kind(&a, "uid-b"), 0);
}

/* With PIPELINING: STAT, UIDL and LIST in one go, the RETRs in one
 * window, the DELEs after the batch is durable, all in order. */
static void
test_pipelined(void **state)
{
	static const struct peer_step s[] = {GREET, CAPA_PIPE, LOGIN, SCAN2,
	    RETR1, RETR2, {"DELE 1\r\nDELE 2\r\n", "+OK\r\n+OK\r\n", 0},
	    {"QUIT\r\n", "+OK bye\r\n", 0}};
	struct fetch_stats st;
	struct pf_err err;
	struct account a;

	(void)state;
	account(&a, SINK_MAILDIR, maildir);
	assert_int_equal(run(&a, s, NSTEPS(s), &st, &err), 0);
	assert_int_equal(st.fetched, 2);
	assert_int_equal(st.deleted, 2);
}

/* --keep: nothing deleted, both recorded as kept; the next run fetches
 * nothing and deletes nothing. */
static void
test_keep_then_seen(void **state)
{
	static const struct peer_step first[] = {GREET, CAPA, LOGIN, SCAN2,
	    RETR1, RETR2, {"QUIT\r\n", "+OK bye\r\n", 0}};
	static const struct peer_step second[] = {
	    GREET, CAPA, LOGIN, SCAN2, {"QUIT\r\n", "+OK bye\r\n", 0}};
	struct fetch_stats st;
	struct pf_err err;
	struct account a;

	(void)state;
	account(&a, SINK_MAILDIR, maildir);
	a.keep = true;
	assert_int_equal(run(&a, first, NSTEPS(first), &st, &err), 0);
	assert_int_equal(st.fetched, 2);
	assert_int_equal(st.deleted, 0);
	assert_int_equal(state_kind(&a, "uid-a"), STATE_KEPT);
	assert_int_equal(state_kind(&a, "uid-b"), STATE_KEPT);
	assert_int_equal(run(&a, second, NSTEPS(second), &st, &err), 0);
	assert_int_equal(st.fetched, 0);
	assert_int_equal(st.skipped, 2);
}

/*
 * The connection drops in the middle of the second body: the first
 * message is delivered and recorded but not deleted (no QUIT went out);
 * the next run deletes it without fetching it again, and fetches the
 * second.
 */
static void
test_drop_then_resume(void **state)
{
	static const struct peer_step first[] = {GREET, CAPA, LOGIN, SCAN2,
	    RETR1, {"RETR 2\r\n", "+OK\r\nSubject: b\r\n\r\nhal", 0}};
	static const struct peer_step second[] = {GREET, CAPA, LOGIN, SCAN2,
	    {"DELE 1\r\n", "+OK\r\n", 0}, RETR2, {"DELE 2\r\n", "+OK\r\n", 0},
	    {"QUIT\r\n", "+OK bye\r\n", 0}};
	char all[4096], dir[400];
	struct fetch_stats st;
	struct pf_err err;
	struct account a;

	(void)state;
	account(&a, SINK_MAILDIR, maildir);
	assert_int_equal(run(&a, first, NSTEPS(first), &st, &err), -1);
	assert_int_equal(err.code, PF_ETEMP);
	assert_int_equal(state_kind(&a, "uid-a"), STATE_DELIVERED);
	assert_int_equal(state_kind(&a, "uid-b"), 0);
	snprintf(dir, sizeof(dir), "%s/new", maildir);
	assert_int_equal(dir_files(dir, all, sizeof(all)), 1);
	snprintf(dir, sizeof(dir), "%s/tmp", maildir);
	assert_int_equal(dir_files(dir, all, sizeof(all)), 0);
	assert_int_equal(run(&a, second, NSTEPS(second), &st, &err), 0);
	snprintf(dir, sizeof(dir), "%s/new", maildir);
	assert_int_equal(dir_files(dir, all, sizeof(all)), 2);
	assert_int_equal(st.fetched, 1);
	assert_int_equal(st.deleted, 2);
}

/*
 * An MDA that exits 75: the message stays on the server (no DELE for
 * it), the run stops and says so (PF_ETEMP); each MDA delivery is final
 * at once, so the one before it is recorded and deleted.
 */
static void
test_mda_tempfail(void **state)
{
	static const struct peer_step s[] = {GREET, CAPA_PIPE, LOGIN, SCAN2,
	    RETR1, RETR2, {"DELE 1\r\n", "+OK\r\n", 0},
	    {"QUIT\r\n", "+OK bye\r\n", 0}};
	char cmd[1024], flag[350];
	struct fetch_stats st;
	struct pf_err err;
	struct account a;

	(void)state;
	/* the first run of the MDA succeeds, the second exits 75 */
	snprintf(flag, sizeof(flag), "%s/mda-ran", tdir);
	snprintf(cmd, sizeof(cmd),
	    "cat >/dev/null; test -e '%s' && exit 75; touch '%s'", flag, flag);
	account(&a, SINK_MDA, cmd);
	assert_int_equal(run(&a, s, NSTEPS(s), &st, &err), -1);
	assert_int_equal(err.code, PF_ETEMP);
	assert_non_null(strstr(err.msg, "message 2 not delivered"));
	assert_int_equal(st.fetched, 1);
	assert_int_equal(st.deleted, 1);
	assert_int_equal(st.errors, 1);
}

/* A dry run logs in, lists and quits: no RETR, no DELE, no state. */
static void
test_dry_run(void **state)
{
	static const struct peer_step s[] = {
	    GREET, CAPA, LOGIN, SCAN2, {"QUIT\r\n", "+OK bye\r\n", 0}};
	struct fetch_stats st;
	struct fetch_opts o;
	struct pf_err err;
	struct account a;
	char other[400];
	const char *why;

	(void)state;
	snprintf(other, sizeof(other), "%s/nostate", tdir);
	account(&a, SINK_MAILDIR, maildir);
	a.state_dir = other;
	memset(&o, 0, sizeof(o));
	o.secret = "pw";
	o.dry_run = true;
	o.connect = connect_peer;
	cur = peer_new(s, NSTEPS(s), 64);
	assert_int_equal(fetch_account(&a, &o, &st, &err), 0);
	assert_true(peer_done(cur, &why));
	peer_free(cur);
	cur = NULL;
	assert_int_equal(access(other, F_OK), -1);
}

/* A server that announces UIDL and then refuses it is not fetched from
 * without it: that would deliver again what it cannot name. */
static void
test_uidl_refused(void **state)
{
	static const struct peer_step s[] = {GREET, CAPA, LOGIN,
	    {"STAT\r\n", "+OK 1 20\r\n", 0}, {"UIDL\r\n", "-ERR no\r\n", 0},
	    {"LIST\r\n", "+OK\r\n1 20\r\n.\r\n", 0}};
	struct fetch_stats st;
	struct pf_err err;
	struct account a;

	(void)state;
	account(&a, SINK_MAILDIR, maildir);
	assert_int_equal(run(&a, s, NSTEPS(s), &st, &err), -1);
	assert_int_equal(err.code, PF_ETEMP);
	assert_non_null(strstr(err.msg, "refused UIDL"));
}

/* Write a state of id (popfetch 0.1.0 wrote "user@host:port") with uid-a
 * as delivered and kept. */
static void
legacy_state(const char *id)
{
	struct pf_err err;
	struct state *st;

	assert_int_equal(mkdir(statedir, 0700), 0);
	st = state_load(statedir, id, &err);
	assert_non_null(st);
	state_set(st, "uid-a", 20, 1000, STATE_KEPT);
	assert_int_equal(state_compact(st, &err), 0);
	state_free(st);
}

/*
 * issue 13: two accounts on one mailbox have a state each. "archive"
 * keeps both messages; "work" (same user, host and port, deleting) then
 * still fetches both into its own Maildir before it deletes them.
 */
static void
test_state_per_account(void **state)
{
	static const struct peer_step keep[] = {GREET, CAPA, LOGIN, SCAN2,
	    RETR1, RETR2, {"QUIT\r\n", "+OK bye\r\n", 0}};
	static const struct peer_step del[] = {GREET, CAPA, LOGIN, SCAN2, RETR1,
	    RETR2, {"DELE 1\r\n", "+OK\r\n", 0}, {"DELE 2\r\n", "+OK\r\n", 0},
	    {"QUIT\r\n", "+OK bye\r\n", 0}};
	char all[4096], dir[400], mbox[400];
	struct fetch_stats st;
	struct pf_err err;
	struct account archive, work;

	(void)state;
	snprintf(mbox, sizeof(mbox), "%s/archive.mbox", tdir);
	account(&archive, SINK_MBOX, mbox);
	archive.name = (char *)(uintptr_t) "archive";
	archive.keep = true;
	archive.delete_after = 30;
	account(&work, SINK_MAILDIR, maildir);
	work.name = (char *)(uintptr_t) "work";
	work.host = (char *)(uintptr_t) "POP.Test";
	assert_int_equal(run(&archive, keep, NSTEPS(keep), &st, &err), 0);
	assert_int_equal(st.fetched, 2);
	assert_int_equal(run(&work, del, NSTEPS(del), &st, &err), 0);
	assert_int_equal(st.fetched, 2);
	assert_int_equal(st.deleted, 2);
	snprintf(dir, sizeof(dir), "%s/new", maildir);
	assert_int_equal(dir_files(dir, all, sizeof(all)), 2);
	assert_int_equal(state_kind(&archive, "uid-a"), STATE_KEPT);
}

/*
 * issue 13: the state popfetch 0.1.0 kept for the mailbox is carried over
 * to the account on its first run (uid-a is not fetched again); the old
 * file stays for a one-off --host run of the mailbox.
 */
static void
test_legacy_state_carried_over(void **state)
{
	static const struct peer_step s[] = {
	    GREET, CAPA, LOGIN, SCAN2, RETR2, {"QUIT\r\n", "+OK bye\r\n", 0}};
	struct fetch_stats st;
	struct pf_err err;
	struct account a;
	char *legacy;

	(void)state;
	account(&a, SINK_MAILDIR, maildir);
	a.name = (char *)(uintptr_t) "work";
	a.keep = true;
	legacy = account_id(&a);
	legacy_state(legacy);
	assert_false(state_exists(statedir, "work"));
	assert_int_equal(run(&a, s, NSTEPS(s), &st, &err), 0);
	assert_int_equal(st.fetched, 1);
	assert_int_equal(st.skipped, 1);
	assert_true(state_exists(statedir, "work"));
	assert_true(state_exists(statedir, legacy));
	assert_int_equal(state_kind(&a, "uid-a"), STATE_KEPT);
	assert_int_equal(state_kind(&a, "uid-b"), STATE_KEPT);
	free(legacy);
}

/*
 * issue 13: a one-off --host account keeps "user@host:port" with the host
 * in lower case; 0.1.0's file under the host as written is carried over.
 */
static void
test_oneoff_host_case(void **state)
{
	static const struct peer_step s[] = {
	    GREET, CAPA, LOGIN, SCAN2, RETR2, {"QUIT\r\n", "+OK bye\r\n", 0}};
	struct fetch_stats st;
	struct pf_err err;
	struct account a;
	char *key;

	(void)state;
	account(&a, SINK_MAILDIR, maildir);
	a.name = NULL;
	a.host = (char *)(uintptr_t) "Pop.TEST";
	a.keep = true;
	key = account_key(&a);
	assert_string_equal(key, "u@pop.test:110");
	legacy_state("u@Pop.TEST:110");
	assert_int_equal(run(&a, s, NSTEPS(s), &st, &err), 0);
	assert_int_equal(st.fetched, 1);
	assert_true(state_exists(statedir, key));
	free(key);
}

/* issue 13: -n of an account without a state of its own predicts from
 * 0.1.0's state of its mailbox, and carries nothing over. */
static void
test_dry_run_reads_legacy_state(void **state)
{
	static const struct peer_step s[] = {
	    GREET, CAPA, LOGIN, SCAN2, {"QUIT\r\n", "+OK bye\r\n", 0}};
	struct fetch_stats st;
	struct fetch_opts o;
	struct pf_err err;
	struct account a;
	const char *why;
	char *legacy;

	(void)state;
	account(&a, SINK_MAILDIR, maildir);
	a.name = (char *)(uintptr_t) "work";
	a.keep = true;
	legacy = account_id(&a);
	legacy_state(legacy);
	memset(&o, 0, sizeof(o));
	o.secret = "pw";
	o.dry_run = true;
	o.connect = connect_peer;
	cur = peer_new(s, NSTEPS(s), 64);
	assert_int_equal(fetch_account(&a, &o, &st, &err), 0);
	assert_true(peer_done(cur, &why));
	peer_free(cur);
	cur = NULL;
	assert_int_equal(st.skipped, 1);
	assert_false(state_exists(statedir, "work"));
	free(legacy);
}

/* issue 13: an account that shares its mailbox with another account of
 * the config does not take 0.1.0's state over (whose records are whose
 * cannot be told): it fetches both messages. */
static void
test_legacy_state_shared_not_taken(void **state)
{
	static const struct peer_step s[] = {GREET, CAPA, LOGIN, SCAN2, RETR1,
	    RETR2, {"QUIT\r\n", "+OK bye\r\n", 0}};
	struct fetch_stats st;
	struct pf_err err;
	struct account a;
	char *legacy;

	(void)state;
	account(&a, SINK_MAILDIR, maildir);
	a.name = (char *)(uintptr_t) "work";
	a.keep = true;
	a.shares_mailbox = true;
	legacy = account_id(&a);
	legacy_state(legacy);
	assert_int_equal(run(&a, s, NSTEPS(s), &st, &err), 0);
	assert_int_equal(st.fetched, 2);
	assert_int_equal(state_kind(&a, "uid-a"), STATE_KEPT);
	free(legacy);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_delete_mode, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pipelined, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_keep_then_seen, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_drop_then_resume, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mda_tempfail, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dry_run, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_uidl_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_state_per_account, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_legacy_state_carried_over, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_oneoff_host_case, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_dry_run_reads_legacy_state, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_legacy_state_shared_not_taken, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
