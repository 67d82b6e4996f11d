/*
 * The steps plan, apply and import share: load the config, find and open
 * the state repository, take the lock (writers only), read live callbacks
 * and build the plan.
 */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "session.h"
#include "util.h"
#include "banned.h"

/*
 * Readers (plan): --fetch brings the remote's state ref first; without it,
 * a clone's remote-tracking copy stands in for a missing local ref. Only
 * the fetched objects and the tracking ref are ever written.
 */
static int session_read_remote(struct session *s, struct opts *o)
{
	char used[256];
	ps_error e;

	ps_error_clear(&e);
	if (o->fetch) {
		const char *remote = o->remote ? o->remote : "origin";

		if (!ps_state_exists(s->st)) {
			out_error("--fetch: the state repository %s does not "
				  "exist",
				  s->repo);
			return EXIT_ERROR;
		}
		if (ps_state_fetch_readonly(s->st, remote, &e) < 0) {
			out_ps_error(&e);
			return EXIT_ERROR;
		}
		return EXIT_OK;
	}
	if (ps_state_use_tracking(s->st, o->remote, false, used, sizeof(used),
				  &e) < 0) {
		out_ps_error(&e);
		return EXIT_ERROR;
	}
	if (*used)
		out_info("no local %s: reading the snapshot from %s",
			 ps_state_ref(s->st), used);
	else if (!ps_state_head(s->st) && ps_state_has_remote(s->st))
		out_warning(
			"no snapshot in %s (no %s, no remote-tracking copy); "
			"its remote may have one: run with --fetch to read "
			"it, or this plan creates every callback",
			s->repo, ps_state_ref(s->st));
	return EXIT_OK;
}

/* A state ref moved away from pavesync's history is refused before
 * anything else (writers may adopt it with --adopt-state-ref). */
static int check_lineage(struct session *s, const struct opts *o, bool write)
{
	char note[512];
	ps_error e;

	ps_error_clear(&e);
	if (ps_state_check_lineage(s->st, write && o->adopt_state_ref, note,
				   sizeof(note), &e) < 0) {
		out_ps_error(&e);
		return EXIT_ERROR;
	}
	if (*note)
		out_warning("%s", note);
	return EXIT_OK;
}

int session_open(struct session *s, struct opts *o, bool write)
{
	ps_error e;
	char warning[512] = "";
	char used[256];
	double wait;
	int rc;

	memset(s, 0, sizeof(*s));
	ps_error_clear(&e);
	/* libgit2 starts up while the config loads. */
	ps_state_warmup_start(&s->warmup);
	if (load_config(&s->cfg, o) < 0)
		return EXIT_ERROR;
	s->url = effective_api_url(o, s->cfg);
	s->url_source = o->api_url ? "--api-url"
			: getenv("PAVE_API_URL") && *getenv("PAVE_API_URL")
				? "PAVE_API_URL"
			: s->cfg->api_url ? s->cfg->path
					  : "the default";
	if (state_repo_path(&s->repo, o, s->cfg) < 0)
		return EXIT_ERROR;
	if (ps_state_open(&s->st, s->repo, o->state_ref,
			  PS_STATE_LAZY | (write ? PS_STATE_CREATE : 0),
			  &e) < 0) {
		out_ps_error(&e);
		return EXIT_ERROR;
	}
	run_opts_init(&s->ro, o, s->url);
	if (!write)
		return (rc = check_lineage(s, o, false)) != EXIT_OK
			       ? rc
			       : session_read_remote(s, o);

	wait = (double)o->lock_timeout;
	if (o->deadline_ms > 0) {
		/* Waiting for the lock counts against the run's deadline. */
		double left =
			(double)(o->deadline_ms - ps_api_now_ms()) / 1000.0;
		if (wait > left)
			wait = left > 0 ? left : 0;
	}
	rc = ps_lock_acquire(&s->lock, ps_state_gitdir(s->st),
			     ps_state_ref(s->st), wait, warning,
			     sizeof(warning), &e);
	if (rc < 0) {
		out_ps_error(&e);
		return rc == PS_ELOCKED ? EXIT_LOCKED : EXIT_ERROR;
	}
	if (*warning)
		out_warning("%s", warning);
	/* Re-read under the lock: another run may have committed meanwhile. */
	ps_state_free(s->st);
	s->st = NULL;
	if (ps_state_open(&s->st, s->repo, o->state_ref,
			  PS_STATE_LAZY | PS_STATE_CREATE, &e) < 0) {
		out_ps_error(&e);
		return EXIT_ERROR;
	}
	if ((rc = check_lineage(s, o, true)) != EXIT_OK)
		return rc;
	if (o->push || o->fetch) {
		const char *remote = o->remote ? o->remote : "origin";
		if (ps_state_fetch(s->st, remote, &e) < 0) {
			out_ps_error(&e);
			return EXIT_ERROR;
		}
	} else if (ps_state_use_tracking(s->st, o->remote, true, used,
					 sizeof(used), &e) < 0) {
		out_ps_error(&e);
		return EXIT_ERROR;
	} else if (*used) {
		out_info("no local %s: starting from %s", ps_state_ref(s->st),
			 used);
	}
	return EXIT_OK;
}

