/* tmpdir.c: a unit test's private directory (tmpdir.h). */
#define _XOPEN_SOURCE 700 /* mkdtemp, nftw */
#include <sys/stat.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

#include "tmpdir.h"

int
tmpdir_make(char *dir, size_t dirsz, const char *name)
{
	const char *base = getenv("TMPDIR");
	int n;

	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	n = snprintf(dir, dirsz, "%s/pf-test-%s.XXXXXX", base, name);
	if (n < 0 || (size_t)n >= dirsz) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return mkdtemp(dir) == NULL ? -1 : 0;
}

/* nftw() callback, first pass: give each directory back to its owner
 * (a test may leave one 0500 or 0000), so the second pass can empty it. */
static int
open_up(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb;
	(void)f;
	if (flag == FTW_D || flag == FTW_DNR)
		(void)chmod(path, 0700);
	return 0;
}

/* nftw() callback, second pass: remove one entry, the deepest first;
 * stop at the first that cannot go. */
static int
remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb;
	(void)flag;
	(void)f;
	return remove(path) == 0 ? 0 : -1;
}

int
tmpdir_remove(const char *dir)
{
	(void)nftw(dir, open_up, 16, FTW_PHYS);
	return nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}
