/*
 * floor.c: the "floor" of the benchmark, a minimal pipelined POP3 reader.
 *
 *	floor -p PORT -u USER -w PASSWORD_FILE -c CA_FILE [-H HOST] [-k]
 *	    [-W WINDOW] [-d MAILDIR [-m MDA [-s JOURNAL]]] [-v]
 *
 * It does the least work any POP3-over-TLS client must do to fetch and
 * delete a mailbox: one TLS connection (verified against CA_FILE), USER
 * and PASS, STAT, then "RETR n" and "DELE n" for every message, pipelined
 * with at most WINDOW commands outstanding, and QUIT. It finds the end of
 * each multi-line answer but neither unstuffs dots nor converts line ends,
 * and writes every byte it reads to /dev/null: no files, no fsync, no
 * state. With -k it sends no DELE (used to warm the server's indexes).
 *
 * With -d it also stores what it reads, the least a client that keeps
 * mail in files must add: each body as it came (still dot-stuffed, CRLF)
 * in a file of MAILDIR/tmp renamed into MAILDIR/new, and one syncfs() of
 * that file system at the end; with -m it runs "MDA MAILDIR" once per
 * message instead, the body on its standard input, and waits for it (no
 * shell, no sync: the MDA's own work and one spawn per message). With -s
 * it also makes one record per delivered message durable before the next
 * MDA starts, the least a client must add to re-deliver at most one
 * message after a crash: a 64-byte pwrite into JOURNAL, preallocated and
 * synced before the first message (so no size or block changes), and one
 * fdatasync.
 * Exit 0 when every answer was +OK and the counts add up.
 */

#define _GNU_SOURCE /* syncfs */

#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define BUFSZ (256 * 1024)

static SSL *ssl;
static int devnull;
static char buf[BUFSZ];
static size_t blen, bpos;
static int verbose;
static const char *maildir, *mda, *journal;
static int jfd = -1;
static int out = -1;
static pid_t mda_pid;
static char path_tmp[4096];
static long msgno;

extern char **environ;

static void die(const char *, ...)
    __attribute__((__format__(__printf__, 1, 2), __noreturn__));

/* Print a message and stop: the floor has no recovery on purpose. */
static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("floor: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	ERR_print_errors_fp(stderr);
	exit(1);
}

/* Read more TLS bytes into the buffer, keeping the unread tail. */
static void
fill(void)
{
	int n;

	if (bpos > 0) {
		memmove(buf, buf + bpos, blen - bpos);
		blen -= bpos;
		bpos = 0;
	}
	if (blen == sizeof(buf))
		die("line longer than %zu bytes", sizeof(buf));
	n = SSL_read(ssl, buf + blen, (int)(sizeof(buf) - blen));
	if (n <= 0)
		die("connection closed by the server");
	if (write(devnull, buf + blen, (size_t)n) != n)
		die("write to /dev/null failed");
	blen += (size_t)n;
}

/* Return the next line (with its CRLF) and set *len; NUL is not added. */
static const char *
next_line(size_t *len)
{
	char *nl;
	const char *line;

	for (;;) {
		nl = memchr(buf + bpos, '\n', blen - bpos);
		if (nl != NULL)
			break;
		fill();
	}
	line = buf + bpos;
	*len = (size_t)(nl - line) + 1;
	bpos += *len;
	return line;
}

/* Read one status line; stop unless it is +OK; copy it to out if asked. */
static void
status(const char *what, char *out, size_t outsz)
{
	const char *l;
	size_t len;

	l = next_line(&len);
	if (len < 3 || memcmp(l, "+OK", 3) != 0)
		die("%s: %.*s", what, (int)len, l);
	if (out != NULL) {
		if (len >= outsz)
			len = outsz - 1;
		memcpy(out, l, len);
		out[len] = '\0';
	}
}

/* With -d: open where the next body goes (a file in tmp/, or an MDA's
 * standard input). */
