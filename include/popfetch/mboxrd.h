/*
 * mboxrd.h: the mboxrd format, as mbox delivery and --stdout write it:
 * the envelope sender taken from Return-Path, the "From " separator line,
 * and ">From " quoting (one '>' added to every line matching ^>*From ).
 */
#ifndef POPFETCH_MBOXRD_H
#define POPFETCH_MBOXRD_H

#include <stddef.h>
#include <time.h>

/* Longest envelope sender kept; a longer one becomes MAILER-DAEMON. */
#define MBOXRD_SENDER_MAX 512

/* At most this much of a message header is searched for Return-Path. */
#define MBOXRD_HDR_MAX (64 * 1024)

/*
 * Envelope sender from the Return-Path header in hdr[0..len) (the bare
 * address without <>), or "MAILER-DAEMON" when there is none or it is
 * empty ("<>"). Writes at most outsz - 1 bytes plus NUL into out.
 */
void mboxrd_sender(const char *hdr, size_t len, char *out, size_t outsz);

/* "From sender Thu Nov 26 19:13:36 2026\n" (asctime, local time).
 * Returns 0, or -1 when it does not fit in outsz. */
int mboxrd_from_line(char *out, size_t outsz, const char *sender, time_t t);

/*
 * mboxrd quoting as a streaming filter: copies in[0..len) to out (which
 * must hold 2 * len + 16 bytes), adding one '>' to each line that matches
 * ^>*From . st (start at 0) carries the line state between calls. Returns
 * bytes written. Up to 4 bytes of a possible "From" may be held back
 * until the next call; a call with len 0 flushes them (at most 4 bytes
 * to out) and resets *st to 0, for input that does not end in "\n".
 */
size_t mboxrd_quote(int *st, const char *in, size_t len, char *out);

/* Where mboxrd_emit() sends its output; 0, or -1 with errno set. */
typedef int (*mboxrd_emit_fn)(void *ctx, const char *buf, size_t len);

/*
 * Write the mboxrd form of the message in fd[0..size) (read with pread,
 * last its last byte or -1 when empty) through emit: the From_ line for
 * sender at time t, the quoted message, a newline if it lacked one, then
 * a blank line. Returns 0, or -1 with errno set (a read error, or
 * whatever emit set).
 */
int mboxrd_emit(int fd, unsigned long long size, int last, const char *sender,
    time_t t, mboxrd_emit_fn emit, void *ctx);

#endif
