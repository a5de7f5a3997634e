/*
 * plan.c: what to do with each listed message. The rules, in order:
 * kill_size first; a UID delivered before is deleted (or, with --keep,
 * left, or deleted after delete_after days), unless its size changed,
 * which fetches it again; --keep cannot track a message without a UID and
 * delivers one occurrence of a repeated UID; max_size leaves it; a token
 * found in the Maildir records it as delivered; --limit and, without
 * UIDL, the per-session cap leave the rest.
 */
#include <stdlib.h>
#include <string.h>

#include "popfetch/crypto.h"
#include "popfetch/log.h"
#include "popfetch/plan.h"
#include "popfetch/xmalloc.h"

/* A UID made safe to show. */
static const char *
uid_shown(const char *uid, char *buf, size_t bufsz)
{
	if (uid == NULL)
		return "-";
	return pf_sanitize(buf, bufsz, uid, strlen(uid));
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
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
mark_duplicates(
    const struct pop3_msg *msgs, unsigned long count, struct plan_item *items)
{
	unsigned long *idx = xcalloc(count + 1, sizeof(*idx));
	unsigned long i, j, k, n = 0;

	for (i = 0; i < count; i++)
		if (msgs[i].uid != NULL)
			idx[n++] = i;
	sort_msgs = msgs;
	qsort(idx, n, sizeof(*idx), cmp_idx);
	for (i = 0; i < n; i = j) {
		for (j = i + 1;
		     j < n && strcmp(msgs[idx[i]].uid, msgs[idx[j]].uid) == 0;
		     j++)
			;
		if (j - i > 1) {
			for (k = i; k < j; k++)
				items[idx[k]].dup_uid = true;
			items[idx[i]].dup_first = true;
		}
	}
	free(idx);
}

/* Set the action and its reason; true, so rules can "return decide()". */
static bool
decide(struct plan_item *it, enum plan_action act, const char *why)
{
	it->act = act;
	it->why = why;
	return true;
}

/* A UID delivered before: delete, keep, or fetch again. True when that
 * decided it. */
static bool
seen_rule(const struct pop3_msg *m, const struct state_rec *rec,
    const struct plan_policy *pol, struct plan_item *it)
{
	char ubuf[64];

	if (rec == NULL || pol->a->fetch_all || it->dup_uid)
		return false;
	if (rec->size != 0 && rec->size != m->size &&
	    rec->kind == STATE_DELIVERED) {
		log_warning("message %lu (uid %s) was delivered "
			    "before with another size (%llu, now %llu); "
			    "fetching it again",
		    m->n, uid_shown(m->uid, ubuf, sizeof(ubuf)), rec->size,
		    m->size);
		return false;
	}
	if (!pol->a->keep)
		return decide(it, PLAN_DELETE, "delivered before");
	if (pol->a->delete_after >= 0 &&
	    pol->now - rec->first_seen >= (time_t)pol->a->delete_after * 86400)
		return decide(it, PLAN_DELETE, "older than delete-after");
	return decide(it, PLAN_SKIP, "seen before");
}

/* What --keep needs: a UID, and one delivery per UID. True when that
 * decided it. */
static bool
keep_rule(const struct pop3_msg *m, const struct state_rec *rec,
    const struct plan_policy *pol, struct plan_item *it)
{
	if (!pol->a->keep)
		return false;
	if (m->uid == NULL)
		return decide(
		    it, PLAN_SKIP, "no UID (cannot be tracked with --keep)");
	if (!it->dup_uid)
		return false;
	if (!it->dup_first) {
		log_warning("message %lu repeats the UID of an "
			    "earlier message; delivering one of them",
		    m->n);
		return decide(it, PLAN_SKIP, "duplicate UID");
	}
	if (rec != NULL && !pol->a->fetch_all)
		return decide(it, PLAN_SKIP, "seen before");
	return false;
}

/* Delivered by a run that died before recording it. */
static bool
found_rule(const struct pop3_msg *m, const struct plan_policy *pol,
    plan_token_fn has_token, void *ctx, struct plan_item *it)
{
	char ubuf[64];

	if (pol->a->fetch_all || it->token[0] == '\0' || pol->dry_run ||
	    has_token == NULL || !has_token(ctx, it->token))
		return false;
	log_notice("message %lu (uid %s) is already in the "
		   "Maildir; recording it as delivered",
	    m->n, uid_shown(m->uid, ubuf, sizeof(ubuf)));
	it->found = true;
	return decide(
	    it, pol->a->keep ? PLAN_SKIP : PLAN_DELETE, "delivered before");
}

/* The rules for one message, in order; nfetch counts the fetches so
 * far, *left those left for a later session. */
static void
plan_one(const struct pop3_msg *m, const struct state *st,
    const struct plan_policy *pol, plan_token_fn has_token, void *ctx,
    struct plan_item *it, unsigned long *nfetch, unsigned long *left)
{
	const struct state_rec *rec = NULL;

	decide(it, PLAN_FETCH, "new");
	if (m->uid != NULL && st != NULL)
		rec = state_find(st, m->uid);
	it->record = m->uid != NULL && (!it->dup_uid || pol->a->keep);
	if (it->record && !it->dup_uid)
		crypto_token(pol->account_id, m->uid, m->size, it->token);
	if (pol->a->kill_size > 0 && m->size > pol->a->kill_size) {
		decide(it, PLAN_KILL, "larger than kill-size");
		return;
	}
	if (seen_rule(m, rec, pol, it) || keep_rule(m, rec, pol, it))
		return;
	if (pol->a->max_size > 0 && m->size > pol->a->max_size) {
		decide(it, PLAN_SKIP, "larger than max-size");
		return;
	}
	if (m->size > account_message_max(pol->a)) {
		decide(it, PLAN_SKIP, "larger than max-message-size");
		return;
	}
	if (found_rule(m, pol, has_token, ctx, it))
		return;
	if (pol->a->limit > 0 && *nfetch >= pol->a->limit) {
		decide(it, PLAN_SKIP, "over the limit");
		return;
	}
	if (!pol->have_uidl && *nfetch >= PLAN_NOUIDL_MAX && !pol->dry_run) {
		decide(it, PLAN_SKIP, "left for the next session");
		(*left)++;
		return;
	}
	(*nfetch)++;
}

unsigned long
plan_make(const struct pop3_msg *msgs, unsigned long count,
    const struct state *st, const struct plan_policy *pol,
    plan_token_fn has_token, void *ctx, struct plan_item *items)
{
	unsigned long i, nfetch = 0, left = 0;

	memset(items, 0, count * sizeof(*items));
	mark_duplicates(msgs, count, items);
	for (i = 0; i < count; i++)
		plan_one(&msgs[i], st, pol, has_token, ctx, &items[i], &nfetch,
		    &left);
	return left;
}

struct prune_ctx {
	const char **uids; /* sorted UIDs of the listing */
	unsigned long n;
	char **gone;
	size_t ngone, capgone;
};

/* Collect records whose UID is no longer on the server. */
static void
prune_visit(void *ctx, const struct state_rec *rec)
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

unsigned long
plan_prune(struct state *st, const struct pop3_msg *msgs, unsigned long count,
    bool have_uidl)
{
	struct prune_ctx pc = {NULL, 0, NULL, 0, 0};
	unsigned long i;

	if (st == NULL || !have_uidl)
		return 0;
	pc.uids = xcalloc(count + 1, sizeof(*pc.uids));
	for (i = 0; i < count; i++) {
		if (msgs[i].uid == NULL)
			break; /* a message we may have recorded, unnamed */
		pc.uids[pc.n++] = msgs[i].uid;
	}
	if (i == count) {
		qsort(pc.uids, pc.n, sizeof(*pc.uids), cmp_str);
		state_foreach(st, prune_visit, &pc);
	}
	for (i = 0; i < pc.ngone; i++) {
		state_forget(st, pc.gone[i]);
		free(pc.gone[i]);
	}
	free(pc.gone);
	free(pc.uids);
	return (unsigned long)pc.ngone;
}

bool
plan_batch_due(const struct plan_batch *b)
{
	if (b->msgs == 0)
		return false;
	return b->final_each || b->msgs >= PLAN_BATCH_MAX_MSGS ||
	    b->bytes >= PLAN_BATCH_MAX_BYTES || b->age_ms >= PLAN_BATCH_MAX_MS;
}
