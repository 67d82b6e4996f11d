/*
 * A small string -> pointer hash map for the YAML tree (anchors, the keys
 * of a big mapping); keys are borrowed.
 */
#include <stdlib.h>
#include <string.h>

#include "config_yaml_int.h"
#include "util.h"
#include "banned.h"

static void strmap_grow(strmap *m)
{
	size_t ncap = m->cap ? m->cap * 2 : 16, i;
	const char **keys = ps_calloc(ncap, sizeof(*keys));
	void **vals = ps_calloc(ncap, sizeof(*vals));

	for (i = 0; i < m->cap; i++) {
		size_t j;
		if (!m->keys[i])
			continue;
		j = ps_cfg_hash(m->keys[i], strlen(m->keys[i])) & (ncap - 1);
		while (keys[j])
			j = (j + 1) & (ncap - 1);
		keys[j] = m->keys[i];
		vals[j] = m->vals[i];
	}
	free(m->keys);
	free(m->vals);
	m->keys = keys;
	m->vals = vals;
	m->cap = ncap;
}

/* The slot for key: *found tells whether it was there; when not, it is
 * inserted with value NULL. Returns the value slot. */
void **ps_ystrmap_slot(strmap *m, const char *key, bool *found)
{
	size_t j;

	if ((m->n + 1) * 2 > m->cap)
		strmap_grow(m);
	j = ps_cfg_hash(key, strlen(key)) & (m->cap - 1);
	while (m->keys[j]) {
		if (!strcmp(m->keys[j], key)) {
			*found = true;
			return &m->vals[j];
		}
		j = (j + 1) & (m->cap - 1);
	}
	*found = false;
	m->keys[j] = key;
	m->vals[j] = NULL;
	m->n++;
	return &m->vals[j];
}

void *ps_ystrmap_get(const strmap *m, const char *key)
{
	size_t j;

	if (!m->cap)
		return NULL;
	j = ps_cfg_hash(key, strlen(key)) & (m->cap - 1);
	while (m->keys[j]) {
		if (!strcmp(m->keys[j], key))
			return m->vals[j];
		j = (j + 1) & (m->cap - 1);
	}
	return NULL;
}

void ps_ystrmap_release(strmap *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}
