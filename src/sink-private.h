/*
 * sink-private.h: between the dispatcher (sink.c) and its variants
 * (sink-maildir.c, sink-mbox.c, sink-mda.c, sink-stdout.c). A variant is
 * one file defining a struct sink_type, plus one entry in sink.c's table.
 * The dispatcher calls the variants; a variant never calls the
 * dispatcher, only leaf modules (fileio, spool, mboxrd, mboxlock,
 * pending, shell, sys).
 */
#ifndef POPFETCH_SINK_PRIVATE_H
#define POPFETCH_SINK_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>

#include "popfetch/err.h"
#include "popfetch/sink.h"

/* Longest sink_last_where() text. */
#define SINK_WHERE_MAX 1024

/*
 * One variant. init runs from sink_new() (validate and create the
 * target, set up impl from the params); open/write/commit/abort handle
 * the current message, sync the group commit. A failed write or commit
 * leaves nothing of the message behind. has_token, recorded and free may
 * be NULL.
 */
struct sink_type {
	const char *name;
	unsigned flags; /* SINK_* of sink.h */
	int (*init)(
	    struct sink *sk, const struct sink_params *p, struct pf_err *err);
	int (*open)(
	    struct sink *sk, const struct sink_msg *m, struct pf_err *err);
	int (*write)(
	    struct sink *sk, const char *buf, size_t len, struct pf_err *err);
	int (*commit)(struct sink *sk, struct pf_err *err);
	void (*abort)(struct sink *sk);
	int (*sync)(struct sink *sk, struct pf_err *err);
	bool (*has_token)(struct sink *sk, const char *token);
	void (*recorded)(struct sink *sk);
	void (*free)(struct sink *sk);
};

extern const struct sink_type sink_maildir_type;
extern const struct sink_type sink_mbox_type;
extern const struct sink_type sink_mda_type;
extern const struct sink_type sink_stdout_type;

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
 * A unique Maildir base name (sink-maildir.c, exposed for the unit
 * tests): "time.M<usec>P<pid>Q<n>R<rand>[h<token>].host". Returns 0, or -1
 * when token is not 16 hex digits or the name does not fit.
 */
int sink_maildir_name(char *out, size_t outsz, const char *token);

#endif
