#include <stdlib.h>

#include "cmd.h"
#include "banned.h"

const char validate_usage[] =
	"usage: pavesync [-c FILE] validate [--no-env] [--format text|json]\n"
	"\n"
	"Check the config and report every problem as FILE:LINE:COL: message.\n"
	"Environment variables it references must be set. Nothing is read "
	"from\n"
	"the state repository or the API.\n"
	"\n"
	"  --no-env   check every structural rule without the environment (a "
	"pull\n"
	"             request from a fork has no secrets): an unset variable "
	"is not\n"
	"             an error, a value built from one is checked only when it "
	"is\n"
	"             known, and api_secret_file is not read\n"
	"\n"
	"exit status: 0 valid, 1 not valid\n";

int cmd_validate(struct opts *o)
{
	ps_diags diags = PS_DIAGS_INIT;
	ps_config *cfg = NULL;
	size_t i, ncb = 0;
	int rc = ps_config_load_flags(&cfg, o->config, NULL,
				      o->no_env ? PS_CONFIG_NO_ENV : 0, &diags);

	if (o->format == FORMAT_JSON) {
		json_t *errors = json_array(), *doc;
		for (i = 0; i < diags.count; i++) {
			const ps_error *e = &diags.items[i];
			json_array_append_new(
				errors,
				json_pack("{s:s, s:i, s:i, s:s}", "file",
					  e->source[0] ? e->source : o->config,
					  "line", e->line, "column", e->column,
					  "message", e->message));
		}
		doc = json_pack("{s:b, s:o}", "valid", rc == 0, "errors",
				errors);
		out_json(doc);
		json_decref(doc);
	} else {
		out_config_diags(&diags, o->config, rc);
	}
	if (rc == 0) {
		if (o->format == FORMAT_TEXT)
			out_config_warnings(cfg);
		for (i = 0; i < cfg->naccounts; i++)
			ncb += cfg->accounts[i].ncallbacks;
		if (o->format == FORMAT_TEXT)
			out_info("%s: valid (%zu account%s, %zu callback%s)",
				 o->config, cfg->naccounts,
				 cfg->naccounts == 1 ? "" : "s", ncb,
				 ncb == 1 ? "" : "s");
	} else if (o->format == FORMAT_TEXT && diags.count > 1) {
		out_plain("%zu errors", diags.count);
	}
	ps_config_free(cfg);
	ps_diags_clear(&diags);
	return rc == 0 ? EXIT_OK : EXIT_ERROR;
}
