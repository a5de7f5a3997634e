/*
 * test-pop3-body.c: the dot-unstuffer against a simple reference decoder,
 * for a table of bodies fed whole, split at every offset and byte by byte,
 * plus a seeded random differential test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "popfetch/pop3.h"

struct body {
	const char *name;
	const char *data;
	size_t len;
};

#define B(name, s)                     \
	{                              \
		name, s, sizeof(s) - 1 \
	}

static const struct body bodies[] = {
    B("empty message", ".\r\n"),
    B("empty message, bare LF", ".\n"),
    B("only headers", "Subject: x\r\nFrom: a@b\r\n.\r\n"),
    B("header and body", "Subject: x\r\n\r\nhello\r\n.\r\n"),
    B("dot line", "a\r\n..\r\nb\r\n.\r\n"),
    B("double dot line", "...\r\n.\r\n"),
    B("dots then x", "...x\r\n.\r\n"),
    B("dot space", ". \r\n.\r\n"),
    B("dot CR inside", "a\r\n.\r\rb\r\n.\r\n"),
    B("dot CR at line end", "a\r\n.\r\r\n.\r\n"),
    B("bare LF everywhere", "a\nb\n..c\n\n.\n"),
    B("mixed CRLF and LF", "a\r\nb\nc\r\n\n\r\n.\r\n"),
    B("bare CR mid line", "a\rb\r\n.\r\n"),
    B("bare CR at line start", "\rab\r\n.\r\n"),
    B("bare CR before terminator", "a\r\r\n.\r\n"),
    B("bare CR line before terminator", "a\r\n\r.\r\n.\r\n"),
    B("CR CR LF", "x\r\r\r\n.\r\n"),
    B("NUL and 8-bit", "a\0b\r\n\xff\xfe\x80\r\n\0\r\n.\r\n"),
    B("first line is the dot", ".\r\nnot part\r\n"),
    B("trailing pipelined reply", "a\r\n.\r\n+OK next\r\n"),
    B("trailing bytes bare LF", "a\n.\n-ERR x\r\n"),
    B("no final newline stuffed", "a\r\n..b\r\n.\r\n"),
    B("last line starts with dot", "a\r\n..last\r\n.\r\n"),
    B("dot dot CR LF", "..\r\n.\r\n"),
    B("terminator after LF", "a\n.\r\n"),
    B("CRLF dot no final CRLF then more", "a\r\n.x\r\n.\r\n"),
    B("unterminated", "a\r\nb"),
    B("unterminated after CRLF dot", "a\r\n."),
    B("unterminated after CRLF dot CR", "a\r\n.\r"),
    B("only CRs", "\r\r\r\r\n.\r\n"),
    B("dot then NUL", ".\0\r\n.\r\n"),
    B("empty lines", "\r\n\r\n\n\r\n.\r\n"),
};
#define NBODIES (sizeof(bodies) / sizeof(bodies[0]))

/*
 * Reference decoder, line at a time: split at LF, drop one CR before it,
 * stop at ".", drop a leading dot. An unterminated tail is emitted as the
 * streaming decoder may have so far (without a held "." / ".\r" / CR).
 */
static size_t
ref_decode(const char *in, size_t inlen, char *out, size_t *outlen, bool *done)
{
	size_t i = 0, o = 0, ls, ce;
	const char *nl;

	*done = false;
	while (i < inlen) {
		nl = memchr(in + i, '\n', inlen - i);
		ls = i;
		ce = nl != NULL ? (size_t)(nl - in) : inlen;
		if (nl != NULL && ce > ls && in[ce - 1] == '\r')
			ce--;
		if (nl != NULL && ce - ls == 1 && in[ls] == '.') {
			*done = true;
			*outlen = o;
			return (size_t)(nl - in) + 1;
		}
		if (nl == NULL) {
			/* The tail: what is held back is not emitted yet. */
			if (ce - ls == 1 && in[ls] == '.')
				break;
			if (ce - ls == 2 && in[ls] == '.' && in[ls + 1] == '\r')
				break;
			if (in[ls] == '.')
				ls++;
			if (ce > ls && in[ce - 1] == '\r')
				ce--;
			memcpy(out + o, in + ls, ce - ls);
			o += ce - ls;
			break;
		}
		if (in[ls] == '.')
			ls++;
		memcpy(out + o, in + ls, ce - ls);
		o += ce - ls;
		out[o++] = '\n';
		i = (size_t)(nl - in) + 1;
	}
	*outlen = o;
	return inlen;
}

