/*
 * test-conn.c: conn_open(), conn_starttls() and the TCP/TLS streams
 * against servers forked on 127.0.0.1 per case, with the certificates
 * that tests/tls/mkcerts.sh makes in a temporary directory.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "popfetch/conn.h"
#include "popfetch/stream.h"
#include "tmpdir.h"

#define BIG_LEN (1024 * 1024)

static char certdir[512];

/* What a forked test server does after accepting one connection. */
enum srv_mode {
	SRV_ECHO,	/* TLS, then echo until EOF */
	SRV_BIG,	/* TLS, read BIG_LEN pattern bytes, send BIG_LEN back */
	SRV_DROP,	/* TLS, send "partial" and close without close_notify */
	SRV_PLAIN,	/* plaintext greeting, then read and ignore */
	SRV_STARTTLS,	/* greeting, "STLS" -> "+OK", then TLS echo */
	SRV_RENEG,	/* TLS, "+OK before", renegotiate, echo */
	SRV_RENEG_CERT, /* the same, renegotiating with another certificate */
	SRV_TICKETS,	/* TLS 1.3, then session tickets and no data, nonstop */
};

struct srv_opts {
	enum srv_mode mode;
	const char *cert; /* chain file in certdir */
	const char *key;
	int min_proto, max_proto; /* 0: library default */
	const char *ciphers;	  /* TLS 1.2 cipher list, or NULL */
};

/*
 * For the reach tests, set around server_start(): srv_via makes the server
 * play a proxy for "a.b.test" first, on the same connection
 * (SRV_VIA_SOCKS, SRV_VIA_HTTP); srv_family AF_INET6 listens on ::1.
 */
#define SRV_VIA_SOCKS 1
#define SRV_VIA_HTTP  2
static int srv_via, srv_family;

struct server {
	pid_t pid;
	int port;
	char portstr[16];
};

/* A reject case: which certificate the server shows and what we verify. */
struct reject_case {
	const char *cert;
	const char *key;
	const char *host;
	const char *verify_name;
	bool ca;
	const char *reason; /* expected in the message, or NULL */
};

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *
certpath(const char *name, char *buf, size_t bufsz)
{
	snprintf(buf, bufsz, "%s/%s", certdir, name);
	return buf;
}

static unsigned char
pattern(size_t i)
{
	return (unsigned char)(i % 251);
}

/* A listening socket on ::1 with a kernel-chosen port. */
static int
listen_any6(int *port)
{
	struct sockaddr_in6 sin6;
	socklen_t len = sizeof(sin6);
	int fd;

	fd = socket(AF_INET6, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_addr = in6addr_loopback;
	assert_int_equal(bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin6, &len), 0);
	*port = ntohs(sin6.sin6_port);
	return fd;
}

/* A listening socket on 127.0.0.1 with a kernel-chosen port. */
static int
listen_any(int *port)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = 0;
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

/* Child side: write all of buf on a blocking SSL. */
static int
child_ssl_write(SSL *ssl, const void *buf, int len)
{
	const char *p = buf;

	while (len > 0) {
		int n = SSL_write(ssl, p, len);

		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

/* Child side: read one plaintext line ending in '\n'. */
static int
child_getline(int fd, char *buf, size_t bufsz)
{
	size_t n = 0;

	while (n + 1 < bufsz) {
		if (read(fd, buf + n, 1) != 1)
			return -1;
		if (buf[n++] == '\n')
			break;
	}
	buf[n] = '\0';
	return 0;
}

/*
 * Child side: play the proxy for "a.b.test" on fd (the request must carry
 * that name: socks5h:// and http:// resolve nothing here), then let the
 * caller go on as the server behind it.
 */
static void
child_proxy(int fd, int via)
{
	static const unsigned char req[] = {
	    5, 1, 0, 3, 8, 'a', '.', 'b', '.', 't', 'e', 's', 't'};
	unsigned char buf[512];
	size_t n = 0;

	if (via == SRV_VIA_SOCKS) {
		if (read(fd, buf, 3) != 3 ||
		    memcmp(buf, "\x05\x01\x00", 3) != 0 ||
		    write(fd, "\x05\x00", 2) != 2 ||
		    read(fd, buf, sizeof(req) + 2) != sizeof(req) + 2 ||
		    memcmp(buf, req, sizeof(req)) != 0 ||
		    write(fd, "\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x01", 10) !=
			10)
			_exit(20);
		return;
	}
	while (n < 4 || memcmp(buf + n - 4, "\r\n\r\n", 4) != 0) {
		if (n + 1 >= sizeof(buf) || read(fd, buf + n, 1) != 1)
			_exit(21);
		n++;
	}
	buf[n] = '\0';
	if (strncmp((char *)buf, "CONNECT a.b.test:", 17) != 0 ||
	    write(fd, "HTTP/1.1 200 OK\r\n\r\n", 19) != 19)
		_exit(22);
}

/* Child side: the whole server for one connection; never returns. */
static void
child_serve(int lfd, const struct srv_opts *o)
{
	static unsigned char big[BIG_LEN];
	char path[600], path2[600], line[256];
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	size_t i, got;
	int fd, n;

	alarm(10);
	if ((fd = accept(lfd, NULL, NULL)) == -1)
		_exit(2);
	close(lfd);
	if (srv_via != 0)
		child_proxy(fd, srv_via);
	if (o->mode == SRV_PLAIN) {
		if (write(fd, "+OK hello\r\n", 11) != 11)
			_exit(3);
		while (read(fd, line, sizeof(line)) > 0)
			continue;
		_exit(0);
	}
	if (o->mode == SRV_STARTTLS) {
		if (write(fd, "+OK plain\r\n", 11) != 11 ||
		    child_getline(fd, line, sizeof(line)) == -1 ||
		    strcmp(line, "STLS\r\n") != 0 ||
		    write(fd, "+OK go\r\n", 8) != 8)
			_exit(4);
	}
	ctx = SSL_CTX_new(TLS_server_method());
	SSL_CTX_set_security_level(ctx, 0);
	if (o->min_proto != 0)
		SSL_CTX_set_min_proto_version(ctx, o->min_proto);
	if (o->max_proto != 0)
		SSL_CTX_set_max_proto_version(ctx, o->max_proto);
	if (o->ciphers != NULL && SSL_CTX_set_cipher_list(ctx, o->ciphers) != 1)
		_exit(5);
	if (SSL_CTX_use_certificate_chain_file(
		ctx, certpath(o->cert, path, sizeof(path))) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx,
		certpath(o->key, path2, sizeof(path2)), SSL_FILETYPE_PEM) != 1)
		_exit(6);
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_accept(ssl) != 1)
		_exit(7);
	switch (o->mode) {
	case SRV_RENEG_CERT:
		if (SSL_use_certificate_chain_file(ssl,
			certpath("selfsigned.pem", path, sizeof(path))) != 1 ||
		    SSL_use_PrivateKey_file(ssl,
			certpath("selfsigned.key", path2, sizeof(path2)),
			SSL_FILETYPE_PEM) != 1)
			_exit(14);
		/* a full handshake, so the new certificate is sent */
		SSL_set_options(
		    ssl, SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION);
		/* fall through */
	case SRV_RENEG:
		if (child_ssl_write(ssl, "+OK before\r\n", 12) == -1 ||
		    SSL_renegotiate(ssl) != 1 || SSL_do_handshake(ssl) != 1)
			_exit(13);
		break;
	case SRV_TICKETS:
		/* Records that carry no application data, as fast as the
		 * client takes them, until it goes or the alarm ends us. */
		while (SSL_new_session_ticket(ssl) == 1 &&
		    SSL_do_handshake(ssl) == 1)
			continue;
		_exit(0);
	case SRV_DROP:
		if (child_ssl_write(ssl, "partial", 7) == -1)
			_exit(8);
		_exit(0); /* no close_notify */
	case SRV_BIG:
		for (got = 0; got < BIG_LEN; got += (size_t)n) {
			n = SSL_read(ssl, big + got, (int)(BIG_LEN - got));
			if (n <= 0)
				_exit(9);
		}
		for (i = 0; i < BIG_LEN; i++)
			if (big[i] != pattern(i))
				_exit(10);
		for (i = 0; i < BIG_LEN; i++)
			big[i] = pattern(i + 7);
		if (child_ssl_write(ssl, big, BIG_LEN) == -1)
			_exit(11);
		break;
	default:
		break;
	}
	while ((n = SSL_read(ssl, line, sizeof(line))) > 0)
		if (child_ssl_write(ssl, line, n) == -1)
			_exit(12);
	if (o->mode == SRV_RENEG && SSL_renegotiate_pending(ssl))
		_exit(15); /* the client never took part */
	SSL_shutdown(ssl);
	_exit(0);
}

