/*
 * main.c: the front end. It turns the command line and config file into
 * accounts, gets each account's secret, runs the accounts (in parallel
 * with -j), prints what the user asked for and maps the first failure to a
 * sysexits(3) code. It is the only place that exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "popfetch/cli.h"
#include "popfetch/config.h"
#include "popfetch/fetch.h"
#include "popfetch/log.h"
#include "popfetch/xmalloc.h"
#include "compat.h"

#define SECRET_MAX 4096

/* The outcome of one account, also sent from -j children through a pipe. */
struct result {
	int ret;
	struct pf_err err;
	struct fetch_stats st;
};

/* Progress bar state (stderr, terminals only unless --progress=always). */
static struct {
	bool on;
	bool drawn;
	const char *name;
	struct timespec start, last;
} bar;

/* The sysexits(3) code of an error class (SPEC.md section 3). */
static int
exit_code(enum pf_errc code)
{
	switch (code) {
	case PF_OK:
		return 0;
	case PF_EUSAGE:
		return 64;
	case PF_EDATA:
		return 65;
	case PF_EUNAVAIL:
		return 69;
	case PF_ESOFTWARE:
		return 70;
	case PF_ECANTCREAT:
		return 73;
	case PF_EIO:
		return 74;
	case PF_ETEMP:
		return 75;
	case PF_EPROTO:
		return 76;
	case PF_ENOPERM:
		return 77;
	case PF_ECONFIG:
		return 78;
	}
	return 70;
}

/* First signal: stop at the next safe point (the message being received
 * is finished or dropped, what is durable is recorded, QUIT). A second
 * one gets the default action, for a user who wants out at once. */
