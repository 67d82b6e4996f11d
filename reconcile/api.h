/*
 * The PAVE callbacks API client (SPEC §1): libcurl + OpenSSL HMAC-SHA256.
 *
 * One ps_api per account. It owns one CURL easy handle, so requests of the
 * same account reuse one keep-alive connection. A ps_api is not thread-safe;
 * different ps_api objects may be used from different threads at once.
 *
 * Every request carries API-Key, API-Timestamp (UTC, YYYY-MM-DDTHH:MM:SSZ)
 * and API-Token = hex(HMAC-SHA256(secret, "<username>:<api_key>@<ts>")).
 * 429, 5xx and transport errors are retried with exponential backoff and
 * jitter, honouring Retry-After (capped); other 4xx fail at once with the
 * API's own "message". Redirects are not followed, only http/https are
 * enabled, TLS verification is always on, plain http only for loopback hosts.
 * Response bodies are capped.
 */
#ifndef PS_API_H
#define PS_API_H

#include <jansson.h>
#include <stdbool.h>

#include "error.h"

typedef struct ps_api ps_api;

typedef void (*ps_log_fn)(void *ctx, const char *line);

typedef struct ps_api_opts {
	const char *base_url;     /* e.g. https://openapi.paveapi.com */
	const char *cacert;       /* extra CA bundle file, or NULL */
	long connect_timeout_ms;  /* default 10000 */
	long timeout_ms;          /* total per request; default 30000 */
	int retries;              /* extra attempts after the first; default 4 */
	long backoff_base_ms;     /* first backoff; default 250 */
	long backoff_max_ms;      /* cap incl. Retry-After; default 30000 */
	size_t max_body;          /* response cap; default 1 MiB */
	/* -v logging: "METHOD /path -> STATUS (N ms)". Never a header value,
	 * token or secret. May be NULL. Called from the thread using the api. */
	ps_log_fn log;
	void *log_ctx;
} ps_api_opts;

/* Defaults as documented above (base_url NULL). */
void ps_api_opts_default(ps_api_opts *o);

/*
 * Check an API base URL: absolute https, or http to a loopback host
 * (127.0.0.0/8, ::1, localhost). PS_EINVALID with a reason otherwise.
 */
int ps_api_check_url(const char *url, ps_error *err);

/* Create a client for one account. Copies what it needs (the secret is
 * wiped on free). */
int ps_api_new(ps_api **out, const ps_api_opts *opts, const char *api_key,
	       const char *api_secret, const char *username, ps_error *err);
void ps_api_free(ps_api *api);

/* GET /v1/callbacks. *out: new reference to an array of callback objects
 * (each as the API returned it, with "event"). */
int ps_api_list(json_t **out, ps_api *api, ps_error *err);

/* GET /v1/callbacks/:event. PS_ENOTFOUND on 404. *out: new reference. */
int ps_api_get(json_t **out, ps_api *api, const char *event, ps_error *err);

/*
 * POST /v1/callbacks with {"event", "url", "method", "headers", "payload"}
 * taken from spec. *echo (may be NULL): the callback the API echoed.
 * 400/409/422 → PS_EEXISTS ("may exist"). After an ambiguous failure
 * (timeout, dropped connection) the event is confirmed with GET before any
 * retry: if it now exists the call returns 0 with *echo = what GET read.
 */
int ps_api_create(json_t **echo, ps_api *api, const char *event,
		  const json_t *spec, ps_error *err);

/* PUT /v1/callbacks/:event. PS_ENOTFOUND on 404. */
int ps_api_update(json_t **echo, ps_api *api, const char *event,
		  const json_t *spec, ps_error *err);

/* DELETE /v1/callbacks/:event. PS_ENOTFOUND on 404. */
int ps_api_delete(ps_api *api, const char *event, ps_error *err);

/* Requests sent and connections opened by this client so far. */
long ps_api_requests(const ps_api *api);
long ps_api_connections(const ps_api *api);

/*
 * Parse a response body: a JSON object; for `want_data`, its "data" member
 * (object or array as `want_array` says), else the object itself. Used by
 * the client and by the fuzz target. *out: new reference.
 */
int ps_api_parse_response(json_t **out, const char *body, size_t len,
			  bool want_data, bool want_array, ps_error *err);

/* The API-Token for the given values into out (65 bytes). */
void ps_api_token(char out[65], const char *api_secret, const char *username,
		  const char *api_key, const char *timestamp);

/* Call once at start-up (curl_global_init) / at exit. */
int ps_api_global_init(void);
void ps_api_global_cleanup(void);

#endif
