/*
 * Normalisation and keyed fingerprints of callbacks.
 *
 * The snapshot and plan files never hold a sensitive value in clear: each is
 * replaced by a marker string "(sensitive) hmac-sha256:<32 hex>" computed
 * with a per-account key that is not stored anywhere in the repository
 * (see README "Secrets and fingerprints"). Someone who holds only the
 * repository cannot test a guess against a fingerprint.
 *
 * Key: material = $PAVESYNC_FINGERPRINT_KEY when set, else the account's API
 * secret; key = HMAC-SHA256(material, "pavesync fingerprint v1\0" + account).
 * The key id (first 12 hex of HMAC-SHA256(key, "key id")) is stored in the
 * snapshot so a change of key is detected and the snapshot is treated as
 * stale instead of reporting every sensitive value as changed.
 */
#ifndef PS_SEAL_H
#define PS_SEAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "hmac.h"
#include "json.h"

#define PS_SENSITIVE_PREFIX "(sensitive) hmac-sha256:"

typedef struct ps_fpkey {
	unsigned char key[32];
	char id[13]; /* 12 hex + NUL */
	/* The key absorbed once (see hmac.h), so each fingerprint costs two
	 * SHA-256 blocks rather than a full HMAC set-up. A ps_fpkey is
	 * therefore not thread-safe: one thread per key at a time. */
	ps_hmac mac;
	/* The last value fingerprinted and its fingerprint (a header every
	 * callback of an account inherits is fingerprinted once); wiped
	 * with the key. */
	void *memo;
} ps_fpkey;

/* Derive the account's fingerprint key into *out (reads
 * PAVESYNC_FINGERPRINT_KEY). The strings are only read. Never fails: a
 * libcrypto failure aborts (ps_oom). Release it with ps_fpkey_release. */
void ps_fpkey_derive(ps_fpkey *out, const char *account,
		     const char *api_secret);

/* The same with the value of PAVESYNC_FINGERPRINT_KEY given (NULL or ""
 * when unset): getenv scans the whole environment, and a plan of 10,000
 * accounts, each with its own secret variable, derives 10,000 keys. */
void ps_fpkey_derive_with(ps_fpkey *out, const char *account,
			  const char *api_secret, const char *fingerprint_key);

/* Wipe a key and free its digest states and memo; the struct may be
 * derived again (git's _release). NULL-safe, idempotent. */
void ps_fpkey_release(ps_fpkey *k);

/* Free a key's digest states and memo but keep the key (and its id): the
 * next fingerprint or MAC sets them up again. For a key that may lie idle
 * a long while among many (a plan of 10,000 accounts). Same thread rule
 * as the fingerprints. NULL-safe. */
void ps_fpkey_idle(ps_fpkey *k);

/* PS_SENSITIVE_PREFIX + 32 hex of HMAC(key, data) into out (>= 64 bytes).
 * Writes k's scratch state and memo: one thread per key at a time. */
void ps_seal_fingerprint(char *out, size_t outlen, const ps_fpkey *k,
			 const void *data, size_t len);

/* The full HMAC-SHA256(key, data) into out: a keyed digest of data that,
 * like a fingerprint, cannot be tested against without the key. */
void ps_fpkey_mac(unsigned char out[32], const ps_fpkey *k, const void *data,
		  size_t len);

/* Is this JSON value a fingerprint marker? */
bool ps_seal_is_fingerprint(const json_t *v);

/*
 * Normalise a callback spec as SPEC §4 says drift is judged: method upper
 * case and "POST" when absent, header names lower-case, absent or null
 * headers/payload become {}, headers/payload given as JSON *strings* (as the
 * API may return them) are parsed into objects when they hold one, event and
 * api_key fields dropped. Returns a new reference ({"url","method","headers",
 * "payload"}), never NULL for an object input; NULL when spec is not an
 * object. Nothing in the result is shared with spec (which may be read by
 * other threads at the same time: even json_incref writes to it).
 */
json_t *ps_seal_normalize(const json_t *spec);

/*
 * Normalise `spec` and replace every value named in `sensitive` (JSON
 * pointers into the *un-normalised* spec; header names are matched
 * case-insensitively) by its fingerprint. Every header value is sealed
 * whether listed or not. The fingerprint of a non-string value is taken over
 * its compact, key-sorted JSON encoding. Returns a new reference.
 * `sensitive` may be NULL. NULL when spec is not an object. spec and
 * sensitive are only read; k as for ps_seal_fingerprint.
 */
json_t *ps_seal_callback(const json_t *spec, const json_t *sensitive,
			 const ps_fpkey *k);

#endif
