/*
 * Loading libcrypto on first use (see libcrypto.h): dlopen, one dlsym per
 * function of the table and a version check, once.
 */
#include "libcrypto.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "dynlib.h"
#include "banned.h"

struct ps_libcrypto ps_libcrypto;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static bool loaded;
/* Why loading failed, for every caller (set once, under load_once). */
static char load_error[PS_ERROR_MSG_MAX];
/* load_error is final (for ps_libcrypto_failure, which takes no once). */
static atomic_bool failed;

/* Look `name` up in `lib` into the function pointer at `fn`; false with
 * load_error set when it is missing. */
static bool find(void *fn, void *lib, const char *name)
{
	return ps_dynlib_find(fn, lib, name, PS_LIBCRYPTO_SONAME, load_error,
			      sizeof(load_error));
}

static void load(void)
{
	struct ps_libcrypto t;
	unsigned long v;
	void *lib;

	memset(&t, 0, sizeof(t));
	lib = ps_dynlib_open(PS_LIBCRYPTO_SONAME, load_error,
			     sizeof(load_error));
	if (!lib)
		return;
		/* Stringised, the parts are not macro-expanded: "EVP_"
		 * "Digest". */
#define PS_LIBCRYPTO_FIND(prefix, name)                                        \
	if (!find(&t.name, lib, #prefix #name))                                \
		goto fail;
	PS_LIBCRYPTO_FUNCTIONS(PS_LIBCRYPTO_FIND)
#undef PS_LIBCRYPTO_FIND

	v = t.version_num();
	if (v < PS_LIBCRYPTO_MIN_VERSION) {
		snprintf(load_error, sizeof(load_error),
			 "cannot use %s: it is OpenSSL %#lx; pavesync needs "
			 "3.0.0 or later",
			 PS_LIBCRYPTO_SONAME, v);
		goto fail;
	}
	ps_libcrypto = t;
	loaded = true;
	return;
fail:
	dlclose(lib);
}

int ps_libcrypto_load(ps_error *err)
{
	pthread_once(&load_once, load);
	if (!loaded) {
		atomic_store(&failed, true);
		return ps_error_set(err, PS_ERROR, "%s", load_error);
	}
	return 0;
}

const char *ps_libcrypto_failure(void)
{
	return atomic_load(&failed) ? load_error : NULL;
}
