/*
 * The steps of loading a shared library on first use (see dynlib.h).
 */
#include "dynlib.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "banned.h"

_Static_assert(sizeof(void (*)(void)) == sizeof(void *),
	       "function pointers must be the size of void *");

void *ps_dynlib_open(const char *soname, char *why, size_t whylen)
{
	void *lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL);

	if (!lib)
		snprintf(why, whylen, "cannot load %s: %s", soname, dlerror());
	return lib;
}

bool ps_dynlib_find(void *fn, void *lib, const char *name, const char *soname,
		    char *why, size_t whylen)
{
	void *p = dlsym(lib, name);

	if (!p) {
		snprintf(why, whylen, "cannot load %s: %s", soname, dlerror());
		return false;
	}
	memcpy(fn, &p, sizeof(p));
	return true;
}
