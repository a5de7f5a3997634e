/*
 * smtp-parse.c: the pure half of the SMTP/LMTP client (smtp.h): reply
 * lines, EHLO keywords, envelope addresses, delivery targets and the
 * DATA encoder. Nothing here does I/O, so all of it is unit-tested and
 * fuzzed on its own.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "popfetch/smtp.h"
#include "compat.h"

const char *const smtp_state_names[] = {
    [SMTP_ST_GREETING] = "GREETING",
    [SMTP_ST_READY] = "READY",
    [SMTP_ST_DATA] = "DATA",
    [SMTP_ST_CLOSED] = "CLOSED",
};

const char *const smtp_outcome_names[] = {
    [SMTP_DELIVERED] = "delivered",
    [SMTP_TEMPFAIL] = "tempfail",
    [SMTP_PERMFAIL] = "permfail",
};

/* Encoder states: where the next byte stands. */
enum {
	ENC_LINE_START = 0, /* first byte of the message or after LF */
	ENC_MID_LINE,
	ENC_AFTER_CR, /* right after a CR whose LF has not come (yet) */
};

int
smtp_parse_reply_line(
    const char *line, size_t len, bool *last, const char **text)
{
	if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' ||
	    line[1] > '5' || line[2] < '0' || line[2] > '9')
		return -1;
	if (len == 3) {
		*last = true;
		*text = line + 3;
	} else if (line[3] == ' ' || line[3] == '-') {
		*last = line[3] == ' ';
		*text = line + 4;
	} else {
		return -1;
	}
	return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
}

void
smtp_reply_init(struct smtp_reply *r)
{
	memset(r, 0, sizeof(*r));
}

/* A reply is one code over all its lines, and has an end. */
int
smtp_reply_feed(struct smtp_reply *r, const char *line, size_t len,
    const char **text, struct pf_err *err)
{
	const char *t;
	bool last;
	int code;

	if (r->done)
		return pf_err_set(err, PF_ESOFTWARE, "reply already complete");
	code = smtp_parse_reply_line(line, len, &last, &t);
	if (code < 0)
		return pf_err_set(err, PF_EPROTO, "not an SMTP reply line");
	if (r->lines > 0 && code != r->code)
		return pf_err_set(err, PF_EPROTO,
		    "reply code changes from %d to %d within one reply",
		    r->code, code);
	if (r->lines >= SMTP_REPLY_LINES_MAX)
		return pf_err_set(err, PF_EPROTO, "reply of more than %d lines",
		    SMTP_REPLY_LINES_MAX);
	if (r->lines == 0) {
		r->code = code;
		r->textlen = len - (size_t)(t - line);
		if (r->textlen >= sizeof(r->text))
			r->textlen = sizeof(r->text) - 1;
		memcpy(r->text, t, r->textlen);
		r->text[r->textlen] = '\0';
	}
	r->lines++;
	r->done = last;
	if (text != NULL)
		*text = t;
	return last ? 1 : 0;
}

/* Keywords are case-insensitive and end at a space (RFC 5321 4.1.1.1). */
static bool
capa_is(const char *text, size_t len, const char *kw, const char **param)
{
	size_t n = strlen(kw);

	if (len < n || strncasecmp(text, kw, n) != 0)
		return false;
	if (len > n && text[n] != ' ')
		return false;
	*param = len > n ? text + n + 1 : text + n;
	return true;
}

/* A SIZE limit: digits only, else "no limit given". */
static unsigned long long
capa_size(const char *p, const char *end)
{
	unsigned long long v = 0;

	if (p >= end)
		return 0;
	for (; p < end; p++) {
		if (*p < '0' || *p > '9')
			return 0;
		if (v > (~0ULL - 9) / 10)
			return 0;
		v = v * 10 + (unsigned long long)(*p - '0');
	}
	return v;
}

void
smtp_capa_line(struct smtp_capa *capa, const char *text, size_t len)
{
	const char *param;

	if (capa_is(text, len, "PIPELINING", &param))
		capa->pipelining = true;
	else if (capa_is(text, len, "8BITMIME", &param))
		capa->eightbitmime = true;
	else if (capa_is(text, len, "SMTPUTF8", &param))
		capa->smtputf8 = true;
	else if (capa_is(text, len, "STARTTLS", &param))
		capa->starttls = true;
	else if (capa_is(text, len, "CHUNKING", &param))
		capa->chunking = true;
	else if (capa_is(text, len, "ENHANCEDSTATUSCODES", &param))
		capa->enhancedstatuscodes = true;
	else if (capa_is(text, len, "SIZE", &param)) {
		capa->size = true;
		capa->size_max = capa_size(param, text + len);
	}
}

