#include "plan.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"
#include "memo.h"
#include "plan_int.h"
#include "pool.h"
#include "util.h"
#include "version.h"
#include "banned.h"

/* ---- building ---- */

static void push_change(ps_account_plan *ap, size_t *alloc, const char *event,
			ps_action action, ps_origin origin,
			const json_t *before, const json_t *after,
			const ps_callback *desired)
{
	ps_change *c;

	if (ap->nchanges == *alloc) {
		*alloc = *alloc ? *alloc * 2 : 4;
		ap->changes = ps_realloc(ap->changes, *alloc * sizeof(*c));
	}
	c = &ap->changes[ap->nchanges++];
	memset(c, 0, sizeof(*c));
	c->event = ps_strdup(event);
	c->action = action;
	c->origin = origin;
	/* Shared, not copied: sealed callbacks are never modified in place
	 * (apply replaces whole entries of ap->base). */
	c->before = before ? json_incref((json_t *)before) : NULL;
	c->after = after ? json_incref((json_t *)after) : NULL;
	c->desired = desired;
	c->fields = plan_diff_fields(before, after);
	c->status = PS_PLANNED;
}

/* The union of event names of up to three objects, sorted. */
static const char **event_union(const json_t *a, const json_t *b,
				const json_t *c, size_t *n)
{
	json_t *set = json_object();
	const json_t *objs[3] = { a, b, c };
	const char **names, *k;
	json_t *v;
	size_t i, j = 0;

	for (i = 0; i < 3; i++)
		json_object_foreach((json_t *)objs[i], k, v)
			json_object_set_new(set, k, json_null());
	*n = json_object_size(set);
	names = ps_calloc(*n + 1, sizeof(*names));
	json_object_foreach(set, k, v) names[j++] = ps_strdup(k);
	qsort(names, *n, sizeof(*names), ps_strcmp_qsort);
	json_decref(set);
	return names;
}

static void free_names(const char **names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free((char *)names[i]);
	free(names);
}

ps_origin ps_plan_origin(const json_t *desired, const json_t *applied,
			 const json_t *live)
{
	bool config_changed = !plan_same_cb(desired, applied);
	bool dashboard_changed = !plan_same_cb(live, applied);

	if (config_changed && dashboard_changed)
		return PS_ORIGIN_CONFLICT;
	if (dashboard_changed)
		return PS_ORIGIN_DASHBOARD;
	return PS_ORIGIN_CONFIG;
}

/* Nothing to do for the account, and nothing to keep: a no-drift plan of
 * many accounts stays small. */
static void settle(ps_account_plan *ap, const ps_account *acct)
{
	ap->settled = true;
	ap->drift_lines = json_array();
	ap->unchanged = acct->ncallbacks;
}

/*
 * The first step of planning an account (on a worker thread): derive its
 * key and settle it when the memo says its input made the committed blob.
 * Touches no libgit2 object (ps_state_has_blob only reads blob ids).
 * Returns whether it is settled.
 */
static bool plan_account_begin(ps_account_plan *ap, const ps_account *acct,
			       const ps_state *st, const json_t *live_raw,
			       bool prune, const char *fp_env,
			       const ps_memo *memo, struct memo_note *note)
{
	const unsigned char *digest, *blob;

	ap->account = acct;
	ap->prune = prune || acct->prune;
	ps_fpkey_derive_with(&ap->key, acct->name, acct->api_secret, fp_env);
	if (!live_raw && st) {
		/* The memo vouches for the blob this input makes: when it is
		 * the committed one, nothing needs sealing or encoding. */
		plan_memo_digest(note->digest, acct, &ap->key);
		note->have_digest = true;
		if (ps_memo_get(memo, acct->name, &digest, &blob) &&
		    !memcmp(digest, note->digest, PS_MEMO_DIGEST) &&
		    ps_state_has_blob(st, acct->name, blob)) {
			settle(ap, acct);
			return true;
		}
	}
	return false;
}

/*
 * The second step (on a worker thread): seal the account's desired
 * callbacks and settle it when the committed blob is byte for byte what
 * it would write. Touches no libgit2 object. Returns the sealed desired
 * callbacks (owned by the caller), or NULL when the account is settled.
 */
