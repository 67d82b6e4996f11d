/*
 * Fetch and push through the `git` command. See remote.h for why and for
 * the no-prompt guarantees.
 */
#include "remote.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "util.h"
#include "banned.h"

extern char **environ;

/* What we keep of git's output: its last words are the ones that matter. */
#define OUT_KEEP (16 * 1024)

/* Variables the child must not inherit: prompts, a repository other than
 * ours, translations (we read git's words), and traces that print
 * credentials (GIT_TRACE_CURL shows Authorization headers). */
static const char *const dropped_vars[] = {
	"GIT_ASKPASS",
	"SSH_ASKPASS",
	"SSH_ASKPASS_REQUIRE",
	"GIT_TERMINAL_PROMPT",
	"GCM_INTERACTIVE",
	"LC_ALL",
	"LANGUAGE",
	"GIT_DIR",
	"GIT_WORK_TREE",
	"GIT_INDEX_FILE",
	"GIT_OBJECT_DIRECTORY",
	"GIT_ALTERNATE_OBJECT_DIRECTORIES",
	"GIT_COMMON_DIR",
	"GIT_NAMESPACE",
	"GIT_TRACE",
	"GIT_TRACE_CURL",
	"GIT_TRACE_PACKET",
	"GIT_TRACE2",
	"GIT_TRACE2_EVENT",
	"GIT_TRACE2_PERF",
	"GIT_CURL_VERBOSE",
	"GIT_TRACE_SETUP",
	"GIT_TRACE_PACKFILE",
	"GIT_REDACT_COOKIES",
	NULL,
};

static bool env_has(const char *name)
{
	const char *v = getenv(name);

	return v && *v;
}

static bool dropped(const char *entry)
{
	for (size_t i = 0; dropped_vars[i]; i++) {
		size_t n = strlen(dropped_vars[i]);
		if (strncmp(entry, dropped_vars[i], n) == 0 && entry[n] == '=')
			return true;
	}
	return false;
}

/* The child's environment: ours, minus the above, plus the no-prompt
 * settings. The strings are borrowed from environ or static. */
static char **child_env(const ps_remote_opts *o)
{
	static char *const added[] = {
		"GIT_TERMINAL_PROMPT=0",
		"GIT_ASKPASS=",
		"SSH_ASKPASS_REQUIRE=never",
		"GCM_INTERACTIVE=never",
		"LC_ALL=C",
	};
	static char batch_ssh[] = "GIT_SSH_COMMAND=ssh -o BatchMode=yes";
	size_t n = 0, k = 0;
	char **env;

	while (environ && environ[n])
		n++;
	env = ps_calloc(n + sizeof(added) / sizeof(added[0]) + 2, sizeof(*env));
	for (size_t i = 0; i < n; i++)
		if (!dropped(environ[i]))
			env[k++] = environ[i];
	for (size_t i = 0; i < sizeof(added) / sizeof(added[0]); i++)
		env[k++] = added[i];
	/* The user's own ssh command (any of git's three ways) is honoured
	 * as it is; plain ssh gets BatchMode so that it fails instead of
	 * asking for a passphrase or a host key confirmation. */
	if (!env_has("GIT_SSH_COMMAND") && !env_has("GIT_SSH") &&
	    !o->user_ssh_command)
		env[k++] = batch_ssh;
	env[k] = NULL;
	return env;
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Append to a tail buffer that keeps the last OUT_KEEP bytes. */
static void keep_tail(ps_buf *out, const char *data, size_t len)
{
	if (len >= OUT_KEEP) {
		data += len - OUT_KEEP;
		len = OUT_KEEP;
	}
	if (out->len + len > OUT_KEEP) {
		size_t drop = out->len + len - OUT_KEEP;
		memmove(out->ptr, out->ptr + drop, out->len - drop);
		out->len -= drop;
		out->ptr[out->len] = '\0';
	}
	ps_buf_put(out, data, len);
}

/* Why git was stopped before it finished. */
enum stopped { RAN, TIMED_OUT, DEADLINE, STOP_REQUEST };

struct run {
	ps_buf out; /* stdout and stderr, interleaved, last OUT_KEEP */
	int status; /* exit status, or -1 when killed by a signal */
	enum stopped stopped;
};

/* Start `git ARGV...` with the child environment above, stdin /dev/null,
 * stdout and stderr into `out_fd`, in a session of its own with default
 * signal handling. *out is its pid. */
static int spawn_git(pid_t *out, int out_fd, char *const argv[],
		     const ps_remote_opts *o, ps_error *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, defaults;
	char **env = child_env(o);
	int e;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
	posix_spawn_file_actions_adddup2(&fa, out_fd, 2);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigemptyset(&defaults);
	sigaddset(&defaults, SIGPIPE);
	sigaddset(&defaults, SIGINT);
	sigaddset(&defaults, SIGTERM);
	sigaddset(&defaults, SIGHUP);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &defaults);
	/* A session of its own: no controlling terminal for git or ssh to
	 * prompt on, and one process group to kill on timeout. */
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID |
						POSIX_SPAWN_SETSIGMASK |
						POSIX_SPAWN_SETSIGDEF);
	e = posix_spawnp(out, "git", &fa, &attr, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	free(env);
	if (e == 0)
		return 0;
	if (e == ENOENT)
		return ps_error_set(err, PS_ENOTFOUND,
				    "the git command is needed to fetch "
				    "and push the state ref and was not "
				    "found in PATH");
	return ps_error_set(err, PS_ERROR, "cannot run git: %s", strerror(e));
}

