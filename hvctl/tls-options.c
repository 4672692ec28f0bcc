/* --ca, --cert, --key: the CA that signed hvd's certificate (instead of the system's), and the
 * client certificate and key an hvd with [http] tls-client-ca asks for. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hvctl.h"
#include "macro.h"
#include "tls-options.h"

static int check_readable(const char *option, const char *path, Error *e)
{
    _cleanup_close_ int fd = -EBADF;

    if (!path)
        return 0;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return error_set_errno(e, -errno, "%s %s: %m", option, path);
    return 0;
}

int tls_options_check(Error *e)
{
    int r;

    if (!arg.tls_cert != !arg.tls_key)
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "--cert and --key go together (a client certificate and its key)");
    if ((r = check_readable("--ca", arg.tls_ca, e)) < 0 ||
        (r = check_readable("--cert", arg.tls_cert, e)) < 0 ||
        (r = check_readable("--key", arg.tls_key, e)) < 0)
        return r;
    return 0;
}

void tls_options_apply(CURL *curl, char *errbuf)
{
    errbuf[0] = 0;
    (void)curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    if (arg.tls_ca)
        (void)curl_easy_setopt(curl, CURLOPT_CAINFO, arg.tls_ca);
    if (arg.tls_cert) {
        (void)curl_easy_setopt(curl, CURLOPT_SSLCERT, arg.tls_cert);
        (void)curl_easy_setopt(curl, CURLOPT_SSLKEY, arg.tls_key);
    }
}

void tls_transfer_error(CURLcode cc, const char *errbuf, const char *base, char *out, size_t n)
{
    const char *hint = "";

    if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE)
        hint = " (is --ca the CA that signed hvd's certificate?)";
    else if (cc == CURLE_SSL_CERTPROBLEM)
        hint = " (check --cert and --key)";
    else if (cc == CURLE_SSL_CONNECT_ERROR || cc == CURLE_RECV_ERROR || cc == CURLE_SEND_ERROR) {
        if (strneq(base, "https://", 8))
            hint = " (does hvd serve HTTPS there, and does it want a client certificate: "
                   "--cert and --key?)";
    } else if (cc == CURLE_GOT_NOTHING && strneq(base, "http://", 7))
        hint = " (hvd may serve HTTPS there: try an https:// URL)";
    (void)snprintf(out, n, "%s%s", errbuf && errbuf[0] ? errbuf : curl_easy_strerror(cc), hint);
}
