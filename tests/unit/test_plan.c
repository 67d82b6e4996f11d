/* Unit tests for diff and plan (reconcile/plan.c): the library alone, with
 * an in-memory config and a real state repository in a temp directory. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "apply.h"
#include "json.h"
#include "live.h"
#include "plan.h"
#include "plan_file.h"
#include "testutil.h"

struct fx {
	char dir[64];
	ps_config *cfg;
	ps_state *st;
};

static const char base_yaml[] =
	"version: 1\n"
	"accounts:\n"
	"  main:\n"
	"    api_key: ${T_KEY}\n"
	"    api_secret: ${T_SECRET}\n"
	"    username: u\n"
	"    callbacks:\n"
	"      SESSION:COMPLETE:\n"
	"        url: https://h.example.com/c\n"
	"        headers: {Authorization: \"Bearer ${T_TOKEN}\"}\n"
	"      SESSION:STAGE_CHANGE:\n"
	"        url: https://h.example.com/s\n"
	"        payload: {a: 1, b: [1, 2]}\n";

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/ps-plan-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	setenv("HOME", f->dir, 1);
	setenv("T_KEY", "key-1", 1);
	setenv("T_SECRET", "secret-1", 1);
	setenv("T_TOKEN", "token-1", 1);
	unsetenv("PAVESYNC_FINGERPRINT_KEY");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	ps_config_free(f->cfg);
	ps_state_free(f->st);
	assert_int_equal(test_rmtree(f->dir), 0);
	free(f);
	return 0;
}

static void load(struct fx *f, const char *yaml)
{
	ps_diags d = PS_DIAGS_INIT;

	ps_config_free(f->cfg);
	f->cfg = NULL;
	if (ps_config_parse(&f->cfg, "t.yaml", yaml, strlen(yaml), NULL, &d) < 0)
		fail_msg("config: %s", d.count ? d.items[0].message : "?");
	ps_diags_clear(&d);
}

static void open_state(struct fx *f)
{
	ps_error e;
	char path[128];

	ps_state_free(f->st);
	snprintf(path, sizeof(path), "%s/state", f->dir);
	if (ps_state_open(&f->st, path, NULL, PS_STATE_CREATE, &e) < 0)
		fail_msg("state: %s", e.message);
}

static ps_plan *build_opts(struct fx *f, const json_t *live, bool prune,
			  bool remember)
{
	ps_plan *p = NULL;
	ps_plan_opts o;
	ps_error e;

	memset(&o, 0, sizeof(o));
	o.prune = prune;
	o.remember = remember;
	o.api_url = "https://api.example.com";
	if (ps_plan_build(&p, f->cfg, f->st, live, NULL, &o, &e) < 0)
		fail_msg("plan: %s", e.message);
	return p;
}

static ps_plan *build(struct fx *f, const json_t *live, bool prune)
{
	return build_opts(f, live, prune, false);
}

/* Pretend every planned change succeeded and commit: a quick way to a
 * committed snapshot for the planning cases below. What apply really does
 * (calls, fallbacks, failures) is test_apply.c's, against the emulator. */
static void apply_all(struct fx *f, ps_plan *p)
{
	char id[41];
	ps_error e;
	size_t i, j;

	for (i = 0; i < p->naccounts; i++) {
		ps_account_plan *ap = &p->accounts[i];
		for (j = 0; j < ap->nchanges; j++) {
			ps_change *c = &ap->changes[j];
			if (c->action == PS_DELETE) {
				json_object_del(ap->base, c->event);
				json_object_del(ap->applied, c->event);
			} else {
				json_object_set(ap->base, c->event, c->after);
				json_object_set(ap->applied, c->event, c->after);
			}
			c->status = PS_DONE;
		}
	}
	if (ps_apply_commit(id, p, f->st, &e) < 0)
		fail_msg("commit: %s", e.message);
	open_state(f);
}

static void first_plan_creates_everything(void **state)
{
	struct fx *f = *state;
	ps_plan *p;

	load(f, base_yaml);
	open_state(f);
	p = build(f, NULL, false);
	assert_int_equal(p->ncreate, 2);
	assert_int_equal(p->nupdate + p->ndelete + p->nunchanged, 0);
	assert_int_equal(p->accounts[0].nchanges, 2);
	assert_string_equal(p->accounts[0].changes[0].event, "SESSION:COMPLETE");
	assert_int_equal(p->accounts[0].changes[0].origin, PS_ORIGIN_CONFIG);
	ps_plan_free(p);
}

