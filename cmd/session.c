/*
 * The command line's side of a run (reconcile/run.h): map the options to
 * the library's settings, print its notices and errors, pick the exit
 * status.
 */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "session.h"
#include "banned.h"

/* The API URL the options or the environment give, and its name for
 * messages; NULL: the config's or the default. */
static const char *given_api_url(const struct opts *o, const char **source)
{
	const char *env = getenv("PAVE_API_URL");

	*source = NULL;
	if (o->api_url) {
		*source = "--api-url";
		return o->api_url;
	}
	if (env && *env) {
		*source = "PAVE_API_URL";
		return env;
	}
	return NULL;
}

/* The API client, concurrency, progress, the deadline and the stop flag
 * from the options; the API URL is the run's to set. */
static void run_opts_init(ps_apply_opts *ro, const struct opts *o)
{
	memset(ro, 0, sizeof(*ro));
	ps_api_opts_init(&ro->api);
	ro->api.cacert = o->cacert;
	ro->api.timeout_ms = o->timeout * 1000;
	ro->api.retries = (int)o->retries;
	ro->api.deadline_ms = o->deadline_ms;
	ro->api.stop = stop_flag();
	if (o->verbose)
		ro->api.log = out_log_line;
	ro->concurrency = (int)o->concurrency;
	ro->progress = out_progress;
}

int session_open(ps_run **run, const struct opts *o, bool write)
{
	ps_run_settings set;
	ps_diags diags = PS_DIAGS_INIT;
	ps_error e;
	int rc;

	*run = NULL;
	ps_error_clear(&e);
	memset(&set, 0, sizeof(set));
	set.config_path = o->config;
	set.state_repo = given_state_repo(o);
	set.state_ref = o->state_ref;
	set.api_url = given_api_url(o, &set.api_url_source);
	set.only = o->accounts;
	set.write = write;
	set.adopt_state_ref = o->adopt_state_ref;
	set.fetch = o->fetch;
	set.push = o->push;
	set.remote = o->remote;
	set.lock_timeout = (double)o->lock_timeout;
	set.prune = o->prune;
	set.fail_on_drift = o->on_drift == ON_DRIFT_FAIL;
	run_opts_init(&set.calls, o);
	set.notice = out_notice;

	rc = ps_run_open(run, &set, &diags, &e);
	if (rc < 0) {
		if (diags.count)
			out_config_diags(&diags, o->config, rc);
		else
			out_ps_error(&e);
	}
	ps_diags_clear(&diags);
	if (rc < 0)
		return rc == PS_ELOCKED ? EXIT_LOCKED : EXIT_ERROR;
	return EXIT_OK;
}

int session_plan(ps_run *run, unsigned flags)
{
	ps_error e;

	ps_error_clear(&e);
	if (ps_run_plan(run, flags, &e) < 0) {
		out_ps_error(&e);
		return EXIT_ERROR;
	}
	return EXIT_OK;
}
