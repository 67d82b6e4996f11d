/*
 * The plan as data: counts, apply's guards, and the JSON document of
 * `plan --format json` and saved plans.
 */
#include "plan.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"
#include "plan_int.h"
#include "util.h"
#include "banned.h"

size_t ps_plan_failed_accounts(const ps_plan *plan)
{
	size_t i, n = 0;

	for (i = 0; i < plan->naccounts; i++)
		if (plan->accounts[i].error)
			n++;
	return n;
}

size_t plan_base_size(const ps_account_plan *ap)
{
	if (ap->settled)
		return ap->unchanged;
	return ap->packed ? ap->nbase : json_object_size(ap->base);
}

size_t ps_plan_changes(const ps_plan *plan)
{
	return plan->ncreate + plan->nupdate + plan->ndelete;
}

int ps_plan_check_guards(const ps_plan *plan, long max_changes, ps_error *err)
{
	size_t i, deletes = 0;

	if (max_changes >= 0 && ps_plan_changes(plan) > (size_t)max_changes)
		return ps_error_set(
			err, PS_ELIMIT,
			"the plan has %zu changes, more than --max-changes "
			"%ld; "
			"review it and use --force to apply it anyway",
			ps_plan_changes(plan), max_changes);
	for (i = 0; i < plan->naccounts; i++) {
		const ps_account_plan *ap = &plan->accounts[i];
		size_t j, del = 0;
		size_t size = plan_base_size(ap);

		for (j = 0; j < ap->nchanges; j++)
			if (ap->changes[j].action == PS_DELETE)
				del++;
		deletes += del;
		if (size > 0 && del == size)
			return ps_error_set(
				err, PS_ELIMIT,
				"the plan deletes every callback of account "
				"\"%s\" "
				"(%zu); if that is really meant, use --force",
				ap->name, del);
	}
	if (plan->managed >= 10 && deletes * 10 > plan->managed * 3)
		return ps_error_set(
			err, PS_ELIMIT,
			"the plan deletes %zu of %zu managed callbacks "
			"(more than 30%%); if that is really meant, use "
			"--force",
			deletes, plan->managed);
	return 0;
}

/* Put `reason` on every change of `ap` (NULL: every account) that is a
 * delete, or any change when !deletes_only; keep a mark already there. */
static void mark_changes(ps_plan *plan, ps_account_plan *only,
			 bool deletes_only, const char *reason)
{
	size_t i, j;

	for (i = 0; i < plan->naccounts; i++) {
		ps_account_plan *ap = &plan->accounts[i];
		if (only && ap != only)
			continue;
		for (j = 0; j < ap->nchanges; j++) {
			ps_change *c = &ap->changes[j];
			if (c->refused ||
			    (deletes_only && c->action != PS_DELETE))
				continue;
			c->refused = ps_strdup(reason);
		}
	}
}

size_t ps_plan_mark_guards(ps_plan *plan, long max_changes)
{
	size_t i, j, deletes = 0;
	ps_buf r = PS_BUF_INIT;

	json_decref(plan->refused);
	plan->refused = json_array();
	for (i = 0; i < plan->naccounts; i++)
		for (j = 0; j < plan->accounts[i].nchanges; j++) {
			free(plan->accounts[i].changes[j].refused);
			plan->accounts[i].changes[j].refused = NULL;
		}
	/* The same rules, in the same order, as ps_plan_check_guards. */
	if (max_changes >= 0 && ps_plan_changes(plan) > (size_t)max_changes) {
		ps_buf_printf(
			&r,
			"exceeds --max-changes %ld (the plan has %zu changes)",
			max_changes, ps_plan_changes(plan));
		json_array_append_new(plan->refused, json_string(r.ptr));
		mark_changes(plan, NULL, false, r.ptr);
	}
	for (i = 0; i < plan->naccounts; i++) {
		ps_account_plan *ap = &plan->accounts[i];
		size_t del = 0;
		size_t size = plan_base_size(ap);

		for (j = 0; j < ap->nchanges; j++)
			if (ap->changes[j].action == PS_DELETE)
				del++;
		deletes += del;
		if (size > 0 && del == size) {
			ps_buf_reset(&r);
			ps_buf_printf(
				&r,
				"needs --force: deletes every callback of "
				"account \"%s\"",
				ap->name);
			json_array_append_new(plan->refused,
					      json_string(r.ptr));
			mark_changes(plan, ap, true, r.ptr);
		}
	}
	if (plan->managed >= 10 && deletes * 10 > plan->managed * 3) {
		ps_buf_reset(&r);
		ps_buf_printf(
			&r,
			"needs --force: deletes %zu of %zu managed callbacks "
			"(more than 30%%)",
			deletes, plan->managed);
		json_array_append_new(plan->refused, json_string(r.ptr));
		mark_changes(plan, NULL, true, r.ptr);
	}
	ps_buf_release(&r);
	return json_array_size(plan->refused);
}

