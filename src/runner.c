/*
 * runner.c: the accounts of one invocation, in this process or in -j
 * worker processes that each run one account after another and send
 * each outcome back through a pipe.
 */
#define _GNU_SOURCE /* pipe2 */
#include <fcntl.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "popfetch/conn.h"
#include "popfetch/fileio.h"
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

/* The longest secret a worker takes from its pipe (a sanity bound: the
 * parent got it). */
#define RUNNER_SECRET_MAX (1024 * 1024)

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

/*
 * The -j pool: up to o->jobs worker processes, each forked once and then
 * given one account after another. The parent gets each secret (prompts
 * stay in one process) and sends it with the account's index down the
 * worker's job pipe; the worker runs the account and sends back its
 * fixed-size result. A worker that dies costs only the account it was
 * running; a worker that a signal asked to stop says so with its result
 * and exits. Either way a new worker takes the accounts after it.
 * Writing to a dead worker's pipe needs SIGPIPE ignored, as
 * process_setup() does.
 */
struct worker {
	pid_t pid;   /* 0: no process */
	int job_fd;  /* parent -> worker: job records */
	int res_fd;  /* worker -> parent: results */
	size_t acct; /* the account it runs */
	bool busy;
};

struct pool {
	struct worker *w;
	int nw; /* slots, o->jobs at most */
	size_t started, finished;
	bool said_wait, said_here; /* warned of a worker not started */
};

/* What goes down a job pipe ahead of the secrets' bytes. */
struct job_msg {
	size_t acct;
	bool nosecret;
	struct pf_err serr;
	size_t plen, xlen; /* password, proxy password; SIZE_MAX: none */
};

/* What comes back after each account. */
struct job_reply {
	struct runner_result r;
	bool retiring; /* a signal asked the worker to stop: it exits */
};

/* Read one secret of len bytes (SIZE_MAX: none) from fd. 0 or -1. */
static int
read_secret(int fd, size_t len, char **out)
{
	*out = NULL;
	if (len == SIZE_MAX)
		return 0;
	if (len > RUNNER_SECRET_MAX)
		return -1;
	*out = xmalloc(len + 1);
	if (fileio_read_upto(fd, *out, len) != (ssize_t)len) {
		xfree_secret(*out);
		*out = NULL;
		return -1;
	}
	(*out)[len] = '\0';
	return 0;
}

/* A worker: run each account the parent sends until its pipe closes, or
 * until a signal asks it to stop (its stop request cannot be taken back,
 * and would cut short every account after it). */
static void __attribute__((noreturn))
worker_loop(int job_fd, int res_fd, const struct account *accts, size_t n,
    const struct runner_opts *o, const struct runner_hooks *h)
{
	struct job_msg m;
	struct job_reply rep;
	struct secrets sc;

	for (;;) {
		ssize_t got = fileio_read_upto(job_fd, (char *)&m, sizeof(m));

		if (got == 0)
			_exit(0);
		if (got != (ssize_t)sizeof(m) || m.acct >= n ||
		    read_secret(job_fd, m.plen, &sc.password) == -1 ||
		    read_secret(job_fd, m.xlen, &sc.proxy) == -1)
			_exit(70);
		memset(&rep, 0, sizeof(rep));
		run_account(&accts[m.acct], o, h, &sc,
		    m.nosecret ? &m.serr : NULL, &rep.r);
		rep.retiring = fetch_stop_requested();
		if (fileio_write_all(res_fd, &rep, sizeof(rep)) == -1)
			_exit(70);
		if (rep.retiring)
			_exit(0);
	}
}

/* Start a worker in slot k. 0, or -1 with errno. */
static int
worker_start(struct pool *p, int k, const struct account *accts, size_t n,
    const struct runner_opts *o, const struct runner_hooks *h)
{
	int jfd[2], rfd[2], i, saved;
	pid_t pid;

	/* Close-on-exec: a password command or MDA started later must not
	 * hold a worker's pipe open, or the worker would never see EOF. */
	if (pipe2(jfd, O_CLOEXEC) < 0)
		return -1;
	if (pipe2(rfd, O_CLOEXEC) < 0) {
		saved = errno;
		close(jfd[0]);
		close(jfd[1]);
		errno = saved;
		return -1;
	}
	fflush(NULL);
	pid = fork();
	saved = errno;
	if (pid == 0) {
		/* Hold no other worker's pipes: each must see its own EOF. */
		for (i = 0; i < p->nw; i++)
			if (p->w[i].pid != 0) {
				close(p->w[i].job_fd);
				close(p->w[i].res_fd);
			}
		close(jfd[1]);
		close(rfd[0]);
		worker_loop(jfd[0], rfd[1], accts, n, o, h);
	}
	close(jfd[0]);
	close(rfd[1]);
	if (pid < 0) {
		close(jfd[1]);
		close(rfd[0]);
		errno = saved;
		return -1;
	}
	p->w[k].pid = pid;
	p->w[k].job_fd = jfd[1];
	p->w[k].res_fd = rfd[0];
	p->w[k].busy = false;
	return 0;
}

