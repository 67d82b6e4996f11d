#include "json.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "util.h"
#include "banned.h"

/*
 * Our own encoder for the canonical forms. jansson's json_dumps is correct
 * but slow (a no-drift plan encodes every account's document to compare blob
 * ids); this one writes straight into a ps_buf. Output: keys sorted by byte
 * order, strings as UTF-8 with only the escapes JSON requires, reals with 17
 * significant digits (".0" appended to integral values so they read back as
 * reals, as jansson does).
 */
static void put_string(ps_buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, run = 0;

	ps_buf_putc(b, '"');
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *esc = NULL;
		char u[7];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		ps_buf_put(b, s + run, i - run);
		run = i + 1;
		switch (c) {
		case '"':
			esc = "\\\"";
			break;
		case '\\':
			esc = "\\\\";
			break;
		case '\b':
			esc = "\\b";
			break;
		case '\f':
			esc = "\\f";
			break;
		case '\n':
			esc = "\\n";
			break;
		case '\r':
			esc = "\\r";
			break;
		case '\t':
			esc = "\\t";
			break;
		default:
			u[0] = '\\';
			u[1] = 'u';
			u[2] = '0';
			u[3] = '0';
			u[4] = hex[c >> 4];
			u[5] = hex[c & 15];
			u[6] = '\0';
			esc = u;
		}
		ps_buf_puts(b, esc);
	}
	ps_buf_put(b, s + run, len - run);
	ps_buf_putc(b, '"');
}

/* "1e+300" → "1e300", "1e-07" → "1e-7", as jansson writes exponents. */
static void put_exponent_trimmed(ps_buf *b, const char *num)
{
	const char *e = strchr(num, 'e');

	if (!e) {
		ps_buf_puts(b, num);
		return;
	}
	ps_buf_put(b, num, (size_t)(e - num) + 1);
	e++;
	if (*e == '+')
		e++;
	else if (*e == '-')
		ps_buf_putc(b, *e++);
	while (*e == '0' && e[1])
		e++;
	ps_buf_puts(b, e);
}

static void newline(ps_buf *b, int indent, int depth)
{
	static const char spaces[] = "\n                                ";
	size_t n, k;

	if (indent < 0)
		return;
	n = (size_t)indent * (size_t)depth;
	k = n < sizeof(spaces) - 2 ? n : sizeof(spaces) - 2;
	ps_buf_put(b, spaces, k + 1);
	for (n -= k; n; n -= k) {
		k = n < sizeof(spaces) - 2 ? n : sizeof(spaces) - 2;
		ps_buf_put(b, spaces + 1, k);
	}
}

struct member {
	const char *key;
	const json_t *value;
};

static int cmp_member(const void *a, const void *b)
{
	return strcmp(((const struct member *)a)->key,
		      ((const struct member *)b)->key);
}

static void emit(ps_buf *b, const json_t *v, int indent, int depth)
{
	char num[64];
	size_t i, n;

	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		struct member stack[16], *m = stack;
		const char *k;
		json_t *child;

		n = json_object_size(v);
		if (!n) {
			ps_buf_put(b, "{}", 2);
			return;
		}
		if (n > 16)
			m = ps_malloc(n * sizeof(*m));
		i = 0;
		json_object_foreach((json_t *)v, k, child)
		{
			m[i].key = k;
			m[i++].value = child;
		}
		qsort(m, n, sizeof(*m), cmp_member);
		ps_buf_putc(b, '{');
		for (i = 0; i < n; i++) {
			if (i)
				ps_buf_putc(b, ',');
			newline(b, indent, depth + 1);
			put_string(b, m[i].key, strlen(m[i].key));
			ps_buf_put(b, ": ", indent < 0 ? 1 : 2);
			emit(b, m[i].value, indent, depth + 1);
		}
		newline(b, indent, depth);
		ps_buf_putc(b, '}');
		if (m != stack)
			free(m);
		return;
	}
	case JSON_ARRAY:
		n = json_array_size(v);
		if (!n) {
			ps_buf_puts(b, "[]");
			return;
		}
		ps_buf_putc(b, '[');
		for (i = 0; i < n; i++) {
			if (i)
				ps_buf_putc(b, ',');
			newline(b, indent, depth + 1);
			emit(b, json_array_get(v, i), indent, depth + 1);
		}
		newline(b, indent, depth);
		ps_buf_putc(b, ']');
		return;
	case JSON_STRING:
		put_string(b, json_string_value(v), json_string_length(v));
		return;
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
			 json_integer_value(v));
		ps_buf_puts(b, num);
		return;
	case JSON_REAL:
		snprintf(num, sizeof(num), "%.17g", json_real_value(v));
		if (!strpbrk(num, ".eEn"))
			ps_buf_printf(b, "%s.0", num);
		else
			put_exponent_trimmed(b, num);
		return;
	case JSON_TRUE:
		ps_buf_puts(b, "true");
		return;
	case JSON_FALSE:
		ps_buf_puts(b, "false");
		return;
	case JSON_NULL:
	default:
		ps_buf_puts(b, "null");
		return;
	}
}

