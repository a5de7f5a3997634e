/*
 * test-pop3.c: the POP3 parsers, and whole sessions against a scripted
 * in-memory server that releases each answer only once the client has
 * written the exact command(s) it expects.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "popfetch/log.h"
#include "popfetch/pop3.h"

#include "peer.h"

/* ---- parsers ---- */

/* Strict status lines. */
static void
test_parse_status(void **state)
{
	char big[700];
	const char *t;

	(void)state;
	assert_int_equal(pop3_parse_status("+OK", &t), POP3_OK);
	assert_string_equal(t, "");
	assert_int_equal(pop3_parse_status("+OK hi there", &t), POP3_OK);
	assert_string_equal(t, "hi there");
	assert_int_equal(pop3_parse_status("-ERR", &t), POP3_ERR);
	assert_int_equal(pop3_parse_status("-ERR [IN-USE] x", &t), POP3_ERR);
	assert_string_equal(t, "[IN-USE] x");
	assert_int_equal(pop3_parse_status("+ ", &t), POP3_CONT);
	assert_string_equal(t, "");
	assert_int_equal(pop3_parse_status("+ AbC=", &t), POP3_CONT);
	assert_string_equal(t, "AbC=");
	assert_int_equal(pop3_parse_status("+ok", &t), -1);
	assert_int_equal(pop3_parse_status("+OKAY", &t), -1);
	assert_int_equal(pop3_parse_status("-ERRx", &t), -1);
	assert_int_equal(pop3_parse_status("-err", &t), -1);
	assert_int_equal(pop3_parse_status("", &t), -1);
	assert_int_equal(pop3_parse_status("+", &t), -1);
	assert_int_equal(pop3_parse_status("+OK\tx", &t), -1);
	assert_int_equal(pop3_parse_status(" +OK", &t), -1);
	assert_int_equal(pop3_parse_status("OK", &t), -1);
	memcpy(big, "+OK ", 4);
	memset(big + 4, 'x', 596);
	big[600] = '\0';
	assert_int_equal(pop3_parse_status(big, &t), POP3_OK);
	assert_int_equal(strlen(t), 596);
}

/* Extended response codes. */
static void
test_parse_rcode(void **state)
{
	(void)state;
	assert_int_equal(pop3_parse_rcode("[IN-USE] locked"), POP3_RC_IN_USE);
	assert_int_equal(pop3_parse_rcode("[in-use] locked"), POP3_RC_IN_USE);
	assert_int_equal(
	    pop3_parse_rcode("[LOGIN-DELAY] wait"), POP3_RC_LOGIN_DELAY);
	assert_int_equal(pop3_parse_rcode("[SYS/TEMP] x"), POP3_RC_SYS_TEMP);
	assert_int_equal(pop3_parse_rcode("[SYS/TEMP/DISK]"), POP3_RC_SYS_TEMP);
	assert_int_equal(pop3_parse_rcode("[SYS/PERM] x"), POP3_RC_SYS_PERM);
	assert_int_equal(pop3_parse_rcode("[AUTH] bad"), POP3_RC_AUTH);
	assert_int_equal(pop3_parse_rcode("[AUTHX] bad"), POP3_RC_OTHER);
	assert_int_equal(pop3_parse_rcode("[SYS] x"), POP3_RC_OTHER);
	assert_int_equal(pop3_parse_rcode("[FOO] x"), POP3_RC_OTHER);
	assert_int_equal(pop3_parse_rcode("plain text"), POP3_RC_NONE);
	assert_int_equal(pop3_parse_rcode(" [IN-USE]"), POP3_RC_NONE);
	assert_int_equal(pop3_parse_rcode("[IN-USE"), POP3_RC_NONE);
	assert_int_equal(pop3_parse_rcode("[]"), POP3_RC_NONE);
	assert_int_equal(pop3_parse_rcode(""), POP3_RC_NONE);
}

/* LIST lines: "n size", anything after a space may follow. */
static void
test_parse_list_line(void **state)
{
	unsigned long long size;
	unsigned long n;

	(void)state;
	assert_int_equal(pop3_parse_list_line("1 100", &n, &size), 0);
	assert_int_equal(n, 1);
	assert_int_equal(size, 100);
	assert_int_equal(pop3_parse_list_line("2 0 extra info", &n, &size), 0);
	assert_int_equal(size, 0);
	assert_int_equal(pop3_parse_list_line("007 12", &n, &size), 0);
	assert_int_equal(n, 7);
	assert_int_equal(
	    pop3_parse_list_line("3 18446744073709551615", &n, &size), 0);
	assert_true(size == ULLONG_MAX);
	assert_int_equal(
	    pop3_parse_list_line("3 99999999999999999999", &n, &size), -1);
	assert_int_equal(pop3_parse_list_line("-5 100", &n, &size), -1);
	assert_int_equal(pop3_parse_list_line("5 -100", &n, &size), -1);
	assert_int_equal(pop3_parse_list_line("0 100", &n, &size), -1);
	assert_int_equal(pop3_parse_list_line("1  100", &n, &size), -1);
	assert_int_equal(pop3_parse_list_line("1\t100", &n, &size), -1);
	assert_int_equal(pop3_parse_list_line("1 100x", &n, &size), -1);
	assert_int_equal(pop3_parse_list_line("1", &n, &size), -1);
	assert_int_equal(pop3_parse_list_line("1 ", &n, &size), -1);
	assert_int_equal(pop3_parse_list_line("", &n, &size), -1);
	assert_int_equal(pop3_parse_list_line("+1 2", &n, &size), -1);
}

/* UIDL lines: 1..POP3_UID_MAX bytes of 0x21-0x7e. */
static void
test_parse_uidl_line(void **state)
{
	char line[POP3_UID_MAX + 16];
	const char *uid;
	unsigned long n;
	size_t len;

	(void)state;
	assert_int_equal(pop3_parse_uidl_line("1 abc", &n, &uid, &len), 0);
	assert_int_equal(n, 1);
	assert_int_equal(len, 3);
	assert_memory_equal(uid, "abc", 3);
	assert_int_equal(pop3_parse_uidl_line("12 ../../x", &n, &uid, &len), 0);
	assert_int_equal(pop3_parse_uidl_line("1 ", &n, &uid, &len), -1);
	assert_int_equal(pop3_parse_uidl_line("1", &n, &uid, &len), -1);
	assert_int_equal(pop3_parse_uidl_line("1 a b", &n, &uid, &len), -1);
	assert_int_equal(pop3_parse_uidl_line("1  ab", &n, &uid, &len), -1);
	assert_int_equal(pop3_parse_uidl_line("1 a\tb", &n, &uid, &len), -1);
	assert_int_equal(
	    pop3_parse_uidl_line("1 a\x1b[0m", &n, &uid, &len), -1);
	assert_int_equal(pop3_parse_uidl_line("1 \x80", &n, &uid, &len), -1);
	assert_int_equal(pop3_parse_uidl_line("1 a\x7f", &n, &uid, &len), -1);
	assert_int_equal(pop3_parse_uidl_line("x abc", &n, &uid, &len), -1);
	assert_int_equal(pop3_parse_uidl_line("0 abc", &n, &uid, &len), -1);
	assert_int_equal(pop3_parse_uidl_line("-1 abc", &n, &uid, &len), -1);
	memcpy(line, "9 ", 2);
	memset(line + 2, 'u', POP3_UID_MAX);
	line[2 + POP3_UID_MAX] = '\0';
	assert_int_equal(pop3_parse_uidl_line(line, &n, &uid, &len), 0);
	assert_int_equal(len, POP3_UID_MAX);
	line[2 + POP3_UID_MAX] = 'u';
	line[3 + POP3_UID_MAX] = '\0';
	assert_int_equal(pop3_parse_uidl_line(line, &n, &uid, &len), -1);
}

