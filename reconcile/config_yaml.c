/*
 * YAML → node tree for the config module, from libyaml's event API.
 *
 * Why events and not yaml_parser_load: libyaml has no depth or alias limit
 * of its own (200,000 nested brackets keep it busy for over a minute, and a
 * "billion laughs" document expands without bound), so we build the tree
 * ourselves and stop at the first event that crosses a limit.
 */
#include "config_yaml.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "util.h"
#include "banned.h"

#define TAG_PREFIX "tag:yaml.org,2002:"

/* ---- diagnostics ------------------------------------------------------ */

void ps_cfgdiag_add(ps_cfgdiag *d, int code, int line, int column,
		    const char *fmt, ...)
{
	ps_error e;
	char msg[PS_ERROR_MSG_MAX];
	va_list ap;
	size_t i;

	if (code == PS_ELIMIT || d->code == 0)
		d->code = code;
	if (d->full)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ps_error_clear(&e);
	ps_error_at(&e, code, d->source, line, column, "%s", msg);
	/* A node shared through aliases may be checked more than once. */
	for (i = 0; i < d->list.count; i++) {
		const ps_error *o = &d->list.items[i];
		if (o->line == line && o->column == column &&
		    !strcmp(o->message, e.message))
			return;
	}
	if (d->list.count >= d->max_errors) {
		ps_error_at(&e, code, d->source, 0, 0,
			    "too many errors (stopped after %zu)",
			    d->max_errors);
		d->full = true;
	}
	ps_diags_add(&d->list, &e);
}

void ps_config_limits_resolve(ps_config_limits *out,
			      const ps_config_limits *in)
{
	ps_config_limits def;

	ps_config_limits_default(&def);
	if (!in) {
		*out = def;
		return;
	}
	*out = *in;
	if (!out->max_file_size)
		out->max_file_size = def.max_file_size;
	if (!out->max_depth)
		out->max_depth = def.max_depth;
	if (!out->max_alias_nodes)
		out->max_alias_nodes = def.max_alias_nodes;
	if (!out->max_errors)
		out->max_errors = def.max_errors;
	if (!out->max_nodes)
		out->max_nodes = def.max_nodes;
}

/* ---- positions ---------------------------------------------------------- */

/*
 * A cursor over the raw bytes that counts lines and columns the way libyaml
 * does (0-based; a column is a character; CR LF, CR, LF, NEL, LS and PS are
 * line breaks; a leading BOM is not counted), so a libyaml mark can be
 * turned back into a byte offset.
 */
typedef struct cursor {
	size_t off;
	size_t line;
	size_t col;
} cursor;

static size_t break_len(const char *d, size_t len, size_t off)
{
	const unsigned char *s = (const unsigned char *)d + off;
	size_t left = len - off;

	if (s[0] == '\r')
		return left > 1 && s[1] == '\n' ? 2 : 1;
	if (s[0] == '\n')
		return 1;
	if (left > 1 && s[0] == 0xc2 && s[1] == 0x85)
		return 2;
	if (left > 2 && s[0] == 0xe2 && s[1] == 0x80 &&
	    (s[2] == 0xa8 || s[2] == 0xa9))
		return 3;
	return 0;
}

static size_t char_len(unsigned char c)
{
	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0)
		return 2;
	if ((c & 0xf0) == 0xe0)
		return 3;
	if ((c & 0xf8) == 0xf0)
		return 4;
	return 1;
}

static void cursor_init(cursor *c, const char *d, size_t len)
{
	c->off = (len >= 3 && !memcmp(d, "\xef\xbb\xbf", 3)) ? 3 : 0;
	c->line = 0;
	c->col = 0;
}

static void cursor_step(cursor *c, const char *d, size_t len)
{
	size_t b = break_len(d, len, c->off);

	if (b) {
		c->off += b;
		c->line++;
		c->col = 0;
	} else {
		c->off += char_len((unsigned char)d[c->off]);
		c->col++;
	}
	if (c->off > len)
		c->off = len;
}

