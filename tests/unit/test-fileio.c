/* test-fileio.c: reading a whole file, bounded (fileio_read_all() and
 * fileio_read_regular()). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "popfetch/fileio.h"

/* n bytes of a pattern no two neighbouring pages share. */
static char *
pattern(size_t n)
{
	char *p = malloc(n + 1);
	size_t i;

	assert_non_null(p);
	for (i = 0; i < n; i++)
		p[i] = (char)('a' + (i * 7 + i / 4096) % 26);
	return p;
}

enum kind { K_FILE, K_PIPE, K_DIR };

static pid_t writer; /* the process writing into a K_PIPE, or 0 */

/* A descriptor to read: an anonymous temp file or a pipe holding n bytes
 * of pattern() (then EOF), or a directory. A pipe is fed by a child
 * process, so that no pipe buffer size is assumed. */
static int
source(enum kind k, size_t n)
{
	char *p = pattern(n);
	int fds[2] = {-1, -1};
	struct pf_err err;

	switch (k) {
	case K_FILE:
		fds[0] = fileio_tmpfile(NULL, &err);
		assert_true(fds[0] >= 0);
		assert_int_equal(fileio_write_all(fds[0], p, n), 0);
		assert_int_equal(lseek(fds[0], 0, SEEK_SET), 0);
		break;
	case K_PIPE:
		assert_int_equal(pipe(fds), 0);
		writer = fork();
		assert_true(writer >= 0);
		if (writer == 0) {
			close(fds[0]);
			_exit(fileio_write_all(fds[1], p, n) == 0 ? 0 : 1);
		}
		close(fds[1]);
		break;
	case K_DIR:
		fds[0] = open("/", O_RDONLY | O_DIRECTORY);
		break;
	}
	free(p);
	assert_true(fds[0] >= 0);
	return fds[0];
}

/* Reap the pipe's writer (gone once its end is closed or read). */
static void
source_done(void)
{
	if (writer > 0)
		assert_int_equal(waitpid(writer, NULL, 0), writer);
	writer = 0;
}

/* One read: what is read, with which bound, and what comes back (0, or
 * the errno of -1). */
struct read_case {
	enum kind kind;
	size_t n, max;
	bool regular; /* fileio_read_regular(), else fileio_read_all() */
	int want;
};

static void
run_cases(const struct read_case *c, size_t count)
{
	size_t i, len;
	char *buf, *p;
	int fd, r;

	for (i = 0; i < count; i++, c++) {
		fd = source(c->kind, c->n);
		buf = NULL;
		len = 0;
		errno = 0;
		r = c->regular ? fileio_read_regular(fd, c->max, &buf, &len)
			       : fileio_read_all(fd, c->max, &buf, &len);
		close(fd);
		source_done();
		print_message("case %zu: %d, errno %d\n", i, r, errno);
		if (c->want != 0) {
			assert_int_equal(r, -1);
			assert_int_equal(errno, c->want);
			continue;
		}
		assert_int_equal(r, 0);
		assert_int_equal(len, c->n);
		p = pattern(c->n);
		assert_memory_equal(buf, p, c->n);
		assert_int_equal(buf[len], '\0');
		free(p);
		free(buf);
	}
}

/* Whole contents come back NUL-terminated: small, around the first
 * buffer's page, large; from a file (sized up front) or a pipe (the
 * buffer grows). */
static void
test_read_all(void **state)
{
	static const struct read_case cases[] = {
	    {K_FILE, 0, 1 << 20, false, 0},
	    {K_FILE, 1, 1 << 20, false, 0},
	    {K_FILE, 4094, 1 << 20, false, 0},
	    {K_FILE, 4095, 1 << 20, false, 0},
	    {K_FILE, 4096, 1 << 20, false, 0},
	    {K_FILE, 100000, 1 << 20, false, 0},
	    {K_PIPE, 0, 1 << 20, false, 0},
	    {K_PIPE, 50000, 1 << 20, false, 0},
	    {K_PIPE, 300000, 1 << 20, false, 0},
	};

	(void)state;
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* max bytes are fine, one more is EFBIG, also where max bytes fill a
 * buffer exactly (4095 and 8191: the NUL takes the last byte of 4096 and
 * 8192); fileio_read_regular() takes only a regular file. */
static void
test_read_bounds(void **state)
{
	static const struct read_case cases[] = {
	    {K_FILE, 4095, 4095, false, 0},
	    {K_PIPE, 4095, 4095, false, 0},
	    {K_PIPE, 4096, 4095, false, EFBIG},
	    {K_FILE, 8191, 8191, false, 0},
	    {K_PIPE, 8191, 8191, false, 0},
	    {K_PIPE, 8192, 8191, false, EFBIG},
	    {K_FILE, 5000, 5000, false, 0},
	    {K_FILE, 5001, 5000, false, EFBIG},
	    {K_FILE, 101, 100, false, EFBIG},
	    {K_PIPE, 100, 100, false, 0},
	    {K_PIPE, 101, 100, false, EFBIG},
	    {K_PIPE, 9000, 5000, false, EFBIG},
	    {K_FILE, 300, 300, true, 0},
	    {K_FILE, 301, 300, true, EFBIG},
	    {K_PIPE, 10, 300, true, EINVAL},
	    {K_DIR, 0, 300, true, EINVAL},
	};

	(void)state;
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_read_all),
	    cmocka_unit_test(test_read_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
