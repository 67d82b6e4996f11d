/*
 * Payloads as JSON for the config module, with the JSON Pointers of the
 * sensitive values in them, and the cache of values that many callbacks
 * share (one reference each) instead of one copy each.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config_int.h"
#include "json.h"
#include "util.h"
#include "banned.h"

void ps_cfg_cache_release(build_cache *k)
{
	size_t i;

	for (i = 0; i < k->ashared; i++)
		json_decref(k->shared[i].value);
	free(k->shared);
	json_decref(k->inherited_headers);
	json_decref(k->empty_payload);
	json_decref(k->last_sensitive);
	for (i = 0; i < URL_CACHE; i++)
		json_decref(k->urls[i]);
	for (i = 0; i < INT_CACHE; i++)
		json_decref(k->ints[i]);
	memset(k, 0, sizeof(*k));
}

static size_t shared_hash(const ps_ynode *n, size_t cap)
{
	uint64_t h = (uint64_t)(uintptr_t)n * 0x9e3779b97f4a7c15ULL;

	return (size_t)(h >> 17) & (cap - 1);
}

/* The slot for n: n's entry, or the free slot where it goes. */
static shared_str *shared_slot(build_cache *k, const ps_ynode *n)
{
	size_t j;

	if ((k->nshared + 1) * 2 > k->ashared) {
		size_t ncap = k->ashared ? k->ashared * 2 : 16, i;
		shared_str *nv = ps_calloc(ncap, sizeof(*nv));

		for (i = 0; i < k->ashared; i++) {
			if (!k->shared[i].node)
				continue;
			j = shared_hash(k->shared[i].node, ncap);
			while (nv[j].node)
				j = (j + 1) & (ncap - 1);
			nv[j] = k->shared[i];
		}
		free(k->shared);
		k->shared = nv;
		k->ashared = ncap;
	}
	j = shared_hash(n, k->ashared);
	while (k->shared[j].node && k->shared[j].node != n)
		j = (j + 1) & (k->ashared - 1);
	return &k->shared[j];
}

/* A JSON string for url (valid UTF-8), shared with earlier callbacks
 * when one had the same. New reference. */
json_t *ps_cfg_cached_url(build_cache *k, const char *url)
{
	size_t len = strlen(url);
	json_t **slot = &k->urls[ps_cfg_hash(url, len) % URL_CACHE];

	if (*slot && json_string_length(*slot) == len &&
	    !memcmp(json_string_value(*slot), url, len))
		return json_incref(*slot);
	json_decref(*slot);
	*slot = json_stringn_nocheck(url, len);
	return json_incref(*slot);
}

/* json_integer(v), shared with earlier values alike. New reference. */
static json_t *cached_int(build_cache *k, json_int_t v)
{
	json_t **slot = &k->ints[(uint64_t)v % INT_CACHE];

	if (*slot && json_integer_value(*slot) == v)
		return json_incref(*slot);
	json_decref(*slot);
	*slot = json_integer(v);
	return json_incref(*slot);
}

/* ---- sensitive pointers ------------------------------------------------- */

/* Add a pointer string; steals `s`. NULL (a string jansson refused) adds
 * nothing, as json_array_append_new would. */
void ps_cfg_ptrs_add(ptrlist *l, json_t *s)
{
	if (!s)
		return;
	if (l->n == l->alloc) {
		l->alloc = l->alloc ? l->alloc * 2 : 8;
		l->v = ps_realloc(l->v, l->alloc * sizeof(*l->v));
	}
	l->v[l->n++] = s;
}

/* Add the strings of a JSON array (borrowed). */
void ps_cfg_ptrs_extend(ptrlist *l, json_t *arr)
{
	size_t i;
	json_t *e;

	json_array_foreach(arr, i, e) ps_cfg_ptrs_add(l, json_incref(e));
}

void ps_cfg_ptrs_release(ptrlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		json_decref(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* The list as a JSON array, in its order. Empties `l`. */
static json_t *ptrs_array(ptrlist *l)
{
	json_t *r = json_array();
	size_t i;

	for (i = 0; i < l->n; i++)
		json_array_append_new(r, l->v[i]);
	l->n = 0;
	ps_cfg_ptrs_release(l);
	return r;
}

static int cmp_ptr(const void *a, const void *b)
{
	return strcmp(json_string_value(*(json_t *const *)a),
		      json_string_value(*(json_t *const *)b));
}

/*
 * The list sorted, without repeats, as a JSON array (new reference).
 * Empties `l`. When the result equals *last, that array is returned
 * (shared) instead; otherwise the new array becomes *last.
 */
json_t *ps_cfg_sorted_unique(ptrlist *l, json_t **last)
{
	json_t *r;
	size_t i, n = 0;

	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), cmp_ptr);
	/* Drop the repeats in place, then compare with *last. */
	for (i = 0; i < l->n; i++) {
		if (i == 0 || cmp_ptr(&l->v[i], &l->v[n - 1]))
			l->v[n++] = l->v[i];
		else
			json_decref(l->v[i]);
	}
	l->n = n;
	if (*last && json_array_size(*last) == n) {
		for (i = 0; i < n; i++)
			if (strcmp(json_string_value(json_array_get(*last, i)),
				   json_string_value(l->v[i])))
				break;
		if (i == n) {
			ps_cfg_ptrs_release(l);
			return json_incref(*last);
		}
	}
	r = json_array();
	for (i = 0; i < n; i++)
		json_array_append(r, l->v[i]);
	ps_cfg_ptrs_release(l);
	json_decref(*last);
	*last = json_incref(r);
	return r;
}

