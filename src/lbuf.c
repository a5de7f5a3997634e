/*
 * lbuf.c: the receive buffer of a connection, handing out bounded response
 * lines and raw body bytes from the same storage.
 */
#include <stdlib.h>
#include <string.h>

#include "popfetch/lbuf.h"
#include "popfetch/xmalloc.h"

/* The capacity is fixed so a hostile server cannot grow memory. */
void
lbuf_init(struct lbuf *lb, size_t cap, size_t maxline)
{
	/* A full line plus its CRLF must always fit. */
	if (cap < maxline + 2)
		cap = maxline + 2;
	lb->buf = xmalloc(cap);
	lb->off = 0;
	lb->len = 0;
	lb->cap = cap;
	lb->maxline = maxline;
}

/* Release the storage; the struct may be reused. */
void
lbuf_free(struct lbuf *lb)
{
	free(lb->buf);
	lb->buf = NULL;
	lb->off = lb->len = lb->cap = 0;
}

/* Compact first so the free space is always one contiguous run. */
ssize_t
lbuf_fill(struct lbuf *lb, struct stream *s, struct pf_err *err)
{
	ssize_t n;

	if (lb->off > 0) {
		if (lb->len > 0)
			memmove(lb->buf, lb->buf + lb->off, lb->len);
		lb->off = 0;
	}
	if (lb->len >= lb->cap)
		return pf_err_set(err, PF_ESOFTWARE, "receive buffer full");
	n = stream_read(s, lb->buf + lb->len, lb->cap - lb->len, err);
	if (n > 0)
		lb->len += (size_t)n;
	return n;
}

/* Drop bytes the body decoder has used. */
void
lbuf_consume(struct lbuf *lb, size_t n)
{
	if (n >= lb->len) {
		/* Empty: restart at the front so fills need no memmove. */
		lb->off = 0;
		lb->len = 0;
		return;
	}
	lb->off += n;
	lb->len -= n;
}

/* Bounded lines: an endless line must fail, not grow memory. */
int
lbuf_getline(struct lbuf *lb, struct stream *s, char **line, size_t *len,
    struct pf_err *err)
{
	size_t scanned = 0, n;
	ssize_t r;
	char *start, *nl;

	for (;;) {
		start = lb->buf + lb->off;
		if (lb->len > scanned) {
			nl = memchr(start + scanned, '\n', lb->len - scanned);
			if (nl != NULL)
				break;
			scanned = lb->len;
		}
		/* maxline bytes plus a CR may still end well. */
		if (lb->len > lb->maxline + 1)
			return pf_err_set(err, PF_EPROTO, "line too long");
		r = lbuf_fill(lb, s, err);
		if (r < 0)
			return -1;
		if (r == 0) {
			if (lb->len == 0)
				return 0;
			return pf_err_set(
			    err, PF_ETEMP, "connection closed by the server");
		}
	}
	n = (size_t)(nl - start);
	lbuf_consume(lb, n + 1);
	if (n > 0 && start[n - 1] == '\r')
		n--;
	if (n > lb->maxline)
		return pf_err_set(err, PF_EPROTO, "line too long");
	if (memchr(start, '\0', n) != NULL)
		return pf_err_set(err, PF_EPROTO, "NUL byte in a line");
	start[n] = '\0';
	*line = start;
	*len = n;
	return 1;
}
