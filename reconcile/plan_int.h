/*
 * Private to the files of planning (plan.c, plan_doc.c, plan_diff.c,
 * plan_memo.c, plan_json.c): the helpers they share. Not for other modules.
 */
#ifndef PS_PLAN_INT_H
#define PS_PLAN_INT_H

#include <jansson.h>
#include <stdbool.h>

#include "memo.h"
#include "plan.h"

/* plan_doc.c: the account's document from its plan and the given applied
 * callbacks (reference stolen) and live laid over them. New reference. */
json_t *plan_make_doc(const ps_account_plan *ap, json_t *applied,
		      const json_t *live);
/* plan_doc.c: is the snapshot document `doc` written with another API key
 * or fingerprint key than the account's (its fingerprints then cannot be
 * compared)? */
bool plan_doc_is_stale(const json_t *doc, const ps_account *acct,
		       const ps_fpkey *k);
/* plan_doc.c: the same callback (both NULL, or equal JSON)? */
bool plan_same_cb(const json_t *a, const json_t *b);
/* plan_doc.c: the applied callbacks with a document's "live" entries laid
 * over them (null: absent live). New reference. */
json_t *plan_known_live(const json_t *applied, const json_t *live);

/* plan_json.c: how many callbacks the account's base holds (believed
 * live), whether it is settled, packed or neither. */
size_t plan_base_size(const ps_account_plan *ap);

/* plan_diff.c */
json_t *plan_seal_live_one(const json_t *raw, const ps_callback *want,
			   const json_t *snap_cb, const ps_fpkey *k);
json_t *plan_diff_fields(const json_t *before, const json_t *after);

/* plan_memo.c */
/* What the first pass learnt for the memo: the account's input digest
 * and, when the document was computed, its blob id. */
struct memo_note {
	unsigned char digest[PS_MEMO_DIGEST];
	unsigned char blob[PS_MEMO_BLOB];
	bool have_digest, have_blob;
};

void plan_memo_digest(unsigned char out[PS_MEMO_DIGEST], const ps_account *acct,
		      const ps_fpkey *k);
bool plan_memo_matches(const ps_state *st, ps_account_plan *ap, json_t *desired,
		       struct memo_note *note);

#endif
