/*
 * Positions in the raw config bytes, counted the way libyaml counts them,
 * and the fast UTF-8 check of the whole input (mostly ASCII).
 */
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "config_yaml_int.h"
#include "util.h"
#include "banned.h"

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

void ps_ycursor_init(cursor *c, const char *d, size_t len)
{
	c->off = (len >= 3 && !memcmp(d, "\xef\xbb\xbf", 3)) ? 3 : 0;
	c->line = 0;
	c->col = 0;
	c->eol = 0;
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

#define ONES ((uint64_t)0x0101010101010101ULL)
#define HIGH ((uint64_t)0x8080808080808080ULL)

/* Does the word hold a zero byte? (Exact as a yes/no.) */
static uint64_t has_zero(uint64_t w)
{
	return (w - ONES) & ~w & HIGH;
}

/* An ASCII byte that is not a line break: one byte, one column. */
static bool plain_ascii(unsigned char ch)
{
	return ch < 0x80 && ch != '\n' && ch != '\r';
}

/* The end of the run of plain_ascii bytes at s[off…end), eight at a time
 * while it lasts. */
static size_t ascii_run(const unsigned char *s, size_t off, size_t end)
{
	while (end - off >= 8) {
		uint64_t w;

		memcpy(&w, s + off, sizeof(w));
		if ((w & HIGH) || has_zero(w ^ (ONES * '\n')) ||
		    has_zero(w ^ (ONES * '\r')))
			break;
		off += 8;
	}
	while (off < end && plain_ascii(s[off]))
		off++;
	return off;
}

/*
 * Advance to 0-based (line, col); true when exactly there. The cursor
 * passes over the whole file once (every one-line scalar seeks to its start
 * and end), so runs of plain ASCII and LF line breaks are taken here and
 * only CR and multi-byte characters go through cursor_step.
 */
bool ps_ycursor_seek(cursor *cp, const char *d, size_t len, size_t line,
		     size_t col)
{
	const unsigned char *s = (const unsigned char *)d;
	cursor c = *cp;

	while (c.off < len &&
	       (c.line < line || (c.line == line && c.col < col))) {
		size_t end = len, off;

		/* On the target line, stop at the target column. */
		if (c.line == line && col - c.col < len - c.off)
			end = c.off + (col - c.col);
		off = ascii_run(s, c.off, end);
		if (off > c.off) {
			c.col += off - c.off;
			c.off = off;
		} else if (s[off] == '\n') {
			c.off++;
			c.line++;
			c.col = 0;
		} else {
			cursor_step(&c, d, len);
		}
	}
	*cp = c;
	return c.line == line && c.col == col;
}

/*
 * Where the line starting at `off` ends: its LF, or the end of the input.
 */
size_t ps_ycursor_next_eol(const char *d, size_t len, size_t off)
{
	const char *nl = off < len ? memchr(d + off, '\n', len - off) : NULL;

	return nl ? (size_t)(nl - d) : len;
}

/*
 * ps_ycursor_seek for input that is all ASCII with LF line breaks only (most
 * config files): there a column is a byte, so the cursor jumps a line at a
 * time instead of stepping through each character, and ends exactly where
 * ps_ycursor_seek would: at the target, or past it at the start of the next
 * line, or at the end of the input. c->eol must be the end of c's line.
 */
bool ps_ycursor_seek_lf(cursor *c, const char *d, size_t len, size_t line,
			size_t col)
{
	for (;;) {
		if (c->line > line || (c->line == line && c->col >= col))
			return c->line == line && c->col == col;
		if (c->line == line && col - c->col <= c->eol - c->off) {
			c->off += col - c->col;
			c->col = col;
			return true;
		}
		/* The target is past this line: on to the next, if any. */
		if (c->eol == len) {
			c->col += len - c->off;
			c->off = len;
			return false;
		}
		c->off = c->eol + 1;
		c->line++;
		c->col = 0;
		c->eol = ps_ycursor_next_eol(d, len, c->off);
	}
}

void ps_yaml_locate(int *line, int *column, const char *data, size_t len,
		    size_t offset)
{
	cursor c;

	ps_ycursor_init(&c, data, len);
	if (offset < c.off)
		offset = c.off;
	while (c.off < offset && c.off < len)
		cursor_step(&c, data, len);
	*line = c.line + 1 > INT_MAX ? INT_MAX : (int)(c.line + 1);
	*column = c.col + 1 > INT_MAX ? INT_MAX : (int)(c.col + 1);
}

/*
 * ps_utf8_valid, with plain ASCII skipped eight bytes at a time (a config
 * file is mostly ASCII). The first word holding a NUL, a CR or a byte
 * >= 0x80 hands over to ps_utf8_valid at a character boundary. *ascii_lf
 * tells whether the whole input is ASCII with LF line breaks only.
 */
bool ps_yutf8_valid_fast(const char *data, size_t len, bool *ascii_lf)
{
	size_t i = 0, j;

	for (; len - i >= 8; i += 8) {
		uint64_t w;

		memcpy(&w, data + i, sizeof(w));
		if ((w & HIGH) || has_zero(w) || has_zero(w ^ (ONES * '\r')))
			break;
	}
	for (j = i; j < len; j++) {
		unsigned char ch = (unsigned char)data[j];
		if (ch >= 0x80 || ch == 0 || ch == '\r')
			break;
	}
	/* All ASCII without NUL or CR: valid, and ps_ycursor_seek_lf applies.
	 */
	*ascii_lf = j == len;
	return *ascii_lf || ps_utf8_valid(data + i, len - i);
}
