/*
 * runner.c: the accounts of one invocation, in this process or in -j
 * child processes that send their outcome back through a pipe.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "popfetch/conn.h"
#include "popfetch/log.h"
#include "popfetch/runner.h"
#include "popfetch/serverinfo.h"
#include "popfetch/session.h"
#include "popfetch/sink.h"
#include "popfetch/xmalloc.h"

/* One account being run: what the fetch callbacks need. */
struct job {
	const struct account *a;
	const struct runner_hooks *h;
};

/* The fetch's report callback, passed on to the hooks. */
static void
job_report(void *ctx, const char *line)
{
	const struct job *j = ctx;

	if (j->h->report != NULL)
		j->h->report(j->h->ctx, line);
}

/* The fetch's progress callback, passed on with the account. */
static void
job_progress(void *ctx, const struct fetch_progress *p)
{
	const struct job *j = ctx;

	if (j->h->progress != NULL)
		j->h->progress(j->h->ctx, j->a, p);
}

/* Hand the outcome of a to the done hook, with the log tagged. */
static void
finish(const struct account *a, const struct runner_hooks *h,
    const struct runner_result *r)
{
	log_set_account(a->name);
	if (h->done != NULL)
		h->done(h->ctx, a, r);
	log_set_account(NULL);
}

/* Say what a stop by signal left behind (docs/contract.md §4). */
static void
explain_interruption(struct runner_result *r)
{
	const struct fetch_stats *s = &r->st;

	r->interrupted = true;
	if (s->fresh == 0 && s->fetched == 0)
		pf_err_set(&r->err, PF_ETEMP,
		    "interrupted before any message was fetched; all stay on the server for the next run");
	else if (s->fresh > s->fetched)
		pf_err_set(&r->err, PF_ETEMP,
		    "interrupted: %lu of %lu new messages delivered; the other %lu stay on the server for the next run",
		    s->fetched, s->fresh, s->fresh - s->fetched);
	else
		pf_err_set(&r->err, PF_ETEMP,
		    "interrupted: %lu messages delivered; the rest stay on the server for the next run",
		    s->fetched);
}

/* The secrets of one account: the password or token, and the proxy
 * user's password (proxy_password_command), either may be NULL. */
struct secrets {
	char *password;
	char *proxy;
};

/* Wipe and free both secrets. */
static void
secrets_free(struct secrets *sc)
{
	xfree_secret(sc->password);
	xfree_secret(sc->proxy);
	sc->password = sc->proxy = NULL;
}

/* Get both secrets of a. Returns 0 or -1 with err set. */
static int
secrets_get(const struct account *a, const struct runner_opts *o,
    struct secrets *sc, struct pf_err *err)
{
	struct secret_opts so = {!o->serverinfo, NULL, o->serverinfo};

	sc->password = sc->proxy = NULL;
	if ((o->secret != NULL ? o->secret : secret_get)(
		a, &so, &sc->password, err) < 0)
		return -1;
	if (a->proxy_password_command != NULL &&
	    secret_from_command(a->proxy_password_command, &sc->proxy, err) < 0)
		return pf_err_prefix(err, "proxy_password_command");
	return 0;
}

/*
 * Run account a in this process with the secrets the caller got (wiped
 * and freed here); with secret_err set, getting them failed and the
 * account only reports that.
 */
static void
run_account(const struct account *a, const struct runner_opts *o,
    const struct runner_hooks *h, struct secrets *sc,
    const struct pf_err *secret_err, struct runner_result *res)
{
	struct job j = {a, h};
	struct fetch_opts fo;
	char *text = NULL;

	memset(res, 0, sizeof(*res));
	memset(&fo, 0, sizeof(fo));
	fo.trace = o->trace;
	fo.dry_run = o->dry_run;
	fo.report = job_report;
	fo.progress = job_progress;
	fo.ctx = &j;
	log_set_account(a->name);
	if (a->insecure)
		log_warning(
		    "not verifying the certificate of '%s' (--insecure)",
		    a->host);
	if (secret_err != NULL) {
		res->err = *secret_err;
		res->ret = -1;
	} else if (o->serverinfo) {
		fo.secret = sc->password;
		fo.proxy_secret = sc->proxy;
		res->ret = (o->probe != NULL ? o->probe : serverinfo_get)(
		    a, &fo, &text, &res->err);
		if (text != NULL && h->serverinfo != NULL)
			h->serverinfo(h->ctx, a, text);
		free(text);
	} else {
		fo.secret = sc->password;
		fo.proxy_secret = sc->proxy;
		res->ret = (o->fetch != NULL ? o->fetch : fetch_account)(
		    a, &fo, &res->st, &res->err);
	}
	secrets_free(sc);
	log_set_account(NULL);
	if (res->ret < 0 && res->err.code == PF_ETEMP && fetch_stop_requested())
		explain_interruption(res);
	finish(a, h, res);
}

/* The outcome of an account not started because a signal came first. */
static void
not_started(const struct account *a, const struct runner_hooks *h,
    struct runner_result *res)
{
	memset(res, 0, sizeof(*res));
	res->ret = -1;
	res->interrupted = true;
	pf_err_set(&res->err, PF_ETEMP,
	    "not fetched: interrupted by a signal; all messages stay on the server for the next run");
	finish(a, h, res);
}

