/*
 * fetch.c: one account's run. The order of the steps is the product's
 * promise (SPEC.md section 4): a message is retrieved, delivered durably
 * (sink_commit, then sink_sync for the batch), recorded durably
 * (uidl_flush), and only then DELE'd; QUIT commits the deletions.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "popfetch/auth.h"
#include "popfetch/conn.h"
#include "popfetch/fetch.h"
#include "popfetch/log.h"
#include "popfetch/pop3.h"
#include "popfetch/sink.h"
#include "popfetch/uidl.h"
#include "popfetch/xmalloc.h"
#include "compat.h"

/* Group commit: sync the sink and the state after this many messages or
 * bytes, whichever comes first. */
#define BATCH_MAX_MSGS	    50
#define BATCH_MAX_BYTES	    (64ULL * 1024 * 1024)
/*
 * Pipelining window: RETRs in flight, and their listed octets. Commands
 * are tiny, so our side never blocks writing them while the server blocks
 * writing bodies; the byte bound keeps what the server has queued for us
 * modest. The window is topped up once WINDOW_REFILL slots are free, so
 * the commands of a refill travel together in one TLS record.
 */
#define WINDOW_MAX_CMDS	    128
#define WINDOW_MAX_BYTES    (4ULL * 1024 * 1024)
#define WINDOW_REFILL	    16 /* top up once this many slots are free */
/* Without UIDL: QUIT (committing deletions) after this many messages, so
 * a dropped connection re-delivers at most this many. */
#define NOUIDL_COMMIT_EVERY 20
/* A body larger than this (or than 1.5 times its listed size, if that is
 * more) ends the session: a server streaming without end must not fill
 * the disk (RELIABILITY.md 5.1). */
#define MESSAGE_HARD_MAX    (256ULL * 1024 * 1024)
/* A body must arrive at this rate at least, on top of --timeout, so a
 * server dripping a byte just inside each timeout still fails. */
#define BODY_MIN_RATE	    4096

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

enum action {
	ACT_FETCH,  /* retrieve and deliver */
	ACT_DELETE, /* delivered before: delete without retrieving */
	ACT_KILL,   /* too big: delete without retrieving */
	ACT_SKIP,   /* leave on the server */
};

struct msginfo {
	enum action act;
	const char *why; /* for the dry-run and -v lines */
	bool dup_uid;	 /* the UID occurs more than once in the listing */
	bool dup_first;	 /* ... and this is its first occurrence */
	bool record;	 /* record the UID once delivered */
	char token[17];	 /* Maildir crash-recovery token, or "" */
};

/* What a reply we are waiting for belongs to. */
struct inflight {
	enum pop3_cmd cmd;
	unsigned long idx; /* index into msgs */
};

struct run {
	const struct account *a;
	const struct fetch_opts *o;
	struct fetch_stats *st;
	char *id;
	int lockfd;
	struct uidl_state *state;
	struct sink *sink;
	struct conn_params cp;
	struct pop3 p;
	bool connected;
	/* the current session's listing */
	unsigned long count;
	struct pop3_msg *msgs;
	struct msginfo *mi;
	bool have_uidl;
	unsigned long nouidl_left; /* left for the next no-UIDL session */
	/* replies we wait for, in order */
	struct inflight *fifo;
	size_t fifo_head, fifo_len, fifo_cap;
	unsigned long retr_inflight;
	unsigned long long retr_inflight_bytes;
	/* delivered, not yet synced/recorded */
	unsigned long *batch;
	size_t nbatch;
	unsigned long long batch_bytes;
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
	char local_host[256];
	struct fetch_progress prog;
	unsigned long long body_bytes;
	unsigned long long body_cap;
	bool sink_failed;
};

/* A 16-hex-digit token from the account, UID and size: the same message
 * gets the same token in every run, so a Maildir delivery that was not
 * recorded before a crash can be recognised. */
