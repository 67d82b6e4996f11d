/*
 * The run lock of a state repository. state.h opens the repository whose
 * git directory (ps_state_gitdir) holds the lock.
 */
#ifndef PS_LOCK_H
#define PS_LOCK_H

#include <stddef.h>

#include "error.h"

/*
 * The run lock: <gitdir>/pavesync.lock, holding "pid P\nhost H\nstarted T\n"
 * for people to read. Exclusion is by flock(2), so the kernel releases the
 * lock of a holder that dies, however it dies; a lock file left with content
 * by such a holder is taken over and `warning` (may be NULL) receives a
 * sentence saying so. Waits up to timeout_seconds (0: do not wait), polling,
 * then fails with PS_ELOCKED naming the holder. While held, a
 * "<gitdir>/<ref>.lock" on the state ref (what a killed git or libgit2
 * write leaves) is removed only when it is over ten minutes old, as no
 * live writer holds one that long (reported in `warning`); a younger one
 * is given a second to go away, then the lock is not taken: PS_ELOCKED
 * saying that a git command may be updating the ref.
 * `gitdir` is ps_state_gitdir() (the common git directory, so every linked
 * work tree shares one lock). *out is owned by the caller, who releases
 * the lock by freeing it with ps_lock_free. Errors: PS_ELOCKED as above,
 * PS_EINVALID (no gitdir), PS_ERROR (the lock file cannot be opened or
 * written).
 */
typedef struct ps_lock ps_lock;
int ps_lock_acquire(ps_lock **out, char *warning, size_t warnlen,
		    const char *gitdir, const char *ref, double timeout_seconds,
		    ps_error *err);
/* Release the lock and free the handle: remove the lock file (still
 * holding the flock), close it. NULL-safe. */
void ps_lock_free(ps_lock *lock);

#endif
