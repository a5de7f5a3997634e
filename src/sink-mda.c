/*
 * sink-mda.c: delivery through an MDA command run by /bin/sh -c. The
 * message is spooled first so the MDA reads a file (never a pipe we must
 * feed), and the lock-free commit is "the MDA exited 0 and read it all".
 */
#define _GNU_SOURCE /* pipe2, posix_spawn_file_actions_addclosefrom_np */

#include <sys/types.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "popfetch/log.h"
#include "popfetch/shell.h"
#include "popfetch/sink.h"
#include "popfetch/spool.h"
#include "popfetch/sys.h"
#include "popfetch/xmalloc.h"
#include "sink-private.h"

extern char **environ;

#define MDA_TAIL    200	 /* bytes of stderr kept for the message */
#define MDA_KILL_MS 2000 /* SIGTERM to SIGKILL */
#define MDA_TICK_MS 20	 /* poll step while only waiting for the exit */

struct mda_run {
	pid_t pid;
	int status;
	bool exited;
	bool timed_out;
	char tail[MDA_TAIL]; /* the last bytes of stderr */
	size_t tlen;
};

/* The spool holds the message, which the MDA reads as a file. */
static int
mda_init(struct sink *sk, const struct sink_params *p, struct pf_err *err)
{
	const char *c;

	(void)sink_spool_init(sk, p, sizeof(struct sink_spooled));
	for (c = sk->path; *c == ' ' || *c == '\t'; c++)
		;
	if (*c == '\0')
		return pf_err_set(err, PF_ECONFIG, "empty MDA command");
	return 0;
}

/* Remember the last MDA_TAIL bytes of what the MDA wrote to stderr. */
static void
tail_add(struct mda_run *r, const char *buf, size_t n)
{
	if (n >= MDA_TAIL) {
		memcpy(r->tail, buf + n - MDA_TAIL, MDA_TAIL);
		r->tlen = MDA_TAIL;
		return;
	}
	if (r->tlen + n > MDA_TAIL) {
		size_t drop = r->tlen + n - MDA_TAIL;

		memmove(r->tail, r->tail + drop, r->tlen - drop);
		r->tlen -= drop;
	}
	memcpy(r->tail + r->tlen, buf, n);
	r->tlen += n;
}

/* Non-blocking waitpid; true once the child is reaped. */
static bool
reap(struct mda_run *r, int flags)
{
	pid_t p;

	if (r->exited)
		return true;
	do
		p = waitpid(r->pid, &r->status, flags);
	while (p == -1 && errno == EINTR);
	if (p == r->pid || (p == -1 && errno == ECHILD)) {
		r->exited = true;
		if (p == -1)
			r->status = 0x7f00; /* unknown: treat as failure */
	}
	return r->exited;
}

/* Kill the MDA's process group: SIGTERM, then SIGKILL after 2 s. */
static void
mda_kill(struct mda_run *r)
{
	long long end;

	(void)kill(-r->pid, SIGTERM);
	(void)kill(r->pid, SIGTERM);
	end = sys_now_ms() + MDA_KILL_MS;
	while (!reap(r, WNOHANG) && sys_now_ms() < end)
		(void)poll(NULL, 0, MDA_TICK_MS);
	if (!r->exited) {
		(void)kill(-r->pid, SIGKILL);
		(void)kill(r->pid, SIGKILL);
		reap(r, 0);
	}
}

/* A descriptor that polls readable once the child exits (a pidfd, Linux
 * 5.3 or later), or -1: then mda_wait() polls for the exit in steps. */
static int
exit_fd(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	return -1;
#endif
}

/* How long the next poll may wait, in ms. */
static int
wait_step(
    const struct mda_run *r, int npipes, int exitfd, long long left, int *tick)
{
	int step = MDA_TICK_MS * 25;

	/* Once the MDA has exited only drain what is there (a background
	 * child may keep the pipes open). */
	if (r->exited)
		return 0;
	if (npipes == 0 && exitfd == -1) {
		/* pipes closed, exit not yet seen and nothing to wake us:
		 * the usual case is a few microseconds away, start small */
		step = *tick;
		if (*tick < MDA_TICK_MS)
			*tick *= 2;
	}
	return left > step ? step : (int)left;
}