static json_t *plan_account_seal(ps_account_plan *ap, const ps_account *acct,
				 const ps_state *st, const json_t *live_raw,
				 struct memo_note *note)
{
	json_t *desired = json_object();
	size_t i;

	for (i = 0; i < acct->ncallbacks; i++) {
		const ps_callback *cb = &acct->callbacks[i];
		json_object_set_new(
			desired, cb->event,
			ps_seal_callback(cb->spec, cb->sensitive, &ap->key));
	}
	if (live_raw || !plan_memo_matches(st, ap, desired, note))
		return desired;
	json_decref(desired);
	settle(ap, acct);
	return NULL;
}

/* The callbacks read live for the account, sealed ({event: callback}, new
 * reference): a value the config or the snapshot had sealed stays sealed.
 * A raw callback without an event is left out. */
static json_t *seal_live(const ps_account_plan *ap, const ps_account *acct,
			 const json_t *live_raw, const json_t *snap,
			 const json_t *known)
{
	json_t *live = json_object(), *raw;
	size_t j;

	json_array_foreach(live_raw, j, raw)
	{
		const char *ev =
			json_string_value(json_object_get(raw, "event"));
		if (!ev)
			continue;
		const json_t *prev = json_object_get(snap, ev);
		if (!prev)
			prev = json_object_get(known, ev);
		json_object_set_new(
			live, ev,
			plan_seal_live_one(raw,
					   ps_config_account_callback(acct, ev),
					   prev, &ap->key));
	}
	return live;
}

/*
 * One event of an account: a change, unchanged, unmanaged or forgotten,
 * and a drift line when a refresh found it changed outside pavesync. d, b,
 * k, a: its desired, base (believed live), last seen live and last applied
 * callbacks, NULL when absent.
 */
static void plan_event(ps_account_plan *ap, const ps_account *acct,
		       size_t *alloc, const char *ev, json_t *d, json_t *b,
		       json_t *k, json_t *a)
{
	ps_origin origin = ps_plan_origin(d, a, b);

	if (ap->refreshed && !plan_same_cb(k, b))
		json_array_append_new(ap->drift_lines,
				      json_sprintf("%s/%s: %s outside pavesync",
						   ap->name, ev,
						   !k	? "created"
						   : !b ? "deleted"
							: "changed"));
	if (d && !b) {
		push_change(ap, alloc, ev, PS_CREATE, origin, NULL, d,
			    ps_config_account_callback(acct, ev));
	} else if (d && b && !json_equal(d, b)) {
		push_change(ap, alloc, ev, PS_UPDATE, origin, b, d,
			    ps_config_account_callback(acct, ev));
	} else if (d && b) {
		ap->unchanged++;
		/* Live already is what the config wants (the config
		 * took over a dashboard edit, or both were set back):
		 * that is now the last applied callback. */
		if (!plan_same_cb(a, d)) {
			json_object_set(ap->applied, ev, d);
			ap->rewrite = true;
		}
	} else if (b && ap->prune) {
		push_change(ap, alloc, ev, PS_DELETE, origin, b, NULL, NULL);
	} else if (b) {
		json_array_append_new(ap->unmanaged, json_string(ev));
	} else if (a) {
		/* Neither wanted nor live: nothing left to remember. */
		json_object_del(ap->applied, ev);
		ap->rewrite = true;
	}
}

/*
 * The second half (on a worker thread): compare the desired callbacks
 * (stolen) with the snapshot document, which the caller read on the thread
 * that owns the state (libgit2 objects are not shared between threads).
 */
