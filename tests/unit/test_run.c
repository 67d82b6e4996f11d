/*
 * Unit tests of the run (reconcile/run.c): ps_run_open, ps_run_plan,
 * ps_run_apply and ps_run_close driven without the binary, against the
 * real PAVE API emulator (tests/emulator/pave_emulator.py, started by the
 * group setup on a free port) and a real git repository in a fresh
 * temporary directory per case, read back with git itself.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "buf.h"
#include "testemu.h"
#include "run.h"
#include "testutil.h"
#include "util.h"
#include "banned.h"

#define EV "SESSION:COMPLETE"
#define HOOK "https://hooks.example.com/done"

static const char *const emu_accounts[] = { "k1:s1:u1", NULL };

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

/* Requests the emulator received since the case began. */
static size_t request_count(void)
{
	json_t *log = test_emu_admin("GET", "requests", NULL);
	size_t n = json_array_size(log);

	json_decref(log);
	return n;
}

/* ------------------------------------------------------------------ */
/* A case: a config, a state repository, the notices it was told        */

struct fixture {
	char dir[64];
	char config[128];
	char repo[128];
	ps_buf notices; /* "LEVEL: text\n" each */
};

static void write_config(const struct fixture *fx, const char *secret_var)
{
	FILE *f = fopen(fx->config, "w");

	assert_non_null(f);
	fprintf(f,
		"version: 1\n"
		"accounts:\n"
		"  main:\n"
		"    api_key: k1\n"
		"    api_secret: ${%s}\n"
		"    username: u1\n"
		"    callbacks:\n"
		"      " EV ":\n"
		"        url: " HOOK "\n",
		secret_var);
	assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	ps_strlcpy(fx->dir, "/tmp/pavesync-test-run-XXXXXX", sizeof(fx->dir));
	if (!mkdtemp(fx->dir)) {
		free(fx);
		return -1;
	}
	snprintf(fx->config, sizeof(fx->config), "%s/pavesync.yaml", fx->dir);
	snprintf(fx->repo, sizeof(fx->repo), "%s/state", fx->dir);
	ps_buf_init(&fx->notices, 0);
	setenv("PS_T_SECRET", "s1", 1);
	setenv("PS_T_WRONG", "not-the-secret", 1);
	write_config(fx, "PS_T_SECRET");
	test_emu_admin_do("DELETE", "faults", NULL);
	test_emu_admin_do("PUT", "callbacks/k1", "{}");
	test_emu_admin_do("DELETE", "requests", NULL);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	test_rmtree(fx->dir);
	ps_buf_release(&fx->notices);
	free(fx);
	unsetenv("PS_T_SECRET");
	unsetenv("PS_T_WRONG");
	return 0;
}

static void note(void *ctx, ps_notice_level level, const char *text)
{
	struct fixture *fx = ctx;

	ps_buf_printf(&fx->notices, "%s: %s\n",
		      level == PS_NOTICE_INFO	   ? "info"
		      : level == PS_NOTICE_WARNING ? "warning"
						   : "error",
		      text);
}

static void settings(ps_run_settings *set, struct fixture *fx, bool write)
{
	memset(set, 0, sizeof(*set));
	set->config_path = fx->config;
	set->state_repo = fx->repo;
	set->api_url = test_emu_url;
	set->api_url_source = "the test";
	set->write = write;
	ps_api_opts_init(&set->calls.api);
	set->calls.api.timeout_ms = 30000;
	set->calls.api.retries = 0;
	set->calls.concurrency = 2;
	set->notice = note;
	set->notice_ctx = fx;
}

/* The state ref's commit as git itself reads it ("" when absent). */
static void git_head(char out[41], const char *repo)
{
	ps_buf cmd = PS_BUF_INIT;
	FILE *p;

	ps_buf_printf(&cmd,
		      "git --git-dir='%s' rev-parse --verify -q "
		      "refs/heads/pavesync-state 2>/dev/null",
		      repo);
	p = popen(cmd.ptr, "r");
	assert_non_null(p);
	out[0] = '\0';
	if (!fgets(out, 41, p))
		out[0] = '\0';
	pclose(p);
	ps_buf_release(&cmd);
}

