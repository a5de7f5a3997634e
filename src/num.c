/* num.c: strict, bounded decimal numbers (strtoul accepts signs and
 * spaces and wraps negative values, so it is not used). */
#include <limits.h>
#include <stddef.h>

#include "popfetch/num.h"

int
num_parse(const char *s, const char **end, unsigned long long max,
    unsigned long long *out)
{
	unsigned long long v = 0;
	const char *p = s;

	if (p == NULL || *p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (ULLONG_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
		if (v > max)
			return -1;
	}
	if (end != NULL)
		*end = p;
	*out = v;
	return 0;
}

int
num_parse_all(const char *s, unsigned long long max, unsigned long long *out)
{
	unsigned long long v;
	const char *end;

	if (num_parse(s, &end, max, &v) == -1 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}
