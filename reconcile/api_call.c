/*
 * The PAVE callbacks API client's calls and their retry loop. See api.h for
 * the contract; the notes here are about how.
 *
 * Every request goes through call(), which owns the retry loop:
 *
 *   api_attempt()  one HTTP exchange on the client's reused easy handle,
 *                  with fresh auth headers, the body capped at max_body;
 *   classify       2xx → parse; 401/403 → PS_EAUTH; 404 → PS_ENOTFOUND
 *                  (per call); POST 400/409/422 → PS_EEXISTS; other 4xx →
 *                  PS_EHTTP; 429/5xx/transport errors → retry;
 *   backoff()      base*2^n capped, full jitter in [d/2, d], or Retry-After.
 *
 * An ambiguous POST failure (the request may have reached the server) is
 * confirmed with GET /v1/callbacks/:event before anything else, so a
 * retried create can never act twice.
 */
#include "api.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "api_int.h"
#include "buf.h"
#include "json.h"
#include "util.h"
#include "banned.h"

#define CALLBACKS_PATH "/v1/callbacks"
/* An API "message" quoted in our errors is cut at this many bytes. */
#define MESSAGE_MAX 200

enum call_kind { CALL_LIST, CALL_GET, CALL_CREATE, CALL_UPDATE, CALL_DELETE };

/* A transport error after which the request may have reached the server. */
static bool ambiguous(CURLcode cc)
{
	return cc == CURLE_OPERATION_TIMEDOUT || cc == CURLE_GOT_NOTHING ||
	       cc == CURLE_RECV_ERROR || cc == CURLE_SEND_ERROR ||
	       cc == CURLE_PARTIAL_FILE || cc == CURLE_SEND_FAIL_REWIND;
}

/* An error of the local TLS setup (a CA file that cannot be read, a
 * certificate that does not verify, a protocol not built in): every
 * attempt would fail the same way, so none is retried. */
static bool local_error(CURLcode cc)
{
	switch (cc) {
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_NOT_BUILT_IN:
		return true;
	default:
		return false;
	}
}

static const char *transport_reason(ps_api *api, CURLcode cc)
{
	/* Our refused rewind (see on_seek) reads badly as curl puts it. */
	if (cc == CURLE_SEND_FAIL_REWIND)
		return "the server closed the connection without a reply";
	if (cc == CURLE_ABORTED_BY_CALLBACK)
		return "interrupted (SIGINT/SIGTERM) while waiting for the "
		       "reply";
	return api->errbuf[0] ? api->errbuf : curl_easy_strerror(cc);
}

/* The backoff before retry number `n` (0-based). */
static long backoff(ps_api *api, int n)
{
	long d = api->opts.backoff_base_ms, max = api->opts.backoff_max_ms;
	int i;

	if (api->retry_after_ms >= 0)
		return api->retry_after_ms < max ? api->retry_after_ms : max;
	for (i = 0; i < n && d < max; i++)
		d *= 2;
	if (d > max)
		d = max;
	if (d <= 1)
		return d;
	return d / 2 + (long)(api_rand(api) % (uint64_t)(d - d / 2 + 1));
}

/* Percent-encode an event for the path; the known events pass unchanged
 * (the colon is sent plain). */
static void put_event(ps_buf *b, const char *event)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;

	for (p = (const unsigned char *)event; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~:", *p)) {
			ps_buf_putc(b, (char)*p);
		} else {
			ps_buf_putc(b, '%');
			ps_buf_putc(b, hex[*p >> 4]);
			ps_buf_putc(b, hex[*p & 15]);
		}
	}
}

static void make_path(ps_buf *path, const char *event)
{
	ps_buf_puts(path, CALLBACKS_PATH);
	if (event) {
		ps_buf_putc(path, '/');
		put_event(path, event);
	}
}

/*
 * After an ambiguous POST: does the event exist now? 1 with *found set
 * when it does, 0 when it does not (404), PS_EAUTH on 401/403, and
 * PS_ERROR when the answer says nothing (the caller carries on retrying).
 */
