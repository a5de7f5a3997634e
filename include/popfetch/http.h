/*
 * http.h: a minimal HTTP/1.1 client for OAuth token endpoints, and the
 * server half that the loopback redirect listener of the browser flow
 * needs (RFC 8252).
 *
 * The client runs over the project's own stream layer (conn.h): https
 * only, with the same certificate and host-name checks as POP3 and the
 * system trust store (OpenSSL honours SSL_CERT_FILE). One request per
 * connection ("Connection: close"); the status line, the header count and
 * size and the body are bounded; redirects are never followed. One
 * deadline, timeout_ms from the start, bounds the request and the reply
 * (conn_open() gives each address it tries, and the TLS handshake, that
 * long as well, so only a name with several dead addresses takes longer).
 * Replies may carry a Content-Length, be chunked, or end at EOF.
 *
 * The listener binds 127.0.0.1 on a port the kernel picks and reads one
 * bounded request per connection under a deadline. It speaks plain HTTP:
 * it is the only place where popfetch does.
 */
#ifndef POPFETCH_HTTP_H
#define POPFETCH_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "popfetch/err.h"
#include "popfetch/lbuf.h"
#include "popfetch/stream.h"

#define HTTP_URL_HOST_MAX 255
#define HTTP_URL_PATH_MAX 4096

/* Defaults of struct http_limits (0 in a field means the default). */
#define HTTP_MAX_LINE	      8192	   /* status, header, chunk-size line */
#define HTTP_MAX_HEADERS      100	   /* header fields per reply */
#define HTTP_MAX_HEADER_BYTES (64 * 1024)  /* all header lines together */
#define HTTP_MAX_BODY	      (256 * 1024) /* decoded body */

/* A parsed absolute URL: https://host[:port]/path?query */
struct http_url {
	bool tls;			  /* https (else http) */
	char host[HTTP_URL_HOST_MAX + 1]; /* no brackets around IPv6 */
	char port[6];			  /* decimal; "443" or "80" if none */
	char path[HTTP_URL_PATH_MAX + 1]; /* path and query; at least "/" */
	bool ipv6;			  /* host was a [bracketed] literal */
	bool default_port;		  /* no port in the URL */
};

/*
 * Parse url: scheme http or https (any case), a host name, an IPv4
 * address or a [bracketed] IPv6 literal, an optional port 1..65535, then
 * the path and query; a fragment is dropped. User info ("user@"), control
 * characters, spaces and non-ASCII bytes are refused (the path goes into
 * the request line as is). Returns 0, or -1 with PF_ECONFIG.
 */
int http_url_parse(const char *url, struct http_url *out, struct pf_err *err);

/* Limits on a reply or request; zero fields take the defaults above. */
struct http_limits {
	size_t max_line;
	size_t max_headers;
	size_t max_header_bytes;
	size_t max_body;
};

/* A reply as read by http_read_response() or http_exchange(). */
struct http_response {
	int status; /* 200..599 (1xx replies are skipped) */
	char reason[PF_SERVER_TEXT_MAX + 8];	   /* sanitized */
	char content_type[PF_SERVER_TEXT_MAX + 8]; /* sanitized, as sent */
	char location[PF_SERVER_TEXT_MAX + 8];	   /* sanitized, or "" */
	char *body; /* decoded, NUL-terminated; may hold tokens */
	size_t body_len;
};

/*
 * Wipe and free what rs holds (the body may hold tokens); rs can be read
 * again. Safe on a zeroed or already freed struct.
 */
void http_response_free(struct http_response *rs);

/*
 * Read one reply from s through lb (an lbuf made with maxline at least
 * lim->max_line): status line, header fields, body. 1xx interim replies
 * are skipped. The body is delimited by chunked transfer coding, else by
 * Content-Length, else by EOF; 204 and 304 have none. Overwrites rs
 * without freeing it, so free an earlier reply first; free this one with
 * http_response_free() also after an error. Returns 0, or -1:
 * PF_EPROTO (malformed status line or header, a line, the headers or the
 * body over their limit, conflicting or bad Content-Length, a transfer
 * coding other than chunked, bad chunk framing), PF_ETEMP (EOF before the
 * end, and the stream's own timeouts and errors).
 */
int http_read_response(struct stream *s, struct lbuf *lb,
    const struct http_limits *lim, struct http_response *rs,
    struct pf_err *err);

