/*
 * spool.c: messages delivered as a whole, in memory while small, else in
 * private temp files (the budget is in spool.h).
 */
#include <sys/types.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "popfetch/fileio.h"
#include "popfetch/mboxrd.h"
#include "popfetch/spool.h"
#include "popfetch/xmalloc.h"

void
spool_init(struct spool *sp, const char *dir)
{
	memset(sp, 0, sizeof(*sp));
	sp->dir = dir != NULL ? xstrdup(dir) : NULL;
	sp->cur.fd = -1;
}

int
spool_open(struct spool *sp, const char *uid, unsigned long long size_hint,
    struct pf_err *err)
{
	unsigned long long budget;
	int fd;

	spool_abort(sp); /* and cur_mem = 0 */
	budget = SPOOL_MEM_TOTAL - sp->mem;
	if (budget > SPOOL_MEM_MSG)
		budget = SPOOL_MEM_MSG;
	if (sp->mem_n >= SPOOL_MEM_COUNT)
		budget = 0;
	/* A message listed as too big goes to a file at once, not after a
	 * copy; one whose listing was too small spills in spool_write(). */
	if (size_hint <= budget && budget > 0 &&
	    (fd = fileio_memfile()) != -1) {
		sp->cur_mem = budget;
	} else if ((fd = fileio_tmpfile(sp->dir, err)) == -1) {
		return -1;
	}
	fileio_buf_init(&sp->cur, fd);
	sp->cur_uid = uid != NULL ? xstrdup(uid) : NULL;
	return 0;
}

/* The current message outgrew memory: copy it to a temp file and go on
 * there. */
static int
spill(struct spool *sp, struct pf_err *err)
{
	int fd;

	if (fileio_buf_flush(&sp->cur) == -1)
		return pf_err_sys(err, PF_EIO, "cannot write spool file");
	if ((fd = fileio_tmpfile(sp->dir, err)) == -1)
		return -1;
	if (fileio_copy(sp->cur.fd, fd, sp->cur.size) == -1) {
		pf_err_sys(err, PF_EIO, "cannot write spool file");
		close(fd);
		return -1;
	}
	close(sp->cur.fd);
	sp->cur.fd = fd;
	sp->cur_mem = 0;
	return 0;
}

int
spool_write(struct spool *sp, const char *buf, size_t len, struct pf_err *err)
{
	if (sp->cur_mem != 0 && sp->cur.size + len > sp->cur_mem &&
	    spill(sp, err) == -1) {
		spool_abort(sp);
		return -1;
	}
	if (fileio_buf_write(&sp->cur, buf, len) == -1) {
		pf_err_sys(err, PF_EIO, "cannot write spool file");
		spool_abort(sp);
		return -1;
	}
	return 0;
}

int
spool_flush(struct spool *sp, struct pf_err *err)
{
	if (fileio_buf_flush(&sp->cur) == -1) {
		pf_err_sys(err, PF_EIO, "cannot write spool file");
		spool_abort(sp);
		return -1;
	}
	return 0;
}

int
spool_sender(int fd, char *out, size_t outsz, struct pf_err *err)
{
	char *hdr = xmalloc(MBOXRD_HDR_MAX);
	size_t len = 0;

	while (len < MBOXRD_HDR_MAX) {
		ssize_t n =
		    pread(fd, hdr + len, MBOXRD_HDR_MAX - len, (off_t)len);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			pf_err_sys(err, PF_EIO, "cannot read spool file");
			free(hdr);
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	mboxrd_sender(hdr, len, out, outsz);
	free(hdr);
	return 0;
}

int
spool_keep(struct spool *sp, struct pf_err *err)
{
	struct spool_msg *m;

	if (spool_flush(sp, err) == -1)
		return -1;
	if (sp->n == sp->cap) {
		sp->cap = sp->cap ? 2 * sp->cap : 16;
		sp->msgs = xreallocarray(sp->msgs, sp->cap, sizeof(*sp->msgs));
	}
	m = &sp->msgs[sp->n];
	memset(m, 0, sizeof(*m));
	if (spool_sender(sp->cur.fd, m->sender, sizeof(m->sender), err) == -1) {
		spool_abort(sp);
		return -1;
	}
	m->size = sp->cur.size;
	m->last = sp->cur.last;
	m->uid = sp->cur_uid;
	sp->cur_uid = NULL;
	if (sp->cur_mem != 0) {
		/* what the pages take; never past the total (cur_mem kept the
		 * size within it, and the total is whole pages) */
		sp->mem += (m->size + SPOOL_MEM_PAGE - 1) / SPOOL_MEM_PAGE *
		    SPOOL_MEM_PAGE;
		sp->mem_n++;
	}
	m->fd = fileio_buf_release(&sp->cur);
	sp->n++;
	return 0;
}

void
spool_abort(struct spool *sp)
{
	fileio_buf_close(&sp->cur);
	free(sp->cur_uid);
	sp->cur_uid = NULL;
	sp->cur_mem = 0;
}

void
spool_clear(struct spool *sp)
{
	size_t i;

	for (i = 0; i < sp->n; i++) {
		close(sp->msgs[i].fd);
		free(sp->msgs[i].uid);
	}
	sp->n = 0;
	sp->mem = 0;
	sp->mem_n = 0;
}

void
spool_free(struct spool *sp)
{
	spool_abort(sp);
	spool_clear(sp);
	free(sp->msgs);
	free(sp->dir);
	memset(sp, 0, sizeof(*sp));
	sp->cur.fd = -1;
}
