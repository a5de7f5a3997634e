/*
 * plfs.c: a power-loss file system for tests (FUSE, libfuse3).
 *
 * It passes every call through to a backing directory, so reads see the
 * current (volatile) view as a page cache would, and it keeps a model of
 * what a file system that promises nothing beyond fsync would have on disk:
 *
 *  - a regular file's durable content is its content at its last fsync or
 *    fdatasync (before the first one: what it held at mount, or nothing
 *    for a file created since); write, truncate and O_TRUNC change only
 *    the volatile view;
 *  - a directory's durable entries are its entries at mount, changed only
 *    by fsync of that directory (FUSE's fsyncdir), which makes every
 *    pending change of that directory durable: create, mknod, mkdir,
 *    symlink, link, unlink, rmdir, and each half of a rename (the new name
 *    when the destination directory is synced, the removal of the old name
 *    when the source directory is).
 *
 * "Cutting the power" (a command on the control socket) rewinds the
 * backing directory in place to the durable state: the directory tree is
 * rebuilt from the durable entries, and files get their durable content
 * back. Inodes that still exist keep their numbers (the mount uses them as
 * st_ino), and the mount stays up, so st_dev does not change either: after
 * a cut the tree looks as it would after a reboot. Modes of the cut:
 *
 *  strict  nothing unsynced survives;
 *  pages   each 4 KiB page of unsynced file data survives or not at random
 *          (seeded), and the size is the durable one, the volatile one or
 *          a page boundary between them, as a file system that writes
 *          data blocks and the inode independently may leave it;
 *  meta    a random prefix (in time order) of the unsynced namespace
 *          changes survives, as a metadata journal that committed on its
 *          own would leave it; file data stays as strict has it, so a
 *          surviving new name may come back with no content;
 *  all     pages and meta together.
 *
 * A file unlinked or replaced while open keeps a path: libfuse renames it
 * to .fuse_hiddenXXXX until it is closed (otherwise fstat(2) on it fails
 * with ESTALE). The model takes that rename for what the application did:
 * an unlink, or part of the rename that replaces the file.
 *
 * Durability points are fsync, fdatasync, fsyncdir, link and rename,
 * counted from mount (or the last cut). Armed at point N (or at the N-th
 * modifying operation), the call freezes before it takes effect until the
 * power is cut; it then fails with EIO. Not modelled: xattrs, fallocate
 * (EOPNOTSUPP), sync(2) and syncfs(2) (FUSE never sees them), O_TMPFILE
 * (libfuse 3.14 has no call for it: open(2) fails with EOPNOTSUPP), and
 * chmod, chown and utimens, which take effect at once and stay. See
 * tests/powerloss/README.md.
 *
 * Usage: plfs -o ctl=SOCKET,shadow=DIR[,trace=FILE][,freeze_point=N]
 *             [,freeze_op=N] BACKING MOUNTPOINT
 *        plfs ctl SOCKET COMMAND [ARG...]
 */
#define _GNU_SOURCE
#define FUSE_USE_VERSION 31

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/un.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PL_PAGE	       4096
#define PL_HASH	       4096
#define PL_LINE	       512
#define PL_COPY_BUF    (64 * 1024)
#define PL_LIMBO       "limbo"
#define PL_WAIT_SLICE  1 /* seconds between checks while frozen */
#define PL_FREEZE_SECS 600

enum dur {
	DUR_SAME,  /* durable content is the live content */
	DUR_EMPTY, /* durable content is empty (created since) */
	DUR_COPY   /* durable content is in the shadow file d<id> */
};

enum cut_mode { CUT_STRICT = 0, CUT_PAGES = 1, CUT_META = 2, CUT_ALL = 3 };

struct pnode;

/* A durable directory entry. */
struct dent {
	char *name;
	struct pnode *p;
};

/* A model inode: a file, directory or other object of the backing tree. */
struct pnode {
	uint64_t id;
	ino_t ino;   /* backing inode number while live */
	bool live;   /* hashed by ino: still reachable in the live tree */
	mode_t mode; /* type and permissions */
	uid_t uid;
	gid_t gid;
	dev_t rdev;
	enum dur dur;
	struct timespec dmtime; /* mtime of the durable content */
	char *target;		/* symbolic links */
	struct dent *d;		/* directories: durable entries */
	size_t nd, capd;
	bool held, done, placed; /* scratch for the cut */
	struct pnode *hnext;	 /* hash chain */
	struct pnode *anext;	 /* list of all */
};

/* A namespace change not yet durable: name in dir now means p (or none). */
struct nsop {
	uint64_t seq; /* the halves of a rename share one */
	struct pnode *dir;
	char *name;
	struct pnode *p;
	struct nsop *next;
};

/* An open file or directory. */
struct ofile {
	int fd;
	DIR *dir;
	uint64_t gen; /* power generation it was opened in */
	struct pnode *p;
};

/* What a cut did, for the control reply. */
struct cut_stats {
	unsigned files, pages_kept, pages_dropped, nsops, nsops_kept;
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *backing, *shadow, *mnt, *ctl, *trace;
	int rootfd, shadowfd, ctlfd;
	FILE *tracef;
	uint64_t gen, nextid, seq;
	struct pnode *tab[PL_HASH];
	struct pnode *all, *root;
	struct nsop *ops, **opstail;
	unsigned long points, nops, cuts;
	unsigned long freeze_point, freeze_op;
	unsigned freeze_secs;
	bool frozen, broken;
	char what[PL_LINE];
	struct fuse_session *se;
	uint64_t rng;
	struct pnode *hide_dir; /* a hide not yet resolved (see hide_*) */
	char *hide_name, *hide_path;
} g = {
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .cv = PTHREAD_COND_INITIALIZER,
    .rootfd = -1,
    .shadowfd = -1,
    .ctlfd = -1,
};

static void hide_resolve(void);

static void warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
warnx(const char *fmt, ...)
{
	va_list ap;

	fputs("plfs: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void *
xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n, sz);

	if (p == NULL) {
		warnx("out of memory");
		abort();
	}
	return p;
}

static char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL) {
		warnx("out of memory");
		abort();
	}
	return p;
}

