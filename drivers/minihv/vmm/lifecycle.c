/* Domain lifecycle: exit requests, pause/resume, shutdown requests, waits and vCPU kicks. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "devices.h"
#include "net.h"
#include "pv.h"
#include "vm.h"

uint64_t now_mono_ns(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t now_realtime_ns(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void vm_wake_main(Vm *vm)
{
    uint64_t one = 1;

    if (vm->wake_fd >= 0)
        (void)!write(vm->wake_fd, &one, sizeof(one));
}

void vcpu_kick(Vcpu *vcpu)
{
    if (!vcpu || vcpu->fd < 0 || !vcpu->thread_started)
        return;
    __atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
    (void)pthread_kill(vcpu->thread, SIGUSR1);
}

static void vm_kick_all(Vm *vm)
{
    for (unsigned i = 0; i < vm->nr_vcpus; i++)
        vcpu_kick(vm->vcpus[i]);
}

void vm_request_exit(Vm *vm, MinihvExitStatus status, const char *fmt, ...)
{
    va_list ap;
    bool first;

    pthread_mutex_lock(&vm->lock);
    first = !vm->exit_requested;
    if (first) {
        va_start(ap, fmt);
        (void)vsnprintf(vm->exit_reason, sizeof(vm->exit_reason), fmt, ap);
        va_end(ap);
        vm->exit_status = status;
        __atomic_store_n(&vm->exit_requested, true, __ATOMIC_RELEASE);
        vm->state = VM_STATE_STOPPING;
        pthread_cond_broadcast(&vm->cond);
    }
    pthread_mutex_unlock(&vm->lock);
    if (first) {
        vm_kick_all(vm);
        vm_wake_main(vm);
    }
}

bool vm_exit_requested(Vm *vm)
{
    return __atomic_load_n(&vm->exit_requested, __ATOMIC_ACQUIRE);
}

int vm_pause(Vm *vm)
{
    struct timespec deadline;
    uint64_t until = now_mono_ns() + 1000000000ull;

    pthread_mutex_lock(&vm->lock);
    if (vm->state != VM_STATE_RUNNING) {
        int r = vm->state == VM_STATE_PAUSED ? -EBUSY : -ESHUTDOWN;
        pthread_mutex_unlock(&vm->lock);
        return r;
    }
    vm->state = VM_STATE_PAUSED;
    pthread_cond_broadcast(&vm->cond);
    pthread_mutex_unlock(&vm->lock);
    vm_kick_all(vm);

    /* Wait until every vCPU that runs guest code has acknowledged, so that no guest
     * instruction executes after the reply. Bounded: a host disk stall must not hang us. */
    deadline.tv_sec = (time_t)(until / 1000000000ull);
    deadline.tv_nsec = (long)(until % 1000000000ull);
    pthread_mutex_lock(&vm->lock);
    while (vm->state == VM_STATE_PAUSED && vm->vcpus_paused < vm->vcpus_running)
        if (pthread_cond_timedwait(&vm->cond, &vm->lock, &deadline) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&vm->lock);
    return 0;
}

bool vm_all_paused(Vm *vm)
{
    bool all;

    pthread_mutex_lock(&vm->lock);
    all = vm->state == VM_STATE_PAUSED && vm->vcpus_paused >= vm->vcpus_running;
    pthread_mutex_unlock(&vm->lock);
    return all;
}

int vm_resume(Vm *vm)
{
    int r = 0;

    pthread_mutex_lock(&vm->lock);
    if (vm->state == VM_STATE_PAUSED) {
        vm->state = VM_STATE_RUNNING;
        pthread_cond_broadcast(&vm->cond);
    } else
        r = vm->state == VM_STATE_RUNNING ? -EBUSY : -ESHUTDOWN;
    pthread_mutex_unlock(&vm->lock);
    if (r == 0 && vm->net)
        net_wake(vm->net);
    return r;
}

bool vm_is_paused(Vm *vm)
{
    return __atomic_load_n(&vm->state, __ATOMIC_ACQUIRE) == VM_STATE_PAUSED;
}

void vm_request_shutdown(Vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    vm->events |= MINIHV_EVENT_SHUTDOWN;
    pthread_cond_broadcast(&vm->cond);
    pthread_mutex_unlock(&vm->lock);
    if (vm->cfg.mode == VM_MODE_PV)
        pv_shared_set_events(vm, MINIHV_EVENT_SHUTDOWN);
    else
        power_press_button(vm);
}

void vm_notify(Vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    pthread_cond_broadcast(&vm->cond);
    pthread_mutex_unlock(&vm->lock);
}

void vm_wait(Vm *vm, uint64_t timeout_ns, bool (*pending)(Vm *vm))
{
    struct timespec deadline;
    uint64_t until;

    if (timeout_ns > vm->wait_cap_ns)
        timeout_ns = vm->wait_cap_ns;
    if (timeout_ns == 0)
        return;
    until = now_mono_ns() + timeout_ns;
    deadline.tv_sec = (time_t)(until / 1000000000ull);
    deadline.tv_nsec = (long)(until % 1000000000ull);
    pthread_mutex_lock(&vm->lock);
    while (vm->state == VM_STATE_RUNNING && !pending(vm))
        if (pthread_cond_timedwait(&vm->cond, &vm->lock, &deadline) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&vm->lock);
}
