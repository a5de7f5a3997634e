/* test-tempcount.c: temporary failures in a row, per account. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "popfetch/tempcount.h"
#include "tmpdir.h"

/* Counting up, a reset, and separate accounts. */
static void
test_record(void **state)
{
	char dir[256], sub[300];

	(void)state;
	assert_int_equal(tmpdir_make(dir, sizeof(dir), "tempcount"), 0);
	snprintf(sub, sizeof(sub), "%s/state", dir);
	assert_int_equal(tempcount_record(sub, "a@h:995", true), 1);
	assert_int_equal(tempcount_record(sub, "a@h:995", true), 2);
	assert_int_equal(tempcount_record(sub, "b@h:995", true), 1);
	assert_int_equal(tempcount_record(sub, "a@h:995", true), 3);
	assert_int_equal(tempcount_record(sub, "a@h:995", false), 0);
	assert_int_equal(tempcount_record(sub, "a@h:995", false), 0);
	assert_int_equal(tempcount_record(sub, "a@h:995", true), 1);
	assert_int_equal(tempcount_record(sub, "b@h:995", true), 2);
	assert_int_equal(tmpdir_remove(dir), 0);
}

/* Quiet while below the threshold; 0 and 1 never quiet; -1 never. */
static void
test_quiet(void **state)
{
	(void)state;
	assert_true(tempcount_quiet(1, 3));
	assert_true(tempcount_quiet(2, 3));
	assert_false(tempcount_quiet(3, 3));
	assert_false(tempcount_quiet(4, 3));
	assert_false(tempcount_quiet(1, 1));
	assert_false(tempcount_quiet(1, 0));
	assert_false(tempcount_quiet(-1, 3));
}

/* After a run: only with quiet_temporary, and a signal is not counted. */
static void
test_after_run(void **state)
{
	char dir[256];
	char host[] = "h", user[] = "u", port[] = "995";
	struct runner_result r;
	struct account a;

	(void)state;
	assert_int_equal(tmpdir_make(dir, sizeof(dir), "tempcount"), 0);
	memset(&a, 0, sizeof(a));
	a.host = host;
	a.user = user;
	a.port = port;
	a.state_dir = dir;
	memset(&r, 0, sizeof(r));
	r.ret = -1;
	r.err.code = PF_ETEMP;
	assert_false(tempcount_after_run(&a, &r)); /* no quiet_temporary */
	a.quiet_temporary = 2;
	assert_true(tempcount_after_run(&a, &r)); /* 1st */
	r.interrupted = true;
	assert_false(tempcount_after_run(&a, &r)); /* not counted */
	r.interrupted = false;
	assert_false(tempcount_after_run(&a, &r)); /* 2nd: printed */
	r.ret = 0;
	r.err.code = PF_OK;
	assert_false(tempcount_after_run(&a, &r)); /* success resets */
	r.ret = -1;
	r.err.code = PF_ETEMP;
	assert_true(tempcount_after_run(&a, &r));
	r.err.code = PF_ENOPERM;
	assert_false(tempcount_after_run(&a, &r)); /* printed, resets */
	r.err.code = PF_ETEMP;
	assert_true(tempcount_after_run(&a, &r));
	assert_int_equal(tmpdir_remove(dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_record),
	    cmocka_unit_test(test_quiet),
	    cmocka_unit_test(test_after_run),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
