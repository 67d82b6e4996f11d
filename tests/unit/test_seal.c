/* Unit tests for normalisation and keyed fingerprints (reconcile/seal.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>

#include "util.h"

#include "json.h"
#include "seal.h"

static json_t *parse(const char *s)
{
	json_t *v = json_loads(s, 0, NULL);

	assert_non_null(v);
	return v;
}

static void assert_json_eq(const json_t *a, const char *expected)
{
	json_t *b = parse(expected);
	char *sa = ps_json_compact(a), *sb = ps_json_compact(b);

	if (strcmp(sa, sb))
		fail_msg("got %s, expected %s", sa, sb);
	free(sa);
	free(sb);
	json_decref(b);
}

static int setup(void **state)
{
	(void)state;
	unsetenv("PAVESYNC_FINGERPRINT_KEY");
	return 0;
}

static void normalize_fills_defaults(void **state)
{
	json_t *in = parse("{\"event\":\"SESSION:COMPLETE\",\"api_key\":\"k\",\"url\":\"https://x\"}");
	json_t *n = ps_seal_normalize(in);

	(void)state;
	assert_json_eq(n, "{\"url\":\"https://x\",\"method\":\"POST\",\"headers\":{},\"payload\":{}}");
	json_decref(n);
	json_decref(in);
}

static void normalize_method_and_header_case(void **state)
{
	json_t *in = parse("{\"url\":\"u\",\"method\":\"put\",\"headers\":{\"X-Token\":\"a\"},"
			   "\"payload\":{\"b\":1,\"a\":[1,2]}}");
	json_t *n = ps_seal_normalize(in);

	(void)state;
	assert_json_eq(n, "{\"url\":\"u\",\"method\":\"PUT\",\"headers\":{\"x-token\":\"a\"},"
			  "\"payload\":{\"a\":[1,2],\"b\":1}}");
	json_decref(n);
	json_decref(in);
}

static void normalize_parses_string_objects(void **state)
{
	/* The API docs call headers/payload strings; accept either. */
	json_t *in = parse("{\"url\":\"u\",\"headers\":\"{\\\"A\\\":\\\"1\\\"}\","
			   "\"payload\":\"{\\\"k\\\":true}\"}");
	json_t *n = ps_seal_normalize(in);
	json_t *empty = parse("{\"url\":\"u\",\"headers\":\"\",\"payload\":null}");
	json_t *m = ps_seal_normalize(empty);

	(void)state;
	assert_json_eq(n, "{\"url\":\"u\",\"method\":\"POST\",\"headers\":{\"a\":\"1\"},\"payload\":{\"k\":true}}");
	assert_json_eq(m, "{\"url\":\"u\",\"method\":\"POST\",\"headers\":{},\"payload\":{}}");
	assert_null(ps_seal_normalize(json_null()));
	json_decref(n);
	json_decref(in);
	json_decref(m);
	json_decref(empty);
}

static void key_depends_on_secret_and_account(void **state)
{
	ps_fpkey a, b, c, d;

	(void)state;
	ps_fpkey_derive(&a, "main", "secret-1");
	ps_fpkey_derive(&b, "main", "secret-1");
	ps_fpkey_derive(&c, "main", "secret-2");
	ps_fpkey_derive(&d, "other", "secret-1");
	assert_memory_equal(a.key, b.key, 32);
	assert_string_equal(a.id, b.id);
	assert_string_not_equal(a.id, c.id);
	assert_string_not_equal(a.id, d.id);
	assert_int_equal(strlen(a.id), 12);
	ps_fpkey_release(&a);
	ps_fpkey_release(&b);
	ps_fpkey_release(&c);
	ps_fpkey_release(&d);
}

static void fingerprint_key_env_overrides_secret(void **state)
{
	ps_fpkey a, b;

	(void)state;
	setenv("PAVESYNC_FINGERPRINT_KEY", "team-key", 1);
	ps_fpkey_derive(&a, "main", "secret-1");
	ps_fpkey_derive(&b, "main", "secret-2");
	unsetenv("PAVESYNC_FINGERPRINT_KEY");
	/* With a dedicated key, rotating the API secret keeps fingerprints. */
	assert_string_equal(a.id, b.id);
	ps_fpkey_release(&a);
	ps_fpkey_release(&b);
}

/* Fingerprints stored in users' snapshots must not change between
 * releases: known key ids and fingerprints for a secret shorter than the
 * hash, one between hash and block size, one longer than the block. */
