/*
 * lock.c: the per-account run lock. flock(2) rather than fcntl(2): the
 * lock belongs to the open file, so a -j child that inherits the fd
 * cannot release it by closing a copy.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "popfetch/fileio.h"
#include "popfetch/lock.h"
#include "popfetch/num.h"
#include "popfetch/state.h"
#include "popfetch/xmalloc.h"

/* Create the state directory and its parents (0700); it must end up a
 * directory. */
static int
make_state_dir(const char *path, struct pf_err *err)
{
	struct stat sb;

	if (*path == '\0')
		return pf_err_set(err, PF_ECANTCREAT,
		    "cannot create state directory '': empty path");
	if (fileio_mkdirs(path, 0700) == -1 || stat(path, &sb) == -1)
		return pf_err_sys(err, PF_ECANTCREAT,
		    "cannot create state directory '%s'", path);
	if (!S_ISDIR(sb.st_mode)) {
		errno = ENOTDIR;
		return pf_err_sys(err, PF_ECANTCREAT,
		    "cannot create state directory '%s'", path);
	}
	return state_check_owner(path, &sb, "directory", err);
}

/* The lock is held: say by whom, from the pid in the file. */
static int
lock_busy(int fd, const char *account_id, struct pf_err *err)
{
	char pidbuf[32];
	unsigned long long pid;
	const char *end;
	ssize_t r;

	do
		r = pread(fd, pidbuf, sizeof(pidbuf) - 1, 0);
	while (r == -1 && errno == EINTR);
	pidbuf[r > 0 ? r : 0] = '\0';
	if (num_parse(pidbuf, &end, LONG_MAX, &pid) == 0 && pid > 0 &&
	    (*end == '\n' || *end == '\0'))
		return pf_err_set(err, PF_ETEMP,
		    "account '%s' is already being fetched (pid %llu)",
		    account_id, pid);
	return pf_err_set(
	    err, PF_ETEMP, "account '%s' is already being fetched", account_id);
}

int
lock_account(const char *state_dir, const char *account_id, struct pf_err *err)
{
	char *path = NULL, pidbuf[32];
	struct stat sb;
	int fd = -1, saved, n;

	if (make_state_dir(state_dir, err) == -1)
		return -1;
	path = state_account_path(state_dir, account_id, "lock");
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1) {
		pf_err_sys(
		    err, PF_ECANTCREAT, "cannot create lock file '%s'", path);
		goto fail;
	}
	if (fstat(fd, &sb) == -1) {
		pf_err_sys(
		    err, PF_ECANTCREAT, "cannot use lock file '%s'", path);
		goto fail;
	}
	if (state_check_owner(path, &sb, "file", err) == -1)
		goto fail;
	while (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK && errno != EAGAIN)
			pf_err_sys(
			    err, PF_ECANTCREAT, "cannot lock '%s'", path);
		else
			lock_busy(fd, account_id, err);
		goto fail;
	}
	n = snprintf(pidbuf, sizeof(pidbuf), "%ld\n", (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(pidbuf) || ftruncate(fd, 0) == -1 ||
	    lseek(fd, 0, SEEK_SET) == -1 ||
	    fileio_write_all(fd, pidbuf, (size_t)n) == -1) {
		pf_err_sys(
		    err, PF_ECANTCREAT, "cannot write lock file '%s'", path);
		goto fail;
	}
	free(path);
	return fd;
fail:
	saved = errno;
	if (fd != -1)
		close(fd);
	free(path);
	errno = saved;
	return -1;
}

void
lock_release(int fd)
{
	if (fd < 0)
		return;
	(void)flock(fd, LOCK_UN); /* also for copies a fork may hold */
	close(fd);
}