/* Advance to 0-based (line, col); true when exactly there. */
static bool cursor_seek(cursor *c, const char *d, size_t len, size_t line,
			size_t col)
{
	while (c->off < len &&
	       (c->line < line || (c->line == line && c->col < col)))
		cursor_step(c, d, len);
	return c->line == line && c->col == col;
}

void ps_yaml_locate(const char *data, size_t len, size_t offset, int *line,
		    int *column)
{
	cursor c;

	cursor_init(&c, data, len);
	if (offset < c.off)
		offset = c.off;
	while (c.off < offset && c.off < len)
		cursor_step(&c, data, len);
	*line = c.line + 1 > INT_MAX ? INT_MAX : (int)(c.line + 1);
	*column = c.col + 1 > INT_MAX ? INT_MAX : (int)(c.col + 1);
}

static int mark_int(size_t v)
{
	return v >= (size_t)INT_MAX ? INT_MAX : (int)v + 1;
}

/* Offset of the first byte that makes the text invalid UTF-8 (or NUL). */
static size_t utf8_bad_offset(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		uint32_t cp;
		size_t n, k;

		if (c == 0)
			return i;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3;
			cp = c & 0x07;
		} else {
			return i;
		}
		if (i + n >= len)
			return i;
		for (k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return i;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
		    (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return i;
		i += n + 1;
	}
	return len;
}

/* ---- a small string → pointer hash map (keys borrowed) ----------------- */

typedef struct strmap {
	const char **keys;
	void **vals;
	size_t cap; /* power of two, or 0 */
	size_t n;
} strmap;

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h ^ (h >> 29);
}

static void strmap_grow(strmap *m)
{
	size_t ncap = m->cap ? m->cap * 2 : 16, i;
	const char **keys = ps_calloc(ncap, sizeof(*keys));
	void **vals = ps_calloc(ncap, sizeof(*vals));

	for (i = 0; i < m->cap; i++) {
		size_t j;
		if (!m->keys[i])
			continue;
		j = hash_str(m->keys[i]) & (ncap - 1);
		while (keys[j])
			j = (j + 1) & (ncap - 1);
		keys[j] = m->keys[i];
		vals[j] = m->vals[i];
	}
	free(m->keys);
	free(m->vals);
	m->keys = keys;
	m->vals = vals;
	m->cap = ncap;
}

/* The slot for key: *found tells whether it was there; when not, it is
 * inserted with value NULL. Returns the value slot. */
static void **strmap_slot(strmap *m, const char *key, bool *found)
{
	size_t j;

	if ((m->n + 1) * 2 > m->cap)
		strmap_grow(m);
	j = hash_str(key) & (m->cap - 1);
	while (m->keys[j]) {
		if (!strcmp(m->keys[j], key)) {
			*found = true;
			return &m->vals[j];
		}
		j = (j + 1) & (m->cap - 1);
	}
	*found = false;
	m->keys[j] = key;
	m->vals[j] = NULL;
	m->n++;
	return &m->vals[j];
}

static void *strmap_get(const strmap *m, const char *key)
{
	size_t j;

	if (!m->cap)
		return NULL;
	j = hash_str(key) & (m->cap - 1);
	while (m->keys[j]) {
		if (!strcmp(m->keys[j], key))
			return m->vals[j];
		j = (j + 1) & (m->cap - 1);
	}
	return NULL;
}

