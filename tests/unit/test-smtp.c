/*
 * test-smtp.c: the SMTP/LMTP client (smtp.h): the reply, keyword,
 * address and target parsers, the DATA encoder against a reference
 * decoder, whole sessions against a scripted in-memory server that
 * releases each reply only once the client has written the exact bytes
 * it expects (at every read chunk size), and timeouts and drops against
 * a forked peer over a socketpair.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "popfetch/log.h"
#include "popfetch/smtp.h"

#define NSTEPS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- reply lines and replies ---- */

/* Three digits in range, then space, hyphen or the end. */
static void
test_reply_line(void **state)
{
	const char *t;
	bool last;

	(void)state;
	assert_int_equal(smtp_parse_reply_line("250 ok", 6, &last, &t), 250);
	assert_true(last);
	assert_string_equal(t, "ok");
	assert_int_equal(smtp_parse_reply_line("250-x", 5, &last, &t), 250);
	assert_false(last);
	assert_string_equal(t, "x");
	assert_int_equal(smtp_parse_reply_line("354", 3, &last, &t), 354);
	assert_true(last);
	assert_string_equal(t, "");
	assert_int_equal(smtp_parse_reply_line("554 ", 4, &last, &t), 554);
	assert_int_equal(smtp_parse_reply_line("421-", 4, &last, &t), 421);
	assert_false(last);
	assert_int_equal(smtp_parse_reply_line("599 x", 5, &last, &t), -1);
	assert_int_equal(smtp_parse_reply_line("559 x", 5, &last, &t), 559);
	assert_int_equal(smtp_parse_reply_line("560 x", 5, &last, &t), -1);
	assert_int_equal(smtp_parse_reply_line("150 x", 5, &last, &t), -1);
	assert_int_equal(smtp_parse_reply_line("650 x", 5, &last, &t), -1);
	assert_int_equal(smtp_parse_reply_line("25", 2, &last, &t), -1);
	assert_int_equal(smtp_parse_reply_line("", 0, &last, &t), -1);
	assert_int_equal(smtp_parse_reply_line("250x", 4, &last, &t), -1);
	assert_int_equal(smtp_parse_reply_line("250\tx", 5, &last, &t), -1);
	assert_int_equal(smtp_parse_reply_line("2a0 x", 5, &last, &t), -1);
	assert_int_equal(smtp_parse_reply_line(" 250 x", 6, &last, &t), -1);
	assert_int_equal(smtp_parse_reply_line("+OK x", 5, &last, &t), -1);
	/* len rules, not the NUL: "250" cut to 2 bytes is no reply */
	assert_int_equal(smtp_parse_reply_line("250 ok", 2, &last, &t), -1);
}

/* Multi-line replies: one code, an end, a bound on the lines. */
static void
test_reply_feed(void **state)
{
	struct smtp_reply r;
	struct pf_err err;
	const char *t;
	unsigned i;

	(void)state;
	smtp_reply_init(&r);
	assert_int_equal(smtp_reply_feed(&r, "250-first", 9, &t, &err), 0);
	assert_string_equal(t, "first");
	assert_int_equal(
	    smtp_reply_feed(&r, "250-PIPELINING", 14, &t, &err), 0);
	assert_int_equal(smtp_reply_feed(&r, "250 8BITMIME", 12, &t, &err), 1);
	assert_string_equal(t, "8BITMIME");
	assert_int_equal(r.code, 250);
	assert_int_equal(r.lines, 3);
	assert_true(r.done);
	assert_string_equal(r.text, "first");
	assert_int_equal(smtp_reply_feed(&r, "250 x", 5, &t, &err), -1);
	assert_int_equal(err.code, PF_ESOFTWARE);

	smtp_reply_init(&r);
	assert_int_equal(smtp_reply_feed(&r, "250-a", 5, NULL, &err), 0);
	assert_int_equal(smtp_reply_feed(&r, "251 b", 5, NULL, &err), -1);
	assert_int_equal(err.code, PF_EPROTO);

	smtp_reply_init(&r);
	assert_int_equal(smtp_reply_feed(&r, "hello", 5, NULL, &err), -1);
	assert_int_equal(err.code, PF_EPROTO);

	smtp_reply_init(&r);
	for (i = 0; i < SMTP_REPLY_LINES_MAX; i++)
		assert_int_equal(
		    smtp_reply_feed(&r, "250-more", 8, NULL, &err), 0);
	assert_int_equal(smtp_reply_feed(&r, "250 end", 7, NULL, &err), -1);
	assert_int_equal(err.code, PF_EPROTO);
	assert_non_null(strstr(err.msg, "lines"));

	/* The kept text is bounded and may hold any byte. */
	{
		char big[2000];

		memset(big, 'x', sizeof(big));
		memcpy(big, "550 ", 4);
		big[10] = '\0';
		smtp_reply_init(&r);
		assert_int_equal(
		    smtp_reply_feed(&r, big, sizeof(big), NULL, &err), 1);
		assert_int_equal(r.textlen, sizeof(r.text) - 1);
		assert_int_equal(r.text[6], '\0');
	}
}

/* EHLO keywords, case-insensitive, with SIZE's optional limit. */
static void
test_capa(void **state)
{
	struct smtp_capa c;

	(void)state;
	memset(&c, 0, sizeof(c));
	smtp_capa_line(&c, "PIPELINING", 10);
	smtp_capa_line(&c, "8bitmime", 8);
	smtp_capa_line(&c, "SMTPUTF8", 8);
	smtp_capa_line(&c, "STARTTLS", 8);
	smtp_capa_line(&c, "CHUNKING", 8);
	smtp_capa_line(&c, "ENHANCEDSTATUSCODES", 19);
	smtp_capa_line(&c, "SIZE 10240000", 13);
	assert_true(c.pipelining && c.eightbitmime && c.smtputf8 &&
	    c.starttls && c.chunking && c.enhancedstatuscodes && c.size);
	assert_true(c.size_max == 10240000ULL);

	memset(&c, 0, sizeof(c));
	smtp_capa_line(&c, "PIPELININGX", 11);
	smtp_capa_line(&c, "8BITMIMEX", 9);
	smtp_capa_line(&c, "X-STARTTLS", 10);
	smtp_capa_line(&c, "AUTH PLAIN LOGIN", 16);
	smtp_capa_line(&c, "SIZE", 4);
	assert_false(c.pipelining || c.eightbitmime || c.starttls);
	assert_true(c.size);
	assert_true(c.size_max == 0);
	smtp_capa_line(&c, "SIZE 12x", 8);
	assert_true(c.size_max == 0);
	smtp_capa_line(&c, "SIZE 99999999999999999999999", 28);
	assert_true(c.size_max == 0);
	/* length, not the NUL, ends the keyword */
	smtp_capa_line(&c, "PIPELINING", 4);
	assert_false(c.pipelining);
}

/* ---- addresses and targets ---- */

static void
test_address(void **state)
{
	static const char *const good[] = {
	    "alice",
	    "alice@test.example",
	    "a.b+tag@sub.example.org",
	    "!#$%&'*+-/=?^_`{|}~@x",
	    "\"john doe\"@example.org",
	    "\"a\\\"b\"@x",
	    "\"\"@x",
	    "user@[127.0.0.1]",
	    "user@[IPv6:::1]",
	    "postmaster",
	    "j\xc3\xb6rg@b\xc3\xbc\x63her.example",
	    "x@a-b.c",
	    "x@123.example",
	};
	static const char *const bad[] = {
	    "",
	    "a b@x",
	    "a<b@x",
	    "a>b@x",
	    "<a@x>",
	    "a@x> SIZE=1",
	    "a@b@c",
	    ".a@x",
	    "a.@x",
	    "a..b@x",
	    "a@",
	    "@x",
	    "a@.x",
	    "a@x.",
	    "a@x..y",
	    "a@-x",
	    "a@x-",
	    "a@x_y",
	    "a@[1.2.3.4",
	    "a@[]",
	    "a@[a]b]",
	    "a@[127>0.0.1]",
	    "a@[1<2]",
	    "a@[2\"54.0.0.1]",
	    "a@[1 2]",
	    "\"a>b\"@x",
	    "\"a\\>b\"@x",
	    "\"ab@x",
	    "\"a\rb\"@x",
	    "a\r\nRCPT TO:<evil>",
	    "a\x01@x",
	    "a\x7f@x",
	    "\xe9@x",	      /* Latin-1, not UTF-8 */
	    "\xc3@x",	      /* cut sequence */
	    "\xc0\xaf@x",     /* overlong */
	    "\xed\xa0\x80@x", /* surrogate */
	    "@a,@b:c@d",
	};
	char longest[SMTP_ADDR_MAX + 2];
	size_t i;

	(void)state;
	for (i = 0; i < NSTEPS(good); i++)
		if (!smtp_address_ok(good[i]))
			fail_msg("good address refused: '%s'", good[i]);
	for (i = 0; i < NSTEPS(bad); i++)
		if (smtp_address_ok(bad[i]))
			fail_msg("bad address accepted: '%s'", bad[i]);
	memset(longest, 'a', sizeof(longest));
	longest[SMTP_ADDR_MAX] = '\0';
	assert_true(smtp_address_ok(longest));
	longest[SMTP_ADDR_MAX] = 'a';
	longest[SMTP_ADDR_MAX + 1] = '\0';
	assert_false(smtp_address_ok(longest));
	{
		char label[80];

		memset(label, 'b', sizeof(label));
		memcpy(label, "a@", 2);
		label[2 + 63] = '\0';
		assert_true(smtp_address_ok(label));
		label[2 + 63] = 'b';
		label[2 + 64] = '\0';
		assert_false(smtp_address_ok(label));
	}
	assert_true(smtp_address_utf8("j\xc3\xb6rg"));
	assert_false(smtp_address_utf8("joerg@x"));
}

