/* The kvm driver: domains run by QEMU/KVM through libvirt (qemu:///system), or by libvirt's
 * in-process test driver (test:///default) in tests. */
#pragma once

#include "driver.h"

extern const DriverOps kvm_driver_ops;

/* Maps libvirt's state and reason codes (virDomainState, virDomain*Reason) to hvd's. */
void kvm_state_from_libvirt(int vir_state, int vir_reason, DomainState *ret_state,
                            DomainReason *ret_reason);
