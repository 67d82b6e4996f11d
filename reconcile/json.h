/*
 * JSON helpers over jansson shared by every module.
 */
#ifndef PS_JSON_H
#define PS_JSON_H

#include <jansson.h>

#include "buf.h"

/*
 * Encode canonically: sorted keys, two-space indent, final newline, so that
 * `git diff` of a snapshot reads well and equal documents are equal bytes.
 * Returns a malloc'd string (caller frees), or NULL when the encoding would
 * be larger than PS_JSON_MAX: never a truncated document.
 */
#define PS_JSON_MAX ((size_t)64 * 1024 * 1024)

char *ps_json_canonical(const json_t *v) __attribute__((warn_unused_result));

/* Compact, key-sorted encoding (for hashing and comparing). Caller frees.
 * NULL past PS_JSON_MAX, as above. */
char *ps_json_compact(const json_t *v) __attribute__((warn_unused_result));

/* The same, for a value that holds secrets (a request body with header
 * values): every buffer it goes through is wiped before it is freed. The
 * caller wipes the result (ps_free_secret). */
char *ps_json_compact_secret(const json_t *v)
	__attribute__((warn_unused_result));

/*
 * Make jansson wipe every block it frees (and call ps_oom when it cannot
 * allocate): header values, payload secrets and API answers live in JSON
 * values, and a freed block that still holds one can end up in a core
 * file, swap or the next allocation. Process-wide (json_set_alloc_funcs):
 * call once, first thing in main, before any JSON value exists.
 */
void ps_json_wipe_on_free(void);

/*
 * The object a JSON string holds. The API documents headers and payload as
 * strings but shows objects, and either shape may come back. When v is a
 * string whose whole text is one JSON object (duplicate keys rejected),
 * returns a new reference to that object; otherwise NULL (v not a string,
 * "", not JSON, or JSON of another type). v is only read.
 */
json_t *ps_json_string_object(const json_t *v)
	__attribute__((warn_unused_result));

/* Resolve an RFC 6901 JSON Pointer in v. Borrowed result or NULL. */
json_t *ps_json_pointer_get(const json_t *v, const char *pointer);

/* Decode one escaped pointer segment [s, end) (~1 → /, ~0 → ~) into buf,
 * replacing what it held. The reverse of ps_json_pointer_push. */
void ps_json_pointer_decode(ps_buf *buf, const char *s, const char *end);

/* Append one escaped pointer segment to `pointer` ("/" + segment with ~0 ~1).
 * Returns a malloc'd string: the caller frees it. */
char *ps_json_pointer_append(const char *pointer, const char *segment);

/* The same, in place: append "/" + the escaped segment to the buffer. */
void ps_json_pointer_push(ps_buf *pointer, const char *segment);

#endif
