/*
 * state.c: the seen-message state of one account, a CRC-checked journal
 * of text records compacted atomically, with a keyed hash table in
 * memory. Also the names of the per-account files of the state
 * directory and the %XX escape used in them.
 */
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "popfetch/crypto.h"
#include "popfetch/err.h"
#include "popfetch/fileio.h"
#include "popfetch/log.h"
#include "popfetch/num.h"
#include "popfetch/state.h"
#include "popfetch/xmalloc.h"
#include "compat.h"

#define STATE_MAGIC	    "popfetch-state"
#define STATE_VERSION	    "1"
#define STATE_NAME_MAX	    100		/* longest account file base name */
#define STATE_COMPACT_SLACK (64 * 1024) /* journal slack before compaction */
#define STATE_MIN_FREE	    (64 * 1024) /* free space the state dir needs at start */
#define STATE_TMP_TRIES	    100

/* One record in the hash table; r.uid points at uid[]. */
struct ent {
	struct state_rec r;
	size_t linelen; /* its line's length in a compacted file */
	char uid[];
};

/* A growing byte buffer for record lines. */
struct buf {
	char *p;
	size_t len;
	size_t cap;
};

struct state {
	char *dir;
	char *path;	  /* DIR/<file>.state */
	char *esc_id;	  /* escaped account id, as in the header */
	int fd;		  /* O_APPEND fd; -1: the next flush rewrites */
	off_t file_size;  /* bytes of good records in the file */
	off_t trunc_to;	  /* >= 0: cut a torn tail here before appending */
	struct ent **tab; /* open addressing, linear probing */
	uint64_t *hashes; /* tab[i]'s hash, probed without a cache miss */
	size_t cap;	  /* power of two */
	size_t count;
	size_t live_bytes; /* size of the file once compacted */
	size_t hdr_len;
	size_t login_len; /* length of the live L line, 0 when none */
	time_t last_login;
	unsigned long login_delay; /* the LOGIN-DELAY then, in seconds */
	struct buf pend;	   /* record lines not yet flushed */
	uint64_t k0, k1;	   /* hash key */
};

static uint32_t crc_table[256];
static bool crc_ready;