/* Read what one pipe has; false once it is closed. */
static bool
drain_pipe(struct mda_run *r, struct pollfd *p, bool keep_tail, int *got)
{
	char buf[8192];
	ssize_t n;

	if (p->fd == -1 || p->revents == 0)
		return p->fd != -1;
	n = read(p->fd, buf, sizeof(buf));
	if (n > 0) {
		(*got)++;
		if (keep_tail)
			tail_add(r, buf, (size_t)n);
		return true;
	}
	if (n == -1 && (errno == EINTR || errno == EAGAIN))
		return true;
	close(p->fd);
	p->fd = -1;
	return false;
}

/*
 * Drain the MDA's stdout and stderr until it exits or the deadline
 * passes, so a chatty MDA never blocks on a full pipe. Its exit wakes the
 * poll at once through a pidfd where there is one.
 */
static void
mda_wait(struct mda_run *r, int outfd, int errfd, long long deadline)
{
	struct pollfd pfd[3];
	int i, tick = 1, exitfd = exit_fd(r->pid);

	pfd[0].fd = outfd;
	pfd[1].fd = errfd;
	for (;;) {
		long long left;
		int npipes = 0, got = 0;

		reap(r, WNOHANG);
		left = deadline - sys_now_ms();
		if (!r->exited && left <= 0) {
			r->timed_out = true;
			mda_kill(r);
			break;
		}
		if (r->exited && left <= 0)
			break;
		for (i = 0; i < 2; i++) {
			pfd[i].events = POLLIN;
			pfd[i].revents = 0;
			if (pfd[i].fd != -1)
				npipes++;
		}
		if (npipes == 0 && r->exited)
			break;
		pfd[2].fd = r->exited ? -1 : exitfd;
		pfd[2].events = POLLIN;
		pfd[2].revents = 0;
		if (poll(pfd, 3, wait_step(r, npipes, exitfd, left, &tick)) ==
		    -1) {
			if (errno != EINTR)
				(void)poll(NULL, 0, MDA_TICK_MS);
			continue;
		}
		for (i = 0; i < 2; i++)
			(void)drain_pipe(r, &pfd[i], i == 1, &got);
		if (r->exited && got == 0)
			break;
	}
	for (i = 0; i < 2; i++)
		if (pfd[i].fd != -1)
			close(pfd[i].fd);
	if (exitfd != -1)
		close(exitfd);
}

/* Our environment with SENDER=sender replacing any SENDER. */
static char **
mda_env(const char *sender, char **sender_var)
{
	size_t n = 0, i, o = 0;
	char **env;

	while (environ != NULL && environ[n] != NULL)
		n++;
	env = xcalloc(n + 2, sizeof(*env));
	for (i = 0; i < n; i++)
		if (strncmp(environ[i], "SENDER=", 7) != 0)
			env[o++] = environ[i];
	*sender_var = xasprintf("SENDER=%s", sender);
	env[o++] = *sender_var;
	env[o] = NULL;
	return env;
}

/*
 * Spawn the MDA with the spool on stdin and pipes on 1 and 2: as /bin/sh
 * -c cmd, or, when cmd is only plain words (so that sh would do nothing
 * but run that program with those arguments), the program itself, which
 * saves starting a shell for every message.
 */
static int
mda_spawn(struct sink *sk, int infd, const char *cmd, const char *sender,
    struct mda_run *r, int *outfd, int *errfd, struct pf_err *err)
{
	posix_spawn_file_actions_t fa;
	int outp[2] = {-1, -1}, errp[2] = {-1, -1}, e, ret = -1;
	char *sender_var = NULL, **env = NULL;

