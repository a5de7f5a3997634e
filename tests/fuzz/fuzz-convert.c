/*
 * fuzz-convert.c: --convert-config on hostile mpop and fetchmail files.
 *
 * Byte 0 picks the source (even: mpop, odd: fetchmail), the rest is the
 * file. A failed conversion must be PF_ECONFIG with a message. A
 * successful one must be text that popfetch's own config parser loads
 * (written to a private 0600 file under /dev/shm, else $TMPDIR or /tmp),
 * and every account in it must resolve or fail with a message.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "popfetch/config.h"
#include "popfetch/convert.h"
#include "popfetch/err.h"
#include "popfetch/log.h"

#include "scratch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_path[300];

/* The input's file, in the target's scratch directory. */
static void
setup(void)
{
	if (fuzz_path[0] == '\0')
		snprintf(fuzz_path, sizeof(fuzz_path), "%s/config",
		    fuzz_scratch("convert"));
}

/* Stop with a message the crash report will show. */
static void
fail(const char *what, const char *detail, const char *text)
{
	fprintf(stderr, "fuzz-convert: %s: %s\n--- output:\n%s\n", what, detail,
	    text != NULL ? text : "");
	abort();
}

/* Load the converted text and resolve every account. */
static void
check_loads(const char *text, size_t len)
{
	struct config cfg;
	struct account a;
	struct pf_err err;
	size_t i;

	fuzz_scratch_write(fuzz_path, text, len);
	pf_err_clear(&err);
	if (config_load(fuzz_path, true, &cfg, &err) == -1)
		fail("converted text does not load", err.msg, text);
	for (i = 0; i < cfg.naccounts; i++) {
		pf_err_clear(&err);
		if (config_resolve(&cfg, cfg.accounts[i].name, NULL, true, &a,
			&err) == -1) {
			if (err.msg[0] == '\0')
				fail("resolve failed without a message",
				    cfg.accounts[i].name, text);
			continue;
		}
		account_free(&a);
	}
	config_free(&cfg);
}

/* The libFuzzer entry point: one input, checked as described above. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct convert_opts o = {"fuzzer"};
	struct pf_err err;
	char *text = NULL;
	size_t len = 0;

	if (size < 1)
		return 0;
	setup();
	pf_err_clear(&err);
	if (convert_buf((data[0] & 1) != 0 ? CONVERT_FETCHMAIL : CONVERT_MPOP,
		"fuzz.rc", (const char *)data + 1, size - 1, &o, &text, &len,
		&err) == -1) {
		if (err.code != PF_ECONFIG || err.msg[0] == '\0')
			fail("failure without a PF_ECONFIG message", err.msg,
			    NULL);
		return 0;
	}
	if (text == NULL || strlen(text) != len)
		fail("output length", "strlen differs", text);
	check_loads(text, len);
	convert_free(text, len);
	return 0;
}
