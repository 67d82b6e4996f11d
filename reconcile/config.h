/*
 * The configuration file (SPEC §2): parsing, interpolation, validation.
 *
 * ps_config_load reads and validates a pavesync.yaml. It reports *every*
 * problem it finds into a ps_diags (FILE:LINE:COLUMN: message), and only
 * returns a config when there were none.
 *
 * Limits (hostile input becomes an error, never a crash, hang or huge
 * allocation): file size, nesting depth (enforced while parsing, event by
 * event, because libyaml has no depth limit of its own), alias expansion
 * (total nodes produced by expanding aliases, and the bytes of text the
 * document expands to), nodes in the file, and alias cycles.
 */
#ifndef PS_CONFIG_H
#define PS_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/*
 * Everything in a ps_config (accounts, callbacks, their strings and JSON
 * values) is owned by the config, freed by ps_config_free, and never
 * modified after load: JSON values may be shared between callbacks (one
 * reference each), so a reader that wants to change one copies it first.
 */
typedef struct ps_callback {
	char *event;
	/*
	 * The desired callback with clear values and defaults merged in:
	 * {"url": str, "method": str (upper-case, "POST" when absent),
	 *  "headers": {name: str} (names as written), "payload": {…}}.
	 * Owned (one reference).
	 */
	json_t *spec;
	/*
	 * Which values in spec are sensitive: a JSON array of JSON Pointers
	 * (RFC 6901) into spec, e.g. "/url", "/headers/Authorization",
	 * "/payload/token". Every header value is listed; so is every value
	 * built from an environment variable ("/url", "/method", payload
	 * strings) and every node tagged !secret (a tagged mapping or
	 * sequence is one sensitive value, listed once at its own pointer).
	 * Sorted, no repeats. Owned.
	 */
	json_t *sensitive;
	int line; /* of the event key */
	int column;
} ps_callback;

#define PS_ACCOUNT_DIGEST 32

typedef struct ps_account {
	char *name;
	char *api_key;
	char *api_secret; /* wiped on free */
	char *username;
	bool prune;
	/* When api_secret_file can be read by its group or others: its
	 * permission bits and where it is named (see ps_config_warnings);
	 * 0 otherwise. */
	unsigned secret_file_mode;
	int secret_file_line;
	int secret_file_column;
	ps_callback *callbacks; /* sorted by event name */
	size_t ncallbacks;
	int line;
	int column;
	/*
	 * SHA-256 of what the account is configured to be: its name, API key
	 * and callbacks (events, specs and sensitive lists), in a typed,
	 * length-prefixed encoding. Two accounts with the same digest ask for
	 * the same callbacks with the same key. The specs hold secrets, so
	 * the digest is never shown or stored as it is (the plan keys it
	 * with the account's fingerprint key first). Taken on the thread
	 * that builds the account, which may run while the file is parsed.
	 */
	unsigned char digest[PS_ACCOUNT_DIGEST];
} ps_account;

/*
 * Limits on hostile input. A field left at 0 means "the default", so a
 * caller may set just the ones it cares about.
 */
typedef struct ps_config_limits {
	size_t max_file_size;	/* bytes; default 32 MiB */
	unsigned max_depth;	/* nesting depth; default 64 */
	size_t max_alias_nodes; /* nodes produced by alias expansion; default
				   100000 */
	size_t max_errors; /* diagnostics collected before giving up; default
			      100 */
	size_t max_nodes;  /* nodes written in the file (not via aliases);
			    * default 1000000, bounds memory */
	size_t max_expanded_bytes; /* scalar text of the document with every
				    * alias expanded; default 32 MiB */
} ps_config_limits;

typedef struct ps_config {
	char *path;	      /* as given */
	char *api_url;	      /* NULL when the file does not set one */
	char *state_repo;     /* NULL when unset; relative paths are resolved
			       * against     the config file's directory */
	ps_account *accounts; /* sorted by name */
	size_t naccounts;
	bool shorthand; /* top-level callbacks: form (one account "default") */
	unsigned char sha256[32]; /* of the raw file bytes */
} ps_config;

