/*
 * The snapshot store and remotes (state.h): fetching the state ref into
 * its remote-tracking ref and fast-forwarding ours, reading a snapshot
 * from a remote's copy, and pushing. remote.c runs the git command that
 * does the network part; this file decides what to do with the result.
 */
#include "state.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "remote.h"
#include "state_int.h"
#include "util.h"

#include "banned.h"

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
		return state_git_fail(err, PS_ERROR, e,
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
		rc = state_git_fail(err, PS_ERROR, e,
				    "cannot read the remote \"%s\"", name);
		goto cleanup;
	}
	ps_strlcpy(url, v.ptr ? v.ptr : "no URL", urllen);
	ps_remote_scrub(url);
	o->url = url;
	o->stop = st->git_stop;
	o->deadline_ms = st->git_deadline_ms;
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
		return state_git_fail(err, PS_ERROR, e, "cannot read %s", name);
	e = git_reference_peel(&obj, ref, GIT_OBJECT_COMMIT);
	git_reference_free(ref);
	if (e < 0)
		return state_git_fail(err, PS_EINVALID, e,
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
	state_short_id(a, &st->head);
	state_short_id(b, theirs);
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
	if ((rc = state_move_ref(st, &theirs,
				 "pavesync: fast-forward from remote", err)) <
	    0)
		return rc;
	return state_load_commit(st, &theirs, err);
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
	if ((rc = state_load_commit(st, &theirs, err)) < 0)
		return rc;
	st->tracking = true;
	return 0;
}

/*
 * The one remote with a copy of the state ref: *found is true when exactly
 * one remote has one; then *id is its commit and `track` its tracking
 * ref's name. Errors reading a candidate count as "no copy there".
 */
static void only_tracking(git_oid *id, bool *found, ps_buf *track, ps_state *st)
{
	git_strarray names = { NULL, 0 };
	ps_buf cand = PS_BUF_INIT;
	git_oid cid;
	bool cf;
	size_t hits = 0;

	remote_names(&names, st);
	for (size_t i = 0; i < names.count; i++) {
		tracking_name(&cand, names.strings[i], st->ref);
		if (lookup_commit_ref(&cid, &cf, st, cand.ptr, NULL) == 0 &&
		    cf) {
			hits++;
			*id = cid;
			ps_buf_reset(track);
			ps_buf_puts(track, cand.ptr);
		}
	}
	ps_buf_release(&cand);
	remote_names_free(&names);
	*found = hits == 1;
}

int ps_state_use_tracking(char *used, size_t usedlen, ps_state *st,
			  const char *remote, bool adopt, ps_error *err)
{
	ps_buf track = PS_BUF_INIT;
	git_oid id;
	bool found = false;
	int rc = 0;

	if (used && usedlen)
		*used = '\0';
	if (!st->repo || st->has_head)
		return 0;
	/* Without a remote: origin first (git clone's name), then the only
	 * other remote that has one. */
	tracking_name(&track, remote ? remote : "origin", st->ref);
	if ((rc = lookup_commit_ref(&id, &found, st, track.ptr, err)) < 0)
		goto cleanup;
	if (!remote) {
		if (!found)
			only_tracking(&id, &found, &track, st);
		git_error_clear();
	}
	if (!found)
		goto cleanup;
	if (adopt &&
	    (rc = state_move_ref(st, &id,
				 "pavesync: start from the remote-tracking ref",
				 err)) < 0)
		goto cleanup;
	if ((rc = state_load_commit(st, &id, err)) < 0)
		goto cleanup;
	st->tracking = !adopt;
	if (used)
		ps_strlcpy(used, track.ptr, usedlen);

cleanup:
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

void ps_state_bound_git(ps_state *st, const atomic_int *stop,
			long push_grace_ms, long deadline_ms)
{
	st->git_stop = stop;
	st->git_push_grace_ms = push_grace_ms > 0 ? push_grace_ms : 0;
	st->git_deadline_ms = deadline_ms > 0 ? deadline_ms : 0;
}

int ps_state_push(ps_state *st, const char *remote, ps_error *err)
{
	ps_remote_opts ro;
	char url[PS_ERROR_MSG_MAX / 2];
	int rc;

	if ((rc = lookup_remote(&ro, url, sizeof(url), st, remote, err)) < 0)
		return rc;
	ro.stop_grace_ms = st->git_push_grace_ms;
	if (!st->has_head || st->tracking)
		return 0; /* nothing committed yet: nothing to push */
	return ps_remote_push(st->gitdir, remote, st->ref, &ro, err);
}
