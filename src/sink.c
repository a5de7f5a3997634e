/*
 * sink.c: the generic half of the delivery module (dispatch to the
 * variants), the spool used by mbox, MDA and stdout, and the helpers
 * shared by the variants (envelope sender, From_ line, mboxrd quoting,
 * shell quoting, Maildir names).
 */
#define _GNU_SOURCE /* O_TMPFILE, getrandom, gethostname */

#include <sys/types.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "popfetch/log.h"
#include "popfetch/sink.h"
#include "popfetch/xmalloc.h"
#include "compat.h"
#include "sink-private.h"

const char *const sink_kind_names[] = {
    [SINK_NONE] = "none",
    [SINK_MAILDIR] = "maildir",
    [SINK_MBOX] = "mbox",
    [SINK_MDA] = "mda",
    [SINK_STDOUT] = "stdout",
};

struct sink *
sink_new(const struct sink_params *p, struct pf_err *err)
{
	struct sink *sk;
	const struct sink_ops *ops;

	switch (p->kind) {
	case SINK_MAILDIR:
		ops = &sink_maildir_ops;
		break;
	case SINK_MBOX:
		ops = &sink_mbox_ops;
		break;
	case SINK_MDA:
		ops = &sink_mda_ops;
		break;
	case SINK_STDOUT:
		ops = &sink_stdout_ops;
		break;
	default:
		pf_err_set(err, PF_ECONFIG, "no delivery target given");
		return NULL;
	}
	if (p->kind != SINK_STDOUT && (p->path == NULL || *p->path == '\0')) {
		bool mda = p->kind == SINK_MDA;

		pf_err_set(err, mda ? PF_ECONFIG : PF_ECANTCREAT, "empty %s %s",
		    sink_kind_names[p->kind], mda ? "command" : "path");
		return NULL;
	}
	sk = xcalloc(1, sizeof(*sk));
	sk->ops = ops;
	sk->kind = p->kind;
	sk->path = xstrdup(p->path != NULL ? p->path : "-");
	sk->spool_dir = p->spool_dir != NULL ? xstrdup(p->spool_dir) : NULL;
	sk->account_id = p->account_id != NULL ? xstrdup(p->account_id) : NULL;
	sk->lock_wait = p->lock_wait < 0 ? 0 : p->lock_wait;
	sk->mda_timeout = p->mda_timeout <= 0 ? 300 : p->mda_timeout;
	sk->cur.fd = -1;
	if (ops->init(sk, err) == -1) {
		sink_free(sk);
		return NULL;
	}
	return sk;
}

int
sink_open(struct sink *sk, const struct sink_msg *m, struct pf_err *err)
{
	if (sk->in_msg)
		sink_abort(sk);
	free(sk->cur_uid);
	sk->cur_uid = m->uid != NULL ? xstrdup(m->uid) : NULL;
	if (sk->ops->open(sk, m, err) == -1)
		return -1;
	sk->in_msg = true;
	return 0;
}

int
sink_write(struct sink *sk, const char *buf, size_t len, struct pf_err *err)
{
	if (!sk->in_msg)
		return pf_err_set(err, PF_ESOFTWARE, "sink_write: no message");
	if (len == 0)
		return 0;
	return sk->ops->write(sk, buf, len, err);
}

int
sink_commit(struct sink *sk, struct pf_err *err)
{
	int r;

	if (!sk->in_msg)
		return pf_err_set(err, PF_ESOFTWARE, "sink_commit: no message");
	r = sk->ops->commit(sk, err);
	sk->in_msg = false;
	return r;
}

void
sink_abort(struct sink *sk)
{
	if (sk == NULL || !sk->in_msg)
		return;
	sk->ops->abort(sk);
	sk->in_msg = false;
}

int
sink_sync(struct sink *sk, struct pf_err *err)
{
	return sk->ops->sync(sk, err);
}

unsigned
sink_staged(const struct sink *sk)
{
	return sk->nstaged + sk->ncommitted;
}

const char *
sink_last_where(const struct sink *sk)
{
	return sk->where != NULL ? sk->where : sink_kind_names[sk->kind];
}

bool
sink_has_token(struct sink *sk, const char *token)
{
	if (sk->ops->has_token == NULL || token == NULL)
		return false;
	return sk->ops->has_token(sk, token);
}

