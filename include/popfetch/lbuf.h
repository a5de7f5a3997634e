/*
 * lbuf.h: the receive buffer of a connection. It hands out response lines
 * (bounded in length) and, for message bodies, the raw bytes, so that bytes
 * after a response (pipelining) are never lost between the two uses.
 */
#ifndef POPFETCH_LBUF_H
#define POPFETCH_LBUF_H

#include <stddef.h>
#include <sys/types.h>

#include "popfetch/err.h"
#include "popfetch/stream.h"

#define LBUF_DEFAULT_SIZE (64 * 1024)
#define LBUF_MAX_LINE	  8192

struct lbuf {
	char *buf;	/* cap bytes */
	size_t off;	/* start of unread data */
	size_t len;	/* unread bytes at buf + off */
	size_t cap;	/* allocated size, fixed at init */
	size_t maxline; /* longest accepted line, without its CRLF */
};

/* Allocate a buffer of cap bytes (cap > maxline). Never fails. */
void lbuf_init(struct lbuf *lb, size_t cap, size_t maxline);

/* Free the buffer; the struct may be initialised again. */
void lbuf_free(struct lbuf *lb);

/*
 * Return the next line in *line (NUL-terminated, CRLF or bare LF removed;
 * a bare CR inside is kept) and its length in *len. The view stays valid
 * until the next call on lb. Returns 1 for a line, 0 for a clean EOF with
 * nothing buffered, -1 on error: PF_EPROTO for a line longer than maxline
 * ("line too long") or containing a NUL byte, PF_ETEMP for EOF in the
 * middle of a line ("connection closed") and the stream's own errors.
 */
int lbuf_getline(struct lbuf *lb, struct stream *s, char **line, size_t *len,
    struct pf_err *err);

/*
 * Read more bytes from s into the free space (compacting first). Returns
 * >0 bytes added, 0 on EOF, -1 on error. Used by the body decoder.
 */
ssize_t lbuf_fill(struct lbuf *lb, struct stream *s, struct pf_err *err);

/* Unread bytes: lbuf_data(lb)[0 .. lb->len). */
static inline const char *
lbuf_data(const struct lbuf *lb)
{
	return lb->buf + lb->off;
}

/* Drop n (<= lb->len) bytes from the front. */
void lbuf_consume(struct lbuf *lb, size_t n);

#endif