static void
store_open(void)
{
	int p[2];

	if (maildir == NULL)
		return;
	msgno++;
	if (mda != NULL) {
		posix_spawn_file_actions_t fa;
		char *argv[] = {(char *)mda, (char *)maildir, NULL};

		if (pipe(p) == -1)
			die("pipe: %s", strerror(errno));
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, p[0], 0);
		posix_spawn_file_actions_addclose(&fa, p[1]);
		if (posix_spawn(&mda_pid, mda, &fa, NULL, argv, environ) != 0)
			die("cannot run '%s'", mda);
		posix_spawn_file_actions_destroy(&fa);
		close(p[0]);
		out = p[1];
		return;
	}
	snprintf(path_tmp, sizeof(path_tmp), "%s/tmp/%ld.%ld.floor", maildir,
	    (long)getpid(), msgno);
	out = open(path_tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (out == -1)
		die("cannot create '%s': %s", path_tmp, strerror(errno));
}

/* Store bytes of the body being read. */
static void
store(const char *p, size_t len)
{
	if (out != -1 && write(out, p, len) != (ssize_t)len)
		die("cannot store a message: %s", strerror(errno));
}

/* With -d: the body is complete. */
static void
store_close(void)
{
	char dst[4096];
	int st;

	if (out == -1)
		return;
	close(out);
	out = -1;
	if (mda != NULL) {
		if (waitpid(mda_pid, &st, 0) == -1 || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0)
			die("the MDA failed");
		if (jfd != -1) {
			char rec[64];

			int len;

			/* "N delivered", padded with spaces to one line */
			memset(rec, ' ', sizeof(rec));
			len =
			    snprintf(rec, sizeof(rec), "%ld delivered", msgno);
			rec[len] = ' ';
			rec[sizeof(rec) - 1] = '\n';
			if (pwrite(jfd, rec, sizeof(rec),
				(off_t)(msgno - 1) * 64) !=
				(ssize_t)sizeof(rec) ||
			    fdatasync(jfd) == -1)
				die("cannot write '%s': %s", journal,
				    strerror(errno));
		}
		return;
	}
	snprintf(dst, sizeof(dst), "%s/new/%ld.%ld.floor", maildir,
	    (long)getpid(), msgno);
	if (rename(path_tmp, dst) == -1)
		die("cannot rename '%s': %s", path_tmp, strerror(errno));
}

/* Skip a multi-line body up to and including the ".\r\n" line (with -d,
 * storing it in runs as large as the buffer holds). */
static void
body(void)
{
	const char *l, *run = NULL;
	size_t len, runlen = 0;

	store_open();
	for (;;) {
		if (memchr(buf + bpos, '\n', blen - bpos) == NULL && runlen) {
			store(run, runlen); /* fill() moves the buffer */
			runlen = 0;
		}
		l = next_line(&len);
		if (len == 3 && l[0] == '.' && l[1] == '\r')
			break;
		if (runlen == 0)
			run = l;
		runlen += len;
	}
	store(run, runlen);
	store_close();
}

/* Send a command string (several pipelined commands at once is fine). */
static void
send_str(const char *s, size_t len)
{
	if (SSL_write(ssl, s, (int)len) != (int)len)
		die("write failed");
}

