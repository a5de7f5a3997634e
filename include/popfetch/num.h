/*
 * num.h: the one parser of decimal numbers in popfetch. Digits only: no
 * sign, no space, no base prefix, no exponent; leading zeros are fine.
 * Every number is bounded by a maximum the caller names, so a number
 * from a server, a file or the command line is never silently wrapped
 * or cut. Used by the protocol, the state and record files, the config
 * file and the command line alike.
 */
#ifndef POPFETCH_NUM_H
#define POPFETCH_NUM_H

/*
 * Parse the decimal number at the start of s into *out. *end (may be
 * NULL) gets the first byte after the digits. Returns 0, or -1 when s
 * does not start with a digit or the value exceeds max.
 */
int num_parse(const char *s, const char **end, unsigned long long max,
    unsigned long long *out);

/* Like num_parse(), but the whole of s must be the number. */
int num_parse_all(
    const char *s, unsigned long long max, unsigned long long *out);

#endif
