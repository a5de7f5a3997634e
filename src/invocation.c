/* invocation.c: what one run of popfetch does (invocation.h). */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "popfetch/authorize.h"
#include "popfetch/conn.h"
#include "popfetch/convert.h"
#include "popfetch/daemon.h"
#include "popfetch/import.h"
#include "popfetch/invocation.h"
#include "popfetch/log.h"
#include "popfetch/sink.h"
#include "popfetch/summary.h"
#include "popfetch/tempcount.h"
#include "popfetch/xmalloc.h"

void
invocation_init(struct invocation *inv, const struct cli *c,
    void (*warn)(void *ctx, const char *msg))
{
	memset(inv, 0, sizeof(*inv));
	inv->c = c;
	inv->syslog = c->use_syslog;
	inv->warn = warn;
	log_init(c->verbosity, c->use_syslog);
}

void
invocation_free(struct invocation *inv)
{
	config_accounts_free(inv->accts, inv->n);
	inv->accts = NULL;
	inv->n = 0;
	config_free(&inv->cfg);
	conn_tls_cache_free();
	log_close();
}

/* Load the config into cfg (unless the run is a one-off --host account)
 * and pick the accounts. */
static int
load(struct invocation *inv, struct config *cfg, bool *have_cfg,
    struct account **accts, size_t *n, struct pf_err *err)
{
	const struct cli *c = inv->c;
	enum config_need need = c->show_config ? CONFIG_NEED_NOTHING
	    : c->serverinfo || c->import_spec != NULL ||
		c->authorize != CLI_AUTHORIZE_NONE
	    ? CONFIG_NEED_HOST
	    : CONFIG_NEED_FETCH;
	char *path;
	int rc;

	*have_cfg = !(c->one_off && c->naccounts == 0 && !c->all_accounts);
	if (*have_cfg) {
		path = c->config_path != NULL ? xstrdup(c->config_path)
					      : config_default_path();
		rc = config_load(path, true, cfg, err);
		free(path);
		if (rc < 0)
			return -1;
		if (cfg->syslog && !inv->syslog)
			log_init(c->verbosity, true);
		inv->syslog |= cfg->syslog;
		config_lint(cfg, &c->settings, inv->warn, NULL);
	}
	return config_select(*have_cfg ? cfg : NULL, c->accounts,
	    (size_t)c->naccounts, c->all_accounts, &c->settings, need, accts, n,
	    err);
}

int
invocation_load(struct invocation *inv, struct pf_err *err)
{
	return load(inv, &inv->cfg, &inv->have_cfg, &inv->accts, &inv->n, err);
}

int
invocation_reload(void *ctx, struct account **accts, size_t *n, int *interval,
    struct pf_err *err)
{
	struct invocation *inv = ctx;
	struct config cfg;
	bool have_cfg;
	int rc;

	memset(&cfg, 0, sizeof(cfg));
	rc = load(inv, &cfg, &have_cfg, accts, n, err);
	*interval = inv->c->daemon >= 0 ? inv->c->daemon
	    : cfg.daemon_line > 0	? cfg.daemon
					: -1;
	config_free(&cfg);
	return rc;
}

int
invocation_daemon(struct invocation *inv, int *interval, struct pf_err *err)
{
	const struct cli *c = inv->c;
	bool looks = c->dry_run || c->serverinfo || c->show_config || c->json;

	if (c->daemon >= 0)
		*interval = looks ? -1 : c->daemon;
	else
		*interval =
		    inv->cfg.daemon_line > 0 && !looks ? inv->cfg.daemon : -1;
	inv->daemon = *interval >= 0;
	if (c->daemon >= 0 && looks)
		return pf_err_set(err, PF_EUSAGE,
		    "--daemon cannot be combined with -n, --serverinfo, "
		    "--show-config or --json");
	return 0;
}

/* The runner's options: -j, --serverinfo, -n, the trace at -vv. */
static void
runner_opts(const struct cli *c, struct runner_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->jobs = c->jobs;
	o->serverinfo = c->serverinfo;
	o->dry_run = c->dry_run;
	o->trace = c->verbosity >= 2;
}

int
invocation_run(const struct invocation *inv, const struct runner_hooks *h,
    int (*exit_of)(enum pf_errc code), char **json)
{
	struct runner_result *res = xcalloc(inv->n, sizeof(*res));
	struct runner_opts o;
	long first;
	int status;

	runner_opts(inv->c, &o);
	runner_run(inv->accts, inv->n, &o, h, res);
	first = runner_first_failure(res, inv->n);
	status = first < 0 ? 0 : exit_of(res[first].err.code);
	*json = inv->c->json
	    ? summary_json(inv->accts, res, inv->n, status, exit_of)
	    : NULL;
	free(res);
	return status;
}

