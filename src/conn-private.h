/*
 * conn-private.h: what the conn variants share: resolving and connecting
 * from a chosen source address (conn-net.c) and reaching the server
 * through a proxy (conn-proxy.c). conn.c drives both. Not part of any
 * public contract.
 */
#ifndef POPFETCH_CONN_PRIVATE_H
#define POPFETCH_CONN_PRIVATE_H

#include <stddef.h>

#include <netdb.h>

#include "popfetch/conn.h"
#include "popfetch/err.h"

/* Room for "[IPv6 or name]:port" in messages. */
#define CONN_HOSTPORT_MAX 300

/* "host:port", or "[host]:port" for an IPv6 literal, into buf. */
const char *conn_net_hostport(
    const char *host, const char *port, char *buf, size_t bufsz);

/*
 * Resolve host:port for family (AF_UNSPEC for any). what names the peer
 * in messages ("proxy " or ""). Returns the list (freeaddrinfo() it), or
 * NULL with PF_ETEMP.
 */
struct addrinfo *conn_net_resolve(const char *host, const char *port,
    int family, const char *what, struct pf_err *err);

/*
 * Resolve host:port with family and connect to its addresses in turn,
 * each under p->timeout_ms, bound first to p->source_address when that is
 * set (addresses of the other family are skipped; it is an error only
 * when none is left). what names the peer in messages ("proxy " or "").
 * Returns a connected non-blocking close-on-exec fd, or -1 with PF_ETEMP
 * (PF_ECONFIG for a malformed source address).
 */
int conn_net_connect(const char *host, const char *port, int family,
    const struct conn_params *p, const char *what, struct pf_err *err);

/*
 * Reach p->host:port through p->proxy: connect to the proxy, run its
 * handshake (each reply bounded in size and due within p->timeout_ms),
 * and return the fd, now a tunnel to the server, with any bytes the
 * server sent already left unread in it. -1 with err as conn_open()
 * describes for proxies.
 */
int conn_proxy_connect(
    const struct conn_params *p, const char *port, struct pf_err *err);

#endif
