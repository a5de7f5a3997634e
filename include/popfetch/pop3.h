/*
 * pop3.h: the POP3 client protocol (RFC 1939, 2449, 2595, 5034): response
 * parsing, a pipelining-capable command queue, multi-line listings and
 * streaming, dot-unstuffed message bodies. No policy lives here.
 */
#ifndef POPFETCH_POP3_H
#define POPFETCH_POP3_H

#include <stdbool.h>
#include <stddef.h>

#include "popfetch/err.h"
#include "popfetch/lbuf.h"
#include "popfetch/stream.h"

/* Longest UID we accept (RFC 1939, section 7: 1 to 70 characters). */
#define POP3_UID_MAX	  70
/* Bytes kept of a status line's text, the NUL included: a longer text is
 * cut (pop3_text() is then POP3_TEXT_MAX - 1 bytes long). */
#define POP3_TEXT_MAX	  512
/* Most messages in one mailbox we accept from STAT. */
#define POP3_MAX_MESSAGES 1000000UL

enum pop3_state {
	POP3_ST_GREETING,      /* connected, greeting not read */
	POP3_ST_AUTHORIZATION, /* greeting read */
	POP3_ST_TRANSACTION,   /* logged in */
	POP3_ST_UPDATE,	       /* QUIT sent */
	POP3_ST_CLOSED,	       /* stream broken or closed */
};
extern const char *const pop3_state_names[];

enum pop3_cmd {
	POP3_CMD_USER,
	POP3_CMD_PASS,
	POP3_CMD_APOP,
	POP3_CMD_AUTH,
	POP3_CMD_SASL, /* a bare SASL continuation line (no verb) */
	POP3_CMD_CAPA,
	POP3_CMD_STLS,
	POP3_CMD_STAT,
	POP3_CMD_LIST,
	POP3_CMD_UIDL,
	POP3_CMD_RETR,
	POP3_CMD_TOP,
	POP3_CMD_DELE,
	POP3_CMD_NOOP,
	POP3_CMD_RSET,
	POP3_CMD_QUIT,
	POP3_CMD_UTF8, /* RFC 6856 */
};

/* Extended response codes (RFC 2449, 3206) found in "-ERR [CODE] ...". */
enum pop3_rcode {
	POP3_RC_NONE,
	POP3_RC_IN_USE,
	POP3_RC_LOGIN_DELAY,
	POP3_RC_SYS_TEMP,
	POP3_RC_SYS_PERM,
	POP3_RC_AUTH,
	POP3_RC_OTHER, /* some other [CODE] */
};

/* Results of pop3_reply() and pop3_parse_status(). */
#define POP3_ERR  0 /* -ERR */
#define POP3_OK	  1 /* +OK */
#define POP3_CONT 2 /* "+ " SASL continuation */

struct pop3_capa {
	bool valid; /* CAPA answered +OK */
	bool top, uidl, user, pipelining, stls, resp_codes, auth_resp_code;
	bool sasl_ir;
	bool utf8;	  /* RFC 6856: the UTF8 command */
	char sasl[256];	  /* SASL mechanisms, upper-case, space-separated */
	long login_delay; /* -1 when not announced */
	long expire;	  /* -1 none, -2 NEVER */
	char implementation[128]; /* sanitized */
};

struct pop3_params {
	int trace; /* >0: log every line sent and received at LOGL_DEBUG */
};

/* One session: opaque; only pop3.c changes its protocol state. */
struct pop3;

/* One entry of a scan listing (LIST) merged with UIDL. */
struct pop3_msg {
	unsigned long n;	 /* message number, 1-based */
	unsigned long long size; /* octets per LIST */
	char *uid;		 /* owned; NULL when the server gave none */
};

/* Start a session on s (ownership passes). Never fails (xmalloc). */
struct pop3 *pop3_new(struct stream *s, const struct pop3_params *par);

/* Close the stream, wipe and free everything. NULL is fine. */
void pop3_free(struct pop3 *p);

/*
 * The caller gives up on the session (the connection failed under it, or
 * the caller must not send anything more): the state becomes CLOSED and
 * every later command fails. The stream stays open until pop3_free().
 */
void pop3_abandon(struct pop3 *p);

/* What callers read of a session. */
enum pop3_state pop3_state(const struct pop3 *p);
/* The capabilities from the last CAPA (invalid before, and after -ERR). */
const struct pop3_capa *pop3_capabilities(const struct pop3 *p);
/* The greeting's text after "+OK " (raw server text: sanitize to show). */
const char *pop3_greeting_text(const struct pop3 *p);
/* The text of the last status line after +OK / -ERR / "+ " (raw). */
const char *pop3_text(const struct pop3 *p);
/* The response code of the last -ERR. */
enum pop3_rcode pop3_rcode(const struct pop3 *p);
/* The stream (for TLS details, STARTTLS and response deadlines). */
struct stream *pop3_stream(struct pop3 *p);
/* Bytes received and not yet parsed (stream bytes_in minus this is how
 * far into the server's stream the session has read). */