int
sink_recover(
    struct sink *sk, sink_confirm_fn confirm, void *ctx, struct pf_err *err)
{
	/*
	 * Any kind: a record left by an mbox run must be resolved even when
	 * the account has since been switched to another target.
	 */
	return sink_mbox_recover(sk, confirm, ctx, err);
}

void
sink_synced_recorded(struct sink *sk)
{
	if (sk->ops->synced_recorded != NULL)
		sk->ops->synced_recorded(sk);
	sink_mbox_forget_record(sk);
}

void
sink_free(struct sink *sk)
{
	if (sk == NULL)
		return;
	sink_abort(sk);
	sink_staged_clear(sk);
	if (sk->ops->free != NULL)
		sk->ops->free(sk);
	free(sk->staged);
	free(sk->cur_uid);
	free(sk->where);
	free(sk->path);
	free(sk->spool_dir);
	free(sk->account_id);
	free(sk);
}

/* Buffered message files. */

void
sink_file_init(struct sink_file *sf, int fd)
{
	sf->fd = fd;
	sf->buf = xmalloc(SINK_BUFSZ);
	sf->len = 0;
	sf->size = 0;
	sf->last = -1;
}

int
sink_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
sink_pread_all(int fd, void *buf, size_t len, off_t off)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = pread(fd, p, len, off);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

int
sink_file_flush(struct sink_file *sf)
{
	if (sf->len == 0)
		return 0;
	if (sink_write_all(sf->fd, sf->buf, sf->len) == -1)
		return -1;
	sf->len = 0;
	return 0;
}

int
sink_file_write(struct sink_file *sf, const char *buf, size_t len)
{
	if (len == 0)
		return 0;
	sf->size += len;
	sf->last = (unsigned char)buf[len - 1];
	if (sf->len + len > SINK_BUFSZ) {
		if (sink_file_flush(sf) == -1)
			return -1;
		/* Large writes skip the buffer. */
		if (len >= SINK_BUFSZ)
			return sink_write_all(sf->fd, buf, len);
	}
	memcpy(sf->buf + sf->len, buf, len);
	sf->len += len;
	return 0;
}

void
sink_file_close(struct sink_file *sf)
{
	int saved = errno;

	free(sf->buf);
	sf->buf = NULL;
	sf->len = 0;
	if (sf->fd != -1)
		close(sf->fd);
	sf->fd = -1;
	errno = saved;
}

void
sink_set_where(struct sink *sk, const char *fmt, ...)
{
	va_list ap;
	char buf[1024];

	va_start(ap, fmt);
	if (vsnprintf(buf, sizeof(buf), fmt, ap) < 0)
		buf[0] = '\0';
	va_end(ap);
	free(sk->where);
	sk->where = xstrdup(buf);
}

/* The spool: a private unlinked temp file per message. */

int
sink_tmpfile(const char *dir, struct pf_err *err)
{
	char *tmpl;
	int fd;

	if (dir == NULL) {
		dir = getenv("TMPDIR");
		if (dir == NULL || *dir == '\0')
			dir = "/tmp";
	}
#ifdef O_TMPFILE
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd != -1)
		return fd;
	/* EISDIR/EOPNOTSUPP: kernel or file system without O_TMPFILE. */
	if (errno != EISDIR && errno != EOPNOTSUPP && errno != EINVAL)
		return pf_err_sys(
		    err, PF_EIO, "cannot create a temp file in '%s'", dir);
#endif
	tmpl = xasprintf("%s/.popfetch-spool.XXXXXX", dir);
	fd = mkostemp(tmpl, O_CLOEXEC);
	if (fd == -1) {
		pf_err_sys(err, PF_EIO, "cannot create '%s'", tmpl);
		free(tmpl);
		return -1;
	}
	(void)unlink(tmpl);
	free(tmpl);
	return fd;
}

int
sink_spool_open(struct sink *sk, const struct sink_msg *m, struct pf_err *err)
{
	int fd;

	(void)m;
	if ((fd = sink_tmpfile(sk->spool_dir, err)) == -1)
		return -1;
	sink_file_init(&sk->cur, fd);
	return 0;
}

int
sink_spool_write(
    struct sink *sk, const char *buf, size_t len, struct pf_err *err)
{
	if (sink_file_write(&sk->cur, buf, len) == -1) {
		pf_err_sys(err, PF_EIO, "cannot write spool file");
		sink_spool_abort(sk);
		sk->in_msg = false;
		return -1;
	}
	return 0;
}