static void
make_token(
    const char *id, const char *uid, unsigned long long size, char out[17])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char *in;
	int i;

	in = xasprintf("popfetch-token\n%s\n%s\n%llu", id, uid, size);
	if (EVP_Digest(in, strlen(in), md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen < 8) {
		out[0] = '\0';
		free(in);
		return;
	}
	free(in);
	for (i = 0; i < 8; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[16] = '\0';
}

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

/* Queue a command and remember which message its reply belongs to. */
static int
queue_cmd(
    struct run *r, enum pop3_cmd cmd, unsigned long idx, struct pf_err *err)
{
	char arg[32];

	snprintf(arg, sizeof(arg), "%lu", r->msgs[idx].n);
	if (pop3_cmd(&r->p, cmd, arg, false, err) < 0)
		return -1;
	if (r->fifo_len == r->fifo_cap) {
		/* grow the ring, unrolling it */
		size_t i, ncap = r->fifo_cap == 0 ? 64 : r->fifo_cap * 2;
		struct inflight *n = xcalloc(ncap, sizeof(*n));

		for (i = 0; i < r->fifo_len; i++)
			n[i] = r->fifo[(r->fifo_head + i) % r->fifo_cap];
		free(r->fifo);
		r->fifo = n;
		r->fifo_cap = ncap;
		r->fifo_head = 0;
	}
	r->fifo[(r->fifo_head + r->fifo_len) % r->fifo_cap] =
	    (struct inflight){cmd, idx};
	r->fifo_len++;
	if (cmd == POP3_CMD_RETR) {
		r->retr_inflight++;
		r->retr_inflight_bytes += r->msgs[idx].size;
	}
	return 0;
}

/* Body callback: feed decoded bytes to the sink. */
static int
body_to_sink(void *ctx, const char *buf, size_t len, struct pf_err *err)
{
	struct run *r = ctx;

	if (r->body_bytes + len > r->body_cap) {
		pf_err_set(err, PF_EPROTO,
		    "a message is larger than %llu "
		    "octets (far over its listed size); giving up on the "
		    "connection",
		    r->body_cap);
		return -2;
	}
	r->body_bytes += len;
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
	struct run *r = ctx;

	(void)buf;
	r->body_bytes += len;
	if (r->body_bytes > r->body_cap) {
		pf_err_set(err, PF_EPROTO,
		    "a message is larger than %llu "
		    "octets (far over its listed size); giving up on the "
		    "connection",
		    r->body_cap);
		return -2;
	}
	return 0;
}

/* Bound the size and the duration of message idx's body. */
static void
body_limits(struct run *r, unsigned long idx)
{
	unsigned long long size = r->msgs[idx].size;

	r->body_bytes = 0;
	r->body_cap = size + size / 2 > MESSAGE_HARD_MAX ? size + size / 2
							 : MESSAGE_HARD_MAX;
	stream_set_response_deadline(
	    r->p.s, (long long)(size / BODY_MIN_RATE) * 1000);
}

/* Our Received: header (SPEC.md section 4). */
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
	pf_sanitize(local, sizeof(local), r->local_host, strlen(r->local_host));
	len = snprintf(hdr, sizeof(hdr),
	    "Received: from %s by %s with POP3 (popfetch %s)\n\tid %lu; %s\n",
	    host, local, POPFETCH_VERSION, n, date);
	if (len < 0 || (size_t)len >= sizeof(hdr))
		return pf_err_set(
		    err, PF_ESOFTWARE, "Received: header too long");
	return sink_write(r->sink, hdr, (size_t)len, err);
}

static int drain_replies(struct run *r, struct pf_err *err);

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

	if (r->nbatch == 0)
		return 0;
	if (sink_sync(r->sink, err) < 0) {
		unsigned long first = r->msgs[r->batch[0]].n;
		unsigned long last = r->msgs[r->batch[r->nbatch - 1]].n;

		if (first == last)
			pf_err_prefix(err, "message %lu not delivered", first);
		else
			pf_err_prefix(err, "messages %lu to %lu not delivered",
			    first, last);
		r->st->errors += r->nbatch;
		r->st->bytes -= r->batch_bytes;
		r->nbatch = 0;
		r->batch_bytes = 0;
		return -1;
	}
	PF_FAULT("after_sink_sync");
	for (i = 0; i < r->nbatch; i++) {
		unsigned long idx = r->batch[i];

		if (r->mi[idx].record)
			uidl_set(r->state, r->msgs[idx].uid, r->msgs[idx].size,
			    now, r->a->keep ? UIDL_KEPT : UIDL_DELIVERED);
	}
	if (uidl_flush(r->state, err) < 0) {
		/* Delivered but not recorded: not deleted either; the next
		 * run recognises them (Maildir token, mbox record). */
		r->st->fetched += r->nbatch;
		r->nbatch = 0;
		r->batch_bytes = 0;
		return -1;
	}
	PF_FAULT("after_state_flush");
	sink_synced_recorded(r->sink);
	for (i = 0; i < r->nbatch; i++) {
		unsigned long idx = r->batch[i];

		r->st->fetched++;
		if (r->a->keep || !r->connected ||
		    r->p.state != POP3_ST_TRANSACTION)
			continue;
		/* without PIPELINING, strict lock-step */
		if (queue_cmd(r, POP3_CMD_DELE, idx, err) < 0 ||
		    (!r->p.capa.pipelining && drain_replies(r, err) < 0)) {
			r->st->fetched += r->nbatch - i - 1;
			r->nbatch = 0;
			r->batch_bytes = 0;
			return -1;
		}
	}
	r->nbatch = 0;
	r->batch_bytes = 0;
	return 0;
}

