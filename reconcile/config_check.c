/*
 * Value checks for the config module: unknown keys (with a suggestion),
 * the expected kind of a node, non-empty strings, URLs (the shape the
 * schema's pattern gives; plain http only for loopback api_url), methods
 * and header mappings. Each reports at the node it rejects.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config_int.h"
#include "json.h"
#include "pave.h"
#include "util.h"
#include "banned.h"

static const char *const methods[] = {
	"GET", "POST", "PUT", "PATCH", "DELETE", NULL,
};
const char *const ps_cfg_account_keys[] = {
	"api_key",   "api_secret", "api_secret_file", "username", "prune",
	"callbacks", NULL,
};

/* Did an unset variable go into a value since `mark` (c->cache->unknown)?
 * Then the value is not known and its checks are skipped. */
bool ps_cfg_unknown_since(const ctx *c, size_t mark)
{
	return c->cache->unknown != mark;
}

/* "a, b, c or d" from a NULL-terminated list. Caller frees. */
char *ps_cfg_join_or(const char *const *list)
{
	ps_buf b = PS_BUF_INIT;
	size_t i, n = 0;

	while (list[n])
		n++;
	for (i = 0; i < n; i++) {
		if (i)
			ps_buf_puts(&b, i + 1 == n ? " or " : ", ");
		ps_buf_puts(&b, list[i]);
	}
	return ps_buf_detach(&b, NULL);
}

static bool is_scalar_string(const ps_ynode *n)
{
	return n->kind == PS_YSCALAR && n->type == PS_YSTRING;
}

/* ---- generic checks ------------------------------------------------------ */

/* Report every key of `map` that is not in `allowed`. Returns how many. */
int ps_cfg_check_keys(const ctx *c, const ps_ynode *map,
		      const char *const *allowed)
{
	size_t i;
	int bad = 0;

	for (i = 0; i + 1 < map->nkids; i += 2) {
		const ps_ynode *k = map->kids[i];
		const char *const *a, *sugg;
		char *list;

		for (a = allowed; *a; a++)
			if (!strcmp(*a, k->text))
				break;
		if (*a)
			continue;
		bad++;
		sugg = ps_suggest(k->text, allowed);
		if (sugg) {
			ERR(c, k,
			    "unknown key \"%.100s\" (did you mean "
			    "\"%s\"?)",
			    k->text, sugg);
		} else if (ps_pave_event_is_known(k->text) &&
			   allowed == ps_cfg_account_keys) {
			ERR(c, k,
			    "unknown key \"%.100s\" (events go under "
			    "\"callbacks\")",
			    k->text);
		} else {
			list = ps_cfg_join_or(allowed);
			ERR(c, k, "unknown key \"%.100s\" (expected %s)",
			    k->text, list);
			free(list);
		}
	}
	return bad;
}

/* Is v a mapping? Reports when not (and when v was already reported,
 * just says no). */
bool ps_cfg_want_map(const ctx *c, const ps_ynode *v, const char *key)
{
	if (v->bad)
		return false;
	if (v->kind != PS_YMAPPING) {
		ERR(c, v, "expected a mapping for \"%.100s\", found %s", key,
		    ps_ynode_what(v));
		return false;
	}
	return true;
}

/* A string value, expanded. NULL after reporting. */
static char *get_str(const ctx *c, const ps_ynode *v, const char *key,
		     bool *sensitive)
{
	bool used;
	char *s;

	if (v->bad)
		return NULL;
	if (!is_scalar_string(v)) {
		ERR(c, v, "expected a string for \"%s\", found %s", key,
		    ps_ynode_what(v));
		return NULL;
	}
	s = ps_cfg_expand(c, v, &used, NULL);
	if (s && sensitive)
		*sensitive = used || v->secret;
	return s;
}

/* A string that must not be empty once expanded. */
char *ps_cfg_get_nonempty(const ctx *c, const ps_ynode *v, const char *key,
			  bool *sensitive)
{
	bool sens = false;
	size_t mark = c->cache->unknown;
	char *s = get_str(c, v, key, &sens);

	if (s && !*s && !ps_cfg_unknown_since(c, mark)) {
		if (sens)
			ERR(c, v,
			    "\"%s\" is empty after interpolation "
			    "(expected a non-empty string)",
			    key);
		else
			ERR(c, v,
			    "\"%s\" is empty (expected a non-empty "
			    "string)",
			    key);
		free(s);
		return NULL;
	}
	if (sensitive)
		*sensitive = sens;
	return s;
}

