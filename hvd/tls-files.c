/* Certificate files into GnuTLS credentials, with errors that name the file and the fault. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "macro.h"
#include "tls-files.h"

static int check_readable(const char *what, const char *kind, const char *path, Error *e)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

    if (fd < 0)
        return error_set_errno(e, -errno, "%s: cannot read the %s %s: %m", what, kind, path);
    return 0;
}

int tls_files_load(const TlsFiles *f, const char *what, gnutls_certificate_credentials_t *ret,
                   Error *e)
{
    gnutls_certificate_credentials_t cred = NULL;
    int r;

    *ret = NULL;
    if ((f->cert && (r = check_readable(what, "certificate", f->cert, e)) < 0) ||
        (f->key && (r = check_readable(what, "key", f->key, e)) < 0) ||
        (f->ca && (r = check_readable(what, "CA file", f->ca, e)) < 0))
        return r;
    if (gnutls_certificate_allocate_credentials(&cred) < 0)
        return error_set_errno(e, -ENOMEM, "Out of memory");
    if (f->cert && f->key) {
        r = gnutls_certificate_set_x509_key_file(cred, f->cert, f->key, GNUTLS_X509_FMT_PEM);
        if (r < 0) {
            gnutls_certificate_free_credentials(cred);
            return error_setf(e, ERROR_INVALID_ARGUMENT, "%s: the certificate %s and key %s: %s",
                              what, f->cert, f->key,
                              r == GNUTLS_E_CERTIFICATE_KEY_MISMATCH
                                  ? "the key does not belong to the certificate"
                                  : gnutls_strerror(r));
        }
    }
    if (f->ca) {
        r = gnutls_certificate_set_x509_trust_file(cred, f->ca, GNUTLS_X509_FMT_PEM);
        if (r <= 0) {
            gnutls_certificate_free_credentials(cred);
            return error_setf(e, ERROR_INVALID_ARGUMENT, "%s: the CA file %s: %s", what, f->ca,
                              r == 0 ? "it holds no PEM certificate" : gnutls_strerror(r));
        }
    }
    *ret = cred;
    return 0;
}

int tls_files_check(const TlsFiles *f, const char *what, Error *e)
{
    gnutls_certificate_credentials_t cred;
    int r;

    if (!f->cert != !f->key)
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "%s: a certificate and its key go together (one is set, not the other)",
                          what);
    r = tls_files_load(f, what, &cred, e);
    if (r >= 0)
        gnutls_certificate_free_credentials(cred);
    return r;
}
