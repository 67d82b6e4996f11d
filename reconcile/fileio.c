#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "util.h"
#include "banned.h"

/* Open `path` for reading: a regular file of at most `max` bytes. *out is
 * the descriptor, *size the file's size now. */
static int open_regular(int *out, size_t *size, const char *path, size_t max,
			const char *what, ps_error *err)
{
	struct stat st;
	int fd, rc;

	*out = -1;
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return ps_error_at(
			err, errno == ENOENT ? PS_ENOTFOUND : PS_ERROR, path, 0,
			0, "cannot read %s: %s", what, strerror(errno));
	if (fstat(fd, &st) < 0) {
		rc = ps_error_at(err, PS_ERROR, path, 0, 0,
				 "cannot read %s: %s", what, strerror(errno));
		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return ps_error_at(err, PS_EINVALID, path, 0, 0,
				   "cannot read "
				   "%s: not a regular file (%s)",
				   what,
				   S_ISDIR(st.st_mode)	  ? "a directory"
				   : S_ISFIFO(st.st_mode) ? "a FIFO"
				   : S_ISSOCK(st.st_mode) ? "a socket"
							  : "a device");
	}
	if ((unsigned long long)st.st_size > (unsigned long long)max) {
		close(fd);
		return ps_error_at(err, PS_ELIMIT, path, 0, 0,
				   "%s is larger "
				   "than %zu bytes (limit)",
				   what, max);
	}
	*out = fd;
	*size = (size_t)st.st_size;
	return 0;
}

/* Read `fd` to its end into `b`; more than `max` bytes is PS_ELIMIT. */
static int read_all(ps_buf *b, int fd, const char *path, size_t max,
		    const char *what, bool secret, ps_error *err)
{
	char chunk[65536];
	int rc = 0;

	for (;;) {
		ssize_t r = read(fd, chunk, sizeof(chunk));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = ps_error_at(err, PS_ERROR, path, 0, 0,
					 "cannot read "
					 "%s: %s",
					 what, strerror(errno));
			break;
		}
		if (r == 0)
			break;
		if (ps_buf_put(b, chunk, (size_t)r) < 0 || b->len > max) {
			rc = ps_error_at(err, PS_ELIMIT, path, 0, 0,
					 "%s is "
					 "larger than %zu bytes (limit)",
					 what, max);
			break;
		}
	}
	if (secret)
		explicit_bzero(chunk, sizeof(chunk));
	return rc;
}

int ps_file_read(char **out, size_t *len, const char *path, size_t max,
		 const char *what, bool secret, ps_error *err)
{
	ps_buf b;
	size_t size = 0;
	int fd, rc;

	*out = NULL;
	*len = 0;
	if ((rc = open_regular(&fd, &size, path, max, what, err)) < 0)
		return rc;
	/* One byte over the limit tells "too big" from "exactly max" (the
	 * file may grow after fstat). */
	ps_buf_init(&b, max + 1);
	/* A secret's buffer is made whole at once, so that no realloc
	 * leaves an unwiped copy behind (secrets are small). */
	(void)ps_buf_grow(&b, secret ? max + 1 : size);
	rc = read_all(&b, fd, path, max, what, secret, err);
	close(fd);
	if (rc < 0) {
		ps_buf_wipe(&b);
		return rc;
	}
	*out = ps_buf_detach(&b, len);
	if (!*out)
		return ps_error_at(err, PS_ELIMIT, path, 0, 0,
				   "%s is larger "
				   "than %zu bytes (limit)",
				   what, max);
	return 0;
}

/* Write all of data to fd. 0 or -1 (errno set). */
static int write_all(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t w = write(fd, data, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		data += w;
		len -= (size_t)w;
	}
	return 0;
}

/* fsync the directory holding path, so that a rename in it is durable. */
static int sync_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int fd, rc;

	if (!slash)
		dir = ps_strdup(".");
	else if (slash == path)
		dir = ps_strdup("/");
	else
		dir = ps_strndup(path, (size_t)(slash - path));
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	/* Some file systems cannot fsync a directory: not an error there. */
	if (rc < 0 && (errno == EINVAL || errno == ENOTSUP))
		rc = 0;
	close(fd);
	return rc;
}

int ps_file_write_atomic(const char *path, const void *data, size_t len,
			 mode_t mode, ps_error *err)
{
	ps_buf tmp = PS_BUF_INIT;
	int fd = -1, rc = 0, tries, saved;

	/* A unique name beside the target: mkostemp's loop, but with
	 * O_NOFOLLOW and our own mode (mkostemp's is 0600 too, but the
	 * flags matter more than the name). */
	for (tries = 0; tries < 100; tries++) {
		unsigned char rnd[6];
		char hex[13];
		int r = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

		if (r < 0 ||
		    read(r, rnd, sizeof(rnd)) != (ssize_t)sizeof(rnd)) {
			saved = errno;
			if (r >= 0)
				close(r);
			errno = saved ? saved : EIO;
			break;
		}
		close(r);
		ps_hex(hex, rnd, sizeof(rnd));
		ps_buf_reset(&tmp);
		ps_buf_printf(&tmp, "%s.%s.tmp", path, hex);
		if (ps_buf_status(&tmp) < 0) {
			errno = ENAMETOOLONG;
			break;
		}
		fd = open(tmp.ptr,
			  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			  mode);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0) {
		rc = ps_error_at(err, PS_ERROR, path, 0, 0, "%s",
				 strerror(errno));
		goto cleanup;
	}
	/* The mode given to open() is filtered by the umask; set it
	 * exactly. */
	if (fchmod(fd, mode) < 0 || write_all(fd, data, len) < 0 ||
	    fsync(fd) < 0) {
		saved = errno;
		close(fd);
		unlink(tmp.ptr);
		rc = ps_error_at(err, PS_ERROR, path, 0, 0, "%s",
				 strerror(saved));
		goto cleanup;
	}
	if (close(fd) < 0 || rename(tmp.ptr, path) < 0) {
		saved = errno;
		unlink(tmp.ptr);
		rc = ps_error_at(err, PS_ERROR, path, 0, 0, "%s",
				 strerror(saved));
		goto cleanup;
	}
	if (sync_dir(path) < 0)
		rc = ps_error_at(err, PS_ERROR, path, 0, 0,
				 "written, but its "
				 "directory cannot be synced: %s",
				 strerror(errno));

cleanup:
	ps_buf_release(&tmp);
	return rc;
}
