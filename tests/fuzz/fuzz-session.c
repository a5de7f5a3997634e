/*
 * fuzz-session.c: a whole client session against a scripted hostile
 * server: the scripted peer of tests/unit/peer.h, in memory.
 *
 * Input: byte 0 holds flags (bits 0-1: USER, PLAIN, LOGIN, USER; bit 2:
 * ask for UIDL; bit 3: protocol trace; bits 4-7: the read size, 3 to 45
 * bytes, or 0 for 64 KiB), the rest is the server script: responses
 * separated by the two bytes 00 ff. The peer sends response 0 (the
 * greeting) at once and response k + 1 when the client's line k arrives;
 * when the script runs out, a read is EOF (the server closed). The client
 * runs greeting, CAPA, login (clear text allowed), STAT, LIST/UIDL, RETR
 * of each message into a Maildir (pop3_body + sink_write/commit, one
 * sink_sync), DELE of what was delivered, QUIT.
 *
 * Invariants (abort() when broken):
 * - a message is committed only when pop3_body() returned 0, and what was
 *   delivered equals the file in new/ after the sync and what a reference
 *   decoder gets from the response the server sent to that RETR (checked
 *   when the response is known to start at that RETR's reply);
 * - on the wire, DELE n only for a message committed and synced, RETR in
 *   the order the client issued them, every line CRLF-terminated.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "popfetch/auth.h"
#include "popfetch/err.h"
#include "popfetch/log.h"
#include "popfetch/pop3.h"
#include "popfetch/sink.h"
#include "popfetch/stream.h"

#include "peer.h"
#include "scratch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MESSAGES 4096
#define MAX_RETR     64

static char maildir[300];
static char spool[300];

/* The script, and what the client sent. */
struct server {
	char *stream;	   /* all responses, concatenated */
	size_t *chunk_end; /* chunk i is stream[end[i-1] .. end[i]) */
	size_t nchunks;
	struct peer_step *steps; /* chunk i is released by step i */
	const char *cin;	 /* every byte the client sent */
	size_t cinlen;
};

/* One RETR the client issued. */
struct retr {
	unsigned long n;
	size_t consumed; /* server bytes the client had used before it */
	bool body_ok;	 /* pop3_body() returned 0 */
	bool committed;	 /* sink_commit() returned 0 */
	char *body;	 /* what the callback got */
	size_t bodylen, bodycap;
	char *where; /* the delivered file */
};

/* Stop with a message the crash report will show. */
static void
fail(const char *what, unsigned long n)
{
	fprintf(stderr, "fuzz-session: invariant broken: %s (message %lu)\n",
	    what, n);
	abort();
}

/* Remove the files of one directory (not recursive). */
static void
clean_files(const char *dir)
{
	struct dirent *de;
	char path[600];
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		(void)unlink(path);
	}
	closedir(d);
}

/* Empty the Maildir and the spool dir between runs. */
static void
clean_run(void)
{
	static const char *const sub[] = {"new", "cur", "tmp"};
	char path[400];
	size_t i;

	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", maildir, sub[i]);
		clean_files(path);
	}
	clean_files(spool);
}

/* The Maildir's and the spool's paths in the scratch directory. */
static void
setup(void)
{
	const char *dir;

	if (maildir[0] != '\0')
		return;
	dir = fuzz_scratch("session");
	snprintf(maildir, sizeof(maildir), "%s/Maildir", dir);
	snprintf(spool, sizeof(spool), "%s/spool", dir);
	if (mkdir(spool, 0700) == -1) {
		perror("fuzz-session: mkdir");
		abort();
	}
}

/* Split the script at 00 ff into the server's response stream. */
static void
script_parse(struct server *sv, const uint8_t *p, size_t len)
{
	size_t i, o = 0, cap = 16;

	sv->stream = malloc(len + 1);
	sv->chunk_end = malloc(cap * sizeof(size_t));
	if (sv->stream == NULL || sv->chunk_end == NULL)
		abort();
	sv->nchunks = 0;
	for (i = 0; i <= len; i++) {
		if (i == len ||
		    (p[i] == 0x00 && i + 1 < len && p[i + 1] == 0xff)) {
			if (sv->nchunks == cap) {
				cap *= 2;
				sv->chunk_end = realloc(
				    sv->chunk_end, cap * sizeof(size_t));
				if (sv->chunk_end == NULL)
					abort();
			}
			sv->chunk_end[sv->nchunks++] = o;
			i++;
			continue;
		}
		sv->stream[o++] = (char)p[i];
	}
}