static void plan_account(ps_account_plan *ap, const ps_account *acct,
			 json_t *desired, const json_t *snap_doc,
			 const json_t *live_raw)
{
	json_t *snap, *known, *live = NULL, *base;
	const char **events;
	size_t i, n, alloc = 0;

	ap->stale = snap_doc && plan_doc_is_stale(snap_doc, acct, &ap->key);
	if (snap_doc && !ap->stale &&
	    json_integer_value(json_object_get(snap_doc, "format")) <
		    PS_STATE_FORMAT)
		ap->migrate = true;
	/* snap: what pavesync last applied; known: what it last saw live. */
	snap = (snap_doc && !ap->stale) ? json_object_get(snap_doc, "callbacks")
					: NULL;
	if (!snap)
		snap = json_object();
	else
		json_incref(snap);
	known = plan_known_live(snap,
				ap->migrate || ap->stale
					? NULL
					: json_object_get(snap_doc, "live"));

	if (live_raw) {
		ap->refreshed = true;
		live = seal_live(ap, acct, live_raw, snap, known);
		/* Something new was seen live: recorded in its own commit. */
		ap->drifted = ap->stale || !json_equal(live, known);
		base = live;
		if (ap->stale) {
			/* Unknown history: what is live now is the baseline. */
			json_decref(snap);
			snap = json_copy(live);
			json_decref(known);
			known = json_copy(live);
		}
	} else {
		base = json_copy(known);
	}
	ap->base = base;
	ap->applied = json_copy(snap);
	ap->drift_lines = json_array();
	if (ap->refreshed && ap->stale)
		json_array_append_new(
			ap->drift_lines,
			json_sprintf("%s: snapshot re-recorded from live (API "
				     "key or secret changed)",
				     ap->name));

	events = event_union(desired, base, known, &n);
	for (i = 0; i < n; i++)
		plan_event(ap, acct, &alloc, events[i],
			   json_object_get(desired, events[i]),
			   json_object_get(base, events[i]),
			   json_object_get(known, events[i]),
			   json_object_get(snap, events[i]));
	if (ap->migrate)
		ap->rewrite = true;
	/* Kept until the plan is freed: no room to spare across 10,000. */
	if (ap->nchanges && ap->nchanges < alloc)
		ap->changes = ps_realloc(ap->changes,
					 ap->nchanges * sizeof(*ap->changes));
	free_names(events, n);
	json_decref(known);
	json_decref(snap);
	json_decref(desired);
}

static int cmp_account_plan(const void *a, const void *b)
{
	return strcmp(((const ps_account_plan *)a)->name,
		      ((const ps_account_plan *)b)->name);
}

static int cmp_account(const void *key, const void *elem)
{
	return strcmp(key, ((const ps_account *)elem)->name);
}

/* cfg->accounts is sorted by name: a binary search keeps a plan of many
 * accounts linear. */
static const ps_account *find_account(const ps_config *cfg, const char *name)
{
	return bsearch(name, cfg->accounts, cfg->naccounts,
		       sizeof(*cfg->accounts), cmp_account);
}

/* Accounts are planned side by side (each touches only its own
 * ps_account_plan and read-only config), in two passes with the snapshot
 * documents the first pass could not settle read in between, on this
 * thread: libgit2 objects are used from one thread only. */
struct build_job {
	ps_account_plan *ap;
	const ps_account *acct;
	const json_t *raw;
	const ps_state *st;
	bool prune;
	json_t *desired;	/* after the first pass; NULL = settled */
	const json_t *snap_doc; /* read between the passes */
	const char *fp_env;	/* PAVESYNC_FINGERPRINT_KEY, read once */
	const ps_memo *memo;	/* read-only while the pool runs */
	bool compact;		/* ps_plan_opts' */
	bool pending;		/* not settled by the memo: to be sealed */
	struct memo_note note;
};

/* Drop the maps of an account whose maps are what its committed document
 * `snap_doc` says (ps_plan_opts' `compact`): ps_plan_stage_account reads
 * them again. So are its changes' sealed callbacks: `before` is in that
 * document too, and `after` is sealed again from the config when the
 * account is staged. */
static void pack_maps(ps_account_plan *ap, const json_t *snap_doc)
{
	size_t j;

	if (!snap_doc || ap->refreshed || ap->stale || ap->migrate ||
	    ap->rewrite || ap->error || !ap->base || !ap->applied)
		return;
	ap->nbase = json_object_size(ap->base);
	json_decref(ap->base);
	json_decref(ap->applied);
	ap->base = ap->applied = NULL;
	for (j = 0; j < ap->nchanges; j++) {
		json_decref(ap->changes[j].before);
		json_decref(ap->changes[j].after);
		ap->changes[j].before = ap->changes[j].after = NULL;
	}
	ap->packed = true;
}

static void start_one(void *ctx, size_t i)
{
	struct build_job *job = &((struct build_job *)ctx)[i];

	job->pending = !plan_account_begin(job->ap, job->acct, job->st,
					   job->raw, job->prune, job->fp_env,
					   job->memo, &job->note);
}

