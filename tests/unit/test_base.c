/* Unit tests for the base library: buffers, errors, util, JSON helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "buf.h"
#include "error.h"
#include "hmac.h"
#include "json.h"
#include "pave.h"
#include "util.h"

static void buf_starts_empty_and_never_null(void **state)
{
	ps_buf b = PS_BUF_INIT;
	char *s;

	(void)state;
	assert_non_null(b.ptr);
	assert_string_equal(b.ptr, "");
	s = ps_buf_detach(&b, NULL);
	assert_string_equal(s, "");
	free(s);
}

static void buf_appends_and_formats(void **state)
{
	ps_buf b = PS_BUF_INIT;

	(void)state;
	assert_int_equal(ps_buf_puts(&b, "abc"), 0);
	assert_int_equal(ps_buf_putc(&b, '-'), 0);
	assert_int_equal(ps_buf_printf(&b, "%d/%s", 42, "x"), 0);
	assert_string_equal(b.ptr, "abc-42/x");
	assert_int_equal(b.len, 8);
	ps_buf_reset(&b);
	assert_string_equal(b.ptr, "");
	ps_buf_release(&b);
}

static void buf_refuses_past_max(void **state)
{
	ps_buf b;

	(void)state;
	ps_buf_init(&b, 8);
	assert_int_equal(ps_buf_grow(&b, 9), PS_ELIMIT);
	assert_int_equal(ps_buf_grow(&b, 8), 0);
	assert_string_equal(b.ptr, "");
	assert_int_equal(ps_buf_puts(&b, "12345678"), 0);
	assert_int_equal(ps_buf_putc(&b, '9'), PS_ELIMIT);
	assert_int_equal(ps_buf_printf(&b, "%s", "more"), PS_ELIMIT);
	assert_string_equal(b.ptr, "12345678");
	ps_buf_release(&b);
}

/* A failed append sticks: later appends that would fit fail too, and the
 * contents cannot be taken out, so a caller that ignores one result
 * cannot hand on a text with a hole in it. */
static void buf_failure_is_sticky(void **state)
{
	ps_buf b;
	size_t len = 99;

	(void)state;
	ps_buf_init(&b, 8);
	assert_int_equal(ps_buf_puts(&b, "123456"), 0);
	assert_int_equal(ps_buf_status(&b), 0);
	assert_int_equal(ps_buf_grow(&b, 100), PS_ELIMIT);
	assert_int_equal(ps_buf_status(&b), 0); /* a hint, nothing lost */
	assert_int_equal(ps_buf_puts(&b, "789"), PS_ELIMIT);
	assert_int_equal(ps_buf_status(&b), PS_ELIMIT);
	assert_int_equal(ps_buf_putc(&b, '7'), PS_ELIMIT);
	assert_int_equal(ps_buf_put(&b, "", 0), PS_ELIMIT);
	assert_int_equal(ps_buf_printf(&b, "%d", 7), PS_ELIMIT);
	assert_string_equal(b.ptr, "123456");
	assert_null(ps_buf_detach(&b, &len));
	assert_int_equal(len, 0);
	/* Detached: empty and usable again. */
	assert_int_equal(ps_buf_status(&b), 0);
	assert_int_equal(ps_buf_puts(&b, "ok"), 0);
	ps_buf_reset(&b);
	assert_int_equal(ps_buf_puts(&b, "123456789"), PS_ELIMIT);
	ps_buf_reset(&b);
	assert_int_equal(ps_buf_status(&b), 0);
	ps_buf_release(&b);
}

/* A document whose encoding would pass the limit is refused whole (NULL),
 * never emitted truncated: a string of control characters just under
 * PS_JSON_MAX encodes to six times its size. */
static void canonical_json_refuses_past_limit(void **state)
{
	size_t n = PS_JSON_MAX / 6 + 1024;
	char *big = malloc(n), *s;
	json_t *v;

	(void)state;
	assert_non_null(big);
	memset(big, 1, n);
	v = json_pack("{s:s#}", "payload", big, (int)n);
	assert_non_null(v);
	assert_null(ps_json_canonical(v));
	assert_null(ps_json_compact(v));
	json_decref(v);
	/* Just under: fine. */
	v = json_pack("{s:s#}", "p", big, (int)(PS_JSON_MAX / 6 - 1024));
	s = ps_json_compact(v);
	assert_non_null(s);
	assert_int_equal(strlen(s), (PS_JSON_MAX / 6 - 1024) * 6 + 8);
	free(s);
	json_decref(v);
	free(big);
}

