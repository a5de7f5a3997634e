/*
 * conn.c: open the path to the server (directly or from a source address
 * through conn-net.c, through a proxy with conn-proxy.c, or over a tunnel
 * command's stream) and set up TLS on it with chain, host-name or
 * fingerprint verification against the server's own name (conn.h).
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "popfetch/conn.h"
#include "popfetch/log.h"
#include "popfetch/proxy.h"
#include "popfetch/stream.h"
#include "popfetch/xmalloc.h"
#include "compat.h"
#include "conn-private.h"
#include "stream-private.h"

/* Where a client certificate's key is encrypted we fail, never prompt. */
static int
conn_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/*
 * True for "127.0.0.1" and "::1" style names, which get no SNI (RFC 6066
 * section 3) and are checked against IP SANs; ip gets the address without
 * an IPv6 zone ("fe80::1%eth0").
 */
static bool
conn_is_ip(const char *name, char *ip, size_t ipsz)
{
	struct in6_addr a6;
	struct in_addr a4;
	size_t len = strcspn(name, "%");

	if (len >= ipsz)
		return false;
	memcpy(ip, name, len);
	ip[len] = '\0';
	return inet_pton(AF_INET, ip, &a4) == 1 ||
	    inet_pton(AF_INET6, ip, &a6) == 1;
}

int
conn_parse_host(
    const char *in, char *host, size_t hostsz, char *port, size_t portsz)
{
	return proxy_split_hostport(in, host, hostsz, port, portsz);
}

/* Append s to the growing command as one single-quoted shell word. */
static void
conn_quote(char **out, size_t *len, size_t *cap, const char *s)
{
	size_t need = strlen(s) * 4 + 3;

	while (*len + need + 1 > *cap) {
		*cap *= 2;
		*out = xreallocarray(*out, *cap, 1);
	}
	(*out)[(*len)++] = '\'';
	for (; *s != '\0'; s++) {
		if (*s == '\'') {
			memcpy(*out + *len, "'\\''", 4);
			*len += 4;
		} else {
			(*out)[(*len)++] = *s;
		}
	}
	(*out)[(*len)++] = '\'';
	(*out)[*len] = '\0';
}

char *
conn_tunnel_command(
    const char *tmpl, const char *host, const char *port, struct pf_err *err)
{
	size_t len = 0, cap = strlen(tmpl) + 64;
	char *out = xmalloc(cap);
	const char *p;

	out[0] = '\0';
	for (p = tmpl; *p != '\0'; p++) {
		if (*p == '%' && p[1] == 'h') {
			conn_quote(&out, &len, &cap, host);
		} else if (*p == '%' && p[1] == 'p') {
			conn_quote(&out, &len, &cap, port);
		} else if (*p == '%' && p[1] == '%') {
			out[len++] = '%';
		} else if (*p == '%') {
			free(out);
			pf_err_set(err, PF_ECONFIG,
			    "unknown %%-sequence in the tunnel command: use %%h, %%p or %%%%");
			return NULL;
		} else {
			if (len + 2 > cap) {
				cap *= 2;
				out = xreallocarray(out, cap, 1);
			}
			out[len++] = *p;
			out[len] = '\0';
			continue;
		}
		out[len] = '\0';
		p++;
	}
	return out;
}

/* Upper-case, colon-separated hex of a digest, as people compare them. */
static void
conn_hex_colons(
    const unsigned char *md, unsigned int len, char *out, size_t outsz)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	unsigned int i;

	for (i = 0; i < len && o + 3 < outsz; i++) {
		if (i > 0)
			out[o++] = ':';
		out[o++] = hex[md[i] >> 4];
		out[o++] = hex[md[i] & 15];
	}
	out[o] = '\0';
}

int
conn_parse_fingerprint(const char *in, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;
	const char *p;

	for (p = in; *p != '\0'; p++) {
		char c = *p;

		if (c == ':') {
			/* only between octets: "ab:cd", never ":ab", "a:b" */
			if (n == 0 || n % 2 != 0 || p[-1] == ':' ||
			    p[1] == '\0')
				return -1;
			continue;
		}
		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (strchr(hex, c) == NULL || c == '\0' || n >= 64)
			return -1;
		out[n++] = c;
	}
	if (n != 64)
		return -1;
	out[64] = '\0';
	return 0;
}

