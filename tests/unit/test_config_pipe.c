/*
 * Unit tests for building accounts while the config is parsed
 * (reconcile/config_pipe.c, the parser's ps_yaccounts_hook): for every
 * shape of file, the config and the diagnostics (text, place and order)
 * are exactly those of building after the whole parse
 * (PS_CONFIG_NO_PIPELINE). The worker starts after 32 accounts here
 * (ps_cfg_pipe_min_pairs), so that small files reach it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "config_int.h"
#include "config_yaml.h"
#include "json.h"
#include "util.h"
#include "banned.h"

/* ---- helpers ------------------------------------------------------------ */

typedef struct result {
	ps_config *cfg;
	ps_diags diags;
	int rc;
} result;

static void load(result *r, const ps_buf *yaml, const ps_config_limits *lim,
		 unsigned flags)
{
	r->cfg = NULL;
	r->diags = (ps_diags)PS_DIAGS_INIT;
	r->rc = ps_config_parse_flags(&r->cfg, "t.yaml", yaml->ptr, yaml->len,
				      lim, flags, &r->diags);
}

static void result_free(result *r)
{
	ps_config_free(r->cfg);
	ps_diags_clear(&r->diags);
}

static void assert_json_same(const json_t *a, const json_t *b)
{
	char *sa = ps_json_compact(a), *sb = ps_json_compact(b);

	assert_string_equal(sa, sb);
	free(sa);
	free(sb);
}

static void assert_str_same(const char *a, const char *b)
{
	if (!a || !b)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

static void assert_account_same(const ps_account *a, const ps_account *b)
{
	size_t i;

	assert_str_same(a->name, b->name);
	assert_str_same(a->api_key, b->api_key);
	assert_str_same(a->api_secret, b->api_secret);
	assert_str_same(a->username, b->username);
	assert_int_equal(a->prune, b->prune);
	assert_int_equal(a->line, b->line);
	assert_int_equal(a->column, b->column);
	assert_int_equal(a->ncallbacks, b->ncallbacks);
	assert_memory_equal(a->digest, b->digest, PS_ACCOUNT_DIGEST);
	for (i = 0; i < a->ncallbacks; i++) {
		const ps_callback *x = &a->callbacks[i], *y = &b->callbacks[i];
		assert_string_equal(x->event, y->event);
		assert_json_same(x->spec, y->spec);
		assert_json_same(x->sensitive, y->sensitive);
		assert_int_equal(x->line, y->line);
		assert_int_equal(x->column, y->column);
	}
}

/*
 * Load yaml with and without the pipeline; everything must be the same.
 * Returns the number of diagnostics.
 */
static size_t check_same(const ps_buf *yaml, const ps_config_limits *lim)
{
	result a, b;
	char ba[1024], bb[1024];
	size_t i, n;

	load(&a, yaml, lim, 0);
	load(&b, yaml, lim, PS_CONFIG_NO_PIPELINE);
	assert_int_equal(a.rc, b.rc);
	assert_int_equal(a.diags.count, b.diags.count);
	for (i = 0; i < a.diags.count; i++) {
		ps_error_format(&a.diags.items[i], ba, sizeof(ba));
		ps_error_format(&b.diags.items[i], bb, sizeof(bb));
		assert_string_equal(ba, bb);
		assert_int_equal(a.diags.items[i].code, b.diags.items[i].code);
	}
	assert_int_equal(!a.cfg, !b.cfg);
	if (a.cfg) {
		assert_int_equal(a.cfg->naccounts, b.cfg->naccounts);
		for (i = 0; i < a.cfg->naccounts; i++)
			assert_account_same(&a.cfg->accounts[i],
					    &b.cfg->accounts[i]);
	}
	n = a.diags.count;
	result_free(&a);
	result_free(&b);
	return n;
}

#define DEFAULTS                                                               \
	"defaults:\n  method: PUT\n  headers:\n    X-Token: \"${PS_T_TOKEN}\"\n" \
	"  payload:\n    team: ops\n"

/* Account i, indented under "accounts:"; `extra` goes into its body. */
static void put_account(ps_buf *b, size_t i, const char *extra)
{
	ps_buf_printf(b,
		      "  acct%05zu:\n    api_key: key-%zu\n"
		      "    api_secret: ${PS_T_SECRET}\n    username: u%zu\n"
		      "%s    callbacks:\n",
		      i, i, i, extra);
	ps_buf_printf(b,
		      "      SESSION:COMPLETE:\n        url: "
		      "https://h.example/%zu/${PS_T_TOKEN}\n"
		      "        payload: {n: %zu, s: !secret x%zu}\n"
		      "      SESSION:STAGE_CHANGE:\n"
		      "        url: https://h.example/s\n",
		      i, i, i);
}

static void put_accounts(ps_buf *b, size_t from, size_t to)
{
	size_t i;

	for (i = from; i < to; i++)
		put_account(b, i, "");
}

static int setup_env(void **state)
{
	(void)state;
	/* Small files, so that the worker starts early in each. */
	ps_cfg_pipe_min_pairs = 32;
	setenv("PS_T_SECRET", "s3cr3t", 1);
	setenv("PS_T_TOKEN", "tok", 1);
	return 0;
}

/* ---- cases -------------------------------------------------------------- */

static void test_valid_many(void **state)
{
	ps_buf b = PS_BUF_INIT;
	result r;

	(void)state;
	ps_buf_puts(&b, "version: 1\n" DEFAULTS "accounts:\n");
	put_accounts(&b, 0, 700);
	assert_int_equal(check_same(&b, NULL), 0);
	/* And the pipelined load is a good one. */
	load(&r, &b, NULL, 0);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.cfg->naccounts, 700);
	assert_string_equal(r.cfg->accounts[699].api_secret, "s3cr3t");
	result_free(&r);
	ps_buf_release(&b);
}