static void
server_start(const struct srv_opts *o, struct server *srv)
{
	int lfd = srv_family == AF_INET6 ? listen_any6(&srv->port)
					 : listen_any(&srv->port);

	snprintf(srv->portstr, sizeof(srv->portstr), "%d", srv->port);
	srv->pid = fork();
	assert_true(srv->pid >= 0);
	if (srv->pid == 0)
		child_serve(lfd, o);
	close(lfd);
}

/* Reap the server; returns its exit status, killing it after 3 s. */
static int
server_stop(struct server *srv)
{
	long long end = now_ms() + 3000;
	int status = 0;

	while (waitpid(srv->pid, &status, WNOHANG) == 0) {
		if (now_ms() > end) {
			kill(srv->pid, SIGKILL);
			waitpid(srv->pid, &status, 0);
			return -1;
		}
		nanosleep(&(struct timespec){0, 10000000}, NULL);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void
params_init(struct conn_params *p, const struct server *srv, const char *host)
{
	static char ca[600];

	memset(p, 0, sizeof(*p));
	p->host = host;
	p->port = srv->portstr;
	p->family = AF_INET;
	p->timeout_ms = 3000;
	p->tls = CONN_TLS_IMPLICIT;
	p->ca_file = certpath("ca.pem", ca, sizeof(ca));
	p->tls_min = 12;
}

static void
read_exact(struct stream *s, void *buf, size_t len)
{
	struct pf_err err;
	char *p = buf;

	while (len > 0) {
		ssize_t n = stream_read(s, p, len, &err);

		if (n <= 0)
			fail_msg("read: %zd %s", n, n < 0 ? err.msg : "EOF");
		p += n;
		len -= (size_t)n;
	}
}

static void
round_trip(struct stream *s)
{
	struct pf_err err;
	char buf[16];

	assert_int_equal(stream_write_all(s, "hello\r\n", 7, &err), 0);
	read_exact(s, buf, 7);
	assert_memory_equal(buf, "hello\r\n", 7);
}

/* Expect conn_open to fail with code and a message containing want. */
static void
expect_fail(const struct conn_params *p, enum pf_errc code, const char *want)
{
	struct pf_err err;
	struct stream *s;

	memset(&err, 0, sizeof(err));
	s = conn_open(p, &err);
	if (s != NULL) {
		stream_close(s);
		fail_msg(
		    "conn_open succeeded, expected %s", pf_errc_name(code));
	}
	if (err.code != code || (want != NULL && strstr(err.msg, want) == NULL))
		fail_msg("got %s \"%s\", expected %s with \"%s\"",
		    pf_errc_name(err.code), err.msg, pf_errc_name(code),
		    want != NULL ? want : "");
}

/* Connect, round-trip, close; returns whether verification was done. */
static bool
expect_ok(const struct conn_params *p)
{
	struct conn_tls_info info;
	struct pf_err err;
	struct stream *s;

	s = conn_open(p, &err);
	if (s == NULL)
		fail_msg("conn_open: %s %s", pf_errc_name(err.code), err.msg);
	assert_true(stream_is_tls(s));
	round_trip(s);
	assert_int_equal(conn_tls_info(s, &info), 0);
	stream_close(s);
	return info.verified;
}

/* IPv6 literals, bracketed or not, with the port in the host or not;
 * the certificate's IP:::1 SAN is matched and nothing else would do. */
static void
test_ipv6_literal(void **state)
{
	struct srv_opts o = {
	    SRV_ECHO, "localhost-chain.pem", "localhost.key", 0, 0, NULL};
	struct srv_opts w = {
	    SRV_ECHO, "wronghost-chain.pem", "wronghost.key", 0, 0, NULL};
	struct conn_params p;
	struct server srv;
	char host[64];

	(void)state;
	srv_family = AF_INET6;
	server_start(&o, &srv);
	params_init(&p, &srv, "::1");
	p.family = AF_UNSPEC;
	assert_true(expect_ok(&p));
	assert_int_equal(server_stop(&srv), 0);
	server_start(&o, &srv);
	p.host = "[::1]";
	assert_true(expect_ok(&p));
	assert_int_equal(server_stop(&srv), 0);
	server_start(&o, &srv);
	snprintf(host, sizeof(host), "[::1]:%s", srv.portstr);
	p.host = host;
	p.port = NULL;
	assert_true(expect_ok(&p));
	assert_int_equal(server_stop(&srv), 0);
	server_start(&w, &srv);
	params_init(&p, &srv, "[::1]");
	p.family = AF_UNSPEC;
	expect_fail(&p, PF_ENOPERM, "IP address mismatch");
	server_stop(&srv);
	srv_family = 0;
}

/* Through a SOCKS5 or HTTP proxy (played by the server itself), TLS is
 * checked against the server's name, never the proxy's address. */
static void
test_proxy_verifies_server_name(void **state)
{
	static const int vias[] = {SRV_VIA_SOCKS, SRV_VIA_HTTP};
	struct conn_params p;
	struct server srv;
	char url[64];
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		struct srv_opts good = {
		    SRV_ECHO, "wildcard-chain.pem", "wildcard.key", 0, 0, NULL};
		/* this one would pass for the proxy's 127.0.0.1 */
		struct srv_opts proxyname = {SRV_ECHO, "localhost-chain.pem",
		    "localhost.key", 0, 0, NULL};

		srv_via = vias[i];
		server_start(&good, &srv);
		params_init(&p, &srv, "a.b.test");
		snprintf(url, sizeof(url), "%s://127.0.0.1:%s",
		    vias[i] == SRV_VIA_SOCKS ? "socks5h" : "http", srv.portstr);
		p.proxy = url;
		assert_true(expect_ok(&p));
		assert_int_equal(server_stop(&srv), 0);

		server_start(&proxyname, &srv);
		snprintf(url, sizeof(url), "%s://127.0.0.1:%s",
		    vias[i] == SRV_VIA_SOCKS ? "socks5h" : "http", srv.portstr);
		expect_fail(&p, PF_ENOPERM,
		    "certificate verification failed for 'a.b.test'");
		server_stop(&srv);
	}
	srv_via = 0;
}

/* The source address is what the server sees; the other family is
 * skipped; a bad or foreign one is refused before any connection. */
static void
test_source_address(void **state)
{
	struct sockaddr_in peer;
	socklen_t len = sizeof(peer);
	struct conn_params p;
	struct server srv;
	struct pf_err err;
	struct stream *s;
	char addr[INET_ADDRSTRLEN];
	int lfd, fd;

	(void)state;
	lfd = listen_any(&srv.port);
	snprintf(srv.portstr, sizeof(srv.portstr), "%d", srv.port);
	params_init(&p, &srv, "127.0.0.1");
	p.tls = CONN_TLS_NONE;
	p.family = AF_UNSPEC;
	p.source_address = "127.0.0.2";
	s = conn_open(&p, &err);
	if (s == NULL)
		fail_msg("conn_open: %s", err.msg);
	fd = accept(lfd, (struct sockaddr *)&peer, &len);
	assert_true(fd >= 0);
	assert_non_null(inet_ntop(AF_INET, &peer.sin_addr, addr, sizeof(addr)));
	assert_string_equal(addr, "127.0.0.2");
	close(fd);
	stream_close(s);

	p.source_address = "[::1]";
	expect_fail(&p, PF_ETEMP, "from '[::1]': it has no IPv6 address");
	p.source_address = "192.0.2.1";
	expect_fail(&p, PF_ETEMP, "cannot bind to source address '192.0.2.1'");
	p.source_address = "mail.example.org";
	expect_fail(&p, PF_ECONFIG, "invalid source address");
	close(lfd);
}

/* Combinations that make no sense, and bad values, before connecting. */
static void
test_reach_conflicts(void **state)
{
	struct server srv = {.port = 1, .portstr = "1"};
	struct conn_params p;

	(void)state;
	params_init(&p, &srv, "127.0.0.1");
	p.proxy = "socks5://127.0.0.1:1";
	p.tunnel = "cat";
	expect_fail(&p, PF_ECONFIG, "proxy and tunnel cannot be used together");
	p.proxy = NULL;
	p.source_address = "127.0.0.2";
	expect_fail(&p, PF_ECONFIG, "source_address does not apply");
	p.tunnel = NULL;
	p.source_address = NULL;
	p.proxy = "socks5://u:secret@127.0.0.1:1";
	expect_fail(&p, PF_ECONFIG, "proxy_password_command");
	p.proxy = "socks4://127.0.0.1:1";
	expect_fail(&p, PF_ECONFIG, "unsupported proxy URL");
	p.proxy = NULL;
	p.tunnel = "ssh -W %x gw";
	expect_fail(&p, PF_ECONFIG, "unknown %-sequence");
}

static void
test_parse_reach(void **state)
{
	struct pf_err err;
	char host[64], port[8], addr[64], *cmd;

	(void)state;
	assert_int_equal(conn_parse_host("[::1]:110", host, sizeof(host), port,
			     sizeof(port)),
	    0);
	assert_string_equal(host, "::1");
	assert_string_equal(port, "110");
	assert_int_equal(
	    conn_parse_host("::1", host, sizeof(host), port, sizeof(port)), 0);
	assert_string_equal(port, "");
	assert_int_equal(
	    conn_parse_host("[::1", host, sizeof(host), port, sizeof(port)),
	    -1);

	assert_int_equal(
	    conn_parse_address("127.0.0.2", addr, sizeof(addr)), 0);
	assert_string_equal(addr, "127.0.0.2");
	assert_int_equal(conn_parse_address("[::1]", addr, sizeof(addr)), 0);
	assert_string_equal(addr, "::1");
	assert_int_equal(conn_parse_address("::1", addr, sizeof(addr)), 0);
	assert_int_equal(
	    conn_parse_address("localhost", addr, sizeof(addr)), -1);
	assert_int_equal(conn_parse_address("1.2.3", addr, sizeof(addr)), -1);
	assert_int_equal(conn_parse_address("[::1", addr, sizeof(addr)), -1);
	assert_int_equal(conn_parse_address("", addr, sizeof(addr)), -1);

	cmd =
	    conn_tunnel_command("ssh -W %h:%p gw # 100%%", "a'b", "110", &err);
	assert_non_null(cmd);
	assert_string_equal(cmd, "ssh -W 'a'\\''b':'110' gw # 100%");
	free(cmd);
	cmd = conn_tunnel_command("nc %h %p", "$(id)", "995", &err);
	assert_string_equal(cmd, "nc '$(id)' '995'");
	free(cmd);
	assert_null(conn_tunnel_command("nc %H", "h", "1", &err));
	assert_int_equal(err.code, PF_ECONFIG);
	assert_null(conn_tunnel_command("nc %", "h", "1", &err));
}

static int
group_setup(void **state)
{
	char script[600], cmd[1400];
	const char *env = getenv("POPFETCH_MKCERTS");
	const char *slash;

	(void)state;
	if (env != NULL)
		snprintf(script, sizeof(script), "%s", env);
	else {
		slash = strrchr(__FILE__, '/');
		snprintf(script, sizeof(script), "%.*s/../tls/mkcerts.sh",
		    slash != NULL ? (int)(slash - __FILE__) : 1,
		    slash != NULL ? __FILE__ : ".");
	}
	if (tmpdir_make(certdir, sizeof(certdir), "conn") == -1)
		return -1;
	snprintf(cmd, sizeof(cmd), "bash '%s' '%s'", script, certdir);
	if (system(cmd) != 0) {
		fprintf(stderr, "test-conn: %s failed\n", cmd);
		return -1;
	}
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	return tmpdir_remove(certdir);
}

static void
test_refused(void **state)
{
	struct conn_params p;
	struct server srv;
	char want[64];
	int fd;

	(void)state;
	fd = listen_any(&srv.port);
	close(fd);
	snprintf(srv.portstr, sizeof(srv.portstr), "%d", srv.port);
	params_init(&p, &srv, "127.0.0.1");
	p.tls = CONN_TLS_NONE;
	snprintf(
	    want, sizeof(want), "cannot connect to '127.0.0.1:%d': ", srv.port);
	expect_fail(&p, PF_ETEMP, want);
	expect_fail(&p, PF_ETEMP, "Connection refused");
}

static void
test_resolve_fail(void **state)
{
	struct conn_params p;
	struct server srv = {.port = 1, .portstr = "1"};

	(void)state;
	params_init(&p, &srv, "no-such-host.invalid");
	/* .invalid never exists (RFC 6761): permanent, 68 (issue 13) */
	expect_fail(&p, PF_ENOHOST, "'no-such-host.invalid' does not exist");
}

/* A full accept queue drops SYNs, so connect() itself must time out. */
static void
test_connect_timeout(void **state)
{
	struct sockaddr_in sin;
	struct conn_params p;
	struct server srv;
	socklen_t len = sizeof(sin);
	long long t0, dt;
	int lfd, fill[4], i;

	(void)state;
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(lfd, 0), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
	for (i = 0; i < 4; i++) {
		fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		(void)connect(fill[i], (struct sockaddr *)&sin, sizeof(sin));
	}
	srv.port = ntohs(sin.sin_port);
	snprintf(srv.portstr, sizeof(srv.portstr), "%d", srv.port);
	params_init(&p, &srv, "127.0.0.1");
	p.tls = CONN_TLS_NONE;
	p.timeout_ms = 300;
	t0 = now_ms();
	expect_fail(&p, PF_ETEMP, "Connection timed out");
	dt = now_ms() - t0;
	for (i = 0; i < 4; i++)
		close(fill[i]);
	close(lfd);
	assert_true(dt >= 250 && dt < 1000);
}

static void
test_handshake_timeout(void **state)
{
	struct conn_params p;
	struct server srv;
	long long t0, dt;
	int lfd;

	(void)state;
	lfd = listen_any(&srv.port); /* accepts (backlog), never speaks */
	snprintf(srv.portstr, sizeof(srv.portstr), "%d", srv.port);
	params_init(&p, &srv, "127.0.0.1");
	p.timeout_ms = 500;
	t0 = now_ms();
	expect_fail(&p, PF_ETEMP, "timed out after 0.5 seconds");
	dt = now_ms() - t0;
	close(lfd);
	assert_true(dt >= 450);
	assert_true(dt < 1200);
}

static void
test_good_localhost(void **state)
{
	struct srv_opts o = {
	    SRV_ECHO, "localhost-chain.pem", "localhost.key", 0, 0, NULL};
	struct conn_tls_info info;
	struct conn_params p;
	struct server srv;
	struct pf_err err;
	struct stream *s;

	(void)state;
	server_start(&o, &srv);
	params_init(&p, &srv, "localhost");
	s = conn_open(&p, &err);
	if (s == NULL)
		fail_msg("conn_open: %s", err.msg);
	assert_true(stream_is_tls(s));
	round_trip(s);
	assert_int_equal(conn_tls_info(s, &info), 0);
	assert_true(info.verified);
	assert_non_null(strstr(info.version, "TLSv1."));
	assert_true(info.cipher[0] != '\0');
	assert_non_null(strstr(info.subject, "localhost"));
	assert_non_null(strstr(info.issuer, "popfetch test root CA"));
	assert_non_null(strstr(info.not_after, "GMT"));
	assert_int_equal(strlen(info.sha256), 95);
	assert_int_equal(info.sha256[2], ':');
	assert_true(s->bytes_in == 7 && s->bytes_out == 7);
	stream_close(s);
	assert_int_equal(server_stop(&srv), 0);
}

static void
test_good_ip(void **state)
{
	struct srv_opts o = {
	    SRV_ECHO, "localhost-chain.pem", "localhost.key", 0, 0, NULL};
	struct conn_params p;
	struct server srv;

	(void)state;
	server_start(&o, &srv);
	params_init(&p, &srv, "127.0.0.1");
	assert_true(expect_ok(&p));
	assert_int_equal(server_stop(&srv), 0);
}

static void
test_big_transfer(void **state)
{
	struct srv_opts o = {
	    SRV_BIG, "localhost-chain.pem", "localhost.key", 0, 0, NULL};
	struct conn_params p;
	struct server srv;
	struct pf_err err;
	struct stream *s;
	unsigned char *buf = malloc(BIG_LEN);
	size_t i;

	(void)state;
	assert_non_null(buf);
	server_start(&o, &srv);
	params_init(&p, &srv, "localhost");
	s = conn_open(&p, &err);
	if (s == NULL)
		fail_msg("conn_open: %s", err.msg);
	for (i = 0; i < BIG_LEN; i++)
		buf[i] = pattern(i);
	assert_int_equal(stream_write_all(s, buf, BIG_LEN, &err), 0);
	memset(buf, 0, BIG_LEN);
	read_exact(s, buf, BIG_LEN);
	for (i = 0; i < BIG_LEN; i++)
		if (buf[i] != pattern(i + 7))
			fail_msg("byte %zu differs", i);
	assert_true(s->bytes_out == BIG_LEN && s->bytes_in == BIG_LEN);
	stream_close(s);
	free(buf);
	assert_int_equal(server_stop(&srv), 0);
}

static void
test_reject(void **state)
{
	const struct reject_case *c = *state;
	struct srv_opts o = {SRV_ECHO, c->cert, c->key, 0, 0, NULL};
	struct conn_params p;
	struct server srv;
	char want[300];

	server_start(&o, &srv);
	params_init(&p, &srv, c->host);
	p.verify_name = c->verify_name;
	if (!c->ca)
		p.ca_file = NULL;
	snprintf(want, sizeof(want),
	    "certificate verification failed for "
	    "'%s': ",
	    c->verify_name != NULL ? c->verify_name : c->host);
	expect_fail(&p, PF_ENOPERM, want);
	server_stop(&srv);
	server_start(&o, &srv);
	expect_fail(&p, PF_ENOPERM, c->reason);
	server_stop(&srv);
}

/* The positive controls for the reject table: the same setups succeed. */
static void
test_accept(void **state)
{
	const struct reject_case *c = *state;
	struct srv_opts o = {SRV_ECHO, c->cert, c->key, 0, 0, NULL};
	struct conn_params p;
	struct server srv;

	server_start(&o, &srv);
	params_init(&p, &srv, c->host);
	p.verify_name = c->verify_name;
	assert_true(expect_ok(&p));
	assert_int_equal(server_stop(&srv), 0);
}

/*
 * One TLS context per distinct setup: connections with the same CA file,
 * client certificate and minimum version share it, whether they verify,
 * pin or skip verification; another minimum version gets its own.
 */
static void
test_ctx_shared(void **state)
{
	struct srv_opts o = {
	    SRV_ECHO, "localhost-chain.pem", "localhost.key", 0, 0, NULL};
	struct conn_params p;
	struct server srv;
	struct pf_err err;
	struct stream *s;

	(void)state;
	conn_tls_cache_free();
	assert_int_equal(conn_tls_contexts(), 0);
	server_start(&o, &srv);
	params_init(&p, &srv, "localhost");
	assert_int_equal(conn_tls_prepare(&p, &err), 0);
	assert_int_equal(conn_tls_contexts(), 1);
	assert_true(expect_ok(&p));
	assert_int_equal(server_stop(&srv), 0);
	server_start(&o, &srv);
	params_init(&p, &srv, "localhost");
	p.insecure = true;
	assert_false(expect_ok(&p));
	assert_int_equal(server_stop(&srv), 0);
	assert_int_equal(conn_tls_contexts(), 1);
	/* a stream outlives the cache: it holds its own reference */
	server_start(&o, &srv);
	params_init(&p, &srv, "localhost");
	p.tls_min = 13;
	if ((s = conn_open(&p, &err)) == NULL)
		fail_msg("conn_open: %s", err.msg);
	assert_int_equal(conn_tls_contexts(), 2);
	conn_tls_cache_free();
	round_trip(s);
	stream_close(s);
	assert_int_equal(server_stop(&srv), 0);
	p.tls = CONN_TLS_NONE;
	assert_int_equal(conn_tls_prepare(&p, &err), 0);
	assert_int_equal(conn_tls_contexts(), 0);
	/* a failed set-up is not cached: the next try reports it again */
	p.tls = CONN_TLS_IMPLICIT;
	p.ca_file = "/nonexistent/ca.pem";
	assert_int_equal(conn_tls_prepare(&p, &err), -1);
	assert_int_equal(err.code, PF_ECONFIG);
	assert_int_equal(conn_tls_contexts(), 0);
}

/* Point SSL_CERT_DIR at certdir/NAME holding a hash link to ca.pem when
 * link is true, and unset SSL_CERT_FILE; the cache starts empty. */
static void
system_store_env(const char *name, bool link)
{
	char dir[600], ca[600], path[700];
	unsigned long hash;
	X509 *x;
	FILE *f;

	snprintf(dir, sizeof(dir), "%s/%s", certdir, name);
	(void)mkdir(dir, 0700);
	certpath("ca.pem", ca, sizeof(ca));
	if (link) {
		assert_non_null(f = fopen(ca, "r"));
		assert_non_null(x = PEM_read_X509(f, NULL, NULL, NULL));
		fclose(f);
		hash = X509_subject_name_hash(x);
		X509_free(x);
		snprintf(path, sizeof(path), "%s/%08lx.0", dir, hash);
		(void)unlink(path);
		assert_int_equal(symlink(ca, path), 0);
	}
	assert_int_equal(setenv("SSL_CERT_DIR", dir, 1), 0);
	assert_int_equal(unsetenv("SSL_CERT_FILE"), 0);
	conn_tls_cache_free();
}

/*
 * The system store is used lazily: building the context parses no CA
 * bundle, and the one CA a chain needs is loaded by its hash.
 */
static void
test_system_store_lazy(void **state)
{
	struct srv_opts o = {
	    SRV_ECHO, "localhost-chain.pem", "localhost.key", 0, 0, NULL};
	struct conn_params p;
	struct server srv;
	struct pf_err err;

	(void)state;
	system_store_env("hashdir", true);
	server_start(&o, &srv);
	params_init(&p, &srv, "localhost");
	p.ca_file = NULL;
	assert_int_equal(conn_tls_prepare(&p, &err), 0);
	assert_int_equal(conn_tls_anchors(), 0);
	assert_true(expect_ok(&p));
	assert_int_equal(conn_tls_anchors(), 1);
	assert_int_equal(server_stop(&srv), 0);
	unsetenv("SSL_CERT_DIR");
	conn_tls_cache_free();
}

/*
 * Without hash links in the directory the bundle is read when a chain
 * needs it, and SSL_CERT_FILE is honoured: its CA verifies the server.
 */
static void
test_system_store_file(void **state)
{
	struct srv_opts o = {
	    SRV_ECHO, "localhost-chain.pem", "localhost.key", 0, 0, NULL};
	struct conn_params p;
	struct server srv;
	char ca[600];

	(void)state;
	system_store_env("emptydir", false);
	assert_int_equal(
	    setenv("SSL_CERT_FILE", certpath("ca.pem", ca, sizeof(ca)), 1), 0);
	server_start(&o, &srv);
	params_init(&p, &srv, "localhost");
	p.ca_file = NULL;
	assert_true(expect_ok(&p));
	assert_int_equal(conn_tls_anchors(), 1);
	assert_int_equal(server_stop(&srv), 0);
	unsetenv("SSL_CERT_DIR");
	unsetenv("SSL_CERT_FILE");
	conn_tls_cache_free();
}

/*
 * The system CA file is read only when a chain needs a CA found nowhere
 * else: not when --ca-file holds it, even with SSL_CERT_FILE set.
 */
static void
test_system_file_deferred(void **state)
{
	struct srv_opts o = {
	    SRV_ECHO, "localhost-chain.pem", "localhost.key", 0, 0, NULL};
	struct conn_params p;
	struct server srv;
	char bundle[600];

	(void)state;
	system_store_env("emptydir", false);
	/* two certificates: the server's chain stands in for a bundle */
	assert_int_equal(
	    setenv("SSL_CERT_FILE",
		certpath("localhost-chain.pem", bundle, sizeof(bundle)), 1),
	    0);
	server_start(&o, &srv);
	params_init(&p, &srv, "localhost");
	assert_true(expect_ok(&p));
	assert_int_equal(conn_tls_anchors(), 1);
	assert_int_equal(server_stop(&srv), 0);
	unsetenv("SSL_CERT_DIR");
	unsetenv("SSL_CERT_FILE");
	conn_tls_cache_free();
}

/* SHA-256 of a certificate file as lower-case hex with colons. */
static void
file_fingerprint(const char *name, char *out, size_t outsz)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0, i;
	char path[600];
	size_t o = 0;
	X509 *x;
	FILE *f;

	f = fopen(certpath(name, path, sizeof(path)), "r");
	assert_non_null(f);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(x);
	assert_int_equal(X509_digest(x, EVP_sha256(), md, &len), 1);
	X509_free(x);
	for (i = 0; i < len && o + 4 < outsz; i++) {
		if (i > 0)
			out[o++] = ':';
		out[o++] = hex[md[i] >> 4];
		out[o++] = hex[md[i] & 15];
	}
	out[o] = '\0';
}

