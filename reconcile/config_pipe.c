/*
 * Accounts built while the file is still parsed (see config_int.h): the
 * parser thread queues each pair of the "accounts" mapping as soon as its
 * value is complete, and a worker builds it at once, so that on two cores
 * the build is done when the parse is. The worker reads only complete
 * subtrees, which nothing writes again and the arena never moves. What
 * the worker has not reached when the parse ends, the parser thread
 * builds from the end of the queue while the worker goes on from the
 * front, until they meet.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

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
size_t ps_cfg_pipe_worker_max = (size_t)-1;
size_t ps_cfg_pipe_tail_taken;
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

/* One thread's building: its context (cache, recorder) and results. */
typedef struct pipe_builder {
	ctx c;
	build_cache cache;
	ps_cfgdiag rec;
	pipe_result *res;
	size_t nres;
} pipe_builder;

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
	size_t claimed; /* queue entries the worker has taken */
	size_t limit;	/* the worker takes no entry at or past this */
	bool abandoned; /* a recorder filled up: no result is complete */
	bool started;	/* the worker runs (parser thread only) */
	bool failed;	/* no worker could be started (parser thread only) */
	bool same_defaults; /* every pair came with `defaults` */
	const ps_ynode *defaults;
	/* The worker's, until joined. */
	pipe_builder w;
	/* The parser thread's, from the end of the queue (NULL: none). */
	pipe_builder *tail;
	pthread_t thread;
	size_t taken; /* results before this were taken or passed over */
};

static void builder_init(pipe_builder *b, const ctx *c, const char *source)
{
	memset(b, 0, sizeof(*b));
	b->c = *c;
	b->c.cache = &b->cache;
	b->c.d = &b->rec;
	b->rec.source = source;
	b->rec.record = true;
	b->rec.raw = true;
	b->rec.max_errors = PIPE_MAX_DIAGS;
}

static void builder_release(pipe_builder *b)
{
	size_t i;

	for (i = 0; i < b->nres; i++)
		if (b->res[i].built)
			ps_cfg_account_release(&b->res[i].acct);
	free(b->res);
	ps_cfg_cache_release(&b->cache);
	ps_diags_clear(&b->rec.list);
}

/* The result of queue entry i: b's, or NULL when b did not build it. */
static pipe_result *builder_result(pipe_builder *b, size_t i)
{
	return b && i < b->nres && b->res[i].built ? &b->res[i] : NULL;
}

/* Build queue entry i into b's results. Returns whether b's recorder is
 * full (then no result of b is complete). */
static bool build_pair(pipe_builder *b, const defaults *def, size_t i,
		       const pipe_pair *pair)
{
	pipe_result *r;

	if (i >= b->nres) {
		size_t n = b->nres ? b->nres * 2 : 256;
		while (n <= i)
			n *= 2;
		b->res = ps_realloc(b->res, n * sizeof(*b->res));
		memset(b->res + b->nres, 0, (n - b->nres) * sizeof(*b->res));
		b->nres = n;
	}
	r = &b->res[i];
	/* The final tree drops such keys: nothing to build. */
	if (pair->k->kind != PS_YSCALAR || pair->k->bad)
		return false;
	r->d0 = b->rec.list.count;
	ps_cfg_build_account(&b->c, def, pair->k, pair->v, &r->acct);
	r->d1 = b->rec.list.count;
	r->built = true;
	return b->rec.full;
}

/* The defaults pairs are built with, loaded for one thread (their own
 * problems are reported by the final build). */
static void load_defaults(const ps_cfgpipe *p, const ctx *c, defaults *def)
{
	ps_cfgdiag junk;
	ctx dc = *c;

	memset(&junk, 0, sizeof(junk));
	junk.record = true;
	junk.raw = true;
	junk.max_errors = PIPE_MAX_DIAGS;
	dc.d = &junk;
	ps_cfg_defaults_load(&dc, p->defaults, def);
	ps_diags_clear(&junk.list);
}

/*
 * The worker yields to the parser: on two cores the parser, the state's
 * warm-up and the worker would each get two thirds of one, and the parser
 * sets the pace (what the worker has not built when the parse ends, the
 * parser builds with it). A nice value is a thread's own on Linux. 50
 * runs of a 1,000-account plan, interleaved (medians): 30.5 ms as equals,
 * 28.2 ms at +10 (29.8 at +5, 28.6 at +19). Advice only: a failure
 * changes nothing.
 */
