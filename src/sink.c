/*
 * sink.c: the delivery dispatcher. It knows the variants only through
 * their lines in types[]: name, flags and operations. A new delivery
 * target is one file with its struct sink_ops, one enum sink_kind value
 * and one line in types[].
 */
#include <stdlib.h>
#include <string.h>

#include "popfetch/sink.h"
#include "popfetch/xmalloc.h"
#include "sink-private.h"

static const struct sink_type types[] = {
    [SINK_MAILDIR] = {"maildir", 0, &sink_maildir_ops},
    [SINK_MBOX] = {"mbox", SINK_APPENDS, &sink_mbox_ops},
    [SINK_MDA] = {"mda", SINK_COMMAND | SINK_FINAL_EACH, &sink_mda_ops},
    [SINK_STDOUT] = {"stdout",
	SINK_NO_PATH | SINK_FINAL_EACH | SINK_USES_STDOUT, &sink_stdout_ops},
    [SINK_LMTP] = {"lmtp", SINK_FINAL_EACH, &sink_lmtp_ops},
    [SINK_SMTP] = {"smtp", SINK_FINAL_EACH, &sink_smtp_ops},
};

/* The variant of kind, or NULL (SINK_NONE, or out of range). */
static const struct sink_type *
type_of(enum sink_kind kind)
{
	if ((size_t)kind >= sizeof(types) / sizeof(types[0]) ||
	    types[kind].ops == NULL)
		return NULL;
	return &types[kind];
}

const char *
sink_kind_name(enum sink_kind kind)
{
	const struct sink_type *t = type_of(kind);

	return t != NULL ? t->name : "none";
}

unsigned
sink_kind_flags(enum sink_kind kind)
{
	const struct sink_type *t = type_of(kind);

	return t != NULL ? t->flags : 0;
}

struct sink *
sink_new(const struct sink_params *p, struct pf_err *err)
{
	const struct sink_type *t = type_of(p->kind);
	struct sink *sk;

	if (t == NULL) {
		pf_err_set(err, PF_ECONFIG, "no delivery target given");
		return NULL;
	}
	if (!(t->flags & SINK_NO_PATH) &&
	    (p->path == NULL || *p->path == '\0')) {
		bool cmd = (t->flags & SINK_COMMAND) != 0;

		pf_err_set(err, cmd ? PF_ECONFIG : PF_ECANTCREAT, "empty %s %s",
		    t->name, cmd ? "command" : "path");
		return NULL;
	}
	sk = xcalloc(1, sizeof(*sk));
	sk->type = t;
	sk->path = xstrdup(p->path != NULL ? p->path : "-");
	if (t->ops->sink.init(sk, p, err) == -1) {
		sink_free(sk);
		return NULL;
	}
	return sk;
}

unsigned
sink_flags(const struct sink *sk)
{
	return sk->type->flags;
}

int
sink_open(struct sink *sk, const struct sink_msg *m, struct pf_err *err)
{
	if (sk->in_msg)
		sink_abort(sk);
	if (sk->type->ops->msg.open(sk, m, err) == -1)
		return -1;
	sk->in_msg = true;
	return 0;
}

int
sink_write(struct sink *sk, const char *buf, size_t len, struct pf_err *err)
{
	if (!sk->in_msg)
		return pf_err_set(err, PF_ESOFTWARE, "sink_write: no message");
	if (len == 0)
		return 0;
	if (sk->type->ops->msg.write(sk, buf, len, err) == -1) {
		sk->in_msg = false; /* the variant dropped the message */
		return -1;
	}
	return 0;
}

int
sink_commit(struct sink *sk, struct pf_err *err)
{
	int r;

	if (!sk->in_msg)
		return pf_err_set(err, PF_ESOFTWARE, "sink_commit: no message");
	r = sk->type->ops->msg.commit(sk, err);
	sk->in_msg = false;
	if (r == 0)
		sk->staged++;
	return r;
}

void
sink_abort(struct sink *sk)
{
	if (sk == NULL || !sk->in_msg)
		return;
	sk->type->ops->msg.abort(sk);
	sk->in_msg = false;
}

int
sink_sync(struct sink *sk, struct pf_err *err)
{
	int r = sk->type->ops->sync != NULL ? sk->type->ops->sync(sk, err) : 0;

	/* synced, or (on failure) not delivered: staged no more either way */
	sk->staged = 0;
	return r;
}

unsigned
sink_staged(const struct sink *sk)
{
	return sk->staged;
}

const char *
sink_last_where(const struct sink *sk)
{
	return sk->where[0] != '\0' ? sk->where : sk->type->name;
}

bool
sink_has_token(struct sink *sk, const char *token)
{
	if (sk->type->ops->has_token == NULL || token == NULL)
		return false;
	return sk->type->ops->has_token(sk, token);
}

void
sink_synced_recorded(struct sink *sk)
{
	if (sk->type->ops->recorded != NULL)
		sk->type->ops->recorded(sk);
}

void
sink_free(struct sink *sk)
{
	if (sk == NULL)
		return;
	sink_abort(sk);
	if (sk->type->ops->sink.free != NULL)
		sk->type->ops->sink.free(sk);
	free(sk->path);
	free(sk);
}
