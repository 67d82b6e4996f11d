/*
 * The config module's build: from the checked node tree to a ps_config.
 * `defaults` merged under each callback, the callbacks and accounts
 * (secrets from ${VAR} or api_secret_file; many accounts built on two
 * threads), the shorthand form, and the top-level keys.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "config_int.h"
#include "fileio.h"
#include "pave.h"
#include "util.h"
#include "banned.h"

#define SECRET_FILE_MAX 4096

static const char *const top_keys[] = {
	"version",  "api_url",	 "state_repo", "defaults",
	"accounts", "callbacks", NULL,
};
static const char *const defaults_keys[] = {
	"method",
	"headers",
	"payload",
	NULL,
};
static const char *const callback_keys[] = {
	"url", "method", "headers", "payload", NULL,
};
static const char *const shorthand_env[] = {
	"PAVE_API_KEY",
	"PAVE_API_SECRET",
	"PAVE_USERNAME",
	NULL,
};

/* ---- defaults and callbacks ------------------------------------------- */

void ps_cfg_defaults_release(defaults *def)
{
	free(def->method);
	json_decref(def->method_json);
	json_decref(def->headers);
	json_decref(def->payload);
	json_decref(def->payload_ptrs);
	memset(def, 0, sizeof(*def));
}

/*
 * A copy of def that shares no JSON value with it, for another thread:
 * jansson's reference counts change atomically, but json_incref reads the
 * count plainly first, so two threads must not share a value.
 */
static void defaults_copy(defaults *out, const defaults *def)
{
	out->method = def->method ? ps_strdup(def->method) : NULL;
	out->method_sensitive = def->method_sensitive;
	out->method_json = json_deep_copy(def->method_json);
	out->headers = json_deep_copy(def->headers);
	out->payload = json_deep_copy(def->payload);
	out->payload_ptrs = json_deep_copy(def->payload_ptrs);
}

static void get_defaults(const ctx *c, const ps_ynode *v, defaults *def)
{
	const ps_ynode *x;
	bool ok = true;

	if (!v || !ps_cfg_want_map(c, v, "defaults"))
		return;
	ps_cfg_check_keys(c, v, defaults_keys);
	if ((x = ps_ynode_get(v, "method", NULL)))
		def->method = ps_cfg_get_method(c, x, &def->method_sensitive);
	if ((x = ps_ynode_get(v, "headers", NULL)))
		def->headers = ps_cfg_get_headers(c, x, &ok);
	if ((x = ps_ynode_get(v, "payload", NULL)))
		def->payload =
			ps_cfg_get_payload(c, x, &def->payload_ptrs, NULL, &ok);
}

void ps_cfg_defaults_load(const ctx *c, const ps_ynode *v, defaults *def)
{
	memset(def, 0, sizeof(*def));
	get_defaults(c, v, def);
	def->method_json = json_string(def->method ? def->method : "POST");
}

static void add_header(json_t *headers, ptrlist *sens, json_t *entry)
{
	const char *name = json_string_value(json_array_get(entry, 0));

	/* name is an HTTP token: ASCII. */
	json_object_set_nocheck(headers, name, json_array_get(entry, 1));
	ps_cfg_ptrs_add(sens, json_incref(json_array_get(entry, 3)));
}

static void add_payload(json_t *payload, ptrlist *sens, const char *key,
			json_t *value, json_t *ptrs)
{
	json_object_set(payload, key, value);
	if (ptrs)
		ps_cfg_ptrs_extend(sens, ptrs);
}

/* The event key is one PAVE knows; reported (with a suggestion) if not. */
static bool check_event(const ctx *c, const ps_ynode *k)
{
	const char *sugg;
	char *list;

	if (ps_pave_event_is_known(k->text))
		return true;
	sugg = ps_suggest(k->text, ps_pave_events);
	if (sugg) {
		ERR(c, k, "unknown event \"%.100s\" (did you mean \"%s\"?)",
		    k->text, sugg);
	} else {
		list = ps_cfg_join_or(ps_pave_events);
		ERR(c, k, "unknown event \"%.100s\" (expected %s)", k->text,
		    list);
		free(list);
	}
	return false;
}

/* Headers: the callback's win, in the callback's spelling; only the
 * defaults give one object shared by every such callback. New reference;
 * the sensitive pointers are added to *sens. */
