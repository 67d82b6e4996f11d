/*
 * The steps plan, apply and import share (run.h): load the config, find
 * and open the state repository, take the lock (writers only), read live
 * callbacks, build the plan, apply it, commit, push.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "buf.h"
#include "import.h"
#include "live.h"
#include "run.h"
#include "util.h"
#include "banned.h"

static void notify(ps_run *run, ps_notice_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void notify(ps_run *run, ps_notice_level level, const char *fmt, ...)
{
	ps_buf text = PS_BUF_INIT;
	va_list ap;

	if (!run->set.notice)
		return;
	va_start(ap, fmt);
	(void)ps_buf_vprintf(&text, fmt, ap);
	va_end(ap);
	run->set.notice(run->set.notice_ctx, level,
			ps_buf_status(&text) ? "(message too long to show)"
					     : text.ptr);
	ps_buf_release(&text);
}

int ps_run_state_repo(char **out, const char *given, const ps_config *cfg,
		      const char *config_path, ps_error *err)
{
	if (given) {
		*out = ps_strdup(given);
		return 0;
	}
	if (cfg && cfg->state_repo) {
		*out = ps_strdup(cfg->state_repo);
		return 0;
	}
	return ps_state_default_path(out, config_path, err);
}

/* The config, its problems into diags; its warnings as notices. */
static int load_config(ps_run *run, ps_diags *diags, ps_error *err)
{
	ps_diags local = PS_DIAGS_INIT, w = PS_DIAGS_INIT;
	ps_diags *d = diags ? diags : &local;
	char line[PS_ERROR_MSG_MAX + PS_ERROR_SOURCE_MAX + 64];
	size_t i;
	int rc = ps_config_load(&run->cfg, run->set.config_path, NULL, d);

	ps_diags_clear(&local);
	if (rc < 0)
		return ps_error_set(err, rc, "cannot load %s",
				    run->set.config_path);
	ps_config_warnings(&w, run->cfg);
	for (i = 0; i < w.count; i++)
		notify(run, PS_NOTICE_WARNING, "%s",
		       ps_error_format(&w.items[i], line, sizeof(line)));
	ps_diags_clear(&w);
	return 0;
}

/*
 * Readers (plan): `fetch` brings the remote's state ref first; without it,
 * a clone's remote-tracking copy stands in for a missing local ref. Only
 * the fetched objects and the tracking ref are ever written.
 */
static int read_remote(ps_run *run, ps_error *err)
{
	char used[256];
	int rc;

	if (run->set.fetch) {
		const char *remote =
			run->set.remote ? run->set.remote : "origin";

		if (!ps_state_exists(run->st))
			return ps_error_set(err, PS_ENOTFOUND,
					    "--fetch: the state repository %s "
					    "does not exist",
					    run->repo);
		return ps_state_fetch_readonly(run->st, remote, err);
	}
	if ((rc = ps_state_use_tracking(used, sizeof(used), run->st,
					run->set.remote, false, err)) < 0)
		return rc;
	if (*used)
		notify(run, PS_NOTICE_INFO,
		       "no local %s: reading the snapshot from %s",
		       ps_state_ref(run->st), used);
	else if (!ps_state_head(run->st) && ps_state_has_remote(run->st))
		notify(run, PS_NOTICE_WARNING,
		       "no snapshot in %s (no %s, no remote-tracking copy); "
		       "its remote may have one: run with --fetch to read "
		       "it, or this plan creates every callback",
		       run->repo, ps_state_ref(run->st));
	return 0;
}

/* A state ref moved away from pavesync's history is refused before
 * anything else (writers may adopt it with adopt_state_ref). */
static int check_lineage(ps_run *run, bool adopt, ps_error *err)
{
	char note[512];
	int rc;

	if ((rc = ps_state_check_lineage(note, sizeof(note), run->st, adopt,
					 err)) < 0)
		return rc;
	if (*note)
		notify(run, PS_NOTICE_WARNING, "%s", note);
	return 0;
}

