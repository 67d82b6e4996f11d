/*
 * The snapshot store (SPEC §3). See state.h for the contract.
 *
 * Everything goes through libgit2 straight to the object database and the
 * ref: blobs for documents, a tree for accounts/, a root tree that keeps any
 * other file a user put there, one commit, and a compare-and-swap of the ref.
 * No index, no work tree, no checkout.
 *
 * In memory the snapshot is a sorted array of entries (binary search by
 * account name). An entry carries the committed document and its blob id
 * and, once staged, the new document or a removal mark; the committed side is
 * what the run started from, so a commit only touches entries that changed.
 *
 * This file holds the entries, reading and staging; the commit is in
 * state_commit.c, fetch and push in state_remote.c, finding and opening the
 * repository in state_open.c (state_int.h: what they share).
 */
#include "state.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"
#include "pave.h"
#include "snapdoc.h"
#include "state_int.h"
#include "util.h"
#include "libcrypto.h"
#include <pthread.h>

#include "banned.h"

/* ---- errors ------------------------------------------------------------ */

/*
 * The one place libgit2's errors become a ps_error: "WHAT: libgit2's
 * message". `gerr` is the libgit2 return code (only used when libgit2 left
 * no message).
 */
int state_git_fail(ps_error *err, int code, int gerr, const char *fmt, ...)
{
	const git_error *ge = git_error_last();
	char what[PS_ERROR_MSG_MAX];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (ge && ge->message && *ge->message) {
		char msg[PS_ERROR_MSG_MAX];
		ps_strlcpy(msg, ge->message, sizeof(msg));
		/* libgit2 messages sometimes end with a newline or period. */
		n = strlen(msg);
		while (n && (msg[n - 1] == '\n' || msg[n - 1] == '.'))
			msg[--n] = '\0';
		return ps_error_set(err, code, "%s: %s", what, msg);
	}
	return ps_error_set(err, code, "%s: libgit2 error %d", what, gerr);
}

void state_short_id(char out[SHORT_ID + 1], const git_oid *id)
{
	char hex[GIT_OID_HEXSZ + 1];

	git_oid_tostr(hex, sizeof(hex), id);
	memcpy(out, hex, SHORT_ID);
	out[SHORT_ID] = '\0';
}

/* ---- entries ----------------------------------------------------------- */

static void entry_free(struct entry *e)
{
	if (!e)
		return;
	free(e->name);
	json_decref(e->doc);
	json_decref(e->staged);
	free(e->text);
	free(e);
}

static void entries_clear(ps_state *st)
{
	for (size_t i = 0; i < st->nentries; i++)
		entry_free(st->entries[i]);
	st->nentries = 0;
	st->nbuffered = 0;
	st->view_dirty = true;
}

/* Index of `name`, or -(insertion point) - 1 when absent. */
static long entry_find(const ps_state *st, const char *name)
{
	size_t lo = 0, hi = st->nentries;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(st->entries[mid]->name, name);
		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -(long)lo - 1;
}

static void entries_reserve(ps_state *st, size_t n)
{
	if (n <= st->alloc)
		return;
	st->alloc = st->alloc ? st->alloc : 16;
	while (st->alloc < n)
		st->alloc *= 2;
	st->entries = ps_realloc(st->entries, st->alloc * sizeof(*st->entries));
}

/* Pointers are moved, not entries, so inserting in the middle of 10,000
 * is a short memmove; names from a sorted config append at the end. */
static struct entry *entry_insert(ps_state *st, size_t at, const char *name)
{
	struct entry *e = ps_calloc(1, sizeof(*e));

	e->name = ps_strdup(name);
	entries_reserve(st, st->nentries + 1);
	memmove(st->entries + at + 1, st->entries + at,
		(st->nentries - at) * sizeof(*st->entries));
	st->entries[at] = e;
	st->nentries++;
	st->view_dirty = true;
	return e;
}

void state_entry_delete(ps_state *st, size_t at)
{
	if (st->entries[at]->text && !st->entries[at]->written)
		st->nbuffered--;
	entry_free(st->entries[at]);
	memmove(st->entries + at, st->entries + at + 1,
		(st->nentries - at - 1) * sizeof(*st->entries));
	st->nentries--;
	st->view_dirty = true;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct entry *x = *(const struct entry *const *)a;
	const struct entry *y = *(const struct entry *const *)b;

	return strcmp(x->name, y->name);
}

