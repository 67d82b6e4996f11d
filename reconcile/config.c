/*
 * The configuration file (SPEC §2): load a file, run the parse and the
 * build, sort what they report, look things up in the result, free it.
 *
 * The module's rooms, each calling only the ones below it:
 *   config.c            load, lookups, warnings, free (this file)
 *   config_build.c      defaults, callbacks, accounts: tree -> ps_config
 *   config_check.c      value checks: keys, kinds, URLs, methods, headers
 *   config_json.c       payloads as JSON, sensitive pointers, shared values
 *   config_env.c        ${VAR} interpolation
 *   config_source.c     how the file writes its values (for import)
 *   config_yaml*.c      YAML -> node tree (config_yaml.h)
 *   config_diag.c       diagnostics and limits (config_diag.h)
 *
 * Every problem is reported (one bad callback does not hide the next); the
 * parser only stops early on syntax errors and limits. No message ever
 * contains a value that came from the environment or a secret file.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "fileio.h"
#include "hmac.h"
#include "util.h"
#include "banned.h"

static void callback_release(ps_callback *cb)
{
	free(cb->event);
	json_decref(cb->spec);
	json_decref(cb->sensitive);
}

void ps_cfg_account_release(ps_account *a)
{
	size_t i;

	free(a->name);
	ps_free_secret(a->api_key);
	ps_free_secret(a->api_secret);
	ps_free_secret(a->username);
	for (i = 0; i < a->ncallbacks; i++)
		callback_release(&a->callbacks[i]);
	free(a->callbacks);
	memset(a, 0, sizeof(*a));
}

/*
 * Diagnostics in file order: by line, then column; unlocated ones (line 0)
 * last. Two at the same place keep the order they were found in (their
 * place in the array), which makes the order total, so qsort's result is
 * what a stable sort gives.
 */
static int cmp_diag(const void *pa, const void *pb)
{
	const ps_error *a = *(const ps_error *const *)pa;
	const ps_error *b = *(const ps_error *const *)pb;

	if (!a->line != !b->line)
		return a->line ? -1 : 1;
	if (a->line != b->line)
		return a->line < b->line ? -1 : 1;
	if (a->line && a->column != b->column)
		return a->column < b->column ? -1 : 1;
	return a < b ? -1 : a > b;
}

static void sort_diags(ps_diags *d)
{
	const ps_error **order;
	ps_error *sorted;
	size_t i;

	if (d->count < 2)
		return;
	/* Sort pointers, so that the tie-break can see where each was. */
	order = ps_calloc(d->count, sizeof(*order));
	for (i = 0; i < d->count; i++)
		order[i] = &d->items[i];
	qsort(order, d->count, sizeof(*order), cmp_diag);
	sorted = ps_calloc(d->count, sizeof(*sorted));
	for (i = 0; i < d->count; i++)
		sorted[i] = *order[i];
	memcpy(d->items, sorted, d->count * sizeof(*sorted));
	free(sorted);
	free(order);
}

/* The directory part of a path, or NULL when it has none. */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return NULL;
	if (slash == path)
		return ps_strdup("/");
	return ps_strndup(path, (size_t)(slash - path));
}

/*
 * ps_config_parse; when `owned` is not NULL it is data, malloc'd, and is
 * freed as soon as the tree is built (the tree keeps what the build needs
 * of the input), so that the two are never in memory at once with the
 * config.
 */
