/*
 * The PAVE callbacks API client's calls and their retry loop. See api.h for
 * the contract; the notes here are about how.
 *
 * Every request goes through call(), a loop over one exchange and a
 * verdict on it:
 *
 *   api_attempt()  one HTTP exchange on the client's reused easy handle,
 *                  with fresh auth headers, the body capped at max_body;
 *   classify()     done (2xx, parsed) / fail (401/403 → PS_EAUTH; 404 →
 *                  PS_ENOTFOUND per call; POST 400/409/422 → PS_EEXISTS;
 *                  other 4xx → PS_EHTTP; TLS set-up → PS_ELOCAL) / retry
 *                  (429, 5xx, transport errors) / confirm (an ambiguous
 *                  POST);
 *   backoff()      base*2^n capped, full jitter in [d/2, d], or Retry-After.
 *
 * An ambiguous POST failure (the request may have reached the server) is
 * confirmed with GET /v1/callbacks/:event before anything else, so a
 * retried create can never act twice.
 */
#include "api.h"

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
	return api->errbuf[0] ? api->errbuf : api_curl.easy_strerror(cc);
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
	api_attempt(&r, api, "GET", url.ptr, NULL);
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
		api_message(msg, sizeof(msg), &api->body);
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

/* What call() does after one exchange; classify() decides. */
enum verdict {
	CALL_DONE,    /* success: c->rc is 0, *out is set */
	CALL_FAIL,    /* a final error: c->rc and err say which */
	CALL_RETRY,   /* a failure worth another attempt: c->reason */
	CALL_CONFIRM, /* an ambiguous create: ask the API before retrying */
};

/* Which failure is retried, for its log lines. */
enum retry_kind { RETRY_HTTP, RETRY_TRANSPORT, RETRY_UNCONFIRMED };

/* One call in progress: what it sends and how its attempts went. */
struct call {
	ps_api *api;
	enum call_kind kind;
	const char *method;
	const char *post_event; /* POST's event (not in its path), or NULL */
	const char *event;	/* the path's event, or NULL */
	ps_buf path, url;
	attempt_result r; /* the last exchange */
	int attempts;	  /* exchanges made */
	long last_status; /* of the last attempt; 0 after a transport error */
	enum retry_kind retry;	       /* with CALL_RETRY */
	int rc;			       /* with CALL_DONE and CALL_FAIL */
	char reason[PS_ERROR_MSG_MAX]; /* why the last attempt failed */
};

static void set_http_status(ps_error *err, long status)
{
	if (err)
		err->http_status = (int)status;
}

static void append_reason(struct call *c, const char *text)
{
	size_t n = strlen(c->reason);

	snprintf(c->reason + n, sizeof(c->reason) - n, "%s", text);
}

static enum verdict on_too_big(struct call *c, ps_error *err)
{
	api_log(c->api, "%s %s -> response too large (%ld ms)", c->method,
		c->path.ptr, c->r.ms);
	c->rc = ps_error_set(err, PS_EHTTP,
			     "response from API exceeded %zu bytes",
			     c->api->opts.max_body);
	set_http_status(err, c->r.status);
	return CALL_FAIL;
}

static enum verdict on_success(struct call *c, json_t **out, ps_error *err)
{
	ps_api *api = c->api;
	json_t *res = NULL;

	api_log(api, "%s %s -> %ld (%ld ms)", c->method, c->path.ptr,
		c->r.status, c->r.ms);
	/* A DELETE needs no answer: accept an empty body (204-style). */
	if (c->kind == CALL_DELETE && api->body.len == 0) {
		c->rc = 0;
		return CALL_DONE;
	}
	c->rc = ps_api_parse_response(&res, api->body.ptr, api->body.len,
				      c->kind != CALL_DELETE,
				      c->kind == CALL_LIST, err);
	if (c->rc < 0) {
		set_http_status(err, c->r.status);
		return CALL_FAIL;
	}
	if (out)
		*out = res;
	else
		json_decref(res);
	return CALL_DONE;
}

/* A response outside 2xx: 429 and 5xx are retried, the rest is final. */
static enum verdict on_http_error(struct call *c, ps_error *err)
{
	long s = c->r.status;
	char msg[MESSAGE_MAX + 1];
	const char *sep;

