/*
 * fuzz-state.c: loading a hostile seen-message state file.
 *
 * Byte 0 holds flags, the rest is the file. Flag 1: give each line a
 * valid CRC (so the fuzzer reaches the record parser); flag 2: put a
 * valid header line first; flag 4: leave the last line torn (no CRC, no
 * LF). The result is written as STATE_DIR/<state_account_file(id)>.state
 * and loaded. When it loads, the records must survive, unchanged, a
 * journal append (state_set + state_flush + reload) and a compaction
 * (state_compact + reload). A failed load must be PF_EDATA with a message.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "popfetch/err.h"
#include "popfetch/log.h"
#include "popfetch/state.h"

#include "scratch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ID	 "fuzz@pop.example.org:995"
#define FUZZ_UID "new uid%\x7f\xc3\xa9"

static const char *fuzz_dir;
static char *state_path;

/* The scratch directory, and the state file's path in it. */
static void
setup(void)
{
	char *name;
	size_t n;

	if (fuzz_dir != NULL)
		return;
	fuzz_dir = fuzz_scratch("state");
	name = state_account_file(FUZZ_ID);
	n = strlen(fuzz_dir) + strlen(name) + 16;
	if ((state_path = malloc(n)) == NULL)
		abort();
	snprintf(state_path, n, "%s/%s.state", fuzz_dir, name);
	free(name);
}

/* Stop with a message the crash report will show. */
static void
fail(const char *what)
{
	fprintf(stderr, "fuzz-state: %s\n", what);
	abort();
}