static bool entry_visible(const struct entry *e)
{
	return e->change == CH_PUT || (e->change == CH_NONE && e->committed);
}

/* ---- reading the snapshot ---------------------------------------------- */

/* "NAME.json" with a valid account NAME → NAME (malloc'd); else NULL. */
static char *account_of_file(const char *file)
{
	size_t n = strlen(file);
	char *name;

	if (n <= 5 || strcmp(file + n - 5, ".json") != 0)
		return NULL;
	name = ps_strndup(file, n - 5);
	if (!ps_pave_account_name_is_valid(name)) {
		free(name);
		return NULL;
	}
	return name;
}

static int parse_doc(json_t **out, const char *name, const char *at,
		     const void *data, size_t len, ps_error *err)
{
	json_error_t jerr;
	json_t *doc, *format;
	ps_error bad;

	*out = NULL;
	ps_error_clear(&bad);
	doc = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc)
		return ps_error_set(err, PS_EINVALID,
				    "accounts/%s.json at %s: %d:%d: %s", name,
				    at, jerr.line, jerr.column, jerr.text);
	if (!json_is_object(doc)) {
		json_decref(doc);
		return ps_error_set(err, PS_EINVALID,
				    "accounts/%s.json at %s: not a JSON object",
				    name, at);
	}
	/* The store interprets nothing but the format; a document from a
	 * newer pavesync must not be silently rewritten by an older one. */
	format = json_object_get(doc, "format");
	if (format && !(json_is_integer(format) &&
			json_integer_value(format) >= PS_STATE_FORMAT_MIN &&
			json_integer_value(format) <= PS_STATE_FORMAT)) {
		json_decref(doc);
		return ps_error_set(
			err, PS_EINVALID,
			"accounts/%s.json at %s: unsupported snapshot "
			"format (this pavesync reads formats %d to %d)",
			name, at, PS_STATE_FORMAT_MIN, PS_STATE_FORMAT);
	}
	/* Every field is checked before anything uses the document: a field
	 * of the wrong type must not be read as "absent" (issue 9). */
	if (ps_snapdoc_check(doc, name, at, &bad) < 0) {
		json_decref(doc);
		return ps_error_set(
			err, PS_EINVALID,
			"%s; the snapshot is damaged and nothing was "
			"done: fix the file in a new commit on the "
			"state ref, or move the ref back to a good "
			"commit (pavesync history)",
			bad.message);
	}
	*out = doc;
	return 0;
}

/* Read and parse the document blob `id` of account `name`. */
static int read_doc(json_t **out, ps_state *st, const char *name,
		    const git_oid *id, ps_error *err)
{
	git_blob *blob = NULL;
	git_object_size_t size;
	char at[SHORT_ID + 1];
	int e, rc;

	*out = NULL;
	state_short_id(at, &st->head);
	/* Checked in every build, not left to ThreadSanitizer, which does
	 * not see inside libgit2. */
	if (!pthread_equal(pthread_self(), st->owner))
		return ps_error_set(
			err, PS_ERROR,
			"internal error: accounts/%s.json read from a "
			"thread that does not own the state repository",
			name);
	if ((e = git_blob_lookup(&blob, st->repo, id)) < 0)
		return state_git_fail(err, PS_ERROR, e,
				      "cannot read accounts/%s.json at %s",
				      name, at);
	size = git_blob_rawsize(blob);
	if (size > DOC_MAX) {
		git_blob_free(blob);
		return ps_error_set(
			err, PS_ELIMIT,
			"accounts/%s.json at %s: larger than %zu bytes", name,
			at, DOC_MAX);
	}
	rc = parse_doc(out, name, at, git_blob_rawcontent(blob), (size_t)size,
		       err);
	git_blob_free(blob);
	return rc;
}

/* An entry for each accounts/<valid name>.json blob of `accounts`, its
 * document read now unless the snapshot is lazy. Unsorted. */
