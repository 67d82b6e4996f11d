#include "plan_file.h"

#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "json.h"
#include "util.h"
#include "banned.h"

#define PLAN_FILE_KIND "pavesync-plan"

/* ---- saved plans ---- */

static json_t *plan_identity(const ps_plan *plan)
{
	json_t *accts = json_array();
	char sha[65];
	size_t i, j;

	for (i = 0; i < plan->naccounts; i++) {
		const ps_account_plan *ap = &plan->accounts[i];
		json_t *ch = json_array();
		for (j = 0; j < ap->nchanges; j++) {
			const ps_change *c = &ap->changes[j];
			json_array_append_new(
				ch,
				json_pack("{s:s, s:s, s:o, s:o}", "event",
					  c->event, "action",
					  ps_action_name(c->action), "before",
					  c->before ? json_deep_copy(c->before)
						    : json_null(),
					  "after",
					  c->after ? json_deep_copy(c->after)
						   : json_null()));
		}
		json_array_append_new(accts,
				      json_pack("{s:s, s:o}", "name", ap->name,
						"changes", ch));
	}
	ps_hex(sha, plan->config_sha256, 32);
	return json_pack("{s:s, s:s?, s:s, s:s, s:b, s:o}", "config_sha256",
			 sha, "state_head", plan->state_head, "state_ref",
			 plan->state_ref, "api_url", plan->api_url, "refreshed",
			 plan->refreshed, "accounts", accts);
}

int ps_plan_save(const ps_plan *plan, const char *path, ps_error *err)
{
	json_t *doc = json_pack("{s:s, s:i, s:o, s:o}", "kind", PLAN_FILE_KIND,
				"format", 1, "plan", plan_identity(plan),
				"output", ps_plan_to_json(plan, NULL));
	char *text = ps_json_canonical(doc);
	int rc;

	json_decref(doc);
	if (!text)
		return ps_error_at(err, PS_ELIMIT, path, 0, 0,
				   "cannot write the "
				   "plan file: larger than %zu bytes (limit)",
				   PS_JSON_MAX);
	/* Private (0600 whatever the umask), atomic, durable; a planted
	 * file or symlink beside it is never followed (see fileio.h). */
	rc = ps_file_write_atomic(path, text, strlen(text), 0600, err);
	if (rc < 0)
		ps_error_prefix(err, "cannot write the plan file");
	free(text);
	return rc;
}

static int load_saved(json_t **out, const char *path, ps_error *err)
{
	json_error_t je;
	json_t *doc;
	char *text;
	size_t len;
	int rc;

	/* Never blocks (a FIFO), never more than a plan can be. */
	rc = ps_file_read(&text, &len, path, PS_JSON_MAX, "the plan file",
			  false, err);
	if (rc < 0)
		return rc;
	doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	free(text);
	if (!doc)
		return ps_error_at(err, PS_EINVALID, path, je.line, je.column,
				   "cannot read plan file: %s", je.text);
	if (!json_is_object(doc) ||
	    !json_is_object(json_object_get(doc, "plan")) ||
	    strcmp(json_string_value(json_object_get(doc, "kind"))
			   ? json_string_value(json_object_get(doc, "kind"))
			   : "",
		   PLAN_FILE_KIND)) {
		json_decref(doc);
		return ps_error_at(err, PS_EINVALID, path, 0, 0,
				   "not a pavesync plan file");
	}
	*out = doc;
	return 0;
}

int ps_plan_saved_refreshed(bool *out, const char *path, ps_error *err)
{
	json_t *doc;
	int rc = load_saved(&doc, path, err);

	if (rc < 0)
		return rc;
	*out = json_is_true(
		json_object_get(json_object_get(doc, "plan"), "refreshed"));
	json_decref(doc);
	return 0;
}

int ps_plan_check_saved(const ps_plan *fresh, const char *path, ps_error *err)
{
	json_t *doc, *saved, *now;
	int rc = load_saved(&doc, path, err);
	static const struct {
		const char *field;
		const char *what;
	} checks[] = {
		{ "config_sha256", "the config file changed" },
		{ "state_ref",
		  "the state ref is not the one the plan was made for" },
		{ "state_head", "the snapshot changed (another apply ran?)" },
		{ "api_url", "the API URL changed" },
	};
	size_t i;

	if (rc < 0)
		return rc;
	saved = json_object_get(doc, "plan");
	now = plan_identity(fresh);
	for (i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
		json_t *a = json_object_get(saved, checks[i].field);
		json_t *b = json_object_get(now, checks[i].field);
		if (!(a == b || (a && b && json_equal(a, b)))) {
			rc = ps_error_set(
				err, PS_ESTALE,
				"refusing the saved plan %s: %s since it was "
				"written; make a new plan",
				path, checks[i].what);
			goto cleanup;
		}
	}
	if (!json_equal(json_object_get(saved, "accounts"),
			json_object_get(now, "accounts")))
		rc = ps_error_set(
			err, PS_ESTALE,
			"refusing the saved plan %s: the changes it would "
			"make today differ from the saved ones (an "
			"environment variable or the live callbacks changed); "
			"make a new plan",
			path);
cleanup:
	json_decref(now);
	json_decref(doc);
	return rc;
}
