/* pv hypercalls: the port window, the block and net doorbell ports, the exception-report port. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "console.h"
#include "devices.h"
#include "disk.h"
#include "macro.h"
#include "net.h"
#include "pv.h"
#include "vcpu.h"

static StatDevice hypercall_stat(uint32_t nr)
{
    switch (nr) {
    case MINIHV_HC_CONSOLE_WRITE:
    case MINIHV_HC_CONSOLE_READ:
        return STAT_DEV_HC_CONSOLE;
    case MINIHV_HC_BLK_INFO:
    case MINIHV_HC_BLK_SETUP:
    case MINIHV_HC_BLK_KICK:
        return STAT_DEV_HC_BLOCK;
    case MINIHV_HC_POLL:
        return STAT_DEV_HC_POLL;
    case MINIHV_HC_POWEROFF:
    case MINIHV_HC_REBOOT:
        return STAT_DEV_HC_POWER;
    case MINIHV_HC_CRASH:
        return STAT_DEV_HC_CRASH;
    case MINIHV_HC_VCPU_UP:
        return STAT_DEV_HC_VCPU;
    case MINIHV_HC_NET_INFO:
    case MINIHV_HC_NET_SETUP:
        return STAT_DEV_HC_NET;
    default:
        return STAT_DEV_HC_INVALID;
    }
}

static int32_t hc_console_write(Vcpu *vcpu, uint64_t gpa)
{
    struct minihv_hc_console_write req;
    Vm *vm = vcpu->vm;
    const void *buf;

    if (gmem_read(&vm->mem, gpa, &req, sizeof(req)) < 0)
        return MINIHV_EFAULT;
    if (req.len > MINIHV_CONSOLE_WRITE_MAX)
        return MINIHV_EINVAL;
    buf = gmem_ptr(&vm->mem, req.buf, req.len);
    if (!buf)
        return MINIHV_EFAULT;
    console_output(vm, buf, req.len); /* bytes are passed through, never interpreted */
    return MINIHV_OK;
}

static int32_t hc_console_read(Vcpu *vcpu, uint64_t gpa)
{
    struct minihv_hc_console_read req;
    uint8_t tmp[MINIHV_CONSOLE_READ_MAX];
    Vm *vm = vcpu->vm;
    uint32_t len;
    size_t n;

    if (gmem_read(&vm->mem, gpa, &req, sizeof(req)) < 0)
        return MINIHV_EFAULT;
    len = MIN(req.len, MINIHV_CONSOLE_READ_MAX);
    if (!gmem_range_ok(&vm->mem, req.buf, len))
        return MINIHV_EFAULT;
    n = console_input_pop(vm, tmp, len);
    (void)gmem_write(&vm->mem, req.buf, tmp, n);
    req.nread = (uint32_t)n;
    (void)gmem_write(&vm->mem, gpa + offsetof(struct minihv_hc_console_read, nread), &req.nread,
                     sizeof(req.nread));
    return MINIHV_OK;
}

static int32_t hc_blk_info(Vcpu *vcpu, uint64_t gpa)
{
    Vm *vm = vcpu->vm;
    struct minihv_hc_blk_info out;

    if (!gmem_range_ok(&vm->mem, gpa, sizeof(out)))
        return MINIHV_EFAULT;
    if (!vm->disk)
        return MINIHV_ENODEV;
    out = (struct minihv_hc_blk_info){
        .sectors = vm->disk->sectors,
        .sector_size = MINIHV_BLK_SECTOR_SIZE,
        .flags = vm->disk->read_only ? MINIHV_BLK_F_READ_ONLY : 0,
        .max_sectors = MINIHV_BLK_MAX_SECTORS,
    };
    (void)gmem_write(&vm->mem, gpa, &out, sizeof(out));
    return MINIHV_OK;
}

static int32_t hc_blk_setup(Vcpu *vcpu, uint64_t gpa)
{
    struct minihv_hc_blk_setup req;

    if (gmem_read(&vcpu->vm->mem, gpa, &req, sizeof(req)) < 0)
        return MINIHV_EFAULT;
    return pv_block_setup(vcpu->vm, req.ring, req.entries);
}

