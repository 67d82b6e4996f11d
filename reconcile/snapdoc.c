/*
 * Snapshot document checks. See snapdoc.h for the contract.
 *
 * Each level of the document is a table of fields; a check either accepts
 * a value or writes why not into `why` (a short phrase: "is a string,
 * expected an object"). The walker adds the dotted path and the file.
 */
#include "snapdoc.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "seal.h"
#include "state.h"
#include "util.h"
#include "banned.h"

struct ctx {
	const char *account;
	char path[PS_SNAPDOC_MAX_NAME + 64]; /* dotted, of the field checked */
	size_t len;
	char why[200];
	json_int_t format; /* once "format" is checked (it is checked first) */
};

/* Append ".name" (or "name" at the top) to the path; returns the old
 * length, to go back to with path_cut. */
static size_t path_add(struct ctx *c, const char *name)
{
	size_t mark = c->len;
	int n = snprintf(c->path + c->len, sizeof(c->path) - c->len, "%s%s",
			 c->len ? "." : "", name);

	if (n > 0)
		c->len += (size_t)n < sizeof(c->path) - c->len
				  ? (size_t)n
				  : sizeof(c->path) - c->len - 1;
	return mark;
}

static void path_cut(struct ctx *c, size_t mark)
{
	c->len = mark;
	c->path[mark] = '\0';
}

typedef bool (*check_fn)(const json_t *v, struct ctx *c);

struct field {
	const char *name;
	bool required;
	check_fn check;
};

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "a list";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "a value";
}

static bool wrong_type(struct ctx *c, const json_t *v, const char *want)
{
	snprintf(c->why, sizeof(c->why), "is %s, expected %s", type_name(v),
		 want);
	return false;
}

static bool is_hex(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[n] == '\0';
}

/* "(sensitive) hmac-sha256:" + 32 lowercase hex. */
static bool is_fingerprint(const json_t *v)
{
	const char *s = json_string_value(v);
	size_t n = strlen(PS_SENSITIVE_PREFIX);

	return s && !strncmp(s, PS_SENSITIVE_PREFIX, n) &&
	       strlen(s + n) == 32 && is_hex(s + n, 32);
}

static bool check_format(const json_t *v, struct ctx *c)
{
	if (!json_is_integer(v))
		return wrong_type(c, v, "a format number");
	if (json_integer_value(v) < PS_STATE_FORMAT_MIN ||
	    json_integer_value(v) > PS_STATE_FORMAT) {
		snprintf(c->why, sizeof(c->why),
			 "is %lld: this pavesync reads formats %d to %d (a "
			 "newer "
			 "pavesync wrote it?)",
			 (long long)json_integer_value(v), PS_STATE_FORMAT_MIN,
			 PS_STATE_FORMAT);
		return false;
	}
	c->format = json_integer_value(v);
	return true;
}

static bool check_account(const json_t *v, struct ctx *c)
{
	if (!json_is_string(v))
		return wrong_type(c, v, "the account name");
	if (strcmp(json_string_value(v), c->account)) {
		snprintf(c->why, sizeof(c->why),
			 "names another account (the file is for \"%s\")",
			 c->account);
		return false;
	}
	return true;
}

static bool check_fingerprint(const json_t *v, struct ctx *c)
{
	if (!json_is_string(v))
		return wrong_type(c, v, "a fingerprint");
	if (!is_fingerprint(v)) {
		snprintf(c->why, sizeof(c->why),
			 "is not a fingerprint (\"%s<32 hex>\")",
			 PS_SENSITIVE_PREFIX);
		return false;
	}
	return true;
}

static bool check_key_id(const json_t *v, struct ctx *c)
{
	if (!json_is_string(v))
		return wrong_type(c, v, "a key id");
	if (json_string_length(v) != 12 || !is_hex(json_string_value(v), 12)) {
		snprintf(c->why, sizeof(c->why),
			 "is not a key id (12 lowercase hex digits)");
		return false;
	}
	return true;
}

static bool check_string(const json_t *v, struct ctx *c)
{
	return json_is_string(v) || wrong_type(c, v, "a string");
}

static bool check_headers(const json_t *v, struct ctx *c)
{
	const char *name;
	json_t *h;

	/* Headers the server sent in another shape are sealed whole. */
	if (is_fingerprint(v))
		return true;
	if (!json_is_object(v))
		return wrong_type(c, v, "an object or a fingerprint");
	json_object_foreach((json_t *)v, name, h)
	{
		if (!is_fingerprint(h)) {
			/* A header value in clear must never be used (or
			 * re-committed) as if it were sealed. */
			snprintf(c->why, sizeof(c->why),
				 "value of \"%.64s\" is not a fingerprint "
				 "(header values are never stored in clear)",
				 name);
			return false;
		}
	}
	return true;
}

