/*
 * fuzz-unstuff.c: differential fuzzing of the streaming body decoder.
 *
 * Input: byte 0 gives n (0..31), the next n bytes are chunk sizes used in
 * turn (0 is an empty chunk), the rest is the server's body bytes. The
 * body is fed to pop3_unstuff() in those chunks, each into an output
 * buffer of exactly len + 2 bytes (the documented bound), and the result
 * must equal a simple line-at-a-time reference decoder: same output, same
 * terminator position, all input consumed while not done.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "popfetch/pop3.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ref {
	char *out;
	size_t outlen;
	bool done;
	size_t end; /* input bytes up to and including the terminator */
};

/* The obvious decoder: split at LF, drop one CR, handle the dot. */
static void
ref_decode(const char *in, size_t len, struct ref *r)
{
	size_t pos = 0, n, c;
	const char *nl, *q;

	r->out = malloc(len + 1);
	if (r->out == NULL)
		abort();
	r->outlen = 0;
	r->done = false;
	r->end = len;
	while (pos < len) {
		nl = memchr(in + pos, '\n', len - pos);
		if (nl == NULL) {
			/* A partial last line: a leading dot and a final CR
			 * may still be held back by the decoder. */
			q = in + pos;
			n = len - pos;
			if (q[0] == '.') {
				q++;
				n--;
			}
			if (n > 0 && q[n - 1] == '\r')
				n--;
			memcpy(r->out + r->outlen, q, n);
			r->outlen += n;
			return;
		}
		c = (size_t)(nl - (in + pos));
		q = in + pos;
		if (c > 0 && q[c - 1] == '\r')
			c--;
		if (c == 1 && q[0] == '.') {
			r->done = true;
			r->end = (size_t)(nl - in) + 1;
			return;
		}
		if (c > 0 && q[0] == '.') {
			q++;
			c--;
		}
		memcpy(r->out + r->outlen, q, c);
		r->outlen += c;
		r->out[r->outlen++] = '\n';
		pos = (size_t)(nl - in) + 1;
	}
}

/* Report a difference with enough context to debug it, then crash. */
static void
mismatch(const char *what, size_t a, size_t b)
{
	fprintf(stderr,
	    "fuzz-unstuff: %s differs: decoder %zu, reference %zu\n", what, a,
	    b);
	abort();
}

/* The libFuzzer entry point: one input, checked as described above. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *sizes;
	const char *body;
	struct pop3_unstuff u;
	struct ref r;
	size_t nsizes, blen, pos = 0, k = 0, outlen, used, total = 0, chunk;
	size_t i;
	bool done = false, allzero = true;
	char *acc, *out;

	if (size < 1)
		return 0;
	nsizes = data[0] % 32;
	if (size < 1 + nsizes)
		return 0;
	sizes = data + 1;
	body = (const char *)data + 1 + nsizes;
	blen = size - 1 - nsizes;
	for (i = 0; i < nsizes; i++)
		if (sizes[i] != 0)
			allzero = false;
	if ((acc = malloc(blen + 2)) == NULL)
		abort();

	pop3_unstuff_init(&u);
	while (pos < blen || (blen == 0 && k == 0)) {
		if (nsizes == 0 || allzero)
			chunk = blen - pos;
		else
			chunk = sizes[k % nsizes];
		k++;
		if (chunk > blen - pos)
			chunk = blen - pos;
		/* Exactly the documented room, so ASan sees any overflow. */
		if ((out = malloc(chunk + 2)) == NULL)
			abort();
		used = pop3_unstuff(&u, body + pos, chunk, out, &outlen, &done);
		if (used > chunk)
			mismatch("consumed count over the chunk", used, chunk);
		if (outlen > chunk + 2)
			mismatch("output length (over the bound)", outlen,
			    chunk + 2);
		if (total + outlen > blen + 2)
			mismatch("total output", total + outlen, blen + 2);
		memcpy(acc + total, out, outlen);
		total += outlen;
		free(out);
		pos += used;
		if (done)
			break;
		if (used != chunk)
			mismatch("consumed count before the end", used, chunk);
		if (blen == 0)
			break;
	}

	ref_decode(body, blen, &r);
	if (done != r.done)
		mismatch("terminator found", done, r.done);
	if (done && pos != r.end)
		mismatch("terminator offset", pos, r.end);
	if (total != r.outlen)
		mismatch("output length", total, r.outlen);
	if (memcmp(acc, r.out, total) != 0) {
		for (i = 0; i < total && acc[i] == r.out[i]; i++)
			;
		mismatch("output byte at offset", i, i);
	}
	free(r.out);
	free(acc);
	return 0;
}
