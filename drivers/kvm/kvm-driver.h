/* The kvm driver: domains run by QEMU/KVM through libvirt (qemu:///system), or by libvirt's
 * in-process test driver (test:///default) in tests. */
#pragma once

#include "driver.h"

extern const DriverOps kvm_driver_ops;

/* The entry point of the hvd-kvm module: the driver's operations when the module was built for
 * the same driver interface (abi is DRIVER_ABI of the loader), NULL otherwise. */
const DriverOps *hvd_kvm_driver(unsigned abi);
