/*
 * The PAVE callbacks API client's handle (see api.h for the contract):
 * options and libcurl set-up, the request token, and api_attempt(), one
 * HTTP exchange. The retry loop over it is in api_call.c.
 */
#include "api.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api_int.h"
#include "buf.h"
#include "hmac.h"
#include "libcrypto.h"
#include "util.h"
#include "version.h"
#include "banned.h"

/* A request body fed to libcurl through a read callback. */
typedef struct upload {
	const char *data;
	size_t len;
	size_t pos;
	bool may_resend;
} upload;

void ps_api_opts_init(ps_api_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->connect_timeout_ms = 10000;
	o->timeout_ms = 30000;
	o->retries = 4;
	o->backoff_base_ms = 250;
	o->backoff_max_ms = 30000;
	o->max_body = (size_t)1024 * 1024;
	o->stop_grace_ms = 10000;
}

int ps_api_global_init(void)
{
	return api_curl_load(NULL);
}

void ps_api_global_cleanup(void)
{
	api_curl_cleanup();
}

/* ------------------------------------------------------------------ */
/* Token                                                                */

void ps_api_token(char out[65], const char *api_secret, const char *username,
		  const char *api_key, const char *timestamp)
{
	unsigned char md[PS_HMAC_SIZE];
	size_t ulen = strlen(username), klen = strlen(api_key),
	       tlen = strlen(timestamp);
	size_t n = ulen + 1 + klen + 1 + tlen;
	char *msg = ps_malloc(n + 1);

	memcpy(msg, username, ulen);
	msg[ulen] = ':';
	memcpy(msg + ulen + 1, api_key, klen);
	msg[ulen + 1 + klen] = '@';
	memcpy(msg + ulen + 2 + klen, timestamp, tlen);
	msg[n] = '\0';

	if (ps_hmac_sha256_once(md, api_secret, strlen(api_secret), msg, n) <
	    0) {
		/* Only on a broken libcrypto; a token that cannot match is
		 * safer than a crash, and the API will answer 401. */
		memset(out, '0', 64);
		out[64] = '\0';
	} else {
		ps_hex(out, md, 32);
	}
	explicit_bzero(md, sizeof(md));
	explicit_bzero(msg, n);
	free(msg);
}

static void format_timestamp(char out[32])
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ------------------------------------------------------------------ */
/* Client lifecycle                                                     */

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
	ps_api *api = ctx;

	/* Returning short aborts the transfer with CURLE_WRITE_ERROR. */
	if (ps_buf_put(&api->body, data, size * n) < 0) {
		api->overflow = true;
		return 0;
	}
	return size * n;
}

static size_t on_header(char *data, size_t size, size_t n, void *ctx)
{
	static const char name[] = "retry-after:";
	ps_api *api = ctx;
	size_t len = size * n;
	char val[64];
	long v;

	/* A new status line (e.g. after "100 Continue") starts a new set. */
	if (len >= 5 && !memcmp(data, "HTTP/", 5)) {
		api->retry_after_ms = -1;
		return len;
	}
	if (len < sizeof(name) - 1 ||
	    ps_strncasecmp(data, name, sizeof(name) - 1))
		return len;
	data += sizeof(name) - 1;
	len -= sizeof(name) - 1;
	while (len && (*data == ' ' || *data == '\t'))
		data++, len--;
	while (len && (data[len - 1] == '\r' || data[len - 1] == '\n' ||
		       data[len - 1] == ' ' || data[len - 1] == '\t'))
		len--;
	if (!len || len >= sizeof(val))
		return size * n;
	memcpy(val, data, len);
	val[len] = '\0';
	if (ps_parse_long(&v, val, 0, 86400L * 365) == 0) {
		api->retry_after_ms = v * 1000;
	} else {
		time_t when = api_curl.getdate(val, NULL);
		time_t now = time(NULL);

		if (when != -1)
			api->retry_after_ms =
				when > now ? (long)(when - now) * 1000 : 0;
	}
	return size * n;
}

static void seed_rng(ps_api *api)
{
	if (ps_libcrypto_load(NULL) < 0 ||
	    RAND_bytes((unsigned char *)&api->rng, sizeof(api->rng)) != 1)
		api->rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^
			   (uint64_t)(uintptr_t)api;
	if (!api->rng)
		api->rng = 0x9e3779b97f4a7c15ULL;
}

