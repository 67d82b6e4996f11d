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
	b->wipe = false;
	b->err = 0;
}

/* Make room for `extra` more bytes plus the NUL. */
static int grow(ps_buf *b, size_t extra)
{
	size_t want, n;

	if (b->err)
		return b->err;
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
	} else if (b->wipe) {
		/* realloc would free the old block as it is. */
		char *p = ps_malloc(n);
		memcpy(p, b->ptr, b->len + 1);
		explicit_bzero(b->ptr, b->alloc);
		free(b->ptr);
		b->ptr = p;
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

int ps_buf_status(const ps_buf *b)
{
	return b->err;
}

int ps_buf_put(ps_buf *b, const void *data, size_t len)
{
	if (b->err)
		return b->err;
	if (len == 0)
		return 0;
	if (grow(b, len) < 0)
		return b->err = PS_ELIMIT;
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
	if (b->err)
		return b->err;
	if (n < 0)
		return b->err = PS_ERROR;
	if (grow(b, (size_t)n) < 0)
		return b->err = PS_ELIMIT;
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

/* The length of the UTF-8 sequence at s[0…left) and its code point, or 0
 * when it is not a valid one (overlong, surrogate, past U+10FFFF). */
static size_t utf8_seq(const unsigned char *s, size_t left, unsigned *cp)
{
	size_t n, i;
	unsigned c;

	if (s[0] < 0xc2)
		return 0;
	n = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : s[0] < 0xf5 ? 4 : 0;
	if (!n || n > left)
		return 0;
	c = s[0] & (0x7f >> n);
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
	    (n == 4 && (c < 0x10000 || c > 0x10ffff)))
		return 0;
	*cp = c;
	return n;
}

int ps_buf_put_printable(ps_buf *b, const char *s, size_t len, bool multiline)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, run = 0;

	while (i < len) {
		unsigned char c = u[i];
		unsigned cp = 0;
		size_t n;

		if (c >= 0x20 && c < 0x7f) {
			i++;
			continue;
		}
		if (multiline && (c == '\n' || c == '\t')) {
			i++;
			continue;
		}
		n = c >= 0x80 ? utf8_seq(u + i, len - i, &cp) : 0;
		if (n && cp > 0x9f) {
			i += n;
			continue;
		}
		(void)ps_buf_put(b, s + run, i - run);
		if (n) {
			(void)ps_buf_printf(b, "\\u%04x", cp);
			i += n;
		} else {
			(void)ps_buf_printf(b, "\\x%02x", c);
			i++;
		}
		run = i;
	}
	(void)ps_buf_put(b, s + run, len - run);
	return ps_buf_status(b);
}

void ps_buf_reset(ps_buf *b)
{
	b->len = 0;
	b->err = 0;
	if (b->alloc)
		b->ptr[0] = '\0';
}

void ps_buf_release(ps_buf *b)
{
	size_t max = b->max;
	bool wipe = b->wipe;

	if (b->alloc) {
		if (wipe)
			explicit_bzero(b->ptr, b->alloc);
		free(b->ptr);
	}
	ps_buf_init(b, max);
	b->wipe = wipe;
}

void ps_buf_wipe(ps_buf *b)
{
	if (b->alloc)
		explicit_bzero(b->ptr, b->alloc);
	ps_buf_release(b);
}

char *ps_buf_detach(ps_buf *b, size_t *len_out)
{
	bool wipe;
	char *r;

	if (b->err) {
		if (len_out)
			*len_out = 0;
		ps_buf_wipe(b);
		return NULL;
	}
	if (len_out)
		*len_out = b->len;
	if (b->alloc == 0)
		r = ps_strdup("");
	else
		r = b->ptr;
	wipe = b->wipe;
	ps_buf_init(b, b->max);
	b->wipe = wipe;
	return r;
}
