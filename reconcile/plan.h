/*
 * Planning: the diff at the heart of the reconciler.
 *
 * A plan compares, per account and event, the desired callback (config)
 * with a base: the snapshot, or the live callbacks when refreshed. Every
 * comparison is made on normalised, *sealed* values (seal.h), so no
 * sensitive value is ever held in a plan, and a plan can be written to a
 * file as it is (plan_file.h). Reading live callbacks and recording drift
 * are live.h's; carrying a plan out and committing it, apply.h's.
 *
 * Lifetimes: a plan borrows from the config it was built from (each
 * ps_account_plan's `account`, each ps_change's `desired`), so the
 * ps_config must outlive the plan: free the plan first. It borrows nothing
 * from the state, the live maps or the options.
 */
#ifndef PS_PLAN_H
#define PS_PLAN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "error.h"
#include "seal.h"
#include "state.h"

typedef enum { PS_CREATE, PS_UPDATE, PS_DELETE } ps_action;

/* "create", "update" or "delete": the action as the plan document, the
 * commit bodies and the command line spell it (static storage). */
const char *ps_action_name(ps_action a);

typedef enum {
	PS_ORIGIN_CONFIG,
	PS_ORIGIN_DASHBOARD,
	PS_ORIGIN_CONFLICT
} ps_origin;
typedef enum { PS_PLANNED, PS_DONE, PS_FAILED } ps_status;

typedef struct ps_change {
	char *event;
	ps_action action;
	ps_origin origin;
	/* [{"path","before"?,"after"?} | {"path","sensitive":true}]. Owned. */
	json_t *fields;
	/* Sealed base callback (NULL for create) and sealed desired callback
	 * (NULL for delete); both NULL in a packed account (see `packed`).
	 * Owned. */
	json_t *before;
	json_t *after;
	const ps_callback *desired; /* clear values to send; NULL for delete */
	ps_status status;
	char *error;  /* why it failed (no sensitive value), or NULL */
	bool skipped; /* left alone (on-drift=fail, auth stop) rather than tried
		       */
	char *refused; /* why apply would refuse it (ps_plan_mark_guards), or
			  NULL */
	/* Failed because the API echoed another callback than the one sent:
	 * that callback, sealed, recorded as live when the account is staged
	 * (ps_plan_stage_account). Owned; NULL otherwise. */
	json_t *seen;
} ps_change;

typedef struct ps_account_plan {
	char *name;
	const ps_account *account; /* NULL when orphaned */
	ps_fpkey key;
	ps_change *changes;
	size_t nchanges;
	size_t unchanged;
	json_t *unmanaged; /* array of events live/snapshot has but config lacks
			    */
	bool orphaned;	   /* in the snapshot, not in the config: left alone */
	bool stale;	   /* snapshot written for other credentials */
	bool refreshed;	   /* compared with live */
	bool prune;
	/* Sealed callbacks {event: cb} the comparison was made against; during
	 * apply it is updated with what succeeded, and becomes the new
	 * snapshot. Owned. NULL when `settled`. */
	json_t *base;
	/* The desired document is byte for byte the committed one: every
	 * callback unchanged, nothing unmanaged, nothing to write; base is
	 * not kept. */
	bool settled;
	/* The refreshed live state differs from the snapshot (something was
	 * changed outside pavesync): recorded in its own commit first. */
	bool drifted;
	json_t *drift_lines; /* ["EVENT: changed outside pavesync", …] */
	char *error;	     /* account-level failure (refresh, auth) */
	/* Sealed callbacks {event: cb} pavesync last applied (the snapshot's
	 * "callbacks"); `base` is what is believed live. Apply updates both
	 * with what succeeded; the document written holds this map and, as
	 * "live", the events where base differs from it. Owned. NULL when
	 * there is nothing to write (settled, orphaned, refresh failed). */
	json_t *applied;
	/* The snapshot was read in an older format (or an unchanged event's
	 * last-applied callback must be brought up to the config): the next
	 * write rewrites this account even when nothing else changed. */
	bool rewrite;
	bool migrate;  /* the snapshot was read in format 1 */
	bool migrated; /* out: a migrated document was staged */
	/* `base` and `applied` (and the changes' `before` and `after`) were
	 * dropped once planned (ps_plan_opts `compact`): they are exactly
	 * what the committed document and the config say, and
	 * ps_plan_stage_account makes them again. A large apply then holds
	 * one account's maps at a time rather than all of them. `nbase`
	 * keeps json_object_size(base). */
	bool packed;
	size_t nbase;
} ps_account_plan;

typedef struct ps_plan {
	ps_account_plan *accounts; /* sorted by name */
	size_t naccounts;
	size_t ncreate, nupdate, ndelete, nunchanged;
	size_t managed;	 /* callbacks in the bases of the planned accounts */
	size_t nrewrite; /* accounts with `rewrite` set */
	bool refreshed;
	char *state_head; /* snapshot commit the plan was made from, or NULL */
	char *state_ref;
	char *api_url;
	unsigned char config_sha256[32];
	/* Why apply would refuse the plan: an array of reasons, filled by
	 * ps_plan_mark_guards (NULL before). Owned. */
	json_t *refused;
} ps_plan;

