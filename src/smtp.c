/*
 * smtp.c: the SMTP/LMTP client session (smtp.h): greeting, EHLO/LHLO,
 * STARTTLS, MAIL/RCPT/DATA with pipelining, the message stream under its
 * deadline, per-recipient LMTP replies, RSET after a failure, QUIT. The
 * parsers and the DATA encoder are in smtp-parse.c.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "popfetch/lbuf.h"
#include "popfetch/log.h"
#include "popfetch/smtp.h"
#include "popfetch/xmalloc.h"
#include "compat.h"

/* Room for pf_sanitize() output of PF_SERVER_TEXT_MAX characters. */
/* Server text quoted in an error message, which holds 256 bytes. */
#define QUOTED_MAX 100
/* Message bytes encoded per write; the output buffer holds twice that. */
#define DATA_CHUNK (32 * 1024)
#define OUT_CAP	   (2 * DATA_CHUNK + 16)
/* How long a reply that explains a lost DATA transfer is waited for. */
#define SALVAGE_MS 2000

struct smtp {
	struct stream *s; /* NULL once closed */
	struct lbuf lb;
	enum smtp_state state;
	enum smtp_proto proto;
	enum smtp_tls tls;
	struct conn_params conn; /* trust settings, for STARTTLS */
	char host[256], port[16];
	bool unix_peer, loopback;
	struct smtp_capa capa;
	int timeout_ms, final_timeout_ms, trace;
	char helo[256];
	char name[128]; /* "lmtp '/run/dovecot/lmtp'", for messages */
	char *out;	/* commands queued, or encoded message bytes */
	size_t outlen;
	char *rbuf; /* smtp_send_fd(): DATA_CHUNK bytes read from the file */
	/* the message in flight */
	struct smtp_enc enc;
	bool declared_8bit;
	size_t nrcpt;
	bool rcpt_ok[SMTP_RCPT_MAX];
	unsigned long long sent; /* message bytes handed to smtp_write() */
	struct smtp_result cur;
};

/* The session is over: later calls fail at once, nothing more is sent. */
static int
session_fail(struct smtp *c, struct pf_err *err)
{
	if (c->s != NULL) {
		stream_close(c->s);
		c->s = NULL;
	}
	c->state = SMTP_ST_CLOSED;
	return pf_err_prefix(err, "%s", c->name);
}

/*
 * Put what to a session error that session_fail() already named:
 * "lmtp 'x': WHAT: reason".
 */
static void
rewrap(const struct smtp *c, struct pf_err *err, const char *what)
{
	char inner[sizeof(err->msg)];
	size_t n = strlen(c->name);
	const char *m;

	if (err == NULL)
		return;
	m = err->msg;
	if (strncmp(m, c->name, n) == 0 && m[n] == ':' && m[n + 1] == ' ')
		m += n + 2;
	strlcpy(inner, m, sizeof(inner));
	pf_err_set(err, err->code, "%s: %s: %s", c->name, what, inner);
}

/* Trace one received line; server text is never logged raw. */
static void
trace_in(const struct smtp *c, const char *line, size_t len)
{
	if (c->trace > 0)
		log_trace("<", line, len);
}

/* Queue one command line; it goes out with the next flush. */
static void
cmd_queue(struct smtp *c, const char *line)
{
	size_t len = strlen(line);

	if (c->trace > 0)
		log_trace(">", line, len);
	/* Commands are at most SMTP_ADDR_MAX + 80 bytes, and at most
	 * SMTP_RCPT_MAX + 3 of them are queued: far below OUT_CAP. */
	if (c->outlen + len + 2 > OUT_CAP)
		abort();
	memcpy(c->out + c->outlen, line, len);
	memcpy(c->out + c->outlen + len, "\r\n", 2);
	c->outlen += len + 2;
}

/* Write the queued commands in one go (one packet when pipelining). */
static int
cmd_flush(struct smtp *c, struct pf_err *err)
{
	size_t n = c->outlen;

	c->outlen = 0;
	if (stream_write_all(c->s, c->out, n, err) == -1)
		return session_fail(c, err);
	return 0;
}

