/* process.c: process-wide hardening and the signals that stop a run. */
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "popfetch/fetch.h"
#include "popfetch/process.h"

/* Stop at the next safe point (the message being received is finished
 * or dropped, what is durable is recorded, QUIT); the next signal of
 * this kind gets the default action. */
static void
on_stop_signal(int sig)
{
	struct sigaction sa;

	fetch_request_stop();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

void
process_setup(void)
{
	struct rlimit rl = {0, 0};
	struct sigaction sa;

	umask(077);
	setrlimit(RLIMIT_CORE, &rl);
#ifdef __linux__
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
#endif
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	/* SIGCHLD ignored, inherited across exec from a parent that set it
	 * so, would reap every child at once: no exit status for the MDA,
	 * the password command or a -j worker (docs/faults.md #97). */
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_stop_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}
