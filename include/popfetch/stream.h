/*
 * stream.h: a byte stream with read(2)/write(2) semantics over a
 * non-blocking socket, plain TCP or TLS. The protocol code sees only this
 * interface, never an fd or an SSL object. STARTTLS replaces ops in place.
 * The socket may also be one end of a socketpair whose other end is the
 * stdin and stdout of a tunnel command (stream_tunnel_new()).
 */
#ifndef POPFETCH_STREAM_H
#define POPFETCH_STREAM_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "popfetch/err.h"

struct stream;
struct stream_child;

struct stream_ops {
	/* >0 bytes read, 0 clean EOF, -1 error (err filled) */
	ssize_t (*read)(
	    struct stream *s, void *buf, size_t len, struct pf_err *err);
	/* >0 bytes written (maybe fewer than len), -1 error (err filled) */
	ssize_t (*write)(
	    struct stream *s, const void *buf, size_t len, struct pf_err *err);
	/* Release impl (not fd, not s). */
	void (*close)(struct stream *s);
	/* True when bytes are buffered inside the layer (TLS records). */
	bool (*pending)(const struct stream *s);
};

struct stream {
	const struct stream_ops *ops;
	int fd;		/* non-blocking, O_CLOEXEC */
	void *impl;	/* NULL for plain TCP; the TLS state otherwise */
	int timeout_ms; /* longest wait for any progress in read or write */
	long long resp_deadline; /* monotonic ms by which the response being
				    read must be complete; 0: none */
	unsigned long long bytes_in, bytes_out; /* application bytes */
	/* The tunnel command behind fd, or NULL. Kept here, not in impl, so
	 * a TLS upgrade in place (which replaces ops and impl) keeps it. */
	struct stream_child *child;
};

/*
 * Wrap a connected socket (made non-blocking and close-on-exec here) as a
 * plain stream. Takes ownership of fd. Never fails (xmalloc).
 */
struct stream *stream_tcp_new(int fd, int timeout_ms);

/*
 * Run command with /bin/sh -c in a session of its own, its stdin and
 * stdout one end of a socketpair, its stderr a pipe that is drained (the
 * last 2 KiB kept) whenever the stream waits. Returns a plain stream over
 * the other end; the stream owns the command: stream_close() ends it
 * (SIGTERM to its process group, SIGKILL after two seconds) and reaps it.
 * When the command has failed (exited non-zero, was killed, or wrote to
 * stderr and exited), a read or write that meets EOF or an error fails
 * with PF_ETEMP "tunnel command exited with status N: LAST STDERR LINE".
 * Returns NULL with PF_ETEMP when it cannot be started.
 */
struct stream *stream_tunnel_new(
    const char *command, int timeout_ms, struct pf_err *err);

/*
 * When s runs over a tunnel command that has failed (waiting up to
 * wait_ms for it to exit), put that in err as above and return true; else
 * false and err is untouched. For callers that read the fd themselves
 * (the TLS handshake).
 */
bool stream_tunnel_failed(struct stream *s, int wait_ms, struct pf_err *err);

/*
 * Connect to the Unix-domain stream socket at path, waiting at most
 * timeout_ms, and wrap it as a plain stream (stream-unix.c). Returns the
 * stream, or NULL with err: PF_ETEMP (no such socket, refused, timeout),
 * PF_EUSAGE (path empty or too long for a socket address).
 */
struct stream *stream_unix_open(
    const char *path, int timeout_ms, struct pf_err *err);

/*
 * Read at most len bytes, waiting up to s->timeout_ms for at least one.
 * Returns >0, 0 on clean EOF, -1 on error. Errors: PF_ETEMP (timeout,
 * reset, I/O error), PF_EPROTO (TLS record layer broken by the peer).
 */
ssize_t stream_read(
    struct stream *s, void *buf, size_t len, struct pf_err *err);

/*
 * Write all len bytes; each wait for progress is bounded by
 * s->timeout_ms. Returns 0 or -1 (PF_ETEMP, PF_EPROTO).
 */
int stream_write_all(
    struct stream *s, const void *buf, size_t len, struct pf_err *err);

/*
 * Bound the whole response being read (not only each wait): it must be
 * complete within timeout_ms + extra_ms from now, so a server that drips
 * a byte just inside every timeout still fails. extra_ms < 0 removes the
 * bound. Used by pop3_reply() for status lines and by the fetch for
 * message bodies (with an allowance for their size).
 */
void stream_set_response_deadline(struct stream *s, long long extra_ms);

/*
 * Once *flag (set by a signal handler) is non-zero, no wait for the
 * server, of any stream, lasts longer than grace_ms (a wait under way is
 * cut short): PF_ETEMP "stopped by a signal ...". With fetch.c's rate
 * check on bodies after a stop, a server that drips a body cannot hold a
 * stopping run (docs/faults.md #71).
 */
void stream_stop_on(volatile sig_atomic_t *flag, int grace_ms);

/* True when a read would return data without touching the socket. */
bool stream_pending(const struct stream *s);

/* True when the stream is TLS-protected. */
bool stream_is_tls(const struct stream *s);

/*
 * Close and free the stream (TLS: a close_notify is attempted without
 * waiting); a tunnel command is ended and reaped. NULL is fine.
 */
void stream_close(struct stream *s);

#endif
