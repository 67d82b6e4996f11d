/*
 * Rules of the PAVE domain that more than one module applies: the events
 * the PAVE API supports, and what an account name may be (a config key,
 * and a path in the state repository).
 */
#ifndef PS_PAVE_H
#define PS_PAVE_H

#include <stdbool.h>

/* The supported PAVE events, NULL-terminated. Adding one is a one-line change
 * in pave.c. */
extern const char *const ps_pave_events[];
bool ps_pave_event_is_known(const char *event);

/* Account names: [a-z0-9][a-z0-9_-]{0,62}. */
bool ps_pave_account_name_is_valid(const char *name);

#endif