uint64_t api_rand(ps_api *api)
{
	uint64_t x = api->rng; /* xorshift64* */

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	api->rng = x;
	return x * 0x2545f4914f6cdd1dULL;
}

/* libcurl's progress callback: non-zero aborts the transfer
 * (CURLE_ABORTED_BY_CALLBACK). A stop request lets the exchange in flight
 * finish for stop_grace_ms; PS_API_STOP_NOW aborts it at once. */
static int on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow,
		       curl_off_t ultotal, curl_off_t ulnow)
{
	ps_api *api = ctx;
	int stop = api->opts.stop ? atomic_load(api->opts.stop) : 0;
	long now;

	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	if (!stop)
		return 0;
	if (stop >= PS_API_STOP_NOW)
		return 1;
	now = ps_api_now_ms();
	if (!api->stop_seen_ms)
		api->stop_seen_ms = now;
	return now - api->stop_seen_ms >= api->opts.stop_grace_ms;
}

static size_t on_read(char *dst, size_t size, size_t n, void *ctx)
{
	upload *u = ctx;
	size_t want = size * n, left = u->len - u->pos;

	if (want > left)
		want = left;
	memcpy(dst, u->data + u->pos, want);
	u->pos += want;
	return want;
}

/*
 * libcurl re-sends a request by itself when a reused connection closes
 * without a reply ("Connection died, retrying a fresh connect"), and it
 * must rewind the body to do so. For a POST that would repeat a create
 * the server may already have performed: refuse the rewind, so the
 * transfer fails with CURLE_SEND_FAIL_REWIND and call() confirms with GET.
 */
static int on_seek(void *ctx, curl_off_t offset, int origin)
{
	upload *u = ctx;

	if (origin != SEEK_SET || offset < 0 || (size_t)offset > u->len)
		return CURL_SEEKFUNC_CANTSEEK;
	if (!u->may_resend && u->pos > 0)
		return CURL_SEEKFUNC_CANTSEEK;
	u->pos = (size_t)offset;
	return CURL_SEEKFUNC_OK;
}

/* Header values must not carry CR/LF (or any control byte): they would
 * forge extra request headers. */
