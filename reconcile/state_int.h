/*
 * Private to the state module (state.c and the state_*.c files beside it):
 * the snapshot's in-memory form and the helpers those files share. Nothing
 * outside the module includes it; state.h is the contract.
 */
#ifndef PS_STATE_INT_H
#define PS_STATE_INT_H

#include <git2.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "error.h"
#include "state.h"

/* A snapshot document is a few kilobytes; anything past this is not ours. */
#define DOC_MAX ((size_t)16 * 1024 * 1024)

/* Abbreviated ids in messages, like git's. */
#define SHORT_ID 12

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

#endif