static void
test_pin_match(void **state)
{
	struct srv_opts o = {
	    SRV_ECHO, "selfsigned.pem", "selfsigned.key", 0, 0, NULL};
	struct conn_params p;
	struct server srv;
	char fp[100];

	(void)state;
	file_fingerprint("selfsigned.pem", fp, sizeof(fp));
	server_start(&o, &srv);
	params_init(&p, &srv, "localhost");
	p.fingerprint = fp;
	assert_true(expect_ok(&p)); /* chain fails, the pin decides */
	assert_int_equal(server_stop(&srv), 0);
}

static void
test_pin_mismatch(void **state)
{
	struct srv_opts o = {
	    SRV_ECHO, "localhost-chain.pem", "localhost.key", 0, 0, NULL};
	struct conn_params p;
	struct server srv;
	char fp[100], want[200];

	(void)state;
	/* a pin of another certificate, while the chain itself is good */
	file_fingerprint("selfsigned.pem", fp, sizeof(fp));
	server_start(&o, &srv);
	params_init(&p, &srv, "localhost");
	p.fingerprint = fp;
	snprintf(want, sizeof(want),
	    "certificate fingerprint mismatch for 'localhost': got ");
	expect_fail(&p, PF_ENOPERM, want);
	server_stop(&srv);
}

