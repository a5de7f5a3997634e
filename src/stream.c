/*
 * stream.c: the generic half of struct stream; the variants supply ops.
 * A tunnel command's failure is told here, where EOF and errors from
 * either variant pass.
 */
#include <stdlib.h>
#include <unistd.h>

#include "popfetch/stream.h"
#include "stream-private.h"

struct stream *
stream_tunnel_new(const char *command, int timeout_ms, struct pf_err *err)
{
	struct stream_child *c;
	struct stream *s;
	int fd;

	if ((c = stream_child_start(command, &fd, err)) == NULL)
		return NULL;
	s = stream_tcp_new(fd, timeout_ms);
	s->child = c;
	return s;
}

bool
stream_tunnel_failed(struct stream *s, int wait_ms, struct pf_err *err)
{
	return s->child != NULL && stream_child_explain(s->child, wait_ms, err);
}

ssize_t
stream_read(struct stream *s, void *buf, size_t len, struct pf_err *err)
{
	ssize_t n = s->ops->read(s, buf, len, err);

	if (n > 0) {
		s->bytes_in += (unsigned long long)n;
		PF_FAULT_BYTES(s->bytes_in);
	} else if (stream_tunnel_failed(s,
		       n == 0 ? STREAM_CHILD_EXIT_WAIT_MS
			      : STREAM_CHILD_ERROR_WAIT_MS,
		       err)) {
		return -1; /* EOF or error because the tunnel command died */
	}
	return n;
}

int
stream_write_all(
    struct stream *s, const void *buf, size_t len, struct pf_err *err)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = s->ops->write(s, p, len, err);

		if (n < 0) {
			(void)stream_tunnel_failed(
			    s, STREAM_CHILD_ERROR_WAIT_MS, err);
			return -1;
		}
		p += n;
		len -= (size_t)n;
		s->bytes_out += (unsigned long long)n;
	}
	return 0;
}

bool
stream_pending(const struct stream *s)
{
	return s->ops->pending != NULL && s->ops->pending(s);
}

bool
stream_is_tls(const struct stream *s)
{
	return s->impl != NULL;
}

void
stream_close(struct stream *s)
{
	if (s == NULL)
		return;
	if (s->ops->close != NULL)
		s->ops->close(s);
	if (s->fd >= 0)
		close(s->fd);
	stream_child_end(s->child);
	free(s);
}