static json_t *field(const ps_change *c, const char *path)
{
	size_t i;
	json_t *fl;

	json_array_foreach(c->fields, i, fl)
		if (!strcmp(json_string_value(json_object_get(fl, "path")), path))
			return fl;
	return NULL;
}

static void field_level_changes(void **state)
{
	struct fx *f = *state;
	ps_plan *p;
	json_t *fl;
	char *yaml = strdup(base_yaml);

	load(f, base_yaml);
	open_state(f);
	apply_all(f, p = build(f, NULL, false));
	ps_plan_free(p);
	/* payload a: 1 -> 2; the rotated token changes only a sealed header */
	*strstr(yaml, "a: 1") = '\0';
	setenv("T_TOKEN", "token-2", 1);
	{
		char buf[2048];
		snprintf(buf, sizeof(buf), "%sa: 2, b: [1, 2]}\n", yaml);
		load(f, buf);
	}
	p = build(f, NULL, false);
	assert_int_equal(p->nupdate, 2);
	fl = field(&p->accounts[0].changes[1], "payload.a");
	assert_non_null(fl);
	assert_int_equal(json_integer_value(json_object_get(fl, "before")), 1);
	assert_int_equal(json_integer_value(json_object_get(fl, "after")), 2);
	assert_null(field(&p->accounts[0].changes[1], "payload.b"));
	fl = field(&p->accounts[0].changes[0], "headers.authorization");
	assert_non_null(fl);
	assert_true(json_is_true(json_object_get(fl, "sensitive")));
	assert_null(json_object_get(fl, "before"));
	ps_plan_free(p);
	free(yaml);
}

static const char one_event_yaml[] =
	"version: 1\n"
	"accounts:\n"
	"  main:\n"
	"    api_key: ${T_KEY}\n"
	"    api_secret: ${T_SECRET}\n"
	"    username: u\n"
	"    callbacks:\n"
	"      SESSION:STAGE_CHANGE:\n"
	"        url: https://h.example.com/s\n"
	"        payload: {a: 1, b: [1, 2]}\n";

static void unlisted_events_are_unmanaged_unless_pruned(void **state)
{
	struct fx *f = *state;
	ps_plan *p;

	load(f, base_yaml);
	open_state(f);
	apply_all(f, p = build(f, NULL, false));
	ps_plan_free(p);
	load(f, one_event_yaml);
	p = build(f, NULL, false);
	assert_int_equal(ps_plan_changes(p), 0);
	assert_int_equal(json_array_size(p->accounts[0].unmanaged), 1);
	ps_plan_free(p);
	p = build(f, NULL, true);
	assert_int_equal(p->ndelete, 1);
	assert_int_equal(p->accounts[0].changes[0].action, PS_DELETE);
	ps_plan_free(p);
}

static void other_api_key_makes_snapshot_stale(void **state)
{
	struct fx *f = *state;
	ps_plan *p;

	load(f, base_yaml);
	open_state(f);
	apply_all(f, p = build(f, NULL, false));
	ps_plan_free(p);
	setenv("T_KEY", "key-2", 1);
	load(f, base_yaml);
	p = build(f, NULL, false);
	assert_true(p->accounts[0].stale);
	assert_int_equal(p->ncreate, 2);
	ps_plan_free(p);
	setenv("T_KEY", "key-1", 1);
	setenv("T_SECRET", "secret-rotated", 1);
	load(f, base_yaml);
	p = build(f, NULL, false);
	assert_true(p->accounts[0].stale);
	ps_plan_free(p);
}

static json_t *live_of(const char *accounts_json)
{
	json_t *v = json_loads(accounts_json, 0, NULL);

	assert_non_null(v);
	return v;
}

