/*
 * fileio.c: complete reads and writes, directory fsync, mkdir -p, private
 * temp files and the buffered writer behind Maildir files and spools.
 */
#define _GNU_SOURCE /* O_TMPFILE, memfd_create */

#include <sys/types.h>
#include <sys/mman.h>
#include <sys/stat.h>
#ifdef __linux__
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "popfetch/fileio.h"
#include "popfetch/xmalloc.h"
#include "compat.h"

/* Move all len bytes: write(2) them, or pread(2) them from off; retry
 * on EINTR and short transfers; an early EOF is EIO. */
static int
transfer_all(int fd, char *p, size_t len, off_t off, bool reading)
{
	while (len > 0) {
		ssize_t n =
		    reading ? pread(fd, p, len, off) : write(fd, p, len);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

int
fileio_write_all(int fd, const void *buf, size_t len)
{
	/* transfer_all() only reads from buf when writing */
	return transfer_all(fd, (char *)(uintptr_t)buf, len, 0, false);
}

int
fileio_pread_all(int fd, void *buf, size_t len, off_t off)
{
	return transfer_all(fd, buf, len, off, true);
}

/* The first buffer for reading fd whole: its size plus room for the NUL
 * and for the read that sees EOF, when it is a regular file of at most
 * max bytes; else a page. */
static size_t
read_all_cap(int fd, size_t max)
{
	struct stat sb;

	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) &&
	    (unsigned long long)sb.st_size <= max &&
	    (unsigned long long)sb.st_size > 4096 - 2)
		return (size_t)sb.st_size + 2;
	return 4096;
}

/* buf (len bytes used of cap) moved to a buffer twice as large, but no
 * larger than max bytes of data, one more to see it is over, and the
 * NUL. Not realloc: the old buffer is wiped before it is freed, so a
 * secret read leaves no copy behind. */
static char *
read_all_grow(char *buf, size_t len, size_t *cap, size_t max)
{
	size_t limit = max < SIZE_MAX - 2 ? max + 2 : SIZE_MAX;
	char *bigger;

	*cap = *cap < limit / 2 ? *cap * 2 : limit;
	bigger = xmalloc(*cap);
	memcpy(bigger, buf, len);
	explicit_bzero(buf, len);
	free(buf);
	return bigger;
}