/* Fill *limits with the defaults above. */
void ps_config_limits_init(ps_config_limits *limits);

/*
 * Read and validate the file at `path`. On success returns 0 and *out owns
 * a config (free with ps_config_free). On failure returns PS_EINVALID or
 * PS_ELIMIT (or PS_ENOTFOUND/PS_ERROR when the file cannot be read), *out is
 * NULL, and every problem found is appended to *diags, in file order
 * (source = path; line/column 1-based; problems without a place, such as
 * the file size, have line 0 and come last). limits may be NULL.
 * ${VAR} references and the shorthand form read the process environment
 * (getenv); api_secret_file is read here. Messages never contain a value
 * taken from the environment or a secret file.
 */
int ps_config_load(ps_config **out, const char *path,
		   const ps_config_limits *limits, ps_diags *diags);

enum {
	/*
	 * Check without the environment (validate --no-env, e.g. in a pull
	 * request from a fork, which has no secrets): an unset ${VAR} is not
	 * an error but an unknown value, and the checks of a value built
	 * from one (a URL, a method, non-empty) are skipped; a variable that
	 * is set is used and checked as usual. The shorthand form's
	 * PAVE_API_* may be unset, and api_secret_file is not read. Every
	 * structural rule still applies. The config returned is for checking
	 * only: unknown values are empty.
	 */
	PS_CONFIG_NO_ENV = 1 << 0,
	/*
	 * Build the accounts after the whole file is parsed, never while it
	 * is parsed (on another thread): the same config and diagnostics,
	 * later. For tests that compare the two.
	 */
	PS_CONFIG_NO_PIPELINE = 1 << 1,
};

/* ps_config_load with flags (PS_CONFIG_*). */
int ps_config_load_flags(ps_config **out, const char *path,
			 const ps_config_limits *limits, unsigned flags,
			 ps_diags *diags);

/*
 * The same, from memory; `source_name` is used in messages and as
 * config->path. data need not be NUL-terminated.
 */
int ps_config_parse(ps_config **out, const char *source_name, const char *data,
		    size_t len, const ps_config_limits *limits,
		    ps_diags *diags);

/* ps_config_parse with flags (PS_CONFIG_*). */
int ps_config_parse_flags(ps_config **out, const char *source_name,
			  const char *data, size_t len,
			  const ps_config_limits *limits, unsigned flags,
			  ps_diags *diags);

/* The account named `name`, or NULL. Borrowed: valid until
 * ps_config_free(cfg). */
const ps_account *ps_config_account(const ps_config *cfg, const char *name);

/* The callback for `event` in `acct`, or NULL. Borrowed: valid as long as
 * the config that holds acct. */
const ps_callback *ps_config_account_callback(const ps_account *acct,
					      const char *event);

/*
 * Append to *out the things in a loaded config that work but should be
 * fixed, one entry each (source = the config path, line/column of the
 * value; code 0): an api_secret_file readable by its group or other users.
 * Never names a path or value from the environment. The caller owns *out.
 */
void ps_config_warnings(ps_diags *out, const ps_config *cfg);

/* Free the config and everything in it, wiping secrets. NULL-safe. */
void ps_config_free(ps_config *cfg);

/*
 * How the file at cfg->path writes its values, before interpolation (for
 * `import`, which prints the config's own ${VAR} references and !secret
 * tags, never the values behind them). *out (new reference):
 *   {"api_url": SRC, "defaults": {POINTER: SRC},
 *    "accounts": {NAME: {"api_key"|"api_secret"|"api_secret_file"|
 *                        "username": SRC,
 *                        "callbacks": {EVENT: {POINTER: SRC}}}}}
 * where POINTER is "/url", "/method", "/headers/NAME" or a JSON Pointer
 * under "/payload", and SRC is {"text": the scalar as written (null for a
 * collection), "secret": tagged !secret, "raw": a plain non-string
 * scalar}. Keys that are absent in the file are absent here. The
 * shorthand form is account "default". Errors: the file cannot be read
 * again, or no longer parses (PS_EINVALID).
 */
int ps_config_sources(json_t **out, const ps_config *cfg, ps_error *err);

#endif