/*
 * Read one whole reply, each wait and the whole of it within timeout_ms.
 * With capa, the keyword lines of an EHLO/LHLO answer go there. Returns
 * 0, or -1 with the session closed (PF_ETEMP, PF_EPROTO).
 */
static int
read_reply(struct smtp *c, int timeout_ms, struct smtp_reply *r,
    struct smtp_capa *capa, struct pf_err *err)
{
	int saved = c->s->timeout_ms, rc;
	const char *text;
	char *line;
	size_t len;

	smtp_reply_init(r);
	c->s->timeout_ms = timeout_ms;
	stream_set_response_deadline(c->s, 0);
	do {
		rc = lbuf_getline(&c->lb, c->s, &line, &len, err);
		if (rc == 0)
			pf_err_set(err, PF_ETEMP,
			    "connection closed by the mail server");
		if (rc <= 0)
			break;
		trace_in(c, line, len);
		rc = smtp_reply_feed(r, line, len, &text, err);
		if (rc >= 0 && capa != NULL && r->lines > 1)
			smtp_capa_line(capa, text, len - (size_t)(text - line));
	} while (rc == 0);
	if (c->s != NULL) {
		c->s->timeout_ms = saved;
		stream_set_response_deadline(c->s, -1);
	}
	return rc == 1 ? 0 : session_fail(c, err);
}

/* "550 5.1.1 text", sanitized, into dst. */
static void
reply_text(const struct smtp_reply *r, char *dst, size_t dstsz)
{
	char raw[sizeof(r->text) + 8];
	int n;

	n = snprintf(raw, sizeof(raw), "%d %s", r->code, r->text);
	if (n < 0)
		n = 0;
	pf_sanitize(dst, dstsz, raw,
	    (size_t)n < sizeof(raw) ? (size_t)n : sizeof(raw) - 1);
}

/*
 * The server refused the message (4xx or 5xx) at stage: fill the result
 * and say what happens to the message. Returns -1.
 */
static int
refused(struct smtp *c, const struct smtp_reply *r, const char *stage,
    struct pf_err *err)
{
	char quoted[QUOTED_MAX];
	bool perm = r->code >= 500;

	c->cur.outcome = perm ? SMTP_PERMFAIL : SMTP_TEMPFAIL;
	c->cur.code = r->code;
	reply_text(r, c->cur.text, sizeof(c->cur.text));
	reply_text(r, quoted, sizeof(quoted));
	if (perm)
		return pf_err_set(err, PF_EIO,
		    "mail server refused the message at %s: %s (kept; fix "
		    "the cause on the mail server, then run again)",
		    stage, quoted);
	return pf_err_set(err, PF_ETEMP,
	    "mail server deferred the message at %s: %s (kept for the next "
	    "run)",
	    stage, quoted);
}

/* A reply whose code makes no sense at this point. Returns -1. */
static int
unexpected(struct smtp *c, const struct smtp_reply *r, const char *after,
    struct pf_err *err)
{
	char quoted[QUOTED_MAX];

	reply_text(r, quoted, sizeof(quoted));
	pf_err_set(err, PF_EPROTO, "unexpected reply to %s: %s", after, quoted);
	return session_fail(c, err);
}

/* Reset the transaction after a failure, so the next one starts clean;
 * a server that cannot even do that is dropped. */
static void
send_rset(struct smtp *c)
{
	struct smtp_reply r;
	struct pf_err e;

	if (c->state != SMTP_ST_READY)
		return;
	cmd_queue(c, "RSET");
	if (cmd_flush(c, &e) == -1 ||
	    read_reply(c, c->timeout_ms, &r, NULL, &e) == -1)
		return;
	if (r.code / 100 != 2)
		(void)session_fail(c, &e);
}