int
sink_spool_sender(int fd, char *out, size_t outsz, struct pf_err *err)
{
	char *hdr = xmalloc(SINK_HDR_MAX);
	size_t len = 0;

	while (len < SINK_HDR_MAX) {
		ssize_t n =
		    pread(fd, hdr + len, SINK_HDR_MAX - len, (off_t)len);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			pf_err_sys(err, PF_EIO, "cannot read spool file");
			free(hdr);
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	sink_envelope_sender(hdr, len, out, outsz);
	free(hdr);
	return 0;
}

int
sink_spool_commit(struct sink *sk, struct pf_err *err)
{
	struct sink_staged *st;

	if (sink_file_flush(&sk->cur) == -1) {
		pf_err_sys(err, PF_EIO, "cannot write spool file");
		sink_spool_abort(sk);
		return -1;
	}
	if (sk->nstaged == sk->staged_cap) {
		sk->staged_cap = sk->staged_cap ? 2 * sk->staged_cap : 16;
		sk->staged = xreallocarray(
		    sk->staged, sk->staged_cap, sizeof(*sk->staged));
	}
	st = &sk->staged[sk->nstaged];
	memset(st, 0, sizeof(*st));
	if (sink_spool_sender(
		sk->cur.fd, st->sender, sizeof(st->sender), err) == -1) {
		sink_spool_abort(sk);
		return -1;
	}
	st->fd = sk->cur.fd;
	st->size = sk->cur.size;
	st->last = sk->cur.last;
	st->uid = sk->cur_uid != NULL ? xstrdup(sk->cur_uid) : NULL;
	sk->cur.fd = -1;
	sink_file_close(&sk->cur);
	sk->nstaged++;
	return 0;
}

void
sink_spool_abort(struct sink *sk)
{
	sink_file_close(&sk->cur);
}

void
sink_staged_clear(struct sink *sk)
{
	unsigned i;

	for (i = 0; i < sk->nstaged; i++) {
		close(sk->staged[i].fd);
		free(sk->staged[i].uid);
	}
	sk->nstaged = 0;
}

/* Shared helpers. */

/* True for a byte that may appear in an envelope address we pass on. */
static int
sender_char_ok(unsigned char c)
{
	return c > 0x20 && c < 0x7f;
}

void
sink_envelope_sender(const char *hdr, size_t len, char *out, size_t outsz)
{
	static const char name[] = "return-path:";
	const size_t nlen = sizeof(name) - 1;
	char val[SINK_SENDER_MAX * 2];
	size_t i = 0, vlen = 0, a, b;
	bool found = false;

	if (outsz == 0)
		return;
	/* Find the first Return-Path line; unfold it into val. */
	while (i < len && !found) {
		size_t eol = i;

		while (eol < len && hdr[eol] != '\n')
			eol++;
		if (eol == i)
			break; /* empty line: end of the header */
		if (eol - i >= nlen && strncasecmp(hdr + i, name, nlen) == 0) {
			size_t j = i + nlen;

			found = true;
			for (;;) {
				for (; j < eol; j++) {
					if (vlen + 1 >= sizeof(val))
						goto bad;
					val[vlen++] =
					    hdr[j] == '\t' ? ' ' : hdr[j];
				}
				/* A folded continuation line? */
				if (eol + 1 < len &&
				    (hdr[eol + 1] == ' ' ||
					hdr[eol + 1] == '\t')) {
					j = eol + 1;
					eol = j;
					while (eol < len && hdr[eol] != '\n')
						eol++;
					continue;
				}
				break;
			}
		}
		i = eol + 1;
	}
	if (!found)
		goto bad;
	/* Strip a CR left from a CRLF header and the spaces around. */
	a = 0;
	b = vlen;
	while (b > a && (val[b - 1] == ' ' || val[b - 1] == '\r'))
		b--;
	while (a < b && val[a] == ' ')
		a++;
	if (a < b && val[a] == '<') {
		size_t close;

		for (close = a + 1; close < b && val[close] != '>'; close++)
			;
		if (close == b)
			goto bad;
		a++;
		b = close;
		while (a < b && val[a] == ' ')
			a++;
		while (b > a && val[b - 1] == ' ')
			b--;
		/* An obsolete source route "<@a,@b:user@host>". */
		if (a < b && val[a] == '@') {
			size_t c;

			for (c = a; c < b && val[c] != ':'; c++)
				;
			if (c == b)
				goto bad;
			a = c + 1;
		}
	} else {
		size_t e;

		for (e = a; e < b && val[e] != ' '; e++)
			;
		b = e;
	}
	if (a == b || b - a >= outsz || b - a >= SINK_SENDER_MAX)
		goto bad;
	for (i = a; i < b; i++)
		if (!sender_char_ok((unsigned char)val[i]))
			goto bad;
	memcpy(out, val + a, b - a);
	out[b - a] = '\0';
	return;
bad:
	strlcpy(out, "MAILER-DAEMON", outsz);
}

int
sink_from_line(char *out, size_t outsz, const char *sender, time_t t)
{
	static const char days[7][4] = {
	    "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May",
	    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	struct tm tm;
	int n;

	if (localtime_r(&t, &tm) == NULL || tm.tm_wday < 0 || tm.tm_wday > 6 ||
	    tm.tm_mon < 0 || tm.tm_mon > 11) {
		memset(&tm, 0, sizeof(tm));
		tm.tm_mday = 1;
		tm.tm_year = 70;
		tm.tm_wday = 4;
	}
	n = snprintf(out, outsz, "From %s %s %s %2d %02d:%02d:%02d %d\n",
	    sender, days[tm.tm_wday], months[tm.tm_mon], tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, tm.tm_year + 1900);
	if (n < 0 || (size_t)n >= outsz)
		return -1;
	return 0;
}

/*
 * Quoting states: QS_BOL at a line start, QS_GT inside a run of leading
 * '>' (already copied), QS_F1..QS_F4 after 1..4 held bytes of "From",
 * QS_MID anywhere else in a line. The held bytes are always a prefix of
 * "From", so the int state is enough to re-create them.
 */
enum {
	QS_BOL = 0,
	QS_GT = 1,
	QS_F1 = 2,
	QS_F4 = 5,
	QS_MID = 6,
};

size_t
sink_mboxrd_quote(int *st, const char *in, size_t len, char *out)
{
	static const char from[] = "From ";
	size_t i, o = 0;
	int s = *st;

	if (s < QS_BOL || s > QS_MID)
		s = QS_BOL;
	if (len == 0) {
		/* Flush: give back the held bytes of an unfinished line. */
		if (s >= QS_F1 && s <= QS_F4) {
			memcpy(out, from, (size_t)(s - QS_GT));
			o = (size_t)(s - QS_GT);
		}
		*st = QS_BOL;
		return o;
	}
	for (i = 0; i < len; i++) {
		char c = in[i];

		if (s == QS_BOL || s == QS_GT) {
			if (c == '>') {
				out[o++] = c;
				s = QS_GT;
			} else if (c == 'F') {
				s = QS_F1;
			} else {
				out[o++] = c;
				s = c == '\n' ? QS_BOL : QS_MID;
			}
		} else if (s >= QS_F1 && s <= QS_F4) {
			size_t m = (size_t)(s - QS_GT); /* bytes held */

			if (c == from[m]) {
				if (m + 1 == sizeof(from) - 1) {
					out[o++] = '>';
					memcpy(out + o, from, m + 1);
					o += m + 1;
					s = QS_MID;
				} else
					s++;
			} else {
				memcpy(out + o, from, m);
				o += m;
				out[o++] = c;
				s = c == '\n' ? QS_BOL : QS_MID;
			}
		} else {
			out[o++] = c;
			if (c == '\n')
				s = QS_BOL;
		}
	}
	*st = s;
	return o;
}

int
sink_mboxrd_emit(const struct sink_staged *st, time_t t,
    int (*emit)(void *ctx, const char *buf, size_t len), void *ctx)
{
	char line[SINK_SENDER_MAX + 64];
	char *in, *out;
	unsigned long long off = 0;
	int qs = 0, r = -1;
	size_t n;

	if (sink_from_line(line, sizeof(line), st->sender, t) == -1) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (emit(ctx, line, strlen(line)) == -1)
		return -1;
	in = xmalloc(SINK_BUFSZ);
	out = xmalloc(2 * SINK_BUFSZ + 16);
	while (off < st->size) {
		size_t want = st->size - off > SINK_BUFSZ
		    ? SINK_BUFSZ
		    : (size_t)(st->size - off);

		if (sink_pread_all(st->fd, in, want, (off_t)off) == -1)
			goto out;
		n = sink_mboxrd_quote(&qs, in, want, out);
		if (emit(ctx, out, n) == -1)
			goto out;
		off += want;
	}
	/* End the last line (which also flushes held bytes), then a blank
	 * line so the next "From " is preceded by an empty line. */
	n = 0;
	if (st->last != -1 && st->last != '\n')
		n = sink_mboxrd_quote(&qs, "\n", 1, out);
	n += sink_mboxrd_quote(&qs, NULL, 0, out + n);
	out[n++] = '\n';
	if (emit(ctx, out, n) == -1)
		goto out;
	r = 0;
out:
	free(in);
	free(out);
	return r;
}

char *
sink_shell_quote(const char *s)
{
	size_t n = 2, i;
	char *q, *p;

	for (i = 0; s[i] != '\0'; i++)
		n += s[i] == '\'' ? 4 : 1;
	q = p = xmalloc(n + 1);
	*p++ = '\'';
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] == '\'') {
			memcpy(p, "'\\''", 4);
			p += 4;
		} else
			*p++ = s[i];
	}
	*p++ = '\'';
	*p = '\0';
	return q;
}

