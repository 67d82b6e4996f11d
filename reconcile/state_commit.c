/*
 * The snapshot store's writes (state.h): the commit of the staged
 * documents (many new blobs go into one pack: state_pack.c), the
 * compare-and-swap of the ref, and the reflog that records pavesync's
 * commits and the lineage check that reads it.
 */
#include "state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"
#include "pave.h"
#include "state_int.h"
#include "util.h"

#include "banned.h"

#define FALLBACK_NAME "pavesync"
#define FALLBACK_EMAIL "pavesync@localhost"

/* ---- committing -------------------------------------------------------- */

int state_make_signature(git_signature **out, git_repository *repo,
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
		return state_git_fail(err, PS_ERROR, e,
				      "cannot make a signature");
	return 0;
}

void state_trim_newlines(ps_buf *b)
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
	state_trim_newlines(msg);
	if (body && *body) {
		rc |= ps_buf_puts(&tmp, body);
		state_trim_newlines(&tmp);
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
			state_entry_delete(st, i);
			continue;
		}
		if (e->change == CH_PUT) {
			json_decref(e->doc);
			/* A document staged as text is read again from its
			 * blob when it is next wanted. */
			e->doc = e->staged;
			e->staged = NULL;
			e->committed = true;
			e->loaded = e->doc != NULL;
			free(e->text);
			e->text = NULL;
			e->textlen = 0;
			e->written = false;
			git_oid_cpy(&e->blob, &e->pending);
			e->change = CH_NONE;
		}
		i++;
	}
	st->nbuffered = 0;
	st->view_dirty = true;
}

/*
 * Move the ref from the commit the run started from (or from "absent") to
 * `id`. A concurrent writer shows up as GIT_EMODIFIED (ref moved),
 * GIT_EEXISTS (ref appeared), GIT_ENOTFOUND (ref deleted) or GIT_ELOCKED
 * (its write is in progress): all are a conflict, never overwritten.
 */
int state_move_ref(ps_state *st, const git_oid *id, const char *logmsg,
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
	return state_git_fail(err, PS_ERROR, e,
			      "cannot update the state ref %s", st->ref);
}

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
	if (state_make_signature(&sig, st->repo, NULL) < 0 ||
	    git_reflog_append(log, id, sig, msg) < 0 ||
	    git_reflog_write(log) < 0)
		goto cleanup;
cleanup:
	git_error_clear();
	git_signature_free(sig);
	git_reflog_free(log);
}

/* A commit in the making: what its steps share. */
struct commit_build {
	ps_state *st;
	git_repository *w; /* objects are written here: st->repo or packrepo */
	git_repository *packrepo; /* with st->pack: open_pack_handle */
	git_commit *parent; /* the commit the snapshot was read at, or NULL */
	git_tree *root, *accounts; /* its trees, or NULL */
	git_treebuilder *abld, *rbld;
};

static void commit_build_release(struct commit_build *c)
{
	git_treebuilder_free(c->rbld);
	git_treebuilder_free(c->abld);
	git_tree_free(c->accounts);
	git_tree_free(c->root);
	git_commit_free(c->parent);
	git_repository_free(c->packrepo);
}

/* How many entries have a change staged. */
static size_t count_staged(const ps_state *st)
{
	size_t nchanged = 0;

	for (size_t i = 0; i < st->nentries; i++)
		if (st->entries[i]->change != CH_NONE)
			nchanged++;
	return nchanged;
}

/* May the staged changes be committed at all? */
static int check_committable(const ps_state *st, ps_error *err)
{
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
		    !ps_pave_account_name_is_valid(en->name))
			return ps_error_set(
				err, PS_EINVALID,
				"invalid account name \"%s\" "
				"(expected [a-z0-9][a-z0-9_-]{0,62})",
				en->name);
	}
	return 0;
}

/* The commit the snapshot was read at and its trees (none for a new
 * ref). */
