/*
 * A pack of new objects written as they come (state_int.h): each blob is
 * deflated onto a temporary file in objects/pack/ the moment it is added,
 * so a commit of many documents never holds them all in memory. The pack
 * header's object count is only known at the end: it is patched in then,
 * and the file is handed to libgit2's pack writer (the indexer), which
 * checks every object, writes the .pack and .idx beside the others and
 * fsyncs them (GIT_OPT_ENABLE_FSYNC_GITDIR). The temporary file is removed
 * either way.
 *
 * The trees and the commit go into the same pack: an object database
 * backend (state_pack_backend) makes libgit2 write them there and lets it
 * see the blobs already in the pack (a tree names only objects that
 * exist), while the pack is still being written.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "buf.h"
#include "libcrypto.h"
#include "state_int.h"
#include "util.h"

#include "banned.h"

#define PACK_HEADER 12
#define CHUNK 65536
/* An unsorted tail longer than this is sorted before a lookup. */
#define UNSORTED_MAX 64

/* An object in the pack: the blobs' bytes are only in the file; the few
 * others (trees, the commit) are kept, as libgit2 reads them back. */
struct pack_obj {
	git_oid id;
	git_object_t type;
	size_t len;
	unsigned char *data; /* NULL for a blob */
};

struct state_pack {
	FILE *f;
	char *path;
	uint32_t count;
	struct pack_obj *objs;
	size_t nobjs, alloc, nsorted; /* objs[0..nsorted) sorted by id */
};

static int obj_cmp(const void *a, const void *b)
{
	return git_oid_cmp(&((const struct pack_obj *)a)->id,
			   &((const struct pack_obj *)b)->id);
}

/* The object `id` in the pack, or NULL. */
static const struct pack_obj *pack_find(struct state_pack *p, const git_oid *id)
{
	struct pack_obj key;
	const struct pack_obj *o;

	if (p->nobjs - p->nsorted > UNSORTED_MAX) {
		qsort(p->objs, p->nobjs, sizeof(*p->objs), obj_cmp);
		p->nsorted = p->nobjs;
	}
	git_oid_cpy(&key.id, id);
	/* bsearch wants an array, even of no element. */
	o = p->nsorted ? bsearch(&key, p->objs, p->nsorted, sizeof(*p->objs),
				 obj_cmp)
		       : NULL;
	if (o)
		return o;
	for (size_t i = p->nsorted; i < p->nobjs; i++)
		if (git_oid_equal(&p->objs[i].id, id))
			return &p->objs[i];
	return NULL;
}

static int pack_fail(ps_error *err, const struct state_pack *p,
		     const char *what)
{
	return ps_error_set(err, PS_ERROR, "cannot %s %s: %s", what, p->path,
			    strerror(errno));
}