/*
 * Where a payload walk is: a chain of segments up to "/payload". The JSON
 * Pointer is written out only for the few values that are sensitive.
 */
typedef struct jpath {
	const struct jpath *up; /* NULL at the root */
	const char *key;	/* NULL: an index into a sequence */
	size_t index;
} jpath;

/* Append the pointer of `at` to b: "/" and each segment, escaped as RFC
 * 6901 says (ps_json_pointer_push). */
static void path_put(ps_buf *b, const jpath *at)
{
	char idx[24];

	if (at->up)
		path_put(b, at->up);
	if (at->key) {
		ps_json_pointer_push(b, at->key);
		return;
	}
	snprintf(idx, sizeof(idx), "%zu", at->index);
	ps_json_pointer_push(b, idx);
}

/* Add the pointer of `at` to the list. */
static void add_path(ptrlist *sens, const jpath *at)
{
	ps_buf b = PS_BUF_INIT;

	path_put(&b, at);
	ps_cfg_ptrs_add(sens, json_string(b.ptr));
	ps_buf_release(&b);
}

/*
 * A payload node as JSON; `at` is where it is. Pointers of sensitive
 * values go to `sens`: a node tagged !secret is listed once at its own
 * pointer (nothing below it), a string built from ${…} at its pointer.
 * NULL after reporting. Keys and strings go to jansson unchecked: every
 * scalar text is valid UTF-8 (the file was checked, libyaml refuses bad
 * escapes, a NUL makes the node bad) and ps_cfg_expand checks its result.
 */
static json_t *to_json(const ctx *c, const ps_ynode *n, const jpath *at,
		       ptrlist *sens, bool in_secret)
{
	json_t *r = NULL;
	bool failed = false;
	size_t i;

	if (n->bad)
		return NULL;
	if (n->secret && !in_secret) {
		add_path(sens, at);
		in_secret = true;
	}
	if (n->kind == PS_YMAPPING) {
		r = json_object();
		for (i = 0; i + 1 < n->nkids; i += 2) {
			jpath sub = { at, n->kids[i]->text, 0 };
			json_t *v = to_json(c, n->kids[i + 1], &sub, sens,
					    in_secret);
			if (v)
				json_object_set_new_nocheck(r, n->kids[i]->text,
							    v);
			else
				failed = true;
		}
	} else if (n->kind == PS_YSEQUENCE) {
		r = json_array();
		for (i = 0; i < n->nkids; i++) {
			jpath sub = { at, NULL, i };
			json_t *v =
				to_json(c, n->kids[i], &sub, sens, in_secret);
			if (v)
				json_array_append_new(r, v);
			else
				failed = true;
		}
	} else {
		switch (n->type) {
		case PS_YNULL:
			return json_null();
		case PS_YBOOL:
			return json_boolean(n->bval);
		case PS_YINT:
			return cached_int(c->cache, n->ival);
		case PS_YFLOAT:
			r = json_real(n->fval);
			if (!r)
				ERR(c, n,
				    "number cannot be represented in JSON");
			return r;
		case PS_YSTRING: {
			shared_str *sh = NULL;
			bool used;
			size_t len;
			char *s;

			if (n->anchored) {
				sh = shared_slot(c->cache, n);
				if (sh->node) {
					if (sh->used && !in_secret)
						add_path(sens, at);
					return json_incref(sh->value);
				}
			}
			s = ps_cfg_expand(c, n, &used, &len);
			if (!s)
				return NULL;
			if (used && !in_secret)
				add_path(sens, at);
			/* Unchecked: it cannot fail but for memory. */
			r = json_stringn_nocheck(s, len);
			ps_free_secret(s);
			if (!r)
				ps_oom();
			if (sh) {
				sh->node = n;
				sh->value = json_incref(r);
				sh->used = used;
				c->cache->nshared++;
			}
			return r;
		}
		}
	}
	if (failed) {
		json_decref(r);
		return NULL;
	}
	return r;
}

/*
 * A payload mapping as JSON. The sensitive pointers go to `flat` when it
 * is not NULL; otherwise to *ptrs as {key: [pointer…]} for each top-level
 * key, so that a shallow merge can carry them along. NULL when unusable;
 * *ok false after errors.
 */
json_t *ps_cfg_get_payload(const ctx *c, const ps_ynode *v, json_t **ptrs,
			   ptrlist *flat, bool *ok)
{
	const jpath root = { NULL, "payload", 0 };
	json_t *obj;
	size_t i;

	if (ptrs)
		*ptrs = NULL;
	if (!ps_cfg_want_map(c, v, "payload")) {
		*ok = false;
		return NULL;
	}
	obj = json_object();
	if (ptrs)
		*ptrs = json_object();
	for (i = 0; i + 1 < v->nkids; i += 2) {
		const char *key = v->kids[i]->text;
		const jpath at = { &root, key, 0 };
		ptrlist own = PTRLIST_INIT;
		json_t *j = to_json(c, v->kids[i + 1], &at, flat ? flat : &own,
				    false);

		if (j) {
			json_object_set_new_nocheck(obj, key, j);
			if (ptrs)
				json_object_set_new(*ptrs, key,
						    ptrs_array(&own));
		} else {
			*ok = false;
		}
		ps_cfg_ptrs_release(&own);
	}
	return obj;
}