static void
test_target(void **state)
{
	struct smtp_target t;
	struct pf_err err;
	char name[128];

	(void)state;
	assert_int_equal(
	    smtp_parse_target("/run/dovecot/lmtp", SMTP_PROTO_LMTP, &t, &err),
	    0);
	assert_true(t.is_unix);
	assert_string_equal(t.path, "/run/dovecot/lmtp");
	assert_string_equal(
	    smtp_target_name(&t, name, sizeof(name)), "/run/dovecot/lmtp");
	assert_int_equal(
	    smtp_parse_target("/run/dovecot/lmtp", SMTP_PROTO_SMTP, &t, &err),
	    -1);
	assert_int_equal(err.code, PF_EUSAGE);

	assert_int_equal(
	    smtp_parse_target("mail.example", SMTP_PROTO_SMTP, &t, &err), 0);
	assert_false(t.is_unix);
	assert_string_equal(t.host, "mail.example");
	assert_string_equal(t.port, "25");
	assert_int_equal(
	    smtp_parse_target("mail.example", SMTP_PROTO_LMTP, &t, &err), 0);
	assert_string_equal(t.port, "24");
	assert_int_equal(
	    smtp_parse_target("127.0.0.1:2525", SMTP_PROTO_SMTP, &t, &err), 0);
	assert_string_equal(t.host, "127.0.0.1");
	assert_string_equal(t.port, "2525");
	assert_string_equal(
	    smtp_target_name(&t, name, sizeof(name)), "127.0.0.1:2525");
	assert_int_equal(
	    smtp_parse_target("[::1]:24", SMTP_PROTO_LMTP, &t, &err), 0);
	assert_string_equal(t.host, "::1");
	assert_string_equal(t.port, "24");
	assert_string_equal(
	    smtp_target_name(&t, name, sizeof(name)), "[::1]:24");
	assert_int_equal(
	    smtp_parse_target("[::1]", SMTP_PROTO_SMTP, &t, &err), 0);
	assert_string_equal(t.host, "::1");
	assert_string_equal(t.port, "25");
	assert_int_equal(
	    smtp_parse_target("fe80::1", SMTP_PROTO_SMTP, &t, &err), 0);
	assert_string_equal(t.host, "fe80::1");
	assert_string_equal(t.port, "25");

	assert_int_equal(smtp_parse_target("", SMTP_PROTO_SMTP, &t, &err), -1);
	assert_int_equal(
	    smtp_parse_target("host:", SMTP_PROTO_SMTP, &t, &err), -1);
	assert_int_equal(
	    smtp_parse_target("host:0", SMTP_PROTO_SMTP, &t, &err), -1);
	assert_int_equal(
	    smtp_parse_target("host:65536", SMTP_PROTO_SMTP, &t, &err), -1);
	assert_int_equal(
	    smtp_parse_target("host:2x", SMTP_PROTO_SMTP, &t, &err), -1);
	assert_int_equal(
	    smtp_parse_target(":25", SMTP_PROTO_SMTP, &t, &err), -1);
	assert_int_equal(
	    smtp_parse_target("[::1", SMTP_PROTO_SMTP, &t, &err), -1);
	assert_int_equal(
	    smtp_parse_target("[::1]x", SMTP_PROTO_SMTP, &t, &err), -1);
	assert_int_equal(err.code, PF_EUSAGE);
	{
		char path[200];

		memset(path, 'p', sizeof(path));
		path[0] = '/';
		path[sizeof(path) - 1] = '\0';
		assert_int_equal(
		    smtp_parse_target(path, SMTP_PROTO_LMTP, &t, &err), -1);
	}
}

static void
test_loopback(void **state)
{
	struct sockaddr_in s4;
	struct sockaddr_in6 s6;

	(void)state;
	memset(&s4, 0, sizeof(s4));
	s4.sin_family = AF_INET;
	inet_pton(AF_INET, "127.0.0.1", &s4.sin_addr);
	assert_true(smtp_addr_is_loopback((struct sockaddr *)&s4));
	inet_pton(AF_INET, "127.200.3.4", &s4.sin_addr);
	assert_true(smtp_addr_is_loopback((struct sockaddr *)&s4));
	inet_pton(AF_INET, "128.0.0.1", &s4.sin_addr);
	assert_false(smtp_addr_is_loopback((struct sockaddr *)&s4));
	inet_pton(AF_INET, "10.0.0.1", &s4.sin_addr);
	assert_false(smtp_addr_is_loopback((struct sockaddr *)&s4));
	memset(&s6, 0, sizeof(s6));
	s6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "::1", &s6.sin6_addr);
	assert_true(smtp_addr_is_loopback((struct sockaddr *)&s6));
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &s6.sin6_addr);
	assert_true(smtp_addr_is_loopback((struct sockaddr *)&s6));
	inet_pton(AF_INET6, "::ffff:10.0.0.1", &s6.sin6_addr);
	assert_false(smtp_addr_is_loopback((struct sockaddr *)&s6));
	inet_pton(AF_INET6, "fe80::1", &s6.sin6_addr);
	assert_false(smtp_addr_is_loopback((struct sockaddr *)&s6));
	inet_pton(AF_INET6, "::2", &s6.sin6_addr);
	assert_false(smtp_addr_is_loopback((struct sockaddr *)&s6));
}

/* ---- the DATA encoder ---- */

/* Encode in pieces cut at the given offsets (0: in one go). */
static size_t
encode_split(const char *in, size_t len, size_t cut, char *out)
{
	struct smtp_enc e = {0};
	size_t o = 0;

	if (cut > 0 && cut < len) {
		o = smtp_encode(&e, in, cut, out);
		o += smtp_encode(&e, in + cut, len - cut, out + o);
	} else {
		o = smtp_encode(&e, in, len, out);
	}
	return o + smtp_encode_end(&e, out + o);
}

/* What a server that follows RFC 5321 stores from the wire bytes, with
 * CRLF turned into LF; a CR before the dot also counts as a line start,
 * as our encoder promises. Returns the length, -1 if no terminator. */
static long
reference_decode(const char *w, size_t len, char *out)
{
	size_t i = 0, o = 0;
	bool start = true;

	while (i < len) {
		if (start && w[i] == '.') {
			if (i + 2 < len && w[i + 1] == '\r' && w[i + 2] == '\n')
				return i + 3 == len ? (long)o : -1;
			i++; /* a stuffed dot */
		}
		if (w[i] == '\r' && i + 1 < len && w[i + 1] == '\n') {
			out[o++] = '\n';
			i += 2;
			start = true;
			continue;
		}
		if (w[i] == '\n')
			return -1; /* a bare LF must never go out */
		start = w[i] == '\r';
		out[o++] = w[i++];
	}
	return -1;
}

static void
check_encoding(const char *in, size_t len, const char *want, size_t wantlen)
{
	char out[512];
	size_t n, cut;

	for (cut = 0; cut <= len; cut++) {
		n = encode_split(in, len, cut, out);
		if (n != wantlen || memcmp(out, want, n) != 0)
			fail_msg("encoding of %zu bytes cut at %zu differs",
			    len, cut);
	}
}

#define ENC(in, want) check_encoding(in, sizeof(in) - 1, want, sizeof(want) - 1)

