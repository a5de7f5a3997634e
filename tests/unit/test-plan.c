/*
 * test-plan.c: the central rules of the product as a table: a listing,
 * the seen-state and the policy in, one action per message out (seen or
 * not, keep or delete, --all, delete_after, max_size and kill_size,
 * --limit, duplicate UIDs, a recorded UID listed with another size, the
 * no-UIDL cap, the crash-recovery token). Then pruning.
 */
#include <sys/stat.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "popfetch/crypto.h"
#include "popfetch/log.h"
#include "popfetch/plan.h"
#include "popfetch/state.h"
#include "tmpdir.h"

#define ACCT	"alice@pop.example:995"
#define NOW	1700000000
#define MAXMSGS 32

struct msg {
	const char *uid; /* NULL: the server gave none */
	unsigned long long size;
};

struct rec {
	const char *uid;
	unsigned long long size;
	char kind;     /* STATE_DELIVERED or STATE_KEPT */
	long age_days; /* first seen this long before NOW */
};

struct row {
	const char *name;
	/* policy (account_id, now and have_uidl are filled in) */
	bool keep, fetch_all, dry_run, no_uidl;
	long delete_after; /* -1 never; rows give it explicitly */
	unsigned long long max_size, kill_size;
	unsigned long limit;
	struct msg msgs[8];
	unsigned nouidl_count; /* instead of msgs: this many, no UIDs */
	struct rec recs[4];
	const char *in_maildir[3]; /* UIDs whose token is found */
	/* per message: F fetch, D delete, K kill, S skip */
	const char *want;
	/* per message: r = recorded once delivered, - = not */
	const char *record;
	const char *why_last; /* reason of the last message, or NULL */
	unsigned long left;
	const char *found; /* per message: f found by its token, - not */
};

