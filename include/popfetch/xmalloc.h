/*
 * xmalloc.h: allocation that cannot fail. On out-of-memory the process
 * prints one line and exits 70 (EX_SOFTWARE), as fdm and signify do.
 */
#ifndef POPFETCH_XMALLOC_H
#define POPFETCH_XMALLOC_H

#include <stddef.h>

#include "popfetch/err.h"

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
/* realloc(ptr, nmemb * size) with an overflow check. */
void *xreallocarray(void *ptr, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Allocate and format; never returns NULL. */
char *xasprintf(const char *fmt, ...) PF_PRINTF(1, 2);
/* Wipe a secret string (explicit_bzero) and free it; NULL is fine. */
void xfree_secret(char *s);
/*
 * Grow the buffer *p of *cap bytes, of which len are used, to hold at
 * least need bytes (doubling from first when empty). The bytes move to a
 * new block and the old one is wiped before it is freed, so no stale copy
 * of a secret stays in the heap. Never fails.
 */
void xgrow_secret(char **p, size_t *cap, size_t len, size_t need, size_t first);

#endif
