/*
 * The project's PAVE API emulator (tests/emulator/pave_emulator.py) for
 * the unit tests that talk to a real server (test_api, test_apply,
 * test_run): started once per group on a free port, stopped at the end,
 * and its admin API (/_emulator/...) driven with libcurl.
 */
#ifndef PS_TESTEMU_H
#define PS_TESTEMU_H

#include <jansson.h>

/* http://127.0.0.1:PORT of the running emulator. */
extern char test_emu_url[64];

/*
 * Start the emulator with `accounts` ("key:secret:user", NULL-terminated)
 * and initialise libcurl (ps_api_global_init). 0, or -1 with a line on
 * stderr.
 */
int test_emu_start(const char *const *accounts);

/* Stop it (SIGTERM) and clean up; 0 when it exited with status 0. */
int test_emu_stop(void);

/* METHOD /_emulator/path with an optional JSON body; must answer 200.
 * Returns the parsed reply (new reference; NULL when not JSON). */
json_t *test_emu_admin(const char *method, const char *path, const char *body);

/* test_emu_admin, reply dropped. */
void test_emu_admin_do(const char *method, const char *path, const char *body);

#endif
