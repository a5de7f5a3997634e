/*
 * conn-proxy.c: reach the server through a SOCKS5 or HTTP CONNECT proxy.
 * The messages come from proxy.c; here they are sent and received on the
 * connected socket, each reply due within the timeout and read no further
 * than its own end, so the server's first bytes stay for the stream.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "popfetch/conn.h"
#include "popfetch/log.h"
#include "popfetch/proxy.h"
#include "popfetch/xmalloc.h"
#include "compat.h"
#include "conn-private.h"
#include "stream-private.h"

/* Finds the end of a reply in buf[0..len): see proxy.h. */
typedef int conn_proxy_measure_fn(
    const unsigned char *buf, size_t len, void *ctx, struct pf_err *err);

/* Word a missed deadline in terms of the proxy. */
static int
conn_proxy_timeout(const char *who, int timeout_ms, struct pf_err *err)
{
	char secs[32];

	return pf_err_set(err, PF_ETEMP, "%s did not answer within %s seconds",
	    who, stream_seconds(timeout_ms, secs, sizeof(secs)));
}

/* Send all of buf on the non-blocking fd within timeout_ms. */
static int
conn_proxy_send(int fd, const void *buf, size_t len, int timeout_ms,
    const char *who, struct pf_err *err)
{
	long long deadline = stream_deadline(timeout_ms);
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK)
			return pf_err_sys(
			    err, PF_ETEMP, "cannot write to %s", who);
		if (stream_wait(fd, POLLOUT, deadline, timeout_ms, err) == -1)
			return conn_proxy_timeout(who, timeout_ms, err);
	}
	return 0;
}

