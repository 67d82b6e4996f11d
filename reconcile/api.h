/*
 * The PAVE callbacks API client (SPEC §1): libcurl (loaded on first use,
 * see ps_api_global_init), and hmac.h for the token.
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
#include <stdatomic.h>
#include <stdbool.h>

#include "error.h"

typedef struct ps_api ps_api;

/* The PAVE API's address, used when neither the caller nor the config
 * names one (ps_api_opts.base_url NULL). */
#define PS_API_DEFAULT_URL "https://openapi.paveapi.com"

/* A -v log sink: `line` (no newline) is only valid during the call. */
typedef void (*ps_api_log_fn)(void *ctx, const char *line);

typedef struct ps_api_opts {
	/* e.g. https://openapi.paveapi.com (NULL: PS_API_DEFAULT_URL); trailing
	 * '/' ignored; checked with ps_api_check_url by ps_api_new */
	const char *base_url;
	const char *cacert;	 /* extra CA bundle file, or NULL */
	long connect_timeout_ms; /* default 10000 */
	long timeout_ms;	 /* total per request; default 30000 */
	int retries;		 /* extra attempts after the first; default 4 */
	long backoff_base_ms;	 /* first backoff; default 250 */
	long backoff_max_ms;	 /* cap incl. Retry-After; default 30000 */
	size_t max_body;	 /* response cap; default 1 MiB */
	/* -v logging, one line per attempt: "METHOD /path -> STATUS (N ms)",
	 * "METHOD /path -> 503, retrying in N ms", "METHOD /path ->
	 * connection error (REASON), retrying in N ms". Never a header value,
	 * token, secret or body. May be NULL. Called from the thread using
	 * the api. */
	ps_api_log_fn log;
	void *log_ctx;
	/* The whole run's deadline, in CLOCK_MONOTONIC milliseconds
	 * (ps_api_now_ms); 0: none. No attempt starts after it, no attempt
	 * or backoff runs past it, and no retry or confirming GET is made
	 * once it has passed. */
	long deadline_ms;
	/* A stop request (SIGINT/SIGTERM), set by the caller's signal
	 * handler (a lock-free atomic store); NULL: none. While *stop is
	 * non-zero no attempt, retry or confirming GET starts; an exchange in
	 * flight is let finish for at most stop_grace_ms (default 10000), or is
	 * aborted at once when *stop is PS_API_STOP_NOW. Read only. */
	const atomic_int *stop;
	long stop_grace_ms;
} ps_api_opts;

#define PS_API_STOP_NOW 2

/* CLOCK_MONOTONIC in milliseconds, the clock of deadline_ms. */
long ps_api_now_ms(void);

/* Defaults as documented above (base_url NULL, log NULL). Fields left 0
 * or negative in opts given to ps_api_new also take these defaults. */
void ps_api_opts_init(ps_api_opts *o);

/*
 * Check an API base URL: absolute https, or http to a loopback host
 * (127.0.0.0/8, ::1, localhost). PS_EINVALID with a reason otherwise
 * (other schemes, no host, a query or fragment, unparseable); PS_ERROR
 * when libcurl, whose URL parser this is, cannot be loaded.
 */
int ps_api_check_url(const char *url, ps_error *err);

/* Create a client for one account. Copies what it needs (the secret is
 * wiped on free). PS_EINVALID for a bad base URL, or an empty key, secret
 * or username (or control bytes in the key/username); PS_ERROR when
 * libcurl cannot be loaded or set up. *out: free with ps_api_free
 * (NULL-safe). */
int ps_api_new(ps_api **out, const ps_api_opts *opts, const char *api_key,
	       const char *api_secret, const char *username, ps_error *err);

/* Free a client: its handle, connection and copies (the secret wiped).
 * NULL-safe. */
void ps_api_free(ps_api *api);

/*
 * Every call below returns 0 or: PS_EAUTH (401/403, never retried),
 * PS_EHTTP (another 4xx at once — "HTTP 4xx: <API message>" —, a 429/5xx
 * still failing after opts.retries retries, or a response past max_body),
 * PS_ETRANSPORT (connection/timeout after the retries, or the deadline
 * passed, or a stop was requested: the message says which), PS_ELOCAL
 * (the local TLS setup cannot work — a CA file that cannot be read, a
 * certificate that does not verify —: never retried), PS_EINVALID (a 2xx
 * whose body is not the JSON expected; not retried). err->http_status holds
 * the last HTTP status (0 for transport errors). headers/payload strings
 * holding JSON objects are turned into objects in what is returned.
 * On any error *out / *echo is NULL. `spec` is only read (the calls copy
 * what they send, so other threads may read the same spec at once).
 */

