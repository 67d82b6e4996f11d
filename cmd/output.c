/*
 * Everything a person sees goes through here: messages on stderr (silenced
 * by -q where they are not errors), plan rendering on stdout, colour, and the
 * progress line.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cmd.h"
#include "hmac.h"
#include "json.h"
#include "util.h"
#include "banned.h"

static const struct opts *g_opts;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static bool g_progress_shown;
static struct timespec g_start;

void out_init(const struct opts *o)
{
	g_opts = o;
	clock_gettime(CLOCK_MONOTONIC, &g_start);
}

static bool color_on(void)
{
	return g_opts && g_opts->color;
}

const char *c_green(void)
{
	return color_on() ? "\033[32m" : "";
}
const char *c_yellow(void)
{
	return color_on() ? "\033[33m" : "";
}
const char *c_red(void)
{
	return color_on() ? "\033[31m" : "";
}
const char *c_bold(void)
{
	return color_on() ? "\033[1m" : "";
}
const char *c_dim(void)
{
	return color_on() ? "\033[2m" : "";
}
const char *c_reset(void)
{
	return color_on() ? "\033[0m" : "";
}

/* Clear a progress line before another message goes to stderr. */
static void clear_progress(void)
{
	if (g_progress_shown) {
		fputs("\r\033[K", stderr);
		g_progress_shown = false;
	}
}

/*
 * Every message may carry text from the server or the config (an API error
 * message, an event name, a key): control characters are escaped on the
 * way out (ps_buf_put_printable), so no such text reaches the terminal raw.
 */
static void vmsg(const char *prefix, const char *fmt, va_list ap)
{
	ps_buf raw = PS_BUF_INIT, safe = PS_BUF_INIT;

	(void)ps_buf_vprintf(&raw, fmt, ap);
	(void)ps_buf_put_printable(&safe, raw.ptr, raw.len, true);
	pthread_mutex_lock(&g_mu);
	clear_progress();
	if (prefix)
		fputs(prefix, stderr);
	fputs(ps_buf_status(&safe) ? "(message too long to show)" : safe.ptr,
	      stderr);
	fputc('\n', stderr);
	pthread_mutex_unlock(&g_mu);
	ps_buf_release(&raw);
	ps_buf_release(&safe);
}

void out_safe(FILE *f, const char *s)
{
	ps_buf b = PS_BUF_INIT;

	if (!s)
		return;
	(void)ps_buf_put_printable(&b, s, strlen(s), false);
	fputs(ps_buf_status(&b) ? "(too long to show)" : b.ptr, f);
	ps_buf_release(&b);
}

void out_diag(const ps_error *e)
{
	char line[PS_ERROR_MSG_MAX + PS_ERROR_SOURCE_MAX + 64];

	out_safe(stderr, ps_error_format(e, line, sizeof(line)));
	fputc('\n', stderr);
}

void out_oom(void)
{
	const char *why = ps_hmac_unavailable();

	/* libcrypto is loaded, not linked: the library treats its failure
	 * as it does running out of memory, but without it nothing can be
	 * done, and the user should hear why, with status 1, as for any
	 * error (no flush: another thread may hold stdout's lock). */
	if (why) {
		fputs("pavesync: ", stderr);
		fputs(why, stderr);
		fputs("\n", stderr);
		_exit(1);
	}
	/* No ps_buf and no lock: memory ran out, maybe inside vmsg. */
	fputs("pavesync: out of memory\n", stderr);
}

void out_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("error: ", fmt, ap);
	va_end(ap);
}

void out_warning(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("warning: ", fmt, ap);
	va_end(ap);
}

void out_info(const char *fmt, ...)
{
	va_list ap;

	if (g_opts && g_opts->quiet)
		return;
	va_start(ap, fmt);
	vmsg(NULL, fmt, ap);
	va_end(ap);
}

void out_verbose(const char *fmt, ...)
{
	va_list ap;

	if (!g_opts || !g_opts->verbose)
		return;
	va_start(ap, fmt);
	vmsg(NULL, fmt, ap);
	va_end(ap);
}

void out_plain(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(NULL, fmt, ap);
	va_end(ap);
}

/* Our own words, so written as they are (no escaping, never silenced). */
void out_usage(const char *text, bool to_stderr)
{
	fputs(text, to_stderr ? stderr : stdout);
}

