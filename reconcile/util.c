#include "util.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "banned.h"

/* Set once, before any thread starts (see ps_set_oom_handler). */
static ps_oom_handler oom_handler;

void ps_set_oom_handler(ps_oom_handler fn)
{
	oom_handler = fn;
}

void ps_oom(void)
{
	/* The library never prints: telling the user is the program's job. */
	if (oom_handler)
		oom_handler();
	abort();
}

void *ps_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		ps_oom();
	return p;
}

void *ps_calloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		ps_oom();
	return p;
}

void *ps_realloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q)
		ps_oom();
	return q;
}

char *ps_strdup(const char *s)
{
	return ps_strndup(s, strlen(s));
}

char *ps_strndup(const char *s, size_t n)
{
	char *r = ps_malloc(n + 1);

	memcpy(r, s, n);
	r[n] = '\0';
	return r;
}

void ps_free_secret(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

size_t ps_strlcpy(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);

	if (size) {
		size_t c = n < size - 1 ? n : size - 1;
		memcpy(dst, src, c);
		dst[c] = '\0';
	}
	return n;
}

char *ps_ascii_lowercase(char *s)
{
	char *p;

	for (p = s; *p; p++)
		*p = (char)ps_ascii_tolower((unsigned char)*p);
	return s;
}

char *ps_ascii_uppercase(char *s)
{
	char *p;

	for (p = s; *p; p++)
		*p = (char)ps_ascii_toupper((unsigned char)*p);
	return s;
}

int ps_strcmp_qsort(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int ps_strncasecmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		int ca = ps_ascii_tolower((unsigned char)*a),
		    cb = ps_ascii_tolower((unsigned char)*b);
		if (ca != cb || !ca)
			return ca - cb;
	}
	return 0;
}

int ps_strcasecmp(const char *a, const char *b)
{
	return ps_strncasecmp(a, b, (size_t)-1);
}

int ps_parse_long(long *out, const char *s, long min, long max)
{
	char *end;
	long v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Levenshtein distance, case-insensitive, bounded to short words. */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	size_t row[129];

	if (la > 128 || lb > 128)
		return SIZE_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		size_t prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t cur = row[j];
			size_t cost =
				ps_ascii_tolower((unsigned char)a[i - 1]) !=
				ps_ascii_tolower((unsigned char)b[j - 1]);
			size_t best = prev + cost;
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			prev = cur;
		}
	}
	return row[lb];
}

const char *ps_suggest(const char *word, const char *const *candidates)
{
	const char *best = NULL;
	size_t best_d = SIZE_MAX, limit;

	limit = strlen(word) / 3 + 1;
	if (limit < 2)
		limit = 2;
	for (; *candidates; candidates++) {
		size_t d = distance(word, *candidates);
		if (d < best_d) {
			best_d = d;
			best = *candidates;
		}
	}
	return best_d <= limit ? best : NULL;
}

void ps_hex(char *out, const unsigned char *data, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[data[i] >> 4];
		out[2 * i + 1] = digits[data[i] & 15];
	}
	out[2 * len] = '\0';
}

size_t ps_utf8_invalid_at(const char *str, size_t len)
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

bool ps_utf8_valid(const char *str, size_t len)
{
	return ps_utf8_invalid_at(str, len) == len;
}
