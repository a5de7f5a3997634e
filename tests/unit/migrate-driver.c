/*
 * migrate-driver.c: what test-migrate-config.sh needs beyond popfetch's
 * own --convert-config and --show-config: the password of each converted
 * account, compared as a hash (--show-config masks it).
 *
 *   migrate-driver resolve CONFIG [ACCOUNT]...
 *       load a popfetchrc and print every account's effective settings,
 *       one "ACCOUNT key value" line each (a password as a hash only)
 *
 * Exit status: 0, or 1 with the error on standard error.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "popfetch/auth.h"
#include "popfetch/config.h"
#include "popfetch/err.h"
#include "popfetch/log.h"
#include "popfetch/sink.h"
#include "popfetch/xmalloc.h"

/* Print the error and return 1. */
static int
failed(const struct pf_err *err)
{
	fprintf(stderr, "migrate-driver: %s\n", err->msg);
	return 1;
}

/* FNV-1a, so a password can be compared without being shown. */
static uint32_t
fnv(const char *s)
{
	uint32_t h = 2166136261U;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619U;
	return h;
}

/* Print the effective settings of one account. */
static void
show(const char *n, const struct account *a)
{
	static const char *const tls[] = {"on", "starttls", "off"};
	static const char *const sinks[] = {
	    "none", "maildir", "mbox", "mda", "stdout"};

	printf("%s host %s\n%s port %s\n", n, a->host, n, account_port(a));
	printf("%s user %s\n", n, a->user != NULL ? a->user : "-");
	printf("%s tls %s\n", n, tls[a->tls]);
	printf("%s ca_file %s\n", n, a->ca_file != NULL ? a->ca_file : "-");
	printf("%s fingerprint %s\n", n,
	    a->fingerprint != NULL ? a->fingerprint : "-");
	printf("%s cert %s\n", n, a->cert_file != NULL ? a->cert_file : "-");
	printf("%s key %s\n", n, a->key_file != NULL ? a->key_file : "-");
	printf("%s tls_min 1.%d\n", n, a->tls_min - 10);
	printf("%s insecure %s\n", n, a->insecure ? "on" : "off");
	printf("%s auth %s\n", n, auth_mech_names[a->auth]);
	printf("%s password_command %s\n", n,
	    a->password_command != NULL ? a->password_command : "-");
	if (a->password != NULL)
		printf("%s password fnv-%08x\n", n, (unsigned)fnv(a->password));
	else
		printf("%s password -\n", n);
	printf("%s timeout %d\n", n, a->timeout);
	printf("%s delivery %s %s\n", n, sinks[a->sink],
	    a->sink_path != NULL ? a->sink_path : "-");
	printf("%s no_received %s\n", n, a->no_received ? "on" : "off");
	printf("%s keep %s\n", n, a->keep ? "on" : "off");
	printf("%s all %s\n", n, a->fetch_all ? "on" : "off");
	printf("%s max_size %llu\n", n, a->max_size);
	printf("%s kill_size %llu\n", n, a->kill_size);
	printf("%s limit %lu\n", n, a->limit);
}

/* resolve CONFIG [ACCOUNT]... */
static int
do_resolve(int ac, char **av)
{
	struct config cfg;
	struct account a;
	struct pf_err err;
	int i;

	if (config_load(av[0], true, &cfg, &err) < 0)
		return failed(&err);
	if (cfg.default_name != NULL)
		printf("- default %s\n", cfg.default_name);
	for (i = 0; i < (ac > 1 ? ac - 1 : (int)cfg.naccounts); i++) {
		const char *n = ac > 1 ? av[i + 1] : cfg.accounts[i].name;

		if (config_resolve(&cfg, n, NULL, true, &a, &err) < 0) {
			config_free(&cfg);
			return failed(&err);
		}
		show(n, &a);
		account_free(&a);
	}
	config_free(&cfg);
	return 0;
}

int
main(int argc, char **argv)
{
	log_init(0, false);
	if (argc >= 3 && strcmp(argv[1], "resolve") == 0)
		return do_resolve(argc - 2, argv + 2);
	fprintf(stderr, "usage: migrate-driver resolve CONFIG [ACCOUNT]...\n");
	return 64;
}
