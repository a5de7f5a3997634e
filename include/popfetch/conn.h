/*
 * conn.h: open a connection to a POP3 server: name resolution, a
 * non-blocking connect to each address under a deadline, and TLS (implicit
 * or as a STARTTLS upgrade) with certificate and host-name verification.
 */
#ifndef POPFETCH_CONN_H
#define POPFETCH_CONN_H

#include <stdbool.h>

#include "popfetch/err.h"
#include "popfetch/stream.h"

enum conn_tls_mode {
	CONN_TLS_IMPLICIT, /* TLS from the first byte (port 995); default */
	CONN_TLS_STARTTLS, /* plain connect, then STLS; mandatory */
	CONN_TLS_NONE,	   /* no TLS at all */
};

struct conn_params {
	const char *host;
	const char *port; /* service name or number */
	int family;	  /* AF_UNSPEC, AF_INET or AF_INET6 */
	int timeout_ms;	  /* connect deadline per address; I/O waits */
	enum conn_tls_mode tls;
	const char *ca_file;	 /* extra trust anchors; NULL: system store */
	const char *fingerprint; /* SHA-256 pin, hex, colons optional */
	int tls_min;		 /* 12 or 13: minimum TLS 1.2 / 1.3 */
	const char *cert_file;	 /* client certificate (PEM), or NULL */
	const char *key_file;	 /* its key, or NULL (then in cert_file) */
	bool insecure;		 /* skip verification (caller warns) */
	/*
	 * The name to verify the certificate against and send as SNI, when
	 * it differs from host (tests connect to 127.0.0.1 but check
	 * "a.b.test"); NULL: host. Added by the conn module.
	 */
	const char *verify_name;
};

/* What --serverinfo shows about the TLS session. */
struct conn_tls_info {
	char version[32]; /* "TLSv1.3" */
	char cipher[80];
	char subject[256]; /* sanitized one-line DN */
	char issuer[256];
	char not_before[64]; /* "Nov 26 19:13:36 2026 GMT" */
	char not_after[64];
	char sha256[100]; /* "AB:CD:..." upper-case hex, 32 octets */
	bool verified;	  /* chain + host name verified (or pin matched) */
};

/*
 * Resolve p->host and connect to each address in turn, each under
 * p->timeout_ms. With CONN_TLS_IMPLICIT, also run the TLS handshake and
 * verification. Returns a stream owned by the caller, or NULL with err:
 * PF_ETEMP (resolution, refused, unreachable, timeout), PF_ENOPERM
 * (certificate rejected, pin mismatch, TLS version or handshake refused),
 * PF_ECONFIG (unreadable CA file, client certificate or key), PF_EUSAGE
 * (malformed fingerprint).
 */
struct stream *conn_open(const struct conn_params *p, struct pf_err *err);

/*
 * Upgrade a plain stream to TLS in place (after "+OK" to STLS). The
 * caller has checked that nothing else was received. Same verification
 * and errors as conn_open(). Returns 0 or -1.
 */
int conn_starttls(
    struct stream *s, const struct conn_params *p, struct pf_err *err);

/* Describe the TLS session of s. Returns 0, or -1 when s is not TLS. */
int conn_tls_info(const struct stream *s, struct conn_tls_info *out);

/*
 * Normalise a SHA-256 fingerprint ("ab:CD..." or "abcd...") into 64
 * lower-case hex digits plus NUL in out[65]. Returns 0, or -1 when it is
 * not 32 octets of hex.
 */
int conn_parse_fingerprint(const char *in, char out[65]);

#endif
