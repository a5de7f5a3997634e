/*
 * pending.c: the pending-append record: writing it atomically, reading
 * and checking it, and resolving it against the mbox after a crash.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "popfetch/crypto.h"
#include "popfetch/fileio.h"
#include "popfetch/log.h"
#include "popfetch/mboxlock.h"
#include "popfetch/num.h"
#include "popfetch/pending.h"
#include "popfetch/state.h"
#include "popfetch/xmalloc.h"

#define RECORD_MAX   (16 * 1024 * 1024)
#define PAGE	     4096 /* what a power cut keeps or loses at once */
#define RECORD_MAGIC "popfetch-mbox-pending 1"

/* The record's path for an account. */
static char *
record_path(const char *state_dir, const char *account_id)
{
	return state_account_path(state_dir, account_id, "mbox-pending");
}

/* The record's lines: magic, path, dev, ino, orig, prefix, len, sha256,
 * one "uid" line per message, "end". */
static int
record_lines(struct fileio_buf *f, const struct pending_rec *r)
{
	char *esc, *line;
	size_t i;
	int ret = 0;

	esc = state_escape(r->path, strlen(r->path));
	line = xasprintf("%s\npath %s\ndev %llu\nino %llu\norig %llu\n"
			 "prefix %llu\nlen %llu\nsha256 %s\n",
	    RECORD_MAGIC, esc, r->dev, r->ino, r->orig, r->prefix, r->len,
	    r->sha);
	free(esc);
	if (fileio_buf_write(f, line, strlen(line)) == -1)
		ret = -1;
	free(line);
	for (i = 0; ret == 0 && i < r->nuids; i++) {
		esc = state_escape(r->uids[i], strlen(r->uids[i]));
		line = xasprintf("uid %s\n", esc);
		free(esc);
		if (fileio_buf_write(f, line, strlen(line)) == -1)
			ret = -1;
		free(line);
	}
	if (ret == 0 && fileio_buf_write(f, "end\n", 4) == -1)
		ret = -1;
	return ret;
}

/* The batch file's path for an account. */
static char *
batch_path(const char *state_dir, const char *account_id)
{
	return state_account_path(state_dir, account_id, "mbox-batch");
}

int
pending_batch_create(
    const char *state_dir, const char *account_id, struct pf_err *err)
{
	char *path = batch_path(state_dir, account_id);
	int fd;

	(void)unlink(path);
	fd = open(
	    path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1)
		pf_err_sys(err, PF_EIO, "cannot create '%s'", path);
	free(path);
	return fd;
}

void
pending_batch_remove(const char *state_dir, const char *account_id)
{
	char *path = batch_path(state_dir, account_id);

	(void)unlink(path);
	free(path);
}

int
pending_write(const char *state_dir, const char *account_id,
    const struct pending_rec *r, struct pf_err *err)
{
	char *rpath = record_path(state_dir, account_id);
	char *tmp = xasprintf("%s.tmp", rpath);
	struct fileio_buf f;
	int fd, ret = -1;

	(void)unlink(tmp);
	fd = open(
	    tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1) {
		pf_err_sys(err, PF_EIO, "cannot create '%s'", tmp);
		goto out;
	}
	fileio_buf_init(&f, fd);
	if (record_lines(&f, r) == -1 || fileio_buf_flush(&f) == -1 ||
	    fsync(f.fd) == -1) {
		pf_err_sys(err, PF_EIO, "cannot write '%s'", tmp);
		fileio_buf_close(&f);
		(void)unlink(tmp);
		goto out;
	}
	fd = fileio_buf_release(&f);
	if (close(fd) == -1 || rename(tmp, rpath) == -1 ||
	    fileio_fsync_dir(state_dir) == -1) {
		pf_err_sys(err, PF_EIO, "cannot write '%s'", rpath);
		(void)unlink(tmp);
		goto out;
	}
	ret = 0;
out:
	free(tmp);
	free(rpath);
	return ret;
}

