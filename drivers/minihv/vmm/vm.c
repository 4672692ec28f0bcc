/* VM construction and teardown: an ordered table of set-up steps, undone in reverse. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "console.h"
#include "devices.h"
#include "disk.h"
#include "full.h"
#include "loader.h"
#include "macro.h"
#include "net.h"
#include "pv.h"
#include "snapshot.h"
#include "vcpu.h"
#include "vm.h"

static const char *const vm_mode_table[_VM_MODE_MAX] = {
    [VM_MODE_PV] = "pv",
    [VM_MODE_FULL] = "full",
};

DEFINE_STRING_TABLE(vm_mode, VmMode, _VM_MODE_MAX);

static const char *const vm_state_table[_VM_STATE_MAX] = {
    [VM_STATE_RUNNING] = "running",
    [VM_STATE_PAUSED] = "paused",
    [VM_STATE_STOPPING] = "stopping",
};

DEFINE_STRING_TABLE(vm_state, VmState, _VM_STATE_MAX);

int vm_add_io_device(Vm *vm, const IoDevice *dev)
{
    if (vm->n_io >= VM_IO_DEVICES_MAX)
        return -ENOSPC;
    vm->io[vm->n_io++] = *dev;
    return 0;
}

static int step_memory(Vm *vm, Error *e)
{
    void *p;

    if (vm->cfg.restore)
        return snapshot_map_memory(vm, vm->cfg.restore, e);
    p = mmap(NULL, vm->cfg.mem_size, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return error_set_errno(e, errno, "cannot map %llu MiB of guest memory: %m",
                               (unsigned long long)(vm->cfg.mem_size >> 20));
    (void)madvise(p, vm->cfg.mem_size, MADV_DONTDUMP);
    vm->mem = (GuestMem){
        .base = p,
        .size = vm->cfg.mem_size,
        .owned_start = vm->cfg.mode == VM_MODE_PV ? MINIHV_PV_RESERVED_END : 0,
    };
    return 0;
}

static void unstep_memory(Vm *vm)
{
    if (vm->mem.base)
        (void)munmap(vm->mem.base, vm->mem.size);
    vm->mem.base = NULL;
}

static int step_kvm(Vm *vm, Error *e)
{
    struct kvm_userspace_memory_region region;
    int r;

    vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (vm->kvm_fd < 0)
        return error_set_errno(e, errno, "cannot open /dev/kvm: %m");
    r = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
    if (r != KVM_API_VERSION)
        return error_set_errno(e, ENOTSUP, "/dev/kvm speaks API %d, not %d", r, KVM_API_VERSION);
    if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY) <= 0 ||
        ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IMMEDIATE_EXIT) <= 0)
        return error_set_errno(e, ENOTSUP, "/dev/kvm lacks user memory or immediate exit");
    vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
    if (vm->vm_fd < 0)
        return error_set_errno(e, errno, "cannot create a KVM virtual machine: %m");
    region = (struct kvm_userspace_memory_region){
        .slot = 0,
        .guest_phys_addr = 0,
        .memory_size = vm->mem.size,
        .userspace_addr = (uint64_t)(uintptr_t)vm->mem.base,
    };
    if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
        return error_set_errno(e, errno, "cannot give guest memory to KVM: %m");
    return 0;
}

static void unstep_kvm(Vm *vm)
{
    vm->vm_fd = safe_close(vm->vm_fd);
    vm->kvm_fd = safe_close(vm->kvm_fd);
}

static int step_image(Vm *vm, Error *e)
{
    int r;

    if (!vm->cfg.guest_path || vm->cfg.restore || vm->cfg.incoming)
        return 0;
    r = loader_load(vm, e);
    if (r == -ENOEXEC) {
        char msg[sizeof(e->message) + PATH_MAX + 32];
        (void)snprintf(msg, sizeof(msg), "bad guest image %s: %s", vm->cfg.guest_path, e->message);
        msg[sizeof(e->message) - 1] = '\0';
        memcpy(e->message, msg, sizeof(e->message));
    }
    return r;
}

static int step_devices(Vm *vm, Error *e)
{
    int r;

    if (vm->cfg.mode == VM_MODE_PV) {
        r = hypercall_init(vm, e);
        if (r >= 0)
            r = pv_block_init(vm, e);
        return r;
    }
    r = uart_init(vm, e);
    if (r >= 0)
        r = ata_init(vm, e);
    if (r >= 0)
        r = rtc_init(vm, e);
    if (r >= 0)
        r = power_init(vm, e);
    return r;
}

static void unstep_devices(Vm *vm)
{
    pv_block_fini(vm);
    power_fini(vm);
    rtc_fini(vm);
    ata_fini(vm);
    uart_fini(vm);
    vm->n_io = 0;
}

static int step_vcpus(Vm *vm, Error *e)
{
    int r;

    for (unsigned i = 0; i < vm->cfg.vcpus; i++) {
        r = vcpu_new(vm, i, e);
        if (r < 0)
            return r;
        vm->nr_vcpus++;
    }
    if (vm->vcpus[0]->fd >= 0) {
        r = ioctl(vm->vcpus[0]->fd, KVM_GET_TSC_KHZ, 0);
        if (r > 0)
            vm->tsc_khz = (uint64_t)r;
    }
    return 0;
}

static void unstep_vcpus(Vm *vm)
{
    for (unsigned i = 0; i < VM_MAX_VCPUS; i++)
        vm->vcpus[i] = vcpu_free(vm->vcpus[i]);
    vm->nr_vcpus = 0;
}

/* Boot structures and the boot vCPU's registers; other pv vCPUs get theirs at VCPU_UP. */
static int step_boot(Vm *vm, Error *e)
{
    int r;

    if (vm->cfg.restore || vm->cfg.incoming)
        return 0; /* the saved state is loaded once every device exists */
    if (vm->cfg.mode == VM_MODE_PV) {
        r = pv_boot_init(vm, e);
        if (r < 0)
            return r;
        for (unsigned i = 0; i < vm->nr_vcpus && vm->vcpus[i]->fd >= 0; i++) {
            r = pv_boot_setup_vcpu(vm->vcpus[i], vm->entry, vm->mem.size & ~0xfull, vm->boot_arg,
                                   i);
            if (r < 0)
                return error_set_errno(e, r, "cannot set up vCPU %u: %m", i);
        }
        vm->vcpus[0]->up = vm->vcpus[0]->regs_ready = true;
        vm->vcpus_up = 1;
        return 0;
    }
    if (vm->vcpus[0]->fd >= 0) {
        r = full_boot_setup_vcpu(vm->vcpus[0]);
        if (r < 0)
            return error_set_errno(e, r, "cannot set up vCPU 0: %m");
    }
    vm->vcpus[0]->up = vm->vcpus[0]->regs_ready = true;
    vm->vcpus_up = 1;
    return 0;
}