static int read_parent(struct commit_build *c, ps_error *err)
{
	ps_state *st = c->st;
	const git_tree_entry *te;
	int e;

	if (!st->has_head)
		return 0;
	if ((e = git_commit_lookup(&c->parent, c->w, &st->head)) < 0 ||
	    (e = git_commit_tree(&c->root, c->parent)) < 0)
		return state_git_fail(err, PS_ERROR, e, "cannot read %s at %s",
				      st->ref, st->head_hex);
	te = git_tree_entry_byname(c->root, "accounts");
	if (te && git_tree_entry_type(te) == GIT_OBJECT_TREE &&
	    (e = git_tree_lookup(&c->accounts, c->w, git_tree_entry_id(te))) <
		    0)
		return state_git_fail(err, PS_ERROR, e,
				      "cannot read accounts/ at %s",
				      st->head_hex);
	return 0;
}

int state_write_blob(ps_state *st, struct entry *en, ps_error *err)
{
	char *owned = NULL;
	const char *text = en->text;
	size_t len = en->textlen;
	int e, rc = 0;

	if (en->written)
		return 0;
	if (!text) {
		text = owned = ps_json_canonical(en->staged);
		len = owned ? strlen(owned) : 0;
	}
	/* Never write what the next run could not read. */
	if (!text || len > DOC_MAX) {
		rc = ps_error_set(err, PS_ELIMIT,
				  "cannot write accounts/%s.json: larger "
				  "than %zu bytes (limit)",
				  en->name, DOC_MAX);
		goto cleanup;
	}
	if (st->pack) {
		if (!ps_state_blob_id(en->pending.id, text, len)) {
			rc = ps_error_set(err, PS_ERROR,
					  "cannot hash accounts/%s.json",
					  en->name);
			goto cleanup;
		}
		if ((rc = state_pack_add(st->pack, &en->pending,
					 GIT_OBJECT_BLOB, text, len, err)) < 0)
			goto cleanup;
	} else if ((e = git_blob_create_from_buffer(&en->pending, st->repo,
						    text, len)) < 0) {
		rc = state_git_fail(err, PS_ERROR, e,
				    "cannot write accounts/%s.json", en->name);
		goto cleanup;
	}
	if (en->text) {
		st->nbuffered--;
		free(en->text);
		en->text = NULL;
		en->textlen = 0;
	}
	en->written = true;
cleanup:
	free(owned);
	return rc;
}

/* Write every staged blob: into one pack when there are many (or the
 * documents staged as text already started one), else loose. */
static int write_blobs(ps_state *st, ps_error *err)
{
	size_t i, nwrite = 0;
	int rc;

	for (i = 0; i < st->nentries; i++)
		if (st->entries[i]->change == CH_PUT &&
		    !st->entries[i]->written)
			nwrite++;
	if (!st->pack && nwrite >= BULK_MIN &&
	    (rc = state_pack_open(&st->pack, st->gitdir, err)) < 0)
		return rc;
	for (i = 0; i < st->nentries; i++)
		if (st->entries[i]->change == CH_PUT &&
		    (rc = state_write_blob(st, st->entries[i], err)) < 0)
			return rc;
	return 0;
}

/* With a pack: the trees and the commit go into it too, through a second
 * handle whose object database writes there first (st->repo never does),
 * and which sees the blobs already in it. */
static int open_pack_handle(struct commit_build *c, ps_error *err)
{
	git_odb_backend *b = NULL;
	git_odb *odb = NULL;
	int e;

	if ((e = git_repository_open_ext(&c->packrepo, c->st->gitdir,
					 GIT_REPOSITORY_OPEN_NO_SEARCH, NULL)) <
		    0 ||
	    (e = git_repository_odb(&odb, c->packrepo)) < 0 ||
	    (e = state_pack_backend(&b, c->st->pack)) < 0)
		goto fail;
	/* Highest priority: every write of this handle lands in the pack. */
	if ((e = git_odb_add_backend(odb, b, 1000)) < 0) {
		b->free(b);
		goto fail;
	}
	git_odb_free(odb);
	c->w = c->packrepo;
	return 0;
fail:
	git_odb_free(odb);
	return state_git_fail(err, PS_ERROR, e, "cannot prepare to write %s",
			      c->st->gitdir);
}

