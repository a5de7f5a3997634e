/*
 * test-crypto.c: base64 (the RFC 4648 vectors, round trips, strictness),
 * hex, SHA-256 (one-shot and incremental) and the Maildir token.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "popfetch/crypto.h"

/* RFC 4648 section 10 vectors, both directions. */
static void
test_b64_vectors(void **state)
{
	static const char *const v[][2] = {
	    {"", ""},
	    {"f", "Zg=="},
	    {"fo", "Zm8="},
	    {"foo", "Zm9v"},
	    {"foob", "Zm9vYg=="},
	    {"fooba", "Zm9vYmE="},
	    {"foobar", "Zm9vYmFy"},
	};
	size_t i, len;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char *e = crypto_b64_encode(v[i][0], strlen(v[i][0]));
		unsigned char *d;

		assert_string_equal(e, v[i][1]);
		free(e);
		d = crypto_b64_decode(v[i][1], 100, &len);
		assert_non_null(d);
		assert_int_equal(len, strlen(v[i][0]));
		assert_memory_equal(d, v[i][0], len);
		assert_int_equal(d[len], '\0');
		free(d);
	}
}

/* Every byte value survives a round trip, at every length. */
static void
test_b64_roundtrip(void **state)
{
	unsigned char buf[256], *d;
	size_t n, len, i;

	(void)state;
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(255 - i);
	for (n = 0; n <= sizeof(buf); n++) {
		char *e = crypto_b64_encode(buf, n);

		d = crypto_b64_decode(e, sizeof(buf), &len);
		assert_non_null(d);
		assert_int_equal(len, n);
		assert_memory_equal(d, buf, n);
		free(d);
		free(e);
	}
}

/* Strictness: bad characters, padding, lengths, hidden bits, maxlen. */
static void
test_b64_invalid(void **state)
{
	static const char *const bad[] = {
	    "Zg=",
	    "Zg",
	    "Z",
	    "Zm9v!",
	    "Zm9$",
	    "Z===",
	    "====",
	    "Zg==Zg==",
	    "Zm=v",
	    " Zm9v",
	    "Zm9v\n",
	    "Zm9v ",
	    "Zh==",
	    "Zm9=",
	    "Zg=A",
	    "Zm9vYmFy=",
	    "-_==",
	};
	size_t i, len;
	unsigned char *d;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		d = crypto_b64_decode(bad[i], 100, &len);
		if (d != NULL)
			fail_msg("accepted '%s'", bad[i]);
	}
	assert_null(crypto_b64_decode("Zm9vYmFy", 5, &len));
	d = crypto_b64_decode("Zm9vYmFy", 6, &len);
	assert_non_null(d);
	free(d);
	assert_null(crypto_b64_decode("Zm9vYg==", 3, &len));
	d = crypto_b64_decode("Zm9vYg==", 4, &len);
	assert_non_null(d);
	free(d);
}

/* Hex of bytes, and SHA-256 of "abc" (FIPS 180-2), whole and cut. */
static void
test_sha256(void **state)
{
	static const char abc[] =
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
	static const unsigned char bytes[] = {0x00, 0x0f, 0xa5, 0xff};
	struct crypto_sha256 *h;
	char out[65];

	(void)state;
	crypto_hex(bytes, sizeof(bytes), out);
	assert_string_equal(out, "000fa5ff");
	assert_int_equal(crypto_sha256_hex("abc", 3, 32, out), 0);
	assert_string_equal(out, abc);
	assert_int_equal(crypto_sha256_hex("abc", 3, 8, out), 0);
	assert_string_equal(out, "ba7816bf8f01cfea");
	assert_int_equal(crypto_sha256_hex("abc", 3, 33, out), -1);
	/* the same digest fed in pieces */
	h = crypto_sha256_new();
	assert_non_null(h);
	crypto_sha256_add(h, "a", 1);
	crypto_sha256_add(h, "", 0);
	crypto_sha256_add(h, "bc", 2);
	assert_int_equal(crypto_sha256_end(h, out), 0);
	assert_string_equal(out, abc);
	crypto_sha256_free(h);
	crypto_sha256_free(NULL);
}

/* The token is stable, 16 hex digits, and depends on every input. */
static void
test_token(void **state)
{
	char a[17], b[17];

	(void)state;
	crypto_token("u@h:995", "uid1", 100, a);
	assert_int_equal(strlen(a), 16);
	assert_int_equal(strspn(a, "0123456789abcdef"), 16);
	crypto_token("u@h:995", "uid1", 100, b);
	assert_string_equal(a, b);
	crypto_token("u@h:995", "uid2", 100, b);
	assert_string_not_equal(a, b);
	crypto_token("u@h:995", "uid1", 101, b);
	assert_string_not_equal(a, b);
	crypto_token("v@h:995", "uid1", 100, b);
	assert_string_not_equal(a, b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_b64_vectors),
	    cmocka_unit_test(test_b64_roundtrip),
	    cmocka_unit_test(test_b64_invalid),
	    cmocka_unit_test(test_sha256),
	    cmocka_unit_test(test_token),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