static bool header_safe(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

int ps_api_new(ps_api **out, const ps_api_opts *opts, const char *api_key,
	       const char *api_secret, const char *username, ps_error *err)
{
	ps_api *api = NULL;
	ps_api_opts defaults;
	CURLcode cc = CURLE_OK;
	size_t n;
	int rc;

	*out = NULL;
	ps_api_opts_init(&defaults);
	if (!opts)
		opts = &defaults;
	if (!api_key || !*api_key || !api_secret || !*api_secret || !username ||
	    !*username)
		return ps_error_set(
			err, PS_EINVALID,
			"API key, secret and username are required");
	if (!header_safe(api_key) || !header_safe(username))
		return ps_error_set(err, PS_EINVALID,
				    "API key and username must not contain "
				    "control characters");
	if ((rc = api_curl_load(err)) < 0 ||
	    (rc = ps_api_check_url(opts->base_url ? opts->base_url
						  : PS_API_DEFAULT_URL,
				   err)) < 0)
		return rc;

	api = ps_calloc(1, sizeof(*api));
	api->opts = *opts;
	if (api->opts.connect_timeout_ms <= 0)
		api->opts.connect_timeout_ms = defaults.connect_timeout_ms;
	if (api->opts.timeout_ms <= 0)
		api->opts.timeout_ms = defaults.timeout_ms;
	if (api->opts.retries < 0)
		api->opts.retries = 0;
	if (api->opts.backoff_base_ms < 0)
		api->opts.backoff_base_ms = 0;
	if (api->opts.backoff_max_ms < api->opts.backoff_base_ms)
		api->opts.backoff_max_ms = api->opts.backoff_base_ms;
	if (!api->opts.max_body)
		api->opts.max_body = defaults.max_body;
	if (api->opts.stop_grace_ms <= 0)
		api->opts.stop_grace_ms = defaults.stop_grace_ms;

	api->base_url =
		ps_strdup(opts->base_url ? opts->base_url : PS_API_DEFAULT_URL);
	n = strlen(api->base_url);
	while (n && api->base_url[n - 1] == '/')
		api->base_url[--n] = '\0';
	api->opts.base_url = api->base_url;
	api->cacert = opts->cacert ? ps_strdup(opts->cacert) : NULL;
	api->opts.cacert = api->cacert;
	api->api_key = ps_strdup(api_key);
	api->secret = ps_strdup(api_secret);
	api->username = ps_strdup(username);
	ps_buf_init(&api->body, api->opts.max_body);
	api->retry_after_ms = -1;
	seed_rng(api);

	api->curl = api_curl.easy_init();
	if (!api->curl) {
		rc = ps_error_set(err, PS_ERROR, "cannot initialise libcurl");
		goto cleanup;
	}

#define SET(opt, val)                                                          \
	do {                                                                   \
		if (cc == CURLE_OK)                                            \
			cc = api_curl.easy_setopt(api->curl, opt, val);        \
	} while (0)
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_CONNECTTIMEOUT_MS, api->opts.connect_timeout_ms);
	SET(CURLOPT_TIMEOUT_MS, api->opts.timeout_ms);
	SET(CURLOPT_ERRORBUFFER, api->errbuf);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, api);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, api);
	SET(CURLOPT_READFUNCTION, on_read);
	SET(CURLOPT_SEEKFUNCTION, on_seek);
	SET(CURLOPT_USERAGENT, "pavesync/" PAVESYNC_VERSION);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)api->opts.max_body);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	/* Lets a stop request end an exchange that waits on a silent server
	 * (called at least once a second while a transfer runs). */
	SET(CURLOPT_NOPROGRESS, 0L);
	SET(CURLOPT_XFERINFOFUNCTION, on_progress);
	SET(CURLOPT_XFERINFODATA, api);
	if (api->cacert) {
		/* CAINFO alone would replace the system bundle; the hashed
		 * directory keeps the system CAs trusted as well. */
		SET(CURLOPT_CAINFO, api->cacert);
		SET(CURLOPT_CAPATH, "/etc/ssl/certs");
	}
#undef SET
	if (cc != CURLE_OK) {
		rc = ps_error_set(err, PS_ERROR, "cannot configure libcurl: %s",
				  api_curl.easy_strerror(cc));
		goto cleanup;
	}
	*out = api;
	return 0;
cleanup:
	ps_api_free(api);
	return rc;
}

void ps_api_free(ps_api *api)
{
	if (!api)
		return;
	if (api->curl)
		api_curl.easy_cleanup(api->curl);
	free(api->base_url);
	free(api->cacert);
	free(api->api_key);
	ps_free_secret(api->secret);
	free(api->username);
	ps_buf_release(&api->body);
	free(api);
}

long ps_api_requests(const ps_api *api)
{
	return api->requests;
}

long ps_api_connections(const ps_api *api)
{
	return api->connections;
}

/* ------------------------------------------------------------------ */
/* One exchange                                                         */

long ps_api_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool stop_requested(const ps_api *api)
{
	return api->opts.stop && atomic_load(api->opts.stop);
}

/* Why no exchange may start now (a stop request, the deadline), or NULL. */
const char *api_must_stop(const ps_api *api)
{
	if (stop_requested(api))
		return "interrupted (SIGINT/SIGTERM)";
	if (api->opts.deadline_ms > 0 &&
	    ps_api_now_ms() >= api->opts.deadline_ms)
		return "the run's deadline passed (--deadline)";
	return NULL;
}

/* Sleep, in short naps, until `ms` have passed or a stop is requested. */
void api_sleep(ps_api *api, long ms)
{
	long end = ps_api_now_ms() + ms;

	while (!stop_requested(api)) {
		long left = end - ps_api_now_ms();
		struct timespec ts;

		if (left <= 0)
			break;
		if (left > 100)
			left = 100;
		ts.tv_sec = 0;
		ts.tv_nsec = left * 1000000L;
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR &&
		       !stop_requested(api))
			;
	}
}

void api_log(ps_api *api, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!api->opts.log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	api->opts.log(api->opts.log_ctx, line);
}

