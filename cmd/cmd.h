/*
 * The command line: option parsing, the command table and rendering. The
 * library (reconcile/) never prints; everything a person sees is made here.
 */
#ifndef PS_CMD_H
#define PS_CMD_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>

#include "buf.h"
#include "config.h"
#include "error.h"
#include "plan.h"
#include "plan_file.h"
#include "run.h"
#include "state.h"

/* Exit statuses (SPEC §4). */
enum {
	EXIT_OK = 0,
	EXIT_ERROR = 1,
	EXIT_CHANGES = 2, /* plan --detailed-exitcode found changes */
	EXIT_PARTIAL = 3, /* apply applied some changes and failed others */
	EXIT_UNRECORDED =
		4, /* the API was changed but not committed or pushed */
	/* 128 + N: stopped by signal N (130 SIGINT, 143 SIGTERM), after
	 * committing what succeeded. */
	EXIT_SIGNAL_BASE = 128,
	EXIT_LOCKED = 75, /* another run holds the lock (EX_TEMPFAIL) */
};

enum format { FORMAT_TEXT, FORMAT_JSON };
enum on_drift { ON_DRIFT_REVERT, ON_DRIFT_FAIL };

/* Every option of every command; each command reads the ones it allows. */
struct opts {
	/* global */
	const char *config;
	const char *state_repo;
	const char *state_ref;
	const char *api_url;
	const char **accounts; /* NULL-terminated, or NULL */
	size_t naccounts;
	enum format format;
	int color; /* resolved: 1 colour, 0 not */
	const char *color_arg;
	int quiet;
	int verbose;
	/* plan / apply */
	bool refresh;
	bool detailed_exitcode;
	const char *out;
	bool prune;
	bool dry_run;
	const char *plan_file;
	long max_changes; /* -1: no cap */
	bool force;
	long concurrency;
	long timeout; /* seconds */
	long retries;
	long lock_timeout; /* seconds */
	bool push;
	bool fetch; /* --fetch: the remote's state ref first */
	const char *remote;
	enum on_drift on_drift;
	const char *cacert;
	const char *metrics_file; /* --metrics-file, or NULL */
	bool yes;		  /* apply: do not ask on a terminal */
	bool adopt_state_ref; /* accept a state ref moved outside pavesync */
	long deadline;	      /* seconds for the whole run; 0: none */
	long deadline_ms;     /* resolved: CLOCK_MONOTONIC ms, 0: none */
	/* import */
	bool seed;
	/* history */
	long limit;
	/* validate */
	bool no_env;
};

struct command {
	const char *name;
	int (*fn)(struct opts *o);
	const char *summary;
	const char *usage; /* full help text */
	unsigned options;  /* OPT_* mask of command options it accepts */
};

int cmd_validate(struct opts *o);
int cmd_plan(struct opts *o);
int cmd_apply(struct opts *o);
int cmd_import(struct opts *o);
int cmd_show(struct opts *o);
int cmd_history(struct opts *o);

extern const char validate_usage[], plan_usage[], apply_usage[], import_usage[],
	show_usage[], history_usage[];

/* ---- output.c: the one place that writes for people ---- */

