/*
 * The document's arena: nodes, kids arrays and scalar texts carved out of
 * large blocks, freed (texts wiped) all at once or, while the tree is
 * still read, a range of blocks at a time (ps_ydoc_piecewise).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config_yaml_int.h"
#include "util.h"
#include "banned.h"

/* ---- the document's arena ------------------------------------------------ */

/*
 * Nodes, kids arrays and texts are carved out of large blocks instead of
 * one malloc each: a 10,000-account file has some 600,000 nodes, and the
 * allocator's per-chunk overhead and time were most of the tree's cost.
 * The whole arena goes at once in ps_ydoc_release.
 */
#define BLOCK_MIN ((size_t)4096)
#define BLOCK_MAX ((size_t)1024 * 1024)

/* ps_yarena_alloc when the newest block has no room. */
void *ps_yarena_grow(ps_yblock **head, ps_yblock **freel, size_t n)
{
	ps_yblock *b = *head, *nb;
	size_t size;

	size = b ? b->size * 2 : BLOCK_MIN;
	if (size > BLOCK_MAX)
		size = BLOCK_MAX;
	if (n > size / 4) {
		/* A big request gets a block of its own, behind the current
		 * one, which goes on serving small requests. */
		if (n > SIZE_MAX - sizeof(*nb))
			ps_oom();
		nb = ps_malloc(sizeof(*nb) + n);
		nb->size = n;
		nb->used = n;
		nb->big = true;
		nb->newer = b;
		if (b) {
			nb->next = b->next;
			if (b->next)
				b->next->newer = nb;
			b->next = nb;
		} else {
			nb->next = NULL;
			*head = nb;
		}
		return nb->data;
	}
	if (*freel && n <= (*freel)->size / 4) {
		/* A released block: its pages are there already, where a
		 * new one costs a page fault for each (or, past malloc's mmap
		 * threshold, one that freeing it gave back to the kernel). */
		nb = *freel;
		*freel = nb->next;
	} else {
		nb = ps_malloc(sizeof(*nb) + size);
		nb->size = size;
	}
	nb->big = false;
	nb->used = n;
	nb->next = b;
	nb->newer = NULL;
	if (b)
		b->newer = nb;
	*head = nb;
	return nb->data;
}

bool ps_yarena_release(ps_yblock **freel, ps_yblock *from, ps_yblock *to,
		       bool wipe)
{
	ps_yblock *b = from->newer, *newer;
	bool any = false;

	/* `to` is older than `from` when a big request's block came between
	 * them (it sits behind the block current then): release nothing. */
	for (newer = b; newer && newer != to; newer = newer->newer)
		;
	if (!newer)
		return false;
	while (b != to) {
		newer = b->newer;
		if (!b->big) {
			/* Unlink: `to` is newer, so b->newer is not NULL. */
			b->newer->next = b->next;
			if (b->next)
				b->next->newer = b->newer;
			if (wipe)
				explicit_bzero(b->data, b->used);
			b->next = *freel;
			*freel = b;
			any = true;
		}
		b = newer;
	}
	return any;
}

/* Free a chain of blocks, wiping their contents first when `wipe`. */
static void arena_free(ps_yblock *b, bool wipe)
{
	while (b) {
		ps_yblock *next = b->next;
		if (wipe)
			explicit_bzero(b->data, b->used);
		free(b);
		b = next;
	}
}

/* Free the blocks of an order array that are left, and the array. */
static void order_free(ps_yblock **order, size_t n, bool wipe)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (order[i]) {
			order[i]->next = NULL;
			arena_free(order[i], wipe);
		}
	}
	free(order);
}

void ps_ydoc_release(ps_ydoc *doc)
{
	if (!doc)
		return;
	/* Scalar texts may be secrets (a literal api_key, or an api_secret
	 * written in the file by mistake), so they are wiped; nodes are not. */
	if (doc->torder || doc->norder) {
		order_free(doc->torder, doc->ntorder, true);
		order_free(doc->norder, doc->nnorder, false);
	} else {
		arena_free(doc->texts, true);
		arena_free(doc->nodes, false);
	}
	arena_free(doc->keys, true);
	/* Wiped when they were released. */
	arena_free(doc->tfree, false);
	arena_free(doc->nfree, false);
	memset(doc, 0, sizeof(*doc));
}

/* The blocks of a list, oldest first. A big request's block sits behind
 * the block that was current then, so it comes just before it; it is
 * never released early (see ps_ydoc_release_between). */
static ps_yblock **list_order(ps_yblock *head, size_t *n)
{
	ps_yblock *b, **order;
	size_t i = 0;

	*n = 0;
	for (b = head; b; b = b->next)
		(*n)++;
	order = ps_calloc(*n + 1, sizeof(*order));
	for (b = head; b; b = b->next)
		order[*n - 1 - i++] = b;
	return order;
}

/* The index in order[0…n) of the block holding address a (from `hint`
 * on, then from the start), or SIZE_MAX. */
static size_t block_of(ps_yblock *const *order, size_t n, const void *a,
		       size_t hint)
{
	const unsigned char *x = a;
	size_t k, i;

	for (k = 0; k < n; k++) {
		i = (hint + k) % n;
		if (x >= order[i]->data && x < order[i]->data + order[i]->used)
			return i;
	}
	return SIZE_MAX;
}

bool ps_ydoc_piecewise(ps_ydoc *doc, const ps_ynode *map, ps_ypos *pos)
{
	size_t i, nh = 0, th = 0;
	const ps_ynode *prev = NULL;

	if (doc->shared || doc->partial || doc->norder || doc->torder ||
	    map->kind != PS_YMAPPING)
		return false;
	doc->norder = list_order(doc->nodes, &doc->nnorder);
	doc->torder = list_order(doc->texts, &doc->ntorder);
	doc->nodes = doc->texts = NULL;
	for (i = 0; i + 1 < map->nkids; i += 2) {
		const ps_ynode *k = map->kids[i];
		ps_ypos *at = &pos[i / 2];

		if (k->kind != PS_YSCALAR)
			return false;
		nh = block_of(doc->norder, doc->nnorder, k, nh);
		th = block_of(doc->torder, doc->ntorder, k->text, th);
		if (nh == SIZE_MAX || th == SIZE_MAX || doc->norder[nh]->big ||
		    doc->torder[th]->big)
			return false;
		at->node_block = nh;
		at->text_block = th;
		/* Keys in allocation order: later block, or later in the
		 * same one (texts follow their nodes). */
		if (prev &&
		    (at->node_block < at[-1].node_block ||
		     (at->node_block == at[-1].node_block && k <= prev) ||
		     at->text_block < at[-1].text_block))
			return false;
		prev = k;
	}
	return true;
}

/* Free order[from + 1 … to - 1], except big requests' blocks. */
static void release_range(ps_yblock **order, size_t from, size_t to, bool wipe)
{
	size_t i;

	for (i = from + 1; i < to; i++) {
		if (!order[i] || order[i]->big)
			continue;
		order[i]->next = NULL;
		arena_free(order[i], wipe);
		order[i] = NULL;
	}
}

void ps_ydoc_release_between(ps_ydoc *doc, const ps_ypos *from,
			     const ps_ypos *to)
{
	release_range(doc->norder, from->node_block, to->node_block, false);
	release_range(doc->torder, from->text_block, to->text_block, true);
}
