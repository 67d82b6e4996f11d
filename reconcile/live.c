#include "live.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "calls.h"
#include "pool.h"
#include "util.h"
#include "banned.h"

/* ---- reading live callbacks ---- */

struct live_job {
	struct ps_calls run;
	const ps_account **accounts;
	json_t **results;
	char **errors;
};

static void live_one(void *ctx, size_t i)
{
	struct live_job *job = ctx;
	struct ps_account_log al;
	ps_api *api = NULL;
	ps_error e;
	json_t *list = NULL;

	ps_error_clear(&e);
	if (ps_calls_client(&api, job->run.ro, job->accounts[i], &al, &e) < 0 ||
	    ps_api_list(&list, api, &e) < 0)
		job->errors[i] = ps_strdup(e.message);
	else
		job->results[i] = list;
	ps_calls_count(&job->run, api, false, false);
	ps_api_free(api);
}

int ps_live_read(json_t **live, json_t **errors, const ps_config *cfg,
		 const char *const *names, ps_apply_opts *ro, ps_error *err)
{
	struct live_job job;
	size_t i, n = 0;
	int rc = 0;

	memset(&job, 0, sizeof(job));
	job.accounts = ps_calloc(cfg->naccounts + 1, sizeof(*job.accounts));
	for (i = 0; i < cfg->naccounts; i++) {
		const char *const *p;
		bool want = !names;
		for (p = names; p && *p && !want; p++)
			want = !strcmp(*p, cfg->accounts[i].name);
		if (want)
			job.accounts[n++] = &cfg->accounts[i];
	}
	job.results = ps_calloc(n + 1, sizeof(*job.results));
	job.errors = ps_calloc(n + 1, sizeof(*job.errors));
	job.run.ro = ro;
	pthread_mutex_init(&job.run.mu, NULL);
	ps_pool_run(n, ro->concurrency, live_one, &job);
	pthread_mutex_destroy(&job.run.mu);

	*live = json_object();
	*errors = json_object();
	for (i = 0; i < n; i++) {
		const char *name = job.accounts[i]->name;

		/* An account in neither map would be planned as if it had
		 * not been asked for: that is this function's failure. */
		if (job.results[i] &&
		    json_object_set_new(*live, name, job.results[i]) < 0 &&
		    rc == 0)
			rc = ps_error_set(err, PS_ERROR,
					  "cannot record the live callbacks "
					  "of account \"%s\"",
					  name);
		if (job.errors[i]) {
			if (json_object_set_new(
				    *errors, name,
				    json_sprintf("cannot read live callbacks: "
						 "%s",
						 job.errors[i])) < 0 &&
			    rc == 0)
				rc = ps_error_set(
					err, PS_ERROR,
					"cannot record why the live callbacks "
					"of account \"%s\" could not be read",
					name);
			free(job.errors[i]);
		}
	}
	free(job.results);
	free(job.errors);
	free(job.accounts);
	if (rc < 0) {
		json_decref(*live);
		json_decref(*errors);
		*live = *errors = NULL;
	}
	return rc;
}

/* ---- recording drift ---- */

int ps_live_record_drift(char out_id[41], ps_plan *plan, ps_state *st,
			 const char *subj, ps_error *err)
{
	ps_buf body = PS_BUF_INIT, subject = PS_BUF_INIT;
	size_t i, j, lines = 0;
	json_t *line;
	int rc;

	out_id[0] = '\0';
	for (i = 0; i < plan->naccounts; i++) {
		ps_account_plan *ap = &plan->accounts[i];
		if (!ap->drifted || ap->error)
			continue;
		if ((rc = ps_plan_stage_account(st, ap, err)) < 0)
			goto cleanup;
		if (!rc)
			continue;
		json_array_foreach(ap->drift_lines, j, line)
		{
			ps_buf_printf(&body, "%s%s", body.len ? "\n" : "",
				      json_string_value(line));
			lines++;
		}
	}
	if (subj)
		ps_buf_puts(&subject, subj);
	else
		ps_buf_printf(&subject,
			      "pavesync: refresh: %zu change%s found outside "
			      "pavesync",
			      lines, lines == 1 ? "" : "s");
	rc = ps_state_commit(out_id, st, subject.ptr, body.ptr, err);
cleanup:
	ps_buf_release(&body);
	ps_buf_release(&subject);
	return rc;
}