/*
 * SHA-256 of the peer's leaf certificate as 64 lower-case hex digits and
 * in display form. Returns 0, or -1 when there is no certificate.
 */
static int
conn_peer_sha256(SSL *ssl, char plain[65], char *shown, size_t shownsz)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0, i;
	X509 *cert;
	int rv = -1;

#if OPENSSL_VERSION_NUMBER >= 0x30000000L
	cert = SSL_get1_peer_certificate(ssl);
#else
	cert = SSL_get_peer_certificate(ssl);
#endif
	if (cert == NULL)
		return -1;
	if (X509_digest(cert, EVP_sha256(), md, &len) == 1 && len == 32) {
		for (i = 0; i < len; i++) {
			plain[2 * i] = hex[md[i] >> 4];
			plain[2 * i + 1] = hex[md[i] & 15];
		}
		plain[64] = '\0';
		conn_hex_colons(md, len, shown, shownsz);
		rv = 0;
	}
	X509_free(cert);
	return rv;
}

/*
 * The lazy bundle: a look-up that reads the system's CA file into the
 * store the first time a chain needs a CA that is neither loaded already
 * (--ca-file, or found before) nor found by hash in the certificate
 * directory. Its method data is the file name until then.
 */
static X509_LOOKUP_METHOD *conn_lazy_method;
static size_t conn_lazy_users; /* look-ups of that method alive */

static int
conn_lazy_get(X509_LOOKUP *lu, X509_LOOKUP_TYPE type, const X509_NAME *name,
    X509_OBJECT *ret)
{
	char *file = X509_LOOKUP_get_method_data(lu);
	X509_STORE *st = X509_LOOKUP_get_store(lu);
	X509_OBJECT *o;
	X509 *x = NULL;
	int ok;

	if (file == NULL || type != X509_LU_X509)
		return 0;
	X509_LOOKUP_set_method_data(lu, NULL);
	log_debug("loading the system CA file '%s'", file);
	if (X509_load_cert_file(lu, file, X509_FILETYPE_PEM) <= 0) {
		log_debug("cannot load the system CA file '%s': %s", file,
		    stream_tls_reason());
		ERR_clear_error();
	}
	free(file);
	if (!X509_STORE_lock(st))
		return 0;
	o = X509_OBJECT_retrieve_by_subject(
	    X509_STORE_get0_objects(st), type, name);
	if (o != NULL)
		x = X509_OBJECT_get0_X509(o);
	ok = x != NULL && X509_OBJECT_set1_X509(ret, x) == 1;
	X509_STORE_unlock(st);
	/* the store keeps x; the caller takes a reference of its own */
	if (ok)
		X509_free(x);
	return ok;
}

/* A store going away frees its look-ups; the method goes with the last
 * one (a stream may outlive the context cache). */
static void
conn_lazy_free(X509_LOOKUP *lu)
{
	free(X509_LOOKUP_get_method_data(lu));
	if (--conn_lazy_users == 0) {
		X509_LOOKUP_meth_free(conn_lazy_method);
		conn_lazy_method = NULL;
	}
}

/*
 * Trust the system store lazily: CAs are looked up by subject hash in
 * OpenSSL's certificate directory (SSL_CERT_DIR when set) when a chain
 * needs one, and the bundle file (SSL_CERT_FILE when set) is read only
 * when that finds nothing, instead of being parsed for every context
 * (docs/internals.md, "TLS contexts").
 */
