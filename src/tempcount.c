/* tempcount.c: the count of temporary failures in a row of an account. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "popfetch/fileio.h"
#include "popfetch/num.h"
#include "popfetch/state.h"
#include "popfetch/tempcount.h"
#include "popfetch/xmalloc.h"

/* The count file of account_id: a new string. */
static char *
count_path(const char *state_dir, const char *account_id)
{
	return state_account_path(state_dir, account_id, "tempfail");
}

/* The count in path: 0 when there is no file; an unreadable or garbled
 * file counts as 0 too (it only decides whether to print). */
static long
count_read(const char *path)
{
	unsigned long long v;
	const char *end;
	char *text = NULL;
	size_t len;
	long n = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return 0;
	if (fileio_read_all(fd, 64, &text, &len) == 0 &&
	    num_parse(text, &end, LONG_MAX - 1, &v) == 0 &&
	    (*end == '\n' || *end == '\0'))
		n = (long)v;
	free(text);
	close(fd);
	return n;
}

/* Replace path by one holding n: a temp file renamed over it. */
static int
count_write(const char *path, long n)
{
	char *tmp = xasprintf("%s.%ld.tmp", path, (long)getpid());
	char line[32];
	int fd, len, saved;

	len = snprintf(line, sizeof(line), "%ld\n", n);
	fd = open(
	    tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		free(tmp);
		return -1;
	}
	if (fileio_write_all(fd, line, (size_t)len) < 0 || close(fd) < 0 ||
	    rename(tmp, path) < 0) {
		saved = errno;
		unlink(tmp);
		free(tmp);
		errno = saved;
		return -1;
	}
	free(tmp);
	return 0;
}

long
tempcount_record(const char *state_dir, const char *account_id, bool temporary)
{
	char *path;
	long n;

	if (fileio_mkdirs(state_dir, 0700) < 0)
		return -1;
	path = count_path(state_dir, account_id);
	if (!temporary) {
		n = unlink(path) < 0 && errno != ENOENT ? -1 : 0;
	} else {
		n = count_read(path) + 1;
		if (count_write(path, n) < 0)
			n = -1;
	}
	free(path);
	return n;
}

bool
tempcount_quiet(long count, int quiet)
{
	return count >= 0 && quiet > 0 && count < quiet;
}

bool
tempcount_after_run(const struct account *a, const struct runner_result *r)
{
	bool temporary = r->ret < 0 && r->err.code == PF_ETEMP;
	char *id;
	long n;

	if (a->quiet_temporary <= 0 || r->interrupted)
		return false;
	id = account_id(a);
	n = tempcount_record(a->state_dir, id, temporary);
	free(id);
	return temporary && tempcount_quiet(n, a->quiet_temporary);
}
