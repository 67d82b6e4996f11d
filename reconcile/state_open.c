/*
 * Finding, creating and opening the state repository (state.h): the
 * default location beside a config file, the checks an open makes (the
 * ref not checked out, the repository writable, owned by us), and
 * libgit2's warm-up. Reading the snapshot itself is state.c's.
 */
#include "state.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "hmac.h"
#include "state_int.h"
#include "util.h"

#include "banned.h"

static char *strip_slash(const char *p)
{
	size_t n = strlen(p);

	while (n > 1 && p[n - 1] == '/')
		n--;
	return ps_strndup(p, n);
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

/* Load and start libgit2 for this handle (matched by ps_state_free) with
 * fsync on. */
static int start_libgit2(ps_state *st, ps_error *err)
{
	int e, rc;

	if ((rc = state_git_load(err)) < 0)
		return rc;
	if ((e = git_libgit2_init()) < 0)
		return state_git_fail(err, PS_ERROR, e,
				      "cannot initialise libgit2");
	st->git_inited = true;
	/* Durability (SPEC §3): objects, refs and reflogs are fsynced. */
	if ((e = git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1)) < 0)
		return state_git_fail(err, PS_ERROR, e, "cannot enable fsync");
	/* Like git, do not hash every object read again to check its id:
	 * libgit2's collision-detecting SHA-1 over the accounts tree was a
	 * thirtieth of a no-drift plan. zlib's checksums still catch a
	 * damaged object, and the documents are checked when parsed. */
	if ((e = git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 0)) <
	    0)
		return state_git_fail(err, PS_ERROR, e,
				      "cannot set hash verification");
	return 0;
}

/* Make a new repository at st->path. Bare, so no work tree exists to get
 * in the way; HEAD names the state ref, so `git log` and `git clone` of
 * this repository show the snapshot. */
static int create_repo(ps_state *st, ps_error *err)
{
	git_repository_init_options io;
	int e;

	git_repository_init_options_init(&io,
					 GIT_REPOSITORY_INIT_OPTIONS_VERSION);
	io.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH;
	io.initial_head = st->ref;
	if ((e = git_repository_init_ext(&st->repo, st->path, &io)) < 0)
		return state_git_fail(err, PS_ERROR, e,
				      "cannot create the state repository %s",
				      st->path);
	/* A bare repository keeps no reflog by default: the state ref's
	 * history is what tells a moved ref (issue 9), and git commands run
	 * here should record their moves too. */
	return log_all_ref_updates(st, err);
}