static void strmap_release(strmap *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

/* ---- the tree ----------------------------------------------------------- */

typedef struct parser {
	ps_ydoc *doc;
	ps_cfgdiag *d;
	const ps_config_limits *lim;
	const char *data;
	size_t len;
	cursor cur;
	ps_ynode **stack;     /* open collections */
	size_t depth;
	size_t astack;
	strmap anchors;       /* name → node; names owned by anchor_names */
	char **anchor_names;
	size_t nanchors;
	size_t aanchors;
	size_t alias_nodes;   /* budget used by alias expansion */
	int ndocs;
	int stop;             /* a fatal error: code */
} parser;

static size_t sat_add(size_t a, size_t b)
{
	return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

static void fatal(parser *p, int code, int line, int col, const char *fmt,
		  ...) __attribute__((format(printf, 5, 6)));

static void fatal(parser *p, int code, int line, int col, const char *fmt,
		  ...)
{
	char msg[PS_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ps_cfgdiag_add(p->d, code, line, col, "%s", msg);
	p->stop = code;
}

static ps_ynode *new_node(parser *p, ps_ynode_kind kind,
			  const yaml_mark_t *mark)
{
	ps_ynode *n;

	if (p->doc->nall >= p->lim->max_nodes) {
		fatal(p, PS_ELIMIT, mark_int(mark->line), mark_int(mark->column),
		      "the file has more than %zu nodes (limit)",
		      p->lim->max_nodes);
		return NULL;
	}
	n = ps_calloc(1, sizeof(*n));
	n->kind = kind;
	n->line = mark_int(mark->line);
	n->column = mark_int(mark->column);
	n->size = 1;
	if (p->doc->nall == p->doc->aall) {
		p->doc->aall = p->doc->aall ? p->doc->aall * 2 : 64;
		p->doc->all = ps_realloc(p->doc->all,
					 p->doc->aall * sizeof(*p->doc->all));
	}
	p->doc->all[p->doc->nall++] = n;
	return n;
}

static void push_kid(ps_ynode *parent, ps_ynode *kid)
{
	if (parent->nkids == parent->akids) {
		parent->akids = parent->akids ? parent->akids * 2 : 8;
		parent->kids = ps_realloc(parent->kids,
					  parent->akids * sizeof(*parent->kids));
	}
	parent->kids[parent->nkids++] = kid;
}

/* Is the next node added to the open collection a mapping key? */
static bool next_is_key(const parser *p)
{
	const ps_ynode *top = p->depth ? p->stack[p->depth - 1] : NULL;

	return top && top->kind == PS_YMAPPING && top->nkids % 2 == 0;
}

static void attach(parser *p, ps_ynode *n, const yaml_mark_t *mark)
{
	if (p->depth) {
		push_kid(p->stack[p->depth - 1], n);
	} else if (!p->doc->root) {
		p->doc->root = n;
	} else {
		/* libyaml gives one root per document and we stop at the
		 * second document, so this cannot happen; be safe anyway. */
		fatal(p, PS_EINVALID, mark_int(mark->line),
		      mark_int(mark->column), "unexpected second root node");
	}
}

static void anchor(parser *p, const yaml_char_t *name, ps_ynode *n)
{
	bool found;
	void **slot;
	char *copy;

	if (!name)
		return;
	copy = ps_strdup((const char *)name);
	if (p->nanchors == p->aanchors) {
		p->aanchors = p->aanchors ? p->aanchors * 2 : 16;
		p->anchor_names = ps_realloc(p->anchor_names,
					     p->aanchors * sizeof(char *));
	}
	p->anchor_names[p->nanchors++] = copy;
	/* A later anchor of the same name replaces the earlier one. */
	slot = strmap_slot(&p->anchors, copy, &found);
	*slot = n;
}

/* ---- scalars: YAML 1.2 core schema ------------------------------------ */

static bool is_null_text(const char *s)
{
	return !*s || !strcmp(s, "~") || !strcmp(s, "null") ||
	       !strcmp(s, "Null") || !strcmp(s, "NULL");
}

static int bool_text(const char *s)
{
	if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
		return 1;
	if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
		return 0;
	return -1;
}

static bool all_of(const char *s, const char *set)
{
	return *s && s[strspn(s, set)] == '\0';
}

static bool is_int_text(const char *s)
{
	if (s[0] == '0' && s[1] == 'o')
		return all_of(s + 2, "01234567");
	if (s[0] == '0' && s[1] == 'x')
		return all_of(s + 2, "0123456789abcdefABCDEF");
	if (*s == '-' || *s == '+')
		s++;
	return all_of(s, "0123456789");
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool is_float_text(const char *s)
{
	if (*s == '-' || *s == '+')
		s++;
	if (*s == '.') {
		s++;
		if (!is_digit(*s))
			return false;
		while (is_digit(*s))
			s++;
	} else {
		if (!is_digit(*s))
			return false;
		while (is_digit(*s))
			s++;
		if (*s == '.') {
			s++;
			while (is_digit(*s))
				s++;
		}
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '-' || *s == '+')
			s++;
		if (!is_digit(*s))
			return false;
		while (is_digit(*s))
			s++;
	}
	return *s == '\0';
}

static bool is_infnan_text(const char *s)
{
	const char *t = s;

	if (*t == '-' || *t == '+')
		t++;
	if (!strcmp(t, ".inf") || !strcmp(t, ".Inf") || !strcmp(t, ".INF"))
		return true;
	return !strcmp(s, ".nan") || !strcmp(s, ".NaN") || !strcmp(s, ".NAN");
}

static int parse_int(const char *s, json_int_t *out)
{
	char *end;

	errno = 0;
	if (s[0] == '0' && (s[1] == 'o' || s[1] == 'x')) {
		unsigned long long v = strtoull(s + 2, &end, s[1] == 'o' ? 8 : 16);
		if (errno || *end || v > (unsigned long long)LLONG_MAX)
			return -1;
		*out = (json_int_t)v;
	} else {
		long long v = strtoll(s, &end, 10);
		if (errno || *end)
			return -1;
		*out = (json_int_t)v;
	}
	return 0;
}

static int parse_float(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (*end || isinf(v) || isnan(v))
		return -1;
	*out = v;
	return 0;
}

static void scalar_error(parser *p, ps_ynode *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void scalar_error(parser *p, ps_ynode *n, const char *fmt, ...)
{
	char msg[PS_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ps_cfgdiag_add(p->d, PS_EINVALID, n->line, n->column, "%s", msg);
	n->bad = true;
}

/* Type a number written as `s` (already known to match int or float). */
static void number(parser *p, ps_ynode *n, bool as_float)
{
	if (!as_float && is_int_text(n->text)) {
		n->type = PS_YINT;
		if (parse_int(n->text, &n->ival) < 0)
			scalar_error(p, n, "integer \"%.40s\" is out of range "
				     "(expected at most 64 bits)", n->text);
		return;
	}
	n->type = PS_YFLOAT;
	if (is_int_text(n->text) && (n->text[1] == 'o' || n->text[1] == 'x')) {
		json_int_t v;
		if (parse_int(n->text, &v) < 0)
			scalar_error(p, n, "number \"%.40s\" is out of range",
				     n->text);
		n->fval = (double)v;
	} else if (parse_float(n->text, &n->fval) < 0) {
		scalar_error(p, n, "number \"%.40s\" is out of range", n->text);
	}
}

static void core_schema(parser *p, ps_ynode *n)
{
	int b;

	/* Type resolution happens on the raw text: "${PORT}" is a string
	 * even if PORT holds digits. */
	if (strstr(n->text, "${")) {
		n->type = PS_YSTRING;
	} else if (is_null_text(n->text)) {
		n->type = PS_YNULL;
	} else if ((b = bool_text(n->text)) >= 0) {
		n->type = PS_YBOOL;
		n->bval = b;
	} else if (is_int_text(n->text)) {
		number(p, n, false);
	} else if (is_float_text(n->text)) {
		number(p, n, true);
	} else if (is_infnan_text(n->text)) {
		n->type = PS_YFLOAT;
		scalar_error(p, n, "\"%s\" cannot be represented in JSON "
			     "(expected a finite number)", n->text);
	} else {
		n->type = PS_YSTRING;
	}
}

/* Show a resolved tag the way it is usually written. */
static void tag_name(char *out, size_t outlen, const char *tag)
{
	if (!strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)))
		snprintf(out, outlen, "!!%.60s", tag + strlen(TAG_PREFIX));
	else
		snprintf(out, outlen, "%.60s", tag);
}

static const char *const tag_hint =
	"expected !secret, !!str, !!int, !!float, !!bool or !!null";

static void resolve_scalar(parser *p, ps_ynode *n, const char *tag,
			   bool is_key)
{
	char name[80];
	int b;

	n->type = PS_YSTRING;
	if (tag && !strcmp(tag, "!secret")) {
		n->secret = true;
		n->tagged = true;
		tag = NULL;
	}
	if (tag && strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX))) {
		tag_name(name, sizeof(name), tag);
		scalar_error(p, n, "unsupported tag \"%s\" (%s)", name,
			     tag_hint);
		return;
	}
	if (tag) {
		const char *t = tag + strlen(TAG_PREFIX);
		n->tagged = true;
		if (!strcmp(t, "str"))
			return;
		if (is_key && (!strcmp(t, "int") || !strcmp(t, "float") ||
			       !strcmp(t, "bool") || !strcmp(t, "null")))
			return; /* keys are taken as their text */
		if (!strcmp(t, "int")) {
			if (is_int_text(n->text))
				number(p, n, false);
			else
				scalar_error(p, n, "expected an integer for "
					     "!!int, found \"%.40s\"", n->text);
		} else if (!strcmp(t, "float")) {
			if (is_int_text(n->text) || is_float_text(n->text))
				number(p, n, true);
			else if (is_infnan_text(n->text))
				scalar_error(p, n, "\"%s\" cannot be represented "
					     "in JSON (expected a finite number)",
					     n->text);
			else
				scalar_error(p, n, "expected a number for "
					     "!!float, found \"%.40s\"", n->text);
		} else if (!strcmp(t, "bool")) {
			if ((b = bool_text(n->text)) >= 0) {
				n->type = PS_YBOOL;
				n->bval = b;
			} else {
				scalar_error(p, n, "expected true or false "
					     "for !!bool, found \"%.40s\"",
					     n->text);
			}
		} else if (!strcmp(t, "null")) {
			if (is_null_text(n->text))
				n->type = PS_YNULL;
			else
				scalar_error(p, n, "expected null for !!null, "
					     "found \"%.40s\"", n->text);
		} else {
			tag_name(name, sizeof(name), tag);
			scalar_error(p, n, "unsupported tag \"%s\" on a scalar "
				     "(%s)", name, tag_hint);
		}
		return;
	}
	if (!is_key && n->plain)
		core_schema(p, n);
}

static void on_scalar(parser *p, const yaml_event_t *ev)
{
	const yaml_mark_t *sm = &ev->start_mark, *em = &ev->end_mark;
	bool is_key = next_is_key(p);
	ps_ynode *n = new_node(p, PS_YSCALAR, sm);

	if (!n)
		return;
	n->text = ps_strndup((const char *)ev->data.scalar.value,
			     ev->data.scalar.length);
	n->len = ev->data.scalar.length;
	n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	/* Remember where a one-line scalar sits in the input, so that a
	 * "${" inside it can be reported at its own column. */
	if (sm->line == em->line &&
	    cursor_seek(&p->cur, p->data, p->len, sm->line, sm->column)) {
		n->src_start = p->cur.off;
		if (cursor_seek(&p->cur, p->data, p->len, em->line,
				em->column)) {
			n->src_end = p->cur.off;
			n->span = true;
		}
	}
	anchor(p, ev->data.scalar.anchor, n);
	attach(p, n, sm);
	if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length)) {
		scalar_error(p, n, "a NUL character is not allowed here");
		return;
	}
	resolve_scalar(p, n, (const char *)ev->data.scalar.tag, is_key);
}

