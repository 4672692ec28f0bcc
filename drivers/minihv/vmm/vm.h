/* The virtual machine: configuration, guest memory, vCPUs, port-I/O devices, lifecycle state. */
#pragma once

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cgroup-join.h"
#include "cpuset.h"
#include "error.h"
#include "guest-mem.h"
#include "minihv-status.h"
#include "stats-page.h"

#define VM_MAX_VCPUS          8u
#define VM_MIN_MEMORY_MIB     2u
#define VM_MAX_MEMORY_MIB     3072u
#define VM_DEFAULT_MEMORY_MIB 32u
#define VM_IO_DEVICES_MAX     8u
#define VM_WAIT_CAP_NS        60000000000ull /* longest single POLL / hlt wait: a minute */
#define VM_HLT_WAIT_NS        10000000ull    /* a full-mode hlt sleeps at most this long */

typedef enum VmMode {
    VM_MODE_PV,
    VM_MODE_FULL,
    _VM_MODE_MAX,
    _VM_MODE_INVALID = -EINVAL,
} VmMode;

DECLARE_STRING_TABLE(vm_mode, VmMode);

typedef enum VmState {
    VM_STATE_RUNNING,
    VM_STATE_PAUSED,
    VM_STATE_STOPPING,
    _VM_STATE_MAX,
    _VM_STATE_INVALID = -EINVAL,
} VmState;

DECLARE_STRING_TABLE(vm_state, VmState);

/* What `minihv run` was asked to do. Strings are borrowed from argv (or the caller). */
typedef struct Snapshot Snapshot;

typedef struct VmConfig {
    VmMode mode;
    uint64_t mem_size; /* bytes */
    unsigned vcpus;
    const char *guest_path; /* NULL only in the fuzzer */
    const char *disk_path;  /* NULL: no disk */
    const char *cmdline;    /* "" when not given */
    bool has_cpuset;
    CpuSet cpuset;
    const char *control_path; /* NULL: no control socket */
    const char *console_path; /* NULL or "-": standard output */
    bool strict;
    int ready_fd; /* -1: none */
    const char *stats_path;
    int net_fd;     /* -1: no network device; else a tap (IFF_TAP|IFF_NO_PI) the VMM now owns */
    uint8_t mac[6]; /* the device's station address when net_fd >= 0 */
    const Snapshot *restore; /* NULL: boot guest_path; else restore this checked image */
    bool incoming; /* a migration's target: blank memory, no boot; the stream brings the state */
    /* cgroup membership files (--cgroup, --vcpu-cgroup): the process joins the first before
     * it creates the VM, the vCPU threads the second. */
    const char *cgroup_procs[VM_CGROUP_FILES_MAX];
    unsigned n_cgroup_procs;
    const char *cgroup_threads[VM_CGROUP_FILES_MAX];
    unsigned n_cgroup_threads;
} VmConfig;

typedef struct Vm Vm;
typedef struct Vcpu Vcpu;
typedef struct IoDevice IoDevice;

/* A port-I/O device, in kvmtool's manner: a header on the VM's bus plus an ops table. Each call
 * is one element of `size` bytes (1, 2 or 4) at base + offset; string I/O calls it repeatedly. */
typedef struct IoDeviceOps {
    uint32_t (*read)(IoDevice *dev, Vcpu *vcpu, uint16_t offset, unsigned size);
    void (*write)(IoDevice *dev, Vcpu *vcpu, uint16_t offset, unsigned size, uint32_t value);
} IoDeviceOps;

struct IoDevice {
    const char *name;
    uint16_t base;
    uint16_t len;
    StatDevice stat;
    bool byte_registers; /* wider accesses are split into byte accesses at successive ports */
    const IoDeviceOps *ops;
    void *data;
};

