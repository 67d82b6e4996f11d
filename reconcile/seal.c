#include "seal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "hmac.h"
#include "util.h"
#include "banned.h"

#define FP_CONTEXT "pavesync fingerprint v1"

void ps_fpkey_derive(ps_fpkey *out, const char *account, const char *api_secret)
{
	ps_fpkey_derive_with(out, account, api_secret,
			     getenv("PAVESYNC_FINGERPRINT_KEY"));
}

void ps_fpkey_derive_with(ps_fpkey *out, const char *account,
			  const char *api_secret, const char *fingerprint_key)
{
	const char *material = fingerprint_key;
	unsigned char id[32];
	ps_buf msg = PS_BUF_INIT;

	if (!material || !*material)
		material = api_secret ? api_secret : "";
	/* The NUL keeps "v1" + "x" and "v" + "1x" apart. */
	ps_buf_put(&msg, FP_CONTEXT, sizeof(FP_CONTEXT));
	ps_buf_puts(&msg, account);
	if (ps_hmac_sha256_once(out->key, material, strlen(material), msg.ptr,
				msg.len) < 0)
		ps_oom();
	ps_buf_release(&msg);
	/* The digest states are set up by the first fingerprint (key_mac):
	 * an account that a plan settles from its memo never needs them. */
	memset(&out->mac, 0, sizeof(out->mac));
	out->memo = NULL;
	if (ps_hmac_sha256_once(id, out->key, sizeof(out->key), "key id", 6) <
	    0)
		ps_oom();
	ps_hex(out->id, id, 6);
	explicit_bzero(id, sizeof(id));
}

/* See ps_fpkey.memo. Values longer than MEMO_MAX are not remembered. */
#define MEMO_MAX 256
struct fp_memo {
	size_t len;
	unsigned char in[MEMO_MAX];
	char out[64];
};

void ps_fpkey_idle(ps_fpkey *k)
{
	if (!k)
		return;
	ps_hmac_release(&k->mac);
	if (k->memo) {
		explicit_bzero(k->memo, sizeof(struct fp_memo));
		free(k->memo);
		k->memo = NULL;
	}
}

void ps_fpkey_release(ps_fpkey *k)
{
	if (!k)
		return;
	ps_fpkey_idle(k);
	explicit_bzero(k, sizeof(*k));
}

/* The key's digest states, set up again after ps_fpkey_idle. Logically
 * const, like the memo: one thread per key at a time. */
static const ps_hmac *key_mac(const ps_fpkey *k)
{
	ps_fpkey *w = (ps_fpkey *)k;

	if (!w->mac.inner && ps_hmac_init(&w->mac, w->key, sizeof(w->key)) < 0)
		ps_oom();
	return &k->mac;
}

void ps_seal_fingerprint(char *out, size_t outlen, const ps_fpkey *k,
			 const void *data, size_t len)
{
	unsigned char mac[32];
	char hex[33];
	struct fp_memo *m = k->memo;

	if (m && m->len == len && !memcmp(m->in, data, len)) {
		ps_strlcpy(out, m->out, outlen);
		return;
	}
	if (ps_hmac_sha256(mac, key_mac(k), data, len) < 0)
		ps_oom();
	ps_hex(hex, mac, 16);
	snprintf(out, outlen, "%s%s", PS_SENSITIVE_PREFIX, hex);
	if (len <= MEMO_MAX) {
		/* Logically const: a cache, like the scratch state. */
		if (!m)
			m = ((ps_fpkey *)k)->memo = ps_malloc(sizeof(*m));
		m->len = len;
		memcpy(m->in, data, len);
		snprintf(m->out, sizeof(m->out), "%s%s", PS_SENSITIVE_PREFIX,
			 hex);
	}
}

void ps_fpkey_mac(unsigned char out[32], const ps_fpkey *k, const void *data,
		  size_t len)
{
	/* Without the key's digest states, one MAC does not set them up. */
	if (!k->mac.inner) {
		if (ps_hmac_sha256_once(out, k->key, sizeof(k->key), data,
					len) < 0)
			ps_oom();
		return;
	}
	if (ps_hmac_sha256(out, &k->mac, data, len) < 0)
		ps_oom();
}

bool ps_seal_is_fingerprint(const json_t *v)
{
	return json_is_string(v) &&
	       !strncmp(json_string_value(v), PS_SENSITIVE_PREFIX,
			strlen(PS_SENSITIVE_PREFIX));
}

static json_t *seal_one(const json_t *v, const ps_fpkey *k);

/* headers/payload as the API may give them: object, JSON string holding an
 * object, "", null or absent. Returns a new reference. */
static json_t *object_field(const json_t *spec, const char *name)
{
	json_t *v = json_object_get(spec, name);

	if (!v || json_is_null(v))
		return json_object();
	if (json_is_string(v)) {
		json_t *parsed;

		if (!*json_string_value(v))
			return json_object();
		parsed = ps_json_string_object(v);
		if (parsed)
			return parsed;
	}
	/* Copied, never shared: the config's values are read by several
	 * threads at once, and even json_incref writes to them. */
	return json_deep_copy(v);
}

/*
 * Normalise; with `k`, header values are sealed as they are copied (they are
 * always sensitive), which saves copying values only to replace them.
 */
