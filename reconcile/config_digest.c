/*
 * An account's digest (ps_account.digest): SHA-256 of a typed,
 * length-prefixed encoding of what the account is configured to be.
 */
#include "config_int.h"

#include <stdlib.h>
#include <string.h>

#include "hmac.h"
#include "util.h"
#include "banned.h"

/* The encoding, built on the stack for the usual account (one call per
 * value into ps_buf cost as much as the hashing). It holds secrets: a
 * buffer is wiped before it is freed. */
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

/* A tag and a number (a length, a count, an integer's bits) as LEB128:
 * prefix-free, and a byte or two for the usual small number. */
static void ib_tag(struct ibuf *b, char tag, unsigned long long n)
{
	unsigned char x[1 + 10];
	size_t len = 0;

	x[len++] = (unsigned char)tag;
	while (n >= 0x80) {
		x[len++] = (unsigned char)(n | 0x80);
		n >>= 7;
	}
	x[len++] = (unsigned char)n;
	ib_put(b, x, len);
}

static void ib_str(struct ibuf *b, const char *s, size_t n)
{
	ib_tag(b, 's', n);
	ib_put(b, s, n);
}

/* Two values encode the same only when they are the same (objects in
 * their order: another order is another digest, which only costs the
 * settle memo a miss). */
static void put_value(struct ibuf *b, json_t *v)
{
	const char *k;
	json_t *c;
	size_t i;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		ib_tag(b, 'o', json_object_size(v));
		json_object_foreach(v, k, c)
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
		ib_tag(b, 'i', (unsigned long long)json_integer_value(v));
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

void ps_cfg_account_digest(ps_account *a)
{
	struct ibuf b;
	size_t i;

	b.p = b.stack;
	b.len = 0;
	b.cap = sizeof(b.stack);
	ib_str(&b, a->name, strlen(a->name));
	ib_str(&b, a->api_key, strlen(a->api_key));
	ib_tag(&b, 'c', a->ncallbacks);
	for (i = 0; i < a->ncallbacks; i++) {
		ps_callback *cb = &a->callbacks[i];
		ib_str(&b, cb->event, strlen(cb->event));
		put_value(&b, cb->spec);
		if (cb->sensitive)
			put_value(&b, cb->sensitive);
		else
			ib_tag(&b, '-', 0);
	}
	if (ps_sha256(a->digest, b.p, b.len) < 0)
		ps_oom();
	explicit_bzero(b.p, b.len);
	if (b.p != b.stack)
		free(b.p);
}