/* ---- collections ---------------------------------------------------------- */

static void start_collection(parser *p, const yaml_event_t *ev,
			     ps_ynode_kind kind)
{
	const yaml_char_t *anc, *tag;
	ps_ynode *n;

	if (p->depth + 1 > p->lim->max_depth) {
		fatal(p, PS_ELIMIT, mark_int(ev->start_mark.line),
		      mark_int(ev->start_mark.column),
		      "nesting is deeper than %u levels (limit)",
		      p->lim->max_depth);
		return;
	}
	n = new_node(p, kind, &ev->start_mark);
	if (!n)
		return;
	if (kind == PS_YMAPPING) {
		anc = ev->data.mapping_start.anchor;
		tag = ev->data.mapping_start.tag;
	} else {
		anc = ev->data.sequence_start.anchor;
		tag = ev->data.sequence_start.tag;
	}
	n->height = 1;
	n->open = true;
	if (tag) {
		const char *t = (const char *)tag;
		char name[80];
		n->tagged = true;
		if (!strcmp(t, "!secret")) {
			n->secret = true;
		} else if (!(kind == PS_YMAPPING && !strcmp(t, TAG_PREFIX "map")) &&
			   !(kind == PS_YSEQUENCE && !strcmp(t, TAG_PREFIX "seq"))) {
			tag_name(name, sizeof(name), t);
			ps_cfgdiag_add(p->d, PS_EINVALID, n->line, n->column,
				       "unsupported tag \"%s\" on a %s "
				       "(expected !secret)", name,
				       kind == PS_YMAPPING ? "mapping"
							   : "sequence");
			n->bad = true;
		}
	}
	anchor(p, anc, n);
	attach(p, n, &ev->start_mark);
	if (p->depth == p->astack) {
		p->astack = p->astack ? p->astack * 2 : 16;
		p->stack = ps_realloc(p->stack, p->astack * sizeof(*p->stack));
	}
	p->stack[p->depth++] = n;
}