/* Read the body of message idx into the sink (or discard it). */
static int
receive_message(struct run *r, unsigned long idx, struct pf_err *err)
{
	const struct pop3_msg *m = &r->msgs[idx];
	struct msginfo *mi = &r->mi[idx];
	struct sink_msg sm;
	struct pf_err merr;
	char ubuf[64];

	int rc;

	body_limits(r, idx);
	if (r->stopping) {
		rc = pop3_body(&r->p, body_discard, r, NULL, err);
		stream_set_response_deadline(r->p.s, -1);
		return rc;
	}
	sm.uid = m->uid;
	sm.token = mi->token[0] != '\0' ? mi->token : NULL;
	sm.size_hint = m->size;
	r->sink_failed = false;
	if (sink_open(r->sink, &sm, &merr) < 0 ||
	    write_received(r, m->n, &merr) < 0) {
		sink_abort(r->sink);
		message_failed(r, &merr);
		rc = pop3_body(&r->p, body_discard, r, NULL, err);
		stream_set_response_deadline(r->p.s, -1);
		return rc;
	}
	rc = pop3_body(&r->p, body_to_sink, r, NULL, &merr);
	stream_set_response_deadline(r->p.s, -1);
	if (rc < 0) {
		sink_abort(r->sink);
		if (r->sink_failed && r->p.state != POP3_ST_CLOSED) {
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
	log_info("message %lu (uid %s, %llu octets) delivered to %s", m->n,
	    uid_shown(m->uid, ubuf, sizeof(ubuf)), r->body_bytes,
	    sink_last_where(r->sink));
	r->batch[r->nbatch++] = idx;
	r->batch_bytes += r->body_bytes;
	r->st->bytes += r->body_bytes;
	r->prog.done++;
	r->prog.bytes += m->size;
	progress(r);
	return 0;
}

/* Handle the oldest outstanding reply. Returns 0, or -1 when the
 * connection is no longer usable. */
static int
handle_reply(struct run *r, struct pf_err *err)
{
	struct inflight f = r->fifo[r->fifo_head];
	const struct pop3_msg *m = &r->msgs[f.idx];
	struct pf_err merr;
	char what[48];
	int rc;

	r->fifo_head = (r->fifo_head + 1) % r->fifo_cap;
	r->fifo_len--;
	if (f.cmd == POP3_CMD_RETR) {
		r->retr_inflight--;
		r->retr_inflight_bytes -= m->size;
	}
	rc = pop3_reply(&r->p, err);
	if (rc < 0)
		return -1;
	snprintf(what, sizeof(what), "%s %lu",
	    f.cmd == POP3_CMD_RETR ? "RETR" : "DELE", m->n);
	if (f.cmd == POP3_CMD_RETR) {
		if (rc == POP3_OK)
			return receive_message(r, f.idx, err);
		if (!r->stopping) {
			pop3_err_from_reply(&r->p, what, PF_ETEMP, &merr);
			pf_err_prefix(&merr, "message %lu not retrieved", m->n);
			message_failed(r, &merr);
		}
		return 0;
	}
	if (rc == POP3_OK) {
		char ubuf[64];

		r->deleted[r->ndeleted++] = f.idx;
		log_info("message %lu (uid %s) marked for deletion (%s)", m->n,
		    uid_shown(m->uid, ubuf, sizeof(ubuf)),
		    r->mi[f.idx].act == ACT_FETCH ? "delivered"
						  : r->mi[f.idx].why);
		PF_FAULT("after_dele");
		return 0;
	}
	pop3_err_from_reply(&r->p, what, PF_ETEMP, &merr);
	log_warning("%s", merr.msg);
	if (!r->soft_fail) {
		r->soft_err = merr;
		r->soft_fail = true;
	}
	return 0;
}

/* Read every outstanding reply. */
static int
drain_replies(struct run *r, struct pf_err *err)
{
	while (r->fifo_len > 0)
		if (handle_reply(r, err) < 0)
			return -1;
	return 0;
}

/* Compare function for sorting UIDs. */
static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

struct prune_ctx {
	const char **uids; /* sorted UIDs of the listing */
	size_t n;
	char **gone;
	size_t ngone, capgone;
};

/* Collect records whose UID is no longer on the server. */
static void
prune_visit(void *ctx, const struct uidl_rec *rec)
{
	struct prune_ctx *pc = ctx;

	if (bsearch(&rec->uid, pc->uids, pc->n, sizeof(*pc->uids), cmp_str) !=
	    NULL)
		return;
	if (pc->ngone == pc->capgone) {
		pc->capgone = pc->capgone == 0 ? 64 : pc->capgone * 2;
		pc->gone =
		    xreallocarray(pc->gone, pc->capgone, sizeof(*pc->gone));
	}
	pc->gone[pc->ngone++] = xstrdup(rec->uid);
}

/* Order message indices by UID, then by message number. */
static const struct pop3_msg *sort_msgs;
static int
cmp_idx(const void *a, const void *b)
{
	unsigned long i = *(const unsigned long *)a;
	unsigned long j = *(const unsigned long *)b;
	int c = strcmp(sort_msgs[i].uid, sort_msgs[j].uid);

	if (c != 0)
		return c;
	return i < j ? -1 : i > j;
}

/* Mark UIDs that occur more than once, and each one's first occurrence,
 * in O(n log n) whatever the server sends. */
static void
mark_duplicates(struct run *r)
{
	unsigned long *idx = xcalloc(r->count + 1, sizeof(*idx));
	unsigned long i, j, n = 0;

	for (i = 0; i < r->count; i++)
		if (r->msgs[i].uid != NULL)
			idx[n++] = i;
	sort_msgs = r->msgs;
	qsort(idx, n, sizeof(*idx), cmp_idx);
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n &&
		     strcmp(r->msgs[idx[i]].uid, r->msgs[idx[j]].uid) == 0;
		     j++)
			;
		if (j - i > 1) {
			unsigned long k;

			for (k = i; k < j; k++)
				r->mi[idx[k]].dup_uid = true;
			r->mi[idx[i]].dup_first = true;
		}
	}
	free(idx);
}