/* The message quotes the argument as the user typed it: written as
 * formatted, like the help it points to. */
void out_usage_error(const char *cmd, const char *fmt, va_list ap)
{
	fputs("error: ", stderr);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\nsee 'pavesync %s%s--help'\n", cmd ? cmd : "",
		cmd ? " " : "");
}

void out_config_diags(const ps_diags *diags, const char *path, int rc)
{
	size_t i;

	for (i = 0; i < diags->count; i++)
		out_diag(&diags->items[i]);
	if (rc < 0 && !diags->count)
		out_error("cannot load %s", path);
}

void out_ps_error(const ps_error *e)
{
	char line[PS_ERROR_MSG_MAX + PS_ERROR_SOURCE_MAX + 64];

	out_error("%s", ps_error_format(e, line, sizeof(line)));
}

void out_config_warnings(const ps_config *cfg)
{
	ps_diags w = PS_DIAGS_INIT;
	char line[PS_ERROR_MSG_MAX + PS_ERROR_SOURCE_MAX + 64];
	size_t i;

	ps_config_warnings(&w, cfg);
	for (i = 0; i < w.count; i++)
		out_warning("%s",
			    ps_error_format(&w.items[i], line, sizeof(line)));
	ps_diags_clear(&w);
}

void out_notice(void *ctx, ps_notice_level level, const char *text)
{
	(void)ctx;
	switch (level) {
	case PS_NOTICE_INFO:
		out_info("%s", text);
		break;
	case PS_NOTICE_WARNING:
		out_warning("%s", text);
		break;
	case PS_NOTICE_ERROR:
		out_error("%s", text);
		break;
	}
}

void out_log_line(void *ctx, const char *line)
{
	(void)ctx;
	out_verbose("%s", line);
}

void out_progress(void *ctx, size_t done, size_t total, size_t failed)
{
	struct timespec now;
	double elapsed;

	(void)ctx;
	if (!isatty(STDERR_FILENO) || (g_opts && g_opts->quiet) || total < 2)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	elapsed = (double)(now.tv_sec - g_start.tv_sec) +
		  (double)(now.tv_nsec - g_start.tv_nsec) / 1e9;
	pthread_mutex_lock(&g_mu);
	fprintf(stderr, "\r\033[K[%zu/%zu] %zu failed, %.1fs", done, total,
		failed, elapsed);
	g_progress_shown = true;
	pthread_mutex_unlock(&g_mu);
}

void out_progress_end(void)
{
	pthread_mutex_lock(&g_mu);
	clear_progress();
	pthread_mutex_unlock(&g_mu);
}

/* jansson escapes C0 but leaves DEL and the C1 controls (U+0080..U+009F,
 * UTF-8 C2 80..C2 9F) raw, and a terminal may act on C1's CSI. They can
 * only stand inside strings, so writing them as \u00XX is the same JSON. */
void out_json(const json_t *doc)
{
	char *s = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
	const unsigned char *p;

	if (!s)
		return;
	for (p = (const unsigned char *)s; *p; p++) {
		if (*p == 0x7f) {
			fputs("\\u007f", stdout);
		} else if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			fprintf(stdout, "\\u%04x", p[1]);
			p++;
		} else {
			fputc(*p, stdout);
		}
	}
	fputc('\n', stdout);
	free(s);
}

/* ---- show, history ---- */

void out_snapshot_text(const json_t *all, const char *head, const char *ref)
{
	const char *name;
	json_t *doc;

	printf("%ssnapshot %.12s%s (%s)\n", c_dim(), head, c_reset(), ref);
	json_object_foreach((json_t *)all, name, doc)
	{
		const char *ev;
		json_t *cb;
		printf("\n%saccount ", c_bold());
		out_safe(stdout, name);
		printf("%s\n", c_reset());
		json_object_foreach(json_object_get(doc, "callbacks"), ev, cb)
		{
			char *hdr =
				ps_json_compact(json_object_get(cb, "headers"));
			char *pl =
				ps_json_compact(json_object_get(cb, "payload"));
			/* Snapshot text is the server's: escaped. */
			fputs("  ", stdout);
			out_safe(stdout, ev);
			fputs("\n    ", stdout);
			out_safe(stdout, json_string_value(json_object_get(
						 cb, "method")));
			fputc(' ', stdout);
			out_safe(stdout,
				 json_string_value(json_object_get(cb, "url")));
			fputs("\n    headers: ", stdout);
			out_safe(stdout, hdr ? hdr : "(too large to show)");
			fputs("\n    payload: ", stdout);
			out_safe(stdout, pl ? pl : "(too large to show)");
			fputc('\n', stdout);
			free(hdr);
			free(pl);
		}
		/* Last seen live, where it differs from last applied.
		 */
		json_object_foreach(json_object_get(doc, "live"), ev, cb)
		{
			if (json_is_null(cb))
				printf("  %s\n    live: missing "
				       "(deleted outside pavesync)\n",
				       ev);
			else
				printf("  %s\n    live: %s %s (changed "
				       "outside pavesync)\n",
				       ev,
				       json_string_value(
					       json_object_get(cb, "method")),
				       json_string_value(
					       json_object_get(cb, "url")));
		}
	}
}