/* Build the IEEE CRC-32 table once (reflected polynomial 0xedb88320). */
static void
crc_init(void)
{
	uint32_t c;
	int i, k;

	for (i = 0; i < 256; i++) {
		c = (uint32_t)i;
		for (k = 0; k < 8; k++)
			c = (c & 1) ? 0xedb88320U ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
	crc_ready = true;
}

/* CRC-32 as zlib computes it, so a record can be checked with any tool. */
static uint32_t
crc32_buf(const char *p, size_t n)
{
	uint32_t c = 0xffffffffU;
	size_t i;

	if (!crc_ready)
		crc_init();
	for (i = 0; i < n; i++)
		c = crc_table[(c ^ (unsigned char)p[i]) & 0xff] ^ (c >> 8);
	return c ^ 0xffffffffU;
}

/* Rotate left, for SipHash. */
static uint64_t
rotl64(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

#define SIPROUND                     \
	do {                         \
		v0 += v1;            \
		v1 = rotl64(v1, 13); \
		v1 ^= v0;            \
		v0 = rotl64(v0, 32); \
		v2 += v3;            \
		v3 = rotl64(v3, 16); \
		v3 ^= v2;            \
		v0 += v3;            \
		v3 = rotl64(v3, 21); \
		v3 ^= v0;            \
		v2 += v1;            \
		v1 = rotl64(v1, 17); \
		v1 ^= v2;            \
		v2 = rotl64(v2, 32); \
	} while (0)

/*
 * Keyed SipHash-1-3: UIDs come from the server, so a keyed hash keeps a
 * hostile server from forcing every UID into one probe chain.
 */
static uint64_t
siphash(uint64_t k0, uint64_t k1, const char *p, size_t n)
{
	uint64_t v0 = k0 ^ 0x736f6d6570736575ULL;
	uint64_t v1 = k1 ^ 0x646f72616e646f6dULL;
	uint64_t v2 = k0 ^ 0x6c7967656e657261ULL;
	uint64_t v3 = k1 ^ 0x7465646279746573ULL;
	uint64_t m, b = (uint64_t)n << 56;
	const unsigned char *s = (const unsigned char *)p;
	size_t i, blocks = n / 8;
	int k;

	for (i = 0; i < blocks; i++, s += 8) {
		m = 0;
		for (k = 7; k >= 0; k--)
			m = (m << 8) | s[k];
		v3 ^= m;
		SIPROUND;
		v0 ^= m;
	}
	for (k = (int)(n & 7) - 1; k >= 0; k--)
		b |= (uint64_t)s[k] << (8 * k);
	v3 ^= b;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* Make room for n more bytes (plus a NUL) in b. */
static void
buf_reserve(struct buf *b, size_t n)
{
	size_t want = b->len + n + 1;

	if (want <= b->cap)
		return;
	if (b->cap == 0)
		b->cap = 256;
	while (b->cap < want)
		b->cap *= 2;
	b->p = xreallocarray(b->p, b->cap, 1);
}

static void buf_addf(struct buf *b, const char *fmt, ...) PF_PRINTF(2, 3);

/* Append printf-style text; record lines are built this way. */
static void
buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	buf_reserve(b, (size_t)n);
	va_start(ap, fmt);
	(void)vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* Seal the line that starts at b->p[start] with its CRC; returns its size. */
static size_t
buf_seal(struct buf *b, size_t start)
{
	uint32_t crc = crc32_buf(b->p + start, b->len - start);

	buf_addf(b, " %08lx\n", (unsigned long)crc);
	return b->len - start;
}

char *
state_escape(const char *uid, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out, *o;
	size_t i;

	out = xreallocarray(NULL, len + 1, 3);
	o = out;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)uid[i];

		if (c < 0x21 || c > 0x7e || c == '%') {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		} else
			*o++ = (char)c;
	}
	*o = '\0';
	return out;
}

char *
state_unescape(const char *s)
{
	size_t n = strlen(s);
	char *out = xmalloc(n + 1), *o = out;
	int hi, lo;

	while (*s != '\0') {
		unsigned char c = (unsigned char)*s;

		if (c < 0x21 || c > 0x7e)
			goto bad;
		if (c != '%') {
			*o++ = *s++;
			continue;
		}
		if ((hi = crypto_hexval(s[1])) < 0 ||
		    (lo = crypto_hexval(s[2])) < 0)
			goto bad;
		if (hi == 0 && lo == 0)
			goto bad; /* a NUL cannot live in a C string */
		*o++ = (char)(hi << 4 | lo);
		s += 3;
	}
	*o = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

char *
state_account_path(const char *dir, const char *account_id, const char *suffix)
{
	char *name = state_account_file(account_id);
	char *path = xasprintf("%s/%s.%s", dir, name, suffix);

	free(name);
	return path;
}

char *
state_account_file(const char *account_id)
{
	static const char hex[] = "0123456789ABCDEF";
	char hash[17];
	size_t i, n = strlen(account_id), cut;
	struct buf b = {NULL, 0, 0};

	buf_reserve(&b, n * 3);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)account_id[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		    c == '_' || c == '@')
			b.p[b.len++] = (char)c;
		else {
			b.p[b.len++] = '%';
			b.p[b.len++] = hex[c >> 4];
			b.p[b.len++] = hex[c & 15];
		}
	}
	b.p[b.len] = '\0';
	if (b.len <= STATE_NAME_MAX)
		return b.p;

	/* Keep a readable prefix (never half an escape), then a hash. */
	cut = STATE_NAME_MAX - 17;
	for (i = cut >= 2 ? cut - 2 : 0; i < cut; i++)
		if (b.p[i] == '%') {
			cut = i;
			break;
		}
	if (crypto_sha256_hex(account_id, n, 8, hash) == -1)
		strlcpy(hash, "0000000000000000", sizeof(hash)); /* stable */
	b.len = cut;
	buf_addf(&b, "-%s", hash);
	return b.p;
}

/* The table slot holding uid, or the empty slot where it would go. */
static size_t
slot_of(const struct state *st, const char *uid, uint64_t h)
{
	size_t mask = st->cap - 1, i = (size_t)h & mask;

	while (st->tab[i] != NULL) {
		if (st->hashes[i] == h && strcmp(st->tab[i]->uid, uid) == 0)
			break;
		i = (i + 1) & mask;
	}
	return i;
}