static void refresh_labels_origins(void **state)
{
	struct fx *f = *state;
	ps_plan *p;
	json_t *live;

	load(f, one_event_yaml);
	open_state(f);
	apply_all(f, p = build(f, NULL, false));
	ps_plan_free(p);
	/* live equals the snapshot: nothing to do, nothing drifted */
	live = live_of("{\"main\":[{\"event\":\"SESSION:STAGE_CHANGE\",\"url\":\"https://h.example.com/s\","
		       "\"method\":\"post\",\"payload\":\"{\\\"b\\\":[1,2],\\\"a\\\":1}\"}]}");
	p = build(f, live, false);
	assert_int_equal(ps_plan_changes(p), 0);
	assert_false(p->accounts[0].drifted);
	ps_plan_free(p);
	json_decref(live);
	/* dashboard changed the url */
	live = live_of("{\"main\":[{\"event\":\"SESSION:STAGE_CHANGE\",\"url\":\"https://dash\","
		       "\"payload\":{\"a\":1,\"b\":[1,2]}}]}");
	p = build(f, live, false);
	assert_int_equal(p->nupdate, 1);
	assert_int_equal(p->accounts[0].changes[0].origin, PS_ORIGIN_DASHBOARD);
	assert_true(p->accounts[0].drifted);
	ps_plan_free(p);
	/* and the config changed too: conflict */
	load(f, "version: 1\naccounts:\n  main:\n    api_key: ${T_KEY}\n    api_secret: ${T_SECRET}\n"
		"    username: u\n    callbacks:\n      SESSION:STAGE_CHANGE:\n        url: https://new\n");
	p = build(f, live, false);
	assert_int_equal(p->accounts[0].changes[0].origin, PS_ORIGIN_CONFLICT);
	ps_plan_free(p);
	json_decref(live);
}

static json_t *cb(const char *url)
{
	json_t *v = json_pack("{s:s, s:s, s:{}, s:{}}", "url", url, "method",
			      "POST", "headers", "payload");

	assert_non_null(v);
	return v;
}

/* The three-way rule, every combination of present/absent/equal. */
static void origin_is_judged_against_last_applied(void **state)
{
	json_t *a = cb("https://a"), *a2 = cb("https://a"), *b = cb("https://b"),
	       *c = cb("https://c");

	(void)state;
	/* config moved, live still what was applied */
	assert_int_equal(ps_plan_origin(b, a, a2), PS_ORIGIN_CONFIG);
	/* live moved, config still what was applied */
	assert_int_equal(ps_plan_origin(a, a2, b), PS_ORIGIN_DASHBOARD);
	/* both moved, to different places */
	assert_int_equal(ps_plan_origin(b, a, c), PS_ORIGIN_CONFLICT);
	/* never applied: new in the config and absent live */
	assert_int_equal(ps_plan_origin(a, NULL, NULL), PS_ORIGIN_CONFIG);
	/* deleted on the dashboard */
	assert_int_equal(ps_plan_origin(a, a2, NULL), PS_ORIGIN_DASHBOARD);
	/* created on the dashboard, not in the config (a prune) */
	assert_int_equal(ps_plan_origin(NULL, NULL, b), PS_ORIGIN_DASHBOARD);
	/* dropped from the config, live as applied (a prune) */
	assert_int_equal(ps_plan_origin(NULL, a, a2), PS_ORIGIN_CONFIG);
	/* dropped from the config and changed on the dashboard */
	assert_int_equal(ps_plan_origin(NULL, a, b), PS_ORIGIN_CONFLICT);
	/* live there but never applied, config wants another: both */
	assert_int_equal(ps_plan_origin(a, NULL, b), PS_ORIGIN_CONFLICT);
	json_decref(a);
	json_decref(a2);
	json_decref(b);
	json_decref(c);
}

static const char dash_live[] =
	"{\"main\":[{\"event\":\"SESSION:STAGE_CHANGE\",\"url\":\"https://dash\","
	"\"payload\":{\"a\":1,\"b\":[1,2]}}]}";

/* Record a refresh (as apply does before calling the API) and re-open. */
static void record(struct fx *f, ps_plan *p)
{
	char id[41];
	ps_error e;

	if (ps_live_record_drift(id, p, f->st, NULL, &e) < 0)
		fail_msg("record: %s", e.message);
	open_state(f);
}

