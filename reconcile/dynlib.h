/*
 * A shared library loaded on first use (api_curl.c, state_git.c,
 * libcrypto.c): the steps their loaders share. Each fills a typed table of
 * function pointers, once, and keeps the message of a failure for every
 * later caller.
 */
#ifndef PS_DYNLIB_H
#define PS_DYNLIB_H

#include <stdbool.h>
#include <stddef.h>

/*
 * dlopen `soname` with RTLD_NOW (a broken library fails here, not in the
 * middle of a call) and RTLD_LOCAL (its symbols, and those of the
 * libraries it brings, stay out of the global scope the rest of the
 * program resolves against). NULL with "cannot load SONAME: REASON" in
 * `why` (of `whylen` bytes) when it cannot be.
 */
void *ps_dynlib_open(const char *soname, char *why, size_t whylen);

/*
 * Look `name` up in `lib` into the function pointer at `fn` (POSIX
 * guarantees that a function pointer survives a round trip through dlsym's
 * void *; the bytes are copied, as ISO C has no such cast). False with
 * "cannot load SONAME: REASON" in `why` when it is missing.
 */
bool ps_dynlib_find(void *fn, void *lib, const char *name, const char *soname,
		    char *why, size_t whylen);

#endif