/* CRLF, stuffing at line starts and after a bare CR, the end. */
static void
test_encode(void **state)
{
	(void)state;
	ENC("", ".\r\n");
	ENC("a\n", "a\r\n.\r\n");
	ENC("a", "a\r\n.\r\n");
	ENC(".\n", "..\r\n.\r\n");
	ENC(".", "..\r\n.\r\n");
	ENC("a\n.\n", "a\r\n..\r\n.\r\n");
	ENC("a\n..b\n", "a\r\n...b\r\n.\r\n");
	ENC("a.b\n", "a.b\r\n.\r\n");
	ENC("\n\n", "\r\n\r\n.\r\n");
	ENC("a\r\n", "a\r\r\n.\r\n");
	ENC("a\rb\n", "a\rb\r\n.\r\n");
	ENC("a\r.b\n", "a\r..b\r\n.\r\n");
	ENC("a\r.\r\n", "a\r..\r\r\n.\r\n");
	ENC("a\r", "a\r\r\n.\r\n");
	ENC("\r.\n", "\r..\r\n.\r\n");
	ENC("From x\n>From y\n", "From x\r\n>From y\r\n.\r\n");
	ENC("n\0ul\n", "n\0ul\r\n.\r\n");
	ENC("8\xe9\xff\n", "8\xe9\xff\r\n.\r\n");
	ENC("x\n.\r\n.\n", "x\r\n..\r\r\n..\r\n.\r\n");
}

/* Random messages from a small alphabet: the wire never holds a bare LF
 * or an early terminator, and decodes to the message plus a final LF. */
static void
test_encode_roundtrip(void **state)
{
	static const char alpha[] = "\r\n.aF \0\xe9";
	char in[64], want[80], wire[200], back[200];
	unsigned seed = 12345, k;
	size_t len, i, n, cut;
	long got;

	(void)state;
	for (k = 0; k < 20000; k++) {
		seed = seed * 1103515245u + 12345u;
		len = (seed >> 16) % sizeof(in);
		for (i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			in[i] = alpha[(seed >> 16) % (sizeof(alpha) - 1)];
		}
		memcpy(want, in, len);
		n = len;
		if (n > 0 && want[n - 1] != '\n')
			want[n++] = '\n';
		cut = len > 0 ? (seed >> 8) % len : 0;
		i = encode_split(in, len, cut, wire);
		got = reference_decode(wire, i, back);
		if (got < 0 || (size_t)got != n || memcmp(back, want, n) != 0)
			fail_msg("round trip %u of %zu bytes failed", k, len);
	}
}

/* ---- sessions against a scripted in-memory server ---- */

struct step {
	const char *client; /* bytes the client must have written; NULL */
	const char *server; /* released once they were written */
	size_t clientlen;   /* 0: strlen(client) */
	size_t serverlen;   /* 0: strlen(server) */
};

struct mem {
	const struct step *steps;
	size_t nsteps, next;
	char *in;
	size_t inlen, incap, pos, chunk, cut;
	char *out;
	size_t outlen, outcap, matched;
	bool bad;	/* the client wrote something unexpected */
	bool closed;	/* the stream was closed */
	size_t fail_at; /* writes fail once this much was written (0: no) */
};

static void
grow(char **buf, size_t *cap, size_t need)
{
	if (*cap >= need)
		return;
	*cap = need * 2;
	*buf = realloc(*buf, *cap);
	assert_non_null(*buf);
}

/* Release the replies of every step whose bytes were written. */
static void
mem_advance(struct mem *m)
{
	const struct step *st;
	size_t clen, slen, have;

	while (m->next < m->nsteps) {
		st = &m->steps[m->next];
		if (st->client != NULL) {
			clen = st->clientlen > 0 ? st->clientlen
						 : strlen(st->client);
			have = m->outlen - m->matched;
			if (memcmp(m->out + m->matched, st->client,
				have < clen ? have : clen) != 0) {
				m->bad = true;
				return;
			}
			if (have < clen)
				return;
			m->matched += clen;
		}
		slen = st->serverlen > 0 ? st->serverlen : strlen(st->server);
		grow(&m->in, &m->incap, m->inlen + slen + 1);
		memcpy(m->in + m->inlen, st->server, slen);
		m->inlen += slen;
		m->next++;
	}
	if (m->outlen > m->matched)
		m->bad = true;
}

/* Hand out released bytes: the first read stops at m->cut, the others
 * give at most m->chunk; nothing released means EOF. */
static ssize_t
mem_read(struct stream *s, void *buf, size_t len, struct pf_err *err)
{
	struct mem *m = s->impl;
	size_t n;

	(void)err;
	n = m->inlen - m->pos;
	if (n > m->chunk)
		n = m->chunk;
	if (m->cut > m->pos && n > m->cut - m->pos)
		n = m->cut - m->pos;
	if (n > len)
		n = len;
	if (n == 0)
		return 0;
	memcpy(buf, m->in + m->pos, n);
	m->pos += n;
	return (ssize_t)n;
}

static ssize_t
mem_write(struct stream *s, const void *buf, size_t len, struct pf_err *err)
{
	struct mem *m = s->impl;

	if (m->fail_at > 0 && m->outlen + len > m->fail_at) {
		len = m->fail_at > m->outlen ? m->fail_at - m->outlen : 0;
		if (len == 0)
			return pf_err_set(err, PF_ETEMP,
			    "cannot write to the server: Broken pipe");
	}
	grow(&m->out, &m->outcap, m->outlen + len + 1);
	memcpy(m->out + m->outlen, buf, len);
	m->outlen += len;
	m->out[m->outlen] = '\0';
	mem_advance(m);
	return (ssize_t)len;
}

/* The test owns the script state; closing only marks it. */
static void
mem_close(struct stream *s)
{
	struct mem *m = s->impl;

	m->closed = true;
	s->impl = NULL;
}

static bool
mem_pending(const struct stream *s)
{
	(void)s;
	return false;
}

static const struct stream_ops mem_ops = {
    .read = mem_read,
    .write = mem_write,
    .close = mem_close,
    .pending = mem_pending,
};

static void
mem_free(struct mem *m)
{
	free(m->in);
	free(m->out);
	free(m);
}

/* A stream over a script; chunk bytes per read, the first cut at cut. */
static struct stream *
mem_stream(struct mem **mp, const struct step *steps, size_t nsteps,
    size_t chunk, size_t cut)
{
	struct mem *m = calloc(1, sizeof(*m));
	struct stream *s = calloc(1, sizeof(*s));

	assert_non_null(m);
	assert_non_null(s);
	m->steps = steps;
	m->nsteps = nsteps;
	m->chunk = chunk;
	m->cut = cut;
	grow(&m->out, &m->outcap, 1);
	m->out[0] = '\0';
	mem_advance(m);
	s->ops = &mem_ops;
	s->fd = -1;
	s->impl = m;
	s->timeout_ms = 1000;
	*mp = m;
	return s;
}

/* A session of proto over a script; chunk bytes per read. */
static struct smtp *
session(struct mem **mp, enum smtp_proto proto, const struct step *steps,
    size_t nsteps, size_t chunk, size_t cut)
{
	struct smtp_params p;
	struct stream *s = mem_stream(mp, steps, nsteps, chunk, cut);

	memset(&p, 0, sizeof(p));
	p.target.proto = proto;
	strcpy(p.target.host, "mem");
	strcpy(p.target.port, "25");
	p.tls = SMTP_TLS_AUTO;
	p.helo = "client.test";
	p.timeout_ms = 1000;
	return smtp_new(s, &p, true);
}

/* The script must have been played out exactly. */
static void
script_done(const struct mem *m)
{
	if (m->bad)
		fail_msg("unexpected client bytes after step %zu: '%s'",
		    m->next, m->out + m->matched);
	assert_int_equal(m->next, m->nsteps);
	assert_int_equal(m->matched, m->outlen);
}

static const char *const one_rcpt[] = {"alice@test.example"};
static const char *const two_rcpt[] = {"alice@test.example", "bob@x"};

static struct smtp_envelope
env_of(const char *sender, const char *const *rcpt, size_t n, bool eight,
    unsigned long long size)
{
	struct smtp_envelope e;

	memset(&e, 0, sizeof(e));
	e.sender = sender;
	e.rcpt = rcpt;
	e.nrcpt = n;
	e.body_8bit = eight;
	e.size = size;
	return e;
}

#define EHLO_PIPE_REPLY                                      \
	"250-mx hello\r\n250-PIPELINING\r\n250-8BITMIME\r\n" \
	"250-SIZE 1000000\r\n250 ENHANCEDSTATUSCODES\r\n"
#define EHLO_PIPE                                             \
	{NULL, "220 mx ESMTP ready\r\n", 0, 0},               \
	{                                                     \
		"EHLO client.test\r\n", EHLO_PIPE_REPLY, 0, 0 \
	}

