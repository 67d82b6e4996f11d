/*
 * The snapshot store (SPEC §3): one canonical JSON file per account,
 * accounts/<name>.json, in commits on their own ref (refs/heads/pavesync-state
 * by default), written through libgit2 straight to the object database and
 * the ref. No working tree, index or checked-out branch is ever touched.
 *
 * An account document (format 2):
 *   {"format": 2, "account": NAME, "api_key": FINGERPRINT,
 *    "fingerprint_key": KEY_ID,
 *    "callbacks": {EVENT: {"url","method","headers","payload"}},
 *    "live": {EVENT: {"url","method","headers","payload"} | null}}
 * with every sensitive value already replaced by its fingerprint (seal.h).
 * "callbacks" is what pavesync last applied (the desired callbacks, sealed);
 * "live", present only when not empty, holds the events whose callback was
 * last seen live different from "callbacks" (null: absent live). Format 1
 * (the previous release) has no "live": its callbacks are read as last
 * applied and rewritten as format 2 on the next write (plan.h).
 * The store itself does not interpret documents beyond "format".
 *
 * Where it lives: state.c (entries, reading, staging, history),
 * state_open.c (finding, creating and opening the repository; warm-up),
 * state_commit.c (the commit, the reflog lineage check), state_remote.c
 * (fetch, push, remote-tracking refs; remote.h runs git for them). The run
 * lock that guards a writer is lock.h's.
 */
#ifndef PS_STATE_H
#define PS_STATE_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "memo.h"

#define PS_STATE_DEFAULT_REF "refs/heads/pavesync-state"

/* The snapshot document format written, and the oldest one still read. */
#define PS_STATE_FORMAT 2
#define PS_STATE_FORMAT_MIN 1

typedef struct ps_state ps_state;

enum {
	/* Create a bare repository at the path when there is none. Without it,
	 * a missing repository opens as an empty snapshot and nothing is
	 * created (what `plan` needs). */
	PS_STATE_CREATE = 1 << 0,
	/* Parse account documents on first use rather than at open, so a
	 * plan can compare unchanged accounts by blob id alone
	 * (ps_state_same_blob). A corrupt document is then reported by
	 * ps_state_load, not by ps_state_open. */
	PS_STATE_LAZY = 1 << 1,
};

/*
 * Open the state repository at `repo_path` (a work tree, a .git directory or
 * a bare repository) and read the snapshot at `ref` (a full ref name, or a
 * short branch name that is taken as refs/heads/NAME; NULL = default).
 *
 * The path is opened as given (no search upwards; ps_state_default_path does
 * the discovery). A missing path or an empty directory is an empty snapshot
 * and nothing is created, unless PS_STATE_CREATE is given: then a bare
 * repository is made there (with parent directories).
 *
 * Fails with PS_EINVALID when the path is a non-empty directory that is not
 * a repository, when `ref` is not a valid ref name, when `ref` is the
 * checked-out branch of the repository's work tree or of a linked work tree,
 * and when a document cannot be parsed ("accounts/NAME.json at COMMIT:
 * LINE:COL: TEXT"). Only accounts/<valid account name>.json files are read;
 * any other file is ignored and kept by commits.
 * Enables GIT_OPT_ENABLE_FSYNC_GITDIR. *out is owned by the caller and
 * freed with ps_state_free; NULL on failure.
 */
int ps_state_open(ps_state **out, const char *repo_path, const char *ref,
		  unsigned flags, ps_error *err);

/* Does the repository exist (false for a not-yet-created one)? */
bool ps_state_exists(const ps_state *st);

/* The (common) git directory, without a trailing '/': the place for the run
 * lock (lock.h). "" when the repository does not exist. Borrowed. */
const char *ps_state_gitdir(const ps_state *st);

/* The full ref name in use. Borrowed. */
const char *ps_state_ref(const ps_state *st);

/* Hex id of the snapshot's commit, or NULL when the ref does not exist yet.
 * After a successful commit this is the new commit. Borrowed. */
const char *ps_state_head(const ps_state *st);

/* Accounts in the snapshot, sorted by name (staged changes included). The
 * name is borrowed until the snapshot next changes (put, remove, commit,
 * fetch) or is freed. */
size_t ps_state_count(const ps_state *st);
const char *ps_state_name(const ps_state *st, size_t i);

/* The document for `account` (staged changes included), or NULL. Borrowed:
 * valid until that account's document changes or is unloaded. */
const json_t *ps_state_get(const ps_state *st, const char *account);

/*
 * The same with errors: *out is the document or NULL (absent); a lazy
 * document that cannot be read or parsed fails with PS_EINVALID/PS_ERROR.
 * (ps_state_get returns NULL for such a document.) Reading a lazy document
 * uses libgit2, so it must happen on the thread that opened the state:
 * from any other thread it fails with PS_ERROR ("internal error: ...").
 * ps_state_same_blob reads no object and may be called from any thread.
 */
int ps_state_load(const json_t **out, ps_state *st, const char *account,
		  ps_error *err);

/* Is `account` in the snapshot (staged changes included)? Reads nothing. */
bool ps_state_has(const ps_state *st, const char *account);

