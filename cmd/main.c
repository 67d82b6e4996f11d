/*
 * pavesync: main is thin. It parses the options (one sorted table, each
 * option naming the commands that take it), picks the command from a static
 * table and maps its result to an exit status.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "api.h"
#include "buf.h"
#include "cmd.h"
#include "json.h"
#include "run.h"
#include "util.h"
#include "version.h"
#include "banned.h"

enum {
	C_VALIDATE = 1 << 0,
	C_PLAN = 1 << 1,
	C_APPLY = 1 << 2,
	C_IMPORT = 1 << 3,
	C_SHOW = 1 << 4,
	C_HISTORY = 1 << 5,
	C_ALL = 0xff,
	C_NET = C_PLAN | C_APPLY | C_IMPORT,
};

enum opt_id {
	O_ACCOUNT,
	O_ADOPT_STATE_REF,
	O_API_URL,
	O_CACERT,
	O_COLOR,
	O_CONCURRENCY,
	O_CONFIG,
	O_DEADLINE,
	O_DETAILED,
	O_DRY_RUN,
	O_FETCH,
	O_FORCE,
	O_FORMAT,
	O_HELP,
	O_LIMIT,
	O_LOCK_TIMEOUT,
	O_MAX_CHANGES,
	O_METRICS_FILE,
	O_NO_ENV,
	O_ON_DRIFT,
	O_OUT,
	O_PLAN,
	O_PRUNE,
	O_PUSH,
	O_QUIET,
	O_REFRESH,
	O_REMOTE,
	O_RETRIES,
	O_SEED,
	O_STATE_REF,
	O_STATE_REPO,
	O_TIMEOUT,
	O_VERBOSE,
	O_VERSION,
	O_YES,
};

struct option_spec {
	const char *name; /* long name without "--" */
	char short_name;
	bool takes_arg;
	enum opt_id id;
	unsigned commands; /* where it is accepted after the command word */
	bool global;	   /* also accepted before the command word */
};

/* Sorted by long name. */
static const struct option_spec options[] = {
	{ "account", 'a', true, O_ACCOUNT, C_ALL, true },
	{ "adopt-state-ref", 0, false, O_ADOPT_STATE_REF, C_APPLY | C_IMPORT,
	  false },
	{ "api-url", 0, true, O_API_URL, C_ALL, true },
	{ "cacert", 0, true, O_CACERT, C_NET, true },
	{ "color", 0, true, O_COLOR, C_ALL, true },
	{ "concurrency", 0, true, O_CONCURRENCY, C_NET, false },
	{ "config", 'c', true, O_CONFIG, C_ALL, true },
	{ "deadline", 0, true, O_DEADLINE, C_NET, false },
	{ "detailed-exitcode", 0, false, O_DETAILED, C_PLAN | C_APPLY, false },
	{ "dry-run", 0, false, O_DRY_RUN, C_APPLY, false },
	{ "fetch", 0, false, O_FETCH, C_PLAN | C_APPLY, false },
	{ "force", 0, false, O_FORCE, C_PLAN | C_APPLY, false },
	{ "format", 0, true, O_FORMAT, C_ALL, true },
	{ "help", 'h', false, O_HELP, C_ALL, true },
	{ "limit", 'n', true, O_LIMIT, C_HISTORY, false },
	{ "lock-timeout", 0, true, O_LOCK_TIMEOUT, C_APPLY | C_IMPORT, false },
	{ "max-changes", 0, true, O_MAX_CHANGES, C_PLAN | C_APPLY, false },
	{ "metrics-file", 0, true, O_METRICS_FILE, C_PLAN | C_APPLY, false },
	{ "no-env", 0, false, O_NO_ENV, C_VALIDATE, false },
	{ "on-drift", 0, true, O_ON_DRIFT, C_PLAN | C_APPLY, false },
	{ "out", 'o', true, O_OUT, C_PLAN, false },
	{ "plan", 0, true, O_PLAN, C_APPLY, false },
	{ "prune", 0, false, O_PRUNE, C_PLAN | C_APPLY, false },
	{ "push", 0, false, O_PUSH, C_APPLY | C_IMPORT, false },
	{ "quiet", 'q', false, O_QUIET, C_ALL, true },
	{ "refresh", 0, false, O_REFRESH, C_PLAN | C_APPLY, false },
	{ "remote", 0, true, O_REMOTE, C_APPLY | C_IMPORT | C_PLAN, false },
	{ "retries", 0, true, O_RETRIES, C_NET, false },
	{ "seed", 0, false, O_SEED, C_IMPORT, false },
	{ "state-ref", 0, true, O_STATE_REF, C_ALL, true },
	{ "state-repo", 0, true, O_STATE_REPO, C_ALL, true },
	{ "timeout", 0, true, O_TIMEOUT, C_NET, false },
	{ "verbose", 'v', false, O_VERBOSE, C_ALL, true },
	{ "version", 0, false, O_VERSION, C_ALL, true },
	{ "yes", 'y', false, O_YES, C_APPLY, false },
};
#define NOPTIONS (sizeof(options) / sizeof(options[0]))

