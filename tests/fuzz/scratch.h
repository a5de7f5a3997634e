/*
 * scratch.h: the private directory a fuzz target writes its files in,
 * shared by the targets that need one.
 */
#ifndef POPFETCH_FUZZ_SCRATCH_H
#define POPFETCH_FUZZ_SCRATCH_H

#include <stddef.h>

/*
 * The scratch directory of target name, made at the first call and the
 * same at later ones: pf-fuzz-NAME.XXXXXX in /dev/shm when that can be
 * written (nothing reaches a disk), else in $TMPDIR or /tmp. HOME and
 * XDG_STATE_HOME point into it, so what the code under test writes by
 * default stays inside; the log is quiet unless FUZZ_VERBOSE is set; a
 * broken pipe does not kill the target. At exit the directory is removed
 * with everything in it. Aborts when it cannot be made.
 */
const char *fuzz_scratch(const char *name);

/* Write len bytes of data as the file path (0600, replacing what was
 * there). Aborts when it cannot. */
void fuzz_scratch_write(const char *path, const void *data, size_t len);

/* Remove everything inside the scratch directory, keeping it. */
void fuzz_scratch_clear(void);

#endif
