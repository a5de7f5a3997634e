/*
 * test-lbuf.c: the line buffer over the scripted peer handing out 1..k
 * bytes per read (so every split is reached), and over a real socketpair.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "popfetch/lbuf.h"
#include "popfetch/stream.h"

#include "peer.h"

/* The peer of the current check and its stream (freed by the next
 * mem_init() and by mem_done()). */
static struct peer *cur;
static struct stream *cur_stream;

/* Free the current peer and its stream. */
static void
mem_done(void)
{
	stream_close(cur_stream);
	peer_free(cur);
	cur_stream = NULL;
	cur = NULL;
}

/* A read-only stream over in[0..len), at most chunk bytes per read
 * (the scripted peer of peer.h, releasing everything at once). */
static struct stream *
mem_init(const char *in, size_t len, size_t chunk)
{
	static struct peer_step st;

	mem_done();
	st.client = NULL;
	st.server = in;
	st.serverlen = len;
	cur = peer_new(&st, len > 0 ? 1 : 0, chunk);
	cur_stream = peer_stream(cur);
	return cur_stream;
}

/* Expect the next line to be want. */
static void
expect_line(struct lbuf *lb, struct stream *s, const char *want, size_t wantlen)
{
	struct pf_err err;
	char *line;
	size_t len;

	assert_int_equal(lbuf_getline(lb, s, &line, &len, &err), 1);
	assert_int_equal(len, wantlen);
	assert_memory_equal(line, want, wantlen);
	assert_int_equal(line[len], '\0');
}

#define EXPECT_LINE(lb, s, lit) expect_line(lb, s, lit, sizeof(lit) - 1)

/* Lines with CRLF, bare LF, a kept bare CR and an empty line, all chunks. */
static void
test_lines_every_chunk(void **state)
{
	static const char in[] = "+OK hello\r\nbare lf\na\rb\r\n\r\nx\r\r\n"
				 "last\r\n";
	struct pf_err err;
	struct lbuf lb;
	struct stream *s;
	size_t chunk;
	char *line;
	size_t len;

	(void)state;
	for (chunk = 1; chunk <= sizeof(in); chunk++) {
		s = mem_init(in, sizeof(in) - 1, chunk);
		lbuf_init(&lb, 64, 32);
		EXPECT_LINE(&lb, s, "+OK hello");
		EXPECT_LINE(&lb, s, "bare lf");
		EXPECT_LINE(&lb, s, "a\rb");
		EXPECT_LINE(&lb, s, "");
		EXPECT_LINE(&lb, s, "x\r");
		EXPECT_LINE(&lb, s, "last");
		assert_int_equal(lbuf_getline(&lb, s, &line, &len, &err), 0);
		lbuf_free(&lb);
	}
}

/* Split a two-line input at every offset (first read gets off bytes). */
static void
test_split_every_offset(void **state)
{
	static const char in[] = "USER alice\r\n+OK fine\n";
	struct lbuf lb;
	struct stream *s;
	size_t off;

	(void)state;
	for (off = 1; off < sizeof(in) - 1; off++) {
		/* A small buffer forces compaction as well. */
		lbuf_init(&lb, 24, 12);
		s = mem_init(in, sizeof(in) - 1, sizeof(in));
		peer_set_first_chunk(cur, off);
		EXPECT_LINE(&lb, s, "USER alice");
		EXPECT_LINE(&lb, s, "+OK fine");
		lbuf_free(&lb);
	}
}