/*
 * Decide what to do with each listed message, and mark duplicate UIDs.
 * Only called with a complete, validated listing.
 */
static int
plan(struct run *r, struct pf_err *err)
{
	const struct account *a = r->a;
	unsigned long i, nfetch = 0;
	time_t now = time(NULL);
	bool recorded = false;
	char ubuf[64];

	for (i = 0; i < r->count; i++) {
		const struct pop3_msg *m = &r->msgs[i];
		struct msginfo *mi = &r->mi[i];
		const struct uidl_rec *rec = NULL;

		mi->act = ACT_FETCH;
		mi->why = "new";
		if (m->uid != NULL)
			rec = r->state != NULL ? uidl_find(r->state, m->uid)
					       : NULL;
		mi->record = m->uid != NULL && (!mi->dup_uid || a->keep);
		if (mi->record && !mi->dup_uid)
			make_token(r->id, m->uid, m->size, mi->token);

		if (a->kill_size > 0 && m->size > a->kill_size) {
			mi->act = ACT_KILL;
			mi->why = "larger than kill-size";
			continue;
		}
		if (rec != NULL && !a->fetch_all && !mi->dup_uid) {
			if (rec->size != 0 && rec->size != m->size &&
			    rec->kind == UIDL_DELIVERED) {
				log_warning(
				    "message %lu (uid %s) was delivered "
				    "before with another size (%llu, now %llu); "
				    "fetching it again",
				    m->n, uid_shown(m->uid, ubuf, sizeof(ubuf)),
				    rec->size, m->size);
			} else if (!a->keep) {
				mi->act = ACT_DELETE;
				mi->why = "delivered before";
				continue;
			} else if (a->delete_after >= 0 &&
			    now - rec->first_seen >=
				(time_t)a->delete_after * 86400) {
				mi->act = ACT_DELETE;
				mi->why = "older than delete-after";
				continue;
			} else {
				mi->act = ACT_SKIP;
				mi->why = "seen before";
				continue;
			}
		}
		if (a->keep && m->uid == NULL) {
			mi->act = ACT_SKIP;
			mi->why = "no UID (cannot be tracked with --keep)";
			continue;
		}
		if (a->keep && mi->dup_uid) {
			/* deliver the first occurrence only */
			if (!mi->dup_first) {
				log_warning(
				    "message %lu repeats the UID of an "
				    "earlier message; delivering one of them",
				    m->n);
				mi->act = ACT_SKIP;
				mi->why = "duplicate UID";
				continue;
			}
			if (rec != NULL && !a->fetch_all) {
				mi->act = ACT_SKIP;
				mi->why = "seen before";
				continue;
			}
		}
		if (a->max_size > 0 && m->size > a->max_size) {
			mi->act = ACT_SKIP;
			mi->why = "larger than max-size";
			continue;
		}
		if (!a->fetch_all && mi->token[0] != '\0' && !r->o->dry_run &&
		    sink_has_token(r->sink, mi->token)) {
			/* delivered by a run that died before recording it */
			log_notice("message %lu (uid %s) is already in the "
				   "Maildir; recording it as delivered",
			    m->n, uid_shown(m->uid, ubuf, sizeof(ubuf)));
			uidl_set(r->state, m->uid, m->size, now,
			    a->keep ? UIDL_KEPT : UIDL_DELIVERED);
			recorded = true;
			mi->act = a->keep ? ACT_SKIP : ACT_DELETE;
			mi->why = "delivered before";
			continue;
		}
		if (a->limit > 0 && nfetch >= a->limit) {
			mi->act = ACT_SKIP;
			mi->why = "over the limit";
			continue;
		}
		if (!r->have_uidl && nfetch >= NOUIDL_COMMIT_EVERY &&
		    !r->o->dry_run) {
			mi->act = ACT_SKIP;
			mi->why = "left for the next session";
			r->nouidl_left++;
			continue;
		}
		nfetch++;
	}
	if (recorded && uidl_flush(r->state, err) < 0)
		return -1;
	return 0;
}