static int add_entries(ps_state *st, git_tree *accounts, ps_error *err)
{
	size_t n = git_tree_entrycount(accounts);
	int rc;

	entries_reserve(st, n);
	for (size_t i = 0; i < n; i++) {
		const git_tree_entry *te = git_tree_entry_byindex(accounts, i);
		struct entry *ent;
		json_t *doc = NULL;
		char *name;

		if (git_tree_entry_type(te) != GIT_OBJECT_BLOB)
			continue;
		/* Anything but accounts/<valid name>.json is left alone (and
		 * kept by commits, which edit the tree in place). */
		name = account_of_file(git_tree_entry_name(te));
		if (!name)
			continue;
		if (!st->lazy &&
		    (rc = read_doc(&doc, st, name, git_tree_entry_id(te),
				   err)) < 0) {
			free(name);
			return rc;
		}
		ent = ps_calloc(1, sizeof(*ent));
		ent->name = name;
		ent->doc = doc;
		ent->committed = true;
		ent->loaded = !st->lazy;
		git_oid_cpy(&ent->blob, git_tree_entry_id(te));
		st->entries[st->nentries++] = ent;
	}
	return 0;
}

/* Read the snapshot at commit `id` into st->entries (replacing them). */
int state_load_commit(ps_state *st, const git_oid *id, ps_error *err)
{
	git_commit *commit = NULL;
	git_tree *root = NULL, *accounts = NULL;
	const git_tree_entry *te;
	char at[SHORT_ID + 1];
	int e, rc = 0;

	entries_clear(st);
	st->head = *id;
	st->has_head = true;
	git_oid_tostr(st->head_hex, sizeof(st->head_hex), id);
	state_short_id(at, id);

	if ((e = git_commit_lookup(&commit, st->repo, id)) < 0 ||
	    (e = git_commit_tree(&root, commit)) < 0) {
		rc = state_git_fail(err, PS_ERROR, e,
				    "cannot read commit %s of %s", at, st->ref);
		goto cleanup;
	}
	te = git_tree_entry_byname(root, "accounts");
	if (!te)
		goto cleanup;
	if (git_tree_entry_type(te) != GIT_OBJECT_TREE) {
		rc = ps_error_set(err, PS_EINVALID,
				  "accounts in %s at %s is not a directory",
				  st->ref, at);
		goto cleanup;
	}
	if ((e = git_tree_lookup(&accounts, st->repo, git_tree_entry_id(te))) <
	    0) {
		rc = state_git_fail(err, PS_ERROR, e,
				    "cannot read accounts/ at %s", at);
		goto cleanup;
	}

	if ((rc = add_entries(st, accounts, err)) < 0)
		goto cleanup;
	/* Tree order sorts "a-b.json" before "a.json"; we sort by name. */
	qsort(st->entries, st->nentries, sizeof(*st->entries), entry_cmp);
	st->view_dirty = true;

cleanup:
	if (rc < 0)
		entries_clear(st);
	git_tree_free(accounts);
	git_tree_free(root);
	git_commit_free(commit);
	return rc;
}

/*
 * Why the ref does not peel to a commit: an object that cannot be read (a
 * truncated pack, a missing object) is a damaged repository, not a ref
 * pointing at the wrong kind of object.
 */
static int peel_failed(ps_state *st, git_reference *ref, int e, ps_error *err)
{
	char at[SHORT_ID + 1];
	git_odb *odb = NULL;
	git_odb_object *o = NULL;
	const git_oid *id = git_reference_target(ref);
	int rc;

	if (!id)
		return state_git_fail(
			err, PS_EINVALID, e,
			"the state ref %s does not point at a commit", st->ref);
	state_short_id(at, id);
	git_error_clear();
	if (git_repository_odb(&odb, st->repo) == 0 &&
	    (e = git_odb_read(&o, odb, id)) < 0) {
		rc = state_git_fail(
			err, PS_ERROR, e,
			"the state ref %s points at %s, which cannot be "
			"read: the repository %s is damaged (a truncated "
			"pack or a missing object; see git fsck). Nothing "
			"was done",
			st->ref, at, st->gitdir);
	} else {
		rc = ps_error_set(
			err, PS_EINVALID,
			"the state ref %s points at %s, which is a %s, "
			"not a commit",
			st->ref, at,
			o ? git_object_type2string(git_odb_object_type(o))
			  : "object");
	}
	git_odb_object_free(o);
	git_odb_free(odb);
	return rc;
}