/* End the process of a slot: close its pipes (an idle worker exits on
 * the end of its job pipe), reap it. */
static void
worker_end(struct worker *wk)
{
	int status;

	close(wk->job_fd);
	close(wk->res_fd);
	while (waitpid(wk->pid, &status, 0) == -1 && errno == EINTR)
		;
	wk->pid = 0;
	wk->job_fd = wk->res_fd = -1;
	wk->busy = false;
}

/* Whether an idle worker is gone: it sends nothing between accounts, so
 * anything on its result pipe is its end. */
static bool
worker_gone(const struct worker *wk)
{
	struct pollfd pfd = {wk->res_fd, POLLIN, 0};

	return poll(&pfd, 1, 0) != 0;
}

/* A slot with a live idle worker, starting one in an empty slot if none
 * is idle; -1 when no worker can be started. */
static int
pool_slot(struct pool *p, const struct account *accts, size_t n,
    const struct runner_opts *o, const struct runner_hooks *h)
{
	int k;

	for (k = 0; k < p->nw; k++) {
		if (p->w[k].pid == 0 || p->w[k].busy)
			continue;
		if (!worker_gone(&p->w[k]))
			return k;
		worker_end(&p->w[k]);
	}
	for (k = 0; k < p->nw; k++)
		if (p->w[k].pid == 0)
			return worker_start(p, k, accts, n, o, h) == 0 ? k : -1;
	return -1;
}

/* Send job m and its secrets down wk's job pipe. 0 or -1. */
static int
job_send(const struct worker *wk, struct job_msg *m, const struct secrets *sc)
{
	m->plen = sc->password != NULL ? strlen(sc->password) : SIZE_MAX;
	m->xlen = sc->proxy != NULL ? strlen(sc->proxy) : SIZE_MAX;
	if (fileio_write_all(wk->job_fd, m, sizeof(*m)) == -1 ||
	    (sc->password != NULL &&
		fileio_write_all(wk->job_fd, sc->password, m->plen) == -1) ||
	    (sc->proxy != NULL &&
		fileio_write_all(wk->job_fd, sc->proxy, m->xlen) == -1))
		return -1;
	return 0;
}

/* How many workers are running an account. */
static int
pool_busy(const struct pool *p)
{
	int k, busy = 0;

	for (k = 0; k < p->nw; k++)
		busy += p->w[k].busy;
	return busy;
}

/* Say that the pool runs with fewer workers than asked: that account a
 * waits for a busy one, or runs in this process. Each once a run. */
static void
pool_short(struct pool *p, const struct account *a, bool here, int err_no)
{
	bool *said = here ? &p->said_here : &p->said_wait;

	if (*said)
		return;
	*said = true;
	if (here)
		log_warning("cannot start a worker process (%s): running "
			    "account '%s' in this one",
		    strerror(err_no), a->name != NULL ? a->name : a->host);
	else
		log_warning("cannot start a worker process (%s): going on "
			    "with the %d started",
		    strerror(err_no), pool_busy(p));
}

/*
 * Get account i's secrets here and hand it to a worker. False when no
 * worker can be started while others are busy: the account waits for
 * one of them, and its secrets are not asked for yet. With no worker at
 * all, or when a worker dies as it is given the account and none can
 * replace it, the account runs in this process.
 */
static bool
pool_start(struct pool *p, size_t i, const struct account *accts, size_t n,
    const struct runner_opts *o, const struct runner_hooks *h,
    struct runner_result *res)
{
	struct job_msg m;
	struct secrets sc;
	int k, err_no;

