/*
 * spool.h: messages spooled to private temp files before a delivery
 * that needs the whole message first (mbox and stdout append them as one
 * batch at the sync; an MDA reads one from a file). A spool holds the
 * message being written and the complete ones waiting for the batch.
 *
 * A spool need not survive a crash: the message is still on the server
 * until its delivery is durable. So small messages are spooled in memory
 * (fileio_memfile()), which costs no inode and no disk metadata. A
 * message listed as larger than SPOOL_MEM_MSG, or than what is left of
 * SPOOL_MEM_TOTAL for the spool's messages together, goes to a file in
 * dir; one that grows past its budget anyway is moved there. Memory use
 * is bounded either way.
 */
#ifndef POPFETCH_SPOOL_H
#define POPFETCH_SPOOL_H

#include <stddef.h>

#include "popfetch/err.h"
#include "popfetch/fileio.h"
#include "popfetch/mboxrd.h"

/* At most this much of one message is spooled in memory... */
#define SPOOL_MEM_MSG	(1024ULL * 1024)
/* ... at most this much of all of a spool's messages together, each
 * counted in whole pages of SPOOL_MEM_PAGE, as memory is taken... */
#define SPOOL_MEM_TOTAL (8ULL * 1024 * 1024)
#define SPOOL_MEM_PAGE	4096ULL
/* ... and at most this many messages (a memfd costs more than its pages:
 * with huge pages for shared memory, up to 2 MiB each). */
#define SPOOL_MEM_COUNT 64

/* A complete spooled message. */
struct spool_msg {
	int fd;				/* the temp file, unlinked, O_CLOEXEC
					   (or in memory) */
	unsigned long long size;	/* its length */
	int last;			/* its last byte, -1 when empty */
	char *uid;			/* the server UID, or NULL */
	char sender[MBOXRD_SENDER_MAX]; /* from Return-Path */
};

struct spool {
	/* Private 0700 dir for the temp files, or NULL for $TMPDIR. */
	char *dir;
	/* The message being written (fd -1: none), and its UID or NULL. */
	struct fileio_buf cur;
	char *cur_uid;
	/* cur is in memory and may grow to this size; 0: cur is a file. */
	unsigned long long cur_mem;
	/* Complete messages, in order; how many bytes of them (in whole
	 * pages) and how many of them are held in memory. */
	struct spool_msg *msgs;
	size_t n, cap;
	unsigned long long mem;
	size_t mem_n;
};

/* Start an empty spool whose files go to dir (copied; may be NULL). */
void spool_init(struct spool *sp, const char *dir);

/* Begin a message (uid may be NULL) of about size_hint bytes (the LIST
 * size; 0 when unknown): in memory while that fits the budget, else in a
 * fresh temp file. Returns 0 or -1 (PF_EIO). */
int spool_open(struct spool *sp, const char *uid, unsigned long long size_hint,
    struct pf_err *err);

/* Append to the current message, moving it to a temp file first if
 * it would outgrow its memory budget. Returns 0, or -1 (PF_EIO) after
 * which the message is dropped. */
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
