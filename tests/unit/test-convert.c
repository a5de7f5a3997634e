/*
 * test-convert.c: --convert-config. Realistic mpop and fetchmail files are
 * converted, and the result is loaded with popfetch's own config parser:
 * every account must resolve to the settings the original program would
 * use. Then the edge cases: inheritance popfetch cannot express, quoting,
 * MDA placeholders, every refused input with its message, unknown words
 * that must not leak what follows them.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "popfetch/config.h"
#include "popfetch/convert.h"
#include "popfetch/err.h"
#include "popfetch/log.h"
#include "popfetch/xmalloc.h"

/* An mpop user with four mailboxes, two defaults blocks, two parents. */
static const char mpoprc[] =
    "# mpop configuration of a user with four mailboxes\n"
    "defaults\n"
    "tls on\n"
    "tls_trust_file /etc/ssl/certs/example-ca.pem\n"
    "timeout 30\n"
    "keep on\n"
    "\n"
    "account work\n"
    "host pop.work.example\n"
    "tls_starttls off\n"
    "user alice\n"
    "passwordeval \"pass show mail/work\"\n"
    "auth user\n"
    "delivery maildir ~/Mail/work\n"
    "\n"
    "account home : work\n"
    "host pop.home.example\n"
    "port 110\n"
    "tls_starttls on\n"
    "user alice.home\n"
    "password s3cret \"quoted\" pw\n"
    "auth plain\n"
    "delivery mbox ~/Mail/home.mbox\n"
    "skipsize 1m\n"
    "received_header off\n"
    "\n"
    "account lists : work\n"
    "proxy_host 127.0.0.1\n"
    "proxy_port 9050\n"
    "delivery mda \"/usr/bin/procmail -f '%F' -d $USER\"\n"
    "only_new off\n"
    "\n"
    "defaults\n"
    "timeout off\n"
    "\n"
    "account archive : home, lists\n"
    "tls_fingerprint "
    "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33\n"
    "killsize 5m\n"
    "filter /usr/local/bin/spamcheck\n"
    "\n"
    "account plain\n"
    "host 192.0.2.7\n"
    "tls off\n"
    "user bob\n"
    "auth apop\n"
    "delivery exchange /srv/pickup\n"
    "\n"
    "account default : work\n";

/* A fetchmail file with global options, defaults, several users. */
static const char fetchmailrc[] =
    "# fetchmail configuration of a small office\n"
    "set daemon 300\n"
    "set logfile \"~/.fetchmail.log\"\n"
    "set idfile \"/home/u/.fetchmail/ids\"\n"
    "set no bouncemail\n"
    "set invisible\n"
    "\n"
    "defaults proto pop3 timeout 120\n"
    "    options keep sslcertck\n"
    "\n"
    "poll pop.example.com with proto POP3 service 995 uidl\n"
    "    user \"alice\" there with password 'pa ss\"word' is alice here\n"
    "        options ssl sslcertfile ca.pem fetchall\n"
    "        mda \"/usr/bin/procmail -d %T\"\n"
    "    user 'bob' there with pass \"s3cret\\x21\" is bob here\n"
    "        ssl sslproto TLS1.3+ limit 1048576 limitflush\n"
    "        mda \"/usr/sbin/sendmail -oi -f %F -- %T\"\n"
    "\n"
    "poll mail.example.org via 192.0.2.25 port 110 auth password\n"
    "    user carol there has password \"x\" is carol here\n"
    "        sslproto '' no keep\n"
    "        smtphost localhost\n"
    "\n"
    "skip imap.example.net proto IMAP user dave pass \"y\" is dave here "
    "ssl\n"
    "\n"
    "poll multi.example.net proto pop3 plugin \"ssh %h nc %h %p\"\n"
    "    user maildrop pass \"z\" to golux 'hurkle'='happy' snark here\n"
    "        mda \"/usr/bin/deliver\"\n"
    "        sslfingerprint "
    "\"AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99\"\n"
    "\n"
    "poll apop.example.com protocol APOP username \"eve\" password 'pw' "
    "mda \"/bin/cat\"\n"
    "set syslog\n";

