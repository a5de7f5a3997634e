/* shell.c: quoting for /bin/sh -c, %-expansion, plain-word commands,
 * and starting a command either way. */
#define _GNU_SOURCE /* posix_spawn_file_actions_addclosefrom_np */
#include <signal.h>
#include <spawn.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "popfetch/shell.h"
#include "popfetch/xmalloc.h"

char *
shell_quote(const char *s)
{
	size_t n = 2, i;
	char *q, *p;

	for (i = 0; s[i] != '\0'; i++)
		n += s[i] == '\'' ? 4 : 1;
	q = p = xmalloc(n + 1);
	*p++ = '\'';
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] == '\'') {
			memcpy(p, "'\\''", 4);
			p += 4;
		} else
			*p++ = s[i];
	}
	*p++ = '\'';
	*p = '\0';
	return q;
}

char *
shell_expand(const char *cmd, const char *keys, const char *const *values)
{
	size_t nkeys = strlen(keys), n = 1, i, k;
	char **quoted = xcalloc(nkeys + 1, sizeof(*quoted));
	const char *hit;
	char *r, *p;

	for (k = 0; k < nkeys; k++)
		quoted[k] = shell_quote(values[k]);
	/* two passes: measure, then copy */
	for (i = 0; cmd[i] != '\0'; i++) {
		if (cmd[i] == '%' && cmd[i + 1] != '\0' &&
		    (hit = strchr(keys, cmd[i + 1])) != NULL) {
			n += strlen(quoted[hit - keys]);
			i++;
		} else
			n++;
	}
	r = p = xmalloc(n);
	for (i = 0; cmd[i] != '\0'; i++) {
		if (cmd[i] == '%' && cmd[i + 1] != '\0' &&
		    (hit = strchr(keys, cmd[i + 1])) != NULL) {
			size_t qlen = strlen(quoted[hit - keys]);

			memcpy(p, quoted[hit - keys], qlen);
			p += qlen;
			i++;
		} else if (cmd[i] == '%' && cmd[i + 1] == '%') {
			*p++ = '%';
			i++;
		} else
			*p++ = cmd[i];
	}
	*p = '\0';
	for (k = 0; k < nkeys; k++)
		free(quoted[k]);
	free(quoted);
	return r;
}

/* Words sh treats specially as the first word of a command. */
static const char *const sh_special[] = {
    /* reserved words */
    "if",
    "then",
    "else",
    "elif",
    "fi",
    "do",
    "done",
    "case",
    "esac",
    "while",
    "until",
    "for",
    "in",
    "function",
    "select",
    /* dash's builtins: the same name on PATH may behave differently */
    ".",
    ":",
    "[",
    "alias",
    "bg",
    "break",
    "cd",
    "chdir",
    "command",
    "continue",
    "echo",
    "eval",
    "exec",
    "exit",
    "export",
    "false",
    "fg",
    "getopts",
    "hash",
    "jobs",
    "kill",
    "local",
    "printf",
    "pwd",
    "read",
    "readonly",
    "return",
    "set",
    "shift",
    "test",
    "times",
    "trap",
    "true",
    "type",
    "ulimit",
    "umask",
    "unalias",
    "unset",
    "wait",
};

char **
shell_words(const char *cmd)
{
	static const char plain[] = "abcdefghijklmnopqrstuvwxyz"
				    "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "0123456789_./,:+@%=-";
	char **argv, *copy, *w, *save = NULL;
	size_t n = 0, i;

	for (i = 0; cmd[i] != '\0'; i++)
		if (cmd[i] != ' ' && strchr(plain, cmd[i]) == NULL)
			return NULL;
	copy = xstrdup(cmd);
	argv = xcalloc(strlen(cmd) / 2 + 2, sizeof(*argv));
	for (w = strtok_r(copy, " ", &save); w != NULL;
	     w = strtok_r(NULL, " ", &save))
		argv[n++] = xstrdup(w);
	free(copy);
	if (n == 0 || strchr(argv[0], '=') != NULL)
		goto sh;
	for (i = 0; i < sizeof(sh_special) / sizeof(sh_special[0]); i++)
		if (strcmp(argv[0], sh_special[i]) == 0)
			goto sh;
	return argv;
sh:
	shell_words_free(argv);
	return NULL;
}

void
shell_words_free(char **argv)
{
	size_t i;

	if (argv == NULL)
		return;
	for (i = 0; argv[i] != NULL; i++)
		free(argv[i]);
	free(argv);
}

int
shell_spawn(const char *cmd, posix_spawn_file_actions_t *fa, bool pgroup,
    char *const env[], pid_t *pid)
{
	posix_spawnattr_t attr;
	sigset_t def, none;
	char sh0[] = "sh", sh1[] = "-c";
	char *sh[] = {sh0, sh1, NULL, NULL};
	char **words;
	int e = -1;

#if defined(__GLIBC__) && \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
	/* Our fds are O_CLOEXEC; ones popfetch inherited may not be. */
	posix_spawn_file_actions_addclosefrom_np(fa, 3);
#endif
	posix_spawnattr_init(&attr);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	sigemptyset(&none);
	posix_spawnattr_setsigdefault(&attr, &def);
	posix_spawnattr_setsigmask(&attr, &none);
	if (pgroup)
		posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr,
	    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK |
		(pgroup ? POSIX_SPAWN_SETPGROUP : 0));
	if ((words = shell_words(cmd)) != NULL) {
		e = posix_spawnp(pid, words[0], fa, &attr, words, env);
		shell_words_free(words);
	}
	if (e != 0) {
		sh[2] = xstrdup(cmd);
		e = posix_spawn(pid, "/bin/sh", fa, &attr, sh, env);
		free(sh[2]);
	}
	posix_spawnattr_destroy(&attr);
	return e;
}
