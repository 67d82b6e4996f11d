#include "apply.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "calls.h"
#include "json.h"
#include "plan.h"
#include "pool.h"
#include "util.h"
#include "banned.h"

/* ---- applying ---- */

struct apply_job {
	struct ps_calls run;
	ps_plan *plan;
	bool fail_on_drift;
	/* A local TLS setup error seen by any account: no call can work. */
	atomic_bool local_error;
};

/* Why no new call may start (a stop request, the run's deadline), or
 * NULL. Calls in flight are the API client's to bound. */
static const char *run_stopping(const ps_apply_opts *ro)
{
	if (ro->api.stop && atomic_load(ro->api.stop))
		return "interrupted (SIGINT/SIGTERM); the next run does it";
	if (ro->api.deadline_ms > 0 && ps_api_now_ms() >= ro->api.deadline_ms)
		return "the run's deadline passed (--deadline); the next run "
		       "does it";
	return NULL;
}

static void set_failed(ps_change *c, bool skipped, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_failed(ps_change *c, bool skipped, const char *fmt, ...)
{
	ps_buf b = PS_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	ps_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	free(c->error);
	c->error = ps_buf_detach(&b, NULL);
	c->status = PS_FAILED;
	c->skipped = skipped;
}

/* Names of the fields where the echoed callback differs from what was sent
 * (compared in clear, normalised); "" when they agree. */
static char *echo_difference(const json_t *echo, const json_t *sent)
{
	json_t *a = ps_seal_normalize(echo), *b = ps_seal_normalize(sent);
	static const char *const fields[] = { "url", "method", "headers",
					      "payload", NULL };
	const char *const *f;
	ps_buf out = PS_BUF_INIT;

	for (f = fields; *f; f++) {
		if (!a || !json_equal(json_object_get(a, *f),
				      json_object_get(b, *f))) {
			if (out.len)
				ps_buf_puts(&out, ", ");
			ps_buf_puts(&out, *f);
		}
	}
	json_decref(a);
	json_decref(b);
	return ps_buf_detach(&out, NULL);
}

static int do_change(ps_api *api, ps_change *c, json_t **echo, ps_error *e)
{
	const json_t *spec = c->desired ? c->desired->spec : NULL;
	int rc;

	switch (c->action) {
	case PS_CREATE:
		rc = ps_api_create(echo, api, c->event, spec, e);
		if (rc == PS_EEXISTS)
			rc = ps_api_update(echo, api, c->event, spec, e);
		return rc;
	case PS_UPDATE:
		rc = ps_api_update(echo, api, c->event, spec, e);
		if (rc == PS_ENOTFOUND)
			rc = ps_api_create(echo, api, c->event, spec, e);
		return rc;
	case PS_DELETE:
		rc = ps_api_delete(api, c->event, e);
		return rc == PS_ENOTFOUND ? 0 : rc;
	}
	return PS_ERROR;
}

static void apply_account(void *ctx, size_t i)
{
	struct apply_job *job = ctx;
	ps_account_plan *ap = &job->plan->accounts[i];
	struct ps_account_log al;
	ps_api *api = NULL;
	const char *stop = NULL;
	ps_error e;
	size_t j;

	if (ap->orphaned || ap->error || !ap->nchanges)
		return;
	ps_error_clear(&e);
	if (ps_calls_client(&api, job->run.ro, ap->account, &al, &e) < 0)
		stop = e.message;
	for (j = 0; j < ap->nchanges; j++) {
		ps_change *c = &ap->changes[j];
		const char *halt = run_stopping(job->run.ro);
		json_t *echo = NULL;
		int rc;

		if (!stop && atomic_load(&job->local_error))
			stop = "the TLS setup cannot work (see the first "
			       "error)";
		if (stop) {
			set_failed(c, true, "not tried: %s", stop);
		} else if (halt) {
			set_failed(c, true, "not tried: %s", halt);
		} else if (job->fail_on_drift &&
			   c->origin != PS_ORIGIN_CONFIG) {
			set_failed(c, true,
				   "left alone: the live callback was changed "
				   "outside "
				   "pavesync (--on-drift fail)");
		} else if ((rc = do_change(api, c, &echo, &e)) < 0) {
			set_failed(c, false, "%s", e.message);
			if (rc == PS_EAUTH) {
				free(ap->error);
				ap->error = ps_strdup(e.message);
				stop = "authentication failed for this account";
			} else if (rc == PS_ELOCAL) {
				atomic_store(&job->local_error, true);
				stop = "the TLS setup cannot work (see the "
				       "first error)";
			}
		} else if (c->action == PS_DELETE) {
			c->status = PS_DONE;
		} else {
			/* The maps are brought up to date when the account is
			 * staged (ps_plan_stage_account): a packed account has
			 * none to update here. */
			char *diff =
				echo ? echo_difference(echo, c->desired->spec)
				     : ps_strdup("");
			if (*diff) {
				json_t *sens =
					json_deep_copy(c->desired->sensitive);
				json_decref(c->seen);
				c->seen =
					ps_seal_callback(echo, sens, &ap->key);
				json_decref(sens);
				set_failed(c, false,
					   "the API echoed a callback that "
					   "differs from "
					   "what was sent (%s): it may have "
					   "dropped or "
					   "changed a field",
					   diff);
			} else {
				c->status = PS_DONE;
			}
			free(diff);
		}
		json_decref(echo);
		ps_calls_count(&job->run, NULL, true, c->status == PS_FAILED);
	}
	ps_calls_count(&job->run, api, false, false);
	ps_api_free(api);
	ps_fpkey_idle(&ap->key);
}

int ps_apply_run(ps_plan *plan, ps_apply_opts *ro, bool fail_on_drift,
		 ps_error *err)
{
	struct apply_job job;
	size_t i, j, failed = 0;

	memset(&job, 0, sizeof(job));
	atomic_init(&job.local_error, false);
	job.plan = plan;
	job.fail_on_drift = fail_on_drift;
	job.run.ro = ro;
	job.run.total = ps_plan_changes(plan);
	pthread_mutex_init(&job.run.mu, NULL);
	ps_pool_run(plan->naccounts, ro->concurrency, apply_account, &job);
	pthread_mutex_destroy(&job.run.mu);

	for (i = 0; i < plan->naccounts; i++)
		for (j = 0; j < plan->accounts[i].nchanges; j++)
			if (plan->accounts[i].changes[j].status == PS_FAILED)
				failed++;
	if (failed)
		return ps_error_set(err, PS_ERROR, "%zu of %zu changes failed",
				    failed, ps_plan_changes(plan));
	return 0;
}

int ps_apply_commit(char out_id[41], ps_plan *plan, ps_state *st, ps_error *err)
{
	static const char *const past[] = { "created", "updated", "deleted" };
	ps_buf body = PS_BUF_INIT, subject = PS_BUF_INIT;
	size_t counts[3] = { 0, 0, 0 }, i, j, migrated = 0;
	int rc;

	out_id[0] = '\0';
	for (i = 0; i < plan->naccounts; i++) {
		ps_account_plan *ap = &plan->accounts[i];
		if (ap->orphaned || !ap->account)
			continue;
		for (j = 0; j < ap->nchanges; j++) {
			ps_change *c = &ap->changes[j];
			if (c->status == PS_DONE) {
				counts[c->action]++;
				ps_buf_printf(&body, "%s%s/%s: %s",
					      body.len ? "\n" : "", ap->name,
					      c->event, past[c->action]);
			} else if (c->status == PS_FAILED && !c->skipped) {
				ps_buf_printf(&body, "%s%s/%s: %s failed",
					      body.len ? "\n" : "", ap->name,
					      c->event,
					      ps_action_name(c->action));
			}
		}
		if ((rc = ps_plan_stage_account(st, ap, err)) < 0)
			goto cleanup;
		if (rc && ap->migrate) {
			ps_buf_printf(&body,
				      "%s%s: snapshot migrated to format %d",
				      body.len ? "\n" : "", ap->name,
				      PS_STATE_FORMAT);
			migrated++;
		}
	}
	if (!counts[0] && !counts[1] && !counts[2] && migrated)
		ps_buf_printf(&subject,
			      "pavesync: snapshot migrated to format %d",
			      PS_STATE_FORMAT);
	else
		ps_buf_printf(&subject,
			      "pavesync: %zu created, %zu updated, %zu deleted",
			      counts[0], counts[1], counts[2]);
	rc = ps_state_commit(out_id, st, subject.ptr, body.ptr, err);
cleanup:
	ps_buf_release(&body);
	ps_buf_release(&subject);
	return rc;
}
