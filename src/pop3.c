/*
 * pop3.c: the POP3 client protocol engine: a command queue that allows
 * pipelining, strict status-line parsing, multi-line listings and bodies,
 * and the protocol trace with secrets masked.
 */
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "popfetch/log.h"
#include "popfetch/num.h"
#include "popfetch/pop3.h"
#include "popfetch/xmalloc.h"
#include "compat.h"

/* Status lines longer than this are a protocol error (docs/faults.md
 * #1, #13). */
#define POP3_STATUS_MAX	       4096
/* Most capability lines we accept in one CAPA answer. */
#define POP3_CAPA_MAX_LINES    1000
/* A multi-line answer must be complete within --timeout plus this much
 * per line it may hold (a floor of 50 lines a second), so a server that
 * drips a byte just inside every timeout still fails (docs/faults.md
 * #70). */
#define POP3_LINE_ALLOWANCE_MS 20
/* Room for pf_sanitize() output of PF_SERVER_TEXT_MAX characters. */
#define SANITIZED_MAX	       (4 * PF_SERVER_TEXT_MAX + 8)

/* Commands sent and not yet answered, at most. */
#define PEND_MAX POP3_QUEUE_MAX

/* A command waiting for its reply. */
struct pending {
	enum pop3_cmd cmd;
	bool ml;	   /* +OK to it opens a multi-line response */
	unsigned long tag; /* the caller's, given back by pop3_next() */
};

/* One session. Only this file writes it (the state above all). */
struct pop3 {
	struct stream *s; /* owned */
	struct lbuf lb;
	enum pop3_state state;
	struct pop3_capa capa;
	char greeting[POP3_TEXT_MAX]; /* raw text after "+OK " (bounded, may
					 hold control characters) */
	char text[POP3_TEXT_MAX];     /* raw text of the last status line
					 after +OK/-ERR */
	enum pop3_rcode rcode;	      /* resp code of the last status line */
	int trace;
	struct pending pend[PEND_MAX]; /* oldest first (ring) */
	unsigned pend_head, pend_count;
	bool body_due; /* +OK to a multi-line command read, body not yet */
	/* output not yet written (pipelining batches commands) */
	char *out;
	size_t outlen, outcap;
};

/* In enum pop3_state's order. */
const char *const pop3_state_names[] = {
    "GREETING",
    "AUTHORIZATION",
    "TRANSACTION",
    "UPDATE",
    "CLOSED",
};
_Static_assert(sizeof(pop3_state_names) / sizeof(pop3_state_names[0]) ==
	POP3_ST_CLOSED + 1,
    "one name per state");

enum pop3_ml {
	ML_NEVER,  /* single-line answer */
	ML_ALWAYS, /* +OK opens a multi-line answer */
	ML_NOARG,  /* multi-line only without an argument (LIST, UIDL) */
};

static const struct pop3_cmdinfo {
	const char *verb;
	enum pop3_ml ml;
} pop3_cmds[] = {
    [POP3_CMD_USER] = {"USER", ML_NEVER},
    [POP3_CMD_PASS] = {"PASS", ML_NEVER},
    [POP3_CMD_APOP] = {"APOP", ML_NEVER},
    [POP3_CMD_AUTH] = {"AUTH", ML_NEVER},
    [POP3_CMD_SASL] = {"", ML_NEVER},
    [POP3_CMD_CAPA] = {"CAPA", ML_ALWAYS},
    [POP3_CMD_STLS] = {"STLS", ML_NEVER},
    [POP3_CMD_STAT] = {"STAT", ML_NEVER},
    [POP3_CMD_LIST] = {"LIST", ML_NOARG},
    [POP3_CMD_UIDL] = {"UIDL", ML_NOARG},
    [POP3_CMD_RETR] = {"RETR", ML_ALWAYS},
    [POP3_CMD_TOP] = {"TOP", ML_ALWAYS},
    [POP3_CMD_DELE] = {"DELE", ML_NEVER},
    [POP3_CMD_NOOP] = {"NOOP", ML_NEVER},
    [POP3_CMD_RSET] = {"RSET", ML_NEVER},
    [POP3_CMD_QUIT] = {"QUIT", ML_NEVER},
    [POP3_CMD_UTF8] = {"UTF8", ML_NEVER},
};
#define NCMDS (sizeof(pop3_cmds) / sizeof(pop3_cmds[0]))

/* Copy a callback's error into the caller's record, which may be NULL. */
static void
err_copy(struct pf_err *dst, const struct pf_err *src)
{
	if (dst != NULL)
		*dst = *src;
}