/*
 * Feed in through pop3_unstuff() in the chunks sizes[] (cycled), each
 * into an output buffer of exactly chunk + 2 bytes so ASan sees overruns.
 * Checks that every byte before the terminator is consumed.
 */
static void
stream_decode(const char *in, size_t inlen, const size_t *sizes, size_t nsizes,
    char *out, size_t *outlen, size_t *consumed, bool *done)
{
	struct pop3_unstuff u;
	size_t i = 0, o = 0, k = 0, chunk, used, olen;
	char *tmp;

	pop3_unstuff_init(&u);
	*done = false;
	while (i < inlen && !*done) {
		chunk = sizes[k++ % nsizes];
		if (chunk > inlen - i)
			chunk = inlen - i;
		tmp = malloc(chunk + 2);
		assert_non_null(tmp);
		used = pop3_unstuff(&u, in + i, chunk, tmp, &olen, done);
		assert_true(used <= chunk);
		assert_true(olen <= chunk + 2);
		if (!*done)
			assert_int_equal(used, chunk);
		memcpy(out + o, tmp, olen);
		free(tmp);
		o += olen;
		i += used;
	}
	*outlen = o;
	*consumed = i;
}

/* Compare one chunking against the reference. */
static void
check_one(const char *in, size_t inlen, const size_t *sizes, size_t nsizes,
    const char *what)
{
	char *exp = malloc(inlen + 1), *got = malloc(inlen + 3);
	size_t explen, expused, gotlen, gotused;
	bool expdone, gotdone;

	assert_non_null(exp);
	assert_non_null(got);
	expused = ref_decode(in, inlen, exp, &explen, &expdone);
	stream_decode(
	    in, inlen, sizes, nsizes, got, &gotlen, &gotused, &gotdone);
	if (expdone != gotdone || expused != gotused || explen != gotlen ||
	    memcmp(exp, got, explen) != 0)
		fail_msg("%s: done %d/%d used %zu/%zu out %zu/%zu", what,
		    gotdone, expdone, gotused, expused, gotlen, explen);
	free(exp);
	free(got);
}

/* Whole, split at every offset (two chunks), and one byte at a time. */
static void
check_all_splits(const char *in, size_t inlen, const char *what)
{
	size_t whole = inlen > 0 ? inlen : 1, one = 1, split[2], off, step;

	check_one(in, inlen, &whole, 1, what);
	check_one(in, inlen, &one, 1, what);
	/* Big inputs: every offset would be quadratic, so sample. */
	step = inlen > 8192 ? 997 : 1;
	for (off = 1; off < inlen; off += step) {
		split[0] = off;
		split[1] = inlen;
		check_one(in, inlen, split, 2, what);
	}
	if (step > 1) {
		for (off = inlen - 8; off < inlen; off++) {
			split[0] = off;
			split[1] = inlen;
			check_one(in, inlen, split, 2, what);
		}
	}
}

/* Every table body, with all chunkings. */
static void
test_table(void **state)
{
	size_t i;

	(void)state;
	assert_true(NBODIES >= 25);
	for (i = 0; i < NBODIES; i++)
		check_all_splits(bodies[i].data, bodies[i].len, bodies[i].name);
}

/* Decode in one piece and compare with a literal. */
static void
expect(const char *in, size_t inlen, const char *want, size_t wantlen,
    size_t want_used, bool want_done)
{
	struct pop3_unstuff u;
	char out[256];
	size_t used, olen;
	bool done;

	assert_true(inlen + 2 <= sizeof(out));
	pop3_unstuff_init(&u);
	used = pop3_unstuff(&u, in, inlen, out, &olen, &done);
	assert_int_equal(done, want_done);
	assert_int_equal(used, want_used);
	assert_int_equal(olen, wantlen);
	assert_memory_equal(out, want, wantlen);
}

#define EXPECT(in, want, used, done) \
	expect(in, sizeof(in) - 1, want, sizeof(want) - 1, used, done)