/* Resolve the ref to a commit id. 0 with *found = false when absent. */
int state_read_ref(git_oid *out, bool *found, ps_state *st, ps_error *err)
{
	git_reference *ref = NULL;
	git_object *obj = NULL;
	int e, rc = 0;

	*found = false;
	e = git_reference_lookup(&ref, st->repo, st->ref);
	if (e == GIT_ENOTFOUND)
		return 0;
	if (e < 0)
		return state_git_fail(err, PS_ERROR, e,
				      "cannot read the state ref %s", st->ref);
	if (git_reference_type(ref) != GIT_REFERENCE_DIRECT) {
		rc = ps_error_set(err, PS_EINVALID,
				  "the state ref %s is a symbolic ref to %s; "
				  "use a branch of its own (--state-ref)",
				  st->ref, git_reference_symbolic_target(ref));
		goto cleanup;
	}
	if ((e = git_reference_peel(&obj, ref, GIT_OBJECT_COMMIT)) < 0) {
		rc = peel_failed(st, ref, e, err);
		goto cleanup;
	}
	/* Compare-and-swap needs the ref's own value: a ref pointing at a
	 * tag object would not match the peeled commit. */
	if (!git_oid_equal(git_object_id(obj), git_reference_target(ref))) {
		rc = ps_error_set(err, PS_EINVALID,
				  "the state ref %s does not point at a commit",
				  st->ref);
		goto cleanup;
	}
	git_oid_cpy(out, git_object_id(obj));
	*found = true;

cleanup:
	git_object_free(obj);
	git_reference_free(ref);
	return rc;
}

void ps_state_free(ps_state *st)
{
	if (!st)
		return;
	entries_clear(st);
	state_pack_free(st->pack);
	free(st->entries);
	free(st->view);
	/* No repository when libgit2 could not be loaded: no call. */
	if (st->repo)
		git_repository_free(st->repo);
	free(st->path);
	free(st->gitdir);
	free(st->ref);
	ps_memo_free(st->memo);
	if (st->git_inited)
		git_libgit2_shutdown();
	free(st);
}

/* ---- accessors and staging --------------------------------------------- */

bool ps_state_exists(const ps_state *st)
{
	return st && st->repo;
}

const char *ps_state_gitdir(const ps_state *st)
{
	return st ? st->gitdir : "";
}

const char *ps_state_ref(const ps_state *st)
{
	return st ? st->ref : PS_STATE_DEFAULT_REF;
}

const char *ps_state_head(const ps_state *st)
{
	return st && st->has_head ? st->head_hex : NULL;
}

/* The view is a cache: logically const, so the accessors below may
 * rebuild it through a cast. */
static void view_refresh(const ps_state *cst)
{
	ps_state *st = (ps_state *)cst;

	if (!st->view_dirty)
		return;
	if (st->view_alloc < st->nentries) {
		st->view_alloc = st->nentries;
		st->view = ps_realloc(st->view,
				      st->view_alloc * sizeof(*st->view));
	}
	st->nview = 0;
	for (size_t i = 0; i < st->nentries; i++)
		if (entry_visible(st->entries[i]))
			st->view[st->nview++] = st->entries[i];
	st->view_dirty = false;
}

size_t ps_state_count(const ps_state *st)
{
	if (!st)
		return 0;
	view_refresh(st);
	return st->nview;
}

const char *ps_state_name(const ps_state *st, size_t i)
{
	if (!st)
		return NULL;
	view_refresh(st);
	return i < st->nview ? st->view[i]->name : NULL;
}

int ps_state_load(const json_t **out, ps_state *st, const char *account,
		  ps_error *err)
{
	long at;
	struct entry *e;

	*out = NULL;
	if (!st || !account || (at = entry_find(st, account)) < 0)
		return 0;
	e = st->entries[at];
	switch (e->change) {
	case CH_PUT:
		if (!e->staged)
			return ps_error_set(
				err, PS_ERROR,
				"internal error: accounts/%s.json was staged "
				"as text and cannot be read before the commit",
				e->name);
		*out = e->staged;
		return 0;
	case CH_REMOVE:
		return 0;
	case CH_NONE:
	default:
		break;
	}
	if (e->committed && !e->loaded) {
		int rc = read_doc(&e->doc, st, e->name, &e->blob, err);
		if (rc < 0)
			return rc;
		e->loaded = true;
	}
	*out = e->doc;
	return 0;
}