/* docs/faults.md #73: a TLS 1.2 server renegotiates (RFC 5746) in the
 * middle of the session; the data before and after it passes. */
static void
test_renegotiation_accepted(void **state)
{
	struct srv_opts o = {SRV_RENEG, "localhost-chain.pem", "localhost.key",
	    0, TLS1_2_VERSION, NULL};
	struct conn_params p;
	struct server srv;
	struct pf_err err;
	struct stream *s;
	char buf[16];

	(void)state;
	server_start(&o, &srv);
	params_init(&p, &srv, "localhost");
	s = conn_open(&p, &err);
	if (s == NULL)
		fail_msg("conn_open: %s", err.msg);
	read_exact(s, buf, 12);
	assert_memory_equal(buf, "+OK before\r\n", 12);
	round_trip(s);
	round_trip(s);
	stream_close(s);
	assert_int_equal(server_stop(&srv), 0);
}

/* docs/faults.md #73: a renegotiation may not swap the certificate that
 * the pin (or the chain check) accepted. */
static void
test_renegotiation_cert_change(void **state)
{
	struct srv_opts o = {SRV_RENEG_CERT, "localhost-chain.pem",
	    "localhost.key", 0, TLS1_2_VERSION, NULL};
	struct conn_params p;
	struct server srv;
	struct pf_err err;
	struct stream *s;
	char buf[16], fp[100];
	ssize_t n;

	(void)state;
	file_fingerprint("localhost.pem", fp, sizeof(fp));
	server_start(&o, &srv);
	params_init(&p, &srv, "localhost");
	p.fingerprint = fp;
	s = conn_open(&p, &err);
	if (s == NULL)
		fail_msg("conn_open: %s", err.msg);
	read_exact(s, buf, 12);
	/* the first echo may come while the new handshake is still on */
	round_trip(s);
	/* refused on the next write or read after the handshake */
	if (stream_write_all(s, "hello\r\n", 7, &err) == 0) {
		do
			n = stream_read(s, buf, sizeof(buf), &err);
		while (n > 0);
		assert_int_equal(n, -1);
	}
	if (err.code != PF_EPROTO ||
	    strstr(err.msg, "changed its certificate") == NULL)
		fail_msg("got %s \"%s\"", pf_errc_name(err.code), err.msg);
	stream_close(s);
	server_stop(&srv);
}