/* The peer's steps: chunk 0 at once, chunk k + 1 after client line k. */
static void
script_steps(struct server *sv)
{
	size_t i, start;

	if ((sv->steps = calloc(sv->nchunks + 1, sizeof(*sv->steps))) == NULL)
		abort();
	for (i = 0; i < sv->nchunks; i++) {
		start = i > 0 ? sv->chunk_end[i - 1] : 0;
		sv->steps[i].client = i > 0 ? PEER_ANY_LINE : NULL;
		if (sv->chunk_end[i] > start) {
			sv->steps[i].server = sv->stream + start;
			sv->steps[i].serverlen = sv->chunk_end[i] - start;
		}
	}
}

/* After the script: the server has closed; the client may still talk. */
static int
after_script(struct peer *pe, const char *line, size_t len, void *arg)
{
	(void)pe;
	(void)line;
	(void)len;
	(void)arg;
	return 0;
}

/* pop3_body callback: deliver and remember the bytes. */
static int
body_cb(void *ctx, const char *buf, size_t len, struct pf_err *err)
{
	struct retr *rt = ((struct retr **)ctx)[0];
	struct sink *sk = ((struct sink **)ctx)[1];

	if (len == 0)
		fail("empty body chunk", rt->n);
	if (rt->bodylen + len > rt->bodycap) {
		rt->bodycap = (rt->bodylen + len) * 2;
		if ((rt->body = realloc(rt->body, rt->bodycap)) == NULL)
			abort();
	}
	memcpy(rt->body + rt->bodylen, buf, len);
	rt->bodylen += len;
	return sink_write(sk, buf, len, err);
}

/* Read back a delivered file and compare it with the body. */
static void
check_file(const struct retr *rt)
{
	char buf[4096];
	size_t off = 0;
	ssize_t n;
	int fd;

	if ((fd = open(rt->where, O_RDONLY | O_CLOEXEC)) == -1)
		fail("committed message not in the Maildir", rt->n);
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (off + (size_t)n > rt->bodylen ||
		    memcmp(rt->body + off, buf, (size_t)n) != 0)
			fail("delivered file differs from the body", rt->n);
		off += (size_t)n;
	}
	close(fd);
	if (n == -1 || off != rt->bodylen)
		fail("delivered file shorter than the body", rt->n);
}

/* RETR one message into the sink, recording what happened. */
static int
fetch_one(struct pop3 *p, struct sink *sk, unsigned long n, struct retr *rt)
{
	struct sink_msg sm = {NULL, NULL, 0};
	unsigned long long octets = 0;
	struct pf_err err;
	void *ctx[2];
	char arg[32];
	int r;

	memset(rt, 0, sizeof(*rt));
	rt->n = n;
	rt->consumed = (size_t)(pop3_stream(p)->bytes_in - pop3_buffered(p));
	snprintf(arg, sizeof(arg), "%lu", n);
	if (pop3_cmd(p, POP3_CMD_RETR, arg, false, &err) == -1)
		return -1;
	r = pop3_reply(p, &err);
	if (r == -1)
		return -1;
	if (r != POP3_OK)
		return 0;
	if (sink_open(sk, &sm, &err) == -1)
		fail("sink_open failed in a temp dir", n);
	ctx[0] = rt;
	ctx[1] = sk;
	if (pop3_body(p, body_cb, ctx, &octets, &err) == -1) {
		sink_abort(sk);
		return pop3_state(p) == POP3_ST_CLOSED ? -1 : 0;
	}
	rt->body_ok = true;
	if (octets != rt->bodylen)
		fail("pop3_body octet count differs from what it passed", n);
	/* The invariant the harness keeps: commit only after body == 0. */
	if (!rt->body_ok)
		fail("commit of a message whose body did not end", n);
	if (sink_commit(sk, &err) == -1)
		fail("sink_commit failed in a temp dir", n);
	rt->committed = true;
	if ((rt->where = strdup(sink_last_where(sk))) == NULL)
		abort();
	return 0;
}

