/*
 * Unit tests of the API client (reconcile/api.c) against the real PAVE API
 * emulator (tests/emulator/pave_emulator.py), which the group setup starts
 * on a free port and the teardown stops. Each case resets the emulator's
 * storage, faults, settings and request log through its admin API (with a
 * separate plain CURL handle), drives the client, then checks both what the
 * client returned and the requests the emulator received.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "buf.h"
#include "testemu.h"
#include "testutil.h"
#include "util.h"
#include "banned.h"

#define EV "SESSION:COMPLETE"
#define EV2 "SESSION:STAGE_CHANGE"

static CURL *admin_curl; /* for the hand-made requests below */

static int start_emulator(void **state)
{
	static const char *const accounts[] = { "k1:s1:u1", "k2:s2:u2", NULL };

	(void)state;
	if (test_emu_start(accounts) < 0)
		return -1;
	admin_curl = curl_easy_init();
	return admin_curl ? 0 : -1;
}

static int stop_emulator(void **state)
{
	(void)state;
	curl_easy_cleanup(admin_curl);
	return test_emu_stop();
}

/* ------------------------------------------------------------------ */
/* Plain HTTP to the emulator (admin API, hand-signed requests)         */

static size_t collect(char *data, size_t size, size_t n, void *ctx)
{
	return ps_buf_put(ctx, data, size * n) < 0 ? 0 : size * n;
}

/* METHOD test_emu_url+path with an optional JSON body and extra headers. The
 * status; *out (may be NULL) gets the parsed reply (NULL if not JSON). */
static long http(const char *method, const char *path, const char *body,
		 struct curl_slist *headers, json_t **out)
{
	ps_buf url = PS_BUF_INIT, resp = PS_BUF_INIT;
	struct curl_slist *h =
		curl_slist_append(NULL, "Content-Type: application/json");
	struct curl_slist *p;
	long status = 0;

