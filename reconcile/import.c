/*
 * import: a config that declares the live callbacks, as YAML.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "import.h"
#include "json.h"
#include "seal.h"
#include "util.h"
#include "banned.h"

/* An environment variable name from parts: upper-case, [A-Z0-9_]. */
static void var_name(ps_buf *out, const char *a, const char *b, const char *c)
{
	const char *parts[3] = { a, b, c };
	size_t i;
	const char *p;

	ps_buf_reset(out);
	for (i = 0; i < 3; i++) {
		if (!parts[i])
			continue;
		if (out->len)
			ps_buf_putc(out, '_');
		for (p = parts[i]; *p; p++) {
			char ch = (char)ps_ascii_toupper((unsigned char)*p);
			if (!((ch >= 'A' && ch <= 'Z') ||
			      (ch >= '0' && ch <= '9')))
				ch = '_';
			ps_buf_putc(out, ch);
		}
	}
}

/* A JSON string is a valid YAML double-quoted scalar; '$' doubles so that
 * interpolation gives the value back. */
static void yaml_string(ps_buf *out, const char *s)
{
	json_t *j = json_string(s);
	char *enc = json_dumps(j, JSON_ENCODE_ANY);
	const char *p;

	for (p = enc; p && *p; p++) {
		if (*p == '$')
			ps_buf_putc(out, '$');
		ps_buf_putc(out, *p);
	}
	free(enc);
	json_decref(j);
}

/*
 * What import knows about the config, so that it prints the config's own
 * words for every value the config marks sensitive (SPEC: env-built,
 * !secret, every header value): its ${VAR} text when the live value is the
 * one the config asks for, a new ${VARIABLE} otherwise. The value itself
 * is never printed.
 */
struct imp {
	const ps_config *cfg;
	json_t *sources; /* ps_config_sources */
	json_t *vars;	 /* {NAME: true when new} in order of appearance */
	ps_buf name;
};