	k = pool_slot(p, accts, n, o, h);
	err_no = errno;
	if (k < 0 && pool_busy(p) > 0) {
		pool_short(p, &accts[i], false, err_no);
		return false;
	}
	memset(&m, 0, sizeof(m));
	m.acct = i;
	m.nosecret = secrets_get(&accts[i], o, &sc, &m.serr) < 0;
	if (m.nosecret)
		secrets_free(&sc); /* a password got before the proxy's */
	if (fetch_stop_requested()) {
		secrets_free(&sc);
		not_started(&accts[i], h, &res[i]);
		p->finished++;
		return true;
	}
	if (k >= 0 && job_send(&p->w[k], &m, &sc) == -1) {
		worker_end(&p->w[k]);
		if (worker_start(p, k, accts, n, o, h) == -1) {
			err_no = errno;
			k = -1;
		} else if (job_send(&p->w[k], &m, &sc) == -1) {
			err_no = errno;
			worker_end(&p->w[k]);
			k = -1;
		}
	}
	if (k < 0) {
		pool_short(p, &accts[i], true, err_no);
		run_account(
		    &accts[i], o, h, &sc, m.nosecret ? &m.serr : NULL, &res[i]);
		p->finished++;
		return true;
	}
	secrets_free(&sc);
	p->w[k].acct = i;
	p->w[k].busy = true;
	return true;
}

/* Take one result from busy worker wk. */
static void
pool_take(struct pool *p, struct worker *wk, const struct account *accts,
    const struct runner_hooks *h, struct runner_result *res)
{
	struct job_reply rep;
	size_t i = wk->acct;

	wk->busy = false;
	p->finished++;
	if (fileio_read_upto(wk->res_fd, (char *)&rep, sizeof(rep)) ==
	    (ssize_t)sizeof(rep)) {
		res[i] = rep.r;
		if (rep.retiring)
			worker_end(wk);
		return;
	}
	/* the worker died before it could say anything */
	memset(&res[i], 0, sizeof(res[i]));
	res[i].ret = -1;
	pf_err_set(&res[i].err, PF_ESOFTWARE, "account '%s': worker died",
	    accts[i].name != NULL ? accts[i].name : accts[i].host);
	finish(&accts[i], h, &res[i]);
	worker_end(wk);
}

/* Wait for the busy workers' results. -1 when none is busy. */
static int
pool_reap(struct pool *p, const struct account *accts,
    const struct runner_hooks *h, struct runner_result *res)
{
	struct pollfd pfd[RUNNER_JOBS_MAX];
	int slot[RUNNER_JOBS_MAX], k, np = 0, r;

	for (k = 0; k < p->nw; k++)
		if (p->w[k].busy) {
			pfd[np].fd = p->w[k].res_fd;
			pfd[np].events = POLLIN;
			slot[np++] = k;
		}
	if (np == 0)
		return -1;
	r = poll(pfd, (nfds_t)np, -1);
	if (r < 0 && errno == EINTR)
		return 0;
	if (r < 0) {
		/* Cannot wait for any of them: wait for the first alone, in
		 * a read that blocks until its result or its end. */
		log_debug("poll: %s", strerror(errno));
		pool_take(p, &p->w[slot[0]], accts, h, res);
		return 0;
	}
	for (k = 0; k < np; k++)
		if (pfd[k].revents != 0)
			pool_take(p, &p->w[slot[k]], accts, h, res);
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

/* Run accounts with up to o->jobs workers at once. */
static void
run_pool(const struct account *accts, size_t n, const struct runner_opts *o,
    const struct runner_hooks *h, struct runner_result *res)
{
	struct pool p;
	int k;

	prepare_tls(accts, n);
	memset(&p, 0, sizeof(p));
	p.nw = o->jobs < RUNNER_JOBS_MAX ? o->jobs : RUNNER_JOBS_MAX;
	if ((size_t)p.nw > n)
		p.nw = (int)n;
	p.w = xcalloc((size_t)p.nw, sizeof(*p.w));
	while (p.finished < n) {
		while (p.started < n && p.started - p.finished < (size_t)p.nw) {
			size_t i = p.started++;

			if (fetch_stop_requested()) {
				not_started(&accts[i], h, &res[i]);
				p.finished++;
			} else if (!pool_start(&p, i, accts, n, o, h, res)) {
				p.started--; /* it waits for a busy worker */
				break;
			}
		}
		if (pool_reap(&p, accts, h, res) < 0)
			break;
	}
	for (k = 0; k < p.nw; k++)
		if (p.w[k].pid != 0)
			worker_end(&p.w[k]);
	free(p.w);
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
