/*
 * test-authorize.c: --authorize refused before any flow (not one
 * account, no user) and the prompt texts of the device and browser flows.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "popfetch/authorize.h"

static void
prompt(void *ctx, const char *url, const char *code, const char *complete)
{
	(void)ctx;
	(void)url;
	(void)code;
	(void)complete;
	fail_msg("no flow may start");
}

/* Not one account, or one without a user: refused before the flow. */
static void
test_refused(void **state)
{
	char host[] = "pop.example.com", name[] = "work", provider[] = "google";
	struct oauth_ui ui = {prompt, NULL, NULL, NULL};
	struct account a[2];
	struct pf_err err;
	char *path = NULL;

	(void)state;
	memset(a, 0, sizeof(a));
	a[0].host = a[1].host = host;
	a[0].oauth2_provider = provider;
	assert_int_equal(
	    authorize_account(a, 2, CLI_AUTHORIZE_DEFAULT, &ui, &path, &err),
	    -1);
	assert_int_equal(err.code, PF_EUSAGE);
	assert_string_equal(err.msg, "--authorize takes one account");
	assert_int_equal(
	    authorize_account(NULL, 0, CLI_AUTHORIZE_DEVICE, &ui, &path, &err),
	    -1);
	assert_int_equal(err.code, PF_EUSAGE);

	assert_int_equal(
	    authorize_account(a, 1, CLI_AUTHORIZE_DEFAULT, &ui, &path, &err),
	    -1);
	assert_int_equal(err.code, PF_ECONFIG);
	assert_string_equal(err.msg,
	    "account 'pop.example.com' has no user: set user, then run "
	    "popfetch --authorize again");
	a[0].name = name;
	assert_int_equal(
	    authorize_account(a, 1, CLI_AUTHORIZE_BROWSER, &ui, &path, &err),
	    -1);
	assert_string_equal(err.msg,
	    "account 'work' has no user: set user, then run popfetch "
	    "--authorize again");
	assert_null(path);
}

/* The device flow with and without a complete URL; the browser flow. */
static void
test_prompt(void **state)
{
	char host[] = "pop.example.com", name[] = "work";
	struct account a;
	char *text;

	(void)state;
	memset(&a, 0, sizeof(a));
	a.host = host;
	text = authorize_prompt(&a, "https://x/device", "ABCD-EFGH", NULL);
	assert_string_equal(text,
	    "To authorize popfetch for account 'pop.example.com', open on any "
	    "device\n  https://x/device\nand enter the code\n  ABCD-EFGH\n"
	    "Waiting for you to sign in...\n");
	free(text);
	a.name = name;
	text = authorize_prompt(
	    &a, "https://x/device", "ABCD-EFGH", "https://x/device?c=ABCD");
	assert_string_equal(text,
	    "To authorize popfetch for account 'work', open on any device\n"
	    "  https://x/device\nand enter the code\n  ABCD-EFGH\n"
	    "(or open https://x/device?c=ABCD, which holds the code)\n"
	    "Waiting for you to sign in...\n");
	free(text);
	text = authorize_prompt(&a, "https://x/auth?s=1", NULL, NULL);
	assert_string_equal(text,
	    "To authorize popfetch for account 'work', open in a browser on "
	    "this machine\n  https://x/auth?s=1\nWaiting for the browser to "
	    "come back...\n");
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_prompt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
