/*
 * Accounts built while the file is still parsed (see config_int.h): the
 * parser thread queues each pair of the "accounts" mapping as soon as its
 * value is complete, and a worker builds it at once, so that on two cores
 * the build is done when the parse is. The worker reads only complete
 * subtrees, which nothing writes again and the arena never moves.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "util.h"
#include "banned.h"

/*
 * The worker starts when this many pairs are queued; a file with fewer
 * accounts is built after the parse, as before. A thread costs about as
 * much as building a few dozen accounts, but the real cost is malloc's:
 * with one arena for the process the worker's allocations and libyaml's
 * take the same lock and the parser sleeps on it, which is why this was
 * 1,500 while cmd/main.c set M_ARENA_MAX to 1. With two arenas (the
 * main thread's, and one the worker uses), a no-drift plan of 1,000
 * accounts, 40 runs interleaved with the same code at 1,500 (medians):
 * 32.9 against 34.8 ms, and 32.2 against 36.2 ms in the other order.
 * Tests set it lower to reach the pipeline with small files.
 */
size_t ps_cfg_pipe_min_pairs = 32;
/* A waiting worker is woken for this many pairs at once: a wake-up costs
 * more than building one account. */
#define PIPE_BATCH 64
/* The recorder is a ps_diags, which takes at most 1000 entries. */
#define PIPE_MAX_DIAGS 1000

typedef struct pipe_pair {
	const ps_ynode *k;
	const ps_ynode *v;
} pipe_pair;

/* What the worker made of queue entry i (the worker's until joined). */
typedef struct pipe_result {
	ps_account acct;
	size_t d0, d1; /* its diagnostics: rec.list.items[d0…d1) */
	bool built;
} pipe_result;

struct ps_cfgpipe {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* Under mu: the queue, filled by the parser thread. */
	pipe_pair *queue;
	size_t nqueue;
	size_t aqueue;
	bool closed;	/* the parse is over: nothing more comes */
	bool cancel;	/* stop building */
	size_t wake_at; /* the worker waits on cv for nqueue to reach this;
			 * 0: it does not wait */
	size_t done;	/* queue entries the worker is done with */
	bool started;	/* the worker runs (parser thread only) */
	bool failed;	/* no worker could be started (parser thread only) */
	bool same_defaults; /* every pair came with `defaults` */
	const ps_ynode *defaults;
	/* The worker's, until joined. */
	ctx c;
	build_cache cache;
	ps_cfgdiag rec;
	pipe_result *res;
	size_t nres;
	bool abandoned; /* rec filled up: no result is complete */
	pthread_t thread;
	size_t taken; /* results before this were taken or passed over */
};

static void build_pair(ps_cfgpipe *p, const defaults *def, size_t i,
		       const pipe_pair *pair)
{
	pipe_result *r;

	if (i >= p->nres) {
		size_t n = p->nres ? p->nres * 2 : 256;
		while (n <= i)
			n *= 2;
		p->res = ps_realloc(p->res, n * sizeof(*p->res));
		memset(p->res + p->nres, 0, (n - p->nres) * sizeof(*p->res));
		p->nres = n;
	}
	r = &p->res[i];
	/* The final tree drops such keys: nothing to build. */
	if (pair->k->kind != PS_YSCALAR || pair->k->bad)
		return;
	r->d0 = p->rec.list.count;
	ps_cfg_build_account(&p->c, def, pair->k, pair->v, &r->acct);
	r->d1 = p->rec.list.count;
	r->built = true;
	if (p->rec.full)
		p->abandoned = true;
}

static void *pipe_worker(void *arg)
{
	ps_cfgpipe *p = arg;
	ps_cfgdiag junk;
	defaults def;
	pipe_pair pair;
	size_t i = 0;
	ctx dc;

	/* The defaults' own problems are reported by the final build. */
	memset(&junk, 0, sizeof(junk));
	junk.record = true;
	junk.raw = true;
	junk.max_errors = PIPE_MAX_DIAGS;
	dc = p->c;
	dc.d = &junk;
	ps_cfg_defaults_load(&dc, p->defaults, &def);
	ps_diags_clear(&junk.list);

	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (i == p->nqueue && !p->closed && !p->cancel) {
			p->wake_at = i + PIPE_BATCH;
			pthread_cond_wait(&p->cv, &p->mu);
			p->wake_at = 0;
		}
		if (i == p->nqueue || p->cancel || p->abandoned)
			break;
		pair = p->queue[i];
		pthread_mutex_unlock(&p->mu);
		build_pair(p, &def, i, &pair);
		i++;
		pthread_mutex_lock(&p->mu);
		/* The parser may free what pairs before i were built from. */
		if (!p->abandoned)
			p->done = i;
	}
	pthread_mutex_unlock(&p->mu);
	ps_cfg_defaults_release(&def);
	return NULL;
}

