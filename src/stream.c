/* stream.c: the generic half of struct stream; the variants supply ops. */
#include <stdlib.h>
#include <unistd.h>

#include "popfetch/stream.h"

ssize_t
stream_read(struct stream *s, void *buf, size_t len, struct pf_err *err)
{
	ssize_t n = s->ops->read(s, buf, len, err);

	if (n > 0) {
		s->bytes_in += (unsigned long long)n;
		PF_FAULT_BYTES(s->bytes_in);
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

		if (n < 0)
			return -1;
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
	free(s);
}