static void dashboard_edit_stays_dashboard_after_refresh(void **state)
{
	struct fx *f = *state;
	ps_plan *p;
	json_t *live = live_of(dash_live);
	const json_t *doc;

	load(f, one_event_yaml);
	open_state(f);
	apply_all(f, p = build(f, NULL, false));
	ps_plan_free(p);
	/* run 1: the edit is seen, recorded, and (on-drift fail) left alone */
	p = build(f, live, false);
	assert_int_equal(p->accounts[0].changes[0].origin, PS_ORIGIN_DASHBOARD);
	assert_true(p->accounts[0].drifted);
	record(f, p);
	ps_plan_free(p);
	doc = ps_state_get(f->st, "main");
	assert_int_equal(json_integer_value(json_object_get(doc, "format")), 2);
	assert_string_equal(json_string_value(ps_json_pointer_get(
		doc, "/callbacks/SESSION:STAGE_CHANGE/url")), "https://h.example.com/s");
	assert_string_equal(json_string_value(ps_json_pointer_get(
		doc, "/live/SESSION:STAGE_CHANGE/url")), "https://dash");
	/* runs 2 and 3: still dashboard, nothing new to record */
	for (int run = 0; run < 2; run++) {
		p = build(f, live, false);
		assert_int_equal(p->nupdate, 1);
		assert_int_equal(p->accounts[0].changes[0].origin, PS_ORIGIN_DASHBOARD);
		assert_false(p->accounts[0].drifted);
		record(f, p);
		ps_plan_free(p);
	}
	/* without a refresh the recorded live state is the base */
	p = build(f, NULL, false);
	assert_int_equal(p->nupdate, 1);
	assert_int_equal(p->accounts[0].changes[0].origin, PS_ORIGIN_DASHBOARD);
	ps_plan_free(p);
	/* the config changes too: conflict, on every run */
	load(f, "version: 1\naccounts:\n  main:\n    api_key: ${T_KEY}\n    api_secret: ${T_SECRET}\n"
		"    username: u\n    callbacks:\n      SESSION:STAGE_CHANGE:\n        url: https://new\n");
	for (int run = 0; run < 2; run++) {
		p = build(f, live, false);
		assert_int_equal(p->accounts[0].changes[0].origin, PS_ORIGIN_CONFLICT);
		record(f, p);
		ps_plan_free(p);
	}
	json_decref(live);
}

static void config_taking_over_the_edit_is_recorded_as_applied(void **state)
{
	struct fx *f = *state;
	ps_plan *p;
	json_t *live = live_of(dash_live);
	char id[41];
	ps_error e;

	load(f, one_event_yaml);
	open_state(f);
	apply_all(f, p = build(f, NULL, false));
	ps_plan_free(p);
	p = build(f, live, false);
	record(f, p);
	ps_plan_free(p);
	load(f, "version: 1\naccounts:\n  main:\n    api_key: ${T_KEY}\n    api_secret: ${T_SECRET}\n"
		"    username: u\n    callbacks:\n      SESSION:STAGE_CHANGE:\n        url: https://dash\n"
		"        payload: {a: 1, b: [1, 2]}\n");
	p = build(f, NULL, false);
	assert_int_equal(ps_plan_changes(p), 0);
	assert_true(p->accounts[0].rewrite);
	assert_int_equal(p->nrewrite, 1);
	assert_int_equal(ps_apply_commit(id, p, f->st, &e), 0);
	assert_int_not_equal(id[0], '\0');
	ps_plan_free(p);
	open_state(f);
	assert_null(json_object_get(ps_state_get(f->st, "main"), "live"));
	/* converged: the fast path holds again */
	p = build(f, NULL, false);
	assert_true(p->accounts[0].settled);
	ps_plan_free(p);
	json_decref(live);
}

static void format_1_snapshot_is_migrated_on_write(void **state)
{
	struct fx *f = *state;
	ps_plan *p;
	json_t *doc;
	char id[41];
	ps_error e;

	load(f, one_event_yaml);
	open_state(f);
	apply_all(f, p = build(f, NULL, false));
	ps_plan_free(p);
	doc = json_deep_copy(ps_state_get(f->st, "main"));
	json_object_set_new(doc, "format", json_integer(1));
	ps_state_put(f->st, "main", doc);
	assert_int_equal(ps_state_commit(id, f->st, "old", NULL, &e), 0);
	open_state(f);
	p = build(f, NULL, false);
	assert_false(p->accounts[0].settled);   /* another blob */
	assert_true(p->accounts[0].migrate);
	assert_int_equal(ps_plan_changes(p), 0);
	assert_int_equal(p->nrewrite, 1);
	assert_int_equal(ps_apply_commit(id, p, f->st, &e), 0);
	assert_true(p->accounts[0].migrated);
	ps_plan_free(p);
	open_state(f);
	assert_int_equal(json_integer_value(json_object_get(
		ps_state_get(f->st, "main"), "format")), 2);
	p = build(f, NULL, false);
	assert_true(p->accounts[0].settled);
	assert_false(p->accounts[0].migrate);
	ps_plan_free(p);
}