/* splitmix64: a small seeded generator, so a cut can be replayed. */
static uint64_t
rnd(void)
{
	uint64_t z = (g.rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* The backing path of a FUSE path: relative to rootfd. */
static const char *
rel(const char *path)
{
	while (*path == '/')
		path++;
	return *path != '\0' ? path : ".";
}

/* Split a FUSE path into its parent (relative) and last component. */
static void
split(const char *path, char *parent, size_t sz, const char **name)
{
	const char *r = rel(path), *s = strrchr(r, '/');

	if (s == NULL) {
		snprintf(parent, sz, ".");
		*name = r;
	} else {
		snprintf(parent, sz, "%.*s", (int)(s - r), r);
		*name = s + 1;
	}
}

/* The shadow file name of a node. */
static void
shadow_name(const struct pnode *p, char *buf, size_t sz)
{
	snprintf(buf, sz, "d%llu", (unsigned long long)p->id);
}

/* Give dirfd/name to uid:gid when we may (as root); warn if that fails. */
static void
set_owner(int dirfd, const char *name, uid_t uid, gid_t gid)
{
	if (geteuid() != 0)
		return;
	if (fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) == -1)
		warnx("cannot chown '%s': %s", name, strerror(errno));
}

/* The model. */

static struct pnode *
hash_find(ino_t ino)
{
	struct pnode *p;

	for (p = g.tab[ino % PL_HASH]; p != NULL; p = p->hnext)
		if (p->ino == ino)
			return p;
	return NULL;
}

/* Take p out of the hash: its backing inode left the live tree. */
static void
unhash(struct pnode *p)
{
	struct pnode **pp;

	if (!p->live)
		return;
	for (pp = &g.tab[p->ino % PL_HASH]; *pp != NULL; pp = &(*pp)->hnext)
		if (*pp == p) {
			*pp = p->hnext;
			break;
		}
	p->hnext = NULL;
	p->live = false;
}

/* A new live node for the backing object st (at dirfd/name). */
static struct pnode *
pnode_new(const struct stat *st, enum dur dur, int dirfd, const char *name)
{
	struct pnode *p = xcalloc(1, sizeof(*p));
	char buf[PATH_MAX];
	ssize_t n;

	p->id = ++g.nextid;
	p->ino = st->st_ino;
	p->live = true;
	p->mode = st->st_mode;
	p->uid = st->st_uid;
	p->gid = st->st_gid;
	p->rdev = st->st_rdev;
	p->dur = dur;
	p->dmtime = st->st_mtim;
	if (S_ISLNK(st->st_mode)) {
		n = readlinkat(dirfd, name, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = '\0';
		p->target = xstrdup(buf);
	}
	p->hnext = g.tab[p->ino % PL_HASH];
	g.tab[p->ino % PL_HASH] = p;
	p->anext = g.all;
	g.all = p;
	return p;
}

/* The node of a live object, made on the spot if we never saw it. */
static struct pnode *
pnode_of(const struct stat *st, int dirfd, const char *name)
{
	struct pnode *p = hash_find(st->st_ino);

	if (p == NULL) {
		warnx("'%s' appeared behind our back; taking it as is", name);
		p = pnode_new(st, DUR_SAME, dirfd, name);
	}
	return p;
}

/* The node at a FUSE path; NULL with errno when there is none. */
static struct pnode *
lookup(const char *path, struct stat *st)
{
	struct stat sb;

	if (st == NULL)
		st = &sb;
	if (fstatat(g.rootfd, rel(path), st, AT_SYMLINK_NOFOLLOW) == -1)
		return NULL;
	return pnode_of(st, g.rootfd, rel(path));
}

static struct dent *
dent_find(struct pnode *d, const char *name)
{
	size_t i;

	for (i = 0; i < d->nd; i++)
		if (strcmp(d->d[i].name, name) == 0)
			return &d->d[i];
	return NULL;
}

/* Make "name means p" durable in d (p NULL: no such name). */
static void
dent_set(struct pnode *d, const char *name, struct pnode *p)
{
	struct dent *e = dent_find(d, name);

	if (e != NULL && p != NULL) {
		e->p = p;
	} else if (e != NULL) {
		free(e->name);
		*e = d->d[--d->nd];
	} else if (p != NULL) {
		if (d->nd == d->capd) {
			d->capd = d->capd ? 2 * d->capd : 8;
			d->d = realloc(d->d, d->capd * sizeof(*d->d));
			if (d->d == NULL) {
				warnx("out of memory");
				abort();
			}
		}
		d->d[d->nd].name = xstrdup(name);
		d->d[d->nd++].p = p;
	}
}

/* Note a namespace change of this operation (g.seq) as pending. */
static void
ns_record(struct pnode *dir, const char *name, struct pnode *p)
{
	struct nsop *o = xcalloc(1, sizeof(*o));

	o->seq = g.seq;
	o->dir = dir;
	o->name = xstrdup(name);
	o->p = p;
	*g.opstail = o;
	g.opstail = &o->next;
}

/*
 * Apply pending namespace changes to the durable entries: those of dir
 * (any dir when NULL) with seq at most upto; the rest stay pending.
 */
static unsigned
ns_apply(struct pnode *dir, uint64_t upto)
{
	struct nsop **pp = &g.ops, *o;
	unsigned n = 0;

	g.opstail = &g.ops;
	while ((o = *pp) != NULL) {
		if ((dir == NULL || o->dir == dir) && o->seq <= upto) {
			dent_set(o->dir, o->name, o->p);
			*pp = o->next;
			free(o->name);
			free(o);
			n++;
			continue;
		}
		g.opstail = &o->next;
		pp = &o->next;
	}
	return n;
}

/* Copy all of from (from offset 0) to to, which becomes that long. */
static int
copy_fd(int from, int to)
{
	char *buf = malloc(PL_COPY_BUF);
	off_t off = 0;
	ssize_t n;
	int r = -1;

	if (buf == NULL)
		return -1;
	for (;;) {
		n = pread(from, buf, PL_COPY_BUF, off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (pwrite(to, buf, (size_t)n, off) != n)
			goto out;
		off += n;
	}
	if (n == 0 && ftruncate(to, off) == 0)
		r = 0;
out:
	free(buf);
	return r;
}

/* Save the live content of p (readable at fd) as its durable content. */
static int
shadow_save(struct pnode *p, int fd)
{
	char name[64];
	struct stat st;
	int sfd, r;

	shadow_name(p, name, sizeof(name));
	sfd = openat(
	    g.shadowfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (sfd == -1)
		return -1;
	r = copy_fd(fd, sfd);
	if (r == 0 && fstat(fd, &st) == 0)
		p->dmtime = st.st_mtim;
	close(sfd);
	if (r == 0)
		p->dur = DUR_COPY;
	return r;
}

/* A descriptor that reads the file open at fd: fd, or a new one (-1). */
static int
readable(int fd, bool *opened)
{
	char proc[64];

	*opened = false;
	if ((fcntl(fd, F_GETFL) & O_ACCMODE) != O_WRONLY)
		return fd;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	*opened = true;
	return open(proc, O_RDONLY | O_CLOEXEC);
}

/* Save what the file open at fd holds now as p's durable content. */
static int
shadow_save_fd(struct pnode *p, int fd)
{
	bool opened;
	int rfd, r;

	if ((rfd = readable(fd, &opened)) == -1)
		return -1;
	r = shadow_save(p, rfd);
	if (opened)
		close(rfd);
	return r;
}

/* Before the first unsynced change of p's data: keep what is durable. */
static int
cow(struct pnode *p, int fd, const char *path)
{
	int rfd, r;

	if (!S_ISREG(p->mode) || p->dur != DUR_SAME)
		return 0;
	if (fd != -1)
		return shadow_save_fd(p, fd);
	if (path == NULL) {
		errno = EIO;
		return -1;
	}
	rfd = openat(g.rootfd, rel(path), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (rfd == -1)
		return -1;
	r = shadow_save(p, rfd);
	close(rfd);
	return r;
}

/* The name at path loses its object; if that was its last name, the
 * object leaves the live tree, so keep its durable content first. */
static int
before_last_unlink(struct pnode *p, const struct stat *st, const char *path)
{
	if (S_ISDIR(st->st_mode) || st->st_nlink > 1)
		return 0;
	return cow(p, -1, path);
}

/* Drop the shadow file of p, if any: its live content is durable now. */
static void
shadow_drop(struct pnode *p)
{
	char name[64];

	if (p->dur == DUR_COPY) {
		shadow_name(p, name, sizeof(name));
		(void)unlinkat(g.shadowfd, name, 0);
	}
	p->dur = DUR_SAME;
}

/* Build the model from the backing tree: everything in it is durable. */
static int
scan(int dfd, struct pnode *dp)
{
	struct dirent *de;
	struct pnode *p;
	struct stat st;
	DIR *d;
	int fd, cfd, r = 0;

	if ((fd = dup(dfd)) == -1 || (d = fdopendir(fd)) == NULL)
		return -1;
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
			r = -1;
			break;
		}
		p = hash_find(st.st_ino);
		if (p == NULL) {
			p = pnode_new(&st, DUR_SAME, dfd, de->d_name);
			if (S_ISDIR(st.st_mode)) {
				cfd = openat(dfd, de->d_name,
				    O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					O_CLOEXEC);
				if (cfd == -1 || scan(cfd, p) == -1)
					r = -1;
				if (cfd != -1)
					close(cfd);
			}
		}
		dent_set(dp, de->d_name, p);
	}
	closedir(d);
	return r;
}

/* Forget the whole model (after a cut) and drop the shadow files. */
static void
model_free(void)
{
	struct pnode *p, *next;
	struct nsop *o, *on;
	size_t i;

	for (o = g.ops; o != NULL; o = on) {
		on = o->next;
		free(o->name);
		free(o);
	}
	g.ops = NULL;
	g.opstail = &g.ops;
	for (p = g.all; p != NULL; p = next) {
		next = p->anext;
		shadow_drop(p);
		for (i = 0; i < p->nd; i++)
			free(p->d[i].name);
		free(p->d);
		free(p->target);
		free(p);
	}
	g.all = g.root = NULL;
	memset(g.tab, 0, sizeof(g.tab));
}

/* (Re)build the model from the backing tree as it is now. */
static int
model_init(void)
{
	struct stat st;

	model_free();
	if (fstat(g.rootfd, &st) == -1)
		return -1;
	g.root = pnode_new(&st, DUR_SAME, g.rootfd, ".");
	return scan(g.rootfd, g.root);
}

/* Cutting the power. */

/* meta: let a random prefix (in time order) of the pending namespace
 * changes become durable, as a journal that committed on its own would. */
static void
cut_meta(struct cut_stats *cs)
{
	struct nsop *o;
	uint64_t k, upto = 0;
	unsigned n = 0;

	for (o = g.ops; o != NULL; o = o->next)
		n++;
	if (n == 0)
		return;
	k = rnd() % (n + 1);
	for (o = g.ops; o != NULL && k > 0; o = o->next, k--)
		upto = o->seq;
	cs->nsops_kept = ns_apply(NULL, upto);
}

/* Read up to len bytes at off; zero-fill what lies past the end. */
static int
pread_page(int fd, char *buf, size_t len, off_t off)
{
	size_t got = 0;
	ssize_t n;

	while (fd != -1 && got < len) {
		n = pread(fd, buf + got, len - got, off + (off_t)got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	memset(buf + got, 0, len - got);
	return 0;
}

/* pages: the size a cut leaves, between the durable and the live one. */
static off_t
pick_size(off_t ds, off_t ls)
{
	off_t lo = ds < ls ? ds : ls, hi = ds < ls ? ls : ds, first, last;

	switch (rnd() % 3) {
	case 0:
		return ds;
	case 1:
		return ls;
	default:
		first = (lo / PL_PAGE + 1) * PL_PAGE;
		last = ((hi - 1) / PL_PAGE) * PL_PAGE;
		if (hi == 0 || first > last)
			return hi;
		return first +
		    (off_t)(rnd() % (uint64_t)((last - first) / PL_PAGE + 1)) *
		    PL_PAGE;
	}
}

/*
 * Give the file open at fd (the live inode of p, or a new empty one) its
 * content after the cut: the durable content, or with pages, a mix of
 * durable and live pages. Only pages that differ are written.
 */
static int
restore_content(int fd, struct pnode *p, bool pages, struct cut_stats *cs)
{
	char lbuf[PL_PAGE], sbuf[PL_PAGE], name[64];
	struct timespec ts[2];
	struct stat st;
	off_t ds = 0, ls, fs, off;
	bool kept = false;
	size_t len;
	int sfd = -1, r = -1;

	if (fstat(fd, &st) == -1)
		return -1;
	ls = st.st_size;
	if (p->dur == DUR_COPY) {
		shadow_name(p, name, sizeof(name));
		sfd = openat(g.shadowfd, name, O_RDONLY | O_CLOEXEC);
		if (sfd == -1 || fstat(sfd, &st) == -1)
			goto out;
		ds = st.st_size;
	}
	fs = pages ? pick_size(ds, ls) : ds;
	for (off = 0; off < fs; off += PL_PAGE) {
		len = fs - off < PL_PAGE ? (size_t)(fs - off) : PL_PAGE;
		if (pread_page(fd, lbuf, len, off) == -1 ||
		    pread_page(sfd, sbuf, len, off) == -1)
			goto out;
		if (memcmp(lbuf, sbuf, len) == 0)
			continue;
		if (pages && (rnd() & 1) != 0) {
			cs->pages_kept++;
			kept = true;
			continue;
		}
		if (pwrite(fd, sbuf, len, off) != (ssize_t)len)
			goto out;
		cs->pages_dropped++;
	}
	if (ftruncate(fd, fs) == -1)
		goto out;
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1] = p->dmtime;
	if (!kept)
		(void)futimens(fd, ts);
	cs->files++;
	r = 0;
out:
	if (sfd != -1)
		close(sfd);
	return r;
}

/* Make limbo/<id> hold p as it is after the cut (once per node). */
static int
materialize(struct pnode *p, int lfd, bool pages, struct cut_stats *cs)
{
	char id[64];
	int fd, r;

	if (p->done)
		return 0;
	p->done = true;
	snprintf(id, sizeof(id), "%llu", (unsigned long long)p->id);
	if (S_ISREG(p->mode)) {
		if (p->held && p->dur == DUR_SAME)
			return 0;
		fd = p->held
		    ? openat(lfd, id, O_RDWR | O_CLOEXEC)
		    : openat(lfd, id, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
			  p->mode & 07777);
		if (fd == -1)
			return -1;
		/* a detached file has no live pages to keep */
		r = restore_content(fd, p, pages && p->held, cs);
		if (!p->held && fchown(fd, p->uid, p->gid) == -1 &&
		    geteuid() == 0)
			r = -1;
		close(fd);
		return r;
	}
	if (p->held)
		return 0;
	if (S_ISLNK(p->mode))
		r = symlinkat(p->target != NULL ? p->target : "", lfd, id);
	else
		r = mknodat(lfd, id, p->mode, p->rdev);
	if (r == 0)
		set_owner(lfd, id, p->uid, p->gid);
	return r;
}

/* The names in dfd, without . and .. (a NULL-terminated array). */
static char **
list_dir(int dfd)
{
	struct dirent *de;
	char **v = NULL, **nv;
	size_t n = 0, cap = 0;
	DIR *d;
	int fd;

	if ((fd = dup(dfd)) == -1 || (d = fdopendir(fd)) == NULL)
		return NULL;
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (n + 1 >= cap) {
			cap = cap ? 2 * cap : 16;
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL)
				break;
			v = nv;
		}
		v[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (v == NULL)
		v = xcalloc(1, sizeof(*v));
	v[n] = NULL;
	return v;
}

static void
free_list(char **v)
{
	size_t i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

/*
 * Empty the live directory dfd into limbo: one hard link limbo/<id> per
 * file (so live inodes survive), every name removed, subdirectories
 * renamed to limbo/<id> and emptied in turn.
 */
static int
to_limbo(int dfd, int lfd)
{
	char **names, id[64];
	struct pnode *p;
	struct stat st;
	size_t i;
	int cfd, r = 0;

	if ((names = list_dir(dfd)) == NULL)
		return -1;
	for (i = 0; names[i] != NULL && r == 0; i++) {
		if (fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) == -1) {
			r = -1;
			break;
		}
		p = pnode_of(&st, dfd, names[i]);
		snprintf(id, sizeof(id), "%llu", (unsigned long long)p->id);
		if (S_ISDIR(st.st_mode)) {
			p->held = true;
			if (renameat(dfd, names[i], lfd, id) == -1 ||
			    (cfd = openat(lfd, id,
				 O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
				     O_CLOEXEC)) == -1) {
				r = -1;
				break;
			}
			r = to_limbo(cfd, lfd);
			close(cfd);
			continue;
		}
		if (!p->held && linkat(dfd, names[i], lfd, id, 0) == -1) {
			r = -1;
			break;
		}
		p->held = true;
		if (unlinkat(dfd, names[i], 0) == -1)
			r = -1;
	}
	free_list(names);
	return r;
}

/* Rebuild directory d (open at dfd) from its durable entries. */
static int
place(int dfd, struct pnode *d, int lfd, bool pages, struct cut_stats *cs)
{
	struct pnode *p;
	char id[64];
	size_t i;
	int cfd, r;

	for (i = 0; i < d->nd; i++) {
		p = d->d[i].p;
		snprintf(id, sizeof(id), "%llu", (unsigned long long)p->id);
		if (!S_ISDIR(p->mode)) {
			if (materialize(p, lfd, pages, cs) == -1 ||
			    linkat(lfd, id, dfd, d->d[i].name, 0) == -1)
				return -1;
			continue;
		}
		if (p->placed) {
			warnx("directory %s is durable under two names; "
			      "keeping the first",
			    id);
			continue;
		}
		p->placed = true;
		if (p->held)
			r = renameat(lfd, id, dfd, d->d[i].name);
		else if ((r = mkdirat(dfd, d->d[i].name, p->mode & 07777)) == 0)
			set_owner(dfd, d->d[i].name, p->uid, p->gid);
		if (r == -1)
			return -1;
		cfd = openat(dfd, d->d[i].name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (cfd == -1)
			return -1;
		r = place(cfd, p, lfd, pages, cs);
		close(cfd);
		if (r == -1)
			return -1;
	}
	return 0;
}

/* Remove everything below dfd. */
static int
rm_tree(int dfd)
{
	char **names;
	struct stat st;
	size_t i;
	int cfd, r = 0;

	if ((names = list_dir(dfd)) == NULL)
		return -1;
	for (i = 0; names[i] != NULL; i++) {
		if (fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) == -1)
			continue;
		if (S_ISDIR(st.st_mode)) {
			cfd = openat(dfd, names[i],
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd == -1 || rm_tree(cfd) == -1)
				r = -1;
			if (cfd != -1)
				close(cfd);
			if (unlinkat(dfd, names[i], AT_REMOVEDIR) == -1)
				r = -1;
		} else if (unlinkat(dfd, names[i], 0) == -1)
			r = -1;
	}
	free_list(names);
	return r;
}

/* A fresh, empty limbo directory in the shadow directory. */
static int
limbo_open(void)
{
	int lfd;

	lfd = openat(g.shadowfd, PL_LIMBO,
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (lfd != -1) {
		(void)rm_tree(lfd);
		return lfd;
	}
	if (mkdirat(g.shadowfd, PL_LIMBO, 0700) == -1)
		return -1;
	return openat(g.shadowfd, PL_LIMBO,
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/*
 * Cut the power: rewind the backing tree to the durable state (plus what
 * the mode lets survive), then start a new model from it. Called with
 * g.mu held; a frozen call wakes up and fails with EIO.
 */
static int
cut(enum cut_mode mode, uint64_t seed, struct cut_stats *cs)
{
	struct pnode *p;
	struct nsop *o;
	int lfd, r = -1;

	memset(cs, 0, sizeof(*cs));
	hide_resolve();
	g.rng = seed;
	for (o = g.ops; o != NULL; o = o->next)
		cs->nsops++;
	if (mode & CUT_META)
		cut_meta(cs);
	for (p = g.all; p != NULL; p = p->anext)
		p->held = p->done = p->placed = false;
	if ((lfd = limbo_open()) == -1)
		goto out;
	if (to_limbo(g.rootfd, lfd) == 0 &&
	    place(g.rootfd, g.root, lfd, (mode & CUT_PAGES) != 0, cs) == 0 &&
	    rm_tree(lfd) == 0)
		r = 0;
	close(lfd);
	(void)unlinkat(g.shadowfd, PL_LIMBO, AT_REMOVEDIR);
out:
	g.gen++;
	g.cuts++;
	g.points = g.nops = 0;
	g.freeze_point = g.freeze_op = 0;
	if (r == 0 && model_init() == -1)
		r = -1;
	if (r == -1) {
		warnx("cut failed: %s; the file system is now unusable",
		    strerror(errno));
		g.broken = true;
	}
	pthread_cond_broadcast(&g.cv);
	return r;
}

/* The FUSE side. Every call runs under g.mu. */

static struct ofile *
ofile(const struct fuse_file_info *fi)
{
	return fi != NULL ? (struct ofile *)(uintptr_t)fi->fh : NULL;
}

/* Is this handle from before the last cut (so its power is gone)? */
static bool
stale(const struct ofile *of)
{
	return g.broken || (of != NULL && of->gen != g.gen);
}

/* Is this a name libfuse gave a file unlinked or replaced while open? */
static bool
is_hidden(const char *path)
{
	const char *b = strrchr(path, '/');

	return strncmp(b != NULL ? b + 1 : path, ".fuse_hidden", 12) == 0;
}

static void
hide_clear(void)
{
	free(g.hide_name);
	free(g.hide_path);
	g.hide_name = g.hide_path = NULL;
	g.hide_dir = NULL;
}

/*
 * A hidden file whose name was not taken over by the rename that follows
 * at once was unlinked by the application: count that, and note the name
 * as gone. (Called before the next call of any kind, and before a cut.)
 */
static void
hide_resolve(void)
{
	if (g.hide_name == NULL)
		return;
	g.nops++;
	g.seq++;
	if (g.freeze_op != 0 && g.nops == g.freeze_op)
		g.freeze_op++; /* it is done already: freeze at the next one */
	ns_record(g.hide_dir, g.hide_name, NULL);
	hide_clear();
}

/*
 * Count a modifying call, and a durability point when kind is set; trace
 * it; freeze when armed for it. 0: go on; -EIO: the power was cut while
 * the call was frozen (it never took effect).
 */
static int
op_begin(const char *kind, const char *path, const char *path2)
{
	uint64_t gen = g.gen;
	struct timespec dl, ts;
	bool freeze;

	if (g.broken)
		return -EIO;
	hide_resolve();
	g.nops++;
	g.seq++;
	if (kind != NULL) {
		g.points++;
		if (g.tracef != NULL) {
			fprintf(g.tracef, "%lu %lu %s %s%s%s\n", g.points,
			    g.nops, kind, path != NULL ? path : "-",
			    path2 != NULL ? " " : "",
			    path2 != NULL ? path2 : "");
			fflush(g.tracef);
		}
	}
	freeze = (g.freeze_point != 0 && kind != NULL &&
		     g.points == g.freeze_point) ||
	    (g.freeze_op != 0 && g.nops == g.freeze_op);
	if (!freeze)
		return 0;
	snprintf(g.what, sizeof(g.what), "point=%lu op=%lu kind=%s path=%s",
	    g.points, g.nops, kind != NULL ? kind : "other",
	    path != NULL ? path : "-");
	g.frozen = true;
	pthread_cond_broadcast(&g.cv);
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += g.freeze_secs;
	while (g.gen == gen) {
		clock_gettime(CLOCK_REALTIME, &ts);
		if (ts.tv_sec >= dl.tv_sec) {
			warnx("frozen for %u s and no cut came", g.freeze_secs);
			break;
		}
		ts.tv_sec += PL_WAIT_SLICE;
		pthread_cond_timedwait(&g.cv, &g.mu, &ts);
		if (g.se != NULL && fuse_session_exited(g.se))
			break;
	}
	g.frozen = false;
	return -EIO;
}

#define LOCKED(call)                         \
	do {                                 \
		int r_;                      \
		pthread_mutex_lock(&g.mu);   \
		r_ = (call);                 \
		pthread_mutex_unlock(&g.mu); \
		return r_;                   \
	} while (0)

/* Give a new object to the calling user when we run as root. */
static void
give_to_caller(int dirfd, const char *name)
{
	struct fuse_context *c = fuse_get_context();

	if (geteuid() == 0 && c != NULL && (c->uid != 0 || c->gid != 0))
		set_owner(dirfd, name, c->uid, c->gid);
}

/* After creating path: a new node, its name pending in its parent. */
static int
created(const char *path, struct pnode *dir, enum dur dur)
{
	char parent[PATH_MAX];
	const char *name;
	struct stat st;
	struct pnode *p;

	split(path, parent, sizeof(parent), &name);
	give_to_caller(g.rootfd, rel(path));
	if (fstatat(g.rootfd, rel(path), &st, AT_SYMLINK_NOFOLLOW) == -1)
		return -errno;
	p = hash_find(st.st_ino);
	if (p == NULL)
		p = pnode_new(&st, dur, g.rootfd, rel(path));
	ns_record(dir, name, p);
	return 0;
}

/* The parent node of path, for a call that adds or removes a name. */
static struct pnode *
parent_of(const char *path)
{
	char parent[PATH_MAX];
	const char *name;

	split(path, parent, sizeof(parent), &name);
	return lookup(parent[0] != '\0' ? parent : ".", NULL);
}

static int
do_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct ofile *of = ofile(fi);

	if (of != NULL)
		return fstat(of->fd, st) == -1 ? -errno : 0;
	if (path == NULL)
		return -ENOENT;
	return fstatat(g.rootfd, rel(path), st, AT_SYMLINK_NOFOLLOW) == -1
	    ? -errno
	    : 0;
}

static int
pl_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	LOCKED(do_getattr(path, st, fi));
}

static int
do_readlink(const char *path, char *buf, size_t sz)
{
	ssize_t n = readlinkat(g.rootfd, rel(path), buf, sz - 1);

	if (n == -1)
		return -errno;
	buf[n] = '\0';
	return 0;
}

static int
pl_readlink(const char *path, char *buf, size_t sz)
{
	LOCKED(do_readlink(path, buf, sz));
}

/* mknod, mkdir, symlink: make a new object whose name is pending. */
static int
do_make(const char *path, mode_t mode, dev_t rdev, const char *target)
{
	struct pnode *dir;
	int r;

	if ((r = op_begin(NULL, path, NULL)) != 0)
		return r;
	if ((dir = parent_of(path)) == NULL)
		return -errno;
	if (target != NULL)
		r = symlinkat(target, g.rootfd, rel(path));
	else if (S_ISDIR(mode))
		r = mkdirat(g.rootfd, rel(path), mode & 07777);
	else
		r = mknodat(g.rootfd, rel(path), mode, rdev);
	if (r == -1)
		return -errno;
	return created(path, dir, DUR_EMPTY);
}

static int
pl_mknod(const char *path, mode_t mode, dev_t rdev)
{
	LOCKED(do_make(path, mode, rdev, NULL));
}

static int
pl_mkdir(const char *path, mode_t mode)
{
	LOCKED(do_make(path, mode | S_IFDIR, 0, NULL));
}

static int
pl_symlink(const char *target, const char *path)
{
	LOCKED(do_make(path, S_IFLNK | 0777, 0, target));
}

/* unlink and rmdir: the name goes; the object may leave the live tree. */
static int
do_remove(const char *path, bool isdir)
{
	char parent[PATH_MAX];
	const char *name;
	struct pnode *dir, *p;
	struct stat st;
	int r;

	if (!is_hidden(path) && (r = op_begin(NULL, path, NULL)) != 0)
		return r;
	split(path, parent, sizeof(parent), &name);
	if ((dir = parent_of(path)) == NULL || (p = lookup(path, &st)) == NULL)
		return -errno;
	if (is_hidden(path)) {
		/* libfuse, at the last close: the name itself never counted */
		if (before_last_unlink(p, &st, path) == -1 ||
		    unlinkat(g.rootfd, rel(path), 0) == -1)
			return -errno;
		if (st.st_nlink <= 1)
			unhash(p);
		return 0;
	}
	if (before_last_unlink(p, &st, path) == -1)
		return -errno;
	if (unlinkat(g.rootfd, rel(path), isdir ? AT_REMOVEDIR : 0) == -1)
		return -errno;
	if (isdir || st.st_nlink <= 1)
		unhash(p);
	ns_record(dir, name, NULL);
	return 0;
}

static int
pl_unlink(const char *path)
{
	LOCKED(do_remove(path, false));
}

static int
pl_rmdir(const char *path)
{
	LOCKED(do_remove(path, true));
}

/* libfuse hides a file unlinked or replaced while open: rename it, and
 * decide at the next call what the application did (hide_resolve). */
static int
do_hide(const char *from, const char *to)
{
	char parent[PATH_MAX];
	const char *name;
	struct pnode *dir;

	hide_resolve();
	split(from, parent, sizeof(parent), &name);
	if ((dir = parent_of(from)) == NULL)
		return -errno;
	if (renameat(g.rootfd, rel(from), g.rootfd, rel(to)) == -1)
		return -errno;
	g.hide_dir = dir;
	g.hide_name = xstrdup(name);
	g.hide_path = xstrdup(from);
	return 0;
}

/* The object at to that a rename replaces, prepared to leave the tree. */
static int
rename_victim(
    const char *to, struct pnode *p, struct pnode **q, struct stat *qst)
{
	*q = lookup(to, qst);
	if (*q == NULL)
		return errno == ENOENT ? 0 : -1;
	if (*q == p)
		return 0;
	return before_last_unlink(*q, qst, to);
}

static int
do_rename(const char *from, const char *to, unsigned flags)
{
	char fparent[PATH_MAX], tparent[PATH_MAX];
	const char *fname, *tname;
	struct pnode *fdir, *tdir, *p, *q = NULL;
	struct stat qst;
	int r;

	if (is_hidden(to))
		return do_hide(from, to);
	if (g.hide_path != NULL && strcmp(g.hide_path, to) == 0)
		hide_clear(); /* this rename replaces the hidden file */
	if ((r = op_begin("rename", from, to)) != 0)
		return r;
	split(from, fparent, sizeof(fparent), &fname);
	split(to, tparent, sizeof(tparent), &tname);
	if ((fdir = parent_of(from)) == NULL ||
	    (tdir = parent_of(to)) == NULL || (p = lookup(from, NULL)) == NULL)
		return -errno;
	if (rename_victim(to, p, &q, &qst) == -1)
		return -errno;
	if (renameat2(g.rootfd, rel(from), g.rootfd, rel(to), flags) == -1)
		return -errno;
	if (q == p)
		return 0; /* two names of one file: rename does nothing */
	if (flags & RENAME_EXCHANGE) {
		ns_record(tdir, tname, p);
		ns_record(fdir, fname, q);
		return 0;
	}
	if (q != NULL && (S_ISDIR(qst.st_mode) || qst.st_nlink <= 1))
		unhash(q);
	ns_record(fdir, fname, NULL);
	ns_record(tdir, tname, p);
	return 0;
}

static int
pl_rename(const char *from, const char *to, unsigned flags)
{
	LOCKED(do_rename(from, to, flags));
}

static int
do_link(const char *from, const char *to)
{
	struct pnode *tdir, *p;
	char tparent[PATH_MAX];
	const char *tname;
	int r;

	if ((r = op_begin("link", from, to)) != 0)
		return r;
	split(to, tparent, sizeof(tparent), &tname);
	if ((tdir = parent_of(to)) == NULL || (p = lookup(from, NULL)) == NULL)
		return -errno;
	if (linkat(g.rootfd, rel(from), g.rootfd, rel(to), 0) == -1)
		return -errno;
	ns_record(tdir, tname, p);
	return 0;
}

static int
pl_link(const char *from, const char *to)
{
	LOCKED(do_link(from, to));
}

/* chmod, chown, utimens: passed through, not modelled (they stay). */
static int
do_attr(const char *path, struct fuse_file_info *fi, int what, mode_t mode,
    uid_t uid, gid_t gid, const struct timespec *tv)
{
	struct ofile *of = ofile(fi);
	int r;

	if (stale(of))
		return -EIO;
	if ((r = op_begin(NULL, path, NULL)) != 0)
		return r;
	if (of != NULL && what == 0)
		r = fchmod(of->fd, mode);
	else if (of != NULL && what == 1)
		r = fchown(of->fd, uid, gid);
	else if (of != NULL)
		r = futimens(of->fd, tv);
	else if (path == NULL)
		return -ENOENT;
	else if (what == 0)
		r = fchmodat(g.rootfd, rel(path), mode, 0);
	else if (what == 1)
		r = fchownat(
		    g.rootfd, rel(path), uid, gid, AT_SYMLINK_NOFOLLOW);
	else
		r = utimensat(g.rootfd, rel(path), tv, AT_SYMLINK_NOFOLLOW);
	return r == -1 ? -errno : 0;
}

static int
pl_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	LOCKED(do_attr(path, fi, 0, mode, 0, 0, NULL));
}

static int
pl_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	LOCKED(do_attr(path, fi, 1, 0, uid, gid, NULL));
}

static int
pl_utimens(
    const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	LOCKED(do_attr(path, fi, 2, 0, 0, 0, tv));
}

static int
do_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct ofile *of = ofile(fi);
	struct pnode *p;
	int fd, r;

	if (stale(of))
		return -EIO;
	if ((r = op_begin(NULL, path, NULL)) != 0)
		return r;
	if (of != NULL) {
		if (cow(of->p, of->fd, NULL) == -1)
			return -errno;
		return ftruncate(of->fd, size) == -1 ? -errno : 0;
	}
	if (path == NULL || (p = lookup(path, NULL)) == NULL)
		return path == NULL ? -ENOENT : -errno;
	if (cow(p, -1, path) == -1)
		return -errno;
	fd = openat(g.rootfd, rel(path), O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return -errno;
	r = ftruncate(fd, size) == -1 ? -errno : 0;
	close(fd);
	return r;
}

static int
pl_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	LOCKED(do_truncate(path, size, fi));
}

/* Backing open flags: never write-only, so that cow() can read. */
static int
backing_flags(int flags)
{
	if ((flags & O_ACCMODE) == O_WRONLY)
		flags = (flags & ~O_ACCMODE) | O_RDWR;
	return (flags & ~O_NOCTTY) | O_CLOEXEC;
}

/* A handle for the file just opened at fd. */
static int
handle(struct fuse_file_info *fi, int fd, const char *path)
{
	struct ofile *of;
	struct stat st;

	if (fstat(fd, &st) == -1) {
		close(fd);
		return -errno;
	}
	of = xcalloc(1, sizeof(*of));
	of->fd = fd;
	of->gen = g.gen;
	of->p = pnode_of(&st, g.rootfd, path != NULL ? rel(path) : "?");
	fi->fh = (uint64_t)(uintptr_t)of;
	fi->direct_io = 1;
	return 0;
}

static int
do_open(const char *path, struct fuse_file_info *fi)
{
	struct pnode *p;
	int fd, r;

	if (fi->flags & O_TRUNC) {
		if ((r = op_begin(NULL, path, NULL)) != 0)
			return r;
		if ((p = lookup(path, NULL)) != NULL && cow(p, -1, path) == -1)
			return -errno;
	}
	fd = openat(g.rootfd, rel(path), backing_flags(fi->flags));
	if (fd == -1 && errno == EACCES && (fi->flags & O_ACCMODE) == O_WRONLY)
		fd = openat(g.rootfd, rel(path), fi->flags | O_CLOEXEC);
	if (fd == -1)
		return -errno;
	return handle(fi, fd, path);
}

static int
pl_open(const char *path, struct fuse_file_info *fi)
{
	LOCKED(do_open(path, fi));
}

static int
do_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct pnode *dir, *p;
	struct stat st;
	int fd, r;

	if ((r = op_begin(NULL, path, NULL)) != 0)
		return r;
	if ((dir = parent_of(path)) == NULL)
		return -errno;
	p = lookup(path, &st);
	if (p != NULL && (fi->flags & O_TRUNC) && cow(p, -1, path) == -1)
		return -errno;
	fd = openat(
	    g.rootfd, rel(path), backing_flags(fi->flags) | O_CREAT, mode);
	if (fd == -1)
		return -errno;
	if (p == NULL && (r = created(path, dir, DUR_EMPTY)) != 0) {
		close(fd);
		return r;
	}
	return handle(fi, fd, path);
}

static int
pl_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	LOCKED(do_create(path, mode, fi));
}

