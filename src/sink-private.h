/*
 * sink-private.h: between the dispatcher (sink.c) and its variants
 * (sink-maildir.c, sink-mbox.c, sink-mda.c, sink-stdout.c, sink-smtp.c
 * for LMTP and SMTP). A variant is
 * one file defining its struct sink_ops, plus one line in sink.c's table
 * (its enum sink_kind value, name, flags and ops).
 * The dispatcher calls the variants; a variant never calls the
 * dispatcher, only sink-spool.c (what the spooled variants share) and
 * leaf modules (fileio, spool, mboxrd, mboxlock, pending, shell, sys,
 * smtp).
 */
#ifndef POPFETCH_SINK_PRIVATE_H
#define POPFETCH_SINK_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>

#include "popfetch/err.h"
#include "popfetch/sink.h"
#include "popfetch/spool.h"

/* Longest sink_last_where() text. */
#define SINK_WHERE_MAX 1024

/*
 * The life of one message in a variant: begin, append, complete (commit)
 * or drop (abort). A failed write or commit leaves nothing of the message
 * behind. Their signatures differ, so a table may list them in order.
 */
struct sink_msg_ops {
	int (*open)(
	    struct sink *sk, const struct sink_msg *m, struct pf_err *err);
	int (*write)(
	    struct sink *sk, const char *buf, size_t len, struct pf_err *err);
	int (*commit)(struct sink *sk, struct pf_err *err);
	void (*abort)(struct sink *sk);
};

/*
 * One variant's operations, grouped by what they live for: the sink
 * (init from sink_new(): validate and create the target, set up impl
 * from the params; free: release impl, may be NULL), the current
 * message, and the batch (sync, the group commit, NULL when there is
 * nothing left to do; has_token and recorded may be NULL). The
 * signatures within a group differ, so a table may list them in order.
 * The variant's name and SINK_* flags are in sink.c's table.
 */
struct sink_ops {
	struct {
		int (*init)(struct sink *sk, const struct sink_params *p,
		    struct pf_err *err);
		void (*free)(struct sink *sk);
	} sink;
	struct sink_msg_ops msg;
	int (*sync)(struct sink *sk, struct pf_err *err);
	bool (*has_token)(struct sink *sk, const char *token);
	void (*recorded)(struct sink *sk);
};

extern const struct sink_ops sink_maildir_ops;
extern const struct sink_ops sink_mbox_ops;
extern const struct sink_ops sink_mda_ops;
extern const struct sink_ops sink_stdout_ops;
extern const struct sink_ops sink_lmtp_ops;
extern const struct sink_ops sink_smtp_ops;

/* A variant: a line of sink.c's table. */
struct sink_type {
	const char *name;
	unsigned flags; /* SINK_* of sink.h */
	const struct sink_ops *ops;
};

/* What every sink has; the rest is the variant's impl. */
struct sink {
	const struct sink_type *type;
	char *path;		    /* "-" for a variant without one */
	bool in_msg;		    /* between open and commit/abort */
	unsigned staged;	    /* committed since the last sync */
	char where[SINK_WHERE_MAX]; /* for sink_last_where(); "" before any */
	void *impl;
};

/*
 * The spooled variants (sink-spool.c): their impl starts with a struct
 * sink_spooled, so these serve as their open, write, abort and free.
 */
struct sink_spooled {
	struct spool spool; /* the message being written and those waiting */
	int timeout;	    /* seconds (sink_params.mda_timeout, 300) */
};

/* Allocate sk->impl of size bytes (at least a struct sink_spooled) with
 * the spool in p->spool_dir; returns it. */
void *sink_spool_init(
    struct sink *sk, const struct sink_params *p, size_t size);
int sink_spool_open(
    struct sink *sk, const struct sink_msg *m, struct pf_err *err);
int sink_spool_write(
    struct sink *sk, const char *buf, size_t len, struct pf_err *err);
void sink_spool_abort(struct sink *sk);
void sink_spool_free(struct sink *sk);

/*
 * A unique Maildir base name (sink-maildir.c, exposed for the unit
 * tests): "time.M<usec>P<pid>Q<n>R<rand>[h<token>].host". Returns 0, or -1
 * when token is not 16 hex digits or the name does not fit.
 */
int sink_maildir_name(char *out, size_t outsz, const char *token);

#endif
