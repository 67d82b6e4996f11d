/*
 * Scalar typing for the YAML tree: the YAML 1.2 core schema for plain
 * scalars (null, bool, int, float, else string), and explicit tags
 * (!secret, !!str, !!int, !!float, !!bool, !!null).
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_yaml_int.h"
#include "util.h"
#include "banned.h"

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
		unsigned long long v =
			strtoull(s + 2, &end, s[1] == 'o' ? 8 : 16);
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

void ps_yscalar_error(parser *p, ps_ynode *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

void ps_yscalar_error(parser *p, ps_ynode *n, const char *fmt, ...)
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
			ps_yscalar_error(p, n,
					 "integer \"%.40s\" is out of range "
					 "(expected at most 64 bits)",
					 n->text);
		return;
	}
	n->type = PS_YFLOAT;
	if (is_int_text(n->text) && (n->text[1] == 'o' || n->text[1] == 'x')) {
		json_int_t v;
		if (parse_int(n->text, &v) < 0)
			ps_yscalar_error(p, n,
					 "number \"%.40s\" is out of range",
					 n->text);
		n->fval = (double)v;
	} else if (parse_float(n->text, &n->fval) < 0) {
		ps_yscalar_error(p, n, "number \"%.40s\" is out of range",
				 n->text);
	}
}

/*
 * A plain decimal integer of at most 18 digits (it fits in 64 bits), as
 * strtoll would read it: most numbers in a config, typed here without
 * the other spellings' comparisons and strtoll's locale and errno.
 */
static bool small_decimal(const char *s, json_int_t *out)
{
	bool neg = *s == '-';
	json_int_t v = 0;
	size_t i;

	if (*s == '-' || *s == '+')
		s++;
	for (i = 0; s[i] >= '0' && s[i] <= '9'; i++) {
		if (i == 18)
			return false; /* may not fit: strtoll's turn */
		v = v * 10 + (s[i] - '0');
	}
	if (!i || s[i])
		return false;
	*out = neg ? -v : v;
	return true;
}

static void core_schema(parser *p, ps_ynode *n)
{
	int b;

	/* Every null, bool, int and float spelling starts with one of these;
	 * most scalars are strings that this tells at once. */
	if (n->text[0] && !strchr("~nNtTfF0123456789+-.", n->text[0])) {
		n->type = PS_YSTRING;
		return;
	}
	if (small_decimal(n->text, &n->ival)) {
		n->type = PS_YINT;
		return;
	}
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
		ps_yscalar_error(p, n,
				 "\"%s\" cannot be represented in JSON "
				 "(expected a finite number)",
				 n->text);
	} else {
		n->type = PS_YSTRING;
	}
}

/* Show a resolved tag the way it is usually written. */
void ps_ytag_name(char *out, size_t outlen, const char *tag)
{
	if (!strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)))
		snprintf(out, outlen, "!!%.60s", tag + strlen(TAG_PREFIX));
	else
		snprintf(out, outlen, "%.60s", tag);
}

static const char *const tag_hint =
	"expected !secret, !!str, !!int, !!float, !!bool or !!null";

void ps_yscalar_resolve(parser *p, ps_ynode *n, const char *tag, bool is_key)
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
		ps_ytag_name(name, sizeof(name), tag);
		ps_yscalar_error(p, n, "unsupported tag \"%s\" (%s)", name,
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
				ps_yscalar_error(p, n,
						 "expected an integer for "
						 "!!int, found \"%.40s\"",
						 n->text);
		} else if (!strcmp(t, "float")) {
			if (is_int_text(n->text) || is_float_text(n->text))
				number(p, n, true);
			else if (is_infnan_text(n->text))
				ps_yscalar_error(
					p, n,
					"\"%s\" cannot be represented "
					"in JSON (expected a finite number)",
					n->text);
			else
				ps_yscalar_error(p, n,
						 "expected a number for "
						 "!!float, found \"%.40s\"",
						 n->text);
		} else if (!strcmp(t, "bool")) {
			if ((b = bool_text(n->text)) >= 0) {
				n->type = PS_YBOOL;
				n->bval = b;
			} else {
				ps_yscalar_error(p, n,
						 "expected true or false "
						 "for !!bool, found \"%.40s\"",
						 n->text);
			}
		} else if (!strcmp(t, "null")) {
			if (is_null_text(n->text))
				n->type = PS_YNULL;
			else
				ps_yscalar_error(p, n,
						 "expected null for !!null, "
						 "found \"%.40s\"",
						 n->text);
		} else {
			ps_ytag_name(name, sizeof(name), tag);
			ps_yscalar_error(p, n,
					 "unsupported tag \"%s\" on a scalar "
					 "(%s)",
					 name, tag_hint);
		}
		return;
	}
	if (!is_key && n->plain)
		core_schema(p, n);
}