	for (p = headers; p; p = p->next)
		h = curl_slist_append(h, p->data);
	ps_buf_printf(&url, "%s%s", test_emu_url, path);
	curl_easy_reset(admin_curl);
	curl_easy_setopt(admin_curl, CURLOPT_URL, url.ptr);
	curl_easy_setopt(admin_curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(admin_curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(admin_curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(admin_curl, CURLOPT_WRITEDATA, &resp);
	curl_easy_setopt(admin_curl, CURLOPT_TIMEOUT_MS, 30000L);
	if (body)
		curl_easy_setopt(admin_curl, CURLOPT_POSTFIELDS, body);
	assert_int_equal(curl_easy_perform(admin_curl), CURLE_OK);
	curl_easy_getinfo(admin_curl, CURLINFO_RESPONSE_CODE, &status);
	if (out)
		*out = json_loadb(resp.ptr, resp.len, 0, NULL);
	curl_slist_free_all(h);
	ps_buf_release(&url);
	ps_buf_release(&resp);
	return status;
}

static void admin(const char *method, const char *path, const char *body)
{
	ps_buf p = PS_BUF_INIT;

	ps_buf_printf(&p, "/_emulator/%s", path);
	assert_int_equal(http(method, p.ptr, body, NULL, NULL), 200);
	ps_buf_release(&p);
}

static json_t *admin_get(const char *path)
{
	ps_buf p = PS_BUF_INIT;
	json_t *v = NULL;

	ps_buf_printf(&p, "/_emulator/%s", path);
	assert_int_equal(http("GET", p.ptr, NULL, NULL, &v), 200);
	assert_non_null(v);
	ps_buf_release(&p);
	return v;
}

static json_t *request_log(void)
{
	json_t *v = admin_get("requests");

	assert_true(json_is_array(v));
	return v;
}

static size_t request_count(void)
{
	json_t *v = request_log();
	size_t n = json_array_size(v);

	json_decref(v);
	return n;
}

/* The "METHOD path" of each logged request, joined with ", ". */
static char *request_summary(void)
{
	json_t *log = request_log(), *e;
	ps_buf out = PS_BUF_INIT;
	size_t i;

	json_array_foreach(log, i, e)
	{
		ps_buf_printf(&out, "%s%s %s", i ? ", " : "",
			      json_string_value(json_object_get(e, "method")),
			      json_string_value(json_object_get(e, "path")));
	}
	json_decref(log);
	return ps_buf_detach(&out, NULL);
}

static void set_callback(const char *key, const char *event, const char *url)
{
	ps_buf path = PS_BUF_INIT, body = PS_BUF_INIT;

	ps_buf_printf(&path, "callbacks/%s", key);
	ps_buf_printf(&body, "{\"%s\":{\"url\":\"%s\"}}", event, url);
	admin("PUT", path.ptr, body.ptr);
	ps_buf_release(&path);
	ps_buf_release(&body);
}

static int reset(void **state)
{
	(void)state;
	admin("DELETE", "faults", NULL);
	admin("POST", "config",
	      "{\"delay_ms\":0,\"post_existing\":\"400\",\"skew_seconds\":300,"
	      "\"auth_status\":401}");
	admin("PUT", "callbacks/k1", "{}");
	admin("PUT", "callbacks/k2", "{}");
	admin("POST", "accounts",
	      "{\"api_key\":\"k1\",\"api_secret\":\"s1\",\"username\":\"u1\"}");
	admin("DELETE", "requests", NULL);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Client helpers                                                       */

typedef struct log_capture {
	ps_buf text;
	int lines;
} log_capture;

static void capture(void *ctx, const char *line)
{
	log_capture *c = ctx;

	ps_buf_puts(&c->text, line);
	ps_buf_putc(&c->text, '\n');
	c->lines++;
}

static log_capture logs = { PS_BUF_INIT, 0 };

static void test_opts(ps_api_opts *o)
{
	ps_api_opts_init(o);
	o->base_url = test_emu_url;
	o->retries = 2;
	o->backoff_base_ms = 10;
	o->backoff_max_ms = 2000;
	o->timeout_ms = 5000;
	o->log = capture;
	o->log_ctx = &logs;
	ps_buf_reset(&logs.text);
	logs.lines = 0;
}

static ps_api *client_with(const ps_api_opts *o, const char *key,
			   const char *secret, const char *user)
{
	ps_api *api = NULL;
	ps_error err;

	ps_error_clear(&err);
	assert_int_equal(ps_api_new(&api, o, key, secret, user, &err), 0);
	assert_non_null(api);
	return api;
}

static ps_api *client(void)
{
	ps_api_opts o;

	test_opts(&o);
	return client_with(&o, "k1", "s1", "u1");
}

static json_t *spec(const char *url)
{
	json_t *s = json_pack("{s:s, s:s, s:{s:s}, s:{s:i}}", "url", url,
			      "method", "POST", "headers", "Authorization",
			      "Bearer hunter2", "payload", "retries", 3);

	assert_non_null(s);
	return s;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------ */
/* Token                                                                */

static void test_token_known_vector(void **state)
{
	char token[65], expected[65];
	unsigned char md[32];
	unsigned int len = 0;
	const char *msg = "u1:k1@2024-01-02T03:04:05Z";

	(void)state;
	ps_api_token(token, "s1", "u1", "k1", "2024-01-02T03:04:05Z");
	/* Independently, with OpenSSL. */
	assert_non_null(HMAC(EVP_sha256(), "s1", 2, (const unsigned char *)msg,
			     strlen(msg), md, &len));
	assert_int_equal(len, 32);
	ps_hex(expected, md, 32);
	assert_string_equal(token, expected);
	/* And a fixed vector (Python's hmac module). */
	assert_string_equal(token, "2509f81907ce9e1b18557df0540c5205746a013cba"
				   "21c9f1818f8b66e364773b");
}

static void test_token_accepted_by_emulator(void **state)
{
	char ts[32], token[65], line[128];
	struct curl_slist *h = NULL;
	json_t *reply = NULL;
	time_t now = time(NULL);
	struct tm tm;

	(void)state;
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	ps_api_token(token, "s1", "u1", "k1", ts);
	h = curl_slist_append(h, "API-Key: k1");
	snprintf(line, sizeof(line), "API-Timestamp: %s", ts);
	h = curl_slist_append(h, line);
	snprintf(line, sizeof(line), "API-Token: %s", token);
	h = curl_slist_append(h, line);
	assert_int_equal(http("GET", "/v1/callbacks", NULL, h, &reply), 200);
	assert_string_equal(
		json_string_value(json_object_get(reply, "api_key")), "k1");
	json_decref(reply);
	curl_slist_free_all(h);

	/* A token for another secret is refused. */
	h = NULL;
	ps_api_token(token, "s2", "u1", "k1", ts);
	h = curl_slist_append(h, "API-Key: k1");
	snprintf(line, sizeof(line), "API-Timestamp: %s", ts);
	h = curl_slist_append(h, line);
	snprintf(line, sizeof(line), "API-Token: %s", token);
	h = curl_slist_append(h, line);
	assert_int_equal(http("GET", "/v1/callbacks", NULL, h, NULL), 401);
	curl_slist_free_all(h);
}

/* ------------------------------------------------------------------ */
/* Success paths                                                        */

static void test_crud(void **state)
{
	ps_api *api = client();
	json_t *s = spec("https://hooks.example/a"), *echo = NULL, *got = NULL;
	json_t *list = NULL, *stored;
	ps_error err;
	char *summary;

	(void)state;
	ps_error_clear(&err);
	assert_int_equal(ps_api_list(&list, api, &err), 0);
	assert_true(json_is_array(list));
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);

	assert_int_equal(ps_api_create(&echo, api, EV, s, &err), 0);
	assert_non_null(echo);
	assert_null(json_object_get(echo, "api_key"));
	assert_string_equal(json_string_value(json_object_get(echo, "event")),
			    EV);
	assert_string_equal(json_string_value(json_object_get(echo, "url")),
			    "https://hooks.example/a");
	assert_string_equal(
		json_string_value(json_object_get(
			json_object_get(echo, "headers"), "Authorization")),
		"Bearer hunter2");
	json_decref(echo);

	assert_int_equal(ps_api_get(&got, api, EV, &err), 0);
	assert_string_equal(json_string_value(json_object_get(got, "method")),
			    "POST");
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(got, "payload"), "retries")),
			 3);
	json_decref(got);

	json_object_set_new(s, "url", json_string("https://hooks.example/b"));
	json_object_del(s, "method");
	assert_int_equal(ps_api_update(&echo, api, EV, s, &err), 0);
	assert_string_equal(json_string_value(json_object_get(echo, "url")),
			    "https://hooks.example/b");
	json_decref(echo);
	stored = admin_get("callbacks/k1");
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(stored, EV), "url")),
			    "https://hooks.example/b");
	json_decref(stored);

	assert_int_equal(ps_api_list(&list, api, &err), 0);
	assert_int_equal(json_array_size(list), 1);
	json_decref(list);

	assert_int_equal(ps_api_delete(api, EV, &err), 0);
	stored = admin_get("callbacks/k1");
	assert_int_equal(json_object_size(stored), 0);
	json_decref(stored);

	summary = request_summary();
	assert_string_equal(
		summary,
		"GET /v1/callbacks, POST /v1/callbacks, "
		"GET /v1/callbacks/SESSION:COMPLETE, "
		"PUT /v1/callbacks/SESSION:COMPLETE, GET /v1/callbacks, "
		"DELETE /v1/callbacks/SESSION:COMPLETE");
	free(summary);
	assert_int_equal(ps_api_requests(api), 6);
	json_decref(s);
	ps_api_free(api);
}

