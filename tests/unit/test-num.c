/* test-num.c: the one decimal parser: strictness, bounds, overflow. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <limits.h>
#include <stdint.h>

#include <cmocka.h>

#include "popfetch/num.h"

/* Numbers: digits only, leading zeros fine, overflow and max rejected. */
static void
test_parse_num(void **state)
{
	unsigned long long v;
	const char *end;

	(void)state;
	assert_int_equal(num_parse("0", &end, 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(num_parse("007 x", &end, 10, &v), 0);
	assert_int_equal(v, 7);
	assert_string_equal(end, " x");
	assert_int_equal(num_parse("11", &end, 10, &v), -1);
	assert_int_equal(num_parse("10", &end, 10, &v), 0);
	assert_int_equal(num_parse("+1", &end, 10, &v), -1);
	assert_int_equal(num_parse("-1", &end, 10, &v), -1);
	assert_int_equal(num_parse(" 1", &end, 10, &v), -1);
	assert_int_equal(num_parse("", &end, 10, &v), -1);
	assert_int_equal(
	    num_parse("18446744073709551615", &end, ULLONG_MAX, &v), 0);
	assert_true(v == ULLONG_MAX);
	assert_int_equal(
	    num_parse("18446744073709551616", &end, ULLONG_MAX, &v), -1);
	assert_int_equal(
	    num_parse("99999999999999999999999", &end, ULLONG_MAX, &v), -1);
}

/* The whole string must be the number. */
static void
test_parse_all(void **state)
{
	unsigned long long v;

	(void)state;
	assert_int_equal(num_parse_all("64", 64, &v), 0);
	assert_int_equal(v, 64);
	assert_int_equal(num_parse_all("65", 64, &v), -1);
	assert_int_equal(num_parse_all("6 ", 64, &v), -1);
	assert_int_equal(num_parse_all("", 64, &v), -1);
	assert_int_equal(num_parse_all("+6", 64, &v), -1);
	assert_int_equal(num_parse_all("0x6", 64, &v), -1);
	assert_int_equal(num_parse_all(NULL, 64, &v), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_num),
	    cmocka_unit_test(test_parse_all),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
