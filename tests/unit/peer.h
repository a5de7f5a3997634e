/*
 * peer.h: the scripted peer of the unit tests and the session fuzzer: a
 * server played in memory behind a struct stream, with no socket, no
 * thread and no timing.
 *
 * A script is a list of steps. Each step names the bytes the client must
 * have written (exactly; or PEER_ANY_LINE for any one line), then the
 * bytes the peer releases to the client; a step with no client bytes
 * releases at once. Reads hand out released bytes in chunks of a chosen
 * size, so every split of a reply can be reached; with nothing released,
 * a read is a clean EOF (the server closed). After the script, a line
 * handler can take over for peers that compute their answers (SASL).
 */
#ifndef POPFETCH_TEST_PEER_H
#define POPFETCH_TEST_PEER_H

#include <stdbool.h>
#include <stddef.h>

#include "popfetch/stream.h"

/* As a step's client: any one line the client writes. */
extern const char PEER_ANY_LINE[];

struct peer_step {
	const char *client; /* bytes the client must write first, or NULL */
	const char *server; /* bytes then released, or NULL */
	size_t serverlen;   /* 0: strlen(server) */
};

struct peer;

/*
 * Called with each line (CRLF removed) the client writes after the
 * script; answers with peer_send(). Returns 0, or -1 to mark the peer
 * failed (peer_done() then says why).
 */
typedef int (*peer_line_fn)(
    struct peer *pe, const char *line, size_t len, void *arg);

/* A peer playing steps[0..nsteps) (copied by reference: keep them),
 * handing out at most chunk bytes per read. Steps without client bytes
 * at the start are released at once. */
struct peer *peer_new(
    const struct peer_step *steps, size_t nsteps, size_t chunk);

/* A stream over pe for the code under test (it owns the stream, and
 * stream_close() leaves pe alone). */
struct stream *peer_stream(struct peer *pe);

/* Release bytes to the client now. */
void peer_send(struct peer *pe, const void *buf, size_t len);
/* Release a line, adding CRLF. */
void peer_line(struct peer *pe, const char *line);

/* Take over after the script with fn. */
void peer_set_handler(struct peer *pe, peer_line_fn fn, void *arg);
/* Make stream_pending() say bytes are buffered below (as TLS may). */
void peer_set_pending(struct peer *pe, bool on);
/* After the released bytes, hand out byte forever instead of EOF. */
void peer_set_endless(struct peer *pe, char byte);
/* After the released bytes, fail the read instead of EOF. */
void peer_set_fail_at_end(struct peer *pe);
/* The first read hands out at most n bytes. */
void peer_set_first_chunk(struct peer *pe, size_t n);

/*
 * True when the script was played out exactly: every step reached, the
 * client wrote nothing unexpected and nothing after the script (unless a
 * handler took it). Otherwise false, and *why (may be NULL) says what.
 */
bool peer_done(const struct peer *pe, const char **why);

/* True once the client wrote something the script did not expect. */
bool peer_failed(const struct peer *pe);

/* Everything the client wrote, NUL-terminated; *len (may be NULL) gets
 * its length. */
const char *peer_written(const struct peer *pe, size_t *len);

/* Released bytes the client has read. */
size_t peer_consumed(const struct peer *pe);

/* How many reads the client made, and how many bytes it had written at
 * the i-th read (i < 64). */
unsigned peer_reads(const struct peer *pe);
size_t peer_written_at_read(const struct peer *pe, unsigned i);

void peer_free(struct peer *pe);

#endif