size_t pop3_buffered(const struct pop3 *p);

/*
 * Read the greeting. Returns 0, or -1: "-ERR" greeting (PF_EUNAVAIL, or
 * PF_ETEMP for [IN-USE]/[SYS/TEMP]), PF_EPROTO, PF_ETEMP.
 */
int pop3_greeting(struct pop3 *p, struct pf_err *err);

/*
 * Send CAPA and replace the capabilities with the answer. A -ERR leaves
 * them invalid and returns 0. Returns -1 on stream or protocol errors.
 */
int pop3_capa(struct pop3 *p, struct pf_err *err);

/*
 * Send STLS and check the answer: -ERR gives PF_ENOPERM; any byte already
 * received after the "+OK" line is PF_EPROTO (STARTTLS injection). On
 * success the caller runs conn_starttls() on pop3_stream(p) and then
 * pop3_capa().
 */
int pop3_stls(struct pop3 *p, struct pf_err *err);

/*
 * Queue a command: "VERB arg\r\n" (arg may be NULL). POP3_CMD_SASL sends
 * arg alone. When secret is true the trace shows "VERB *" instead of the
 * argument. Nothing is written until pop3_flush() or pop3_reply().
 * Returns 0, or -1 (PF_ESOFTWARE: queue full, or CR/LF/NUL in arg).
 */
int pop3_cmd(struct pop3 *p, enum pop3_cmd cmd, const char *arg, bool secret,
    struct pf_err *err);

/*
 * Like pop3_cmd() (never secret), with a caller's tag: pop3_next() gives
 * it back while this command is the oldest one waiting for its reply, so
 * the caller needs no queue of its own to know what a reply belongs to.
 */
int pop3_cmd_tagged(struct pop3 *p, enum pop3_cmd cmd, const char *arg,
    unsigned long tag, struct pf_err *err);

/* The oldest command still waiting for its reply and its tag (0 for
 * pop3_cmd()); false when none is waiting. cmd and tag may be NULL. */
bool pop3_next(const struct pop3 *p, enum pop3_cmd *cmd, unsigned long *tag);

/* Commands queued or sent and not yet answered. */
unsigned pop3_pending(const struct pop3 *p);

/* Commands queued or sent and not yet answered, at most: room for a
 * window of RETRs plus the DELEs of a whole batch (plan.h). */
#define POP3_QUEUE_MAX 512

/* How many more commands may be queued before pop3_cmd() refuses. */
unsigned pop3_room(const struct pop3 *p);

/* Write all queued output. Returns 0 or -1 (stream errors). */
int pop3_flush(struct pop3 *p, struct pf_err *err);

/*
 * Flush, then read the status line answering the oldest pending command.
 * Returns POP3_OK, POP3_ERR (pop3_text() and pop3_rcode() tell more) or
 * POP3_CONT (only when the pending command is AUTH or SASL; pop3_text()
 * holds the base64),
 * or -1: PF_EPROTO (bad status line, unsolicited data), PF_ETEMP.
 * After POP3_OK to LIST/UIDL without argument, CAPA, RETR or TOP the
 * caller must consume the body with pop3_lines() or pop3_body(); calling
 * pop3_reply() before that is PF_ESOFTWARE. A lone "+" also counts as
 * POP3_CONT for AUTH/SASL. Status lines over 4 KiB are PF_EPROTO.
 */
int pop3_reply(struct pop3 *p, struct pf_err *err);

/* Send cmd and read its status: POP3_OK, POP3_ERR or -1. */
int pop3_simple(
    struct pop3 *p, enum pop3_cmd cmd, const char *arg, struct pf_err *err);

/*
 * Called for each line of a multi-line listing, dot-unstuffed and without
 * CRLF; return 0 to go on or -1 (with err set) to fail: the rest of the
 * listing is still read so the session stays in step. The whole listing
 * must arrive within the timeout plus 20 s (docs/faults.md #70).
 */
typedef int (*pop3_line_fn)(
    void *ctx, const char *line, size_t len, struct pf_err *err);
int pop3_lines(struct pop3 *p, pop3_line_fn fn, void *ctx, struct pf_err *err);

/*
 * Called with decoded body bytes (LF line ends, dots unstuffed), in
 * chunks of any size; return 0 or -1 (err set). After a -1 the rest of the
 * body is read and discarded so the session stays usable, and pop3_body()
 * returns -1 with the callback's error. -2 (err set) gives up at once
 * without reading the rest (an endless body cannot be drained); the
 * session is then closed.
 */
