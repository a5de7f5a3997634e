/*
 * crypto.h: the small cryptographic helpers several modules share, on
 * top of OpenSSL: base64 (RFC 4648), hex, SHA-256 (one-shot and
 * incremental), the Maildir crash-recovery token, and wiping secrets.
 */
#ifndef POPFETCH_CRYPTO_H
#define POPFETCH_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>

/* Base64 of in[0..len) into a new NUL-terminated string, or NULL when
 * len is absurdly large. */
char *crypto_b64_encode(const void *in, size_t len);

/*
 * Decode strict base64 (no whitespace, padding only at the end, no bits
 * hidden under it). Returns a new buffer of *outlen bytes plus a NUL, or
 * NULL when in is invalid or decodes to more than maxlen bytes.
 */
unsigned char *crypto_b64_decode(const char *in, size_t maxlen, size_t *outlen);

/* The value of a hex digit (either case), or -1. */
int crypto_hexval(char c);

/*
 * Decode the %XX escapes of in[0..len) (and '+' as a space when plus_space)
 * into out as a string. Returns 0, or -1 for a bad escape, a %00 or an out
 * too small.
 */
int crypto_pct_decode(
    const char *in, size_t len, bool plus_space, char *out, size_t outsz);

/* in[0..len) as lower-case hex into out, which holds 2 * len + 1. */
void crypto_hex(const unsigned char *in, size_t len, char *out);

/* The first nbytes (at most 32) of SHA-256(in) as hex into out (which
 * holds 2 * nbytes + 1). Returns 0, or -1 when no digest is available. */
int crypto_sha256_hex(const void *in, size_t len, size_t nbytes, char *out);

/* An incremental SHA-256; a failed step is remembered, not lost. */
struct crypto_sha256;

/* Start one; NULL when OpenSSL has no SHA-256. */
struct crypto_sha256 *crypto_sha256_new(void);
void crypto_sha256_add(struct crypto_sha256 *h, const void *buf, size_t len);
/* The digest as 64 hex digits into out[65]; 0, or -1 after any failure.
 * h cannot be used again. */
int crypto_sha256_end(struct crypto_sha256 *h, char out[65]);
void crypto_sha256_free(struct crypto_sha256 *h);

/*
 * The crash-recovery token of a message: 16 hex digits derived from the
 * account id, the UID and the listed size, the same in every run, so a
 * Maildir delivery that was not recorded before a crash is recognised.
 * out gets "" when no digest is available.
 */
void crypto_token(const char *account_id, const char *uid,
    unsigned long long size, char out[17]);

/* Wipe len bytes at buf (OPENSSL_cleanse) and free it; NULL is fine. */
void crypto_wipe_free(void *buf, size_t len);

#endif
