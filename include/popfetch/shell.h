/*
 * shell.h: commands run by /bin/sh -c (an MDA, a password command):
 * values quoted as one literal shell word, %-escapes expanded with quoted
 * values, the plain-word commands that need no shell at all, and starting
 * a command either way. Server-derived text reaches a command only through
 * shell_quote(), so it can never be run (docs/faults.md #54).
 */
#ifndef POPFETCH_SHELL_H
#define POPFETCH_SHELL_H

#include <spawn.h>
#include <stdbool.h>
#include <sys/types.h>

/* s as one single-quoted word ('it'\''s'), in a new string. */
char *shell_quote(const char *s);

/*
 * Expand %X in cmd for each letter X of keys with shell_quote(values[i])
 * (keys[i] is the letter of values[i]), and %% to %; a lone % or an
 * unknown %x is left as is. Returns a new string.
 */
char *shell_expand(
    const char *cmd, const char *keys, const char *const *values);

/*
 * The argument vector of a command that is only plain words (letters,
 * digits and _./,:+@%=- separated by spaces, not starting with an
 * assignment, a reserved word or a shell builtin), which sh -c would run
 * as that program unchanged; NULL when the command needs the shell. Free
 * with shell_words_free().
 */
char **shell_words(const char *cmd);
void shell_words_free(char **argv);

/*
 * Start cmd with the file actions fa (the caller's dup2s; every fd from 3
 * up is closed on top) and environment env: the program itself when
 * shell_words() allows, else, and when that fails (not found and the
 * like, which sh then reports), /bin/sh -c cmd. SIGPIPE is back to its
 * default and no signal is blocked in the child; with pgroup it leads a
 * process group of its own. Returns 0 with *pid set, or an errno value.
 */
int shell_spawn(const char *cmd, posix_spawn_file_actions_t *fa, bool pgroup,
    char *const env[], pid_t *pid);

#endif