void out_history_line(const char *id, const char *date, const char *subject)
{
	/* A commit subject is anyone's text (the ref can be pushed to). */
	printf("%s%.12s%s %s ", c_yellow(), id, c_reset(), date);
	out_safe(stdout, subject);
	fputc('\n', stdout);
}

/* ---- import ---- */

void out_import_config(const ps_buf *yaml)
{
	/* Event and header names are the server's: no control character
	 * reaches the terminal (in a quoted YAML string the escape even reads
	 * back as the same character). */
	ps_buf safe = PS_BUF_INIT;

	(void)ps_buf_put_printable(&safe, yaml->ptr, yaml->len, true);
	fputs(ps_buf_status(&safe) ? "# (too large to show)\n" : safe.ptr,
	      stdout);
	ps_buf_release(&safe);
}

void out_import_vars(const json_t *vars)
{
	const char *vname;
	json_t *v;

	if (!json_object_size(vars))
		return;
	fputs("import: the printed config reads these environment variables "
	      "(values not shown):\n",
	      stderr);
	json_object_foreach((json_t *)vars, vname, v)
	{
		fputs("  ", stderr);
		out_safe(stderr, vname);
		fprintf(stderr, "%s\n",
			json_is_true(v) ? "  (new: set it to the live value)"
					: "");
	}
}

/* ---- plan rendering ---- */

static void print_value(const json_t *v)
{
	char *s;

	if (!v) {
		fputs("(absent)", stdout);
		return;
	}
	s = ps_json_compact(v);
	out_safe(stdout, s ? s : "(too large to show)");
	free(s);
}

static void print_fields(const json_t *fields, ps_action action)
{
	size_t i;
	json_t *f;

	json_array_foreach(fields, i, f)
	{
		const char *path =
			json_string_value(json_object_get(f, "path"));
		json_t *before = json_object_get(f, "before");
		json_t *after = json_object_get(f, "after");

		fputs("      ", stdout);
		out_safe(stdout, path);
		fputs(": ", stdout);
		if (json_is_true(json_object_get(f, "sensitive"))) {
			printf("%s(sensitive)%s\n", c_dim(), c_reset());
			continue;
		}
		if (action == PS_CREATE) {
			print_value(after);
		} else if (action == PS_DELETE) {
			print_value(before);
		} else {
			printf("%s", c_red());
			print_value(before);
			printf("%s → %s", c_reset(), c_green());
			print_value(after);
			printf("%s", c_reset());
		}
		fputc('\n', stdout);
	}
}

static const char *verb(ps_action a, bool applied)
{
	static const char *const done[] = { "created", "updated", "deleted" };

	return applied ? done[a] : ps_action_name(a);
}

static const char *origin_label(ps_origin o)
{
	return o == PS_ORIGIN_CONFIG	  ? "config"
	       : o == PS_ORIGIN_DASHBOARD ? "dashboard"
					  : "conflict";
}