static void guards(void **state)
{
	struct fx *f = *state;
	ps_plan *p;
	ps_error e;

	load(f, base_yaml);
	open_state(f);
	apply_all(f, p = build(f, NULL, false));
	assert_int_equal(ps_plan_check_guards(p, -1, &e), 0);
	ps_plan_free(p);
	load(f, "version: 1\naccounts:\n  main:\n    api_key: ${T_KEY}\n    api_secret: ${T_SECRET}\n"
		"    username: u\n    callbacks: {}\n");
	p = build(f, NULL, true);
	assert_int_equal(p->ndelete, 2);
	assert_int_equal(ps_plan_check_guards(p, -1, &e), PS_ELIMIT);
	assert_non_null(strstr(e.message, "every callback"));
	assert_int_equal(ps_plan_check_guards(p, 1, &e), PS_ELIMIT);
	assert_non_null(strstr(e.message, "--max-changes"));
	/* the plan can show the same refusals, on the changes concerned */
	assert_int_equal(ps_plan_mark_guards(p, -1), 1);
	assert_string_equal(json_string_value(json_array_get(p->refused, 0)),
			    "needs --force: deletes every callback of account \"main\"");
	assert_string_equal(p->accounts[0].changes[0].refused,
			    "needs --force: deletes every callback of account \"main\"");
	assert_int_equal(ps_plan_mark_guards(p, 1), 2);
	assert_string_equal(json_string_value(json_array_get(p->refused, 0)),
			    "exceeds --max-changes 1 (the plan has 2 changes)");
	assert_int_equal(ps_plan_mark_guards(p, 2), 1);
	ps_plan_free(p);
	/* nothing to refuse: nothing marked */
	load(f, base_yaml);
	p = build(f, NULL, false);
	assert_int_equal(ps_plan_mark_guards(p, 0), 0);
	assert_int_equal(json_array_size(p->refused), 0);
	ps_plan_free(p);
}

static void json_document_shape(void **state)
{
	struct fx *f = *state;
	ps_plan *p;
	json_t *doc;
	char *s;

	load(f, base_yaml);
	open_state(f);
	p = build(f, NULL, false);
	doc = ps_plan_to_json(p, NULL);
	assert_int_equal(json_integer_value(json_object_get(doc, "format")), 1);
	assert_int_equal(json_integer_value(ps_json_pointer_get(doc, "/summary/create")), 2);
	assert_true(json_is_null(json_object_get(doc, "commit")));
	assert_string_equal(json_string_value(json_object_get(doc, "status")), "ok");
	assert_string_equal(json_string_value(ps_json_pointer_get(doc, "/accounts/0/status")),
			    "ok");
	json_decref(doc);
	/* a failed change and nothing done: failed; one done too: partial */
	p->accounts[0].changes[0].status = PS_FAILED;
	doc = ps_plan_to_json(p, NULL);
	assert_string_equal(json_string_value(json_object_get(doc, "status")), "failed");
	json_decref(doc);
	p->accounts[0].changes[1].status = PS_DONE;
	doc = ps_plan_to_json(p, NULL);
	assert_string_equal(json_string_value(json_object_get(doc, "status")), "partial");
	assert_string_equal(json_string_value(ps_json_pointer_get(doc, "/accounts/0/status")),
			    "partial");
	json_decref(doc);
	p->accounts[0].changes[0].status = PS_PLANNED;
	p->accounts[0].changes[1].status = PS_PLANNED;
	doc = ps_plan_to_json(p, NULL);
	assert_string_equal(json_string_value(ps_json_pointer_get(doc, "/accounts/0/changes/0/status")),
			    "planned");
	s = ps_json_compact(doc);
	assert_null(strstr(s, "token-1"));
	assert_null(strstr(s, "secret-1"));
	free(s);
	json_decref(doc);
	ps_plan_free(p);
}