/* The reference decoder: body of one RETR response chunk. */
static bool
ref_body(const char *c, size_t len, char *out, size_t *outlen)
{
	const char *nl, *q;
	size_t pos, n;

	*outlen = 0;
	if ((nl = memchr(c, '\n', len)) == NULL)
		return false;
	pos = (size_t)(nl - c) + 1; /* past the +OK line */
	while (pos < len) {
		if ((nl = memchr(c + pos, '\n', len - pos)) == NULL)
			return false;
		q = c + pos;
		n = (size_t)(nl - q);
		if (n > 0 && q[n - 1] == '\r')
			n--;
		if (n == 1 && q[0] == '.')
			return true;
		if (n > 0 && q[0] == '.') {
			q++;
			n--;
		}
		memcpy(out + *outlen, q, n);
		*outlen += n;
		out[(*outlen)++] = '\n';
		pos = (size_t)(nl - c) + 1;
	}
	return false;
}

/* Check the wire and the deliveries once both sides are done. */
static void
check_after(const struct server *sv, const struct retr *rt, size_t nretr,
    const bool *synced, unsigned long count)
{
	size_t pos = 0, k = 0, j = 0, start, len, outlen;
	const char *nl, *line;
	unsigned long n;
	char *ref;

	while (pos < sv->cinlen) {
		nl = memchr(sv->cin + pos, '\n', sv->cinlen - pos);
		if (nl == NULL)
			fail("client line without LF", 0);
		line = sv->cin + pos;
		len = (size_t)(nl - line);
		if (len == 0 || line[len - 1] != '\r')
			fail("client line without CRLF", 0);
		if (len > 5 && memcmp(line, "DELE ", 5) == 0) {
			n = strtoul(line + 5, NULL, 10);
			if (n == 0 || n > count || !synced[n - 1])
				fail("DELE of a message not delivered", n);
		}
		if (len > 5 && memcmp(line, "RETR ", 5) == 0) {
			if (j >= nretr)
				fail("RETR the client did not issue", 0);
			n = strtoul(line + 5, NULL, 10);
			if (n != rt[j].n)
				fail("RETR out of order", n);
			/* Chunk k + 1 answers line k; it is this RETR's reply
			 * when the client had used everything before it. */
			if (rt[j].consumed >
			    (k + 1 < sv->nchunks
				    ? sv->chunk_end[k]
				    : sv->chunk_end[sv->nchunks - 1]))
				fail("client used bytes never sent", n);
			if (rt[j].committed && k + 1 < sv->nchunks &&
			    rt[j].consumed == sv->chunk_end[k]) {
				start = sv->chunk_end[k];
				len = sv->chunk_end[k + 1] - start;
				if ((ref = malloc(len + 1)) == NULL)
					abort();
				if (!ref_body(
					sv->stream + start, len, ref, &outlen))
					fail("committed, but the reply has no "
					     "terminator",
					    n);
				if (outlen != rt[j].bodylen ||
				    (outlen > 0 &&
					memcmp(ref, rt[j].body, outlen) != 0))
					fail("body differs from the reference "
					     "decoding",
					    n);
				free(ref);
			}
			j++;
		}
		k++;
		pos = (size_t)(nl - sv->cin) + 1;
	}
	for (; j < nretr; j++)
		if (rt[j].committed)
			fail("committed a message whose RETR never left",
			    rt[j].n);
}