/* Why git must stop now (RAN: it may go on). `stop_seen` is when the
 * stop request was first seen (0: not yet). */
static enum stopped must_stop(const ps_remote_opts *o, double now,
			      double timeout_at, double *stop_seen)
{
	int stop = o && o->stop ? atomic_load(o->stop) : 0;

	if (now >= timeout_at)
		return TIMED_OUT;
	if (o && o->deadline_ms > 0 && now * 1000.0 >= (double)o->deadline_ms)
		return DEADLINE;
	if (!stop)
		return RAN;
	if (!*stop_seen)
		*stop_seen = now;
	if (stop >= 2 ||
	    (now - *stop_seen) * 1000.0 >= (double)o->stop_grace_ms)
		return STOP_REQUEST;
	return RAN;
}

/*
 * Keep the tail of what git `pid` writes to `fd` in r->out until every
 * writer is gone or git has exited (then *exited, with *wstatus). When
 * `timeout` seconds pass, or must_stop says so, r->stopped says why and
 * git's process group gets SIGTERM, then SIGKILL PS_REMOTE_TERM_GRACE
 * seconds later.
 */
static int collect_output(struct run *r, int *wstatus, bool *exited, int fd,
			  pid_t pid, double timeout, const ps_remote_opts *o,
			  ps_error *err)
{
	double start = now_seconds(), stop_seen = 0, kill_at = 0;
	char chunk[4096];
	int e, rc = 0;

	*exited = false;
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		double now = now_seconds();
		ssize_t n;

		if (r->stopped == RAN &&
		    (r->stopped = must_stop(o, now, start + timeout,
					    &stop_seen)) != RAN) {
			kill(-pid, SIGTERM);
			kill_at = now + PS_REMOTE_TERM_GRACE;
		}
		if (r->stopped != RAN && now >= kill_at) {
			kill(-pid, SIGKILL);
			break;
		}
		/* Short slices: git may exit while a helper it started (an
		 * ssh ControlPersist master) keeps the pipe open, and a stop
		 * request is a flag to look at. */
		e = poll(&p, 1, 100);
		if (e < 0 && errno != EINTR) {
			rc = ps_error_set(err, PS_ERROR, "poll: %s",
					  strerror(errno));
			kill(-pid, SIGKILL);
			break;
		}
		if (e > 0) {
			n = read(fd, chunk, sizeof(chunk));
			if (n > 0) {
				keep_tail(&r->out, chunk, (size_t)n);
				continue;
			}
			if (n == 0 || (errno != EINTR && errno != EAGAIN))
				break; /* EOF: every writer is gone */
		}
		if (waitpid(pid, wstatus, WNOHANG) == pid) {
			*exited = true;
			/* Whatever is already in the pipe. */
			fcntl(fd, F_SETFL, O_NONBLOCK);
			while ((n = read(fd, chunk, sizeof(chunk))) > 0)
				keep_tail(&r->out, chunk, (size_t)n);
			break;
		}
	}
	return rc;
}