/* ---- JSON ---- */

const char *ps_action_name(ps_action a)
{
	return a == PS_CREATE ? "create" : a == PS_UPDATE ? "update" : "delete";
}

static const char *origin_name(ps_origin o)
{
	return o == PS_ORIGIN_CONFIG	  ? "config"
	       : o == PS_ORIGIN_DASHBOARD ? "dashboard"
					  : "conflict";
}

static const char *status_name(ps_status s)
{
	return s == PS_PLANNED ? "planned" : s == PS_DONE ? "ok" : "failed";
}

/* ok: nothing failed; failed: something failed and nothing was done;
 * partial: both. */
static const char *outcome(size_t failed, size_t done)
{
	return !failed ? "ok" : done ? "partial" : "failed";
}

json_t *ps_plan_to_json(const ps_plan *plan, const char *commit)
{
	json_t *accounts = json_array(), *doc;
	size_t i, j, failed = 0, done = 0;

	for (i = 0; i < plan->naccounts; i++) {
		const ps_account_plan *ap = &plan->accounts[i];
		json_t *changes = json_array(), *a;
		size_t afailed = ap->error ? 1 : 0, adone = 0;

		for (j = 0; j < ap->nchanges; j++) {
			const ps_change *c = &ap->changes[j];
			if (c->status == PS_FAILED)
				afailed++;
			else if (c->status == PS_DONE)
				adone++;
			json_array_append_new(
				changes,
				json_pack(
					"{s:s, s:s, s:s, s:O, s:s, s:s?, s:s?}",
					"event", c->event, "action",
					ps_action_name(c->action), "origin",
					origin_name(c->origin), "fields",
					c->fields, "status",
					status_name(c->status), "error",
					c->error, "refused", c->refused));
		}
		a = json_pack("{s:s, s:o, s:i, s:O, s:b, s:b, s:b, s:s?, s:s}",
			      "name", ap->name, "changes", changes, "unchanged",
			      (json_int_t)ap->unchanged, "unmanaged",
			      ap->unmanaged, "orphaned", ap->orphaned, "stale",
			      ap->stale, "refreshed", ap->refreshed, "error",
			      ap->error, "status", outcome(afailed, adone));
		json_array_append_new(accounts, a);
		failed += afailed;
		done += adone;
	}
	doc = json_pack("{s:i, s:{s:i, s:i, s:i, s:i}, s:o}", "format", 1,
			"summary", "create", (json_int_t)plan->ncreate,
			"update", (json_int_t)plan->nupdate, "delete",
			(json_int_t)plan->ndelete, "unchanged",
			(json_int_t)plan->nunchanged, "accounts", accounts);
	json_object_set_new(doc, "commit",
			    commit && *commit ? json_string(commit)
					      : json_null());
	json_object_set_new(doc, "status", json_string(outcome(failed, done)));
	json_object_set_new(doc, "refused",
			    plan->refused ? json_copy(plan->refused)
					  : json_array());
	return doc;
}