/* Every ps_buf call above may fail past the limit without a check: the
 * failure sticks to the buffer and ps_buf_detach returns NULL for it. */
char *ps_json_canonical(const json_t *v)
{
	ps_buf b;

	ps_buf_init(&b, PS_JSON_MAX);

	/* An account document is a few kilobytes: one allocation, not a
	 * series of doublings. */
	(void)ps_buf_grow(&b, 4096);

	emit(&b, v, 2, 0);
	ps_buf_putc(&b, '\n');
	return ps_buf_detach(&b, NULL);
}

char *ps_json_compact_secret(const json_t *v)
{
	ps_buf b;

	ps_buf_init(&b, PS_JSON_MAX);
	b.wipe = true;
	emit(&b, v, -1, 0);
	return ps_buf_detach(&b, NULL);
}

static void *json_alloc(size_t n)
{
	return ps_malloc(n);
}

static void json_wipe_free(void *p)
{
	if (p) {
		explicit_bzero(p, malloc_usable_size(p));
		free(p);
	}
}

void ps_json_wipe_on_free(void)
{
	json_set_alloc_funcs(json_alloc, json_wipe_free);
}

char *ps_json_compact(const json_t *v)
{
	ps_buf b;

	ps_buf_init(&b, PS_JSON_MAX);

	emit(&b, v, -1, 0);
	return ps_buf_detach(&b, NULL);
}

json_t *ps_json_string_object(const json_t *v)
{
	json_t *parsed;

	if (!json_is_string(v))
		return NULL;
	parsed = json_loadb(json_string_value(v), json_string_length(v),
			    JSON_REJECT_DUPLICATES, NULL);
	if (json_is_object(parsed))
		return parsed;
	json_decref(parsed);
	return NULL;
}

void ps_json_pointer_decode(ps_buf *buf, const char *s, const char *end)
{
	ps_buf_reset(buf);
	for (; s < end; s++) {
		if (*s == '~' && s + 1 < end && (s[1] == '0' || s[1] == '1')) {
			ps_buf_putc(buf, s[1] == '0' ? '~' : '/');
			s++;
		} else {
			ps_buf_putc(buf, *s);
		}
	}
}

json_t *ps_json_pointer_get(const json_t *v, const char *pointer)
{
	ps_buf seg = PS_BUF_INIT;
	json_t *cur = (json_t *)v;
	const char *p = pointer;

	if (!p || !*p)
		return cur;
	if (*p != '/')
		return NULL;
	while (cur && *p == '/') {
		const char *end = strchr(p + 1, '/');
		if (!end)
			end = p + strlen(p);
		ps_json_pointer_decode(&seg, p + 1, end);
		if (json_is_object(cur)) {
			cur = json_object_get(cur, seg.ptr);
		} else if (json_is_array(cur)) {
			long idx;
			if (ps_parse_long(&idx, seg.ptr, 0, 1L << 30) < 0)
				cur = NULL;
			else
				cur = json_array_get(cur, (size_t)idx);
		} else {
			cur = NULL;
		}
		p = end;
	}
	ps_buf_release(&seg);
	return cur;
}

void ps_json_pointer_push(ps_buf *b, const char *seg)
{
	ps_buf_putc(b, '/');
	for (; *seg; seg++) {
		if (*seg == '~')
			ps_buf_puts(b, "~0");
		else if (*seg == '/')
			ps_buf_puts(b, "~1");
		else
			ps_buf_putc(b, *seg);
	}
}

char *ps_json_pointer_append(const char *pointer, const char *seg)
{
	ps_buf b = PS_BUF_INIT;

	ps_buf_puts(&b, pointer);
	ps_json_pointer_push(&b, seg);
	return ps_buf_detach(&b, NULL);
}
