/*
 * HMAC-SHA256 over libcrypto's SHA-256: see hmac.h for why it is written
 * here. HMAC(K, m) = H((K' ^ opad) || H((K' ^ ipad) || m)), K' the key
 * padded (or first hashed, when longer) to the 64-byte block.
 */
#include "hmac.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "libcrypto.h"

#include "banned.h"

#define BLOCK 64

/* SHA-256, fetched once: EVP_sha256() fetches the implementation again on
 * every use, which costs more than hashing a short value. Never freed.
 * NULL when libcrypto cannot be loaded: every function below asks for it
 * before its first libcrypto call. */
static EVP_MD *sha256_md;

static void fetch_sha256(void)
{
	if (ps_libcrypto_load(NULL) == 0)
		sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *sha256(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, fetch_sha256);
	return sha256_md;
}

/* RFC 2104's K' into k: the key, first hashed when longer than a block,
 * zero-padded. False when libcrypto fails. Only once sha256() gave an
 * implementation (libcrypto is loaded), as below. */
static bool block_key(unsigned char k[BLOCK], const void *key, size_t keylen)
{
	unsigned int n = 0;

	memset(k, 0, BLOCK);
	if (keylen > BLOCK)
		return EVP_Digest(key, keylen, k, &n, sha256(), NULL);
	if (keylen)
		memcpy(k, key, keylen);
	return true;
}

/* Start c on SHA-256 with one block absorbed: the padded key XORed with
 * `pad` (0x36 inner, 0x5c outer). False when libcrypto fails. */
static bool absorb_pad(EVP_MD_CTX *c, const unsigned char key[BLOCK],
		       unsigned char pad)
{
	unsigned char block[BLOCK];
	size_t i;
	bool ok;

	for (i = 0; i < sizeof(block); i++)
		block[i] = (unsigned char)(key[i] ^ pad);
	ok = EVP_DigestInit_ex(c, sha256(), NULL) &&
	     EVP_DigestUpdate(c, block, sizeof(block));
	explicit_bzero(block, sizeof(block));
	return ok;
}

/* A new digest context with absorb_pad done. NULL when libcrypto fails. */
static EVP_MD_CTX *keyed_digest(const unsigned char key[BLOCK],
				unsigned char pad)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	if (c && !absorb_pad(c, key, pad)) {
		EVP_MD_CTX_free(c);
		c = NULL;
	}
	return c;
}

int ps_hmac_init(ps_hmac *h, const void *key, size_t keylen)
{
	unsigned char k[BLOCK];
	int rc = -1;

	h->inner = h->outer = h->scratch = NULL;
	if (!sha256())
		return -1;
	if (!block_key(k, key, keylen))
		goto cleanup;
	h->inner = keyed_digest(k, 0x36);
	h->outer = keyed_digest(k, 0x5c);
	h->scratch = EVP_MD_CTX_new();
	if (h->inner && h->outer && h->scratch)
		rc = 0;
cleanup:
	explicit_bzero(k, sizeof(k));
	if (rc)
		ps_hmac_release(h);
	return rc;
}

int ps_hmac_sha256(unsigned char out[PS_HMAC_SIZE], const ps_hmac *h,
		   const void *data, size_t len)
{
	unsigned char mid[PS_HMAC_SIZE];
	unsigned int n = 0;
	int rc = 0;

	if (!EVP_MD_CTX_copy_ex(h->scratch, h->inner) ||
	    !EVP_DigestUpdate(h->scratch, data, len) ||
	    !EVP_DigestFinal_ex(h->scratch, mid, &n) ||
	    !EVP_MD_CTX_copy_ex(h->scratch, h->outer) ||
	    !EVP_DigestUpdate(h->scratch, mid, sizeof(mid)) ||
	    !EVP_DigestFinal_ex(h->scratch, out, &n))
		rc = -1;
	explicit_bzero(mid, sizeof(mid));
	return rc;
}

void ps_hmac_release(ps_hmac *h)
{
	if (!h)
		return;
	/* A context was made only if libcrypto was loaded: never call
	 * through the table for an h that was never initialised. */
	if (h->inner)
		EVP_MD_CTX_free(h->inner);
	if (h->outer)
		EVP_MD_CTX_free(h->outer);
	if (h->scratch)
		EVP_MD_CTX_free(h->scratch);
	h->inner = h->outer = h->scratch = NULL;
}

/* ps_hmac_sha256_once's digest context, one per thread, made on its first
 * use and freed when the thread ends: a one-shot MAC then allocates
 * nothing. (The main thread's lives until the exit.) */
static pthread_key_t once_key;
static bool once_key_made;

static void free_once_ctx(void *c)
{
	EVP_MD_CTX_free(c);
}

static void make_once_key(void)
{
	once_key_made = pthread_key_create(&once_key, free_once_ctx) == 0;
}

static EVP_MD_CTX *once_ctx(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	EVP_MD_CTX *c;

	pthread_once(&once, make_once_key);
	if (!once_key_made)
		return NULL;
	if ((c = pthread_getspecific(once_key)))
		return c;
	if (!(c = EVP_MD_CTX_new()))
		return NULL;
	if (pthread_setspecific(once_key, c)) {
		EVP_MD_CTX_free(c);
		return NULL;
	}
	return c;
}

/* H((key ^ pad) || data) into out, through c. */
static bool pad_hash(unsigned char out[PS_HMAC_SIZE], EVP_MD_CTX *c,
		     const unsigned char key[BLOCK], unsigned char pad,
		     const void *data, size_t len)
{
	unsigned int n = 0;

	return absorb_pad(c, key, pad) && EVP_DigestUpdate(c, data, len) &&
	       EVP_DigestFinal_ex(c, out, &n);
}

int ps_hmac_sha256_once(unsigned char out[PS_HMAC_SIZE], const void *key,
			size_t keylen, const void *data, size_t len)
{
	unsigned char k[BLOCK];
	unsigned char mid[PS_HMAC_SIZE];
	EVP_MD_CTX *c;
	int rc = -1;

	if (!sha256() || !(c = once_ctx()))
		return -1;
	if (!block_key(k, key, keylen))
		goto cleanup;
	if (pad_hash(mid, c, k, 0x36, data, len) &&
	    pad_hash(out, c, k, 0x5c, mid, sizeof(mid)))
		rc = 0;
cleanup:
	explicit_bzero(k, sizeof(k));
	explicit_bzero(mid, sizeof(mid));
	return rc;
}

const char *ps_hmac_unavailable(void)
{
	return ps_libcrypto_failure();
}

int ps_sha256(unsigned char out[PS_HMAC_SIZE], const void *data, size_t len)
{
	const EVP_MD *md = sha256();

	if (!md)
		return -1;
	if (!out)
		return 0;
	return EVP_Digest(data, len, out, NULL, md, NULL) ? 0 : -1;
}