int
invocation_serve(struct invocation *inv, int interval,
    const struct runner_hooks *h, struct pf_err *err)
{
	struct runner_opts o;
	struct daemon_opts d;
	int rc;

	runner_opts(inv->c, &o);
	memset(&d, 0, sizeof(d));
	d.interval = interval;
	d.run = &o;
	d.hooks = h;
	d.load = invocation_reload;
	d.load_ctx = inv;
	rc = daemon_run(&d, inv->accts, inv->n, err);
	inv->accts = NULL;
	inv->n = 0;
	return rc;
}

int
invocation_show_config(
    const struct invocation *inv, FILE *fp, struct pf_err *err)
{
	return config_show_all(inv->have_cfg ? &inv->cfg : NULL, inv->accts,
	    inv->n, &inv->c->settings, inv->c->use_syslog, fp, err);
}

int
invocation_output(struct invocation *inv, struct pf_err *err)
{
	const struct cli *c = inv->c;
	size_t i;

	for (i = 0; c->json && !c->serverinfo && !c->dry_run && i < inv->n;
	     i++) {
		if ((sink_kind_flags(inv->accts[i].sink) & SINK_USES_STDOUT))
			return pf_err_set(err, PF_EUSAGE,
			    "--json and --stdout both write to standard output");
	}
	inv->bar = !inv->syslog && !c->serverinfo && !c->dry_run &&
	    c->verbosity >= 0 &&
	    !runner_parallel(inv->accts, inv->n, c->jobs) &&
	    (c->progress == CLI_PROGRESS_ALWAYS ||
		(c->progress == CLI_PROGRESS_AUTO && isatty(STDERR_FILENO)));
	return 0;
}

int
invocation_convert(
    struct invocation *inv, struct invocation_text *out, struct pf_err *err)
{
	memset(out, 0, sizeof(*out));
	out->config = true;
	return convert_named(inv->c->convert_source, inv->c->accounts[0],
	    &out->text, &out->len, err);
}

/* --authorize's oauth_ui.prompt, ctx the invocation: its text through
 * inv->put. */
static void
authorize_put(
    void *ctx, const char *url, const char *code, const char *complete)
{
	struct invocation *inv = ctx;
	char *text = authorize_prompt(inv->accts, url, code, complete);

	inv->put(text);
	free(text);
}

int
invocation_authorize(
    struct invocation *inv, struct invocation_text *out, struct pf_err *err)
{
	struct oauth_ui oui = {authorize_put, inv->warn, NULL, inv};
	const struct account *a = inv->accts;
	char *path = NULL;

	memset(out, 0, sizeof(*out));
	if (authorize_account(a, inv->n, inv->c->authorize, &oui, &path, err))
		return -1;
	out->text = xasprintf(
	    "Account '%s' is authorized; its tokens are stored in '%s'.\n",
	    a->name != NULL ? a->name : a->host, path);
	out->len = strlen(out->text);
	free(path);
	return 0;
}

int
invocation_import(
    struct invocation *inv, struct invocation_text *out, struct pf_err *err)
{
	struct import_counts counts;
	char line[300];

	memset(out, 0, sizeof(*out));
	if (import_account_state(
		&inv->accts[0], inv->c->import_spec, &counts, err) < 0)
		return -1;
	out->text =
	    xasprintf("%s\n", import_summary(&counts, line, sizeof(line)));
	out->len = strlen(out->text);
	return 0;
}

void
invocation_text_free(struct invocation_text *t)
{
	if (t->config)
		convert_free(t->text, t->len);
	else
		free(t->text);
	memset(t, 0, sizeof(*t));
}

int
invocation_done(const struct invocation *inv, const struct account *a,
    const struct runner_result *r, bool *error, char *line, size_t len)
{
	const struct cli *c = inv->c;

	*error = false;
	if (!inv->daemon &&
	    (c->serverinfo || c->dry_run || !tempcount_after_run(a, r)))
		*error = r->ret < 0 && !(r->st.login_wait && c->verbosity < 0);
	if (c->serverinfo || c->dry_run || (r->ret < 0 && r->st.listed == 0))
		return -1;
	summary_line(line, len, &r->st);
	if (c->verbosity >= 1)
		return LOGL_INFO;
	return inv->bar ? LOGL_NOTICE : -1;
}

bool
invocation_progress(struct invocation *inv, const struct account *a,
    const struct fetch_progress *p, char *line, size_t len)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return inv->bar &&
	    progress_step(&inv->progress, a->name ? a->name : a->host, p, &now,
		line, len);
}
