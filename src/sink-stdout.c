/*
 * sink-stdout.c: delivery to standard output as an mboxrd stream. Each
 * message is spooled; the sync writes the staged ones out in order. When
 * stdout is a pipe, a write only puts the bytes in the kernel's pipe
 * buffer: the sync then waits until the reader has taken them all, so a
 * reader that dies early makes the batch fail instead of losing the
 * messages still in the pipe.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <sys/ioctl.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "popfetch/fileio.h"
#include "popfetch/mboxrd.h"
#include "popfetch/sink.h"
#include "popfetch/spool.h"
#include "popfetch/xmalloc.h"
#include "sink-private.h"

/* Nothing to check: stdout is whatever the caller gave us. The timeout
 * bounds how long a pipe reader may take for a batch. */
static int
stdout_init(struct sink *sk, const struct sink_params *p, struct pf_err *err)
{
	(void)err;
	(void)sink_spool_init(sk, p, sizeof(struct sink_spooled));
	return 0;
}

static int
stdout_commit(struct sink *sk, struct pf_err *err)
{
	struct sink_spooled *o = sk->impl;

	if (spool_keep(&o->spool, err) == -1)
		return -1;
	snprintf(sk->where, sizeof(sk->where), "stdout");
	return 0;
}

/* mboxrd_emit() callback: straight to fd 1. */
static int
stdout_emit(void *ctx, const char *buf, size_t len)
{
	(void)ctx;
	return fileio_write_all(STDOUT_FILENO, buf, len);
}

/* Wait until the pipe on fd 1 is empty, or fail when its reader is gone
 * or takes longer than timeout seconds. */
static int
wait_consumed(int timeout, struct pf_err *err)
{
	struct timespec t0, now;
	int wait_ms = 1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd pfd = {STDOUT_FILENO, 0, 0};
		int unread = 0;

		if (ioctl(STDOUT_FILENO, FIONREAD, &unread) == -1)
			return 0; /* cannot tell: trust the write */
		if (unread == 0)
			return 0;
		/* events 0: only POLLERR (no reader left) wakes us early */
		if (poll(&pfd, 1, wait_ms) == 1 &&
		    (pfd.revents & (POLLERR | POLLHUP)) != 0)
			return pf_err_set(err, PF_EIO,
			    "cannot write to standard output: the reader exited "
			    "without reading the last %d bytes",
			    unread);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec >= timeout)
			return pf_err_set(err, PF_ETEMP,
			    "standard output: the reader did not read %d bytes "
			    "within %d seconds",
			    unread, timeout);
		if (wait_ms < 50)
			wait_ms *= 2;
	}
}

/* Write every staged message; fsync only makes sense for a file. */
static int
stdout_sync(struct sink *sk, struct pf_err *err)
{
	struct sink_spooled *o = sk->impl;
	struct stat st;
	time_t now = time(NULL);
	size_t i;

	for (i = 0; i < o->spool.n; i++) {
		const struct spool_msg *m = &o->spool.msgs[i];

		if (mboxrd_emit(m->fd, m->size, m->last, m->sender, now,
			stdout_emit, NULL) == -1) {
			pf_err_sys(
			    err, PF_EIO, "cannot write to standard output");
			spool_clear(&o->spool);
			return -1;
		}
	}
	spool_clear(&o->spool);
	if (fstat(STDOUT_FILENO, &st) == -1)
		return 0;
	if (S_ISFIFO(st.st_mode))
		return wait_consumed(o->timeout, err);
	if (S_ISREG(st.st_mode) && fsync(STDOUT_FILENO) == -1)
		return pf_err_sys(
		    err, PF_EIO, "cannot write to standard output");
	return 0;
}

const struct sink_ops sink_stdout_ops = {
    .sink = {stdout_init, sink_spool_free},
    .msg = {sink_spool_open, sink_spool_write, stdout_commit, sink_spool_abort},
    .sync = stdout_sync,
};