/* Store the pack (when there is one) and let it go. */
static int finish_pack(ps_state *st, ps_error *err)
{
	int rc;

	if (!st->pack)
		return 0;
	rc = state_pack_finish(st->pack, st->repo, err);
	state_pack_free(st->pack);
	st->pack = NULL;
	return rc;
}

/* Put the staged change of `en` into the accounts tree being built.
 * `file` is scratch space for the file name. */
static int stage_entry(struct commit_build *c, struct entry *en, ps_buf *file,
		       ps_error *err)
{
	const git_tree_entry *te;
	int e;

	ps_buf_reset(file);
	ps_buf_printf(file, "%s.json", en->name);
	te = git_treebuilder_get(c->abld, file->ptr);
	if (en->change == CH_REMOVE) {
		if (te && (e = git_treebuilder_remove(c->abld, file->ptr)) < 0)
			return state_git_fail(err, PS_ERROR, e,
					      "cannot remove accounts/%s",
					      file->ptr);
		return 0;
	}
	if (te && git_tree_entry_filemode(te) == GIT_FILEMODE_BLOB &&
	    git_oid_equal(git_tree_entry_id(te), &en->pending))
		return 0;
	if ((e = git_treebuilder_insert(NULL, c->abld, file->ptr, &en->pending,
					GIT_FILEMODE_BLOB)) < 0)
		return state_git_fail(err, PS_ERROR, e,
				      "cannot add accounts/%s", file->ptr);
	return 0;
}

/* Edit the existing accounts tree in place: unchanged entries (and any
 * foreign file) keep their ids and are never rewritten. */
static int build_accounts(struct commit_build *c, ps_error *err)
{
	ps_buf file = PS_BUF_INIT;
	int e, rc = 0;

	if ((e = git_treebuilder_new(&c->abld, c->w, c->accounts)) < 0)
		return state_git_fail(err, PS_ERROR, e,
				      "cannot build the accounts tree");
	for (size_t i = 0; i < c->st->nentries && rc == 0; i++)
		if (c->st->entries[i]->change != CH_NONE)
			rc = stage_entry(c, c->st->entries[i], &file, err);
	ps_buf_release(&file);
	return rc;
}

/*
 * Write the new root tree (the old one, any foreign file kept, with the new
 * accounts/) into *out. *unchanged is true when there is nothing to commit:
 * no snapshot yet and nothing to put in one, or every staged document
 * encodes to the bytes already committed (SPEC §3).
 */
static int build_root(git_oid *out, bool *unchanged, struct commit_build *c,
		      ps_error *err)
{
	git_oid acc_id;
	int e;

	*unchanged = false;
	if ((e = git_treebuilder_new(&c->rbld, c->w, c->root)) < 0)
		return state_git_fail(err, PS_ERROR, e,
				      "cannot build the root tree");
	/* git has no empty directories: no accounts, no accounts/. */
	if (git_treebuilder_entrycount(c->abld) > 0) {
		if ((e = git_treebuilder_write(&acc_id, c->abld)) < 0 ||
		    (e = git_treebuilder_insert(NULL, c->rbld, "accounts",
						&acc_id, GIT_FILEMODE_TREE)) <
			    0)
			return state_git_fail(err, PS_ERROR, e,
					      "cannot write the accounts tree");
	} else if (git_treebuilder_get(c->rbld, "accounts") &&
		   (e = git_treebuilder_remove(c->rbld, "accounts")) < 0) {
		return state_git_fail(err, PS_ERROR, e,
				      "cannot remove accounts/");
	}
	if (!c->root && git_treebuilder_entrycount(c->rbld) == 0) {
		*unchanged = true;
		return 0;
	}
	if ((e = git_treebuilder_write(out, c->rbld)) < 0)
		return state_git_fail(err, PS_ERROR, e,
				      "cannot write the root tree");
	*unchanged = c->root && git_oid_equal(out, git_tree_id(c->root));
	return 0;
}

