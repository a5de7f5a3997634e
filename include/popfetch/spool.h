/*
 * spool.h: messages spooled to private temp files before a delivery
 * that needs the whole message first (mbox and stdout append them as one
 * batch at the sync; an MDA reads one from a file). A spool holds the
 * message being written and the complete ones waiting for the batch.
 */
#ifndef POPFETCH_SPOOL_H
#define POPFETCH_SPOOL_H

#include <stddef.h>

#include "popfetch/err.h"
#include "popfetch/fileio.h"
#include "popfetch/mboxrd.h"

/* A complete spooled message. */
struct spool_msg {
	int fd;				/* the temp file, unlinked, O_CLOEXEC */
	unsigned long long size;	/* its length */
	int last;			/* its last byte, -1 when empty */
	char *uid;			/* the server UID, or NULL */
	char sender[MBOXRD_SENDER_MAX]; /* from Return-Path */
};

struct spool {
	char *dir;		/* private 0700 dir for the temp files, or
				   NULL for $TMPDIR */
	struct fileio_buf cur;	/* the message being written (fd -1: none) */
	char *cur_uid;		/* its UID (copy) or NULL */
	struct spool_msg *msgs; /* complete, in order */
	size_t n, cap;
};

/* Start an empty spool whose files go to dir (copied; may be NULL). */
void spool_init(struct spool *sp, const char *dir);

/* Begin a message (uid may be NULL) in a fresh temp file. Returns 0 or
 * -1 (PF_EIO). */
int spool_open(struct spool *sp, const char *uid, struct pf_err *err);

/* Append to the current message. Returns 0, or -1 (PF_EIO) after which
 * the message is dropped. */
int spool_write(
    struct spool *sp, const char *buf, size_t len, struct pf_err *err);

/* Write out what is buffered of the current message. 0 or -1 (PF_EIO;
 * the message is dropped). */
int spool_flush(struct spool *sp, struct pf_err *err);

/* The current message is complete: flush it, find its envelope sender
 * and append it to msgs. Returns 0 or -1 (PF_EIO; the message is
 * dropped). */
int spool_keep(struct spool *sp, struct pf_err *err);

/* Drop the current message, if any. */
void spool_abort(struct spool *sp);

/* Close and forget every complete message. */
void spool_clear(struct spool *sp);

/* Everything, including dir. */
void spool_free(struct spool *sp);

/* The envelope sender (mboxrd_sender()) of the message in fd, from its
 * first MBOXRD_HDR_MAX bytes. Returns 0 or -1 (PF_EIO). */
int spool_sender(int fd, char *out, size_t outsz, struct pf_err *err);

#endif
