/*
 * Planning: the settle memo's input digest and its check (memo.h keeps
 * the file; plan.c asks).
 */
#include "plan_int.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"
#include "memo.h"
#include "util.h"
#include "version.h"
#include "banned.h"

/* ---- the settle memo ---- */

/* Bump when the same input makes another document (its layout, the
 * sealing, the encoding change): the memo then misses once, instead of
 * vouching for the blob an older pavesync wrote. The release is part of
 * the input too, so an upgrade never trusts an older memo. */
#define MEMO_INPUT_VERSION 1

/* The input's encoding, built on the stack for the usual account (one
 * call per value into ps_buf cost as much as the hashing). */
struct ibuf {
	unsigned char *p;
	size_t len, cap;
	unsigned char stack[4096];
};

static void ib_put(struct ibuf *b, const void *data, size_t n)
{
	if (b->cap - b->len < n) {
		size_t cap = 2 * (b->len + n);
		unsigned char *p = ps_malloc(cap);
		memcpy(p, b->p, b->len);
		if (b->p != b->stack) {
			explicit_bzero(b->p, b->len);
			free(b->p);
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
}

static void ib_tag(struct ibuf *b, char tag, size_t n)
{
	unsigned char x[9];
	int i;

	x[0] = (unsigned char)tag;
	for (i = 0; i < 8; i++)
		x[1 + i] = (unsigned char)((unsigned long long)n >> (8 * i));
	ib_put(b, x, sizeof(x));
}

static void ib_str(struct ibuf *b, const char *s, size_t n)
{
	ib_tag(b, 's', n);
	ib_put(b, s, n);
}

/* A typed, length-prefixed encoding of v: two values encode the same only
 * when they are the same (objects in their order: another order is another
 * input, which only costs a miss). */
static void put_value(struct ibuf *b, const json_t *v)
{
	const char *k;
	json_t *c;
	size_t i;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		ib_tag(b, 'o', json_object_size(v));
		json_object_foreach((json_t *)v, k, c)
		{
			ib_str(b, k, strlen(k));
			put_value(b, c);
		}
		break;
	case JSON_ARRAY:
		ib_tag(b, 'a', json_array_size(v));
		json_array_foreach(v, i, c) put_value(b, c);
		break;
	case JSON_STRING:
		ib_str(b, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		ib_tag(b, 'i', (size_t)json_integer_value(v));
		break;
	case JSON_REAL: {
		double d = json_real_value(v);
		ib_tag(b, 'r', 0);
		ib_put(b, &d, sizeof(d));
		break;
	}
	case JSON_TRUE:
		ib_tag(b, 't', 0);
		break;
	case JSON_FALSE:
		ib_tag(b, 'f', 0);
		break;
	case JSON_NULL:
		ib_tag(b, 'n', 0);
		break;
	}
}

/*
 * Everything the account's document is made of (plan_make_doc of its sealed
 * desired callbacks): its name, API key and callbacks as configured, keyed
 * with its fingerprint key (so the key, hence the API secret or
 * PAVESYNC_FINGERPRINT_KEY, is part of it, and the digest can no more be
 * tested against than a fingerprint).
 */
void plan_memo_digest(unsigned char out[PS_MEMO_DIGEST], const ps_account *acct,
		      const ps_fpkey *k)
{
	struct ibuf b;
	size_t i;

	b.p = b.stack;
	b.len = 0;
	b.cap = sizeof(b.stack);
	ib_tag(&b, 'v', MEMO_INPUT_VERSION);
	ib_str(&b, PAVESYNC_VERSION, strlen(PAVESYNC_VERSION));
	ib_tag(&b, 'F', PS_STATE_FORMAT);
	ib_str(&b, acct->name, strlen(acct->name));
	ib_str(&b, acct->api_key, strlen(acct->api_key));
	ib_tag(&b, 'c', acct->ncallbacks);
	for (i = 0; i < acct->ncallbacks; i++) {
		const ps_callback *cb = &acct->callbacks[i];
		ib_str(&b, cb->event, strlen(cb->event));
		put_value(&b, cb->spec);
		if (cb->sensitive)
			put_value(&b, cb->sensitive);
		else
			ib_tag(&b, '-', 0);
	}
	ps_fpkey_mac(out, k, b.p, b.len);
	explicit_bzero(b.p, b.len);
	if (b.p != b.stack)
		free(b.p);
}

/*
 * The fast path of a no-drift plan: when the document the desired state
 * would produce is byte for byte the committed one (same blob id), every
 * callback is unchanged and nothing is unmanaged; the snapshot need not even
 * be read. The blob id computed is noted for the memo.
 */
bool plan_memo_matches(const ps_state *st, ps_account_plan *ap, json_t *desired,
		       struct memo_note *note)
{
	json_t *doc;
	char *text;

	if (!st)
		return false;
	doc = plan_make_doc(ap, json_incref(desired),
			    NULL); /* read only: no copy */
	text = ps_json_canonical(doc);
	/* Too large to encode: not the blob the snapshot has (which was
	 * encoded within the limit); the commit will refuse it. */
	note->have_blob =
		text && ps_state_blob_id(note->blob, text, strlen(text));
	free(text);
	json_decref(doc);
	return note->have_blob && ps_state_has_blob(st, ap->name, note->blob);
}
