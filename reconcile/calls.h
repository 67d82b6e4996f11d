/*
 * Internal to the engine: the bookkeeping that reading live callbacks
 * (live.c) and applying (apply.c) share when they call the API for many
 * accounts at once. Not for cmd/.
 */
#ifndef PS_CALLS_H
#define PS_CALLS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "api.h"
#include "apply.h"
#include "config.h"
#include "error.h"
#include "plan.h"

struct ps_calls {
	pthread_mutex_t mu;
	ps_apply_opts *ro;
	size_t done, total, failed;
};

/* Add api's request and connection counts (api may be NULL) to the run's
 * options; count a change done (and failed) and report progress. Takes the
 * lock. */
void ps_calls_count(struct ps_calls *r, ps_api *api, bool change_done,
		    bool change_failed);

/* -v lines name their account: two accounts' "GET /v1/callbacks -> 200"
 * must not read the same. Lives as long as the client it logs for. */
struct ps_account_log {
	ps_api_log_fn log;
	void *ctx;
	const char *name;
};

/* A client for account a with ro's options; its -v lines go through al
 * (which must outlive the client). */
int ps_calls_client(ps_api **api, const ps_apply_opts *ro, const ps_account *a,
		    struct ps_account_log *al, ps_error *err);

#endif
