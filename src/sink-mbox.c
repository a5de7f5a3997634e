/*
 * sink-mbox.c: mboxrd delivery with group commit. Messages are spooled
 * (spool.h: in memory or private temp files); the sync builds one batch (in the account's batch
 * file when there is a state directory, fsynced: recovery compares the
 * mbox with it), locks the mbox (fcntl, then an NFS-safe dotlock), writes
 * a durable pending-append record, appends, fsyncs and unlocks. Any failure truncates the mbox back to its
 * old size. A run killed in the middle leaves the record, which the next
 * run resolves before connecting (pending.h).
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "popfetch/crypto.h"
#include "popfetch/fileio.h"
#include "popfetch/log.h"
#include "popfetch/mboxlock.h"
#include "popfetch/mboxrd.h"
#include "popfetch/pending.h"
#include "popfetch/sink.h"
#include "popfetch/spool.h"
#include "popfetch/xmalloc.h"
#include "sink-private.h"

struct mbox {
	struct sink_spooled s; /* first: the shared spooled variant part */
	int lock_wait;	       /* seconds */
	char *state_dir;       /* with account_id: where the pending record */
	char *account_id;      /* goes; both NULL: no record */
	bool record_ours;      /* the pending record on disk is from our sync */
	bool foreign_ok;       /* allow_foreign_mbox */
};

/* The batch: every spooled message in mboxrd form, in one temp file. */
struct batch {
	struct fileio_buf f;
	struct crypto_sha256 *sha;
	unsigned long long len;
	char hex[65];
};

/* Create a missing mbox (0600) or check an existing one. */
static int
mbox_create(const char *path, bool foreign_ok, struct pf_err *err)
{
	struct stat st;
	int fd;

	fd = open(
	    path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd != -1) {
		char *dir = fileio_dirname(path);
		int r;

		close(fd);
		/* The new name must be durable before any message that goes
		 * into the file is deleted on the server. */
		r = fileio_fsync_dir(dir);
		free(dir);
		if (r == -1) {
			pf_err_sys(
			    err, PF_EIO, "cannot create mbox '%s'", path);
			(void)unlink(path);
			return -1;
		}
	} else if (errno != EEXIST)
		return pf_err_sys(
		    err, PF_ECANTCREAT, "cannot create mbox '%s'", path);
	if (lstat(path, &st) == -1)
		return pf_err_sys(
		    err, PF_ECANTCREAT, "cannot use mbox '%s'", path);
	if (mboxlock_check(path, &st, foreign_ok, err) == -1)
		return -1;
	/* O_NONBLOCK: a FIFO swapped in after the lstat must not hang us. */
	fd = open(path, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1)
		return pf_err_sys(
		    err, PF_ECANTCREAT, "cannot open mbox '%s'", path);
	close(fd);
	return 0;
}

static int
mbox_init(struct sink *sk, const struct sink_params *p, struct pf_err *err)
{
	struct mbox *mb = sink_spool_init(sk, p, sizeof(*mb));

	mb->lock_wait = p->lock_wait < 0 ? 0 : p->lock_wait;
	if (p->spool_dir != NULL && p->account_id != NULL) {
		mb->state_dir = xstrdup(p->spool_dir);
		mb->account_id = xstrdup(p->account_id);
	}
	mb->foreign_ok = p->allow_foreign_mbox;
	return mbox_create(sk->path, mb->foreign_ok, err);
}

static int
mbox_commit(struct sink *sk, struct pf_err *err)
{
	struct mbox *mb = sk->impl;

	return spool_keep(&mb->s.spool, err);
}

/* mboxrd_emit() callback: append to the batch file and hash the bytes. */
static int
batch_emit(void *ctx, const char *buf, size_t len)
{
	struct batch *b = ctx;

	crypto_sha256_add(b->sha, buf, len);
	b->len += len;
	return fileio_buf_write(&b->f, buf, len);
}