static void seal_one(void *ctx, size_t i)
{
	struct build_job *job = &((struct build_job *)ctx)[i];

	if (!job->pending)
		return;
	job->pending = false;
	job->desired = plan_account_seal(job->ap, job->acct, job->st, job->raw,
					 &job->note);
}

static void finish_one(void *ctx, size_t i)
{
	struct build_job *job = &((struct build_job *)ctx)[i];

	if (!job->desired)
		return;
	plan_account(job->ap, job->acct, job->desired, job->snap_doc, job->raw);
	job->desired = NULL;
	if (job->compact)
		pack_maps(job->ap, job->snap_doc);
	ps_fpkey_idle(&job->ap->key);
}

/* Accounts planned at once (their sealed callbacks and snapshot documents
 * alive together). */
#define DOC_BATCH 256

/* Below this, threads cost more than they save. */
#define PARALLEL_MIN_ACCOUNTS 16

static bool in_config(const char *account, void *cfg)
{
	return find_account(cfg, account) != NULL;
}

/* Note what the first pass computed in the memo and, for a writer, save it
 * (a cache: a failure to write only costs the next run time). Frees it. */
static void remember(ps_memo *memo, const ps_config *cfg, const ps_state *st,
		     const struct build_job *jobs, size_t njobs, bool write)
{
	ps_error e;
	size_t i;

	if (!memo)
		return;
	if (write) {
		for (i = 0; i < njobs; i++)
			if (jobs[i].note.have_digest && jobs[i].note.have_blob)
				ps_memo_set(memo, jobs[i].acct->name,
					    jobs[i].note.digest,
					    jobs[i].note.blob);
		ps_memo_prune(memo, in_config, (void *)cfg);
		ps_error_clear(&e);
		(void)ps_memo_write(memo, ps_state_gitdir(st), &e);
	}
	ps_memo_free(memo);
}

static bool selected(const ps_plan_opts *opts, const char *name)
{
	const char *const *p;

	if (!opts || !opts->only)
		return true;
	for (p = opts->only; *p; p++)
		if (!strcmp(*p, name))
			return true;
	return false;
}

/* Every --account name must be in the config or the snapshot; else
 * PS_ENOTFOUND, with a suggestion from the config's names. */
static int check_only(const ps_config *cfg, ps_state *st,
		      const ps_plan_opts *opts, ps_error *err)
{
	const char *const *p;
	size_t i;

	if (!opts || !opts->only)
		return 0;
	for (p = opts->only; *p; p++) {
		if (!find_account(cfg, *p) && !(st && ps_state_get(st, *p))) {
			const char **names =
				ps_calloc(cfg->naccounts + 1, sizeof(*names));
			const char *hint;
			for (i = 0; i < cfg->naccounts; i++)
				names[i] = cfg->accounts[i].name;
			hint = ps_suggest(*p, names);
			ps_error_set(err, PS_ENOTFOUND,
				     "no account \"%s\" in %s%s%s%s", *p,
				     cfg->path, hint ? " (did you mean \"" : "",
				     hint ? hint : "", hint ? "\"?)" : "");
			free(names);
			return PS_ENOTFOUND;
		}
	}
	return 0;
}

/* An empty plan with room for every account of the config and the
 * snapshot, and what a saved plan records about where it came from. */
static ps_plan *plan_new(const ps_config *cfg, ps_state *st, const json_t *live,
			 const ps_plan_opts *opts)
{
	ps_plan *plan = ps_calloc(1, sizeof(*plan));
	/* The config's accounts; orphans, rare, are added by add_orphans. */
	size_t alloc = cfg->naccounts;

	plan->accounts = ps_calloc(alloc ? alloc : 1, sizeof(*plan->accounts));
	plan->refreshed = live != NULL;
	plan->state_head =
		st && ps_state_head(st) ? ps_strdup(ps_state_head(st)) : NULL;
	plan->state_ref =
		ps_strdup(st ? ps_state_ref(st) : PS_STATE_DEFAULT_REF);
	plan->api_url = ps_strdup(opts && opts->api_url ? opts->api_url : "");
	memcpy(plan->config_sha256, cfg->sha256, sizeof(plan->config_sha256));
	return plan;
}

/* An account plan for each selected account of the config: an account
 * whose refresh failed is done here (it carries the error); the others
 * become jobs. Returns the number of jobs. */