static void test_request_bodies(void **state)
{
	ps_api *api = client();
	json_t *s = json_pack("{s:s}", "url", "https://h/x"), *log, *body;
	json_t *expected;
	ps_error err;

	(void)state;
	assert_int_equal(ps_api_create(NULL, api, EV, s, &err), 0);
	assert_int_equal(ps_api_update(NULL, api, EV, s, &err), 0);
	log = request_log();
	/* POST: event + defaults filled in; headers/payload as objects. */
	body = json_object_get(json_array_get(log, 0), "body");
	expected = json_pack("{s:s, s:s, s:s, s:{}, s:{}}", "event", EV, "url",
			     "https://h/x", "method", "POST", "headers",
			     "payload");
	assert_true(json_equal(body, expected));
	json_decref(expected);
	/* PUT: no event. */
	body = json_object_get(json_array_get(log, 1), "body");
	expected = json_pack("{s:s, s:s, s:{}, s:{}}", "url", "https://h/x",
			     "method", "POST", "headers", "payload");
	assert_true(json_equal(body, expected));
	json_decref(expected);
	json_decref(log);
	json_decref(s);
	ps_api_free(api);
}

static void test_reads_string_headers_payload(void **state)
{
	ps_api *api = client();
	json_t *got = NULL;
	const char *body;
	ps_error err;

	(void)state;
	/* A dashboard edit storing headers/payload as JSON strings. */
	admin("PUT", "callbacks/k1",
	      "{\"" EV "\":{\"url\":\"https://d\",\"headers\":\"{\\\"A\\\":"
	      "\\\"b\\\"}\",\"payload\":\"{\\\"n\\\":1}\"}}");
	assert_int_equal(ps_api_get(&got, api, EV, &err), 0);
	assert_true(json_is_object(json_object_get(got, "headers")));
	json_decref(got);
	/* The emulator stores objects, so check a reply holding strings on
	 * the parser directly; a string that is not an object is kept. */
	body = "{\"data\":{\"event\":\"E\",\"headers\":\"{\\\"A\\\":\\\"b\\\"}"
	       "\","
	       "\"payload\":\"not json\"}}";
	assert_int_equal(ps_api_parse_response(&got, body, strlen(body), true,
					       false, &err),
			 0);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(got, "headers"), "A")),
			    "b");
	assert_string_equal(json_string_value(json_object_get(got, "payload")),
			    "not json");
	json_decref(got);
	ps_api_free(api);
}

/* ------------------------------------------------------------------ */
/* Mapped failures                                                      */

static void test_not_found(void **state)
{
	ps_api *api = client();
	json_t *s = spec("https://h/x"), *out = NULL;
	ps_error err;

	(void)state;
	assert_int_equal(ps_api_get(&out, api, EV, &err), PS_ENOTFOUND);
	assert_null(out);
	assert_int_equal(err.http_status, 404);
	assert_int_equal(ps_api_update(&out, api, EV, s, &err), PS_ENOTFOUND);
	assert_null(out);
	assert_int_equal(ps_api_delete(api, EV, &err), PS_ENOTFOUND);
	assert_non_null(strstr(err.message, EV));
	assert_int_equal(request_count(), 3); /* never retried */
	json_decref(s);
	ps_api_free(api);
}

static void test_create_existing(void **state)
{
	static const char *const modes[] = { "400", "409", "422" };
	ps_api *api = client();
	json_t *s = spec("https://h/x"), *echo = NULL;
	ps_error err;
	char cfg[64];
	size_t i;

	(void)state;
	set_callback("k1", EV, "https://old");
	for (i = 0; i < 3; i++) {
		snprintf(cfg, sizeof(cfg), "{\"post_existing\":\"%s\"}",
			 modes[i]);
		admin("POST", "config", cfg);
		assert_int_equal(ps_api_create(&echo, api, EV, s, &err),
				 PS_EEXISTS);
		assert_null(echo);
		assert_int_equal(err.http_status, strtol(modes[i], NULL, 10));
		assert_non_null(strstr(err.message, "already exists"));
	}
	assert_int_equal(request_count(), 3);
	json_decref(s);
	ps_api_free(api);
}

