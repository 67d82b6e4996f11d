/*
 * The settle memo: which snapshot document each account's configuration
 * produced last time, so a run where nothing changed can settle an account
 * without sealing and encoding its callbacks again.
 *
 * For each account it records a digest of everything its document is made
 * of (the account's part of the config, keyed with its fingerprint key:
 * see plan.c) and the git blob id of the document that input produced. The
 * document is a pure function of that input, so when the digest computed
 * now is the recorded one and the committed blob of the account is the
 * recorded blob, the account is settled. Any other case (no entry, another
 * digest, another blob, a damaged file) only costs the full comparison:
 * the memo is a cache and never decides anything by itself.
 *
 * It lives in the git directory, beside the run lock, as
 * <gitdir>/pavesync-memo: never committed, never pushed. It holds no
 * secret: the digests are keyed like the snapshot's fingerprints. Text, one
 * line per account, sorted by name:
 *   "pavesync-memo 1\n" then "NAME SP DIGEST(64 hex) SP BLOB(40 hex)\n"...
 * Only writers (apply, under the run lock) write it, atomically; readers
 * (plan) only read it.
 */
#ifndef PS_MEMO_H
#define PS_MEMO_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#define PS_MEMO_DIGEST 32 /* bytes of an input digest */
#define PS_MEMO_BLOB 20	  /* bytes of a git blob id */

typedef struct ps_memo ps_memo;

/* Read the memo of the repository whose git directory is `gitdir` ("" or
 * NULL: none). A missing, unreadable or damaged file reads as an empty
 * memo. Never NULL; free with ps_memo_free. */
ps_memo *ps_memo_read(const char *gitdir);

/* The entry for `account`: true and pointers into the memo (valid until
 * the next ps_memo_set or ps_memo_free) when there is one. Read-only:
 * several threads may look up at once. */
bool ps_memo_get(const ps_memo *m, const char *account,
		 const unsigned char **digest, const unsigned char **blob);

/* Record `account`'s digest and blob id, replacing its entry. Not
 * thread-safe. */
void ps_memo_set(ps_memo *m, const char *account,
		 const unsigned char digest[PS_MEMO_DIGEST],
		 const unsigned char blob[PS_MEMO_BLOB]);

/* Drop every entry whose account `keep` says no to (accounts that left the
 * config), so the file does not grow forever. */
void ps_memo_prune(ps_memo *m, bool (*keep)(const char *account, void *ctx),
		   void *ctx);

/* Write the memo back to <gitdir>/pavesync-memo when anything changed
 * (ps_file_write_atomic, mode 0644). Errors: PS_ERROR with the reason. */
int ps_memo_write(ps_memo *m, const char *gitdir, ps_error *err);

/* NULL-safe. */
void ps_memo_free(ps_memo *m);

#endif
