/*
 * PAVE domain rules (see pave.h).
 */
#include "pave.h"

#include <string.h>

#include "banned.h"

/* The events the PAVE API supports. Add a new one here; nothing else. */
const char *const ps_pave_events[] = {
	"SESSION:SMS_PROCESS", "SESSION:STAGE_CHANGE", "SESSION:STATUS_CHANGE",
	"SESSION:COMPLETE",    "SESSION:NOTE_INSERT",  NULL,
};

bool ps_pave_event_is_known(const char *event)
{
	const char *const *e;

	for (e = ps_pave_events; *e; e++)
		if (!strcmp(*e, event))
			return true;
	return false;
}

bool ps_pave_account_name_is_valid(const char *name)
{
	size_t i;

	if (!name || !((name[0] >= 'a' && name[0] <= 'z') ||
		       (name[0] >= '0' && name[0] <= '9')))
		return false;
	for (i = 1; name[i]; i++) {
		char c = name[i];
		if (i > 62)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}
