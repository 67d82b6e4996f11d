#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "json.h"
#include "util.h"
#include "banned.h"

const char show_usage[] =
	"usage: pavesync show [-a NAME]... [--format text|json]\n"
	"\n"
	"Print the snapshot: what pavesync last applied or read, per account.\n"
	"Sensitive values appear only as (sensitive) fingerprints.\n";

static bool wanted(const struct opts *o, const char *name)
{
	size_t i;

	if (!o->naccounts)
		return true;
	for (i = 0; i < o->naccounts; i++)
		if (!strcmp(o->accounts[i], name))
			return true;
	return false;
}

int cmd_show(struct opts *o)
{
	ps_state *st = NULL;
	ps_config *cfg = NULL;
	char *repo = NULL;
	json_t *all = json_object();
	size_t i;
	int rc = EXIT_ERROR;

	if (open_snapshot(&st, &repo, &cfg, o))
		goto cleanup;
	for (i = 0; i < o->naccounts; i++)
		if (!ps_state_get(st, o->accounts[i])) {
			out_error("no account \"%s\" in the snapshot",
				  o->accounts[i]);
			goto cleanup;
		}
	for (i = 0; i < ps_state_count(st); i++) {
		const char *name = ps_state_name(st, i);
		if (wanted(o, name))
			json_object_set(all, name,
					(json_t *)ps_state_get(st, name));
	}
	if (o->format == FORMAT_JSON) {
		json_t *doc = json_pack("{s:i, s:s?, s:s, s:O}", "format", 1,
					"commit", ps_state_head(st), "ref",
					ps_state_ref(st), "accounts", all);
		out_json(doc);
		json_decref(doc);
	} else if (!ps_state_head(st)) {
		out_info("no snapshot yet in %s (%s)", repo, ps_state_ref(st));
	} else {
		out_snapshot_text(all, ps_state_head(st), ps_state_ref(st));
	}
	rc = EXIT_OK;
cleanup:
	json_decref(all);
	ps_state_free(st);
	ps_config_free(cfg);
	free(repo);
	return rc;
}
