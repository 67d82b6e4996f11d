/*
 * The network side of the state repository: fetching and pushing the state
 * ref through the `git` command, as a child process.
 *
 * Why the git command and not libgit2's transports: what works for `git
 * push` from an account must work for `pavesync --push` from it. Only git
 * itself reads ~/.ssh/config and the key files ssh would try, checks
 * ~/.ssh/known_hosts the way ssh does, honours GIT_SSH_COMMAND,
 * core.sshCommand, url.*.insteadOf and pushurl, and asks the user's
 * credential helpers (credential.helper) for https. Debian 12's libgit2 1.5
 * does none of that (ssh through libssh2 with an agent or explicit key
 * callbacks only, no known_hosts policy, no credential helpers) and has no
 * shallow-clone protocol support (it came in libgit2 1.7).
 *
 * The child never prompts and never hangs on a person: its stdin is
 * /dev/null, it runs in a session of its own (no controlling terminal, so
 * neither git nor ssh can open /dev/tty), GIT_TERMINAL_PROMPT=0, an empty
 * GIT_ASKPASS and SSH_ASKPASS_REQUIRE=never switch every askpass off, and
 * plain ssh gets BatchMode=yes (unless the user chose an ssh command
 * through GIT_SSH_COMMAND, GIT_SSH or core.sshCommand, which is honoured as
 * it is). The argv is fixed (no shell). A timeout, the run's deadline or a
 * stop request ends the child's whole process group: SIGTERM first, so
 * that git removes its lock files, then SIGKILL. Its output is captured,
 * never passed through, and any URL credentials
 * (scheme://user:password@host) are removed before a word of it reaches an
 * error message.
 */
#ifndef PS_REMOTE_H
#define PS_REMOTE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* Seconds a fetch or push may take before the child is killed. */
#define PS_REMOTE_TIMEOUT 300.0

/* Seconds git is given to exit after SIGTERM (it then removes its lock
 * files) before its process group gets SIGKILL. */
#define PS_REMOTE_TERM_GRACE 2.0

typedef struct ps_remote_opts {
	double timeout_seconds; /* <= 0: PS_REMOTE_TIMEOUT */
	bool user_ssh_command;	/* core.sshCommand is set: leave ssh alone */
	const char *url; /* the remote's URL for messages (scrubbed), or NULL */
	/* The run's deadline in CLOCK_MONOTONIC milliseconds (0: none): git
	 * is stopped when it passes, and not started after it. */
	long deadline_ms;
	/* A stop request (SIGINT/SIGTERM; NULL: none), borrowed: git is
	 * given stop_grace_ms from when it sees *stop non-zero, none when
	 * *stop is 2 or more (a second signal). Nor is git started when it
	 * would be stopped at once. */
	const atomic_int *stop;
	long stop_grace_ms;
} ps_remote_opts;

/*
 * `git --git-dir=GITDIR fetch REMOTE +SRC:DST` (no tags, no FETCH_HEAD, no
 * submodules, no auto gc): writes the fetched objects and DST only.
 * *found is false, and 0 returned, when the remote has no SRC (DST is then
 * left as it was: the caller decides). Errors: PS_ENOTFOUND when git cannot
 * be run, PS_EAUTH for a refused host key or missing/refused credentials,
 * PS_ETRANSPORT for a timeout or the deadline, PS_ERROR otherwise (a stop
 * request among them); each message says what git said, scrubbed.
 */
int ps_remote_fetch(bool *found, const char *gitdir, const char *remote,
		    const char *src, const char *dst,
		    const ps_remote_opts *opts, ps_error *err);

/*
 * `git --git-dir=GITDIR push REMOTE REF:REF`, never forced. A refusal by
 * the remote (not a fast-forward, or a hook said no) is PS_EDIVERGED with
 * the remote's reason; other errors as for ps_remote_fetch.
 */
int ps_remote_push(const char *gitdir, const char *remote, const char *ref,
		   const ps_remote_opts *opts, ps_error *err);

/*
 * Remove the credentials of every URL in `text` (NUL-terminated, edited in
 * place): "scheme://user:password@host" and "scheme://token@host" become
 * "scheme://host".
 */
void ps_remote_scrub(char *text);

#endif
