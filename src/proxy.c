/*
 * proxy.c: proxy URLs and the SOCKS5 and HTTP CONNECT messages, built and
 * measured in caller buffers (proxy.h).
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "popfetch/crypto.h"
#include "popfetch/proxy.h"
#include "compat.h"

const char *const proxy_kind_names[] = {"socks5", "socks5h", "http"};

/*
 * True for a character allowed in a host name or address we pass on: no
 * control character, space or URL delimiter (8-bit bytes pass, for names
 * a SOCKS5 or HTTP proxy resolves).
 */
static bool
proxy_host_char(char c)
{
	unsigned char u = (unsigned char)c;

	return u > ' ' && u != 0x7f && strchr("/\"'@[]\\", c) == NULL;
}

/* A decimal port 1..65535 in s[0..len) copied to port. Returns 0 or -1. */
static int
proxy_port(const char *s, size_t len, char *port, size_t portsz)
{
	unsigned long v = 0;
	size_t i;

	if (len == 0 || len > 5 || len >= portsz)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -1;
	snprintf(port, portsz, "%lu", v);
	return 0;
}

int
proxy_split_hostport(
    const char *in, char *host, size_t hostsz, char *port, size_t portsz)
{
	const char *h = in, *colon, *hend;
	size_t i, hlen;

	if (portsz == 0 || hostsz == 0)
		return -1;
	port[0] = '\0';
	host[0] = '\0';
	if (in[0] == '[') {
		h = in + 1;
		if ((hend = strchr(h, ']')) == NULL)
			return -1;
		if (hend[1] == ':') {
			if (proxy_port(
				hend + 2, strlen(hend + 2), port, portsz) < 0)
				return -1;
		} else if (hend[1] != '\0') {
			return -1;
		}
		if (memchr(h, ':', (size_t)(hend - h)) == NULL)
			return -1; /* brackets are for IPv6 only */
	} else {
		colon = strchr(in, ':');
		hend = in + strlen(in);
		if (colon != NULL && strchr(colon + 1, ':') == NULL) {
			if (proxy_port(
				colon + 1, strlen(colon + 1), port, portsz) < 0)
				return -1;
			hend = colon;
		}
	}
	hlen = (size_t)(hend - h);
	if (hlen == 0 || hlen >= hostsz)
		return -1;
	for (i = 0; i < hlen; i++)
		if (!proxy_host_char(h[i]))
			return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	return 0;
}

/* Decode the %XX escapes of a URL's user part, refusing controls. */
static int
proxy_unescape(const char *in, size_t len, char *out, size_t outsz)
{
	const char *c;

	if (crypto_pct_decode(in, len, false, out, outsz) < 0)
		return -1;
	for (c = out; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return -1;
	return 0;
}

int
proxy_parse_url(const char *url, struct proxy_url *out, struct pf_err *err)
{
	static const struct {
		const char *prefix;
		enum proxy_kind kind;
	} schemes[] = {
	    {"socks5://", PROXY_SOCKS5},
	    {"socks5h://", PROXY_SOCKS5H},
	    {"http://", PROXY_HTTP},
	};
	char rest[PROXY_NAME_MAX + 16];
	const char *p = NULL, *at;
	size_t i, len;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		len = strlen(schemes[i].prefix);
		if (strncasecmp(url, schemes[i].prefix, len) == 0) {
			p = url + len;
			out->kind = schemes[i].kind;
			break;
		}
	}
	if (p == NULL)
		return pf_err_set(err, PF_ECONFIG,
		    "unsupported proxy URL: use socks5://, socks5h:// or http://HOST:PORT");
	if ((at = strrchr(p, '@')) != NULL) {
		if (memchr(p, ':', (size_t)(at - p)) != NULL)
			return pf_err_set(err, PF_ECONFIG,
			    "a password in the proxy URL is refused: give it with proxy_password_command");
		if (at == p ||
		    proxy_unescape(
			p, (size_t)(at - p), out->user, sizeof(out->user)) < 0)
			return pf_err_set(err, PF_ECONFIG,
			    "invalid user name in the proxy URL");
		/* Basic authentication cannot carry a ':' in the user id */
		if (out->kind == PROXY_HTTP && strchr(out->user, ':') != NULL)
			return pf_err_set(err, PF_ECONFIG,
			    "an HTTP proxy user name cannot hold ':'");
		p = at + 1;
	}
	len = strlen(p);
	if (len > 0 && p[len - 1] == '/')
		len--;
	if (len >= sizeof(rest))
		return pf_err_set(err, PF_ECONFIG, "proxy host name too long");
	memcpy(rest, p, len);
	rest[len] = '\0';
	if (proxy_split_hostport(rest, out->host, sizeof(out->host), out->port,
		sizeof(out->port)) < 0)
		return pf_err_set(err, PF_ECONFIG,
		    "invalid proxy address '%s': expected HOST:PORT or [ADDRESS]:PORT",
		    rest);
	if (out->port[0] == '\0') {
		if (out->kind == PROXY_HTTP)
			return pf_err_set(err, PF_ECONFIG,
			    "the HTTP proxy URL needs a port (http://HOST:PORT)");
		strlcpy(out->port, "1080", sizeof(out->port));
	}
	return 0;
}