static const struct command commands[] = {
	{ "validate", cmd_validate,
	  "check the config; every error as FILE:LINE:COL: message",
	  validate_usage, C_VALIDATE },
	{ "plan", cmd_plan,
	  "dry-run: show what apply would do; changes nothing anywhere",
	  plan_usage, C_PLAN },
	{ "apply", cmd_apply,
	  "call the API for drifted events, then commit the snapshot",
	  apply_usage, C_APPLY },
	{ "import", cmd_import,
	  "read live callbacks; print a config; --seed writes the snapshot",
	  import_usage, C_IMPORT },
	{ "show", cmd_show, "print the snapshot (all accounts or --account)",
	  show_usage, C_SHOW },
	{ "history", cmd_history, "the state ref's commits, one line each",
	  history_usage, C_HISTORY },
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const char global_usage[] =
	"usage: pavesync [global options] COMMAND [options]\n"
	"\n"
	"Keep PAVE API callbacks (webhooks) in version control.\n"
	"\n"
	"commands:\n"
	"%s"
	"\n"
	"global options:\n"
	"  -c, --config FILE      the config (default ./pavesync.yaml, "
	"$PAVESYNC_CONFIG)\n"
	"      --state-repo DIR   the state repository ($PAVESYNC_STATE_REPO)\n"
	"      --state-ref REF    the snapshot's ref (default "
	"refs/heads/pavesync-state)\n"
	"      --api-url URL      the PAVE API ($PAVE_API_URL)\n"
	"  -a, --account NAME     only this account (repeatable)\n"
	"      --format text|json output format\n"
	"      --color auto|always|never  (NO_COLOR is honoured)\n"
	"  -q, --quiet            print nothing when nothing changed\n"
	"  -v, --verbose          log each API request (never a secret)\n"
	"      --version          print the version\n"
	"  -h, --help             this help; COMMAND --help for a command's\n"
	"\n"
	"environment:\n"
	"  PAVESYNC_CONFIG           the config when -c is not given\n"
	"  PAVESYNC_STATE_REPO       the state repository when --state-repo is "
	"not given\n"
	"  PAVE_API_URL              the API when --api-url is not given\n"
	"  PAVE_API_KEY, PAVE_API_SECRET, PAVE_USERNAME\n"
	"                            credentials of a single-account config\n"
	"  PAVESYNC_FINGERPRINT_KEY  key material for fingerprints of "
	"sensitive values\n"
	"                            (default: each account's API secret)\n"
	"  NO_COLOR                  no colour when set; TERM=dumb too\n"
	"\n"
	"exit status: 0 ok, 1 error (nothing applied), 2 changes (plan\n"
	"--detailed-exitcode), 3 partly applied, 4 applied but not committed\n"
	"(or not pushed), 75 another run holds the lock, 130/143 stopped by\n"
	"SIGINT/SIGTERM (what succeeded is committed)\n"
	"\n"
	"See pavesync(1) and pavesync.yaml(5).\n";

/* The global help, after `before` (on stderr when `to_stderr`). */
static void print_global_usage(const char *before, bool to_stderr)
{
	ps_buf list = PS_BUF_INIT, text = PS_BUF_INIT;
	size_t i;

	for (i = 0; i < NCOMMANDS; i++)
		ps_buf_printf(&list, "  %-10s  %s\n", commands[i].name,
			      commands[i].summary);
	ps_buf_puts(&text, before);
	ps_buf_printf(&text, global_usage, list.ptr);
	out_usage(text.ptr, to_stderr);
	ps_buf_release(&list);
	ps_buf_release(&text);
}

/* usage() with a reason, like signify: say what was wrong, then how to ask
 * for help. Exit status 1 (SPEC: error, nothing applied). */
static int usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	out_usage_error(cmd, fmt, ap);
	va_end(ap);
	return EXIT_ERROR;
}