static int confirm_create(json_t **found, ps_api *api, const char *event,
			  ps_error *err)
{
	ps_buf path = PS_BUF_INIT, url = PS_BUF_INIT;
	attempt_result r;
	char msg[MESSAGE_MAX + 1];
	int rc = PS_ERROR;

	*found = NULL;
	if (api_must_stop(api))
		return PS_ERROR; /* not confirmed: the caller stops too */
	make_path(&path, event);
	ps_buf_printf(&url, "%s%s", api->base_url, path.ptr);
	api_attempt(api, "GET", url.ptr, NULL, &r);
	if (r.cc != CURLE_OK) {
		api_log(api, "GET %s -> connection error (%s) (%ld ms)",
			path.ptr, transport_reason(api, r.cc), r.ms);
		goto cleanup;
	}
	api_log(api, "GET %s -> %ld (%ld ms)", path.ptr, r.status, r.ms);
	if (r.status >= 200 && r.status < 300) {
		if (ps_api_parse_response(found, api->body.ptr, api->body.len,
					  true, false, NULL) == 0)
			rc = 1;
	} else if (r.status == 404) {
		rc = 0;
	} else if (r.status == 401 || r.status == 403) {
		api_message(&api->body, msg, sizeof(msg));
		rc = ps_error_set(err, PS_EAUTH,
				  "authentication failed (HTTP %ld)%s%s",
				  r.status, *msg ? ": " : "", msg);
		if (err)
			err->http_status = (int)r.status;
	}
cleanup:
	ps_buf_release(&path);
	ps_buf_release(&url);
	return rc;
}

/*
 * One API call with retries. `event` is the path's event (NULL for the
 * list and for POST, whose event is `post_event`). On success *out (when
 * not NULL) gets the parsed response as ps_api_parse_response gives it.
 */