/* Connect over TCP to 127.0.0.1:port. */
static int
tcp_connect(int port)
{
	struct sockaddr_in sin;
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd == -1)
		die("socket: %s", strerror(errno));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		die("connect to port %d: %s", port, strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

int
main(int argc, char *argv[])
{
	const char *host = "localhost", *user = NULL, *pwfile = NULL;
	const char *ca = NULL;
	char line[512], pw[256], hostbuf[256], *cmds;
	size_t cap, clen;
	long count, sent, done, window = 100;
	int c, port = 0, keep = 0, fd;
	SSL_CTX *ctx;
	FILE *f;

	while ((c = getopt(argc, argv, "c:d:H:km:p:s:u:vw:W:")) != -1) {
		switch (c) {
		case 'c':
			ca = optarg;
			break;
		case 'd':
			maildir = optarg;
			break;
		case 'm':
			mda = optarg;
			break;
		case 's':
			journal = optarg;
			break;
		case 'H':
			host = optarg;
			break;
		case 'k':
			keep = 1;
			break;
		case 'p':
			port = (int)strtol(optarg, NULL, 10);
			break;
		case 'u':
			user = optarg;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'w':
			pwfile = optarg;
			break;
		case 'W':
			window = strtol(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr,
			    "usage: floor -p PORT -u USER -w PWFILE"
			    " -c CA [-H HOST] [-k] [-W WINDOW]"
			    " [-d MAILDIR [-m MDA [-s JOURNAL]]] [-v]\n");
			return 64;
		}
	}
	if (port <= 0 || user == NULL || pwfile == NULL || ca == NULL ||
	    window < 1 || (journal != NULL && mda == NULL))
		die("missing or bad option (see usage)");
	if ((f = fopen(pwfile, "r")) == NULL ||
	    fgets(pw, sizeof(pw), f) == NULL)
		die("cannot read '%s'", pwfile);
	fclose(f);
	pw[strcspn(pw, "\r\n")] = '\0';
	if ((devnull = open("/dev/null", O_WRONLY)) == -1)
		die("cannot open /dev/null");

	ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL || SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
		die("cannot load '%s'", ca);
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	fd = tcp_connect(port);
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	snprintf(hostbuf, sizeof(hostbuf), "%s", host);
	SSL_set_tlsext_host_name(ssl, hostbuf);
	SSL_set1_host(ssl, host);
	if (SSL_connect(ssl) != 1)
		die("TLS handshake failed");

	status("greeting", NULL, 0);
	clen = (size_t)snprintf(
	    line, sizeof(line), "USER %s\r\nPASS %s\r\n", user, pw);
	send_str(line, clen);
	status("USER", NULL, 0);
	status("PASS", NULL, 0);
	send_str("STAT\r\n", 6);
	status("STAT", line, sizeof(line));
	count = strtol(line + 4, NULL, 10);
	if (journal != NULL) {
		/* Zeros for every record, synced: inside the timed run, one
		 * fsync of count * 64 bytes, too small to count. */
		size_t jlen = ((size_t)count + 1) * 64;
		char *zero = calloc(jlen, 1);

		jfd =
		    open(journal, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (zero == NULL || jfd == -1 ||
		    write(jfd, zero, jlen) != (ssize_t)jlen || fsync(jfd) == -1)
			die("cannot prepare '%s': %s", journal,
			    strerror(errno));
		free(zero);
	}

	/* Pipelined RETR (+ DELE): keep at most `window` messages open. */
	cap = 64 * 1024;
	cmds = malloc(cap);
	if (cmds == NULL)
		die("out of memory");
	sent = done = 0;
	while (done < count) {
		clen = 0;
		while (
		    sent < count && sent - done < window && clen + 64 < cap) {
			sent++;
			clen += (size_t)snprintf(cmds + clen, cap - clen,
			    keep ? "RETR %ld\r\n" : "RETR %ld\r\nDELE %ld\r\n",
			    sent, sent);
		}
		if (clen > 0)
			send_str(cmds, clen);
		status("RETR", NULL, 0);
		body();
		if (!keep)
			status("DELE", NULL, 0);
		done++;
	}
	free(cmds);
	if (maildir != NULL && mda == NULL) {
		int dfd = open(maildir, O_RDONLY | O_DIRECTORY);

		if (dfd == -1 || syncfs(dfd) == -1)
			die("cannot sync '%s': %s", maildir, strerror(errno));
		close(dfd);
	}
	send_str("QUIT\r\n", 6);
	status("QUIT", NULL, 0);
	SSL_shutdown(ssl);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	if (verbose)
		fprintf(stderr, "floor: %ld messages%s\n", count,
		    keep ? " (kept)" : " (deleted)");
	return 0;
}