static const struct option_spec *find_long(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < NOPTIONS; i++)
		if (strlen(options[i].name) == len &&
		    !strncmp(options[i].name, name, len))
			return &options[i];
	return NULL;
}

static const struct option_spec *find_short(char c)
{
	size_t i;

	for (i = 0; i < NOPTIONS; i++)
		if (options[i].short_name == c)
			return &options[i];
	return NULL;
}

static int number(long *out, const char *cmd, const char *opt, const char *v,
		  long min, long max)
{
	if (ps_parse_long(out, v, min, max) < 0)
		return usage_error(cmd,
				   "--%s expects a whole number from %ld to "
				   "%ld, not \"%s\"",
				   opt, min, max, v);
	return 0;
}

static int set_option(struct opts *o, const struct option_spec *s,
		      const char *v, const char *cmd)
{
	switch (s->id) {
	case O_ACCOUNT:
		o->accounts = ps_realloc(
			o->accounts, (o->naccounts + 2) * sizeof(*o->accounts));
		o->accounts[o->naccounts++] = v;
		o->accounts[o->naccounts] = NULL;
		return 0;
	case O_ADOPT_STATE_REF:
		o->adopt_state_ref = true;
		return 0;
	case O_API_URL:
		o->api_url = v;
		return 0;
	case O_CACERT:
		o->cacert = v;
		return 0;
	case O_COLOR:
		if (strcmp(v, "auto") && strcmp(v, "always") &&
		    strcmp(v, "never"))
			return usage_error(cmd,
					   "--color expects auto, always or "
					   "never, not \"%s\"",
					   v);
		o->color_arg = v;
		return 0;
	case O_CONCURRENCY:
		return number(&o->concurrency, cmd, s->name, v, 1, 256);
	case O_CONFIG:
		o->config = v;
		return 0;
	case O_DEADLINE:
		return number(&o->deadline, cmd, s->name, v, 0, 86400);
	case O_DETAILED:
		o->detailed_exitcode = true;
		return 0;
	case O_DRY_RUN:
		o->dry_run = true;
		return 0;
	case O_FETCH:
		o->fetch = true;
		return 0;
	case O_FORCE:
		o->force = true;
		return 0;
	case O_FORMAT:
		if (!strcmp(v, "text"))
			o->format = FORMAT_TEXT;
		else if (!strcmp(v, "json"))
			o->format = FORMAT_JSON;
		else
			return usage_error(
				cmd,
				"--format expects text or json, not \"%s\"", v);
		return 0;
	case O_HELP:
		return 0;
	case O_LIMIT:
		return number(&o->limit, cmd, s->name, v, 1, 1000000000);
	case O_LOCK_TIMEOUT:
		return number(&o->lock_timeout, cmd, s->name, v, 0, 86400);
	case O_MAX_CHANGES:
		return number(&o->max_changes, cmd, s->name, v, 0, 100000000);
	case O_METRICS_FILE:
		o->metrics_file = v;
		return 0;
	case O_NO_ENV:
		o->no_env = true;
		return 0;
	case O_ON_DRIFT:
		if (!strcmp(v, "revert"))
			o->on_drift = ON_DRIFT_REVERT;
		else if (!strcmp(v, "fail"))
			o->on_drift = ON_DRIFT_FAIL;
		else
			return usage_error(
				cmd,
				"--on-drift expects revert or fail, not \"%s\"",
				v);
		return 0;
	case O_OUT:
		o->out = v;
		return 0;
	case O_PLAN:
		o->plan_file = v;
		return 0;
	case O_PRUNE:
		o->prune = true;
		return 0;
	case O_PUSH:
		o->push = true;
		return 0;
	case O_QUIET:
		o->quiet++;
		return 0;
	case O_REFRESH:
		o->refresh = true;
		return 0;
	case O_REMOTE:
		o->remote = v;
		return 0;
	case O_RETRIES:
		return number(&o->retries, cmd, s->name, v, 0, 20);
	case O_SEED:
		o->seed = true;
		return 0;
	case O_STATE_REF:
		o->state_ref = v;
		return 0;
	case O_STATE_REPO:
		o->state_repo = v;
		return 0;
	case O_TIMEOUT:
		return number(&o->timeout, cmd, s->name, v, 1, 3600);
	case O_VERBOSE:
		o->verbose++;
		return 0;
	case O_VERSION:
		return 0;
	case O_YES:
		o->yes = true;
		return 0;
	}
	return 0;
}

