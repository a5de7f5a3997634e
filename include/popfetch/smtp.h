/*
 * smtp.h: hand messages to a mail server over SMTP (RFC 5321) or LMTP
 * (RFC 2033). One session carries many messages; PIPELINING, 8BITMIME,
 * SMTPUTF8 and SIZE are used when the server offers them, STARTTLS when
 * the policy asks for it. There is no AUTH: this is local delivery, not
 * relaying. The bytes handed in are the message as the sinks get it (LF
 * line ends, no dot-stuffing); this module adds CRLF and the stuffing.
 *
 * A message counts as delivered only when every recipient has a 2xx for
 * it after the final dot (LMTP: one reply per recipient). Everything else
 * is a failure that leaves the message where it came from:
 *
 *   reply or event                          outcome          pf_errc
 *   2xx for every recipient                 SMTP_DELIVERED   (returns 0)
 *   4xx, or the connection lost or timed    SMTP_TEMPFAIL    PF_ETEMP
 *   out before the reply to the final dot
 *   5xx (also: 8-bit message to a server    SMTP_PERMFAIL    PF_EIO
 *   without 8BITMIME, or a non-ASCII
 *   envelope without SMTPUTF8)
 *   a reply that breaks the protocol        SMTP_TEMPFAIL    PF_EPROTO
 *
 * How a sink uses it (docs/delivery-smtp.md has the reasoning):
 *
 *   c = smtp_open(&params, &err);          once per run (or per account)
 *   for each message:
 *       spool the message to a private file, then
 *       smtp_send_fd(c, &env, fd, &res, &err)  0: delivered
 *       if (!smtp_ready(c)) reconnect, or stop the run
 *   smtp_close(c);                          QUIT
 *
 * smtp_begin() / smtp_write() / smtp_end() are the same transaction with
 * the bytes pushed by the caller instead of read from a file.
 */
#ifndef POPFETCH_SMTP_H
#define POPFETCH_SMTP_H

#include <sys/socket.h>

#include <stdbool.h>
#include <stddef.h>

#include "popfetch/conn.h"
#include "popfetch/err.h"
#include "popfetch/stream.h"

/* Recipients of one message. */
#define SMTP_RCPT_MAX	     32
/* Longest envelope address, without the angle brackets (RFC 5321 4.5.3.1.3
 * allows a path of 256 octets including them). */
#define SMTP_ADDR_MAX	     254
/* Longest reply line we accept (RFC 5321 says 512; real servers exceed). */
#define SMTP_LINE_MAX	     4096
/* Most lines in one reply; an endless multi-line reply fails here. */
#define SMTP_REPLY_LINES_MAX 100
/* A DATA transfer may take its timeout plus one second per this many
 * bytes of the message's declared size (like the POP3 side). */
#define SMTP_DATA_MIN_RATE   4096

#define SMTP_DEFAULT_PORT "25"
#define LMTP_DEFAULT_PORT "24"

enum smtp_proto {
	SMTP_PROTO_SMTP, /* EHLO, one reply after the final dot */
	SMTP_PROTO_LMTP, /* LHLO, one reply per recipient after it */
};

enum smtp_tls {
	SMTP_TLS_AUTO,	   /* STARTTLS required unless the peer is on
			      loopback or a Unix socket, where none is used */
	SMTP_TLS_STARTTLS, /* STARTTLS required */
	SMTP_TLS_NONE,	   /* never (tests, or an explicit user choice) */
};

enum smtp_state {
	SMTP_ST_GREETING, /* connected, greeting not read */
	SMTP_ST_READY,	  /* between messages */
	SMTP_ST_DATA,	  /* 354 received: message bytes go out */
	SMTP_ST_CLOSED,	  /* broken, aborted or after QUIT */
};
extern const char *const smtp_state_names[];

enum smtp_outcome {
	SMTP_DELIVERED,
	SMTP_TEMPFAIL,
	SMTP_PERMFAIL,
};
extern const char *const smtp_outcome_names[];

/* Where to deliver, from "--lmtp=TARGET" / "--smtp=HOST[:PORT]". */
struct smtp_target {
	enum smtp_proto proto;
	bool is_unix;	/* path names a Unix-domain socket (LMTP only) */
	char path[108]; /* sun_path */
	char host[256];
	char port[16];
};

struct smtp_params {
	struct smtp_target target;
	/*
	 * The account's trust settings for STARTTLS: ca_file, fingerprint,
	 * tls_min, cert_file, key_file, insecure, verify_name, family. host,
	 * port, tls and timeout_ms are taken from target and timeout_ms
	 * below; the caller's values there are ignored.
	 */
	struct conn_params conn;
	enum smtp_tls tls;
	const char *helo;     /* name for EHLO/LHLO; NULL: this host's name */
	int timeout_ms;	      /* connect, each wait, each reply */
	int final_timeout_ms; /* reply to the final dot; 0: timeout_ms */
	int trace;	      /* >0: log lines sent and received (LOGL_DEBUG) */
};

