/*
 * sink-maildir.c: Maildir delivery. Each message is written to tmp/ under
 * a unique O_EXCL name; the commit finishes writing it and keeps its fd
 * for the sync. The sync does the durable part for the whole batch: make
 * every file durable, link it into new/ (never over an existing name),
 * unlink it from tmp/, and fsync new/ once. A batch of MAILDIR_WHOLE_MIN
 * files or more costs one syncfs where one sync of the whole file system
 * is as strong as an fsync per file (fileio_fs_sync_whole(): ext4, XFS,
 * Btrfs, tmpfs on Linux 5.17 or later); otherwise each file is fsynced,
 * its write-back started at its commit. Deferring the fsyncs to the batch
 * end keeps them cheap on a journalling file system: the first one
 * commits the transaction that already holds the others. A message
 * reaches new/ only after its data is on disk, so a file in new/ is never
 * torn.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "popfetch/crypto.h"
#include "popfetch/fileio.h"
#include "popfetch/log.h"
#include "popfetch/sink.h"
#include "popfetch/sys.h"
#include "popfetch/xmalloc.h"
#include "compat.h"
#include "sink-private.h"

#define MAILDIR_NAME_MAX    512
#define MAILDIR_NAME_TRIES  100
#define MAILDIR_TMP_MAX_AGE (36 * 3600)
/* Pending files kept open for the batch's sync, at most (a batch holds
 * at most PLAN_BATCH_MAX_MSGS, 256). */
#define MAILDIR_OPEN_MAX    256
/* A whole-file-system sync is used from this many files on: for fewer,
 * fsyncs of just those files are cheaper than waiting for every other
 * program's dirty data too. */
#define MAILDIR_WHOLE_MIN   16

/* A committed message waiting for the sync. */
struct maildir_pending {
	int fd;	     /* still open for the deferred fsync, or -1 */
	char *name;  /* its tmp/ name */
	char *token; /* or NULL */
};

struct maildir {
	int dirfd, tmpfd, newfd;
	struct fileio_buf cur;	     /* the current message's tmp file */
	char name[MAILDIR_NAME_MAX]; /* its tmp/ name */
	char *token;		     /* its token, or NULL */

	struct maildir_pending *pend;
	size_t npend, pendcap;
	size_t nopen;	 /* pending files with their fd open */
	bool whole_sync; /* one syncfs makes a batch durable */

	/* The token set for sink_has_token(): open addressing. */
	bool scanned;
	uint64_t *keys;
	unsigned char *used;
	size_t cap, n;
};

/* True for errors that mean the disk, not the setup, failed. */
static bool
is_io_errno(int e)
{
	return e == ENOSPC || e == EIO || e == EDQUOT || e == EFBIG ||
	    e == EROFS;
}

/* Parse 16 hex digits (exactly, up to end or '.') into v. */
static bool
token_parse(const char *s, size_t len, uint64_t *v)
{
	size_t i;

	if (len != 16)
		return false;
	*v = 0;
	for (i = 0; i < 16; i++) {
		int d = crypto_hexval(s[i]);

		if (d < 0)
			return false;
		*v = (*v << 4) | (unsigned)d;
	}
	return true;
}

/* Mix a key so that nearby tokens spread over the table. */
static size_t
token_hash(uint64_t v)
{
	v ^= v >> 33;
	v *= 0xff51afd7ed558ccdULL;
	v ^= v >> 33;
	return (size_t)v;
}

static bool
set_has(const struct maildir *md, uint64_t v)
{
	size_t i;

	if (md->cap == 0)
		return false;
	for (i = token_hash(v) & (md->cap - 1); md->used[i];
	     i = (i + 1) & (md->cap - 1))
		if (md->keys[i] == v)
			return true;
	return false;
}

/* Insert v, growing the table to keep it at most half full. */
static void
set_add(struct maildir *md, uint64_t v)
{
	size_t i;

	if (set_has(md, v))
		return;
	if (2 * (md->n + 1) > md->cap) {
		size_t ocap = md->cap, j;
		uint64_t *okeys = md->keys;
		unsigned char *oused = md->used;

		md->cap = ocap ? 2 * ocap : 64;
		md->keys = xcalloc(md->cap, sizeof(*md->keys));
		md->used = xcalloc(md->cap, 1);
		md->n = 0;
		for (j = 0; j < ocap; j++)
			if (oused[j])
				set_add(md, okeys[j]);
		free(okeys);
		free(oused);
	}
	for (i = token_hash(v) & (md->cap - 1); md->used[i];
	     i = (i + 1) & (md->cap - 1))
		;
	md->used[i] = 1;
	md->keys[i] = v;
	md->n++;
}