/* One whole apply, as cmd/apply.c runs it without a terminal. */
static void run_apply(struct fixture *fx, char commit[41])
{
	ps_run_settings set;
	ps_run *run = NULL;
	ps_error e;

	ps_error_clear(&e);
	settings(&set, fx, true);
	assert_int_equal(ps_run_open(&run, &set, NULL, &e), 0);
	assert_non_null(run);
	assert_int_equal(ps_run_plan(run, PS_RUN_REFRESH_STALE, &e), 0);
	assert_int_equal(ps_run_record_drift(run, NULL, &e), 0);
	assert_int_equal(ps_run_apply(run, &e), 0);
	ps_strlcpy(commit, run->commit, 41);
	ps_run_close(run);
}

/* ------------------------------------------------------------------ */
/* Cases                                                                */

/* A fresh apply creates the callback through the API and commits the
 * snapshot, which git reads at the commit the run reports. */
static void test_fresh_apply_creates_and_commits(void **state)
{
	struct fixture *fx = *state;
	ps_run_settings set;
	ps_run *run = NULL;
	char head[41];
	json_t *live;
	ps_error e;

	ps_error_clear(&e);
	settings(&set, fx, true);
	assert_int_equal(ps_run_open(&run, &set, NULL, &e), 0);
	assert_int_equal(ps_run_plan(run, PS_RUN_REFRESH_STALE, &e), 0);
	assert_int_equal(ps_plan_changes(run->plan), 1);
	assert_int_equal(run->plan->ncreate, 1);
	assert_int_equal(ps_run_record_drift(run, NULL, &e), 0);
	assert_string_equal(run->refresh_commit, "");
	assert_int_equal(ps_run_apply(run, &e), 0);
	assert_true(run->called);
	assert_false(run->deadline_reached);
	assert_int_equal(run->plan->accounts[0].changes[0].status, PS_DONE);
	assert_int_equal(strlen(run->commit), 40);
	git_head(head, fx->repo);
	assert_string_equal(head, run->commit);
	ps_run_close(run);

	live = test_emu_admin("GET", "callbacks/k1", NULL);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(live, EV), "url")),
			    HOOK);
	json_decref(live);
}

/* After an apply, a second run finds nothing to do: a plan compared with
 * live has no change, and an apply makes no API call and no commit. */
static void test_second_run_plans_no_changes(void **state)
{
	struct fixture *fx = *state;
	ps_run_settings set;
	ps_run *run = NULL;
	char first[41], head[41];
	ps_error e;

	ps_error_clear(&e);
	run_apply(fx, first);
	assert_int_equal(strlen(first), 40);

	settings(&set, fx, false);
	assert_int_equal(ps_run_open(&run, &set, NULL, &e), 0);
	assert_null(run->lock);
	assert_int_equal(ps_run_plan(run, PS_RUN_REFRESH, &e), 0);
	assert_int_equal(ps_plan_changes(run->plan), 0);
	assert_int_equal(run->plan->nunchanged, 1);
	assert_int_equal(json_object_size(run->live_errors), 0);
	ps_run_close(run);

	test_emu_admin_do("DELETE", "requests", NULL);
	settings(&set, fx, true);
	assert_int_equal(ps_run_open(&run, &set, NULL, &e), 0);
	assert_int_equal(ps_run_plan(run, PS_RUN_REFRESH_STALE, &e), 0);
	assert_int_equal(ps_plan_changes(run->plan), 0);
	assert_int_equal(ps_run_apply(run, &e), 0);
	assert_false(run->called);
	assert_string_equal(run->commit, "");
	ps_run_close(run);
	assert_int_equal(request_count(), 0);
	git_head(head, fx->repo);
	assert_string_equal(head, first);
}

/* A writer holding the lock keeps another out (PS_ELOCKED, no run);
 * once it closes, the other gets in. */
