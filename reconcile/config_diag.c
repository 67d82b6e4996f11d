/*
 * Diagnostics and limits of the config module (see config_diag.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config_diag.h"
#include "banned.h"

void ps_config_limits_init(ps_config_limits *limits)
{
	limits->max_file_size = (size_t)32 * 1024 * 1024;
	limits->max_depth = 64;
	limits->max_alias_nodes = 100000;
	limits->max_errors = 100;
	limits->max_nodes = 1000000;
	limits->max_expanded_bytes = (size_t)32 * 1024 * 1024;
}

/* The list half of ps_cfgdiag_add: e is formatted, d->code is done. */
static void diag_list_add(ps_cfgdiag *d, const ps_error *err)
{
	ps_error e = *err;
	size_t i;

	if (d->full)
		return;
	/* A node shared through aliases may be checked more than once. */
	for (i = 0; !d->raw && i < d->list.count; i++) {
		const ps_error *o = &d->list.items[i];
		if (o->line == e.line && o->column == e.column &&
		    !strcmp(o->message, e.message))
			return;
	}
	if (d->list.count >= d->max_errors) {
		d->full = true;
		if (d->record)
			return;
		ps_error_at(&e, e.code, d->source, 0, 0,
			    "too many errors (stopped after %zu)",
			    d->max_errors);
	}
	ps_diags_add(&d->list, &e);
}

void ps_cfgdiag_add(ps_cfgdiag *d, int code, int line, int column,
		    const char *fmt, ...)
{
	ps_error e;
	char msg[PS_ERROR_MSG_MAX];
	va_list ap;

	if (code == PS_ELIMIT || d->code == 0)
		d->code = code;
	if (d->full)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ps_error_clear(&e);
	ps_error_at(&e, code, d->source, line, column, "%s", msg);
	diag_list_add(d, &e);
}

void ps_cfgdiag_replay(ps_cfgdiag *d, const ps_cfgdiag *rec)
{
	size_t i;

	for (i = 0; i < rec->list.count; i++)
		diag_list_add(d, &rec->list.items[i]);
	/* rec->code is what the rule above made of rec's codes alone: the
	 * first one, or PS_ELIMIT if there was one. */
	if (rec->code && (rec->code == PS_ELIMIT || d->code == 0))
		d->code = rec->code;
}

void ps_cfgdiag_replay_range(ps_cfgdiag *d, const ps_cfgdiag *rec, size_t from,
			     size_t to)
{
	size_t i;

	for (i = from; i < to && i < rec->list.count; i++) {
		const ps_error *e = &rec->list.items[i];
		/* As ps_cfgdiag_add does, full or not. */
		if (e->code == PS_ELIMIT || d->code == 0)
			d->code = e->code;
		diag_list_add(d, e);
	}
}

void ps_config_limits_resolve(ps_config_limits *out, const ps_config_limits *in)
{
	ps_config_limits def;

	ps_config_limits_init(&def);
	if (!in) {
		*out = def;
		return;
	}
	*out = *in;
	if (!out->max_file_size)
		out->max_file_size = def.max_file_size;
	if (!out->max_depth)
		out->max_depth = def.max_depth;
	if (!out->max_alias_nodes)
		out->max_alias_nodes = def.max_alias_nodes;
	if (!out->max_errors)
		out->max_errors = def.max_errors;
	if (!out->max_nodes)
		out->max_nodes = def.max_nodes;
	if (!out->max_expanded_bytes)
		out->max_expanded_bytes = def.max_expanded_bytes;
}

uint64_t ps_cfg_hash(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h ^ (h >> 29);
}