size_t
proxy_socks_greeting(bool auth, unsigned char out[PROXY_SOCKS_GREETING_MAX])
{
	out[0] = 5; /* VER */
	if (!auth) {
		out[1] = 1;
		out[2] = 0x00; /* no authentication required */
		return 3;
	}
	out[1] = 2;
	out[2] = 0x00;
	out[3] = 0x02; /* user name and password */
	return 4;
}

size_t
proxy_socks_auth_request(const char *user, const char *pass,
    unsigned char out[PROXY_SOCKS_AUTH_MAX], struct pf_err *err)
{
	size_t ulen = strlen(user), plen = pass != NULL ? strlen(pass) : 0;

	if (ulen == 0 || ulen > PROXY_NAME_MAX || plen > PROXY_NAME_MAX) {
		pf_err_set(err, PF_ECONFIG,
		    "the SOCKS5 user name and password must be 1 to 255 and 0 to 255 octets");
		return 0;
	}
	out[0] = 1; /* RFC 1929 version */
	out[1] = (unsigned char)ulen;
	memcpy(out + 2, user, ulen);
	out[2 + ulen] = (unsigned char)plen;
	if (plen > 0)
		memcpy(out + 3 + ulen, pass, plen);
	return 3 + ulen + plen;
}

size_t
proxy_socks_connect_request(const char *host, const char *port,
    unsigned char out[PROXY_SOCKS_REQUEST_MAX], struct pf_err *err)
{
	struct in6_addr a6;
	struct in_addr a4;
	char tmp[8];
	unsigned long pn;
	size_t n = 4, hlen = strlen(host);

	if (proxy_port(port, strlen(port), tmp, sizeof(tmp)) < 0) {
		pf_err_set(err, PF_ECONFIG, "invalid port '%s'", port);
		return 0;
	}
	pn = strtoul(tmp, NULL, 10);
	out[0] = 5; /* VER */
	out[1] = 1; /* CONNECT */
	out[2] = 0; /* RSV */
	if (inet_pton(AF_INET, host, &a4) == 1) {
		out[3] = 1;
		memcpy(out + n, &a4, 4);
		n += 4;
	} else if (inet_pton(AF_INET6, host, &a6) == 1) {
		out[3] = 4;
		memcpy(out + n, &a6, 16);
		n += 16;
	} else {
		if (hlen == 0 || hlen > PROXY_NAME_MAX) {
			pf_err_set(err, PF_ECONFIG,
			    "host name too long for SOCKS5 (at most 255 octets)");
			return 0;
		}
		out[3] = 3;
		out[n++] = (unsigned char)hlen;
		memcpy(out + n, host, hlen);
		n += hlen;
	}
	out[n++] = (unsigned char)(pn >> 8);
	out[n++] = (unsigned char)(pn & 0xff);
	return n;
}

