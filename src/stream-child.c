/*
 * stream-child.c: the command behind a tunnel stream. It runs in a
 * session of its own (no controlling terminal, so it cannot stop on a
 * prompt, and one kill reaches everything it started); its stderr is kept
 * in a bounded buffer; it is checked without being reaped (WNOWAIT), so
 * its process group id stays ours to signal until stream_child_end().
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "popfetch/log.h"
#include "popfetch/sys.h"
#include "popfetch/xmalloc.h"
#include "stream-private.h"

/* At most this much stderr is read per drain, so a command writing
 * without end cannot keep us from our deadline. */
#define STREAM_CHILD_DRAIN_MAX (64 * 1024)

/* In the child: close every descriptor from lowfd up. */
static void
stream_child_closefrom(int lowfd)
{
	long max = sysconf(_SC_OPEN_MAX);
	int fd;

	if (max < 0 || max > 65536)
		max = 65536;
	for (fd = lowfd; fd < max; fd++)
		(void)close(fd);
}

/* In the child: put the socket on 0 and 1 and the pipe on 2, then exec. */
static void
stream_child_exec(const char *command, int sock, int errw)
{
	static const char msg[] = "popfetch: cannot run /bin/sh\n";
	sigset_t none;

	/* above 2 first, so no dup2() below can clobber the other */
	sock = fcntl(sock, F_DUPFD, 3);
	errw = fcntl(errw, F_DUPFD, 3);
	if (sock == -1 || errw == -1 || setsid() == -1 ||
	    dup2(sock, STDIN_FILENO) == -1 || dup2(sock, STDOUT_FILENO) == -1 ||
	    dup2(errw, STDERR_FILENO) == -1)
		_exit(127);
	/* only 0, 1 and 2: ours are close-on-exec, but what we inherited
	 * without that flag is none of the command's business */
	stream_child_closefrom(3);
	/* we ignore SIGPIPE and may block signals; the command should not */
	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execl("/bin/sh", "sh", "-c", command, (char *)NULL);
	(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
	_exit(127);
}

struct stream_child *
stream_child_start(const char *command, int *fd, struct pf_err *err)
{
	struct stream_child *c;
	int sv[2] = {-1, -1}, ep[2] = {-1, -1}, fl;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1 ||
	    pipe(ep) == -1) {
		pf_err_sys(err, PF_ETEMP, "cannot start the tunnel command");
		goto fail;
	}
	(void)fcntl(ep[0], F_SETFD, FD_CLOEXEC);
	(void)fcntl(ep[1], F_SETFD, FD_CLOEXEC);
	if ((fl = fcntl(ep[0], F_GETFL)) != -1)
		(void)fcntl(ep[0], F_SETFL, fl | O_NONBLOCK);
	if ((pid = fork()) == -1) {
		pf_err_sys(err, PF_ETEMP, "cannot start the tunnel command");
		goto fail;
	}
	if (pid == 0)
		stream_child_exec(command, sv[1], ep[1]);
	close(sv[1]);
	close(ep[1]);
	c = xcalloc(1, sizeof(*c));
	c->pid = pid;
	c->errfd = ep[0];
	*fd = sv[0];
	log_debug("tunnel command started (pid %ld)", (long)pid);
	return c;
fail:
	for (fl = 0; fl < 2; fl++) {
		if (sv[fl] != -1)
			close(sv[fl]);
		if (ep[fl] != -1)
			close(ep[fl]);
	}
	return NULL;
}

int
stream_child_errfd(const struct stream_child *c)
{
	return c != NULL ? c->errfd : -1;
}

/* Keep the newest STREAM_CHILD_ERR_MAX bytes of the command's stderr. */
static void
stream_child_keep(struct stream_child *c, const char *p, size_t n)
{
	size_t cap = sizeof(c->errbuf);

	if (n >= cap) {
		p += n - cap;
		n = cap;
		c->errlen = 0;
		c->errcut = true;
	} else if (c->errlen + n > cap) {
		size_t drop = c->errlen + n - cap;

		memmove(c->errbuf, c->errbuf + drop, c->errlen - drop);
		c->errlen -= drop;
		c->errcut = true;
	}
	memcpy(c->errbuf + c->errlen, p, n);
	c->errlen += n;
}