/* The zlib CRC-32, written independently of state.c. */
static uint32_t
crc32_ref(const char *p, size_t n)
{
	uint32_t c = 0xffffffffU;
	size_t i;
	int k;

	for (i = 0; i < n; i++) {
		c ^= (unsigned char)p[i];
		for (k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0xedb88320U : c >> 1;
	}
	return c ^ 0xffffffffU;
}

/* A growing output buffer for the file image. */
struct img {
	char *p;
	size_t len, cap;
};

/* Append n bytes to the image. */
static void
img_add(struct img *b, const void *s, size_t n)
{
	if (n == 0)
		return;
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 64;
		if ((b->p = realloc(b->p, b->cap)) == NULL)
			abort();
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

/* Append a line with its " xxxxxxxx" CRC and LF. */
static void
img_line(struct img *b, const char *s, size_t n)
{
	char crc[16];

	img_add(b, s, n);
	snprintf(crc, sizeof(crc), " %08lx\n", (unsigned long)crc32_ref(s, n));
	img_add(b, crc, 10);
}

/* Build the file image from the flags and the payload. */
static void
build(struct img *b, unsigned flags, const char *p, size_t len)
{
	const char *nl;
	char *esc, *hdr;
	size_t n, hlen;

	if (flags & 2) {
		esc = state_escape(FUZZ_ID, strlen(FUZZ_ID));
		hlen = strlen(esc) + 32;
		if ((hdr = malloc(hlen)) == NULL)
			abort();
		snprintf(hdr, hlen, "popfetch-state 1 %s", esc);
		img_line(b, hdr, strlen(hdr));
		free(hdr);
		free(esc);
	}
	if (!(flags & 1)) {
		img_add(b, p, len);
		return;
	}
	while (len > 0) {
		nl = memchr(p, '\n', len);
		if (nl == NULL && (flags & 4)) {
			img_add(b, p, len);
			return;
		}
		n = nl != NULL ? (size_t)(nl - p) : len;
		img_line(b, p, n);
		if (nl == NULL)
			return;
		len -= n + 1;
		p = nl + 1;
	}
}

/* A copy of one record, for comparing states. */
struct snap_rec {
	char *uid;
	unsigned long long size;
	long long first_seen;
	char kind;
};

struct snap {
	struct snap_rec *v;
	size_t n, cap;
	long long last_login;
};

/* state_foreach callback: copy one record. */
static void
snap_add(void *ctx, const struct state_rec *r)
{
	struct snap *s = ctx;

	if (s->n == s->cap) {
		s->cap = s->cap * 2 + 16;
		if ((s->v = realloc(s->v, s->cap * sizeof(*s->v))) == NULL)
			abort();
	}
	if ((s->v[s->n].uid = strdup(r->uid)) == NULL)
		abort();
	s->v[s->n].size = r->size;
	s->v[s->n].first_seen = (long long)r->first_seen;
	s->v[s->n].kind = r->kind;
	s->n++;
}

/* Order records by UID. */
static int
rec_cmp(const void *a, const void *b)
{
	return strcmp(((const struct snap_rec *)a)->uid,
	    ((const struct snap_rec *)b)->uid);
}

/* Take a sorted snapshot of st and check state_find agrees with it. */
static void
snap_take(const struct state *st, struct snap *s)
{
	const struct state_rec *r;
	size_t i;

	memset(s, 0, sizeof(*s));
	state_foreach(st, snap_add, s);
	if (s->n != state_count(st))
		fail("state_foreach and state_count disagree");
	if (s->n > 1)
		qsort(s->v, s->n, sizeof(*s->v), rec_cmp);
	for (i = 0; i < s->n; i++) {
		if (i > 0 && strcmp(s->v[i - 1].uid, s->v[i].uid) == 0)
			fail("a UID appears twice");
		if (s->v[i].kind != STATE_DELIVERED &&
		    s->v[i].kind != STATE_KEPT)
			fail("record of an unknown kind");
		r = state_find(st, s->v[i].uid);
		if (r == NULL || r->size != s->v[i].size)
			fail("state_find misses a record");
	}
	s->last_login = (long long)state_last_login(st);
}

/* Free a snapshot. */
static void
snap_free(struct snap *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->v[i].uid);
	free(s->v);
}

/* Two snapshots must hold the same records. */
static void
snap_same(const struct snap *a, const struct snap *b, const char *when)
{
	size_t i;

	if (a->n != b->n || a->last_login != b->last_login) {
		fprintf(stderr,
		    "fuzz-state: after %s: %zu records, login %lld;"
		    " reloaded %zu records, login %lld\n",
		    when, a->n, a->last_login, b->n, b->last_login);
		abort();
	}
	for (i = 0; i < a->n; i++)
		if (strcmp(a->v[i].uid, b->v[i].uid) != 0 ||
		    a->v[i].size != b->v[i].size ||
		    a->v[i].first_seen != b->v[i].first_seen ||
		    a->v[i].kind != b->v[i].kind) {
			fprintf(stderr,
			    "fuzz-state: after %s: record '%s' "
			    "changed\n",
			    when, a->v[i].uid);
			abort();
		}
}

/* Load the state that must load now, and compare it with want. */
static void
reload_same(const struct snap *want, const char *when)
{
	struct state *st;
	struct pf_err err;
	struct snap got;

	if ((st = state_load(fuzz_dir, FUZZ_ID, &err)) == NULL) {
		fprintf(stderr, "fuzz-state: reload after %s failed: %s\n",
		    when, err.msg);
		abort();
	}
	snap_take(st, &got);
	snap_same(want, &got, when);
	snap_free(&got);
	state_free(st);
}

/* The libFuzzer entry point: one input, checked as described above. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct img b = {NULL, 0, 0};
	struct state *st;
	struct pf_err err;
	struct snap s;

	if (size < 1)
		return 0;
	setup();
	build(&b, data[0], (const char *)data + 1, size - 1);
	fuzz_scratch_write(state_path, b.p, b.len);
	free(b.p);

	pf_err_clear(&err);
	if ((st = state_load(fuzz_dir, FUZZ_ID, &err)) == NULL) {
		if (err.code != PF_EDATA || err.msg[0] == '\0') {
			fprintf(stderr, "fuzz-state: load failed: %d %s\n",
			    (int)err.code, err.msg);
			abort();
		}
		fuzz_scratch_clear();
		return 0;
	}
	/* A journal append on top of what was read (torn tail cut). */
	state_set(st, FUZZ_UID, 12345, (time_t)1700000000, STATE_KEPT);
	snap_take(st, &s);
	if (state_flush(st, &err) == -1)
		fail("state_flush failed");
	state_free(st);
	reload_same(&s, "flush");
	snap_free(&s);

	if ((st = state_load(fuzz_dir, FUZZ_ID, &err)) == NULL)
		fail("second load failed");
	state_forget(st, FUZZ_UID);
	snap_take(st, &s);
	if (state_compact(st, &err) == -1)
		fail("state_compact failed");
	state_free(st);
	reload_same(&s, "compact");
	snap_free(&s);
	fuzz_scratch_clear();
	return 0;
}