int
pending_check(const char *state_dir, const char *account_id, struct pf_err *err)
{
	char *rpath = record_path(state_dir, account_id);
	struct stat st;
	int r = 0;

	if (lstat(rpath, &st) == 0)
		r = pf_err_set(err, PF_EIO,
		    "unresolved pending-append record "
		    "'%s': recover it before delivering",
		    rpath);
	free(rpath);
	return r;
}

void
pending_forget(const char *state_dir, const char *account_id)
{
	char *rpath = record_path(state_dir, account_id);
	char *bpath = batch_path(state_dir, account_id);

	if (unlink(rpath) == -1 && errno != ENOENT)
		log_warning("cannot remove '%s': %s", rpath, strerror(errno));
	(void)unlink(bpath); /* after the record: it proves the record */
	free(rpath);
	free(bpath);
}

void
pending_drop(const char *state_dir, const char *account_id)
{
	pending_forget(state_dir, account_id);
	(void)fileio_fsync_dir(state_dir);
}

/* Free what record_parse() allocated. */
static void
record_free(struct pending_rec *r)
{
	size_t i;

	free(r->path);
	for (i = 0; i < r->nuids; i++)
		free(r->uids[i]);
	free(r->uids);
	memset(r, 0, sizeof(*r));
}

/* Apply one "key value" line to r; seen collects the keys found. */
static int
record_field(struct pending_rec *r, const char *key, const char *val, int *seen)
{
	static const char *const nums[] = {
	    "dev", "ino", "orig", "prefix", "len"};
	unsigned long long *const fields[] = {
	    &r->dev, &r->ino, &r->orig, &r->prefix, &r->len};
	size_t i;

	for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		if (strcmp(key, nums[i]) != 0)
			continue;
		if (num_parse_all(val, ULLONG_MAX, fields[i]) == -1 ||
		    r->prefix > 2)
			return -1;
		*seen |= 2 << i;
		return 0;
	}
	if (strcmp(key, "path") == 0 && r->path == NULL) {
		if ((r->path = state_unescape(val)) == NULL)
			return -1;
		*seen |= 1;
	} else if (strcmp(key, "sha256") == 0) {
		if (strlen(val) != 64)
			return -1;
		memcpy(r->sha, val, 65);
		*seen |= 64;
	} else if (strcmp(key, "uid") == 0) {
		char *u = state_unescape(val);

		if (u == NULL)
			return -1;
		r->uids =
		    xreallocarray(r->uids, r->nuids + 1, sizeof(*r->uids));
		r->uids[r->nuids++] = u;
	} else
		return -1;
	return 0;
}

/* Parse the record text (NUL-terminated, modified in place). */
static int
record_parse(char *text, struct pending_rec *r)
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
			if (strcmp(line, RECORD_MAGIC) != 0)
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
		if (record_field(r, line, val, &seen) == -1)
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
	struct stat st;
	size_t len;
	int fd, r;

	fd = open(rpath, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1) {
		if (errno == ENOENT)
			return 0;
		return pf_err_sys(err, PF_EIO, "cannot read '%s'", rpath);
	}
	if (fstat(fd, &st) == -1) {
		close(fd);
		return pf_err_sys(err, PF_EIO, "cannot read '%s'", rpath);
	}
	if (state_check_owner(rpath, &st, "file", err) == -1) {
		close(fd);
		return -1;
	}
	r = fileio_read_all(fd, RECORD_MAX, text, &len);
	if (r == -1)
		pf_err_sys(err, PF_EIO, "cannot read '%s'", rpath);
	close(fd);
	if (r == -1)
		return -1;
	if (strlen(*text) != len) {
		free(*text);
		*text = NULL;
		return pf_err_set(err, PF_EIO,
		    "corrupt pending-append record "
		    "'%s'; check the mbox by hand and remove it",
		    rpath);
	}
	return 1;
}

