/*
 * The run lock (SPEC §3): <gitdir>/pavesync.lock.
 *
 * Mutual exclusion comes from flock(2), not from the file's existence: the
 * kernel drops the lock when its holder dies, however it dies, so a killed
 * run can never wedge the next one. The file's content ("pid P", "host H",
 * "started T") is only there to tell people who holds it; content found by
 * a run that has just obtained the flock was left by a holder that died
 * without cleaning up, and is reported as a stale lock taken over.
 *
 * Release unlinks the file while still holding the flock. A waiter that
 * opened the old file then obtains a lock on an unlinked inode, so after
 * every successful flock we check that the path still names the inode we
 * locked, and start again when it does not.
 */
#include "lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "util.h"
#include "banned.h"

#define LOCK_FILE "pavesync.lock"
#define POLL_NS (50L * 1000 * 1000)
/* A ref .lock is held for milliseconds by a live git or libgit2 write, so
 * one is first given this long to go away. Only one older than
 * REF_LOCK_STALE is taken for what a killed write left and removed: no
 * live writer holds a ref lock for minutes. A younger one stops the run
 * before any API call (its commit would fail). */
#define REF_LOCK_GRACE 1.0
#define REF_LOCK_STALE 600.0

struct ps_lock {
	int fd;
	char *path;
};

struct holder {
	char pid[32];
	char host[256];
	char started[64];
	bool any; /* the file had any content at all */
};