/* Double the table, keeping the load factor at most one half. */
static void
tab_grow(struct state *st)
{
	struct ent **old = st->tab;
	uint64_t *oldh = st->hashes;
	size_t oldcap = st->cap, i, j, mask;

	st->cap = oldcap ? oldcap * 2 : 64;
	st->tab = xcalloc(st->cap, sizeof(*st->tab));
	st->hashes = xcalloc(st->cap, sizeof(*st->hashes));
	mask = st->cap - 1;
	for (i = 0; i < oldcap; i++) {
		if (old[i] == NULL)
			continue;
		j = (size_t)oldh[i] & mask;
		while (st->tab[j] != NULL)
			j = (j + 1) & mask;
		st->tab[j] = old[i];
		st->hashes[j] = oldh[i];
	}
	free(old);
	free(oldh);
}

/* Find the entry for uid, or NULL. */
static struct ent *
ent_get(const struct state *st, const char *uid, uint64_t h)
{
	return st->tab[slot_of(st, uid, h)];
}

/* Insert or update the entry for uid, keeping live_bytes right. */
static void
ent_put(struct state *st, const char *uid, uint64_t h, unsigned long long size,
    time_t first_seen, char kind, size_t linelen)
{
	size_t i, n;
	struct ent *e;

	if ((st->count + 1) * 2 > st->cap)
		tab_grow(st);
	i = slot_of(st, uid, h);
	if ((e = st->tab[i]) == NULL) {
		n = strlen(uid);
		e = xmalloc(sizeof(*e) + n + 1);
		memcpy(e->uid, uid, n + 1);
		e->r.uid = e->uid;
		e->linelen = 0;
		st->tab[i] = e;
		st->hashes[i] = h;
		st->count++;
	}
	st->live_bytes -= e->linelen;
	st->live_bytes += linelen;
	e->linelen = linelen;
	e->r.size = size;
	e->r.first_seen = first_seen;
	e->r.kind = kind;
}

/* Remove uid's entry; backward shifting keeps probe chains unbroken. */
static void
ent_del(struct state *st, const char *uid, uint64_t h)
{
	size_t mask = st->cap - 1, i = slot_of(st, uid, h), j, k;

	if (st->tab[i] == NULL)
		return;
	st->live_bytes -= st->tab[i]->linelen;
	free(st->tab[i]);
	st->tab[i] = NULL;
	st->count--;
	for (j = (i + 1) & mask; st->tab[j] != NULL; j = (j + 1) & mask) {
		k = (size_t)st->hashes[j] & mask;
		/* Move tab[j] into the hole unless its home lies in (i, j]. */
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		st->tab[i] = st->tab[j];
		st->hashes[i] = st->hashes[j];
		st->tab[j] = NULL;
		i = j;
	}
}

/* Hash a UID with this state's key. */
static uint64_t
uid_hash(const struct state *st, const char *uid)
{
	return siphash(st->k0, st->k1, uid, strlen(uid));
}

/* Append a D/K line for a record to b; returns the line's length. */
static size_t
add_rec_line(struct buf *b, const char *esc, unsigned long long size,
    time_t first_seen, char kind)
{
	size_t start = b->len;

	buf_addf(b, "%c %s %llu %lld", kind, esc, size, (long long)first_seen);
	return buf_seal(b, start);
}

/* Append the header line to b; returns its length. */
static size_t
add_header_line(struct buf *b, const char *esc_id)
{
	size_t start = b->len;

	buf_addf(b, "%s %s %s", STATE_MAGIC, STATE_VERSION, esc_id);
	return buf_seal(b, start);
}

/* Append an L line to b ("L TIME", or "L TIME DELAY" when the server
 * announced a LOGIN-DELAY); returns its length. */
static size_t
add_login_line(struct buf *b, time_t t, unsigned long delay)
{
	size_t start = b->len;

	if (delay > 0)
		buf_addf(b, "L %lld %lu", (long long)t, delay);
	else
		buf_addf(b, "L %lld", (long long)t);
	return buf_seal(b, start);
}