char *
sink_mda_expand(const char *cmd, const char *sender)
{
	char *q = sink_shell_quote(sender);
	size_t qlen = strlen(q), n = 1, i;
	char *r, *p;

	for (i = 0; cmd[i] != '\0'; i++)
		n += (cmd[i] == '%' && cmd[i + 1] == 'F') ? qlen : 1;
	r = p = xmalloc(n);
	for (i = 0; cmd[i] != '\0'; i++) {
		if (cmd[i] == '%' && cmd[i + 1] == 'F') {
			memcpy(p, q, qlen);
			p += qlen;
			i++;
		} else if (cmd[i] == '%' && cmd[i + 1] == '%') {
			*p++ = '%';
			i++;
		} else
			*p++ = cmd[i];
	}
	*p = '\0';
	free(q);
	return r;
}

long long
sink_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint32_t
sink_random32(void)
{
	uint32_t v = 0;
	int fd;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) == (ssize_t)sizeof(v))
		return v;
	fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd != -1) {
		if (read(fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
			v = 0;
		close(fd);
	}
	if (v == 0) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		v = (uint32_t)ts.tv_nsec ^ ((uint32_t)getpid() << 16);
	}
	return v;
}

/* True when s is exactly 16 hex digits. */
static bool
token_ok(const char *s)
{
	size_t i;

	for (i = 0; i < 16; i++) {
		char c = s[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
			(c >= 'A' && c <= 'F')))
			return false;
	}
	return s[16] == '\0';
}