/* A buffer for secrets keeps its contents when it grows (it copies and
 * wipes instead of realloc), and stays a secrets buffer after release. */
static void buf_wipe_mode_grows_and_stays(void **state)
{
	ps_buf b = PS_BUF_INIT;
	json_t *v;
	char *s;
	int i;

	(void)state;
	b.wipe = true;
	for (i = 0; i < 1000; i++)
		assert_int_equal(ps_buf_printf(&b, "%03d", i), 0);
	assert_int_equal(b.len, 3000);
	assert_memory_equal(b.ptr, "000001002", 9);
	assert_memory_equal(b.ptr + 2997, "999", 4);
	ps_buf_release(&b);
	assert_true(b.wipe);
	assert_int_equal(ps_buf_puts(&b, "tok"), 0);
	s = ps_buf_detach(&b, NULL);
	assert_string_equal(s, "tok");
	assert_true(b.wipe);
	ps_free_secret(s);
	v = json_pack("{s:s}", "Authorization", "Bearer x");
	s = ps_json_compact_secret(v);
	assert_string_equal(s, "{\"Authorization\":\"Bearer x\"}");
	ps_free_secret(s);
	json_decref(v);
}

/* Text for a terminal: every control character escaped, the rest kept. */
static void buf_printable_escapes_controls(void **state)
{
	static const char in[] = "ok \xc3\xa9 \x1b[2J\x07\x7f\xc2\x9b" "1m"
				 "\r\n\t\xff\xe2\x82" " end";
	ps_buf b = PS_BUF_INIT;

	(void)state;
	assert_int_equal(ps_buf_put_printable(&b, in, sizeof(in) - 1, false), 0);
	assert_string_equal(b.ptr, "ok \xc3\xa9 \\x1b[2J\\x07\\x7f\\u009b1m"
				   "\\x0d\\x0a\\x09\\xff\\xe2\\x82 end");
	ps_buf_reset(&b);
	assert_int_equal(ps_buf_put_printable(&b, "a\nb\tc\x1b", 6, true), 0);
	assert_string_equal(b.ptr, "a\nb\tc\\x1b");
	ps_buf_reset(&b);
	/* A NUL inside the given length is escaped too. */
	assert_int_equal(ps_buf_put_printable(&b, "a\0b", 3, true), 0);
	assert_string_equal(b.ptr, "a\\x00b");
	ps_buf_release(&b);
}

static void error_formats_location(void **state)
{
	ps_error e;
	char out[1024];

	(void)state;
	ps_error_at(&e, PS_EINVALID, "p.yaml", 12, 7, "unknown event \"%s\"", "X");
	assert_string_equal(ps_error_format(&e, out, sizeof(out)),
			    "p.yaml:12:7: unknown event \"X\"");
	ps_error_set(&e, PS_ERROR, "line one\nline two");
	assert_string_equal(ps_error_format(&e, out, sizeof(out)), "line one line two");
	ps_error_prefix(&e, "account %s", "main");
	assert_string_equal(e.message, "account main: line one line two");
	assert_int_equal(ps_error_set(NULL, PS_ELIMIT, "x"), PS_ELIMIT);
}

/* A message cut at its buffer's end keeps whole characters only: "é" is
 * two bytes, "€" three, "😀" four; each lands across the cut. */
static void error_cut_keeps_utf8_whole(void **state)
{
	static const char *chars[] = { "\xc3\xa9", "\xe2\x82\xac",
				       "\xf0\x9f\x98\x80" };
	char big[2 * PS_ERROR_MSG_MAX], out[40];
	size_t c, shift;
	ps_error e;

	(void)state;
	for (c = 0; c < 3; c++) {
		for (shift = 0; shift < 4; shift++) {
			size_t n = PS_ERROR_MSG_MAX - 1 - shift, len;

			size_t w = strlen(chars[c]);

			memset(big, 'a', n);
			for (; n + w < sizeof(big); n += w)
				memcpy(big + n, chars[c], w);
			big[n] = '\0';
			ps_error_set(&e, PS_EINVALID, "%s", big);
			len = strlen(e.message);
			assert_true(len <= PS_ERROR_MSG_MAX - 1);
			assert_true(len > PS_ERROR_MSG_MAX - 5);
			assert_true(ps_utf8_valid(e.message, len));
			ps_error_prefix(&e, "account %s", "x");
			assert_true(ps_utf8_valid(e.message, strlen(e.message)));
			ps_error_at(&e, PS_EINVALID, big, 1, 1, "m");
			assert_true(ps_utf8_valid(e.source, strlen(e.source)));
			ps_error_format(&e, out, sizeof(out));
			assert_true(ps_utf8_valid(out, strlen(out)));
			assert_true(strlen(out) > sizeof(out) - 5);
		}
	}
	/* not cut: a message that ends in a whole character keeps it */
	ps_error_set(&e, PS_EINVALID, "caf\xc3\xa9");
	assert_string_equal(e.message, "caf\xc3\xa9");
}