/* git fetch and push end with the run: its deadline, its stop request. */
static void bound_git(ps_run *run)
{
	const ps_api_opts *api = &run->set.calls.api;

	ps_state_bound_git(run->st, api->stop, api->stop_grace_ms,
			   api->deadline_ms);
}

/* Writers: the lock, the snapshot read again under it, the remote's. */
static int open_writer(ps_run *run, ps_error *err)
{
	char warning[512] = "";
	char used[256];
	double wait = run->set.lock_timeout;
	long long deadline_ms = run->set.calls.api.deadline_ms;
	int rc;

	if (deadline_ms > 0) {
		/* Waiting for the lock counts against the run's deadline. */
		double left = (double)(deadline_ms - ps_api_now_ms()) / 1000.0;
		if (wait > left)
			wait = left > 0 ? left : 0;
	}
	rc = ps_lock_acquire(&run->lock, warning, sizeof(warning),
			     ps_state_gitdir(run->st), ps_state_ref(run->st),
			     wait, err);
	if (rc < 0)
		return rc;
	if (*warning)
		notify(run, PS_NOTICE_WARNING, "%s", warning);
	/* Re-read under the lock: another run may have committed meanwhile. */
	ps_state_free(run->st);
	run->st = NULL;
	if ((rc = ps_state_open(&run->st, run->repo, run->set.state_ref,
				PS_STATE_LAZY | PS_STATE_CREATE, err)) < 0)
		return rc;
	bound_git(run);
	if ((rc = check_lineage(run, run->set.adopt_state_ref, err)) < 0)
		return rc;
	if (run->set.push || run->set.fetch)
		return ps_state_fetch(
			run->st, run->set.remote ? run->set.remote : "origin",
			err);
	if ((rc = ps_state_use_tracking(used, sizeof(used), run->st,
					run->set.remote, true, err)) < 0)
		return rc;
	if (*used)
		notify(run, PS_NOTICE_INFO, "no local %s: starting from %s",
		       ps_state_ref(run->st), used);
	return 0;
}

int ps_run_open(ps_run **out, const ps_run_settings *set, ps_diags *diags,
		ps_error *err)
{
	ps_run *run = ps_calloc(1, sizeof(*run));
	int rc;

	*out = NULL;
	run->set = *set;
	/* libgit2 starts up while the config loads, and opens a reader's
	 * state repository when it is known already. */
	ps_state_warmup_start(&run->warmup, set->write ? NULL : set->state_repo,
			      set->state_ref);
	if ((rc = load_config(run, diags, err)) < 0)
		goto cleanup;
	run->url = set->api_url	       ? set->api_url
		   : run->cfg->api_url ? run->cfg->api_url
				       : PS_API_DEFAULT_URL;
	run->url_source = set->api_url	      ? set->api_url_source
			  : run->cfg->api_url ? run->cfg->path
					      : "the default";
	if ((rc = ps_run_state_repo(&run->repo, set->state_repo, run->cfg,
				    set->config_path, err)) < 0)
		goto cleanup;
	if (!set->write)
		run->st = ps_state_warmup_take(&run->warmup, run->repo,
					       set->state_ref);
	if (!run->st &&
	    (rc = ps_state_open(
		     &run->st, run->repo, set->state_ref,
		     PS_STATE_LAZY | (set->write ? PS_STATE_CREATE : 0), err)) <
		    0)
		goto cleanup;
	bound_git(run);
	run->set.calls.api.base_url = run->url;
	if (set->write)
		rc = open_writer(run, err);
	else if ((rc = check_lineage(run, false, err)) == 0)
		rc = read_remote(run, err);
cleanup:
	if (rc < 0) {
		ps_run_close(run);
		return rc;
	}
	*out = run;
	return 0;
}

