/*
 * Private to the config module: the diagnostics a load collects for one
 * file, the limits on hostile input resolved to their defaults, and the
 * string hash of the module's tables. The bottom of the module: the YAML
 * tree (config_yaml*.c) and the build (config.c and its parts) call into
 * it, it calls neither.
 */
#ifndef PS_CONFIG_DIAG_H
#define PS_CONFIG_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "error.h"

/*
 * Collected diagnostics for one file. Messages are deduplicated (a node
 * reached through several aliases is reported once) and capped at
 * max_errors; `code` is the worst code seen (PS_ELIMIT beats PS_EINVALID).
 *
 * A *recorder* (record = true) stands in for the real one on a second
 * thread: it keeps the first max_errors distinct messages, with no "too
 * many errors" entry, and ps_cfgdiag_replay later feeds them to the real
 * one as if they had been added there, in order. For that to be exact, a
 * recorder's max_errors must be at least twice (the real max_errors + 1),
 * and at most 1000 (where a ps_diags stops taking entries).
 */
typedef struct ps_cfgdiag {
	const char *source;
	ps_diags list;
	size_t max_errors;
	bool full;
	bool record;
	/* A recorder that keeps every message, repeats included, so that
	 * any part of it can be replayed (ps_cfgdiag_replay_range). */
	bool raw;
	int code;
} ps_cfgdiag;

void ps_cfgdiag_add(ps_cfgdiag *d, int code, int line, int column,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Add what recorder `rec` holds to d (see above). rec is left as it was. */
void ps_cfgdiag_replay(ps_cfgdiag *d, const ps_cfgdiag *rec);

/*
 * Add rec->list.items[from…to) to d exactly as the ps_cfgdiag_add calls
 * that recorded them would have (code included). rec must be a raw
 * recorder that never filled up (rec->full false), so that it holds every
 * call it was given.
 */
void ps_cfgdiag_replay_range(ps_cfgdiag *d, const ps_cfgdiag *rec, size_t from,
			     size_t to);

/* Limits with every zero field replaced by its default. */
void ps_config_limits_resolve(ps_config_limits *out,
			      const ps_config_limits *in);

/*
 * FNV-1a of s[0…len) with the high bits folded into the low ones, for the
 * module's open-addressing tables (anchors, the environment, URLs), which
 * index by the low bits.
 */
uint64_t ps_cfg_hash(const char *s, size_t len);

#endif