static void
on_signal(int sig)
{
	struct sigaction sa;

	fetch_request_stop();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

/* Clear the bar's line before a log line is written. */
static void
bar_clear(void)
{
	if (bar.drawn) {
		fputs("\r\033[K", stderr);
		bar.drawn = false;
	}
}

static double
elapsed(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) +
	    (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

/* Human-readable byte counts for the bar. */
static void
human(char *buf, size_t sz, double v)
{
	static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(buf, sz, u == 0 ? "%.0f %s" : "%.1f %s", v, unit[u]);
}

/* Redraw the bar at most five times a second, and always at the end. */
static void
bar_update(void *ctx, const struct fetch_progress *p)
{
	struct timespec now;
	char done[32], rate[32], eta[32];
	double secs, bps;

	(void)ctx;
	if (!bar.on)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (p->done == 0 && p->bytes == 0)
		bar.start = now;
	if (bar.drawn && p->done < p->total && elapsed(&bar.last, &now) < 0.2)
		return;
	bar.last = now;
	secs = elapsed(&bar.start, &now);
	bps = secs > 0.05 ? (double)p->bytes / secs : 0;
	human(done, sizeof(done), (double)p->bytes);
	human(rate, sizeof(rate), bps);
	if (bps > 0 && p->total_bytes > p->bytes)
		snprintf(eta, sizeof(eta), "ETA %.0fs",
		    (double)(p->total_bytes - p->bytes) / bps);
	else
		eta[0] = '\0';
	fprintf(stderr, "\r\033[K%s: %lu/%lu messages, %s, %s/s %s", bar.name,
	    p->done, p->total, done, rate, eta);
	fflush(stderr);
	bar.drawn = true;
}

/* Dry-run lines belong on stdout, unless --json owns it (ctx != NULL). */
static void
print_report(void *ctx, const char *line)
{
	FILE *fp = ctx != NULL ? stderr : stdout;

	bar_clear();
	fprintf(fp, "%s\n", line);
	fflush(fp);
}

/*
 * Keep the first line of everything read from fd (at most SECRET_MAX
 * bytes) in buf, reading to EOF so the writer never dies of SIGPIPE. Only
 * read(2) and wiped buffers touch the secret: no stdio buffer keeps a
 * copy. Returns its length, or -1 (too long, or a NUL byte in it).
 */
static ssize_t
read_first_line(int fd, char *buf, size_t bufsz, bool stop_at_newline)
{
	char chunk[512];
	size_t len = 0;
	bool done = false, bad = false;
	ssize_t n;

	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		size_t i;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (i = 0; i < (size_t)n && !done; i++) {
			if (chunk[i] == '\n') {
				done = true;
			} else if (chunk[i] == '\0' || len + 1 >= bufsz) {
				bad = true;
				done = true;
			} else {
				buf[len++] = chunk[i];
			}
		}
		if (done && stop_at_newline)
			break;
	}
	explicit_bzero(chunk, sizeof(chunk));
	while (len > 0 && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	return bad ? -1 : (ssize_t)len;
}

/* Run the password command (sh -c CMD) and take its first line. */
static int
secret_from_command(const char *cmd, char **out, struct pf_err *err)
{
	char buf[SECRET_MAX + 1];
	int pfd[2], status;
	ssize_t len;
	pid_t pid;

	if (pipe(pfd) < 0)
		return pf_err_sys(
		    err, PF_ECONFIG, "cannot run the password command");
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return pf_err_sys(
		    err, PF_ECONFIG, "cannot run the password command");
	}
	if (pid == 0) {
		/* we ignore SIGPIPE; the command should not inherit that */
		signal(SIGPIPE, SIG_DFL);
		close(pfd[0]);
		if (pfd[1] != STDOUT_FILENO) {
			dup2(pfd[1], STDOUT_FILENO);
			close(pfd[1]);
		}
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	len = read_first_line(pfd[0], buf, sizeof(buf), false);
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		explicit_bzero(buf, sizeof(buf));
		if (WIFEXITED(status))
			return pf_err_set(err, PF_ECONFIG,
			    "the password command failed (exit %d)",
			    WEXITSTATUS(status));
		return pf_err_set(err, PF_ECONFIG,
		    "the password command failed (killed by signal %d)",
		    WTERMSIG(status));
	}
	if (len < 0) {
		explicit_bzero(buf, sizeof(buf));
		return pf_err_set(err, PF_ECONFIG,
		    "the password command printed a line that is too long or holds a NUL byte");
	}
	if (len == 0)
		return pf_err_set(
		    err, PF_ECONFIG, "the password command printed nothing");
	*out = xstrndup(buf, (size_t)len);
	explicit_bzero(buf, sizeof(buf));
	return 0;
}

/* Next whitespace-separated word of a .netrc, or NULL. */
static char *
netrc_word(char **p)
{
	char *s = *p, *w;

	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	if (*s == '\0')
		return NULL;
	w = s;
	while (
	    *s != '\0' && *s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
		s++;
	if (*s != '\0')
		*s++ = '\0';
	*p = s;
	return w;
}

/*
 * The password for host/user from ~/.netrc. Returns 1 found, 0 not
 * found, -1 error (a file others can read is refused).
 */
static int
secret_from_netrc(
    const char *host, const char *user, char **out, struct pf_err *err)
{
	const char *home = getenv("HOME");
	char *path, *text = NULL, *p, *w;
	struct stat sb;
	ssize_t n;
	size_t len = 0;
	int fd, ret = 0;
	bool match = false, any = false;
	const char *login = NULL, *pass = NULL;

	if (home == NULL)
		return 0;
	path = xasprintf("%s/.netrc", home);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		free(path);
		return 0;
	}
	if (fstat(fd, &sb) < 0 || sb.st_size > 1024 * 1024) {
		ret = pf_err_set(err, PF_ECONFIG, "cannot use '%s'", path);
		goto out;
	}
	if (sb.st_uid != geteuid() || (sb.st_mode & 077) != 0) {
		ret = pf_err_set(err, PF_ECONFIG,
		    "'%s' is accessible by others or not ours; refusing to read passwords from it (chmod 600 it)",
		    path);
		goto out;
	}
	text = xmalloc((size_t)sb.st_size + 1);
	while (len < (size_t)sb.st_size &&
	    (n = read(fd, text + len, (size_t)sb.st_size - len)) > 0)
		len += (size_t)n;
	text[len] = '\0';
	p = text;
	/* machine/default entries: take the first that fits */
	while ((w = netrc_word(&p)) != NULL) {
		if (strcmp(w, "machine") == 0 || strcmp(w, "default") == 0) {
			if (match && pass != NULL &&
			    (login == NULL || strcmp(login, user) == 0))
				break;
			any = strcmp(w, "default") == 0;
			w = any ? NULL : netrc_word(&p);
			match = any || (w != NULL && strcmp(w, host) == 0);
			login = pass = NULL;
		} else if (strcmp(w, "login") == 0) {
			login = netrc_word(&p);
		} else if (strcmp(w, "password") == 0) {
			pass = netrc_word(&p);
		}
	}
	if (match && pass != NULL &&
	    (login == NULL || strcmp(login, user) == 0)) {
		*out = xstrdup(pass);
		ret = 1;
	}
out:
	if (text != NULL) {
		explicit_bzero(text, len);
		free(text);
	}
	close(fd);
	free(path);
	return ret;
}

/* Ask on the terminal with echo off. Returns 1, 0 (no terminal), -1. */
static int
secret_from_tty(const char *id, char **out, struct pf_err *err)
{
	struct termios old, quiet;
	char buf[SECRET_MAX + 1], *prompt;
	ssize_t len;
	int fd, ret = -1;

	fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return 0;
	if (tcgetattr(fd, &old) < 0) {
		close(fd);
		return 0;
	}
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	quiet.c_lflag |= ICANON;
	bar_clear();
	prompt = xasprintf("password for %s: ", id);
	(void)!write(fd, prompt, strlen(prompt));
	free(prompt);
	tcsetattr(fd, TCSAFLUSH, &quiet);
	len = read_first_line(fd, buf, sizeof(buf), true);
	tcsetattr(fd, TCSAFLUSH, &old);
	(void)!write(fd, "\n", 1);
	close(fd);
	if (len <= 0) {
		pf_err_set(err, PF_ECONFIG,
		    len < 0 ? "the password typed is too long"
			    : "no password given");
		goto out;
	}
	*out = xstrndup(buf, (size_t)len);
	ret = 1;
out:
	explicit_bzero(buf, sizeof(buf));
	return ret;
}

/*
 * The account's secret: password_command, the config's password,
 * ~/.netrc, then the terminal (unless may_prompt is false).
 */
static int
get_secret(
    const struct account *a, bool may_prompt, char **out, struct pf_err *err)
{
	char *id;
	int rc;

	*out = NULL;
	if (a->user == NULL)
		return 0; /* --serverinfo without a user: no login */
	if (a->password_command != NULL)
		return secret_from_command(a->password_command, out, err);
	if (a->password != NULL) {
		*out = xstrdup(a->password);
		return 0;
	}
	rc = secret_from_netrc(a->host, a->user, out, err);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (!may_prompt)
		return 0;
	id = account_id(a);
	rc = secret_from_tty(id, out, err);
	if (rc == 0)
		pf_err_set(err, PF_ECONFIG,
		    "no password for '%s': set password_command, add it to ~/.netrc, or run from a terminal",
		    id);
	free(id);
	return rc > 0 ? 0 : -1;
}

/* The proxy user's password: from proxy_password_command only. */
static int
get_proxy_secret(const struct account *a, char **out, struct pf_err *err)
{
	*out = NULL;
	if (a->proxy_password_command == NULL)
		return 0;
	if (secret_from_command(a->proxy_password_command, out, err) < 0)
		return pf_err_prefix(err, "proxy_password_command");
	return 0;
}

/*
 * Run one account in this process. *secret and *proxy_secret (the caller
 * got them, maybe by asking on the terminal) are wiped and freed here;
 * with secret_err set the account failed to get one and is only reported.
 */
static void
run_account(const struct account *a, const struct cli *c, char **secret,
    char **proxy_secret, const struct pf_err *secret_err, struct result *res)
{
	struct fetch_opts o;
	char *text = NULL;

	memset(res, 0, sizeof(*res));
	memset(&o, 0, sizeof(o));
	log_set_account(a->name);
	o.trace = c->verbosity >= 2;
	o.dry_run = c->dry_run;
	o.report = print_report;
	o.ctx = c->json ? (void *)stderr : NULL;
	o.progress = bar_update;
	bar.name = a->name != NULL ? a->name : a->host;

	if (a->insecure)
		log_warning(
		    "not verifying the certificate of '%s' (--insecure)",
		    a->host);
	if (secret_err != NULL) {
		res->err = *secret_err;
		res->ret = -1;
		goto out;
	}
	o.secret = *secret;
	o.proxy_secret = *proxy_secret;
	if (c->serverinfo) {
		res->ret = fetch_serverinfo(a, &o, &text, &res->err);
		if (text != NULL) {
			fputs(text, stdout);
			fflush(stdout);
		}
		free(text);
	} else {
		res->ret = fetch_account(a, &o, &res->st, &res->err);
	}
	if (bar.on && !c->serverinfo) {
		bar_clear();
	}
out:
	xfree_secret(*secret);
	*secret = NULL;
	xfree_secret(*proxy_secret);
	*proxy_secret = NULL;
	if (res->ret < 0)
		log_error("%s", res->err.msg);
	log_set_account(NULL);
}

/* The result of an account not started because a signal came first. */
static void
not_started(const struct account *a, struct result *res)
{
	memset(res, 0, sizeof(*res));
	res->ret = -1;
	pf_err_set(&res->err, PF_ETEMP, "not fetched: interrupted by a signal");
	log_set_account(a->name);
	log_error("%s", res->err.msg);
	log_set_account(NULL);
}

/* Get the secret of a in this process (so a prompt never races another
 * job for the terminal) and run it here. */
static void
run_one(const struct account *a, const struct cli *c, struct result *res)
{
	struct pf_err serr;
	char *secret = NULL, *psecret = NULL;
	bool failed;

	failed = get_secret(a, !c->serverinfo, &secret, &serr) < 0 ||
	    get_proxy_secret(a, &psecret, &serr) < 0;
	run_account(a, c, &secret, &psecret, failed ? &serr : NULL, res);
}

/* Write a JSON string with escapes. */
static void
json_str(FILE *fp, const char *s)
{
	fputc('"', fp);
	for (; s != NULL && *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(fp, "\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			fprintf(fp, "\\u%04x", ch);
		else
			fputc(ch, fp);
	}
	fputc('"', fp);
}

static void
json_summary(
    const struct account *accts, const struct result *res, size_t n, int status)
{
	size_t i;

	printf("{\"version\":");
	json_str(stdout, POPFETCH_VERSION);
	printf(",\"exit_code\":%d,\"accounts\":[", status);
	for (i = 0; i < n; i++) {
		const struct fetch_stats *s = &res[i].st;

		printf("%s{\"account\":", i > 0 ? "," : "");
		if (accts[i].name != NULL)
			json_str(stdout, accts[i].name);
		else
			printf("null");
		printf(",\"host\":");
		json_str(stdout, accts[i].host);
		printf(",\"user\":");
		json_str(stdout, accts[i].user);
		printf(",\"listed\":%lu,\"fetched\":%lu,\"bytes\":%llu,"
		       "\"deleted\":%lu,\"skipped\":%lu,\"errors\":%lu,"
		       "\"seconds\":%.3f,\"exit_code\":%d,\"error\":",
		    s->listed, s->fetched, s->bytes, s->deleted, s->skipped,
		    s->errors + (res[i].ret < 0 && s->errors == 0 ? 1 : 0),
		    s->seconds,
		    res[i].ret < 0 ? exit_code(res[i].err.code) : 0);
		if (res[i].ret < 0)
			json_str(stdout, res[i].err.msg);
		else
			printf("null");
		printf("}");
	}
	printf("]}\n");
	fflush(stdout);
}

/* Run accounts with up to c->jobs children at once. */
static void
run_parallel(const struct account *accts, size_t n, const struct cli *c,
    struct result *res)
{
	pid_t *pids = xcalloc(n, sizeof(*pids));
	int *fds = xcalloc(n, sizeof(*fds));
	size_t started = 0, finished = 0, i;
	int running = 0;

	while (finished < n) {
		while (started < n && running < c->jobs) {
			struct pf_err serr;
			char *secret = NULL, *psecret = NULL;
			bool nosecret;
			int pfd[2];
			pid_t pid;

			if (fetch_stop_requested()) {
				not_started(&accts[started], &res[started]);
				started++;
				finished++;
				continue;
			}
			/* Asked here, one at a time, never in the children. */
			nosecret = get_secret(&accts[started], !c->serverinfo,
				       &secret, &serr) < 0 ||
			    get_proxy_secret(&accts[started], &psecret, &serr) <
				0;
			if (pipe(pfd) < 0) {
				xfree_secret(secret);
				xfree_secret(psecret);
				pf_err_sys(&res[started].err, PF_ESOFTWARE,
				    "cannot create a pipe");
				res[started].ret = -1;
				started++;
				finished++;
				continue;
			}
			fflush(NULL);
			pid = fork();
			if (pid == 0) {
				struct result r;
				ssize_t w;

				close(pfd[0]);
				run_account(&accts[started], c, &secret,
				    &psecret, nosecret ? &serr : NULL, &r);
				w = write(pfd[1], &r, sizeof(r));
				_exit(w == (ssize_t)sizeof(r) ? 0 : 70);
			}
			close(pfd[1]);
			xfree_secret(secret);
			xfree_secret(psecret);
			if (pid < 0) {
				close(pfd[0]);
				pf_err_sys(&res[started].err, PF_ESOFTWARE,
				    "cannot fork");
				res[started].ret = -1;
				started++;
				finished++;
				continue;
			}
			pids[started] = pid;
			fds[started] = pfd[0];
			started++;
			running++;
		}
		if (running == 0)
			break;
		{
			int status;
			pid_t pid = wait(&status);

			if (pid < 0) {
				if (errno == EINTR)
					continue;
				break;
			}
			for (i = 0; i < started; i++) {
				ssize_t r;

				if (pids[i] != pid)
					continue;
				r = read(fds[i], &res[i], sizeof(res[i]));
				if (r != (ssize_t)sizeof(res[i])) {
					memset(&res[i], 0, sizeof(res[i]));
					res[i].ret = -1;
					pf_err_set(&res[i].err, PF_ESOFTWARE,
					    "account '%s': worker died",
					    accts[i].name != NULL
						? accts[i].name
						: accts[i].host);
					log_error("%s", res[i].err.msg);
				}
				close(fds[i]);
				pids[i] = 0;
				running--;
				finished++;
			}
		}
	}
	free(pids);
	free(fds);
}

/* Which accounts this run covers, resolved. */
static int
select_accounts(
    const struct cli *c, struct account **out, size_t *nout, struct pf_err *err)
{
	struct config cfg;
	struct account *accts = NULL;
	size_t n = 0, i;
	char *path = NULL;
	int ret = -1;

	memset(&cfg, 0, sizeof(cfg));
	if (c->one_off && c->naccounts == 0 && !c->all_accounts) {
		accts = xcalloc(1, sizeof(*accts));
		if (config_resolve(NULL, NULL, &c->settings, c->serverinfo,
			&accts[0], err) < 0)
			goto out;
		n = 1;
		ret = 0;
		goto out;
	}
	path = c->config_path != NULL ? xstrdup(c->config_path)
				      : config_default_path();
	if (config_load(path, true, &cfg, err) < 0)
		goto out;
	if (c->all_accounts) {
		if (cfg.naccounts == 0) {
			pf_err_set(
			    err, PF_ECONFIG, "%s: no accounts defined", path);
			goto out;
		}
		accts = xcalloc(cfg.naccounts, sizeof(*accts));
		for (i = 0; i < cfg.naccounts; i++) {
			if (config_resolve(&cfg, cfg.accounts[i].name,
				&c->settings, c->serverinfo, &accts[n],
				err) < 0)
				goto out;
			n++;
		}
	} else if (c->naccounts > 0) {
		accts = xcalloc((size_t)c->naccounts, sizeof(*accts));
		for (i = 0; i < (size_t)c->naccounts; i++) {
			if (config_resolve(&cfg, c->accounts[i], &c->settings,
				c->serverinfo, &accts[n], err) < 0)
				goto out;
			n++;
		}
	} else {
		const char *name = cfg.default_name;

		if (name == NULL && cfg.naccounts > 0)
			name = cfg.accounts[0].name;
		if (name == NULL) {
			pf_err_set(err, PF_ECONFIG,
			    "%s: no accounts defined (or use --host)", path);
			goto out;
		}
		accts = xcalloc(1, sizeof(*accts));
		if (config_resolve(&cfg, name, &c->settings, c->serverinfo,
			&accts[0], err) < 0)
			goto out;
		n = 1;
	}
	ret = 0;
out:
	if (ret < 0) {
		for (i = 0; i < n; i++)
			account_free(&accts[i]);
		free(accts);
		accts = NULL;
		n = 0;
	}
	config_free(&cfg);
	free(path);
	*out = accts;
	*nout = n;
	return ret;
}

/* Process-wide hardening before any secret is read. */
static void
harden(void)
{
	struct rlimit rl = {0, 0};
	struct sigaction sa;

	umask(077);
	setrlimit(RLIMIT_CORE, &rl);
#ifdef __linux__
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
#endif
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

int
main(int argc, char **argv)
{
	struct account *accts = NULL;
	struct result *res = NULL;
	struct pf_err err;
	struct cli c;
	size_t n = 0, i;
	int status = 0;

	harden();
	pf_err_clear(&err);
	if (cli_parse(argc, argv, &c, &err) < 0) {
		fprintf(
		    stderr, "popfetch: %s\nTry 'popfetch --help'.\n", err.msg);
		return 64;
	}
	if (c.help) {
		cli_usage(stdout);
		cli_free(&c);
		return 0;
	}
	if (c.version) {
		cli_version(stdout);
		cli_free(&c);
		return 0;
	}
	log_init(c.verbosity, c.use_syslog);

	if (select_accounts(&c, &accts, &n, &err) < 0) {
		log_error("%s", err.msg);
		status = exit_code(err.code);
		if (err.code == PF_EUSAGE)
			fputs("Try 'popfetch --help'.\n", stderr);
		goto out;
	}
	for (i = 0; c.json && !c.serverinfo && !c.dry_run && i < n; i++) {
		if (accts[i].sink == SINK_STDOUT) {
			log_error(
			    "--json and --stdout both write to standard output");
			status = 64;
			goto out;
		}
	}
	bar.on = !c.use_syslog && !c.serverinfo && !c.dry_run &&
	    c.verbosity >= 0 &&
	    (c.progress == CLI_PROGRESS_ALWAYS ||
		(c.progress == CLI_PROGRESS_AUTO && isatty(STDERR_FILENO)));
	if (bar.on)
		log_set_before_hook(bar_clear);

	res = xcalloc(n, sizeof(*res));
	/* Several writers on one standard output would mix the streams. */
	for (i = 0; c.jobs > 1 && i < n; i++)
		if (accts[i].sink == SINK_STDOUT)
			c.jobs = 1;
	if (c.jobs > 1 && n > 1) {
		bar.on = false;
		run_parallel(accts, n, &c, res);
	} else {
		for (i = 0; i < n; i++) {
			if (fetch_stop_requested())
				not_started(&accts[i], &res[i]);
			else
				run_one(&accts[i], &c, &res[i]);
		}
	}
	for (i = 0; i < n; i++) {
		if (res[i].ret < 0) {
			status = exit_code(res[i].err.code);
			break;
		}
	}
	if (c.json)
		json_summary(accts, res, n, status);
out:
	for (i = 0; i < n; i++)
		account_free(&accts[i]);
	free(accts);
	free(res);
	cli_free(&c);
	log_close();
	return status;
}