static bool is_merge_key(const ps_ynode *k)
{
	return k->kind == PS_YSCALAR && k->plain && !k->tagged &&
	       !strcmp(k->text, "<<");
}

/* Append src's pairs whose keys are not in `seen` (explicit keys win, and
 * among merged mappings the first listed wins). */
static void merge_from(ps_ynode ***out, size_t *nout, size_t *aout,
		       strmap *seen, const ps_ynode *src)
{
	size_t i;

	for (i = 0; i + 1 < src->nkids; i += 2) {
		bool found;
		void **slot = strmap_slot(seen, src->kids[i]->text, &found);
		if (found)
			continue;
		*slot = src->kids[i];
		if (*nout + 2 > *aout) {
			*aout = *aout ? *aout * 2 : 8;
			*out = ps_realloc(*out, *aout * sizeof(**out));
		}
		(*out)[(*nout)++] = src->kids[i];
		(*out)[(*nout)++] = src->kids[i + 1];
	}
}

static void finish_mapping(parser *p, ps_ynode *m)
{
	ps_ynode **out = NULL, **merges = NULL;
	size_t nout = 0, aout = 0, nmerges = 0, i;
	strmap seen = {0};
	const ps_ynode *first_merge = NULL;

	if (m->nkids) {
		aout = m->nkids;
		out = ps_malloc(aout * sizeof(*out));
		merges = ps_malloc((m->nkids / 2 + 1) * sizeof(*merges));
	}
	for (i = 0; i + 1 < m->nkids; i += 2) {
		ps_ynode *k = m->kids[i], *v = m->kids[i + 1];
		const ps_ynode *first;
		bool found;
		void **slot;

		if (k->kind != PS_YSCALAR) {
			if (!k->bad)
				ps_cfgdiag_add(p->d, PS_EINVALID, k->line,
					       k->column, "expected a scalar as "
					       "a mapping key, found %s",
					       ps_ynode_what(k));
			continue;
		}
		if (k->bad)
			continue;
		if (is_merge_key(k)) {
			if (first_merge) {
				ps_cfgdiag_add(p->d, PS_EINVALID, k->line,
					       k->column, "duplicate key \"<<\" "
					       "(first defined at line %d; "
					       "merge several mappings with "
					       "<<: [*a, *b])",
					       first_merge->line);
				continue;
			}
			first_merge = k;
			merges[nmerges++] = v;
			continue;
		}
		slot = strmap_slot(&seen, k->text, &found);
		if (found) {
			first = *slot;
			ps_cfgdiag_add(p->d, PS_EINVALID, k->line, k->column,
				       "duplicate key \"%.100s\" (first defined "
				       "at line %d)", k->text, first->line);
			continue;
		}
		*slot = k;
		out[nout++] = k;
		out[nout++] = v;
	}
	for (i = 0; i < nmerges; i++) {
		ps_ynode *v = merges[i];
		size_t j;

		if (v->bad)
			continue;
		if (v->kind == PS_YMAPPING) {
			merge_from(&out, &nout, &aout, &seen, v);
			continue;
		}
		if (v->kind != PS_YSEQUENCE) {
			ps_cfgdiag_add(p->d, PS_EINVALID, v->line, v->column,
				       "expected a mapping or a sequence of "
				       "mappings for the merge key \"<<\", "
				       "found %s", ps_ynode_what(v));
			continue;
		}
		for (j = 0; j < v->nkids; j++) {
			ps_ynode *item = v->kids[j];
			if (item->bad)
				continue;
			if (item->kind != PS_YMAPPING) {
				ps_cfgdiag_add(p->d, PS_EINVALID, item->line,
					       item->column, "expected a mapping "
					       "to merge with \"<<\", found %s",
					       ps_ynode_what(item));
				continue;
			}
			merge_from(&out, &nout, &aout, &seen, item);
		}
	}
	strmap_release(&seen);
	free(merges);
	free(m->kids);
	m->kids = out;
	m->nkids = nout;
	m->akids = aout;
}