/* Store server bytes raw but bounded and NUL-terminated. */
static void
copy_text(char *dst, size_t dstsz, const char *src, size_t len)
{
	if (len >= dstsz)
		len = dstsz - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/* Forget all capabilities, as after STLS or a -ERR to CAPA. */
static void
capa_reset(struct pop3_capa *c)
{
	memset(c, 0, sizeof(*c));
	c->login_delay = -1;
	c->expire = -1;
}

/*
 * Every change of protocol state goes through here: GREETING ->
 * AUTHORIZATION (greeting read) -> TRANSACTION (+OK to a login command)
 * -> UPDATE (QUIT sent), and CLOSED from anywhere once the stream broke,
 * the server broke the protocol, or the caller gave up (pop3_abandon()).
 */
static void
set_state(struct pop3 *p, enum pop3_state st)
{
	if (p->state != POP3_ST_CLOSED)
		p->state = st;
}

/* Trace one received line; server text is never logged raw. */
static void
trace_in(const struct pop3 *p, const char *line, size_t len)
{
	if (p->trace > 0)
		log_trace("<", line, len);
}

/* Trace one command, hiding secrets and SASL exchanges. */
static void
trace_cmd(const struct pop3 *p, enum pop3_cmd cmd, const char *arg, bool secret)
{
	char san[SANITIZED_MAX];
	const char *verb = pop3_cmds[cmd].verb, *sp;

	if (p->trace <= 0)
		return;
	if (cmd == POP3_CMD_SASL) {
		log_debug("> *");
	} else if (arg == NULL) {
		log_debug("> %s", verb);
	} else if (!secret) {
		log_debug("> %s %s", verb,
		    pf_sanitize(san, sizeof(san), arg, strlen(arg)));
	} else if (cmd == POP3_CMD_AUTH) {
		/* The mechanism name is not secret, the response is. */
		sp = strchr(arg, ' ');
		log_debug("> %s %s *", verb,
		    pf_sanitize(san, sizeof(san), arg,
			sp != NULL ? (size_t)(sp - arg) : strlen(arg)));
	} else {
		log_debug("> %s *", verb);
	}
}

/* Start clean so a half-set-up session can still be freed safely. */
struct pop3 *
pop3_new(struct stream *s, const struct pop3_params *par)
{
	struct pop3 *p = xcalloc(1, sizeof(*p));

	p->s = s;
	lbuf_init(&p->lb, LBUF_DEFAULT_SIZE, LBUF_MAX_LINE);
	p->state = POP3_ST_GREETING;
	capa_reset(&p->capa);
	p->rcode = POP3_RC_NONE;
	p->trace = par != NULL ? par->trace : 0;
	p->out = NULL;
	return p;
}

/* Close the stream and wipe the output queue, which may hold a password. */
void
pop3_free(struct pop3 *p)
{
	if (p == NULL)
		return;
	stream_close(p->s);
	lbuf_free(&p->lb);
	if (p->out != NULL) {
		explicit_bzero(p->out, p->outcap);
		free(p->out);
	}
	explicit_bzero(p, sizeof(*p));
	free(p);
}

void
pop3_abandon(struct pop3 *p)
{
	set_state(p, POP3_ST_CLOSED);
}

enum pop3_state
pop3_state(const struct pop3 *p)
{
	return p->state;
}

const struct pop3_capa *
pop3_capabilities(const struct pop3 *p)
{
	return &p->capa;
}

const char *
pop3_greeting_text(const struct pop3 *p)
{
	return p->greeting;
}

const char *
pop3_text(const struct pop3 *p)
{
	return p->text;
}

enum pop3_rcode
pop3_rcode(const struct pop3 *p)
{
	return p->rcode;
}

struct stream *
pop3_stream(struct pop3 *p)
{
	return p->s;
}

size_t
pop3_buffered(const struct pop3 *p)
{
	return p->lb.len;
}

unsigned
pop3_pending(const struct pop3 *p)
{
	return p->pend_count;
}

unsigned
pop3_room(const struct pop3 *p)
{
	return PEND_MAX - p->pend_count;
}

bool
pop3_next(const struct pop3 *p, enum pop3_cmd *cmd, unsigned long *tag)
{
	if (p->pend_count == 0)
		return false;
	if (cmd != NULL)
		*cmd = p->pend[p->pend_head].cmd;
	if (tag != NULL)
		*tag = p->pend[p->pend_head].tag;
	return true;
}

/* Make room for need more output bytes; old copies are wiped (PASS). */
static void
out_reserve(struct pop3 *p, size_t need)
{
	size_t ncap;
	char *nb;

	if (p->outcap - p->outlen >= need)
		return;
	ncap = p->outcap > 0 ? p->outcap : 256;
	while (ncap - p->outlen < need)
		ncap *= 2;
	nb = xmalloc(ncap);
	if (p->outlen > 0)
		memcpy(nb, p->out, p->outlen);
	if (p->out != NULL) {
		explicit_bzero(p->out, p->outcap);
		free(p->out);
	}
	p->out = nb;
	p->outcap = ncap;
}

/* Append bytes to the output queue. */
static void
out_add(struct pop3 *p, const char *s, size_t len)
{
	out_reserve(p, len);
	memcpy(p->out + p->outlen, s, len);
	p->outlen += len;
}

/* Queue rather than write, so callers can pipeline several commands. */
static int
queue_cmd(struct pop3 *p, enum pop3_cmd cmd, const char *arg, bool secret,
    unsigned long tag, struct pf_err *err)
{
	unsigned slot;

	if ((size_t)cmd >= NCMDS)
		return pf_err_set(
		    err, PF_ESOFTWARE, "unknown POP3 command %d", (int)cmd);
	if (p->state == POP3_ST_CLOSED)
		return pf_err_set(err, PF_ETEMP, "connection already closed");
	if (p->state == POP3_ST_UPDATE)
		return pf_err_set(err, PF_ESOFTWARE, "command '%s' after QUIT",
		    pop3_cmds[cmd].verb);
	if (p->pend_count >= PEND_MAX)
		return pf_err_set(
		    err, PF_ESOFTWARE, "too many POP3 commands pending");
	if (cmd == POP3_CMD_SASL && arg == NULL)
		arg = "";
	if (arg != NULL && strpbrk(arg, "\r\n") != NULL)
		return pf_err_set(err, PF_ESOFTWARE,
		    "CR or LF in the argument of '%s'", pop3_cmds[cmd].verb);

	if (cmd != POP3_CMD_SASL) {
		out_add(p, pop3_cmds[cmd].verb, strlen(pop3_cmds[cmd].verb));
		if (arg != NULL)
			out_add(p, " ", 1);
	}
	if (arg != NULL)
		out_add(p, arg, strlen(arg));
	out_add(p, "\r\n", 2);
	trace_cmd(p, cmd, arg, secret);

	slot = (p->pend_head + p->pend_count) % PEND_MAX;
	p->pend[slot].cmd = cmd;
	p->pend[slot].ml = pop3_cmds[cmd].ml == ML_ALWAYS ||
	    (pop3_cmds[cmd].ml == ML_NOARG && arg == NULL);
	p->pend[slot].tag = tag;
	p->pend_count++;
	if (cmd == POP3_CMD_QUIT)
		set_state(p, POP3_ST_UPDATE);
	return 0;
}

int
pop3_cmd(struct pop3 *p, enum pop3_cmd cmd, const char *arg, bool secret,
    struct pf_err *err)
{
	return queue_cmd(p, cmd, arg, secret, 0, err);
}

int
pop3_cmd_tagged(struct pop3 *p, enum pop3_cmd cmd, const char *arg,
    unsigned long tag, struct pf_err *err)
{
	return queue_cmd(p, cmd, arg, false, tag, err);
}

/* One write per batch keeps pipelined commands in one segment. */
int
pop3_flush(struct pop3 *p, struct pf_err *err)
{
	int r;

	if (p->outlen == 0)
		return 0;
	if (p->state == POP3_ST_CLOSED)
		return pf_err_set(err, PF_ETEMP, "connection already closed");
	r = stream_write_all(p->s, p->out, p->outlen, err);
	/* The queue may have held a password. */
	explicit_bzero(p->out, p->outlen);
	p->outlen = 0;
	if (r == -1) {
		set_state(p, POP3_ST_CLOSED);
		return -1;
	}
	return 0;
}

/*
 * With nothing pending, any byte already received is unsolicited: a
 * server never talks first, and such bytes would shift every later reply.
 * after names what was just read, for the message.
 */
static int
check_unsolicited(
    struct pop3 *p, bool stls, const char *after, struct pf_err *err)
{
	if (p->pend_count > 0 || p->body_due)
		return 0;
	if (stls) {
		if (p->lb.len == 0 && !stream_pending(p->s))
			return 0;
		set_state(p, POP3_ST_CLOSED);
		return pf_err_set(err, PF_EPROTO,
		    "unexpected data after STLS response (possible injection)");
	}
	if (p->lb.len == 0)
		return 0;
	set_state(p, POP3_ST_CLOSED);
	return pf_err_set(
	    err, PF_EPROTO, "unsolicited data from the server after %s", after);
}

/* Read one line for a status; EOF is a broken connection here. The whole
 * line must arrive within the timeout, not just each piece of it. */
static int
read_status_line(struct pop3 *p, char **line, size_t *len, struct pf_err *err)
{
	int r;

	stream_set_response_deadline(p->s, 0);
	r = lbuf_getline(&p->lb, p->s, line, len, err);
	stream_set_response_deadline(p->s, -1);
	if (r == 0)
		pf_err_set(err, PF_ETEMP, "connection closed by the server");
	if (r <= 0) {
		set_state(p, POP3_ST_CLOSED);
		return -1;
	}
	trace_in(p, *line, *len);
	if (*len > POP3_STATUS_MAX) {
		set_state(p, POP3_ST_CLOSED);
		return pf_err_set(err, PF_EPROTO, "line too long");
	}
	return 0;
}

/* Report a line that is no valid status, sanitized. */
static int
bad_status(struct pop3 *p, const char *what, const char *line, size_t len,
    struct pf_err *err)
{
	char san[SANITIZED_MAX];

	set_state(p, POP3_ST_CLOSED);
	return pf_err_set(err, PF_EPROTO, "invalid %s from the server: '%s'",
	    what, pf_sanitize(san, sizeof(san), line, len));
}

/*
 * Match each status line to the oldest command, strictly, so replies never
 * shift.
 */
int
pop3_reply(struct pop3 *p, struct pf_err *err)
{
	enum pop3_cmd cmd;
	const char *text;
	char *line;
	size_t len;
	bool ml;
	int st;

	if (p->body_due)
		return pf_err_set(
		    err, PF_ESOFTWARE, "multi-line response not read");
	if (p->state == POP3_ST_CLOSED)
		return pf_err_set(err, PF_ETEMP, "connection already closed");
	if (pop3_flush(p, err) == -1)
		return -1;
	if (p->pend_count == 0) {
		if (p->lb.len > 0) {
			set_state(p, POP3_ST_CLOSED);
			return pf_err_set(
			    err, PF_EPROTO, "unsolicited data from the server");
		}
		return pf_err_set(
		    err, PF_ESOFTWARE, "no command waiting for a response");
	}
	if (read_status_line(p, &line, &len, err) == -1)
		return -1;

	cmd = p->pend[p->pend_head].cmd;
	ml = p->pend[p->pend_head].ml;
	st = pop3_parse_status(line, &text);
	if (cmd == POP3_CMD_AUTH || cmd == POP3_CMD_SASL) {
		/* Some servers send an empty challenge as a lone "+". */
		if (st == -1 && len == 1 && line[0] == '+') {
			st = POP3_CONT;
			text = line + 1;
		}
	} else if (st == POP3_CONT) {
		st = -1;
	}
	if (st == -1)
		return bad_status(p, "response", line, len, err);
	if (st == POP3_CONT && strlen(text) >= sizeof(p->text)) {
		set_state(p, POP3_ST_CLOSED);
		return pf_err_set(err, PF_EPROTO, "SASL challenge too long");
	}

	p->pend_head = (p->pend_head + 1) % PEND_MAX;
	p->pend_count--;
	copy_text(p->text, sizeof(p->text), text, strlen(text));
	p->rcode = st == POP3_ERR ? pop3_parse_rcode(text) : POP3_RC_NONE;
	if (st == POP3_OK) {
		if (ml)
			p->body_due = true;
		if (cmd == POP3_CMD_PASS || cmd == POP3_CMD_APOP ||
		    cmd == POP3_CMD_AUTH || cmd == POP3_CMD_SASL)
			set_state(p, POP3_ST_TRANSACTION);
	}
	if (check_unsolicited(p, cmd == POP3_CMD_STLS, "a status line", err) ==
	    -1)
		return -1;
	return st;
}

/* The common one-command, one-status exchange. */
int
pop3_simple(
    struct pop3 *p, enum pop3_cmd cmd, const char *arg, struct pf_err *err)
{
	if (pop3_cmd(p, cmd, arg, false, err) == -1)
		return -1;
	return pop3_reply(p, err);
}

/* The error class a -ERR response code implies, dflt without one. */
static enum pf_errc
rcode_errc(enum pop3_rcode rc, enum pf_errc dflt)
{
	switch (rc) {
	case POP3_RC_IN_USE:
	case POP3_RC_LOGIN_DELAY:
	case POP3_RC_SYS_TEMP:
		return PF_ETEMP;
	case POP3_RC_SYS_PERM:
		return PF_EUNAVAIL;
	case POP3_RC_AUTH:
		return PF_ENOPERM;
	default:
		return dflt;
	}
}

/* Turn a -ERR into the error class its response code implies. */
int
pop3_err_from_reply(const struct pop3 *p, const char *what, enum pf_errc dflt,
    struct pf_err *err)
{
	char san[SANITIZED_MAX];
	enum pf_errc code = rcode_errc(p->rcode, dflt);

	pf_sanitize(san, sizeof(san), p->text, strlen(p->text));
	if (san[0] == '\0')
		return pf_err_set(err, code, "server refused '%s'", what);
	return pf_err_set(err, code, "server refused '%s': %s", what, san);
}

/* The greeting decides whether the session may go on at all. */
/*
 * A server whose first bytes are a TLS record (handshake or alert, 0x16 or
 * 0x15, then version 0x03) expects TLS from the start: say so at once
 * instead of waiting for a line that never comes. Reads at most until two
 * bytes are there (or a line, or EOF); the rest is read_status_line()'s.
 */
static int
greeting_tls_record(struct pop3 *p, struct pf_err *err)
{
	const unsigned char *b;
	ssize_t r = 1;

	if (stream_is_tls(p->s))
		return 0;
	stream_set_response_deadline(p->s, 0);
	while (p->lb.len < 2 && r > 0)
		r = lbuf_fill(&p->lb, p->s, err);
	stream_set_response_deadline(p->s, -1);
	if (r < 0) {
		set_state(p, POP3_ST_CLOSED);
		return -1;
	}
	b = (const unsigned char *)p->lb.buf + p->lb.off;
	if (p->lb.len < 2 || (b[0] != 0x16 && b[0] != 0x15) || b[1] != 0x03)
		return 0;
	set_state(p, POP3_ST_CLOSED);
	return pf_err_set(err, PF_EPROTO,
	    "the server greeted with TLS, not POP3: this port expects TLS "
	    "from the start; drop --starttls/--no-tls (implicit TLS, usually "
	    "port 995)");
}

int
pop3_greeting(struct pop3 *p, struct pf_err *err)
{
	char san[SANITIZED_MAX];
	const char *text;
	char *line;
	size_t len;
	int st;

	if (greeting_tls_record(p, err) == -1 ||
	    read_status_line(p, &line, &len, err) == -1)
		return -1;
	st = pop3_parse_status(line, &text);
	if (st == POP3_ERR) {
		copy_text(p->text, sizeof(p->text), text, strlen(text));
		p->rcode = pop3_parse_rcode(text);
		set_state(p, POP3_ST_CLOSED);
		return pf_err_set(err, rcode_errc(p->rcode, PF_EUNAVAIL),
		    "server refused the connection: %s",
		    pf_sanitize(san, sizeof(san), text, strlen(text)));
	}
	if (st != POP3_OK)
		return bad_status(p, "greeting", line, len, err);
	copy_text(p->greeting, sizeof(p->greeting), text, strlen(text));
	copy_text(p->text, sizeof(p->text), text, strlen(text));
	p->rcode = POP3_RC_NONE;
	set_state(p, POP3_ST_AUTHORIZATION);
	if (p->lb.len > 0) {
		set_state(p, POP3_ST_CLOSED);
		return pf_err_set(err, PF_EPROTO,
		    "unsolicited data from the server after the greeting");
	}
	return 0;
}

/* A read in the middle of a multi-line answer got EOF (r 0, the error
 * is ours to word) or failed (r -1): the session is over. Returns -1. */
static int
cut_off(struct pop3 *p, int r, const char *what, struct pf_err *err)
{
	if (r == 0)
		pf_err_set(err, PF_ETEMP,
		    "connection closed in the middle of %s", what);
	set_state(p, POP3_ST_CLOSED);
	return -1;
}

/*
 * Read a multi-line answer of at most max_lines lines line by line, the
 * whole of it within --timeout plus an allowance per line; with drain, a
 * callback failure still reads to the end so the session stays in step.
 */
static int lines_read(
    struct pop3 *p, pop3_line_fn fn, void *ctx, bool drain, struct pf_err *err);

static int
lines_run(struct pop3 *p, pop3_line_fn fn, void *ctx, bool drain,
    unsigned long max_lines, struct pf_err *err)
{
	int r;

	stream_set_response_deadline(
	    p->s, (long long)max_lines * POP3_LINE_ALLOWANCE_MS);
	r = lines_read(p, fn, ctx, drain, err);
	stream_set_response_deadline(p->s, -1);
	return r;
}

static int
lines_read(
    struct pop3 *p, pop3_line_fn fn, void *ctx, bool drain, struct pf_err *err)
{
	struct pf_err ferr;
	bool failed = false;
	char *line;
	size_t len;
	int r;

	pf_err_clear(&ferr);
	p->body_due = false;
	for (;;) {
		r = lbuf_getline(&p->lb, p->s, &line, &len, err);
		if (r <= 0)
			return cut_off(p, r, "a multi-line response", err);
		if (line[0] == '.') {
			if (len == 1)
				break;
			line++;
			len--;
		}
		trace_in(p, line, len);
		if (failed || fn(ctx, line, len, &ferr) == 0)
			continue;
		failed = true;
		if (ferr.code == PF_OK)
			pf_err_set(&ferr, PF_ESOFTWARE, "listing rejected");
		if (!drain) {
			set_state(p, POP3_ST_CLOSED);
			err_copy(err, &ferr);
			return -1;
		}
	}
	if (p->trace > 0)
		log_debug("< .");
	if (check_unsolicited(p, false, "a multi-line response", err) == -1)
		return -1;
	if (failed) {
		err_copy(err, &ferr);
		return -1;
	}
	return 0;
}

/* A caller's listing stays in step even when a line is rejected. */
int
pop3_lines(struct pop3 *p, pop3_line_fn fn, void *ctx, struct pf_err *err)
{
	return lines_run(p, fn, ctx, true, POP3_CAPA_MAX_LINES, err);
}

/* Stream a body through the unstuffer so its size never matters. */
int
pop3_body(struct pop3 *p, pop3_body_fn fn, void *ctx,
    unsigned long long *octets, struct pf_err *err)
{
	struct pop3_unstuff u;
	struct pf_err ferr;
	unsigned long long total = 0;
	bool failed = false, done = false;
	size_t used, outlen;
	ssize_t n;
	char *out;
	int rv = -1;

	pf_err_clear(&ferr);
	p->body_due = false;
	pop3_unstuff_init(&u);
	out = xmalloc(p->lb.cap + 2);
	for (;;) {
		if (p->lb.len > 0) {
			used = pop3_unstuff(&u, lbuf_data(&p->lb), p->lb.len,
			    out, &outlen, &done);
			lbuf_consume(&p->lb, used);
			total += outlen;
			if (outlen > 0 && !failed) {
				int rc = fn(ctx, out, outlen, &ferr);

				if (rc == -2) {
					/* no draining: e.g. an endless body */
					err_copy(err, &ferr);
					set_state(p, POP3_ST_CLOSED);
					goto out;
				}
				if (rc == -1) {
					failed = true;
					if (ferr.code == PF_OK)
						pf_err_set(&ferr, PF_ESOFTWARE,
						    "message rejected");
				}
			}
			if (done)
				break;
		}
		n = lbuf_fill(&p->lb, p->s, err);
		if (n <= 0) {
			(void)cut_off(p, (int)n, "a message", err);
			goto out;
		}
	}
	if (p->trace > 0)
		log_debug("< [message body, %llu octets]", total);
	if (check_unsolicited(p, false, "a message", err) == -1)
		goto out;
	if (failed) {
		err_copy(err, &ferr);
		goto out;
	}
	rv = 0;
out:
	if (octets != NULL)
		*octets = total;
	free(out);
	return rv;
}

/* One capability line into the struct; see pop3_capa(). */
struct capa_ctx {
	struct pop3_capa *capa;
	unsigned long lines;
};

/* Count and apply one CAPA line; too many lines mean a hostile server. */
static int
capa_line(void *ctx, const char *line, size_t len, struct pf_err *err)
{
	struct capa_ctx *c = ctx;

	(void)len;
	if (++c->lines > POP3_CAPA_MAX_LINES)
		return pf_err_set(err, PF_EPROTO,
		    "too many capability lines (more than %d)",
		    POP3_CAPA_MAX_LINES);
	pop3_parse_capa_line(c->capa, line);
	return 0;
}

/* Capabilities are read anew after STLS, so the old ones are dropped first. */
int
pop3_capa(struct pop3 *p, struct pf_err *err)
{
	struct capa_ctx c;
	int r;

	capa_reset(&p->capa);
	r = pop3_simple(p, POP3_CMD_CAPA, NULL, err);
	if (r == -1)
		return -1;
	if (r == POP3_ERR)
		return 0;
	c.capa = &p->capa;
	c.lines = 0;
	if (lines_run(p, capa_line, &c, false, POP3_CAPA_MAX_LINES, err) ==
	    -1) {
		capa_reset(&p->capa);
		return -1;
	}
	p->capa.valid = true;
	return 0;
}

/* Bytes before the handshake could be injected plaintext, so refuse them. */
int
pop3_stls(struct pop3 *p, struct pf_err *err)
{
	int r;

	r = pop3_simple(p, POP3_CMD_STLS, NULL, err);
	if (r == -1)
		return -1;
	if (r == POP3_ERR) {
		pop3_err_from_reply(p, "STLS", PF_ENOPERM, err);
		if (err != NULL)
			err->code = PF_ENOPERM;
		return -1;
	}
	/* check_unsolicited() ran already; this guards the contract. */
	if (p->lb.len > 0 || stream_pending(p->s)) {
		set_state(p, POP3_ST_CLOSED);
		return pf_err_set(err, PF_EPROTO,
		    "unexpected data after STLS response (possible injection)");
	}
	capa_reset(&p->capa);
	return 0;
}

/* STAT bounds every later listing, so it is parsed strictly. */
static int stat_read(struct pop3 *p, unsigned long *count,
    unsigned long long *size, struct pf_err *err);

int
pop3_stat(struct pop3 *p, unsigned long *count, unsigned long long *size,
    struct pf_err *err)
{
	if (pop3_cmd(p, POP3_CMD_STAT, NULL, false, err) == -1)
		return -1;
	return stat_read(p, count, size, err);
}

/* Read and check the answer to a STAT already queued. */
static int
stat_read(struct pop3 *p, unsigned long *count, unsigned long long *size,
    struct pf_err *err)
{
	char san[SANITIZED_MAX];
	unsigned long long n, sz;
	const char *s;
	int r;

	r = pop3_reply(p, err);
	if (r == -1)
		return -1;
	if (r == POP3_ERR)
		return pop3_err_from_reply(p, "STAT", PF_EPROTO, err);
	if (num_parse(p->text, &s, ULLONG_MAX, &n) == -1 || *s != ' ' ||
	    num_parse(s + 1, &s, ULLONG_MAX, &sz) == -1 ||
	    (*s != '\0' && *s != ' '))
		return pf_err_set(err, PF_EPROTO, "invalid STAT response: '%s'",
		    pf_sanitize(san, sizeof(san), p->text, strlen(p->text)));
	if (n > POP3_MAX_MESSAGES)
		return pf_err_set(err, PF_EPROTO,
		    "server reports too many messages (%llu)", n);
	*count = (unsigned long)n;
	*size = sz;
	return 0;
}

/* State shared by the LIST and UIDL line callbacks. */
struct listing_ctx {
	struct pop3_msg *msgs;
	unsigned long count;
	bool *seen;	     /* LIST: message already listed */
	unsigned long nseen; /* LIST: distinct messages listed */
	bool uidl;	     /* the line at hand answers UIDL */
};

/* One line of the answer to LIST or UIDL (c->uidl tells which), checked
 * against STAT's count: every number once, in range. */
static int
listing_line(void *vctx, const char *line, size_t len, struct pf_err *err)
{
	struct listing_ctx *c = vctx;
	const char *what = c->uidl ? "UIDL" : "LIST", *uid = NULL, *end;
	unsigned long long size = 0, num;
	char san[SANITIZED_MAX];
	size_t uidlen = 0;
	unsigned long n;
	int r;

	r = c->uidl ? pop3_parse_uidl_line(line, &n, &uid, &uidlen)
		    : pop3_parse_list_line(line, &n, &size);
	if (r == -1 && c->uidl && num_parse(line, &end, ULONG_MAX, &num) == 0 &&
	    *end == ' ')
		return pf_err_set(
		    err, PF_EPROTO, "invalid UID for message %llu", num);
	if (r == -1)
		return pf_err_set(err, PF_EPROTO, "invalid %s line: '%s'", what,
		    pf_sanitize(san, sizeof(san), line, len));
	if (n < 1 || n > c->count)
		return pf_err_set(err, PF_EPROTO,
		    "%s names message %lu, but STAT counted %lu", what, n,
		    c->count);
	if (c->uidl ? c->msgs[n - 1].uid != NULL : c->seen[n - 1])
		return pf_err_set(
		    err, PF_EPROTO, "%s names message %lu twice", what, n);
	if (c->uidl) {
		c->msgs[n - 1].uid = xstrndup(uid, uidlen);
		return 0;
	}
	c->seen[n - 1] = true;
	c->nseen++;
	c->msgs[n - 1].size = size;
	return 0;
}

/* Read the answer to a queued LIST or UIDL. */
static int
listing_read(struct pop3 *p, enum pop3_cmd cmd, struct listing_ctx *c,
    bool *got, struct pf_err *err)
{
	int r;

	r = pop3_reply(p, err);
	if (r == -1)
		return -1;
	if (r == POP3_ERR) {
		*got = false;
		if (cmd == POP3_CMD_UIDL)
			return 0;
		return pop3_err_from_reply(p, "LIST", PF_EPROTO, err);
	}
	*got = true;
	c->uidl = cmd == POP3_CMD_UIDL;
	/* A bad line (the count's + 1st, a number out of range or twice)
	 * ends the session at once: an endless listing is never drained. */
	return lines_run(p, listing_line, c, false, c->count, err);
}

/* Free a listing with its UIDs. */
void
pop3_msgs_free(struct pop3_msg *msgs, unsigned long count)
{
	unsigned long i;

	if (msgs == NULL)
		return;
	for (i = 0; i < count; i++)
		free(msgs[i].uid);
	free(msgs);
}

/* One validated view of the mailbox, pipelined when the server allows. */
static int listings(struct pop3 *p, unsigned long count, bool want_uidl,
    bool queued, struct pop3_msg **msgs, bool *have_uidl, struct pf_err *err);

int
pop3_listings(struct pop3 *p, unsigned long count, bool want_uidl,
    struct pop3_msg **msgs, bool *have_uidl, struct pf_err *err)
{
	*msgs = NULL;
	*have_uidl = false;
	if (count == 0) {
		*have_uidl = want_uidl;
		return 0;
	}
	return listings(p, count, want_uidl, false, msgs, have_uidl, err);
}

int
pop3_scan(struct pop3 *p, unsigned long *count, unsigned long long *size,
    struct pop3_msg **msgs, bool *have_uidl, struct pf_err *err)
{
	*msgs = NULL;
	*have_uidl = false;
	if (!p->capa.pipelining) {
		if (pop3_stat(p, count, size, err) == -1)
			return -1;
		return pop3_listings(p, *count, true, msgs, have_uidl, err);
	}
	/* One round trip for all three; the listings are read (and
	 * checked against STAT's count) in order behind STAT's answer. */
	if (pop3_cmd(p, POP3_CMD_STAT, NULL, false, err) == -1 ||
	    pop3_cmd(p, POP3_CMD_UIDL, NULL, false, err) == -1 ||
	    pop3_cmd(p, POP3_CMD_LIST, NULL, false, err) == -1 ||
	    stat_read(p, count, size, err) == -1)
		return -1;
	return listings(p, *count, true, true, msgs, have_uidl, err);
}

/* Read LIST (and UIDL) for count messages; with queued, both commands
 * are already on their way. */
static int
listings(struct pop3 *p, unsigned long count, bool want_uidl, bool queued,
    struct pop3_msg **msgs, bool *have_uidl, struct pf_err *err)
{
	struct listing_ctx c;
	unsigned long i;
	bool got_list = false, got_uidl = false;
	int rv = -1;

	if (count > POP3_MAX_MESSAGES)
		return pf_err_set(err, PF_EPROTO,
		    "server reports too many messages (%lu)", count);
	memset(&c, 0, sizeof(c));
	c.msgs = xcalloc(count, sizeof(*c.msgs));
	c.seen = xcalloc(count, sizeof(*c.seen));
	c.count = count;
	c.nseen = 0;
	for (i = 0; i < count; i++)
		c.msgs[i].n = i + 1;

	if (want_uidl && (queued || p->capa.pipelining)) {
		if (!queued &&
		    (pop3_cmd(p, POP3_CMD_UIDL, NULL, false, err) == -1 ||
			pop3_cmd(p, POP3_CMD_LIST, NULL, false, err) == -1 ||
			pop3_flush(p, err) == -1))
			goto out;
		/* LIST's answer must still be read when UIDL fails. */
		if (listing_read(p, POP3_CMD_UIDL, &c, &got_uidl, err) == -1) {
			if (p->state != POP3_ST_CLOSED)
				(void)listing_read(
				    p, POP3_CMD_LIST, &c, &got_list, NULL);
			goto out;
		}
	} else if (want_uidl) {
		if (pop3_cmd(p, POP3_CMD_UIDL, NULL, false, err) == -1 ||
		    listing_read(p, POP3_CMD_UIDL, &c, &got_uidl, err) == -1)
			goto out;
		if (pop3_cmd(p, POP3_CMD_LIST, NULL, false, err) == -1)
			goto out;
	} else {
		if (pop3_cmd(p, POP3_CMD_LIST, NULL, false, err) == -1)
			goto out;
	}
	if (listing_read(p, POP3_CMD_LIST, &c, &got_list, err) == -1)
		goto out;
	if (c.nseen != count) {
		for (i = 0; i < count && c.seen[i]; i++)
			continue;
		pf_err_set(err, PF_EPROTO,
		    "LIST omits message %lu (STAT counted %lu)", i + 1, count);
		goto out;
	}
	*have_uidl = got_uidl;
	*msgs = c.msgs;
	c.msgs = NULL;
	rv = 0;
out:
	pop3_msgs_free(c.msgs, count);
	free(c.seen);
	return rv;
}

int
pop3_quit_queue(struct pop3 *p, struct pf_err *err)
{
	return pop3_cmd(p, POP3_CMD_QUIT, NULL, false, err);
}

/* Only a +OK to QUIT commits the deletions. */
int
pop3_quit(struct pop3 *p, struct pf_err *err)
{
	if (p->state != POP3_ST_UPDATE && pop3_quit_queue(p, err) == -1)
		return -1;
	if (p->pend_count != 1 || p->pend[p->pend_head].cmd != POP3_CMD_QUIT)
		return pf_err_set(err, PF_ESOFTWARE,
		    "QUIT's answer wanted with other answers pending");
	if (pop3_flush(p, err) == -1)
		return -1;
	PF_FAULT("after_quit_sent");
	return pop3_reply(p, err);
}

/* Strict prefixes: "+OKAY" or "+ok" must never pass for "+OK". */
int
pop3_parse_status(const char *line, const char **text)
{
	const char *t;
	int st;

	if (strncmp(line, "+OK", 3) == 0) {
		st = POP3_OK;
		t = line + 3;
	} else if (strncmp(line, "-ERR", 4) == 0) {
		st = POP3_ERR;
		t = line + 4;
	} else if (line[0] == '+' && line[1] == ' ') {
		if (text != NULL)
			*text = line + 2;
		return POP3_CONT;
	} else {
		return -1;
	}
	if (*t == ' ')
		t++;
	else if (*t != '\0')
		return -1;
	if (text != NULL)
		*text = t;
	return st;
}

/* Response codes tell temporary from permanent failures. */
enum pop3_rcode
pop3_parse_rcode(const char *text)
{
	static const struct {
		const char *name;
		enum pop3_rcode rc;
	} codes[] = {
	    {"IN-USE", POP3_RC_IN_USE},
	    {"LOGIN-DELAY", POP3_RC_LOGIN_DELAY},
	    {"SYS/TEMP", POP3_RC_SYS_TEMP},
	    {"SYS/PERM", POP3_RC_SYS_PERM},
	    {"AUTH", POP3_RC_AUTH},
	};
	const char *end;
	size_t len, i, nlen;

	if (text[0] != '[')
		return POP3_RC_NONE;
	text++;
	end = strchr(text, ']');
	if (end == NULL || end == text)
		return POP3_RC_NONE;
	len = (size_t)(end - text);
	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		/* Codes are hierarchical: "SYS/TEMP/x" is still SYS/TEMP. */
		nlen = strlen(codes[i].name);
		if (len >= nlen &&
		    strncasecmp(text, codes[i].name, nlen) == 0 &&
		    (len == nlen || text[nlen] == '/'))
			return codes[i].rc;
	}
	return POP3_RC_OTHER;
}

