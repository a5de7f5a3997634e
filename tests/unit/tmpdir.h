/*
 * tmpdir.h: the private directory a unit test works in, made and removed
 * the same way in every test.
 */
#ifndef POPFETCH_TEST_TMPDIR_H
#define POPFETCH_TEST_TMPDIR_H

#include <stddef.h>

/*
 * Make a new private (0700) directory pf-test-NAME.XXXXXX in $TMPDIR, or
 * in /tmp when that is unset or empty, and put its path in dir (dirsz
 * bytes). 0, or -1 with errno.
 */
int tmpdir_make(char *dir, size_t dirsz, const char *name);

/* Remove dir and everything below it, following no symbolic link and
 * giving back to its owner any directory a test closed (chmod 0700). 0,
 * or -1 when something could not be removed. */
int tmpdir_remove(const char *dir);

#endif
