/*
 * faultshim.c: an LD_PRELOAD shim that makes the n-th matching write,
 * fsync, link, rename or open of a session fail (systematic syscall fault
 * injection for tests/integration/test-syscall-faults.sh).
 *
 * Environment:
 *   FAULTSHIM_OP           write|fsync|link|rename|open|any (required; the
 *                          shim does nothing without it)
 *       write:  write, pwrite, pwrite64, writev
 *       fsync:  fsync, fdatasync, syncfs
 *       link:   link, linkat
 *       rename: rename, renameat, renameat2
 *       open:   open, open64, openat, openat64, creat when the call may
 *               create or write (O_CREAT, O_WRONLY, O_RDWR, O_TMPFILE)
 *   FAULTSHIM_N            fail the N-th matching call (1-based); "N+"
 *                          fails it and every later one (a full disk);
 *                          0 or unset: only count
 *   FAULTSHIM_ERRNO        ENOSPC (default), EIO, EDQUOT or EFBIG
 *   FAULTSHIM_PATH_PREFIX  count only calls on files under one of these
 *                          directories (colon-separated); without it,
 *                          fd calls count on regular files and directories
 *   FAULTSHIM_COUNT_FILE   at exit, write the number of matching calls
 *   FAULTSHIM_LOG          append one line per injected fault:
 *                          "fault N CALL PATH ERRNO"
 *   FAULTSHIM_EXE          only act in processes whose executable's base
 *                          name starts with this (default "popfetch"), so
 *                          children (password command, MDA) are left alone
 *
 * Sockets and the process's stdin/stdout/stderr are never counted. ftruncate
 * is never failed: it is the recovery path. In the configured process
 * memfd_create always fails (ENOSYS, as on a kernel without it), so that
 * popfetch spools every message to a file in its state directory, where
 * the faults above reach the spool too. Not async-signal-safe.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define OP_WRITE  0x01
#define OP_FSYNC  0x02
#define OP_LINK	  0x04
#define OP_RENAME 0x08
#define OP_OPEN	  0x10

static int sh_ops;	      /* OP_* bits selected */
static unsigned long sh_n;    /* the call to fail, 0: none */
static int sh_from;	      /* fail sh_n and all later calls */
static unsigned long sh_seen; /* matching calls so far */
static int sh_errno = ENOSPC;
static char *sh_prefix; /* colon-separated list, or NULL */
static char *sh_countfile;
static char *sh_logfile;
static pid_t sh_pid; /* the process that was configured */
static int sh_ready;

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off64_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static int (*real_fsync)(int);
static int (*real_syncfs)(int);
static int (*real_fdatasync)(int);
static int (*real_link)(const char *, const char *);
static int (*real_linkat)(int, const char *, int, const char *, int);
static int (*real_rename)(const char *, const char *);
static int (*real_renameat)(int, const char *, int, const char *);
static int (*real_renameat2)(
    int, const char *, int, const char *, unsigned int);
static int (*real_open)(const char *, int, ...);
static int (*real_open64)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_openat64)(int, const char *, int, ...);
static int (*real_creat)(const char *, mode_t);

