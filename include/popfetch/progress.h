/*
 * progress.h: the progress bar: when to redraw it and what it says. The
 * front end writes the lines it gets (on stderr) and clears the bar
 * before any other line.
 */
#ifndef POPFETCH_PROGRESS_H
#define POPFETCH_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "popfetch/fetch.h"

/* Redraw at most this often, except for the first and last step. */
#define PROGRESS_INTERVAL 0.2

struct progress {
	bool drawn; /* a bar is on the screen */
	struct timespec start, last;
};

/*
 * One step of account name's progress p at time now (CLOCK_MONOTONIC).
 * Returns true when the bar should be redrawn, with the line to write
 * (it starts by going back to the start of the screen line and clearing
 * it) in line; a step with nothing done yet restarts the clock.
 */
bool progress_step(struct progress *pb, const char *name,
    const struct fetch_progress *p, const struct timespec *now, char *line,
    size_t sz);

/*
 * The text of the bar after secs seconds: "NAME: 3/10 messages, 1.2 MiB,
 * 400.0 KiB/s ETA 5s" (no ETA before the rate is known).
 */
void progress_format(char *buf, size_t sz, const char *name,
    const struct fetch_progress *p, double secs);

/*
 * What to write to take the bar off the screen before another line, or
 * NULL when no bar is drawn.
 */
const char *progress_clear(struct progress *pb);

/* A byte count for people: "512 B", "1.5 KiB", "3.0 GiB". */
void progress_size(char *buf, size_t sz, double bytes);

#endif