static void print_account(const ps_account_plan *ap, bool applied)
{
	size_t j;

	printf("%saccount ", c_bold());
	out_safe(stdout, ap->name);
	fputs(c_reset(), stdout);
	if (ap->refreshed)
		printf("%s (compared with live)%s", c_dim(), c_reset());
	fputc('\n', stdout);
	if (ap->orphaned) {
		printf("  %sorphaned:%s in the snapshot but not in the config; "
		       "left alone\n",
		       c_yellow(), c_reset());
		return;
	}
	if (ap->error) {
		printf("  %serror:%s ", c_red(), c_reset());
		out_safe(stdout, ap->error);
		fputc('\n', stdout);
	}
	if (ap->stale && !ap->refreshed)
		printf("  %sstale snapshot:%s written for another API key or "
		       "secret; "
		       "every callback is shown as new until a refresh "
		       "(apply refreshes this account first; plan --refresh "
		       "shows live)\n",
		       c_yellow(), c_reset());
	for (j = 0; j < ap->nchanges; j++) {
		const ps_change *c = &ap->changes[j];
		const char *sym = c->action == PS_CREATE   ? "+"
				  : c->action == PS_UPDATE ? "~"
							   : "-";
		const char *col = c->action == PS_CREATE   ? c_green()
				  : c->action == PS_UPDATE ? c_yellow()
							   : c_red();

		printf("  %s%s ", col, sym);
		out_safe(stdout, c->event);
		printf("%s  %s", c_reset(),
		       c->status == PS_FAILED ? "failed to " : "");
		printf("%s", c->status == PS_FAILED
				     ? verb(c->action, false)
				     : verb(c->action,
					    applied && c->status == PS_DONE));
		if (c->origin != PS_ORIGIN_CONFIG || ap->refreshed)
			printf(" %s(%s)%s",
			       c->origin == PS_ORIGIN_CONFIG ? c_dim()
							     : c_yellow(),
			       origin_label(c->origin), c_reset());
		if (c->refused)
			printf(" %s[apply refuses: %s]%s", c_red(), c->refused,
			       c_reset());
		fputc('\n', stdout);
		if (c->error) {
			printf("      %s", c_red());
			out_safe(stdout, c->error);
			printf("%s\n", c_reset());
		}
		print_fields(c->fields, c->action);
	}
	if (json_array_size(ap->unmanaged)) {
		size_t i;
		json_t *e;
		printf("  %sunmanaged:%s", c_dim(), c_reset());
		json_array_foreach(ap->unmanaged, i, e)
		{
			fputc(' ', stdout);
			out_safe(stdout, json_string_value(e));
		}
		printf(" %s(not in the config; prune deletes them)%s\n",
		       c_dim(), c_reset());
	}
	if (ap->unchanged)
		printf("  %s%zu unchanged%s\n", c_dim(), ap->unchanged,
		       c_reset());
}

/* One line per reason apply would refuse the plan for. */
static void print_refusals(const ps_plan *plan)
{
	size_t i;
	json_t *r;

	json_array_foreach(plan->refused, i, r)
		printf("%sApply would refuse this plan:%s %s.\n", c_red(),
		       c_reset(), json_string_value(r));
}

static void count_done(const ps_plan *plan, size_t counts[3], size_t *failed)
{
	size_t i, j;

	counts[0] = counts[1] = counts[2] = 0;
	*failed = 0;
	for (i = 0; i < plan->naccounts; i++)
		for (j = 0; j < plan->accounts[i].nchanges; j++) {
			const ps_change *c = &plan->accounts[i].changes[j];
			if (c->status == PS_DONE)
				counts[c->action]++;
			else if (c->status == PS_FAILED)
				(*failed)++;
		}
}

/* "N of M accounts (a, b)" into b; 0 (and nothing) when none did. */
static size_t failed_accounts(const ps_plan *plan, ps_buf *b)
{
	size_t i, n = ps_plan_failed_accounts(plan), k = 0;

	if (!n)
		return 0;
	ps_buf_printf(b, "%zu of %zu account%s (", n, plan->naccounts,
		      plan->naccounts == 1 ? "" : "s");
	for (i = 0; i < plan->naccounts; i++)
		if (plan->accounts[i].error)
			ps_buf_printf(b, "%s%s", k++ ? ", " : "",
				      plan->accounts[i].name);
	ps_buf_putc(b, ')');
	return n;
}

