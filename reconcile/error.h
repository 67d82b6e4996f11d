/*
 * One error type for the whole library, owned by the caller (like jansson's
 * json_error_t): reporting an error never allocates.
 *
 * Functions return 0 on success and a negative PS_E* code on failure, and
 * fill the ps_error they were given (which may be NULL when the caller does
 * not care). Each module that wraps a foreign library (libyaml, jansson,
 * libcurl, libgit2) turns that library's errors into a ps_error in one place.
 */
#ifndef PS_ERROR_H
#define PS_ERROR_H

#include <stddef.h>

enum {
	PS_OK = 0,
	PS_ERROR = -1,	   /* generic failure */
	PS_ENOTFOUND = -3, /* no such account/event/file/ref */
	PS_EINVALID = -4,  /* bad input (config, JSON, arguments) */
	PS_ELIMIT = -5,	   /* input past a size/depth/expansion limit */
	PS_ELOCKED = -6,   /* another run holds the lock */
	PS_ECONFLICT =
		-7,	/* the state ref moved under us (concurrent writer) */
	PS_EAUTH = -8,	/* 401/403 from the API: stop calling that account */
	PS_ESTALE = -9, /* snapshot/plan no longer matches */
	PS_EHTTP = -10, /* the API answered with a non-retryable failure */
	PS_ETRANSPORT = -11, /* connection/timeout, retries exhausted */
	PS_EEXISTS = -12,    /* POST said the callback may already exist */
	PS_EDIVERGED = -14,  /* remote state ref diverged from ours */
	PS_ELOCAL = -15,     /* local TLS/CA setup error: no call can succeed */
};

#define PS_ERROR_MSG_MAX 512
#define PS_ERROR_SOURCE_MAX 256

typedef struct ps_error {
	int code;	 /* PS_E*; 0 when no error is recorded */
	int line;	 /* 1-based; 0 when not applicable */
	int column;	 /* 1-based; 0 when not applicable */
	int http_status; /* for API errors, the HTTP status; 0 otherwise */
	char source[PS_ERROR_SOURCE_MAX]; /* file name, "" when none */
	char message[PS_ERROR_MSG_MAX];	  /* one line, lowercase start, no final
					     period */
} ps_error;

/* Reset to "no error". NULL-safe. */
void ps_error_clear(ps_error *err);

/* Record an error without a location; returns `code` so callers can
 * `return ps_error_set(err, PS_EINVALID, "...")`. NULL-safe. */
int ps_error_set(ps_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Record an error at source:line:column. NULL-safe. */
int ps_error_at(ps_error *err, int code, const char *source, int line,
		int column, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

/* Prefix an existing message with "what: " (e.g. the account name). */
void ps_error_prefix(ps_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Render as "source:line:column: message" (parts omitted when absent) into
 * out (always NUL-terminated). Returns out.
 */
const char *ps_error_format(const ps_error *err, char *out, size_t outlen);

/*
 * A list of errors, for `validate`, which reports every problem and not just
 * the first. Items are copied in.
 */
typedef struct ps_diags {
	ps_error *items;
	size_t count;
	size_t alloc;
} ps_diags;

#define PS_DIAGS_INIT                                                          \
	{                                                                      \
		NULL, 0, 0                                                     \
	}

/* Append a copy of *err. Past 1000 entries further ones are dropped so
 * hostile input cannot flood memory. */
void ps_diags_add(ps_diags *d, const ps_error *err);
void ps_diags_clear(ps_diags *d);

#endif