/*
 * An absolute http(s) URL with a host and no whitespace or control
 * characters; the same shape as the pattern in schema/pavesync.schema.json:
 *   ^https?://([^\s/?#@]*@)?(\[[0-9A-Fa-f:.]+\]|[^\s/?#@:\[\]]+)(:[0-9]*)?([/?#]\S*)?$
 */
static bool url_ok(const char *u)
{
	const char *p, *auth_end, *at, *h;

	for (p = u; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return false;
	if (!strncmp(u, "http://", 7))
		p = u + 7;
	else if (!strncmp(u, "https://", 8))
		p = u + 8;
	else
		return false;
	auth_end = p + strcspn(p, "/?#");
	at = memchr(p, '@', (size_t)(auth_end - p));
	if (at) {
		if (memchr(at + 1, '@', (size_t)(auth_end - at - 1)))
			return false;
		p = at + 1;
	}
	h = p;
	if (*h == '[') {
		const char *close = memchr(h, ']', (size_t)(auth_end - h));
		if (!close || close == h + 1)
			return false;
		for (p = h + 1; p < close; p++)
			if (!strchr("0123456789abcdefABCDEF:.", *p))
				return false;
		p = close + 1;
	} else {
		while (p < auth_end && *p != ':' && *p != '[' && *p != ']')
			p++;
		if (p == h)
			return false;
	}
	if (p < auth_end && *p == ':') {
		for (p++; p < auth_end; p++)
			if (*p < '0' || *p > '9')
				return false;
	}
	return p == auth_end;
}

/* An http:// URL (url_ok already holds) may be used only for a loopback
 * host, as the API client will insist: 127.0.0.0/8, ::1, localhost. */
static bool http_allowed(const char *u)
{
	const char *p, *auth_end, *at;
	char host[64];
	size_t n;
	struct in_addr a4;
	struct in6_addr a6;

	if (strncmp(u, "http://", 7))
		return true;
	p = u + 7;
	auth_end = p + strcspn(p, "/?#");
	at = memchr(p, '@', (size_t)(auth_end - p));
	if (at)
		p = at + 1;
	if (*p == '[') {
		const char *close = memchr(p, ']', (size_t)(auth_end - p));
		n = close ? (size_t)(close - p - 1) : 0;
		if (!n || n >= sizeof(host))
			return false;
		memcpy(host, p + 1, n);
		host[n] = '\0';
		return inet_pton(AF_INET6, host, &a6) == 1 &&
		       !memcmp(&a6, &in6addr_loopback, sizeof(a6));
	}
	n = strcspn(p, ":/?#");
	if (p + n > auth_end)
		n = (size_t)(auth_end - p);
	if (!n || n >= sizeof(host))
		return false;
	memcpy(host, p, n);
	host[n] = '\0';
	if (!ps_strcasecmp(host, "localhost") ||
	    !ps_strcasecmp(host, "localhost."))
		return true;
	return inet_pton(AF_INET, host, &a4) == 1 &&
	       (ntohl(a4.s_addr) >> 24) == 127;
}

/* A URL value (for "url" and "api_url"). NULL after reporting. */
char *ps_cfg_get_url(const ctx *c, const ps_ynode *v, const char *key,
		     bool *sensitive)
{
	bool sens = false;
	size_t mark = c->cache->unknown;
	char *s = get_str(c, v, key, &sens);

	if (s && ps_cfg_unknown_since(c, mark)) {
		/* checked when it is known */
	} else if (s && !url_ok(s)) {
		if (sens)
			ERR(c, v,
			    "invalid URL for \"%s\" (expected an absolute "
			    "http:// or https:// URL with a host; the value is "
			    "sensitive and not shown)",
			    key);
		else
			ERR(c, v,
			    "invalid URL \"%.100s\" for \"%s\" (expected "
			    "an absolute http:// or https:// URL with a host)",
			    s, key);
		ps_free_secret(s);
		return NULL;
	} else if (s && !strcmp(key, "api_url") && !http_allowed(s)) {
		/* The place says which value; no need to repeat it. */
		ERR(c, v,
		    "\"api_url\" must use https (plain http is only "
		    "allowed for loopback hosts: 127.0.0.0/8, ::1, localhost)");
		ps_free_secret(s);
		return NULL;
	}
	if (sensitive)
		*sensitive = sens;
	return s;
}

char *ps_cfg_get_method(const ctx *c, const ps_ynode *v, bool *sensitive)
{
	bool sens = false;
	size_t mark = c->cache->unknown;
	char *s = get_str(c, v, "method", &sens);
	const char *const *m;

	if (!s)
		return NULL;
	if (ps_cfg_unknown_since(c, mark)) {
		*sensitive = sens;
		return s; /* checked when it is known */
	}
	ps_ascii_uppercase(s);
	for (m = methods; *m; m++)
		if (!strcmp(*m, s))
			break;
	if (!*m) {
		if (sens)
			ERR(c, v,
			    "unsupported method (expected GET, POST, PUT, "
			    "PATCH or DELETE; the value is sensitive and not "
			    "shown)");
		else
			ERR(c, v,
			    "unsupported method \"%.40s\" (expected GET, "
			    "POST, PUT, PATCH or DELETE)",
			    v->text);
		free(s);
		return NULL;
	}
	*sensitive = sens;
	return s;
}

/* RFC 9110 token: 1*tchar. */
static bool is_token(const char *s)
{
	static const char tchar[] = "!#$%&'*+-.^_`|~";

	if (!*s)
		return false;
	for (; *s; s++) {
		char ch = *s;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || strchr(tchar, ch)))
			return false;
	}
	return true;
}