int ps_run_check_url(ps_run *run, ps_error *err)
{
	ps_error e;
	int rc;

	ps_error_clear(&e);
	rc = ps_api_check_url(run->url, &e);
	if (rc == PS_EINVALID)
		/* The message names the URL; say only where it came from. */
		return ps_error_set(err, rc, "%s (from %s)", e.message,
				    run->url_source);
	if (rc < 0 && err)
		*err = e; /* libcurl cannot be loaded: not the URL's fault */
	return rc;
}

static void report_live_errors(ps_run *run)
{
	const char *name;
	json_t *msg;

	json_object_foreach(run->live_errors, name, msg)
		notify(run, PS_NOTICE_ERROR, "account %s: %s", name,
		       json_string_value(msg));
}

static bool wanted(const ps_run *run, const char *name)
{
	const char *const *p;

	if (!run->set.only)
		return true;
	for (p = run->set.only; *p; p++)
		if (!strcmp(*p, name))
			return true;
	return false;
}

/* Read (and so check) the snapshot of every account the run is about,
 * so a damaged document is refused before the live read's API calls. */
static int check_snapshots(ps_run *run, ps_error *err)
{
	const json_t *doc;
	size_t i;
	int rc;

	for (i = 0; i < run->cfg->naccounts; i++) {
		const char *name = run->cfg->accounts[i].name;

		if (wanted(run, name) &&
		    (rc = ps_state_load(&doc, run->st, name, err)) < 0)
			return rc;
	}
	return 0;
}

/* Read `names` live (NULL: every account the run is about). An account
 * that fails is in live_errors, and said; ps_live_read itself fails only
 * when it cannot record an account (live.h). */
static int read_live(ps_run *run, const char *const *names, ps_error *err)
{
	json_decref(run->live);
	json_decref(run->live_errors);
	run->live = run->live_errors = NULL;
	if (ps_live_read(&run->live, &run->live_errors, run->cfg, names,
			 &run->set.calls, err) < 0)
		return err && err->code ? err->code : PS_ERROR;
	report_live_errors(run);
	return 0;
}

int ps_run_plan(ps_run *run, unsigned flags, ps_error *err)
{
	ps_plan_opts po;
	size_t i, nstale = 0;
	const char **stale = NULL;
	int rc;

	memset(&po, 0, sizeof(po));
	po.only = run->set.only;
	po.prune = run->set.prune;
	po.api_url = run->url;
	po.remember = run->lock != NULL; /* a writer, under the lock */
	/* A writer's plan applied and committed with run->st: its accounts'
	 * maps can be read again from there (plan.h). */
	po.compact = po.remember && (flags & PS_RUN_COMPACT);
	ps_plan_free(run->plan);
	run->plan = NULL;

	if (flags & PS_RUN_REFRESH) {
		if ((rc = ps_run_check_url(run, err)) < 0 ||
		    (rc = check_snapshots(run, err)) < 0)
			return rc;
		if ((rc = read_live(run, run->set.only, err)) < 0)
			return rc;
	}
	if ((rc = ps_plan_build(&run->plan, run->cfg, run->st, run->live,
				run->live_errors, &po, err)) < 0)
		return rc;
	if ((flags & PS_RUN_REFRESH) || !(flags & PS_RUN_REFRESH_STALE))
		return 0;

	/* A stale snapshot is unknown: read those accounts live (only them). */
	stale = ps_calloc(run->plan->naccounts + 1, sizeof(*stale));
	for (i = 0; i < run->plan->naccounts; i++)
		if (run->plan->accounts[i].stale)
			stale[nstale++] = run->plan->accounts[i].name;
	rc = 0;
	if (nstale) {
		notify(run, PS_NOTICE_INFO,
		       "reading %zu account%s live: the snapshot was written "
		       "for other credentials",
		       nstale, nstale == 1 ? "" : "s");
		if ((rc = ps_run_check_url(run, err)) < 0)
			goto cleanup;
		if ((rc = read_live(run, stale, err)) < 0)
			goto cleanup;
		ps_plan_free(run->plan);
		run->plan = NULL;
		rc = ps_plan_build(&run->plan, run->cfg, run->st, run->live,
				   run->live_errors, &po, err);
	}
cleanup:
	free(stale);
	return rc;
}