/* Split off the next space-separated word of *s; false at the end. */
static bool
next_word(const char **s, const char **w, size_t *wlen)
{
	const char *p = *s;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0')
		return false;
	*w = p;
	while (*p != '\0' && *p != ' ' && *p != '\t')
		p++;
	*wlen = (size_t)(p - *w);
	*s = p;
	return true;
}

/* Case-insensitive match of a word against a keyword. */
static bool
word_is(const char *w, size_t wlen, const char *kw)
{
	return strlen(kw) == wlen && strncasecmp(w, kw, wlen) == 0;
}

/* A LOGIN-DELAY or EXPIRE value: seconds or days, -1 when unreadable. */
static long
capa_number(const char *w, size_t wlen)
{
	unsigned long long v;
	const char *end;

	if (num_parse(w, &end, LONG_MAX, &v) == -1 || (size_t)(end - w) != wlen)
		return -1;
	return (long)v;
}

/* Append SASL mechanism names, upper-cased; odd names are dropped. */
static void
capa_sasl(struct pop3_capa *capa, const char *rest)
{
	const char *w;
	size_t wlen, have, i;

	while (next_word(&rest, &w, &wlen)) {
		for (i = 0; i < wlen; i++) {
			unsigned char ch = (unsigned char)w[i];

			if (!((ch >= 'A' && ch <= 'Z') ||
				(ch >= 'a' && ch <= 'z') ||
				(ch >= '0' && ch <= '9') || ch == '-' ||
				ch == '_'))
				break;
		}
		if (i != wlen || wlen > 20)
			continue;
		have = strlen(capa->sasl);
		if (have + (have > 0) + wlen + 1 > sizeof(capa->sasl))
			continue;
		if (have > 0)
			capa->sasl[have++] = ' ';
		for (i = 0; i < wlen; i++) {
			char ch = w[i];

			if (ch >= 'a' && ch <= 'z')
				ch = (char)(ch - 'a' + 'A');
			capa->sasl[have++] = ch;
		}
		capa->sasl[have] = '\0';
	}
}