/* Keep D/K records alone: the delete_after rows need them. */
static const struct row rows[] = {
    {"new, delete mode", false, false, false, false, -1, 0, 0, 0,
	{{"a", 10}, {"b", 20}}, 0, {{0}}, {0}, "FF", "rr", "new", 0, NULL},
    {"seen, delete mode: deleted unread", false, false, false, false, -1, 0, 0,
	0, {{"a", 10}, {"b", 20}}, 0, {{"a", 10, STATE_DELIVERED, 1}}, {0},
	"DF", "rr", "new", 0, NULL},
    {"seen, keep mode: left", true, false, false, false, -1, 0, 0, 0,
	{{"a", 10}, {"b", 20}}, 0, {{"a", 10, STATE_KEPT, 1}}, {0}, "SF", "rr",
	"new", 0, NULL},
    {"--all fetches what was seen", false, true, false, false, -1, 0, 0, 0,
	{{"a", 10}}, 0, {{"a", 10, STATE_DELIVERED, 1}}, {0}, "F", "r", "new",
	0, NULL},
    {"keep + delete_after: old deleted, young left", true, false, false, false,
	30, 0, 0, 0, {{"old", 10}, {"young", 10}}, 0,
	{{"old", 10, STATE_KEPT, 40}, {"young", 10, STATE_KEPT, 10}}, {0}, "DS",
	"rr", "seen before", 0, NULL},
    {"delete_after exactly reached", true, false, false, false, 30, 0, 0, 0,
	{{"a", 10}}, 0, {{"a", 10, STATE_KEPT, 30}}, {0}, "D", "r",
	"older than delete-after", 0, NULL},
    {"max_size leaves large ones", false, false, false, false, -1, 1000, 0, 0,
	{{"small", 1000}, {"big", 1001}}, 0, {{0}}, {0}, "FS", "rr",
	"larger than max-size", 0, NULL},
    {"kill_size deletes large ones unread, even seen", false, false, false,
	false, -1, 0, 1000, 0, {{"small", 10}, {"big", 5000}}, 0,
	{{"big", 5000, STATE_DELIVERED, 1}}, {0}, "FK", "rr",
	"larger than kill-size", 0, NULL},
    {"kill_size beats max_size", false, false, false, false, -1, 100, 1000, 0,
	{{"mid", 500}, {"huge", 5000}}, 0, {{0}}, {0}, "SK", "rr",
	"larger than kill-size", 0, NULL},
    {"--limit", false, false, false, false, -1, 0, 0, 2,
	{{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}}, 0, {{0}}, {0}, "FFSS", "rrrr",
	"over the limit", 0, NULL},
    {"--limit counts only fetches", false, false, false, false, -1, 0, 0, 1,
	{{"seen", 1}, {"b", 1}, {"c", 1}}, 0, {{"seen", 1, STATE_DELIVERED, 1}},
	{0}, "DFS", "rrr", "over the limit", 0, NULL},
    {"duplicate UIDs, delete mode: each fetched, none recorded", false, false,
	false, false, -1, 0, 0, 0, {{"x", 1}, {"y", 1}, {"x", 2}}, 0, {{0}},
	{0}, "FFF", "-r-", "new", 0, NULL},
    {"duplicate UIDs, delete mode, seen: fetched anyway", false, false, false,
	false, -1, 0, 0, 0, {{"x", 1}, {"x", 1}}, 0,
	{{"x", 1, STATE_DELIVERED, 1}}, {0}, "FF", "--", "new", 0, NULL},
    {"duplicate UIDs, keep mode: one delivered", true, false, false, false, -1,
	0, 0, 0, {{"x", 1}, {"x", 1}}, 0, {{0}}, {0}, "FS", "rr",
	"duplicate UID", 0, NULL},
    {"duplicate UIDs, keep mode, seen: left", true, false, false, false, -1, 0,
	0, 0, {{"x", 1}, {"x", 1}}, 0, {{"x", 1, STATE_KEPT, 1}}, {0}, "SS",
	"rr", "duplicate UID", 0, NULL},
    {"recorded UID with another size: fetched again", false, false, false,
	false, -1, 0, 0, 0, {{"a", 200}}, 0, {{"a", 100, STATE_DELIVERED, 1}},
	{0}, "F", "r", "new", 0, NULL},
    {"size 0 recorded (mbox recovery): no mismatch", false, false, false, false,
	-1, 0, 0, 0, {{"a", 200}}, 0, {{"a", 0, STATE_DELIVERED, 1}}, {0}, "D",
	"r", "delivered before", 0, NULL},
    {"kept record with another size: still seen", true, false, false, false, -1,
	0, 0, 0, {{"a", 200}}, 0, {{"a", 100, STATE_KEPT, 1}}, {0}, "S", "r",
	"seen before", 0, NULL},
    {"keep mode cannot track a message without UID", true, false, false, false,
	-1, 0, 0, 0, {{NULL, 5}, {"b", 5}}, 0, {{0}}, {0}, "SF", "-r", "new", 0,
	NULL},
    {"no UIDL: commit every 20 messages", false, false, false, true, -1, 0, 0,
	0, {{0}}, 25, {{0}}, {0}, "FFFFFFFFFFFFFFFFFFFFSSSSS",
	"-------------------------", "left for the next session", 5, NULL},
    {"no UIDL, dry run: the whole listing", false, false, true, true, -1, 0, 0,
	0, {{0}}, 25, {{0}}, {0}, "FFFFFFFFFFFFFFFFFFFFFFFFF",
	"-------------------------", "new", 0, NULL},
    {"token in the Maildir: recorded, deleted unread", false, false, false,
	false, -1, 0, 0, 0, {{"a", 10}, {"b", 20}}, 0, {{0}}, {"b"}, "FD", "rr",
	"delivered before", 0, "-f"},
    {"token in the Maildir, keep mode: recorded, left", true, false, false,
	false, -1, 0, 0, 0, {{"a", 10}}, 0, {{0}}, {"a"}, "S", "r",
	"delivered before", 0, "f"},
    {"token, but --all: fetched", false, true, false, false, -1, 0, 0, 0,
	{{"a", 10}}, 0, {{0}}, {"a"}, "F", "r", "new", 0, "-"},
    {"token, but a dry run: not looked up", false, false, true, false, -1, 0, 0,
	0, {{"a", 10}}, 0, {{0}}, {"a"}, "F", "r", "new", 0, "-"},
    {"token, but over max_size: left, not looked up", false, false, false,
	false, -1, 5, 0, 0, {{"a", 10}}, 0, {{0}}, {"a"}, "S", "r",
	"larger than max-size", 0, "-"},
};

/* A fresh state directory for each row. */
static char tdir[256];

static int
setup(void **state)
{
	(void)state;
	if (tmpdir_make(tdir, sizeof(tdir), "plan") == -1)
		return -1;
	log_init(-1, false);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	return tmpdir_remove(tdir);
}

/* The token lookup: the UIDs of the row's in_maildir. */
struct tokens {
	char tok[3][17];
	int n;
	int asked;
};

