/*
 * Unit tests for the configuration module (reconcile/config.c, SPEC §2).
 * One behaviour per case; every case parses from memory (or from a file in
 * its own temporary directory) and checks the result or the diagnostics.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "buf.h"
#include "config.h"
#include "config_yaml.h"
#include "json.h"
#include "testutil.h"
#include "util.h"
#include "banned.h"

#define SECRET_MAX_TEST 4096

/* ---- helpers ------------------------------------------------------------ */

typedef struct result {
	ps_config *cfg;
	ps_diags diags;
	int rc;
} result;

static void parse_with(result *r, const char *yaml, size_t len,
		       const ps_config_limits *lim)
{
	r->cfg = NULL;
	r->diags = (ps_diags)PS_DIAGS_INIT;
	r->rc = ps_config_parse(&r->cfg, "t.yaml", yaml, len, lim, &r->diags);
}

static void parse(result *r, const char *yaml)
{
	parse_with(r, yaml, strlen(yaml), NULL);
}

static void result_free(result *r)
{
	ps_config_free(r->cfg);
	ps_diags_clear(&r->diags);
}

/* Print the diagnostics, to see why a case failed. */
static void dump(const result *r)
{
	char buf[1024];
	size_t i;

	for (i = 0; i < r->diags.count; i++)
		print_message("  %s\n", ps_error_format(&r->diags.items[i], buf,
							 sizeof(buf)));
}

/* Is there a diagnostic at line:col whose message contains `sub`?
 * line 0 matches any location. */
static bool has_diag(const result *r, int line, int col, const char *sub)
{
	size_t i;

	for (i = 0; i < r->diags.count; i++) {
		const ps_error *e = &r->diags.items[i];
		if ((line == 0 || (e->line == line && e->column == col)) &&
		    strstr(e->message, sub))
			return true;
	}
	dump(r);
	return false;
}

static void assert_ok(result *r)
{
	if (r->rc != 0)
		dump(r);
	assert_int_equal(r->rc, 0);
	assert_non_null(r->cfg);
	assert_int_equal(r->diags.count, 0);
}

static void assert_fails(result *r, int line, int col, const char *sub)
{
	assert_int_not_equal(r->rc, 0);
	assert_null(r->cfg);
	assert_true(has_diag(r, line, col, sub));
}

static const ps_callback *cb_of(const result *r, const char *account,
				const char *event)
{
	const ps_account *a = ps_config_account(r->cfg, account);

	assert_non_null(a);
	return ps_config_account_callback(a, event);
}

/* The spec (or sensitive list) as compact JSON, for whole-value checks. */
static void assert_json(const json_t *v, const char *want)
{
	char *s = ps_json_compact(v);

	if (strcmp(s, want))
		print_message("got  %s\nwant %s\n", s, want);
	assert_string_equal(s, want);
	free(s);
}

/*
 * Parse `yaml` into a tree only (default limits), for the counters the
 * parser keeps in the document: how far it got before a limit stopped it.
 * *doc must be released.
 */
static int parse_tree(ps_ydoc *doc, const char *yaml, size_t len)
{
	ps_config_limits lim;
	ps_cfgdiag d;
	int rc;

	ps_config_limits_resolve(&lim, NULL);
	memset(&d, 0, sizeof(d));
	d.source = "t.yaml";
	d.max_errors = 10;
	rc = ps_yaml_parse(doc, yaml, len, &lim, &d);
	ps_diags_clear(&d.list);
	return rc;
}

#define HEAD "version: 1\naccounts:\n  main:\n    api_key: k\n" \
	     "    api_secret: ${PS_T_SECRET}\n    username: u\n"

/* A valid file with one account "main" and the given callbacks block,
 * indented by 6 (events) / 8 (fields). */
#define ACCOUNT(cbs) HEAD "    callbacks:\n" cbs

static int setup_env(void **state)
{
	(void)state;
	setenv("PS_T_SECRET", "s3cr3t", 1);
	setenv("PS_T_TOKEN", "tok", 1);
	setenv("PS_T_EMPTY", "", 1);
	unsetenv("PS_T_UNSET");
	setenv("PAVE_API_KEY", "env-key", 1);
	setenv("PAVE_API_SECRET", "env-secret", 1);
	setenv("PAVE_USERNAME", "env-user", 1);
	return 0;
}

