#ifndef PS_SESSION_H
#define PS_SESSION_H

#include "cmd.h"
#include "run.h"

/*
 * Start the library's run (run.h) for plan, apply or import: the options
 * become ps_run_settings, its notices go to output.c. On failure the
 * problem is printed (the config's diagnostics, or the error) and *run is
 * NULL. Returns an exit status: 0, EXIT_LOCKED when another run holds the
 * lock, EXIT_ERROR otherwise.
 */
int session_open(ps_run **run, const struct opts *o, bool write);

/* ps_run_plan with the error printed; an exit status. */
int session_plan(ps_run *run, unsigned flags);

#endif