/* Get the secret of a here, then run a here. */
static void
run_here(const struct account *a, const struct runner_opts *o,
    const struct runner_hooks *h, struct runner_result *res)
{
	struct pf_err serr;
	struct secrets sc;
	bool failed;

	failed = secrets_get(a, o, &sc, &serr) < 0;
	run_account(a, o, h, &sc, failed ? &serr : NULL, res);
}

/* The -j bookkeeping: a child per running account. */
struct pool {
	pid_t *pids;
	int *fds;
	size_t started, finished;
	int running;
};

/* A failure of the runner itself for account i. */
static void
pool_fail(struct pool *p, const struct account *a, const struct runner_hooks *h,
    struct runner_result *res, const char *what)
{
	memset(res, 0, sizeof(*res));
	res->ret = -1;
	pf_err_sys(&res->err, PF_ESOFTWARE, "%s", what);
	finish(a, h, res);
	p->finished++;
}

/* Get the secret of account i here (prompts stay in one process), then
 * fork a child that runs it and writes its outcome to a pipe. */
static void
pool_start(struct pool *p, size_t i, const struct account *a,
    const struct runner_opts *o, const struct runner_hooks *h,
    struct runner_result *res)
{
	struct pf_err serr;
	struct secrets sc;
	bool nosecret;
	int pfd[2];
	pid_t pid;

	nosecret = secrets_get(a, o, &sc, &serr) < 0;
	if (pipe(pfd) < 0) {
		secrets_free(&sc);
		pool_fail(p, a, h, res, "cannot create a pipe");
		return;
	}
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		struct runner_result r;
		ssize_t w;

		close(pfd[0]);
		run_account(a, o, h, &sc, nosecret ? &serr : NULL, &r);
		w = write(pfd[1], &r, sizeof(r));
		_exit(w == (ssize_t)sizeof(r) ? 0 : 70);
	}
	close(pfd[1]);
	secrets_free(&sc);
	if (pid < 0) {
		close(pfd[0]);
		pool_fail(p, a, h, res, "cannot fork");
		return;
	}
	p->pids[i] = pid;
	p->fds[i] = pfd[0];
	p->running++;
}

/* Wait for one child and take its outcome. Returns -1 when there is no
 * child left to wait for. */
static int
pool_reap(struct pool *p, const struct account *accts,
    const struct runner_hooks *h, struct runner_result *res)
{
	int status;
	size_t i;
	pid_t pid = wait(&status);

	if (pid < 0)
		return errno == EINTR ? 0 : -1;
	for (i = 0; i < p->started; i++) {
		if (p->pids[i] != pid)
			continue;
		if (read(p->fds[i], &res[i], sizeof(res[i])) !=
		    (ssize_t)sizeof(res[i])) {
			/* the child died before it could say anything */
			memset(&res[i], 0, sizeof(res[i]));
			res[i].ret = -1;
			pf_err_set(&res[i].err, PF_ESOFTWARE,
			    "account '%s': worker died",
			    accts[i].name != NULL ? accts[i].name
						  : accts[i].host);
			finish(&accts[i], h, &res[i]);
		}
		close(p->fds[i]);
		p->pids[i] = 0;
		p->running--;
		p->finished++;
	}
	return 0;
}

/*
 * Build every account's TLS context here, before the workers fork, so
 * that they share it instead of each building its own. A setup that
 * fails is left to the account, which reports it when it connects.
 */
static void
prepare_tls(const struct account *accts, size_t n)
{
	struct conn_params cp;
	struct pf_err err;
	size_t i;

	for (i = 0; i < n; i++) {
		session_conn_params(&accts[i], &cp);
		if (conn_tls_prepare(&cp, &err) < 0)
			log_debug("TLS set-up for '%s' left to its account: %s",
			    accts[i].host, err.msg);
	}
}

/* Run accounts with up to o->jobs children at once. */
static void
run_pool(const struct account *accts, size_t n, const struct runner_opts *o,
    const struct runner_hooks *h, struct runner_result *res)
{
	struct pool p;

	prepare_tls(accts, n);
	memset(&p, 0, sizeof(p));
	p.pids = xcalloc(n, sizeof(*p.pids));
	p.fds = xcalloc(n, sizeof(*p.fds));
	while (p.finished < n) {
		while (p.started < n && p.running < o->jobs) {
			size_t i = p.started++;

			if (fetch_stop_requested()) {
				not_started(&accts[i], h, &res[i]);
				p.finished++;
			} else {
				pool_start(&p, i, &accts[i], o, h, &res[i]);
			}
		}
		if (p.running == 0 || pool_reap(&p, accts, h, res) < 0)
			break;
	}
	free(p.pids);
	free(p.fds);
}

bool
runner_parallel(const struct account *accts, size_t n, int jobs)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((sink_kind_flags(accts[i].sink) & SINK_USES_STDOUT))
			return false;
	return jobs > 1 && n > 1;
}

void
runner_run(const struct account *accts, size_t n, const struct runner_opts *o,
    const struct runner_hooks *h, struct runner_result *res)
{
	size_t i;

	if (runner_parallel(accts, n, o->jobs)) {
		run_pool(accts, n, o, h, res);
		return;
	}
	for (i = 0; i < n; i++) {
		if (fetch_stop_requested())
			not_started(&accts[i], h, &res[i]);
		else
			run_here(&accts[i], o, h, &res[i]);
	}
}

long
runner_first_failure(const struct runner_result *res, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (res[i].ret < 0)
			return (long)i;
	return -1;
}
