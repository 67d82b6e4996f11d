/*
 * Unit tests of apply (reconcile/apply.c) and of reading live callbacks
 * (reconcile/live.c) through the library: a config parsed in memory, a
 * real state repository in a temp directory, and the real PAVE API
 * emulator (tests/emulator/pave_emulator.py) on 127.0.0.1, which the group
 * setup starts on a free port and the teardown stops. Each case resets the
 * emulator's storage, faults, settings and request log through its admin
 * API, then plans, applies and commits with the library's own functions and
 * checks the plan, the snapshot document and the requests the emulator got.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "apply.h"
#include "buf.h"
#include "testemu.h"
#include "live.h"
#include "plan.h"
#include "util.h"

#define EV "SESSION:COMPLETE"
#define EV2 "SESSION:STAGE_CHANGE"

static const char *const emu_accounts[] = { "k1:s1:u1", "k2:s2:u2", NULL };

static int start_emulator(void **state)
{
	(void)state;
	return test_emu_start(emu_accounts);
}

static int stop_emulator(void **state)
{
	(void)state;
	return test_emu_stop();
}

/* "METHOD path" of each /v1 request since the last reset, joined with
 * ", ". */
static char *request_summary(void)
{
	json_t *log = test_emu_admin("GET", "requests", NULL), *e;
	ps_buf out = PS_BUF_INIT;
	size_t i;

	assert_true(json_is_array(log));
	json_array_foreach(log, i, e)
	{
		ps_buf_printf(&out, "%s%s %s", i ? ", " : "",
			      json_string_value(json_object_get(e, "method")),
			      json_string_value(json_object_get(e, "path")));
	}
	json_decref(log);
	return ps_buf_detach(&out, NULL);
}

static void assert_requests(const char *want)
{
	char *got = request_summary();

	assert_string_equal(got, want);
	free(got);
}

/* ------------------------------------------------------------------ */
/* Fixture: config, state repository, emulator reset                    */

struct fx {
	char dir[64];
	ps_config *cfg;
	ps_state *st;
};