/* Reset a capability struct as pop3_capa() does. */
static void
capa_blank(struct pop3_capa *c)
{
	memset(c, 0, sizeof(*c));
	c->login_delay = -1;
	c->expire = -1;
}

/* CAPA lines, case-insensitive, with values. */
static void
test_parse_capa(void **state)
{
	struct pop3_capa c;

	(void)state;
	capa_blank(&c);
	pop3_parse_capa_line(&c, "top");
	pop3_parse_capa_line(&c, "Uidl");
	pop3_parse_capa_line(&c, "USER");
	pop3_parse_capa_line(&c, "PIPELINING");
	pop3_parse_capa_line(&c, "STLS");
	pop3_parse_capa_line(&c, "RESP-CODES");
	pop3_parse_capa_line(&c, "AUTH-RESP-CODE");
	pop3_parse_capa_line(&c, "sasl plain Scram-SHA-256 bad!mech");
	pop3_parse_capa_line(&c, "SASL xoauth2");
	pop3_parse_capa_line(&c, "LOGIN-DELAY 900");
	pop3_parse_capa_line(&c, "EXPIRE NEVER");
	pop3_parse_capa_line(&c, "IMPLEMENTATION Evil\x1b[31m Server");
	pop3_parse_capa_line(&c, "X-UNKNOWN whatever");
	pop3_parse_capa_line(&c, "");
	assert_true(c.top && c.uidl && c.user && c.pipelining && c.stls);
	assert_true(c.resp_codes && c.auth_resp_code);
	assert_false(c.sasl_ir);
	assert_string_equal(c.sasl, "PLAIN SCRAM-SHA-256 XOAUTH2");
	assert_int_equal(c.login_delay, 900);
	assert_int_equal(c.expire, -2);
	assert_string_equal(c.implementation, "Evil\\x1b[31m Server");

	capa_blank(&c);
	pop3_parse_capa_line(&c, "EXPIRE 30 USER");
	pop3_parse_capa_line(&c, "LOGIN-DELAY -5");
	assert_int_equal(c.expire, 30);
	assert_int_equal(c.login_delay, -1);
	assert_false(c.top);
}

/* ---- sessions against the scripted peer (peer.h) ---- */

/* The peer of the session under way, freed by end(). */
static struct peer *cur_peer;

/* A session over a script; chunk bytes per read. */
static struct peer *
session(struct pop3 **p, const struct peer_step *steps, size_t nsteps,
    size_t chunk, int trace)
{
	struct pop3_params par = {.trace = trace};

	cur_peer = peer_new(steps, nsteps, chunk);
	*p = pop3_new(peer_stream(cur_peer), &par);
	return cur_peer;
}

/* End the session: free it and its peer. */
static void
end(struct pop3 *p)
{
	pop3_free(p);
	peer_free(cur_peer);
	cur_peer = NULL;
}

#define NSTEPS(a) (sizeof(a) / sizeof((a)[0]))
#define GREET                                         \
	{                                             \
		NULL, "+OK POP3 ready <1.2@x>\r\n", 0 \
	}

/* The script must have been played out exactly. */
static void
script_done(struct peer *pe)
{
	const char *why;

	if (!peer_done(pe, &why))
		fail_msg("peer: %s", why);
}

/* A body callback's collector of the decoded message. */
struct collector {
	char buf[256];
	size_t len;
	unsigned calls;
	unsigned fail_at; /* fail on this call (1-based); 0 never */
};

/* Append to the collector, or fail as told. */
static int
collect_fn(void *ctx, const char *buf, size_t len, struct pf_err *err)
{
	struct collector *k = ctx;

	k->calls++;
	if (k->fail_at != 0 && k->calls == k->fail_at)
		return pf_err_set(err, PF_EIO, "disk full");
	assert_true(k->len + len <= sizeof(k->buf));
	memcpy(k->buf + k->len, buf, len);
	k->len += len;
	return 0;
}

/* ---- sessions ---- */