static int call(json_t **out, ps_api *api, enum call_kind kind,
		const char *event, const char *post_event, const char *body,
		ps_error *err)
{
	static const char *const methods[] = { "GET", "GET", "POST", "PUT",
					       "DELETE" };
	const char *method = methods[kind];
	ps_buf path = PS_BUF_INIT, url = PS_BUF_INIT;
	char msg[MESSAGE_MAX + 1], reason[PS_ERROR_MSG_MAX];
	attempt_result r;
	long last_status = 0;
	int n, rc = PS_ERROR;

	if (out)
		*out = NULL;
	make_path(&path, event);
	ps_buf_printf(&url, "%s%s", api->base_url, path.ptr);

	for (n = 0;; n++) {
		bool can_retry = n < api->opts.retries;
		const char *stop = api_must_stop(api);
		long delay;

		if (stop) {
			api_log(api, "%s %s -> not sent: %s", method, path.ptr,
				stop);
			if (n == 0) {
				rc = ps_error_set(err, PS_ETRANSPORT,
						  "not sent: %s", stop);
				goto cleanup;
			}
			/* A retry that will not happen: report the last
			 * failure and why it was the last. */
			snprintf(reason + strlen(reason),
				 sizeof(reason) - strlen(reason),
				 "; no retry: %s", stop);
			n--;
			break;
		}
		api_attempt(api, method, url.ptr, body, &r);
		msg[0] = '\0';
		if (r.too_big) {
			api_log(api, "%s %s -> response too large (%ld ms)",
				method, path.ptr, r.ms);
			rc = ps_error_set(err, PS_EHTTP,
					  "response from API exceeded %zu "
					  "bytes",
					  api->opts.max_body);
			if (err)
				err->http_status = (int)r.status;
			goto cleanup;
		}
		if (r.cc == CURLE_OK) {
			last_status = r.status;
			if (r.status >= 200 && r.status < 300) {
				json_t *res = NULL;

				api_log(api, "%s %s -> %ld (%ld ms)", method,
					path.ptr, r.status, r.ms);
				/* A DELETE needs no answer: accept an empty
				 * body (204-style). */
				if (kind == CALL_DELETE && api->body.len == 0) {
					rc = 0;
					goto cleanup;
				}
				rc = ps_api_parse_response(
					&res, api->body.ptr, api->body.len,
					kind != CALL_DELETE, kind == CALL_LIST,
					err);
				if (rc == 0 && out)
					*out = res;
				else
					json_decref(res);
				if (rc < 0 && err)
					err->http_status = (int)r.status;
				goto cleanup;
			}
			api_message(&api->body, msg, sizeof(msg));
			if (r.status != 429 && r.status < 500) {
				api_log(api, "%s %s -> %ld (%ld ms)", method,
					path.ptr, r.status, r.ms);
				if (r.status == 401 || r.status == 403)
					rc = ps_error_set(
						err, PS_EAUTH,
						"authentication failed (HTTP "
						"%ld)%s%s",
						r.status, *msg ? ": " : "",
						msg);
				else if (r.status == 404 && kind != CALL_LIST &&
					 kind != CALL_CREATE)
					rc = ps_error_set(
						err, PS_ENOTFOUND,
						"no callback for event \"%s\" "
						"(HTTP 404)",
						event);
				else if (kind == CALL_CREATE &&
					 (r.status == 400 || r.status == 409 ||
					  r.status == 422))
					rc = ps_error_set(
						err, PS_EEXISTS,
						"callback for event \"%s\" may "
						"already exist (HTTP %ld)%s%s",
						post_event, r.status,
						*msg ? ": " : "", msg);
				else
					rc = ps_error_set(
						err, PS_EHTTP, "HTTP %ld%s%s",
						r.status, *msg ? ": " : "",
						msg);
				if (err)
					err->http_status = (int)r.status;
				goto cleanup;
			}
			snprintf(reason, sizeof(reason), "HTTP %ld%s%s",
				 r.status, *msg ? ": " : "", msg);
			if (!can_retry) {
				api_log(api, "%s %s -> %ld (%ld ms)", method,
					path.ptr, r.status, r.ms);
				break;
			}
			delay = backoff(api, n);
			api_log(api, "%s %s -> %ld, retrying in %ld ms", method,
				path.ptr, r.status, delay);
		} else {
			const char *why = transport_reason(api, r.cc);
			last_status = 0;
			snprintf(reason, sizeof(reason), "%s", why);
			if (local_error(r.cc)) {
				api_log(api,
					"%s %s -> TLS setup error (%s) "
					"(%ld ms), not retried",
					method, path.ptr, reason, r.ms);
				rc = ps_error_set(
					err, PS_ELOCAL,
					"cannot use TLS with the API: %s "
					"(not retried: check --cacert and "
					"the server's certificate)",
					reason);
				goto cleanup;
			}
			if (kind == CALL_CREATE &&
			    (ambiguous(r.cc) ||
			     r.cc == CURLE_ABORTED_BY_CALLBACK) &&
			    api_must_stop(api)) {
				/* No confirming GET now: the next run sees
				 * whether the create landed (POST answers
				 * "exists" and falls back to PUT). */
				rc = ps_error_set(
					err, PS_ETRANSPORT,
					"%s; the create may have reached "
					"the API and was not confirmed (%s): "
					"the next run checks",
					reason, api_must_stop(api));
				goto cleanup;
			}
			if (kind == CALL_CREATE && ambiguous(r.cc)) {
				json_t *found = NULL;

				api_log(api,
					"%s %s -> connection error (%s) "
					"(%ld ms), confirming",
					method, path.ptr, reason, r.ms);
				rc = confirm_create(&found, api, post_event,
						    err);
				if (rc == 1) {
					if (out)
						*out = found;
					else
						json_decref(found);
					rc = 0;
					goto cleanup;
				}
				if (rc == PS_EAUTH)
					goto cleanup;
				rc = PS_ERROR;
				if (!can_retry)
					break;
				delay = backoff(api, n);
				api_log(api,
					"%s %s -> not created, retrying "
					"in %ld ms",
					method, path.ptr, delay);
			} else if (!can_retry) {
				api_log(api,
					"%s %s -> connection error (%s) "
					"(%ld ms)",
					method, path.ptr, reason, r.ms);
				break;
			} else {
				delay = backoff(api, n);
				api_log(api,
					"%s %s -> connection error (%s), "
					"retrying in %ld ms",
					method, path.ptr, reason, delay);
			}
		}
		if (api->opts.deadline_ms > 0 &&
		    ps_api_now_ms() + delay >= api->opts.deadline_ms) {
			snprintf(reason + strlen(reason),
				 sizeof(reason) - strlen(reason),
				 "; no retry: the run's deadline (--deadline) "
				 "comes first");
			break;
		}
		api_sleep(api, delay);
	}

	if (last_status) {
		rc = ps_error_set(err, PS_EHTTP,
				  "%s (gave up after %d "
				  "attempts)",
				  reason, n + 1);
		if (err)
			err->http_status = (int)last_status;
	} else {
		rc = ps_error_set(err, PS_ETRANSPORT,
				  "cannot reach the API: "
				  "%s (gave up after %d attempts)",
				  reason, n + 1);
	}
cleanup:
	ps_buf_release(&path);
	ps_buf_release(&url);
	return rc;
}

