/* epoll loop of the main thread. */
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "control.h"
#include "loop.h"
#include "macro.h"
#include "pv.h"

struct Loop {
    Vm *vm;
    Control *ctl;
    int epoll_fd;
    LoopSource signal_src;
    LoopSource tick_src;
    LoopSource shutdown_src;
    LoopSource wake_src;
    LoopSource doorbell_src;
    double shutdown_timeout;
};

int loop_add(Loop *loop, LoopSource *src, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = src};
    return epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, src->fd, &ev) < 0 ? -errno : 0;
}

int loop_modify(Loop *loop, LoopSource *src, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = src};
    return epoll_ctl(loop->epoll_fd, EPOLL_CTL_MOD, src->fd, &ev) < 0 ? -errno : 0;
}

void loop_remove(Loop *loop, LoopSource *src)
{
    (void)epoll_ctl(loop->epoll_fd, EPOLL_CTL_DEL, src->fd, NULL);
}

void loop_set_control(Loop *loop, Control *ctl)
{
    loop->ctl = ctl;
}

static void drain(int fd, uint64_t *count)
{
    uint64_t v;

    if (read(fd, &v, sizeof(v)) == sizeof(v) && count)
        *count = v;
}

static void on_signal(LoopSource *src, uint32_t events)
{
    Loop *loop = src->data;
    struct signalfd_siginfo si;

    if (read(src->fd, &si, sizeof(si)) != sizeof(si))
        return;
    vm_request_exit(loop->vm, MINIHV_EXIT_DESTROYED, "destroyed by signal %s",
                    sigabbrev_np((int)si.ssi_signo) ?: "?");
}

static void on_tick(LoopSource *src, uint32_t events)
{
    Loop *loop = src->data;

    drain(src->fd, NULL);
    stats_page_tick(loop->vm); /* hvd expects its heartbeat each STATS_PAGE_HEARTBEAT_NS */
    if (loop->vm->cfg.mode == VM_MODE_PV)
        pv_shared_update(loop->vm);
}

static void on_shutdown_timeout(LoopSource *src, uint32_t events)
{
    Loop *loop = src->data;

    drain(src->fd, NULL);
    vm_request_exit(loop->vm, MINIHV_EXIT_DESTROYED,
                    "destroyed: the guest did not power off within %g s of a shutdown request",
                    loop->shutdown_timeout);
}

static void on_wake(LoopSource *src, uint32_t events)
{
    Loop *loop = src->data;

    drain(src->fd, NULL);
    if (loop->ctl)
        control_pump_console(loop->ctl);
}

static void on_doorbell(LoopSource *src, uint32_t events)
{
    Loop *loop = src->data;
    uint64_t n = 0;

    drain(src->fd, &n);
    stats_add(&loop->vm->stats->devices[STAT_DEV_BLK_DOORBELL_EVENT], n);
    pv_block_process(loop->vm);
}

int loop_arm_shutdown_timer(Loop *loop, double seconds)
{
    struct itimerspec its = {0};

    its.it_value.tv_sec = (time_t)seconds;
    its.it_value.tv_nsec = (long)((seconds - (double)its.it_value.tv_sec) * 1e9);
    if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
        its.it_value.tv_nsec = 1;
    loop->shutdown_timeout = seconds;
    return timerfd_settime(loop->shutdown_src.fd, 0, &its, NULL) < 0 ? -errno : 0;
}

int loop_new(Vm *vm, Loop **ret, Error *e)
{
    /* the heartbeat of the statistics page, and the pv clock's base (the guest extrapolates
     * it with the TSC in between) */
    struct itimerspec tick = {
        .it_value = {(time_t)(STATS_PAGE_HEARTBEAT_NS / 1000000000u), 0},
        .it_interval = {(time_t)(STATS_PAGE_HEARTBEAT_NS / 1000000000u), 0},
    };
    sigset_t mask;
    Loop *loop;
    int r;

    loop = calloc(1, sizeof(*loop));
    if (!loop)
        return error_set_errno(e, ENOMEM, "out of memory");
    loop->vm = vm;
    loop->signal_src.fd = loop->tick_src.fd = loop->shutdown_src.fd = -EBADF;
    loop->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epoll_fd < 0) {
        r = error_set_errno(e, errno, "cannot create an epoll instance: %m");
        goto fail;
    }
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    loop->signal_src =
        (LoopSource){signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK), on_signal, loop};
    loop->tick_src =
        (LoopSource){timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK), on_tick, loop};
    loop->shutdown_src = (LoopSource){timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK),
                                      on_shutdown_timeout, loop};
    if (loop->signal_src.fd < 0 || loop->tick_src.fd < 0 || loop->shutdown_src.fd < 0) {
        r = error_set_errno(e, errno, "cannot create the loop's descriptors: %m");
        goto fail;
    }
    if (timerfd_settime(loop->tick_src.fd, 0, &tick, NULL) < 0) {
        r = error_set_errno(e, errno, "cannot arm a timer: %m");
        goto fail;
    }
    loop->wake_src = (LoopSource){vm->wake_fd, on_wake, loop};
    loop->doorbell_src = (LoopSource){vm->doorbell_fd, on_doorbell, loop};
    r = loop_add(loop, &loop->signal_src, EPOLLIN);
    if (r >= 0)
        r = loop_add(loop, &loop->tick_src, EPOLLIN);
    if (r >= 0)
        r = loop_add(loop, &loop->shutdown_src, EPOLLIN);
    if (r >= 0)
        r = loop_add(loop, &loop->wake_src, EPOLLIN);
    if (r >= 0 && vm->doorbell_fd >= 0)
        r = loop_add(loop, &loop->doorbell_src, EPOLLIN);
    if (r < 0) {
        r = error_set_errno(e, r, "cannot watch the loop's descriptors: %m");
        goto fail;
    }
    *ret = loop;
    return 0;
fail:
    loop_free(loop);
    return r;
}

Loop *loop_free(Loop *loop)
{
    if (!loop)
        return NULL;
    safe_close(loop->signal_src.fd);
    safe_close(loop->tick_src.fd);
    safe_close(loop->shutdown_src.fd);
    safe_close(loop->epoll_fd);
    return mfree(loop);
}

void loop_run(Loop *loop)
{
    struct epoll_event events[16];

    while (!vm_exit_requested(loop->vm)) {
        int n = epoll_wait(loop->epoll_fd, events, (int)ELEMENTSOF(events), -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            vm_request_exit(loop->vm, MINIHV_EXIT_HOST_ERROR, "host error: epoll_wait: %m");
            break;
        }
        for (int i = 0; i < n; i++) {
            LoopSource *src = events[i].data.ptr;
            src->handler(src, events[i].events);
        }
        if (loop->ctl)
            control_collect(loop->ctl); /* frees clients closed during this batch */
    }
}