/* Greeting, CAPA, STAT, listings, RETR, DELE, QUIT in many chunkings. */
static void
test_session_basic(void **state)
{
	static const struct peer_step steps[] = {
	    GREET,
	    {"CAPA\r\n",
		"+OK capa list\r\nTOP\r\nUIDL\r\nSASL plain\r\n"
		"..DOT\r\n.\r\n",
		0},
	    {"USER u\r\n", "+OK\r\n", 0},
	    {"PASS pw\r\n", "+OK in\r\n", 0},
	    {"STAT\r\n", "+OK 2 320\r\n", 0},
	    {"UIDL\r\n", "+OK\r\n1 uid-a\r\n2 uid-b\r\n.\r\n", 0},
	    {"LIST\r\n", "+OK 2 messages\r\n1 120\r\n2 200\r\n.\r\n", 0},
	    {"RETR 1\r\n",
		"+OK 120 octets\r\nSubject: x\r\n\r\n..dot\r\n"
		"a\rb\r\n.\r\n",
		0},
	    {"DELE 1\r\n", "+OK deleted\r\n", 0},
	    {"QUIT\r\n", "+OK bye\r\n", 0},
	};
	static const char want[] = "Subject: x\n\n.dot\na\rb\n";
	struct pf_err err;
	struct pop3_msg *msgs;
	struct collector k;
	struct pop3 *p;
	struct peer *m;
	unsigned long count;
	unsigned long long size, octets;
	bool have_uidl;
	size_t chunk;

	(void)state;
	for (chunk = 1; chunk <= 300; chunk += (chunk < 40 ? 1 : 37)) {
		m = session(&p, steps, NSTEPS(steps), chunk, 0);
		assert_int_equal(pop3_state(p), POP3_ST_GREETING);
		assert_int_equal(pop3_greeting(p, &err), 0);
		assert_string_equal(
		    pop3_greeting_text(p), "POP3 ready <1.2@x>");
		assert_int_equal(pop3_state(p), POP3_ST_AUTHORIZATION);
		assert_int_equal(pop3_capa(p, &err), 0);
		assert_true(pop3_capabilities(p)->valid &&
		    pop3_capabilities(p)->top && pop3_capabilities(p)->uidl);
		assert_false(pop3_capabilities(p)->pipelining);
		assert_string_equal(pop3_capabilities(p)->sasl, "PLAIN");
		assert_int_equal(
		    pop3_simple(p, POP3_CMD_USER, "u", &err), POP3_OK);
		assert_int_equal(pop3_state(p), POP3_ST_AUTHORIZATION);
		assert_int_equal(
		    pop3_simple(p, POP3_CMD_PASS, "pw", &err), POP3_OK);
		assert_int_equal(pop3_state(p), POP3_ST_TRANSACTION);
		assert_int_equal(pop3_stat(p, &count, &size, &err), 0);
		assert_int_equal(count, 2);
		assert_int_equal(size, 320);
		assert_int_equal(
		    pop3_listings(p, count, true, &msgs, &have_uidl, &err), 0);
		assert_true(have_uidl);
		assert_int_equal(msgs[0].n, 1);
		assert_int_equal(msgs[0].size, 120);
		assert_string_equal(msgs[0].uid, "uid-a");
		assert_int_equal(msgs[1].size, 200);
		assert_string_equal(msgs[1].uid, "uid-b");
		pop3_msgs_free(msgs, count);
		assert_int_equal(
		    pop3_simple(p, POP3_CMD_RETR, "1", &err), POP3_OK);
		memset(&k, 0, sizeof(k));
		assert_int_equal(
		    pop3_body(p, collect_fn, &k, &octets, &err), 0);
		assert_int_equal(k.len, sizeof(want) - 1);
		assert_memory_equal(k.buf, want, k.len);
		assert_int_equal(octets, sizeof(want) - 1);
		assert_int_equal(
		    pop3_simple(p, POP3_CMD_DELE, "1", &err), POP3_OK);
		assert_string_equal(pop3_text(p), "deleted");
		assert_int_equal(pop3_quit(p, &err), POP3_OK);
		assert_int_equal(pop3_state(p), POP3_ST_UPDATE);
		script_done(m);
		end(p);
	}
}

/* With PIPELINING, UIDL and LIST go out together before any read. */
static void
test_listings_pipelined(void **state)
{
	static const struct peer_step steps[] = {
	    GREET,
	    {"CAPA\r\n", "+OK\r\nPIPELINING\r\nUIDL\r\n.\r\n", 0},
	    /* Released only once both commands are written. */
	    {"UIDL\r\nLIST\r\n",
		"+OK\r\n2 b\r\n1 a\r\n.\r\n"
		"+OK\r\n2 5\r\n1 4\r\n.\r\n",
		0},
	};
	struct pf_err err;
	struct pop3_msg *msgs;
	struct pop3 *p;
	struct peer *m;
	bool have_uidl;

	(void)state;
	m = session(&p, steps, NSTEPS(steps), 3, 0);
	assert_int_equal(pop3_greeting(p, &err), 0);
	assert_int_equal(pop3_capa(p, &err), 0);
	assert_true(pop3_capabilities(p)->pipelining);
	assert_int_equal(pop3_listings(p, 2, true, &msgs, &have_uidl, &err), 0);
	assert_true(have_uidl);
	assert_string_equal(msgs[0].uid, "a");
	assert_string_equal(msgs[1].uid, "b");
	assert_int_equal(msgs[0].size, 4);
	assert_int_equal(msgs[1].size, 5);
	pop3_msgs_free(msgs, 2);
	script_done(m);
	end(p);
}

/* With PIPELINING, STAT, UIDL and LIST leave in one write; an empty
 * mailbox still has its two listings read. */
static void
test_scan_pipelined(void **state)
{
	static const struct peer_step steps[] = {
	    GREET,
	    {"CAPA\r\n", "+OK\r\nPIPELINING\r\nUIDL\r\n.\r\n", 0},
	    /* Released only once all three commands are written. */
	    {"STAT\r\nUIDL\r\nLIST\r\n",
		"+OK 2 9\r\n"
		"+OK\r\n2 b\r\n1 a\r\n.\r\n"
		"+OK\r\n2 5\r\n1 4\r\n.\r\n",
		0},
	    {"STAT\r\nUIDL\r\nLIST\r\n", "+OK 0 0\r\n+OK\r\n.\r\n+OK\r\n.\r\n",
		0},
	};
	struct pf_err err;
	struct pop3_msg *msgs;
	unsigned long long size;
	unsigned long count;
	struct pop3 *p;
	struct peer *m;
	bool have_uidl;

	(void)state;
	m = session(&p, steps, NSTEPS(steps), 3, 0);
	assert_int_equal(pop3_greeting(p, &err), 0);
	assert_int_equal(pop3_capa(p, &err), 0);
	assert_int_equal(
	    pop3_scan(p, &count, &size, &msgs, &have_uidl, &err), 0);
	assert_int_equal(count, 2);
	assert_int_equal(size, 9);
	assert_true(have_uidl);
	assert_string_equal(msgs[0].uid, "a");
	assert_int_equal(msgs[1].size, 5);
	pop3_msgs_free(msgs, count);
	assert_int_equal(
	    pop3_scan(p, &count, &size, &msgs, &have_uidl, &err), 0);
	assert_int_equal(count, 0);
	pop3_msgs_free(msgs, count);
	script_done(m);
	end(p);
}

/* Without PIPELINING, LIST waits for the whole UIDL answer. */
static void
test_listings_sequential(void **state)
{
	static const struct peer_step steps[] = {
	    GREET,
	    {"UIDL\r\n", "+OK\r\n1 a\r\n.\r\n", 0},
	    {"LIST\r\n", "+OK\r\n1 4\r\n.\r\n", 0},
	};
	struct pf_err err;
	struct pop3_msg *msgs;
	struct pop3 *p;
	struct peer *m;
	bool have_uidl;
	unsigned i, first;

	(void)state;
	m = session(&p, steps, NSTEPS(steps), 4, 0);
	assert_int_equal(pop3_greeting(p, &err), 0);
	first = peer_reads(m);
	assert_int_equal(pop3_listings(p, 1, true, &msgs, &have_uidl, &err), 0);
	/* Every read for the UIDL answer saw only "UIDL\r\n" written. */
	assert_true(peer_reads(m) > first + 2);
	for (i = first; i < first + 2; i++)
		assert_int_equal(peer_written_at_read(m, i), 6);
	assert_string_equal(msgs[0].uid, "a");
	pop3_msgs_free(msgs, 1);
	script_done(m);
	end(p);
}