static int step_restore(Vm *vm, Error *e)
{
    if (!vm->cfg.restore)
        return 0;
    return snapshot_restore(vm, vm->cfg.restore, e);
}

/* The block doorbell as an ioeventfd: the guest's notification costs no exit to user space. */
static int step_doorbell(Vm *vm, Error *e)
{
    struct kvm_ioeventfd io;
    int fd;

    if (vm->cfg.mode != VM_MODE_PV || !vm->disk)
        return 0;
    fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0)
        return error_set_errno(e, errno, "cannot create an eventfd: %m");
    io = (struct kvm_ioeventfd){
        .addr = MINIHV_PORT_BLK_DOORBELL,
        .len = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD_ANY_LENGTH) > 0 ? 0 : 4,
        .fd = fd,
        .flags = KVM_IOEVENTFD_FLAG_PIO,
    };
    if (ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0) {
        (void)close(fd); /* doorbell writes then exit and are handled synchronously */
        return 0;
    }
    vm->doorbell_fd = fd;
    return 0;
}

static void unstep_doorbell(Vm *vm)
{
    vm->doorbell_fd = safe_close(vm->doorbell_fd);
}

static int step_wake(Vm *vm, Error *e)
{
    vm->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (vm->wake_fd < 0)
        return error_set_errno(e, errno, "cannot create an eventfd: %m");
    return 0;
}

static void unstep_wake(Vm *vm)
{
    vm->wake_fd = safe_close(vm->wake_fd);
}

typedef struct VmStep {
    const char *name;
    bool needs_kvm;
    bool shape_only; /* needs only the mode, memory size and vCPU count (vm_prepare) */
    int (*init)(Vm *vm, Error *e);
    void (*fini)(Vm *vm);
} VmStep;

/* The steps that need only the shape come first: a warm-pool VMM runs them before its guest is
 * known. */
