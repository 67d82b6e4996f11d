#include <stdlib.h>

#include "buf.h"
#include "cmd.h"
#include "session.h"
#include "banned.h"

const char apply_usage[] =
	"usage: pavesync apply [--refresh] [--prune] [--plan PLANFILE] "
	"[--dry-run]\n"
	"                      [--max-changes N] [--force] [--on-drift "
	"revert|fail]\n"
	"                      [--concurrency N] [--timeout SECONDS] "
	"[--retries N]\n"
	"                      [--lock-timeout SECONDS] [--fetch] [--push]\n"
	"                      [--remote NAME] [--adopt-state-ref]\n"
	"\n"
	"Call the PAVE API for exactly the events that drifted, then commit "
	"the new\n"
	"snapshot (one commit; none when nothing changed). A run where "
	"nothing\n"
	"drifted makes no API call. With a terminal on stdin and stdout it "
	"shows\n"
	"the plan and asks \"Apply these changes? [y/N]\" first; without one "
	"it\n"
	"never asks.\n"
	"\n"
	"  --refresh            read live callbacks first; record changes "
	"made\n"
	"                       outside pavesync in their own commit\n"
	"  --on-drift revert    overwrite dashboard edits and conflicts "
	"(default)\n"
	"  --on-drift fail      leave them alone, report them, exit non-zero\n"
	"  --prune              delete live callbacks of events not in the "
	"config\n"
	"  --plan PLANFILE      apply exactly a saved plan; refused if the "
	"config,\n"
	"                       the snapshot or the API URL changed since\n"
	"  --dry-run            the same as plan\n"
	"  --max-changes N      refuse more than N changes unless --force\n"
	"  --force              allow a mass delete or more than "
	"--max-changes\n"
	"  --concurrency N      accounts in flight at once (default 8)\n"
	"  --timeout SECONDS    per request (default 30)\n"
	"  --retries N          retries for 429/5xx/transport errors (default "
	"4)\n"
	"  --deadline SECONDS   bound the whole run; no API call starts or "
	"runs\n"
	"                       past it, what succeeded is committed (default "
	"240,\n"
	"                       0 none)\n"
	"  --lock-timeout SECONDS  wait this long for another run (default 0)\n"
	"  --fetch              fetch the remote state ref and fast-forward to "
	"it first\n"
	"  --push               --fetch, and push the state ref after "
	"committing\n"
	"                       (git fetch/push: your ssh keys, known_hosts "
	"and\n"
	"                       credential helpers; never a prompt)\n"
	"  --remote NAME        the remote for --fetch/--push (default "
	"origin)\n"
	"  --cacert FILE        trust this CA in addition to the system's\n"
	"  -y, --yes            do not ask for confirmation on a terminal\n"
	"  --metrics-file PATH  write Prometheus metrics of this run to PATH\n"
	"  --detailed-exitcode  accepted for symmetry with plan\n"
	"  --adopt-state-ref    accept a state ref that something other than\n"
	"                       pavesync moved off its history (refused "
	"otherwise)\n"
	"\n"
	"exit status: 0 done (or nothing to do), 1 error and nothing applied,\n"
	"3 some changes applied and others failed (the applied ones "
	"committed),\n"
	"4 changes applied but their snapshot could not be committed (or "
	"pushed),\n"
	"75 another run holds the lock, 130/143 stopped by SIGINT/SIGTERM: no "
	"new\n"
	"call started, what succeeded committed (a second signal ends it at "
	"once)\n";

static size_t count_status(const ps_plan *plan, ps_status status)
{
	size_t i, j, n = 0;

	for (i = 0; i < plan->naccounts; i++)
		for (j = 0; j < plan->accounts[i].nchanges; j++)
			if (plan->accounts[i].changes[j].status == status)
				n++;
	return n;
}

/* Said once: the migrated documents are in the new format from now on. */
static void report_migrated(const ps_plan *plan)
{
	ps_buf names = PS_BUF_INIT;
	size_t i, n = 0;

	for (i = 0; i < plan->naccounts; i++) {
		if (!plan->accounts[i].migrated)
			continue;
		ps_buf_printf(&names, "%s%s", n ? ", " : "",
			      plan->accounts[i].name);
		n++;
	}
	if (n)
		out_info("note: migrated the snapshot of %zu account%s (%s) to "
			 "format %d, "
			 "which keeps the last applied callbacks apart from "
			 "those last "
			 "seen live",
			 n, n == 1 ? "" : "s", names.ptr, PS_STATE_FORMAT);
	ps_buf_release(&names);
}