/* Send EHLO (LHLO), or HELO when an old SMTP server refuses EHLO. */
static int
ehlo(struct smtp *c, struct pf_err *err)
{
	char line[sizeof(c->helo) + 8];
	struct smtp_reply r;
	char quoted[QUOTED_MAX];

	memset(&c->capa, 0, sizeof(c->capa));
	snprintf(line, sizeof(line), "%s %s",
	    c->proto == SMTP_PROTO_LMTP ? "LHLO" : "EHLO", c->helo);
	cmd_queue(c, line);
	if (cmd_flush(c, err) == -1 ||
	    read_reply(c, c->timeout_ms, &r, &c->capa, err) == -1)
		return -1;
	if (r.code == 250) {
		c->capa.esmtp = true;
		return 0;
	}
	memset(&c->capa, 0, sizeof(c->capa));
	if (c->proto == SMTP_PROTO_SMTP && r.code >= 500) {
		snprintf(line, sizeof(line), "HELO %s", c->helo);
		cmd_queue(c, line);
		if (cmd_flush(c, err) == -1 ||
		    read_reply(c, c->timeout_ms, &r, NULL, err) == -1)
			return -1;
		if (r.code == 250)
			return 0;
	}
	reply_text(&r, quoted, sizeof(quoted));
	pf_err_set(err, r.code / 100 == 4 ? PF_ETEMP : PF_EUNAVAIL,
	    "mail server refused %s: %s",
	    c->proto == SMTP_PROTO_LMTP ? "LHLO" : "EHLO", quoted);
	return session_fail(c, err);
}

/* Upgrade to TLS; bytes after the 220 would be a plaintext injection. */
static int
starttls(struct smtp *c, struct pf_err *err)
{
	struct smtp_reply r;
	char quoted[QUOTED_MAX];

	if (!c->capa.starttls) {
		pf_err_set(err, PF_ENOPERM,
		    "mail server does not offer STARTTLS, which %s",
		    c->tls == SMTP_TLS_STARTTLS
			? "was asked for"
			: "a server that is not on loopback needs");
		return session_fail(c, err);
	}
	cmd_queue(c, "STARTTLS");
	if (cmd_flush(c, err) == -1 ||
	    read_reply(c, c->timeout_ms, &r, NULL, err) == -1)
		return -1;
	if (r.code != 220) {
		reply_text(&r, quoted, sizeof(quoted));
		pf_err_set(err, PF_ENOPERM, "mail server refused STARTTLS: %s",
		    quoted);
		return session_fail(c, err);
	}
	if (c->lb.len > 0) {
		pf_err_set(err, PF_EPROTO,
		    "unexpected data after the STARTTLS reply (possible "
		    "injection)");
		return session_fail(c, err);
	}
	if (conn_starttls(c->s, &c->conn, err) == -1)
		return session_fail(c, err);
	return ehlo(c, err);
}

/* The EHLO argument goes out verbatim: printable ASCII, no space. */
static bool
helo_ok(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (*s <= ' ' || *s >= 0x7f)
			return false;
	return true;
}

struct smtp *
smtp_new(struct stream *s, const struct smtp_params *p, bool unix_peer)
{
	struct smtp *c = xcalloc(1, sizeof(*c));
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	char name[96];

	c->s = s;
	lbuf_init(&c->lb, 4 * SMTP_LINE_MAX, SMTP_LINE_MAX);
	c->state = SMTP_ST_GREETING;
	c->proto = p->target.proto;
	c->tls = p->tls;
	c->conn = p->conn;
	strlcpy(c->host, p->target.host, sizeof(c->host));
	strlcpy(c->port, p->target.port, sizeof(c->port));
	c->conn.host = c->host;
	c->conn.port = c->port;
	c->conn.tls = CONN_TLS_STARTTLS;
	c->conn.timeout_ms = p->timeout_ms;
	c->unix_peer = unix_peer;
	if (!unix_peer && s->fd >= 0 &&
	    getpeername(s->fd, (struct sockaddr *)&ss, &sslen) == 0) {
		c->unix_peer = ss.ss_family == AF_UNIX;
		c->loopback = smtp_addr_is_loopback((struct sockaddr *)&ss);
	}
	c->timeout_ms = p->timeout_ms;
	c->final_timeout_ms =
	    p->final_timeout_ms > 0 ? p->final_timeout_ms : p->timeout_ms;
	c->trace = p->trace;
	if (p->helo != NULL)
		strlcpy(c->helo, p->helo, sizeof(c->helo));
	else if (gethostname(c->helo, sizeof(c->helo)) != 0)
		c->helo[0] = '\0';
	c->helo[sizeof(c->helo) - 1] = '\0';
	if (!helo_ok(c->helo))
		strlcpy(c->helo, "localhost", sizeof(c->helo));
	smtp_target_name(&p->target, name, sizeof(name));
	snprintf(c->name, sizeof(c->name), "%s '%s'",
	    c->proto == SMTP_PROTO_LMTP ? "lmtp" : "smtp", name);
	c->out = xmalloc(OUT_CAP);
	return c;
}

