/*
 * log.h: the one place where diagnostics leave the process. The front end
 * (invocation.c, from the command line and the config) chooses the
 * destination (stderr or syslog) and the verbosity; modules only call
 * log_msg() and never print themselves.
 */
#ifndef POPFETCH_LOG_H
#define POPFETCH_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "popfetch/err.h"

enum log_level {
	LOGL_ERROR,   /* always shown (unless -q... errors still shown) */
	LOGL_WARNING, /* shown unless -q */
	LOGL_NOTICE,  /* shown unless -q and only on a terminal (not cron) */
	LOGL_INFO,    /* -v: one line per message */
	LOGL_DEBUG,   /* -vv: details and the protocol trace */
};

/*
 * Set up logging. verbosity: -1 quiet, 0 default, 1 -v, 2 -vv.
 * use_syslog sends everything to syslog(3) (LOG_MAIL) instead of stderr.
 */
void log_init(int verbosity, bool use_syslog);

/* Close the syslog connection if one was opened. */
void log_close(void);

/* True when a message at this level would be shown. */
bool log_enabled(enum log_level lvl);

/*
 * Tag later lines with an account name ("popfetch: work: ..."); NULL
 * removes the tag. The string is copied.
 */
void log_set_account(const char *name);

/*
 * Hook used by main.c so a progress bar can clear its line before a log
 * line is written; NULL to remove.
 */
void log_set_before_hook(void (*fn)(void));

/* Emit one line at lvl; fmt must be a literal, server text goes in args. */
void log_msg(enum log_level lvl, const char *fmt, ...) PF_PRINTF(2, 3);

/*
 * One line of a protocol trace at LOGL_DEBUG: dir ("<" received, ">" sent)
 * and text[0..len) sanitized, as server text is never logged raw.
 */
void log_trace(const char *dir, const char *text, size_t len);

#define log_error(...)	 log_msg(LOGL_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(LOGL_WARNING, __VA_ARGS__)
#define log_notice(...)	 log_msg(LOGL_NOTICE, __VA_ARGS__)
#define log_info(...)	 log_msg(LOGL_INFO, __VA_ARGS__)
#define log_debug(...)	 log_msg(LOGL_DEBUG, __VA_ARGS__)

#endif