typedef struct ps_plan_opts {
	const char *const *only; /* --account names (NULL-terminated) or NULL */
	bool prune;		 /* --prune */
	const char *api_url; /* effective API URL (recorded in saved plans) */
	/* A writer holding the run lock: record in the settle memo (memo.h)
	 * the documents this plan computed, so the next run can settle
	 * those accounts without computing them. Readers leave it false:
	 * plan changes nothing anywhere. */
	bool remember;
	/* Drop the maps of every account whose maps are what its committed
	 * document says (not refreshed, not stale, nothing to migrate or
	 * rewrite): see ps_account_plan's `packed`. Their changes' `before`
	 * and `after` go too. For a plan that will be applied and committed
	 * with this state, neither saved nor checked against a saved one
	 * (plan_file.h reads `before` and `after`); what is shown of it
	 * (fields, counts, guards) is kept. */
	bool compact;
} ps_plan_opts;

/*
 * Build a plan for cfg against the snapshot in st. `live` is NULL, or an
 * object {account: [raw callbacks as the API returned them]} for the
 * accounts that were refreshed; `live_errors` (may be NULL) maps accounts
 * whose refresh failed to a message. Fails (PS_ENOTFOUND) when an --account
 * name is not in the config, with a suggestion, and with the state's error
 * when a snapshot document cannot be read. *out owned by the caller.
 */
int ps_plan_build(ps_plan **out, const ps_config *cfg, ps_state *st,
		  const json_t *live, const json_t *live_errors,
		  const ps_plan_opts *opts, ps_error *err);

/* The snapshot document for an account (format PS_STATE_FORMAT): ap->applied
 * as its callbacks, and the events where ap->base differs as "live" (new
 * reference). ap must not be orphaned (it needs ap->account) nor packed
 * (it needs the maps). */
json_t *ps_plan_account_doc(const ps_account_plan *ap);

/* Stage the account's document (ps_plan_account_doc) in st when it differs
 * from the snapshot: 1 when it did (and ap->migrated is set when a
 * migrated document was staged), 0 when there was nothing to stage. The
 * outcome of each change tried (ps_apply_run) is laid over the maps
 * first: a done change's callback becomes live and last applied, a
 * callback the API echoed differently becomes live. Nothing is staged for
 * an orphaned or settled account, one whose refresh failed, or a new
 * account with nothing to record. The committed document is compared by
 * blob id, not read back and parsed: the plan dropped the parsed documents
 * to stay small. A packed account's maps are read again from its
 * committed document (and dropped again): the state's error when it
 * cannot be read. */
int ps_plan_stage_account(ps_state *st, ps_account_plan *ap, ps_error *err);

/*
 * Where a change comes from, judged against the callback pavesync last
 * applied (three-way): `desired` (the config), `applied` (last applied) and
 * `live` (live, or last seen live without a refresh) are sealed callbacks,
 * NULL when absent. config = the config moved away from applied while live
 * did not; dashboard = live moved away from applied while the config did
 * not; conflict = both moved.
 */
ps_origin ps_plan_origin(const json_t *desired, const json_t *applied,
			 const json_t *live);

/* Take what was read live as last applied for every refreshed account
 * (import --seed), so the next write records it as the baseline. */
void ps_plan_adopt_live(ps_plan *plan);

/* Number of changes (create + update + delete). */
size_t ps_plan_changes(const ps_plan *plan);

/* Number of accounts with an account-level error (refresh or auth). */
size_t ps_plan_failed_accounts(const ps_plan *plan);

/*
 * The mass-delete guard and --max-changes (SPEC §4). Returns 0 when the
 * plan may go ahead, or PS_ELIMIT with the reason in err (which says to
 * use --force). max_changes < 0 means no cap.
 */
int ps_plan_check_guards(const ps_plan *plan, long max_changes, ps_error *err);

/*
 * The plan as SPEC §4's JSON document (new reference). `commit` is the
 * snapshot commit an apply wrote, or NULL. "status" (top level and per
 * account) is "ok" when nothing failed, "failed" when something failed (an
 * account's refresh or authentication, a change) and nothing was done,
 * "partial" when some changes were done and others failed; a failed
 * account carries its "error".
 */
json_t *ps_plan_to_json(const ps_plan *plan, const char *commit);

/* Free the plan and everything it owns (not the config it borrows).
 * NULL-safe. */
void ps_plan_free(ps_plan *plan);

/*
 * Mark what the guards above would refuse, so a plan can show it: each
 * reason goes into plan->refused ("needs --force: deletes every callback
 * of account \"west\"", "exceeds --max-changes 10 (the plan has 12
 * changes)") and onto every change it concerns (c->refused: the deletes of
 * a mass delete, every change for --max-changes). Returns the number of
 * reasons (0: apply would go ahead). Marks made before are replaced.
 */
size_t ps_plan_mark_guards(ps_plan *plan, long max_changes);

#endif