int
smtp_hello(struct smtp *c, struct pf_err *err)
{
	struct smtp_reply r;
	char quoted[QUOTED_MAX];

	if (c->state != SMTP_ST_GREETING)
		return pf_err_set(err, PF_ESOFTWARE, "session already open");
	if (read_reply(c, c->timeout_ms, &r, NULL, err) == -1)
		return -1;
	if (r.code != 220) {
		reply_text(&r, quoted, sizeof(quoted));
		if (r.code / 100 == 4)
			pf_err_set(err, PF_ETEMP,
			    "mail server is not available: %s", quoted);
		else if (r.code / 100 == 5)
			pf_err_set(err, PF_EUNAVAIL,
			    "mail server refuses service: %s", quoted);
		else
			pf_err_set(err, PF_EPROTO,
			    "mail server greeting is not 220: %s", quoted);
		return session_fail(c, err);
	}
	if (ehlo(c, err) == -1)
		return -1;
	if ((c->tls == SMTP_TLS_STARTTLS ||
		(c->tls == SMTP_TLS_AUTO && !c->unix_peer && !c->loopback)) &&
	    starttls(c, err) == -1)
		return -1;
	c->state = SMTP_ST_READY;
	return 0;
}

struct smtp *
smtp_open(const struct smtp_params *p, struct pf_err *err)
{
	struct conn_params cp = p->conn;
	struct stream *s;
	struct smtp *c;

	if (p->target.is_unix) {
		if (p->target.proto != SMTP_PROTO_LMTP) {
			pf_err_set(
			    err, PF_EUSAGE, "a socket path is for LMTP only");
			return NULL;
		}
		s = stream_unix_open(p->target.path, p->timeout_ms, err);
	} else {
		cp.host = p->target.host;
		cp.port = p->target.port;
		cp.tls = CONN_TLS_NONE;
		cp.timeout_ms = p->timeout_ms;
		s = conn_open(&cp, err);
	}
	if (s == NULL) {
		pf_err_prefix(err, "%s",
		    p->target.proto == SMTP_PROTO_LMTP ? "lmtp" : "smtp");
		return NULL;
	}
	c = smtp_new(s, p, p->target.is_unix);
	if (smtp_hello(c, err) == -1) {
		smtp_close(c);
		return NULL;
	}
	return c;
}

/* Start c->cur and res for a new message. */
static void
result_init(struct smtp *c, struct smtp_result *res)
{
	memset(&c->cur, 0, sizeof(c->cur));
	c->cur.outcome = SMTP_TEMPFAIL;
	*res = c->cur;
}

/* Refuse before any byte goes out: wrong state, bad envelope, or a
 * message this server cannot take unchanged. Returns 0 or -1. */
static int
envelope_check(struct smtp *c, const struct smtp_envelope *env, bool *utf8,
    struct pf_err *err)
{
	size_t i;

