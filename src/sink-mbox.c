/*
 * sink-mbox.c: mboxrd delivery with group commit. Messages are spooled to
 * private temp files; the sync builds one batch, locks the mbox (fcntl,
 * then an NFS-safe dotlock), writes a durable pending-append record,
 * appends, fsyncs and unlocks. Any failure truncates the mbox back to its
 * old size. A run killed in the middle leaves the record, which
 * sink_recover() resolves before the next connection.
 */
#define _DEFAULT_SOURCE /* gethostname */

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "popfetch/log.h"
#include "popfetch/sink.h"
#include "popfetch/uidl.h"
#include "popfetch/xmalloc.h"
#include "compat.h"
#include "sink-private.h"

#define MBOX_STALE_SECS	  600 /* a dotlock older than this is stale */
#define MBOX_DELAY_MIN_MS 50
#define MBOX_DELAY_MAX_MS 1000
#define MBOX_RECORD_MAX	  (16 * 1024 * 1024)
#define MBOX_RECORD_MAGIC "popfetch-mbox-pending 1"

/* A held mbox lock. */
struct mbox_lock {
	int fd;		/* the mbox, O_RDWR | O_APPEND; holds the fcntl lock */
	char *dotlock;	/* FILE.lock we created, or NULL */
	sigset_t omask; /* signal mask to restore at unlock */
	struct stat st; /* fstat after locking */
};

/* A parsed pending-append record. */
struct mbox_record {
	char *path;
	unsigned long long dev, ino, orig, prefix, len;
	char sha[65];
	char **uids;
	size_t nuids;
};

static void
sleep_ms(long long ms)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Our host name for dotlock contents, never empty. */
static void
host_name(char *buf, size_t sz)
{
	if (gethostname(buf, sz) == -1 || buf[0] == '\0')
		strlcpy(buf, "localhost", sz);
	buf[sz - 1] = '\0';
}

/* The pending-append record path for an account, or NULL without one. */
static char *
record_path(const struct sink *sk)
{
	char *f, *p;

	if (sk->spool_dir == NULL || sk->account_id == NULL)
		return NULL;
	f = uidl_account_file(sk->account_id);
	p = xasprintf("%s/%s.mbox-pending", sk->spool_dir, f);
	free(f);
	return p;
}

/* fsync a directory so a rename or unlink in it is durable. */
static int
fsync_dir(const char *dir)
{
	int fd, r;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		return -1;
	r = fsync(fd);
	if (r == -1) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	close(fd);
	return 0;
}

/* The directory part of path ("." when there is none). */
static char *
dir_of(const char *path)
{
	const char *s = strrchr(path, '/');

	if (s == NULL)
		return xstrdup(".");
	if (s == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(s - path));
}

/* Reject what must never be appended to: links, FIFOs, devices. */
static int
check_mbox_stat(const char *path, const struct stat *st, struct pf_err *err)
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
	return 0;
}

/* Create a missing mbox (0600) or check an existing one. */
static int
mbox_init(struct sink *sk, struct pf_err *err)
{
	struct stat st;
	int fd;

	fd = open(sk->path,
	    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd != -1) {
		char *dir = dir_of(sk->path);
		int r;

		close(fd);
		/* The new name must be durable before any message that goes
		 * into the file is deleted on the server. */
		r = fsync_dir(dir);
		free(dir);
		if (r == -1) {
			pf_err_sys(
			    err, PF_EIO, "cannot create mbox '%s'", sk->path);
			(void)unlink(sk->path);
			return -1;
		}
	} else if (errno != EEXIST)
		return pf_err_sys(
		    err, PF_ECANTCREAT, "cannot create mbox '%s'", sk->path);
	if (lstat(sk->path, &st) == -1)
		return pf_err_sys(
		    err, PF_ECANTCREAT, "cannot use mbox '%s'", sk->path);
	if (check_mbox_stat(sk->path, &st, err) == -1)
		return -1;
	/* O_NONBLOCK: a FIFO swapped in after the lstat must not hang us. */
	fd = open(sk->path, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1)
		return pf_err_sys(
		    err, PF_ECANTCREAT, "cannot open mbox '%s'", sk->path);
	close(fd);
	return 0;
}