/* The parse ends with most accounts still queued: the parser thread
 * builds them from the end while the worker goes on from the front. */
static void test_parser_builds_the_rest(void **state)
{
	ps_buf b = PS_BUF_INIT;
	size_t max;

	(void)state;
	ps_buf_puts(&b, "version: 1\n" DEFAULTS "accounts:\n");
	put_accounts(&b, 0, 700);
	for (max = 0; max <= 200; max += 100) {
		ps_cfg_pipe_worker_max = max;
		ps_cfg_pipe_tail_taken = 0;
		assert_int_equal(check_same(&b, NULL), 0);
		assert_true(ps_cfg_pipe_tail_taken >= 700 - max);
	}
	/* With errors, reported in file order all the same. */
	ps_buf_reset(&b);
	ps_buf_puts(&b, "version: 1\naccounts:\n");
	for (max = 0; max < 300; max++)
		put_account(&b, max, max % 7 ? "" : "    prune: maybe\n");
	ps_cfg_pipe_worker_max = 100;
	ps_cfg_pipe_tail_taken = 0;
	assert_true(check_same(&b, NULL) > 40);
	assert_true(ps_cfg_pipe_tail_taken > 0);
	ps_cfg_pipe_worker_max = (size_t)-1;
	ps_buf_release(&b);
}

static void test_defaults_after_accounts(void **state)
{
	ps_buf b = PS_BUF_INIT;
	result r;

	(void)state;
	ps_buf_puts(&b, "version: 1\naccounts:\n");
	put_accounts(&b, 0, 400);
	ps_buf_puts(&b, DEFAULTS);
	assert_int_equal(check_same(&b, NULL), 0);
	load(&r, &b, NULL, 0);
	assert_int_equal(r.rc, 0);
	/* The defaults apply, though they came last. */
	assert_string_equal(
		json_string_value(json_object_get(
			r.cfg->accounts[0].callbacks[0].spec, "method")),
		"PUT");
	result_free(&r);
	ps_buf_release(&b);
}

static void test_errors_in_many_accounts(void **state)
{
	ps_buf b = PS_BUF_INIT;
	ps_config_limits lim;
	size_t i;

	(void)state;
	ps_buf_puts(&b, "version: 1\n" DEFAULTS "accounts:\n");
	for (i = 0; i < 300; i++)
		put_account(&b, i, i % 3 ? "" : "    prune: maybe\n");
	/* Past the default 100 errors: "too many errors" in the same place. */
	assert_true(check_same(&b, NULL) > 90);
	/* More than the worker's recorder holds: the load starts again. */
	ps_buf_reset(&b);
	ps_buf_puts(&b, "version: 1\naccounts:\n");
	for (i = 0; i < 1200; i++)
		put_account(&b, i, "    prune: maybe\n");
	ps_config_limits_init(&lim);
	lim.max_errors = 5000;
	assert_true(check_same(&b, &lim) >= 1000);
	ps_buf_release(&b);
}

static void test_duplicate_and_bad_keys(void **state)
{
	ps_buf b = PS_BUF_INIT;

	(void)state;
	ps_buf_puts(&b, "version: 1\n" DEFAULTS "accounts:\n");
	put_accounts(&b, 0, 100);
	put_account(&b, 50, "    prune: maybe\n"); /* a duplicate */
	ps_buf_puts(&b, "  ? [a, b]\n  : {api_key: k}\n");
	ps_buf_puts(&b, "  !weird tagged: {api_key: k}\n");
	ps_buf_puts(&b, "  BadName: {api_key: k}\n");
	put_accounts(&b, 100, 200);
	assert_true(check_same(&b, NULL) >= 4);
	ps_buf_release(&b);
}

