/*
 * conn.h: open a connection to a POP3 server: name resolution, a
 * non-blocking connect to each address under a deadline (directly, from a
 * chosen source address, through a SOCKS5 or HTTP CONNECT proxy, or over
 * the stdin and stdout of a tunnel command), and TLS (implicit or as a
 * STARTTLS upgrade) with certificate and host-name verification against
 * the server's name, whatever the path.
 */
#ifndef POPFETCH_CONN_H
#define POPFETCH_CONN_H

#include <stdbool.h>
#include <stddef.h>

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
	/*
	 * Reach (round two). All NULL: connect directly. proxy and tunnel
	 * exclude each other; source_address does not apply to a tunnel.
	 */
	const char *proxy;	    /* "socks5://[USER@]HOST[:PORT]" (names
				       resolved here), "socks5h://..." (by the
				       proxy: no DNS lookup of host here), or
				       "http://[USER@]HOST:PORT" (CONNECT) */
	const char *proxy_password; /* a secret: the proxy user's password */
	const char *tunnel;	    /* sh -c command reaching the server on
				       its stdin/stdout; %h, %p, %% expand */
	const char *source_address; /* numeric local address to bind to */
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
	bool verify_ok;	  /* the chain and name check passed, enforced or not */
	char verify_error[128]; /* why it did not pass; "" when it did */
};

/*
 * Resolve p->host and connect to each address in turn, each under
 * p->timeout_ms, or reach it through p->proxy or p->tunnel. p->host may
 * be an IPv6 literal in brackets, and may carry a port ("[::1]:110",
 * "name:110") used when p->port is NULL. With CONN_TLS_IMPLICIT, also run
 * the TLS handshake and verification (IP literals: IP SANs, no SNI).
 * Returns a stream owned by the caller, or NULL with err: PF_ETEMP
 * (resolution, refused, unreachable, timeout, the proxy could not reach
 * the server, the tunnel command failed), PF_ENOPERM (certificate
 * rejected, pin mismatch, TLS version or handshake refused, proxy
 * authentication failed or its rules forbid the connection), PF_EUNAVAIL
 * (the proxy cannot CONNECT or handle the address type), PF_EPROTO (the
 * proxy broke its protocol), PF_ECONFIG (unreadable CA file, client
 * certificate or key; bad proxy URL or tunnel command; proxy and tunnel
 * together), PF_EUSAGE (malformed fingerprint).
 */
struct stream *conn_open(const struct conn_params *p, struct pf_err *err);

/*
 * Upgrade a plain stream to TLS in place (after "+OK" to STLS). The
 * caller has checked that nothing else was received. Same verification
 * and errors as conn_open(). Returns 0 or -1.
 */
int conn_starttls(
    struct stream *s, const struct conn_params *p, struct pf_err *err);

/*
 * TLS contexts are built once per distinct TLS setup (ca_file, cert_file,
 * key_file, tls_min) and shared by every later connection of the process.
 * conn_tls_prepare() builds the one for p now (nothing for
 * CONN_TLS_NONE), so that -j workers forked afterwards share it; it
 * returns 0, or -1 with the error conn_open() would report.
 * conn_tls_contexts() counts the contexts built and cached, and
 * conn_tls_anchors() the CA certificates their trust stores hold so far
 * (system CAs are loaded one by one as chains need them);
 * conn_tls_cache_free() frees them (at exit).
 */
int conn_tls_prepare(const struct conn_params *p, struct pf_err *err);
size_t conn_tls_contexts(void);
size_t conn_tls_anchors(void);
void conn_tls_cache_free(void);

/* Describe the TLS session of s. Returns 0, or -1 when s is not TLS. */
int conn_tls_info(const struct stream *s, struct conn_tls_info *out);

/* True when s is TLS and its peer was checked: the chain and host name
 * verified, or the pinned fingerprint matched (not --insecure). */
bool conn_tls_verified(const struct stream *s);

/*
 * Normalise a SHA-256 fingerprint ("ab:CD..." or "abcd...") into 64
 * lower-case hex digits plus NUL in out[65]. Returns 0, or -1 when it is
 * not 32 octets of hex.
 */
int conn_parse_fingerprint(const char *in, char out[65]);

/*
 * Split a server given as "NAME", "NAME:PORT", "ADDRESS", "[ADDRESS]" or
 * "[ADDRESS]:PORT" (an IPv6 address with more than one colon and no
 * brackets has no port: "::1") into host, without brackets, and port (""
 * when none). Returns 0, or -1 when it has none of these forms or does
 * not fit.
 */
int conn_parse_host(
    const char *in, char *host, size_t hostsz, char *port, size_t portsz);

/*
 * Check a numeric IPv4 or IPv6 address, brackets allowed, and copy it
 * without brackets into out. Returns 0, or -1 when it is not one.
 */
int conn_parse_address(const char *in, char *out, size_t outsz);

/*
 * Expand a tunnel command: %h and %p become the host and port as single
 * quoted shell words, %% a literal %. Returns a new string, or NULL with
 * PF_ECONFIG for any other %-sequence.
 */
char *conn_tunnel_command(
    const char *tmpl, const char *host, const char *port, struct pf_err *err);

#endif