/*
 * Run `git ARGV...` (argv[0] is "git") with the child environment above,
 * stdin /dev/null, stdout+stderr captured, in a new session. Fails only
 * when git cannot be started; a non-zero exit is for the caller.
 */
static int run_git(struct run *r, char *const argv[], const ps_remote_opts *o,
		   ps_error *err)
{
	double timeout = o && o->timeout_seconds > 0 ? o->timeout_seconds
						     : PS_REMOTE_TIMEOUT;
	int fds[2] = { -1, -1 };
	pid_t pid = -1;
	int rc, wstatus = 0;
	bool exited = false;
	double now = now_seconds(), stop_seen = 0;

	r->status = -1;
	/* Not started when it would be stopped at once. */
	if ((r->stopped = must_stop(o, now, now + timeout, &stop_seen)) != RAN)
		return 0;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return ps_error_set(err, PS_ERROR, "cannot create a pipe: %s",
				    strerror(errno));
	rc = spawn_git(&pid, fds[1], argv, o, err);
	close(fds[1]);
	if (rc < 0) {
		close(fds[0]);
		return rc;
	}
	rc = collect_output(r, &wstatus, &exited, fds[0], pid, timeout, o, err);
	close(fds[0]);
	if (!exited) {
		while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
			;
	}
	if (WIFEXITED(wstatus))
		r->status = WEXITSTATUS(wstatus);
	return rc;
}

void ps_remote_scrub(char *text)
{
	char *p = text;

	while ((p = strstr(p, "://")) != NULL) {
		char *host = p + 3, *q = host, *at = NULL;

		/* The authority ends at '/', whitespace, a quote or the end;
		 * its last '@' ends the user information. */
		while (*q && *q != '/' && *q != ' ' && *q != '\t' &&
		       *q != '\n' && *q != '\'' && *q != '"' && *q != '?' &&
		       *q != '#') {
			if (*q == '@')
				at = q;
			q++;
		}
		if (at)
			memmove(host, at + 1, strlen(at + 1) + 1);
		p = host;
	}
}

/*
 * git's words for a message: scrubbed, control characters replaced,
 * "hint:" lines dropped, the last few lines joined with "; ".
 */
static void summarise(char *out, size_t outlen, ps_buf *raw)
{
	char *lines[4] = { NULL, NULL, NULL, NULL };
	size_t nl = 0;
	char *s, *save = NULL;
	ps_buf b = PS_BUF_INIT;

	*out = '\0';
	if (!raw->ptr)
		return;
	ps_remote_scrub(raw->ptr);
	raw->len = strlen(raw->ptr);
	for (size_t i = 0; i < raw->len; i++) {
		unsigned char c = (unsigned char)raw->ptr[i];
		if (c == '\r')
			raw->ptr[i] = '\n';
		else if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
			raw->ptr[i] = '?';
	}
	for (s = strtok_r(raw->ptr, "\n", &save); s;
	     s = strtok_r(NULL, "\n", &save)) {
		while (*s == ' ' || *s == '\t')
			s++;
		/* git's and ssh's boilerplate says nothing about the cause. */
		if (!*s || strncmp(s, "hint:", 5) == 0 || *s == '@' ||
		    strncmp(s, "Could not read from remote", 26) == 0 ||
		    strncmp(s, "Please make sure you have", 25) == 0 ||
		    strncmp(s, "and the repository exists", 25) == 0 ||
		    strncmp(s, "To ", 3) == 0 || strcmp(s, "Done") == 0 ||
		    strncmp(s, "From ", 5) == 0)
			continue;
		if (strncmp(s, "fatal: ", 7) == 0)
			s += 7;
		else if (strncmp(s, "error: ", 7) == 0)
			s += 7;
		if (nl == 4) {
			memmove(lines, lines + 1, 3 * sizeof(lines[0]));
			nl = 3;
		}
		lines[nl++] = s;
	}
	for (size_t i = 0; i < nl; i++) {
		size_t n = strlen(lines[i]);
		while (n && (lines[i][n - 1] == '.' || lines[i][n - 1] == ' '))
			lines[i][--n] = '\0';
		ps_buf_printf(&b, "%s%s", i ? "; " : "", lines[i]);
	}
	ps_strlcpy(out, b.ptr ? b.ptr : "", outlen);
	ps_buf_release(&b);
}

