/*
 * daemon.c: the --daemon loop: batches of due accounts through the
 * runner, back-off, the signals that steer it, and the daemon locks.
 */
#include <sys/select.h>

#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "popfetch/daemon.h"
#include "popfetch/fetch.h"
#include "popfetch/lock.h"
#include "popfetch/log.h"
#include "popfetch/notify.h"
#include "popfetch/secret.h"
#include "popfetch/sys.h"
#include "popfetch/tempcount.h"
#include "popfetch/xmalloc.h"
#include "compat.h"

/* The longest back-off after temporary failures (issue: an hour). */
#define DAEMON_BACKOFF_MAX_MS (3600LL * 1000)

static volatile sig_atomic_t poll_now;	 /* SIGUSR1 */
static volatile sig_atomic_t reload_now; /* SIGHUP */

/* What the daemon knows about one account between polls. */
struct slot {
	struct account *a;
	int lockfd;	/* the daemon lock; -1: not served */
	unsigned fails; /* temporary failures in a row */
	long long due;	/* sys_now_ms() of the next poll */
	char perm[256]; /* the permanent failure last logged, or "" */
};

struct daemon {
	const struct daemon_opts *o;
	int interval; /* seconds */
	struct account *accts;
	size_t n;
	struct slot *slots;
	struct runner_hooks hooks; /* the caller's, wrapped */
	struct runner_opts run;	   /* the caller's, with no_prompt_secret */
	pid_t pid;		   /* the daemon itself, not a -j child */
	long long wd_ms, wd_last;  /* watchdog interval and last ping */
};

static void
on_usr1(int sig)
{
	(void)sig;
	poll_now = 1;
}

static void
on_hup(int sig)
{
	(void)sig;
	reload_now = 1;
}

/* SIGUSR1 and SIGHUP steer the daemon; SIGTERM and SIGINT keep the
 * stop handlers of process_setup(). SA_RESTART: a poll or reload asked
 * for during a batch must not disturb the fetch in progress. */
static void
signals_setup(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = on_hup;
	sigaction(SIGHUP, &sa, NULL);
}

/* WATCHDOG=1 when half the watchdog interval has passed; only from the
 * daemon process (the manager listens to its main pid). */
static void
watchdog_kick(struct daemon *d)
{
	long long now;

	if (d->wd_ms <= 0 || getpid() != d->pid)
		return;
	now = sys_now_ms();
	if (now - d->wd_last < d->wd_ms / 2)
		return;
	(void)notify_send("WATCHDOG=1");
	d->wd_last = now;
}

static void
hook_report(void *ctx, const char *line)
{
	struct daemon *d = ctx;

	if (d->o->hooks->report != NULL)
		d->o->hooks->report(d->o->hooks->ctx, line);
}

static void
hook_progress(
    void *ctx, const struct account *a, const struct fetch_progress *p)
{
	struct daemon *d = ctx;

	if (d->o->hooks->progress != NULL)
		d->o->hooks->progress(d->o->hooks->ctx, a, p);
	watchdog_kick(d);
}

static void
hook_done(void *ctx, const struct account *a, const struct runner_result *r)
{
	struct daemon *d = ctx;

	if (d->o->hooks->done != NULL)
		d->o->hooks->done(d->o->hooks->ctx, a, r);
}

/* A daemon never asks for a password on the terminal: it would ask on
 * every poll, or stop in the background waiting for it. */
static int
no_prompt_secret(const struct account *a, const struct secret_opts *o,
    char **out, struct pf_err *err)
{
	struct secret_opts so = *o;
	char *id;

	so.may_prompt = false;
	if (secret_get(a, &so, out, err) < 0)
		return -1;
	if (*out != NULL || secret_source_of(a) != SECRET_LOOKUP)
		return 0;
	id = account_id(a);
	pf_err_set(err, PF_ECONFIG,
	    "no password for '%s': a daemon does not ask on the terminal; set password_command, or add it to ~/.netrc or the config file",
	    id);
	free(id);
	return -1;
}

/* Take the daemon lock of a: "daemon USER@HOST:PORT" next to the run
 * lock, held for the daemon's life. Returns the fd or -1. */
static int
daemon_lock(const struct account *a, struct pf_err *err)
{
	char *id = account_id(a), *lid = xasprintf("daemon %s", id);
	char who[64] = "";
	const char *p;
	int fd;

	fd = lock_account(a->state_dir, lid, err);
	if (fd < 0 && err->code == PF_ETEMP) {
		if ((p = strstr(err->msg, " (pid ")) != NULL)
			strlcpy(who, p, sizeof(who));
		pf_err_set(err, PF_ETEMP,
		    "account '%s' is already served by another popfetch daemon%s; stop that one first",
		    a->name != NULL ? a->name : id, who);
	}
	free(lid);
	free(id);
	return fd;
}