static void end_collection(parser *p)
{
	ps_ynode *n;
	size_t i;

	if (!p->depth)
		return;
	n = p->stack[--p->depth];
	if (n->kind == PS_YMAPPING)
		finish_mapping(p, n);
	n->size = 1;
	n->height = 1;
	for (i = 0; i < n->nkids; i++) {
		n->size = sat_add(n->size, n->kids[i]->size);
		if (n->kids[i]->height + 1 > n->height)
			n->height = n->kids[i]->height + 1;
	}
	n->open = false;
}

static void on_alias(parser *p, const yaml_event_t *ev)
{
	const char *name = (const char *)ev->data.alias.anchor;
	int line = mark_int(ev->start_mark.line);
	int col = mark_int(ev->start_mark.column);
	ps_ynode *n = strmap_get(&p->anchors, name);

	if (!n) {
		fatal(p, PS_EINVALID, line, col, "undefined alias \"*%.100s\" "
		      "(expected an anchor \"&%.100s\" earlier in the file)",
		      name, name);
		return;
	}
	if (n->open) {
		fatal(p, PS_ELIMIT, line, col, "alias cycle: \"*%.100s\" refers "
		      "to a node that contains it", name);
		return;
	}
	p->alias_nodes = sat_add(p->alias_nodes, n->size);
	if (p->alias_nodes > p->lim->max_alias_nodes) {
		fatal(p, PS_ELIMIT, line, col, "aliases expand to more than %zu "
		      "nodes (limit)", p->lim->max_alias_nodes);
		return;
	}
	if (p->depth + n->height > p->lim->max_depth) {
		fatal(p, PS_ELIMIT, line, col, "alias \"*%.100s\" makes nesting "
		      "deeper than %u levels (limit)", name, p->lim->max_depth);
		return;
	}
	attach(p, n, &ev->start_mark);
}

