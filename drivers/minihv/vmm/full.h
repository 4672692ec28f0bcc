/* full mode boot: the CPU state a Multiboot v1 boot loader hands over. */
#pragma once

#include "vm.h"

/* 32-bit protected mode, paging off, flat ring-0 segments, eax = Multiboot magic, ebx = the
 * Multiboot information (vm->boot_arg), eip = vm->entry, interrupts off. */
int full_boot_setup_vcpu(Vcpu *vcpu);
