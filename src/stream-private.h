/*
 * stream-private.h: what the stream variants (stream-tcp.c, stream-tls.c,
 * stream-child.c) and conn.c share: deadline-bounded waiting on the fd,
 * the TLS upgrade entry point and the tunnel command's bookkeeping. Not
 * part of any public contract.
 */
#ifndef POPFETCH_STREAM_PRIVATE_H
#define POPFETCH_STREAM_PRIVATE_H

#include <sys/types.h>

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "popfetch/err.h"
#include "popfetch/stream.h"

/* The TLS state behind stream->impl. */
struct stream_tls {
	SSL_CTX *ctx;
	SSL *ssl;
	bool verified; /* chain and name verified, or the pin matched */
	/* The session and the SHA-256 of the server's certificate at the
	 * handshake: a renegotiation the server starts may not change the
	 * certificate (docs/faults.md #73). */
	const SSL_SESSION *sess;
	unsigned char cert_md[32];
	bool have_cert_md;
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
 * Like stream_wait() on s->fd under s->timeout_ms, but while waiting also
 * drain the stderr of a tunnel command behind s, so a chatty command can
 * never block on a full pipe while we wait for it.
 */
int stream_wait_io(
    struct stream *s, short events, long long deadline, struct pf_err *err);

/* OpenSSL's reason for the newest queued error, never NULL. */
const char *stream_tls_reason(void);

/*
 * Run the client handshake of ssl (configured, s->fd already set) within
 * timeout_ms overall, so a silent peer cannot stall us. Returns 0, or -1
 * with *sslerr = SSL_get_error() and errno kept for the caller to
 * classify (ssl is left for inspection), or *sslerr = 0 and err filled
 * with PF_ETEMP on a timeout.
 */
int stream_tls_handshake(struct stream *s, SSL *ssl, int timeout_ms,
    int *sslerr, struct pf_err *err);

/*
 * Turn the plain stream s into a TLS stream in place (ops and impl), so
 * STARTTLS keeps the caller's pointer. s owns ctx and ssl from now on.
 */
void stream_tls_attach(struct stream *s, SSL_CTX *ctx, SSL *ssl, bool verified);

/* The last bytes of a tunnel command's stderr that are kept. */
#define STREAM_CHILD_ERR_MAX	   2048
/* How long a command gets after SIGTERM before SIGKILL. */
#define STREAM_CHILD_GRACE_MS	   2000
/* How long EOF, or an error, waits for the command to exit, to say why;
 * a timeout (the command still running) is an error too, so keep it short */
#define STREAM_CHILD_EXIT_WAIT_MS  1000
#define STREAM_CHILD_ERROR_WAIT_MS 100

/* A tunnel command (stream-child.c), owned by the stream over it. */
struct stream_child {
	pid_t pid; /* leader of its own session and process group */
	int errfd; /* non-blocking read end of its stderr; -1 after EOF */
	char errbuf[STREAM_CHILD_ERR_MAX]; /* the last bytes it wrote there */
	size_t errlen;
	bool errcut; /* earlier stderr output was dropped */
	bool exited; /* it has exited; not reaped until stream_child_end() */
	int code;    /* CLD_EXITED, CLD_KILLED or CLD_DUMPED */
	int status;  /* exit status or signal number */
};

/*
 * Start command (sh -c) with one end of a new socketpair as its stdin and
 * stdout and a pipe as its stderr. *fd gets our end (close-on-exec).
 * Returns the new child record, or NULL with PF_ETEMP.
 */
struct stream_child *stream_child_start(
    const char *command, int *fd, struct pf_err *err);

/* The fd to poll for the command's stderr, or -1. */
int stream_child_errfd(const struct stream_child *c);

/* Read what the command wrote to stderr (bounded work per call). */
void stream_child_drain(struct stream_child *c);

/*
 * When the command has exited (waiting up to wait_ms) and failed or
 * wrote to stderr, fill err with PF_ETEMP saying how, with its last
 * stderr line, and return true.
 */
bool stream_child_explain(
    struct stream_child *c, int wait_ms, struct pf_err *err);

/*
 * End the command: SIGTERM to its process group, then SIGKILL to what is
 * left of the group once the command exits or STREAM_CHILD_GRACE_MS
 * passes; reap it, log its stderr at debug level and free c. NULL is fine.
 */
void stream_child_end(struct stream_child *c);

#endif
