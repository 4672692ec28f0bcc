/* The table of built-in drivers. */
#include "drivers.h"
#include "kvm-driver.h"

const DriverOps *const hvd_driver_ops[_DRIVER_KIND_MAX] = {
    [DRIVER_KVM] = &kvm_driver_ops,
};