struct Vcpu {
    Vm *vm; /* owner */
    unsigned id;
    int fd; /* -EBADF for a detached vCPU (fuzzer) */
    struct kvm_run *run;
    size_t run_size;
    pthread_t thread;
    bool thread_started;
    pid_t tid;          /* the thread's id, set before it counts itself in threads_ready */
    bool up;            /* runs guest code: vCPU 0 from the start, others after VCPU_UP */
    uint64_t start_rip; /* VCPU_UP parameters, read by the vCPU's own thread */
    uint64_t start_rsp;
    uint64_t start_arg;
    bool regs_ready;        /* its registers hold guest state: booted, started or restored */
    bool hc_status_pending; /* a hypercall completed: put hc_status in rax before re-entry */
    int32_t hc_status;
};

typedef struct Console Console;
typedef struct Disk Disk;
typedef struct Uart Uart;
typedef struct Ata Ata;
typedef struct Rtc Rtc;
typedef struct Power Power;
typedef struct PvBlock PvBlock;
typedef struct Net Net;
typedef struct Ne2000 Ne2000;

struct Vm {
    VmConfig cfg;
    int kvm_fd;
    int vm_fd;
    GuestMem mem;
    uint64_t entry;    /* guest entry point (pv: ring 3, full: 32-bit protected mode) */
    uint64_t boot_arg; /* pv: boot info GPA in rdi; full: Multiboot info GPA in ebx */

    Vcpu *vcpus[VM_MAX_VCPUS];
    unsigned nr_vcpus;

    IoDevice io[VM_IO_DEVICES_MAX];
    unsigned n_io;

    Console *console;
    Disk *disk;
    Uart *uart;
    Ata *ata;
    Rtc *rtc;
    Power *power;
    PvBlock *pvblk;
    Net *net;        /* NULL without --net-fd */
    Ne2000 *ne2000;  /* full mode with a network device */
    int doorbell_fd; /* ioeventfd behind MINIHV_PORT_BLK_DOORBELL, or -EBADF */
    int wake_fd;     /* eventfd: wakes the main loop (exit requested, console output) */

    /* Everything below is protected by lock; cond is broadcast on any change. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    VmState state;
    bool released; /* vCPU threads may enter the guest */
    bool exit_requested;
    int exit_status;
    char exit_reason[512];
    unsigned vcpus_up;
    unsigned threads_ready; /* vCPU threads that finished starting */
    unsigned vcpus_running; /* threads in their run loop */
    unsigned vcpus_paused;  /* of those, how many wait in the paused state */
    uint32_t events;        /* latched MINIHV_EVENT_SHUTDOWN */
    uint32_t blk_events;    /* MINIHV_EVENT_BLK since the last POLL */
    uint32_t net_events;    /* MINIHV_EVENT_NET since the last POLL or hlt */
    uint64_t wait_cap_ns;   /* cap on guest-requested waits (0 in the fuzzer: never block) */

    Stats *stats;          /* in stats_page */
    StatsPage *stats_page; /* the counters hvd maps (stats-page.h) */
    int stats_page_fd;     /* its memfd, handed to hvd by the `stats-page` request */
    uint64_t start_realtime_ns;
    uint64_t start_mono_ns;
    uint64_t tsc_khz;

    /* For saved images: the guest image booted (size, FNV-1a 64), and the image this domain
     * was restored from, which it must never save over. */
    uint64_t guest_size;
    uint64_t guest_hash;
    bool restored_from_image;
    dev_t image_dev;
    ino_t image_ino;

    size_t steps_done;  /* set-up steps run so far (vm.c) */
    unsigned new_flags; /* VmNewFlags it was made with */

    uint64_t *dirty_bitmap; /* KVM's dirty log, one bit per page, once logging started */
    uint64_t *vmm_written;  /* a migration's record of the VMM's own writes (mem.vmm_written
                             * points here while it runs); freed with the VM, as a vCPU thread
                             * may still be marking it when a migration ends */
};

/* vm.c */