static char *lower_dup(const char *s)
{
	return ps_ascii_lowercase(ps_strdup(s));
}

/*
 * A headers mapping as {lower-case name: [Name, value, line, pointer]}, so
 * that merging and duplicate checks ignore case; pointer is the value's
 * place in a spec ("/headers/Name"), made once here and shared by every
 * callback the header goes to. NULL when the node is not a usable mapping;
 * *ok false after any error.
 */
json_t *ps_cfg_get_headers(const ctx *c, const ps_ynode *v, bool *ok)
{
	json_t *res;
	size_t i;

	if (!ps_cfg_want_map(c, v, "headers")) {
		*ok = false;
		return NULL;
	}
	res = json_object();
	for (i = 0; i + 1 < v->nkids; i += 2) {
		const ps_ynode *k = v->kids[i], *val = v->kids[i + 1];
		json_t *prev;
		char *lower, *s = NULL, *p;
		bool used;

		if (!is_token(k->text)) {
			ERR(c, k,
			    "invalid header name \"%.100s\" (expected an "
			    "HTTP token: letters, digits and "
			    "!#$%%&'*+-.^_`|~)",
			    k->text);
			*ok = false;
			continue;
		}
		lower = lower_dup(k->text);
		prev = json_object_get(res, lower);
		if (prev) {
			ERR(c, k,
			    "duplicate header \"%.100s\" (first defined "
			    "at line %d as \"%.100s\"; header names are "
			    "case-insensitive)",
			    k->text,
			    (int)json_integer_value(json_array_get(prev, 2)),
			    json_string_value(json_array_get(prev, 0)));
			*ok = false;
			free(lower);
			continue;
		}
		if (val->bad) {
			*ok = false;
		} else if (val->kind != PS_YSCALAR) {
			ERR(c, val,
			    "expected a string for header \"%.100s\", "
			    "found %s",
			    k->text, ps_ynode_what(val));
			*ok = false;
		} else if (val->type == PS_YSTRING) {
			s = ps_cfg_expand(c, val, &used, NULL);
			if (!s)
				*ok = false;
		} else if (val->type == PS_YNULL) {
			s = ps_strdup("");
		} else {
			/* Numbers and booleans are sent as written. */
			s = ps_strdup(val->text);
		}
		if (s) {
			/* CR or LF would let a value forge more headers. */
			bool crlf = strpbrk(s, "\r\n") != NULL, ctl = false;
			for (p = s; *p; p++)
				if (((unsigned char)*p < 0x20 && *p != '\t') ||
				    *p == 0x7f)
					ctl = true;
			if (crlf)
				ERR(c, val,
				    "header \"%.100s\" has a line break "
				    "(CR or LF) in its value",
				    k->text);
			else if (ctl)
				ERR(c, val,
				    "header \"%.100s\" has a control "
				    "character in its value",
				    k->text);
			if (crlf || ctl) {
				*ok = false;
				ps_free_secret(s);
				s = NULL;
			}
		}
		if (s) {
			char *ptr = ps_json_pointer_append("/headers", k->text);
			json_t *entry = json_pack("[s s I]", k->text, s,
						  (json_int_t)k->line);

			if (entry)
				json_array_append_new(entry, json_string(ptr));
			json_object_set_new(res, lower, entry);
			free(ptr);
			ps_free_secret(s);
		}
		free(lower);
	}
	return res;
}