/* Messages on stderr: "error: …", "warning: …"; info is silenced by -q. */
void out_init(const struct opts *o);
void out_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void out_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void out_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void out_verbose(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Write s to f with control characters escaped (ps_buf_put_printable):
 * for any text that came from the server, the config or the snapshot. */
void out_safe(FILE *f, const char *s);
/* A message on stderr, escaped, neither prefixed nor silenced by -q. */
void out_plain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Help and version text (our own words) on stdout, or on stderr when
 * `to_stderr` (after an error). */
void out_usage(const char *text, bool to_stderr);
/* A command-line mistake: "error: MESSAGE\nsee 'pavesync [CMD ]--help'". */
void out_usage_error(const char *cmd, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
/* A diagnostic, "SOURCE:LINE:COL: message\n" on stderr, escaped. */
void out_diag(const ps_error *e);
/* What loading the config at `path` reported: every diagnostic, and
 * "error: cannot load PATH" when it failed (rc < 0) without one. */
void out_config_diags(const ps_diags *diags, const char *path, int rc);
/* Print ps_config_warnings(cfg) as "warning: FILE:LINE:COL: message". */
void out_config_warnings(const ps_config *cfg);
/* Report a ps_error as "error: SOURCE:LINE:COL: message". */
void out_ps_error(const ps_error *e);
/* "pavesync: out of memory" on stderr, allocating nothing: the library's
 * out-of-memory handler (ps_set_oom_handler). */
void out_oom(void);
/* The library's notices (run.h): info as out_info, warning and error as
 * out_warning and out_error. */
void out_notice(void *ctx, ps_notice_level level, const char *text);
/* Thread-safe -v log sink for the API client. */
void out_log_line(void *ctx, const char *line);
/* Progress on a terminal ("\r[done/total] …"); nothing otherwise. */
void out_progress(void *ctx, size_t done, size_t total, size_t failed);
void out_progress_end(void);

/* Colour helpers: return the escape or "" when colour is off. */
const char *c_green(void);
const char *c_yellow(void);
const char *c_red(void);
const char *c_bold(void);
const char *c_dim(void);
const char *c_reset(void);

/* Render a plan (or an apply's result when `applied`) to stdout. */
void out_plan_text(const ps_plan *plan, bool applied, const char *commit,
		   const char *refresh_commit);
void out_plan_json(const ps_plan *plan, const char *commit);
/* The -q summary line; nothing when the plan has no change and nothing
 * was recorded. */
void out_plan_quiet(const ps_plan *plan, bool applied, const char *commit,
		    const char *refresh_commit);
/* show: the snapshot's documents {account: doc} as text, from commit
 * `head` of `ref`. history: one commit as "ID DATE SUBJECT". */
void out_snapshot_text(const json_t *all, const char *head, const char *ref);
void out_history_line(const char *id, const char *date, const char *subject);
/* import: the config written (stdout, escaped for the terminal) and the
 * environment variables it reads {NAME: true when new} (stderr). */
void out_import_config(const ps_buf *yaml);
void out_import_vars(const json_t *vars);
/* Print a JSON document to stdout (indent 2, final newline). */
void out_json(const json_t *doc);

/* ---- metrics.c: --metrics-file ---- */

/* Note the start of the run (for pavesync_run_duration_seconds). */
void metrics_start(void);
/* Write the Prometheus text file named by --metrics-file (nothing without
 * it, nor when another run held the lock): `plan` may be NULL when the run
 * failed before planning; `applied` says whether changes were applied (apply)
 * or only planned (plan); `rc` is the run's exit status. A write failure is
 * a warning on stderr, the exit status stays the run's. */
void metrics_write(const struct opts *o, const ps_plan *plan, bool applied,
		   int rc);

/* ---- confirm.c: apply's question on a terminal ---- */

/* True when apply should ask: stdin and stdout are terminals and --yes was
 * not given. */
bool confirm_needed(const struct opts *o);
/* Show the plan where the user will see it and ask "Apply these changes?
 * [y/N]" on the terminal; true only for "y" or "yes". */
bool confirm_apply(const struct opts *o, const ps_plan *plan);

/* ---- shared steps (main.c) ---- */

/* Load the config named by the options; errors printed. */
int load_config(ps_config **cfg, const struct opts *o);
/* The state repository the options or $PAVESYNC_STATE_REPO name, or NULL
 * (the config's, or the one found beside it: ps_run_state_repo). */
const char *given_state_repo(const struct opts *o);
/* For the read-only commands (show, history): open the snapshot (creating
 * nothing). Returns an exit status; on failure the error is printed.
 * The caller frees all three, whatever the result. */
int open_snapshot(ps_state **st, char **repo, ps_config **cfg,
		  const struct opts *o);

/* ---- stop.c: SIGINT/SIGTERM ---- */

/* Install the handlers: the first signal asks the run to stop (no new API
 * call, commit what succeeded); a second ends the process at once. */
void stop_install(void);
/* The flag the library reads (ps_api_opts.stop). */
const atomic_int *stop_flag(void);
/* The signal that asked to stop, or 0. */
int stop_signal(void);

#endif
