/* peer.c: the scripted in-memory peer (see peer.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peer.h"

const char PEER_ANY_LINE[] = "<any line>";

#define PEER_READS_KEPT 64

struct peer {
	const struct peer_step *steps;
	size_t nsteps, next;
	char *in; /* released to the client */
	size_t inlen, incap, pos, chunk, first;
	char *out; /* written by the client */
	size_t outlen, outcap, matched;
	peer_line_fn fn;
	void *arg;
	bool bad, pending, endless, fail_at_end;
	char endless_byte;
	char why[200];
	size_t at_read[PEER_READS_KEPT];
	unsigned nreads;
};

/* The stream handed out; freed by stream_close(), pe stays. */
struct peer_stream {
	struct stream s; /* first: a struct stream * is one of these */
	struct peer *pe;
};

/* Grow a buffer to hold need bytes. */
static void
grow(char **buf, size_t *cap, size_t need)
{
	if (*cap >= need)
		return;
	*cap = need * 2;
	if ((*buf = realloc(*buf, *cap)) == NULL)
		abort();
}

/* Remember the first thing that went wrong. */
static void fail(struct peer *pe, const char *fmt, ...) PF_PRINTF(2, 3);
static void
fail(struct peer *pe, const char *fmt, ...)
{
	va_list ap;

	if (pe->bad)
		return;
	pe->bad = true;
	va_start(ap, fmt);
	vsnprintf(pe->why, sizeof(pe->why), fmt, ap);
	va_end(ap);
}

void
peer_send(struct peer *pe, const void *buf, size_t len)
{
	grow(&pe->in, &pe->incap, pe->inlen + len + 1);
	memcpy(pe->in + pe->inlen, buf, len);
	pe->inlen += len;
}

void
peer_line(struct peer *pe, const char *line)
{
	peer_send(pe, line, strlen(line));
	peer_send(pe, "\r\n", 2);
}

/* Does the unmatched output start with step st's client bytes? 1 yes
 * (*n gets their length), 0 not yet complete, -1 never. */
static int
step_matches(struct peer *pe, const struct peer_step *st, size_t *n)
{
	const char *have = pe->out + pe->matched;
	size_t hlen = pe->outlen - pe->matched, clen;
	const char *nl;

	if (st->client == PEER_ANY_LINE) {
		if ((nl = memchr(have, '\n', hlen)) == NULL)
			return 0;
		*n = (size_t)(nl - have) + 1;
		return 1;
	}
	clen = strlen(st->client);
	if (memcmp(have, st->client, hlen < clen ? hlen : clen) != 0)
		return -1;
	if (hlen < clen)
		return 0;
	*n = clen;
	return 1;
}

/* Hand the complete lines after the script to the handler. */
static void
run_handler(struct peer *pe)
{
	const char *nl, *start;
	char *line;
	size_t len;

	while (!pe->bad &&
	    (nl = memchr(pe->out + pe->matched, '\n',
		 pe->outlen - pe->matched)) != NULL) {
		start = pe->out + pe->matched;
		len = (size_t)(nl - start);
		pe->matched += len + 1;
		if (len > 0 && start[len - 1] == '\r')
			len--;
		if ((line = malloc(len + 1)) == NULL)
			abort();
		memcpy(line, start, len);
		line[len] = '\0';
		if (pe->fn(pe, line, len, pe->arg) == -1)
			fail(pe, "the line handler refused '%.60s'", line);
		free(line);
	}
}

/* Release the answers of every step whose client bytes were written. */
static void
advance(struct peer *pe)
{
	size_t n = 0;
	int m;

	while (!pe->bad && pe->next < pe->nsteps) {
		const struct peer_step *st = &pe->steps[pe->next];

		if (st->client != NULL) {
			if ((m = step_matches(pe, st, &n)) == 0)
				return;
			if (m == -1) {
				fail(pe,
				    "step %zu: expected '%.60s', got "
				    "'%.60s'",
				    pe->next, st->client,
				    pe->out + pe->matched);
				return;
			}
			pe->matched += n;
		}
		if (st->server != NULL)
			peer_send(pe, st->server,
			    st->serverlen > 0 ? st->serverlen
					      : strlen(st->server));
		pe->next++;
	}
	if (pe->fn != NULL)
		run_handler(pe);
	else if (pe->outlen > pe->matched)
		fail(pe, "unexpected '%.60s' after the script",
		    pe->out + pe->matched);
}

