/* hvctl's HTTPS client settings (--ca, --cert, --key) on each libcurl handle, and what a failed
 * transfer says (libcurl's own detail, and a hint when TLS is the likely cause). */
#pragma once

#include <curl/curl.h>
#include <stddef.h>

#include "error.h"

/* Checks that the files of --ca, --cert and --key (those given) can be read, and that --cert
 * and --key come together; e says which is wrong. */
int tls_options_check(Error *e);

/* Sets --ca, --cert and --key on curl, and errbuf (CURL_ERROR_SIZE bytes) as its error buffer. */
void tls_options_apply(CURL *curl, char *errbuf);

/* Writes into out (n bytes) why a transfer to base failed with cc: errbuf's detail when curl
 * left one, and what to check when TLS is involved. */
void tls_transfer_error(CURLcode cc, const char *errbuf, const char *base, char *out, size_t n);