/* Push one message through begin/write/end. */
static int
push(struct smtp *c, const struct smtp_envelope *env, const char *msg,
    size_t len, size_t piece, struct smtp_result *res, struct pf_err *err)
{
	size_t off, n;

	if (smtp_begin(c, env, res, err) == -1)
		return -1;
	for (off = 0; off < len; off += n) {
		n = len - off < piece ? len - off : piece;
		if (smtp_write(c, msg + off, n, err) == -1)
			return -1;
	}
	return smtp_end(c, res, err);
}

/* Two messages in one pipelined SMTP session, at every read chunk size
 * and with the first read cut at every offset of the greeting. */
static void
test_session_pipelined(void **state)
{
	static const struct step steps[] = {
	    EHLO_PIPE,
	    {"MAIL FROM:<bob@example.org> SIZE=19\r\nRCPT "
	     "TO:<alice@test.example>\r\nDATA\r\n",
		"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go ahead\r\n", 0, 0},
	    {"Subject: a\r\n\r\n..dot\r\n.\r\n",
		"250 2.0.0 Ok: queued as A1\r\n", 0, 0},
	    {"MAIL FROM:<> BODY=8BITMIME SIZE=7\r\nRCPT "
	     "TO:<alice@test.example>\r\nDATA\r\n",
		"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go ahead\r\n", 0, 0},
	    {"b\xe9\r\nno\r\n.\r\n", "250 2.0.0 Ok: queued as B2\r\n", 0, 0},
	    {"QUIT\r\n", "221 2.0.0 Bye\r\n", 0, 0},
	};
	static const char msg1[] = "Subject: a\n\n.dot\n";
	static const char msg2[] = "b\xe9\nno";
	struct smtp_envelope e1 = env_of(
				 "bob@example.org", one_rcpt, 1, false, 19),
			     e2 = env_of("", one_rcpt, 1, true, 7);
	struct smtp_result res;
	struct pf_err err;
	struct smtp *c;
	struct mem *m;
	size_t i, total = 0, round, chunk, cut;

	(void)state;
	for (i = 0; i < NSTEPS(steps); i++)
		total += strlen(steps[i].server);
	/* every read size, then one cut at every offset of the replies */
	for (round = 1; round <= 200 + total; round++) {
		chunk = round <= 200 ? round : 4096;
		cut = round <= 200 ? 0 : round - 200;
		{
			c = session(&m, SMTP_PROTO_SMTP, steps, NSTEPS(steps),
			    chunk, cut);
			assert_int_equal(smtp_hello(c, &err), 0);
			assert_true(smtp_get_capa(c)->pipelining);
			assert_true(smtp_get_capa(c)->size_max == 1000000);
			assert_int_equal(push(c, &e1, msg1, sizeof(msg1) - 1,
					     chunk, &res, &err),
			    0);
			assert_int_equal(res.outcome, SMTP_DELIVERED);
			assert_int_equal(res.code, 250);
			assert_int_equal(res.nrcpt_ok, 1);
			assert_string_equal(
			    res.text, "250 2.0.0 Ok: queued as A1");
			assert_int_equal(
			    push(c, &e2, msg2, sizeof(msg2) - 1, 3, &res, &err),
			    0);
			assert_true(smtp_ready(c));
			smtp_close(c);
			script_done(m);
			assert_true(m->closed);
			mem_free(m);
		}
	}
}

/* Without PIPELINING every command waits for its reply; with two
 * recipients and PIPELINING, DATA waits for both RCPT replies. */
static void
test_session_sequential(void **state)
{
	static const struct step seq[] = {
	    {NULL, "220 mx\r\n", 0, 0},
	    {"EHLO client.test\r\n", "250-mx\r\n250 8BITMIME\r\n", 0, 0},
	    {"MAIL FROM:<a@x>\r\n", "250 ok\r\n", 0, 0},
	    {"RCPT TO:<alice@test.example>\r\n", "250 ok\r\n", 0, 0},
	    {"RCPT TO:<bob@x>\r\n", "251 will forward\r\n", 0, 0},
	    {"DATA\r\n", "354 go\r\n", 0, 0},
	    {"x\r\n.\r\n", "250 ok\r\n", 0, 0},
	    {"QUIT\r\n", "221 bye\r\n", 0, 0},
	};
	static const struct step pipe2[] = {
	    EHLO_PIPE,
	    {"MAIL FROM:<a@x> SIZE=2\r\nRCPT TO:<alice@test.example>\r\nRCPT "
	     "TO:<bob@x>\r\n",
		"250 ok\r\n250 ok\r\n250 ok\r\n", 0, 0},
	    {"DATA\r\n", "354 go\r\n", 0, 0},
	    {"x\r\n.\r\n", "250 ok\r\n", 0, 0},
	    {"QUIT\r\n", "221 bye\r\n", 0, 0},
	};
	struct smtp_envelope e = env_of("a@x", two_rcpt, 2, false, 2);
	struct smtp_result res;
	struct pf_err err;
	struct smtp *c;
	struct mem *m;
	size_t chunk;

	(void)state;
	for (chunk = 1; chunk <= 16; chunk++) {
		c = session(&m, SMTP_PROTO_SMTP, seq, NSTEPS(seq), chunk, 0);
		assert_int_equal(smtp_hello(c, &err), 0);
		assert_int_equal(push(c, &e, "x\n", 2, 2, &res, &err), 0);
		assert_int_equal(res.nrcpt_ok, 2);
		assert_int_equal(res.rcpt_code[1], 250);
		smtp_close(c);
		script_done(m);
		mem_free(m);

		c = session(
		    &m, SMTP_PROTO_SMTP, pipe2, NSTEPS(pipe2), chunk, 0);
		assert_int_equal(smtp_hello(c, &err), 0);
		assert_int_equal(push(c, &e, "x\n", 2, 1, &res, &err), 0);
		smtp_close(c);
		script_done(m);
		mem_free(m);
	}
}

/* LMTP: one reply per accepted recipient after the dot. */
static void
test_session_lmtp(void **state)
{
	static const struct step steps[] = {
	    {NULL, "220 lmtp ready\r\n", 0, 0},
	    {"LHLO client.test\r\n",
		"250-lmtp\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 "
		"ENHANCEDSTATUSCODES\r\n",
		0, 0},
	    /* all delivered */
	    {"MAIL FROM:<a@x>\r\nRCPT TO:<alice@test.example>\r\nRCPT "
	     "TO:<bob@x>\r\n",
		"250 ok\r\n250 ok\r\n250 ok\r\n", 0, 0},
	    {"DATA\r\n", "354 go\r\n", 0, 0},
	    {"m\r\n.\r\n",
		"250 2.0.0 <alice@test.example> saved\r\n250 2.0.0 <bob@x> "
		"saved\r\n",
		0, 0},
	    /* the second is over quota for good: a permanent failure with
	     * one recipient served, then RSET */
	    {"MAIL FROM:<a@x>\r\nRCPT TO:<alice@test.example>\r\nRCPT "
	     "TO:<bob@x>\r\n",
		"250 ok\r\n250 ok\r\n250 ok\r\n", 0, 0},
	    {"DATA\r\n", "354 go\r\n", 0, 0},
	    {"m\r\n.\r\n",
		"250 2.0.0 <alice@test.example> saved\r\n552-5.2.2 <bob@x> "
		"quota\r\n552 5.2.2 exceeded\r\n",
		0, 0},
	    {"RSET\r\n", "250 ok\r\n", 0, 0},
	    /* one recipient, deferred after the dot */
	    {"MAIL FROM:<a@x>\r\nRCPT TO:<alice@test.example>\r\nDATA\r\n",
		"250 ok\r\n250 ok\r\n354 go\r\n", 0, 0},
	    {"m\r\n.\r\n", "451 4.3.0 try later\r\n", 0, 0},
	    {"RSET\r\n", "250 ok\r\n", 0, 0},
	    {"QUIT\r\n", "221 bye\r\n", 0, 0},
	};
	struct smtp_envelope e2 = env_of("a@x", two_rcpt, 2, false, 0),
			     e1 = env_of("a@x", one_rcpt, 1, false, 0);
	struct smtp_result res;
	struct pf_err err;
	struct smtp *c;
	struct mem *m;
	size_t chunk;

	(void)state;
	for (chunk = 1; chunk <= 64; chunk++) {
		c = session(
		    &m, SMTP_PROTO_LMTP, steps, NSTEPS(steps), chunk, 0);
		assert_int_equal(smtp_hello(c, &err), 0);
		assert_int_equal(push(c, &e2, "m\n", 2, 2, &res, &err), 0);
		assert_int_equal(res.nrcpt_ok, 2);
		assert_int_equal(push(c, &e2, "m\n", 2, 2, &res, &err), -1);
		assert_int_equal(res.outcome, SMTP_PERMFAIL);
		assert_int_equal(res.code, 552);
		assert_int_equal(res.nrcpt_ok, 1);
		assert_int_equal(res.rcpt_code[0], 250);
		assert_int_equal(res.rcpt_code[1], 552);
		assert_int_equal(err.code, PF_EIO);
		assert_non_null(strstr(err.msg, "552 5.2.2 <bob@x> quota"));
		assert_true(smtp_ready(c));
		assert_int_equal(push(c, &e1, "m\n", 2, 2, &res, &err), -1);
		assert_int_equal(res.outcome, SMTP_TEMPFAIL);
		assert_int_equal(err.code, PF_ETEMP);
		assert_int_equal(res.nrcpt_ok, 0);
		assert_true(smtp_ready(c));
		smtp_close(c);
		script_done(m);
		mem_free(m);
	}
}

