/* The statistics page a VMM publishes to hvd: its layout (read by hvd's minihv driver too) and
 * the VMM's side (making it, keeping its slow-changing fields current). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "stats.h"

#define STATS_PAGE_MAGIC     UINT64_C(0x3147505354564d4d) /* "MMVTSPG1" little-endian */
#define STATS_PAGE_VERSION   1u
#define STATS_PAGE_SIZE      4096u /* the memfd's size, sealed against shrinking and growing */
#define STATS_PAGE_MAX_VCPUS 8u
/* The main loop's tick, which stamps the heartbeat: hvd takes a VMM whose heartbeat is older
 * than this (and 2 s more) for stopped. Every tick wakes an idle VMM (~30 us here): at 10 000
 * running, a tick a second cost a third of a CPU. */
#define STATS_PAGE_HEARTBEAT_NS UINT64_C(5000000000)
/* The main loop refreshes the memory figures (mincore, statm: two system calls) every this
 * many ticks of its timer (10 s); a control `stats` request refreshes them too. */
#define STATS_PAGE_MEMORY_TICKS 2u

enum {
    STATS_PAGE_NET_ATTACHED = 1u << 0,
};

/* What `stats` reports under "memory", in bytes. */
typedef struct StatsPageMemory {
    uint64_t guest_bytes;
    uint64_t guest_resident_bytes;
    uint64_t vmm_rss_bytes;
    uint64_t vmm_anon_bytes;
    uint64_t vmm_overhead_bytes;
} StatsPageMemory;

/* Every field is a whole aligned word written with relaxed atomic stores (the counters by the
 * vCPU and network threads, the rest by the main thread), so a reader copying word by word sees
 * each field whole. Only memory needs its fields together: memory_seq is odd while the main
 * thread writes them (a seqlock). The header (magic to nr_vcpus) is written before the page is
 * handed out and not changed after, except nr_vcpus and flags, which are set once the VM is
 * complete. */
typedef struct StatsPage {
    uint64_t magic;          /* STATS_PAGE_MAGIC */
    uint32_t version;        /* STATS_PAGE_VERSION: a new layout gets a new version */
    uint32_t size;           /* sizeof(StatsPage) as the VMM knows it */
    uint32_t n_exit_reasons; /* _EXIT_REASON_MAX */
    uint32_t n_devices;      /* _STAT_DEV_MAX */
    uint32_t nr_vcpus;       /* entries of vcpu_run_ns and vcpu_up in use */
    uint32_t flags;          /* STATS_PAGE_NET_ATTACHED */
    uint64_t heartbeat_ns;   /* CLOCK_MONOTONIC of the main loop's last tick (each second) */
    uint64_t start_mono_ns;  /* CLOCK_MONOTONIC when the guest started: uptime's base */
    uint64_t tsc_khz;
    uint64_t memory_seq;
    uint64_t memory_mono_ns; /* when memory was sampled (0: not yet) */
    StatsPageMemory memory;
    uint64_t vcpu_run_ns[STATS_PAGE_MAX_VCPUS]; /* time each vCPU spent inside KVM_RUN */
    uint64_t vcpu_up[STATS_PAGE_MAX_VCPUS];     /* 1 when the vCPU runs guest code */
    Stats stats;
} StatsPage;

_Static_assert(sizeof(StatsPage) <= STATS_PAGE_SIZE, "the statistics page outgrew its page");
_Static_assert(sizeof(StatsPage) % sizeof(uint64_t) == 0, "the page is copied word by word");

typedef struct Vm Vm;

/* Makes vm's page (a sealed memfd mapped shared, its header filled in) and points vm->stats
 * into it. Returns 0, or a negative errno with e set. */
int stats_page_init(Vm *vm, Error *e);
void stats_page_fini(Vm *vm);

/* Publishes the fields that change rarely (vCPU count and up flags, net attached, uptime base,
 * TSC rate) and the heartbeat; with memory, the memory figures too. Main thread only. */
void stats_page_publish(Vm *vm, bool memory);

/* The main loop's tick (each second): the heartbeat, and every STATS_PAGE_MEMORY_TICKS ticks
 * the memory figures. */
void stats_page_tick(Vm *vm);

/* Stores freshly sampled memory figures (a `stats` request's) in the page. Main thread only. */
void stats_page_set_memory(Vm *vm, const StatsPageMemory *m);