static void test_bad_secret_no_retry(void **state)
{
	ps_api_opts o;
	ps_api *api;
	json_t *out = NULL;
	ps_error err;

	(void)state;
	test_opts(&o);
	api = client_with(&o, "k1", "wrong", "u1");
	assert_int_equal(ps_api_list(&out, api, &err), PS_EAUTH);
	assert_int_equal(err.http_status, 401);
	assert_string_equal(err.message, "authentication failed (HTTP 401): "
					 "Invalid API credentials.");
	assert_int_equal(request_count(), 1);
	assert_int_equal(ps_api_requests(api), 1);

	admin("POST", "config", "{\"auth_status\":403}");
	assert_int_equal(ps_api_get(&out, api, EV, &err), PS_EAUTH);
	assert_int_equal(err.http_status, 403);
	assert_int_equal(request_count(), 2);
	ps_api_free(api);
}

static void test_other_4xx_not_retried(void **state)
{
	ps_api *api = client();
	json_t *out = NULL;
	ps_error err;

	(void)state;
	admin("POST", "faults",
	      "{\"status\":418,\"body\":"
	      "\"{\\\"message\\\":\\\"short and stout\\\"}\"}");
	assert_int_equal(ps_api_list(&out, api, &err), PS_EHTTP);
	assert_string_equal(err.message, "HTTP 418: short and stout");
	assert_int_equal(err.http_status, 418);
	assert_int_equal(request_count(), 1);
	ps_api_free(api);
}

/* ------------------------------------------------------------------ */
/* Retries                                                              */

static void test_500_then_success(void **state)
{
	ps_api *api = client();
	json_t *out = NULL, *log;
	ps_error err;

	(void)state;
	set_callback("k1", EV, "https://h/x");
	admin("POST", "faults",
	      "{\"method\":\"GET\",\"status\":500,\"times\":1}");
	assert_int_equal(ps_api_get(&out, api, EV, &err), 0);
	assert_string_equal(json_string_value(json_object_get(out, "url")),
			    "https://h/x");
	json_decref(out);
	log = request_log();
	assert_int_equal(json_array_size(log), 2);
	assert_int_equal(json_integer_value(json_object_get(
				 json_array_get(log, 0), "status")),
			 500);
	assert_int_equal(json_integer_value(json_object_get(
				 json_array_get(log, 1), "status")),
			 200);
	json_decref(log);
	assert_int_equal(ps_api_requests(api), 2);
	assert_non_null(strstr(logs.text.ptr,
			       "GET /v1/callbacks/SESSION:COMPLETE -> 500, "
			       "retrying in "));
	ps_api_free(api);
}

static void test_429_retry_after(void **state)
{
	ps_api *api = client();
	json_t *out = NULL, *log;
	ps_error err;
	double t0 = now_s(), gap;

	(void)state;
	admin("POST", "faults",
	      "{\"status\":429,\"retry_after\":\"1\","
	      "\"times\":1}");
	assert_int_equal(ps_api_list(&out, api, &err), 0);
	json_decref(out);
	assert_true(now_s() - t0 >= 0.95);
	log = request_log();
	assert_int_equal(json_array_size(log), 2);
	gap = json_real_value(json_object_get(json_array_get(log, 1), "time")) -
	      json_real_value(json_object_get(json_array_get(log, 0), "time"));
	assert_true(gap >= 0.9);
	json_decref(log);
	assert_non_null(strstr(logs.text.ptr, "GET /v1/callbacks -> 429, "
					      "retrying in 1000 ms"));
	ps_api_free(api);
}

static void test_retry_after_capped(void **state)
{
	ps_api_opts o;
	ps_api *api;
	json_t *out = NULL;
	ps_error err;
	double t0 = now_s();

	(void)state;
	test_opts(&o);
	o.backoff_max_ms = 50;
	api = client_with(&o, "k1", "s1", "u1");
	admin("POST", "faults",
	      "{\"status\":503,\"retry_after\":"
	      "\"Wed, 21 Oct 2065 07:28:00 GMT\",\"times\":1}");
	assert_int_equal(ps_api_list(&out, api, &err), 0);
	json_decref(out);
	/* The log says what was waited; the clock only rules out the
	 * uncapped wait (decades), with room for a loaded machine. */
	assert_non_null(strstr(logs.text.ptr, "-> 503, retrying in 50 ms"));
	assert_true(now_s() - t0 < 60.0);
	ps_api_free(api);
}

static void test_retries_exhausted_status(void **state)
{
	ps_api *api = client();
	json_t *out = NULL;
	ps_error err;

	(void)state;
	admin("POST", "faults", "{\"status\":503}");
	assert_int_equal(ps_api_list(&out, api, &err), PS_EHTTP);
	assert_null(out);
	assert_int_equal(err.http_status, 503);
	assert_non_null(strstr(err.message, "HTTP 503"));
	assert_non_null(strstr(err.message, "3 attempts"));
	assert_int_equal(request_count(), 3); /* retries + 1 */
	assert_int_equal(ps_api_requests(api), 3);
	ps_api_free(api);
}

