/*
 * compat.h: functions we use that strict POSIX mode does not declare.
 * glibc has explicit_bzero() but declares it only under _DEFAULT_SOURCE;
 * strlcpy() arrived in glibc 2.38. src/compat/ supplies whichever the
 * C library lacks (CMake decides).
 */
#ifndef POPFETCH_COMPAT_H
#define POPFETCH_COMPAT_H

#include <stddef.h>

void explicit_bzero(void *buf, size_t len);
size_t strlcpy(char *dst, const char *src, size_t size);

#endif