static void diags_are_bounded(void **state)
{
	ps_diags d = PS_DIAGS_INIT;
	ps_error e;
	int i;

	(void)state;
	ps_error_set(&e, PS_EINVALID, "bad");
	for (i = 0; i < 5000; i++)
		ps_diags_add(&d, &e);
	assert_int_equal(d.count, 1000);
	ps_diags_clear(&d);
	assert_int_equal(d.count, 0);
}

/* ps_oom calls the installed handler (here one that jumps back instead of
 * letting ps_oom abort); the library itself prints nothing. */
static jmp_buf oom_jump;
static int oom_calls;

static void oom_handler_jumps(void)
{
	oom_calls++;
	longjmp(oom_jump, 1);
}

static void oom_calls_the_handler(void **state)
{
	(void)state;
	oom_calls = 0;
	ps_set_oom_handler(oom_handler_jumps);
	if (!setjmp(oom_jump))
		ps_oom();
	ps_set_oom_handler(NULL);
	assert_int_equal(oom_calls, 1);
}

static void suggest_finds_typos(void **state)
{
	const char *const keys[] = { "callbacks", "accounts", "version", NULL };

	(void)state;
	assert_string_equal(ps_suggest("calbacks", keys), "callbacks");
	assert_string_equal(ps_suggest("VERSION", keys), "version");
	assert_null(ps_suggest("zzzzzzzzz", keys));
	assert_string_equal(ps_suggest("SESSION:COMPLETED", ps_pave_events), "SESSION:COMPLETE");
}

static void events_and_names(void **state)
{
	(void)state;
	assert_true(ps_pave_event_is_known("SESSION:NOTE_INSERT"));
	assert_false(ps_pave_event_is_known("SESSION:note_insert"));
	assert_true(ps_pave_account_name_is_valid("main"));
	assert_true(ps_pave_account_name_is_valid("0branch_2-x"));
	assert_false(ps_pave_account_name_is_valid("Main"));
	assert_false(ps_pave_account_name_is_valid("-x"));
	assert_false(ps_pave_account_name_is_valid(""));
	assert_true(ps_pave_account_name_is_valid(
		"a23456789012345678901234567890123456789012345678901234567890123"));
	assert_false(ps_pave_account_name_is_valid(
		"a234567890123456789012345678901234567890123456789012345678901234"));
}

static void parse_long_is_strict(void **state)
{
	long v;

	(void)state;
	assert_int_equal(ps_parse_long(&v, "42", 0, 100), 0);
	assert_int_equal(v, 42);
	assert_int_equal(ps_parse_long(&v, "42x", 0, 100), -1);
	assert_int_equal(ps_parse_long(&v, "", 0, 100), -1);
	assert_int_equal(ps_parse_long(&v, "101", 0, 100), -1);
	assert_int_equal(ps_parse_long(&v, "-1", 0, 100), -1);
}

static void utf8_validation(void **state)
{
	(void)state;
	assert_true(ps_utf8_valid("héllo €", strlen("héllo €")));
	assert_false(ps_utf8_valid("\xc3", 1));          /* truncated */
	assert_false(ps_utf8_valid("\xc0\xaf", 2));      /* overlong */
	assert_false(ps_utf8_valid("\xed\xa0\x80", 3));  /* surrogate */
	assert_false(ps_utf8_valid("\xff", 1));
	assert_false(ps_utf8_valid("a\0b", 3));
	assert_true(ps_utf8_valid("\xf0\x9f\x98\x80", 4)); /* emoji */
}

static void canonical_json_is_sorted_indented(void **state)
{
	json_t *v = json_pack("{s:i, s:{s:s, s:[i,i]}}", "b", 1, "a", "y", "x", "z", 1, 2);
	char *s = ps_json_canonical(v);

	(void)state;
	assert_string_equal(s, "{\n  \"a\": {\n    \"y\": \"x\",\n    \"z\": [\n      1,\n"
			       "      2\n    ]\n  },\n  \"b\": 1\n}\n");
	free(s);
	s = ps_json_compact(v);
	assert_string_equal(s, "{\"a\":{\"y\":\"x\",\"z\":[1,2]},\"b\":1}");
	free(s);
	json_decref(v);
}

