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
 */
#include "state.h"

#include <dirent.h>
#include <errno.h>
#include <git2.h>
#include <git2/sys/mempack.h>
#include <git2/sys/odb_backend.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "json.h"
#include "remote.h"
#include "snapdoc.h"
#include "util.h"
#include <openssl/evp.h>
#include <pthread.h>

#include "banned.h"

/* A snapshot document is a few kilobytes; anything past this is not ours. */
#define DOC_MAX ((size_t)16 * 1024 * 1024)

/* Abbreviated ids in messages, like git's. */
#define SHORT_ID 12

#define FALLBACK_NAME "pavesync"
#define FALLBACK_EMAIL "pavesync@localhost"

enum change { CH_NONE = 0, CH_PUT, CH_REMOVE };

struct entry {
	char *name;
	json_t *doc;	/* committed document, once loaded */
	git_oid blob;	/* its blob (valid when committed) */
	bool committed; /* in the snapshot */
	bool loaded;	/* doc parsed (lazy snapshots parse on first use) */
	json_t *staged; /* CH_PUT: the new document */
	enum change change;
	git_oid pending; /* during a commit: the blob written for `staged` */
};

struct ps_state {
	git_repository *repo; /* NULL while the repository does not exist */
	char *path;	      /* as given to ps_state_open */
	char *gitdir;	      /* common git directory, no trailing '/'; "" */
	char *ref;	      /* full ref name */
	bool has_head;
	git_oid head; /* the commit the snapshot was read at */
	char head_hex[GIT_OID_HEXSZ + 1];

	struct entry **entries; /* sorted by name */
	size_t nentries, alloc;

	/* Cache of the merged view (entries not staged for removal) for
	 * ps_state_count/ps_state_name; rebuilt lazily after a change. */
	struct entry **view;
	size_t nview, view_alloc;
	bool view_dirty;

	bool git_inited;
	bool lazy;     /* PS_STATE_LAZY: parse documents on first use */
	bool tracking; /* read from a remote's copy: never committed to */
	/* The thread that opened the snapshot: libgit2 objects (st->repo)
	 * are used from it alone (libgit2's threading rules). */
	pthread_t owner;
};

/* ---- errors ------------------------------------------------------------ */

/*
 * The one place libgit2's errors become a ps_error: "WHAT: libgit2's
 * message". `gerr` is the libgit2 return code (only used when libgit2 left
 * no message).
 */