static bool said(const struct run *r, const char *words)
{
	return r->out.ptr && strstr(r->out.ptr, words) != NULL;
}

/* A failed run as a ps_error: host keys and credentials get their own
 * sentence, because they are what an unattended run most often meets. */
static int run_failed(struct run *r, const char *what, const ps_remote_opts *o,
		      ps_error *err)
{
	char words[PS_ERROR_MSG_MAX];
	const char *url = o && o->url ? o->url : "";
	bool hostkey = said(r, "Host key verification failed") ||
		       said(r, "REMOTE HOST IDENTIFICATION HAS CHANGED") ||
		       said(r, "host key for");
	bool creds = said(r, "terminal prompts disabled") ||
		     said(r, "could not read Username") ||
		     said(r, "could not read Password") ||
		     said(r, "Authentication failed") ||
		     said(r, "Permission denied (") ||
		     said(r, "HTTP Basic: Access denied");
	bool changed = said(r, "REMOTE HOST IDENTIFICATION HAS CHANGED") ||
		       said(r, "Host key for") || said(r, "Offending");
	double t = o && o->timeout_seconds > 0 ? o->timeout_seconds
					       : PS_REMOTE_TIMEOUT;

	summarise(words, sizeof(words) / 2, &r->out);
	if (r->stopped == TIMED_OUT)
		return ps_error_set(err, PS_ETRANSPORT,
				    "%s%s%s%s: git did not finish within %.0f "
				    "seconds and was stopped",
				    what, *url ? " (" : "", url,
				    *url ? ")" : "", t);
	if (r->stopped == DEADLINE)
		return ps_error_set(err, PS_ETRANSPORT,
				    "%s%s%s%s: the run's deadline passed "
				    "(--deadline) before git finished",
				    what, *url ? " (" : "", url,
				    *url ? ")" : "");
	if (r->stopped == STOP_REQUEST)
		return ps_error_set(err, PS_ERROR,
				    "%s%s%s%s: interrupted (SIGINT/SIGTERM) "
				    "before git finished",
				    what, *url ? " (" : "", url,
				    *url ? ")" : "");
	if (hostkey)
		return ps_error_set(
			err, PS_EAUTH,
			"%s%s%s%s: the server's ssh host key %s; "
			"pavesync refuses it as ssh does (check the "
			"key and put it in ~/.ssh/known_hosts): %s",
			what, *url ? " (" : "", url, *url ? ")" : "",
			changed ? "has CHANGED since it was recorded "
				  "in ~/.ssh/known_hosts"
				: "is not in ~/.ssh/known_hosts",
			words);
	if (creds)
		return ps_error_set(
			err, PS_EAUTH,
			"%s%s%s%s: the remote wants credentials that "
			"are missing or were refused, and pavesync "
			"never prompts (ssh: a key in ~/.ssh or an "
			"agent; https: a git credential helper): %s",
			what, *url ? " (" : "", url, *url ? ")" : "", words);
	return ps_error_set(err, PS_ERROR, "%s%s%s%s: %s", what,
			    *url ? " (" : "", url, *url ? ")" : "",
			    *words ? words : "git failed without a message");
}

