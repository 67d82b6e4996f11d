/*
 * libcurl, loaded by the API client when it first needs it. Private to the
 * client's files (api_int.h lists them); the public contract is api.h.
 *
 * pavesync is not linked with libcurl: most runs (a plan, an apply that
 * finds nothing to change, --version) make no request, and libcurl brings
 * some twenty shared libraries of its own (TLS, Kerberos, LDAP, SSH, IDN,
 * HTTP/2…) whose loading and symbol lookups cost such a run more than
 * parsing its config. The client calls libcurl through the table `api_curl`
 * instead, which api_curl_load() fills from dlopen("libcurl.so.4") once per
 * process. <curl/curl.h> is still included, for its types and constants.
 */
#ifndef PS_API_CURL_H
#define PS_API_CURL_H

#include <curl/curl.h>

#include "error.h"

/* libcurl's ABI 4, the one the headers describe (Debian's libcurl4). */
#define PS_API_CURL_SONAME "libcurl.so.4"

/* The oldest libcurl whose calls the client makes (CURLOPT_PROTOCOLS_STR,
 * as meson.build requires of the headers). */
#define PS_API_CURL_MIN_VERSION 0x075500 /* 7.85.0 */

/*
 * The libcurl functions the client calls, without their "curl_" prefix.
 * Each becomes a member of struct api_curl of exactly that function's type
 * (taken from <curl/curl.h> with __typeof__, so a mismatch cannot compile),
 * and is looked up as "curl_<name>".
 */
#define API_CURL_FUNCTIONS(X)                                                  \
	X(easy_cleanup)                                                        \
	X(easy_getinfo)                                                        \
	X(easy_init)                                                           \
	X(easy_perform)                                                        \
	X(easy_setopt)                                                         \
	X(easy_strerror)                                                       \
	X(free)                                                                \
	X(getdate)                                                             \
	X(global_cleanup)                                                      \
	X(global_init)                                                         \
	X(slist_append)                                                        \
	X(slist_free_all)                                                      \
	X(url)                                                                 \
	X(url_cleanup)                                                         \
	X(url_get)                                                             \
	X(url_set)                                                             \
	X(url_strerror)                                                        \
	X(version_info)

/* Function-like macros of <curl/curl.h> (curl_easy_setopt's type checks)
 * are not expanded here: the name is not followed by "(". */
#define API_CURL_MEMBER(name) __typeof__(curl_##name) *name;
struct api_curl {
	API_CURL_FUNCTIONS(API_CURL_MEMBER)
};
#undef API_CURL_MEMBER

/*
 * The table: api_curl.easy_perform(c) calls curl_easy_perform(c). Filled
 * only by a successful api_curl_load(), read-only after; call through it
 * only once api_curl_load() returned 0 in this process (every ps_api has
 * done so: ps_api_new loads).
 */
extern struct api_curl api_curl;

/*
 * Load libcurl (dlopen, RTLD_NOW | RTLD_LOCAL), look every function up,
 * check its version and run curl_global_init(CURL_GLOBAL_DEFAULT): once
 * per process, whichever thread comes first (pthread_once), so it has
 * happened before any thread uses libcurl. 0, or PS_ERROR with "cannot load
 * libcurl.so.4: <dlerror>" (or why the library found cannot be used); a
 * failure is remembered and given again to every later call. The library is
 * never unloaded.
 */
int api_curl_load(ps_error *err);

/* curl_global_cleanup() when libcurl was loaded; nothing otherwise. */
void api_curl_cleanup(void);

#endif