/* Refusals before DATA: nothing is sent, RSET follows, the session
 * goes on; the class follows the reply. */
static void
test_session_refusals(void **state)
{
	static const struct step steps[] = {
	    EHLO_PIPE,
	    /* 550 for the one recipient: DATA is refused too */
	    {"MAIL FROM:<a@x>\r\nRCPT TO:<alice@test.example>\r\nDATA\r\n",
		"250 ok\r\n550 5.1.1 no such user\r\n554 5.5.1 no valid "
		"recipients\r\n",
		0, 0},
	    {"RSET\r\n", "250 ok\r\n", 0, 0},
	    /* 451 at MAIL */
	    {"MAIL FROM:<a@x>\r\nRCPT TO:<alice@test.example>\r\nDATA\r\n",
		"451 4.3.0 busy\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need "
		"MAIL\r\n",
		0, 0},
	    {"RSET\r\n", "250 ok\r\n", 0, 0},
	    /* 452 for one of two recipients: no DATA at all */
	    {"MAIL FROM:<a@x>\r\nRCPT TO:<alice@test.example>\r\nRCPT "
	     "TO:<bob@x>\r\n",
		"250 ok\r\n250 ok\r\n452 4.5.3 too many recipients\r\n", 0, 0},
	    {"RSET\r\n", "250 ok\r\n", 0, 0},
	    /* a 4xx and a 5xx recipient: permanent wins */
	    {"MAIL FROM:<a@x>\r\nRCPT TO:<alice@test.example>\r\nRCPT "
	     "TO:<bob@x>\r\n",
		"250 ok\r\n451 later\r\n550 never\r\n", 0, 0},
	    {"RSET\r\n", "250 ok\r\n", 0, 0},
	    /* a broken server answers 354 although the recipient failed:
	     * an empty message ends it */
	    {"MAIL FROM:<a@x>\r\nRCPT TO:<alice@test.example>\r\nDATA\r\n",
		"250 ok\r\n550 no\r\n354 go\r\n", 0, 0},
	    {".\r\n", "554 no recipients\r\n", 0, 0},
	    {"RSET\r\n", "250 ok\r\n", 0, 0},
	    /* 554 to DATA itself */
	    {"MAIL FROM:<a@x>\r\nRCPT TO:<alice@test.example>\r\nDATA\r\n",
		"250 ok\r\n250 ok\r\n554 5.7.1 go away\r\n", 0, 0},
	    {"RSET\r\n", "250 ok\r\n", 0, 0},
	    /* and a message that is delivered afterwards */
	    {"MAIL FROM:<a@x>\r\nRCPT TO:<alice@test.example>\r\nDATA\r\n",
		"250 ok\r\n250 ok\r\n354 go\r\n", 0, 0},
	    {"ok\r\n.\r\n", "250 ok\r\n", 0, 0},
	    /* a 5xx after the dot */
	    {"MAIL FROM:<a@x>\r\nRCPT TO:<alice@test.example>\r\nDATA\r\n",
		"250 ok\r\n250 ok\r\n354 go\r\n", 0, 0},
	    {"ok\r\n.\r\n", "550 5.7.1 content rejected\r\n", 0, 0},
	    {"RSET\r\n", "250 ok\r\n", 0, 0},
	    {"QUIT\r\n", "221 bye\r\n", 0, 0},
	};
	struct smtp_envelope e1 = env_of("a@x", one_rcpt, 1, false, 0),
			     e2 = env_of("a@x", two_rcpt, 2, false, 0);
	struct smtp_result res;
	struct pf_err err;
	struct smtp *c;
	struct mem *m;

	(void)state;
	c = session(&m, SMTP_PROTO_SMTP, steps, NSTEPS(steps), 7, 0);
	assert_int_equal(smtp_hello(c, &err), 0);

	assert_int_equal(smtp_begin(c, &e1, &res, &err), -1);
	assert_int_equal(res.outcome, SMTP_PERMFAIL);
	assert_int_equal(res.code, 550);
	assert_int_equal(err.code, PF_EIO);
	assert_non_null(strstr(err.msg, "at RCPT: 550 5.1.1 no such user"));
	assert_non_null(strstr(err.msg, "kept"));
	assert_true(smtp_ready(c));

	assert_int_equal(smtp_begin(c, &e1, &res, &err), -1);
	assert_int_equal(res.outcome, SMTP_TEMPFAIL);
	assert_int_equal(res.code, 451);
	assert_int_equal(err.code, PF_ETEMP);
	assert_non_null(strstr(err.msg, "at MAIL: 451 4.3.0 busy"));

	assert_int_equal(smtp_begin(c, &e2, &res, &err), -1);
	assert_int_equal(res.outcome, SMTP_TEMPFAIL);
	assert_int_equal(res.code, 452);
	assert_int_equal(res.rcpt_code[0], 250);
	assert_int_equal(res.rcpt_code[1], 452);

	assert_int_equal(smtp_begin(c, &e2, &res, &err), -1);
	assert_int_equal(res.outcome, SMTP_PERMFAIL);
	assert_int_equal(res.code, 550);

	assert_int_equal(smtp_begin(c, &e1, &res, &err), -1);
	assert_int_equal(res.outcome, SMTP_PERMFAIL);
	assert_int_equal(res.code, 550);

	assert_int_equal(smtp_begin(c, &e1, &res, &err), -1);
	assert_int_equal(res.code, 554);
	assert_non_null(strstr(err.msg, "at DATA"));

	assert_int_equal(push(c, &e1, "ok\n", 3, 3, &res, &err), 0);

	assert_int_equal(push(c, &e1, "ok\n", 3, 3, &res, &err), -1);
	assert_int_equal(res.outcome, SMTP_PERMFAIL);
	assert_int_equal(res.nrcpt_ok, 0);
	assert_non_null(strstr(err.msg, "at the end of data"));
	assert_true(smtp_ready(c));
	smtp_close(c);
	script_done(m);
	mem_free(m);
}

/* Refused before anything is sent: 8-bit without 8BITMIME, a non-ASCII
 * envelope without SMTPUTF8, unusable addresses; SMTPUTF8 when offered. */
