/*
 * test-progress.c: the progress bar: its text, byte counts for people,
 * at most five redraws a second except the first and the last, and
 * clearing it before another line.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "popfetch/progress.h"

static void
test_size(void **state)
{
	char b[32];

	(void)state;
	progress_size(b, sizeof(b), 0);
	assert_string_equal(b, "0 B");
	progress_size(b, sizeof(b), 1023);
	assert_string_equal(b, "1023 B");
	progress_size(b, sizeof(b), 1024);
	assert_string_equal(b, "1.0 KiB");
	progress_size(b, sizeof(b), 3.5 * 1024 * 1024);
	assert_string_equal(b, "3.5 MiB");
	progress_size(b, sizeof(b), 2048.0 * 1024 * 1024 * 1024 * 1024);
	assert_string_equal(b, "2048.0 TiB");
}

static void
test_format(void **state)
{
	struct fetch_progress p = {3, 10, 2048, 10240};
	char b[128];

	(void)state;
	progress_format(b, sizeof(b), "work", &p, 2.0);
	assert_string_equal(
	    b, "work: 3/10 messages, 2.0 KiB, 1.0 KiB/s ETA 8s");
	/* no rate yet: no ETA */
	progress_format(b, sizeof(b), "work", &p, 0.0);
	assert_string_equal(b, "work: 3/10 messages, 2.0 KiB, 0 B/s");
}

/* A time t seconds after 1000 s. */
static struct timespec
at(double t)
{
	struct timespec ts;

	ts.tv_sec = 1000 + (time_t)t;
	ts.tv_nsec = (long)((t - (double)(time_t)t) * 1e9);
	return ts;
}

static void
test_step(void **state)
{
	struct progress pb;
	struct fetch_progress p = {0, 4, 0, 400};
	struct timespec now;
	char line[128];

	(void)state;
	memset(&pb, 0, sizeof(pb));
	assert_null(progress_clear(&pb));
	now = at(0);
	assert_true(progress_step(&pb, "a", &p, &now, line, sizeof(line)));
	assert_string_equal(line, "\r\033[Ka: 0/4 messages, 0 B, 0 B/s");
	p.done = 1;
	p.bytes = 100;
	now = at(0.1); /* too soon */
	assert_false(progress_step(&pb, "a", &p, &now, line, sizeof(line)));
	now = at(0.3);
	assert_true(progress_step(&pb, "a", &p, &now, line, sizeof(line)));
	p.done = 4;
	p.bytes = 400;
	now = at(0.35); /* the last step is always drawn */
	assert_true(progress_step(&pb, "a", &p, &now, line, sizeof(line)));
	assert_non_null(strstr(line, "4/4 messages"));
	assert_string_equal(progress_clear(&pb), "\r\033[K");
	assert_null(progress_clear(&pb));
	/* a new account restarts the clock */
	p.done = 0;
	p.bytes = 0;
	now = at(10);
	assert_true(progress_step(&pb, "b", &p, &now, line, sizeof(line)));
	p.done = 1;
	p.bytes = 1024;
	now = at(11);
	assert_true(progress_step(&pb, "b", &p, &now, line, sizeof(line)));
	assert_non_null(strstr(line, "1.0 KiB/s"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_size),
	    cmocka_unit_test(test_format),
	    cmocka_unit_test(test_step),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
