/*
 * sys.h: what several modules ask of the operating system besides files:
 * our host name (with its fallback), a monotonic clock, and randomness
 * that never fails.
 */
#ifndef POPFETCH_SYS_H
#define POPFETCH_SYS_H

#include <stdint.h>

/* This host's name, never empty ("localhost" when gethostname fails);
 * looked up once per process. */
const char *sys_hostname(void);

/* Milliseconds on the monotonic clock, for deadlines. */
long long sys_now_ms(void);

/* Four random bytes from the kernel; falls back to /dev/urandom, then to
 * the clock and pid (never an error: used for unique names and jitter). */
uint32_t sys_random32(void);

#endif
