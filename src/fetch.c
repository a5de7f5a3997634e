/*
 * fetch.c: one account's run, orchestrated. The order of the steps is the
 * product's promise (docs/contract.md §4): a message is retrieved,
 * delivered durably (sink_commit, then sink_sync for the batch), recorded
 * durably (state_flush), and only then DELE'd; QUIT commits the
 * deletions. The decisions are plan.c's, the protocol pop3.c's, the
 * delivery sink.c's; this file sequences them.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "popfetch/fetch.h"
#include "popfetch/lock.h"
#include "popfetch/log.h"
#include "popfetch/pending.h"
#include "popfetch/plan.h"
#include "popfetch/pop3.h"
#include "popfetch/session.h"
#include "popfetch/sink.h"
#include "popfetch/state.h"
#include "popfetch/sys.h"
#include "popfetch/xmalloc.h"

/*
 * Pipelining window: RETRs in flight, and their listed octets. Commands
 * are tiny, so our side never blocks writing them while the server blocks
 * writing bodies; the byte bound keeps what the server has queued for us
 * modest. The window is topped up once WINDOW_REFILL slots are free, so
 * the commands of a refill travel together in one TLS record.
 */
#define WINDOW_MAX_CMDS	 128
#define WINDOW_MAX_BYTES (4ULL * 1024 * 1024)
#define WINDOW_REFILL	 16 /* top up once this many slots are free */
/* pop3's queue holds a full window and a whole batch's DELEs. */
_Static_assert(
    WINDOW_MAX_CMDS + WINDOW_REFILL + PLAN_BATCH_MAX_MSGS + 1 < POP3_QUEUE_MAX,
    "pop3's command queue is too small for a window and a batch");
/*
 * A body must keep coming: no byte for --timeout fails (the stream), and
 * so does less than BODY_MIN_RATE octets a second on average over any
 * window of BODY_WINDOW_TIMEOUTS times --timeout (at least
 * BODY_WINDOW_MIN_MS), so a server dripping a byte just inside each
 * timeout fails too, whatever size LIST claimed (docs/faults.md #71).
 */
#define BODY_MIN_RATE	     1024
#define BODY_WINDOW_TIMEOUTS 5
#define BODY_WINDOW_MIN_MS   10000LL
/* After a stop request no wait for the server lasts longer than this, and
 * a body still being read must bring STOP_MIN_BYTES in every such span:
 * a body being dripped must not hold the run (docs/faults.md #71). */
#define STOP_GRACE_MS	     500
#define STOP_MIN_BYTES	     1024ULL
/* Sessions per run for a server without UIDL (PLAN_NOUIDL_MAX messages
 * each): the rest waits for the next run (docs/faults.md #72). */
#define NOUIDL_MAX_SESSIONS  50

static volatile sig_atomic_t stop_requested;

void
fetch_request_stop(void)
{
	stop_requested = 1;
}

bool
fetch_stop_requested(void)
{
	return stop_requested != 0;
}

struct run {
	const struct account *a;
	const struct fetch_opts *o;
	struct fetch_stats *st;
	char *id;
	int lockfd;
	struct state *state;
	struct sink *sink;
	struct conn_params cp;
	struct pop3 *p; /* NULL when not connected */
	/* the current session's listing and plan */
	unsigned long count;
	unsigned long long total; /* octets per STAT */
	struct pop3_msg *msgs;
	struct plan_item *mi;
	bool have_uidl;
	unsigned long nouidl_left; /* left for the next no-UIDL session */
	/* after a QUIT that committed deletions without UIDL: the most the
	 * next session's STAT may show */
	bool expect_shrink;
	unsigned long expect_count;
	unsigned long long expect_total;
	/* RETRs sent and not yet answered, and the next message to send */
	unsigned long retr_inflight;
	unsigned long long retr_inflight_bytes;
	unsigned long next;
	/* delivered, not yet synced/recorded */
	unsigned long *batch;
	size_t nbatch;
	unsigned long long batch_bytes;
	long long batch_start; /* when its first message was delivered */
	/* DELE answered +OK this session (committed by QUIT) */
	unsigned long *deleted;
	size_t ndeleted;
	/* message-level failure: stop fetching, but QUIT cleanly */
	bool stopping;
	struct pf_err msg_err;
	bool have_msg_err;
	/* a temporary problem that does not stop the run (DELE -ERR) */
	bool soft_fail;
	struct pf_err soft_err;
	struct fetch_progress prog;
	unsigned long long body_bytes;
	unsigned long long body_cap;
	/* the body's rate window: when it began and the bytes by then; the
	 * same once a stop is requested (0: not started) */
	long long window_start;
	unsigned long long window_bytes;
	long long stop_start;
	unsigned long long stop_bytes;
	bool sink_failed;
};

/* Show a UID safely. */
static const char *
uid_shown(const char *uid, char *buf, size_t bufsz)
{
	if (uid == NULL)
		return "-";
	return pf_sanitize(buf, bufsz, uid, strlen(uid));
}