/* Look a symbol up in the next object (dlsym returns void *). */
static void *
next_sym(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

/* Resolve the real functions once; the wrappers may run before init. */
static void
resolve(void)
{
	static int done;

	if (done)
		return;
	done = 1;
	*(void **)&real_write = next_sym("write");
	*(void **)&real_pwrite = next_sym("pwrite");
	*(void **)&real_pwrite64 = next_sym("pwrite64");
	*(void **)&real_writev = next_sym("writev");
	*(void **)&real_fsync = next_sym("fsync");
	*(void **)&real_syncfs = next_sym("syncfs");
	*(void **)&real_fdatasync = next_sym("fdatasync");
	*(void **)&real_link = next_sym("link");
	*(void **)&real_linkat = next_sym("linkat");
	*(void **)&real_rename = next_sym("rename");
	*(void **)&real_renameat = next_sym("renameat");
	*(void **)&real_renameat2 = next_sym("renameat2");
	*(void **)&real_open = next_sym("open");
	*(void **)&real_open64 = next_sym("open64");
	*(void **)&real_openat = next_sym("openat");
	*(void **)&real_openat64 = next_sym("openat64");
	*(void **)&real_creat = next_sym("creat");
}

/* Map an errno name from the environment to its value. */
static int
errno_by_name(const char *s)
{
	if (s == NULL || strcmp(s, "ENOSPC") == 0)
		return ENOSPC;
	if (strcmp(s, "EIO") == 0)
		return EIO;
	if (strcmp(s, "EDQUOT") == 0)
		return EDQUOT;
	if (strcmp(s, "EFBIG") == 0)
		return EFBIG;
	return ENOSPC;
}

/* Whether this process is the one under test (not a child it runs). */
static int
right_exe(void)
{
	const char *want = getenv("FAULTSHIM_EXE");
	char exe[PATH_MAX];
	const char *base;
	ssize_t n;

	if (want == NULL)
		want = "popfetch";
	if (*want == '\0')
		return 1;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return 0;
	exe[n] = '\0';
	base = strrchr(exe, '/');
	base = base != NULL ? base + 1 : exe;
	return strncmp(base, want, strlen(want)) == 0;
}

/* Read the environment once, at load time. */
__attribute__((constructor)) static void
shim_init(void)
{
	const char *op, *n, *s;

	resolve();
	op = getenv("FAULTSHIM_OP");
	if (op == NULL || !right_exe())
		return;
	if (strcmp(op, "write") == 0)
		sh_ops = OP_WRITE;
	else if (strcmp(op, "fsync") == 0)
		sh_ops = OP_FSYNC;
	else if (strcmp(op, "link") == 0)
		sh_ops = OP_LINK;
	else if (strcmp(op, "rename") == 0)
		sh_ops = OP_RENAME;
	else if (strcmp(op, "open") == 0)
		sh_ops = OP_OPEN;
	else if (strcmp(op, "any") == 0)
		sh_ops = OP_WRITE | OP_FSYNC | OP_LINK | OP_RENAME | OP_OPEN;
	else
		return;
	n = getenv("FAULTSHIM_N");
	if (n != NULL) {
		char *end;

		sh_n = strtoul(n, &end, 10);
		sh_from = *end == '+';
	}
	sh_errno = errno_by_name(getenv("FAULTSHIM_ERRNO"));
	if ((s = getenv("FAULTSHIM_PATH_PREFIX")) != NULL && *s != '\0')
		sh_prefix = strdup(s);
	if ((s = getenv("FAULTSHIM_COUNT_FILE")) != NULL && *s != '\0')
		sh_countfile = strdup(s);
	if ((s = getenv("FAULTSHIM_LOG")) != NULL && *s != '\0')
		sh_logfile = strdup(s);
	sh_pid = getpid();
	sh_ready = 1;
}

/* Write s to a file with the real calls (never counted). */
static void
put_file(const char *path, const char *s, int append)
{
	int fd,
	    flags =
		O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC);
	size_t len = strlen(s);

	if (path == NULL || real_open == NULL || real_write == NULL)
		return;
	fd = real_open(path, flags, 0644);
	if (fd == -1)
		return;
	(void)real_write(fd, s, len);
	close(fd);
}

/* Report the count of matching calls when the tested process exits. */
__attribute__((destructor)) static void
shim_fini(void)
{
	char buf[64];

	if (!sh_ready || getpid() != sh_pid || sh_countfile == NULL)
		return;
	snprintf(buf, sizeof(buf), "%lu\n", sh_seen);
	put_file(sh_countfile, buf, 0);
}

/* Whether path lies under one of the prefixes (or there are none). */
static int
under_prefix(const char *path)
{
	const char *p = sh_prefix, *end;
	size_t len;

	if (p == NULL)
		return 1;
	if (path == NULL)
		return 0;
	while (*p != '\0') {
		end = strchr(p, ':');
		len = end != NULL ? (size_t)(end - p) : strlen(p);
		while (len > 1 && p[len - 1] == '/')
			len--;
		if (len > 0 && strncmp(path, p, len) == 0 &&
		    (path[len] == '/' || path[len] == '\0'))
			return 1;
		if (end == NULL)
			break;
		p = end + 1;
	}
	return 0;
}