static int32_t hc_net_info(Vcpu *vcpu, uint64_t gpa)
{
    Vm *vm = vcpu->vm;
    struct minihv_hc_net_info out;

    if (!gmem_range_ok(&vm->mem, gpa, sizeof(out)))
        return MINIHV_EFAULT;
    if (!vm->net)
        return MINIHV_ENODEV;
    out = (struct minihv_hc_net_info){
        .flags = MINIHV_NET_F_LINK_UP,
        .mtu = MINIHV_NET_MTU,
        .max_entries = MINIHV_NET_RING_MAX_ENTRIES,
        .max_frame = MINIHV_NET_FRAME_MAX,
    };
    memcpy(out.mac, vm->net->mac, sizeof(out.mac));
    (void)gmem_write(&vm->mem, gpa, &out, sizeof(out));
    return MINIHV_OK;
}

static int32_t hc_net_setup(Vcpu *vcpu, uint64_t gpa)
{
    struct minihv_hc_net_setup req;

    if (gmem_read(&vcpu->vm->mem, gpa, &req, sizeof(req)) < 0)
        return MINIHV_EFAULT;
    return pv_net_setup(vcpu->vm, req.tx_ring, req.rx_ring, req.entries);
}

static bool poll_pending(Vm *vm)
{
    return console_input_pending_locked(vm) || vm->events || vm->blk_events || vm->net_events;
}

static int32_t hc_poll(Vcpu *vcpu, uint64_t gpa)
{
    struct minihv_hc_poll req;
    Vm *vm = vcpu->vm;
    uint32_t events;

    if (gmem_read(&vm->mem, gpa, &req, sizeof(req)) < 0)
        return MINIHV_EFAULT;
    vm_wait(vm, req.timeout_ns, poll_pending);
    pthread_mutex_lock(&vm->lock);
    events = vm->events | vm->blk_events | vm->net_events |
             (console_input_pending_locked(vm) ? MINIHV_EVENT_CONSOLE_INPUT : 0);
    vm->blk_events = 0;
    vm->net_events = 0;
    pthread_mutex_unlock(&vm->lock);
    req.events = events;
    (void)gmem_write(&vm->mem, gpa + offsetof(struct minihv_hc_poll, events), &req.events,
                     sizeof(req.events));
    return MINIHV_OK;
}

/* Keeps printable ASCII of a guest message; everything else becomes '?'. */
static void sanitize_message(char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            s[i] = '?';
    s[len] = '\0';
}

static int32_t hc_crash(Vcpu *vcpu, uint64_t gpa)
{
    struct minihv_hc_crash req;
    char msg[MINIHV_CRASH_MESSAGE_MAX + 1];
    Vm *vm = vcpu->vm;
    uint32_t len;

    if (gmem_read(&vm->mem, gpa, &req, sizeof(req)) < 0) {
        vm_request_exit(vm, MINIHV_EXIT_CRASH, "guest crashed: crash report (request unreadable)");
        return MINIHV_EFAULT;
    }
    len = MIN(req.len, MINIHV_CRASH_MESSAGE_MAX);
    if (gmem_read(&vm->mem, req.msg, msg, len) < 0) {
        vm_request_exit(vm, MINIHV_EXIT_CRASH, "guest crashed: crash report (message unreadable)");
        return MINIHV_EFAULT;
    }
    sanitize_message(msg, len);
    vm_request_exit(vm, MINIHV_EXIT_CRASH, "guest crashed: guest reported: %s", msg);
    return MINIHV_OK;
}

static int32_t hc_vcpu_up(Vcpu *vcpu, uint64_t gpa)
{
    struct minihv_hc_vcpu_up req;
    Vm *vm = vcpu->vm;
    Vcpu *target;
    int32_t status = MINIHV_OK;

    if (gmem_read(&vm->mem, gpa, &req, sizeof(req)) < 0)
        return MINIHV_EFAULT;
    if (req.cpu == 0 || req.cpu >= vm->nr_vcpus)
        return MINIHV_EINVAL;
    /* rip must be guest-owned memory; rsp may be the end of guest memory (empty stack) */
    if (!gmem_range_ok(&vm->mem, req.rip, 1) || req.rsp < vm->mem.owned_start ||
        req.rsp > vm->mem.size)
        return MINIHV_EFAULT;
    target = vm->vcpus[req.cpu];
    pthread_mutex_lock(&vm->lock);
    if (target->up)
        status = MINIHV_EBUSY;
    else {
        target->start_rip = req.rip;
        target->start_rsp = req.rsp;
        target->start_arg = req.arg;
        target->up = true;
        vm->vcpus_up++;
        pthread_cond_broadcast(&vm->cond);
    }
    pthread_mutex_unlock(&vm->lock);
    return status;
}

