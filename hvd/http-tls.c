/* The client certificate check of HTTPS requests, through the GnuTLS session libmicrohttpd
 * made for the connection (its credentials hold tls-client-ca as the trust list). */
#include <gnutls/gnutls.h>
#include <stdio.h>

#include "http-tls.h"

bool http_tls_client_trusted(struct MHD_Connection *conn, char *why, size_t n)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    gnutls_session_t session = info ? (gnutls_session_t)info->tls_session : NULL;
    gnutls_datum_t text = {};
    unsigned status = 0;
    int r;

    if (!session) {
        (void)snprintf(why, n, "the connection is not TLS");
        return false;
    }
    r = gnutls_certificate_verify_peers2(session, &status);
    if (r == GNUTLS_E_NO_CERTIFICATE_FOUND) {
        (void)snprintf(why, n, "the client showed no certificate");
        return false;
    }
    if (r < 0) {
        (void)snprintf(why, n, "the client certificate cannot be verified: %s", gnutls_strerror(r));
        return false;
    }
    if (status == 0)
        return true;
    (void)gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0);
    (void)snprintf(why, n, "the client certificate is not trusted (%s)",
                   text.data ? (const char *)text.data : "no reason given");
    gnutls_free(text.data);
    return false;
}
