/*
 * fuzz-smtp-reply.c: the SMTP/LMTP client's pure parsers on hostile
 * bytes, and the DATA encoder against a reference decoder.
 *
 * Input: the first byte picks where the encoder input is split; the rest
 * is server bytes, split at LF (as lbuf does, one CR dropped). The lines
 * are fed to smtp_reply_feed() as consecutive replies, each line also to
 * smtp_capa_line(), smtp_address_ok() and smtp_parse_target(); every
 * result is checked against what smtp.h promises. The whole input is
 * then encoded for DATA in two pieces and decoded again: the wire must
 * hold no bare LF and no early end of data, and must decode to the input
 * plus a final LF.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "popfetch/err.h"
#include "popfetch/smtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stop with a message the crash report will show. */
static void
fail(const char *what, const char *line)
{
	fprintf(stderr, "fuzz-smtp-reply: %s on line '%.80s'\n", what, line);
	abort();
}

/* Reply framing: one code per reply, text inside the line, bounds. */
static void
check_reply(struct smtp_reply *r, const char *line, size_t len)
{
	struct pf_err err;
	const char *text = NULL, *t2;
	bool last;
	int rc, code;

	if (r->done)
		smtp_reply_init(r);
	rc = smtp_reply_feed(r, line, len, &text, &err);
	code = smtp_parse_reply_line(line, len, &last, &t2);
	if (rc == -1) {
		if (err.code != PF_EPROTO)
			fail("reply error not PF_EPROTO", line);
		smtp_reply_init(r);
		return;
	}
	if (code < 200 || code > 559 || code != r->code)
		fail("accepted reply code out of range or changed", line);
	if (text < line || text > line + len || text != t2)
		fail("reply text outside the line", line);
	if ((rc == 1) != last || r->done != last)
		fail("reply end disagrees with the separator", line);
	if (r->lines == 0 || r->lines > SMTP_REPLY_LINES_MAX)
		fail("reply line count out of bounds", line);
	if (r->textlen >= sizeof(r->text) || r->text[r->textlen] != '\0')
		fail("reply text not terminated", line);
}

/* An accepted address can never leave the angle brackets. */
static void
check_address(const char *line, size_t len)
{
	bool quoted = false, esc = false;
	size_t i;

	if (!smtp_address_ok(line))
		return;
	if (len == 0 || len > SMTP_ADDR_MAX)
		fail("address length accepted", line);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c < 0x20 || c == 0x7f || c == '<' || c == '>')
			fail("address with a framing byte accepted", line);
		if (c == ' ' && !quoted)
			fail("address with a bare space accepted", line);
		if (esc)
			esc = false;
		else if (quoted && c == '\\')
			esc = true;
		else if (c == '"')
			quoted = !quoted;
	}
	if (quoted)
		fail("address with an open quote accepted", line);
}

/* Targets: fields terminated, a socket path only for LMTP. */
static void
check_target(const char *line)
{
	struct smtp_target t;
	struct pf_err err;
	char name[64];

	if (smtp_parse_target(line, SMTP_PROTO_SMTP, &t, &err) == 0 &&
	    (t.is_unix || t.host[0] == '\0' || t.port[0] == '\0'))
		fail("SMTP target accepted without host or port", line);
	if (smtp_parse_target(line, SMTP_PROTO_LMTP, &t, &err) == 0) {
		if (strnlen(t.host, sizeof(t.host)) == sizeof(t.host) ||
		    strnlen(t.path, sizeof(t.path)) == sizeof(t.path))
			fail("target field not terminated", line);
		smtp_target_name(&t, name, sizeof(name));
		if (strnlen(name, sizeof(name)) == sizeof(name))
			fail("target name not terminated", line);
	}
}

/* Decode wire bytes as a server does; -1 on a bare LF or an early or
 * missing end of data. */
static long
decode(const char *w, size_t len, char *out)
{
	size_t i = 0, o = 0;
	bool start = true;

	while (i < len) {
		if (start && w[i] == '.') {
			if (i + 2 < len && w[i + 1] == '\r' && w[i + 2] == '\n')
				return i + 3 == len ? (long)o : -1;
			i++;
		}
		if (w[i] == '\r' && i + 1 < len && w[i + 1] == '\n') {
			out[o++] = '\n';
			i += 2;
			start = true;
			continue;
		}
		if (w[i] == '\n')
			return -1;
		start = w[i] == '\r';
		out[o++] = w[i++];
	}
	return -1;
}

/* Encode in two pieces; decoding must give the input plus a final LF. */
static void
check_encoder(const char *in, size_t len, size_t cut)
{
	struct smtp_enc e = {0};
	char *wire, *back;
	size_t n;
	long got;

	wire = malloc(2 * len + 8);
	back = malloc(2 * len + 8);
	if (wire == NULL || back == NULL)
		abort();
	if (cut > len)
		cut = len;
	n = smtp_encode(&e, in, cut, wire);
	n += smtp_encode(&e, in + cut, len - cut, wire + n);
	n += smtp_encode_end(&e, wire + n);
	if (n > 2 * len + 5)
		fail("encoder wrote more than 2 * len + 5", "");
	got = decode(wire, n, back);
	if (got < 0)
		fail("encoded data does not decode", "");
	if ((size_t)got != len + (len > 0 && in[len - 1] != '\n') ||
	    memcmp(back, in, len) != 0)
		fail("encoded data decodes to other bytes", "");
	free(wire);
	free(back);
}

/* The libFuzzer entry point: one input, checked as described above. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_reply r;
	struct smtp_capa capa;
	const char *p, *nl, *text;
	char *line;
	size_t len, left, cut;
	bool last;

	if (size < 1)
		return 0;
	cut = data[0];
	p = (const char *)data + 1;
	left = size - 1;
	check_encoder(p, left, left > 0 ? cut % (left + 1) : 0);
	smtp_reply_init(&r);
	memset(&capa, 0, sizeof(capa));
	while (left > 0) {
		nl = memchr(p, '\n', left);
		len = nl != NULL ? (size_t)(nl - p) : left;
		/* An exact-size copy lets ASan see reads past the NUL. */
		if ((line = malloc(len + 1)) == NULL)
			abort();
		memcpy(line, p, len);
		line[len] = '\0';
		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		check_reply(&r, line, len);
		if (smtp_parse_reply_line(line, len, &last, &text) >= 0)
			smtp_capa_line(
			    &capa, text, len - (size_t)(text - line));
		check_address(line, strlen(line));
		check_target(line);
		free(line);
		if (nl == NULL)
			break;
		left -= (size_t)(nl - p) + 1;
		p = nl + 1;
	}
	return 0;
}
