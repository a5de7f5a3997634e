/* summary.c: the summary line and the --json document. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "popfetch/progress.h"
#include "popfetch/sink.h"
#include "popfetch/summary.h"
#include "popfetch/xmalloc.h"

void
summary_line(char *buf, size_t sz, const struct fetch_stats *st)
{
	char size[32];

	progress_size(size, sizeof(size), (double)st->bytes);
	snprintf(buf, sz,
	    "%lu new, %lu delivered, %lu deleted, %lu left, %s, %.1f s",
	    st->fresh, st->fetched, st->deleted, st->left, size, st->seconds);
}

/* A growing string. */
struct sbuf {
	char *s;
	size_t len, cap;
};

static void
sb_add(struct sbuf *b, const char *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->s = xreallocarray(b->s, b->cap, 1);
	}
	memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void sb_printf(struct sbuf *b, const char *fmt, ...) PF_PRINTF(2, 3);
static void
sb_printf(struct sbuf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		sb_add(b, tmp,
		    (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* The length of the valid UTF-8 sequence at s (1 to 4), or 0. */
static size_t
utf8_len(const unsigned char *s)
{
	size_t n, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	for (i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	/* overlong forms, surrogates and code points past U+10FFFF */
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
		return 0;
	return n;
}

/* A JSON string, or null for NULL. */
static void
sb_json_str(struct sbuf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (s == NULL) {
		sb_add(b, "null", 4);
		return;
	}
	sb_add(b, "\"", 1);
	while (*p != '\0') {
		size_t n = utf8_len(p);

		if (*p == '"' || *p == '\\')
			sb_printf(b, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			sb_printf(b, "\\u%04x", *p);
		else if (n == 0)
			sb_add(b, "\\ufffd", 6);
		else
			sb_add(b, (const char *)p, n);
		p += n == 0 ? 1 : n;
	}
	sb_add(b, "\"", 1);
}

/* One account's object. */
static void
json_account(struct sbuf *b, const struct account *a,
    const struct runner_result *r, int (*exit_of)(enum pf_errc))
{
	const struct fetch_stats *s = &r->st;

	sb_add(b, "{\"account\":", 11);
	sb_json_str(b, a->name);
	sb_add(b, ",\"host\":", 8);
	sb_json_str(b, a->host);
	sb_add(b, ",\"user\":", 8);
	sb_json_str(b, a->user);
	sb_printf(b,
	    ",\"listed\":%lu,\"new\":%lu,\"fetched\":%lu,\"bytes\":%llu,"
	    "\"deleted\":%lu,\"left\":%lu,\"skipped\":%lu,\"errors\":%lu,",
	    s->listed, s->fresh, s->fetched, s->bytes, s->deleted, s->left,
	    s->skipped, s->errors + (r->ret < 0 && s->errors == 0 ? 1 : 0));
	/* A crash between a delivery and its record re-delivers at most
	 * this many messages: one where each delivery is final at once
	 * (MDA, stdout, LMTP, SMTP); none where the target keeps a trace
	 * (Maildir token, mbox pending record). docs/contract.md §4. */
	sb_add(b, "\"target\":", 9);
	sb_json_str(b, sink_kind_name(a->sink));
	sb_printf(b, ",\"crash_redelivery_max\":%d,",
	    (sink_kind_flags(a->sink) & SINK_FINAL_EACH) != 0 ? 1 : 0);
	sb_printf(b, "\"seconds\":%.3f,\"exit_code\":%d,\"error\":", s->seconds,
	    r->ret < 0 ? exit_of(r->err.code) : 0);
	sb_json_str(b, r->ret < 0 ? r->err.msg : NULL);
	sb_add(b, "}", 1);
}

char *
summary_json(const struct account *accts, const struct runner_result *res,
    size_t n, int status, int (*exit_of)(enum pf_errc))
{
	struct sbuf b = {NULL, 0, 0};
	size_t i;

	sb_add(&b, "{\"version\":", 11);
	sb_json_str(&b, POPFETCH_VERSION);
	sb_printf(&b, ",\"exit_code\":%d,\"accounts\":[", status);
	for (i = 0; i < n; i++) {
		if (i > 0)
			sb_add(&b, ",", 1);
		json_account(&b, &accts[i], &res[i], exit_of);
	}
	sb_add(&b, "]}\n", 3);
	return b.s;
}