int
fileio_read_all(int fd, size_t max, char **out, size_t *outlen)
{
	size_t len = 0, cap = read_all_cap(fd, max);
	char *buf = xmalloc(cap);
	ssize_t n;

	/* Invariant: len < cap, so buf[len] is the NUL's place. */
	while (len <= max) {
		if (len + 1 == cap)
			buf = read_all_grow(buf, len, &cap, max);
		n = read(fd, buf + len, cap - len - 1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			goto fail;
		if (n == 0) {
			buf[len] = '\0';
			*out = buf;
			*outlen = len;
			return 0;
		}
		len += (size_t)n;
	}
	errno = EFBIG;
fail:
	explicit_bzero(buf, len);
	free(buf);
	return -1;
}

int
fileio_read_regular(int fd, size_t max, char **out, size_t *outlen)
{
	struct stat sb;

	if (fstat(fd, &sb) == -1)
		return -1;
	if (!S_ISREG(sb.st_mode)) {
		errno = EINVAL;
		return -1;
	}
	if ((unsigned long long)sb.st_size > max) {
		errno = EFBIG;
		return -1;
	}
	return fileio_read_all(fd, max, out, outlen);
}

ssize_t
fileio_read_upto(int fd, char *buf, size_t cap)
{
	size_t len = 0;
	ssize_t n;

	while (len < cap && (n = read(fd, buf + len, cap - len)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		len += (size_t)n;
	}
	return (ssize_t)len;
}

int
fileio_fsync_dir(const char *dir)
{
	int fd, r, saved;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	r = fsync(fd);
	saved = errno;
	close(fd);
	errno = saved;
	return r;
}

/* mkdir p; when it is new, fsync its parent so the name is durable. If
 * that fails, p goes again, so that the next try makes it durable. */
static int
mkdir_durable(const char *p, mode_t mode)
{
	char *parent;
	int r, saved;

	if (mkdir(p, mode) == -1)
		return errno == EEXIST ? 0 : -1;
	parent = fileio_dirname(p);
	r = fileio_fsync_dir(parent);
	free(parent);
	if (r == -1) {
		saved = errno;
		(void)rmdir(p);
		errno = saved;
	}
	return r;
}

int
fileio_mkdirs(const char *path, mode_t mode)
{
	char *p = xstrdup(path), *s;
	int r = 0;

	for (s = p + 1; *s != '\0'; s++) {
		if (*s != '/' || s[-1] == '/')
			continue;
		*s = '\0';
		if (mkdir_durable(p, mode) == -1) {
			r = -1;
			break;
		}
		*s = '/';
	}
	if (r == 0 && mkdir_durable(p, mode) == -1)
		r = -1;
	free(p);
	return r;
}

char *
fileio_dirname(const char *path)
{
	const char *s = strrchr(path, '/');

	if (s == NULL)
		return xstrdup(".");
	if (s == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(s - path));
}

int
fileio_tmpfile(const char *dir, struct pf_err *err)
{
	char *tmpl;
	int fd;

	if (dir == NULL) {
		dir = getenv("TMPDIR");
		if (dir == NULL || *dir == '\0')
			dir = "/tmp";
	}
#ifdef O_TMPFILE
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd != -1)
		return fd;
	/* EISDIR/EOPNOTSUPP: kernel or file system without O_TMPFILE. */
	if (errno != EISDIR && errno != EOPNOTSUPP && errno != EINVAL)
		return pf_err_sys(
		    err, PF_EIO, "cannot create a temp file in '%s'", dir);
#endif
	tmpl = xasprintf("%s/.popfetch-spool.XXXXXX", dir);
	fd = mkostemp(tmpl, O_CLOEXEC);
	if (fd == -1) {
		pf_err_sys(err, PF_EIO, "cannot create '%s'", tmpl);
		free(tmpl);
		return -1;
	}
	(void)unlink(tmpl);
	free(tmpl);
	return fd;
}

/* Linux 6.3: a memfd that can never be made executable; older kernels
 * refuse the flag (EINVAL), and vm.memfd_noexec=2 refuses memfds
 * without it. */
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif

int
fileio_memfile(void)
{
#ifdef MFD_CLOEXEC
	static bool no_seal; /* the kernel refused MFD_NOEXEC_SEAL */

	if (!no_seal) {
		int fd = memfd_create(
		    "popfetch-spool", MFD_CLOEXEC | MFD_NOEXEC_SEAL);
		if (fd != -1 || errno != EINVAL)
			return fd;
		no_seal = true;
	}
	return memfd_create("popfetch-spool", MFD_CLOEXEC);
#else
	errno = ENOSYS;
	return -1;
#endif
}

int
fileio_copy(int from, int to, unsigned long long len)
{
	char *buf = xmalloc(FILEIO_BUFSZ);
	unsigned long long off = 0;
	int ret = 0;

	while (ret == 0 && off < len) {
		size_t n = len - off < FILEIO_BUFSZ ? (size_t)(len - off)
						    : FILEIO_BUFSZ;

		if (fileio_pread_all(from, buf, n, (off_t)off) == -1 ||
		    fileio_write_all(to, buf, n) == -1)
			ret = -1;
		off += n;
	}
	free(buf);
	return ret;
}

void
fileio_buf_init(struct fileio_buf *fb, int fd)
{
	fb->fd = fd;
	fb->buf = xmalloc(FILEIO_BUFSZ);
	fb->len = 0;
	fb->size = 0;
	fb->last = -1;
}

int
fileio_buf_flush(struct fileio_buf *fb)
{
	if (fb->len == 0)
		return 0;
	if (fileio_write_all(fb->fd, fb->buf, fb->len) == -1)
		return -1;
	fb->len = 0;
	return 0;
}

int
fileio_buf_write(struct fileio_buf *fb, const char *buf, size_t len)
{
	if (len == 0)
		return 0;
	fb->size += len;
	fb->last = (unsigned char)buf[len - 1];
	if (fb->len + len > FILEIO_BUFSZ) {
		if (fileio_buf_flush(fb) == -1)
			return -1;
		/* Large writes skip the buffer. */
		if (len >= FILEIO_BUFSZ)
			return fileio_write_all(fb->fd, buf, len);
	}
	memcpy(fb->buf + fb->len, buf, len);
	fb->len += len;
	return 0;
}

int
fileio_buf_release(struct fileio_buf *fb)
{
	int fd = fb->fd;

	fb->fd = -1;
	fileio_buf_close(fb);
	return fd;
}

void
fileio_buf_close(struct fileio_buf *fb)
{
	int saved = errno;

	free(fb->buf);
	fb->buf = NULL;
	fb->len = 0;
	if (fb->fd != -1)
		close(fb->fd);
	fb->fd = -1;
	errno = saved;
}

#ifdef __linux__
/* File systems whose syncfs writes back every dirty file, commits and
 * flushes the disk's cache (linux/magic.h's numbers; 0xEF53 is ext2 and
 * ext3 too, told apart by mount_is_ext4()). */
#define FS_EXT	 0xEF53UL
#define FS_XFS	 0x58465342UL
#define FS_BTRFS 0x9123683EUL
#define FS_TMPFS 0x01021994UL

/* True on Linux 5.17 or later: syncfs reports write-back errors (since
 * 5.8) and the file system's own sync errors, such as a failed journal
 * commit or cache flush (since 5.17). */
static bool
kernel_syncfs_reports(void)
{
	static int known = -1;
	struct utsname u;
	unsigned long major, minor;
	char *end;

	if (known != -1)
		return known == 1;
	known = 0;
	if (uname(&u) == 0) {
		major = strtoul(u.release, &end, 10);
		minor = *end == '.' ? strtoul(end + 1, NULL, 10) : 0;
		known = major > 5 || (major == 5 && minor >= 17);
	}
	return known == 1;
}

/* True when /proc/self/mountinfo says the mount of device dev is ext4
 * (the ext2 driver's syncfs does not flush the disk's cache). */
static bool
mount_is_ext4(dev_t dev)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096], type[16];
	unsigned int maj, min;
	bool whole = true;
	const char *sep;

	if (f == NULL)
		return false;
	while (fgets(line, sizeof(line), f) != NULL) {
		bool start = whole;

		whole = strchr(line, '\n') != NULL;
		if (!start || sscanf(line, "%*s %*s %u:%u", &maj, &min) != 2 ||
		    makedev(maj, min) != dev ||
		    (sep = strstr(line, " - ")) == NULL ||
		    sscanf(sep + 3, "%15s", type) != 1)
			continue;
		fclose(f);
		return strcmp(type, "ext4") == 0;
	}
	fclose(f);
	return false;
}

bool
fileio_fs_sync_whole(int fd)
{
	struct statfs sf;
	struct stat sb;
	unsigned long t;

	if (!kernel_syncfs_reports() || fstatfs(fd, &sf) == -1)
		return false;
	t = (unsigned long)sf.f_type & 0xFFFFFFFFUL;
	if (t == FS_EXT)
		return fstat(fd, &sb) == 0 && mount_is_ext4(sb.st_dev);
	return t == FS_XFS || t == FS_BTRFS || t == FS_TMPFS;
}

int
fileio_fs_sync(int fd)
{
	return syncfs(fd);
}

void
fileio_start_writeback(int fd)
{
	(void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
}
#else
bool
fileio_fs_sync_whole(int fd)
{
	(void)fd;
	return false;
}

int
fileio_fs_sync(int fd)
{
	(void)fd;
	errno = ENOSYS;
	return -1;
}

void
fileio_start_writeback(int fd)
{
	(void)fd;
}
#endif