static int
do_read(char *buf, size_t sz, off_t off, struct fuse_file_info *fi)
{
	struct ofile *of = ofile(fi);
	ssize_t n;

	if (of == NULL || stale(of))
		return -EIO;
	n = pread(of->fd, buf, sz, off);
	return n == -1 ? -errno : (int)n;
}

static int
pl_read(const char *path, char *buf, size_t sz, off_t off,
    struct fuse_file_info *fi)
{
	(void)path;
	LOCKED(do_read(buf, sz, off, fi));
}

static int
do_write(const char *path, const char *buf, size_t sz, off_t off,
    struct fuse_file_info *fi)
{
	struct ofile *of = ofile(fi);
	ssize_t n;
	int r;

	if (of == NULL || stale(of))
		return -EIO;
	if ((r = op_begin(NULL, path, NULL)) != 0)
		return r;
	if (cow(of->p, of->fd, NULL) == -1)
		return -errno;
	n = pwrite(of->fd, buf, sz, off);
	return n == -1 ? -errno : (int)n;
}

static int
pl_write(const char *path, const char *buf, size_t sz, off_t off,
    struct fuse_file_info *fi)
{
	LOCKED(do_write(path, buf, sz, off, fi));
}

static int
do_statfs(struct statvfs *sv)
{
	return fstatvfs(g.rootfd, sv) == -1 ? -errno : 0;
}