int ps_remote_fetch(bool *found, const char *gitdir, const char *remote,
		    const char *src, const char *dst,
		    const ps_remote_opts *opts, ps_error *err)
{
	struct run r = { PS_BUF_INIT, -1, RAN };
	ps_buf gd = PS_BUF_INIT, spec = PS_BUF_INIT, what = PS_BUF_INIT;
	char *argv[16];
	size_t a = 0;
	int rc;

	*found = false;
	ps_buf_printf(&gd, "--git-dir=%s", gitdir);
	ps_buf_printf(&spec, "+%s:%s", src, dst);
	argv[a++] = "git";
	argv[a++] = gd.ptr;
	argv[a++] = "fetch";
	argv[a++] = "--quiet";
	argv[a++] = "--no-tags";
	argv[a++] = "--no-write-fetch-head";
	argv[a++] = "--no-recurse-submodules";
	argv[a++] = "--no-auto-gc";
	argv[a++] = "--no-auto-maintenance";
	argv[a++] = "--";
	argv[a++] = (char *)remote;
	argv[a++] = spec.ptr;
	argv[a] = NULL;
	if ((rc = run_git(&r, argv, opts, err)) < 0)
		goto cleanup;
	if (r.status == 0) { /* it finished, even if just stopped */
		*found = true;
		goto cleanup;
	}
	if (r.stopped == RAN && said(&r, "couldn't find remote ref"))
		goto cleanup; /* the remote has no state yet */
	ps_buf_printf(&what, "cannot fetch %s from %s", src, remote);
	rc = run_failed(&r, what.ptr, opts, err);

cleanup:
	ps_buf_release(&r.out);
	ps_buf_release(&gd);
	ps_buf_release(&spec);
	ps_buf_release(&what);
	return rc;
}

/* "!\tSRC:DST\t[rejected] (fetch first)" → "rejected: fetch first". */
static bool push_refusal(char *out, size_t outlen, const struct run *r)
{
	const char *p = r->out.ptr;

	while (p && *p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);

		if (len > 2 && p[0] == '!' && p[1] == '\t') {
			const char *tab = memchr(p + 2, '\t', len - 2);
			char line[256];
			size_t n = 0;

			if (tab) {
				for (const char *c = tab + 1;
				     c < p + len && n + 1 < sizeof(line); c++)
					if (*c != '[' && *c != ']' &&
					    *c != '(' && *c != ')')
						line[n++] =
							(unsigned char)*c < 0x20
								? '?'
								: *c;
			}
			line[n] = '\0';
			ps_strlcpy(out, n ? line : "rejected", outlen);
			return true;
		}
		p = eol ? eol + 1 : NULL;
	}
	return false;
}

int ps_remote_push(const char *gitdir, const char *remote, const char *ref,
		   const ps_remote_opts *opts, ps_error *err)
{
	struct run r = { PS_BUF_INIT, -1, RAN };
	ps_buf gd = PS_BUF_INIT, spec = PS_BUF_INIT, what = PS_BUF_INIT;
	char reason[256];
	char *argv[12];
	size_t a = 0;
	int rc;

	ps_buf_printf(&gd, "--git-dir=%s", gitdir);
	/* No '+': the remote takes nothing but a fast-forward. */
	ps_buf_printf(&spec, "%s:%s", ref, ref);
	argv[a++] = "git";
	argv[a++] = gd.ptr;
	argv[a++] = "push";
	argv[a++] = "--porcelain";
	argv[a++] = "--no-recurse-submodules";
	argv[a++] = "--";
	argv[a++] = (char *)remote;
	argv[a++] = spec.ptr;
	argv[a] = NULL;
	if ((rc = run_git(&r, argv, opts, err)) < 0)
		goto cleanup;
	if (r.status == 0) /* it finished, even if just stopped */
		goto cleanup;
	if (r.stopped == RAN && push_refusal(reason, sizeof(reason), &r)) {
		ps_remote_scrub(reason);
		rc = ps_error_set(err, PS_EDIVERGED,
				  "%s rejected the update of %s (%s); pavesync "
				  "never force-pushes: fetch and run again, or "
				  "merge the state ref by hand",
				  remote, ref, reason);
		goto cleanup;
	}
	ps_buf_printf(&what, "cannot push %s to %s", ref, remote);
	rc = run_failed(&r, what.ptr, opts, err);

cleanup:
	ps_buf_release(&r.out);
	ps_buf_release(&gd);
	ps_buf_release(&spec);
	ps_buf_release(&what);
	return rc;
}
