#include <stdlib.h>

#include "cmd.h"
#include "session.h"
#include "banned.h"

const char plan_usage[] =
	"usage: pavesync plan [--refresh] [--prune] [--detailed-exitcode] [-o "
	"PLANFILE]\n"
	"                     [--max-changes N] [--force] [--fetch [--remote "
	"NAME]]\n"
	"                     [-a NAME]... [--format text|json]\n"
	"\n"
	"Show what apply would do. A true dry-run: without --refresh it opens "
	"no\n"
	"network connection; it never creates a repository, takes no lock and\n"
	"commits nothing. Sensitive values are shown as (sensitive).\n"
	"\n"
	"  --refresh            compare with the live callbacks (one GET per "
	"account)\n"
	"                       and label each change config, dashboard or "
	"conflict\n"
	"  --prune              plan deleting live callbacks of unlisted "
	"events\n"
	"  --detailed-exitcode  exit 2 when there are changes, 0 when none\n"
	"  -o, --out PLANFILE   save the plan for 'apply --plan PLANFILE'\n"
	"  --fetch              fetch the remote's state ref first (git fetch; "
	"writes\n"
	"                       only its objects and refs/remotes/REMOTE/...)\n"
	"  --remote NAME        the remote for --fetch (default origin)\n"
	"  --max-changes N      mark the plan as one apply would refuse when "
	"it has\n"
	"                       more than N changes (as apply --max-changes "
	"N)\n"
	"  --force              do not mark what apply --force would allow (a "
	"mass\n"
	"                       delete, more than --max-changes)\n"
	"  --deadline SECONDS   bound the whole run (default 240, 0 none)\n"
	"  --on-drift revert|fail  accepted for symmetry with apply\n"
	"  --metrics-file PATH  write Prometheus metrics of this run to PATH\n"
	"with --refresh:\n"
	"  --concurrency N      accounts in flight at once (default 8)\n"
	"  --timeout SECONDS    per request (default 30)\n"
	"  --retries N          retries for 429/5xx/transport errors (default "
	"4)\n"
	"  --cacert FILE        trust this CA in addition to the system's\n"
	"\n"
	"Without a local state ref, the remote's copy left by git clone\n"
	"(refs/remotes/origin/pavesync-state) is read; with no snapshot at all "
	"in a\n"
	"repository that has a remote, plan says so and suggests --fetch.\n";

int cmd_plan(struct opts *o)
{
	ps_run *run = NULL;
	ps_error e;
	int rc;

	metrics_start();
	ps_error_clear(&e);
	rc = session_open(&run, o, false);
	if (rc)
		goto cleanup;
	rc = session_plan(run, o->refresh ? PS_RUN_REFRESH : 0);
	if (rc)
		goto cleanup;
	/* Show what apply would refuse, and why (it does not change the exit
	 * status: --detailed-exitcode still says whether there are changes). */
	if (!o->force)
		ps_plan_mark_guards(run->plan, o->max_changes);
	if (o->out && ps_plan_save(run->plan, o->out, &e) < 0) {
		out_ps_error(&e);
		rc = EXIT_ERROR;
		goto cleanup;
	}
	if (o->format == FORMAT_JSON)
		out_plan_json(run->plan, NULL);
	else
		out_plan_text(run->plan, false, NULL, NULL);
	if (o->out)
		out_info("saved the plan to %s; apply it with: pavesync apply "
			 "--plan %s",
			 o->out, o->out);
	if (run->live_errors && json_object_size(run->live_errors))
		rc = EXIT_ERROR;
	else if (o->detailed_exitcode && ps_plan_changes(run->plan))
		rc = EXIT_CHANGES;
cleanup:
	metrics_write(o, run ? run->plan : NULL, false, rc);
	ps_run_close_for_exit(run); /* the process ends next */
	return rc;
}