/*
 * The token in a Maildir name: in the unique part (between the first and
 * the second '.'), an 'h' followed by 16 hex digits at its end.
 */
static bool
name_token(const char *name, uint64_t *v)
{
	const char *u = strchr(name, '.'), *e;

	if (u == NULL)
		return false;
	u++;
	if ((e = strchr(u, '.')) == NULL)
		return false;
	if (e - u < 17 || e[-17] != 'h')
		return false;
	return token_parse(e - 16, 16, v);
}

/* Add the tokens of every file in sub/ (new or cur) to the set. */
static void
scan_dir(struct sink *sk, struct maildir *md, const char *sub)
{
	struct dirent *de;
	DIR *d;
	int fd;
	uint64_t v;

	fd = openat(md->dirfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 || (d = fdopendir(fd)) == NULL) {
		log_warning(
		    "cannot read '%s/%s': %s", sk->path, sub, strerror(errno));
		if (fd != -1)
			close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' && name_token(de->d_name, &v))
			set_add(md, v);
	closedir(d);
}

/*
 * Remove files left in tmp/ for more than 36 hours, as the Maildir
 * convention asks of every program that uses one: a run killed before its
 * sync leaves its batch there, and those messages were fetched again.
 */
static void
clean_tmp(struct sink *sk, struct maildir *md)
{
	struct dirent *de;
	struct stat st;
	time_t now = time(NULL);
	DIR *d;
	int fd;

	fd = openat(md->tmpfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' ||
		    fstatat(md->tmpfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) ==
			-1 ||
		    !S_ISREG(st.st_mode) ||
		    now - st.st_mtime < MAILDIR_TMP_MAX_AGE)
			continue;
		if (unlinkat(md->tmpfd, de->d_name, 0) == 0)
			log_debug(
			    "removed stale '%s/tmp/%s'", sk->path, de->d_name);
	}
	closedir(d);
}

/* Check that st (from lstat) is a real directory; set err if not. */
static int
check_dir(struct sink *sk, const char *what, const struct stat *st,
    struct pf_err *err)
{
	if (S_ISLNK(st->st_mode))
		return pf_err_set(err, PF_ECANTCREAT,
		    "cannot use Maildir '%s': '%s' is a symbolic link",
		    sk->path, what);
	if (!S_ISDIR(st->st_mode))
		return pf_err_set(err, PF_ECANTCREAT,
		    "cannot use Maildir '%s': '%s' is not a directory",
		    sk->path, what);
	return 0;
}

