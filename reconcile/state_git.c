/*
 * Loading libgit2 on first use (see state_git.h): dlopen, one dlsym per
 * function of the table and a version check, once.
 */
#include "state_git.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "dynlib.h"
#include "banned.h"

struct state_git state_git;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static bool loaded;
/* Why loading failed, for every caller (set once, under load_once). */
static char load_error[PS_ERROR_MSG_MAX];

/* Look `name` up in `lib` into the function pointer at `fn`; false with
 * load_error set when it is missing. */
static bool find(void *fn, void *lib, const char *name)
{
	return ps_dynlib_find(fn, lib, name, PS_STATE_GIT_SONAME, load_error,
			      sizeof(load_error));
}

static void load(void)
{
	struct state_git t;
	int major = 0, minor = 0, rev = 0;
	void *lib;

	memset(&t, 0, sizeof(t));
	lib = ps_dynlib_open(PS_STATE_GIT_SONAME, load_error,
			     sizeof(load_error));
	if (!lib)
		return;
		/* The stringised name is not macro-expanded: "git_blob_free".
		 */
#define STATE_GIT_FIND(name)                                                   \
	if (!find(&t.name, lib, "git_" #name))                                 \
		goto fail;
	STATE_GIT_FUNCTIONS(STATE_GIT_FIND)
#undef STATE_GIT_FIND

	/* The soname names the ABI; a library that says otherwise is not
	 * the one the headers describe. */
	if (t.libgit2_version(&major, &minor, &rev) < 0 ||
	    major != LIBGIT2_VER_MAJOR || minor != LIBGIT2_VER_MINOR) {
		snprintf(load_error, sizeof(load_error),
			 "cannot use %s: it is libgit2 %d.%d.%d; pavesync "
			 "was built for %s",
			 PS_STATE_GIT_SONAME, major, minor, rev,
			 LIBGIT2_VERSION);
		goto fail;
	}
	state_git = t;
	loaded = true;
	return;
fail:
	dlclose(lib);
}

int state_git_load(ps_error *err)
{
	pthread_once(&load_once, load);
	if (!loaded)
		return ps_error_set(err, PS_ERROR, "%s", load_error);
	return 0;
}
