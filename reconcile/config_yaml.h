/*
 * Private to the config module (config.c, config_yaml.c): a YAML document
 * as a tree of nodes, built from libyaml *events* so that every limit is
 * enforced while parsing rather than after.
 *
 * What the tree guarantees to config.c:
 * - exactly one document (or none: root == NULL), UTF-8 without NUL bytes;
 * - depth (including what aliases bring in) <= max_depth, so recursion
 *   over the tree is bounded;
 * - aliases are resolved: an alias is the anchored node itself, shared
 *   (the tree is a DAG; every node is owned by the document's `all` list);
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
struct ps_ynode {
	ps_ynode_kind kind;
	ps_ytype type;     /* scalars only */
	int line;          /* 1-based start of the node (after any tag/anchor) */
	int column;
	bool plain;        /* plain (unquoted) scalar */
	bool tagged;       /* carried an explicit tag */
	bool secret;       /* tagged !secret */
	bool bad;          /* already reported; skip silently */
	bool open;         /* collection still being parsed (cycle check) */
	bool span;         /* src_start/src_end are known (single-line scalar) */
	size_t src_start;  /* byte offsets of the scalar in the input */
	size_t src_end;
	char *text;        /* scalars: the text as parsed, NUL-terminated */
	size_t len;
	json_int_t ival;
	double fval;
	bool bval;
	ps_ynode **kids;   /* mapping: key, value, key, value…; sequence: items */
	size_t nkids;
	size_t akids;
	size_t size;       /* nodes in the expanded subtree, this one included */
	unsigned height;   /* collection levels in the expanded subtree */
};

typedef struct ps_ydoc {
	ps_ynode *root;    /* NULL for an empty stream */
	ps_ynode **all;    /* every node, for freeing */
	size_t nall;
	size_t aall;
} ps_ydoc;

/*
 * Collected diagnostics for one file. Messages are deduplicated (a node
 * reached through several aliases is reported once) and capped at
 * max_errors; `code` is the worst code seen (PS_ELIMIT beats PS_EINVALID).
 */
typedef struct ps_cfgdiag {
	const char *source;
	ps_diags list;
	size_t max_errors;
	bool full;
	int code;
} ps_cfgdiag;

void ps_cfgdiag_add(ps_cfgdiag *d, int code, int line, int column,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Limits with every zero field replaced by its default. */
void ps_config_limits_resolve(ps_config_limits *out,
			      const ps_config_limits *in);

/*
 * Parse `data` into *doc. Errors go to d. Returns 0 when the tree was
 * built to the end (it may still contain `bad` nodes), or a negative code
 * when parsing stopped early (syntax error, limit); *doc is valid either
 * way and must be released.
 */
int ps_yaml_parse(ps_ydoc *doc, const char *data, size_t len,
		  const ps_config_limits *limits, ps_cfgdiag *d);

void ps_ydoc_release(ps_ydoc *doc);

/* The value for `key` in a mapping (and its key node), or NULL. */
const ps_ynode *ps_ynode_get(const ps_ynode *map, const char *key,
			     const ps_ynode **key_out);

/* 1-based line and column (in characters, as libyaml counts them) of a
 * byte offset. */
void ps_yaml_locate(const char *data, size_t len, size_t offset, int *line,
		    int *column);

/* "a mapping", "an integer", … for messages. */
const char *ps_ynode_what(const ps_ynode *n);

#endif
