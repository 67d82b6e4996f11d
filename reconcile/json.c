#include "json.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "util.h"
#include "banned.h"

static char *encode(const json_t *v, size_t flags)
{
	char *s = json_dumps(v, flags | JSON_SORT_KEYS | JSON_ENCODE_ANY |
				   JSON_REAL_PRECISION(17));

	if (!s)
		ps_oom();
	return s;
}

char *ps_json_canonical(const json_t *v)
{
	char *s = encode(v, JSON_INDENT(2));
	size_t n = strlen(s);
	char *r = ps_malloc(n + 2);

	memcpy(r, s, n);
	r[n] = '\n';
	r[n + 1] = '\0';
	free(s);
	return r;
}

char *ps_json_compact(const json_t *v)
{
	return encode(v, JSON_COMPACT);
}

/* Decode one pointer segment [s, end) (~1 → /, ~0 → ~) into buf. */
static void segment(ps_buf *buf, const char *s, const char *end)
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
		segment(&seg, p + 1, end);
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

char *ps_json_pointer_append(const char *pointer, const char *seg)
{
	ps_buf b = PS_BUF_INIT;

	ps_buf_puts(&b, pointer);
	ps_buf_putc(&b, '/');
	for (; *seg; seg++) {
		if (*seg == '~')
			ps_buf_puts(&b, "~0");
		else if (*seg == '/')
			ps_buf_puts(&b, "~1");
		else
			ps_buf_putc(&b, *seg);
	}
	return ps_buf_detach(&b, NULL);
}
