/*
 * ${VAR} interpolation for the config module: the environment, indexed
 * once per parse, and the expansion of ${NAME}, ${NAME:-fallback} and $$
 * in string scalars, with each problem reported at its own column.
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "config_int.h"
#include "util.h"
#include "banned.h"

#define VALUE_MAX ((size_t)1024 * 1024)

void ps_cfg_env_index_build(env_index *e)
{
	size_t n = 0, size = 16, i;

	for (i = 0; environ && environ[i]; i++)
		n++;
	while (size < 2 * n)
		size *= 2;
	e->slots = ps_calloc(size, sizeof(*e->slots));
	e->mask = size - 1;
	for (i = 0; i < n; i++) {
		const char *v = environ[i], *eq = strchr(v, '=');
		size_t len = eq ? (size_t)(eq - v) : strlen(v), at;

		if (!eq)
			continue;
		for (at = ps_cfg_hash(v, len) & e->mask; e->slots[at];
		     at = (at + 1) & e->mask)
			if (!strncmp(e->slots[at], v, len + 1))
				break;
		if (!e->slots[at])
			e->slots[at] = v;
	}
}

static const char *env_lookup(const env_index *e, const char *name)
{
	size_t len = strlen(name), at;

	if (!e || !e->slots)
		return getenv(name);
	for (at = ps_cfg_hash(name, len) & e->mask; e->slots[at];
	     at = (at + 1) & e->mask)
		if (!strncmp(e->slots[at], name, len) &&
		    e->slots[at][len] == '=')
			return e->slots[at] + len + 1;
	return NULL;
}

/* ---- interpolation ----------------------------------------------------- */

bool ps_cfg_name_start(char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
	       ch == '_';
}

bool ps_cfg_name_char(char ch)
{
	return ps_cfg_name_start(ch) || (ch >= '0' && ch <= '9');
}

static size_t count_refs(const char *s, size_t from, size_t to)
{
	size_t i, n = 0;

	for (i = from; i + 1 < to; i++)
		if (s[i] == '$' && s[i + 1] == '{')
			n++;
	return n;
}

/*
 * Where the "${" at byte `off` of n's text is in the file. For a one-line
 * scalar whose source holds the same "${" occurrences as its text (always
 * so for plain and single-quoted ones) that is the "${" itself; otherwise
 * the start of the scalar.
 */
static void ref_location(const ps_ynode *n, size_t off, int *line, int *col)
{
	size_t k, i, j, seen = 0, chars = 0, end;
	const char *src;

	*line = n->line;
	*col = n->column;
	if (!ps_ynode_span(&src, &end, n))
		return;
	if (count_refs(src, 0, end) != count_refs(n->text, 0, n->len))
		return;
	k = count_refs(n->text, 0, off);
	for (i = 0; i + 1 < end; i++)
		if (src[i] == '$' && src[i + 1] == '{' && seen++ == k)
			break;
	if (i + 1 >= end)
		return;
	for (j = 0; j < i; j++)
		if (((unsigned char)src[j] & 0xc0) != 0x80)
			chars++;
	if (chars < (size_t)(INT_MAX - n->column))
		*col = n->column + (int)chars;
}

/* Parse the reference at t[i] == "${". Returns the offset just past it,
 * or 0 when it is malformed. */
static size_t parse_ref(const char *t, size_t i, size_t *name_len,
			const char **fb, size_t *fblen)
{
	size_t j = i + 2;

	*fb = NULL;
	*fblen = 0;
	if (!ps_cfg_name_start(t[j]))
		return 0;
	while (ps_cfg_name_char(t[j]))
		j++;
	*name_len = j - i - 2;
	if (t[j] == '}')
		return j + 1;
	if (t[j] == ':' && t[j + 1] == '-') {
		const char *close = strchr(t + j + 2, '}');
		if (!close)
			return 0;
		*fb = t + j + 2;
		*fblen = (size_t)(close - *fb);
		return (size_t)(close - t) + 1;
	}
	return 0;
}

/*
 * Expand ${NAME}, ${NAME:-fallback} and $$ in a string scalar. Returns a
 * malloc'd string (free with ps_free_secret), or NULL after reporting the
 * problems (every unset variable; the first malformed reference). *used
 * tells whether any ${…} appeared; *len_out (may be NULL) gets the length.
 * The result is valid UTF-8 without NUL bytes (checked here), so it can go
 * to jansson unchecked.
 */
char *ps_cfg_expand(const ctx *c, const ps_ynode *n, bool *used,
		    size_t *len_out)
{
	ps_buf out;
	const char *t = n->text;
	size_t i = 0;
	bool failed = false;
	int line, col;

	*used = false;
	ps_buf_init(&out, VALUE_MAX);
	out.wipe = true; /* values from the environment may be secrets */
	while (i < n->len) {
		int r = 0;

		if (t[i] != '$' || (t[i + 1] != '$' && t[i + 1] != '{')) {
			/* Literal text up to the next '$', in one piece. */
			const char *d = memchr(t + i + 1, '$', n->len - i - 1);
			size_t end = d ? (size_t)(d - t) : n->len;

			r = ps_buf_put(&out, t + i, end - i);
			i = end;
		} else if (t[i + 1] == '$') {
			r = ps_buf_putc(&out, '$');
			i += 2;
		} else {
			size_t name_len = 0, fblen, end;
			const char *fb, *val;
			char *name;

			end = parse_ref(t, i, &name_len, &fb, &fblen);
			if (!end) {
				ref_location(n, i, &line, &col);
				ps_cfgdiag_add(
					c->d, PS_EINVALID, line, col,
					"malformed variable reference "
					"(expected ${NAME} or "
					"${NAME:-fallback}; write $$ for "
					"a literal $)");
				failed = true;
				break;
			}
			*used = true;
			name = ps_strndup(t + i + 2, name_len);
			val = env_lookup(c->env, name);
			if (fb && (!val || !*val)) {
				r = ps_buf_put(&out, fb, fblen);
			} else if (!val && c->no_env) {
				/* Not an error without the environment:
				 * the value is unknown (empty here). */
				c->cache->unknown++;
			} else if (!val) {
				ref_location(n, i, &line, &col);
				ps_cfgdiag_add(c->d, PS_EINVALID, line, col,
					       "environment variable %.100s is "
					       "not set",
					       name);
				failed = true;
			} else {
				r = ps_buf_puts(&out, val);
			}
			free(name);
			i = end;
		}
		if (r < 0) {
			ps_cfgdiag_add(c->d, PS_ELIMIT, n->line, n->column,
				       "value is longer than %zu bytes after "
				       "interpolation (limit)",
				       VALUE_MAX);
			failed = true;
			break;
		}
	}
	if (!failed && !ps_utf8_valid(out.ptr, out.len)) {
		ERR(c, n,
		    "value is not valid UTF-8 after interpolation "
		    "(check the environment variables it uses)");
		failed = true;
	}
	if (failed) {
		ps_buf_wipe(&out);
		return NULL;
	}
	return ps_buf_detach(&out, len_out);
}