/* Length of the UTF-8 sequence at p (0: invalid or cut by end). */
static size_t
utf8_len(const unsigned char *p, const unsigned char *end)
{
	size_t n, i;
	unsigned long cp;

	if (p[0] < 0xc2 || p[0] > 0xf4)
		return 0;
	n = p[0] < 0xe0 ? 2 : p[0] < 0xf0 ? 3 : 4;
	if ((size_t)(end - p) < n)
		return 0;
	cp = p[0] & (0x7f >> n);
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	/* overlong forms, surrogates, beyond U+10FFFF */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

/* atext of RFC 5322 3.2.3, plus UTF-8 (RFC 6531). */
static bool
is_atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/*
 * Skip a local part at p: a dot-string or a quoted string. Returns the
 * end, or NULL when it is malformed.
 */
static const unsigned char *
skip_local(const unsigned char *p, const unsigned char *end)
{
	size_t n;
	bool atom = false;

	if (p < end && *p == '"') {
		for (p++; p < end && *p != '"'; p++) {
			if (*p == '\\') {
				if (++p == end || *p < 0x20 || *p > 0x7e ||
				    *p == '<' || *p == '>')
					return NULL;
			} else if (*p >= 0x80) {
				if ((n = utf8_len(p, end)) == 0)
					return NULL;
				p += n - 1;
			} else if (*p < 0x20 || *p == 0x7f || *p == '<' ||
			    *p == '>') {
				return NULL;
			}
		}
		return p < end ? p + 1 : NULL;
	}
	for (; p < end && *p != '@'; p++) {
		if (*p == '.') {
			if (!atom)
				return NULL;
			atom = false;
			continue;
		}
		if (*p >= 0x80) {
			if ((n = utf8_len(p, end)) == 0)
				return NULL;
			p += n - 1;
		} else if (!is_atext(*p)) {
			return NULL;
		}
		atom = true;
	}
	return atom ? p : NULL;
}

/* A domain: labels of letters, digits, '-' or UTF-8, or [literal]. */
static bool
domain_ok(const unsigned char *p, const unsigned char *end)
{
	size_t label = 0, n;

	if (p < end && *p == '[') {
		if (end - p < 3 || end[-1] != ']')
			return false;
		/* IPv4, "IPv6:..." or "tag:content": letters, digits and
		 * ":.-" are all real literals use */
		for (p++; p < end - 1; p++)
			if (!((*p >= 'a' && *p <= 'z') ||
				(*p >= 'A' && *p <= 'Z') ||
				(*p >= '0' && *p <= '9') || *p == ':' ||
				*p == '.' || *p == '-'))
				return false;
		return true;
	}
	for (; p < end; p++) {
		if (*p == '.') {
			if (label == 0 || p[-1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (*p >= 0x80) {
			if ((n = utf8_len(p, end)) == 0)
				return false;
			p += n - 1;
		} else if (*p == '-') {
			if (label == 0)
				return false;
		} else if (!((*p >= 'a' && *p <= 'z') ||
			       (*p >= 'A' && *p <= 'Z') ||
			       (*p >= '0' && *p <= '9'))) {
			return false;
		}
		if (++label > 63)
			return false;
	}
	return label > 0 && end[-1] != '-';
}

/* Strict enough that no address can end the <> or add a parameter. */
bool
smtp_address_ok(const char *addr)
{
	const unsigned char *p = (const unsigned char *)addr, *end, *at;
	size_t len = strlen(addr);

	if (len == 0 || len > SMTP_ADDR_MAX)
		return false;
	end = p + len;
	if ((at = skip_local(p, end)) == NULL)
		return false;
	if (at == end)
		return true;
	if (*at != '@')
		return false;
	return domain_ok(at + 1, end);
}

bool
smtp_address_utf8(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

bool
smtp_addr_is_loopback(const struct sockaddr *sa)
{
	const struct sockaddr_in6 *s6;
	const unsigned char *b;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		return (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family != AF_INET6)
		return false;
	s6 = (const struct sockaddr_in6 *)sa;
	if (IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr))
		return true;
	b = s6->sin6_addr.s6_addr;
	return IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr) && b[12] == 127;
}

/* A port is 1..65535 in decimal, nothing else. */
static bool
port_ok(const char *p)
{
	unsigned long v = 0;

	if (*p == '\0' || strlen(p) > 5)
		return false;
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	return v >= 1 && v <= 65535;
}

/* Split "host:port", "[v6]:port", "[v6]", "v6" or "host" into t. */
static int
split_host_port(const char *spec, struct smtp_target *t, struct pf_err *err)
{
	const char *colon, *close, *port = NULL;
	size_t hlen;

	if (spec[0] == '[') {
		if ((close = strchr(spec, ']')) == NULL)
			return pf_err_set(err, PF_EUSAGE,
			    "'%.80s': missing ']' after an IPv6 address", spec);
		hlen = (size_t)(close - spec - 1);
		if (close[1] == ':')
			port = close + 2;
		else if (close[1] != '\0')
			return pf_err_set(err, PF_EUSAGE,
			    "'%.80s': expected ':PORT' after ']'", spec);
		spec++;
	} else if ((colon = strchr(spec, ':')) != NULL &&
	    strchr(colon + 1, ':') == NULL) {
		hlen = (size_t)(colon - spec);
		port = colon + 1;
	} else {
		hlen = strlen(spec); /* a name, or a bare IPv6 literal */
	}
	if (hlen == 0 || hlen >= sizeof(t->host))
		return pf_err_set(err, PF_EUSAGE,
		    "'%.80s': the host name is empty or too long", spec);
	memcpy(t->host, spec, hlen);
	t->host[hlen] = '\0';
	if (port != NULL) {
		if (!port_ok(port))
			return pf_err_set(err, PF_EUSAGE,
			    "'%.80s': the port must be a number from 1 to "
			    "65535",
			    spec);
		strlcpy(t->port, port, sizeof(t->port));
	}
	return 0;
}

int
smtp_parse_target(const char *spec, enum smtp_proto proto,
    struct smtp_target *t, struct pf_err *err)
{
	memset(t, 0, sizeof(*t));
	t->proto = proto;
	strlcpy(t->port,
	    proto == SMTP_PROTO_LMTP ? LMTP_DEFAULT_PORT : SMTP_DEFAULT_PORT,
	    sizeof(t->port));
	if (spec == NULL || spec[0] == '\0')
		return pf_err_set(err, PF_EUSAGE, "no mail server given");
	if (spec[0] == '/') {
		if (proto != SMTP_PROTO_LMTP)
			return pf_err_set(err, PF_EUSAGE,
			    "'%.80s': a socket path is for LMTP only; SMTP "
			    "needs HOST[:PORT]",
			    spec);
		if (strlen(spec) >= sizeof(t->path))
			return pf_err_set(err, PF_EUSAGE,
			    "socket path '%.80s' is longer than %zu bytes",
			    spec, sizeof(t->path) - 1);
		t->is_unix = true;
		strlcpy(t->path, spec, sizeof(t->path));
		return 0;
	}
	return split_host_port(spec, t, err);
}

const char *
smtp_target_name(const struct smtp_target *t, char *out, size_t outsz)
{
	char host[4 * PF_SERVER_TEXT_MAX + 8];

	if (t->is_unix) {
		pf_sanitize(out, outsz, t->path, strlen(t->path));
		return out;
	}
	pf_sanitize(host, sizeof(host), t->host, strlen(t->host));
	if (strchr(host, ':') != NULL)
		snprintf(out, outsz, "[%s]:%s", host, t->port);
	else
		snprintf(out, outsz, "%s:%s", host, t->port);
	return out;
}

size_t
smtp_encode(struct smtp_enc *e, const char *in, size_t len, char *out)
{
	size_t i, o = 0;
	unsigned char st = e->st;

	for (i = 0; i < len; i++) {
		char c = in[i];

		if (c == '\n') {
			out[o++] = '\r';
			out[o++] = '\n';
			st = ENC_LINE_START;
			continue;
		}
		/* A '.' after a bare CR is doubled too: some servers take
		 * CR as a line end, and "<CR>.<CR>" must never look like the
		 * end of the data to them (SMTP smuggling). */
		if (c == '.' && st != ENC_MID_LINE)
			out[o++] = '.';
		out[o++] = c;
		st = c == '\r' ? ENC_AFTER_CR : ENC_MID_LINE;
	}
	e->st = st;
	return o;
}

size_t
smtp_encode_end(struct smtp_enc *e, char *out)
{
	size_t o = 0;

	/* Only an empty message or one ending in LF is at a line start;
	 * e->st is also ENC_LINE_START for an empty message. */
	if (e->st != ENC_LINE_START) {
		out[o++] = '\r';
		out[o++] = '\n';
	}
	memcpy(out + o, ".\r\n", 3);
	e->st = ENC_LINE_START;
	return o + 3;
}