/* Flags for vm_new. */
typedef enum VmNewFlags {
    VM_NEW_NO_KVM = 1 << 0, /* devices and memory only: no /dev/kvm, no vCPUs (fuzzer) */
} VmNewFlags;

/* Builds a VM from cfg through an ordered table of set-up steps (memory, KVM, image, console,
 * disk, devices, vCPUs), undoing completed steps in reverse on failure. On success *ret owns
 * everything; vCPU threads are not started yet. Returns 0, or a negative errno with e set;
 * -ENOEXEC means the guest image was refused. */
int vm_new(const VmConfig *cfg, VmNewFlags flags, Vm **ret, Error *e);

/* The first half of vm_new for a warm-pool VMM: only the steps that need cfg's mode, mem_size
 * and vcpus (guest memory, KVM's VM with that memory, the vCPUs). The other fields of cfg are
 * not used. *ret is to be completed with vm_complete or freed with vm_free. */
int vm_prepare(const VmConfig *cfg, VmNewFlags flags, Vm **ret, Error *e);

/* The rest of vm_new on a prepared vm, for cfg (a boot or a restore, whose image is mapped over
 * the prepared memory; no incoming migration), whose mode, mem_size and vcpus must be the
 * prepared ones. On failure vm is freed; returns 0 or a negative errno with e set, -ENOEXEC for
 * a refused guest image. */
int vm_complete(Vm *vm, const VmConfig *cfg, Error *e);

/* Stops nothing: the caller has joined every vCPU thread. Accepts NULL, returns NULL. */
Vm *vm_free(Vm *vm);

/* Registers a port range [base, base + len) on the VM's I/O bus. Returns 0 or -ENOSPC. */
int vm_add_io_device(Vm *vm, const IoDevice *dev);

/* lifecycle.c */

/* Ends the domain with status and a reason (printed as "minihv: <reason>"); the first request
 * wins, later ones are ignored. Kicks every vCPU and wakes the main loop. Thread-safe. */
void vm_request_exit(Vm *vm, MinihvExitStatus status, const char *fmt, ...) _printf_(3, 4);

/* Whether an exit was requested (thread-safe snapshot). */
bool vm_exit_requested(Vm *vm);

/* Pauses every vCPU and waits (bounded) until they have left guest mode. Returns 0, or -EBUSY
 * when already paused, -ESHUTDOWN when the domain is stopping. Main thread only. */
int vm_pause(Vm *vm);

/* Whether every vCPU that runs guest code has stopped in the paused state (thread-safe). */
bool vm_all_paused(Vm *vm);

/* Lets paused vCPUs run again (and wakes the network thread, which idles while paused).
 * Returns 0, -EBUSY when not paused, -ESHUTDOWN when stopping. */
int vm_resume(Vm *vm);

/* Whether the domain is paused (a lock-free snapshot, for devices that idle while paused). */
bool vm_is_paused(Vm *vm);

/* Asks the guest to power off: sets MINIHV_EVENT_SHUTDOWN in pv mode, presses the ACPI power
 * button in full mode, and wakes waiting vCPUs. */
void vm_request_shutdown(Vm *vm);

/* Wakes the main loop (console output or exit pending). Thread-safe, async-signal-unsafe. */
void vm_wake_main(Vm *vm);

/* Broadcasts vm->cond so that waiting vCPUs re-check their conditions. Takes vm->lock. */
void vm_notify(Vm *vm);

/* Blocks the calling vCPU until `pending(vm)` is true, the state changes away from running, or
 * timeout_ns (capped at vm->wait_cap_ns) passes. pending is called with vm->lock held. */
void vm_wait(Vm *vm, uint64_t timeout_ns, bool (*pending)(Vm *vm));

/* Interrupts the vCPU's KVM_RUN (immediate_exit plus a signal) so it re-checks the state. */
void vcpu_kick(Vcpu *vcpu);

/* Monotonic and real-time clocks in ns. */
uint64_t now_mono_ns(void);
uint64_t now_realtime_ns(void);