static json_t *merge_headers(const ctx *c, const defaults *def, json_t *hdrs,
			     ptrlist *sens)
{
	json_t *headers, *e;
	const char *key;

	if (!hdrs) {
		/* Only the defaults: the same object for every such
		 * callback. */
		if (!c->cache->inherited_headers) {
			ptrlist unused = PTRLIST_INIT;

			c->cache->inherited_headers = json_object();
			if (def->headers)
				json_object_foreach(def->headers, key, e)
					add_header(c->cache->inherited_headers,
						   &unused, e);
			ps_cfg_ptrs_release(&unused);
		}
		headers = json_incref(c->cache->inherited_headers);
		if (def->headers)
			json_object_foreach(def->headers, key, e)
				ps_cfg_ptrs_add(
					sens,
					json_incref(json_array_get(e, 3)));
	} else {
		headers = json_object();
		if (def->headers)
			json_object_foreach(def->headers, key,
					    e) if (!json_object_get(hdrs, key))
				add_header(headers, sens, e);
		json_object_foreach(hdrs, key, e) add_header(headers, sens, e);
	}
	return headers;
}

/* Payload: with default payload keys, a shallow merge where the
 * callback's top-level keys win; without, the callback's own (or one
 * shared empty object). New reference; sensitive pointers go to *sens. */
static json_t *merge_payload(const ctx *c, const defaults *def, json_t *pl,
			     json_t *pl_ptrs, bool merge, ptrlist *sens)
{
	json_t *payload, *e;
	const char *key;
	void *iter;

	if (merge) {
		/* Payload: shallow merge, the callback's top-level keys
		 * win. */
		payload = json_object();
		json_object_foreach(def->payload, key,
				    e) if (!pl || !json_object_get(pl, key))
			add_payload(payload, sens, key, e,
				    json_object_get(def->payload_ptrs, key));
		if (pl) {
			iter = json_object_iter(pl);
			while (iter) {
				key = json_object_iter_key(iter);
				add_payload(payload, sens, key,
					    json_object_iter_value(iter),
					    json_object_get(pl_ptrs, key));
				iter = json_object_iter_next(pl, iter);
			}
		}
	} else if (pl) {
		payload = json_incref(pl);
	} else {
		if (!c->cache->empty_payload)
			c->cache->empty_payload = json_object();
		payload = json_incref(c->cache->empty_payload);
	}
	return payload;
}

/* One callback: event key k, body v. 0, or -1 after reporting. */
static int build_callback(const ctx *c, const defaults *def, const ps_ynode *k,
			  const ps_ynode *v, ps_callback *cb)
{
	const ps_ynode *x, *xk;
	char *url = NULL, *method = NULL;
	bool ok = true, url_sens = false, method_sens = false;
	/* Without default payload keys to merge under it, the callback's own
	 * payload is the result: it is built in place. */
	bool merge = def->payload && json_object_size(def->payload);
	json_t *hdrs = NULL, *pl = NULL, *pl_ptrs = NULL;
	json_t *spec, *headers, *payload;
	ptrlist sens = PTRLIST_INIT;

	memset(cb, 0, sizeof(*cb));
	if (!check_event(c, k))
		ok = false;
	if (!ps_cfg_want_map(c, v, k->text))
		return -1;
	if (ps_cfg_check_keys(c, v, callback_keys))
		ok = false;
	x = ps_ynode_get(v, "url", &xk);
	if (!x) {
		ERR(c, k, "missing required key \"url\" in callback \"%.100s\"",
		    k->text);
		ok = false;
	} else if (!(url = ps_cfg_get_url(c, x, "url", &url_sens))) {
		ok = false;
	}
	if ((x = ps_ynode_get(v, "method", NULL))) {
		if (!(method = ps_cfg_get_method(c, x, &method_sens)))
			ok = false;
	} else {
		method_sens = def->method && def->method_sensitive;
	}
	if ((x = ps_ynode_get(v, "headers", NULL)))
		hdrs = ps_cfg_get_headers(c, x, &ok);
	if ((x = ps_ynode_get(v, "payload", NULL)))
		pl = ps_cfg_get_payload(c, x, merge ? &pl_ptrs : NULL,
					merge ? NULL : &sens, &ok);
	if (!ok)
		goto cleanup;

	if (url_sens)
		ps_cfg_ptrs_add(&sens, json_string("/url"));
	if (method_sens)
		ps_cfg_ptrs_add(&sens, json_string("/method"));
	headers = merge_headers(c, def, hdrs, &sens);
	payload = merge_payload(c, def, pl, pl_ptrs, merge, &sens);
	spec = json_object();
	/* url and method passed ps_cfg_expand's UTF-8 check; the keys are ours.
	 */
	json_object_set_new_nocheck(spec, "url",
				    ps_cfg_cached_url(c->cache, url));
	json_object_set_new_nocheck(spec, "method",
				    method ? json_string_nocheck(method)
					   : json_incref(def->method_json));
	json_object_set_new_nocheck(spec, "headers", headers);
	json_object_set_new_nocheck(spec, "payload", payload);
	cb->event = ps_strdup(k->text);
	cb->spec = spec;
	cb->sensitive = ps_cfg_sorted_unique(&sens, &c->cache->last_sensitive);
	cb->line = k->line;
	cb->column = k->column;

cleanup:
	ps_cfg_ptrs_release(&sens);
	ps_free_secret(url);
	free(method);
	json_decref(hdrs);
	json_decref(pl);
	json_decref(pl_ptrs);
	return ok ? 0 : -1;
}

