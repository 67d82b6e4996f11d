/*
 * Planning: live callbacks sealed like the snapshot's, and the field-level
 * differences a change shows (plan.c builds the plan).
 */
#include "plan_int.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"
#include "util.h"
#include "banned.h"

/* ---- sealing live callbacks ---- */

/* Collect pointers of fingerprint markers in a sealed callback, so a value
 * that was sensitive stays sealed when read back live. */
static void marker_pointers(json_t *acc, const json_t *v, const char *ptr)
{
	const char *k;
	json_t *child;
	size_t i;

	if (ps_seal_is_fingerprint(v)) {
		json_array_append_new(acc, json_string(ptr));
	} else if (json_is_object(v)) {
		json_object_foreach((json_t *)v, k, child)
		{
			char *p = ps_json_pointer_append(ptr, k);
			marker_pointers(acc, child, p);
			free(p);
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, child)
		{
			char idx[32];
			char *p;
			snprintf(idx, sizeof(idx), "%zu", i);
			p = ps_json_pointer_append(ptr, idx);
			marker_pointers(acc, child, p);
			free(p);
		}
	}
}

json_t *plan_seal_live_one(const json_t *raw, const ps_callback *want,
			   const json_t *snap_cb, const ps_fpkey *k)
{
	json_t *sens = json_array(), *sealed, *p;
	size_t i;

	/* Copies, not references: the config is shared between threads. */
	if (want)
		json_array_foreach(want->sensitive, i, p) json_array_append_new(
			sens, json_string(json_string_value(p)));
	if (snap_cb)
		marker_pointers(sens, snap_cb, "");
	sealed = ps_seal_callback(raw, sens, k);
	json_decref(sens);
	return sealed;
}

/* ---- field-level differences ---- */

/* Does v hold a fingerprint anywhere? (No pointers needed: stop at the
 * first.) */
static bool has_marker(const json_t *v)
{
	const char *k;
	json_t *child;
	size_t i;

	if (ps_seal_is_fingerprint(v))
		return true;
	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, k,
				    child) if (has_marker(child)) return true;
	} else if (json_is_array(v)) {
		json_array_foreach(v, i,
				   child) if (has_marker(child)) return true;
	}
	return false;
}

static void add_field(json_t *fields, const char *path, const json_t *before,
		      const json_t *after, bool sensitive)
{
	json_t *f = json_pack("{s:s}", "path", path);

	if (sensitive || has_marker(before) || has_marker(after)) {
		json_object_set_new(f, "sensitive", json_true());
	} else {
		if (before)
			json_object_set(f, "before", (json_t *)before);
		if (after)
			json_object_set(f, "after", (json_t *)after);
	}
	json_array_append_new(fields, f);
}

/* Compare two objects key by key, sorted, naming fields "prefix.key". */
static void diff_object(json_t *fields, const char *prefix, const json_t *a,
			const json_t *b, bool sensitive)
{
	json_t *keys = json_object();
	const char *k;
	json_t *v;
	void *iter;

	if ((a && !json_is_object(a)) || (b && !json_is_object(b))) {
		/* One side is not an object (a value the server sent in
		 * another shape, sealed whole): the field as a whole. */
		json_decref(keys);
		if (!(a && b && json_equal(a, b)))
			add_field(fields, prefix, a, b, sensitive);
		return;
	}
	json_object_foreach((json_t *)a, k, v)
		json_object_set_new(keys, k, json_null());
	json_object_foreach((json_t *)b, k, v)
		json_object_set_new(keys, k, json_null());
	/* iterate in sorted order: jansson keeps insertion order, so sort */
	{
		size_t n = json_object_size(keys), i = 0;
		const char **names = ps_calloc(n, sizeof(*names));
		for (iter = json_object_iter(keys); iter;
		     iter = json_object_iter_next(keys, iter))
			names[i++] = json_object_iter_key(iter);
		/* Keys of one object are distinct: any sort gives the same
		 * order. */
		qsort(names, n, sizeof(*names), ps_strcmp_qsort);
		for (i = 0; i < n; i++) {
			json_t *x = a ? json_object_get(a, names[i]) : NULL;
			json_t *y = b ? json_object_get(b, names[i]) : NULL;
			if (x && y && json_equal(x, y))
				continue;
			{
				ps_buf path = PS_BUF_INIT;
				ps_buf_printf(&path, "%s.%s", prefix, names[i]);
				add_field(fields, path.ptr, x, y, sensitive);
				ps_buf_release(&path);
			}
		}
		free(names);
	}
	json_decref(keys);
}

/* Fields that differ between two sealed callbacks (either may be NULL). */
json_t *plan_diff_fields(const json_t *before, const json_t *after)
{
	json_t *fields = json_array();
	static const char *const scalars[] = { "url", "method", NULL };
	const char *const *s;

	for (s = scalars; *s; s++) {
		json_t *x = before ? json_object_get(before, *s) : NULL;
		json_t *y = after ? json_object_get(after, *s) : NULL;
		if (x && y && json_equal(x, y))
			continue;
		add_field(fields, *s, x, y, false);
	}
	diff_object(fields, "headers",
		    before ? json_object_get(before, "headers") : NULL,
		    after ? json_object_get(after, "headers") : NULL, true);
	diff_object(fields, "payload",
		    before ? json_object_get(before, "payload") : NULL,
		    after ? json_object_get(after, "payload") : NULL, false);
	return fields;
}
