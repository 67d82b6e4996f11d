/*
 * ps_buf: a small growable byte buffer with a hard maximum size, in the
 * spirit of git's strbuf and curl's dynbuf.
 *
 * - `ptr` is never NULL: an empty buffer points at a shared "" so it can be
 *   printed or compared without a check.
 * - `ptr[len]` is always '\0', so text can be used as a C string.
 * - Every append fails with PS_ELIMIT when the result would exceed `max`,
 *   so hostile input cannot grow memory without bound. The failure is
 *   sticky: the buffer remembers it (`err`), every later append fails at
 *   once, and ps_buf_detach / ps_buf_status report it, so the many callers
 *   that append without checking each result cannot hand on a truncated
 *   text: whoever takes the contents out checks once.
 * - Allocation failure aborts the process (ps_oom): like git, we do not try
 *   to limp on with half a data structure.
 */
#ifndef PS_BUF_H
#define PS_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

extern char ps_buf__empty[];

#define PS_BUF_DEFAULT_MAX ((size_t)64 * 1024 * 1024)

typedef struct ps_buf {
	char *ptr;
	size_t len;
	size_t alloc; /* 0 while ptr == ps_buf__empty */
	size_t max;
	bool wipe; /* secrets: wipe memory before it is freed, also
		    * when the buffer grows (set after ps_buf_init) */
	int err;   /* 0, or PS_ELIMIT (PS_ERROR: a bad format) once an
		    * append failed; sticky */
} ps_buf;

#define PS_BUF_INIT                                                            \
	{                                                                      \
		ps_buf__empty, 0, 0, PS_BUF_DEFAULT_MAX, false, 0              \
	}

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

/*
 * Append text for a terminal: s[0…len) with every control character
 * escaped, so that text from the server or a config file cannot move the
 * cursor, recolour, retitle or clear the terminal it is printed on. C0
 * controls, DEL and undecodable bytes become \xNN, C1 controls (U+0080…
 * U+009F) \u00NN; "\n" and "\t" are kept when `multiline`, escaped
 * otherwise. Valid UTF-8 text is otherwise kept as it is. 0 or PS_ELIMIT.
 */
int ps_buf_put_printable(ps_buf *b, const char *s, size_t len, bool multiline);

/* Make room for `extra` more bytes without changing the contents (a hint
 * for callers that know roughly how much they will write). 0 or PS_ELIMIT;
 * a refused hint is not a failure of the buffer (nothing was lost). */
int ps_buf_grow(ps_buf *b, size_t extra);

/* 0, or PS_ELIMIT (or PS_ERROR) when an append has failed since the buffer was
 * last empty: its contents are then incomplete and must not be used. */
int ps_buf_status(const ps_buf *b) __attribute__((warn_unused_result));

/* Empty the buffer but keep its memory (and forget a failure). */
void ps_buf_reset(ps_buf *b);

/* Free the memory and return the buffer to its initial (empty) state. */
void ps_buf_release(ps_buf *b);

/* Wipe the contents with explicit_bzero, then release. For secrets. */
void ps_buf_wipe(ps_buf *b);

/*
 * Hand the contents to the caller, who frees them with free() (an empty
 * buffer yields a fresh ""). NULL when an append failed (ps_buf_status):
 * the incomplete contents are wiped and freed instead. The buffer is left
 * empty either way.
 */
char *ps_buf_detach(ps_buf *b, size_t *len_out)
	__attribute__((warn_unused_result));

#endif
