/*
 * Small helpers shared by the library: allocation that aborts on failure,
 * string helpers, "did you mean" suggestions.
 */
#ifndef PS_UTIL_H
#define PS_UTIL_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Called when an allocation fails (ps_malloc and its kin, jansson, libyaml):
 * calls the handler installed with ps_set_oom_handler, if any, then
 * abort()s. Without a handler nothing is printed: the library never
 * writes to the terminal.
 */
void ps_oom(void) __attribute__((noreturn));

/*
 * What ps_oom calls before it aborts, e.g. to tell the user; NULL for
 * none (the default). The handler must not allocate (memory just ran out)
 * and need not return. Install it once, before any thread that may
 * allocate is started: it is read without a lock.
 */
typedef void (*ps_oom_handler)(void);
void ps_set_oom_handler(ps_oom_handler fn);

void *ps_malloc(size_t n);
void *ps_calloc(size_t n, size_t size);
void *ps_realloc(void *p, size_t n);
char *ps_strdup(const char *s);
char *ps_strndup(const char *s, size_t n);
/* Free a C string after wiping it (for secrets). NULL-safe. */
void ps_free_secret(char *s);

/* Bounded copy that always NUL-terminates (like strlcpy). Returns strlen(src).
 */
size_t ps_strlcpy(char *dst, const char *src, size_t size);

/* ASCII case mapping: only A-Z and a-z change, whatever the locale
 * (tolower and toupper follow it). */
static inline int ps_ascii_tolower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static inline int ps_ascii_toupper(int c)
{
	return c >= 'a' && c <= 'z' ? c - ('a' - 'A') : c;
}

/* Map the ASCII letters of s in place. Return s. */
char *ps_ascii_lowercase(char *s);
char *ps_ascii_uppercase(char *s);

/* Case-insensitive ASCII compare, of whole strings / of at most n bytes. */
int ps_strcasecmp(const char *a, const char *b);
int ps_strncasecmp(const char *a, const char *b, size_t n);

/* qsort comparator for an array of strings (const char *), by strcmp. */
int ps_strcmp_qsort(const void *a, const void *b);

/*
 * Parse a whole decimal number in [min, max]. Returns 0 on success, -1 when
 * s is empty, has junk, or is out of range. Replaces atoi.
 */
int ps_parse_long(long *out, const char *s, long min, long max);

/*
 * The closest candidate to `word` by edit distance, or NULL when nothing is
 * close enough to be a plausible typo. `candidates` ends with NULL.
 * Comparison is case-insensitive. Returns a borrowed pointer into candidates.
 */
const char *ps_suggest(const char *word, const char *const *candidates);

/* Lowercase hex of `len` bytes into out (2*len+1 bytes). */
void ps_hex(char *out, const unsigned char *data, size_t len);

/* Is this valid UTF-8 (no overlongs, no surrogates, no NUL)? */
bool ps_utf8_valid(const char *s, size_t len);

/* Offset of the first byte that makes s invalid UTF-8 (or a NUL), or len
 * when it is all valid. */
size_t ps_utf8_invalid_at(const char *s, size_t len);

#endif
