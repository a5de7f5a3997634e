/*
 * process.h: what the whole process is set up with before any secret is
 * read or any account runs: no core dumps, not dumpable, umask 077,
 * SIGPIPE ignored, and the signals that stop a run. The daemon
 * (daemon.h) adds SIGUSR1 and SIGHUP handlers of its own.
 */
#ifndef POPFETCH_PROCESS_H
#define POPFETCH_PROCESS_H

/*
 * Harden the process and catch SIGTERM, SIGINT and SIGHUP: the first one
 * asks the run to stop at its next safe point (fetch_request_stop()); a
 * second one of the same kind gets the default action, for a user who
 * wants out at once.
 */
void process_setup(void);

#endif
