/*
 * shell.h: commands run by /bin/sh -c (an MDA; later a tunnel or a
 * password command): values quoted as one literal shell word, %-escapes
 * expanded with quoted values, and the plain-word commands that need no
 * shell at all. Server-derived text reaches a command only through
 * shell_quote(), so it can never be run (docs/faults.md #54).
 */
#ifndef POPFETCH_SHELL_H
#define POPFETCH_SHELL_H

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

#endif