/* Pass a line to the caller's report hook (dry run, -v). */
static void report(struct run *r, const char *fmt, ...) PF_PRINTF(2, 3);
static void
report(struct run *r, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (r->o->report == NULL)
		return;
	va_start(ap, fmt);
	if (vsnprintf(line, sizeof(line), fmt, ap) < 0)
		line[0] = '\0';
	va_end(ap);
	r->o->report(r->o->ctx, line);
}

static void
progress(struct run *r)
{
	if (r->o->progress != NULL)
		r->o->progress(r->o->ctx, &r->prog);
}

/* Keep the first temporary problem that does not stop the run. */
static void
soft_failure(struct run *r, const struct pf_err *e)
{
	if (!r->soft_fail) {
		r->soft_err = *e;
		r->soft_fail = true;
	}
}

/* Stop fetching, keeping the first reason to report; what is durable is
 * still recorded and deleted, then QUIT. */
static void
stop_run(struct run *r, const struct pf_err *e)
{
	if (!r->have_msg_err) {
		r->msg_err = *e;
		r->have_msg_err = true;
	}
	r->stopping = true;
}

/* A message failed: it stays on the server and the run stops. */
static void
message_failed(struct run *r, const struct pf_err *e)
{
	stop_run(r, e);
	r->st->errors++;
}

/* Queue RETR or DELE of message idx, tagged with idx. */
static int
queue_cmd(
    struct run *r, enum pop3_cmd cmd, unsigned long idx, struct pf_err *err)
{
	char arg[32];

	snprintf(arg, sizeof(arg), "%lu", r->msgs[idx].n);
	if (pop3_cmd_tagged(r->p, cmd, arg, idx, err) < 0)
		return -1;
	if (cmd == POP3_CMD_RETR) {
		r->retr_inflight++;
		r->retr_inflight_bytes += r->msgs[idx].size;
	}
	return 0;
}

/* Once a stop is requested, the bodies still on their way are read only
 * while they come quickly; a drip gives up on the connection at once. */
static int
body_stop_rate(struct run *r, struct pf_err *err)
{
	long long now = sys_now_ms();

	if (!fetch_stop_requested())
		return 0;
	if (r->stop_start == 0 || now - r->stop_start >= STOP_GRACE_MS) {
		if (r->stop_start != 0 &&
		    r->body_bytes - r->stop_bytes < STOP_MIN_BYTES) {
			pf_err_set(err, PF_ETEMP,
			    "stopped by a signal: the server sends a message "
			    "too slowly to finish it");
			return -2;
		}
		r->stop_start = now;
		r->stop_bytes = r->body_bytes;
	}
	return 0;
}

/* A body below the rate floor over a whole window gives up on the
 * connection; a window that made it starts the next one. */
static int
body_rate(struct run *r, struct pf_err *err)
{
	long long window =
	    (long long)r->a->timeout * 1000 * BODY_WINDOW_TIMEOUTS;
	long long now = sys_now_ms();

	if (window < BODY_WINDOW_MIN_MS)
		window = BODY_WINDOW_MIN_MS;
	if (now - r->window_start < window)
		return 0;
	if (r->body_bytes - r->window_bytes <
	    (unsigned long long)(BODY_MIN_RATE * (window / 1000))) {
		pf_err_set(err, PF_ETEMP,
		    "the server sends a message slower than %d octets a "
		    "second over %lld seconds; giving up on the connection",
		    BODY_MIN_RATE, window / 1000);
		return -2;
	}
	r->window_start = now;
	r->window_bytes = r->body_bytes;
	return 0;
}

/* Count body bytes; more than the hard cap (which no LIST size raises)
 * gives up on the connection, and so does a drip. */
static int
body_count(struct run *r, size_t len, struct pf_err *err)
{
	if (r->body_bytes + len > r->body_cap) {
		pf_err_set(err, PF_EPROTO,
		    "a message is larger than %llu octets "
		    "(max-message-size); giving up on the connection",
		    r->body_cap);
		return -2;
	}
	r->body_bytes += len;
	if (body_stop_rate(r, err) < 0)
		return -2;
	return body_rate(r, err);
}

/* Body callback: feed decoded bytes to the sink. */
static int
body_to_sink(void *ctx, const char *buf, size_t len, struct pf_err *err)
{
	struct run *r = ctx;

	if (body_count(r, len, err) < 0)
		return -2;
	if (sink_write(r->sink, buf, len, err) < 0) {
		r->sink_failed = true;
		return -1;
	}
	return 0;
}

/* Body callback for replies we no longer want (after a failure). */
static int
body_discard(void *ctx, const char *buf, size_t len, struct pf_err *err)
{
	(void)buf;
	return body_count(ctx, len, err);
}