	if (c->state == SMTP_ST_DATA)
		return pf_err_set(
		    err, PF_ESOFTWARE, "a message is already being sent");
	if (c->state != SMTP_ST_READY)
		return pf_err_set(err, PF_ETEMP,
		    "%s: the connection is closed (kept for the next run)",
		    c->name);
	if (env->nrcpt == 0 || env->nrcpt > SMTP_RCPT_MAX)
		return pf_err_set(err, PF_ESOFTWARE,
		    "%zu recipients (1 to %d allowed)", env->nrcpt,
		    SMTP_RCPT_MAX);
	if (env->sender == NULL ||
	    (env->sender[0] != '\0' && !smtp_address_ok(env->sender)))
		return pf_err_set(err, PF_ESOFTWARE,
		    "envelope sender is not a usable address");
	*utf8 = smtp_address_utf8(env->sender);
	for (i = 0; i < env->nrcpt; i++) {
		if (!smtp_address_ok(env->rcpt[i]))
			return pf_err_set(err, PF_ESOFTWARE,
			    "recipient %zu is not a usable address", i + 1);
		*utf8 = *utf8 || smtp_address_utf8(env->rcpt[i]);
	}
	c->cur.outcome = SMTP_PERMFAIL;
	if (env->body_8bit && !c->capa.eightbitmime) {
		strlcpy(c->cur.text, "no 8BITMIME", sizeof(c->cur.text));
		return pf_err_set(err, PF_EIO,
		    "message has 8-bit bytes and the mail server does not "
		    "offer 8BITMIME (kept: enable 8BITMIME on the mail "
		    "server, then run again)");
	}
	if (*utf8 && !c->capa.smtputf8) {
		strlcpy(c->cur.text, "no SMTPUTF8", sizeof(c->cur.text));
		return pf_err_set(err, PF_EIO,
		    "envelope address is not ASCII and the mail server does "
		    "not offer SMTPUTF8 (kept: enable SMTPUTF8 on the mail "
		    "server, or use an ASCII address)");
	}
	c->cur.outcome = SMTP_TEMPFAIL;
	return 0;
}

/* Queue MAIL FROM with the parameters this message and server need. */
static void
queue_mail(struct smtp *c, const struct smtp_envelope *env, bool utf8)
{
	char line[SMTP_ADDR_MAX + 80];
	int n;

	n = snprintf(line, sizeof(line), "MAIL FROM:<%s>", env->sender);
	if (env->body_8bit && n > 0 && (size_t)n < sizeof(line))
		n += snprintf(
		    line + n, sizeof(line) - (size_t)n, " BODY=8BITMIME");
	if (utf8 && n > 0 && (size_t)n < sizeof(line))
		n += snprintf(line + n, sizeof(line) - (size_t)n, " SMTPUTF8");
	if (c->capa.size && env->size > 0 && n > 0 && (size_t)n < sizeof(line))
		snprintf(line + n, sizeof(line) - (size_t)n, " SIZE=%llu",
		    env->size);
	cmd_queue(c, line);
}

/* Queue RCPT TO for recipient i. */
static void
queue_rcpt(struct smtp *c, const struct smtp_envelope *env, size_t i)
{
	char line[SMTP_ADDR_MAX + 16];

	snprintf(line, sizeof(line), "RCPT TO:<%s>", env->rcpt[i]);
	cmd_queue(c, line);
}

/*
 * MAIL and the RCPTs, pipelined when offered (DATA too when there is a
 * single recipient: *data_sent). Fills *fail with the reply that decides
 * a refusal (MAIL's, else the first permanent RCPT one, else the first
 * temporary). Returns 0 (see fail->code: 0 all accepted), -1 on a broken
 * session.
 */
static int
mail_rcpt(struct smtp *c, const struct smtp_envelope *env, bool utf8,
    bool *data_sent, struct smtp_reply *fail, const char **stage,
    struct pf_err *err)
{
	bool pipe = c->capa.pipelining;
	struct smtp_reply r;
	size_t i;