/* A mailbox of zero messages sends nothing at all. */
static void
test_listings_empty(void **state)
{
	static const struct peer_step steps[] = {GREET};
	struct pf_err err;
	static struct pop3_msg dummy;
	struct pop3_msg *msgs = &dummy;
	struct pop3 *p;
	struct peer *m;
	bool have_uidl;

	(void)state;
	m = session(&p, steps, NSTEPS(steps), 64, 0);
	assert_int_equal(pop3_greeting(p, &err), 0);
	assert_int_equal(pop3_listings(p, 0, true, &msgs, &have_uidl, &err), 0);
	assert_null(msgs);
	assert_int_equal(strlen(peer_written(m, NULL)), 0);
	end(p);
}

/* Run pop3_listings() for 3 messages against given answers. */
static int
listing_case(const char *uidl, const char *list, bool *have_uidl,
    struct pf_err *err, char **uid2)
{
	struct peer_step steps[] = {
	    GREET,
	    {"UIDL\r\n", uidl, 0},
	    {"LIST\r\n", list, 0},
	};
	struct pop3_msg *msgs;
	struct pop3 *p;
	struct peer *m;
	int r;

	m = session(&p, steps, list != NULL ? 3 : 2, 5, 0);
	assert_int_equal(pop3_greeting(p, err), 0);
	r = pop3_listings(p, 3, true, &msgs, have_uidl, err);
	if (r == 0) {
		*uid2 = msgs[1].uid != NULL ? strdup(msgs[1].uid) : NULL;
		pop3_msgs_free(msgs, 3);
	} else {
		assert_null(msgs);
	}
	assert_false(peer_failed(m));
	end(p);
	return r;
}

/* Listing validation: ranges, duplicates, omissions, bad UIDs, -ERR. */
static void
test_listings_validation(void **state)
{
	static const char list_ok[] = "+OK\r\n1 1\r\n2 2\r\n3 3\r\n.\r\n";
	struct pf_err err;
	bool have_uidl;
	char *uid2 = NULL;

	(void)state;
	/* UIDL may omit a message. */
	assert_int_equal(listing_case("+OK\r\n1 a\r\n3 c\r\n.\r\n", list_ok,
			     &have_uidl, &err, &uid2),
	    0);
	assert_true(have_uidl);
	assert_null(uid2);
	/* UIDL -ERR: no UIDs, still fine. */
	assert_int_equal(listing_case("-ERR not supported\r\n", list_ok,
			     &have_uidl, &err, &uid2),
	    0);
	assert_false(have_uidl);
	/* A UID of POP3_UID_MAX (70) characters is fine. */
	{
		char u[POP3_UID_MAX + 64];

		memcpy(u, "+OK\r\n2 ", 7);
		memset(u + 7, 'k', POP3_UID_MAX);
		memcpy(u + 7 + POP3_UID_MAX, "\r\n.\r\n", 6);
		assert_int_equal(
		    listing_case(u, list_ok, &have_uidl, &err, &uid2), 0);
		assert_int_equal(strlen(uid2), POP3_UID_MAX);
		free(uid2);
		memcpy(u + 7 + POP3_UID_MAX, "k\r\n.\r\n", 7);
		assert_int_equal(
		    listing_case(u, list_ok, &have_uidl, &err, &uid2), -1);
		assert_int_equal(err.code, PF_EPROTO);
		assert_string_equal(err.msg, "invalid UID for message 2");
	}
	/* Errors; the listing is still read to its end (script matches). */
	assert_int_equal(listing_case("+OK\r\n1 a\r\n1 b\r\n.\r\n", list_ok,
			     &have_uidl, &err, &uid2),
	    -1);
	assert_int_equal(err.code, PF_EPROTO);
	assert_int_equal(listing_case("+OK\r\n4 a\r\n.\r\n", list_ok,
			     &have_uidl, &err, &uid2),
	    -1);
	assert_int_equal(err.code, PF_EPROTO);
	assert_int_equal(listing_case("+OK\r\n1 a b\r\n.\r\n", list_ok,
			     &have_uidl, &err, &uid2),
	    -1);
	assert_string_equal(err.msg, "invalid UID for message 1");
	assert_int_equal(listing_case("+OK\r\n1 \x1b\r\n.\r\n", list_ok,
			     &have_uidl, &err, &uid2),
	    -1);
	assert_int_equal(
	    listing_case("+OK\r\n.\r\n", "+OK\r\n1 1\r\n2 2\r\n.\r\n",
		&have_uidl, &err, &uid2),
	    -1);
	assert_int_equal(err.code, PF_EPROTO);
	assert_int_equal(listing_case("+OK\r\n.\r\n",
			     "+OK\r\n1 1\r\n2 2\r\n3 3\r\n2 2\r\n.\r\n",
			     &have_uidl, &err, &uid2),
	    -1);
	assert_int_equal(err.code, PF_EPROTO);
	assert_int_equal(
	    listing_case("+OK\r\n.\r\n", "+OK\r\n1 1\r\n2 -5\r\n3 3\r\n.\r\n",
		&have_uidl, &err, &uid2),
	    -1);
	assert_int_equal(err.code, PF_EPROTO);
	assert_int_equal(listing_case("+OK\r\n.\r\n", "-ERR no\r\n", &have_uidl,
			     &err, &uid2),
	    -1);
	assert_int_equal(err.code, PF_EPROTO);
	/* A listing cut off by EOF. */
	assert_int_equal(
	    listing_case("+OK\r\n1 a\r\n", NULL, &have_uidl, &err, &uid2), -1);
	assert_int_equal(err.code, PF_ETEMP);
}

/* RETR with a pipelined DELE: bytes after the body stay for the reply. */
static void
test_body_pipelined(void **state)
{
	static const struct peer_step steps[] = {
	    GREET,
	    {"RETR 1\r\nDELE 1\r\n", "+OK\r\nline\r\n.\r\n+OK gone\r\n", 0},
	};
	struct pf_err err;
	struct collector k;
	struct pop3 *p;
	struct peer *m;
	size_t chunk;

	(void)state;
	for (chunk = 1; chunk <= 40; chunk++) {
		m = session(&p, steps, NSTEPS(steps), chunk, 0);
		assert_int_equal(pop3_greeting(p, &err), 0);
		assert_int_equal(
		    pop3_cmd(p, POP3_CMD_RETR, "1", false, &err), 0);
		assert_int_equal(
		    pop3_cmd(p, POP3_CMD_DELE, "1", false, &err), 0);
		assert_int_equal(pop3_reply(p, &err), POP3_OK);
		memset(&k, 0, sizeof(k));
		assert_int_equal(pop3_body(p, collect_fn, &k, NULL, &err), 0);
		assert_int_equal(k.len, 5);
		assert_memory_equal(k.buf, "line\n", 5);
		assert_int_equal(pop3_reply(p, &err), POP3_OK);
		assert_string_equal(pop3_text(p), "gone");
		script_done(m);
		end(p);
	}
}

