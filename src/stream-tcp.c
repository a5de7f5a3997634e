/*
 * stream-tcp.c: the plain TCP stream (also over a tunnel command's
 * socketpair), plus the deadline and poll helpers that the TLS variant
 * and conn.c share (stream-private.h).
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "popfetch/stream.h"
#include "popfetch/sys.h"
#include "popfetch/xmalloc.h"
#include "stream-private.h"

/* The process's stop request (stream_stop_on()), and how long any one
 * wait may last once it is set. */
static volatile sig_atomic_t *stop_flag;
static int stop_grace_ms;

void
stream_stop_on(volatile sig_atomic_t *flag, int grace_ms)
{
	stop_flag = flag;
	stop_grace_ms = grace_ms;
}

/* Milliseconds a poll may wait for deadline (-1: none), cut short once a
 * stop has been requested; *stopped tells that the cut applies. The cut
 * is taken again after EINTR, so a signal during a wait shortens it. */
static int
wait_left(long long deadline, bool *stopped)
{
	long long now = sys_now_ms(), d = deadline;

	*stopped = false;
	if (stop_flag != NULL && *stop_flag != 0 &&
	    (d < 0 || now + stop_grace_ms <= d)) {
		d = now + stop_grace_ms;
		*stopped = true;
	}
	if (d < 0)
		return -1;
	d -= now;
	return d < 0 ? 0 : d > 0x7fffffff ? 0x7fffffff : (int)d;
}

/* A wait ran out: the time, or the grace after a stop request. */
static int
wait_expired(bool stopped, int timeout_ms, struct pf_err *err)
{
	char secs[32];

	if (stopped)
		return pf_err_set(err, PF_ETEMP,
		    "stopped by a signal: the server sent nothing for %d ms",
		    stop_grace_ms);
	return pf_err_set(err, PF_ETEMP,
	    "timed out after %s seconds waiting for the server",
	    stream_seconds(timeout_ms, secs, sizeof(secs)));
}

long long
stream_deadline(int timeout_ms)
{
	if (timeout_ms <= 0)
		return -1;
	return sys_now_ms() + timeout_ms;
}

long long
stream_io_deadline(const struct stream *s)
{
	long long d = stream_deadline(s->timeout_ms);

	if (s->resp_deadline > 0 && (d < 0 || s->resp_deadline < d))
		d = s->resp_deadline;
	return d;
}

void
stream_set_response_deadline(struct stream *s, long long extra_ms)
{
	if (extra_ms < 0 || s->timeout_ms <= 0)
		s->resp_deadline = 0;
	else
		s->resp_deadline = sys_now_ms() + s->timeout_ms + extra_ms;
}

const char *
stream_seconds(int timeout_ms, char *buf, size_t bufsz)
{
	int tenths = timeout_ms <= 0 ? 0 : (timeout_ms + 99) / 100;

	if (tenths % 10 == 0)
		snprintf(buf, bufsz, "%d", tenths / 10);
	else
		snprintf(buf, bufsz, "%d.%d", tenths / 10, tenths % 10);
	return buf;
}

int
stream_wait(int fd, short events, long long deadline, int timeout_ms,
    struct pf_err *err)
{
	struct pollfd pfd;
	bool stopped;
	int n, left;

	for (;;) {
		/* Past the deadline, a ready socket is no reason to go on: a
		 * peer that keeps the socket ready without ever sending what
		 * is waited for (TLS records with no data) must not hold us
		 * (docs/faults.md #99). */
		if ((left = wait_left(deadline, &stopped)) == 0)
			break;
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		n = poll(&pfd, 1, left);
		if (n > 0)
			return 0;
		if (n == 0)
			break;
		if (errno != EINTR && errno != EAGAIN)
			return pf_err_sys(
			    err, PF_ETEMP, "cannot wait for the server");
	}
	return wait_expired(stopped, timeout_ms, err);
}

int
stream_wait_io(
    struct stream *s, short events, long long deadline, struct pf_err *err)
{
	struct pollfd pfd[2];
	bool stopped;
	int n, left, efd;

	if (s->child == NULL)
		return stream_wait(s->fd, events, deadline, s->timeout_ms, err);
	for (;;) {
		if ((left = wait_left(deadline, &stopped)) == 0)
			break; /* as in stream_wait() */
		efd = stream_child_errfd(s->child);
		pfd[0].fd = s->fd;
		pfd[0].events = events;
		pfd[0].revents = 0;
		pfd[1].fd = efd;
		pfd[1].events = POLLIN;
		pfd[1].revents = 0;
		n = poll(pfd, efd >= 0 ? 2 : 1, left);
		if (n == 0)
			break;
		if (n < 0) {
			if (errno != EINTR && errno != EAGAIN)
				return pf_err_sys(err, PF_ETEMP,
				    "cannot wait for the server");
			continue;
		}
		if (efd >= 0 && pfd[1].revents != 0)
			stream_child_drain(s->child);
		if (pfd[0].revents != 0)
			return 0;
	}
	return wait_expired(stopped, s->timeout_ms, err);
}

/*
 * Move what the kernel takes in one direction, waiting under the timeout
 * for the socket to be ready. A write uses send() with MSG_NOSIGNAL, which
 * turns a closed peer into EPIPE instead of a SIGPIPE; a non-socket fd (a
 * test pipe) falls back to write().
 */
static ssize_t
stream_tcp_io(
    struct stream *s, void *buf, size_t len, bool out, struct pf_err *err)
{
	long long deadline = stream_io_deadline(s);
	ssize_t n;

	for (;;) {
		if (!out) {
			n = read(s->fd, buf, len);
		} else {
			n = send(s->fd, buf, len, MSG_NOSIGNAL);
			if (n == -1 && errno == ENOTSOCK)
				n = write(s->fd, buf, len);
		}
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return pf_err_sys(err, PF_ETEMP,
			    out ? "cannot write to the server"
				: "cannot read from the server");
		if (stream_wait_io(s, out ? POLLOUT : POLLIN, deadline, err) ==
		    -1)
			return -1;
	}
}

/* Read what the kernel has, waiting for the first byte under the timeout. */
static ssize_t
stream_tcp_read(struct stream *s, void *buf, size_t len, struct pf_err *err)
{
	return stream_tcp_io(s, buf, len, false, err);
}

/* Write what the socket takes. */
static ssize_t
stream_tcp_write(
    struct stream *s, const void *buf, size_t len, struct pf_err *err)
{
	return stream_tcp_io(s, (void *)(uintptr_t)buf, len, true, err);
}

static const struct stream_ops stream_tcp_ops = {
    .read = stream_tcp_read,
    .write = stream_tcp_write,
    .close = NULL,
    .pending = NULL,
};

struct stream *
stream_tcp_new(int fd, int timeout_ms)
{
	struct stream *s;
	int fl;

	if ((fl = fcntl(fd, F_GETFL)) != -1 && (fl & O_NONBLOCK) == 0)
		(void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	if ((fl = fcntl(fd, F_GETFD)) != -1 && (fl & FD_CLOEXEC) == 0)
		(void)fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
	s = xcalloc(1, sizeof(*s));
	s->ops = &stream_tcp_ops;
	s->fd = fd;
	s->impl = NULL;
	s->timeout_ms = timeout_ms;
	return s;
}
