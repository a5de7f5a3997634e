/*
 * err.h: one error-code list for the whole project and a caller-owned,
 * fixed-size error record, so the error path never allocates.
 */
#ifndef POPFETCH_ERR_H
#define POPFETCH_ERR_H

#include <stddef.h>

#if defined(__GNUC__) || defined(__clang__)
#define PF_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define PF_NORETURN	__attribute__((noreturn))
#else
#define PF_PRINTF(f, a)
#define PF_NORETURN
#endif

/*
 * Error classes. Only main.c maps them to sysexits(3) codes; the comment
 * gives the code and when each class is used (docs/contract.md §3).
 */
enum pf_errc {
	PF_OK = 0,
	PF_EUSAGE,     /* 64: bad command line */
	PF_EDATA,      /* 65: seen-message state is corrupt */
	PF_EUNAVAIL,   /* 69: server refuses permanently, lacks a capability */
	PF_ESOFTWARE,  /* 70: internal error */
	PF_ECANTCREAT, /* 73: delivery target cannot be created or opened */
	PF_EIO,	       /* 74: writing a message failed, MDA failed */
	PF_ETEMP,      /* 75: network, timeout, IN-USE, LOGIN-DELAY, lock */
	PF_EPROTO,     /* 76: the server broke the protocol */
	PF_ENOPERM,    /* 77: auth failed, certificate rejected, policy */
	PF_ECONFIG,    /* 78: config file error, password command failed */
	PF_ENOHOST,    /* 68: the host name does not exist (resolver says so) */
};

/* The longest server-supplied text we ever show (docs/style.md, errors). */
#define PF_SERVER_TEXT_MAX 200

struct pf_err {
	enum pf_errc code;
	char msg[256];
};

/*
 * Fill err (which may be NULL) with code and a printf-style message.
 * Returns -1 so callers can write "return pf_err_set(...)".
 */
int pf_err_set(struct pf_err *err, enum pf_errc code, const char *fmt, ...)
    PF_PRINTF(3, 4);

/* Like pf_err_set(), then appends ": strerror(errno)". Returns -1. */
int pf_err_sys(struct pf_err *err, enum pf_errc code, const char *fmt, ...)
    PF_PRINTF(3, 4);

/*
 * Put "prefix: " in front of the message already in err, keeping its code.
 * Returns -1.
 */
int pf_err_prefix(struct pf_err *err, const char *fmt, ...) PF_PRINTF(2, 3);

/* Reset err to PF_OK with an empty message. */
void pf_err_clear(struct pf_err *err);

/* A short stable name for code ("tempfail", "protocol", ...). */
const char *pf_errc_name(enum pf_errc code);

/*
 * Copy server-controlled bytes src[0..srclen) into dst as printable text:
 * control and non-ASCII bytes become "\xNN", and the result is cut at
 * PF_SERVER_TEXT_MAX characters (marked with "..."). dst is always
 * NUL-terminated when dstsz > 0. Returns dst. Never use the result as a
 * format string.
 */
char *pf_sanitize(char *dst, size_t dstsz, const char *src, size_t srclen);

/*
 * Test builds only (-DPOPFETCH_FAULT=ON): _exit(137) when
 * $POPFETCH_FAULT_AT is "name" or "name:k" (the k-th time the point is
 * reached), or once $POPFETCH_FAULT_AFTER_BYTES bytes have been received,
 * so crash tests can kill the client at exact places.
 */
#ifdef POPFETCH_FAULT
void pf_fault_point(const char *name);
void pf_fault_bytes(unsigned long long total);
#define PF_FAULT(name)	      pf_fault_point(name)
#define PF_FAULT_BYTES(total) pf_fault_bytes(total)
#else
#define PF_FAULT(name)	      ((void)0)
#define PF_FAULT_BYTES(total) ((void)0)
#endif

#endif