static double now_monotonic(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void nap(double seconds)
{
	struct timespec ts;

	if (seconds <= 0)
		return;
	if (seconds > (double)POLL_NS / 1e9)
		seconds = (double)POLL_NS / 1e9;
	ts.tv_sec = 0;
	ts.tv_nsec = (long)(seconds * 1e9);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Copy the value of "KEY value" lines into the holder. */
static void field(char *dst, size_t dstlen, const char *line, size_t len,
		  const char *key)
{
	size_t klen = strlen(key);
	size_t n;

	if (len <= klen || memcmp(line, key, klen) != 0 || line[klen] != ' ')
		return;
	n = len - klen - 1;
	if (n >= dstlen)
		n = dstlen - 1;
	memcpy(dst, line + klen + 1, n);
	dst[n] = '\0';
	/* Another process wrote this: keep it printable. */
	for (char *p = dst; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

static void read_holder(struct holder *h, int fd)
{
	char buf[1024];
	ssize_t n;
	const char *p, *end;

	memset(h, 0, sizeof(*h));
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return;
	buf[n] = '\0';
	h->any = true;
	for (p = buf, end = buf + n; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);

		field(h->pid, sizeof(h->pid), p, len, "pid");
		field(h->host, sizeof(h->host), p, len, "host");
		field(h->started, sizeof(h->started), p, len, "started");
		p += len + 1;
	}
}

static void describe(ps_buf *b, const struct holder *h)
{
	ps_buf_printf(b, "pid %s on %s", h->pid[0] ? h->pid : "?",
		      h->host[0] ? h->host : "an unknown host");
}

static void append_warning(char *warning, size_t warnlen, const char *text)
{
	size_t n;

	if (!warning || !warnlen)
		return;
	n = strlen(warning);
	if (n && n + 2 < warnlen) {
		memcpy(warning + n, "; ", 3);
		n += 2;
	}
	if (n < warnlen)
		ps_strlcpy(warning + n, text, warnlen - n);
}

static int write_holder(int fd, const char *path, ps_error *err)
{
	ps_buf b = PS_BUF_INIT;
	char host[256], started[32];
	time_t now = time(NULL);
	struct tm tm;
	ssize_t w;
	int rc = 0;

	if (gethostname(host, sizeof(host)) < 0)
		ps_strlcpy(host, "localhost", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	gmtime_r(&now, &tm);
	strftime(started, sizeof(started), "%Y-%m-%dT%H:%M:%SZ", &tm);
	ps_buf_printf(&b, "pid %ld\nhost %s\nstarted %s\n", (long)getpid(),
		      host, started);
	errno = 0;
	if (ftruncate(fd, 0) < 0 || (w = pwrite(fd, b.ptr, b.len, 0)) < 0 ||
	    (size_t)w != b.len || fsync(fd) < 0)
		rc = ps_error_set(err, PS_ERROR, "cannot write the lock %s: %s",
				  path,
				  errno ? strerror(errno) : "short write");
	ps_buf_release(&b);
	return rc;
}

/*
 * Remove <gitdir>/<ref>.lock left by a libgit2 (or git) ref update that was
 * killed half-way: while it exists, every update of the ref fails. We hold
 * the run lock, so no pavesync is writing; but a git command of the user's
 * may be, so the file is removed only when it is older than
 * REF_LOCK_STALE, or when it was made while a pavesync run that has since
 * died held the run lock (dead_since: when that run took it; NULL when the
 * last holder released it cleanly): pavesync writes the state ref only
 * under the run lock, so such a file is that run's. Anything else that
 * does not go away within REF_LOCK_GRACE is PS_ELOCKED.
 */
static int clear_ref_lock(const char *gitdir, const char *ref,
			  const struct timespec *dead_since, char *warning,
			  size_t warnlen, ps_error *err)
{
	ps_buf path = PS_BUF_INIT, msg = PS_BUF_INIT;
	double start = now_monotonic(), age = 0;
	bool left_by_dead = false;
	struct stat sb;
	int rc = 0;

	if (!ref || strncmp(ref, "refs/", 5) != 0 || strstr(ref, "..") ||
	    strstr(ref, "//"))
		return 0;
	ps_buf_printf(&path, "%s/%s.lock", gitdir, ref);
	for (;;) {
		struct timespec now;

		if (lstat(path.ptr, &sb) < 0 || !S_ISREG(sb.st_mode))
			goto cleanup;
		clock_gettime(CLOCK_REALTIME, &now);
		age = (double)(now.tv_sec - sb.st_mtim.tv_sec) +
		      (double)(now.tv_nsec - sb.st_mtim.tv_nsec) / 1e9;
		if (age >= REF_LOCK_STALE ||
		    now_monotonic() - start >= REF_LOCK_GRACE)
			break;
		nap(REF_LOCK_GRACE);
	}
	left_by_dead =
		dead_since && (sb.st_mtim.tv_sec > dead_since->tv_sec ||
			       (sb.st_mtim.tv_sec == dead_since->tv_sec &&
				sb.st_mtim.tv_nsec >= dead_since->tv_nsec));
	if (age < REF_LOCK_STALE && !left_by_dead) {
		rc = ps_error_set(
			err, PS_ELOCKED,
			"the state ref is locked by %s (%.0f s old): a "
			"git command may be updating it. Nothing was "
			"done; run again later. A lock left by a write "
			"killed half-way is removed once it is %.0f "
			"minutes old (or remove it yourself when no git "
			"command is running)",
			path.ptr, age, REF_LOCK_STALE / 60);
		goto cleanup;
	}
	if (unlink(path.ptr) == 0) {
		if (age >= REF_LOCK_STALE)
			ps_buf_printf(&msg,
				      "removed a stale ref lock %s (%.0f "
				      "minutes old: no live git write holds "
				      "one that long) left by an interrupted "
				      "write",
				      path.ptr, age / 60);
		else
			ps_buf_printf(&msg,
				      "removed the ref lock %s left by "
				      "the pavesync run that died holding the "
				      "run lock",
				      path.ptr);
		append_warning(warning, warnlen, msg.ptr);
	}

cleanup:
	ps_buf_release(&path);
	ps_buf_release(&msg);
	return rc;
}

/*
 * Open the lock file `path` and take its flock, polling until `deadline`
 * (now_monotonic() time); *out_fd is then the locked descriptor. Fails
 * with PS_ELOCKED naming the holder once the deadline has passed.
 */
static int take_flock(int *out_fd, const char *path, double deadline,
		      ps_error *err)
{
	ps_buf msg = PS_BUF_INIT;
	struct holder h;
	struct stat fsb, psb;
	int fd, rc;

	*out_fd = -1;
	for (;;) {
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
			  0644);
		if (fd < 0)
			return ps_error_set(err, PS_ERROR,
					    "cannot open the lock %s: %s", path,
					    strerror(errno));
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			/* Did a releasing holder unlink it meanwhile? */
			if (fstat(fd, &fsb) == 0 && stat(path, &psb) == 0 &&
			    fsb.st_ino == psb.st_ino &&
			    fsb.st_dev == psb.st_dev) {
				*out_fd = fd;
				return 0;
			}
			close(fd);
			continue;
		}
		if (errno != EWOULDBLOCK && errno != EINTR) {
			rc = ps_error_set(err, PS_ERROR, "cannot lock %s: %s",
					  path, strerror(errno));
			unlink(path);
			close(fd);
			return rc;
		}
		read_holder(&h, fd);
		close(fd);
		if (now_monotonic() >= deadline)
			break;
		nap(deadline - now_monotonic());
	}
	ps_buf_printf(&msg, "another pavesync run holds the lock %s (", path);
	describe(&msg, &h);
	if (h.started[0])
		ps_buf_printf(&msg, " since %s", h.started);
	ps_buf_putc(&msg, ')');
	rc = ps_error_set(err, PS_ELOCKED, "%s", msg.ptr);
	ps_buf_release(&msg);
	return rc;
}

/*
 * We hold the flock on `fd`, so whoever wrote any content into the file is
 * gone: say so in `warning`. True when *dead_since is set: when that run
 * took the lock (the file's mtime); false when the file was empty (the
 * last holder released it cleanly).
 */
static bool note_dead_holder(struct timespec *dead_since, int fd, char *warning,
			     size_t warnlen)
{
	ps_buf msg = PS_BUF_INIT;
	struct holder h;
	struct stat sb;
	bool dead = false;

	read_holder(&h, fd);
	if (!h.any)
		return false;
	if (fstat(fd, &sb) == 0) {
		*dead_since = sb.st_mtim;
		dead = true;
	}
	ps_buf_puts(&msg, "taking over a stale lock left by ");
	describe(&msg, &h);
	if (h.started[0])
		ps_buf_printf(&msg, " (started %s)", h.started);
	append_warning(warning, warnlen, msg.ptr);
	ps_buf_release(&msg);
	return dead;
}

int ps_lock_acquire(ps_lock **out, char *warning, size_t warnlen,
		    const char *gitdir, const char *ref, double timeout_seconds,
		    ps_error *err)
{
	ps_buf path = PS_BUF_INIT;
	struct timespec dead_since;
	bool dead;
	ps_lock *lock;
	int fd = -1, rc = 0;

	*out = NULL;
	if (warning && warnlen)
		warning[0] = '\0';
	if (!gitdir || !*gitdir)
		return ps_error_set(err, PS_EINVALID,
				    "no git directory to hold the lock");
	if (!(timeout_seconds > 0))
		timeout_seconds = 0; /* also catches NaN */
	ps_buf_printf(&path, "%s/" LOCK_FILE, gitdir);

	if ((rc = take_flock(&fd, path.ptr, now_monotonic() + timeout_seconds,
			     err)) < 0)
		goto cleanup;
	dead = note_dead_holder(&dead_since, fd, warning, warnlen);
	if ((rc = write_holder(fd, path.ptr, err)) < 0)
		goto cleanup;
	if ((rc = clear_ref_lock(gitdir, ref, dead ? &dead_since : NULL,
				 warning, warnlen, err)) < 0)
		goto cleanup;

	lock = ps_calloc(1, sizeof(*lock));
	lock->fd = fd;
	lock->path = ps_buf_detach(&path, NULL);
	fd = -1;
	*out = lock;

cleanup:
	if (fd >= 0) {
		/* Failed after taking it: leave no half-written lock. */
		unlink(path.ptr);
		close(fd);
	}
	ps_buf_release(&path);
	return rc;
}

void ps_lock_free(ps_lock *lock)
{
	if (!lock)
		return;
	/* Unlink while still holding the flock, so nobody can take the
	 * lock on this inode and believe the path is theirs. */
	unlink(lock->path);
	close(lock->fd);
	free(lock->path);
	free(lock);
}