/* A sink failing mid-body: the body is drained, the next reply parses. */
static void
test_body_sink_fails(void **state)
{
	static const struct peer_step steps[] = {
	    GREET,
	    {"RETR 1\r\nNOOP\r\n", "+OK\r\na\r\nb\r\nc\r\n.\r\n+OK noop\r\n",
		0},
	};
	struct pf_err err;
	unsigned long long octets;
	struct collector k;
	struct pop3 *p;
	struct peer *m;

	(void)state;
	m = session(&p, steps, NSTEPS(steps), 2, 0);
	assert_int_equal(pop3_greeting(p, &err), 0);
	assert_int_equal(pop3_cmd(p, POP3_CMD_RETR, "1", false, &err), 0);
	assert_int_equal(pop3_cmd(p, POP3_CMD_NOOP, NULL, false, &err), 0);
	assert_int_equal(pop3_reply(p, &err), POP3_OK);
	memset(&k, 0, sizeof(k));
	k.fail_at = 1;
	assert_int_equal(pop3_body(p, collect_fn, &k, &octets, &err), -1);
	assert_int_equal(err.code, PF_EIO);
	assert_string_equal(err.msg, "disk full");
	assert_int_equal(k.calls, 1);
	assert_int_equal(octets, 6);
	assert_int_equal(pop3_reply(p, &err), POP3_OK);
	assert_string_equal(pop3_text(p), "noop");
	script_done(m);
	end(p);
}

/* EOF in a body, in each of the places of docs/faults.md #3. */
static void
test_body_eof(void **state)
{
	static const char *const cuts[] = {
	    "+OK\r\nhalf a li",
	    "+OK\r\nline\r\n",
	    "+OK\r\nline\r\n.",
	    "+OK\r\nline\r\n.\r",
	};
	struct pf_err err;
	struct collector k;
	struct pop3 *p;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		struct peer_step steps[] = {GREET, {"RETR 1\r\n", cuts[i], 0}};

		(void)session(&p, steps, NSTEPS(steps), 3, 0);
		assert_int_equal(pop3_greeting(p, &err), 0);
		assert_int_equal(
		    pop3_simple(p, POP3_CMD_RETR, "1", &err), POP3_OK);
		memset(&k, 0, sizeof(k));
		assert_int_equal(pop3_body(p, collect_fn, &k, NULL, &err), -1);
		assert_int_equal(err.code, PF_ETEMP);
		assert_string_equal(
		    err.msg, "connection closed in the middle of a message");
		assert_int_equal(pop3_state(p), POP3_ST_CLOSED);
		end(p);
	}
}

/* The command queue carries the caller's tags, in order, and tells how
 * much room is left; pop3_abandon() ends the session for good. */
static void
test_tags(void **state)
{
	static const struct peer_step steps[] = {
	    GREET,
	    {"RETR 1\r\nDELE 2\r\n", "+OK\r\nbody\r\n.\r\n+OK gone\r\n", 0},
	};
	struct pf_err err;
	struct peer *m;
	struct pop3 *p;
	enum pop3_cmd cmd;
	unsigned long tag;
	struct collector k;
	unsigned room;

	(void)state;
	m = session(&p, steps, NSTEPS(steps), 5, 0);
	assert_int_equal(pop3_greeting(p, &err), 0);
	room = pop3_room(p);
	assert_true(room >= 128);
	assert_int_equal(pop3_pending(p), 0);
	assert_int_equal(pop3_cmd_tagged(p, POP3_CMD_RETR, "1", 7, &err), 0);
	assert_int_equal(pop3_cmd_tagged(p, POP3_CMD_DELE, "2", 9, &err), 0);
	assert_int_equal(pop3_pending(p), 2);
	assert_int_equal(pop3_room(p), room - 2);
	assert_true(pop3_next(p, &cmd, &tag));
	assert_int_equal(cmd, POP3_CMD_RETR);
	assert_int_equal(tag, 7);
	assert_int_equal(pop3_reply(p, &err), POP3_OK);
	memset(&k, 0, sizeof(k));
	assert_int_equal(pop3_body(p, collect_fn, &k, NULL, &err), 0);
	assert_true(pop3_next(p, &cmd, &tag));
	assert_int_equal(cmd, POP3_CMD_DELE);
	assert_int_equal(tag, 9);
	assert_int_equal(pop3_reply(p, &err), POP3_OK);
	assert_false(pop3_next(p, &cmd, &tag));
	assert_int_equal(pop3_room(p), room);
	script_done(m);
	/* Abandoned: nothing more is sent, whatever the caller asks. */
	pop3_abandon(p);
	assert_int_equal(pop3_state(p), POP3_ST_CLOSED);
	assert_int_equal(pop3_cmd(p, POP3_CMD_NOOP, NULL, false, &err), -1);
	assert_int_equal(err.code, PF_ETEMP);
	assert_int_equal(pop3_quit(p, &err), -1);
	script_done(m);
	end(p);
}

/* Unsolicited lines: after a reply, or when nothing is pending. */
static void
test_unsolicited(void **state)
{
	static const struct peer_step steps[] = {
	    GREET,
	    {"NOOP\r\n", "+OK\r\n+OK extra\r\n", 0},
	};
	static const struct peer_step steps2[] = {
	    GREET,
	    {"STAT\r\n", "+OK 1 5\r\n1 5\r\n.\r\n", 0},
	};
	static const struct peer_step steps3[] = {
	    {NULL, "+OK\r\n+OK real greeting\r\n", 0},
	};
	struct pf_err err;
	unsigned long count;
	unsigned long long size;
	struct pop3 *p;

	(void)state;
	(void)session(&p, steps, NSTEPS(steps), 100, 0);
	assert_int_equal(pop3_greeting(p, &err), 0);
	assert_int_equal(pop3_simple(p, POP3_CMD_NOOP, NULL, &err), -1);
	assert_int_equal(err.code, PF_EPROTO);
	end(p);

	(void)session(&p, steps2, NSTEPS(steps2), 100, 0);
	assert_int_equal(pop3_greeting(p, &err), 0);
	assert_int_equal(pop3_stat(p, &count, &size, &err), -1);
	assert_int_equal(err.code, PF_EPROTO);
	end(p);

	(void)session(&p, steps3, NSTEPS(steps3), 100, 0);
	assert_int_equal(pop3_greeting(p, &err), -1);
	assert_int_equal(err.code, PF_EPROTO);
	end(p);

	/* A reply read while no command waits for one is refused (bytes
	 * already in the buffer then are PF_EPROTO, which the checks after
	 * every reply make unreachable from outside). */
	(void)session(&p, steps, 1, 100, 0);
	assert_int_equal(pop3_greeting(p, &err), 0);
	assert_false(pop3_next(p, NULL, NULL));
	assert_int_equal(pop3_reply(p, &err), -1);
	assert_int_equal(err.code, PF_ESOFTWARE);
	end(p);
}