static void
test_pin_malformed(void **state)
{
	struct conn_params p;
	struct server srv;
	int lfd;

	(void)state;
	lfd = listen_any(&srv.port);
	snprintf(srv.portstr, sizeof(srv.portstr), "%d", srv.port);
	params_init(&p, &srv, "127.0.0.1");
	p.fingerprint = "abcd";
	p.timeout_ms = 500;
	expect_fail(&p, PF_EUSAGE, "invalid fingerprint 'abcd'");
	close(lfd);
}

static void
test_insecure(void **state)
{
	struct srv_opts o = {
	    SRV_ECHO, "selfsigned.pem", "selfsigned.key", 0, 0, NULL};
	struct conn_params p;
	struct server srv;

	(void)state;
	server_start(&o, &srv);
	params_init(&p, &srv, "127.0.0.1");
	p.verify_name = "wrong.example.invalid";
	p.ca_file = NULL;
	p.insecure = true;
	assert_false(expect_ok(&p));
	assert_int_equal(server_stop(&srv), 0);
}

static void
test_tls13_required(void **state)
{
	struct srv_opts o = {SRV_ECHO, "localhost-chain.pem", "localhost.key",
	    0, TLS1_2_VERSION, NULL};
	struct conn_params p;
	struct server srv;

	(void)state;
	/* control: the 1.2-only server is fine with the default minimum */
	server_start(&o, &srv);
	params_init(&p, &srv, "localhost");
	assert_true(expect_ok(&p));
	assert_int_equal(server_stop(&srv), 0);

	server_start(&o, &srv);
	params_init(&p, &srv, "localhost");
	p.tls_min = 13;
	expect_fail(&p, PF_ENOPERM, "TLS handshake with 'localhost:");
	server_stop(&srv);
}

