/*
 * Private to the config module's build half (config.c, config_env.c,
 * config_check.c, config_json.c, config_build.c): the state a build
 * passes around and the helpers these files share. Not for other modules:
 * config.h is the module's interface.
 */
#ifndef PS_CONFIG_INT_H
#define PS_CONFIG_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "config_yaml.h"

/*
 * Values that many callbacks have alike, made once and shared (each
 * callback holds a reference): a config of many callbacks is much smaller
 * for it. Sharing cannot be seen, as the config is never modified after
 * load and its readers copy what they take. Each build thread has its own
 * cache, so no value is shared between threads (see defaults_copy).
 */
#define URL_CACHE 64
#define INT_CACHE 256

/* The JSON of an anchored string scalar, made once and shared by every
 * alias of it (an alias must not cost a copy of a 100 KB string). */
typedef struct shared_str {
	const ps_ynode *node; /* NULL: a free slot */
	json_t *value;
	bool used; /* built from ${…}: sensitive wherever it is */
} shared_str;

typedef struct build_cache {
	shared_str *shared; /* open addressing by node address */
	size_t nshared;
	size_t ashared;		   /* a power of two, or 0 */
	json_t *inherited_headers; /* of a callback without headers */
	json_t *empty_payload;	   /* of a callback without a payload */
	json_t *last_sensitive;	   /* the latest sensitive list made */
	json_t *urls[URL_CACHE];   /* by hash of the text */
	json_t *ints[INT_CACHE];   /* by value */
	/* Not a cache: this thread's count of unset variables taken as
	 * unknown (PS_CONFIG_NO_ENV), so a check of a value built from one
	 * can see that the value is not known and skip it. */
	size_t unknown;
} build_cache;

/*
 * The environment, hashed by name: one getenv per ${VAR} scans all of
 * environ, and a config of 10,000 accounts each with its own secret
 * variable makes that quadratic. Built per parse (so setenv between parses
 * is seen), read-only afterwards (shared by the building threads). The
 * first of duplicate names wins, as with getenv.
 */
typedef struct env_index {
	const char **slots; /* "NAME=value" or NULL */
	size_t mask;
} env_index;

typedef struct ctx {
	ps_cfgdiag *d;
	const env_index *env; /* NULL: getenv */
	build_cache *cache;   /* this thread's */
	char *dir;   /* the config file's directory; NULL: the current one */
	bool no_env; /* PS_CONFIG_NO_ENV */
} ctx;

#define ERR(c, n, ...)                                                         \
	ps_cfgdiag_add((c)->d, PS_EINVALID, (n)->line, (n)->column, __VA_ARGS__)

/*
 * The sensitive pointers of one callback (or one payload key) as JSON
 * strings, one reference each, in any order and with repeats;
 * ps_cfg_sorted_unique makes the final array. A C array rather than a JSON one:
 * it is built for every callback and mostly thrown away.
 */
typedef struct ptrlist {
	json_t **v;
	size_t n;
	size_t alloc;
} ptrlist;

#define PTRLIST_INIT                                                           \
	{                                                                      \
		NULL, 0, 0                                                     \
	}

/*
 * The functions below that take a ctx report every problem to c->d
 * themselves, at the node concerned: a NULL (or false, or -1) result
 * means "already reported". A char * they return is the caller's (free it
 * with ps_free_secret when it may hold a value from the environment); a
 * json_t * is a new reference. The comment at each definition says more.
 */

/* ---- config_env.c: ${VAR} interpolation ---- */
/* Index environ into *e (free e->slots); valid until environ changes. */
void ps_cfg_env_index_build(env_index *e);
bool ps_cfg_name_start(char ch);
bool ps_cfg_name_char(char ch);
/* n's text with ${…} expanded: the caller's, free with ps_free_secret. */
char *ps_cfg_expand(const ctx *c, const ps_ynode *n, bool *used,
		    size_t *len_out);

/* ---- config_check.c: value checks ---- */
extern const char *const ps_cfg_account_keys[];
bool ps_cfg_unknown_since(const ctx *c, size_t mark);
char *ps_cfg_join_or(const char *const *list);
int ps_cfg_check_keys(const ctx *c, const ps_ynode *map,
		      const char *const *allowed);
bool ps_cfg_want_map(const ctx *c, const ps_ynode *v, const char *key);
char *ps_cfg_get_nonempty(const ctx *c, const ps_ynode *v, const char *key,
			  bool *sensitive);
char *ps_cfg_get_url(const ctx *c, const ps_ynode *v, const char *key,
		     bool *sensitive);
char *ps_cfg_get_method(const ctx *c, const ps_ynode *v, bool *sensitive);
json_t *ps_cfg_get_headers(const ctx *c, const ps_ynode *v, bool *ok);

