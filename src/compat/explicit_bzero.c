/* explicit_bzero.c: wipe memory the compiler may not optimise away. */
#include <string.h>

#include "compat.h"

void
explicit_bzero(void *buf, size_t len)
{
	volatile unsigned char *p = buf;

	while (len-- > 0)
		*p++ = 0;
}