static void
test_session_local_refusals(void **state)
{
	static const struct step plain[] = {
	    {NULL, "220 mx\r\n", 0, 0},
	    {"EHLO client.test\r\n", "250 mx\r\n", 0, 0},
	    {"MAIL FROM:<a@x>\r\n", "250 ok\r\n", 0, 0},
	    {"RCPT TO:<alice@test.example>\r\n", "250 ok\r\n", 0, 0},
	    {"DATA\r\n", "354 go\r\n", 0, 0},
	    {"7bit\r\n.\r\n", "250 ok\r\n", 0, 0},
	    {"QUIT\r\n", "221 bye\r\n", 0, 0},
	};
	static const struct step utf8[] = {
	    {NULL, "220 mx\r\n", 0, 0},
	    {"EHLO client.test\r\n",
		"250-mx\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 "
		"PIPELINING\r\n",
		0, 0},
	    {"MAIL FROM:<j\xc3\xb6rg@x> BODY=8BITMIME SMTPUTF8\r\nRCPT "
	     "TO:<alice@test.example>\r\nDATA\r\n",
		"250 ok\r\n250 ok\r\n354 go\r\n", 0, 0},
	    {"\xc3\xb6\r\n.\r\n", "250 ok\r\n", 0, 0},
	    {"QUIT\r\n", "221 bye\r\n", 0, 0},
	};
	static const char *const bad_rcpt[] = {"a b@x"};
	struct smtp_envelope e8 = env_of("a@x", one_rcpt, 1, true, 0),
			     eu =
				 env_of("j\xc3\xb6rg@x", one_rcpt, 1, false, 0),
			     e7 = env_of("a@x", one_rcpt, 1, false, 0),
			     eb = env_of("a@x", bad_rcpt, 1, false, 0),
			     es = env_of("a@x\r\nRSET", one_rcpt, 1, false, 0),
			     e0 = env_of("a@x", one_rcpt, 0, false, 0),
			     ee = env_of("j\xc3\xb6rg@x", one_rcpt, 1, true, 0);
	struct smtp_result res;
	struct pf_err err;
	struct smtp *c;
	struct mem *m;

	(void)state;
	c = session(&m, SMTP_PROTO_SMTP, plain, NSTEPS(plain), 5, 0);
	assert_int_equal(smtp_hello(c, &err), 0);
	assert_false(smtp_get_capa(c)->eightbitmime);
	assert_int_equal(smtp_begin(c, &e8, &res, &err), -1);
	assert_int_equal(res.outcome, SMTP_PERMFAIL);
	assert_int_equal(res.code, 0);
	assert_int_equal(err.code, PF_EIO);
	assert_non_null(strstr(err.msg, "8BITMIME"));
	assert_int_equal(smtp_begin(c, &eu, &res, &err), -1);
	assert_int_equal(res.outcome, SMTP_PERMFAIL);
	assert_non_null(strstr(err.msg, "SMTPUTF8"));
	assert_int_equal(smtp_begin(c, &eb, &res, &err), -1);
	assert_int_equal(err.code, PF_ESOFTWARE);
	assert_int_equal(smtp_begin(c, &es, &res, &err), -1);
	assert_int_equal(err.code, PF_ESOFTWARE);
	assert_int_equal(smtp_begin(c, &e0, &res, &err), -1);
	assert_int_equal(err.code, PF_ESOFTWARE);
	/* after all these, the session still delivers */
	assert_int_equal(push(c, &e7, "7bit\n", 5, 5, &res, &err), 0);
	assert_true(smtp_ready(c));
	smtp_close(c);
	script_done(m);
	mem_free(m);

	c = session(&m, SMTP_PROTO_SMTP, utf8, NSTEPS(utf8), 5, 0);
	assert_int_equal(smtp_hello(c, &err), 0);
	assert_int_equal(push(c, &ee, "\xc3\xb6\n", 3, 3, &res, &err), 0);
	smtp_close(c);
	script_done(m);
	mem_free(m);
}

/* An 8-bit byte in a message declared 7-bit drops the connection. */
static void
test_session_undeclared_8bit(void **state)
{
	static const struct step steps[] = {
	    EHLO_PIPE,
	    {"MAIL FROM:<a@x>\r\nRCPT TO:<alice@test.example>\r\nDATA\r\n",
		"250 ok\r\n250 ok\r\n354 go\r\n", 0, 0},
	    {"ok\r\n", "", 0, 0},
	};
	struct smtp_envelope e = env_of("a@x", one_rcpt, 1, false, 0);
	struct smtp_result res;
	struct pf_err err;
	struct smtp *c;
	struct mem *m;

	(void)state;
	c = session(&m, SMTP_PROTO_SMTP, steps, NSTEPS(steps), 64, 0);
	assert_int_equal(smtp_hello(c, &err), 0);
	assert_int_equal(smtp_begin(c, &e, &res, &err), 0);
	assert_int_equal(smtp_write(c, "ok\n", 3, &err), 0);
	assert_int_equal(smtp_write(c, "\xe9\n", 2, &err), -1);
	assert_int_equal(err.code, PF_ESOFTWARE);
	assert_false(smtp_ready(c));
	assert_true(m->closed);
	assert_int_equal(smtp_end(c, &res, &err), -1);
	smtp_close(c);
	script_done(m);
	mem_free(m);
}

/* Greetings, EHLO refusals and the HELO fallback. */
static void
test_session_hello(void **state)
{
	static const struct step s421[] = {
	    {NULL, "421 4.3.2 shutting down\r\n", 0, 0},
	};
	static const struct step s554[] = {
	    {NULL, "554 5.7.1 no service\r\n", 0, 0},
	};
	static const struct step sbad[] = {
	    {NULL, "+OK POP3 ready\r\n", 0, 0},
	};
	static const struct step s250[] = {
	    {NULL, "250 hi\r\n", 0, 0},
	};
	static const struct step helo[] = {
	    {NULL, "220 old\r\n", 0, 0},
	    {"EHLO client.test\r\n", "502 5.5.2 what\r\n", 0, 0},
	    {"HELO client.test\r\n", "250 old\r\n", 0, 0},
	    {"QUIT\r\n", "221 bye\r\n", 0, 0},
	};
	static const struct step lhlo[] = {
	    {NULL, "220 lmtp\r\n", 0, 0},
	    {"LHLO client.test\r\n", "500 5.5.1 what\r\n", 0, 0},
	};
	static const struct step ehlo4[] = {
	    {NULL, "220 mx\r\n", 0, 0},
	    {"EHLO client.test\r\n", "421 4.7.0 later\r\n", 0, 0},
	};
	static const struct step eof[] = {
	    {NULL, "220 mx\r\n", 0, 0},
	    {"EHLO client.test\r\n", "", 0, 0},
	};
	static const struct {
		enum smtp_proto proto;
		const struct step *steps;
		size_t n;
		int rc;
		enum pf_errc code;
		const char *msg;
	} cases[] = {
	    {SMTP_PROTO_SMTP, s421, NSTEPS(s421), -1, PF_ETEMP,
		"not available: 421 4.3.2 shutting down"},
	    {SMTP_PROTO_SMTP, s554, NSTEPS(s554), -1, PF_EUNAVAIL,
		"refuses service: 554"},
	    {SMTP_PROTO_SMTP, sbad, NSTEPS(sbad), -1, PF_EPROTO,
		"not an SMTP reply"},
	    {SMTP_PROTO_SMTP, s250, NSTEPS(s250), -1, PF_EPROTO,
		"greeting is not 220"},
	    {SMTP_PROTO_SMTP, helo, NSTEPS(helo), 0, PF_OK, NULL},
	    {SMTP_PROTO_LMTP, lhlo, NSTEPS(lhlo), -1, PF_EUNAVAIL,
		"refused LHLO: 500"},
	    {SMTP_PROTO_SMTP, ehlo4, NSTEPS(ehlo4), -1, PF_ETEMP,
		"refused EHLO: 421"},
	    {SMTP_PROTO_SMTP, eof, NSTEPS(eof), -1, PF_ETEMP,
		"closed by the mail server"},
	};
	struct pf_err err;
	struct smtp *c;
	struct mem *m;
	size_t i;

	(void)state;
	for (i = 0; i < NSTEPS(cases); i++) {
		c = session(
		    &m, cases[i].proto, cases[i].steps, cases[i].n, 3, 0);
		pf_err_clear(&err);
		assert_int_equal(smtp_hello(c, &err), cases[i].rc);
		if (cases[i].rc == 0) {
			assert_false(smtp_get_capa(c)->esmtp);
			assert_true(smtp_ready(c));
		} else {
			assert_int_equal(err.code, cases[i].code);
			if (strstr(err.msg, cases[i].msg) == NULL)
				fail_msg("case %zu: '%s'", i, err.msg);
			assert_false(smtp_ready(c));
			assert_int_equal(smtp_get_state(c), SMTP_ST_CLOSED);
		}
		smtp_close(c);
		script_done(m);
		mem_free(m);
	}
}