/* Take exactly len bytes that a peek has shown to be there. */
static int
conn_proxy_consume(
    int fd, unsigned char *buf, size_t len, const char *who, struct pf_err *err)
{
	ssize_t n;

	while (len > 0) {
		n = recv(fd, buf, len, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return pf_err_sys(
			    err, PF_ETEMP, "cannot read from %s", who);
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Read one reply of at most max bytes within timeout_ms: peek at what has
 * arrived, let measure() find where the reply ends, and consume exactly
 * that much. Returns its length; -1 for an I/O error or timeout (err
 * complete), -2 when measure() failed (err holds what the proxy said).
 */
static int
conn_proxy_recv(int fd, unsigned char *buf, size_t max, int timeout_ms,
    const char *who, conn_proxy_measure_fn *measure, void *ctx,
    struct pf_err *err)
{
	long long deadline = stream_deadline(timeout_ms);
	size_t have = 0;
	ssize_t n;
	int r;

	for (;;) {
		n = recv(fd, buf + have, max - have, MSG_PEEK);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK)
			return pf_err_sys(
			    err, PF_ETEMP, "cannot read from %s", who);
		if (n == 0)
			return pf_err_set(err, PF_ETEMP,
			    "%s closed the connection during the handshake",
			    who);
		if (n > 0) {
			r = measure(buf, have + (size_t)n, ctx, err);
			if (r < 0)
				return -2;
			if (r > 0 && (size_t)r <= have)
				return pf_err_set(err, PF_ESOFTWARE,
				    "proxy reply measured inconsistently");
			if (r > 0)
				return conn_proxy_consume(fd, buf + have,
					   (size_t)r - have, who, err) == -1
				    ? -1
				    : r;
			if (conn_proxy_consume(
				fd, buf + have, (size_t)n, who, err) == -1)
				return -1;
			have += (size_t)n;
			if (have >= max) /* the parsers stop before this */
				return pf_err_set(err, PF_EPROTO,
				    "%s sent a reply longer than %zu bytes",
				    who, max);
		}
		if (stream_wait(fd, POLLIN, deadline, timeout_ms, err) == -1)
			return conn_proxy_timeout(who, timeout_ms, err);
	}
}

/* Where a SOCKS5 handshake stands, for conn_socks_measure(). */
struct conn_socks {
	enum proxy_socks_step step;
	bool auth; /* we offered user name and password */
	int value; /* the method, status or reply code received */
};

static int
conn_socks_measure(
    const unsigned char *buf, size_t len, void *ctx, struct pf_err *err)
{
	struct conn_socks *c = ctx;

	return proxy_socks_parse(c->step, c->auth, buf, len, &c->value, err);
}

/* One SOCKS5 request and its reply; -2 from conn_proxy_recv() passes. */
static int
conn_socks_step(int fd, struct conn_socks *c, enum proxy_socks_step step,
    const unsigned char *req, size_t len, const struct conn_params *p,
    const char *who, struct pf_err *err)
{
	unsigned char in[PROXY_SOCKS_REPLY_MAX];

	c->step = step;
	c->value = -1;
	if (conn_proxy_send(fd, req, len, p->timeout_ms, who, err) == -1)
		return -1;
	return conn_proxy_recv(
	    fd, in, sizeof(in), p->timeout_ms, who, conn_socks_measure, c, err);
}

/*
 * The SOCKS5 handshake on fd, asking for host (a name for socks5h://, an
 * address for socks5://) and port. Returns 0; -1; or -2 when the proxy
 * could not reach this address of the server (reply 3 to 6), so another
 * address may do.
 */
static int
conn_socks(int fd, const struct proxy_url *u, const char *host,
    const char *port, const struct conn_params *p, const char *who,
    const char *target, struct pf_err *err)
{
	unsigned char out[PROXY_SOCKS_AUTH_MAX];
	struct conn_socks c = {PROXY_SOCKS_METHOD, u->user[0] != '\0', -1};
	size_t n;
	int rv = -1, r;

	n = proxy_socks_greeting(c.auth, out);
	r = conn_socks_step(fd, &c, PROXY_SOCKS_METHOD, out, n, p, who, err);
	if (r == -2)
		pf_err_prefix(err, "%s", who);
	if (r < 0)
		goto out;
	if (c.value == 2) {
		log_debug("%s: authenticating as '%s'", who, u->user);
		n = proxy_socks_auth_request(
		    u->user, p->proxy_password, out, err);
		if (n == 0)
			goto out;
		r = conn_socks_step(
		    fd, &c, PROXY_SOCKS_AUTH, out, n, p, who, err);
		explicit_bzero(out, sizeof(out));
		if (r == -2 && err->code == PF_ENOPERM)
			pf_err_set(err, PF_ENOPERM,
			    "%s rejected the user name or password for '%s' (status %d): check the proxy user and proxy_password_command",
			    who, u->user, c.value);
		else if (r == -2)
			pf_err_prefix(err, "%s", who);
		if (r < 0)
			goto out;
	}
	if ((n = proxy_socks_connect_request(host, port, out, err)) == 0)
		goto out;
	log_debug("%s: CONNECT %s", who, target);
	r = conn_socks_step(fd, &c, PROXY_SOCKS_CONNECT, out, n, p, who, err);
	if (r == -2 && c.value > 0) {
		pf_err_prefix(err, "%s %s '%s'", who,
		    err->code == PF_ETEMP ? "could not connect to"
					  : "refused to connect to",
		    target);
		if (c.value >= 3 && c.value <= 6)
			rv = -2; /* this address: another one may do */
	} else if (r == -2) {
		pf_err_prefix(err, "%s", who);
	} else if (r >= 0) {
		rv = 0;
	}
out:
	explicit_bzero(out, sizeof(out));
	return rv;
}

static int
conn_http_measure(
    const unsigned char *buf, size_t len, void *ctx, struct pf_err *err)
{
	return proxy_http_parse((const char *)buf, len, ctx, err);
}

/* The HTTP CONNECT exchange on fd for host:port. Returns 0 or -1. */
static int
conn_http(int fd, const struct proxy_url *u, const char *host, const char *port,
    const struct conn_params *p, const char *who, const char *target,
    struct pf_err *err)
{
	char req[PROXY_HTTP_REQUEST_MAX];
	unsigned char *in = xmalloc(PROXY_HTTP_REPLY_MAX);
	struct proxy_http_reply reply;
	const char *hint = "";
	enum pf_errc code;
	size_t n;
	int rv = -1, r;

	n = proxy_http_request(
	    host, port, u->user, p->proxy_password, req, err);
	if (n == 0)
		goto out;
	log_debug("%s: CONNECT %s%s", who, target,
	    u->user[0] != '\0' ? " (Proxy-Authorization: Basic *)" : "");
	r = conn_proxy_send(fd, req, n, p->timeout_ms, who, err);
	explicit_bzero(req, sizeof(req));
	if (r == 0)
		r = conn_proxy_recv(fd, in, PROXY_HTTP_REPLY_MAX, p->timeout_ms,
		    who, conn_http_measure, &reply, err);
	if (r == -2)
		pf_err_prefix(err, "%s", who);
	if (r < 0)
		goto out;
	log_debug("%s: %d %s", who, reply.status, reply.reason);
	if ((code = proxy_http_errc(reply.status)) != PF_OK) {
		/* tinyproxy answers wrong credentials with 401, none with 407 */
		if (reply.status == 401 || reply.status == 407)
			hint = u->user[0] == '\0'
			    ? " (give a user in the proxy URL and a proxy_password_command)"
			    : " (check the proxy user and proxy_password_command)";
		pf_err_set(err, code, "%s %s '%s': %d %s%s", who,
		    code == PF_ETEMP ? "could not connect to"
				     : "refused to connect to",
		    target, reply.status, reply.reason, hint);
		goto out;
	}
	rv = 0;
out:
	free(in);
	return rv;
}

/*
 * socks5://: the server's name is resolved here and each address tried
 * through the proxy in turn, as long as the proxy says only that it could
 * not reach that one.
 */
static int
conn_proxy_each(const struct proxy_url *u, const struct conn_params *p,
    const struct conn_params *pp, const char *port, const char *who,
    struct pf_err *err)
{
	struct addrinfo *res, *ai;
	char addr[INET6_ADDRSTRLEN + 8], at[CONN_HOSTPORT_MAX];
	int fd = -1, r;

	if ((res = conn_net_resolve(p->host, port, p->family, "", err)) == NULL)
		return -1;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, addr, sizeof(addr),
			NULL, 0, NI_NUMERICHOST) != 0)
			continue;
		fd = conn_net_connect(
		    u->host, u->port, AF_UNSPEC, pp, "proxy ", err);
		if (fd == -1)
			break;
		/* messages name the address asked for, one of several */
		conn_net_hostport(addr, port, at, sizeof(at));
		r = conn_socks(fd, u, addr, port, p, who, at, err);
		if (r == 0)
			break;
		close(fd);
		fd = -1;
		if (r == -1)
			break;
	}
	freeaddrinfo(res);
	if (ai == NULL && fd == -1 && err->code == PF_OK)
		pf_err_set(err, PF_ETEMP, "cannot resolve '%s'", p->host);
	return fd;
}

