/*
 * plan.h: the product's central rules (docs/contract.md §4), as a pure
 * function from a validated listing, the seen-state and the account's
 * policy to one action per message: fetch it, delete it unread (delivered
 * before, or over kill_size), or leave it. Also which UIDs to record, the
 * crash-recovery tokens, and which state records a listing proves stale.
 */
#ifndef POPFETCH_PLAN_H
#define POPFETCH_PLAN_H

#include <stdbool.h>
#include <time.h>

#include "popfetch/config.h"
#include "popfetch/pop3.h"
#include "popfetch/state.h"

/* Without UIDL, a session takes at most this many messages (then QUIT
 * commits their deletions), so a dropped connection re-delivers at most
 * this many (docs/faults.md: the no-UIDL row of the crash matrix). */
#define PLAN_NOUIDL_MAX 20

enum plan_action {
	PLAN_FETCH,  /* retrieve and deliver */
	PLAN_DELETE, /* delivered before: delete without retrieving */
	PLAN_KILL,   /* over kill_size: delete without retrieving */
	PLAN_SKIP,   /* leave it on the server */
};

struct plan_policy {
	/* keep, fetch_all, delete_after (days; -1: never), max_size,
	 * kill_size and limit (0: none) are the account's */
	const struct account *a;
	const char *account_id; /* for the tokens */
	bool have_uidl;		/* the server gave UIDs */
	bool dry_run;		/* no token lookups, no per-session cap */
	time_t now;
};

/* The decision for one message of the listing. */
struct plan_item {
	enum plan_action act;
	const char *why; /* for -v and dry-run lines ("new", "seen before") */
	bool dup_uid;	 /* its UID occurs more than once in the listing */
	bool dup_first;	 /* ... and this is the first occurrence */
	bool record;	 /* record the UID once delivered */
	bool found;	 /* delivered by a run that died before recording it
			    (its token is in the Maildir): record it now */
	char token[17];	 /* crash-recovery token, or "" */
};

/* True when a delivery carrying token exists (sink_has_token()). */
typedef bool (*plan_token_fn)(void *ctx, const char *token);

/*
 * Decide for msgs[0..count) (a complete, validated listing) into
 * items[0..count). st may be NULL (a dry run without state); has_token
 * may be NULL. Returns the number of messages left for a later session
 * because of PLAN_NOUIDL_MAX.
 */
unsigned long plan_make(const struct pop3_msg *msgs, unsigned long count,
    const struct state *st, const struct plan_policy *pol,
    plan_token_fn has_token, void *ctx, struct plan_item *items);

/*
 * Forget the state records whose UID is not in the listing: the server
 * no longer has those messages (docs/faults.md I3). Does nothing unless
 * have_uidl and every message has a UID: a partial listing proves
 * nothing. Returns the number of records forgotten.
 */
unsigned long plan_prune(struct state *st, const struct pop3_msg *msgs,
    unsigned long count, bool have_uidl);

/*
 * Group commit (docs/contract.md §6): the messages delivered since the
 * last commit are made durable, recorded and only then deleted, as one
 * batch. A batch is due once it holds PLAN_BATCH_MAX_MSGS messages or
 * PLAN_BATCH_MAX_BYTES octets, or once its first message was delivered
 * PLAN_BATCH_MAX_MS ago, whichever comes first; and after every message
 * when each delivery is final at once (an MDA, stdout). So a fast link
 * gets a few large batches and a slow one still commits about once a
 * second. Batches are cut between messages, never inside a body. The
 * count bound keeps a batch's DELEs one small burst (under 4 KiB, sent
 * while the server may still be sending bodies) and the Maildir files
 * waiting for the sync within the fds a process may hold.
 */
#define PLAN_BATCH_MAX_MSGS  256
#define PLAN_BATCH_MAX_BYTES (64ULL * 1024 * 1024)
#define PLAN_BATCH_MAX_MS    1000LL

/* What the due test looks at. */
struct plan_batch {
	unsigned long msgs;	  /* delivered, not yet committed */
	unsigned long long bytes; /* their octets as written */
	long long age_ms;	  /* since the first of them was delivered */
	bool final_each;	  /* the sink's deliveries are final at once */
};

/* True when the batch must be committed now. */
bool plan_batch_due(const struct plan_batch *b);

#endif
