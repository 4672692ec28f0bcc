/* Host resource allocation: capacity from the machine, DOM0's reservation, overcommit ratios,
 * and the running total of what domains hold. */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "cpuset.h"
#include "error.h"

typedef struct HostCapacity {
    CpuSet online_cpus;
    unsigned cpus;       /* online CPUs */
    uint64_t memory_mib; /* MemTotal */
} HostCapacity;

typedef struct AllocPolicy {
    CpuSet reserved_cpus;         /* CPUs kept for DOM0 (never pinned to, not counted) */
    uint64_t reserved_memory_mib; /* memory kept for DOM0 */
    double cpu_ratio;             /* vCPUs per available pCPU */
    double memory_ratio;          /* guest MiB per available MiB */
} AllocPolicy;

typedef struct Allocator {
    HostCapacity host;
    AllocPolicy policy;
    unsigned vcpus_allocated;
    uint64_t memory_allocated_mib;
} Allocator;

/* Reads the online CPUs (/sys/devices/system/cpu/online) and MemTotal (/proc/meminfo). */
int host_capacity_read(HostCapacity *ret);

/* Starts an allocator with nothing allocated. */
void alloc_init(Allocator *a, const HostCapacity *host, const AllocPolicy *policy);

/* Replaces the policy (on config reload); what is allocated stays. */
void alloc_set_policy(Allocator *a, const AllocPolicy *policy);

/* How many vCPUs and MiB may be allocated in total under the policy. */
unsigned alloc_vcpu_capacity(const Allocator *a);
uint64_t alloc_memory_capacity(const Allocator *a);

/* Checks that a pinning list names only online CPUs outside DOM0's reservation; e names the
 * offending CPUs. An empty or NULL cpuset is fine. */
int alloc_check_cpuset(const Allocator *a, const char *cpuset, Error *e);

/* Checks that vcpus and memory_mib fit beside what is allocated; e names the resource, the
 * request and what is free. */
int alloc_check(const Allocator *a, unsigned vcpus, uint64_t memory_mib, const char *cpuset,
                Error *e);

/* Adds or removes a holding (callers keep these balanced with the state machine). */
void alloc_add(Allocator *a, unsigned vcpus, uint64_t memory_mib);
void alloc_remove(Allocator *a, unsigned vcpus, uint64_t memory_mib);

/* The host view every surface shows: capacity, reservation, policy, allocated and free.
 * Returns a new JSON object or NULL on allocation failure. */
json_t *alloc_host_view(const Allocator *a);
