/* pv shared page: a clock the guest reads with rdtsc and no exit, and host events. */
#include <x86intrin.h>

#include "pv.h"

static struct minihv_shared_page *shared_page(Vm *vm)
{
    return gmem_vmm_ptr(&vm->mem, MINIHV_PV_SHARED_PAGE, sizeof(struct minihv_shared_page));
}

/* Ring-3 guest code reads the host's TSC unchanged (rdtsc does not trap at ring 3), so the
 * VMM's own rdtsc and clock_gettime give the pair that anchors the guest's clock. */
void pv_shared_update(Vm *vm)
{
    struct minihv_shared_page *p = shared_page(vm);
    uint64_t khz = vm->tsc_khz ? vm->tsc_khz : 1000000;
    uint64_t tsc, wall, mono;
    uint32_t seq;

    if (!p)
        return;
    wall = now_realtime_ns();
    mono = now_mono_ns();
    tsc = __rdtsc();
    seq = __atomic_load_n(&p->seq, __ATOMIC_RELAXED);
    __atomic_store_n(&p->seq, seq + 1, __ATOMIC_RELAXED); /* odd: being written */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    p->tsc_base = tsc;
    p->wall_ns_base = wall;
    p->boot_ns_base = mono - vm->start_mono_ns;
    p->tsc_khz = khz;
    p->tsc_mul = (1000000ull << 32) / khz;
    __atomic_store_n(&p->seq, seq + 2, __ATOMIC_RELEASE);
    gmem_mark_written(&vm->mem, MINIHV_PV_SHARED_PAGE, sizeof(*p));
}

void pv_shared_set_events(Vm *vm, uint32_t events)
{
    struct minihv_shared_page *p = shared_page(vm);

    if (!p)
        return;
    __atomic_fetch_or(&p->events, events, __ATOMIC_RELEASE);
    gmem_mark_written(&vm->mem, MINIHV_PV_SHARED_PAGE, sizeof(*p));
}
