/* vCPUs: creation, the per-vCPU thread running KVM_RUN, exit dispatch, register access. */
#pragma once

#include <linux/kvm.h>

#include "error.h"
#include "vm.h"

/* Creates vCPU id: the KVM vCPU (with host CPUID) and its kvm_run mapping, or, when the VM has
 * no KVM (fuzzer), a detached vCPU that only the device code uses. Stored in vm->vcpus[id]. */
int vcpu_new(Vm *vm, unsigned id, Error *e);

/* Frees a vCPU whose thread has ended (or never started). Accepts NULL, returns NULL. */
Vcpu *vcpu_free(Vcpu *vcpu);

/* Starts the vCPU's thread; it waits for vm->released (and, except vCPU 0, VCPU_UP). */
int vcpu_start_thread(Vcpu *vcpu);

/* Waits for the vCPU's thread to end. */
void vcpu_join(Vcpu *vcpu);

/* Register access; -EBADF for a detached vCPU, else 0 or -errno. */
int vcpu_get_regs(Vcpu *vcpu, struct kvm_regs *regs);
int vcpu_set_regs(Vcpu *vcpu, const struct kvm_regs *regs);
int vcpu_get_sregs(Vcpu *vcpu, struct kvm_sregs *sregs);
int vcpu_set_sregs(Vcpu *vcpu, const struct kvm_sregs *sregs);

/* Handles the exit described by vcpu->run (one KVM_RUN return). */
void vcpu_handle_exit(Vcpu *vcpu);
