/* test-notify.c: the NOTIFY_SOCKET datagrams and the watchdog settings. */
#define _DEFAULT_SOURCE /* setenv, unsetenv */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "popfetch/notify.h"

/* A datagram socket bound at name ("@abstract" or a path). */
static int
listener(const char *name)
{
	struct sockaddr_un sun;
	socklen_t len = sizeof(sun);
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);

	assert_true(fd >= 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strncpy(sun.sun_path, name, sizeof(sun.sun_path) - 1);
	if (name[0] == '@') {
		sun.sun_path[0] = '\0';
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
		    strlen(name));
	}
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, len), 0);
	return fd;
}

/* Send msg through notify_send() and read it back from fd. */
static void
roundtrip(int fd, const char *msg)
{
	char buf[64];
	ssize_t n;

	assert_int_equal(notify_send(msg), 1);
	n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, msg);
}

/* Abstract names and paths both work; no socket means nothing sent. */
static void
test_send(void **state)
{
	char name[64], path[64];
	int fd;

	(void)state;
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(notify_send("READY=1"), 0);

	snprintf(
	    name, sizeof(name), "@popfetch-test-notify-%ld", (long)getpid());
	fd = listener(name);
	setenv("NOTIFY_SOCKET", name, 1);
	roundtrip(fd, "READY=1");
	roundtrip(fd, "WATCHDOG=1");
	close(fd);

	snprintf(
	    path, sizeof(path), "/tmp/pf-test-notify-%ld.sock", (long)getpid());
	unlink(path);
	fd = listener(path);
	setenv("NOTIFY_SOCKET", path, 1);
	roundtrip(fd, "STOPPING=1");
	close(fd);
	unlink(path);

	/* neither a path nor '@': refused, not sent anywhere */
	setenv("NOTIFY_SOCKET", "relative.sock", 1);
	assert_int_equal(notify_send("READY=1"), -1);
	unsetenv("NOTIFY_SOCKET");
}

/* WATCHDOG_USEC counts for us only, and only with a socket. */
static void
test_watchdog(void **state)
{
	char pid[32];

	(void)state;
	setenv("NOTIFY_SOCKET", "@x", 1);
	unsetenv("WATCHDOG_PID");
	unsetenv("WATCHDOG_USEC");
	assert_int_equal(notify_watchdog_ms(), 0);
	setenv("WATCHDOG_USEC", "30000000", 1);
	assert_int_equal(notify_watchdog_ms(), 30000);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	assert_int_equal(notify_watchdog_ms(), 30000);
	setenv("WATCHDOG_PID", "1", 1);
	assert_int_equal(notify_watchdog_ms(), 0);
	unsetenv("WATCHDOG_PID");
	setenv("WATCHDOG_USEC", "12x", 1);
	assert_int_equal(notify_watchdog_ms(), 0);
	setenv("WATCHDOG_USEC", "0", 1);
	assert_int_equal(notify_watchdog_ms(), 0);
	setenv("WATCHDOG_USEC", "1000", 1);
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(notify_watchdog_ms(), 0);
	unsetenv("WATCHDOG_USEC");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_send),
	    cmocka_unit_test(test_watchdog),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