/* Drop state records for messages that are gone from the server. */
static void
prune_state(struct run *r, const char **sorted, size_t nsorted)
{
	struct prune_ctx pc = {sorted, nsorted, NULL, 0, 0};
	size_t i;

	uidl_foreach(r->state, prune_visit, &pc);
	for (i = 0; i < pc.ngone; i++) {
		uidl_forget(r->state, pc.gone[i]);
		free(pc.gone[i]);
	}
	free(pc.gone);
}

/* An mbox append interrupted by a crash turned out complete: record it. */
static int
confirm_recovered(void *ctx, const char *uid, struct pf_err *err)
{
	struct run *r = ctx;

	(void)err;
	uidl_set(r->state, uid, 0, time(NULL),
	    r->a->keep ? UIDL_KEPT : UIDL_DELIVERED);
	return 0;
}

/* Connect, upgrade to TLS if asked, read capabilities. */
static int
session_open(struct run *r, struct pf_err *err)
{
	struct pop3_params par = {r->o->trace};
	struct stream *s;

	s = conn_open(&r->cp, err);
	if (s == NULL)
		return -1;
	pop3_init(&r->p, s, &par);
	r->connected = true;
	if (pop3_greeting(&r->p, err) < 0 || pop3_capa(&r->p, err) < 0)
		return -1;
	if (r->cp.tls == CONN_TLS_STARTTLS) {
		if (!r->p.capa.stls)
			return pf_err_set(err, PF_ENOPERM,
			    "server '%s' does not offer STLS; refusing to continue without TLS",
			    r->a->host);
		if (pop3_stls(&r->p, err) < 0 ||
		    conn_starttls(r->p.s, &r->cp, err) < 0 ||
		    pop3_capa(&r->p, err) < 0)
			return -1;
	}
	return 0;
}

/* Log in with the account's mechanism policy. */
static int
session_login(struct run *r, struct pf_err *err)
{
	struct auth_params ap;

	memset(&ap, 0, sizeof(ap));
	ap.mech = r->a->auth;
	ap.user = r->a->user;
	ap.secret = r->o->secret != NULL ? r->o->secret : "";
	ap.host = r->a->host;
	ap.port = account_port(r->a);
	ap.tls = stream_is_tls(r->p.s);
	ap.allow_plain = r->a->tls == CONN_TLS_NONE && r->a->auth != AUTH_AUTO;
	if (!ap.tls && ap.allow_plain && auth_sends_cleartext(r->a->auth))
		log_warning("sending the password in clear text to '%s' "
			    "(--no-tls with --auth=%s)",
		    r->a->host, auth_mech_names[r->a->auth]);
	return auth_login(&r->p, &ap, NULL, err);
}

/* Send QUIT; on +OK the server has removed the DELE'd messages. */
static void
session_quit(struct run *r)
{
	struct pf_err qerr;
	size_t i;
	int rc;

	PF_FAULT("before_quit");
	rc = pop3_quit(&r->p, &qerr);
	if (rc == POP3_OK) {
		for (i = 0; i < r->ndeleted; i++) {
			const struct pop3_msg *m = &r->msgs[r->deleted[i]];

			if (m->uid != NULL && !r->mi[r->deleted[i]].dup_uid)
				uidl_forget(r->state, m->uid);
		}
		r->st->deleted += r->ndeleted;
	} else if (r->ndeleted > 0) {
		if (rc == POP3_ERR)
			pop3_err_from_reply(&r->p, "QUIT", PF_ETEMP, &qerr);
		log_warning("deletions not confirmed by the server (%s); "
			    "they will be retried next run",
		    qerr.msg);
		if (!r->soft_fail) {
			r->soft_err = qerr;
			r->soft_fail = true;
		}
	}
	r->ndeleted = 0;
}

static void
session_close(struct run *r)
{
	if (r->connected)
		pop3_free(&r->p);
	r->connected = false;
	pop3_msgs_free(r->msgs, r->count);
	r->msgs = NULL;
	free(r->mi);
	r->mi = NULL;
	free(r->batch);
	r->batch = NULL;
	free(r->deleted);
	r->deleted = NULL;
	free(r->fifo);
	r->fifo = NULL;
	r->fifo_cap = r->fifo_len = r->fifo_head = 0;
	r->retr_inflight = 0;
	r->retr_inflight_bytes = 0;
	r->count = 0;
	r->nouidl_left = 0;
}