/* Greeting outcomes and their error classes. */
static void
test_greeting(void **state)
{
	static const struct {
		const char *line;
		int rv;
		enum pf_errc code;
	} cases[] = {
	    {"+OK hi\r\n", 0, PF_OK},
	    {"+OK\r\n", 0, PF_OK},
	    {"-ERR [IN-USE] locked\r\n", -1, PF_ETEMP},
	    {"-ERR [SYS/TEMP] later\r\n", -1, PF_ETEMP},
	    {"-ERR [SYS/PERM] never\r\n", -1, PF_EUNAVAIL},
	    {"-ERR go away\r\n", -1, PF_EUNAVAIL},
	    {"+OKhello\r\n", -1, PF_EPROTO},
	    {"+ hello\r\n", -1, PF_EPROTO},
	    {"* OK IMAP\r\n", -1, PF_EPROTO},
	    {"+OK a\0b\r\n", -1, PF_EPROTO},
	    {"+OK cut", -1, PF_ETEMP},
	    {"", -1, PF_ETEMP},
	};
	struct pf_err err;
	struct pop3 *p;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct peer_step steps[] = {
		    {NULL, cases[i].line, i == 9 ? 9 : 0}};

		if (cases[i].line[0] == '\0')
			(void)session(&p, steps, 0, 7, 0);
		else
			(void)session(&p, steps, 1, 7, 0);
		pf_err_clear(&err);
		assert_int_equal(pop3_greeting(p, &err), cases[i].rv);
		assert_int_equal(err.code, cases[i].code);
		end(p);
	}
	/* The server text is sanitized in the message. */
	{
		struct peer_step steps[] = {
		    {NULL, "-ERR [IN-USE] \x1b[2Jgone\r\n", 0},
		};

		(void)session(&p, steps, 1, 100, 0);
		assert_int_equal(pop3_greeting(p, &err), -1);
		assert_null(strchr(err.msg, '\x1b'));
		assert_non_null(strstr(err.msg, "\\x1b[2Jgone"));
		end(p);
	}
}

/* STLS: clean, with injected bytes, with layer-buffered bytes, -ERR. */
static void
test_stls(void **state)
{
	static const struct peer_step ok[] = {
	    GREET,
	    {"CAPA\r\n", "+OK\r\nSTLS\r\n.\r\n", 0},
	    {"STLS\r\n", "+OK begin TLS\r\n", 0},
	};
	static const struct peer_step inject[] = {
	    GREET,
	    {"STLS\r\n", "+OK begin TLS\r\n+OK injected\r\n", 0},
	};
	static const struct peer_step plain[] = {
	    GREET,
	    {"STLS\r\n", "+OK begin TLS\r\n", 0},
	};
	static const struct peer_step refuse[] = {
	    GREET,
	    {"STLS\r\n", "-ERR [SYS/TEMP] no TLS today\r\n", 0},
	};
	struct pf_err err;
	struct pop3 *p;
	struct peer *m;

	(void)state;
	(void)session(&p, ok, NSTEPS(ok), 100, 0);
	assert_int_equal(pop3_greeting(p, &err), 0);
	assert_int_equal(pop3_capa(p, &err), 0);
	assert_true(pop3_capabilities(p)->valid && pop3_capabilities(p)->stls);
	assert_int_equal(pop3_stls(p, &err), 0);
	assert_false(pop3_capabilities(p)->valid);
	end(p);

	(void)session(&p, inject, NSTEPS(inject), 100, 0);
	assert_int_equal(pop3_greeting(p, &err), 0);
	assert_int_equal(pop3_stls(p, &err), -1);
	assert_int_equal(err.code, PF_EPROTO);
	assert_string_equal(err.msg,
	    "unexpected data after STLS response (possible injection)");
	end(p);

	m = session(&p, plain, NSTEPS(plain), 100, 0);
	assert_int_equal(pop3_greeting(p, &err), 0);
	peer_set_pending(m, true);
	assert_int_equal(pop3_stls(p, &err), -1);
	assert_int_equal(err.code, PF_EPROTO);
	end(p);

	(void)session(&p, refuse, NSTEPS(refuse), 100, 0);
	assert_int_equal(pop3_greeting(p, &err), 0);
	assert_int_equal(pop3_stls(p, &err), -1);
	assert_int_equal(err.code, PF_ENOPERM);
	end(p);
}

/* CAPA: -ERR leaves capa invalid; too many lines are refused. */
static void
test_capa(void **state)
{
	static const struct peer_step err_steps[] = {
	    GREET,
	    {"CAPA\r\n", "-ERR unknown command\r\n", 0},
	};
	struct peer_step many[2] = {GREET, {"CAPA\r\n", NULL, 0}};
	struct pf_err err;
	struct pop3 *p;
	char *big;
	size_t i, len;

	(void)state;
	(void)session(&p, err_steps, NSTEPS(err_steps), 100, 0);
	assert_int_equal(pop3_greeting(p, &err), 0);
	assert_int_equal(pop3_capa(p, &err), 0);
	assert_false(pop3_capabilities(p)->valid);
	assert_int_equal(pop3_capabilities(p)->login_delay, -1);
	end(p);

	big = malloc(4 + 2 + 1001 * 6 + 4);
	assert_non_null(big);
	len = 0;
	memcpy(big, "+OK\r\n", 5);
	len = 5;
	for (i = 0; i < 1001; i++) {
		memcpy(big + len, "TOP\r\n", 5);
		len += 5;
	}
	memcpy(big + len, ".\r\n", 4);
	many[1].server = big;
	(void)session(&p, many, 2, 4096, 0);
	assert_int_equal(pop3_greeting(p, &err), 0);
	assert_int_equal(pop3_capa(p, &err), -1);
	assert_int_equal(err.code, PF_EPROTO);
	assert_false(pop3_capabilities(p)->valid);
	end(p);

	/* Exactly 1000 lines are fine. */
	memcpy(big + len - 5, ".\r\n", 4);
	(void)session(&p, many, 2, 4096, 0);
	assert_int_equal(pop3_greeting(p, &err), 0);
	assert_int_equal(pop3_capa(p, &err), 0);
	assert_true(pop3_capabilities(p)->valid && pop3_capabilities(p)->top);
	end(p);
	free(big);
}

