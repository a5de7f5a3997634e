/*
 * fileio.h: the file-system helpers several modules share: complete
 * reads and writes, durable directories, private temp files, and a
 * buffered writer that remembers the size and the last byte written. All
 * return -1 with errno set (the callers word the error), except
 * fileio_tmpfile(), which fills a struct pf_err.
 */
#ifndef POPFETCH_FILEIO_H
#define POPFETCH_FILEIO_H

#include <sys/types.h>

#include <stdbool.h>

#include <stddef.h>

#include "popfetch/err.h"

/* Size of the buffer of a struct fileio_buf. */
#define FILEIO_BUFSZ (64 * 1024)

/* write(2) all of buf, retrying on EINTR and short writes. 0 or -1. */
int fileio_write_all(int fd, const void *buf, size_t len);

/* pread(2) exactly len bytes at off; an early EOF is EIO. 0 or -1. */
int fileio_pread_all(int fd, void *buf, size_t len, off_t off);

/*
 * read(2) into buf until EOF or until cap bytes are in (retrying EINTR and
 * short reads). Returns the bytes read, or -1 with errno.
 */
ssize_t fileio_read_upto(int fd, char *buf, size_t cap);

/*
 * Read fd to its end into a new NUL-terminated buffer (*out, *outlen
 * bytes before the NUL); more than max bytes is EFBIG. 0 or -1. Fit for
 * secrets: a buffer it outgrows or gives up is wiped before it is freed,
 * so the only copy is *out, which the caller wipes.
 */
int fileio_read_all(int fd, size_t max, char **out, size_t *outlen);

/*
 * fileio_read_all() of a regular file: EINVAL when fd is something else,
 * EFBIG when it is over max bytes, or grows past them while it is read.
 */
int fileio_read_regular(int fd, size_t max, char **out, size_t *outlen);

/* fsync the directory dir, so a create, rename or unlink in it is
 * durable. 0 or -1. */
int fileio_fsync_dir(const char *dir);

/*
 * True when one sync of the whole file system holding fd (syncfs(2)) is
 * as strong as an fsync of each file just written there: Linux 5.17 or
 * later (syncfs reports write-back errors since 5.8 and the file
 * system's own sync errors since 5.17) on ext4 (not the ext2 driver),
 * XFS or Btrfs, whose sync writes back every dirty file, commits and
 * flushes the disk's cache, or tmpfs (nothing to write). Elsewhere
 * (FUSE, NFS, overlayfs, older kernels, other systems) false: sync file
 * by file. Looked up per call: fstatfs, and for ext4 a read of
 * /proc/self/mountinfo.
 */
bool fileio_fs_sync_whole(int fd);

/* syncfs(2) on the file system holding fd; -1 with ENOSYS where there
 * is none. */
int fileio_fs_sync(int fd);

/* Start writing fd's dirty pages to disk without waiting for them, so a
 * later sync finds less to do (Linux; nothing elsewhere). */
void fileio_start_writeback(int fd);

/* mkdir -p: create path and its missing parents with mode (an existing
 * directory is fine). Each directory it creates is made durable in its
 * parent (fsync of the parent), so a power cut cannot lose it once this
 * returns. 0 or -1 with the errno of the step that failed. */
int fileio_mkdirs(const char *path, mode_t mode);

/* The directory part of path: "." when it has none. A new string. */
char *fileio_dirname(const char *path);

/*
 * An anonymous private temp file (0600, O_CLOEXEC, already unlinked) in
 * dir, or in $TMPDIR or /tmp when dir is NULL. Returns the fd, or -1
 * with PF_EIO.
 */
int fileio_tmpfile(const char *dir, struct pf_err *err);

/*
 * An anonymous file in memory (memfd_create(2), O_CLOEXEC): nothing on
 * any file system, gone with its last descriptor. Returns the fd, or -1
 * where the kernel has none (the caller falls back to fileio_tmpfile()).
 */
int fileio_memfile(void);

/* Copy the first len bytes of from (read with pread(2)) to to (written
 * at its offset). 0 or -1. */
int fileio_copy(int from, int to, unsigned long long len);

/* A file written through a buffer (a Maildir tmp file, a spool). */
struct fileio_buf {
	int fd;			 /* -1 when closed */
	char *buf;		 /* FILEIO_BUFSZ bytes */
	size_t len;		 /* bytes waiting in buf */
	unsigned long long size; /* bytes written so far (flushed or not) */
	int last;		 /* last byte written, -1 before any */
};

/* Start fb on fd (ownership passes) with a fresh buffer. */
void fileio_buf_init(struct fileio_buf *fb, int fd);

/* Buffered write. 0 or -1. */
int fileio_buf_write(struct fileio_buf *fb, const char *buf, size_t len);

/* Write out the buffer. 0 or -1. */
int fileio_buf_flush(struct fileio_buf *fb);

/* Hand the fd over to the caller (the buffer is freed unflushed). */
int fileio_buf_release(struct fileio_buf *fb);

/* Free the buffer and close the fd (if open); keeps errno. */
void fileio_buf_close(struct fileio_buf *fb);

#endif