/* Allocate an empty state for account_id in dir. */
static struct state *
state_new(const char *dir, const char *account_id)
{
	struct state *st = xcalloc(1, sizeof(*st));
	struct buf hb = {NULL, 0, 0};
	unsigned char key[16];
	int i;

	st->dir = xstrdup(dir);
	st->path = state_account_path(dir, account_id, "state");
	st->esc_id = state_escape(account_id, strlen(account_id));
	st->fd = -1;
	st->trunc_to = -1;
	st->hdr_len = add_header_line(&hb, st->esc_id);
	free(hb.p);
	st->live_bytes = st->hdr_len;
	if (RAND_bytes(key, sizeof(key)) != 1) {
		/* Weaker, but the table still works. */
		uint64_t t = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;

		memcpy(key, &t, 8);
		memcpy(key + 8, &st, sizeof(st) < 8 ? sizeof(st) : 8);
	}
	for (i = 0; i < 8; i++) {
		st->k0 = st->k0 << 8 | key[i];
		st->k1 = st->k1 << 8 | key[8 + i];
	}
	tab_grow(st);
	return st;
}

/* Parse a decimal time, possibly negative; -1 when it is not one. */
static int
parse_time(const char *s, time_t *out)
{
	unsigned long long v;
	bool neg = false;

	if (*s == '-') {
		neg = true;
		s++;
	}
	if (num_parse_all(s, (unsigned long long)LLONG_MAX, &v) == -1)
		return -1;
	*out = (time_t)(neg ? -(long long)v : (long long)v);
	return 0;
}

/* Split s at every space (empty fields kept); returns the field count. */
static int
split(char *s, char **f, int max)
{
	int n = 0;

	for (;;) {
		if (n == max)
			return max + 1;
		f[n++] = s;
		if ((s = strchr(s, ' ')) == NULL)
			return n;
		*s++ = '\0';
	}
}

int
state_check_owner(const char *path, const struct stat *sb, const char *what,
    struct pf_err *err)
{
	if (sb->st_uid != geteuid() && sb->st_uid != 0)
		return pf_err_set(err, PF_ECANTCREAT,
		    "state %s '%s' belongs to uid %lu, not to you (uid %lu): "
		    "another user may have made it; remove it, or choose a "
		    "directory of your own with --state-dir",
		    what, path, (unsigned long)sb->st_uid,
		    (unsigned long)geteuid());
	if ((sb->st_mode & (S_IWGRP | S_IWOTH)) != 0)
		return pf_err_set(err, PF_ECANTCREAT,
		    "state %s '%s' is writable by group or others (mode "
		    "%04o): check its contents, then run 'chmod go-w %s'",
		    what, path, (unsigned)(sb->st_mode & 07777), path);
	return 0;
}

/* Report corruption with the advice the user needs. */
static int
corrupt(
    const struct state *st, struct pf_err *err, size_t line, const char *why)
{
	return pf_err_set(err, PF_EDATA,
	    "state file '%s' is corrupt (line %zu): %s; move it away to start "
	    "over (this re-fetches everything)",
	    st->path, line, why);
}

/* True when line[0..n) ends in " xxxxxxxx" holding the CRC of the rest. */
static bool
crc_ok(const char *line, size_t n)
{
	uint32_t want = 0;
	size_t i;
	int v;

	if (n < 9 || line[n - 9] != ' ')
		return false;
	for (i = n - 8; i < n; i++) {
		if ((line[i] < '0' || line[i] > '9') &&
		    (line[i] < 'a' || line[i] > 'f'))
			return false;
		v = crypto_hexval(line[i]);
		want = want << 4 | (uint32_t)v;
	}
	return crc32_buf(line, n - 9) == want;
}

/* Check the header fields (line 1, CRC already checked). */
static int
parse_header(struct state *st, char *s, struct pf_err *err)
{
	char *f[4], shown[64], why[200];
	int n = split(s, f, 3);

	if (n < 2 || strcmp(f[0], STATE_MAGIC) != 0)
		return corrupt(st, err, 1, "not a popfetch state file");
	if (strcmp(f[1], STATE_VERSION) != 0) {
		pf_sanitize(shown, sizeof(shown), f[1], strlen(f[1]));
		snprintf(why, sizeof(why), "unsupported version '%s'", shown);
		return corrupt(st, err, 1, why);
	}
	if (n != 3)
		return corrupt(st, err, 1, "bad header");
	if (strcmp(f[2], st->esc_id) != 0) {
		pf_sanitize(shown, sizeof(shown), f[2], strlen(f[2]));
		snprintf(why, sizeof(why), "it belongs to account '%s'", shown);
		return corrupt(st, err, 1, why);
	}
	return 0;
}