/* Policy STARTTLS against a server without it; STARTTLS injection. */
static void
test_session_starttls(void **state)
{
	static const struct step none[] = {
	    {NULL, "220 mx\r\n", 0, 0},
	    {"EHLO client.test\r\n", "250-mx\r\n250 PIPELINING\r\n", 0, 0},
	};
	static const struct step inject[] = {
	    {NULL, "220 mx\r\n", 0, 0},
	    {"EHLO client.test\r\n", "250-mx\r\n250 STARTTLS\r\n", 0, 0},
	    {"STARTTLS\r\n", "220 go\r\n250 injected\r\n", 0, 0},
	};
	static const struct step refused[] = {
	    {NULL, "220 mx\r\n", 0, 0},
	    {"EHLO client.test\r\n", "250-mx\r\n250 STARTTLS\r\n", 0, 0},
	    {"STARTTLS\r\n", "454 4.7.0 TLS not available\r\n", 0, 0},
	};
	const struct step *scripts[] = {none, inject, refused};
	const size_t lens[] = {NSTEPS(none), NSTEPS(inject), NSTEPS(refused)};
	const enum pf_errc codes[] = {PF_ENOPERM, PF_EPROTO, PF_ENOPERM};
	struct smtp_params p;
	struct stream *s;
	struct pf_err err;
	struct smtp *c;
	struct mem *m;
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++) {
		s = mem_stream(&m, scripts[i], lens[i], 1000, 0);
		memset(&p, 0, sizeof(p));
		p.target.proto = SMTP_PROTO_SMTP;
		p.tls = SMTP_TLS_STARTTLS;
		p.helo = "client.test";
		p.timeout_ms = 1000;
		c = smtp_new(s, &p, true);
		assert_int_equal(smtp_hello(c, &err), -1);
		assert_int_equal(err.code, codes[i]);
		assert_false(smtp_ready(c));
		smtp_close(c);
		script_done(m);
		mem_free(m);
	}
	/* AUTO over a stream that is not loopback also insists */
	s = mem_stream(&m, none, NSTEPS(none), 1000, 0);
	memset(&p, 0, sizeof(p));
	p.target.proto = SMTP_PROTO_SMTP;
	p.tls = SMTP_TLS_AUTO;
	p.helo = "client.test";
	p.timeout_ms = 1000;
	c = smtp_new(s, &p, false);
	assert_int_equal(smtp_hello(c, &err), -1);
	assert_int_equal(err.code, PF_ENOPERM);
	assert_non_null(strstr(err.msg, "not on loopback"));
	smtp_close(c);
	mem_free(m);
}

/* Protocol breaches: an endless multi-line reply, a changing code, a
 * 2xx to DATA, a line too long, a NUL in a reply. */
static void
test_session_breaches(void **state)
{
	static char endless[(SMTP_REPLY_LINES_MAX + 5) * 12 + 1];
	static const struct step change[] = {
	    EHLO_PIPE,
	    {"MAIL FROM:<a@x>\r\nRCPT TO:<alice@test.example>\r\nDATA\r\n",
		"250-ok\r\n251 ok\r\n", 0, 0},
	};
	static const struct step data2xx[] = {
	    EHLO_PIPE,
	    {"MAIL FROM:<a@x>\r\nRCPT TO:<alice@test.example>\r\nDATA\r\n",
		"250 ok\r\n250 ok\r\n250 ok\r\n", 0, 0},
	};
	static const struct step nul[] = {
	    {NULL, "220 a\0b\r\n", 0, 9},
	};
	static char longline[SMTP_LINE_MAX + 16];
	struct step endless_steps[2] = {
	    {NULL, "220 mx\r\n", 0, 0},
	    {"EHLO client.test\r\n", endless, 0, 0},
	};
	struct step long_steps[1] = {{NULL, longline, 0, 0}};
	struct smtp_envelope e = env_of("a@x", one_rcpt, 1, false, 0);
	struct smtp_result res;
	struct pf_err err;
	struct smtp *c;
	struct mem *m;
	size_t i;

	(void)state;
	endless[0] = '\0';
	for (i = 0; i < SMTP_REPLY_LINES_MAX + 5; i++)
		strcat(endless, "250-again\r\n");
	c = session(&m, SMTP_PROTO_SMTP, endless_steps, 2, 100, 0);
	assert_int_equal(smtp_hello(c, &err), -1);
	assert_int_equal(err.code, PF_EPROTO);
	assert_non_null(strstr(err.msg, "lines"));
	smtp_close(c);
	mem_free(m);

	c = session(&m, SMTP_PROTO_SMTP, change, NSTEPS(change), 100, 0);
	assert_int_equal(smtp_hello(c, &err), 0);
	assert_int_equal(smtp_begin(c, &e, &res, &err), -1);
	assert_int_equal(err.code, PF_EPROTO);
	assert_false(smtp_ready(c));
	smtp_close(c);
	mem_free(m);

	c = session(&m, SMTP_PROTO_SMTP, data2xx, NSTEPS(data2xx), 100, 0);
	assert_int_equal(smtp_hello(c, &err), 0);
	assert_int_equal(smtp_begin(c, &e, &res, &err), -1);
	assert_int_equal(err.code, PF_EPROTO);
	assert_non_null(strstr(err.msg, "unexpected reply to DATA"));
	smtp_close(c);
	mem_free(m);

	memset(longline, 'x', sizeof(longline));
	memcpy(longline, "220 ", 4);
	strcpy(longline + sizeof(longline) - 3, "\r\n");
	c = session(&m, SMTP_PROTO_SMTP, long_steps, 1, 1000, 0);
	assert_int_equal(smtp_hello(c, &err), -1);
	assert_int_equal(err.code, PF_EPROTO);
	assert_non_null(strstr(err.msg, "too long"));
	smtp_close(c);
	mem_free(m);

	c = session(&m, SMTP_PROTO_SMTP, nul, NSTEPS(nul), 1000, 0);
	assert_int_equal(smtp_hello(c, &err), -1);
	assert_int_equal(err.code, PF_EPROTO);
	assert_non_null(strstr(err.msg, "NUL"));
	smtp_close(c);
	mem_free(m);
}

/* The connection ends before the reply to the dot: temporary, and the
 * message may have arrived. A write error in DATA with a 5xx waiting
 * is permanent; without one, temporary. */
static void
test_session_drops(void **state)
{
	static const struct step nofinal[] = {
	    EHLO_PIPE,
	    {"MAIL FROM:<a@x>\r\nRCPT TO:<alice@test.example>\r\nDATA\r\n",
		"250 ok\r\n250 ok\r\n354 go\r\n", 0, 0},
	    {"body\r\n.\r\n", "", 0, 0},
	};
	static const struct step toobig[] = {
	    EHLO_PIPE,
	    {"MAIL FROM:<a@x>\r\nRCPT TO:<alice@test.example>\r\nDATA\r\n",
		"250 ok\r\n250 ok\r\n354 go\r\n552 5.3.4 message too big\r\n",
		0, 0},
	};
	static const struct step cut[] = {
	    EHLO_PIPE,
	    {"MAIL FROM:<a@x>\r\nRCPT TO:<alice@test.example>\r\nDATA\r\n",
		"250 ok\r\n250 ok\r\n354 go\r\n", 0, 0},
	};
	struct smtp_envelope e = env_of("a@x", one_rcpt, 1, false, 0);
	char big[10000];
	struct smtp_result res;
	struct pf_err err;
	struct smtp *c;
	struct mem *m;

	(void)state;
	c = session(&m, SMTP_PROTO_SMTP, nofinal, NSTEPS(nofinal), 100, 0);
	assert_int_equal(smtp_hello(c, &err), 0);
	assert_int_equal(push(c, &e, "body\n", 5, 5, &res, &err), -1);
	assert_int_equal(res.outcome, SMTP_TEMPFAIL);
	assert_int_equal(err.code, PF_ETEMP);
	assert_non_null(strstr(err.msg, "may arrive twice"));
	assert_non_null(strstr(err.msg, "smtp 'mem:25': no reply"));
	assert_false(smtp_ready(c));
	smtp_close(c);
	script_done(m);
	mem_free(m);

	memset(big, 'b', sizeof(big));
	c = session(&m, SMTP_PROTO_SMTP, toobig, NSTEPS(toobig), 100, 0);
	assert_int_equal(smtp_hello(c, &err), 0);
	assert_int_equal(smtp_begin(c, &e, &res, &err), 0);
	m->fail_at = m->outlen + 100;
	assert_int_equal(smtp_write(c, big, sizeof(big), &err), -1);
	assert_int_equal(err.code, PF_EIO);
	assert_non_null(strstr(err.msg, "552 5.3.4 message too big"));
	assert_false(smtp_ready(c));
	smtp_close(c);
	mem_free(m);

	c = session(&m, SMTP_PROTO_SMTP, cut, NSTEPS(cut), 100, 0);
	assert_int_equal(smtp_hello(c, &err), 0);
	assert_int_equal(smtp_begin(c, &e, &res, &err), 0);
	m->fail_at = m->outlen + 100;
	assert_int_equal(smtp_write(c, big, sizeof(big), &err), -1);
	assert_int_equal(err.code, PF_ETEMP);
	assert_non_null(strstr(err.msg, "message not sent"));
	/* the end of data never went out */
	assert_null(strstr(m->out, "\r\n.\r\n"));
	smtp_close(c);
	mem_free(m);
}

/* smtp_send_fd(): scans the file for 8-bit bytes and its size first,
 * then streams it in chunks; the file offset is left alone. */
