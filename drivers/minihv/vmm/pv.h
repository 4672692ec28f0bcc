/* pv mode: boot structures, hypercalls, the block ring and the shared clock page. */
#pragma once

#include <stdint.h>

#include "error.h"
#include "minihv-abi.h"
#include "snapshot-format.h"
#include "vm.h"

/* Writes the VMM-owned boot structures into guest memory: GDT, IDT, one TSS (with RSP0 and an
 * I/O bitmap opening only the hypercall ports) and ring-0 stack per vCPU, the exception stubs,
 * identity page tables with the user bit on guest-owned memory, the boot info (with the
 * command line and device list) and the shared page. */
int pv_boot_init(Vm *vm, Error *e);

/* Puts vCPU id in 64-bit mode at ring 3 with the pv segments, its TSS and the page tables;
 * rip/rsp/rdi/rsi as given. */
int pv_boot_setup_vcpu(Vcpu *vcpu, uint64_t rip, uint64_t rsp, uint64_t rdi, uint64_t rsi);

/* Performs hypercall nr with the request at gpa on behalf of vcpu. Returns the guest status
 * (MINIHV_OK or a negative MINIHV_E*); malformed requests are counted. */
int32_t hypercall_dispatch(Vcpu *vcpu, uint32_t nr, uint64_t gpa);

/* Block ring. */
int pv_block_init(Vm *vm, Error *e);
void pv_block_fini(Vm *vm);
int32_t pv_block_setup(Vm *vm, uint64_t ring, uint32_t entries);
/* Processes every published request; any thread. */
void pv_block_process(Vm *vm);

/* Network rings (pv-net.c): the frontend of vm->net in pv mode. */
int pv_net_init(Vm *vm, Error *e);
void pv_net_fini(Vm *vm);
/* NET_SETUP: validates and installs both rings, then wakes the network thread. Returns the
 * guest status. */
int32_t pv_net_setup(Vm *vm, uint64_t tx, uint64_t rx, uint32_t entries);

/* Shared page: fills the clock fields (call at boot and periodically from the main loop). */
void pv_shared_update(Vm *vm);
/* Sets event bits in the shared page. */
void pv_shared_set_events(Vm *vm, uint32_t events);

/* Saved state of the block ring and the net rings, as uart_save/uart_load in devices.h: load
 * checks a saved ring against guest memory as set-up does and returns 0 or -EINVAL. */
void pv_block_save(Vm *vm, SnapPvBlock *out);
int pv_block_load(Vm *vm, const SnapPvBlock *in);
void pv_net_save(Vm *vm, SnapPvNet *out);
int pv_net_load(Vm *vm, const SnapPvNet *in);