static int
pl_statfs(const char *path, struct statvfs *sv)
{
	(void)path;
	LOCKED(do_statfs(sv));
}

/* close(2) makes nothing durable. */
static int
pl_flush(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	(void)fi;
	return 0;
}

static int
do_release(struct fuse_file_info *fi)
{
	struct ofile *of = ofile(fi);

	if (of == NULL)
		return -EBADF;
	if (of->dir != NULL)
		closedir(of->dir);
	else
		close(of->fd);
	free(of);
	return 0;
}

static int
pl_release(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	LOCKED(do_release(fi));
}

/* fsync and fdatasync: the file's content becomes durable (not its
 * names). A file with no name left keeps a copy: it may still have a
 * durable name. */
static int
do_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	struct ofile *of = ofile(fi);
	int r;

	if (of == NULL || stale(of))
		return -EIO;
	if ((r = op_begin(datasync ? "fdatasync" : "fsync",
		 path != NULL ? path : "-", NULL)) != 0)
		return r;
	if (!S_ISREG(of->p->mode))
		return 0;
	if (!of->p->live)
		return shadow_save_fd(of->p, of->fd) == -1 ? -errno : 0;
	shadow_drop(of->p);
	return 0;
}

static int
pl_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	LOCKED(do_fsync(path, datasync, fi));
}