/* Known answers, so the reference decoder is checked too. */
static void
test_known(void **state)
{
	(void)state;
	EXPECT(".\r\n", "", 3, true);
	EXPECT("a\r\n..b\r\n.\r\n", "a\n.b\n", 11, true);
	EXPECT("..\r\n...\r\n.\r\n", ".\n..\n", 12, true);
	EXPECT("a\rb\r\n.\r\n", "a\rb\n", 8, true);
	EXPECT("a\r\r\n.\r\n", "a\r\n", 7, true);
	EXPECT(".\r\rx\r\n.\n", "\r\rx\n", 8, true);
	EXPECT("a\n.\nrest", "a\n", 4, true);
	EXPECT("a\r\n.\r\n+OK\r\n", "a\n", 6, true);
	EXPECT(". \r\n.\r\n", " \n", 7, true);
	EXPECT("a\0\xff\r\n.\r\n", "a\0\xff\n", 8, true);
	EXPECT("x\r\n.", "x\n", 4, false);
	EXPECT("x\r", "x", 2, false);
}

/* A CR held at a chunk end must come out when the next chunk is data. */
static void
test_held_cr(void **state)
{
	struct pop3_unstuff u;
	char out[8];
	size_t olen, used;
	bool done;

	(void)state;
	pop3_unstuff_init(&u);
	used = pop3_unstuff(&u, "ab\r", 3, out, &olen, &done);
	assert_int_equal(used, 3);
	assert_int_equal(olen, 2);
	used = pop3_unstuff(&u, "c", 1, out, &olen, &done);
	assert_int_equal(used, 1);
	assert_int_equal(olen, 2);
	assert_memory_equal(out, "\rc", 2);
	/* ".\r" held at the start of a line, then data: out is 1 + 1. */
	pop3_unstuff_init(&u);
	(void)pop3_unstuff(&u, "\n.\r", 3, out, &olen, &done);
	assert_int_equal(olen, 1);
	used = pop3_unstuff(&u, "z", 1, out, &olen, &done);
	assert_int_equal(olen, 2);
	assert_memory_equal(out, "\rz", 2);
	assert_false(done);
	/* Nothing more after the terminator. */
	(void)pop3_unstuff(&u, "\n.\n", 3, out, &olen, &done);
	assert_true(done);
	used = pop3_unstuff(&u, "more", 4, out, &olen, &done);
	assert_int_equal(used, 0);
	assert_int_equal(olen, 0);
	assert_true(done);
}

/* A 100 KB line, with stuffed dots and a bare CR, split many ways. */
static void
test_long_line(void **state)
{
	size_t n = 100 * 1024, len, i;
	char *b = malloc(n + 64);
	size_t sizes[] = {4096, 1, 65536, 7, 3};

	(void)state;
	assert_non_null(b);
	len = 0;
	b[len++] = '.';
	b[len++] = '.';
	for (i = 0; i < n; i++)
		b[len++] = (char)(i % 97 == 5 ? '\r' : 'a' + (int)(i % 26));
	memcpy(b + len, "\r\n.\r\n+OK\r\n", 10);
	len += 10;
	check_all_splits(b, len, "100 KB line");
	check_one(b, len, sizes, sizeof(sizes) / sizeof(sizes[0]),
	    "100 KB line, mixed chunks");
	free(b);
}

/* A small deterministic PRNG so failures reproduce (xorshift32). */
static uint32_t
rnd(uint32_t *s)
{
	uint32_t x = *s;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*s = x;
	return x;
}

/* 2000 random bodies over {'.', CR, LF, 'a', NUL, 0xff}, random chunks. */
static void
test_random(void **state)
{
	static const char alpha[] = {'.', '\r', '\n', 'a', '\0', '\xff'};
	uint32_t seed = 0x5eed1234;
	char buf[512];
	size_t sizes[16], nsizes, len, i, k, one = 1;
	int iter;

	(void)state;
	for (iter = 0; iter < 2000; iter++) {
		len = rnd(&seed) % sizeof(buf);
		for (i = 0; i < len; i++)
			buf[i] = alpha[rnd(&seed) % sizeof(alpha)];
		nsizes = 1 + rnd(&seed) % 16;
		for (k = 0; k < nsizes; k++)
			sizes[k] = 1 + rnd(&seed) % (1 + rnd(&seed) % 64);
		check_one(buf, len, sizes, nsizes, "random");
		check_one(buf, len, &one, 1, "random, 1-byte chunks");
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_known),
	    cmocka_unit_test(test_held_cr),
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_long_line),
	    cmocka_unit_test(test_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
