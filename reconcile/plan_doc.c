/*
 * Planning: an account's snapshot document, made from its plan, and its
 * staging once apply has run (plan.h: ps_plan_account_doc,
 * ps_plan_stage_account).
 */
#include "plan.h"

#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "plan_int.h"
#include "banned.h"

/* ---- account documents ---- */

static void api_key_fingerprint(char *out, size_t n, const ps_fpkey *k,
				const char *api_key)
{
	ps_seal_fingerprint(out, n, k, api_key, strlen(api_key));
}

/* A snapshot document is stale when it was written with another API key or
 * another fingerprint key: its fingerprints cannot be compared. */
bool plan_doc_is_stale(const json_t *doc, const ps_account *acct,
		       const ps_fpkey *k)
{
	char fp[80];
	const char *id =
		json_string_value(json_object_get(doc, "fingerprint_key"));
	const char *key = json_string_value(json_object_get(doc, "api_key"));

	if (!id || strcmp(id, k->id))
		return true;
	api_key_fingerprint(fp, sizeof(fp), k, acct->api_key);
	return !key || strcmp(key, fp);
}

bool plan_same_cb(const json_t *a, const json_t *b)
{
	return a == b || (a && b && json_equal(a, b));
}

/*
 * `applied` (stolen) becomes "callbacks"; the events where `live` (borrowed,
 * may be NULL: the same as applied) differs from it become "live", which is
 * left out when empty: a converged account's document is the same whatever
 * was seen live, so the no-drift fast path compares one blob.
 */
json_t *plan_make_doc(const ps_account_plan *ap, json_t *applied,
		      const json_t *live)
{
	char fp[80];
	json_t *doc, *diff, *v;
	const char *ev;

	api_key_fingerprint(fp, sizeof(fp), &ap->key, ap->account->api_key);
	doc = json_pack("{s:i, s:s, s:s, s:s, s:o}", "format", PS_STATE_FORMAT,
			"account", ap->name, "api_key", fp, "fingerprint_key",
			ap->key.id, "callbacks", applied);
	if (!live)
		return doc;
	diff = json_object();
	json_object_foreach(
		(json_t *)live, ev,
		v) if (!plan_same_cb(v, json_object_get(applied, ev)))
		json_object_set(diff, ev, v);
	json_object_foreach(applied, ev, v) if (!json_object_get(live, ev))
		json_object_set_new(diff, ev, json_null());
	if (json_object_size(diff))
		json_object_set_new(doc, "live", diff);
	else
		json_decref(diff);
	return doc;
}

json_t *ps_plan_account_doc(const ps_account_plan *ap)
{
	/* A copy of the event map: apply keeps replacing entries of
	 * ap->applied, the staged document must not change with it. The
	 * callbacks inside are never modified in place, so they can be
	 * shared. */
	return plan_make_doc(
		ap, json_copy(ap->applied ? ap->applied : ap->base), ap->base);
}

/* The events last seen live: the applied callbacks with the snapshot's
 * "live" entries laid over them (null: absent live). New reference. */
json_t *plan_known_live(const json_t *applied, const json_t *live)
{
	json_t *known = json_copy((json_t *)applied), *v;
	const char *ev;

	json_object_foreach((json_t *)live, ev, v)
	{
		if (json_is_null(v))
			json_object_del(known, ev);
		else
			json_object_set(known, ev, v);
	}
	return known;
}

/* A packed account's maps, read again from its committed document: what
 * plan_account made of that document (not stale, not migrated, not
 * refreshed, nothing rewritten). */
static int unpack_maps(ps_state *st, ps_account_plan *ap, ps_error *err)
{
	const json_t *doc = NULL, *snap;
	int rc;

	if ((rc = ps_state_load(&doc, st, ap->name, err)) < 0)
		return rc;
	if (!doc)
		return ps_error_set(err, PS_ERROR,
				    "internal error: the snapshot of account "
				    "\"%s\" went away while it was applied",
				    ap->name);
	snap = json_object_get(doc, "callbacks");
	ap->applied = snap ? json_copy((json_t *)snap) : json_object();
	ap->base = plan_known_live(ap->applied, json_object_get(doc, "live"));
	/* The maps share the callbacks; the document itself is not kept. */
	ps_state_unload(st, ap->name);
	return 0;
}

/* Lay what ps_apply_run did over the maps (doing it again changes
 * nothing). */
static void fold_outcomes(ps_account_plan *ap)
{
	size_t j;

	for (j = 0; j < ap->nchanges; j++) {
		const ps_change *c = &ap->changes[j];
		if (c->status == PS_DONE && c->action == PS_DELETE) {
			json_object_del(ap->base, c->event);
			json_object_del(ap->applied, c->event);
		} else if (c->status == PS_DONE) {
			/* A packed account's change keeps no sealed callback:
			 * sealed again, the same as when it was planned. */
			json_t *after = c->after
						? json_incref(c->after)
						: ps_seal_callback(
							  c->desired->spec,
							  c->desired->sensitive,
							  &ap->key);
			json_object_set(ap->base, c->event, after);
			json_object_set_new(ap->applied, c->event, after);
		} else if (c->seen) {
			/* Live is what the server says it holds, so the next
			 * run sees the drift again instead of trusting us;
			 * last applied stays what it was. */
			json_object_set(ap->base, c->event, c->seen);
		}
	}
}

/* Stage the account's document when it differs from the snapshot. The
 * committed document is compared by blob id, not read back and parsed:
 * the plan dropped the parsed documents to stay small. */
int ps_plan_stage_account(ps_state *st, ps_account_plan *ap, ps_error *err)
{
	json_t *doc;
	char *text;
	int rc = 0;

	if (ap->orphaned || !ap->account || ap->settled)
		return 0;
	if (ap->packed && (rc = unpack_maps(st, ap, err)) < 0)
		return rc;
	/* No applied map: its refresh failed (then base is empty for want
	 * of knowing, not because live is). */
	if (!ap->applied)
		return 0;
	fold_outcomes(ap);
	if (!ps_state_has(st, ap->name) && json_object_size(ap->base) == 0 &&
	    json_object_size(ap->applied) == 0)
		goto cleanup;
	doc = ps_plan_account_doc(ap);
	text = ps_json_canonical(doc);
	if (!text) {
		/* Past the encoder's limit: the commit refuses it. */
		ps_state_put(st, ap->name, doc);
	} else if (ps_state_same_blob(st, ap->name, text, strlen(text))) {
		free(text);
		json_decref(doc);
		goto cleanup;
	} else {
		/* Staged as its bytes, not as JSON: a change in every
		 * account of a large group then holds no document. */
		json_decref(doc);
		rc = ps_state_put_text(st, ap->name, text, strlen(text), err);
		if (rc < 0)
			goto cleanup;
	}
	if (ap->migrate)
		ap->migrated = true;
	rc = 1;
cleanup:
	if (ap->packed) {
		json_decref(ap->base);
		json_decref(ap->applied);
		ap->base = ap->applied = NULL;
	}
	ps_fpkey_idle(&ap->key);
	return rc;
}
