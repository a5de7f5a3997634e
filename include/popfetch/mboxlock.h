/*
 * mboxlock.h: the lock on an mbox file (fcntl, then a dotlock), held only
 * while appending or repairing it. While it is held, SIGTERM, SIGINT and
 * SIGHUP are blocked, so a signal cannot stop an append half-way.
 */
#ifndef POPFETCH_MBOXLOCK_H
#define POPFETCH_MBOXLOCK_H

#include <sys/stat.h>

#include <signal.h>
#include <stdbool.h>

#include "popfetch/err.h"

/* A held mbox lock. */
struct mboxlock {
	int fd;		 /* the mbox, O_RDWR | O_APPEND; holds the fcntl lock */
	char *dotlock;	 /* FILE.lock we created, or NULL */
	sigset_t omask;	 /* signal mask to restore at release */
	struct stat st;	 /* fstat after locking */
	bool foreign_ok; /* set before taking: as root, another user's mbox
			    is fine (the account's allow_foreign_mbox) */
};

/*
 * Lock the mbox at path, retrying with a jittered back-off for up to
 * wait_s seconds. On success lk->fd is open on the locked file (checked
 * to be still the one path names, and with mboxlock_check()). Returns 0,
 * or -1: PF_ETEMP (held by another process past the wait), PF_ECANTCREAT
 * (a symbolic link, not a regular file, not ours), PF_EIO.
 */
int mboxlock_take(
    const char *path, int wait_s, struct mboxlock *lk, struct pf_err *err);

/* Release what mboxlock_take() took (keeps errno). */
void mboxlock_release(struct mboxlock *lk);

/*
 * Reject what must never be appended to: a symbolic link, a directory, a
 * FIFO or device, a file with several hard links, or one not owned by us
 * (as root: owned by another user, unless foreign_ok; docs/faults.md
 * #78). st is from lstat or fstat. Returns 0 or -1 (PF_ECANTCREAT).
 */
int mboxlock_check(const char *path, const struct stat *st, bool foreign_ok,
    struct pf_err *err);

#endif
