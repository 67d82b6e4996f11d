#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cmd.h"
#include "json.h"
#include "session.h"
#include "util.h"
#include "banned.h"

const char import_usage[] =
	"usage: pavesync import [--seed [--adopt-state-ref]] [-a NAME]...\n"
	"\n"
	"Read the live callbacks of the accounts in the config and print a "
	"config\n"
	"that declares them. A value the config marks sensitive (a header "
	"value,\n"
	"one built from ${VAR}, one tagged !secret) is never printed: the "
	"config's\n"
	"own ${VAR} or !secret text stands for it, or a new ${VARIABLE} where "
	"the\n"
	"config has none or the live value differs; every variable the "
	"printed\n"
	"config reads is listed on stderr. Credentials keep the config's "
	"names.\n"
	"'$' in other values is written as '$$'.\n"
	"\n"
	"  --seed               also write the live state as the snapshot, so "
	"that\n"
	"                       the first apply with the printed config (and "
	"those\n"
	"                       variables set) is a no-op\n"
	"  --push               with --seed: fetch the remote state ref "
	"before, push\n"
	"                       it after\n"
	"  --remote NAME        the remote for --push (default origin)\n"
	"  --lock-timeout SECONDS  with --seed: wait this long for another "
	"run\n"
	"  --concurrency N      accounts read at once (default 8)\n"
	"  --timeout SECONDS    per request (default 30)\n"
	"  --retries N          retries for 429/5xx/transport errors (default "
	"4)\n"
	"  --cacert FILE        trust this CA in addition to the system's\n"
	"  --adopt-state-ref    with --seed: accept a state ref that something "
	"other\n"
	"                       than pavesync moved off its history (refused "
	"otherwise)\n"
	"  --deadline SECONDS   bound the whole run (default 240, 0 none)\n"
	"\n"
	"The config is printed as YAML whatever --format says.\n";

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

