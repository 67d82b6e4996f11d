/*
 * YAML → node tree for the config module, from libyaml's event API.
 *
 * Why events and not yaml_parser_load: libyaml has no depth or alias limit
 * of its own (200,000 nested brackets keep it busy for over a minute, and a
 * "billion laughs" document expands without bound), so we build the tree
 * ourselves and stop at the first event that crosses a limit.
 */
#include "config_yaml.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config_yaml_int.h"
#include "util.h"
#include "banned.h"

/* ---- the tree ----------------------------------------------------------- */

static size_t sat_add(size_t a, size_t b)
{
	return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

static void fatal(parser *p, int code, int line, int col, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void fatal(parser *p, int code, int line, int col, const char *fmt, ...)
{
	char msg[PS_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ps_cfgdiag_add(p->d, code, line, col, "%s", msg);
	p->stop = code;
}

/* Is the next node a key of the mapping the hook watches? */
static inline bool next_is_account_key(const parser *p)
{
	return p->apart && p->accounts && p->depth == 2 &&
	       p->stack[1].node == p->accounts &&
	       (p->nkids - p->stack[1].kbase) % 2 == 0;
}

static ps_ynode *new_node(parser *p, ps_ynode_kind kind,
			  const yaml_mark_t *mark)
{
	ps_ynode *n;
	bool key = next_is_account_key(p);

	if (p->doc->nall >= p->lim->max_nodes) {
		fatal(p, PS_ELIMIT, ps_ymark_int(mark->line),
		      ps_ymark_int(mark->column),
		      "the file has more than %zu nodes (limit)",
		      p->lim->max_nodes);
		return NULL;
	}
	/* An account's key goes to an arena of its own (see
	 * release_done). */
	n = ps_yarena_alloc(key ? &p->doc->keys : &p->doc->nodes,
			    &p->doc->nfree, sizeof(*n), _Alignof(ps_ynode));
	memset(n, 0, sizeof(*n));
	n->kind = kind;
	n->line = ps_ymark_int(mark->line);
	n->column = ps_ymark_int(mark->column);
	if (kind != PS_YSCALAR)
		n->size = 1;
	p->doc->nall++;
	return n;
}

/* Nodes in n's expanded subtree, and its collection levels. */
static size_t node_size(const ps_ynode *n)
{
	return n->kind == PS_YSCALAR ? 1 : n->size;
}

static unsigned node_height(const ps_ynode *n)
{
	return n->kind == PS_YSCALAR ? 0 : n->height;
}

/* Is the next node added to the open collection a mapping key? */
static inline bool next_is_key(const parser *p)
{
	const open_coll *top = p->depth ? &p->stack[p->depth - 1] : NULL;

	return top && top->node->kind == PS_YMAPPING &&
	       (p->nkids - top->kbase) % 2 == 0;
}

static inline void attach(parser *p, ps_ynode *n, const yaml_mark_t *mark)
{
	if (p->depth) {
		if (p->nkids == p->akids) {
			p->akids = p->akids ? p->akids * 2 : 256;
			p->kids = ps_realloc(p->kids,
					     p->akids * sizeof(*p->kids));
		}
		p->kids[p->nkids++] = n;
	} else if (!p->doc->root) {
		p->doc->root = n;
	} else {
		/* libyaml gives one root per document and we stop at the
		 * second document, so this cannot happen; be safe anyway. */
		fatal(p, PS_EINVALID, ps_ymark_int(mark->line),
		      ps_ymark_int(mark->column),
		      "unexpected second root node");
	}
}

/* Record anchor `name` (may be NULL: none) for n. Returns its record
 * index + 1, or 0. */
static size_t anchor(parser *p, const yaml_char_t *name, ps_ynode *n)
{
	anchor_rec *r;
	bool found;
	void **slot;

	if (!name)
		return 0;
	if (p->nanchors == p->aanchors) {
		p->aanchors = p->aanchors ? p->aanchors * 2 : 16;
		p->recs = ps_realloc(p->recs, p->aanchors * sizeof(*p->recs));
	}
	r = &p->recs[p->nanchors++];
	r->name = ps_strdup((const char *)name);
	r->node = n;
	r->bytes = n->kind == PS_YSCALAR ? n->len : 0;
	n->anchored = true;
	p->doc->shared = true;
	/* A later anchor of the same name replaces the earlier one. */
	slot = ps_ystrmap_slot(&p->anchors, r->name, &found);
	*slot = (void *)(uintptr_t)p->nanchors;
	return p->nanchors;
}

/*
 * Count `bytes` more scalar text in the expanded document (and in the
 * collection open around it). False, after reporting, past the limit:
 * aliases can make a small file expand to gigabytes of text, and the
 * node budget alone does not see that a node may be 100 KB.
 */
static inline bool count_bytes(parser *p, size_t bytes, int line, int col)
{
	p->doc->expanded_bytes = sat_add(p->doc->expanded_bytes, bytes);
	if (p->depth)
		p->stack[p->depth - 1].bytes =
			sat_add(p->stack[p->depth - 1].bytes, bytes);
	if (p->doc->expanded_bytes > p->lim->max_expanded_bytes) {
		fatal(p, PS_ELIMIT, line, col,
		      "aliases expand the document to "
		      "more than %zu bytes of text (limit)",
		      p->lim->max_expanded_bytes);
		return false;
	}
	return true;
}

/* What a scalar with "${" keeps in front of its text: its source. */
typedef struct raw_span {
	char *src;
	size_t len;
} raw_span;

static bool seek(parser *p, size_t line, size_t col)
{
	if (p->ascii_lf)
		return ps_ycursor_seek_lf(&p->cur, p->data, p->len, line, col);
	return ps_ycursor_seek(&p->cur, p->data, p->len, line, col);
}

static bool is_merge_key(const ps_ynode *k);

/*
 * Remember where the arena stood when the pair just reported was
 * complete, and release what the consumer is done with: while no node can
 * have two parents (no anchor, no merge key so far), everything allocated
 * after the keys went apart and before pair i was complete is the values
 * of the pairs since (their keys are in an arena of their own, as the
 * mapping's end reads them all). A merge key's value is read then too,
 * and so is a key that is not a scalar: after one, nothing goes.
 */
static void release_done(parser *p, const ps_ynode *k, size_t done)
{
	ps_ydoc *doc = p->doc;
	size_t idx = p->reported++;
	const pair_pos *at;
	pair_pos *pos;

	if (p->no_release)
		return;
	if (k->kind != PS_YSCALAR || is_merge_key(k) || doc->shared) {
		p->no_release = true;
		return;
	}
	if (!p->apart) {
		/* Nothing goes before the consumer has built a pair (it may
		 * never start): until then keys stay with the values, as
		 * ps_ydoc_piecewise needs. From the next pair on, keys go
		 * apart and values may be released. */
		if (!done || !doc->nodes || !doc->texts)
			return;
		p->apart = true;
		p->first = idx + 1;
		p->start.node = doc->nodes;
		p->start.text = doc->texts;
		return;
	}
	if (p->npairs == p->apairs) {
		p->apairs = p->apairs ? p->apairs * 2 : 256;
		p->pairs = ps_realloc(p->pairs, p->apairs * sizeof(*p->pairs));
	}
	pos = &p->pairs[p->npairs++]; /* of pair first + npairs - 1 */
	pos->node = doc->nodes;
	pos->text = doc->texts;
	/* What was allocated after `start` and before pair done - 1 was
	 * complete: the values of pairs first…done - 1. */
	if (done > idx + 1)
		done = idx + 1;
	if (done <= p->first || done <= p->released)
		return;
	p->released = done;
	at = &p->pairs[done - 1 - p->first];
	if (ps_yarena_release(&doc->nfree, p->start.node, at->node, false))
		doc->partial = true;
	if (ps_yarena_release(&doc->tfree, p->start.text, at->text, true))
		doc->partial = true;
}

/*
 * A pair of the watched "accounts" mapping may just have been completed
 * (see ps_yaccounts_hook): called after a node is attached or a
 * collection ends.
 */
static void pair_done(parser *p)
{
	const open_coll *top;
	size_t n, done;
	ps_ynode *k, *v;

	if (!p->accounts || p->stop || p->depth != 2)
		return;
	top = &p->stack[1];
	if (top->node != p->accounts)
		return;
	n = p->nkids - top->kbase;
	if (!n || n % 2)
		return;
	k = p->kids[p->nkids - 2];
	v = p->kids[p->nkids - 1];
	/* The mapping's end cannot count what was released. */
	p->pairs_size =
		sat_add(p->pairs_size, sat_add(node_size(k), node_size(v)));
	if (node_height(k) > p->pairs_height)
		p->pairs_height = node_height(k);
	if (node_height(v) > p->pairs_height)
		p->pairs_height = node_height(v);
	done = p->hook->pair(p->hook->arg, p->defaults, k, v);
	release_done(p, k, done);
}

/* Does s[0…len) have "${"? memchr for the '$' is several times faster
 * than memmem on the short texts of a config. */
static bool has_ref(const unsigned char *s, size_t len)
{
	const unsigned char *d, *end = s + len;

	while ((d = memchr(s, '$', (size_t)(end - s))) && end - d > 1) {
		if (d[1] == '{')
			return true;
		s = d + 1;
	}
	return false;
}

static void on_scalar(parser *p, const yaml_event_t *ev)
{
	const yaml_mark_t *sm = &ev->start_mark, *em = &ev->end_mark;
	bool is_key = next_is_key(p);
	ps_ynode *n = new_node(p, PS_YSCALAR, sm);
	size_t start, pre = 0;
	raw_span span;
	bool key;

	if (!n)
		return;
	n->len = ev->data.scalar.length;
	/* A text with "${" carries its span in front of it (see
	 * ps_ynode_span). */
	if (has_ref(ev->data.scalar.value, n->len))
		pre = sizeof(span);
	key = next_is_account_key(p);
	n->text = (char *)ps_yarena_alloc(key ? &p->doc->keys : &p->doc->texts,
					  &p->doc->tfree, pre + n->len + 1, 1) +
		  pre;
	memcpy(n->text, ev->data.scalar.value, n->len);
	n->text[n->len] = '\0';
	n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	/* Remember where a one-line scalar with "${" sits in the input, so
	 * that the "${" can be reported at its own column. Scalars come in
	 * file order, so the cursor only moves forward, and it gets to the
	 * same place whether or not it stopped at the scalars between. */
	if (pre && sm->line == em->line && seek(p, sm->line, sm->column)) {
		start = p->cur.off;
		if (seek(p, em->line, em->column)) {
			/* A copy of the source bytes, so that the input
			 * need not outlive the parse. */
			span.len = p->cur.off - start;
			span.src = ps_yarena_alloc(key ? &p->doc->keys
						       : &p->doc->texts,
						   &p->doc->tfree, span.len, 1);
			memcpy(span.src, p->data + start, span.len);
			memcpy(n->text - pre, &span, sizeof(span));
			n->span = true;
		}
	}
	anchor(p, ev->data.scalar.anchor, n);
	if (!count_bytes(p, n->len, n->line, n->column))
		return;
	attach(p, n, sm);
	if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length))
		ps_yscalar_error(p, n, "a NUL character is not allowed here");
	else
		ps_yscalar_resolve(p, n, (const char *)ev->data.scalar.tag,
				   is_key);
	pair_done(p);
}

/* ---- collections ----------------------------------------------------------
 */

/* Is n the mapping the hook watches (the root's first "accounts" value
 * written as a mapping)? Then remember it, and the root's "defaults" so
 * far. Called before n is attached. */
static void watch_accounts(parser *p, ps_ynode *n)
{
	const ps_ynode *k;
	size_t i;

	if (!p->hook || p->accounts || p->depth != 1 || next_is_key(p) ||
	    p->stack[0].node->kind != PS_YMAPPING)
		return;
	k = p->kids[p->nkids - 1];
	if (k->kind != PS_YSCALAR || k->bad || strcmp(k->text, "accounts"))
		return;
	p->accounts = n;
	for (i = p->stack[0].kbase; i + 2 < p->nkids; i += 2) {
		k = p->kids[i];
		if (k->kind == PS_YSCALAR && !k->bad &&
		    !strcmp(k->text, "defaults")) {
			p->defaults = p->kids[i + 1];
			break;
		}
	}
}

static void start_collection(parser *p, const yaml_event_t *ev,
			     ps_ynode_kind kind)
{
	const yaml_char_t *anc, *tag;
	size_t rec;
	ps_ynode *n;

	if (p->depth + 1 > p->lim->max_depth) {
		fatal(p, PS_ELIMIT, ps_ymark_int(ev->start_mark.line),
		      ps_ymark_int(ev->start_mark.column),
		      "nesting is deeper than %u levels (limit)",
		      p->lim->max_depth);
		return;
	}
	n = new_node(p, kind, &ev->start_mark);
	if (!n)
		return;
	if (kind == PS_YMAPPING) {
		anc = ev->data.mapping_start.anchor;
		tag = ev->data.mapping_start.tag;
	} else {
		anc = ev->data.sequence_start.anchor;
		tag = ev->data.sequence_start.tag;
	}
	n->height = 1;
	n->open = true;
	if (tag) {
		const char *t = (const char *)tag;
		char name[80];
		n->tagged = true;
		if (!strcmp(t, "!secret")) {
			n->secret = true;
		} else if (!(kind == PS_YMAPPING &&
			     !strcmp(t, TAG_PREFIX "map")) &&
			   !(kind == PS_YSEQUENCE &&
			     !strcmp(t, TAG_PREFIX "seq"))) {
			ps_ytag_name(name, sizeof(name), t);
			ps_cfgdiag_add(p->d, PS_EINVALID, n->line, n->column,
				       "unsupported tag \"%s\" on a %s "
				       "(expected !secret)",
				       name,
				       kind == PS_YMAPPING ? "mapping"
							   : "sequence");
			n->bad = true;
		}
	}
	rec = anchor(p, anc, n);
	if (kind == PS_YMAPPING)
		watch_accounts(p, n);
	attach(p, n, &ev->start_mark);
	if (p->depth == p->astack) {
		p->astack = p->astack ? p->astack * 2 : 16;
		p->stack = ps_realloc(p->stack, p->astack * sizeof(*p->stack));
	}
	p->stack[p->depth].node = n;
	p->stack[p->depth].kbase = p->nkids;
	p->stack[p->depth].bytes = 0;
	p->stack[p->depth].anchor = rec;
	p->depth++;
}

static bool is_merge_key(const ps_ynode *k)
{
	return k->kind == PS_YSCALAR && k->plain && !k->tagged &&
	       !strcmp(k->text, "<<");
}

/*
 * The keys a mapping has so far, out[0], out[2], … (explicit keys, then
 * merged ones). Looked up by a linear scan while there are few, as in
 * nearly every mapping of a config; a mapping with many keys (`accounts`)
 * switches to a hash map so that checking duplicates stays linear.
 */
#define KEYS_LINEAR 16

typedef struct keyset {
	strmap map;
	bool hashed;
} keyset;

/* Texts of non-bad scalars hold no NUL, so this is strcmp() == 0. */
static bool same_text(const ps_ynode *a, const ps_ynode *b)
{
	return a->len == b->len && !memcmp(a->text, b->text, a->len);
}

/*
 * Add the pair (k, v) to out unless out has the key already; then return
 * that earlier key node and leave out as it is.
 */
static const ps_ynode *add_pair(parser *p, keyset *ks, size_t *nout,
				ps_ynode *k, ps_ynode *v)
{
	size_t i;

	if (!ks->hashed && *nout / 2 >= KEYS_LINEAR) {
		for (i = 0; i < *nout; i += 2) {
			bool found;
			void **slot = ps_ystrmap_slot(&ks->map, p->out[i]->text,
						      &found);
			*slot = p->out[i];
		}
		ks->hashed = true;
	}
	if (ks->hashed) {
		bool found;
		void **slot = ps_ystrmap_slot(&ks->map, k->text, &found);
		if (found)
			return *slot;
		*slot = k;
	} else {
		for (i = 0; i < *nout; i += 2)
			if (same_text(p->out[i], k))
				return p->out[i];
	}
	if (*nout + 2 > p->aout) {
		p->aout = p->aout ? p->aout * 2 : 64;
		while (p->aout < *nout + 2)
			p->aout *= 2;
		p->out = ps_realloc(p->out, p->aout * sizeof(*p->out));
	}
	p->out[(*nout)++] = k;
	p->out[(*nout)++] = v;
	return NULL;
}

/* Append src's pairs whose keys are not in out yet (explicit keys win, and
 * among merged mappings the first listed wins). */
static void merge_from(parser *p, keyset *ks, size_t *nout, const ps_ynode *src)
{
	size_t i;

	for (i = 0; i + 1 < src->nkids; i += 2)
		add_pair(p, ks, nout, src->kids[i], src->kids[i + 1]);
}

/* Check the keys of a mapping and apply its merge key; the result, in the
 * arena, becomes m's kids. */
static void finish_mapping(parser *p, ps_ynode *m, ps_ynode *const *kids,
			   size_t nkids)
{
	size_t nout = 0, i;
	keyset ks;
	const ps_ynode *first_merge = NULL;
	ps_ynode *merge = NULL;

	memset(&ks, 0, sizeof(ks));
	for (i = 0; i + 1 < nkids; i += 2) {
		ps_ynode *k = kids[i], *v = kids[i + 1];
		const ps_ynode *first;

		if (k->kind != PS_YSCALAR) {
			if (!k->bad)
				ps_cfgdiag_add(p->d, PS_EINVALID, k->line,
					       k->column,
					       "expected a scalar as "
					       "a mapping key, found %s",
					       ps_ynode_what(k));
			continue;
		}
		if (k->bad)
			continue;
		if (is_merge_key(k)) {
			if (first_merge) {
				ps_cfgdiag_add(p->d, PS_EINVALID, k->line,
					       k->column,
					       "duplicate key \"<<\" "
					       "(first defined at line %d; "
					       "merge several mappings with "
					       "<<: [*a, *b])",
					       first_merge->line);
				continue;
			}
			first_merge = k;
			p->doc->shared = true;
			merge = v;
			continue;
		}
		first = add_pair(p, &ks, &nout, k, v);
		if (first)
			ps_cfgdiag_add(
				p->d, PS_EINVALID, k->line, k->column,
				"duplicate key \"%.100s\" (first defined "
				"at line %d)",
				k->text, first->line);
	}
	if (merge && !merge->bad) {
		if (merge->kind == PS_YMAPPING) {
			merge_from(p, &ks, &nout, merge);
		} else if (merge->kind != PS_YSEQUENCE) {
			ps_cfgdiag_add(p->d, PS_EINVALID, merge->line,
				       merge->column,
				       "expected a mapping or a "
				       "sequence of mappings for the merge key "
				       "\"<<\", found %s",
				       ps_ynode_what(merge));
		} else {
			for (i = 0; i < merge->nkids; i++) {
				ps_ynode *item = merge->kids[i];
				if (item->bad)
					continue;
				if (item->kind != PS_YMAPPING) {
					ps_cfgdiag_add(
						p->d, PS_EINVALID, item->line,
						item->column,
						"expected a mapping to "
						"merge with \"<<\", found "
						"%s",
						ps_ynode_what(item));
					continue;
				}
				merge_from(p, &ks, &nout, item);
			}
		}
	}
	ps_ystrmap_release(&ks.map);
	m->nkids = nout;
	m->kids = NULL;
	if (nout) {
		m->kids = ps_yarena_alloc(&p->doc->nodes, &p->doc->nfree,
					  nout * sizeof(*m->kids),
					  _Alignof(ps_ynode *));
		memcpy(m->kids, p->out, nout * sizeof(*m->kids));
	}
}

static void end_collection(parser *p)
{
	ps_ynode *n, **kids;
	size_t i, nkids;

	if (!p->depth)
		return;
	p->depth--;
	n = p->stack[p->depth].node;
	kids = p->kids + p->stack[p->depth].kbase;
	nkids = p->nkids - p->stack[p->depth].kbase;
	if (n->kind == PS_YMAPPING) {
		finish_mapping(p, n, kids, nkids);
	} else {
		n->nkids = nkids;
		n->kids = NULL;
		if (nkids) {
			n->kids = ps_yarena_alloc(
				&p->doc->nodes, &p->doc->nfree,
				nkids * sizeof(*n->kids), _Alignof(ps_ynode *));
			memcpy(n->kids, kids, nkids * sizeof(*n->kids));
		}
	}
	p->nkids = p->stack[p->depth].kbase;
	n->size = 1;
	n->height = 1;
	if (n == p->accounts && p->doc->partial) {
		/* Its values are gone. Every pair reported, dropped ones
		 * too: no alias can reach this mapping (it would have had an
		 * anchor, and then nothing is released), so an upper bound
		 * does. */
		n->size = sat_add(n->size, p->pairs_size);
		n->height += p->pairs_height;
	} else {
		for (i = 0; i < n->nkids; i++) {
			n->size = sat_add(n->size, node_size(n->kids[i]));
			if (node_height(n->kids[i]) + 1 > n->height)
				n->height = node_height(n->kids[i]) + 1;
		}
	}
	n->open = false;
	/* The text in n's subtree is part of its parent's. */
	if (p->stack[p->depth].anchor)
		p->recs[p->stack[p->depth].anchor - 1].bytes =
			p->stack[p->depth].bytes;
	if (p->depth)
		p->stack[p->depth - 1].bytes = sat_add(
			p->stack[p->depth - 1].bytes, p->stack[p->depth].bytes);
	pair_done(p);
}

static void on_alias(parser *p, const yaml_event_t *ev)
{
	const char *name = (const char *)ev->data.alias.anchor;
	int line = ps_ymark_int(ev->start_mark.line);
	int col = ps_ymark_int(ev->start_mark.column);
	size_t rec = (size_t)(uintptr_t)ps_ystrmap_get(&p->anchors, name);
	ps_ynode *n = rec ? p->recs[rec - 1].node : NULL;

	if (!n) {
		fatal(p, PS_EINVALID, line, col,
		      "undefined alias \"*%.100s\" "
		      "(expected an anchor \"&%.100s\" earlier in the file)",
		      name, name);
		return;
	}
	if (n->open) {
		fatal(p, PS_ELIMIT, line, col,
		      "alias cycle: \"*%.100s\" refers "
		      "to a node that contains it",
		      name);
		return;
	}
	p->doc->alias_nodes = sat_add(p->doc->alias_nodes, node_size(n));
	if (p->doc->alias_nodes > p->lim->max_alias_nodes) {
		fatal(p, PS_ELIMIT, line, col,
		      "aliases expand to more than %zu "
		      "nodes (limit)",
		      p->lim->max_alias_nodes);
		return;
	}
	if (p->depth + node_height(n) > p->lim->max_depth) {
		fatal(p, PS_ELIMIT, line, col,
		      "alias \"*%.100s\" makes nesting "
		      "deeper than %u levels (limit)",
		      name, p->lim->max_depth);
		return;
	}
	if (!count_bytes(p, p->recs[rec - 1].bytes, line, col))
		return;
	attach(p, n, &ev->start_mark);
	pair_done(p);
}

static void on_document(parser *p, const yaml_event_t *ev)
{
	if (++p->ndocs > 1)
		fatal(p, PS_EINVALID, ps_ymark_int(ev->start_mark.line),
		      ps_ymark_int(ev->start_mark.column),
		      "found a second YAML document (expected exactly one; "
		      "remove the extra \"---\")");
}

/* libyaml's error, as FILE:LINE:COL: message. */
static void syntax_error(parser *p, const yaml_parser_t *yp)
{
	int line, col;
	const char *problem = yp->problem ? yp->problem : "invalid YAML";

	if (yp->error == YAML_MEMORY_ERROR)
		ps_oom();
	if (yp->error == YAML_READER_ERROR) {
		ps_yaml_locate(&line, &col, p->data, p->len,
			       yp->problem_offset);
		fatal(p, PS_EINVALID, line, col, "%s", problem);
		return;
	}
	line = ps_ymark_int(yp->problem_mark.line);
	col = ps_ymark_int(yp->problem_mark.column);
	if (yp->context && yp->context_mark.line != yp->problem_mark.line)
		fatal(p, PS_EINVALID, line, col, "%s %s (started at line %d)",
		      problem, yp->context,
		      ps_ymark_int(yp->context_mark.line));
	else if (yp->context)
		fatal(p, PS_EINVALID, line, col, "%s %s", problem, yp->context);
	else
		fatal(p, PS_EINVALID, line, col, "%s", problem);
}

int ps_yaml_parse(ps_ydoc *doc, const char *data, size_t len,
		  const ps_config_limits *limits, ps_cfgdiag *d)
{
	return ps_yaml_parse_hooked(doc, data, len, limits, d, NULL);
}

int ps_yaml_parse_hooked(ps_ydoc *doc, const char *data, size_t len,
			 const ps_config_limits *limits, ps_cfgdiag *d,
			 const ps_yaccounts_hook *hook)
{
	parser p;
	yaml_parser_t yp;
	yaml_event_t ev;
	size_t i;

	if (!data)
		data = "";
	memset(doc, 0, sizeof(*doc));
	memset(&p, 0, sizeof(p));
	p.doc = doc;
	p.d = d;
	p.lim = limits;
	p.data = data;
	p.len = len;
	p.hook = hook && hook->pair ? hook : NULL;

	if (!ps_yutf8_valid_fast(data, len, &p.ascii_lf)) {
		size_t bad = ps_utf8_invalid_at(data, len);
		int line, col;
		ps_yaml_locate(&line, &col, data, len, bad);
		if (bad < len && data[bad] == '\0')
			ps_cfgdiag_add(d, PS_EINVALID, line, col,
				       "a NUL byte "
				       "is not allowed (expected UTF-8 text)");
		else
			ps_cfgdiag_add(d, PS_EINVALID, line, col,
				       "invalid "
				       "UTF-8 byte 0x%02x (the file must be "
				       "UTF-8 text)",
				       bad < len ? (unsigned char)data[bad]
						 : 0);
		return PS_EINVALID;
	}
	ps_ycursor_init(&p.cur, data, len);
	if (p.ascii_lf)
		p.cur.eol = ps_ycursor_next_eol(data, len, p.cur.off);

	if (!yaml_parser_initialize(&yp))
		ps_oom();
	yaml_parser_set_input_string(&yp, (const unsigned char *)data, len);
	while (!p.stop) {
		yaml_event_type_t type;

		if (!yaml_parser_parse(&yp, &ev)) {
			syntax_error(&p, &yp);
			break;
		}
		type = ev.type;
		switch (type) {
		case YAML_DOCUMENT_START_EVENT:
			on_document(&p, &ev);
			break;
		case YAML_ALIAS_EVENT:
			on_alias(&p, &ev);
			break;
		case YAML_SCALAR_EVENT:
			on_scalar(&p, &ev);
			break;
		case YAML_SEQUENCE_START_EVENT:
			start_collection(&p, &ev, PS_YSEQUENCE);
			break;
		case YAML_MAPPING_START_EVENT:
			start_collection(&p, &ev, PS_YMAPPING);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			end_collection(&p);
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
		if (type == YAML_STREAM_END_EVENT)
			break;
	}
	yaml_parser_delete(&yp);

	/* Collections left open by an early stop are not finished: their
	 * kids may be a key short. Mark them so nobody walks them. */
	for (i = 0; i < p.depth; i++)
		p.stack[i].node->bad = true;
	free(p.stack);
	free(p.pairs);
	free(p.kids);
	free(p.out);
	ps_ystrmap_release(&p.anchors);
	for (i = 0; i < p.nanchors; i++)
		free(p.recs[i].name);
	free(p.recs);
	return p.stop;
}

bool ps_ynode_span(const char **src, size_t *len, const ps_ynode *n)
{
	raw_span span;

	if (n->kind != PS_YSCALAR || !n->span)
		return false;
	memcpy(&span, n->text - sizeof(span), sizeof(span));
	*src = span.src;
	*len = span.len;
	return true;
}

const ps_ynode *ps_ynode_get(const ps_ynode *map, const char *key,
			     const ps_ynode **key_out)
{
	size_t i;

	if (key_out)
		*key_out = NULL;
	if (!map || map->kind != PS_YMAPPING)
		return NULL;
	for (i = 0; i + 1 < map->nkids; i += 2) {
		if (!strcmp(map->kids[i]->text, key)) {
			if (key_out)
				*key_out = map->kids[i];
			return map->kids[i + 1];
		}
	}
	return NULL;
}

const char *ps_ynode_what(const ps_ynode *n)
{
	if (n->kind == PS_YMAPPING)
		return "a mapping";
	if (n->kind == PS_YSEQUENCE)
		return "a sequence";
	switch (n->type) {
	case PS_YNULL:
		return "null";
	case PS_YBOOL:
		return "a boolean";
	case PS_YINT:
		return "an integer";
	case PS_YFLOAT:
		return "a number";
	default:
		return "a string";
	}
}