/* The dry-run report of the plan. */
static void
report_plan(struct run *r)
{
	static const char *const verbs[] = {
	    "fetch", "delete", "delete", "skip"};
	unsigned long i;
	char ubuf[64];

	for (i = 0; i < r->count; i++) {
		const struct pop3_msg *m = &r->msgs[i];
		const struct msginfo *mi = &r->mi[i];
		const char *verb = verbs[mi->act];

		if (mi->act == ACT_FETCH && !r->a->keep)
			verb = "fetch+delete";
		report(r, "%s: %s message %lu (uid %s, %llu octets): %s",
		    r->a->name != NULL ? r->a->name : r->a->host, verb, m->n,
		    uid_shown(m->uid, ubuf, sizeof(ubuf)), m->size, mi->why);
		if (mi->act == ACT_SKIP)
			r->st->skipped++;
	}
}

/*
 * One POP3 session: log in, list, plan, delete what was delivered before,
 * fetch in pipelined windows with group commits, QUIT. *more is set when
 * a server without UIDL has more messages than one session may take.
 */
static int
session_run(struct run *r, bool *more, struct pf_err *err)
{
	const char **sorted = NULL;
	unsigned long i, next, nfetch = 0, window;
	unsigned long deleted_before = r->st->deleted;
	unsigned long long total;
	size_t nsorted = 0;
	int ret = -1;

	*more = false;
	if (session_open(r, err) < 0 || session_login(r, err) < 0)
		goto out;
	if (pop3_scan(&r->p, &r->count, &total, &r->msgs, &r->have_uidl, err) <
	    0)
		goto out;
	if (!r->have_uidl &&
	    (r->p.capa.uidl ||
		(r->state != NULL && uidl_count(r->state) > 0))) {
		/* Falling back to "no UIDL" would deliver again what earlier
		 * runs delivered and could not delete. */
		pf_err_set(err, PF_ETEMP,
		    "server '%s' refused UIDL although it %s; not fetching "
		    "without it",
		    r->a->host,
		    r->p.capa.uidl ? "announces it"
				   : "supported it in earlier runs");
		goto out;
	}
	if (!r->have_uidl && r->a->keep) {
		pf_err_set(err, PF_EUNAVAIL,
		    "server '%s' does not support UIDL, which --keep needs "
		    "(without it every run would fetch everything again)",
		    r->a->host);
		goto out;
	}
	r->st->listed = r->count;
	r->mi = xcalloc(r->count + 1, sizeof(*r->mi));
	r->batch = xcalloc(r->count + 1, sizeof(*r->batch));
	r->deleted = xcalloc(r->count + 1, sizeof(*r->deleted));

	sorted = xcalloc(r->count + 1, sizeof(*sorted));
	for (i = 0; i < r->count; i++)
		if (r->msgs[i].uid != NULL)
			sorted[nsorted++] = r->msgs[i].uid;
	qsort(sorted, nsorted, sizeof(*sorted), cmp_str);
	mark_duplicates(r);
	if (plan(r, err) < 0)
		goto out;
	/* Forget records only after a complete listing: a message the
	 * server listed without a UID may be one we recorded. */
	if (r->have_uidl && nsorted == r->count && !r->o->dry_run)
		prune_state(r, sorted, nsorted);

	if (r->o->dry_run) {
		report_plan(r);
		session_quit(r);
		ret = 0;
		goto out;
	}

	/* Delete what was delivered before (or is too big): safe now. */
	for (i = 0; i < r->count; i++) {
		if (r->mi[i].act == ACT_FETCH) {
			nfetch++;
			r->prog.total_bytes += r->msgs[i].size;
		} else if (r->mi[i].act == ACT_SKIP) {
			char ubuf[64];

			r->st->skipped++;
			log_info(
			    "message %lu (uid %s, %llu octets) left on the "
			    "server: %s",
			    r->msgs[i].n,
			    uid_shown(r->msgs[i].uid, ubuf, sizeof(ubuf)),
			    r->msgs[i].size, r->mi[i].why);
		} else if (queue_cmd(r, POP3_CMD_DELE, i, err) < 0) {
			goto out;
		}
		if (r->fifo_len >= (r->p.capa.pipelining ? 128U : 1U) &&
		    drain_replies(r, err) < 0)
			goto out;
	}
	r->prog.total = nfetch;
	progress(r);

	window = r->p.capa.pipelining ? WINDOW_MAX_CMDS : 1;
	next = 0;
	for (;;) {
		if (fetch_stop_requested() && !r->stopping) {
			/* A signal: bodies already on their way are read and
			 * dropped, what is durable gets recorded and deleted,
			 * then QUIT. */
			struct pf_err serr;

			pf_err_set(&serr, PF_ETEMP, "interrupted by a signal");
			stop_run(r, &serr);
		}
		/* top the window up with RETRs in chunks, always leaving
		 * room in pop3's command ring for a batch of DELEs */
		size_t ring = sizeof(r->p.pending) / sizeof(r->p.pending[0]);
		bool refill = r->retr_inflight == 0 ||
		    (r->retr_inflight + WINDOW_REFILL <= window &&
			r->retr_inflight_bytes <= WINDOW_MAX_BYTES / 2 &&
			r->fifo_len + WINDOW_REFILL + BATCH_MAX_MSGS < ring);

		while (refill && !r->stopping && !fetch_stop_requested() &&
		    next < r->count && r->retr_inflight < window &&
		    r->fifo_len + BATCH_MAX_MSGS + 1 < ring &&
		    (r->retr_inflight == 0 ||
			r->retr_inflight_bytes + r->msgs[next].size <=
			    WINDOW_MAX_BYTES)) {
			if (r->mi[next].act == ACT_FETCH &&
			    queue_cmd(r, POP3_CMD_RETR, next, err) < 0)
				goto out;
			next++;
		}
		if (r->fifo_len == 0)
			break;
		if (handle_reply(r, err) < 0)
			goto commit_and_fail;
		if (r->nbatch >= BATCH_MAX_MSGS ||
		    r->batch_bytes >= BATCH_MAX_BYTES ||
		    (r->nbatch > 0 &&
			(r->a->sink == SINK_MDA ||
			    r->a->sink == SINK_STDOUT))) {
			struct pf_err cerr;

			if (commit_batch(r, &cerr) < 0)
				message_failed(r, &cerr);
		}
	}
	{
		struct pf_err cerr;

		if (commit_batch(r, &cerr) < 0)
			message_failed(r, &cerr);
	}
	if (drain_replies(r, err) < 0)
		goto out;
	session_quit(r);
	/* without UIDL, reconnect for the rest once this session's
	 * deletions are committed (and only if any were) */
	*more = !r->have_uidl && !r->stopping && r->nouidl_left > 0 &&
	    r->a->limit == 0 && r->st->deleted > deleted_before;
	ret = 0;
	goto out;

commit_and_fail:
	/* The connection is gone: keep what is durable, delete nothing. */
	{
		struct pf_err cerr;

		r->p.state = POP3_ST_CLOSED;
		if (commit_batch(r, &cerr) < 0)
			log_error("%s", cerr.msg);
	}
out:
	free(sorted);
	session_close(r);
	return ret;
}