/* The path behind an fd; 0 when known, -1 for sockets and stdio. */
static int
fd_path(int fd, char *buf, size_t size)
{
	char link[64];
	struct stat st;
	ssize_t n;

	if (fd <= STDERR_FILENO || fstat(fd, &st) == -1 || S_ISSOCK(st.st_mode))
		return -1;
	if (sh_prefix == NULL && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		return -1;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, buf, size - 1);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/* The absolute form of path relative to dirfd (lexically, no symlinks). */
static void
abs_path(int dirfd, const char *path, char *buf, size_t size)
{
	char dir[PATH_MAX];
	char link[64];
	ssize_t n;

	if (path == NULL) {
		buf[0] = '\0';
		return;
	}
	if (path[0] == '/') {
		snprintf(buf, size, "%s", path);
		return;
	}
	if (dirfd == AT_FDCWD) {
		if (getcwd(dir, sizeof(dir)) == NULL)
			dir[0] = '\0';
	} else {
		snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
		n = readlink(link, dir, sizeof(dir) - 1);
		dir[n > 0 ? n : 0] = '\0';
	}
	snprintf(buf, size, "%s/%s", dir, path);
}

/*
 * Count one matching call on path; true when this is the one to fail (the
 * caller then returns -1 with errno set).
 */
static int
hit(int op, const char *call, const char *path)
{
	char line[PATH_MAX + 128];

	sh_seen++;
	if (sh_n == 0 || sh_seen < sh_n || (sh_seen > sh_n && !sh_from))
		return 0;
	snprintf(line, sizeof(line), "fault %lu %s %s %s\n", sh_seen, call,
	    path, strerror(sh_errno));
	put_file(sh_logfile, line, 1);
	(void)op;
	errno = sh_errno;
	return 1;
}

/* Whether an fd call should fail (and count it when it matches). */
static int
fd_fault(int op, const char *call, int fd)
{
	char path[PATH_MAX];
	int saved = errno;

	if (!sh_ready || !(sh_ops & op) || getpid() != sh_pid)
		return 0;
	if (fd_path(fd, path, sizeof(path)) == -1 || !under_prefix(path)) {
		errno = saved;
		return 0;
	}
	if (hit(op, call, path))
		return 1;
	errno = saved;
	return 0;
}

/* Whether a path call should fail; either of two paths may match. */
static int
path_fault(
    int op, const char *call, int d1, const char *p1, int d2, const char *p2)
{
	char a[PATH_MAX], b[PATH_MAX];
	int saved = errno;

	if (!sh_ready || !(sh_ops & op) || getpid() != sh_pid)
		return 0;
	abs_path(d1, p1, a, sizeof(a));
	abs_path(d2, p2, b, sizeof(b));
	if ((p1 != NULL && under_prefix(a)) ||
	    (p2 != NULL && under_prefix(b))) {
		if (hit(op, call, p2 != NULL && !under_prefix(a) ? b : a))
			return 1;
	}
	errno = saved;
	return 0;
}

/* Whether open flags may create or write a file. */
static int
open_writes(int flags)
{
	if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_CREAT))
		return 1;
#ifdef O_TMPFILE
	if ((flags & O_TMPFILE) == O_TMPFILE)
		return 1;
#endif
	return 0;
}

/* Whether open needs its mode argument. */
static int
open_has_mode(int flags)
{
#ifdef O_TMPFILE
	if ((flags & O_TMPFILE) == O_TMPFILE)
		return 1;
#endif
	return (flags & O_CREAT) != 0;
}

int
memfd_create(const char *name, unsigned int flags)
{
	if (sh_ready && getpid() == sh_pid) {
		errno = ENOSYS;
		return -1;
	}
	return (int)syscall(SYS_memfd_create, name, flags);
}

