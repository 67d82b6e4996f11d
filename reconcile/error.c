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
	ps_strlcpy(err->source, source ? source : "", sizeof(err->source));
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
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
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	n = strlen(tmp);
	if (n + 2 < sizeof(tmp)) {
		memcpy(tmp + n, ": ", 3);
		ps_strlcpy(tmp + n + 2, err->message, sizeof(tmp) - n - 2);
	}
	ps_strlcpy(err->message, tmp, sizeof(err->message));
	one_line(err->message);
}

const char *ps_error_format(const ps_error *err, char *out, size_t outlen)
{
	if (!err || !outlen)
		return out;
	if (err->source[0] && err->line > 0)
		snprintf(out, outlen, "%s:%d:%d: %s", err->source, err->line,
			 err->column, err->message);
	else if (err->source[0])
		snprintf(out, outlen, "%s: %s", err->source, err->message);
	else
		snprintf(out, outlen, "%s", err->message);
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
