/*
 * secret.c: an account's password from its one source: a command, the
 * config file, ~/.netrc or the terminal. Every buffer that held a secret
 * is wiped before it is freed or goes out of scope.
 */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "popfetch/crypto.h"
#include "popfetch/fileio.h"
#include "popfetch/secret.h"
#include "popfetch/shell.h"
#include "popfetch/token.h"
#include "popfetch/xmalloc.h"
#include "compat.h"

#define NETRC_MAX (1024 * 1024)

const char *const secret_source_names[] = {
    [SECRET_NONE] = "none",
    [SECRET_COMMAND] = "password_command",
    [SECRET_CONFIG] = "password",
    [SECRET_LOOKUP] = "netrc or terminal",
    [SECRET_OAUTH] = "oauth2 token file",
};

enum secret_source
secret_source_of(const struct account *a)
{
	if (a->user == NULL)
		return SECRET_NONE;
	if (a->password_command != NULL)
		return SECRET_COMMAND;
	if (a->password != NULL)
		return SECRET_CONFIG;
	if (token_source_of(a))
		return SECRET_OAUTH;
	return SECRET_LOOKUP;
}

ssize_t
secret_read_line(int fd, char *buf, size_t bufsz, bool stop_at_newline)
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

extern char **environ;

/*
 * Start cmd with its stdout on a pipe: the program itself when cmd is only
 * plain words (`pass show mail/work`: sh would do nothing but run it, and
 * not starting a shell saves a fork and an exec per account), else
 * /bin/sh -c cmd. Returns its pid, or -1.
 */