	api_message(msg, sizeof(msg), &c->api->body);
	sep = *msg ? ": " : "";
	if (s == 429 || s >= 500) {
		snprintf(c->reason, sizeof(c->reason), "HTTP %ld%s%s", s, sep,
			 msg);
		c->retry = RETRY_HTTP;
		return CALL_RETRY;
	}
	api_log(c->api, "%s %s -> %ld (%ld ms)", c->method, c->path.ptr, s,
		c->r.ms);
	if (s == 401 || s == 403)
		c->rc = ps_error_set(err, PS_EAUTH,
				     "authentication failed (HTTP %ld)%s%s", s,
				     sep, msg);
	else if (s == 404 && c->kind != CALL_LIST && c->kind != CALL_CREATE)
		c->rc = ps_error_set(err, PS_ENOTFOUND,
				     "no callback for event \"%s\" (HTTP 404)",
				     c->event);
	else if (c->kind == CALL_CREATE && (s == 400 || s == 409 || s == 422))
		c->rc = ps_error_set(err, PS_EEXISTS,
				     "callback for event \"%s\" may already "
				     "exist (HTTP %ld)%s%s",
				     c->post_event, s, sep, msg);
	else
		c->rc = ps_error_set(err, PS_EHTTP, "HTTP %ld%s%s", s, sep,
				     msg);
	set_http_status(err, s);
	return CALL_FAIL;
}

/* No response: a local TLS problem is final; an ambiguous create is
 * confirmed (or, when stopping, left for the next run); the rest is
 * retried. */
static enum verdict on_transport_error(struct call *c, ps_error *err)
{
	CURLcode cc = c->r.cc;
	const char *stop;

	c->last_status = 0;
	snprintf(c->reason, sizeof(c->reason), "%s",
		 transport_reason(c->api, cc));
	if (local_error(cc)) {
		api_log(c->api,
			"%s %s -> TLS setup error (%s) (%ld ms), not retried",
			c->method, c->path.ptr, c->reason, c->r.ms);
		c->rc = ps_error_set(err, PS_ELOCAL,
				     "cannot use TLS with the API: %s (not "
				     "retried: check --cacert and the "
				     "server's certificate)",
				     c->reason);
		return CALL_FAIL;
	}
	c->retry = RETRY_TRANSPORT;
	if (c->kind != CALL_CREATE)
		return CALL_RETRY;
	stop = api_must_stop(c->api);
	if (stop && (ambiguous(cc) || cc == CURLE_ABORTED_BY_CALLBACK)) {
		/* No confirming GET now: the next run sees whether the create
		 * landed (POST answers "exists" and falls back to PUT). */
		c->rc = ps_error_set(err, PS_ETRANSPORT,
				     "%s; the create may have reached the API "
				     "and was not confirmed (%s): the next run "
				     "checks",
				     c->reason, stop);
		return CALL_FAIL;
	}
	return ambiguous(cc) ? CALL_CONFIRM : CALL_RETRY;
}

static enum verdict classify(struct call *c, json_t **out, ps_error *err)
{
	if (c->r.too_big)
		return on_too_big(c, err);
	if (c->r.cc != CURLE_OK)
		return on_transport_error(c, err);
	c->last_status = c->r.status;
	if (c->r.status >= 200 && c->r.status < 300)
		return on_success(c, out, err);
	return on_http_error(c, err);
}

/* After an ambiguous POST: done if the event now exists, retried if not. */
static enum verdict confirm(struct call *c, json_t **out, ps_error *err)
{
	json_t *found = NULL;
	int rc;

	api_log(c->api, "%s %s -> connection error (%s) (%ld ms), confirming",
		c->method, c->path.ptr, c->reason, c->r.ms);
	rc = confirm_create(&found, c->api, c->post_event, err);
	if (rc == 1) {
		if (out)
			*out = found;
		else
			json_decref(found);
		c->rc = 0;
		return CALL_DONE;
	}
	if (rc == PS_EAUTH) {
		c->rc = rc;
		return CALL_FAIL;
	}
	c->retry = RETRY_UNCONFIRMED;
	return CALL_RETRY;
}

/* The log line of a failure retried in `delay` ms, or (delay < 0) of the
 * last failure, after which no attempt is left. */
static void log_retry(struct call *c, long delay)
{
	const char *m = c->method, *p = c->path.ptr;

	switch (c->retry) {
	case RETRY_HTTP:
		if (delay < 0)
			api_log(c->api, "%s %s -> %ld (%ld ms)", m, p,
				c->r.status, c->r.ms);
		else
			api_log(c->api, "%s %s -> %ld, retrying in %ld ms", m,
				p, c->r.status, delay);
		break;
	case RETRY_TRANSPORT:
		if (delay < 0)
			api_log(c->api,
				"%s %s -> connection error (%s) (%ld ms)", m, p,
				c->reason, c->r.ms);
		else
			api_log(c->api,
				"%s %s -> connection error (%s), retrying in "
				"%ld ms",
				m, p, c->reason, delay);
		break;
	case RETRY_UNCONFIRMED:
		if (delay >= 0)
			api_log(c->api,
				"%s %s -> not created, retrying in %ld ms", m,
				p, delay);
		break;
	}
}

