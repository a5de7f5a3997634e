/*
 * oauth-cli.c: a test driver for the oauth module alone (popfetch itself
 * is tested through its config keys and --authorize by
 * integration/test-oauth-popfetch.sh). It runs the flows and the
 * access-token path against a real authorization server
 * (tests/lib/oauth_server.py) the way popfetch does.
 *
 *   oauth-cli [options] authorize     run a flow, store the tokens
 *   oauth-cli [options] token         cached or refreshed access token,
 *                                     written to --out (mode 0600)
 *   oauth-cli --fault-build           exit 0 when built with fault hooks
 *
 * Options: --store PATH (token file), --account NAME, --provider NAME,
 * --client-id ID, --client-secret-file FILE (its first line; stands in
 * for oauth2_client_secret_command), --tenant T, --scope S,
 * --authorize-url U, --token-url U, --device-url U, --flow device|browser,
 * --timeout-ms N, --margin S, --browser-wait S, --out FILE, -v (-vv
 * trace). The prompt goes to stdout as "VERIFY URL CODE [COMPLETE]" or
 * "OPEN URL", warnings to stderr as "warning: ...". Tokens are never
 * printed. Exit status: the sysexits(3) code main.c gives the error.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "popfetch/log.h"
#include "popfetch/oauth.h"
#include "popfetch/xmalloc.h"

/* The exit code main.c gives an error class (docs/contract.md §3). */
static int
exit_code(enum pf_errc code)
{
	static const int codes[] = {
	    [PF_OK] = 0,
	    [PF_EUSAGE] = 64,
	    [PF_EDATA] = 65,
	    [PF_EUNAVAIL] = 69,
	    [PF_ESOFTWARE] = 70,
	    [PF_ECANTCREAT] = 73,
	    [PF_EIO] = 74,
	    [PF_ETEMP] = 75,
	    [PF_EPROTO] = 76,
	    [PF_ENOPERM] = 77,
	    [PF_ECONFIG] = 78,
	    [PF_ENOHOST] = 68,
	};

	if ((size_t)code >= sizeof(codes) / sizeof(codes[0]))
		return 70;
	return codes[code];
}

/* Show where to go, one line on stdout for the test to read. */
static void
prompt(void *ctx, const char *url, const char *code, const char *complete)
{
	(void)ctx;
	if (code != NULL)
		printf("VERIFY %s %s %s\n", url, code,
		    complete != NULL ? complete : "-");
	else
		printf("OPEN %s\n", url);
	fflush(stdout);
}

static void
warn(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "warning: %s\n", msg);
}

/* The first line of a file, as a secret command's output would be. */
static char *
read_secret(const char *path)
{
	char buf[1024];
	FILE *fp = fopen(path, "r");
	char *s;

	if (fp == NULL || fgets(buf, sizeof(buf), fp) == NULL) {
		fprintf(stderr, "oauth-cli: cannot read '%s'\n", path);
		exit(78);
	}
	fclose(fp);
	buf[strcspn(buf, "\r\n")] = '\0';
	s = xstrdup(buf);
	memset(buf, 0, sizeof(buf));
	return s;
}

/* Write the token to path with mode 0600 (as a password file). */
static int
write_token(const char *path, const char *token)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t n = strlen(token);

	if (fd == -1 || write(fd, token, n) != (ssize_t)n ||
	    write(fd, "\n", 1) != 1 || close(fd) == -1) {
		fprintf(stderr, "oauth-cli: cannot write '%s'\n", path);
		return 74;
	}
	return 0;
}

static void
usage(void)
{
	fprintf(stderr, "usage: oauth-cli [options] authorize|token\n");
	exit(64);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"store", required_argument, NULL, 's'},
	    {"account", required_argument, NULL, 'A'},
	    {"provider", required_argument, NULL, 'p'},
	    {"client-id", required_argument, NULL, 'i'},
	    {"client-secret-file", required_argument, NULL, 'S'},
	    {"tenant", required_argument, NULL, 'T'},
	    {"scope", required_argument, NULL, 'c'},
	    {"authorize-url", required_argument, NULL, 'a'},
	    {"token-url", required_argument, NULL, 't'},
	    {"device-url", required_argument, NULL, 'd'},
	    {"flow", required_argument, NULL, 'f'},
	    {"timeout-ms", required_argument, NULL, 'm'},
	    {"margin", required_argument, NULL, 'M'},
	    {"browser-wait", required_argument, NULL, 'w'},
	    {"out", required_argument, NULL, 'o'},
	    {"fault-build", no_argument, NULL, 'F'},
	    {NULL, 0, NULL, 0},
	};
	struct oauth_config cfg;
	struct oauth_client c;
	struct oauth_ui ui = {prompt, warn, NULL, NULL};
	enum oauth_flow flow = OAUTH_FLOW_DEFAULT;
	const char *store = NULL, *out = NULL, *cmd;
	char *secret = NULL, *token = NULL;
	struct pf_err err;
	int ch, verbose = 0, rc;

	memset(&cfg, 0, sizeof(cfg));
	while ((ch = getopt_long(argc, argv, "v", longopts, NULL)) != -1) {
		switch (ch) {
		case 'A':
			cfg.account = optarg;
			break;
		case 'F':
#ifdef POPFETCH_FAULT
			return 0;
#else
			return 1;
#endif
		case 'M':
			cfg.margin_s = atoi(optarg);
			break;
		case 'S':
			secret = read_secret(optarg);
			cfg.client_secret = secret;
			break;
		case 'T':
			cfg.tenant = optarg;
			break;
		case 'a':
			cfg.authorize_url = optarg;
			break;
		case 'c':
			cfg.scope = optarg;
			break;
		case 'd':
			cfg.device_url = optarg;
			break;
		case 'f':
			if (strcmp(optarg, "device") == 0)
				flow = OAUTH_FLOW_DEVICE;
			else if (strcmp(optarg, "browser") == 0)
				flow = OAUTH_FLOW_BROWSER;
			else
				usage();
			break;
		case 'i':
			cfg.client_id = optarg;
			break;
		case 'm':
			cfg.timeout_ms = atoi(optarg);
			break;
		case 'o':
			out = optarg;
			break;
		case 'p':
			cfg.provider = optarg;
			break;
		case 's':
			store = optarg;
			break;
		case 't':
			cfg.token_url = optarg;
			break;
		case 'v':
			verbose++;
			break;
		case 'w':
			cfg.browser_wait_s = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1 || store == NULL)
		usage();
	cmd = argv[optind];
	log_init(verbose, false);
	rc = oauth_client_init(&c, &cfg, &err);
	if (rc == 0 && strcmp(cmd, "authorize") == 0)
		rc = oauth_authorize(&c, flow, &ui, store, &err);
	else if (rc == 0 && strcmp(cmd, "token") == 0 && out != NULL) {
		rc = oauth_access_token(&c, &ui, store, &token, &err);
		if (rc == 0) {
			rc = write_token(out, token);
			xfree_secret(token);
			oauth_client_free(&c);
			xfree_secret(secret);
			return rc;
		}
	} else if (rc == 0)
		usage();
	oauth_client_free(&c);
	xfree_secret(secret);
	if (rc == -1) {
		fprintf(stderr, "oauth-cli: %s\n", err.msg);
		return exit_code(err.code);
	}
	return 0;
}
