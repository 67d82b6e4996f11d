#include "memo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fileio.h"
#include "util.h"
#include "banned.h"

#define MEMO_FILE "pavesync-memo"
#define MEMO_HEADER "pavesync-memo 1\n"
/* 64 MiB: a million accounts; past it the file is ignored (a cache). */
#define MEMO_MAX_SIZE (64u << 20)

struct memo_entry {
	char *name;
	unsigned char digest[PS_MEMO_DIGEST];
	unsigned char blob[PS_MEMO_BLOB];
};

struct ps_memo {
	struct memo_entry *entries;
	/* entries[0, nsorted) are sorted by name; entries set since (not in
	 * the file) follow, in the order they were set. */
	size_t n, nsorted, alloc;
	bool dirty;
};

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct memo_entry *)a)->name,
		      ((const struct memo_entry *)b)->name);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static bool unhex(unsigned char *out, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return true;
}

static void push(ps_memo *m, char *name, const unsigned char *digest,
		 const unsigned char *blob)
{
	struct memo_entry *e;

	if (m->n == m->alloc) {
		m->alloc = m->alloc ? 2 * m->alloc : 64;
		m->entries =
			ps_realloc(m->entries, m->alloc * sizeof(*m->entries));
	}
	e = &m->entries[m->n++];
	e->name = name;
	memcpy(e->digest, digest, PS_MEMO_DIGEST);
	memcpy(e->blob, blob, PS_MEMO_BLOB);
}

static void clear(ps_memo *m)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		free(m->entries[i].name);
	m->n = m->nsorted = 0;
}

/* Parse the file's lines; false on anything unexpected (the caller then
 * drops what was read: a damaged memo is an empty one). */
static bool parse(ps_memo *m, const char *p, const char *end)
{
	const size_t hexlen = 2 * PS_MEMO_DIGEST + 1 + 2 * PS_MEMO_BLOB;

	if ((size_t)(end - p) < strlen(MEMO_HEADER) ||
	    memcmp(p, MEMO_HEADER, strlen(MEMO_HEADER)))
		return false;
	p += strlen(MEMO_HEADER);
	while (p < end) {
		const char *sp = memchr(p, ' ', (size_t)(end - p));
		unsigned char digest[PS_MEMO_DIGEST], blob[PS_MEMO_BLOB];
		char *name;

		if (!sp || sp == p || (size_t)(end - sp) < hexlen + 2 ||
		    sp[1 + 2 * PS_MEMO_DIGEST] != ' ' || sp[1 + hexlen] != '\n')
			return false;
		if (!unhex(digest, sp + 1, PS_MEMO_DIGEST) ||
		    !unhex(blob, sp + 2 + 2 * PS_MEMO_DIGEST, PS_MEMO_BLOB))
			return false;
		name = ps_strndup(p, (size_t)(sp - p));
		if (m->n && strcmp(m->entries[m->n - 1].name, name) >= 0) {
			free(name); /* not sorted, or a repeat */
			return false;
		}
		push(m, name, digest, blob);
		p = sp + hexlen + 2;
	}
	return true;
}

static char *memo_path(const char *gitdir)
{
	ps_buf b = PS_BUF_INIT;

	ps_buf_printf(&b, "%s/%s", gitdir, MEMO_FILE);
	return ps_buf_detach(&b, NULL);
}

ps_memo *ps_memo_read(const char *gitdir)
{
	ps_memo *m = ps_calloc(1, sizeof(*m));
	char *path, *data = NULL;
	size_t len = 0;
	ps_error e;

	if (!gitdir || !*gitdir)
		return m;
	ps_error_clear(&e);
	path = memo_path(gitdir);
	if (ps_file_read(&data, &len, path, MEMO_MAX_SIZE, "the memo", false,
			 &e) == 0 &&
	    !parse(m, data, data + len))
		clear(m);
	m->nsorted = m->n;
	free(data);
	free(path);
	return m;
}

static struct memo_entry *find(const ps_memo *m, const char *account)
{
	struct memo_entry key, *e;
	size_t i;

	key.name = (char *)account;
	e = m->nsorted ? bsearch(&key, m->entries, m->nsorted,
				 sizeof(*m->entries), cmp_entry)
		       : NULL;
	if (e)
		return e;
	for (i = m->nsorted; i < m->n; i++)
		if (!strcmp(m->entries[i].name, account))
			return &m->entries[i];
	return NULL;
}

bool ps_memo_get(const ps_memo *m, const char *account,
		 const unsigned char **digest, const unsigned char **blob)
{
	const struct memo_entry *e = m ? find(m, account) : NULL;

	if (!e)
		return false;
	*digest = e->digest;
	*blob = e->blob;
	return true;
}

void ps_memo_set(ps_memo *m, const char *account,
		 const unsigned char digest[PS_MEMO_DIGEST],
		 const unsigned char blob[PS_MEMO_BLOB])
{
	struct memo_entry *e = find(m, account);

	if (e) {
		if (!memcmp(e->digest, digest, PS_MEMO_DIGEST) &&
		    !memcmp(e->blob, blob, PS_MEMO_BLOB))
			return;
		memcpy(e->digest, digest, PS_MEMO_DIGEST);
		memcpy(e->blob, blob, PS_MEMO_BLOB);
	} else {
		push(m, ps_strdup(account), digest, blob);
	}
	m->dirty = true;
}

void ps_memo_prune(ps_memo *m, bool (*keep)(const char *account, void *ctx),
		   void *ctx)
{
	size_t i, j = 0, sorted = 0;

	for (i = 0; i < m->n; i++) {
		if (!keep(m->entries[i].name, ctx)) {
			free(m->entries[i].name);
			m->dirty = true;
			continue;
		}
		if (i < m->nsorted)
			sorted++;
		m->entries[j++] = m->entries[i];
	}
	m->n = j;
	m->nsorted = sorted;
}

int ps_memo_write(ps_memo *m, const char *gitdir, ps_error *err)
{
	ps_buf b = PS_BUF_INIT;
	char *path;
	size_t i;
	int rc;

	if (!m->dirty || !gitdir || !*gitdir)
		return 0;
	if (m->n > 1)
		qsort(m->entries, m->n, sizeof(*m->entries), cmp_entry);
	m->nsorted = m->n;
	ps_buf_puts(&b, MEMO_HEADER);
	for (i = 0; i < m->n; i++) {
		char digest[2 * PS_MEMO_DIGEST + 1], blob[2 * PS_MEMO_BLOB + 1];
		ps_hex(digest, m->entries[i].digest, PS_MEMO_DIGEST);
		ps_hex(blob, m->entries[i].blob, PS_MEMO_BLOB);
		ps_buf_printf(&b, "%s %s %s\n", m->entries[i].name, digest,
			      blob);
	}
	path = memo_path(gitdir);
	rc = ps_file_write_atomic(path, b.ptr, b.len, 0644, err);
	if (rc == 0)
		m->dirty = false;
	free(path);
	ps_buf_release(&b);
	return rc;
}

void ps_memo_free(ps_memo *m)
{
	if (!m)
		return;
	clear(m);
	free(m->entries);
	free(m);
}