/* ------------------------------------------------------------------ */
/* The calls                                                            */

/* Encode a request body from spec; `event` is added for POST. */
static json_t *as_object(json_t *v)
{
	json_t *parsed;

	if (!v || json_is_null(v))
		return json_object();
	if (json_is_string(v)) {
		parsed = json_loadb(json_string_value(v), json_string_length(v),
				    JSON_REJECT_DUPLICATES, NULL);
		if (json_is_object(parsed))
			return parsed;
		json_decref(parsed);
	}
	return json_deep_copy(v);
}

/* Copies, not references, throughout: spec belongs to the config, which
 * other threads read at the same time, and json_incref writes to it.
 * NULL when the body would be larger than PS_JSON_MAX. */
static char *spec_body(const char *event, const json_t *spec)
{
	json_t *o = json_object(), *v;
	char *s;

	if (!o)
		ps_oom();
	if (event)
		json_object_set_new(o, "event", json_string(event));
	v = json_object_get(spec, "url");
	if (v)
		json_object_set_new(o, "url", json_deep_copy(v));
	v = json_object_get(spec, "method");
	json_object_set_new(o, "method",
			    json_is_string(v) ? json_deep_copy(v)
					      : json_string("POST"));
	/* headers/payload go as objects (a string holding one is sent as
	 * the object; anything else as it is, for the API to judge). */
	json_object_set_new(o, "headers",
			    as_object(json_object_get(spec, "headers")));
	json_object_set_new(o, "payload",
			    as_object(json_object_get(spec, "payload")));
	s = ps_json_compact_secret(o);
	json_decref(o);
	return s;
}

/* Free a request body after wiping it: header values are sensitive. */
static void free_body(char *s)
{
	ps_free_secret(s);
}

static int check_event(const char *event, ps_error *err)
{
	if (!event || !*event)
		return ps_error_set(err, PS_EINVALID, "no event given");
	return 0;
}

int ps_api_list(json_t **out, ps_api *api, ps_error *err)
{
	return call(out, api, CALL_LIST, NULL, NULL, NULL, err);
}

int ps_api_get(json_t **out, ps_api *api, const char *event, ps_error *err)
{
	int rc;

	*out = NULL;
	if ((rc = check_event(event, err)) < 0)
		return rc;
	return call(out, api, CALL_GET, event, NULL, NULL, err);
}

int ps_api_create(json_t **echo, ps_api *api, const char *event,
		  const json_t *spec, ps_error *err)
{
	char *body;
	int rc;

	if (echo)
		*echo = NULL;
	if ((rc = check_event(event, err)) < 0)
		return rc;
	body = spec_body(event, spec);
	if (!body)
		return ps_error_set(err, PS_ELIMIT,
				    "%s: the request body would "
				    "be larger than %zu bytes (limit)",
				    event, PS_JSON_MAX);
	rc = call(echo, api, CALL_CREATE, NULL, event, body, err);
	free_body(body);
	return rc;
}

int ps_api_update(json_t **echo, ps_api *api, const char *event,
		  const json_t *spec, ps_error *err)
{
	char *body;
	int rc;

	if (echo)
		*echo = NULL;
	if ((rc = check_event(event, err)) < 0)
		return rc;
	body = spec_body(NULL, spec);
	if (!body)
		return ps_error_set(err, PS_ELIMIT,
				    "%s: the request body would "
				    "be larger than %zu bytes (limit)",
				    event, PS_JSON_MAX);
	rc = call(echo, api, CALL_UPDATE, event, NULL, body, err);
	free_body(body);
	return rc;
}

int ps_api_delete(ps_api *api, const char *event, ps_error *err)
{
	int rc;

	if ((rc = check_event(event, err)) < 0)
		return rc;
	return call(NULL, api, CALL_DELETE, event, NULL, NULL, err);
}
