/*
 * Saved plan files: a plan written by `plan -o` and checked by `apply --plan`.
 */
#ifndef PS_PLAN_FILE_H
#define PS_PLAN_FILE_H

#include <stdbool.h>

#include "error.h"
#include "plan.h"

/* Saved plans (plan -o / apply --plan): ps_plan_to_json's document plus what
 * is needed to refuse a stale plan. Holds no secret. */
int ps_plan_save(const ps_plan *plan, const char *path, ps_error *err);

/*
 * Check that `fresh` (built now from the current config, snapshot and URL)
 * is exactly the plan saved at `path`. PS_ESTALE with the reason when the
 * config, snapshot, API URL or any change differs.
 */
int ps_plan_check_saved(const ps_plan *fresh, const char *path, ps_error *err);

/* Was the saved plan made with --refresh? (so the caller re-reads live) */
int ps_plan_saved_refreshed(bool *out, const char *path, ps_error *err);

#endif
