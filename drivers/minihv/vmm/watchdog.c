/* The fencing watchdog: a timer on the main loop that ends the guest when a control client stops
 * renewing it. It counts on CLOCK_BOOTTIME, so a host that was suspended meanwhile (while the
 * lease it stands for ran out elsewhere) ends the guest as soon as it wakes. */
#include <inttypes.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "watchdog.h"

struct Watchdog {
    Vm *vm;
    Loop *loop;
    LoopSource src;
    uint64_t timeout_ms;  /* of the last renewal */
    uint64_t deadline_ns; /* CLOCK_BOOTTIME; 0: disarmed */
};

static uint64_t boottime_ns(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_BOOTTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void on_expired(LoopSource *src, uint32_t events)
{
    Watchdog *w = src->data;
    uint64_t n;

    if (read(src->fd, &n, sizeof(n)) != sizeof(n))
        return;
    vm_request_exit(w->vm, MINIHV_EXIT_FENCED,
                    "fenced: the watchdog was not renewed within %" PRIu64 " ms", w->timeout_ms);
}

int watchdog_new(Vm *vm, Loop *loop, Watchdog **ret, Error *e)
{
    Watchdog *w = calloc(1, sizeof(*w));
    int r;

    if (!w)
        return error_set_errno(e, ENOMEM, "out of memory");
    w->vm = vm;
    w->loop = loop;
    w->src =
        (LoopSource){timerfd_create(CLOCK_BOOTTIME, TFD_CLOEXEC | TFD_NONBLOCK), on_expired, w};
    if (w->src.fd < 0) {
        r = error_set_errno(e, errno, "cannot create the watchdog's timer: %m");
        free(w);
        return r;
    }
    r = loop_add(loop, &w->src, EPOLLIN);
    if (r < 0) {
        (void)close(w->src.fd);
        free(w);
        return error_set_errno(e, r, "cannot watch the watchdog's timer: %m");
    }
    *ret = w;
    return 0;
}

int watchdog_renew(Watchdog *w, uint64_t timeout_ms)
{
    struct itimerspec its = {
        .it_value = {.tv_sec = (time_t)(timeout_ms / 1000),
                     .tv_nsec = (long)(timeout_ms % 1000) * 1000000},
    };

    if (timeout_ms == 0 || timeout_ms > WATCHDOG_TIMEOUT_MAX_MS)
        return -EINVAL;
    if (timerfd_settime(w->src.fd, 0, &its, NULL) < 0)
        return -errno;
    w->timeout_ms = timeout_ms;
    w->deadline_ns = boottime_ns() + timeout_ms * 1000000ull;
    return 0;
}

int64_t watchdog_remaining_ms(const Watchdog *w)
{
    uint64_t now = boottime_ns();

    if (!w || w->deadline_ns == 0)
        return -1;
    return w->deadline_ns > now ? (int64_t)((w->deadline_ns - now) / 1000000) : 0;
}

Watchdog *watchdog_free(Watchdog *w)
{
    if (!w)
        return NULL;
    loop_remove(w->loop, &w->src);
    safe_close(w->src.fd);
    return mfree(w);
}
