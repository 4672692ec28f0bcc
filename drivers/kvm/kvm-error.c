/* libvirt's -1 plus its thread-local last error, turned into hvd's Error at the driver's edge. */
#include <libvirt/virterror.h>

#include "kvm-internal.h"

static ErrorKind kind_of(int code)
{
    switch (code) {
    case VIR_ERR_OPERATION_INVALID:
        return ERROR_INVALID_STATE;
    case VIR_ERR_XML_ERROR:
    case VIR_ERR_XML_DETAIL:
    case VIR_ERR_CONFIG_UNSUPPORTED:
    case VIR_ERR_INVALID_ARG:
    case VIR_ERR_NO_NETWORK:
    case VIR_ERR_NETWORK_EXIST:
        return ERROR_INVALID_ARGUMENT;
    case VIR_ERR_NO_CONNECT:
    case VIR_ERR_INVALID_CONN:
    case VIR_ERR_RPC:
    case VIR_ERR_AUTH_FAILED:
    case VIR_ERR_AUTH_UNAVAILABLE:
        return ERROR_DRIVER_UNAVAILABLE;
    default:
        return ERROR_FAILED;
    }
}

int kvm_libvirt_error(Error *e, const char *what, const char *name)
{
    virErrorPtr err = virGetLastError();

    return error_setf(e, kind_of(err ? err->code : VIR_ERR_INTERNAL_ERROR), "%s '%s' failed: %s",
                      what, name, virGetLastErrorMessage());
}

bool kvm_libvirt_error_is(int code)
{
    virErrorPtr err = virGetLastError();

    return err && err->code == code;
}