static int cmp_callback(const void *a, const void *b)
{
	return strcmp(((const ps_callback *)a)->event,
		      ((const ps_callback *)b)->event);
}

/* The callbacks mapping of an account. -1 after reporting. */
static int build_callbacks(const ctx *c, const defaults *def, const ps_ynode *v,
			   ps_account *a)
{
	size_t i;
	int rc = 0;

	if (!ps_cfg_want_map(c, v, "callbacks"))
		return -1;
	a->callbacks = ps_calloc(v->nkids / 2 + 1, sizeof(*a->callbacks));
	for (i = 0; i + 1 < v->nkids; i += 2) {
		ps_callback *cb = &a->callbacks[a->ncallbacks];
		if (build_callback(c, def, v->kids[i], v->kids[i + 1], cb) < 0)
			rc = -1;
		else
			a->ncallbacks++;
	}
	qsort(a->callbacks, a->ncallbacks, sizeof(*a->callbacks), cmp_callback);
	return rc;
}

/* ---- accounts ------------------------------------------------------------ */

/* dir + "/" + path, unless path is absolute or there is no dir. */
static char *resolve_path(const ctx *c, const char *path)
{
	ps_buf b = PS_BUF_INIT;

	if (path[0] == '/' || !c->dir)
		return ps_strdup(path);
	ps_buf_puts(&b, c->dir);
	ps_buf_putc(&b, '/');
	ps_buf_puts(&b, path);
	return ps_buf_detach(&b, NULL);
}

/* api_secret: exactly one ${NAME}, nothing else. */
static char *get_secret_ref(const ctx *c, const ps_ynode *v)
{
	const char *t = v->text;
	size_t j, mark;
	bool used;
	char *s;

	if (v->bad)
		return NULL;
	if (v->kind != PS_YSCALAR) {
		ERR(c, v, "expected a string for \"api_secret\", found %s",
		    ps_ynode_what(v));
		return NULL;
	}
	j = 2;
	if (v->type == PS_YSTRING && t[0] == '$' && t[1] == '{' &&
	    ps_cfg_name_start(t[2])) {
		while (ps_cfg_name_char(t[j]))
			j++;
	}
	if (j == 2 || t[j] != '}' || t[j + 1] != '\0') {
		ERR(c, v,
		    "api_secret must come from ${VAR} or api_secret_file "
		    "(this file is meant to be committed)");
		return NULL;
	}
	mark = c->cache->unknown;
	s = ps_cfg_expand(c, v, &used, NULL);
	if (s && !*s && !ps_cfg_unknown_since(c, mark)) {
		ERR(c, v,
		    "\"api_secret\" is empty (environment variable "
		    "%.*s is set but empty)",
		    (int)(j - 2), t + 2);
		free(s);
		return NULL;
	}
	return s;
}