/* SOCKS5 reply codes (RFC 1928 section 6), and Tor's extended ones. */
static const struct {
	int rep;
	enum pf_errc code;
	const char *text;
} proxy_socks_replies[] = {
    {0, PF_OK, "succeeded"},
    {1, PF_ETEMP, "general SOCKS server failure"},
    {2, PF_ENOPERM, "connection not allowed by ruleset"},
    {3, PF_ETEMP, "network unreachable"},
    {4, PF_ETEMP, "host unreachable"},
    {5, PF_ETEMP, "connection refused"},
    {6, PF_ETEMP, "TTL expired"},
    {7, PF_EUNAVAIL, "command not supported"},
    {8, PF_EUNAVAIL, "address type not supported"},
    {0xf0, PF_ETEMP, "onion service descriptor not found"},
    {0xf1, PF_EUNAVAIL, "onion service descriptor is invalid"},
    {0xf2, PF_ETEMP, "onion service introduction failed"},
    {0xf3, PF_ETEMP, "onion service rendezvous failed"},
    {0xf4, PF_ENOPERM, "onion service client authorization missing"},
    {0xf5, PF_ENOPERM, "onion service client authorization is wrong"},
    {0xf6, PF_EUNAVAIL, "invalid onion service address"},
    {0xf7, PF_ETEMP, "onion service introduction timed out"},
};

const char *
proxy_socks_reply_text(int rep, enum pf_errc *code)
{
	size_t i;

	for (i = 0;
	     i < sizeof(proxy_socks_replies) / sizeof(proxy_socks_replies[0]);
	     i++) {
		if (proxy_socks_replies[i].rep == rep) {
			*code = proxy_socks_replies[i].code;
			return proxy_socks_replies[i].text;
		}
	}
	*code = PF_EPROTO;
	return "unknown reply code";
}

/* A first octet that is not SOCKS5: an HTTP proxy says "HTTP/..." here. */
static int
proxy_not_socks(unsigned char v, struct pf_err *err)
{
	return pf_err_set(err, PF_EPROTO,
	    "does not speak SOCKS5 (its reply starts with 0x%02x)", v);
}

/* The CONNECT reply: REP first, then the bound address to skip. */
static int
proxy_socks_connect_reply(
    const unsigned char *buf, size_t len, int *value, struct pf_err *err)
{
	enum pf_errc code;
	const char *text;
	size_t need;

	if (buf[0] != 5)
		return proxy_not_socks(buf[0], err);
	if (len < 2)
		return 0;
	*value = buf[1];
	if (buf[1] != 0) {
		text = proxy_socks_reply_text(buf[1], &code);
		return pf_err_set(
		    err, code, "%s (SOCKS reply %d)", text, buf[1]);
	}
	if (len < 4)
		return 0;
	if (buf[2] != 0)
		return pf_err_set(err, PF_EPROTO,
		    "sent a malformed reply (reserved octet %d)", buf[2]);
	switch (buf[3]) {
	case 1:
		need = 4 + 4 + 2;
		break;
	case 4:
		need = 4 + 16 + 2;
		break;
	case 3:
		if (len < 5)
			return 0;
		if (buf[4] == 0)
			return pf_err_set(err, PF_EPROTO,
			    "sent a malformed reply (empty bound name)");
		need = 5 + (size_t)buf[4] + 2;
		break;
	default:
		return pf_err_set(err, PF_EPROTO,
		    "sent a malformed reply (address type %d)", buf[3]);
	}
	return len < need ? 0 : (int)need;
}

