/*
 * Reading the API's answers: ps_api_parse_response (see api.h) and the
 * "message" of an error body.
 */
#include "api.h"

#include <jansson.h>
#include <stdbool.h>

#include "api_int.h"
#include "buf.h"
#include "json.h"
#include "util.h"
#include "banned.h"

/* The API documents headers/payload as strings but shows objects: accept a
 * string that holds a JSON object and store the object. */
static void normalise_callback(json_t *cb)
{
	static const char *const fields[] = { "headers", "payload" };
	size_t i;

	if (!json_is_object(cb))
		return;
	for (i = 0; i < 2; i++) {
		json_t *parsed =
			ps_json_string_object(json_object_get(cb, fields[i]));

		if (parsed)
			json_object_set_new(cb, fields[i], parsed);
	}
}

int ps_api_parse_response(json_t **out, const char *body, size_t len,
			  bool want_data, bool want_array, ps_error *err)
{
	json_error_t jerr;
	json_t *root, *data, *res = NULL;
	size_t i;
	int rc = PS_EINVALID;

	*out = NULL;
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		ps_error_set(err, PS_EINVALID,
			     "malformed response from API: %s (line %d, "
			     "column %d)",
			     jerr.text, jerr.line, jerr.column);
		return PS_EINVALID;
	}
	if (!json_is_object(root)) {
		ps_error_set(err, PS_EINVALID,
			     "malformed response from API: not a JSON object");
		goto cleanup;
	}
	if (!want_data) {
		res = json_incref(root);
		rc = 0;
		goto cleanup;
	}
	data = json_object_get(root, "data");
	if (want_array) {
		if (!json_is_array(data)) {
			ps_error_set(err, PS_EINVALID,
				     "malformed response from API: \"data\" "
				     "is not an array");
			goto cleanup;
		}
		json_array_foreach(data, i, res)
		{
			if (!json_is_object(res) ||
			    !json_is_string(json_object_get(res, "event"))) {
				res = NULL;
				ps_error_set(err, PS_EINVALID,
					     "malformed response from API: "
					     "item %zu of \"data\" is not a "
					     "callback with an \"event\"",
					     i);
				goto cleanup;
			}
			normalise_callback(res);
		}
		res = json_incref(data);
	} else if (json_is_object(data)) {
		res = json_incref(data);
		normalise_callback(res);
	} else {
		/* POST/PUT echo the callback at the top level, beside
		 * "api_key": hand back a copy without it. */
		res = json_copy(root);
		if (!res)
			ps_oom();
		json_object_del(res, "api_key");
		normalise_callback(res);
	}
	rc = 0;
cleanup:
	json_decref(root);
	*out = rc ? NULL : res;
	return rc;
}

/* The API's own "message" from an error body, or "" (never NULL). */
void api_message(char *out, size_t outlen, const ps_buf *body)
{
	json_t *root = json_loadb(body->ptr, body->len, 0, NULL);
	const char *m = json_string_value(json_object_get(root, "message"));

	ps_strlcpy(out, m ? m : "", outlen);
	json_decref(root);
}