/* A temporary directory with one file in it; returns the file's path. */
static char *temp_file(char *dir, size_t dirlen, const char *name,
		       const char *data, size_t len)
{
	ps_buf b = PS_BUF_INIT;
	FILE *f;

	ps_strlcpy(dir, "/tmp/ps_test_config.XXXXXX", dirlen);
	assert_non_null(mkdtemp(dir));
	ps_buf_printf(&b, "%s/%s", dir, name);
	f = fopen(b.ptr, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
	return ps_buf_detach(&b, NULL);
}

static void write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

/* ---- the two forms -------------------------------------------------- */

static void test_minimal_accounts_form(void **state)
{
	result r;
	const ps_account *a;
	const ps_callback *cb;

	(void)state;
	parse(&r, ACCOUNT("      SESSION:COMPLETE:\n"
			  "        url: https://h.example.com/done\n"));
	assert_ok(&r);
	assert_false(r.cfg->shorthand);
	assert_int_equal(r.cfg->naccounts, 1);
	a = &r.cfg->accounts[0];
	assert_string_equal(a->name, "main");
	assert_string_equal(a->api_key, "k");
	assert_string_equal(a->api_secret, "s3cr3t");
	assert_string_equal(a->username, "u");
	assert_false(a->prune);
	assert_int_equal(a->ncallbacks, 1);
	cb = &a->callbacks[0];
	assert_string_equal(cb->event, "SESSION:COMPLETE");
	assert_int_equal(cb->line, 8);
	assert_int_equal(cb->column, 7);
	assert_json(cb->spec, "{\"headers\":{},\"method\":\"POST\",\"payload\":{},"
		    "\"url\":\"https://h.example.com/done\"}");
	assert_json(cb->sensitive, "[]");
	assert_string_equal(r.cfg->path, "t.yaml");
	assert_null(r.cfg->api_url);
	assert_null(r.cfg->state_repo);
	result_free(&r);
}

static void test_shorthand_form_reads_env(void **state)
{
	result r;
	const ps_account *a;

	(void)state;
	parse(&r, "version: 1\ncallbacks:\n  SESSION:COMPLETE:\n"
		  "    url: https://h.example.com/x\n");
	assert_ok(&r);
	assert_true(r.cfg->shorthand);
	assert_int_equal(r.cfg->naccounts, 1);
	a = ps_config_account(r.cfg, "default");
	assert_non_null(a);
	assert_string_equal(a->api_key, "env-key");
	assert_string_equal(a->api_secret, "env-secret");
	assert_string_equal(a->username, "env-user");
	assert_non_null(ps_config_account_callback(a, "SESSION:COMPLETE"));
	result_free(&r);
}

static void test_shorthand_missing_env_located_at_key(void **state)
{
	result r;

	(void)state;
	unsetenv("PAVE_API_SECRET");
	parse(&r, "version: 1\ncallbacks:\n  SESSION:COMPLETE:\n"
		  "    url: https://h.example.com/x\n");
	setenv("PAVE_API_SECRET", "env-secret", 1);
	assert_fails(&r, 2, 1, "environment variable PAVE_API_SECRET is not set");
	assert_int_equal(r.diags.count, 1);
	result_free(&r);
}

static void test_accounts_and_callbacks_both_rejected(void **state)
{
	result r;

	(void)state;
	parse(&r, ACCOUNT("      SESSION:COMPLETE: {url: https://a.example}\n")
		  "callbacks: {}\n");
	assert_fails(&r, 9, 1, "cannot both be set");
	result_free(&r);
}

static void test_neither_accounts_nor_callbacks(void **state)
{
	result r;

	(void)state;
	parse(&r, "version: 1\n");
	assert_fails(&r, 1, 1, "missing \"accounts\" or \"callbacks\"");
	result_free(&r);
}

static void test_accounts_sorted_callbacks_sorted(void **state)
{
	result r;

	(void)state;
	parse(&r, "version: 1\naccounts:\n"
		  "  zeta: {api_key: a, api_secret: '${PS_T_SECRET}', username: u,"
		  " callbacks: {SESSION:STATUS_CHANGE: {url: 'http://x'},"
		  " SESSION:COMPLETE: {url: 'http://y'}}}\n"
		  "  alpha: {api_key: b, api_secret: '${PS_T_SECRET}', username: u}\n");
	assert_ok(&r);
	assert_int_equal(r.cfg->naccounts, 2);
	assert_string_equal(r.cfg->accounts[0].name, "alpha");
	assert_string_equal(r.cfg->accounts[1].name, "zeta");
	assert_int_equal(r.cfg->accounts[0].ncallbacks, 0);
	assert_int_equal(r.cfg->accounts[1].ncallbacks, 2);
	assert_string_equal(r.cfg->accounts[1].callbacks[0].event,
			    "SESSION:COMPLETE");
	assert_string_equal(r.cfg->accounts[1].callbacks[1].event,
			    "SESSION:STATUS_CHANGE");
	result_free(&r);
}

static void test_lookups(void **state)
{
	result r;
	const ps_account *a;

	(void)state;
	parse(&r, ACCOUNT("      SESSION:COMPLETE: {url: 'https://a.example'}\n"
			  "      SESSION:NOTE_INSERT: {url: 'https://b.example'}\n"));
	assert_ok(&r);
	a = ps_config_account(r.cfg, "main");
	assert_non_null(a);
	assert_null(ps_config_account(r.cfg, "other"));
	assert_null(ps_config_account(NULL, "main"));
	assert_non_null(ps_config_account_callback(a, "SESSION:NOTE_INSERT"));
	assert_string_equal(ps_config_account_callback(a, "SESSION:COMPLETE")->event,
			    "SESSION:COMPLETE");
	assert_null(ps_config_account_callback(a, "SESSION:SMS_PROCESS"));
	assert_null(ps_config_account_callback(NULL, "SESSION:COMPLETE"));
	result_free(&r);
}

/* Load `yaml` from a file with `flags`. */
static void load_flags(result *r, const char *yaml, unsigned flags)
{
	char dir[64];
	char *path = temp_file(dir, sizeof(dir), "p.yaml", yaml, strlen(yaml));

	r->cfg = NULL;
	r->diags = (ps_diags)PS_DIAGS_INIT;
	r->rc = ps_config_load_flags(&r->cfg, path, NULL, flags, &r->diags);
	test_rmtree(dir);
	free(path);
}

static void test_no_env_takes_unset_variables_as_unknown(void **state)
{
	static const char yaml[] =
		"version: 1\n"
		"api_url: ${PS_T_UNSET}\n"
		"accounts:\n"
		"  a:\n"
		"    api_key: ${PS_T_UNSET}\n"
		"    api_secret: ${PS_T_UNSET}\n"
		"    username: u\n"
		"    callbacks:\n"
		"      SESSION:COMPLETE:\n"
		"        url: ${PS_T_UNSET}\n"
		"        method: ${PS_T_UNSET}\n"
		"      SESSION:STAGE_CHANGE:\n"
		"        url: ${PS_T_TOKEN}\n";
	result r;

	(void)state;
	load_flags(&r, yaml, 0);
	assert_int_equal(r.rc, PS_EINVALID);
	assert_true(has_diag(&r, 2, 10, "PS_T_UNSET is not set"));
	result_free(&r);
	/* without the environment only the known value is checked: the URL
	 * built from PS_T_TOKEN ("tok") */
	load_flags(&r, yaml, PS_CONFIG_NO_ENV);
	assert_int_equal(r.rc, PS_EINVALID);
	assert_int_equal(r.diags.count, 1);
	assert_true(has_diag(&r, 13, 14, "invalid URL"));
	result_free(&r);
	load_flags(&r, "version: 1\ncallbacks:\n  SESSION:COMPLETE: {url: \"${PS_T_UNSET}\"}\n",
		   PS_CONFIG_NO_ENV);
	assert_ok(&r);
	result_free(&r);
}

static void test_api_url_plain_http_only_for_loopback(void **state)
{
	static const char *const ok[] = {
		"http://127.0.0.1:8080", "http://127.9.9.9/", "http://localhost",
		"http://LOCALHOST:1/x", "http://[::1]:80", "https://pave.example.com",
		NULL,
	};
	static const char *const bad[] = {
		"http://pave.example.com", "http://128.0.0.1", "http://[::2]",
		"http://user@10.0.0.1/", "http://localhost.example.com", NULL,
	};
	const char *const *u;
	char yaml[256];
	result r;

	(void)state;
	for (u = ok; *u; u++) {
		snprintf(yaml, sizeof(yaml), "version: 1\napi_url: %s\ncallbacks: {}\n", *u);
		parse(&r, yaml);
		if (r.rc)
			dump(&r);
		assert_int_equal(r.rc, 0);
		result_free(&r);
	}
	for (u = bad; *u; u++) {
		snprintf(yaml, sizeof(yaml), "version: 1\napi_url: %s\ncallbacks: {}\n", *u);
		parse(&r, yaml);
		assert_true(has_diag(&r, 2, 10, "\"api_url\" must use https (plain http "
				     "is only allowed for loopback hosts"));
		result_free(&r);
	}
}

static void test_top_level_fields(void **state)
{
	result r;

	(void)state;
	parse(&r, "version: 1\napi_url: http://127.0.0.1:8080\n"
		  "state_repo: state/repo\ncallbacks: {}\n");
	assert_ok(&r);
	assert_string_equal(r.cfg->api_url, "http://127.0.0.1:8080");
	/* "t.yaml" has no directory part: relative to the current one. */
	assert_string_equal(r.cfg->state_repo, "state/repo");
	result_free(&r);
}

static void test_state_repo_relative_to_config_dir(void **state)
{
	ps_config *cfg = NULL;
	ps_diags d = PS_DIAGS_INIT;
	static const char y[] = "version: 1\nstate_repo: st\ncallbacks: {}\n";

	(void)state;
	assert_int_equal(ps_config_parse(&cfg, "/etc/pavesync/p.yaml", y,
					 strlen(y), NULL, &d), 0);
	assert_string_equal(cfg->state_repo, "/etc/pavesync/st");
	ps_config_free(cfg);
	ps_diags_clear(&d);
}

static void test_sha256_of_raw_bytes(void **state)
{
	result r;
	unsigned char want[32];
	static const char y[] = "version: 1\ncallbacks: {}\n";

	(void)state;
	parse(&r, y);
	assert_ok(&r);
	assert_true(EVP_Digest(y, strlen(y), want, NULL, EVP_sha256(), NULL));
	assert_memory_equal(r.cfg->sha256, want, 32);
	result_free(&r);
}

/* The account's digest: the same for the same account wherever it is
 * written, another for any change to what its callbacks would be. */
static const char digest_base[] =
	"version: 1\n"
	"accounts:\n"
	"  main:\n"
	"    api_key: k\n"
	"    api_secret: ${T_DIGEST_SECRET}\n"
	"    username: u\n"
	"    callbacks:\n"
	"      SESSION:COMPLETE:\n"
	"        url: https://h.example.com/c\n"
	"        headers: {X-A: \"1\"}\n"
	"        payload: {n: 1}\n";

static void digest_of(unsigned char out[PS_ACCOUNT_DIGEST], const char *yaml)
{
	result r;

	parse(&r, yaml);
	if (r.rc)
		dump(&r);
	assert_ok(&r);
	assert_int_equal(r.cfg->naccounts, 1);
	memcpy(out, r.cfg->accounts[0].digest, PS_ACCOUNT_DIGEST);
	result_free(&r);
}

/* digest_base with its first `from` replaced by `to`. */
static void digest_with(unsigned char out[PS_ACCOUNT_DIGEST], const char *from,
			const char *to)
{
	const char *at = strstr(digest_base, from);
	char y[1024];

	assert_non_null(at);
	snprintf(y, sizeof(y), "%.*s%s%s", (int)(at - digest_base), digest_base,
		 to, at + strlen(from));
	digest_of(out, y);
}

static void test_account_digest(void **state)
{
	static const char *const changes[][2] = {
		{ "  main:", "  other:" },
		{ "api_key: k", "api_key: k2" },
		{ "/c\n", "/d\n" },
		{ "X-A: \"1\"", "X-A: \"2\"" },
		{ "X-A", "X-B" },
		{ "{n: 1}", "{n: \"1\"}" },
		{ "{n: 1}", "{n: 1.0}" },
		{ "{n: 1}", "{n: !secret 1}" },
		{ "SESSION:COMPLETE", "SESSION:STAGE_CHANGE" },
	};
	unsigned char base[PS_ACCOUNT_DIGEST], d[PS_ACCOUNT_DIGEST];
	size_t i;

	(void)state;
	setenv("T_DIGEST_SECRET", "s", 1);
	setenv("T_DIGEST_OTHER", "s2", 1);
	digest_of(base, digest_base);
	/* Written otherwise, the same account (flow style, comments, the
	 * secret and username, which the callbacks do not hold). */
	digest_of(d, "version: 1\n"
		     "accounts: {main: {api_key: k, "
		     "api_secret: '${T_DIGEST_OTHER}', "
		     "username: v, # comment\n"
		     "  callbacks: {SESSION:COMPLETE: {payload: {n: 1}, "
		     "url: 'https://h.example.com/c', headers: {X-A: '1'}}}}}\n");
	assert_memory_equal(d, base, PS_ACCOUNT_DIGEST);
	for (i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
		digest_with(d, changes[i][0], changes[i][1]);
		if (!memcmp(d, base, PS_ACCOUNT_DIGEST))
			fail_msg("same digest after %s -> %s", changes[i][0],
				 changes[i][1]);
	}
	unsetenv("T_DIGEST_SECRET");
	unsetenv("T_DIGEST_OTHER");
}

static void test_version_must_be_integer_1(void **state)
{
	result r;

	(void)state;
	parse(&r, "version: 2\ncallbacks: {}\n");
	assert_fails(&r, 1, 10, "unsupported version 2 (expected 1)");
	result_free(&r);
	parse(&r, "version: \"1\"\ncallbacks: {}\n");
	assert_fails(&r, 1, 10, "expected the integer 1 for \"version\", found a string");
	result_free(&r);
	parse(&r, "callbacks: {}\n");
	assert_fails(&r, 1, 1, "missing required key \"version\"");
	result_free(&r);
}

/* ---- defaults -------------------------------------------------------- */

static void test_defaults_method(void **state)
{
	result r;

	(void)state;
	parse(&r, "version: 1\ndefaults: {method: put}\ncallbacks:\n"
		  "  SESSION:COMPLETE: {url: 'https://a.example'}\n"
		  "  SESSION:NOTE_INSERT: {url: 'https://a.example', method: GET}\n");
	assert_ok(&r);
	assert_string_equal(json_string_value(json_object_get(
		cb_of(&r, "default", "SESSION:COMPLETE")->spec, "method")), "PUT");
	assert_string_equal(json_string_value(json_object_get(
		cb_of(&r, "default", "SESSION:NOTE_INSERT")->spec, "method")), "GET");
	result_free(&r);
}

static void test_defaults_headers_merge_case_insensitive(void **state)
{
	result r;
	const ps_callback *cb;

	(void)state;
	parse(&r, "version: 1\n"
		  "defaults:\n  headers: {X-Token: d, X-Source: pave}\n"
		  "callbacks:\n  SESSION:COMPLETE:\n    url: https://a.example\n"
		  "    headers: {x-token: mine, X-Extra: e}\n");
	assert_ok(&r);
	cb = cb_of(&r, "default", "SESSION:COMPLETE");
	assert_json(json_object_get(cb->spec, "headers"),
		    "{\"X-Extra\":\"e\",\"X-Source\":\"pave\",\"x-token\":\"mine\"}");
	assert_json(cb->sensitive, "[\"/headers/X-Extra\",\"/headers/X-Source\","
		    "\"/headers/x-token\"]");
	result_free(&r);
}

static void test_defaults_payload_shallow_merge(void **state)
{
	result r;
	const ps_callback *cb;

	(void)state;
	parse(&r, "version: 1\n"
		  "defaults:\n  payload: {a: 1, nested: {x: 1, y: 2}, tok: '${PS_T_TOKEN}'}\n"
		  "callbacks:\n  SESSION:COMPLETE:\n    url: https://a.example\n"
		  "    payload: {nested: {z: 3}, b: 2}\n"
		  "  SESSION:NOTE_INSERT: {url: 'https://a.example', payload: {tok: plain}}\n");
	assert_ok(&r);
	cb = cb_of(&r, "default", "SESSION:COMPLETE");
	assert_json(json_object_get(cb->spec, "payload"),
		    "{\"a\":1,\"b\":2,\"nested\":{\"z\":3},\"tok\":\"tok\"}");
	/* The default's sensitivity comes along with its value... */
	assert_json(cb->sensitive, "[\"/payload/tok\"]");
	/* ...and goes away when the callback overrides the key. */
	cb = cb_of(&r, "default", "SESSION:NOTE_INSERT");
	assert_json(json_object_get(cb->spec, "payload"),
		    "{\"a\":1,\"nested\":{\"x\":1,\"y\":2},\"tok\":\"plain\"}");
	assert_json(cb->sensitive, "[]");
	result_free(&r);
}

static void test_defaults_unknown_key(void **state)
{
	result r;

	(void)state;
	parse(&r, "version: 1\ndefaults: {methd: GET}\ncallbacks: {}\n");
	assert_fails(&r, 2, 12, "unknown key \"methd\" (did you mean \"method\"?)");
	result_free(&r);
}

/* ---- interpolation --------------------------------------------------- */

static const char *payload_str(result *r, const char *key)
{
	const ps_callback *cb = cb_of(r, "default", "SESSION:COMPLETE");

	return json_string_value(json_object_get(json_object_get(cb->spec,
							"payload"), key));
}

#define ONE_PAYLOAD(p) "version: 1\ncallbacks:\n  SESSION:COMPLETE:\n" \
	"    url: https://a.example\n    payload:\n" p

static void test_interp_var(void **state)
{
	result r;

	(void)state;
	parse(&r, ONE_PAYLOAD("      v: a-${PS_T_TOKEN}-b\n"));
	assert_ok(&r);
	assert_string_equal(payload_str(&r, "v"), "a-tok-b");
	result_free(&r);
}

static void test_interp_fallback_when_unset_or_empty(void **state)
{
	result r;

	(void)state;
	parse(&r, ONE_PAYLOAD("      u: ${PS_T_UNSET:-fb 1}\n"
			      "      e: ${PS_T_EMPTY:-fb2}\n"
			      "      s: ${PS_T_TOKEN:-fb3}\n"
			      "      l: '${PS_T_UNSET:-$$x}'\n"
			      "      z: ${PS_T_UNSET:-}\n"));
	assert_ok(&r);
	assert_string_equal(payload_str(&r, "u"), "fb 1");
	assert_string_equal(payload_str(&r, "e"), "fb2");
	assert_string_equal(payload_str(&r, "s"), "tok");
	/* The fallback is literal text: no $$ processing inside it. */
	assert_string_equal(payload_str(&r, "l"), "$$x");
	assert_string_equal(payload_str(&r, "z"), "");
	result_free(&r);
}

static void test_interp_empty_var_without_fallback(void **state)
{
	result r;

	(void)state;
	parse(&r, ONE_PAYLOAD("      v: x${PS_T_EMPTY}y\n"));
	assert_ok(&r);
	assert_string_equal(payload_str(&r, "v"), "xy");
	result_free(&r);
}

static void test_interp_dollar_escapes(void **state)
{
	result r;

	(void)state;
	parse(&r, ONE_PAYLOAD("      a: cost $$5\n"
			      "      b: $${PS_T_TOKEN}\n"
			      "      c: a$b $ $\n"
			      "      d: 'end$'\n"));
	assert_ok(&r);
	assert_string_equal(payload_str(&r, "a"), "cost $5");
	assert_string_equal(payload_str(&r, "b"), "${PS_T_TOKEN}");
	assert_string_equal(payload_str(&r, "c"), "a$b $ $");
	assert_string_equal(payload_str(&r, "d"), "end$");
	/* $$ alone is not an environment reference: not sensitive. */
	assert_json(cb_of(&r, "default", "SESSION:COMPLETE")->sensitive, "[]");
	result_free(&r);
}

static void test_interp_unset_located_at_reference(void **state)
{
	result r;

	(void)state;
	/* line 6: "      v: 'x ${PS_T_UNSET} ${PS_T_UNSET2}'" */
	unsetenv("PS_T_UNSET2");
	parse(&r, ONE_PAYLOAD("      v: 'x ${PS_T_UNSET} ${PS_T_UNSET2}'\n"));
	assert_fails(&r, 6, 13, "environment variable PS_T_UNSET is not set");
	assert_true(has_diag(&r, 6, 27, "environment variable PS_T_UNSET2 is not set"));
	result_free(&r);
}

static void test_interp_unset_in_multiline_scalar_at_start(void **state)
{
	result r;

	(void)state;
	parse(&r, ONE_PAYLOAD("      v: >-\n        folded\n        ${PS_T_UNSET}\n"));
	assert_fails(&r, 6, 10, "environment variable PS_T_UNSET is not set");
	result_free(&r);
}

static void test_interp_malformed(void **state)
{
	result r;

	(void)state;
	parse(&r, ONE_PAYLOAD("      a: 'x ${PS_T_TOKEN'\n"
			      "      b: '${1BAD}'\n"
			      "      c: '${}'\n"
			      "      d: '${A:x}'\n"));
	assert_fails(&r, 6, 13, "malformed variable reference");
	assert_true(has_diag(&r, 7, 11, "malformed variable reference"));
	assert_true(has_diag(&r, 8, 11, "malformed variable reference"));
	assert_true(has_diag(&r, 9, 11, "malformed variable reference"));
	result_free(&r);
}

static void test_interp_plain_scalar_with_ref_is_string(void **state)
{
	result r;
	const ps_callback *cb;

	(void)state;
	setenv("PS_T_PORT", "8080", 1);
	parse(&r, ONE_PAYLOAD("      port: ${PS_T_PORT}\n"));
	assert_ok(&r);
	cb = cb_of(&r, "default", "SESSION:COMPLETE");
	assert_json(json_object_get(cb->spec, "payload"), "{\"port\":\"8080\"}");
	assert_json(cb->sensitive, "[\"/payload/port\"]");
	result_free(&r);
}

static void test_interp_not_applied_to_keys(void **state)
{
	result r;

	(void)state;
	parse(&r, ONE_PAYLOAD("      \"${PS_T_UNSET}\": 1\n"));
	assert_ok(&r);
	assert_json(json_object_get(cb_of(&r, "default", "SESSION:COMPLETE")->spec,
				    "payload"), "{\"${PS_T_UNSET}\":1}");
	result_free(&r);
}

static void test_interp_url_validated_after_expansion(void **state)
{
	result r;

	(void)state;
	setenv("PS_T_URL", "https://hooks.example.com/p", 1);
	setenv("PS_T_BADURL", "ftp://secret-host/p", 1);
	parse(&r, "version: 1\ncallbacks:\n"
		  "  SESSION:COMPLETE: {url: '${PS_T_URL}'}\n");
	assert_ok(&r);
	assert_json(cb_of(&r, "default", "SESSION:COMPLETE")->sensitive,
		    "[\"/url\"]");
	result_free(&r);
	parse(&r, "version: 1\ncallbacks:\n"
		  "  SESSION:COMPLETE: {url: '${PS_T_BADURL}'}\n");
	assert_fails(&r, 3, 27, "invalid URL for \"url\"");
	/* The URL came from the environment: it is not echoed. */
	assert_null(strstr(r.diags.items[0].message, "secret-host"));
	result_free(&r);
}

/* ---- secrets ---------------------------------------------------------- */

static void test_api_secret_literal_rejected(void **state)
{
	result r;

	(void)state;
	parse(&r, "version: 1\naccounts:\n  main:\n    api_key: k\n"
		  "    api_secret: hunter2\n    username: u\n");
	assert_fails(&r, 5, 17, "api_secret must come from ${VAR} or "
		     "api_secret_file (this file is meant to be committed)");
	assert_null(strstr(r.diags.items[0].message, "hunter2"));
	result_free(&r);
}

static void test_api_secret_with_fallback_or_text_rejected(void **state)
{
	result r;

	(void)state;
	parse(&r, "version: 1\naccounts:\n  main:\n    api_key: k\n"
		  "    api_secret: ${PS_T_SECRET:-hunter2}\n    username: u\n");
	assert_fails(&r, 5, 17, "api_secret must come from ${VAR}");
	result_free(&r);
	parse(&r, "version: 1\naccounts:\n  main:\n    api_key: k\n"
		  "    api_secret: x${PS_T_SECRET}\n    username: u\n");
	assert_fails(&r, 5, 17, "api_secret must come from ${VAR}");
	result_free(&r);
}

static void test_api_secret_unset_variable(void **state)
{
	result r;

	(void)state;
	parse(&r, "version: 1\naccounts:\n  main:\n    api_key: k\n"
		  "    api_secret: ${PS_T_UNSET}\n    username: u\n");
	assert_fails(&r, 5, 17, "environment variable PS_T_UNSET is not set");
	result_free(&r);
}

static void test_api_secret_file_read(void **state)
{
	char dir[64], sub[128], path2[160];
	char *path;
	ps_config *cfg = NULL;
	ps_diags d = PS_DIAGS_INIT;
	static const char y[] = "version: 1\naccounts:\n  main:\n    api_key: k\n"
		"    api_secret_file: secrets/pave\n    username: u\n";

	(void)state;
	path = temp_file(dir, sizeof(dir), "p.yaml", y, strlen(y));
	snprintf(sub, sizeof(sub), "%s/secrets", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	snprintf(path2, sizeof(path2), "%s/pave", sub);
	write_file(path2, "from-file\n\r\n", 12);
	assert_int_equal(ps_config_load(&cfg, path, NULL, &d), 0);
	assert_string_equal(cfg->accounts[0].api_secret, "from-file");
	ps_config_free(cfg);
	ps_diags_clear(&d);
	test_rmtree(dir);
	free(path);
}

static void test_api_secret_file_problems(void **state)
{
	char dir[64], big[SECRET_MAX_TEST + 1];
	char *path, other[160];
	result r;
	static const char y[] = "version: 1\naccounts:\n"
		"  a: {api_key: k, username: u, api_secret_file: empty}\n"
		"  b: {api_key: k, username: u, api_secret_file: missing}\n"
		"  c: {api_key: k, username: u, api_secret_file: big}\n";

	(void)state;
	path = temp_file(dir, sizeof(dir), "p.yaml", y, strlen(y));
	snprintf(other, sizeof(other), "%s/empty", dir);
	write_file(other, "\n", 1);
	snprintf(other, sizeof(other), "%s/big", dir);
	memset(big, 'x', sizeof(big));
	write_file(other, big, sizeof(big));
	r.cfg = NULL;
	r.diags = (ps_diags)PS_DIAGS_INIT;
	r.rc = ps_config_load(&r.cfg, path, NULL, &r.diags);
	assert_fails(&r, 3, 49, "is empty");
	assert_true(has_diag(&r, 4, 49, "cannot read api_secret_file"));
	assert_true(has_diag(&r, 4, 49, "No such file or directory"));
	assert_true(has_diag(&r, 5, 49, "is larger than 4096 bytes"));
	result_free(&r);
	test_rmtree(dir);
	free(path);
}

static void test_api_secret_and_file_both(void **state)
{
	result r;

	(void)state;
	parse(&r, "version: 1\naccounts:\n  main:\n    api_key: k\n"
		  "    api_secret: ${PS_T_SECRET}\n    api_secret_file: /x\n"
		  "    username: u\n");
	assert_fails(&r, 6, 5, "\"api_secret\" and \"api_secret_file\" cannot both be set");
	result_free(&r);
	parse(&r, "version: 1\naccounts:\n  main:\n    api_key: k\n"
		  "    username: u\n");
	assert_fails(&r, 3, 3, "missing \"api_secret\" or \"api_secret_file\"");
	result_free(&r);
}

static void test_secret_tag_marks_sensitive(void **state)
{
	result r;
	const ps_callback *cb;

	(void)state;
	parse(&r, "version: 1\ncallbacks:\n  SESSION:COMPLETE:\n"
		  "    url: !secret https://a.example/x\n"
		  "    payload:\n"
		  "      k: !secret plain\n"
		  "      m: !secret {a: 1, b: '${PS_T_TOKEN}'}\n"
		  "      s: [1, !secret 2]\n"
		  "      \"a/b~c\": '${PS_T_TOKEN}'\n");
	assert_ok(&r);
	cb = cb_of(&r, "default", "SESSION:COMPLETE");
	assert_json(cb->sensitive, "[\"/payload/a~1b~0c\",\"/payload/k\","
		    "\"/payload/m\",\"/payload/s/1\",\"/url\"]");
	assert_json(json_object_get(cb->spec, "payload"),
		    "{\"a/b~c\":\"tok\",\"k\":\"plain\",\"m\":{\"a\":1,\"b\":\"tok\"},"
		    "\"s\":[1,2]}");
	result_free(&r);
}

static void test_sensitive_list_contents(void **state)
{
	result r;

	(void)state;
	setenv("PS_T_M", "patch", 1);
	parse(&r, "version: 1\ndefaults:\n  headers: {Authorization: 'Bearer ${PS_T_TOKEN}'}\n"
		  "callbacks:\n  SESSION:COMPLETE:\n"
		  "    url: https://a.example/${PS_T_TOKEN}\n"
		  "    method: ${PS_T_M}\n"
		  "    headers: {X-Plain: v}\n"
		  "    payload: {plain: 1, env: 'x${PS_T_TOKEN}', deep: [{e: '${PS_T_TOKEN}'}]}\n");
	assert_ok(&r);
	assert_json(cb_of(&r, "default", "SESSION:COMPLETE")->sensitive,
		    "[\"/headers/Authorization\",\"/headers/X-Plain\",\"/method\","
		    "\"/payload/deep/0/e\",\"/payload/env\",\"/url\"]");
	result_free(&r);
}

/* ---- YAML typing --------------------------------------------------- */

static void test_core_schema_typing(void **state)
{
	result r;

	(void)state;
	parse(&r, ONE_PAYLOAD("      i: 3\n      s: \"3\"\n      q: '3'\n"
			      "      t: true\n      F: False\n      n: ~\n"
			      "      N: NULL\n      e:\n      h: 0x1F\n      o: 0o17\n"
			      "      f: 1.5\n      x: -2.5e3\n      d: .5\n"
			      "      y: yes\n      on: off\n      ts: 2001-12-14\n"
			      "      z: 010\n      p: +7\n"));
	assert_ok(&r);
	assert_json(json_object_get(cb_of(&r, "default", "SESSION:COMPLETE")->spec,
				    "payload"),
		    "{\"F\":false,\"N\":null,\"d\":0.5,\"e\":null,\"f\":1.5,\"h\":31,"
		    "\"i\":3,\"n\":null,\"o\":15,\"on\":\"off\",\"p\":7,\"q\":\"3\","
		    "\"s\":\"3\",\"t\":true,\"ts\":\"2001-12-14\",\"x\":-2500.0,"
		    "\"y\":\"yes\",\"z\":10}");
	result_free(&r);
}

/* Plain integers of every length read as strtoll reads them (a short
 * one takes a quicker path than a long one). */
static void test_core_schema_integer_lengths(void **state)
{
	result r;

	(void)state;
	parse(&r, ONE_PAYLOAD("      a: 123456789012345678\n"
			      "      b: -123456789012345678\n"
			      "      c: 1234567890123456789\n"
			      "      d: 9223372036854775807\n"
			      "      e: -9223372036854775808\n"
			      "      f: -0\n      g: +0012\n      h: 0\n"
			      "      i: 12a\n      j: 1_000\n      k: \"-\"\n"));
	assert_ok(&r);
	assert_json(json_object_get(cb_of(&r, "default", "SESSION:COMPLETE")->spec,
				    "payload"),
		    "{\"a\":123456789012345678,\"b\":-123456789012345678,"
		    "\"c\":1234567890123456789,\"d\":9223372036854775807,"
		    "\"e\":-9223372036854775808,\"f\":0,\"g\":12,\"h\":0,"
		    "\"i\":\"12a\",\"j\":\"1_000\",\"k\":\"-\"}");
	result_free(&r);
	parse(&r, ONE_PAYLOAD("      a: 9223372036854775808\n"));
	assert_fails(&r, 6, 10, "out of range");
	result_free(&r);
}

static void test_core_schema_tags(void **state)
{
	result r;

	(void)state;
	parse(&r, ONE_PAYLOAD("      a: !!str 3\n      b: !!int \"7\"\n"
			      "      c: !!float 1\n      d: !!bool \"true\"\n"
			      "      e: !!null ''\n      f: !!str true\n"));
	assert_ok(&r);
	assert_json(json_object_get(cb_of(&r, "default", "SESSION:COMPLETE")->spec,
				    "payload"),
		    "{\"a\":\"3\",\"b\":7,\"c\":1.0,\"d\":true,\"e\":null,\"f\":\"true\"}");
	result_free(&r);
}

static void test_bad_tags_and_numbers(void **state)
{
	result r;

	(void)state;
	parse(&r, ONE_PAYLOAD("      a: !custom x\n      b: !!int abc\n"
			      "      c: .inf\n      d: -.Inf\n      e: .NaN\n"
			      "      f: 99999999999999999999\n      g: 1e999\n"
			      "      h: !!float .nan\n      i: !!binary aGk=\n"));
	assert_fails(&r, 6, 10, "unsupported tag \"!custom\"");
	assert_true(has_diag(&r, 7, 10, "expected an integer for !!int"));
	assert_true(has_diag(&r, 8, 10, "\".inf\" cannot be represented in JSON"));
	assert_true(has_diag(&r, 9, 10, "cannot be represented in JSON"));
	assert_true(has_diag(&r, 10, 10, "cannot be represented in JSON"));
	assert_true(has_diag(&r, 11, 10, "out of range"));
	assert_true(has_diag(&r, 12, 10, "out of range"));
	assert_true(has_diag(&r, 13, 10, "cannot be represented in JSON"));
	assert_true(has_diag(&r, 14, 10, "unsupported tag \"!!binary\""));
	result_free(&r);
}

static void test_anchors_and_aliases(void **state)
{
	result r;

	(void)state;
	parse(&r, "version: 1\ncallbacks:\n"
		  "  SESSION:COMPLETE: &cb\n    url: https://a.example\n"
		  "    payload: {list: &l [1, 2]}\n"
		  "  SESSION:NOTE_INSERT: *cb\n"
		  "  SESSION:SMS_PROCESS:\n    url: https://b.example\n"
		  "    payload: {again: *l}\n");
	assert_ok(&r);
	assert_json(cb_of(&r, "default", "SESSION:NOTE_INSERT")->spec,
		    "{\"headers\":{},\"method\":\"POST\",\"payload\":{\"list\":[1,2]},"
		    "\"url\":\"https://a.example\"}");
	assert_json(json_object_get(cb_of(&r, "default", "SESSION:SMS_PROCESS")->spec,
				    "payload"), "{\"again\":[1,2]}");
	result_free(&r);
}

static void test_merge_keys(void **state)
{
	result r;

	(void)state;
	parse(&r, "version: 1\ncallbacks:\n"
		  "  SESSION:COMPLETE: &base\n    url: https://a.example\n"
		  "    method: PUT\n    payload: &p {a: 1, b: 2}\n"
		  "  SESSION:NOTE_INSERT:\n    <<: *base\n    method: GET\n"
		  "  SESSION:SMS_PROCESS:\n    url: https://c.example\n"
		  "    payload:\n      <<: [*p, {b: 9, c: 3}]\n      a: 0\n");
	assert_ok(&r);
	assert_json(cb_of(&r, "default", "SESSION:NOTE_INSERT")->spec,
		    "{\"headers\":{},\"method\":\"GET\",\"payload\":{\"a\":1,\"b\":2},"
		    "\"url\":\"https://a.example\"}");
	/* Explicit keys win; among merged mappings the first listed wins. */
	assert_json(json_object_get(cb_of(&r, "default", "SESSION:SMS_PROCESS")->spec,
				    "payload"), "{\"a\":0,\"b\":2,\"c\":3}");
	result_free(&r);
}

static void test_merge_key_needs_mapping(void **state)
{
	result r;

	(void)state;
	parse(&r, ONE_PAYLOAD("      <<: [1]\n"));
	assert_fails(&r, 6, 12, "expected a mapping to merge");
	result_free(&r);
}

static void test_quoted_merge_key_is_plain_key(void **state)
{
	result r;

	(void)state;
	parse(&r, ONE_PAYLOAD("      '<<': x\n"));
	assert_ok(&r);
	assert_string_equal(payload_str(&r, "<<"), "x");
	result_free(&r);
}

/* ---- limits ------------------------------------------------------------- */

static void test_alias_budget_billion_laughs(void **state)
{
	ps_buf b = PS_BUF_INIT;
	ps_ydoc doc;
	result r;
	int i, j;

	(void)state;
	ps_buf_puts(&b, "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
	for (i = 1; i < 10; i++) {
		ps_buf_printf(&b, "a%d: &a%d [", i, i);
		for (j = 0; j < 10; j++)
			ps_buf_printf(&b, "%s*a%d", j ? ", " : "", i - 1);
		ps_buf_puts(&b, "]\n");
	}
	parse_with(&r, b.ptr, b.len, NULL);
	assert_int_equal(r.rc, PS_ELIMIT);
	assert_true(has_diag(&r, 0, 0, "aliases expand to more than 100000 nodes"));
	result_free(&r);
	/* The budget stopped the expansion at the alias that crossed it,
	 * which brings at most one *a3 (11,111 nodes): not at the 10^10
	 * nodes of *a9, nor at whatever other limit would come next. */
	assert_int_equal(parse_tree(&doc, b.ptr, b.len), PS_ELIMIT);
	assert_true(doc.alias_nodes > 100000);
	assert_true(doc.alias_nodes <= 100000 + 11111);
	ps_ydoc_release(&doc);
	ps_buf_release(&b);
}

/* The scalar text a document expands to, as the parser counts it. */
static size_t expanded_bytes(const char *yaml, const ps_config_limits *in,
			     int *rc, ps_cfgdiag *d)
{
	ps_config_limits lim;
	ps_ydoc doc;
	size_t n;

	ps_config_limits_resolve(&lim, in);
	memset(d, 0, sizeof(*d));
	d->source = "t.yaml";
	d->max_errors = 10;
	*rc = ps_yaml_parse(&doc, yaml, strlen(yaml), &lim, d);
	n = doc.expanded_bytes;
	ps_ydoc_release(&doc);
	return n;
}

static void test_alias_bytes_counted(void **state)
{
	ps_config_limits lim;
	ps_cfgdiag d;
	int rc;

	(void)state;
	/* a, b: 2; the anchored 10 bytes; each of 3 aliases 10 more. */
	assert_int_equal(expanded_bytes("a: &s xxxxxxxxxx\nb: [*s, *s, *s]\n",
					NULL, &rc, &d), 42);
	assert_int_equal(rc, 0);
	ps_diags_clear(&d.list);
	/* A mapping anchor counts its whole subtree, nested aliases too:
	 * m k vvv w *v = 9, n 1, then *m again without its key m: 8. */
	assert_int_equal(expanded_bytes("m: &m {k: &v vvv, w: *v}\nn: *m\n",
					NULL, &rc, &d), 18);
	assert_int_equal(rc, 0);
	ps_diags_clear(&d.list);
	/* The limit stops the parse at the alias that crosses it. */
	memset(&lim, 0, sizeof(lim));
	lim.max_expanded_bytes = 25;
	assert_true(expanded_bytes("a: &s xxxxxxxxxx\nb: [*s, *s, *s]\n",
				   &lim, &rc, &d) <= 25 + 10);
	assert_int_equal(rc, PS_ELIMIT);
	assert_int_equal(d.list.count, 1);
	assert_int_equal(d.list.items[0].line, 2);
	assert_int_equal(d.list.items[0].column, 9);
	assert_non_null(strstr(d.list.items[0].message,
			       "aliases expand the document to more than 25 "
			       "bytes of text (limit)"));
	ps_diags_clear(&d.list);
}

/* A 300 KB file: one 100 KB anchored string and 50,000 aliases of it
 * would be 5 GB of text. It stops at the alias that crosses the byte
 * budget, having counted no more than that. */
static void test_alias_amplification_bytes(void **state)
{
	ps_buf b = PS_BUF_INIT;
	ps_cfgdiag d;
	size_t n;
	result r;
	int i, rc;

	(void)state;
	ps_buf_init(&b, 0);
	ps_buf_puts(&b, HEAD "    callbacks:\n      SESSION:COMPLETE:\n"
		    "        url: https://h.example/x\n        payload:\n"
		    "          big: &a \"");
	for (i = 0; i < 100000; i++)
		ps_buf_putc(&b, 'x');
	ps_buf_puts(&b, "\"\n          list: [");
	for (i = 0; i < 50000; i++)
		ps_buf_puts(&b, i ? ", *a" : "*a");
	ps_buf_puts(&b, "]\n");
	n = expanded_bytes(b.ptr, NULL, &rc, &d);
	assert_int_equal(rc, PS_ELIMIT);
	assert_true(n > (size_t)32 * 1024 * 1024);
	assert_true(n <= (size_t)32 * 1024 * 1024 + 100000);
	ps_diags_clear(&d.list);
	parse_with(&r, b.ptr, b.len, NULL);
	assert_int_equal(r.rc, PS_ELIMIT);
	assert_fails(&r, 12, 1354, "aliases expand the document to more than "
		     "33554432 bytes of text (limit)");
	result_free(&r);
	ps_buf_release(&b);
}

/* An aliased string is one JSON value wherever it is used, and one built
 * from ${…} is sensitive at every place. */
static void test_aliased_strings_shared(void **state)
{
	const json_t *pl, *list;
	result r;

	(void)state;
	parse(&r, ACCOUNT("      SESSION:COMPLETE:\n"
			  "        url: https://h.example/x\n"
			  "        payload:\n"
			  "          a: &s some-long-text\n"
			  "          t: &t ${PS_T_TOKEN}\n"
			  "          list: [*s, *s, *t]\n"));
	assert_ok(&r);
	pl = json_object_get(cb_of(&r, "main", "SESSION:COMPLETE")->spec,
			     "payload");
	list = json_object_get(pl, "list");
	assert_ptr_equal(json_object_get(pl, "a"), json_array_get(list, 0));
	assert_ptr_equal(json_array_get(list, 0), json_array_get(list, 1));
	assert_ptr_equal(json_object_get(pl, "t"), json_array_get(list, 2));
	assert_json(cb_of(&r, "main", "SESSION:COMPLETE")->sensitive,
		    "[\"/payload/list/2\",\"/payload/t\"]");
	result_free(&r);
}

static void test_alias_cycle(void **state)
{
	result r;

	(void)state;
	parse(&r, "a: &a [*a]\n");
	assert_fails(&r, 1, 8, "alias cycle");
	result_free(&r);
	parse(&r, "a: &m {k: *m}\n");
	assert_fails(&r, 1, 11, "alias cycle");
	result_free(&r);
}

static void test_undefined_alias(void **state)
{
	result r;

	(void)state;
	parse(&r, "version: 1\ncallbacks: *nope\n");
	assert_fails(&r, 2, 12, "undefined alias \"*nope\"");
	result_free(&r);
}

static void test_depth_bomb_fails_fast(void **state)
{
	size_t n = 200000;
	char *s = ps_malloc(n + 1);
	ps_ydoc doc;
	result r;

	(void)state;
	memset(s, '[', n);
	s[n] = '\0';
	parse_with(&r, s, n, NULL);
	assert_int_equal(r.rc, PS_ELIMIT);
	assert_true(has_diag(&r, 1, 65, "nesting is deeper than 64 levels"));
	result_free(&r);
	/* Stopped at the first level too deep: 64 sequences built, not
	 * 200,000 (libyaml itself has no depth limit). */
	assert_int_equal(parse_tree(&doc, s, n), PS_ELIMIT);
	assert_true(doc.nall <= 64);
	ps_ydoc_release(&doc);
	free(s);
}

static void test_depth_limit_block_and_configurable(void **state)
{
	ps_config_limits lim;
	result r;

	(void)state;
	memset(&lim, 0, sizeof(lim));
	lim.max_depth = 3;
	parse_with(&r, "a:\n  b:\n    c: [x]\n", 18, &lim);
	assert_fails(&r, 3, 8, "nesting is deeper than 3 levels");
	result_free(&r);
}

static void test_depth_through_aliases(void **state)
{
	ps_config_limits lim;
	result r;
	static const char y[] = "a: &a [[[1]]]\nb: [[*a]]\n";

	(void)state;
	memset(&lim, 0, sizeof(lim));
	lim.max_depth = 5;
	parse_with(&r, y, strlen(y), &lim);
	assert_fails(&r, 2, 6, "makes nesting deeper than 5 levels");
	result_free(&r);
}

static void test_file_size_limit(void **state)
{
	ps_config_limits lim;
	result r;
	char dir[64], *path;
	static const char y[] = "version: 1\ncallbacks: {}\n";

	(void)state;
	ps_config_limits_init(&lim);
	lim.max_file_size = 10;
	parse_with(&r, y, strlen(y), &lim);
	assert_int_equal(r.rc, PS_ELIMIT);
	assert_true(has_diag(&r, 0, 0, "larger than 10 bytes"));
	result_free(&r);

	path = temp_file(dir, sizeof(dir), "p.yaml", y, strlen(y));
	r.diags = (ps_diags)PS_DIAGS_INIT;
	r.rc = ps_config_load(&r.cfg, path, &lim, &r.diags);
	assert_int_equal(r.rc, PS_ELIMIT);
	assert_null(r.cfg);
	assert_true(has_diag(&r, 0, 0, "larger than 10 bytes"));
	result_free(&r);
	/* Exactly at the limit is fine. */
	lim.max_file_size = strlen(y);
	r.diags = (ps_diags)PS_DIAGS_INIT;
	r.rc = ps_config_load(&r.cfg, path, &lim, &r.diags);
	assert_ok(&r);
	result_free(&r);
	test_rmtree(dir);
	free(path);
}

static void test_load_missing_file(void **state)
{
	result r;

	(void)state;
	r.diags = (ps_diags)PS_DIAGS_INIT;
	r.rc = ps_config_load(&r.cfg, "/nonexistent/pavesync.yaml", NULL,
			      &r.diags);
	assert_int_equal(r.rc, PS_ENOTFOUND);
	assert_null(r.cfg);
	assert_int_equal(r.diags.count, 1);
	assert_string_equal(r.diags.items[0].source, "/nonexistent/pavesync.yaml");
	result_free(&r);
}

static void test_node_limit(void **state)
{
	ps_config_limits lim;
	result r;
	static const char y[] = "a: [1, 2, 3, 4, 5, 6, 7, 8, 9]\n";

	(void)state;
	memset(&lim, 0, sizeof(lim));
	lim.max_nodes = 5;
	parse_with(&r, y, strlen(y), &lim);
	assert_int_equal(r.rc, PS_ELIMIT);
	assert_true(has_diag(&r, 0, 0, "more than 5 nodes"));
	result_free(&r);
}

static void test_max_errors(void **state)
{
	ps_buf b = PS_BUF_INIT;
	ps_config_limits lim;
	result r;
	int i;

	(void)state;
	memset(&lim, 0, sizeof(lim));
	lim.max_errors = 5;
	ps_buf_puts(&b, "version: 1\n");
	for (i = 0; i < 20; i++)
		ps_buf_printf(&b, "bad%d: 1\n", i);
	ps_buf_puts(&b, "callbacks: {}\n");
	parse_with(&r, b.ptr, b.len, &lim);
	assert_int_equal(r.diags.count, 6);
	assert_true(has_diag(&r, 0, 0, "too many errors"));
	assert_int_equal(r.diags.items[5].line, 0);
	result_free(&r);
	ps_buf_release(&b);
}

/* ---- file-level rejections --------------------------------------------- */

static void test_non_utf8_with_location(void **state)
{
	result r;
	static const char y[] = "version: 1\ncallbacks:\n  # caf\xc3\xa9 \xff\n";

	(void)state;
	parse(&r, y);
	assert_fails(&r, 3, 10, "invalid UTF-8 byte 0xff");
	result_free(&r);
}

static void test_nul_byte_rejected(void **state)
{
	result r;
	static const char y[] = "version: 1\nca\0llbacks: {}\n";

	(void)state;
	parse_with(&r, y, sizeof(y) - 1, NULL);
	assert_fails(&r, 2, 3, "NUL byte");
	result_free(&r);
}

static void test_multi_document_rejected(void **state)
{
	result r;

	(void)state;
	parse(&r, "version: 1\ncallbacks: {}\n---\nversion: 1\n");
	assert_fails(&r, 3, 1, "second YAML document");
	result_free(&r);
}

static void test_empty_file(void **state)
{
	result r;

	(void)state;
	parse(&r, "");
	assert_fails(&r, 1, 1, "expected a mapping with version: 1 and accounts or callbacks");
	result_free(&r);
	parse(&r, "# only a comment\n");
	assert_fails(&r, 1, 1, "expected a mapping with version: 1");
	result_free(&r);
	parse(&r, "- a\n");
	assert_fails(&r, 1, 1, "found a sequence");
	result_free(&r);
}

static void test_syntax_error_location(void **state)
{
	result r;

	(void)state;
	parse(&r, "version: 1\ncallbacks:\n  a: [1, 2\n  b: 3\n");
	assert_int_equal(r.rc, PS_EINVALID);
	assert_int_equal(r.diags.count, 1);
	assert_int_equal(r.diags.items[0].line, 4);
	assert_string_equal(r.diags.items[0].source, "t.yaml");
	result_free(&r);
	parse(&r, "version: 1\n@bad: {}\n");
	assert_fails(&r, 2, 1, "found character that cannot start any token");
	result_free(&r);
}

/* ---- duplicate keys -------------------------------------------------- */

static void test_duplicate_key_top(void **state)
{
	result r;

	(void)state;
	parse(&r, "version: 1\ncallbacks: {}\nversion: 1\n");
	assert_fails(&r, 3, 1, "duplicate key \"version\" (first defined at line 1)");
	result_free(&r);
}

static void test_duplicate_key_account(void **state)
{
	result r;

	(void)state;
	parse(&r, HEAD "    username: v\n");
	assert_fails(&r, 7, 5, "duplicate key \"username\" (first defined at line 6)");
	result_free(&r);
}

static void test_duplicate_key_callback(void **state)
{
	result r;

	(void)state;
	parse(&r, ACCOUNT("      SESSION:COMPLETE:\n        url: https://a.example\n"
			  "        url: https://b.example\n"));
	assert_fails(&r, 10, 9, "duplicate key \"url\" (first defined at line 9)");
	result_free(&r);
}

static void test_duplicate_key_payload(void **state)
{
	result r;

	(void)state;
	parse(&r, ONE_PAYLOAD("      a: {x: 1, x: 2}\n"));
	assert_fails(&r, 6, 17, "duplicate key \"x\" (first defined at line 6)");
	result_free(&r);
}

static void test_duplicate_event_and_account(void **state)
{
	result r;

	(void)state;
	parse(&r, "version: 1\naccounts:\n"
		  "  a: {api_key: k, api_secret: '${PS_T_SECRET}', username: u}\n"
		  "  a: {api_key: k, api_secret: '${PS_T_SECRET}', username: u}\n");
	assert_fails(&r, 4, 3, "duplicate key \"a\" (first defined at line 3)");
	result_free(&r);
}

static void test_duplicate_header_case_insensitive(void **state)
{
	result r;

	(void)state;
	parse(&r, "version: 1\ncallbacks:\n  SESSION:COMPLETE:\n"
		  "    url: https://a.example\n    headers:\n"
		  "      X-A: 1\n      x-a: 2\n");
	assert_fails(&r, 7, 7, "duplicate header \"x-a\" (first defined at line 6");
	result_free(&r);
}

/* ---- unknown keys and events -------------------------------------------- */

static void test_unknown_key_suggestions(void **state)
{
	result r;

	(void)state;
	parse(&r, "version: 1\ncalbacks: {}\n");
	assert_fails(&r, 2, 1, "unknown key \"calbacks\" (did you mean \"callbacks\"?)");
	result_free(&r);
	parse(&r, "version: 1\naccounts:\n  main:\n    api_key: k\n"
		  "    api_secret: ${PS_T_SECRET}\n    usrname: u\n");
	assert_fails(&r, 6, 5, "unknown key \"usrname\" (did you mean \"username\"?)");
	assert_true(has_diag(&r, 3, 3, "missing required key \"username\""));
	result_free(&r);
	parse(&r, ACCOUNT("      SESSION:COMPLETE: {url: 'https://a.example', paylod: {}}\n"));
	assert_fails(&r, 8, 52, "unknown key \"paylod\" (did you mean \"payload\"?)");
	result_free(&r);
}

static void test_unknown_key_without_suggestion(void **state)
{
	result r;

	(void)state;
	parse(&r, "version: 1\nzzzzzzzz: 1\ncallbacks: {}\n");
	assert_fails(&r, 2, 1, "unknown key \"zzzzzzzz\" (expected version, api_url, "
		     "state_repo, defaults, accounts or callbacks)");
	result_free(&r);
}

static void test_unknown_event_suggestion(void **state)
{
	result r;

	(void)state;
	parse(&r, ACCOUNT("      SESSION:COMPLETED:\n        url: https://a.example\n"));
	assert_fails(&r, 8, 7, "unknown event \"SESSION:COMPLETED\" (did you mean "
		     "\"SESSION:COMPLETE\"?)");
	result_free(&r);
}

/* ---- callback values ----------------------------------------------------- */

#define ONE_CB(body) "version: 1\ncallbacks:\n  SESSION:COMPLETE:\n" body

static void test_bad_urls(void **state)
{
	static const char *const bad[] = {
		"ftp://a.example/x", "https://", "https:///path", "a.example",
		"'https://a.example/a b'", "HTTPS://a.example", "http://:80/",
		"\"https://a.example/\\t\"", "http://u@@h/", NULL,
	};
	const char *const *u;

	(void)state;
	for (u = bad; *u; u++) {
		ps_buf b = PS_BUF_INIT;
		result r;
		ps_buf_printf(&b, ONE_CB("    url: %s\n"), *u);
		parse(&r, b.ptr);
		if (r.rc == 0)
			print_message("accepted %s\n", *u);
		assert_fails(&r, 4, 10, "invalid URL");
		result_free(&r);
		ps_buf_release(&b);
	}
}

static void test_good_urls(void **state)
{
	static const char *const good[] = {
		"http://localhost", "https://a.example:8443/x?y=1#z",
		"http://[::1]:8080/", "https://user:pw@h.example/p",
		"http://127.0.0.1", NULL,
	};
	const char *const *u;

	(void)state;
	for (u = good; *u; u++) {
		ps_buf b = PS_BUF_INIT;
		result r;
		ps_buf_printf(&b, ONE_CB("    url: %s\n"), *u);
		parse(&r, b.ptr);
		assert_ok(&r);
		result_free(&r);
		ps_buf_release(&b);
	}
}

static void test_missing_url(void **state)
{
	result r;

	(void)state;
	parse(&r, ONE_CB("    method: GET\n"));
	assert_fails(&r, 3, 3, "missing required key \"url\" in callback \"SESSION:COMPLETE\"");
	result_free(&r);
}

static void test_bad_method(void **state)
{
	result r;

	(void)state;
	parse(&r, ONE_CB("    url: https://a.example\n    method: FETCH\n"));
	assert_fails(&r, 5, 13, "unsupported method \"FETCH\" (expected GET, POST, "
		     "PUT, PATCH or DELETE)");
	result_free(&r);
}

static void test_bad_header_name(void **state)
{
	result r;

	(void)state;
	parse(&r, ONE_CB("    url: https://a.example\n    headers:\n"
			 "      \"X Bad\": 1\n      \"X:y\": 2\n      \"\": 3\n"));
	assert_fails(&r, 6, 7, "invalid header name \"X Bad\"");
	assert_true(has_diag(&r, 7, 7, "invalid header name \"X:y\""));
	assert_true(has_diag(&r, 8, 7, "invalid header name \"\""));
	result_free(&r);
}

static void test_header_value_crlf(void **state)
{
	result r;

	(void)state;
	setenv("PS_T_CRLF", "a\r\nX-Injected: 1", 1);
	parse(&r, ONE_CB("    url: https://a.example\n    headers:\n"
			 "      X-A: \"a\\r\\nb\"\n      X-B: ${PS_T_CRLF}\n"
			 "      X-C: \"a\\x01\"\n"));
	assert_fails(&r, 6, 12, "header \"X-A\" has a line break");
	assert_true(has_diag(&r, 7, 12, "header \"X-B\" has a line break"));
	assert_true(has_diag(&r, 8, 12, "header \"X-C\" has a control character"));
	assert_null(strstr(r.diags.items[1].message, "Injected"));
	result_free(&r);
}

static void test_header_values_scalars_as_text(void **state)
{
	result r;

	(void)state;
	parse(&r, ONE_CB("    url: https://a.example\n    headers:\n"
			 "      X-N: 3\n      X-B: true\n      X-E:\n      X-F: 1.50\n"));
	assert_ok(&r);
	assert_json(json_object_get(cb_of(&r, "default", "SESSION:COMPLETE")->spec,
				    "headers"),
		    "{\"X-B\":\"true\",\"X-E\":\"\",\"X-F\":\"1.50\",\"X-N\":\"3\"}");
	result_free(&r);
}

static void test_non_mapping_headers_and_payload(void **state)
{
	result r;

	(void)state;
	parse(&r, ONE_CB("    url: https://a.example\n    headers: [a]\n"
			 "    payload: text\n"));
	assert_fails(&r, 5, 14, "expected a mapping for \"headers\", found a sequence");
	assert_true(has_diag(&r, 6, 14, "expected a mapping for \"payload\", found a string"));
	result_free(&r);
}

static void test_wrong_scalar_types(void **state)
{
	result r;

	(void)state;
	parse(&r, "version: 1\naccounts:\n  main:\n    api_key: 123\n"
		  "    api_secret: ${PS_T_SECRET}\n    username: u\n    prune: yes\n");
	assert_fails(&r, 4, 14, "expected a string for \"api_key\", found an integer");
	assert_true(has_diag(&r, 7, 12, "expected a boolean (true or false) for \"prune\", found a string"));
	result_free(&r);
}

static void test_prune_true(void **state)
{
	result r;

	(void)state;
	parse(&r, HEAD "    prune: true\n");
	assert_ok(&r);
	assert_true(r.cfg->accounts[0].prune);
	result_free(&r);
}

static void test_invalid_account_name(void **state)
{
	result r;

	(void)state;
	parse(&r, "version: 1\naccounts:\n"
		  "  Main: {api_key: k, api_secret: '${PS_T_SECRET}', username: u}\n");
	assert_fails(&r, 3, 3, "invalid account name \"Main\"");
	result_free(&r);
}

static void test_event_under_account_hint(void **state)
{
	result r;

	(void)state;
	parse(&r, HEAD "    SESSION:COMPLETE: {url: 'https://a.example'}\n");
	assert_fails(&r, 7, 5, "events go under \"callbacks\"");
	result_free(&r);
}

static void test_multiple_errors_reported(void **state)
{
	result r;

	(void)state;
	parse(&r, "version: 1\ncallbacks:\n"
		  "  SESSION:COMPLETE: {url: 'ftp://a'}\n"
		  "  SESSION:NOTE_INSERT: {url: 'https://a.example', method: BREW}\n"
		  "  SESSION:OOPS: {url: 'https://a.example'}\n"
		  "  SESSION:SMS_PROCESS: {url: 'https://a.example', headers: {'a b': 1}}\n");
	assert_int_equal(r.rc, PS_EINVALID);
	assert_null(r.cfg);
	assert_int_equal(r.diags.count, 4);
	/* In file order. */
	assert_int_equal(r.diags.items[0].line, 3);
	assert_int_equal(r.diags.items[1].line, 4);
	assert_int_equal(r.diags.items[2].line, 5);
	assert_int_equal(r.diags.items[3].line, 6);
	result_free(&r);
}

static void test_error_source_is_file_name(void **state)
{
	result r;
	char buf[256];

	(void)state;
	parse(&r, "version: 1\ncallbacks: {}\ncalbacks: {}\n");
	assert_int_equal(r.diags.count, 1);
	assert_string_equal(ps_error_format(&r.diags.items[0], buf, sizeof(buf)),
			    "t.yaml:3:1: unknown key \"calbacks\" (did you mean \"callbacks\"?)");
	result_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal_accounts_form),
		cmocka_unit_test(test_shorthand_form_reads_env),
		cmocka_unit_test(test_shorthand_missing_env_located_at_key),
		cmocka_unit_test(test_accounts_and_callbacks_both_rejected),
		cmocka_unit_test(test_neither_accounts_nor_callbacks),
		cmocka_unit_test(test_accounts_sorted_callbacks_sorted),
		cmocka_unit_test(test_lookups),
		cmocka_unit_test(test_top_level_fields),
		cmocka_unit_test(test_no_env_takes_unset_variables_as_unknown),
		cmocka_unit_test(test_api_url_plain_http_only_for_loopback),
		cmocka_unit_test(test_state_repo_relative_to_config_dir),
		cmocka_unit_test(test_sha256_of_raw_bytes),
		cmocka_unit_test(test_account_digest),
		cmocka_unit_test(test_version_must_be_integer_1),
		cmocka_unit_test(test_defaults_method),
		cmocka_unit_test(test_defaults_headers_merge_case_insensitive),
		cmocka_unit_test(test_defaults_payload_shallow_merge),
		cmocka_unit_test(test_defaults_unknown_key),
		cmocka_unit_test(test_interp_var),
		cmocka_unit_test(test_interp_fallback_when_unset_or_empty),
		cmocka_unit_test(test_interp_empty_var_without_fallback),
		cmocka_unit_test(test_interp_dollar_escapes),
		cmocka_unit_test(test_interp_unset_located_at_reference),
		cmocka_unit_test(test_interp_unset_in_multiline_scalar_at_start),
		cmocka_unit_test(test_interp_malformed),
		cmocka_unit_test(test_interp_plain_scalar_with_ref_is_string),
		cmocka_unit_test(test_interp_not_applied_to_keys),
		cmocka_unit_test(test_interp_url_validated_after_expansion),
		cmocka_unit_test(test_api_secret_literal_rejected),
		cmocka_unit_test(test_api_secret_with_fallback_or_text_rejected),
		cmocka_unit_test(test_api_secret_unset_variable),
		cmocka_unit_test(test_api_secret_file_read),
		cmocka_unit_test(test_api_secret_file_problems),
		cmocka_unit_test(test_api_secret_and_file_both),
		cmocka_unit_test(test_secret_tag_marks_sensitive),
		cmocka_unit_test(test_sensitive_list_contents),
		cmocka_unit_test(test_core_schema_typing),
		cmocka_unit_test(test_core_schema_integer_lengths),
		cmocka_unit_test(test_core_schema_tags),
		cmocka_unit_test(test_bad_tags_and_numbers),
		cmocka_unit_test(test_anchors_and_aliases),
		cmocka_unit_test(test_merge_keys),
		cmocka_unit_test(test_merge_key_needs_mapping),
		cmocka_unit_test(test_quoted_merge_key_is_plain_key),
		cmocka_unit_test(test_alias_budget_billion_laughs),
		cmocka_unit_test(test_alias_bytes_counted),
		cmocka_unit_test(test_alias_amplification_bytes),
		cmocka_unit_test(test_aliased_strings_shared),
		cmocka_unit_test(test_alias_cycle),
		cmocka_unit_test(test_undefined_alias),
		cmocka_unit_test(test_depth_bomb_fails_fast),
		cmocka_unit_test(test_depth_limit_block_and_configurable),
		cmocka_unit_test(test_depth_through_aliases),
		cmocka_unit_test(test_file_size_limit),
		cmocka_unit_test(test_load_missing_file),
		cmocka_unit_test(test_node_limit),
		cmocka_unit_test(test_max_errors),
		cmocka_unit_test(test_non_utf8_with_location),
		cmocka_unit_test(test_nul_byte_rejected),
		cmocka_unit_test(test_multi_document_rejected),
		cmocka_unit_test(test_empty_file),
		cmocka_unit_test(test_syntax_error_location),
		cmocka_unit_test(test_duplicate_key_top),
		cmocka_unit_test(test_duplicate_key_account),
		cmocka_unit_test(test_duplicate_key_callback),
		cmocka_unit_test(test_duplicate_key_payload),
		cmocka_unit_test(test_duplicate_event_and_account),
		cmocka_unit_test(test_duplicate_header_case_insensitive),
		cmocka_unit_test(test_unknown_key_suggestions),
		cmocka_unit_test(test_unknown_key_without_suggestion),
		cmocka_unit_test(test_unknown_event_suggestion),
		cmocka_unit_test(test_bad_urls),
		cmocka_unit_test(test_good_urls),
		cmocka_unit_test(test_missing_url),
		cmocka_unit_test(test_bad_method),
		cmocka_unit_test(test_bad_header_name),
		cmocka_unit_test(test_header_value_crlf),
		cmocka_unit_test(test_header_values_scalars_as_text),
		cmocka_unit_test(test_non_mapping_headers_and_payload),
		cmocka_unit_test(test_wrong_scalar_types),
		cmocka_unit_test(test_prune_true),
		cmocka_unit_test(test_invalid_account_name),
		cmocka_unit_test(test_event_under_account_hint),
		cmocka_unit_test(test_multiple_errors_reported),
		cmocka_unit_test(test_error_source_is_file_name),
	};

	return cmocka_run_group_tests(tests, setup_env, NULL);
}
