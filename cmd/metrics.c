/*
 * --metrics-file: the run's outcome in the Prometheus text exposition format,
 * for node_exporter's textfile collector. The file is replaced atomically (a
 * unique temporary file in the same directory, created with O_EXCL, synced,
 * renamed over the old one), so the collector never reads half a file.
 * pavesync_last_success_timestamp_seconds is carried over from the previous
 * file when this run failed, so "no success for N minutes" can be alerted on.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cmd.h"
#include "util.h"
#include "banned.h"

#define LAST_SUCCESS "pavesync_last_success_timestamp_seconds"

static struct timespec g_metrics_start;

void metrics_start(void)
{
	clock_gettime(CLOCK_MONOTONIC, &g_metrics_start);
}

/* The previous file's last success, or 0 when there is none. */
static double previous_success(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512];
	double v = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		size_t n = strlen(LAST_SUCCESS);
		char *end;
		double x;

		if (strncmp(line, LAST_SUCCESS, n) || line[n] != ' ')
			continue;
		errno = 0;
		x = strtod(line + n + 1, &end);
		if (!errno && end != line + n + 1 && x > 0)
			v = x;
	}
	fclose(f);
	return v;
}

static void family(ps_buf *b, const char *name, const char *help)
{
	ps_buf_printf(b, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

/* A label value, escaped as the exposition format wants. */
static void label(ps_buf *b, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			ps_buf_putc(b, '\\');
		if (*v == '\n') {
			ps_buf_puts(b, "\\n");
			continue;
		}
		ps_buf_putc(b, *v);
	}
}

static void render(ps_buf *b, const ps_plan *plan, bool applied, bool success,
		   double now, double last_success, double duration)
{
	static const char *const origins[] = { "config", "dashboard",
					       "conflict" };
	size_t i, j, k, failures = 0;

	family(b, "pavesync_last_run_timestamp_seconds",
	       "When the last pavesync run ended (Unix time).");
	ps_buf_printf(b, "pavesync_last_run_timestamp_seconds %.3f\n", now);
	family(b, LAST_SUCCESS,
	       "When the last successful pavesync run ended (Unix time).");
	ps_buf_printf(b, LAST_SUCCESS " %.3f\n", last_success);
	family(b, "pavesync_last_run_success",
	       "1 when the last run succeeded, 0 when it failed.");
	ps_buf_printf(b, "pavesync_last_run_success %d\n", success ? 1 : 0);
	family(b, "pavesync_run_duration_seconds",
	       "How long the last run took.");
	ps_buf_printf(b, "pavesync_run_duration_seconds %.3f\n", duration);

	family(b, "pavesync_changes",
	       applied ? "Changes the last run applied, by account and action."
		       : "Changes the last run planned, by account and "
			 "action.");
	for (i = 0; plan && i < plan->naccounts; i++) {
		const ps_account_plan *ap = &plan->accounts[i];
		size_t n[3] = { 0, 0, 0 };

		for (j = 0; j < ap->nchanges; j++)
			if (!applied || ap->changes[j].status == PS_DONE)
				n[ap->changes[j].action]++;
		for (k = 0; k < 3; k++) {
			ps_buf_puts(b, "pavesync_changes{account=\"");
			label(b, ap->name);
			ps_buf_printf(b, "\",action=\"%s\"} %zu\n",
				      ps_action_name((ps_action)k), n[k]);
		}
	}
	family(b, "pavesync_drift",
	       "Changes the last run found, by account and where they came "
	       "from.");
	for (i = 0; plan && i < plan->naccounts; i++) {
		const ps_account_plan *ap = &plan->accounts[i];
		size_t n[3] = { 0, 0, 0 };

		for (j = 0; j < ap->nchanges; j++)
			n[ap->changes[j].origin]++;
		for (k = 0; k < 3; k++) {
			ps_buf_puts(b, "pavesync_drift{account=\"");
			label(b, ap->name);
			ps_buf_printf(b, "\",origin=\"%s\"} %zu\n", origins[k],
				      n[k]);
		}
	}
	for (i = 0; plan && i < plan->naccounts; i++) {
		const ps_account_plan *ap = &plan->accounts[i];
		if (ap->error)
			failures++;
		for (j = 0; j < ap->nchanges; j++)
			if (ap->changes[j].status == PS_FAILED)
				failures++;
	}
	if (!success && !failures)
		failures = 1; /* the run failed as a whole */
	family(b, "pavesync_failures",
	       "Failed changes and account errors in the last run (at least 1 "
	       "when it failed).");
	ps_buf_printf(b, "pavesync_failures %zu\n", failures);
}

/* Write `text` to `path` through a unique temporary file in its directory. */
static int replace_file(const char *path, const char *text, size_t len)
{
	ps_buf tmp = PS_BUF_INIT;
	const char *slash = strrchr(path, '/');
	int fd = -1, rc = -1, tries, saved;
	size_t off = 0;

	for (tries = 0; tries < 100 && fd < 0; tries++) {
		ps_buf_reset(&tmp);
		if (slash)
			ps_buf_put(&tmp, path, (size_t)(slash - path + 1));
		ps_buf_printf(&tmp, ".%s.%ld.%d.tmp", slash ? slash + 1 : path,
			      (long)getpid(), tries);
		fd = open(tmp.ptr,
			  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			  0644);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0)
		goto cleanup;
	/* node_exporter runs as another user: readable whatever the umask. */
	if (fchmod(fd, 0644) < 0)
		goto fail;
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		off += (size_t)n;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp.ptr, path) < 0)
		goto fail;
	rc = 0;
	goto cleanup;
fail:
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp.ptr);
	errno = saved;
cleanup:
	ps_buf_release(&tmp);
	return rc;
}

void metrics_write(const struct opts *o, const ps_plan *plan, bool applied,
		   int rc)
{
	struct timespec now, end;
	ps_buf b = PS_BUF_INIT;
	bool success =
		applied ? rc == EXIT_OK : (rc == EXIT_OK || rc == EXIT_CHANGES);
	double t, duration, last;

	/* Another run holds the lock: that run reports, not this one. */
	if (!o->metrics_file || rc == EXIT_LOCKED)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	clock_gettime(CLOCK_MONOTONIC, &end);
	t = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
	duration = (double)(end.tv_sec - g_metrics_start.tv_sec) +
		   (double)(end.tv_nsec - g_metrics_start.tv_nsec) / 1e9;
	last = success ? t : previous_success(o->metrics_file);
	render(&b, plan, applied, success, t, last, duration);
	if (replace_file(o->metrics_file, b.ptr, b.len) < 0)
		out_warning("cannot write the metrics file %s: %s",
			    o->metrics_file, strerror(errno));
	ps_buf_release(&b);
}
