/*
 * Applying a plan through the API, and committing what it did to the
 * snapshot. The plan (plan.h) is updated in place: each change's status,
 * and the account maps that become the new snapshot documents.
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

/* Called after each change is tried: `done` of `total` changes tried so
 * far, `failed` of them failed. */
typedef void (*ps_apply_progress_fn)(void *ctx, size_t done, size_t total,
				     size_t failed);

/*
 * How the engine talks to the API: for ps_apply_run and for reading live
 * callbacks (ps_live_read, live.h). Zero it and set `api` with
 * ps_api_opts_init. What `api` points to (log, stop flag) is borrowed and
 * must outlive the calls that use these options.
 */
typedef struct ps_apply_opts {
	ps_api_opts api;
	int concurrency; /* accounts in flight at once (below 1: one); the
			    command line's default is 8 */
	/* May be NULL; called under a lock, from the worker threads. */
	ps_apply_progress_fn progress;
	void *progress_ctx;
	long requests;	  /* out: requests sent, added to */
	long connections; /* out: TCP connections opened, added to */
} ps_apply_opts;

/*
 * Carry out the plan: create → POST (falling back to PUT), update → PUT
 * (falling back to POST), delete → DELETE (404 is done). Accounts run
 * concurrently (ro->concurrency), the calls of one account in order over
 * one connection. Changes whose origin is dashboard/conflict are skipped
 * when `fail_on_drift`. Sets each change's status (and error); what
 * succeeded goes into the account's snapshot document when it is staged
 * (ps_apply_commit). A create or update whose echoed callback differs from
 * what was sent fails, and the echo (the change's `seen`) is recorded as
 * live. A 401/403 stops
 * that account (its `error` set, the rest of its changes skipped); a
 * local TLS setup error stops every account; a stop request or the
 * deadline (ro->api) skips the changes not yet tried. Returns 0 when all
 * changes were done, PS_ERROR ("N of M changes failed") when some failed:
 * each failed change carries its own error.
 */
int ps_apply_run(ps_plan *plan, ps_apply_opts *ro, bool fail_on_drift,
		 ps_error *err);

/*
 * Commit what the apply did: every account whose base changed gets its new
 * document, in one commit whose subject counts the actions that succeeded
 * and whose body lists account/event/action. Accounts with `rewrite` are
 * written too (a format migration alone is committed as "pavesync:
 * snapshot migrated to format 2"). out_id "" when nothing changed. Fails
 * with the state's error (ps_state_commit).
 */
int ps_apply_commit(char out_id[41], ps_plan *plan, ps_state *st,
		    ps_error *err);

#endif