/* How to connect for account a. */
static void
conn_params_of(const struct account *a, struct conn_params *cp)
{
	memset(cp, 0, sizeof(*cp));
	cp->host = a->host;
	cp->port = account_port(a);
	cp->family = a->family;
	cp->timeout_ms = a->timeout * 1000;
	cp->tls = a->tls;
	cp->ca_file = a->ca_file;
	cp->fingerprint = a->fingerprint;
	cp->tls_min = a->tls_min;
	cp->cert_file = a->cert_file;
	cp->key_file = a->key_file;
	cp->insecure = a->insecure;
	cp->proxy = a->proxy;
	cp->tunnel = a->tunnel;
	cp->source_address = a->source_address;
}

int
fetch_account(const struct account *a, const struct fetch_opts *o,
    struct fetch_stats *stats, struct pf_err *err)
{
	struct run r;
	struct timespec t0, t1;
	struct sink_params sp;
	bool more;
	int ret = -1;

	memset(stats, 0, sizeof(*stats));
	memset(&r, 0, sizeof(r));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r.a = a;
	r.o = o;
	r.st = stats;
	r.lockfd = -1;
	r.id = account_id(a);
	if (gethostname(r.local_host, sizeof(r.local_host)) < 0 ||
	    r.local_host[0] == '\0')
		strlcpy(r.local_host, "localhost", sizeof(r.local_host));
	r.local_host[sizeof(r.local_host) - 1] = '\0';

	conn_params_of(a, &r.cp);
	r.cp.proxy_password = o->proxy_secret;

	if (!o->dry_run) {
		r.lockfd = uidl_lock(a->state_dir, r.id, err);
		if (r.lockfd < 0)
			goto out;
	}
	if (o->dry_run && access(a->state_dir, F_OK) < 0) {
		r.state = NULL;
	} else {
		r.state = uidl_load(a->state_dir, r.id, err);
		if (r.state == NULL)
			goto out;
	}
	if (!o->dry_run) {
		memset(&sp, 0, sizeof(sp));
		sp.kind = a->sink;
		sp.path = a->sink_path;
		sp.spool_dir = a->state_dir;
		sp.account_id = r.id;
		sp.lock_wait = a->lock_wait;
		sp.mda_timeout = a->mda_timeout;
		r.sink = sink_new(&sp, err);
		if (r.sink == NULL)
			goto out;
		if (sink_recover(r.sink, confirm_recovered, &r, err) < 0 ||
		    uidl_flush(r.state, err) < 0)
			goto out;
		sink_synced_recorded(r.sink);
	}

