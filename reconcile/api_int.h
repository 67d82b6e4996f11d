/*
 * Private to the API client's files (api*.c): what they share and nobody
 * else may use. The public contract is api.h.
 */
#ifndef PS_API_INT_H
#define PS_API_INT_H

#include <stddef.h>

#include "api.h"
#include "buf.h"

/* The API's own "message" from an error body, or "" (never NULL). */
void api_message(const ps_buf *body, char *out, size_t outlen);

#endif