static void saved_plan_round_trip(void **state)
{
	struct fx *f = *state;
	ps_plan *p, *q;
	ps_error e;
	char path[128];
	bool refreshed = true;

	load(f, base_yaml);
	open_state(f);
	p = build(f, NULL, false);
	snprintf(path, sizeof(path), "%s/plan.json", f->dir);
	assert_int_equal(ps_plan_save(p, path, &e), 0);
	assert_int_equal(ps_plan_saved_refreshed(&refreshed, path, &e), 0);
	assert_false(refreshed);
	q = build(f, NULL, false);
	assert_int_equal(ps_plan_check_saved(q, path, &e), 0);
	ps_plan_free(q);
	setenv("T_TOKEN", "token-rotated", 1);
	load(f, base_yaml);
	q = build(f, NULL, false);
	assert_int_equal(ps_plan_check_saved(q, path, &e), PS_ESTALE);
	ps_plan_free(q);
	ps_plan_free(p);
}

/* Many accounts, none settled by blob id: their snapshot documents must be
 * read on the thread that owns the state, never on a planning thread. */
static bool memo_exists(struct fx *f)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/state/pavesync-memo", f->dir);
	return access(path, F_OK) == 0;
}

/* The settle memo (written by a writer's plan) settles an account only
 * while its input is what produced the committed document: a changed
 * value, a changed key, or a document committed from elsewhere all take
 * the full comparison again. A plain plan writes nothing. */
static void memo_settles_only_unchanged_input(void **state)
{
	struct fx *f = *state;
	ps_plan *p;

	load(f, base_yaml);
	open_state(f);
	p = build(f, NULL, false);
	assert_false(memo_exists(f));
	ps_plan_free(p);
	apply_all(f, p = build_opts(f, NULL, false, true));
	ps_plan_free(p);
	assert_true(memo_exists(f));

	p = build_opts(f, NULL, false, true);
	assert_true(p->accounts[0].settled);
	assert_int_equal(p->nunchanged, 2);
	ps_plan_free(p);

	/* A header value from the environment changed: an update. */
	setenv("T_TOKEN", "token-2", 1);
	load(f, base_yaml);
	p = build_opts(f, NULL, false, true);
	assert_false(p->accounts[0].settled);
	assert_int_equal(p->nupdate, 1);
	assert_int_equal(p->nunchanged, 1);
	ps_plan_free(p);
	setenv("T_TOKEN", "token-1", 1);
	load(f, base_yaml);
	p = build_opts(f, NULL, false, true); /* the memo: this input again */
	assert_true(p->accounts[0].settled);
	ps_plan_free(p);

	/* Another fingerprint key: the snapshot is stale, not settled. */
	setenv("PAVESYNC_FINGERPRINT_KEY", "another key", 1);
	p = build(f, NULL, false);
	assert_false(p->accounts[0].settled);
	assert_true(p->accounts[0].stale);
	ps_plan_free(p);
	unsetenv("PAVESYNC_FINGERPRINT_KEY");

	/* A document committed by another run (here: one URL changed):
	 * the memo vouches for this input's blob, not for that one. */
	load(f, "version: 1\n"
		"accounts:\n"
		"  main:\n"
		"    api_key: ${T_KEY}\n"
		"    api_secret: ${T_SECRET}\n"
		"    username: u\n"
		"    callbacks:\n"
		"      SESSION:COMPLETE:\n"
		"        url: https://h.example.com/other\n"
		"        headers: {Authorization: \"Bearer ${T_TOKEN}\"}\n"
		"      SESSION:STAGE_CHANGE:\n"
		"        url: https://h.example.com/s\n"
		"        payload: {a: 1, b: [1, 2]}\n");
	apply_all(f, p = build(f, NULL, false));
	ps_plan_free(p);
	load(f, base_yaml);
	p = build(f, NULL, false);
	assert_false(p->accounts[0].settled);
	assert_int_equal(p->nupdate, 1);
	ps_plan_free(p);
}

