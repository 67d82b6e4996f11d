/*
 * The API base URL check (ps_api_check_url, see api.h): https anywhere,
 * plain http only to a loopback host.
 */
#include "api.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>

#include "api_curl.h"
#include "util.h"
#include "banned.h"

static bool host_is_loopback(const char *host)
{
	char tmp[INET6_ADDRSTRLEN + 2];
	struct in_addr a4;
	struct in6_addr a6;
	size_t n = strlen(host);

	if (!ps_strcasecmp(host, "localhost") ||
	    !ps_strcasecmp(host, "localhost."))
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	/* curl hands IPv6 hosts back in brackets; accept both spellings. */
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		if (n - 2 >= sizeof(tmp))
			return false;
		memcpy(tmp, host + 1, n - 2);
		tmp[n - 2] = '\0';
		host = tmp;
	}
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return !memcmp(&a6, &in6addr_loopback, sizeof(a6));
	return false;
}

int ps_api_check_url(const char *url, ps_error *err)
{
	CURLU *u = NULL;
	CURLUcode uc;
	char *scheme = NULL, *host = NULL, *part = NULL;
	int rc = PS_EINVALID;

	if (!url || !*url)
		return ps_error_set(err, PS_EINVALID, "API URL is empty");
	/* The parser is libcurl's own, so what passes here is what it will
	 * request: the check loads libcurl (a run checks the URL just before
	 * its first request). */
	if ((rc = api_curl_load(err)) < 0)
		return rc;
	rc = PS_EINVALID;
	u = api_curl.url();
	if (!u)
		ps_oom();
	uc = api_curl.url_set(u, CURLUPART_URL, url, 0);
	if (uc != CURLUE_OK) {
		ps_error_set(err, PS_EINVALID, "invalid API URL \"%s\": %s",
			     url, api_curl.url_strerror(uc));
		goto cleanup;
	}
	if (api_curl.url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcmp(scheme, "https") && strcmp(scheme, "http"))) {
		ps_error_set(err, PS_EINVALID,
			     "invalid API URL \"%s\": only https (or http to a "
			     "loopback host) is supported",
			     url);
		goto cleanup;
	}
	if (api_curl.url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    !*host) {
		ps_error_set(err, PS_EINVALID,
			     "invalid API URL \"%s\": no host", url);
		goto cleanup;
	}
	if (api_curl.url_get(u, CURLUPART_QUERY, &part, 0) == CURLUE_OK ||
	    api_curl.url_get(u, CURLUPART_FRAGMENT, &part, 0) == CURLUE_OK) {
		ps_error_set(err, PS_EINVALID,
			     "invalid API URL \"%s\": a query or fragment is "
			     "not allowed",
			     url);
		goto cleanup;
	}
	if (!strcmp(scheme, "http") && !host_is_loopback(host)) {
		ps_error_set(err, PS_EINVALID,
			     "API URL \"%s\": plain http is only allowed for "
			     "loopback hosts; use https",
			     url);
		goto cleanup;
	}
	rc = 0;
cleanup:
	api_curl.free(scheme);
	api_curl.free(host);
	api_curl.free(part);
	api_curl.url_cleanup(u);
	return rc;
}
