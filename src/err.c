/* err.c: filling error records and making server text safe to show. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "popfetch/err.h"
#include "popfetch/num.h"
#include "compat.h"

static const char *const errc_names[] = {
    [PF_OK] = "ok",
    [PF_EUSAGE] = "usage",
    [PF_EDATA] = "dataerr",
    [PF_EUNAVAIL] = "unavailable",
    [PF_ESOFTWARE] = "software",
    [PF_ECANTCREAT] = "cantcreat",
    [PF_EIO] = "ioerr",
    [PF_ETEMP] = "tempfail",
    [PF_EPROTO] = "protocol",
    [PF_ENOPERM] = "noperm",
    [PF_ECONFIG] = "config",
    [PF_ENOHOST] = "nohost",
};

/* Format into err->msg (err may be NULL); shared by the setters. */
static void err_vset(struct pf_err *err, enum pf_errc code, const char *fmt,
    va_list ap) PF_PRINTF(3, 0);
static void
err_vset(struct pf_err *err, enum pf_errc code, const char *fmt, va_list ap)
{
	if (err == NULL)
		return;
	err->code = code;
	if (vsnprintf(err->msg, sizeof(err->msg), fmt, ap) < 0)
		err->msg[0] = '\0';
}

int
pf_err_set(struct pf_err *err, enum pf_errc code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(err, code, fmt, ap);
	va_end(ap);
	return -1;
}

int
pf_err_sys(struct pf_err *err, enum pf_errc code, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	err_vset(err, code, fmt, ap);
	va_end(ap);
	if (err != NULL && (n = strlen(err->msg)) < sizeof(err->msg))
		snprintf(err->msg + n, sizeof(err->msg) - n, ": %s",
		    strerror(saved));
	errno = saved;
	return -1;
}

int
pf_err_prefix(struct pf_err *err, const char *fmt, ...)
{
	char old[sizeof(err->msg)];
	char pre[sizeof(err->msg)];
	char both[2 * sizeof(err->msg) + 4];
	va_list ap;

	if (err == NULL)
		return -1;
	memcpy(old, err->msg, sizeof(old));
	va_start(ap, fmt);
	if (vsnprintf(pre, sizeof(pre), fmt, ap) < 0)
		pre[0] = '\0';
	va_end(ap);
	snprintf(both, sizeof(both), "%s: %s", pre, old);
	strlcpy(err->msg, both, sizeof(err->msg));
	return -1;
}

void
pf_err_clear(struct pf_err *err)
{
	if (err == NULL)
		return;
	err->code = PF_OK;
	err->msg[0] = '\0';
}

const char *
pf_errc_name(enum pf_errc code)
{
	if ((size_t)code >= sizeof(errc_names) / sizeof(errc_names[0]))
		return "unknown";
	return errc_names[code];
}

char *
pf_sanitize(char *dst, size_t dstsz, const char *src, size_t srclen)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0, shown = 0;

	if (dstsz == 0)
		return dst;
	for (i = 0; i < srclen; i++) {
		unsigned char c = (unsigned char)src[i];
		size_t need = (c >= 0x20 && c < 0x7f) ? 1 : 4;

		if (shown >= PF_SERVER_TEXT_MAX || o + need + 4 > dstsz) {
			if (o + 4 <= dstsz) {
				memcpy(dst + o, "...", 3);
				o += 3;
			}
			break;
		}
		if (need == 1) {
			dst[o++] = (char)c;
		} else {
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		}
		shown++;
	}
	dst[o] = '\0';
	return dst;
}

#ifdef POPFETCH_FAULT
/*
 * $POPFETCH_FAULT_AT is "name" (the first time the point is reached) or
 * "name:k" (the k-th time). Dying with _exit() is what a kill -9 does to
 * the files: nothing is flushed or cleaned up.
 */
void
pf_fault_point(const char *name)
{
	static unsigned long hits;
	const char *at = getenv("POPFETCH_FAULT_AT");
	size_t len = strlen(name);
	unsigned long k = 1;

	if (at == NULL || strncmp(at, name, len) != 0)
		return;
	if (at[len] == ':') {
		unsigned long long v;

		k = num_parse_all(at + len + 1, ULONG_MAX, &v) == 0
		    ? (unsigned long)v
		    : 1;
	} else if (at[len] != '\0')
		return;
	if (++hits >= k)
		_exit(137);
}

void
pf_fault_bytes(unsigned long long total)
{
	static long long limit = -2;

	if (limit == -2) {
		const char *v = getenv("POPFETCH_FAULT_AFTER_BYTES");
		unsigned long long n;

		limit = v != NULL && num_parse_all(v, LLONG_MAX, &n) == 0
		    ? (long long)n
		    : -1;
	}
	if (limit >= 0 && total >= (unsigned long long)limit)
		_exit(137);
}
#endif