static void fingerprints_are_stable(void **state)
{
	static const struct {
		const char *secret, *id, *fp;
	} cases[] = {
		{ "s", "346c82cf66b2", "7dd014a14cc3d94c6ebe25aa7c96147c" },
		{ "0123456789012345678901234567890123456789", "09fee0811411",
		  "175d096c10d04b449ac3c238eeee7c05" },
		{ "0123456789012345678901234567890123456789"
		  "0123456789012345678901234567890123456789"
		  "01234567890123456789",
		  "537198070b6d", "6c1000f1c827cd854d4722894676bc5b" },
	};
	char out[80];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		ps_fpkey k;

		ps_fpkey_derive_with(&k, "main", cases[i].secret, NULL);
		assert_string_equal(k.id, cases[i].id);
		ps_seal_fingerprint(out, sizeof(out), &k, "Bearer hunter2", 14);
		assert_string_equal(out + strlen(PS_SENSITIVE_PREFIX),
				    cases[i].fp);
		ps_fpkey_release(&k);
	}
}

static void fingerprints_are_keyed(void **state)
{
	ps_fpkey a, c;
	char f1[80], f2[80], f3[80];

	(void)state;
	ps_fpkey_derive(&a, "main", "secret-1");
	ps_fpkey_derive(&c, "main", "secret-2");
	ps_seal_fingerprint(f1, sizeof(f1), &a, "Bearer t", 8);
	ps_seal_fingerprint(f2, sizeof(f2), &a, "Bearer t", 8);
	ps_seal_fingerprint(f3, sizeof(f3), &c, "Bearer t", 8);
	assert_string_equal(f1, f2);
	assert_string_not_equal(f1, f3);
	assert_int_equal(strlen(f1), strlen(PS_SENSITIVE_PREFIX) + 32);
	assert_non_null(strstr(f1, PS_SENSITIVE_PREFIX));
	{
		json_t *j = json_string(f1);
		assert_true(ps_seal_is_fingerprint(j));
		json_decref(j);
	}
	ps_fpkey_release(&a);
	ps_fpkey_release(&c);
}

static void seal_hides_headers_and_listed_values(void **state)
{
	ps_fpkey k;
	json_t *spec = parse("{\"url\":\"https://h/x?t=SECRETURL\",\"method\":\"POST\","
			     "\"headers\":{\"Authorization\":\"Bearer SECRETHDR\",\"X-Plain\":\"v\"},"
			     "\"payload\":{\"token\":\"SECRETPAY\",\"n\":{\"deep\":42},\"keep\":\"me\"}}");
	json_t *sens = parse("[\"/url\",\"/headers/Authorization\",\"/payload/token\",\"/payload/n\"]");
	json_t *sealed;
	char *text;

	(void)state;
	ps_fpkey_derive(&k, "main", "s");
	sealed = ps_seal_callback(spec, sens, &k);
	text = ps_json_compact(sealed);
	assert_null(strstr(text, "SECRET"));
	/* Every header value is sealed, listed or not. */
	assert_true(ps_seal_is_fingerprint(ps_json_pointer_get(sealed, "/headers/x-plain")));
	assert_true(ps_seal_is_fingerprint(ps_json_pointer_get(sealed, "/headers/authorization")));
	assert_true(ps_seal_is_fingerprint(ps_json_pointer_get(sealed, "/url")));
	assert_true(ps_seal_is_fingerprint(ps_json_pointer_get(sealed, "/payload/n")));
	assert_string_equal(json_string_value(ps_json_pointer_get(sealed, "/payload/keep")), "me");
	free(text);
	json_decref(sealed);
	json_decref(sens);
	json_decref(spec);
	ps_fpkey_release(&k);
}

static void seal_leaves_its_input_alone(void **state)
{
	ps_fpkey k;
	json_t *spec = parse("{\"url\":\"u\",\"headers\":{\"A\":\"h\"},"
			     "\"payload\":{\"t\":\"tok\",\"n\":{\"x\":1}}}");
	json_t *before = json_deep_copy(spec);
	json_t *sens = parse("[\"/url\",\"/headers/A\",\"/payload/t\",\"/payload/n/x\"]");
	json_t *sealed;

	(void)state;
	ps_fpkey_derive(&k, "main", "s");
	sealed = ps_seal_callback(spec, sens, &k);
	assert_true(ps_seal_is_fingerprint(ps_json_pointer_get(sealed, "/payload/n/x")));
	assert_true(json_equal(spec, before));
	json_decref(sealed);
	json_decref(sens);
	json_decref(before);
	json_decref(spec);
	ps_fpkey_release(&k);
}