static void test_retries_exhausted_transport(void **state)
{
	ps_api *api = client();
	json_t *out = NULL;
	ps_error err;

	(void)state;
	admin("POST", "faults", "{\"method\":\"GET\",\"drop\":true}");
	assert_int_equal(ps_api_get(&out, api, EV, &err), PS_ETRANSPORT);
	assert_int_equal(err.http_status, 0);
	assert_non_null(strstr(err.message, "3 attempts"));
	assert_int_equal(request_count(), 3);
	assert_non_null(strstr(logs.text.ptr, "connection error ("));
	ps_api_free(api);
}

static void test_connection_refused(void **state)
{
	ps_api_opts o;
	ps_api *api;
	json_t *out = NULL;
	ps_error err;

	(void)state;
	test_opts(&o);
	o.base_url = "http://127.0.0.1:1";
	o.retries = 1;
	api = client_with(&o, "k1", "s1", "u1");
	assert_int_equal(ps_api_list(&out, api, &err), PS_ETRANSPORT);
	assert_int_equal(ps_api_requests(api), 2);
	ps_api_free(api);
}

static void test_timeout(void **state)
{
	ps_api_opts o;
	ps_api *api;
	json_t *out = NULL;
	ps_error err;

	(void)state;
	test_opts(&o);
	o.timeout_ms = 200;
	o.retries = 1;
	api = client_with(&o, "k1", "s1", "u1");
	admin("POST", "faults", "{\"delay_ms\":1000,\"times\":1}");
	/* The first attempt times out, the second succeeds. */
	assert_int_equal(ps_api_list(&out, api, &err), 0);
	json_decref(out);
	assert_int_equal(ps_api_requests(api), 2);
	ps_api_free(api);
}

/* ------------------------------------------------------------------ */
/* Ambiguous POST                                                       */

static void test_post_dropped_after_apply(void **state)
{
	ps_api *api = client();
	json_t *s = spec("https://h/x"), *echo = NULL;
	ps_error err;
	char *summary;

	(void)state;
	admin("POST", "faults",
	      "{\"method\":\"POST\",\"drop\":true,"
	      "\"apply\":true,\"times\":1}");
	assert_int_equal(ps_api_create(&echo, api, EV, s, &err), 0);
	assert_string_equal(json_string_value(json_object_get(echo, "url")),
			    "https://h/x");
	json_decref(echo);
	summary = request_summary();
	/* Confirmed with GET; no second POST. */
	assert_string_equal(summary, "POST /v1/callbacks, "
				     "GET /v1/callbacks/SESSION:COMPLETE");
	free(summary);
	json_decref(s);
	ps_api_free(api);
}

static void test_post_dropped_on_reused_connection(void **state)
{
	ps_api *api = client();
	json_t *s = spec("https://h/x"), *echo = NULL, *out = NULL;
	ps_error err;
	char *summary;

	(void)state;
	/* On a reused keep-alive connection libcurl would re-send the POST
	 * by itself on a fresh one; the client must stop that and confirm. */
	assert_int_equal(ps_api_list(&out, api, &err), 0);
	json_decref(out);
	admin("POST", "faults",
	      "{\"method\":\"POST\",\"drop\":true,"
	      "\"apply\":true,\"times\":1}");
	assert_int_equal(ps_api_create(&echo, api, EV, s, &err), 0);
	assert_non_null(echo);
	json_decref(echo);
	summary = request_summary();
	assert_string_equal(summary, "GET /v1/callbacks, POST /v1/callbacks, "
				     "GET /v1/callbacks/SESSION:COMPLETE");
	free(summary);
	json_decref(s);
	ps_api_free(api);
}

static void test_post_dropped_before_apply(void **state)
{
	ps_api *api = client();
	json_t *s = spec("https://h/x"), *echo = NULL, *stored;
	ps_error err;
	char *summary;

	(void)state;
	admin("POST", "faults",
	      "{\"method\":\"POST\",\"drop\":true,"
	      "\"times\":1}");
	assert_int_equal(ps_api_create(&echo, api, EV, s, &err), 0);
	assert_non_null(echo);
	json_decref(echo);
	summary = request_summary();
	assert_string_equal(summary, "POST /v1/callbacks, "
				     "GET /v1/callbacks/SESSION:COMPLETE, "
				     "POST /v1/callbacks");
	free(summary);
	stored = admin_get("callbacks/k1");
	assert_non_null(json_object_get(stored, EV));
	json_decref(stored);
	json_decref(s);
	ps_api_free(api);
}

static void test_post_5xx_not_confirmed(void **state)
{
	ps_api *api = client();
	json_t *s = spec("https://h/x");
	ps_error err;

	(void)state;
	/* A 5xx is an answer, not an ambiguity: plain retry, no GET. */
	admin("POST", "faults",
	      "{\"method\":\"POST\",\"status\":502,"
	      "\"times\":1}");
	assert_int_equal(ps_api_create(NULL, api, EV, s, &err), 0);
	{
		char *summary = request_summary();

		assert_string_equal(summary, "POST /v1/callbacks, "
					     "POST /v1/callbacks");
		free(summary);
	}
	json_decref(s);
	ps_api_free(api);
}

/* ------------------------------------------------------------------ */
/* The -v lines of each verdict (call()'s classify: retry, confirm)     */

/* Does the captured log hold `n` lines, with each of `want` in order? */
static void assert_log_lines(int n, const char *const *want)
{
	const char *at = logs.text.ptr;

	assert_int_equal(logs.lines, n);
	for (; *want; want++) {
		const char *hit = strstr(at, *want);

		if (!hit)
			fail_msg("no \"%s\" after \"%s\"", *want, at);
		at = hit + strlen(*want);
	}
}

