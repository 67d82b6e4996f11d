/*
 * Reading the live callbacks of accounts through the API, and recording
 * what was found changed outside pavesync (drift) in the snapshot.
 */
#ifndef PS_LIVE_H
#define PS_LIVE_H

#include <jansson.h>

#include "apply.h"
#include "config.h"
#include "error.h"
#include "plan.h"
#include "state.h"

/*
 * Read the live callbacks (one GET /v1/callbacks per account) of the named
 * accounts (NULL: every account in cfg, or only opts->only). *live and
 * *errors as ps_plan_build takes them (new references). Returns 0 even
 * when some accounts failed (they are in *errors).
 */
int ps_live_read(json_t **live, json_t **errors, const ps_config *cfg,
		 const char *const *names, ps_apply_opts *ro, ps_error *err);

/*
 * Stage and commit the refreshed live state of accounts whose live
 * callbacks differ from the snapshot ("recorded in its own commit").
 * subject NULL: "pavesync: refresh: N changes found outside pavesync".
 * out_id is "" when nothing drifted.
 */
int ps_live_record_drift(char out_id[41], ps_plan *plan, ps_state *st,
			 const char *subject, ps_error *err);

#endif