static void
test_tls11_server(void **state)
{
	struct srv_opts o = {SRV_ECHO, "localhost-chain.pem", "localhost.key",
	    TLS1_1_VERSION, TLS1_1_VERSION, "DEFAULT:@SECLEVEL=0"};
	struct conn_params p;
	struct server srv;

	(void)state;
	server_start(&o, &srv);
	params_init(&p, &srv, "localhost");
	expect_fail(&p, PF_ENOPERM, "TLS handshake with 'localhost:");
	server_stop(&srv);
}

static void
test_null_cipher_server(void **state)
{
	struct srv_opts o = {SRV_ECHO, "localhost-chain.pem", "localhost.key",
	    0, TLS1_2_VERSION, "eNULL:@SECLEVEL=0"};
	struct conn_params p;
	struct server srv;

	(void)state;
	server_start(&o, &srv);
	params_init(&p, &srv, "localhost");
	expect_fail(&p, PF_ENOPERM, "TLS handshake with 'localhost:");
	server_stop(&srv);
}

static void
test_plaintext_peer(void **state)
{
	struct srv_opts o = {SRV_PLAIN, NULL, NULL, 0, 0, NULL};
	struct conn_params p;
	struct server srv;
	long long t0;

	(void)state;
	server_start(&o, &srv);
	params_init(&p, &srv, "localhost");
	t0 = now_ms();
	expect_fail(&p, PF_ENOPERM, "TLS handshake with 'localhost:");
	assert_true(now_ms() - t0 < 1000);
	server_stop(&srv);
}