int
proxy_socks_parse(enum proxy_socks_step step, bool auth_offered,
    const unsigned char *buf, size_t len, int *value, struct pf_err *err)
{
	if (len == 0)
		return 0;
	switch (step) {
	case PROXY_SOCKS_METHOD:
		if (buf[0] != 5)
			return proxy_not_socks(buf[0], err);
		if (len < 2)
			return 0;
		*value = buf[1];
		if (buf[1] == 0xff)
			return pf_err_set(err, PF_ENOPERM,
			    auth_offered
				? "accepts none of our authentication methods (none, user name and password)"
				: "requires authentication: give a user in the proxy URL and a proxy_password_command");
		if (buf[1] == 0x00 || (buf[1] == 0x02 && auth_offered))
			return 2;
		return pf_err_set(err, PF_EPROTO,
		    "chose authentication method %d, which was not offered",
		    buf[1]);
	case PROXY_SOCKS_AUTH:
		/* RFC 1929 says version 1; some servers answer 5 */
		if (buf[0] != 1 && buf[0] != 5)
			return pf_err_set(err, PF_EPROTO,
			    "sent a malformed authentication reply (version %d)",
			    buf[0]);
		if (len < 2)
			return 0;
		*value = buf[1];
		if (buf[1] != 0)
			return pf_err_set(err, PF_ENOPERM,
			    "rejected the user name or password (status %d)",
			    buf[1]);
		return 2;
	case PROXY_SOCKS_CONNECT:
		return proxy_socks_connect_reply(buf, len, value, err);
	}
	return pf_err_set(err, PF_ESOFTWARE, "unknown SOCKS5 step");
}

/* True when s holds no control character (so it cannot split a header). */
static bool
proxy_printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* Append "Proxy-Authorization: Basic base64(user:pass)" at out + n. */
static size_t
proxy_http_basic(const char *user, const char *pass, char *out, size_t n,
    size_t outsz, struct pf_err *err)
{
	unsigned char cred[2 * PROXY_NAME_MAX + 2];
	unsigned char b64[((sizeof(cred) + 2) / 3) * 4 + 1];
	size_t ulen = strlen(user), plen = pass != NULL ? strlen(pass) : 0;
	int blen, w;

	if (strchr(user, ':') != NULL || ulen > PROXY_NAME_MAX ||
	    plen > PROXY_NAME_MAX) {
		pf_err_set(err, PF_ECONFIG,
		    "the proxy user name must not hold ':' and user and password must be at most 255 octets");
		return 0;
	}
	memcpy(cred, user, ulen);
	cred[ulen] = ':';
	if (plen > 0)
		memcpy(cred + ulen + 1, pass, plen);
	blen = EVP_EncodeBlock(b64, cred, (int)(ulen + 1 + plen));
	explicit_bzero(cred, sizeof(cred));
	w = blen < 0 ? -1
		     : snprintf(out + n, outsz - n,
			   "Proxy-Authorization: Basic %s\r\n", (char *)b64);
	explicit_bzero(b64, sizeof(b64));
	if (w < 0 || (size_t)w >= outsz - n) {
		pf_err_set(err, PF_ECONFIG, "proxy credentials too long");
		return 0;
	}
	return n + (size_t)w;
}

size_t
proxy_http_request(const char *host, const char *port, const char *user,
    const char *pass, char out[PROXY_HTTP_REQUEST_MAX], struct pf_err *err)
{
	char authority[PROXY_NAME_MAX + 16];
	size_t n;
	int w;

	if (!proxy_printable(host) || strchr(host, ' ') != NULL ||
	    (user != NULL && !proxy_printable(user)) ||
	    strlen(host) > PROXY_NAME_MAX) {
		pf_err_set(err, PF_ECONFIG,
		    "cannot send '%s' in an HTTP CONNECT request", host);
		return 0;
	}
	w = snprintf(authority, sizeof(authority),
	    strchr(host, ':') != NULL ? "[%s]:%s" : "%s:%s", host, port);
	if (w < 0 || (size_t)w >= sizeof(authority)) {
		pf_err_set(err, PF_ECONFIG, "host name too long");
		return 0;
	}
	w = snprintf(out, PROXY_HTTP_REQUEST_MAX,
	    "CONNECT %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: popfetch/%s\r\n",
	    authority, authority, POPFETCH_VERSION);
	if (w < 0 || (size_t)w >= PROXY_HTTP_REQUEST_MAX) {
		pf_err_set(err, PF_ECONFIG, "host name too long");
		return 0;
	}
	n = (size_t)w;
	if (user != NULL && user[0] != '\0') {
		n = proxy_http_basic(
		    user, pass, out, n, PROXY_HTTP_REQUEST_MAX, err);
		if (n == 0)
			return 0;
	}
	if (n + 3 > PROXY_HTTP_REQUEST_MAX) {
		pf_err_set(err, PF_ECONFIG, "proxy request too long");
		return 0;
	}
	memcpy(out + n, "\r\n", 3);
	return n + 2;
}