int
conn_proxy_connect(
    const struct conn_params *p, const char *port, struct pf_err *err)
{
	char who[CONN_HOSTPORT_MAX + 32], target[CONN_HOSTPORT_MAX];
	char php[CONN_HOSTPORT_MAX];
	struct conn_params pp = *p;
	struct proxy_url u;
	struct in6_addr a6;
	int fd, r;

	if (proxy_parse_url(p->proxy, &u, err) == -1)
		return -1;
	snprintf(who, sizeof(who), "%s proxy '%s'",
	    u.kind == PROXY_HTTP ? "HTTP" : "SOCKS5",
	    conn_net_hostport(u.host, u.port, php, sizeof(php)));
	conn_net_hostport(p->host, port, target, sizeof(target));
	pf_err_clear(err);
	/* -4/-6 choose the server's addresses, not the proxy's */
	pp.family = AF_UNSPEC;
	if (u.kind == PROXY_SOCKS5 && inet_pton(AF_INET6, p->host, &a6) != 1 &&
	    inet_pton(AF_INET, p->host, &a6) != 1)
		return conn_proxy_each(&u, p, &pp, port, who, err);
	/* socks5h://, http:// and addresses: no name lookup of ours */
	fd = conn_net_connect(u.host, u.port, AF_UNSPEC, &pp, "proxy ", err);
	if (fd == -1)
		return -1;
	if (u.kind == PROXY_HTTP)
		r = conn_http(fd, &u, p->host, port, p, who, target, err);
	else
		r = conn_socks(fd, &u, p->host, port, p, who, target, err);
	if (r != 0) {
		close(fd);
		return -1;
	}
	return fd;
}
