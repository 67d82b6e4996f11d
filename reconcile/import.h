/*
 * import: a config that declares the live callbacks, as YAML.
 */
#ifndef PS_IMPORT_H
#define PS_IMPORT_H

#include <jansson.h>

#include "buf.h"
#include "config.h"
#include "error.h"

/*
 * Append to `out` a config (YAML) that declares the callbacks in `live`
 * ({account: [raw callbacks as the API returned them]}, as ps_live_read
 * gives them) for the accounts of `cfg`: for a shorthand config the
 * account "default" in the shorthand form, otherwise each account named in
 * `accounts` (NULL-terminated; in that order) under "accounts:".
 *
 * A value the config marks sensitive (a header value, one built from
 * ${VAR}, one tagged !secret) is never written: the config's own ${VAR} or
 * !secret text stands for it when the live value is the one the config
 * asks for, a new ${VARIABLE} named after account, event and field
 * otherwise. Credentials keep the config's text. '$' in other strings is
 * written as '$$', so the config reads back the live value.
 *
 * *vars (new reference, NULL on failure) maps each environment variable
 * the written config reads to true when it is new (the caller must set it
 * to the live value), false when the config already read it; in order of
 * appearance. `out`'s sticky status (ps_buf_status) says whether the text
 * was cut short by the buffer's maximum. Errors: those of
 * ps_config_sources (cfg->path cannot be read again or no longer parses).
 * `cfg` and `live` are only read.
 */
int ps_import_write(ps_buf *out, json_t **vars, const ps_config *cfg,
		    const json_t *live, const char *const *accounts,
		    ps_error *err);

#endif
