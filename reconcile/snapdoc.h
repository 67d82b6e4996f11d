/*
 * The snapshot document's shape, checked field by field when it is read.
 *
 * A document on the state ref is input like any other: edited by hand,
 * truncated, written by another tool. A field of the wrong type used to be
 * read as "absent" (a "callbacks" that is not an object made every apply
 * re-send its calls forever), so every field is checked before the
 * document is used:
 *
 *   {"format": 1 or 2, "account": NAME (= the file's name),
 *    "api_key": FINGERPRINT, "fingerprint_key": 12 lowercase hex,
 *    "callbacks": {EVENT: CALLBACK},
 *    "live": {EVENT: CALLBACK | null}}          (optional, format 2 only)
 *   CALLBACK = {"url": string, "method": string,
 *               "headers": {NAME: FINGERPRINT} | FINGERPRINT,
 *               "payload": object | FINGERPRINT}
 *
 * Unknown fields are refused (a newer format changes "format"). Limits:
 * at most PS_SNAPDOC_MAX_EVENTS events (per map) of at most
 * PS_SNAPDOC_MAX_NAME bytes,
 * payloads nested at most PS_SNAPDOC_MAX_DEPTH levels.
 *
 * The rules are tables in snapdoc.c (one row per field: name, required,
 * check); a new field is one row.
 */
#ifndef PS_SNAPDOC_H
#define PS_SNAPDOC_H

#include <jansson.h>

#include "error.h"

#define PS_SNAPDOC_MAX_EVENTS 10000
#define PS_SNAPDOC_MAX_NAME 256
#define PS_SNAPDOC_MAX_DEPTH 64

/*
 * Check `doc`, the document of account `account` read at commit `at` (an
 * abbreviated id, for the message). 0 when it is well formed; otherwise
 * PS_EINVALID with "accounts/ACCOUNT.json at AT: FIELD: what is wrong"
 * (FIELD a dotted path such as callbacks.SESSION:COMPLETE.headers).
 * Reads doc only.
 */
int ps_snapdoc_check(const json_t *doc, const char *account, const char *at,
		     ps_error *err);

#endif