/* maxline bytes are fine, maxline + 1 are "line too long", CRLF or LF. */
static void
test_maxline(void **state)
{
	static const char ok_crlf[] = "0123456789abcdef\r\n";
	static const char ok_lf[] = "0123456789abcdef\n";
	static const char long_crlf[] = "0123456789abcdefg\r\n";
	static const char long_lf[] = "0123456789abcdefg\n";
	struct pf_err err;
	struct lbuf lb;
	struct stream *s;
	size_t chunk;
	char *line;
	size_t len;

	(void)state;
	for (chunk = 1; chunk <= 20; chunk++) {
		/* The smallest buffer: exactly a full line and its CRLF. */
		lbuf_init(&lb, 18, 16);
		s = mem_init(ok_crlf, sizeof(ok_crlf) - 1, chunk);
		EXPECT_LINE(&lb, s, "0123456789abcdef");
		lbuf_free(&lb);

		lbuf_init(&lb, 18, 16);
		s = mem_init(ok_lf, sizeof(ok_lf) - 1, chunk);
		EXPECT_LINE(&lb, s, "0123456789abcdef");
		lbuf_free(&lb);

		lbuf_init(&lb, 64, 16);
		s = mem_init(long_crlf, sizeof(long_crlf) - 1, chunk);
		assert_int_equal(lbuf_getline(&lb, s, &line, &len, &err), -1);
		assert_int_equal(err.code, PF_EPROTO);
		assert_string_equal(err.msg, "line too long");
		lbuf_free(&lb);

		lbuf_init(&lb, 18, 16);
		s = mem_init(long_lf, sizeof(long_lf) - 1, chunk);
		assert_int_equal(lbuf_getline(&lb, s, &line, &len, &err), -1);
		assert_int_equal(err.code, PF_EPROTO);
		lbuf_free(&lb);
	}
}

/* An endless line stops at the limit instead of reading forever. */
static void
test_endless_line(void **state)
{
	struct pf_err err;
	struct lbuf lb;
	struct stream *s;
	char *line;
	size_t len;

	(void)state;
	lbuf_init(&lb, LBUF_DEFAULT_SIZE, LBUF_MAX_LINE);
	s = mem_init(NULL, 0, 1000);
	peer_set_endless(cur, 'a');
	assert_int_equal(lbuf_getline(&lb, s, &line, &len, &err), -1);
	assert_int_equal(err.code, PF_EPROTO);
	assert_true(s->bytes_in <= LBUF_MAX_LINE + 1000 + 2);
	lbuf_free(&lb);
}

/* A NUL byte in a line is a protocol error, in any chunking. */
static void
test_nul(void **state)
{
	static const char in[] = "+OK a\0b\r\n";
	struct pf_err err;
	struct lbuf lb;
	struct stream *s;
	size_t chunk;
	char *line;
	size_t len;

	(void)state;
	for (chunk = 1; chunk < sizeof(in); chunk++) {
		lbuf_init(&lb, 64, 32);
		s = mem_init(in, sizeof(in) - 1, chunk);
		assert_int_equal(lbuf_getline(&lb, s, &line, &len, &err), -1);
		assert_int_equal(err.code, PF_EPROTO);
		lbuf_free(&lb);
	}
}

/* EOF in the middle of a line is a temporary failure; after a line, 0. */
static void
test_eof(void **state)
{
	static const char in[] = "+OK\r\npartial";
	struct pf_err err;
	struct lbuf lb;
	struct stream *s;
	char *line;
	size_t len;

	(void)state;
	lbuf_init(&lb, 64, 32);
	s = mem_init(in, sizeof(in) - 1, 3);
	EXPECT_LINE(&lb, s, "+OK");
	assert_int_equal(lbuf_getline(&lb, s, &line, &len, &err), -1);
	assert_int_equal(err.code, PF_ETEMP);
	assert_string_equal(err.msg, "connection closed by the server");
	lbuf_free(&lb);

	/* A lone CR at EOF is still a partial line. */
	lbuf_init(&lb, 64, 32);
	s = mem_init("\r", 1, 3);
	assert_int_equal(lbuf_getline(&lb, s, &line, &len, &err), -1);
	assert_int_equal(err.code, PF_ETEMP);
	lbuf_free(&lb);

	lbuf_init(&lb, 64, 32);
	s = mem_init("", 0, 3);
	assert_int_equal(lbuf_getline(&lb, s, &line, &len, &err), 0);
	lbuf_free(&lb);
}