/* Whether a and b are the same account (for a reload). */
static bool
same_account(const struct account *a, const struct account *b)
{
	char *ia, *ib;
	bool same;

	if ((a->name == NULL) != (b->name == NULL) ||
	    (a->name != NULL && strcmp(a->name, b->name) != 0) ||
	    strcmp(a->state_dir, b->state_dir) != 0)
		return false;
	ia = account_id(a);
	ib = account_id(b);
	same = strcmp(ia, ib) == 0;
	free(ia);
	free(ib);
	return same;
}

/* Slots for accts[0..n), each with the state of the same account in
 * old[0..nold) (whose lock moves over) or a lock of its own. The locks of
 * old accounts that are gone are released first, so that a renamed
 * account can take its lock again. At start (strict) a lock that cannot
 * be taken fails the whole; on a reload the account is logged and left
 * out. Returns the slots, or NULL. */
static struct slot *
slots_make(struct account *accts, size_t n, struct slot *old, size_t nold,
    bool strict, struct pf_err *err)
{
	struct slot *s = xcalloc(n > 0 ? n : 1, sizeof(*s));
	size_t i, j;

	for (i = 0; i < n; i++) {
		s[i].a = &accts[i];
		s[i].lockfd = -1;
		for (j = 0; j < nold; j++) {
			if (old[j].lockfd < 0 ||
			    !same_account(&accts[i], old[j].a))
				continue;
			s[i] = old[j];
			s[i].a = &accts[i];
			old[j].lockfd = -1;
			break;
		}
	}
	for (j = 0; j < nold; j++) {
		lock_release(old[j].lockfd);
		old[j].lockfd = -1;
	}
	for (i = 0; i < n; i++) {
		if (s[i].lockfd >= 0 ||
		    (s[i].lockfd = daemon_lock(&accts[i], err)) >= 0)
			continue;
		if (strict) {
			while (i-- > 0)
				lock_release(s[i].lockfd);
			free(s);
			return NULL;
		}
		log_set_account(accts[i].name);
		log_error("%s", err->msg);
		log_set_account(NULL);
	}
	return s;
}

/* Release the locks of slots[0..n) still held and free them. */
static void
slots_free(struct slot *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		lock_release(s[i].lockfd);
	free(s);
}

/* After a reload, a shorter interval applies at once to the accounts
 * that are not backing off. */
static void
reschedule(struct daemon *d)
{
	long long soon = sys_now_ms() + d->interval * 1000LL;
	size_t i;

	for (i = 0; i < d->n; i++)
		if (d->slots[i].fails == 0 && d->slots[i].due > soon)
			d->slots[i].due = soon;
}

/* SIGHUP: load the configuration again; a broken one keeps the old. */
static void
reload(struct daemon *d)
{
	struct account *accts = NULL;
	struct slot *slots;
	struct pf_err err;
	size_t n = 0;
	int interval = -1;

	pf_err_clear(&err);
	if (d->o->load(d->o->load_ctx, &accts, &n, &interval, &err) < 0) {
		log_error("%s; the configuration loaded before stays in use",
		    err.msg);
		return;
	}
	slots = slots_make(accts, n, d->slots, d->n, false, &err);
	slots_free(d->slots, d->n);
	config_accounts_free(d->accts, d->n);
	d->accts = accts;
	d->n = n;
	d->slots = slots;
	if (interval >= 0)
		d->interval = interval;
	reschedule(d);
	log_info("configuration loaded again: %zu accounts, every %d s", n,
	    d->interval);
}

/* How long to wait after the fails-th temporary failure in a row: the
 * interval doubled per failure, at most an hour (or the interval when
 * that is longer), less up to a quarter at random so that daemons that
 * failed together do not come back together. */
static long long
backoff_ms(int interval, unsigned fails)
{
	long long base = interval > 0 ? interval * 1000LL : 1000;
	long long cap =
	    base > DAEMON_BACKOFF_MAX_MS ? base : DAEMON_BACKOFF_MAX_MS;
	long long ms = base;
	unsigned i;

	for (i = 0; i < fails && ms < cap; i++)
		ms *= 2;
	if (ms > cap)
		ms = cap;
	return ms - (long long)(sys_random32() % (unsigned)(ms / 4 + 1));
}