/* What EHLO/LHLO announced. CHUNKING is recorded but never used. */
struct smtp_capa {
	bool esmtp; /* EHLO/LHLO accepted (false after a HELO fallback) */
	bool pipelining, eightbitmime, smtputf8, starttls, chunking;
	bool enhancedstatuscodes;
	bool size;		     /* SIZE announced */
	unsigned long long size_max; /* its limit; 0: none given */
};

/* One reply being read; smtp_reply_init() before the first line. */
struct smtp_reply {
	int code;	/* 200..599 once the first line is in */
	unsigned lines; /* lines so far */
	bool done;	/* the last line has been fed */
	char text[512]; /* raw text of the first line, bounded (any bytes) */
	size_t textlen;
};

struct smtp_envelope {
	const char *sender;	 /* "" for the null sender <> (bounces) */
	const char *const *rcpt; /* nrcpt addresses */
	size_t nrcpt;		 /* 1 .. SMTP_RCPT_MAX */
	bool body_8bit;		 /* the message holds bytes >= 0x80 */
	/* octets with CRLF line ends (RFC 1870: no stuffing, no final
	 * dot), for SIZE= and the DATA deadline; 0: unknown, then the
	 * transfer has no overall deadline (each wait still has one) */
	unsigned long long size;
};

struct smtp_result {
	enum smtp_outcome outcome;
	int code; /* the reply that decided, 0 when none did (connection
		     lost, timeout, or refused before sending) */
	char text[4 * PF_SERVER_TEXT_MAX + 8]; /* that reply, sanitized:
						 "550 5.1.1 <x>: unknown" */
	size_t nrcpt_ok;		       /* recipients that have it */
	int rcpt_code[SMTP_RCPT_MAX]; /* per recipient: the reply to RCPT, or
					 for LMTP the one after the dot */
};

/* The DATA encoder state; zero it before each message. */
struct smtp_enc {
	unsigned char st;
};

struct smtp;

/*
 * Parse a target: for LMTP, a spec starting with '/' is a Unix socket
 * path; otherwise HOST, HOST:PORT, [IPV6]:PORT, or a bare IPv6 literal
 * (two or more colons, no brackets: no port). The port defaults to 25
 * (SMTP) or 24 (LMTP). Returns 0, or -1 with PF_EUSAGE (empty, too long,
 * a port that is not 1..65535, a socket path for SMTP).
 */
int smtp_parse_target(const char *spec, enum smtp_proto proto,
    struct smtp_target *t, struct pf_err *err);

/*
 * "host:port", "[v6]:port" or the socket path, sanitized, for messages.
 * Returns out.
 */
const char *smtp_target_name(
    const struct smtp_target *t, char *out, size_t outsz);

/*
 * Connect (TCP, or a Unix socket for LMTP), read the greeting, send
 * EHLO/LHLO and, as p->tls says, STARTTLS and EHLO/LHLO again. Returns
 * the session (owned by the caller; smtp_close() frees it), or NULL with
 * err: PF_ETEMP (cannot connect, timeout, 4xx greeting), PF_EUNAVAIL (5xx
 * greeting or EHLO), PF_ENOPERM (STARTTLS needed but not offered or
 * refused; certificate rejected), PF_EPROTO, PF_ECONFIG (CA file), and
 * PF_EUSAGE (bad target).
 */
struct smtp *smtp_open(const struct smtp_params *p, struct pf_err *err);

/*
 * Start a session on a connected stream (ownership passes): for tests and
 * other transports. unix_peer says the stream is a Unix socket; for TCP
 * the peer address is read from s->fd. p is copied, but the strings of
 * p->conn must stay valid until smtp_hello() returns (STARTTLS reads
 * them). Never fails. Call smtp_hello() next.
 */
struct smtp *smtp_new(
    struct stream *s, const struct smtp_params *p, bool unix_peer);

/* Greeting, EHLO/LHLO, STARTTLS per policy. 0 or -1 as smtp_open(). */
int smtp_hello(struct smtp *c, struct pf_err *err);

/*
 * Deliver one message read from fd (a spool file; read from offset 0 to
 * EOF with pread, so the caller's offset is left alone). fd is scanned
 * first for 8-bit bytes and its size; env->body_8bit and env->size are
 * ignored. Memory use is bounded whatever the message size. Returns 0
 * when delivered; -1 otherwise with res->outcome and err as in the table
 * above, plus PF_EIO when fd cannot be read and PF_ESOFTWARE for an
 * unusable envelope (see smtp_address_ok()). Either way res is filled.
 * Afterwards smtp_ready() says whether the session can take another.
 */
int smtp_send_fd(struct smtp *c, const struct smtp_envelope *env, int fd,
    struct smtp_result *res, struct pf_err *err);