static bool status_is_malformed(int32_t status)
{
    return status == MINIHV_EFAULT || status == MINIHV_EINVAL || status == MINIHV_ENOSYS ||
           status == MINIHV_ERANGE;
}

int32_t hypercall_dispatch(Vcpu *vcpu, uint32_t nr, uint64_t gpa)
{
    Vm *vm = vcpu->vm;
    int32_t status;

    stats_add(&vm->stats->devices[hypercall_stat(nr)], 1);
    switch (nr) {
    case MINIHV_HC_CONSOLE_WRITE:
        status = hc_console_write(vcpu, gpa);
        break;
    case MINIHV_HC_CONSOLE_READ:
        status = hc_console_read(vcpu, gpa);
        break;
    case MINIHV_HC_BLK_INFO:
        status = hc_blk_info(vcpu, gpa);
        break;
    case MINIHV_HC_BLK_SETUP:
        status = hc_blk_setup(vcpu, gpa);
        break;
    case MINIHV_HC_BLK_KICK:
        if (!vm->disk)
            status = MINIHV_ENODEV;
        else {
            pv_block_process(vm);
            status = MINIHV_OK;
        }
        break;
    case MINIHV_HC_POLL:
        status = hc_poll(vcpu, gpa);
        break;
    case MINIHV_HC_POWEROFF:
        vm_request_exit(vm, MINIHV_EXIT_POWEROFF, "guest powered off");
        status = MINIHV_OK;
        break;
    case MINIHV_HC_REBOOT:
        vm_request_exit(vm, MINIHV_EXIT_REBOOT, "guest asked for a reboot");
        status = MINIHV_OK;
        break;
    case MINIHV_HC_CRASH:
        status = hc_crash(vcpu, gpa);
        break;
    case MINIHV_HC_VCPU_UP:
        status = hc_vcpu_up(vcpu, gpa);
        break;
    case MINIHV_HC_NET_INFO:
        status = hc_net_info(vcpu, gpa);
        break;
    case MINIHV_HC_NET_SETUP:
        status = hc_net_setup(vcpu, gpa);
        break;
    default:
        status = MINIHV_ENOSYS;
        break;
    }
    if (status_is_malformed(status))
        stats_add(&vm->stats->bad_guest_requests, 1);
    return status;
}

static uint32_t hc_port_read(IoDevice *dev, Vcpu *vcpu, uint16_t off, unsigned size)
{
    stats_add(&vcpu->vm->stats->devices[STAT_DEV_HC_INVALID], 1);
    stats_add(&vcpu->vm->stats->bad_guest_requests, 1); /* hypercalls are writes */
    return 0xffffffffu;
}

static void hc_port_write(IoDevice *dev, Vcpu *vcpu, uint16_t off, unsigned size, uint32_t value)
{
    if (size != 4) {
        stats_add(&vcpu->vm->stats->devices[STAT_DEV_HC_INVALID], 1);
        stats_add(&vcpu->vm->stats->bad_guest_requests, 1);
        vcpu->hc_status = MINIHV_EINVAL;
    } else
        vcpu->hc_status = hypercall_dispatch(vcpu, off, value);
    vcpu->hc_status_pending = true;
}

static const IoDeviceOps hc_port_ops = {
    .read = hc_port_read,
    .write = hc_port_write,
};

static uint32_t doorbell_read(IoDevice *dev, Vcpu *vcpu, uint16_t off, unsigned size)
{
    return 0xffffffffu;
}

/* Reached only when the doorbell is not an ioeventfd (or for an unregistered access size). */
static void doorbell_write(IoDevice *dev, Vcpu *vcpu, uint16_t off, unsigned size, uint32_t value)
{
    pv_block_process(vcpu->vm);
}

static const IoDeviceOps doorbell_ops = {
    .read = doorbell_read,
    .write = doorbell_write,
};

/* Reached only when the net doorbell is not an ioeventfd: the network thread does the work. */
static void net_doorbell_write(IoDevice *dev, Vcpu *vcpu, uint16_t off, unsigned size,
                               uint32_t value)
{
    if (vcpu->vm->net)
        net_wake(vcpu->vm->net);
}

static const IoDeviceOps net_doorbell_ops = {
    .read = doorbell_read,
    .write = net_doorbell_write,
};

