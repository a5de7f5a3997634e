/* notify.c: READY=1 and WATCHDOG=1 to the service manager. */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "popfetch/notify.h"
#include "popfetch/num.h"

/* Fill sun from name ("/path" or "@abstract"); returns the address
 * length, or 0 for a name that does not fit or is neither. */
static socklen_t
notify_addr(const char *name, struct sockaddr_un *sun)
{
	size_t len = strlen(name);

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if ((name[0] != '/' && name[0] != '@') || len < 2 ||
	    len >= sizeof(sun->sun_path))
		return 0;
	memcpy(sun->sun_path, name, len);
	if (name[0] == '@') {
		/* abstract: a leading NUL, and the length counts exactly */
		sun->sun_path[0] = '\0';
		return (
		    socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	}
	return (socklen_t)sizeof(*sun);
}

int
notify_send(const char *msg)
{
	const char *name = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	socklen_t slen;
	ssize_t n;
	int fd, saved;

	if (name == NULL || *name == '\0')
		return 0;
	if ((slen = notify_addr(name, &sun)) == 0) {
		errno = EINVAL;
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	do
		n = sendto(fd, msg, strlen(msg), MSG_NOSIGNAL,
		    (const struct sockaddr *)&sun, slen);
	while (n < 0 && errno == EINTR);
	saved = errno;
	close(fd);
	errno = saved;
	return n < 0 ? -1 : 1;
}

long long
notify_watchdog_ms(void)
{
	const char *usec = getenv("WATCHDOG_USEC");
	const char *pid = getenv("WATCHDOG_PID");
	const char *sock = getenv("NOTIFY_SOCKET");
	unsigned long long v, p;

	if (usec == NULL || sock == NULL || *sock == '\0' ||
	    num_parse_all(usec, LLONG_MAX, &v) < 0 || v == 0)
		return 0;
	if (pid != NULL &&
	    (num_parse_all(pid, LLONG_MAX, &p) < 0 ||
		p != (unsigned long long)getpid()))
		return 0;
	return v < 1000 ? 1 : (long long)(v / 1000);
}
