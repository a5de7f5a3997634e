/*
 * stream-tls.c: the TLS stream. OpenSSL runs over the same non-blocking fd;
 * every call is tried first (records may already be buffered) and only a
 * WANT_READ/WANT_WRITE leads to a poll() under the stream's timeout.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "popfetch/stream.h"
#include "popfetch/xmalloc.h"
#include "stream-private.h"

const char *
stream_tls_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

	return r != NULL ? r : "unknown error";
}

/* True when the queued error is an EOF without close_notify. */
static bool
stream_tls_unexpected_eof(void)
{
	unsigned long e = ERR_peek_last_error();

	return e != 0 && ERR_GET_LIB(e) == ERR_LIB_SSL &&
	    ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
}

/*
 * Map one failed SSL_read/SSL_write: 1 to retry after waiting, 0 for EOF,
 * -1 for an error (err filled). what names the direction for messages.
 */
static int
stream_tls_failed(struct stream *s, int ret, long long deadline,
    const char *what, struct pf_err *err)
{
	struct stream_tls *t = s->impl;
	int saved = errno;
	int e = SSL_get_error(t->ssl, ret);
	int rv;

	switch (e) {
	case SSL_ERROR_WANT_READ:
		rv = stream_wait_io(s, POLLIN, deadline, err);
		return rv == 0 ? 1 : -1;
	case SSL_ERROR_WANT_WRITE:
		rv = stream_wait_io(s, POLLOUT, deadline, err);
		return rv == 0 ? 1 : -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		if (saved == 0 && ERR_peek_error() == 0)
			return 0;
		if (saved == EINTR)
			return 1;
		if (saved == 0) {
			pf_err_set(err, PF_ETEMP, "cannot %s the server: %s",
			    what, stream_tls_reason());
			ERR_clear_error();
			return -1;
		}
		errno = saved;
		return pf_err_sys(err, PF_ETEMP, "cannot %s the server", what);
	default:
		if (stream_tls_unexpected_eof()) {
			ERR_clear_error();
			return 0;
		}
		pf_err_set(err, PF_EPROTO, "cannot %s the server over TLS: %s",
		    what, stream_tls_reason());
		ERR_clear_error();
		return -1;
	}
}

/* SHA-256 of the server's certificate into md; false when there is none. */
static bool
stream_tls_cert_md(SSL *ssl, unsigned char md[32])
{
	X509 *x = SSL_get0_peer_certificate(ssl);
	unsigned int len = 0;

	return x != NULL && X509_digest(x, EVP_sha256(), md, &len) == 1 &&
	    len == 32;
}

/*
 * The server may renegotiate (TLS 1.2, RFC 5746 only: OpenSSL refuses
 * legacy renegotiation), but must show the same certificate: a pin or an
 * earlier check must not be bypassed by a new one. Checked whenever the
 * session changed, before any byte of it is passed on.
 */
static int
stream_tls_same_cert(struct stream_tls *t, struct pf_err *err)
{
	unsigned char md[32];

	if (SSL_get_session(t->ssl) == t->sess)
		return 0;
	if (stream_tls_cert_md(t->ssl, md) != t->have_cert_md ||
	    (t->have_cert_md && memcmp(md, t->cert_md, sizeof(md)) != 0))
		return pf_err_set(err, PF_EPROTO,
		    "the server changed its certificate in a TLS "
		    "renegotiation");
	t->sess = SSL_get_session(t->ssl);
	return 0;
}

/*
 * One SSL_read (out false) or SSL_write (out true), retried after waiting,
 * as stream_tcp_io() does for plain TCP.
 * A read returns 0 for close_notify and for a bare TCP EOF alike; a write
 * sends at least one record's worth (partial writes are enabled) and takes
 * an EOF as an error.
 */
static ssize_t
stream_tls_io(
    struct stream *s, void *buf, size_t len, bool out, struct pf_err *err)
{
	struct stream_tls *t = s->impl;
	long long deadline = stream_io_deadline(s);
	int n, rv;

	if (len > INT_MAX)
		len = INT_MAX;
	for (;;) {
		ERR_clear_error();
		errno = 0;
		n = out ? SSL_write(t->ssl, buf, (int)len)
			: SSL_read(t->ssl, buf, (int)len);
		if (n > 0)
			return stream_tls_same_cert(t, err) == 0 ? n : -1;
		rv = stream_tls_failed(
		    s, n, deadline, out ? "write to" : "read from", err);
		if (rv == 0 && out)
			return pf_err_set(err, PF_ETEMP,
			    "cannot write to the server: connection closed");
		if (rv <= 0)
			return rv;
	}
}

/* Read decrypted bytes; 0 for close_notify and for a bare TCP EOF alike. */
static ssize_t
stream_tls_read(struct stream *s, void *buf, size_t len, struct pf_err *err)
{
	return stream_tls_io(s, buf, len, false, err);
}

/* Write at least one record's worth (partial writes are enabled). */
static ssize_t
stream_tls_write(
    struct stream *s, const void *buf, size_t len, struct pf_err *err)
{
	return stream_tls_io(s, (void *)(uintptr_t)buf, len, true, err);
}

/* Decrypted bytes waiting inside OpenSSL are invisible to poll(). */
static bool
stream_tls_pending(const struct stream *s)
{
	const struct stream_tls *t = s->impl;

	return SSL_pending(t->ssl) > 0;
}

/* Send close_notify once without waiting for the peer's, then free. */
static void
stream_tls_close(struct stream *s)
{
	struct stream_tls *t = s->impl;

	if (t == NULL)
		return;
	if (SSL_is_init_finished(t->ssl))
		(void)SSL_shutdown(t->ssl);
	ERR_clear_error();
	SSL_free(t->ssl);
	SSL_CTX_free(t->ctx);
	free(t);
	s->impl = NULL;
}

static const struct stream_ops stream_tls_ops = {
    .read = stream_tls_read,
    .write = stream_tls_write,
    .close = stream_tls_close,
    .pending = stream_tls_pending,
};

int
stream_tls_handshake(
    struct stream *s, SSL *ssl, int timeout_ms, int *sslerr, struct pf_err *err)
{
	long long deadline = stream_deadline(timeout_ms);
	int n, e, saved;

	*sslerr = 0;
	for (;;) {
		ERR_clear_error();
		errno = 0;
		n = SSL_connect(ssl);
		if (n == 1)
			return 0;
		saved = errno;
		e = SSL_get_error(ssl, n);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			if (stream_wait_io(s,
				e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
				deadline, err) == -1)
				return -1;
			continue;
		}
		if (e == SSL_ERROR_SYSCALL && saved == EINTR)
			continue;
		*sslerr = e;
		errno = saved;
		return -1;
	}
}

void
stream_tls_attach(struct stream *s, SSL_CTX *ctx, SSL *ssl, bool verified)
{
	struct stream_tls *t = xcalloc(1, sizeof(*t));

	t->ctx = ctx;
	t->ssl = ssl;
	t->verified = verified;
	t->sess = SSL_get_session(ssl);
	t->have_cert_md = stream_tls_cert_md(ssl, t->cert_md);
	s->impl = t;
	s->ops = &stream_tls_ops;
}