static const char *const exception_names[32] = {
    [0] = "#DE (divide error)",
    [1] = "#DB (debug)",
    [2] = "NMI",
    [3] = "#BP (breakpoint)",
    [4] = "#OF (overflow)",
    [5] = "#BR (bound range)",
    [6] = "#UD (invalid opcode)",
    [7] = "#NM (device not available)",
    [8] = "#DF (double fault)",
    [10] = "#TS (invalid TSS)",
    [11] = "#NP (segment not present)",
    [12] = "#SS (stack fault)",
    [13] = "#GP (general protection)",
    [14] = "#PF (page fault)",
    [16] = "#MF (x87 error)",
    [17] = "#AC (alignment check)",
    [18] = "#MC (machine check)",
    [19] = "#XM (SIMD error)",
    [20] = "#VE (virtualization exception)",
    [21] = "#CP (control protection)",
};

/* The ring-0 stub's report: rsp points at vector, error code, then the CPU's frame (rip, cs,
 * rflags, rsp, ss). */
static void exception_write(IoDevice *dev, Vcpu *vcpu, uint16_t off, unsigned size, uint32_t value)
{
    Vm *vm = vcpu->vm;
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    const uint64_t *f;
    const char *name;

    if (vcpu_get_regs(vcpu, &regs) < 0 || vcpu_get_sregs(vcpu, &sregs) < 0) {
        vm_request_exit(vm, MINIHV_EXIT_CRASH, "guest crashed: exception (no register state)");
        return;
    }
    f = gmem_vmm_ptr(&vm->mem, regs.rsp, 7 * sizeof(uint64_t));
    if (!f) {
        vm_request_exit(vm, MINIHV_EXIT_CRASH,
                        "guest crashed: exception with an unreadable frame (vcpu %u)", vcpu->id);
        return;
    }
    name = f[0] < 32 && exception_names[f[0]] ? exception_names[f[0]] : "exception";
    if (f[0] == 14)
        vm_request_exit(vm, MINIHV_EXIT_CRASH,
                        "guest crashed: %s at rip=0x%llx cr2=0x%llx error=0x%llx rsp=0x%llx "
                        "(vcpu %u)",
                        name, (unsigned long long)f[2], (unsigned long long)sregs.cr2,
                        (unsigned long long)f[1], (unsigned long long)f[5], vcpu->id);
    else
        vm_request_exit(vm, MINIHV_EXIT_CRASH,
                        "guest crashed: %s, vector %llu, at rip=0x%llx error=0x%llx rsp=0x%llx "
                        "(vcpu %u)",
                        name, (unsigned long long)f[0], (unsigned long long)f[2],
                        (unsigned long long)f[1], (unsigned long long)f[5], vcpu->id);
}

static uint32_t exception_read(IoDevice *dev, Vcpu *vcpu, uint16_t off, unsigned size)
{
    return 0xffffffffu;
}

static const IoDeviceOps exception_ops = {
    .read = exception_read,
    .write = exception_write,
};

int hypercall_init(Vm *vm, Error *e)
{
    int r;

    r = vm_add_io_device(vm, &(IoDevice){
                                 .name = "hypercall",
                                 .base = MINIHV_HC_PORT_BASE,
                                 .len = MINIHV_HC_PORT_COUNT,
                                 .stat = STAT_DEV_SELF, /* counted per call */
                                 .ops = &hc_port_ops,
                             });
    if (r >= 0)
        r = vm_add_io_device(vm, &(IoDevice){
                                     .name = "blk-doorbell",
                                     .base = MINIHV_PORT_BLK_DOORBELL,
                                     .len = 1,
                                     .stat = STAT_DEV_BLK_DOORBELL,
                                     .ops = &doorbell_ops,
                                 });
    if (r >= 0)
        r = vm_add_io_device(vm, &(IoDevice){
                                     .name = "net-doorbell",
                                     .base = MINIHV_PORT_NET_DOORBELL,
                                     .len = 1,
                                     .stat = STAT_DEV_NET_DOORBELL,
                                     .ops = &net_doorbell_ops,
                                 });
    if (r >= 0)
        r = vm_add_io_device(vm, &(IoDevice){
                                     .name = "exception",
                                     .base = MINIHV_PORT_EXCEPTION,
                                     .len = 1,
                                     .stat = STAT_DEV_EXCEPTION,
                                     .ops = &exception_ops,
                                 });
    if (r < 0)
        return error_set_errno(e, r, "cannot register the hypercall ports: %m");
    return 0;
}