/* Apply one record line (CRC already checked) to the state. */
static int
parse_record(struct state *st, char *s, size_t linelen, size_t lineno,
    struct pf_err *err)
{
	char *f[5], *uid;
	unsigned long long size;
	time_t t;
	int n = split(s, f, 4);

	if (strcmp(f[0], "D") == 0 || strcmp(f[0], "K") == 0) {
		if (n != 4 || num_parse_all(f[2], ULLONG_MAX, &size) == -1 ||
		    parse_time(f[3], &t) == -1)
			return corrupt(st, err, lineno, "bad record");
		if ((uid = state_unescape(f[1])) == NULL)
			return corrupt(st, err, lineno, "bad uid escape");
		ent_put(st, uid, uid_hash(st, uid), size, t, f[0][0], linelen);
		free(uid);
	} else if (strcmp(f[0], "F") == 0) {
		if (n != 2)
			return corrupt(st, err, lineno, "bad record");
		if ((uid = state_unescape(f[1])) == NULL)
			return corrupt(st, err, lineno, "bad uid escape");
		ent_del(st, uid, uid_hash(st, uid));
		free(uid);
	} else if (strcmp(f[0], "S") == 0) {
		/* The synced-length marker: read by synced_mark_after(). */
		if (n != 2 || num_parse_all(f[1], ULLONG_MAX, &size) == -1)
			return corrupt(st, err, lineno, "bad record");
	} else if (strcmp(f[0], "L") == 0) {
		if ((n != 2 && n != 3) || parse_time(f[1], &t) == -1 ||
		    (n == 3 &&
			num_parse_all(f[2], STATE_LOGIN_DELAY_MAX, &size) ==
			    -1))
			return corrupt(st, err, lineno, "bad record");
		st->last_login = t;
		st->login_delay = n == 3 ? (unsigned long)size : 0;
		st->live_bytes -= st->login_len;
		st->login_len = t != 0 ? linelen : 0;
		st->live_bytes += st->login_len;
	} else
		return corrupt(st, err, lineno, "unknown record");
	return 0;
}

/*
 * The largest synced length that an intact "S" line at or after pos
 * states (0 if none). Every S line was true when written, synced or not.
 */
static unsigned long long
synced_mark_after(const char *p, size_t len, size_t pos)
{
	unsigned long long max = 0, v;
	char num[32];
	const char *line, *nl;
	size_t n;

	for (; pos < len; pos += n + 1) {
		line = p + pos;
		if ((nl = memchr(line, '\n', len - pos)) == NULL)
			break;
		n = (size_t)(nl - line);
		if (n < 12 || n - 9 - 2 >= sizeof(num) || line[0] != 'S' ||
		    line[1] != ' ' || !crc_ok(line, n) ||
		    memchr(line, '\0', n) != NULL)
			continue;
		memcpy(num, line + 2, n - 9 - 2);
		num[n - 9 - 2] = '\0';
		if (num_parse_all(num, ULLONG_MAX, &v) == 0 && v > max)
			max = v;
	}
	return max;
}

/*
 * The first bad line starts at pos. It is the end of a write that was
 * never synced, so never acted on (docs/faults.md #79), and is dropped,
 * when it is the last line, or when a power cut shows (NUL bytes from a
 * lost page) and no synced-length marker says that pos was synced.
 * Anything else is corruption (PF_EDATA).
 */
static int
bad_line(struct state *st, const char *p, size_t len, size_t pos, size_t lineno,
    struct pf_err *err)
{
	const char *nl = memchr(p + pos, '\n', len - pos);

	if (nl != NULL && nl + 1 != p + len) {
		if (synced_mark_after(p, len, pos) > pos ||
		    memchr(p + pos, '\0', len - pos) == NULL)
			return corrupt(st, err, lineno, "bad checksum");
		log_warning("state file '%s': dropping %zu bytes written after "
			    "the last sync (torn by a power cut)",
		    st->path, len - pos);
	} else
		log_warning("state file '%s': %s", st->path,
		    "dropping a torn last record");
	st->trunc_to = (off_t)pos;
	return 0;
}