/* Our encoder must write what jansson would, so documents stay readable and
 * stable whichever wrote them. */
static void canonical_json_matches_jansson(void **state)
{
	json_t *v = json_loads(
		"{\"s\": \"q\\\" b\\\\ n\\n t\\t c\\u0001 u\\u00e9\\u20ac / \\u007f\","
		" \"r\": [1.5, 3.0, 1e300, -0.25, 0.1], \"i\": [-9223372036854775807, 0],"
		" \"e\": {}, \"a\": [], \"n\": null, \"t\": true, \"f\": false,"
		" \"k\": {\"z\": 1, \"B\": 2, \"a\": 3, \"\\u00e9\": 4}}", 0, NULL);
	char *ours, *theirs, *compact, *jc;
	size_t n;

	(void)state;
	assert_non_null(v);
	ours = ps_json_canonical(v);
	theirs = json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
	n = strlen(theirs);
	assert_int_equal(strlen(ours), n + 1);
	assert_memory_equal(ours, theirs, n);
	assert_int_equal(ours[n], '\n');
	free(ours);
	free(theirs);
	/* deep enough for the indent to outgrow one run of spaces */
	json_object_set_new(v, "deep", json_pack("{s:{s:{s:{s:{s:{s:{s:{s:{s:{s:{s:{s:{s:{s:{s:{s:{s:{s:{s:{s:i}}}}}}}}}}}}}}}}}}}}",
		"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13",
		"14", "15", "16", "17", "18", "19", "20", 1));
	ours = ps_json_canonical(v);
	theirs = json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
	n = strlen(theirs);
	assert_int_equal(strlen(ours), n + 1);
	assert_memory_equal(ours, theirs, n);
	compact = ps_json_compact(v);
	jc = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
	assert_string_equal(compact, jc);
	free(ours);
	free(theirs);
	free(compact);
	free(jc);
	json_decref(v);
}

static void json_pointers(void **state)
{
	json_t *v = json_pack("{s:{s:s, s:[i,i]}}", "a", "b/c~", "x", "arr", 7, 8);
	char *p;

	(void)state;
	assert_string_equal(json_string_value(ps_json_pointer_get(v, "/a/b~1c~0")), "x");
	assert_int_equal(json_integer_value(ps_json_pointer_get(v, "/a/arr/1")), 8);
	assert_null(ps_json_pointer_get(v, "/a/missing"));
	assert_null(ps_json_pointer_get(v, "a"));
	assert_ptr_equal(ps_json_pointer_get(v, ""), v);
	p = ps_json_pointer_append("/a", "b/c~");
	assert_string_equal(p, "/a/b~1c~0");
	free(p);
	json_decref(v);
}

/* Only a string whose whole text is one JSON object gives an object. */
static void json_string_object_parses_only_objects(void **state)
{
	static const char *const not_objects[] = {
		"", "[]", "1", "\"x\"", "{", "{} {}", "{\"a\":1,\"a\":2}", "null",
	};
	json_t *v, *o;
	size_t i;

	(void)state;
	v = json_string("{\"b\": [1], \"a\": {}}");
	o = ps_json_string_object(v);
	assert_true(json_is_object(o));
	assert_int_equal(json_object_size(o), 2);
	assert_true(json_is_array(json_object_get(o, "b")));
	json_decref(o);
	json_decref(v);
	for (i = 0; i < sizeof(not_objects) / sizeof(*not_objects); i++) {
		v = json_string(not_objects[i]);
		assert_null(ps_json_string_object(v));
		json_decref(v);
	}
	v = json_object();
	assert_null(ps_json_string_object(v));
	json_decref(v);
	assert_null(ps_json_string_object(NULL));
}

/* Decoding a segment undoes ps_json_pointer_push. */
static void json_pointer_segments_round_trip(void **state)
{
	static const char *const segs[] = { "", "a", "a/b", "~", "~0~1", "x~",
					    "/~/" };
	ps_buf p = PS_BUF_INIT, d = PS_BUF_INIT;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(segs) / sizeof(*segs); i++) {
		ps_buf_reset(&p);
		ps_json_pointer_push(&p, segs[i]);
		ps_json_pointer_decode(&d, p.ptr + 1, p.ptr + p.len);
		assert_string_equal(d.ptr, segs[i]);
	}
	/* A '~' not followed by 0 or 1 is kept as it is. */
	ps_json_pointer_decode(&d, "a~2~", strchr("a~2~", '\0'));
	assert_string_equal(d.ptr, "a~2~");
	ps_buf_release(&p);
	ps_buf_release(&d);
}