void out_plan_text(const ps_plan *plan, bool applied, const char *commit,
		   const char *refresh_commit)
{
	size_t i, counts[3], failed;
	bool any = false;
	ps_buf fails = PS_BUF_INIT;

	if (g_opts && g_opts->quiet) {
		out_plan_quiet(plan, applied, commit, refresh_commit);
		return;
	}
	for (i = 0; i < plan->naccounts; i++) {
		const ps_account_plan *ap = &plan->accounts[i];
		if (!ap->nchanges && !ap->orphaned && !ap->error &&
		    !json_array_size(ap->unmanaged) &&
		    !(ap->stale && !ap->refreshed))
			continue;
		if (any)
			fputc('\n', stdout);
		print_account(ap, applied);
		any = true;
	}
	if (any)
		fputc('\n', stdout);
	if (refresh_commit && *refresh_commit)
		printf("Recorded changes made outside pavesync in %.12s.\n",
		       refresh_commit);
	/* After an error the summary never says "No changes" or "up to
	 * date": what failed was not compared, let alone up to date. */
	if (failed_accounts(plan, &fails)) {
		count_done(plan, counts, &failed);
		if (!applied)
			printf("%sFailed:%s %s; for the others: %zu to create, "
			       "%zu to update, "
			       "%zu to delete.\n",
			       c_red(), c_reset(), fails.ptr, plan->ncreate,
			       plan->nupdate, plan->ndelete);
		else if (counts[0] + counts[1] + counts[2] == 0)
			printf("%sFailed:%s %s; nothing applied.\n", c_red(),
			       c_reset(), fails.ptr);
		else {
			printf("%sFailed:%s %s; applied to the others: %zu "
			       "created, "
			       "%zu updated, %zu deleted",
			       c_red(), c_reset(), fails.ptr, counts[0],
			       counts[1], counts[2]);
			if (failed)
				printf(", %zu failed", failed);
			if (commit && *commit)
				printf(" (snapshot %.12s)", commit);
			printf(".\n");
		}
		ps_buf_release(&fails);
		return;
	}
	ps_buf_release(&fails);
	if (!applied) {
		if (!ps_plan_changes(plan))
			printf("No changes. %zu callback%s up to date in %zu "
			       "account%s (%s).\n",
			       plan->nunchanged,
			       plan->nunchanged == 1 ? "" : "s",
			       plan->naccounts, plan->naccounts == 1 ? "" : "s",
			       plan->refreshed ? "compared with live"
					       : "compared with the snapshot");
		else
			printf("Plan: %s%zu to create%s, %s%zu to update%s, "
			       "%s%zu to delete%s, %zu unchanged%s.\n",
			       c_green(), plan->ncreate, c_reset(), c_yellow(),
			       plan->nupdate, c_reset(), c_red(), plan->ndelete,
			       c_reset(), plan->nunchanged,
			       plan->refreshed ? " (compared with live)" : "");
		print_refusals(plan);
		return;
	}
	count_done(plan, counts, &failed);
	if (!ps_plan_changes(plan)) {
		printf("No changes. %zu callback%s up to date.\n",
		       plan->nunchanged, plan->nunchanged == 1 ? "" : "s");
		return;
	}
	printf("Applied: %zu created, %zu updated, %zu deleted", counts[0],
	       counts[1], counts[2]);
	if (failed)
		printf(", %s%zu failed%s", c_red(), failed, c_reset());
	if (commit && *commit)
		printf(" (snapshot %.12s)", commit);
	printf(".\n");
}

void out_plan_quiet(const ps_plan *plan, bool applied, const char *commit,
		    const char *refresh_commit)
{
	size_t counts[3], failed;

	/* Changes made on the dashboard that were only recorded are news
	 * too: the snapshot moved. */
	if (!ps_plan_changes(plan) && refresh_commit && *refresh_commit) {
		printf("pavesync: recorded changes made outside pavesync "
		       "(snapshot %.12s)\n",
		       refresh_commit);
		return;
	}
	if (!ps_plan_changes(plan))
		return;
	if (!applied) {
		printf("pavesync plan: %zu to create, %zu to update, %zu to "
		       "delete%s%s\n",
		       plan->ncreate, plan->nupdate, plan->ndelete,
		       json_array_size(plan->refused)
			       ? "; apply would refuse it: "
			       : "",
		       json_array_size(plan->refused)
			       ? json_string_value(
					 json_array_get(plan->refused, 0))
			       : "");
		return;
	}
	count_done(plan, counts, &failed);
	printf("pavesync: %zu created, %zu updated, %zu deleted, %zu failed",
	       counts[0], counts[1], counts[2], failed);
	if (commit && *commit)
		printf(" (snapshot %.12s)", commit);
	fputc('\n', stdout);
}

void out_plan_json(const ps_plan *plan, const char *commit)
{
	json_t *doc = ps_plan_to_json(plan, commit);

	out_json(doc);
	json_decref(doc);
}
