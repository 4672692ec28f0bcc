/* vCPU threads: wait to be started, run KVM_RUN, dispatch exits, honour pause and stop. */
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "console.h"
#include "io-bus.h"
#include "macro.h"
#include "pv.h"
#include "vcpu.h"

#define VCPU_CPUID_ENTRIES 256

/* The hypervisor timing leaf (0x40000010, EAX = TSC kHz, as VMware and KVM define it), so a
 * full-mode guest can turn rdtsc into time without calibrating against a device. */
static void vcpu_cpuid_add_tsc_leaf(Vcpu *v, struct kvm_cpuid2 *cpuid)
{
    int khz = ioctl(v->fd, KVM_GET_TSC_KHZ, 0);
    struct kvm_cpuid_entry2 *base = NULL;

    if (khz <= 0 || cpuid->nent >= VCPU_CPUID_ENTRIES)
        return;
    for (unsigned i = 0; i < cpuid->nent; i++)
        if (cpuid->entries[i].function == 0x40000000u)
            base = &cpuid->entries[i];
    if (!base)
        return;
    if (base->eax < 0x40000010u)
        base->eax = 0x40000010u;
    cpuid->entries[cpuid->nent++] = (struct kvm_cpuid_entry2){
        .function = 0x40000010u,
        .eax = (uint32_t)khz,
    };
}

int vcpu_new(Vm *vm, unsigned id, Error *e)
{
    _cleanup_free_ struct kvm_cpuid2 *cpuid = NULL;
    Vcpu *v;
    int size;

    v = calloc(1, sizeof(*v));
    if (!v)
        return error_set_errno(e, ENOMEM, "out of memory");
    v->vm = vm;
    v->id = id;
    v->fd = -EBADF;
    vm->vcpus[id] = v;
    if (vm->vm_fd < 0)
        return 0; /* detached: the fuzzer drives devices without KVM */

    v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id); /* O_CLOEXEC by KVM */
    if (v->fd < 0)
        return error_set_errno(e, errno, "cannot create vCPU %u: %m", id);
    size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (size < (int)sizeof(struct kvm_run))
        return error_set_errno(e, EINVAL, "KVM reports a bad vCPU mapping size %d", size);
    v->run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
    if (v->run == MAP_FAILED) {
        v->run = NULL;
        return error_set_errno(e, errno, "cannot map vCPU %u: %m", id);
    }
    v->run_size = (size_t)size;

    /* The host's CPUID, so that the guest may enable long mode (KVM checks CPUID.LM). */
    cpuid = calloc(1, sizeof(*cpuid) + VCPU_CPUID_ENTRIES * sizeof(struct kvm_cpuid_entry2));
    if (!cpuid)
        return error_set_errno(e, ENOMEM, "out of memory");
    cpuid->nent = VCPU_CPUID_ENTRIES;
    if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) < 0)
        return error_set_errno(e, errno, "cannot read the supported CPUID: %m");
    vcpu_cpuid_add_tsc_leaf(v, cpuid);
    if (ioctl(v->fd, KVM_SET_CPUID2, cpuid) < 0)
        return error_set_errno(e, errno, "cannot set the CPUID of vCPU %u: %m", id);
    return 0;
}

Vcpu *vcpu_free(Vcpu *v)
{
    if (!v)
        return NULL;
    if (v->run)
        (void)munmap(v->run, v->run_size);
    v->fd = safe_close(v->fd);
    return mfree(v);
}

int vcpu_get_regs(Vcpu *v, struct kvm_regs *regs)
{
    if (v->fd < 0)
        return -EBADF;
    return ioctl(v->fd, KVM_GET_REGS, regs) < 0 ? -errno : 0;
}

int vcpu_set_regs(Vcpu *v, const struct kvm_regs *regs)
{
    if (v->fd < 0)
        return -EBADF;
    return ioctl(v->fd, KVM_SET_REGS, regs) < 0 ? -errno : 0;
}

int vcpu_get_sregs(Vcpu *v, struct kvm_sregs *sregs)
{
    if (v->fd < 0)
        return -EBADF;
    return ioctl(v->fd, KVM_GET_SREGS, sregs) < 0 ? -errno : 0;
}

int vcpu_set_sregs(Vcpu *v, const struct kvm_sregs *sregs)
{
    if (v->fd < 0)
        return -EBADF;
    return ioctl(v->fd, KVM_SET_SREGS, sregs) < 0 ? -errno : 0;
}

static uint64_t vcpu_rip(Vcpu *v)
{
    struct kvm_regs regs;

    return vcpu_get_regs(v, &regs) < 0 ? 0 : regs.rip;
}

static void vcpu_count(Vcpu *v, ExitReason reason)
{
    stats_add(&v->vm->stats->exits[reason], 1);
}

/* A hypercall's status goes to the guest in eax; the OUT itself completes on re-entry. */
static void vcpu_complete_hypercall(Vcpu *v)
{
    struct kvm_regs regs;

    v->hc_status_pending = false;
    if (vcpu_get_regs(v, &regs) < 0)
        return;
    regs.rax = (uint32_t)v->hc_status;
    if (vcpu_set_regs(v, &regs) < 0)
        vm_request_exit(v->vm, MINIHV_EXIT_HOST_ERROR,
                        "host error: cannot return a hypercall status to vCPU %u", v->id);
}

