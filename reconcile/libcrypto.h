/*
 * libcrypto (OpenSSL 3), loaded when the process first hashes. Included by
 * the files that call libcrypto (hmac.c, state.c, state_pack.c, api.c)
 * instead of <openssl/evp.h> and <openssl/rand.h>.
 *
 * pavesync is not linked with libcrypto: the dynamic loader mapped,
 * relocated and initialised it before main() in every run (~1 ms, as much
 * as the rest of the program's libraries together), --version included.
 * The state module's warm-up thread (ps_state_warmup_start) loads it
 * instead, with libgit2, while the config is parsed; whichever thread
 * hashes first waits for that load or does it (pthread_once).
 *
 * As state_git.h does for libgit2: the header includes OpenSSL's headers
 * for the types and constants, then maps each function the program calls
 * onto the table `ps_libcrypto`, so a call reads as OpenSSL's own. Call
 * through it only once ps_libcrypto_load() returned 0 in this process. A
 * function missing from the list below is an undefined reference when
 * pavesync links, not a silent direct call.
 */
#ifndef PS_LIBCRYPTO_H
#define PS_LIBCRYPTO_H

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "error.h"

/* OpenSSL 3's ABI (Debian's libssl3). */
#define PS_LIBCRYPTO_SONAME "libcrypto.so.3"

/* The oldest libcrypto whose calls pavesync makes (EVP_MD_fetch). */
#define PS_LIBCRYPTO_MIN_VERSION 0x30000000UL

/*
 * The libcrypto functions pavesync calls, as prefix and name. Each becomes
 * a member NAME of struct ps_libcrypto of exactly that function's type
 * (taken from OpenSSL's headers with __typeof__, so a mismatch cannot
 * compile), and is looked up as "<prefix><name>". Each needs its #define
 * below as well.
 */
#define PS_LIBCRYPTO_FUNCTIONS(X)                                              \
	X(EVP_, Digest)                                                        \
	X(EVP_, DigestFinal_ex)                                                \
	X(EVP_, DigestInit_ex)                                                 \
	X(EVP_, DigestUpdate)                                                  \
	X(EVP_, MD_CTX_copy_ex)                                                \
	X(EVP_, MD_CTX_free)                                                   \
	X(EVP_, MD_CTX_new)                                                    \
	X(EVP_, MD_fetch)                                                      \
	X(EVP_, sha1)                                                          \
	X(OpenSSL_, version_num)                                               \
	X(RAND_, bytes)

#define PS_LIBCRYPTO_MEMBER(prefix, name) __typeof__(prefix##name) *name;
struct ps_libcrypto {
	PS_LIBCRYPTO_FUNCTIONS(PS_LIBCRYPTO_MEMBER)
};
#undef PS_LIBCRYPTO_MEMBER

/* The table: filled only by a successful ps_libcrypto_load(), read-only
 * after. */
extern struct ps_libcrypto ps_libcrypto;

/*
 * Load libcrypto (dlopen, RTLD_NOW | RTLD_LOCAL), look every function up
 * and check its version: once per process, whichever thread comes first
 * (pthread_once), so it has happened before any thread uses libcrypto. 0,
 * or PS_ERROR with "cannot load libcrypto.so.3: <dlerror>" (or why the
 * library found cannot be used); a failure is remembered and given again
 * to every later call. The library is never unloaded.
 */
int ps_libcrypto_load(ps_error *err);

/* Once a ps_libcrypto_load() in this process has failed, its message;
 * NULL otherwise (not tried, loading, or loaded). No allocation, no lock
 * (ps_hmac_unavailable). */
const char *ps_libcrypto_failure(void);

/* PREFIX_NAME(...) calls ps_libcrypto.NAME(...). After the table and the
 * prototypes: an OpenSSL header first included below this point would have its
 * prototypes renamed. */
#define EVP_Digest ps_libcrypto.Digest
#define EVP_DigestFinal_ex ps_libcrypto.DigestFinal_ex
#define EVP_DigestInit_ex ps_libcrypto.DigestInit_ex
#define EVP_DigestUpdate ps_libcrypto.DigestUpdate
#define EVP_MD_CTX_copy_ex ps_libcrypto.MD_CTX_copy_ex
#define EVP_MD_CTX_free ps_libcrypto.MD_CTX_free
#define EVP_MD_CTX_new ps_libcrypto.MD_CTX_new
#define EVP_MD_fetch ps_libcrypto.MD_fetch
#define EVP_sha1 ps_libcrypto.sha1
#define OpenSSL_version_num ps_libcrypto.version_num
#define RAND_bytes ps_libcrypto.bytes

#endif
