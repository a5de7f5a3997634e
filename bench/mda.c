/*
 * mda.c: the benchmark's MDA, one small program all clients pipe into.
 *
 *	mda DIR
 *
 * Copies standard input into DIR/tmp/<unique>, then renames it into
 * DIR/new/: one Maildir-style file per message, the least work an MDA that
 * stores messages as files can do. No fsync (the clients under test differ
 * in how they sync their own state; this program must not). The same binary
 * serves popfetch --mda, mpop "delivery mda" and fetchmail "mda", and is
 * fetchmail's Maildir delivery too, since fetchmail has none of its own.
 */

#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Copy stdin to a new file in DIR/tmp and move it to DIR/new. */
int
main(int argc, char *argv[])
{
	static char buf[64 * 1024];
	char tmp[4096], dst[4096];
	struct timespec ts;
	ssize_t n, w, off;
	int fd, k;

	if (argc != 2) {
		fprintf(stderr, "usage: mda DIR\n");
		return 64;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	for (k = 0;; k++) {
		snprintf(tmp, sizeof(tmp), "%s/tmp/%lld.M%ldP%ldQ%d.bench",
		    argv[1], (long long)ts.tv_sec, ts.tv_nsec / 1000,
		    (long)getpid(), k);
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
		if (fd != -1)
			break;
		if (errno != EEXIST || k > 100) {
			perror(tmp);
			return 75;
		}
	}
	while ((n = read(0, buf, sizeof(buf))) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			perror("mda: read");
			return 74;
		}
		for (off = 0; off < n; off += w) {
			w = write(fd, buf + off, (size_t)(n - off));
			if (w == -1) {
				perror("mda: write");
				return 74;
			}
		}
	}
	if (close(fd) == -1) {
		perror("mda: close");
		return 74;
	}
	snprintf(dst, sizeof(dst), "%s/new/%s", argv[1], strrchr(tmp, '/') + 1);
	if (rename(tmp, dst) == -1) {
		perror(dst);
		return 74;
	}
	return 0;
}