/* Apply the whole file image p[0..len); sets file_size and trunc_to. */
static int
parse_file(struct state *st, char *p, size_t len, struct pf_err *err)
{
	size_t pos = 0, lineno = 0, n;
	char *line, *nl;

	if (len == 0)
		return corrupt(st, err, 1, "the file is empty");
	while (pos < len) {
		lineno++;
		line = p + pos;
		nl = memchr(line, '\n', len - pos);
		n = nl != NULL ? (size_t)(nl - line) : len - pos;
		if (nl == NULL || !crc_ok(line, n)) {
			if (lineno == 1)
				return corrupt(st, err, 1, "bad header");
			if (bad_line(st, p, len, pos, lineno, err) == -1)
				return -1;
			break;
		}
		if (memchr(line, '\0', n) != NULL)
			return corrupt(st, err, lineno, "NUL byte");
		line[n - 9] = '\0';
		if (lineno == 1) {
			if (parse_header(st, line, err) == -1)
				return -1;
		} else if (parse_record(st, line, n + 1, lineno, err) == -1)
			return -1;
		pos += n + 1;
	}
	st->file_size = st->trunc_to >= 0 ? st->trunc_to : (off_t)len;
	return 0;
}

/*
 * Refuse to start with a state directory too full to rewrite the state
 * (need bytes): better to stop before connecting than to deliver and then
 * be unable to record it (docs/faults.md #62).
 */
static int
check_space(const char *state_dir, unsigned long long need, struct pf_err *err)
{
	struct statvfs vfs;
	unsigned long long avail;

	if (statvfs(state_dir, &vfs) == -1)
		return 0; /* cannot tell: the writes will say */
	avail =
	    (unsigned long long)(geteuid() == 0 ? vfs.f_bfree : vfs.f_bavail) *
	    vfs.f_frsize;
	if (avail < need)
		return pf_err_set(err, PF_ECANTCREAT,
		    "state directory '%s' is full (%llu bytes free, %llu needed)",
		    state_dir, avail, need);
	return 0;
}