static void on_document(parser *p, const yaml_event_t *ev)
{
	if (++p->ndocs > 1)
		fatal(p, PS_EINVALID, mark_int(ev->start_mark.line),
		      mark_int(ev->start_mark.column),
		      "found a second YAML document (expected exactly one; "
		      "remove the extra \"---\")");
}

/* libyaml's error, as FILE:LINE:COL: message. */
static void syntax_error(parser *p, const yaml_parser_t *yp)
{
	int line, col;
	const char *problem = yp->problem ? yp->problem : "invalid YAML";

	if (yp->error == YAML_MEMORY_ERROR)
		ps_oom();
	if (yp->error == YAML_READER_ERROR) {
		ps_yaml_locate(p->data, p->len, yp->problem_offset, &line, &col);
		fatal(p, PS_EINVALID, line, col, "%s", problem);
		return;
	}
	line = mark_int(yp->problem_mark.line);
	col = mark_int(yp->problem_mark.column);
	if (yp->context && yp->context_mark.line != yp->problem_mark.line)
		fatal(p, PS_EINVALID, line, col, "%s %s (started at line %d)",
		      problem, yp->context, mark_int(yp->context_mark.line));
	else if (yp->context)
		fatal(p, PS_EINVALID, line, col, "%s %s", problem, yp->context);
	else
		fatal(p, PS_EINVALID, line, col, "%s", problem);
}