/* Build the batch outside the lock, hashed as it is written. */
static int
batch_build(struct mbox *mb, struct batch *b, struct pf_err *err)
{
	time_t now = time(NULL);
	int fd;
	size_t i;

	/* With a record, in the account's batch file, which recovery
	 * compares with the mbox (pending.h). */
	if (mb->state_dir != NULL)
		fd = pending_batch_create(mb->state_dir, mb->account_id, err);
	else
		fd = fileio_tmpfile(mb->s.spool.dir, err);
	if (fd == -1)
		return -1;
	fileio_buf_init(&b->f, fd);
	if ((b->sha = crypto_sha256_new()) == NULL)
		return pf_err_set(
		    err, PF_ESOFTWARE, "cannot initialize SHA-256");
	for (i = 0; i < mb->s.spool.n; i++) {
		const struct spool_msg *m = &mb->s.spool.msgs[i];

		if (mboxrd_emit(m->fd, m->size, m->last, m->sender, now,
			batch_emit, b) == -1)
			break;
	}
	if (i < mb->s.spool.n || fileio_buf_flush(&b->f) == -1)
		return pf_err_sys(err, PF_EIO, "cannot write spool file");
	if (crypto_sha256_end(b->sha, b->hex) == -1)
		return pf_err_set(err, PF_ESOFTWARE, "cannot compute SHA-256");
	return 0;
}

/*
 * mboxrd readers split at "From " lines that follow an empty line, so
 * the existing text must end with "\n\n" (or be empty). A file ending in
 * one "\n" gets one more; one with no final newline gets two. A file that
 * is exactly "\n" already ends in an empty line.
 */
static int
tail_prefix(int fd, unsigned long long size, const char **prefix)
{
	char tailb[2];

	*prefix = "";
	if (size >= 2) {
		if (fileio_pread_all(fd, tailb, 2, (off_t)(size - 2)) == -1)
			return -1;
		if (tailb[1] != '\n')
			*prefix = "\n\n";
		else if (tailb[0] != '\n')
			*prefix = "\n";
	} else if (size == 1) {
		if (fileio_pread_all(fd, tailb, 1, 0) == -1)
			return -1;
		if (tailb[0] != '\n')
			*prefix = "\n\n";
	}
	return 0;
}

/* The durable record of the append about to happen. */
static int
record_append(struct sink *sk, const struct mboxlock *lk,
    unsigned long long orig, size_t prefix, const struct batch *b,
    struct pf_err *err)
{
	struct mbox *mb = sk->impl;
	struct pending_rec rec;
	size_t i;
	int r;

	memset(&rec, 0, sizeof(rec));
	rec.path = sk->path;
	rec.dev = (unsigned long long)lk->st.st_dev;
	rec.ino = (unsigned long long)lk->st.st_ino;
	rec.orig = orig;
	rec.prefix = prefix;
	rec.len = b->len;
	memcpy(rec.sha, b->hex, sizeof(rec.sha));
	rec.uids = xcalloc(mb->s.spool.n + 1, sizeof(*rec.uids));
	for (i = 0; i < mb->s.spool.n; i++)
		if (mb->s.spool.msgs[i].uid != NULL)
			rec.uids[rec.nuids++] = mb->s.spool.msgs[i].uid;
	/* The batch is durable before the record that points to it. */
	if (fsync(b->f.fd) == -1)
		r = pf_err_sys(err, PF_EIO, "cannot write spool file");
	else
		r = pending_write(mb->state_dir, mb->account_id, &rec, err);
	free(rec.uids);
	return r;
}

