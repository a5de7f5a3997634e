/*
 * conn-net.c: name resolution and a non-blocking connect under a
 * deadline, bound first to a chosen source address (conn-private.h), and
 * the numeric-address check config.c uses (conn.h).
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "popfetch/conn.h"
#include "popfetch/log.h"
#include "compat.h"
#include "conn-private.h"
#include "stream-private.h"

const char *
conn_net_hostport(const char *host, const char *port, char *buf, size_t bufsz)
{
	snprintf(buf, bufsz, strchr(host, ':') != NULL ? "[%s]:%s" : "%s:%s",
	    host, port);
	return buf;
}

int
conn_parse_address(const char *in, char *out, size_t outsz)
{
	struct addrinfo hints, *res = NULL;
	char bare[INET6_ADDRSTRLEN + 1];
	unsigned char buf[sizeof(struct in6_addr)];
	size_t len = strlen(in), alen;

	if (len >= 2 && in[0] == '[' && in[len - 1] == ']') {
		in++;
		len -= 2;
	}
	if (len == 0 || len >= outsz)
		return -1;
	memcpy(out, in, len);
	out[len] = '\0';
	/* strictly dotted quads or IPv6, never inet_aton's "1.2.3" */
	alen = strcspn(out, "%");
	if (alen >= sizeof(bare))
		return -1;
	memcpy(bare, out, alen);
	bare[alen] = '\0';
	if (inet_pton(AF_INET6, bare, buf) != 1 &&
	    (out[alen] != '\0' || inet_pton(AF_INET, bare, buf) != 1))
		return -1;
	/* and a zone ("fe80::1%eth0") must name an interface */
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(out, NULL, &hints, &res) != 0)
		return -1;
	freeaddrinfo(res);
	return 0;
}

#if defined(EAI_NODATA)
#define PF_EAI_NODATA EAI_NODATA
#elif defined(__linux__)
#define PF_EAI_NODATA (-5) /* glibc and musl hide it without _GNU_SOURCE */
#endif

/* Whether a getaddrinfo() result is the resolver's answer that the name
 * has no address (NXDOMAIN, no data), not a failure to ask. */
static bool
resolve_says_none(int rc)
{
#ifdef PF_EAI_NODATA
	if (rc == PF_EAI_NODATA)
		return true;
#endif
	return rc == EAI_NONAME;
}

struct addrinfo *
conn_net_resolve(const char *host, const char *port, int family,
    const char *what, struct pf_err *err)
{
	struct addrinfo hints, *res = NULL;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	/* no AI_ADDRCONFIG: a loopback-only machine must reach localhost */
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc == 0)
		return res;
	if (rc == EAI_SYSTEM)
		pf_err_sys(err, PF_ETEMP, "cannot resolve %s'%s'", what, host);
	else if (resolve_says_none(rc))
		/* permanent: a typo must not hide behind "ignore 75" */
		pf_err_set(err, PF_ENOHOST,
		    "%s'%s' does not exist (%s); check the host name", what,
		    host, gai_strerror(rc));
	else
		pf_err_set(err, PF_ETEMP, "cannot resolve %s'%s': %s", what,
		    host, gai_strerror(rc));
	return NULL;
}

/*
 * Connect to one address without blocking, under timeout_ms, bound to src
 * first when given. Returns the connected fd, -1 with the reason in
 * *lasterr (an errno value), or -2 when binding to src failed.
 */
static int
conn_net_one(const struct addrinfo *ai, const struct sockaddr *src,
    socklen_t srclen, int timeout_ms, int *lasterr)
{
	struct pf_err werr;
	socklen_t len;
	int fd, soerr = 0, one = 1;

	fd = socket(ai->ai_family,
	    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd == -1) {
		*lasterr = errno;
		return -1;
	}
	/* Each flush is a whole batch of commands already: Nagle would only
	 * hold a pipelined refill back for an ACK, a round trip each time. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (src != NULL) {
#ifdef IP_BIND_ADDRESS_NO_PORT
		/* pick the port at connect(), so binds share the port space */
		(void)setsockopt(
		    fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
#endif
		if (bind(fd, src, srclen) == -1) {
			*lasterr = errno;
			close(fd);
			return -2;
		}
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS && errno != EINTR) {
		*lasterr = errno;
		close(fd);
		return -1;
	}
	if (stream_wait(fd, POLLOUT, stream_deadline(timeout_ms), timeout_ms,
		&werr) == -1) {
		*lasterr = ETIMEDOUT;
		close(fd);
		return -1;
	}
	len = sizeof(soerr);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == -1)
		soerr = errno;
	if (soerr != 0) {
		*lasterr = soerr;
		close(fd);
		return -1;
	}
	return fd;
}

/* The source address as a socket address. Returns 0, or -1 (PF_ECONFIG). */
static int
conn_net_source(const char *in, struct sockaddr_storage *ss, socklen_t *len,
    struct pf_err *err)
{
	struct addrinfo hints, *res = NULL;
	char addr[INET6_ADDRSTRLEN + 64];

	if (conn_parse_address(in, addr, sizeof(addr)) == -1)
		return pf_err_set(err, PF_ECONFIG,
		    "invalid source address '%s': expected an IPv4 or IPv6 address",
		    in);
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(addr, NULL, &hints, &res) != 0 ||
	    res->ai_addrlen > sizeof(*ss)) {
		if (res != NULL)
			freeaddrinfo(res);
		return pf_err_set(
		    err, PF_ECONFIG, "invalid source address '%s'", in);
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

int
conn_net_connect(const char *host, const char *port, int family,
    const struct conn_params *p, const char *what, struct pf_err *err)
{
	struct sockaddr_storage src;
	struct addrinfo *res, *ai;
	char addr[INET6_ADDRSTRLEN + 8], hp[CONN_HOSTPORT_MAX];
	socklen_t srclen = 0;
	int fd = -1, lasterr = ECONNREFUSED, tried = 0;

	if (p->source_address != NULL &&
	    conn_net_source(p->source_address, &src, &srclen, err) == -1)
		return -1;
	if ((res = conn_net_resolve(host, port, family, what, err)) == NULL)
		return -1;
	for (ai = res; ai != NULL && fd == -1; ai = ai->ai_next) {
		if (srclen > 0 && ai->ai_family != src.ss_family)
			continue; /* a source of the other family: skip */
		tried++;
		if (log_enabled(LOGL_DEBUG) &&
		    getnameinfo(ai->ai_addr, ai->ai_addrlen, addr, sizeof(addr),
			NULL, 0, NI_NUMERICHOST) == 0)
			log_debug("connecting to %s%s port %s%s%s", what, addr,
			    port, srclen > 0 ? " from " : "",
			    srclen > 0 ? p->source_address : "");
		fd = conn_net_one(ai,
		    srclen > 0 ? (struct sockaddr *)&src : NULL, srclen,
		    p->timeout_ms, &lasterr);
		if (fd == -2) {
			freeaddrinfo(res);
			return pf_err_set(err, PF_ETEMP,
			    "cannot bind to source address '%s': %s",
			    p->source_address, strerror(lasterr));
		}
	}
	freeaddrinfo(res);
	conn_net_hostport(host, port, hp, sizeof(hp));
	if (fd == -1 && tried == 0)
		return pf_err_set(err, PF_ETEMP,
		    "cannot connect to %s'%s' from '%s': it has no IPv%c address",
		    what, hp, p->source_address,
		    src.ss_family == AF_INET6 ? '6' : '4');
	if (fd == -1)
		return pf_err_set(err, PF_ETEMP, "cannot connect to %s'%s': %s",
		    what, hp, strerror(lasterr));
	return fd;
}