int ps_yaml_parse(ps_ydoc *doc, const char *data, size_t len,
		  const ps_config_limits *limits, ps_cfgdiag *d)
{
	parser p;
	yaml_parser_t yp;
	yaml_event_t ev;
	size_t i;

	if (!data)
		data = "";
	memset(doc, 0, sizeof(*doc));
	memset(&p, 0, sizeof(p));
	p.doc = doc;
	p.d = d;
	p.lim = limits;
	p.data = data;
	p.len = len;

	if (!ps_utf8_valid(data, len)) {
		size_t bad = utf8_bad_offset(data, len);
		int line, col;
		ps_yaml_locate(data, len, bad, &line, &col);
		if (bad < len && data[bad] == '\0')
			ps_cfgdiag_add(d, PS_EINVALID, line, col, "a NUL byte "
				       "is not allowed (expected UTF-8 text)");
		else
			ps_cfgdiag_add(d, PS_EINVALID, line, col, "invalid "
				       "UTF-8 byte 0x%02x (the file must be "
				       "UTF-8 text)",
				       bad < len ? (unsigned char)data[bad] : 0);
		return PS_EINVALID;
	}
	cursor_init(&p.cur, data, len);

	if (!yaml_parser_initialize(&yp))
		ps_oom();
	yaml_parser_set_input_string(&yp, (const unsigned char *)data, len);
	while (!p.stop) {
		yaml_event_type_t type;

		if (!yaml_parser_parse(&yp, &ev)) {
			syntax_error(&p, &yp);
			break;
		}
		type = ev.type;
		switch (type) {
		case YAML_DOCUMENT_START_EVENT:
			on_document(&p, &ev);
			break;
		case YAML_ALIAS_EVENT:
			on_alias(&p, &ev);
			break;
		case YAML_SCALAR_EVENT:
			on_scalar(&p, &ev);
			break;
		case YAML_SEQUENCE_START_EVENT:
			start_collection(&p, &ev, PS_YSEQUENCE);
			break;
		case YAML_MAPPING_START_EVENT:
			start_collection(&p, &ev, PS_YMAPPING);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			end_collection(&p);
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
		if (type == YAML_STREAM_END_EVENT)
			break;
	}
	yaml_parser_delete(&yp);

	/* Collections left open by an early stop are not finished: their
	 * kids may be a key short. Mark them so nobody walks them. */
	for (i = 0; i < p.depth; i++)
		p.stack[i]->bad = true;
	free(p.stack);
	strmap_release(&p.anchors);
	for (i = 0; i < p.nanchors; i++)
		free(p.anchor_names[i]);
	free(p.anchor_names);
	return p.stop;
}

void ps_ydoc_release(ps_ydoc *doc)
{
	size_t i;

	if (!doc)
		return;
	for (i = 0; i < doc->nall; i++) {
		ps_ynode *n = doc->all[i];
		if (n->text) {
			explicit_bzero(n->text, n->len);
			free(n->text);
		}
		free(n->kids);
		free(n);
	}
	free(doc->all);
	memset(doc, 0, sizeof(*doc));
}

const ps_ynode *ps_ynode_get(const ps_ynode *map, const char *key,
			     const ps_ynode **key_out)
{
	size_t i;

	if (key_out)
		*key_out = NULL;
	if (!map || map->kind != PS_YMAPPING)
		return NULL;
	for (i = 0; i + 1 < map->nkids; i += 2) {
		if (!strcmp(map->kids[i]->text, key)) {
			if (key_out)
				*key_out = map->kids[i];
			return map->kids[i + 1];
		}
	}
	return NULL;
}

const char *ps_ynode_what(const ps_ynode *n)
{
	if (n->kind == PS_YMAPPING)
		return "a mapping";
	if (n->kind == PS_YSEQUENCE)
		return "a sequence";
	switch (n->type) {
	case PS_YNULL:
		return "null";
	case PS_YBOOL:
		return "a boolean";
	case PS_YINT:
		return "an integer";
	case PS_YFLOAT:
		return "a number";
	default:
		return "a string";
	}
}