static int
do_opendir(const char *path, struct fuse_file_info *fi)
{
	struct ofile *of;
	struct stat st;
	int fd;

	fd = openat(g.rootfd, rel(path),
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return -errno;
	if (fstat(fd, &st) == -1) {
		close(fd);
		return -errno;
	}
	of = xcalloc(1, sizeof(*of));
	of->fd = fd;
	of->gen = g.gen;
	of->p = pnode_of(&st, g.rootfd, rel(path));
	if ((of->dir = fdopendir(fd)) == NULL) {
		close(fd);
		free(of);
		return -errno;
	}
	fi->fh = (uint64_t)(uintptr_t)of;
	return 0;
}

static int
pl_opendir(const char *path, struct fuse_file_info *fi)
{
	LOCKED(do_opendir(path, fi));
}

static int
do_readdir(
    void *buf, fuse_fill_dir_t fill, off_t off, struct fuse_file_info *fi)
{
	struct ofile *of = ofile(fi);
	struct dirent *de;
	struct stat st;

	if (of == NULL || stale(of))
		return -EIO;
	if (off == 0)
		rewinddir(of->dir);
	else
		seekdir(of->dir, off);
	while ((de = readdir(of->dir)) != NULL) {
		memset(&st, 0, sizeof(st));
		st.st_ino = de->d_ino;
		st.st_mode = (mode_t)DTTOIF(de->d_type);
		if (fill(buf, de->d_name, &st, telldir(of->dir), 0) != 0)
			break;
	}
	return 0;
}

static int
pl_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
    struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	(void)path;
	(void)flags;
	LOCKED(do_readdir(buf, fill, off, fi));
}

