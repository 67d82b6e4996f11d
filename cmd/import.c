#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cmd.h"
#include "import.h"
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
	struct session s;
	ps_buf y = PS_BUF_INIT;
	ps_error e;
	json_t *vars = NULL;
	const char **names = NULL;
	size_t i, n = 0;
	int rc;

	ps_error_clear(&e);
	rc = session_open(&s, o, o->seed);
	if (rc)
		goto cleanup;
	rc = session_plan(&s, o, true, false);
	if (rc)
		goto cleanup;
	if (json_object_size(s.live_errors)) {
		rc = EXIT_ERROR;
		goto cleanup;
	}
	names = ps_calloc(s.plan->naccounts + 1, sizeof(*names));
	for (i = 0; i < s.plan->naccounts; i++)
		if (!s.plan->accounts[i].orphaned)
			names[n++] = s.plan->accounts[i].name;
	if (ps_import_write(&y, &vars, s.cfg, s.live, names, &e) < 0) {
		out_ps_error(&e);
		rc = EXIT_ERROR;
		goto cleanup;
	}
	out_import_config(&y);
	out_import_vars(vars);
	if (o->seed) {
		ps_plan_adopt_live(s.plan);
		rc = session_record_drift(
			&s, "pavesync: import: snapshot seeded from live");
		if (!rc)
			rc = session_push(&s, o);
		if (!rc && *s.refresh_commit)
			out_info("seeded the snapshot in %.12s",
				 s.refresh_commit);
	}
cleanup:
	json_decref(vars);
	free(names);
	ps_buf_release(&y);
	session_close(&s);
	return rc;
}