typedef int (*pop3_body_fn)(
    void *ctx, const char *buf, size_t len, struct pf_err *err);

/*
 * Stream a multi-line body (after POP3_OK to RETR/TOP) through fn until
 * the terminating ".CRLF". EOF before it is PF_ETEMP ("connection closed
 * in the middle of a message"). *octets (may be NULL) gets the decoded size.
 */
int pop3_body(struct pop3 *p, pop3_body_fn fn, void *ctx,
    unsigned long long *octets, struct pf_err *err);

/* STAT. Returns 0, or -1 (-ERR is PF_EPROTO; count > POP3_MAX_MESSAGES). */
int pop3_stat(struct pop3 *p, unsigned long *count, unsigned long long *size,
    struct pf_err *err);

/*
 * LIST and (when want_uidl) UIDL for a mailbox of count messages,
 * pipelined when the server offers PIPELINING. Allocates *msgs[count]
 * (entry i is message i + 1). *have_uidl is false when UIDL got -ERR.
 * Validates: numbers in 1..count, each exactly once in LIST; UIDs
 * 1..POP3_UID_MAX printable ASCII (0x21-0x7e). The first bad line (the
 * count's + 1st, a number out of range or repeated) ends the session at
 * once, and each listing must be complete within the timeout plus 20 ms
 * per message (docs/faults.md #70). Returns 0, or -1 with PF_EPROTO
 * (invalid listing) or stream errors. Free with
 * pop3_msgs_free().
 */
int pop3_listings(struct pop3 *p, unsigned long count, bool want_uidl,
    struct pop3_msg **msgs, bool *have_uidl, struct pf_err *err);
void pop3_msgs_free(struct pop3_msg *msgs, unsigned long count);

/*
 * STAT, then pop3_listings() with UIDL, in one round trip when the server
 * offers PIPELINING (all three commands sent together). Same results and
 * errors as the two calls.
 */
int pop3_scan(struct pop3 *p, unsigned long *count, unsigned long long *size,
    struct pop3_msg **msgs, bool *have_uidl, struct pf_err *err);

/*
 * QUIT (or, after pop3_quit_queue(), the answer to the QUIT queued then,
 * which must be the only command still pending: else PF_ESOFTWARE).
 * Returns POP3_OK (the server committed its deletions), POP3_ERR, or -1
 * (no answer). The stream stays open; pop3_free() closes it.
 */
int pop3_quit(struct pop3 *p, struct pf_err *err);

/* Queue QUIT behind the pending commands (PIPELINING: it goes out with
 * them); the state is UPDATE from then on. Returns 0 or -1 as pop3_cmd(). */
int pop3_quit_queue(struct pop3 *p, struct pf_err *err);

/* Map a -ERR (pop3_text(), pop3_rcode()) to an error record for the command
 * named in what ("RETR 5"); returns -1. [IN-USE], [LOGIN-DELAY],
 * [SYS/TEMP] give PF_ETEMP, [SYS/PERM] PF_EUNAVAIL, [AUTH] PF_ENOPERM,
 * others the class given in dflt. The server text is sanitized. */
int pop3_err_from_reply(const struct pop3 *p, const char *what,
    enum pf_errc dflt, struct pf_err *err);

/* Parsers, exposed for the unit tests and fuzzers. */

/* Classify a status line: POP3_OK / POP3_ERR / POP3_CONT, or -1 when it
 * is none ("+OKAY", "-ERRx", "", "+"). *text points after "+OK " etc. */
int pop3_parse_status(const char *line, const char **text);
/* Parse "[CODE]" at the start of text. */
enum pop3_rcode pop3_parse_rcode(const char *text);
/* Apply one CAPA response line to capa (case-insensitive). */
void pop3_parse_capa_line(struct pop3_capa *capa, const char *line);
/* "n uid": returns 0, -1 when malformed or the UID is invalid. *uid points
 * into line. */
int pop3_parse_uidl_line(
    const char *line, unsigned long *n, const char **uid, size_t *uidlen);
/* "n size": returns 0 or -1. */
int pop3_parse_list_line(
    const char *line, unsigned long *n, unsigned long long *size);

/* The body decoder (pop3-body.c): a byte-level state machine. */
struct pop3_unstuff {
	int state;
};

void pop3_unstuff_init(struct pop3_unstuff *u);

/*
 * Decode in[0..inlen) of a multi-line response body into out, which must
 * hold inlen + 2 bytes: CRLF (or a bare LF) becomes LF, a leading dot is
 * removed from stuffed lines, a bare CR is kept. Stops right after the
 * terminating "." line and sets *done. Returns the number of input bytes
 * consumed; *outlen gets the number of bytes written.
 */
size_t pop3_unstuff(struct pop3_unstuff *u, const char *in, size_t inlen,
    char *out, size_t *outlen, bool *done);

#endif
