/*
 * stream-unix.c: connect to a Unix-domain stream socket (an LMTP server
 * such as Dovecot's) and hand it on as a plain stream; reading and
 * writing are the TCP variant's, which work on any stream socket.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "popfetch/stream.h"
#include "stream-private.h"

/*
 * Connect fd to sun. A full listen queue makes a non-blocking connect
 * fail with EAGAIN instead of waiting: try again every 10 ms until the
 * deadline, as a TCP connect would wait. Returns 0, or -1 with errno.
 */
static int
stream_unix_connect(int fd, const struct sockaddr_un *sun, long long deadline)
{
	struct pf_err werr;
	socklen_t len;
	int soerr = 0;

	for (;;) {
		if (connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) ==
		    0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == EINPROGRESS)
			break;
		if (errno != EAGAIN)
			return -1;
		if (deadline >= 0 && stream_deadline(10) > deadline) {
			errno = ETIMEDOUT;
			return -1;
		}
		(void)poll(NULL, 0, 10);
	}
	if (stream_wait(fd, POLLOUT, deadline, 0, &werr) == -1) {
		errno = ETIMEDOUT;
		return -1;
	}
	len = sizeof(soerr);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == -1)
		return -1;
	if (soerr != 0) {
		errno = soerr;
		return -1;
	}
	return 0;
}

struct stream *
stream_unix_open(const char *path, int timeout_ms, struct pf_err *err)
{
	struct sockaddr_un sun;
	size_t len = path != NULL ? strlen(path) : 0;
	int fd;

	if (len == 0 || len >= sizeof(sun.sun_path)) {
		pf_err_set(err, PF_EUSAGE,
		    "socket path '%.80s' is empty or longer than %zu bytes",
		    path != NULL ? path : "", sizeof(sun.sun_path) - 1);
		return NULL;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, len + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		pf_err_sys(err, PF_ETEMP, "cannot create a socket");
		return NULL;
	}
	if (stream_unix_connect(fd, &sun, stream_deadline(timeout_ms)) == -1) {
		pf_err_sys(err, PF_ETEMP, "cannot connect to '%s'", path);
		close(fd);
		return NULL;
	}
	return stream_tcp_new(fd, timeout_ms);
}
