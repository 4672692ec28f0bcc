/* KVM's dirty page log over guest memory: the groundwork a pre-copy migration builds on. */
#pragma once

#include <stdint.h>

#include "vm.h"

/* Starts logging guest writes to memory (KVM_MEM_LOG_DIRTY_PAGES on the memory slot). Returns
 * 0, -EALREADY when logging already runs, or a negative errno from KVM. Main thread only. */
int dirty_log_start(Vm *vm);

/* Returns in *dirty how many pages the guest wrote since logging started or since the last
 * call, and clears the log (KVM_GET_DIRTY_LOG). Writes the VMM makes itself (the pv shared page,
 * ring indexes, device DMA) are not in KVM's log. Returns 0, -ENOTCONN when logging does not
 * run, or a negative errno. Main thread only. */
int dirty_log_collect(Vm *vm, uint64_t *dirty);

/* Stops logging (the memory slot without KVM_MEM_LOG_DIRTY_PAGES) and frees the log. Returns 0,
 * -ENOTCONN when logging does not run, or a negative errno from KVM. Main thread only. */
int dirty_log_stop(Vm *vm);