/* The capabilities that are a flag alone. */
static const struct {
	const char *name;
	size_t off; /* of the bool in struct pop3_capa */
} capa_flags[] = {
    {"TOP", offsetof(struct pop3_capa, top)},
    {"UIDL", offsetof(struct pop3_capa, uidl)},
    {"USER", offsetof(struct pop3_capa, user)},
    {"PIPELINING", offsetof(struct pop3_capa, pipelining)},
    {"STLS", offsetof(struct pop3_capa, stls)},
    {"RESP-CODES", offsetof(struct pop3_capa, resp_codes)},
    {"AUTH-RESP-CODE", offsetof(struct pop3_capa, auth_resp_code)},
    {"SASL-IR", offsetof(struct pop3_capa, sasl_ir)},
    {"UTF8", offsetof(struct pop3_capa, utf8)},
};

/* Unknown capabilities are ignored, known ones case-insensitively. */
void
pop3_parse_capa_line(struct pop3_capa *capa, const char *line)
{
	const char *rest = line, *w, *v;
	size_t wlen, vlen, i;

	if (!next_word(&rest, &w, &wlen))
		return;
	for (i = 0; i < sizeof(capa_flags) / sizeof(capa_flags[0]); i++) {
		if (word_is(w, wlen, capa_flags[i].name)) {
			*(bool *)(void *)((char *)capa + capa_flags[i].off) =
			    true;
			return;
		}
	}
	if (word_is(w, wlen, "SASL"))
		capa_sasl(capa, rest);
	else if (word_is(w, wlen, "LOGIN-DELAY")) {
		if (next_word(&rest, &v, &vlen))
			capa->login_delay = capa_number(v, vlen);
	} else if (word_is(w, wlen, "EXPIRE")) {
		if (!next_word(&rest, &v, &vlen))
			return;
		if (word_is(v, vlen, "NEVER"))
			capa->expire = -2;
		else
			capa->expire = capa_number(v, vlen);
	} else if (word_is(w, wlen, "IMPLEMENTATION")) {
		while (*rest == ' ' || *rest == '\t')
			rest++;
		pf_sanitize(capa->implementation, sizeof(capa->implementation),
		    rest, strlen(rest));
	}
}

