/*
 * Private to the YAML half of the config module (config_yaml.c and the
 * files split from it: config_yaml_pos.c, config_yaml_arena.c,
 * config_yaml_scalar.c): the parser's state and the helpers these files
 * share. config_yaml.h is what the rest of the module sees.
 */
#ifndef PS_CONFIG_YAML_INT_H
#define PS_CONFIG_YAML_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "config_yaml.h"

#define TAG_PREFIX "tag:yaml.org,2002:"

/*
 * A cursor over the raw bytes that counts lines and columns the way libyaml
 * does (0-based; a column is a character; CR LF, CR, LF, NEL, LS and PS are
 * line breaks; a leading BOM is not counted), so a libyaml mark can be
 * turned back into a byte offset.
 */
typedef struct cursor {
	size_t off;
	size_t line;
	size_t col;
	size_t eol; /* ps_ycursor_seek_lf only: the end of the current line */
} cursor;

typedef struct strmap {
	const char **keys;
	void **vals;
	size_t cap; /* power of two, or 0 */
	size_t n;
} strmap;

/* An open collection: its kids so far are kids[kbase…nkids) of the parser. */
typedef struct open_coll {
	ps_ynode *node;
	size_t kbase;
	size_t bytes;  /* scalar text in its expanded subtree so far */
	size_t anchor; /* its anchor's record + 1, or 0 */
} open_coll;

/* An anchor: the node and the scalar text its expanded subtree holds
 * (known once the node is complete, which it is when an alias uses it). */
typedef struct anchor_rec {
	char *name;
	ps_ynode *node;
	size_t bytes;
} anchor_rec;

/* Where the arena stood (its newest blocks) at some point of the parse. */
typedef struct pair_pos {
	ps_yblock *node;
	ps_yblock *text;
} pair_pos;

typedef struct parser {
	ps_ydoc *doc;
	ps_cfgdiag *d;
	const ps_config_limits *lim;
	const char *data;
	size_t len;
	cursor cur;
	bool ascii_lf;	  /* ps_ycursor_seek_lf applies */
	open_coll *stack; /* open collections */
	size_t depth;
	size_t astack;
	/* The kids of every open collection, innermost last: a collection's
	 * kids are copied to the arena, at their final size, when it ends. */
	ps_ynode **kids;
	size_t nkids;
	size_t akids;
	ps_ynode **out; /* finish_mapping's scratch */
	size_t aout;
	strmap anchors;	  /* name → record index + 1 (a pointer) */
	anchor_rec *recs; /* every anchor, names owned */
	size_t nanchors;
	size_t aanchors;
	int ndocs;
	int stop;		       /* a fatal error: code */
	const ps_yaccounts_hook *hook; /* NULL: none */
	ps_ynode *accounts;	       /* the mapping the hook watches */
	const ps_ynode *defaults;      /* what the hook passes along */
	size_t reported;	       /* pairs the hook was given */
	bool apart; /* the watched mapping's keys go to doc->keys, from
		     * pair `first` on */
	size_t first;
	pair_pos start;	 /* when they went apart */
	pair_pos *pairs; /* when each pair from `first` on was complete */
	size_t npairs;
	size_t apairs;
	size_t released;       /* pairs whose values were released */
	size_t pairs_size;     /* node_size of every pair reported */
	unsigned pairs_height; /* and the greatest node_height */
	bool no_release; /* a node may have two parents: release nothing */
} parser;

/* ---- config_yaml_strmap.c: string -> pointer map (keys borrowed) ---- */
/* The slot for key: *found tells whether it was there; when not, it is
 * inserted with value NULL. Returns the value slot. */
void **ps_ystrmap_slot(strmap *m, const char *key, bool *found);
void *ps_ystrmap_get(const strmap *m, const char *key);
void ps_ystrmap_release(strmap *m);

/* ---- config_yaml_pos.c: positions and the UTF-8 check ---- */
/* A cursor borrows nothing: each call passes the input (d, len) again. */
void ps_ycursor_init(cursor *c, const char *d, size_t len);
bool ps_ycursor_seek(cursor *cp, const char *d, size_t len, size_t line,
		     size_t col);
size_t ps_ycursor_next_eol(const char *d, size_t len, size_t off);
bool ps_ycursor_seek_lf(cursor *c, const char *d, size_t len, size_t line,
			size_t col);
/* A libyaml mark (0-based) as a 1-based int, saturated at INT_MAX. */
static inline int ps_ymark_int(size_t v)
{
	return v >= (size_t)INT_MAX ? INT_MAX : (int)v + 1;
}
bool ps_yutf8_valid_fast(const char *data, size_t len, bool *ascii_lf);

/* ---- config_yaml_arena.c: the document's arena ---- */
struct ps_yblock {
	ps_yblock *next;  /* older */
	ps_yblock *newer; /* NULL for the newest (see ps_yarena_release) */
	size_t used;
	size_t size;
	bool big; /* a block of its own for one big request */
	_Alignas(16) unsigned char data[];
};

void *ps_yarena_grow(ps_yblock **head, ps_yblock **freel, size_t n);

/* n bytes from the arena *head, aligned to `align` (a power of two, at
 * most 16), freed with the document (never NULL); a new block may come
 * from the released ones in *freel. Inline: the tree makes one or two
 * allocations per event. */
static inline void *ps_yarena_alloc(ps_yblock **head, ps_yblock **freel,
				    size_t n, size_t align)
{
	ps_yblock *b = *head;

	if (b) {
		size_t off = (b->used + align - 1) & ~(align - 1);
		if (off <= b->size && n <= b->size - off) {
			b->used = off + n;
			return b->data + off;
		}
	}
	/* A new block's data is 16-byte aligned. */
	return ps_yarena_grow(head, freel, n);
}
/* Release the blocks of a list that are newer than `from` and older than
 * `to` (both in it), except big requests' blocks (see
 * ps_yaccounts_hook): to *freel for reuse, wiped first when `wipe`. True
 * when there was one. */
bool ps_yarena_release(ps_yblock **freel, ps_yblock *from, ps_yblock *to,
		       bool wipe);

/* ---- config_yaml_scalar.c: scalar typing ---- */
/* Report a problem at n and mark it bad (callers skip it silently). */
void ps_yscalar_error(parser *p, ps_ynode *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void ps_ytag_name(char *out, size_t outlen, const char *tag);
/* Type scalar n from its tag (or the core schema when plain); problems
 * are reported at n. */
void ps_yscalar_resolve(parser *p, ps_ynode *n, const char *tag, bool is_key);

#endif