static int
pl_releasedir(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	LOCKED(do_release(fi));
}

/* fsync of a directory: its pending namespace changes become durable. */
static int
do_fsyncdir(const char *path, struct fuse_file_info *fi)
{
	struct ofile *of = ofile(fi);
	int r;

	if (of == NULL || stale(of))
		return -EIO;
	if ((r = op_begin("fsyncdir", path != NULL ? path : "-", NULL)) != 0)
		return r;
	(void)ns_apply(of->p, UINT64_MAX);
	return 0;
}

static int
pl_fsyncdir(const char *path, int datasync, struct fuse_file_info *fi)
{
	(void)datasync;
	LOCKED(do_fsyncdir(path, fi));
}

static int
do_access(const char *path, int mask)
{
	return faccessat(g.rootfd, rel(path), mask, AT_EACCESS) == -1 ? -errno
								      : 0;
}

static int
pl_access(const char *path, int mask)
{
	LOCKED(do_access(path, mask));
}

/* Not modelled: callers fall back to writing (posix_fallocate does). */
static int
pl_fallocate(
    const char *path, int mode, off_t off, off_t len, struct fuse_file_info *fi)
{
	(void)path;
	(void)mode;
	(void)off;
	(void)len;
	(void)fi;
	return -EOPNOTSUPP;
}

