/* HTTPS with client certificates ([http] tls-client-ca): libmicrohttpd asks for the client's
 * certificate and hvd verifies it before it routes a request. */
#pragma once

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

/* Whether conn's client showed a certificate signed by a CA of the daemon's trust list (the
 * client CA file); when not, why (n bytes) says what was wrong. */
bool http_tls_client_trusted(struct MHD_Connection *conn, char *why, size_t n);
