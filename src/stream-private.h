/*
 * stream-private.h: what the stream variants (stream-tcp.c, stream-tls.c)
 * and conn.c share: deadline-bounded waiting on the fd and the TLS
 * upgrade entry point. Not part of any public contract.
 */
#ifndef POPFETCH_STREAM_PRIVATE_H
#define POPFETCH_STREAM_PRIVATE_H

#include <stdbool.h>

#include <openssl/ssl.h>

#include "popfetch/err.h"
#include "popfetch/stream.h"

/* The TLS state behind stream->impl. */
struct stream_tls {
	SSL_CTX *ctx;
	SSL *ssl;
	bool verified; /* chain and name verified, or the pin matched */
};

/*
 * Monotonic deadline timeout_ms from now, in milliseconds; timeout_ms <= 0
 * means no deadline (returns -1).
 */
long long stream_deadline(int timeout_ms);

/*
 * The deadline of one read or write on s: timeout_ms from now, or the
 * response deadline when that comes sooner (-1: none).
 */
long long stream_io_deadline(const struct stream *s);

/*
 * Wait until fd is ready for events (POLLIN/POLLOUT), an error or hang-up
 * is pending, or the deadline passes; EINTR restarts with the time left.
 * timeout_ms only words the message. Returns 0, or -1 with PF_ETEMP
 * "timed out after N seconds waiting for the server".
 */
int stream_wait(int fd, short events, long long deadline, int timeout_ms,
    struct pf_err *err);

/*
 * Format timeout_ms as seconds ("60", "0.5") into buf for messages.
 * Returns buf.
 */
const char *stream_seconds(int timeout_ms, char *buf, size_t bufsz);

/*
 * Run the client handshake of ssl (configured, fd already set) on fd
 * within timeout_ms overall, so a silent peer cannot stall us. Returns 0,
 * or -1 with *sslerr = SSL_get_error() and errno kept for the caller to
 * classify (ssl is left for inspection), or *sslerr = 0 and err filled
 * with PF_ETEMP on a timeout.
 */
int stream_tls_handshake(
    int fd, SSL *ssl, int timeout_ms, int *sslerr, struct pf_err *err);

/*
 * Turn the plain stream s into a TLS stream in place (ops and impl), so
 * STARTTLS keeps the caller's pointer. s owns ctx and ssl from now on.
 */
void stream_tls_attach(struct stream *s, SSL_CTX *ctx, SSL *ssl, bool verified);

#endif