static int rm_one(const char *path, const struct stat *sb, int flag,
		  struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/ps-apply-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	setenv("HOME", f->dir, 1);
	setenv("T_KEY1", "k1", 1);
	setenv("T_SECRET1", "s1", 1);
	setenv("T_KEY2", "k2", 1);
	setenv("T_SECRET2", "s2", 1);
	unsetenv("PAVESYNC_FINGERPRINT_KEY");
	test_emu_admin_do("DELETE", "faults", NULL);
	test_emu_admin_do("POST", "config",
			  "{\"delay_ms\":0,\"post_existing\":\"400\","
			  "\"skew_seconds\":300,\"auth_status\":401}");
	test_emu_admin_do("PUT", "callbacks/k1", "{}");
	test_emu_admin_do("PUT", "callbacks/k2", "{}");
	test_emu_admin_do(
		"POST", "accounts",
		"{\"api_key\":\"k1\",\"api_secret\":\"s1\",\"username\":"
		"\"u1\"}");
	test_emu_admin_do(
		"POST", "accounts",
		"{\"api_key\":\"k2\",\"api_secret\":\"s2\",\"username\":"
		"\"u2\"}");
	test_emu_admin_do("DELETE", "requests", NULL);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	ps_config_free(f->cfg);
	ps_state_free(f->st);
	assert_int_equal(nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
	free(f);
	return 0;
}

static void load(struct fx *f, const char *yaml)
{
	ps_diags d = PS_DIAGS_INIT;

	ps_config_free(f->cfg);
	f->cfg = NULL;
	if (ps_config_parse(&f->cfg, "t.yaml", yaml, strlen(yaml), NULL, &d) <
	    0)
		fail_msg("config: %s", d.count ? d.items[0].message : "?");
	ps_diags_clear(&d);
}

static void open_state(struct fx *f)
{
	ps_error e;
	char path[128];

	ps_state_free(f->st);
	f->st = NULL;
	snprintf(path, sizeof(path), "%s/state", f->dir);
	if (ps_state_open(&f->st, path, NULL, PS_STATE_CREATE, &e) < 0)
		fail_msg("state: %s", e.message);
}

static ps_plan *build(struct fx *f, const json_t *live, bool prune)
{
	ps_plan *p = NULL;
	ps_plan_opts o;
	ps_error e;

	memset(&o, 0, sizeof(o));
	o.prune = prune;
	o.api_url = test_emu_url;
	if (ps_plan_build(&p, f->cfg, f->st, live, NULL, &o, &e) < 0)
		fail_msg("plan: %s", e.message);
	return p;
}

/* One account at a time, so that the emulator's request log has one
 * order. */
static void opts(ps_apply_opts *ro)
{
	memset(ro, 0, sizeof(*ro));
	ps_api_opts_init(&ro->api);
	ro->api.base_url = test_emu_url;
	ro->api.retries = 0;
	ro->api.timeout_ms = 10000;
	ro->concurrency = 1;
}

/* Apply with the library; returns ps_apply_run's result. */
static int run(ps_plan *p)
{
	ps_apply_opts ro;
	ps_error e;

	opts(&ro);
	ps_error_clear(&e);
	return ps_apply_run(p, &ro, false, &e);
}

static void commit(struct fx *f, ps_plan *p)
{
	char id[41];
	ps_error e;

	if (ps_apply_commit(id, p, f->st, &e) < 0)
		fail_msg("commit: %s", e.message);
	assert_int_not_equal(id[0], '\0');
	open_state(f);
}

static const ps_change *change(const ps_plan *p, const char *account,
			       const char *event)
{
	size_t i, j;

	for (i = 0; i < p->naccounts; i++)
		for (j = 0; j < p->accounts[i].nchanges; j++)
			if (!strcmp(p->accounts[i].name, account) &&
			    !strcmp(p->accounts[i].changes[j].event, event))
				return &p->accounts[i].changes[j];
	fail_msg("no change %s/%s", account, event);
	return NULL;
}

/* The url the emulator stores for key/event, or NULL. New string. */
static char *stored_url(const char *key, const char *event)
{
	ps_buf path = PS_BUF_INIT;
	json_t *all;
	const char *url;
	char *out;

	ps_buf_printf(&path, "callbacks/%s", key);
	all = test_emu_admin("GET", path.ptr, NULL);
	url = json_string_value(
		json_object_get(json_object_get(all, event), "url"));
	out = url ? ps_strdup(url) : NULL;
	json_decref(all);
	ps_buf_release(&path);
	return out;
}

static const char one_account_yaml[] = "version: 1\n"
				       "accounts:\n"
				       "  main:\n"
				       "    api_key: ${T_KEY1}\n"
				       "    api_secret: ${T_SECRET1}\n"
				       "    username: u1\n"
				       "    callbacks:\n"
				       "      SESSION:COMPLETE:\n"
				       "        url: https://h.example.com/c\n"
				       "        payload: {a: 1}\n"
				       "      SESSION:STAGE_CHANGE:\n"
				       "        url: https://h.example.com/s\n";

/* ------------------------------------------------------------------ */
/* Cases                                                                */

/* Every change done, in the emulator's storage and in the snapshot: the
 * next plan has nothing to do (and takes the fast path). */
static void applied_plan_is_then_unchanged(void **state)
{
	struct fx *f = *state;
	ps_plan *p;
	char *url;

	load(f, one_account_yaml);
	open_state(f);
	p = build(f, NULL, false);
	assert_int_equal(ps_plan_changes(p), 2);
	assert_int_equal(run(p), 0);
	assert_int_equal(change(p, "main", EV)->status, PS_DONE);
	assert_int_equal(change(p, "main", EV2)->status, PS_DONE);
	assert_requests("POST /v1/callbacks, POST /v1/callbacks");
	url = stored_url("k1", EV);
	assert_string_equal(url, "https://h.example.com/c");
	free(url);
	commit(f, p);
	ps_plan_free(p);

	p = build(f, NULL, false);
	assert_int_equal(ps_plan_changes(p), 0);
	assert_int_equal(p->nunchanged, 2);
	assert_true(p->accounts[0].settled);
	ps_plan_free(p);
}

/* create → POST, and PUT when the server says the event exists; update →
 * PUT, and POST when the server says it does not; delete of an event the
 * server lacks is done. */
static void create_update_and_delete_fall_back(void **state)
{
	struct fx *f = *state;
	ps_plan *p;
	char *url;

	load(f, one_account_yaml);
	open_state(f);
	/* The server already has EV: POST answers 400 "exists". */
	test_emu_admin_do("PUT", "callbacks/k1",
			  "{\"" EV "\":{\"url\":\"https://old.example.com\"}}");
	p = build(f, NULL, false);
	assert_int_equal(change(p, "main", EV)->action, PS_CREATE);
	assert_int_equal(run(p), 0);
	assert_int_equal(change(p, "main", EV)->status, PS_DONE);
	assert_requests("POST /v1/callbacks, PUT /v1/callbacks/" EV
			", POST /v1/callbacks");
	url = stored_url("k1", EV);
	assert_string_equal(url, "https://h.example.com/c");
	free(url);
	commit(f, p);
	ps_plan_free(p);

	/* The server lost everything; the config moves EV and drops EV2. */
	test_emu_admin_do("PUT", "callbacks/k1", "{}");
	test_emu_admin_do("DELETE", "requests", NULL);
	load(f, "version: 1\n"
		"accounts:\n"
		"  main:\n"
		"    api_key: ${T_KEY1}\n"
		"    api_secret: ${T_SECRET1}\n"
		"    username: u1\n"
		"    callbacks:\n"
		"      SESSION:COMPLETE:\n"
		"        url: https://h.example.com/moved\n");
	p = build(f, NULL, true);
	assert_int_equal(change(p, "main", EV)->action, PS_UPDATE);
	assert_int_equal(change(p, "main", EV2)->action, PS_DELETE);
	assert_int_equal(run(p), 0);
	assert_int_equal(change(p, "main", EV)->status, PS_DONE);
	assert_int_equal(change(p, "main", EV2)->status, PS_DONE);
	assert_requests("PUT /v1/callbacks/" EV ", POST /v1/callbacks, "
			"DELETE /v1/callbacks/" EV2);
	url = stored_url("k1", EV);
	assert_string_equal(url, "https://h.example.com/moved");
	free(url);
	commit(f, p);
	ps_plan_free(p);
	p = build(f, NULL, true);
	assert_int_equal(ps_plan_changes(p), 0);
	ps_plan_free(p);
}

/* The server drops a field: the change failed, and the snapshot records
 * the echoed callback as live (not as applied), so the next plan sees the
 * difference again instead of trusting what was sent. */
static void echo_mismatch_fails_and_records_the_echo(void **state)
{
	struct fx *f = *state;
	ps_plan *p;
	const ps_change *c;
	const json_t *doc, *live_cb;
	json_t *after;

	load(f, one_account_yaml);
	open_state(f);
	test_emu_admin_do("POST", "faults",
			  "{\"method\":\"POST\",\"event\":\"" EV
			  "\",\"drop_field\":\"payload\"}");
	p = build(f, NULL, false);
	assert_int_equal(run(p), PS_ERROR);
	c = change(p, "main", EV);
	assert_int_equal(c->status, PS_FAILED);
	assert_false(c->skipped);
	assert_non_null(strstr(c->error, "payload"));
	assert_int_equal(change(p, "main", EV2)->status, PS_DONE);
	after = json_incref(c->after);
	commit(f, p);
	ps_plan_free(p);

	doc = ps_state_get(f->st, "main");
	assert_non_null(doc);
	/* Last applied: only what succeeded. */
	assert_null(json_object_get(json_object_get(doc, "callbacks"), EV));
	assert_non_null(
		json_object_get(json_object_get(doc, "callbacks"), EV2));
	/* Live: what the server echoed, which is not what was sent. */
	live_cb = json_object_get(json_object_get(doc, "live"), EV);
	assert_non_null(live_cb);
	assert_false(json_equal(live_cb, after));
	json_decref(after);

	test_emu_admin_do("DELETE", "faults", NULL);
	p = build(f, NULL, false);
	assert_int_equal(ps_plan_changes(p), 1);
	assert_int_equal(change(p, "main", EV)->action, PS_UPDATE);
	ps_plan_free(p);
}

static const char two_accounts_yaml[] =
	"version: 1\n"
	"accounts:\n"
	"  east:\n"
	"    api_key: ${T_KEY1}\n"
	"    api_secret: ${T_SECRET1}\n"
	"    username: u1\n"
	"    callbacks:\n"
	"      SESSION:COMPLETE:\n"
	"        url: https://h.example.com/east\n"
	"  west:\n"
	"    api_key: ${T_KEY2}\n"
	"    api_secret: ${T_SECRET2}\n"
	"    username: u2\n"
	"    callbacks:\n"
	"      SESSION:COMPLETE:\n"
	"        url: https://h.example.com/c\n"
	"      SESSION:STAGE_CHANGE:\n"
	"        url: https://h.example.com/s\n";

/* A 401 stops that account: its first change fails with the server's
 * answer, the rest are skipped without a request, the account carries the
 * error; the other account is applied. */
static void auth_failure_stops_the_account(void **state)
{
	struct fx *f = *state;
	ps_plan *p;
	const ps_change *c;
	const ps_account_plan *west;
	const json_t *doc;

	load(f, two_accounts_yaml);
	open_state(f);
	/* The server no longer knows west's secret. */
	test_emu_admin_do("POST", "accounts",
			  "{\"api_key\":\"k2\",\"api_secret\":\"rotated\","
			  "\"username\":\"u2\"}");
	p = build(f, NULL, false);
	assert_int_equal(ps_plan_changes(p), 3);
	assert_int_equal(run(p), PS_ERROR);
	assert_int_equal(change(p, "east", EV)->status, PS_DONE);
	c = change(p, "west", EV);
	assert_int_equal(c->status, PS_FAILED);
	assert_false(c->skipped);
	assert_non_null(strstr(c->error, "401"));
	c = change(p, "west", EV2);
	assert_int_equal(c->status, PS_FAILED);
	assert_true(c->skipped);
	assert_non_null(strstr(c->error, "not tried"));
	west = &p->accounts[1];
	assert_string_equal(west->name, "west");
	assert_non_null(west->error);
	/* east's POST, west's one POST: nothing after the 401. */
	assert_requests("POST /v1/callbacks, POST /v1/callbacks");
	commit(f, p);
	ps_plan_free(p);
	doc = ps_state_get(f->st, "east");
	assert_non_null(json_object_get(json_object_get(doc, "callbacks"), EV));
	doc = ps_state_get(f->st, "west");
	assert_true(!doc ||
		    !json_object_size(json_object_get(doc, "callbacks")));
}

/* ps_live_read: an account read goes into *live, one that cannot be read
 * into *errors; that is not the function's failure. */
static void live_read_reports_each_account(void **state)
{
	struct fx *f = *state;
	ps_apply_opts ro;
	json_t *live = NULL, *errors = NULL;
	ps_error e;

	load(f, two_accounts_yaml);
	test_emu_admin_do("PUT", "callbacks/k1",
			  "{\"" EV
			  "\":{\"url\":\"https://live.example.com\"}}");
	test_emu_admin_do("POST", "accounts",
			  "{\"api_key\":\"k2\",\"api_secret\":\"rotated\","
			  "\"username\":\"u2\"}");
	opts(&ro);
	ps_error_clear(&e);
	assert_int_equal(ps_live_read(&live, &errors, f->cfg, NULL, &ro, &e),
			 0);
	assert_int_equal(json_array_size(json_object_get(live, "east")), 1);
	assert_null(json_object_get(live, "west"));
	assert_non_null(strstr(
		json_string_value(json_object_get(errors, "west")), "401"));
	assert_null(json_object_get(errors, "east"));
	assert_int_equal(ro.requests, 2);
	json_decref(live);
	json_decref(errors);
}

/* A compact plan (apply without a saved plan) drops an account's maps and
 * its changes' sealed callbacks once planned, and makes them again from
 * the committed document and the config when staging: what it commits is
 * what a full plan commits. */
static void compact_plan_commits_the_same_document(void **state)
{
	struct fx *f = *state;
	char *yaml = ps_strdup(one_account_yaml), *at, *want, *got;
	ps_plan *p, *full;
	json_t *doc;
	ps_plan_opts o;
	ps_error e;

	load(f, one_account_yaml);
	open_state(f);
	p = build(f, NULL, false);
	assert_int_equal(run(p), 0);
	commit(f, p);
	ps_plan_free(p);

	/* The config moves one event; a full plan says what to commit. */
	at = strstr(yaml, "h.example.com/c\n");
	assert_non_null(at);
	memcpy(at, "h.example.com/d", 15);
	load(f, yaml);
	full = build(f, NULL, false);
	assert_int_equal(ps_plan_changes(full), 1);
	assert_false(full->accounts[0].packed);

	memset(&o, 0, sizeof(o));
	o.api_url = test_emu_url;
	o.remember = true;
	o.compact = true;
	if (ps_plan_build(&p, f->cfg, f->st, NULL, NULL, &o, &e) < 0)
		fail_msg("plan: %s", e.message);
	assert_true(p->accounts[0].packed);
	assert_null(p->accounts[0].base);
	assert_null(change(p, "main", EV)->before);
	assert_null(change(p, "main", EV)->after);
	assert_int_equal(p->managed, 2);
	assert_int_equal(run(p), 0);
	assert_int_equal(change(p, "main", EV)->status, PS_DONE);
	commit(f, p);
	ps_plan_free(p);

	/* The full plan's document, with its change done, is what was
	 * committed. */
	json_object_set(full->accounts[0].base, EV,
			change(full, "main", EV)->after);
	json_object_set(full->accounts[0].applied, EV,
			change(full, "main", EV)->after);
	doc = ps_plan_account_doc(&full->accounts[0]);
	want = ps_json_canonical(doc);
	json_decref(doc);
	got = ps_json_canonical(ps_state_get(f->st, "main"));
	assert_string_equal(got, want);
	free(got);
	free(want);
	ps_plan_free(full);
	free(yaml);

	p = build(f, NULL, false);
	assert_int_equal(ps_plan_changes(p), 0);
	ps_plan_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(applied_plan_is_then_unchanged,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			create_update_and_delete_fall_back, setup, teardown),
		cmocka_unit_test_setup_teardown(
			echo_mismatch_fails_and_records_the_echo, setup,
			teardown),
		cmocka_unit_test_setup_teardown(auth_failure_stops_the_account,
						setup, teardown),
		cmocka_unit_test_setup_teardown(live_read_reports_each_account,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			compact_plan_commits_the_same_document, setup,
			teardown),
	};

	return cmocka_run_group_tests(tests, start_emulator, stop_emulator);
}