int
sink_maildir_name(char *out, size_t outsz, const char *token)
{
	static unsigned long counter;
	static char safe[1024]; /* the host part, made once per process */
	static pid_t pid;
	char host[256];
	struct timespec ts;
	size_t i, o = 0;
	int n;

	if (token != NULL && !token_ok(token))
		return -1;
	if (pid != getpid()) {
		/* first call, or a forked child: its own pid and counter */
		pid = getpid();
		counter = 0;
		if (gethostname(host, sizeof(host)) == -1 || host[0] == '\0')
			strlcpy(host, "localhost", sizeof(host));
		host[sizeof(host) - 1] = '\0';
		for (i = 0; host[i] != '\0' && o + 5 < sizeof(safe); i++) {
			if (host[i] == '/') {
				memcpy(safe + o, "\\057", 4);
				o += 4;
			} else if (host[i] == ':') {
				memcpy(safe + o, "\\072", 4);
				o += 4;
			} else
				safe[o++] = host[i];
		}
		safe[o] = '\0';
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	n = snprintf(out, outsz, "%lld.M%ldP%ldQ%luR%08lx%s%s.%s",
	    (long long)ts.tv_sec, (long)(ts.tv_nsec / 1000), (long)pid,
	    ++counter, (unsigned long)sink_random32(), token != NULL ? "h" : "",
	    token != NULL ? token : "", safe);
	if (n < 0 || (size_t)n >= outsz)
		return -1;
	return 0;
}