#define WORKER_NICE 10

static void *pipe_worker(void *arg)
{
	ps_cfgpipe *p = arg;
	defaults def;
	pipe_pair pair;
	size_t i = 0;
	bool full;

	(void)setpriority(PRIO_PROCESS, (id_t)gettid(), WORKER_NICE);
	load_defaults(p, &p->w.c, &def);
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (i == p->nqueue && !p->closed && !p->cancel) {
			p->wake_at = i + PIPE_BATCH;
			pthread_cond_wait(&p->cv, &p->mu);
			p->wake_at = 0;
		}
		if (i == p->nqueue || i >= p->limit || p->cancel ||
		    p->abandoned || i >= ps_cfg_pipe_worker_max)
			break;
		pair = p->queue[i];
		p->claimed = i + 1;
		pthread_mutex_unlock(&p->mu);
		full = build_pair(&p->w, &def, i, &pair);
		i++;
		pthread_mutex_lock(&p->mu);
		if (full)
			p->abandoned = true;
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
	p->limit = (size_t)-1;
	builder_init(&p->w, c, c->d->source);
	hook->pair = pipe_pair_cb;
	hook->arg = p;
	return p;
}

/* The parse is over (on the parser thread): build the queue from its
 * end while the worker goes on from the front, until they meet. */
static void build_tail(ps_cfgpipe *p)
{
	pipe_builder *b = ps_malloc(sizeof(*b));
	defaults def;
	size_t j;
	bool full;

	builder_init(b, &p->w.c, p->w.rec.source);
	p->tail = b;
	load_defaults(p, &b->c, &def);
	for (;;) {
		pthread_mutex_lock(&p->mu);
		if (p->limit <= p->claimed || p->abandoned) {
			pthread_mutex_unlock(&p->mu);
			break;
		}
		j = --p->limit;
		pthread_mutex_unlock(&p->mu);
		full = build_pair(b, &def, j, &p->queue[j]);
		if (full) {
			pthread_mutex_lock(&p->mu);
			p->abandoned = true;
			pthread_mutex_unlock(&p->mu);
			break;
		}
	}
	ps_cfg_defaults_release(&def);
}

void ps_cfg_pipe_finish(ps_cfgpipe *p, bool cancel)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->closed = true;
	p->cancel = cancel;
	p->limit = p->nqueue;
	pthread_mutex_unlock(&p->mu);
	pthread_cond_signal(&p->cv);
	if (p->started && !cancel && !p->tail)
		build_tail(p);
	if (p->started)
		pthread_join(p->thread, NULL);
	p->started = false;
}

bool ps_cfg_pipe_usable(const ps_cfgpipe *p, const ps_ynode *defs)
{
	return p && (p->w.nres || p->tail) && !p->abandoned &&
	       p->same_defaults && p->defaults == defs;
}

bool ps_cfg_pipe_take(ps_cfgpipe *p, const ps_ynode *k, const ps_ynode *v,
		      ps_account *a, ps_cfgdiag *d)
{
	size_t i;

	/* The final pairs are the queued ones in order, less dropped
	 * duplicates, then merged ones, which match nothing. */
	for (i = p->taken; i < p->nqueue; i++) {
		pipe_builder *b = &p->w;
		pipe_result *r = builder_result(b, i);

		if (p->queue[i].k != k || p->queue[i].v != v)
			continue;
		if (!r && (r = builder_result(p->tail, i))) {
			b = p->tail;
			ps_cfg_pipe_tail_taken++;
		}
		if (!r)
			return false;
		*a = r->acct;
		memset(&r->acct, 0, sizeof(r->acct));
		r->built = false;
		ps_cfgdiag_replay_range(d, &b->rec, r->d0, r->d1);
		p->taken = i + 1;
		return true;
	}
	return false;
}

void ps_cfg_pipe_free(ps_cfgpipe *p)
{
	if (!p)
		return;
	ps_cfg_pipe_finish(p, true);
	builder_release(&p->w);
	if (p->tail) {
		builder_release(p->tail);
		free(p->tail);
	}
	free(p->queue);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p);
}
