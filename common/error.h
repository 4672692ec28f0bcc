/* Errors that carry a kind and a message, so every surface can say what was wrong. */
#pragma once

#include <stdarg.h>

#include "macro.h"
#include "string-table.h"

/* What went wrong, independent of surface: each maps to one D-Bus error name, one HTTP status
 * and one hvctl exit code. */
typedef enum ErrorKind {
    ERROR_FAILED,           /* an operation failed for a reason outside the caller's control */
    ERROR_NO_SUCH_DOMAIN,   /* the named domain does not exist */
    ERROR_DOMAIN_EXISTS,    /* a domain with that name or UUID already exists */
    ERROR_INVALID_ARGUMENT, /* a field is missing, unknown, of the wrong type or out of range */
    ERROR_INVALID_STATE,    /* the operation is not allowed in the domain's current state */
    ERROR_INSUFFICIENT_RESOURCES, /* the host cannot fit the request under the allocation policy */
    ERROR_ACCESS_DENIED,          /* the caller may not mutate */
    ERROR_DRIVER_UNAVAILABLE,     /* the domain's driver cannot be reached */
    ERROR_NO_SUCH_NETWORK,        /* the named network does not exist */
    ERROR_NETWORK_EXISTS,         /* a network with that name already exists */
    ERROR_NO_SUCH_SNAPSHOT,       /* the domain has no snapshot of that name */
    ERROR_SNAPSHOT_EXISTS,        /* the domain has a snapshot of that name already */
    _ERROR_KIND_MAX,
    _ERROR_KIND_INVALID = -EINVAL,
} ErrorKind;

/* Short names, as used in D-Bus error names (org.hvd1.Error.<name>) and HTTP problem titles. */
DECLARE_STRING_TABLE(error_kind, ErrorKind);

typedef struct Error {
    ErrorKind kind;
    int errnum;        /* negative errno matching kind, 0 when unset */
    char message[512]; /* full sentence, without trailing period required */
} Error;

#define ERROR_NULL ((Error){.kind = ERROR_FAILED, .errnum = 0, .message = ""})

/* Sets e (if not NULL and not already set) and returns the negative errno that matches kind,
 * so callers can "return error_setf(e, ERROR_INVALID_ARGUMENT, ...)". The first error wins. */
int error_setf(Error *e, ErrorKind kind, const char *fmt, ...) _printf_(3, 4);

/* Like error_setf with an explicit negative errno (for ERROR_FAILED from a system call). */
int error_set_errno(Error *e, int errnum, const char *fmt, ...) _printf_(3, 4);

/* Whether e holds an error. */
static inline int error_is_set(const Error *e)
{
    return e && e->errnum != 0;
}

/* The negative errno that represents kind in return values. */
int error_kind_to_errno(ErrorKind kind);

/* The HTTP status that answers an error of kind (hvd's API), and back (hvctl, reading an
 * answer without a problem "kind"): one table, both ways. */
unsigned error_kind_to_http_status(ErrorKind kind);
ErrorKind error_kind_from_http_status(long status);