/*
 * The pushed form of smtp_send_fd(). smtp_begin() sends MAIL, RCPT and
 * DATA (pipelined when offered; with several recipients DATA waits for
 * every RCPT to be accepted, so no recipient gets a message that another
 * refused). Returns 0 when the server waits for the message (354), or -1
 * with res and err filled (nothing was delivered; the session is reset
 * with RSET when it is still usable). env->body_8bit must be true when
 * any byte >= 0x80 will follow.
 */
int smtp_begin(struct smtp *c, const struct smtp_envelope *env,
    struct smtp_result *res, struct pf_err *err);

/*
 * Send message bytes (LF line ends): CRLF and dot-stuffing are added
 * here. Returns 0, or -1: the connection is lost (PF_ETEMP, or PF_EIO
 * when the server's reply before closing was a 5xx), or an undeclared
 * 8-bit byte (PF_ESOFTWARE). After -1 the session is closed and nothing
 * of the message is delivered.
 */
int smtp_write(struct smtp *c, const char *buf, size_t len, struct pf_err *err);

/*
 * End the message (CRLF if it lacked a final newline, then ".") and read
 * the reply, or for LMTP one reply per accepted recipient, each within
 * final_timeout_ms. Returns 0 when delivered, else -1 with res and err
 * filled. A connection lost before the reply is PF_ETEMP: the message
 * may in fact have arrived (the one duplicate the protocol allows).
 */
int smtp_end(struct smtp *c, struct smtp_result *res, struct pf_err *err);

/*
 * Give up on the message being sent: the connection is dropped without
 * the final dot, so the server discards it. The session is closed.
 */
void smtp_abort(struct smtp *c);

/* True when the session can carry another message. */
bool smtp_ready(const struct smtp *c);

/* The session's state (for traces and tests). */
enum smtp_state smtp_get_state(const struct smtp *c);

/* What the server announced (after STARTTLS: the second answer). */
const struct smtp_capa *smtp_get_capa(const struct smtp *c);

/* True when the session runs over TLS (STARTTLS done). */
bool smtp_is_tls(const struct smtp *c);

/*
 * Send QUIT when the session is idle (its reply is waited for within the
 * timeout, but its outcome changes nothing), close the connection and
 * free everything. During DATA this is smtp_abort(). NULL is fine.
 */
void smtp_close(struct smtp *c);

/* Pure helpers, exposed for the sink, the unit tests and the fuzzer. */

/*
 * Parse one reply line (CRLF removed): three digits (first 2..5, second
 * 0..5), then ' ', '-' or the end of the line. *last is false for '-'.
 * *text points after the separator (or at the end). Returns the code, or
 * -1 when line is not a reply line.
 */
int smtp_parse_reply_line(
    const char *line, size_t len, bool *last, const char **text);

void smtp_reply_init(struct smtp_reply *r);

/*
 * Feed the next line of a reply. Returns 1 when it was the last line, 0
 * when more follow, -1 with PF_EPROTO: not a reply line, a code that
 * changes within the reply, more than SMTP_REPLY_LINES_MAX lines, or a
 * line fed after the last one. *text (may be NULL) gets the line's text.
 */
int smtp_reply_feed(struct smtp_reply *r, const char *line, size_t len,
    const char **text, struct pf_err *err);

/*
 * Record one EHLO/LHLO keyword line (the text after "250-" / "250 ",
 * for the lines after the first) in capa. Unknown keywords are ignored.
 */
void smtp_capa_line(struct smtp_capa *capa, const char *text, size_t len);

/*
 * True when addr can go between the angle brackets of MAIL FROM or
 * RCPT TO: a local part (dot-string or quoted string) with an optional
 * "@domain" (labels, or an address literal in []), at most SMTP_ADDR_MAX
 * bytes, no control bytes, bytes >= 0x80 only as valid UTF-8. The empty
 * string is false (the null sender is passed as "" and sent as <>).
 */
bool smtp_address_ok(const char *addr);

/* True when s holds a byte >= 0x80 (the address needs SMTPUTF8). */
bool smtp_address_utf8(const char *s);

/* True when sa is a loopback address (127/8, ::1, ::ffff:127/104). */
bool smtp_addr_is_loopback(const struct sockaddr *sa);

/*
 * The DATA encoder: LF becomes CRLF (a CR already before it stays, so
 * "\r\n" goes out as "\r\r\n"), and a '.' at the start of a line, or
 * right after a bare CR, is doubled. Every other byte (NUL, 8-bit, a
 * bare CR) is sent as it is. out must hold 2 * len bytes. Returns the
 * bytes written.
 */
size_t smtp_encode(struct smtp_enc *e, const char *in, size_t len, char *out);

/*
 * The end of the data: CRLF when the message did not end with a line
 * end, then ".\r\n". out must hold 5 bytes. Returns the bytes written.
 */
size_t smtp_encode_end(struct smtp_enc *e, char *out);

#endif