/* The error after the last retryable failure. */
static int give_up(struct call *c, ps_error *err)
{
	int rc;

	if (!c->last_status)
		return ps_error_set(err, PS_ETRANSPORT,
				    "cannot reach the API: %s (gave up after "
				    "%d attempts)",
				    c->reason, c->attempts);
	rc = ps_error_set(err, PS_EHTTP, "%s (gave up after %d attempts)",
			  c->reason, c->attempts);
	set_http_status(err, c->last_status);
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
	struct call c = { .api = api,
			  .kind = kind,
			  .method = methods[kind],
			  .post_event = post_event,
			  .event = event,
			  .path = PS_BUF_INIT,
			  .url = PS_BUF_INIT };
	enum verdict v;

	if (out)
		*out = NULL;
	make_path(&c.path, event);
	ps_buf_printf(&c.url, "%s%s", api->base_url, c.path.ptr);
	for (;;) {
		const char *stop = api_must_stop(api);
		long delay;

		if (stop)
			api_log(api, "%s %s -> not sent: %s", c.method,
				c.path.ptr, stop);
		if (stop && !c.attempts) {
			c.rc = ps_error_set(err, PS_ETRANSPORT, "not sent: %s",
					    stop);
			goto cleanup;
		}
		if (stop) {
			/* A retry that will not happen: report the last
			 * failure and why it was the last. */
			append_reason(&c, "; no retry: ");
			append_reason(&c, stop);
			break;
		}
		api_attempt(&c.r, api, c.method, c.url.ptr, body);
		c.attempts++;
		v = classify(&c, out, err);
		if (v == CALL_CONFIRM)
			v = confirm(&c, out, err);
		if (v != CALL_RETRY)
			goto cleanup;
		if (c.attempts > api->opts.retries) {
			log_retry(&c, -1);
			break;
		}
		delay = backoff(api, c.attempts - 1);
		log_retry(&c, delay);
		if (api->opts.deadline_ms > 0 &&
		    ps_api_now_ms() + delay >= api->opts.deadline_ms) {
			append_reason(&c, "; no retry: the run's deadline "
					  "(--deadline) comes first");
			break;
		}
		api_sleep(api, delay);
	}
	c.rc = give_up(&c, err);
cleanup:
	ps_buf_release(&c.path);
	ps_buf_release(&c.url);
	return c.rc;
}

/* ------------------------------------------------------------------ */
/* The calls                                                            */

/* Encode a request body from spec; `event` is added for POST. */
static json_t *as_object(json_t *v)
{
	json_t *parsed;

	if (!v || json_is_null(v))
		return json_object();
	parsed = ps_json_string_object(v);
	if (parsed)
		return parsed;
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

/* A create (POST /v1/callbacks, the event in the body) or an update (PUT
 * /v1/callbacks/EVENT) of `spec`. */
static int send_spec(json_t **echo, ps_api *api, enum call_kind kind,
		     const char *event, const json_t *spec, ps_error *err)
{
	bool create = kind == CALL_CREATE;
	char *body;
	int rc;

	if (echo)
		*echo = NULL;
	if ((rc = check_event(event, err)) < 0)
		return rc;
	body = spec_body(create ? event : NULL, spec);
	if (!body)
		return ps_error_set(err, PS_ELIMIT,
				    "%s: the request body would "
				    "be larger than %zu bytes (limit)",
				    event, PS_JSON_MAX);
	rc = call(echo, api, kind, create ? NULL : event, create ? event : NULL,
		  body, err);
	free_body(body);
	return rc;
}

int ps_api_create(json_t **echo, ps_api *api, const char *event,
		  const json_t *spec, ps_error *err)
{
	return send_spec(echo, api, CALL_CREATE, event, spec, err);
}

int ps_api_update(json_t **echo, ps_api *api, const char *event,
		  const json_t *spec, ps_error *err)
{
	return send_spec(echo, api, CALL_UPDATE, event, spec, err);
}

int ps_api_delete(ps_api *api, const char *event, ps_error *err)
{
	int rc;

	if ((rc = check_event(event, err)) < 0)
		return rc;
	return call(NULL, api, CALL_DELETE, event, NULL, NULL, err);
}