	fail->code = 0;
	*data_sent = pipe && env->nrcpt == 1;
	queue_mail(c, env, utf8);
	for (i = 0; pipe && i < env->nrcpt; i++)
		queue_rcpt(c, env, i);
	if (*data_sent)
		cmd_queue(c, "DATA");
	if (cmd_flush(c, err) == -1 ||
	    read_reply(c, c->timeout_ms, &r, NULL, err) == -1)
		return -1;
	if (r.code / 100 != 2 && r.code / 100 != 4 && r.code / 100 != 5)
		return unexpected(c, &r, "MAIL", err);
	if (r.code / 100 != 2) {
		*fail = r;
		*stage = "MAIL";
		if (!pipe)
			return 0;
	}
	for (i = 0; i < env->nrcpt; i++) {
		if (!pipe) {
			queue_rcpt(c, env, i);
			if (cmd_flush(c, err) == -1)
				return -1;
		}
		if (read_reply(c, c->timeout_ms, &r, NULL, err) == -1)
			return -1;
		c->cur.rcpt_code[i] = r.code;
		if (r.code / 100 == 2) {
			c->rcpt_ok[i] = true;
			continue;
		}
		if (r.code / 100 != 4 && r.code / 100 != 5)
			return unexpected(c, &r, "RCPT", err);
		if (fail->code == 0 ||
		    (fail->code < 500 && r.code >= 500 &&
			strcmp(*stage, "RCPT") == 0)) {
			*fail = r;
			*stage = "RCPT";
		}
		if (!pipe)
			return 0;
	}
	return 0;
}

/* The server said 354 although MAIL or every RCPT failed (RFC 2920
 * 3.1 says it must not): an empty message ends the data at once. */
static int
end_empty_data(struct smtp *c, struct pf_err *err)
{
	struct smtp_reply r;

	cmd_queue(c, ".");
	if (cmd_flush(c, err) == -1 ||
	    read_reply(c, c->timeout_ms, &r, NULL, err) == -1)
		return -1;
	return 0;
}

int
smtp_begin(struct smtp *c, const struct smtp_envelope *env,
    struct smtp_result *res, struct pf_err *err)
{
	struct smtp_reply fail, r;
	const char *stage = "MAIL";
	bool utf8 = false, data_sent;
	int rc = -1;

	result_init(c, res);
	memset(c->rcpt_ok, 0, sizeof(c->rcpt_ok));
	if (envelope_check(c, env, &utf8, err) == -1)
		goto out;
	c->nrcpt = env->nrcpt;
	if (mail_rcpt(c, env, utf8, &data_sent, &fail, &stage, err) == -1)
		goto out;
	if (!data_sent && fail.code == 0) {
		cmd_queue(c, "DATA");
		if (cmd_flush(c, err) == -1)
			goto out;
		data_sent = true;
	}
	if (data_sent) {
		if (read_reply(c, c->timeout_ms, &r, NULL, err) == -1)
			goto out;
		if (r.code == 354 && fail.code != 0) {
			if (end_empty_data(c, err) == -1)
				goto out;
		} else if (r.code / 100 != 3 && r.code / 100 != 4 &&
		    r.code / 100 != 5) {
			(void)unexpected(c, &r, "DATA", err);
			goto out;
		} else if (r.code != 354 && fail.code == 0) {
			if (r.code / 100 == 3) {
				(void)unexpected(c, &r, "DATA", err);
				goto out;
			}
			fail = r;
			stage = "DATA";
		}
	}
	if (fail.code != 0) {
		(void)refused(c, &fail, stage, err);
		send_rset(c);
		goto out;
	}
	c->state = SMTP_ST_DATA;
	memset(&c->enc, 0, sizeof(c->enc));
	c->declared_8bit = env->body_8bit;
	c->sent = 0;
	stream_set_response_deadline(c->s,
	    env->size > 0 ? (long long)(env->size / SMTP_DATA_MIN_RATE) * 1000
			  : -1);
	rc = 0;
out:
	*res = c->cur;
	return rc;
}

/*
 * The connection failed while the message went out. A server that
 * refuses a message in the middle of DATA (552 too big) may have said so
 * before it closed: read that reply briefly, for the right class.
 * Returns -1.
 */