static ssize_t
peer_read(struct stream *s, void *buf, size_t len, struct pf_err *err)
{
	struct peer *pe = ((struct peer_stream *)s)->pe;
	size_t n = pe->inlen - pe->pos;

	if (pe->nreads < PEER_READS_KEPT)
		pe->at_read[pe->nreads] = pe->outlen;
	pe->nreads++;
	if (n == 0 && pe->endless) {
		n = len < pe->chunk ? len : pe->chunk;
		memset(buf, pe->endless_byte, n);
		return (ssize_t)n;
	}
	if (n == 0 && pe->fail_at_end)
		return pf_err_set(err, PF_ETEMP, "peer: connection reset");
	if (n > pe->chunk)
		n = pe->chunk;
	if (pe->first > 0) {
		if (n > pe->first)
			n = pe->first;
		pe->first = 0;
	}
	if (n > len)
		n = len;
	if (n == 0)
		return 0; /* the server closed */
	memcpy(buf, pe->in + pe->pos, n);
	pe->pos += n;
	return (ssize_t)n;
}

static ssize_t
peer_write(struct stream *s, const void *buf, size_t len, struct pf_err *err)
{
	struct peer *pe = ((struct peer_stream *)s)->pe;

	(void)err;
	grow(&pe->out, &pe->outcap, pe->outlen + len + 1);
	memcpy(pe->out + pe->outlen, buf, len);
	pe->outlen += len;
	pe->out[pe->outlen] = '\0';
	advance(pe);
	return (ssize_t)len;
}

static bool
peer_pending(const struct stream *s)
{
	return ((const struct peer_stream *)s)->pe->pending;
}

static const struct stream_ops peer_ops = {
    .read = peer_read,
    .write = peer_write,
    .close = NULL,
    .pending = peer_pending,
};

struct peer *
peer_new(const struct peer_step *steps, size_t nsteps, size_t chunk)
{
	struct peer *pe = calloc(1, sizeof(*pe));

	if (pe == NULL)
		abort();
	pe->steps = steps;
	pe->nsteps = nsteps;
	pe->chunk = chunk > 0 ? chunk : 1;
	grow(&pe->out, &pe->outcap, 1);
	pe->out[0] = '\0';
	advance(pe);
	return pe;
}

struct stream *
peer_stream(struct peer *pe)
{
	struct peer_stream *ps = calloc(1, sizeof(*ps));

	if (ps == NULL)
		abort();
	ps->s.ops = &peer_ops;
	ps->s.fd = -1;
	ps->pe = pe;
	return &ps->s;
}

void
peer_set_handler(struct peer *pe, peer_line_fn fn, void *arg)
{
	pe->fn = fn;
	pe->arg = arg;
}

void
peer_set_pending(struct peer *pe, bool on)
{
	pe->pending = on;
}

void
peer_set_endless(struct peer *pe, char byte)
{
	pe->endless = true;
	pe->endless_byte = byte;
}

void
peer_set_fail_at_end(struct peer *pe)
{
	pe->fail_at_end = true;
}

void
peer_set_first_chunk(struct peer *pe, size_t n)
{
	pe->first = n;
}

bool
peer_failed(const struct peer *pe)
{
	return pe->bad;
}

bool
peer_done(const struct peer *pe, const char **why)
{
	const char *w = NULL;

	if (pe->bad)
		w = pe->why;
	else if (pe->next < pe->nsteps)
		w = "the script was not played out";
	else if (pe->outlen > pe->matched)
		w = "the client wrote more than the script";
	if (why != NULL)
		*why = w != NULL ? w : "";
	return w == NULL;
}

const char *
peer_written(const struct peer *pe, size_t *len)
{
	if (len != NULL)
		*len = pe->outlen;
	return pe->out;
}

size_t
peer_consumed(const struct peer *pe)
{
	return pe->pos;
}

unsigned
peer_reads(const struct peer *pe)
{
	return pe->nreads;
}

size_t
peer_written_at_read(const struct peer *pe, unsigned i)
{
	return i < PEER_READS_KEPT ? pe->at_read[i] : 0;
}

void
peer_free(struct peer *pe)
{
	if (pe == NULL)
		return;
	free(pe->in);
	free(pe->out);
	free(pe);
}