static char *many_accounts_yaml(size_t n, const char *version)
{
	size_t cap = 256 + n * 256, len = 0;
	char *y = malloc(cap);

	assert_non_null(y);
	len += (size_t)snprintf(y + len, cap - len, "version: 1\naccounts:\n");
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(y + len, cap - len,
			"  a%03zu:\n    api_key: k%03zu\n    api_secret: ${T_SECRET}\n"
			"    username: u\n    callbacks:\n"
			"      SESSION:COMPLETE:\n        url: https://h.example.com/%s/%zu\n",
			i, i, version, i);
	return y;
}

static void many_accounts_read_snapshots_on_the_owning_thread(void **state)
{
	struct fx *f = *state;
	const size_t n = 200;
	char *y = many_accounts_yaml(n, "v1");
	char path[128];
	ps_error e;
	ps_plan *p;

	load(f, y);
	free(y);
	open_state(f);
	p = build(f, NULL, false);
	assert_int_equal(p->ncreate, n);
	apply_all(f, p);
	ps_plan_free(p);

	/* Lazy, as the command line opens it: a changed account makes the
	 * plan read its document through libgit2. */
	ps_state_free(f->st);
	snprintf(path, sizeof(path), "%s/state", f->dir);
	if (ps_state_open(&f->st, path, NULL, PS_STATE_LAZY, &e) < 0)
		fail_msg("state: %s", e.message);
	y = many_accounts_yaml(n, "v2");
	load(f, y);
	free(y);
	p = build(f, NULL, false);
	assert_int_equal(p->nupdate, n);
	assert_int_equal(p->ncreate, 0);
	ps_plan_free(p);
}

struct load_arg {
	ps_state *st;
	int rc;
	ps_error err;
};

static void *load_elsewhere(void *arg)
{
	struct load_arg *a = arg;
	const json_t *doc = NULL;

	a->rc = ps_state_load(&doc, a->st, "a000", &a->err);
	return NULL;
}

static void snapshot_is_not_read_from_another_thread(void **state)
{
	struct fx *f = *state;
	char *y = many_accounts_yaml(1, "v1");
	struct load_arg a;
	const json_t *doc = NULL;
	pthread_t t;
	char path[128];
	ps_error e;
	ps_plan *p;

	load(f, y);
	free(y);
	open_state(f);
	p = build(f, NULL, false);
	apply_all(f, p);
	ps_plan_free(p);
	ps_state_free(f->st);
	snprintf(path, sizeof(path), "%s/state", f->dir);
	if (ps_state_open(&f->st, path, NULL, PS_STATE_LAZY, &e) < 0)
		fail_msg("state: %s", e.message);

	memset(&a, 0, sizeof(a));
	a.st = f->st;
	assert_int_equal(pthread_create(&t, NULL, load_elsewhere, &a), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(a.rc, PS_ERROR);
	assert_non_null(strstr(a.err.message, "internal error"));
	/* The owner still reads it. */
	assert_int_equal(ps_state_load(&doc, f->st, "a000", &e), 0);
	assert_non_null(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(first_plan_creates_everything, setup, teardown),
		cmocka_unit_test_setup_teardown(memo_settles_only_unchanged_input, setup, teardown),
		cmocka_unit_test_setup_teardown(field_level_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(unlisted_events_are_unmanaged_unless_pruned, setup, teardown),
		cmocka_unit_test_setup_teardown(other_api_key_makes_snapshot_stale, setup, teardown),
		cmocka_unit_test_setup_teardown(refresh_labels_origins, setup, teardown),
		cmocka_unit_test_setup_teardown(guards, setup, teardown),
		cmocka_unit_test(origin_is_judged_against_last_applied),
		cmocka_unit_test_setup_teardown(dashboard_edit_stays_dashboard_after_refresh, setup, teardown),
		cmocka_unit_test_setup_teardown(config_taking_over_the_edit_is_recorded_as_applied, setup, teardown),
		cmocka_unit_test_setup_teardown(format_1_snapshot_is_migrated_on_write, setup, teardown),
		cmocka_unit_test_setup_teardown(json_document_shape, setup, teardown),
		cmocka_unit_test_setup_teardown(saved_plan_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(many_accounts_read_snapshots_on_the_owning_thread, setup, teardown),
		cmocka_unit_test_setup_teardown(snapshot_is_not_read_from_another_thread, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
