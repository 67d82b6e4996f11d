/*
 * Private to the config module (config_yaml*.c build it, config*.c read
 * it): a YAML document as a tree of nodes, built from libyaml *events* so
 * that every limit is enforced while parsing rather than after.
 *
 * What the tree guarantees to its readers:
 * - exactly one document (or none: root == NULL), UTF-8 without NUL bytes;
 * - depth (including what aliases bring in) <= max_depth, so recursion
 *   over the tree is bounded;
 * - aliases are resolved: an alias is the anchored node itself, shared
 *   (the tree is a DAG; every node lives in the document's arena), and
 *   the scalar text of the document with every alias expanded is at most
 *   max_expanded_bytes, so a walk that copies values stays bounded;
 * - mappings have scalar keys, no duplicate keys, merge keys (`<<`) applied;
 * - plain scalars are typed with the YAML 1.2 core schema, tags resolved;
 * - a node whose problem was already reported is marked `bad`, so callers
 *   skip it without piling a second message on the same mistake.
 */
#ifndef PS_CONFIG_YAML_H
#define PS_CONFIG_YAML_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "config_diag.h"
#include "error.h"

typedef enum ps_ynode_kind {
	PS_YSCALAR,
	PS_YMAPPING,
	PS_YSEQUENCE,
} ps_ynode_kind;

typedef enum ps_ytype {
	PS_YNULL,
	PS_YBOOL,
	PS_YINT,
	PS_YFLOAT,
	PS_YSTRING,
} ps_ytype;

typedef struct ps_ynode ps_ynode;
/*
 * 40 bytes: a 10,000-account file has some 600,000 nodes, so the layout
 * matters for memory. Scalar and collection fields share a union; `kind`
 * says which half is live.
 */
struct ps_ynode {
	unsigned char kind; /* ps_ynode_kind */
	unsigned char type; /* ps_ytype; scalars only */
	bool plain : 1;	    /* plain (unquoted) scalar */
	bool tagged : 1;    /* carried an explicit tag */
	bool secret : 1;    /* tagged !secret */
	bool bad : 1;	    /* already reported; skip silently */
	bool open : 1;	    /* collection still being parsed (cycle check) */
	bool span : 1;	    /* ps_ynode_span knows where the scalar is */
	bool anchored : 1;  /* carries an anchor: may have several parents */
	unsigned height;    /* collections: levels in the expanded subtree */
	int line; /* 1-based start of the node (after any tag/anchor) */
	int column;
	union {
		struct {	    /* PS_YSCALAR */
			char *text; /* the text as parsed, NUL-terminated */
			size_t len;
			union {
				json_int_t ival;
				double fval;
				bool bval;
			};
		};
		struct {		 /* PS_YMAPPING, PS_YSEQUENCE */
			ps_ynode **kids; /* mapping: key, value, key, value…;
					  * sequence: items */
			size_t nkids;
			size_t size; /* nodes in the expanded subtree, this
				      * one included */
		};
	};
};

/* A chunk of the document's arena (private to config_yaml_arena.c). */
typedef struct ps_yblock ps_yblock;

typedef struct ps_ydoc {
	ps_ynode *root; /* NULL for an empty stream */
	size_t nall;	/* nodes written in the file (the max_nodes limit) */
	size_t expanded_bytes; /* scalar text with every alias expanded
				* (the max_expanded_bytes limit) */
	size_t alias_nodes;    /* nodes that expanding aliases produced (the
				* max_alias_nodes limit), up to and including
				* the alias that crossed it */
	ps_yblock *nodes;      /* arena: nodes and kids arrays */
	ps_yblock *texts;      /* arena: scalar texts, wiped on release */
	ps_yblock *keys;       /* arena: the keys of the mapping a
				* ps_yaccounts_hook watches, once its values
				* may be released, and their texts; wiped */
	ps_yblock *nfree;      /* released blocks kept for reuse */
	ps_yblock *tfree;
	bool shared;  /* anchors or merge keys: a node may have more
		       * than one parent */
	bool partial; /* parts of the "accounts" mapping were
		       * released while parsing (ps_yaccounts_hook):
		       * only its keys may be read */
	/* Set by ps_ydoc_piecewise: every block, oldest first (an entry is
	 * NULL once released), instead of the lists above. */
	ps_yblock **norder;
	size_t nnorder;
	ps_yblock **torder;
	size_t ntorder;
} ps_ydoc;

