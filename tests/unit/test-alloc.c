/* Unit tests: allocation capacity under reservation and overcommit, refusals that name the
 * resource, the request and what is free. */
#include "alloc.h"
#include "test.h"

static Allocator make(const char *online, unsigned mem, const char *reserved, unsigned res_mem,
                      double cpu_ratio, double mem_ratio)
{
    HostCapacity h = {.memory_mib = mem};
    AllocPolicy p = {
        .reserved_memory_mib = res_mem, .cpu_ratio = cpu_ratio, .memory_ratio = mem_ratio};
    Allocator a;

    (void)cpuset_parse(online, &h.online_cpus);
    h.cpus = cpuset_count(&h.online_cpus);
    (void)cpuset_parse(reserved, &p.reserved_cpus);
    alloc_init(&a, &h, &p);
    return a;
}

int main(void)
{
    Allocator a = make("0-1", 4096, "", 1024, 4.0, 1.0);
    Error e = ERROR_NULL;
    HostCapacity real;

    CHECK(alloc_vcpu_capacity(&a) == 8);
    CHECK(alloc_memory_capacity(&a) == 3072);
    CHECK(alloc_check(&a, 8, 3072, NULL, &e) == 0);
    alloc_add(&a, 6, 2048);
    e = ERROR_NULL;
    CHECK(alloc_check(&a, 3, 16, NULL, &e) == -ENOSPC);
    CHECK(e.kind == ERROR_INSUFFICIENT_RESOURCES);
    CHECK_CONTAINS(e.message, "not enough vCPUs: requested 3, free 2");
    e = ERROR_NULL;
    CHECK(alloc_check(&a, 1, 2048, NULL, &e) == -ENOSPC);
    CHECK_CONTAINS(e.message, "not enough memory: requested 2048 MiB, free 1024 MiB");
    alloc_remove(&a, 6, 2048);
    CHECK(a.vcpus_allocated == 0 && a.memory_allocated_mib == 0);
    alloc_remove(&a, 1, 1); /* never below zero */
    CHECK(a.vcpus_allocated == 0 && a.memory_allocated_mib == 0);

    /* DOM0 keeps CPU 0: capacity shrinks, pinning to it is refused. */
    a = make("0-3", 8192, "0", 0, 2.0, 1.5);
    CHECK(alloc_vcpu_capacity(&a) == 6);
    CHECK(alloc_memory_capacity(&a) == 12288);
    e = ERROR_NULL;
    CHECK(alloc_check_cpuset(&a, "0-1", &e) == -EINVAL);
    CHECK_CONTAINS(e.message, "CPU(s) 0");
    CHECK_CONTAINS(e.message, "reserved for DOM0: 0");
    e = ERROR_NULL;
    CHECK(alloc_check_cpuset(&a, "7", &e) == -EINVAL);
    CHECK_CONTAINS(e.message, "not online");
    e = ERROR_NULL;
    CHECK(alloc_check_cpuset(&a, "1-3", &e) == 0);
    CHECK(alloc_check_cpuset(&a, NULL, &e) == 0);

    /* Reservation larger than the host leaves nothing, not a wrap-around. */
    a = make("0", 512, "", 1024, 1.0, 1.0);
    CHECK(alloc_memory_capacity(&a) == 0);

    json_t *view = alloc_host_view(&a);
    CHECK(view != NULL);
    CHECK(json_integer_value(json_object_get(view, "memory_free_mib")) == 0);
    CHECK(json_integer_value(json_object_get(view, "vcpus_capacity")) == 1);
    json_decref(view);

    CHECK(host_capacity_read(&real) == 0);
    CHECK(real.cpus >= 1 && real.memory_mib > 0);
    return test_summary("test-alloc");
}
