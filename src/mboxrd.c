/*
 * mboxrd.c: the mboxrd format: envelope sender, From_ line, quoting, and
 * one message written out in that form.
 */
#include <sys/types.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "popfetch/fileio.h"
#include "popfetch/mboxrd.h"
#include "popfetch/xmalloc.h"
#include "compat.h"

/* True for a byte that may appear in an envelope address we pass on. */
static int
sender_char_ok(unsigned char c)
{
	return c > 0x20 && c < 0x7f;
}

void
mboxrd_sender(const char *hdr, size_t len, char *out, size_t outsz)
{
	static const char name[] = "return-path:";
	const size_t nlen = sizeof(name) - 1;
	char val[MBOXRD_SENDER_MAX * 2];
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
	if (a == b || b - a >= outsz || b - a >= MBOXRD_SENDER_MAX)
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
mboxrd_from_line(char *out, size_t outsz, const char *sender, time_t t)
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
mboxrd_quote(int *st, const char *in, size_t len, char *out)
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
mboxrd_emit(int fd, unsigned long long size, int last, const char *sender,
    time_t t, mboxrd_emit_fn emit, void *ctx)
{
	char line[MBOXRD_SENDER_MAX + 64];
	char *in, *out;
	unsigned long long off = 0;
	int qs = 0, r = -1;
	size_t n;

	if (mboxrd_from_line(line, sizeof(line), sender, t) == -1) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (emit(ctx, line, strlen(line)) == -1)
		return -1;
	in = xmalloc(FILEIO_BUFSZ);
	out = xmalloc(2 * FILEIO_BUFSZ + 16);
	while (off < size) {
		size_t want = size - off > FILEIO_BUFSZ ? FILEIO_BUFSZ
							: (size_t)(size - off);

		if (fileio_pread_all(fd, in, want, (off_t)off) == -1)
			goto out;
		n = mboxrd_quote(&qs, in, want, out);
		if (emit(ctx, out, n) == -1)
			goto out;
		off += want;
	}
	/* End the last line (which also flushes held bytes), then a blank
	 * line so the next "From " is preceded by an empty line. */
	n = 0;
	if (last != -1 && last != '\n')
		n = mboxrd_quote(&qs, "\n", 1, out);
	n += mboxrd_quote(&qs, NULL, 0, out + n);
	out[n++] = '\n';
	if (emit(ctx, out, n) == -1)
		goto out;
	r = 0;
out:
	free(in);
	free(out);
	return r;
}
