/* [http] tls-cert, tls-key, tls-client-ca and [migrate] tls-ca, tls-cert, tls-key: set together
 * as they must be, and readable, well-formed, matching files. */
#include "tls-config.h"
#include "tls-files.h"

int tls_config_check(const HvdConfig *c, Error *e)
{
    TlsFiles http = {.cert = c->http_tls_cert, .key = c->http_tls_key, .ca = c->http_tls_client_ca};
    TlsFiles migrate = {
        .cert = c->migrate_tls_cert, .key = c->migrate_tls_key, .ca = c->migrate_tls_ca};
    int r;

    if (!http.cert != !http.key)
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "[http] tls-cert and tls-key must be set together");
    if (http.ca && !http.cert)
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "[http] tls-client-ca needs tls-cert and tls-key (client certificates "
                          "are asked for over HTTPS only)");
    r = tls_files_check(&http, "[http]", e);
    if (r < 0)
        return r;
    if (!migrate.cert != !migrate.key)
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "[migrate] tls-cert and tls-key must be set together");
    return tls_files_check(&migrate, "[migrate]", e);
}