/* STAT answers. */
static void
test_stat(void **state)
{
	static const struct {
		const char *reply;
		int rv;
		unsigned long count;
	} cases[] = {
	    {"+OK 2 320\r\n", 0, 2},
	    {"+OK 0 0\r\n", 0, 0},
	    {"+OK 2 320 messages\r\n", 0, 2},
	    {"+OK 1000000 5\r\n", 0, 1000000},
	    {"+OK 1000001 5\r\n", -1, 0},
	    {"+OK 2\r\n", -1, 0},
	    {"+OK -1 5\r\n", -1, 0},
	    {"+OK 2  320\r\n", -1, 0},
	    {"+OK 2 320x\r\n", -1, 0},
	    {"+OK\r\n", -1, 0},
	    {"-ERR no\r\n", -1, 0},
	};
	struct pf_err err;
	unsigned long count;
	unsigned long long size;
	struct pop3 *p;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct peer_step steps[] = {
		    GREET,
		    {"STAT\r\n", cases[i].reply, 0},
		};

		(void)session(&p, steps, NSTEPS(steps), 100, 0);
		assert_int_equal(pop3_greeting(p, &err), 0);
		count = 99;
		assert_int_equal(
		    pop3_stat(p, &count, &size, &err), cases[i].rv);
		if (cases[i].rv == 0)
			assert_int_equal(count, cases[i].count);
		else
			assert_int_equal(err.code, PF_EPROTO);
		end(p);
	}
}

/* SASL continuations only for AUTH; "+" alone too; +OK logs in. */
static void
test_sasl_cont(void **state)
{
	static const struct peer_step steps[] = {
	    GREET,
	    {"AUTH PLAIN\r\n", "+ \r\n", 0},
	    {"AGFsaWNlAHNlY3JldA==\r\n", "+\r\n", 0},
	    {"\r\n", "+OK logged in\r\n", 0},
	    {"NOOP\r\n", "+ what\r\n", 0},
	};
	struct pf_err err;
	struct pop3 *p;

	(void)state;
	(void)session(&p, steps, NSTEPS(steps), 100, 0);
	assert_int_equal(pop3_greeting(p, &err), 0);
	assert_int_equal(pop3_cmd(p, POP3_CMD_AUTH, "PLAIN", false, &err), 0);
	assert_int_equal(pop3_reply(p, &err), POP3_CONT);
	assert_string_equal(pop3_text(p), "");
	assert_int_equal(
	    pop3_cmd(p, POP3_CMD_SASL, "AGFsaWNlAHNlY3JldA==", true, &err), 0);
	assert_int_equal(pop3_reply(p, &err), POP3_CONT);
	assert_int_equal(pop3_cmd(p, POP3_CMD_SASL, "", true, &err), 0);
	assert_int_equal(pop3_reply(p, &err), POP3_OK);
	assert_int_equal(pop3_state(p), POP3_ST_TRANSACTION);
	assert_int_equal(pop3_simple(p, POP3_CMD_NOOP, NULL, &err), -1);
	assert_int_equal(err.code, PF_EPROTO);
	end(p);
}

/* Command checks, -ERR mapping and over-long status lines. */
static void
test_cmd_and_errors(void **state)
{
	static const struct peer_step steps[] = {
	    GREET,
	    {"RETR 9\r\n", "-ERR [SYS/PERM] no such message\r\n", 0},
	    {"DELE 9\r\n", "-ERR [AUTH] who are you\r\n", 0},
	    {"RETR 8\r\n", "-ERR plain\r\n", 0},
	    {"QUIT\r\n", "+OK\r\n", 0},
	};
	static const struct peer_step longline[] = {
	    GREET,
	    {"NOOP\r\n", NULL, 0},
	};
	struct peer_step ll[2];
	struct pf_err err;
	struct pop3 *p;
	char *big;

	(void)state;
	(void)session(&p, steps, NSTEPS(steps), 100, 0);
	assert_int_equal(pop3_greeting(p, &err), 0);
	assert_int_equal(
	    pop3_cmd(p, POP3_CMD_USER, "a\r\nDELE 1", false, &err), -1);
	assert_int_equal(err.code, PF_ESOFTWARE);
	assert_int_equal(pop3_cmd(p, POP3_CMD_USER, "a\nb", false, &err), -1);
	assert_int_equal(pop3_simple(p, POP3_CMD_RETR, "9", &err), POP3_ERR);
	assert_int_equal(pop3_rcode(p), POP3_RC_SYS_PERM);
	assert_int_equal(pop3_err_from_reply(p, "RETR 9", PF_EPROTO, &err), -1);
	assert_int_equal(err.code, PF_EUNAVAIL);
	assert_string_equal(
	    err.msg, "server refused 'RETR 9': [SYS/PERM] no such message");
	assert_int_equal(pop3_simple(p, POP3_CMD_DELE, "9", &err), POP3_ERR);
	(void)pop3_err_from_reply(p, "DELE 9", PF_EPROTO, &err);
	assert_int_equal(err.code, PF_ENOPERM);
	assert_int_equal(pop3_simple(p, POP3_CMD_RETR, "8", &err), POP3_ERR);
	assert_int_equal(pop3_rcode(p), POP3_RC_NONE);
	(void)pop3_err_from_reply(p, "RETR 8", PF_EIO, &err);
	assert_int_equal(err.code, PF_EIO);
	assert_int_equal(pop3_quit(p, &err), POP3_OK);
	/* Nothing after QUIT. */
	assert_int_equal(pop3_cmd(p, POP3_CMD_NOOP, NULL, false, &err), -1);
	end(p);

	big = malloc(5000 + 8);
	assert_non_null(big);
	memcpy(big, "+OK ", 4);
	memset(big + 4, 'x', 5000);
	memcpy(big + 5004, "\r\n", 3);
	memcpy(ll, longline, sizeof(ll));
	ll[1].server = big;
	(void)session(&p, ll, 2, 1000, 0);
	assert_int_equal(pop3_greeting(p, &err), 0);
	assert_int_equal(pop3_simple(p, POP3_CMD_NOOP, NULL, &err), -1);
	assert_int_equal(err.code, PF_EPROTO);
	end(p);
	free(big);

	/* A 600-octet status line is within limits; text is bounded. */
	big = malloc(600 + 8);
	assert_non_null(big);
	memcpy(big, "+OK ", 4);
	memset(big + 4, 'y', 596);
	memcpy(big + 600, "\r\n", 3);
	ll[1].server = big;
	(void)session(&p, ll, 2, 1000, 0);
	assert_int_equal(pop3_greeting(p, &err), 0);
	assert_int_equal(pop3_simple(p, POP3_CMD_NOOP, NULL, &err), POP3_OK);
	assert_int_equal(strlen(pop3_text(p)), POP3_TEXT_MAX - 1);
	end(p);
	free(big);
}

