/*
 * Helpers shared by the unit tests (tests/unit/test_*.c): a scratch
 * directory per case and its removal. Linked into every unit test program.
 */
#ifndef PS_TESTUTIL_H
#define PS_TESTUTIL_H

#include <stddef.h>

/*
 * Make a fresh, private directory "$TMPDIR/PREFIX-XXXXXX" (/tmp when
 * TMPDIR is unset or empty) and put its path in `out` (`outlen` bytes).
 * Returns 0, or -1 with errno set (ENAMETOOLONG when `out` is too small).
 */
int test_mkdtemp(char *out, size_t outlen, const char *prefix);

/*
 * Remove `path` and everything under it, without following symbolic links
 * (like rm -rf, without a shell). A path that does not exist is not an
 * error. Returns 0, or -1 with errno set.
 */
int test_rmtree(const char *path);

#endif