/* api_secret_file: read at load, at most 4 KiB, trailing newlines cut. */
static char *read_secret_file(const ctx *c, const ps_ynode *v, ps_account *a)
{
	bool sens = false;
	char *path = ps_cfg_get_nonempty(c, v, "api_secret_file", &sens), *full;
	char shown[160], *buf = NULL;
	char *result = NULL;
	struct stat st;
	ps_error e;
	size_t n = 0, got = 0;

	if (!path)
		return NULL;
	if (c->no_env) {
		/* A secret is part of the environment: not read. */
		free(path);
		return ps_strdup("");
	}
	full = resolve_path(c, path);
	if (sens)
		ps_strlcpy(shown, "api_secret_file (path from the environment)",
			   sizeof(shown));
	else
		snprintf(shown, sizeof(shown), "api_secret_file \"%.120s\"",
			 full);
	ps_error_clear(&e);
	/* The message names `shown`, never a path from the environment. */
	if (ps_file_read(&buf, &n, full, SECRET_FILE_MAX, shown, true, &e) <
	    0) {
		ERR(c, v, "%s", e.message);
		goto cleanup;
	}
	got = n;
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (!n) {
		ERR(c, v, "%s is empty (expected the API secret)", shown);
		goto cleanup;
	}
	if (memchr(buf, '\0', n)) {
		ERR(c, v, "%s contains a NUL byte", shown);
		goto cleanup;
	}
	/* A secret others can read is not a secret: the caller warns
	 * (see ps_config_warnings); this is advice, so the load goes on. */
	if (stat(full, &st) == 0 && (st.st_mode & 044)) {
		a->secret_file_mode = (unsigned)(st.st_mode & 07777);
		a->secret_file_line = v->line;
		a->secret_file_column = v->column;
	}
	result = ps_strndup(buf, n);

cleanup:
	if (buf) {
		explicit_bzero(buf, got);
		free(buf);
	}
	ps_free_secret(path);
	free(full);
	return result;
}

int ps_cfg_build_account(const ctx *c, const defaults *def, const ps_ynode *k,
			 const ps_ynode *v, ps_account *a)
{
	const ps_ynode *x, *sk, *fk, *sv, *fv;
	int ok = 1;

	memset(a, 0, sizeof(*a));
	a->name = ps_strdup(k->text);
	a->line = k->line;
	a->column = k->column;
	if (!ps_pave_account_name_is_valid(k->text)) {
		ERR(c, k,
		    "invalid account name \"%.100s\" (expected "
		    "[a-z0-9][a-z0-9_-]{0,62})",
		    k->text);
		ok = 0;
	}
	if (v->bad)
		return -1;
	if (v->kind != PS_YMAPPING) {
		ERR(c, v, "expected a mapping for account \"%.100s\", found %s",
		    k->text, ps_ynode_what(v));
		return -1;
	}
	if (ps_cfg_check_keys(c, v, ps_cfg_account_keys))
		ok = 0;
	if (!(x = ps_ynode_get(v, "api_key", NULL))) {
		ERR(c, k,
		    "missing required key \"api_key\" in account "
		    "\"%.100s\"",
		    k->text);
		ok = 0;
	} else if (!(a->api_key = ps_cfg_get_nonempty(c, x, "api_key", NULL))) {
		ok = 0;
	}
	if (!(x = ps_ynode_get(v, "username", NULL))) {
		ERR(c, k,
		    "missing required key \"username\" in account "
		    "\"%.100s\"",
		    k->text);
		ok = 0;
	} else if (!(a->username =
			     ps_cfg_get_nonempty(c, x, "username", NULL))) {
		ok = 0;
	}
	sv = ps_ynode_get(v, "api_secret", &sk);
	fv = ps_ynode_get(v, "api_secret_file", &fk);
	if (sv && fv) {
		const ps_ynode *later =
			(fk->line > sk->line ||
			 (fk->line == sk->line && fk->column > sk->column))
				? fk
				: sk;
		ERR(c, later,
		    "\"api_secret\" and \"api_secret_file\" cannot "
		    "both be set (choose one)");
		ok = 0;
	} else if (!sv && !fv) {
		ERR(c, k,
		    "missing \"api_secret\" or \"api_secret_file\" in "
		    "account \"%.100s\"",
		    k->text);
		ok = 0;
	} else if (sv) {
		if (!(a->api_secret = get_secret_ref(c, sv)))
			ok = 0;
	} else if (!(a->api_secret = read_secret_file(c, fv, a))) {
		ok = 0;
	}
	if ((x = ps_ynode_get(v, "prune", NULL))) {
		if (x->bad) {
			ok = 0;
		} else if (x->kind != PS_YSCALAR || x->type != PS_YBOOL) {
			ERR(c, x,
			    "expected a boolean (true or false) for "
			    "\"prune\", found %s",
			    ps_ynode_what(x));
			ok = 0;
		} else {
			a->prune = x->bval;
		}
	}
	if ((x = ps_ynode_get(v, "callbacks", NULL)) &&
	    build_callbacks(c, def, x, a) < 0)
		ok = 0;
	if (!ok)
		return -1;
	ps_cfg_account_digest(a);
	return 0;
}

