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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "json.h"
#include "snapdoc.h"
#include "state_int.h"
#include "util.h"
#include <openssl/evp.h>
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

void state_entry_delete(ps_state *st, size_t at)
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

/* Read the snapshot at commit `id` into st->entries (replacing them). */
int state_load_commit(ps_state *st, const git_oid *id, ps_error *err)
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
		return state_git_fail(err, PS_ERROR, e,
				      "cannot read HEAD of %s",
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
		return state_git_fail(err, PS_ERROR, e, "cannot configure %s",
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
		rc = state_git_fail(err, PS_ERROR, e,
				    "cannot initialise libgit2");
		goto fail;
	}
	st->git_inited = true;
	/* Durability (SPEC §3): objects, refs and reflogs are fsynced. */
	if ((e = git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1)) < 0) {
		rc = state_git_fail(err, PS_ERROR, e, "cannot enable fsync");
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
			rc = state_git_fail(
				err, PS_ERROR, e,
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
			rc = state_git_fail(
				err, PS_ERROR, e,
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
	if ((rc = state_read_ref(&id, &found, st, err)) < 0)
		goto fail;
	if (found && (rc = state_load_commit(st, &id, err)) < 0)
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

bool ps_state_same_blob(const ps_state *st, const char *account,
			const char *text, size_t len)
{
	const struct entry *e;
	git_oid id;
	long at;

	if (!st || !account || (at = entry_find(st, account)) < 0)
		return false;
	e = st->entries[at];
	if (e->change != CH_NONE || !e->committed)
		return false;
	/* A git blob id is SHA-1("blob <len>\0" <bytes>). libgit2's
	 * collision-detecting SHA-1 is several times slower than OpenSSL's,
	 * and a no-drift plan hashes every account's document. */
	if (!blob_id(&id, text, len))
		return false;
	return git_oid_equal(&id, &e->blob);
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
		state_entry_delete(st, (size_t)at);
	}
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
		return state_git_fail(err, PS_ERROR, e,
				      "cannot initialise libgit2");
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
			rc = state_git_fail(err, PS_ERROR, e, "cannot open %s",
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
		rc = state_git_fail(err, PS_ERROR, e,
				    "cannot look for a git repository above %s",
				    dir);
	}

cleanup:
	git_repository_free(repo);
	git_buf_dispose(&found);
	free(dir);
	git_libgit2_shutdown();
	return rc;
}