static void
test_send_fd(void **state)
{
	struct step steps[] = {
	    EHLO_PIPE,
	    {"MAIL FROM:<> BODY=8BITMIME SIZE=70073\r\nRCPT "
	     "TO:<alice@test.example>\r\nDATA\r\n",
		"250 ok\r\n250 ok\r\n354 go\r\n", 0, 0},
	    {NULL, "250 2.0.0 queued\r\n", 0, 0}, /* the body, below */
	    {"QUIT\r\n", "221 bye\r\n", 0, 0},
	};
	struct smtp_envelope e = env_of("", one_rcpt, 1, false, 0);
	struct smtp_result res;
	struct pf_err err;
	struct smtp *c;
	struct mem *m;
	size_t i, n = 0;
	char *want;
	FILE *f;

	(void)state;
	want = malloc(80000);
	assert_non_null(want);
	f = tmpfile();
	assert_non_null(f);
	for (i = 0; i < 70000; i++) {
		if (i % 1000 == 999) {
			fputc('\n', f);
			want[n++] = '\r';
			want[n++] = '\n';
		} else {
			fputc(i % 1000 == 0 ? '.' : 'a', f);
			if (i % 1000 == 0)
				want[n++] = '.';
			want[n++] = i % 1000 == 0 ? '.' : 'a';
		}
	}
	fputc(0xe9, f);
	want[n++] = (char)0xe9;
	memcpy(want + n, "\r\n.\r\n", 5);
	n += 5;
	fflush(f);
	assert_int_equal(fseek(f, 5, SEEK_SET), 0);
	steps[3].client = want;
	steps[3].clientlen = n;
	c = session(&m, SMTP_PROTO_SMTP, steps, NSTEPS(steps), 4096, 0);
	assert_int_equal(smtp_hello(c, &err), 0);
	assert_int_equal(smtp_send_fd(c, &e, fileno(f), &res, &err), 0);
	assert_int_equal(res.outcome, SMTP_DELIVERED);
	assert_string_equal(res.text, "250 2.0.0 queued");
	assert_int_equal(ftell(f), 5);
	smtp_close(c);
	script_done(m);
	mem_free(m);
	free(want);
	fclose(f);
}

/* ---- timeouts and drops against a forked peer ---- */

/* The peer: send each reply after reading a line, then act. */
enum peer_end { PEER_SILENT, PEER_CLOSE, PEER_ENDLESS };

static void
peer(int fd, const char *const *replies, size_t n, enum peer_end end)
{
	char buf[4096];
	size_t i;
	ssize_t r;

	alarm(20);
	for (i = 0; i < n; i++) {
		if (i > 0 && read(fd, buf, sizeof(buf)) <= 0)
			_exit(0);
		if (write(fd, replies[i], strlen(replies[i])) < 0)
			_exit(0);
	}
	if (end == PEER_CLOSE)
		_exit(0);
	if (end == PEER_ENDLESS) {
		for (;;)
			if (write(fd, "250-more\r\n", 10) < 0)
				_exit(0);
	}
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		;
	_exit(0);
}

/* A session on one end of a socketpair, the scripted peer forked on
 * the other. */
static struct smtp *
peer_session(pid_t *pid, enum smtp_proto proto, const char *const *replies,
    size_t n, enum peer_end end, int timeout_ms)
{
	struct smtp_params p;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	*pid = fork();
	assert_true(*pid >= 0);
	if (*pid == 0) {
		close(sv[0]);
		peer(sv[1], replies, n, end);
	}
	close(sv[1]);
	memset(&p, 0, sizeof(p));
	p.target.proto = proto;
	strcpy(p.target.path, "/peer");
	p.target.is_unix = true;
	p.tls = SMTP_TLS_AUTO;
	p.helo = "client.test";
	p.timeout_ms = timeout_ms;
	return smtp_new(stream_tcp_new(sv[0], timeout_ms), &p, false);
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
reap(pid_t pid)
{
	int st;

	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

/* A reply that never comes: PF_ETEMP after the timeout, not later. */
static void
test_peer_timeouts(void **state)
{
	static const char *const greet_only[] = {"220 mx\r\n"};
	static const char *const to_data[] = {"220 mx\r\n",
	    "250-mx\r\n250 PIPELINING\r\n", "250 ok\r\n250 ok\r\n354 go\r\n"};
	struct smtp_envelope e = env_of("a@x", one_rcpt, 1, false, 0);
	struct smtp_result res;
	struct pf_err err;
	struct smtp *c;
	long long t0, dt;
	pid_t pid;

	(void)state;
	/* the EHLO reply never comes */
	c = peer_session(
	    &pid, SMTP_PROTO_SMTP, greet_only, 1, PEER_SILENT, 300);
	t0 = now_ms();
	assert_int_equal(smtp_hello(c, &err), -1);
	dt = now_ms() - t0;
	assert_int_equal(err.code, PF_ETEMP);
	assert_non_null(strstr(err.msg, "timed out"));
	assert_true(dt >= 250 && dt < 3000);
	smtp_close(c);
	reap(pid);

	/* the reply to the dot never comes (final timeout) */
	c = peer_session(&pid, SMTP_PROTO_SMTP, to_data, 3, PEER_SILENT, 300);
	assert_int_equal(smtp_hello(c, &err), 0);
	t0 = now_ms();
	assert_int_equal(push(c, &e, "x\n", 2, 2, &res, &err), -1);
	dt = now_ms() - t0;
	assert_int_equal(res.outcome, SMTP_TEMPFAIL);
	assert_int_equal(err.code, PF_ETEMP);
	assert_non_null(strstr(err.msg, "may arrive twice"));
	assert_true(dt >= 250 && dt < 3000);
	smtp_close(c);
	reap(pid);
}

/* An endless multi-line reply fails on the line bound, at once. */
static void
test_peer_endless(void **state)
{
	static const char *const greet[] = {"220 mx\r\n", "250-mx\r\n"};
	struct pf_err err;
	struct smtp *c;
	long long t0;
	pid_t pid;

	(void)state;
	c = peer_session(&pid, SMTP_PROTO_LMTP, greet, 2, PEER_ENDLESS, 5000);
	t0 = now_ms();
	assert_int_equal(smtp_hello(c, &err), -1);
	assert_int_equal(err.code, PF_EPROTO);
	assert_true(now_ms() - t0 < 3000);
	smtp_close(c);
	reap(pid);
}

/* The peer closes after 354: the message goes nowhere. */
static void
test_peer_drop_in_data(void **state)
{
	static const char *const to_data[] = {"220 mx\r\n",
	    "250-mx\r\n250 PIPELINING\r\n", "250 ok\r\n250 ok\r\n354 go\r\n"};
	struct smtp_envelope e = env_of("a@x", one_rcpt, 1, false, 0);
	struct smtp_result res;
	struct pf_err err;
	struct smtp *c;
	char *big;
	pid_t pid;
	int rc;

	(void)state;
	c = peer_session(&pid, SMTP_PROTO_SMTP, to_data, 3, PEER_CLOSE, 2000);
	assert_int_equal(smtp_hello(c, &err), 0);
	big = malloc(4 << 20);
	assert_non_null(big);
	memset(big, 'x', 4 << 20);
	rc = smtp_begin(c, &e, &res, &err);
	if (rc == 0)
		rc = smtp_write(c, big, 4 << 20, &err);
	if (rc == 0)
		rc = smtp_end(c, &res, &err);
	assert_int_equal(rc, -1);
	assert_int_equal(err.code, PF_ETEMP);
	assert_false(smtp_ready(c));
	free(big);
	smtp_close(c);
	reap(pid);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reply_line),
	    cmocka_unit_test(test_reply_feed),
	    cmocka_unit_test(test_capa),
	    cmocka_unit_test(test_address),
	    cmocka_unit_test(test_target),
	    cmocka_unit_test(test_loopback),
	    cmocka_unit_test(test_encode),
	    cmocka_unit_test(test_encode_roundtrip),
	    cmocka_unit_test(test_session_pipelined),
	    cmocka_unit_test(test_session_sequential),
	    cmocka_unit_test(test_session_lmtp),
	    cmocka_unit_test(test_session_refusals),
	    cmocka_unit_test(test_session_local_refusals),
	    cmocka_unit_test(test_session_undeclared_8bit),
	    cmocka_unit_test(test_session_hello),
	    cmocka_unit_test(test_session_starttls),
	    cmocka_unit_test(test_session_breaches),
	    cmocka_unit_test(test_session_drops),
	    cmocka_unit_test(test_send_fd),
	    cmocka_unit_test(test_peer_timeouts),
	    cmocka_unit_test(test_peer_endless),
	    cmocka_unit_test(test_peer_drop_in_data),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
