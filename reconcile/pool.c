#include "pool.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "util.h"
#include "banned.h"

struct pool {
	pthread_mutex_t mu;
	size_t next, n;
	ps_pool_fn fn;
	void *ctx;
};

static void *worker(void *arg)
{
	struct pool *p = arg;

	for (;;) {
		size_t i;
		pthread_mutex_lock(&p->mu);
		i = p->next++;
		pthread_mutex_unlock(&p->mu);
		if (i >= p->n)
			return NULL;
		p->fn(p->ctx, i);
	}
}

void ps_pool_run(size_t n, int concurrency, ps_pool_fn fn, void *ctx)
{
	struct pool p;
	pthread_t *threads;
	size_t nt, i, started = 0;

	p.next = 0;
	p.n = n;
	p.fn = fn;
	p.ctx = ctx;
	pthread_mutex_init(&p.mu, NULL);
	nt = concurrency < 1 ? 1 : (size_t)concurrency;
	if (nt > n)
		nt = n;
	if (nt <= 1) {
		worker(&p);
	} else {
		/* This thread is one of the nt workers; if fewer threads
		 * could be started, the work still gets done, more slowly. */
		threads = ps_calloc(nt - 1, sizeof(*threads));
		for (i = 0; i + 1 < nt; i++) {
			if (pthread_create(&threads[i], NULL, worker, &p))
				break;
			started++;
		}
		worker(&p);
		for (i = 0; i < started; i++)
			pthread_join(threads[i], NULL);
		free(threads);
	}
	pthread_mutex_destroy(&p.mu);
}

int ps_pool_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > 64 ? 64 : (int)n;
}
