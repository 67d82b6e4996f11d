/*
 * Scratch directories for the unit tests. See testutil.h.
 */
#include "testutil.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

int test_mkdtemp(char *out, size_t outlen, const char *prefix)
{
	const char *tmp = getenv("TMPDIR");
	int n;

	n = snprintf(out, outlen, "%s/%s-XXXXXX", tmp && *tmp ? tmp : "/tmp",
		     prefix);
	if (n < 0 || (size_t)n >= outlen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return mkdtemp(out) ? 0 : -1;
}

static int remove_one(const char *path, const struct stat *sb, int flag,
		      struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int test_rmtree(const char *path)
{
	struct stat sb;

	if (lstat(path, &sb) < 0)
		return errno == ENOENT ? 0 : -1;
	/* Depth first, so a directory is removed after its contents. */
	return nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}