static void test_log_status_retried_then_given_up(void **state)
{
	static const char *const want[] = {
		"GET /v1/callbacks -> 503, retrying in ",
		"GET /v1/callbacks -> 503, retrying in ",
		"GET /v1/callbacks -> 503 (",
		NULL,
	};
	ps_api *api = client();
	json_t *out = NULL;
	ps_error err;

	(void)state;
	admin("POST", "faults", "{\"status\":503}");
	assert_int_equal(ps_api_list(&out, api, &err), PS_EHTTP);
	assert_log_lines(3, want);
	assert_non_null(strstr(err.message, "(gave up after 3 attempts)"));
	ps_api_free(api);
}

static void test_log_transport_retried_then_given_up(void **state)
{
	static const char *const want[] = {
		"GET /v1/callbacks/SESSION:COMPLETE -> connection error (",
		"), retrying in ",
		"GET /v1/callbacks/SESSION:COMPLETE -> connection error (",
		"), retrying in ",
		"GET /v1/callbacks/SESSION:COMPLETE -> connection error (",
		" ms)\n",
		NULL,
	};
	ps_api *api = client();
	json_t *out = NULL;
	ps_error err;

	(void)state;
	admin("POST", "faults", "{\"method\":\"GET\",\"drop\":true}");
	assert_int_equal(ps_api_get(&out, api, EV, &err), PS_ETRANSPORT);
	assert_log_lines(3, want);
	assert_non_null(strstr(err.message, "cannot reach the API: "));
	assert_non_null(strstr(err.message, "(gave up after 3 attempts)"));
	ps_api_free(api);
}

static void test_log_create_confirmed_absent_then_retried(void **state)
{
	static const char *const want[] = {
		"POST /v1/callbacks -> connection error (",
		" ms), confirming\n",
		"GET /v1/callbacks/SESSION:COMPLETE -> 404 (",
		"POST /v1/callbacks -> not created, retrying in ",
		"POST /v1/callbacks -> 2",
		NULL,
	};
	ps_api *api = client();
	json_t *s = spec("https://h/x");
	ps_error err;

	(void)state;
	admin("POST", "faults",
	      "{\"method\":\"POST\",\"drop\":true,"
	      "\"times\":1}");
	assert_int_equal(ps_api_create(NULL, api, EV, s, &err), 0);
	assert_log_lines(4, want);
	json_decref(s);
	ps_api_free(api);
}

/* ------------------------------------------------------------------ */
/* Bad answers                                                          */

static void test_malformed_not_retried(void **state)
{
	ps_api *api = client();
	json_t *out = NULL;
	ps_error err;

	(void)state;
	admin("POST", "faults", "{\"malformed\":true}");
	assert_int_equal(ps_api_list(&out, api, &err), PS_EINVALID);
	assert_null(out);
	assert_non_null(strstr(err.message, "malformed response from API"));
	assert_int_equal(request_count(), 1);
	ps_api_free(api);
}

static void test_oversized(void **state)
{
	ps_api_opts o;
	ps_api *api;
	json_t *out = NULL;
	ps_error err;

	(void)state;
	test_opts(&o);
	o.max_body = 4096;
	api = client_with(&o, "k1", "s1", "u1");
	admin("POST", "faults", "{\"oversized\":100000,\"times\":1}");
	assert_int_equal(ps_api_list(&out, api, &err), PS_EHTTP);
	assert_null(out);
	assert_string_equal(err.message,
			    "response from API exceeded 4096 bytes");
	assert_int_equal(request_count(), 1);
	/* The client stays usable. */
	assert_int_equal(ps_api_list(&out, api, &err), 0);
	json_decref(out);
	ps_api_free(api);
}

static void test_echo_with_dropped_field(void **state)
{
	ps_api *api = client();
	json_t *s = spec("https://h/x"), *echo = NULL;
	ps_error err;

	(void)state;
	/* The client reports what was echoed; comparing is apply's job. */
	admin("POST", "faults",
	      "{\"method\":\"POST\",\"drop_field\":"
	      "\"payload\"}");
	assert_int_equal(ps_api_create(&echo, api, EV, s, &err), 0);
	assert_null(json_object_get(echo, "payload"));
	assert_non_null(json_object_get(echo, "url"));
	json_decref(echo);
	json_decref(s);
	ps_api_free(api);
}

/* ------------------------------------------------------------------ */
/* Connections, URLs, logging                                           */

static void test_one_connection(void **state)
{
	ps_api *api = client();
	json_t *s = spec("https://h/x"), *out = NULL, *stats;
	ps_error err;

	(void)state;
	assert_int_equal(ps_api_list(&out, api, &err), 0);
	json_decref(out);
	assert_int_equal(ps_api_create(NULL, api, EV, s, &err), 0);
	assert_int_equal(ps_api_get(&out, api, EV, &err), 0);
	json_decref(out);
	assert_int_equal(ps_api_update(NULL, api, EV, s, &err), 0);
	assert_int_equal(ps_api_delete(api, EV, &err), 0);
	stats = admin_get("stats");
	assert_int_equal(json_integer_value(json_object_get(stats, "requests")),
			 5);
	assert_int_equal(
		json_integer_value(json_object_get(stats, "connections")), 1);
	json_decref(stats);
	assert_int_equal(ps_api_requests(api), 5);
	assert_int_equal(ps_api_connections(api), 1);
	json_decref(s);
	ps_api_free(api);
}