/* Create or check the Maildir and its tmp/ new/ cur/, keeping fds. */
static int
maildir_init(struct sink *sk, const struct sink_params *p, struct pf_err *err)
{
	static const char *const subs[] = {"tmp", "new", "cur"};
	struct maildir *md;
	struct stat st;
	size_t i;

	(void)p;
	md = xcalloc(1, sizeof(*md));
	md->dirfd = md->tmpfd = md->newfd = md->cur.fd = -1;
	sk->impl = md;
	if (fileio_mkdirs(sk->path, 0700) == -1)
		return pf_err_sys(
		    err, PF_ECANTCREAT, "cannot use Maildir '%s'", sk->path);
	if (lstat(sk->path, &st) == -1)
		return pf_err_sys(
		    err, PF_ECANTCREAT, "cannot use Maildir '%s'", sk->path);
	if (check_dir(sk, sk->path, &st, err) == -1)
		return -1;
	md->dirfd =
	    open(sk->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (md->dirfd == -1)
		return pf_err_sys(
		    err, PF_ECANTCREAT, "cannot use Maildir '%s'", sk->path);
	if (faccessat(AT_FDCWD, sk->path, W_OK | X_OK, AT_EACCESS) == -1)
		return pf_err_sys(
		    err, PF_ECANTCREAT, "cannot use Maildir '%s'", sk->path);
	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		int fd;

		if (mkdirat(md->dirfd, subs[i], 0700) == -1 && errno != EEXIST)
			return pf_err_sys(err, PF_ECANTCREAT,
			    "cannot use Maildir '%s': cannot create '%s'",
			    sk->path, subs[i]);
		if (fstatat(md->dirfd, subs[i], &st, AT_SYMLINK_NOFOLLOW) == -1)
			return pf_err_sys(err, PF_ECANTCREAT,
			    "cannot use Maildir '%s': '%s'", sk->path, subs[i]);
		if (check_dir(sk, subs[i], &st, err) == -1)
			return -1;
		if (faccessat(md->dirfd, subs[i], W_OK | X_OK, AT_EACCESS) ==
		    -1)
			return pf_err_sys(err, PF_ECANTCREAT,
			    "cannot use Maildir '%s': '%s'", sk->path, subs[i]);
		fd = openat(md->dirfd, subs[i],
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd == -1)
			return pf_err_sys(err, PF_ECANTCREAT,
			    "cannot use Maildir '%s': '%s'", sk->path, subs[i]);
		/*
		 * new/ and cur/ may hold names a killed run linked but never
		 * synced; the token check trusts them, so make them durable
		 * before anything is deleted on the server.
		 */
		if (i == 2 && (fsync(md->newfd) == -1 || fsync(fd) == -1)) {
			pf_err_sys(
			    err, PF_EIO, "cannot sync Maildir '%s'", sk->path);
			close(fd);
			return -1;
		}
		if (i == 0)
			md->tmpfd = fd;
		else if (i == 1)
			md->newfd = fd;
		else
			close(fd);
	}
	/* tmp/ new/ cur/ are durable only once the Maildir is synced; on
	 * every run, so that one a failed run made is synced next time. */
	if (fsync(md->dirfd) == -1)
		return pf_err_sys(
		    err, PF_EIO, "cannot sync Maildir '%s'", sk->path);
	clean_tmp(sk, md);
	md->whole_sync = fileio_fs_sync_whole(md->tmpfd);
	return 0;
}

/* Create tmp/NAME under a fresh unique name. */
static int
maildir_open(struct sink *sk, const struct sink_msg *m, struct pf_err *err)
{
	struct maildir *md = sk->impl;
	int fd = -1, tries;

	free(md->token);
	md->token = NULL;
	for (tries = 0; tries < MAILDIR_NAME_TRIES; tries++) {
		if (sink_maildir_name(md->name, sizeof(md->name), m->token) ==
		    -1)
			return pf_err_set(err, PF_ESOFTWARE,
			    "cannot make a Maildir file name");
		fd = openat(md->tmpfd, md->name,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd != -1 || errno != EEXIST)
			break;
	}
	if (fd == -1)
		return pf_err_sys(err,
		    is_io_errno(errno) ? PF_EIO : PF_ECANTCREAT,
		    "cannot create '%s/tmp/%s'", sk->path, md->name);
	if (m->token != NULL)
		md->token = xstrdup(m->token);
	fileio_buf_init(&md->cur, fd);
	return 0;
}

/* Drop the current tmp file after a failure; keeps errno. */
static void
maildir_discard(struct sink *sk)
{
	struct maildir *md = sk->impl;
	int saved = errno;

	fileio_buf_close(&md->cur);
	if (unlinkat(md->tmpfd, md->name, 0) == -1 && errno != ENOENT)
		log_warning("cannot remove '%s/tmp/%s': %s", sk->path, md->name,
		    strerror(errno));
	errno = saved;
}

static int
maildir_write(struct sink *sk, const char *buf, size_t len, struct pf_err *err)
{
	struct maildir *md = sk->impl;

	if (fileio_buf_write(&md->cur, buf, len) == 0)
		return 0;
	pf_err_sys(err, PF_EIO, "cannot write '%s/tmp/%s'", sk->path, md->name);
	maildir_discard(sk);
	return -1;
}

/*
 * Where the file's fd goes once the message is written: kept open for the
 * batch's sync while fewer than MAILDIR_OPEN_MAX are; past that closed
 * when a whole sync will cover it, else fsynced now. -1 with errno when
 * the file could not be made durable.
 */
