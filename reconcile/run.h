/*
 * A run of plan, apply or import, carried out by the library: load the
 * config, open the state repository, (writers) take the lock and read the
 * snapshot again under it, bring the remote's state ref, read live
 * callbacks, plan, record what changed outside pavesync, apply, commit,
 * push.
 *
 * The caller chooses between the steps (guards, a confirmation, saved
 * plans) and renders the results; the library prints nothing. What a
 * person should be told along the way (a lock taken over, an account that
 * could not be read, where the snapshot was read from) is handed to the
 * caller's notice function as it happens, in order, on the calling
 * thread.
 *
 * Typical use (cmd/apply.c):
 *   ps_run_open(&run, &settings, &diags, &err);
 *   ps_run_plan(run, PS_RUN_REFRESH_STALE, &err);
 *   ... guards, confirmation ...
 *   ps_run_record_drift(run, NULL, &err);
 *   ps_run_apply(run, &err);
 *   ps_run_push(run, &err);
 *   ps_run_close(run);
 */
#ifndef PS_RUN_H
#define PS_RUN_H

#include <jansson.h>
#include <stdbool.h>

#include "apply.h"
#include "buf.h"
#include "config.h"
#include "error.h"
#include "lock.h"
#include "plan.h"
#include "state.h"

typedef enum {
	PS_NOTICE_INFO,	   /* news (the command line silences it with -q) */
	PS_NOTICE_WARNING, /* worth fixing; the run goes on */
	PS_NOTICE_ERROR,   /* a failure the run goes on after (an account) */
} ps_notice_level;

/* One line for a person: no prefix, no final newline; may hold text from
 * the server or the config, unescaped. `text` is borrowed for the call. */
typedef void (*ps_notice_fn)(void *ctx, ps_notice_level level,
			     const char *text);

/* What the run is asked to do. Strings are borrowed: they must outlive
 * the run. Start from all zeroes. */
typedef struct ps_run_settings {
	const char *config_path; /* required */
	/* NULL: the config's state_repo, else the repository found beside
	 * the config (ps_state_default_path). */
	const char *state_repo;
	const char *state_ref; /* NULL: PS_STATE_DEFAULT_REF */
	/* NULL: the config's api_url, else the PAVE API. `api_url_source`
	 * names where it came from in messages ("--api-url"). */
	const char *api_url;
	const char *api_url_source;
	const char *const *only; /* account names, NULL-terminated, or NULL */
	/* Writers (apply, import --seed) create the repository when there is
	 * none and hold the run lock from ps_run_open to ps_run_close. */
	bool write;
	bool adopt_state_ref; /* writers: accept a state ref moved away */
	bool fetch;	      /* the remote's state ref first */
	bool push;	      /* writers: fetch first, push in ps_run_push */
	const char *remote;   /* NULL: "origin" (or any, for a clone's copy) */
	double lock_timeout;  /* seconds to wait for another run's lock */
	bool prune;	      /* plan deleting unlisted live callbacks */
	bool fail_on_drift;   /* apply: leave dashboard edits alone */
	/* The API client, concurrency and progress; calls.api.deadline_ms
	 * bounds the whole run (waiting for the lock too). base_url is set
	 * by ps_run_open. */
	ps_apply_opts calls;
	ps_notice_fn notice; /* may be NULL */
	void *notice_ctx;
} ps_run_settings;

/* An open run. The fields are the caller's to read, not to change. */
typedef struct ps_run {
	ps_run_settings set; /* a copy */
	ps_config *cfg;
	char *repo; /* the state repository's path */
	ps_state *st;
	ps_lock *lock;		 /* writers */
	const char *url;	 /* the effective API URL */
	const char *url_source;	 /* where it came from, for messages */
	json_t *live;		 /* {account: [callbacks]} read live, or NULL */
	json_t *live_errors;	 /* {account: message}, or NULL */
	ps_plan *plan;		 /* after ps_run_plan */
	char refresh_commit[41]; /* ps_run_record_drift's commit, or "" */
	char commit[41];	 /* ps_run_apply's commit, or "" */
	bool called;		 /* ps_run_apply made API calls */
	bool deadline_reached;	 /* ...and stopped at the deadline */
	ps_state_warmup warmup;
} ps_run;