/* The one HMAC agrees with OpenSSL's for every key length around the hash
 * and block sizes (kept as is, padded, hashed first), prepared or not, and
 * with RFC 4231's test case 2. */
static void hmac_matches_openssl(void **state)
{
	unsigned char key[200], data[100], ours[PS_HMAC_SIZE],
		theirs[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char hex[2 * PS_HMAC_SIZE + 1];
	size_t klen, i;
	ps_hmac h;

	(void)state;
	for (i = 0; i < sizeof(key); i++)
		key[i] = (unsigned char)(i * 7 + 1);
	for (i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i ^ 0x5a);
	for (klen = 0; klen <= 130; klen++) {
		assert_int_equal(ps_hmac_sha256_once(ours, key, klen, data,
						     klen % sizeof(data)),
				 0);
		assert_non_null(HMAC(EVP_sha256(), key, (int)klen, data,
				     klen % sizeof(data), theirs, &n));
		assert_int_equal(n, PS_HMAC_SIZE);
		assert_memory_equal(ours, theirs, PS_HMAC_SIZE);
	}
	assert_int_equal(ps_hmac_init(&h, key, 40), 0);
	for (i = 0; i < 3; i++) {
		assert_int_equal(ps_hmac_sha256(ours, &h, data, 10 * i), 0);
		assert_non_null(
			HMAC(EVP_sha256(), key, 40, data, 10 * i, theirs, &n));
		assert_memory_equal(ours, theirs, PS_HMAC_SIZE);
	}
	ps_hmac_release(&h);
	ps_hmac_release(&h); /* idempotent */
	assert_int_equal(ps_hmac_sha256_once(ours, "Jefe", 4,
					     "what do ya want for nothing?",
					     28),
			 0);
	ps_hex(hex, ours, PS_HMAC_SIZE);
	assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c7"
				 "5a003f089d2739839dec58b964ec3843");
}

/* ASCII case mapping changes letters only, never other bytes. */
static void ascii_case_mapping(void **state)
{
	char s[] = "Retry-After: 1 \xc3\x89x";

	(void)state;
	assert_string_equal(ps_ascii_lowercase(s), "retry-after: 1 \xc3\x89x");
	assert_string_equal(ps_ascii_uppercase(s), "RETRY-AFTER: 1 \xc3\x89X");
	assert_int_equal(ps_ascii_tolower('@'), '@');
	assert_int_equal(ps_ascii_toupper('`'), '`');
	assert_int_equal(ps_strcasecmp("Content-Type", "content-TYPE"), 0);
	assert_true(ps_strcasecmp("a", "ab") < 0);
	assert_int_equal(ps_strncasecmp("Retry-After: 5", "retry-after:", 12),
			 0);
	assert_true(ps_strncasecmp("Retry\rAfter:", "retry-after:", 12) != 0);
	assert_true(ps_strncasecmp("ab", "abc", 3) < 0);
	assert_int_equal(ps_strncasecmp("abX", "ABy", 2), 0);
}

static void hex_encoding(void **state)
{
	const unsigned char data[] = { 0x00, 0xab, 0xff };
	char out[7];

	(void)state;
	ps_hex(out, data, 3);
	assert_string_equal(out, "00abff");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(buf_starts_empty_and_never_null),
		cmocka_unit_test(buf_appends_and_formats),
		cmocka_unit_test(buf_refuses_past_max),
		cmocka_unit_test(buf_failure_is_sticky),
		cmocka_unit_test(buf_printable_escapes_controls),
		cmocka_unit_test(buf_wipe_mode_grows_and_stays),
		cmocka_unit_test(canonical_json_refuses_past_limit),
		cmocka_unit_test(error_formats_location),
		cmocka_unit_test(error_cut_keeps_utf8_whole),
		cmocka_unit_test(diags_are_bounded),
		cmocka_unit_test(oom_calls_the_handler),
		cmocka_unit_test(suggest_finds_typos),
		cmocka_unit_test(events_and_names),
		cmocka_unit_test(parse_long_is_strict),
		cmocka_unit_test(utf8_validation),
		cmocka_unit_test(canonical_json_is_sorted_indented),
		cmocka_unit_test(canonical_json_matches_jansson),
		cmocka_unit_test(json_pointers),
		cmocka_unit_test(json_string_object_parses_only_objects),
		cmocka_unit_test(json_pointer_segments_round_trip),
		cmocka_unit_test(hmac_matches_openssl),
		cmocka_unit_test(ascii_case_mapping),
		cmocka_unit_test(hex_encoding),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