static void
conn_trust_system(SSL_CTX *ctx)
{
	const char *dirs = getenv(X509_get_default_cert_dir_env());
	const char *file = getenv(X509_get_default_cert_file_env());
	X509_STORE *st = SSL_CTX_get_cert_store(ctx);
	X509_LOOKUP *lu;

	if (dirs == NULL || dirs[0] == '\0')
		dirs = X509_get_default_cert_dir();
	if (file == NULL || file[0] == '\0')
		file = X509_get_default_cert_file();
	lu = X509_STORE_add_lookup(st, X509_LOOKUP_hash_dir());
	if (lu == NULL ||
	    X509_LOOKUP_add_dir(lu, dirs, X509_FILETYPE_PEM) != 1) {
		log_debug("cannot use the system CA directory '%s': %s", dirs,
		    stream_tls_reason());
		ERR_clear_error();
	}
	if (conn_lazy_method == NULL &&
	    ((conn_lazy_method = X509_LOOKUP_meth_new("popfetch lazy file")) ==
		    NULL ||
		X509_LOOKUP_meth_set_get_by_subject(
		    conn_lazy_method, conn_lazy_get) != 1 ||
		X509_LOOKUP_meth_set_free(conn_lazy_method, conn_lazy_free) !=
		    1)) {
		X509_LOOKUP_meth_free(conn_lazy_method);
		conn_lazy_method = NULL;
	}
	if (conn_lazy_method == NULL ||
	    (lu = X509_STORE_add_lookup(st, conn_lazy_method)) == NULL) {
		if (conn_lazy_users == 0) {
			X509_LOOKUP_meth_free(conn_lazy_method);
			conn_lazy_method = NULL;
		}
		/* cannot defer it: read the bundle now, as OpenSSL would */
		if (SSL_CTX_load_verify_locations(ctx, file, NULL) != 1)
			log_debug("cannot load the system CA file '%s': %s",
			    file, stream_tls_reason());
		ERR_clear_error();
		return;
	}
	conn_lazy_users++;
	X509_LOOKUP_set_method_data(lu, xstrdup(file));
}

/* Load the trust anchors of --ca-file and the client certificate. */
static int
conn_ctx_files(SSL_CTX *ctx, const struct conn_params *p, struct pf_err *err)
{
	int fd;

	if (p->ca_file != NULL) {
		if ((fd = open(p->ca_file, O_RDONLY | O_CLOEXEC)) == -1)
			return pf_err_sys(err, PF_ECONFIG,
			    "cannot read CA file '%s'", p->ca_file);
		close(fd);
		if (SSL_CTX_load_verify_locations(ctx, p->ca_file, NULL) != 1)
			return pf_err_set(err, PF_ECONFIG,
			    "cannot load CA file '%s': %s", p->ca_file,
			    stream_tls_reason());
	}
	if (p->cert_file == NULL && p->key_file != NULL)
		return pf_err_set(err, PF_ECONFIG,
		    "client key '%s' given without a certificate", p->key_file);
	if (p->cert_file != NULL) {
		const char *key =
		    p->key_file != NULL ? p->key_file : p->cert_file;

		if (SSL_CTX_use_certificate_chain_file(ctx, p->cert_file) != 1)
			return pf_err_set(err, PF_ECONFIG,
			    "cannot load client certificate '%s': %s",
			    p->cert_file, stream_tls_reason());
		if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) !=
		    1)
			return pf_err_set(err, PF_ECONFIG,
			    "cannot load client key '%s': %s", key,
			    stream_tls_reason());
		if (SSL_CTX_check_private_key(ctx) != 1)
			return pf_err_set(err, PF_ECONFIG,
			    "client key '%s' does not match certificate '%s'",
			    key, p->cert_file);
	}
	return 0;
}

/*
 * Build a context for one TLS setup: versions, trust anchors, client
 * certificate. Verification is set per connection (SSL_set_verify), so
 * verifying, pinned and --insecure connections share it.
 */
