#include "error.h"

#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "util.h"
#include "banned.h"

void ps_error_clear(ps_error *err)
{
	if (err)
		memset(err, 0, sizeof(*err));
}

/* Keep messages on one line: a newline in an interpolated value must not
 * let input forge extra output lines. */
static void one_line(char *s)
{
	for (; *s; s++)
		if (*s == '\n' || *s == '\r')
			*s = ' ';
}

/* A message cut to fit its buffer must not end in part of a UTF-8
 * character: the error is printed, and may be written as JSON, which
 * refuses invalid UTF-8. Drops the trailing bytes of a sequence that
 * lost its end; a string that was not cut is left as it is. */
static void trim_cut_utf8(char *s, size_t len)
{
	size_t lead = len, need;
	unsigned char c;

	while (lead > 0 && len - lead < 4 &&
	       ((unsigned char)s[lead - 1] & 0xC0) == 0x80)
		lead--;
	if (lead == 0)
		return;
	c = (unsigned char)s[lead - 1];
	if (c < 0xC0)
		return; /* ASCII, or a stray continuation: not a cut */
	need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
	if (len - (lead - 1) < need)
		s[lead - 1] = '\0';
}

/* vsnprintf into buf, trimming a character it cut in two. */
static void format_fit(char *buf, size_t size, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void format_fit(char *buf, size_t size, const char *fmt, va_list ap)
{
	int n = vsnprintf(buf, size, fmt, ap);

	if (n >= 0 && (size_t)n >= size)
		trim_cut_utf8(buf, strlen(buf));
}

static int vset(ps_error *err, int code, const char *source, int line,
		int column, const char *fmt, va_list ap)
	__attribute__((format(printf, 6, 0)));

static int vset(ps_error *err, int code, const char *source, int line,
		int column, const char *fmt, va_list ap)
{
	if (!err)
		return code;
	err->code = code;
	err->line = line;
	err->column = column;
	err->http_status = 0;
	if (!source)
		source = "";
	if (ps_strlcpy(err->source, source, sizeof(err->source)) >=
	    sizeof(err->source))
		trim_cut_utf8(err->source, strlen(err->source));
	format_fit(err->message, sizeof(err->message), fmt, ap);
	one_line(err->message);
	return code;
}

int ps_error_set(ps_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(err, code, NULL, 0, 0, fmt, ap);
	va_end(ap);
	return code;
}

int ps_error_at(ps_error *err, int code, const char *source, int line,
		int column, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(err, code, source, line, column, fmt, ap);
	va_end(ap);
	return code;
}

void ps_error_prefix(ps_error *err, const char *fmt, ...)
{
	char tmp[PS_ERROR_MSG_MAX];
	size_t n;
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	format_fit(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	n = strlen(tmp);
	if (n + 2 < sizeof(tmp)) {
		memcpy(tmp + n, ": ", 3);
		if (ps_strlcpy(tmp + n + 2, err->message,
			       sizeof(tmp) - n - 2) >= sizeof(tmp) - n - 2)
			trim_cut_utf8(tmp, strlen(tmp));
	}
	ps_strlcpy(err->message, tmp, sizeof(err->message));
	one_line(err->message);
}

const char *ps_error_format(const ps_error *err, char *out, size_t outlen)
{
	int n;

	if (!err || !outlen)
		return out;
	if (err->source[0] && err->line > 0)
		n = snprintf(out, outlen, "%s:%d:%d: %s", err->source,
			     err->line, err->column, err->message);
	else if (err->source[0])
		n = snprintf(out, outlen, "%s: %s", err->source, err->message);
	else
		n = snprintf(out, outlen, "%s", err->message);
	if (n >= 0 && (size_t)n >= outlen)
		trim_cut_utf8(out, strlen(out));
	return out;
}

#define PS_DIAGS_MAX 1000

void ps_diags_add(ps_diags *d, const ps_error *err)
{
	if (!d || !err || d->count >= PS_DIAGS_MAX)
		return;
	if (d->count == d->alloc) {
		d->alloc = d->alloc ? d->alloc * 2 : 16;
		d->items = ps_realloc(d->items, d->alloc * sizeof(*d->items));
	}
	d->items[d->count++] = *err;
}

void ps_diags_clear(ps_diags *d)
{
	if (!d)
		return;
	free(d->items);
	d->items = NULL;
	d->count = d->alloc = 0;
}
