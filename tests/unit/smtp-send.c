/*
 * smtp-send.c: a test driver for the smtp module, standing in for the
 * sink until the command line has --lmtp and --smtp. It delivers each
 * FILE (the bytes a sink would get) as one message, all in one session,
 * and prints one line per message on stdout:
 *
 *   N OUTCOME CODE NRCPT_OK TEXT        (OUTCOME: delivered, tempfail,
 *                                        permfail; TEXT sanitized)
 *
 * and one "smtp-send: message N: ERROR" line on stderr per failure.
 *
 *   smtp-send (--lmtp TARGET | --smtp TARGET) --to ADDR [--to ADDR]...
 *             [--from ADDR|--from ''] [--timeout MS] [--final-timeout MS]
 *             [--tls auto|starttls|none] [--ca-file F] [--verify-name N]
 *             [--helo NAME] [--trace] [--stop] [--reconnect] FILE...
 *
 * --stop ends the run at the first failure (as popfetch does); without
 * it every file is tried, with a new session when the old one is gone
 * only under --reconnect. The exit status is that of the first failure
 * mapped as main.c maps pf_errc (74 permanent, 75 temporary, 76
 * protocol, 77 policy, 69 refused service...), else 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "popfetch/err.h"
#include "popfetch/log.h"
#include "popfetch/smtp.h"

/* sysexits(3) of each class, as docs/contract.md §3 gives them. */
static int
exit_code(enum pf_errc code)
{
	switch (code) {
	case PF_OK:
		return 0;
	case PF_EUSAGE:
		return 64;
	case PF_EDATA:
		return 65;
	case PF_EUNAVAIL:
		return 69;
	case PF_ESOFTWARE:
		return 70;
	case PF_ECANTCREAT:
		return 73;
	case PF_EIO:
		return 74;
	case PF_ETEMP:
		return 75;
	case PF_EPROTO:
		return 76;
	case PF_ENOPERM:
		return 77;
	case PF_ECONFIG:
		return 78;
	case PF_ENOHOST:
		return 68;
	}
	return 70;
}

static void usage(void) PF_NORETURN;

/* Milliseconds, 1 to 3600000. */
static int
parse_ms(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 1 || v > 3600000)
		usage();
	return (int)v;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: smtp-send (--lmtp T | --smtp T) --to ADDR [--from ADDR]\n"
	    "    [--timeout MS] [--final-timeout MS] [--tls MODE]\n"
	    "    [--ca-file F] [--verify-name N] [--helo N] [--trace]\n"
	    "    [--stop] [--reconnect] FILE...\n");
	exit(64);
}

/* Options that change the session. */
struct opts {
	struct smtp_params p;
	const char *to[SMTP_RCPT_MAX];
	size_t nto;
	const char *from;
	bool stop, reconnect;
};

