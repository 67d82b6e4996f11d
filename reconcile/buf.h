/*
 * ps_buf: a small growable byte buffer with a hard maximum size, in the
 * spirit of git's strbuf and curl's dynbuf.
 *
 * - `ptr` is never NULL: an empty buffer points at a shared "" so it can be
 *   printed or compared without a check.
 * - `ptr[len]` is always '\0', so text can be used as a C string.
 * - Every append fails with PS_ELIMIT (and leaves the buffer unchanged) when
 *   the result would exceed `max`, so hostile input cannot grow memory
 *   without bound.
 * - Allocation failure aborts the process (ps_oom): like git, we do not try
 *   to limp on with half a data structure.
 */
#ifndef PS_BUF_H
#define PS_BUF_H

#include <stdarg.h>
#include <stddef.h>

extern char ps_buf__empty[];

#define PS_BUF_DEFAULT_MAX ((size_t)64 * 1024 * 1024)

typedef struct ps_buf {
	char *ptr;
	size_t len;
	size_t alloc; /* 0 while ptr == ps_buf__empty */
	size_t max;
} ps_buf;

#define PS_BUF_INIT { ps_buf__empty, 0, 0, PS_BUF_DEFAULT_MAX }

/* Initialise an empty buffer that may hold at most `max` bytes (0: default). */
void ps_buf_init(ps_buf *b, size_t max);

/* Append bytes / a C string / one byte / formatted text. 0 or PS_ELIMIT. */
int ps_buf_put(ps_buf *b, const void *data, size_t len);
int ps_buf_puts(ps_buf *b, const char *s);
int ps_buf_putc(ps_buf *b, char c);
int ps_buf_printf(ps_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int ps_buf_vprintf(ps_buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/* Make room for `extra` more bytes without changing the contents (a hint
 * for callers that know roughly how much they will write). 0 or PS_ELIMIT. */
int ps_buf_grow(ps_buf *b, size_t extra);

/* Empty the buffer but keep its memory. */
void ps_buf_reset(ps_buf *b);

/* Free the memory and return the buffer to its initial (empty) state. */
void ps_buf_release(ps_buf *b);

/* Wipe the contents with explicit_bzero, then release. For secrets. */
void ps_buf_wipe(ps_buf *b);

/*
 * Hand the contents to the caller, who frees them with free(). Never NULL
 * (an empty buffer yields a fresh ""). The buffer is left empty.
 */
char *ps_buf_detach(ps_buf *b, size_t *len_out);

#endif
