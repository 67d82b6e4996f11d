/*
 * Unit tests of the import writer (reconcile/import.c): the config it
 * writes from live callbacks reads back, through the config loader, as
 * those same callbacks, and never holds a sensitive value.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "import.h"
#include "seal.h"
#include "testutil.h"
#include "util.h"
#include "banned.h"

#define EV "SESSION:COMPLETE"
#define EV2 "SESSION:STAGE_CHANGE"

struct fixture {
	char dir[64];
	char config[128];
	char out[128];
};

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	ps_strlcpy(fx->dir, "/tmp/pavesync-test-import-XXXXXX",
		   sizeof(fx->dir));
	if (!mkdtemp(fx->dir)) {
		free(fx);
		return -1;
	}
	snprintf(fx->config, sizeof(fx->config), "%s/pavesync.yaml", fx->dir);
	snprintf(fx->out, sizeof(fx->out), "%s/imported.yaml", fx->dir);
	setenv("PS_T_KEY", "key-west", 1);
	setenv("PS_T_SECRET", "secret-west", 1);
	setenv("PS_T_TOKEN", "tok-1", 1);
	setenv("PS_T_SECRET_EAST", "secret-east", 1);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	test_rmtree(fx->dir);
	free(fx);
	unsetenv("PS_T_KEY");
	unsetenv("PS_T_SECRET");
	unsetenv("PS_T_TOKEN");
	unsetenv("PS_T_SECRET_EAST");
	unsetenv("WEST_STAGE_CHANGE_X_TOKEN");
	unsetenv("EAST_API_KEY");
	unsetenv("EAST_API_SECRET");
	unsetenv("EAST_USERNAME");
	return 0;
}

static ps_config *load(const char *path)
{
	ps_diags diags = PS_DIAGS_INIT;
	ps_config *cfg = NULL;
	char line[PS_ERROR_MSG_MAX + PS_ERROR_SOURCE_MAX + 64];
	size_t i;
	int rc = ps_config_load(&cfg, path, NULL, &diags);

	for (i = 0; i < diags.count; i++)
		fprintf(stderr, "%s\n",
			ps_error_format(&diags.items[i], line, sizeof(line)));
	ps_diags_clear(&diags);
	assert_int_equal(rc, 0);
	assert_non_null(cfg);
	return cfg;
}

/* The callback of `acct` for `event` normalised as drift is judged. */
static json_t *normalized(const ps_config *cfg, const char *acct,
			  const char *event)
{
	const ps_account *a = ps_config_account(cfg, acct);
	const ps_callback *cb;

	assert_non_null(a);
	cb = ps_config_account_callback(a, event);
	assert_non_null(cb);
	return ps_seal_normalize(cb->spec);
}

static void assert_same_callback(const json_t *live_raw, const ps_config *cfg,
				 const char *acct, const char *event)
{
	json_t *want = ps_seal_normalize(live_raw);
	json_t *got = normalized(cfg, acct, event);

	assert_non_null(want);
	if (!json_equal(want, got)) {
		char *a = json_dumps(want, JSON_SORT_KEYS);
		char *b = json_dumps(got, JSON_SORT_KEYS);
		fprintf(stderr, "live:     %s\nreadback: %s\n", a, b);
		free(a);
		free(b);
		fail();
	}
	json_decref(want);
	json_decref(got);
}

/*
 * A config with two accounts: west reads its credentials and one header
 * from the environment; east has a literal key and username. Live, west's
 * SESSION:COMPLETE is as the config says, its SESSION:STAGE_CHANGE was
 * made on the dashboard (a header the config does not know, a '$' in the
 * payload), and east has a callback with a non-string payload.
 */
static const char config_text[] =
	"version: 1\n"
	"accounts:\n"
	"  west:\n"
	"    api_key: ${PS_T_KEY}\n"
	"    api_secret: !secret ${PS_T_SECRET}\n"
	"    username: user-west\n"
	"    callbacks:\n"
	"      SESSION:COMPLETE:\n"
	"        url: https://hooks.example.com/west\n"
	"        headers:\n"
	"          X-Token: ${PS_T_TOKEN}\n"
	"  east:\n"
	"    api_key: key-east\n"
	"    api_secret: ${PS_T_SECRET_EAST}\n"
	"    username: user-east\n"
	"    callbacks: {}\n";

static const char live_text[] =
	"{\"west\": ["
	"  {\"event\": \"" EV "\", \"url\": \"https://hooks.example.com/west\","
	"   \"method\": \"POST\", \"headers\": {\"X-Token\": \"tok-1\"},"
	"   \"payload\": {}},"
	"  {\"event\": \"" EV2 "\", \"url\": \"https://hooks.example.com/s\","
	"   \"method\": \"put\", \"headers\": {\"X-Token\": \"dash-tok\"},"
	"   \"payload\": {\"price\": \"$5\", \"n\": [1, 2.5, true, null],"
	"                 \"nested\": {\"b\": \"x\", \"a\": \"y\"}}}"
	" ],"
	" \"east\": ["
	"  {\"event\": \"" EV "\", \"url\": \"https://hooks.example.com/east\","
	"   \"method\": \"GET\", \"headers\": {}, \"payload\": {\"k\": 1}}"
	" ]}";