static pid_t
start_command(const char *cmd, int *fd, struct pf_err *err)
{
	posix_spawn_file_actions_t fa;
	int pfd[2], e;
	pid_t pid = -1;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return pf_err_sys(
		    err, PF_ECONFIG, "cannot run the password command");
	if (pfd[1] == STDOUT_FILENO) /* stdout was closed: dup2 is a no-op */
		(void)fcntl(pfd[1], F_SETFD, 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
	fflush(NULL);
	e = shell_spawn(cmd, &fa, false, environ, &pid);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	if (e != 0) {
		close(pfd[0]);
		errno = e;
		return pf_err_sys(
		    err, PF_ECONFIG, "cannot run the password command");
	}
	*fd = pfd[0];
	return pid;
}

int
secret_from_command(const char *cmd, char **out, struct pf_err *err)
{
	char buf[SECRET_MAX + 1];
	int fd = -1, status = 0;
	ssize_t len;
	pid_t pid, r;
	int ret = -1;

	*out = NULL;
	pid = start_command(cmd, &fd, err);
	if (pid < 0)
		return -1;
	len = secret_read_line(fd, buf, sizeof(buf), false);
	close(fd);
	while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	if (r < 0)
		pf_err_sys(err, PF_ECONFIG,
		    "cannot learn how the password command ended");
	else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		pf_err_set(err, PF_ECONFIG,
		    "the password command failed (exit %d)",
		    WEXITSTATUS(status));
	else if (!WIFEXITED(status))
		pf_err_set(err, PF_ECONFIG,
		    "the password command failed (killed by signal %d)",
		    WTERMSIG(status));
	else if (len < 0)
		pf_err_set(err, PF_ECONFIG,
		    "the password command printed a line that is too long or holds a NUL byte");
	else if (len == 0)
		pf_err_set(
		    err, PF_ECONFIG, "the password command printed nothing");
	else {
		*out = xstrndup(buf, (size_t)len);
		ret = 0;
	}
	explicit_bzero(buf, sizeof(buf));
	return ret;
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

/* Skip a macdef body: everything up to an empty line. */
static void
netrc_skip_macdef(char **p)
{
	char *s;

	if (**p == '\n') { /* the name ended its line: an empty body */
		(*p)++;
		return;
	}
	s = strstr(*p, "\n\n");
	*p = s != NULL ? s + 2 : *p + strlen(*p);
}

/* One entry fits: it names host (or is "default") and user, if any. */
static bool
netrc_fits(bool match, const char *login, const char *pass, const char *user)
{
	return match && pass != NULL &&
	    (login == NULL || strcmp(login, user) == 0);
}

const char *
secret_netrc_find(char *text, const char *host, const char *user)
{
	const char *login = NULL, *pass = NULL;
	bool match = false;
	char *p = text, *w;

	while ((w = netrc_word(&p)) != NULL) {
		if (strcmp(w, "machine") == 0 || strcmp(w, "default") == 0) {
			if (netrc_fits(match, login, pass, user))
				return pass;
			if (strcmp(w, "default") == 0) {
				match = true;
			} else {
				w = netrc_word(&p);
				match = w != NULL && strcasecmp(w, host) == 0;
			}
			login = pass = NULL;
		} else if (strcmp(w, "login") == 0) {
			login = netrc_word(&p);
		} else if (strcmp(w, "password") == 0) {
			pass = netrc_word(&p);
		} else if (strcmp(w, "account") == 0) {
			(void)netrc_word(&p);
		} else if (strcmp(w, "macdef") == 0) {
			(void)netrc_word(&p);
			netrc_skip_macdef(&p);
		}
	}
	return netrc_fits(match, login, pass, user) ? pass : NULL;
}

/* Refuse a file of passwords that is not ours or that others can read. */
static int
check_private(const char *path, const struct stat *sb, struct pf_err *err)
{
	if (sb->st_size > NETRC_MAX)
		return pf_err_set(err, PF_ECONFIG,
		    "'%s' is too big to be a .netrc (over 1 MiB)", path);
	if (sb->st_uid != geteuid() || (sb->st_mode & 077) != 0)
		return pf_err_set(err, PF_ECONFIG,
		    "'%s' is accessible by others or not ours; refusing to read passwords from it (chmod 600 it)",
		    path);
	return 0;
}

int
secret_from_netrc(const char *path, const char *host, const char *user,
    char **out, struct pf_err *err)
{
	struct stat sb;
	char *text = NULL;
	const char *pass;
	size_t n = 0;
	int fd, ret = 0;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return 0;
	if (fstat(fd, &sb) < 0) {
		ret = pf_err_sys(err, PF_ECONFIG, "cannot use '%s'", path);
		goto out;
	}
	if (check_private(path, &sb, err) < 0) {
		ret = -1;
		goto out;
	}
	if (fileio_read_all(fd, NETRC_MAX, &text, &n) == -1) {
		ret = pf_err_sys(err, PF_ECONFIG, "cannot read '%s'", path);
		goto out;
	}
	pass = secret_netrc_find(text, host, user);
	if (pass != NULL) {
		*out = xstrdup(pass);
		ret = 1;
	}
	crypto_wipe_free(text, n);
out:
	close(fd);
	return ret;
}

int
secret_from_tty(const char *id, char **out, struct pf_err *err)
{
	struct termios old, quiet;
	char buf[SECRET_MAX + 1], *prompt;
	ssize_t len;
	int fd, ret = -1;

	*out = NULL;
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
	prompt = xasprintf("password for %s: ", id);
	(void)!write(fd, prompt, strlen(prompt));
	free(prompt);
	tcsetattr(fd, TCSAFLUSH, &quiet);
	len = secret_read_line(fd, buf, sizeof(buf), true);
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

/* ~/.netrc, then the terminal. */
static int
secret_lookup(const struct account *a, const struct secret_opts *o, char **out,
    struct pf_err *err)
{
	const char *home = getenv("HOME");
	char *path = NULL, *id;
	int rc = 0;

	if (o->netrc_path != NULL)
		path = xstrdup(o->netrc_path);
	else if (home != NULL && home[0] != '\0')
		path = xasprintf("%s/.netrc", home);
	if (path != NULL)
		rc = secret_from_netrc(path, a->host, a->user, out, err);
	free(path);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (!o->may_prompt)
		return 0; /* --serverinfo: show what comes before a login */
	id = account_id(a);
	rc = secret_from_tty(id, out, err);
	if (rc == 0)
		pf_err_set(err, PF_ECONFIG,
		    "no password for '%s': set password_command, add it to ~/.netrc, or run from a terminal",
		    id);
	free(id);
	return rc > 0 ? 0 : -1;
}

int
secret_oauth_client(const struct account *a, char **out, struct pf_err *err)
{
	*out = NULL;
	if (a->oauth2_client_secret_command == NULL)
		return 0;
	if (secret_from_command(a->oauth2_client_secret_command, out, err) < 0)
		return pf_err_prefix(err, "oauth2_client_secret_command");
	return 0;
}

/* An access token from the token file, refreshed when due. */
static int
secret_oauth(const struct account *a, char **out, struct pf_err *err)
{
	char *client_secret;
	int rc;

	if (secret_oauth_client(a, &client_secret, err) < 0)
		return -1;
	rc = token_get(a, client_secret, out, err);
	xfree_secret(client_secret);
	return rc;
}

int
secret_get(const struct account *a, const struct secret_opts *o, char **out,
    struct pf_err *err)
{
	*out = NULL;
	switch (secret_source_of(a)) {
	case SECRET_NONE:
		return 0;
	case SECRET_COMMAND:
		return secret_from_command(a->password_command, out, err);
	case SECRET_CONFIG:
		*out = xstrdup(a->password);
		return 0;
	case SECRET_LOOKUP:
		return secret_lookup(a, o, out, err);
	case SECRET_OAUTH:
		return o->before_login ? 0 : secret_oauth(a, out, err);
	}
	return pf_err_set(err, PF_ESOFTWARE, "unknown secret source");
}