static int cmp_account(const void *a, const void *b)
{
	return strcmp(((const ps_account *)a)->name,
		      ((const ps_account *)b)->name);
}

/*
 * Accounts do not depend on each other, so with many of them the second
 * half is built on another thread while this one builds the first (a
 * 10,000-account file spends a third of its load time here). The worker's
 * diagnostics go to a recorder and are replayed after the first half's,
 * so the result, messages and their order included, is what building the
 * accounts in turn gives. Small files, and callers that want more errors
 * than a recorder can hold exactly, stay on one thread.
 */
#define PARALLEL_MIN_ACCOUNTS 256
#define PARALLEL_MAX_ERRORS 200

typedef struct accounts_job {
	ctx c;
	const defaults *def;
	const ps_ynode *av;
	ps_account *accounts;
	size_t from;
	size_t to;
	size_t n; /* accounts in av */
	ps_ydoc *doc;
	const ps_ypos *pos; /* NULL: the tree must stay whole */
} accounts_job;

static void build_range(const accounts_job *j)
{
	size_t i;

	for (i = j->from; i < j->to; i++) {
		ps_cfg_build_account(&j->c, j->def, j->av->kids[2 * i],
				     j->av->kids[2 * i + 1], &j->accounts[i]);
		/* Nothing reads accounts from…i again: their part of the
		 * tree can go (see ps_ydoc_piecewise). */
		if (j->pos && i + 1 < j->n)
			ps_ydoc_release_between(j->doc, &j->pos[j->from],
						&j->pos[i + 1]);
	}
}

static void *accounts_worker(void *arg)
{
	build_range(arg);
	return NULL;
}

/*
 * The n accounts of mapping av into accounts[0…n). The tree is released
 * as the accounts are built when that is safe: it is the largest thing in
 * memory while the config is built, and nothing reads it afterwards.
 */
static void build_accounts(const ctx *c, const defaults *def, ps_ydoc *doc,
			   const ps_ynode *av, ps_account *accounts, size_t n,
			   ps_cfgpipe *pipe)
{
	accounts_job first = { *c, def, av, accounts, 0, n, n, doc, NULL },
		     second;
	ps_ypos *pos = ps_calloc(n + 1, sizeof(*pos));
	ps_cfgdiag rec;
	defaults copy;
	build_cache cache;
	pthread_t t;
	size_t i;

	if (pipe) {
		/* Built during the parse, but for what it dropped or merged;
		 * in order, so that the diagnostics are too. */
		for (i = 0; i < n; i++)
			if (!ps_cfg_pipe_take(pipe, av->kids[2 * i],
					      av->kids[2 * i + 1], &accounts[i],
					      c->d))
				ps_cfg_build_account(c, def, av->kids[2 * i],
						     av->kids[2 * i + 1],
						     &accounts[i]);
		free(pos);
		return;
	}
	if (ps_ydoc_piecewise(doc, av, pos))
		first.pos = pos;
	if (n < PARALLEL_MIN_ACCOUNTS ||
	    c->d->max_errors > PARALLEL_MAX_ERRORS) {
		build_range(&first);
		free(pos);
		return;
	}
	memset(&rec, 0, sizeof(rec));
	rec.source = c->d->source;
	rec.max_errors = 2 * (c->d->max_errors + 1);
	rec.record = true;
	defaults_copy(&copy, def);
	memset(&cache, 0, sizeof(cache));
	second = first;
	second.c.d = &rec;
	second.c.cache = &cache;
	second.def = &copy;
	first.to = second.from = n / 2;
	if (pthread_create(&t, NULL, accounts_worker, &second)) {
		first.to = n;
		build_range(&first);
	} else {
		build_range(&first);
		pthread_join(t, NULL);
		ps_cfgdiag_replay(c->d, &rec);
	}
	ps_diags_clear(&rec.list);
	ps_cfg_defaults_release(&copy);
	ps_cfg_cache_release(&cache);
	free(pos);
}

/* The top-level callbacks: form: one account "default" from the
 * environment. */