static const char *suggest_option(const char *name)
{
	const char *names[NOPTIONS + 1];
	size_t i;

	for (i = 0; i < NOPTIONS; i++)
		names[i] = options[i].name;
	names[NOPTIONS] = NULL;
	return ps_suggest(name, names);
}

static const struct command *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < NCOMMANDS; i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

/*
 * The process holds API secrets, header values and fingerprint keys in
 * memory: no core file may be written of it (RLIMIT_CORE 0; not dumpable,
 * which also keeps other processes of the same user from ptrace-attaching
 * and reading it), and freed JSON is wiped (ps_json_wipe_on_free).
 */
static void protect_secrets(void)
{
	struct rlimit none = { 0, 0 };

	(void)setrlimit(RLIMIT_CORE, &none);
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	ps_json_wipe_on_free();
}

/*
 * Transparent huge pages for the heap's first top pad (below): a no-drift
 * plan of 1,000 accounts touches ~16 MB of heap, ~4,000 page faults with
 * 4 KiB pages; in 2 MiB pages a handful. Debian's kernel gives huge pages
 * to the ranges that ask (transparent_hugepage=madvise). Advice only:
 * where it is refused nothing changes.
 */
static void heap_huge_pages(void)
{
	const uintptr_t huge = (uintptr_t)2 << 20;
	void *first = malloc(1); /* glibc grows the heap by the top pad */
	uintptr_t lo = ((uintptr_t)first + huge - 1) & ~(huge - 1);
	uintptr_t hi = (uintptr_t)sbrk(0) & ~(huge - 1);

	if (first && hi > lo)
		(void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
	free(first);
}

/* The process: the out-of-memory message, no core file, no ptrace, wiped
 * JSON; glibc's heap tuned. */
static void setup_process(void)
{
	ps_set_oom_handler(out_oom);
	protect_secrets();

	/* Three malloc arenas: the main thread's, and one each for the two
	 * helpers that run while the config is parsed (the state's warm-up
	 * and the thread building accounts), which glibc gives new arenas
	 * while there are fewer than the limit. With two, the second helper
	 * was given the main thread's arena in half the runs, and the parser
	 * and the builder waited for each other on its lock at every malloc.
	 * With one per thread (glibc's default), each planning and API
	 * thread grows a heap of its own by mprotect and page faults
	 * (measured: ~800 mprotect calls in a no-drift plan of 1,000
	 * accounts); a thread started later takes the arena of one that has
	 * ended first. A 16 MiB top pad grows the main heap in few steps.
	 * All of it only tunes glibc. */
	mallopt(M_ARENA_MAX, 3);
	mallopt(M_TOP_PAD, 16 << 20);
	heap_huge_pages();
}

/* Every option's default. */
static void opts_init(struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->max_changes = -1;
	o->concurrency = 8;
	o->timeout = 30;
	o->retries = 4;
	o->deadline = 240; /* fits a five-minute cron with room to commit */
	o->limit = 0;
	o->color_arg = "auto";
}

/* What the command line asks for besides the options. */
struct parsed {
	const struct command *cmd;
	bool help, version;
};

/* A word that is not an option: the command, the first time. */
static int take_command(struct parsed *p, const char *a)
{
	const char *names[NCOMMANDS + 1], *hint;
	size_t k;

	if (p->cmd)
		return usage_error(p->cmd->name, "unexpected argument \"%s\"",
				   a);
	p->cmd = find_command(a);
	if (p->cmd)
		return 0;
	for (k = 0; k < NCOMMANDS; k++)
		names[k] = commands[k].name;
	names[NCOMMANDS] = NULL;
	hint = ps_suggest(a, names);
	return usage_error(NULL, "unknown command \"%s\"%s%s%s", a,
			   hint ? " (did you mean \"" : "", hint ? hint : "",
			   hint ? "\"?)" : "");
}

/* "--name" or "--name=value": the option, and its value when attached. */
static int long_option(const struct option_spec **out, const char **value,
		       const char *a, const char *cname)
{
	const char *eq = strchr(a + 2, '=');
	size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
	const struct option_spec *s = find_long(a + 2, len);

	if (!s) {
		char name[64];
		const char *hint;
		ps_strlcpy(name, a + 2,
			   len + 1 < sizeof(name) ? len + 1 : sizeof(name));
		hint = suggest_option(name);
		return usage_error(cname, "unknown option \"--%s\"%s%s%s", name,
				   hint ? " (did you mean \"--" : "",
				   hint ? hint : "", hint ? "\"?)" : "");
	}
	if (eq) {
		if (!s->takes_arg)
			return usage_error(cname, "--%s takes no value",
					   s->name);
		*value = eq + 1;
	}
	*out = s;
	return 0;
}

/* "-x" or "-xVALUE". */
static int short_option(const struct option_spec **out, const char **value,
			const char *a, const char *cname)
{
	const struct option_spec *s = find_short(a[1]);

	if (!s)
		return usage_error(cname, "unknown option \"-%c\"", a[1]);
	if (a[2]) {
		if (!s->takes_arg)
			return usage_error(cname,
					   "-%c takes no value (write flags "
					   "separately)",
					   a[1]);
		*value = a + 2;
	}
	*out = s;
	return 0;
}

/* Options (global before the command word, the command's after it) and
 * the command word. 0, or the exit status of a usage error (printed). */
static int parse_args(struct opts *o, struct parsed *p, int argc, char **argv)
{
	bool only_args = false;
	int i, rc;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *value = NULL;
		const struct option_spec *s = NULL;
		const char *cname = p->cmd ? p->cmd->name : NULL;

		if (only_args || a[0] != '-' || !a[1]) {
			if ((rc = take_command(p, a)) != 0)
				return rc;
			continue;
		}
		if (!strcmp(a, "--")) {
			only_args = true;
			continue;
		}
		rc = a[1] == '-' ? long_option(&s, &value, a, cname)
				 : short_option(&s, &value, a, cname);
		if (rc)
			return rc;
		if (p->cmd ? !(s->commands & p->cmd->options) : !s->global)
			return usage_error(
				cname, "option --%s is not for %s%s", s->name,
				p->cmd ? "the "
				       : "global use; put it after the command",
				p->cmd ? p->cmd->name : "");
		if (s->takes_arg && !value) {
			if (i + 1 >= argc)
				return usage_error(cname, "--%s needs a value",
						   s->name);
			value = argv[++i];
		}
		if (s->id == O_HELP)
			p->help = true;
		if (s->id == O_VERSION)
			p->version = true;
		if ((rc = set_option(o, s, value, cname)) != 0)
			return rc;
	}
	return 0;
}

