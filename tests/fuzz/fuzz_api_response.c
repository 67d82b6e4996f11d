/*
 * libFuzzer target: ps_api_parse_response over arbitrary bytes, in all
 * four want_data/want_array combinations. The body comes straight from
 * the network, so it must never crash, leak or hang, and whatever it
 * returns must be the shape that was asked for.
 *
 * Seeds: tests/fuzz/corpus/api_response/.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "api.h"
#include "banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int i;

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
		} else if (out || rc != PS_EINVALID || !err.message[0]) {
			abort();
		}
		json_decref(out);
	}
	return 0;
}
