/*
 * mboxlock.c: locking an mbox the way other mail programs expect: an
 * fcntl(2) write lock, then an NFS-safe dotlock FILE.lock holding
 * "pid host" that becomes visible only once written (made under another
 * name, then linked; the link count decides, since link(2) over NFS may
 * report failure after succeeding). A dotlock whose process is gone (same
 * host) or older than 10 minutes is stale and removed, and so at once is
 * one whose owner cannot be alive: empty or unreadable and older than a
 * few seconds (an owner writes its line before the link), or older than
 * the last boot. Ours is written and fsynced before it is linked, so a
 * power cut cannot leave it empty. Waiting backs off with jitter up to a
 * bound, then gives up with PF_ETEMP.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "popfetch/fileio.h"
#include "popfetch/log.h"
#include "popfetch/mboxlock.h"
#include "popfetch/num.h"
#include "popfetch/sys.h"
#include "popfetch/xmalloc.h"

#define MBOX_STALE_SECS	  600 /* a dotlock older than this is stale */
#define MBOX_EMPTY_SECS	  5   /* so is an empty one older than this */
#define MBOX_DELAY_MIN_MS 50
#define MBOX_DELAY_MAX_MS 1000

/* Sleep ms milliseconds, resuming after signals. */
static void
sleep_ms(long long ms)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Reject what must never be appended to: links, FIFOs, devices. */
int
mboxlock_check(const char *path, const struct stat *st, bool foreign_ok,
    struct pf_err *err)
{
	if (S_ISLNK(st->st_mode))
		return pf_err_set(err, PF_ECANTCREAT,
		    "cannot use mbox '%s': it is a symbolic link", path);
	if (S_ISDIR(st->st_mode))
		return pf_err_set(err, PF_ECANTCREAT,
		    "cannot use mbox '%s': it is a directory", path);
	if (!S_ISREG(st->st_mode))
		return pf_err_set(err, PF_ECANTCREAT,
		    "cannot use mbox '%s': not a regular file", path);
	if (st->st_nlink != 1)
		return pf_err_set(err, PF_ECANTCREAT,
		    "cannot use mbox '%s': it has %lu hard links", path,
		    (unsigned long)st->st_nlink);
	if (st->st_uid != geteuid() && geteuid() != 0)
		return pf_err_set(err, PF_ECANTCREAT,
		    "cannot use mbox '%s': not owned by us", path);
	if (geteuid() == 0 && st->st_uid != 0 && !foreign_ok)
		return pf_err_set(err, PF_ECANTCREAT,
		    "cannot use mbox '%s': it belongs to uid %lu and popfetch "
		    "runs as root; run popfetch as that user, or set "
		    "'allow_foreign_mbox on' for the account",
		    path, (unsigned long)st->st_uid);
	return 0;
}

/* When this host booted (seconds since the epoch), or 0 if unknown. */
static time_t
boot_time(void)
{
#ifdef CLOCK_BOOTTIME
	struct timespec up;

	if (clock_gettime(CLOCK_BOOTTIME, &up) == 0)
		return time(NULL) - up.tv_sec;
#endif
	return 0;
}

/* Does the lock's "pid host" line name a process of this host that is
 * gone? */
static bool
owner_dead(char *buf)
{
	unsigned long long pid;
	const char *end;
	char *sp;

	if (num_parse(buf, &end, INT_MAX, &pid) == -1 || pid == 0 ||
	    *end != ' ')
		return false;
	sp = buf + (end - buf) + 1;
	sp[strcspn(sp, "\r\n ")] = '\0';
	if (strcmp(sp, sys_hostname()) != 0)
		return false;
	return kill((pid_t)pid, 0) == -1 && errno == ESRCH;
}

/*
 * Is the dotlock at lockpath stale: old, from before the last boot, empty
 * or unreadable for more than a few seconds (a power cut took its
 * content, or its owner died between create and write), or held by a
 * dead process of this host?
 */
static bool
dotlock_stale(const char *lockpath)
{
	char buf[512];
	struct stat st;
	time_t now = time(NULL), boot = boot_time();
	ssize_t n;
	int fd;

	if (lstat(lockpath, &st) == -1)
		return false;
	if (now - st.st_mtime > MBOX_STALE_SECS ||
	    (boot > 0 && st.st_mtime < boot && st.st_ctime < boot))
		return true;
	fd = open(lockpath, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1 && errno == ENOENT)
		return false; /* gone meanwhile: try again */
	if (fd == -1)
		n = -1;
	else {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
	}
	if (n <= 0)
		return now - st.st_mtime > MBOX_EMPTY_SECS;
	buf[n] = '\0';
	return owner_dead(buf);
}

/*
 * Try once to take FILE.lock: write "pid host" to a unique name in the
 * same directory, link it, and trust st_nlink == 2 rather than link()'s
 * result (which NFS may lose). Returns 1 taken, 0 busy, 2 skipped (the
 * directory is not writable for us), -1 error.
 */
