/*
 * Loading libcurl on first use (see api_curl.h): dlopen, one dlsym per
 * function of the table, a version check and curl_global_init, once.
 */
#include "api_curl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "dynlib.h"
#include "banned.h"

struct api_curl api_curl;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static bool loaded;
/* Why loading failed, for every caller (set once, under load_once). */
static char load_error[PS_ERROR_MSG_MAX];

/* Look `name` up in `lib` into the function pointer at `fn`; false with
 * load_error set when it is missing. */
static bool find(void *fn, void *lib, const char *name)
{
	return ps_dynlib_find(fn, lib, name, PS_API_CURL_SONAME, load_error,
			      sizeof(load_error));
}

static void load(void)
{
	struct api_curl t;
	const curl_version_info_data *v;
	void *lib;

	memset(&t, 0, sizeof(t));
	lib = ps_dynlib_open(PS_API_CURL_SONAME, load_error,
			     sizeof(load_error));
	if (!lib)
		return;
#define API_CURL_FIND(name)                                                    \
	if (!find(&t.name, lib, "curl_" #name))                                \
		goto fail;
	API_CURL_FUNCTIONS(API_CURL_FIND)
#undef API_CURL_FIND

	v = t.version_info(CURLVERSION_NOW);
	if (!v || v->version_num < PS_API_CURL_MIN_VERSION) {
		snprintf(load_error, sizeof(load_error),
			 "cannot use %s: it is libcurl %s; pavesync needs "
			 "7.85.0 or later",
			 PS_API_CURL_SONAME, v ? v->version : "(unknown)");
		goto fail;
	}
	if (t.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(load_error, sizeof(load_error),
			 "cannot initialise libcurl");
		/* Initialised in part, perhaps: keep it loaded. */
		return;
	}
	api_curl = t;
	loaded = true;
	return;
fail:
	dlclose(lib);
}

int api_curl_load(ps_error *err)
{
	pthread_once(&load_once, load);
	if (!loaded)
		return ps_error_set(err, PS_ERROR, "%s", load_error);
	return 0;
}

void api_curl_cleanup(void)
{
	/* Reading `loaded` without load_once: cleanup comes after every
	 * client is gone, hence after any load has finished. */
	if (loaded)
		api_curl.global_cleanup();
}