const json_t *ps_state_get(const ps_state *st, const char *account)
{
	const json_t *doc = NULL;

	/* Loading a lazy document only fills a cache: the snapshot itself
	 * does not change, hence the const. */
	if (ps_state_load(&doc, (ps_state *)st, account, NULL) < 0)
		return NULL;
	return doc;
}

/* Fetched once: the implicit fetch of EVP_sha1() costs more than hashing a
 * small document. Never freed (one per process). */
static EVP_MD *sha1_md;

static void fetch_sha1(void)
{
	/* NULL when libcrypto cannot be loaded: blob_id fails. */
	if (ps_libcrypto_load(NULL) == 0)
		sha1_md = EVP_MD_fetch(NULL, "SHA1", NULL);
}

static bool blob_id(git_oid *out, const char *text, size_t len)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	const EVP_MD *sha1;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char header[64];
	EVP_MD_CTX *c;
	bool ok;

	pthread_once(&once, fetch_sha1);
	sha1 = sha1_md;
	if (!sha1 || !(c = EVP_MD_CTX_new()))
		return false;
	snprintf(header, sizeof(header), "blob %zu", len);
	ok = EVP_DigestInit_ex(c, sha1, NULL) &&
	     EVP_DigestUpdate(c, header, strlen(header) + 1) &&
	     EVP_DigestUpdate(c, text, len) && EVP_DigestFinal_ex(c, md, &n) &&
	     n == GIT_OID_RAWSZ;
	EVP_MD_CTX_free(c);
	/* Not git_oid_fromraw: this needs no libgit2 (ps_state_blob_id
	 * may be called before any state is opened, hence loaded). */
	if (ok)
		memcpy(out->id, md, GIT_OID_RAWSZ);
	return ok;
}

bool ps_state_blob_id(unsigned char out[20], const char *text, size_t len)
{
	git_oid id;

	/* A git blob id is SHA-1("blob <len>\0" <bytes>). libgit2's
	 * collision-detecting SHA-1 is several times slower than OpenSSL's,
	 * and a no-drift plan hashes every account's document. */
	if (!blob_id(&id, text, len))
		return false;
	memcpy(out, id.id, GIT_OID_RAWSZ);
	return true;
}

/* The entry of `account` when it is committed and nothing is staged for
 * it, else NULL. */
static const struct entry *committed_entry(const ps_state *st,
					   const char *account)
{
	const struct entry *e;
	long at;

	if (!st || !account || (at = entry_find(st, account)) < 0)
		return NULL;
	e = st->entries[at];
	return e->change == CH_NONE && e->committed ? e : NULL;
}

bool ps_state_has_blob(const ps_state *st, const char *account,
		       const unsigned char id[20])
{
	const struct entry *e = committed_entry(st, account);

	return e && !memcmp(e->blob.id, id, GIT_OID_RAWSZ);
}

bool ps_state_same_blob(const ps_state *st, const char *account,
			const char *text, size_t len)
{
	unsigned char id[20];

	return committed_entry(st, account) &&
	       ps_state_blob_id(id, text, len) &&
	       ps_state_has_blob(st, account, id);
}

bool ps_state_has(const ps_state *st, const char *account)
{
	long at;

	if (!st || !account || (at = entry_find(st, account)) < 0)
		return false;
	return entry_visible(st->entries[at]);
}

void ps_state_unload(ps_state *st, const char *account)
{
	struct entry *e;
	long at;

	if (!st || !st->lazy || !account || (at = entry_find(st, account)) < 0)
		return;
	e = st->entries[at];
	if (e->change != CH_NONE || !e->committed || !e->loaded)
		return;
	json_decref(e->doc);
	e->doc = NULL;
	e->loaded = false;
}

/* Forget what is staged for `e` (the blob written for it, if any, stays in
 * the object database unreferenced). */
static void unstage(ps_state *st, struct entry *e)
{
	json_decref(e->staged);
	e->staged = NULL;
	if (e->text && !e->written)
		st->nbuffered--;
	free(e->text);
	e->text = NULL;
	e->textlen = 0;
	e->written = false;
}

/* The entry of `account`, made when absent. */
static struct entry *entry_get(ps_state *st, const char *account)
{
	long at = entry_find(st, account);

