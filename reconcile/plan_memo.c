/*
 * Planning: the settle memo's input digest and its check (memo.h keeps
 * the file; plan.c asks).
 */
#include "plan_int.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"
#include "memo.h"
#include "util.h"
#include "version.h"
#include "banned.h"

/* ---- the settle memo ---- */

/* Bump when the same input makes another document (its layout, the
 * sealing, the encoding change): the memo then misses once, instead of
 * vouching for the blob an older pavesync wrote. The release is part of
 * the input too, so an upgrade never trusts an older memo. */
#define MEMO_INPUT_VERSION 2

/* The prefix of the input: the release, this version and the state
 * format, as text (each a literal, so the whole is one). */
#define MEMO_STR_(x) #x
#define MEMO_STR(x) MEMO_STR_(x)
#define MEMO_PREFIX                                                            \
	"pavesync memo " PAVESYNC_VERSION " input " MEMO_STR(                  \
		MEMO_INPUT_VERSION) " format " MEMO_STR(PS_STATE_FORMAT)

/*
 * Everything the account's document is made of (plan_make_doc of its sealed
 * desired callbacks): the account as configured (its digest: name, API key
 * and callbacks), this release and the state format, keyed with its
 * fingerprint key (so the key, hence the API secret or
 * PAVESYNC_FINGERPRINT_KEY, is part of it, and the digest can no more be
 * tested against than a fingerprint).
 */
void plan_memo_digest(unsigned char out[PS_MEMO_DIGEST], const ps_account *acct,
		      const ps_fpkey *k)
{
	/* The NUL ends the prefix, so that no digest extends it. */
	static const char prefix[] = MEMO_PREFIX;
	unsigned char in[sizeof(prefix) + PS_ACCOUNT_DIGEST];

	memcpy(in, prefix, sizeof(prefix));
	memcpy(in + sizeof(prefix), acct->digest, PS_ACCOUNT_DIGEST);
	ps_fpkey_mac(out, k, in, sizeof(in));
}

/*
 * The fast path of a no-drift plan: when the document the desired state
 * would produce is byte for byte the committed one (same blob id), every
 * callback is unchanged and nothing is unmanaged; the snapshot need not even
 * be read. The blob id computed is noted for the memo.
 */
bool plan_memo_matches(const ps_state *st, ps_account_plan *ap, json_t *desired,
		       struct memo_note *note)
{
	json_t *doc;
	char *text;

	if (!st)
		return false;
	doc = plan_make_doc(ap, json_incref(desired),
			    NULL); /* read only: no copy */
	text = ps_json_canonical(doc);
	/* Too large to encode: not the blob the snapshot has (which was
	 * encoded within the limit); the commit will refuse it. */
	note->have_blob =
		text && ps_state_blob_id(note->blob, text, strlen(text));
	free(text);
	json_decref(doc);
	return note->have_blob && ps_state_has_blob(st, ap->name, note->blob);
}
