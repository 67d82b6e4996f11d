/*
 * libFuzzer target: ps_config_parse on arbitrary bytes must never crash,
 * hang, leak or touch memory it does not own; success or diagnostics are
 * both fine.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "config.h"
#include "config_int.h"
#include "banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int env_set;
	ps_config *cfg = NULL;
	ps_diags diags = PS_DIAGS_INIT;
	ps_config_limits lim;

	if (!env_set) {
		/* Give ${…} and the shorthand form something to find. */
		setenv("HOOK_TOKEN", "fuzz-token", 1);
		setenv("PAVE_API_KEY", "fuzz-key", 1);
		setenv("PAVE_API_SECRET", "fuzz-secret", 1);
		setenv("PAVE_USERNAME", "fuzz-user", 1);
		/* Build accounts while parsing from 32 on (not 1,500), so
		 * that inputs of a fuzzer's size reach that path. */
		ps_cfg_pipe_min_pairs = 32;
		env_set = 1;
	}
	ps_config_limits_init(&lim);
	ps_config_parse(&cfg, "fuzz.yaml", (const char *)data, size, &lim,
			&diags);
	ps_config_free(cfg);
	ps_diags_clear(&diags);
	return 0;
}
