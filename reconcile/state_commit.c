/*
 * The snapshot store's writes (state.h): the commit of the staged
 * documents (with the bulk pack writer for many new objects), the
 * compare-and-swap of the ref, and the reflog that records pavesync's
 * commits and the lineage check that reads it.
 */
#include "state.h"

#include <git2.h>
#include <git2/sys/mempack.h>
#include <git2/sys/odb_backend.h>
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
		return state_git_fail(err, PS_ERROR, e,
				      "cannot prepare to write %s", st->gitdir);
	/* Highest priority: every write of this handle lands in memory. */
	if ((e = git_odb_add_backend(b->odb, mem, 1000)) < 0) {
		mem->free(mem);
		return state_git_fail(err, PS_ERROR, e,
				      "cannot prepare to write %s", st->gitdir);
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
		return state_git_fail(err, PS_ERROR, e,
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
		    !ps_pave_account_name_is_valid(en->name))
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
			rc = state_git_fail(err, PS_ERROR, e,
					    "cannot read %s at %s", st->ref,
					    st->head_hex);
			goto cleanup;
		}
		te = git_tree_entry_byname(root, "accounts");
		if (te && git_tree_entry_type(te) == GIT_OBJECT_TREE &&
		    (e = git_tree_lookup(&accounts, w, git_tree_entry_id(te))) <
			    0) {
			rc = state_git_fail(err, PS_ERROR, e,
					    "cannot read accounts/ at %s",
					    st->head_hex);
			goto cleanup;
		}
	}

	/* Edit the existing accounts tree in place: unchanged entries (and
	 * any foreign file) keep their ids and are never rewritten. */
	if ((e = git_treebuilder_new(&abld, w, accounts)) < 0) {
		rc = state_git_fail(err, PS_ERROR, e,
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
				rc = state_git_fail(err, PS_ERROR, e,
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
			rc = state_git_fail(err, PS_ERROR, e,
					    "cannot write accounts/%s",
					    file.ptr);
			goto cleanup;
		}
		if (te && git_tree_entry_filemode(te) == GIT_FILEMODE_BLOB &&
		    git_oid_equal(git_tree_entry_id(te), &en->pending))
			continue;
		if ((e = git_treebuilder_insert(NULL, abld, file.ptr,
						&en->pending,
						GIT_FILEMODE_BLOB)) < 0) {
			rc = state_git_fail(err, PS_ERROR, e,
					    "cannot add accounts/%s", file.ptr);
			goto cleanup;
		}
	}

	if ((e = git_treebuilder_new(&rbld, w, root)) < 0) {
		rc = state_git_fail(err, PS_ERROR, e,
				    "cannot build the root tree");
		goto cleanup;
	}
	/* git has no empty directories: no accounts, no accounts/. */
	if (git_treebuilder_entrycount(abld) > 0) {
		if ((e = git_treebuilder_write(&acc_id, abld)) < 0 ||
		    (e = git_treebuilder_insert(NULL, rbld, "accounts", &acc_id,
						GIT_FILEMODE_TREE)) < 0) {
			rc = state_git_fail(err, PS_ERROR, e,
					    "cannot write the accounts tree");
			goto cleanup;
		}
	} else if (git_treebuilder_get(rbld, "accounts") &&
		   (e = git_treebuilder_remove(rbld, "accounts")) < 0) {
		rc = state_git_fail(err, PS_ERROR, e,
				    "cannot remove accounts/");
		goto cleanup;
	}

	if (!root && git_treebuilder_entrycount(rbld) == 0) {
		/* No snapshot yet and nothing to put in one. */
		absorb_staged(st);
		goto cleanup;
	}
	if ((e = git_treebuilder_write(&root_id, rbld)) < 0) {
		rc = state_git_fail(err, PS_ERROR, e,
				    "cannot write the root tree");
		goto cleanup;
	}
	if (root && git_oid_equal(&root_id, git_tree_id(root))) {
		/* Every staged document encodes to the bytes already
		 * committed: no commit (SPEC §3). */
		absorb_staged(st);
		goto cleanup;
	}

	if ((e = git_tree_lookup(&new_root, w, &root_id)) < 0) {
		rc = state_git_fail(err, PS_ERROR, e,
				    "cannot read the new tree");
		goto cleanup;
	}
	if ((rc = state_make_signature(&sig, st->repo, err)) < 0)
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
		rc = state_git_fail(err, PS_ERROR, e,
				    "cannot write the commit");
		goto cleanup;
	}
	if (bulk.repo && (rc = bulk_finish(&bulk, err)) < 0)
		goto cleanup;
	/* Reflog line as git's own: "commit: SUBJECT". */
	ps_buf_puts(&logmsg, "commit: ");
	ps_buf_put(&logmsg, msg.ptr, strcspn(msg.ptr, "\n"));
	if ((rc = state_move_ref(st, &commit_id, logmsg.ptr, err)) < 0)
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
		return state_git_fail(err, PS_ERROR, e,
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
	ps_buf_printf(&msg,
		      "pavesync: adopt %s (moved outside pavesync from %s)", h,
		      l);
	if ((rc = state_make_signature(&sig, st->repo, err)) < 0)
		goto cleanup;
	if ((e = git_reflog_append(log, &st->head, sig, msg.ptr)) < 0 ||
	    (e = git_reflog_write(log)) < 0) {
		rc = state_git_fail(err, PS_ERROR, e,
				    "cannot write the reflog of %s", st->ref);
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