static size_t add_accounts(ps_plan *plan, struct build_job *jobs,
			   const ps_config *cfg, const ps_state *st,
			   const json_t *live, const json_t *live_errors,
			   const ps_plan_opts *opts, const char *fp_env)
{
	size_t i, njobs = 0;

	for (i = 0; i < cfg->naccounts; i++) {
		const ps_account *acct = &cfg->accounts[i];
		ps_account_plan *ap;
		const json_t *raw =
			live ? json_object_get(live, acct->name) : NULL;
		const json_t *lerr =
			live_errors ? json_object_get(live_errors, acct->name)
				    : NULL;

		if (!selected(opts, acct->name))
			continue;
		ap = &plan->accounts[plan->naccounts++];
		ap->name = ps_strdup(acct->name);
		ap->unmanaged = json_array();
		if (lerr) {
			ap->account = acct;
			ap->error = ps_strdup(json_string_value(lerr));
			ps_fpkey_derive_with(&ap->key, acct->name,
					     acct->api_secret, fp_env);
			ap->base = json_object();
			ap->drift_lines = json_array();
			continue;
		}
		jobs[njobs].ap = ap;
		jobs[njobs].acct = acct;
		jobs[njobs].raw = raw;
		jobs[njobs].st = st;
		jobs[njobs].prune = opts && opts->prune;
		jobs[njobs].fp_env = fp_env;
		jobs[njobs].compact = opts && opts->compact && st;
		njobs++;
	}
	return njobs;
}

/* Run the two passes over the jobs, reading the snapshot documents the
 * first pass could not settle in between, on this thread. On a read
 * error, the state's error (the jobs' desired callbacks released). */
static int plan_accounts(struct build_job *jobs, size_t njobs,
			 const ps_config *cfg, ps_state *st, const json_t *live,
			 const ps_plan_opts *opts, ps_error *err)
{
	size_t i, j, b, e, threads;
	ps_memo *memo = NULL;

	if (st && !live && !(memo = ps_state_take_memo(st)))
		memo = ps_memo_read(ps_state_gitdir(st));
	for (i = 0; i < njobs; i++)
		jobs[i].memo = memo;
	threads = njobs >= PARALLEL_MIN_ACCOUNTS ? ps_pool_cpus() : 1;
	/* What the memo settles, at once (a no-drift plan ends here); the
	 * rest in batches of DOC_BATCH accounts, so that only a batch of
	 * sealed desired callbacks and parsed documents is alive at once
	 * (the plans keep only the callbacks their changes name, and packed
	 * accounts not even their maps). */
	ps_pool_run(njobs, threads, start_one, jobs);
	for (b = 0; b < njobs; b = e) {
		size_t npending = 0;

		for (e = b; e < njobs && npending < DOC_BATCH; e++)
			if (jobs[e].pending)
				npending++;
		if (!npending)
			break;
		ps_pool_run(e - b, threads, seal_one, jobs + b);
		for (i = b; i < e; i++) {
			if (jobs[i].desired && st &&
			    ps_state_load(&jobs[i].snap_doc, st,
					  jobs[i].acct->name, err) < 0) {
				int rc = err ? err->code : PS_ERROR;
				for (j = b; j < e; j++)
					json_decref(jobs[j].desired);
				ps_memo_free(memo);
				return rc;
			}
		}
		ps_pool_run(e - b, threads, finish_one, jobs + b);
		for (i = b; i < e; i++)
			if (jobs[i].snap_doc)
				ps_state_unload(st, jobs[i].acct->name);
	}
	remember(memo, cfg, st, jobs, njobs, opts && opts->remember);
	return 0;
}

/* The plan's totals, from its accounts. */
static void count_totals(ps_plan *plan)
{
	size_t i, j;

	for (i = 0; i < plan->naccounts; i++) {
		const ps_account_plan *ap = &plan->accounts[i];
		for (j = 0; j < ap->nchanges; j++) {
			if (ap->changes[j].action == PS_CREATE)
				plan->ncreate++;
			else if (ap->changes[j].action == PS_UPDATE)
				plan->nupdate++;
			else
				plan->ndelete++;
		}
		plan->nunchanged += ap->unchanged;
		if (ap->rewrite)
			plan->nrewrite++;
		plan->managed += plan_base_size(ap);
	}
}