/* ---- config_json.c: shared values, payloads, sensitive pointers ---- */
/* Drop every reference the cache holds; *k is empty and reusable. */
void ps_cfg_cache_release(build_cache *k);
json_t *ps_cfg_cached_url(build_cache *k, const char *url);
/* ps_cfg_ptrs_add steals s; ps_cfg_ptrs_extend borrows arr;
 * ps_cfg_sorted_unique empties l and returns a new reference. */
void ps_cfg_ptrs_add(ptrlist *l, json_t *s);
void ps_cfg_ptrs_extend(ptrlist *l, json_t *arr);
void ps_cfg_ptrs_release(ptrlist *l);
json_t *ps_cfg_sorted_unique(ptrlist *l, json_t **last);
json_t *ps_cfg_get_payload(const ctx *c, const ps_ynode *v, json_t **ptrs,
			   ptrlist *flat, bool *ok);

/* ---- config.c ---- */
/* Free what a (built or half-built) account holds; *a is zeroed. */
void ps_cfg_account_release(ps_account *a);
/* config_digest.c: take a->digest from the account as built (see
 * ps_account.digest). A libcrypto failure aborts (ps_oom). */
void ps_cfg_account_digest(ps_account *a);

/* ---- config_build.c: the tree to a ps_config ---- */
/* The top-level `defaults`, as every callback inherits them. */
typedef struct defaults {
	char *method; /* NULL: "POST" */
	bool method_sensitive;
	json_t *method_json; /* the method callbacks inherit, shared */
	json_t *headers;     /* as ps_cfg_get_headers, or NULL */
	json_t *payload;     /* object, or NULL */
	json_t *payload_ptrs;
} defaults;

/* Fill *def from the value v of the `defaults` key (NULL: none). */
void ps_cfg_defaults_load(const ctx *c, const ps_ynode *v, defaults *def);
void ps_cfg_defaults_release(defaults *def);
/* One account: name key k, body v, into *a (always to be released).
 * 0, or -1 after reporting. */
int ps_cfg_build_account(const ctx *c, const defaults *def, const ps_ynode *k,
			 const ps_ynode *v, ps_account *a);

typedef struct ps_cfgpipe ps_cfgpipe;

/* Fill cfg from doc's tree, releasing the tree piecewise when that is safe
 * (doc must still be released by the caller). Problems go to c->d.
 * Accounts that `pipe` (may be NULL; finished) built during the parse are
 * taken from it when they are what the final tree has. */
void ps_cfg_build(const ctx *c, ps_ydoc *doc, ps_config *cfg, ps_cfgpipe *pipe);

/* ---- config_pipe.c: accounts built while the file is parsed ---- */
/*
 * A worker thread that builds each account the parser reports (see
 * ps_yaccounts_hook) while the parser goes on, with its own cache, its own
 * copy of the defaults and a raw recorder for what it reports. The
 * results are a guess about the final tree: ps_cfg_pipe_take gives one
 * only for the same key and value nodes, built with the same `defaults`
 * node, so the config and its diagnostics are what building from the
 * final tree gives.
 *
 * ps_cfg_pipe_new copies *c; c->env and c->dir must outlive the pipe.
 * *hook is filled for ps_yaml_parse_hooked. ps_cfg_pipe_finish builds
 * what the worker has not reached from the end of the queue, meeting it,
 * and waits for it (cancel: drop what is left); only then may the others
 * be called. ps_cfg_pipe_free releases every result not taken (NULL-safe).
 */
ps_cfgpipe *ps_cfg_pipe_new(ps_yaccounts_hook *hook, const ctx *c);
/* Accounts the parser must have read before the worker starts (see
 * config_pipe.c); tests lower it. */
extern size_t ps_cfg_pipe_min_pairs;
/* For tests: the worker builds no more than this many accounts (so that
 * the parser thread's share is large), and how many accounts the parser
 * thread's share gave the config so far. */
extern size_t ps_cfg_pipe_worker_max;
extern size_t ps_cfg_pipe_tail_taken;
void ps_cfg_pipe_finish(ps_cfgpipe *pipe, bool cancel);
/* Whether results built with this `defaults` node may be taken. */
bool ps_cfg_pipe_usable(const ps_cfgpipe *pipe, const ps_ynode *defaults);
/* Move the account built for exactly (k, v) into *a and replay what it
 * reported into d, in the order it was reported; false when there is none
 * (then *a is untouched). Pairs must be asked in their final order. */
bool ps_cfg_pipe_take(ps_cfgpipe *pipe, const ps_ynode *k, const ps_ynode *v,
		      ps_account *a, ps_cfgdiag *d);
void ps_cfg_pipe_free(ps_cfgpipe *pipe);

#endif