static int
data_lost(struct smtp *c, struct pf_err *err)
{
	struct smtp_reply r;
	struct pf_err e;
	int ms = c->timeout_ms > 0 && c->timeout_ms < SALVAGE_MS ? c->timeout_ms
								 : SALVAGE_MS;

	c->cur.outcome = SMTP_TEMPFAIL;
	stream_set_response_deadline(c->s, -1);
	if (read_reply(c, ms, &r, NULL, &e) == 0 && r.code / 100 >= 4) {
		(void)refused(c, &r, "DATA", err);
		return session_fail(c, err);
	}
	pf_err_prefix(err, "message not sent (kept for the next run)");
	return session_fail(c, err);
}

/* True when buf holds a byte >= 0x80. */
static bool
has_8bit(const char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)buf[i] >= 0x80)
			return true;
	return false;
}

int
smtp_write(struct smtp *c, const char *buf, size_t len, struct pf_err *err)
{
	size_t n, o;

	if (c->state != SMTP_ST_DATA)
		return pf_err_set(
		    err, PF_ESOFTWARE, "no message is being sent");
	while (len > 0) {
		n = len < DATA_CHUNK ? len : DATA_CHUNK;
		if (!c->declared_8bit && has_8bit(buf, n)) {
			smtp_abort(c);
			return pf_err_set(err, PF_ESOFTWARE,
			    "8-bit byte in a message declared 7-bit");
		}
		o = smtp_encode(&c->enc, buf, n, c->out);
		if (stream_write_all(c->s, c->out, o, err) == -1)
			return data_lost(c, err);
		c->sent += n;
		buf += n;
		len -= n;
	}
	return 0;
}

/* LMTP: one reply per accepted recipient, in RCPT order. */
static int
lmtp_replies(struct smtp *c, struct smtp_reply *fail, struct pf_err *err)
{
	struct smtp_reply r;
	size_t i;

	for (i = 0; i < c->nrcpt; i++) {
		if (!c->rcpt_ok[i])
			continue;
		if (read_reply(c, c->final_timeout_ms, &r, NULL, err) == -1)
			return -1;
		c->cur.rcpt_code[i] = r.code;
		if (r.code / 100 == 2) {
			c->cur.nrcpt_ok++;
			c->cur.code = r.code;
			reply_text(&r, c->cur.text, sizeof(c->cur.text));
		} else if (r.code / 100 == 4 || r.code / 100 == 5) {
			if (fail->code == 0 ||
			    (fail->code < 500 && r.code >= 500))
				*fail = r;
		} else {
			return unexpected(c, &r, "the end of data", err);
		}
	}
	return 0;
}

int
smtp_end(struct smtp *c, struct smtp_result *res, struct pf_err *err)
{
	struct smtp_reply fail, r;
	size_t o;
	int rc = -1;

	if (c->state != SMTP_ST_DATA) {
		*res = c->cur;
		return pf_err_set(
		    err, PF_ESOFTWARE, "no message is being sent");
	}
	o = smtp_encode_end(&c->enc, c->out);
	if (c->trace > 0)
		log_debug("> (%llu message bytes)", c->sent);
	if (stream_write_all(c->s, c->out, o, err) == -1) {
		(void)data_lost(c, err);
		goto out;
	}
	if (c->trace > 0)
		log_debug("> .");
	stream_set_response_deadline(c->s, -1);
	c->state = SMTP_ST_READY;
	fail.code = 0;
	if (c->proto == SMTP_PROTO_LMTP) {
		if (lmtp_replies(c, &fail, err) == -1)
			goto lost;
	} else {
		if (read_reply(c, c->final_timeout_ms, &r, NULL, err) == -1)
			goto lost;
		if (r.code / 100 != 2 && r.code / 100 != 4 &&
		    r.code / 100 != 5) {
			(void)unexpected(c, &r, "the end of data", err);
			goto lost;
		}
		if (r.code / 100 == 2) {
			c->cur.nrcpt_ok = c->nrcpt;
			c->cur.code = r.code;
			reply_text(&r, c->cur.text, sizeof(c->cur.text));
		} else {
			fail = r;
		}
		for (o = 0; o < c->nrcpt; o++)
			if (c->rcpt_ok[o])
				c->cur.rcpt_code[o] = r.code;
	}
	if (fail.code != 0) {
		(void)refused(c, &fail, "the end of data", err);
		send_rset(c);
		goto out;
	}
	c->cur.outcome = SMTP_DELIVERED;
	rc = 0;
	goto out;
lost:
	rewrap(c, err,
	    err != NULL && err->code == PF_EPROTO
		? "bad reply to the end of the message (kept for the next "
		  "run; it may arrive twice)"
		: "no reply to the end of the message (kept for the next "
		  "run; it may arrive twice)");
	c->cur.outcome = SMTP_TEMPFAIL;
out:
	*res = c->cur;
	return rc;
}