/* --version, --help, or no command at all: print, and the exit status. */
static int help_or_version(const struct parsed *p)
{
	if (p->version) {
		out_usage("pavesync " PAVESYNC_VERSION "\n", false);
		return EXIT_OK;
	}
	if (p->cmd)
		out_usage(p->cmd->usage, false);
	else if (p->help)
		print_global_usage("", false);
	else {
		out_error("no command given");
		print_global_usage("\n", true);
	}
	return p->help ? EXIT_OK : EXIT_ERROR;
}

/* What the environment adds: the config's path, colour. */
static void resolve_opts(struct opts *o)
{
	const char *env;

	if (!o->config && (env = getenv("PAVESYNC_CONFIG")) && *env)
		o->config = env;
	if (!o->config)
		o->config = "pavesync.yaml";
	if (!strcmp(o->color_arg, "always"))
		o->color = 1;
	else if (!strcmp(o->color_arg, "never"))
		o->color = 0;
	else
		o->color = isatty(STDOUT_FILENO) &&
			   !((env = getenv("NO_COLOR")) && *env) &&
			   !((env = getenv("TERM")) && !strcmp(env, "dumb"));
}

/* Run the command under the deadline and the signal handlers; a stop
 * request is said and becomes 128 + N. */
static int run_command(const struct command *cmd, struct opts *o)
{
	int rc;

	/* The whole run's clock starts now. */
	if (o->deadline > 0)
		o->deadline_ms = ps_api_now_ms() + o->deadline * 1000;
	stop_install();
	/* libcurl is loaded by the first request, if the run makes one. */
	rc = cmd->fn(o);
	ps_api_global_cleanup();
	if (stop_signal()) {
		out_error("stopped by %s: no API call was started after it (an "
			  "apply commits what had succeeded; the next run does "
			  "the rest)",
			  stop_signal() == SIGINT ? "SIGINT" : "SIGTERM");
		rc = EXIT_SIGNAL_BASE + stop_signal();
	}
	return rc;
}

