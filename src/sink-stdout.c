/*
 * sink-stdout.c: delivery to standard output as an mboxrd stream. Each
 * message is spooled; the sync writes the staged ones out in order.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "popfetch/sink.h"
#include "sink-private.h"

/* Nothing to check: stdout is whatever the caller gave us. */
static int
stdout_init(struct sink *sk, struct pf_err *err)
{
	(void)sk;
	(void)err;
	return 0;
}

static int
stdout_commit(struct sink *sk, struct pf_err *err)
{
	if (sink_spool_commit(sk, err) == -1)
		return -1;
	sink_set_where(sk, "stdout");
	return 0;
}

/* emit callback: straight to fd 1. */
static int
stdout_emit(void *ctx, const char *buf, size_t len)
{
	(void)ctx;
	return sink_write_all(STDOUT_FILENO, buf, len);
}

/* Write every staged message; fsync only makes sense for a file. */
static int
stdout_sync(struct sink *sk, struct pf_err *err)
{
	struct stat st;
	time_t now = time(NULL);
	unsigned i;

	for (i = 0; i < sk->nstaged; i++) {
		if (sink_mboxrd_emit(&sk->staged[i], now, stdout_emit,
		    NULL) == -1) {
			pf_err_sys(err, PF_EIO,
			    "cannot write to standard output");
			sink_staged_clear(sk);
			return -1;
		}
	}
	sink_staged_clear(sk);
	if (fstat(STDOUT_FILENO, &st) == 0 && S_ISREG(st.st_mode) &&
	    fsync(STDOUT_FILENO) == -1)
		return pf_err_sys(err, PF_EIO,
		    "cannot write to standard output");
	return 0;
}

const struct sink_ops sink_stdout_ops = {
	.init = stdout_init,
	.open = sink_spool_open,
	.write = sink_spool_write,
	.commit = stdout_commit,
	.abort = sink_spool_abort,
	.sync = stdout_sync,
	.has_token = NULL,
	.synced_recorded = NULL,
	.free = NULL,
};
