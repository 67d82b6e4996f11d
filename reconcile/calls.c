#include "calls.h"

#include "buf.h"
#include "banned.h"

/* ---- shared run bookkeeping ---- */

void ps_calls_count(struct ps_calls *r, ps_api *api, bool change_done,
		    bool change_failed)
{
	pthread_mutex_lock(&r->mu);
	if (api) {
		r->ro->requests += ps_api_requests(api);
		r->ro->connections += ps_api_connections(api);
	}
	if (change_done) {
		r->done++;
		if (change_failed)
			r->failed++;
		if (r->ro->progress)
			r->ro->progress(r->ro->progress_ctx, r->done, r->total,
					r->failed);
	}
	pthread_mutex_unlock(&r->mu);
}

static void account_log_line(void *ctx, const char *line)
{
	const struct ps_account_log *al = ctx;
	ps_buf b = PS_BUF_INIT;

	ps_buf_printf(&b, "account %s: %s", al->name, line);
	al->log(al->ctx, b.ptr);
	ps_buf_release(&b);
}

int ps_calls_client(ps_api **api, const ps_apply_opts *ro, const ps_account *a,
		    struct ps_account_log *al, ps_error *err)
{
	ps_api_opts opts = ro->api;

	if (opts.log) {
		al->log = opts.log;
		al->ctx = opts.log_ctx;
		al->name = a->name;
		opts.log = account_log_line;
		opts.log_ctx = al;
	}
	return ps_api_new(api, &opts, a->api_key, a->api_secret, a->username,
			  err);
}
