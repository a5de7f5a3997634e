/* log.c: where diagnostics go: stderr (default) or syslog (--syslog). */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "popfetch/log.h"
#include "compat.h"

static int log_verbosity;
static bool log_syslog;
static bool log_tty;
static char log_account[128];
static void (*log_before)(void);

void
log_init(int verbosity, bool use_syslog)
{
	log_verbosity = verbosity;
	log_syslog = use_syslog;
	log_tty = isatty(STDERR_FILENO);
	if (use_syslog)
		openlog("popfetch", LOG_PID, LOG_MAIL);
}

void
log_close(void)
{
	if (log_syslog)
		closelog();
}

bool
log_enabled(enum log_level lvl)
{
	switch (lvl) {
	case LOGL_ERROR:
		return true;
	case LOGL_WARNING:
		return log_verbosity >= 0;
	case LOGL_NOTICE:
		/* cron gets silence on success (docs/contract.md §1) */
		return log_verbosity >= 1 || (log_verbosity == 0 && log_tty);
	case LOGL_INFO:
		return log_verbosity >= 1;
	case LOGL_DEBUG:
		return log_verbosity >= 2;
	}
	return false;
}

void
log_set_account(const char *name)
{
	if (name == NULL)
		log_account[0] = '\0';
	else
		strlcpy(log_account, name, sizeof(log_account));
}

void
log_set_before_hook(void (*fn)(void))
{
	log_before = fn;
}

void
log_msg(enum log_level lvl, const char *fmt, ...)
{
	static const int prio[] = {
	    [LOGL_ERROR] = LOG_ERR,
	    [LOGL_WARNING] = LOG_WARNING,
	    [LOGL_NOTICE] = LOG_NOTICE,
	    [LOGL_INFO] = LOG_INFO,
	    [LOGL_DEBUG] = LOG_DEBUG,
	};
	char line[1024], out[1200];
	va_list ap;
	int n;

	if (!log_enabled(lvl))
		return;
	va_start(ap, fmt);
	if (vsnprintf(line, sizeof(line), fmt, ap) < 0)
		line[0] = '\0';
	va_end(ap);

	if (log_syslog) {
		if (log_account[0] != '\0')
			syslog(prio[lvl], "%s: %s", log_account, line);
		else
			syslog(prio[lvl], "%s", line);
		return;
	}
	if (log_before != NULL)
		log_before();
	/* one write per line, so parallel accounts do not interleave */
	n = snprintf(out, sizeof(out), "popfetch: %s%s%s%s\n", log_account,
	    log_account[0] != '\0' ? ": " : "",
	    lvl == LOGL_WARNING ? "warning: " : "", line);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(out)) {
		n = (int)sizeof(out) - 1;
		out[n - 1] = '\n';
	}
	fflush(stderr);
	(void)!write(STDERR_FILENO, out, (size_t)n);
}

void
log_trace(const char *dir, const char *text, size_t len)
{
	char san[4 * PF_SERVER_TEXT_MAX + 8];

	if (log_enabled(LOGL_DEBUG))
		log_debug(
		    "%s %s", dir, pf_sanitize(san, sizeof(san), text, len));
}