int session_check_url(struct session *s)
{
	ps_error e;

	ps_error_clear(&e);
	if (ps_api_check_url(s->url, &e) < 0) {
		/* The message names the URL; say only where it came from. */
		out_error("%s (from %s)", e.message, s->url_source);
		return EXIT_ERROR;
	}
	return EXIT_OK;
}

static void report_live_errors(const json_t *errors)
{
	const char *name;
	json_t *msg;

	json_object_foreach((json_t *)errors, name, msg)
		out_error("account %s: %s", name, json_string_value(msg));
}

/* Read (and so check) the snapshot of every account the run is about,
 * so a damaged document is refused before the live read's API calls. */
static int check_snapshots(struct session *s, const struct opts *o)
{
	const json_t *doc;
	ps_error e;
	size_t i;

	ps_error_clear(&e);
	for (i = 0; i < s->cfg->naccounts; i++) {
		const char *name = s->cfg->accounts[i].name;
		const char *const *p;
		bool want = !o->accounts;

		for (p = o->accounts; p && *p && !want; p++)
			want = !strcmp(*p, name);
		if (want && ps_state_load(&doc, s->st, name, &e) < 0) {
			out_ps_error(&e);
			return EXIT_ERROR;
		}
	}
	return EXIT_OK;
}

int session_plan(struct session *s, struct opts *o, bool refresh,
		 bool refresh_stale)
{
	ps_plan_opts po;
	ps_error e;
	size_t i, nstale = 0;
	const char **stale;

	ps_error_clear(&e);
	memset(&po, 0, sizeof(po));
	po.only = o->accounts;
	po.prune = o->prune;
	po.api_url = s->url;

	if (refresh) {
		if (session_check_url(s) || check_snapshots(s, o))
			return EXIT_ERROR;
		if (ps_live_read(&s->live, &s->live_errors, s->cfg, o->accounts,
				 &s->ro, &e) < 0) {
			out_ps_error(&e);
			return EXIT_ERROR;
		}
		report_live_errors(s->live_errors);
	}
	if (ps_plan_build(&s->plan, s->cfg, s->st, s->live, s->live_errors, &po,
			  &e) < 0) {
		out_ps_error(&e);
		return EXIT_ERROR;
	}
	if (refresh || !refresh_stale)
		return EXIT_OK;

	/* A stale snapshot is unknown: read those accounts live (only them). */
	stale = ps_calloc(s->plan->naccounts + 1, sizeof(*stale));
	for (i = 0; i < s->plan->naccounts; i++)
		if (s->plan->accounts[i].stale)
			stale[nstale++] = s->plan->accounts[i].name;
	if (nstale) {
		out_info("reading %zu account%s live: the snapshot was written "
			 "for other credentials",
			 nstale, nstale == 1 ? "" : "s");
		if (session_check_url(s)) {
			free(stale);
			return EXIT_ERROR;
		}
		if (ps_live_read(&s->live, &s->live_errors, s->cfg, stale,
				 &s->ro, &e) < 0) {
			out_ps_error(&e);
			free(stale);
			return EXIT_ERROR;
		}
		report_live_errors(s->live_errors);
		ps_plan_free(s->plan);
		s->plan = NULL;
		if (ps_plan_build(&s->plan, s->cfg, s->st, s->live,
				  s->live_errors, &po, &e) < 0) {
			out_ps_error(&e);
			free(stale);
			return EXIT_ERROR;
		}
	}
	free(stale);
	return EXIT_OK;
}

int session_record_drift(struct session *s, const char *subject)
{
	ps_error e;

	ps_error_clear(&e);
	if (ps_live_record_drift(s->refresh_commit, s->plan, s->st, subject,
				 &e) < 0) {
		out_ps_error(&e);
		return EXIT_ERROR;
	}
	return EXIT_OK;
}

int session_push(struct session *s, struct opts *o)
{
	ps_error e;

	ps_error_clear(&e);
	if (!o->push)
		return EXIT_OK;
	if (ps_state_push(s->st, o->remote ? o->remote : "origin", &e) < 0) {
		out_ps_error(&e);
		return EXIT_ERROR;
	}
	return EXIT_OK;
}

void session_close(struct session *s)
{
	ps_plan_free(s->plan);
	json_decref(s->live);
	json_decref(s->live_errors);
	ps_state_free(s->st);
	ps_lock_release(s->lock);
	ps_config_free(s->cfg);
	free(s->repo);
	ps_state_warmup_finish(&s->warmup);
	memset(s, 0, sizeof(*s));
}