static void test_round_trip(void **state)
{
	struct fixture *fx = *state;
	const char *const names[] = { "east", "west", NULL };
	ps_buf out = PS_BUF_INIT;
	ps_config *cfg, *back;
	json_t *live, *vars = NULL;
	json_error_t jerr;
	ps_error e;

	ps_error_clear(&e);
	write_file(fx->config, config_text);
	cfg = load(fx->config);
	live = json_loads(live_text, 0, &jerr);
	assert_non_null(live);

	assert_int_equal(ps_import_write(&out, &vars, cfg, live, names, &e), 0);
	assert_int_equal(ps_buf_status(&out), 0);
	assert_non_null(vars);

	/* No sensitive value is written: the config's own text stands for
	 * the token and the credentials, a new variable for the dashboard's
	 * token. */
	assert_null(strstr(out.ptr, "tok-1"));
	assert_null(strstr(out.ptr, "dash-tok"));
	assert_null(strstr(out.ptr, "key-west"));
	assert_null(strstr(out.ptr, "secret-west"));
	assert_non_null(strstr(out.ptr, "\"${PS_T_TOKEN}\""));
	assert_non_null(strstr(out.ptr, "api_secret: !secret"));
	assert_non_null(strstr(out.ptr, "${WEST_STAGE_CHANGE_X_TOKEN}"));
	/* east comes first: the order given. */
	assert_true(strstr(out.ptr, "  east:") < strstr(out.ptr, "  west:"));

	/* Every variable it reads, new ones marked. */
	assert_true(json_is_false(json_object_get(vars, "PS_T_KEY")));
	assert_true(json_is_false(json_object_get(vars, "PS_T_SECRET")));
	assert_true(json_is_false(json_object_get(vars, "PS_T_TOKEN")));
	assert_true(json_is_true(
		json_object_get(vars, "WEST_STAGE_CHANGE_X_TOKEN")));
	assert_null(json_object_get(vars, "EAST_API_KEY"));

	/* Set the new variable to the live value: the config reads back as
	 * exactly the live callbacks. */
	setenv("WEST_STAGE_CHANGE_X_TOKEN", "dash-tok", 1);
	write_file(fx->out, out.ptr);
	back = load(fx->out);
	assert_int_equal(back->naccounts, 2);
	assert_int_equal(ps_config_account(back, "west")->ncallbacks, 2);
	assert_int_equal(ps_config_account(back, "east")->ncallbacks, 1);
	assert_string_equal(ps_config_account(back, "west")->api_key,
			    "key-west");
	assert_string_equal(ps_config_account(back, "west")->api_secret,
			    "secret-west");
	assert_string_equal(ps_config_account(back, "east")->api_key,
			    "key-east");
	assert_same_callback(json_array_get(json_object_get(live, "west"), 0),
			     back, "west", EV);
	assert_same_callback(json_array_get(json_object_get(live, "west"), 1),
			     back, "west", EV2);
	assert_same_callback(json_array_get(json_object_get(live, "east"), 0),
			     back, "east", EV);

	ps_config_free(back);
	ps_config_free(cfg);
	json_decref(live);
	json_decref(vars);
	ps_buf_release(&out);
}

/* Only the accounts named are written; an account without live
 * callbacks is written with an empty map. */
static void test_only_named_accounts(void **state)
{
	struct fixture *fx = *state;
	const char *const names[] = { "east", NULL };
	ps_buf out = PS_BUF_INIT;
	ps_config *cfg, *back;
	json_t *live = json_object(), *vars = NULL;
	ps_error e;

	ps_error_clear(&e);
	write_file(fx->config, config_text);
	cfg = load(fx->config);
	json_object_set_new(live, "east", json_array());
	assert_int_equal(ps_import_write(&out, &vars, cfg, live, names, &e), 0);
	assert_null(strstr(out.ptr, "west"));
	assert_non_null(strstr(out.ptr, "callbacks: {}"));
	write_file(fx->out, out.ptr);
	back = load(fx->out);
	assert_int_equal(back->naccounts, 1);
	assert_int_equal(ps_config_account(back, "east")->ncallbacks, 0);
	ps_config_free(back);
	ps_config_free(cfg);
	json_decref(live);
	json_decref(vars);
	ps_buf_release(&out);
}

/* The config must still be readable: a file removed since it was loaded
 * is the loader's error, and nothing is returned. */
static void test_config_gone(void **state)
{
	struct fixture *fx = *state;
	const char *const names[] = { "east", NULL };
	ps_buf out = PS_BUF_INIT;
	ps_config *cfg;
	json_t *live = json_object(), *vars = json_object();
	ps_error e;

	ps_error_clear(&e);
	write_file(fx->config, config_text);
	cfg = load(fx->config);
	assert_int_equal(unlink(fx->config), 0);
	json_decref(vars);
	vars = NULL;
	assert_true(ps_import_write(&out, &vars, cfg, live, names, &e) < 0);
	assert_null(vars);
	assert_int_not_equal(e.code, 0);
	ps_config_free(cfg);
	json_decref(live);
	ps_buf_release(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_only_named_accounts, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_config_gone, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