static int
dotlock_try(const char *path, char **held, struct pf_err *err)
{
	char line[300], *dir, *tmp, *lockpath;
	struct stat st;
	int fd, tries, r = -1;

	dir = fileio_dirname(path);
	tmp = xasprintf("%s/.popfetch.%ld.%08lx.lk", dir, (long)getpid(),
	    (unsigned long)sys_random32());
	lockpath = xasprintf("%s.lock", path);
	fd = open(
	    tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd == -1) {
		/*
		 * Like /var/mail without group mail: we may append to our
		 * mbox but not create files next to it. The fcntl lock still
		 * serializes with every modern mail program, so go on with
		 * that alone. Only EACCES means this; anything else (EROFS,
		 * ENOSPC) is a real failure.
		 */
		if (errno == EACCES) {
			log_debug("no dotlock for '%s': cannot write '%s'",
			    path, dir);
			r = 2;
		} else
			pf_err_sys(
			    err, PF_EIO, "cannot create lock file '%s'", tmp);
		goto out;
	}
	snprintf(
	    line, sizeof(line), "%ld %s\n", (long)getpid(), sys_hostname());
	/* Durable before it is linked: a lock that a power cut empties
	 * would look held. */
	if (fileio_write_all(fd, line, strlen(line)) == -1 || fsync(fd) == -1 ||
	    close(fd) == -1) {
		pf_err_sys(err, PF_EIO, "cannot write lock file '%s'", tmp);
		(void)unlink(tmp);
		goto out;
	}
	r = 0;
	for (tries = 0; tries < 2 && r == 0; tries++) {
		/* The result does not matter: over NFS link() may fail after
		 * succeeding, so the link count decides. */
		if (link(tmp, lockpath) == -1 && errno != EEXIST)
			log_debug("link '%s': %s", lockpath, strerror(errno));
		if (lstat(tmp, &st) == 0 && st.st_nlink == 2) {
			r = 1;
			break;
		}
		if (tries == 0 && dotlock_stale(lockpath)) {
			log_warning("removing stale lock '%s'", lockpath);
			(void)unlink(lockpath);
		} else
			break;
	}
	(void)unlink(tmp);
	if (r == 1) {
		*held = lockpath;
		lockpath = NULL;
	}
out:
	free(dir);
	free(tmp);
	free(lockpath);
	return r;
}

/* Release everything mboxlock_take() took, restoring the signal mask. */
void
mboxlock_release(struct mboxlock *lk)
{
	int saved = errno;

	if (lk->dotlock != NULL) {
		if (unlink(lk->dotlock) == -1)
			log_warning("cannot remove '%s': %s", lk->dotlock,
			    strerror(errno));
		free(lk->dotlock);
		lk->dotlock = NULL;
	}
	if (lk->fd != -1) {
		close(lk->fd); /* releases the fcntl lock */
		lk->fd = -1;
		sigprocmask(SIG_SETMASK, &lk->omask, NULL);
	}
	errno = saved;
}

/*
 * Lock the mbox at path: fcntl write lock, then the dotlock, retrying
 * with a jittered back-off for up to wait_s seconds. On success, signals
 * that would stop us mid-append are blocked until mboxlock_release().
 */
int
mboxlock_take(
    const char *path, int wait_s, struct mboxlock *lk, struct pf_err *err)
{
	long long start = sys_now_ms(), deadline, delay = MBOX_DELAY_MIN_MS;
	bool foreign_ok = lk->foreign_ok;
	struct flock fl;
	struct stat pst;
	sigset_t block;
	int r, replaced = 0;

	deadline = start + (long long)wait_s * 1000;
	lk->fd = -1;
	lk->dotlock = NULL;
	for (;;) {
		lk->fd = open(path,
		    O_RDWR | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (lk->fd == -1) {
			if (errno == ELOOP)
				return pf_err_set(err, PF_ECANTCREAT,
				    "cannot use mbox '%s': it is a symbolic "
				    "link",
				    path);
			return pf_err_sys(
			    err, PF_EIO, "cannot open mbox '%s'", path);
		}
		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		r = 0;
		if (fcntl(lk->fd, F_SETLK, &fl) == -1) {
			if (errno != EAGAIN && errno != EACCES &&
			    errno != EINTR) {
				pf_err_sys(err, PF_ETEMP,
				    "cannot lock mbox '%s'", path);
				close(lk->fd);
				lk->fd = -1;
				return -1;
			}
		} else {
			r = dotlock_try(path, &lk->dotlock, err);
			if (r == -1) {
				close(lk->fd);
				lk->fd = -1;
				return -1;
			}
		}
		if (r != 0) {
			/* Locked. Make sure the path still names this file. */
			if (fstat(lk->fd, &lk->st) == -1 ||
			    lstat(path, &pst) == -1 ||
			    pst.st_dev != lk->st.st_dev ||
			    pst.st_ino != lk->st.st_ino) {
				sigemptyset(&lk->omask);
				sigprocmask(SIG_BLOCK, NULL, &lk->omask);
				mboxlock_release(lk);
				if (++replaced > 5)
					return pf_err_set(err, PF_EIO,
					    "cannot lock mbox '%s': it keeps "
					    "being replaced",
					    path);
				continue;
			}
			break;
		}
		close(lk->fd);
		lk->fd = -1;
		if (sys_now_ms() >= deadline)
			return pf_err_set(err, PF_ETEMP,
			    "cannot lock mbox '%s': locked by another process "
			    "(waited %d s)",
			    path, wait_s);
		{
			long long d = delay +
			    (long long)(sys_random32() %
				(uint32_t)(delay / 4 + 1));
			long long left = deadline - sys_now_ms();

			sleep_ms(d < left ? d : (left > 0 ? left : 0));
		}
		delay = delay * 2 > MBOX_DELAY_MAX_MS ? MBOX_DELAY_MAX_MS
						      : delay * 2;
	}
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &lk->omask);
	lk->foreign_ok = foreign_ok;
	if (mboxlock_check(path, &lk->st, foreign_ok, err) == -1) {
		mboxlock_release(lk);
		return -1;
	}
	return 0;
}