/*
 * Forget the parsed committed document of `account` when it was read
 * lazily and nothing is staged for it: a later ps_state_load/ps_state_get
 * reads it again. Pointers returned for it before become invalid.
 */
void ps_state_unload(ps_state *st, const char *account);

/*
 * Is `text` byte for byte the committed document of `account` (same git
 * blob id)? False when staged, absent or different. Reads no object.
 */
bool ps_state_same_blob(const ps_state *st, const char *account,
			const char *text, size_t len);

/* The git blob id of `text` (raw, 20 bytes) into out; false when the digest
 * cannot be computed. Any thread. */
bool ps_state_blob_id(unsigned char out[20], const char *text, size_t len);

/* Is `id` the committed blob of `account`? False when staged or absent.
 * Reads no object; any thread. */
bool ps_state_has_blob(const ps_state *st, const char *account,
		       const unsigned char id[20]);

/* Stage a new document for `account` (steals the reference; NULL stages a
 * removal). The name is checked by ps_state_commit. */
void ps_state_put(ps_state *st, const char *account, json_t *doc);

/*
 * Stage a new document for `account` as its bytes (`text`, `len` bytes,
 * malloc'd: stolen, freed whatever the outcome), the canonical encoding
 * that ps_state_commit would write. From the eighth such document on,
 * each is written into a pack as it is staged (the ones before first), so
 * staging every account of a large group holds no document in memory; the
 * pack is stored by ps_state_commit before the ref moves, and is
 * unreferenced garbage if no commit follows. A document staged this way
 * cannot be read back before the commit (ps_state_load: PS_ERROR); after
 * it, it is read from its blob. Nothing is written where the commit would
 * refuse (no repository, a remote-tracking snapshot). Errors: PS_ERROR
 * (the pack cannot be written).
 */
int ps_state_put_text(ps_state *st, const char *account, char *text, size_t len,
		      ps_error *err);

/* Stage the removal of `account`'s document. */
void ps_state_remove(ps_state *st, const char *account);

/*
 * Write the staged documents as one commit on the ref. The ref is moved by
 * compare-and-swap from the commit the snapshot was read at (or created only
 * if still absent), so a concurrent writer yields PS_ECONFLICT and is never
 * overwritten. When nothing staged differs from the snapshot no commit is
 * made and *out_id is set to "". Committer: git config user.name/email,
 * else "pavesync <pavesync@localhost>". On success the staged changes become
 * the snapshot and ps_state_head() is the new commit. out_id has 41 bytes.
 * Needs an existing repository (open with PS_STATE_CREATE) unless nothing is
 * staged. Only changed accounts/ entries are rewritten; other files in the
 * tree are kept. The message is SUBJECT "\n\n" BODY "\n" (just SUBJECT "\n"
 * when body is NULL or empty; a NULL subject is "pavesync: update
 * snapshot"). Many new documents at once are written as one pack (their
 * blobs; the trees and the commit are loose objects).
 * Errors: PS_ECONFLICT (the ref moved, or another process holds its .lock),
 * PS_EINVALID (bad account name, no repository), PS_ERROR (libgit2).
 */
int ps_state_commit(char out_id[41], ps_state *st, const char *subject,
		    const char *body, ps_error *err);

/*
 * Call `cb` for each commit reachable from the ref, newest first, at most
 * `max` (0 = all). Returning non-zero from cb stops the walk (that value is
 * returned). The strings passed to cb are valid during the call only.
 * Nothing to walk (no repository, no commit yet) is 0. Errors: PS_ERROR
 * (libgit2 cannot walk or read a commit).
 */
typedef int (*ps_state_history_cb)(void *ctx, const char *id, long long when,
				   int tz_offset_minutes, const char *committer,
				   const char *subject);
int ps_state_history(ps_state *st, size_t max, ps_state_history_cb cb,
		     void *ctx, ps_error *err);

/*
 * Default repository for a config file (SPEC §3): the git repository that
 * holds the config file (its work tree, or its git directory when bare),
 * found by searching upwards from the file's directory without crossing a
 * filesystem boundary or GIT_CEILING_DIRECTORIES; if there is none,
 * "DIR/.pavesync-state" beside it (".pavesync-state" for a config path
 * without a directory). Creates nothing. *out is malloc'd (the caller
 * frees it). Errors: PS_EINVALID (no path given; a repository found that
 * git's safe.directory rule refuses, or a HOME that cannot be read),
 * PS_ERROR (libgit2).
 */
int ps_state_default_path(char **out, const char *config_path, ps_error *err);

/*
 * Bound the git commands of the fetches and the push below by the run:
 * git is stopped (SIGTERM, then SIGKILL: remote.h) when `deadline_ms`
 * passes (CLOCK_MONOTONIC milliseconds, 0: none) or when a stop is
 * requested through *stop (NULL: never): a fetch at once, a push
 * `push_grace_ms` later (it publishes what is already committed), either
 * at once when *stop is 2 or more. `stop` is borrowed and must outlive st.
 * Without this call only git's own timeout (PS_REMOTE_TIMEOUT) applies.
 */
