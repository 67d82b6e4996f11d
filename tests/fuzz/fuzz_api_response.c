/*
 * libFuzzer target: ps_api_parse_response over arbitrary bytes, in all
 * four want_data/want_array combinations. The body comes straight from
 * the network, so it must never crash, leak or hang, and whatever it
 * returns must be the shape that was asked for. Each callback it returns
 * is then sealed as the snapshot would store it, whatever the shape of its
 * fields: no header value and no payload that is not an object may stay
 * in clear.
 *
 * Seeds: tests/fuzz/corpus/api_response/.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "api.h"
#include "seal.h"
#include "banned.h"

static ps_fpkey key;
static int have_key;

/* The sealed callback keeps nothing the server sent in an odd shape. */
static void check_sealed(const json_t *cb)
{
	json_t *sealed, *h, *p, *v;
	const char *name;

	if (!json_is_object(cb))
		return;
	sealed = ps_seal_callback(cb, NULL, &key);
	if (!sealed)
		abort();
	h = json_object_get(sealed, "headers");
	p = json_object_get(sealed, "payload");
	if (json_is_object(h)) {
		json_object_foreach(h, name, v)
			if (!ps_seal_is_fingerprint(v))
				abort();
	} else if (!ps_seal_is_fingerprint(h)) {
		abort();
	}
	if (!json_is_object(p) && !ps_seal_is_fingerprint(p))
		abort();
	if (!json_is_string(json_object_get(sealed, "url")) ||
	    !json_is_string(json_object_get(sealed, "method")))
		abort();
	json_decref(sealed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int i;

	if (!have_key) {
		ps_fpkey_derive(&key, "fuzz", "fuzz-secret");
		have_key = 1;
	}
	for (i = 0; i < 4; i++) {
		bool want_data = i & 1, want_array = i & 2;
		json_t *out = NULL;
		ps_error err;
		int rc;

		ps_error_clear(&err);
		rc = ps_api_parse_response(&out, (const char *)data, size,
					   want_data, want_array, &err);
		if (rc == 0) {
			if (!out)
				abort();
			if (want_data && want_array ? !json_is_array(out)
						    : !json_is_object(out))
				abort();
			if (json_is_array(out)) {
				size_t j;
				json_t *cb;
				json_array_foreach(out, j, cb)
					check_sealed(cb);
			} else if (want_data) {
				check_sealed(out);
			}
		} else if (out || rc != PS_EINVALID || !err.message[0]) {
			abort();
		}
		json_decref(out);
	}
	return 0;
}
