/*
 * HMAC-SHA256 (RFC 2104): the library's one implementation, used for the
 * API's request token (api) and for fingerprints and their keys (seal).
 *
 * Why not OpenSSL's HMAC() or EVP_MAC: a key used many times (an account's
 * fingerprint key seals the key id and every header and sensitive value of
 * the account) keeps two SHA-256 states with the padded key absorbed, and
 * each MAC is then two state copies and two short hashes into a reused
 * scratch state: no MAC fetch, no key set-up, no allocation. EVP_MAC does
 * the key set-up on every EVP_MAC_init, and duplicating an EVP_MAC_CTX
 * allocates three digest contexts each time.
 */
#ifndef PS_HMAC_H
#define PS_HMAC_H

#include <stddef.h>

#define PS_HMAC_SIZE 32

/* A key made ready for many MACs. Holds libcrypto digest contexts: release
 * it with ps_hmac_release. Not thread-safe (ps_hmac_sha256 writes the
 * scratch state): one thread per ps_hmac at a time. */
typedef struct ps_hmac {
	void *inner, *outer, *scratch; /* EVP_MD_CTX */
} ps_hmac;

#define PS_HMAC_INIT                                                           \
	{                                                                      \
		NULL, NULL, NULL                                               \
	}

/* Absorb a key of any length (a key over 64 bytes is hashed first, as RFC
 * 2104 says). 0, or -1 when libcrypto fails (out of memory, no SHA-256);
 * then h holds nothing. Intermediate copies of the key are wiped. */
int ps_hmac_init(ps_hmac *h, const void *key, size_t keylen)
	__attribute__((warn_unused_result));

/* HMAC-SHA256(key, data) into out. 0, or -1 when libcrypto fails. */
int ps_hmac_sha256(unsigned char out[PS_HMAC_SIZE], const ps_hmac *h,
		   const void *data, size_t len)
	__attribute__((warn_unused_result));

/* Free the contexts; h may be initialised again. NULL-safe, idempotent. */
void ps_hmac_release(ps_hmac *h);

/* One MAC with a key used once. 0 or -1 as above. Through a digest
 * context the calling thread keeps for these (freed when it ends), so it
 * allocates nothing; the key's copies are wiped, the context's last state
 * stays until its next use. */
int ps_hmac_sha256_once(unsigned char out[PS_HMAC_SIZE], const void *key,
			size_t keylen, const void *data, size_t len)
	__attribute__((warn_unused_result));

/* SHA-256 of data into out, through the same fetched implementation. 0,
 * or -1 when libcrypto fails. The first call of the process (or of the
 * HMAC functions above) initialises libcrypto: a thread that calls
 * ps_sha256(NULL, NULL, 0) early takes that cost off the others. */
int ps_sha256(unsigned char out[PS_HMAC_SIZE], const void *data, size_t len);

/*
 * libcrypto is loaded by the first of these calls (or by the state's
 * warm-up, ps_state_warmup_start), not linked. When it could not be, the
 * calls above fail, and their callers, to whom a libcrypto failure is
 * fatal, end in ps_oom: this says why ("cannot load libcrypto.so.3:
 * REASON") for the program's handler to tell the user instead of "out of
 * memory"; NULL when libcrypto did not fail to load. Allocates nothing and
 * takes no lock, for that handler.
 */
const char *ps_hmac_unavailable(void);

#endif
