/*
 * How the config file writes its values, before interpolation: for
 * `import`, which must print the config's own ${VAR} references and
 * !secret tags rather than the values they stand for. See config.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "config_yaml.h"
#include "json.h"
#include "util.h"
#include "banned.h"

/* {"text": TEXT|null, "secret": bool, "raw": bool} for a node. TEXT is
 * null for a collection; raw means a plain scalar that is not a string
 * (a number, a boolean), to be printed without quotes. */
static json_t *source_of(const ps_ynode *n)
{
	bool scalar = n->kind == PS_YSCALAR;

	return json_pack("{s:o, s:b, s:b}", "text",
			 scalar ? json_stringn(n->text, n->len) : json_null(),
			 "secret", n->secret, "raw",
			 scalar && n->plain && n->type != PS_YSTRING);
}

/* Every scalar of a payload (and every tagged collection, as one). */
static void walk_payload(json_t *out, ps_buf *ptr, const ps_ynode *n)
{
	size_t mark = ptr->len;
	char idx[24];

	if (n->kind == PS_YSCALAR || n->secret) {
		json_object_set_new(out, ptr->ptr, source_of(n));
		return;
	}
	for (size_t i = 0; i < n->nkids; i += n->kind == PS_YMAPPING ? 2 : 1) {
		const ps_ynode *v;

		if (n->kind == PS_YMAPPING) {
			if (n->kids[i]->kind != PS_YSCALAR)
				continue;
			ps_json_pointer_push(ptr, n->kids[i]->text);
			v = n->kids[i + 1];
		} else {
			snprintf(idx, sizeof(idx), "%zu", i);
			ps_json_pointer_push(ptr, idx);
			v = n->kids[i];
		}
		walk_payload(out, ptr, v);
		ptr->len = mark;
		ptr->ptr[mark] = '\0';
	}
}

/* url, method, headers/NAME, payload/... of one callback (or defaults). */
static json_t *callback_sources(const ps_ynode *cb)
{
	json_t *out = json_object();
	const ps_ynode *v;
	ps_buf ptr = PS_BUF_INIT;

	if (!cb || cb->kind != PS_YMAPPING)
		return out;
	if ((v = ps_ynode_get(cb, "url", NULL)) && v->kind == PS_YSCALAR)
		json_object_set_new(out, "/url", source_of(v));
	if ((v = ps_ynode_get(cb, "method", NULL)) && v->kind == PS_YSCALAR)
		json_object_set_new(out, "/method", source_of(v));
	if ((v = ps_ynode_get(cb, "headers", NULL)) && v->kind == PS_YMAPPING) {
		for (size_t i = 0; i + 1 < v->nkids; i += 2) {
			if (v->kids[i]->kind != PS_YSCALAR)
				continue;
			ps_buf_reset(&ptr);
			ps_buf_puts(&ptr, "/headers");
			ps_json_pointer_push(&ptr, v->kids[i]->text);
			json_object_set_new(out, ptr.ptr,
					    source_of(v->kids[i + 1]));
		}
	}
	if ((v = ps_ynode_get(cb, "payload", NULL))) {
		ps_buf_reset(&ptr);
		ps_buf_puts(&ptr, "/payload");
		if (v->secret)
			json_object_set_new(out, ptr.ptr, source_of(v));
		else if (v->kind == PS_YMAPPING)
			walk_payload(out, &ptr, v);
	}
	ps_buf_release(&ptr);
	return out;
}

static json_t *callbacks_sources(const ps_ynode *cbs)
{
	json_t *out = json_object();

	if (!cbs || cbs->kind != PS_YMAPPING)
		return out;
	for (size_t i = 0; i + 1 < cbs->nkids; i += 2)
		if (cbs->kids[i]->kind == PS_YSCALAR)
			json_object_set_new(out, cbs->kids[i]->text,
					    callback_sources(cbs->kids[i + 1]));
	return out;
}

static json_t *account_sources(const ps_ynode *acct)
{
	static const char *const creds[] = { "api_key", "api_secret",
					     "api_secret_file", "username" };
	json_t *out = json_object();
	const ps_ynode *v;

	if (!acct || acct->kind != PS_YMAPPING)
		return out;
	for (size_t i = 0; i < sizeof(creds) / sizeof(creds[0]); i++)
		if ((v = ps_ynode_get(acct, creds[i], NULL)) &&
		    v->kind == PS_YSCALAR)
			json_object_set_new(out, creds[i], source_of(v));
	json_object_set_new(
		out, "callbacks",
		callbacks_sources(ps_ynode_get(acct, "callbacks", NULL)));
	return out;
}

int ps_config_sources(json_t **out, const ps_config *cfg, ps_error *err)
{
	ps_config_limits lim;
	ps_cfgdiag d;
	ps_ydoc doc;
	ps_buf data = PS_BUF_INIT;
	const ps_ynode *root, *v;
	json_t *accounts;
	char chunk[65536];
	ssize_t n;
	int fd, rc = 0;

	*out = NULL;
	ps_config_limits_resolve(&lim, NULL);
	fd = open(cfg->path, O_RDONLY | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return ps_error_at(err, PS_ERROR, cfg->path, 0, 0,
				   "cannot open the config file: %s",
				   strerror(errno));
	data.max = lim.max_file_size;
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || ps_buf_put(&data, chunk, (size_t)n) < 0) {
			close(fd);
			ps_buf_release(&data);
			return ps_error_at(err, PS_ERROR, cfg->path, 0, 0,
					   "cannot read the config file again");
		}
	}
	close(fd);

	memset(&d, 0, sizeof(d));
	d.source = cfg->path;
	d.max_errors = lim.max_errors;
	if (ps_yaml_parse(&doc, data.ptr, data.len, &lim, &d) < 0 ||
	    d.list.count) {
		rc = ps_error_at(err, PS_EINVALID, cfg->path, 0, 0,
				 "the config file changed while it was read");
		goto cleanup;
	}
	root = doc.root;
	*out = json_object();
	if (!root || root->kind != PS_YMAPPING)
		goto cleanup;
	if ((v = ps_ynode_get(root, "api_url", NULL)) && v->kind == PS_YSCALAR)
		json_object_set_new(*out, "api_url", source_of(v));
	json_object_set_new(
		*out, "defaults",
		callback_sources(ps_ynode_get(root, "defaults", NULL)));
	accounts = json_object();
	if ((v = ps_ynode_get(root, "accounts", NULL)) &&
	    v->kind == PS_YMAPPING) {
		for (size_t i = 0; i + 1 < v->nkids; i += 2)
			if (v->kids[i]->kind == PS_YSCALAR)
				json_object_set_new(
					accounts, v->kids[i]->text,
					account_sources(v->kids[i + 1]));
	} else if ((v = ps_ynode_get(root, "callbacks", NULL))) {
		json_t *def = json_object();
		json_object_set_new(def, "callbacks", callbacks_sources(v));
		json_object_set_new(accounts, "default", def);
	}
	json_object_set_new(*out, "accounts", accounts);

cleanup:
	ps_ydoc_release(&doc);
	ps_diags_clear(&d.list);
	ps_buf_wipe(&data);
	return rc;
}