static int git_fail(ps_error *err, int code, int gerr, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int git_fail(ps_error *err, int code, int gerr, const char *fmt, ...)
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

static void short_id(char out[SHORT_ID + 1], const git_oid *id)
{
	char hex[GIT_OID_HEXSZ + 1];

	git_oid_tostr(hex, sizeof(hex), id);
	memcpy(out, hex, SHORT_ID);
	out[SHORT_ID] = '\0';
}

static char *strip_slash(const char *p)
{
	size_t n = strlen(p);

	while (n > 1 && p[n - 1] == '/')
		n--;
	return ps_strndup(p, n);
}

/* ---- entries ----------------------------------------------------------- */

static void entry_free(struct entry *e)
{
	if (!e)
		return;
	free(e->name);
	json_decref(e->doc);
	json_decref(e->staged);
	free(e);
}

static void entries_clear(ps_state *st)
{
	for (size_t i = 0; i < st->nentries; i++)
		entry_free(st->entries[i]);
	st->nentries = 0;
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

static void entry_delete(ps_state *st, size_t at)
{
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
	if (!ps_account_name_is_valid(name)) {
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
	short_id(at, &st->head);
	/* Checked in every build, not left to ThreadSanitizer, which does
	 * not see inside libgit2. */
	if (!pthread_equal(pthread_self(), st->owner))
		return ps_error_set(
			err, PS_ERROR,
			"internal error: accounts/%s.json read from a "
			"thread that does not own the state repository",
			name);
	if ((e = git_blob_lookup(&blob, st->repo, id)) < 0)
		return git_fail(err, PS_ERROR, e,
				"cannot read accounts/%s.json at %s", name, at);
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

/* Read the snapshot at commit `id` into st->entries (replacing them). */
static int load_commit(ps_state *st, const git_oid *id, ps_error *err)
{
	git_commit *commit = NULL;
	git_tree *root = NULL, *accounts = NULL;
	const git_tree_entry *te;
	char at[SHORT_ID + 1];
	int e, rc = 0;
	size_t n;

	entries_clear(st);
	st->head = *id;
	st->has_head = true;
	git_oid_tostr(st->head_hex, sizeof(st->head_hex), id);
	short_id(at, id);

	if ((e = git_commit_lookup(&commit, st->repo, id)) < 0 ||
	    (e = git_commit_tree(&root, commit)) < 0) {
		rc = git_fail(err, PS_ERROR, e, "cannot read commit %s of %s",
			      at, st->ref);
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
		rc = git_fail(err, PS_ERROR, e, "cannot read accounts/ at %s",
			      at);
		goto cleanup;
	}

	n = git_tree_entrycount(accounts);
	entries_reserve(st, n);
	for (size_t i = 0; i < n; i++) {
		struct entry *ent;
		json_t *doc;
		char *name;

		te = git_tree_entry_byindex(accounts, i);
		if (git_tree_entry_type(te) != GIT_OBJECT_BLOB)
			continue;
		/* Anything but accounts/<valid name>.json is left alone (and
		 * kept by commits, which edit the tree in place). */
		name = account_of_file(git_tree_entry_name(te));
		if (!name)
			continue;
		if (st->lazy) {
			doc = NULL;
		} else if ((rc = read_doc(&doc, st, name, git_tree_entry_id(te),
					  err)) < 0) {
			free(name);
			goto cleanup;
		}
		ent = ps_calloc(1, sizeof(*ent));
		ent->name = name;
		ent->doc = doc;
		ent->committed = true;
		ent->loaded = !st->lazy;
		git_oid_cpy(&ent->blob, git_tree_entry_id(te));
		st->entries[st->nentries++] = ent;
	}
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
		return git_fail(err, PS_EINVALID, e,
				"the state ref %s does not point at a commit",
				st->ref);
	short_id(at, id);
	git_error_clear();
	if (git_repository_odb(&odb, st->repo) == 0 &&
	    (e = git_odb_read(&o, odb, id)) < 0) {
		rc = git_fail(
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
static int read_ref(git_oid *out, bool *found, ps_state *st, ps_error *err)
{
	git_reference *ref = NULL;
	git_object *obj = NULL;
	int e, rc = 0;

	*found = false;
	e = git_reference_lookup(&ref, st->repo, st->ref);
	if (e == GIT_ENOTFOUND)
		return 0;
	if (e < 0)
		return git_fail(err, PS_ERROR, e,
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

/* ---- opening ----------------------------------------------------------- */

static int normalise_ref(char **out, const char *ref, ps_error *err)
{
	ps_buf b = PS_BUF_INIT;
	int valid = 0;

	*out = NULL;
	if (!ref || !*ref)
		ref = PS_STATE_DEFAULT_REF;
	if (strncmp(ref, "refs/", 5) == 0)
		ps_buf_puts(&b, ref);
	else
		ps_buf_printf(&b, "refs/heads/%s", ref);
	if (strcmp(ref, "HEAD") == 0 ||
	    git_reference_name_is_valid(&valid, b.ptr) < 0 || !valid) {
		ps_buf_release(&b);
		return ps_error_set(err, PS_EINVALID,
				    "\"%s\" is not a valid ref name for the "
				    "state (--state-ref)",
				    ref);
	}
	*out = ps_buf_detach(&b, NULL);
	return 0;
}

/* 1: the path does not exist or is an empty directory; 0: it exists. */
static int path_is_vacant(const char *path, ps_error *err)
{
	struct stat sb;
	struct dirent *d;
	DIR *dir;
	int vacant = 1;

	if (stat(path, &sb) < 0) {
		if (errno == ENOENT)
			return 1;
		return ps_error_set(err, PS_ERROR, "cannot access %s: %s", path,
				    strerror(errno));
	}
	if (!S_ISDIR(sb.st_mode))
		return 0;
	dir = opendir(path);
	if (!dir)
		return ps_error_set(err, PS_ERROR, "cannot read %s: %s", path,
				    strerror(errno));
	while ((d = readdir(dir)) != NULL) {
		if (strcmp(d->d_name, ".") && strcmp(d->d_name, "..")) {
			vacant = 0;
			break;
		}
	}
	closedir(dir);
	return vacant;
}

/* Is HEAD of `repo` a symbolic ref to `ref`? */
static int head_is(bool *yes, git_repository *repo, const char *ref,
		   ps_error *err)
{
	git_reference *head = NULL;
	int e;

	*yes = false;
	e = git_reference_lookup(&head, repo, "HEAD");
	if (e == GIT_ENOTFOUND)
		return 0;
	if (e < 0)
		return git_fail(err, PS_ERROR, e, "cannot read HEAD of %s",
				git_repository_path(repo));
	if (git_reference_type(head) == GIT_REFERENCE_SYMBOLIC &&
	    strcmp(git_reference_symbolic_target(head), ref) == 0)
		*yes = true;
	git_reference_free(head);
	return 0;
}

static int refuse_checked_out(const ps_state *st, const char *workdir,
			      ps_error *err)
{
	char *wd = strip_slash(workdir);
	int rc = ps_error_set(err, PS_EINVALID,
			      "the state ref %s is checked out in the work "
			      "tree %s; pavesync never writes to a checked-out "
			      "branch: choose another ref with --state-ref "
			      "(default %s)",
			      st->ref, wd, PS_STATE_DEFAULT_REF);
	free(wd);
	return rc;
}

/*
 * Refuse a state ref that is some work tree's checked-out branch: moving it
 * behind git's back would make that work tree show our commit as staged
 * reversals. Checks the repository's own work tree, the main one when it was
 * opened through a linked work tree, and every linked work tree.
 */
static int check_not_checked_out(ps_state *st, ps_error *err)
{
	git_repository *main_repo = NULL;
	git_strarray names = { NULL, 0 };
	bool yes;
	int e, rc = 0;

	if (!git_repository_is_bare(st->repo)) {
		if ((rc = head_is(&yes, st->repo, st->ref, err)) < 0)
			return rc;
		if (yes)
			return refuse_checked_out(
				st, git_repository_workdir(st->repo), err);
	}
	if (git_repository_is_worktree(st->repo) &&
	    git_repository_open_ext(&main_repo,
				    git_repository_commondir(st->repo),
				    GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) == 0) {
		if (!git_repository_is_bare(main_repo)) {
			if ((rc = head_is(&yes, main_repo, st->ref, err)) < 0)
				goto cleanup;
			if (yes) {
				rc = refuse_checked_out(
					st, git_repository_workdir(main_repo),
					err);
				goto cleanup;
			}
		}
	}
	if ((e = git_worktree_list(&names, st->repo)) < 0) {
		/* Listing linked work trees is a courtesy check; a repository
		 * whose worktrees/ cannot be read is still usable. */
		git_error_clear();
		goto cleanup;
	}
	for (size_t i = 0; i < names.count && rc == 0; i++) {
		git_worktree *wt = NULL;
		git_repository *wr = NULL;

		if (git_worktree_lookup(&wt, st->repo, names.strings[i]) < 0 ||
		    git_worktree_validate(wt) < 0 ||
		    git_repository_open_from_worktree(&wr, wt) < 0) {
			git_error_clear();
		} else if ((rc = head_is(&yes, wr, st->ref, err)) == 0 && yes) {
			rc = refuse_checked_out(st, git_worktree_path(wt), err);
		}
		git_repository_free(wr);
		git_worktree_free(wt);
	}

cleanup:
	git_strarray_dispose(&names);
	git_repository_free(main_repo);
	return rc;
}

/*
 * libgit2 refuses a repository owned by another user (git's safe.directory
 * rule) with a message that says nothing of the sort ("not a git
 * repository", "config value 'safe.directory' was not found"), and fails
 * with "failed to stat ~/.gitconfig" when HOME cannot be read (systemd's
 * ProtectHome=). After a failed open, say which it was. Returns the error
 * code when it explained, 0 when the caller's own message stands.
 */
static int explain_unopenable(const char *path, ps_error *err)
{
	ps_buf dotgit = PS_BUF_INIT, gc = PS_BUF_INIT, head = PS_BUF_INIT;
	const char *home = getenv("HOME");
	const char *gitdir = path;
	struct stat sb, hb;
	bool home_unreadable = false;
	int rc = 0, home_errno = 0;

	ps_buf_printf(&dotgit, "%s/.git", path);
	if (stat(dotgit.ptr, &sb) == 0 && S_ISDIR(sb.st_mode))
		gitdir = dotgit.ptr;
	if (home && *home) {
		ps_buf_printf(&gc, "%s/.gitconfig", home);
		if (stat(gc.ptr, &hb) < 0 && errno != ENOENT) {
			home_unreadable = true;
			home_errno = errno;
		}
	}
	ps_buf_printf(&head, "%s/HEAD", gitdir);
	if (stat(gitdir, &sb) == 0 && sb.st_uid != geteuid() &&
	    access(head.ptr, F_OK) == 0) {
		char *abs = realpath(path, NULL);

		rc = ps_error_set(
			err, PS_EINVALID,
			"the repository %s is owned by another user "
			"(uid %u; pavesync runs as uid %u), and git's "
			"safe.directory rule refuses it as git does: run "
			"pavesync as its owner, or if you trust it: git "
			"config --global --add safe.directory %s%s%s%s",
			path, (unsigned)sb.st_uid, (unsigned)geteuid(),
			abs ? abs : path, home_unreadable ? " (HOME " : "",
			home_unreadable ? home : "",
			home_unreadable ? " cannot be read, so no "
					  "safe.directory entry applies)"
					: "");
		free(abs);
	} else if (home_unreadable) {
		rc = ps_error_set(
			err, PS_EINVALID,
			"cannot read git's global config %s (%s): "
			"pavesync reads git configuration like git; "
			"give the job a readable HOME (under systemd's "
			"ProtectHome=, a home outside /home)",
			gc.ptr, strerror(home_errno));
	}
	ps_buf_release(&dotgit);
	ps_buf_release(&gc);
	ps_buf_release(&head);
	return rc;
}

/*
 * A writer needs to create objects and move the ref. Checked up front, so
 * a repository left with root-owned directories (a `sudo git gc`) or on a
 * read-only mount fails before any API call, naming the path and why.
 */
static int check_dir_writable(const char *dir, bool must_exist, ps_error *err)
{
	if (access(dir, W_OK | X_OK) == 0)
		return 0;
	if (errno == ENOENT && !must_exist)
		return 0;
	return ps_error_set(err, PS_EINVALID,
			    "cannot write to the state repository: %s: %s "
			    "(pavesync runs as uid %u and must write objects "
			    "and refs there)",
			    dir, strerror(errno), (unsigned)geteuid());
}

static int check_writable(ps_state *st, ps_error *err)
{
	ps_buf p = PS_BUF_INIT;
	const char *fixed[] = { "",
				"/objects",
				"/objects/pack",
				"/objects/info",
				"/refs",
				"/refs/heads",
				"/logs",
				"/logs/refs",
				"/logs/refs/heads" };
	DIR *d = NULL;
	struct dirent *de;
	const char *slash;
	int rc = 0;

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]) && !rc; i++) {
		ps_buf_reset(&p);
		ps_buf_printf(&p, "%s%s", st->gitdir, fixed[i]);
		rc = check_dir_writable(p.ptr, i < 2, err);
	}
	/* The directories on the way to the ref (refs/heads/a/b). */
	for (slash = strchr(st->ref, '/'); slash && !rc;
	     slash = strchr(slash + 1, '/')) {
		ps_buf_reset(&p);
		ps_buf_printf(&p, "%s/%.*s", st->gitdir, (int)(slash - st->ref),
			      st->ref);
		rc = check_dir_writable(p.ptr, false, err);
	}
	/* Loose objects go into objects/XX. */
	ps_buf_reset(&p);
	ps_buf_printf(&p, "%s/objects", st->gitdir);
	if (!rc && (d = opendir(p.ptr)) != NULL) {
		while (!rc && (de = readdir(d)) != NULL) {
			if (strlen(de->d_name) != 2 || de->d_name[0] == '.')
				continue;
			ps_buf_reset(&p);
			ps_buf_printf(&p, "%s/objects/%s", st->gitdir,
				      de->d_name);
			rc = check_dir_writable(p.ptr, false, err);
		}
		closedir(d);
	}
	ps_buf_release(&p);
	return rc;
}

static int log_all_ref_updates(ps_state *st, ps_error *err)
{
	git_config *cfg = NULL;
	int e;

	if ((e = git_repository_config(&cfg, st->repo)) < 0 ||
	    (e = git_config_set_string(cfg, "core.logAllRefUpdates",
				       "always")) < 0) {
		git_config_free(cfg);
		return git_fail(err, PS_ERROR, e, "cannot configure %s",
				st->path);
	}
	git_config_free(cfg);
	return 0;
}

int ps_state_open(ps_state **out, const char *repo_path, const char *ref,
		  unsigned flags, ps_error *err)
{
	git_repository_init_options io;
	ps_state *st;
	git_oid id;
	bool found;
	int e, rc, vacant;

	*out = NULL;
	if (!repo_path || !*repo_path)
		return ps_error_set(err, PS_EINVALID,
				    "no state repository path given");
	st = ps_calloc(1, sizeof(*st));
	st->path = ps_strdup(repo_path);
	st->gitdir = ps_strdup("");
	st->view_dirty = true;
	st->lazy = (flags & PS_STATE_LAZY) != 0;
	st->owner = pthread_self();

	if ((e = git_libgit2_init()) < 0) {
		rc = git_fail(err, PS_ERROR, e, "cannot initialise libgit2");
		goto fail;
	}
	st->git_inited = true;
	/* Durability (SPEC §3): objects, refs and reflogs are fsynced. */
	if ((e = git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1)) < 0) {
		rc = git_fail(err, PS_ERROR, e, "cannot enable fsync");
		goto fail;
	}
	if ((rc = normalise_ref(&st->ref, ref, err)) < 0)
		goto fail;

	if ((vacant = path_is_vacant(repo_path, err)) < 0) {
		rc = vacant;
		goto fail;
	}
	if (vacant) {
		/* `plan` must create nothing: an absent repository is an
		 * empty snapshot. */
		if (!(flags & PS_STATE_CREATE)) {
			*out = st;
			return 0;
		}
		/* Bare, so no work tree exists to get in the way; HEAD names
		 * the state ref, so `git log` and `git clone` of this
		 * repository show the snapshot. */
		git_repository_init_options_init(
			&io, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
		io.flags =
			GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH;
		io.initial_head = st->ref;
		if ((e = git_repository_init_ext(&st->repo, repo_path, &io)) <
		    0) {
			rc = git_fail(err, PS_ERROR, e,
				      "cannot create the state repository %s",
				      repo_path);
			goto fail;
		}
		/* A bare repository keeps no reflog by default: the state
		 * ref's history is what tells a moved ref (issue 9), and git
		 * commands run here should record their moves too. */
		if ((rc = log_all_ref_updates(st, err)) < 0)
			goto fail;
	} else {
		e = git_repository_open_ext(&st->repo, repo_path,
					    GIT_REPOSITORY_OPEN_NO_SEARCH,
					    NULL);
		if (e < 0 && (rc = explain_unopenable(repo_path, err)) < 0) {
			git_error_clear();
			goto fail;
		}
		if (e == GIT_ENOTFOUND) {
			git_error_clear();
			rc = ps_error_set(
				err, PS_EINVALID,
				"%s is not a git repository (give "
				"--state-repo an existing repository, "
				"or a new or empty directory)",
				repo_path);
			goto fail;
		}
		if (e < 0) {
			rc = git_fail(err, PS_ERROR, e,
				      "cannot open the state repository %s",
				      repo_path);
			goto fail;
		}
	}
	free(st->gitdir);
	st->gitdir = strip_slash(git_repository_commondir(st->repo));
	if ((flags & PS_STATE_CREATE) && (rc = check_writable(st, err)) < 0)
		goto fail;

	if ((rc = check_not_checked_out(st, err)) < 0)
		goto fail;
	if ((rc = read_ref(&id, &found, st, err)) < 0)
		goto fail;
	if (found && (rc = load_commit(st, &id, err)) < 0)
		goto fail;
	*out = st;
	return 0;

fail:
	ps_state_free(st);
	return rc;
}

void ps_state_free(ps_state *st)
{
	if (!st)
		return;
	entries_clear(st);
	free(st->entries);
	free(st->view);
	git_repository_free(st->repo);
	free(st->path);
	free(st->gitdir);
	free(st->ref);
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

static void *warmup_main(void *arg)
{
	(void)arg;
	git_libgit2_init();
	return NULL;
}

void ps_state_warmup_start(ps_state_warmup *w)
{
	pthread_t *t = ps_malloc(sizeof(*t));

	w->started = pthread_create(t, NULL, warmup_main, NULL) == 0;
	if (!w->started) {
		free(t);
		t = NULL;
	}
	w->thread = t;
}

void ps_state_warmup_finish(ps_state_warmup *w)
{
	if (!w || !w->started)
		return;
	pthread_join(*(pthread_t *)w->thread, NULL);
	free(w->thread);
	w->thread = NULL;
	w->started = false;
	git_libgit2_shutdown();
}

/* Fetched once: the implicit fetch of EVP_sha1() costs more than hashing a
 * small document. Never freed (one per process). */
static EVP_MD *sha1_md;

static void fetch_sha1(void)
{
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
	if (ok)
		git_oid_fromraw(out, md);
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

void ps_state_put(ps_state *st, const char *account, json_t *doc)
{
	struct entry *e;
	long at;

	if (!st || !account) {
		json_decref(doc);
		return;
	}
	if (!doc) {
		ps_state_remove(st, account);
		return;
	}
	at = entry_find(st, account);
	e = at >= 0 ? st->entries[at]
		    : entry_insert(st, (size_t)(-at - 1), account);
	json_decref(e->staged);
	e->staged = doc;
	e->change = CH_PUT;
	st->view_dirty = true;
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
	json_decref(e->staged);
	e->staged = NULL;
	if (e->committed) {
		e->change = CH_REMOVE;
		st->view_dirty = true;
	} else {
		entry_delete(st, (size_t)at);
	}
}

/* ---- committing -------------------------------------------------------- */

static int make_signature(git_signature **out, git_repository *repo,
			  ps_error *err)
{
	int e = git_signature_default(out, repo);

	if (e == 0)
		return 0;
	/* No user.name/user.email (or an unusable one): the SPEC's
	 * fallback identity. */
	git_error_clear();
	e = git_signature_now(out, FALLBACK_NAME, FALLBACK_EMAIL);
	if (e < 0)
		return git_fail(err, PS_ERROR, e, "cannot make a signature");
	return 0;
}

static void trim_newlines(ps_buf *b)
{
	while (b->len &&
	       (b->ptr[b->len - 1] == '\n' || b->ptr[b->len - 1] == '\r'))
		b->ptr[--b->len] = '\0';
}

static int build_message(ps_buf *msg, const char *subject, const char *body)
{
	ps_buf tmp = PS_BUF_INIT;
	int rc = 0;

	rc |= ps_buf_puts(msg, subject && *subject
				       ? subject
				       : "pavesync: update snapshot");
	trim_newlines(msg);
	if (body && *body) {
		rc |= ps_buf_puts(&tmp, body);
		trim_newlines(&tmp);
		if (tmp.len) {
			rc |= ps_buf_puts(msg, "\n\n");
			rc |= ps_buf_put(msg, tmp.ptr, tmp.len);
		}
	}
	rc |= ps_buf_putc(msg, '\n');
	ps_buf_release(&tmp);
	return rc ? PS_ELIMIT : 0;
}

/* The staged changes are now the snapshot. */
static void absorb_staged(ps_state *st)
{
	size_t i = 0;

	while (i < st->nentries) {
		struct entry *e = st->entries[i];

		if (e->change == CH_REMOVE) {
			entry_delete(st, i);
			continue;
		}
		if (e->change == CH_PUT) {
			json_decref(e->doc);
			e->doc = e->staged;
			e->staged = NULL;
			e->committed = true;
			e->loaded = true;
			git_oid_cpy(&e->blob, &e->pending);
			e->change = CH_NONE;
		}
		i++;
	}
	st->view_dirty = true;
}

/*
 * Move the ref from the commit the run started from (or from "absent") to
 * `id`. A concurrent writer shows up as GIT_EMODIFIED (ref moved),
 * GIT_EEXISTS (ref appeared), GIT_ENOTFOUND (ref deleted) or GIT_ELOCKED
 * (its write is in progress): all are a conflict, never overwritten.
 */
static int move_ref(ps_state *st, const git_oid *id, const char *logmsg,
		    ps_error *err)
{
	git_reference *ref = NULL;
	int e;

	if (st->has_head)
		e = git_reference_create_matching(&ref, st->repo, st->ref, id,
						  1, &st->head, logmsg);
	else
		e = git_reference_create(&ref, st->repo, st->ref, id, 0,
					 logmsg);
	git_reference_free(ref);
	if (e == 0)
		return 0;
	if (e == GIT_ELOCKED) {
		git_error_clear();
		return ps_error_set(
			err, PS_ECONFLICT,
			"the state ref %s is being written by another "
			"process (%s/%s.lock exists); nothing was "
			"overwritten — run again (a lock file left by "
			"a killed run is removed by the next run)",
			st->ref, st->gitdir, st->ref);
	}
	if (e == GIT_EMODIFIED || e == GIT_EEXISTS || e == GIT_ENOTFOUND) {
		git_error_clear();
		return ps_error_set(err, PS_ECONFLICT,
				    "the state ref %s moved while this run was "
				    "working (another writer?); nothing was "
				    "overwritten — run again",
				    st->ref);
	}
	return git_fail(err, PS_ERROR, e, "cannot update the state ref %s",
			st->ref);
}

/*
 * Many new objects at once (the first apply of a large group, an import):
 * written one by one as loose objects, each is its own fsynced file (10,000
 * accounts took ten seconds) and every later read opens 10,000 files.
 * Instead they are collected in memory (libgit2's mempack backend, on a
 * second handle so that st->repo never writes there) and stored as one
 * pack, fsynced once, before the ref is moved. Even 100 changed accounts
 * written loose cost ~200 fsyncs (~800 ms on the project's machine, longer
 * than their API calls at 20 ms each, 16 at a time). Commits of a few
 * accounts stay loose, so routine runs do not pile up packs.
 */
#define BULK_MIN 8

struct bulk {
	git_repository *repo;
	git_odb *odb;
	git_odb_backend *mem; /* owned by odb once added */
};

static int bulk_begin(struct bulk *b, ps_state *st, ps_error *err)
{
	git_odb_backend *mem = NULL;
	int e;

	if ((e = git_repository_open_ext(&b->repo, st->gitdir,
					 GIT_REPOSITORY_OPEN_NO_SEARCH, NULL)) <
		    0 ||
	    (e = git_repository_odb(&b->odb, b->repo)) < 0 ||
	    (e = git_mempack_new(&mem)) < 0)
		return git_fail(err, PS_ERROR, e, "cannot prepare to write %s",
				st->gitdir);
	/* Highest priority: every write of this handle lands in memory. */
	if ((e = git_odb_add_backend(b->odb, mem, 1000)) < 0) {
		mem->free(mem);
		return git_fail(err, PS_ERROR, e, "cannot prepare to write %s",
				st->gitdir);
	}
	b->mem = mem;
	return 0;
}

static int bulk_finish(struct bulk *b, ps_error *err)
{
	git_buf pack = { NULL, 0, 0 };
	git_odb_writepack *wp = NULL;
	git_indexer_progress stats;
	int e;

	memset(&stats, 0, sizeof(stats));
	if ((e = git_mempack_dump(&pack, b->repo, b->mem)) < 0 ||
	    (e = git_odb_write_pack(&wp, b->odb, NULL, NULL)) < 0 ||
	    (e = wp->append(wp, pack.ptr, pack.size, &stats)) < 0 ||
	    (e = wp->commit(wp, &stats)) < 0) {
		if (wp)
			wp->free(wp);
		git_buf_dispose(&pack);
		return git_fail(err, PS_ERROR, e,
				"cannot write the new objects");
	}
	wp->free(wp);
	git_buf_dispose(&pack);
	git_mempack_reset(b->mem);
	return 0;
}

static void bulk_free(struct bulk *b)
{
	git_odb_free(b->odb);
	git_repository_free(b->repo);
}

static int make_signature(git_signature **out, git_repository *repo,
			  ps_error *err);

/*
 * Make sure the ref's reflog records that it now points at `id` (libgit2
 * writes it only where git would: not in a bare repository without
 * core.logAllRefUpdates). The commit is made either way, so a failure
 * here is not an error of the commit: the next lineage check then only
 * knows an older pavesync commit, which this one descends from.
 */
static void log_ensure(ps_state *st, const git_oid *id, const char *msg)
{
	git_reflog *log = NULL;
	git_signature *sig = NULL;
	const git_reflog_entry *top;

	if (git_reflog_read(&log, st->repo, st->ref) < 0)
		goto cleanup;
	top = git_reflog_entry_byindex(log, 0);
	if (top && git_oid_equal(git_reflog_entry_id_new(top), id))
		goto cleanup;
	if (make_signature(&sig, st->repo, NULL) < 0 ||
	    git_reflog_append(log, id, sig, msg) < 0 ||
	    git_reflog_write(log) < 0)
		goto cleanup;
cleanup:
	git_error_clear();
	git_signature_free(sig);
	git_reflog_free(log);
}

int ps_state_commit(ps_state *st, const char *subject, const char *body,
		    char out_id[41], ps_error *err)
{
	git_commit *parent = NULL, *commit_parents[1];
	git_tree *root = NULL, *accounts = NULL, *new_root = NULL;
	git_treebuilder *abld = NULL, *rbld = NULL;
	git_signature *sig = NULL;
	const git_tree_entry *te;
	ps_buf file = PS_BUF_INIT, msg = PS_BUF_INIT, logmsg = PS_BUF_INIT;
	git_oid acc_id, root_id, commit_id;
	struct bulk bulk = { NULL, NULL, NULL };
	git_repository *w;
	size_t nchanged = 0, nput = 0;
	int e, rc = 0;

	out_id[0] = '\0';
	for (size_t i = 0; i < st->nentries; i++) {
		if (st->entries[i]->change != CH_NONE)
			nchanged++;
		if (st->entries[i]->change == CH_PUT)
			nput++;
	}
	if (nchanged == 0)
		return 0;
	if (st->tracking)
		return ps_error_set(
			err, PS_EINVALID,
			"the snapshot was read from a remote-tracking "
			"ref, which pavesync never commits to");
	if (!st->repo)
		return ps_error_set(err, PS_EINVALID,
				    "the state repository %s does not exist "
				    "yet (open it with PS_STATE_CREATE)",
				    st->path);
	for (size_t i = 0; i < st->nentries; i++) {
		const struct entry *en = st->entries[i];
		if (en->change != CH_NONE &&
		    !ps_account_name_is_valid(en->name))
			return ps_error_set(
				err, PS_EINVALID,
				"invalid account name \"%s\" "
				"(expected [a-z0-9][a-z0-9_-]{0,62})",
				en->name);
	}

	w = st->repo;
	if (nput >= BULK_MIN) {
		if ((rc = bulk_begin(&bulk, st, err)) < 0)
			goto cleanup;
		w = bulk.repo;
	}

	if (st->has_head) {
		if ((e = git_commit_lookup(&parent, w, &st->head)) < 0 ||
		    (e = git_commit_tree(&root, parent)) < 0) {
			rc = git_fail(err, PS_ERROR, e, "cannot read %s at %s",
				      st->ref, st->head_hex);
			goto cleanup;
		}
		te = git_tree_entry_byname(root, "accounts");
		if (te && git_tree_entry_type(te) == GIT_OBJECT_TREE &&
		    (e = git_tree_lookup(&accounts, w, git_tree_entry_id(te))) <
			    0) {
			rc = git_fail(err, PS_ERROR, e,
				      "cannot read accounts/ at %s",
				      st->head_hex);
			goto cleanup;
		}
	}

	/* Edit the existing accounts tree in place: unchanged entries (and
	 * any foreign file) keep their ids and are never rewritten. */
	if ((e = git_treebuilder_new(&abld, w, accounts)) < 0) {
		rc = git_fail(err, PS_ERROR, e,
			      "cannot build the accounts tree");
		goto cleanup;
	}
	for (size_t i = 0; i < st->nentries; i++) {
		struct entry *en = st->entries[i];

		if (en->change == CH_NONE)
			continue;
		ps_buf_reset(&file);
		ps_buf_printf(&file, "%s.json", en->name);
		te = git_treebuilder_get(abld, file.ptr);
		if (en->change == CH_REMOVE) {
			if (te &&
			    (e = git_treebuilder_remove(abld, file.ptr)) < 0) {
				rc = git_fail(err, PS_ERROR, e,
					      "cannot remove accounts/%s",
					      file.ptr);
				goto cleanup;
			}
			continue;
		}
		{
			char *text = ps_json_canonical(en->staged);
			/* Never write what the next run could not read. */
			if (!text || strlen(text) > DOC_MAX) {
				free(text);
				rc = ps_error_set(
					err, PS_ELIMIT,
					"cannot write "
					"accounts/%s: larger than %zu "
					"bytes (limit)",
					file.ptr, DOC_MAX);
				goto cleanup;
			}
			e = git_blob_create_from_buffer(&en->pending, w, text,
							strlen(text));
			free(text);
		}
		if (e < 0) {
			rc = git_fail(err, PS_ERROR, e,
				      "cannot write accounts/%s", file.ptr);
			goto cleanup;
		}
		if (te && git_tree_entry_filemode(te) == GIT_FILEMODE_BLOB &&
		    git_oid_equal(git_tree_entry_id(te), &en->pending))
			continue;
		if ((e = git_treebuilder_insert(NULL, abld, file.ptr,
						&en->pending,
						GIT_FILEMODE_BLOB)) < 0) {
			rc = git_fail(err, PS_ERROR, e,
				      "cannot add accounts/%s", file.ptr);
			goto cleanup;
		}
	}

	if ((e = git_treebuilder_new(&rbld, w, root)) < 0) {
		rc = git_fail(err, PS_ERROR, e, "cannot build the root tree");
		goto cleanup;
	}
	/* git has no empty directories: no accounts, no accounts/. */
	if (git_treebuilder_entrycount(abld) > 0) {
		if ((e = git_treebuilder_write(&acc_id, abld)) < 0 ||
		    (e = git_treebuilder_insert(NULL, rbld, "accounts", &acc_id,
						GIT_FILEMODE_TREE)) < 0) {
			rc = git_fail(err, PS_ERROR, e,
				      "cannot write the accounts tree");
			goto cleanup;
		}
	} else if (git_treebuilder_get(rbld, "accounts") &&
		   (e = git_treebuilder_remove(rbld, "accounts")) < 0) {
		rc = git_fail(err, PS_ERROR, e, "cannot remove accounts/");
		goto cleanup;
	}

	if (!root && git_treebuilder_entrycount(rbld) == 0) {
		/* No snapshot yet and nothing to put in one. */
		absorb_staged(st);
		goto cleanup;
	}
	if ((e = git_treebuilder_write(&root_id, rbld)) < 0) {
		rc = git_fail(err, PS_ERROR, e, "cannot write the root tree");
		goto cleanup;
	}
	if (root && git_oid_equal(&root_id, git_tree_id(root))) {
		/* Every staged document encodes to the bytes already
		 * committed: no commit (SPEC §3). */
		absorb_staged(st);
		goto cleanup;
	}

	if ((e = git_tree_lookup(&new_root, w, &root_id)) < 0) {
		rc = git_fail(err, PS_ERROR, e, "cannot read the new tree");
		goto cleanup;
	}
	if ((rc = make_signature(&sig, st->repo, err)) < 0)
		goto cleanup;
	if (build_message(&msg, subject, body) < 0) {
		rc = ps_error_set(err, PS_ELIMIT,
				  "the commit message is too long");
		goto cleanup;
	}
	commit_parents[0] = parent;
	if ((e = git_commit_create(&commit_id, w, NULL, sig, sig, NULL, msg.ptr,
				   new_root, parent ? 1 : 0,
				   (const git_commit **)commit_parents)) < 0) {
		rc = git_fail(err, PS_ERROR, e, "cannot write the commit");
		goto cleanup;
	}
	if (bulk.repo && (rc = bulk_finish(&bulk, err)) < 0)
		goto cleanup;
	/* Reflog line as git's own: "commit: SUBJECT". */
	ps_buf_puts(&logmsg, "commit: ");
	ps_buf_put(&logmsg, msg.ptr, strcspn(msg.ptr, "\n"));
	if ((rc = move_ref(st, &commit_id, logmsg.ptr, err)) < 0)
		goto cleanup;
	log_ensure(st, &commit_id, logmsg.ptr);

	absorb_staged(st);
	st->head = commit_id;
	st->has_head = true;
	git_oid_tostr(st->head_hex, sizeof(st->head_hex), &commit_id);
	memcpy(out_id, st->head_hex, sizeof(st->head_hex));

cleanup:
	ps_buf_release(&file);
	ps_buf_release(&msg);
	ps_buf_release(&logmsg);
	git_signature_free(sig);
	git_treebuilder_free(rbld);
	git_treebuilder_free(abld);
	git_tree_free(new_root);
	git_tree_free(accounts);
	git_tree_free(root);
	git_commit_free(parent);
	bulk_free(&bulk);
	return rc;
}

/* ---- history ----------------------------------------------------------- */

int ps_state_history(ps_state *st, size_t max, ps_history_cb cb, void *ctx,
		     ps_error *err)
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
		rc = git_fail(err, PS_ERROR, e, "cannot walk the history of %s",
			      st->ref);
		goto cleanup;
	}
	while ((max == 0 || n < max) &&
	       (e = git_revwalk_next(&id, walk)) == 0) {
		git_commit *c = NULL;
		const git_signature *sig;
		const char *message;
		char hex[GIT_OID_HEXSZ + 1];

		if ((e = git_commit_lookup(&c, st->repo, &id)) < 0) {
			rc = git_fail(err, PS_ERROR, e,
				      "cannot read a commit of %s", st->ref);
			goto cleanup;
		}
		sig = git_commit_committer(c);
		message = git_commit_message(c);
		ps_buf_reset(&who);
		ps_buf_printf(&who, "%s <%s>", sig->name, sig->email);
		ps_buf_reset(&subject);
		ps_buf_put(&subject, message, strcspn(message, "\n"));
		trim_newlines(&subject);
		git_oid_tostr(hex, sizeof(hex), &id);
		rc = cb(ctx, hex, (long long)sig->when.time, sig->when.offset,
			who.ptr, subject.ptr);
		git_commit_free(c);
		n++;
		if (rc)
			goto cleanup;
	}
	if (e < 0 && e != GIT_ITEROVER)
		rc = git_fail(err, PS_ERROR, e, "cannot walk the history of %s",
			      st->ref);

cleanup:
	ps_buf_release(&who);
	ps_buf_release(&subject);
	git_revwalk_free(walk);
	return rc;
}

/* ---- default location -------------------------------------------------- */

int ps_state_default_path(char **out, const char *config_path, ps_error *err)
{
	git_buf found = { NULL, 0, 0 };
	git_repository *repo = NULL;
	const char *slash;
	char *dir;
	int e, rc = 0;

	*out = NULL;
	if (!config_path || !*config_path)
		return ps_error_set(err, PS_EINVALID,
				    "no config file path given");
	slash = strrchr(config_path, '/');
	if (!slash)
		dir = ps_strdup(".");
	else if (slash == config_path)
		dir = ps_strdup("/");
	else
		dir = ps_strndup(config_path, (size_t)(slash - config_path));

	if ((e = git_libgit2_init()) < 0) {
		free(dir);
		return git_fail(err, PS_ERROR, e, "cannot initialise libgit2");
	}
	/* Like git itself: stop at a filesystem boundary and at
	 * GIT_CEILING_DIRECTORIES. */
	e = git_repository_discover(&found, dir, 0,
				    getenv("GIT_CEILING_DIRECTORIES"));
	if (e == 0) {
		e = git_repository_open_ext(
			&repo, found.ptr, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
		if (e < 0) {
			ps_buf wd = PS_BUF_INIT;

			/* found is the git directory: explain with its work
			 * tree when it is a ".git". */
			ps_buf_puts(&wd, found.ptr);
			while (wd.len > 1 && wd.ptr[wd.len - 1] == '/')
				wd.ptr[--wd.len] = '\0';
			if (wd.len > 5 &&
			    strcmp(wd.ptr + wd.len - 5, "/.git") == 0)
				wd.ptr[wd.len -= 5] = '\0';
			rc = explain_unopenable(wd.ptr, err);
			ps_buf_release(&wd);
			if (rc < 0) {
				git_error_clear();
				goto cleanup;
			}
			rc = git_fail(err, PS_ERROR, e, "cannot open %s",
				      found.ptr);
			goto cleanup;
		}
		*out = strip_slash(git_repository_workdir(repo)
					   ? git_repository_workdir(repo)
					   : git_repository_path(repo));
	} else if (e == GIT_ENOTFOUND) {
		ps_buf b = PS_BUF_INIT;

		git_error_clear();
		if (slash)
			ps_buf_printf(&b, "%s%s.pavesync-state", dir,
				      strcmp(dir, "/") ? "/" : "");
		else
			ps_buf_puts(&b, ".pavesync-state");
		*out = ps_buf_detach(&b, NULL);
	} else {
		rc = git_fail(err, PS_ERROR, e,
			      "cannot look for a git repository above %s", dir);
	}

cleanup:
	git_repository_free(repo);
	git_buf_dispose(&found);
	free(dir);
	git_libgit2_shutdown();
	return rc;
}

/* ---- remotes ----------------------------------------------------------- */

/*
 * The network part runs the git command (remote.h says why); libgit2 only
 * validates the remote's name, reads its URL for messages and moves our ref.
 */

/*
 * Remotes are read from the repository's config directly: libgit2 1.5's
 * git_remote_lookup and git_remote_list leak through pcre2 on every call
 * (libgit2 #6382), and git itself does the rest.
 */
static void remote_names(git_strarray *out, ps_state *st)
{
	git_config *cfg = NULL;
	git_config_iterator *it = NULL;
	git_config_entry *ce;
	size_t alloc = 0;

	out->strings = NULL;
	out->count = 0;
	if (git_repository_config_snapshot(&cfg, st->repo) < 0 ||
	    git_config_iterator_new(&it, cfg) < 0)
		goto cleanup;
	while (git_config_next(&ce, it) == 0) {
		size_t n = strlen(ce->name), i;
		bool dup = false;

		/* remote.NAME.url */
		if (n <= 11 || strncmp(ce->name, "remote.", 7) != 0 ||
		    strcmp(ce->name + n - 4, ".url") != 0)
			continue;
		for (i = 0; i < out->count && !dup; i++)
			dup = strlen(out->strings[i]) == n - 11 &&
			      strncmp(out->strings[i], ce->name + 7, n - 11) ==
				      0;
		if (dup)
			continue;
		if (out->count == alloc) {
			alloc = alloc ? 2 * alloc : 4;
			out->strings = ps_realloc(
				out->strings, alloc * sizeof(*out->strings));
		}
		out->strings[out->count++] = ps_strndup(ce->name + 7, n - 11);
	}

cleanup:
	git_config_iterator_free(it);
	git_config_free(cfg);
	git_error_clear();
}

static void remote_names_free(git_strarray *names)
{
	for (size_t i = 0; i < names->count; i++)
		free(names->strings[i]);
	free(names->strings);
	names->strings = NULL;
	names->count = 0;
}

/*
 * Check that `name` is a configured remote and fill the options for the
 * git child: the remote's URL without credentials (in `url`, for
 * messages) and whether the repository's config chose an ssh command.
 */
static int lookup_remote(ps_remote_opts *o, char *url, size_t urllen,
			 ps_state *st, const char *name, ps_error *err)
{
	git_config *cfg = NULL;
	git_buf v = { NULL, 0, 0 };
	ps_buf key = PS_BUF_INIT;
	int valid = 0, e, rc = 0;

	memset(o, 0, sizeof(*o));
	if (!st->repo)
		return ps_error_set(
			err, PS_EINVALID,
			"the state repository %s does not exist yet", st->path);
	if (!name || git_remote_name_is_valid(&valid, name) < 0 || !valid)
		return ps_error_set(err, PS_EINVALID,
				    "\"%s\" is not a valid remote name",
				    name ? name : "");
	if ((e = git_repository_config_snapshot(&cfg, st->repo)) < 0)
		return git_fail(err, PS_ERROR, e,
				"cannot read the configuration of %s",
				st->gitdir);
	ps_buf_printf(&key, "remote.%s.url", name);
	e = git_config_get_string_buf(&v, cfg, key.ptr);
	if (e == GIT_ENOTFOUND) {
		git_error_clear();
		rc = ps_error_set(err, PS_ENOTFOUND,
				  "the state repository %s has no remote named "
				  "\"%s\"",
				  st->gitdir, name);
		goto cleanup;
	}
	if (e < 0) {
		rc = git_fail(err, PS_ERROR, e, "cannot read the remote \"%s\"",
			      name);
		goto cleanup;
	}
	ps_strlcpy(url, v.ptr ? v.ptr : "no URL", urllen);
	ps_remote_scrub(url);
	o->url = url;
	git_buf_dispose(&v);
	/* A config that cannot be read (an unreadable HOME) just means no
	 * sshCommand from it: git will report its own trouble. */
	if (git_config_get_string_buf(&v, cfg, "core.sshCommand") == 0 &&
	    v.ptr && *v.ptr)
		o->user_ssh_command = true;
	git_error_clear();

cleanup:
	git_buf_dispose(&v);
	ps_buf_release(&key);
	git_config_free(cfg);
	return rc;
}

/* refs/heads/X → X; refs/Y → Y. */
static const char *ref_short(const char *ref)
{
	if (strncmp(ref, "refs/heads/", 11) == 0)
		return ref + 11;
	return ref + 5;
}

/* git clone's name for a remote's copy of the ref:
 * refs/remotes/REMOTE/SHORT. */
static void tracking_name(ps_buf *out, const char *remote, const char *ref)
{
	ps_buf_reset(out);
	ps_buf_printf(out, "refs/remotes/%s/%s", remote, ref_short(ref));
}

static int lookup_commit_ref(git_oid *out, bool *found, ps_state *st,
			     const char *name, ps_error *err)
{
	git_reference *ref = NULL;
	git_object *obj = NULL;
	int e;

	*found = false;
	e = git_reference_lookup(&ref, st->repo, name);
	if (e == GIT_ENOTFOUND || e == GIT_EINVALIDSPEC) {
		git_error_clear();
		return 0;
	}
	if (e < 0)
		return git_fail(err, PS_ERROR, e, "cannot read %s", name);
	e = git_reference_peel(&obj, ref, GIT_OBJECT_COMMIT);
	git_reference_free(ref);
	if (e < 0)
		return git_fail(err, PS_EINVALID, e,
				"%s does not point at a commit", name);
	git_oid_cpy(out, git_object_id(obj));
	git_object_free(obj);
	*found = true;
	return 0;
}

/*
 * Fetch the remote's state ref into its tracking ref. *has is false when
 * the remote has none (a stale tracking ref is then deleted).
 */
static int fetch_tracking(git_oid *theirs, bool *has, ps_state *st,
			  const char *remote, ps_error *err)
{
	ps_remote_opts ro;
	git_reference *stale = NULL;
	ps_buf track = PS_BUF_INIT;
	char url[PS_ERROR_MSG_MAX / 2];
	bool found;
	int rc;

	*has = false;
	if ((rc = lookup_remote(&ro, url, sizeof(url), st, remote, err)) < 0)
		return rc;
	for (size_t i = 0; i < st->nentries; i++) {
		if (st->entries[i]->change != CH_NONE) {
			rc = ps_error_set(err, PS_EINVALID,
					  "cannot fetch the state ref while "
					  "changes are staged");
			goto cleanup;
		}
	}
	tracking_name(&track, remote, st->ref);
	if ((rc = ps_remote_fetch(&found, st->gitdir, remote, st->ref,
				  track.ptr, &ro, err)) < 0)
		goto cleanup;
	if (!found) {
		if (git_reference_lookup(&stale, st->repo, track.ptr) == 0)
			git_reference_delete(stale);
		git_error_clear();
		goto cleanup;
	}
	if ((rc = lookup_commit_ref(theirs, has, st, track.ptr, err)) < 0)
		goto cleanup;
	if (!*has)
		rc = ps_error_set(err, PS_ERROR,
				  "git fetched %s from %s but %s "
				  "is missing",
				  st->ref, remote, track.ptr);

cleanup:
	ps_buf_release(&track);
	git_reference_free(stale);
	return rc;
}

/* Is `theirs` behind or equal to our head (1), ahead of it (0), or has it
 * diverged (PS_EDIVERGED)? */
static int compare_heads(ps_state *st, const git_oid *theirs,
			 const char *remote, ps_error *err)
{
	char a[SHORT_ID + 1], b[SHORT_ID + 1];

	if (!st->has_head)
		return 0;
	if (git_oid_equal(theirs, &st->head) ||
	    git_graph_descendant_of(st->repo, &st->head, theirs) == 1)
		return 1;
	if (git_graph_descendant_of(st->repo, theirs, &st->head) == 1)
		return 0;
	git_error_clear();
	short_id(a, &st->head);
	short_id(b, theirs);
	return ps_error_set(
		err, PS_EDIVERGED,
		"the state ref on %s has diverged from the local "
		"one (local %s, remote %s); pavesync never "
		"force-pushes: merge or reset the state ref by hand",
		remote, a, b);
}

int ps_state_fetch(ps_state *st, const char *remote, ps_error *err)
{
	git_oid theirs;
	bool has;
	int rc;

	if (st->tracking)
		return ps_error_set(
			err, PS_EINVALID,
			"the snapshot was read from a remote-tracking "
			"ref; open it for writing to fetch");
	if ((rc = fetch_tracking(&theirs, &has, st, remote, err)) < 0 || !has)
		return rc;
	if ((rc = compare_heads(st, &theirs, remote, err)) != 0)
		return rc < 0 ? rc : 0;
	if ((rc = move_ref(st, &theirs, "pavesync: fast-forward from remote",
			   err)) < 0)
		return rc;
	return load_commit(st, &theirs, err);
}

int ps_state_fetch_readonly(ps_state *st, const char *remote, ps_error *err)
{
	git_oid theirs;
	bool has;
	int rc;

	if (st->tracking)
		return ps_error_set(err, PS_EINVALID,
				    "the snapshot was already read from a "
				    "remote-tracking ref");
	if ((rc = fetch_tracking(&theirs, &has, st, remote, err)) < 0 || !has)
		return rc;
	if ((rc = compare_heads(st, &theirs, remote, err)) != 0)
		return rc < 0 ? rc : 0;
	if ((rc = load_commit(st, &theirs, err)) < 0)
		return rc;
	st->tracking = true;
	return 0;
}

int ps_state_use_tracking(ps_state *st, const char *remote, bool adopt,
			  char *used, size_t usedlen, ps_error *err)
{
	git_strarray names = { NULL, 0 };
	ps_buf track = PS_BUF_INIT;
	git_oid id;
	bool found = false;
	int rc = 0;

	if (used && usedlen)
		*used = '\0';
	if (!st->repo || st->has_head)
		return 0;
	if (remote) {
		tracking_name(&track, remote, st->ref);
		if ((rc = lookup_commit_ref(&id, &found, st, track.ptr, err)) <
		    0)
			goto cleanup;
	} else {
		/* origin first (git clone's name), then the only other
		 * remote that has one. */
		tracking_name(&track, "origin", st->ref);
		if ((rc = lookup_commit_ref(&id, &found, st, track.ptr, err)) <
		    0)
			goto cleanup;
		if (!found) {
			ps_buf cand = PS_BUF_INIT;
			git_oid cid;
			bool cf;
			size_t hits = 0;

			remote_names(&names, st);
			for (size_t i = 0; i < names.count; i++) {
				tracking_name(&cand, names.strings[i], st->ref);
				if (lookup_commit_ref(&cid, &cf, st, cand.ptr,
						      NULL) == 0 &&
				    cf) {
					hits++;
					id = cid;
					ps_buf_reset(&track);
					ps_buf_puts(&track, cand.ptr);
				}
			}
			ps_buf_release(&cand);
			found = hits == 1;
		}
		git_error_clear();
	}
	if (!found)
		goto cleanup;
	if (adopt) {
		if ((rc = move_ref(
			     st, &id,
			     "pavesync: start from the remote-tracking ref",
			     err)) < 0)
			goto cleanup;
	}
	if ((rc = load_commit(st, &id, err)) < 0)
		goto cleanup;
	st->tracking = !adopt;
	if (used)
		ps_strlcpy(used, track.ptr, usedlen);

cleanup:
	remote_names_free(&names);
	ps_buf_release(&track);
	return rc;
}

bool ps_state_has_remote(const ps_state *st)
{
	git_strarray names = { NULL, 0 };
	bool any;

	if (!st || !st->repo)
		return false;
	remote_names(&names, (ps_state *)st);
	any = names.count > 0;
	remote_names_free(&names);
	return any;
}

int ps_state_push(ps_state *st, const char *remote, ps_error *err)
{
	ps_remote_opts ro;
	char url[PS_ERROR_MSG_MAX / 2];
	int rc;

	if ((rc = lookup_remote(&ro, url, sizeof(url), st, remote, err)) < 0)
		return rc;
	if (!st->has_head || st->tracking)
		return 0; /* nothing committed yet: nothing to push */
	return ps_remote_push(st->gitdir, remote, st->ref, &ro, err);
}

/* ---- the ref's history ------------------------------------------------- */

/* Reflog lines pavesync writes: "commit: pavesync: …" for its commits,
 * "pavesync: …" for a fast-forward from the remote or an adoption. */
static bool written_by_pavesync(const char *msg)
{
	return msg && (!strncmp(msg, "commit: pavesync:", 17) ||
		       !strncmp(msg, "pavesync:", 9));
}

int ps_state_check_lineage(ps_state *st, bool adopt, char *note, size_t notelen,
			   ps_error *err)
{
	git_reflog *log = NULL;
	git_signature *sig = NULL;
	const git_oid *last = NULL;
	char h[SHORT_ID + 1], l[SHORT_ID + 1], lhex[GIT_OID_HEXSZ + 1];
	ps_buf msg = PS_BUF_INIT;
	size_t i, n;
	int e, rc = 0;

	if (note && notelen)
		note[0] = '\0';
	if (!st->repo || !st->has_head)
		return 0;
	if ((e = git_reflog_read(&log, st->repo, st->ref)) < 0)
		return git_fail(err, PS_ERROR, e,
				"cannot read the reflog of %s", st->ref);
	n = git_reflog_entrycount(log);
	for (i = 0; i < n && !last; i++) {
		const git_reflog_entry *en = git_reflog_entry_byindex(log, i);
		if (written_by_pavesync(git_reflog_entry_message(en)))
			last = git_reflog_entry_id_new(en);
	}
	/* No commit of pavesync's on record (a repository from before the
	 * reflog was kept, a fresh clone): nothing to compare with. */
	if (!last || git_oid_equal(last, &st->head) ||
	    git_graph_descendant_of(st->repo, &st->head, last) == 1)
		goto cleanup;
	git_error_clear();
	short_id(h, &st->head);
	short_id(l, last);
	git_oid_tostr(lhex, sizeof(lhex), last);
	if (!adopt) {
		rc = ps_error_set(
			err, PS_ESTALE,
			"the state ref %s is at %s, whose history does not "
			"contain %s, the last commit pavesync wrote (from "
			"the ref's reflog): something else moved it (a "
			"reset, git update-ref, a forced push?). Nothing "
			"was done. To go back: git update-ref %s %s; to "
			"keep the ref where it is, run apply once with "
			"--adopt-state-ref",
			st->ref, h, l, st->ref, lhex);
		goto cleanup;
	}
	ps_buf_printf(&msg,
		      "pavesync: adopt %s (moved outside pavesync from %s)", h,
		      l);
	if ((rc = make_signature(&sig, st->repo, err)) < 0)
		goto cleanup;
	if ((e = git_reflog_append(log, &st->head, sig, msg.ptr)) < 0 ||
	    (e = git_reflog_write(log)) < 0) {
		rc = git_fail(err, PS_ERROR, e, "cannot write the reflog of %s",
			      st->ref);
		goto cleanup;
	}
	if (note && notelen)
		snprintf(note, notelen,
			 "adopted the state ref %s at %s: its history does not "
			 "contain %s, the last commit pavesync wrote",
			 st->ref, h, l);

cleanup:
	ps_buf_release(&msg);
	git_signature_free(sig);
	git_reflog_free(log);
	return rc;
}