static bool
has_token(void *ctx, const char *token)
{
	struct tokens *t = ctx;
	int i;

	t->asked++;
	for (i = 0; i < t->n; i++)
		if (strcmp(t->tok[i], token) == 0)
			return true;
	return false;
}

/* The listing of a row (its UIDs copied into uidbuf). */
static char uidbuf[8][16];

static unsigned long
row_listing(const struct row *r, struct pop3_msg *m)
{
	unsigned long i, n = 0;

	memset(m, 0, MAXMSGS * sizeof(*m));
	if (r->nouidl_count > 0) {
		for (n = 0; n < r->nouidl_count; n++) {
			m[n].n = n + 1;
			m[n].size = 100;
		}
		return n;
	}
	for (i = 0; i < 8 && r->msgs[i].size > 0; i++, n++) {
		m[n].n = n + 1;
		m[n].size = r->msgs[i].size;
		if (r->msgs[i].uid != NULL) {
			snprintf(
			    uidbuf[n], sizeof(uidbuf[n]), "%s", r->msgs[i].uid);
			m[n].uid = uidbuf[n];
		}
	}
	return n;
}

/* The state of a row: its records, in a state loaded from disk. */
static struct state *
row_state(const struct row *r, int k)
{
	struct pf_err err;
	struct state *st;
	char acct[64];
	int i;

	snprintf(acct, sizeof(acct), "row%d@%s", k, ACCT);
	st = state_load(tdir, acct, &err);
	if (st == NULL)
		fail_msg("state_load: %s", err.msg);
	for (i = 0; i < 4 && r->recs[i].uid != NULL; i++)
		state_set(st, r->recs[i].uid, r->recs[i].size,
		    NOW - r->recs[i].age_days * 86400, r->recs[i].kind);
	return st;
}

/* Check one row; k is its index for messages. */
static void
check_row(const struct row *r, int k)
{
	const char letters[] = {[PLAN_FETCH] = 'F',
	    [PLAN_DELETE] = 'D',
	    [PLAN_KILL] = 'K',
	    [PLAN_SKIP] = 'S'};
	struct pop3_msg msgs[MAXMSGS];
	struct plan_item items[MAXMSGS];
	struct plan_policy pol;
	struct account a;
	struct tokens tk;
	struct state *st = row_state(r, k);
	unsigned long n = row_listing(r, msgs), i, left;
	int t;

	memset(&a, 0, sizeof(a));
	a.keep = r->keep;
	a.fetch_all = r->fetch_all;
	a.delete_after = r->delete_after;
	a.max_size = r->max_size;
	a.kill_size = r->kill_size;
	a.limit = r->limit;
	memset(&pol, 0, sizeof(pol));
	pol.a = &a;
	pol.account_id = ACCT;
	pol.dry_run = r->dry_run;
	pol.have_uidl = !r->no_uidl;
	pol.now = NOW;
	memset(&tk, 0, sizeof(tk));
	for (t = 0; t < 3 && r->in_maildir[t] != NULL; t++) {
		for (i = 0; i < n; i++)
			if (msgs[i].uid != NULL &&
			    strcmp(msgs[i].uid, r->in_maildir[t]) == 0)
				crypto_token(ACCT, msgs[i].uid, msgs[i].size,
				    tk.tok[tk.n]);
		tk.n++;
	}
	left = plan_make(msgs, n, st, &pol, has_token, &tk, items);
	if (strlen(r->want) != n)
		fail_msg("%s: the row lists %zu actions for %lu messages",
		    r->name, strlen(r->want), n);
	for (i = 0; i < n; i++) {
		if (letters[items[i].act] != r->want[i] ||
		    (r->record[i] == 'r') != items[i].record)
			fail_msg("%s: message %lu is %c%s (%s), want %c%s",
			    r->name, i + 1, letters[items[i].act],
			    items[i].record ? "+record" : "", items[i].why,
			    r->want[i], r->record[i] == 'r' ? "+record" : "");
		/* a token only where there is a single UID to record */
		assert_int_equal(items[i].token[0] != '\0',
		    items[i].record && !items[i].dup_uid);
		if (r->found != NULL)
			assert_int_equal(items[i].found, r->found[i] == 'f');
	}
	if (r->why_last != NULL)
		assert_string_equal(items[n - 1].why, r->why_last);
	assert_int_equal(left, r->left);
	if (r->dry_run)
		assert_int_equal(tk.asked, 0);
	state_free(st);
}