static void vcpu_exit_io(Vcpu *v)
{
    struct kvm_run *run = v->run;
    uint64_t bytes = (uint64_t)run->io.size * run->io.count;

    vcpu_count(v, EXIT_REASON_IO);
    if (run->io.data_offset >= v->run_size || bytes > v->run_size - run->io.data_offset) {
        vm_request_exit(v->vm, MINIHV_EXIT_HOST_ERROR,
                        "host error: KVM reported port I/O data outside the vCPU mapping");
        return;
    }
    io_bus_access(v, run->io.port, run->io.direction == KVM_EXIT_IO_OUT, run->io.size,
                  run->io.count, (uint8_t *)run + run->io.data_offset);
    if (v->hc_status_pending)
        vcpu_complete_hypercall(v);
}

static bool hlt_pending(Vm *vm)
{
    return console_input_pending_locked(vm) || vm->events || vm->net_events;
}

/* A frame that arrived wakes one hlt; the guest then polls its NIC. */
static void vcpu_wait_hlt(Vm *vm)
{
    vm_wait(vm, VM_HLT_WAIT_NS, hlt_pending);
    pthread_mutex_lock(&vm->lock);
    vm->net_events = 0;
    pthread_mutex_unlock(&vm->lock);
}

static void vcpu_exit_internal_error(Vcpu *v)
{
    struct kvm_run *run = v->run;
    char bytes[64] = "";
    size_t used = 0;

    if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION &&
        (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
        unsigned n = MIN((unsigned)run->emulation_failure.insn_size, 8u);
        used = (size_t)snprintf(bytes, sizeof(bytes), ", instruction bytes");
        for (unsigned i = 0; i < n && used < sizeof(bytes); i++)
            used += (size_t)snprintf(bytes + used, sizeof(bytes) - used, " %02x",
                                     run->emulation_failure.insn_bytes[i]);
    }
    vm_request_exit(v->vm, MINIHV_EXIT_CRASH,
                    "guest crashed: KVM internal error (%s, suberror %u) at rip=0x%llx%s",
                    run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION
                        ? "instruction not emulated"
                        : "unexpected state",
                    run->internal.suberror, (unsigned long long)vcpu_rip(v), bytes);
}

void vcpu_handle_exit(Vcpu *v)
{
    struct kvm_run *run = v->run;
    Vm *vm = v->vm;

    switch (run->exit_reason) {
    case KVM_EXIT_IO:
        vcpu_exit_io(v);
        break;
    case KVM_EXIT_MMIO:
        vcpu_count(v, EXIT_REASON_MMIO);
        mmio_access(v, run->mmio.phys_addr, run->mmio.is_write, MIN(run->mmio.len, 8u),
                    run->mmio.data);
        break;
    case KVM_EXIT_HLT:
        /* No interrupt controller: hlt sleeps until input, a shutdown request, or a while. */
        vcpu_count(v, EXIT_REASON_HLT);
        vcpu_wait_hlt(vm);
        break;
    case KVM_EXIT_SHUTDOWN:
        vcpu_count(v, EXIT_REASON_SHUTDOWN);
        vm_request_exit(vm, MINIHV_EXIT_CRASH, "guest crashed: triple fault at rip=0x%llx",
                        (unsigned long long)vcpu_rip(v));
        break;
    case KVM_EXIT_INTERNAL_ERROR:
        vcpu_count(v, EXIT_REASON_INTERNAL_ERROR);
        vcpu_exit_internal_error(v);
        break;
    case KVM_EXIT_FAIL_ENTRY:
        vcpu_count(v, EXIT_REASON_FAIL_ENTRY);
        vm_request_exit(vm, MINIHV_EXIT_CRASH,
                        "guest crashed: vCPU %u cannot enter guest mode (reason 0x%llx)", v->id,
                        (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
        break;
    case KVM_EXIT_SYSTEM_EVENT:
        vcpu_count(v, EXIT_REASON_SYSTEM_EVENT);
        if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN)
            vm_request_exit(vm, MINIHV_EXIT_POWEROFF, "guest powered off");
        else if (run->system_event.type == KVM_SYSTEM_EVENT_RESET)
            vm_request_exit(vm, MINIHV_EXIT_REBOOT, "guest asked for a reboot");
        else
            vm_request_exit(vm, MINIHV_EXIT_CRASH, "guest crashed: system event %u",
                            run->system_event.type);
        break;
    default:
        vcpu_count(v, EXIT_REASON_OTHER);
        vm_request_exit(vm, MINIHV_EXIT_CRASH,
                        "guest crashed: unexpected KVM exit %u at rip=0x%llx", run->exit_reason,
                        (unsigned long long)vcpu_rip(v));
        break;
    }
}

/* KVM finishes an exit's I/O (an IN's data into rax, the instruction pointer past an OUT)
 * only at the next KVM_RUN. Entering with immediate_exit completes it and returns at once, so
 * a paused vCPU's registers are those after the instruction: saved state never repeats it. */
static void vcpu_complete_pending_io(Vcpu *v)
{
    for (unsigned i = 0; i < 4; i++) {
        int r;

        __atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
        r = ioctl(v->fd, KVM_RUN, 0);
        if (r < 0)
            break;           /* EINTR: nothing was pending, or it is complete now */
        vcpu_handle_exit(v); /* the completion exited again (string I/O): handle that too */
    }
}

/* Returns false when the domain is stopping; blocks while it is paused. */
static bool vcpu_wait_running(Vcpu *v)
{
    Vm *vm = v->vm;
    bool counted = false, running;

    if (__atomic_load_n(&vm->state, __ATOMIC_ACQUIRE) == VM_STATE_RUNNING)
        return true;
    if (__atomic_load_n(&vm->state, __ATOMIC_ACQUIRE) == VM_STATE_PAUSED)
        vcpu_complete_pending_io(v);
    pthread_mutex_lock(&vm->lock);
    while (vm->state == VM_STATE_PAUSED) {
        if (!counted) {
            vm->vcpus_paused++;
            counted = true;
            pthread_cond_broadcast(&vm->cond);
        }
        pthread_cond_wait(&vm->cond, &vm->lock);
    }
    if (counted)
        vm->vcpus_paused--;
    running = vm->state == VM_STATE_RUNNING;
    pthread_mutex_unlock(&vm->lock);
    return running;
}

static void vcpu_run_loop(Vcpu *v)
{
    Vm *vm = v->vm;

    for (;;) {
        uint64_t t0, t1;
        int r;

        if (!vcpu_wait_running(v))
            break;
        t0 = now_mono_ns();
        r = ioctl(v->fd, KVM_RUN, 0);
        t1 = now_mono_ns();
        stats_add(&vm->stats_page->vcpu_run_ns[v->id], t1 - t0);
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                __atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
                vcpu_count(v, EXIT_REASON_INTR);
                continue;
            }
            vm_request_exit(vm, MINIHV_EXIT_HOST_ERROR, "host error: KVM_RUN failed on vCPU %u: %m",
                            v->id);
            break;
        }
        vcpu_handle_exit(v);
    }
}