static void
test_eof_without_close_notify(void **state)
{
	struct srv_opts o = {
	    SRV_DROP, "localhost-chain.pem", "localhost.key", 0, 0, NULL};
	struct conn_params p;
	struct server srv;
	struct pf_err err;
	struct stream *s;
	char buf[16];

	(void)state;
	server_start(&o, &srv);
	params_init(&p, &srv, "localhost");
	s = conn_open(&p, &err);
	if (s == NULL)
		fail_msg("conn_open: %s", err.msg);
	read_exact(s, buf, 7);
	assert_memory_equal(buf, "partial", 7);
	assert_int_equal(stream_read(s, buf, sizeof(buf), &err), 0);
	stream_close(s);
	assert_int_equal(server_stop(&srv), 0);
}

static void
test_starttls(void **state)
{
	struct srv_opts o = {
	    SRV_STARTTLS, "localhost-chain.pem", "localhost.key", 0, 0, NULL};
	struct conn_tls_info info;
	struct conn_params p;
	struct server srv;
	struct pf_err err;
	struct stream *s;
	char buf[16];

	(void)state;
	server_start(&o, &srv);
	params_init(&p, &srv, "localhost");
	p.tls = CONN_TLS_STARTTLS;
	s = conn_open(&p, &err);
	if (s == NULL)
		fail_msg("conn_open: %s", err.msg);
	assert_false(stream_is_tls(s));
	assert_int_equal(conn_tls_info(s, &info), -1);
	read_exact(s, buf, 11);
	assert_memory_equal(buf, "+OK plain\r\n", 11);
	assert_int_equal(stream_write_all(s, "STLS\r\n", 6, &err), 0);
	read_exact(s, buf, 8);
	assert_memory_equal(buf, "+OK go\r\n", 8);
	if (conn_starttls(s, &p, &err) == -1)
		fail_msg("conn_starttls: %s", err.msg);
	assert_true(stream_is_tls(s));
	assert_int_equal(conn_starttls(s, &p, &err), -1);
	round_trip(s);
	assert_int_equal(conn_tls_info(s, &info), 0);
	assert_true(info.verified);
	stream_close(s);
	assert_int_equal(server_stop(&srv), 0);
}

static void
test_starttls_rejects_bad_cert(void **state)
{
	struct srv_opts o = {
	    SRV_STARTTLS, "wronghost-chain.pem", "wronghost.key", 0, 0, NULL};
	struct conn_params p;
	struct server srv;
	struct pf_err err;
	struct stream *s;
	char buf[16];

	(void)state;
	server_start(&o, &srv);
	params_init(&p, &srv, "localhost");
	p.tls = CONN_TLS_STARTTLS;
	s = conn_open(&p, &err);
	assert_non_null(s);
	read_exact(s, buf, 11);
	assert_int_equal(stream_write_all(s, "STLS\r\n", 6, &err), 0);
	read_exact(s, buf, 8);
	assert_int_equal(conn_starttls(s, &p, &err), -1);
	assert_int_equal(err.code, PF_ENOPERM);
	assert_false(stream_is_tls(s));
	stream_close(s);
	server_stop(&srv);
}

/* The next read of s must time out after its 300 ms, and not before. */
static void
expect_read_timeout(struct stream *s)
{
	struct pf_err err;
	char buf[64];
	long long t0, dt;

	t0 = now_ms();
	assert_int_equal(stream_read(s, buf, sizeof(buf), &err), -1);
	dt = now_ms() - t0;
	print_message("read ended after %lld ms: %s\n", dt, err.msg);
	assert_int_equal(err.code, PF_ETEMP);
	assert_string_equal(
	    err.msg, "timed out after 0.3 seconds waiting for the server");
	assert_true(dt >= 250 && dt < 1000);
}

static void
test_read_timeout(void **state)
{
	struct srv_opts o = {SRV_PLAIN, NULL, NULL, 0, 0, NULL};
	struct conn_params p;
	struct server srv;
	struct pf_err err;
	struct stream *s;
	char buf[64];

	(void)state;
	server_start(&o, &srv);
	params_init(&p, &srv, "localhost");
	p.tls = CONN_TLS_NONE;
	p.timeout_ms = 300;
	s = conn_open(&p, &err);
	if (s == NULL)
		fail_msg("conn_open: %s", err.msg);
	read_exact(s, buf, 11);
	assert_memory_equal(buf, "+OK hello\r\n", 11);
	expect_read_timeout(s);
	stream_close(s);
	server_stop(&srv);
}

/* A server that sends only records with no application data (TLS 1.3
 * session tickets, nonstop) cannot hold a read past its timeout: the
 * time is checked between records, not only when the socket is quiet. */
static void
test_read_timeout_tickets(void **state)
{
	struct srv_opts o = {SRV_TICKETS, "localhost-chain.pem",
	    "localhost.key", TLS1_3_VERSION, 0, NULL};
	struct conn_params p;
	struct server srv;
	struct pf_err err;
	struct stream *s;

	(void)state;
	server_start(&o, &srv);
	params_init(&p, &srv, "localhost");
	p.timeout_ms = 300;
	s = conn_open(&p, &err);
	if (s == NULL)
		fail_msg("conn_open: %s", err.msg);
	expect_read_timeout(s);
	stream_close(s);
	server_stop(&srv);
}

static void
test_config_errors(void **state)
{
	struct conn_params p;
	struct server srv;
	char cert[600], key[600];
	int lfd;

	(void)state;
	lfd = listen_any(&srv.port);
	snprintf(srv.portstr, sizeof(srv.portstr), "%d", srv.port);
	params_init(&p, &srv, "127.0.0.1");
	p.timeout_ms = 500;
	p.ca_file = "/nonexistent/ca.pem";
	expect_fail(&p, PF_ECONFIG, "cannot read CA file '/nonexistent/");

	params_init(&p, &srv, "127.0.0.1");
	p.timeout_ms = 500;
	p.cert_file = certpath("client.pem", cert, sizeof(cert));
	p.key_file = certpath("localhost.key", key, sizeof(key));
	expect_fail(&p, PF_ECONFIG, "cannot load client key '");

	p.key_file = "/nonexistent/key.pem";
	expect_fail(&p, PF_ECONFIG, "cannot load client key");

	p.cert_file = "/nonexistent/cert.pem";
	expect_fail(&p, PF_ECONFIG, "cannot load client certificate");
	close(lfd);
}

