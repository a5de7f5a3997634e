/*
 * sink-smtp.c: delivery to a mail server over LMTP or SMTP (the variants
 * "lmtp" and "smtp"). The message is spooled first, so that a POP3
 * transfer that fails half way never reaches the mail server; the commit
 * hands the spool file to the smtp module. One session serves the whole
 * run: it is opened at the first message and opened again when a failure
 * has closed it. A message counts as delivered at the 2xx after the final
 * dot, and each delivery is final at once (SINK_FINAL_EACH), so a crash
 * re-delivers at most one message (docs/delivery-smtp.md).
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "popfetch/conn.h"
#include "popfetch/log.h"
#include "popfetch/sink.h"
#include "popfetch/smtp.h"
#include "popfetch/spool.h"
#include "popfetch/sys.h"
#include "popfetch/xmalloc.h"
#include "sink-private.h"

/*
 * A session idle for longer than this (or than --timeout, if shorter) is
 * closed and a new one opened before the next message: mail servers drop
 * idle clients (RFC 5321 allows 5 minutes), and a POP3 download can take
 * longer than that. Finding out only at MAIL FROM would fail the message.
 */
#define IDLE_MAX_MS 60000

struct smtp_sink {
	struct sink_spooled spooled; /* first: the spooled variants' impl */
	struct smtp_params params;
	struct smtp *c;	   /* NULL until the first message */
	long long last_ms; /* when c last finished a message */
	long long idle_ms; /* a session idle longer is replaced */
	char *recipient;
	bool delete_refused;
	char name[320]; /* "lmtp '/run/dovecot/lmtp'", for messages */
};

/*
 * The envelope recipient when none is configured: the name of the user
 * running popfetch, as fetchmail does.
 */
static char *
local_user(void)
{
	const struct passwd *pw = getpwuid(getuid());
	const char *u = getenv("USER");

	if (pw != NULL && pw->pw_name != NULL && pw->pw_name[0] != '\0')
		return xstrdup(pw->pw_name);
	return xstrdup(u != NULL && u[0] != '\0' ? u : "root");
}

/* The session parameters: target, timeouts and the account's trust
 * settings, without what only the POP3 side may use. */
static void
params_set(struct smtp_params *sp, const struct sink_params *p)
{
	int ms = (p->timeout > 0 ? p->timeout : 60) * 1000;

	if (p->conn != NULL)
		sp->conn = *p->conn;
	sp->conn.host = NULL;
	sp->conn.port = NULL;
	sp->conn.proxy = NULL;
	sp->conn.proxy_password = NULL;
	sp->conn.tunnel = NULL;
	sp->conn.source_address = NULL;
	sp->conn.verify_name = NULL;
	sp->tls = SMTP_TLS_AUTO;
	sp->timeout_ms = ms;
	sp->final_timeout_ms = ms;
	sp->trace = p->trace;
}

/* Parse the target and set up the session parameters (no I/O yet). */
static int
smtp_sink_init(struct sink *sk, const struct sink_params *p,
    enum smtp_proto proto, struct pf_err *err)
{
	struct smtp_sink *ss = sink_spool_init(sk, p, sizeof(struct smtp_sink));
	char tname[300];

	if (smtp_parse_target(sk->path, proto, &ss->params.target, err) == -1)
		return pf_err_prefix(err, "%s", sk->type->name);
	params_set(&ss->params, p);
	ss->recipient = p->recipient != NULL && p->recipient[0] != '\0'
	    ? xstrdup(p->recipient)
	    : local_user();
	if (!smtp_address_ok(ss->recipient))
		return pf_err_set(err, PF_ECONFIG,
		    "recipient '%s' is not a usable address; set recipient "
		    "(--recipient) to a mailbox of the mail server",
		    ss->recipient);
	ss->delete_refused = p->delete_refused;
	ss->idle_ms = ss->params.timeout_ms < IDLE_MAX_MS
	    ? ss->params.timeout_ms
	    : IDLE_MAX_MS;
	smtp_target_name(&ss->params.target, tname, sizeof(tname));
	snprintf(ss->name, sizeof(ss->name), "%s '%s'", sk->type->name, tname);
	return 0;
}

