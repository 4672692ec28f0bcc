/* The kvm driver: domains run by QEMU/KVM through libvirt (qemu:///system), or by libvirt's
 * in-process test driver (test:///default) in tests. */
#pragma once

#include "driver.h"

extern const DriverOps kvm_driver_ops;