/* The client side: the fetch sequence with its own bookkeeping. */
static void
client_run(struct pop3 *p, unsigned flags, struct retr *rt, size_t *nretr,
    bool **synced, unsigned long *count_out)
{
	static const enum auth_mech mechs[] = {
	    AUTH_USER,
	    AUTH_PLAIN,
	    AUTH_LOGIN,
	    AUTH_USER,
	};
	struct sink_params sp;
	struct auth_params a;
	struct pop3_msg *msgs = NULL;
	struct pf_err err;
	struct sink *sk;
	unsigned long count = 0, i;
	unsigned long long total;
	bool have_uidl = false, ok = true;
	char arg[32];
	size_t j;

	*nretr = 0;
	*count_out = 0;
	pf_err_clear(&err);
	memset(&sp, 0, sizeof(sp));
	sp.kind = SINK_MAILDIR;
	sp.path = maildir;
	sp.spool_dir = spool;
	sp.account_id = "fuzz@127.0.0.1:110";
	sp.lock_wait = 1;
	if ((sk = sink_new(&sp, &err)) == NULL)
		fail("sink_new failed in a temp dir", 0);

	memset(&a, 0, sizeof(a));
	a.mech = mechs[flags & 3];
	a.user = "fuzzuser";
	a.secret = "fuzz-secret";
	a.host = "127.0.0.1";
	a.port = "110";
	a.tls = false;
	a.allow_plain = true;

	if (pop3_greeting(p, &err) == -1)
		goto out;
	if (pop3_capa(p, &err) == -1)
		goto out;
	if (auth_login(p, &a, NULL, &err) == -1)
		goto quit;
	if (pop3_stat(p, &count, &total, &err) == -1 || count > MAX_MESSAGES)
		goto quit;
	if (pop3_listings(
		p, count, (flags & 4) != 0, &msgs, &have_uidl, &err) == -1)
		goto quit;
	*count_out = count;
	if (count > 0 && (*synced = calloc(count, sizeof(bool))) == NULL)
		abort();
	for (i = 0; i < count && *nretr < MAX_RETR; i++) {
		if (fetch_one(p, sk, msgs[i].n, &rt[*nretr]) == -1) {
			(*nretr)++;
			ok = false;
			break;
		}
		(*nretr)++;
	}
	if (sink_sync(sk, &err) == -1)
		fail("sink_sync failed in a temp dir", 0);
	/* Maildir links into new/ at the sync (group commit). */
	for (j = 0; j < *nretr; j++)
		if (rt[j].committed) {
			check_file(&rt[j]);
			(*synced)[rt[j].n - 1] = true;
		}
	for (j = 0; ok && j < *nretr; j++) {
		if (!rt[j].committed)
			continue;
		if (!rt[j].body_ok)
			fail("DELE of a message whose body did not end",
			    rt[j].n);
		snprintf(arg, sizeof(arg), "%lu", rt[j].n);
		if (pop3_simple(p, POP3_CMD_DELE, arg, &err) == -1)
			break;
	}
quit:
	log_debug("fuzz-session: stopped: %s", err.msg);
	if (pop3_state(p) != POP3_ST_CLOSED)
		(void)pop3_quit(p, &err);
out:
	log_debug("fuzz-session: end: %s", err.msg);
	pop3_msgs_free(msgs, count);
	sink_free(sk);
}

/* The libFuzzer entry point: one input, checked as described above. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pop3_params par;
	struct server sv;
	struct retr rt[MAX_RETR];
	struct peer *pe;
	struct pop3 *p;
	bool *synced = NULL;
	size_t nretr = 0, j, chunk;
	unsigned long count = 0;

	if (size < 1)
		return 0;
	setup();
	memset(&sv, 0, sizeof(sv));
	script_parse(&sv, data + 1, size - 1);
	script_steps(&sv);
	chunk = (data[0] >> 4) == 0 ? 65536 : (size_t)(data[0] >> 4) * 3;
	pe = peer_new(sv.steps, sv.nchunks, chunk);
	peer_set_handler(pe, after_script, NULL);

	memset(&par, 0, sizeof(par));
	par.trace = (data[0] & 8) ? 1 : 0;
	p = pop3_new(peer_stream(pe), &par);
	client_run(p, data[0], rt, &nretr, &synced, &count);
	pop3_free(p);

	sv.cin = peer_written(pe, &sv.cinlen);
	check_after(&sv, rt, nretr, synced, count);
	for (j = 0; j < nretr; j++) {
		free(rt[j].body);
		free(rt[j].where);
	}
	peer_free(pe);
	free(synced);
	free(sv.steps);
	free(sv.stream);
	free(sv.chunk_end);
	clean_run();
	return 0;
}
