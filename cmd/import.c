#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cmd.h"
#include "json.h"
#include "session.h"
#include "util.h"
#include "banned.h"

const char import_usage[] =
	"usage: pavesync import [--seed [--adopt-state-ref]] [-a NAME]...\n"
	"\n"
	"Read the live callbacks of the accounts in the config and print a "
	"config\n"
	"that declares them. A value the config marks sensitive (a header "
	"value,\n"
	"one built from ${VAR}, one tagged !secret) is never printed: the "
	"config's\n"
	"own ${VAR} or !secret text stands for it, or a new ${VARIABLE} where "
	"the\n"
	"config has none or the live value differs; every variable the "
	"printed\n"
	"config reads is listed on stderr. Credentials keep the config's "
	"names.\n"
	"'$' in other values is written as '$$'.\n"
	"\n"
	"  --seed               also write the live state as the snapshot, so "
	"that\n"
	"                       the first apply with the printed config (and "
	"those\n"
	"                       variables set) is a no-op\n"
	"  --push               with --seed: fetch the remote state ref "
	"before, push\n"
	"                       it after\n"
	"  --remote NAME        the remote for --push (default origin)\n"
	"  --lock-timeout SECONDS  with --seed: wait this long for another "
	"run\n"
	"  --concurrency N      accounts read at once (default 8)\n"
	"  --timeout SECONDS    per request (default 30)\n"
	"  --retries N          retries for 429/5xx/transport errors (default "
	"4)\n"
	"  --cacert FILE        trust this CA in addition to the system's\n"
	"  --adopt-state-ref    with --seed: accept a state ref that something "
	"other\n"
	"                       than pavesync moved off its history (refused "
	"otherwise)\n"
	"  --deadline SECONDS   bound the whole run (default 240, 0 none)\n"
	"\n"
	"The config is printed as YAML whatever --format says.\n";

int cmd_import(struct opts *o)
{
	ps_run *run = NULL;
	ps_buf y = PS_BUF_INIT;
	ps_error e;
	json_t *vars = NULL;
	int rc;

	ps_error_clear(&e);
	rc = session_open(&run, o, o->seed);
	if (rc)
		goto cleanup;
	rc = session_plan(run, PS_RUN_REFRESH);
	if (rc)
		goto cleanup;
	if (json_object_size(run->live_errors)) {
		rc = EXIT_ERROR;
		goto cleanup;
	}
	if (ps_run_import_config(&y, &vars, run, &e) < 0) {
		out_ps_error(&e);
		rc = EXIT_ERROR;
		goto cleanup;
	}
	out_import_config(&y);
	out_import_vars(vars);
	if (o->seed) {
		if (ps_run_seed(run, &e) < 0 || ps_run_push(run, &e) < 0) {
			out_ps_error(&e);
			rc = EXIT_ERROR;
			goto cleanup;
		}
		if (*run->refresh_commit)
			out_info("seeded the snapshot in %.12s",
				 run->refresh_commit);
	}
cleanup:
	json_decref(vars);
	ps_buf_release(&y);
	ps_run_close_for_exit(run); /* the process ends next */
	return rc;
}
