/*
 * fuzz-import.c: the mpop, fetchmail and getmail6 state parsers.
 *
 * Byte 0 picks the format (value % 3: mpop, fetchmail, getmail) and, with
 * bit 2, gives the parser an account hint; the rest is the file. getmail
 * files are named oldmail-pop.example.org-995-fuzz. A failed parse must be
 * PF_EDATA with a message and must not have called back. A successful one
 * must yield only valid entries (UID of 1 to 70 printable characters,
 * names without control bytes), and writing them out again in the same
 * format must parse back to the same entries.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "popfetch/err.h"
#include "popfetch/import.h"
#include "popfetch/xmalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define GM_NAME "oldmail-pop.example.org-995-fuzz"

/* The entries of one parse, copied. */
struct got {
	char **user, **host, **uid;
	unsigned *port;
	time_t *time;
	size_t n;
};

/* Stop with a message the crash report will show. */
static void
fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz-import: %s: %s\n", what, detail);
	abort();
}

/* Check one entry and keep a copy. */
static int
take(void *ctx, const struct import_entry *e, struct pf_err *err)
{
	struct got *g = ctx;
	size_t i, n = strlen(e->uid);

	(void)err;
	if (n == 0 || n > IMPORT_UID_MAX)
		fail("UID length out of range", e->uid);
	for (i = 0; i < n; i++)
		if (e->uid[i] < 0x21 || e->uid[i] > 0x7e)
			fail("UID byte outside 0x21-0x7e", e->uid);
	if (e->user[0] == '\0' || e->host[0] == '\0')
		fail("empty user or host", e->uid);
	for (i = 0; e->user[i] != '\0'; i++)
		if ((unsigned char)e->user[i] < 0x20)
			fail("control byte in a user name", e->uid);
	g->user = xreallocarray(g->user, g->n + 1, sizeof(char *));
	g->host = xreallocarray(g->host, g->n + 1, sizeof(char *));
	g->uid = xreallocarray(g->uid, g->n + 1, sizeof(char *));
	g->port = xreallocarray(g->port, g->n + 1, sizeof(unsigned));
	g->time = xreallocarray(g->time, g->n + 1, sizeof(time_t));
	g->user[g->n] = xstrdup(e->user);
	g->host[g->n] = xstrdup(e->host);
	g->uid[g->n] = xstrdup(e->uid);
	g->port[g->n] = e->port;
	g->time[g->n] = e->time;
	g->n++;
	return 0;
}

/* Free a copy. */
static void
got_free(struct got *g)
{
	size_t i;

	for (i = 0; i < g->n; i++) {
		free(g->user[i]);
		free(g->host[i]);
		free(g->uid[i]);
	}
	free(g->user);
	free(g->host);
	free(g->uid);
	free(g->port);
	free(g->time);
	memset(g, 0, sizeof(*g));
}

/* Append to a growing buffer. */
static void
add(char **b, size_t *len, const char *s, size_t n)
{
	*b = xreallocarray(*b, *len + n + 1, 1);
	memcpy(*b + *len, s, n);
	*len += n;
}

/* Write the entries out again in format fmt. */
static char *
rewrite(enum import_format fmt, const struct got *g, size_t *len)
{
	char *b = NULL, num[64];
	size_t i, j;
	int k;

	*len = 0;
	add(&b, len, "", 0);
	for (i = 0; i < g->n; i = j) {
		for (j = i + 1; fmt == IMPORT_MPOP && j < g->n &&
		     strcmp(g->user[j], g->user[i]) == 0 &&
		     strcmp(g->host[j], g->host[i]) == 0;
		     j++)
			;
		if (fmt != IMPORT_MPOP)
			j = i + 1;
		if (fmt == IMPORT_MPOP) {
			k = snprintf(num, sizeof(num), " %zu ", j - i);
			add(&b, len, num, (size_t)k);
			add(&b, len, g->host[i], strlen(g->host[i]));
			add(&b, len, " ", 1);
			add(&b, len, g->user[i], strlen(g->user[i]));
			add(&b, len, "\n", 1);
		}
		for (size_t m = i; m < j; m++) {
			if (fmt == IMPORT_FETCHMAIL) {
				add(&b, len, g->user[m], strlen(g->user[m]));
				add(&b, len, "@", 1);
				add(&b, len, g->host[m], strlen(g->host[m]));
				add(&b, len, " ", 1);
			}
			add(&b, len, g->uid[m], strlen(g->uid[m]));
			if (fmt == IMPORT_GETMAIL) {
				k = snprintf(num, sizeof(num), "%c%lld", 0,
				    (long long)g->time[m]);
				add(&b, len, num, (size_t)k);
			}
			add(&b, len, "\n", 1);
		}
	}
	return b;
}

/* The libFuzzer entry point: one input, checked as described above. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct import_account hint = {
	    "fuzz", "pop.example.org", 995};
	enum import_format fmt;
	struct got g1, g2;
	struct pf_err err;
	const struct import_account *h;
	char *again;
	size_t len, i;

	if (size < 1)
		return 0;
	fmt = (enum import_format)(data[0] % 3);
	h = (data[0] & 4) != 0 ? &hint : NULL;
	memset(&g1, 0, sizeof(g1));
	memset(&g2, 0, sizeof(g2));
	pf_err_clear(&err);
	if (import_parse_buf(fmt, GM_NAME, (const char *)data + 1, size - 1, h,
		take, &g1, &err) < 0) {
		if (err.code != PF_EDATA || err.msg[0] == '\0')
			fail("failure without a PF_EDATA message", err.msg);
		if (g1.n != 0)
			fail("entries delivered from a failed parse", err.msg);
		got_free(&g1);
		return 0;
	}
	again = rewrite(fmt, &g1, &len);
	if (import_parse_buf(fmt, GM_NAME, again, len, h, take, &g2, &err) < 0)
		fail("entries written out again do not parse", err.msg);
	if (g2.n != g1.n)
		fail("round trip changed the number of entries", GM_NAME);
	for (i = 0; i < g1.n; i++)
		if (strcmp(g1.user[i], g2.user[i]) != 0 ||
		    strcmp(g1.host[i], g2.host[i]) != 0 ||
		    strcmp(g1.uid[i], g2.uid[i]) != 0 ||
		    g1.port[i] != g2.port[i] || g1.time[i] != g2.time[i])
			fail("round trip changed an entry", g1.uid[i]);
	free(again);
	got_free(&g1);
	got_free(&g2);
	return 0;
}