/* GET /v1/callbacks. *out: new reference to an array of callback objects
 * (each as the API returned it, with "event"). */
int ps_api_list(json_t **out, ps_api *api, ps_error *err);

/* GET /v1/callbacks/:event. PS_ENOTFOUND on 404. *out: new reference. */
int ps_api_get(json_t **out, ps_api *api, const char *event, ps_error *err);

/*
 * POST /v1/callbacks with {"event", "url", "method", "headers", "payload"}
 * taken from spec ({"url", "method"?, "headers"?, "payload"?}; method
 * defaults to "POST", headers/payload to {}). *echo (may be NULL): new
 * reference to the callback the API echoed ("data" if the reply has an
 * object there, else the reply without "api_key").
 * 400/409/422 → PS_EEXISTS ("may exist"; the caller falls back to PUT).
 * After an ambiguous failure (timeout, empty reply, send/receive error,
 * partial reply) the event is confirmed with one GET before any retry —
 * and after the last attempt too: if it now exists the call returns 0
 * with *echo = what GET read; on 404 the POST is retried (if attempts
 * remain); anything else counts as the POST's failure.
 */
int ps_api_create(json_t **echo, ps_api *api, const char *event,
		  const json_t *spec, ps_error *err);

/* PUT /v1/callbacks/:event with {"url", "method", "headers", "payload"}
 * (defaults as for create). PS_ENOTFOUND on 404. *echo as for create. */
int ps_api_update(json_t **echo, ps_api *api, const char *event,
		  const json_t *spec, ps_error *err);

/* DELETE /v1/callbacks/:event. PS_ENOTFOUND on 404. An empty 2xx body
 * is accepted. */
int ps_api_delete(ps_api *api, const char *event, ps_error *err);

/* Requests sent (every attempt, including a confirming GET) and
 * connections opened (CURLINFO_NUM_CONNECTS summed) by this client. */
long ps_api_requests(const ps_api *api);
long ps_api_connections(const ps_api *api);

/*
 * Parse a response body, which must be a JSON object (no duplicate keys).
 *  - want_data && want_array: its "data" member, which must be an array
 *    of objects each with a string "event" (GET /v1/callbacks);
 *  - want_data && !want_array: its "data" member if that is an object,
 *    else a copy of the object without "api_key" (GET one; the POST/PUT
 *    echo, which the API sends at the top level);
 *  - !want_data: the object itself (want_array is ignored).
 * Returned callbacks have headers/payload strings holding JSON objects
 * replaced by the objects. Used by the client and by the fuzz target.
 * *out: new reference, NULL on error. PS_EINVALID "malformed response from
 * API: ..." when the body is not what was asked for.
 */
int ps_api_parse_response(json_t **out, const char *body, size_t len,
			  bool want_data, bool want_array, ps_error *err);

/* The API-Token for the given values into out (65 bytes): lowercase hex
 * of HMAC-SHA256(key = api_secret, "<username>:<api_key>@<timestamp>").
 * Intermediate buffers are wiped. */
void ps_api_token(char out[65], const char *api_secret, const char *username,
		  const char *api_key, const char *timestamp);

/*
 * libcurl is not linked: it is loaded (dlopen "libcurl.so.4") and
 * initialised (curl_global_init) by the first ps_api_new or
 * ps_api_check_url of the process, once, whichever thread comes first, so
 * a run that makes no request never loads it. Those two return PS_ERROR
 * "cannot load libcurl.so.4: <reason>" when it cannot be loaded.
 *
 * ps_api_global_init loads it now (0 or PS_ERROR), for a caller that
 * wants to know early; it is optional. ps_api_global_cleanup
 * (curl_global_cleanup) goes once at exit, after every client is freed;
 * it does nothing when libcurl was never loaded.
 */
int ps_api_global_init(void);
void ps_api_global_cleanup(void);

#endif