static const VmStep vm_steps[] = {
    {"stats-page", false, true, stats_page_init, stats_page_fini},
    {"memory", false, true, step_memory, unstep_memory},
    {"kvm", true, true, step_kvm, unstep_kvm},
    {"vcpus", false, true, step_vcpus, unstep_vcpus},
    {"image", false, false, step_image, NULL},
    {"console", false, false, console_init, console_fini},
    {"disk", false, false, disk_init, disk_fini},
    {"devices", false, false, step_devices, unstep_devices},
    {"net", false, false, net_init, net_fini},
    {"boot", false, false, step_boot, NULL},
    {"doorbell", true, false, step_doorbell, unstep_doorbell},
    {"wake", false, false, step_wake, unstep_wake},
    {"restore", false, false, step_restore, NULL},
};

static void vm_unwind(Vm *vm, size_t done)
{
    while (done-- > 0)
        if (vm_steps[done].fini)
            vm_steps[done].fini(vm);
}

static void vm_discard(Vm *vm, size_t done)
{
    vm_unwind(vm, done);
    pthread_cond_destroy(&vm->cond);
    pthread_mutex_destroy(&vm->lock);
    free(vm);
}

/* Runs the steps from vm->steps_done on, the shape-only ones or all of them. On failure vm is
 * freed. */
static int vm_run_steps(Vm *vm, bool shape_only, Error *e)
{
    for (size_t i = vm->steps_done; i < ELEMENTSOF(vm_steps); i++) {
        int r;

        if (shape_only && !vm_steps[i].shape_only)
            break;
        vm->steps_done = i + 1;
        if (vm_steps[i].needs_kvm && (vm->new_flags & VM_NEW_NO_KVM))
            continue;
        r = vm_steps[i].init(vm, e);
        if (r < 0) {
            vm_discard(vm, i + 1);
            return r;
        }
    }
    return 0;
}

int vm_prepare(const VmConfig *cfg, VmNewFlags flags, Vm **ret, Error *e)
{
    pthread_condattr_t ca;
    Vm *vm;
    int r;

    if (cfg->vcpus == 0 || cfg->vcpus > VM_MAX_VCPUS ||
        (cfg->mode == VM_MODE_FULL && cfg->vcpus != 1))
        return error_setf(e, ERROR_INVALID_ARGUMENT, "unsupported vCPU count %u", cfg->vcpus);
    vm = calloc(1, sizeof(*vm));
    if (!vm)
        return error_set_errno(e, ENOMEM, "out of memory");
    vm->cfg = *cfg;
    if (!vm->cfg.cmdline)
        vm->cfg.cmdline = "";
    vm->new_flags = flags;
    vm->kvm_fd = vm->vm_fd = vm->doorbell_fd = vm->wake_fd = vm->stats_page_fd = -EBADF;
    vm->wait_cap_ns = VM_WAIT_CAP_NS;
    pthread_mutex_init(&vm->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&vm->cond, &ca);
    pthread_condattr_destroy(&ca);
    r = vm_run_steps(vm, true, e);
    if (r < 0)
        return r;
    *ret = vm;
    return 0;
}

int vm_complete(Vm *vm, const VmConfig *cfg, Error *e)
{
    int r;

    if (cfg->mode != vm->cfg.mode || cfg->mem_size != vm->cfg.mem_size ||
        cfg->vcpus != vm->cfg.vcpus || cfg->incoming) {
        vm_discard(vm, vm->steps_done);
        return error_setf(e, ERROR_INVALID_ARGUMENT,
                          "the guest's settings do not fit the VM made for it");
    }
    vm->cfg = *cfg;
    if (!vm->cfg.cmdline)
        vm->cfg.cmdline = "";
    if (cfg->restore) {
        r = snapshot_map_memory(vm, cfg->restore, e);
        if (r < 0) {
            vm_discard(vm, vm->steps_done);
            return r;
        }
    }
    vm->start_realtime_ns = now_realtime_ns();
    vm->start_mono_ns = now_mono_ns();
    return vm_run_steps(vm, false, e);
}

int vm_new(const VmConfig *cfg, VmNewFlags flags, Vm **ret, Error *e)
{
    Vm *vm;
    int r;

    r = vm_prepare(cfg, flags, &vm, e);
    if (r < 0)
        return r;
    vm->start_realtime_ns = now_realtime_ns();
    vm->start_mono_ns = now_mono_ns();
    r = vm_run_steps(vm, false, e);
    if (r < 0)
        return r;
    *ret = vm;
    return 0;
}

Vm *vm_free(Vm *vm)
{
    if (!vm)
        return NULL;
    vm_unwind(vm, ELEMENTSOF(vm_steps));
    free(vm->dirty_bitmap);
    free(vm->vmm_written);
    pthread_cond_destroy(&vm->cond);
    pthread_mutex_destroy(&vm->lock);
    return mfree(vm);
}
