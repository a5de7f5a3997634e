/* test-spool.c: small messages spooled in memory, large ones in files. */
#define _DEFAULT_SOURCE /* readlink */
#include <sys/stat.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "popfetch/spool.h"
#include "tmpdir.h"

static char dir[256];

/* Whether fd is a memfd (its /proc link reads "/memfd:NAME ..."). */
static bool
in_memory(int fd)
{
	char link[64], target[4096];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	assert_true(n > 0);
	target[n] = '\0';
	return strncmp(target, "/memfd:", 7) == 0;
}

/* Byte i of a test message. */
static char
byte_at(unsigned long long i)
{
	return (char)('a' + (i * 7 + i / 251) % 26);
}

/* Spool a message of size bytes listed as hint bytes, in uneven pieces,
 * and keep it. */
static void
spool_hinted(struct spool *sp, unsigned long long size, unsigned long long hint)
{
	static char buf[70001];
	unsigned long long off = 0;
	struct pf_err err;

	assert_int_equal(spool_open(sp, "uid", hint, &err), 0);
	while (off < size) {
		size_t n = size - off < sizeof(buf) ? (size_t)(size - off)
						    : sizeof(buf);
		size_t i;

		for (i = 0; i < n; i++)
			buf[i] = byte_at(off + i);
		assert_int_equal(spool_write(sp, buf, n, &err), 0);
		off += n;
	}
	assert_int_equal(spool_keep(sp, &err), 0);
}

/* The same, listed with its true size. */
static void
spool_message(struct spool *sp, unsigned long long size)
{
	spool_hinted(sp, size, size);
}

/* The kept message m holds exactly what spool_message() wrote. */
static void
assert_content(const struct spool_msg *m, unsigned long long size)
{
	static char buf[65536];
	unsigned long long off = 0;
	struct stat st;

	assert_int_equal(fstat(m->fd, &st), 0);
	assert_int_equal((unsigned long long)st.st_size, size);
	assert_int_equal(m->size, size);
	while (off < size) {
		ssize_t n = pread(m->fd, buf, sizeof(buf), (off_t)off);
		ssize_t i;

		assert_true(n > 0);
		for (i = 0; i < n; i++)
			if (buf[i] != byte_at(off + (unsigned long long)i))
				fail_msg("byte %llu differs",
				    off + (unsigned long long)i);
		off += (unsigned long long)n;
	}
}

/* A 4 KB message stays in memory, and so does one of SPOOL_MEM_MSG;
 * ones listed as larger go to a file, every byte kept either way. */
static void
test_small_in_memory_large_in_file(void **state)
{
	struct spool sp;

	(void)state;
	spool_init(&sp, dir);
	spool_message(&sp, 4096);
	spool_message(&sp, SPOOL_MEM_MSG);
	spool_message(&sp, SPOOL_MEM_MSG + 1);
	spool_message(&sp, 3 * SPOOL_MEM_MSG + 12345);
	assert_int_equal(sp.n, 4);
	assert_true(in_memory(sp.msgs[0].fd));
	assert_true(in_memory(sp.msgs[1].fd));
	assert_false(in_memory(sp.msgs[2].fd));
	assert_false(in_memory(sp.msgs[3].fd));
	assert_content(&sp.msgs[0], 4096);
	assert_content(&sp.msgs[1], SPOOL_MEM_MSG);
	assert_content(&sp.msgs[2], SPOOL_MEM_MSG + 1);
	assert_content(&sp.msgs[3], 3 * SPOOL_MEM_MSG + 12345);
	assert_int_equal(sp.mem, 4096 + SPOOL_MEM_MSG);
	spool_free(&sp);
}

/* The messages of one batch share SPOOL_MEM_TOTAL: once it is used up
 * they go to files, and a cleared spool has all of it again. */
static void
test_total_budget(void **state)
{
	unsigned long long each = SPOOL_MEM_MSG - 1000, used = 0;
	struct spool sp;
	size_t i;

	(void)state;
	spool_init(&sp, dir);
	while (used + each <= SPOOL_MEM_TOTAL) {
		spool_message(&sp, each);
		used += each;
	}
	/* What is left is less than one more message: it goes to a file. */
	spool_message(&sp, each);
	for (i = 0; i + 1 < sp.n; i++)
		assert_true(in_memory(sp.msgs[i].fd));
	assert_false(in_memory(sp.msgs[sp.n - 1].fd));
	assert_content(&sp.msgs[sp.n - 1], each);
	assert_true(sp.mem <= SPOOL_MEM_TOTAL);
	spool_clear(&sp);
	assert_int_equal(sp.mem, 0);
	spool_message(&sp, each);
	assert_true(in_memory(sp.msgs[0].fd));
	spool_free(&sp);
}