/* Record each ${NAME} / ${NAME:-…} that `text` reads. */
static void note_vars(struct imp *im, const char *text, bool is_new)
{
	const char *p = text;

	while (p && (p = strstr(p, "${")) != NULL) {
		const char *q = p + 2;
		ps_buf n = PS_BUF_INIT;

		if (p > text && p[-1] == '$' &&
		    (p - 1 == text || p[-2] != '$')) {
			p += 2; /* "$${" is a literal */
			continue;
		}
		while ((*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z') ||
		       (*q >= '0' && *q <= '9') || *q == '_')
			q++;
		if (q > p + 2) {
			ps_buf_put(&n, p + 2, (size_t)(q - p - 2));
			if (!json_object_get(im->vars, n.ptr))
				json_object_set_new(im->vars, n.ptr,
						    json_boolean(is_new));
		}
		ps_buf_release(&n);
		p = q;
	}
}

/* A source text as YAML: its !secret tag, then the text exactly as the
 * config wrote it ('$' not doubled: it is config syntax already). */
static void emit_source(ps_buf *out, const json_t *src)
{
	const char *text = json_string_value(json_object_get(src, "text"));
	json_t *j;
	char *enc;

	if (json_is_true(json_object_get(src, "secret")))
		ps_buf_puts(out, "!secret ");
	if (json_is_true(json_object_get(src, "raw"))) {
		ps_buf_puts(out, text);
		return;
	}
	j = json_string(text ? text : "");
	enc = json_dumps(j, JSON_ENCODE_ANY);
	ps_buf_puts(out, enc ? enc : "\"\"");
	free(enc);
	json_decref(j);
}

static bool is_sensitive(const ps_callback *cb, const char *ptr)
{
	size_t i;
	json_t *v;

	if (!cb)
		return false;
	json_array_foreach(cb->sensitive, i,
			   v) if (strcmp(json_string_value(v), ptr) ==
				  0) return true;
	return false;
}

/* One callback being printed. */
struct cbctx {
	struct imp *im;
	const char *account; /* NULL in the shorthand form */
	const char *evshort;
	const ps_callback *cb; /* the config's, or NULL */
	json_t *srcs; /* the config's sources for this event, or NULL */
};

/*
 * A sensitive value at `ptr` (whose live value is `live`): the config's
 * ${VAR} text when it has one and the live value is what it asks for,
 * else a new variable named after account, event and `field`.
 */
static void emit_sensitive(ps_buf *out, struct cbctx *c, const char *ptr,
			   const json_t *live, const char *field)
{
	json_t *src = json_object_get(c->srcs, ptr);
	json_t *desired = c->cb ? ps_json_pointer_get(c->cb->spec, ptr) : NULL;
	const char *text;

	if (!src && strncmp(ptr, "/payload", 8) != 0)
		src = json_object_get(
			json_object_get(c->im->sources, "defaults"), ptr);
	text = json_string_value(json_object_get(src, "text"));
	if (text && strstr(text, "${") && desired &&
	    json_equal(desired, live)) {
		emit_source(out, src);
		note_vars(c->im, text, false);
		return;
	}
	var_name(&c->im->name, c->account, c->evshort, field);
	if (json_is_true(json_object_get(src, "secret")))
		ps_buf_puts(out, "!secret ");
	ps_buf_printf(out, "\"${%s}\"", c->im->name.ptr);
	if (!json_object_get(c->im->vars, c->im->name.ptr))
		json_object_set_new(c->im->vars, c->im->name.ptr, json_true());
}

/* Payload as a YAML flow mapping (JSON syntax), strings with '$' doubled;
 * values the config marks sensitive as emit_sensitive says. */
static void yaml_flow(ps_buf *out, const json_t *v, ps_buf *ptr,
		      struct cbctx *c)
{
	const char *k;
	json_t *child;
	size_t i, mark = ptr->len;
	char *enc;

	if (ptr->len > 8 && is_sensitive(c->cb, ptr->ptr)) {
		/* the field name: the pointer after /payload/, as a word */
		emit_sensitive(out, c, ptr->ptr, v, ptr->ptr + 9);
		return;
	}
	if (json_is_string(v)) {
		yaml_string(out, json_string_value(v));
	} else if (json_is_object(v)) {
		bool first = true;
		const char **keys =
			ps_calloc(json_object_size(v) + 1, sizeof(*keys));
		size_t n = 0, a;
		json_object_foreach((json_t *)v, k, child) keys[n++] = k;
		qsort(keys, n, sizeof(*keys), ps_strcmp_qsort);
		ps_buf_putc(out, '{');
		for (a = 0; a < n; a++) {
			if (!first)
				ps_buf_puts(out, ", ");
			first = false;
			yaml_string(out, keys[a]);
			ps_buf_puts(out, ": ");
			ps_json_pointer_push(ptr, keys[a]);
			yaml_flow(out, json_object_get(v, keys[a]), ptr, c);
			ptr->len = mark;
			ptr->ptr[mark] = '\0';
		}
		ps_buf_putc(out, '}');
		free(keys);
	} else if (json_is_array(v)) {
		char idx[24];

		ps_buf_putc(out, '[');
		json_array_foreach(v, i, child)
		{
			if (i)
				ps_buf_puts(out, ", ");
			snprintf(idx, sizeof(idx), "%zu", i);
			ps_json_pointer_push(ptr, idx);
			yaml_flow(out, child, ptr, c);
			ptr->len = mark;
			ptr->ptr[mark] = '\0';
		}
		ps_buf_putc(out, ']');
	} else {
		enc = json_dumps(v, JSON_ENCODE_ANY);
		ps_buf_puts(out, enc ? enc : "null");
		free(enc);
	}
}

/* The config's header name matching `live_name` (case-insensitive). */
static const char *config_header(const ps_callback *cb, const char *live_name)
{
	const char *h;
	json_t *v;

	if (!cb)
		return NULL;
	json_object_foreach(json_object_get(cb->spec, "headers"), h,
			    v) if (ps_strcasecmp(h, live_name) == 0) return h;
	return NULL;
}

static void emit_callbacks(ps_buf *y, const char *indent, struct imp *im,
			   const ps_account *acct, const char *account,
			   const json_t *list)
{
	size_t i;
	json_t *raw, *asrc;
	ps_buf ptr = PS_BUF_INIT;

	if (!json_array_size(list)) {
		ps_buf_printf(y, "%scallbacks: {}\n", indent);
		return;
	}
	asrc = json_object_get(json_object_get(im->sources, "accounts"),
			       acct ? acct->name : "default");
	ps_buf_printf(y, "%scallbacks:\n", indent);
	json_array_foreach(list, i, raw)
	{
		json_t *cb = ps_seal_normalize(raw), *hdrs, *payload, *v;
		const char *ev =
			json_string_value(json_object_get(raw, "event"));
		const char *h;
		struct cbctx c;

		if (!ev || !cb) {
			json_decref(cb);
			continue;
		}
		c.im = im;
		c.account = account;
		c.evshort = strchr(ev, ':') ? strchr(ev, ':') + 1 : ev;
		c.cb = acct ? ps_config_account_callback(acct, ev) : NULL;
		c.srcs =
			json_object_get(json_object_get(asrc, "callbacks"), ev);

		ps_buf_printf(y, "%s  %s:\n%s    url: ", indent, ev, indent);
		v = json_object_get(cb, "url");
		if (is_sensitive(c.cb, "/url"))
			emit_sensitive(y, &c, "/url", v, "URL");
		else
			yaml_string(y, json_string_value(v)
					       ? json_string_value(v)
					       : "");
		ps_buf_printf(y, "\n%s    method: ", indent);
		v = json_object_get(cb, "method");
		if (is_sensitive(c.cb, "/method"))
			emit_sensitive(y, &c, "/method", v, "METHOD");
		else
			ps_buf_puts(y, json_string_value(v));
		ps_buf_putc(y, '\n');
		/* Header names as the API returned them; every value is
		 * sensitive. */
		hdrs = json_object_get(raw, "headers");
		if (json_is_string(hdrs))
			hdrs = json_object_get(cb, "headers");
		if (json_object_size(hdrs)) {
			ps_buf_printf(y, "%s    headers:\n", indent);
			json_object_foreach(hdrs, h, v)
			{
				const char *ch = config_header(c.cb, h);

				ps_buf_reset(&ptr);
				ps_buf_puts(&ptr, "/headers");
				ps_json_pointer_push(&ptr, ch ? ch : h);
				ps_buf_printf(y, "%s      ", indent);
				yaml_string(y, h);
				ps_buf_puts(y, ": ");
				emit_sensitive(y, &c, ptr.ptr, v, h);
				ps_buf_putc(y, '\n');
			}
		}
		payload = json_object_get(cb, "payload");
		if (json_object_size(payload)) {
			ps_buf_printf(y, "%s    payload: ", indent);
			ps_buf_reset(&ptr);
			ps_buf_puts(&ptr, "/payload");
			yaml_flow(y, payload, &ptr, &c);
			ps_buf_putc(y, '\n');
		}
		json_decref(cb);
	}
	ps_buf_release(&ptr);
}

/* A credential as the config writes it; a new variable where it has none. */
static void emit_credential(ps_buf *y, struct imp *im, const char *account,
			    const char *key, const char *suffix)
{
	json_t *asrc = json_object_get(json_object_get(im->sources, "accounts"),
				       account);
	json_t *src = json_object_get(asrc, key);
	const char *text = json_string_value(json_object_get(src, "text"));

	if (!src && strcmp(key, "api_secret") == 0 &&
	    json_object_get(asrc, "api_secret_file"))
		return; /* the file form stands in for it */
	if (!src && strcmp(key, "api_secret_file") == 0)
		return;
	ps_buf_printf(y, "    %s: ", key);
	if (text) {
		emit_source(y, src);
		note_vars(im, text, false);
	} else {
		var_name(&im->name, account, suffix, NULL);
		ps_buf_printf(y, "${%s}", im->name.ptr);
		if (!json_object_get(im->vars, im->name.ptr))
			json_object_set_new(im->vars, im->name.ptr,
					    json_true());
	}
	ps_buf_putc(y, '\n');
}

int ps_import_write(ps_buf *out, json_t **vars, const ps_config *cfg,
		    const json_t *live, const char *const *accounts,
		    ps_error *err)
{
	struct imp im;
	const char *const *p;
	json_t *api_src;
	int rc;

	*vars = NULL;
	memset(&im, 0, sizeof(im));
	im.vars = json_object();
	ps_buf_init(&im.name, 0);
	im.cfg = cfg;
	if ((rc = ps_config_sources(&im.sources, cfg, err)) < 0)
		goto cleanup;

	ps_buf_puts(out, "# Written by pavesync import. Sensitive values are "
			 "not printed:\n"
			 "# set the variables named below to them.\n"
			 "version: 1\n");
	api_src = json_object_get(im.sources, "api_url");
	if (api_src && json_string_value(json_object_get(api_src, "text"))) {
		ps_buf_puts(out, "api_url: ");
		emit_source(out, api_src);
		note_vars(&im,
			  json_string_value(json_object_get(api_src, "text")),
			  false);
		ps_buf_putc(out, '\n');
	}
	if (cfg->shorthand) {
		emit_callbacks(out, "", &im, ps_config_account(cfg, "default"),
			       NULL, json_object_get(live, "default"));
	} else {
		ps_buf_puts(out, "accounts:\n");
		for (p = accounts; p && *p; p++) {
			ps_buf_printf(out, "  %s:\n", *p);
			emit_credential(out, &im, *p, "api_key", "API_KEY");
			emit_credential(out, &im, *p, "api_secret",
					"API_SECRET");
			emit_credential(out, &im, *p, "api_secret_file", NULL);
			emit_credential(out, &im, *p, "username", "USERNAME");
			emit_callbacks(out, "    ", &im,
				       ps_config_account(cfg, *p), *p,
				       json_object_get(live, *p));
		}
	}
	*vars = im.vars;
	im.vars = NULL;
	rc = 0;
cleanup:
	json_decref(im.vars);
	json_decref(im.sources);
	ps_buf_release(&im.name);
	return rc;
}
