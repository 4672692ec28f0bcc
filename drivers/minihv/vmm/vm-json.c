/* Builds the `stats` and `info` objects from the VM's counters and process facts. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "build-config.h"
#include "console.h"
#include "disk.h"
#include "macro.h"
#include "minihv-abi.h"
#include "net.h"
#include "vm-json.h"

static int statm_fd = -EBADF;
static unsigned long long start_ticks;

int vm_json_init(void)
{
    char buf[1024];
    char *p;
    ssize_t n;
    int fd;

    statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (statm_fd < 0)
        return -errno;
    /* Field 22 of /proc/self/stat: start time in clock ticks after boot, which tells this
     * process apart from a later one that reuses the pid. */
    fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    n = read(fd, buf, sizeof(buf) - 1);
    (void)close(fd);
    if (n <= 0)
        return -EIO;
    buf[n] = '\0';
    p = strrchr(buf, ')'); /* the command name may contain spaces */
    if (p) {
        unsigned field = 2;
        for (p++; *p && field < 22; p++)
            if (*p == ' ')
                field++;
        start_ticks = strtoull(p, NULL, 10);
    }
    return 0;
}

void vm_json_done(void)
{
    statm_fd = safe_close(statm_fd);
}

static uint64_t guest_resident_bytes(Vm *vm)
{
    size_t pages = vm->mem.size / 4096, chunk = 65536, n = 0;
    unsigned char vec[65536];

    for (size_t at = 0; at < pages; at += chunk) {
        size_t len = MIN(chunk, pages - at);
        if (mincore(vm->mem.base + at * 4096, len * 4096, vec) < 0)
            return 0;
        for (size_t i = 0; i < len; i++)
            n += vec[i] & 1;
    }
    return (uint64_t)n * 4096;
}

void vm_json_memory(Vm *vm, StatsPageMemory *m)
{
    unsigned long long size = 0, resident = 0, shared = 0;
    uint64_t guest = guest_resident_bytes(vm), page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t anon;
    char buf[256];
    ssize_t n;

    if (statm_fd >= 0 && (n = pread(statm_fd, buf, sizeof(buf) - 1, 0)) > 0) {
        buf[n] = '\0';
        (void)sscanf(buf, "%llu %llu %llu", &size, &resident, &shared);
    }
    anon = resident > shared ? (resident - shared) * page : 0;
    *m = (StatsPageMemory){
        .guest_bytes = vm->mem.size,
        .guest_resident_bytes = guest,
        .vmm_rss_bytes = resident * page,
        .vmm_anon_bytes = anon,
        /* what this VM costs beyond its guest memory, shared libraries aside */
        .vmm_overhead_bytes = anon > guest ? anon - guest : 0,
    };
}

/* Fresh figures, which the published page gets too. */
static json_t *memory_json(Vm *vm)
{
    StatsPageMemory m;

    vm_json_memory(vm, &m);
    stats_page_set_memory(vm, &m);
    return json_pack("{sI sI sI sI sI}", "guest_bytes", (json_int_t)m.guest_bytes,
                     "guest_resident_bytes", (json_int_t)m.guest_resident_bytes, "vmm_rss_bytes",
                     (json_int_t)m.vmm_rss_bytes, "vmm_anon_bytes", (json_int_t)m.vmm_anon_bytes,
                     "vmm_overhead_bytes", (json_int_t)m.vmm_overhead_bytes);
}

/* Frames and bytes each way, drops, refused descriptors, and what the frames cost in exits:
 * pv doorbells that needed none (ioeventfd) against the device's exits (net hypercalls and
 * doorbells that exited in pv mode, NE2000 register and data-port accesses in full mode). */
static json_t *net_json(Vm *vm)
{
    const Stats *s = vm->stats;
    uint64_t frames = stats_get(&s->net_tx_frames) + stats_get(&s->net_rx_frames);
    uint64_t exits = stats_get(&s->devices[STAT_DEV_HC_NET]) +
                     stats_get(&s->devices[STAT_DEV_NET_DOORBELL]) +
                     stats_get(&s->devices[STAT_DEV_NE2000]);
    uint64_t doorbells = stats_get(&s->devices[STAT_DEV_NET_DOORBELL_EVENT]);

    return json_pack("{sb sI sI sI sI sI sI sI sI sI sf sf}", "attached", vm->net != NULL,
                     "tx_frames", (json_int_t)stats_get(&s->net_tx_frames), "tx_bytes",
                     (json_int_t)stats_get(&s->net_tx_bytes), "rx_frames",
                     (json_int_t)stats_get(&s->net_rx_frames), "rx_bytes",
                     (json_int_t)stats_get(&s->net_rx_bytes), "tx_dropped",
                     (json_int_t)stats_get(&s->net_tx_dropped), "rx_dropped",
                     (json_int_t)stats_get(&s->net_rx_dropped), "bad_descriptors",
                     (json_int_t)stats_get(&s->net_bad_descriptors), "doorbells",
                     (json_int_t)doorbells, "exits", (json_int_t)exits, "exits_per_frame",
                     frames ? (double)exits / (double)frames : 0.0, "doorbells_per_frame",
                     frames ? (double)doorbells / (double)frames : 0.0);
}

