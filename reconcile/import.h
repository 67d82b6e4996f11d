/*
 * import: a config that declares the live callbacks, as YAML.
 */
#ifndef PS_IMPORT_H
#define PS_IMPORT_H

#include <jansson.h>
#include <stdbool.h>

#include "buf.h"
#include "config.h"

/*
 * What import knows about the config, so that it prints the config's own
 * words for every value the config marks sensitive (SPEC: env-built,
 * !secret, every header value): its ${VAR} text when the live value is the
 * one the config asks for, a new ${VARIABLE} otherwise. The value itself
 * is never printed.
 */
struct imp {
	const ps_config *cfg;
	json_t *sources; /* ps_config_sources */
	json_t *vars;	 /* {NAME: true when new} in order of appearance */
	ps_buf name;
};

void note_vars(struct imp *im, const char *text, bool is_new);
void emit_source(ps_buf *out, const json_t *src);
void print_callbacks(ps_buf *y, const char *indent, struct imp *im,
		     const ps_account *acct, const char *account,
		     const json_t *list);
void print_credential(ps_buf *y, struct imp *im, const char *account,
		      const char *key, const char *suffix);

#endif