/* Copy the batch file (from offset 0) to the end of the mbox. */
static int
append_batch(int mfd, int bfd, unsigned long long len)
{
	char *buf = xmalloc(FILEIO_BUFSZ);
	unsigned long long off = 0;
	int r = -1;

	while (off < len) {
		size_t n = len - off > FILEIO_BUFSZ ? FILEIO_BUFSZ
						    : (size_t)(len - off);

		if (fileio_pread_all(bfd, buf, n, (off_t)off) == -1 ||
		    fileio_write_all(mfd, buf, n) == -1)
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
 * Under the lock: record, append, fsync, check the size. On a failure
 * after the record, the mbox is cut back to its old size and the record
 * dropped; if even the cut fails, the record stays for the next run.
 */
static int
append_locked(struct sink *sk, struct mboxlock *lk, const struct batch *b,
    struct pf_err *err)
{
	struct mbox *mb = sk->impl;
	unsigned long long orig = (unsigned long long)lk->st.st_size;
	const char *prefix;
	bool recorded = false;
	struct stat st;

	if (tail_prefix(lk->fd, orig, &prefix) == -1)
		goto io_fail;
	if (mb->state_dir != NULL) {
		if (record_append(sk, lk, orig, strlen(prefix), b, err) == -1) {
			/* Nothing appended: no record may stay behind. */
			pending_forget(mb->state_dir, mb->account_id);
			return -1;
		}
		recorded = true;
		mb->record_ours = true;
		PF_FAULT("mbox_after_record");
	}
	if (fileio_write_all(lk->fd, prefix, strlen(prefix)) == -1 ||
	    append_batch(lk->fd, b->f.fd, b->len) == -1)
		goto io_fail;
	PF_FAULT("mbox_before_sync");
	if (fsync(lk->fd) == -1 || fstat(lk->fd, &st) == -1)
		goto io_fail;
	if ((unsigned long long)st.st_size != orig + strlen(prefix) + b->len) {
		errno = EIO;
		goto io_fail;
	}
	PF_FAULT("mbox_after_append");
	snprintf(sk->where, sizeof(sk->where), "%s", sk->path);
	return 0;
io_fail:
	pf_err_sys(err, PF_EIO, "cannot write mbox '%s'", sk->path);
	if (ftruncate(lk->fd, (off_t)orig) == -1 || fsync(lk->fd) == -1) {
		/* Keep the record: the next run's recovery cuts it back. */
		log_error("cannot truncate mbox '%s' back to %llu bytes: %s",
		    sk->path, orig, strerror(errno));
	} else if (recorded) {
		pending_drop(mb->state_dir, mb->account_id);
		mb->record_ours = false;
	}
	return -1;
}

/* The group commit: build the batch, lock, append under the record,
 * unlock. */
static int
mbox_sync(struct sink *sk, struct pf_err *err)
{
	struct mbox *mb = sk->impl;
	struct mboxlock lk = {
	    .fd = -1, .dotlock = NULL, .foreign_ok = mb->foreign_ok};
	struct batch b;
	int ret = -1;

	memset(&b, 0, sizeof(b));
	b.f.fd = -1;
	if (mb->s.spool.n == 0)
		return 0;
	if (mb->state_dir != NULL && !mb->record_ours &&
	    pending_check(mb->state_dir, mb->account_id, err) == -1)
		goto out;
	if (batch_build(mb, &b, err) == -1 ||
	    mboxlock_take(sk->path, mb->lock_wait, &lk, err) == -1)
		goto out;
	ret = append_locked(sk, &lk, &b, err);
	mboxlock_release(&lk);
out:
	crypto_sha256_free(b.sha);
	if (b.f.buf != NULL) {
		fileio_buf_close(&b.f);
		/* Built here, and no record of ours points to it. */
		if (mb->state_dir != NULL && !mb->record_ours)
			pending_batch_remove(mb->state_dir, mb->account_id);
	}
	spool_clear(&mb->s.spool);
	return ret;
}

/* The caller recorded the synced UIDs: the record has done its job. */
static void
mbox_recorded(struct sink *sk)
{
	struct mbox *mb = sk->impl;

	if (mb->state_dir != NULL && mb->record_ours) {
		pending_forget(mb->state_dir, mb->account_id);
		mb->record_ours = false;
	}
}

static void
mbox_free(struct sink *sk)
{
	struct mbox *mb = sk->impl;

	if (mb == NULL)
		return;
	free(mb->state_dir);
	free(mb->account_id);
	sink_spool_free(sk);
}

const struct sink_ops sink_mbox_ops = {
    .sink = {mbox_init, mbox_free},
    .msg = {sink_spool_open, sink_spool_write, mbox_commit, sink_spool_abort},
    .sync = mbox_sync,
    .recorded = mbox_recorded,
};
