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
 * Read the live callbacks (one GET /v1/callbacks per account, accounts
 * concurrently as ro says) of the named accounts: `names` is NULL-terminated,
 * or NULL for every account in cfg; a name cfg does not have is skipped (an
 * orphaned account has nothing to read). *live maps each account read to
 * the array of raw callbacks the API returned, *errors each account that
 * could not be read to a message; both are new references, as
 * ps_plan_build takes them. An account's failure is not this function's:
 * it returns 0 with that account in *errors. It fails (PS_ERROR, err set,
 * *live and *errors NULL) only when it cannot record an account in either
 * map (jansson refused the value), which would otherwise be planned as if
 * it had not been asked for. ro's counters are updated.
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