/* Is the dotlock at lockpath stale: dead owner on this host, or old? */
static bool
dotlock_stale(const char *lockpath)
{
	char buf[512], host[256], *end, *sp;
	struct stat st;
	ssize_t n;
	long pid;
	int fd;

	if (lstat(lockpath, &st) == -1)
		return false;
	if (time(NULL) - st.st_mtime > MBOX_STALE_SECS)
		return true;
	fd = open(lockpath, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	errno = 0;
	pid = strtol(buf, &end, 10);
	if (errno != 0 || end == buf || pid <= 0 || pid > INT_MAX ||
	    *end != ' ')
		return false;
	sp = end + 1;
	sp[strcspn(sp, "\r\n ")] = '\0';
	host_name(host, sizeof(host));
	if (strcmp(sp, host) != 0)
		return false;
	return kill((pid_t)pid, 0) == -1 && errno == ESRCH;
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
	char host[256], line[300], *dir, *tmp, *lockpath;
	struct stat st;
	int fd, tries, r = -1;

	host_name(host, sizeof(host));
	dir = dir_of(path);
	tmp = xasprintf("%s/.popfetch.%ld.%08lx.lk", dir, (long)getpid(),
	    (unsigned long)sink_random32());
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
	snprintf(line, sizeof(line), "%ld %s\n", (long)getpid(), host);
	if (sink_write_all(fd, line, strlen(line)) == -1 || close(fd) == -1) {
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

/* Release everything mbox_lock() took and restore the signal mask. */
static void
mbox_unlock(struct mbox_lock *lk)
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
 * that would stop us mid-append are blocked until mbox_unlock().
 */
static int
mbox_lock(
    const char *path, int wait_s, struct mbox_lock *lk, struct pf_err *err)
{
	long long start = sink_now_ms(), deadline, delay = MBOX_DELAY_MIN_MS;
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
				mbox_unlock(lk);
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
		if (sink_now_ms() >= deadline)
			return pf_err_set(err, PF_ETEMP,
			    "cannot lock mbox '%s': locked by another process "
			    "(waited %d s)",
			    path, wait_s);
		{
			long long d = delay +
			    (long long)(sink_random32() %
				(uint32_t)(delay / 4 + 1));
			long long left = deadline - sink_now_ms();

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
	if (check_mbox_stat(path, &lk->st, err) == -1) {
		mbox_unlock(lk);
		return -1;
	}
	return 0;
}

/* State while building the batch file. */
struct batch {
	struct sink_file f;
	EVP_MD_CTX *md;
	unsigned long long len;
	bool md_failed;
};

/* emit callback: append to the batch file and hash the bytes. */
static int
batch_emit(void *ctx, const char *buf, size_t len)
{
	struct batch *b = ctx;

	if (EVP_DigestUpdate(b->md, buf, len) != 1)
		b->md_failed = true;
	b->len += len;
	return sink_file_write(&b->f, buf, len);
}

/* Finish a SHA-256 into 64 lowercase hex digits. */
static int
sha_hex(EVP_MD_CTX *md, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;

	if (EVP_DigestFinal_ex(md, d, &n) != 1 || n != 32)
		return -1;
	for (i = 0; i < n; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[64] = '\0';
	return 0;
}

/*
 * Write the pending-append record atomically: temp file, fsync, rename,
 * fsync of the directory. Its lines: magic, path, dev, ino, orig,
 * prefix, len, sha256, one "uid" line per message, "end".
 */
static int
record_write(struct sink *sk, const char *rpath, const struct mbox_record *r,
    struct pf_err *err)
{
	struct sink_file f;
	char *tmp, *esc, *line;
	unsigned i;
	int fd;

	tmp = xasprintf("%s.tmp", rpath);
	(void)unlink(tmp);
	fd = open(
	    tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1) {
		pf_err_sys(err, PF_EIO, "cannot create '%s'", tmp);
		free(tmp);
		return -1;
	}
	sink_file_init(&f, fd);
	esc = uidl_escape(r->path, strlen(r->path));
	line = xasprintf("%s\npath %s\ndev %llu\nino %llu\norig %llu\n"
			 "prefix %llu\nlen %llu\nsha256 %s\n",
	    MBOX_RECORD_MAGIC, esc, r->dev, r->ino, r->orig, r->prefix, r->len,
	    r->sha);
	free(esc);
	if (sink_file_write(&f, line, strlen(line)) == -1)
		goto fail;
	free(line);
	line = NULL;
	for (i = 0; i < sk->nstaged; i++) {
		const char *uid = sk->staged[i].uid;

		if (uid == NULL)
			continue;
		esc = uidl_escape(uid, strlen(uid));
		line = xasprintf("uid %s\n", esc);
		free(esc);
		if (sink_file_write(&f, line, strlen(line)) == -1)
			goto fail;
		free(line);
		line = NULL;
	}
	if (sink_file_write(&f, "end\n", 4) == -1 ||
	    sink_file_flush(&f) == -1 || fsync(f.fd) == -1)
		goto fail;
	fd = f.fd;
	f.fd = -1;
	sink_file_close(&f);
	if (close(fd) == -1 || rename(tmp, rpath) == -1 ||
	    fsync_dir(sk->spool_dir) == -1) {
		pf_err_sys(err, PF_EIO, "cannot write '%s'", rpath);
		(void)unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	return 0;
fail:
	pf_err_sys(err, PF_EIO, "cannot write '%s'", tmp);
	free(line);
	sink_file_close(&f);
	(void)unlink(tmp);
	free(tmp);
	return -1;
}

/* Copy the batch file (from offset 0) to the end of the mbox. */
static int
append_batch(int mfd, int bfd, unsigned long long len)
{
	char *buf = xmalloc(SINK_BUFSZ);
	unsigned long long off = 0;
	int r = -1;

	while (off < len) {
		size_t n =
		    len - off > SINK_BUFSZ ? SINK_BUFSZ : (size_t)(len - off);

		if (sink_pread_all(bfd, buf, n, (off_t)off) == -1 ||
		    sink_write_all(mfd, buf, n) == -1)
			goto out;
		off += n;
		if (off < len)
			PF_FAULT("mbox_mid_append");
	}
	r = 0;
out:
	free(buf);
	return r;
}

/*
 * The group commit: build the batch, lock, record the pending append,
 * append, fsync, unlock. On any failure the mbox is cut back to its old
 * size before the lock is released.
 */
static int
mbox_sync(struct sink *sk, struct pf_err *err)
{
	struct mbox_lock lk = {.fd = -1, .dotlock = NULL};
	struct mbox_record rec;
	struct batch b;
	char tailb[2], *rpath = NULL;
	const char *prefix = "";
	unsigned long long orig;
	struct stat st;
	time_t now = time(NULL);
	unsigned i;
	int ret = -1, bfd, recorded = 0;

	memset(&b, 0, sizeof(b));
	memset(&rec, 0, sizeof(rec));
	b.f.fd = -1;
	if (sk->nstaged == 0)
		return 0;
	rpath = record_path(sk);
	if (rpath != NULL && !sk->record_ours && lstat(rpath, &st) == 0) {
		pf_err_set(err, PF_EIO,
		    "unresolved pending-append record "
		    "'%s': recover it before delivering",
		    rpath);
		goto out;
	}

	/* 1. The batch, hashed as it is written, outside the lock. */
	if ((bfd = sink_tmpfile(sk->spool_dir, err)) == -1)
		goto out;
	sink_file_init(&b.f, bfd);
	b.md = EVP_MD_CTX_new();
	if (b.md == NULL || EVP_DigestInit_ex(b.md, EVP_sha256(), NULL) != 1) {
		pf_err_set(err, PF_ESOFTWARE, "cannot initialize SHA-256");
		goto out;
	}
	for (i = 0; i < sk->nstaged; i++)
		if (sink_mboxrd_emit(&sk->staged[i], now, batch_emit, &b) == -1)
			break;
	if (i < sk->nstaged || sink_file_flush(&b.f) == -1) {
		pf_err_sys(err, PF_EIO, "cannot write spool file");
		goto out;
	}
	if (b.md_failed || sha_hex(b.md, rec.sha) == -1) {
		pf_err_set(err, PF_ESOFTWARE, "cannot compute SHA-256");
		goto out;
	}

	/* 2. Lock; from here on the old size must be restored on error. */
	if (mbox_lock(sk->path, sk->lock_wait, &lk, err) == -1)
		goto out;
	orig = (unsigned long long)lk.st.st_size;

	/*
	 * 3. mboxrd readers split at "From " lines that follow an empty
	 * line, so the existing text must end with "\n\n" (or be empty). A
	 * file ending in one "\n" gets one more; one with no final newline
	 * gets two. A file that is exactly "\n" already ends in an empty
	 * line.
	 */
	if (orig >= 2) {
		if (sink_pread_all(lk.fd, tailb, 2, (off_t)(orig - 2)) == -1)
			goto io_fail;
		if (tailb[1] != '\n')
			prefix = "\n\n";
		else if (tailb[0] != '\n')
			prefix = "\n";
	} else if (orig == 1) {
		if (sink_pread_all(lk.fd, tailb, 1, 0) == -1)
			goto io_fail;
		if (tailb[0] != '\n')
			prefix = "\n\n";
	}

	/* 4. The durable record of what we are about to append. */
	if (rpath != NULL) {
		rec.path = sk->path;
		rec.dev = (unsigned long long)lk.st.st_dev;
		rec.ino = (unsigned long long)lk.st.st_ino;
		rec.orig = orig;
		rec.prefix = strlen(prefix);
		rec.len = b.len;
		if (record_write(sk, rpath, &rec, err) == -1) {
			/* Nothing appended: no record may stay behind. */
			(void)unlink(rpath);
			goto unlock;
		}
		recorded = 1;
		sk->record_ours = true;
		PF_FAULT("mbox_after_record");
	}

	/* 5. Append and fsync. */
	if (sink_write_all(lk.fd, prefix, strlen(prefix)) == -1 ||
	    append_batch(lk.fd, b.f.fd, b.len) == -1 || fsync(lk.fd) == -1)
		goto io_fail;
	if (fstat(lk.fd, &st) == -1)
		goto io_fail;
	if ((unsigned long long)st.st_size != orig + strlen(prefix) + b.len) {
		errno = EIO;
		goto io_fail;
	}
	PF_FAULT("mbox_after_append");
	sink_set_where(sk, "%s", sk->path);
	ret = 0;
	goto unlock;

io_fail:
	pf_err_sys(err, PF_EIO, "cannot write mbox '%s'", sk->path);
	if (ftruncate(lk.fd, (off_t)orig) == -1 || fsync(lk.fd) == -1) {
		/* Keep the record: the next run's recovery cuts it back. */
		log_error("cannot truncate mbox '%s' back to %llu bytes: %s",
		    sk->path, orig, strerror(errno));
		recorded = 0;
	}
	if (recorded) {
		(void)unlink(rpath);
		(void)fsync_dir(sk->spool_dir);
		sk->record_ours = false;
	}
unlock:
	mbox_unlock(&lk);
out:
	if (b.md != NULL)
		EVP_MD_CTX_free(b.md);
	if (b.f.buf != NULL)
		sink_file_close(&b.f);
	sink_staged_clear(sk);
	free(rpath);
	return ret;
}

static int
mbox_commit(struct sink *sk, struct pf_err *err)
{
	return sink_spool_commit(sk, err);
}

void
sink_mbox_forget_record(struct sink *sk)
{
	char *rpath = record_path(sk);

	if (rpath != NULL && sk->record_ours) {
		if (unlink(rpath) == -1 && errno != ENOENT)
			log_warning(
			    "cannot remove '%s': %s", rpath, strerror(errno));
		sk->record_ours = false;
	}
	free(rpath);
}

const struct sink_ops sink_mbox_ops = {
    .init = mbox_init,
    .open = sink_spool_open,
    .write = sink_spool_write,
    .commit = mbox_commit,
    .abort = sink_spool_abort,
    .sync = mbox_sync,
    .has_token = NULL,
    .synced_recorded = NULL,
    .free = NULL,
};

/* Recovery. */

static void
record_free(struct mbox_record *r)
{
	size_t i;

	free(r->path);
	for (i = 0; i < r->nuids; i++)
		free(r->uids[i]);
	free(r->uids);
	memset(r, 0, sizeof(*r));
}

/* A decimal number that is the whole of s. */
static int
parse_ull(const char *s, unsigned long long *v)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	return 0;
}

/* Parse the record text (NUL-terminated, modified in place). */
static int
record_parse(char *text, struct mbox_record *r)
{
	char *line, *next, *val;
	int seen = 0;
	bool end = false;

	memset(r, 0, sizeof(*r));
	for (line = text; *line != '\0' && !end; line = next) {
		size_t n = strcspn(line, "\n");

		if (line[n] != '\n')
			return -1; /* no final newline: torn */
		line[n] = '\0';
		next = line + n + 1;
		if (line == text) {
			if (strcmp(line, MBOX_RECORD_MAGIC) != 0)
				return -1;
			continue;
		}
		if (strcmp(line, "end") == 0) {
			end = true;
			continue;
		}
		if ((val = strchr(line, ' ')) == NULL)
			return -1;
		*val++ = '\0';
		if (strcmp(line, "path") == 0 && r->path == NULL) {
			if ((r->path = uidl_unescape(val)) == NULL)
				return -1;
			seen |= 1;
		} else if (strcmp(line, "dev") == 0) {
			if (parse_ull(val, &r->dev) == -1)
				return -1;
			seen |= 2;
		} else if (strcmp(line, "ino") == 0) {
			if (parse_ull(val, &r->ino) == -1)
				return -1;
			seen |= 4;
		} else if (strcmp(line, "orig") == 0) {
			if (parse_ull(val, &r->orig) == -1)
				return -1;
			seen |= 8;
		} else if (strcmp(line, "prefix") == 0) {
			if (parse_ull(val, &r->prefix) == -1 || r->prefix > 2)
				return -1;
			seen |= 16;
		} else if (strcmp(line, "len") == 0) {
			if (parse_ull(val, &r->len) == -1)
				return -1;
			seen |= 32;
		} else if (strcmp(line, "sha256") == 0) {
			if (strlen(val) != 64)
				return -1;
			memcpy(r->sha, val, 65);
			seen |= 64;
		} else if (strcmp(line, "uid") == 0) {
			char *u = uidl_unescape(val);

			if (u == NULL)
				return -1;
			r->uids = xreallocarray(
			    r->uids, r->nuids + 1, sizeof(*r->uids));
			r->uids[r->nuids++] = u;
		} else
			return -1;
	}
	if (!end || seen != 127)
		return -1;
	return 0;
}

/* Read the whole record file; 1 read, 0 missing, -1 error. */
static int
record_read(const char *rpath, char **text, struct pf_err *err)
{
	size_t len = 0, cap = 4096;
	char *buf;
	int fd;

	fd = open(rpath, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1) {
		if (errno == ENOENT)
			return 0;
		return pf_err_sys(err, PF_EIO, "cannot read '%s'", rpath);
	}
	buf = xmalloc(cap);
	for (;;) {
		ssize_t n;

		if (len + 1 == cap) {
			if (cap >= MBOX_RECORD_MAX) {
				errno = EFBIG;
				goto fail;
			}
			cap *= 2;
			buf = xreallocarray(buf, cap, 1);
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	if (strlen(buf) != len) {
		free(buf);
		return pf_err_set(err, PF_EIO,
		    "corrupt pending-append record "
		    "'%s'; check the mbox by hand and remove it",
		    rpath);
	}
	*text = buf;
	return 1;
fail:
	pf_err_sys(err, PF_EIO, "cannot read '%s'", rpath);
	close(fd);
	free(buf);
	return -1;
}

/* Does [orig, orig+prefix+len) hold our newlines and the batch? */
static int
range_matches(int fd, const struct mbox_record *r, bool *match)
{
	char *buf = xmalloc(SINK_BUFSZ), hex[65];
	unsigned long long off, end;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned long long i;
	int ret = -1;

	*match = false;
	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		goto out;
	if (r->prefix > 0) {
		if (sink_pread_all(
			fd, buf, (size_t)r->prefix, (off_t)r->orig) == -1)
			goto out;
		for (i = 0; i < r->prefix; i++)
			if (buf[i] != '\n') {
				ret = 0;
				goto out;
			}
	}
	off = r->orig + r->prefix;
	end = off + r->len;
	while (off < end) {
		size_t n =
		    end - off > SINK_BUFSZ ? SINK_BUFSZ : (size_t)(end - off);

		if (sink_pread_all(fd, buf, n, (off_t)off) == -1 ||
		    EVP_DigestUpdate(md, buf, n) != 1)
			goto out;
		off += n;
	}
	if (sha_hex(md, hex) == -1)
		goto out;
	*match = strcmp(hex, r->sha) == 0;
	ret = 0;
out:
	EVP_MD_CTX_free(md);
	free(buf);
	return ret;
}

/* Remove the record durably once it has been resolved. */
static void
record_drop(const struct sink *sk, const char *rpath)
{
	if (unlink(rpath) == -1 && errno != ENOENT)
		log_warning("cannot remove '%s': %s", rpath, strerror(errno));
	(void)fsync_dir(sk->spool_dir);
}

int
sink_mbox_recover(
    struct sink *sk, sink_confirm_fn confirm, void *ctx, struct pf_err *err)
{
	struct mbox_lock lk = {.fd = -1, .dotlock = NULL};
	struct mbox_record rec;
	unsigned long long size, total;
	char *rpath, *text = NULL;
	struct stat st;
	bool match;
	size_t i;
	int ret = -1, r;

	memset(&rec, 0, sizeof(rec));
	if ((rpath = record_path(sk)) == NULL)
		return 0;
	if ((r = record_read(rpath, &text, err)) <= 0) {
		free(rpath);
		return r;
	}
	if (text == NULL || record_parse(text, &rec) == -1) {
		pf_err_set(err, PF_EIO,
		    "corrupt pending-append record '%s'; "
		    "check the mbox by hand and remove it",
		    rpath);
		goto out;
	}
	if (lstat(rec.path, &st) == -1 && errno == ENOENT) {
		log_warning(
		    "mbox '%s' of an interrupted append is gone", rec.path);
		record_drop(sk, rpath);
		ret = 0;
		goto out;
	}
	if (mbox_lock(rec.path, sk->lock_wait, &lk, err) == -1)
		goto out;
	if ((unsigned long long)lk.st.st_dev != rec.dev ||
	    (unsigned long long)lk.st.st_ino != rec.ino) {
		log_warning("mbox '%s' was replaced after an interrupted "
			    "append; its messages will be fetched again",
		    rec.path);
		record_drop(sk, rpath);
		ret = 0;
		goto unlock;
	}
	size = (unsigned long long)lk.st.st_size;
	total = rec.orig + rec.prefix + rec.len;
	match = false;
	if (size >= total && range_matches(lk.fd, &rec, &match) == -1) {
		pf_err_sys(err, PF_EIO, "cannot read mbox '%s'", rec.path);
		goto unlock;
	}
	if (match) {
		log_debug(
		    "mbox '%s': interrupted append was complete", rec.path);
		for (i = 0; i < rec.nuids; i++)
			if (confirm != NULL &&
			    confirm(ctx, rec.uids[i], err) == -1)
				goto unlock;
		/*
		 * Keep the record until the caller has made the confirmed
		 * UIDs durable and calls sink_synced_recorded().
		 */
		sk->record_ours = true;
		ret = 0;
	} else if (size >= rec.orig && size <= total) {
		log_warning("mbox '%s': removing a partial append of %llu "
			    "bytes",
		    rec.path, size - rec.orig);
		if (ftruncate(lk.fd, (off_t)rec.orig) == -1 ||
		    fsync(lk.fd) == -1) {
			pf_err_sys(
			    err, PF_EIO, "cannot truncate mbox '%s'", rec.path);
			goto unlock;
		}
		record_drop(sk, rpath);
		ret = 0;
	} else
		pf_err_set(err, PF_EIO,
		    "mbox '%s' changed after an "
		    "interrupted append; check it by hand",
		    rec.path);
unlock:
	mbox_unlock(&lk);
out:
	record_free(&rec);
	free(text);
	free(rpath);
	return ret;
}
