/*
 * Private to the state module (state.c and the state_*.c files beside it):
 * the snapshot's in-memory form and the helpers those files share. Nothing
 * outside the module includes it; state.h is the contract.
 */
#ifndef PS_STATE_INT_H
#define PS_STATE_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "error.h"
#include "state.h"
#include "state_git.h"

/* A snapshot document is a few kilobytes; anything past this is not ours. */
#define DOC_MAX ((size_t)16 * 1024 * 1024)

/*
 * Many new objects at once (the first apply of a large group, an import, a
 * change in every account): written one by one as loose objects, each is
 * its own fsynced file (10,000 accounts took ten seconds) and every later
 * read opens 10,000 files. From BULK_MIN documents on, the blobs go into
 * one pack instead (state_pack), fsynced once. Even 100 changed accounts
 * written loose cost ~200 fsyncs (~800 ms on the project's machine,
 * longer than their API calls at 20 ms each, 16 at a time). Commits of a
 * few accounts stay loose, so routine runs do not pile up packs.
 */
#define BULK_MIN 8

/* Abbreviated ids in messages, like git's. */
#define SHORT_ID 12

enum change { CH_NONE = 0, CH_PUT, CH_REMOVE };

struct entry {
	char *name;
	json_t *doc;	/* committed document, once loaded */
	git_oid blob;	/* its blob (valid when committed) */
	bool committed; /* in the snapshot */
	bool loaded;	/* doc parsed (lazy snapshots parse on first use) */
	/* CH_PUT: the new document, as one of: `staged` (JSON, encoded
	 * when committed), `text` (its bytes, ps_state_put_text, until
	 * written), or neither once `written`. */
	json_t *staged;
	char *text;
	size_t textlen;
	enum change change;
	/* The blob of the staged document is written (loose, or into
	 * st->pack); its id is `pending`. */
	bool written;
	git_oid pending;
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

	/* New blobs written as they are staged, once there are many of them
	 * (state_pack.c), or NULL; `nbuffered` documents are staged as
	 * text and not written yet. */
	struct state_pack *pack;
	size_t nbuffered;

	bool git_inited;
	bool lazy;     /* PS_STATE_LAZY: parse documents on first use */
	bool tracking; /* read from a remote's copy: never committed to */
	/* The thread that opened the snapshot: libgit2 objects (st->repo)
	 * are used from it alone (libgit2's threading rules). */
	pthread_t owner;
	/* The settle memo, when the warm-up read it with the state (until
	 * ps_state_take_memo). */
	ps_memo *memo;

	/* ps_state_bound_git's bounds for fetch and push. */
	const atomic_int *git_stop;
	long git_push_grace_ms, git_deadline_ms;
};

/* libgit2's last error as a ps_error: "WHAT: libgit2's message" (state.c). */
int state_git_fail(ps_error *err, int code, int gerr, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The first SHORT_ID hex digits of `id`, for messages (state.c). */
void state_short_id(char out[SHORT_ID + 1], const git_oid *id);
/* Remove and free st->entries[at] (state.c). */
void state_entry_delete(ps_state *st, size_t at);
/* Read the snapshot at commit `id` into st->entries, replacing them
 * (state.c). */
int state_load_commit(ps_state *st, const git_oid *id, ps_error *err);
/* Resolve st->ref to a commit id; *found = false when absent (state.c). */
int state_read_ref(git_oid *out, bool *found, ps_state *st, ps_error *err);

/* The committer: git config user.name/email, else pavesync's own
 * (state_commit.c). */
int state_make_signature(git_signature **out, git_repository *repo,
			 ps_error *err);
/* Drop trailing '\n' and '\r' from `b` (state_commit.c). */
void state_trim_newlines(ps_buf *b);
/* Compare-and-swap st->ref from st->head (or from absent) to `id`;
 * PS_ECONFLICT when another writer moved or holds it (state_commit.c). */
int state_move_ref(ps_state *st, const git_oid *id, const char *logmsg,
		   ps_error *err);

/* A pack of new objects written as they come (state_pack.c). */
struct state_pack;
/* Start one: a temporary file in GITDIR/objects/pack. */
int state_pack_open(struct state_pack **out, const char *gitdir, ps_error *err);
/* Deflate an object (its id given) onto it; one already there is not
 * added again. Only the bytes of objects other than blobs are kept. */
int state_pack_add(struct state_pack *p, const git_oid *id, git_object_t type,
		   const void *data, size_t len, ps_error *err);
/* An object database backend over the pack (owned by the odb it is added
 * to; `p` must outlive that use): it knows every object of the pack,
 * reads back those other than blobs, and writes new objects into it. A
 * libgit2 error code on failure. */
int state_pack_backend(git_odb_backend **out, struct state_pack *p);
/* Store it in repo's object database (a .pack and its .idx). The pack must
 * then be freed; its objects are readable from repo. */
int state_pack_finish(struct state_pack *p, git_repository *repo,
		      ps_error *err);
/* Close and remove the temporary file. NULL-safe. */
void state_pack_free(struct state_pack *p);

/* Write the staged document of `en` as a blob (into st->pack when there
 * is one, else loose): en->pending, en->written (state_commit.c). */
int state_write_blob(ps_state *st, struct entry *en, ps_error *err);

#endif
