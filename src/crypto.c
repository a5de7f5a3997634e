/*
 * crypto.c: base64, hex, SHA-256 and secret wiping. The base64 decoder is
 * strict and table-free, so it is obviously bounded; everything else is
 * OpenSSL's.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "popfetch/crypto.h"
#include "popfetch/xmalloc.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

struct crypto_sha256 {
	EVP_MD_CTX *md;
	int failed;
};

char *
crypto_b64_encode(const void *in, size_t len)
{
	const unsigned char *s = in;
	char *out, *o;
	size_t i;

	if (len > (SIZE_MAX - 1) / 4 * 3 - 3)
		return NULL;
	out = o = xmalloc((len + 2) / 3 * 4 + 1);
	for (i = 0; i + 2 < len; i += 3) {
		*o++ = b64_alphabet[s[i] >> 2];
		*o++ = b64_alphabet[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
		*o++ = b64_alphabet[((s[i + 1] & 15) << 2) | (s[i + 2] >> 6)];
		*o++ = b64_alphabet[s[i + 2] & 63];
	}
	if (len - i == 1) {
		*o++ = b64_alphabet[s[i] >> 2];
		*o++ = b64_alphabet[(s[i] & 3) << 4];
		*o++ = '=';
		*o++ = '=';
	} else if (len - i == 2) {
		*o++ = b64_alphabet[s[i] >> 2];
		*o++ = b64_alphabet[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
		*o++ = b64_alphabet[(s[i + 1] & 15) << 2];
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

/* The 6-bit value of a base64 character, or -1. */
static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decode the 4 characters at in[i] (the last group when last) into w. */
static int
b64_group(const char *in, size_t i, int last, uint32_t *w)
{
	int v[4], k;

	for (k = 0; k < 4; k++) {
		unsigned char c = (unsigned char)in[i + (size_t)k];

		/* '=' only as the final one or two characters */
		if (c == '=' && last && k >= 2 &&
		    (k == 3 || in[i + 3] == '=')) {
			v[k] = 0;
			continue;
		}
		if ((v[k] = b64_value(c)) < 0)
			return -1;
	}
	*w = ((uint32_t)v[0] << 18) | ((uint32_t)v[1] << 12) |
	    ((uint32_t)v[2] << 6) | (uint32_t)v[3];
	return 0;
}

unsigned char *
crypto_b64_decode(const char *in, size_t maxlen, size_t *outlen)
{
	size_t len, pad = 0, n, i, o = 0;
	unsigned char *out;

	len = strlen(in);
	if (len % 4 != 0)
		return NULL;
	if (len > 0 && in[len - 1] == '=')
		pad++;
	if (len > 1 && in[len - 2] == '=')
		pad++;
	n = len / 4 * 3 - pad;
	if (n > maxlen)
		return NULL;
	out = xmalloc(n + 1);
	for (i = 0; i < len; i += 4) {
		int last = i + 4 == len;
		uint32_t w;

		if (b64_group(in, i, last, &w) == -1)
			goto bad;
		/* reject non-zero bits hidden under the padding */
		if (last &&
		    ((pad == 1 && (w & 0xff) != 0) ||
			(pad == 2 && (w & 0xffff) != 0)))
			goto bad;
		out[o++] = (unsigned char)(w >> 16);
		if (o < n)
			out[o++] = (unsigned char)(w >> 8);
		if (o < n)
			out[o++] = (unsigned char)w;
	}
	out[n] = '\0';
	*outlen = n;
	return out;
bad:
	crypto_wipe_free(out, n + 1);
	return NULL;
}

int
crypto_hexval(char c)
{
	static const char digits[] = "0123456789abcdef";
	const char *p;

	if (c >= 'A' && c <= 'F')
		c = (char)(c - 'A' + 'a');
	p = c != '\0' ? strchr(digits, c) : NULL;
	return p != NULL ? (int)(p - digits) : -1;
}

int
crypto_pct_decode(
    const char *in, size_t len, bool plus_space, char *out, size_t outsz)
{
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		char c = in[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= len)
				return -1;
			hi = crypto_hexval(in[i + 1]);
			lo = crypto_hexval(in[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -1;
			c = (char)(hi * 16 + lo);
			i += 2;
		} else if (c == '+' && plus_space) {
			c = ' ';
		}
		if (o + 1 >= outsz)
			return -1;
		out[o++] = c;
	}
	if (outsz == 0)
		return -1;
	out[o] = '\0';
	return 0;
}

void
crypto_hex(const unsigned char *in, size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15];
	}
	out[2 * len] = '\0';
}

int
crypto_sha256_hex(const void *in, size_t len, size_t nbytes, char *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (nbytes > 32 ||
	    EVP_Digest(in, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != 32) {
		out[0] = '\0';
		return -1;
	}
	crypto_hex(md, nbytes, out);
	return 0;
}

struct crypto_sha256 *
crypto_sha256_new(void)
{
	struct crypto_sha256 *h = xcalloc(1, sizeof(*h));

	h->md = EVP_MD_CTX_new();
	if (h->md == NULL ||
	    EVP_DigestInit_ex(h->md, EVP_sha256(), NULL) != 1) {
		crypto_sha256_free(h);
		return NULL;
	}
	return h;
}

void
crypto_sha256_add(struct crypto_sha256 *h, const void *buf, size_t len)
{
	if (EVP_DigestUpdate(h->md, buf, len) != 1)
		h->failed = 1;
}

int
crypto_sha256_end(struct crypto_sha256 *h, char out[65])
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (h->failed || EVP_DigestFinal_ex(h->md, d, &n) != 1 || n != 32) {
		h->failed = 1;
		return -1;
	}
	crypto_hex(d, n, out);
	return 0;
}

void
crypto_sha256_free(struct crypto_sha256 *h)
{
	if (h == NULL)
		return;
	if (h->md != NULL)
		EVP_MD_CTX_free(h->md);
	free(h);
}

void
crypto_token(const char *account_id, const char *uid, unsigned long long size,
    char out[17])
{
	char *in =
	    xasprintf("popfetch-token\n%s\n%s\n%llu", account_id, uid, size);

	if (crypto_sha256_hex(in, strlen(in), 8, out) == -1)
		out[0] = '\0';
	free(in);
}

void
crypto_wipe_free(void *buf, size_t len)
{
	if (buf == NULL)
		return;
	OPENSSL_cleanse(buf, len);
	free(buf);
}