static int
lmtp_init(struct sink *sk, const struct sink_params *p, struct pf_err *err)
{
	return smtp_sink_init(sk, p, SMTP_PROTO_LMTP, err);
}

static int
smtp_init(struct sink *sk, const struct sink_params *p, struct pf_err *err)
{
	return smtp_sink_init(sk, p, SMTP_PROTO_SMTP, err);
}

/* A usable session: the one we have, or a new one (after a failure that
 * closed it, or a long idle time). */
static int
session_ready(struct smtp_sink *ss, struct pf_err *err)
{
	if (ss->c != NULL && smtp_ready(ss->c) &&
	    sys_now_ms() - ss->last_ms <= ss->idle_ms)
		return 0;
	if (ss->c != NULL && smtp_ready(ss->c))
		log_debug("%s: idle too long, opening a new session", ss->name);
	smtp_close(ss->c);
	ss->c = smtp_open(&ss->params, err);
	if (ss->c == NULL)
		return -1;
	log_debug("%s: session open%s", ss->name,
	    smtp_is_tls(ss->c) ? " (STARTTLS)" : "");
	return 0;
}

/* The envelope sender: Return-Path's address, or "" (<>) when there is
 * none, it is empty, or it cannot go into MAIL FROM. */
static int
envelope_sender(int fd, char *out, size_t outsz, struct pf_err *err)
{
	if (spool_sender(fd, out, outsz, err) == -1)
		return -1;
	if (strcmp(out, "MAILER-DAEMON") == 0 || !smtp_address_ok(out))
		out[0] = '\0';
	return 0;
}

/* Hand the spooled message to the mail server. */
static int
smtp_sink_commit(struct sink *sk, struct pf_err *err)
{
	struct smtp_sink *ss = sk->impl;
	struct spool *sp = &ss->spooled.spool;
	char sender[MBOXRD_SENDER_MAX];
	const char *rcpt[1] = {ss->recipient};
	struct smtp_envelope env = {.sender = sender, .rcpt = rcpt, .nrcpt = 1};
	struct smtp_result res;
	int ret = -1;

	if (spool_flush(sp, err) == -1 ||
	    envelope_sender(sp->cur.fd, sender, sizeof(sender), err) == -1 ||
	    session_ready(ss, err) == -1)
		goto out;
	memset(&res, 0, sizeof(res));
	ret = smtp_send_fd(ss->c, &env, sp->cur.fd, &res, err);
	ss->last_ms = sys_now_ms();
	if (ret == 0) {
		snprintf(sk->where, sizeof(sk->where), "%s", ss->name);
	} else if (res.outcome == SMTP_PERMFAIL && ss->delete_refused) {
		/* delete_refused: a refusal for good ends the message's
		 * life as fetchmail's bounce does; say so loudly. */
		log_warning("%s refused a message for good (%s); deleting "
			    "it on the POP3 server as delete_refused says",
		    ss->name, res.text);
		snprintf(sk->where, sizeof(sk->where),
		    "nowhere (refused by %s)", ss->name);
		ret = 0;
	}
out:
	spool_abort(sp);
	return ret;
}

static void
smtp_sink_free(struct sink *sk)
{
	struct smtp_sink *ss = sk->impl;

	if (ss == NULL)
		return;
	smtp_close(ss->c);
	free(ss->recipient);
	sink_spool_free(sk);
}

/* No sync: the mail server took each message at its commit. */
const struct sink_ops sink_lmtp_ops = {
    .sink = {lmtp_init, smtp_sink_free},
    .msg = {sink_spool_open, sink_spool_write, smtp_sink_commit,
	sink_spool_abort},
};

const struct sink_ops sink_smtp_ops = {
    .sink = {smtp_init, smtp_sink_free},
    .msg = {sink_spool_open, sink_spool_write, smtp_sink_commit,
	sink_spool_abort},
};
