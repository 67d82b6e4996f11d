#include <stdlib.h>
#include <time.h>

#include "cmd.h"
#include "util.h"
#include "banned.h"

const char history_usage[] =
	"usage: pavesync history [-n N] [--format text|json]\n"
	"\n"
	"List the commits of the state ref, newest first, one line each:\n"
	"short id, date (UTC), subject.\n"
	"\n"
	"  -n, --limit N   at most N commits\n";

struct hist {
	enum format format;
	json_t *list;
};

static int one(void *ctx, const char *id, long long when, int tz,
	       const char *committer, const char *subject)
{
	struct hist *h = ctx;
	char date[32];
	time_t t = (time_t)when;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (h->format == FORMAT_JSON)
		json_array_append_new(
			h->list, json_pack("{s:s, s:s, s:s, s:s}", "commit", id,
					   "date", date, "committer", committer,
					   "subject", subject));
	else {
		out_history_line(id, date, subject);
	}
	(void)tz;
	return 0;
}

int cmd_history(struct opts *o)
{
	ps_state *st = NULL;
	ps_config *cfg = NULL;
	char *repo = NULL;
	struct hist h;
	ps_error e;
	int rc = EXIT_ERROR;

	ps_error_clear(&e);
	if (open_snapshot(&st, &repo, &cfg, o))
		goto cleanup;
	h.format = o->format;
	h.list = json_array();
	if (ps_state_history(st, (size_t)o->limit, one, &h, &e) < 0) {
		out_ps_error(&e);
		json_decref(h.list);
		goto cleanup;
	}
	if (o->format == FORMAT_JSON)
		out_json(h.list);
	else if (!json_array_size(h.list) && !ps_state_head(st))
		out_info("no snapshot yet in %s (%s)", repo, ps_state_ref(st));
	json_decref(h.list);
	rc = EXIT_OK;
cleanup:
	ps_state_free(st);
	ps_config_free(cfg);
	free(repo);
	return rc;
}