void
stream_child_drain(struct stream_child *c)
{
	char buf[1024];
	size_t total = 0;
	ssize_t n;

	while (c->errfd >= 0 && total < STREAM_CHILD_DRAIN_MAX) {
		n = read(c->errfd, buf, sizeof(buf));
		if (n > 0) {
			stream_child_keep(c, buf, (size_t)n);
			total += (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		close(
		    c->errfd); /* EOF: the command and its children are done */
		c->errfd = -1;
	}
}

/* Has the command exited? Looks without reaping (WNOWAIT). */
static bool
stream_child_exited(struct stream_child *c)
{
	siginfo_t si;

	if (c->exited)
		return true;
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG | WNOWAIT) ==
		0 &&
	    si.si_pid == c->pid) {
		c->exited = true;
		c->code = si.si_code;
		c->status = si.si_status;
	}
	return c->exited;
}

/* Wait up to wait_ms for the command to exit, draining its stderr. */
static bool
stream_child_wait(struct stream_child *c, int wait_ms)
{
	long long end = sys_now_ms() + wait_ms;
	struct pollfd pfd;

	for (;;) {
		stream_child_drain(c);
		if (stream_child_exited(c)) {
			stream_child_drain(c);
			return true;
		}
		if (sys_now_ms() >= end)
			return false;
		/* 10 ms steps: SIGCHLD is not ours to catch */
		pfd.fd = c->errfd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		(void)poll(&pfd, c->errfd >= 0 ? 1 : 0, 10);
	}
}

/* The last non-empty line of the kept stderr, sanitized, into out. */
static void
stream_child_last_line(const struct stream_child *c, char *out, size_t outsz)
{
	size_t end = c->errlen, start;

	while (end > 0 &&
	    (c->errbuf[end - 1] == '\n' || c->errbuf[end - 1] == '\r' ||
		c->errbuf[end - 1] == ' ' || c->errbuf[end - 1] == '\t'))
		end--;
	start = end;
	while (start > 0 && c->errbuf[start - 1] != '\n')
		start--;
	pf_sanitize(out, outsz, c->errbuf + start, end - start);
}

bool
stream_child_explain(struct stream_child *c, int wait_ms, struct pf_err *err)
{
	char line[PF_SERVER_TEXT_MAX + 8];

	if (c == NULL || !stream_child_wait(c, wait_ms))
		return false;
	if (c->code == CLD_EXITED && c->status == 0 && c->errlen == 0)
		return false;
	stream_child_last_line(c, line, sizeof(line));
	if (c->code == CLD_EXITED)
		pf_err_set(err, PF_ETEMP,
		    "tunnel command exited with status %d%s%s", c->status,
		    line[0] != '\0' ? ": " : "", line);
	else
		pf_err_set(err, PF_ETEMP,
		    "tunnel command was killed by signal %d%s%s", c->status,
		    line[0] != '\0' ? ": " : "", line);
	return true;
}

/* Log the kept stderr line by line at debug level (-vv). */
static void
stream_child_log(const struct stream_child *c)
{
	char line[PF_SERVER_TEXT_MAX + 8];
	size_t start = 0, i;

	if (!log_enabled(LOGL_DEBUG))
		return;
	if (c->errcut)
		log_debug("tunnel command stderr (earlier output dropped):");
	for (i = 0; i <= c->errlen; i++) {
		if (i < c->errlen && c->errbuf[i] != '\n')
			continue;
		if (i > start) {
			pf_sanitize(
			    line, sizeof(line), c->errbuf + start, i - start);
			log_debug("tunnel command: %s", line);
		}
		start = i + 1;
	}
}

void
stream_child_end(struct stream_child *c)
{
	int status = 0, saved = errno;

	if (c == NULL)
		return;
	/*
	 * The group id is safe to use until the leader is reaped below.
	 * SIGTERM first; once the leader is gone or the grace time is up,
	 * SIGKILL for whatever of the group is left (a child that ignored
	 * SIGTERM while the leader obeyed it).
	 */
	if (!stream_child_exited(c)) {
		(void)kill(-c->pid, SIGTERM);
		(void)kill(c->pid, SIGTERM); /* before its setsid() too */
		if (!stream_child_wait(c, STREAM_CHILD_GRACE_MS))
			log_debug("tunnel command ignored SIGTERM; killing it");
	} else {
		(void)kill(-c->pid, SIGTERM);
	}
	(void)kill(-c->pid, SIGKILL);
	(void)kill(c->pid, SIGKILL);
	while (waitpid(c->pid, &status, 0) == -1) {
		if (errno != EINTR) {
			status = 0; /* not ours to reap after all */
			break;
		}
	}
	stream_child_drain(c);
	stream_child_log(c);
	if (WIFEXITED(status))
		log_debug("tunnel command exited with status %d",
		    WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		log_debug(
		    "tunnel command ended by signal %d", WTERMSIG(status));
	if (c->errfd >= 0)
		close(c->errfd);
	free(c);
	errno = saved;
}