	if (pipe2(outp, O_CLOEXEC) == -1 || pipe2(errp, O_CLOEXEC) == -1) {
		pf_err_sys(err, PF_EIO, "cannot run MDA: pipe");
		goto out;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, infd, STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, outp[1], STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, errp[1], STDERR_FILENO);
	env = mda_env(sender, &sender_var);
	/* Its own process group, so a timeout kills the whole pipeline. */
	e = shell_spawn(cmd, &fa, true, env, &r->pid);
	posix_spawn_file_actions_destroy(&fa);
	if (e != 0) {
		errno = e;
		pf_err_sys(err, PF_EIO, "cannot run MDA '%s'", sk->path);
		goto out;
	}
	*outfd = outp[0];
	*errfd = errp[0];
	outp[0] = errp[0] = -1;
	(void)fcntl(*outfd, F_SETFL, O_NONBLOCK);
	(void)fcntl(*errfd, F_SETFL, O_NONBLOCK);
	ret = 0;
out:
	if (outp[0] != -1)
		close(outp[0]);
	if (outp[1] != -1)
		close(outp[1]);
	if (errp[0] != -1)
		close(errp[0]);
	if (errp[1] != -1)
		close(errp[1]);
	free(env);
	free(sender_var);
	return ret;
}

/* Judge a finished MDA run: delivered only on exit 0 with its whole
 * input read (the offset is shared with the child's stdin). */
static int
mda_result(struct sink *sk, const struct mda_run *r, int fd,
    unsigned long long size, struct pf_err *err)
{
	struct sink_spooled *md = sk->impl;
	char tail[MDA_TAIL * 4 + 8];
	off_t pos;
	int code;

	pf_sanitize(tail, sizeof(tail), r->tail, r->tlen);
	/* Drop the trailing newline of the MDA's last message line. */
	if (r->tlen > 0 && r->tail[r->tlen - 1] == '\n')
		pf_sanitize(tail, sizeof(tail), r->tail, r->tlen - 1);
	if (r->timed_out)
		return pf_err_set(err, PF_EIO, "MDA '%s' timed out after %d s",
		    sk->path, md->timeout);
	if (WIFSIGNALED(r->status))
		return pf_err_set(err, PF_EIO, "MDA '%s' killed by signal %d",
		    sk->path, WTERMSIG(r->status));
	code = WIFEXITED(r->status) ? WEXITSTATUS(r->status) : 127;
	if (code == 75)
		return pf_err_set(err, PF_ETEMP,
		    "MDA '%s' exited 75 (try again later)%s%s", sk->path,
		    tail[0] != '\0' ? ": " : "", tail);
	if (code != 0)
		return pf_err_set(err, PF_EIO, "MDA '%s' exited %d%s%s",
		    sk->path, code, tail[0] != '\0' ? ": " : "", tail);
	pos = lseek(fd, 0, SEEK_CUR);
	if (pos == -1 || (unsigned long long)pos != size)
		return pf_err_set(err, PF_EIO,
		    "MDA '%s' exited 0 without reading the whole message",
		    sk->path);
	return 0;
}

/* Run the MDA on the spooled message. */
static int
mda_commit(struct sink *sk, struct pf_err *err)
{
	struct sink_spooled *md = sk->impl;
	struct fileio_buf *cur = &md->spool.cur;
	char sender[MBOXRD_SENDER_MAX];
	const char *values[1] = {sender};
	struct mda_run r;
	int outfd = -1, errfd = -1, ret = -1;
	char *cmd = NULL;

	memset(&r, 0, sizeof(r));
	if (spool_flush(&md->spool, err) == -1 ||
	    spool_sender(cur->fd, sender, sizeof(sender), err) == -1)
		goto out;
	if (lseek(cur->fd, 0, SEEK_SET) == -1) {
		pf_err_sys(err, PF_EIO, "cannot rewind spool file");
		goto out;
	}
	cmd = shell_expand(sk->path, "F", values);
	log_debug("running MDA: %s", cmd);
	if (mda_spawn(sk, cur->fd, cmd, sender, &r, &outfd, &errfd, err) == -1)
		goto out;
	mda_wait(
	    &r, outfd, errfd, sys_now_ms() + (long long)md->timeout * 1000);
	if (mda_result(sk, &r, cur->fd, cur->size, err) == -1)
		goto out;
	snprintf(sk->where, sizeof(sk->where), "mda");
	ret = 0;
out:
	free(cmd);
	spool_abort(&md->spool);
	return ret;
}

/* No sync: the MDA delivered each message at its commit. */
const struct sink_ops sink_mda_ops = {
    .sink = {mda_init, sink_spool_free},
    .msg = {sink_spool_open, sink_spool_write, mda_commit, sink_spool_abort},
};