/* Parse argv into o; returns the index of the first FILE. */
static int
parse(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
	    {"lmtp", required_argument, NULL, 'L'},
	    {"smtp", required_argument, NULL, 'S'},
	    {"to", required_argument, NULL, 't'},
	    {"from", required_argument, NULL, 'f'},
	    {"timeout", required_argument, NULL, 'T'},
	    {"final-timeout", required_argument, NULL, 'F'},
	    {"tls", required_argument, NULL, 'l'},
	    {"ca-file", required_argument, NULL, 'c'},
	    {"verify-name", required_argument, NULL, 'n'},
	    {"helo", required_argument, NULL, 'h'},
	    {"trace", no_argument, NULL, 'v'},
	    {"stop", no_argument, NULL, 's'},
	    {"reconnect", no_argument, NULL, 'r'},
	    {NULL, 0, NULL, 0},
	};
	struct pf_err err;
	const char *target = NULL;
	enum smtp_proto proto = SMTP_PROTO_SMTP;
	int ch;

	memset(o, 0, sizeof(*o));
	o->from = "sender@example.org";
	o->p.timeout_ms = 10000;
	o->p.conn.family = 0;
	o->p.conn.tls_min = 12;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'L':
		case 'S':
			target = optarg;
			proto = ch == 'L' ? SMTP_PROTO_LMTP : SMTP_PROTO_SMTP;
			break;
		case 't':
			if (o->nto == SMTP_RCPT_MAX)
				usage();
			o->to[o->nto++] = optarg;
			break;
		case 'f':
			o->from = optarg;
			break;
		case 'T':
			o->p.timeout_ms = parse_ms(optarg);
			break;
		case 'F':
			o->p.final_timeout_ms = parse_ms(optarg);
			break;
		case 'l':
			if (strcmp(optarg, "starttls") == 0)
				o->p.tls = SMTP_TLS_STARTTLS;
			else if (strcmp(optarg, "none") == 0)
				o->p.tls = SMTP_TLS_NONE;
			else if (strcmp(optarg, "auto") == 0)
				o->p.tls = SMTP_TLS_AUTO;
			else
				usage();
			break;
		case 'c':
			o->p.conn.ca_file = optarg;
			break;
		case 'n':
			o->p.conn.verify_name = optarg;
			break;
		case 'h':
			o->p.helo = optarg;
			break;
		case 'v':
			o->p.trace = 1;
			break;
		case 's':
			o->stop = true;
			break;
		case 'r':
			o->reconnect = true;
			break;
		default:
			usage();
		}
	}
	if (target == NULL || o->nto == 0 || optind >= argc)
		usage();
	if (smtp_parse_target(target, proto, &o->p.target, &err) == -1) {
		fprintf(stderr, "smtp-send: %s\n", err.msg);
		exit(exit_code(err.code));
	}
	return optind;
}

/* Deliver one file; print its line. Returns the pf_errc of a failure. */
static enum pf_errc
send_one(struct smtp *c, const struct opts *o, int n, const char *path)
{
	struct smtp_envelope env;
	struct smtp_result res;
	struct pf_err err;
	int fd;

	memset(&env, 0, sizeof(env));
	env.sender = o->from;
	env.rcpt = o->to;
	env.nrcpt = o->nto;
	pf_err_clear(&err);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		fprintf(stderr, "smtp-send: cannot open '%s': %s\n", path,
		    strerror(errno));
		return PF_EIO;
	}
	if (smtp_send_fd(c, &env, fd, &res, &err) == 0)
		err.code = PF_OK;
	close(fd);
	printf("%d %s %d %zu %s\n", n, smtp_outcome_names[res.outcome],
	    res.code, res.nrcpt_ok, res.text);
	fflush(stdout);
	if (err.code != PF_OK)
		fprintf(stderr, "smtp-send: message %d: %s\n", n, err.msg);
	return err.code;
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct smtp *c;
	struct pf_err err;
	enum pf_errc first = PF_OK, rc;
	int i, first_file;

	/* as main.c does: a peer that goes away is an error, not a signal */
	signal(SIGPIPE, SIG_IGN);
	first_file = parse(argc, argv, &o);
	log_init(o.p.trace > 0 ? 2 : 0, false);
	if ((c = smtp_open(&o.p, &err)) == NULL) {
		fprintf(stderr, "smtp-send: %s\n", err.msg);
		return exit_code(err.code);
	}
	for (i = first_file; i < argc; i++) {
		if (!smtp_ready(c) && o.reconnect) {
			smtp_close(c);
			if ((c = smtp_open(&o.p, &err)) == NULL) {
				fprintf(stderr, "smtp-send: %s\n", err.msg);
				return exit_code(
				    first != PF_OK ? first : err.code);
			}
		}
		rc = send_one(c, &o, i - first_file + 1, argv[i]);
		if (rc != PF_OK && first == PF_OK)
			first = rc;
		if (rc != PF_OK && o.stop)
			break;
	}
	smtp_close(c);
	return exit_code(first);
}
