/*
 * test-summary.c: the per-account summary line and the --json document:
 * exact text, escapes, bytes that are not UTF-8, a one-off account, and
 * the exit code of each account through the caller's mapping.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "popfetch/summary.h"
#include "popfetch/xmalloc.h"

/* A stand-in for main.c's sysexits mapping. */
static int
exit_of(enum pf_errc code)
{
	return 100 + (int)code;
}

static void
test_line(void **state)
{
	struct fetch_stats st;
	char buf[128];

	(void)state;
	memset(&st, 0, sizeof(st));
	summary_line(buf, sizeof(buf), &st);
	assert_string_equal(
	    buf, "0 new, 0 delivered, 0 deleted, 0 left, 0 B, 0.0 s");
	st.fresh = 12;
	st.fetched = 10;
	st.deleted = 9;
	st.left = 3;
	st.bytes = 1536;
	st.seconds = 2.25;
	summary_line(buf, sizeof(buf), &st);
	assert_string_equal(
	    buf, "12 new, 10 delivered, 9 deleted, 3 left, 1.5 KiB, 2.2 s");
	st.bytes = 5ULL * 1024 * 1024 * 1024;
	summary_line(buf, sizeof(buf), &st);
	assert_non_null(strstr(buf, ", 5.0 GiB, "));
}

static void
test_json(void **state)
{
	char work[] = "work", host[] = "pop.example.com", user[] = "al\"ice\\";
	char host2[] = "h\tx", user2[] = "u";
	struct account a[2];
	struct runner_result r[2];
	char *doc;

	(void)state;
	memset(a, 0, sizeof(a));
	memset(r, 0, sizeof(r));
	a[0].name = work;
	a[0].host = host;
	a[0].user = user;
	r[0].st.listed = 5;
	r[0].st.fresh = 4;
	r[0].st.fetched = 3;
	r[0].st.bytes = 1234;
	r[0].st.deleted = 3;
	r[0].st.left = 2;
	r[0].st.skipped = 1;
	r[0].st.seconds = 1.5;
	a[0].sink = SINK_LMTP; /* final at each message: bound 1 */
	a[1].name = NULL;      /* a one-off account */
	a[1].host = host2;
	a[1].user = user2;
	r[1].ret = -1;
	pf_err_set(&r[1].err, PF_ETEMP, "bad \xff byte, caf\xc3\xa9");
	doc = summary_json(a, r, 2, 75, exit_of);
	assert_string_equal(doc,
	    "{\"version\":\"" POPFETCH_VERSION "\",\"exit_code\":75,"
	    "\"accounts\":[{\"account\":\"work\",\"host\":\"pop.example.com\","
	    "\"user\":\"al\\\"ice\\\\\",\"listed\":5,\"new\":4,\"fetched\":3,"
	    "\"bytes\":1234,\"deleted\":3,\"left\":2,\"skipped\":1,"
	    "\"errors\":0,\"target\":\"lmtp\",\"crash_redelivery_max\":1,"
	    "\"seconds\":1.500,\"exit_code\":0,\"error\":null},"
	    "{\"account\":null,\"host\":\"h\\u0009x\",\"user\":\"u\","
	    "\"listed\":0,\"new\":0,\"fetched\":0,\"bytes\":0,\"deleted\":0,"
	    "\"left\":0,\"skipped\":0,\"errors\":1,\"target\":\"none\","
	    "\"crash_redelivery_max\":0,\"seconds\":0.000,"
	    "\"exit_code\":107,\"error\":\"bad \\ufffd byte, caf\xc3\xa9\"}"
	    "]}\n");
	free(doc);
	/* no accounts at all */
	doc = summary_json(a, r, 0, 0, exit_of);
	assert_string_equal(doc,
	    "{\"version\":\"" POPFETCH_VERSION
	    "\",\"exit_code\":0,\"accounts\":[]}\n");
	free(doc);
}

/* Truncated and overlong UTF-8 sequences become U+FFFD, byte by byte. */
static void
test_json_utf8(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	    {"\xe2\x82\xac", "\xe2\x82\xac"},
	    {"\xe2\x82", "\\ufffd\\ufffd"},
	    {"\xc0\xaf", "\\ufffd\\ufffd"},
	    {"\xed\xa0\x80", "\\ufffd\\ufffd\\ufffd"},
	    {"\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"},
	    {"\xf4\x90\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd"},
	    {"\x7f", "\\u007f"},
	};
	struct account a;
	struct runner_result r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *doc, *want;

		memset(&a, 0, sizeof(a));
		memset(&r, 0, sizeof(r));
		a.name = (char *)(uintptr_t)cases[i].in;
		doc = summary_json(&a, &r, 1, 0, exit_of);
		want = xasprintf("\"account\":\"%s\"", cases[i].out);
		if (strstr(doc, want) == NULL)
			fail_msg("case %zu: %s", i, doc);
		free(want);
		free(doc);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_line),
	    cmocka_unit_test(test_json),
	    cmocka_unit_test(test_json_utf8),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
