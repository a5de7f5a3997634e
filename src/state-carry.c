/*
 * state-carry.c: carrying the seen-state of popfetch 0.1.0 over to the
 * account. 0.1.0 kept state and lock by the mailbox ("user@host:port");
 * they now belong to the account (docs/contract.md §4), so an account
 * that has no state of its own yet starts from a copy of the mailbox's.
 * The old file stays: it is still the state of a one-off --host run of
 * that mailbox. An account that shares its mailbox with another account
 * of the config takes nothing over (fetch.c decides, from
 * account.shares_mailbox): the file cannot say whose records are whose.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "popfetch/lock.h"
#include "popfetch/log.h"
#include "popfetch/state.h"
#include "popfetch/xmalloc.h"

/* Whether the state file of id exists (anything at its path counts). */
bool
state_exists(const char *state_dir, const char *id)
{
	char *path = state_account_path(state_dir, id, "state");
	struct stat sb;
	bool r;

	r = lstat(path, &sb) == 0 || errno != ENOENT;
	free(path);
	return r;
}

/* state_foreach() callback: copy one record. */
static void
copy_rec(void *ctx, const struct state_rec *r)
{
	state_set(ctx, r->uid, r->size, r->first_seen, r->kind);
}

int
state_carry_over(const char *state_dir, const char *from_id, const char *to_id,
    struct pf_err *err)
{
	struct state *from, *to;
	int lock, r = -1;

	if (strcmp(from_id, to_id) == 0 || state_exists(state_dir, to_id) ||
	    !state_exists(state_dir, from_id))
		return 0;
	/* a 0.1.0 run or a one-off run of the mailbox must not write it now */
	if ((lock = lock_account(state_dir, from_id, err)) < 0)
		return -1;
	if ((from = state_load(state_dir, from_id, err)) == NULL) {
		lock_release(lock);
		return -1;
	}
	if ((to = state_load(state_dir, to_id, err)) != NULL) {
		state_foreach(from, copy_rec, to);
		state_set_last_login(to, state_last_login(from));
		if (state_compact(to, err) == 0) {
			log_info("seen-state of '%s' (popfetch 0.1.0) carried "
				 "over: %zu messages",
			    from_id, state_count(to));
			r = 1;
		}
	}
	state_free(to);
	state_free(from);
	lock_release(lock);
	return r;
}
