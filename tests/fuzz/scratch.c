/* scratch.c: a fuzz target's private scratch directory (scratch.h). */
#define _XOPEN_SOURCE 700 /* nftw */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "popfetch/fileio.h"
#include "popfetch/log.h"

#include "scratch.h"

static char scratch_dir[256];

/* nftw() callback: remove one entry below the directory, deepest
 * first. */
static int
remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb;
	(void)flag;
	if (f->level > 0)
		(void)remove(path);
	return 0;
}

void
fuzz_scratch_write(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd == -1 || fileio_write_all(fd, data, len) == -1 ||
	    close(fd) == -1) {
		fprintf(stderr, "fuzz: cannot write '%s': %s\n", path,
		    strerror(errno));
		abort();
	}
}

void
fuzz_scratch_clear(void)
{
	if (scratch_dir[0] != '\0')
		(void)nftw(scratch_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* At exit: the directory and all in it. */
static void
scratch_remove(void)
{
	fuzz_scratch_clear();
	(void)rmdir(scratch_dir);
}

const char *
fuzz_scratch(const char *name)
{
	const char *base = getenv("TMPDIR");
	struct stat sb;

	if (scratch_dir[0] != '\0')
		return scratch_dir;
	if (stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) &&
	    access("/dev/shm", W_OK) == 0)
		base = "/dev/shm";
	else if (base == NULL || base[0] == '\0')
		base = "/tmp";
	snprintf(scratch_dir, sizeof(scratch_dir), "%s/pf-fuzz-%s.XXXXXX", base,
	    name);
	if (mkdtemp(scratch_dir) == NULL) {
		fprintf(stderr, "fuzz-%s: cannot make '%s': %s\n", name,
		    scratch_dir, strerror(errno));
		abort();
	}
	setenv("HOME", scratch_dir, 1);
	setenv("XDG_STATE_HOME", scratch_dir, 1);
	signal(SIGPIPE, SIG_IGN);
	log_init(getenv("FUZZ_VERBOSE") != NULL ? 2 : -1, false);
	atexit(scratch_remove);
	return scratch_dir;
}