static void test_anchors_and_merge_keys(void **state)
{
	ps_buf b = PS_BUF_INIT;
	size_t i;

	(void)state;
	/* Anchors in accounts, used later in accounts. */
	ps_buf_puts(&b, "version: 1\n" DEFAULTS "accounts:\n");
	put_accounts(&b, 0, 100);
	ps_buf_puts(&b, "  base: &base\n    api_key: k\n"
			"    api_secret: ${PS_T_SECRET}\n    username: u\n"
			"    callbacks: &cbs\n      SESSION:COMPLETE:\n"
			"        url: https://h.example/a\n");
	for (i = 0; i < 100; i++)
		ps_buf_printf(&b,
			      "  m%03zu:\n    <<: *base\n    username: m%zu\n",
			      i, i);
	ps_buf_puts(&b, "  copy: *base\n");
	assert_int_equal(check_same(&b, NULL), 0);

	/* A merge key in the accounts mapping itself, with and without an
	 * anchor. */
	ps_buf_reset(&b);
	ps_buf_puts(&b, "version: 1\naccounts:\n");
	put_accounts(&b, 0, 100);
	ps_buf_puts(&b, "  <<:\n");
	for (i = 0; i < 50; i++)
		ps_buf_printf(&b,
			      "    merged%zu: {api_key: k, username: u, "
			      "api_secret: \"${PS_T_SECRET}\"}\n",
			      i);
	put_accounts(&b, 100, 200);
	put_account(&b, 3, ""); /* explicit keys win over merged ones */
	assert_int_not_equal(check_same(&b, NULL), 0);

	/* Defaults through an alias, defined before the accounts. */
	ps_buf_reset(&b);
	ps_buf_puts(&b, "version: 1\nx-common: &common\n  method: PATCH\n"
			"defaults: *common\naccounts:\n");
	put_accounts(&b, 0, 100);
	assert_int_equal(check_same(&b, NULL), 1); /* "x-common" */
	ps_buf_release(&b);
}

static void test_big_values(void **state)
{
	ps_buf b = PS_BUF_INIT;
	size_t i, j;

	(void)state;
	/* Values big enough for blocks of their own in the tree's arena,
	 * between accounts that are released while parsing. */
	ps_buf_puts(&b, "version: 1\naccounts:\n");
	for (i = 0; i < 200; i++) {
		put_account(&b, i, "");
		if (i % 40 == 7) {
			ps_buf_printf(&b,
				      "      SESSION:NOTE_INSERT:\n        url: "
				      "https://h.example/n\n        payload:\n"
				      "          big: \"");
			for (j = 0; j < 300000; j++)
				ps_buf_putc(&b, 'a' + (char)(j % 26));
			ps_buf_puts(&b, "\"\n");
		}
	}
	assert_int_equal(check_same(&b, NULL), 0);
	ps_buf_release(&b);
}

static void test_early_stop(void **state)
{
	ps_buf b = PS_BUF_INIT;
	ps_config_limits lim;

	(void)state;
	/* A syntax error after many accounts. */
	ps_buf_puts(&b, "version: 1\naccounts:\n");
	put_accounts(&b, 0, 150);
	ps_buf_puts(&b, "  broken: [unclosed\n");
	assert_int_equal(check_same(&b, NULL), 1);
	/* A node limit reached in the middle. */
	ps_buf_reset(&b);
	ps_buf_puts(&b, "version: 1\naccounts:\n");
	put_accounts(&b, 0, 300);
	ps_config_limits_init(&lim);
	lim.max_nodes = 5000;
	assert_int_equal(check_same(&b, &lim), 1);
	ps_buf_release(&b);
}

/* The parser keeps every key of a mapping whose values it released: its
 * end still finds the duplicates. */
static size_t count_and_release(void *arg, const ps_ynode *defs,
				const ps_ynode *k, const ps_ynode *v)
{
	size_t *n = arg;

	(void)defs;
	(void)k;
	(void)v;
	return ++*n; /* done with every pair at once */
}

static void test_parser_releases_values(void **state)
{
	ps_buf b = PS_BUF_INIT;
	ps_yaccounts_hook hook;
	ps_config_limits lim;
	ps_cfgdiag d;
	ps_ydoc doc;
	size_t n = 0;
	const ps_ynode *av;

	(void)state;
	ps_buf_puts(&b, "version: 1\naccounts:\n");
	put_accounts(&b, 0, 2000);
	put_account(&b, 1234, "");
	hook.pair = count_and_release;
	hook.arg = &n;
	ps_config_limits_resolve(&lim, NULL);
	memset(&d, 0, sizeof(d));
	d.source = "t.yaml";
	d.max_errors = 10;
	assert_int_equal(ps_yaml_parse_hooked(&doc, b.ptr, b.len, &lim, &d,
					      &hook),
			 0);
	assert_int_equal(n, 2001);
	assert_true(doc.partial);
	assert_int_equal(d.list.count, 1);
	assert_non_null(strstr(d.list.items[0].message,
			       "duplicate key \"acct01234\""));
	av = ps_ynode_get(doc.root, "accounts", NULL);
	assert_non_null(av);
	assert_int_equal(av->nkids, 4000);
	assert_string_equal(av->kids[3998]->text, "acct01999");
	ps_diags_clear(&d.list);
	ps_ydoc_release(&doc);
	ps_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_many),
		cmocka_unit_test(test_parser_builds_the_rest),
		cmocka_unit_test(test_defaults_after_accounts),
		cmocka_unit_test(test_errors_in_many_accounts),
		cmocka_unit_test(test_duplicate_and_bad_keys),
		cmocka_unit_test(test_anchors_and_merge_keys),
		cmocka_unit_test(test_big_values),
		cmocka_unit_test(test_early_stop),
		cmocka_unit_test(test_parser_releases_values),
	};

	return cmocka_run_group_tests(tests, setup_env, NULL);
}
