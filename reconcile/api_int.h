/*
 * Private to the API client's files: what they share and nobody else may
 * use. The public contract is api.h. The files:
 *
 *   api.c           the handle: options, libcurl set-up, the token and
 *                   api_attempt(), one HTTP exchange;
 *   api_call.c      the five calls and call(), the retry loop over
 *                   classify() (done / fail / retry / confirm);
 *   api_response.c  parsing the API's answers (ps_api_parse_response);
 *   api_url.c       the base URL check (ps_api_check_url);
 *   api_curl.c      loading libcurl on first use (api_curl.h).
 */
#ifndef PS_API_INT_H
#define PS_API_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "api_curl.h"
#include "buf.h"

struct ps_api {
	CURL *curl;
	ps_api_opts opts;
	char *base_url; /* trailing '/' stripped */
	char *cacert;
	char *api_key;
	char *secret; /* wiped on free */
	char *username;
	long requests;
	long connections;
	uint64_t rng;
	ps_buf body;	     /* the current response body, capped */
	long retry_after_ms; /* from the current response; -1 when none */
	bool overflow;	     /* the current response went past max_body */
	long stop_seen_ms;   /* when an exchange first saw *opts.stop; 0 */
	char errbuf[CURL_ERROR_SIZE];
};

/* The outcome of one HTTP exchange. */
typedef struct attempt_result {
	CURLcode cc;
	long status;  /* 0 when no response arrived */
	long ms;      /* wall time of the exchange */
	bool too_big; /* the body went past max_body */
} attempt_result;

/*
 * One HTTP exchange: fresh timestamp and token, the response body in
 * api->body (capped), Retry-After in api->retry_after_ms.
 */
void api_attempt(attempt_result *res, ps_api *api, const char *method,
		 const char *url, const char *body);

/* Why no exchange may start now (a stop request, the deadline), or NULL. */
const char *api_must_stop(const ps_api *api);

/* Sleep, in short naps, until `ms` have passed or a stop is requested. */
void api_sleep(ps_api *api, long ms);

/* One -v line through opts.log (nothing when it is NULL). */
void api_log(ps_api *api, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The client's xorshift64* generator (for the backoff's jitter). */
uint64_t api_rand(ps_api *api);

/* The API's own "message" from an error body, or "" (never NULL). */
void api_message(char *out, size_t outlen, const ps_buf *body);

#endif