static void test_held_lock_is_refused(void **state)
{
	struct fixture *fx = *state;
	ps_run_settings set;
	ps_run *holder = NULL, *other = NULL;
	static ps_run dummy;
	ps_error e;

	ps_error_clear(&e);
	settings(&set, fx, true);
	assert_int_equal(ps_run_open(&holder, &set, NULL, &e), 0);
	assert_non_null(holder->lock);

	other = &dummy; /* ps_run_open must set it to NULL */
	assert_int_equal(ps_run_open(&other, &set, NULL, &e), PS_ELOCKED);
	assert_null(other);
	assert_int_equal(e.code, PS_ELOCKED);
	assert_true(strlen(e.message) > 0);

	ps_run_close(holder);
	ps_error_clear(&e);
	assert_int_equal(ps_run_open(&other, &set, NULL, &e), 0);
	ps_run_close(other);
}

/* The command line's end of a run releases the lock as ps_run_close
 * does (its memory is left to the exit, or freed under AddressSanitizer,
 * whose leak check then holds it to that). */
static void test_close_for_exit_releases_the_lock(void **state)
{
	struct fixture *fx = *state;
	ps_run_settings set;
	ps_run *holder = NULL, *other = NULL;
	ps_error e;

	ps_error_clear(&e);
	settings(&set, fx, true);
	assert_int_equal(ps_run_open(&holder, &set, NULL, &e), 0);
	assert_non_null(holder->lock);
	assert_int_equal(ps_run_plan(holder, 0, &e), 0);
	ps_run_close_for_exit(holder);
	assert_int_equal(ps_run_open(&other, &set, NULL, &e), 0);
	ps_run_close(other);
}

/* A config that does not load: every problem in diags, no run. */
static void test_bad_config_fills_diags(void **state)
{
	struct fixture *fx = *state;
	ps_run_settings set;
	ps_diags diags = PS_DIAGS_INIT;
	ps_run *run = NULL;
	FILE *f = fopen(fx->config, "w");
	ps_error e;

	assert_non_null(f);
	fputs("version: 1\naccounts:\n  main:\n    api_key: [\n", f);
	assert_int_equal(fclose(f), 0);
	ps_error_clear(&e);
	settings(&set, fx, true);
	assert_true(ps_run_open(&run, &set, &diags, &e) < 0);
	assert_null(run);
	assert_true(diags.count > 0);
	assert_non_null(strstr(e.message, "cannot load"));
	ps_diags_clear(&diags);
	/* Nothing was created. */
	assert_int_equal(access(fx->repo, F_OK), -1);
}

/* An account that cannot be read live is not an error of the plan: it is
 * in live_errors, and an error notice says so. */
static void test_live_error_is_a_notice(void **state)
{
	struct fixture *fx = *state;
	ps_run_settings set;
	ps_run *run = NULL;
	ps_error e;

	write_config(fx, "PS_T_WRONG");
	ps_error_clear(&e);
	settings(&set, fx, false);
	assert_int_equal(ps_run_open(&run, &set, NULL, &e), 0);
	assert_int_equal(ps_run_plan(run, PS_RUN_REFRESH, &e), 0);
	assert_non_null(json_object_get(run->live_errors, "main"));
	assert_non_null(strstr(fx->notices.ptr, "error: account main: "));
	assert_null(strstr(fx->notices.ptr, "not-the-secret"));
	ps_run_close(run);
}

/* An API URL that is neither https nor loopback is refused before any
 * call, naming where it came from. */
static void test_url_is_checked_before_calls(void **state)
{
	struct fixture *fx = *state;
	ps_run_settings set;
	ps_run *run = NULL;
	ps_error e;

	ps_error_clear(&e);
	settings(&set, fx, false);
	set.api_url = "http://pave.example.com";
	set.api_url_source = "--api-url";
	assert_int_equal(ps_run_open(&run, &set, NULL, &e), 0);
	assert_true(ps_run_plan(run, PS_RUN_REFRESH, &e) < 0);
	assert_non_null(strstr(e.message, "(from --api-url)"));
	ps_run_close(run);
	assert_int_equal(request_count(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_fresh_apply_creates_and_commits, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_second_run_plans_no_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_held_lock_is_refused,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_close_for_exit_releases_the_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_config_fills_diags,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_error_is_a_notice,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_url_is_checked_before_calls, setup, teardown),
	};

	return cmocka_run_group_tests(tests, start_emulator, stop_emulator);
}
