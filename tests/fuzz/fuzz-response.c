/*
 * fuzz-response.c: the POP3 line parsers on hostile server lines.
 *
 * Input: server bytes, split at LF (as lbuf does, one CR dropped). Every
 * line goes through pop3_parse_status, pop3_parse_rcode, the CAPA, UIDL
 * and LIST line parsers, num_parse (with a bound from the first
 * byte) and pf_sanitize. Each result is checked against what the
 * contract promises, and num_parse against a reference parser.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "popfetch/err.h"
#include "popfetch/num.h"
#include "popfetch/pop3.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stop with a message the crash report will show. */
static void
fail(const char *what, const char *line)
{
	fprintf(stderr, "fuzz-response: %s on line '%.80s'\n", what, line);
	abort();
}

/* True when p lies within the string s (its NUL included). */
static bool
inside(const char *p, const char *s)
{
	return p >= s && p <= s + strlen(s);
}

/* The obvious strict decimal parser, for a differential check. */
static int
ref_num(const char *s, unsigned long long max, unsigned long long *out,
    size_t *used)
{
	unsigned long long v = 0;
	size_t i;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	for (i = 0; s[i] >= '0' && s[i] <= '9'; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (v > ULLONG_MAX / 10 || v * 10 > ULLONG_MAX - d)
			return -1;
		v = v * 10 + d;
		if (v > max)
			return -1;
	}
	*out = v;
	*used = i;
	return 0;
}

/* Check the status classifier against the prefixes it must require. */
static void
check_status(const char *line)
{
	const char *text = NULL;
	int st = pop3_parse_status(line, &text);

	switch (st) {
	case POP3_OK:
		if (strncmp(line, "+OK", 3) != 0 ||
		    (line[3] != '\0' && line[3] != ' '))
			fail("+OK accepted without the exact prefix", line);
		break;
	case POP3_ERR:
		if (strncmp(line, "-ERR", 4) != 0 ||
		    (line[4] != '\0' && line[4] != ' '))
			fail("-ERR accepted without the exact prefix", line);
		break;
	case POP3_CONT:
		if (line[0] != '+' || line[1] != ' ')
			fail("continuation without '+ '", line);
		break;
	case -1:
		return;
	default:
		fail("unknown status result", line);
	}
	if (text == NULL || !inside(text, line))
		fail("status text outside the line", line);
	if ((unsigned)pop3_parse_rcode(text) > POP3_RC_OTHER)
		fail("unknown rcode", line);
}

/* CAPA must keep its fixed buffers terminated and the SASL list clean. */
static void
check_capa(struct pop3_capa *capa, const char *line)
{
	size_t i, n;

	pop3_parse_capa_line(capa, line);
	n = strnlen(capa->sasl, sizeof(capa->sasl));
	if (n == sizeof(capa->sasl))
		fail("capa sasl not terminated", line);
	for (i = 0; i < n; i++) {
		char c = capa->sasl[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			c == '-' || c == '_' || c == ' '))
			fail("capa sasl holds a bad character", line);
	}
	n = strnlen(capa->implementation, sizeof(capa->implementation));
	if (n == sizeof(capa->implementation))
		fail("capa implementation not terminated", line);
	for (i = 0; i < n; i++)
		if ((unsigned char)capa->implementation[i] < 0x20 ||
		    (unsigned char)capa->implementation[i] > 0x7e)
			fail("capa implementation not sanitized", line);
	if (capa->login_delay < -1 || capa->expire < -2)
		fail("capa number out of range", line);
}

/* UIDL and LIST lines: accepted values must obey the stated rules. */
static void
check_listings(const char *line)
{
	const char *uid;
	unsigned long n;
	unsigned long long sz;
	size_t uidlen, i;

	if (pop3_parse_uidl_line(line, &n, &uid, &uidlen) == 0) {
		if (n == 0 || uidlen == 0 || uidlen > POP3_UID_MAX ||
		    !inside(uid, line) || uid + uidlen > line + strlen(line))
			fail("bad UIDL result", line);
		for (i = 0; i < uidlen; i++)
			if ((unsigned char)uid[i] < 0x21 ||
			    (unsigned char)uid[i] > 0x7e)
				fail("UID not printable", line);
	}
	if (pop3_parse_list_line(line, &n, &sz) == 0 && n == 0)
		fail("LIST message number 0 accepted", line);
}

/* num_parse against the reference, with several bounds. */
static void
check_num(const char *line, unsigned long long max)
{
	unsigned long long v = 0, rv = 0;
	const char *end = NULL;
	size_t used = 0;
	int r, rr;

	r = num_parse(line, &end, max, &v);
	rr = ref_num(line, max, &rv, &used);
	if (r != rr)
		fail("num_parse disagrees with the reference", line);
	if (r == 0 && (v != rv || end != line + used || v > max))
		fail("num_parse value or end differs", line);
}

/* pf_sanitize output must be printable, bounded and terminated. */
static void
check_sanitize(const char *line, size_t len)
{
	char out[PF_SERVER_TEXT_MAX * 4 + 16];
	char small[7];
	size_t i, n;

	pf_sanitize(out, sizeof(out), line, len);
	n = strnlen(out, sizeof(out));
	if (n == sizeof(out))
		fail("sanitized text not terminated", line);
	for (i = 0; i < n; i++)
		if ((unsigned char)out[i] < 0x20 ||
		    (unsigned char)out[i] > 0x7e)
			fail("sanitized text not printable", line);
	pf_sanitize(small, sizeof(small), line, len);
	if (strnlen(small, sizeof(small)) == sizeof(small))
		fail("sanitized text overflows a small buffer", line);
}

/* The libFuzzer entry point: one input, checked as described above. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned long long maxes[] = {
	    0,
	    1,
	    9,
	    10,
	    65535,
	    ULONG_MAX,
	    LONG_MAX,
	    ULLONG_MAX,
	};
	struct pop3_capa capa;
	const char *p, *nl;
	char *line;
	size_t len, left;
	unsigned long long max;

	if (size < 1)
		return 0;
	max = maxes[data[0] % (sizeof(maxes) / sizeof(maxes[0]))];
	memset(&capa, 0, sizeof(capa));
	capa.login_delay = -1;
	capa.expire = -1;
	p = (const char *)data + 1;
	left = size - 1;
	while (left > 0) {
		nl = memchr(p, '\n', left);
		len = nl != NULL ? (size_t)(nl - p) : left;
		/* An exact-size copy lets ASan see reads past the NUL. */
		if ((line = malloc(len + 1)) == NULL)
			abort();
		memcpy(line, p, len);
		line[len] = '\0';
		if (len > 0 && line[len - 1] == '\r')
			line[len - 1] = '\0';
		check_status(line);
		check_capa(&capa, line);
		check_listings(line);
		check_num(line, max);
		check_sanitize(line, len);
		free(line);
		if (nl == NULL)
			break;
		left -= len + 1;
		p = nl + 1;
	}
	return 0;
}