/* A message listed as larger than SPOOL_MEM_MSG goes to a file from the
 * start; one listed as small but larger in fact (a server's LIST is only
 * a hint) spills; no listing (0) starts in memory. */
static void
test_size_hint(void **state)
{
	struct spool sp;

	(void)state;
	spool_init(&sp, dir);
	spool_hinted(&sp, 10, SPOOL_MEM_MSG + 1);
	spool_hinted(&sp, 2 * SPOOL_MEM_MSG, 100);
	spool_hinted(&sp, 10, 0);
	assert_false(in_memory(sp.msgs[0].fd));
	assert_false(in_memory(sp.msgs[1].fd));
	assert_true(in_memory(sp.msgs[2].fd));
	assert_content(&sp.msgs[0], 10);
	assert_content(&sp.msgs[1], 2 * SPOOL_MEM_MSG);
	assert_int_equal(sp.mem, SPOOL_MEM_PAGE); /* 10 bytes take a page */
	spool_free(&sp);
}

/* A spill in the middle of buffered writes keeps every byte, in order. */
static void
test_spill_buffered(void **state)
{
	unsigned long long size = 1054ULL * 1000, off; /* > SPOOL_MEM_MSG */
	struct spool sp;
	struct pf_err err;
	char piece[1000];

	(void)state;
	spool_init(&sp, dir);
	assert_int_equal(spool_open(&sp, "u", 0, &err), 0);
	for (off = 0; off < size; off += sizeof(piece)) {
		size_t i;

		for (i = 0; i < sizeof(piece); i++)
			piece[i] = byte_at(off + i);
		assert_int_equal(
		    spool_write(&sp, piece, sizeof(piece), &err), 0);
	}
	assert_int_equal(spool_keep(&sp, &err), 0);
	assert_false(in_memory(sp.msgs[0].fd));
	assert_content(&sp.msgs[0], size);
	assert_int_equal(sp.mem, 0);
	spool_free(&sp);
}

/* A spill that cannot create its file drops the message with PF_EIO
 * and leaves the spool usable. */
static void
test_spill_fails(void **state)
{
	static char big[SPOOL_MEM_MSG + 1];
	struct spool sp;
	struct pf_err err;

	(void)state;
	spool_init(&sp, "/nonexistent/popfetch-test-spool");
	assert_int_equal(spool_open(&sp, "u", 0, &err), 0);
	assert_int_equal(spool_write(&sp, "abc", 3, &err), 0);
	assert_int_equal(spool_write(&sp, big, sizeof(big), &err), -1);
	assert_int_equal(err.code, PF_EIO);
	assert_int_equal(sp.cur.fd, -1);
	assert_int_equal(sp.cur_mem, 0);
	spool_message(&sp, 100);
	assert_int_equal(sp.n, 1);
	assert_content(&sp.msgs[0], 100);
	spool_free(&sp);
}

/* At most SPOOL_MEM_COUNT messages are held in memory at once, however
 * small. */
static void
test_count_cap(void **state)
{
	struct spool sp;
	size_t i;

	(void)state;
	spool_init(&sp, dir);
	for (i = 0; i <= SPOOL_MEM_COUNT; i++)
		spool_message(&sp, 1);
	for (i = 0; i < SPOOL_MEM_COUNT; i++)
		assert_true(in_memory(sp.msgs[i].fd));
	assert_false(in_memory(sp.msgs[SPOOL_MEM_COUNT].fd));
	assert_int_equal(sp.mem, SPOOL_MEM_COUNT * SPOOL_MEM_PAGE);
	spool_free(&sp);
}

/* A dropped message gives back nothing it did not take. */
static void
test_abort(void **state)
{
	struct spool sp;
	struct pf_err err;

	(void)state;
	spool_init(&sp, dir);
	assert_int_equal(spool_open(&sp, NULL, 1, &err), 0);
	assert_int_equal(spool_write(&sp, "x", 1, &err), 0);
	spool_abort(&sp);
	assert_int_equal(sp.mem, 0);
	spool_message(&sp, 10);
	assert_int_equal(sp.n, 1);
	assert_int_equal(sp.mem, SPOOL_MEM_PAGE);
	assert_content(&sp.msgs[0], 10);
	spool_free(&sp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_small_in_memory_large_in_file),
	    cmocka_unit_test(test_total_budget),
	    cmocka_unit_test(test_size_hint),
	    cmocka_unit_test(test_spill_buffered),
	    cmocka_unit_test(test_spill_fails),
	    cmocka_unit_test(test_count_cap),
	    cmocka_unit_test(test_abort),
	};
	int rc;

	if (tmpdir_make(dir, sizeof(dir), "spool") == -1)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	if (tmpdir_remove(dir) == -1)
		return 1;
	return rc;
}