static void *ctl_main(void *);

static void *
pl_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	pthread_t t;

	(void)conn;
	cfg->use_ino = 1;
	cfg->readdir_ino = 1;
	cfg->direct_io = 1;
	cfg->hard_remove = 0; /* hide: see is_hidden() */
	cfg->nullpath_ok = 0;
	cfg->kernel_cache = 0;
	cfg->auto_cache = 0;
	cfg->entry_timeout = 0;
	cfg->attr_timeout = 0;
	cfg->negative_timeout = 0;
	g.se = fuse_get_session(fuse_get_context()->fuse);
	if (pthread_create(&t, NULL, ctl_main, NULL) != 0)
		warnx("cannot start the control thread");
	else
		pthread_detach(t);
	return NULL;
}

static const struct fuse_operations pl_ops = {
    .init = pl_init,
    .getattr = pl_getattr,
    .readlink = pl_readlink,
    .mknod = pl_mknod,
    .mkdir = pl_mkdir,
    .unlink = pl_unlink,
    .rmdir = pl_rmdir,
    .symlink = pl_symlink,
    .rename = pl_rename,
    .link = pl_link,
    .chmod = pl_chmod,
    .chown = pl_chown,
    .truncate = pl_truncate,
    .open = pl_open,
    .read = pl_read,
    .write = pl_write,
    .statfs = pl_statfs,
    .flush = pl_flush,
    .release = pl_release,
    .fsync = pl_fsync,
    .opendir = pl_opendir,
    .readdir = pl_readdir,
    .releasedir = pl_releasedir,
    .fsyncdir = pl_fsyncdir,
    .access = pl_access,
    .create = pl_create,
    .utimens = pl_utimens,
    .fallocate = pl_fallocate,
};

/* The control socket. */

static const char *const mode_names[] = {"strict", "pages", "meta", "all"};

/* "wait SECS": until a call is frozen, or SECS pass. */
static void
ctl_wait(const char *arg, char *out, size_t sz)
{
	struct timespec dl;
	long secs = strtol(arg, NULL, 10);

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += secs > 0 ? secs : 0;
	while (!g.frozen) {
		if (pthread_cond_timedwait(&g.cv, &g.mu, &dl) == ETIMEDOUT)
			break;
	}
	if (g.frozen)
		snprintf(out, sz, "frozen %s", g.what);
	else
		snprintf(
		    out, sz, "running points=%lu ops=%lu", g.points, g.nops);
}

/* "cut MODE SEED". */
static void
ctl_cut(const char *arg, char *out, size_t sz)
{
	char mname[32];
	unsigned long long seed;
	struct cut_stats cs;
	size_t n = strcspn(arg, " ");
	int m;

	snprintf(mname, sizeof(mname), "%.*s", (int)n, n > 0 ? arg : "strict");
	seed = strtoull(arg + n, NULL, 10);
	for (m = 0; m < 4; m++)
		if (strcmp(mname, mode_names[m]) == 0)
			break;
	if (m == 4) {
		snprintf(out, sz, "error unknown cut mode '%s'", mname);
		return;
	}
	if (cut((enum cut_mode)m, seed, &cs) == -1) {
		snprintf(out, sz, "error cut failed: %s", strerror(errno));
		return;
	}
	snprintf(out, sz,
	    "ok cut mode=%s seed=%llu files=%u pages_kept=%u "
	    "pages_dropped=%u nsops=%u nsops_kept=%u",
	    mode_names[m], seed, cs.files, cs.pages_kept, cs.pages_dropped,
	    cs.nsops, cs.nsops_kept);
}

/* Run one control command (with g.mu held); the reply goes in out. */
static void
ctl_command(char *line, char *out, size_t sz)
{
	char *arg = strchr(line, ' '), *end;
	unsigned long n = 0;

	if (arg != NULL)
		*arg++ = '\0';
	else
		arg = line + strlen(line);
	if (strcmp(line, "status") == 0)
		snprintf(out, sz,
		    "ok points=%lu ops=%lu frozen=%d cuts=%lu broken=%d",
		    g.points, g.nops, g.frozen, g.cuts, g.broken);
	else if (strcmp(line, "wait") == 0)
		ctl_wait(arg, out, sz);
	else if (strcmp(line, "cut") == 0)
		ctl_cut(arg, out, sz);
	else if (strcmp(line, "arm") == 0 &&
	    (strncmp(arg, "point ", 6) == 0 || strncmp(arg, "op ", 3) == 0) &&
	    (n = strtoul(strchr(arg, ' ') + 1, &end, 10)) > 0 && *end == '\0') {
		if (arg[0] == 'p')
			g.freeze_point = n;
		else
			g.freeze_op = n;
		snprintf(out, sz, "ok armed %s", arg);
	} else if (strcmp(line, "disarm") == 0) {
		g.freeze_point = g.freeze_op = 0;
		snprintf(out, sz, "ok disarmed");
	} else
		snprintf(out, sz, "error unknown command '%s'", line);
}