static void render(const struct opts *o, const ps_run *run, bool applied,
		   const char *commit)
{
	if (o->format == FORMAT_JSON)
		out_plan_json(run->plan, commit);
	else
		out_plan_text(run->plan, applied, commit, run->refresh_commit);
}

int cmd_apply(struct opts *o)
{
	ps_run *run = NULL;
	bool refresh = o->refresh;
	size_t failed, done;
	ps_error e;
	int rc;

	if (o->dry_run)
		return cmd_plan(o);
	metrics_start();
	ps_error_clear(&e);
	rc = session_open(&run, o, true);
	if (rc)
		goto cleanup;
	if (o->plan_file &&
	    ps_plan_saved_refreshed(&refresh, o->plan_file, &e) < 0) {
		out_ps_error(&e);
		rc = EXIT_ERROR;
		goto cleanup;
	}
	rc = session_plan(run, refresh	       ? PS_RUN_REFRESH
			       : !o->plan_file ? PS_RUN_REFRESH_STALE
					       : 0);
	if (rc)
		goto cleanup;
	if (o->plan_file &&
	    ps_plan_check_saved(run->plan, o->plan_file, &e) < 0) {
		out_ps_error(&e);
		rc = EXIT_ERROR;
		goto cleanup;
	}
	if (!o->force &&
	    ps_plan_check_guards(run->plan, o->max_changes, &e) < 0) {
		ps_plan_mark_guards(run->plan, o->max_changes);
		render(o, run, false, NULL);
		out_error("%s", e.message);
		rc = EXIT_ERROR;
		goto cleanup;
	}
	/* On a terminal, ask first (a saved plan was reviewed when written). */
	if (!o->plan_file && ps_plan_changes(run->plan) && confirm_needed(o) &&
	    !confirm_apply(o, run->plan)) {
		out_error("apply cancelled; nothing changed");
		rc = EXIT_ERROR;
		goto cleanup;
	}
	/* What changed behind our back goes into its own commit first. */
	if (ps_run_record_drift(run, NULL, &e) < 0) {
		out_ps_error(&e);
		rc = EXIT_ERROR;
		goto cleanup;
	}

	rc = ps_run_apply(run, &e);
	out_progress_end();
	if (run->deadline_reached)
		out_error("the run reached its deadline (--deadline %ld): what "
			  "succeeded is committed, the rest is left for the "
			  "next run",
			  o->deadline);
	if (rc < 0) {
		if (run->called)
			render(o, run, true, NULL);
		out_ps_error(&e);
		if (run->called && count_status(run->plan, PS_DONE)) {
			out_error("the API calls above were made but their "
				  "snapshot could not be committed; the next "
				  "run repeats them (they set the same "
				  "values) and converges");
			rc = EXIT_UNRECORDED;
		} else {
			rc = EXIT_ERROR;
		}
		goto cleanup;
	}
	report_migrated(run->plan);
	if (ps_run_push(run, &e) < 0) {
		out_ps_error(&e);
		/* Exit 1 promises nothing was applied: not so when calls
		 * succeeded and only the push of their commit failed. */
		if (count_status(run->plan, PS_DONE)) {
			out_error("the API calls above were made and committed "
				  "locally, but the state ref was not pushed; "
				  "the next run with --push pushes it");
			rc = EXIT_UNRECORDED;
		} else {
			rc = EXIT_ERROR;
		}
		render(o, run, true, run->commit);
		goto cleanup;
	}
	render(o, run, true, run->commit);

	failed = count_status(run->plan, PS_FAILED);
	done = count_status(run->plan, PS_DONE);
	if (run->live_errors && json_object_size(run->live_errors))
		failed++;
	if (failed)
		rc = done ? EXIT_PARTIAL : EXIT_ERROR;
	else
		rc = EXIT_OK;
cleanup:
	metrics_write(o, run ? run->plan : NULL, true, rc);
	ps_run_close_for_exit(run); /* the process ends next */
	return rc;
}