static size_t depth(const json_t *v, size_t limit)
{
	size_t d = 0, i, sub;
	const char *k;
	json_t *child;

	if (!limit)
		return 1;
	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, k,
				    child) if ((sub = depth(child, limit - 1)) >
					       d) d = sub;
		return d + 1;
	}
	if (json_is_array(v)) {
		json_array_foreach(
			v, i, child) if ((sub = depth(child, limit - 1)) > d)
			d = sub;
		return d + 1;
	}
	return 0;
}

static bool check_payload(const json_t *v, struct ctx *c)
{
	if (is_fingerprint(v))
		return true;
	if (!json_is_object(v))
		return wrong_type(c, v, "an object or a fingerprint");
	if (depth(v, PS_SNAPDOC_MAX_DEPTH + 1) > PS_SNAPDOC_MAX_DEPTH) {
		snprintf(c->why, sizeof(c->why),
			 "is nested deeper than %d levels",
			 PS_SNAPDOC_MAX_DEPTH);
		return false;
	}
	return true;
}

/* ---- the tables ---- */

static const struct field callback_fields[] = {
	{ "url", true, check_string },
	{ "method", true, check_string },
	{ "headers", true, check_headers },
	{ "payload", true, check_payload },
	{ NULL, false, NULL },
};

static bool check_callbacks(const json_t *v, struct ctx *c);
static bool check_live(const json_t *v, struct ctx *c);

/* "format" first: later checks may depend on it. */
static const struct field doc_fields[] = {
	{ "format", true, check_format },
	{ "account", true, check_account },
	{ "api_key", true, check_fingerprint },
	{ "fingerprint_key", true, check_key_id },
	{ "callbacks", true, check_callbacks },
	{ "live", false, check_live },
	{ NULL, false, NULL },
};

/* ---- the walker ---- */

static bool control_free(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* Check `obj` against `table`; on failure c->path names the field. */
static bool check_object(const json_t *obj, const struct field *table,
			 struct ctx *c)
{
	const struct field *f;
	const char *name;
	json_t *v;
	size_t mark;

	for (f = table; f->name; f++) {
		v = json_object_get(obj, f->name);
		mark = path_add(c, f->name);
		if (!v && f->required) {
			snprintf(c->why, sizeof(c->why), "is missing");
			return false;
		}
		if (v && !f->check(v, c))
			return false;
		path_cut(c, mark);
	}
	json_object_foreach((json_t *)obj, name, v)
	{
		for (f = table; f->name && strcmp(f->name, name); f++)
			;
		if (!f->name) {
			path_add(c, control_free(name) ? name : "?");
			snprintf(c->why, sizeof(c->why),
				 "is not a snapshot field (written by a newer "
				 "pavesync, or by hand?)");
			return false;
		}
	}
	return true;
}

/* An object of events to callbacks; with `allow_null`, an event may map
 * to null. */
static bool check_events(const json_t *v, struct ctx *c, bool allow_null)
{
	const char *event;
	json_t *cb;

	if (!json_is_object(v))
		return wrong_type(c, v, "an object of events");
	if (json_object_size(v) > PS_SNAPDOC_MAX_EVENTS) {
		snprintf(c->why, sizeof(c->why), "has %zu events, more than %d",
			 json_object_size(v), PS_SNAPDOC_MAX_EVENTS);
		return false;
	}
	json_object_foreach((json_t *)v, event, cb)
	{
		size_t mark;

		if (!*event || strlen(event) > PS_SNAPDOC_MAX_NAME ||
		    !control_free(event)) {
			snprintf(c->why, sizeof(c->why),
				 "has an event name that is empty, longer than "
				 "%d bytes or holds control characters",
				 PS_SNAPDOC_MAX_NAME);
			return false;
		}
		mark = path_add(c, event);
		if (allow_null && json_is_null(cb)) {
			path_cut(c, mark);
			continue;
		}
		if (!json_is_object(cb))
			return wrong_type(
				c, cb,
				allow_null ? "an object (a callback) or null"
					   : "an object (a callback)");
		if (!check_object(cb, callback_fields, c))
			return false;
		path_cut(c, mark);
	}
	return true;
}

int ps_snapdoc_check(const json_t *doc, const char *account, const char *at,
		     ps_error *err)
{
	struct ctx c;

	memset(&c, 0, sizeof(c));
	c.account = account;
	if (!json_is_object(doc))
		return ps_error_set(err, PS_EINVALID,
				    "accounts/%s.json at %s: not a JSON object",
				    account, at);
	if (!check_object(doc, doc_fields, &c))
		return ps_error_set(err, PS_EINVALID,
				    "accounts/%s.json at %s: field \"%s\" %s",
				    account, at, c.path, c.why);
	return 0;
}

static bool check_callbacks(const json_t *v, struct ctx *c)
{
	return check_events(v, c, false);
}

/* Format 2: per event, the callback last seen live where it differs from
 * the last applied one, or null when it was missing live. */
static bool check_live(const json_t *v, struct ctx *c)
{
	if (c->format < 2) {
		snprintf(c->why, sizeof(c->why),
			 "is not a field of format %lld", (long long)c->format);
		return false;
	}
	return check_events(v, c, true);
}
