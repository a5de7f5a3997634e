/*
 * fuzz-config.c: the config file parser, account resolution,
 * --show-config and the config warnings.
 *
 * The input is written to a file in a private temp dir (under /dev/shm
 * when it exists, else $TMPDIR or /tmp) with mode 0600, loaded with
 * config_load(), and every account it defines (and the default one) is
 * resolved with config_resolve() and shown with config_show(); then
 * config_lint() runs over the whole file. A failure must leave an error
 * message; a resolved account must hold what the contract requires; a
 * shown account is one "# account" line and "key value  # origin" lines
 * that never hold the password.
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
		    fuzz_scratch("config"));
}

/* Stop with a message the crash report will show. */
static void
fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz-config: %s: %s\n", what, detail);
	abort();
}

/* Resolve one account and check what a valid account must hold. */
static void
resolve(const struct config *cfg, const char *name, bool probe_only)
{
	struct account a;
	struct pf_err err;
	char *id;

	pf_err_clear(&err);
	if (config_resolve(cfg, name, NULL, probe_only, &a, &err) == -1) {
		if (err.code == PF_OK || err.msg[0] == '\0')
			fail("config_resolve failed without an error",
			    name != NULL ? name : "(null)");
		return;
	}
	if (a.host == NULL || a.host[0] == '\0')
		fail("resolved account without a host", name);
	if (!probe_only &&
	    (a.user == NULL || a.user[0] == '\0' || a.sink == SINK_NONE ||
		a.state_dir == NULL))
		fail("resolved account lacks a required field", name);
	if ((a.sink == SINK_MAILDIR || a.sink == SINK_MBOX ||
		a.sink == SINK_MDA) &&
	    (a.sink_path == NULL || a.sink_path[0] == '\0'))
		fail("delivery target without a path", name);
	if (a.timeout <= 0 || a.lock_wait <= 0 || a.mda_timeout <= 0)
		fail("non-positive time setting", name);
	if (!probe_only) {
		id = account_id(&a);
		if (id == NULL || strchr(id, '@') == NULL)
			fail("account_id without '@'", name);
		free(id);
	}
	if (account_port(&a) == NULL)
		fail("account_port returned NULL", name);
	account_free(&a);
}

/* Show one account: header line, then "key value  # origin" lines, and
 * never a password in clear. */
static void
show(const struct config *cfg, const char *name)
{
	struct account a;
	struct pf_err err;
	char *text = NULL, *line, *save = NULL;

	if (config_show(cfg, name, NULL, &text, &err) == -1) {
		if (err.code == PF_OK || err.msg[0] == '\0')
			fail("config_show failed without an error", name);
		return;
	}
	if (strncmp(text, "# account ", 10) != 0)
		fail("config_show without its header line", name);
	for (line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save))
		if (line[0] != '#' && strstr(line, "  # ") == NULL)
			fail("config_show line without an origin", line);
	free(text);
	if (config_show(cfg, name, NULL, &text, &err) == 0 &&
	    config_resolve(cfg, name, NULL, true, &a, &err) == 0) {
		if (a.password != NULL && a.password[0] != '\0' &&
		    strstr(text, a.password) != NULL &&
		    strstr(text, "password ********") == NULL)
			fail("config_show shows the password", name);
		account_free(&a);
	}
	free(text);
}

/* Count the warnings (a warning must have text). */
static void
on_warning(void *ctx, const char *msg)
{
	(void)ctx;
	if (msg == NULL || msg[0] == '\0')
		fail("config_lint warned without text", "");
}

/* The libFuzzer entry point: one input, checked as described above. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg;
	struct pf_err err;
	size_t i;

	setup();
	fuzz_scratch_write(fuzz_path, data, size);
	pf_err_clear(&err);
	if (config_load(fuzz_path, true, &cfg, &err) == -1) {
		if (err.code != PF_ECONFIG || err.msg[0] == '\0')
			fail("config_load failed without a PF_ECONFIG message",
			    err.msg);
		return 0;
	}
	for (i = 0; i < cfg.naccounts; i++) {
		if (config_find(&cfg, cfg.accounts[i].name) == NULL)
			fail("config_find misses a loaded account",
			    cfg.accounts[i].name);
		resolve(&cfg, cfg.accounts[i].name, false);
		resolve(&cfg, cfg.accounts[i].name, true);
		show(&cfg, cfg.accounts[i].name);
	}
	config_lint(&cfg, NULL, on_warning, NULL);
	if (cfg.default_name != NULL) {
		if (config_find(&cfg, cfg.default_name) == NULL)
			fail("default account not defined", cfg.default_name);
		resolve(&cfg, cfg.default_name, false);
	}
	config_free(&cfg);
	return 0;
}
