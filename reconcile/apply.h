/*
 * Applying a plan through the API, and committing what it did.
 */
#ifndef PS_APPLY_H
#define PS_APPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "api.h"
#include "error.h"
#include "plan.h"
#include "state.h"

/* ---- talking to the API ---- */

typedef void (*ps_apply_progress_fn)(void *ctx, size_t done, size_t total,
				     size_t failed);

typedef struct ps_apply_opts {
	ps_api_opts api;
	int concurrency; /* accounts in flight at once; default 8 */
	ps_apply_progress_fn progress; /* may be NULL; called under a lock */
	void *progress_ctx;
	long requests;	  /* out: requests sent */
	long connections; /* out: TCP connections opened */
} ps_apply_opts;

/*
 * Carry out the plan: create → POST (falling back to PUT), update → PUT
 * (falling back to POST), delete → DELETE (404 is done). Accounts run
 * concurrently (opts->concurrency), the calls of one account in order over
 * one connection. Changes whose origin is dashboard/conflict are skipped
 * when `fail_on_drift`. Sets each change's status; a 401/403 stops that
 * account. Returns 0 when all changes were done, PS_ERROR when some
 * failed.
 */
int ps_apply_run(ps_plan *plan, ps_apply_opts *ro, bool fail_on_drift,
		 ps_error *err);

/*
 * Commit what the apply did: every account whose base changed gets its new
 * document, in one commit whose subject counts the actions that succeeded
 * and whose body lists account/event/action. Accounts with `rewrite` are
 * written too (a format migration alone is committed as "pavesync:
 * snapshot migrated to format 2"). out_id "" when nothing changed.
 */
int ps_apply_commit(char out_id[41], ps_plan *plan, ps_state *st,
		    ps_error *err);

#endif