static int
pending_keep(struct maildir *md, struct maildir_pending *mp, int fd)
{
	mp->fd = -1;
	/* Start its write-back now where it will be fsynced, so the disk
	 * works while the network does (a whole sync leaves that to the
	 * kernel's flusher, off our CPU). */
	if (!md->whole_sync)
		fileio_start_writeback(fd);
	if (md->nopen < MAILDIR_OPEN_MAX) {
		mp->fd = fd;
		md->nopen++;
		return 0;
	}
	if (md->whole_sync)
		return close(fd);
	if (fsync(fd) == -1) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	return close(fd);
}

/* The message is complete: write out its buffer and queue it for the
 * sync. */
static int
maildir_commit(struct sink *sk, struct pf_err *err)
{
	struct maildir *md = sk->impl;
	struct maildir_pending *mp;

	if (fileio_buf_flush(&md->cur) == -1) {
		pf_err_sys(err, PF_EIO, "cannot write '%s/tmp/%s'", sk->path,
		    md->name);
		maildir_discard(sk);
		return -1;
	}
	if (md->npend == md->pendcap) {
		md->pendcap = md->pendcap == 0 ? 64 : md->pendcap * 2;
		md->pend =
		    xreallocarray(md->pend, md->pendcap, sizeof(*md->pend));
	}
	mp = &md->pend[md->npend];
	if (pending_keep(md, mp, fileio_buf_release(&md->cur)) == -1) {
		pf_err_sys(err, PF_EIO, "cannot write '%s/tmp/%s'", sk->path,
		    md->name);
		maildir_discard(sk);
		return -1;
	}
	md->npend++;
	mp->name = xstrdup(md->name);
	mp->token = md->token;
	md->token = NULL;
	snprintf(sk->where, sizeof(sk->where), "%s/new/%s", sk->path, md->name);
	return 0;
}

static void
maildir_abort(struct sink *sk)
{
	maildir_discard(sk);
}

/* Forget pending messages from index i on: they are not delivered. */
static void
drop_pending(struct sink *sk, size_t i)
{
	struct maildir *md = sk->impl;

	for (; i < md->npend; i++) {
		struct maildir_pending *mp = &md->pend[i];

		if (mp->fd != -1)
			close(mp->fd);
		if (unlinkat(md->tmpfd, mp->name, 0) == -1 && errno != ENOENT)
			log_warning("cannot remove '%s/tmp/%s': %s", sk->path,
			    mp->name, strerror(errno));
		free(mp->name);
		free(mp->token);
	}
	md->npend = 0;
	md->nopen = 0;
}

/* Link one synced tmp file into new/ under its name, or a fresh one on a
 * clash. Returns 0 or -1 with errno. */
static int
pending_link(struct maildir *md, struct maildir_pending *mp)
{
	char newname[MAILDIR_NAME_MAX];
	int tries, r;

	strlcpy(newname, mp->name, sizeof(newname));
	for (tries = 0;; tries++) {
		r = linkat(md->tmpfd, mp->name, md->newfd, newname, 0);
		if (r == 0 || errno != EEXIST || tries == MAILDIR_NAME_TRIES)
			break;
		/* A name clash in new/: never overwrite, pick another. */
		if (sink_maildir_name(newname, sizeof(newname), mp->token) ==
		    -1) {
			errno = EEXIST;
			break;
		}
	}
	return r;
}

/* Make every pending file durable: one syncfs for a large batch where
 * that is as strong, else an fsync of each file still open (the others
 * were fsynced at their commit); close them all. -1 with errno. */
static int
pending_sync(struct maildir *md)
{
	bool whole = md->whole_sync &&
	    (md->npend >= MAILDIR_WHOLE_MIN || md->nopen < md->npend);
	int rc = whole ? fileio_fs_sync(md->tmpfd) : 0;
	size_t i;

	for (i = 0; i < md->npend; i++) {
		struct maildir_pending *mp = &md->pend[i];
		int fd = mp->fd;

		if (fd == -1)
			continue;
		mp->fd = -1;
		md->nopen--;
		if (rc == 0 && !whole && fsync(fd) == -1)
			rc = -1;
		if (close(fd) == -1 && rc == 0)
			rc = -1;
	}
	return rc;
}

/* The group commit: make the files durable, link them all, fsync new/
 * once. */