/* Collect listing lines into a buffer separated by '|'. */
struct lines {
	char buf[256];
	size_t len;
	unsigned n, fail_at;
};

/* Line callback for pop3_lines(). */
static int
lines_fn(void *ctx, const char *line, size_t len, struct pf_err *err)
{
	struct lines *l = ctx;

	if (++l->n == l->fail_at)
		return pf_err_set(err, PF_EDATA, "bad line %u", l->n);
	memcpy(l->buf + l->len, line, len);
	l->len += len;
	l->buf[l->len++] = '|';
	l->buf[l->len] = '\0';
	return 0;
}

/* pop3_lines(): unstuffing, bare LF, and draining after a failure. */
static void
test_lines(void **state)
{
	static const struct peer_step steps[] = {
	    GREET,
	    {"UIDL\r\n", "+OK\r\n..a\r\n.b\nc\r\n...\r\n.\r\n", 0},
	    {"LIST\r\nNOOP\r\n",
		"+OK\r\n1 1\r\n2 2\r\n3 3\r\n.\r\n"
		"+OK fine\r\n",
		0},
	};
	struct pf_err err;
	struct lines l;
	struct pop3 *p;
	struct peer *m;

	(void)state;
	m = session(&p, steps, NSTEPS(steps), 3, 0);
	assert_int_equal(pop3_greeting(p, &err), 0);
	assert_int_equal(pop3_simple(p, POP3_CMD_UIDL, NULL, &err), POP3_OK);
	memset(&l, 0, sizeof(l));
	assert_int_equal(pop3_lines(p, lines_fn, &l, &err), 0);
	assert_string_equal(l.buf, ".a|b|c|..|");
	assert_int_equal(pop3_cmd(p, POP3_CMD_LIST, NULL, false, &err), 0);
	assert_int_equal(pop3_cmd(p, POP3_CMD_NOOP, NULL, false, &err), 0);
	assert_int_equal(pop3_reply(p, &err), POP3_OK);
	memset(&l, 0, sizeof(l));
	l.fail_at = 2;
	assert_int_equal(pop3_lines(p, lines_fn, &l, &err), -1);
	assert_int_equal(err.code, PF_EDATA);
	assert_int_equal(l.n, 2);
	assert_int_equal(pop3_reply(p, &err), POP3_OK);
	assert_string_equal(pop3_text(p), "fine");
	script_done(m);
	end(p);
}

/* The trace: PASS and SASL masked, body lines never shown. */
static void
test_trace(void **state)
{
	static const struct peer_step steps[] = {
	    GREET,
	    {"USER alice\r\n", "+OK\r\n", 0},
	    {"PASS hunter2\r\n", "-ERR [AUTH] bad\r\n", 0},
	    {"AUTH PLAIN AGFsaWNlAGh1bnRlcjI=\r\n", "+ Y2hhbA==\r\n", 0},
	    {"c2VjcmV0cmVzcA==\r\n", "+OK\r\n", 0},
	    {"RETR 1\r\n", "+OK\r\nbody-line-xyz\r\n.\r\n", 0},
	};
	struct pf_err err;
	struct collector k;
	struct pop3 *p;
	FILE *tmp;
	char log[4096];
	size_t n;
	int saved;

	(void)state;
	tmp = tmpfile();
	assert_non_null(tmp);
	fflush(stderr);
	saved = dup(2);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(tmp), 2) >= 0);
	log_init(2, false);

	(void)session(&p, steps, NSTEPS(steps), 100, 1);
	assert_int_equal(pop3_greeting(p, &err), 0);
	assert_int_equal(pop3_simple(p, POP3_CMD_USER, "alice", &err), POP3_OK);
	assert_int_equal(pop3_cmd(p, POP3_CMD_PASS, "hunter2", true, &err), 0);
	assert_int_equal(pop3_reply(p, &err), POP3_ERR);
	assert_int_equal(pop3_cmd(p, POP3_CMD_AUTH,
			     "PLAIN AGFsaWNlAGh1bnRlcjI=", true, &err),
	    0);
	assert_int_equal(pop3_reply(p, &err), POP3_CONT);
	assert_string_equal(pop3_text(p), "Y2hhbA==");
	assert_int_equal(
	    pop3_cmd(p, POP3_CMD_SASL, "c2VjcmV0cmVzcA==", true, &err), 0);
	assert_int_equal(pop3_reply(p, &err), POP3_OK);
	assert_int_equal(pop3_simple(p, POP3_CMD_RETR, "1", &err), POP3_OK);
	memset(&k, 0, sizeof(k));
	assert_int_equal(pop3_body(p, collect_fn, &k, NULL, &err), 0);
	end(p);

	fflush(stderr);
	assert_true(dup2(saved, 2) >= 0);
	close(saved);
	log_init(0, false);
	rewind(tmp);
	n = fread(log, 1, sizeof(log) - 1, tmp);
	log[n] = '\0';
	fclose(tmp);

	assert_non_null(strstr(log, "> USER alice\n"));
	assert_non_null(strstr(log, "> PASS *\n"));
	assert_non_null(strstr(log, "> AUTH PLAIN *\n"));
	assert_non_null(strstr(log, "> *\n"));
	assert_non_null(strstr(log, "< +OK POP3 ready"));
	assert_non_null(strstr(log, "< -ERR [AUTH] bad\n"));
	assert_non_null(strstr(log, "< [message body, 14 octets]"));
	assert_null(strstr(log, "hunter2"));
	assert_null(strstr(log, "AGFsaWNl"));
	assert_null(strstr(log, "c2VjcmV0"));
	assert_null(strstr(log, "body-line-xyz"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_status),
	    cmocka_unit_test(test_parse_rcode),
	    cmocka_unit_test(test_parse_list_line),
	    cmocka_unit_test(test_parse_uidl_line),
	    cmocka_unit_test(test_parse_capa),
	    cmocka_unit_test(test_session_basic),
	    cmocka_unit_test(test_tags),
	    cmocka_unit_test(test_listings_pipelined),
	    cmocka_unit_test(test_scan_pipelined),
	    cmocka_unit_test(test_listings_sequential),
	    cmocka_unit_test(test_listings_empty),
	    cmocka_unit_test(test_listings_validation),
	    cmocka_unit_test(test_body_pipelined),
	    cmocka_unit_test(test_body_sink_fails),
	    cmocka_unit_test(test_body_eof),
	    cmocka_unit_test(test_unsolicited),
	    cmocka_unit_test(test_greeting),
	    cmocka_unit_test(test_stls),
	    cmocka_unit_test(test_capa),
	    cmocka_unit_test(test_stat),
	    cmocka_unit_test(test_sasl_cont),
	    cmocka_unit_test(test_cmd_and_errors),
	    cmocka_unit_test(test_lines),
	    cmocka_unit_test(test_trace),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