json_t *vm_stats_json(Vm *vm)
{
    json_t *exits = json_object(), *devices = json_object(), *vcpus = json_array(), *o;
    uint64_t total = 0, run_ns = 0;

    if (!exits || !devices || !vcpus)
        goto oom;
    for (int i = 0; i < _EXIT_REASON_MAX; i++) {
        uint64_t v = stats_get(&vm->stats->exits[i]);
        total += v;
        (void)json_object_set_new(exits, exit_reason_to_string(i), json_integer((json_int_t)v));
    }
    (void)json_object_set_new(exits, "total", json_integer((json_int_t)total));
    for (int i = 0; i < _STAT_DEV_MAX; i++)
        (void)json_object_set_new(devices, stat_device_to_string(i),
                                  json_integer((json_int_t)stats_get(&vm->stats->devices[i])));
    for (unsigned i = 0; i < vm->nr_vcpus; i++) {
        uint64_t ns = stats_get(&vm->stats_page->vcpu_run_ns[i]);
        run_ns += ns;
        (void)json_array_append_new(
            vcpus, json_pack("{sI sI sb}", "id", (json_int_t)i, "run_time_ns", (json_int_t)ns, "up",
                             __atomic_load_n(&vm->vcpus[i]->up, __ATOMIC_RELAXED)));
    }
    o = json_pack(
        "{so so sI so so s{sI sI} s{sI sI sI sI} s{sI sI} sI sI}", "exits", exits, "devices",
        devices, "run_time_ns", (json_int_t)run_ns, "vcpus", vcpus, "memory", memory_json(vm),
        "bad_requests", "guest", (json_int_t)stats_get(&vm->stats->bad_guest_requests), "control",
        (json_int_t)stats_get(&vm->stats->bad_control_requests), "console", "out_bytes",
        (json_int_t)stats_get(&vm->stats->console_out_bytes), "in_bytes",
        (json_int_t)stats_get(&vm->stats->console_in_bytes), "in_dropped_bytes",
        (json_int_t)stats_get(&vm->stats->console_in_dropped), "attached_dropped_bytes",
        (json_int_t)stats_get(&vm->stats->console_client_dropped), "block", "read_sectors",
        (json_int_t)stats_get(&vm->stats->blk_read_sectors), "write_sectors",
        (json_int_t)stats_get(&vm->stats->blk_write_sectors), "tsc_khz", (json_int_t)vm->tsc_khz,
        "uptime_ns", (json_int_t)(now_mono_ns() - vm->start_mono_ns));
    if (o)
        (void)json_object_set_new(o, "net", net_json(vm));
    return o;
oom:
    json_decref(exits);
    json_decref(devices);
    json_decref(vcpus);
    return NULL;
}

json_t *vm_info_json(Vm *vm)
{
    char mac[18];
    VmState state;
    json_t *o;

    pthread_mutex_lock(&vm->lock);
    state = vm->state;
    pthread_mutex_unlock(&vm->lock);
    o = json_pack(
        "{sI ss sI sI ss ss? ss ss ss? sb ss sf sI sI ss}", "pid", (json_int_t)getpid(), "mode",
        vm_mode_to_string(vm->cfg.mode), "vcpus", (json_int_t)vm->nr_vcpus, "memory_mib",
        (json_int_t)(vm->mem.size >> 20), "guest", vm->cfg.guest_path ? vm->cfg.guest_path : "",
        "disk", vm->cfg.disk_path, "cmdline", vm->cfg.cmdline, "console",
        vm->cfg.console_path ? vm->cfg.console_path : "-", "control", vm->cfg.control_path,
        "strict", vm->cfg.strict, "state", vm_state_to_string(state), "start_time",
        (double)vm->start_realtime_ns / 1e9, "start_time_ticks", (json_int_t)start_ticks,
        "abi_version", (json_int_t)MINIHV_ABI_VERSION, "version", HVD_VERSION);
    if (o && vm->net) {
        net_mac_format(vm->net->mac, mac);
        (void)json_object_set_new(o, "net",
                                  json_pack("{ss ss}", "mac", mac, "device",
                                            vm->cfg.mode == VM_MODE_PV ? "pv-rings" : "ne2000"));
    }
    return o;
}