/* One exchange for http_exchange(). */
struct http_request {
	const char *method;	  /* "POST" or "GET" */
	const char *url;	  /* https://... */
	const char *content_type; /* of body; NULL when there is none */
	const char *body;	  /* may hold secrets: never logged */
	size_t body_len;
	const char *accept;  /* Accept header, or NULL */
	int timeout_ms;	     /* the whole exchange (see the top) */
	const char *ca_file; /* extra trust anchors, or NULL */
	struct http_limits limits;
};

/*
 * Connect to rq->url (https only), send the request and read the reply
 * into rs (free it with http_response_free() in every case). A 3xx reply
 * is an error that names its Location: redirects are never followed.
 * Other statuses (2xx, 4xx, 5xx) return 0 and the caller judges them.
 * The request and reply bodies are never logged; -vv shows the method,
 * the URL and the status line. Returns 0, or -1: PF_ECONFIG (bad or
 * non-https URL, a redirect), PF_ETEMP (resolution, connect, timeout,
 * EOF), PF_ENOPERM (certificate rejected), PF_EPROTO (as for
 * http_read_response()).
 */
int http_exchange(const struct http_request *rq, struct http_response *rs,
    struct pf_err *err);

/*
 * application/x-www-form-urlencoded text, built one field at a time. The
 * buffer may hold secrets (client secret, codes, tokens): it is wiped
 * whenever it moves and when freed. Start from a zeroed struct.
 */
struct http_form {
	char *buf; /* NUL-terminated "a=1&b=2", or NULL while empty */
	size_t len;
	size_t cap;
};

/*
 * Append "name=value" (with '&' before all but the first), both
 * percent-encoded: letters, digits and "-._~" stay, everything else is
 * %XX (a space too, which both form and URL decoders accept).
 */
void http_form_add(struct http_form *f, const char *name, const char *value);

/* The text so far ("" when empty); valid until the next add or free. */
const char *http_form_text(const struct http_form *f);

/* Wipe and free; the struct is empty again. */
void http_form_free(struct http_form *f);

/*
 * Find name in a query string ("a=1&b=x%20y", without the '?') and
 * percent-decode its value ('+' is a space) into out. Returns 1 found,
 * 0 absent, -1 when the query is malformed (bad escape, NUL), the name
 * occurs twice (RFC 6749 section 3.1) or the value does not fit outsz.
 */
int http_query_param(
    const char *query, const char *name, char *out, size_t outsz);

/* A listening socket on 127.0.0.1 for the loopback redirect. */
struct http_listener {
	int fd;	      /* -1 when closed */
	char port[6]; /* the port the kernel chose */
};

/*
 * Listen on 127.0.0.1 on a port the kernel picks (RFC 8252 section 7.3).
 * Returns 0, or -1 with PF_ETEMP.
 */
int http_listen_loopback(struct http_listener *l, struct pf_err *err);

/* A request as the listener read it. */
struct http_request_in {
	char method[16];
	char target[HTTP_URL_PATH_MAX + 1]; /* "/path?query" */
};

/*
 * Read one request (request line and header fields; a body is not read)
 * from s through lb. Returns 0, or -1: PF_EPROTO (malformed, over a
 * limit), PF_ETEMP (EOF, timeout).
 */
int http_read_request(struct stream *s, struct lbuf *lb,
    const struct http_limits *lim, struct http_request_in *rq,
    struct pf_err *err);

/*
 * Wait until deadline_ms (CLOCK_MONOTONIC milliseconds, as from
 * http_deadline()) for a connection, then give it conn_timeout_ms to send
 * a well-formed request (so a connection that comes just before the
 * deadline is still served). A connection that sends
 * nothing or garbage is closed and the wait goes on (browsers open
 * speculative connections). Returns the connection (answer it with
 * http_reply(), then stream_close() it) and fills rq, or NULL: PF_ETEMP
 * when the deadline passed or accept failed.
 */
struct stream *http_accept(struct http_listener *l, long long deadline_ms,
    int conn_timeout_ms, struct http_request_in *rq, struct pf_err *err);

/*
 * Send a complete reply: status line, Content-Type text/html (UTF-8),
 * Content-Length, Connection: close, no caching, then html. Returns 0 or
 * -1 (the stream's errors).
 */
int http_reply(struct stream *s, int status, const char *reason,
    const char *html, struct pf_err *err);

/* Close the listener; safe to call twice. */
void http_listener_close(struct http_listener *l);

/* CLOCK_MONOTONIC milliseconds timeout_ms from now. */
long long http_deadline(int timeout_ms);

/* Milliseconds left until deadline_ms, 0 when passed, capped at INT_MAX. */
int http_ms_left(long long deadline_ms);

#endif