static void
test_client_cert(void **state)
{
	struct srv_opts o = {
	    SRV_ECHO, "localhost-chain.pem", "localhost.key", 0, 0, NULL};
	struct conn_params p;
	struct server srv;
	char cert[600], key[600];

	(void)state;
	server_start(&o, &srv);
	params_init(&p, &srv, "localhost");
	p.cert_file = certpath("client.pem", cert, sizeof(cert));
	p.key_file = certpath("client.key", key, sizeof(key));
	assert_true(expect_ok(&p));
	assert_int_equal(server_stop(&srv), 0);
}

#define H16 "0123456789abcdef"
#define C16 "01:23:45:67:89:ab:cd:ef"

static void
test_parse_fingerprint(void **state)
{
	static const struct {
		const char *in;
		int rv;
	} cases[] = {
	    {H16 H16 H16 H16, 0},
	    {"0123456789ABCDEF" H16 "0123456789ABCDEF" H16, 0},
	    {C16 ":" C16 ":" C16 ":01:23:45:67:89:AB:CD:EF", 0},
	    {H16 H16 H16 "0123456789abcd", -1},	  /* 31 octets */
	    {H16 H16 H16 H16 "00", -1},		  /* 33 octets */
	    {H16 H16 H16 "0123456789abcdeg", -1}, /* non-hex */
	    {":" H16 H16 H16 H16, -1},
	    {H16 H16 H16 H16 ":", -1},
	    {"0:123456789abcdef" H16 H16 H16, -1},
	    {"01::23456789abcdef" H16 H16 H16, -1},
	    {H16 H16 " " H16 H16, -1},
	    {"", -1},
	};
	char out[65];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(out, 'x', sizeof(out));
		if (conn_parse_fingerprint(cases[i].in, out) != cases[i].rv)
			fail_msg("case %zu: \"%s\"", i, cases[i].in);
		if (cases[i].rv == 0)
			assert_string_equal(out, H16 H16 H16 H16);
	}
}

static const struct reject_case rc_wronghost = {"wronghost-chain.pem",
    "wronghost.key", "localhost", NULL, true, "hostname mismatch"};
static const struct reject_case rc_untrusted = {"localhost-chain.pem",
    "localhost.key", "localhost", NULL, false, "unable to get local"};
static const struct reject_case rc_expired = {"expired-chain.pem",
    "expired.key", "localhost", NULL, true, "certificate has expired"};
static const struct reject_case rc_notyet = {
    "notyet-chain.pem", "notyet.key", "localhost", NULL, true, "not yet valid"};
static const struct reject_case rc_selfsigned = {
    "selfsigned.pem", "selfsigned.key", "localhost", NULL, true, "self-signed"};
static const struct reject_case rc_cnonly = {"cnonly-chain.pem", "cnonly.key",
    "localhost", NULL, true, "hostname mismatch"};
static const struct reject_case rc_rsa1024 = {"rsa1024-chain.pem",
    "rsa1024.key", "localhost", NULL, true, "key too weak"};
static const struct reject_case rc_sha1 = {"sha1-chain.pem", "sha1.key",
    "localhost", NULL, true, "digest algorithm too weak"};
static const struct reject_case rc_nointer = {"viainter.pem", "viainter.key",
    "localhost", NULL, true, "unable to get local"};
static const struct reject_case rc_ipmismatch = {"wronghost-chain.pem",
    "wronghost.key", "127.0.0.1", NULL, true, "IP address mismatch"};
static const struct reject_case rc_wild_deep = {"wildcard-chain.pem",
    "wildcard.key", "127.0.0.1", "x.a.b.test", true, "hostname mismatch"};
static const struct reject_case rc_wild_base = {"wildcard-chain.pem",
    "wildcard.key", "127.0.0.1", "b.test", true, "hostname mismatch"};
static const struct reject_case rc_partial = {"partialwild-chain.pem",
    "partialwild.key", "127.0.0.1", "foo.b.test", true, "hostname mismatch"};
static const struct reject_case ac_chain = {
    "viainter-chain.pem", "viainter.key", "localhost", NULL, true, NULL};
static const struct reject_case ac_wild = {
    "wildcard-chain.pem", "wildcard.key", "127.0.0.1", "a.b.test", true, NULL};
static const struct reject_case ac_ipname = {"localhost-chain.pem",
    "localhost.key", "127.0.0.1", "localhost", true, NULL};

#define REJECT(c)                                 \
	cmocka_unit_test_prestate_setup_teardown( \
	    test_reject, NULL, NULL, (void *)(uintptr_t) & (c))
#define ACCEPT(c)                                 \
	cmocka_unit_test_prestate_setup_teardown( \
	    test_accept, NULL, NULL, (void *)(uintptr_t) & (c))

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_fingerprint),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_resolve_fail),
	    cmocka_unit_test(test_connect_timeout),
	    cmocka_unit_test(test_handshake_timeout),
	    cmocka_unit_test(test_good_localhost),
	    cmocka_unit_test(test_good_ip),
	    cmocka_unit_test(test_big_transfer),
	    REJECT(rc_wronghost),
	    REJECT(rc_untrusted),
	    REJECT(rc_expired),
	    REJECT(rc_notyet),
	    REJECT(rc_selfsigned),
	    REJECT(rc_cnonly),
	    REJECT(rc_rsa1024),
	    REJECT(rc_sha1),
	    REJECT(rc_nointer),
	    REJECT(rc_ipmismatch),
	    REJECT(rc_wild_deep),
	    REJECT(rc_wild_base),
	    REJECT(rc_partial),
	    ACCEPT(ac_chain),
	    ACCEPT(ac_wild),
	    ACCEPT(ac_ipname),
	    cmocka_unit_test(test_pin_match),
	    cmocka_unit_test(test_pin_mismatch),
	    cmocka_unit_test(test_pin_malformed),
	    cmocka_unit_test(test_insecure),
	    cmocka_unit_test(test_tls13_required),
	    cmocka_unit_test(test_tls11_server),
	    cmocka_unit_test(test_null_cipher_server),
	    cmocka_unit_test(test_plaintext_peer),
	    cmocka_unit_test(test_eof_without_close_notify),
	    cmocka_unit_test(test_starttls),
	    cmocka_unit_test(test_starttls_rejects_bad_cert),
	    cmocka_unit_test(test_read_timeout),
	    cmocka_unit_test(test_read_timeout_tickets),
	    cmocka_unit_test(test_config_errors),
	    cmocka_unit_test(test_client_cert),
	    cmocka_unit_test(test_ipv6_literal),
	    cmocka_unit_test(test_proxy_verifies_server_name),
	    cmocka_unit_test(test_source_address),
	    cmocka_unit_test(test_reach_conflicts),
	    cmocka_unit_test(test_parse_reach),
	    cmocka_unit_test(test_renegotiation_accepted),
	    cmocka_unit_test(test_renegotiation_cert_change),
	    cmocka_unit_test(test_ctx_shared),
	    cmocka_unit_test(test_system_store_lazy),
	    cmocka_unit_test(test_system_store_file),
	    cmocka_unit_test(test_system_file_deferred),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