static void test_check_url(void **state)
{
	static const char *const good[] = {
		"https://openapi.paveapi.com",
		"https://openapi.paveapi.com/",
		"https://example.com:8443/prefix",
		"http://localhost:8080",
		"http://LOCALHOST",
		"http://127.0.0.1:1",
		"http://127.0.0.2",
		"http://127.255.0.9/x",
		"http://[::1]:9000",
		"http://[::1]",
		NULL,
	};
	static const char *const bad[] = {
		"http://openapi.paveapi.com",
		"http://10.0.0.1",
		"http://128.0.0.1",
		"http://[::2]",
		"http://localhost.evil.com",
		"ftp://127.0.0.1/",
		"file:///etc/passwd",
		"gopher://x",
		"openapi.paveapi.com",
		"",
		"https://",
		"not a url",
		"https://h/?q=1",
		"https://h/#f",
		"http://[::ffff:127.0.0.1]",
		NULL,
	};
	ps_error err;
	size_t i;

	(void)state;
	for (i = 0; good[i]; i++) {
		ps_error_clear(&err);
		if (ps_api_check_url(good[i], &err) != 0)
			fail_msg("%s refused: %s", good[i], err.message);
	}
	for (i = 0; bad[i]; i++) {
		ps_error_clear(&err);
		if (ps_api_check_url(bad[i], &err) != PS_EINVALID)
			fail_msg("%s accepted", bad[i]);
		assert_int_equal(err.code, PS_EINVALID);
	}
	assert_int_equal(ps_api_check_url("http://example.com", &err),
			 PS_EINVALID);
	assert_non_null(strstr(err.message, "plain http is only allowed for "
					    "loopback hosts; use https"));
	assert_int_equal(ps_api_check_url(NULL, NULL), PS_EINVALID);
}

static void test_new_refuses_bad_input(void **state)
{
	ps_api_opts o;
	ps_api *api = NULL;
	ps_error err;

	(void)state;
	test_opts(&o);
	o.base_url = "http://example.com";
	assert_int_equal(ps_api_new(&api, &o, "k", "s", "u", &err),
			 PS_EINVALID);
	assert_null(api);
	test_opts(&o);
	assert_int_equal(ps_api_new(&api, &o, "k\r\nX-Evil: 1", "s", "u", &err),
			 PS_EINVALID);
	assert_int_equal(ps_api_new(&api, &o, "k", "", "u", &err), PS_EINVALID);
	assert_null(api);
	ps_api_free(NULL);
}

static void test_trailing_slash(void **state)
{
	ps_api_opts o;
	ps_api *api;
	ps_buf url = PS_BUF_INIT;
	json_t *out = NULL;
	char *summary;
	ps_error err;

	(void)state;
	test_opts(&o);
	ps_buf_printf(&url, "%s//", test_emu_url);
	o.base_url = url.ptr;
	api = client_with(&o, "k1", "s1", "u1");
	assert_int_equal(ps_api_list(&out, api, &err), 0);
	json_decref(out);
	summary = request_summary();
	assert_string_equal(summary, "GET /v1/callbacks");
	free(summary);
	ps_api_free(api);
	ps_buf_release(&url);
}