static int build_shorthand(const ctx *c, const defaults *def, const ps_ynode *k,
			   const ps_ynode *v, ps_account *a)
{
	const char *vals[3];
	int ok = 1, i;

	memset(a, 0, sizeof(*a));
	a->name = ps_strdup("default");
	a->line = k->line;
	a->column = k->column;
	for (i = 0; i < 3; i++) {
		vals[i] = getenv(shorthand_env[i]);
		if (c->no_env && !vals[i])
			vals[i] = "";
		else if (!vals[i] || !*vals[i]) {
			ERR(c, k,
			    "environment variable %s is %s (the top-level "
			    "\"callbacks\" form takes the credentials from "
			    "PAVE_API_KEY, PAVE_API_SECRET and PAVE_USERNAME)",
			    shorthand_env[i], vals[i] ? "empty" : "not set");
			ok = 0;
		}
	}
	if (ok) {
		a->api_key = ps_strdup(vals[0]);
		a->api_secret = ps_strdup(vals[1]);
		a->username = ps_strdup(vals[2]);
	}
	if (build_callbacks(c, def, v, a) < 0)
		ok = 0;
	if (!ok)
		return -1;
	ps_cfg_account_digest(a);
	return 0;
}

/* ---- the whole file -------------------------------------------------- */

static const char *const expected_top =
	"expected a mapping with version: 1 and accounts or callbacks";

void ps_cfg_build(const ctx *c, ps_ydoc *doc, ps_config *cfg, ps_cfgpipe *pipe)
{
	const ps_ynode *root = doc->root, *x, *xk, *ak, *av, *ck, *cv, *dv;
	defaults def;

	memset(&def, 0, sizeof(def));
	if (!root) {
		ps_cfgdiag_add(c->d, PS_EINVALID, 1, 1,
			       "%s, found an empty "
			       "document",
			       expected_top);
		return;
	}
	if (root->bad)
		return;
	if (root->kind != PS_YMAPPING) {
		ERR(c, root, "%s, found %s", expected_top, ps_ynode_what(root));
		return;
	}
	ps_cfg_check_keys(c, root, top_keys);

	x = ps_ynode_get(root, "version", &xk);
	if (!x) {
		ERR(c, root,
		    "missing required key \"version\" (expected "
		    "version: 1)");
	} else if (x->bad) {
		/* reported */
	} else if (x->kind == PS_YSCALAR && x->type == PS_YINT) {
		if (x->ival != 1)
			ERR(c, x, "unsupported version %lld (expected 1)",
			    (long long)x->ival);
	} else {
		ERR(c, x, "expected the integer 1 for \"version\", found %s",
		    ps_ynode_what(x));
	}
	if ((x = ps_ynode_get(root, "api_url", NULL)))
		cfg->api_url = ps_cfg_get_url(c, x, "api_url", NULL);
	if ((x = ps_ynode_get(root, "state_repo", NULL))) {
		char *s = ps_cfg_get_nonempty(c, x, "state_repo", NULL);
		if (s)
			cfg->state_repo = resolve_path(c, s);
		free(s);
	}
	dv = ps_ynode_get(root, "defaults", NULL);
	ps_cfg_defaults_load(c, dv, &def);
	if (!ps_cfg_pipe_usable(pipe, dv))
		pipe = NULL;

	av = ps_ynode_get(root, "accounts", &ak);
	cv = ps_ynode_get(root, "callbacks", &ck);
	if (av && cv) {
		const ps_ynode *later =
			(ck->line > ak->line ||
			 (ck->line == ak->line && ck->column > ak->column))
				? ck
				: ak;
		ERR(c, later,
		    "\"accounts\" and \"callbacks\" cannot both be "
		    "set (use \"accounts\" for several accounts, \"callbacks\" "
		    "for one)");
	} else if (!av && !cv) {
		ERR(c, root, "missing \"accounts\" or \"callbacks\" (%s)",
		    expected_top);
	}
	if (av && ps_cfg_want_map(c, av, "accounts")) {
		cfg->naccounts = av->nkids / 2;
		cfg->accounts =
			ps_calloc(cfg->naccounts + 1, sizeof(*cfg->accounts));
		build_accounts(c, &def, doc, av, cfg->accounts, cfg->naccounts,
			       pipe);
		qsort(cfg->accounts, cfg->naccounts, sizeof(*cfg->accounts),
		      cmp_account);
	} else if (!av && cv) {
		cfg->shorthand = true;
		cfg->accounts = ps_calloc(1, sizeof(*cfg->accounts));
		cfg->naccounts = 1;
		build_shorthand(c, &def, ck, cv, &cfg->accounts[0]);
	}
	ps_cfg_defaults_release(&def);
}