static int
maildir_sync(struct sink *sk, struct pf_err *err)
{
	struct maildir *md = sk->impl;
	size_t i;
	uint64_t v;

	if (md->npend == 0)
		return 0;
	if (pending_sync(md) == -1) {
		pf_err_sys(err, PF_EIO,
		    "cannot sync the new messages in '%s/tmp'", sk->path);
		drop_pending(sk, 0);
		return -1;
	}
	PF_FAULT("maildir_before_link");
	for (i = 0; i < md->npend; i++) {
		struct maildir_pending *mp = &md->pend[i];

		if (pending_link(md, mp) == -1) {
			/* Those linked already stay: their names carry the
			 * token, so the next run recognises them. */
			pf_err_sys(err, PF_EIO,
			    "cannot link '%s/tmp/%s' into new/", sk->path,
			    mp->name);
			drop_pending(sk, i);
			return -1;
		}
		if (unlinkat(md->tmpfd, mp->name, 0) == -1)
			log_warning("cannot remove '%s/tmp/%s': %s", sk->path,
			    mp->name, strerror(errno));
		if (mp->token != NULL &&
		    token_parse(mp->token, strlen(mp->token), &v))
			set_add(md, v);
		free(mp->name);
		free(mp->token);
		mp->name = mp->token = NULL;
	}
	md->npend = 0;
	if (fsync(md->newfd) == -1)
		return pf_err_sys(
		    err, PF_EIO, "cannot sync '%s/new'", sk->path);
	return 0;
}

static bool
maildir_has_token(struct sink *sk, const char *token)
{
	struct maildir *md = sk->impl;
	uint64_t v;

	if (!token_parse(token, strlen(token), &v))
		return false;
	if (!md->scanned) {
		/* maildir_init() made both directories durable, so a name
		 * found here is not one that exists only in the page cache */
		md->scanned = true;
		scan_dir(sk, md, "new");
		scan_dir(sk, md, "cur");
	}
	return set_has(md, v);
}

static void
maildir_free(struct sink *sk)
{
	struct maildir *md = sk->impl;

	if (md == NULL)
		return;
	drop_pending(sk, 0);
	fileio_buf_close(&md->cur);
	free(md->pend);
	if (md->dirfd != -1)
		close(md->dirfd);
	if (md->tmpfd != -1)
		close(md->tmpfd);
	if (md->newfd != -1)
		close(md->newfd);
	free(md->token);
	free(md->keys);
	free(md->used);
	free(md);
	sk->impl = NULL;
}

const struct sink_ops sink_maildir_ops = {
    .sink = {maildir_init, maildir_free},
    .msg = {maildir_open, maildir_write, maildir_commit, maildir_abort},
    .sync = maildir_sync,
    .has_token = maildir_has_token,
};

/* True when s is exactly 16 hex digits. */
static bool
token_ok(const char *s)
{
	uint64_t v;

	return strlen(s) == 16 && token_parse(s, 16, &v);
}

int
sink_maildir_name(char *out, size_t outsz, const char *token)
{
	static unsigned long counter;
	static char safe[1024]; /* the host part, made once per process */
	static pid_t pid;
	const char *host;
	struct timespec ts;
	size_t i, o = 0;
	int n;

	if (token != NULL && !token_ok(token))
		return -1;
	if (pid != getpid()) {
		/* first call, or a forked child: its own pid and counter */
		pid = getpid();
		counter = 0;
		host = sys_hostname();
		for (i = 0; host[i] != '\0' && o + 5 < sizeof(safe); i++) {
			if (host[i] == '/') {
				memcpy(safe + o, "\\057", 4);
				o += 4;
			} else if (host[i] == ':') {
				memcpy(safe + o, "\\072", 4);
				o += 4;
			} else
				safe[o++] = host[i];
		}
		safe[o] = '\0';
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	n = snprintf(out, outsz, "%lld.M%ldP%ldQ%luR%08lx%s%s.%s",
	    (long long)ts.tv_sec, (long)(ts.tv_nsec / 1000), (long)pid,
	    ++counter, (unsigned long)sys_random32(), token != NULL ? "h" : "",
	    token != NULL ? token : "", safe);
	if (n < 0 || (size_t)n >= outsz)
		return -1;
	return 0;
}