/* Like git: a write error on stdout (full disk, closed pipe) is an error,
 * not silent success. */
static int finish_output(int rc)
{
	if (fflush(stdout) || ferror(stdout)) {
		if (errno != EPIPE)
			out_error("cannot write output: %s", strerror(errno));
		return rc ? rc : EXIT_ERROR;
	}
	return rc;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct parsed p = { NULL, false, false };
	int rc;

	setup_process();
	opts_init(&o);
	rc = parse_args(&o, &p, argc, argv);
	if (rc) {
		free(o.accounts);
		return rc;
	}
	if (p.version || p.help || !p.cmd) {
		rc = help_or_version(&p);
		free(o.accounts);
		return rc;
	}
	resolve_opts(&o);
	out_init(&o);
	rc = run_command(p.cmd, &o);
	free(o.accounts);
	return finish_output(rc);
}

/* ---- shared steps ---- */

int load_config(ps_config **cfg, const struct opts *o)
{
	ps_diags diags = PS_DIAGS_INIT;
	int rc = ps_config_load(cfg, o->config, NULL, &diags);

	out_config_diags(&diags, o->config, rc);
	ps_diags_clear(&diags);
	if (rc == 0)
		out_config_warnings(*cfg);
	return rc;
}

const char *given_state_repo(const struct opts *o)
{
	const char *env = getenv("PAVESYNC_STATE_REPO");

	if (o->state_repo)
		return o->state_repo;
	return env && *env ? env : NULL;
}

int open_snapshot(ps_state **st, char **repo, ps_config **cfg,
		  const struct opts *o)
{
	ps_error e;

	*st = NULL;
	*repo = NULL;
	*cfg = NULL;
	ps_error_clear(&e);
	/* The config is only needed to find the repository. */
	if (!o->state_repo && !getenv("PAVESYNC_STATE_REPO") &&
	    load_config(cfg, o) < 0)
		return EXIT_ERROR;
	if (ps_run_state_repo(repo, given_state_repo(o), *cfg, o->config, &e) <
	    0) {
		out_ps_error(&e);
		return EXIT_ERROR;
	}
	if (ps_state_open(st, *repo, o->state_ref, 0, &e) < 0) {
		out_ps_error(&e);
		return EXIT_ERROR;
	}
	return EXIT_OK;
}