/* The converted text and the config loaded from it. */
struct conv {
	char *text;
	size_t len;
	char path[256];
	struct config cfg;
};

/* Convert data; the conversion must succeed. */
static void
convert_ok(
    enum convert_source src, const char *name, const char *data, struct conv *c)
{
	struct convert_opts o = {"tester"};
	struct pf_err err;

	pf_err_clear(&err);
	if (convert_buf(
		src, name, data, strlen(data), &o, &c->text, &c->len, &err) < 0)
		fail_msg("conversion failed: %s", err.msg);
	assert_int_equal(strlen(c->text), c->len);
}

/* Convert, write the result (mode 0600) and load it with config_load. */
static void
load(
    enum convert_source src, const char *name, const char *data, struct conv *c)
{
	const char *tmp = getenv("TMPDIR");
	struct pf_err err;
	int fd;

	convert_ok(src, name, data, c);
	snprintf(c->path, sizeof(c->path), "%s/test-convert-XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	fd = mkstemp(c->path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, c->text, c->len), (ssize_t)c->len);
	close(fd);
	if (config_load(c->path, true, &c->cfg, &err) < 0)
		fail_msg(
		    "converted file does not load: %s\n%s", err.msg, c->text);
}

/* Free what load() made. */
static void
unload(struct conv *c)
{
	config_free(&c->cfg);
	unlink(c->path);
	convert_free(c->text, c->len);
}

/* Resolve an account of the converted file (without requiring delivery). */
static void
resolve(struct conv *c, const char *name, struct account *a)
{
	struct pf_err err;

	if (config_resolve(&c->cfg, name, NULL, true, a, &err) < 0)
		fail_msg("account %s: %s\n%s", name, err.msg, c->text);
}

/* The text must contain s. */
static void
has(const struct conv *c, const char *s)
{
	if (strstr(c->text, s) == NULL)
		fail_msg("output lacks '%s':\n%s", s, c->text);
}

/* A string field, "-" for NULL. */
static const char *
sf(const char *s)
{
	return s != NULL ? s : "-";
}

static void
test_mpop_realistic(void **state)
{
	struct conv c;
	struct account a;
	const char *home = getenv("HOME");
	char *p;

	(void)state;
	load(CONVERT_MPOP, "/home/u/.mpoprc", mpoprc, &c);
	assert_string_equal(sf(c.cfg.default_name), "mpop-default");
	/* work: implicit TLS, password command, Maildir, mpop's timeout */
	resolve(&c, "work", &a);
	assert_string_equal(a.host, "pop.work.example");
	assert_string_equal(account_port(&a), "995");
	assert_int_equal(a.tls, CONN_TLS_IMPLICIT);
	assert_string_equal(a.user, "alice");
	assert_string_equal(sf(a.ca_file), "/etc/ssl/certs/example-ca.pem");
	assert_int_equal(a.auth, AUTH_USER);
	assert_string_equal(sf(a.password_command), "pass show mail/work");
	assert_null(a.password);
	assert_int_equal(a.timeout, 30);
	assert_int_equal(a.sink, SINK_MAILDIR);
	assert_null(a.proxy);
	p = xasprintf("%s/Mail/work", home);
	assert_string_equal(a.sink_path, p);
	free(p);
	assert_true(a.keep);
	assert_false(a.fetch_all);
	account_free(&a);
	/* home: STARTTLS, password beats the inherited passwordeval */
	resolve(&c, "home", &a);
	assert_string_equal(a.host, "pop.home.example");
	assert_string_equal(account_port(&a), "110");
	assert_int_equal(a.tls, CONN_TLS_STARTTLS);
	assert_string_equal(a.user, "alice.home");
	assert_string_equal(sf(a.password), "s3cret \"quoted\" pw");
	assert_null(a.password_command);
	assert_int_equal(a.auth, AUTH_PLAIN);
	assert_int_equal(a.sink, SINK_MBOX);
	assert_int_equal(a.max_size, 1048576);
	assert_true(a.no_received);
	account_free(&a);
	has(&c, "\naccount home\n"); /* written without its parent */
	has(&c,
	    "written without its parent 'work': it would inherit "
	    "password_command, which popfetch cannot unset");
	/* lists: MDA with mpop's '%F', all messages, a proxy */
	resolve(&c, "lists", &a);
	assert_int_equal(a.sink, SINK_MDA);
	assert_string_equal(a.sink_path, "/usr/bin/procmail -f %F -d $USER");
	assert_true(a.fetch_all);
	assert_string_equal(a.host, "pop.work.example");
	assert_string_equal(sf(a.proxy), "socks5h://127.0.0.1:9050");
	account_free(&a);
	has(&c, "\naccount lists : work\n");
	has(&c, "\n  proxy socks5h://127.0.0.1:9050\n");
	/* archive: two parents, timeout off, killsize with keep */
	resolve(&c, "archive", &a);
	assert_string_equal(a.host, "pop.work.example");
	assert_string_equal(account_port(&a), "110");
	assert_int_equal(a.tls, CONN_TLS_IMPLICIT);
	assert_string_equal(a.user, "alice");
	assert_non_null(a.password);
	assert_null(a.password_command);
	assert_int_equal(a.auth, AUTH_USER);
	assert_int_equal(a.sink, SINK_MDA);
	assert_int_equal(a.timeout, 86400);
	assert_int_equal(a.max_size, 1048576); /* min(skipsize, killsize) */
	assert_int_equal(a.kill_size, 0);
	assert_true(a.no_received && a.fetch_all && a.keep);
	assert_null(a.fingerprint);
	assert_string_equal(sf(a.proxy), "socks5h://127.0.0.1:9050");
	account_free(&a);
	has(&c, "mpop inherits from 2 accounts");
	has(&c, "tls_fingerprint 00:11");
	has(&c, "pins SHA-256 fingerprints only");
	has(&c,
	    "filter /usr/local/bin/spamcheck: cannot map: popfetch has no "
	    "header filter");
	has(&c, "killsize with keep only skips in mpop");
	/* plain: no TLS, APOP, no delivery popfetch can use */
	resolve(&c, "plain", &a);
	assert_int_equal(a.tls, CONN_TLS_NONE);
	assert_int_equal(a.auth, AUTH_APOP);
	assert_int_equal(a.sink, SINK_NONE);
	account_free(&a);
	has(&c, "delivery exchange /srv/pickup: cannot map");
	/* default: defined after "timeout off", so not the same as work */
	resolve(&c, "mpop-default", &a);
	assert_int_equal(a.timeout, 86400);
	assert_int_equal(a.tls, CONN_TLS_IMPLICIT);
	account_free(&a);
	has(&c,
	    "--import-state=mpop:~/.mpop_uidls/alice_at_pop.work.example "
	    "work\n");
	has(&c, "It holds a password");
	unload(&c);
}

static void
test_fetchmail_realistic(void **state)
{
	struct conv c;
	struct account a;

	(void)state;
	load(CONVERT_FETCHMAIL, "/home/u/.fetchmailrc", fetchmailrc, &c);
	assert_null(c.cfg.default_name);
	assert_true(c.cfg.syslog); /* set syslog */
	resolve(&c, "pop.example.com-alice", &a);
	assert_string_equal(a.host, "pop.example.com");
	assert_string_equal(account_port(&a), "995");
	assert_int_equal(a.tls, CONN_TLS_IMPLICIT);
	assert_string_equal(sf(a.ca_file), "/home/u/ca.pem");
	assert_string_equal(a.user, "alice");
	assert_string_equal(sf(a.password), "pa ss\"word");
	assert_string_equal(a.sink_path, "/usr/bin/procmail -d 'alice'");
	assert_int_equal(a.timeout, 120);
	assert_true(a.keep && a.fetch_all && a.no_received);
	account_free(&a);
	resolve(&c, "pop.example.com-bob", &a);
	assert_string_equal(sf(a.password), "s3cret!");
	assert_int_equal(a.tls_min, 13);
	assert_int_equal(a.kill_size, 1048576);
	assert_int_equal(a.max_size, 0);
	assert_string_equal(
	    a.sink_path, "/usr/sbin/sendmail -oi -f %F -- 'bob'");
	account_free(&a);
	resolve(&c, "mail.example.org", &a);
	assert_string_equal(a.host, "192.0.2.25");
	assert_int_equal(a.tls, CONN_TLS_NONE);
	assert_int_equal(a.auth, AUTH_USER);
	assert_false(a.keep);
	assert_int_equal(a.sink, SINK_NONE);
	account_free(&a);
	has(&c, "smtp localhost: cannot map yet: SMTP forwarding");
	has(&c,
	    "# account imap.example.net: not converted\n"
	    "# line 24: protocol IMAP: cannot map");
	assert_null(config_find(&c.cfg, "imap.example.net"));
	resolve(&c, "multi.example.net", &a);
	assert_int_equal(a.tls, CONN_TLS_STARTTLS);
	assert_string_equal(a.sink_path, "/usr/bin/deliver");
	assert_string_equal(sf(a.tunnel), "ssh %h nc %h %p");
	account_free(&a);
	has(&c, "cannot map: multidrop");
	has(&c, "sslfingerprint AA:BB");
	has(&c, "MD5 fingerprint");
	has(&c, "\n  tunnel ssh %h nc %h %p\n");
	resolve(&c, "apop.example.com", &a);
	assert_int_equal(a.auth, AUTH_APOP);
	account_free(&a);
	has(&c,
	    "set daemon 300: cannot map: put 'daemon 300' in the defaults block, or run popfetch --daemon=300");
	has(&c, "set no bouncemail");
	has(&c,
	    "--import-state=fetchmail:/home/u/.fetchmail/ids "
	    "pop.example.com-alice\n");
	unload(&c);
}

/*
 * The reach keys: mpop's source_ip and proxy_host/proxy_port (default
 * 1080, an IPv6 address in brackets, a child without the proxy), and
 * fetchmail's plugin (%h and %p kept, other '%' doubled, a note about the
 * shell) become source_address, proxy and tunnel.
 */
static void
test_reach_keys(void **state)
{
	static const char mp[] = "account one\n"
				 "host pop.example.com\n"
				 "user alice\n"
				 "delivery maildir /m\n"
				 "source_ip 192.0.2.1\n"
				 "proxy_host ::1\n"
				 "account direct : one\n"
				 "proxy_host\n"
				 "source_ip\n"
				 "account tor : one\n"
				 "proxy_host localhost\n"
				 "proxy_port 9050\n"
				 "account bad : one\n"
				 "proxy_host two words\n"
				 "proxy_port 0x0\n";
	static const char fm[] =
	    "poll a.example proto pop3 plugin \"nc -X 5 %h %p 100%\"\n"
	    "  user u pass p mda /bin/cat\n"
	    "poll b.example proto pop3 plugin \"ssh gw 'nc %h %p'\"\n"
	    "  user u pass p mda /bin/cat\n";
	struct conv c;
	struct account a;

	(void)state;
	load(CONVERT_MPOP, "mpoprc", mp, &c);
	resolve(&c, "one", &a);
	assert_string_equal(sf(a.source_address), "192.0.2.1");
	assert_string_equal(sf(a.proxy), "socks5h://[::1]:1080");
	account_free(&a);
	resolve(&c, "direct", &a);
	assert_null(a.proxy);
	assert_null(a.source_address);
	account_free(&a);
	has(&c, "\naccount direct : one\n");
	resolve(&c, "tor", &a);
	assert_string_equal(sf(a.proxy), "socks5h://localhost:9050");
	assert_string_equal(sf(a.source_address), "192.0.2.1");
	account_free(&a);
	/* never without the proxy it was given */
	assert_null(config_find(&c.cfg, "bad"));
	has(&c, "# account bad: not converted\n");
	has(&c, "proxy_port 0x0: cannot map: not a port number");
	unload(&c);
	load(CONVERT_FETCHMAIL, "fetchmailrc", fm, &c);
	resolve(&c, "a.example", &a);
	assert_string_equal(sf(a.tunnel), "nc -X 5 %h %p 100%%");
	account_free(&a);
	resolve(&c, "b.example", &a);
	assert_string_equal(sf(a.tunnel), "ssh gw 'nc %h %p'");
	account_free(&a);
	has(&c, "line 3: plugin: fetchmail runs it without a shell");
	assert_false(c.cfg.syslog);
	unload(&c);
}

/* Conversion must fail with PF_ECONFIG and a message containing want. */
/*
 * mpop's default account names one that is not converted (here: a proxy
 * port popfetch cannot map), directly or as mpop's own account
 * "default": no "default" line, which would name no account and keep the
 * file from loading (found by fuzz-convert), but a comment saying so.
 */
static void
test_default_not_converted(void **state)
{
	static const char alias[] = "account good\n"
				    "host pop.example.com\n"
				    "user alice\n"
				    "delivery maildir /m\n"
				    "account bad : good\n"
				    "proxy_host localhost\n"
				    "proxy_port 0x0\n"
				    "account default : bad\n";
	static const char own[] = "account good\n"
				  "host pop.example.com\n"
				  "user alice\n"
				  "delivery maildir /m\n"
				  "account default : good\n"
				  "proxy_host localhost\n"
				  "proxy_port 0x0\n";
	struct conv c;

	(void)state;
	load(CONVERT_MPOP, "mpoprc", alias, &c);
	assert_null(config_find(&c.cfg, "bad"));
	assert_null(strstr(c.text, "\ndefault "));
	has(&c, "\n# no default: bad is not converted\n");
	unload(&c);
	load(CONVERT_MPOP, "mpoprc", own, &c);
	assert_null(config_find(&c.cfg, "mpop-default"));
	assert_null(strstr(c.text, "\ndefault "));
	has(&c, "\n# no default: mpop-default is not converted\n");
	unload(&c);
}

static void
refused(enum convert_source src, const char *data, const char *want)
{
	struct pf_err err;
	char *text = NULL;
	size_t len = 0;

	assert_int_equal(
	    convert_buf(src, "F", data, strlen(data), NULL, &text, &len, &err),
	    -1);
	assert_null(text);
	assert_int_equal(err.code, PF_ECONFIG);
	if (strstr(err.msg, want) == NULL)
		fail_msg("message '%s' lacks '%s'", err.msg, want);
}

static void
test_refused(void **state)
{
	(void)state;
	refused(CONVERT_MPOP, "host x\n",
	    "F:1: 'host' before the first account or defaults");
	refused(CONVERT_MPOP, "account a : b\n",
	    "F:1: account 'a': parent 'b' is not defined before it");
	refused(CONVERT_MPOP, "account a\naccount b : a\naccount a\n",
	    "F:3: account 'a' defined twice");
	refused(
	    CONVERT_MPOP, "defaults x\n", "F:1: defaults takes no argument");
	refused(
	    CONVERT_MPOP, "account a,b\n", "F:1: account: missing or invalid");
	refused(CONVERT_FETCHMAIL, "poll a user \"b\n",
	    "F:1: unterminated quoted string");
	refused(CONVERT_FETCHMAIL, "poll a user b\ndefaults keep\n",
	    "F:2: 'defaults' must be the first entry");
	refused(CONVERT_FETCHMAIL, "poll a user b keep via c\n",
	    "F:1: server option 'via' after the user options");
	refused(CONVERT_FETCHMAIL, "poll\n", "F:1: poll needs a server name");
}

static void
test_mpop_details(void **state)
{
	static const char rc[] =
	    "account my box\r\n"
	    "host h\r\n"
	    "password \" pw \"\r\n"
	    "delivery mda \"a '%F' b \\\"%F\\\" c '--f=%F' date +%s %%\"\r\n"
	    "eval echo host other\n"
	    "frobnicate 1\n"
	    "tls on\n"
	    "tls_fingerprint "
	    "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:"
	    "67:89:AB:CD:EF:01:23:45:67:89\n"
	    "tls_certcheck off\n"
	    "killsize 0x100\n"
	    "user \vbob\f\n"
	    "account pf\n"
	    "host h\n"
	    "passwordfile ~/it's\n";
	struct conv c;
	struct account a;

	(void)state;
	load(CONVERT_MPOP, "F", rc, &c);
	resolve(&c, "my_box", &a);
	assert_string_equal(sf(a.password), " pw ");
	assert_string_equal(
	    a.sink_path, "a %F b \\\"%F\\\" c '--f=%F' date +%%s %%%%");
	assert_int_equal(a.tls, CONN_TLS_STARTTLS);
	assert_non_null(a.fingerprint);
	assert_true(a.insecure);
	assert_int_equal(a.kill_size, 256);
	assert_string_equal(a.user, "\vbob\f"); /* quoted, not trimmed */
	assert_int_equal(a.timeout, 180);
	account_free(&a);
	has(&c, "the mpop account is called 'my box' there");
	has(&c, "line 5: eval: cannot map");
	has(&c, "line 6: unknown mpop command 'frobnicate'");
	has(&c, "has %F inside quotes");
	has(&c, "  password \" pw \"\n");
	resolve(&c, "pf", &a);
	assert_string_equal(
	    sf(a.password_command), "cat -- \"$HOME\"'/it'\\''s'");
	account_free(&a);
	has(&c, "passwordfile is not an mpop 1.4 command");
	unload(&c);
}

static void
test_mpop_deep_chain(void **state)
{
	struct conv c;
	struct account a;
	char rc[4096];
	size_t n = 0;
	int i;

	(void)state;
	n += (size_t)snprintf(rc + n, sizeof(rc) - n,
	    "account a0\nhost h\ndelivery maildir /m\n");
	for (i = 1; i <= 20; i++)
		n += (size_t)snprintf(rc + n, sizeof(rc) - n,
		    "account a%d : a%d\ntimeout %d\n", i, i - 1, i);
	load(CONVERT_MPOP, "F", rc, &c);
	resolve(&c, "a20", &a);
	assert_int_equal(a.timeout, 20);
	assert_string_equal(a.host, "h");
	account_free(&a);
	has(&c, "the chain of parents is longer than popfetch's 16");
	unload(&c);
}

static void
test_fetchmail_words(void **state)
{
	static const char rc[] =
	    "poll h user u passwd hunter2 again is l here nokeep KEEP\n"
	    "  sslproto tls1.2 no sslcertck mda \"x %T y '%T' %% z %s\"\n"
	    "poll \"h2\" timeout 0 # comment 'not a string\n"
	    "  proto pop3 service pop3s user \"v w\" there\n"
	    "  pass \"a\\tb\\101\\0102\\\n"
	    "c\" limit 5 fetchlimit 7 no sslcertck\n";
	struct conv c;
	struct account a;

	(void)state;
	load(CONVERT_FETCHMAIL, "F", rc, &c);
	if (strstr(c.text, "hunter2") != NULL || strstr(c.text, "again"))
		fail_msg("an unknown word's argument leaked:\n%s", c.text);
	has(&c, "user: several words without 'here'");
	has(&c, "a word that is not a fetchmail keyword (ignored)");
	resolve(&c, "h", &a);
	assert_string_equal(a.user, "u");
	assert_false(a.keep);
	assert_true(a.insecure);
	assert_int_equal(a.tls, CONN_TLS_STARTTLS);
	assert_string_equal(a.sink_path, "x 'l' y 'l' %%%% z 'l'");
	account_free(&a);
	has(&c, "falls back to plain text");
	has(&c, "protocol auto: fetchmail tries IMAP first");
	resolve(&c, "h2", &a);
	assert_string_equal(a.user, "v w");
	assert_string_equal(account_port(&a), "995");
	assert_string_equal(sf(a.password), "a\tbe\b2c");
	assert_int_equal(a.max_size, 5);
	assert_int_equal(a.limit, 7);
	assert_int_equal(a.timeout, 86400);
	assert_true(a.insecure);
	account_free(&a);
	unload(&c);
}

static void
test_fetchmail_defaults_user(void **state)
{
	static const char rc[] = "defaults user \"jsmith\" ssl\n"
				 "poll a pass \"secret1\" mda /bin/true\n"
				 "poll b user \"jj\" there has password x\n"
				 "  mda /bin/true\n";
	struct conv c;
	struct account a;

	(void)state;
	load(CONVERT_FETCHMAIL, "F", rc, &c);
	resolve(&c, "a", &a);
	assert_string_equal(a.user, "jsmith");
	assert_int_equal(a.tls, CONN_TLS_IMPLICIT);
	account_free(&a);
	resolve(&c, "b", &a);
	assert_string_equal(a.user, "jj");
	account_free(&a);
	has(&c, "\ndefaults\n");
	unload(&c);
}

/* A line break in a fetchmail string or the file name stays in its
 * comment (found by fuzz-convert). */
static void
test_line_breaks_in_notes(void **state)
{
	static const char rc[] = "set idfile \"/a\nuser b\"\n"
				 "poll h user u mda /bin/true\n";
	struct conv c;

	(void)state;
	load(CONVERT_FETCHMAIL, "F\nuser x", rc, &c);
	has(&c, "--import-state=fetchmail:/a?user b h\n");
	has(&c, "converted from fetchmail's F?user x\n");
	unload(&c);
}

static void
test_secrets_stay_on_their_line(void **state)
{
	struct conv c;
	const char *p;
	size_t n = 0;

	(void)state;
	convert_ok(CONVERT_FETCHMAIL, "F", fetchmailrc, &c);
	for (p = c.text; (p = strstr(p, "s3cret!")) != NULL; p++)
		n++;
	assert_int_equal(n, 1);
	assert_non_null(strstr(c.text, "  password s3cret!\n"));
	convert_free(c.text, c.len);
}

static void
test_source_names_and_files(void **state)
{
	enum convert_source s;
	struct pf_err err;
	char *text;
	size_t len;

	(void)state;
	assert_int_equal(convert_source_parse("mpop", &s, &err), 0);
	assert_int_equal(s, CONVERT_MPOP);
	assert_int_equal(convert_source_parse("fetchmail", &s, &err), 0);
	assert_int_equal(s, CONVERT_FETCHMAIL);
	assert_int_equal(convert_source_parse("getmail", &s, &err), -1);
	assert_int_equal(err.code, PF_EUSAGE);
	assert_int_equal(convert_config(CONVERT_MPOP, "/nonexistent/rc", NULL,
			     &text, &len, &err),
	    -1);
	assert_int_equal(err.code, PF_EUSAGE);
	assert_non_null(strstr(err.msg, "cannot open '/nonexistent/rc'"));
	assert_int_equal(
	    convert_config(CONVERT_MPOP, "/", NULL, &text, &len, &err), -1);
	assert_non_null(strstr(err.msg, "not a regular file"));
	/* by the names --convert-config takes */
	assert_int_equal(
	    convert_named("getmail", "/nonexistent/rc", &text, &len, &err), -1);
	assert_string_equal(err.msg,
	    "unknown configuration format for --convert-config (mpop or "
	    "fetchmail)");
	assert_int_equal(
	    convert_named("fetchmail", "/nonexistent/rc", &text, &len, &err),
	    -1);
	assert_non_null(strstr(err.msg, "cannot open '/nonexistent/rc'"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mpop_realistic),
	    cmocka_unit_test(test_fetchmail_realistic),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_mpop_details),
	    cmocka_unit_test(test_mpop_deep_chain),
	    cmocka_unit_test(test_fetchmail_words),
	    cmocka_unit_test(test_fetchmail_defaults_user),
	    cmocka_unit_test(test_line_breaks_in_notes),
	    cmocka_unit_test(test_secrets_stay_on_their_line),
	    cmocka_unit_test(test_source_names_and_files),
	    cmocka_unit_test(test_reach_keys),
	    cmocka_unit_test(test_default_not_converted),
	};

	setenv("HOME", "/home/u", 1);
	log_init(-1, false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