static int config_parse(ps_config **out, const char *source_name,
			const char *data, size_t len,
			const ps_config_limits *limits, unsigned flags,
			ps_diags *diags, char *owned)
{
	ps_config_limits lim;
	ps_cfgdiag d;
	ps_config *cfg;
	ps_ydoc doc;
	build_cache cache;
	env_index env;
	ps_yaccounts_hook hook;
	ps_cfgpipe *pipe;
	ctx c;
	size_t i;
	int rc;

	*out = NULL;
	if (!source_name)
		source_name = "<config>";
	if (!data)
		data = "";
	ps_config_limits_resolve(&lim, limits);
	memset(&d, 0, sizeof(d));
	d.source = source_name;
	d.max_errors = lim.max_errors;

	cfg = ps_calloc(1, sizeof(*cfg));
	cfg->path = ps_strdup(source_name);

	memset(&c, 0, sizeof(c));
	c.d = &d;
	c.dir = dir_of(source_name);
	c.no_env = (flags & PS_CONFIG_NO_ENV) != 0;
	memset(&cache, 0, sizeof(cache));
	c.cache = &cache;
	ps_cfg_env_index_build(&env);
	c.env = &env;

	if (len > lim.max_file_size) {
		ps_cfgdiag_add(&d, PS_ELIMIT, 0, 0,
			       "the file is larger than "
			       "%zu bytes (limit)",
			       lim.max_file_size);
	} else {
		pipe = (flags & PS_CONFIG_NO_PIPELINE)
			       ? NULL
			       : ps_cfg_pipe_new(&hook, &c);
		rc = ps_yaml_parse_hooked(&doc, data, len, &lim, &d,
					  pipe ? &hook : NULL);
		ps_cfg_pipe_finish(pipe, rc != 0 || d.full);
		if (rc == 0 && !d.full && pipe && doc.partial &&
		    !ps_cfg_pipe_usable(
			    pipe, ps_ynode_get(doc.root, "defaults", NULL))) {
			/* What the worker built is not what the file says
			 * (e.g. `defaults` after `accounts`), and the tree it
			 * was built from is gone: start again, without it. */
			ps_cfg_pipe_free(pipe);
			pipe = NULL;
			ps_ydoc_release(&doc);
			ps_diags_clear(&d.list);
			d.full = false;
			d.code = 0;
			rc = ps_yaml_parse(&doc, data, len, &lim, &d);
		}
		/* After the parse: by now the state's warm-up thread has
		 * initialised libcrypto (ps_sha256). */
		if (ps_sha256(cfg->sha256, data, len) < 0)
			ps_oom();
		free(owned);
		owned = NULL;
		if (rc == 0 && !d.full)
			ps_cfg_build(&c, &doc, cfg, pipe);
		ps_cfg_pipe_free(pipe);
		ps_ydoc_release(&doc);
	}
	free(c.dir);
	free(env.slots);
	ps_cfg_cache_release(&cache);
	free(owned);

	if (!d.list.count)
		*out = cfg;
	else
		ps_config_free(cfg);
	sort_diags(&d.list);
	for (i = 0; i < d.list.count; i++)
		ps_diags_add(diags, &d.list.items[i]);
	rc = d.list.count ? (d.code ? d.code : PS_EINVALID) : 0;
	ps_diags_clear(&d.list);
	return rc;
}

int ps_config_parse(ps_config **out, const char *source_name, const char *data,
		    size_t len, const ps_config_limits *limits, ps_diags *diags)
{
	return config_parse(out, source_name, data, len, limits, 0, diags,
			    NULL);
}

int ps_config_parse_flags(ps_config **out, const char *source_name,
			  const char *data, size_t len,
			  const ps_config_limits *limits, unsigned flags,
			  ps_diags *diags)
{
	return config_parse(out, source_name, data, len, limits, flags, diags,
			    NULL);
}

int ps_config_load(ps_config **out, const char *path,
		   const ps_config_limits *limits, ps_diags *diags)
{
	return ps_config_load_flags(out, path, limits, 0, diags);
}

int ps_config_load_flags(ps_config **out, const char *path,
			 const ps_config_limits *limits, unsigned flags,
			 ps_diags *diags)
{
	ps_config_limits lim;
	ps_error err;
	char *data;
	size_t len;
	int rc;

	*out = NULL;
	ps_config_limits_resolve(&lim, limits);
	ps_error_clear(&err);
	rc = ps_file_read(&data, &len, path, lim.max_file_size,
			  "the config file", false, &err);
	if (rc < 0) {
		ps_diags_add(diags, &err);
		return rc;
	}
	/* config_parse frees data once it is parsed. */
	return config_parse(out, path, data, len, &lim, flags, diags, data);
}

const ps_account *ps_config_account(const ps_config *cfg, const char *name)
{
	size_t i;

	if (!cfg || !name)
		return NULL;
	for (i = 0; i < cfg->naccounts; i++)
		if (!strcmp(cfg->accounts[i].name, name))
			return &cfg->accounts[i];
	return NULL;
}

const ps_callback *ps_config_account_callback(const ps_account *acct,
					      const char *event)
{
	size_t i;

	if (!acct || !event)
		return NULL;
	for (i = 0; i < acct->ncallbacks; i++)
		if (!strcmp(acct->callbacks[i].event, event))
			return &acct->callbacks[i];
	return NULL;
}

void ps_config_warnings(ps_diags *out, const ps_config *cfg)
{
	size_t i;

	if (!cfg)
		return;
	for (i = 0; i < cfg->naccounts; i++) {
		const ps_account *a = &cfg->accounts[i];
		unsigned m = a->secret_file_mode;
		ps_error e;

		if (!m)
			continue;
		ps_error_clear(&e);
		ps_error_at(&e, 0, cfg->path, a->secret_file_line,
			    a->secret_file_column,
			    "the api_secret_file of "
			    "account \"%s\" is readable by %s (mode %04o; make "
			    "it private: chmod 600)",
			    a->name, (m & 004) ? "every user" : "its group", m);
		ps_diags_add(out, &e);
	}
}

void ps_config_free(ps_config *cfg)
{
	size_t i;

	if (!cfg)
		return;
	for (i = 0; i < cfg->naccounts; i++)
		ps_cfg_account_release(&cfg->accounts[i]);
	free(cfg->accounts);
	free(cfg->path);
	free(cfg->api_url);
	free(cfg->state_repo);
	free(cfg);
}