/* Serve the control socket, one client and one command at a time. */
static void *
ctl_main(void *arg)
{
	char line[PL_LINE], out[2 * PL_LINE];
	ssize_t n;
	size_t len;
	int c;

	(void)arg;
	for (;;) {
		if ((c = accept(g.ctlfd, NULL, NULL)) == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			warnx("control socket: %s", strerror(errno));
			return NULL;
		}
		len = 0;
		while (len < sizeof(line) - 1 &&
		    (n = read(c, line + len, sizeof(line) - 1 - len)) > 0) {
			len += (size_t)n;
			if (memchr(line, '\n', len) != NULL)
				break;
		}
		line[len] = '\0';
		line[strcspn(line, "\r\n")] = '\0';
		pthread_mutex_lock(&g.mu);
		ctl_command(line, out, sizeof(out) - 1);
		pthread_mutex_unlock(&g.mu);
		len = strlen(out);
		out[len++] = '\n';
		if (write(c, out, len) == -1)
			warnx("control reply: %s", strerror(errno));
		close(c);
	}
}

/* The client: plfs ctl SOCKET COMMAND [ARG...]. */
static int
ctl_client(int argc, char **argv)
{
	struct sockaddr_un sa;
	char buf[PL_LINE * 2];
	size_t len = 0;
	ssize_t n;
	int i, s;

	if (argc < 4) {
		fputs("usage: plfs ctl SOCKET COMMAND [ARG...]\n", stderr);
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", argv[2]);
	for (i = 3; i < argc; i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s",
		    argv[i], i + 1 < argc ? " " : "\n");
	if (len >= sizeof(buf))
		return 2;
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s == -1 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    write(s, buf, len) != (ssize_t)len) {
		warnx("cannot reach '%s': %s", argv[2], strerror(errno));
		return 2;
	}
	len = 0;
	while (len < sizeof(buf) - 1 &&
	    (n = read(s, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	close(s);
	buf[len] = '\0';
	fputs(buf, stdout);
	return strncmp(buf, "error", 5) == 0 || len == 0 ? 1 : 0;
}

struct pl_opts {
	char *ctl, *shadow, *trace;
	unsigned long freeze_point, freeze_op;
	unsigned freeze_secs;
};

#define PL_OPT(t, f)                              \
	{                                         \
		t, offsetof(struct pl_opts, f), 1 \
	}
static const struct fuse_opt pl_optspec[] = {
    PL_OPT("ctl=%s", ctl),
    PL_OPT("shadow=%s", shadow),
    PL_OPT("trace=%s", trace),
    PL_OPT("freeze_point=%lu", freeze_point),
    PL_OPT("freeze_op=%lu", freeze_op),
    PL_OPT("freeze_timeout=%u", freeze_secs),
    FUSE_OPT_END,
};

/* The first non-option is the backing directory; keep the mount point. */
static int
pl_optproc(void *data, const char *arg, int key, struct fuse_args *out)
{
	(void)data;
	(void)out;
	if (key != FUSE_OPT_KEY_NONOPT)
		return 1;
	if (g.backing == NULL) {
		g.backing = realpath(arg, NULL);
		if (g.backing == NULL) {
			warnx("cannot use '%s': %s", arg, strerror(errno));
			return -1;
		}
		return 0;
	}
	if (g.mnt == NULL)
		g.mnt = realpath(arg, NULL);
	return 1;
}

/* Is a inside b (or b itself)? */
static bool
inside(const char *a, const char *b)
{
	size_t n = strlen(b);

	return strncmp(a, b, n) == 0 && (a[n] == '\0' || a[n] == '/');
}

/* Open the backing and shadow directories and check that they fit. */
static int
setup_dirs(void)
{
	struct stat bst, sst;
	char *rs;

	(void)mkdir(g.shadow, 0700);
	if ((rs = realpath(g.shadow, NULL)) == NULL) {
		warnx("cannot use shadow '%s': %s", g.shadow, strerror(errno));
		return -1;
	}
	if (inside(rs, g.backing) || inside(g.backing, rs) ||
	    (g.mnt != NULL && inside(rs, g.mnt))) {
		warnx("the shadow directory must be outside the backing "
		      "directory and the mount point");
		free(rs);
		return -1;
	}
	g.rootfd = open(g.backing, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	g.shadowfd = open(rs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(rs);
	if (g.rootfd == -1 || g.shadowfd == -1 || fstat(g.rootfd, &bst) == -1 ||
	    fstat(g.shadowfd, &sst) == -1) {
		warnx("cannot open the directories: %s", strerror(errno));
		return -1;
	}
	if (bst.st_dev != sst.st_dev) {
		warnx(
		    "the shadow directory must be on the backing file system");
		return -1;
	}
	(void)rm_tree(g.shadowfd);
	return 0;
}

/* Bind the control socket (served once the file system is up). */
static int
setup_ctl(void)
{
	struct sockaddr_un sa;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(g.ctl) >= sizeof(sa.sun_path)) {
		warnx("control socket path too long: '%s'", g.ctl);
		return -1;
	}
	memcpy(sa.sun_path, g.ctl, strlen(g.ctl));
	(void)unlink(g.ctl);
	g.ctlfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (g.ctlfd == -1 ||
	    bind(g.ctlfd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(g.ctlfd, 8) == -1) {
		warnx("cannot listen on '%s': %s", g.ctl, strerror(errno));
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct pl_opts o = {.freeze_secs = PL_FREEZE_SECS};
	int r;

	if (argc > 1 && strcmp(argv[1], "ctl") == 0)
		return ctl_client(argc, argv);
	umask(0);
	g.opstail = &g.ops;
	if (fuse_opt_parse(&args, &o, pl_optspec, pl_optproc) == -1)
		return 1;
	if (g.backing == NULL || g.mnt == NULL || o.ctl == NULL ||
	    o.shadow == NULL) {
		fputs("usage: plfs -o ctl=SOCKET,shadow=DIR[,trace=FILE]"
		      "[,freeze_point=N][,freeze_op=N] BACKING MOUNTPOINT\n"
		      "       plfs ctl SOCKET COMMAND [ARG...]\n",
		    stderr);
		return 1;
	}
	g.ctl = o.ctl;
	g.shadow = o.shadow;
	g.freeze_point = o.freeze_point;
	g.freeze_op = o.freeze_op;
	g.freeze_secs = o.freeze_secs;
	if (o.trace != NULL && (g.tracef = fopen(o.trace, "a")) == NULL) {
		warnx("cannot open '%s': %s", o.trace, strerror(errno));
		return 1;
	}
	if (setup_dirs() == -1 || model_init() == -1 || setup_ctl() == -1)
		return 1;
	/* one thread: calls are serialized, and a frozen call stops all */
	fuse_opt_add_arg(&args, "-f");
	fuse_opt_add_arg(&args, "-s");
	fuse_opt_add_arg(&args, "-odefault_permissions,fsname=plfs");
	r = fuse_main(args.argc, args.argv, &pl_ops, NULL);
	fuse_opt_free_args(&args);
	(void)unlink(g.ctl);
	return r;
}
