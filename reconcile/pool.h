/*
 * A small fixed pool of threads that calls fn(ctx, i) for every i in
 * [0, n), in order of i, at most `concurrency` at a time. It returns when
 * all calls have returned. With concurrency 1 (or n <= 1) everything runs on
 * the calling thread. fn must be safe to run concurrently for different i.
 */
#ifndef PS_POOL_H
#define PS_POOL_H

#include <stddef.h>

typedef void (*ps_pool_fn)(void *ctx, size_t i);

void ps_pool_run(size_t n, int concurrency, ps_pool_fn fn, void *ctx);

/* Processors online (at least 1): the concurrency for CPU-bound work. */
int ps_pool_cpus(void);

#endif