	return at >= 0 ? st->entries[at]
		       : entry_insert(st, (size_t)(-at - 1), account);
}

void ps_state_put(ps_state *st, const char *account, json_t *doc)
{
	struct entry *e;

	if (!st || !account) {
		json_decref(doc);
		return;
	}
	if (!doc) {
		ps_state_remove(st, account);
		return;
	}
	e = entry_get(st, account);
	unstage(st, e);
	e->staged = doc;
	e->change = CH_PUT;
	st->view_dirty = true;
}

/* From BULK_MIN documents staged as text on, every one of them is written
 * into the pack at once (the ones held so far first). */
static int stream_texts(ps_state *st, ps_error *err)
{
	int rc;

	/* Where nothing may be committed, nothing is written: the commit
	 * says why (check_committable). */
	if (!st->repo || st->tracking ||
	    (!st->pack && st->nbuffered < BULK_MIN))
		return 0;
	if (!st->pack && (rc = state_pack_open(&st->pack, st->gitdir, err)) < 0)
		return rc;
	for (size_t i = 0; i < st->nentries && st->nbuffered; i++) {
		struct entry *e = st->entries[i];
		if (e->change != CH_PUT || !e->text || e->written)
			continue;
		if ((rc = state_write_blob(st, e, err)) < 0)
			return rc;
	}
	return 0;
}

int ps_state_put_text(ps_state *st, const char *account, char *text, size_t len,
		      ps_error *err)
{
	struct entry *e = entry_get(st, account);

	unstage(st, e);
	e->text = text;
	e->textlen = len;
	e->change = CH_PUT;
	st->nbuffered++;
	st->view_dirty = true;
	return stream_texts(st, err);
}

void ps_state_remove(ps_state *st, const char *account)
{
	struct entry *e;
	long at;

	if (!st || !account)
		return;
	at = entry_find(st, account);
	if (at < 0)
		return;
	e = st->entries[at];
	unstage(st, e);
	if (e->committed) {
		e->change = CH_REMOVE;
		st->view_dirty = true;
	} else {
		state_entry_delete(st, (size_t)at);
	}
}

/* ---- history ----------------------------------------------------------- */

int ps_state_history(ps_state *st, size_t max, ps_state_history_cb cb,
		     void *ctx, ps_error *err)
{
	git_revwalk *walk = NULL;
	ps_buf who = PS_BUF_INIT, subject = PS_BUF_INIT;
	git_oid id;
	size_t n = 0;
	int e, rc = 0;

	if (!st || !st->repo || !st->has_head || !cb)
		return 0;
	if ((e = git_revwalk_new(&walk, st->repo)) < 0 ||
	    (e = git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL |
						   GIT_SORT_TIME)) < 0 ||
	    (e = git_revwalk_push(walk, &st->head)) < 0) {
		rc = state_git_fail(err, PS_ERROR, e,
				    "cannot walk the history of %s", st->ref);
		goto cleanup;
	}
	while ((max == 0 || n < max) &&
	       (e = git_revwalk_next(&id, walk)) == 0) {
		git_commit *c = NULL;
		const git_signature *sig;
		const char *message;
		char hex[GIT_OID_HEXSZ + 1];

		if ((e = git_commit_lookup(&c, st->repo, &id)) < 0) {
			rc = state_git_fail(err, PS_ERROR, e,
					    "cannot read a commit of %s",
					    st->ref);
			goto cleanup;
		}
		sig = git_commit_committer(c);
		message = git_commit_message(c);
		ps_buf_reset(&who);
		ps_buf_printf(&who, "%s <%s>", sig->name, sig->email);
		ps_buf_reset(&subject);
		ps_buf_put(&subject, message, strcspn(message, "\n"));
		state_trim_newlines(&subject);
		git_oid_tostr(hex, sizeof(hex), &id);
		rc = cb(ctx, hex, (long long)sig->when.time, sig->when.offset,
			who.ptr, subject.ptr);
		git_commit_free(c);
		n++;
		if (rc)
			goto cleanup;
	}
	if (e < 0 && e != GIT_ITEROVER)
		rc = state_git_fail(err, PS_ERROR, e,
				    "cannot walk the history of %s", st->ref);

cleanup:
	ps_buf_release(&who);
	ps_buf_release(&subject);
	git_revwalk_free(walk);
	return rc;
}
