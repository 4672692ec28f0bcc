/* Dispatch of port I/O and MMIO exits to devices; unassigned accesses are counted. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "vm.h"

/* Performs a KVM_EXIT_IO: count elements of size bytes at port, read into or written from
 * data (count * size bytes). Unassigned ports read as all-ones and are counted; with --strict
 * they crash the domain. */
void io_bus_access(Vcpu *vcpu, uint16_t port, bool write, unsigned size, uint32_t count,
                   uint8_t *data);

/* Performs a KVM_EXIT_MMIO. No MMIO devices exist: reads give all-ones; counted; --strict
 * crashes the domain. */
void mmio_access(Vcpu *vcpu, uint64_t addr, bool write, unsigned len, uint8_t *data);