/*
 * The state repository's path: `given` when not NULL, else the config's
 * state_repo (cfg may be NULL), else the one found for the config file at
 * `config_path` (ps_state_default_path). *out malloc'd.
 */
int ps_run_state_repo(char **out, const char *given, const ps_config *cfg,
		      const char *config_path, ps_error *err);

/*
 * Start a run: load the config (its warnings become notices), find and
 * open the state repository and check that the state ref still follows
 * pavesync's history. Readers then read the remote's state ref (with
 * `fetch`) or a clone's remote-tracking copy. Writers create the
 * repository when needed, take the lock (waiting up to lock_timeout, and
 * never past the deadline), read the snapshot again under it, and fetch
 * (with `fetch` or `push`) or adopt a clone's copy.
 *
 * *out is NULL on failure; otherwise the caller ends it with ps_run_close.
 * When the config cannot be loaded, every problem is in `diags` and err
 * says "cannot load PATH"; `diags` (may be NULL) receives nothing else.
 * Another run's lock is PS_ELOCKED; other errors are the state's.
 */
int ps_run_open(ps_run **out, const ps_run_settings *set, ps_diags *diags,
		ps_error *err);

/* Refuse an API URL that is not https (or loopback http): PS_EINVALID
 * saying where the URL came from; PS_ERROR when libcurl cannot be loaded
 * (the check loads it, see ps_api_check_url). ps_run_plan and ps_run_apply
 * check it before their first call. */
int ps_run_check_url(ps_run *run, ps_error *err);

enum {
	/* Read every account live first and compare with live. */
	PS_RUN_REFRESH = 1 << 0,
	/* Read live only the accounts whose snapshot was written for other
	 * credentials (a notice says how many), then plan again. */
	PS_RUN_REFRESH_STALE = 1 << 1,
};

/*
 * Build run->plan for the config's accounts (or settings.only). A live
 * read first checks the URL and reads every snapshot document it is
 * about, so a damaged one fails before any call. An account that cannot
 * be read live is not an error of this function: it is in
 * run->live_errors, and an error notice says so ("account NAME: ...").
 */
int ps_run_plan(ps_run *run, unsigned flags, ps_error *err);

/* Commit what a refresh found changed outside pavesync, in its own commit
 * (subject NULL: the default), into run->refresh_commit ("" when nothing
 * had). Writers only. */
int ps_run_record_drift(ps_run *run, const char *subject, ps_error *err);

/*
 * Carry out run->plan: check the URL, make the API calls
 * (settings.fail_on_drift leaves dashboard edits and conflicts alone), and
 * commit what succeeded into run->commit; with no change but a snapshot
 * due a rewrite, commit only that. A change that failed is not an error
 * of this function (its status says so); run->called says whether calls
 * were made (so a failed commit left them unrecorded), and
 * run->deadline_reached whether the deadline stopped them. Errors: the
 * URL's (no call made) or the commit's.
 */
int ps_run_apply(ps_run *run, ps_error *err);

/* import --seed: take what was read live as the snapshot, in a commit of
 * its own (into run->refresh_commit). */
int ps_run_seed(ps_run *run, ps_error *err);

/* import: a config that declares the live callbacks (ps_import_write) for
 * the planned accounts that are in the config. */
int ps_run_import_config(ps_buf *out, json_t **vars, ps_run *run,
			 ps_error *err);

/* With settings.push, push the state ref to the remote; 0 otherwise. */
int ps_run_push(ps_run *run, ps_error *err);

/* Release the lock and free everything, the run itself too. NULL-safe. */
void ps_run_close(ps_run *run);

/*
 * For a program about to exit (the command line): end the run as
 * ps_run_close does for everything that outlives the process or must end
 * before it (the lock is released, the state repository closed, the
 * warm-up thread joined), but leave its memory (the config, the plan,
 * what was read live) to the exit instead of freeing it value by value.
 * The run stays reachable from a static, so LeakSanitizer and valgrind
 * count it as still reachable, not lost; builds with AddressSanitizer
 * free it all as ps_run_close does. Nothing of the run may be used after
 * it. Meant once per process: a second run given to it is freed.
 * NULL-safe.
 */
void ps_run_close_for_exit(ps_run *run);

#endif
