/*
 * sink-private.h: what the sink variants (sink-maildir.c, sink-mbox.c,
 * sink-mda.c, sink-stdout.c) share with the dispatcher in sink.c.
 */
#ifndef POPFETCH_SINK_PRIVATE_H
#define POPFETCH_SINK_PRIVATE_H

#include <sys/types.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "popfetch/err.h"
#include "popfetch/sink.h"

/* Size of the write buffer of a message file. */
#define SINK_BUFSZ (64 * 1024)

/* Longest envelope sender we keep; a longer one becomes MAILER-DAEMON. */
#define SINK_SENDER_MAX 512

/* At most this much of the header is searched for Return-Path. */
#define SINK_HDR_MAX (64 * 1024)

/*
 * One variant. open/write/commit/abort handle the current message, sync
 * the group commit; init runs from sink_new() (validate and create the
 * target), free releases the variant's impl. recover, synced_recorded and
 * has_token may be NULL.
 */
struct sink_ops {
	int (*init)(struct sink *sk, struct pf_err *err);
	int (*open)(
	    struct sink *sk, const struct sink_msg *m, struct pf_err *err);
	int (*write)(
	    struct sink *sk, const char *buf, size_t len, struct pf_err *err);
	int (*commit)(struct sink *sk, struct pf_err *err);
	void (*abort)(struct sink *sk);
	int (*sync)(struct sink *sk, struct pf_err *err);
	bool (*has_token)(struct sink *sk, const char *token);
	void (*synced_recorded)(struct sink *sk);
	void (*free)(struct sink *sk);
};

extern const struct sink_ops sink_maildir_ops;
extern const struct sink_ops sink_mbox_ops;
extern const struct sink_ops sink_mda_ops;
extern const struct sink_ops sink_stdout_ops;

/* A file being written through a buffer (a Maildir tmp file or a spool). */
struct sink_file {
	int fd;
	char *buf;		 /* SINK_BUFSZ bytes */
	size_t len;		 /* bytes waiting in buf */
	unsigned long long size; /* bytes written so far (flushed or not) */
	int last;		 /* last byte written, -1 before any */
};

/* A complete spooled message waiting for the sync (mbox, stdout). */
struct sink_staged {
	int fd;			 /* the spool, unlinked, O_CLOEXEC */
	unsigned long long size; /* its length */
	int last;		 /* its last byte, -1 when empty */
	char *uid;		 /* the server UID or NULL */
	char sender[SINK_SENDER_MAX];
};

struct sink {
	const struct sink_ops *ops;
	enum sink_kind kind;
	char *path;
	char *spool_dir;  /* may be NULL: spools then go to $TMPDIR */
	char *account_id; /* may be NULL: then no mbox pending record */
	int lock_wait;
	int mda_timeout;

	bool in_msg;	      /* between open and commit/abort */
	struct sink_file cur; /* the message being written */
	char *cur_uid;	      /* its UID (copy) or NULL */
	char *where;	      /* for sink_last_where() */

	struct sink_staged *staged; /* committed, not yet synced */
	unsigned nstaged;
	unsigned staged_cap;
	unsigned ncommitted; /* Maildir: linked but not yet synced */
	bool record_ours;    /* the mbox pending record on disk is from our
				sync or our confirmed recovery */

	void *impl; /* the variant's own state */
};

/* Start sf on fd with a fresh buffer. */
void sink_file_init(struct sink_file *sf, int fd);

/* Buffered write; -1 with errno set on failure. */
int sink_file_write(struct sink_file *sf, const char *buf, size_t len);

/* Write out the buffer; -1 with errno set on failure. */
int sink_file_flush(struct sink_file *sf);

/* Free the buffer and close the fd (if open); keeps errno. */
void sink_file_close(struct sink_file *sf);

/* write(2) all of buf, retrying on EINTR and short writes; -1 + errno. */
int sink_write_all(int fd, const void *buf, size_t len);

/* pread(2) exactly len bytes at off; -1 + errno (EIO for early EOF). */
int sink_pread_all(int fd, void *buf, size_t len, off_t off);

/*
 * Create an anonymous private temp file (0600, O_CLOEXEC, already
 * unlinked) in dir, or in $TMPDIR or /tmp when dir is NULL. Returns the
 * fd, or -1 with PF_EIO.
 */
int sink_tmpfile(const char *dir, struct pf_err *err);

/* Spool-based variants: open, write, commit (finding the sender), abort. */
int sink_spool_open(
    struct sink *sk, const struct sink_msg *m, struct pf_err *err);
int sink_spool_write(
    struct sink *sk, const char *buf, size_t len, struct pf_err *err);
int sink_spool_commit(struct sink *sk, struct pf_err *err);
void sink_spool_abort(struct sink *sk);

/* Find the envelope sender in the header part of the spool fd. */
int sink_spool_sender(int fd, char *out, size_t outsz, struct pf_err *err);

/* Close and forget every staged spool. */
void sink_staged_clear(struct sink *sk);

/* Replace the sink_last_where() text (printf-style). */
void sink_set_where(struct sink *sk, const char *fmt, ...) PF_PRINTF(2, 3);

/*
 * Write the mboxrd form of one staged message (From_ line, quoted body,
 * a newline if it lacked one, then a blank line) through emit. t is the
 * delivery time for the From_ line. Returns 0, or -1 with errno set (a
 * read error, or whatever emit set).
 */
int sink_mboxrd_emit(const struct sink_staged *st, time_t t,
    int (*emit)(void *ctx, const char *buf, size_t len), void *ctx);

/* Milliseconds on the monotonic clock, for lock and MDA deadlines. */
long long sink_now_ms(void);

/* Four random bytes from the kernel, falling back to /dev/urandom. */
uint32_t sink_random32(void);

/* mbox: resolve a pending-append record for this account (any kind). */
int sink_mbox_recover(
    struct sink *sk, sink_confirm_fn confirm, void *ctx, struct pf_err *err);

/* Remove the pending-append record if it is ours (any kind). */
void sink_mbox_forget_record(struct sink *sk);

#endif
