/*
 * fuzz-mboxrd.c: the streaming mboxrd quoter over random chunking.
 *
 * Input: byte 0 gives n (0..31), the next n bytes are chunk sizes (0 is
 * taken as 1: a zero-length call means "flush"), the rest is a message.
 * Checks: the chunked output equals a line-at-a-time reference quoter,
 * every call stays within its 2 * len + 16 output bound, and unquoting
 * the output with a reference unquoter gives the input back (round trip).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "popfetch/mboxrd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* True when line[0..len) matches ^>*From (min_gt '>' at least). */
static bool
from_line(const char *line, size_t len, size_t min_gt)
{
	size_t i = 0;

	while (i < len && line[i] == '>')
		i++;
	return i >= min_gt && len - i >= 5 && memcmp(line + i, "From ", 5) == 0;
}

/* Reference quoting: one more '>' on each ^>*From line. */
static size_t
ref_quote(const char *in, size_t len, char *out)
{
	size_t pos = 0, o = 0, n;
	const char *nl;

	while (pos < len) {
		nl = memchr(in + pos, '\n', len - pos);
		n = nl != NULL ? (size_t)(nl - (in + pos)) + 1 : len - pos;
		if (from_line(in + pos, n, 0))
			out[o++] = '>';
		memcpy(out + o, in + pos, n);
		o += n;
		pos += n;
	}
	return o;
}

/* Reference unquoting: one '>' less on each ^>+From line. */
static size_t
ref_unquote(const char *in, size_t len, char *out)
{
	size_t pos = 0, o = 0, n;
	const char *nl;

	while (pos < len) {
		nl = memchr(in + pos, '\n', len - pos);
		n = nl != NULL ? (size_t)(nl - (in + pos)) + 1 : len - pos;
		if (from_line(in + pos, n, 1)) {
			memcpy(out + o, in + pos + 1, n - 1);
			o += n - 1;
		} else {
			memcpy(out + o, in + pos, n);
			o += n;
		}
		pos += n;
	}
	return o;
}

/* Stop with a message the crash report will show. */
static void
fail(const char *what, size_t a, size_t b)
{
	fprintf(stderr, "fuzz-mboxrd: %s (%zu vs %zu)\n", what, a, b);
	abort();
}

/* The libFuzzer entry point: one input, checked as described above. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *sizes;
	const char *msg;
	char *acc, *ref, *back, *out;
	size_t nsizes, mlen, pos = 0, k = 0, chunk, n, total = 0, rlen, blen;
	int st = 0;

	if (size < 1)
		return 0;
	nsizes = data[0] % 32;
	if (size < 1 + nsizes)
		return 0;
	sizes = data + 1;
	msg = (const char *)data + 1 + nsizes;
	mlen = size - 1 - nsizes;

	/* Each '>'-quoted line grows by one byte at most: 2x is plenty. */
	acc = malloc(2 * mlen + 16);
	ref = malloc(2 * mlen + 16);
	back = malloc(2 * mlen + 16);
	if (acc == NULL || ref == NULL || back == NULL)
		abort();
	while (pos < mlen) {
		chunk = nsizes == 0 ? mlen - pos : sizes[k++ % nsizes];
		if (chunk == 0)
			chunk = 1;
		if (chunk > mlen - pos)
			chunk = mlen - pos;
		if ((out = malloc(2 * chunk + 16)) == NULL)
			abort();
		n = mboxrd_quote(&st, msg + pos, chunk, out);
		if (n > 2 * chunk + 16)
			fail("output over its bound", n, 2 * chunk + 16);
		if (total + n > 2 * mlen + 16)
			fail("total output too long", total + n, 2 * mlen);
		memcpy(acc + total, out, n);
		total += n;
		free(out);
		pos += chunk;
	}
	/* The flush call: at most 4 held bytes come out. */
	if ((out = malloc(16)) == NULL)
		abort();
	n = mboxrd_quote(&st, NULL, 0, out);
	if (n > 4)
		fail("flush gave more than 4 bytes", n, 4);
	if (st != 0)
		fail("flush did not reset the state", (size_t)st, 0);
	memcpy(acc + total, out, n);
	total += n;
	free(out);

	rlen = ref_quote(msg, mlen, ref);
	if (total != rlen)
		fail("quoted length differs from the reference", total, rlen);
	if (memcmp(acc, ref, total) != 0)
		fail("quoted bytes differ from the reference", total, rlen);
	blen = ref_unquote(acc, total, back);
	if (blen != mlen || memcmp(back, msg, mlen) != 0)
		fail("unquote(quote(x)) != x", blen, mlen);
	free(acc);
	free(ref);
	free(back);
	return 0;
}