static void seal_is_deterministic_and_idempotent(void **state)
{
	ps_fpkey k;
	json_t *spec = parse("{\"url\":\"u\",\"headers\":{\"A\":\"x\"}}");
	json_t *s1, *s2, *s3;

	(void)state;
	ps_fpkey_derive(&k, "main", "s");
	s1 = ps_seal_callback(spec, NULL, &k);
	s2 = ps_seal_callback(spec, NULL, &k);
	s3 = ps_seal_callback(s1, NULL, &k); /* sealing sealed values changes nothing */
	assert_true(json_equal(s1, s2));
	assert_true(json_equal(s1, s3));
	json_decref(s1);
	json_decref(s2);
	json_decref(s3);
	json_decref(spec);
	ps_fpkey_release(&k);
}

static void seal_header_case_does_not_matter(void **state)
{
	ps_fpkey k;
	json_t *a = parse("{\"url\":\"u\",\"headers\":{\"X-Token\":\"v\"}}");
	json_t *b = parse("{\"url\":\"u\",\"headers\":{\"x-token\":\"v\"}}");
	json_t *c = parse("{\"url\":\"u\",\"headers\":{\"x-token\":\"w\"}}");
	json_t *sa, *sb, *sc;

	(void)state;
	ps_fpkey_derive(&k, "main", "s");
	sa = ps_seal_callback(a, NULL, &k);
	sb = ps_seal_callback(b, NULL, &k);
	sc = ps_seal_callback(c, NULL, &k);
	assert_true(json_equal(sa, sb));
	assert_false(json_equal(sa, sc)); /* a rotated value is seen as drift */
	json_decref(sa);
	json_decref(sb);
	json_decref(sc);
	json_decref(a);
	json_decref(b);
	json_decref(c);
	ps_fpkey_release(&k);
}

static void fingerprint_is_hmac_sha256(void **state)
{
	ps_fpkey k;
	unsigned char mac[32];
	unsigned int n = 32;
	char hex[65], fp[80], want[100];

	(void)state;
	ps_fpkey_derive(&k, "main", "s");
	HMAC(EVP_sha256(), k.key, 32, (const unsigned char *)"Bearer t", 8, mac, &n);
	ps_hex(hex, mac, 16);
	snprintf(want, sizeof(want), "%s%s", PS_SENSITIVE_PREFIX, hex);
	ps_seal_fingerprint(fp, sizeof(fp), &k, "Bearer t", 8);
	assert_string_equal(fp, want);
	/* again: the precomputed state is reused, not consumed */
	ps_seal_fingerprint(fp, sizeof(fp), &k, "Bearer t", 8);
	assert_string_equal(fp, want);
	ps_fpkey_release(&k);
	ps_fpkey_release(&k);
}

/* ps_fpkey_mac is HMAC-SHA256 with the key, whether the key's digest
 * states are set up (a fingerprint was taken) or not (just derived, or
 * idle), and so is the key id. */
static void key_mac_with_and_without_states(void **state)
{
	static const char data[] = "pavesync memo input";
	unsigned char want[32], got[32], id[32];
	unsigned int n = 32;
	char fp[80], hex[13];
	ps_fpkey k;

	(void)state;
	ps_fpkey_derive(&k, "main", "s");
	HMAC(EVP_sha256(), k.key, 32, (const unsigned char *)"key id", 6, id,
	     &n);
	ps_hex(hex, id, 6);
	assert_string_equal(k.id, hex);
	HMAC(EVP_sha256(), k.key, 32, (const unsigned char *)data,
	     sizeof(data), want, &n);
	ps_fpkey_mac(got, &k, data, sizeof(data));
	assert_memory_equal(got, want, 32);
	ps_seal_fingerprint(fp, sizeof(fp), &k, "x", 1); /* sets them up */
	ps_fpkey_mac(got, &k, data, sizeof(data));
	assert_memory_equal(got, want, 32);
	ps_fpkey_idle(&k);
	ps_fpkey_mac(got, &k, data, sizeof(data));
	assert_memory_equal(got, want, 32);
	ps_fpkey_release(&k);
}

/* The documented key scheme, computed with OpenSSL's own HMAC, for secrets
 * shorter than, within and longer than SHA-256's 64-byte block. */
