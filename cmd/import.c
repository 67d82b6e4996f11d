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
	"Read the live callbacks of the accounts in the config and print a config\n"
	"that declares them. Header values are never printed: each becomes a\n"
	"${VARIABLE} reference whose name is listed on stderr. '$' in other values\n"
	"is written as '$$'.\n"
	"\n"
	"  --seed               also write the live state as the snapshot, so that\n"
	"                       the first apply with the printed config (and those\n"
	"                       variables set) is a no-op\n"
	"  --push               with --seed: fetch the remote state ref before, push\n"
	"                       it after\n"
	"  --remote NAME        the remote for --push (default origin)\n"
	"  --lock-timeout SECONDS  with --seed: wait this long for another run\n"
	"  --concurrency N      accounts read at once (default 8)\n"
	"  --timeout SECONDS    per request (default 30)\n"
	"  --retries N          retries for 429/5xx/transport errors (default 4)\n"
	"  --cacert FILE        trust this CA in addition to the system's\n"
	"  --adopt-state-ref    with --seed: accept a state ref that something other\n"
	"                       than pavesync moved off its history (refused otherwise)\n"
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
			char ch = *p;
			if (ch >= 'a' && ch <= 'z')
				ch = (char)(ch - 'a' + 'A');
			else if (!((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')))
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

/* Payload as a YAML flow mapping (JSON syntax), strings with '$' doubled. */
static void yaml_flow(ps_buf *out, const json_t *v)
{
	const char *k;
	json_t *child;
	size_t i;
	char *enc;

	if (json_is_string(v)) {
		yaml_string(out, json_string_value(v));
	} else if (json_is_object(v)) {
		bool first = true;
		const char **keys = ps_calloc(json_object_size(v) + 1, sizeof(*keys));
		size_t n = 0, a, b;
		json_object_foreach((json_t *)v, k, child)
			keys[n++] = k;
		for (a = 1; a < n; a++)
			for (b = a; b > 0 && strcmp(keys[b - 1], keys[b]) > 0; b--) {
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
			yaml_flow(out, json_object_get(v, keys[a]));
		}
		ps_buf_putc(out, '}');
		free(keys);
	} else if (json_is_array(v)) {
		ps_buf_putc(out, '[');
		json_array_foreach(v, i, child) {
			if (i)
				ps_buf_puts(out, ", ");
			yaml_flow(out, child);
		}
		ps_buf_putc(out, ']');
	} else {
		enc = json_dumps(v, JSON_ENCODE_ANY);
		ps_buf_puts(out, enc ? enc : "null");
		free(enc);
	}
}

static void print_callbacks(ps_buf *y, const char *indent, const char *account,
			    const json_t *list, json_t *vars)
{
	size_t i;
	json_t *raw;
	ps_buf name = PS_BUF_INIT;

	if (!json_array_size(list)) {
		ps_buf_printf(y, "%scallbacks: {}\n", indent);
		return;
	}
	ps_buf_printf(y, "%scallbacks:\n", indent);
	json_array_foreach(list, i, raw) {
		json_t *cb = ps_callback_normalize(raw), *hdrs, *payload, *v;
		const char *ev = json_string_value(json_object_get(raw, "event"));
		const char *h, *evshort;

		if (!ev || !cb) {
			json_decref(cb);
			continue;
		}
		evshort = strchr(ev, ':') ? strchr(ev, ':') + 1 : ev;
		ps_buf_printf(y, "%s  %s:\n%s    url: ", indent, ev, indent);
		yaml_string(y, json_string_value(json_object_get(cb, "url")) ?
			       json_string_value(json_object_get(cb, "url")) : "");
		ps_buf_printf(y, "\n%s    method: %s\n", indent,
			      json_string_value(json_object_get(cb, "method")));
		/* Header names as the API returned them, values as variables. */
		hdrs = json_object_get(raw, "headers");
		if (json_is_string(hdrs))
			hdrs = json_object_get(cb, "headers");
		if (json_object_size(hdrs)) {
			ps_buf_printf(y, "%s    headers:\n", indent);
			json_object_foreach(hdrs, h, v) {
				var_name(&name, account, evshort, h);
				ps_buf_printf(y, "%s      %s: \"${%s}\"\n", indent, h, name.ptr);
				json_array_append_new(vars, json_string(name.ptr));
			}
		}
		payload = json_object_get(cb, "payload");
		if (json_object_size(payload)) {
			ps_buf_printf(y, "%s    payload: ", indent);
			yaml_flow(y, payload);
			ps_buf_putc(y, '\n');
		}
		json_decref(cb);
	}
	ps_buf_release(&name);
}

int cmd_import(struct opts *o)
{
	struct session s;
	ps_buf y = PS_BUF_INIT, name = PS_BUF_INIT;
	json_t *vars = json_array(), *v;
	size_t i;
	int rc;

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

	ps_buf_puts(&y, "# Written by pavesync import. Header values are not printed:\n"
			"# set the variables named below to them.\n"
			"version: 1\n");
	if (s.cfg->api_url) {
		ps_buf_puts(&y, "api_url: ");
		yaml_string(&y, s.cfg->api_url);
		ps_buf_putc(&y, '\n');
	}
	if (s.cfg->shorthand) {
		print_callbacks(&y, "", NULL, json_object_get(s.live, "default"), vars);
	} else {
		ps_buf_puts(&y, "accounts:\n");
		for (i = 0; i < s.plan->naccounts; i++) {
			const ps_account_plan *ap = &s.plan->accounts[i];
			if (ap->orphaned)
				continue;
			ps_buf_printf(&y, "  %s:\n", ap->name);
			var_name(&name, ap->name, "API_KEY", NULL);
			ps_buf_printf(&y, "    api_key: ${%s}\n", name.ptr);
			json_array_append_new(vars, json_string(name.ptr));
			var_name(&name, ap->name, "API_SECRET", NULL);
			ps_buf_printf(&y, "    api_secret: ${%s}\n", name.ptr);
			json_array_append_new(vars, json_string(name.ptr));
			var_name(&name, ap->name, "USERNAME", NULL);
			ps_buf_printf(&y, "    username: ${%s}\n", name.ptr);
			json_array_append_new(vars, json_string(name.ptr));
			print_callbacks(&y, "    ", ap->name,
					json_object_get(s.live, ap->name), vars);
		}
	}
	fputs(y.ptr, stdout);
	if (json_array_size(vars)) {
		fputs("import: the printed config reads these environment variables "
		      "(values not shown):\n", stderr);
		json_array_foreach(vars, i, v)
			fprintf(stderr, "  %s\n", json_string_value(v));
	}
	if (o->seed) {
		ps_plan_adopt_live(s.plan);
		rc = session_record_drift(&s, "pavesync: import: snapshot seeded from live");
		if (!rc)
			rc = session_push(&s, o);
		if (!rc && *s.refresh_commit)
			out_info("seeded the snapshot in %.12s", s.refresh_commit);
	}
cleanup:
	json_decref(vars);
	ps_buf_release(&y);
	ps_buf_release(&name);
	session_close(&s);
	return rc;
}
