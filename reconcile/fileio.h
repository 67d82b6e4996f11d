/*
 * Reading and writing whole files safely, for every file pavesync reads
 * whole (the config, api_secret_file, a saved plan) or writes (a plan).
 *
 * Reading never blocks and never takes more than `max` bytes: the file is
 * opened with O_NONBLOCK (a FIFO or a device would otherwise wait forever
 * for a writer, with the state lock held), must be a regular file, and is
 * read up to max bytes.
 *
 * Writing replaces a file atomically and privately: a new temporary file
 * with a unique name in the same directory (O_EXCL|O_NOFOLLOW, so nothing
 * planted there is followed), mode set explicitly whatever the umask,
 * written, fsynced, renamed over the target, and the directory fsynced.
 * On failure the temporary file is removed and the target is untouched.
 */
#ifndef PS_FILEIO_H
#define PS_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

/*
 * Read the regular file at path, at most max bytes, into *out (malloc'd,
 * NUL-terminated, caller frees; *len its length). `what` names the file in
 * messages ("the config file", "plan file"): errors are "cannot read WHAT
 * PATH: reason" with source = path. When `secret`, every copy made on the
 * way is wiped. Errors: PS_ENOTFOUND (no such file), PS_EINVALID (not a
 * regular file), PS_ELIMIT (larger than max), PS_ERROR (other I/O).
 */
int ps_file_read(char **out, size_t *len, const char *path, size_t max,
		 const char *what, bool secret, ps_error *err)
	__attribute__((warn_unused_result));

/*
 * Replace the file at path with data[0…len), mode `mode` (e.g. 0600),
 * as described above. Errors: PS_ERROR, source = path, message just the
 * reason (the caller says what it was writing with ps_error_prefix).
 */
int ps_file_write_atomic(const char *path, const void *data, size_t len,
			 mode_t mode, ps_error *err)
	__attribute__((warn_unused_result));

#endif