/* The status line "HTTP/1.x NNN[ reason]" in line[0..len), CR removed. */
static int
proxy_http_status(const char *line, size_t len, struct proxy_http_reply *out,
    struct pf_err *err)
{
	size_t i;

	if (len < 12 || memcmp(line, "HTTP/1.", 7) != 0 || line[7] < '0' ||
	    line[7] > '9' || line[8] != ' ' || (len > 12 && line[12] != ' '))
		goto bad;
	out->status = 0;
	for (i = 9; i < 12; i++) {
		if (line[i] < '0' || line[i] > '9')
			goto bad;
		out->status = out->status * 10 + (line[i] - '0');
	}
	if (out->status < 100 || out->status > 599)
		goto bad;
	if (len > 13)
		pf_sanitize(
		    out->reason, sizeof(out->reason), line + 13, len - 13);
	else
		out->reason[0] = '\0';
	return 0;
bad:
	pf_sanitize(out->reason, sizeof(out->reason), line, len);
	return pf_err_set(
	    err, PF_EPROTO, "sent a malformed status line '%s'", out->reason);
}

int
proxy_http_parse(const char *buf, size_t len, struct proxy_http_reply *out,
    struct pf_err *err)
{
	static const char magic[] = "HTTP/1.";
	size_t limit = len < PROXY_HTTP_REPLY_MAX ? len : PROXY_HTTP_REPLY_MAX;
	size_t start, llen;
	const char *nl;

	memset(out, 0, sizeof(*out));
	if (memcmp(buf, magic, limit < 7 ? limit : 7) != 0)
		return pf_err_set(err, PF_EPROTO,
		    "does not speak HTTP (its reply does not start with 'HTTP/1.')");
	if (memchr(buf, '\0', limit) != NULL)
		return pf_err_set(
		    err, PF_EPROTO, "sent a NUL byte in its reply header");
	for (start = 0;; start += llen + 1) {
		nl = memchr(buf + start, '\n', limit - start);
		if (nl == NULL)
			break;
		llen = (size_t)(nl - (buf + start));
		if (start == 0) {
			if (llen > 0 && buf[llen - 1] == '\r')
				llen--;
			if (proxy_http_status(buf, llen, out, err) < 0)
				return -1;
			llen = (size_t)(nl - buf);
		} else if (llen == 0 || (llen == 1 && buf[start] == '\r')) {
			return (int)(start + llen + 1);
		}
	}
	if (limit == PROXY_HTTP_REPLY_MAX)
		return pf_err_set(err, PF_EPROTO,
		    "sent a reply header longer than %d bytes",
		    PROXY_HTTP_REPLY_MAX);
	return 0;
}

enum pf_errc
proxy_http_errc(int status)
{
	if (status >= 200 && status <= 299)
		return PF_OK;
	if (status == 401 || status == 403 || status == 407)
		return PF_ENOPERM;
	if (status == 408 || status == 429)
		return PF_ETEMP;
	if (status >= 400 && status <= 499)
		return PF_EUNAVAIL;
	if (status == 501)
		return PF_EUNAVAIL;
	if (status >= 500 && status <= 599)
		return PF_ETEMP;
	return PF_EPROTO;
}