/* UIDs end up in state files and logs, so only printable ASCII passes. */
int
pop3_parse_uidl_line(
    const char *line, unsigned long *n, const char **uid, size_t *uidlen)
{
	unsigned long long v;
	const char *p;
	size_t i;

	if (num_parse(line, &p, ULONG_MAX, &v) == -1 || v == 0 || *p != ' ')
		return -1;
	p++;
	for (i = 0; p[i] != '\0'; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (ch < 0x21 || ch > 0x7e || i >= POP3_UID_MAX)
			return -1;
	}
	if (i == 0)
		return -1;
	*n = (unsigned long)v;
	*uid = p;
	*uidlen = i;
	return 0;
}

/* Sizes are parsed strictly; RFC 1939 allows text after them. */
int
pop3_parse_list_line(
    const char *line, unsigned long *n, unsigned long long *size)
{
	unsigned long long v, sz;
	const char *p;

	if (num_parse(line, &p, ULONG_MAX, &v) == -1 || v == 0 || *p != ' ')
		return -1;
	/* RFC 1939 section 7: anything may follow the size after a space. */
	if (num_parse(p + 1, &p, ULLONG_MAX, &sz) == -1 ||
	    (*p != '\0' && *p != ' '))
		return -1;
	*n = (unsigned long)v;
	*size = sz;
	return 0;
}
