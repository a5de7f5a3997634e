/*
 * sink-spool.c: what the spooled variants (mbox, MDA, stdout) share: an
 * impl that starts with struct sink_spooled, and the operations on its
 * spool. The variants call these; the dispatcher never does.
 */
#include <stdlib.h>

#include "popfetch/spool.h"
#include "popfetch/xmalloc.h"
#include "sink-private.h"

void *
sink_spool_init(struct sink *sk, const struct sink_params *p, size_t size)
{
	struct sink_spooled *ss = xcalloc(1, size);

	spool_init(&ss->spool, p->spool_dir);
	ss->timeout = p->mda_timeout <= 0 ? 300 : p->mda_timeout;
	sk->impl = ss;
	return ss;
}

int
sink_spool_open(struct sink *sk, const struct sink_msg *m, struct pf_err *err)
{
	struct sink_spooled *ss = sk->impl;

	return spool_open(&ss->spool, m->uid, m->size_hint, err);
}

int
sink_spool_write(
    struct sink *sk, const char *buf, size_t len, struct pf_err *err)
{
	struct sink_spooled *ss = sk->impl;

	return spool_write(&ss->spool, buf, len, err);
}

void
sink_spool_abort(struct sink *sk)
{
	struct sink_spooled *ss = sk->impl;

	spool_abort(&ss->spool);
}

void
sink_spool_free(struct sink *sk)
{
	struct sink_spooled *ss = sk->impl;

	if (ss == NULL)
		return;
	spool_free(&ss->spool);
	free(ss);
	sk->impl = NULL;
}