static void vcpu_pin(Vcpu *v)
{
    const CpuSet *set = &v->vm->cfg.cpuset;
    unsigned n = cpuset_count(set), want = v->id % n, seen = 0;
    cpu_set_t mask;

    CPU_ZERO(&mask);
    for (unsigned cpu = 0; cpu < CPUSET_MAX_CPUS && cpu < CPU_SETSIZE; cpu++) {
        if (!cpuset_has(set, cpu))
            continue;
        if (seen++ == want) {
            CPU_SET(cpu, &mask);
            break;
        }
    }
    (void)sched_setaffinity(0, sizeof(mask), &mask); /* the process mask already holds */
}

static void *vcpu_thread(void *arg)
{
    Vcpu *v = arg;
    Vm *vm = v->vm;
    sigset_t kick;
    bool go;
    int r;

    sigemptyset(&kick);
    sigaddset(&kick, SIGUSR1);
    (void)pthread_sigmask(SIG_UNBLOCK, &kick, NULL);
    if (vm->cfg.has_cpuset)
        vcpu_pin(v);

    pthread_mutex_lock(&vm->lock);
    v->tid = gettid();
    vm->threads_ready++; /* set-up waits for this before closing the sandbox */
    pthread_cond_broadcast(&vm->cond);
    while (!(vm->released && v->up) && vm->state != VM_STATE_STOPPING)
        pthread_cond_wait(&vm->cond, &vm->lock);
    go = vm->state != VM_STATE_STOPPING;
    r = 0;
    if (go && !v->regs_ready) {
        /* under the lock, so that a save sees this vCPU either not started or set up */
        r = pv_boot_setup_vcpu(v, v->start_rip, v->start_rsp, v->start_arg, v->id);
        v->regs_ready = r >= 0;
    }
    if (go)
        vm->vcpus_running++;
    pthread_mutex_unlock(&vm->lock);
    if (!go)
        return NULL;
    if (r < 0)
        vm_request_exit(vm, MINIHV_EXIT_HOST_ERROR, "host error: cannot start vCPU %u: %s", v->id,
                        strerror(-r));
    vcpu_run_loop(v);

    pthread_mutex_lock(&vm->lock);
    vm->vcpus_running--;
    pthread_cond_broadcast(&vm->cond);
    pthread_mutex_unlock(&vm->lock);
    return NULL;
}

int vcpu_start_thread(Vcpu *v)
{
    pthread_attr_t attr;
    int r;

    pthread_attr_init(&attr);
    (void)pthread_attr_setstacksize(&attr, 256 * 1024);
    r = pthread_create(&v->thread, &attr, vcpu_thread, v);
    pthread_attr_destroy(&attr);
    if (r != 0)
        return -r;
    v->thread_started = true;
    return 0;
}

void vcpu_join(Vcpu *v)
{
    if (v && v->thread_started) {
        (void)pthread_join(v->thread, NULL);
        v->thread_started = false;
    }
}
