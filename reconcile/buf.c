#include "buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "util.h"
#include "banned.h"

char ps_buf__empty[1];

void ps_buf_init(ps_buf *b, size_t max)
{
	b->ptr = ps_buf__empty;
	b->len = 0;
	b->alloc = 0;
	b->max = max ? max : PS_BUF_DEFAULT_MAX;
}

/* Make room for `extra` more bytes plus the NUL. */
static int grow(ps_buf *b, size_t extra)
{
	size_t want, n;

	if (extra > b->max || b->len > b->max - extra)
		return PS_ELIMIT;
	want = b->len + extra + 1;
	if (want <= b->alloc)
		return 0;
	n = b->alloc ? b->alloc : 64;
	while (n < want)
		n = n > SIZE_MAX / 2 ? want : n * 2;
	if (n > b->max + 1)
		n = b->max + 1;
	if (b->alloc == 0) {
		b->ptr = ps_malloc(n);
		b->ptr[0] = '\0';
	} else {
		b->ptr = ps_realloc(b->ptr, n);
	}
	b->alloc = n;
	return 0;
}

int ps_buf_grow(ps_buf *b, size_t extra)
{
	return grow(b, extra);
}

int ps_buf_put(ps_buf *b, const void *data, size_t len)
{
	if (len == 0)
		return 0;
	if (grow(b, len) < 0)
		return PS_ELIMIT;
	memcpy(b->ptr + b->len, data, len);
	b->len += len;
	b->ptr[b->len] = '\0';
	return 0;
}

int ps_buf_puts(ps_buf *b, const char *s)
{
	return ps_buf_put(b, s, strlen(s));
}

int ps_buf_putc(ps_buf *b, char c)
{
	return ps_buf_put(b, &c, 1);
}

int ps_buf_vprintf(ps_buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return PS_ERROR;
	if (grow(b, (size_t)n) < 0)
		return PS_ELIMIT;
	vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int ps_buf_printf(ps_buf *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = ps_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return r;
}

void ps_buf_reset(ps_buf *b)
{
	b->len = 0;
	if (b->alloc)
		b->ptr[0] = '\0';
}

void ps_buf_release(ps_buf *b)
{
	size_t max = b->max;

	if (b->alloc)
		free(b->ptr);
	ps_buf_init(b, max);
}

void ps_buf_wipe(ps_buf *b)
{
	if (b->alloc)
		explicit_bzero(b->ptr, b->alloc);
	ps_buf_release(b);
}

char *ps_buf_detach(ps_buf *b, size_t *len_out)
{
	char *r;

	if (len_out)
		*len_out = b->len;
	if (b->alloc == 0)
		r = ps_strdup("");
	else
		r = b->ptr;
	ps_buf_init(b, b->max);
	return r;
}
