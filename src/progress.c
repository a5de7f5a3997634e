/* progress.c: the progress bar's timing and text. */
#include <stdio.h>

#include "popfetch/progress.h"

/* The escape that returns to the start of the line and clears it. */
#define CLEAR_LINE "\r\033[K"

static double
elapsed(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) +
	    (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

void
progress_size(char *buf, size_t sz, double v)
{
	static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(buf, sz, u == 0 ? "%.0f %s" : "%.1f %s", v, unit[u]);
}

void
progress_format(char *buf, size_t sz, const char *name,
    const struct fetch_progress *p, double secs)
{
	char done[32], rate[32], eta[32];
	double bps = secs > 0.05 ? (double)p->bytes / secs : 0;

	progress_size(done, sizeof(done), (double)p->bytes);
	progress_size(rate, sizeof(rate), bps);
	if (bps > 0 && p->total_bytes > p->bytes)
		snprintf(eta, sizeof(eta), " ETA %.0fs",
		    (double)(p->total_bytes - p->bytes) / bps);
	else
		eta[0] = '\0';
	snprintf(buf, sz, "%s: %lu/%lu messages, %s, %s/s%s", name, p->done,
	    p->total, done, rate, eta);
}

bool
progress_step(struct progress *pb, const char *name,
    const struct fetch_progress *p, const struct timespec *now, char *line,
    size_t sz)
{
	size_t n = sizeof(CLEAR_LINE) - 1;

	if (p->done == 0 && p->bytes == 0)
		pb->start = *now;
	if (pb->drawn && p->done < p->total &&
	    elapsed(&pb->last, now) < PROGRESS_INTERVAL)
		return false;
	if (sz <= n)
		return false;
	pb->last = *now;
	snprintf(line, sz, "%s", CLEAR_LINE);
	progress_format(line + n, sz - n, name, p, elapsed(&pb->start, now));
	pb->drawn = true;
	return true;
}

const char *
progress_clear(struct progress *pb)
{
	if (!pb->drawn)
		return NULL;
	pb->drawn = false;
	return CLEAR_LINE;
}
