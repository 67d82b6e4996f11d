#ifndef PS_SESSION_H
#define PS_SESSION_H

#include "cmd.h"

struct session {
	ps_config *cfg;
	char *repo;
	ps_state *st;
	ps_lock *lock;
	const char *url;	/* borrowed from the options or config */
	const char *url_source; /* where it came from, for messages */
	ps_apply_opts ro;
	json_t *live; /* refreshed accounts, or NULL */
	json_t *live_errors;
	ps_plan *plan;
	char refresh_commit[41];
	ps_state_warmup warmup;
};

/* Load config, open state; writers create the repository, take the lock
 * (75 when held) and, with --push, fetch the remote state first. Returns an
 * exit status (0 ok). */
int session_open(struct session *s, struct opts *o, bool write);
/* Refuse an API URL that is not https (or loopback http). */
int session_check_url(struct session *s);
/* Build the plan; `refresh` reads every account live first;
 * `refresh_stale` reads live only the accounts whose snapshot is stale. */
int session_plan(struct session *s, struct opts *o, bool refresh,
		 bool refresh_stale);
/* Commit out-of-band changes found by a refresh (subject NULL: default). */
int session_record_drift(struct session *s, const char *subject);
int session_push(struct session *s, struct opts *o);
void session_close(struct session *s);

#endif