void
smtp_abort(struct smtp *c)
{
	struct pf_err e;

	if (c->state == SMTP_ST_CLOSED)
		return;
	if (c->trace > 0)
		log_debug("(connection dropped: message abandoned)");
	(void)session_fail(c, &e);
}

/* Read fd from offset 0 with pread; *eof on 0. Returns bytes or -1. */
static ssize_t
read_at(int fd, char *buf, size_t len, unsigned long long off)
{
	ssize_t n;

	do
		n = pread(fd, buf, len, (off_t)off);
	while (n == -1 && errno == EINTR);
	return n;
}

int
smtp_send_fd(struct smtp *c, const struct smtp_envelope *env, int fd,
    struct smtp_result *res, struct pf_err *err)
{
	struct smtp_envelope e = *env;
	unsigned long long off = 0, lfs = 0;
	char last = '\n';
	ssize_t n, i;

	if (c->rbuf == NULL)
		c->rbuf = xmalloc(DATA_CHUNK);
	e.body_8bit = false;
	while ((n = read_at(fd, c->rbuf, DATA_CHUNK, off)) > 0) {
		e.body_8bit = e.body_8bit || has_8bit(c->rbuf, (size_t)n);
		for (i = 0; i < n; i++)
			lfs += c->rbuf[i] == '\n';
		last = c->rbuf[n - 1];
		off += (unsigned long long)n;
	}
	if (n == -1) {
		result_init(c, res);
		return pf_err_sys(
		    err, PF_EIO, "cannot read the message to deliver");
	}
	/* RFC 1870 4: CRLF line ends count, stuffing and the dot do not */
	e.size = off + lfs + (last != '\n' ? 2 : 0);
	if (smtp_begin(c, &e, res, err) == -1)
		return -1;
	for (off = 0; (n = read_at(fd, c->rbuf, DATA_CHUNK, off)) > 0;
	     off += (unsigned long long)n) {
		if (smtp_write(c, c->rbuf, (size_t)n, err) == -1) {
			*res = c->cur;
			return -1;
		}
	}
	if (n == -1) {
		pf_err_sys(err, PF_EIO, "cannot read the message to deliver");
		smtp_abort(c);
		*res = c->cur;
		return -1;
	}
	return smtp_end(c, res, err);
}

bool
smtp_ready(const struct smtp *c)
{
	return c != NULL && c->state == SMTP_ST_READY;
}

enum smtp_state
smtp_get_state(const struct smtp *c)
{
	return c->state;
}

const struct smtp_capa *
smtp_get_capa(const struct smtp *c)
{
	return &c->capa;
}

bool
smtp_is_tls(const struct smtp *c)
{
	return c->s != NULL && stream_is_tls(c->s);
}

void
smtp_close(struct smtp *c)
{
	struct smtp_reply r;
	struct pf_err e;

	if (c == NULL)
		return;
	if (c->state == SMTP_ST_READY) {
		cmd_queue(c, "QUIT");
		if (cmd_flush(c, &e) == 0)
			(void)read_reply(c, c->timeout_ms, &r, NULL, &e);
	}
	if (c->s != NULL)
		stream_close(c->s);
	lbuf_free(&c->lb);
	free(c->out);
	free(c->rbuf);
	free(c);
}