/* Every row of the table. */
static void
test_rules(void **state)
{
	size_t k;

	(void)state;
	for (k = 0; k < sizeof(rows) / sizeof(rows[0]); k++)
		check_row(&rows[k], (int)k);
}

/* Duplicates are marked, the first occurrence too, at any distance. */
static void
test_duplicate_marks(void **state)
{
	static char a[] = "a", b1[] = "b", b2[] = "b", b3[] = "b";
	struct pop3_msg m[5] = {
	    {1, 1, b1},
	    {2, 1, a},
	    {3, 1, NULL},
	    {4, 1, b2},
	    {5, 1, b3},
	};
	struct plan_item it[5];
	struct plan_policy pol;
	struct account acct;

	(void)state;
	memset(&acct, 0, sizeof(acct));
	acct.delete_after = -1;
	memset(&pol, 0, sizeof(pol));
	pol.a = &acct;
	pol.account_id = ACCT;
	pol.have_uidl = true;
	pol.now = NOW;
	assert_int_equal(plan_make(m, 5, NULL, &pol, NULL, NULL, it), 0);
	assert_true(it[0].dup_uid && it[0].dup_first);
	assert_false(it[1].dup_uid);
	assert_false(it[2].dup_uid || it[2].record);
	assert_true(it[3].dup_uid && !it[3].dup_first);
	assert_true(it[4].dup_uid && !it[4].dup_first);
}

/* Records whose UID the listing lacks are forgotten, but only after a
 * complete listing with UIDs. */
static void
test_prune(void **state)
{
	static char a[] = "a", c[] = "c";
	struct pop3_msg full[2] = {{1, 1, a}, {2, 1, c}};
	struct pop3_msg partial[2] = {{1, 1, a}, {2, 1, NULL}};
	struct pf_err err;
	struct state *st;

	(void)state;
	st = state_load(tdir, "prune@" ACCT, &err);
	assert_non_null(st);
	state_set(st, "a", 1, NOW, STATE_DELIVERED);
	state_set(st, "b", 1, NOW, STATE_DELIVERED);
	state_set(st, "c", 1, NOW, STATE_KEPT);
	/* no UIDL, or a message without UID: nothing is proven gone */
	assert_int_equal(plan_prune(st, full, 2, false), 0);
	assert_int_equal(plan_prune(st, partial, 2, true), 0);
	assert_int_equal(state_count(st), 3);
	assert_int_equal(plan_prune(st, full, 2, true), 1);
	assert_int_equal(state_count(st), 2);
	assert_null(state_find(st, "b"));
	assert_non_null(state_find(st, "a"));
	assert_non_null(state_find(st, "c"));
	/* an empty mailbox proves everything gone */
	assert_int_equal(plan_prune(st, NULL, 0, true), 2);
	assert_int_equal(state_count(st), 0);
	assert_int_equal(plan_prune(NULL, full, 2, true), 0);
	state_free(st);
}

/* When a batch is committed: a table of (messages, octets, age, final
 * at once) -> due (docs/contract.md §6, group commit). */
static void
test_batch_due(void **state)
{
	static const struct {
		struct plan_batch b;
		bool due;
	} t[] = {
	    {{0, 0, 0, false}, false},
	    {{0, 0, 5000, true}, false}, /* nothing to commit */
	    {{1, 4096, 0, true}, true},	 /* an MDA: every message */
	    {{1, 4096, 0, false}, false},
	    {{49, 49 * 4096, 10, false}, false}, /* not a fixed count */
	    {{51, 51 * 4096, 10, false}, false},
	    {{PLAN_BATCH_MAX_MSGS - 1, 255 * 4096, 999, false}, false},
	    {{PLAN_BATCH_MAX_MSGS, 256 * 4096, 0, false}, true},
	    {{2, PLAN_BATCH_MAX_BYTES - 1, 0, false}, false},
	    {{2, PLAN_BATCH_MAX_BYTES, 0, false}, true},
	    {{1, 10, PLAN_BATCH_MAX_MS - 1, false}, false},
	    {{1, 10, PLAN_BATCH_MAX_MS, false}, true}, /* a slow link */
	};
	size_t k;

	(void)state;
	for (k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
		if (plan_batch_due(&t[k].b) != t[k].due)
			fail_msg("row %zu: want due=%d", k, (int)t[k].due);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rules),
	    cmocka_unit_test(test_duplicate_marks),
	    cmocka_unit_test(test_prune),
	    cmocka_unit_test(test_batch_due),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