/*
 * Parse `data` into *doc. Errors go to d. Returns 0 when the tree was
 * built to the end (it may still contain `bad` nodes), or a negative code
 * when parsing stopped early (syntax error, limit); *doc is valid either
 * way and must be released.
 */
int ps_yaml_parse(ps_ydoc *doc, const char *data, size_t len,
		  const ps_config_limits *limits, ps_cfgdiag *d);

/*
 * For building accounts while the rest of the file is still parsed: the
 * parser calls pair(arg, defaults, k, v), on its own thread, for each pair
 * of the top-level "accounts" mapping (the value of the root's first
 * "accounts" key, when written as a mapping) as soon as the value is
 * complete. From then on nothing writes k, v or any node below them, and
 * the arena never moves them, so another thread may read them. `defaults`
 * is the value of the root's first "defaults" key written before
 * "accounts", or NULL.
 *
 * pair returns how many of the pairs reported so far (a prefix) the
 * consumer will never read again. The parser frees their values while it
 * parses (then doc->partial is set) unless a node may have two parents;
 * the keys stay. After that the values of those pairs must not be read:
 * the consumer must have built from them everything the caller needs.
 *
 * These are what the parser sees, not the final tree: a pair may later be
 * dropped (a duplicate key), merge keys add pairs that are not reported,
 * and "defaults" may come after "accounts". The consumer compares with
 * the final tree before it uses anything built from them, and when it
 * cannot use them and doc->partial is set, the file must be parsed again.
 */
typedef struct ps_yaccounts_hook {
	size_t (*pair)(void *arg, const ps_ynode *defaults, const ps_ynode *k,
		       const ps_ynode *v);
	void *arg;
} ps_yaccounts_hook;

/* ps_yaml_parse, calling hook (may be NULL) as described above. */
int ps_yaml_parse_hooked(ps_ydoc *doc, const char *data, size_t len,
			 const ps_config_limits *limits, ps_cfgdiag *d,
			 const ps_yaccounts_hook *hook);

void ps_ydoc_release(ps_ydoc *doc);

/*
 * Releasing a tree while it is still being read, so that the tree and what
 * is built from it are not in memory whole at once.
 *
 * A position is where in the arena a node was allocated (the block of the
 * node and of its text). ps_ydoc_piecewise fills pos[i] for each key i of
 * mapping `map` (map->nkids / 2 entries) and returns true when releasing
 * is safe: no node has two parents (no anchors, no merge keys) and map's
 * keys, all scalars, were allocated in their order. Then everything
 * allocated between key i and key i + 1 is the subtree of value i (and
 * pairs the mapping dropped), so once the caller is done with keys lo…i
 * and their values it may call ps_ydoc_release_between(doc, &pos[lo],
 * &pos[i + 1]), which frees (texts wiped) the blocks filled wholly after
 * the first and before the second was allocated. Threads may release
 * disjoint ranges at once. When it returns false nothing may be released;
 * ps_ydoc_release frees what is left either way.
 */
typedef struct ps_ypos {
	size_t node_block;
	size_t text_block;
} ps_ypos;

bool ps_ydoc_piecewise(ps_ydoc *doc, const ps_ynode *map, ps_ypos *pos);

void ps_ydoc_release_between(ps_ydoc *doc, const ps_ypos *from,
			     const ps_ypos *to);

/*
 * The source bytes of a one-line scalar as written in the input (*src,
 * *len; a copy in the document's arena, so the input may be freed after
 * ps_yaml_parse), so that a "${" inside it can be reported at its own
 * column. Kept only for scalars whose text has a "${" (no other place is
 * ever asked for); false when unknown.
 */
bool ps_ynode_span(const char **src, size_t *len, const ps_ynode *n);

/* The value for `key` in a mapping (and its key node), or NULL. */
const ps_ynode *ps_ynode_get(const ps_ynode *map, const char *key,
			     const ps_ynode **key_out);

/* 1-based line and column (in characters, as libyaml counts them) of a
 * byte offset. */
void ps_yaml_locate(int *line, int *column, const char *data, size_t len,
		    size_t offset);

/* "a mapping", "an integer", … for messages. */
const char *ps_ynode_what(const ps_ynode *n);

#endif