/* Open the existing repository at st->path, as given (no search). */
static int open_repo(ps_state *st, ps_error *err)
{
	int e, rc;

	e = git_repository_open_ext(&st->repo, st->path,
				    GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
	if (e < 0 && (rc = explain_unopenable(st->path, err)) < 0) {
		git_error_clear();
		return rc;
	}
	if (e == GIT_ENOTFOUND) {
		git_error_clear();
		return ps_error_set(err, PS_EINVALID,
				    "%s is not a git repository (give "
				    "--state-repo an existing repository, "
				    "or a new or empty directory)",
				    st->path);
	}
	if (e < 0)
		return state_git_fail(err, PS_ERROR, e,
				      "cannot open the state repository %s",
				      st->path);
	return 0;
}

/* The checks an opened repository must pass, then the snapshot at the
 * ref. */
static int check_and_read(ps_state *st, unsigned flags, ps_error *err)
{
	git_oid id;
	bool found;
	int rc;

	free(st->gitdir);
	st->gitdir = strip_slash(git_repository_commondir(st->repo));
	if ((flags & PS_STATE_CREATE) && (rc = check_writable(st, err)) < 0)
		return rc;
	if ((rc = check_not_checked_out(st, err)) < 0)
		return rc;
	if ((rc = state_read_ref(&id, &found, st, err)) < 0)
		return rc;
	if (found)
		return state_load_commit(st, &id, err);
	return 0;
}

int ps_state_open(ps_state **out, const char *repo_path, const char *ref,
		  unsigned flags, ps_error *err)
{
	ps_state *st;
	int rc, vacant;

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

	if ((rc = start_libgit2(st, err)) < 0 ||
	    (rc = normalise_ref(&st->ref, ref, err)) < 0)
		goto fail;
	if ((vacant = path_is_vacant(repo_path, err)) < 0) {
		rc = vacant;
		goto fail;
	}
	/* `plan` must create nothing: an absent repository is an empty
	 * snapshot. */
	if (vacant && !(flags & PS_STATE_CREATE)) {
		*out = st;
		return 0;
	}
	if ((rc = vacant ? create_repo(st, err) : open_repo(st, err)) < 0 ||
	    (rc = check_and_read(st, flags, err)) < 0)
		goto fail;
	*out = st;
	return 0;

fail:
	ps_state_free(st);
	return rc;
}

/* ---- warm-up ----------------------------------------------------------- */

/* What ps_state_warmup's opaque pointer holds. */
struct warmup {
	pthread_t thread;
	bool joined;
	bool inited; /* git_libgit2_init succeeded: finish shuts it down */
	char *repo;  /* the state repository to open (NULL: none) */
	char *ref;
	ps_state *st; /* opened, until taken */
};

static void *warmup_main(void *arg)
{
	struct warmup *w = arg;

	/* libcrypto's start-up too (loading the library and its config,
	 * fetching SHA-256), which the config's digest and the keys would
	 * pay on the main thread; a failure there is the caller's to meet
	 * again. */
	(void)ps_sha256(NULL, NULL, 0);
	/* Loading libgit2 and the libraries it brings is most of its
	 * start-up; a failure is remembered, and ps_state_open reports
	 * it. */
	if (state_git_load(NULL) == 0)
		w->inited = git_libgit2_init() >= 0;
	/* A failure is the main thread's to meet again, and report. */
	if (w->inited && w->repo &&
	    ps_state_open(&w->st, w->repo, w->ref, PS_STATE_LAZY, NULL) == 0 &&
	    w->st->repo)
		w->st->memo = ps_memo_read(w->st->gitdir);
	return NULL;
}

static void join(struct warmup *t)
{
	if (!t->joined)
		pthread_join(t->thread, NULL);
	t->joined = true;
}

static bool same(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

void ps_state_warmup_start(ps_state_warmup *w, const char *repo,
			   const char *ref)
{
	struct warmup *t = ps_calloc(1, sizeof(*t));

	t->repo = repo ? ps_strdup(repo) : NULL;
	t->ref = ref ? ps_strdup(ref) : NULL;
	w->started = pthread_create(&t->thread, NULL, warmup_main, t) == 0;
	if (!w->started) {
		free(t->repo);
		free(t->ref);
		free(t);
		t = NULL;
	}
	w->thread = t;
}

ps_state *ps_state_warmup_take(ps_state_warmup *w, const char *repo,
			       const char *ref)
{
	struct warmup *t = w && w->started ? w->thread : NULL;
	ps_state *st;

	if (!t || !t->repo)
		return NULL;
	join(t);
	st = t->st;
	t->st = NULL;
	if (st && (!same(t->repo, repo) || !same(t->ref, ref))) {
		ps_state_free(st);
		st = NULL;
	}
	if (st)
		st->owner = pthread_self();
	return st;
}

ps_memo *ps_state_take_memo(ps_state *st)
{
	ps_memo *m = st ? st->memo : NULL;

	if (st)
		st->memo = NULL;
	return m;
}

void ps_state_warmup_finish(ps_state_warmup *w)
{
	struct warmup *t;

	if (!w || !w->started)
		return;
	t = w->thread;
	/* After the join, t->inited is the thread's last write. */
	join(t);
	ps_state_free(t->st); /* not taken */
	if (t->inited)
		git_libgit2_shutdown();
	free(t->repo);
	free(t->ref);
	free(t);
	w->thread = NULL;
	w->started = false;
}

/* ---- default location -------------------------------------------------- */

/* The repository git found at `gitdir`: its work tree, or the git
 * directory when bare (malloc'd into *out). */
static int found_repo_path(char **out, const char *gitdir, ps_error *err)
{
	git_repository *repo = NULL;
	int e, rc;

	e = git_repository_open_ext(&repo, gitdir,
				    GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
	if (e < 0) {
		/* gitdir is the git directory: explain with its work tree
		 * when it is a ".git". */
		char *wd = strip_slash(gitdir);
		size_t n = strlen(wd);

		if (n > 5 && strcmp(wd + n - 5, "/.git") == 0)
			wd[n - 5] = '\0';
		rc = explain_unopenable(wd, err);
		free(wd);
		if (rc < 0) {
			git_error_clear();
			return rc;
		}
		return state_git_fail(err, PS_ERROR, e, "cannot open %s",
				      gitdir);
	}
	*out = strip_slash(git_repository_workdir(repo)
				   ? git_repository_workdir(repo)
				   : git_repository_path(repo));
	git_repository_free(repo);
	return 0;
}

/* "DIR/.pavesync-state" beside the config file (".pavesync-state" for a
 * config path without a directory). Malloc'd. */
static char *beside_config(const char *dir, bool has_dir)
{
	ps_buf b = PS_BUF_INIT;

	if (has_dir)
		ps_buf_printf(&b, "%s%s.pavesync-state", dir,
			      strcmp(dir, "/") ? "/" : "");
	else
		ps_buf_puts(&b, ".pavesync-state");
	return ps_buf_detach(&b, NULL);
}

int ps_state_default_path(char **out, const char *config_path, ps_error *err)
{
	git_buf found = { NULL, 0, 0 };
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

	if ((rc = state_git_load(err)) < 0) {
		free(dir);
		return rc;
	}
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
		rc = found_repo_path(out, found.ptr, err);
	} else if (e == GIT_ENOTFOUND) {
		git_error_clear();
		*out = beside_config(dir, slash != NULL);
	} else {
		rc = state_git_fail(err, PS_ERROR, e,
				    "cannot look for a git repository above %s",
				    dir);
	}
	git_buf_dispose(&found);
	free(dir);
	git_libgit2_shutdown();
	return rc;
}