/* The stream's own error comes through unchanged. */
static void
test_stream_error(void **state)
{
	struct pf_err err;
	struct lbuf lb;
	struct stream *s;
	char *line;
	size_t len;

	(void)state;
	lbuf_init(&lb, 64, 32);
	s = mem_init("+OK", 3, 2);
	peer_set_fail_at_end(cur);
	assert_int_equal(lbuf_getline(&lb, s, &line, &len, &err), -1);
	assert_int_equal(err.code, PF_ETEMP);
	assert_string_equal(err.msg, "peer: connection reset");
	lbuf_free(&lb);
}

/* Bytes after a line stay for the raw reader; fill compacts first. */
static void
test_raw_after_line(void **state)
{
	static const char in[] = "+OK body follows\r\nraw\0bytes\r\n.\r\n";
	struct pf_err err;
	struct lbuf lb;
	struct stream *s;
	char got[64];
	size_t have = 0;
	ssize_t n;

	(void)state;
	lbuf_init(&lb, 32, 24);
	s = mem_init(in, sizeof(in) - 1, 20);
	EXPECT_LINE(&lb, s, "+OK body follows");
	for (;;) {
		memcpy(got + have, lbuf_data(&lb), lb.len);
		have += lb.len;
		lbuf_consume(&lb, lb.len);
		n = lbuf_fill(&lb, s, &err);
		assert_true(n >= 0);
		if (n == 0)
			break;
	}
	assert_int_equal(have, sizeof(in) - 1 - 18);
	assert_memory_equal(got, in + 18, have);
	lbuf_free(&lb);
}

/* Partial consumption keeps the rest, and a line can follow raw use. */
static void
test_consume_then_line(void **state)
{
	static const char in[] = "abcdef\r\nnext\r\n";
	struct lbuf lb;
	struct stream *s;
	struct pf_err err;

	(void)state;
	lbuf_init(&lb, 64, 32);
	s = mem_init(in, sizeof(in) - 1, sizeof(in));
	assert_true(lbuf_fill(&lb, s, &err) > 0);
	assert_memory_equal(lbuf_data(&lb), "abc", 3);
	lbuf_consume(&lb, 3);
	assert_memory_equal(lbuf_data(&lb), "def", 3);
	EXPECT_LINE(&lb, s, "def");
	EXPECT_LINE(&lb, s, "next");
	lbuf_free(&lb);
}

/* The same over a real socket, through stream-tcp.c. */
static void
test_socketpair(void **state)
{
	static const char in[] = "+OK one\r\ntwo\n";
	struct pf_err err;
	struct lbuf lb;
	struct stream *s;
	char *line;
	size_t len;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	s = stream_tcp_new(sv[0], 5000);
	assert_int_equal(write(sv[1], in, 5), 5);
	assert_int_equal(
	    write(sv[1], in + 5, sizeof(in) - 6), (ssize_t)(sizeof(in) - 6));
	close(sv[1]);
	lbuf_init(&lb, 64, 32);
	EXPECT_LINE(&lb, s, "+OK one");
	EXPECT_LINE(&lb, s, "two");
	assert_int_equal(lbuf_getline(&lb, s, &line, &len, &err), 0);
	lbuf_free(&lb);
	stream_close(s);
}

/* Free the last peer. */
static int
teardown(void **state)
{
	(void)state;
	mem_done();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lines_every_chunk),
	    cmocka_unit_test(test_split_every_offset),
	    cmocka_unit_test(test_maxline),
	    cmocka_unit_test(test_endless_line),
	    cmocka_unit_test(test_nul),
	    cmocka_unit_test(test_eof),
	    cmocka_unit_test(test_stream_error),
	    cmocka_unit_test(test_raw_after_line),
	    cmocka_unit_test(test_consume_then_line),
	    cmocka_unit_test(test_socketpair),
	};

	return cmocka_run_group_tests(tests, NULL, teardown);
}