/* The outcome of one account's poll: what to log, when to poll next. */
static void
after_run(struct daemon *d, struct slot *s, const struct runner_result *r)
{
	long long now = sys_now_ms(), next = now + d->interval * 1000LL;
	bool quiet;

	log_set_account(s->a->name);
	if (r->interrupted) {
		log_info("%s", r->err.msg);
	} else if (r->ret == 0) {
		if (s->fails > 0 || s->perm[0] != '\0')
			log_notice("fetching works again");
		(void)tempcount_after_run(s->a, r);
		s->fails = 0;
		s->perm[0] = '\0';
	} else if (r->err.code == PF_ETEMP) {
		quiet = tempcount_after_run(s->a, r);
		if (!quiet)
			log_error("%s", r->err.msg);
		s->fails++;
		next = now + backoff_ms(d->interval, s->fails);
		log_info("temporary failure %u in a row; next try in %lld s",
		    s->fails, (next - now + 999) / 1000);
	} else {
		(void)tempcount_after_run(s->a, r);
		s->fails = 0;
		if (strcmp(s->perm, r->err.msg) != 0)
			log_error("%s", r->err.msg);
		strlcpy(s->perm, r->err.msg, sizeof(s->perm));
	}
	s->due = next;
	log_set_account(NULL);
}

/* One batch: the accounts that are due (all of them after SIGUSR1). */
static void
run_batch(struct daemon *d, bool all)
{
	struct account *batch = xcalloc(d->n + 1, sizeof(*batch));
	size_t *idx = xcalloc(d->n + 1, sizeof(*idx));
	struct runner_result *res;
	long long now = sys_now_ms();
	size_t i, k = 0;

	for (i = 0; i < d->n; i++) {
		if (d->slots[i].lockfd < 0 || (!all && d->slots[i].due > now))
			continue;
		idx[k] = i;
		batch[k++] = *d->slots[i].a; /* a shallow copy */
	}
	if (k > 0) {
		res = xcalloc(k, sizeof(*res));
		runner_run(batch, k, &d->run, &d->hooks, res);
		for (i = 0; i < k; i++)
			after_run(d, &d->slots[idx[i]], &res[i]);
		free(res);
	}
	free(idx);
	free(batch);
}

/* When the next account is due; an hour from now when none is. */
static long long
next_due(const struct daemon *d, long long now)
{
	long long next = now + DAEMON_BACKOFF_MAX_MS;
	size_t i;

	for (i = 0; i < d->n; i++)
		if (d->slots[i].lockfd >= 0 && d->slots[i].due < next)
			next = d->slots[i].due;
	return next;
}

/* Sleep until an account is due or a signal asks for something, pinging
 * the watchdog meanwhile. The signals are blocked between the check and
 * the wait, so none is missed. */
static void
wait_next(struct daemon *d)
{
	sigset_t block, old;
	struct timespec ts;
	long long now, ms;

	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, &old);
	while (!fetch_stop_requested() && !poll_now && !reload_now) {
		watchdog_kick(d);
		now = sys_now_ms();
		ms = next_due(d, now) - now;
		if (ms <= 0)
			break;
		if (d->wd_ms > 0 && ms > d->wd_last + d->wd_ms / 2 - now)
			ms = d->wd_last + d->wd_ms / 2 - now;
		if (ms < 1)
			ms = 1;
		ts.tv_sec = (time_t)(ms / 1000);
		ts.tv_nsec = (long)(ms % 1000) * 1000000L;
		(void)pselect(0, NULL, NULL, NULL, &ts, &old);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
}

int
daemon_run(const struct daemon_opts *o, struct account *accts, size_t n,
    struct pf_err *err)
{
	struct daemon d;
	bool all;

	memset(&d, 0, sizeof(d));
	d.o = o;
	d.interval = o->interval;
	d.accts = accts;
	d.n = n;
	d.pid = getpid();
	d.run = *o->run;
	if (d.run.secret == NULL)
		d.run.secret = no_prompt_secret;
	d.hooks = (struct runner_hooks){
	    hook_report, hook_progress, NULL, hook_done, &d};
	signals_setup();
	d.slots = slots_make(accts, n, NULL, 0, true, err);
	if (d.slots == NULL) {
		config_accounts_free(accts, n);
		return -1;
	}
	d.wd_ms = notify_watchdog_ms();
	if (notify_send("READY=1") < 0)
		log_warning("cannot tell the service manager we are ready");
	log_info("serving %zu accounts, every %d s", n, d.interval);
	while (!fetch_stop_requested()) {
		if (reload_now) {
			reload_now = 0;
			reload(&d);
		}
		all = poll_now != 0;
		poll_now = 0;
		run_batch(&d, all);
		watchdog_kick(&d);
		if (!fetch_stop_requested())
			wait_next(&d);
	}
	(void)notify_send("STOPPING=1");
	log_info("stopped by a signal");
	slots_free(d.slots, d.n);
	config_accounts_free(d.accts, d.n);
	return 0;
}
