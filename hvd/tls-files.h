/* The certificate files of one side of a TLS connection, loaded into GnuTLS credentials, and
 * checked at start-up so that a file that cannot be read, does not parse or does not match
 * its key is named before any connection needs it. */
#pragma once

#include <gnutls/gnutls.h>
#include <stdbool.h>

#include "error.h"

/* File names, each may be NULL.
 * A client: ca verifies the server (required), cert and key are shown when the server asks.
 * A server: cert and key are shown (required); ca, when set, is the CA a client certificate
 * must be signed by, and one is then required. */
typedef struct TlsFiles {
    const char *ca;
    const char *cert;
    const char *key;
} TlsFiles;

/* Loads f into new credentials in *ret (free with gnutls_certificate_free_credentials). e
 * says which file is wrong and why, prefixed by what ("[http] tls-cert"-like context). */
int tls_files_load(const TlsFiles *f, const char *what, gnutls_certificate_credentials_t *ret,
                   Error *e);

/* Checks f as tls_files_load() does, and that cert and key go together when either is set. */
int tls_files_check(const TlsFiles *f, const char *what, Error *e);
