/* Error kinds with their names and the helpers that fill an Error. */
#include <stdio.h>
#include <string.h>

#include "error.h"

static const char *const error_kind_table[_ERROR_KIND_MAX] = {
    [ERROR_FAILED] = "Failed",
    [ERROR_NO_SUCH_DOMAIN] = "NoSuchDomain",
    [ERROR_DOMAIN_EXISTS] = "DomainExists",
    [ERROR_INVALID_ARGUMENT] = "InvalidArgument",
    [ERROR_INVALID_STATE] = "InvalidState",
    [ERROR_INSUFFICIENT_RESOURCES] = "InsufficientResources",
    [ERROR_ACCESS_DENIED] = "AccessDenied",
    [ERROR_DRIVER_UNAVAILABLE] = "DriverUnavailable",
    [ERROR_NO_SUCH_NETWORK] = "NoSuchNetwork",
    [ERROR_NETWORK_EXISTS] = "NetworkExists",
    [ERROR_NO_SUCH_SNAPSHOT] = "NoSuchSnapshot",
    [ERROR_SNAPSHOT_EXISTS] = "SnapshotExists",
};

DEFINE_STRING_TABLE(error_kind, ErrorKind, _ERROR_KIND_MAX);

static const unsigned error_kind_http_status[_ERROR_KIND_MAX] = {
    [ERROR_FAILED] = 500,           [ERROR_NO_SUCH_DOMAIN] = 404,
    [ERROR_DOMAIN_EXISTS] = 409,    [ERROR_INVALID_ARGUMENT] = 400,
    [ERROR_INVALID_STATE] = 409,    [ERROR_INSUFFICIENT_RESOURCES] = 409,
    [ERROR_ACCESS_DENIED] = 403,    [ERROR_DRIVER_UNAVAILABLE] = 503,
    [ERROR_NO_SUCH_NETWORK] = 404,  [ERROR_NETWORK_EXISTS] = 409,
    [ERROR_NO_SUCH_SNAPSHOT] = 404, [ERROR_SNAPSHOT_EXISTS] = 409,
};

unsigned error_kind_to_http_status(ErrorKind kind)
{
    return (int)kind >= 0 && kind < _ERROR_KIND_MAX ? error_kind_http_status[kind] : 500;
}

ErrorKind error_kind_from_http_status(long status)
{
    /* Statuses several kinds share read as the most general of them; the rest of the 4xx
     * family reads as a bad argument, and 401 (no or a wrong token) as access denied. */
    switch (status) {
    case 401:
        return ERROR_ACCESS_DENIED;
    case 409:
        return ERROR_INVALID_STATE;
    case 413:
    case 415:
        return ERROR_INVALID_ARGUMENT;
    }
    for (size_t i = 0; i < _ERROR_KIND_MAX; i++)
        if (error_kind_http_status[i] == status && i != ERROR_FAILED)
            return (ErrorKind)i;
    return ERROR_FAILED;
}

int error_kind_to_errno(ErrorKind kind)
{
    switch (kind) {
    case ERROR_NO_SUCH_DOMAIN:
    case ERROR_NO_SUCH_NETWORK:
    case ERROR_NO_SUCH_SNAPSHOT:
        return -ENOENT;
    case ERROR_DOMAIN_EXISTS:
    case ERROR_NETWORK_EXISTS:
    case ERROR_SNAPSHOT_EXISTS:
        return -EEXIST;
    case ERROR_INVALID_ARGUMENT:
        return -EINVAL;
    case ERROR_INVALID_STATE:
        return -EBUSY;
    case ERROR_INSUFFICIENT_RESOURCES:
        return -ENOSPC;
    case ERROR_ACCESS_DENIED:
        return -EPERM;
    case ERROR_DRIVER_UNAVAILABLE:
        return -EHOSTDOWN;
    default:
        return -EIO;
    }
}

static int error_vset(Error *e, ErrorKind kind, int errnum, const char *fmt, va_list ap)
{
    if (!e)
        return errnum;
    if (e->errnum != 0)
        return e->errnum;
    e->kind = kind;
    e->errnum = errnum;
    (void)vsnprintf(e->message, sizeof(e->message), fmt, ap);
    return errnum;
}

int error_setf(Error *e, ErrorKind kind, const char *fmt, ...)
{
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = error_vset(e, kind, error_kind_to_errno(kind), fmt, ap);
    va_end(ap);
    return r;
}

int error_set_errno(Error *e, int errnum, const char *fmt, ...)
{
    va_list ap;
    int r, saved = errno;

    errno = errnum < 0 ? -errnum : errnum;
    va_start(ap, fmt);
    r = error_vset(e, ERROR_FAILED, errnum < 0 ? errnum : -errnum, fmt, ap);
    va_end(ap);
    errno = saved;
    return r;
}