static void test_log_has_no_secrets(void **state)
{
	const char *secret = "sEcReT-9f8e7d6c5b4a";
	ps_api_opts o;
	ps_api *api;
	json_t *s = spec("https://h/x"), *out = NULL;
	ps_error err;
	time_t t0 = time(NULL), t;
	char ts[32], token[65];
	struct tm tm;

	(void)state;
	admin("POST", "accounts",
	      "{\"api_key\":\"klog-key-1234\",\"api_secret\":"
	      "\"sEcReT-9f8e7d6c5b4a\",\"username\":"
	      "\"user-log-5678\"}");
	test_opts(&o);
	api = client_with(&o, "klog-key-1234", secret, "user-log-5678");
	admin("POST", "faults", "{\"status\":503,\"times\":1}");
	assert_int_equal(ps_api_list(&out, api, &err), 0);
	json_decref(out);
	assert_int_equal(ps_api_create(NULL, api, EV, s, &err), 0);
	assert_int_equal(ps_api_update(NULL, api, EV, s, &err), 0);
	admin("POST", "faults", "{\"method\":\"GET\",\"drop\":true}");
	assert_int_equal(ps_api_get(&out, api, EV, &err), PS_ETRANSPORT);
	admin("DELETE", "faults", NULL);
	ps_api_free(api);
	api = client_with(&o, "klog-key-1234", "wrong-secret-xyz",
			  "user-log-5678");
	assert_int_equal(ps_api_list(&out, api, &err), PS_EAUTH);
	ps_api_free(api);

	assert_true(logs.lines >= 6);
	assert_non_null(strstr(logs.text.ptr, "GET /v1/callbacks -> 200 ("));
	assert_null(strstr(logs.text.ptr, secret));
	assert_null(strstr(logs.text.ptr, "wrong-secret-xyz"));
	assert_null(strstr(logs.text.ptr, "klog-key-1234"));
	assert_null(strstr(logs.text.ptr, "user-log-5678"));
	assert_null(strstr(logs.text.ptr, "hunter2"));
	assert_null(strstr(logs.text.ptr, "https://h/x"));
	assert_null(strstr(logs.text.ptr, "API-"));
	/* No token of any second the run could have signed. */
	for (t = t0 - 1; t <= time(NULL) + 1; t++) {
		gmtime_r(&t, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
		ps_api_token(token, secret, "user-log-5678", "klog-key-1234",
			     ts);
		assert_null(strstr(logs.text.ptr, token));
		assert_null(strstr(logs.text.ptr, ts));
	}
	json_decref(s);
}

/* ------------------------------------------------------------------ */
/* Response parsing                                                     */

static void test_parse_response(void **state)
{
	json_t *out = NULL;
	ps_error err;
	const char *body;

	(void)state;
	body = "{\"api_key\":\"k\",\"data\":[{\"event\":\"E\",\"url\":\"u\"}]}";
	assert_int_equal(ps_api_parse_response(&out, body, strlen(body), true,
					       true, &err),
			 0);
	assert_int_equal(json_array_size(out), 1);
	json_decref(out);

	body = "{\"api_key\":\"k\",\"event\":\"E\",\"url\":\"u\"}";
	assert_int_equal(ps_api_parse_response(&out, body, strlen(body), true,
					       false, &err),
			 0);
	assert_null(json_object_get(out, "api_key"));
	assert_string_equal(json_string_value(json_object_get(out, "url")),
			    "u");
	json_decref(out);

	assert_int_equal(ps_api_parse_response(&out, body, strlen(body), false,
					       false, &err),
			 0);
	assert_non_null(json_object_get(out, "api_key"));
	json_decref(out);

	body = "{\"data\":{\"event\":\"E\"}}";
	assert_int_equal(ps_api_parse_response(&out, body, strlen(body), true,
					       true, &err),
			 PS_EINVALID);
	assert_null(out);
	body = "{\"data\":[1]}";
	assert_int_equal(ps_api_parse_response(&out, body, strlen(body), true,
					       true, &err),
			 PS_EINVALID);
	body = "[1,2]";
	assert_int_equal(ps_api_parse_response(&out, body, strlen(body), false,
					       false, &err),
			 PS_EINVALID);
	assert_non_null(strstr(err.message, "not a JSON object"));
	body = "{\"a\":1,\"a\":2}";
	assert_int_equal(ps_api_parse_response(&out, body, strlen(body), false,
					       false, &err),
			 PS_EINVALID);
	body = "{\"a\":";
	assert_int_equal(ps_api_parse_response(&out, body, strlen(body), false,
					       false, &err),
			 PS_EINVALID);
	assert_non_null(strstr(err.message, "malformed response from API: "));
	assert_int_equal(ps_api_parse_response(&out, "", 0, true, false, NULL),
			 PS_EINVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_known_vector),
		cmocka_unit_test_setup(test_token_accepted_by_emulator, reset),
		cmocka_unit_test_setup(test_crud, reset),
		cmocka_unit_test_setup(test_request_bodies, reset),
		cmocka_unit_test_setup(test_reads_string_headers_payload,
				       reset),
		cmocka_unit_test_setup(test_not_found, reset),
		cmocka_unit_test_setup(test_create_existing, reset),
		cmocka_unit_test_setup(test_bad_secret_no_retry, reset),
		cmocka_unit_test_setup(test_other_4xx_not_retried, reset),
		cmocka_unit_test_setup(test_500_then_success, reset),
		cmocka_unit_test_setup(test_429_retry_after, reset),
		cmocka_unit_test_setup(test_retry_after_capped, reset),
		cmocka_unit_test_setup(test_retries_exhausted_status, reset),
		cmocka_unit_test_setup(test_retries_exhausted_transport, reset),
		cmocka_unit_test_setup(test_connection_refused, reset),
		cmocka_unit_test_setup(test_timeout, reset),
		cmocka_unit_test_setup(test_post_dropped_after_apply, reset),
		cmocka_unit_test_setup(test_post_dropped_on_reused_connection,
				       reset),
		cmocka_unit_test_setup(test_post_dropped_before_apply, reset),
		cmocka_unit_test_setup(test_post_5xx_not_confirmed, reset),
		cmocka_unit_test_setup(test_log_status_retried_then_given_up,
				       reset),
		cmocka_unit_test_setup(test_log_transport_retried_then_given_up,
				       reset),
		cmocka_unit_test_setup(
			test_log_create_confirmed_absent_then_retried, reset),
		cmocka_unit_test_setup(test_malformed_not_retried, reset),
		cmocka_unit_test_setup(test_oversized, reset),
		cmocka_unit_test_setup(test_echo_with_dropped_field, reset),
		cmocka_unit_test_setup(test_one_connection, reset),
		cmocka_unit_test(test_check_url),
		cmocka_unit_test(test_new_refuses_bad_input),
		cmocka_unit_test_setup(test_trailing_slash, reset),
		cmocka_unit_test_setup(test_log_has_no_secrets, reset),
		cmocka_unit_test(test_parse_response),
	};
	int rc = cmocka_run_group_tests(tests, start_emulator, stop_emulator);

	ps_buf_release(&logs.text);
	return rc;
}