ssize_t
write(int fd, const void *buf, size_t len)
{
	resolve();
	if (fd_fault(OP_WRITE, "write", fd))
		return -1;
	return real_write(fd, buf, len);
}

ssize_t
pwrite(int fd, const void *buf, size_t len, off_t off)
{
	resolve();
	if (fd_fault(OP_WRITE, "pwrite", fd))
		return -1;
	return real_pwrite(fd, buf, len, off);
}

ssize_t
pwrite64(int fd, const void *buf, size_t len, off64_t off)
{
	resolve();
	if (fd_fault(OP_WRITE, "pwrite64", fd))
		return -1;
	return real_pwrite64(fd, buf, len, off);
}

ssize_t
writev(int fd, const struct iovec *iov, int cnt)
{
	resolve();
	if (fd_fault(OP_WRITE, "writev", fd))
		return -1;
	return real_writev(fd, iov, cnt);
}

int
fsync(int fd)
{
	resolve();
	if (fd_fault(OP_FSYNC, "fsync", fd))
		return -1;
	return real_fsync(fd);
}

int
syncfs(int fd)
{
	resolve();
	if (fd_fault(OP_FSYNC, "syncfs", fd))
		return -1;
	return real_syncfs(fd);
}

int
fdatasync(int fd)
{
	resolve();
	if (fd_fault(OP_FSYNC, "fdatasync", fd))
		return -1;
	return real_fdatasync(fd);
}

int
link(const char *from, const char *to)
{
	resolve();
	if (path_fault(OP_LINK, "link", AT_FDCWD, from, AT_FDCWD, to))
		return -1;
	return real_link(from, to);
}

int
linkat(int d1, const char *from, int d2, const char *to, int flags)
{
	resolve();
	if (path_fault(OP_LINK, "linkat", d1, from, d2, to))
		return -1;
	return real_linkat(d1, from, d2, to, flags);
}

int
rename(const char *from, const char *to)
{
	resolve();
	if (path_fault(OP_RENAME, "rename", AT_FDCWD, from, AT_FDCWD, to))
		return -1;
	return real_rename(from, to);
}

int
renameat(int d1, const char *from, int d2, const char *to)
{
	resolve();
	if (path_fault(OP_RENAME, "renameat", d1, from, d2, to))
		return -1;
	return real_renameat(d1, from, d2, to);
}

int
renameat2(int d1, const char *from, int d2, const char *to, unsigned int flags)
{
	resolve();
	if (path_fault(OP_RENAME, "renameat2", d1, from, d2, to))
		return -1;
	return real_renameat2(d1, from, d2, to, flags);
}

/* The shared body of the open family. */
static int
do_open(const char *call, int dirfd, const char *path, int flags, mode_t mode)
{
	resolve();
	if (open_writes(flags) &&
	    path_fault(OP_OPEN, call, dirfd, path, AT_FDCWD, NULL))
		return -1;
	if (strcmp(call, "open") == 0)
		return real_open(path, flags, mode);
	if (strcmp(call, "open64") == 0)
		return real_open64(path, flags, mode);
	if (strcmp(call, "openat") == 0)
		return real_openat(dirfd, path, flags, mode);
	return real_openat64(dirfd, path, flags, mode);
}

int
open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	va_list ap;

	if (open_has_mode(flags)) {
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	return do_open("open", AT_FDCWD, path, flags, mode);
}

int
open64(const char *path, int flags, ...)
{
	mode_t mode = 0;
	va_list ap;

	if (open_has_mode(flags)) {
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	return do_open("open64", AT_FDCWD, path, flags, mode);
}

int
openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	va_list ap;

	if (open_has_mode(flags)) {
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	return do_open("openat", dirfd, path, flags, mode);
}

int
openat64(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	va_list ap;

	if (open_has_mode(flags)) {
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	return do_open("openat64", dirfd, path, flags, mode);
}

int
creat(const char *path, mode_t mode)
{
	resolve();
	if (path_fault(OP_OPEN, "creat", AT_FDCWD, path, AT_FDCWD, NULL))
		return -1;
	return real_creat(path, mode);
}
