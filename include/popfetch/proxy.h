/*
 * proxy.h: the bytes popfetch exchanges with a proxy before POP3 starts:
 * the proxy URL, SOCKS5 (RFC 1928) with user name and password
 * authentication (RFC 1929), and HTTP CONNECT (RFC 9110 section 9.3.6)
 * with Basic authentication (RFC 7617). Pure functions over buffers, no
 * I/O and no allocation: the conn module reads and writes under its
 * deadlines; the unit tests and fuzz targets call these directly.
 *
 * The parsers measure a reply in a buffer that grows as bytes arrive:
 * they return the length of the complete reply once it is there, 0 while
 * more bytes are needed, or -1 as soon as the bytes seen so far refuse or
 * break the protocol. A reply never needs more than its _MAX bytes, so the
 * caller's buffer is bounded, and bytes after the reply (the POP3 greeting
 * may follow at once) are left for the caller.
 */
#ifndef POPFETCH_PROXY_H
#define POPFETCH_PROXY_H

#include <stdbool.h>
#include <stddef.h>

#include "popfetch/err.h"

enum proxy_kind {
	PROXY_SOCKS5,  /* socks5://: server names resolved by popfetch */
	PROXY_SOCKS5H, /* socks5h://: server names resolved by the proxy */
	PROXY_HTTP,    /* http://: HTTP CONNECT */
};

/* "socks5", "socks5h", "http", indexed by enum proxy_kind. */
extern const char *const proxy_kind_names[];

/* The longest SOCKS5 user name, password or host name (one length octet). */
#define PROXY_NAME_MAX 255

struct proxy_url {
	enum proxy_kind kind;
	char user[PROXY_NAME_MAX + 1]; /* %-escapes decoded; "" for none */
	char host[PROXY_NAME_MAX + 1]; /* without brackets */
	char port[6];		       /* decimal, 1..65535 */
};

/*
 * Split "NAME", "NAME:PORT", "ADDR", "[ADDR]" or "[ADDR]:PORT" into host
 * (brackets removed) and port ("" when none). Text with more than one
 * colon and no brackets is an IPv6 address without a port. The host must
 * be non-empty printable ASCII without spaces or any of "/\"'@[]\\"; a
 * port is 1..65535 in decimal. Shared by proxy URLs and conn_parse_host().
 * Returns 0, or -1 when in does not have that form or does not fit.
 */
int proxy_split_hostport(
    const char *in, char *host, size_t hostsz, char *port, size_t portsz);

/*
 * Parse "socks5://[USER@]HOST[:PORT]", "socks5h://..." (PORT defaults to
 * 1080) or "http://[USER@]HOST:PORT" (a trailing "/" is allowed). USER may
 * use %XX escapes. A password in the URL is refused: it would sit in
 * argv and config files; it comes from proxy_password_command. Returns 0,
 * or -1 with PF_ECONFIG.
 */
int proxy_parse_url(const char *url, struct proxy_url *out, struct pf_err *err);

/* --- SOCKS5 ------------------------------------------------------------ */

#define PROXY_SOCKS_GREETING_MAX 4
#define PROXY_SOCKS_AUTH_MAX	 (3 + 2 * PROXY_NAME_MAX)
#define PROXY_SOCKS_REQUEST_MAX	 (4 + 1 + PROXY_NAME_MAX + 2)
#define PROXY_SOCKS_REPLY_MAX	 (4 + 1 + PROXY_NAME_MAX + 2)

/* The replies of a SOCKS5 handshake, in order. */
enum proxy_socks_step {
	PROXY_SOCKS_METHOD,  /* method selection: VER METHOD */
	PROXY_SOCKS_AUTH,    /* RFC 1929 status: VER STATUS */
	PROXY_SOCKS_CONNECT, /* VER REP RSV ATYP BND.ADDR BND.PORT */
};

/*
 * The client greeting: "no authentication", plus "user name and
 * password" when auth. Returns its length.
 */
size_t proxy_socks_greeting(
    bool auth, unsigned char out[PROXY_SOCKS_GREETING_MAX]);

/*
 * The RFC 1929 request for user and pass (each at most 255 octets; the
 * user non-empty). It holds the password: the caller wipes out. Returns
 * its length, or 0 with PF_ECONFIG when a field does not fit.
 */
size_t proxy_socks_auth_request(const char *user, const char *pass,
    unsigned char out[PROXY_SOCKS_AUTH_MAX], struct pf_err *err);

/*
 * The CONNECT request for host (an IPv4 or IPv6 literal goes as an
 * address, anything else as a name of at most 255 octets) and port.
 * Returns its length, or 0 with PF_ECONFIG.
 */
size_t proxy_socks_connect_request(const char *host, const char *port,
    unsigned char out[PROXY_SOCKS_REQUEST_MAX], struct pf_err *err);

/*
 * Measure the reply to step in buf[0..len). auth_offered: the greeting
 * offered user name and password. *value gets the method, status or
 * reply code once it is known. Returns the reply's length when complete
 * and positive, 0 when more bytes are needed, or -1 with err: PF_ENOPERM
 * (no acceptable method, credentials rejected, not allowed by the
 * proxy's rules), PF_ETEMP (the proxy could not reach the server),
 * PF_EUNAVAIL (the proxy lacks CONNECT or the address type), PF_EPROTO
 * (not SOCKS5, malformed, unknown code). The message says what the proxy
 * said, for the caller to put after its own words.
 */
int proxy_socks_parse(enum proxy_socks_step step, bool auth_offered,
    const unsigned char *buf, size_t len, int *value, struct pf_err *err);

/*
 * What SOCKS5 reply code rep means and the error class popfetch gives it
 * (PF_OK for 0). Never NULL.
 */
const char *proxy_socks_reply_text(int rep, enum pf_errc *code);

/* --- HTTP CONNECT ------------------------------------------------------ */

#define PROXY_HTTP_REQUEST_MAX 2048
#define PROXY_HTTP_REPLY_MAX   16384 /* status line and header fields */

struct proxy_http_reply {
	int status;				 /* 100..599 */
	char reason[PF_SERVER_TEXT_MAX * 4 + 8]; /* sanitized */
};

/*
 * The CONNECT request for host:port (an IPv6 literal in brackets), with
 * "Proxy-Authorization: Basic" when user is non-empty (pass may be NULL
 * for an empty one). It holds the password: the caller wipes out.
 * Returns its length, or 0 with PF_ECONFIG (a field that does not fit, a
 * ':' in the user name, a control character).
 */
size_t proxy_http_request(const char *host, const char *port, const char *user,
    const char *pass, char out[PROXY_HTTP_REQUEST_MAX], struct pf_err *err);

/*
 * Measure the reply header in buf[0..len): "HTTP/1.x NNN reason", header
 * fields, an empty line (CRLF or bare LF). Returns its length when
 * complete (out filled), 0 when more bytes are needed, or -1 with
 * PF_EPROTO (not HTTP, a NUL byte, a bad status line, longer than
 * PROXY_HTTP_REPLY_MAX). Bytes after the header belong to the tunnel.
 */
int proxy_http_parse(const char *buf, size_t len, struct proxy_http_reply *out,
    struct pf_err *err);

/*
 * The error class of a CONNECT status: PF_OK for 2xx; PF_ENOPERM for
 * 401, 403, 407; PF_EUNAVAIL for 405, 501 and other 4xx; PF_ETEMP for
 * 408, 429 and other 5xx; PF_EPROTO for 1xx and 3xx.
 */
enum pf_errc proxy_http_errc(int status);

#endif