/* Accounts the snapshot has and the config does not: orphaned. */
/* How many of the snapshot's accounts the config lacks: both lists are
 * sorted by name, one walk counts them. */
static size_t count_orphans(const ps_config *cfg, const ps_state *st)
{
	size_t i = 0, j = 0, n = 0, ns = st ? ps_state_count(st) : 0;

	while (j < ns) {
		int c = i < cfg->naccounts ? strcmp(cfg->accounts[i].name,
						    ps_state_name(st, j))
					   : 1;
		if (c <= 0)
			i++;
		if (c >= 0) {
			n += c > 0;
			j++;
		}
	}
	return n;
}

static void add_orphans(ps_plan *plan, const ps_config *cfg, const ps_state *st,
			const ps_plan_opts *opts)
{
	size_t i, ns = st ? ps_state_count(st) : 0, n = count_orphans(cfg, st);

	if (!n)
		return;
	/* No pointer into the array is held any more (the jobs are done):
	 * it may move. */
	plan->accounts =
		ps_realloc(plan->accounts,
			   (plan->naccounts + n) * sizeof(*plan->accounts));
	memset(plan->accounts + plan->naccounts, 0,
	       n * sizeof(*plan->accounts));
	for (i = 0; i < ns && n; i++) {
		const char *name = ps_state_name(st, i);
		ps_account_plan *ap;

		if (find_account(cfg, name) || !selected(opts, name))
			continue;
		ap = &plan->accounts[plan->naccounts++];
		ap->name = ps_strdup(name);
		ap->orphaned = true;
		ap->unmanaged = json_array();
		ap->drift_lines = json_array();
		ap->base = json_object();
		n--;
	}
}

int ps_plan_build(ps_plan **out, const ps_config *cfg, ps_state *st,
		  const json_t *live, const json_t *live_errors,
		  const ps_plan_opts *opts, ps_error *err)
{
	ps_plan *plan;
	struct build_job *jobs;
	size_t njobs;
	const char *fp_env = getenv("PAVESYNC_FINGERPRINT_KEY");
	int rc;

	*out = NULL;
	rc = check_only(cfg, st, opts, err);
	if (rc < 0)
		return rc;
	plan = plan_new(cfg, st, live, opts);
	jobs = ps_calloc(cfg->naccounts + 1, sizeof(*jobs));
	njobs = add_accounts(plan, jobs, cfg, st, live, live_errors, opts,
			     fp_env);
	rc = plan_accounts(jobs, njobs, cfg, st, live, opts, err);
	free(jobs);
	if (rc < 0) {
		ps_plan_free(plan);
		return rc;
	}
	count_totals(plan);
	add_orphans(plan, cfg, st, opts);
	/* Keep accounts sorted by name for stable output. The names are
	 * distinct (the config's are mapping keys, an orphan is one the
	 * config lacks), so qsort's order is the only one. */
	qsort(plan->accounts, plan->naccounts, sizeof(*plan->accounts),
	      cmp_account_plan);
	*out = plan;
	return 0;
}

void ps_plan_adopt_live(ps_plan *plan)
{
	size_t i;

	for (i = 0; i < plan->naccounts; i++) {
		ps_account_plan *ap = &plan->accounts[i];
		if (!ap->refreshed || !ap->applied || !ap->base)
			continue;
		json_decref(ap->applied);
		ap->applied = json_copy(ap->base);
		ap->drifted = true;
	}
}

void ps_plan_free(ps_plan *plan)
{
	size_t i, j;

	if (!plan)
		return;
	for (i = 0; i < plan->naccounts; i++) {
		ps_account_plan *ap = &plan->accounts[i];
		for (j = 0; j < ap->nchanges; j++) {
			ps_change *c = &ap->changes[j];
			free(c->event);
			json_decref(c->fields);
			json_decref(c->before);
			json_decref(c->after);
			free(c->error);
			free(c->refused);
			json_decref(c->seen);
		}
		free(ap->changes);
		free(ap->name);
		json_decref(ap->unmanaged);
		json_decref(ap->base);
		json_decref(ap->applied);
		json_decref(ap->drift_lines);
		free(ap->error);
		ps_fpkey_release(&ap->key);
	}
	free(plan->accounts);
	free(plan->state_head);
	free(plan->state_ref);
	free(plan->api_url);
	json_decref(plan->refused);
	free(plan);
}
