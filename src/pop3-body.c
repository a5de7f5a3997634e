/*
 * pop3-body.c: the multi-line body decoder. It turns CRLF (or a bare LF)
 * into LF, removes the stuffed leading dot and finds the terminating "."
 * line across any chunk boundary, copying whole line runs with memcpy.
 */
#include <string.h>

#include "popfetch/pop3.h"

enum {
	US_BOL,	   /* at the start of a line */
	US_MID,	   /* inside a line */
	US_CR,	   /* inside a line, a CR ended the last chunk (held) */
	US_DOT,	   /* a line started with '.' */
	US_DOT_CR, /* a line started with ".\r" (both held) */
	US_DONE,   /* the terminator was consumed */
};

/* Every body starts at the beginning of a line. */
void
pop3_unstuff_init(struct pop3_unstuff *u)
{
	u->state = US_BOL;
}

/* State lives in u, so the terminator is found across any split. */
size_t
pop3_unstuff(struct pop3_unstuff *u, const char *in, size_t inlen, char *out,
    size_t *outlen, bool *done)
{
	size_t i = 0, o = 0, n;
	const char *nl;

	*done = false;
	while (i < inlen) {
		switch (u->state) {
		case US_BOL:
			if (in[i] == '.') {
				i++;
				u->state = US_DOT;
			} else {
				u->state = US_MID;
			}
			break;
		case US_DOT:
		case US_DOT_CR:
			if (in[i] == '\n') { /* "." or ".\r" ends the body */
				i++;
				u->state = US_DONE;
				goto out;
			}
			if (u->state == US_DOT && in[i] == '\r') {
				i++;
				u->state = US_DOT_CR;
				break;
			}
			/* A stuffed line: the dot is gone; after ".\r", the
			 * CR was a bare CR of the line. */
			if (u->state == US_DOT_CR)
				out[o++] = '\r';
			u->state = US_MID;
			break;
		case US_CR:
			if (in[i] == '\n') {
				i++;
				out[o++] = '\n';
				u->state = US_BOL;
			} else {
				out[o++] = '\r';
				u->state = US_MID;
			}
			break;
		case US_MID:
			/* The hot path: one memchr and one memcpy per line. */
			nl = memchr(in + i, '\n', inlen - i);
			if (nl == NULL) {
				n = inlen - i;
				if (in[inlen - 1] == '\r') {
					n--;
					u->state = US_CR;
				}
				memcpy(out + o, in + i, n);
				o += n;
				i = inlen;
				break;
			}
			n = (size_t)(nl - (in + i));
			memcpy(out + o, in + i, n);
			o += n;
			i += n + 1;
			if (n > 0 && out[o - 1] == '\r')
				o--;
			out[o++] = '\n';
			u->state = US_BOL;
			break;
		default:
			goto out;
		}
	}
out:
	if (u->state == US_DONE)
		*done = true;
	*outlen = o;
	return i;
}