/* Free a header list after wiping it: it holds the token. */
static void free_headers(struct curl_slist *h)
{
	struct curl_slist *p;

	for (p = h; p; p = p->next)
		explicit_bzero(p->data, strlen(p->data));
	api_curl.slist_free_all(h);
}

static struct curl_slist *add_header(struct curl_slist *list, const char *s)
{
	struct curl_slist *r = api_curl.slist_append(list, s);

	if (!r)
		ps_oom();
	return r;
}

/*
 * One HTTP exchange: fresh timestamp and token, the response body in
 * api->body (capped), Retry-After in api->retry_after_ms.
 */
void api_attempt(attempt_result *res, ps_api *api, const char *method,
		 const char *url, const char *body)
{
	struct curl_slist *headers = NULL;
	upload up = { body, body ? strlen(body) : 0, 0,
		      strcmp(method, "POST") };
	char ts[32], token[65];
	ps_buf line = PS_BUF_INIT;
	long start, status = 0, connects = 0;
	CURL *c = api->curl;

	format_timestamp(ts);
	ps_api_token(token, api->secret, api->username, api->api_key, ts);
	ps_buf_printf(&line, "API-Key: %s", api->api_key);
	headers = add_header(headers, line.ptr);
	ps_buf_reset(&line);
	ps_buf_printf(&line, "API-Timestamp: %s", ts);
	headers = add_header(headers, line.ptr);
	ps_buf_reset(&line);
	ps_buf_printf(&line, "API-Token: %s", token);
	headers = add_header(headers, line.ptr);
	ps_buf_wipe(&line);
	explicit_bzero(token, sizeof(token));
	headers = add_header(headers, "Accept: application/json");
	headers = add_header(headers, "Content-Type: application/json");
	/* No "Expect: 100-continue" round trip for our small bodies. */
	headers = add_header(headers, "Expect:");

	ps_buf_reset(&api->body);
	api->retry_after_ms = -1;
	api->overflow = false;
	api->errbuf[0] = '\0';
	memset(res, 0, sizeof(*res));
	{
		/* Nothing runs past the run's deadline. */
		long total = api->opts.timeout_ms;
		long connect = api->opts.connect_timeout_ms;

		if (api->opts.deadline_ms > 0) {
			long left = api->opts.deadline_ms - ps_api_now_ms();
			if (left < 1)
				left = 1;
			if (total > left)
				total = left;
			if (connect > left)
				connect = left;
		}
		api_curl.easy_setopt(c, CURLOPT_TIMEOUT_MS, total);
		api_curl.easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect);
	}

	api_curl.easy_setopt(c, CURLOPT_URL, url);
	api_curl.easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	api_curl.easy_setopt(c, CURLOPT_NOBODY, 0L);
	if (body) {
		api_curl.easy_setopt(c, CURLOPT_POST, 1L);
		api_curl.easy_setopt(c, CURLOPT_READDATA, &up);
		api_curl.easy_setopt(c, CURLOPT_SEEKDATA, &up);
		api_curl.easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
				     (curl_off_t)up.len);
		api_curl.easy_setopt(c, CURLOPT_CUSTOMREQUEST,
				     strcmp(method, "POST") ? method : NULL);
	} else {
		api_curl.easy_setopt(c, CURLOPT_HTTPGET, 1L);
		api_curl.easy_setopt(c, CURLOPT_CUSTOMREQUEST,
				     strcmp(method, "GET") ? method : NULL);
	}

	start = ps_api_now_ms();
	res->cc = api_curl.easy_perform(c);
	res->ms = ps_api_now_ms() - start;
	api->requests++;
	if (api_curl.easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects) ==
	    CURLE_OK)
		api->connections += connects;
	if (api_curl.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) ==
	    CURLE_OK)
		res->status = status;
	/* FILESIZE_EXCEEDED: curl saw a Content-Length past the cap before
	 * reading the body; overflow: on_body hit the cap while reading. */
	res->too_big = res->cc == CURLE_FILESIZE_EXCEEDED ||
		       (res->cc == CURLE_WRITE_ERROR && api->overflow);

	/* The easy handle keeps pointers to these until the next call. */
	api_curl.easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	api_curl.easy_setopt(c, CURLOPT_READDATA, NULL);
	api_curl.easy_setopt(c, CURLOPT_SEEKDATA, NULL);
	free_headers(headers);
}
