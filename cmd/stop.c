/*
 * SIGINT and SIGTERM: stop gracefully, once.
 *
 * The first signal sets a flag that the library reads (ps_api_opts.stop):
 * no new API call starts, a call in flight may finish (bounded by the API
 * client's grace period), the run commits what succeeded, releases the
 * lock and exits 128 + the signal's number (130 for SIGINT, 143 for
 * SIGTERM). A second signal ends the process at once by that signal, as
 * kill -9 would: the state repository is consistent after that too (every
 * write is object-then-ref, and the run lock is an flock the kernel drops).
 *
 * Only async-signal-safe work happens in the handler: a lock-free atomic
 * store, signal(), raise().
 */
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

#include "cmd.h"
#include "banned.h"

static atomic_int stop_level;
static atomic_int stop_signo;

static void on_stop(int sig)
{
	if (atomic_load(&stop_level)) {
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	atomic_store(&stop_signo, sig);
	atomic_store(&stop_level, 1);
}

void stop_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	/* Interrupted file I/O resumes (libgit2 does not expect EINTR);
	 * libcurl's waits notice the flag through its progress callback. */
	sa.sa_flags = SA_RESTART;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

const atomic_int *stop_flag(void)
{
	return &stop_level;
}

int stop_signal(void)
{
	return atomic_load(&stop_level) ? atomic_load(&stop_signo) : 0;
}