	do {
		if (session_run(&r, &more, err) < 0) {
			/* A message that failed first is the story to tell;
			 * the connection trouble after it comes second. */
			if (r.have_msg_err) {
				log_warning("%s", err->msg);
				*err = r.msg_err;
			}
			goto out;
		}
	} while (more && !r.stopping);

	if (r.have_msg_err) {
		*err = r.msg_err;
		goto out;
	}
	if (r.soft_fail) {
		*err = r.soft_err;
		goto out;
	}
	ret = 0;
out:
	if (r.state != NULL && !o->dry_run) {
		struct pf_err cerr;

		if (uidl_compact(r.state, &cerr) < 0 && ret == 0) {
			*err = cerr;
			ret = -1;
		}
	}
	sink_free(r.sink);
	uidl_free(r.state);
	if (r.lockfd >= 0)
		uidl_unlock(r.lockfd);
	free(r.id);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	stats->seconds = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	return ret;
}

/* Append a formatted line to a growing text. */
static void text_add(char **text, const char *fmt, ...) PF_PRINTF(2, 3);
static void
text_add(char **text, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	char *n;

	va_start(ap, fmt);
	if (vsnprintf(line, sizeof(line), fmt, ap) < 0)
		line[0] = '\0';
	va_end(ap);
	n = xasprintf("%s%s\n", *text != NULL ? *text : "", line);
	free(*text);
	*text = n;
}

/* Describe the capabilities in p->capa. */
static void
text_capa(char **text, const char *title, const struct pop3_capa *c)
{
	if (!c->valid) {
		text_add(text, "%s: (CAPA not supported)", title);
		return;
	}
	text_add(text, "%s:%s%s%s%s%s%s%s", title, c->top ? " TOP" : "",
	    c->uidl ? " UIDL" : "", c->user ? " USER" : "",
	    c->pipelining ? " PIPELINING" : "", c->stls ? " STLS" : "",
	    c->resp_codes ? " RESP-CODES" : "",
	    c->auth_resp_code ? " AUTH-RESP-CODE" : "");
	text_add(text, "  SASL mechanisms: %s",
	    c->sasl[0] != '\0' ? c->sasl : "(none)");
	if (c->login_delay >= 0)
		text_add(text, "  LOGIN-DELAY: %ld seconds", c->login_delay);
	if (c->expire == -2)
		text_add(text, "  EXPIRE: NEVER");
	else if (c->expire >= 0)
		text_add(text, "  EXPIRE: %ld days", c->expire);
	if (c->implementation[0] != '\0')
		text_add(text, "  IMPLEMENTATION: %s", c->implementation);
}

int
fetch_serverinfo(const struct account *a, const struct fetch_opts *o,
    char **text, struct pf_err *err)
{
	struct conn_tls_info ti;
	struct fetch_stats st;
	char buf[PF_SERVER_TEXT_MAX * 4 + 8];
	struct run r;
	int ret = -1;

	*text = NULL;
	memset(&r, 0, sizeof(r));
	memset(&st, 0, sizeof(st));
	r.a = a;
	r.o = o;
	r.st = &st;
	conn_params_of(a, &r.cp);
	r.cp.proxy_password = o->proxy_secret;

	text_add(text, "server: %s port %s (%s)", a->host, account_port(a),
	    a->tls == CONN_TLS_IMPLICIT	      ? "implicit TLS"
		: a->tls == CONN_TLS_STARTTLS ? "STARTTLS"
					      : "no TLS");
	if (session_open(&r, err) < 0)
		goto out;
	text_add(text, "greeting: %s",
	    pf_sanitize(buf, sizeof(buf), r.p.greeting, strlen(r.p.greeting)));
	if (conn_tls_info(r.p.s, &ti) == 0) {
		text_add(text, "TLS: %s, cipher %s", ti.version, ti.cipher);
		text_add(text, "certificate subject: %s", ti.subject);
		text_add(text, "certificate issuer: %s", ti.issuer);
		text_add(text, "certificate validity: %s to %s", ti.not_before,
		    ti.not_after);
		text_add(
		    text, "certificate SHA-256 fingerprint: %s", ti.sha256);
		text_add(text, "certificate verified: %s",
		    ti.verified ? "yes" : "NO (--insecure)");
	} else {
		text_add(text, "TLS: none");
	}
	text_capa(text, "capabilities", &r.p.capa);
	if (o->secret != NULL && o->secret[0] != '\0') {
		if (session_login(&r, err) < 0)
			goto out;
		if (pop3_capa(&r.p, err) < 0)
			goto out;
		text_capa(text, "capabilities after login", &r.p.capa);
	}
	session_quit(&r);
	ret = 0;
out:
	session_close(&r);
	return ret;
}