int ps_run_record_drift(ps_run *run, const char *subject, ps_error *err)
{
	return ps_live_record_drift(run->refresh_commit, run->plan, run->st,
				    subject, err);
}

int ps_run_apply(ps_run *run, ps_error *err)
{
	long long deadline_ms = run->set.calls.api.deadline_ms;
	ps_error failed;
	int rc;

	run->commit[0] = '\0';
	if (!ps_plan_changes(run->plan)) {
		/* Nothing to call, but the snapshot may be due a rewrite (an
		 * older format, or live caught up with the config). */
		if (!run->plan->nrewrite)
			return 0;
		return ps_apply_commit(run->commit, run->plan, run->st, err);
	}
	if ((rc = ps_run_check_url(run, err)) < 0)
		return rc;
	run->called = true;
	/* A change that failed is in its status, not an error here: what
	 * succeeded is committed all the same. */
	ps_error_clear(&failed);
	(void)ps_apply_run(run->plan, &run->set.calls, run->set.fail_on_drift,
			   &failed);
	run->deadline_reached =
		deadline_ms > 0 && ps_api_now_ms() >= deadline_ms;
	return ps_apply_commit(run->commit, run->plan, run->st, err);
}

int ps_run_seed(ps_run *run, ps_error *err)
{
	ps_plan_adopt_live(run->plan);
	return ps_run_record_drift(
		run, "pavesync: import: snapshot seeded from live", err);
}

int ps_run_import_config(ps_buf *out, json_t **vars, ps_run *run, ps_error *err)
{
	const char **names =
		ps_calloc(run->plan->naccounts + 1, sizeof(*names));
	size_t i, n = 0;
	int rc;

	for (i = 0; i < run->plan->naccounts; i++)
		if (!run->plan->accounts[i].orphaned)
			names[n++] = run->plan->accounts[i].name;
	rc = ps_import_write(out, vars, run->cfg, run->live, names, err);
	free(names);
	return rc;
}

int ps_run_push(ps_run *run, ps_error *err)
{
	if (!run->set.push)
		return 0;
	return ps_state_push(run->st,
			     run->set.remote ? run->set.remote : "origin", err);
}

/* What outlives the process or must not run into its exit: the lock
 * file, the warm-up thread, the repository (cheap). */
static void close_outside(ps_run *run)
{
	ps_state_free(run->st);
	run->st = NULL;
	ps_lock_free(run->lock);
	run->lock = NULL;
	ps_state_warmup_finish(&run->warmup);
}

/* Builds with AddressSanitizer free everything at exit all the same, so
 * that every run of the test suite keeps testing the frees. */
#if defined(__SANITIZE_ADDRESS__)
#define FREE_AT_EXIT 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FREE_AT_EXIT 1
#endif
#endif

#ifdef FREE_AT_EXIT
void ps_run_close_for_exit(ps_run *run)
{
	ps_run_close(run);
}
#else
/* The run left to the exit, reachable from here so that leak checkers
 * count its memory as still in use, not lost (git's UNLEAK). volatile:
 * a store nobody reads must not be optimised away. */
static ps_run *volatile exit_run;

void ps_run_close_for_exit(ps_run *run)
{
	if (!run)
		return;
	if (exit_run) {
		ps_run_close(run);
		return;
	}
	/* The config, the plan and what was read live, the bulk of the
	 * memory, are left for the exit to take back in one go. */
	close_outside(run);
	exit_run = run;
}
#endif

void ps_run_close(ps_run *run)
{
	if (!run)
		return;
	ps_plan_free(run->plan);
	json_decref(run->live);
	json_decref(run->live_errors);
	close_outside(run);
	ps_config_free(run->cfg);
	free(run->repo);
	free(run);
}