/* Write the commit of tree `root_id` on the parent into *out; `msg`
 * receives its message. */
static int write_commit(git_oid *out, ps_buf *msg, struct commit_build *c,
			const git_oid *root_id, const char *subject,
			const char *body, ps_error *err)
{
	git_commit *parents[1] = { c->parent };
	git_tree *tree = NULL;
	git_signature *sig = NULL;
	int e, rc = 0;

	if ((e = git_tree_lookup(&tree, c->w, root_id)) < 0) {
		rc = state_git_fail(err, PS_ERROR, e,
				    "cannot read the new tree");
		goto cleanup;
	}
	if ((rc = state_make_signature(&sig, c->st->repo, err)) < 0)
		goto cleanup;
	if (build_message(msg, subject, body) < 0) {
		rc = ps_error_set(err, PS_ELIMIT,
				  "the commit message is too long");
		goto cleanup;
	}
	if ((e = git_commit_create(out, c->w, NULL, sig, sig, NULL, msg->ptr,
				   tree, c->parent ? 1 : 0,
				   (const git_commit **)parents)) < 0)
		rc = state_git_fail(err, PS_ERROR, e,
				    "cannot write the commit");

cleanup:
	git_signature_free(sig);
	git_tree_free(tree);
	return rc;
}

/* Store the new objects, move the ref to `id` and make the staged changes
 * the snapshot, with `id` its head. */
static int publish(struct commit_build *c, const git_oid *id, const char *msg,
		   char out_id[41], ps_error *err)
{
	ps_state *st = c->st;
	ps_buf logmsg = PS_BUF_INIT;
	int rc = 0;

	/* Every new object is stored before the ref names any of them. */
	if ((rc = finish_pack(st, err)) < 0)
		goto cleanup;
	/* Reflog line as git's own: "commit: SUBJECT". */
	ps_buf_puts(&logmsg, "commit: ");
	ps_buf_put(&logmsg, msg, strcspn(msg, "\n"));
	if ((rc = state_move_ref(st, id, logmsg.ptr, err)) < 0)
		goto cleanup;
	log_ensure(st, id, logmsg.ptr);

	absorb_staged(st);
	st->head = *id;
	st->has_head = true;
	git_oid_tostr(st->head_hex, sizeof(st->head_hex), id);
	memcpy(out_id, st->head_hex, sizeof(st->head_hex));

cleanup:
	ps_buf_release(&logmsg);
	return rc;
}

int ps_state_commit(char out_id[41], ps_state *st, const char *subject,
		    const char *body, ps_error *err)
{
	struct commit_build c;
	ps_buf msg = PS_BUF_INIT;
	git_oid root_id, commit_id;
	bool unchanged = false;
	int rc;

	out_id[0] = '\0';
	if (count_staged(st) == 0)
		return 0;
	if ((rc = check_committable(st, err)) < 0)
		return rc;

	memset(&c, 0, sizeof(c));
	c.st = st;
	c.w = st->repo;
	if ((rc = write_blobs(st, err)) < 0 ||
	    (st->pack && (rc = open_pack_handle(&c, err)) < 0) ||
	    (rc = read_parent(&c, err)) < 0 ||
	    (rc = build_accounts(&c, err)) < 0 ||
	    (rc = build_root(&root_id, &unchanged, &c, err)) < 0)
		goto cleanup;
	if (unchanged) {
		/* Nothing new to keep: the pack is dropped unstored. */
		state_pack_free(st->pack);
		st->pack = NULL;
		absorb_staged(st);
		goto cleanup;
	}
	if ((rc = write_commit(&commit_id, &msg, &c, &root_id, subject, body,
			       err)) < 0)
		goto cleanup;
	rc = publish(&c, &commit_id, msg.ptr, out_id, err);

cleanup:
	ps_buf_release(&msg);
	commit_build_release(&c);
	/* A failure before the pack was stored: store it anyway, so that
	 * what was written (and is marked so) exists; unreferenced until a
	 * commit names it. */
	if (rc < 0 && finish_pack(st, NULL) < 0)
		git_error_clear();
	return rc;
}