struct state *
state_load(const char *state_dir, const char *account_id, struct pf_err *err)
{
	struct state *st;
	struct stat sb;
	char *data = NULL;
	size_t len = 0;

	if (access(state_dir, W_OK | X_OK) == -1) {
		pf_err_sys(err, PF_ECANTCREAT,
		    "state directory '%s' is not writable", state_dir);
		return NULL;
	}
	if (stat(state_dir, &sb) == -1) {
		pf_err_sys(err, PF_ECANTCREAT,
		    "cannot use state directory '%s'", state_dir);
		return NULL;
	}
	if (state_check_owner(state_dir, &sb, "directory", err) == -1)
		return NULL;
	st = state_new(state_dir, account_id);
	st->fd = open(st->path, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (st->fd == -1) {
		if (errno == ENOENT) {
			if (check_space(state_dir, STATE_MIN_FREE, err) == -1)
				goto fail;
			return st;
		}
		pf_err_sys(err, PF_ECANTCREAT, "cannot open state file '%s'",
		    st->path);
		goto fail;
	}
	if (fstat(st->fd, &sb) == -1 ||
	    fileio_read_all(st->fd, SIZE_MAX - 1, &data, &len) == -1) {
		pf_err_sys(err, PF_ECANTCREAT, "cannot read state file '%s'",
		    st->path);
		goto fail;
	}
	if (!S_ISREG(sb.st_mode)) {
		pf_err_set(err, PF_ECANTCREAT,
		    "state file '%s' is not a regular file", st->path);
		goto fail;
	}
	if (state_check_owner(st->path, &sb, "file", err) == -1)
		goto fail;
	if (parse_file(st, data, len, err) == -1 ||
	    check_space(state_dir, 2ULL * len + STATE_MIN_FREE, err) == -1)
		goto fail;
	/* What a killed run left unsynced becomes durable before the next
	 * synced-length marker claims it is, and before this run acts on
	 * it. */
	if (fdatasync(st->fd) == -1) {
		pf_err_sys(
		    err, PF_EIO, "cannot sync state file '%s'", st->path);
		goto fail;
	}
	free(data);
	log_debug("state file '%s': %zu records", st->path, st->count);
	return st;
fail:
	free(data);
	state_free(st);
	return NULL;
}

const struct state_rec *
state_find(const struct state *st, const char *uid)
{
	struct ent *e = ent_get(st, uid, uid_hash(st, uid));

	return e != NULL ? &e->r : NULL;
}

void
state_set(struct state *st, const char *uid, unsigned long long size,
    time_t first_seen, char kind)
{
	uint64_t h = uid_hash(st, uid);
	struct ent *e = ent_get(st, uid, h);
	size_t linelen;
	char *esc;

	if (kind != STATE_KEPT)
		kind = STATE_DELIVERED;
	if (e != NULL && e->r.size == size && e->r.first_seen == first_seen &&
	    e->r.kind == kind)
		return; /* nothing changes; keep the journal short */
	esc = state_escape(uid, strlen(uid));
	linelen = add_rec_line(&st->pend, esc, size, first_seen, kind);
	free(esc);
	ent_put(st, uid, h, size, first_seen, kind, linelen);
}

void
state_forget(struct state *st, const char *uid)
{
	uint64_t h = uid_hash(st, uid);
	size_t start = st->pend.len;
	char *esc;

	if (ent_get(st, uid, h) == NULL)
		return;
	esc = state_escape(uid, strlen(uid));
	buf_addf(&st->pend, "F %s", esc);
	(void)buf_seal(&st->pend, start);
	free(esc);
	ent_del(st, uid, h);
}

size_t
state_count(const struct state *st)
{
	return st->count;
}

void
state_foreach(const struct state *st,
    void (*fn)(void *ctx, const struct state_rec *r), void *ctx)
{
	size_t i;

	for (i = 0; i < st->cap; i++)
		if (st->tab[i] != NULL)
			fn(ctx, &st->tab[i]->r);
}

time_t
state_last_login(const struct state *st)
{
	return st->last_login;
}

unsigned long
state_login_delay(const struct state *st)
{
	return st->login_delay;
}

void
state_set_last_login(struct state *st, time_t t)
{
	state_set_login(st, t, st->login_delay);
}

void
state_set_login(struct state *st, time_t t, unsigned long delay)
{
	size_t len;

	if (delay > STATE_LOGIN_DELAY_MAX)
		delay = STATE_LOGIN_DELAY_MAX;
	if (t == st->last_login && delay == st->login_delay)
		return;
	len = add_login_line(&st->pend, t, delay);
	st->last_login = t;
	st->login_delay = delay;
	st->live_bytes -= st->login_len;
	st->login_len = t != 0 ? len : 0;
	st->live_bytes += st->login_len;
}

/* Create a new, unique temp file next to the state file. */
static int
open_temp(const struct state *st, char **tmp)
{
	static unsigned int counter;
	int fd, i;

	for (i = 0; i < STATE_TMP_TRIES; i++) {
		*tmp = xasprintf(
		    "%s.tmp.%ld.%u", st->path, (long)getpid(), counter++);
		fd = open(*tmp,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd != -1)
			return fd;
		free(*tmp);
		*tmp = NULL;
		if (errno != EEXIST)
			return -1;
	}
	return -1;
}

/*
 * Replace the state file with header + live records (temp file, fsync,
 * rename, fsync of the directory), then reopen the append fd.
 */
static int
rewrite(struct state *st, struct pf_err *err)
{
	struct buf b = {NULL, 0, 0};
	char *tmp = NULL, *esc;
	size_t i;
	int fd, saved, rc = -1;
	struct ent *e;

	buf_reserve(&b, st->live_bytes);
	(void)add_header_line(&b, st->esc_id);
	for (i = 0; i < st->cap; i++) {
		if ((e = st->tab[i]) == NULL)
			continue;
		esc = state_escape(e->uid, strlen(e->uid));
		e->linelen = add_rec_line(
		    &b, esc, e->r.size, e->r.first_seen, e->r.kind);
		free(esc);
	}
	if (st->last_login != 0)
		(void)add_login_line(&b, st->last_login, st->login_delay);

	if ((fd = open_temp(st, &tmp)) == -1) {
		pf_err_sys(
		    err, PF_EIO, "cannot write state file '%s'", st->path);
		goto out;
	}
	if (fileio_write_all(fd, b.p, b.len) == -1 || fsync(fd) == -1) {
		saved = errno;
		close(fd);
		goto tmpfail;
	}
	if (close(fd) == -1) {
		saved = errno;
		goto tmpfail;
	}
	PF_FAULT("uidl-rename");
	if (rename(tmp, st->path) == -1) {
		saved = errno;
		goto tmpfail;
	}
	/* The new file is in place: memory now matches it. */
	st->file_size = (off_t)b.len;
	st->live_bytes = b.len;
	st->trunc_to = -1;
	st->pend.len = 0;
	if (st->fd != -1)
		close(st->fd);
	st->fd = open(st->path, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (fileio_fsync_dir(st->dir) == -1) {
		pf_err_sys(
		    err, PF_EIO, "cannot sync state directory '%s'", st->dir);
		goto out;
	}
	if (st->fd == -1) {
		pf_err_sys(
		    err, PF_EIO, "cannot open state file '%s'", st->path);
		goto out;
	}
	rc = 0;
	goto out;
tmpfail:
	(void)unlink(tmp);
	errno = saved;
	pf_err_sys(err, PF_EIO, "cannot write state file '%s'", st->path);
out:
	free(tmp);
	free(b.p);
	return rc;
}

/*
 * Write the pending lines after an "S" line holding the file's size: the
 * length that the last flush synced (docs/faults.md #79). Sets *written
 * to the bytes written.
 */
static int
append_marked(struct state *st, size_t *written)
{
	struct buf b = {NULL, 0, 0};
	int r;

	buf_addf(&b, "S %lld", (long long)st->file_size);
	(void)buf_seal(&b, 0);
	buf_reserve(&b, st->pend.len);
	memcpy(b.p + b.len, st->pend.p, st->pend.len);
	b.len += st->pend.len;
	r = fileio_write_all(st->fd, b.p, b.len);
	*written = b.len;
	free(b.p);
	return r;
}

int
state_flush(struct state *st, struct pf_err *err)
{
	struct pf_err cerr;
	size_t written;
	int saved;

	if (st->fd == -1)
		return rewrite(st, err);
	if (st->pend.len == 0 && st->trunc_to < 0)
		return 0;
	if (st->trunc_to >= 0) {
		if (ftruncate(st->fd, st->trunc_to) == -1)
			return pf_err_sys(err, PF_EIO,
			    "cannot write state file '%s'", st->path);
		st->file_size = st->trunc_to;
		st->trunc_to = -1;
	}
	if (st->pend.len > 0) {
		if (append_marked(st, &written) == -1)
			goto fail;
		PF_FAULT("uidl-append");
		if (fdatasync(st->fd) == -1)
			goto fail;
		st->file_size += (off_t)written;
		st->pend.len = 0;
	}
	if ((size_t)st->file_size > 2 * st->live_bytes + STATE_COMPACT_SLACK &&
	    rewrite(st, &cerr) == -1)
		log_warning("%s", cerr.msg); /* the journal is durable */
	return 0;
fail:
	saved = errno;
	/* leave no torn garbage; if even this fails, the next load drops
	 * the torn record */
	if (ftruncate(st->fd, st->file_size) == -1) {
		/* torn bytes stay at the end: never append after them; the
		 * next flush rewrites the whole file instead */
		close(st->fd);
		st->fd = -1;
	}
	errno = saved;
	return pf_err_sys(
	    err, PF_EIO, "cannot write state file '%s'", st->path);
}

int
state_compact(struct state *st, struct pf_err *err)
{
	if (st->fd == -1)
		return rewrite(st, err);
	if (state_flush(st, err) == -1)
		return -1;
	/* Only live records in the file (no replaced, forgotten or marker
	 * lines): it is compact already, and a run that changed nothing
	 * writes nothing. */
	if ((size_t)st->file_size == st->live_bytes && st->trunc_to < 0)
		return 0;
	return rewrite(st, err);
}

void
state_free(struct state *st)
{
	size_t i;

	if (st == NULL)
		return;
	for (i = 0; i < st->cap; i++)
		free(st->tab[i]);
	free(st->tab);
	free(st->hashes);
	if (st->fd != -1)
		close(st->fd);
	free(st->pend.p);
	free(st->dir);
	free(st->path);
	free(st->esc_id);
	free(st);
}