/* RFC 6901 lookup. Borrowed, or NULL. */
static json_t *ptr_get(json_t *root, const char *ptr)
{
	ps_buf seg = PS_BUF_INIT;
	json_t *v = root;

	while (v && *ptr == '/') {
		const char *end = strchr(ptr + 1, '/');
		size_t n = end ? (size_t)(end - ptr - 1) : strlen(ptr + 1);
		long idx;

		ps_buf_reset(&seg);
		for (size_t i = 1; i <= n; i++) {
			if (ptr[i] == '~' && i < n &&
			    (ptr[i + 1] == '0' || ptr[i + 1] == '1')) {
				ps_buf_putc(&seg,
					    ptr[i + 1] == '0' ? '~' : '/');
				i++;
			} else {
				ps_buf_putc(&seg, ptr[i]);
			}
		}
		if (json_is_object(v))
			v = json_object_get(v, seg.ptr);
		else if (json_is_array(v) &&
			 ps_parse_long(&idx, seg.ptr, 0, 1000000) == 0)
			v = json_array_get(v, (size_t)idx);
		else
			v = NULL;
		ptr += n + 1;
	}
	ps_buf_release(&seg);
	return v;
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
	json_t *desired = c->cb ? ptr_get(c->cb->spec, ptr) : NULL;
	const char *text;

	if (!src && strncmp(ptr, "/payload", 8) != 0)
		src = json_object_get(
			json_object_get(c->im->sources, "defaults"), ptr);
	text = json_string_value(json_object_get(src, "text"));
	if (text && strstr(text, "${") && desired &&
	    json_equal(desired, (json_t *)live)) {
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
		size_t n = 0, a, b;
		json_object_foreach((json_t *)v, k, child) keys[n++] = k;
		for (a = 1; a < n; a++)
			for (b = a; b > 0 && strcmp(keys[b - 1], keys[b]) > 0;
			     b--) {
				const char *t = keys[b];
				keys[b] = keys[b - 1];
				keys[b - 1] = t;
			}
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

static void print_callbacks(ps_buf *y, const char *indent, struct imp *im,
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
		c.cb = acct ? ps_account_callback(acct, ev) : NULL;
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
static void print_credential(ps_buf *y, struct imp *im, const char *account,
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

int cmd_import(struct opts *o)
{
	struct session s;
	struct imp im;
	ps_buf y = PS_BUF_INIT;
	ps_error e;
	const char *vname;
	json_t *v, *api_src;
	size_t i;
	int rc;

	memset(&im, 0, sizeof(im));
	im.vars = json_object();
	ps_buf_init(&im.name, 0);
	ps_error_clear(&e);
	rc = session_open(&s, o, o->seed);
	if (rc)
		goto cleanup;
	rc = session_plan(&s, o, true, false);
	if (rc)
		goto cleanup;
	if (json_object_size(s.live_errors)) {
		rc = EXIT_ERROR;
		goto cleanup;
	}
	im.cfg = s.cfg;
	if (ps_config_sources(&im.sources, s.cfg, &e) < 0) {
		out_ps_error(&e);
		rc = EXIT_ERROR;
		goto cleanup;
	}

	ps_buf_puts(&y, "# Written by pavesync import. Sensitive values are "
			"not printed:\n"
			"# set the variables named below to them.\n"
			"version: 1\n");
	api_src = json_object_get(im.sources, "api_url");
	if (api_src && json_string_value(json_object_get(api_src, "text"))) {
		ps_buf_puts(&y, "api_url: ");
		emit_source(&y, api_src);
		note_vars(&im,
			  json_string_value(json_object_get(api_src, "text")),
			  false);
		ps_buf_putc(&y, '\n');
	}
	if (s.cfg->shorthand) {
		print_callbacks(&y, "", &im,
				ps_config_account(s.cfg, "default"), NULL,
				json_object_get(s.live, "default"));
	} else {
		ps_buf_puts(&y, "accounts:\n");
		for (i = 0; i < s.plan->naccounts; i++) {
			const ps_account_plan *ap = &s.plan->accounts[i];
			if (ap->orphaned)
				continue;
			ps_buf_printf(&y, "  %s:\n", ap->name);
			print_credential(&y, &im, ap->name, "api_key",
					 "API_KEY");
			print_credential(&y, &im, ap->name, "api_secret",
					 "API_SECRET");
			print_credential(&y, &im, ap->name, "api_secret_file",
					 NULL);
			print_credential(&y, &im, ap->name, "username",
					 "USERNAME");
			print_callbacks(&y, "    ", &im,
					ps_config_account(s.cfg, ap->name),
					ap->name,
					json_object_get(s.live, ap->name));
		}
	}
	{
		/* Event and header names are the server's: no control
		 * character reaches the terminal (in a quoted YAML string
		 * the escape even reads back as the same character). */
		ps_buf safe = PS_BUF_INIT;

		(void)ps_buf_put_printable(&safe, y.ptr, y.len, true);
		fputs(ps_buf_status(&safe) ? "# (too large to show)\n"
					   : safe.ptr,
		      stdout);
		ps_buf_release(&safe);
	}
	if (json_object_size(im.vars)) {
		fputs("import: the printed config reads these environment "
		      "variables "
		      "(values not shown):\n",
		      stderr);
		json_object_foreach(im.vars, vname, v)
		{
			fputs("  ", stderr);
			out_safe(stderr, vname);
			fprintf(stderr, "%s\n",
				json_is_true(v)
					? "  (new: set it to the live value)"
					: "");
		}
	}
	if (o->seed) {
		ps_plan_adopt_live(s.plan);
		rc = session_record_drift(
			&s, "pavesync: import: snapshot seeded from live");
		if (!rc)
			rc = session_push(&s, o);
		if (!rc && *s.refresh_commit)
			out_info("seeded the snapshot in %.12s",
				 s.refresh_commit);
	}
cleanup:
	json_decref(im.vars);
	json_decref(im.sources);
	ps_buf_release(&im.name);
	ps_buf_release(&y);
	session_close(&s);
	return rc;
}
