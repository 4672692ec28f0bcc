/* The table of built-in drivers. */
#include "drivers.h"
#include "kvm-driver.h"
#include "minihv-driver.h"

const DriverOps *const hvd_driver_ops[_DRIVER_KIND_MAX] = {
    [DRIVER_KVM] = &kvm_driver_ops,
    [DRIVER_MINIHV] = &minihv_driver_ops,
};
