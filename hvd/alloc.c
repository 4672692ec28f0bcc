/* Allocation accounting against host capacity and policy. */
#include <inttypes.h>
#include <string.h>

#include "alloc.h"

int host_capacity_read(HostCapacity *ret)
{
    _cleanup_fclose_ FILE *f = NULL;
    char line[4096];
    HostCapacity h = {};

    f = fopen("/sys/devices/system/cpu/online", "re");
    if (f && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = 0;
        if (cpuset_parse(line, &h.online_cpus) < 0)
            return -EBADMSG;
    } else {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        for (long i = 0; i < n && i < CPUSET_MAX_CPUS; i++)
            cpuset_add(&h.online_cpus, (unsigned)i);
    }
    h.cpus = cpuset_count(&h.online_cpus);

    if (f)
        (void)fclose(TAKE_PTR(f));
    f = fopen("/proc/meminfo", "re");
    if (!f)
        return -errno;
    while (fgets(line, sizeof(line), f)) {
        unsigned long long kib;
        if (sscanf(line, "MemTotal: %llu kB", &kib) == 1) {
            h.memory_mib = kib / 1024;
            break;
        }
    }
    if (h.cpus == 0 || h.memory_mib == 0)
        return -EBADMSG;
    *ret = h;
    return 0;
}

void alloc_init(Allocator *a, const HostCapacity *host, const AllocPolicy *policy)
{
    *a = (Allocator){.host = *host, .policy = *policy};
}

void alloc_set_policy(Allocator *a, const AllocPolicy *policy)
{
    a->policy = *policy;
}

static unsigned available_cpus(const Allocator *a)
{
    unsigned n = 0;

    for (unsigned c = 0; c < CPUSET_MAX_CPUS; c++)
        if (cpuset_has(&a->host.online_cpus, c) && !cpuset_has(&a->policy.reserved_cpus, c))
            n++;
    return n;
}

static uint64_t available_memory(const Allocator *a)
{
    if (a->policy.reserved_memory_mib >= a->host.memory_mib)
        return 0;
    return a->host.memory_mib - a->policy.reserved_memory_mib;
}

unsigned alloc_vcpu_capacity(const Allocator *a)
{
    /* A small epsilon keeps 1 pCPU x 4.0 from rounding down to 3. */
    return (unsigned)((double)available_cpus(a) * a->policy.cpu_ratio + 1e-9);
}

uint64_t alloc_memory_capacity(const Allocator *a)
{
    return (uint64_t)((double)available_memory(a) * a->policy.memory_ratio + 1e-9);
}

int alloc_check_cpuset(const Allocator *a, const char *cpuset, Error *e)
{
    CpuSet set;
    char bad[256] = "";
    bool reserved = false;

    if (isempty(cpuset))
        return 0;
    if (cpuset_parse(cpuset, &set) < 0)
        return error_setf(e, ERROR_INVALID_ARGUMENT, "'cpuset' is not a CPU list: \"%s\"", cpuset);
    for (unsigned c = 0; c < CPUSET_MAX_CPUS; c++) {
        size_t used = strlen(bad);

        if (!cpuset_has(&set, c))
            continue;
        if (!cpuset_has(&a->host.online_cpus, c))
            (void)snprintf(bad + used, sizeof(bad) - used, "%s%u", used ? "," : "", c);
        else if (cpuset_has(&a->policy.reserved_cpus, c)) {
            (void)snprintf(bad + used, sizeof(bad) - used, "%s%u", used ? "," : "", c);
            reserved = true;
        }
    }
    if (bad[0]) {
        char online[256], res[256];
        (void)cpuset_format(&a->host.online_cpus, online, sizeof(online));
        (void)cpuset_format(&a->policy.reserved_cpus, res, sizeof(res));
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "'cpuset' names CPU(s) %s that %s (online: %s, reserved for DOM0: %s)",
                          bad, reserved ? "are offline or reserved" : "are not online", online,
                          res[0] ? res : "none");
    }
    return 0;
}

int alloc_check(const Allocator *a, unsigned vcpus, uint64_t memory_mib, const char *cpuset,
                Error *e)
{
    unsigned vcap = alloc_vcpu_capacity(a);
    uint64_t mcap = alloc_memory_capacity(a);
    unsigned vfree = a->vcpus_allocated >= vcap ? 0 : vcap - a->vcpus_allocated;
    uint64_t mfree = a->memory_allocated_mib >= mcap ? 0 : mcap - a->memory_allocated_mib;
    int r;

    r = alloc_check_cpuset(a, cpuset, e);
    if (r < 0)
        return r;
    if (vcpus > vfree)
        return error_setf(e, ERROR_INSUFFICIENT_RESOURCES,
                          "not enough vCPUs: requested %u, free %u (capacity %u = %u CPUs x %.2f "
                          "overcommit, %u allocated): the host limit 'vcpus', the allocation cap "
                          "([allocation] cpu-overcommit; `hvctl host` shows every density limit)",
                          vcpus, vfree, vcap, available_cpus(a), a->policy.cpu_ratio,
                          a->vcpus_allocated);
    if (memory_mib > mfree)
        return error_setf(e, ERROR_INSUFFICIENT_RESOURCES,
                          "not enough memory: requested %" PRIu64 " MiB, free %" PRIu64
                          " MiB (capacity %" PRIu64 " MiB, %" PRIu64 " MiB allocated): the "
                          "allocation cap ([allocation] memory-overcommit and reserved-memory-mib)",
                          memory_mib, mfree, mcap, a->memory_allocated_mib);
    return 0;
}

void alloc_add(Allocator *a, unsigned vcpus, uint64_t memory_mib)
{
    a->vcpus_allocated += vcpus;
    a->memory_allocated_mib += memory_mib;
}

void alloc_remove(Allocator *a, unsigned vcpus, uint64_t memory_mib)
{
    a->vcpus_allocated -= MIN(vcpus, a->vcpus_allocated);
    a->memory_allocated_mib -= MIN(memory_mib, a->memory_allocated_mib);
}

json_t *alloc_host_view(const Allocator *a)
{
    char online[1024], reserved[1024];
    unsigned vcap = alloc_vcpu_capacity(a);
    uint64_t mcap = alloc_memory_capacity(a);

    (void)cpuset_format(&a->host.online_cpus, online, sizeof(online));
    (void)cpuset_format(&a->policy.reserved_cpus, reserved, sizeof(reserved));
    return json_pack(
        "{s:I, s:s, s:s, s:I, s:f, s:I, s:I, s:I, s:I, s:I, s:f, s:I, s:I, s:I}", "cpus",
        (json_int_t)a->host.cpus, "cpus_online", online, "cpus_reserved", reserved,
        "cpus_available", (json_int_t)available_cpus(a), "cpu_overcommit", a->policy.cpu_ratio,
        "vcpus_capacity", (json_int_t)vcap, "vcpus_allocated", (json_int_t)a->vcpus_allocated,
        "vcpus_free", (json_int_t)(a->vcpus_allocated >= vcap ? 0 : vcap - a->vcpus_allocated),
        "memory_mib", (json_int_t)a->host.memory_mib, "memory_reserved_mib",
        (json_int_t)a->policy.reserved_memory_mib, "memory_overcommit", a->policy.memory_ratio,
        "memory_capacity_mib", (json_int_t)mcap, "memory_allocated_mib",
        (json_int_t)a->memory_allocated_mib, "memory_free_mib",
        (json_int_t)(a->memory_allocated_mib >= mcap ? 0 : mcap - a->memory_allocated_mib));
}