/* The hook: queue (k, v), and start the worker once there are enough.
 * Returns how many queued pairs the worker is done with. */
static size_t pipe_pair_cb(void *arg, const ps_ynode *defs, const ps_ynode *k,
			   const ps_ynode *v)
{
	ps_cfgpipe *p = arg;
	size_t done;
	bool wake;

	pthread_mutex_lock(&p->mu);
	if (!p->nqueue)
		p->defaults = defs;
	else if (defs != p->defaults)
		p->same_defaults = false;
	if (p->nqueue == p->aqueue) {
		p->aqueue = p->aqueue ? p->aqueue * 2 : 256;
		p->queue = ps_realloc(p->queue, p->aqueue * sizeof(*p->queue));
	}
	p->queue[p->nqueue].k = k;
	p->queue[p->nqueue].v = v;
	p->nqueue++;
	wake = p->wake_at && p->nqueue >= p->wake_at;
	done = p->done;
	pthread_mutex_unlock(&p->mu);
	if (wake)
		pthread_cond_signal(&p->cv);
	if (!p->started && !p->failed && p->nqueue >= ps_cfg_pipe_min_pairs) {
		/* nqueue is only written on this thread: read unlocked. */
		if (pthread_create(&p->thread, NULL, pipe_worker, p))
			p->failed = true;
		else
			p->started = true;
	}
	return done;
}

ps_cfgpipe *ps_cfg_pipe_new(ps_yaccounts_hook *hook, const ctx *c)
{
	ps_cfgpipe *p = ps_calloc(1, sizeof(*p));

	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->same_defaults = true;
	p->c = *c;
	p->c.cache = &p->cache;
	p->c.d = &p->rec;
	p->rec.source = c->d->source;
	p->rec.record = true;
	p->rec.raw = true;
	p->rec.max_errors = PIPE_MAX_DIAGS;
	hook->pair = pipe_pair_cb;
	hook->arg = p;
	return p;
}

void ps_cfg_pipe_finish(ps_cfgpipe *p, bool cancel)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->closed = true;
	p->cancel = cancel;
	pthread_mutex_unlock(&p->mu);
	pthread_cond_signal(&p->cv);
	if (p->started)
		pthread_join(p->thread, NULL);
	p->started = false;
}

bool ps_cfg_pipe_usable(const ps_cfgpipe *p, const ps_ynode *defs)
{
	return p && p->nres && !p->abandoned && p->same_defaults &&
	       p->defaults == defs;
}

bool ps_cfg_pipe_take(ps_cfgpipe *p, const ps_ynode *k, const ps_ynode *v,
		      ps_account *a, ps_cfgdiag *d)
{
	size_t i, n = p->nqueue < p->nres ? p->nqueue : p->nres;

	/* The final pairs are the queued ones in order, less dropped
	 * duplicates, then merged ones, which match nothing. */
	for (i = p->taken; i < n; i++) {
		pipe_result *r = &p->res[i];
		if (p->queue[i].k != k || p->queue[i].v != v)
			continue;
		if (!r->built)
			return false;
		*a = r->acct;
		memset(&r->acct, 0, sizeof(r->acct));
		r->built = false;
		ps_cfgdiag_replay_range(d, &p->rec, r->d0, r->d1);
		p->taken = i + 1;
		return true;
	}
	return false;
}

void ps_cfg_pipe_free(ps_cfgpipe *p)
{
	size_t i;

	if (!p)
		return;
	ps_cfg_pipe_finish(p, true);
	for (i = 0; i < p->nres; i++)
		if (p->res[i].built)
			ps_cfg_account_release(&p->res[i].acct);
	free(p->res);
	free(p->queue);
	ps_cfg_cache_release(&p->cache);
	ps_diags_clear(&p->rec.list);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p);
}