/* Bound the size and the pace of a body, never by its listed size. */
static void
body_limits(struct run *r)
{
	r->body_bytes = 0;
	r->body_cap = account_message_max(r->a);
	r->window_start = sys_now_ms();
	r->window_bytes = 0;
	r->stop_start = 0;
	r->stop_bytes = 0;
}

/* Read one body with fn. */
static int
read_body(struct run *r, pop3_body_fn fn, struct pf_err *err)
{
	return pop3_body(r->p, fn, r, NULL, err);
}

/* Our Received: header (docs/contract.md §4). */
static int
write_received(struct run *r, unsigned long n, struct pf_err *err)
{
	char date[64], hdr[640], host[128], local[128];
	struct tm tm;
	time_t now = time(NULL);
	int len;

	if (r->a->no_received)
		return 0;
	if (localtime_r(&now, &tm) == NULL ||
	    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		date[0] = '\0';
	pf_sanitize(host, sizeof(host), r->a->host, strlen(r->a->host));
	pf_sanitize(
	    local, sizeof(local), sys_hostname(), strlen(sys_hostname()));
	len = snprintf(hdr, sizeof(hdr),
	    "Received: from %s by %s with POP3 (popfetch %s)\n\tid %lu; %s\n",
	    host, local, POPFETCH_VERSION, n, date);
	if (len < 0 || (size_t)len >= sizeof(hdr))
		return pf_err_set(
		    err, PF_ESOFTWARE, "Received: header too long");
	return sink_write(r->sink, hdr, (size_t)len, err);
}

static int drain_replies(struct run *r, struct pf_err *err);

/* Empty the batch after a commit or a failed one. */
static void
batch_reset(struct run *r)
{
	r->nbatch = 0;
	r->batch_bytes = 0;
}

/* The batch did not become durable: none of it counts as delivered. */
static int
batch_lost(struct run *r, struct pf_err *err)
{
	unsigned long first = r->msgs[r->batch[0]].n;
	unsigned long last = r->msgs[r->batch[r->nbatch - 1]].n;

	if (first == last)
		pf_err_prefix(err, "message %lu not delivered", first);
	else
		pf_err_prefix(
		    err, "messages %lu to %lu not delivered", first, last);
	r->st->errors += r->nbatch;
	r->st->bytes -= r->batch_bytes;
	batch_reset(r);
	return -1;
}

/* Queue the DELEs of the recorded batch (without PIPELINING, in strict
 * lock-step). */
static int
batch_delete(struct run *r, struct pf_err *err)
{
	bool lockstep = !pop3_capabilities(r->p)->pipelining;
	size_t i;

	for (i = 0; i < r->nbatch; i++) {
		r->st->fetched++;
		if (queue_cmd(r, POP3_CMD_DELE, r->batch[i], err) < 0 ||
		    (lockstep && drain_replies(r, err) < 0)) {
			r->st->fetched += r->nbatch - i - 1;
			return -1;
		}
	}
	return 0;
}

/*
 * Make the batch durable and recorded, then queue its DELEs. On a sink
 * failure none of the batch counts as delivered; on a state failure the
 * messages are delivered but not deleted (the next run finds them).
 */
static int
commit_batch(struct run *r, struct pf_err *err)
{
	time_t now = time(NULL);
	size_t i;
	int rc = 0;

	if (r->nbatch == 0)
		return 0;
	if (sink_sync(r->sink, err) < 0)
		return batch_lost(r, err);
	PF_FAULT("after_sink_sync");
	for (i = 0; i < r->nbatch; i++) {
		unsigned long idx = r->batch[i];

		if (r->mi[idx].record)
			state_set(r->state, r->msgs[idx].uid, r->msgs[idx].size,
			    now, r->a->keep ? STATE_KEPT : STATE_DELIVERED);
	}
	if (state_flush(r->state, err) < 0) {
		/* Delivered but not recorded: not deleted either; the next
		 * run recognises them (Maildir token, mbox record). */
		r->st->fetched += r->nbatch;
		batch_reset(r);
		return -1;
	}
	PF_FAULT("after_state_flush");
	sink_synced_recorded(r->sink);
	if (r->a->keep || r->p == NULL ||
	    pop3_state(r->p) != POP3_ST_TRANSACTION)
		r->st->fetched += r->nbatch;
	else
		rc = batch_delete(r, err);
	batch_reset(r);
	return rc;
}

/* Commit the batch; a failure stops the run but not the session. */
static void
commit_or_stop(struct run *r)
{
	struct pf_err cerr;

	if (commit_batch(r, &cerr) < 0)
		message_failed(r, &cerr);
}

/* The body of a message we no longer deliver: read and drop it. */
static int
skip_message(struct run *r, const struct pf_err *why, struct pf_err *err)
{
	if (why != NULL) {
		sink_abort(r->sink);
		message_failed(r, why);
	}
	return read_body(r, body_discard, err);
}

/* A message is in the sink's hands: count it, batch it, show it. */
static void
message_delivered(struct run *r, unsigned long idx)
{
	const struct pop3_msg *m = &r->msgs[idx];
	char ubuf[64];

	/* the server's size, as -n shows it (the bytes written differ by
	 * the line ends and the Received: field) */
	log_info("message %lu (uid %s, %llu octets) delivered to %s", m->n,
	    uid_shown(m->uid, ubuf, sizeof(ubuf)), m->size,
	    sink_last_where(r->sink));
	if (r->nbatch == 0)
		r->batch_start = sys_now_ms();
	r->batch[r->nbatch++] = idx;
	r->batch_bytes += r->body_bytes;
	r->st->bytes += r->body_bytes;
	r->prog.done++;
	r->prog.bytes += m->size;
	progress(r);
}

/* Read the body of message idx into the sink (or discard it). */
static int
receive_message(struct run *r, unsigned long idx, struct pf_err *err)
{
	const struct pop3_msg *m = &r->msgs[idx];
	const struct plan_item *mi = &r->mi[idx];
	struct sink_msg sm;
	struct pf_err merr;

	body_limits(r);
	if (r->stopping)
		return skip_message(r, NULL, err);
	sm.uid = m->uid;
	sm.token = mi->token[0] != '\0' ? mi->token : NULL;
	sm.size_hint = m->size;
	r->sink_failed = false;
	if (sink_open(r->sink, &sm, &merr) < 0 ||
	    write_received(r, m->n, &merr) < 0)
		return skip_message(r, &merr, err);
	if (read_body(r, body_to_sink, &merr) < 0) {
		sink_abort(r->sink);
		if (r->sink_failed && pop3_state(r->p) != POP3_ST_CLOSED) {
			pf_err_prefix(&merr, "message %lu not delivered", m->n);
			message_failed(r, &merr);
			return 0;
		}
		*err = merr;
		return -1;
	}
	PF_FAULT("after_body");
	if (sink_commit(r->sink, &merr) < 0) {
		pf_err_prefix(&merr, "message %lu not delivered", m->n);
		message_failed(r, &merr);
		return 0;
	}
	PF_FAULT("after_sink_commit");
	message_delivered(r, idx);
	return 0;
}

/* The answer to DELE of message idx. */
static void
dele_answered(struct run *r, unsigned long idx, int rc)
{
	const struct pop3_msg *m = &r->msgs[idx];
	struct pf_err merr;
	char ubuf[64], what[48];

	if (rc == POP3_OK) {
		r->deleted[r->ndeleted++] = idx;
		log_info("message %lu (uid %s) marked for deletion (%s)", m->n,
		    uid_shown(m->uid, ubuf, sizeof(ubuf)),
		    r->mi[idx].act == PLAN_FETCH ? "delivered"
						 : r->mi[idx].why);
		PF_FAULT("after_dele");
		return;
	}
	snprintf(what, sizeof(what), "DELE %lu", m->n);
	pop3_err_from_reply(r->p, what, PF_ETEMP, &merr);
	log_warning("%s", merr.msg);
	soft_failure(r, &merr);
}

/* Handle the oldest outstanding reply (its tag is the message index).
 * Returns 0, or -1 when the connection is no longer usable. */
static int
handle_reply(struct run *r, struct pf_err *err)
{
	enum pop3_cmd cmd;
	unsigned long idx;
	struct pf_err merr;
	char what[48];
	int rc;

	if (!pop3_next(r->p, &cmd, &idx))
		return pf_err_set(err, PF_ESOFTWARE, "no reply expected");
	if (cmd == POP3_CMD_RETR) {
		r->retr_inflight--;
		r->retr_inflight_bytes -= r->msgs[idx].size;
	}
	if ((rc = pop3_reply(r->p, err)) < 0)
		return -1;
	if (cmd != POP3_CMD_RETR) {
		dele_answered(r, idx, rc);
		return 0;
	}
	if (rc == POP3_OK)
		return receive_message(r, idx, err);
	if (!r->stopping) {
		snprintf(what, sizeof(what), "RETR %lu", r->msgs[idx].n);
		pop3_err_from_reply(r->p, what, PF_ETEMP, &merr);
		pf_err_prefix(
		    &merr, "message %lu not retrieved", r->msgs[idx].n);
		message_failed(r, &merr);
	}
	return 0;
}

/* Read every outstanding reply but a queued QUIT's (session_quit()
 * reads that one). */
static int
drain_replies(struct run *r, struct pf_err *err)
{
	enum pop3_cmd cmd;

	while (pop3_next(r->p, &cmd, NULL) && cmd != POP3_CMD_QUIT)
		if (handle_reply(r, err) < 0)
			return -1;
	return 0;
}

/* An mbox append interrupted by a crash turned out complete: record it. */
static int
confirm_recovered(void *ctx, const char *uid, struct pf_err *err)
{
	struct run *r = ctx;

	(void)err;
	state_set(r->state, uid, 0, time(NULL),
	    r->a->keep ? STATE_KEPT : STATE_DELIVERED);
	return 0;
}

/*
 * With PIPELINING, queue QUIT behind the last batch's DELEs so that both
 * go out in one write: the session ends one round trip sooner. A DELE the
 * server refuses changes nothing (QUIT commits the others, as when it
 * comes after the answers); a connection lost before QUIT's answer is the
 * after_quit_sent case of docs/internals.md.
 */
static void
quit_behind_deles(struct run *r)
{
	struct pf_err qerr;

	if (!pop3_capabilities(r->p)->pipelining || pop3_pending(r->p) == 0 ||
	    pop3_state(r->p) != POP3_ST_TRANSACTION)
		return;
	PF_FAULT("before_quit");
	if (pop3_quit_queue(r->p, &qerr) < 0)
		log_debug("QUIT not queued: %s", qerr.msg);
}

/* Send QUIT (unless queued already) and read its answer; on +OK the
 * server has removed the DELE'd messages. */
static void
session_quit(struct run *r)
{
	struct pf_err qerr;
	size_t i;
	int rc;

	if (pop3_state(r->p) != POP3_ST_UPDATE)
		PF_FAULT("before_quit");
	rc = pop3_quit(r->p, &qerr);
	if (rc == POP3_OK) {
		unsigned long long gone = 0;

		for (i = 0; i < r->ndeleted; i++) {
			const struct pop3_msg *m = &r->msgs[r->deleted[i]];

			gone += m->size;
			if (m->uid != NULL && !r->mi[r->deleted[i]].dup_uid)
				state_forget(r->state, m->uid);
		}
		r->expect_shrink = r->ndeleted > 0;
		r->expect_count = r->count - r->ndeleted;
		r->expect_total = r->total > gone ? r->total - gone : 0;
		r->st->deleted += r->ndeleted;
		r->st->left -= r->ndeleted;
	} else if (r->ndeleted > 0) {
		if (rc == POP3_ERR)
			pop3_err_from_reply(r->p, "QUIT", PF_ETEMP, &qerr);
		log_warning("deletions not confirmed by the server (%s); "
			    "they will be retried next run",
		    qerr.msg);
		soft_failure(r, &qerr);
	}
	r->ndeleted = 0;
}

/* Free what one session holds. */
static void
session_close(struct run *r)
{
	pop3_free(r->p);
	r->p = NULL;
	pop3_msgs_free(r->msgs, r->count);
	r->msgs = NULL;
	free(r->mi);
	r->mi = NULL;
	free(r->batch);
	r->batch = NULL;
	free(r->deleted);
	r->deleted = NULL;
	r->retr_inflight = 0;
	r->retr_inflight_bytes = 0;
	r->next = 0;
	r->count = 0;
	r->total = 0;
	r->nouidl_left = 0;
}

/*
 * After a QUIT that confirmed deletions, STAT must show the mailbox
 * shrunk by them, in count and in octets. Otherwise the server commits
 * nothing, and without UIDL this session would deliver the same
 * messages again: stop before any RETR (docs/faults.md #72). Mail that
 * arrived in between looks the same and stops the run too; nothing is
 * lost, and the next run goes on.
 */
static int
check_shrunk(struct run *r, struct pf_err *err)
{
	if (!r->expect_shrink)
		return 0;
	r->expect_shrink = false;
	if (r->count <= r->expect_count && r->total <= r->expect_total)
		return 0;
	return pf_err_set(err, PF_EPROTO,
	    "server '%s' confirmed deleting messages at QUIT but still has "
	    "them (STAT: %lu messages, %llu octets; at most %lu and %llu "
	    "expected); stopping so that they are not delivered again",
	    r->a->host, r->count, r->total, r->expect_count, r->expect_total);
}

/* Record the login and the LOGIN-DELAY the server announced (after
 * login, or before when it says nothing then), for the next run. */
static void
login_record(struct run *r)
{
	const struct pop3_capa *c = pop3_capabilities(r->p);
	unsigned long delay =
	    c->valid && c->login_delay > 0 ? (unsigned long)c->login_delay : 0;

	if (r->state == NULL || r->o->dry_run)
		return;
	/* The time matters only with a delay, now or from before (to clear
	 * it): without one nothing is written, so a cron poll that finds
	 * nothing writes nothing. */
	if (delay > 0 || state_login_delay(r->state) > 0)
		state_set_login(r->state, time(NULL), delay);
}

/* Connect, log in, list; refuse to go on without UIDL where that would
 * deliver again or fetch everything every time. */
static int
session_start(struct run *r, struct pf_err *err)
{
	const struct pop3_capa *c;

	if (session_open(r->a, &r->cp, r->o->trace, r->o->connect, r->o->ctx,
		&r->p, err) < 0 ||
	    session_login(r->p, r->a, r->o->secret, err) < 0)
		return -1;
	login_record(r);
	if (pop3_scan(
		r->p, &r->count, &r->total, &r->msgs, &r->have_uidl, err) < 0 ||
	    check_shrunk(r, err) < 0)
		return -1;
	c = pop3_capabilities(r->p);
	if (!r->have_uidl &&
	    (c->uidl || (r->state != NULL && state_count(r->state) > 0)))
		/* Falling back to "no UIDL" would deliver again what earlier
		 * runs delivered and could not delete. */
		return pf_err_set(err, PF_ETEMP,
		    "server '%s' refused UIDL although it %s; not fetching "
		    "without it",
		    r->a->host,
		    c->uidl ? "announces it" : "supported it in earlier runs");
	if (!r->have_uidl && r->a->keep)
		return pf_err_set(err, PF_EUNAVAIL,
		    "server '%s' does not support UIDL, which --keep needs "
		    "(without it every run would fetch everything again)",
		    r->a->host);
	r->st->listed = r->st->left = r->count;
	return 0;
}

/* plan_make()'s token lookup: the sink's. */
static bool
has_token(void *ctx, const char *token)
{
	struct run *r = ctx;

	return sink_has_token(r->sink, token);
}

/* Decide for every listed message, record what a dead run delivered,
 * and forget the state of messages gone from the server. */
static int
session_plan(struct run *r, struct pf_err *err)
{
	const struct account *a = r->a;
	const struct plan_policy pol = {.a = a,
	    .account_id = r->id,
	    .have_uidl = r->have_uidl,
	    .dry_run = r->o->dry_run,
	    .now = time(NULL)};
	unsigned long i, found = 0;

	r->mi = xcalloc(r->count + 1, sizeof(*r->mi));
	r->batch = xcalloc(r->count + 1, sizeof(*r->batch));
	r->deleted = xcalloc(r->count + 1, sizeof(*r->deleted));
	r->nouidl_left = plan_make(r->msgs, r->count, r->state, &pol,
	    r->sink != NULL ? has_token : NULL, r, r->mi);
	for (i = 0; i < r->count; i++) {
		if (!r->mi[i].found)
			continue;
		state_set(r->state, r->msgs[i].uid, r->msgs[i].size, pol.now,
		    a->keep ? STATE_KEPT : STATE_DELIVERED);
		found++;
	}
	if (found > 0 && state_flush(r->state, err) < 0)
		return -1;
	if (!r->o->dry_run)
		plan_prune(r->state, r->msgs, r->count, r->have_uidl);
	return 0;
}

/* The dry-run report of the plan. */
static void
report_plan(struct run *r)
{
	static const char *const verbs[] = {
	    [PLAN_FETCH] = "fetch",
	    [PLAN_DELETE] = "delete",
	    [PLAN_KILL] = "delete",
	    [PLAN_SKIP] = "skip",
	};
	unsigned long i;
	char ubuf[64];

	for (i = 0; i < r->count; i++) {
		const struct pop3_msg *m = &r->msgs[i];
		const struct plan_item *mi = &r->mi[i];
		const char *verb = verbs[mi->act];

		if (mi->act == PLAN_FETCH && !r->a->keep)
			verb = "fetch+delete";
		report(r, "%s: %s message %lu (uid %s, %llu octets): %s",
		    r->a->name != NULL ? r->a->name : r->a->host, verb, m->n,
		    uid_shown(m->uid, ubuf, sizeof(ubuf)), m->size, mi->why);
		if (mi->act == PLAN_SKIP)
			r->st->skipped++;
	}
}

/* Delete what was delivered before (or is too big), which is safe at
 * once; count and show what stays; size the progress bar. */
static int
delete_known(struct run *r, struct pf_err *err)
{
	unsigned limit = pop3_capabilities(r->p)->pipelining ? 128U : 1U;
	unsigned long i, nfetch = 0;
	char ubuf[64];

	for (i = 0; i < r->count; i++) {
		const struct pop3_msg *m = &r->msgs[i];

		if (r->mi[i].act == PLAN_FETCH) {
			nfetch++;
			r->prog.total_bytes += m->size;
		} else if (r->mi[i].act == PLAN_SKIP) {
			r->st->skipped++;
			/* "seen before" is every kept message on every run:
			 * -vv only; other reasons (size, no UID) at -v */
			log_msg(strcmp(r->mi[i].why, "seen before") == 0
				? LOGL_DEBUG
				: LOGL_INFO,
			    "message %lu (uid %s, %llu octets) left on the "
			    "server: %s",
			    m->n, uid_shown(m->uid, ubuf, sizeof(ubuf)),
			    m->size, r->mi[i].why);
		} else if (queue_cmd(r, POP3_CMD_DELE, i, err) < 0) {
			return -1;
		}
		if (pop3_pending(r->p) >= limit && drain_replies(r, err) < 0)
			return -1;
	}
	r->prog.total = nfetch;
	r->st->fresh += nfetch;
	progress(r);
	return 0;
}

/* A signal: bodies already on their way are read and dropped, what is
 * durable gets recorded and deleted, then QUIT. */
static void
check_signal(struct run *r)
{
	struct pf_err serr;

	if (fetch_stop_requested() && !r->stopping) {
		pf_err_set(&serr, PF_ETEMP, "interrupted by a signal");
		stop_run(r, &serr);
	}
}

/*
 * Top the window up with RETRs, in chunks of WINDOW_REFILL, bounded in
 * commands and in listed octets, always leaving room in pop3's command
 * queue for a batch of DELEs.
 */
static int
window_refill(struct run *r, unsigned long window, struct pf_err *err)
{
	bool refill = r->retr_inflight == 0 ||
	    (r->retr_inflight + WINDOW_REFILL <= window &&
		r->retr_inflight_bytes <= WINDOW_MAX_BYTES / 2 &&
		WINDOW_REFILL + PLAN_BATCH_MAX_MSGS < pop3_room(r->p));

	while (refill && !r->stopping && !fetch_stop_requested() &&
	    r->next < r->count && r->retr_inflight < window &&
	    PLAN_BATCH_MAX_MSGS + 1 < pop3_room(r->p) &&
	    (r->retr_inflight == 0 ||
		r->retr_inflight_bytes + r->msgs[r->next].size <=
		    WINDOW_MAX_BYTES)) {
		if (r->mi[r->next].act == PLAN_FETCH &&
		    queue_cmd(r, POP3_CMD_RETR, r->next, err) < 0)
			return -1;
		r->next++;
	}
	return 0;
}

/* True when the batch is due (plan.h: count, octets, age, or each
 * delivery final at once). */
static bool
batch_due(const struct run *r)
{
	struct plan_batch b;

	b.msgs = r->nbatch;
	b.bytes = r->batch_bytes;
	b.age_ms = r->nbatch > 0 ? sys_now_ms() - r->batch_start : 0;
	b.final_each = (sink_flags(r->sink) & SINK_FINAL_EACH) != 0;
	return plan_batch_due(&b);
}

/* Retrieve, deliver and commit in pipelined windows until every reply
 * is in. -1 when the connection is no longer usable. */
static int
fetch_messages(struct run *r, struct pf_err *err)
{
	unsigned long window =
	    pop3_capabilities(r->p)->pipelining ? WINDOW_MAX_CMDS : 1;

	r->next = 0;
	for (;;) {
		check_signal(r);
		if (window_refill(r, window, err) < 0)
			return -1;
		if (pop3_pending(r->p) == 0)
			return 0;
		if (handle_reply(r, err) < 0)
			return -1;
		if (batch_due(r))
			commit_or_stop(r);
	}
}

/* The connection is gone: keep what is durable, delete nothing. */
static void
keep_durable(struct run *r)
{
	struct pf_err cerr;

	pop3_abandon(r->p);
	if (commit_batch(r, &cerr) < 0)
		log_error("%s", cerr.msg);
}

/*
 * One POP3 session: log in, list, plan, delete what was delivered before,
 * fetch in pipelined windows with group commits, QUIT. *more is set when
 * a server without UIDL has more messages than one session may take.
 */
static int
session_run(struct run *r, bool *more, struct pf_err *err)
{
	unsigned long deleted_before = r->st->deleted;
	int ret = -1;

	*more = false;
	if (session_start(r, err) < 0 || session_plan(r, err) < 0)
		goto out;
	if (r->o->dry_run) {
		report_plan(r);
		session_quit(r);
		ret = 0;
		goto out;
	}
	if (delete_known(r, err) < 0)
		goto out;
	if (fetch_messages(r, err) < 0) {
		keep_durable(r);
		goto out;
	}
	commit_or_stop(r);
	quit_behind_deles(r);
	if (drain_replies(r, err) < 0)
		goto out;
	session_quit(r);
	/* without UIDL, reconnect for the rest once this session's
	 * deletions are committed (and only if any were) */
	*more = !r->have_uidl && !r->stopping && r->nouidl_left > 0 &&
	    r->a->limit == 0 && r->st->deleted > deleted_before;
	ret = 0;
out:
	session_close(r);
	return ret;
}

/* A run earlier than the LOGIN-DELAY the server announced at the last
 * login does not connect (docs/faults.md #74). A clock that went back
 * past the last login cannot tell, so it lets the run go on. */
static int
login_delay_check(struct run *r, struct pf_err *err)
{
	time_t last = state_last_login(r->state), now = time(NULL), next;
	unsigned long delay = state_login_delay(r->state);
	char when[64];
	struct tm tm;

	if (last == 0 || delay == 0 || now < last)
		return 0;
	next = last + (time_t)delay;
	if (now >= next)
		return 0;
	if (localtime_r(&next, &tm) == NULL ||
	    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %z", &tm) == 0)
		snprintf(when, sizeof(when), "%lld", (long long)next);
	r->st->login_wait = true;
	return pf_err_set(err, PF_ETEMP,
	    "server '%s' allows the next login at %s (LOGIN-DELAY of %lu "
	    "seconds after the last login); not connecting",
	    r->a->host, when, delay);
}

/* Load the account's state; the first time, from what popfetch 0.1.0
 * kept for the mailbox (-n only reads that, it carries nothing over). */
static int
run_own_state(struct run *r, struct pf_err *err)
{
	const char *dir = r->a->state_dir, *id = r->id;
	char *legacy = account_id(r->a);
	int rc = 0;

	if (r->a->shares_mailbox) {
		/* whose records are whose cannot be told: fetching again
		 * what is still there only duplicates, guessing could delete
		 * what this account never delivered */
		if (!state_exists(dir, id) && state_exists(dir, legacy))
			log_warning("not carrying over the seen-state of '%s' "
				    "(popfetch 0.1.0): other accounts read "
				    "this mailbox too",
			    legacy);
	} else if (r->o->dry_run) {
		if (!state_exists(dir, id) && state_exists(dir, legacy))
			id = legacy;
	} else
		rc = state_carry_over(dir, legacy, id, err);
	if (rc >= 0 && (r->state = state_load(dir, id, err)) == NULL)
		rc = -1;
	free(legacy);
	return rc < 0 ? -1 : 0;
}

/* Lock, load the state, prepare the target and resolve what a killed
 * run left, all before connecting. */
static int
run_prepare(struct run *r, struct pf_err *err)
{
	const struct account *a = r->a;
	const struct sink_params sp = {.kind = a->sink,
	    .path = a->sink_path,
	    .spool_dir = a->state_dir,
	    .account_id = r->id,
	    .lock_wait = a->lock_wait,
	    .mda_timeout = a->mda_timeout,
	    .conn = &r->cp,
	    .recipient = a->recipient,
	    .delete_refused = a->delete_refused,
	    .timeout = a->timeout,
	    .trace = r->o->trace,

	    .allow_foreign_mbox = a->allow_foreign_mbox};
	bool appended;
	int rc;

	if (!r->o->dry_run &&
	    (r->lockfd = lock_account(a->state_dir, r->id, err)) < 0)
		return -1;
	if (r->o->dry_run && access(a->state_dir, F_OK) < 0)
		return 0; /* nothing seen yet, and nothing to create */
	if (run_own_state(r, err) < 0)
		return -1;
	if (r->o->dry_run)
		return 0;
	if (login_delay_check(r, err) < 0)
		return -1;
	if ((r->sink = sink_new(&sp, err)) == NULL)
		return -1;
	appended = (sink_kind_flags(a->sink) & SINK_APPENDS) != 0;
	rc =
	    pending_recover(a->state_dir, r->id, appended ? a->sink_path : NULL,
		a->lock_wait, confirm_recovered, r, err);
	if (rc < 0 || state_flush(r->state, err) < 0)
		return -1;
	if (rc == 1)
		pending_forget(a->state_dir, r->id);
	return 0;
}

/* The sessions: one, or several for a server without UIDL. */
static int
run_sessions(struct run *r, struct pf_err *err)
{
	unsigned sessions = 0;
	bool more;

	do {
		if (++sessions > NOUIDL_MAX_SESSIONS) {
			log_warning("server '%s' lacks UIDL: %d sessions of at "
				    "most %d messages in this run; the rest "
				    "waits for the next run",
			    r->a->host, NOUIDL_MAX_SESSIONS, PLAN_NOUIDL_MAX);
			break;
		}
		if (session_run(r, &more, err) < 0) {
			/* A message that failed first is the story to tell;
			 * the connection trouble after it comes second. */
			if (r->have_msg_err) {
				log_warning("%s", err->msg);
				*err = r->msg_err;
			}
			return -1;
		}
	} while (more && !r->stopping);
	if (r->have_msg_err) {
		*err = r->msg_err;
		return -1;
	}
	if (r->soft_fail) {
		*err = r->soft_err;
		return -1;
	}
	return 0;
}

int
fetch_account(const struct account *a, const struct fetch_opts *o,
    struct fetch_stats *stats, struct pf_err *err)
{
	struct timespec t0, t1;
	struct pf_err cerr;
	struct run r;
	int ret = -1;

	memset(stats, 0, sizeof(*stats));
	memset(&r, 0, sizeof(r));
	stream_stop_on(&stop_requested, STOP_GRACE_MS);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r.a = a;
	r.o = o;
	r.st = stats;
	r.lockfd = -1;
	r.id = account_key(a);
	session_conn_params(a, &r.cp);
	r.cp.proxy_password = o->proxy_secret;
	if (run_prepare(&r, err) == 0 && run_sessions(&r, err) == 0)
		ret = 0;
	if (r.state != NULL && !o->dry_run &&
	    state_compact(r.state, &cerr) < 0 && ret == 0) {
		*err = cerr;
		ret = -1;
	}
	sink_free(r.sink);
	state_free(r.state);
	lock_release(r.lockfd);
	free(r.id);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	stats->seconds = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	return ret;
}