int state_pack_open(struct state_pack **out, const char *gitdir, ps_error *err)
{
	static const unsigned char header[PACK_HEADER] = { 'P', 'A', 'C', 'K',
							   0,	0,   0,	  2,
							   0,	0,   0,	  0 };
	struct state_pack *p = ps_calloc(1, sizeof(*p));
	ps_buf path = PS_BUF_INIT;
	int fd;

	*out = NULL;
	/* git's own name for a pack being written: git gc removes one that
	 * a killed run left behind. */
	ps_buf_printf(&path, "%s/objects/pack/tmp_pack_pavesync_XXXXXX",
		      gitdir);
	p->path = ps_buf_detach(&path, NULL);
	if ((fd = mkstemp(p->path)) < 0) {
		int rc = pack_fail(err, p, "create");
		free(p->path);
		free(p);
		return rc;
	}
	if (!(p->f = fdopen(fd, "w+b"))) {
		int rc = pack_fail(err, p, "open");
		close(fd);
		state_pack_free(p);
		return rc;
	}
	if (fwrite(header, 1, sizeof(header), p->f) != sizeof(header)) {
		int rc = pack_fail(err, p, "write");
		state_pack_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

int state_pack_add(struct state_pack *p, const git_oid *id, git_object_t type,
		   const void *data, size_t len, ps_error *err)
{
	unsigned char hdr[16];
	size_t n = 0, left = len;
	uLongf zlen = compressBound((uLong)len);
	unsigned char *z;
	struct pack_obj *o;
	int rc = 0;

	if (pack_find(p, id))
		return 0;
	/* Type and size: 4 bits of size in the first byte, then 7 a byte. */
	hdr[n] = (unsigned char)(((unsigned)type << 4) | (left & 0x0f));
	left >>= 4;
	while (left) {
		hdr[n++] |= 0x80;
		hdr[n] = (unsigned char)(left & 0x7f);
		left >>= 7;
	}
	n++;
	z = ps_malloc(zlen);
	if (compress2(z, &zlen, (const Bytef *)data, (uLong)len,
		      Z_DEFAULT_COMPRESSION) != Z_OK) {
		rc = ps_error_set(err, PS_ERROR,
				  "cannot compress an object for %s", p->path);
		goto cleanup;
	}
	if (fwrite(hdr, 1, n, p->f) != n || fwrite(z, 1, zlen, p->f) != zlen) {
		rc = pack_fail(err, p, "write");
		goto cleanup;
	}
	if (p->nobjs == p->alloc) {
		p->alloc = p->alloc ? p->alloc * 2 : 64;
		p->objs = ps_realloc(p->objs, p->alloc * sizeof(*p->objs));
	}
	o = &p->objs[p->nobjs++];
	git_oid_cpy(&o->id, id);
	o->type = type;
	o->len = len;
	o->data = NULL;
	if (type != GIT_OBJECT_BLOB) {
		o->data = ps_malloc(len ? len : 1);
		memcpy(o->data, data, len);
	}
	p->count++;
cleanup:
	free(z);
	return rc;
}

/* ---- the object database backend ---- */

struct pack_backend {
	git_odb_backend parent;
	struct state_pack *pack; /* borrowed: outlives the backend's use */
};

static struct state_pack *backend_pack(git_odb_backend *b)
{
	return ((struct pack_backend *)b)->pack;
}

static int backend_read_header(size_t *len, git_object_t *type,
			       git_odb_backend *b, const git_oid *id)
{
	const struct pack_obj *o = pack_find(backend_pack(b), id);

	if (!o)
		return GIT_ENOTFOUND;
	*len = o->len;
	*type = o->type;
	return 0;
}

static int backend_read(void **data, size_t *len, git_object_t *type,
			git_odb_backend *b, const git_oid *id)
{
	const struct pack_obj *o = pack_find(backend_pack(b), id);

	/* A blob's bytes are only in the file: nothing reads them here. */
	if (!o || !o->data)
		return GIT_ENOTFOUND;
	if (!(*data = git_odb_backend_data_alloc(b, o->len ? o->len : 1)))
		return -1;
	memcpy(*data, o->data, o->len);
	*len = o->len;
	*type = o->type;
	return 0;
}

static int backend_exists(git_odb_backend *b, const git_oid *id)
{
	return pack_find(backend_pack(b), id) != NULL;
}

static int backend_write(git_odb_backend *b, const git_oid *id,
			 const void *data, size_t len, git_object_t type)
{
	ps_error e;

	ps_error_clear(&e);
	if (state_pack_add(backend_pack(b), id, type, data, len, &e) < 0) {
		git_error_set_str(GIT_ERROR_OS, e.message);
		return -1;
	}
	return 0;
}

static void backend_free(git_odb_backend *b)
{
	free(b);
}

int state_pack_backend(git_odb_backend **out, struct state_pack *p)
{
	struct pack_backend *b = ps_calloc(1, sizeof(*b));
	int e;

	if ((e = git_odb_init_backend(&b->parent, GIT_ODB_BACKEND_VERSION)) <
	    0) {
		free(b);
		return e;
	}
	b->pack = p;
	b->parent.read = backend_read;
	b->parent.read_header = backend_read_header;
	b->parent.exists = backend_exists;
	b->parent.write = backend_write;
	b->parent.free = backend_free;
	*out = &b->parent;
	return 0;
}

/* The count into the header, then the whole file with its SHA-1 trailer
 * into the pack writer `wp`. */
static int feed(struct state_pack *p, git_odb_writepack *wp,
		git_indexer_progress *stats, ps_error *err)
{
	unsigned char be[4] = { (unsigned char)(p->count >> 24),
				(unsigned char)(p->count >> 16),
				(unsigned char)(p->count >> 8),
				(unsigned char)p->count };
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *sha = NULL;
	char *buf = NULL;
	size_t got;
	int e, rc = 0;

	if (fflush(p->f) != 0 || fseek(p->f, 8, SEEK_SET) != 0 ||
	    fwrite(be, 1, sizeof(be), p->f) != sizeof(be) ||
	    fflush(p->f) != 0 || fseek(p->f, 0, SEEK_SET) != 0)
		return pack_fail(err, p, "write");
	if ((rc = ps_libcrypto_load(err)) < 0)
		return rc;
	if (!(sha = EVP_MD_CTX_new()) ||
	    !EVP_DigestInit_ex(sha, EVP_sha1(), NULL)) {
		rc = ps_error_set(err, PS_ERROR, "cannot hash %s", p->path);
		goto cleanup;
	}
	buf = ps_malloc(CHUNK);
	while ((got = fread(buf, 1, CHUNK, p->f)) > 0) {
		if (!EVP_DigestUpdate(sha, buf, got)) {
			rc = ps_error_set(err, PS_ERROR, "cannot hash %s",
					  p->path);
			goto cleanup;
		}
		if ((e = wp->append(wp, buf, got, stats)) < 0) {
			rc = state_git_fail(err, PS_ERROR, e,
					    "cannot write the new objects");
			goto cleanup;
		}
	}
	if (ferror(p->f)) {
		rc = pack_fail(err, p, "read");
		goto cleanup;
	}
	if (!EVP_DigestFinal_ex(sha, md, &mdlen) || mdlen != GIT_OID_RAWSZ) {
		rc = ps_error_set(err, PS_ERROR, "cannot hash %s", p->path);
		goto cleanup;
	}
	if ((e = wp->append(wp, md, mdlen, stats)) < 0)
		rc = state_git_fail(err, PS_ERROR, e,
				    "cannot write the new objects");
cleanup:
	free(buf);
	if (sha)
		EVP_MD_CTX_free(sha);
	return rc;
}

int state_pack_finish(struct state_pack *p, git_repository *repo, ps_error *err)
{
	git_odb *odb = NULL;
	git_odb_writepack *wp = NULL;
	git_indexer_progress stats;
	int e, rc = 0;

	memset(&stats, 0, sizeof(stats));
	if ((e = git_repository_odb(&odb, repo)) < 0 ||
	    (e = git_odb_write_pack(&wp, odb, NULL, NULL)) < 0) {
		rc = state_git_fail(err, PS_ERROR, e,
				    "cannot write the new objects");
		goto cleanup;
	}
	if ((rc = feed(p, wp, &stats, err)) < 0)
		goto cleanup;
	if ((e = wp->commit(wp, &stats)) < 0)
		rc = state_git_fail(err, PS_ERROR, e,
				    "cannot write the new objects");
cleanup:
	if (wp)
		wp->free(wp);
	git_odb_free(odb);
	return rc;
}

void state_pack_free(struct state_pack *p)
{
	if (!p)
		return;
	if (p->f)
		fclose(p->f);
	(void)unlink(p->path);
	for (size_t i = 0; i < p->nobjs; i++)
		free(p->objs[i].data);
	free(p->objs);
	free(p->path);
	free(p);
}