/* Does [orig, orig+prefix+len) hold our newlines and the batch? */
static int
range_matches(int fd, const struct pending_rec *r, bool *match)
{
	char *buf = xmalloc(FILEIO_BUFSZ), hex[65];
	struct crypto_sha256 *h = crypto_sha256_new();
	unsigned long long off, end, i;
	int ret = -1;

	*match = false;
	if (h == NULL)
		goto out;
	if (r->prefix > 0) {
		if (fileio_pread_all(
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
		size_t n = end - off > FILEIO_BUFSZ ? FILEIO_BUFSZ
						    : (size_t)(end - off);

		if (fileio_pread_all(fd, buf, n, (off_t)off) == -1)
			goto out;
		crypto_sha256_add(h, buf, n);
		off += n;
	}
	if (crypto_sha256_end(h, hex) == -1)
		goto out;
	*match = strcmp(hex, r->sha) == 0;
	ret = 0;
out:
	crypto_sha256_free(h);
	free(buf);
	return ret;
}

/* The bytes the append was to write at mbox offset off (a newline of the
 * prefix, then the batch), n of them, into e. 0, or -1 unreadable. */
static int
expected_bytes(int bfd, const struct pending_rec *r, unsigned long long off,
    char *e, size_t n)
{
	size_t i = 0;

	for (; i < n && off + i < r->orig + r->prefix; i++)
		e[i] = '\n';
	if (i == n)
		return 0;
	return fileio_pread_all(
	    bfd, e + i, n - i, (off_t)(off + i - r->orig - r->prefix));
}

/*
 * Is all of [orig, size) our own interrupted append (docs/faults.md
 * #76)? Each 4 KiB page of it must hold what the append wrote there
 * (compared with the batch file, synced before the record), or only NUL
 * bytes (a page of it that a power cut lost). Anything else is another
 * writer's. 1 yes, 0 no or cannot tell, -1 the mbox cannot be read.
 */
static int
tail_is_ours(const char *state_dir, const char *account_id, int mfd,
    const struct pending_rec *r, unsigned long long size)
{
	char *bpath = batch_path(state_dir, account_id);
	char f[PAGE], e[PAGE];
	unsigned long long a, b;
	struct stat st;
	struct pf_err ignored;
	int bfd, ret = 1;
	size_t n, i;

	if (size > r->orig + r->prefix + r->len)
		ret = 0;
	bfd = open(bpath, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (bfd == -1 || fstat(bfd, &st) == -1 ||
	    state_check_owner(bpath, &st, "file", &ignored) == -1)
		ret = 0;
	free(bpath);
	for (a = r->orig; ret == 1 && a < size; a = b) {
		b = (a / PAGE + 1) * PAGE;
		b = b < size ? b : size;
		n = (size_t)(b - a);
		if (fileio_pread_all(mfd, f, n, (off_t)a) == -1) {
			ret = -1;
			break;
		}
		if (expected_bytes(bfd, r, a, e, n) == -1) {
			ret = 0;
			break;
		}
		if (memcmp(f, e, n) == 0)
			continue;
		for (i = 0; i < n && f[i] == '\0'; i++)
			;
		if (i < n)
			ret = 0;
	}
	if (bfd != -1)
		close(bfd);
	return ret;
}

/*
 * Settle a record against its locked mbox: confirm a complete append
 * (returns 1, record kept); truncate a partial one proven our own, or
 * leave everything when it is not (0, record dropped); fail when the mbox
 * is shorter than before the append.
 */
static int
resolve(const char *state_dir, const char *account_id,
    const struct pending_rec *rec, struct mboxlock *lk,
    pending_confirm_fn confirm, void *ctx, struct pf_err *err)
{
	unsigned long long size = (unsigned long long)lk->st.st_size;
	unsigned long long total = rec->orig + rec->prefix + rec->len;
	bool match = false;
	size_t i;

	if (size >= total && range_matches(lk->fd, rec, &match) == -1)
		return pf_err_sys(
		    err, PF_EIO, "cannot read mbox '%s'", rec->path);
	if (match) {
		log_debug(
		    "mbox '%s': interrupted append was complete", rec->path);
		/* Complete as read, but perhaps only in the page cache: the
		 * run that wrote it may have died before its fsync. Durable
		 * first, or a DELE could follow bytes a power cut takes. */
		if (fsync(lk->fd) == -1)
			return pf_err_sys(
			    err, PF_EIO, "cannot sync mbox '%s'", rec->path);
		for (i = 0; i < rec->nuids; i++)
			if (confirm != NULL &&
			    confirm(ctx, rec->uids[i], err) == -1)
				return -1;
		return 1;
	}
	if (size < rec->orig)
		return pf_err_set(err, PF_EIO,
		    "mbox '%s' changed after an "
		    "interrupted append; check it by hand",
		    rec->path);
	switch (tail_is_ours(state_dir, account_id, lk->fd, rec, size)) {
	case -1:
		return pf_err_sys(
		    err, PF_EIO, "cannot read mbox '%s'", rec->path);
	case 0:
		/* Never cut what may be another writer's mail. */
		log_warning("mbox '%s': the %llu bytes from offset %llu, "
			    "where an interrupted append began, are not all "
			    "from popfetch (another program wrote there); "
			    "left as they are: check the mbox there. The "
			    "messages of that append will be fetched again",
		    rec->path, size - rec->orig, rec->orig);
		pending_drop(state_dir, account_id);
		return 0;
	default:
		break;
	}
	log_warning("mbox '%s': removing a partial append of %llu "
		    "bytes",
	    rec->path, size - rec->orig);
	if (ftruncate(lk->fd, (off_t)rec->orig) == -1 || fsync(lk->fd) == -1)
		return pf_err_sys(
		    err, PF_EIO, "cannot truncate mbox '%s'", rec->path);
	pending_drop(state_dir, account_id);
	return 0;
}

/* Does the record's path name the configured mbox (the same string, or
 * the same file)? */
static bool
same_mbox(const char *recorded, const char *mbox)
{
	struct stat a, b;

	if (mbox == NULL)
		return false;
	if (strcmp(recorded, mbox) == 0)
		return true;
	return stat(recorded, &a) == 0 && stat(mbox, &b) == 0 &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int
pending_recover(const char *state_dir, const char *account_id, const char *mbox,
    int lock_wait, pending_confirm_fn confirm, void *ctx, struct pf_err *err)
{
	/* Only the configured mbox gets here, and only our own bytes are
	 * cut: its owner does not matter. */
	struct mboxlock lk = {.fd = -1, .dotlock = NULL, .foreign_ok = true};
	struct pending_rec rec;
	char *rpath, *text = NULL;
	struct stat st;
	int ret = -1, r;

	memset(&rec, 0, sizeof(rec));
	rpath = record_path(state_dir, account_id);
	if ((r = record_read(rpath, &text, err)) <= 0) {
		free(rpath);
		return r;
	}
	if (record_parse(text, &rec) == -1) {
		pf_err_set(err, PF_EIO,
		    "corrupt pending-append record '%s'; "
		    "check the mbox by hand and remove it",
		    rpath);
		goto out;
	}
	/* A record planted by someone else must not make us cut any file
	 * but the one we deliver to (docs/faults.md #77). */
	if (!same_mbox(rec.path, mbox)) {
		pf_err_set(err, PF_EIO,
		    "pending-append record '%s' names '%s', which is not this "
		    "account's mbox; check that file by hand, then remove the "
		    "record",
		    rpath, rec.path);
		goto out;
	}
	if (lstat(rec.path, &st) == -1 && errno == ENOENT) {
		log_warning(
		    "mbox '%s' of an interrupted append is gone", rec.path);
		pending_drop(state_dir, account_id);
		ret = 0;
		goto out;
	}
	if (mboxlock_take(rec.path, lock_wait, &lk, err) == -1)
		goto out;
	if ((unsigned long long)lk.st.st_dev != rec.dev ||
	    (unsigned long long)lk.st.st_ino != rec.ino) {
		log_warning("mbox '%s' was replaced after an interrupted "
			    "append; its messages will be fetched again",
		    rec.path);
		pending_drop(state_dir, account_id);
		ret = 0;
	} else
		ret = resolve(
		    state_dir, account_id, &rec, &lk, confirm, ctx, err);
	mboxlock_release(&lk);
out:
	record_free(&rec);
	free(text);
	free(rpath);
	return ret;
}
