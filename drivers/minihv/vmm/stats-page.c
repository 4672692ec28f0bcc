/* The VMM's statistics page: a sealed memfd holding the counters, handed to hvd on request. */
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "macro.h"
#include "stats-page.h"
#include "vm-json.h"
#include "vm.h"

_Static_assert(VM_MAX_VCPUS <= STATS_PAGE_MAX_VCPUS, "the page holds every vCPU");

static void store(uint64_t *field, uint64_t v)
{
    __atomic_store_n(field, v, __ATOMIC_RELAXED);
}

int stats_page_init(Vm *vm, Error *e)
{
    StatsPage *p;
    int fd;

    fd = memfd_create("minihv-stats", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return error_set_errno(e, errno, "cannot make the statistics page: %m");
    if (ftruncate(fd, STATS_PAGE_SIZE) < 0 ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
        int r = error_set_errno(e, errno, "cannot size the statistics page: %m");
        (void)close(fd);
        return r;
    }
    p = mmap(NULL, STATS_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        int r = error_set_errno(e, errno, "cannot map the statistics page: %m");
        (void)close(fd);
        return r;
    }
    p->version = STATS_PAGE_VERSION;
    p->size = sizeof(StatsPage);
    p->n_exit_reasons = _EXIT_REASON_MAX;
    p->n_devices = _STAT_DEV_MAX;
    p->nr_vcpus = vm->cfg.vcpus;
    store(&p->memory.guest_bytes, vm->cfg.mem_size);
    store(&p->magic, STATS_PAGE_MAGIC);
    vm->stats_page = p;
    vm->stats_page_fd = fd;
    vm->stats = &p->stats;
    return 0;
}

void stats_page_fini(Vm *vm)
{
    if (vm->stats_page)
        (void)munmap(vm->stats_page, STATS_PAGE_SIZE);
    vm->stats_page = NULL;
    vm->stats = NULL;
    vm->stats_page_fd = safe_close(vm->stats_page_fd);
}

void stats_page_set_memory(Vm *vm, const StatsPageMemory *m)
{
    StatsPage *p = vm->stats_page;
    uint64_t seq = p->memory_seq;

    __atomic_store_n(&p->memory_seq, seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    store(&p->memory.guest_bytes, m->guest_bytes);
    store(&p->memory.guest_resident_bytes, m->guest_resident_bytes);
    store(&p->memory.vmm_rss_bytes, m->vmm_rss_bytes);
    store(&p->memory.vmm_anon_bytes, m->vmm_anon_bytes);
    store(&p->memory.vmm_overhead_bytes, m->vmm_overhead_bytes);
    store(&p->memory_mono_ns, now_mono_ns());
    __atomic_store_n(&p->memory_seq, seq + 2, __ATOMIC_RELEASE);
}

void stats_page_publish(Vm *vm, bool memory)
{
    StatsPage *p = vm->stats_page;

    __atomic_store_n(&p->nr_vcpus, vm->nr_vcpus, __ATOMIC_RELAXED);
    __atomic_store_n(&p->flags, vm->net ? STATS_PAGE_NET_ATTACHED : 0u, __ATOMIC_RELAXED);
    for (unsigned i = 0; i < vm->nr_vcpus; i++)
        store(&p->vcpu_up[i], __atomic_load_n(&vm->vcpus[i]->up, __ATOMIC_RELAXED));
    store(&p->start_mono_ns, vm->start_mono_ns);
    store(&p->tsc_khz, vm->tsc_khz);
    if (memory) {
        StatsPageMemory m;
        vm_json_memory(vm, &m);
        stats_page_set_memory(vm, &m);
    }
    store(&p->heartbeat_ns, now_mono_ns());
}

void stats_page_tick(Vm *vm)
{
    static unsigned ticks;

    stats_page_publish(vm, ticks++ % STATS_PAGE_MEMORY_TICKS == 0);
}