/* ---- the ref's history ------------------------------------------------- */

/* Reflog lines pavesync writes: "commit: pavesync: …" for its commits,
 * "pavesync: …" for a fast-forward from the remote or an adoption. */
static bool written_by_pavesync(const char *msg)
{
	return msg && (!strncmp(msg, "commit: pavesync:", 17) ||
		       !strncmp(msg, "pavesync:", 9));
}

/* The newest commit the reflog says pavesync wrote, or NULL. Borrowed
 * from `log`. */
static const git_oid *last_written(git_reflog *log)
{
	size_t n = git_reflog_entrycount(log);

	for (size_t i = 0; i < n; i++) {
		const git_reflog_entry *en = git_reflog_entry_byindex(log, i);
		if (written_by_pavesync(git_reflog_entry_message(en)))
			return git_reflog_entry_id_new(en);
	}
	return NULL;
}

/* libgit2 appends the reflog line of a ref update before it renames the
 * ref's lock file into place: a run killed between the two (kill -9, a
 * power cut) leaves a newest line for a commit the ref never reached. That
 * line starts from the ref's current commit; nothing else moved the ref,
 * and the commit it names was never published (the next run redoes it). */
static bool update_interrupted(git_reflog *log, const ps_state *st)
{
	const git_reflog_entry *en;

	if (git_reflog_entrycount(log) == 0)
		return false;
	en = git_reflog_entry_byindex(log, 0);
	return written_by_pavesync(git_reflog_entry_message(en)) &&
	       git_oid_equal(git_reflog_entry_id_old(en), &st->head);
}

/* Record in the reflog that pavesync adopts the ref's current commit
 * (short id `h`), moved from `l` outside pavesync. */
static int adopt_head(git_reflog *log, ps_state *st, const char *h,
		      const char *l, ps_error *err)
{
	git_signature *sig = NULL;
	ps_buf msg = PS_BUF_INIT;
	int e, rc = 0;

	ps_buf_printf(&msg,
		      "pavesync: adopt %s (moved outside pavesync from %s)", h,
		      l);
	if ((rc = state_make_signature(&sig, st->repo, err)) < 0)
		goto cleanup;
	if ((e = git_reflog_append(log, &st->head, sig, msg.ptr)) < 0 ||
	    (e = git_reflog_write(log)) < 0)
		rc = state_git_fail(err, PS_ERROR, e,
				    "cannot write the reflog of %s", st->ref);

cleanup:
	ps_buf_release(&msg);
	git_signature_free(sig);
	return rc;
}

int ps_state_check_lineage(char *note, size_t notelen, ps_state *st, bool adopt,
			   ps_error *err)
{
	git_reflog *log = NULL;
	const git_oid *last;
	char h[SHORT_ID + 1], l[SHORT_ID + 1], lhex[GIT_OID_HEXSZ + 1];
	int e, rc = 0;

	if (note && notelen)
		note[0] = '\0';
	if (!st->repo || !st->has_head)
		return 0;
	if ((e = git_reflog_read(&log, st->repo, st->ref)) < 0)
		return state_git_fail(err, PS_ERROR, e,
				      "cannot read the reflog of %s", st->ref);
	last = last_written(log);
	/* No commit of pavesync's on record (a repository from before the
	 * reflog was kept, a fresh clone): nothing to compare with. */
	if (!last || git_oid_equal(last, &st->head) ||
	    git_graph_descendant_of(st->repo, &st->head, last) == 1 ||
	    update_interrupted(log, st))
		goto cleanup;
	git_error_clear();
	state_short_id(h, &st->head);
	state_short_id(l, last);
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
	if ((rc = adopt_head(log, st, h, l, err)) < 0)
		goto cleanup;
	if (note && notelen)
		snprintf(note, notelen,
			 "adopted the state ref %s at %s: its history does not "
			 "contain %s, the last commit pavesync wrote",
			 st->ref, h, l);

cleanup:
	git_reflog_free(log);
	return rc;
}