static SSL_CTX *
conn_ctx_new(const struct conn_params *p, struct pf_err *err)
{
	SSL_CTX *ctx;

	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		pf_err_set(err, PF_ESOFTWARE, "cannot create TLS context: %s",
		    stream_tls_reason());
		return NULL;
	}
	if (SSL_CTX_set_min_proto_version(
		ctx, p->tls_min == 13 ? TLS1_3_VERSION : TLS1_2_VERSION) != 1) {
		pf_err_set(err, PF_ESOFTWARE, "cannot set TLS version: %s",
		    stream_tls_reason());
		goto fail;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION);
	/* Read whole socket buffers, not a record header and then its body:
	 * half the read(2) calls. Reads always try SSL_read() before
	 * polling, so bytes buffered this way are never waited for. */
	SSL_CTX_set_read_ahead(ctx, 1);
	/* We never start a renegotiation. One the server starts (TLS 1.2)
	 * is accepted when it is secure (RFC 5746); legacy ones are refused,
	 * and the certificate may not change (stream-tls.c). */
	SSL_CTX_clear_options(ctx, SSL_OP_ALLOW_UNSAFE_LEGACY_RENEGOTIATION);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
	/* EOF without close_notify reads as EOF; pop3 judges truncation */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
	SSL_CTX_set_mode(ctx,
	    SSL_MODE_ENABLE_PARTIAL_WRITE |
		SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* SSL_read returns after each record that carries no data (a
	 * session ticket, a key update), so the stream's deadline is looked
	 * at between them; with AUTO_RETRY a peer could keep one call busy
	 * forever (docs/faults.md #99). */
	SSL_CTX_clear_mode(ctx, SSL_MODE_AUTO_RETRY);
	/* never below 2, so RSA-1024 keys and SHA-1 signatures are refused */
	if (SSL_CTX_get_security_level(ctx) < 2)
		SSL_CTX_set_security_level(ctx, 2);
	SSL_CTX_set_default_passwd_cb(ctx, conn_no_passphrase);
	/* a --ca-file adds anchors: the system store stays trusted too
	 * (docs/popfetchrc.5, ca_file) */
	conn_trust_system(ctx);
	if (conn_ctx_files(ctx, p, err) == -1)
		goto fail;
	return ctx;
fail:
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return NULL;
}

/* Whether the handshake failed because the answer was no TLS at all (a
 * "+OK" greeting read as a record header). */
static bool
conn_not_tls(void)
{
	unsigned long e = ERR_peek_last_error();

	if (ERR_GET_LIB(e) != ERR_LIB_SSL)
		return false;
	switch (ERR_GET_REASON(e)) {
	case SSL_R_WRONG_VERSION_NUMBER:
	case SSL_R_UNKNOWN_PROTOCOL:
	case SSL_R_PACKET_LENGTH_TOO_LONG:
	case SSL_R_RECORD_LENGTH_MISMATCH:
	case SSL_R_HTTP_REQUEST:
		return true;
	default:
		return false;
	}
}

/*
 * The contexts of this process, one per distinct TLS setup (the settings
 * conn_ctx_new() reads), shared by every connection and, built before
 * the -j workers fork, by every worker.
 */
struct conn_ctx_entry {
	char *ca_file, *cert_file, *key_file;
	int tls_min;
	SSL_CTX *ctx;
};
static struct conn_ctx_entry *conn_ctxs;
static size_t conn_nctxs;

static bool
conn_same(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static char *
conn_strdup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

/* The cached context for p's setup, built on first use; borrowed. */
static SSL_CTX *
conn_ctx_get(const struct conn_params *p, struct pf_err *err)
{
	int tls_min = p->tls_min == 13 ? 13 : 12;
	struct conn_ctx_entry *e;
	SSL_CTX *ctx;
	size_t i;

	for (i = 0; i < conn_nctxs; i++) {
		e = &conn_ctxs[i];
		if (e->tls_min == tls_min &&
		    conn_same(e->ca_file, p->ca_file) &&
		    conn_same(e->cert_file, p->cert_file) &&
		    conn_same(e->key_file, p->key_file))
			return e->ctx;
	}
	if ((ctx = conn_ctx_new(p, err)) == NULL)
		return NULL;
	conn_ctxs =
	    xreallocarray(conn_ctxs, conn_nctxs + 1, sizeof(*conn_ctxs));
	e = &conn_ctxs[conn_nctxs++];
	e->ca_file = conn_strdup_or_null(p->ca_file);
	e->cert_file = conn_strdup_or_null(p->cert_file);
	e->key_file = conn_strdup_or_null(p->key_file);
	e->tls_min = tls_min;
	e->ctx = ctx;
	return ctx;
}

int
conn_tls_prepare(const struct conn_params *p, struct pf_err *err)
{
	if (p->tls == CONN_TLS_NONE)
		return 0;
	return conn_ctx_get(p, err) != NULL ? 0 : -1;
}

size_t
conn_tls_contexts(void)
{
	return conn_nctxs;
}

size_t
conn_tls_anchors(void)
{
	size_t i, total = 0;
	int j;

	for (i = 0; i < conn_nctxs; i++) {
		STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(
		    SSL_CTX_get_cert_store(conn_ctxs[i].ctx));

		for (j = 0; j < sk_X509_OBJECT_num(objs); j++)
			if (X509_OBJECT_get_type(
				sk_X509_OBJECT_value(objs, j)) == X509_LU_X509)
				total++;
	}
	return total;
}

void
conn_tls_cache_free(void)
{
	size_t i;

	for (i = 0; i < conn_nctxs; i++) {
		SSL_CTX_free(conn_ctxs[i].ctx);
		free(conn_ctxs[i].ca_file);
		free(conn_ctxs[i].cert_file);
		free(conn_ctxs[i].key_file);
	}
	free(conn_ctxs);
	conn_ctxs = NULL;
	conn_nctxs = 0;
}

/*
 * Word a failed handshake: a rejected certificate or a refused protocol
 * is PF_ENOPERM, a reset or EOF is PF_ETEMP (a timeout is already in err).
 */
static void
conn_handshake_error(SSL *ssl, int sslerr, bool verify, bool implicit,
    const char *name, const char *hostport, struct pf_err *err)
{
	long vr;

	if (sslerr == 0) {
		pf_err_prefix(err, "TLS handshake with '%s'", hostport);
		return;
	}
	if (sslerr == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
		if (errno != 0)
			pf_err_sys(err, PF_ETEMP,
			    "TLS handshake with '%s' failed", hostport);
		else
			pf_err_set(err, PF_ETEMP,
			    "TLS handshake with '%s' "
			    "failed: connection closed by the server",
			    hostport);
		return;
	}
	vr = SSL_get_verify_result(ssl);
	if (verify && vr != X509_V_OK) {
		pf_err_set(err, PF_ENOPERM,
		    "certificate verification failed for '%s': %s; trust its "
		    "CA with --ca-file, or check its fingerprint with "
		    "--serverinfo and pin it with --fingerprint",
		    name, X509_verify_cert_error_string(vr));
		return;
	}
	if (sslerr == SSL_ERROR_ZERO_RETURN ||
	    (ERR_GET_LIB(ERR_peek_last_error()) == ERR_LIB_SSL &&
		ERR_GET_REASON(ERR_peek_last_error()) ==
		    SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
		pf_err_set(err, PF_ETEMP,
		    "TLS handshake with '%s' failed: "
		    "connection closed by the server",
		    hostport);
		return;
	}
	pf_err_set(err, PF_ENOPERM, "TLS handshake with '%s' failed: %s%s",
	    hostport, stream_tls_reason(),
	    implicit && conn_not_tls()
		? "; the server does not speak TLS on this port: for a plain "
		  "POP3 port use --starttls (or the TLS port, 995)"
		: "");
}

/* Shared by implicit TLS and STARTTLS: set up, handshake, verify, attach. */
static int
conn_tls_start(struct stream *s, const struct conn_params *p, const char *port,
    struct pf_err *err)
{
	const char *name = p->verify_name != NULL ? p->verify_name : p->host;
	char want[65], got[65], shown[100], hostport[CONN_HOSTPORT_MAX];
	char sni[256], ip[INET6_ADDRSTRLEN + 8];
	bool pinned = p->fingerprint != NULL;
	bool verify = !p->insecure && !pinned;
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	int sslerr;

	conn_net_hostport(p->host, port, hostport, sizeof(hostport));
	if (pinned && conn_parse_fingerprint(p->fingerprint, want) == -1) {
		char safe[PF_SERVER_TEXT_MAX + 8];

		pf_sanitize(
		    safe, sizeof(safe), p->fingerprint, strlen(p->fingerprint));
		return pf_err_set(err, PF_EUSAGE,
		    "invalid fingerprint '%s': "
		    "expected 32 octets of SHA-256 in hex",
		    safe);
	}
	if ((ctx = conn_ctx_get(p, err)) == NULL)
		return -1;
	if ((ssl = SSL_new(ctx)) == NULL || SSL_set_fd(ssl, s->fd) != 1) {
		pf_err_set(err, PF_ESOFTWARE, "cannot set up TLS: %s",
		    stream_tls_reason());
		goto fail;
	}
	SSL_set_verify(ssl, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
	SSL_set_hostflags(ssl,
	    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
		X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
	if (conn_is_ip(name, ip, sizeof(ip))) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), ip) !=
		    1) {
			pf_err_set(err, PF_ESOFTWARE,
			    "cannot verify address '%s'", name);
			goto fail;
		}
	} else if (strlcpy(sni, name, sizeof(sni)) >= sizeof(sni) ||
	    SSL_set_tlsext_host_name(ssl, sni) != 1 ||
	    SSL_set1_host(ssl, name) != 1) {
		pf_err_set(err, PF_EUSAGE,
		    "cannot use '%s' as a TLS host name: %s", name,
		    stream_tls_reason());
		goto fail;
	}

	log_debug("TLS handshake with %s", hostport);
	if (stream_tls_handshake(s, ssl, p->timeout_ms, &sslerr, err) == -1) {
		/* a tunnel command that died is the story, not the EOF */
		if (!stream_tunnel_failed(
			s, sslerr == 0 ? 0 : STREAM_CHILD_EXIT_WAIT_MS, err))
			conn_handshake_error(ssl, sslerr, verify,
			    p->tls == CONN_TLS_IMPLICIT, name, hostport, err);
		goto fail;
	}
	if (pinned) {
		if (conn_peer_sha256(ssl, got, shown, sizeof(shown)) == -1) {
			pf_err_set(err, PF_ENOPERM,
			    "no certificate from '%s' to check the pin", name);
			goto fail;
		}
		if (strcmp(got, want) != 0) {
			pf_err_set(err, PF_ENOPERM,
			    "certificate fingerprint mismatch for '%s': got %s",
			    name, shown);
			goto fail;
		}
	}
	log_debug("%s with %s", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
	SSL_CTX_up_ref(ctx); /* the stream frees its reference */
	stream_tls_attach(s, ctx, ssl,
	    pinned || (verify && SSL_get_verify_result(ssl) == X509_V_OK));
	return 0;
fail:
	ERR_clear_error();
	SSL_free(ssl);
	return -1;
}

/* The port to use when the caller gave none. */
static const char *
conn_port(const struct conn_params *p)
{
	if (p->port != NULL)
		return p->port;
	return p->tls == CONN_TLS_IMPLICIT ? "995" : "110";
}

/*
 * The parameters with the host in plain form: brackets removed, and a
 * port given with the host used when p->port is NULL. hbuf holds the host
 * and pbuf the port.
 */
static int
conn_norm(const struct conn_params *p, struct conn_params *q, char *hbuf,
    size_t hbufsz, char *pbuf, size_t pbufsz, struct pf_err *err)
{
	*q = *p;
	if (p->host == NULL || p->host[0] == '\0')
		return pf_err_set(err, PF_EUSAGE, "no server host name given");
	if (conn_parse_host(p->host, hbuf, hbufsz, pbuf, pbufsz) == -1) {
		/* not host[:port] syntax: leave it to the resolver */
		if (strlcpy(hbuf, p->host, hbufsz) >= hbufsz)
			return pf_err_set(
			    err, PF_EUSAGE, "server host name too long");
		pbuf[0] = '\0';
	}
	q->host = hbuf;
	if (q->port == NULL && pbuf[0] != '\0')
		q->port = pbuf;
	if (p->proxy != NULL && p->tunnel != NULL)
		return pf_err_set(err, PF_ECONFIG,
		    "proxy and tunnel cannot be used together: choose one");
	if (p->tunnel != NULL && p->source_address != NULL)
		return pf_err_set(err, PF_ECONFIG,
		    "source_address does not apply to a tunnel command");
	return 0;
}

/* The tunnel command's stream to host:port. */
static struct stream *
conn_tunnel(const struct conn_params *q, const char *port, struct pf_err *err)
{
	struct stream *s;
	char *cmd;

	if ((cmd = conn_tunnel_command(q->tunnel, q->host, port, err)) == NULL)
		return NULL;
	log_debug("starting tunnel command: %s", cmd);
	s = stream_tunnel_new(cmd, q->timeout_ms, err);
	free(cmd);
	return s;
}

struct stream *
conn_open(const struct conn_params *p, struct pf_err *err)
{
	char host[PROXY_NAME_MAX + 1], hport[8];
	struct conn_params q;
	const char *port;
	struct stream *s;
	int fd;

	if (conn_norm(p, &q, host, sizeof(host), hport, sizeof(hport), err) ==
	    -1)
		return NULL;
	port = conn_port(&q);
	if (q.tunnel != NULL) {
		if ((s = conn_tunnel(&q, port, err)) == NULL)
			return NULL;
	} else {
		if (q.proxy != NULL)
			fd = conn_proxy_connect(&q, port, err);
		else
			fd = conn_net_connect(
			    q.host, port, q.family, &q, "", err);
		if (fd == -1)
			return NULL;
		s = stream_tcp_new(fd, q.timeout_ms);
	}
	if (q.tls == CONN_TLS_IMPLICIT &&
	    conn_tls_start(s, &q, port, err) == -1) {
		stream_close(s);
		return NULL;
	}
	return s;
}

int
conn_starttls(struct stream *s, const struct conn_params *p, struct pf_err *err)
{
	char host[PROXY_NAME_MAX + 1], hport[8];
	struct conn_params q;

	if (stream_is_tls(s))
		return pf_err_set(err, PF_ESOFTWARE,
		    "connection is already protected by TLS");
	if (conn_norm(p, &q, host, sizeof(host), hport, sizeof(hport), err) ==
	    -1)
		return -1;
	return conn_tls_start(s, &q, conn_port(&q), err);
}

/* Print an X509 name or time via a memory BIO into a sanitized buffer. */
static void
conn_bio_text(BIO *bio, char *out, size_t outsz)
{
	char *data = NULL;
	long len;

	len = BIO_get_mem_data(bio, &data);
	if (len < 0 || data == NULL)
		len = 0;
	pf_sanitize(out, outsz, data != NULL ? data : "", (size_t)len);
	(void)BIO_reset(bio);
}

bool
conn_tls_verified(const struct stream *s)
{
	return stream_is_tls(s) &&
	    ((const struct stream_tls *)s->impl)->verified;
}

int
conn_tls_info(const struct stream *s, struct conn_tls_info *out)
{
	const struct stream_tls *t;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	X509 *cert;
	BIO *bio;
	long vr;

	memset(out, 0, sizeof(*out));
	if (!stream_is_tls(s))
		return -1;
	t = s->impl;
	strlcpy(out->version, SSL_get_version(t->ssl), sizeof(out->version));
	strlcpy(out->cipher, SSL_get_cipher_name(t->ssl), sizeof(out->cipher));
	out->verified = t->verified;
	vr = SSL_get_verify_result(t->ssl);
	out->verify_ok = vr == X509_V_OK;
	if (!out->verify_ok)
		strlcpy(out->verify_error, X509_verify_cert_error_string(vr),
		    sizeof(out->verify_error));
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
	cert = SSL_get1_peer_certificate(t->ssl);
#else
	cert = SSL_get_peer_certificate(t->ssl);
#endif
	if (cert == NULL)
		return 0;
	if ((bio = BIO_new(BIO_s_mem())) != NULL) {
		if (X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0,
			XN_FLAG_ONELINE) >= 0)
			conn_bio_text(bio, out->subject, sizeof(out->subject));
		if (X509_NAME_print_ex(bio, X509_get_issuer_name(cert), 0,
			XN_FLAG_ONELINE) >= 0)
			conn_bio_text(bio, out->issuer, sizeof(out->issuer));
		if (ASN1_TIME_print(bio, X509_get0_notBefore(cert)) == 1)
			conn_bio_text(
			    bio, out->not_before, sizeof(out->not_before));
		if (ASN1_TIME_print(bio, X509_get0_notAfter(cert)) == 1)
			conn_bio_text(
			    bio, out->not_after, sizeof(out->not_after));
		BIO_free(bio);
	}
	if (X509_digest(cert, EVP_sha256(), md, &mdlen) == 1)
		conn_hex_colons(md, mdlen, out->sha256, sizeof(out->sha256));
	X509_free(cert);
	ERR_clear_error();
	return 0;
}