static json_t *normalize(const json_t *spec, const ps_fpkey *k)
{
	json_t *out, *lower, *v, *url, *method, *parsed = NULL;
	const json_t *src;
	const char *name;

	if (!json_is_object(spec))
		return NULL;
	out = json_object();
	url = json_object_get(spec, "url");
	json_object_set_new(out, "url",
			    url ? json_deep_copy(url) : json_string(""));

	method = json_object_get(spec, "method");
	if (ps_seal_is_fingerprint(method)) {
		json_object_set_new(out, "method", json_deep_copy(method));
	} else if (json_is_string(method) && *json_string_value(method)) {
		char *m = ps_ascii_uppercase(
			ps_strdup(json_string_value(method)));
		json_object_set_new(out, "method", json_string(m));
		free(m);
	} else if (!method || json_is_null(method) || json_is_string(method)) {
		json_object_set_new(out, "method", json_string("POST"));
	} else {
		json_object_set_new(out, "method", json_deep_copy(method));
	}

	/* Headers: built afresh with lower-case names, so nothing is shared
	 * with spec and no value is copied only to be sealed. */
	src = json_object_get(spec, "headers");
	if (json_is_string(src))
		src = parsed = object_field(spec, "headers");
	if (json_is_object(src)) {
		lower = json_object();
		json_object_foreach((json_t *)src, name, v)
		{
			char *l = ps_ascii_lowercase(ps_strdup(name));
			json_object_set_new(lower, l,
					    k ? seal_one(v, k)
					      : json_deep_copy(v));
			free(l);
		}
	} else if (!src || json_is_null(src)) {
		lower = json_object();
	} else {
		/* Not an object (a string such as "Authorization: Bearer …",
		 * a list, a number): shows as drift, and with a key is sealed
		 * whole, because nothing tells which part is the secret. */
		lower = k ? seal_one(src, k) : json_deep_copy(src);
	}
	json_decref(parsed);
	json_object_set_new(out, "headers", lower);
	v = object_field(spec, "payload");
	if (k && !json_is_object(v)) {
		/* A payload the server sent in a shape we cannot take apart
		 * (a string that is not a JSON object, a list…) may hold a
		 * secret anywhere in it: sealed whole, never stored in clear.
		 */
		json_t *sealed = seal_one(v, k);
		json_decref(v);
		v = sealed;
	}
	json_object_set_new(out, "payload", v);
	if (k) {
		/* url and method are strings; any other shape is sealed. */
		v = json_object_get(out, "url");
		if (!json_is_string(v))
			json_object_set_new(out, "url", seal_one(v, k));
		v = json_object_get(out, "method");
		if (!json_is_string(v))
			json_object_set_new(out, "method", seal_one(v, k));
	}
	return out;
}

json_t *ps_seal_normalize(const json_t *spec)
{
	return normalize(spec, NULL);
}

/* A sealed copy of v: its fingerprint, or v itself when already one. */
static json_t *seal_one(const json_t *v, const ps_fpkey *k)
{
	char fp[80];

	if (ps_seal_is_fingerprint(v))
		return json_deep_copy(v);
	if (json_is_string(v)) {
		ps_seal_fingerprint(fp, sizeof(fp), k, json_string_value(v),
				    json_string_length(v));
	} else {
		char *enc = ps_json_compact_secret(v);
		/* Past the encoder's limit the value cannot be sent or
		 * stored either; still never keep it in clear. */
		if (!enc)
			enc = ps_strdup("(value larger than the limit)");
		ps_seal_fingerprint(fp, sizeof(fp), k, enc, strlen(enc));
		explicit_bzero(enc, strlen(enc));
		free(enc);
	}
	return json_string(fp);
}

static void seal_value(json_t *parent, const char *key, size_t index,
		       const ps_fpkey *k)
{
	json_t *v = json_is_object(parent) ? json_object_get(parent, key)
					   : json_array_get(parent, index);

	if (!v || ps_seal_is_fingerprint(v))
		return;
	if (json_is_object(parent))
		json_object_set_new(parent, key, seal_one(v, k));
	else
		json_array_set_new(parent, index, seal_one(v, k));
}

/* Seal the value at `pointer` (already adjusted to the normalised form). */
static void seal_pointer(json_t *doc, const char *pointer, const ps_fpkey *k)
{
	const char *slash = strrchr(pointer, '/');
	char *parent_ptr, *last;
	json_t *parent;
	ps_buf seg = PS_BUF_INIT;

	if (!slash)
		return;
	parent_ptr = ps_strndup(pointer, (size_t)(slash - pointer));
	parent = ps_json_pointer_get(doc, parent_ptr);
	ps_json_pointer_decode(&seg, slash + 1, slash + strlen(slash));
	last = seg.ptr;
	if (json_is_object(parent)) {
		seal_value(parent, last, 0, k);
	} else if (json_is_array(parent)) {
		long idx;
		if (!ps_parse_long(&idx, last, 0, 1L << 30))
			seal_value(parent, NULL, (size_t)idx, k);
	}
	free(parent_ptr);
	ps_buf_release(&seg);
}

json_t *ps_seal_callback(const json_t *spec, const json_t *sensitive,
			 const ps_fpkey *k)
{
	json_t *out = normalize(spec, k), *v;
	size_t i;

	if (!out)
		return NULL;
	json_array_foreach(sensitive, i, v)
	{
		const char *ptr = json_string_value(v);
		/* Header values were all sealed by normalize. */
		if (ptr && strncmp(ptr, "/headers/", 9))
			seal_pointer(out, ptr, k);
	}
	return out;
}