void ps_state_bound_git(ps_state *st, const atomic_int *stop,
			long push_grace_ms, long deadline_ms);

/*
 * Fetch `remote`'s copy of the state ref and fast-forward ours to it.
 * The network part runs `git fetch` (remote.h: the user's ssh keys,
 * known_hosts, credential helpers; never a prompt). The remote's ref is
 * fetched into git's remote-tracking ref, refs/remotes/REMOTE/SHORT
 * (SHORT = the ref without refs/heads/). Equal or remote behind: nothing
 * to do. Remote ahead (or no local ref yet): our ref is moved (and the
 * in-memory snapshot re-read). Diverged: PS_EDIVERGED, our ref unchanged.
 * A remote without the ref is fine (a stale tracking ref is deleted). Must
 * not be called with changes staged (PS_EINVALID). PS_ENOTFOUND when there
 * is no such remote or no git command; PS_EAUTH for a refused host key or
 * missing credentials; PS_ECONFLICT when our ref moves during the fetch.
 */
int ps_state_fetch(ps_state *st, const char *remote, ps_error *err);

/*
 * The same for readers (`plan --fetch`): writes nothing but the fetched
 * objects and the remote-tracking ref. When the remote's ref is ahead of
 * ours (or ours is absent) the snapshot is read from it, read-only: a
 * later ps_state_commit fails with PS_EINVALID. Diverged: PS_EDIVERGED.
 */
int ps_state_fetch_readonly(ps_state *st, const char *remote, ps_error *err);

/*
 * A repository without the state ref but with a remote's copy of it (as
 * after `git clone`: refs/remotes/REMOTE/SHORT): read the snapshot from
 * there. `remote` NULL tries "origin", then the only remote that has one.
 * `adopt` false reads it read-only (plan); true first creates our ref at
 * that commit (apply starts where the remote is, rather than from
 * nothing). Nothing to do (0) when our ref exists or no copy is found.
 * `used` (may be NULL) receives the tracking ref's name, "" when none.
 */
int ps_state_use_tracking(char *used, size_t usedlen, ps_state *st,
			  const char *remote, bool adopt, ps_error *err);

/* Does the repository have at least one remote? */
bool ps_state_has_remote(const ps_state *st);

/* Push the state ref to `remote` with `git push REMOTE REF:REF`, never
 * forced. A rejection (the remote is ahead or diverged) is PS_EDIVERGED
 * with the remote's reason; other errors as for ps_state_fetch. Nothing
 * committed yet (or a read-only snapshot): nothing pushed, 0. */
int ps_state_push(ps_state *st, const char *remote, ps_error *err);

/*
 * Refuse a state ref that something other than pavesync moved away from
 * pavesync's history: the ref's reflog names the last commit pavesync
 * wrote (its commits, fast-forwards from the remote, adoptions), and the
 * ref must be that commit or a descendant of it. PS_ESTALE otherwise, with
 * both commits and the ways forward in the message — unless `adopt`, which
 * records the ref's current commit in the reflog as adopted by pavesync
 * and puts a sentence saying so in `note` (may be NULL). A ref without
 * such a reflog line (a repository from before reflogs were kept, a fresh
 * clone) or an absent ref passes. Repositories pavesync creates log every
 * ref update (core.logAllRefUpdates=always), and every commit pavesync
 * makes is recorded in the reflog even where git would not log it.
 */
int ps_state_check_lineage(char *note, size_t notelen, ps_state *st, bool adopt,
			   ps_error *err);

/* Free the snapshot, its documents and the repository handle. NULL-safe. */
void ps_state_free(ps_state *st);

/*
 * libgit2's one-time start-up is slow (Debian's build parses the whole
 * system CA bundle in git_libgit2_init, several milliseconds), and so is
 * libcrypto's (its config, the SHA-256 fetch: ps_sha256). Start both on a
 * thread while the caller does other work (loading the config);
 * ps_state_open waits for it if it is still running. Each start must be
 * matched by one finish, after the last ps_state_free.
 *
 * A reader that knows its state repository before the config is read has
 * the warm-up open it as well, as ps_state_open(repo, ref, PS_STATE_LAZY)
 * would, and read its settle memo: `repo` (NULL: the start-ups only) and
 * `ref` are copied.
 */
typedef struct ps_state_warmup {
	void *thread; /* opaque */
	bool started;
} ps_state_warmup;

void ps_state_warmup_start(ps_state_warmup *w, const char *repo,
			   const char *ref);

/*
 * The state the warm-up opened, when it was started with this very `repo`
 * and `ref` and could open it: from now on the caller's and its thread's
 * (free with ps_state_free). Waits for the warm-up. NULL otherwise, and
 * after the first call: open it with ps_state_open, which reports what
 * went wrong (the warm-up reports nothing).
 */
ps_state *ps_state_warmup_take(ps_state_warmup *w, const char *repo,
			       const char *ref);

void ps_state_warmup_finish(ps_state_warmup *w);

/* The settle memo the warm-up read with the state, now the caller's
 * (ps_memo_free); NULL when there is none (then read it). */
ps_memo *ps_state_take_memo(ps_state *st);

#endif