static void key_derivation_is_documented_hmac(void **state)
{
	static const char *const secrets[] = {
		"s", "0123456789abcdef0123456789abcdef",
		"0123456789abcdef0123456789abcdef0",
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef!",
		NULL,
	};
	const char ctx[] = "pavesync fingerprint v1\0main";
	const char *const *sec;

	(void)state;
	for (sec = secrets; *sec; sec++) {
		ps_fpkey k;
		unsigned char want[32];
		unsigned int n = 32;

		ps_fpkey_derive(&k, "main", *sec);
		HMAC(EVP_sha256(), *sec, (int)strlen(*sec),
		     (const unsigned char *)ctx, sizeof(ctx) - 1, want, &n);
		assert_memory_equal(k.key, want, 32);
		ps_fpkey_release(&k);
	}
}

static void payload_key_order_ignored(void **state)
{
	ps_fpkey k;
	json_t *a = parse("{\"url\":\"u\",\"payload\":{\"a\":1,\"b\":{\"c\":2,\"d\":3}}}");
	json_t *b = parse("{\"url\":\"u\",\"payload\":{\"b\":{\"d\":3,\"c\":2},\"a\":1}}");
	json_t *sa, *sb;

	(void)state;
	ps_fpkey_derive(&k, "main", "s");
	sa = ps_seal_callback(a, NULL, &k);
	sb = ps_seal_callback(b, NULL, &k);
	assert_true(json_equal(sa, sb));
	json_decref(sa);
	json_decref(sb);
	json_decref(a);
	json_decref(b);
	ps_fpkey_release(&k);
}

/* Whatever shape the server gives headers or payload in, nothing of it is
 * kept in clear (issue 9 #1): a string that is not a JSON object, a list,
 * a number is sealed whole; a JSON string holding an object is taken
 * apart and sealed like an object. */
static void seal_odd_shapes_from_the_server(void **state)
{
	static const char *const cases[] = {
		"{\"url\":\"u\",\"headers\":\"{'Authorization': 'Bearer SECRET1'}\"}",
		"{\"url\":\"u\",\"headers\":\"Authorization: Bearer SECRET2\"}",
		"{\"url\":\"u\",\"headers\":[\"Authorization: Bearer SECRET3\"]}",
		"{\"url\":\"u\",\"headers\":\"{\\\"Authorization\\\":\\\"Bearer SECRET4\\\"}\"}",
		"{\"url\":\"u\",\"payload\":\"token=SECRET5\"}",
		"{\"url\":\"u\",\"payload\":[\"SECRET6\"]}",
		"{\"url\":\"u\",\"payload\":\"{\\\"token\\\":\\\"SECRET7\\\"}\"}",
		"{\"url\":{\"x\":\"SECRET8\"},\"method\":[\"SECRET9\"]}",
		NULL,
	};
	json_t *sens = parse("[\"/payload/token\"]");
	ps_fpkey k;
	size_t i;

	(void)state;
	ps_fpkey_derive(&k, "main", "s");
	for (i = 0; cases[i]; i++) {
		json_t *spec = parse(cases[i]), *sealed, *again;
		char *text;

		sealed = ps_seal_callback(spec, sens, &k);
		assert_non_null(sealed);
		text = ps_json_compact(sealed);
		if (strstr(text, "SECRET"))
			fail_msg("case %zu kept a secret: %s", i, text);
		/* Sealing what was sealed changes nothing. */
		again = ps_seal_callback(sealed, sens, &k);
		if (!json_equal(sealed, again))
			fail_msg("case %zu: sealing twice differs", i);
		free(text);
		json_decref(again);
		json_decref(sealed);
		json_decref(spec);
	}
	ps_fpkey_release(&k);
	json_decref(sens);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(normalize_fills_defaults, setup),
		cmocka_unit_test_setup(normalize_method_and_header_case, setup),
		cmocka_unit_test_setup(normalize_parses_string_objects, setup),
		cmocka_unit_test_setup(key_depends_on_secret_and_account, setup),
		cmocka_unit_test_setup(fingerprint_key_env_overrides_secret, setup),
		cmocka_unit_test_setup(fingerprints_are_keyed, setup),
		cmocka_unit_test_setup(fingerprints_are_stable, setup),
		cmocka_unit_test_setup(seal_hides_headers_and_listed_values, setup),
		cmocka_unit_test_setup(seal_leaves_its_input_alone, setup),
		cmocka_unit_test_setup(seal_is_deterministic_and_idempotent, setup),
		cmocka_unit_test_setup(seal_header_case_does_not_matter, setup),
		cmocka_unit_test_setup(fingerprint_is_hmac_sha256, setup),
		cmocka_unit_test_setup(key_derivation_is_documented_hmac, setup),
		cmocka_unit_test_setup(key_mac_with_and_without_states, setup),
		cmocka_unit_test_setup(payload_key_order_ignored, setup),
		cmocka_unit_test_setup(seal_odd_shapes_from_the_server, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
